#!/usr/bin/env bash
# One cell's life step by step, from kukeond's log and the helpers' audit logs:
#   bench/steps.sh LOG_DIR CELL [SINCE]
# prints a Markdown table, one row per step as it ended, in ms after the CreateCell call for CELL
# (SINCE, an ISO time "2026-11-30T00:49:42", skips older lines), up to "deleted cell". Polls of
# containerd's events are left out. bench/run.sh uses it for RESULTS.md.
set -u
dir=${1:?log directory}
cell=${2:?cell name}
since=${3:-0}
cat "$dir/kukeond.log" "$dir/kuke-cgd.log" "$dir/kuke-netd.log" "$dir/kuke-ctrd.log" 2>/dev/null |
    awk -v since="$since" '
        function ms(ts, t) { split(substr(ts, 12, 12), t, /[:.Z]/); return ((t[1] * 60 + t[2]) * 60 + t[3]) * 1000 + t[4] }
        $1 < since { next }
        /op=events.read/ { next }
        {
            rest = substr($0, length($1) + 2)
            if (rest ~ /msg=\[kukeond-api pid=[0-9]+\] /) {
                sub(/.*msg=\[kukeond-api pid=[0-9]+\] [^ ]+ /, "", rest)   # the worker line inside
                sub(/^level=[A-Z]+ prog=[^ ]+ msg=/, "", rest)
                sub(/ uid=[0-9]+ gid=[0-9]+ pid=[0-9]+$/, "", rest)
            } else if (rest !~ /^helper=/) {
                next
            }
            gsub(/ realm="[^"]*"| ns="[^"]*"| space="[^"]*"| stack="[^"]*"| decision=ok|helper=/, "", rest)
            gsub(/\\"/, "\"", rest)
            printf "%d\t%s\n", ms($1), rest
        }' | sort -n -s -k1,1 |
    awk -F '\t' -v cell="$cell" '
        # From the last CreateCell call before the first line naming the cell, to its deletion.
        !on && $2 ~ /^call KukeonV1\.CreateCell/ { t0 = $1; have = 1; next }
        !on && have && (index($2, "cell=\"" cell "\"") || index($2, "_" cell "_") ||
                        index($2, "cell \"" cell "\"")) { on = 1; printf "| 0 | call KukeonV1.CreateCell |\n" }
        on { printf "| %d | %s |\n", $1 - t0, $2 }
        on && $2 ~ /^deleted cell/ { exit }'
