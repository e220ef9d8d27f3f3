/* test_adapters.c - LoRA adapters, merges and extraction against the
 * independent references (tests/reference/adapters_ref.py and qwen2_ref.py,
 * goldens from tests/reference/make_adapter_goldens.sh):
 *   - adapters applied unmerged give the logits of the merged weights
 *     W + s*B@A within 2e-3 of each row's largest magnitude, with the same
 *     greedy ids, batched and token by token, on one and two threads;
 *   - switching adapters needs no reload and never reuses a prefix computed
 *     under another set;
 *   - what unum cannot apply is refused with a message naming it;
 *   - each merge method's tensors match the reference's, merged
 *     checkpoints load, mismatched inputs are refused;
 *   - an adapter extracted from an exactly rank-R difference reproduces the
 *     tuned model's logits. */
#include "engine/engine.h"
#include "engine/extract.h"
#include "engine/lora.h"
#include "engine/merge.h"
#include "engine/models.h"
#include "engine/qwen2.h"
#include "engine/router.h"
#include "engine/safetensors.h"
#include "tests/test.h"
#include "tests/worker_wait.h"
#include "tui/core/appconfig.h"
#include "tui/core/worker.h"
#include "engine/base/util.h"

#include <lapacke.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#define TOL 2e-3

static char *fixture(const char *name) { return unum_path_join(test_fixtures(), name); }

/* The adapter cases of make_adapter_goldens.sh. */
typedef struct {
    const char *name, *preset;
    const char *adapters[2];
    float scales[2];
} Case;

