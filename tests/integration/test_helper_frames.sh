#!/usr/bin/env bash
# Every helper, started the way kukeond starts it, against forged frames: each is fatal (the helper
# exits 1) and leaves a "fatal" audit line; a well-formed HELLO + STATUS is served and audited "ok".
set -u
. "$KUKEON_TOP/tests/lib/tap.sh"
FORGE="$BUILD/tests/tools/ipc_forge"
HELPERS="kuke-cgd kuke-netd kuke-ctrd kuke-fetchd"
KINDS="before-hello truncated oversized unknown-type stray-fd second-hello bad-version reserved-flag"
tap_plan $(( 4 * 9 ))
if [ "$(id -u)" -ne 0 ]; then
    for i in $(seq 1 36); do tap_skip "helper frames $i" "helpers drop to their role's account: needs root"; done
    exit 0
fi
# kuke init for the accounts; in-process it also makes the default and system hierarchies, on a
# private configuration (nothing of the host's), purged at the end.
F="$KUKEON_TEST_TMP/frames"
FI=(--host "unix://$F/kukeond.sock" --run-path "$F/opt" --log-dir "$F/log" --cgroup-root "/${KUKEON_TEST_PREFIX}-frames"
    --containerd-socket "${KUKEON_TEST_CONTAINERD_SOCKET:-$F/no-containerd.sock}" --cni-conf-dir "$F/cni"
    --pod-subnet-cidr 10.253.0.0/16 --netd-state-dir "$F/netd")
trap 'for r in default kuke-system; do "$BUILD/bin/kuke" purge realm "$r" --cascade "${FI[@]}" >/dev/null 2>&1; done' EXIT
"$BUILD/bin/kuke" init --no-daemon "${FI[@]}" >/dev/null 2>&1
for h in $HELPERS; do
    out=$("$FORGE" spawn "$BUILD/libexec/$h" hello-status 2>&1)
    if echo "$out" | grep -q '^exit=0$' && echo "$out" | grep -q 'op=status decision=ok'; then tap_ok "$h serves HELLO then STATUS"
    else tap_fail "$h serves HELLO then STATUS" "$out"; fi
    for k in $KINDS; do
        out=$("$FORGE" spawn "$BUILD/libexec/$h" "$k" 2>&1)
        if echo "$out" | grep -q '^exit=1$' && echo "$out" | grep -q "helper=$h .*decision=fatal"; then
            tap_ok "$h: a $k frame is fatal and audited"
        else tap_fail "$h: a $k frame is fatal and audited" "$out"; fi
    done
done
