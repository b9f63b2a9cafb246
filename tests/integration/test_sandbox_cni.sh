#!/usr/bin/env bash
# kuke-netd's seccomp filter is inherited by everything it execs, so it must let the real CNI
# plugins (Go binaries) and the iptables they run do their work: run bridge (ipMasq, host-local
# IPAM), portmap and loopback ADD and DEL inside netd's sandbox (sandbox_probe netd exec) against a
# test network namespace, and check their effect on the host. Everything is named with
# KUKEON_TEST_PREFIX and removed at the end (the harness's cleanup removes what a crash leaves).
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib/tap.sh
source "$here/../lib/tap.sh"

N=11
tap_plan $N
skip_all() {
    local i
    for ((i = 0; i < N; i++)); do tap_skip "netd runs CNI plugins" "$1"; done
    exit 0
}
[ "$(id -u)" -eq 0 ] || skip_all "needs root (network namespaces, iptables); run 'sudo make check'"
probe="${BUILD:-}/tests/tools/sandbox_probe"
[ -x "$probe" ] || skip_all "$probe is missing; run through tests/run.sh after make check-build"
cni=/usr/lib/cni
for p in bridge host-local portmap loopback; do
    [ -x "$cni/$p" ] || skip_all "CNI plugin $cni/$p is missing; install containernetworking-plugins (make deps)"
done
command -v iptables >/dev/null || skip_all "iptables is missing; install it (make deps)"

prefix=${KUKEON_TEST_PREFIX:-kt$$}
tmp=$(mktemp -d "${KUKEON_TEST_TMP:-/var/tmp}/sandbox-cni.XXXXXX")
ns="${prefix}-sbx"
br="${prefix}sb"
br=${br:0:15}
net="${prefix}-sbx"
cid="${prefix}-sbx-ctr"
octet=$((($$ % 200) + 20))
subnet="10.251.$octet.0/24"
hostport=$((18000 + ($$ % 1000)))

export CNI_PATH=$cni CNI_CONTAINERID=$cid CNI_NETNS=/run/netns/$ns CNI_IFNAME=eth0

bridge_conf() {
    printf '{"cniVersion":"1.0.0","name":"%s","type":"bridge","bridge":"%s","isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","dataDir":"%s/ipam","ranges":[[{"subnet":"%s"}]]}}' \
        "$net" "$br" "$tmp" "$subnet"
}
portmap_conf() { # container address
    printf '{"cniVersion":"1.0.0","name":"%s","type":"portmap","capabilities":{"portMappings":true},"runtimeConfig":{"portMappings":[{"hostPort":%d,"containerPort":80,"protocol":"tcp"}]},"prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"%s"}],"ips":[{"address":"%s","interface":0}]}}' \
        "$net" "$hostport" "$CNI_NETNS" "$1"
}
lo_conf() { printf '{"cniVersion":"1.0.0","name":"%s-lo","type":"loopback"}' "$net"; }

# A plugin run inside netd's sandbox: entered as kuke-netd enters it, then execve of the plugin.
sandboxed() { # COMMAND PLUGIN CONF [IFNAME]
    printf '%s' "$3" | CNI_COMMAND=$1 CNI_IFNAME=${4:-eth0} "$probe" netd exec "$cni/$2"
}

cleanup() {
    # Outside the sandbox and ignoring errors: whatever a failed sandboxed DEL left behind.
    printf '%s' "$(portmap_conf 10.251.$octet.2/24)" | CNI_COMMAND=DEL "$cni/portmap" >/dev/null 2>&1
    printf '%s' "$(bridge_conf)" | CNI_COMMAND=DEL "$cni/bridge" >/dev/null 2>&1
    ip link delete "$br" 2>/dev/null
    ip netns delete "$ns" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

if ! ip netns add "$ns" 2>"$tmp/netns.err"; then
    skip_all "cannot create network namespace $ns: $(cat "$tmp/netns.err")"
fi

if out=$(sandboxed ADD bridge "$(bridge_conf)" 2>&1) && [[ $out == *'"ips"'* ]]; then
    tap_ok "bridge ADD (ipMasq, host-local) works inside netd's sandbox"
else
    tap_fail "bridge ADD (ipMasq, host-local) works inside netd's sandbox" "exit or output: $out"
fi
addr=$(ip -n "$ns" -4 -o addr show dev eth0 2>/dev/null | awk '{print $4}')
if [[ $addr == 10.251.$octet.* ]]; then
    tap_ok "the container side has an address from $subnet ($addr)"
else
    tap_fail "the container side has an address from $subnet" "ip -n $ns addr: '$addr'"
fi
if iptables -t nat -S 2>/dev/null | grep -q -- "$cid"; then
    tap_ok "bridge's iptables masquerade rule for $cid is in place"
else
    tap_fail "bridge's iptables masquerade rule for $cid is in place" "$(iptables -t nat -S 2>&1 | tail -5)"
fi
tap_check "portmap ADD works inside netd's sandbox" sandboxed ADD portmap "$(portmap_conf "${addr:-10.251.$octet.2/24}")"
if iptables -t nat -S 2>/dev/null | grep -q -- "--dport $hostport"; then
    tap_ok "portmap's DNAT rule for host port $hostport is in place"
else
    tap_fail "portmap's DNAT rule for host port $hostport is in place" "$(iptables -t nat -S 2>&1 | tail -5)"
fi
tap_check "loopback ADD works inside netd's sandbox" sandboxed ADD loopback "$(lo_conf)" lo
if ip -n "$ns" -o link show lo 2>/dev/null | grep -q 'UP'; then
    tap_ok "loopback is up in the namespace"
else
    tap_fail "loopback is up in the namespace" "$(ip -n "$ns" link show lo 2>&1)"
fi
tap_check "portmap DEL works inside netd's sandbox" sandboxed DEL portmap "$(portmap_conf "${addr:-10.251.$octet.2/24}")"
tap_check "bridge DEL works inside netd's sandbox" sandboxed DEL bridge "$(bridge_conf)"
tap_check "loopback DEL works inside netd's sandbox" sandboxed DEL loopback "$(lo_conf)" lo
if iptables -t nat -S 2>/dev/null | grep -q -e "$cid" -e "--dport $hostport"; then
    tap_fail "DEL removed the iptables rules" "$(iptables -t nat -S 2>&1 | grep -e "$cid" -e "--dport $hostport")"
else
    tap_ok "DEL removed the iptables rules"
fi