static const Case cases[] = {
    {"all", "tiny-bf16", {"lora-all"}, {1}},
    {"attn-rs", "tiny-bf16", {"lora-attn-rs"}, {1}},
    {"pattern", "tiny-bf16", {"lora-pattern"}, {1}},
    {"two", "tiny-bf16", {"lora-all", "lora-attn-rs"}, {0.5f, 1.5f}},
    {"mqa", "tiny-mqa-bf16", {"lora-mqa"}, {1}},
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

static float *model_logits(const char *dir, const LoraSpec *specs, int n, const IdVec *ids);

static int case_specs(const Case *c, LoraSpec *specs) {
    int n = 0;
    for (; n < 2 && c->adapters[n]; n++) {
        specs[n].dir = fixture(c->adapters[n]);
        specs[n].scale = c->scales[n];
    }
    return n;
}

static void specs_clear(LoraSpec *specs, int n) {
    for (int i = 0; i < n; i++) free(specs[i].dir);
}

/* Teacher-forced logits of the case's prompt with its adapters, step
 * tokens per forward call (0: all at once). */
static float *case_logits(Engine *e, const IdVec *prompt, int step) {
    Qwen2 *m = e->model;
    int T = (int)prompt->n, V = m->c.vocab;
    float *out = xmalloc(sizeof(float) * (size_t)T * V);
    qwen2_rewind(m, 0);
    for (int t = 0; t < T;) {
        int n = step ? (T - t < step ? T - t : step) : T;
        if (qwen2_forward(m, prompt->v + t, n, out + (size_t)t * V, 1)) {
            free(out);
            return NULL;
        }
        t += n;
    }
    return out;
}

static GenerateParams greedy(Engine *e, int n) {
    GenerateParams p = engine_default_params(e);
    p.sampling.temperature = 0;
    p.sampling.repeat_penalty = 1;
    p.max_tokens = n;
    p.ignore_eos = 1;
    return p;
}

static int collect(void *user, int32_t id, const char *text, size_t len) {
    if (id >= 0) idvec_push(user, id);
    return 0;
}

static void check_case(const Case *c, int threads) {
    char *dir = fixture(c->preset), rel[128];
    LoraSpec specs[2];
    int n = case_specs(c, specs);
    EngineOptions o = {.backend = "cpu", .threads = threads, .ctx = 64, .lora = specs, .n_lora = n};
    Engine *e = engine_load(dir, &o);
    free(dir);
    specs_clear(specs, n);
    if (!e) {
        test_fail(__FILE__, __LINE__, "%s: %s", c->name, unum_error());
        return;
    }
    IdVec prompt = {0}, want = {0}, got = {0};
    snprintf(rel, sizeof rel, "%s/prompt.ids", c->preset);
    int V = engine_n_vocab(e);
    float *ref = NULL;
    if (test_golden_ids(rel, &prompt) ||
        (snprintf(rel, sizeof rel, "lora/%s/greedy.ids", c->name), test_golden_ids(rel, &want)) ||
        (snprintf(rel, sizeof rel, "lora/%s/logits.f32", c->name),
         !(ref = test_golden_f32(rel, prompt.n * (size_t)V)))) {
        test_fail(__FILE__, __LINE__, "%s golden: %s", c->name, unum_error());
        goto out;
    }
    int steps[] = {0, 1, 5};
    for (int s = 0; s < 3; s++) {
        float *lg = case_logits(e, &prompt, steps[s]);
        if (!lg) {
            test_fail(__FILE__, __LINE__, "%s: %s", c->name, unum_error());
            continue;
        }
        double w = test_worst_rel(lg, ref, (int)prompt.n, V);
        if (w > TOL)
            test_fail(__FILE__, __LINE__,
                      "%s, %d threads, %d tokens a call: worst relative error "
                      "%g",
                      c->name, threads, steps[s], w);
        free(lg);
    }
    GenerateParams p = greedy(e, (int)want.n);
    CHECK(engine_generate(e, prompt.v, prompt.n, &p, collect, &got, NULL) == 0);
    CHECK_EQ_INT(got.n, want.n);
    for (size_t k = 0; k < got.n && k < want.n; k++)
        if (got.v[k] != want.v[k]) {
            test_fail(__FILE__, __LINE__, "%s: greedy token %zu is %d, reference %d", c->name, k,
                      got.v[k], want.v[k]);
            break;
        }
out:
    free(ref);
    idvec_free(&prompt);
    idvec_free(&want);
    idvec_free(&got);
    engine_free(e);
}

TEST(lora_logits_match_merged_reference) {
    for (int i = 0; i < N_CASES; i++) check_case(&cases[i], 2);
}

TEST(lora_logits_match_merged_reference_one_thread) {
    for (int i = 0; i < N_CASES; i++) check_case(&cases[i], 1);
}

/* Adapters on, off and on again in one engine: the base's logits come back
 * exactly when they are off, and the prefix cache is not reused across
 * sets. */
TEST(lora_switching_keeps_base_and_never_mixes_prefixes) {
    char *dir = fixture("tiny-bf16");
    EngineOptions o = {.backend = "cpu", .threads = 2, .ctx = 64};
    Engine *e = engine_load(dir, &o);
    free(dir);
    REQUIRE(e);
    IdVec prompt = {0}, got = {0};
    REQUIRE(test_golden_ids("tiny-bf16/prompt.ids", &prompt) == 0);
    int V = engine_n_vocab(e);
    float *base = test_golden_f32("tiny-bf16/logits.f32", prompt.n * (size_t)V);
    float *with = test_golden_f32("lora/all/logits.f32", prompt.n * (size_t)V);
    REQUIRE(base && with);
    LoraSpec spec = {fixture("lora-all"), 1};
    GenerateParams p = greedy(e, 2);
    GenerateStats st;
    /* a first request without adapters fills the cache */
    CHECK(engine_generate(e, prompt.v, prompt.n, &p, collect, &got, &st) == 0);
    CHECK(engine_set_adapters(e, &spec, 1) == 0);
    CHECK(engine_generate(e, prompt.v, prompt.n, &p, collect, &got, &st) == 0);
    CHECK_EQ_INT(st.reused_tokens, 0); /* the cache was computed without the adapter */
    CHECK(engine_generate(e, prompt.v, prompt.n, &p, collect, &got, &st) == 0);
    CHECK(st.reused_tokens > 0);                  /* same set: the prefix is reused */
    CHECK(engine_set_adapters(e, &spec, 1) == 0); /* the same set again costs nothing */
    CHECK(engine_generate(e, prompt.v, prompt.n, &p, collect, &got, &st) == 0);
    CHECK(st.reused_tokens > 0);
    float *lg = case_logits(e, &prompt, 0);
    REQUIRE(lg);
    CHECK(test_worst_rel(lg, with, (int)prompt.n, V) < TOL);
    free(lg);
    CHECK(engine_set_adapters(e, NULL, 0) == 0);
    CHECK(engine_generate(e, prompt.v, prompt.n, &p, collect, &got, &st) == 0);
    CHECK_EQ_INT(st.reused_tokens, 0);
    lg = case_logits(e, &prompt, 0);
    REQUIRE(lg);
    CHECK(test_worst_rel(lg, base, (int)prompt.n, V) < TOL);
    CHECK(test_worst_rel(lg, with, (int)prompt.n, V) > 0.1); /* the adapter matters */
    free(lg);
    free(spec.dir);
    free(base);
    free(with);
    idvec_free(&prompt);
    idvec_free(&got);
    engine_free(e);
}

/* Adapters on a quantized base (GPTQ, AWQ): the same logits as on its
 * float32 twin (test_quant.c's fixtures), since the adapters' products come
 * after the base's, whatever its format. */
TEST(lora_on_quantized_bases_matches_the_float_twin) {
    static const char *bases[] = {"tiny-gptq4-g64", "tiny-awq4-g32", "tiny-gptq8-g64"};
    IdVec ids = {0};
    REQUIRE(test_golden_ids("tiny-bf16/prompt.ids", &ids) == 0);
    LoraSpec specs[2];
    int n = case_specs(&cases[3], specs); /* lora-all:0.5, lora-attn-rs:1.5 */
    for (int i = 0; i < 3; i++) {
        char *q = fixture(bases[i]), twin[300];
        snprintf(twin, sizeof twin, "%s-twin", q);
        float *a = model_logits(q, specs, n, &ids), *b = model_logits(twin, specs, n, &ids);
        float *plain = model_logits(q, NULL, 0, &ids);
        if (!a || !b || !plain) test_fail(__FILE__, __LINE__, "%s: %s", bases[i], unum_error());
        else {
            double w = test_worst_rel(a, b, (int)ids.n, 384);
            if (w > TOL) test_fail(__FILE__, __LINE__, "%s: worst relative error %g", bases[i], w);
            CHECK(test_worst_rel(plain, b, (int)ids.n, 384) > 0.1); /* the adapters act */
        }
        free(a), free(b), free(plain), free(q);
    }
    specs_clear(specs, n);
    idvec_free(&ids);
}

/* ------------------------------------------------------------ hostile adapters */

/* Copies a fixture adapter into a temporary folder, replacing the first
 * occurrence of `from` in adapter_config.json with `to`. */
static char *adapter_variant(const char *fixture_name, const char *from, const char *to) {
    char *tmp = test_tmpdir();
    if (!tmp) return NULL;
    char *src = fixture(fixture_name);
    char *cp = unum_path_join(src, "adapter_config.json");
    char *wp = unum_path_join(src, "adapter_model.safetensors");
    size_t n = 0, nw = 0;
    char *cfg = unum_read_file(cp, 1 << 20, &n), *w = unum_read_file(wp, 64u << 20, &nw);
    char *hit = cfg ? strstr(cfg, from) : NULL;
    if (hit) {
        size_t pre = (size_t)(hit - cfg), fl = strlen(from), tl = strlen(to);
        char *out = xmalloc(n - fl + tl + 1);
        memcpy(out, cfg, pre);
        memcpy(out + pre, to, tl);
        memcpy(out + pre + tl, hit + fl, n - pre - fl + 1);
        char *dp = unum_path_join(tmp, "adapter_config.json");
        unum_write_file_atomic(dp, out, strlen(out));
        free(dp);
        free(out);
    } else test_fail(__FILE__, __LINE__, "'%s' not in %s", from, cp);
    char *dw = unum_path_join(tmp, "adapter_model.safetensors");
    if (w) unum_write_file_atomic(dw, w, nw);
    free(dw);
    free(cfg);
    free(w);
    free(cp);
    free(wp);
    free(src);
    return tmp;
}

static void expect_refused(const char *fixture_name, const char *preset, const char *from,
                           const char *to, const char *want) {
    char *dir = from ? adapter_variant(fixture_name, from, to) : fixture(fixture_name);
    char *mdir = fixture(preset);
    Qwen2Config c;
    if (!dir || qwen2_config_load(&c, mdir)) {
        test_fail(__FILE__, __LINE__, "setup: %s", unum_error());
    } else {
        LoraAdapter *a = lora_load(dir, &c);
        if (a) test_fail(__FILE__, __LINE__, "%s -> %s: accepted", from ? from : "", to ? to : "");
        else if (!strstr(unum_error(), want) || !strstr(unum_error(), "adapter_"))
            test_fail(__FILE__, __LINE__, "error '%s' lacks '%s'", unum_error(), want);
        lora_free(a);
    }
    if (from) test_tmp_remove(dir);
    else free(dir);
    free(mdir);
}

TEST(lora_refuses_what_it_cannot_apply) {
    expect_refused("lora-all", "tiny-bf16", "\"use_dora\":false", "\"use_dora\":true", "DoRA");
    expect_refused("lora-all", "tiny-bf16", "\"modules_to_save\":null",
                   "\"modules_to_save\":[\"lm_head\"]", "modules_to_save");
    expect_refused("lora-all", "tiny-bf16", "\"fan_in_fan_out\":false", "\"fan_in_fan_out\":true",
                   "fan_in_fan_out");
    expect_refused("lora-all", "tiny-bf16", "\"peft_type\":\"LORA\"", "\"peft_type\":\"IA3\"",
                   "peft_type is 'IA3'");
    expect_refused("lora-all", "tiny-bf16", "\"bias\":\"none\"", "\"bias\":\"all\"",
                   "bias is 'all'");
    /* a target Qwen2 does not have */
    expect_refused("lora-attn-rs", "tiny-bf16", "\"q_proj\"", "\"c_attn\"",
                   "target module 'c_attn'");
    /* a rank the tensors do not have: the shape check names the tensor */
    expect_refused("lora-all", "tiny-bf16", "\"r\":8", "\"r\":4", "lora_A.weight");
    /* a targeted module without tensors */
    expect_refused("lora-attn-rs", "tiny-bf16", "\"q_proj\"", "\"q_proj\",\"up_proj\"",
                   "up_proj.lora_A.weight");
    /* tensors the config does not target */
    expect_refused("lora-attn-rs", "tiny-bf16", "\"q_proj\",", "", "q_proj.lora_A.weight");
    /* a base of other shapes */
    expect_refused("lora-mqa", "tiny-bf16", NULL, NULL, "lora_A.weight");
    /* stacked quantifiers, which Python refuses: a POSIX reader took them and
     * spent gigabytes compiling a long run of them (fuzz_lora_config) */
    expect_refused("lora-pattern", "tiny-bf16", "\"layers.1.mlp.down_proj\"",
                   "\"layers.1.mlp.down_proj+++++++\"", "not a regular expression");
}

/* rank_pattern keys are Python regular expressions: class escapes work */
TEST(lora_rank_pattern_reads_python_classes) {
    char *dir = adapter_variant("lora-pattern", "\"layers.1.mlp.down_proj\"",
                                "\"lay\\\\w+\\\\.1\\\\.mlp\\\\.down_proj\"");
    char *mdir = fixture("tiny-bf16");
    Qwen2Config c;
    REQUIRE(dir && qwen2_config_load(&c, mdir) == 0);
    LoraAdapter *a = lora_load(dir, &c);
    if (!a) test_fail(__FILE__, __LINE__, "%s", unum_error());
    else {
        CHECK_EQ_INT(lora_pair(a, 1, LORA_DOWN)->rank, 2);
        CHECK_EQ_INT(lora_pair(a, 0, LORA_DOWN)->rank, 4);
    }
    lora_free(a);
    test_tmp_remove(dir);
    /* Python's non-capturing groups and lazy quantifiers */
    dir = adapter_variant("lora-pattern", "\"layers.1.mlp.down_proj\"",
                          "\"l(?:ay)+ers\\\\.1\\\\..*?\\\\.down_proj\"");
    REQUIRE(dir);
    a = lora_load(dir, &c);
    if (!a) test_fail(__FILE__, __LINE__, "%s", unum_error());
    else {
        CHECK_EQ_INT(lora_pair(a, 1, LORA_DOWN)->rank, 2);
        CHECK_EQ_INT(lora_pair(a, 0, LORA_DOWN)->rank, 4);
    }
    lora_free(a);
    test_tmp_remove(dir);
    /* alpha_pattern {"o_proj": 3} as a pattern that needs \\d */
    dir = adapter_variant("lora-pattern", "\"o_proj\":3",
                          "\"layers\\\\.\\\\d\\\\.self_attn\\\\.o_proj\":3");
    REQUIRE(dir);
    a = lora_load(dir, &c);
    if (!a) test_fail(__FILE__, __LINE__, "%s", unum_error());
    else CHECK_NEAR(lora_pair(a, 0, LORA_O)->scale, 3.0 / 4, 1e-6);
    lora_free(a);
    test_tmp_remove(dir);
    free(mdir);
}

TEST(lora_spec_parses_scales) {
    LoraSpec s;
    REQUIRE(lora_spec_parse("dir/a:0.5", &s) == 0);
    CHECK_STR(s.dir, "dir/a");
    CHECK(s.scale == 0.5f);
    free(s.dir);
    REQUIRE(lora_spec_parse("c:/x", &s) == 0); /* not a number: part of the path */
    CHECK_STR(s.dir, "c:/x");
    CHECK(s.scale == 1.0f);
    free(s.dir);
    CHECK(lora_spec_parse(":2", &s) != 0);
}

/* ------------------------------------------------------------ merges */

typedef struct {
    const char *method;
    const char *base;
    MergeInput models[2];
    int n;
    double t;
    uint64_t seed;
} MergeCase;

#define TA "tiny-bf16-tuned-a"
#define TB "tiny-bf16-tuned-b"
static const MergeCase merges[] = {
    {"linear", NULL, {{TA, 0.7f, 1}, {TB, 0.3f, 1}}, 2, 0, 0},
    {"task_arithmetic", "tiny-bf16", {{TA, 0.7f, 1}, {TB, 0.5f, 1}}, 2, 0, 0},
    {"ties", "tiny-bf16", {{TA, 0.7f, 0.5f}, {TB, 0.5f, 0.3f}}, 2, 0, 0},
    {"dare_ties", "tiny-bf16", {{TA, 0.7f, 0.5f}, {TB, 0.5f, 0.3f}}, 2, 0, 7},
    {"dare_linear", "tiny-bf16", {{TA, 1, 0.6f}, {TB, 0.5f, 0.4f}}, 2, 0, 9},
    {"slerp", "tiny-bf16", {{TA, 1, 1}}, 1, 0.3, 0},
};

static int run_merge(const MergeCase *mc, const char *out, int out_dtype, uint64_t shard) {
    MergeInput in[2];
    char *dirs[2], *base = mc->base ? fixture(mc->base) : NULL;
    for (int i = 0; i < mc->n; i++)
        in[i] = mc->models[i], in[i].dir = dirs[i] = fixture(mc->models[i].dir);
    MergeOptions o = {0};
    o.method = merge_method_parse(mc->method);
    o.base = base;
    o.models = in, o.n_models = mc->n;
    o.t = mc->t, o.seed = mc->seed;
    o.out_dtype = out_dtype;
    o.shard_bytes = shard;
    int rc = merge_run(&o, out);
    for (int i = 0; i < mc->n; i++) free(dirs[i]);
    free(base);
    return rc;
}

TEST(merge_methods_match_reference) {
    static const char *names[] = {"model.layers.1.self_attn.q_proj.weight",
                                  "model.layers.1.mlp.down_proj.weight"};
    for (size_t k = 0; k < sizeof merges / sizeof merges[0]; k++) {
        const MergeCase *mc = &merges[k];
        char *tmp = test_tmpdir(), rel[64];
        REQUIRE(tmp);
        /* small shards, so the writer's sharding and index are exercised */
        if (run_merge(mc, tmp, DT_F32, 100000)) {
            test_fail(__FILE__, __LINE__, "%s: %s", mc->method, unum_error());
            test_tmp_remove(tmp);
            continue;
        }
        STModel st = {0};
        snprintf(rel, sizeof rel, "merge/%s.f32", mc->method);
        float *ref = test_golden_f32(rel, 64 * 64 + 64 * 160);
        CHECK(ref != NULL);
        if (ref && st_open_dir(&st, tmp) == 0) {
            const float *r = ref;
            for (int i = 0; i < 2; i++) {
                const STensor *t = st_find(&st, names[i]);
                CHECK(t && t->dtype == DT_F32);
                double worst = 0, mx = 0;
                for (int64_t e = 0; t && e < t->numel; e++) {
                    mx = fmax(mx, fabs(r[e]));
                    worst = fmax(worst, fabs(((const float *)t->data)[e] - r[e]));
                }
                if (!t || worst > 1e-5 * mx)
                    test_fail(__FILE__, __LINE__,
                              "%s: %s differs from the reference by %g "
                              "(max %g)",
                              mc->method, names[i], worst, mx);
                r += t ? t->numel : 0;
            }
            CHECK(st.n_files > 1); /* sharded */
            st_close(&st);
        } else test_fail(__FILE__, __LINE__, "%s: %s", mc->method, unum_error());
        free(ref);
        /* the output is a loadable model */
        Backend *be = backend_cpu_open(1);
        Qwen2 *m = qwen2_load(tmp, be, 16);
        if (!m) test_fail(__FILE__, __LINE__, "%s: %s", mc->method, unum_error());
        qwen2_free(m);
        be->close(be);
        test_tmp_remove(tmp);
    }
}

TEST(merge_refuses_mismatched_inputs) {
    char *tmp = test_tmpdir();
    REQUIRE(tmp);
    MergeCase other = {"linear", NULL, {{"tiny-bf16", 1, 1}, {"tiny-mqa-bf16", 1, 1}}, 2, 0, 0};
    CHECK(run_merge(&other, tmp, -1, 0) != 0);
    CHECK(strstr(unum_error(), "hidden_size") != NULL);
    MergeCase shapes = {"linear", NULL, {{"tiny-bf16", 1, 1}, {"tiny-sharded-bf16", 1, 1}},
                        2,        0,    0};
    CHECK(run_merge(&shapes, tmp, -1, 0) != 0);
    CHECK(strstr(unum_error(), "num_hidden_layers") != NULL);
    /* an output folder that holds a checkpoint (here an input) */
    MergeCase into = {"linear", NULL, {{TA, 1, 1}, {TB, 1, 1}}, 2, 0, 0};
    char *ta_dir = fixture(TA);
    CHECK(run_merge(&into, ta_dir, -1, 0) != 0);
    CHECK(strstr(unum_error(), "already holds a checkpoint") != NULL);
    free(ta_dir);
    MergeCase slerp3 = {"slerp", "tiny-bf16", {{TA, 1, 1}, {TB, 1, 1}}, 2, 0.5, 0};
    CHECK(run_merge(&slerp3, tmp, -1, 0) != 0);
    CHECK(strstr(unum_error(), "slerp") != NULL);
    /* a tokenizer that differs */
    char *tok = test_tmpdir();
    REQUIRE(tok);
    char *src = fixture(TA);
    const char *files[] = {"config.json", "model.safetensors", "tokenizer.json"};
    for (int i = 0; i < 3; i++) {
        char *a = unum_path_join(src, files[i]), *b = unum_path_join(tok, files[i]);
        size_t n;
        char *d = unum_read_file(a, 64u << 20, &n);
        if (d && i == 2) d[n / 2] = d[n / 2] == 'a' ? 'b' : 'a';
        if (d) unum_write_file_atomic(b, d, n);
        free(d);
        free(a);
        free(b);
    }
    free(src);
    MergeInput in[2] = {{NULL, 1, 1}, {tok, 1, 1}};
    char *ta = fixture(TA);
    in[0].dir = ta;
    MergeOptions o = {0};
    o.method = MERGE_LINEAR;
    o.models = in, o.n_models = 2, o.out_dtype = -1;
    CHECK(merge_run(&o, tmp) != 0);
    CHECK(strstr(unum_error(), "tokenizer") != NULL);
    free(ta);
    test_tmp_remove(tok);
    test_tmp_remove(tmp);
}

/* ------------------------------------------------------------ bake and extract */

static float *model_logits(const char *dir, const LoraSpec *specs, int n, const IdVec *ids) {
    EngineOptions o = {.backend = "cpu", .threads = 2, .ctx = 64, .lora = specs, .n_lora = n};
    Engine *e = engine_load(dir, &o);
    if (!e) return NULL;
    float *out = xmalloc(sizeof(float) * ids->n * (size_t)engine_n_vocab(e));
    if (engine_logits(e, ids->v, ids->n, out)) {
        free(out);
        out = NULL;
    }
    engine_free(e);
    return out;
}

/* Baking lora-all into tiny-bf16 gives the reference's merged logits; an
 * adapter extracted at rank 8 (the difference's exact rank) from that
 * checkpoint reproduces them again. */
TEST(lora_bake_and_extract_reproduce_the_tuned_model) {
    char *tuned = test_tmpdir(), *ext = test_tmpdir();
    REQUIRE(tuned && ext);
    IdVec ids = {0};
    REQUIRE(test_golden_ids("tiny-bf16/prompt.ids", &ids) == 0);
    float *ref = test_golden_f32("lora/all/logits.f32", ids.n * 384);
    REQUIRE(ref);
    char *base = fixture("tiny-bf16");
    LoraSpec spec = {fixture("lora-all"), 1};
    MergeOptions o = {0};
    o.method = MERGE_BAKE;
    o.base = base;
    o.lora = &spec, o.n_lora = 1;
    o.out_dtype = DT_F32;
    if (merge_run(&o, tuned)) test_fail(__FILE__, __LINE__, "bake: %s", unum_error());
    float *baked = model_logits(tuned, NULL, 0, &ids);
    if (!baked) test_fail(__FILE__, __LINE__, "baked: %s", unum_error());
    else CHECK(test_worst_rel(baked, ref, (int)ids.n, 384) < TOL);

    ExtractOptions x = {base, tuned, 8, 0, NULL, NULL};
    char *untouched = NULL;
    if (lora_extract(&x, ext, &untouched))
        test_fail(__FILE__, __LINE__, "extract: %s", unum_error());
    CHECK(untouched == NULL);
    free(untouched);
    LoraSpec es = {ext, 1};
    float *got = model_logits(base, &es, 1, &ids);
    if (!got) test_fail(__FILE__, __LINE__, "extracted: %s", unum_error());
    else if (baked) {
        double w = test_worst_rel(got, baked, (int)ids.n, 384);
        if (w > TOL) test_fail(__FILE__, __LINE__, "extracted adapter: worst relative error %g", w);
    }
    /* one rank short of the difference's is not exact */
    x.rank = 4;
    x.targets = 1u << LORA_Q;
    CHECK(lora_extract(&x, ext, &untouched) == 0);
    CHECK(untouched != NULL); /* the other six projections differ too */
    free(untouched);
    free(got);
    free(baked);
    free(ref);
    free(base);
    free(spec.dir);
    idvec_free(&ids);
    test_tmp_remove(tuned);
    test_tmp_remove(ext);
}

/* The command line: --lora on logits, merge's baking and lora extract. */
TEST(lora_cli_forms) {
    char *tmp = test_tmpdir();
    REQUIRE(tmp);
    char cmd[2048], *err = NULL;
    const char *fx = test_fixtures(), *bin = test_bin();
    snprintf(cmd, sizeof cmd,
             "%s logits -m %s/tiny-bf16 --backend cpu --ids %s/tests/golden/tiny-bf16/prompt.ids "
             "-o %s/a.f32 --lora %s/lora-all:0.5 --lora %s/lora-attn-rs:1.5 && "
             "%s merge --base %s/tiny-bf16 --lora %s/lora-all:0.5 --lora %s/lora-attn-rs:1.5 "
             "--out-dtype f32 -o %s/baked >/dev/null && "
             "%s logits -m %s/baked --backend cpu --ids %s/tests/golden/tiny-bf16/prompt.ids "
             "-o %s/b.f32",
             bin, fx, test_root(), tmp, fx, fx, bin, fx, fx, fx, tmp, bin, tmp, test_root(), tmp);
    CHECK_EQ_INT(test_shell("true", cmd, NULL, &err), 0);
    free(err);
    err = NULL;
    char *pa = unum_path_join(tmp, "a.f32"), *pb = unum_path_join(tmp, "b.f32");
    size_t na = 0, nb = 0;
    float *a = (float *)unum_read_file(pa, 1 << 24, &na),
          *b = (float *)unum_read_file(pb, 1 << 24, &nb);
    float *ref = test_golden_f32("lora/two/logits.f32", 24 * 384);
    CHECK(a && b && ref && na == nb && na == 24 * 384 * sizeof(float));
    if (a && b && ref && na == nb && na == 24 * 384 * sizeof(float)) {
        CHECK(test_worst_rel(a, ref, 24, 384) < TOL);
        CHECK(test_worst_rel(b, ref, 24, 384) < TOL);
    }
    free(a);
    free(b);
    free(ref);
    free(pa);
    free(pb);
    /* a refused adapter exits 1 naming it; a bad form exits 2 */
    snprintf(cmd, sizeof cmd,
             "%s logits -m %s/tiny-bf16 --ids %s/tests/golden/tiny-bf16/prompt.ids "
             "-o %s/c.f32 --lora %s/lora-mqa",
             bin, fx, test_root(), tmp, fx);
    CHECK_EQ_INT(test_shell("true", cmd, NULL, &err), 1);
    CHECK(err && strstr(err, "lora-mqa") && strstr(err, "lora_A.weight"));
    free(err);
    err = NULL;
    snprintf(cmd, sizeof cmd, "%s merge --method nope -o %s/x %s/tiny-bf16", bin, tmp, fx);
    CHECK_EQ_INT(test_shell("true", cmd, NULL, &err), 2);
    free(err);
    err = NULL;
    snprintf(cmd, sizeof cmd,
             "%s lora extract --base %s/tiny-bf16 --tuned %s/tiny-bf16-tuned-a "
             "--rank 2 --targets q_proj,nope -o %s/x",
             bin, fx, fx, tmp);
    CHECK_EQ_INT(test_shell("true", cmd, NULL, &err), 2);
    CHECK(err && strstr(err, "nope"));
    free(err);
    test_tmp_remove(tmp);
}

/* ------------------------------------------------------------ the app's engine thread */

/* The next event of kind k (or a failure) from the worker, within 60 s;
 * the others are dropped. NULL on a time-out. */
static Event *wait_event(Worker *w, EventKind k, EventKind fail) {
    return test_worker_wait(w, k, fail, 60, NULL, 0);
}

/* One chat reply of the worker to text with adapters specs[0..n): its
 * event (EV_REPLY_DONE or EV_REPLY_FAILED). */
static Event *worker_reply(Worker *w, const char *text, const LoraSpec *specs, int n) {
    GenerateParams p = {0};
    p.sampling.temperature = 0;
    p.sampling.repeat_penalty = 1;
    p.max_tokens = 8;
    ChatMsg m = {"user", text, 0};
    worker_chat_adapters(w, specs, n);
    worker_chat(w, &m, NULL, 1, &p);
    return wait_event(w, EV_REPLY_DONE, EV_REPLY_FAILED);
}

/* The app's replies take the persona's adapters (worker_chat_adapters):
 * each reply is switched to its set, with the base kept loaded; a reply
 * with the adapter is the one `unum run --lora` writes; switching away and
 * back gives the same reply again (no prefix computed under another set
 * is reused); the event names the adapters; a missing folder fails the
 * reply, naming the folder, and writes nothing. */
TEST(worker_replies_use_the_persona_adapters) {
    char *lm = fixture("tiny-qwen-vocab"), *a = fixture("lora-qv-a");
    char *tok = unum_path_join(lm, "tokenizer.json"), *ad = unum_path_join(a, "adapter_config.json");
    int ok = unum_file_exists(tok) && unum_file_exists(ad);
    free(tok), free(ad);
    if (!ok) {
        free(lm), free(a);
        test_skip("no tiny-qwen-vocab/lora-qv-a fixtures (needs npm)");
        return;
    }
    Worker *w = worker_start();
    REQUIRE(w);
    EngineOptions eo = {.backend = "cpu", .threads = 2, .ctx = 256};
    worker_load(w, lm, &eo);
    Event *e = wait_event(w, EV_LOADED, EV_LOAD_FAILED);
    REQUIRE(e && e->kind == EV_LOADED);
    event_free(e);
    LoraSpec spec = {a, 1.0f}, gone = {"/nonexistent/lora-gone", 1.0f};
    const char *q = "Write one word about rain.";
    Event *with = worker_reply(w, q, &spec, 1), *none = worker_reply(w, q, NULL, 0);
    Event *again = worker_reply(w, q, &spec, 1), *bad = worker_reply(w, q, &gone, 1);
    REQUIRE(with && none && again && bad);
    CHECK(with->kind == EV_REPLY_DONE && none->kind == EV_REPLY_DONE &&
          again->kind == EV_REPLY_DONE);
    CHECK_EQ_INT(bad->kind, EV_REPLY_FAILED);
    if (bad->kind == EV_REPLY_FAILED) CHECK_CONTAINS(bad->failed.why, "/nonexistent/lora-gone");
    if (with->kind == EV_REPLY_DONE && none->kind == EV_REPLY_DONE && again->kind == EV_REPLY_DONE) {
        CHECK_STR(with->reply.adapters, "lora-qv-a");
        CHECK_STR(none->reply.adapters, "");
        CHECK_STR(with->reply.text, again->reply.text);
        CHECK(strcmp(with->reply.text, none->reply.text) != 0); /* the adapter matters */
        char *out = NULL;
        CHECK_EQ_INT(test_sh(&out, NULL,
                             "$U run -m %s --backend cpu --threads 2 --ctx 256 --temp 0 "
                             "--repeat-penalty 1 -n 8 --lora %s -p '%s'",
                             lm, a, q),
                     0);
        size_t n = out ? strlen(out) : 0;
        if (n && out[n - 1] == '\n') out[n - 1] = 0;
        CHECK_STR(out ? out : "", with->reply.text);
        free(out);
    }
    event_free(with), event_free(none), event_free(again), event_free(bad);
    worker_stop(w);
    free(lm);
    free(a);
}

/* The app's replies drafted (worker_set_draft): the same text as the chat
 * model alone, with the share of drafts kept on the event; the chat model
 * carries an adapter at a small scale and the draft is the bare base, so
 * drafts are often, not always, kept. A draft of another vocabulary fails
 * its reply with the reason and is turned off: the next reply is written
 * without it. */
TEST(worker_drafted_replies_are_the_chat_models) {
    char *lm = fixture("tiny-qwen-vocab"), *a = fixture("lora-qv-a"), *other = fixture("tiny-bf16");
    char *tok = unum_path_join(lm, "tokenizer.json"), *ad = unum_path_join(a, "adapter_config.json");
    int ok = unum_file_exists(tok) && unum_file_exists(ad);
    free(tok), free(ad);
    if (!ok) {
        free(lm), free(a), free(other);
        test_skip("no tiny-qwen-vocab/lora-qv-a fixtures (needs npm)");
        return;
    }
    Worker *w = worker_start();
    REQUIRE(w);
    EngineOptions eo = {.backend = "cpu", .threads = 2, .ctx = 256};
    worker_load(w, lm, &eo);
    Event *e = wait_event(w, EV_LOADED, EV_LOAD_FAILED);
    REQUIRE(e && e->kind == EV_LOADED);
    event_free(e);
    LoraSpec spec = {a, 0.1f};
    const char *q = "Summarize the meeting: Anna writes the guide by Friday.";
    Event *alone = worker_reply(w, q, &spec, 1);
    worker_set_draft(w, lm, 3, &eo);
    Event *drafted = worker_reply(w, q, &spec, 1);
    worker_set_draft(w, other, 3, &eo);
    Event *bad = worker_reply(w, q, &spec, 1), *after = worker_reply(w, q, &spec, 1);
    REQUIRE(alone && drafted && bad && after);
    CHECK(alone->kind == EV_REPLY_DONE && drafted->kind == EV_REPLY_DONE &&
          after->kind == EV_REPLY_DONE);
    if (alone->kind == EV_REPLY_DONE && drafted->kind == EV_REPLY_DONE) {
        CHECK_STR(drafted->reply.text, alone->reply.text);
        CHECK(alone->reply.draft_accept < 0);
        CHECK(drafted->reply.draft_accept > 0 && drafted->reply.draft_accept < 1);
    }
    CHECK_EQ_INT(bad->kind, EV_REPLY_FAILED);
    if (bad->kind == EV_REPLY_FAILED) CHECK_CONTAINS(bad->failed.why, "drafting is off");
    if (after->kind == EV_REPLY_DONE) {
        CHECK_STR(after->reply.text, alone->reply.text);
        CHECK(after->reply.draft_accept < 0);
    }
    event_free(alone), event_free(drafted), event_free(bad), event_free(after);
    worker_stop(w);
    free(lm), free(a), free(other);
}

/* A reply (as worker_reply, with no adapters) and the models loaded besides
 * the chat model after it (the last EV_MODELS before the reply's end, kept
 * in where across calls). */
static Event *worker_reply_where(Worker *w, const char *text, char *where, size_t n) {
    GenerateParams p = {0};
    p.sampling.temperature = 0;
    p.sampling.repeat_penalty = 1;
    p.max_tokens = 8;
    ChatMsg m = {"user", text, 0};
    worker_chat(w, &m, NULL, 1, &p);
    return test_worker_wait(w, EV_REPLY_DONE, EV_REPLY_FAILED, 60, where, n);
}

/* The app's engine thread under a memory budget (worker_set_mem_budget)
 * with room for the chat model and one more: a drafted reply that
 * escalates to a second stage unloads the draft, which is not in use any
 * more, to load stage 2; the next reply loads the draft again in stage 2's
 * place; the replies are those written without a budget. With room for
 * the chat model alone, stage 2 cannot load beside it (the chat model, in
 * use, is never unloaded): the reply fails naming the sizes, and with the
 * second stage off the chat model answers as before. */
TEST(worker_models_share_a_memory_budget) {
    char *lm = fixture("tiny-qwen-vocab");
    char *tok = unum_path_join(lm, "tokenizer.json");
    int ok = unum_file_exists(tok);
    free(tok);
    if (!ok) {
        free(lm);
        test_skip("no tiny-qwen-vocab fixture (needs npm)");
        return;
    }
    size_t s = 0;
    REQUIRE(!models_estimate(lm, 256, &s));
    EngineOptions eo = {.backend = "cpu", .threads = 2, .ctx = 256};
    const char *q = "Summarize the meeting: Anna writes the guide by Friday.";
    Event *want = NULL, *got[2] = {NULL, NULL};
    char where[512] = "", after[2][512] = {"", ""};
    for (int budgeted = 0; budgeted < 2; budgeted++) {
        Worker *w = worker_start();
        REQUIRE(w);
        if (budgeted) worker_set_mem_budget(w, 2 * s + s / 2); /* chat + one more */
        worker_load(w, lm, &eo);
        worker_set_draft(w, lm, 3, &eo);
        worker_set_stage2(w, lm, 1.01, &eo); /* every reply escalates */
        for (int i = 0; i < (budgeted ? 2 : 1); i++) {
            Event *e = worker_reply_where(w, q, where, sizeof where);
            REQUIRE(e);
            if (!budgeted) want = e;
            else got[i] = e, snprintf(after[i], sizeof after[i], "%s", where);
        }
        worker_stop(w);
    }
    REQUIRE(want && got[0] && got[1]);
    CHECK_EQ_INT(want->kind, EV_REPLY_DONE);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ_INT(got[i]->kind, EV_REPLY_DONE);
        if (got[i]->kind != EV_REPLY_DONE || want->kind != EV_REPLY_DONE) continue;
        CHECK_STR(got[i]->reply.text, want->reply.text);
        CHECK_EQ_INT(got[i]->reply.stage, 2);
        CHECK(got[i]->reply.draft_accept >= 0); /* stage 1 was drafted */
        /* stage 2 loaded in the draft's room: the draft is gone */
        CHECK(strstr(after[i], "stage 2: tiny-qwen-vocab on cpu") && !strstr(after[i], "draft"));
    }
    event_free(want), event_free(got[0]), event_free(got[1]);
    /* room for the chat model alone */
    Worker *w = worker_start();
    REQUIRE(w);
    worker_set_mem_budget(w, s + s / 2);
    worker_load(w, lm, &eo);
    worker_set_stage2(w, lm, 1.01, &eo);
    Event *bad = worker_reply_where(w, q, where, sizeof where);
    worker_set_stage2(w, NULL, 0, &eo);
    Event *alone = worker_reply_where(w, q, where, sizeof where);
    REQUIRE(bad && alone);
    CHECK_EQ_INT(bad->kind, EV_REPLY_FAILED);
    if (bad->kind == EV_REPLY_FAILED) {
        char sizes[256];
        snprintf(sizes, sizeof sizes, "needs %.0f MiB; the memory budget of %.0f MiB",
                 s / 1048576.0, (s + s / 2) / 1048576.0);
        CHECK_CONTAINS(bad->failed.why, "the second stage");
        CHECK_CONTAINS(bad->failed.why, sizes);
    }
    CHECK_EQ_INT(alone->kind, EV_REPLY_DONE);
    if (alone->kind == EV_REPLY_DONE) CHECK_EQ_INT(alone->reply.stage, 1);
    event_free(bad), event_free(alone);
    worker_stop(w);
    free(lm);
}

