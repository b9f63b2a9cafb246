#!/usr/bin/env bash
# Remove every host object a test run created, named with the run's prefix: network namespaces,
# bridges and veths, cgroups (v2 and, on hybrid hosts, every v1 hierarchy; mounts planted inside them
# are undone and frozen ones thawed first), runc state directories
# of the run's containerd namespaces, FIFOs ctr left for the run's containers, and mounts beneath the
# test directory.
# usage: cleanup.sh PREFIX [DIR]
# An object belongs to the run when its name is PREFIX alone or PREFIX followed by a byte that is not
# a digit: prefix kt12 must not claim kt123's objects when two runs share the host.
set -u
prefix=${1:-}
dir=${2:-}
[ -n "$prefix" ] || exit 0

ours() { [[ $1 == "$prefix" || ($1 == "$prefix"* && ${1:${#prefix}:1} != [0-9]) ]]; }

for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    ours "$ns" && ip netns delete "$ns" 2>/dev/null
done
for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    ours "$l" && ip link delete "$l" 2>/dev/null
done

# Cgroup roots: the filesystem type is the first field after the " - " separator of mountinfo (the
# optional fields before it vary in number). runc on a v1 or hybrid host makes /<namespace>/<id> in
# every hierarchy and removes only <id>, so a test's containerd namespace leaves one directory per
# hierarchy; kukeon's own cgroups live under the v2 root.
cgroup_mounts() {
    awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i+1) == "cgroup" || $(i+1) == "cgroup2") print $5; break } }' \
        /proc/self/mountinfo
}
for cg in $(cgroup_mounts); do
    for root in "$cg"/"$prefix"*; do
        if [ ! -d "$root" ] || ! ours "${root##*/}"; then continue; fi
        # A test that plants a mount inside its tree (kuke-cgd's escape tests) may have died before
        # undoing it: unmount first, deepest first, so that nothing below is walked through a mount.
        awk -v d="$root" '{ if ($5 == d || index($5, d "/") == 1) print $5 }' /proc/self/mountinfo | sort -r |
            while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
        # A frozen cgroup keeps its processes from ever exiting: thaw (v2 only has cgroup.freeze).
        find "$root" -xdev -type f -name cgroup.freeze -exec sh -c 'echo 0 > "$1"' _ {} \; 2>/dev/null
        # Leaves first; a cgroup that still has processes stays (and is reported by the caller's checks).
        find "$root" -xdev -depth -type d -exec rmdir {} \; 2>/dev/null
    done
done

# runc keeps its state per containerd namespace under the shim's root; it is only files.
for d in /run/containerd/runc/"$prefix"*; do
    [ -d "$d" ] && ours "${d##*/}" && rm -rf --one-file-system "$d"
done

# ctr keeps a task's FIFOs in /run/containerd/fifo/<random>/<id>-std{in,out,err} and removes them when
# the task is deleted through it; a task that died with its containerd leaves them. Remove a FIFO
# directory only when every entry in it is a FIFO of one of the run's containers.
for d in /run/containerd/fifo/*/; do
    [ -d "$d" ] || continue
    all_ours=1
    for f in "$d"*; do
        [ -e "$f" ] || continue
        name=${f##*/}
        if [ ! -p "$f" ] || ! ours "$name"; then all_ours=0; break; fi
    done
    [ "$all_ours" = 1 ] && [ -n "$(ls -A "$d")" ] && rm -rf --one-file-system "$d"
done

# The CNI bridge plugin's masquerade rule and chain of a cell (nat POSTROUTING, commented with the
# network's name) outlive a cell whose netns vanished before its DEL — on a real host a reboot empties
# the table; a test's simulated reboot must do it itself (tests/lib/kukeond.sh reboot_masquerade).
# Whatever a test still left is removed here and named, so that a leak is seen rather than piled up.
leaked=$(iptables -t nat -S POSTROUTING 2>/dev/null | grep -F -- "--comment \"name: \\\"$prefix" |
    while IFS= read -r rule; do
        net=${rule#*name: \\\"}; net=${net%%\\\"*}
        ours "$net" || continue
        eval "iptables -t nat ${rule/#-A /-D }" 2>/dev/null
        iptables -t nat -F "${rule##* -j }" 2>/dev/null && iptables -t nat -X "${rule##* -j }" 2>/dev/null
        echo "${rule##* -j } ($net)"
    done)
[ -n "$leaked" ] && echo "# harness: removed masquerade chains a test left: $(echo $leaked)" >&2

if [ -n "$dir" ]; then
    awk -v d="$dir" '{ if ($5 == d || index($5, d "/") == 1) print $5 }' /proc/self/mountinfo | sort -r |
        while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
fi
exit 0
