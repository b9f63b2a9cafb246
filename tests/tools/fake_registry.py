#!/usr/bin/env python3
"""A small OCI distribution registry for kuke-fetchd's tests: the cases Debian's docker-registry cannot
be made to serve. HTTPS (the harness's self-signed certificate), Bearer tokens only (every /v2/ request
needs "Authorization: Bearer <token>"; /token hands one out for the right Basic credentials), and
these repositories, built from the blobs of an OCI layout tarball (the busybox test image):

  plain/busybox:1    the real manifest
  multi/busybox:1    an OCI index: <host arch> -> the real manifest; linux/arm64 and linux/riscv64 ->
                     manifests whose config and layers are never served (a pull that touches them fails)
  bad/busybox:1      the real manifest, but the layer's bytes are changed (same size): digest mismatch
  schema1/busybox:1  a Docker schema 1 manifest
  moved/busybox:1    the real manifest; its blobs answer 307 to /cdn/<digest> on this host (no auth
                     needed there), as registries hand blobs to a CDN
  away/busybox:1     the same, but redirected to https://localhost:<port>/cdn/: another authority, so
                     neither the Authorization header nor insecureSkipTLSVerify may follow
  slow/busybox:1     the real manifest; its layers trickle: sent in SLOW_CHUNKS pieces, SLOW_PAUSE s
                     apart (about 4 s a layer, then done: bounded), so a pull is seen while it runs

Every request is appended to --log as "<METHOD> <path> auth=<none|basic|bearer>". Standard library only.
"""
import argparse
import base64
import hashlib
import json
import os
import secrets
import ssl
import sys
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
SLOW_CHUNKS = 40
SLOW_PAUSE = 0.1


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def load_image(path):
    """(manifest bytes, {digest: bytes}) of the single image in an OCI layout tarball."""
    blobs = {}
    with tarfile.open(path) as t:
        index = json.load(t.extractfile("index.json"))
        for m in t.getmembers():
            if m.isfile() and m.name.startswith("blobs/sha256/"):
                blobs["sha256:" + m.name.rsplit("/", 1)[1]] = t.extractfile(m).read()
    mdigest = index["manifests"][0]["digest"]
    return blobs[mdigest], blobs


class Registry:
    def __init__(self, image, user, password):
        manifest, blobs = load_image(image)
        self.blobs = {}  # repo -> {digest: bytes}
        self.manifests = {}  # repo -> {tag or digest: (media type, bytes)}
        self.tokens = set()
        self.user, self.password = user, password
        self.lock = threading.Lock()
        mjson = json.loads(manifest)
        config = json.loads(blobs[mjson["config"]["digest"]])
        arch = config.get("architecture", "amd64")

        def add(repo, tag, media, body):
            self.manifests.setdefault(repo, {})[tag] = (media, body)
            self.manifests[repo][sha(body)] = (media, body)

        for repo in ("plain/busybox", "multi/busybox", "bad/busybox", "slow/busybox"):
            self.blobs[repo] = dict(blobs)
        self.cdn = dict(blobs)
        self.redirects = {"moved/busybox": "127.0.0.1", "away/busybox": "localhost"}
        for repo in self.redirects:
            add(repo, "1", mjson.get("mediaType", OCI_MANIFEST), manifest)
            self.blobs[repo] = {}
        add("plain/busybox", "1", mjson.get("mediaType", OCI_MANIFEST), manifest)
        add("bad/busybox", "1", mjson.get("mediaType", OCI_MANIFEST), manifest)
        add("slow/busybox", "1", mjson.get("mediaType", OCI_MANIFEST), manifest)
        self.slow = {"slow/busybox": {l["digest"] for l in mjson["layers"]}}
        layer = mjson["layers"][-1]["digest"]
        good = blobs[layer]
        self.blobs["bad/busybox"][layer] = bytes([good[0] ^ 0xFF]) + good[1:]

        # The index: the real manifest for this host, plus two whose blobs exist nowhere.
        entries = [{"mediaType": OCI_MANIFEST, "digest": sha(manifest), "size": len(manifest),
                    "platform": {"os": "linux", "architecture": arch}}]
        self.manifests["multi/busybox"] = {sha(manifest): (OCI_MANIFEST, manifest)}
        for other in ("arm64", "riscv64"):
            if other == arch:
                continue
            fake_cfg = "sha256:" + hashlib.sha256(("config-" + other).encode()).hexdigest()
            fake_layer = "sha256:" + hashlib.sha256(("layer-" + other).encode()).hexdigest()
            m = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                       "digest": fake_cfg, "size": 1000},
                            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                        "digest": fake_layer, "size": 2000}]}).encode()
            self.manifests["multi/busybox"][sha(m)] = (OCI_MANIFEST, m)
            entries.append({"mediaType": OCI_MANIFEST, "digest": sha(m), "size": len(m),
                            "platform": {"os": "linux", "architecture": other}})
        index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
        add("multi/busybox", "1", OCI_INDEX, index)

        s1 = json.dumps({"schemaVersion": 1, "name": "schema1/busybox", "tag": "1", "architecture": arch,
                         "fsLayers": [{"blobSum": layer}], "history": [{"v1Compatibility": "{}"}]}).encode()
        add("schema1/busybox", "1", SCHEMA1, s1)
        self.blobs["schema1/busybox"] = {}


