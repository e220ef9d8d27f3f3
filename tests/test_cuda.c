/* test_cuda.c - the CUDA backend end to end against the CPU backend: logits
 * of the generated checkpoints, greedy ids on every path (graphs, fused,
 * unfused), Whisper, the device sampler and the bf16 prefill mode. Without
 * CUDA support in the build, or without a device, each case is skipped.
 *
 * The ops one by one are in test_backend_ops.c's table; this file keeps
 * what needs a model or a CUDA-only mode.
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

/* ------------------------------------------------------------ end to end */

/* the Qwen2 presets, then the MiniCPM ones (family.h: muP scales, no
 * q/k/v biases, LongRoPE with long and with short factors, a head tied by
 * default) */
static const char *presets[] = {"tiny-bf16",         "tiny-untied-f32",       "tiny-headdim-f16",
                                "tiny-mqa-bf16",     "tiny-sharded-bf16",     "tiny-minicpm-longrope",
                                "tiny-minicpm-tied", "tiny-minicpm-gqa"};

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

/* ------------------------------------------------------------ adapters */

/* Logits of ids with adapters lora-all:0.5 and lora-attn-rs:1.5 on be,
 * after a first pass without them (so a recorded decode step exists and
 * must not be replayed once adapters are on). */
static float *lora_logits_on(Backend *be, const char *preset, const int32_t *ids, int T, int step,
                             int *V) {
    char *dir = unum_path_join(test_fixtures(), preset);
    Qwen2 *m = qwen2_load(dir, be, 64);
    free(dir);
    if (!m) return NULL;
    *V = m->c.vocab;
    float *out = xmalloc(sizeof(float) * (size_t)T * *V);
    const char *names[2] = {"lora-all", "lora-attn-rs"};
    float scales[2] = {0.5f, 1.5f};
    LoraAdapter *ads[2] = {NULL, NULL};
    int ok = 1;
    for (int t = 0; t < T && ok; t++) ok = !qwen2_forward(m, ids + t, 1, out, 0);
    for (int i = 0; i < 2 && ok; i++) {
        char *ad = unum_path_join(test_fixtures(), names[i]);
        ok = (ads[i] = lora_load(ad, &m->c)) != NULL;
        free(ad);
    }
    ok = ok && !qwen2_set_adapters(m, ads, scales, 2);
    qwen2_rewind(m, 0);
    for (int t = 0; t < T && ok; t += step)
        ok = !qwen2_forward(m, ids + t, T - t < step ? T - t : step, out + (size_t)t * *V, 1);
    lora_free(ads[0]);
    lora_free(ads[1]);
    qwen2_free(m);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

/* on a bf16 base and on a quantized one */
TEST(cuda_lora_matches_cpu) {
    NEED_CUDA(gpu);
    Backend *cpu = backend_cpu_open(2);
    int32_t ids[24];
    for (int i = 0; i < 24; i++) ids[i] = (i * 37 + 11) % 350;
    for (int k = 0; k < 4; k++) {
        const char *preset = k < 2 ? "tiny-bf16" : "tiny-gptq4-g64";
        int step = k % 2 ? 24 : 1, V = 0, Vg = 0;
        float *lc = lora_logits_on(cpu, preset, ids, 24, step, &V);
        float *lg = lora_logits_on(gpu, preset, ids, 24, step, &Vg);
        if (!lc || !lg || V != Vg)
            test_fail(__FILE__, __LINE__, "%s step %d: %s", preset, step, unum_error());
        else {
            double worst = 0;
            for (int t = 0; t < 24; t++)
                worst = fmax(worst, rel_diff(lg + (size_t)t * V, lc + (size_t)t * V, (size_t)V));
            if (!(worst < LOGIT_TOL))
                test_fail(__FILE__, __LINE__, "%s step %d: %g", preset, step, worst);
        }
        free(lc), free(lg);
    }
    cpu->close(cpu);
    gpu->close(gpu);
}

/* ------------------------------------------------------------ quantized */

/* GPTQ and AWQ checkpoints (test_quant.c's presets): CUDA's quantized
 * matvec (token by token, and three tokens per call) and its prefill
 * (dequantized slab and sgemm) against the CPU backend's. */
TEST(cuda_quant_logits_match_cpu) {
    static const char *qpresets[] = {"tiny-gptq4-g64",       "tiny-gptq4-g32-asym",
                                     "tiny-gptq4-g32-act",   "tiny-gptq4-gall-asym",
                                     "tiny-gptq4-g128-v2",   "tiny-gptq8-g64",
                                     "tiny-gptq8-g32-act-asym", "tiny-awq4-g32"};
    NEED_CUDA(gpu);
    Backend *cpu = backend_cpu_open(2);
    int32_t ids[40];
    for (int i = 0; i < 40; i++) ids[i] = (i * 37 + 11) % 350;
    static const int steps[] = {1, 3, 40};
    for (size_t p = 0; p < sizeof qpresets / sizeof qpresets[0]; p++) {
        char *dir = unum_path_join(test_fixtures(), qpresets[p]);
        for (int s = 0; s < 3; s++) {
            int V = 0, Vg = 0;
            float *lc = logits_on(cpu, dir, ids, 40, steps[s], &V);
            float *lg = logits_on(gpu, dir, ids, 40, steps[s], &Vg);
            if (!lc || !lg || V != Vg) {
                test_fail(__FILE__, __LINE__, "%s: %s", qpresets[p], unum_error());
            } else {
                double worst = 0;
                for (int t = 0; t < 40; t++)
                    worst =
                        fmax(worst, rel_diff(lg + (size_t)t * V, lc + (size_t)t * V, (size_t)V));
                if (!(worst < LOGIT_TOL))
                    test_fail(__FILE__, __LINE__, "%s step %d: %g", qpresets[p], steps[s], worst);
            }
            free(lc), free(lg);
        }
        free(dir);
    }
    cpu->close(cpu);
    gpu->close(gpu);
}
