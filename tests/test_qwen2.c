/* test_qwen2.c - the forward pass against goldens from the independent
 * references (tests/reference/qwen2_ref.py and, for the MiniCPM presets,
 * minicpm_ref.py; float32 torch): teacher-forced
 * logits within 2e-3 of each row's largest magnitude, greedy ids identical,
 * through every execution path (batched prefill, chunked prefill, one token
 * at a time, 1 and 2 threads, each kernel instruction set). */
#include "engine/engine.h"
#include "engine/cpu/kernels.h"
#include "engine/qwen2.h"
#include "tests/test.h"
#include "engine/base/util.h"

#include <stdlib.h>

#define TOL 2e-3

/* the Qwen2 presets, then the MiniCPM ones (family.h: muP scales, no
 * q/k/v biases, LongRoPE with long and with short factors, a head tied by
 * default) */
static const char *presets[] = {"tiny-bf16",         "tiny-untied-f32",       "tiny-headdim-f16",
                                "tiny-mqa-bf16",     "tiny-sharded-bf16",     "tiny-minicpm-longrope",
                                "tiny-minicpm-tied", "tiny-minicpm-gqa"};
#define N_PRESETS (int)(sizeof presets / sizeof presets[0])

typedef struct {
    IdVec prompt, greedy;
    float *logits; /* [prompt.n x V] */
    int V;
} Golden;

static char *golden_path(const char *preset, const char *file) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/golden/%s/%s", preset, file);
    return unum_path_join(test_root(), rel);
}

static int golden_load(Golden *g, const char *preset, int V) {
    memset(g, 0, sizeof *g);
    g->V = V;
    char rel[256];
    if ((snprintf(rel, sizeof rel, "%s/prompt.ids", preset), test_golden_ids(rel, &g->prompt)) ||
        (snprintf(rel, sizeof rel, "%s/greedy.ids", preset), test_golden_ids(rel, &g->greedy)))
        return -1;
    char *p = golden_path(preset, "logits.f32");
    size_t n;
    g->logits = (float *)unum_read_file(p, 64u << 20, &n);
    free(p);
    if (!g->logits) return -1;
    if (n != g->prompt.n * (size_t)V * sizeof(float))
        return unum_error_set("%s logits.f32: %zu bytes, expected %zu x %d floats", preset, n,
                              g->prompt.n, V);
    return 0;
}

static void golden_free(Golden *g) {
    idvec_free(&g->prompt);
    idvec_free(&g->greedy);
    free(g->logits);
}

static char *fixture(const char *preset) { return unum_path_join(test_fixtures(), preset); }

/* Runs the prompt through a fresh model with the given chunking: step 0
 * means one call for everything; otherwise step tokens per call. */
static double run_preset(const char *preset, int threads, int step, int max_batch) {
    char *dir = fixture(preset);
    Backend *be = backend_cpu_open(threads);
    Qwen2 *m = qwen2_load(dir, be, 64);
    free(dir);
    double worst = 1e9;
    Golden g;
    if (!m) {
        test_fail(__FILE__, __LINE__, "%s: %s", preset, unum_error());
    } else if (golden_load(&g, preset, m->c.vocab)) {
        test_fail(__FILE__, __LINE__, "%s golden: %s", preset, unum_error());
    } else {
        if (max_batch) m->max_batch = max_batch;
        int T = (int)g.prompt.n, V = m->c.vocab;
        float *out = xmalloc(sizeof(float) * (size_t)T * V);
        int ok = 1;
        for (int t = 0; t < T && ok;) {
            int n = step ? (T - t < step ? T - t : step) : T;
            ok = qwen2_forward(m, g.prompt.v + t, n, out + (size_t)t * V, 1) == 0;
            t += n;
        }
        if (!ok) test_fail(__FILE__, __LINE__, "%s: %s", preset, unum_error());
        else worst = test_worst_rel(out, g.logits, T, V);
        free(out);
        golden_free(&g);
    }
    qwen2_free(m);
    be->close(be);
    return worst;
}

TEST(qwen2_logits_match_reference_batched) {
    for (int i = 0; i < N_PRESETS; i++) {
        double w = run_preset(presets[i], 2, 0, 0);
        if (w > TOL) test_fail(__FILE__, __LINE__, "%s: worst relative error %g", presets[i], w);
    }
}

TEST(qwen2_logits_match_reference_token_by_token) {
    for (int i = 0; i < N_PRESETS; i++) {
        double w = run_preset(presets[i], 2, 1, 0);
        if (w > TOL) test_fail(__FILE__, __LINE__, "%s: worst relative error %g", presets[i], w);
    }
}

TEST(qwen2_logits_match_reference_in_odd_chunks_one_thread) {
    for (int i = 0; i < N_PRESETS; i++) {
        double a = run_preset(presets[i], 1, 3, 0), b = run_preset(presets[i], 3, 7, 5);
        if (a > TOL || b > TOL)
            test_fail(__FILE__, __LINE__, "%s: worst relative error %g / %g", presets[i], a, b);
    }
}

