# Driving a terminal like a user, through a private tmux server: source after tap.sh, with TM set to
# the tmux command line of that server (TM=(tmux -L NAME -f /dev/null)) and one session "t".
#   pane_has REGEX   until the pane shows a line matching REGEX (up to 5 s); 1 if it never does
#   pane             the pane's text now
pane_has() {
    local i
    for i in $(seq 1 50); do
        "${TM[@]}" capture-pane -p -t t 2>/dev/null | grep -q -- "$1" && return 0
        sleep 0.1
    done
    return 1
}
pane() { "${TM[@]}" capture-pane -p -t t 2>/dev/null; }
