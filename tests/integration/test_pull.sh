#!/usr/bin/env bash
# Pulling images from registries end to end (docs/images.md), against Debian's docker-registry over TLS
# with htpasswd auth and the fake registry (tests/lib/registry.sh), through a private kukeond and
# in-process: kuke image pull with the realm's credentials (final line, get images, a second pull
# fetches no blob, progress on a terminal); kuke run, create cell (in-process too) and apply pull a
# missing image before creating the cell; wrong credentials, an unknown repository, a registry that is
# down and a blob whose digest does not match each fail naming the image and leave no image record
# and no lease; a pull failing in apply leaves the cell Failed with the registry's message; a
# multi-platform index pulls the host's platform; kukeon.internal/ is never pulled; while the daemon
# pulls for one `kuke run` (a layer that trickles), other writes go through (the pull is outside the
# writer lock), and the run then ends with its cell Ready; two runs pulling one image at once both work.
set -u
. "$KUKEON_TOP/tests/lib/tap.sh"
. "$KUKEON_TOP/tests/lib/kukeond.sh"
. "$KUKEON_TOP/tests/lib/registry.sh"
B=$BUILD
KUKE="$B/bin/kuke"
N=18
tap_plan $N

kd_need_root "pull"
[ -n "${KUKEON_TEST_IMAGE:-}" ] || kd_skip_all "pull" "KUKEON_TEST_IMAGE is not set (the harness could not build busybox)"

kd_env pull pul 10.253.0.0/16
R1="${P}-pl1" # the credentials are right
R2="${P}-pl2" # the password is wrong
R3="${P}-pl3" # holds nothing: a pull into it fetches every layer
RX="${P}-plx" # created while R3 pulls
S=(--realm "$R1" --space sp --stack st)
CTR=(ctr --address "$KUKEON_TEST_CONTAINERD_SOCKET")

cleanup() {
    [ -n "${runpid:-}" ] && kill "$runpid" 2>/dev/null && wait "$runpid" 2>/dev/null
    kd_purge "$R1" "$R2" "$R3" "$RX"
    kd_stop
    kd_purge default kuke-system # after the stop: the daemon group lives in kuke-system's cgroup
    reg_stop
}
trap cleanup EXIT

reg_start || kd_skip_all "pull" "$REG_SKIP_REASON"
reg_fake_start || kd_skip_all "pull" "$REG_SKIP_REASON"
reg_push "$KUKEON_TEST_IMAGE" test/busybox:1 && reg_push "$KUKEON_TEST_IMAGE" test/busybox:2 \
    || kd_skip_all "pull" "skopeo could not push the test image"
IMG1="$REG_HOST/test/busybox:1"
IMG2="$REG_HOST/test/busybox:2"

# Nothing of a failed pull in the realm's namespace: no image record named like $2, no lease.
nothing_left() { # realm name-fragment
    local imgs leases
    imgs=$("${CTR[@]}" -n "$1.kukeon.io" images ls -q 2>&1 | grep -F "$2")
    leases=$("${CTR[@]}" -n "$1.kukeon.io" leases ls -q 2>&1)
    [ -z "$imgs" ] && [ -z "$leases" ] || { echo "images: $imgs leases: $leases"; return 1; }
}
cred() { # realm server password
    printf '%s' "$3" | "$KUKE" create registry-credential "$1" --username "$REG_USER" --password-stdin \
        --server "$2" --insecure-skip-tls-verify "${D[@]}"
}

# --- setup: daemon, realms with credentials ------------------------------------------------------------
out=$(out_of init --no-daemon "${D[@]}" "${I[@]}")
ok=$(rc)
out2=$(out_of daemon start "${D[@]}" --run-path "$T/opt" "${CONF[@]}")
made=0
for r in "$R1" "$R2"; do
    "$KUKE" create realm "$r" "${D[@]}" >/dev/null 2>&1 || made=1
done
"$KUKE" create space sp --realm "$R1" "${D[@]}" >/dev/null 2>&1 && "$KUKE" create stack st --realm "$R1" --space sp "${D[@]}" >/dev/null 2>&1 || made=1
c1=$(cred "$R1" "$REG_HOST" "$REG_PASS" 2>&1) && c2=$(cred "$R1" "$FREG_HOST" "$REG_PASS" 2>&1) \
    && c3=$(cred "$R2" "$REG_HOST" "wrong-$REG_PASS" 2>&1) || made=1
