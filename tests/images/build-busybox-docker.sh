#!/usr/bin/env bash
# Build the busybox test image as a docker-archive tarball (the legacy `docker save` layout: manifest.json,
# <config digest>.json, <layer id>/layer.tar, repositories), from the same layer and config as
# build-busybox-oci.sh, with no docker, no registry and no network.
#   build-busybox-docker.sh OUT.tar [REF]      REF defaults to kukeon.local/busybox:docker
# The result imports with `ctr images import OUT.tar` (and `docker load`).
set -euo pipefail

die() { echo "build-busybox-docker: $*" >&2; exit 1; }
if [ $# -lt 1 ] || [ $# -gt 2 ]; then echo "usage: $0 OUT.tar [REF]" >&2; exit 2; fi
out=$1
ref=${2:-kukeon.local/busybox:docker}
here=$(cd "$(dirname "$0")" && pwd)
# The same check as the OCI builder: the ref goes into JSON written by printf.
[[ $ref =~ ^[a-z0-9]([a-z0-9._/:-]*[a-z0-9])?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] ||
    die "image reference \"$ref\" is not of the form name:tag"
repo=${ref%:*}
tag=${ref##*:}
for tool in tar sha256sum python3; do command -v "$tool" >/dev/null || die "$tool not found"; done

work=$(mktemp -d "${TMPDIR:-/tmp}/kukeon-docker-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$here/build-busybox-oci.sh" "$work/oci.tar" "$ref" >/dev/null
mkdir -p "$work/oci" "$work/archive"
tar -C "$work/oci" -xf "$work/oci.tar"

# The OCI layout's index names one manifest; its config and single layer are reused as they are.
read -r config_hex layer_hex < <(python3 - "$work/oci" <<'PY'
import json, sys
root = sys.argv[1]
index = json.load(open(root + "/index.json"))
m = json.load(open(root + "/blobs/sha256/" + index["manifests"][0]["digest"].split(":")[1]))
print(m["config"]["digest"].split(":")[1], m["layers"][0]["digest"].split(":")[1])
PY
)
a="$work/archive"
mkdir -p "$a/$layer_hex"
cp "$work/oci/blobs/sha256/$layer_hex" "$a/$layer_hex/layer.tar"
printf '1.0' >"$a/$layer_hex/VERSION"
printf '{"id":"%s","created":"1970-01-01T00:00:00Z","os":"linux"}' "$layer_hex" >"$a/$layer_hex/json"
cp "$work/oci/blobs/sha256/$config_hex" "$a/$config_hex.json"
printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$config_hex" "$ref" "$layer_hex" \
    >"$a/manifest.json"
printf '{"%s":{"%s":"%s"}}' "$repo" "$tag" "$layer_hex" >"$a/repositories"

(cd "$a" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort) |
    tar -C "$a" --no-recursion --verbatim-files-from -T - -cf "$work/image.tar" \
        --format=gnu --mtime=@0 --owner=0 --group=0 --numeric-owner --mode='u+rw,go+r,go-w'
mv "$work/image.tar" "$out"
echo "built $out: $ref (docker archive, config sha256:$config_hex, layer sha256:$layer_hex)"
