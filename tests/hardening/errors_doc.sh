#!/bin/sh
# Runs every test case docs/errors.md names (written `program case` in its
# tables) and fails if a named program or case is missing or fails, so that
# each row of the page is checked against the code on every run.
# Usage: errors_doc.sh <docs/errors.md> <directory of the test programs>
set -u
doc=$1 bin=$2
pairs=$(grep -o '`[a-z_][a-z0-9_]* [a-z_][a-z0-9_]*`' "$doc" | tr -d '`' | sort -u)
[ -n "$pairs" ] || { echo "no test cases named in $doc"; exit 1; }
bad=0 n=0
printf '%s\n' "$pairs" | {
  while read -r prog case; do
    n=$((n + 1))
    if [ ! -x "$bin/$prog" ]; then
      echo "FAIL $prog $case: no program $bin/$prog"; bad=1; continue
    fi
    out=$("$bin/$prog" "$case" 2>&1)
    # The harness runs every case whose name contains the argument: the
    # named case must be among those that passed, and none may fail.
    if printf '%s\n' "$out" | grep -qx "ok   $case" &&
       printf '%s\n' "$out" | grep -q ' 0 failed$'; then
      echo "ok   $prog $case"
    else
      echo "FAIL $prog $case"; printf '%s\n' "$out" | tail -5; bad=1
    fi
  done
  echo "$n cases named in $doc"
  exit $bad
}
