/* test_cuda.c - every op of the CUDA backend against the CPU backend on the
 * same inputs (awkward sizes), and the whole model end to end: logits of
 * the generated checkpoints and greedy ids. Without CUDA support in the
 * build, or without a device, each case is reported as skipped.
 *
 * Tolerances: the CUDA path computes in f32 like the CPU (decode matvec in
 * f32 from the checkpoint's weights, prefill through f32 sgemm with TF32
 * off), so ops agree to 1e-4 relative and logits to 1e-3 of the row's
 * largest value. */
#include "engine.h"
#include "ops.h"
#include "qwen2.h"
#include "whisper.h"
#include "test.h"
#include "util.h"

#include <stdlib.h>

#define OP_TOL 1e-4
#define LOGIT_TOL 1e-3

#ifdef UNUM_CUDA
#define NEED_CUDA(be)                                                                              \
    Backend *be = backend_open("cuda", 0);                                                         \
    if (!be) SKIP(unum_error());
#else
#define NEED_CUDA(be)                                                                              \
    Backend *be = NULL;                                                                            \
    (void)be;                                                                                      \
    SKIP("built without CUDA (nvcc was not found)");
#endif

static uint64_t rng = 777;
static float frand(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* A host tensor the backends can upload: [rows x cols] of random values. */
typedef struct {
    STensor t;
    void *data;
} HostTensor;

static HostTensor host_tensor(const char *name, DType dt, int rows, int cols, float scale,
                              float offset) {
    HostTensor h;
    memset(&h, 0, sizeof h);
    size_t n = (size_t)rows * cols;
    h.data = xmalloc(n * dtype_size(dt));
    for (size_t i = 0; i < n; i++) {
        float v = offset + scale * frand();
        if (dt == DT_F32) ((float *)h.data)[i] = v;
        else if (dt == DT_BF16) ((uint16_t *)h.data)[i] = unum_f32_to_bf16(v);
        else ((uint16_t *)h.data)[i] = unum_f32_to_f16(v);
    }
    h.t.name = (char *)name;
    h.t.dtype = dt;
    h.t.ndim = rows == 1 ? 1 : 2;
    h.t.shape[0] = rows == 1 ? cols : rows;
    h.t.shape[1] = cols;
    h.t.numel = (int64_t)n;
    h.t.data = h.data;
    h.t.nbytes = n * dtype_size(dt);
    h.t.file = "test";
    return h;
}

/* Copies n host floats to a new buffer on be. */
static float *put(Backend *be, const float *src, size_t n) {
    float *d = be->alloc(be, n);
    if (d) be->from_host(be, d, src, n);
    return d;
}

static float *get(Backend *be, const float *src, size_t n) {
    float *h = xmalloc(sizeof(float) * n);
    be->to_host(be, h, src, n);
    return h;
}

static double rel_diff(const float *a, const float *b, size_t n) {
    double d = 0, m = 1e-30;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return d / m;
}

static float *rand_vec(size_t n, float scale) {
    float *v = xmalloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) v[i] = scale * frand();
    return v;
}

/* y = x W^T + b on both backends for one weight dtype and width. */
static void matmul_case(Backend *cpu, Backend *gpu, DType dt, int rows, int cols) {
    static const int Ts[] = {1, 3, 7, 8, 33};
    HostTensor W = host_tensor("w", dt, rows, cols, 1.0f, 0);
    HostTensor B = host_tensor("b", dt, 1, rows, 0.5f, 0);
    Weight wc, wg, bc, bg;
    if (cpu->upload(cpu, &W.t, rows, cols, &wc) || gpu->upload(gpu, &W.t, rows, cols, &wg) ||
        cpu->upload(cpu, &B.t, 1, rows, &bc) || gpu->upload(gpu, &B.t, 1, rows, &bg)) {
        test_fail(__FILE__, __LINE__, "upload: %s", unum_error());
        return;
    }
    for (size_t k = 0; k < sizeof Ts / sizeof Ts[0]; k++) {
        int T = Ts[k];
        size_t nx = (size_t)T * cols, ny = (size_t)T * rows;
        float *x = rand_vec(nx, 1.0f), *yc = xmalloc(sizeof(float) * ny);
        float *xg = put(gpu, x, nx), *yg = gpu->alloc(gpu, ny);
        cpu->matmul(cpu, yc, x, &wc, &bc, T);
        gpu->matmul(gpu, yg, xg, &wg, &bg, T);
        if (gpu->sync(gpu)) test_fail(__FILE__, __LINE__, "%s", unum_error());
        float *yh = get(gpu, yg, ny);
        double r = rel_diff(yh, yc, ny);
        if (!(r < OP_TOL))
            test_fail(__FILE__, __LINE__, "%s %dx%d T=%d: %g", dtype_name(dt), rows, cols, T, r);
        free(x), free(yc), free(yh);
        gpu->free(gpu, xg), gpu->free(gpu, yg);
    }
    gpu->release(gpu, &wg), gpu->release(gpu, &bg);
    free(W.data), free(B.data);
}

