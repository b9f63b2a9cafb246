#!/usr/bin/env bash
# The daemon accounts itself as the cell kuke-system/kukeon/kukeon/kukeond (DESIGN.md section 1):
# after kuke init made the system hierarchy, the API worker records the cell (one container
# "kukeond", labelled as the group of host processes, Ready), makes its cgroup through kuke-cgd,
# and the supervisor moves the whole group into it. `kuke get cells --realm kuke-system` shows it,
# and no containerd container is ever made for it.
set -u
. "$KUKEON_TOP/tests/lib/tap.sh"
. "$KUKEON_TOP/tests/lib/kukeond.sh"
B=$BUILD
KUKE="$B/bin/kuke"
N=5
tap_plan $N

kd_need_root "system cell"

kd_env system-cell sys 10.252.0.0/16
CTR=(ctr --address "$KUKEON_TEST_CONTAINERD_SOCKET")
V2=$(cgroup2_mount)
CELLCG="$CGROOT/kuke-system/kukeon/kukeon/kukeond"

cleanup() {
    kd_stop
    kd_purge --force default kuke-system
}
trap cleanup EXIT

# As test_journey.sh: the host first, then init with the daemon, which makes the hierarchies.
"$KUKE" init --no-daemon "${D[@]}" "${I[@]}" >"$T/out" 2>&1 && "$KUKE" init --no-daemon=false "${D[@]}" "${I[@]}" >>"$T/out" 2>&1
if [ $? -eq 0 ] && grep -q 'realm "kuke-system": created' "$T/out"; then tap_ok "kuke init: a private kukeond and the system hierarchy"
else tap_fail "setup" "$(cat "$T/out")"; fi

DOC="$T/opt/data/kuke-system/kukeon/kukeon/kukeond/metadata.json"
recorded() { [ "$(jq -r .status.state "$DOC" 2>/dev/null)" = Ready ]; }
if wait_for 10 recorded && jq -e '.metadata.labels["kukeon.io/host-process"] == "true"
        and ([.spec.containers[].id] == ["kukeond"]) and .status.readyObserved' "$DOC" >/dev/null; then
    tap_ok "the API worker records cell kukeond: one container kukeond, the host-process label, Ready"
else tap_fail "system cell document" "$(cat "$DOC" 2>&1) log: $(grep -i "reconcile\|system" "$T/log/kukeond.log" | tail -5 | cut -c1-400)"; fi

out=$("$KUKE" get cells --realm kuke-system "${D[@]}" 2>&1)
if echo "$out" | grep -q '^kukeond  *kuke-system  *kukeon  *kukeon  *Ready '; then
    tap_ok "kuke get cells --realm kuke-system shows it Ready"
else tap_fail "get cells --realm kuke-system" "$out"; fi

sup=$(cat "$T/run/kukeond.pid" 2>/dev/null || true)
[ -z "$sup" ] && sup=$(ss -xlpn 2>/dev/null | grep -F "$SOCK " | grep -o 'pid=[0-9]*' | cut -d= -f2 | while read -r p; do
    [ "$(stat -c %U /proc/$p)" = root ] && echo "$p"; done | head -1)
joined() {
    [ -n "$sup" ] && grep -qx "0::$CELLCG" "/proc/$sup/cgroup" || return 1
    local p
    for p in $(pgrep -P "$sup"); do grep -qx "0::$CELLCG" "/proc/$p/cgroup" || return 1; done
}
if [ -z "$V2" ]; then tap_skip "group in the cell's cgroup" "no cgroup v2 mount on this host"
elif wait_for 10 joined; then
    tap_ok "the supervisor and its $(pgrep -P "$sup" | wc -l) members run in the cell's cgroup ($CELLCG)"
else tap_fail "group in the cell's cgroup" "sup=$sup: $(grep '^0::' /proc/$sup/cgroup 2>&1) procs: $(cat "$V2$CELLCG/cgroup.procs" 2>&1 | tr '\n' ' ')"; fi

if ! "${CTR[@]}" -n kuke-system.kukeon.io c ls -q 2>/dev/null | grep -q kukeond; then
    tap_ok "no containerd container is made for it"
else tap_fail "no containerd container" "$("${CTR[@]}" -n kuke-system.kukeon.io c ls 2>&1)"; fi