TEST(qwen2_logits_match_reference_on_every_isa) {
    static const char *isas[] = {"generic", "avx2", "avx512"};
    for (int k = 0; k < 3; k++) {
        if (k_set_isa(isas[k])) continue;
        for (int i = 0; i < N_PRESETS; i += 2) {
            double a = run_preset(presets[i], 2, 0, 0), b = run_preset(presets[i], 2, 1, 0);
            if (a > TOL || b > TOL)
                test_fail(__FILE__, __LINE__, "%s on %s: %g / %g", presets[i], isas[k], a, b);
        }
    }
    k_reset_isa();
}

/* ------------------------------------------------------------ engine */

typedef struct {
    IdVec ids;
    Engine *cancel_after_first;
} Collect;

static int collect(void *user, int32_t id, const char *text, size_t len) {
    Collect *c = user;
    if (id >= 0) idvec_push(&c->ids, id);
    if (c->cancel_after_first) engine_cancel(c->cancel_after_first);
    return 0;
}

static GenerateParams greedy_params(Engine *e, int n) {
    GenerateParams p = engine_default_params(e);
    p.sampling.temperature = 0;
    p.sampling.repeat_penalty = 1;
    p.max_tokens = n;
    p.ignore_eos = 1;
    return p;
}

TEST(engine_greedy_matches_reference) {
    for (int i = 0; i < N_PRESETS; i++) {
        char *dir = fixture(presets[i]);
        EngineOptions o = {.backend = "cpu", .threads = 2};
        Engine *e = engine_load(dir, &o);
        free(dir);
        if (!e) {
            test_fail(__FILE__, __LINE__, "%s: %s", presets[i], unum_error());
            continue;
        }
        Golden g;
        if (golden_load(&g, presets[i], engine_n_vocab(e))) {
            test_fail(__FILE__, __LINE__, "%s: %s", presets[i], unum_error());
            engine_free(e);
            continue;
        }
        GenerateParams p = greedy_params(e, (int)g.greedy.n);
        Collect c = {0};
        GenerateStats st;
        CHECK(engine_generate(e, g.prompt.v, g.prompt.n, &p, collect, &c, &st) == 0);
        CHECK_EQ_INT(c.ids.n, g.greedy.n);
        CHECK_EQ_INT(st.stop, STOP_LENGTH);
        for (size_t k = 0; k < c.ids.n && k < g.greedy.n; k++)
            if (c.ids.v[k] != g.greedy.v[k]) {
                test_fail(__FILE__, __LINE__, "%s: greedy token %zu is %d, reference %d",
                          presets[i], k, c.ids.v[k], g.greedy.v[k]);
                break;
            }
        /* the same prompt again reuses the cache and gives the same ids */
        Collect c2 = {0};
        CHECK(engine_generate(e, g.prompt.v, g.prompt.n, &p, collect, &c2, &st) == 0);
        CHECK_EQ_INT(st.reused_tokens, g.prompt.n - 1);
        CHECK(c2.ids.n == c.ids.n && !memcmp(c2.ids.v, c.ids.v, c.ids.n * sizeof(int32_t)));
        idvec_free(&c.ids);
        idvec_free(&c2.ids);
        golden_free(&g);
        engine_free(e);
    }
}

TEST(engine_cancel_context_and_eos) {
    char *dir = fixture("tiny-untied-f32");
    EngineOptions o = {.backend = "cpu", .threads = 1, .ctx = 30}; /* a 30-position context */
    Engine *e = engine_load(dir, &o);
    free(dir);
    REQUIRE(e);
    Golden g;
    REQUIRE(golden_load(&g, "tiny-untied-f32", engine_n_vocab(e)) == 0);
    GenerateParams p = greedy_params(e, 16);
    GenerateStats st;
    Collect c = {0};
    /* 24 prompt positions + 6 generated fill the context */
    CHECK(engine_generate(e, g.prompt.v, g.prompt.n, &p, collect, &c, &st) == 0);
    CHECK_EQ_INT(st.stop, STOP_CONTEXT);
    CHECK_EQ_INT(c.ids.n, 7);
    idvec_free(&c.ids);
    /* cancelling from the callback stops after that token */
    Collect c2 = {{0}, e};
    CHECK_EQ_INT(engine_generate(e, g.prompt.v, g.prompt.n, &p, collect, &c2, &st), UNUM_CANCELLED);
    CHECK_EQ_INT(st.stop, STOP_CANCELLED);
    CHECK_EQ_INT(c2.ids.n, 1);
    idvec_free(&c2.ids);
    /* with eos honoured, the reference's greedy run stops at its first 354 */
    p.ignore_eos = 0;
    Collect c3 = {0};
    CHECK(engine_generate(e, g.prompt.v, g.prompt.n, &p, collect, &c3, &st) == 0);
    size_t first_eos = 0;
    while (first_eos < g.greedy.n && g.greedy.v[first_eos] != 354) first_eos++;
    REQUIRE(first_eos < 6); /* the reference ends inside this context */
    CHECK_EQ_INT(st.stop, STOP_EOS);
    CHECK_EQ_INT(st.generated, first_eos);
    CHECK_EQ_INT(c3.ids.n, first_eos + 1); /* the end id itself is reported */
    CHECK_EQ_INT(c3.ids.v[first_eos], 354);
    idvec_free(&c3.ids);
    /* a prompt that does not fit is refused, not truncated */
    int32_t many[40] = {0};
    CHECK(engine_generate(e, many, 40, &p, collect, &c3, &st) == -1);
    CHECK_ERR("does not fit");
    int32_t bad[2] = {1, 100000};
    CHECK(engine_generate(e, bad, 2, &p, collect, &c3, &st) == -1);
    CHECK_ERR("100000");
    golden_free(&g);
    engine_free(e);
}

