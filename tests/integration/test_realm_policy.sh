#!/usr/bin/env bash
# A realm's policy (spec.allow, a Kukeon-in-C extension: docs/security.md), through a private kukeond
# against the harness's containerd: a bad word is refused naming the valid ones; a hostNetwork cell
# in a realm without the policy is refused by kuke-ctrd with a message naming the policy and the fix;
# a realm made with `kuke create realm --allow host-namespaces`, and one applied with spec.allow, run
# it on the host's network (all its tasks, also a container that does not say hostNetwork, in the
# host's netns, no CNI record); the policy is recorded in
# the realm's containerd namespace and shown by get; apply changing it is refused as breaking;
# create with another policy than the realm's is refused; a namespace left with another policy is
# named clearly.
set -u
. "$KUKEON_TOP/tests/lib/tap.sh"
. "$KUKEON_TOP/tests/lib/kukeond.sh"
B=$BUILD
KUKE="$B/bin/kuke"
N=16
tap_plan $N

kd_need_root policy
kd_env policy policy 10.242.0.0/16
RD="${P}-pd" RH="${P}-ph" RA="${P}-pa" RC="${P}-pc"
CTR=(ctr --address "$KUKEON_TEST_CONTAINERD_SOCKET")
IMG=kukeon.local/busybox:test

cleanup() {
    kd_purge "$RD" "$RH" "$RA" "$RC"
    "${CTR[@]}" namespaces remove "$RC.kukeon.io" >/dev/null 2>&1
    kd_stop
    kd_purge default kuke-system # after the stop: the daemon group lives in kuke-system's cgroup
}
trap cleanup EXIT

