/* test_speech.c - speech LLMs in LLaMA-Omni2's layout (engine/speech.c)
 * against the independent float32 reference (tests/reference/speech_ref.py,
 * written from the published model code; goldens in tests/golden/speech/):
 * the encoder's output, the projector's, and the logits of the expanded
 * sequence (313 positions: the clip's 300 frames in place of the
 * placeholder) on the CPU; both encoder namings; greedy ids; bad input. */
#include "tests/test.h"

#include "engine/engine.h"
#include "engine/speech.h"
#include "engine/base/util.h"
#include "audio/wav.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *presets[] = {"omni-tiny", "omni-tiny-hfenc"};

static char *fixture(const char *preset) { return unum_path_join(test_fixtures(), preset); }

static void *golden(const char *preset, const char *file, size_t *n) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/golden/speech/%s/%s", preset, file);
    char *p = unum_path_join(test_root(), rel);
    void *d = unum_read_file(p, 64u << 20, n);
    free(p);
    return d;
}

static int golden_ints(const char *preset, const char *file, IdVec *out) {
    char rel[256];
    snprintf(rel, sizeof rel, "speech/%s/%s", preset, file);
    return test_golden_ids(rel, out);
}

/* the largest |got - ref| of each row over the row's largest |ref| */
static double worst_rel(const float *got, const float *ref, int rows, int cols, int got_stride,
                        const int32_t *cols_of) {
    double worst = 0;
    for (int r = 0; r < rows; r++) {
        double mx = 1e-30, d = 0;
        for (int i = 0; i < cols; i++) {
            float g = got[(size_t)r * got_stride + (cols_of ? cols_of[i] : i)];
            mx = fmax(mx, fabs(ref[(size_t)r * cols + i]));
            d = fmax(d, fabs((double)g - ref[(size_t)r * cols + i]));
        }
        worst = fmax(worst, d / mx);
    }
    return worst;
}

static float *meeting(size_t *n) {
    char *p = unum_path_join(test_root(), "tests/golden/transcribe/meeting16k.wav");
    wav_audio a;
    float *x = NULL;
    if (!wav_read_file(p, 0, &a)) {
        x = a.samples, *n = a.n;
        a.samples = NULL;
        wav_audio_free(&a);
    }
    free(p);
    return x;
}

static int collect(void *user, int32_t id, const char *text, size_t len) {
    (void)text, (void)len;
    if (id >= 0) idvec_push(user, id);
    return 0;
}

static int have_fixture(const char *preset) {
    char *dir = fixture(preset), *cfg = unum_path_join(dir, "tokenizer.json");
    int ok = unum_file_exists(cfg);
    free(dir);
    free(cfg);
    return ok;
}

