#!/usr/bin/env bash
# The API worker serves requests concurrently: while a write is held up (here: another process
# holds the lock of the realm's document, so the write waits in the store), Ping answers at once,
# a read of another realm answers at once, a second write waits for the first (writes run one at a
# time) and both complete. A private kukeond, as tests/integration/test_hierarchy.sh runs it.
set -u
. "$KUKEON_TOP/tests/lib/tap.sh"
. "$KUKEON_TOP/tests/lib/kukeond.sh"
B=$BUILD
KUKE="$B/bin/kuke"
RPC="$B/tests/tools/rpc_send"
N=8
tap_plan $N

kd_need_root "daemon concurrency"
command -v flock >/dev/null || kd_skip_all "daemon concurrency" "flock(1) (util-linux) is not installed"

kd_env daemon-concurrency dconc 10.249.0.0/16
R1="${P}-c1" R2="${P}-c2" R3="${P}-c3"
HOLDER=""

cleanup() {
    [ -n "$HOLDER" ] && kill "$HOLDER" 2>/dev/null
    kd_purge "$R1" "$R2" "$R3"
    kd_stop
    kd_purge default kuke-system
}
trap cleanup EXIT

ms() { date +%s%3N; }
call() { # method params-json: one request through rpc_send, the reply on stdout
    printf '{"method":"KukeonV1.%s","params":[%s],"id":1}' "$1" "$2" | "$RPC" "$SOCK"
}
realm_doc() { printf '{"Doc":{"apiVersion":"v1beta1","kind":"Realm","metadata":{"name":"%s"},"spec":{}}}' "$1"; }

out=$("$KUKE" init --no-daemon "${D[@]}" "${I[@]}" 2>&1) && out=$("$KUKE" daemon start "${D[@]}" --run-path "$T/opt" "${CONF[@]}" 2>&1)
if [ $? -eq 0 ]; then tap_ok "a private kukeond starts"
else tap_fail "private kukeond starts" "$out"; fi

r1=$(call CreateRealm "$(realm_doc "$R1")") r2=$(call CreateRealm "$(realm_doc "$R2")")
if echo "$r1" | grep -q '"error": *null' && echo "$r2" | grep -q '"error": *null'; then
    tap_ok "two realms created through the daemon"
else tap_fail "create realms" "r1=$r1 r2=$r2"; fi

# Hold the realm's document lock for 1.5 s: a write of that realm waits for it in the store.
LOCK="$T/opt/data/$R1/metadata.json.lock"
flock -x "$LOCK" sleep 1.5 &
HOLDER=$!
sleep 0.2
t0=$(ms)
call CreateRealm "$(realm_doc "$R1")" >"$T/slow.out" 2>&1 &
slow=$!
sleep 0.1
call CreateRealm "$(realm_doc "$R3")" >"$T/second.out" 2>&1 &
second=$!
sleep 0.1

t1=$(ms)
ping=$(call Ping '{}')
t2=$(ms)
if echo "$ping" | grep -q '"OK": *true' && [ $((t2 - t1)) -lt 300 ]; then
    tap_ok "Ping answers in $((t2 - t1)) ms while a write is held up"
else tap_fail "Ping during a slow write" "took $((t2 - t1)) ms: $ping"; fi

t1=$(ms)
get=$(call GetRealm "$(realm_doc "$R2")")
t2=$(ms)
if echo "$get" | grep -q "\"name\": *\"$R2\"" && [ $((t2 - t1)) -lt 500 ]; then
    tap_ok "a read of another realm answers in $((t2 - t1)) ms beside the held-up write"
else tap_fail "read beside a slow write" "took $((t2 - t1)) ms: $get"; fi

t1=$(ms)
st=$(call DaemonStatus '{}')
t2=$(ms)
if echo "$st" | grep -q '"kuke-ctrd"' && [ $((t2 - t1)) -lt 1000 ]; then
    tap_ok "DaemonStatus answers in $((t2 - t1)) ms beside the held-up write"
else tap_fail "DaemonStatus beside a slow write" "took $((t2 - t1)) ms: $st"; fi

if [ ! -d "$T/opt/data/$R3" ] && kill -0 "$second" 2>/dev/null; then
    tap_ok "a second write waits for the first (writes run one at a time)"
else tap_fail "writes serialised" "second write done early: $(cat "$T/second.out") realm dir: $(ls -d "$T/opt/data/$R3" 2>&1)"; fi

wait "$slow" "$second" "$HOLDER"
HOLDER=""
t3=$(ms)
if grep -q '"error": *null' "$T/slow.out" && grep -q '"error": *null' "$T/second.out" && [ $((t3 - t0)) -ge 1200 ]; then
    tap_ok "both writes complete once the lock is released ($((t3 - t0)) ms)"
else tap_fail "writes complete" "after $((t3 - t0)) ms: slow=$(cat "$T/slow.out") second=$(cat "$T/second.out")"; fi

# The worker is still one process, its threads inside the sandbox, and still serving.
ping=$(call Ping '{}')
threads=""
seccomp=""
# This daemon's worker (other daemons may run on the host): the kukeon process holding its socket.
for p in $(ss -xlpn 2>/dev/null | grep -F "$SOCK " | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
    if [ "$(stat -c %U /proc/$p 2>/dev/null)" = kukeon ]; then
        threads=$(awk '/^Threads:/ {print $2}' /proc/$p/status)
        seccomp=$(awk '/^Seccomp:/ {print $2}' /proc/$p/status)
        filters=$(ls /proc/$p/task | while read -r t; do awk '/^Seccomp:/ {print $2}' /proc/$p/task/$t/status; done | sort -u)
    fi
done
if echo "$ping" | grep -q '"OK": *true' && [ "${threads:-0}" -ge 6 ] && [ "$seccomp" = 2 ] && [ "$filters" = 2 ]; then
    tap_ok "the API worker runs $threads threads, every one under its seccomp filter"
else tap_fail "worker threads in the sandbox" "threads=$threads seccomp=$seccomp per-thread=$filters ping=$ping"; fi