# stdout and stderr apart (the outcome lines are stdout, the final Error line stderr); $T/all both.
run() { "$KUKE" "$@" >"$T/out" 2>"$T/err"; echo $? >"$T/rc"; cat "$T/out" "$T/err" >"$T/all"; }
out() { cat "$T/out"; }
both() { cat "$T/all"; }
doc() { [ -f "$T/opt/data/$1/metadata.json" ]; }
# The pid of task $2 in realm $1 when it runs.
task_pid() { "${CTR[@]}" -n "$1.kukeon.io" tasks ls 2>/dev/null | awk -v c="$2" '$1 == c && $3 == "RUNNING" {print $2}'; }
running() { [ -n "$(task_pid "$1" "$2")" ]; }
# Task $2 of realm $1 is in this (the host's) network namespace, and kuke-netd keeps no record of its cell $3.
on_host_net() {
    local pid
    pid=$(task_pid "$1" "$2")
    [ -n "$pid" ] && [ "$(readlink "/proc/$pid/ns/net")" = "$(readlink /proc/self/ns/net)" ] &&
        ! grep -qs "\"$3\"" "$NSTATE"/cells/*.json
}
cell_yaml() { # REALM CELL -> a cell with a hostNetwork container, and one that does not say
    printf 'kind: Cell\nmetadata: {name: %s}\nspec:\n  realmId: %s\n  spaceId: sp\n  stackId: st\n  containers:\n  - {id: app, image: %s, command: /bin/sleep, args: ["3600"], hostNetwork: true}\n  - {id: side, image: %s, command: /bin/sleep, args: ["3600"]}\n' \
        "$2" "$1" "$IMG" "$IMG"
}

"$KUKE" init --no-daemon "${D[@]}" "${I[@]}" >/dev/null 2>&1
run daemon start "${D[@]}" --run-path "$T/opt" "${CONF[@]}"
if [ "$(rc)" = 0 ]; then tap_ok "a private kukeond starts on the run path"
else tap_fail "private kukeond starts" "$(both)"; fi

# --- the words -----------------------------------------------------------------------------------
run create realm "$RH" --allow host-namespaces,host-network "${D[@]}"
if [ "$(rc)" != 0 ] && grep -q 'spec.allow\[1\] "host-network" is not a policy word (valid: privileged, cap-add, host-namespaces, host-paths, devices, hooks, runtime)' "$T/all" \
    && ! doc "$RH"; then tap_ok "an unknown policy word is refused, naming the valid ones; nothing is made"
else tap_fail "bad word" "rc=$(rc) $(both)"; fi

# --- no policy: refused, with the fix ------------------------------------------------------------
if [ -z "${KUKEON_TEST_IMAGE:-}" ]; then
    for i in $(seq $((tap_n + 1)) "$N"); do tap_skip "policy $i" "no test image (the harness could not build busybox)"; done
    exit 0
fi
run create realm "$RD" "${D[@]}"
"$KUKE" image load "$KUKEON_TEST_IMAGE" --realm "$RD" "${I[@]}" >/dev/null 2>&1
cell_yaml "$RD" hn >"$T/cd.yaml"
run apply -f "$T/cd.yaml" "${D[@]}"
if [ "$(rc)" != 0 ] && grep -q "the host's network namespace is not allowed in realm \"$RD\"" "$T/all" \
    && grep -q 'its policy (spec.allow) does not include "host-namespaces"' "$T/all" \
    && grep -q 'kuke create realm NAME --allow host-namespaces' "$T/all" && ! running "$RD" sp_st_hn_app; then
    tap_ok "a hostNetwork cell in a realm without the policy is refused, naming spec.allow and the fix"
else tap_fail "refused without policy" "rc=$(rc) $(both)"; fi

# --- kuke create realm --allow -------------------------------------------------------------------
run create realm "$RH" --allow ' host-namespaces ' "${D[@]}"
if [ "$(rc)" = 0 ] && grep -q '  - policy: allow \["host-namespaces"\]' "$T/out" \
    && grep -q '  - containerd namespace: created' "$T/out"; then
    tap_ok "kuke create realm --allow host-namespaces: created, the policy shown"
else tap_fail "create --allow" "rc=$(rc) $(both)"; fi
if "${CTR[@]}" namespaces ls 2>/dev/null | grep "^$RH.kukeon.io " | grep -q 'host-namespaces=true'; then
    tap_ok "the policy is recorded in the realm's containerd namespace"
else tap_fail "namespace labels" "$("${CTR[@]}" namespaces ls 2>&1)"; fi
run get realm "$RH" -o yaml "${D[@]}"
if [ "$(rc)" = 0 ] && grep -A1 '^  allow:' "$T/out" | grep -q -- '- host-namespaces'; then
    tap_ok "get realm -o yaml shows spec.allow"
else tap_fail "get shows allow" "rc=$(rc) $(both)"; fi
if same_both get realm "$RH" -o json >/dev/null && jq -e '.spec.allow == ["host-namespaces"]' "$T/i.out" >/dev/null; then
    tap_ok "in-process get shows the same policy"
else tap_fail "in-process get" "$(cat "$T/d.out" "$T/i.out")"; fi

"$KUKE" image load "$KUKEON_TEST_IMAGE" --realm "$RH" "${I[@]}" >/dev/null 2>&1
cell_yaml "$RH" hn >"$T/ch.yaml"
run apply -f "$T/ch.yaml" "${D[@]}"
if [ "$(rc)" = 0 ] && wait_for 10 running "$RH" sp_st_hn_app; then
    tap_ok "in a realm that allows host-namespaces the hostNetwork cell is created and runs"
else tap_fail "hostNetwork cell runs" "rc=$(rc) $(both)"; fi
if on_host_net "$RH" sp_st_hn_app hn && on_host_net "$RH" sp_st_hn_root hn && on_host_net "$RH" sp_st_hn_side hn \
    && jq -e '.spec.containers[] | select(.id == "root") | .hostNetwork == true' "$T/opt/data/$RH/sp/st/hn/metadata.json" >/dev/null; then
    tap_ok "its containers (also the one without hostNetwork) and its synthesized root share the host's network namespace; no CNI attach"
else tap_fail "host netns" "app=$(task_pid "$RH" sp_st_hn_app) side=$(task_pid "$RH" sp_st_hn_side) root=$(task_pid "$RH" sp_st_hn_root) $(ls "$NSTATE/cells" 2>&1)"; fi

run create realm "$RH" --allow privileged "${D[@]}"
if [ "$(rc)" != 0 ] && grep -q "realm \"$RH\" already exists with policy \[host-namespaces\]" "$T/all" \
    && grep -q "kuke delete realm $RH --cascade" "$T/all"; then
    tap_ok "create of the existing realm with another policy is refused, naming the one it has and the fix"
else tap_fail "create other policy" "rc=$(rc) $(both)"; fi
run create realm "$RH" "${D[@]}"
if [ "$(rc)" = 0 ] && grep -q '  - metadata: already existed' "$T/out"; then
    tap_ok "create of the existing realm without --allow: already existed, the policy kept"
else tap_fail "create again" "rc=$(rc) $(both)"; fi

# --- spec.allow in a manifest --------------------------------------------------------------------
printf 'apiVersion: v1beta1\nkind: Realm\nmetadata: {name: %s}\nspec:\n  allow: [host-namespaces]\n' "$RA" >"$T/ra.yaml"
run apply -f "$T/ra.yaml" "${D[@]}"
"$KUKE" image load "$KUKEON_TEST_IMAGE" --realm "$RA" "${I[@]}" >/dev/null 2>&1
{ cat "$T/ra.yaml"; echo ---; cell_yaml "$RA" hn; } >"$T/ca.yaml"
run apply -f "$T/ca.yaml" "${D[@]}"
if [ "$(rc)" = 0 ] && [ "$(out)" = "Realm \"$RA\": unchanged
Cell \"hn\": created" ] && wait_for 10 running "$RA" sp_st_hn_app && on_host_net "$RA" sp_st_hn_app hn; then
    tap_ok "a realm applied with spec.allow: [host-namespaces] runs the hostNetwork cell on the host's network"
else tap_fail "applied policy" "rc=$(rc) $(both)"; fi

sed 's/allow: \[host-namespaces\]/allow: [privileged, host-namespaces]/' "$T/ra.yaml" >"$T/ra2.yaml"
run apply -f "$T/ra2.yaml" "${D[@]}"
if [ "$(rc)" != 0 ] && grep -q "realm \"$RA\" has breaking changes: \[\"spec.allow\"\]" "$T/all" \
    && grep -q 'never changes in place. Delete the realm and recreate it' "$T/all" \
    && jq -e '.spec.allow == ["host-namespaces"]' "$T/opt/data/$RA/metadata.json" >/dev/null; then
    tap_ok "apply changing spec.allow is refused as breaking (delete and recreate); the stored policy kept"
else tap_fail "apply breaking" "rc=$(rc) $(both)"; fi
printf 'apiVersion: v1beta1\nkind: Realm\nmetadata: {name: %s}\n' "$RA" >"$T/ra3.yaml"
run apply -f "$T/ra3.yaml" "${D[@]}"
if [ "$(rc)" != 0 ] && grep -q 'breaking changes: \["spec.allow"\]' "$T/all"; then
    tap_ok "apply dropping spec.allow is breaking too"
else tap_fail "apply drop" "rc=$(rc) $(both)"; fi

# --- a namespace left with another policy --------------------------------------------------------
"${CTR[@]}" namespaces create "$RC.kukeon.io" >/dev/null 2>&1
run create realm "$RC" --allow host-namespaces "${D[@]}"
if [ "$(rc)" != 0 ] && grep -q "realm \"$RC\" asks for policy \[host-namespaces\] (spec.allow), but its containerd namespace already exists with policy \[\]" "$T/all" \
    && grep -q "kuke delete realm $RC --cascade" "$T/all"; then
    tap_ok "a namespace that exists with another policy: refused, naming both policies and the fix"
else tap_fail "namespace conflict" "rc=$(rc) $(both)"; fi
run delete realm "$RC" --cascade "${D[@]}"
run create realm "$RC" --allow host-namespaces "${D[@]}"
if [ "$(rc)" = 0 ] && "${CTR[@]}" namespaces ls 2>/dev/null | grep "^$RC.kukeon.io " | grep -q 'host-namespaces=true'; then
    tap_ok "after the delete the fix names, the realm is created with its policy"
else tap_fail "fix works" "rc=$(rc) $(both)"; fi
