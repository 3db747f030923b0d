#!/usr/bin/env bash
# annotate_check.sh CLANG INCLUDE_DIR SOURCE_DIR — the compile-time check of
# gomap/annotate.h, as CI runs it: clang -Wthread-safety must
#   1. warn about every line of tests/core/annotate_warns.c marked
#      "/* WARN: text */", with that text, and about no other line;
#   2. compile the cures, examples/crash_writes_mutex.c and
#      examples/crash_readwrite_mutex.c, with -Wthread-safety -Werror;
#   3. (the macros being empty elsewhere) compile the cures with cc too.
set -euo pipefail
clang=$1 inc=$2 src=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
warns=$src/tests/core/annotate_warns.c
if "$clang" -Wthread-safety -Wthread-safety-beta -fsyntax-only -I "$inc" "$warns" 2>"$tmp/out"; then :; fi
grep -o 'annotate_warns.c:[0-9]*:[0-9]*: warning: .*' "$tmp/out" |
    sed -E 's/^annotate_warns.c:([0-9]+):[0-9]+: warning: (.*) \[-W[a-z-]+\]$/\1 \2/' | sort -n >"$tmp/got"
grep -n 'WARN: ' "$warns" | grep -v '"/\* WARN' |
    sed -E 's/^([0-9]+):.*WARN: (.*) \*\/.*$/\1 \2/' | sort -n >"$tmp/want"
if ! diff -u "$tmp/want" "$tmp/got"; then
    echo "FAIL: clang's warnings differ from the WARN marks (- expected, + got); clang said:"
    cat "$tmp/out"
    fail=1
else
    echo "ok: $(wc -l <"$tmp/want") expected warnings, with their text, and no others"
fi
for ex in crash_writes_mutex crash_readwrite_mutex; do
    if "$clang" -Wthread-safety -Wthread-safety-beta -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L \
        -fsyntax-only -I "$inc" "$src/examples/$ex.c"; then
        echo "ok: $ex.c compiles clean with clang -Wthread-safety -Werror"
    else
        echo "FAIL: $ex.c"
        fail=1
    fi
    if cc -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -fsyntax-only -I "$inc" "$src/examples/$ex.c"; then
        echo "ok: $ex.c compiles clean with cc (annotations empty)"
    else
        echo "FAIL: $ex.c with cc"
        fail=1
    fi
done
exit $fail
