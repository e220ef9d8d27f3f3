/* kernels.c - see kernels.h.
 *
 * Decode is bound by reading the weights, so the matvec streams four rows at
 * a time through the vector unit, widening bf16/f16 to f32 in registers
 * (bf16 is the top half of an f32: a zero-extend and a shift). */
#include "engine/cpu/kernels.h"

#include "engine/base/util.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ generic */

/* Weights sit in the mmap at whatever offset the file gives them: safetensors
 * does not promise alignment, so every load goes through memcpy. */
static float load_one(DType dt, const void *W, size_t i) {
    const unsigned char *p = W;
    if (dt == DT_F32) {
        float f;
        memcpy(&f, p + 4 * i, sizeof f);
        return f;
    }
    uint16_t h;
    memcpy(&h, p + 2 * i, sizeof h);
    return dt == DT_BF16 ? unum_bf16_to_f32(h) : unum_f16_to_f32(h);
}

static void matvec_generic(DType dt, const void *W, int cols, int r0, int r1, const float *x,
                           float *y) {
    for (int r = r0; r < r1; r++) {
        float acc[8] = {0};
        size_t base = (size_t)r * (size_t)cols;
        int c = 0;
        for (; c + 8 <= cols; c += 8)
            for (int j = 0; j < 8; j++) acc[j] += load_one(dt, W, base + c + j) * x[c + j];
        float s = 0;
        for (int j = 0; j < 8; j++) s += acc[j];
        for (; c < cols; c++) s += load_one(dt, W, base + c) * x[c];
        y[r - r0] = s;
    }
}

/* Positions per pass of k_matvec_n (their accumulators must fit in the
 * vector registers) and rows per block: a block's rows are read from memory
 * by the first pass and found in L2 by the next ones. */
#define MVN_T 8
#define MVN_ROWS 16
/* The walk of matvec_n: blocks of MVN_ROWS rows, each against the positions
 * MVN_T at a time, the last group smaller; MVN_DT(NT) (defined by each
 * instruction set before it expands this) does one block for NT positions
 * held in registers. */
#define MVN_BLOCKS                                                                                 \
    for (int rb = r0; rb < r1; rb += MVN_ROWS) {                                                   \
        int re = r1 - rb < MVN_ROWS ? r1 : rb + MVN_ROWS;                                          \
        for (int t0 = 0; t0 < n; t0 += MVN_T) {                                                    \
            const float *Xt = X + (size_t)t0 * cols;                                               \
            float *Yt = Y + (size_t)t0 * ldy;                                                      \
            switch (n - t0 < MVN_T ? n - t0 : MVN_T) {                                             \
            case 1: MVN_DT(1); break;                                                              \
            case 2: MVN_DT(2); break;                                                              \
            case 3: MVN_DT(3); break;                                                              \
            case 4: MVN_DT(4); break;                                                              \
            case 5: MVN_DT(5); break;                                                              \
            case 6: MVN_DT(6); break;                                                              \
            case 7: MVN_DT(7); break;                                                              \
            default: MVN_DT(8);                                                                    \
            }                                                                                      \
        }                                                                                          \
    }
/* Bytes ahead in each weight row that k_matvec_n prefetches. With several
 * positions the loop spends long enough on each line that the hardware
 * prefetchers fall behind: 4 KB ahead made 6 positions cost 1.6-1.8 single
 * matvecs instead of 2.7-3.3 (bf16, Qwen2.5-0.5B's shapes, one thread of
 * the shared 2-core EPYC; 2 and 8 KB did less well). */
#define MVN_PF 4096

static void matvec_n_generic(DType dt, const void *W, int cols, int r0, int r1, const float *X,
                             int n, float *Y, size_t ldy) {
    float *row = xmalloc(sizeof(float) * (size_t)(cols ? cols : 1));
    for (int r = r0; r < r1; r++) {
        size_t base = (size_t)r * (size_t)cols;
        for (int c = 0; c < cols; c++) row[c] = load_one(dt, W, base + c);
        for (int t = 0; t < n; t++) {
            const float *x = X + (size_t)t * cols;
            float acc[8] = {0}, s = 0;
            int c = 0;
            for (; c + 8 <= cols; c += 8)
                for (int j = 0; j < 8; j++) acc[j] += row[c + j] * x[c + j];
            for (int j = 0; j < 8; j++) s += acc[j];
            for (; c < cols; c++) s += row[c] * x[c];
            Y[(size_t)t * ldy + (r - r0)] = s;
        }
    }
    free(row);
}

