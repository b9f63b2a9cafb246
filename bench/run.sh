#!/usr/bin/env bash
# Kukeon against ctr and Podman on the same host, same busybox image, interleaved runs; writes
# bench/RESULTS.md (medians and kuke/peer ratios, the machine, the date, one cold run step by step).
#   sudo bench/run.sh [--quick]     (or: make bench)
# Environment: KUKEON_BENCH_RUNS (default 7; --quick 3) repetitions per case; KUKEON_BENCH_COUNTS
# (default "0 100 1000"; --quick "0 100") store sizes for the `get` case; KUKEON_BENCH_SCALE (default
# "10 50 100"; --quick "10 30") cells per manifest for the scaling case; KUKEON_BENCH_ONLY (default
# all of "run start get scale") the cases to run; KUKEON_BENCH_OUT (default bench/RESULTS.md);
# BUILD (default build) the build directory whose kuke, kukeond and helpers are measured;
# KUKEON_BENCH_KEEP_LOGS=DIR copies the private daemon's logs (kukeond, the helpers' audit) there.
# A full run takes about 6 minutes on a quiet 2-core machine, --quick about 2.
# Everything runs against private instances (a containerd, a kukeond and Podman storage in one
# temporary directory), torn down at the end; the host's own containerd and Podman are untouched.
# RESULTS.md keeps what follows its "<!-- kept -->" line (the hand-written analysis) across runs.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
QUICK=0
for a in "$@"; do
    case "$a" in
    --quick) QUICK=1 ;;
    *) echo "usage: bench/run.sh [--quick]" >&2; exit 2 ;;
    esac
done
if [ $QUICK = 1 ]; then
    RUNS=${KUKEON_BENCH_RUNS:-3}
    COUNTS=${KUKEON_BENCH_COUNTS:-"0 100"}
    SCALE=${KUKEON_BENCH_SCALE:-"10 30"}
else
    RUNS=${KUKEON_BENCH_RUNS:-7}
    COUNTS=${KUKEON_BENCH_COUNTS:-"0 100 1000"}
    SCALE=${KUKEON_BENCH_SCALE:-"10 50 100"}
