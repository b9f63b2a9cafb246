#!/usr/bin/env bash
# The user's journey of issue 7, end to end with the kuke CLI on a private run path: kuke init (the
# daemon group, the default and system hierarchies, the pause image) → the busybox image loaded →
# kuke apply -f of a realm, a space, a stack and two cells (create + start when apply is not
# there) → kuke get cells shows both Ready with the reference's columns → the cells reach each
# other by IP → stop/start/kill/restart move the states as the reference says → delete realm
# --cascade removes every host artifact (containerd namespace, cgroups, netns pins, bridge,
# conflists, IPAM entries, metadata) → uninstall -y leaves nothing of the run path behind.
set -u
. "$KUKEON_TOP/tests/lib/tap.sh"
. "$KUKEON_TOP/tests/lib/kukeond.sh"
B=$BUILD
KUKE="$B/bin/kuke"
N=13
tap_plan $N

skip_all() { kd_skip_all journey "$1"; }
kd_need_root journey
[ -n "${KUKEON_TEST_IMAGE:-}" ] || skip_all "KUKEON_TEST_IMAGE is not set (the harness could not build busybox)"

kd_env journey jny 10.248.0.0/16
R="${P}-jr"
IMG=kukeon.local/busybox:test
S=(--realm "$R" --space web --stack app)
CTR=(ctr --address "$KUKEON_TEST_CONTAINERD_SOCKET")

cleanup() {
    kd_purge --force "$R" default kuke-system
    kd_stop
}
trap cleanup EXIT

state() { "$KUKE" get cell "$1" "${S[@]}" -o json "${D[@]}" 2>/dev/null | jq -r '.status.state'; }
v2=$(cgroup2_mount)

# --- init ---------------------------------------------------------------------------------------------
# First in-process (the host and both hierarchies, no daemon); then, as an operator would after a
# reboot, init again with the daemon (--no-daemon=false: an explicit --run-path alone promotes).
"$KUKE" init --no-daemon "${D[@]}" "${I[@]}" >"$T/init0.out" 2>&1
out=$(out_of init --no-daemon=false "${D[@]}" "${I[@]}")
i0=$(cat "$T/init0.out")
if [ "$(rc)" = 0 ] && [ "$(echo "$out" | head -1)" = "Kukeon runtime already initialized" ] \
    && echo "$i0" | grep -qx '  Default hierarchy:' && echo "$i0" | grep -qx '    - realm "default": created' \
    && echo "$i0" | grep -qx '    - network "default-default": created' && echo "$i0" | grep -qx '  System hierarchy:' \
    && echo "$i0" | grep -qx '    - realm "kuke-system": created' && echo "$i0" | grep -qx '    - stack "kukeon": created' \
    && echo "$out" | grep -qx '    - realm "kuke-system": already existed' \
    && echo "$out" | tail -1 | grep -q "^kukeond is ready (unix://$SOCK"; then
    tap_ok "init: the hierarchies in-process, then the daemon group, which finds them"
else tap_fail "init" "rc=$(rc) init0=$i0 out=$out"; fi

out=$(out_of init --no-daemon=false "${D[@]}" "${I[@]}")
if [ "$(rc)" = 0 ] && echo "$out" | grep -qx '    - realm "default": already existed' \
    && ! echo "$out" | grep -q ': created$'; then tap_ok "init again: every hierarchy line says already existed"
else tap_fail "init is idempotent" "rc=$(rc) out=$out"; fi

out=$(out_of get realms "${D[@]}")
if echo "$out" | grep -q '^default  *Ready ' && echo "$out" | grep -q '^kuke-system  *Ready '; then
    tap_ok "get realms: default and kuke-system are Ready"
else tap_fail "get realms after init" "$out"; fi

# --- the image, the hierarchy and two cells --------------------------------------------------------
"$KUKE" create realm "$R" "${D[@]}" >/dev/null 2>&1
out=$(out_of image load "$KUKEON_TEST_IMAGE" --realm "$R" "${I[@]}")
if [ "$(rc)" = 0 ]; then tap_ok "image load into the journey's realm"
else tap_fail "image load" "$out"; fi

# web serves its own /etc/hostname (its cell name) on 8080; client fetches it from web's IP with nc
# (busybox-static's wget crashes in the static resolver).
cat >"$T/web.yaml" <<EOF
apiVersion: v1beta1
kind: Realm
metadata:
  name: $R
---
apiVersion: v1beta1
kind: Space
metadata:
  name: web