static void convert_generic(DType dt, const void *W, int cols, int r0, int r1, float *dst) {
    size_t n = (size_t)(r1 - r0) * (size_t)cols, base = (size_t)r0 * (size_t)cols;
    if (dt == DT_F32) {
        memcpy(dst, (const float *)W + base, n * sizeof(float));
        return;
    }
    for (size_t i = 0; i < n; i++) dst[i] = load_one(dt, W, base + i);
}

static void dot_rows_generic(const float *X, size_t ldx, int n, const float *q, int d,
                             float scale, float *out) {
    for (int s = 0; s < n; s++) {
        const float *x = X + (size_t)s * ldx;
        float acc = 0;
        for (int i = 0; i < d; i++) acc += x[i] * q[i];
        out[s] = scale * acc;
    }
}

static void axpy_rows_generic(float *acc, const float *X, size_t ldx, int n, const float *w,
                              int d) {
    for (int s = 0; s < n; s++) {
        const float *x = X + (size_t)s * ldx;
        for (int i = 0; i < d; i++) acc[i] += w[s] * x[i];
    }
}

/* The exact (erf) GELU. The vector versions compute erf by Abramowitz and
 * Stegun 7.1.26 (|error| < 1.5e-7) with exp(-z^2) from Cephes' expf
 * polynomial; this one calls libm's erff. */
static void gelu_generic(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

#define ERF_P 0.3275911f
#define ERF_A1 0.254829592f
#define ERF_A2 -0.284496736f
#define ERF_A3 1.421413741f
#define ERF_A4 -1.453152027f
#define ERF_A5 1.061405429f

/* ------------------------------------------------------------ AVX-512 */

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c")))

AVX512 static inline __m512 ld16(DType dt, const void *W, size_t i) {
    if (dt == DT_BF16) {
        __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)W + i));
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    if (dt == DT_F16)
        return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)W + i)));
    return _mm512_loadu_ps((const float *)W + i);
}

/* One row at a time streams best while x fits in L1 next to the weight
 * stream; for long rows (down_proj: 4864 columns, 19 KB of x) x would be
 * re-read from L2 for every row, so four rows share each load of x. */
#define MATVEC_LONG_ROW 2048

AVX512 static void matvec_avx512(DType dt, const void *W, int cols, int r0, int r1, const float *x,
                                 float *y) {
    int r = r0;
    if (cols > MATVEC_LONG_ROW) {
        int cv = cols & ~15;
        for (; r + 4 <= r1; r += 4) {
            size_t b0 = (size_t)r * cols, b1 = b0 + cols, b2 = b1 + cols, b3 = b2 + cols;
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int c = 0; c < cv; c += 16) {
                __m512 xv = _mm512_loadu_ps(x + c);
                a0 = _mm512_fmadd_ps(ld16(dt, W, b0 + c), xv, a0);
                a1 = _mm512_fmadd_ps(ld16(dt, W, b1 + c), xv, a1);
                a2 = _mm512_fmadd_ps(ld16(dt, W, b2 + c), xv, a2);
                a3 = _mm512_fmadd_ps(ld16(dt, W, b3 + c), xv, a3);
            }
            float s[4] = {_mm512_reduce_add_ps(a0), _mm512_reduce_add_ps(a1),
                          _mm512_reduce_add_ps(a2), _mm512_reduce_add_ps(a3)};
            for (int c = cv; c < cols; c++)
                for (int j = 0; j < 4; j++)
                    s[j] += load_one(dt, W, b0 + (size_t)j * cols + c) * x[c];
            memcpy(y + (r - r0), s, sizeof s);
        }
    }
    int cv = cols & ~31;
    for (; r < r1; r++) {
        size_t b = (size_t)r * cols;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0;
        int c = 0;
        for (; c < cv; c += 32) {
            a0 = _mm512_fmadd_ps(ld16(dt, W, b + c), _mm512_loadu_ps(x + c), a0);
            a1 = _mm512_fmadd_ps(ld16(dt, W, b + c + 16), _mm512_loadu_ps(x + c + 16), a1);
        }
        for (; c + 16 <= cols; c += 16)
            a0 = _mm512_fmadd_ps(ld16(dt, W, b + c), _mm512_loadu_ps(x + c), a0);
        float s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
        for (; c < cols; c++) s += load_one(dt, W, b + c) * x[c];
        y[r - r0] = s;
    }
}

