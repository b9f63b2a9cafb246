#!/usr/bin/env bash
# A dead containerd (issue 7, "Bad input"): a private containerd (tests/harness/containerd.sh, not
# the harness's shared one, which other tests need alive) and a private kukeond on it. containerd is
# stopped by pid in the middle: create realm and apply of a cell fail with an error that names
# containerd and exit non-zero, and nothing is left Ready without its artifact. containerd comes
# back: the failed realm is retried and finished, the cell re-applied and running, and every
# document is Ready with its containerd objects.
set -u
. "$KUKEON_TOP/tests/lib/tap.sh"
B=$BUILD
KUKE="$B/bin/kuke"
N=9
tap_plan $N

skip_all() { for i in $(seq 1 $N); do tap_skip "dead containerd $i" "$1"; done; exit 0; }
if [ -n "${KUKEON_TEST_SKIP_REASON:-}" ] || [ "$(id -u)" -ne 0 ]; then skip_all "${KUKEON_TEST_SKIP_REASON:-needs root}"; fi
[ -n "${KUKEON_TEST_IMAGE:-}" ] || skip_all "KUKEON_TEST_IMAGE is not set (the harness could not build busybox)"

P=$KUKEON_TEST_PREFIX
T="$KUKEON_TEST_TMP/deadctd"
CTD="$T/ctd"                  # the private containerd's directory: config, root, state, socket, pid
mkdir -p "$T"
SOCK="$T/run/kukeond.sock"
CSOCK="$CTD/containerd.sock"
CGROOT="/${P}-dead"
SUBNET=10.243.0.0/16
R="${P}-dr" R2="${P}-dr2"
NSTATE="$T/netd"
printf 'apiVersion: v1beta1\nkind: ServerConfiguration\nspec:\n  netdStateDir: %s\n' "$NSTATE" >"$T/kukeond.yaml"
CONF=(--log-dir "$T/log" --cgroup-root "$CGROOT" --containerd-socket "$CSOCK"
    --cni-conf-dir "$T/cni" --pod-subnet-cidr "$SUBNET" --netd-state-dir "$NSTATE"
    --server-configuration "$T/kukeond.yaml")
D=(--host "unix://$SOCK")
I=(--run-path "$T/opt" "${CONF[@]}")
CTR=(timeout 10 ctr --address "$CSOCK")

ctd_start() { "$KUKEON_TOP/tests/harness/containerd.sh" start "$CTD" >"$T/ctd.out" 2>&1; }
ctd_pid() { cat "$CTD/containerd.pid" 2>/dev/null; }
cleanup() {
    [ -S "$CSOCK" ] || ctd_start
    for r in "$R" "$R2" default kuke-system; do "$KUKE" purge realm "$r" --cascade --force "${I[@]}" >/dev/null 2>&1; done
    "$KUKE" daemon stop "${D[@]}" "${I[@]}" >/dev/null 2>&1
    "$KUKEON_TOP/tests/harness/containerd.sh" stop "$CTD" >/dev/null 2>&1
}
trap cleanup EXIT

out_of() { "$KUKE" "$@" >"$T/out" 2>&1; echo $? >"$T/rc"; cat "$T/out"; }
rc() { cat "$T/rc"; }
wait_for() {
    local end=$(($(date +%s) + $1)); shift
    while [ "$(date +%s)" -lt "$end" ]; do "$@" && return 0; sleep 0.3; done
    "$@"
}
has_ns() { "${CTR[@]}" namespaces ls -q 2>/dev/null | grep -qx "$1.kukeon.io"; }
dstate() { jq -r '.status.state // empty' "$1" 2>/dev/null; }
# Every document in the run path that says Ready: realm documents must have their namespace, cell
# documents their containers (checked once containerd answers).
ready_without_artifact() {
    local f realm cell
    for f in $(find "$T/opt/data" -name metadata.json 2>/dev/null); do
        [ "$(dstate "$f")" = Ready ] || continue
        case "$(jq -r .kind "$f")" in
        Realm) realm=$(jq -r .metadata.name "$f"); has_ns "$realm" || echo "realm $realm Ready without its namespace" ;;
        Cell)
            realm=$(jq -r .spec.realmId "$f"); cell=$(jq -r .metadata.name "$f")
            # the daemon's own cell accounts for host processes: no containerd container, by design
            [ "$realm/$cell" = kuke-system/kukeond ] && continue
            "${CTR[@]}" -n "$realm.kukeon.io" c ls -q 2>/dev/null | grep -q "_${cell}_" \
                || echo "cell $cell Ready without containers" ;;
        esac
    done
}

cat >"$T/cell.yaml" <<Y
kind: Cell
metadata: {name: web}
spec:
  realmId: $R
  spaceId: sp
  stackId: st
  containers:
  - {id: app, image: kukeon.local/busybox:test, command: /bin/sleep, args: ["3600"]}
Y