TEST(cuda_matmul_matches_cpu) {
    NEED_CUDA(gpu);
    Backend *cpu = backend_cpu_open(2);
    /* bf16 stays bf16 on the GPU, f16 and f32 are widened to f32; 77 columns
     * take the scalar matvec path, 264 the 16-byte one */
    static const DType dts[] = {DT_BF16, DT_F16, DT_F32};
    for (int d = 0; d < 3; d++) {
        matmul_case(cpu, gpu, dts[d], 301, 77);
        matmul_case(cpu, gpu, dts[d], 130, 264);
    }
    cpu->close(cpu);
    gpu->close(gpu);
}

TEST(cuda_elementwise_ops_match_cpu) {
    NEED_CUDA(gpu);
    Backend *cpu = backend_cpu_open(1);
    int T = 5, D = 97, H = 3, hd = 10;
    HostTensor table = host_tensor("embed", DT_BF16, 50, D, 1.0f, 0);
    HostTensor norm = host_tensor("norm", DT_BF16, 1, D, 0.2f, 1.0f);
    Weight tc, tg, nc, ng;
    REQUIRE(cpu->upload(cpu, &table.t, 50, D, &tc) == 0 &&
            gpu->upload(gpu, &table.t, 50, D, &tg) == 0);
    REQUIRE(cpu->upload(cpu, &norm.t, 1, D, &nc) == 0 && gpu->upload(gpu, &norm.t, 1, D, &ng) == 0);
    int32_t ids[5] = {0, 49, 7, 7, 23};
    size_t n = (size_t)T * D;
    float *xc = xmalloc(sizeof(float) * n), *yc = xmalloc(sizeof(float) * n);
    float *xg = gpu->alloc(gpu, n), *yg = gpu->alloc(gpu, n);
    cpu->embed(cpu, xc, &tc, ids, T);
    gpu->embed(gpu, xg, &tg, ids, T);
    float *h = get(gpu, xg, n);
    CHECK(rel_diff(h, xc, n) == 0);
    free(h);
    cpu->rmsnorm(cpu, yc, xc, &nc, T, 1e-6f);
    gpu->rmsnorm(gpu, yg, xg, &ng, T, 1e-6f);
    h = get(gpu, yg, n);
    CHECK(rel_diff(h, yc, n) < OP_TOL);
    free(h);
    /* rope on [T x H*hd] at a large position */
    size_t nr = (size_t)T * H * hd;
    float *r = rand_vec(nr, 1.0f), *rg = put(gpu, r, nr);
    cpu->rope(cpu, r, T, H, hd, 4000, 1e6f);
    gpu->rope(gpu, rg, T, H, hd, 4000, 1e6f);
    h = get(gpu, rg, nr);
    CHECK(rel_diff(h, r, nr) < OP_TOL);
    free(h);
    /* swiglu and add */
    float *g = rand_vec(n, 4.0f), *u = rand_vec(n, 1.0f), *a = xmalloc(sizeof(float) * n);
    float *gg = put(gpu, g, n), *ug = put(gpu, u, n);
    cpu->swiglu(cpu, a, g, u, n);
    gpu->swiglu(gpu, gg, gg, ug, n);
    h = get(gpu, gg, n);
    CHECK(rel_diff(h, a, n) < OP_TOL);
    free(h);
    cpu->add(cpu, a, u, n);
    gpu->add(gpu, gg, ug, n);
    h = get(gpu, gg, n);
    CHECK(rel_diff(h, a, n) < OP_TOL);
    free(h);
    CHECK(gpu->sync(gpu) == 0);
    gpu->free(gpu, xg), gpu->free(gpu, yg), gpu->free(gpu, rg), gpu->free(gpu, gg),
        gpu->free(gpu, ug);
    gpu->release(gpu, &tg), gpu->release(gpu, &ng);
    free(xc), free(yc), free(r), free(g), free(u), free(a), free(table.data), free(norm.data);
    cpu->close(cpu);
    gpu->close(gpu);
}