spec:
  realmId: $R
---
apiVersion: v1beta1
kind: Stack
metadata:
  name: app
spec:
  realmId: $R
  spaceId: web
---
apiVersion: v1beta1
kind: Cell
metadata:
  name: web
  labels:
    tier: front
spec:
  realmId: $R
  spaceId: web
  stackId: app
  containers:
    - id: httpd
      image: $IMG
      command: /bin/httpd
      args: ["-f", "-p", "8080", "-h", "/"]
EOF
client_yaml() {
    cat <<EOF
apiVersion: v1beta1
kind: Cell
metadata:
  name: client
  labels:
    tier: back
spec:
  realmId: $R
  spaceId: web
  stackId: app
  containers:
    - id: fetch
      image: $IMG
      command: /bin/sh
      args: ["-c", "while true; do (echo 'GET /etc/hostname HTTP/1.0'; echo) | nc -w 2 $1 8080 && sleep 3600; sleep 1; done"]
EOF
}
APPLY=1
"$KUKE" apply --help >/dev/null 2>&1 || APPLY=0
if [ $APPLY = 1 ]; then
    out=$(out_of apply -f "$T/web.yaml" "${D[@]}")
else
    # Without apply: the same hierarchy and cell with create and start (an attachable container).
    out=$({ "$KUKE" create space web --realm "$R" "${D[@]}" && "$KUKE" create stack app --realm "$R" --space web "${D[@]}" \
        && "$KUKE" create cell web "${S[@]}" --image "$IMG" --command "/bin/httpd -f -p 8080 -h /" "${D[@]}" \
        && "$KUKE" start web "${S[@]}" "${D[@]}"; } 2>&1)
    echo $? >"$T/rc"
fi
WEBIP=$(awk '$2 == "web" {print $1}' "$T/opt/data/$R/web/app/web/etc-hosts" 2>/dev/null)
KNOWN=""
if echo "$out" | grep -q 'log path .*: Permission denied'; then
    # Known, not the CLI's: kuke-ctrd runs without the run path's group and cannot walk the cell's
    # directories (security/profile_ctrd.c needs the kukeon group; reported).
    KNOWN="kuke-ctrd cannot walk the run path (its role lacks group kukeon)"
fi
if [ -n "$KNOWN" ]; then
    for i in 5 6 7 8 9 10; do tap_skip "journey cells $i" "$KNOWN: $(echo "$out" | grep -m1 'Error')"; done
elif [ "$(rc)" = 0 ] && [ "$(state web)" = Ready ] && [ -n "$WEBIP" ]; then tap_ok "cell web created and started ($WEBIP), apply=$APPLY"
else tap_fail "cell web" "rc=$(rc) out=$out state=$(state web)"; fi

if [ -n "$KNOWN" ]; then :
elif [ $APPLY = 1 ]; then
    client_yaml "$WEBIP" >"$T/client.yaml"
    out=$(out_of apply -f "$T/client.yaml" "${D[@]}")
else
    # A shell loop does not fit --command (split on spaces): the client needs apply.
    out="kuke apply is not available"; echo 1 >"$T/rc"
fi
if [ -n "$KNOWN" ]; then :
elif [ "$(rc)" = 0 ] && [ "$(state client)" = Ready ]; then tap_ok "cell client created and started"
else tap_fail "cell client" "rc=$(rc) out=$out state=$(state client)"; fi

out=$(out_of get cells --realm "$R" "${D[@]}")
if [ -n "$KNOWN" ]; then :
elif [ "$(rc)" = 0 ] && echo "$out" | head -1 | grep -qx 'NAME  *REALM  *SPACE  STACK  STATE  SYNC  AGE *' \
    && echo "$out" | grep -q "^client  $R  web    app    Ready  -     [0-9]*[smhd] *$" \
    && echo "$out" | grep -q "^web     $R  web    app    Ready  -     [0-9]*[smhd] *$"; then
    tap_ok "get cells: both Ready, NAME REALM SPACE STACK STATE SYNC AGE"
else tap_fail "get cells" "rc=$(rc) out=$out"; fi

# --- the cells reach each other by IP -------------------------------------------------------------------
got=""
[ -n "$KNOWN" ] || for i in $(seq 1 50); do
    got=$(cat "$T/opt/data/$R/web/app/client/fetch/log" 2>/dev/null)
    echo "$got" | grep -qx web && break
    sleep 0.2
