/* qkernels.c - see qkernels.h.
 *
 * The layout (quant.h) packs along the inputs and runs along the outputs:
 * one row of words holds the same pack inputs of consecutive outputs. So the
 * vector kernels keep a register of outputs each, read a row of words per
 * pack inputs, and widen one input at a time from every lane (a shift; for
 * 4 bits the low nibble then indexes a 16-entry table of floats, one
 * permute). Decode reads each weight byte once, in rows of the thread's
 * outputs. */
#include "engine/cpu/qkernels.h"

#include "engine/cpu/kernels.h"
#include "engine/base/util.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

static uint32_t word(const QMat *m, int i, int n) {
    uint32_t w;
    memcpy(&w, (const char *)m->qw + 4 * ((size_t)i * m->rows + n), 4);
    return w;
}

static float scale(const QMat *m, int g, int n) {
    uint16_t h;
    memcpy(&h, (const char *)m->scales + 2 * ((size_t)g * m->rows + n), 2);
    return unum_f16_to_f32(h);
}

/* Sums of x over each group (the zero point's share). */
static void group_sums(const QMat *m, const float *x, float *xs) {
    for (int g = 0; g < m->n_groups; g++) {
        int kb = g * m->group, ke = kb + m->group < m->cols ? kb + m->group : m->cols;
        float s = 0;
        for (int k = kb; k < ke; k++) s += x[k];
        xs[g] = s;
    }
}

/* ------------------------------------------------------------ generic */

static void matvec_generic(const QMat *m, int r0, int r1, const float *x, const float *xs,
                           float *y) {
    int b = m->bits, p = 32 / b, K = m->cols, G = m->group;
    uint32_t mask = (1u << b) - 1;
    for (int n = r0; n < r1; n++) {
        float acc = 0;
        for (int g = 0; g < m->n_groups; g++) {
            int kb = g * G, ke = kb + G < K ? kb + G : K;
            float a = 0;
            for (int i = kb / p; i < ke / p; i++) {
                uint32_t w = word(m, i, n);
                for (int j = 0; j < p; j++) a += (float)((w >> (b * j)) & mask) * x[i * p + j];
            }
            acc += scale(m, g, n) * (a - (float)m->zeros[(size_t)g * m->rows + n] * xs[g]);
        }
        y[n - r0] = acc;
    }
}

static void dequant_generic(const QMat *m, int r0, int r1, float *dst, int ld) {
    int b = m->bits, p = 32 / b, K = m->cols;
    uint32_t mask = (1u << b) - 1;
    for (int k = 0; k < K; k++) {
        int g = k / m->group;
        for (int n = r0; n < r1; n++) {
            float q = (float)((word(m, k / p, n) >> (b * (k % p))) & mask);
            float s = scale(m, g, n), z = (float)m->zeros[(size_t)g * m->rows + n];
            dst[(size_t)k * ld + (n - r0)] = s * q - s * z;
        }
    }
}

/* ------------------------------------------------------------ AVX-512 */

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c")))
#define QV 4 /* registers of 16 outputs per block */

/* The scales and zeros of outputs n .. n+16 (lanes in mask) of group g. */
AVX512 static inline void sz16(const QMat *m, int g, int n, __mmask16 mk, __m512 *s, __m512 *z) {
    size_t o = (size_t)g * m->rows + n;
    *s = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mk, (const uint16_t *)m->scales + o));
    *z = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mk, m->zeros + o)));
}

/* Outputs n .. n + 16*nv (the last register masked by last) over all inputs. */
AVX512 static inline __attribute__((always_inline)) void
block_avx512(const QMat *m, int n, int nv, __mmask16 last, const float *x, const float *xs,
             float *y) {
    int N = m->rows, K = m->cols, G = m->group, b = m->bits, p = 32 / b;
    const uint32_t *qw = m->qw;
    const __m512 lut = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i lo8 = _mm512_set1_epi32(0xff);
    __mmask16 mk[QV];
    __m512 acc[QV];
#pragma GCC unroll 4
    for (int v = 0; v < QV; v++) {
        mk[v] = v < nv - 1 ? (__mmask16)0xffff : last;
        acc[v] = _mm512_setzero_ps();
    }
    for (int g = 0; g < m->n_groups; g++) {
        int kb = g * G, ke = kb + G < K ? kb + G : K;
        __m512 a[QV];
#pragma GCC unroll 4
        for (int v = 0; v < QV; v++) a[v] = _mm512_setzero_ps();
        for (int i = kb / p; i < ke / p; i++) {
            const uint32_t *row = qw + (size_t)i * N + n;
            const float *xk = x + (size_t)i * p;
            __m512i w[QV];
#pragma GCC unroll 4
            for (int v = 0; v < QV; v++)
                if (v < nv) w[v] = _mm512_maskz_loadu_epi32(mk[v], row + 16 * v);
            if (b == 4) {
#pragma GCC unroll 8
                for (int j = 0; j < 8; j++) {
                    __m512 xb = _mm512_set1_ps(xk[j]);
#pragma GCC unroll 4
                    for (int v = 0; v < QV; v++)
                        if (v < nv)
                            a[v] = _mm512_fmadd_ps(
                                _mm512_permutexvar_ps(_mm512_srli_epi32(w[v], 4 * j), lut), xb,
                                a[v]);
                }
            } else {
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++) {
                    __m512 xb = _mm512_set1_ps(xk[j]);
#pragma GCC unroll 4
                    for (int v = 0; v < QV; v++)
                        if (v < nv)
                            a[v] = _mm512_fmadd_ps(
                                _mm512_cvtepi32_ps(
                                    _mm512_and_si512(_mm512_srli_epi32(w[v], 8 * j), lo8)),
                                xb, a[v]);
                }
            }
        }
        __m512 xsum = _mm512_set1_ps(xs[g]);
#pragma GCC unroll 4
        for (int v = 0; v < QV; v++)
            if (v < nv) {
                __m512 s, z;
                sz16(m, g, n + 16 * v, mk[v], &s, &z);
                acc[v] = _mm512_fmadd_ps(s, _mm512_fnmadd_ps(z, xsum, a[v]), acc[v]);
            }
    }
