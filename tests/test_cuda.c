/* test_cuda.c - every op of the CUDA backend against the CPU backend on the
 * same inputs (awkward sizes), and the whole model end to end: logits of
 * the generated checkpoints and greedy ids. Without CUDA support in the
 * build, or without a device, each case is reported as skipped.
 *
 * Tolerances: the CUDA path computes in f32 like the CPU (decode matvec in
 * f32 from the checkpoint's weights, prefill through f32 sgemm with TF32
 * off), so ops agree to 1e-4 relative and logits to 1e-3 of the row's
 * largest value. */
#include "engine/engine.h"
#include "engine/ops.h"
#include "engine/qwen2.h"
#include "engine/whisper.h"
#include "tests/test.h"
#include "engine/base/util.h"

#include <stdlib.h>
#include <unistd.h>

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
            EngineOptions o = {.backend = names[b], .threads = 2};
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

/* ------------------------------------------------------------ fused decode ops */

/* One random tensor uploaded to both backends. */
typedef struct {
    HostTensor h;
    Weight c, g;
} Both;

static int both(Backend *cpu, Backend *gpu, Both *b, DType dt, int rows, int cols, float scale,
                float offset) {
    b->h = host_tensor("w", dt, rows, cols, scale, offset);
    if (cpu->upload(cpu, &b->h.t, rows, cols, &b->c) ||
        gpu->upload(gpu, &b->h.t, rows, cols, &b->g)) {
        test_fail(__FILE__, __LINE__, "upload %dx%d: %s", rows, cols, unum_error());
        return -1;
    }
    return 0;
}

static void both_free(Backend *gpu, Both *b) {
    gpu->release(gpu, &b->g);
    free(b->h.data);
}

/* Compares n device floats with the CPU's, by the row's largest value. */
static void check_close(Backend *gpu, const float *dev, const float *ref, size_t n, double tol,
                        const char *what, int a, int b, int T) {
    if (gpu->sync(gpu)) {
        test_fail(__FILE__, __LINE__, "%s: %s", what, unum_error());
        return;
    }
    float *h = get(gpu, dev, n);
    double r = rel_diff(h, ref, n);
    if (!(r < tol)) test_fail(__FILE__, __LINE__, "%s %dx%d T=%d: %g", what, a, b, T, r);
    free(h);
}

static const int fused_Ts[] = {1, 3, 7, 8, 33};
#define N_FUSED_T (int)(sizeof fused_Ts / sizeof fused_Ts[0])

/* rmsnorm_matmul against rmsnorm then matmul (with bias). */
static void rmsnorm_matmul_case(Backend *cpu, Backend *gpu, DType dt, int rows, int cols) {
    Both W, B, N;
    if (both(cpu, gpu, &W, dt, rows, cols, 1.0f, 0) || both(cpu, gpu, &B, dt, 1, rows, 0.5f, 0) ||
        both(cpu, gpu, &N, dt, 1, cols, 0.2f, 1.0f))
        return;
    for (int k = 0; k < N_FUSED_T; k++) {
        int T = fused_Ts[k];
        size_t nx = (size_t)T * cols, ny = (size_t)T * rows;
        float *x = rand_vec(nx, 2.0f), *h = xmalloc(sizeof(float) * nx);
        float *y = xmalloc(sizeof(float) * ny);
        cpu->rmsnorm(cpu, h, x, &N.c, T, 1e-6f);
        cpu->matmul(cpu, y, h, &W.c, &B.c, T);
        float *xg = put(gpu, x, nx), *hg = gpu->alloc(gpu, nx), *yg = gpu->alloc(gpu, ny);
        gpu->rmsnorm_matmul(gpu, yg, hg, xg, &N.g, &W.g, &B.g, T, 1e-6f);
        check_close(gpu, yg, y, ny, OP_TOL, "rmsnorm_matmul", rows, cols, T);
        free(x), free(h), free(y);
        gpu->free(gpu, xg), gpu->free(gpu, hg), gpu->free(gpu, yg);
    }
    both_free(gpu, &W), both_free(gpu, &B), both_free(gpu, &N);
}

