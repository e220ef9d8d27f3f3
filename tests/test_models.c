/* test_models.c - several models under one memory budget (engine/models.h):
 * sizes parsed, the estimate's KV-cache term, least-recently-used unloading
 * of models not in use, and the errors that name the sizes when a model
 * cannot fit. */
#include "engine/base/util.h"
#include "engine/models.h"
#include "engine/whisper.h"
#include "tests/test.h"
#include "tui/core/appconfig.h"

#include <stdarg.h>
#include <stdlib.h>

TEST(models_parse_size) {
    size_t b;
    CHECK(!models_parse_size("8G", &b) && b == (size_t)8 << 30);
    CHECK(!models_parse_size("512M", &b) && b == (size_t)512 << 20);
    CHECK(!models_parse_size("1.5GiB", &b) && b == (size_t)3 << 29);
    CHECK(!models_parse_size("64k", &b) && b == 65536);
    CHECK(!models_parse_size("300000", &b) && b == 300000);
    CHECK(models_parse_size("8X", &b) == -1);
    CHECK_ERR("'8X' is not a size");
    CHECK(models_parse_size("-1G", &b) == -1);
    CHECK(models_parse_size("G", &b) == -1);
    CHECK(models_parse_size("0", &b) == -1);
    CHECK(models_default_budget() >= ((size_t)1 << 28));
}

static char *fx(const char *preset) { return unum_path_join(test_fixtures(), preset); }

/* Without --mem-budget the budget is the memory of the first model's
 * device: the GPU's less a tenth (at least 1 GiB) when it runs on one,
 * else the machine's. */
TEST(models_default_budget_follows_the_first_models_device) {
    CHECK(backend_device_memory("cpu") == 0);
    size_t gpu = backend_device_memory("cuda");
#ifndef UNUM_CUDA
    CHECK(gpu == 0 && backend_device_memory("auto") == 0);
#endif
    size_t margin = gpu / 10 > ((size_t)1 << 30) ? gpu / 10 : (size_t)1 << 30;
    if (gpu) CHECK(models_default_budget_for("cuda") == gpu - margin);
    else CHECK(models_default_budget_for("cuda") == models_default_budget());
    CHECK(models_default_budget_for("cpu") == models_default_budget());
    char *dir = fx("tiny-bf16");
    Models *m = models_new(0);
    EngineOptions eo = {.backend = "cpu", .threads = 1};
    REQUIRE(!models_set(m, ROLE_CHAT, dir, &eo) && models_acquire(m, ROLE_CHAT));
    CHECK(models_budget(m) == models_default_budget());
    models_free(m);
    if (gpu) { /* the same model on the GPU: the GPU's budget */
        m = models_new(0);
        eo.backend = "cuda";
        REQUIRE(!models_set(m, ROLE_CHAT, dir, &eo) && models_acquire(m, ROLE_CHAT));
        CHECK(models_budget(m) == gpu - margin);
        models_free(m);
    }
    free(dir);
}

TEST(models_estimate_counts_weights_and_the_kv_cache) {
    char *dir = fx("tiny-bf16");
    size_t a, b;
    REQUIRE(!models_estimate(dir, 256, &a) && !models_estimate(dir, 512, &b));
    /* tiny-bf16: 2 layers, 2 KV heads of 16: 2 x 2 x 256 x 32 x 4 bytes more */
    CHECK_EQ_INT(b - a, 2 * 2 * 256 * 32 * 4);
    char *st = unum_path_join(dir, "model.safetensors");
    size_t n;
    char *w = unum_read_file(st, 64u << 20, &n);
    CHECK(w && a > n);
    free(w), free(st), free(dir);
    dir = fx("tiny-sharded-bf16"); /* the shards the index names */
    CHECK(!models_estimate(dir, 256, &a) && a > 100000);
    free(dir);
    CHECK(models_estimate("/nonexistent/model", 0, &a) == -1);
}

