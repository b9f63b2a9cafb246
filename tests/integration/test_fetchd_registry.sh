#!/usr/bin/env bash
# kuke-fetchd's distribution client against real registries, driven the way the API worker drives it:
# tests/tools/fetchd_call starts the real helper with kk_helper_launch (its own user, no capability,
# its seccomp filter) and sends RESOLVE and FETCH over the socketpair. Debian's docker-registry (TLS
# with a self-signed certificate, htpasswd Basic auth) holds the busybox test image pushed with skopeo;
# tests/tools/fake_registry.py covers the Bearer token flow, a multi-platform index, a schema 1
# manifest and a blob whose bytes do not match its digest. The fetched tarball is loaded through
# kuke-ctrd's IMAGE_LOAD into a private namespace of the harness's containerd.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib/tap.sh
source "$here/../lib/tap.sh"
# shellcheck source=tests/lib/registry.sh
source "$here/../lib/registry.sh"

checks=(resolve fetch-layout ctrd-load wrong-password anonymous unknown-repo unknown-tag down
    self-signed bearer index-host-only no-platform bad-digest redirect redirect-away skip-list schema1 no-password-leak)
tap_plan "${#checks[@]}"
skip_all() {
    local c
    for c in "${checks[@]}"; do tap_skip "$c" "$1"; done
    exit 0
}
[ -n "${KUKEON_TEST_CONTAINERD_SOCKET:-}" ] ||
    skip_all "${KUKEON_TEST_SKIP_REASON:-KUKEON_TEST_CONTAINERD_SOCKET is not set; run through tests/run.sh}"
[ -n "${KUKEON_TEST_IMAGE:-}" ] && [ -f "$KUKEON_TEST_IMAGE" ] || skip_all "the harness built no busybox test image"
B=${BUILD:?}
CALL="$B/tests/tools/fetchd_call"
[ -x "$CALL" ] && [ -x "$B/libexec/kuke-fetchd" ] || skip_all "$CALL or kuke-fetchd not built; run make check-build"
getent passwd kukeon-fetchd >/dev/null || skip_all "user kukeon-fetchd does not exist (kuke init creates it)"

P=${KUKEON_TEST_PREFIX:-kt$$}
R="$P-fetchd"
NS="$R.kukeon.io"
CTR=(timeout 60 ctr --address "$KUKEON_TEST_CONTAINERD_SOCKET" -n "$NS")
cleanup() {
    local img
    for img in $("${CTR[@]}" images ls -q 2>/dev/null); do "${CTR[@]}" images rm --sync "$img" >/dev/null 2>&1; done
    "${CTR[@]}" leases ls -q 2>/dev/null | while read -r l; do "${CTR[@]}" leases rm "$l" >/dev/null 2>&1; done
    timeout 60 ctr --address "$KUKEON_TEST_CONTAINERD_SOCKET" namespaces rm "$NS" >/dev/null 2>&1
    reg_stop
}
trap cleanup EXIT

reg_start || skip_all "$REG_SKIP_REASON"
reg_push "$KUKEON_TEST_IMAGE" test/busybox:1 || skip_all "could not push the test image to docker-registry"
reg_fake_start || skip_all "$REG_SKIP_REASON"
T="$REG_DIR"
GOOD=(-u "$REG_USER" -p "$REG_PASS" -k)

# ---- docker-registry: Basic auth over TLS ------------------------------------------------------------
out=$("$CALL" "${GOOD[@]}" resolve "$REG_HOST/test/busybox:1" 2>&1)
manifest=$(awk '$1 == "manifest" {print $3}' <<<"$out")
config=$(awk '$1 == "config" {print $3}' <<<"$out")
layer=$(awk '$1 == "layer" {print $3}' <<<"$out")
if grep -qx "name $REG_HOST/test/busybox:1" <<<"$out" && grep -qx "index " <<<"$out" &&
    [[ $manifest == sha256:* && $config == sha256:* && $layer == sha256:* ]] &&
    [ "$(grep -c '^layer ' <<<"$out")" = 1 ]; then
    tap_ok resolve
else
    tap_fail resolve "RESOLVE of $REG_HOST/test/busybox:1 printed: $out"
fi

# FETCH: the layout in the contract's order, every blob hashing to its name.
tarball="$T/busybox.tar"
out=$("$CALL" "${GOOD[@]}" fetch "$REG_HOST/test/busybox:1" "$manifest" "$tarball" 2>&1)
want=$(printf '%s\n' oci-layout index.json "blobs/sha256/${manifest#sha256:}" "blobs/sha256/${config#sha256:}" \
    "blobs/sha256/${layer#sha256:}")