fi
ONLY=" ${KUKEON_BENCH_ONLY:-run start get scale} "
want() { case "$ONLY" in *" $1 "*) return 0 ;; esac; return 1; }
OUT=${KUKEON_BENCH_OUT:-$top/bench/RESULTS.md}
BUILD=${BUILD:-build}
case "$BUILD" in /*) B=$BUILD ;; *) B=$top/$BUILD ;; esac
KUKE=$B/bin/kuke
KEPT_MARK="<!-- kept -->"

die() { echo "bench: $*" >&2; exit 1; }
say() { printf '\n== %s\n' "$*" >&2; }
[ "$(id -u)" -eq 0 ] || die "run as root (it starts a private containerd and kukeond)"

# ---- what it compares against --------------------------------------------------------------------
"$top/scripts/deps.sh" >/dev/null || die "scripts/deps.sh failed"
if ! command -v podman >/dev/null; then
    say "installing Debian's podman"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman >/dev/null || echo "bench: podman could not be installed; its columns stay empty" >&2
fi
make -C "$top" -s BUILD="$BUILD" all "$B/tests/tools/helper_rtt" >/dev/null || die "build failed"

W=$(mktemp -d /var/tmp/kb.XXXXXX)     # short: containerd's socket path must stay under 107 bytes
chmod 0755 "$W"                        # the API worker (user kukeon) walks down to its run path
"$top/tests/harness/iptables-state.sh" record "$W/iptables-before"
CNI_CACHE_WAS=0; [ -e /var/lib/cni ] && CNI_CACHE_WAS=1
CNI_LOCK_WAS=0; [ -e /etc/cni/net.d/cni.lock ] && CNI_LOCK_WAS=1
iptables -w -t nat -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^CNI-[0-9a-f]+$/ {print $2}' | sort >"$W/cni-before"
{ iptables -w -S; iptables -w -t nat -S; } 2>/dev/null | awk '$1 == "-N" && $2 ~ /^NETAVARK/' >"$W/netavark-before"
P=kb$$
CTRDIR=$W/c
SOCK=$CTRDIR/containerd.sock
CGROOT=/$P
SUBNET=10.246.0.0/16
REALM=$P
HREALM=${P}h # the host-network case's realm: made with --allow host-namespaces (its policy)
RUNPATH=$W/opt
CTR=(ctr --address "$SOCK")
CTRNS=$P-ctr
PODMAN=(podman --root "$W/podman/root" --runroot "$W/podman/run" --cgroup-manager cgroupfs --events-backend file)
export CONTAINERS_CONF=$W/containers.conf
CNI_MADE=()

cleanup() {
    say "cleaning up"
    if [ -n "${KUKEON_BENCH_KEEP_LOGS:-}" ] && [ -d "$W/log" ]; then
        mkdir -p "$KUKEON_BENCH_KEEP_LOGS" && cp -a "$W/log/." "$KUKEON_BENCH_KEEP_LOGS/"
    fi
    [ -n "${CONF:-}" ] && for r in "$REALM" "$HREALM" default kuke-system; do KUKEON_NO_DAEMON=true "$KUKE" purge realm "$r" --cascade "${I[@]}" >/dev/null 2>&1; done
    [ -n "${CONF:-}" ] && "$KUKE" daemon stop --host "unix://$RUNPATH/kukeond.sock" --run-path "$RUNPATH" "${CONF[@]}" >/dev/null 2>&1
    if command -v podman >/dev/null; then
        "${PODMAN[@]}" rm -af -t 0 >/dev/null 2>&1
        "${PODMAN[@]}" system reset -f >/dev/null 2>&1
    fi
    for id in $("${CTR[@]}" -n "$CTRNS" tasks ls -q 2>/dev/null); do "${CTR[@]}" -n "$CTRNS" tasks kill -s KILL "$id" >/dev/null 2>&1; done
    "$top/tests/harness/containerd.sh" stop "$CTRDIR" >/dev/null 2>&1
    for f in "${CNI_MADE[@]}"; do rm -rf "$f"; done
    ip link del kb-br0 2>/dev/null
    # libcni's result cache and gocni's lock file, when this run made them.
    [ "${CNI_CACHE_WAS:-1}" = 1 ] || rm -rf /var/lib/cni
    [ "${CNI_LOCK_WAS:-1}" = 1 ] || rm -f /etc/cni/net.d/cni.lock
    # ctr's containers get cgroups named after their namespace (/<ns>/<id>); kuke's are under CGROOT.
    for m in $(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i+1) ~ /^cgroup2?$/) print $5; break } }' /proc/self/mountinfo); do
        for g in "$m$CGROOT" "$m/$CTRNS"; do [ -d "$g" ] && find "$g" -depth -type d -exec rmdir {} \; 2>/dev/null; done
    done
    # iptables chains this run added: KUKEON-FORWARD (kuke init), CNI-* of the bridge plugin's masquerade.
    "$top/tests/harness/iptables-state.sh" restore "$W/iptables-before" 2>/dev/null
    iptables -w -t nat -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^CNI-[0-9a-f]+$/ {print $2}' | sort >"$W/cni-after"
    comm -13 "$W/cni-before" "$W/cni-after" 2>/dev/null | while read -r c; do
        iptables -w -t nat -S POSTROUTING | awk -v c="$c" '$0 ~ ("-j " c "( |$)")' | while read -r rule; do
            eval "iptables -w -t nat ${rule/-A/-D}" 2>/dev/null
        done
        iptables -w -t nat -F "$c" 2>/dev/null; iptables -w -t nat -X "$c" 2>/dev/null
    done
    # Podman's netavark leaves its firewall chains behind when the last network user goes: remove
    # them when this run made them (none existed before).
    if [ -s "$W/netavark-before" ] || ! iptables -w -S >/dev/null 2>&1; then :; else
        for t in filter nat; do
            iptables -w -t $t -S | awk '$1 == "-A" && / -j NETAVARK/' | while read -r rule; do
                case "$rule" in "-A NETAVARK"*) continue ;; esac
                eval "iptables -w -t $t ${rule/-A/-D}" 2>/dev/null
            done
            for c in $(iptables -w -t $t -S | awk '$1 == "-N" && $2 ~ /^NETAVARK/ {print $2}'); do iptables -w -t $t -F "$c"; done
            for c in $(iptables -w -t $t -S | awk '$1 == "-N" && $2 ~ /^NETAVARK/ {print $2}'); do iptables -w -t $t -X "$c"; done
        done
    fi
    umount -R "$W" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- timing helpers --------------------------------------------------------------------------------
# t CMD...: run, print the wall time in ms on stdout (output of CMD to $W/last.out); fail = "fail".
t() {
    local a b
    a=$(date +%s%N)
    if "$@" >"$W/last.out" 2>&1; then
        b=$(date +%s%N)
        echo $(((b - a) / 1000000))
    else
        echo fail
        echo "bench: failed: $* -> $(tail -n 3 "$W/last.out")" >&2
    fi
}
median() { # numbers on stdin ("fail" ignored) -> the median, or "-"
    grep -E '^[0-9.]+$' | sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f×\n", a / b }'; }
declare -A R   # R[case/tool] = samples, space separated
add() { R[$1]="${R[$1]:-} $2"; }
med() { echo "${R[$1]:-}" | tr ' ' '\n' | median; }

# ---- private containerd, images, kukeond ---------------------------------------------------------
say "private containerd in $CTRDIR"
"$top/tests/harness/containerd.sh" start "$CTRDIR" >/dev/null || die "containerd did not start"
"$top/tests/images/build-busybox-oci.sh" "$W/busybox-oci.tar" >/dev/null || die "image build failed"
"$top/tests/images/build-busybox-docker.sh" "$W/busybox-docker.tar" kukeon.local/busybox:test >/dev/null || die "image build failed"
IMG=kukeon.local/busybox:test
"${CTR[@]}" -n "$CTRNS" images import "$W/busybox-oci.tar" >/dev/null || die "ctr import failed"

# Podman asks runc for rlimits above what it may raise here (no CAP_SYS_RESOURCE: "error setting
# rlimit type 7/6"); containers get modest, explicit ones instead (ctr and kuke keep runc's defaults).
cat >"$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
events_logger = "file"
EOF
PODMAN_OK=0
if command -v podman >/dev/null && "${PODMAN[@]}" load -i "$W/busybox-docker.tar" >/dev/null 2>&1 &&
    "${PODMAN[@]}" run --rm "$IMG" true >/dev/null 2>"$W/podman.err"; then
    PODMAN_OK=1
else
    PODMAN_WHY=$(tail -n 2 "$W/podman.err" 2>/dev/null | tr '\n' ' ')
    echo "bench: podman does not run here: ${PODMAN_WHY:-not installed}" >&2
fi

# ctr run --cni reads the first network in /etc/cni/net.d and plugins in /opt/cni/bin: give it a
# bridge like a Kukeon space's (its own bridge and /24), only for this run.
CTR_CNI=0
if [ ! -e /etc/cni/net.d/10-kbench.conflist ]; then
    mkdir -p /etc/cni/net.d
    [ -d /opt/cni/bin ] || { mkdir -p /opt/cni && ln -s /usr/lib/cni /opt/cni/bin && CNI_MADE+=(/opt/cni/bin); }
    cat >/etc/cni/net.d/10-kbench.conflist <<EOF
{"cniVersion": "0.4.0", "name": "kbench", "plugins": [
 {"type": "bridge", "bridge": "kb-br0", "isGateway": true, "ipMasq": true,
  "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.247.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}],
           "dataDir": "$W/cni-ipam"}},
 {"type": "loopback"}]}
EOF
    CNI_MADE+=(/etc/cni/net.d/10-kbench.conflist)
    "${CTR[@]}" -n "$CTRNS" run --rm --cni "$IMG" probe true >/dev/null 2>&1 && CTR_CNI=1
fi

say "private kukeond on $RUNPATH"
printf 'apiVersion: v1beta1\nkind: ServerConfiguration\nspec:\n  netdStateDir: %s\n  reconcileInterval: 0s\n' "$W/netd" >"$W/kukeond.yaml"
CONF=(--log-dir "$W/log" --cgroup-root "$CGROOT" --containerd-socket "$SOCK" --cni-conf-dir "$W/cni"
    --pod-subnet-cidr "$SUBNET" --netd-state-dir "$W/netd" --server-configuration "$W/kukeond.yaml")
I=(--run-path "$RUNPATH" "${CONF[@]}")
"$KUKE" init --no-daemon "${I[@]}" >/dev/null || die "kuke init failed"
"$KUKE" daemon start --host "unix://$RUNPATH/kukeond.sock" --run-path "$RUNPATH" "${CONF[@]}" >/dev/null || die "kukeond did not start"
unset KUKEON_RUN_PATH
export KUKEON_NO_DAEMON=false
kd() { KUKEOND_SOCKET=$RUNPATH/kukeond.sock KUKEON_NO_DAEMON=false "$KUKE" "$@" --host "unix://$RUNPATH/kukeond.sock"; }
ki() { KUKEON_NO_DAEMON=true "$KUKE" "$@" "${I[@]}"; }
kd create realm "$REALM" >/dev/null && kd create space net --realm "$REALM" >/dev/null &&
    kd create stack s --realm "$REALM" --space net >/dev/null || die "kuke create hierarchy failed"
ki image load "$W/busybox-oci.tar" --realm "$REALM" >/dev/null || die "kuke image load failed"
# kuke-ctrd refuses hostNetwork unless the realm's recorded policy allows host namespaces: the
# host-network case gets a realm created with that policy (spec.allow, docs/security.md).
if want run; then
    kd create realm "$HREALM" --allow host-namespaces >/dev/null && kd create space net --realm "$HREALM" >/dev/null &&
        kd create stack s --realm "$HREALM" --space net >/dev/null || die "kuke create of the host-network realm failed"
    ki image load "$W/busybox-oci.tar" --realm "$HREALM" >/dev/null || die "kuke image load (host-network realm) failed"
fi

cell_doc() { # name command [hostNetwork: in the host-network realm]
    local realm=$REALM
    [ -n "${3:-}" ] && realm=$HREALM
    cat <<EOF
apiVersion: v1beta1
kind: Cell
metadata: {name: $1}
spec:
  realmId: $realm
  spaceId: net
  stackId: s
  containers:
    - {id: main, image: $IMG, command: /bin/sh, args: ["-c", "$2"]${3:+, hostNetwork: true}}
---
EOF
}
SC=(--realm "$REALM" --space net --stack s)
SCH=(--realm "$HREALM" --space net --stack s)
CUR_SC=("${SC[@]}") # the scope state_of looks in
state_of() { kd get cell "$1" "${CUR_SC[@]}" -o json 2>/dev/null | sed -n 's/.*"state": "\([A-Za-z]*\)".*/\1/p' | head -1; }
wait_state() { # cell state... : poll until the cell's state is one of them (max 30 s)
    local c=$1 s i; shift
    for i in $(seq 1 600); do
        s=$(state_of "$c")
        for w in "$@"; do [ "$s" = "$w" ] && return 0; done
        sleep 0.05
    done
    return 1
}
apply_wait() { # name host? : apply a one-container cell running `true`, wait for Exited
    local rc
    cell_doc "$1" true "${2:-}" >"$W/$1.yaml"
    [ -n "${2:-}" ] && CUR_SC=("${SCH[@]}")
    kd apply -f "$W/$1.yaml" >/dev/null && wait_state "$1" Exited Error
    rc=$?
    CUR_SC=("${SC[@]}")
    return $rc
}