/* A cancel reaches the logits calls too: they say so (return UNUM_CANCELLED
 * with the message "cancelled") and use the flag up, so the next call runs
 * whole; cancelled generation says it the same way. */
TEST(engine_logits_cancel_reports_and_clears) {
    char *dir = fixture("tiny-untied-f32");
    EngineOptions o = {.backend = "cpu", .threads = 1};
    Engine *e = engine_load(dir, &o);
    free(dir);
    REQUIRE(e);
    int32_t ids[5] = {1, 7, 42, 3, 99};
    float *out = xmalloc(sizeof(float) * 5 * (size_t)engine_n_vocab(e));
    unum_error_set("an older error");
    engine_cancel(e);
    CHECK_EQ_INT(engine_logits(e, ids, 5, out), UNUM_CANCELLED);
    CHECK_ERR("cancelled");
    CHECK_EQ_INT(engine_logits(e, ids, 5, out), 0); /* the flag was used up */
    engine_cancel(e);
    GenerateParams p = greedy_params(e, 4);
    GenerateStats st;
    CHECK_EQ_INT(engine_generate(e, ids, 5, &p, NULL, NULL, &st), UNUM_CANCELLED);
    CHECK_EQ_INT(st.stop, STOP_CANCELLED);
    CHECK_ERR("cancelled");
    CHECK_EQ_INT(engine_generate(e, ids, 5, &p, NULL, NULL, &st), 0);
    CHECK_EQ_INT(st.generated, 4);
    free(out);
    engine_free(e);
}

/* Input embeddings in place of ids (a speech LLM's spliced audio frames):
 * the embedding table's rows for the ids, given as embeddings, give the
 * same logits as the ids, bit for bit, mixed with id calls in one cache. */
TEST(qwen2_forward_embeds_matches_ids) {
    static const char *presets[] = {"tiny-bf16", "tiny-untied-f32", "tiny-headdim-f16"};
    for (size_t k = 0; k < sizeof presets / sizeof *presets; k++) {
        char *dir = fixture(presets[k]);
        Backend *be = backend_cpu_open(2);
        Qwen2 *a = qwen2_load(dir, be, 64), *b = qwen2_load(dir, be, 64);
        free(dir);
        REQUIRE(a && b);
        int V = a->c.vocab, D = a->c.hidden, T = 9;
        int32_t ids[9] = {1, 7, 42, 3, 99, 5, 11, 200, 17};
        float *emb = xmalloc(sizeof(float) * (size_t)T * D);
        for (int t = 0; t < T; t++) /* the table row, widened as embed does */
            be->embed(be, emb + (size_t)t * D, &a->embed, &ids[t], 1);
        float *la = xmalloc(sizeof(float) * (size_t)T * V),
              *lb = xmalloc(sizeof(float) * (size_t)T * V);
        /* the same chunks on both (T decides the kernels): ids only on a;
         * ids, then embeddings for the middle, then ids again on b */
        REQUIRE(qwen2_forward(a, ids, 3, la, 1) == 0);
        REQUIRE(qwen2_forward(a, ids + 3, 4, la + 3 * (size_t)V, 1) == 0);
        REQUIRE(qwen2_forward(a, ids + 7, 2, la + 7 * (size_t)V, 1) == 0);
        REQUIRE(qwen2_forward(b, ids, 3, lb, 1) == 0);
        REQUIRE(qwen2_forward_embeds(b, emb + 3 * (size_t)D, 4, lb + 3 * (size_t)V, 1) == 0);
        REQUIRE(qwen2_forward(b, ids + 7, 2, lb + 7 * (size_t)V, 1) == 0);
        CHECK(!memcmp(la, lb, sizeof(float) * (size_t)T * V));
        CHECK_EQ_INT(b->n_past, T);
        free(la);
        free(lb);
        free(emb);
        qwen2_free(a);
        qwen2_free(b);
        be->close(be);
    }
}
