#!/usr/bin/env bash
# Realms, spaces and stacks end to end, through a private kukeond and in-process (kuke as root
# running the same controller with its own helpers), against the harness's containerd: create and
# its outcome lines, get in every output form with the same bytes both ways, the reference's
# messages for bad names, missing resources and children, delete and purge with every host
# artifact checked gone (metadata, cgroups in every hierarchy, containerd namespace, space network
# and kuke-netd's records, which live outside the run path).
set -u
. "$KUKEON_TOP/tests/lib/tap.sh"
B=$BUILD
KUKE="$B/bin/kuke"
RPC="$B/tests/tools/rpc_send"
N=51
tap_plan $N

if [ -n "${KUKEON_TEST_SKIP_REASON:-}" ] || [ "$(id -u)" -ne 0 ]; then
    for i in $(seq 1 $N); do tap_skip "hierarchy $i" "${KUKEON_TEST_SKIP_REASON:-needs root}"; done
    exit 0
fi

P=$KUKEON_TEST_PREFIX
T="$KUKEON_TEST_TMP/hierarchy"
mkdir -p "$T"
SOCK="$T/run/kukeond.sock"
CGROOT="/${P}-hier"          # beneath every cgroup mount; the harness's cleanup removes it
SUBNET=10.245.0.0/16          # not the netd tests' 10.244/16; checked unrouted below
R1="${P}-r1" R2="${P}-r2" R3="${P}-r3"
NSTATE="$T/netd"              # kuke-netd's own records (root's), never in the run path
# The daemon group's configuration, for kuke daemon start and for kuke in-process. netdStateDir is
# also in a server configuration file, which kuke in-process reads too (it does not take the
# --netd-state-dir flag yet: kuke/inproc.c), so that nothing lands in /var/lib/kukeon.
printf 'apiVersion: v1beta1\nkind: ServerConfiguration\nspec:\n  netdStateDir: %s\n' "$NSTATE" >"$T/kukeond.yaml"
CONF=(--log-dir "$T/log" --cgroup-root "$CGROOT" --containerd-socket "$KUKEON_TEST_CONTAINERD_SOCKET"
    --cni-conf-dir "$T/cni" --pod-subnet-cidr "$SUBNET" --netd-state-dir "$NSTATE"
    --server-configuration "$T/kukeond.yaml")
D=(--host "unix://$SOCK")                    # through kukeond
I=(--run-path "$T/opt" "${CONF[@]}")         # in-process: an explicit run path promotes
CTR=(ctr --address "$KUKEON_TEST_CONTAINERD_SOCKET")

cleanup() {
    for r in "$R1" "$R2" "$R3" default kuke-system; do "$KUKE" purge realm "$r" --cascade "${I[@]}" >/dev/null 2>&1; done
    "$KUKE" daemon stop "${D[@]}" --run-path "$T/opt" "${CONF[@]}" >/dev/null 2>&1
}
trap cleanup EXIT

v2=$(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i+1) == "cgroup2") print $5; break } }' /proc/self/mountinfo | head -1)
cgroup_dirs() { # every directory beneath the cgroup root, in every hierarchy, that names $1
    local m
    for m in $(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i+1) ~ /^cgroup2?$/) print $5; break } }' /proc/self/mountinfo); do
        [ -d "$m$CGROOT" ] && find "$m$CGROOT" -mindepth 1 -type d -path "*/$1*" 2>/dev/null
    done
}
has_ns() { "${CTR[@]}" namespaces ls -q 2>/dev/null | grep -qx "$1.kukeon.io"; }
out_of() { "$KUKE" "$@" >"$T/out" 2>&1; echo $? >"$T/rc"; cat "$T/out"; }
rc() { cat "$T/rc"; }
# The same command through the daemon and in-process: the same bytes on stdout. AGE moves with the
# clock, so a pair that straddles a second boundary is taken again.
same_both() {
    local k
    for k in 1 2 3 4 5; do
        "$KUKE" "$@" "${D[@]}" >"$T/d.out" 2>"$T/d.err"; local a=$?
        "$KUKE" "$@" "${I[@]}" >"$T/i.out" 2>"$T/i.err"; local b=$?
        [ $a -eq 0 ] && [ $b -eq 0 ] && cmp -s "$T/d.out" "$T/i.out" && return 0
        sleep 0.2
    done
    echo "daemon ($a): $(cat "$T/d.out" "$T/d.err") // in-process ($b): $(cat "$T/i.out" "$T/i.err")"
    return 1
}