# ---- 1 & 6. cold run to exit ----------------------------------------------------------------------
if want run; then
say "cold run to exit ($RUNS runs each, interleaved)"
for i in $(seq 1 "$RUNS"); do
    add run/kuke "$(t kd run --rm --image "$IMG" --command true "${SC[@]}" --name "r$i")"
    add run/kuke-inproc "$(t ki run --rm --image "$IMG" --command true "${SC[@]}" --name "q$i")"
    add run/kuke-apply "$(t apply_wait "a$i")"
    kd delete cell "a$i" "${SC[@]}" >/dev/null 2>&1
    [ $CTR_CNI = 1 ] && add run/ctr "$(t "${CTR[@]}" -n "$CTRNS" run --rm --cni "$IMG" "c$i" true)"
    [ $PODMAN_OK = 1 ] && add run/podman "$(t "${PODMAN[@]}" run --rm --network bridge "$IMG" true)"
    add runh/kuke "$(t apply_wait "h$i" host)"
    kd delete cell "h$i" "${SCH[@]}" >/dev/null 2>&1
    add runh/ctr "$(t "${CTR[@]}" -n "$CTRNS" run --rm --net-host "$IMG" "d$i" true)"
    [ $PODMAN_OK = 1 ] && add runh/podman "$(t "${PODMAN[@]}" run --rm --network host "$IMG" true)"
