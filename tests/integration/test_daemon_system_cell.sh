#!/usr/bin/env bash
# The daemon accounts itself as the cell kuke-system/kukeon/kukeon/kukeond (DESIGN.md section 1):
# after kuke init made the system hierarchy, the API worker records the cell (one container
# "kukeond", labelled as the group of host processes, Ready), makes its cgroup through kuke-cgd,
# and the supervisor moves the whole group into it. `kuke get cells --realm kuke-system` shows it,
# and no containerd container is ever made for it.
set -u
. "$KUKEON_TOP/tests/lib/tap.sh"
B=$BUILD
KUKE="$B/bin/kuke"
N=5
tap_plan $N

if [ -n "${KUKEON_TEST_SKIP_REASON:-}" ] || [ "$(id -u)" -ne 0 ]; then
    for i in $(seq 1 $N); do tap_skip "system cell $i" "${KUKEON_TEST_SKIP_REASON:-needs root}"; done
    exit 0
fi

P=$KUKEON_TEST_PREFIX
T="$KUKEON_TEST_TMP/system-cell"
mkdir -p "$T"
SOCK="$T/run/kukeond.sock"
CGROOT="/${P}-sys"
SUBNET=10.252.0.0/16
NSTATE="$T/netd"
printf 'apiVersion: v1beta1\nkind: ServerConfiguration\nspec:\n  netdStateDir: %s\n' "$NSTATE" >"$T/kukeond.yaml"
CONF=(--log-dir "$T/log" --cgroup-root "$CGROOT" --containerd-socket "$KUKEON_TEST_CONTAINERD_SOCKET"
    --cni-conf-dir "$T/cni" --pod-subnet-cidr "$SUBNET" --netd-state-dir "$NSTATE"
    --server-configuration "$T/kukeond.yaml")
D=(--host "unix://$SOCK")
I=(--run-path "$T/opt" "${CONF[@]}")
CTR=(ctr --address "$KUKEON_TEST_CONTAINERD_SOCKET")
V2=$(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i+1) == "cgroup2") print $5; break } }' /proc/self/mountinfo | head -1)
CELLCG="$CGROOT/kuke-system/kukeon/kukeon/kukeond"

cleanup() {
    "$KUKE" daemon stop "${D[@]}" "${I[@]}" >/dev/null 2>&1
    for r in default kuke-system; do "$KUKE" purge realm "$r" --cascade --force "${I[@]}" >/dev/null 2>&1; done
}
trap cleanup EXIT
wait_for() {
    local end=$(($(date +%s) + $1)); shift
    while [ "$(date +%s)" -lt "$end" ]; do "$@" && return 0; sleep 0.3; done
    "$@"
}

# As test_journey.sh: the host first, then init with the daemon, which makes the hierarchies.
"$KUKE" init --no-daemon "${D[@]}" "${I[@]}" >"$T/out" 2>&1 && "$KUKE" init "${D[@]}" "${I[@]}" >>"$T/out" 2>&1
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
