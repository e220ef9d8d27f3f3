/* test_speculative.c - speculative decoding (engine/speculative.h): greedy
 * output identical to the target alone for a draft that always agrees (the
 * target itself), one that often agrees (tiny-bf16 under tiny-bf16-deep,
 * which has two more layers of small output) and one that rarely does
 * (tiny-bf16 under tiny-mqa-bf16, whose vocabulary is also larger); with
 * sampling, the output's distribution is the target's (chi-square over the
 * first two tokens of many seeded runs); a real tokenizer mismatch is
 * refused; and the command line's --draft. */
#include "engine/base/util.h"
#include "engine/engine.h"
#include "engine/speculative.h"
#include "tests/test.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

static Engine *load(const char *preset) {
    char *dir = unum_path_join(test_fixtures(), preset);
    EngineOptions eo = {.backend = "cpu", .threads = 1, .ctx = 256};
    Engine *e = engine_load(dir, &eo);
    if (!e) printf("    %s: %s\n", dir, unum_error());
    free(dir);
    return e;
}

static int collect(void *user, int32_t id, const char *text, size_t len) {
    (void)text, (void)len;
    if (id >= 0) idvec_push(user, id);
    return 0;
}

static GenerateParams greedy(int n, float repeat_penalty) {
    GenerateParams p = {0};
    p.sampling.top_p = 1.0f;
    p.sampling.repeat_penalty = repeat_penalty;
    p.max_tokens = n;
    p.ignore_eos = 1;
    return p;
}

static const int32_t prompt_a[] = {10, 200, 33, 117, 5, 64, 300, 12};
static const int32_t prompt_b[] = {99, 1, 250, 250, 17};

/* Greedy ids of target alone and drafted agree for several prompts and
 * draft lengths; returns the drafting counts summed. */
static SpecStats check_greedy(Engine *t, Engine *d, const char *what) {
    SpecStats sum = {0};
    const int32_t *prompts[] = {prompt_a, prompt_b};
    size_t lens[] = {8, 5};
    int ks[] = {1, 3, 8};
    for (int pi = 0; pi < 2; pi++)
        for (int ki = 0; ki < 3; ki++) {
            GenerateParams p = greedy(48, pi ? 1.1f : 1.0f);
            IdVec plain = {0}, spec = {0};
            GenerateStats st;
            SpecStats ss;
            CHECK(!engine_generate(t, prompts[pi], lens[pi], &p, collect, &plain, &st));
            CHECK(
                !spec_generate(t, d, ks[ki], prompts[pi], lens[pi], &p, collect, &spec, &st, &ss));
            CHECK_EQ_INT(st.generated, 48);
            CHECK_EQ_INT(spec.n, plain.n);
            int same = spec.n == plain.n;
            for (size_t i = 0; same && i < plain.n; i++) same = spec.v[i] == plain.v[i];
            if (!same) printf("    %s, prompt %d, draft-n %d: ids differ\n", what, pi, ks[ki]);
            CHECK(same);
            CHECK(ss.rounds > 0 && ss.rounds <= 48);
            sum.rounds += ss.rounds, sum.drafted += ss.drafted, sum.accepted += ss.accepted;
            idvec_free(&plain);
            idvec_free(&spec);
        }
    return sum;
}

TEST(spec_greedy_output_is_the_targets) {
    Engine *d = load("tiny-bf16"), *self = load("tiny-bf16"), *deep = load("tiny-bf16-deep"),
           *mqa = load("tiny-mqa-bf16");
    if (d && self && deep && mqa) {
        CHECK(!spec_check_pair(self, d));
        CHECK(!spec_check_pair(mqa, d)); /* 400 vs 384 rows, one tokenizer */
        SpecStats s = check_greedy(self, d, "self");
        CHECK_EQ_INT(s.accepted, s.drafted); /* the same model always agrees */
        CHECK(s.drafted > 0);
        s = check_greedy(deep, d, "deep");
        printf("    deep: %d of %d accepted, %d rounds\n", s.accepted, s.drafted, s.rounds);
        CHECK(s.accepted > s.drafted / 3 && s.accepted < s.drafted); /* both paths taken */
        s = check_greedy(mqa, d, "mqa");
        printf("    mqa: %d of %d accepted\n", s.accepted, s.drafted);
        CHECK(s.accepted < s.drafted / 4);
        /* a draft that never agrees is mostly paused: far fewer drafts than
         * the 6 x 48 tokens generated */
        CHECK(s.drafted * 2 < 6 * 48);
    } else {
        CHECK(0);
    }
    engine_free(d), engine_free(self), engine_free(deep), engine_free(mqa);
}

