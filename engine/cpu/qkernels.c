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
#include <math.h>
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

static void dequant_generic(const QMat *m, int r0, int r1, int k0, int k1, float *dst, int ld) {
    int b = m->bits, p = 32 / b;
    uint32_t mask = (1u << b) - 1;
    for (int k = k0; k < k1; k++) {
        int g = k / m->group;
        for (int n = r0; n < r1; n++) {
            float q = (float)((word(m, k / p, n) >> (b * (k % p))) & mask);
            float s = scale(m, g, n), z = (float)m->zeros[(size_t)g * m->rows + n];
            dst[(size_t)(k - k0) * ld + (n - r0)] = s * q - s * z;
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

AVX512 static void dequant_avx512(const QMat *m, int r0, int r1, int k0, int k1, float *dst,
                                  int ld) {
    int N = m->rows, b = m->bits, p = 32 / b;
    const __m512 lut = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i lo8 = _mm512_set1_epi32(0xff);
    for (int g = k0 / m->group; g * m->group < k1; g++) {
        int kb = g * m->group > k0 ? g * m->group : k0;
        int ke = (g + 1) * m->group < k1 ? (g + 1) * m->group : k1;
        /* one row of the slab at a time, its outputs contiguous */
        for (int n = r0; n < r1; n += 16) {
            int left = r1 - n;
            __mmask16 mk = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
            __m512 s, z;
            sz16(m, g, n, mk, &s, &z);
            __m512 sz = _mm512_mul_ps(s, z); /* exact: an fp16 times an integer <= 256 */
            for (int i = kb / p; i < ke / p; i++) {
                __m512i w = _mm512_maskz_loadu_epi32(mk, m->qw + (size_t)i * N + n);
                float *d = dst + (size_t)(i * p - k0) * ld + (n - r0);
                if (b == 4)
                    for (int j = 0; j < 8; j++)
                        _mm512_mask_storeu_ps(
                            d + (size_t)j * ld, mk,
                            _mm512_fmsub_ps(
                                _mm512_permutexvar_ps(_mm512_srli_epi32(w, 4 * j), lut), s, sz));
                else
                    for (int j = 0; j < 4; j++)
                        _mm512_mask_storeu_ps(
                            d + (size_t)j * ld, mk,
                            _mm512_fmsub_ps(_mm512_cvtepi32_ps(_mm512_and_si512(
                                                _mm512_srli_epi32(w, 8 * j), lo8)),
                                            s, sz));
            }
        }
    }
}

/* ------------------------------------------------------------ AVX-512 VNNI */

/* Decode with integer dot products that stay exact: x is split per group
 * into three int8 pieces, x = c0 p0 + c1 p1 + c2 p2 with c0 = max|x| / 127
 * and c(j+1) = cj / 254, leaving at most 6.1e-8 of the group's max|x|
 * behind (float32's own rounding is 6e-8). vpdpbusd multiplies the unsigned
 * weights by each piece and sums in int32, which is exact; the three sums
 * meet in float32 once per group. So the weight bytes are widened by one
 * and (and a shift for 4 bits) per 64 or 128 weights, not one shift and
 * one permute per 16. */
#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,fma,f16c")))
#define PIECES 3

/* The activations split for vpdpbusd: for piece j and word row i, xw[j][i *
 * per + h] holds the 4 int8s that meet the 4 weight bytes of plane h (4 bits:
 * plane 0 the low nibbles, inputs 8i + 0, 2, 4, 6; plane 1 the high nibbles,
 * 8i + 1, 3, 5, 7; 8 bits: one plane, inputs 4i .. 4i+3). Per group: the
 * piece scales c[g][j] and sum of x as the pieces give it. */
typedef struct {
    int32_t *xw[PIECES];
    float *c, *xs;
} Split;

static size_t split_bytes(const QMat *m) {
    size_t words = (size_t)m->cols / 4; /* 4 int8s per word, every input once */
    return PIECES * words * 4 + (size_t)m->n_groups * (PIECES + 1) * sizeof(float);
}

static Split split_view(const QMat *m, void *at) {
    Split sp;
    size_t words = (size_t)m->cols / 4;
    int32_t *w = at;
    for (int j = 0; j < PIECES; j++) sp.xw[j] = w + (size_t)j * words;
    sp.c = (float *)(w + PIECES * words);
    sp.xs = sp.c + (size_t)m->n_groups * PIECES;
    return sp;
}

VNNI static void split_x(const QMat *m, const float *x, Split *sp) {
    int K = m->cols, b = m->bits;
    /* 4 bits: within each word's 8 inputs, the low-nibble plane takes inputs
     * 0, 2, 4, 6 and the high one 1, 3, 5, 7 */
    const __m128i planes = _mm_setr_epi8(0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15);
    const __m512 hi = _mm512_set1_ps(127.0f), lo = _mm512_set1_ps(-127.0f);
    for (int g = 0; g < m->n_groups; g++) {
        int kb = g * m->group, ke = kb + m->group < K ? kb + m->group : K;
        __m512 vmx = _mm512_setzero_ps();
        for (int k = kb; k < ke; k += 16) {
            __mmask16 mk = ke - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (ke - k)) - 1);
            vmx = _mm512_max_ps(vmx, _mm512_abs_ps(_mm512_maskz_loadu_ps(mk, x + k)));
        }
        float c[PIECES], inv[PIECES];
        c[0] = _mm512_reduce_max_ps(vmx) / 127.0f;
        for (int j = 1; j < PIECES; j++) c[j] = c[j - 1] / 254.0f;
        for (int j = 0; j < PIECES; j++) inv[j] = c[j] > 0 ? 1.0f / c[j] : 0.0f;
        __m512 vsum[PIECES];
        for (int j = 0; j < PIECES; j++) vsum[j] = _mm512_setzero_ps();
        for (int k = kb; k < ke; k += 16) { /* groups are whole words of 8 or 4 inputs */
            __mmask16 mk = ke - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (ke - k)) - 1);
            __m512 r = _mm512_maskz_loadu_ps(mk, x + k);
            for (int j = 0; j < PIECES; j++) {
                __m512 v = _mm512_roundscale_ps(_mm512_mul_ps(r, _mm512_set1_ps(inv[j])),
                                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
                r = _mm512_fnmadd_ps(v, _mm512_set1_ps(c[j]), r);
                vsum[j] = _mm512_add_ps(vsum[j], v); /* integers below 2^24: exact */
                __m128i q = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(v));
                if (b == 4) q = _mm_shuffle_epi8(q, planes);
                _mm_mask_storeu_epi8((int8_t *)sp->xw[j] + k, mk, q);
            }
        }
        double sum = 0;
        for (int j = 0; j < PIECES; j++) {
            sp->c[g * PIECES + j] = c[j];
            sum += (double)c[j] * _mm512_reduce_add_ps(vsum[j]);
        }
        sp->xs[g] = (float)sum;
    }
}

