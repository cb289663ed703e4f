#!/usr/bin/env python3
"""Fault-injecting HTTP/1.1 reverse proxy, for tests that prove a client retries.

usage: faulty_proxy.py --upstream http://127.0.0.1:PORT [--fail-every N] [--drop-every N]
                       [--reset-every N] [--methods PUT,POST]

Listens on a free port on 127.0.0.1, prints that port number as its only stdout line, and
serves until SIGTERM (or SIGINT). Requests are forwarded byte for byte (request line, headers
and body exactly as received, whatever their framing: Content-Length, `Transfer-Encoding:
chunked`, aws-chunked payloads with trailers), so SigV4 signatures still match; each request
goes to upstream on a fresh connection and the response is relayed byte for byte too. Client
connections are kept alive across requests.

Only requests whose method is in --methods (default: all) are counted. On the Nth, 2Nth, ...
counted request:
  --reset-every N  close the client connection at once (RST), nothing is forwarded;
  --drop-every N   forward it (it takes effect upstream), read the response, then close the
                   client connection without answering (the write landed, the reply was lost);
  --fail-every N   do not forward; answer 500 with an S3-style XML InternalError.
When several apply to the same request, reset wins over drop, drop over fail.
  --once           fault each distinct request (method and target) at most once, so its
                   retry goes through: a deterministic test of retrying, where plain
                   every-Nth counting can hit the same request on every attempt by chance.
  --strip-conditions  remove If-Match and If-None-Match from every request before forwarding:
                   an S3-compatible service that ignores conditional writes (for the check
                   that `airlock init` refuses such a store).

stderr: one line per request, `METHOD PATH -> STATUS|injected-500|dropped|reset`, and a
summary line with counts when the proxy stops. It also stops by itself when its parent process
exits, so a test that dies does not leave it running. Standard library only.
"""
import argparse
import os
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse

MAX_HEAD = 256 * 1024
MAX_LINE = 64 * 1024
COPY = 256 * 1024
ERROR_BODY = b"<Error><Code>InternalError</Code><Message>injected</Message></Error>"

log_lock = threading.Lock()
stats_lock = threading.Lock()
stats = {"requests": 0, "counted": 0, "forwarded": 0, "injected-500": 0, "dropped": 0, "reset": 0,
         "errors": 0}


def log(line: str) -> None:
    with log_lock:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


class Closed(Exception):
    """The peer closed the connection (cleanly, between messages)."""


class Head:
    """An HTTP message head: the raw bytes and the parsed start line and headers."""

    def __init__(self, raw: bytes):
        self.raw = raw
        lines = raw.split(b"\r\n")
        self.start = lines[0].decode("latin-1")
        self.headers = []
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(b":")
            self.headers.append((name.strip().decode("latin-1").lower(), value.strip().decode("latin-1")))

    def get_all(self, name: str):
        return [v for n, v in self.headers if n == name]

    def tokens(self, name: str):
        return [t.strip().lower() for v in self.get_all(name) for t in v.split(",") if t.strip()]

    def chunked(self) -> bool:
        te = self.tokens("transfer-encoding")
        return bool(te) and te[-1] == "chunked"

    def content_length(self):
        values = self.get_all("content-length")
        if not values:
            return None
        lengths = {int(v.split(",")[0].strip()) for v in values}
        if len(lengths) != 1:
            raise ValueError("conflicting Content-Length headers")
        return lengths.pop()


def read_head(reader) -> Head:
    """Reads a message head up to and including the blank line; skips stray blank lines."""
    parts, size = [], 0
    while True:
        line = reader.readline(MAX_LINE + 1)
        if not line:
            if parts:
                raise ConnectionError("connection closed inside a message head")
            raise Closed()
        if len(line) > MAX_LINE or not line.endswith(b"\n"):
            raise ConnectionError("header line too long or truncated")
        if not parts and line in (b"\r\n", b"\n"):
            continue  # RFC 9112: tolerate empty lines before a request line
        parts.append(line)
        size += len(line)
        if size > MAX_HEAD:
            raise ConnectionError("message head too large")
        if line in (b"\r\n", b"\n"):
            return Head(b"".join(parts))


