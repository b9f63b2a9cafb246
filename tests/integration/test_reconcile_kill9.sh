#!/usr/bin/env bash
# The acceptance test of issue 7: kill -9 of the API worker in the middle of creating ten cells.
# The supervisor restarts the group; the reconcile pass at start finishes what was left half done
# (a cell recorded Creating is created and started) and removes what no document records. Then the
# store and the host agree: every cell recorded exists and runs, and nothing exists that is not
# recorded — containerd containers, cgroups, netns pins, netd's cell records and IPAM addresses.
set -u
. "$KUKEON_TOP/tests/lib/tap.sh"
. "$KUKEON_TOP/tests/lib/kukeond.sh"
B=$BUILD
KUKE="$B/bin/kuke"
RPC="$B/tests/tools/rpc_send"
PRPC=("$B/tests/tools/kk_image" rpc)
N=8
tap_plan $N

skip_all() { kd_skip_all "kill -9 convergence" "$1"; }
kd_need_root "kill -9 convergence"
if [ -z "${KUKEON_TEST_IMAGE:-}" ] || ! command -v jq >/dev/null; then
    skip_all "needs the harness's busybox image (KUKEON_TEST_IMAGE) and jq"
fi

kd_env kill9 k9 10.251.0.0/16
R="${P}-k9"
NS="$R.kukeon.io"
IMG=kukeon.local/busybox:test
CTR=(ctr --address "$KUKEON_TEST_CONTAINERD_SOCKET" -n "$NS")
CELLS="$T/opt/data/$R/sp/st"
V2=$(cgroup2_mount)
CLIENTS=()

cleanup() {
    for p in "${CLIENTS[@]}"; do kill "$p" 2>/dev/null; done
    kd_stop
    kd_purge "$R" default kuke-system
}
trap cleanup EXIT

api_pid() { # this daemon's API worker: the kukeon process holding its socket
    local p
    for p in $(ss -xlpn 2>/dev/null | grep -F "$SOCK " | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
        [ "$(stat -c %U /proc/$p 2>/dev/null)" = kukeon ] && echo "$p"
    done | head -1
}
cell_req() {
    jq -cn --arg r "$R" --arg n "$1" --arg img "$IMG" \
        '{method: "KukeonV1.CreateCell", id: 1, params: [{Doc: {apiVersion: "v1beta1", kind: "Cell",
          metadata: {name: $n}, spec: {realmId: $r, spaceId: "sp", stackId: "st",
          containers: [{id: "main", image: $img, command: "sleep", args: ["3600"]}]}}}]}'
}
recorded() { ls "$CELLS" 2>/dev/null | while read -r c; do [ -f "$CELLS/$c/metadata.json" ] && echo "$c"; done; }

# --- setup ----------------------------------------------------------------------------------------
"$KUKE" init --no-daemon "${D[@]}" "${I[@]}" >"$T/out" 2>&1 && "$KUKE" daemon start "${D[@]}" "${I[@]}" >>"$T/out" 2>&1 \
    && "$KUKE" create realm "$R" "${D[@]}" >>"$T/out" 2>&1 && "$KUKE" create space sp --realm "$R" "${D[@]}" >>"$T/out" 2>&1 \
    && "$KUKE" create stack st --realm "$R" --space sp "${D[@]}" >>"$T/out" 2>&1 \
    && "$KUKE" image load "$KUKEON_TEST_IMAGE" --realm "$R" "${I[@]}" >>"$T/out" 2>&1
if [ $? -eq 0 ]; then tap_ok "a private kukeond with a realm, space, stack and the test image"
else tap_fail "setup" "$(cat "$T/out")"; skip_all "setup failed"; fi

# A first cell on its own, to know the machine can run cells at all.
out=$(cell_req k0 | "${PRPC[@]}" "$SOCK")
if echo "$out" | grep -q 'log path.*Permission denied'; then
    tap_skip "a first cell" "kuke-ctrd cannot walk the run path (its role lacks group kukeon): $out"
    skip_all "kuke-ctrd cannot walk the run path (its role lacks group kukeon)"
elif echo "$out" | grep -q '"error": *null' && [ "$(jq -r .status.state "$CELLS/k0/metadata.json")" = Ready ]; then
    tap_ok "a first cell is created and Ready"
