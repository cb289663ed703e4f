#!/usr/bin/env python3
"""Independent check of a published channel, sharing no code with Airlock.

Reads a local store folder the way a device would and verifies, with only the Python
standard library, `openssl` and `sha256sum`:
  - the key id is the SHA-256 of the public key's DER SubjectPublicKeyInfo (openssl);
  - the pointer's and the release statement's DSSE signatures (openssl dgst -verify over
    the PAE bytes);
  - the statement's pinned hash, the manifest's hash, every blob's hash and size;
  - bundleHash, recomputed with the documented `sha256sum` pipeline over the files laid out
    in a folder;
  - device bucketing for the given install ids (exact integer arithmetic);
  - the app's event log: every entry a DSSE envelope of the log payload type signed by the
    key, formatVersion 2 (3 with a holdout), seqs 1, 2, 3… with each `prev` the SHA-256 of the previous file,
    and the pointer's seq and logHead naming one of its entries;
  - the trusted-key document: version 1 signed by its own key, every later version naming
    the previous one's hash and signed by a key active in it, and the given key active in
    the newest.
Prints one JSON object and exits 0 when everything holds, 1 otherwise.

usage: verify_store.py STORE_DIR APP CHANNEL PUBKEY.pem [INSTALL_ID ...]
"""
import base64
import datetime
import hashlib
import json
import os
import subprocess
import sys
import tempfile


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pae(payload_type: str, payload: bytes) -> bytes:
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def openssl_verify(pem_path: str, message: bytes, sig: bytes, work: str) -> bool:
    msg_path, sig_path = os.path.join(work, "msg"), os.path.join(work, "sig")
    with open(msg_path, "wb") as f:
        f.write(message)
    with open(sig_path, "wb") as f:
        f.write(sig)
    r = subprocess.run(
        ["openssl", "dgst", "-sha256", "-verify", pem_path, "-signature", sig_path, msg_path],
        capture_output=True,
    )
    return r.returncode == 0


def keyid_of(pem_path: str) -> str:
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-in", pem_path, "-outform", "DER"],
        capture_output=True, check=True,
    ).stdout
    return sha256_hex(der)


def open_envelope(path: str, payload_type: str, pem: str, keyid: str, work: str):
    raw = open(path, "rb").read()
    env = json.loads(raw)
    assert env["payloadType"] == payload_type, f"{path}: payload type {env['payloadType']}"
    payload = base64.b64decode(env["payload"], validate=True)
    ok = any(
        s["keyid"] == keyid and openssl_verify(pem, pae(payload_type, payload), base64.b64decode(s["sig"]), work)
        for s in env["signatures"]
    )
    assert ok, f"{path}: no signature by {keyid} verifies with openssl"
    return raw, json.loads(payload)


def bundle_hash_with_sha256sum(folder: str) -> str:
    cmd = "find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum"
    out = subprocess.run(["bash", "-c", cmd], cwd=folder, capture_output=True, check=True, text=True)
    return out.stdout.split()[0]


def in_rollout(rollout_id: str, install_id: str, basis_points: int) -> bool:
    h = int.from_bytes(hashlib.sha256(rollout_id.encode() + b"\0" + install_id.encode()).digest()[:8], "big")
    return h * 10000 < basis_points * 2**64


def check_release(store, app, version, pin, pem, keyid, work):
    rel_dir = os.path.join(store, "apps", app, "releases", version)
    raw, statement = open_envelope(os.path.join(rel_dir, "release.dsse.json"),
                                   "application/vnd.airlock.release+json", pem, keyid, work)
    assert sha256_hex(raw) == pin["sha256"] and len(raw) == pin["size"], "statement does not match its pin"
    assert statement["app"] == app and statement["version"] == version, "statement names another release"
    manifest_raw = open(os.path.join(rel_dir, "manifest.json"), "rb").read()
    assert sha256_hex(manifest_raw) == statement["manifest"]["sha256"], "manifest hash mismatch"
    assert len(manifest_raw) == statement["manifest"]["size"], "manifest size mismatch"
    manifest = json.loads(manifest_raw)
    assert manifest["bundleHash"] == statement["bundleHash"], "manifest and statement disagree"
    layout = tempfile.mkdtemp(dir=work)
    for f in manifest["files"]:
        blob = open(os.path.join(store, "blobs", "sha256", f["sha256"]), "rb").read()
        assert sha256_hex(blob) == f["sha256"] and len(blob) == f["size"], f"blob of {f['path']} is corrupt"
        target = os.path.join(layout, f["path"])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as out:
            out.write(blob)
    recomputed = bundle_hash_with_sha256sum(layout)
    assert recomputed == manifest["bundleHash"], f"sha256sum gives {recomputed}, manifest says {manifest['bundleHash']}"
    return {"version": version, "bundleHash": recomputed, "files": len(manifest["files"])}