TEST(speech_matches_the_reference) {
    size_t n = 0;
    float *pcm = meeting(&n);
    REQUIRE(pcm);
    for (size_t k = 0; k < sizeof presets / sizeof *presets; k++) {
        if (!have_fixture(presets[k])) {
            test_skip("the speech fixtures need npm's Qwen tokenizer");
            break;
        }
        char *dir = fixture(presets[k]);
        EngineOptions eo = {.backend = "cpu", .threads = 2};
        SpeechLLM *s = speech_load(dir, &eo);
        free(dir);
        if (!s) {
            test_fail(__FILE__, __LINE__, "%s: %s", presets[k], unum_error());
            continue;
        }
        int D = s->e->model->c.hidden, d = s->enc->c.d, V = s->e->model->c.vocab;
        CHECK_EQ_INT(s->frames, 300);
        float *clip = xmalloc(sizeof(float) * 300 * (size_t)D);
        REQUIRE(speech_embed(s, pcm, n, clip) == 0);
        /* the encoder's output, every 15th row */
        float *enc = xmalloc(sizeof(float) * 1500 * (size_t)d),
              *rows = xmalloc(sizeof(float) * 100 * (size_t)d);
        whisper_encoder_output(s->enc, enc);
        for (int r = 0; r < 100; r++)
            memcpy(rows + (size_t)r * d, enc + (size_t)r * 15 * d, sizeof(float) * d);
        size_t gn;
        float *g = golden(presets[k], "encoder_rows.f32", &gn);
        REQUIRE(g && gn == sizeof(float) * 100 * (size_t)d);
        double we = worst_rel(rows, g, 100, d, d, NULL);
        free(g);
        g = golden(presets[k], "projector.f32", &gn);
        REQUIRE(g && gn == sizeof(float) * 300 * (size_t)D);
        double wp = worst_rel(clip, g, 300, D, D, NULL);
        free(g);
        /* the expanded sequence's logits */
        IdVec ids = {0}, idx = {0}, argmax = {0}, greedy = {0};
        REQUIRE(golden_ints(presets[k], "ids.txt", &ids) == 0);
        REQUIRE(golden_ints(presets[k], "logits_index.txt", &idx) == 0);
        REQUIRE(golden_ints(presets[k], "argmax.txt", &argmax) == 0);
        REQUIRE(golden_ints(presets[k], "greedy.txt", &greedy) == 0);
        const float *clips[1] = {clip};
        int32_t *x;
        size_t nx;
        float *emb;
        REQUIRE(speech_expand(s, ids.v, ids.n, clips, 1, &x, &nx, &emb) == 0);
        CHECK_EQ_INT((int)nx, 313);
        float *logits = xmalloc(sizeof(float) * nx * (size_t)V);
        REQUIRE(engine_logits_embeds(s->e, x, nx, emb, logits) == 0);
        g = golden(presets[k], "logits_slice.f32", &gn);
        REQUIRE(g && gn == sizeof(float) * nx * idx.n);
        double wl = worst_rel(logits, g, (int)nx, (int)idx.n, V, idx.v);
        free(g);
        g = golden(presets[k], "logits_last.f32", &gn);
        REQUIRE(g && gn == sizeof(float) * (size_t)V);
        double wlast = worst_rel(logits + (nx - 1) * (size_t)V, g, 1, V, V, NULL);
        free(g);
        int same_argmax = (size_t)argmax.n == nx;
        for (size_t r = 0; same_argmax && r < nx; r++) {
            int best = 0;
            for (int i = 1; i < V; i++)
                if (logits[r * V + i] > logits[r * V + best]) best = i;
            same_argmax = best == argmax.v[r];
        }
        CHECK(same_argmax);
        printf("  %s: encoder %.1e, projector %.1e, logits %.1e (last row %.1e) of the row max\n",
               presets[k], we, wp, wl, wlast);
        CHECK(we < 1e-4);
        CHECK(wp < 1e-4);
        CHECK(wl < 1e-4);
        CHECK(wlast < 1e-4);
        /* greedy continuation, without the repetition penalty */
        GenerateParams gp = {0};
        gp.sampling.top_p = 1;
        gp.sampling.repeat_penalty = 1;
        gp.max_tokens = (int)greedy.n;
        gp.ignore_eos = 1;
        IdVec got = {0};
        GenerateStats st;
        REQUIRE(engine_generate_embeds(s->e, x, nx, emb, &gp, collect, &got, &st) == 0);
        CHECK_EQ_INT((int)got.n, (int)greedy.n);
        for (size_t i = 0; i < got.n && i < greedy.n; i++) CHECK_EQ_INT(got.v[i], greedy.v[i]);
        idvec_free(&got);
        free(logits);
        free(x);
        free(emb);
        free(clip);
        free(enc);
        free(rows);
        idvec_free(&ids);
        idvec_free(&idx);
        idvec_free(&argmax);
        idvec_free(&greedy);
        speech_free(s);
    }
    free(pcm);
}

/* Bad input: placeholders and clips that do not pair up, a sequence past
 * the context, --audio for a model that is not a speech LLM, a placeholder
 * without --audio; resampled audio is accepted. */
