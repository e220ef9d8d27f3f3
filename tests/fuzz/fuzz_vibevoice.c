/* fuzz_vibevoice.c - libFuzzer target for what a VibeVoice-ASR model
 * brings: its config.json's speech encoders (vibevoice_config_check) and
 * the text it writes (vibevoice_parse), both read as hostile.
 *
 * The first byte picks the reader; the rest, copied into a buffer of
 * exactly its size (so ASan sees any read past it), is its input. A config
 * that passes must give a hop in range; every segment the output reader
 * makes must lie within the audio, in order of start and end, with text
 * and at most a short printable speaker label. Seeds:
 * tests/fuzz/seeds/fuzz_vibevoice/. */
#include "engine/vibevoice.h"

#include "engine/base/util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what) {
    fprintf(stderr, "fuzz_vibevoice: %s (%s)\n", what, unum_error());
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t n = size - 1;
    char *buf = xmalloc(n + 1);
    memcpy(buf, data + 1, n);
    buf[n] = 0;
    if (data[0] & 1) {
        int hop = 0;
        if (vibevoice_config_check(buf, n, "config.json", &hop) == 0 &&
            (hop < 1 || hop > 1 << 20))
            fail("a hop out of range");
    } else {
        Transcript tr = {0};
        int warned = 0;
        const double t0 = 5, dur = 60;
        if (vibevoice_parse(buf, t0, dur, &tr, &warned) != 0) fail("the parse failed");
        for (int i = 0; i < tr.n; i++) {
            const TSegment *s = &tr.seg[i];
            if (!(s->start >= t0 && s->end >= s->start && s->end <= t0 + dur))
                fail("a segment outside the audio");
            if (!s->text) fail("a segment without text");
            if (s->speaker) {
                size_t k = strlen(s->speaker);
                if (!k || k > 32) fail("a speaker label of the wrong length");
                for (size_t j = 0; j < k; j++)
                    if ((unsigned char)s->speaker[j] < 32 || s->speaker[j] == 127)
                        fail("a control character in a speaker label");
            }
        }
        transcript_free(&tr);
    }
    free(buf);
    return 0;
}