if [ "$ok" = 0 ] && [ "$(rc)" = 0 ] && [ $made = 0 ]; then
    tap_ok "a private kukeond, two realms with registry credentials (one wrong), a registry holding busybox"
else tap_fail "setup" "init: $out // daemon: $out2 // creds: ${c1:-} ${c2:-} ${c3:-} $(grep -hiE 'apply|signal|exit|died' "$T"/log/*.log | tail -8)"; fi

# --- kuke image pull -------------------------------------------------------------------------------------
out=$(out_of image pull "$IMG1" --realm "$R1" "${I[@]}")
blobs1=$(reg_requests "/blobs/sha256:")
listed=$("$KUKE" get images --realm "$R1" "${I[@]}" 2>&1)
if [ "$(rc)" = 0 ] && echo "$out" | grep -qx "Pulled $IMG1 (sha256:[0-9a-f]\{64\}) into realm \"$R1\"" \
    && [ "$(echo "$out" | wc -l)" = 1 ] && echo "$listed" | grep -q "^$IMG1  $R1  " && [ "$blobs1" -ge 2 ] \
    && nothing_left "$R1" no-such-image >/dev/null; then
    tap_ok "image pull REF --realm: one line when not a terminal, get images lists it, no lease left"
else tap_fail "image pull" "rc=$(rc) out=$out listed=$listed blob GETs=$blobs1"; fi

out=$(out_of image pull "$IMG1" --realm "$R1" "${I[@]}")
blobs2=$(reg_requests "/blobs/sha256:")
if [ "$(rc)" = 0 ] && echo "$out" | grep -q "^Pulled $IMG1 " && [ "$blobs2" = "$blobs1" ]; then
    tap_ok "a second pull of the same image fetches no blob (the realm holds them: skipped)"
else tap_fail "second pull" "rc=$(rc) out=$out blob GETs $blobs1 -> $blobs2"; fi

# --- run and apply pull what is missing ------------------------------------------------------------------
out=$(out_of run --rm --image "$IMG2" --name once --command 'echo pulled-ok' "${S[@]}" "${D[@]}" </dev/null)
if [ "$(rc)" = 0 ] && echo "$out" | tr -d '\r' | grep -qx 'pulled-ok' \
    && "$KUKE" get images --realm "$R1" "${I[@]}" 2>&1 | grep -q "^$IMG2 "; then
    tap_ok "kuke run --rm --image REF (not in the realm) pulls it and prints pulled-ok"
else tap_fail "run pulls" "rc=$(rc) out=$out"; fi

# In-process (the controller in kuke, which starts kuke-fetchd itself): create cell pulls too.
"$KUKE" image rm "$IMG2" --realm "$R1" "${I[@]}" >/dev/null 2>&1
out=$(out_of create cell c2 "${S[@]}" --image "$IMG2" --command "sleep 60" "${I[@]}")
if [ "$(rc)" = 0 ] && "$KUKE" get images --realm "$R1" "${I[@]}" 2>&1 | grep -q "^$IMG2 "; then
    tap_ok "in-process create cell --image REF (not in the realm) pulls it"
else tap_fail "in-process create cell pulls" "rc=$(rc) out=$out"; fi
"$KUKE" delete cell c2 "${S[@]}" "${D[@]}" >/dev/null 2>&1

"$KUKE" image rm "$IMG1" --realm "$R1" "${I[@]}" >/dev/null 2>&1
cat >"$T/cell.yaml" <<Y
apiVersion: v1beta1
kind: Cell
metadata:
  name: web
spec:
  realmId: $R1
  spaceId: sp
  stackId: st
  containers:
    - id: app
      image: $IMG1
      command: sleep
      args: ["600"]
Y
out=$(out_of apply -f "$T/cell.yaml" "${D[@]}")
st=$("$KUKE" get cell web "${S[@]}" -o json "${D[@]}" 2>/dev/null | jq -r .status.state)
if [ "$(rc)" = 0 ] && [ "$st" = Ready ] && "$KUKE" get images --realm "$R1" "${I[@]}" 2>&1 | grep -q "^$IMG1 " \
    && grep -q "pulling $IMG1 into realm $R1" "$T/log/kukeond.log" 2>/dev/null; then
    tap_ok "apply of a cell whose image is missing pulls it first (the daemon logs the pull); the cell is Ready"
