/* test_vibevoice_goldens.c - the VibeVoice-ASR goldens (tests/golden/vibevoice/,
 * from tests/reference/vibevoice_ref.py) against the fixture they were
 * computed from and against independent recomputations of their simplest
 * parts, so that a drifted generator or a damaged golden fails here rather
 * than as a puzzling numeric mismatch in the engine's tests:
 *   - the generated vibevoice-tiny files hash as fixture.sha256 records;
 *   - audio_norm.f32 is AudioNormalizer (-25 dBFS RMS gain, then the peak
 *     limiter) of speech24k.wav, recomputed here in double;
 *   - the prompt ids hold ceil(samples / 3200) speech pads (151648) framed by
 *     151646 and 151647, at the positions logits_index.txt names, and the
 *     duration sentence of prompt.txt says samples / 24000 to 2 decimals;
 *   - speech_embeds = acoustic_conn + semantic_conn, logits_last is the slice's
 *     last row, and every file has the size its shape gives. */
#include "tests/test.h"

#include "audio/wav.h"
#include "engine/base/sha256.h"
#include "engine/base/util.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    VV_HOP = 3200,
    VV_RATE = 24000,
    VV_V = 152064,
    VV_D = 64,
    VV_ACOUSTIC = 16,
    VV_SEMANTIC = 32
};
enum { VV_START = 151646, VV_END = 151647, VV_PAD = 151648 };

#define GOLD "vibevoice/vibevoice-tiny/"

static float *speech_wav(size_t *n) {
    char *p = unum_path_join(test_root(), "tests/golden/vibevoice/speech24k.wav");
    wav_audio a;
    float *x = NULL;
    if (!wav_read_file(p, 0, &a)) {
        if (a.sample_rate == VV_RATE && a.bits == 16 && a.channels == 1)
            x = a.samples, *n = a.n, a.samples = NULL;
        wav_audio_free(&a);
    }
    free(p);
    return x;
}

static size_t frames_of(size_t samples) { return (samples + VV_HOP - 1) / VV_HOP; }

TEST(vibevoice_golden_fixture_hashes) {
    char *dir = unum_path_join(test_fixtures(), "vibevoice-tiny");
    char *cfg = unum_path_join(dir, "config.json");
    int have = unum_file_exists(cfg);
    free(cfg);
    if (!have) {
        free(dir);
        test_skip("the vibevoice-tiny fixture needs npm's Qwen tokenizer");
        return;
    }
    char *list = unum_path_join(test_root(), "tests/golden/" GOLD "fixture.sha256");
    char *text = unum_read_file(list, 1 << 16, NULL);
    free(list);
    REQUIRE(text);
    int files = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char want[65], name[256];
        REQUIRE(sscanf(line, "%64s %255s", want, name) == 2);
        char *path = unum_path_join(dir, name);
        int fd = open(path, O_RDONLY);
        char got[65] = "";
        CHECK(fd >= 0 && sha256_fd_hex(fd, path, got) == 0);
        if (fd >= 0) close(fd);
        if (strcmp(got, want))
            test_fail(__FILE__, __LINE__,
                      "%s: sha256 %s, goldens made from %s (stale goldens "
                      "or a changed generator: tests/reference/make_vibevoice_goldens.sh)",
                      path, got, want);
        free(path);
        files++;
    }
    CHECK(files >= 4); /* config, generation, preprocessor, tokenizer config, weights */
    free(text);
    free(dir);
}

/* AudioNormalizer (VibeVoice audio_utils.py) in double. */
TEST(vibevoice_golden_audio_norm) {
    size_t n = 0;
    float *x = speech_wav(&n);
    REQUIRE(x && n > 0);
    CHECK(n % VV_HOP != 0); /* the ceil padding must be exercised */
    float *g = test_golden_f32(GOLD "audio_norm.f32", n);
    REQUIRE(g);
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    double gain = pow(10.0, -25.0 / 20.0) / (sqrt(ss / (double)n) + 1e-6), peak = 0;
    for (size_t i = 0; i < n; i++) peak = fmax(peak, fabs(x[i] * gain));
    double div = peak > 1.0 ? peak + 1e-6 : 1.0;
    CHECK(div > 1.0); /* the fixture's click drives the limiter */
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(x[i] * gain / div - g[i]));
    CHECK(worst < 1e-6);
    free(g);
    free(x);
}

