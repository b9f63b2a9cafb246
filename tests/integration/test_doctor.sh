#!/usr/bin/env bash
# kuke doctor and kuke status against a private kukeond and the harness's containerd: a healthy
# group reads OK (each helper's seccomp and capabilities from /proc), a planted orphan netns and an
# unreachable containerd are FAIL rows with a hint and exit 1, --json has the reference's shape, a
# stopped daemon is a FAIL with how to start it.
set -u
. "$KUKEON_TOP/tests/lib/tap.sh"
. "$KUKEON_TOP/tests/lib/kukeond.sh"
B=$BUILD
KUKE="$B/bin/kuke"
N=15
tap_plan $N

kd_need_root doctor
command -v jq >/dev/null || kd_skip_all doctor "jq is not installed (make deps)"

kd_env doctor doc 10.246.0.0/16
D=(--host "unix://$SOCK" "${I[@]}")   # every command here names the run path too
# A network namespace named the way kuke-netd names a cell's (kk-<16 hex>), that no cell records.
# The harness's cleanup only knows names with the test prefix: this test removes it itself.
ORPHAN=$(printf 'kk-%016x' "$(( 0x6b74000000000000 + $$ ))")

RLM="${P}-dr"
cleanup() {
    ip netns delete "$ORPHAN" 2>/dev/null
    "$KUKE" purge realm "$RLM" --cascade "${D[@]}" >/dev/null 2>&1
    "$KUKE" daemon stop "${D[@]}" >/dev/null 2>&1
    for r in default kuke-system; do "$KUKE" purge realm "$r" --cascade "${D[@]}" >/dev/null 2>&1; done
}
trap cleanup EXIT

run() { "$KUKE" "$@" >"$T/out" 2>"$T/err"; echo $? >"$T/rc"; }
row() { grep -E "^  $1 +$2 " "$T/out"; } # STATUS NAME

"$KUKE" init --no-daemon "${D[@]}" >/dev/null 2>&1
run daemon start "${D[@]}"
if [ "$(rc)" != 0 ]; then
    tap_fail "a private kukeond starts" "$(cat "$T/out" "$T/err")"
    kd_skip_all doctor "the daemon did not start"
fi
tap_ok "a private kukeond starts"

# --- a healthy group ------------------------------------------------------------------------------
run doctor "${D[@]}"
if row OK socket >/dev/null && row OK version >/dev/null && row OK containerd >/dev/null \
    && row OK orphan-cgroups >/dev/null; then
    tap_ok "doctor: the daemon answers, versions agree, containerd listens, no orphaned cgroup"
else tap_fail "doctor healthy rows" "rc=$(rc) $(cat "$T/out" "$T/err")"; fi

api=$(row OK kukeond-api)
helpers_ok=1
for h in kuke-cgd kuke-netd kuke-ctrd kuke-fetchd; do row OK "$h" | grep -q 'seccomp filter' || helpers_ok=0; done
# the network-facing helper: its own account, no capability
row OK kuke-fetchd | grep -q "uid $(id -u kukeon-fetchd) seccomp filter CapEff 0000000000000000" || helpers_ok=0
if echo "$api" | grep -q 'seccomp filter CapEff 0000000000000000' && [ $helpers_ok = 1 ]; then
    tap_ok "doctor reads each process's sandbox from /proc: API worker filtered with no capabilities, helpers filtered"
else tap_fail "doctor sandbox rows" "$(grep -A12 '^SANDBOX' "$T/out")"; fi

if row OK 'audit kuke-cgd' >/dev/null && row OK 'audit kuke-netd' >/dev/null && row OK 'audit kuke-ctrd' >/dev/null \
    && row OK 'audit kuke-fetchd' >/dev/null; then
    tap_ok "doctor: every helper's audit log is writable"
else tap_fail "doctor audit logs" "$(grep -A6 '^LOGS' "$T/out")"; fi

run doctor cgroups "${D[@]}"
rows=$(grep -cE '^  (OK|WARN) +(cpu|memory|io|pids) ' "$T/out")
if [ "$(rc)" = 0 ] && [ "$rows" = 4 ] && row OK root | grep -q -- "$CGROOT" && grep -q '^CGROUPS' "$T/out"; then
    tap_ok "doctor cgroups: the cgroup root exists, cpu, memory, io and pids each available (v2 or v1)"
else tap_fail "doctor cgroups" "rc=$(rc) $(cat "$T/out")"; fi

# --- a planted orphan netns -----------------------------------------------------------------------
ip netns add "$ORPHAN"
run doctor "${D[@]}"
hint=$(grep -A1 -E '^  FAIL +orphan-netns ' "$T/out" | tail -1)
if [ "$(rc)" = 1 ] && row FAIL orphan-netns | grep -q "$ORPHAN" && [[ $hint == *"↳ "*"ip netns delete"* ]] \
    && grep -qx 'Status: FAIL' "$T/out"; then
    tap_ok "an orphan netns is a FAIL row with a hint; Status: FAIL and exit 1"
