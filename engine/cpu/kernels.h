/* kernels.h - the CPU backend's inner loops, with AVX-512 and AVX2 versions
 * chosen at run time and a portable fallback. All accumulate in float32. */
#ifndef UNUM_KERNELS_H
#define UNUM_KERNELS_H

#include "engine/safetensors.h"

#include <stddef.h>

/* y[r - r0] = dot(W[r, :], x) for rows r0 .. r1 of W [? x cols] in dtype dt. */
void k_matvec(DType dt, const void *W, int cols, int r0, int r1, const float *x, float *y);
/* Several positions at once (a speculative verify, a short prompt):
 * Y[t * ldy + (r - r0)] = dot(W[r, :], X[t * cols : (t + 1) * cols]) for
 * t < n and rows r0 .. r1. Each row of W is read from memory once for all n
 * positions (they are taken 8 at a time over blocks of rows small enough to
 * stay in cache), so where decode is bound by reading the weights a few
 * positions cost about one k_matvec; the multiply-adds grow with n, and
 * from about 16 positions sgemm is the better tool. Any n >= 1. */
void k_matvec_n(DType dt, const void *W, int cols, int r0, int r1, const float *X, int n, float *Y,
                size_t ldy);
/* dst[(r - r0) * cols + c] = W[r, c] as float32 for rows r0 .. r1. */
void k_convert_rows(DType dt, const void *W, int cols, int r0, int r1, float *dst);
/* out[s] = scale * dot(X[s, 0:d], q) for s < n; rows of X are ldx apart. */
void k_dot_rows(const float *X, size_t ldx, int n, const float *q, int d, float scale,
                float *out);
/* acc[0:d] += sum over s < n of w[s] * X[s, 0:d]; rows of X are ldx apart. */
void k_axpy_rows(float *acc, const float *X, size_t ldx, int n, const float *w, int d);
/* x[i] = 0.5 x[i] (1 + erf(x[i] / sqrt 2)) for i < n: the exact GELU, to
 * 2e-7 of max(1, |x|) on the vector paths (the generic one calls erff). */
void k_gelu(float *x, size_t n);
/* Which instruction set the kernels use ("avx512", "avx2", "generic"). */
const char *k_isa(void);
/* Switches to "generic", "avx2" or "avx512"; -1 when the CPU lacks it.
 * For tests that cross-check the paths; not thread-safe against running
 * kernels. */
int k_set_isa(const char *name);
/* Back to the best the CPU has (or UNUM_ISA). */
void k_reset_isa(void);

#endif
