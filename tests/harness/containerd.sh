#!/usr/bin/env bash
# Start or stop a private containerd for tests.
#   containerd.sh start DIR   config, root, state and socket all under DIR; waits until it answers
#   containerd.sh stop DIR    kills its tasks, stops it and its shims (by pid), unmounts under DIR
set -u
cmd=${1:?start|stop}
dir=${2:?directory}
sock="$dir/containerd.sock"

ctr_() { ctr --address "$sock" "$@"; }

case "$cmd" in
start)
    mkdir -p "$dir/root" "$dir/state" "$dir/opt"
    command -v containerd >/dev/null || { echo "containerd not installed: run 'make deps'" >&2; exit 1; }
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
    echo $! >"$dir/containerd.pid"
    for _ in $(seq 1 100); do
        if [ -S "$sock" ] && ctr_ version >/dev/null 2>&1; then exit 0; fi
        kill -0 "$(cat "$dir/containerd.pid")" 2>/dev/null || break
        sleep 0.1
    done
    echo "containerd did not answer on $sock" >&2
    exit 1
    ;;
stop)
    [ -f "$dir/containerd.pid" ] || exit 0
    pid=$(cat "$dir/containerd.pid")
    if [ -S "$sock" ]; then
        for ns in $(ctr_ namespaces ls -q 2>/dev/null); do
            for t in $(ctr_ -n "$ns" tasks ls -q 2>/dev/null); do
                ctr_ -n "$ns" tasks kill -a -s SIGKILL "$t" >/dev/null 2>&1
            done
            sleep 0.2
            for t in $(ctr_ -n "$ns" tasks ls -q 2>/dev/null); do
                ctr_ -n "$ns" tasks delete -f "$t" >/dev/null 2>&1
            done
        done
    fi
    # Shims started by this containerd carry its address on their command line.
    shims=$(pgrep -f -- "-address $sock" || true)
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    for s in $shims; do kill -KILL "$s" 2>/dev/null; done
    # Anything still mounted beneath the directory (rootfs of a killed task), deepest first.
    awk -v d="$dir" '$5 ~ "^"d {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null
    done
    rm -f "$dir/containerd.pid"
    ;;
*) echo "usage: containerd.sh start|stop DIR" >&2; exit 2 ;;
esac
