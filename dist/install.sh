#!/bin/sh
# make install / make uninstall (see the Makefile). Install records every file it wrote and every
# directory it made in a manifest, so that uninstall removes exactly that: a directory that was
# there before (/usr/local/bin) stays, a configuration file the operator already had is neither
# overwritten nor removed.
#   dist/install.sh install|uninstall
# Environment (from the Makefile): DESTDIR PREFIX SYSCONFDIR UNITDIR MANDIR BUILD
set -eu
: "${PREFIX:=/usr/local}" "${SYSCONFDIR:=/etc}" "${DESTDIR:=}"
: "${UNITDIR:=$PREFIX/lib/systemd/system}" "${MANDIR:=$PREFIX/share/man}" "${BUILD:=build}"
LIBEXECDIR=$PREFIX/libexec/kukeon
DATADIR=$PREFIX/share/kukeon
MANIFEST=$DATADIR/install-manifest
top=$(cd "$(dirname "$0")/.." && pwd)

# mkdirs PATH: make PATH and each missing parent, recording each one made (outermost first).
mkdirs() {
    [ "$1" = / ] || [ -d "$DESTDIR$1" ] && return 0
    mkdirs "$(dirname "$1")"
    install -d -m 0755 "$DESTDIR$1"
    echo "d $1" >>"$tmp"
}
# put MODE SRC DEST: install one file, recording it.
put() {
    mkdirs "$(dirname "$3")"
    install -m "$1" "$2" "$DESTDIR$3"
    echo "f $3" >>"$tmp"
}

do_install() {
    [ -z "$DESTDIR" ] || install -d "$DESTDIR"
    if [ -f "$DESTDIR$MANIFEST" ]; then
        # A second install over the first: forget nothing the first one made.
        tmp=$(mktemp); cp "$DESTDIR$MANIFEST" "$tmp"
    else
        tmp=$(mktemp)
    fi
    for p in kuke kukeond; do put 0755 "$BUILD/bin/$p" "$PREFIX/bin/$p"; done
    for p in kuke-cgd kuke-netd kuke-ctrd kuke-fetchd kukepause kuketty; do put 0755 "$BUILD/libexec/$p" "$LIBEXECDIR/$p"; done

    unit=$(mktemp)
    sed "s|@PREFIX@|$PREFIX|g" "$top/systemd/kukeond.service" >"$unit"
    put 0644 "$unit" "$UNITDIR/kukeond.service"
    rm -f "$unit"

    for page in "$BUILD"/share/man/man*/*; do
        [ -f "$page" ] || continue
        sec=${page%/*}; sec=${sec##*/}
        put 0644 "$page" "$MANDIR/$sec/${page##*/}"
    done

    comp=$BUILD/share/completions
    [ -s "$comp/kuke.bash" ] && put 0644 "$comp/kuke.bash" "$PREFIX/share/bash-completion/completions/kuke"
    [ -s "$comp/kuke.zsh" ] && put 0644 "$comp/kuke.zsh" "$PREFIX/share/zsh/site-functions/_kuke"
    [ -s "$comp/kuke.fish" ] && put 0644 "$comp/kuke.fish" "$PREFIX/share/fish/vendor_completions.d/kuke.fish"

    # The operator's configuration is theirs: never overwritten, never removed.
    if [ -e "$DESTDIR$SYSCONFDIR/kukeon/kukeond.yaml" ]; then
        echo "keeping the existing $SYSCONFDIR/kukeon/kukeond.yaml"
    else
        put 0644 "$top/dist/kukeond.yaml" "$SYSCONFDIR/kukeon/kukeond.yaml"
    fi
    put 0644 "$top/dist/kukeon.logrotate" "$SYSCONFDIR/logrotate.d/kukeon"

    mkdirs "$DATADIR"
    # Each path once, in the order made (duplicates come from a second install).
    awk '!seen[$0]++' "$tmp" >"$DESTDIR$MANIFEST"
    rm -f "$tmp"
    chmod 0644 "$DESTDIR$MANIFEST"
    echo "installed Kukeon into ${DESTDIR}$PREFIX (manifest $MANIFEST)"
    if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
        systemctl daemon-reload 2>/dev/null || true
        echo "next: sudo kuke init (enables and starts kukeond.service)"
    fi
}

do_uninstall() {
    if [ ! -f "$DESTDIR$MANIFEST" ]; then
        echo "nothing to uninstall: no manifest at $DESTDIR$MANIFEST" >&2
        exit 1
    fi
    # A running service keeps its binaries busy and would restart into nothing.
    if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ] && systemctl is-active --quiet kukeond.service 2>/dev/null; then
        systemctl disable --now kukeond.service || true
    fi
    list=$(mktemp)
    cp "$DESTDIR$MANIFEST" "$list"
    grep '^f ' "$list" | cut -c3- | while IFS= read -r f; do rm -f "$DESTDIR$f"; done
    rm -f "$DESTDIR$MANIFEST"
    # Directories deepest first; one that holds something not ours stays.
    grep '^d ' "$list" | cut -c3- | sort -r | while IFS= read -r d; do rmdir "$DESTDIR$d" 2>/dev/null || true; done
    rm -f "$list"
    if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload 2>/dev/null || true; fi
    echo "uninstalled Kukeon from ${DESTDIR}$PREFIX"
}

case "${1:-}" in
install) do_install ;;
uninstall) do_uninstall ;;
*) echo "usage: $0 install|uninstall" >&2; exit 2 ;;
esac