else tap_fail "apply pulls" "rc=$(rc) out=$out state=$st $(grep -h pull "$T"/log/*.log 2>/dev/null | tail -3)"; fi

# --- failures: named, nothing half-stored ------------------------------------------------------------------
out=$(out_of image pull "$IMG1" --realm "$R2" "${I[@]}")
left=$(nothing_left "$R2" test/busybox)
if [ "$(rc)" != 0 ] && echo "$out" | grep -qF "$IMG1" && echo "$out" | grep -qi "realm \"$R2\"" && [ -z "$left" ] \
    && echo "$out" | grep -qiE 'credential|unauthori[sz]ed|authenticat|denied' \
    && ! echo "$out" | grep -qF "$REG_PASS"; then
    tap_ok "wrong credentials: refused naming the image and realm, no image record, no lease"
else tap_fail "wrong credentials" "rc=$(rc) out=$out $left"; fi

out=$(out_of image pull "$REG_HOST/test/nope:1" --realm "$R1" "${I[@]}")
left=$(nothing_left "$R1" test/nope)
if [ "$(rc)" != 0 ] && echo "$out" | grep -qF "$REG_HOST/test/nope:1" && [ -z "$left" ]; then
    tap_ok "an unknown repository: an error naming the image, nothing stored"
else tap_fail "unknown repository" "rc=$(rc) out=$out $left"; fi

down="127.0.0.1:$(_reg_free_port)"
out=$(out_of image pull "$down/test/busybox:1" --realm "$R1" "${I[@]}")
left=$(nothing_left "$R1" "$down")
if [ "$(rc)" != 0 ] && echo "$out" | grep -qF "$down/test/busybox:1" && [ -z "$left" ]; then
    tap_ok "a registry that is down: an error naming the image, nothing stored"
else tap_fail "registry down" "rc=$(rc) out=$out $left"; fi

out=$(out_of image pull "$FREG_HOST/bad/busybox:1" --realm "$R1" "${I[@]}")
left=$(nothing_left "$R1" bad/busybox)
if [ "$(rc)" != 0 ] && echo "$out" | grep -qF "$FREG_HOST/bad/busybox:1" && echo "$out" | grep -qiE 'digest|not sha256:' \
    && [ -z "$left" ]; then
    tap_ok "a blob whose digest does not match: refused naming the image, nothing stored"
else tap_fail "bad digest" "rc=$(rc) out=$out $left"; fi

# On a terminal: one line per layer with its bytes, redrawn in place, then the total and the final line.
script -qec "$(printf '%q ' "$KUKE" image pull "$FREG_HOST/plain/busybox:1" --realm "$R1" "${I[@]}")" /dev/null \
    >"$T/tty.out" 2>&1
