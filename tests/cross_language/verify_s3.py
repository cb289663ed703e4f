#!/usr/bin/env python3
"""Independent check of a channel published to S3, sharing no code with Airlock.

The S3 twin of verify_store.py. Reads the store (bucket + prefix) the way a device would,
with boto3 (path-style addressing, region us-east-1) and `cryptography`, and verifies:
  - the trusted key: RSA 2048-8192 or EC P-256 SubjectPublicKeyInfo in strict DER; its key id
    is the SHA-256 of that DER (from a PEM file, or from KMS GetPublicKey at the same endpoint);
  - the pointer's and each pinned release statement's DSSE signature over the PAE bytes
    (RSASSA-PKCS1-v1_5 SHA-256 or ECDSA P-256 SHA-256 with a DER signature, by key type);
  - the pointer's app and channel, and the fields of every signed payload and manifest;
  - each statement's pinned SHA-256 and size, the manifest's, every blob's;
  - bundleHash, recomputed from the blobs' hashes and paths as docs/PROTOCOL.md defines;
  - device bucketing for the given install ids (exact integer arithmetic);
  - with --home-bucket (the store holding the event log): every log entry a DSSE envelope of
    the log payload type signed by the key, formatVersion 2 (3 with a holdout), seqs 1, 2, 3… with each `prev`
    the SHA-256 of the previous object, the pointer's seq and logHead naming one of them; and
    the trusted-key document: version 1 signed by its own key, each later version naming the
    previous one's hash and signed by a key active in it, the key active in the newest.
Prints one JSON object (the same fields as verify_store.py) and exits 0 when everything
holds, 1 otherwise (the reason is in "error").

usage: verify_s3.py --endpoint URL --bucket B [--prefix P] [--home-bucket H [--home-prefix P]]
                    APP CHANNEL (--public-key PEMFILE | --kms-key-id ID) [INSTALL_ID ...]
AWS credentials come from the environment (tests/harness/with-moto.sh sets test ones).
"""
import argparse
import base64
import binascii
import datetime
import hashlib
import json
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

POINTER_TYPE = "application/vnd.airlock.pointer+json"
RELEASE_TYPE = "application/vnd.airlock.release+json"
LOG_TYPE = "application/vnd.airlock.log-entry+json"
KEYS_TYPE = "application/vnd.airlock.keys+json"
POINTER_FIELDS = ["app", "channel", "seq", "logHead", "issuedAt", "expiresAt", "current", "rollout"]
# "holdout" is omitted when absent (docs/PROTOCOL.md, "The channel pointer").
HOLDOUT_FIELDS = ["basisPoints", "holdoutId", "release", "until", "version"]
STATEMENT_FIELDS = ["app", "version", "createdAt", "minNativeVersion", "manifest", "bundleHash", "description"]
MANIFEST_FIELDS = ["app", "version", "files", "bundleHash"]


class Failed(Exception):
    """A check did not hold; the message says which."""


def check(cond: bool, message: str) -> None:
    if not cond:
        raise Failed(message)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_hex64(value) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def pae(payload_type: str, payload: bytes) -> bytes:
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def strict_json(raw: bytes, what: str):
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        check(len(keys) == len(set(keys)), f"{what}: duplicate JSON field")
        return dict(pairs)
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, ValueError) as e:
        raise Failed(f"{what}: not valid UTF-8 JSON ({e})")


def check_fields(obj, fields, what: str) -> None:
    check(isinstance(obj, dict), f"{what}: not a JSON object")
    check(sorted(obj) == sorted(fields), f"{what}: fields {sorted(obj)}, expected {sorted(fields)}")


def check_pin(pin, what: str) -> None:
    check(isinstance(pin, dict) and sorted(pin) == ["sha256", "size"] and is_hex64(pin["sha256"])
          and isinstance(pin["size"], int) and not isinstance(pin["size"], bool) and pin["size"] >= 0,
          f"{what}: malformed {{sha256, size}} pin")