# --- run path, daemon -----------------------------------------------------------------------------
out=$(out_of init --no-daemon "${D[@]}" "${I[@]}")
st=$(stat -c '%a %U %G' "$T/opt" 2>/dev/null)
inst=$(cat "$T/opt/.kukeon-instance.json" 2>/dev/null)
if [ "$(rc)" = 0 ] && [ "$st" = "2750 kukeon kukeon" ] && echo "$inst" | grep -q "\"cgroupRoot\": \"$CGROOT\""; then
    tap_ok "kuke init gives the run path to user kukeon (2750) and records its configuration"
else tap_fail "kuke init: run path owned by kukeon" "rc=$(rc) stat=$st inst=$inst out=$out"; fi
# In-process, init makes the default and system hierarchies too (kukeon-reference.md 2.1); purged
# here, so that the checks below start from an empty run path.
if [ "$(rc)" = 0 ] && echo "$out" | grep -qx '    - realm "default": created' \
    && echo "$out" | grep -qx '    - realm "kuke-system": created' && echo "$out" | grep -qx '    - stack "kukeon": created' \
    && [ -e "$T/opt/data/default/default/default/metadata.json" ] && has_ns default && has_ns kuke-system; then
    out=$(out_of purge realm default --cascade "${I[@]}"; out_of purge realm kuke-system --cascade "${I[@]}")
    if [ "$(rc)" = 0 ] && ! has_ns default && ! has_ns kuke-system && [ ! -e "$T/opt/data/default" ]; then
        tap_ok "kuke init --no-daemon makes the default and system hierarchies in-process (then purged)"
    else tap_fail "purge of init's hierarchies" "$out"; fi
else tap_fail "kuke init --no-daemon: hierarchies" "rc=$(rc) out=$out"; fi

out=$(out_of daemon start "${D[@]}" --run-path "$T/opt" "${CONF[@]}")
if [ "$(rc)" = 0 ]; then tap_ok "a private kukeond starts on the run path"
else tap_fail "private kukeond starts" "$out"; fi

out=$(out_of get realms "${D[@]}")
out2=$("$KUKE" get realms "${I[@]}" 2>&1)
if [ "$out" = "No realms found." ] && [ "$out2" = "No realms found." ]; then tap_ok "an empty run path lists 'No realms found.' both ways"
else tap_fail "No realms found." "daemon: $out in-process: $out2"; fi

# --- create ---------------------------------------------------------------------------------------
out=$(out_of create realm "$R1" "${D[@]}")
want="Realm \"$R1\" (namespace \"$R1.kukeon.io\")
  - metadata: created
  - containerd namespace: created
  - cgroup: created"
if [ "$(rc)" = 0 ] && [ "$out" = "$want" ]; then tap_ok "create realm through the daemon prints the reference's outcome lines"
else tap_fail "create realm through the daemon" "rc=$(rc) out=$out"; fi

owner=$(stat -c %U "$T/opt/data/$R1/metadata.json" 2>/dev/null)
if [ "$owner" = kukeon ] && has_ns "$R1" && [ -d "$v2$CGROOT/$R1" ] \
    && grep -q '"state": "Ready"' "$T/opt/data/$R1/metadata.json"; then
    tap_ok "the realm has its document (kukeon's, Ready), containerd namespace and cgroup"
else tap_fail "realm artifacts" "owner=$owner ns=$(has_ns "$R1" && echo yes) cgroup=$(ls -d "$v2$CGROOT/$R1" 2>&1)"; fi

out=$(out_of create realm "$R1" "${I[@]}")
want="Realm \"$R1\" (namespace \"$R1.kukeon.io\")
  - metadata: already existed
  - containerd namespace: already existed
  - cgroup: already existed"
