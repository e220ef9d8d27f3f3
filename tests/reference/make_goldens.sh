#!/bin/bash
# Regenerate tests/golden/ from the project's independent float32 reference
# (tests/reference/qwen2_ref.py, run with Debian's /usr/bin/python3 + python3-torch).
#
# For each preset: build/gen_model --preset P build/fixtures/P, a deterministic
# 24-id prompt (32-bit LCG seeded by the preset index, mod vocab_size), then
# teacher-forced logits for the prompt and 16 greedy tokens after it.
# Every run is cross-checked (--check) against the reference's separate
# float64 numpy forward; any disagreement or error aborts the script.
#
# Usage (from anywhere):  tests/reference/make_goldens.sh
# Environment: BUILD (default: build), PY (default: /usr/bin/python3)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

BUILD=${BUILD:-build}
PY=${PY:-/usr/bin/python3}
REF=tests/reference/qwen2_ref.py
GEN="$BUILD/gen_model"
PRESETS=(tiny-bf16 tiny-untied-f32 tiny-headdim-f16 tiny-mqa-bf16 tiny-sharded-bf16)
PROMPT_LEN=24
GREEDY_N=16

trap 'echo "make_goldens.sh: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR

[ -x "$GEN" ] || { echo "make_goldens.sh: $GEN not found; run 'make $GEN' first" >&2; exit 1; }
"$PY" -c 'import torch, numpy' || { echo "make_goldens.sh: $PY lacks torch/numpy (apt install python3-torch)" >&2; exit 1; }

TORCH_VER=$("$PY" -c 'import torch; print(torch.__version__)')
NUMPY_VER=$("$PY" -c 'import numpy; print(numpy.__version__)')

# 32-bit LCG (Numerical Recipes constants); prints N ids in [0, vocab).
lcg_prompt() {
    local seed=$1 vocab=$2 n=$3 s i out=""
    s=$(( (seed * 2654435761 + 12345) & 0xFFFFFFFF ))
    for (( i = 0; i < n; i++ )); do
        s=$(( (s * 1664525 + 1013904223) & 0xFFFFFFFF ))
        out+="${out:+ }$(( (s >> 8) % vocab ))"
    done
    echo "$out"
}

mkdir -p tests/golden
SUMMARY=""
idx=0
for P in "${PRESETS[@]}"; do
    FIX="$BUILD/fixtures/$P"
    OUT="tests/golden/$P"
    mkdir -p "$FIX" "$OUT"
    "$GEN" --preset "$P" "$FIX"
    [ -f "$FIX/config.json" ] || { echo "make_goldens.sh: $FIX/config.json missing after gen_model" >&2; exit 1; }

    VOCAB=$("$PY" -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["vocab_size"]))' "$FIX/config.json")
    IDS=$(lcg_prompt "$idx" "$VOCAB" "$PROMPT_LEN")
    echo "$IDS" > "$OUT/prompt.ids"

    echo "== $P (vocab $VOCAB): prompt $IDS" >&2
    LOG=$("$PY" "$REF" "$FIX" --ids "$IDS" --logits "$OUT/logits.f32" \
              --greedy "$GREEDY_N" --greedy-out "$OUT/greedy.ids" \
              --margins-out "$OUT/greedy_margins.txt" --check 2>&1) || {
        echo "$LOG" >&2; echo "make_goldens.sh: reference failed for $P" >&2; exit 1; }
    echo "$LOG" >&2

    # Sanity: sizes and token counts.
    want=$(( PROMPT_LEN * VOCAB * 4 ))
    got=$(stat -c %s "$OUT/logits.f32")
    [ "$got" -eq "$want" ] || { echo "make_goldens.sh: $OUT/logits.f32 is $got bytes, want $want" >&2; exit 1; }
    ng=$(wc -w < "$OUT/greedy.ids")
    [ "$ng" -eq "$GREEDY_N" ] || { echo "make_goldens.sh: $OUT/greedy.ids has $ng ids, want $GREEDY_N" >&2; exit 1; }

    # Record which fixture bytes these goldens belong to.
    ( cd "$FIX" && sha256sum config.json $(ls *.safetensors model.safetensors.index.json 2>/dev/null | sort) ) \
        > "$OUT/fixture.sha256"

    MINM=$(awk '!/^#/ { if (m == "" || $6 < m) m = $6 } END { print m }' "$OUT/greedy_margins.txt")
    RELERR=$(echo "$LOG" | sed -n 's/.*max|diff|\/max|logit| = \([^ ]*\) (full seq).*/\1/p')
    SUMMARY+="| $P | $VOCAB | $MINM | $RELERR |"$'\n'
    idx=$(( idx + 1 ))
done

cat > tests/golden/README.md <<EOF
# Golden outputs for the tiny fixture presets

Produced by \`tests/reference/qwen2_ref.py\` -- the project's own independent
float32 reference of Hugging Face transformers' \`Qwen2ForCausalLM\` forward pass,
written from the published \`modeling_qwen2.py\` (transformers itself is not used).
It ran on Debian \`/usr/bin/python3\` with python3-torch $TORCH_VER and numpy $NUMPY_VER,
all math in float32 on CPU (BF16/F16 weights widened exactly to float32).

Regenerate everything with:

    tests/reference/make_goldens.sh

which, for each preset index i and preset P in
\`${PRESETS[*]}\`, runs

    $GEN --preset P $BUILD/fixtures/P
    /usr/bin/python3 tests/reference/qwen2_ref.py $BUILD/fixtures/P --ids "\$(cat tests/golden/P/prompt.ids)" \\
        --logits tests/golden/P/logits.f32 --greedy $GREEDY_N --greedy-out tests/golden/P/greedy.ids \\
        --margins-out tests/golden/P/greedy_margins.txt --check

Files per preset directory:

- \`prompt.ids\`: $PROMPT_LEN space-separated token ids (32-bit LCG seeded by the preset index, mod vocab_size).
- \`logits.f32\`: teacher-forced logits for every prompt position, raw float32 little-endian, [$PROMPT_LEN x vocab_size] row-major.
- \`greedy.ids\`: the $GREEDY_N greedy (argmax) tokens that follow the prompt.
- \`greedy_margins.txt\`: per greedy step, the chosen token, the runner-up, and the top1 - top2 logit margin
  (a small margin means the step is fragile to rounding differences).
- \`fixture.sha256\`: sha256 of the fixture files the goldens were computed from; if gen_model's output
  changes, these goldens are stale and must be regenerated.

The quantized presets (tiny-gptq*, tiny-awq*) have goldens of their own,
from the same reference run on each checkpoint's dequantized float32 twin:
see QUANT.md and tests/reference/make_quant_goldens.sh.

\`--check\` re-runs the same model with a separately written float64 numpy forward (token-by-token with a
KV cache) and aborts unless max|diff|/max|logit| <= 1e-5 and the greedy tokens agree.

| preset | vocab | min greedy margin | float32 vs float64 rel. err |
|---|---|---|---|
$SUMMARY
EOF

echo "make_goldens.sh: wrote tests/golden/ for ${#PRESETS[@]} presets" >&2
