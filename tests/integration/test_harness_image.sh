#!/usr/bin/env bash
# Proves the integration harness with containerd's own client: the busybox test image imports into a
# namespace of the private containerd, runs (echo prints what it should), and the namespace, the image
# and everything under them are removed afterwards.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib/tap.sh
source "$here/../lib/tap.sh"

checks=(import listed run removed)
tap_plan "${#checks[@]}"

skip_all() {
    local c
    for c in "${checks[@]}"; do tap_skip "$c" "$1"; done
    exit 0
}
[ -n "${KUKEON_TEST_CONTAINERD_SOCKET:-}" ] ||
    skip_all "${KUKEON_TEST_SKIP_REASON:-KUKEON_TEST_CONTAINERD_SOCKET is not set; run through tests/run.sh}"
if [ -z "${KUKEON_TEST_IMAGE:-}" ] || [ ! -f "$KUKEON_TEST_IMAGE" ]; then
    skip_all "KUKEON_TEST_IMAGE is not set (building the busybox test image failed; see the harness log)"
fi
command -v ctr >/dev/null || skip_all "ctr not installed (package containerd)"

prefix=${KUKEON_TEST_PREFIX:-kt$$}
ns="$prefix-image.kukeon.io"
ref=kukeon.local/busybox:test
id="$prefix-hello"
ctr_() { timeout 60 ctr --address "$KUKEON_TEST_CONTAINERD_SOCKET" -n "$ns" "$@"; }

# Everything the test made goes, whichever check failed: task, container, snapshot, image, namespace.
remove_all() {
    ctr_ tasks kill -s SIGKILL "$id" >/dev/null 2>&1
    ctr_ tasks delete -f "$id" >/dev/null 2>&1
    ctr_ containers delete "$id" >/dev/null 2>&1
    ctr_ snapshots --snapshotter overlayfs rm "$id" >/dev/null 2>&1
    # --sync waits for the garbage collector, so content and snapshots are gone before the namespace.
    ctr_ images rm --sync "$ref" >/dev/null 2>&1
    ctr_ namespaces rm "$ns" 2>&1
}
trap 'remove_all >/dev/null 2>&1' EXIT

tap_check import ctr_ images import "$KUKEON_TEST_IMAGE"

if out=$(ctr_ images ls -q 2>&1) && grep -qxF "$ref" <<<"$out"; then
    tap_ok listed
else
    tap_fail listed "image $ref not listed in namespace $ns after import: $out"
fi

word="kukeon-harness-$prefix"
if out=$(ctr_ run --rm --snapshotter overlayfs "$ref" "$id" /bin/echo "$word" 2>&1) && [ "$out" = "$word" ]; then
    tap_ok run
else
    tap_fail run "ctr run of $ref printed \"$out\", expected \"$word\""
fi

if out=$(remove_all) && ! ctr --address "$KUKEON_TEST_CONTAINERD_SOCKET" namespaces ls -q | grep -qxF "$ns"; then
    tap_ok removed
else
    tap_fail removed "namespace $ns is still there after images rm and namespaces rm: $out"
fi
trap - EXIT
