# The private-daemon setup the integration tests share: each runs its own kukeond group on a run
# path under $KUKEON_TEST_TMP, with its own cgroup root, pod subnet and netd state, against the
# harness's containerd. Source after tap.sh, with N (the plan) and KUKE set.
#   kd_skip_all LABEL WHY    skip every check not yet reported ("LABEL <n>") and exit 0
#   kd_need_root LABEL       kd_skip_all unless root and the harness gave no skip reason
#   kd_env DIR CGNAME SUBNET [SPEC-LINES]
#                            sets P, T ($KUKEON_TEST_TMP/DIR, made), SOCK, CGROOT (/$P-CGNAME),
#                            SUBNET, NSTATE, writes $T/kukeond.yaml (netdStateDir and SPEC-LINES,
#                            each "  key: value\n"), and the flag arrays CONF (the daemon's
#                            configuration), D (--host: through kukeond) and I (--run-path and
#                            CONF: in-process, and what daemon start|stop take beside D)
#   kd_stop                  kuke daemon stop of that daemon, quietly (for cleanup)
#   kd_purge [--force] REALM...  purge realm --cascade in-process, quietly (for cleanup)
#   out_of ARGS...           runs kuke ARGS, stdout and stderr in $T/out, exit code in $T/rc; prints it
#   rc                       the exit code out_of (or a test's own run) recorded
#   same_both ARGS...        kuke ARGS through kukeond and in-process, both exit 0 with the same bytes
#                            (in $T/d.out, $T/i.out); retried for a second, else prints both, exits 1
#   wait_for SECONDS CMD...  until CMD succeeds; its last try's status
#   cgroup2_mount            where cgroup v2 is mounted, or nothing
#   create_cell NAME CONTAINER-JSON [AUTODELETE]
#                            CreateCell through $SOCK (with PRPC): NAME in $R/sp/st, one container
#                            (CONTAINER-JSON, its image $IMG); the reply on stdout
#   cgroup_mounts            every cgroup mount, v1 and v2, one a line
#   reboot_masquerade NET [ROOT-ID]
#                            what a reboot clears and a simulated one must clear by hand: the CNI
#                            bridge plugin's masquerade rules and chains of network NET (only the
#                            cell whose root container is ROOT-ID, when given) in iptables' nat
#                            table; the plugin cannot remove them once the cell's netns is gone
kd_skip_all() {
    local i
    for i in $(seq $((tap_n + 1)) "$N"); do tap_skip "$1 $i" "$2"; done
    exit 0
}
kd_need_root() {
    if [ -n "${KUKEON_TEST_SKIP_REASON:-}" ] || [ "$(id -u)" -ne 0 ]; then
        kd_skip_all "$1" "${KUKEON_TEST_SKIP_REASON:-needs root}"
    fi
}

kd_env() {
    P=$KUKEON_TEST_PREFIX
    T="$KUKEON_TEST_TMP/$1"
    mkdir -p "$T"
    SOCK="$T/run/kukeond.sock"
    CGROOT="/${P}-$2"        # beneath every cgroup mount; the harness's cleanup removes it
    SUBNET=$3                # each test its own range
    NSTATE="$T/netd"
    printf 'apiVersion: v1beta1\nkind: ServerConfiguration\nspec:\n  netdStateDir: %s\n%b' "$NSTATE" "${4:-}" \
        >"$T/kukeond.yaml"
    CONF=(--log-dir "$T/log" --cgroup-root "$CGROOT" --containerd-socket "$KUKEON_TEST_CONTAINERD_SOCKET"
        --cni-conf-dir "$T/cni" --pod-subnet-cidr "$SUBNET" --netd-state-dir "$NSTATE"
        --server-configuration "$T/kukeond.yaml")
    D=(--host "unix://$SOCK")
    I=(--run-path "$T/opt" "${CONF[@]}")
}
kd_stop() { "$KUKE" daemon stop "${D[@]}" "${I[@]}" >/dev/null 2>&1; }
kd_purge() {
    local force=() r
    [ "${1:-}" = --force ] && { force=(--force); shift; }
    for r in "$@"; do "$KUKE" purge realm "$r" --cascade "${force[@]}" "${I[@]}" >/dev/null 2>&1; done
}

out_of() { "$KUKE" "$@" >"$T/out" 2>&1; echo $? >"$T/rc"; cat "$T/out"; }
rc() { cat "$T/rc"; }
same_both() {
    local k a b
    for k in 1 2 3 4 5; do
        "$KUKE" "$@" "${D[@]}" >"$T/d.out" 2>"$T/d.err"; a=$?
        "$KUKE" "$@" "${I[@]}" >"$T/i.out" 2>"$T/i.err"; b=$?
        [ $a -eq 0 ] && [ $b -eq 0 ] && cmp -s "$T/d.out" "$T/i.out" && return 0
        sleep 0.2
    done
    echo "daemon ($a): $(cat "$T/d.out" "$T/d.err") // in-process ($b): $(cat "$T/i.out" "$T/i.err")"
    return 1
}
wait_for() {
    local end=$(($(date +%s) + $1)); shift
    while [ "$(date +%s)" -lt "$end" ]; do "$@" && return 0; sleep 0.3; done
    "$@"
}
cgroup2_mount() {
    awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i+1) == "cgroup2") print $5; break } }' /proc/self/mountinfo | head -1
}
cgroup_mounts() {
    awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i+1) ~ /^cgroup2?$/) print $5; break } }' /proc/self/mountinfo
}
create_cell() {
    jq -cn --arg r "$R" --arg n "$1" --argjson c "$2" --arg img "$IMG" --argjson ad "${3:-false}" \
        '{method: "KukeonV1.CreateCell", id: 1, params: [{Doc: {apiVersion: "v1beta1", kind: "Cell",
          metadata: {name: $n}, spec: {realmId: $r, spaceId: "sp", stackId: "st", autoDelete: $ad,
          containers: [($c + {image: $img})]}}}]}' | "${PRPC[@]}" "$SOCK"
}

reboot_masquerade() {
    local net=$1 id=${2:-} rule chain
    iptables -t nat -S POSTROUTING 2>/dev/null | grep -F -- "--comment \"name: \\\"$net\\\" id: \\\"$id" |
        while IFS= read -r rule; do
            chain=${rule##* -j }
            eval "iptables -t nat ${rule/#-A /-D }" 2>/dev/null
            iptables -t nat -F "$chain" 2>/dev/null
            iptables -t nat -X "$chain" 2>/dev/null
        done
}
