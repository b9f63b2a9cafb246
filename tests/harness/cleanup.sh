#!/usr/bin/env bash
# Remove every host object a test run created, named with the run's prefix: network namespaces,
# bridges and veths, cgroups under the test cgroup roots, and mounts beneath the test directory.
# usage: cleanup.sh PREFIX [DIR]
set -u
prefix=${1:-}
dir=${2:-}
[ -n "$prefix" ] || exit 0
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$prefix" || true); do
    ip netns delete "$ns" 2>/dev/null
done
for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^$prefix" || true); do
    ip link delete "$l" 2>/dev/null
done
# cgroup v2 test roots are named <prefix>* directly under the v2 mount: remove deepest first.
cg=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
if [ -n "$cg" ]; then
    for root in "$cg"/"$prefix"*; do
        [ -d "$root" ] || continue
        find "$root" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
fi
if [ -n "$dir" ]; then
    awk -v d="$dir" '$5 ~ "^"d {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null
    done
fi
exit 0