/* Two rows against nt <= MVN_T positions: 2 x 8 accumulators, the two
 * widened weight vectors and one of x fill the 32 registers; each load of x
 * serves both rows. dt and nt are constants in every caller (see
 * matvec_n_avx512), so the branches in ld16 and the loops over t vanish.
 * y0 may equal y1 (b0 == b1) for a last, odd row. */
AVX512 static inline __attribute__((always_inline)) void
rows2_avx512(DType dt, const void *W, int cols, size_t b0, size_t b1, const float *X, int nt,
             float *y0, float *y1, size_t ldy) {
    __m512 a0[MVN_T], a1[MVN_T];
#pragma GCC unroll 8
    for (int t = 0; t < nt; t++) a0[t] = a1[t] = _mm512_setzero_ps();
    int cv = cols & ~15;
    size_t es = dt == DT_F32 ? 4 : 2;
    for (int c = 0; c < cv; c += 16) {
        _mm_prefetch((const char *)W + (b0 + c) * es + MVN_PF, _MM_HINT_T0);
        _mm_prefetch((const char *)W + (b1 + c) * es + MVN_PF, _MM_HINT_T0);
        __m512 w0 = ld16(dt, W, b0 + c), w1 = ld16(dt, W, b1 + c);
#pragma GCC unroll 8
        for (int t = 0; t < nt; t++) {
            __m512 xv = _mm512_loadu_ps(X + (size_t)t * cols + c);
            a0[t] = _mm512_fmadd_ps(w0, xv, a0[t]);
            a1[t] = _mm512_fmadd_ps(w1, xv, a1[t]);
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < nt; t++) {
        const float *x = X + (size_t)t * cols;
        float s0 = _mm512_reduce_add_ps(a0[t]), s1 = _mm512_reduce_add_ps(a1[t]);
        for (int c = cv; c < cols; c++) {
            s0 += load_one(dt, W, b0 + c) * x[c];
            s1 += load_one(dt, W, b1 + c) * x[c];
        }
        y0[(size_t)t * ldy] = s0;
        y1[(size_t)t * ldy] = s1;
    }
}

AVX512 static inline __attribute__((always_inline)) void
block_avx512(DType dt, const void *W, int cols, int r0, int rb, int re, const float *X, int nt,
             float *Y, size_t ldy) {
    int r = rb;
    for (; r + 2 <= re; r += 2)
        rows2_avx512(dt, W, cols, (size_t)r * cols, (size_t)(r + 1) * cols, X, nt, Y + (r - r0),
                     Y + (r + 1 - r0), ldy);
    if (r < re)
        rows2_avx512(dt, W, cols, (size_t)r * cols, (size_t)r * cols, X, nt, Y + (r - r0),
                     Y + (r - r0), ldy);
}

/* block_avx512 with dt and nt as constants: 3 x 8 copies of the loop. */
#define MVN_DT(NT)                                                                                 \
    (dt == DT_BF16  ? block_avx512(DT_BF16, W, cols, r0, rb, re, Xt, NT, Yt, ldy)                  \
     : dt == DT_F16 ? block_avx512(DT_F16, W, cols, r0, rb, re, Xt, NT, Yt, ldy)                   \
                    : block_avx512(DT_F32, W, cols, r0, rb, re, Xt, NT, Yt, ldy))

AVX512 static void matvec_n_avx512(DType dt, const void *W, int cols, int r0, int r1,
                                   const float *X, int n, float *Y, size_t ldy) {
    MVN_BLOCKS
}
#undef MVN_DT

AVX512 static void convert_avx512(DType dt, const void *W, int cols, int r0, int r1, float *dst) {
    size_t n = (size_t)(r1 - r0) * (size_t)cols, base = (size_t)r0 * (size_t)cols, i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, ld16(dt, W, base + i));
    for (; i < n; i++) dst[i] = load_one(dt, W, base + i);
}

