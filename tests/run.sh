#!/bin/sh
# run.sh BUILD - runs every test suite against the binaries in BUILD and
# prints the closing tally "N passed, N failed" (", N skipped" when any).
# A suite that exits non-zero after its tally (LeakSanitizer does) fails.
build=${1:-build}
export UNUM_FIXTURES="$build/fixtures" UNUM_BIN="$build/unum"
# the CUDA runtime maps memory where ASan keeps its shadow gap
export ASAN_OPTIONS="protect_shadow_gap=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
out=$(mktemp)
{ "$build/test_unit"; echo $? >"$out.rc"; } | tee "$out"
status=$(cat "$out.rc")
tally=$(grep -E '^unit: [0-9]+ passed' "$out" | tail -1)
rm -f "$out" "$out.rc"
if [ -z "$tally" ]; then
    echo "tests: the unit suite stopped early (exit $status)"
    echo "0 passed, 1 failed"
    exit 1
fi
set -- $(echo "$tally" | sed -E 's/unit: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped/\1 \2 \3/')
failed=$2
if [ "$failed" -eq 0 ] && [ "$status" -ne 0 ]; then
    echo "tests: the unit suite exited $status after passing (sanitizer report above)"
    failed=1
fi
if [ "$3" -gt 0 ]; then
    echo "$1 passed, $failed failed, $3 skipped"
else
    echo "$1 passed, $failed failed"
fi
[ "$failed" -eq 0 ]