done
# One more `kuke run --rm`, step by step from the helpers' audit lines and the daemon's log.
for name in steps steps2; do
    STEPS_FROM=$(date -u +%Y-%m-%dT%H:%M:%S)
    kd run --rm --image "$IMG" --command true "${SC[@]}" --name "$name" >"$W/steps.out" 2>&1 ||
        echo "bench: the step-by-step run failed: $(tail -n 2 "$W/steps.out")" >&2
    sleep 0.5
    "$top/bench/steps.sh" "$W/log" "$name" "$STEPS_FROM" >"$W/steps.md"
    [ -s "$W/steps.md" ] && break
done
fi

# ---- 2. start of an existing stopped cell -------------------------------------------------------
if want start; then
say "start latency of a stopped cell"
cell_doc st "sleep 3600" | kd apply -f - >/dev/null && wait_state st Ready && kd stop st "${SC[@]}" >/dev/null
"${CTR[@]}" -n "$CTRNS" run -d "$IMG" cst sleep 3600 >/dev/null && "${CTR[@]}" -n "$CTRNS" tasks kill -s KILL cst >/dev/null; sleep 0.3
"${CTR[@]}" -n "$CTRNS" tasks rm cst >/dev/null 2>&1
[ $PODMAN_OK = 1 ] && "${PODMAN[@]}" create --name pst "$IMG" sleep 3600 >/dev/null
for i in $(seq 1 "$RUNS"); do
    add start/kuke "$(t kd start st "${SC[@]}")"
    kd stop st "${SC[@]}" >/dev/null 2>&1
    add start/ctr "$(t "${CTR[@]}" -n "$CTRNS" tasks start -d cst)"
    "${CTR[@]}" -n "$CTRNS" tasks kill -s KILL cst >/dev/null 2>&1; sleep 0.2; "${CTR[@]}" -n "$CTRNS" tasks rm cst >/dev/null 2>&1
    if [ $PODMAN_OK = 1 ]; then
        add start/podman "$(t "${PODMAN[@]}" start pst)"
        "${PODMAN[@]}" stop -t 0 pst >/dev/null 2>&1
    fi
