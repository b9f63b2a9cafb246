#!/usr/bin/env bash
# Host-wide iptables chains that kukeon and the CNI plugins create once and never remove:
# KUKEON-FORWARD (filter, netd) and portmap's CNI-HOSTPORT-* (nat). The harness records which exist
# before a run and removes, after it, those the run created, with the jumps to them.
#   iptables-state.sh record FILE    write the names of the chains that exist now
#   iptables-state.sh restore FILE   remove the chains (and jumps) that exist now but not in FILE
set -u
cmd=${1:?record|restore}
file=${2:?file}
command -v iptables >/dev/null || exit 0
chains() {
    iptables -w -t filter -S 2>/dev/null | awk '$1 == "-N" && $2 == "KUKEON-FORWARD" {print "filter " $2}'
    iptables -w -t nat -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^CNI-HOSTPORT-/ {print "nat " $2}'
}
case "$cmd" in
record) chains >"$file" ;;
restore)
    [ -f "$file" ] || exit 0
    chains | while read -r table chain; do
        grep -qx "$table $chain" "$file" && continue
        # Jumps to the chain from any other chain first, then the chain itself.
        iptables -w -t "$table" -S | awk -v c="$chain" '$1 == "-A" && $2 != c && / -j / {for (i = 1; i <= NF; i++) if ($i == "-j" && $(i+1) == c) print}' |
            while read -r rule; do
                # iptables -S quotes comments the shell way: eval re-reads them as one word.
                eval "iptables -w -t $table ${rule/-A/-D}" 2>/dev/null
            done
    done
    chains | while read -r table chain; do
        grep -qx "$table $chain" "$file" && continue
        iptables -w -t "$table" -F "$chain" 2>/dev/null
    done
    chains | while read -r table chain; do
        grep -qx "$table $chain" "$file" && continue
        iptables -w -t "$table" -X "$chain" 2>/dev/null
    done
    ;;
*) echo "usage: iptables-state.sh record|restore FILE" >&2; exit 2 ;;
esac
exit 0
