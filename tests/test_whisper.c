/* test_whisper.c - the Whisper encoder and decoder against goldens from the
 * independent reference (tests/reference/whisper_ref.py, float32 torch):
 * encoder output and teacher-forced decoder logits within 1e-5 of each
 * row's largest magnitude (observed: under 1e-6; LayerNorm eps 1e-6 instead
 * of 1e-5 would be 4e-5, tanh GELU 3e-4), greedy ids identical; the decoder's KV cache
 * against one batched pass; bad input. */
#include "tests/test.h"
#include "engine/base/util.h"
#include "engine/whisper.h"

#include <stdlib.h>
#include <unistd.h>

static const char *presets[] = {"whisper-tiny-f32", "whisper-v3-bf16"};

static void *golden(const char *preset, const char *file, size_t *n) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/golden/whisper/%s/%s", preset, file);
    char *p = unum_path_join(test_root(), rel);
    void *data = unum_read_file(p, 64u << 20, n);
    free(p);
    return data;
}

static int golden_ids(const char *preset, const char *file, int32_t *ids, int cap) {
    size_t n;
    char *txt = golden(preset, file, &n);
    if (!txt) return -1;
    int k = 0;
    for (char *s = txt, *e; k < cap; s = e) {
        long v = strtol(s, &e, 10);
        if (e == s) break;
        ids[k++] = (int32_t)v;
    }
    free(txt);
    return k;
}

static double worst_rel(const float *got, const float *ref, int rows, int cols) {
    double worst = 0;
    for (int r = 0; r < rows; r++) {
        double mx = 1e-30, d = 0;
        for (int i = 0; i < cols; i++) {
            mx = fmax(mx, fabs(ref[(size_t)r * cols + i]));
            d = fmax(d, fabs((double)got[(size_t)r * cols + i] - ref[(size_t)r * cols + i]));
        }
        worst = fmax(worst, d / mx);
    }
    return worst;
}

static Whisper *open_preset(const char *preset, Backend **be) {
    char *dir = unum_path_join(test_fixtures(), preset);
    *be = backend_cpu_open(2);
    Whisper *w = whisper_load(dir, *be);
    free(dir);
    if (!w) test_fail(__FILE__, __LINE__, "%s: %s", preset, unum_error());
    return w;
}

TEST(whisper_matches_reference) {
    for (int p = 0; p < 2; p++) {
        Backend *be;
        Whisper *w = open_preset(presets[p], &be);
        if (!w) {
            be->close(be);
            continue;
        }
        const WhisperConfig *c = &w->c;
        size_t n_mel, n_enc, n_log;
        float *mel = golden(presets[p], "mel.f32", &n_mel);
        float *enc = golden(presets[p], "encoder.f32", &n_enc);
        float *ref = golden(presets[p], "logits.f32", &n_log);
        int32_t ids[64], greedy[64];
        int T = golden_ids(presets[p], "ids", ids, 64);
        int G = golden_ids(presets[p], "greedy.ids", greedy, 64);
        if (!mel || !enc || !ref || T <= 0 || G <= 0) {
            test_fail(__FILE__, __LINE__, "%s: goldens missing: %s", presets[p], unum_error());
        } else if (n_mel != sizeof(float) * c->n_mels * 2 * c->n_audio ||
                   n_enc != sizeof(float) * c->n_audio * c->d ||
                   n_log != sizeof(float) * T * c->vocab) {
            test_fail(__FILE__, __LINE__, "%s: golden sizes do not match the config", presets[p]);
        } else {
            REQUIRE(whisper_encode(w, mel, 2 * c->n_audio) == 0);
            float *out = xmalloc(sizeof(float) * c->n_audio * c->d);
            whisper_encoder_output(w, out);
            double e = worst_rel(out, enc, c->n_audio, c->d);
            if (!(e < 1e-5)) test_fail(__FILE__, __LINE__, "%s encoder: %g", presets[p], e);
            free(out);
            float *lg = xmalloc(sizeof(float) * T * c->vocab);
            REQUIRE(whisper_decode(w, ids, T, lg, 1) == 0);
            double l = worst_rel(lg, ref, T, c->vocab);
            if (!(l < 1e-5)) test_fail(__FILE__, __LINE__, "%s logits: %g", presets[p], l);
            printf("    %s: encoder %.2g, logits %.2g of the row max\n", presets[p], e, l);
            /* greedy continuation, one token at a time through the cache */
            int32_t next = (int32_t)0;
            float *last = lg + (size_t)(T - 1) * c->vocab;
            for (int g = 0; g < G; g++) {
                next = 0;
                for (int v = 1; v < c->vocab; v++)
                    if (last[v] > last[next]) next = v;
                if (next != greedy[g]) {
                    test_fail(__FILE__, __LINE__, "%s greedy %d: %d, reference %d", presets[p], g,
                              next, greedy[g]);
                    break;
                }
                if (g + 1 < G) REQUIRE(whisper_decode(w, &next, 1, last, 0) == 0);
            }
            free(lg);
        }
        free(mel), free(enc), free(ref);
        whisper_free(w);
        be->close(be);
    }
}