AVX512 static void dot_rows_avx512(const float *X, size_t ldx, int n, const float *q, int d,
                                   float scale, float *out) {
    int dv = d & ~15;
    for (int s = 0; s < n; s++) {
        const float *x = X + (size_t)s * ldx;
        __m512 a = _mm512_setzero_ps();
        for (int i = 0; i < dv; i += 16)
            a = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(q + i), a);
        float acc = _mm512_reduce_add_ps(a);
        for (int i = dv; i < d; i++) acc += x[i] * q[i];
        out[s] = scale * acc;
    }
}

AVX512 static void axpy_rows_avx512(float *acc, const float *X, size_t ldx, int n,
                                    const float *w, int d) {
    int i = 0;
    for (; i + 64 <= d; i += 64) { /* four registers of acc stay put over all rows */
        __m512 a0 = _mm512_loadu_ps(acc + i), a1 = _mm512_loadu_ps(acc + i + 16);
        __m512 a2 = _mm512_loadu_ps(acc + i + 32), a3 = _mm512_loadu_ps(acc + i + 48);
        for (int s = 0; s < n; s++) {
            const float *x = X + (size_t)s * ldx + i;
            __m512 ws = _mm512_set1_ps(w[s]);
            a0 = _mm512_fmadd_ps(ws, _mm512_loadu_ps(x), a0);
            a1 = _mm512_fmadd_ps(ws, _mm512_loadu_ps(x + 16), a1);
            a2 = _mm512_fmadd_ps(ws, _mm512_loadu_ps(x + 32), a2);
            a3 = _mm512_fmadd_ps(ws, _mm512_loadu_ps(x + 48), a3);
        }
        _mm512_storeu_ps(acc + i, a0);
        _mm512_storeu_ps(acc + i + 16, a1);
        _mm512_storeu_ps(acc + i + 32, a2);
        _mm512_storeu_ps(acc + i + 48, a3);
    }
    for (; i + 16 <= d; i += 16) {
        __m512 a = _mm512_loadu_ps(acc + i);
        for (int s = 0; s < n; s++)
            a = _mm512_fmadd_ps(_mm512_set1_ps(w[s]), _mm512_loadu_ps(X + (size_t)s * ldx + i), a);
        _mm512_storeu_ps(acc + i, a);
    }
    if (i < d) axpy_rows_generic(acc + i, X + i, ldx, n, w, d - i);
}

/* exp(w) for w in [-87.3, 0] (Cephes' expf) */
AVX512 static inline __m512 exp_neg16(__m512 w) {
    w = _mm512_max_ps(w, _mm512_set1_ps(-87.3f));
    __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(w, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), w);
    f = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), f);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(f, f), _mm512_add_ps(f, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, k);
}

AVX512 static void gelu_avx512(float *x, size_t n) {
    size_t i = 0;
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        __m512 z = _mm512_mul_ps(v, _mm512_set1_ps(0.70710678118654752f));
        __m512 a = _mm512_abs_ps(z);
        __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(a, _mm512_set1_ps(ERF_P), one));
        __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(ERF_A5), t, _mm512_set1_ps(ERF_A4));
        p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(ERF_A3));
        p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(ERF_A2));
        p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(ERF_A1));
        p = _mm512_mul_ps(p, t);
        __m512 e = exp_neg16(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), a), a));
        __m512 erfa = _mm512_fnmadd_ps(p, e, one); /* erf(|z|) */
        __mmask16 neg = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_LT_OQ);
        __m512 erf = _mm512_mask_sub_ps(erfa, neg, _mm512_setzero_ps(), erfa);
        _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, erf)));
    }
    if (i < n) gelu_generic(x + i, n - i);
}

/* ------------------------------------------------------------ AVX2 */

#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline __m256 ld8(DType dt, const void *W, size_t i) {
    if (dt == DT_BF16) {
        __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)W + i));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    if (dt == DT_F16)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)W + i)));
    return _mm256_loadu_ps((const float *)W + i);
}

