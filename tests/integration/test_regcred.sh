#!/usr/bin/env bash
# Registry credentials of a realm (kukeond/regcred.h, kukeond/ctl_regcred.c), through a private
# kukeond and in-process: a realm applied with spec.registryCredentials keeps the passwords out of
# its metadata.json (0644, readable by group kukeon) and in <realm>/secrets/registry-credentials.json
# (dir 0700, file 0600, owned by kukeon), which a non-root member of group kukeon cannot read; get
# -o yaml|json and ListRealms show no password; serverAddress is normalised (docker's legacy URL is
# docker.io); re-apply is unchanged (also of the document read back without passwords), a changed
# password is "updated" with the field named and the value never shown; kuke create
# registry-credential upserts (a second run replaces, one entry per server), from stdin, a file,
# in-process; bad servers, usernames, passwords and duplicate servers are refused with the field;
# delete and purge remove the secrets; no log line holds a password.
set -u
. "$KUKEON_TOP/tests/lib/tap.sh"
. "$KUKEON_TOP/tests/lib/kukeond.sh"
B=$BUILD
KUKE="$B/bin/kuke"
N=28
tap_plan $N

kd_need_root regcred
kd_env regcred rcd 10.245.0.0/16
R1="${P}-rc1" R2="${P}-rc2"
UIN="${P}rm"
# Passwords no other text of the run holds, so a grep for them finds only a leak.
PW1="ghcr-${P}-S3cret#1" PW2="hub-${P}-p@ss:2" PW3="ghcr-${P}-rotated-3" PW4="cli-${P}-4th" PW5="cli-${P}-5th\"q\\b'é€ x"
PW6="file-${P}-6th" PW7="inproc-${P}-7th" PW8="r2-${P}-8th" PW9="tty-${P}-9th"
ALL_PW=("$PW1" "$PW2" "$PW3" "$PW4" "$PW5" "$PW6" "$PW7" "$PW8" "$PW9")

cleanup() {
    id "$UIN" >/dev/null 2>&1 && userdel "$UIN" >/dev/null 2>&1
    kd_purge "$R1" "$R2"
    kd_stop
    kd_purge default kuke-system # after the stop: the daemon group lives in kuke-system's cgroup
}
trap cleanup EXIT

run() { "$KUKE" "$@" >"$T/out" 2>"$T/err"; echo $? >"$T/rc"; }
out() { cat "$T/out"; }
errout() { cat "$T/err"; }
meta() { echo "$T/opt/data/$1/metadata.json"; }
sdir() { echo "$T/opt/data/$1/secrets"; }
sfile() { echo "$T/opt/data/$1/secrets/registry-credentials.json"; }
# Whether any of the passwords is in the given files (or stdin with -).
leaks() { local p; for p in "${ALL_PW[@]}"; do grep -rqF -- "$p" "$@" 2>/dev/null && { echo "$p"; return 0; }; done; return 1; }
spw() { jq -r --arg s "$2" '.credentials[] | select(.serverAddress == $s) | .password' "$(sfile "$1")" 2>/dev/null; }

"$KUKE" init --no-daemon "${D[@]}" "${I[@]}" >/dev/null 2>&1
run daemon start "${D[@]}" --run-path "$T/opt" "${CONF[@]}"
if [ "$(rc)" = 0 ]; then tap_ok "a private kukeond starts on the run path"
else tap_fail "private kukeond starts" "$(out) $(errout)"; fi

# --- apply: the passwords go to the secrets, never to the document -------------------------------
cat >"$T/r1.yaml" <<Y
apiVersion: v1beta1
kind: Realm
metadata:
  name: $R1
spec:
  registryCredentials:
    - {username: alice, password: "$PW1", serverAddress: ghcr.io}
    - username: bob
      password: "$PW2"
      serverAddress: "https://index.docker.io/v1/"
    - {username: carol, password: "$PW1", serverAddress: "127.0.0.1:5000", insecureSkipTLSVerify: true}