TEST(cuda_attention_matches_cpu) {
    NEED_CUDA(gpu);
    Backend *cpu = backend_cpu_open(2);
    static const int shapes[][5] = {/* Hq, Hkv, hd, pos0, T */
                                    {14, 2, 64, 0, 1}, {14, 2, 64, 700, 1}, {6, 2, 8, 5, 70},
                                    {4, 4, 80, 17, 3}, {2, 1, 136, 40, 9},  {4, 1, 64, 0, 300}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        int Hq = shapes[i][0], Hkv = shapes[i][1], hd = shapes[i][2], pos0 = shapes[i][3];
        int T = shapes[i][4], ctx = pos0 + T;
        size_t nq = (size_t)T * Hq * hd, nk = (size_t)ctx * Hkv * hd;
        float *q = rand_vec(nq, 2.0f), *k = rand_vec(nk, 2.0f), *v = rand_vec(nk, 1.0f);
        float *o = xmalloc(sizeof(float) * nq);
        float *qg = put(gpu, q, nq), *kg = put(gpu, k, nk), *vg = put(gpu, v, nk);
        float *og = gpu->alloc(gpu, nq);
        cpu->attention(cpu, o, q, k, v, T, pos0, Hq, Hkv, hd);
        gpu->attention(gpu, og, qg, kg, vg, T, pos0, Hq, Hkv, hd);
        REQUIRE(gpu->sync(gpu) == 0);
        float *h = get(gpu, og, nq);
        double r = rel_diff(h, o, nq);
        if (!(r < OP_TOL))
            test_fail(__FILE__, __LINE__, "Hq %d Hkv %d hd %d pos0 %d T %d: %g", Hq, Hkv, hd, pos0,
                      T, r);
        free(q), free(k), free(v), free(o), free(h);
        gpu->free(gpu, qg), gpu->free(gpu, kg), gpu->free(gpu, vg), gpu->free(gpu, og);
    }
    cpu->close(cpu);
    gpu->close(gpu);
}

/* ------------------------------------------------------------ end to end */

static const char *presets[] = {"tiny-bf16", "tiny-untied-f32", "tiny-headdim-f16", "tiny-mqa-bf16",
                                "tiny-sharded-bf16"};

static float *logits_on(Backend *be, const char *dir, const int32_t *ids, int T, int step, int *V) {
    Qwen2 *m = qwen2_load(dir, be, 64);
    if (!m) return NULL;
    *V = m->c.vocab;
    float *out = xmalloc(sizeof(float) * (size_t)T * *V);
    for (int t = 0; t < T; t += step)
        if (qwen2_forward(m, ids + t, T - t < step ? T - t : step, out + (size_t)t * *V, 1)) {
            free(out);
            out = NULL;
            break;
        }
    qwen2_free(m);
    return out;
}