/* The settings file's draft lines: draft = MODEL and draft_n = K (1 ..
 * SPEC_DRAFT_N_MAX), each once. */
TEST(draft_settings_lines) {
    const char good[] = "draft = /m/small\ndraft_n = 4\n";
    AppConfig c;
    app_config_defaults(&c);
    REQUIRE(app_config_parse(&c, good, strlen(good), "cfg") == 0);
    CHECK_STR(c.draft ? c.draft : "", "/m/small");
    CHECK_EQ_INT(c.draft_n, 4);
    app_config_free(&c);
    static const char *const bad[] = {"draft_n = 0\n", "draft_n = 33\n", "draft = \n",
                                      "draft = a\ndraft = b\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        app_config_defaults(&c);
        CHECK(app_config_parse(&c, bad[i], strlen(bad[i]), "cfg") != 0);
        CHECK_ERR("cfg:");
        app_config_free(&c);
    }
}

/* ------------------------------------------------------------ the router */

/* engine_embed is the mean final-norm hidden state: checked against the
 * independent reference through its logits. tiny-bf16 ties lm_head to the
 * embeddings E [V x D] (V > D), so the reference's mean logits row (the
 * torch goldens) is E h for the mean hidden state h, which least squares
 * recovers. */
TEST(router_embedding_is_the_reference_hidden_state) {
    char *dir = fixture("tiny-bf16");
    EngineOptions o = {.backend = "cpu", .threads = 2, .ctx = 64};
    Engine *e = engine_load(dir, &o);
    REQUIRE(e);
    STModel st;
    REQUIRE(st_open_dir(&st, dir) == 0);
    free(dir);
    const STensor *E = st_find(&st, "model.embed_tokens.weight");
    REQUIRE(E && E->dtype == DT_BF16 && E->ndim == 2);
    int V = (int)E->shape[0], D = (int)E->shape[1];
    REQUIRE(V == engine_n_vocab(e) && D == engine_hidden_size(e) && V > D);
    IdVec prompt = {0};
    REQUIRE(test_golden_ids("tiny-bf16/prompt.ids", &prompt) == 0);
    float *lg = test_golden_f32("tiny-bf16/logits.f32", prompt.n * (size_t)V);
    REQUIRE(lg);
    double *A = xmalloc(sizeof(double) * (size_t)V * D), *b = xcalloc((size_t)V, sizeof(double));
    const uint16_t *w = E->data;
    for (size_t i = 0; i < (size_t)V * D; i++) A[i] = unum_bf16_to_f32(w[i]);
    for (size_t t = 0; t < prompt.n; t++)
        for (int v = 0; v < V; v++) b[v] += lg[t * V + v] / (double)prompt.n;
    REQUIRE(LAPACKE_dgels(LAPACK_ROW_MAJOR, 'N', V, D, 1, A, D, b, 1) == 0);
    float *h = xmalloc(sizeof(float) * (size_t)D);
    REQUIRE(engine_embed_ids(e, prompt.v, prompt.n, h) == 0);
    double worst = 0, scale = 0;
    for (int d = 0; d < D; d++) {
        scale = fmax(scale, fabs(b[d]));
        worst = fmax(worst, fabs(h[d] - b[d]));
    }
    printf("  mean hidden state: worst difference %.2e of %.3f\n", worst, scale);
    CHECK(worst < TOL * scale);
    free(h);
    free(A);
    free(b);
    free(lg);
    idvec_free(&prompt);
    st_close(&st);
    engine_free(e);
}