out=$(tr -d '\r' <"$T/tty.out" | sed 's/\x1b\[[0-9]*[AK]//g')
if echo "$out" | grep -q "^Pulling $FREG_HOST/plain/busybox:1$" \
    && echo "$out" | grep -qE '^sha256:[0-9a-f]{8}…  [0-9.]+ MiB / [0-9.]+ MiB$' \
    && echo "$out" | grep -qE '^total +[0-9.]+ [KM]iB / [0-9.]+ [KM]iB$' \
    && [ "$(echo "$out" | tail -1)" = "$(echo "$out" | grep "^Pulled $FREG_HOST/plain/busybox:1 (sha256:")" ] \
    && grep -q $'\x1b\\[[0-9]*A' "$T/tty.out"; then
    tap_ok "on a terminal: per-layer progress (digest, MiB done / size) redrawn in place, then the Pulled line"
else tap_fail "progress on a terminal" "$(cat -v "$T/tty.out" | head -20)"; fi

# The index lists linux/amd64, linux/arm64 and linux/riscv64 manifests (tests/tools/fake_registry.py;
# the other platforms' blobs are never served; the host's entry is the busybox test image's own
# manifest): only the tag and the host's manifest may be asked for, and that manifest is recorded.
: >"$FREG_LOG"
out=$(out_of image pull "$FREG_HOST/multi/busybox:1" --realm "$R1" "${I[@]}")
asked=$(grep -o 'GET /v2/multi/busybox/manifests/[^ ]*' "$FREG_LOG" | sort -u)
platform_manifest=$(grep -o 'manifests/sha256:[0-9a-f]*' <<<"$asked" | cut -d/ -f2)
if [ "$(rc)" = 0 ] && echo "$out" | grep -q "^Pulled $FREG_HOST/multi/busybox:1 ($platform_manifest)" \
    && [ "$(wc -l <<<"$asked")" = 2 ] && grep -q 'manifests/1$' <<<"$asked" \
    && [ "$platform_manifest" = "$(tar -xOf "$KUKEON_TEST_IMAGE" index.json | jq -r '.manifests[0].digest')" ]; then
    tap_ok "a multi-platform index: only the host's platform manifest is asked for, and recorded"
else tap_fail "multi-platform" "rc=$(rc) out=$out asked: $asked"; fi

out=$(out_of image pull kukeon.internal/kukepause:x --realm "$R1" "${I[@]}")
if [ "$(rc)" != 0 ] && echo "$out" | grep -q "never pulls"; then
    tap_ok "kukeon.internal/ images are never pulled"
else tap_fail "kukeon.internal" "rc=$(rc) out=$out"; fi

# --- a failing pull in apply: the cell is Failed with the registry's message -------------------------------
# The daemon pulls before its writer lock, and does not ask the registry again under it.
sed -e "s/name: web/name: bad/" -e "s#image: .*#image: $REG_HOST/test/nope:1#" "$T/cell.yaml" >"$T/bad.yaml"
out=$(out_of apply -f "$T/bad.yaml" "${D[@]}")
doc=$("$KUKE" get cell bad "${S[@]}" -o json "${D[@]}" 2>/dev/null)
pulls=$(grep -cE "pulling $REG_HOST/test/nope:1 into realm $R1( \(|\$)" "$T/log/kukeond.log" 2>/dev/null)
again=$(grep -c "pulling $REG_HOST/test/nope:1 into realm $R1: not asked again" "$T/log/kukeond.log" 2>/dev/null)
if [ "$(rc)" != 0 ] && echo "$doc" | jq -e --arg i "$REG_HOST/test/nope:1" \
    '.status.state == "Failed"
     and (.status.message | contains($i) and contains("pulling"))' >/dev/null 2>&1 \
    && [ -z "$(nothing_left "$R1" test/nope)" ] && [ "$pulls" = 1 ] && [ "$again" = 1 ]; then
    tap_ok "apply of a cell whose image cannot be pulled: the cell is Failed with the registry's message, asked once"
else tap_fail "apply pull failure" "rc=$(rc) out=$out pulls logged=$pulls, not again=$again doc=$(echo "$doc" | jq -c .status 2>/dev/null)"; fi

# --- a pull does not hold the other writes up --------------------------------------------------------------
# slow/busybox:1's layer trickles (about 4 s, tests/tools/fake_registry.py). While `kuke run` waits for
# it, writes on other realms complete: the daemon pulls before it takes its writer lock. The order is
# asserted (the run is still going when they are done), never a duration.
made=0
{ "$KUKE" create realm "$R3" "${D[@]}" && "$KUKE" create space sp --realm "$R3" "${D[@]}" \
    && "$KUKE" create stack st --realm "$R3" --space sp "${D[@]}" && cred "$R3" "$FREG_HOST" "$REG_PASS"; } \
    >"$T/r3.out" 2>&1 || made=1
SLOW="$FREG_HOST/slow/busybox:1"
mdig=$(tar -xOf "$KUKEON_TEST_IMAGE" index.json | jq -r '.manifests[0].digest')
layer=$(tar -xOf "$KUKEON_TEST_IMAGE" "blobs/sha256/${mdig#sha256:}" | jq -r '.layers[-1].digest')
"$KUKE" run -d --image "$SLOW" --name slow --command "sleep 600" --realm "$R3" --space sp --stack st \
    "${D[@]}" >"$T/slow.out" 2>&1 </dev/null &
runpid=$!
began=0
for _ in $(seq 1 400); do # until the layer's request has begun (or the run ended: then it fails below)
    grep -q "GET /v2/slow/busybox/blobs/$layer " "$FREG_LOG" && { began=1; break; }
    kill -0 "$runpid" 2>/dev/null || break
    sleep 0.05
done
"$KUKE" create realm "$RX" "${D[@]}" >"$T/x.out" 2>&1
xrc=$?
"$KUKE" create space other --realm "$R1" "${D[@]}" >>"$T/x.out" 2>&1
src=$?
running=0
kill -0 "$runpid" 2>/dev/null && running=1
if [ $made = 0 ] && [ $began = 1 ] && [ $xrc = 0 ] && [ $src = 0 ] && [ $running = 1 ]; then
    tap_ok "while kuke run pulls (its layer still arriving), create realm and create space complete first"
else tap_fail "writes during a pull" "setup=$made ($(cat "$T/r3.out")) layer begun=$began create realm rc=$xrc space rc=$src \
run still pulling=$running: $(cat "$T/x.out") // run: $(cat "$T/slow.out")"; fi

wait "$runpid"
runrc=$?
runpid=""
st=$("$KUKE" get cell slow --realm "$R3" --space sp --stack st -o json "${D[@]}" 2>/dev/null | jq -r .status.state)
pulls=$(grep -cE "pulling $SLOW into realm $R3( \(|\$)" "$T/log/kukeond.log" 2>/dev/null)
if [ $runrc = 0 ] && [ "$st" = Ready ] && "$KUKE" get images --realm "$R3" "${I[@]}" 2>&1 | grep -q "^$SLOW " \
    && [ "$pulls" = 1 ]; then
    tap_ok "then the run ends: the image pulled once, the cell Ready"
else tap_fail "run after the slow pull" "rc=$runrc state=$st pulls logged=$pulls out=$(cat "$T/slow.out")"; fi

# Two requests pulling one image at once (each before the lock, on its own worker thread): both cells Ready.
"$KUKE" run -d --image "$FREG_HOST/plain/busybox:1" --name twin1 --command "sleep 600" --realm "$R3" --space sp \
    --stack st "${D[@]}" >"$T/twin1.out" 2>&1 </dev/null &
twin=$!
out=$(out_of run -d --image "$FREG_HOST/plain/busybox:1" --name twin2 --command "sleep 600" --realm "$R3" \
    --space sp --stack st "${D[@]}" </dev/null)
rc2=$(rc)
wait "$twin"
rc1=$?
st1=$("$KUKE" get cell twin1 --realm "$R3" --space sp --stack st -o json "${D[@]}" 2>/dev/null | jq -r .status.state)
st2=$("$KUKE" get cell twin2 --realm "$R3" --space sp --stack st -o json "${D[@]}" 2>/dev/null | jq -r .status.state)
if [ $rc1 = 0 ] && [ "$rc2" = 0 ] && [ "$st1" = Ready ] && [ "$st2" = Ready ] \
    && [ -z "$("${CTR[@]}" -n "$R3.kukeon.io" leases ls -q 2>&1)" ]; then
    tap_ok "two runs pulling the same missing image at once: both cells Ready, no lease left"
else tap_fail "two pulls at once" "rc=$rc1/$rc2 states=$st1/$st2 out1=$(cat "$T/twin1.out") out2=$out"; fi

# On a terminal, a create that is still pulling after two seconds says so (kuke/cmd_run.c): the wait
# is not a silent one. RX (made above) gets a space, a stack and the fake registry's credentials;
# the slow image is not in it yet.
{ "$KUKE" create space sp --realm "$RX" "${D[@]}" && "$KUKE" create stack st --realm "$RX" --space sp "${D[@]}" \
    && cred "$RX" "$FREG_HOST" "$REG_PASS"; } >"$T/rx.out" 2>&1
script -qec "$(printf '%q ' "$KUKE" run -d --image "$SLOW" --name slow2 --command "sleep 600" --realm "$RX" \
    --space sp --stack st "${D[@]}")" /dev/null </dev/null >"$T/notice.out" 2>&1
if grep -q "kuke: still creating cell \"slow2\": kukeond pulls the images the realm does not have yet ($SLOW)" \
    "$T/notice.out" && grep -q '^Cell "slow2" is running' "$T/notice.out"; then
    tap_ok "on a terminal, a run still pulling after two seconds says so, then the cell runs"
else tap_fail "pull notice" "$(cat -v "$T/notice.out") // $(cat "$T/rx.out")"; fi