TEST(spec_stops_on_length_context_and_cancel) {
    Engine *d = load("tiny-bf16"), *t = load("tiny-bf16-deep");
    REQUIRE(d && t);
    GenerateParams p = greedy(5, 1.0f);
    IdVec ids = {0};
    GenerateStats st;
    CHECK(!spec_generate(t, d, 8, prompt_a, 8, &p, collect, &ids, &st, NULL));
    CHECK_EQ_INT(ids.n, 5); /* never past max_tokens, whatever k is */
    CHECK_EQ_INT(st.stop, STOP_LENGTH);
    idvec_free(&ids);
    /* the context: 256 positions, the plain loop's stopping point */
    p = greedy(1000, 1.0f);
    IdVec plain = {0};
    CHECK(!engine_generate(t, prompt_a, 8, &p, collect, &plain, &st));
    CHECK_EQ_INT(st.stop, STOP_CONTEXT);
    CHECK(!spec_generate(t, d, 8, prompt_a, 8, &p, collect, &ids, &st, NULL));
    CHECK_EQ_INT(st.stop, STOP_CONTEXT);
    CHECK_EQ_INT(ids.n, plain.n);
    idvec_free(&ids), idvec_free(&plain);
    /* a cancel before the call stops it at once and is used up */
    engine_cancel(t);
    CHECK_EQ_INT(spec_generate(t, d, 4, prompt_b, 5, &p, collect, &ids, &st, NULL), UNUM_CANCELLED);
    CHECK_EQ_INT(st.stop, STOP_CANCELLED);
    CHECK_EQ_INT(ids.n, 0);
    p.max_tokens = 3;
    CHECK(!spec_generate(t, d, 4, prompt_b, 5, &p, collect, &ids, &st, NULL));
    CHECK_EQ_INT(ids.n, 3);
    idvec_free(&ids);
    engine_free(d), engine_free(t);
}

/* The chi-square critical value at significance 0.001 (Wilson-Hilferty). */
static double chi2_crit(int df) {
    double z = 3.090, a = 2.0 / (9.0 * df);
    return df * pow(1 - a + z * sqrt(a), 3);
}

/* Seeded runs of two tokens with draft d under target t: the pairs'
 * counts against the target's exact joint law. */
static void check_distribution(Engine *t, Engine *d, int lo_pct, int hi_pct) {
    int V = t->model->c.vocab;
    GenerateParams p = greedy(2, 1.0f);
    p.sampling.temperature = 1.3f;
    p.sampling.top_k = 3; /* a few outcomes per position, so cells fill */
    /* the exact joint law of the first two tokens under the target alone */
    const size_t n = 8;
    float *lg = xmalloc(sizeof(float) * (n + 1) * (size_t)V), *p1 = xmalloc(sizeof(float) * V),
          *p2 = xmalloc(sizeof(float) * V);
    double *joint = xcalloc((size_t)V * V, sizeof(double));
    int32_t seq[9];
    memcpy(seq, prompt_a, sizeof prompt_a);
    Sampler *s = sampler_new(&p.sampling, V);
    REQUIRE(!engine_logits(t, seq, n, lg));
    sampler_dist(s, lg + (n - 1) * (size_t)V, NULL, 0, p1);
    for (int a = 0; a < V; a++) {
        if (p1[a] <= 0) continue;
        seq[n] = a;
        REQUIRE(!engine_logits(t, seq, n + 1, lg));
        sampler_dist(s, lg + n * (size_t)V, NULL, 0, p2);
        for (int b = 0; b < V; b++) joint[(size_t)a * V + b] = (double)p1[a] * p2[b];
    }
    sampler_free(s);
    /* seeded speculative runs: counts of each (first, second) pair */
    const int runs = 3000;
    int *count = xcalloc((size_t)V * V, sizeof(int));
    SpecStats tot = {0};
    for (int r = 0; r < runs; r++) {
        IdVec ids = {0};
        SpecStats ss;
        GenerateStats st;
        p.sampling.seed = 1000 + (uint64_t)r;
        CHECK(!spec_generate(t, d, 2, prompt_a, n, &p, collect, &ids, &st, &ss));
        if (ids.n == 2) count[(size_t)ids.v[0] * V + ids.v[1]]++;
        else CHECK(0);
        tot.drafted += ss.drafted, tot.accepted += ss.accepted;
        idvec_free(&ids);
    }
    /* cells expected at least 5 times each, the rest pooled */
    double chi = 0, pool_e = 0, pool_o = 0;
    int cells = 0, outside = 0;
    for (size_t c = 0; c < (size_t)V * V; c++) {
        double e = joint[c] * runs;
        if (e <= 0) outside += count[c];
        else if (e >= 5) chi += (count[c] - e) * (count[c] - e) / e, cells++;
        else pool_e += e, pool_o += count[c];
    }
    if (pool_e > 0) chi += (pool_o - pool_e) * (pool_o - pool_e) / pool_e, cells++;
    printf("    chi2 %.2f over %d cells (critical %.2f); %d of %d drafts accepted\n", chi, cells,
           chi2_crit(cells - 1), tot.accepted, tot.drafted);
    CHECK_EQ_INT(outside, 0); /* never a pair the target cannot produce */
    CHECK(cells >= 4);
    CHECK(chi < chi2_crit(cells - 1));
    /* the rule was exercised both ways */
    CHECK(tot.accepted * 100 > tot.drafted * lo_pct && tot.accepted * 100 < tot.drafted * hi_pct);
    free(count), free(joint), free(lg), free(p1), free(p2);
}