static const char *const route_desc[2] = {"Translate legal contracts into plain English.",
                                          "Write Python code that parses log files."};

/* Cosine of two embeddings, computed here. */
static double cosine(const float *a, const float *b, int n) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
    return ab / sqrt(aa * bb);
}

/* The router's choice follows the request: a request worded as one
 * description picks that adapter (cosine 1, the largest there is), the
 * other wording the other one; a third request the adapter whose
 * description's embedding is nearest by a cosine computed here; none
 * above a threshold no cosine reaches; and routing leaves no adapter on. */
TEST(router_picks_by_the_request) {
    char *lm = fixture("tiny-qwen-vocab"), *a = fixture("lora-qv-a"), *b = fixture("lora-qv-b");
    char *tok = unum_path_join(lm, "tokenizer.json");
    int ok = unum_file_exists(tok);
    free(tok);
    if (!ok) {
        free(lm), free(a), free(b);
        test_skip("no tiny-qwen-vocab fixture (needs npm)");
        return;
    }
    EngineOptions o = {.backend = "cpu", .threads = 2, .ctx = 128};
    Engine *e = engine_load(lm, &o);
    REQUIRE(e);
    RouterEntry ent[2] = {{{a, 1}, (char *)route_desc[0]}, {{b, 0.5f}, (char *)route_desc[1]}};
    Router *r = router_new(ent, 2, 0.5f);
    float sc[2];
    int pick = -2;
    for (int k = 0; k < 2; k++) {
        REQUIRE(router_pick(r, e, route_desc[k], sc, &pick) == 0);
        CHECK_EQ_INT(pick, k);
        CHECK(fabs(sc[k] - 1.0) < 1e-4);
        CHECK(sc[1 - k] < sc[k]);
    }
    const char *third = "Summarize this court ruling for a client.";
    int D = engine_hidden_size(e);
    float *q = xmalloc(sizeof(float) * D), *d0 = xmalloc(sizeof(float) * D),
          *d1 = xmalloc(sizeof(float) * D);
    REQUIRE(engine_embed(e, third, q) == 0 && engine_embed(e, route_desc[0], d0) == 0 &&
            engine_embed(e, route_desc[1], d1) == 0);
    double c0 = cosine(q, d0, D), c1 = cosine(q, d1, D);
    REQUIRE(router_pick(r, e, third, sc, &pick) == 0);
    printf("  '%s': %.4f %.4f\n", third, c0, c1);
    CHECK(fabs(sc[0] - c0) < 1e-4 && fabs(sc[1] - c1) < 1e-4);
    CHECK_EQ_INT(pick, fmax(c0, c1) < 0.5 ? -1 : c0 >= c1 ? 0 : 1);
    router_free(r);
    r = router_new(ent, 2, 1.01f); /* above every cosine */
    REQUIRE(router_pick(r, e, route_desc[0], sc, &pick) == 0);
    CHECK_EQ_INT(pick, -1);
    CHECK(e->adapters_key == NULL);
    router_free(r);
    free(q), free(d0), free(d1);
    engine_free(e);
    free(lm), free(a), free(b);
}

