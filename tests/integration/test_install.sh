#!/usr/bin/env bash
# make install / make uninstall into a DESTDIR: the layout (binaries, helpers, unit, man pages,
# completions, default configuration, logrotate rule), man pages that render without warnings and
# are found by man(1), completions that load in bash, zsh and fish, a unit systemd-analyze accepts,
# a default kukeond.yaml the daemon's parser takes, and an uninstall that leaves nothing behind
# (and keeps an operator's own configuration). Needs no root, containerd or daemon.
set -u
. "$KUKEON_TOP/tests/lib/tap.sh"
N=15
tap_plan $N

TMP=${KUKEON_TEST_TMP:-}
if [ -z "$TMP" ] || [ ! -d "$TMP" ]; then
    for i in $(seq 1 $N); do tap_skip "install $i" "${KUKEON_TEST_SKIP_REASON:-no test directory}"; done
    exit 0
fi
T="$TMP/install"
DEST="$T/dest"
PREFIX=/usr/local
R="$DEST$PREFIX"
mkdir -p "$T"
mk() { make --no-print-directory -C "$KUKEON_TOP" BUILD="$BUILD" PREFIX=$PREFIX DESTDIR="$DEST" "$@"; }

if ! mk install >"$T/install.log" 2>&1; then
    tap_fail "make install" "$(tail -20 "$T/install.log")"
    for i in $(seq 2 $N); do tap_skip "install $i" "make install failed"; done
    exit 0
fi
tap_ok "make install PREFIX=$PREFIX DESTDIR=... succeeds"

missing=""
for f in bin/kuke bin/kukeond libexec/kukeon/kuke-cgd libexec/kukeon/kuke-netd libexec/kukeon/kuke-ctrd \
    libexec/kukeon/kuke-fetchd libexec/kukeon/kukepause lib/systemd/system/kukeond.service share/man/man1/kuke.1 \
    share/man/man1/kuke-get.1 share/man/man8/kukeond.8 share/man/man8/kuke-cgd.8 share/man/man8/kuke-netd.8 \
    share/man/man8/kuke-ctrd.8 share/man/man8/kuke-fetchd.8 \
    share/man/man5/kukeon.yaml.5; do
    [ -f "$R/$f" ] || missing="$missing $f"
done
for f in /etc/kukeon/kukeond.yaml /etc/logrotate.d/kukeon; do [ -f "$DEST$f" ] || missing="$missing $f"; done
for f in bin/kuke bin/kukeond libexec/kukeon/kuke-netd; do [ -x "$R/$f" ] || missing="$missing +x:$f"; done
if [ -z "$missing" ]; then tap_ok "layout: bin/, libexec/kukeon/, the unit, man1/5/8, /etc/kukeon/kukeond.yaml, logrotate"
else tap_fail "install layout" "missing:$missing"; fi

# Every verb group has its page, from the same table --help prints.
verbs=$("$R/bin/kuke" --help | awk '/^Available Commands:/{f=1;next} /^$/{f=0} f && $1 !~ /^_/ {print $1}')
nopage=""
for v in $verbs; do [ -f "$R/share/man/man1/kuke-$v.1" ] || nopage="$nopage $v"; done
drift=""
for v in get daemon; do
    # Each flag --help lists is in the page.
    for fl in $("$R/bin/kuke" "$v" --help | awk '/^Flags:/{f=1;next} /^$/{f=0} f' | grep -oE -- '--[a-z-]+'); do
        grep -qF -- "$(sed 's/-/\\-/g' <<<"$fl")\\fR" "$R/share/man/man1/kuke-$v.1" || drift="$drift $v:$fl"
    done
done
if [ -n "$verbs" ] && [ -z "$nopage" ] && [ -z "$drift" ]; then
    tap_ok "a page per verb group ($(echo $verbs | wc -w)), each listing the flags --help lists"
else tap_fail "man pages match --help" "no page:$nopage; flags missing:$drift"; fi

warn=""
for page in "$R"/share/man/man*/*; do
    out=$(MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$page" 2>&1 >/dev/null)
    [ -n "$out" ] && warn="$warn ${page##*/}: $out"
done
if [ -z "$warn" ]; then tap_ok "every page renders with man -l and no groff warning"
else tap_fail "man -l warnings" "$warn"; fi

ok=1 why=""
for p in kuke kukeond kuke-netd kukeon.yaml; do
    out=$(MANPATH="$R/share/man" MANWIDTH=80 man "$p" 2>&1 | head -3)
    echo "$out" | grep -qi "$p" || { ok=0; why="$why $p: $out"; }
done
if [ $ok = 1 ]; then tap_ok "man kuke, man kukeond, man kuke-netd, man kukeon.yaml find the installed pages"
else tap_fail "man finds the pages" "$why"; fi