TEST(cuda_logits_match_cpu_on_every_preset) {
    NEED_CUDA(gpu);
    Backend *cpu = backend_cpu_open(2);
    int32_t ids[40];
    for (int i = 0; i < 40; i++) ids[i] = (i * 37 + 11) % 350;
    for (int p = 0; p < (int)(sizeof presets / sizeof presets[0]); p++) {
        char *dir = unum_path_join(test_fixtures(), presets[p]);
        for (int step = 1; step <= 40; step += 39) { /* token by token, then one batch */
            int V = 0, Vg = 0;
            float *lc = logits_on(cpu, dir, ids, 40, step, &V);
            float *lg = logits_on(gpu, dir, ids, 40, step, &Vg);
            if (!lc || !lg || V != Vg) {
                test_fail(__FILE__, __LINE__, "%s: %s", presets[p], unum_error());
            } else {
                double worst = 0;
                for (int t = 0; t < 40; t++)
                    worst =
                        fmax(worst, rel_diff(lg + (size_t)t * V, lc + (size_t)t * V, (size_t)V));
                if (!(worst < LOGIT_TOL))
                    test_fail(__FILE__, __LINE__, "%s step %d: %g", presets[p], step, worst);
            }
            free(lc), free(lg);
        }
        free(dir);
    }
    cpu->close(cpu);
    gpu->close(gpu);
}

typedef struct {
    IdVec ids;
} Ids;

static int keep(void *user, int32_t id, const char *text, size_t len) {
    if (id >= 0) idvec_push(&((Ids *)user)->ids, id);
    return 0;
}

TEST(cuda_greedy_ids_match_cpu) {
    NEED_CUDA(probe);
    probe->close(probe);
    for (int p = 0; p < (int)(sizeof presets / sizeof presets[0]); p++) {
        char *dir = unum_path_join(test_fixtures(), presets[p]);
        Ids got[2] = {{{0}}, {{0}}};
        const char *names[2] = {"cpu", "cuda"};
        int32_t prompt[24];
        for (int i = 0; i < 24; i++) prompt[i] = (i * 53 + 5) % 350;
        for (int b = 0; b < 2; b++) {
            EngineOptions o = {names[b], 2, 0};
            Engine *e = engine_load(dir, &o);
            if (!e) {
                test_fail(__FILE__, __LINE__, "%s on %s: %s", presets[p], names[b], unum_error());
                continue;
            }
            GenerateParams gp = engine_default_params(e);
            gp.sampling.temperature = 0;
            gp.sampling.repeat_penalty = 1;
            gp.max_tokens = 16;
            gp.ignore_eos = 1;
            CHECK(engine_generate(e, prompt, 24, &gp, keep, &got[b], NULL) == 0);
            engine_free(e);
        }
        CHECK_EQ_INT(got[0].ids.n, 16);
        CHECK(got[0].ids.n == got[1].ids.n &&
              !memcmp(got[0].ids.v, got[1].ids.v, got[0].ids.n * sizeof(int32_t)));
        idvec_free(&got[0].ids), idvec_free(&got[1].ids);
        free(dir);
    }
}

/* ------------------------------------------------------------ whisper */