/* run --lora auto: the settings file's adapters, the one routed to writes
 * the reply (the same as naming it with --lora), -v names it with the
 * scores; no adapter listed is an error naming the file. */
TEST(router_run_lora_auto) {
    char *lm = fixture("tiny-qwen-vocab"), *a = fixture("lora-qv-a"), *b = fixture("lora-qv-b");
    char *tok = unum_path_join(lm, "tokenizer.json");
    int ok = unum_file_exists(tok);
    free(tok);
    if (!ok) {
        free(lm), free(a), free(b);
        test_skip("no tiny-qwen-vocab fixture (needs npm)");
        return;
    }
    char *tmp = test_tmpdir(), *auto_out = NULL, *err = NULL, *named = NULL;
    REQUIRE(tmp);
    const char *run = "$U run --backend cpu --threads 2 --temp 0 --repeat-penalty 1 -n 6";
    CHECK_EQ_INT(test_sh(NULL, NULL,
                         "mkdir -p %s/unum && printf 'lora = auto\\nadapter = %s | %s\\n"
                         "adapter = %s:0.5 | %s\\n' > %s/unum/config",
                         tmp, a, route_desc[0], b, route_desc[1], tmp),
                 0);
    CHECK_EQ_INT(test_sh(&auto_out, &err, "XDG_CONFIG_HOME=%s %s -m %s --lora auto -v -p '%s'", tmp,
                         run, lm, route_desc[1]),
                 0);
    CHECK_CONTAINS(err, "router: ");
    CHECK_CONTAINS(err, "lora-qv-b (threshold 0.500); scores:");
    CHECK_EQ_INT(test_sh(&named, NULL, "%s -m %s --lora %s:0.5 -p '%s'", run, lm, b, route_desc[1]), 0);
    CHECK_STR(auto_out ? auto_out : "", named ? named : "-");
    free(auto_out), free(err), free(named);
    err = NULL;
    CHECK_EQ_INT(test_sh(NULL, &err, "XDG_CONFIG_HOME=%s/none %s -m %s --lora auto -p hi", tmp, run, lm),
                 1);
    CHECK_CONTAINS(err, "lists no adapter");
    CHECK_CONTAINS(err, "/none/unum/config");
    free(err);
    err = NULL;
    CHECK_EQ_INT(test_sh(NULL, &err, "%s -m %s --lora auto --lora %s -p hi", run, lm, a), 2);
    free(err);
    test_tmp_remove(tmp);
    free(lm), free(a), free(b);
}