/* matmul_add against matmul then add. */
static void matmul_add_case(Backend *cpu, Backend *gpu, DType dt, int rows, int cols) {
    Both W;
    if (both(cpu, gpu, &W, dt, rows, cols, 1.0f, 0)) return;
    for (int k = 0; k < N_FUSED_T; k++) {
        int T = fused_Ts[k];
        size_t na = (size_t)T * cols, nx = (size_t)T * rows;
        float *a = rand_vec(na, 1.0f), *x = rand_vec(nx, 5.0f), *t = xmalloc(sizeof(float) * nx);
        float *ag = put(gpu, a, na), *xg = put(gpu, x, nx);
        cpu->matmul(cpu, t, a, &W.c, NULL, T);
        cpu->add(cpu, x, t, nx);
        gpu->matmul_add(gpu, xg, ag, &W.g, T);
        check_close(gpu, xg, x, nx, OP_TOL, "matmul_add", rows, cols, T);
        free(a), free(x), free(t);
        gpu->free(gpu, ag), gpu->free(gpu, xg);
    }
    both_free(gpu, &W);
}

/* rmsnorm_swiglu against rmsnorm, gate, up, swiglu. */
static void rmsnorm_swiglu_case(Backend *cpu, Backend *gpu, DType dt, int F, int D) {
    Both G, U, N;
    if (both(cpu, gpu, &G, dt, F, D, 1.0f, 0) || both(cpu, gpu, &U, dt, F, D, 1.0f, 0) ||
        both(cpu, gpu, &N, dt, 1, D, 0.2f, 1.0f))
        return;
    for (int k = 0; k < N_FUSED_T; k++) {
        int T = fused_Ts[k];
        size_t nx = (size_t)T * D, nf = (size_t)T * F;
        float *x = rand_vec(nx, 2.0f), *h = xmalloc(sizeof(float) * nx);
        float *g = xmalloc(sizeof(float) * nf), *u = xmalloc(sizeof(float) * nf);
        cpu->rmsnorm(cpu, h, x, &N.c, T, 1e-6f);
        cpu->matmul(cpu, g, h, &G.c, NULL, T);
        cpu->matmul(cpu, u, h, &U.c, NULL, T);
        cpu->swiglu(cpu, g, g, u, nf);
        float *xg = put(gpu, x, nx), *hg = gpu->alloc(gpu, nx);
        float *ag = gpu->alloc(gpu, nf), *ug = gpu->alloc(gpu, nf);
        gpu->rmsnorm_swiglu(gpu, ag, ug, hg, xg, &N.g, &G.g, &U.g, T, 1e-6f);
        check_close(gpu, ag, g, nf, OP_TOL, "rmsnorm_swiglu", F, D, T);
        free(x), free(h), free(g), free(u);
        gpu->free(gpu, xg), gpu->free(gpu, hg), gpu->free(gpu, ag), gpu->free(gpu, ug);
    }
    both_free(gpu, &G), both_free(gpu, &U), both_free(gpu, &N);
}

/* qkv_rope against rmsnorm, three matmuls with bias and two ropes, the
 * keys and values landing in cache rows pos0.. (rows before stay as they
 * were). */
