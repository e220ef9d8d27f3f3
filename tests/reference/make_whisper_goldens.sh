#!/bin/bash
# Regenerate tests/golden/whisper/ from the project's independent float32
# Whisper reference (tests/reference/whisper_ref.py, run with Debian's
# /usr/bin/python3 + python3-torch; transformers is not used).
#
# For each preset P: build/gen_model --preset P build/fixtures/P; the mel input
# is the first 2*max_source_positions frames of the committed real log-mel of
# espeak-ng speech (tests/golden/mel/speech.mel{80,128}.f32, made by
# tests/reference/mel_ref.py); the decoder prompt is decoder_start_token_id
# followed by 5 ids from a 32-bit LCG seeded by the preset index, each
# < vocab_size - 8; then the encoder output, teacher-forced logits for the
# prompt, and 8 greedy tokens.  Every run is cross-checked (--check) against
# the reference's separate float64 numpy forward; any error aborts the script.
#
# Usage (from anywhere):  tests/reference/make_whisper_goldens.sh
# Environment: BUILD (default: build), PY (default: /usr/bin/python3)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

BUILD=${BUILD:-build}
PY=${PY:-/usr/bin/python3}
REF=tests/reference/whisper_ref.py
GEN="$BUILD/gen_model"
PRESETS=(whisper-tiny-f32 whisper-v3-bf16)
N_SEEDED=5
GREEDY_N=8
GOLD=tests/golden/whisper

trap 'echo "make_whisper_goldens.sh: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR

[ -x "$GEN" ] || { echo "make_whisper_goldens.sh: $GEN not found; run 'make $GEN' first" >&2; exit 1; }
"$PY" -c 'import torch, numpy' || { echo "make_whisper_goldens.sh: $PY lacks torch/numpy (apt install python3-torch)" >&2; exit 1; }

# gen_model must know the whisper presets (poll briefly in case it is being rebuilt).
for (( try = 0; ; try++ )); do
    LIST=$("$GEN" --list 2>/dev/null || true)
    missing=""
    for P in "${PRESETS[@]}"; do grep -qx "$P" <<<"$LIST" || missing+=" $P"; done
    [ -z "$missing" ] && break
    [ "$try" -ge 30 ] && { echo "make_whisper_goldens.sh: $GEN --list lacks:$missing" >&2; exit 1; }
    sleep 2
done

TORCH_VER=$("$PY" -c 'import torch; print(torch.__version__)')
NUMPY_VER=$("$PY" -c 'import numpy; print(numpy.__version__)')

# 32-bit LCG (Numerical Recipes constants); prints N ids in [0, range).
lcg_ids() {
    local seed=$1 range=$2 n=$3 s i out=""
    s=$(( (seed * 2654435761 + 12345) & 0xFFFFFFFF ))
    for (( i = 0; i < n; i++ )); do
        s=$(( (s * 1664525 + 1013904223) & 0xFFFFFFFF ))
        out+="${out:+ }$(( (s >> 8) % range ))"
    done
    echo "$out"
}

cfgval() { "$PY" -c 'import json,sys; print(int(json.load(open(sys.argv[1]))[sys.argv[2]]))' "$1" "$2"; }

mkdir -p "$GOLD"
SUMMARY=""
idx=0
for P in "${PRESETS[@]}"; do
    FIX="$BUILD/fixtures/$P"
    OUT="$GOLD/$P"
    mkdir -p "$FIX" "$OUT"
    "$GEN" --preset "$P" "$FIX"
    [ -f "$FIX/config.json" ] || { echo "make_whisper_goldens.sh: $FIX/config.json missing after gen_model" >&2; exit 1; }

    VOCAB=$(cfgval "$FIX/config.json" vocab_size)
    NMELS=$(cfgval "$FIX/config.json" num_mel_bins)
    NSRC=$(cfgval "$FIX/config.json" max_source_positions)
    DMODEL=$(cfgval "$FIX/config.json" d_model)
    START=$(cfgval "$FIX/config.json" decoder_start_token_id)
    FRAMES=$(( 2 * NSRC ))

    # Mel input: the first FRAMES frames of the committed real speech log-mel.
    SRC="tests/golden/mel/speech.mel$NMELS.f32"
    [ -f "$SRC" ] || { echo "make_whisper_goldens.sh: $SRC missing (tests/reference/mel_ref.py makes it)" >&2; exit 1; }
    "$PY" - "$SRC" "$NMELS" "$FRAMES" "$OUT/mel.f32" <<'EOF'