TEST(whisper_cache_matches_batched_decode) {
    Backend *be;
    Whisper *w = open_preset("whisper-tiny-f32", &be);
    if (!w) {
        be->close(be);
        return;
    }
    const WhisperConfig *c = &w->c;
    int frames = 2 * c->n_audio;
    float *mel = xmalloc(sizeof(float) * c->n_mels * frames);
    for (int i = 0; i < c->n_mels * frames; i++) mel[i] = (float)((i * 7919) % 301) / 100.0f - 1.5f;
    /* 20 positions: more than one 16-row chunk of logits */
    int32_t ids[20];
    for (int i = 0; i < 20; i++) ids[i] = i ? (i * 37) % (c->vocab - 8) : c->decoder_start;
    float *all = xmalloc(sizeof(float) * 20 * c->vocab), *one = xmalloc(sizeof(float) * c->vocab);
    REQUIRE(whisper_encode(w, mel, frames) == 0);
    REQUIRE(whisper_decode(w, ids, 20, all, 1) == 0);
    whisper_rewind(w, 0);
    double worst = 0;
    for (int t = 0; t < 20; t++) {
        REQUIRE(whisper_decode(w, ids + t, 1, one, 0) == 0);
        worst = fmax(worst, worst_rel(one, all + (size_t)t * c->vocab, 1, c->vocab));
    }
    CHECK(worst < 1e-4);
    /* bad input */
    CHECK(whisper_encode(w, mel, frames - 2) != 0);
    CHECK_ERR("mel frames");
    /* a failed encode leaves nothing to decode against */
    CHECK(whisper_decode(w, ids, 1, one, 0) != 0);
    CHECK_ERR("decode before encode");
    REQUIRE(whisper_encode(w, mel, frames) == 0);
    int32_t bad = c->vocab;
    CHECK(whisper_decode(w, &bad, 1, one, 0) != 0);
    CHECK_ERR("outside the vocabulary");
    whisper_rewind(w, 0);
    int32_t *many = xcalloc((size_t)c->n_text + 1, sizeof(int32_t));
    CHECK(whisper_decode(w, many, c->n_text + 1, NULL, 0) != 0);
    CHECK_ERR("do not fit");
    free(many), free(mel), free(all), free(one);
    whisper_free(w);
    be->close(be);
}

TEST(whisper_refuses_wrong_directories) {
    Backend *be = backend_cpu_open(1);
    char *qwen = unum_path_join(test_fixtures(), "tiny-bf16");
    CHECK(whisper_load(qwen, be) == NULL);
    CHECK_ERR("model_type is not \"whisper\"");
    free(qwen);
    CHECK(whisper_load("/nonexistent/whisper", be) == NULL);
    CHECK_ERR("/nonexistent/whisper");
    be->close(be);
}

TEST(cli_mel_matches_the_reference_window) {
    /* the speech clip padded to 30 s: the first 300 frames against the
     * reference, every later frame at the clamp value */
    char prelude[1024], *err = NULL;
    snprintf(prelude, sizeof prelude, "U='%s'; F='%s'; R='%s'", test_bin(), test_fixtures(),
             test_root());
    int rc = test_shell(prelude,
                        "$U mel -m $F/whisper-tiny-f32 $R/tests/golden/mel/speech16k.wav "
                        "-o /tmp/unum-mel.f32",
                        NULL, &err);
    CHECK_EQ_INT(rc, 0);
    free(err);
    size_t n = 0, m = 0;
    float *got = (float *)unum_read_file("/tmp/unum-mel.f32", 1 << 24, &n);
    float *ref = golden("../mel", "speech.30s.mel80.first300.f32", &m);
    REQUIRE(got && ref);
    CHECK_EQ_INT(n, 80 * 3000 * 4);
    CHECK_EQ_INT(m, 80 * 300 * 4);
    double worst = 0;
    for (int b = 0; b < 80 && n == 80 * 3000 * 4; b++)
        for (int t = 0; t < 3000; t++) {
            float want = t < 300 ? ref[b * 300 + t] : -0.754816f;
            worst = fmax(worst, fabs(got[(size_t)b * 3000 + t] - want));
        }
    CHECK(worst < 1e-4);
    free(got), free(ref);
    unlink("/tmp/unum-mel.f32");
    CHECK_EQ_INT(test_shell(prelude, "$U mel -m $F/whisper-tiny-f32 /nonexistent.wav -o /tmp/x.f32",
                            NULL, &err),
                 1);
    CHECK_CONTAINS(err, "/nonexistent.wav");
    free(err);
    CHECK_EQ_INT(test_shell(prelude, "$U mel $R/tests/golden/mel/speech16k.wav", NULL, NULL), 2);
}