def check_log(store, app, pointer, pem, keyid, work):
    folder = os.path.join(store, "apps", app, "log")
    names = sorted(n for n in os.listdir(folder) if len(n) == 25 and n.endswith(".json") and n[:20].isdigit())
    prev, heads = None, {}
    for i, name in enumerate(names, start=1):
        path = os.path.join(folder, name)
        raw, entry = open_envelope(path, "application/vnd.airlock.log-entry+json", pem, keyid, work)
        assert int(name[:20]) == i and entry["seq"] == i, f"{name}: expected seq {i}"
        # 3 exactly for an entry that sets or ends a holdout (docs/PROTOCOL.md), else 2.
        holds = bool(entry.get("holdout")) or bool(entry.get("endedHoldouts"))
        assert entry["formatVersion"] == (3 if holds else 2), f"{name}: formatVersion {entry['formatVersion']}"
        assert entry["app"] == app, f"{name}: names app {entry['app']}"
        assert entry.get("prev") == prev, f"{name}: prev {entry.get('prev')} is not {prev}"
        prev = sha256_hex(raw)
        heads[i] = prev
    assert heads.get(pointer["seq"]) == pointer["logHead"], "the pointer's logHead is not its log entry"
    return len(names)


def check_keys(store, keyid, work):
    folder = os.path.join(store, "keys")
    names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
    assert names, "the store has no trusted-key document"
    active, prev_hash = [], None
    for i, name in enumerate(names, start=1):
        raw = open(os.path.join(folder, name), "rb").read()
        env = json.loads(raw)
        assert env["payloadType"] == "application/vnd.airlock.keys+json", f"keys/{name}: payload type"
        payload = base64.b64decode(env["payload"], validate=True)
        doc = json.loads(payload)
        assert doc["version"] == i and doc.get("previous") == prev_hash, f"keys/{name}: does not chain"
        # Version 1 vouches for itself; every later one must be signed by a key of the one before.
        signers = active if i > 1 else [k for k in doc["keys"] if not k.get("retiredAt")]
        ok = False
        for k in signers:
            pem_path = os.path.join(work, "k.pem")
            with open(pem_path, "w") as f:
                f.write(k["publicKey"])
            assert keyid_of(pem_path) == k["keyid"], f"keys/{name}: keyid of {k['keyid']} is wrong"
            ok = ok or any(s["keyid"] == k["keyid"] and openssl_verify(
                pem_path, pae(env["payloadType"], payload), base64.b64decode(s["sig"]), work)
                for s in env["signatures"])
        assert ok, f"keys/{name}: not signed by a trusted key"
        active = [k for k in doc["keys"] if not k.get("retiredAt")]
        prev_hash = sha256_hex(raw)
    assert any(k["keyid"] == keyid for k in active), f"{keyid} is not an active trusted key"
    return len(names)


def main() -> int:
    store, app, channel, pem, *install_ids = sys.argv[1:]
    with tempfile.TemporaryDirectory() as work:
        try:
            keyid = keyid_of(pem)
            _, pointer = open_envelope(os.path.join(store, "apps", app, "channels", channel, "pointer.dsse.json"),
                                       "application/vnd.airlock.pointer+json", pem, keyid, work)
            assert pointer["app"] == app and pointer["channel"] == channel, "pointer names another channel"
            result = {"ok": True, "keyid": keyid, "seq": pointer["seq"], "releases": [], "devices": {}}
            for slot in ("current", "rollout", "holdout"):
                if pointer.get(slot):
                    result["releases"].append(check_release(store, app, pointer[slot]["version"],
                                                             pointer[slot]["release"], pem, keyid, work))
            result["logEntries"] = check_log(store, app, pointer, pem, keyid, work)
            result["keySetVersion"] = check_keys(store, keyid, work)
            for iid in install_ids:
                r = pointer["rollout"]
                h = pointer.get("holdout")
                now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                if r and in_rollout(r["rolloutId"], iid, r["basisPoints"]):
                    result["devices"][iid] = r["version"]
                elif h and now < h["until"] and not in_rollout(h["holdoutId"], iid, 10000 - h["basisPoints"]):
                    # The holdout: the last basisPoints buckets of its id.
                    result["devices"][iid] = h["version"]
                else:
                    result["devices"][iid] = pointer["current"]["version"] if pointer["current"] else None
        except AssertionError as e:
            print(json.dumps({"ok": False, "error": str(e)}))
            return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