def make_handler(reg, port, log):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def record(self):
            auth = self.headers.get("Authorization", "")
            kind = auth.split(" ", 1)[0].lower() if auth else "none"
            with reg.lock, open(log, "a") as f:
                f.write("%s %s auth=%s\n" % (self.command, self.path, kind))

        def reply(self, code, body=b"", headers=None, trickle=False):
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command == "HEAD":
                return
            if not trickle:
                self.wfile.write(body)
                return
            step = max(1, -(-len(body) // SLOW_CHUNKS))
            for off in range(0, len(body), step):
                self.wfile.write(body[off:off + step])
                self.wfile.flush()
                time.sleep(SLOW_PAUSE)

        def error(self, code, errcode, message, headers=None):
            body = json.dumps({"errors": [{"code": errcode, "message": message}]}).encode()
            h = {"Content-Type": "application/json"}
            h.update(headers or {})
            self.reply(code, body, h)

        def token(self):
            auth = self.headers.get("Authorization", "")
            want = "Basic " + base64.b64encode(("%s:%s" % (reg.user, reg.password)).encode()).decode()
            if auth != want:
                return self.error(401, "UNAUTHORIZED", "bad credentials",
                                  {"WWW-Authenticate": 'Basic realm="fake"'})
            tok = secrets.token_hex(16)
            with reg.lock:
                reg.tokens.add(tok)
            self.reply(200, json.dumps({"token": tok, "expires_in": 300}).encode(),
                       {"Content-Type": "application/json"})

        def do_GET(self):
            self.record()
            path = self.path.split("?", 1)[0]
            if path == "/token":
                return self.token()
            if path.startswith("/cdn/"):
                b = reg.cdn.get(path[5:].split("?", 1)[0])
                if b is None:
                    return self.error(404, "BLOB_UNKNOWN", "blob unknown to the CDN")
                return self.reply(200, b, {"Content-Type": "application/octet-stream"})
            if not path.startswith("/v2/"):
                return self.error(404, "NOT_FOUND", "no such path")
            auth = self.headers.get("Authorization", "")
            if not (auth.startswith("Bearer ") and auth[7:] in reg.tokens):
                parts = path[4:].rsplit("/", 2)
                scope = "repository:%s:pull" % parts[0] if len(parts) == 3 else ""
                challenge = 'Bearer realm="https://127.0.0.1:%d/token",service="fake-registry"' % port
                if scope:
                    challenge += ',scope="%s"' % scope
                return self.error(401, "UNAUTHORIZED", "authentication required",
                                  {"WWW-Authenticate": challenge})
            if path == "/v2/":
                return self.reply(200, b"{}", {"Content-Type": "application/json"})
            parts = path[4:].rsplit("/", 2)
            if len(parts) != 3:
                return self.error(404, "NOT_FOUND", "no such path")
            repo, kind, ref = parts
            if kind == "manifests":
                m = reg.manifests.get(repo)
                if m is None:
                    return self.error(404, "NAME_UNKNOWN", "repository name not known to registry")
                if ref not in m:
                    return self.error(404, "MANIFEST_UNKNOWN", "manifest unknown")
                media, body = m[ref]
                return self.reply(200, body, {"Content-Type": media, "Docker-Content-Digest": sha(body)})
            if kind == "blobs" and repo in reg.redirects:
                return self.reply(307, b"", {"Location": "https://%s:%d/cdn/%s?sig=x" % (reg.redirects[repo], port, ref)})
            if kind == "blobs":
                b = reg.blobs.get(repo, {}).get(ref)
                if b is None:
                    return self.error(404, "BLOB_UNKNOWN", "blob unknown to registry")
                return self.reply(200, b, {"Content-Type": "application/octet-stream",
                                           "Docker-Content-Digest": ref},
                                  trickle=ref in reg.slow.get(repo, ()))
            return self.error(404, "NOT_FOUND", "no such path")

        do_HEAD = do_GET

    return Handler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    a = ap.parse_args()
    reg = Registry(a.image, a.user, a.password)
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), make_handler(reg, a.port, a.log))
    srv.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("fake registry on 127.0.0.1:%d" % a.port, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