TEST(models_unload_the_least_recently_used_model_not_in_use) {
    char *p[3] = {fx("tiny-bf16"), fx("tiny-untied-f32"), fx("tiny-headdim-f16")};
    size_t s[3];
    for (int i = 0; i < 3; i++) REQUIRE(!models_estimate(p[i], 64, &s[i]));
    size_t mn = s[0] < s[1] ? (s[0] < s[2] ? s[0] : s[2]) : (s[1] < s[2] ? s[1] : s[2]);
    /* room for any two, never all three */
    Models *m = models_new(s[0] + s[1] + s[2] - mn);
    EngineOptions eo = {.backend = "cpu", .threads = 1, .ctx = 64};
    ModelRole r[3] = {ROLE_CHAT, ROLE_STAGE2, ROLE_DRAFT};
    for (int i = 0; i < 3; i++) CHECK(!models_set(m, r[i], p[i], &eo));
    CHECK(models_acquire(m, ROLE_CHAT) != NULL);
    models_release(m, ROLE_CHAT);
    CHECK(models_acquire(m, ROLE_STAGE2) != NULL);
    models_release(m, ROLE_STAGE2);
    CHECK(models_acquire(m, ROLE_DRAFT) != NULL); /* chat, used least recently, goes */
    models_release(m, ROLE_DRAFT);
    CHECK(!models_loaded(m, ROLE_CHAT));
    CHECK(models_loaded(m, ROLE_STAGE2) && models_loaded(m, ROLE_DRAFT));
    CHECK(models_used(m) <= models_budget(m));
    CHECK(models_acquire(m, ROLE_CHAT) != NULL); /* now stage 2 goes */
    CHECK(!models_loaded(m, ROLE_STAGE2) && models_loaded(m, ROLE_DRAFT));
    /* chat and draft in use: stage 2 cannot fit beside them */
    CHECK(models_acquire(m, ROLE_DRAFT) != NULL);
    CHECK(models_acquire(m, ROLE_STAGE2) == NULL);
    CHECK_ERR("(stage 2 model) needs");
    CHECK_ERR("MiB in models in use (chat");
    CHECK(models_loaded(m, ROLE_CHAT) && models_loaded(m, ROLE_DRAFT));
    models_release(m, ROLE_DRAFT);
    CHECK(models_acquire(m, ROLE_STAGE2) != NULL); /* the draft was free to go */
    CHECK(!models_loaded(m, ROLE_DRAFT));
    models_free(m);
    /* a model larger than the whole budget */
    m = models_new(s[0] / 2);
    CHECK(!models_set(m, ROLE_STAGE2, p[0], &eo));
    CHECK(models_acquire(m, ROLE_STAGE2) == NULL);
    CHECK_ERR("more than the memory budget of");
    CHECK_ERR("tiny-bf16");
    models_free(m);
    for (int i = 0; i < 3; i++) free(p[i]);
}

TEST(cli_mem_budget_refuses_a_model_that_cannot_fit) {
    char prelude[1024], *err = NULL;
    snprintf(prelude, sizeof prelude, "U='%s'; F='%s'", test_bin(), test_fixtures());
    CHECK_EQ_INT(test_shell(prelude,
                            "$U run -m $F/tiny-bf16 --draft $F/tiny-bf16-deep "
                            "--mem-budget 1M -p hi -n 2",
                            NULL, &err),
                 1);
    CHECK_CONTAINS(err, "needs 2 MiB, more than the memory budget of 1 MiB (--mem-budget)");
    free(err);
    CHECK_EQ_INT(test_shell(prelude, "$U run -m $F/tiny-bf16 --mem-budget lots -p hi", NULL, &err),
                 2);
    CHECK_CONTAINS(err, "'lots' is not a size");
    free(err);
}

/* A Whisper model's estimate: its weights, then at least its decoder's
 * self- and cross-attention caches (models.h). A speech LLM whose encoder
 * is a directory of its own counts that encoder too. */
