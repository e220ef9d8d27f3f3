/* test_kernels.c - the CPU backend's ops against plain double-precision
 * loops, for every instruction-set path this CPU has, on awkward sizes. */
#include "engine/cpu/kernels.h"
#include "engine/family.h"
#include "engine/ops.h"
#include "tests/test.h"
#include "engine/base/util.h"

#include <stdlib.h>

static const char *isas[] = {"generic", "avx2", "avx512"};

static uint64_t rng = 12345;
static float frand(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* A random [rows x cols] weight in dt; also returns the exact f32 values. */
static void *make_weight(DType dt, int rows, int cols, float **exact) {
    size_t n = (size_t)rows * cols;
    void *w = xmalloc(n * dtype_size(dt));
    *exact = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        float v = frand();
        if (dt == DT_F32) ((float *)w)[i] = (*exact)[i] = v;
        else if (dt == DT_BF16) {
            uint16_t h = unum_f32_to_bf16(v);
            ((uint16_t *)w)[i] = h;
            (*exact)[i] = unum_bf16_to_f32(h);
        } else {
            uint16_t h = unum_f32_to_f16(v);
            ((uint16_t *)w)[i] = h;
            (*exact)[i] = unum_f16_to_f32(h);
        }
    }
    return w;
}

TEST(kernels_matvec_and_convert_every_isa) {
    static const int shapes[][2] = {{1, 1},    {3, 7},  {5, 16},   {17, 33}, {9, 100},
                                    {37, 899}, {4, 64}, {9, 2100}, {6, 4864}};
    for (int k = 0; k < 3; k++) {
        if (k_set_isa(isas[k])) continue;
        for (int d = 0; d < 3; d++) {
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                int rows = shapes[s][0], cols = shapes[s][1];
                float *ex, *x = xmalloc(sizeof(float) * cols), *y = xmalloc(sizeof(float) * rows);
                float *conv = xmalloc(sizeof(float) * rows * cols);
                void *w = make_weight((DType)d, rows, cols, &ex);
                for (int c = 0; c < cols; c++) x[c] = frand();
                /* a sub-range of rows, to check the offsets */
                int r0 = rows > 2 ? 1 : 0;
                k_matvec((DType)d, w, cols, r0, rows, x, y);
                for (int r = r0; r < rows; r++) {
                    double ref = 0, mag = 0;
                    for (int c = 0; c < cols; c++) {
                        ref += (double)ex[(size_t)r * cols + c] * x[c];
                        mag += fabs((double)ex[(size_t)r * cols + c] * x[c]);
                    }
                    CHECK_NEAR(y[r - r0], ref, 1e-6 * mag + 1e-7);
                }
                k_convert_rows((DType)d, w, cols, r0, rows, conv);
                for (int i = 0; i < (rows - r0) * cols; i++)
                    if (conv[i] != ex[(size_t)r0 * cols + i]) {
                        test_fail(__FILE__, __LINE__, "%s %s convert differs at %d", isas[k],
                                  dtype_name((DType)d), i);
                        break;
                    }
                free(w), free(ex), free(x), free(y), free(conv);
            }
        }
    }
    k_reset_isa();
}

/* k_matvec_n for 1 to 17 positions (a pass of 8, a second pass, a tail of
 * 1) on sub-ranges that start odd, end odd and cross a block of rows, each
 * output against a double-precision dot product. */