TEST(vibevoice_golden_prompt_and_shapes) {
    size_t n = 0;
    float *x = speech_wav(&n);
    REQUIRE(x);
    free(x);
    size_t F = frames_of(n);
    IdVec ids = {0}, at = {0};
    REQUIRE(test_golden_ids(GOLD "ids.txt", &ids) == 0);
    REQUIRE(test_golden_ids(GOLD "logits_index.txt", &at) == 0);
    int first = -1, last = -1, pads = 0;
    for (int i = 0; i < (int)ids.n; i++)
        if (ids.v[i] == VV_PAD) {
            if (first < 0) first = i;
            last = i, pads++;
        }
    CHECK_EQ_INT(pads, F);
    CHECK_EQ_INT(last - first + 1, pads); /* contiguous */
    REQUIRE(first > 0 && last + 1 < (int)ids.n);
    CHECK_EQ_INT(ids.v[first - 1], VV_START);
    CHECK_EQ_INT(ids.v[last + 1], VV_END);
    REQUIRE(at.n == 3);
    CHECK_EQ_INT(at.v[0], first);
    CHECK_EQ_INT(at.v[1], last);
    CHECK_EQ_INT(at.v[2], ids.n - 1);
    /* the duration sentence */
    char *pp = unum_path_join(test_root(), "tests/golden/" GOLD "prompt.txt");
    char *prompt = unum_read_file(pp, 1 << 20, NULL);
    free(pp);
    REQUIRE(prompt);
    char dur[96];
    snprintf(dur, sizeof dur, "This is a %.2f seconds audio, please transcribe",
             (double)n / VV_RATE);
    CHECK(strstr(prompt, dur) != NULL);
    CHECK(strncmp(prompt, "<|im_start|>system\n", 19) == 0);
    CHECK(strstr(prompt, "<|im_start|>assistant") == NULL);
    free(prompt);
    /* shapes, the sum, the last row */
    float *am = test_golden_f32(GOLD "acoustic_mean.f32", F * VV_ACOUSTIC);
    float *sm = test_golden_f32(GOLD "semantic_mean.f32", F * VV_SEMANTIC);
    float *ac = test_golden_f32(GOLD "acoustic_conn.f32", F * VV_D);
    float *sc = test_golden_f32(GOLD "semantic_conn.f32", F * VV_D);
    float *se = test_golden_f32(GOLD "speech_embeds.f32", F * VV_D);
    float *sl = test_golden_f32(GOLD "logits_slice.f32", (size_t)at.n * VV_V);
    float *ll = test_golden_f32(GOLD "logits_last.f32", VV_V);
    CHECK(am && sm);
    if (ac && sc && se) {
        double worst = 0;
        for (size_t i = 0; i < F * VV_D; i++)
            worst = fmax(worst, fabs((double)ac[i] + sc[i] - se[i]));
        CHECK(worst < 1e-5);
    }
    if (sl && ll) CHECK(memcmp(sl + (size_t)(at.n - 1) * VV_V, ll, sizeof(float) * VV_V) == 0);
    IdVec greedy = {0};
    REQUIRE(test_golden_ids(GOLD "greedy.txt", &greedy) == 0);
    CHECK_EQ_INT(greedy.n, 8);
    for (size_t i = 0; i < greedy.n; i++) CHECK(greedy.v[i] >= 0 && greedy.v[i] < VV_V);
    free(am), free(sm), free(ac), free(sc), free(se), free(sl), free(ll);
    idvec_free(&ids);
    idvec_free(&at);
    idvec_free(&greedy);
}