TEST(spec_sampling_keeps_the_targets_distribution) {
    Engine *d = load("tiny-bf16"), *deep = load("tiny-bf16-deep"), *mqa = load("tiny-mqa-bf16");
    if (d && deep && mqa) {
        check_distribution(deep, d, 60, 95); /* mostly kept: the acceptance test matters */
        check_distribution(mqa, d, 10, 60);  /* often refused: the residual draw matters */
    } else {
        CHECK(0);
    }
    engine_free(d), engine_free(deep), engine_free(mqa);
}

TEST(spec_refuses_a_different_tokenizer) {
    Engine *d = load("tiny-bf16");
    char *dir = unum_path_join(test_fixtures(), "tiny-qwen-vocab");
    int have = unum_file_exists(dir);
    free(dir);
    if (!have) {
        engine_free(d);
        SKIP("tiny-qwen-vocab fixture absent (npm tokenizer)");
    }
    Engine *t = load("tiny-qwen-vocab");
    REQUIRE(d && t);
    CHECK_EQ_INT(spec_check_pair(t, d), -1);
    CHECK_ERR("tokenizers differ at id 0");
    CHECK_ERR("tiny-qwen-vocab");
    engine_free(d), engine_free(t);
}

/* ------------------------------------------------------------ CLI */

TEST(cli_run_draft_prints_the_targets_text_and_the_rate) {
    char *plain = NULL, *spec = NULL, *err = NULL;
    const char *args = "-p 'the quick brown fox' --temp 0 -n 30 --ignore-eos --threads 1";
    CHECK_EQ_INT(test_sh(&plain, NULL, "$U run -m $F/tiny-bf16-deep %s", args), 0);
    CHECK_EQ_INT(test_sh(&spec, &err,
                         "$U run -m $F/tiny-bf16-deep --draft $F/tiny-bf16 --draft-n 3 "
                         "-v %s",
                         args),
                 0);
    CHECK_STR(spec, plain);
    CHECK_CONTAINS(err, "drafted tokens accepted");
    CHECK_CONTAINS(err, "tokens per target forward");
    free(plain), free(spec), free(err);
    /* sampling with a seed is reproducible */
    char *s1 = NULL, *s2 = NULL;
    const char *sargs = "--draft $F/tiny-bf16 -p hello --temp 0.9 --seed 7 -n 20 --ignore-eos";
    CHECK_EQ_INT(test_sh(&s1, NULL, "$U run -m $F/tiny-bf16-deep %s --ids", sargs), 0);
    CHECK_EQ_INT(test_sh(&s2, NULL, "$U run -m $F/tiny-bf16-deep %s --ids", sargs), 0);
    CHECK_STR(s1, s2);
    free(s1), free(s2);
    /* LoRA adapters are the target's: the drafted text is the adapted target's */
    CHECK_EQ_INT(test_sh(&s1, NULL, "$U run -m $F/tiny-bf16 --lora $F/lora-all %s --ids", args), 0);
    CHECK_EQ_INT(test_sh(&s2, NULL,
                         "$U run -m $F/tiny-bf16 --lora $F/lora-all --draft $F/tiny-bf16 %s "
                         "--ids",
                         args),
                 0);
    CHECK_STR(s2, s1);
    free(s1), free(s2);
    /* a remote draft, a bad --draft-n, a missing draft */
    CHECK_EQ_INT(test_sh(NULL, &err, "$U run -m $F/tiny-bf16 --draft http://127.0.0.1:9/v1 -p hi"),
                 1);
    CHECK_CONTAINS(err, "must be a local model");
    free(err);
    CHECK_EQ_INT(
        test_sh(NULL, &err, "$U run -m $F/tiny-bf16 --draft $F/tiny-bf16 --draft-n 0 -p hi"), 2);
    CHECK_CONTAINS(err, "--draft-n");
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err, "$U run -m $F/tiny-bf16 --draft $F/nonexistent -p hi"), 1);
    CHECK_CONTAINS(err, "nonexistent");
    free(err);
}

TEST(cli_bench_draft_json_reports_the_acceptance_rate) {
    char *out = NULL;
    CHECK_EQ_INT(test_sh(&out, NULL,
                         "$U bench -m $F/tiny-bf16 --draft $F/tiny-bf16 --prompt-len 8 "
                         "--gen 16 --reps 1 --threads 1 --json"),
                 0);
    CHECK_CONTAINS(out, "\"draft_accept_rate\":1,");
    CHECK_CONTAINS(out, "\"tokens_per_target_forward\":");
    CHECK_CONTAINS(out, "\"decode_tok_s\":");
    free(out);
}
