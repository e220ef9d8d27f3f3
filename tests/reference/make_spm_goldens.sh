#!/bin/sh
# Regenerate tests/golden/tokenizer/spm.jsonl: the SentencePiece-style
# tokenizer.json that gen_model writes for tiny-minicpm-spm, run through the
# plain-Python reference (tests/reference/spm_ref.py, no packages needed).
# The file's sha256 goes in the first line, so a test can tell goldens made
# for another tokenizer from a wrong answer.
#
# Usage (from anywhere):  tests/reference/make_spm_goldens.sh
# Environment: BUILD (default: build), PY (default: python3)
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
PY=${PY:-python3}
GEN="$BUILD/gen_model"
[ -x "$GEN" ] || { echo "make_spm_goldens.sh: $GEN not found; run 'make $GEN' first" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$GEN" --preset tiny-minicpm-spm "$tmp/spm" >/dev/null
sum=$(sha256sum "$tmp/spm/tokenizer.json" | cut -d' ' -f1)
out=tests/golden/tokenizer/spm.jsonl
{
    printf '{"tokenizer_sha256": "%s"}\n' "$sum"
    "$PY" tests/reference/spm_ref.py "$tmp/spm/tokenizer.json"
} >"$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out ($(($(wc -l <"$out") - 1)) cases, tokenizer $sum)"
