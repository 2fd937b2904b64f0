#!/bin/sh
# Scores each unit file given with `systemd-analyze security --offline=true` and fails when one
# is above MAX (2.0: "OK" or better). Exits 77 (ctest: skipped) where systemd-analyze is missing.
#   security_score.sh MAX UNIT...
set -eu
max=$1
shift
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "systemd-analyze not found: cannot score the unit"
    exit 77
fi
status=0
for unit in "$@"; do
    out=$(systemd-analyze security --offline=true --no-pager "$unit" 2>&1) || true
    score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    if [ -z "$score" ]; then
        printf '%s\n' "$out"
        echo "FAIL: $unit: systemd-analyze reported no overall exposure level"
        status=1
        continue
    fi
    if awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }'; then
        echo "ok: $unit scores $score (at most $max)"
    else
        printf '%s\n' "$out"
        echo "FAIL: $unit scores $score, more than $max"
        status=1
    fi
done
exit $status