done
kd delete cell st "${SC[@]}" >/dev/null 2>&1
"${CTR[@]}" -n "$CTRNS" containers rm cst >/dev/null 2>&1
[ $PODMAN_OK = 1 ] && "${PODMAN[@]}" rm -f pst >/dev/null 2>&1
fi

# ---- 3. get with 0, 100, 1000 cells ----------------------------------------------------------------
if want get; then
say "get cells at store sizes: $COUNTS"
# One materialized cell, then its document copied under other names: the store is what get reads.
kd create cell tmpl --image "$IMG" "${SC[@]}" >/dev/null || echo "bench: create cell failed" >&2
CELLDIR=$RUNPATH/data/$REALM/net/s
have=0 ctrhave=0 podhave=0
for n in $COUNTS; do
    while [ $have -lt "$n" ]; do
        have=$((have + 1))
        mkdir -p "$CELLDIR/g$have"
        sed "s/\"tmpl\"/\"g$have\"/g" "$CELLDIR/tmpl/metadata.json" >"$CELLDIR/g$have/metadata.json"
        chown -R --reference="$CELLDIR/tmpl" "$CELLDIR/g$have"
    done
    while [ $ctrhave -lt "$n" ]; do
        ctrhave=$((ctrhave + 1)); "${CTR[@]}" -n "$CTRNS" containers create "$IMG" "g$ctrhave" true >/dev/null
    done
    if [ $PODMAN_OK = 1 ]; then
        while [ $podhave -lt "$n" ]; do
            podhave=$((podhave + 1)); "${PODMAN[@]}" create --name "g$podhave" "$IMG" true >/dev/null
        done
    fi
    [ "$n" = 0 ] && mv "$CELLDIR/tmpl" "$W/tmpl.away"
    for i in $(seq 1 "$RUNS"); do
        add "get$n/kuke" "$(t kd get cells "${SC[@]}")"
        add "get$n/kuke-inproc" "$(t ki get cells "${SC[@]}" --no-daemon)"
        add "get$n/ctr" "$(t "${CTR[@]}" -n "$CTRNS" containers ls)"
        [ $PODMAN_OK = 1 ] && add "get$n/podman" "$(t "${PODMAN[@]}" ps -a)"
    done
    [ "$n" = 0 ] && mv "$W/tmpl.away" "$CELLDIR/tmpl"
