#!/bin/bash
# Regenerate tests/golden/transcribe/*.json (+ README.md) from the project's
# independent Python reference of openai/whisper's decoding and long-form
# transcription (tests/reference/whisper_decode_ref.py, Debian /usr/bin/python3
# with python3-torch + python3-numpy; no transformers/tiktoken/openai-whisper).
#
# The fixtures must exist first: they are random-weight models with real
# Whisper vocabularies made by `make test` / `make fixtures`
# (tools/fixtures.sh BUILD), i.e. BUILD/fixtures/whisper-en-f32 and
# BUILD/fixtures/whisper-v3-vocab-bf16.  This script does not build them.
#
# Usage (from anywhere):  tests/reference/make_transcribe_goldens.sh
# Environment: BUILD (default: build), PY (default: /usr/bin/python3)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

BUILD=${BUILD:-build}
PY=${PY:-/usr/bin/python3}
REF=tests/reference/whisper_decode_ref.py
GOLD=tests/golden/transcribe
WAV=$GOLD/meeting16k.wav
EN=$BUILD/fixtures/whisper-en-f32
V3=$BUILD/fixtures/whisper-v3-vocab-bf16

trap 'echo "make_transcribe_goldens.sh: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR

"$PY" -c 'import torch, numpy' || { echo "make_transcribe_goldens.sh: $PY lacks torch/numpy (apt install python3-torch)" >&2; exit 1; }
for F in "$EN" "$V3"; do
    for f in config.json generation_config.json tokenizer.json model.safetensors; do
        [ -f "$F/$f" ] || { echo "make_transcribe_goldens.sh: $F/$f missing; build the fixtures first (make test, or tools/fixtures.sh $BUILD)" >&2; exit 1; }
    done
done
[ -f "$WAV" ] || { echo "make_transcribe_goldens.sh: $WAV missing" >&2; exit 1; }

TORCH_VER=$("$PY" -c 'import torch; print(torch.__version__)')
NUMPY_VER=$("$PY" -c 'import numpy; print(numpy.__version__)')

"$PY" "$REF" --selftest

# name | model dir | options
CASES=(
    "en-greedy-ts|$EN|"
    "en-greedy-nots|$EN|--no-timestamps"
    "en-beam5-ts|$EN|--beam 5"
    "v3-detect-ts|$V3|"
    "v3-de-ts|$V3|--language de"
)