TEST(speech_refuses_bad_input) {
    if (!have_fixture("omni-tiny")) {
        test_skip("the speech fixtures need npm's Qwen tokenizer");
        return;
    }
    char *dir = fixture("omni-tiny");
    EngineOptions eo = {.backend = "cpu", .threads = 2, .ctx = 200};
    SpeechLLM *s = speech_load(dir, &eo);
    REQUIRE(s);
    int D = s->e->model->c.hidden;
    float *clip = xcalloc(300 * (size_t)D, sizeof(float));
    const float *clips[2] = {clip, clip};
    int32_t two[] = {1, SPEECH_PLACEHOLDER, 2, SPEECH_PLACEHOLDER}, none[] = {1, 2, 3};
    int32_t *x = NULL;
    size_t nx;
    float *emb = NULL;
    CHECK(speech_expand(s, two, 4, clips, 1, &x, &nx, &emb) != 0);
    CHECK_CONTAINS(unum_error(), "2 audio placeholders but only 1");
    CHECK(speech_expand(s, none, 3, clips, 1, &x, &nx, &emb) != 0);
    CHECK_CONTAINS(unum_error(), "0 audio placeholders for 1 clips");
    /* one clip is 300 positions: past a context of 200 */
    REQUIRE(speech_expand(s, two, 2, clips, 1, &x, &nx, &emb) == 0);
    float *logits = xmalloc(sizeof(float) * nx * (size_t)s->e->model->c.vocab);
    CHECK(engine_logits_embeds(s->e, x, nx, emb, logits) != 0);
    CHECK_CONTAINS(unum_error(), "do not fit the context of 200");
    free(logits);
    free(x);
    free(emb);
    free(clip);
    speech_free(s);
    /* the command line */
    char *bin = realpath(test_bin(), NULL), *root = realpath(test_root(), NULL);
    char *abs = realpath(dir, NULL), *tq = fixture("tiny-qwen-vocab");
    char *tqa = realpath(tq, NULL), *tmp = test_tmpdir();
    REQUIRE(bin && root && abs && tqa && tmp);
    char cmd[4096], *err = NULL, *out = NULL;
    const char *wav = "tests/golden/transcribe/meeting16k.wav";
    snprintf(cmd, sizeof cmd, "cd %s && %s run -m %s --audio %s -n 2 --backend cpu", root, bin, tqa,
             wav);
    CHECK_EQ_INT(test_shell(":", cmd, NULL, &err), 1);
    CHECK_CONTAINS(err, "needs a speech LLM");
    free(err);
    snprintf(cmd, sizeof cmd, "echo '1 -200 2' > %s/ids && %s run -m %s --prompt-ids %s/ids -n 2",
             tmp, bin, abs, tmp);
    CHECK_EQ_INT(test_shell(":", cmd, NULL, &err), 1);
    CHECK_CONTAINS(err, "no --audio");
    free(err);
    /* 22.05 kHz audio is resampled; 39 s is two 30 s clips, two
     * placeholders: 5 ids and 600 frames */
    snprintf(
        cmd, sizeof cmd,
        "cd %s && sox %s %s/a22k.wav rate 22050 && echo '151644 872 198 -200 -200 198 151645' > "
        "%s/ids2 && %s logits -m %s --audio %s/a22k.wav --ids %s/ids2 -o %s/out.f32 "
        "--backend cpu && stat -c %%s %s/out.f32",
        root, wav, tmp, tmp, bin, abs, tmp, tmp, tmp, tmp);
    if (test_shell(":", "command -v sox", NULL, NULL) == 0) {
        CHECK_EQ_INT(test_shell(":", cmd, &out, &err), 0);
        CHECK_EQ_INT(atol(out ? out : "0"), (long)(605L * 151936 * 4));
        free(out);
        free(err);
    }
    /* a spoken question answered */
    snprintf(cmd, sizeof cmd,
             "cd %s && %s run -m %s --audio %s -p 'And the budget?' -n 4 --temp 0 --ids "
             "--backend cpu",
             root, bin, abs, wav);
    CHECK_EQ_INT(test_shell(":", cmd, &out, NULL), 0);
    int count = 0;
    for (char *p = out; p && *p;) {
        char *e;
        strtol(p, &e, 10);
        if (e == p) break;
        count++;
        p = e;
    }
    CHECK_EQ_INT(count, 4);
    free(out);
    free(bin);
    free(root);
    free(abs);
    free(tq);
    free(tqa);
    free(dir);
    test_tmp_remove(tmp);
}

/* The same on the GPU, against the same goldens (skipped without one). */
TEST(speech_cuda_matches_the_reference) {
    Backend *probe = backend_open("cuda", 0);
    if (!probe) {
        test_skip("no CUDA device");
        return;
    }
    probe->close(probe);
    if (!have_fixture("omni-tiny")) {
        test_skip("the speech fixtures need npm's Qwen tokenizer");
        return;
    }
    size_t n = 0;
    float *pcm = meeting(&n);
    REQUIRE(pcm);
    char *dir = fixture("omni-tiny");
    EngineOptions eo = {.backend = "cuda", .threads = 2};
    SpeechLLM *s = speech_load(dir, &eo);
    free(dir);
    REQUIRE(s);
    int D = s->e->model->c.hidden, V = s->e->model->c.vocab;
    float *clip = xmalloc(sizeof(float) * 300 * (size_t)D);
    REQUIRE(speech_embed(s, pcm, n, clip) == 0);
    size_t gn;
    float *g = golden("omni-tiny", "projector.f32", &gn);
    REQUIRE(g);
    double wp = worst_rel(clip, g, 300, D, D, NULL);
    free(g);
    IdVec ids = {0};
    REQUIRE(golden_ints("omni-tiny", "ids.txt", &ids) == 0);
    const float *clips[1] = {clip};
    int32_t *x;
    size_t nx;
    float *emb;
    REQUIRE(speech_expand(s, ids.v, ids.n, clips, 1, &x, &nx, &emb) == 0);
    float *logits = xmalloc(sizeof(float) * nx * (size_t)V);
    REQUIRE(engine_logits_embeds(s->e, x, nx, emb, logits) == 0);
    g = golden("omni-tiny", "logits_last.f32", &gn);
    REQUIRE(g);
    double wl = worst_rel(logits + (nx - 1) * (size_t)V, g, 1, V, V, NULL);
    free(g);
    printf("  cuda: projector %.1e, last logits %.1e of the row max\n", wp, wl);
    CHECK(wp < 1e-3);
    CHECK(wl < 1e-3);
    free(logits);
    free(x);
    free(emb);
    free(clip);
    idvec_free(&ids);
    speech_free(s);
    free(pcm);
}