done
rm -rf "$CELLDIR"/g[0-9]*
kd delete cell tmpl "${SC[@]}" >/dev/null 2>&1
for c in $("${CTR[@]}" -n "$CTRNS" containers ls -q); do "${CTR[@]}" -n "$CTRNS" containers rm "$c" >/dev/null 2>&1; done
[ $PODMAN_OK = 1 ] && "${PODMAN[@]}" rm -af >/dev/null 2>&1
fi

# ---- 4 & 5. scaling, footprint ---------------------------------------------------------------------
group_pss_kib() { # the supervisor and its children
    local sup pids p sum=0
    sup=$(cat "$RUNPATH/kukeond.pid" 2>/dev/null) || { echo -; return; }
    pids="$sup $(pgrep -P "$sup" | tr '\n' ' ')"
    for p in $pids; do
        v=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null)
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}
containerd_pss_kib() { awk '/^Pss:/ { print $2 }' "/proc/$(cat "$CTRDIR/containerd.pid")/smaps_rollup"; }
sleep 2
PSS_IDLE=$(group_pss_kib); CTRD_PSS_IDLE=$(containerd_pss_kib)
want scale || SCALE=""
[ -n "$SCALE" ] && say "scaling: cells per manifest: $SCALE"
for n in $SCALE; do
    : >"$W/scale.yaml"
    for k in $(seq 1 "$n"); do cell_doc "s$n-$k" "sleep 3600" >>"$W/scale.yaml"; done
    ms=$(t kd apply -f "$W/scale.yaml")
    R[scale$n]=$ms
    if [ "$n" = "${SCALE##* }" ]; then sleep 3; PSS_N=$n; PSS_100=$(group_pss_kib); CTRD_PSS_100=$(containerd_pss_kib); fi
    kd delete -f "$W/scale.yaml" >/dev/null 2>&1
done
RTT=$("$B/tests/tools/helper_rtt" "$B" "$CGROOT-rtt" 5000 2>/dev/null)
for m in $(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i+1) ~ /^cgroup2?$/) print $5; break } }' /proc/self/mountinfo); do
    rmdir "$m$CGROOT-rtt" 2>/dev/null
