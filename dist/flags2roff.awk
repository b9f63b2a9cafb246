# Turn the "Flags:" block of a program's --help into roff .TP entries, for the OPTIONS section of
# its manual page (Makefile, target man): the page then says exactly what --help says.
function esc(s) { gsub(/\\/, "\\e", s); gsub(/-/, "\\-", s); return s }
/^Flags:/ { inflags = 1; next }
inflags && /^[^ ]/ { inflags = 0 }
inflags && /^ +(-[A-Za-z], )?--/ {
    line = $0
    sub(/^ +/, "", line)
    # The flag part ends at the first run of two or more spaces.
    n = match(line, /  +/)
    if (n) { flag = substr(line, 1, n - 1); help = substr(line, n + RLENGTH) } else { flag = line; help = "" }
    split(flag, w, " ")
    arg = ""
    if (flag ~ / [a-z]+$/) { arg = flag; sub(/.* /, "", arg); sub(/ [a-z]+$/, "", flag) }
    print ".TP"
    printf "\\fB%s\\fR%s\n", esc(flag), arg != "" ? " \\fI" arg "\\fR" : ""
    print (help != "" ? esc(help) : "")
}