static void qkv_case(Backend *cpu, Backend *gpu, DType dt, int D, int Hq, int Hkv, int hd,
                     int pos0) {
    int qd = Hq * hd, kvd = Hkv * hd;
    Both N, Wq, Wk, Wv, Bq, Bk, Bv;
    if (both(cpu, gpu, &N, dt, 1, D, 0.2f, 1.0f) || both(cpu, gpu, &Wq, dt, qd, D, 1.0f, 0) ||
        both(cpu, gpu, &Wk, dt, kvd, D, 1.0f, 0) || both(cpu, gpu, &Wv, dt, kvd, D, 1.0f, 0) ||
        both(cpu, gpu, &Bq, dt, 1, qd, 0.5f, 0) || both(cpu, gpu, &Bk, dt, 1, kvd, 0.5f, 0) ||
        both(cpu, gpu, &Bv, dt, 1, kvd, 0.5f, 0))
        return;
    QkvWeights wg = {&N.g, &Wq.g, &Wk.g, &Wv.g, &Bq.g, &Bk.g, &Bv.g};
    for (int k = 0; k < N_FUSED_T; k++) {
        int T = fused_Ts[k], ctx = pos0 + T + 2;
        size_t nx = (size_t)T * D, nq = (size_t)T * qd, nc = (size_t)ctx * kvd;
        float *x = rand_vec(nx, 2.0f), *h = xmalloc(sizeof(float) * nx);
        float *q = xmalloc(sizeof(float) * nq);
        float *kc = rand_vec(nc, 1.0f), *vc = rand_vec(nc, 1.0f);
        float *kcg = put(gpu, kc, nc), *vcg = put(gpu, vc, nc);
        float *xg = put(gpu, x, nx), *hg = gpu->alloc(gpu, nx), *qg = gpu->alloc(gpu, nq);
        float *kp = kc + (size_t)pos0 * kvd, *vp = vc + (size_t)pos0 * kvd;
        cpu->rmsnorm(cpu, h, x, &N.c, T, 1e-6f);
        cpu->matmul(cpu, q, h, &Wq.c, &Bq.c, T);
        cpu->matmul(cpu, kp, h, &Wk.c, &Bk.c, T);
        cpu->matmul(cpu, vp, h, &Wv.c, &Bv.c, T);
        cpu->rope(cpu, q, T, Hq, hd, pos0, 1e6f);
        cpu->rope(cpu, kp, T, Hkv, hd, pos0, 1e6f);
        gpu->qkv_rope(gpu, qg, kcg, vcg, hg, xg, &wg, T, pos0, Hq, Hkv, hd, 1e6f, 1e-6f);
        check_close(gpu, qg, q, nq, OP_TOL, "qkv_rope q", D, qd, T);
        check_close(gpu, kcg, kc, nc, OP_TOL, "qkv_rope k cache", D, kvd, T);
        check_close(gpu, vcg, vc, nc, OP_TOL, "qkv_rope v cache", D, kvd, T);
        free(x), free(h), free(q), free(kc), free(vc);
        gpu->free(gpu, kcg), gpu->free(gpu, vcg), gpu->free(gpu, xg), gpu->free(gpu, hg),
            gpu->free(gpu, qg);
    }
    Both *all[] = {&N, &Wq, &Wk, &Wv, &Bq, &Bk, &Bv};
    for (int i = 0; i < 7; i++) both_free(gpu, all[i]);
}

TEST(cuda_fused_ops_match_cpu_composition) {
    NEED_CUDA(gpu);
    Backend *cpu = backend_cpu_open(2);
    if (!gpu->rmsnorm_matmul || !gpu->qkv_rope || !gpu->rmsnorm_swiglu || !gpu->matmul_add) {
        cpu->close(cpu), gpu->close(gpu);
        SKIP("fused ops turned off (UNUM_CUDA_FUSED=0)");
    }
    /* Qwen2.5-0.5B's widths and odd ones (77 columns: the scalar path) */
    static const DType dts[] = {DT_BF16, DT_F32};
    for (int d = 0; d < 2; d++) {
        rmsnorm_matmul_case(cpu, gpu, dts[d], 1000, 896);
        rmsnorm_matmul_case(cpu, gpu, dts[d], 301, 77);
        matmul_add_case(cpu, gpu, dts[d], 896, 4864);
        matmul_add_case(cpu, gpu, dts[d], 1000, 77);
        rmsnorm_swiglu_case(cpu, gpu, dts[d], 4864, 896);
        rmsnorm_swiglu_case(cpu, gpu, dts[d], 1000, 77);
        qkv_case(cpu, gpu, dts[d], 896, 14, 2, 64, 0);
        qkv_case(cpu, gpu, dts[d], 896, 14, 2, 64, 1700);
        qkv_case(cpu, gpu, dts[d], 77, 6, 2, 10, 33);
    }
    cpu->close(cpu);
    gpu->close(gpu);
}