/* lora = auto in the app: each reply is written with the adapter the
 * router picks for its last user message, and says which. */
TEST(worker_routes_replies_with_lora_auto) {
    char *lm = fixture("tiny-qwen-vocab"), *a = fixture("lora-qv-a"), *b = fixture("lora-qv-b");
    char *tok = unum_path_join(lm, "tokenizer.json");
    int ok = unum_file_exists(tok);
    free(tok);
    if (!ok) {
        free(lm), free(a), free(b);
        test_skip("no tiny-qwen-vocab fixture (needs npm)");
        return;
    }
    Worker *w = worker_start();
    REQUIRE(w);
    EngineOptions eo = {.backend = "cpu", .threads = 2, .ctx = 256};
    worker_load(w, lm, &eo);
    Event *ev = wait_event(w, EV_LOADED, EV_LOAD_FAILED);
    REQUIRE(ev && ev->kind == EV_LOADED);
    event_free(ev);
    RouterEntry ent[2] = {{{a, 1}, (char *)route_desc[0]}, {{b, 0.5f}, (char *)route_desc[1]}};
    worker_chat_router(w, ent, 2, 0.5f);
    Event *r1 = worker_reply(w, route_desc[1], NULL, 0), *r0 = worker_reply(w, route_desc[0], NULL, 0);
    LoraSpec persona = {a, 2.0f}; /* a persona's own adapters go before the router */
    Event *rp = worker_reply(w, route_desc[1], &persona, 1);
    REQUIRE(r1 && r0 && rp);
    CHECK(r1->kind == EV_REPLY_DONE && r0->kind == EV_REPLY_DONE && rp->kind == EV_REPLY_DONE);
    if (r1->kind == EV_REPLY_DONE) CHECK_STR(r1->reply.adapters, "lora-qv-b:0.5");
    if (r0->kind == EV_REPLY_DONE) CHECK_STR(r0->reply.adapters, "lora-qv-a");
    if (rp->kind == EV_REPLY_DONE) CHECK_STR(rp->reply.adapters, "lora-qv-a:2");
    event_free(r1), event_free(r0), event_free(rp);
    worker_stop(w);
    free(lm), free(a), free(b);
}