ROWS=""
CMDS=""
for c in "${CASES[@]}"; do
    IFS='|' read -r NAME MODEL OPTS <<<"$c"
    OUT=$GOLD/$NAME.json
    # shellcheck disable=SC2086  # OPTS is a word list on purpose
    CMD="$PY $REF $MODEL $WAV $OPTS --check -o $OUT"
    echo "== $NAME: $CMD" >&2
    T0=$(date +%s.%N)
    $CMD
    SECS=$("$PY" -c 'import sys; print("%.1f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$T0" "$(date +%s.%N)")
    ROW=$("$PY" - "$OUT" "$SECS" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
w = d["windows"]
mm = [x["min_margin"] for x in w if x["min_margin"] is not None]
tg = [x["min_ts_rule_gap"] for x in w if x["min_ts_rule_gap"] is not None]
lang = d["language"]
if d.get("language_detected"):
    lang += " (detected; top3 " + ", ".join("%s %.4f" % (c, p) for c, p in d["language_probs_top3"]) + ")"
print("| %s | %s | %s | %d | %d | %s | %s | %s | %s |" % (
    sys.argv[1].split("/")[-1], d["model"], lang, len(w), len(d["segments"]),
    " / ".join("%.4g" % m for m in mm) if mm else "-",
    " / ".join("%.4g" % m for m in tg) if tg else "-",
    " / ".join("%.3g" % x["no_speech_prob"] for x in w),
    sys.argv[2] + " s"))
EOF
)
    ROWS+="$ROW"$'\n'
    CMDS+="    $PY $REF $MODEL $WAV${OPTS:+ $OPTS} --check -o $OUT"$'\n'
done

fixture_sha() {
    local f
    for f in config.json generation_config.json tokenizer.json model.safetensors; do
        echo "$(sha256sum "$1/$f" | cut -d' ' -f1)  $(basename "$1")/$f"
    done
}
SHA=$(fixture_sha "$EN"; fixture_sha "$V3")
WAVSHA=$(sha256sum "$WAV" | cut -d' ' -f1)

cat > "$GOLD/README.md" <<EOF
# Long-form transcription goldens (openai/whisper decoding algorithm)

Made by \`tests/reference/make_transcribe_goldens.sh\` with
\`tests/reference/whisper_decode_ref.py\`: the project's own, independently
written Python reference of openai/whisper's \`transcribe()\` /
\`DecodingTask\` (whisper/transcribe.py, decoding.py, tokenizer.py, audio.py,
utils.py at openai/whisper commit c0d2f624, June 2025), reusing the
project's float32 model forward (\`tests/reference/whisper_ref.py\`) and
log-mel (\`tests/reference/mel_ref.py\`). It ran on Debian \`$PY\` with
python3-torch $TORCH_VER and numpy $NUMPY_VER, float32 on CPU, one thread.
No transformers, tiktoken or openai-whisper code is used or needed.

## Regenerate

Build the fixtures first (\`make test\`, or \`tools/fixtures.sh build\`), then

    tests/reference/make_transcribe_goldens.sh

which runs \`whisper_decode_ref.py --selftest\` (hand-worked cases for the
segment splitting and the timestamp rules) and then, from the repository root:

$CMDS
## Input

\`meeting16k.wav\`: 16 kHz mono 16-bit PCM, 39.3 s (629412 samples, sha256
$WAVSHA): two espeak-ng utterances, each resampled to 16 kHz with
\`tests/reference/mel_ref.py\`'s \`fft_resample\`, with 2.5 s of silence
between them. It is read as int16 / 32768.

## Fixtures

Random-weight models with the real Whisper tensor names and real vocabularies
(built by tools/fixtures.sh): \`whisper-en-f32\` (English-only layout, 51864
ids, eot 50256, sot 50257, timestamps from 50363, 80 mels, f32) and
\`whisper-v3-vocab-bf16\` (large-v3 layout, 51866 ids, eot 50257, sot 50258,
timestamps from 50365, 128 mels, bf16). Since the weights are random the
"text" is nonsense (mostly repeated tokens) and these goldens test the
algorithm, not recognition. sha256 of the fixture files used:

\`\`\`
$SHA
\`\`\`

If the fixtures change, these goldens are stale: regenerate them.

## Files

| file | model | options |
|---|---|---|
| en-greedy-ts.json | whisper-en-f32 | greedy (T=0), timestamps on |
| en-greedy-nots.json | whisper-en-f32 | greedy, \`--no-timestamps\` |
| en-beam5-ts.json | whisper-en-f32 | beam search, beam 5, patience 1, timestamps on |
| v3-detect-ts.json | whisper-v3-vocab-bf16 | language detected (once, first 30 s), greedy, timestamps on |
| v3-de-ts.json | whisper-v3-vocab-bf16 | \`--language de\`, greedy, timestamps on |

## Algorithm (as implemented in the reference)

- Mel: log-mel of the WHOLE audio with 480000 zero samples appended
  (\`log_mel_spectrogram(audio, n_mels, padding=N_SAMPLES)\`), the max-8 clamp
  taken over that whole padded mel; content_frames = frames - 3000. Each window
  is \`mel[:, seek:seek+segment_size]\` zero-padded (pad_or_trim pads with 0.0,
  not the log floor) to 3000 frames, segment_size = min(3000, content_frames - seek).
- Language detection (multilingual model, no \`--language\`): once, on
  pad_or_trim(whole mel, 3000); decoder on [sot], logits at that position,
  every non-language token set to -inf, argmax (softmax for the probabilities).
  English-only models use language "en" and the sot sequence [sot].
- sot sequence: [sot] (English-only) or [sot, language, transcribe];
  + \`<|notimestamps|>\` when timestamps are off. With a prompt (condition on
  previous text: all_tokens[prompt_reset_since:]), initial tokens =
  [sot_prev] + prompt[-(448//2 - 1):] + sot sequence. sample_len = 224.
- no_speech_prob: softmax of the first step's logits at the sot position,
  probability of \`<|nospeech|>\`.
- Logit filters, in order: SuppressBlank (first step: \`Ġ\` (" ") and eot);
  SuppressTokens (generation_config suppress_tokens + transcribe, translate,
  sot, sot_prev, startoflm, nospeech); ApplyTimestampRules when timestamps are
  on (suppress notimestamps; pair rules; timestamps non-decreasing, and a new
  segment strictly later; first step timestamps only, at most <|1.00|>; if
  logsumexp of the timestamp log-probs > the best text log-prob, all
  non-timestamp tokens -inf).
- Greedy: argmax of the filtered logits; sum_logprob accumulates (float32)
  log_softmax(filtered logits) of the chosen tokens, including the eot.
  Beam: openai's BeamSearchDecoder (top beam_size+1 per beam, candidates keyed
  by sequence, eot-ended candidates finished, stop when beam_size finished,
  finalize fills with the best unfinished beams + eot), ranked by
  sum_logprob / length (length_penalty None). Stop at eot or when the sequence
  exceeds 448 tokens.
- Window result: tokens up to the first eot, text = decode(tokens).strip()
  (special tokens other than timestamps, e.g. a sampled \`<|ru|>\`, decode to
  their literal text there, as tiktoken does; invalid UTF-8 becomes U+FFFD via
  Python's errors="replace"), avg_logprob = sum_logprob / (len + 1),
  compression_ratio = len(utf8) / len(zlib.compress(utf8)) (zlib default level).
- Temperatures: only (0.0,) -- no sampling fallback (an RNG cannot be matched).
  needs_fallback is still evaluated (compression_ratio > 2.4 or avg_logprob <
  -1, except no_speech_prob > 0.6 with avg_logprob < -1) and recorded.
- No-speech skip: no_speech_prob > 0.6 and not avg_logprob > -1 -> seek +=
  segment_size, no segments.
- Segments: split after every pair of consecutive timestamps; a single
  timestamp ending keeps the last segment and advances seek by segment_size;
  otherwise seek advances to the last closing timestamp (x2 frames); with no
  pair, one segment [time_offset, time_offset + (last timestamp or the
  segment duration)] and seek += segment_size. Segments with start == end or
  blank text get empty text/tokens; all_tokens grows by the segment tokens.
- **Deliberate deviation** (unum makes the same one): if a window would leave
  seek unchanged (the last closed segment ends at <|0.00|>), openai/whisper
  would loop forever on that window; here seek += segment_size instead
  (window field \`stuck_advance\`). It does not occur in these goldens.

## JSON layout

\`model\`, \`audio\`, \`options\` (the transcribe/decoding options used),
\`language\`, for case 4 \`language_detected\` and \`language_probs_top3\`
([code, probability] x 3), \`content_frames\`, \`check\` (see below),
\`windows\`, \`segments\`, \`text\` (decode of all_tokens, like
transcribe()'s result["text"]).

Per window: \`seek\`, \`time_offset\`, \`segment_size\`, \`initial_tokens\`,
\`tokens\` (sampled ids, without initial tokens and eot), \`text\`,
\`sum_logprob\`, \`avg_logprob\`, \`no_speech_prob\`, \`temperature\`,
\`compression_ratio\`, \`needs_fallback\`, \`skipped\`, \`steps\` (decoder
steps run), \`min_margin\` and \`min_margin_step\`, \`min_ts_rule_gap\`,
\`stuck_advance\`, \`seek_after\`.

- \`min_margin\`: greedy: the smallest top-1 minus top-2 of the FILTERED
  logits over the steps (steps with a single allowed token are left out);
  beam: the smallest gap between the last kept and the best dropped
  non-eot candidate score (cumulative log-probs). A C result that differs
  right at a tiny margin is a near-tie flip, not necessarily a bug.
- \`min_ts_rule_gap\`: the smallest |logsumexp(timestamp log-probs) - max text
  log-prob| over the steps (the "timestamp mass beats text" rule's decision).

Per segment (only those with non-empty text): \`seek\`, \`start\`, \`end\`
(seconds, rounded to 2 decimals), \`text\` (not stripped), \`tokens\`.

\`check\` (from \`--check\`): for the first window and the first prompted
window, the logits of decoding steps 0 (every initial-token position), 1 and
50, computed by the reference's KV-cache decoder, compared with
whisper_ref.t_decoder (float32, full recompute) and whisper_ref's float64
numpy path (n_encoder + NDecoder) as max|diff|/max|ref|; the run aborts above
1e-4 or if the float64 argmax differs. Every decoded sequence is also checked
against the timestamp rules.

## Choices where the published code leaves room

- suppress_tokens "-1" means tokenizer.non_speech_tokens (computed with
  tiktoken); the reference takes generation_config.json's suppress_tokens as
  that list (it is HF's copy of it), plus the six specials decoding.py adds.
- Language, task and \`<|notimestamps|>\` tokens are NOT suppressed (only the
  six specials above are), so a random model can sample e.g. \`<|ru|>\`.
  As in openai/whisper such tokens stay in the window's tokens and in
  all_tokens (hence in the next prompt), appear literally in the window text
  (and its compression_ratio) and in the top-level text, but not in segment
  text (segments decode only ids < eot).
- Ties: argmax takes the first maximal id (torch); beam candidates are
  deduplicated by full sequence with Python dict semantics (first insertion
  position, last value/source), ranked with a stable sort; finalize fills
  with np.argsort order, exactly as decoding.py's code does.
- Log-prob sums are float32 (the tensors decoding.py uses with fp16 off);
  avg_logprob and the ranker's sum/length are Python doubles.
- English-only models ignore \`--language\` (get_tokenizer gives them no
  language/task), and no language detection is run for them.
- max_initial_timestamp_index = round(1.0 / (30 / n_audio_ctx)) = 50, checked
  against generation_config.json.

## Summary

min_margin / min_ts_rule_gap / no_speech_prob are per window (window 1 / window 2).

| file | model | language | windows | segments | min_margin | min_ts_rule_gap | no_speech_prob | reference run time |
|---|---|---|---|---|---|---|---|---|
$ROWS
Note: in these runs the random-weight fixtures never emit two timestamps in a row, never
end on eot, and have tiny no_speech probabilities, so these goldens exercise
the one-timestamp / no-pair segment path, the 224-token sample_len limit,
prompt conditioning with the 223-token prompt cut, beam search, language
detection and the timestamp rules, but not segment splitting at pairs, the
no-speech skip or the stuck-seek deviation; \`--selftest\` covers the
splitting with hand-worked cases.
EOF

echo "make_transcribe_goldens.sh: wrote $GOLD/{en-greedy-ts,en-greedy-nots,en-beam5-ts,v3-detect-ts,v3-de-ts}.json and $GOLD/README.md" >&2