if [ "$(rc)" = 0 ] && [ "$out" = "$want" ]; then tap_ok "create realm again, in-process: every artifact already existed"
else tap_fail "create realm again in-process" "rc=$(rc) out=$out"; fi

out=$(out_of create r "$R2" "${I[@]}")
owner=$(stat -c '%U %G' "$T/opt/data/$R2/metadata.json" 2>/dev/null)
if [ "$(rc)" = 0 ] && [ "$owner" = "kukeon kukeon" ] && has_ns "$R2"; then
    tap_ok "create realm in-process writes the document as the run path's owner (kukeon)"
else tap_fail "create realm in-process" "rc=$(rc) owner=$owner out=$out"; fi

out=$(out_of create space sp1 --realm "$R1" "${D[@]}")
want="Space \"sp1\" (realm \"$R1\", network \"$R1-sp1\")
  - metadata: created
  - network: created
  - cgroup: created"
net_ok=0
if [ "$(rc)" = 0 ] && [ "$out" = "$want" ]; then net_ok=1; tap_ok "create space through the daemon: metadata, network, cgroup"
else tap_fail "create space through the daemon" "rc=$(rc) out=$out"; fi

# The daemon writes into what in-process made (R2), and in-process into what the daemon made (st1
# below, in sp1): both write as the run path's owner.
out=$(out_of create sp sp2 --realm "$R2" "${D[@]}")
if [ "$(stat -c %U "$T/opt/data/$R2/sp2/metadata.json" 2>/dev/null)" = kukeon ]; then
    tap_ok "the daemon writes a space's document into a realm made in-process"
else tap_fail "daemon writes into an in-process realm" "rc=$(rc) out=$out"; fi
if [ "$(rc)" = 0 ] && echo "$out" | grep -qx '  - network: created'; then tap_ok "create sp: the space's network is created"
else tap_fail "create sp sp2: network" "rc=$(rc) out=$out"; fi

# kuke-netd writes the conflist to the CNI dir and keeps its records in its own root-only state dir;
# the copy beside the document is the controller's, written as the run path's owner. Nothing in the
# run path belongs to root.
rootowned=$(find "$T/opt" -user root 2>&1)
if [ -f "$T/cni/$R1-sp1.conflist" ] && cmp -s "$T/cni/$R1-sp1.conflist" "$T/opt/data/$R1/sp1/network.conflist" \
    && [ "$(stat -c %U "$T/opt/data/$R1/sp1/network.conflist")" = kukeon ] && [ -z "$rootowned" ] \
    && [ -f "$NSTATE/$R1/sp1/network.json" ] && [ -f "$NSTATE/$R2/sp2/network.json" ] \
    && [ "$(stat -c '%a %U' "$NSTATE")" = "700 root" ]; then
    tap_ok "the space's conflist is in the CNI dir and beside its document; netd's records are in its own dir"
else tap_fail "space conflists" "cni: $(ls "$T/cni" 2>&1) space dir: $(ls -l "$T/opt/data/$R1/sp1" 2>&1) netd: $(find "$NSTATE" 2>&1 | tr '\n' ' ') root-owned in run path: $rootowned"; fi

out=$(out_of create stack st1 --realm "$R1" --space sp1 "${I[@]}")
want="Stack \"st1\" (realm \"$R1\", space \"sp1\")
  - metadata: created
  - cgroup: created"
if [ "$(rc)" = 0 ] && [ "$out" = "$want" ] && [ -d "$v2$CGROOT/$R1/sp1/st1" ]; then
    tap_ok "create stack in-process: metadata and cgroup"
else tap_fail "create stack in-process" "rc=$(rc) out=$out"; fi

out=$(out_of create st st2 --realm "$R1" --space sp1 "${D[@]}")
if [ "$(rc)" = 0 ] && echo "$out" | grep -qx '  - cgroup: created'; then tap_ok "create stack through the daemon"
else tap_fail "create stack through the daemon" "rc=$(rc) out=$out"; fi

