#!/bin/bash
# Regenerate tests/golden/tiny-minicpm-*/ from the project's independent
# float32 MiniCPM reference (tests/reference/minicpm_ref.py, run with
# Debian's /usr/bin/python3 + python3-torch), the same way make_goldens.sh
# does for Qwen2: per preset a deterministic 24-id prompt (32-bit LCG seeded
# by 100 + the preset's index here, mod vocab_size), teacher-forced logits
# and 16 greedy tokens, each run cross-checked (--check) against the
# reference's float64 numpy forward.
#
# Usage (from anywhere):  tests/reference/make_minicpm_goldens.sh
# Environment: BUILD (default: build), PY (default: /usr/bin/python3)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

BUILD=${BUILD:-build}
PY=${PY:-/usr/bin/python3}
REF=tests/reference/minicpm_ref.py
GEN="$BUILD/gen_model"
PRESETS=(tiny-minicpm-longrope tiny-minicpm-tied tiny-minicpm-gqa)
PROMPT_LEN=24
GREEDY_N=16

trap 'echo "make_minicpm_goldens.sh: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR
[ -x "$GEN" ] || { echo "make_minicpm_goldens.sh: $GEN not found; run 'make $GEN' first" >&2; exit 1; }
"$PY" -c 'import torch, numpy' || { echo "make_minicpm_goldens.sh: $PY lacks torch/numpy" >&2; exit 1; }
TORCH_VER=$("$PY" -c 'import torch; print(torch.__version__)')
NUMPY_VER=$("$PY" -c 'import numpy; print(numpy.__version__)')

lcg_prompt() { # as make_goldens.sh
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
    mkdir -p "$FIX" "$OUT"
    "$GEN" --preset "$P" "$FIX"
    VOCAB=$("$PY" -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["vocab_size"]))' "$FIX/config.json")
    IDS=$(lcg_prompt "$idx" "$VOCAB" "$PROMPT_LEN")
    echo "$IDS" > "$OUT/prompt.ids"
    LOG=$("$PY" "$REF" "$FIX" --ids "$IDS" --logits "$OUT/logits.f32" \
              --greedy "$GREEDY_N" --greedy-out "$OUT/greedy.ids" \
              --margins-out "$OUT/greedy_margins.txt" --check 2>&1) || {
        echo "$LOG" >&2; echo "make_minicpm_goldens.sh: reference failed for $P" >&2; exit 1; }
    echo "$LOG" >&2
    [ "$(stat -c %s "$OUT/logits.f32")" -eq $(( PROMPT_LEN * VOCAB * 4 )) ]
    [ "$(wc -w < "$OUT/greedy.ids")" -eq "$GREEDY_N" ]
    ( cd "$FIX" && sha256sum config.json model.safetensors ) > "$OUT/fixture.sha256"
    MINM=$(awk '!/^#/ { if (m == "" || $6 < m) m = $6 } END { print m }' "$OUT/greedy_margins.txt")
    RELERR=$(echo "$LOG" | sed -n 's/.*max|diff|\/max|logit| = \([^ ]*\) (full seq).*/\1/p')
    SUMMARY+="| $P | $VOCAB | $MINM | $RELERR |"$'\n'
    idx=$(( idx + 1 ))
done

cat > tests/golden/MINICPM.md <<EOF2
# Goldens for the MiniCPM presets

Produced by \`tests/reference/make_minicpm_goldens.sh\` with
\`tests/reference/minicpm_ref.py\`, the project's own float32 reference of
openbmb's \`modeling_minicpm.py\` (MiniCPMForCausalLM; see docs/families.md),
on Debian \`/usr/bin/python3\` with python3-torch $TORCH_VER and numpy $NUMPY_VER.
Files per preset as in README.md (prompt.ids, logits.f32, greedy.ids,
greedy_margins.txt, fixture.sha256); the prompts are the LCG of
make_goldens.sh seeded by 100, 101, 102.

| preset | vocab | min greedy margin | float32 vs float64 rel. err |
|---|---|---|---|
$SUMMARY
EOF2
echo "make_minicpm_goldens.sh: wrote tests/golden/ for ${#PRESETS[@]} MiniCPM presets" >&2