#pragma GCC unroll 4
    for (int v = 0; v < QV; v++)
        if (v < nv) _mm512_mask_storeu_ps(y + 16 * v, mk[v], acc[v]);
}

AVX512 static void matvec_avx512(const QMat *m, int r0, int r1, const float *x, const float *xs,
                                 float *y) {
    int n = r0;
    for (; n + 16 * QV <= r1; n += 16 * QV) block_avx512(m, n, QV, 0xffff, x, xs, y + (n - r0));
    for (; n < r1; n += 16) {
        int left = r1 - n;
        block_avx512(m, n, 1, left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1), x,
                     xs, y + (n - r0));
    }
}

AVX512 static void dequant_avx512(const QMat *m, int r0, int r1, float *dst, int ld) {
    int N = m->rows, K = m->cols, b = m->bits, p = 32 / b;
    const __m512 lut = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i lo8 = _mm512_set1_epi32(0xff);
    for (int n = r0; n < r1; n += 16) {
        int left = r1 - n;
        __mmask16 mk = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
        for (int g = 0; g < m->n_groups; g++) {
            int kb = g * m->group, ke = kb + m->group < K ? kb + m->group : K;
            __m512 s, z;
            sz16(m, g, n, mk, &s, &z);
            __m512 sz = _mm512_mul_ps(s, z); /* exact: an fp16 times an integer <= 256 */
            for (int i = kb / p; i < ke / p; i++) {
                __m512i w = _mm512_maskz_loadu_epi32(mk, m->qw + (size_t)i * N + n);
                float *d = dst + (size_t)i * p * ld + (n - r0);
                for (int j = 0; j < p; j++) {
                    __m512i q = _mm512_srli_epi32(w, b * j);
                    __m512 qf = b == 4 ? _mm512_permutexvar_ps(q, lut)
                                       : _mm512_cvtepi32_ps(_mm512_and_si512(q, lo8));
                    _mm512_mask_storeu_ps(d + (size_t)j * ld, mk, _mm512_fmsub_ps(qf, s, sz));
                }
            }
        }
    }
}

/* ------------------------------------------------------------ AVX2 */

#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static void matvec_avx2(const QMat *m, int r0, int r1, const float *x, const float *xs,
                             float *y) {
    int N = m->rows, K = m->cols, G = m->group, b = m->bits, p = 32 / b;
    const __m256i mask = _mm256_set1_epi32((int)((1u << b) - 1));
    int n = r0;
    for (; n + 8 <= r1; n += 8) { /* the layout's outputs come in multiples of 8 */
        __m256 acc = _mm256_setzero_ps();
        for (int g = 0; g < m->n_groups; g++) {
            int kb = g * G, ke = kb + G < K ? kb + G : K;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0;
            for (int i = kb / p; i < ke / p; i++) {
                __m256i w = _mm256_loadu_si256((const __m256i *)(m->qw + (size_t)i * N + n));
                const float *xk = x + (size_t)i * p;
                for (int j = 0; j < p; j += 2) {
                    __m256 q0 = _mm256_cvtepi32_ps(
                        _mm256_and_si256(_mm256_srli_epi32(w, b * j), mask));
                    __m256 q1 = _mm256_cvtepi32_ps(
                        _mm256_and_si256(_mm256_srli_epi32(w, b * (j + 1)), mask));
                    a0 = _mm256_fmadd_ps(q0, _mm256_set1_ps(xk[j]), a0);
                    a1 = _mm256_fmadd_ps(q1, _mm256_set1_ps(xk[j + 1]), a1);
                }
            }
            size_t o = (size_t)g * N + n;
            __m256 s = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(m->scales + o)));
            __m256 z = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(
                (const __m128i *)(m->zeros + o))));
            __m256 a = _mm256_fnmadd_ps(z, _mm256_set1_ps(xs[g]), _mm256_add_ps(a0, a1));
            acc = _mm256_fmadd_ps(s, a, acc);
        }
        _mm256_storeu_ps(y + (n - r0), acc);
    }
    if (n < r1) matvec_generic(m, n, r1, x, xs, y + (n - r0));
}

/* ------------------------------------------------------------ dispatch */

#define MAX_GROUPS_STACK 1024

void kq_matvec(const QMat *m, int r0, int r1, const float *x, float *y) {
    float stack[MAX_GROUPS_STACK], *xs = stack;
    if (m->n_groups > MAX_GROUPS_STACK) xs = xmalloc(sizeof(float) * (size_t)m->n_groups);
    group_sums(m, x, xs);
    const char *isa = k_isa();
    if (!strcmp(isa, "avx512")) matvec_avx512(m, r0, r1, x, xs, y);
    else if (!strcmp(isa, "avx2")) matvec_avx2(m, r0, r1, x, xs, y);
    else matvec_generic(m, r0, r1, x, xs, y);
    if (xs != stack) free(xs);
}

void kq_dequant(const QMat *m, int r0, int r1, float *dst, int ld) {
    if (!strcmp(k_isa(), "avx512")) dequant_avx512(m, r0, r1, dst, ld);
    else dequant_generic(m, r0, r1, dst, ld);
}