# --- get: every output form, the same bytes both ways ----------------------------------------------
if same_both get realms; then
    got=$(cat "$T/d.out")
    if echo "$got" | head -1 | grep -qx 'NAME *STATE  AGE' && echo "$got" | sed -n 2p | grep -qx -- '-\+  -----  ---' \
        && echo "$got" | grep -q "^$R1  Ready  "; then tap_ok "get realms: the table, the same bytes through the daemon and in-process"
    else tap_fail "get realms table" "$got"; fi
else tap_fail "get realms: same bytes both ways" "$(same_both get realms)"; fi

for form in wide yaml json; do
    if same_both get realms -o "$form"; then tap_ok "get realms -o $form: the same bytes both ways"
    else tap_fail "get realms -o $form both ways" "$(same_both get realms -o "$form")"; fi
done

if same_both get realms -o json && jq -e "length == 2 and .[0].kind == \"Realm\" and (map(.metadata.name) | sort) == [\"$R1\",\"$R2\"]" "$T/d.out" >/dev/null; then
    tap_ok "get realms -o json is an array of Realm documents"
else tap_fail "get realms -o json" "$(cat "$T/d.out")"; fi

if same_both get realms -o wide && grep -q "^$R1  Ready  [0-9]*[smhd] *$R1.kukeon.io" "$T/d.out" && head -1 "$T/d.out" | grep -q 'NAMESPACE *$'; then
    tap_ok "get realms -o wide adds NAMESPACE"
else tap_fail "get realms -o wide" "$(cat "$T/d.out")"; fi

if same_both get realm "$R1" -o yaml && grep -qx 'kind: Realm' "$T/d.out" && grep -qx "  name: $R1" "$T/d.out" \
    && grep -qx '  state: Ready' "$T/d.out"; then tap_ok "get realm NAME -o yaml prints one document"
else tap_fail "get realm NAME -o yaml" "$(cat "$T/d.out" "$T/d.err")"; fi

if same_both get realm "$R2" && [ "$(wc -l <"$T/d.out")" = 3 ]; then tap_ok "get realm NAME prints a one-row table"
else tap_fail "get realm NAME table" "$(cat "$T/d.out")"; fi

# Lists cross every scope the flags leave open.
if same_both get spaces && grep -q "^sp1  *$R1 " "$T/d.out" && grep -q "^sp2  *$R2 " "$T/d.out"; then
    tap_ok "get spaces without --realm lists the spaces of every realm"
else tap_fail "get spaces across realms" "$(cat "$T/d.out" "$T/d.err")"; fi

if same_both get sp --realm "$R2" -o wide && ! grep -q "^sp1 " "$T/d.out" && grep -q "^sp2 " "$T/d.out" \
    && head -1 "$T/d.out" | grep -q 'EGRESS  NET-DEFAULTS'; then tap_ok "get spaces --realm filters; -o wide adds EGRESS and NET-DEFAULTS"
else tap_fail "get spaces --realm" "$(cat "$T/d.out")"; fi

if same_both get stacks -o json && jq -e '(map(.metadata.name) | sort) == ["st1","st2"]' "$T/d.out" >/dev/null; then
    tap_ok "get stacks -o json lists the stacks of every realm and space"
else tap_fail "get stacks -o json" "$(cat "$T/d.out")"; fi

if same_both get stack st1 --realm "$R1" --space sp1 && grep -q "^st1   $R1  sp1    " "$T/d.out"; then
    tap_ok "get stack NAME --realm --space: NAME REALM SPACE STATE AGE"
else tap_fail "get stack NAME" "$(cat "$T/d.out" "$T/d.err")"; fi

# --- not found, missing parents -------------------------------------------------------------------
check_err() { # name, want-stderr, command...
    local name=$1 want=$2; shift 2
    local o r
    o=$("$KUKE" "$@" 2>&1); r=$?
    if [ $r -eq 1 ] && [ "$o" = "$want" ]; then tap_ok "$name"; else tap_fail "$name" "exit $r: $o (want: $want)"; fi
}
check_err "get realm NAME of a missing realm: the reference's message, exit 1" \
    "Error: realm \"${P}-nope\" not found" get realm "${P}-nope" "${D[@]}"