done
if [ -n "$KNOWN" ]; then :
elif echo "$got" | grep -qx web; then tap_ok "client fetched http://$WEBIP:8080/etc/hostname from web: \"web\""
else tap_fail "cells reach each other by IP" "log: $got"; fi

# --- lifecycle ------------------------------------------------------------------------------------------
a=$("$KUKE" stop web "${S[@]}" "${D[@]}" 2>&1); sa=$(state web)
b=$("$KUKE" start web "${S[@]}" "${D[@]}" 2>&1); sb=$(state web)
if [ -n "$KNOWN" ]; then :
elif [ "$a" = 'Stopped cell "web" from stack "app"' ] && [ "$sa" = Stopped ] && [ "$b" = 'Started cell "web" from stack "app"' ] && [ "$sb" = Ready ]; then
    tap_ok "stop → Stopped, start → Ready"
else tap_fail "stop/start" "stop: $a ($sa) start: $b ($sb)"; fi

a=$("$KUKE" kill web "${S[@]}" "${D[@]}" 2>&1); sa=$(state web)
b=$("$KUKE" restart web "${S[@]}" "${D[@]}" 2>&1); sb=$(state web)
c=$("$KUKE" restart -l tier=front "${S[@]}" "${D[@]}" 2>&1); sc=$(state web)
if [ -n "$KNOWN" ]; then :
elif [ "$a" = 'Killed cell "web" from stack "app"' ] && [ "$sa" = Stopped ] && [ "$b" = 'Restarted cell "web" from stack "app"' ] \
    && [ "$sb" = Ready ] && [ "$c" = 'Restarted cell "web" from stack "app"' ] && [ "$sc" = Ready ]; then
    tap_ok "kill → Stopped, restart → Ready, restart -l of a Ready cell → Ready"
else tap_fail "kill/restart" "kill: $a ($sa) restart: $b ($sb) restart -l: $c ($sc)"; fi

# --- delete realm --cascade removes every host artifact ------------------------------------------------
BRIDGE=$("$KUKE" get cell web "${S[@]}" -o json "${D[@]}" 2>/dev/null | jq -r '.status.network.bridgeName // empty')
out=$(out_of delete realm "$R" "${D[@]}")
if [ "$(rc)" = 1 ] && echo "$out" | grep -q "realm \"$R\" has 1 space(s). Use --cascade"; then tap_ok "delete realm without --cascade is refused"
else tap_fail "delete realm without --cascade" "rc=$(rc) out=$out"; fi

out=$(out_of delete realm "$R" --cascade "${D[@]}")
left=""
"${CTR[@]}" namespaces ls -q 2>/dev/null | grep -qx "$R.kukeon.io" && left="$left namespace"
[ -e "$v2$CGROOT/$R" ] && left="$left cgroup"
[ -e "$T/opt/data/$R" ] && left="$left metadata"
[ -n "$BRIDGE" ] && ip link show "$BRIDGE" >/dev/null 2>&1 && left="$left bridge:$BRIDGE"
ls "$T/cni/$R-"* >/dev/null 2>&1 && left="$left conflist"
[ -e "$NSTATE/$R" ] && left="$left netd-records"
ls -d /var/lib/cni/networks/"$R"-* >/dev/null 2>&1 && left="$left ipam"
if [ "$(rc)" = 0 ] && [ "$out" = "Deleted realm \"$R\"" ] && [ -z "$left" ]; then
    tap_ok "delete realm --cascade: namespace, cgroups, metadata, bridge, conflist, netd records and IPAM gone"
else tap_fail "delete realm --cascade" "rc=$(rc) out=$out left:$left"; fi

# --- uninstall ---------------------------------------------------------------------------------------
out=$(out_of uninstall -y "${D[@]}" "${I[@]}")
nsleft=$("${CTR[@]}" namespaces ls -q 2>/dev/null | grep -x 'default.kukeon.io\|kuke-system.kukeon.io' || true)
if [ "$(rc)" = 0 ] && [ ! -e "$T/opt" ] && [ ! -e "$T/run" ] && [ ! -e "$NSTATE" ] && [ ! -e "$v2$CGROOT" ] \
    && [ -z "$nsleft" ] && [ -z "$(ls "$T/cni" 2>/dev/null)" ]; then
    tap_ok "uninstall -y: nothing of the run path, its realms or its daemon is left"
else tap_fail "uninstall -y" "rc=$(rc) out=$out ns=$nsleft"; fi