class TrustedKey:
    def __init__(self, der: bytes, source: str):
        try:
            key = serialization.load_der_public_key(der)
        except ValueError as e:
            raise Failed(f"{source}: not a DER SubjectPublicKeyInfo ({e})")
        reencoded = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        check(reencoded == der, f"{source}: SubjectPublicKeyInfo is not strict DER")
        if isinstance(key, rsa.RSAPublicKey):
            check(2048 <= key.key_size <= 8192, f"{source}: RSA key of {key.key_size} bits refused")
        elif isinstance(key, ec.EllipticCurvePublicKey):
            check(isinstance(key.curve, ec.SECP256R1), f"{source}: curve {key.curve.name} refused")
            # An uncompressed point: 0x04 || X || Y at the end of the SPKI.
            check(der[-65] == 0x04 and len(der) == 91, f"{source}: P-256 point is not uncompressed")
        else:
            raise Failed(f"{source}: key type {type(key).__name__} refused")
        self.key = key
        self.keyid = sha256_hex(der)

    def verifies(self, message: bytes, sig: bytes) -> bool:
        try:
            if isinstance(self.key, rsa.RSAPublicKey):
                if len(sig) != (self.key.key_size + 7) // 8:
                    return False
                self.key.verify(sig, message, padding.PKCS1v15(), hashes.SHA256())
            else:
                self.key.verify(sig, message, ec.ECDSA(hashes.SHA256()))
            return True
        except InvalidSignature:
            return False


def key_from_pem(path: str) -> TrustedKey:
    text = open(path, "rb").read().decode("ascii", "replace")
    begin, end = "-----BEGIN PUBLIC KEY-----", "-----END PUBLIC KEY-----"
    check(begin in text and end in text, f"{path}: no PEM PUBLIC KEY block (PKCS#1 and private keys are refused)")
    body = text.split(begin, 1)[1].split(end, 1)[0]
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
    except binascii.Error as e:
        raise Failed(f"{path}: bad base64 in PEM ({e})")
    return TrustedKey(der, path)