check_err "get space in a missing realm (in-process): not found in realm" \
    "Error: space \"sp1\" not found in realm \"${P}-nope\"" get space sp1 --realm "${P}-nope" "${I[@]}"
check_err "get stack under a missing space: not found in realm, space" \
    "Error: stack \"st1\" not found in realm \"$R1\", space \"nope\"" get stack st1 --realm "$R1" --space nope "${D[@]}"
out=$("$KUKE" get spaces --realm "${P}-nope" "${D[@]}" 2>&1)
if [ "$out" = "No spaces found." ]; then tap_ok "a list under a missing realm is empty: No spaces found."
else tap_fail "list under missing realm" "$out"; fi
check_err "create space in a missing realm is refused" \
    "Error: realm \"${P}-nope\" not found" create space x --realm "${P}-nope" "${D[@]}"

# --- bad names, at every level, both ways: refused, nothing made ------------------------------------
before=$(find "$T/opt/data" | sort; "${CTR[@]}" namespaces ls -q | sort; cgroup_dirs "${P}-" | sort)
bad_ok=1; bad_msgs=""
bad() { # want-substring, command...
    local want=$1; shift
    local o r
    o=$("$KUKE" "$@" 2>&1); r=$?
    if [ $r -ne 1 ] || ! echo "$o" | grep -qF "$want"; then bad_ok=0; bad_msgs+=" [$* => $r: $o]"; fi
}
for via in D I; do
    eval "M=(\"\${$via[@]}\")"
    bad 'Error: realm name "bad_name" is invalid' create realm bad_name "${M[@]}"
    bad 'Error: realm name "a/b" is invalid' create realm a/b "${M[@]}"
    bad 'Error: realm name "-lead" is invalid' create realm "${M[@]}" -- -lead
    bad 'Error: space name "sp_1" is invalid' create space sp_1 --realm "$R1" "${M[@]}"
    bad 'Error: realm name "r_1" is invalid' create space ok --realm r_1 "${M[@]}"
    bad 'Error: stack name "s/t" is invalid' create stack s/t --realm "$R1" --space sp1 "${M[@]}"
    bad 'Error: space name "../x" is invalid' create stack ok --realm "$R1" --space ../x "${M[@]}"
    bad "Error: realm name \"$(printf 'x%.0s' $(seq 1 70))\" is invalid" create realm "$(printf 'x%.0s' $(seq 1 70))" "${M[@]}"
done
after=$(find "$T/opt/data" | sort; "${CTR[@]}" namespaces ls -q | sort; cgroup_dirs "${P}-" | sort)
if [ $bad_ok = 1 ] && [ "$before" = "$after" ]; then tap_ok "bad realm, space and stack names are refused with the name rule, both ways, and nothing is made"
else tap_fail "bad names refused, nothing made" "$bad_msgs // diff: $(diff <(echo "$before") <(echo "$after"))"; fi
check_err "create realm without a name says so" \
    "Error: realm name is required (usage: kuke create realm [name] [flags])" create realm "${D[@]}"

# --- the API itself -------------------------------------------------------------------------------
r=$(printf '{"method":"KukeonV1.GetRealm","params":[{"Doc":{"metadata":{"name":"%s"}}}],"id":1}' "${P}-nope" | "$RPC" "$SOCK")
if echo "$r" | jq -e '.result.Result.MetadataExists == false and .result.Err == null and .error == null' >/dev/null 2>&1; then
    tap_ok "GetRealm of a missing realm: MetadataExists false, Err null"
else tap_fail "GetRealm missing" "$r"; fi
r=$(printf '{"method":"KukeonV1.DeleteRealm","params":[{"Doc":{"metadata":{"name":"%s"}},"Cascade":false}],"id":2}' "$R1" | "$RPC" "$SOCK")
if echo "$r" | jq -e ".result.Err.Kind == \"ResourceHasDependencies\" and (.result.Err.Message | contains(\"realm \\\"$R1\\\" has 1 space(s)\"))" >/dev/null 2>&1; then
    tap_ok "DeleteRealm with children: Err {Kind ResourceHasDependencies, Message}"
