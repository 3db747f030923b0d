#!/usr/bin/env bash
# obs_probes.sh PROBES_H LIBRARY — every probe declared in src/probes.h has at
# least one real site in LIBRARY (provider "gomap", with a semaphore), besides
# its anchor site in probes.c (the one whose arguments are all the constant 0).
set -u
header=$1 lib=$2
command -v readelf >/dev/null || { echo "SKIP: readelf missing"; exit 77; }
notes=$(readelf -n "$lib") || { echo "FAIL: readelf -n $lib"; exit 1; }
# One line per gomap site: "name semaphore arguments".
sites=$(printf '%s\n' "$notes" | awk '
    /Provider:/ { prov = $2 }
    /Name:/     { name = $2 }
    /Semaphore:/ { sem = $NF }
    /Arguments:/ { if (prov == "gomap") { $1 = ""; print name, sem, $0 } }')
status=0
for p in $(sed -n 's/^GOMAP_PROBE_DECLARE(\([a-z_]*\));.*/\1/p' "$header"); do
    mine=$(printf '%s\n' "$sites" | awk -v p="$p" '$1 == p')
    nosem=$(printf '%s\n' "$mine" | awk '$2 ~ /^0x0+$/' | grep -c .)
    real=$(printf '%s\n' "$mine" | awk '{ a = 1; for (i = 3; i <= NF; i++) if ($i !~ /@\$0$/) a = 0; if (!a) print }')
    n=$(printf '%s\n' "$real" | grep -c .)
    if [ "$nosem" -ne 0 ]; then
        echo "BAD: probe gomap:$p has $nosem site(s) without a semaphore"
        status=1
    elif [ "$n" -eq 0 ]; then
        echo "MISSING: probe gomap:$p has no site in $(basename "$lib") (only its anchor)"
        status=1
    else
        echo "ok: gomap:$p, $n site(s), arguments: $(printf '%s\n' "$real" | head -1 | cut -d' ' -f3-)"
    fi
done
exit $status
