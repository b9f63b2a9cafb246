#!/usr/bin/env bash
# Build a multi-platform variant of the busybox test image: an OCI layout whose index.json names one
# image whose target is an image index listing the host's manifest (from build-busybox-oci.sh) and a
# linux/s390x manifest whose blobs are not in the archive, as `docker save --platform` or a partial
# export leaves them. A loader must pick the host's platform and never touch the other.
#   build-busybox-index.sh OUT.tar [REF]      REF defaults to kukeon.local/busybox:multi
set -euo pipefail

die() { echo "build-busybox-index: $*" >&2; exit 1; }
if [ $# -lt 1 ] || [ $# -gt 2 ]; then echo "usage: $0 OUT.tar [REF]" >&2; exit 2; fi
out=$1
ref=${2:-kukeon.local/busybox:multi}
here=$(cd "$(dirname "$0")" && pwd)
[[ $ref =~ ^[a-z0-9]([a-z0-9._/:-]*[a-z0-9])?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] ||
    die "image reference \"$ref\" is not of the form name:tag"
for tool in tar sha256sum python3; do command -v "$tool" >/dev/null || die "$tool not found"; done

work=$(mktemp -d "${TMPDIR:-/tmp}/kukeon-index-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$here/build-busybox-oci.sh" "$work/oci.tar" "$ref" >/dev/null
mkdir -p "$work/oci"
tar -C "$work/oci" -xf "$work/oci.tar"
python3 - "$work/oci" "$ref" <<'PY'
import hashlib, json, sys
root, ref = sys.argv[1], sys.argv[2]
index = json.load(open(root + "/index.json"))
host = index["manifests"][0]
foreign = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
           "digest": "sha256:" + hashlib.sha256(b"a manifest that is not in this archive").hexdigest(),
           "size": 1234, "platform": {"architecture": "s390x", "os": "linux"}}
child = {"mediaType": host["mediaType"], "digest": host["digest"], "size": host["size"], "platform": host["platform"]}
inner = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": [foreign, child]}, separators=(",", ":")).encode()
d = hashlib.sha256(inner).hexdigest()
open(root + "/blobs/sha256/" + d, "wb").write(inner)
outer = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
         "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:" + d,
                        "size": len(inner), "annotations": host["annotations"]}]}
open(root + "/index.json", "w").write(json.dumps(outer, separators=(",", ":")))
PY
(cd "$work/oci" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort) |
    tar -C "$work/oci" --no-recursion --verbatim-files-from -T - -cf "$work/image.tar" \
        --format=posix --pax-option='exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime' \
        --mtime=@0 --owner=0 --group=0 --numeric-owner --mode='u+rw,go+r,go-w'
mv "$work/image.tar" "$out"
echo "built $out: $ref (image index: host manifest + an absent linux/s390x one)"
