#!/bin/sh
# The product's main journey, as far as it is built: prepare the host (accounts, directories), start
# the kukeond group, and show that the unprivileged API worker answers and which process runs as
# whom. Run as root after 'make'; 'make demo' does both.
set -eu
build=${1:-build}
kuke="$build/bin/kuke"
say() { printf '\n+ %s\n' "$*"; }
if [ "$(id -u)" -ne 0 ]; then
    echo "make demo needs root: it creates the kukeon accounts and starts the daemon group" >&2
    exit 1
fi
# kuke-ctrd drives containerd; start Debian's if none answers (it keeps running after the demo).
if [ ! -S /run/containerd/containerd.sock ]; then
    say "containerd (none was running; starting Debian's, log in /var/log/kukeon/containerd.log)"
    mkdir -p /var/log/kukeon
    setsid containerd >/var/log/kukeon/containerd.log 2>&1 </dev/null &
    for _ in $(seq 1 50); do [ -S /run/containerd/containerd.sock ] && break; sleep 0.1; done
fi
say "$kuke init"
"$kuke" init
say "$kuke version"
"$kuke" version
say "$kuke daemon status"
"$kuke" daemon status
say "$kuke create realm demo   (a containerd namespace, a cgroup, metadata)"
"$kuke" create realm demo
say "$kuke create space web --realm demo   (a CNI network with its own bridge and /24)"
"$kuke" create space web --realm demo
say "$kuke create stack blog --realm demo --space web"
"$kuke" create stack blog --realm demo --space web
say "$kuke get realms"
"$kuke" get realms
say "$kuke get spaces --realm demo -o wide"
"$kuke" get spaces --realm demo -o wide
say "tail of the audit log of kuke-netd (one line per decision)"
tail -n 3 /var/log/kukeon/kuke-netd.log
cat <<MSG

The daemon group keeps running. Try '$kuke daemon logs', '$kuke get stacks', '$kuke --help'.
Clean up with:  $kuke delete realm demo --cascade && $kuke daemon stop
MSG
