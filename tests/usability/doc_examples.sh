#!/usr/bin/env bash
# doc_examples.sh <source dir> <directory of libgomap.so> <work dir>
#
# Every ```c block of the README and of docs/ (and bench/, tools/) is a whole
# program: this compiles each with -Wall -Wextra -Werror against the headers
# and the library just built, runs it, and fails if any block does not
# compile or exits non-zero, so the examples stay true as the API moves.
set -euo pipefail
src=$1 libdir=$2 work=$3
cc=${CC:-cc}
rm -rf "$work"
mkdir -p "$work"
n=0 bad=0
while IFS= read -r md; do
  # Writes block k of $md to $work/<name>-<k>.c, each starting with a #line
  # directive so that errors name the Markdown file and line.
  base=$(echo "${md#"$src"/}" | tr '/.' '__')
  awk -v out="$work/$base" -v md="$md" '
    /^```c[[:space:]]*$/ { k++; f = out "-" k ".c"; printf "#line %d \"%s\"\n", NR + 1, md > f; inb = 1; next }
    /^```/ && inb { inb = 0; close(f); next }
    inb { print > f }' "$md"
done < <(find "$src/README.md" "$src/docs" "$src/bench" "$src/tools" -name '*.md' 2>/dev/null | sort)
for c in "$work"/*.c; do
  [ -e "$c" ] || continue
  n=$((n + 1))
  exe=${c%.c}
  if ! "$cc" -std=c11 -Wall -Wextra -Werror -pthread -I"$src/include" -o "$exe" "$c" \
      -L"$libdir" -lgomap -Wl,-rpath,"$libdir"; then
    echo "FAILED to compile: $(head -n1 "$c")"
    bad=$((bad + 1))
    continue
  fi
  if ! timeout 60 "$exe" >"$exe.out" 2>&1; then
    echo "FAILED to run: $(head -n1 "$c")"
    cat "$exe.out"
    bad=$((bad + 1))
  fi
done
echo "$n examples, $bad failed"
[ "$n" -gt 0 ] && [ "$bad" -eq 0 ]