else tap_fail "orphan netns FAIL" "rc=$(rc) $(cat "$T/out")"; fi

run doctor --json "${D[@]}"
j=$(cat "$T/out")
if [ "$(rc)" = 1 ] && [ "$(jq -r '.ok' <<<"$j")" = false ] \
    && jq -e --arg o "$ORPHAN" '.checks[] | select(.section == "STATE" and .name == "orphan-netns" and .status == "FAIL"
        and (.detail | contains($o)) and (.remediation | length > 0))' <<<"$j" >/dev/null \
    && jq -e 'all(.checks[]; has("section") and has("name") and has("status") and has("detail"))' <<<"$j" >/dev/null; then
    tap_ok "doctor --json: {ok:false, checks:[{section,name,status,detail,remediation}]}"
else tap_fail "doctor --json" "rc=$(rc) $j"; fi
ip netns delete "$ORPHAN"

# Other runs on this host may hold cells of their own (orphans from this daemon's view): only the
# planted one is asserted.
run doctor "${D[@]}"
if grep -qE '^  (OK|FAIL) +orphan-netns ' "$T/out" && ! grep -q "$ORPHAN" "$T/out"; then
    tap_ok "once the netns is gone, the orphan row no longer names it"
else tap_fail "orphan row after delete" "$(cat "$T/out")"; fi

# --- containerd unreachable -----------------------------------------------------------------------
# What a stopped containerd leaves: its socket file, and nobody listening on it.
# (Without python3, a socket path with nothing at it: what a containerd that cleaned up leaves.)
if command -v python3 >/dev/null; then
    python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$T/dead.sock"
    why='Connection refused'
else why='No such file'; fi
run doctor "${D[@]}" --containerd-socket "$T/dead.sock"
hint=$(grep -A1 -E '^  FAIL +containerd ' "$T/out" | tail -1)
if [ "$(rc)" = 1 ] && row FAIL containerd | grep -q "$why" && [[ $hint == *"↳ start containerd"* ]]; then
    tap_ok "a stopped containerd is a FAIL row with a hint, and exit 1"
else tap_fail "containerd FAIL" "rc=$(rc) $(cat "$T/out")"; fi

# --- parity: the daemon's view against the run path kuke reads ----------------------------------------
"$KUKE" create realm "$RLM" --host "unix://$SOCK" >"$T/out" 2>&1
run doctor "${D[@]}"
if row OK realms | grep -q '3 realm(s), the same through the daemon'; then # with init's default and kuke-system
    tap_ok "PARITY: the daemon lists the realm the run path holds"
else tap_fail "parity OK" "$(grep -A2 '^PARITY' "$T/out") $(cat "$T/err")"; fi

mkdir -p "$T/other"
run doctor "${D[@]}" --run-path "$T/other"
hint=$(grep -A1 -E '^  WARN +realms ' "$T/out" | tail -1)
if row WARN realms | grep -q "only through the daemon: default $RLM kuke-system" && [[ $hint == *"different run paths"* ]]; then
    tap_ok "PARITY: kuke pointed at another run path than the daemon's is a WARN with a hint"
else tap_fail "parity WARN" "$(grep -A2 '^PARITY' "$T/out") $(cat "$T/err")"; fi

# --- status ---------------------------------------------------------------------------------------
run status "${D[@]}"
sections=$(grep -E '^[A-Z]+$' "$T/out" | tr '\n' ' ')
if [ "$sections" = "DAEMON HOST STATE PARITY " ] && ! grep -q '^SANDBOX' "$T/out" && tail -1 "$T/out" | grep -qE '^Status: (OK|FAIL)$' \
    && { [ "$(rc)" = 0 ] || grep -q '^  FAIL' "$T/out"; }; then
    tap_ok "status: DAEMON, HOST, STATE; trailer; non-zero only with a FAIL"
else tap_fail "status sections" "rc=$(rc) sections=$sections $(cat "$T/out")"; fi

run status -v "${D[@]}"
if grep -q '^SANDBOX' "$T/out" && grep -q '^LOGS' "$T/out"; then tap_ok "status -v adds the sandbox and log checks"
else tap_fail "status -v" "$(cat "$T/out")"; fi

# --- daemon stopped -------------------------------------------------------------------------------
"$KUKE" daemon stop "${D[@]}" >/dev/null 2>&1
run status "${D[@]}"
hint=$(grep -A1 -E '^  FAIL +socket ' "$T/out" | tail -1)
if [ "$(rc)" = 1 ] && [[ $hint == *"↳ start it"* ]] && grep -q 'Error: ' "$T/err"; then
    tap_ok "a stopped daemon is a FAIL row saying how to start it, and exit 1"
else tap_fail "daemon down FAIL" "rc=$(rc) $(cat "$T/out" "$T/err")"; fi

run doctor --json "${D[@]}"
if jq -e '.ok == false and any(.checks[]; .name == "socket" and .status == "FAIL")' "$T/out" >/dev/null; then
    tap_ok "doctor --json with the daemon down is still one JSON document"
else tap_fail "doctor --json daemon down" "$(cat "$T/out")"; fi