/* ------------------------------------------------------------ split-K attention */

TEST(cuda_split_attention_matches_cpu_at_long_contexts) {
    NEED_CUDA(gpu);
    Backend *cpu = backend_cpu_open(2);
    static const int shapes[][5] = {/* Hq, Hkv, hd, pos0, T: all past the 256-key split */
                                    {14, 2, 64, 1499, 1}, {14, 2, 64, 1497, 3},
                                    {14, 2, 64, 1000, 7}, {14, 2, 64, 257, 1},
                                    {4, 1, 128, 2047, 1}, {6, 2, 80, 3000, 2},
                                    {2, 1, 136, 700, 5}};
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
        check_close(gpu, og, o, nq, OP_TOL, "split attention", Hq, hd, T);
        free(q), free(k), free(v), free(o);
        gpu->free(gpu, qg), gpu->free(gpu, kg), gpu->free(gpu, vg), gpu->free(gpu, og);
    }
    cpu->close(cpu);
    gpu->close(gpu);
}

/* ------------------------------------------------------------ recorded decode steps */

/* Opens CUDA with UNUM_CUDA_GRAPH / UNUM_CUDA_FUSED set for the call. */
static Backend *cuda_with(const char *graph, const char *fused) {
    setenv("UNUM_CUDA_GRAPH", graph, 1);
    setenv("UNUM_CUDA_FUSED", fused, 1);
    Backend *be = backend_open("cuda", 0);
    unsetenv("UNUM_CUDA_GRAPH");
    unsetenv("UNUM_CUDA_FUSED");
    return be;
}

/* Teacher-forced logits of ids[0..T) on be with a cache of ctx: the first
 * `prefill` ids in one call, then one token per call (decode steps). */
static float *decode_logits(Backend *be, const char *dir, const int32_t *ids, int T, int prefill,
                            int ctx, int *V) {
    Qwen2 *m = qwen2_load(dir, be, ctx);
    if (!m) return NULL;
    *V = m->c.vocab;
    int n = T - prefill + 1; /* the prefill's last row, then each step's */
    float *out = xmalloc(sizeof(float) * (size_t)n * *V);
    int rc = qwen2_forward(m, ids, prefill, out, 0);
    for (int t = prefill; t < T && !rc; t++)
        rc = qwen2_forward(m, ids + t, 1, out + (size_t)(t - prefill + 1) * *V, 0);
    qwen2_free(m);
    if (rc) free(out);
    return rc ? NULL : out;
}

/* CPU, CUDA with recorded steps, CUDA without, CUDA on the primitives:
 * every decode step's logits within LOGIT_TOL of the CPU's; the recorded
 * path must actually replay. */