def copy_exact(reader, n: int, sink) -> None:
    while n > 0:
        data = reader.read(min(n, COPY))
        if not data:
            raise ConnectionError("connection closed inside a message body")
        sink(data)
        n -= len(data)


def copy_chunked(reader, sink) -> None:
    """Copies a chunked body (chunks, last chunk, trailers) exactly as it is on the wire."""
    while True:
        line = reader.readline(MAX_LINE + 1)
        if not line.endswith(b"\n"):
            raise ConnectionError("bad or truncated chunk-size line")
        sink(line)
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            break
        copy_exact(reader, size + 2, sink)  # data and its CRLF
    while True:  # trailer section, ends with an empty line
        line = reader.readline(MAX_LINE + 1)
        if not line.endswith(b"\n"):
            raise ConnectionError("truncated trailer section")
        sink(line)
        if line in (b"\r\n", b"\n"):
            return


def copy_body(head: Head, reader, sink, is_request: bool, no_body: bool = False) -> bool:
    """Copies a message body. Returns True when the body is delimited by connection close."""
    if no_body:
        return False
    if head.chunked():
        copy_chunked(reader, sink)
        return False
    if head.get_all("transfer-encoding"):
        if is_request:
            raise ConnectionError("unsupported Transfer-Encoding on a request")
    else:
        length = head.content_length()
        if length is not None:
            copy_exact(reader, length, sink)
            return False
        if is_request:
            return False  # a request without Content-Length or chunked has no body
    while True:  # response delimited by close
        data = reader.read1(COPY)
        if not data:
            return True
        sink(data)


def discard(_data: bytes) -> None:
    pass


