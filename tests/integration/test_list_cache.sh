#!/usr/bin/env bash
# kukeond's ListCells from its cache of document texts (docs/state.md, "Listing cells"), through a
# private daemon while other processes write the store: 300 cell documents written straight into a
# stack (as bench/run.sh populates one); the table and -o json the same bytes through the daemon
# and in-process; documents replaced by rename, rewritten in place, removed behind the daemon's back,
# and deleted by kuke in-process are listed as they are now, never as the daemon last saw them.
set -u
. "$KUKEON_TOP/tests/lib/tap.sh"
. "$KUKEON_TOP/tests/lib/kukeond.sh"
B=$BUILD
KUKE="$B/bin/kuke"
N=7
tap_plan $N

kd_need_root "list cache"
command -v jq >/dev/null || kd_skip_all "list cache" "jq is not installed"

kd_env listcache lc 10.241.0.0/16
R="${P}-lc"
S=(--realm "$R" --space sp --stack st)

cleanup() {
    kd_purge "$R"
    kd_stop
    kd_purge default kuke-system # after the stop: the daemon group lives in kuke-system's cgroup
}
trap cleanup EXIT

"$KUKE" init --no-daemon "${D[@]}" "${I[@]}" >"$T/out" 2>&1 && "$KUKE" daemon start "${D[@]}" --run-path "$T/opt" "${CONF[@]}" >>"$T/out" 2>&1 \
    && "$KUKE" create realm "$R" "${D[@]}" >>"$T/out" 2>&1 && "$KUKE" create space sp --realm "$R" "${D[@]}" >>"$T/out" 2>&1 \
    && "$KUKE" create stack st --realm "$R" --space sp "${D[@]}" >>"$T/out" 2>&1
if [ $? != 0 ]; then
    tap_fail "a private kukeond with a realm, space and stack" "$(cat "$T/out")"
    kd_skip_all "list cache" "no daemon"
fi
tap_ok "a private kukeond with a realm, space and stack"

DIR="$T/opt/data/$R/sp/st"
# A cell document as the store writes it; label v says which version it is.
cell_doc() { # name version
    jq -n --arg n "$1" --arg r "$R" --arg v "$2" '{apiVersion: "v1beta1", kind: "Cell",
        metadata: {name: $n, labels: {v: $v, note: "caf\u00e9 \"q\""}},
        spec: {realmId: $r, spaceId: "sp", stackId: "st", id: $n, containers: []},
        status: {state: "Stopped", createdAt: "2020-01-02T03:04:05Z", containers: [{name: "main", state: "Ready"}]}}'
}
# Replace a document as every writer of the store does: a new file beside it, renamed over it.
replace() { # name version
    cell_doc "$1" "$2" >"$DIR/$1/.meta-test.tmp" && chown --reference="$DIR" "$DIR/$1/.meta-test.tmp" \
        && mv -f "$DIR/$1/.meta-test.tmp" "$DIR/$1/metadata.json"
}
with_label() { "$KUKE" get cells "${S[@]}" -l "v=$1" "${D[@]}" 2>&1 | awk 'NR > 2 { print $1 }' | sort | tr '\n' ' '; }
expect() { for i in "$@"; do echo "c$i"; done | sort | tr '\n' ' '; }

for i in $(seq 1 300); do
    mkdir -p "$DIR/c$i" && cell_doc "c$i" 1 >"$DIR/c$i/metadata.json"
done
chown -R --reference="$DIR" "$DIR"/c*
sleep 0.3 # older than the store's settle time: the daemon may keep their texts
same_both get cells "${S[@]}" >"$T/why" && same_both get cells "${S[@]}" >"$T/why"
rows=$(awk 'NR > 2' "$T/d.out" | wc -l)
if [ "$rows" = 300 ] && same_both get cells "${S[@]}" -o wide >>"$T/why" && same_both get cells "${S[@]}" -o json >>"$T/why" \
    && [ "$(jq length "$T/d.out")" = 300 ]; then
    tap_ok "300 cells: table, wide and json the same bytes through kukeond and in-process"
else tap_fail "300 cells the same both ways" "rows=$rows $(cat "$T/why")"; fi

# Replaced by rename while the daemon holds their texts: listed new at once, and again once cached.
for i in 1 2 3 150 300; do replace "c$i" 2; done
now=$(with_label 2)
sleep 0.3
later=$(with_label 2)
if [ "$now" = "$(expect 1 2 3 150 300)" ] && [ "$later" = "$now" ] && [ "$(with_label 1 | wc -w)" = 295 ]; then
    tap_ok "documents replaced by rename are listed new, at once and once settled"
else tap_fail "replaced by rename" "now=$now later=$later"; fi

# Rewritten in place (the same inode), with the same size: v=2 -> v=3.
sed 's/"v": "2"/"v": "3"/' "$DIR/c150/metadata.json" >"$T/c150.json"
ino=$(stat -c %i "$DIR/c150/metadata.json")
cat "$T/c150.json" >"$DIR/c150/metadata.json"
if [ "$(stat -c %i "$DIR/c150/metadata.json")" = "$ino" ] && [ "$(with_label 3)" = "$(expect 150)" ] \
    && [ "$(with_label 2)" = "$(expect 1 2 3 300)" ]; then
    tap_ok "a document rewritten in place with the same size is listed new"
else tap_fail "rewritten in place" "v3=$(with_label 3) v2=$(with_label 2)"; fi

# Removed behind the daemon's back, and deleted by kuke in-process (another process of the group).
rm -rf "$DIR/c10" "$DIR/c11"
"$KUKE" delete cell c12 "${S[@]}" "${I[@]}" >"$T/out" 2>&1; drc=$?
left=$("$KUKE" get cells "${S[@]}" "${D[@]}" 2>&1 | awk 'NR > 2 { print $1 }' | grep -cx 'c1[012]')
n=$("$KUKE" get cells "${S[@]}" "${D[@]}" 2>&1 | awk 'NR > 2' | wc -l)
if [ $drc = 0 ] && [ "$left" = 0 ] && [ "$n" = 297 ]; then
    tap_ok "removed and deleted cells are gone from the daemon's list at once"
else tap_fail "removed and deleted" "delete rc=$drc $(cat "$T/out") left=$left rows=$n"; fi

# A corrupt document is left out by both, as any read leaves it out.
printf '{ "kind": "Cell", "metadata": ' >"$DIR/c20/metadata.json"
same_both get cells "${S[@]}" >"$T/why"; sb=$?
n=$(awk 'NR > 2' "$T/d.out" | wc -l)
if [ $sb = 0 ] && [ "$n" = 296 ] && ! grep -q '^c20 ' "$T/d.out"; then
    tap_ok "a corrupt document is left out both ways"
else tap_fail "corrupt document" "rows=$n $(cat "$T/why")"; fi

if same_both get cells "${S[@]}" -o json >"$T/why" && same_both get cells --realm "$R" -o yaml >>"$T/why"; then
    tap_ok "after all of it, json and yaml still the same both ways"
else tap_fail "json and yaml after the changes" "$(cat "$T/why")"; fi