AVX2 static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2 static void matvec_avx2(DType dt, const void *W, int cols, int r0, int r1, const float *x,
                             float *y) {
    int cv = cols & ~7;
    for (int r = r0; r < r1; r++) {
        size_t b = (size_t)r * cols;
        __m256 a = _mm256_setzero_ps(), a2 = a;
        int c = 0;
        for (; c + 16 <= cv; c += 16) {
            a = _mm256_fmadd_ps(ld8(dt, W, b + c), _mm256_loadu_ps(x + c), a);
            a2 = _mm256_fmadd_ps(ld8(dt, W, b + c + 8), _mm256_loadu_ps(x + c + 8), a2);
        }
        for (; c < cv; c += 8) a = _mm256_fmadd_ps(ld8(dt, W, b + c), _mm256_loadu_ps(x + c), a);
        float s = hsum8(_mm256_add_ps(a, a2));
        for (; c < cols; c++) s += load_one(dt, W, b + c) * x[c];
        y[r - r0] = s;
    }
}

/* One row against nt <= MVN_T positions: 8 accumulators of the 16
 * registers; dt and nt are constants as in rows2_avx512. */
AVX2 static inline __attribute__((always_inline)) void row_avx2(DType dt, const void *W, int cols,
                                                                size_t b, const float *X, int nt,
                                                                float *y, size_t ldy) {
    __m256 a[MVN_T];
#pragma GCC unroll 8
    for (int t = 0; t < nt; t++) a[t] = _mm256_setzero_ps();
    int cv = cols & ~7;
    size_t es = dt == DT_F32 ? 4 : 2;
    for (int c = 0; c < cv; c += 8) {
        if (!(c & 15)) _mm_prefetch((const char *)W + (b + c) * es + MVN_PF, _MM_HINT_T0);
        __m256 w = ld8(dt, W, b + c);
#pragma GCC unroll 8
        for (int t = 0; t < nt; t++)
            a[t] = _mm256_fmadd_ps(w, _mm256_loadu_ps(X + (size_t)t * cols + c), a[t]);
    }
#pragma GCC unroll 8
    for (int t = 0; t < nt; t++) {
        const float *x = X + (size_t)t * cols;
        float s = hsum8(a[t]);
        for (int c = cv; c < cols; c++) s += load_one(dt, W, b + c) * x[c];
        y[(size_t)t * ldy] = s;
    }
}

AVX2 static inline __attribute__((always_inline)) void block_avx2(DType dt, const void *W, int cols,
                                                                  int r0, int rb, int re,
                                                                  const float *X, int nt, float *Y,
                                                                  size_t ldy) {
    for (int r = rb; r < re; r++) row_avx2(dt, W, cols, (size_t)r * cols, X, nt, Y + (r - r0), ldy);
}

#define MVN_DT(NT)                                                                                 \
    (dt == DT_BF16  ? block_avx2(DT_BF16, W, cols, r0, rb, re, Xt, NT, Yt, ldy)                    \
     : dt == DT_F16 ? block_avx2(DT_F16, W, cols, r0, rb, re, Xt, NT, Yt, ldy)                     \
                    : block_avx2(DT_F32, W, cols, r0, rb, re, Xt, NT, Yt, ldy))

AVX2 static void matvec_n_avx2(DType dt, const void *W, int cols, int r0, int r1, const float *X,
                               int n, float *Y, size_t ldy) {
    MVN_BLOCKS
}
#undef MVN_DT

AVX2 static void convert_avx2(DType dt, const void *W, int cols, int r0, int r1, float *dst) {
    size_t n = (size_t)(r1 - r0) * (size_t)cols, base = (size_t)r0 * (size_t)cols, i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, ld8(dt, W, base + i));
    for (; i < n; i++) dst[i] = load_one(dt, W, base + i);
}

/* ------------------------------------------------------------ dispatch */

typedef enum { ISA_UNKNOWN, ISA_GENERIC, ISA_AVX2, ISA_AVX512 } Isa;
static Isa isa;

static Isa detect(void) {
    if (!isa) {
        __builtin_cpu_init();
        const char *force = getenv("UNUM_ISA"); /* tests pin a path */
        if (force && !strcmp(force, "generic")) isa = ISA_GENERIC;
        else if (force && !strcmp(force, "avx2") && __builtin_cpu_supports("avx2")) isa = ISA_AVX2;
        else if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl") && (!force || strcmp(force, "avx2")))
            isa = ISA_AVX512;
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) isa = ISA_AVX2;
        else isa = ISA_GENERIC;
    }
    return isa;
}