# --- completions ----------------------------------------------------------------------------------
bc="$R/share/bash-completion/completions/kuke"
if [ -s "$bc" ] && bash -c ". '$bc' && complete -p kuke" >/dev/null 2>&1; then
    tap_ok "the bash completion loads and registers for kuke"
else tap_fail "bash completion" "$(bash -c ". '$bc' && complete -p kuke" 2>&1)"; fi

zc="$R/share/zsh/site-functions/_kuke"
if ! command -v zsh >/dev/null; then tap_skip "zsh completion" "zsh is not installed (apt-get install zsh)"
elif [ -s "$zc" ] && [ "$(head -1 "$zc")" = "#compdef kuke" ] \
    && out=$(HOME="$T" zsh -fc "source '$zc' && print -r -- \${_comps[kuke]}" 2>&1) && [ -n "$out" ]; then
    tap_ok "the zsh completion (#compdef kuke) loads and registers for kuke"
else tap_fail "zsh completion" "$(HOME="$T" zsh -fc "source '$zc'; print -r -- \${_comps[kuke]}" 2>&1)"; fi

fc="$R/share/fish/vendor_completions.d/kuke.fish"
if ! command -v fish >/dev/null; then tap_skip "fish completion" "fish is not installed (apt-get install fish)"
elif [ -s "$fc" ] && HOME="$T" fish --no-config -c "source '$fc'; complete -C 'kuke ge'" 2>/dev/null | grep -q '^get'; then
    tap_ok "the fish completion loads and completes 'kuke ge' to get"
else tap_fail "fish completion" "$(HOME="$T" fish --no-config -c "source '$fc'; complete -C 'kuke ge'" 2>&1 | head -5)"; fi

# --- unit and configuration -----------------------------------------------------------------------
unit="$R/lib/systemd/system/kukeond.service"
if ! command -v systemd-analyze >/dev/null; then tap_skip "systemd-analyze verify" "systemd-analyze is not installed (apt-get install systemd)"
else
    # verify checks that ExecStart exists and Documentation= pages resolve: point both at DESTDIR.
    mkdir -p "$T/unit"
    sed "s|$PREFIX/bin/|$R/bin/|" "$unit" >"$T/unit/kukeond.service"
    out=$(MANPATH="$R/share/man" systemd-analyze verify "$T/unit/kukeond.service" 2>&1); rc=$?
    if [ $rc = 0 ] && [ -z "$out" ] && grep -qx 'Type=notify' "$unit" && grep -qx 'Delegate=yes' "$unit" \
        && grep -qx 'Requires=containerd.service' "$unit" && grep -qx 'Restart=on-failure' "$unit" \
        && grep -q '^StartLimitBurst=' "$unit" && grep -qx "ExecStart=$PREFIX/bin/kukeond serve" "$unit"; then
        tap_ok "systemd-analyze verify accepts kukeond.service (notify, Delegate, containerd, restart limits)"
    else tap_fail "systemd-analyze verify" "rc=$rc $out"; fi
fi

conf="$DEST/etc/kukeon/kukeond.yaml"
keys=$(grep -cE '^  #[a-zA-Z]+: ' "$conf")
# Uncommented, every option must be one the daemon knows, with a valid default value.
sed -e 's/^#spec:/spec:/' -e 's/^  #\([a-zA-Z]*:\)/  \1/' "$conf" >"$T/all-options.yaml"
out=$("$R/bin/kuke" version --no-daemon --server-configuration "$T/all-options.yaml" 2>&1 >/dev/null)
out2=$("$R/bin/kuke" status --server-configuration "$T/all-options.yaml" --host "unix://$T/none.sock" 2>&1 | grep -i 'yaml')
if [ "$keys" = 13 ] && [ -z "$out" ] && [ -z "$out2" ]; then
    tap_ok "kukeond.yaml comments all 13 options; uncommented, the daemon's parser takes every one"
else tap_fail "default kukeond.yaml" "keys=$keys version: $out status: $out2"; fi

# The logrotate rule, pointed at a scratch log directory and forced: the file an O_APPEND writer
# keeps open is truncated in place (copytruncate), the old lines are in <name>.log.1.
if ! command -v logrotate >/dev/null; then tap_skip "logrotate rule" "logrotate is not installed (apt-get install logrotate)"
else
    mkdir -p "$T/lr"
    echo "an audit line" >"$T/lr/kuke-netd.log"
    sed "s|/var/log/kukeon/|$T/lr/|" "$DEST/etc/logrotate.d/kukeon" >"$T/lr.conf"
    out=$(logrotate -f -s "$T/lr.state" "$T/lr.conf" 2>&1); rc=$?
    if [ $rc = 0 ] && [ -f "$T/lr/kuke-netd.log" ] && [ ! -s "$T/lr/kuke-netd.log" ] \
        && grep -qx "an audit line" "$T/lr/kuke-netd.log.1" 2>/dev/null; then
        tap_ok "the logrotate rule rotates /var/log/kukeon/*.log in place (copytruncate)"
    else tap_fail "logrotate rule" "rc=$rc $out $(ls -l "$T/lr")"; fi
