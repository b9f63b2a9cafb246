#!/bin/sh
# Install every build, test and runtime dependency of Kukeon from Debian's archive.
# Idempotent: when everything is installed it only asks dpkg and returns.
set -eu
PKGS="build-essential pkg-config clang libfuzzer-14-dev libclang-rt-14-dev
      protobuf-c-compiler libprotobuf-c-dev protobuf-compiler libprotobuf-dev libgrpc-dev libssl-dev
      golang-github-containerd-containerd-dev
      libyaml-dev libjansson-dev libnl-3-dev libnl-route-3-dev libseccomp-dev libcap-ng-dev libcmocka-dev
      containerd runc containernetworking-plugins iproute2 iptables kmod busybox-static
      ca-certificates procps util-linux passwd jq tmux zsh fish
      debhelper man-db groff-base systemd logrotate python3
      libcurl4-openssl-dev openssl docker-registry skopeo apache2-utils"
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    echo "deps: all $(echo $PKGS | wc -w) packages present"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing:$missing; run 'make deps' as root (it uses apt-get)" >&2
    exit 1
fi
echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
# Debian's containerd package enables a host containerd where systemd runs; kukeon's tests start
# their own, so nothing here depends on that service.