else tap_fail "DeleteRealm Err kind" "$r"; fi
r=$(printf '{"method":"KukeonV1.CreateSpace","params":[{"Doc":{"metadata":{"name":"x"},"spec":{}}}],"id":3}' | "$RPC" "$SOCK")
if echo "$r" | jq -e '.result.Err.Kind == "RealmNameRequired" and .result.Err.Message == "realm name is required"' >/dev/null 2>&1; then
    tap_ok "CreateSpace without a realm: Err {Kind RealmNameRequired}"
else tap_fail "CreateSpace RealmNameRequired" "$r"; fi

# --- delete: children refuse without --cascade ------------------------------------------------------
check_err "delete realm with a space is refused without --cascade (daemon)" \
    "Error: failed to delete realm: resource has child resources: realm \"$R1\" has 1 space(s). Use --cascade to delete them or --force to skip validation" \
    delete realm "$R1" "${D[@]}"
check_err "delete space with stacks is refused without --cascade (in-process)" \
    "Error: failed to delete space: resource has child resources: space \"sp1\" has 2 stack(s). Use --cascade to delete them or --force to skip validation" \
    delete space sp1 --realm "$R1" "${I[@]}"
if [ -f "$T/opt/data/$R1/metadata.json" ] && [ -f "$T/opt/data/$R1/sp1/metadata.json" ] && has_ns "$R1" && [ -d "$v2$CGROOT/$R1/sp1" ]; then
    tap_ok "a refused delete leaves everything in place"
else tap_fail "refused delete left things" "$(find "$T/opt/data/$R1")"; fi

out=$(out_of delete stack st2 --realm "$R1" --space sp1 "${D[@]}")
if [ "$(rc)" = 0 ] && [ "$out" = "Deleted stack \"st2\" from space \"sp1\"" ] && [ ! -e "$T/opt/data/$R1/sp1/st2" ] \
    && [ -z "$(cgroup_dirs "$R1/sp1/st2")" ]; then tap_ok "delete stack: Deleted stack \"st2\" from space \"sp1\"; document and cgroups gone"
else tap_fail "delete stack" "rc=$(rc) out=$out cgroups=$(cgroup_dirs "$R1/sp1/st2")"; fi
check_err "delete of a missing realm: not found" "Error: realm \"${P}-nope\" not found" delete realm "${P}-nope" "${D[@]}"
check_err "delete needs exactly one name" "Error: accepts 1 arg(s), received 0" delete realm "${D[@]}"

# --- cascade: every artifact goes -------------------------------------------------------------------
bridge=$(jq -r '.plugins[0].bridge' "$T/cni/$R1-sp1.conflist" 2>/dev/null)
out=$(out_of delete realm "$R1" --cascade "${D[@]}")
left=""
[ -e "$T/opt/data/$R1" ] && left+=" metadata:$(find "$T/opt/data/$R1" | tr '\n' ' ')"
has_ns "$R1" && left+=" containerd-namespace"
[ -n "$(cgroup_dirs "$R1")" ] && left+=" cgroups:$(cgroup_dirs "$R1" | tr '\n' ' ')"
[ -e "$T/cni/$R1-sp1.conflist" ] && left+=" conflist"
[ -e "$NSTATE/$R1" ] && left+=" netd-state:$(find "$NSTATE/$R1" | tr '\n' ' ')"
[ -n "$bridge" ] && [ "$bridge" != null ] && ip link show "$bridge" >/dev/null 2>&1 && left+=" bridge:$bridge"
if [ "$(rc)" = 0 ] && [ "$out" = "Deleted realm \"$R1\"" ] && [ -z "$left" ]; then
    tap_ok "delete realm --cascade removes its spaces and stacks: documents, cgroups, namespace, network"
else tap_fail "delete realm --cascade" "rc=$(rc) out=$out left:$left"; fi