def rst_close(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class Proxy:
    def __init__(self, args):
        url = urllib.parse.urlsplit(args.upstream)
        if url.scheme != "http" or not url.hostname:
            raise SystemExit("faulty_proxy.py: --upstream must be http://HOST:PORT")
        self.upstream = (url.hostname, url.port or 80)
        self.fail_every, self.drop_every, self.reset_every = args.fail_every, args.drop_every, args.reset_every
        self.strip_conditions = args.strip_conditions
        self.once = args.once
        self.faulted = set()
        self.methods = None
        if args.methods:
            self.methods = {m.strip().upper() for m in args.methods.split(",") if m.strip()}

    def decide(self, method: str, target: str) -> str:
        with stats_lock:
            stats["requests"] += 1
            if self.methods is not None and method.upper() not in self.methods:
                return "forward"
            if self.once and (method, target) in self.faulted:
                return "forward"  # its retry: it had its one fault
            stats["counted"] += 1
            k = stats["counted"]
            for every, action in ((self.reset_every, "reset"), (self.drop_every, "drop"),
                                  (self.fail_every, "fail")):
                if every and k % every == 0:
                    self.faulted.add((method, target))
                    return action
        return "forward"

    def serve_client(self, client: socket.socket) -> None:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = client.makefile("rb", buffering=COPY)
        try:
            while self.one_request(client, reader):
                pass
        except Closed:
            pass
        except (OSError, ValueError) as e:
            log(f"connection error: {e}")
        finally:
            try:
                reader.close()
            finally:
                client.close()

    @staticmethod
    def bad_gateway(client: socket.socket, method: str, target: str, why: str) -> None:
        body = f"faulty_proxy: {why}\n".encode()
        client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                       b"Connection: close\r\n\r\n%s" % (len(body), b"" if method == "HEAD" else body))
        log(f"{method} {target} -> 502")
        log(f"  ({why})")
        with stats_lock:
            stats["errors"] += 1

    def one_request(self, client: socket.socket, reader) -> bool:
        """Handles one request; returns whether the client connection stays open."""
        head = read_head(reader)
        parts = head.start.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            log(f"bad request line {head.start!r}; closing")
            return False
        method, target, version = parts
        action = self.decide(method, target)
        if action == "reset":
            log(f"{method} {target} -> reset")
            with stats_lock:
                stats["reset"] += 1
            rst_close(client)
            return False

        expect_continue = "100-continue" in head.tokens("expect")
        if expect_continue:
            # Answered here; upstream's own interim 100 is skipped below.
            client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        conn_tokens = head.tokens("connection")
        keep = "close" not in conn_tokens and (version != "HTTP/1.0" or "keep-alive" in conn_tokens)

        if action == "fail":
            copy_body(head, reader, discard, is_request=True)
            head_only = method == "HEAD"
            client.sendall(
                b"HTTP/1.1 500 Internal Server Error\r\n"
                b"Content-Type: application/xml\r\n"
                b"Content-Length: %d\r\n"
                b"x-amz-request-id: faulty-proxy\r\n"
                b"%s\r\n" % (len(ERROR_BODY), b"" if keep else b"Connection: close\r\n")
                + (b"" if head_only else ERROR_BODY))
            log(f"{method} {target} -> injected-500")
            with stats_lock:
                stats["injected-500"] += 1
            return keep

        try:
            upstream = socket.create_connection(self.upstream, timeout=300)
        except OSError as e:
            copy_body(head, reader, discard, is_request=True)
            self.bad_gateway(client, method, target, f"upstream unreachable: {e}")
            return False
        try:
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            up_reader = upstream.makefile("rb", buffering=COPY)
            raw = head.raw
            if self.strip_conditions:
                raw = b"\r\n".join(
                    line for line in raw.split(b"\r\n")
                    if not line.lower().startswith((b"if-match:", b"if-none-match:")))
            upstream.sendall(raw)
            copy_body(head, reader, upstream.sendall, is_request=True)
            while True:
                resp = read_head(up_reader)
                status = int(resp.start.split(" ")[1])
                if 100 <= status < 200 and status != 101:
                    if not expect_continue or status != 100:
                        if action != "drop":
                            client.sendall(resp.raw)  # relay other interim responses
                    continue
                break
            drop = action == "drop"
            sink = discard if drop else client.sendall
            if not drop:
                client.sendall(resp.raw)
            no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
            until_close = copy_body(resp, up_reader, sink, is_request=False, no_body=no_body)
            up_reader.close()
        except Closed:
            if action != "drop":
                self.bad_gateway(client, method, target, "upstream closed the connection without answering")
                return False
            drop, until_close = True, True
        except (OSError, ValueError) as e:  # a peer failed mid-message: nothing sane to answer
            log(f"{method} {target} -> error")
            log(f"  ({e}; closing the client connection)")
            with stats_lock:
                stats["errors"] += 1
            return False
        finally:
            upstream.close()

        if drop:
            log(f"{method} {target} -> dropped")
            with stats_lock:
                stats["dropped"] += 1
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return False
        log(f"{method} {target} -> {status}")
        with stats_lock:
            stats["forwarded"] += 1
        if until_close or "close" in resp.tokens("connection"):
            return False
        return keep


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--upstream", required=True, help="http://HOST:PORT")
    for name in ("fail", "drop", "reset"):
        ap.add_argument(f"--{name}-every", type=int, default=0, metavar="N")
    ap.add_argument("--methods", default="", help="comma-separated methods to count (default all)")
    ap.add_argument("--once", action="store_true",
                    help="fault each request (method and target) at most once")
    ap.add_argument("--strip-conditions", action="store_true",
                    help="drop If-Match / If-None-Match before forwarding")
    args = ap.parse_args()
    for n in (args.fail_every, args.drop_every, args.reset_every):
        if n < 0:
            ap.error("N must be >= 1 (0 disables)")
    proxy = Proxy(args)

    class Stop(Exception):
        pass

    def stop(_signum, _frame):
        raise Stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    # A test that dies without stopping the proxy must not leave it behind: when the parent
    # process goes away (this process is re-parented), stop as if sent SIGTERM.
    parent = os.getppid()

    def watch_parent():
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch_parent, daemon=True).start()

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    sys.stdout.write(f"{listener.getsockname()[1]}\n")
    sys.stdout.flush()
    try:
        while True:
            client, _ = listener.accept()
            threading.Thread(target=proxy.serve_client, args=(client,), daemon=True).start()
    except Stop:
        pass
    finally:
        listener.close()
        with stats_lock:
            log("summary: " + " ".join(f"{k}={v}" for k, v in stats.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