TEST(cuda_whisper_ops_match_cpu) {
    NEED_CUDA(gpu);
    Backend *cpu = backend_cpu_open(2);
    int T = 37, D = 72;
    size_t n = (size_t)T * D;
    HostTensor w = host_tensor("ln.weight", DT_BF16, 1, D, 0.2f, 1.0f);
    HostTensor b = host_tensor("ln.bias", DT_BF16, 1, D, 0.2f, 0);
    Weight wc, wg, bc, bg;
    REQUIRE(cpu->upload(cpu, &w.t, 1, D, &wc) == 0 && gpu->upload(gpu, &w.t, 1, D, &wg) == 0);
    REQUIRE(cpu->upload(cpu, &b.t, 1, D, &bc) == 0 && gpu->upload(gpu, &b.t, 1, D, &bg) == 0);
    float *x = rand_vec(n, 3.0f), *y = xmalloc(sizeof(float) * n);
    float *xg = put(gpu, x, n), *yg = gpu->alloc(gpu, n);
    cpu->layernorm(cpu, y, x, &wc, &bc, T, 1e-5f);
    gpu->layernorm(gpu, yg, xg, &wg, &bg, T, 1e-5f);
    float *h = get(gpu, yg, n);
    CHECK(rel_diff(h, y, n) < OP_TOL);
    free(h);
    cpu->gelu(cpu, x, n);
    gpu->gelu(gpu, xg, n);
    h = get(gpu, xg, n);
    CHECK(rel_diff(h, x, n) < OP_TOL);
    free(h);
    /* im2col3 with stride 1 and 2 on an odd length */
    for (int stride = 1; stride <= 2; stride++) {
        int L = T, C = D, Lo = (L - 1) / stride + 1;
        size_t nc = (size_t)Lo * C * 3;
        float *col = xmalloc(sizeof(float) * nc), *colg = gpu->alloc(gpu, nc);
        cpu->im2col3(cpu, col, x, L, C, stride);
        gpu->im2col3(gpu, colg, xg, L, C, stride);
        h = get(gpu, colg, nc);
        CHECK(rel_diff(h, col, nc) == 0);
        free(h), free(col);
        gpu->free(gpu, colg);
    }
    /* unmasked attention, more queries than one block, keys not a multiple of 4 */
    int Tq = 70, S = 93, H = 3, hd = 24;
    size_t nq = (size_t)Tq * H * hd, nk = (size_t)S * H * hd;
    float *q = rand_vec(nq, 2.0f), *k = rand_vec(nk, 2.0f), *v = rand_vec(nk, 1.0f);
    float *o = xmalloc(sizeof(float) * nq);
    float *qg = put(gpu, q, nq), *kg = put(gpu, k, nk), *vg = put(gpu, v, nk),
          *og = gpu->alloc(gpu, nq);
    cpu->attention_full(cpu, o, q, k, v, Tq, S, H, hd);
    gpu->attention_full(gpu, og, qg, kg, vg, Tq, S, H, hd);
    CHECK(gpu->sync(gpu) == 0);
    h = get(gpu, og, nq);
    CHECK(rel_diff(h, o, nq) < OP_TOL);
    free(h), free(q), free(k), free(v), free(o), free(x), free(y), free(w.data), free(b.data);
    gpu->free(gpu, xg), gpu->free(gpu, yg), gpu->free(gpu, qg), gpu->free(gpu, kg);
    gpu->free(gpu, vg), gpu->free(gpu, og);
    gpu->release(gpu, &wg), gpu->release(gpu, &bg);
    cpu->close(cpu);
    gpu->close(gpu);
}

TEST(cuda_whisper_matches_cpu) {
    NEED_CUDA(gpu);
    Backend *cpu = backend_cpu_open(2);
    static const char *ws[] = {"whisper-tiny-f32", "whisper-v3-bf16"};
    for (int p = 0; p < 2; p++) {
        char *dir = unum_path_join(test_fixtures(), ws[p]);
        Whisper *a = whisper_load(dir, cpu), *b = whisper_load(dir, gpu);
        free(dir);
        if (!a || !b) {
            test_fail(__FILE__, __LINE__, "%s: %s", ws[p], unum_error());
            whisper_free(a), whisper_free(b);
            continue;
        }
        int frames = 2 * a->c.n_audio, V = a->c.vocab;
        float *mel = rand_vec((size_t)a->c.n_mels * frames, 1.5f);
        int32_t ids[6] = {a->c.decoder_start, 5, 17, 3, 99, 42};
        float *la = xmalloc(sizeof(float) * 6 * V), *lb = xmalloc(sizeof(float) * 6 * V);
        CHECK(whisper_encode(a, mel, frames) == 0 && whisper_encode(b, mel, frames) == 0);
        CHECK(whisper_decode(a, ids, 6, la, 1) == 0 && whisper_decode(b, ids, 6, lb, 1) == 0);
        double worst = 0;
        for (int t = 0; t < 6; t++)
            worst = fmax(worst, rel_diff(lb + (size_t)t * V, la + (size_t)t * V, (size_t)V));
        if (!(worst < LOGIT_TOL)) test_fail(__FILE__, __LINE__, "%s: %g", ws[p], worst);
        free(mel), free(la), free(lb);
        whisper_free(a), whisper_free(b);
    }
    cpu->close(cpu);
    gpu->close(gpu);
}