TEST(models_estimate_counts_whisper_and_speech_llms) {
    char *wh = fx("whisper-en-f32"), *st = unum_path_join(wh, "model.safetensors");
    size_t est = 0, wbytes = 0;
    char *w = unum_read_file(st, 64u << 20, &wbytes);
    REQUIRE(w && !models_estimate(wh, 0, &est));
    WhisperConfig c;
    REQUIRE(!whisper_config_load(&c, wh));
    size_t caches = 2 * (size_t)c.dec_layers * (size_t)(c.n_text + c.n_audio) * (size_t)c.d * 4;
    CHECK(est >= wbytes + caches);
    free(w), free(st), free(wh);
    char *sp = fx("omni-tiny-hfenc"), *enc = unum_path_join(sp, "whisper-encoder");
    size_t s_sp = 0, s_enc = 0;
    REQUIRE(!models_estimate(sp, 64, &s_sp) && !models_estimate(enc, 0, &s_enc));
    CHECK(s_sp > s_enc);
    free(sp), free(enc);
}

/* The budget arithmetic across kinds: a budget that fits chat + whisper but
 * not chat + whisper + stage 2 unloads, for stage 2, the least recently
 * used model not in use (whisper, with chat in use); a model in use is
 * never unloaded (whisper cannot come back while chat and stage 2 are in
 * use, and the error names the sizes); one larger than the budget names
 * both sizes. */
TEST(models_budget_spans_whisper_and_language_models) {
    char *chat = fx("tiny-bf16"), *s2 = fx("tiny-untied-f32"), *wh = fx("whisper-en-f32");
    size_t sc, s_s2, sw;
    REQUIRE(!models_estimate(chat, 64, &sc) && !models_estimate(s2, 64, &s_s2) &&
            !models_estimate(wh, 0, &sw));
    size_t budget = sc + sw + s_s2 - 1; /* any two, never the three */
    REQUIRE(sc + sw <= budget && sc + s_s2 <= budget && sw + s_s2 <= budget);
    Models *m = models_new(budget);
    EngineOptions eo = {.backend = "cpu", .threads = 1, .ctx = 64};
    CHECK(!models_set(m, ROLE_CHAT, chat, &eo) && !models_set(m, ROLE_STAGE2, s2, &eo) &&
          !models_set(m, ROLE_WHISPER, wh, &eo));
    CHECK_STR(models_model(m, ROLE_WHISPER), wh);
    CHECK(models_acquire(m, ROLE_WHISPER) == NULL); /* no engine: the transcriber's own call */
    Transcriber *t = models_acquire_transcriber(m);
    REQUIRE(t);
    CHECK_STR(transcriber_backend(t), "cpu");
    models_release(m, ROLE_WHISPER);
    REQUIRE(models_acquire(m, ROLE_CHAT) != NULL); /* kept in use */
    CHECK(models_loaded(m, ROLE_WHISPER) && models_used(m) == sc + sw);
    char where[256];
    models_where(m, 0, where, sizeof where);
    CHECK_STR(where, "whisper: whisper-en-f32 on cpu");
    REQUIRE(models_acquire(m, ROLE_STAGE2) != NULL); /* whisper goes */
    CHECK(!models_loaded(m, ROLE_WHISPER) && models_loaded(m, ROLE_CHAT));
    CHECK(models_used(m) == sc + s_s2);
    models_where(m, 1, where, sizeof where);
    CHECK_STR(where, "stage 2 cpu");
    CHECK(models_acquire_transcriber(m) == NULL); /* chat and stage 2 in use */
    char want[256];
    snprintf(want, sizeof want, "(whisper model) needs %.0f MiB; the memory budget of %.0f MiB",
             sw / 1048576.0, budget / 1048576.0);
    CHECK_ERR(want);
    CHECK_ERR("in models in use (chat");
    CHECK(models_loaded(m, ROLE_STAGE2) && models_in_use(m, ROLE_STAGE2));
    models_release(m, ROLE_STAGE2);
    CHECK(models_acquire_transcriber(m) != NULL); /* stage 2 was free to go */
    CHECK(!models_loaded(m, ROLE_STAGE2) && models_loaded(m, ROLE_CHAT));
    CHECK(models_set(m, ROLE_WHISPER, NULL, NULL) == -1); /* in use */
    CHECK_ERR("the whisper model is in use");
    models_release(m, ROLE_WHISPER);
    models_free(m);
    /* never fits: both sizes named */
    m = models_new(sw / 2);
    CHECK(!models_set(m, ROLE_WHISPER, wh, &eo));
    CHECK(models_acquire_transcriber(m) == NULL);
    snprintf(want, sizeof want, "(whisper model) needs %.0f MiB, more than the memory budget of %.0f MiB",
             sw / 1048576.0, (sw / 2) / 1048576.0);
    CHECK_ERR(want);
    models_set_budget(m, sw);
    CHECK(models_acquire_transcriber(m) != NULL); /* a new budget takes effect at once */
    models_free(m);
    free(chat), free(s2), free(wh);
}

