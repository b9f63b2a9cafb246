#!/usr/bin/env bash
# The Debian package: `make deb` builds it from a copy of the tree (dpkg-buildpackage -us -uc -b),
# dpkg-deb shows the layout and the dependencies, `apt-get install ./kukeon_*.deb` installs it (its
# dependencies are the harness's own), the installed kuke, man pages and unit work, and a purge
# leaves nothing of it on the host. A kukeon package the operator installed is never touched: then
# the install half is skipped.
set -u
. "$KUKEON_TOP/tests/lib/tap.sh"
N=6
tap_plan $N

TMP=${KUKEON_TEST_TMP:-}
if [ -z "$TMP" ] || [ ! -d "$TMP" ] || [ "$(id -u)" -ne 0 ]; then
    for i in $(seq 1 $N); do tap_skip "deb $i" "${KUKEON_TEST_SKIP_REASON:-needs root}"; done
    exit 0
fi
missing=""
for t in dpkg-buildpackage dh dpkg-deb apt-get; do command -v $t >/dev/null || missing="$missing $t"; done
if [ -n "$missing" ]; then
    for i in $(seq 1 $N); do tap_skip "deb $i" "missing:$missing (apt-get install dpkg-dev debhelper)"; done
    exit 0
fi
T="$TMP/deb"
mkdir -p "$T"
if make --no-print-directory -C "$KUKEON_TOP" BUILD="$T/b" deb >"$T/build.log" 2>&1 && deb=$(ls "$T"/b/deb/kukeon_*.deb 2>/dev/null | head -1) && [ -n "$deb" ]; then
    tap_ok "make deb builds ${deb##*/} with dpkg-buildpackage -us -uc -b"
else
    tap_fail "make deb" "$(tail -20 "$T/build.log")"
    for i in $(seq 2 $N); do tap_skip "deb $i" "no package was built"; done
    exit 0
fi

files=$(dpkg-deb -c "$deb" | awk '{print $6}')
info=$(dpkg-deb -I "$deb")
want="./usr/bin/kuke ./usr/bin/kukeond ./usr/libexec/kukeon/kuke-cgd ./usr/libexec/kukeon/kuke-netd
      ./usr/libexec/kukeon/kuke-ctrd ./usr/libexec/kukeon/kuke-fetchd ./usr/libexec/kukeon/kukepause
      ./lib/systemd/system/kukeond.service ./usr/share/man/man8/kuke-fetchd.8.gz
      ./usr/share/man/man1/kuke.1.gz ./usr/share/man/man8/kukeond.8.gz ./usr/share/man/man8/kuke-netd.8.gz
      ./usr/share/man/man5/kukeon.yaml.5.gz ./etc/kukeon/kukeond.yaml ./etc/logrotate.d/kukeon
      ./usr/share/bash-completion/completions/kuke ./usr/share/zsh/site-functions/_kuke
      ./usr/share/fish/vendor_completions.d/kuke.fish"
absent=""
for f in $want; do grep -qx -- "$f" <<<"$files" || absent="$absent $f"; done
if [ -z "$absent" ] && ! grep -q 'install-manifest' <<<"$files"; then
    tap_ok "dpkg-deb -c: binaries, helpers in /usr/libexec/kukeon, the unit, man pages, completions, configuration"
else tap_fail "package contents" "missing:$absent"; fi

depends=$(sed -n 's/^ Depends: //p' <<<"$info")
ok=1
for d in containerd runc containernetworking-plugins libc6 libseccomp2 libjansson4; do
    grep -qE "(^|, )$d( |,|$)" <<<"$depends" || ok=0
done
if [ $ok = 1 ] && dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles 2>/dev/null | grep -qx /etc/kukeon/kukeond.yaml; then
    tap_ok "dpkg-deb -I: Depends containerd, runc, containernetworking-plugins and the shared libraries; kukeond.yaml a conffile"
else tap_fail "package control" "$info"; fi

if dpkg-query -W -f='${Status}' kukeon 2>/dev/null | grep -q 'install ok installed'; then
    for i in 4 5 6; do tap_skip "deb install $i" "a kukeon package is installed on this host already; it is not touched"; done
    exit 0
fi
purge() { DEBIAN_FRONTEND=noninteractive apt-get purge -y -q kukeon >>"$T/apt.log" 2>&1; }
trap purge EXIT
if DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$deb" >"$T/apt.log" 2>&1 \
    && [ "$(/usr/bin/kuke version --no-daemon 2>&1)" = "Client: $(cat "$KUKEON_TOP/VERSION")" ] \
    && man -w kuke kukeond kuke-netd >/dev/null 2>&1; then
    tap_ok "apt-get install ./${deb##*/}: kuke runs, man kuke/kukeond/kuke-netd resolve"
else tap_fail "apt-get install" "$(tail -10 "$T/apt.log")"; fi

if ! command -v systemd-analyze >/dev/null; then tap_skip "installed unit verifies" "systemd-analyze is not installed"
elif out=$(systemd-analyze verify /lib/systemd/system/kukeond.service 2>&1) && [ -z "$out" ] \
    && { [ -d /run/systemd/system ] || [ ! -e /etc/systemd/system/multi-user.target.wants/kukeond.service ]; }; then
    tap_ok "the installed unit verifies, and the package neither enabled nor started it (kuke init does)"
else tap_fail "installed unit" "$out $(ls -l /etc/systemd/system/multi-user.target.wants/ 2>&1 | grep kukeond)"; fi

list=$(dpkg -L kukeon 2>/dev/null | grep -vE '^/(\.|usr|usr/bin|usr/share|usr/share/man|usr/share/man/man[0-9]|usr/share/doc|etc|lib|lib/systemd|lib/systemd/system|usr/libexec|etc/logrotate.d|usr/share/bash-completion|usr/share/bash-completion/completions|usr/share/zsh|usr/share/fish)$')
purge
trap - EXIT
left=""
# Files, and the directories that are the package's alone; shared ones (fish's vendor_completions.d)
# stay with their other owners.
for f in $list /usr/libexec/kukeon /etc/kukeon /usr/share/doc/kukeon; do
    if [ -d "$f" ]; then case "$f" in /usr/libexec/kukeon | /etc/kukeon | /usr/share/doc/kukeon) left="$left $f" ;; esac
    elif [ -e "$f" ]; then left="$left $f"; fi
done
if [ -n "$list" ] && [ -z "$left" ] && ! dpkg-query -W kukeon >/dev/null 2>&1; then
    tap_ok "apt-get purge removes every file of the package, the configuration included"
else tap_fail "purge" "left:$left"; fi
rm -rf "$T"
