#!/usr/bin/env bash
# The reboot path (issue 10, kukeon-reference.md 4.4), simulated with a private kukeond: stop the
# daemon, then take away what a reboot takes away — every task, the cells' network namespaces and the
# space's bridge, the runtime directory (the /run/kukeon of this daemon) and the cgroup tree — and
# start it again the way the unit does. Every cell must come back in the state the reference
# prescribes (containers Stopped, cells Exited, cgroups healed, autoDelete cells gone, not restarted)
# with nothing orphaned (kuke doctor), and start again on the operator's word.
set -u
. "$KUKEON_TOP/tests/lib/tap.sh"
. "$KUKEON_TOP/tests/lib/kukeond.sh"
B=$BUILD
KUKE="$B/bin/kuke"
PRPC=("$B/tests/tools/kk_image" rpc)
N=8
tap_plan $N

kd_need_root reboot
if [ -z "${KUKEON_TEST_IMAGE:-}" ] || ! command -v jq >/dev/null; then
    kd_skip_all reboot "needs the harness's busybox image (KUKEON_TEST_IMAGE) and jq"
fi

kd_env reboot boot 10.247.0.0/16 '  reconcileInterval: 2s\n'
RUN="$T/run"
R="${P}-bt"
NS="$R.kukeon.io"
IMG=kukeon.local/busybox:test
DAEMON=("${I[@]}")
CTR=(ctr --address "$KUKEON_TEST_CONTAINERD_SOCKET" -n "$NS")

cleanup() {
    kd_stop
    kd_purge "$R" default kuke-system
}
trap cleanup EXIT

doc() { cat "$T/opt/data/$R/sp/st/$1/metadata.json" 2>/dev/null; }
cstate() { doc "$1" | jq -r '.status.state // empty'; }
ctrstate() { doc "$1" | jq -r --arg c "$2" '.status.containers[] | select(.name == $c) | .state'; }
v2=$(cgroup2_mount)

# --- before: two running cells ----------------------------------------------------------------------
"$KUKE" init --no-daemon "${D[@]}" "${DAEMON[@]}" >"$T/out" 2>&1 && "$KUKE" daemon start "${D[@]}" "${DAEMON[@]}" >>"$T/out" 2>&1 \
    && "$KUKE" create realm "$R" "${D[@]}" >>"$T/out" 2>&1 && "$KUKE" create space sp --realm "$R" "${D[@]}" >>"$T/out" 2>&1 \
    && "$KUKE" create stack st --realm "$R" --space sp "${D[@]}" >>"$T/out" 2>&1 \
    && "$KUKE" image load "$KUKEON_TEST_IMAGE" --realm "$R" "${DAEMON[@]}" >>"$T/out" 2>&1 \
    && create_cell web '{"id":"w","command":"sleep","args":["3600"]}' >>"$T/out" \
    && create_cell tmp '{"id":"t","command":"sleep","args":["3600"]}' true >>"$T/out"
ready() { [ "$(cstate web)" = Ready ] && [ "$(cstate tmp)" = Ready ]; }
if grep -q 'log path.*Permission denied' "$T/out"; then
    # The same known limit test_reconcile_kill9 skips on: the machine's kukeon-ctrd account.
    for i in $(seq 1 $N); do tap_skip "reboot $i" "kuke-ctrd cannot walk the run path (its role lacks group kukeon)"; done
    exit 0
elif wait_for 20 ready; then tap_ok "before: a private kukeond with two Ready cells (one autoDelete)"
else
    tap_fail "setup" "web=$(cstate web) tmp=$(cstate tmp) $(tail -20 "$T/out")"
    for i in $(seq 2 $N); do tap_skip "reboot $i" "no running cells to reboot"; done
    exit 0
fi
# This daemon's cells' netns: kuke-netd keeps one record per cell, named after it, in its private
# state dir. Other runs on the host may have netns of their own: never touch those.
cell_netns=$(find "$NSTATE" -path '*/cells/kk-*.json' -printf '%f\n' 2>/dev/null | sed 's/\.json$//' | sort -u)
bridge=$(jq -r '.status.network.bridgeName // empty' "$T/opt/data/$R/sp/metadata.json" 2>/dev/null)
[ -n "$bridge" ] || bridge=$(doc web | jq -r '.status.network.bridgeName // empty')