class Store:
    def __init__(self, endpoint: str, bucket: str, prefix: str):
        cfg = Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 3},
                     connect_timeout=10, read_timeout=60)
        self.s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=cfg)
        self.kms = boto3.client("kms", endpoint_url=endpoint, region_name="us-east-1", config=cfg)
        self.bucket = bucket
        prefix = prefix.lstrip("/")
        self.prefix = prefix + "/" if prefix and not prefix.endswith("/") else prefix

    def _get(self, key: str):
        full = self.prefix + key
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=full)["Body"]
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise Failed(f"missing: s3://{self.bucket}/{full}")
            raise Failed(f"fetch failed: s3://{self.bucket}/{full}: {e}")

    def get(self, key: str) -> bytes:
        return self._get(key).read()

    def keys_under(self, folder: str):
        """Every key under `folder` (relative to the prefix), sorted."""
        out, token = [], None
        while True:
            kw = {"Bucket": self.bucket, "Prefix": self.prefix + folder}
            if token:
                kw["ContinuationToken"] = token
            page = self.s3.list_objects_v2(**kw)
            out += [o["Key"][len(self.prefix):] for o in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return sorted(out)
            token = page["NextContinuationToken"]

    def hash_of(self, key: str):
        """SHA-256 (hex) and length of an object, streamed."""
        h, n = hashlib.sha256(), 0
        for chunk in self._get(key).iter_chunks(1 << 20):
            h.update(chunk)
            n += len(chunk)
        return h.hexdigest(), n

    def kms_key(self, key_id: str) -> TrustedKey:
        try:
            der = self.kms.get_public_key(KeyId=key_id)["PublicKey"]
        except ClientError as e:
            raise Failed(f"KMS GetPublicKey {key_id}: {e}")
        return TrustedKey(der, f"KMS key {key_id}")


def open_envelope(raw: bytes, payload_type: str, key: TrustedKey, what: str):
    env = strict_json(raw, what)
    check(isinstance(env, dict) and isinstance(env.get("payloadType"), str) and isinstance(env.get("payload"), str)
          and isinstance(env.get("signatures"), list), f"{what}: not a DSSE envelope")
    check(env["payloadType"] == payload_type, f"{what}: payload type {env['payloadType']!r}, expected {payload_type}")
    try:
        payload = base64.b64decode(env["payload"], validate=True)
    except binascii.Error:
        raise Failed(f"{what}: payload is not standard base64")
    message = pae(payload_type, payload)
    ok = False
    for s in env["signatures"]:
        check(isinstance(s, dict) and isinstance(s.get("keyid"), str) and isinstance(s.get("sig"), str),
              f"{what}: malformed signature entry")
        if s["keyid"] != key.keyid:
            continue  # signatures by unknown keys are ignored
        try:
            sig = base64.b64decode(s["sig"], validate=True)
        except binascii.Error:
            continue
        ok = ok or key.verifies(message, sig)
    check(ok, f"{what}: no signature by {key.keyid} verifies")
    return strict_json(payload, f"{what} payload")


def check_log(home: Store, app: str, pointer, key: TrustedKey) -> int:
    folder = f"apps/{app}/log/"
    names = [k for k in home.keys_under(folder)
             if len(k) == len(folder) + 25 and k.endswith(".json") and k[len(folder):-5].isdigit()]
    prev, heads = None, {}
    for i, name in enumerate(names, start=1):
        raw = home.get(name)
        entry = open_envelope(raw, LOG_TYPE, key, name)
        check(int(name[len(folder):-5]) == i and entry["seq"] == i, f"{name}: expected seq {i}")
        # 3 exactly for an entry that sets or ends a holdout (docs/PROTOCOL.md), else 2.
        holds = bool(entry.get("holdout")) or bool(entry.get("endedHoldouts"))
        check(entry["formatVersion"] == (3 if holds else 2), f"{name}: formatVersion {entry['formatVersion']}")
        check(entry["app"] == app and entry.get("prev") == prev, f"{name}: does not extend the chain")
        prev = sha256_hex(raw)
        heads[i] = prev
    check(heads.get(pointer["seq"]) == pointer["logHead"], "the pointer's logHead is not its log entry")
    return len(names)


def check_keys(home: Store, key: TrustedKey) -> int:
    names = home.keys_under("keys/")
    check(bool(names), "the home store has no trusted-key document")
    active, prev_hash = [], None
    for i, name in enumerate(names, start=1):
        raw = home.get(name)
        env = strict_json(raw, name)
        check(env.get("payloadType") == KEYS_TYPE, f"{name}: payload type")
        payload = base64.b64decode(env["payload"], validate=True)
        doc = strict_json(payload, f"{name} payload")
        check(doc["version"] == i and doc.get("previous") == prev_hash, f"{name}: does not chain")
        listed = {}
        for k in doc["keys"]:
            der = serialization.load_pem_public_key(k["publicKey"].encode()).public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            listed[k["keyid"]] = TrustedKey(der, name)
            check(listed[k["keyid"]].keyid == k["keyid"], f"{name}: key id of {k['keyid']} is wrong")
        # Version 1 vouches for itself; every later one is signed by a key of the one before.
        signers = active if i > 1 else [listed[k["keyid"]] for k in doc["keys"] if not k.get("retiredAt")]
        message = pae(KEYS_TYPE, payload)
        ok = any(s["keyid"] == t.keyid and t.verifies(message, base64.b64decode(s["sig"], validate=True))
                 for s in env["signatures"] for t in signers)
        check(ok, f"{name}: not signed by a trusted key")
        active = [listed[k["keyid"]] for k in doc["keys"] if not k.get("retiredAt")]
        prev_hash = sha256_hex(raw)
    check(any(t.keyid == key.keyid for t in active), f"{key.keyid} is not an active trusted key")
    return len(names)


def bundle_hash(files) -> str:
    """docs/PROTOCOL.md: SHA-256 of `<sha256>  <path>\\n` per file, sorted by path bytewise."""
    lines = sorted((f["path"].encode("utf-8"), f["sha256"]) for f in files)
    return sha256_hex(b"".join(b"%s  %s\n" % (h.encode(), p) for p, h in lines))


def check_release(store: Store, app: str, entry, key: TrustedKey, slot: str):
    check(isinstance(entry, dict) and isinstance(entry.get("version"), str), f"pointer {slot}: malformed entry")
    version, pin = entry["version"], entry.get("release")
    check_pin(pin, f"pointer {slot}.release")
    rel = f"apps/{app}/releases/{version}/"
    raw = store.get(rel + "release.dsse.json")
    check(sha256_hex(raw) == pin["sha256"] and len(raw) == pin["size"],
          f"statement of {version} does not match its pin (sha256 {sha256_hex(raw)}, {len(raw)} bytes)")
    statement = open_envelope(raw, RELEASE_TYPE, key, f"statement of {version}")
    check_fields(statement, STATEMENT_FIELDS, f"statement of {version}")
    check(statement["app"] == app and statement["version"] == version, f"statement of {version} names another release")
    check_pin(statement["manifest"], f"statement of {version}: manifest")
    check(is_hex64(statement["bundleHash"]), f"statement of {version}: malformed bundleHash")

    manifest_raw = store.get(rel + "manifest.json")
    check(sha256_hex(manifest_raw) == statement["manifest"]["sha256"], f"manifest of {version}: hash mismatch")
    check(len(manifest_raw) == statement["manifest"]["size"], f"manifest of {version}: size mismatch")
    manifest = strict_json(manifest_raw, f"manifest of {version}")
    check_fields(manifest, MANIFEST_FIELDS, f"manifest of {version}")
    check(manifest["app"] == app and manifest["version"] == version, f"manifest of {version} names another release")
    check(manifest["bundleHash"] == statement["bundleHash"], f"manifest and statement of {version} disagree on bundleHash")
    files = manifest["files"]
    check(isinstance(files, list) and files, f"manifest of {version}: no files")
    for f in files:
        check_fields(f, ["path", "sha256", "size"], f"manifest of {version}: file entry")
        check(isinstance(f["path"], str) and is_hex64(f["sha256"]) and isinstance(f["size"], int)
              and not isinstance(f["size"], bool) and f["size"] >= 0, f"manifest of {version}: malformed file entry")
    paths = [f["path"].encode("utf-8") for f in files]
    check(paths == sorted(paths) and len(set(paths)) == len(paths), f"manifest of {version}: files not sorted and unique")

    actual = []
    for f in files:
        h, n = store.hash_of(f"blobs/sha256/{f['sha256']}")
        check(n == f["size"], f"blob of {f['path']} in {version}: {n} bytes, manifest says {f['size']}")
        check(h == f["sha256"], f"blob of {f['path']} in {version} is corrupt (sha256 {h})")
        actual.append({"path": f["path"], "sha256": h})
    recomputed = bundle_hash(actual)
    check(recomputed == manifest["bundleHash"], f"bundle hash of {version} recomputes to {recomputed}, manifest says {manifest['bundleHash']}")
    return {"version": version, "bundleHash": recomputed, "files": len(files)}


def in_rollout(rollout_id: str, install_id: str, basis_points: int) -> bool:
    h = int.from_bytes(hashlib.sha256(rollout_id.encode() + b"\0" + install_id.encode()).digest()[:8], "big")
    return h * 10000 < basis_points * 2**64


def in_holdout(holdout, install_id: str) -> bool:
    # The holdout's last basisPoints buckets: outside a rollout of 10000 - basisPoints.
    return not in_rollout(holdout["holdoutId"], install_id, 10000 - holdout["basisPoints"])


def now_utc() -> str:
    # Timestamps are RFC 3339 UTC with a Z and whole seconds: they compare as strings.
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def verify(args) -> dict:
    store = Store(args.endpoint, args.bucket, args.prefix)
    key = key_from_pem(args.public_key) if args.public_key else store.kms_key(args.kms_key_id)
    raw = store.get(f"apps/{args.app}/channels/{args.channel}/pointer.dsse.json")
    pointer = open_envelope(raw, POINTER_TYPE, key, "pointer")
    check_fields(pointer, POINTER_FIELDS + (["holdout"] if "holdout" in pointer else []), "pointer")
    check(pointer["app"] == args.app and pointer["channel"] == args.channel, "pointer names another channel")
    rollout = pointer["rollout"]
    if rollout is not None:
        check(isinstance(rollout, dict) and sorted(rollout) == ["basisPoints", "release", "rolloutId", "version"]
              and isinstance(rollout["basisPoints"], int) and 0 <= rollout["basisPoints"] <= 10000
              and isinstance(rollout["rolloutId"], str), "pointer rollout: malformed")
    if pointer["current"] is not None:
        check(isinstance(pointer["current"], dict) and sorted(pointer["current"]) == ["release", "version"],
              "pointer current: malformed")
    holdout = pointer.get("holdout")
    if holdout is not None:
        check(isinstance(holdout, dict) and sorted(holdout) == HOLDOUT_FIELDS
              and isinstance(holdout["basisPoints"], int) and 1 <= holdout["basisPoints"] <= 5000
              and rollout is None and pointer["current"] is not None
              and pointer["current"]["version"] != holdout["version"], "pointer holdout: malformed")
    result = {"ok": True, "keyid": key.keyid, "seq": pointer["seq"], "releases": [], "devices": {}}
    for slot in ("current", "rollout", "holdout"):
        if pointer.get(slot):
            result["releases"].append(check_release(store, args.app, pointer[slot], key, slot))
    if args.home_bucket:
        home = Store(args.endpoint, args.home_bucket, args.home_prefix)
        result["logEntries"] = check_log(home, args.app, pointer, key)
        result["keySetVersion"] = check_keys(home, key)
    for iid in args.install_ids:
        if rollout and in_rollout(rollout["rolloutId"], iid, rollout["basisPoints"]):
            result["devices"][iid] = rollout["version"]
        elif holdout and now_utc() < holdout["until"] and in_holdout(holdout, iid):
            result["devices"][iid] = holdout["version"]
        else:
            result["devices"][iid] = pointer["current"]["version"] if pointer["current"] else None
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description="Independent check of an Airlock channel published to S3.")
    ap.add_argument("--endpoint", required=True, help="S3/KMS endpoint URL, e.g. $AIRLOCK_TEST_MOTO_ENDPOINT")
    ap.add_argument("--bucket", required=True)
    ap.add_argument("--prefix", default="", help="key prefix of the store (a '/' is added if missing)")
    ap.add_argument("--home-bucket", help="the bucket of the workspace's home store (log, keys)")
    ap.add_argument("--home-prefix", default="", help="its key prefix")
    trust = ap.add_mutually_exclusive_group(required=True)
    trust.add_argument("--public-key", metavar="PEMFILE", help="trusted SubjectPublicKeyInfo PEM")
    trust.add_argument("--kms-key-id", metavar="ID", help="KMS key id, ARN or alias; GetPublicKey at --endpoint")
    ap.add_argument("app")
    ap.add_argument("channel")
    ap.add_argument("install_ids", nargs="*", metavar="INSTALL_ID")
    args = ap.parse_intermixed_args()
    try:
        result = verify(args)
    except Failed as e:
        print(json.dumps({"ok": False, "error": str(e)}))
        return 1
    except (BotoCoreError, ClientError, OSError) as e:
        print(json.dumps({"ok": False, "error": f"fetch failed: {e}"}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