else tap_fail "a first cell" "$out"; fi

# --- ten cells, and kill -9 of the worker in the middle -------------------------------------------
old=$(api_pid)
for i in 1 2 3 4 5 6 7 8 9 10; do
    cell_req "k$i" | "${PRPC[@]}" "$SOCK" >"$T/c$i.out" 2>&1 &
    CLIENTS+=($!)
done
three() { [ "$(recorded | wc -l)" -ge 4 ]; }
wait_for 30 three
kill -9 "$old"
before=$(recorded | tr '\n' ' ')
wait "${CLIENTS[@]}" 2>/dev/null
CLIENTS=()
answered=$(grep -l '"error": *null' "$T"/c*.out 2>/dev/null | wc -l)
if [ -n "$old" ] && [ "$answered" -lt 10 ]; then
    tap_ok "the worker (pid $old) was killed with $((answered)) of ten creates answered; recorded then: $before"
else tap_fail "kill -9 in the middle" "pid=$old answered=$answered recorded=$before"; fi

up() { [ -n "$(api_pid)" ] && [ "$(api_pid)" != "$old" ] && echo '{"method":"KukeonV1.Ping","params":[{}],"id":1}' | "$RPC" "$SOCK" | grep -q '"OK": *true'; }
if wait_for 30 up; then tap_ok "the supervisor restarts the group: a new worker (pid $(api_pid)) answers Ping"
else tap_fail "group restart" "$(grep -v 'level=DEBUG' "$T/log/kukeond.log" | tail -25 | cut -c1-400)"; fi

# --- convergence ----------------------------------------------------------------------------------
all_ready() {
    local c
    for c in $(recorded); do
        [ "$(jq -r .status.state "$CELLS/$c/metadata.json" 2>/dev/null)" = Ready ] || return 1
    done
}
if wait_for 60 all_ready; then tap_ok "every recorded cell ($(recorded | wc -l)) is Ready"
else tap_fail "recorded cells Ready" "$(for c in $(recorded); do echo "$c: $(jq -c '.status | {state, reason, message}' "$CELLS/$c/metadata.json")"; done)"; fi

# containerd: exactly the containers the documents record, each with a running task.
want=$(for c in $(recorded); do jq -r '.spec.containers[].containerdId' "$CELLS/$c/metadata.json"; done | sort)
have=$("${CTR[@]}" c ls -q 2>/dev/null | sort)
running=$("${CTR[@]}" t ls 2>/dev/null | awk 'NR > 1 && $3 == "RUNNING" {print $1}' | sort)
if [ -n "$want" ] && [ "$want" = "$have" ] && [ "$want" = "$running" ]; then
    tap_ok "containerd holds exactly the recorded containers ($(echo "$want" | wc -l)), every task running"
else tap_fail "containerd inventory" "want: $(echo $want) // have: $(echo $have) // running: $(echo $running)"; fi

# cgroups: one per recorded cell beneath the stack, no other.
cg=$(find "$V2$CGROOT/$R/sp/st" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort)
if [ "$cg" = "$(recorded | sort)" ]; then tap_ok "the cgroups beneath the stack are the recorded cells'"
else tap_fail "cgroup inventory" "cgroups: $(echo $cg) // recorded: $(echo $(recorded))"; fi

# netd: one cell record, netns pin and IPAM address per recorded cell.
recs=$(for f in "$NSTATE/$R/sp/cells/"*.json; do [ -f "$f" ] && jq -r .cell "$f"; done | sort)
pins_ok=1
for f in "$NSTATE/$R/sp/cells/"*.json; do
    [ -f "$f" ] || continue
    ns=$(jq -r .netns "$f")
    [ -e "$ns" ] || pins_ok=0
done
ips=$(find "$NSTATE/$R/sp/ipam" -type f 2>/dev/null | grep -cE '/[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$')
n=$(recorded | wc -l)
if [ "$recs" = "$(recorded | sort)" ] && [ $pins_ok = 1 ] && [ "$ips" = "$n" ]; then
    tap_ok "netd records, netns pins and IPAM addresses: exactly one per recorded cell ($n)"
else tap_fail "netd inventory" "records: $(echo $recs) pins_ok=$pins_ok ips=$ips // recorded: $(echo $(recorded))"; fi
