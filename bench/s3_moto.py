#!/usr/bin/env python3
"""moto helpers for bench/s3.sh. Run with the harness's Python ($AIRLOCK_TEST_PYTHON, which
has boto3); the endpoint is $AIRLOCK_TEST_MOTO_ENDPOINT, credentials come from the
environment tests/harness/with-moto.sh sets.

  reset                      POST /moto-api/reset: wipes every bucket and key.
  setup BUCKET ALIAS         creates BUCKET and an RSA_2048 SIGN_VERIFY KMS key named ALIAS.
  record-start               empties moto's request recording and starts recording.
  record-stop OUT.json       stops recording, summarises the recorded requests into OUT.json
                             (count, by service and operation, request body bytes) and
                             empties the recording again (it holds every body, base64).
  snapshot BUCKET SNAP.json [--since OLD.json]
                             lists BUCKET into SNAP.json and prints, as JSON, the objects and
                             bytes in it and those written since OLD.json (new key, or a
                             changed size, ETag or LastModified).
  measure TIME_OUT CMD...    fallback for /usr/bin/time -v: runs CMD and writes the
                             "Maximum resident set size", "User time" and "System time" lines.

Request counting uses moto's own recorder (/moto-api/recorder/*): moto appends one JSON line
per request it handles (every S3 and KMS call, failed ones included, /moto-api/ calls not) to
the file named by MOTO_RECORDER_FILEPATH (default `moto_recording` in the server's working
folder). Recording costs moto time, so bench/s3.sh records only in an untimed pass.
"""

import base64
import collections
import json
import os
import resource
import subprocess
import sys
import urllib.parse
import urllib.request

ENDPOINT = os.environ.get("AIRLOCK_TEST_MOTO_ENDPOINT", "")


def moto_api(path, method="POST"):
    data = b"" if method == "POST" else None
    req = urllib.request.Request(ENDPOINT + path, method=method, data=data)
    with urllib.request.urlopen(req, timeout=600) as r:
        return r.read()


def client(service):
    import boto3  # only the subcommands that talk S3/KMS need it

    return boto3.client(service, endpoint_url=ENDPOINT,
                        region_name=os.environ.get("AWS_REGION", "us-east-1"))


def setup(bucket, alias):
    client("s3").create_bucket(Bucket=bucket)
    kms = client("kms")
    key = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY",
                         Description="bench/s3.sh signing key")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=alias, TargetKeyId=key)


def operation(entry):
    """A short name for what one recorded request did, e.g. `s3 PUT object`, `kms Sign`."""
    headers = {k.lower(): v for k, v in entry["headers"].items()}
    target = headers.get("x-amz-target", "")
    auth = headers.get("authorization", "")
    if "/kms/" in auth or target.startswith("TrentService."):
        return "kms", "kms " + target.rsplit(".", 1)[-1]
    url = urllib.parse.urlsplit(entry["url"])
    parts = url.path.lstrip("/").split("/", 1)  # path style: /bucket/key
    what = "object" if len(parts) == 2 and parts[1] else "bucket"
    query = sorted(k for k in urllib.parse.parse_qs(url.query, keep_blank_values=True)
                   if k in ("list-type", "uploads", "uploadId", "versioning", "delete", "tagging"))
    service = "s3" if "/s3/" in auth or not auth else "other"
    return service, f"{service} {entry['method']} {what}" + (f"?{'&'.join(query)}" if query else "")


def body_bytes(entry):
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        return len(base64.b64decode(body))
    return len(body.encode("utf-8")) if isinstance(body, str) else 0


def json_stream(text):
    """The recorded entries. moto writes each entry's JSON in one write() but its newline in
    another, and requests are served on several threads, so two entries can share a line:
    decode a stream of concatenated JSON values rather than one value per line."""
    decoder, i, n = json.JSONDecoder(), 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i == n:
            return
        value, i = decoder.raw_decode(text, i)
        yield value


def record_stop(out):
    moto_api("/moto-api/recorder/stop-recording")
    raw = moto_api("/moto-api/recorder/download-recording", method="GET")
    services, ops = collections.Counter(), collections.Counter()
    count = body = 0
    for entry in json_stream(raw.decode("utf-8")):
        service, op = operation(entry)
        count += 1
        services[service] += 1
        ops[op] += 1
        body += body_bytes(entry)
    moto_api("/moto-api/recorder/reset-recording")
    with open(out, "w") as f:
        json.dump({"requests": count, "byService": dict(services),
                   "byOperation": dict(sorted(ops.items())), "requestBodyBytes": body}, f,
                  indent=2)


def snapshot(bucket, out, since=None):
    objects = {}
    for page in client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            objects[o["Key"]] = [o["Size"], o["ETag"], o["LastModified"].isoformat()]
    with open(out, "w") as f:
        json.dump(objects, f)
    old = json.load(open(since)) if since else {}
    written = [k for k, v in objects.items() if old.get(k) != v]
    print(json.dumps({"objects": len(objects), "bytes": sum(v[0] for v in objects.values()),
                      "writtenObjects": len(written),
                      "writtenBytes": sum(objects[k][0] for k in written)}))


def measure(time_out, cmd):
    status = subprocess.call(cmd)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(time_out, "w") as f:
        f.write(f"\tCommand being timed: \"{' '.join(cmd)}\"\n"
                f"\tUser time (seconds): {ru.ru_utime:.2f}\n"
                f"\tSystem time (seconds): {ru.ru_stime:.2f}\n"
                f"\tMaximum resident set size (kbytes): {ru.ru_maxrss}\n"
                f"\tExit status: {status}\n")
    sys.exit(status)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "measure":
        measure(args[0], args[1:])
    if not ENDPOINT:
        sys.exit("s3_moto.py: AIRLOCK_TEST_MOTO_ENDPOINT is not set (run inside "
                 "tests/harness/with-moto.sh)")
    if cmd == "reset":
        moto_api("/moto-api/reset")
    elif cmd == "setup":
        setup(*args)
    elif cmd == "record-start":
        moto_api("/moto-api/recorder/reset-recording")
        moto_api("/moto-api/recorder/start-recording")
    elif cmd == "record-stop":
        record_stop(*args)
    elif cmd == "snapshot":
        since = args[3] if len(args) == 4 and args[2] == "--since" else None
        snapshot(args[0], args[1], since)
    else:
        sys.exit(f"s3_moto.py: unknown command {cmd}")


if __name__ == "__main__":
    main()