import sys
import numpy as np
src, nm, fr, dst = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
a = np.fromfile(src, dtype="<f4")
if a.size % nm:
    sys.exit("%s: %d floats is not a multiple of %d mel bins" % (src, a.size, nm))
a = a.reshape(nm, a.size // nm)
if a.shape[1] < fr:
    sys.exit("%s has %d frames, need %d" % (src, a.shape[1], fr))
np.ascontiguousarray(a[:, :fr], dtype="<f4").tofile(dst)
EOF

    IDS="$START $(lcg_ids "$idx" "$(( VOCAB - 8 ))" "$N_SEEDED")"
    echo "$IDS" > "$OUT/ids"
    NIDS=$(wc -w < "$OUT/ids")

    echo "== $P (vocab $VOCAB, mel $NMELS x $FRAMES): ids $IDS" >&2
    LOG=$("$PY" "$REF" "$FIX" --mel "$OUT/mel.f32" --ids "$IDS" \
              --encoder-out "$OUT/encoder.f32" --logits "$OUT/logits.f32" \
              --greedy "$GREEDY_N" --greedy-out "$OUT/greedy.ids" \
              --margins-out "$OUT/greedy_margins.txt" --check 2>&1) || {
        echo "$LOG" >&2; echo "make_whisper_goldens.sh: reference failed for $P" >&2; exit 1; }
    echo "$LOG" >&2

    # Sanity: sizes and token counts.
    chk_size() {
        local got; got=$(stat -c %s "$1")
        [ "$got" -eq "$2" ] || { echo "make_whisper_goldens.sh: $1 is $got bytes, want $2" >&2; exit 1; }
    }
    chk_size "$OUT/mel.f32" $(( NMELS * FRAMES * 4 ))
    chk_size "$OUT/encoder.f32" $(( NSRC * DMODEL * 4 ))
    chk_size "$OUT/logits.f32" $(( NIDS * VOCAB * 4 ))
    ng=$(wc -w < "$OUT/greedy.ids")
    [ "$ng" -eq "$GREEDY_N" ] || { echo "make_whisper_goldens.sh: $OUT/greedy.ids has $ng ids, want $GREEDY_N" >&2; exit 1; }

    ( cd "$FIX" && sha256sum config.json model.safetensors ) > "$OUT/fixture.sha256"

    MINM=$(awk '!/^#/ { if (m == "" || $6 < m) m = $6 } END { print m }' "$OUT/greedy_margins.txt")
    EERR=$(echo "$LOG" | sed -n 's/.*max|diff|\/max|enc| = \([^;]*\);.*/\1/p')
    LERR=$(echo "$LOG" | sed -n 's/.*max|diff|\/max|logit| = \([^ ]*\) (prompt).*/\1/p')
    GERR=$(echo "$LOG" | sed -n 's/.*(prompt); \([^ ]*\) (greedy steps).*/\1/p')

    cat > "$OUT/README" <<EOF
$P golden (made by tests/reference/make_whisper_goldens.sh; see ../README.md)
fixture:        $BUILD/gen_model --preset $P DIR   (sha256 in fixture.sha256)
mel.f32:        float32 LE [$NMELS x $FRAMES] row-major (frames contiguous) = first $FRAMES frames of $SRC
ids:            decoder prompt ($NIDS ids): $IDS
encoder.f32:    float32 LE [$NSRC x $DMODEL], encoder last_hidden_state
logits.f32:     float32 LE [$NIDS x $VOCAB], teacher-forced logits for each prompt position
greedy.ids:     $GREEDY_N greedy tokens after the prompt: $(cat "$OUT/greedy.ids")
greedy_margins.txt: per step token, runner-up, top1, top2, top1-top2 (min $MINM)
check vs float64: encoder $EERR, logits $LERR, greedy-step logits $GERR (max|diff|/max|value|)
EOF
    SUMMARY+="| $P | $NMELS x $FRAMES | $NSRC x $DMODEL | $NIDS x $VOCAB | $(cat "$OUT/greedy.ids") | $MINM | $EERR | $LERR | $GERR |"$'\n'
    idx=$(( idx + 1 ))
done

cat > "$GOLD/README.md" <<EOF
# Whisper goldens (WhisperForConditionalGeneration, teacher-forced)

Produced by \`tests/reference/whisper_ref.py\` -- the project's own independent
float32 reference of Hugging Face transformers' \`WhisperForConditionalGeneration\`
forward pass (encoder + decoder), written from the published \`modeling_whisper.py\`
(transformers itself is not used). It ran on Debian \`$PY\` with python3-torch
$TORCH_VER and numpy $NUMPY_VER, all math in float32 on CPU, one thread
(BF16/F16 weights widened exactly to float32).

Regenerate everything with:

    tests/reference/make_whisper_goldens.sh

which, for each preset index i and preset P in \`${PRESETS[*]}\`, runs

    build/gen_model --preset P build/fixtures/P
    # mel.f32 = first 2*max_source_positions frames of tests/golden/mel/speech.mel<num_mel_bins>.f32
    # ids     = decoder_start_token_id + $N_SEEDED LCG(i) ids mod (vocab_size - 8)
    /usr/bin/python3 tests/reference/whisper_ref.py build/fixtures/P --mel mel.f32 --ids "\$(cat ids)" \\
        --encoder-out encoder.f32 --logits logits.f32 --greedy $GREEDY_N --greedy-out greedy.ids \\
        --margins-out greedy_margins.txt --check

Semantics (from modeling_whisper.py): encoder x = gelu(conv1(mel)) (k3 s1 p1),
x = gelu(conv2(x)) (k3 s2 p1), transpose to [T, d], + embed_positions[:T];
pre-LayerNorm blocks (eps 1e-5): x += out_proj(softmax((q_proj(h) * head_dim^-0.5)
k_proj(h)^T) v_proj(h)) with h = LN(x), k_proj without bias, no mask;
x += fc2(gelu(fc1(LN(x)))) with exact erf gelu; final layer_norm. Decoder:
embed_tokens[ids] + embed_positions[0..S-1]; blocks LN -> causal self-attention
-> residual, LN -> cross-attention (q from the decoder, k/v from the encoder
output) -> residual, LN -> MLP -> residual; final layer_norm; logits = x
embed_tokens^T (proj_out tied). The mel frame count must be exactly
2*max_source_positions (HF raises otherwise); these presets use a short audio
context, not 3000 frames.

Files per preset directory (all .f32 are float32 little-endian, row-major):

- \`mel.f32\`: encoder input [num_mel_bins x 2*max_source_positions], a real log-mel
  (espeak-ng "Hello unum, this is a test.", see tests/golden/mel/README.md), first frames.
- \`ids\`: the decoder prompt: decoder_start_token_id then $N_SEEDED seeded ids.
- \`encoder.f32\`: encoder output [max_source_positions x d_model].
- \`logits.f32\`: teacher-forced logits for every prompt position [len(ids) x vocab_size].
- \`greedy.ids\`: the $GREEDY_N greedy (argmax) tokens after the prompt (full recompute each step).
- \`greedy_margins.txt\`: per greedy step the token, runner-up, and top1 - top2 logit margin
  (a small margin means the step is fragile to rounding differences).
- \`fixture.sha256\`: sha256 of the fixture files; if gen_model's output changes, these
  goldens are stale and must be regenerated.
- \`README\`: the above for that preset, with its numbers.

\`--check\` re-runs the model with a separately written float64 numpy forward (convolution
as explicit sums over the 3 taps, explicit per-head loops, token-by-token decoder with a
KV cache, float64 encoder output feeding the float64 decoder) and aborts unless
max|diff|/max|value| <= 1e-5 for the encoder output, the prompt logits and every greedy
step's logits, and the greedy tokens agree.

| preset | mel | encoder | logits | greedy | min greedy margin | enc rel. err | logits rel. err | greedy-step rel. err |
|---|---|---|---|---|---|---|---|---|
$SUMMARY
EOF

echo "make_whisper_goldens.sh: wrote $GOLD/{$(IFS=,; echo "${PRESETS[*]}")}/ and $GOLD/README.md" >&2