members=$(tar tf "$tarball" 2>&1)
bad_blobs=""
mkdir -p "$T/x" && tar xf "$tarball" -C "$T/x" 2>/dev/null
for f in "$T"/x/blobs/sha256/*; do
    [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || bad_blobs+=" $(basename "$f")"
done
if grep -qx "fetched=3 skipped=0 bytes=.*" <<<"$out" && [ "$members" = "$want" ] && [ -z "$bad_blobs" ] &&
    jq -e --arg n "$REG_HOST/test/busybox:1" --arg d "$manifest" \
        '.manifests | length == 1 and .[0].digest == $d and .[0].annotations["org.opencontainers.image.ref.name"] == $n' \
        "$T/x/index.json" >/dev/null 2>&1; then
    tap_ok fetch-layout
else
    tap_fail fetch-layout "FETCH printed \"$out\"; members: $members; want: $want; bad blobs:$bad_blobs; index.json: $(cat "$T/x/index.json" 2>&1)"
fi

# The tarball is what kuke-ctrd imports: IMAGE_LOAD into a private namespace, then ctr sees the image.
mkdir -p "$T/run"
# The realm's namespace as kuke-ctrd makes it (labelled with its realm): IMAGE_LOAD writes only into one.
timeout 60 ctr --address "$KUKEON_TEST_CONTAINERD_SOCKET" namespaces create "$NS" "kukeon.io/realm=$R" >/dev/null 2>&1
out=$("$B/tests/tools/kk_image" load "$KUKEON_TEST_CONTAINERD_SOCKET" "$T/run" "/$P-fetchd" "$R" "$tarball" 2>&1)
if [ "$out" = "$REG_HOST/test/busybox:1" ] && "${CTR[@]}" images ls -q 2>/dev/null | grep -qxF "$REG_HOST/test/busybox:1"; then
    tap_ok ctrd-load
else
    tap_fail ctrd-load "kuke-ctrd IMAGE_LOAD of the fetched tarball: $out; images: $("${CTR[@]}" images ls -q 2>&1)"
fi

out=$("$CALL" -u "$REG_USER" -p wrong-password -k resolve "$REG_HOST/test/busybox:1" 2>&1)
if grep -q "^error Permission: registry $REG_HOST refused the credentials of user $REG_USER for $REG_HOST/test/busybox:1" <<<"$out"; then
    tap_ok wrong-password
else
    tap_fail wrong-password "a wrong password gave: $out"
fi

out=$("$CALL" -k resolve "$REG_HOST/test/busybox:1" 2>&1)
if grep -q "^error Permission: registry $REG_HOST needs credentials for $REG_HOST/test/busybox:1; add them" <<<"$out"; then
    tap_ok anonymous
else
    tap_fail anonymous "no credentials gave: $out"
fi

out=$("$CALL" "${GOOD[@]}" resolve "$REG_HOST/test/nothere:1" 2>&1)
if grep -q "^error NotFound: .*image $REG_HOST/test/nothere:1.*not found" <<<"$out"; then
    tap_ok unknown-repo
else
    tap_fail unknown-repo "an unknown repository gave: $out"
fi

out=$("$CALL" "${GOOD[@]}" resolve "$REG_HOST/test/busybox:nope" 2>&1)
if grep -q "^error NotFound: .*image $REG_HOST/test/busybox:nope.*MANIFEST_UNKNOWN" <<<"$out"; then
    tap_ok unknown-tag
else
    tap_fail unknown-tag "an unknown tag gave: $out"
fi

# A port nobody listens on (picked free, then released).
port=$(_reg_free_port)
out=$("$CALL" "${GOOD[@]}" resolve "127.0.0.1:$port/test/busybox:1" 2>&1)
if grep -q "^error Unavailable: .*cannot reach registry 127.0.0.1:$port" <<<"$out"; then
    tap_ok down
else
    tap_fail down "a registry that is down gave: $out"
fi

out=$("$CALL" -u "$REG_USER" -p "$REG_PASS" resolve "$REG_HOST/test/busybox:1" 2>&1)
if grep -q "^error Unavailable: .*TLS verification of $REG_HOST failed.*set insecureSkipTLSVerify for this server in the realm's registryCredentials" <<<"$out"; then
    tap_ok self-signed
else
    tap_fail self-signed "a self-signed registry without insecureSkipTLSVerify gave: $out"
fi

# ---- fake registry: Bearer tokens, an index, broken content ----------------------------------------------
out=$("$CALL" "${GOOD[@]}" resolve "$FREG_HOST/plain/busybox:1" 2>&1)
if grep -q "^manifest " <<<"$out" && grep -q "^GET /token?service=fake-registry&scope=repository%3Aplain%2Fbusybox%3Apull auth=basic" "$FREG_LOG" &&
    grep -q "^GET /v2/plain/busybox/manifests/1 auth=bearer" "$FREG_LOG"; then
    tap_ok bearer
else
    tap_fail bearer "RESOLVE through a Bearer token gave: $out; requests: $(cat "$FREG_LOG")"
fi

: >"$FREG_LOG"
out=$("$CALL" "${GOOD[@]}" pull "$FREG_HOST/multi/busybox:1" "$T/multi.tar" 2>&1)
index=$(awk '$1 == "index" {print $2}' <<<"$out")
host_manifest=$(awk '$1 == "manifest" {print $3}' <<<"$out")
# Requests for anything but the tag, the host's manifest and its two blobs would be another platform's.
others=$(grep -v -e "/token?" -e "/manifests/1 " -e "/manifests/$host_manifest " -e "/blobs/" "$FREG_LOG")
if [[ $index == sha256:* ]] && grep -qx "fetched=3 skipped=0 bytes=.*" <<<"$out" && [ -z "$others" ] &&
    [ "$(grep -c '/blobs/' "$FREG_LOG")" = 2 ] && ! grep -q ' auth=none' <(grep /blobs/ "$FREG_LOG"); then
    tap_ok index-host-only
else
    tap_fail index-host-only "pulling the index gave: $out; other requests: $others; all: $(cat "$FREG_LOG")"
fi

out=$("$CALL" "${GOOD[@]}" -a mips64le resolve "$FREG_HOST/multi/busybox:1" 2>&1)
if grep -q "^error NotFound: image $FREG_HOST/multi/busybox:1 has no manifest for linux/mips64le; it offers linux/.*arm64" <<<"$out"; then
    tap_ok no-platform
else
    tap_fail no-platform "an index without the platform gave: $out"
fi

out=$("$CALL" "${GOOD[@]}" pull "$FREG_HOST/bad/busybox:1" "$T/bad.tar" 2>&1)
if grep -q "^error Invalid: blob sha256:[0-9a-f]\{64\} of image $FREG_HOST/bad/busybox:1: the registry sent sha256:[0-9a-f]\{64\} ([0-9]* bytes), not sha256:" <<<"$out" &&
    [ ! -e "$T/bad.tar" ]; then
    tap_ok bad-digest
else
    tap_fail bad-digest "a blob that does not match its digest gave: $out (file left: $(ls "$T/bad.tar" 2>&1))"
fi

# Blobs redirected on the registry's own host are followed; a redirect to another authority (localhost is
# not 127.0.0.1) gets no Authorization header and no insecureSkipTLSVerify: the self-signed certificate
# fails there.
: >"$FREG_LOG"
out=$("$CALL" "${GOOD[@]}" pull "$FREG_HOST/moved/busybox:1" "$T/moved.tar" 2>&1)
if grep -qx "fetched=3 skipped=0 bytes=.*" <<<"$out" && [ "$(grep -c '^GET /cdn/sha256:' "$FREG_LOG")" = 2 ]; then
    tap_ok redirect
else
    tap_fail redirect "pulling blobs through a redirect gave: $out; requests: $(cat "$FREG_LOG")"
fi
out=$("$CALL" "${GOOD[@]}" pull "$FREG_HOST/away/busybox:1" "$T/away.tar" 2>&1)
if grep -q "^error Unavailable: blob sha256:.* of image $FREG_HOST/away/busybox:1: TLS verification of localhost:${FREG_HOST##*:} failed" <<<"$out"; then
    tap_ok redirect-away
else
    tap_fail redirect-away "a redirect to another host with insecureSkipTLSVerify for the registry gave: $out"
fi

# skip: the layer is left out of the tarball and never requested.
n_before=$(reg_requests "/blobs/$layer")
out=$("$CALL" "${GOOD[@]}" -s "$layer" fetch "$REG_HOST/test/busybox:1" "$manifest" "$T/skip.tar" 2>&1)
members=$(tar tf "$T/skip.tar" 2>&1)
if grep -qx "fetched=2 skipped=1 bytes=.*" <<<"$out" && ! grep -q "${layer#sha256:}" <<<"$members" &&
    grep -q "${config#sha256:}" <<<"$members" && [ "$(reg_requests "/blobs/$layer")" = "$n_before" ]; then
    tap_ok skip-list
else
    tap_fail skip-list "FETCH skipping the layer gave: $out; members: $members"
fi

out=$("$CALL" "${GOOD[@]}" resolve "$FREG_HOST/schema1/busybox:1" 2>&1)
if grep -q "^error Invalid: .*image $FREG_HOST/schema1/busybox:1 is a Docker schema 1 manifest" <<<"$out"; then
    tap_ok schema1
else
    tap_fail schema1 "a schema 1 manifest gave: $out"
fi

# The password went to kuke-fetchd in every request above: it is in no reply, log or audit line.
out=$("$CALL" -l -u "$REG_USER" -p "$REG_PASS-x" -k resolve "$REG_HOST/test/busybox:1" 2>&1)
if ! grep -qF -- "$REG_PASS" <<<"$out" && grep -q "fetchd audit" <<<"$out"; then
    tap_ok no-password-leak
else
    tap_fail no-password-leak "the password appears in kuke-fetchd's reply, log or audit: $out"
fi