AVX2 static inline __m256 exp_neg8(__m256 w) {
    w = _mm256_max_ps(w, _mm256_set1_ps(-87.3f));
    __m256 k = _mm256_round_ps(_mm256_mul_ps(w, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 f = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), w);
    f = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), f);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(f, f), _mm256_add_ps(f, _mm256_set1_ps(1.0f)));
    /* times 2^k: k in [-126, 0] goes into the exponent bits */
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

AVX2 static void gelu_avx2(float *x, size_t n) {
    size_t i = 0;
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 z = _mm256_mul_ps(v, _mm256_set1_ps(0.70710678118654752f));
        __m256 a = _mm256_andnot_ps(sign, z);
        __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(a, _mm256_set1_ps(ERF_P), one));
        __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(ERF_A5), t, _mm256_set1_ps(ERF_A4));
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERF_A3));
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERF_A2));
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(ERF_A1));
        p = _mm256_mul_ps(p, t);
        __m256 e = exp_neg8(_mm256_mul_ps(_mm256_xor_ps(a, sign), a));
        __m256 erfa = _mm256_fnmadd_ps(p, e, one);
        __m256 erf = _mm256_or_ps(erfa, _mm256_and_ps(z, sign)); /* erf is odd */
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, erf)));
    }
    if (i < n) gelu_generic(x + i, n - i);
}

void k_reset_isa(void) { isa = ISA_UNKNOWN; }

int k_set_isa(const char *name) {
    __builtin_cpu_init();
    if (!strcmp(name, "generic")) isa = ISA_GENERIC;
    else if (!strcmp(name, "avx2") && __builtin_cpu_supports("avx2") &&
             __builtin_cpu_supports("fma"))
        isa = ISA_AVX2;
    else if (!strcmp(name, "avx512") && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        isa = ISA_AVX512;
    else return -1;
    return 0;
}

const char *k_isa(void) {
    switch (detect()) {
    case ISA_AVX512:
        return "avx512";
    case ISA_AVX2:
        return "avx2";
    default:
        return "generic";
    }
}

void k_matvec(DType dt, const void *W, int cols, int r0, int r1, const float *x, float *y) {
    switch (detect()) {
    case ISA_AVX512:
        matvec_avx512(dt, W, cols, r0, r1, x, y);
        break;
    case ISA_AVX2:
        matvec_avx2(dt, W, cols, r0, r1, x, y);
        break;
    default:
        matvec_generic(dt, W, cols, r0, r1, x, y);
    }
}

void k_matvec_n(DType dt, const void *W, int cols, int r0, int r1, const float *X, int n, float *Y,
                size_t ldy) {
    switch (detect()) {
    case ISA_AVX512:
        matvec_n_avx512(dt, W, cols, r0, r1, X, n, Y, ldy);
        break;
    case ISA_AVX2:
        matvec_n_avx2(dt, W, cols, r0, r1, X, n, Y, ldy);
        break;
    default:
        matvec_n_generic(dt, W, cols, r0, r1, X, n, Y, ldy);
    }
}

void k_dot_rows(const float *X, size_t ldx, int n, const float *q, int d, float scale,
                float *out) {
    if (detect() == ISA_AVX512) dot_rows_avx512(X, ldx, n, q, d, scale, out);
    else dot_rows_generic(X, ldx, n, q, d, scale, out);
}

void k_axpy_rows(float *acc, const float *X, size_t ldx, int n, const float *w, int d) {
    if (detect() == ISA_AVX512) axpy_rows_avx512(acc, X, ldx, n, w, d);
    else axpy_rows_generic(acc, X, ldx, n, w, d);
}

void k_gelu(float *x, size_t n) {
    switch (detect()) {
    case ISA_AVX512:
        gelu_avx512(x, n);
        break;
    case ISA_AVX2:
        gelu_avx2(x, n);
        break;
    default:
        gelu_generic(x, n);
    }
}

void k_convert_rows(DType dt, const void *W, int cols, int r0, int r1, float *dst) {
    switch (detect()) {
    case ISA_AVX512:
        convert_avx512(dt, W, cols, r0, r1, dst);
        break;
    case ISA_AVX2:
        convert_avx2(dt, W, cols, r0, r1, dst);
        break;
    default:
        convert_generic(dt, W, cols, r0, r1, dst);
    }
}