Y
run apply -f "$T/r1.yaml" "${D[@]}"
if [ "$(rc)" = 0 ] && [ "$(out)" = "Realm \"$R1\": created" ]; then tap_ok "apply of a realm with three registry credentials: created"
else tap_fail "apply created" "rc=$(rc) out=$(out) err=$(errout)"; fi

m=$(meta "$R1")
got=$(jq -c '[.spec.registryCredentials[] | [.username, .serverAddress, (.insecureSkipTLSVerify // false), has("password")]]' "$m" 2>/dev/null)
if [ "$got" = '[["alice","ghcr.io",false,false],["bob","docker.io",false,false],["carol","127.0.0.1:5000",true,false]]' ] \
    && ! leaks "$m" >/dev/null; then
    tap_ok "metadata.json keeps username, serverAddress (docker's legacy URL as docker.io), insecureSkipTLSVerify, no password"
else tap_fail "metadata.json" "entries=$got leak=$(leaks "$m")"; fi

mode_of() { stat -c '%a %U' "$1" 2>/dev/null; }
# 0700, with the setgid bit every directory of the run path passes on (harmless without group access).
dir_private() { [[ "$(mode_of "$1")" =~ ^2?700\ kukeon$ ]]; }
if dir_private "$(sdir "$R1")" && [ "$(mode_of "$(sfile "$R1")")" = "600 kukeon" ] \
    && [ "$(spw "$R1" ghcr.io)" = "$PW1" ] && [ "$(spw "$R1" docker.io)" = "$PW2" ]; then
    tap_ok "the passwords are in secrets/registry-credentials.json: dir 0700, file 0600, owner kukeon"
else tap_fail "secrets file" "dir=$(mode_of "$(sdir "$R1")") file=$(mode_of "$(sfile "$R1")") ls=$(ls -la "$(sdir "$R1")" 2>&1)"; fi

# --- get: never a password ---------------------------------------------------------------------------
run get realm "$R1" -o yaml "${D[@]}"
y_rc=$(rc); cp "$T/out" "$T/get.yaml"
run get realm "$R1" -o json "${D[@]}"
j_rc=$(rc); cp "$T/out" "$T/get.json"
run get realms -o json "${D[@]}"
l_rc=$(rc); cp "$T/out" "$T/list.json"
if [ "$y_rc$j_rc$l_rc" = 000 ] && grep -q 'username: alice' "$T/get.yaml" && grep -q 'serverAddress: docker.io' "$T/get.yaml" \
    && ! grep -qi password "$T/get.yaml" "$T/get.json" "$T/list.json" && ! leaks "$T/get.yaml" "$T/get.json" "$T/list.json" >/dev/null; then
    tap_ok "get realm -o yaml|json and get realms show the entries without a password"
else tap_fail "get redaction" "rc=$y_rc/$j_rc/$l_rc yaml=$(cat "$T/get.yaml")"; fi
KUKEON_NO_DAEMON=true run get realm "$R1" -o json "${I[@]}"
if [ "$(rc)" = 0 ] && jq -e '.spec.registryCredentials | length == 3' "$T/out" >/dev/null && ! grep -qi password "$T/out"; then
    tap_ok "in-process get realm shows no password either"
else tap_fail "in-process get" "rc=$(rc) out=$(out) err=$(errout)"; fi

# --- re-apply ---------------------------------------------------------------------------------------
run apply -f "$T/r1.yaml" "${D[@]}"
if [ "$(rc)" = 0 ] && [ "$(out)" = "Realm \"$R1\": unchanged" ]; then tap_ok "apply of the same manifest again: unchanged (passwords compared with the secrets)"
else tap_fail "re-apply unchanged" "rc=$(rc) out=$(out) err=$(errout)"; fi
# What get printed, applied back: no passwords in it, so the stored ones are kept.
run apply -f "$T/get.yaml" "${D[@]}"
if [ "$(rc)" = 0 ] && [ "$(out)" = "Realm \"$R1\": unchanged" ] && [ "$(spw "$R1" ghcr.io)" = "$PW1" ]; then
    tap_ok "apply of get -o yaml's output (no passwords): unchanged, the stored passwords kept"
