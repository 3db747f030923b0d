# obs_lib.sh — shell helpers shared by obs_trace.sh and obs_watch.sh (sourced).

# Whether process $1 runs.  A child that has exited stays a zombie until it is
# waited for: that is not alive.
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*[ZX]' "/proc/$1/status"; }

# Waits up to $2 seconds for the regex $1 in file $3, while process $4 (if
# given) lives; returns 1 on timeout or when the process is gone first.
wait_for() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        grep -qE "$1" "$3" 2>/dev/null && return 0
        [ -z "${4:-}" ] || alive "$4" || { grep -qE "$1" "$3" 2>/dev/null; return; }
        sleep 0.1
    done
    return 1
}
