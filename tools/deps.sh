#!/bin/sh
# deps.sh app|test|fuzz - installs the Debian packages unum needs to build
# and run (app), to run its tests (test) or its fuzz targets (fuzz), when they
# are missing. As root it uses apt-get; otherwise it prints the exact command
# and fails.
set -e
what=${1:-app}
pkgs="build-essential pkg-config libcjson-dev libpcre2-dev libutf8proc-dev libopenblas-dev liblapacke-dev libsqlite3-dev libssl-dev libfftw3-dev libsamplerate0-dev zlib1g-dev libsdl2-dev libncurses-dev libcurl4-openssl-dev"
if [ "$what" = test ]; then
    command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"
    pkgs="$pkgs sox espeak-ng tmux" # WAV files from an independent writer; speech; the app tests
    pkgs="$pkgs python3" # the local hub server of the pull tests
fi
if [ "$what" = fuzz ]; then
    pkgs="$pkgs clang libclang-rt-dev" # libFuzzer's runtime is only recommended
fi
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "deps: installing$missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
        echo "unum needs Debian packages that are not installed. Run:" >&2
        echo "    sudo apt-get install -y$missing" >&2
        exit 1
    fi
fi
if [ "$what" = test ]; then
    "$(dirname "$0")/deps-npm.sh"
fi