# --- the reboot -------------------------------------------------------------------------------------
"$KUKE" daemon stop "${D[@]}" "${DAEMON[@]}" >"$T/out" 2>&1
for id in $("${CTR[@]}" t ls -q 2>/dev/null); do "${CTR[@]}" t kill -s SIGKILL "$id" >/dev/null 2>&1; done
sleep 0.5
for id in $("${CTR[@]}" t ls -q 2>/dev/null); do "${CTR[@]}" t rm -f "$id" >/dev/null 2>&1; done
for n in $cell_netns; do ip netns delete "$n" 2>/dev/null; done
reboot_masquerade "$R-sp" # a reboot empties the NAT table too
[ -n "$bridge" ] && ip link delete "$bridge" 2>/dev/null
rm -rf "$RUN"
for m in $(cgroup_mounts); do
    [ -d "$m$CGROOT" ] && find "$m$CGROOT" -depth -type d -exec rmdir {} \; 2>/dev/null
done
left=""
for m in $(cgroup_mounts); do [ -d "$m$CGROOT" ] && left="$left $m$CGROOT"; done
tasks=$("${CTR[@]}" t ls -q 2>/dev/null)
if [ -z "$left" ] && [ -z "$tasks" ] && [ ! -e "$RUN" ] && [ -n "$cell_netns" ]; then
    tap_ok "simulated reboot: no task, no cell netns ($(echo $cell_netns | wc -w)), no bridge, no run dir, no cgroup tree"
else tap_fail "simulated reboot" "cgroups left:$left tasks: $tasks netns: $cell_netns"; fi

# --- after: start as the unit does ------------------------------------------------------------------
"$KUKE" daemon start "${D[@]}" "${DAEMON[@]}" >"$T/out" 2>&1; rc=$?
if [ $rc = 0 ] && [ -S "$SOCK" ]; then tap_ok "the daemon starts again on a host without its runtime directory"
else tap_fail "daemon start after reboot" "rc=$rc $(cat "$T/out")"; fi

rederived() { [ "$(ctrstate web w)" = Stopped ] && [ "$(cstate web)" = Exited ]; }
if wait_for 15 rederived; then tap_ok "web: its container Stopped, the cell Exited (not restarted)"
else tap_fail "web after reboot" "$(doc web | jq -c .status)"; fi

healed() { [ -d "$v2$CGROOT/$R/sp/st/web" ]; }
if wait_for 10 healed; then tap_ok "web's cgroup is healed"
else tap_fail "cgroup heal" "$(find "$v2$CGROOT" -maxdepth 4 -type d 2>&1 | head)"; fi

tmp_gone() { [ ! -e "$T/opt/data/$R/sp/st/tmp/metadata.json" ] && ! "${CTR[@]}" c ls -q 2>/dev/null | grep -q '_tmp_'; }
if wait_for 15 tmp_gone; then tap_ok "the autoDelete cell is deleted"
else tap_fail "autoDelete after reboot" "$(doc tmp | jq -c .status) // $("${CTR[@]}" c ls -q 2>&1 | tr '\n' ' ')"; fi

"$KUKE" doctor "${D[@]}" "${DAEMON[@]}" >"$T/doctor" 2>&1
# Other runs on this host may hold netns and namespaces of their own: what must be clean is ours —
# the cgroup tree under this daemon's root, this realm's namespace, the cells' old netns.
orph=$(grep -E '^  (FAIL|WARN) +orphan-' "$T/doctor" | grep -F -e "$NS" -e "$CGROOT" $(for n in $cell_netns; do printf -- '-e %s ' "$n"; done))
if [ -z "$orph" ] && grep -qE '^  OK +orphan-cgroups ' "$T/doctor" && grep -qE '^  (OK|FAIL) +orphan-netns ' "$T/doctor"; then
    tap_ok "kuke doctor: nothing orphaned (netns, cgroups, containerd namespaces)"
else tap_fail "orphans after reboot" "$orph $(grep -A12 '^STATE' "$T/doctor")"; fi

"$KUKE" start web --realm "$R" --space sp --stack st "${D[@]}" >"$T/out" 2>&1
back() { [ "$(cstate web)" = Ready ] && [ "$(ctrstate web w)" = Ready ]; }
if wait_for 20 back; then tap_ok "kuke start brings web back to Ready after the reboot"
else tap_fail "start after reboot" "$(cat "$T/out") // $(doc web | jq -c .status)"; fi