VNNI static inline __attribute__((always_inline)) void
block_vnni(const QMat *m, int n, int nv, __mmask16 last, const Split *sp, float *y) {
    int N = m->rows, K = m->cols, G = m->group, b = m->bits, p = 32 / b;
    const uint32_t *qw = m->qw;
    const __m512i lo4 = _mm512_set1_epi32(0x0f0f0f0f);
    __mmask16 mk[QV];
    __m512 acc[QV];
#pragma GCC unroll 4
    for (int v = 0; v < QV; v++) {
        mk[v] = v < nv - 1 ? (__mmask16)0xffff : last;
        acc[v] = _mm512_setzero_ps();
    }
    for (int g = 0; g < m->n_groups; g++) {
        int kb = g * G, ke = kb + G < K ? kb + G : K;
        __m512i I[QV][PIECES];
#pragma GCC unroll 4
        for (int v = 0; v < QV; v++)
#pragma GCC unroll 3
            for (int j = 0; j < PIECES; j++) I[v][j] = _mm512_setzero_si512();
        for (int i = kb / p; i < ke / p; i++) {
            const uint32_t *row = qw + (size_t)i * N + n;
            if (b == 4) {
                __m512i e[PIECES], o[PIECES];
#pragma GCC unroll 3
                for (int j = 0; j < PIECES; j++) {
                    e[j] = _mm512_set1_epi32(sp->xw[j][2 * i]);
                    o[j] = _mm512_set1_epi32(sp->xw[j][2 * i + 1]);
                }
#pragma GCC unroll 4
                for (int v = 0; v < QV; v++)
                    if (v < nv) {
                        __m512i w = _mm512_maskz_loadu_epi32(mk[v], row + 16 * v);
                        __m512i lo = _mm512_and_si512(w, lo4);
                        __m512i hi = _mm512_and_si512(_mm512_srli_epi32(w, 4), lo4);
#pragma GCC unroll 3
                        for (int j = 0; j < PIECES; j++)
                            I[v][j] = _mm512_dpbusd_epi32(
                                _mm512_dpbusd_epi32(I[v][j], lo, e[j]), hi, o[j]);
                    }
            } else {
                __m512i e[PIECES];
#pragma GCC unroll 3
                for (int j = 0; j < PIECES; j++) e[j] = _mm512_set1_epi32(sp->xw[j][i]);
#pragma GCC unroll 4
                for (int v = 0; v < QV; v++)
                    if (v < nv) {
                        __m512i w = _mm512_maskz_loadu_epi32(mk[v], row + 16 * v);
#pragma GCC unroll 3
                        for (int j = 0; j < PIECES; j++) I[v][j] = _mm512_dpbusd_epi32(I[v][j], w, e[j]);
                    }
            }
        }
        __m512 xsum = _mm512_set1_ps(sp->xs[g]);
#pragma GCC unroll 4
        for (int v = 0; v < QV; v++)
            if (v < nv) {
                __m512 s, z, f = _mm512_setzero_ps();
                /* the finest piece first, so the largest term is added last */
#pragma GCC unroll 3
                for (int j = PIECES - 1; j >= 0; j--)
                    f = _mm512_fmadd_ps(_mm512_set1_ps(sp->c[g * PIECES + j]),
                                        _mm512_cvtepi32_ps(I[v][j]), f);
                sz16(m, g, n + 16 * v, mk[v], &s, &z);
                acc[v] = _mm512_fmadd_ps(s, _mm512_fnmadd_ps(z, xsum, f), acc[v]);
            }
    }
#pragma GCC unroll 4
    for (int v = 0; v < QV; v++)
        if (v < nv) _mm512_mask_storeu_ps(y + 16 * v, mk[v], acc[v]);
}

