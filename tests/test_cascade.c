/* test_cascade.c - the confidence cascade (engine/cascade.h): the quantile
 * and the calibrated threshold, the confidence against probabilities taken
 * from teacher-forced logits, and run --stage2 / unum calibrate as a user
 * drives them (which stage answers, what is printed when stdout is not a
 * terminal). */
#include "engine/base/util.h"
#include "engine/cascade.h"
#include "engine/engine.h"
#include "tests/test.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

TEST(cascade_quantile_and_calibration) {
    float p[] = {0.9f, 0.2f, 0.95f, 0.99f, 0.5f, 0.97f, 0.93f, 0.91f, 0.96f, 0.98f, 0.94f};
    /* the 0.1 quantile of 11 values is the second smallest */
    CHECK_NEAR(cascade_quantile(p, 11), 0.5, 1e-6);
    float one[] = {0.3f};
    CHECK_NEAR(cascade_quantile(one, 1), 0.3, 1e-6);
    CHECK_NEAR(cascade_quantile(NULL, 0), 1.0, 0);
    double c[] = {0.8, 0.1, 0.6, 0.3, 0.9, 0.5, 0.7, 0.2, 0.4, 0.95};
    CHECK_NEAR(cascade_calibrate(c, 10, 0.3), 0.35, 1e-9); /* 0.1 0.2 0.3 below */
    CHECK_NEAR(cascade_calibrate(c, 10, 0.0), 0.0, 0);
    CHECK(cascade_calibrate(c, 10, 1.0) > 0.95);
    CHECK(cascade_escalates(0.99, 1.01) && !cascade_escalates(0.0, 0.0));
}

static int collect(void *user, int32_t id, const char *text, size_t len) {
    (void)text, (void)len;
    if (id >= 0) idvec_push(user, id);
    return 0;
}

TEST(cascade_confidence_is_the_low_quantile_of_token_probabilities) {
    char *dir = unum_path_join(test_fixtures(), "tiny-bf16");
    EngineOptions eo = {.backend = "cpu", .threads = 1};
    Engine *e = engine_load(dir, &eo);
    free(dir);
    REQUIRE(e);
    const int32_t prompt[] = {10, 200, 33, 117, 5};
    GenerateParams p = engine_default_params(e);
    p.sampling.temperature = 0.8f;
    p.sampling.seed = 3;
    p.max_tokens = 20;
    IdVec ans = {0};
    REQUIRE(!engine_generate(e, prompt, 5, &p, collect, &ans, NULL));
    REQUIRE(ans.n > 0);
    double conf;
    REQUIRE(!cascade_confidence(e, prompt, 5, ans.v, ans.n, &conf));
    /* the same from every position's logits at once */
    int V = e->model->c.vocab;
    size_t T = 5 + ans.n;
    int32_t *seq = xmalloc(sizeof(int32_t) * T);
    memcpy(seq, prompt, sizeof prompt);
    memcpy(seq + 5, ans.v, sizeof(int32_t) * ans.n);
    float *lg = xmalloc(sizeof(float) * T * V), *pr = xmalloc(sizeof(float) * ans.n);
    REQUIRE(!engine_logits(e, seq, T, lg));
    for (size_t i = 0; i < ans.n; i++) {
        const float *row = lg + (4 + i) * (size_t)V;
        double mx = row[0], sum = 0;
        for (int j = 1; j < V; j++) mx = row[j] > mx ? row[j] : mx;
        for (int j = 0; j < V; j++) sum += exp(row[j] - mx);
        pr[i] = (float)(exp(row[ans.v[i]] - mx) / sum);
    }
    double want = cascade_quantile(pr, ans.n);
    CHECK_NEAR(conf, want, 1e-3);
    CHECK(conf > 0 && conf < 1);
    free(seq), free(lg), free(pr);
    idvec_free(&ans);
    engine_free(e);
}