static void decode_paths_case(const char *preset, int T, int prefill, int ctx) {
    char *dir = unum_path_join(test_fixtures(), preset), *cfg = unum_path_join(dir, "config.json");
    int present = access(cfg, R_OK) == 0;
    free(cfg);
    if (!present && !strcmp(preset, "tiny-qwen-vocab")) { /* made only with the npm tokenizer */
        fprintf(stderr, "cuda: %s is absent (no tokenizer package); not checked\n", preset);
        free(dir);
        return;
    }
    int32_t *ids = xmalloc(sizeof(int32_t) * T);
    for (int i = 0; i < T; i++) ids[i] = (i * 37 + 11) % 350;
    Backend *cpu = backend_cpu_open(2);
    int V = 0;
    float *ref = decode_logits(cpu, dir, ids, T, prefill, ctx, &V);
    cpu->close(cpu);
    if (!ref) test_fail(__FILE__, __LINE__, "%s on the CPU: %s", preset, unum_error());
    static const char *modes[][3] = {{"1", "1", "graph"}, {"0", "1", "no graph"},
                                     {"0", "0", "primitives"}};
    for (int k = 0; ref && k < 3; k++) {
        Backend *gpu = cuda_with(modes[k][0], modes[k][1]);
        if (!gpu) {
            test_fail(__FILE__, __LINE__, "%s: %s", modes[k][2], unum_error());
            continue;
        }
        int Vg = 0;
        float *got = decode_logits(gpu, dir, ids, T, prefill, ctx, &Vg);
        if (!got || Vg != V) {
            test_fail(__FILE__, __LINE__, "%s %s: %s", preset, modes[k][2], unum_error());
        } else {
            double worst = 0;
            for (int r = 0; r < T - prefill + 1; r++)
                worst = fmax(worst, rel_diff(got + (size_t)r * V, ref + (size_t)r * V, (size_t)V));
            if (!(worst < LOGIT_TOL))
                test_fail(__FILE__, __LINE__, "%s %s (%d keys): %g", preset, modes[k][2], T, worst);
        }
        if (k == 0 && !(gpu->steps_recorded == 1 && gpu->steps_replayed == T - prefill - 1))
            test_fail(__FILE__, __LINE__, "%s: %ld steps recorded, %ld replayed of %d", preset,
                      gpu->steps_recorded, gpu->steps_replayed, T - prefill);
        if (k > 0 && gpu->steps_recorded + gpu->steps_replayed != 0)
            test_fail(__FILE__, __LINE__, "%s: recorded steps with %s", preset, modes[k][2]);
        free(got);
        gpu->close(gpu);
    }
    free(ref), free(ids), free(dir);
}

TEST(cuda_graph_decode_matches_no_graph_and_cpu) {
    NEED_CUDA(probe);
    probe->close(probe);
    for (int p = 0; p < (int)(sizeof presets / sizeof presets[0]); p++)
        decode_paths_case(presets[p], 40, 8, 64);
    /* long contexts: the recorded step's split attention over 1400+ keys,
     * and the real vocabulary's lm_head */
    decode_paths_case("tiny-bf16", 1420, 1400, 2048);
    decode_paths_case("tiny-mqa-bf16", 1300, 1290, 1536);
    decode_paths_case("tiny-qwen-vocab", 40, 20, 64);
}

TEST(cuda_greedy_ids_match_cpu_on_every_path) {
    NEED_CUDA(probe);
    probe->close(probe);
    for (int p = 0; p < (int)(sizeof presets / sizeof presets[0]); p++) {
        char *dir = unum_path_join(test_fixtures(), presets[p]);
        int32_t prompt[24];
        for (int i = 0; i < 24; i++) prompt[i] = (i * 53 + 5) % 350;
        /* CPU; CUDA with graph and GPU sampler; without graph; host sampler */
        static const char *env[][4] = {{"cpu", "1", "1", "1"}, {"cuda", "1", "1", "1"},
                                       {"cuda", "0", "1", "1"}, {"cuda", "1", "1", "0"},
                                       {"cuda", "0", "0", "0"}};
        Ids got[5];
        memset(got, 0, sizeof got);
        for (int b = 0; b < 5; b++) {
            setenv("UNUM_CUDA_GRAPH", env[b][1], 1);
            setenv("UNUM_CUDA_FUSED", env[b][2], 1);
            setenv("UNUM_DEVICE_SAMPLING", env[b][3], 1);
            EngineOptions o = {.backend = env[b][0], .threads = 2};
            Engine *e = engine_load(dir, &o);
            unsetenv("UNUM_CUDA_GRAPH"), unsetenv("UNUM_CUDA_FUSED");
            if (!e) {
                unsetenv("UNUM_DEVICE_SAMPLING");
                test_fail(__FILE__, __LINE__, "%s path %d: %s", presets[p], b, unum_error());
                continue;
            }
            GenerateParams gp = engine_default_params(e);
            gp.sampling.temperature = 0;
            gp.sampling.repeat_penalty = 1.1f; /* on the GPU too */
            gp.max_tokens = 20;
            gp.ignore_eos = 1;
            CHECK(engine_generate(e, prompt, 24, &gp, keep, &got[b], NULL) == 0);
            unsetenv("UNUM_DEVICE_SAMPLING");
            engine_free(e);
        }
        for (int b = 1; b < 5; b++) {
            if (!(got[b].ids.n == 20 && got[0].ids.n == 20 &&
                  !memcmp(got[0].ids.v, got[b].ids.v, 20 * sizeof(int32_t))))
                test_fail(__FILE__, __LINE__, "%s: path %d's greedy ids differ from the CPU's",
                          presets[p], b);
        }
        for (int b = 0; b < 5; b++) idvec_free(&got[b].ids);
        free(dir);
    }
}