done

# ---- results -----------------------------------------------------------------------------------
say "writing $OUT"
# The hand-written analysis below the marker survives the rewrite.
KEPT=""
[ -f "$OUT" ] && KEPT=$(sed -n "/^$KEPT_MARK/,\$p" "$OUT")
row() { # label case
    local k c p
    k=$(med "$2/kuke"); c=$(med "$2/ctr"); p=$(med "$2/podman")
    echo "| $1 | $k | $c | $p | $(ratio "$k" "$c") | $(ratio "$k" "$p") |"
}
{
    echo "# Benchmark results"
    echo
    echo "Written by \`bench/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'). Medians of $RUNS interleaved runs, wall time in ms."
    echo
    echo "Machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr), $(. /etc/os-release; echo "$PRETTY_NAME");"
    echo "containerd $(containerd --version | awk '{ print $3 }'), runc $(runc --version | awk 'NR == 1 { print $3 }'), podman $(podman --version 2>/dev/null | awk '{ print $3 }'), kuke $(cat "$top/VERSION")."
    [ $PODMAN_OK = 1 ] || echo "Podman did not run here (${PODMAN_WHY:-not installed}); its columns are empty."
    [ $CTR_CNI = 1 ] || echo "\`ctr run --cni\` did not run here (a /etc/cni/net.d/10-kbench.conflist existed already, or CNI failed); its bridge column is empty."
    echo
    echo "## Cold run to exit (a one-container cell running \`true\`)"
    echo
    echo "| case | kuke | ctr | podman | kuke/ctr | kuke/podman |"
    echo "|---|---|---|---|---|---|"
    k=$(med run/kuke); ka=$(med run/kuke-apply); ki_=$(med run/kuke-inproc); c=$(med run/ctr); p=$(med run/podman)
    echo "| \`kuke run --rm\` vs \`ctr run --rm --cni\` / \`podman run --rm\` (bridge) | $k | $c | $p | $(ratio "$k" "$c") | $(ratio "$k" "$p") |"
    echo "| \`kuke apply\` + wait for Exited (bridge) | $ka | $c | $p | $(ratio "$ka" "$c") | $(ratio "$ka" "$p") |"
    row "host network: \`kuke apply\` + wait / \`ctr run --net-host\` / \`podman --network host\`" runh
    echo
    echo "The host-network cells run in a realm made with \`kuke create realm NAME --allow host-namespaces\` (its policy, spec.allow: kuke-ctrd refuses \`hostNetwork\` otherwise); their root is host-network too and no CNI runs."
    [ "$(med runh/kuke)" = "-" ] && echo "kuke's host-network column is empty: the apply of a hostNetwork cell failed (see the daemon's log)."
    echo
    if [ -s "$W/steps.md" ]; then
        echo "One more \`kuke run --rm\`, step by step (bench/steps.sh: kukeond's log and the helpers' audit lines; each line is stamped when its step ends, in ms after the CreateCell call reached the daemon):"
        echo
        echo "| ms | step |"
        echo "|---|---|"
        cat "$W/steps.md"
        echo
    fi
    echo "## Start of an existing stopped cell"
    echo
    echo "| case | kuke | ctr | podman | kuke/ctr | kuke/podman |"
    echo "|---|---|---|---|---|---|"
    row "\`kuke start\` / \`ctr task start -d\` / \`podman start\`" start
    echo
    echo "## Listing: \`kuke get cells\` / \`ctr containers ls\` / \`podman ps -a\`"
    echo
    echo "| cells in the store | kuke (daemon) | kuke (in-process) | ctr | podman | daemon/ctr | daemon/podman |"
    echo "|---|---|---|---|---|---|---|"
    for n in $COUNTS; do
        k=$(med "get$n/kuke"); ki_=$(med "get$n/kuke-inproc"); c=$(med "get$n/ctr"); p=$(med "get$n/podman")
        echo "| $n | $k | $ki_ | $c | $p | $(ratio "$k" "$c") | $(ratio "$k" "$p") |"
    done
    echo
    echo "## Scaling: one manifest of N cells (\`kuke apply -f\`, cells created and started)"
    echo
    echo "| N | total ms | ms per cell |"
    echo "|---|---|---|"
    for n in $SCALE; do
        echo "| $n | ${R[scale$n]} | $(awk -v a="${R[scale$n]}" -v n="$n" 'BEGIN { if (a ~ /^[0-9]+$/) printf "%.1f", a / n; else print "-" }') |"
    done
    echo
    echo "## Footprint (proportional set size)"
    echo
    echo "| | kukeond group (supervisor, API worker, helpers) | containerd |"
    echo "|---|---|---|"
    echo "| idle | $((PSS_IDLE / 1024)).$(((PSS_IDLE % 1024) * 10 / 1024)) MiB | $((CTRD_PSS_IDLE / 1024)) MiB |"
    [ -n "${PSS_100:-}" ] && echo "| $PSS_N running cells | $((PSS_100 / 1024)).$(((PSS_100 % 1024) * 10 / 1024)) MiB | $((CTRD_PSS_100 / 1024)) MiB |"
    echo
    echo "One request through one helper (API side → kuke-cgd STAT → API side, \`tests/tools/helper_rtt\`, 5000 calls): $RTT"
    echo
    echo "## Cost of the privilege separation"
    echo
    echo "| | ms |"
    echo "|---|---|"
    echo "| \`kuke run --rm\` through the daemon | $(med run/kuke) |"
    echo "| the same in-process (\`KUKEON_NO_DAEMON=true\`: kuke starts the helpers itself) | $(med run/kuke-inproc) |"
    echo
    echo "## Against the issue's targets (issue 9)"
    echo
    echo "| target | measured | verdict |"
    echo "|---|---|---|"
    verdict() { awk -v v="$1" -v lim="$2" 'BEGIN { if (v == "-" || v == "") print "not measured"; else if (v + 0 <= lim + 0) print "met"; else printf "missed (%.2f× the limit)\n", v / lim }'; }
    k=$(med run/kuke); c=$(med run/ctr); p=$(med run/podman)
    kc=$(awk -v a="$k" -v b="$c" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.3f", a / b }')
    kp=$(awk -v a="$k" -v b="$p" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.3f", a / b }')
    echo "| cold run within 1.15× of \`ctr run\` | \`kuke run --rm\` $(ratio "$k" "$c") ($k vs $c ms) | $(verdict "$kc" 1.15) |"
    echo "| cold run faster than \`podman run\` | $(ratio "$k" "$p") ($k vs $p ms) | $(verdict "$kp" 0.999) |"
    echo "| \`get\` of 1,000 cells under 20 ms through the daemon | $(med "get1000/kuke") ms | $(verdict "$(med "get1000/kuke")" 20) |"
    first=${SCALE%% *} lastn=${SCALE##* }
    if [ -n "$SCALE" ] && [ "${R[scale$first]:-}" != "" ] && [ "${R[scale$lastn]:-}" != "" ]; then
        g=$(awk -v a="${R[scale$first]}" -v n="$first" -v b="${R[scale$lastn]}" -v m="$lastn" 'BEGIN { printf "%+.0f", ((b / m) / (a / n) - 1) * 100 }')
        echo "| ms per cell flat from $first to $lastn cells in one manifest | per cell at N=$lastn against N=$first: $g % | $(awk -v g="$g" 'BEGIN { print (g <= 10 ? "met (within 10 %)" : "missed (grows more than 10 %)") }') |"
    fi
    echo "| idle group under 16 MiB PSS | $((PSS_IDLE / 1024)).$(((PSS_IDLE % 1024) * 10 / 1024)) MiB | $(verdict "$((PSS_IDLE / 1024))" 16) |"
    if [ -n "$KEPT" ]; then echo; echo "$KEPT"; fi
} >"$OUT.new" && mv "$OUT.new" "$OUT"
cat "$OUT"