/* ROLE_SPEECH holds a speech LLM: models_acquire hands out its backbone
 * and models_speech the speech LLM itself, both counted and unloaded as
 * one. */
TEST(models_speech_role_holds_a_speech_llm) {
    char *sp = fx("omni-tiny"), *chat = fx("tiny-bf16");
    size_t s_sp, sc;
    REQUIRE(!models_estimate(sp, 64, &s_sp) && !models_estimate(chat, 64, &sc));
    Models *m = models_new(s_sp + sc - 1); /* one at a time */
    EngineOptions eo = {.backend = "cpu", .threads = 1, .ctx = 64};
    CHECK(!models_set(m, ROLE_SPEECH, sp, &eo) && !models_set(m, ROLE_DRAFT, chat, &eo));
    CHECK(models_speech(m) == NULL);
    Engine *e = models_acquire(m, ROLE_SPEECH);
    REQUIRE(e);
    SpeechLLM *s = models_speech(m);
    CHECK(s && s->e == e && s->frames > 0);
    CHECK(models_used(m) == s_sp);
    CHECK(models_acquire(m, ROLE_DRAFT) == NULL); /* the speech LLM is in use */
    CHECK_ERR("in models in use (speech LLM");
    models_release(m, ROLE_SPEECH);
    CHECK(models_acquire(m, ROLE_DRAFT) != NULL);
    CHECK(models_speech(m) == NULL && !models_loaded(m, ROLE_SPEECH));
    models_release(m, ROLE_DRAFT);
    models_free(m);
    free(sp), free(chat);
}

/* mem_budget = SIZE in the app's settings file: --mem-budget's syntax,
 * once; a bad size names FILE:LINE and the value. */
TEST(models_mem_budget_settings_line) {
    const char good[] = "model = /m/chat\nmem_budget = 1.5G\n";
    AppConfig c;
    app_config_defaults(&c);
    CHECK(c.mem_budget == 0);
    REQUIRE(app_config_parse(&c, good, strlen(good), "cfg") == 0);
    CHECK(c.mem_budget == (size_t)3 << 29);
    app_config_free(&c);
    static const char *const bad[] = {"mem_budget = lots\n", "mem_budget = 0\n", "mem_budget = \n",
                                      "mem_budget = 8G\nmem_budget = 4G\n"};
    static const char *const why[] = {"cfg:1: mem_budget: 'lots' is not a size", "cfg:1: mem_budget",
                                      "cfg:1: mem_budget", "cfg:2: mem_budget is set twice"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        app_config_defaults(&c);
        CHECK(app_config_parse(&c, bad[i], strlen(bad[i]), "cfg") != 0);
        CHECK_ERR(why[i]);
        app_config_free(&c);
    }
}