TEST(kernels_matvec_n_every_isa) {
    static const int shapes[][2] = {{1, 5}, {3, 16}, {19, 33}, {37, 264}, {6, 2100}};
    for (int k = 0; k < 3; k++) {
        if (k_set_isa(isas[k])) continue;
        for (int d = 0; d < 3; d++)
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                int rows = shapes[s][0], cols = shapes[s][1], r0 = rows > 2 ? 1 : 0;
                float *ex;
                void *w = make_weight((DType)d, rows, cols, &ex);
                float *X = xmalloc(sizeof(float) * 17 * cols);
                for (int i = 0; i < 17 * cols; i++) X[i] = frand();
                size_t ldy = (size_t)rows + 3; /* a stride wider than the range */
                float *Y = xmalloc(sizeof(float) * 17 * ldy);
                for (int n = 1; n <= 17; n++) {
                    for (size_t i = 0; i < 17 * ldy; i++) Y[i] = NAN;
                    k_matvec_n((DType)d, w, cols, r0, rows, X, n, Y, ldy);
                    int bad = 0;
                    for (int t = 0; t < 17 && !bad; t++)
                        for (int r = r0; r - r0 < (int)ldy && !bad; r++) {
                            float got = Y[(size_t)t * ldy + (r - r0)];
                            if (t >= n || r >= rows) { /* outside: untouched */
                                if (!isnan(got)) bad = 1;
                                continue;
                            }
                            double ref = 0, mag = 0;
                            for (int c = 0; c < cols; c++) {
                                double p =
                                    (double)ex[(size_t)r * cols + c] * X[(size_t)t * cols + c];
                                ref += p, mag += fabs(p);
                            }
                            if (!(fabs(got - ref) <= 1e-6 * mag + 1e-7)) bad = 1;
                        }
                    if (bad)
                        test_fail(__FILE__, __LINE__, "%s %s %dx%d n=%d: k_matvec_n differs",
                                  isas[k], dtype_name((DType)d), rows, cols, n);
                }
                free(w), free(ex), free(X), free(Y);
            }
    }
    k_reset_isa();
}

TEST(kernels_f16_and_bf16_conversions_are_exact) {
    /* every f16 value round-trips; bf16 rounds to nearest even */
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue; /* NaN payloads */
        float f = unum_f16_to_f32((uint16_t)h);
        if (unum_f32_to_f16(f) != h) {
            test_fail(__FILE__, __LINE__, "f16 0x%04x round trip gives 0x%04x", h,
                      unum_f32_to_f16(f));
            break;
        }
    }
    CHECK_EQ_INT(unum_f32_to_bf16(1.0f), 0x3f80);
    union {
        uint32_t u;
        float f;
    } v = {0x3f808000u}; /* exactly halfway: to even */
    CHECK_EQ_INT(unum_f32_to_bf16(v.f), 0x3f80);
    v.u = 0x3f818000u;
    CHECK_EQ_INT(unum_f32_to_bf16(v.f), 0x3f82);
    CHECK_NEAR(unum_f16_to_f32(unum_f32_to_f16(1e-6f)), 1e-6, 3e-8); /* subnormal */
    CHECK_EQ_INT(unum_f32_to_f16(1e6f), 0x7c00);                     /* overflow: inf */
}

/* y = x W^T + b in double */
static void ref_matmul(double *y, const float *x, const float *W, const float *b, int T, int R,
                       int C) {
    for (int t = 0; t < T; t++)
        for (int r = 0; r < R; r++) {
            double s = b ? b[r] : 0;
            for (int c = 0; c < C; c++) s += (double)x[(size_t)t * C + c] * W[(size_t)r * C + c];
            y[(size_t)t * R + r] = s;
        }
}

static Weight as_weight(DType dt, int rows, int cols, const void *data) {
    return (Weight){dt, rows, cols, data, NULL};
}

TEST(cpu_matmul_matches_reference_for_all_batch_sizes) {
    static const int Ts[] = {1, 2, 3, 4, 5, 8, 9, 16, 17, 70};
    for (int threads = 1; threads <= 3; threads += 2) {
        Backend *be = backend_cpu_open(threads);
        for (int d = 0; d < 3; d++) {
            int R = 300, C = 77; /* rows over a GEMM block, odd columns */
            float *ex, *bex;
            void *w = make_weight((DType)d, R, C, &ex), *b = make_weight((DType)d, 1, R, &bex);
            Weight W = as_weight((DType)d, R, C, w), B = as_weight((DType)d, 1, R, b);
            for (size_t k = 0; k < sizeof Ts / sizeof Ts[0]; k++) {
                int T = Ts[k];
                float *x = be->alloc(be, (size_t)T * C), *y = be->alloc(be, (size_t)T * R);
                double *ref = xmalloc(sizeof(double) * T * R);
                for (int i = 0; i < T * C; i++) x[i] = frand();
                be->matmul(be, y, x, &W, &B, T);
                ref_matmul(ref, x, ex, bex, T, R, C);
                double worst = 0;
                for (int i = 0; i < T * R; i++) worst = fmax(worst, fabs(y[i] - ref[i]));
                if (worst > 1e-4)
                    test_fail(__FILE__, __LINE__, "%s T=%d threads=%d: max error %g",
                              dtype_name((DType)d), T, threads, worst);
                be->free(be, x), be->free(be, y), free(ref);
            }
            free(w), free(ex), free(b), free(bex);
        }
        be->close(be);
    }
}

