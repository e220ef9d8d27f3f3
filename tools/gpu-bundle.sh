#!/bin/sh
# gpu-bundle.sh - copies the headers and shared libraries unum builds against
# (cJSON, PCRE2, utf8proc, OpenBLAS, LAPACKE, SQLite, libcrypto, FFTW, libsamplerate, zlib,
# ncursesw, libcurl and the libraries it loads)
# into build/sysroot, so that a
# GPU machine without Debian's -dev packages or a network can still build
# with `make SYSROOT=build/sysroot` (its own nvcc and CUDA toolkit). Carry
# build/sysroot (about 45 MB) and build/npm with the working tree.
set -e
root=build/sysroot
rm -rf "$root"
mkdir -p "$root/include" "$root/lib"
inc=/usr/include
cp -r "$inc/cjson" "$inc/openssl" "$inc/x86_64-linux-gnu/curl" "$root/include/"
cp "$inc"/x86_64-linux-gnu/openssl/*.h "$root/include/openssl/"
cp "$inc/pcre2.h" "$inc/utf8proc.h" "$inc/sqlite3.h" "$inc/sqlite3ext.h" "$inc/fftw3.h" \
    "$inc/samplerate.h" "$inc/zlib.h" "$inc/zconf.h" "$inc/curses.h" "$inc/ncurses_dll.h" \
    "$inc/unctrl.h" "$inc/lapack.h" "$inc/lapacke.h" "$inc/lapacke_config.h" \
    "$inc/lapacke_mangling.h" "$inc/lapacke_utils.h" "$root/include/"
cp "$inc"/x86_64-linux-gnu/openblas-pthread/*.h "$root/include/" 2>/dev/null ||
    cp "$inc"/x86_64-linux-gnu/cblas*.h "$inc"/x86_64-linux-gnu/openblas_config.h "$root/include/"
for lib in libcjson.so.1 libpcre2-8.so.0 libutf8proc.so.2 libopenblas.so.0 libgfortran.so.5 \
    libquadmath.so.0 libsqlite3.so.0 libcrypto.so.3 libfftw3f.so.3 libsamplerate.so.0 libz.so.1 \
    libncursesw.so.6 libtinfo.so.6 libcurl.so.4 liblapacke.so.3 liblapack.so.3 libtmglib.so.3 \
    libblas.so.3; do
    path=$(ldconfig -p | awk -v l="$lib" '$1 == l { print $NF; exit }')
    [ -n "$path" ] || { echo "gpu-bundle: $lib not found (run tools/deps.sh app)" >&2; exit 1; }
    cp -L "$path" "$root/lib/$lib"
    base=${lib%%.so*}
    ln -sf "$lib" "$root/lib/$base.so"
done
# libcurl's own dependencies (TLS, HTTP/2, IDN, ...), all but the C library's
ldd "$root/lib/libcurl.so.4" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | while read -r dep; do
    name=$(basename "$dep")
    case $name in libc.so.* | libm.so.* | libdl.so.* | libpthread.so.* | librt.so.* | ld-linux*) continue ;; esac
    [ -e "$root/lib/$name" ] || cp -L "$dep" "$root/lib/$name"
done
du -sh "$root"