fi

# --- the installed tree runs -----------------------------------------------------------------------
# kuke finds kukeond beside itself, kukeond its helpers in ../libexec/kukeon: start the installed
# group on a private run path against the harness's containerd, ask it, stop it.
if [ "$(id -u)" -ne 0 ] || [ -z "${KUKEON_TEST_CONTAINERD_SOCKET:-}" ]; then
    tap_skip "installed daemon runs" "${KUKEON_TEST_SKIP_REASON:-needs root and the harness containerd}"
else
    P=$KUKEON_TEST_PREFIX
    printf 'apiVersion: v1beta1\nkind: ServerConfiguration\nspec:\n  netdStateDir: %s\n' "$T/netd" >"$T/k.yaml"
    IC=(--host "unix://$T/run/kukeond.sock" --run-path "$T/opt" --log-dir "$T/log" --cgroup-root "/${P}-inst"
        --containerd-socket "$KUKEON_TEST_CONTAINERD_SOCKET" --cni-conf-dir "$T/cni" --pod-subnet-cidr 10.248.0.0/16
        --netd-state-dir "$T/netd" --server-configuration "$T/k.yaml")
    "$R/bin/kuke" init --no-daemon "${IC[@]}" >"$T/run.log" 2>&1 && "$R/bin/kuke" daemon start "${IC[@]}" >>"$T/run.log" 2>&1
    "$R/bin/kuke" status "${IC[@]}" >"$T/status" 2>&1
    exe=$(readlink "/proc/$(cat "$T/run/kukeond.pid" 2>/dev/null)/exe" 2>/dev/null)
    "$R/bin/kuke" daemon stop "${IC[@]}" >>"$T/run.log" 2>&1
    for r in default kuke-system; do "$R/bin/kuke" purge realm "$r" --cascade "${IC[@]}" >/dev/null 2>&1; done
    if grep -qE '^  OK +socket ' "$T/status" && [ "$exe" = "$R/bin/kukeond" ]; then
        tap_ok "the installed kuke starts the installed kukeond, which finds its helpers in libexec/kukeon"
    else tap_fail "installed daemon runs" "exe=$exe $(cat "$T/run.log" "$T/status")"; fi
fi

# --- uninstall ------------------------------------------------------------------------------------
mk uninstall >"$T/uninstall.log" 2>&1; rc=$?
left=$(cd "$DEST" && find . -mindepth 1)
if [ $rc = 0 ] && [ -z "$left" ]; then tap_ok "make uninstall removes exactly what install put: DESTDIR is empty again"
else tap_fail "make uninstall" "rc=$rc left: $left $(tail -5 "$T/uninstall.log")"; fi

# An operator's configuration survives both directions; a directory that was there stays.
mkdir -p "$DEST/etc/kukeon" "$R/bin"
echo "# mine" >"$DEST/etc/kukeon/kukeond.yaml"
touch "$R/bin/other-tool"
mk install >"$T/install2.log" 2>&1 && mk uninstall >>"$T/install2.log" 2>&1
if [ "$(cat "$DEST/etc/kukeon/kukeond.yaml" 2>/dev/null)" = "# mine" ] && [ -f "$R/bin/other-tool" ] \
    && [ ! -e "$R/bin/kuke" ] && [ ! -e "$R/libexec/kukeon" ]; then
    tap_ok "install keeps an existing kukeond.yaml and uninstall leaves it and others' files alone"
else tap_fail "existing config kept" "$(cat "$DEST/etc/kukeon/kukeond.yaml" 2>&1) $(tail -5 "$T/install2.log")"; fi
# The Debian packaging: its build dependencies are what this machine builds with (the full
# 'make deb' rebuilds the tree, too slow for this suite; docs/operating.md).
if ! command -v dpkg-checkbuilddeps >/dev/null; then tap_skip "debian/control build-depends" "dpkg-dev is not installed"
elif out=$(cd "$KUKEON_TOP" && dpkg-checkbuilddeps 2>&1) && grep -q '^Depends:.*containerd, runc, containernetworking-plugins' "$KUKEON_TOP/debian/control"; then
    tap_ok "debian/: build dependencies satisfied here; the package depends on containerd, runc, containernetworking-plugins"
else tap_fail "debian/control" "$out"; fi
rm -rf "$T"
