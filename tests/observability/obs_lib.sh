# obs_lib.sh — shell helpers shared by the eBPF end-to-end tests (sourced).
#
# A test sets, before sourcing:
#   obs_name   its name in FAIL lines ("gomap-watch", "prometheus", ...)
#   obs_logs   the files under $tmp that a failure prints, space-separated
#   obs_lines  how many lines of each (default 60)
# and defines tmp (its temporary directory) before it calls fail.  A test
# with a report of its own defines its fail after sourcing this file.

skip() {
    echo "SKIP: $*"
    exit 77
}

fail() {
    local f
    echo "FAIL ($obs_name): $*"
    for f in $obs_logs; do
        echo "--- $f ---"
        tail -"${obs_lines:-60}" "$tmp/$f" 2>/dev/null
    done
    exit 1
}

# eBPF needs root, and every test scrapes with curl.
require_root_and_curl() {
    [ "$(id -u)" = 0 ] || skip "eBPF needs root (uid $(id -u))"
    command -v curl >/dev/null || skip "curl is not installed"
}

# A free loopback port: the kernel's choice for a socket closed at once.
# $1 (optional) spreads the fallback when several ports are needed.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
        echo $((20000 + ($$ + ${1:-0}) % 20000))
}

# Whether process $1 runs.  A child that has exited stays a zombie until it is
# waited for: that is not alive.
alive() {
    local status
    status=$(cat "/proc/$1/status" 2>/dev/null) || return 1
    ! grep -q '^State:[[:space:]]*[ZX]' <<<"$status"
}

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

# Waits up to $3 seconds for gomap-watch (process $2) to write its ready file
# $1; returns 1 when it does not (the caller reads watch.log to say why).
wait_ready() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        [ -s "$1" ] && return 0
        alive "$2" || break
        sleep 0.1
    done
    [ -s "$1" ]
}

# Fails, or skips where the kernel refused eBPF, when gomap-watch did not
# become ready (its log is $tmp/watch.log).
watch_not_ready() {
    grep -qiE "permission|not permitted|needs root" "$tmp/watch.log" &&
        skip "the kernel refused eBPF: $(head -1 "$tmp/watch.log")"
    fail "gomap-watch did not start"
}