/* Worst difference between the backend's attention and a double-precision
 * causal GQA softmax for one shape. */
static double attention_error(Backend *be, int Hq, int Hkv, int hd, int pos0, int T) {
    int ctx = pos0 + T;
    size_t qs = (size_t)Hq * hd, ks = (size_t)Hkv * hd;
    float *q = be->alloc(be, T * qs), *kc = be->alloc(be, ctx * ks), *vc = be->alloc(be, ctx * ks);
    float *out = be->alloc(be, T * qs);
    double *s = xmalloc(sizeof(double) * ctx);
    for (size_t i = 0; i < T * qs; i++) q[i] = 2 * frand();
    for (size_t i = 0; i < ctx * ks; i++) kc[i] = 2 * frand(), vc[i] = frand();
    be->attention(be, out, q, kc, vc, T, pos0, Hq, Hkv, hd);
    double worst = 0;
    for (int t = 0; t < T; t++)
        for (int h = 0; h < Hq; h++) {
            int g = h / (Hq / Hkv), n = pos0 + t + 1;
            double mx = -1e300, sum = 0;
            for (int j = 0; j < n; j++) {
                double d = 0;
                for (int i = 0; i < hd; i++)
                    d += (double)q[t * qs + h * hd + i] * kc[j * ks + g * hd + i];
                s[j] = d / sqrt(hd);
                mx = fmax(mx, s[j]);
            }
            for (int j = 0; j < n; j++) sum += (s[j] = exp(s[j] - mx));
            for (int i = 0; i < hd; i++) {
                double o = 0;
                for (int j = 0; j < n; j++) o += s[j] / sum * vc[j * ks + g * hd + i];
                worst = fmax(worst, fabs(o - out[t * qs + h * hd + i]));
            }
        }
    be->free(be, q), be->free(be, kc), be->free(be, vc), be->free(be, out);
    free(s);
    return worst;
}

TEST(cpu_attention_matches_naive_causal_gqa) {
    /* decode (T < 4: row loops) and prefill (sgemm) paths; head sizes with
     * and without vector tails; every instruction set this CPU has */
    static const int shapes[][5] = {/* Hq, Hkv, hd, pos0, T */
                                    {6, 2, 8, 5, 70},  {6, 2, 8, 5, 1},   {4, 1, 64, 300, 1},
                                    {4, 4, 80, 17, 3}, {14, 2, 64, 0, 1}, {2, 1, 136, 40, 2}};
    static const char *isas[] = {"generic", "avx2", "avx512"};
    Backend *be = backend_cpu_open(2);
    for (int k = 0; k < 3; k++) {
        if (k_set_isa(isas[k])) continue;
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            const int *sh = shapes[i];
            double w = attention_error(be, sh[0], sh[1], sh[2], sh[3], sh[4]);
            if (!(w < 1e-5))
                test_fail(__FILE__, __LINE__, "%s: Hq %d Hkv %d hd %d pos0 %d T %d: error %g",
                          isas[k], sh[0], sh[1], sh[2], sh[3], sh[4], w);
        }
    }
    k_reset_isa();
    be->close(be);
}