VNNI static void matvec_vnni(const QMat *m, int r0, int r1, const Split *sp, float *y) {
    int n = r0;
    for (; n + 16 * QV <= r1; n += 16 * QV) block_vnni(m, n, QV, 0xffff, sp, y + (n - r0));
    for (; n < r1; n += 16) {
        int left = r1 - n;
        block_vnni(m, n, 1, left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1), sp,
                   y + (n - r0));
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

static int vnni = -1; /* -1: not yet asked */

int kq_use_vnni(int on) {
    __builtin_cpu_init();
    int have = __builtin_cpu_supports("avx512vnni");
    vnni = on < 0 ? have : on && have;
    return on > 0 && !have ? -1 : 0;
}

/* prep: x in the layout's order [cols], its group sums [n_groups], then
 * (with VNNI) its split */
size_t kq_prep_bytes(const QMat *m) {
    return ((size_t)m->cols + (size_t)m->n_groups) * sizeof(float) + split_bytes(m);
}

static int use_vnni(void) {
    if (vnni < 0) kq_use_vnni(-1);
    return vnni && !strcmp(k_isa(), "avx512");
}

void kq_prepare(const QMat *m, const float *x, void *prep) {
    float *xl = prep, *xs = xl + m->cols;
    if (m->perm)
        for (int k = 0; k < m->cols; k++) xl[k] = x[m->perm[k]];
    if (use_vnni()) { /* the split alone: it holds the group sums too */
        Split sp = split_view(m, xs + m->n_groups);
        split_x(m, m->perm ? xl : x, &sp);
        return;
    }
    if (!m->perm) memcpy(xl, x, sizeof(float) * (size_t)m->cols);
    group_sums(m, xl, xs);
}

void kq_matvec(const QMat *m, int r0, int r1, const void *prep, float *y) {
    const float *xl = prep, *xs = xl + m->cols;
    const char *isa = k_isa();
    if (use_vnni()) {
        Split sp = split_view(m, (void *)(xs + m->n_groups));
        matvec_vnni(m, r0, r1, &sp, y);
    } else if (!strcmp(isa, "avx512")) matvec_avx512(m, r0, r1, xl, xs, y);
    else if (!strcmp(isa, "avx2")) matvec_avx2(m, r0, r1, xl, xs, y);
    else matvec_generic(m, r0, r1, xl, xs, y);
}

void kq_dequant(const QMat *m, int r0, int r1, int k0, int k1, float *dst, int ld) {
    if (!strcmp(k_isa(), "avx512")) dequant_avx512(m, r0, r1, k0, k1, dst, ld);
    else dequant_generic(m, r0, r1, k0, k1, dst, ld);
}
