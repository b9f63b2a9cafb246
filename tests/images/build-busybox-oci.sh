#!/usr/bin/env bash
# Build the busybox test image as an OCI image-layout tarball from Debian's busybox-static, with no
# registry and no network, so that integration tests (and `kuke init`-like flows) can import and run it.
#   build-busybox-oci.sh OUT.tar [REF]      REF defaults to kukeon.local/busybox:test
# The result imports with `ctr images import OUT.tar` and runs with `ctr run REF ID CMD...`.
# Same busybox binary and REF give the same bytes: one uncompressed layer, entries sorted, mtime 0,
# owner 0:0, and fixed JSON, so the digests can be compared across runs.
set -euo pipefail

usage() { echo "usage: $0 OUT.tar [REF]   (REF: registry/repo:tag, default kukeon.local/busybox:test)" >&2; exit 2; }
die() { echo "build-busybox-oci: $*" >&2; exit 1; }

if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
out=$1
ref=${2:-kukeon.local/busybox:test}
busybox=${KUKEON_BUSYBOX:-/bin/busybox}

# The ref goes into JSON written by printf: accept only the characters an image reference may hold,
# which also keeps quotes and backslashes out. The tag is what follows the last ':' after the last '/'.
[[ $ref =~ ^[a-z0-9]([a-z0-9._/:-]*[a-z0-9])?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] ||
    die "image reference \"$ref\" is not of the form name:tag (lowercase name, [A-Za-z0-9_.-] tag)"
tag=${ref##*:}
[[ $tag != */* ]] || die "image reference \"$ref\" has no tag after its last '/'"

[ -x "$busybox" ] || die "$busybox not found; install busybox-static (apt-get install busybox-static)"
# A dynamic busybox would need its libraries in the image; only the static build stands alone.
if command -v file >/dev/null && ! file -L "$busybox" | grep -q 'statically linked'; then
    die "$busybox is not statically linked; install busybox-static"
fi
for tool in tar sha256sum stat; do
    command -v "$tool" >/dev/null || die "$tool not found"
done

case "$(uname -m)" in
x86_64) arch=amd64 ;;
aarch64) arch=arm64 ;;
*) die "unsupported machine $(uname -m): the test image is built for amd64 or arm64" ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/kukeon-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
layout="$work/layout"

# ---- root filesystem -------------------------------------------------------------------------------
mkdir -p "$rootfs"/{bin,etc,tmp,proc,sys,dev,root}
install -m 0755 "$busybox" "$rootfs/bin/busybox"
n_applets=0
while IFS= read -r applet; do
    # Names come from the binary; refuse anything that could leave /bin.
    [[ $applet =~ ^[][A-Za-z0-9._+-]+$ && $applet != . && $applet != .. ]] ||
        die "unexpected applet name \"$applet\" from $busybox --list"
    [ "$applet" = busybox ] && continue
    ln -s busybox "$rootfs/bin/$applet"
    n_applets=$((n_applets + 1))
done < <("$rootfs/bin/busybox" --list)
[ "$n_applets" -gt 0 ] || die "$busybox --list printed no applets"
[ -e "$rootfs/bin/sh" ] || ln -s busybox "$rootfs/bin/sh"
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' \
    >"$rootfs/etc/passwd"
printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$rootfs/etc/group"
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group"
chmod 0755 "$rootfs"/{bin,etc,proc,sys,dev}
chmod 0700 "$rootfs/root"
chmod 1777 "$rootfs/tmp"

# ---- the layer -------------------------------------------------------------------------------------
mkdir -p "$layout/blobs/sha256"
layer="$work/layer.tar"
# Entries are named without a leading "./" (as docker and buildkit write them); pax headers carry
# nothing time-dependent.
(cd "$rootfs" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort) |
    tar -C "$rootfs" --no-recursion --verbatim-files-from -T - -cf "$layer" \
        --format=posix --pax-option='exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime' \
        --mtime=@0 --owner=0 --group=0 --numeric-owner

digest_of() { sha256sum "$1" | cut -d' ' -f1; }
size_of() { stat -c %s "$1"; }
# Move a file into the blob store under its digest; prints "<hex> <size>".
add_blob() {
    local hex size
    hex=$(digest_of "$1")
    size=$(size_of "$1")
    mv "$1" "$layout/blobs/sha256/$hex"
    echo "$hex $size"
}

read -r layer_hex layer_size < <(add_blob "$layer")
# Uncompressed layer: the diff_id is the layer digest itself.
diff_id="sha256:$layer_hex"

config="$work/config.json"
printf '{"architecture":"%s","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"tests/images/build-busybox-oci.sh (busybox-static)"}]}' \
    "$arch" "$diff_id" >"$config"
read -r config_hex config_size < <(add_blob "$config")

manifest="$work/manifest.json"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$config_hex" "$config_size" "$layer_hex" "$layer_size" >"$manifest"
read -r manifest_hex manifest_size < <(add_blob "$manifest")

# io.containerd.image.name is what `ctr images import` names the image by; ref.name is the OCI tag.
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"%s","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest_hex" "$manifest_size" "$arch" "$ref" "$tag" >"$layout/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"

# ---- the tarball -------------------------------------------------------------------------------------
(cd "$layout" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort) |
    tar -C "$layout" --no-recursion --verbatim-files-from -T - -cf "$work/image.tar" \
        --format=posix --pax-option='exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime' \
        --mtime=@0 --owner=0 --group=0 --numeric-owner --mode='u+rw,go+r,go-w'
mv "$work/image.tar" "$out"
echo "built $out: $ref (manifest sha256:$manifest_hex, layer sha256:$layer_hex, $n_applets applets)"