TEST(cpu_rope_rmsnorm_swiglu_match_formulas) {
    Backend *be = backend_cpu_open(1);
    int T = 3, H = 2, hd = 6, pos0 = 1000;
    float x[36], orig[36];
    for (int i = 0; i < 36; i++) orig[i] = x[i] = frand();
    Rope rp;
    rope_plain(&rp, 10000.0, hd);
    be->rope(be, x, T, H, hd, pos0, &rp);
    for (int t = 0; t < T; t++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < hd / 2; i++) {
                double f = (pos0 + t) / pow(10000.0, 2.0 * i / hd);
                const float *o = orig + (t * H + h) * hd;
                CHECK_NEAR(x[(t * H + h) * hd + i], o[i] * cos(f) - o[i + hd / 2] * sin(f), 2e-4);
                CHECK_NEAR(x[(t * H + h) * hd + i + hd / 2], o[i + hd / 2] * cos(f) + o[i] * sin(f),
                           2e-4);
            }
    /* any frequencies, and cos and sin scaled (LongRoPE) */
    float fr[3] = {0.5f, 0.01f, 1e-4f};
    for (int i = 0; i < 3; i++) rp.inv_freq[i] = fr[i];
    rp.scale = 1.25f;
    for (int i = 0; i < 36; i++) x[i] = orig[i];
    be->rope(be, x, T, H, hd, pos0, &rp);
    for (int t = 0; t < T; t++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < hd / 2; i++) {
                double f = (pos0 + t) * (double)fr[i], s = 1.25;
                const float *o = orig + (t * H + h) * hd;
                CHECK_NEAR(x[(t * H + h) * hd + i],
                           s * (o[i] * cos(f) - o[i + hd / 2] * sin(f)), 2e-4);
                CHECK_NEAR(x[(t * H + h) * hd + i + hd / 2],
                           s * (o[i + hd / 2] * cos(f) + o[i] * sin(f)), 2e-4);
            }
    float w[5] = {1, 2, 0.5f, -1, 3}, in[10], out[10];
    for (int i = 0; i < 10; i++) in[i] = frand();
    Weight W = as_weight(DT_F32, 1, 5, w);
    be->rmsnorm(be, out, in, &W, 2, 1e-6f);
    for (int t = 0; t < 2; t++) {
        double ss = 0;
        for (int i = 0; i < 5; i++) ss += (double)in[t * 5 + i] * in[t * 5 + i];
        for (int i = 0; i < 5; i++)
            CHECK_NEAR(out[t * 5 + i], in[t * 5 + i] / sqrt(ss / 5 + 1e-6) * w[i], 1e-5);
    }
    float g[4] = {-3, -0.5f, 0, 2}, u[4] = {1, 2, 3, 4}, a[4];
    be->swiglu(be, a, g, u, 4);
    for (int i = 0; i < 4; i++) CHECK_NEAR(a[i], g[i] / (1 + exp(-g[i])) * u[i], 1e-6);
    be->close(be);
}

/* The exact GELU on every ISA against erf in double, over [-12, 12] in
 * steps fine enough to cross every branch of the approximation, with the
 * tail of a length that is not a whole vector. */
TEST(kernels_gelu_every_isa) {
    const int n = 24001 + 13;
    float *x = xmalloc(sizeof(float) * n);
    int ran = 0;
    for (int k = 0; k < 3; k++) {
        if (k_set_isa(isas[k])) continue;
        ran++;
        for (int i = 0; i < n; i++) x[i] = -12.0f + 0.001f * (float)i;
        x[0] = 0.0f, x[1] = -0.0f, x[2] = 1e-30f, x[3] = -1e-30f, x[4] = 40.0f, x[5] = -40.0f;
        float *y = xmalloc(sizeof(float) * n);
        memcpy(y, x, sizeof(float) * n);
        k_gelu(y, (size_t)n);
        double worst = 0;
        for (int i = 0; i < n; i++) {
            double v = x[i], ref = 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
            worst = fmax(worst, fabs(y[i] - ref) / fmax(1.0, fabs(v)));
        }
        if (!(worst <= 4e-7))
            test_fail(__FILE__, __LINE__, "%s: gelu off by %.3g of max(1, |x|)", isas[k], worst);
        free(y);
    }
    k_reset_isa();
    CHECK(ran >= 1);
    free(x);
}
