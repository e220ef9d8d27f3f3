#!/bin/bash
# Regenerates tests/golden/lora/ and tests/golden/merge/ from the project's
# independent references: tests/reference/adapters_ref.py (numpy, written
# from PEFT's and mergekit's published semantics) merges the adapters or
# the checkpoints, and tests/reference/qwen2_ref.py (float32 torch) runs the
# merged weights W + s*B@A.
#
#   lora/CASE: logits.f32 [24 x vocab] of the preset's prompt
#              (tests/golden/PRESET/prompt.ids) and 16 greedy ids after it.
#   merge/METHOD.f32: two merged tensors in float32, one after the other:
#              model.layers.1.self_attn.q_proj.weight, model.layers.1.mlp.down_proj.weight.
#
# The cases are the same tables as tests/test_adapters.c. Needs build/gen_model
# and Debian's python3-torch and python3-numpy.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
PY=${PY:-/usr/bin/python3}
FIX=$BUILD/fixtures
REF=tests/reference
for p in tiny-bf16 tiny-mqa-bf16 tiny-bf16-tuned-a tiny-bf16-tuned-b; do
    "$BUILD/gen_model" --preset $p "$FIX/$p" >/dev/null
done
for a in lora-all lora-attn-rs lora-pattern lora-mqa; do
    "$BUILD/gen_model" --adapter $a "$FIX/$a"
done
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

lora_case() { # NAME PRESET ADAPTER[:SCALE]...
    local name=$1 preset=$2
    shift 2
    local specs=()
    for s in "$@"; do specs+=("$FIX/$s"); done
    "$PY" $REF/adapters_ref.py bake "$FIX/$preset" "$TMP/$name" "${specs[@]}"
    mkdir -p tests/golden/lora/$name
    "$PY" $REF/qwen2_ref.py "$TMP/$name" --ids "$(cat tests/golden/$preset/prompt.ids)" \
        --logits tests/golden/lora/$name/logits.f32 --greedy 16 \
        --greedy-out tests/golden/lora/$name/greedy.ids --check
}
lora_case all tiny-bf16 lora-all
lora_case attn-rs tiny-bf16 lora-attn-rs
lora_case pattern tiny-bf16 lora-pattern
lora_case two tiny-bf16 lora-all:0.5 lora-attn-rs:1.5
lora_case mqa tiny-mqa-bf16 lora-mqa

merge_case() { # METHOD ARGS...
    local m=$1
    shift
    "$PY" $REF/adapters_ref.py merge --method "$m" "$@" -o "$TMP/merge-$m"
    mkdir -p tests/golden/merge
    "$PY" - "$TMP/merge-$m" tests/golden/merge/$m.f32 <<'PYEOF'
import sys
import numpy as np
sys.path.insert(0, "tests/reference")
from qwen2_ref import load_weights
w = load_weights(sys.argv[1])
with open(sys.argv[2], "wb") as f:
    for n in ("model.layers.1.self_attn.q_proj.weight", "model.layers.1.mlp.down_proj.weight"):
        f.write(np.ascontiguousarray(w[n], dtype="<f4").tobytes())
PYEOF
}
A=$FIX/tiny-bf16-tuned-a
B=$FIX/tiny-bf16-tuned-b
merge_case linear $A:0.7 $B:0.3
merge_case task_arithmetic --base $FIX/tiny-bf16 $A:0.7 $B:0.5
merge_case ties --base $FIX/tiny-bf16 $A:0.7:0.5 $B:0.5:0.3
merge_case dare_ties --base $FIX/tiny-bf16 --seed 7 $A:0.7:0.5 $B:0.5:0.3
merge_case dare_linear --base $FIX/tiny-bf16 --seed 9 $A:1:0.6 $B:0.5:0.4
merge_case slerp --base $FIX/tiny-bf16 --t 0.3 $A
echo "make_adapter_goldens.sh: done" >&2