else tap_fail "apply get output" "rc=$(rc) out=$(out) err=$(errout)"; fi

sed "s/$PW1\", serverAddress: ghcr.io/$PW3\", serverAddress: ghcr.io/" "$T/r1.yaml" >"$T/r1b.yaml"
gen_before=$(jq -r .metadata.generation "$m")
run apply -f "$T/r1b.yaml" "${D[@]}"
if [ "$(rc)" = 0 ] && [ "$(out)" = "Realm \"$R1\": updated
  - spec.registryCredentials[ghcr.io].password" ] && [ "$(spw "$R1" ghcr.io)" = "$PW3" ] \
    && [ "$(spw "$R1" 127.0.0.1:5000)" = "$PW1" ] && [ "$(jq -r .metadata.generation "$m")" = "$gen_before" ]; then
    tap_ok "a changed password: updated, the field named, the value not shown; only the secrets rewritten"
else tap_fail "password changed" "rc=$(rc) out=$(out) err=$(errout)"; fi
run apply -f "$T/r1b.yaml" -o json "${D[@]}"
if [ "$(rc)" = 0 ] && [ "$(jq -r '.resources[0].action' "$T/out")" = unchanged ] && ! leaks "$T/out" >/dev/null; then
    tap_ok "apply -o json of it again: unchanged, no password in the reply"
else tap_fail "apply -o json" "rc=$(rc) out=$(out)"; fi

# --- kuke create registry-credential ---------------------------------------------------------------
printf '%s\n' "$PW4" | "$KUKE" create registry-credential "$R1" --server quay.io --username dave --password-stdin "${D[@]}" >"$T/out" 2>"$T/err"
c_rc=$?
if [ $c_rc = 0 ] && [ "$(out)" = "Registry credential \"quay.io\" (realm \"$R1\", username \"dave\")
  - credential: created" ] && [ "$(spw "$R1" quay.io)" = "$PW4" ] && ! leaks "$T/out" "$T/err" >/dev/null; then
    tap_ok "create registry-credential --password-stdin: created, the password not echoed"
else tap_fail "create regcred" "rc=$c_rc out=$(out) err=$(errout)"; fi
printf '%s' "$PW5" | "$KUKE" create regcred "$R1" --server quay.io --username erin --password-stdin "${D[@]}" >"$T/out" 2>"$T/err"
c_rc=$?
n_quay=$(jq '[.spec.registryCredentials[] | select(.serverAddress == "quay.io")] | length' "$m")
if [ $c_rc = 0 ] && grep -q 'credential: updated' "$T/out" && [ "$n_quay" = 1 ] && [ "$(spw "$R1" quay.io)" = "$PW5" ] \
    && [ "$(jq -r '.spec.registryCredentials[] | select(.serverAddress == "quay.io") | .username' "$m")" = erin ] \
    && [ "$(jq '.spec.registryCredentials | length' "$m")" = 4 ] && [ "$(spw "$R1" ghcr.io)" = "$PW3" ]; then
    tap_ok "a second create for the same server replaces it (one entry, new user and password; the others kept)"
else tap_fail "upsert" "rc=$c_rc out=$(out) err=$(errout) n=$n_quay"; fi
printf '%s' "$PW5" | "$KUKE" create registry-cred "$R1" --server quay.io --username erin --password-stdin "${D[@]}" >"$T/out" 2>"$T/err"
if grep -q 'credential: unchanged' "$T/out"; then tap_ok "the same credential again: unchanged"
else tap_fail "upsert unchanged" "out=$(out) err=$(errout)"; fi

printf '%s\n' "$PW6" >"$T/pwfile"
run create registry-credential "$R1" --server "HTTPS://Registry.Example:5443/" --username frank --from-file "$T/pwfile" --insecure-skip-tls-verify "${D[@]}"
if [ "$(rc)" = 0 ] && grep -q '"registry.example:5443"' "$T/out" && [ "$(spw "$R1" registry.example:5443)" = "$PW6" ] \
    && [ "$(jq -r '.spec.registryCredentials[] | select(.serverAddress == "registry.example:5443") | .insecureSkipTLSVerify' "$m")" = true ]; then
    tap_ok "--from-file (trailing newline dropped), --server normalised, --insecure-skip-tls-verify stored"
else tap_fail "from-file" "rc=$(rc) out=$(out) err=$(errout)"; fi

printf '%s' "$PW7" | KUKEON_NO_DAEMON=true "$KUKE" create regcred "$R1" --username gina --password-stdin "${I[@]}" >"$T/out" 2>"$T/err"
c_rc=$?
if [ $c_rc = 0 ] && grep -q 'Registry credential "docker.io"' "$T/out" && [ "$(spw "$R1" docker.io)" = "$PW7" ] \
    && [ "$(mode_of "$(sfile "$R1")")" = "600 kukeon" ] && dir_private "$(sdir "$R1")"; then
    tap_ok "in-process (no --server: docker.io) as root: the secrets stay 0600 and owned by kukeon"
else tap_fail "in-process create" "rc=$c_rc out=$(out) err=$(errout) file=$(mode_of "$(sfile "$R1")")"; fi

# On a terminal: asked for, not echoed (typed after the prompt, as a person would).
if command -v script >/dev/null; then
    (sleep 1; printf '%s\n' "$PW9") | script -qec "$KUKE create regcred $R1 --server tty.example --username tina --password-stdin ${D[*]}" /dev/null >"$T/out" 2>&1
    if grep -q 'Password: ' "$T/out" && grep -q 'credential: created' "$T/out" && ! grep -qF "$PW9" "$T/out" \
        && [ "$(spw "$R1" tty.example)" = "$PW9" ]; then
        tap_ok "--password-stdin on a terminal: asks \"Password: \" and does not echo it"
    else tap_fail "tty prompt" "out=$(out)"; fi
else tap_skip "tty prompt" "script (util-linux) is not installed"; fi

run create registry-credential nosuch-"$P" --username x --password-stdin "${D[@]}" </dev/null
if [ "$(rc)" = 1 ] && grep -q "realm \"nosuch-$P\" not found" "$T/err"; then tap_ok "create registry-credential for a missing realm: not found"
else tap_fail "missing realm" "rc=$(rc) out=$(out) err=$(errout)"; fi
run create registry-credential "$R1" --username x "${D[@]}" </dev/null
r1=$(rc); e1=$(errout)
run create registry-credential "$R1" --username x --server http://ghcr.io --password-stdin "${D[@]}" </dev/null
if [ "$r1" = 1 ] && echo "$e1" | grep -q 'exactly one of --password-stdin or --from-file' \
    && [ "$(rc)" = 1 ] && grep -q 'scheme "http://" is not supported' "$T/err"; then
    tap_ok "create registry-credential refuses a missing password source and an http:// server"
else tap_fail "create refusals" "no-source=[$e1] http=[$(errout)]"; fi

# --- who may read the secrets ------------------------------------------------------------------------
if command -v setpriv >/dev/null && useradd -r -M -N -g nogroup -G kukeon -s /bin/false "$UIN"; then
    as_member() { HOME=/nonexistent setpriv --reuid "$UIN" --regid nogroup --init-groups "$@"; }
    meta_ok=$(as_member cat "$m" >/dev/null 2>&1 && echo yes)
    sec_out=$(as_member cat "$(sfile "$R1")" 2>&1); sec_rc=$?
    if [ "$meta_ok" = yes ] && [ $sec_rc != 0 ] && echo "$sec_out" | grep -qi 'permission denied'; then
        tap_ok "a non-root member of group kukeon reads metadata.json but not the secrets (permission denied)"
    else tap_fail "member read" "meta=$meta_ok rc=$sec_rc out=$sec_out"; fi
else
    tap_skip "member read" "setpriv missing or could not create the test user"
fi

# --- refusals ----------------------------------------------------------------------------------------
bad() { # name, yaml of one entry, expected message part
    printf 'kind: Realm\nmetadata: {name: %s}\nspec:\n  registryCredentials:\n    - {username: ok, password: "%s", serverAddress: ghcr.io}\n    - %s\n' \
        "$R2" "$PW8" "$2" >"$T/bad.yaml"
    run apply -f "$T/bad.yaml" "${D[@]}"
    if [ "$(rc)" = 1 ] && grep -qF -- "$3" "$T/err" && ! leaks "$T/out" "$T/err" >/dev/null && [ ! -e "$(meta "$R2")" ]; then
        tap_ok "refused: $1"
    else tap_fail "refused: $1" "rc=$(rc) out=$(out) err=$(errout)"; fi
}
bad "an http:// server" '{username: u, password: p, serverAddress: "http://ghcr.io"}' \
    'spec.registryCredentials[1].serverAddress scheme "http://" is not supported'
bad "a server with a path" '{username: u, password: p, serverAddress: "ghcr.io/org/repo"}' \
    'spec.registryCredentials[1].serverAddress "ghcr.io/org/repo" has a path'
bad "an empty username" '{username: "", password: p, serverAddress: quay.io}' \
    'spec.registryCredentials[1].username is required'
bad "a control byte in the password" "{username: u, password: \"$PW8\\x01\", serverAddress: quay.io}" \
    'spec.registryCredentials[1].password holds a control character'
bad "a duplicate server (https://GHCR.io/ is ghcr.io)" '{username: u, password: p, serverAddress: "https://GHCR.io/"}' \
    'spec.registryCredentials[1].serverAddress "ghcr.io" repeats entry 0'
printf 'kind: Realm\nmetadata: {name: %s}\nspec:\n  registryCredentials:\n    - {username: u, serverAddress: new.example}\n' "$R1" >"$T/nopw.yaml"
run apply -f "$T/nopw.yaml" "${D[@]}"
if [ "$(rc)" = 1 ] && grep -q 'spec.registryCredentials\[0\].password is required' "$T/out" \
    && [ "$(jq '.spec.registryCredentials | length' "$m")" = 6 ]; then
    tap_ok "a new entry without a password is refused; the realm keeps its credentials"
else tap_fail "no password" "rc=$(rc) out=$(out) err=$(errout)"; fi

# --- delete and purge remove the secrets; no log holds a password ----------------------------------
run delete realm "$R1" "${D[@]}"
if [ "$(rc)" = 0 ] && [ ! -e "$(sdir "$R1")" ] && [ ! -e "$T/opt/data/$R1" ]; then
    tap_ok "delete realm removes its secrets and its directory"
else tap_fail "delete" "rc=$(rc) out=$(out) err=$(errout) left=$(ls -la "$T/opt/data/$R1" 2>&1)"; fi
printf 'kind: Realm\nmetadata: {name: %s}\nspec:\n  registryCredentials:\n    - {username: u, password: "%s"}\n' "$R2" "$PW8" >"$T/r2.yaml"
run apply -f "$T/r2.yaml" "${D[@]}"
a_rc=$(rc)
"$KUKE" purge realm "$R2" "${I[@]}" >"$T/out" 2>&1
p_rc=$?
if [ "$a_rc" = 0 ] && [ $p_rc = 0 ] && [ ! -e "$(sdir "$R2")" ] && [ ! -e "$T/opt/data/$R2" ]; then
    tap_ok "purge realm (in-process) removes its secrets too"
else tap_fail "purge" "apply=$a_rc out=$(out) left=$(ls -la "$T/opt/data/$R2" 2>&1)"; fi

if [ -d "$T/log" ] && [ -n "$(ls -A "$T/log")" ] && ! leak=$(leaks "$T/log"); then
    tap_ok "no password in the daemon's log or the helpers' audit logs ($(ls "$T/log" | tr '\n' ' '))"
else tap_fail "log leak" "leaked=${leak:-} logs=$(ls "$T/log" 2>&1)"; fi