/* The settings file's router lines: adapters in order with scale and
 * description, lora = auto, the threshold; bad lines name FILE:LINE. */
TEST(router_settings_lines) {
    static const char good[] = "model = m\nadapter = /a/legal | Legal contracts in plain words\n"
                               "  adapter = org/code:0.5|Python code\nlora = auto\n"
                               "lora_threshold = 0.25\n";
    AppConfig c;
    app_config_defaults(&c);
    REQUIRE(app_config_parse(&c, good, strlen(good), "cfg") == 0);
    REQUIRE(c.n_adapters == 2);
    CHECK_STR(c.adapters[0].spec.dir, "/a/legal");
    CHECK(c.adapters[0].spec.scale == 1.0f);
    CHECK_STR(c.adapters[0].description, "Legal contracts in plain words");
    CHECK_STR(c.adapters[1].spec.dir, "org/code");
    CHECK(c.adapters[1].spec.scale == 0.5f);
    CHECK_STR(c.adapters[1].description, "Python code");
    CHECK_EQ_INT(c.lora_auto, 1);
    CHECK(c.lora_threshold == 0.25f);
    app_config_free(&c);
    static const struct {
        const char *text, *err;
    } bad[] = {
        {"adapter = /a/legal\n", "cfg:1: adapter = DIR[:SCALE] | DESCRIPTION: no '|'"},
        {"\nadapter = /a | \n", "cfg:2: adapter = DIR[:SCALE] | DESCRIPTION: no description"},
        {"adapter = | words\n", "cfg:1: adapter"},
        {"lora = sometimes\n", "cfg:1: bad value \"sometimes\" for lora"},
        {"lora_threshold = 2\n", "cfg:1: bad value \"2\" for lora_threshold"},
        {"lora = auto\nlora = off\n", "cfg:2: lora is set twice"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        app_config_defaults(&c);
        CHECK(app_config_parse(&c, bad[i].text, strlen(bad[i].text), "cfg") != 0);
        CHECK_ERR(bad[i].err);
        app_config_free(&c);
    }
}
