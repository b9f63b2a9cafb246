#!/bin/sh
# The product's main journey on a fresh machine (docs/getting-started.md follows the same steps):
# start containerd if none runs, `kuke init`, load a locally built busybox image, apply an example
# manifest (a cell whose container says hello and keeps serving a page), show the cell, its log and
# its page, and say how to clean up. Run as root after 'make'; 'make demo' does both.
set -eu
build=${1:-build}
kuke="$build/bin/kuke"
top=$(cd "$(dirname "$0")/.." && pwd)
say() { printf '\n+ %s\n' "$*"; }
if [ "$(id -u)" -ne 0 ]; then
    echo "make demo needs root: it creates the kukeon accounts, cgroups and networks, and starts the daemon group" >&2
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

img="$build/demo/busybox.tar"
say "building the demo image from Debian's busybox-static (no registry): $img"
mkdir -p "$build/demo"
"$top/tests/images/build-busybox-oci.sh" "$img" kukeon.local/busybox:latest
say "$kuke image load $img --realm default"
"$kuke" image load "$img" --realm default

say "$kuke apply -f examples/hello.yaml"
"$kuke" apply -f "$top/examples/hello.yaml"

# The cell is created and started by apply; wait until its container has said hello.
for _ in $(seq 1 100); do
    "$kuke" log hello --stack hello 2>/dev/null | grep -q serving && break
    sleep 0.1
done
say "$kuke get cells"
"$kuke" get cells
say "$kuke get containers --stack hello -o wide"
"$kuke" get containers --stack hello -o wide
say "$kuke log hello --stack hello"
"$kuke" log hello --stack hello

ip=$(sed -n 's/^\([0-9.]*\)[[:space:]]*hello$/\1/p' /opt/kukeon/data/default/default/hello/hello/etc-hosts 2>/dev/null | head -1)
if [ -n "$ip" ]; then
    say "busybox wget -qO- http://$ip:8080/   (the cell's own address on the space's bridge)"
    busybox wget -qO- "http://$ip:8080/" || true
fi

cat <<MSG

The cell keeps running under the daemon group. Try:
  $kuke get cells -o wide          $kuke stop hello --stack hello       $kuke start hello --stack hello
  $kuke get cell hello --stack hello -o yaml                           $kuke --help
Clean up with:  $kuke delete stack hello --cascade && $kuke uninstall -y
MSG