# --- setup: a private containerd and a daemon on it -----------------------------------------------
if ! ctd_start; then skip_all "the private containerd did not start: $(cat "$T/ctd.out")"; fi
"$KUKE" init --no-daemon "${D[@]}" "${I[@]}" >"$T/setup" 2>&1 && "$KUKE" daemon start "${D[@]}" "${I[@]}" >>"$T/setup" 2>&1 \
    && "$KUKE" create realm "$R" "${D[@]}" >>"$T/setup" 2>&1 && "$KUKE" create space sp --realm "$R" "${D[@]}" >>"$T/setup" 2>&1 \
    && "$KUKE" create stack st --realm "$R" --space sp "${D[@]}" >>"$T/setup" 2>&1 \
    && "$KUKE" image load "$KUKEON_TEST_IMAGE" --realm "$R" "${I[@]}" >>"$T/setup" 2>&1
if [ $? -eq 0 ]; then tap_ok "a private containerd, a private kukeond on it, a realm, space, stack and the image"
else tap_fail "setup" "$(cat "$T/setup")"; fi

# --- containerd dies ------------------------------------------------------------------------------
pid=$(ctd_pid)
[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then tap_ok "the private containerd is stopped by its pid ($pid)"
else tap_fail "containerd stopped" "pid=$pid still alive"; fi

out=$(out_of create realm "$R2" "${D[@]}")
if [ "$(rc)" != 0 ] && echo "$out" | grep -qi containerd \
    && [ "$(dstate "$T/opt/data/$R2/metadata.json")" != Ready ]; then
    tap_ok "create realm with containerd dead: non-zero, the error names containerd, the realm not Ready"
else tap_fail "create realm, containerd dead" "rc=$(rc) out=$out state=$(dstate "$T/opt/data/$R2/metadata.json")"; fi

out=$(out_of apply -f "$T/cell.yaml" "${D[@]}")
if [ "$(rc)" != 0 ] && echo "$out" | grep -qi containerd \
    && [ "$(dstate "$T/opt/data/$R/sp/st/web/metadata.json")" != Ready ]; then
    tap_ok "apply of a cell with containerd dead: non-zero, the error names containerd, the cell not Ready"
else tap_fail "apply, containerd dead" "rc=$(rc) out=$out state=$(dstate "$T/opt/data/$R/sp/st/web/metadata.json")"; fi

# --- containerd returns ---------------------------------------------------------------------------
if ctd_start; then tap_ok "the private containerd starts again on the same socket"
else tap_fail "containerd restart" "$(cat "$T/ctd.out")"; fi

bad=$(ready_without_artifact)
if [ -z "$bad" ]; then tap_ok "nothing half-created: every Ready document has its containerd artifact"
else tap_fail "half-created" "$bad"; fi

# A retry finishes what failed: the realm, then the cell (re-applied).
"$KUKE" refresh "${D[@]}" >/dev/null 2>&1
o1=$(out_of create realm "$R2" "${D[@]}"); r1=$(rc)
cell_up() {
    "$KUKE" apply -f "$T/cell.yaml" "${D[@]}" >"$T/apply" 2>&1 || return 1
    [ "$(dstate "$T/opt/data/$R/sp/st/web/metadata.json")" = Ready ]
}
if [ "$r1" = 0 ] && has_ns "$R2" && [ "$(dstate "$T/opt/data/$R2/metadata.json")" = Ready ] && wait_for 20 cell_up; then
    tap_ok "after containerd returns: create realm and apply again finish; the realm and the cell are Ready"
else tap_fail "converge" "create=$r1 $o1 // apply: $(cat "$T/apply") // cell: $(jq -c .status "$T/opt/data/$R/sp/st/web/metadata.json")"; fi

ids=$("${CTR[@]}" -n "$R.kukeon.io" t ls 2>/dev/null | awk '$3 == "RUNNING" && $1 ~ /_web_/ {print $1}')
bad=$(ready_without_artifact)
if [ "$(echo "$ids" | grep -c .)" -ge 2 ] && [ -z "$bad" ]; then
    tap_ok "the cell runs (root and app tasks RUNNING) and every Ready document has its artifact"
else tap_fail "cell runs" "tasks=$ids bad=$bad $("${CTR[@]}" -n "$R.kukeon.io" t ls 2>&1)"; fi

# The store's own directory names are no scope's name (common/names.c): refused up front, through the
# daemon, by the same validation, and nothing applied.
printf 'kind: Realm\nmetadata: {name: secrets}\n---\nkind: Stack\nmetadata: {name: volume-meta}\nspec: {realmId: %s, spaceId: sp}\n' "$R" >"$T/reserved.yaml"
out=$(out_of apply -f "$T/reserved.yaml" "${D[@]}")
if [ "$(rc)" != 0 ] && echo "$out" | grep -q 'validation failed' && echo "$out" | grep -q 'realm name "secrets" is reserved' \
    && echo "$out" | grep -q 'stack name "volume-meta" is reserved' && [ ! -e "$T/opt/data/secrets" ] \
    && [ ! -e "$T/opt/data/$R/sp/volume-meta/metadata.json" ]; then
    tap_ok "reserved names (secrets, volume-meta) are refused by apply's validation; nothing applied"
else tap_fail "reserved names" "rc=$(rc) out=$out"; fi
