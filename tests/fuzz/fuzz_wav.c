/* fuzz_wav.c - libFuzzer target for the WAV reader.
 *
 * The input is a whole WAV file image, copied into a buffer of exactly its
 * size (so ASan sees any read past it) and parsed with wav_read_buffer, both
 * strictly and with WAV_ALLOW_TRUNCATED. An accepted file must be
 * self-consistent: a positive rate and channel count, a supported bit depth,
 * no more frames than its bytes can hold, and every sample readable. An
 * accepted 16 kHz-or-not file of modest size also goes through the
 * resampler, and at 16 kHz through the log-mel front end.
 * Seeds: tests/fuzz/seeds/fuzz_wav/. */
#include "engine/mel.h"
#include "audio/resample.h"
#include "engine/base/util.h"
#include "audio/wav.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what) {
    fprintf(stderr, "fuzz_wav: %s (%s)\n", what, unum_error());
    abort();
}

static mel_ctx *mel;

static void check(const uint8_t *buf, size_t len, int flags) {
    wav_audio a;
    if (wav_read_buffer(buf, len, "fuzz.wav", flags, &a) != 0) {
        if (!strstr(unum_error(), "fuzz.wav")) fail("error does not name the file");
        if (a.samples || a.n) fail("failed read left samples");
        return;
    }
    if (a.sample_rate <= 0 || a.sample_rate > WAV_MAX_RATE) fail("bad rate accepted");
    if (a.channels <= 0) fail("bad channel count accepted");
    if (a.bits != 8 && a.bits != 16 && a.bits != 24 && a.bits != 32) fail("bad bits accepted");
    if (a.n * (size_t)a.channels * (size_t)(a.bits / 8) > len) fail("more frames than bytes");
    if (a.truncated && !(flags & WAV_ALLOW_TRUNCATED)) fail("truncated without the flag");
    volatile float sink = 0;
    for (size_t i = 0; i < a.n; i++) sink += a.samples[i];
    (void)sink;
    if (a.n && a.n <= 4096 && a.sample_rate >= 1000 && a.sample_rate <= 192000) {
        float *y;
        size_t m;
        if (resample_to_16k(a.samples, a.n, a.sample_rate, &y, &m) != 0) fail("resample failed");
        free(y);
    }
    if (a.sample_rate == 16000 && a.n > 200 && a.n <= 16000) {
        float *out = malloc((size_t)80 * mel_frames(a.n) * sizeof *out);
        if (!out || mel_compute(mel, a.samples, a.n, out) != 0) fail("mel failed");
        free(out);
    }
    wav_audio_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!mel && !(mel = mel_create(80))) fail("mel_create");
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    check(buf, size, 0);
    check(buf, size, WAV_ALLOW_TRUNCATED);
    free(buf);
    return 0;
}