TEST(cli_run_stage2_escalates_below_the_threshold) {
    const char *a = "-p 'the quick brown fox' --temp 0 -n 12 --ids --threads 1";
    char *s1 = NULL, *s2 = NULL, *out = NULL, *err = NULL;
    CHECK_EQ_INT(test_sh(&s1, NULL, "$U run -m $F/tiny-bf16 %s", a), 0);
    CHECK_EQ_INT(test_sh(&s2, NULL, "$U run -m $F/tiny-untied-f32 %s", a), 0);
    CHECK(s1 && s2 && strcmp(s1, s2));
    /* 0 never escalates: stage 1's answer alone */
    CHECK_EQ_INT(test_sh(&out, &err,
                         "$U run -m $F/tiny-bf16 --stage2 $F/tiny-untied-f32 "
                         "--escalate-below 0 -v %s",
                         a),
                 0);
    CHECK_STR(out, s1);
    CHECK_CONTAINS(err, "stage 1 answered (confidence");
    free(out), free(err);
    /* 1.01 always does: stdout is not a terminal, so only stage 2's answer */
    CHECK_EQ_INT(test_sh(&out, &err,
                         "$U run -m $F/tiny-bf16 --stage2 $F/tiny-untied-f32 "
                         "--escalate-below 1.01 -v %s",
                         a),
                 0);
    CHECK_STR(out, s2);
    CHECK_CONTAINS(err, "stage 2 answered (stage 1 confidence");
    free(out), free(err);
    CHECK_EQ_INT(test_sh(NULL, &err,
                         "$U run -m $F/tiny-bf16 --stage2 $F/tiny-bf16 --draft "
                         "$F/tiny-bf16 -p hi"),
                 1);
    CHECK_CONTAINS(err, "not both");
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err,
                         "$U run -m $F/tiny-bf16 --stage2 $F/missing --escalate-below "
                         "1.01 -p hi"),
                 1);
    CHECK_CONTAINS(err, "--stage2");
    CHECK_CONTAINS(err, "missing");
    free(err);
    free(s1), free(s2);
}

TEST(cli_calibrate_picks_the_threshold_for_the_rate) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    char *path = unum_path_join(dir, "prompts.txt");
    const char *txt = "hello world\nthe quick brown fox\nwhat is the weather like today?\n"
                      "the meeting starts at ten\n# a comment\n\nit is sunny and warm\n"
                      "we will talk about the report\n";
    REQUIRE(!unum_write_file_atomic(path, txt, strlen(txt)));
    char *out = NULL, *err = NULL;
    CHECK_EQ_INT(test_sh(&out, &err,
                         "$U calibrate -m $F/tiny-bf16 --stage2 $F/tiny-untied-f32 "
                         "--prompts %s --rate 0.5 -n 6 --threads 1",
                         path),
                 0);
    CHECK_CONTAINS(out, "escalate_below = 0.");
    CHECK_CONTAINS(out, "prompts 6, escalated 3 (50.0%");
    CHECK_CONTAINS(out, "agreement: stage 1 gave stage 2's answer on");
    free(out), free(err);
    /* the same pair: every answer agrees */
    CHECK_EQ_INT(test_sh(&out, NULL,
                         "$U calibrate -m $F/tiny-bf16 --stage2 $F/tiny-bf16 --prompts %s "
                         "--rate 0 -n 4 --threads 1",
                         path),
                 0);
    CHECK_CONTAINS(out, "escalated 0");
    CHECK_CONTAINS(out, "on 6 of 6 prompts (100.0%)");
    free(out);
    /* --save: the app's settings keep the pair and the threshold */
    CHECK_EQ_INT(test_sh(&out, NULL,
                         "XDG_CONFIG_HOME=%s/cfg $U calibrate -m $F/tiny-bf16 --stage2 "
                         "$F/tiny-untied-f32 --prompts %s --rate 0.5 -n 6 --threads 1 "
                         "--save",
                         dir, path),
                 0);
    char *cfgp = unum_path_join(dir, "cfg/unum/config");
    char *cfg = unum_read_file(cfgp, 1 << 16, NULL);
    CHECK_CONTAINS(cfg, "escalate_below = 0.");
    CHECK_CONTAINS(cfg, "stage2 = ");
    CHECK_CONTAINS(cfg, "tiny-untied-f32");
    /* the same threshold as printed */
    const char *p = out ? strstr(out, "escalate_below = ") : NULL;
    if (p && cfg) {
        char line[64];
        snprintf(line, sizeof line, "%.*s", (int)strcspn(p, "\n"), p);
        CHECK_CONTAINS(cfg, line);
    }
    free(cfg), free(cfgp), free(out);
    CHECK_EQ_INT(test_sh(NULL, &err, "$U calibrate -m $F/tiny-bf16 --prompts %s --rate 0.1", path),
                 2);
    CHECK_CONTAINS(err, "--stage2");
    free(err);
    free(path);
    test_tmp_remove(dir);
}