/* ------------------------------------------------------------ sampling */

TEST(cuda_sampler_matches_host_sampler) {
    NEED_CUDA(gpu);
    REQUIRE(gpu->sample);
    typedef struct {
        float temp;
        int top_k;
        float top_p, min_p, rep;
    } P;
    static const P params[] = {
        {0, 0, 1, 0, 1},        {0, 0, 1, 0, 1.3f},       {0.7f, 0, 1, 0, 1},
        {1, 1, 1, 0, 1},        {1, 5, 1, 0, 1},          {1, 40, 1, 0, 1},
        {0.8f, 0, 0.9f, 0, 1},  {1, 0, 0.5f, 0, 1},       {1, 50, 0.95f, 0, 1},
        {1, 0, 1, 0.05f, 1},    {1.5f, 0, 1, 0.2f, 1},    {0.8f, 20, 0.95f, 0.02f, 1.2f},
        {1.2f, 0, 0.8f, 0.1f, 0.9f}, {2, 3, 1, 0, 1.1f},
    };
    static const int Vs[] = {1000, 151936, 7};
    int trials = 0, mismatches = 0;
    for (int vi = 0; vi < 3; vi++) {
        int V = Vs[vi], reps = V > 100000 ? 3 : 12;
        float *l = xmalloc(sizeof(float) * V), *lh = xmalloc(sizeof(float) * V);
        float *lg = gpu->alloc(gpu, (size_t)V);
        int32_t hist[64];
        for (size_t pi = 0; pi < sizeof params / sizeof params[0]; pi++) {
            for (int r = 0; r < reps; r++) {
                /* every other trial quantized to quarters: many ties */
                for (int i = 0; i < V; i++) {
                    float x = 4.0f * frand() + 2.0f * frand() * frand();
                    l[i] = r % 2 ? roundf(x * 4) / 4 : x;
                }
                for (int i = 0; i < 64; i++) hist[i] = (int32_t)((frand() + 1) * 0.5f * V) % V;
                hist[5] = -1; /* out of range: ignored by both */
                SamplerParams sp = {params[pi].temp, params[pi].top_k, params[pi].top_p,
                                    params[pi].min_p, params[pi].rep, (uint64_t)(1000 * pi + r)};
                Sampler *hs = sampler_new(&sp, V), *us = sampler_new(&sp, V);
                memcpy(lh, l, sizeof(float) * V);
                int32_t want = sampler_sample(hs, lh, hist, 64), got = -1;
                double u = sp.temperature > 0 ? sampler_uniform(us) : 0;
                gpu->from_host(gpu, lg, l, (size_t)V);
                if (gpu->sample(gpu, &got, lg, V, &sp, hist, 64, u)) {
                    test_fail(__FILE__, __LINE__, "sample: %s", unum_error());
                } else {
                    float *after = get(gpu, lg, (size_t)V); /* the penalty, applied alike */
                    CHECK(rel_diff(after, lh, (size_t)V) == 0);
                    free(after);
                }
                trials++;
                if (got != want) {
                    mismatches++;
                    test_fail(__FILE__, __LINE__,
                              "V %d temp %g top_k %d top_p %g min_p %g rep %g trial %d: gpu %d, "
                              "host %d",
                              V, sp.temperature, sp.top_k, sp.top_p, sp.min_p, sp.repeat_penalty,
                              r, got, want);
                }
                sampler_free(hs), sampler_free(us);
            }
        }
        free(l), free(lh);
        gpu->free(gpu, lg);
    }
    if (mismatches) fprintf(stderr, "sampler: %d of %d trials differ\n", mismatches, trials);
    gpu->close(gpu);
}

