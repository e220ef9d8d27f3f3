#!/bin/bash
# Regenerate tests/golden/ for the quantized presets (GPTQ, AWQ).
#
# For each preset P: build/gen_model --preset P writes build/fixtures/P (the
# quantized checkpoint) and build/fixtures/P-twin (float32, every quantized
# matrix dequantized: W = scale * (q - zero)). Then
#   1. tests/reference/quant_ref.py (numpy, written from the published GPTQ
#      and AWQ layouts) dequantizes P itself and aborts unless every tensor
#      equals the twin's;
#   2. tests/reference/qwen2_ref.py (the float32 torch reference, with its
#      float64 numpy cross-check) runs the twin: teacher-forced logits of a
#      24-id prompt and 16 greedy tokens.
# unum's test (tests/test_quant.c) runs P itself against those goldens.
#
# Usage:  tests/reference/make_quant_goldens.sh   (BUILD, PY as make_goldens.sh)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

BUILD=${BUILD:-build}
PY=${PY:-/usr/bin/python3}
GEN="$BUILD/gen_model"
PRESETS=(tiny-gptq4-g64 tiny-gptq4-g32-asym tiny-gptq4-g32-act tiny-gptq4-gall-asym
         tiny-gptq4-g128-v2 tiny-gptq8-g64 tiny-gptq8-g32-act-asym tiny-awq4-g32)
PROMPT_LEN=24
GREEDY_N=16

trap 'echo "make_quant_goldens.sh: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR
[ -x "$GEN" ] || { echo "make_quant_goldens.sh: $GEN not found" >&2; exit 1; }
"$PY" -c 'import torch, numpy' || { echo "make_quant_goldens.sh: $PY lacks torch/numpy" >&2; exit 1; }

# the same 32-bit LCG as make_goldens.sh, seeded from 100 on
lcg_prompt() {
    local seed=$1 vocab=$2 n=$3 s i out=""
    s=$(( (seed * 2654435761 + 12345) & 0xFFFFFFFF ))
    for (( i = 0; i < n; i++ )); do
        s=$(( (s * 1664525 + 1013904223) & 0xFFFFFFFF ))
        out+="${out:+ }$(( (s >> 8) % vocab ))"
    done
    echo "$out"
}

SUMMARY=""
idx=100
for P in "${PRESETS[@]}"; do
    FIX="$BUILD/fixtures/$P"
    OUT="tests/golden/$P"
    mkdir -p "$OUT"
    "$GEN" --preset "$P" "$FIX"
    "$PY" tests/reference/quant_ref.py "$FIX" "$FIX-twin" >&2
    VOCAB=$("$PY" -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["vocab_size"]))' "$FIX/config.json")
    IDS=$(lcg_prompt "$idx" "$VOCAB" "$PROMPT_LEN")
    echo "$IDS" > "$OUT/prompt.ids"
    LOG=$("$PY" tests/reference/qwen2_ref.py "$FIX-twin" --ids "$IDS" --logits "$OUT/logits.f32" \
              --greedy "$GREEDY_N" --greedy-out "$OUT/greedy.ids" \
              --margins-out "$OUT/greedy_margins.txt" --check 2>&1) || {
        echo "$LOG" >&2; echo "make_quant_goldens.sh: reference failed for $P" >&2; exit 1; }
    ( cd "$FIX" && sha256sum config.json model.safetensors ) > "$OUT/fixture.sha256"
    MINM=$(awk '!/^#/ { if (m == "" || $6 < m) m = $6 } END { print m }' "$OUT/greedy_margins.txt")
    SUMMARY+="| $P | $MINM |"$'\n'
    idx=$(( idx + 1 ))
done

cat > tests/golden/QUANT.md <<EOF2
# Goldens of the quantized presets

\`tests/reference/make_quant_goldens.sh\` wrote these directories
(${PRESETS[*]}). Each preset's checkpoint (GPTQ or AWQ, as gen_model writes
it) has a float32 twin with every quantized matrix dequantized,
W = scale * (q - zero). The script checks the twin with
\`tests/reference/quant_ref.py\`, a numpy dequantizer written from the
published GPTQ and AWQ layouts, then runs \`tests/reference/qwen2_ref.py\`
(the float32 torch reference, cross-checked by its float64 numpy forward) on
the twin: \`prompt.ids\` (24 ids, LCG seeded 100 + preset index),
\`logits.f32\`, \`greedy.ids\` (16), \`greedy_margins.txt\`. \`fixture.sha256\`
names the quantized checkpoint's bytes the goldens belong to.

| preset | min greedy margin |
|---|---|
$SUMMARY
EOF2
echo "make_quant_goldens.sh: wrote tests/golden/ for ${#PRESETS[@]} quantized presets" >&2