out=$(out_of get realms "${I[@]}")
if [ "$(rc)" = 0 ] && ! echo "$out" | grep -q "^$R1 " && echo "$out" | grep -q "^$R2 "; then tap_ok "the deleted realm is gone from get, the other one stays"
else tap_fail "get after delete" "$out"; fi

# --- purge ----------------------------------------------------------------------------------------
"$KUKE" create realm "$R3" "${D[@]}" >/dev/null 2>&1
"$KUKE" create space sp3 --realm "$R3" "${D[@]}" >/dev/null 2>&1
out=$(out_of purge realm "$R3" "${I[@]}")
if [ "$(rc)" = 1 ] && echo "$out" | grep -qF "realm \"$R3\" has 1 space(s). Use --cascade to purge them or --force to skip validation"; then
    tap_ok "purge realm with a space is refused without --cascade, in the words of purge"
else tap_fail "purge without --cascade" "rc=$(rc) out=$out"; fi
out=$(out_of purge r "$R3" --cascade "${I[@]}")
want="Purged realm \"$R3\"
Additional resources purged: [orphaned-containers cni-resources all-metadata]"
if [ "$(rc)" = 0 ] && [ "$out" = "$want" ] && [ ! -e "$T/opt/data/$R3" ] && ! has_ns "$R3" && [ -z "$(cgroup_dirs "$R3")" ] \
    && [ ! -e "$NSTATE/$R3" ] && [ ! -e "$T/cni/$R3-sp3.conflist" ]; then
    tap_ok "purge realm --cascade (in-process): Purged realm, Additional resources purged; everything gone"
else tap_fail "purge realm --cascade" "rc=$(rc) out=$out"; fi
# Purge is best effort: artifacts without a document (a realm made behind kukeon's back) still go.
"${CTR[@]}" namespaces create "$R3.kukeon.io" >/dev/null 2>&1
out=$(out_of purge realm "$R3" "${D[@]}")
if [ "$(rc)" = 0 ] && echo "$out" | grep -qx "Purged realm \"$R3\"" && ! has_ns "$R3"; then
    tap_ok "purge of a realm with no document still removes its containerd namespace"
else tap_fail "purge without document" "rc=$(rc) out=$out ns=$(has_ns "$R3" && echo left)"; fi

out=$(out_of delete realm "$R2" --cascade "${I[@]}")
if [ "$(rc)" = 0 ] && [ "$out" = "Deleted realm \"$R2\"" ] && [ ! -e "$T/opt/data/$R2" ] && ! has_ns "$R2" \
    && [ -z "$(cgroup_dirs "$R2")" ] && [ ! -e "$T/cni/$R2-sp2.conflist" ] && [ ! -e "$NSTATE/$R2" ]; then
    tap_ok "delete realm --cascade in-process removes everything too"
else tap_fail "delete realm --cascade in-process" "rc=$(rc) out=$out"; fi

out=$("$KUKE" get realms "${D[@]}" 2>&1)
if [ "$out" = "No realms found." ]; then tap_ok "after the deletes: No realms found."
else tap_fail "No realms at the end" "$out"; fi

# The worker is back to what the supervisor gave it: no document or directory left open.
api=""
for p in $(pgrep -P "$(cat "$T/run/kukeond.pid" 2>/dev/null)"); do
    case "$(tr '\0' ' ' </proc/$p/cmdline)" in "kukeond api "*) api=$p ;; esac
done
fds=$(ls /proc/$api/fd 2>/dev/null | sort -n | tr '\n' ' ')
if [ -n "$api" ] && [ "$fds" = "0 1 2 3 5 6 7 8 " ] && [ "$(awk '$1 == "Seccomp:" {print $2}' /proc/$api/status)" = 2 ]; then
    tap_ok "after all this the API worker still holds only fds 0-3 and 5-8, inside its filter"
else tap_fail "API worker descriptors" "pid=$api fds=$fds"; fi
if ! grep -q 'SIGSYS\|sandbox violation' "$T/log/kukeond.log"; then tap_ok "no sandbox violation in the daemon's log"
else tap_fail "sandbox violation" "$(grep -m3 'SIGSYS\|sandbox' "$T/log/kukeond.log")"; fi
