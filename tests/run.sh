#!/bin/sh
# run.sh BUILD - runs every test suite against the binaries in BUILD and
# prints the closing tally "N passed, N failed" (", N skipped" when any).
build=${1:-build}
export UNUM_FIXTURES="$build/fixtures" UNUM_BIN="$build/unum"
out=$(mktemp)
"$build/test_unit" | tee "$out"
status=$?
tally=$(grep -E '^unit: [0-9]+ passed' "$out" | tail -1)
rm -f "$out"
if [ -z "$tally" ]; then
    echo "tests: the unit suite stopped early (exit $status)"
    echo "0 passed, 1 failed"
    exit 1
fi
set -- $(echo "$tally" | sed -E 's/unit: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped/\1 \2 \3/')
if [ "$3" -gt 0 ]; then
    echo "$1 passed, $2 failed, $3 skipped"
else
    echo "$1 passed, $2 failed"
fi
[ "$2" -eq 0 ] && [ "$status" -eq 0 ]
