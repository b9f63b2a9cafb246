#!/usr/bin/env bash
# Start or stop a private containerd for tests.
#   containerd.sh start DIR   config, root, state and socket all under DIR; waits until it answers
#   containerd.sh stop DIR    kills its tasks, stops it and its shims (by pid), unmounts under DIR
# Only processes this containerd started are touched: its own pid (from DIR/containerd.pid) and the
# shims whose command line names its socket. Other containerds on the host (the system one, another
# test run) are left alone.
set -u
cmd=${1:?start|stop}
dir=${2:?directory}
case "$dir" in /*) ;; *) dir="$(pwd)/$dir" ;; esac
sock="$dir/containerd.sock"

ctr_() { timeout 10 ctr --address "$sock" "$@"; }

# Pids of the shims of this containerd: their argv holds "-address <sock>" exactly (compared as a
# fixed string, so dots in the path are not regex wildcards).
shim_pids() {
    local p args
    for p in /proc/[0-9]*; do
        args=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
        case "$args" in *containerd-shim*" -address $sock "*) echo "${p#/proc/}" ;; esac
    done
}

# A shim listens on /run/containerd/s/<sha256 of "<containerd address>/<namespace>/<id>"> and removes
# it when it exits cleanly; one we kill leaves it behind. Print the path for the shim with pid $1.
shim_socket() {
    local -a argv
    local i ns="" id="" addr=""
    mapfile -d '' argv 2>/dev/null <"/proc/$1/cmdline" || return 0
    for ((i = 1; i + 1 < ${#argv[@]}; i++)); do
        case "${argv[i]}" in
        -namespace) ns=${argv[i + 1]} ;;
        -id) id=${argv[i + 1]} ;;
        -address) addr=${argv[i + 1]} ;;
        esac
    done
    [ -n "$ns" ] && [ -n "$id" ] && [ -n "$addr" ] || return 0
    echo "/run/containerd/s/$(printf '%s' "$addr/$ns/$id" | sha256sum | cut -d' ' -f1)"
}

# Is pid $1 the containerd started for DIR? A stale pid file must not make us kill a stranger.
is_ours() {
    local args
    args=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") || return 1
    case "$args" in "containerd --config $dir/config.toml ") return 0 ;; esac
    return 1
}

# Wait up to $2 tenths of a second for pid $1 to end.
wait_gone() {
    local i
    for ((i = 0; i < $2; i++)); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

# Mount points at or beneath DIR, deepest first. Field 5 of mountinfo is the mount point, with
# spaces escaped as \040; the test directory has none.
mounts_beneath() {
    awk -v d="$1" '{ if ($5 == d || index($5, d "/") == 1) print $5 }' /proc/self/mountinfo | sort -r
}

case "$cmd" in
start)
    command -v containerd >/dev/null || { echo "containerd not installed: run 'make deps'" >&2; exit 1; }
    command -v runc >/dev/null || { echo "runc not installed: run 'make deps'" >&2; exit 1; }
    # sun_path holds 107 bytes; the ttrpc socket adds ".ttrpc".
    if [ $((${#sock} + 6)) -gt 107 ]; then
        echo "socket path $sock.ttrpc is longer than a unix socket address allows; use a shorter DIR" >&2
        exit 1
    fi
    if [ -f "$dir/containerd.pid" ] && is_ours "$(cat "$dir/containerd.pid")"; then
        echo "a containerd is already running for $dir (pid $(cat "$dir/containerd.pid"))" >&2
        exit 1
    fi
    mkdir -p "$dir/root" "$dir/state" "$dir/opt"
    cat >"$dir/config.toml" <<TOML
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/opt"
[plugins."io.containerd.runtime.v2.task"]
  platforms = ["linux/amd64"]
TOML
    # setsid: the containerd and its shims must not die with the caller's terminal or group.
    setsid containerd --config "$dir/config.toml" >"$dir/containerd.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$dir/containerd.pid"
    for _ in $(seq 1 100); do
        if [ -S "$sock" ] && ctr_ version >/dev/null 2>&1; then exit 0; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "containerd did not answer on $sock; see $dir/containerd.log" >&2
    # Leave nothing behind on failure: the caller reports and skips.
    kill -KILL "$pid" 2>/dev/null
    wait_gone "$pid" 50
    rm -f "$dir/containerd.pid"
    exit 1
    ;;
stop)
    [ -d "$dir" ] || exit 0
    pid=$(cat "$dir/containerd.pid" 2>/dev/null)
    if [ -z "$pid" ] || ! is_ours "$pid"; then
        # Already gone (or the pid now names another process): only its shims may be left.
        pid=""
    fi
    # Ask containerd first: it knows its tasks, and a killed task's shim cleans its own mounts.
    if [ -n "$pid" ] && [ -S "$sock" ]; then
        for ns in $(ctr_ namespaces ls -q 2>/dev/null); do
            tasks=$(ctr_ -n "$ns" tasks ls -q 2>/dev/null)
            [ -n "$tasks" ] || continue
            for t in $tasks; do ctr_ -n "$ns" tasks kill -a -s SIGKILL "$t" >/dev/null 2>&1; done
            for t in $tasks; do ctr_ -n "$ns" tasks delete -f "$t" >/dev/null 2>&1; done
        done
    fi
    # Collected before containerd goes: a shim outlives it, and is found by its argv.
    shims=$(shim_pids)
    shim_sockets=$(for s in $shims; do shim_socket "$s"; done)
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null
        wait_gone "$pid" 50 || { kill -KILL "$pid" 2>/dev/null; wait_gone "$pid" 20; }
    fi
    # A task containerd could not kill: its processes are the shim's children (the shim is their
    # subreaper). Kill them first so that nothing is reparented to init and forgotten.
    for s in $shims; do
        for c in $(pgrep -P "$s"); do kill -KILL "$c" 2>/dev/null; done
        kill -KILL "$s" 2>/dev/null
    done
    for s in $shims; do wait_gone "$s" 20; done
    for s in $shim_sockets; do rm -f "$s"; done
    # Anything still mounted beneath the directory (rootfs of a killed task), deepest first.
    mounts_beneath "$dir" | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
    left=$(mounts_beneath "$dir")
    if { [ -n "$pid" ] && is_ours "$pid"; } || [ -n "$left" ]; then
        echo "containerd.sh stop: left behind under $dir: ${left:-} ${pid:+containerd pid $pid}" >&2
        exit 1
    fi
    rm -f "$dir/containerd.pid"
    ;;
*) echo "usage: containerd.sh start|stop DIR" >&2; exit 2 ;;
esac