/* ------------------------------------------------------------ bf16 prefill */

/* UNUM_CUDA_PREFILL=bf16 rounds prefill activations to bf16 for the tensor
 * cores (f32 sums): each product carries the activation's rounding, 2^-9
 * relative, so ops agree to 1e-2 of the largest output and logits to 5e-2
 * of the row's largest, not to the f32 path's 1e-4 and 1e-3. */
#define BF16_OP_TOL 1e-2
#define BF16_LOGIT_TOL 5e-2

TEST(cuda_bf16_prefill_within_its_tolerance) {
    NEED_CUDA(probe);
    probe->close(probe);
    setenv("UNUM_CUDA_PREFILL", "bf16", 1);
    Backend *gpu = backend_open("cuda", 0);
    unsetenv("UNUM_CUDA_PREFILL");
    REQUIRE(gpu);
    Backend *cpu = backend_cpu_open(2);
    static const int Ts[] = {8, 33, 512};
    Both W, B;
    if (both(cpu, gpu, &W, DT_BF16, 1000, 896, 1.0f, 0) ||
        both(cpu, gpu, &B, DT_BF16, 1, 1000, 0.5f, 0)) {
        cpu->close(cpu), gpu->close(gpu);
        return;
    }
    for (int k = 0; k < 3; k++) {
        int T = Ts[k];
        size_t nx = (size_t)T * 896, ny = (size_t)T * 1000;
        float *x = rand_vec(nx, 1.0f), *y = xmalloc(sizeof(float) * ny);
        float *xg = put(gpu, x, nx), *yg = gpu->alloc(gpu, ny);
        cpu->matmul(cpu, y, x, &W.c, &B.c, T);
        gpu->matmul(gpu, yg, xg, &W.g, &B.g, T);
        check_close(gpu, yg, y, ny, BF16_OP_TOL, "bf16 matmul", 1000, 896, T);
        free(x), free(y);
        gpu->free(gpu, xg), gpu->free(gpu, yg);
    }
    both_free(gpu, &W), both_free(gpu, &B);
    int32_t ids[40];
    for (int i = 0; i < 40; i++) ids[i] = (i * 37 + 11) % 350;
    for (int p = 0; p < (int)(sizeof presets / sizeof presets[0]); p++) {
        char *dir = unum_path_join(test_fixtures(), presets[p]);
        int V = 0, Vg = 0;
        float *lc = logits_on(cpu, dir, ids, 40, 40, &V);
        float *lg = logits_on(gpu, dir, ids, 40, 40, &Vg);
        if (!lc || !lg || V != Vg) {
            test_fail(__FILE__, __LINE__, "%s: %s", presets[p], unum_error());
        } else {
            double worst = 0;
            for (int t = 0; t < 40; t++)
                worst = fmax(worst, rel_diff(lg + (size_t)t * V, lc + (size_t)t * V, (size_t)V));
            fprintf(stderr, "cuda bf16 prefill %s: worst logit difference %.3g\n", presets[p],
                    worst);
            if (!(worst < BF16_LOGIT_TOL))
                test_fail(__FILE__, __LINE__, "%s bf16 prefill: %g", presets[p], worst);
        }
        free(lc), free(lg), free(dir);
    }
    cpu->close(cpu);
    gpu->close(gpu);
}
