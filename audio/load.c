/* load.c - see load.h. */
#include "audio/load.h"

#include "audio/resample.h"
#include "audio/wav.h"
#include "engine/base/util.h"

#include <math.h>
#include <samplerate.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 16384 /* frames read and converted at a time */

/* Feeds in[0..k) (end: no more input after it) through the converter into
 * out[*n..cap). */
static int convert(SRC_STATE *src, double ratio, const float *in, long k, int end, float *out,
                   size_t *n, size_t cap, const char *path) {
    for (;;) {
        SRC_DATA d = {0};
        d.data_in = in;
        d.input_frames = k;
        d.data_out = out + *n;
        d.output_frames = (long)(cap - *n);
        d.end_of_input = end;
        d.src_ratio = ratio;
        int err = src_process(src, &d);
        if (err) return unum_error_set("%s: resampling: %s", path, src_strerror(err));
        *n += (size_t)d.output_frames_gen;
        in += d.input_frames_used;
        k -= d.input_frames_used;
        if (k == 0 && (!end || d.output_frames_gen == 0)) return 0;
        if (*n == cap) return 0; /* the span is full: the rest is not wanted */
    }
}

int audio_read_rate(const char *path, double start_s, double dur_s, int target, float **out,
                    size_t *n, double *file_s) {
    *out = NULL;
    *n = 0;
    wav_info info;
    wav_reader *r = wav_reader_open(path, 0, &info);
    if (!r) return -1;
    if (file_s) *file_s = (double)info.frames / info.sample_rate;
    if (info.sample_rate < AUDIO_MIN_RATE || info.sample_rate > AUDIO_MAX_RATE) {
        wav_reader_close(r);
        return unum_error_set("%s: sample rate %d Hz is outside what unum reads (%d to %d Hz); "
                              "convert the file first",
                              path, info.sample_rate, AUDIO_MIN_RATE, AUDIO_MAX_RATE);
    }
    int rate = info.sample_rate;
    /* the span, in the file's frames */
    uint64_t from = start_s > 0 ? (uint64_t)floor(start_s * rate) : 0, to = info.frames;
    if (from > info.frames) from = info.frames;
    if (dur_s > 0) {
        double want = ceil(dur_s * rate);
        if (want < (double)(to - from)) to = from + (uint64_t)want;
    }
    /* the output: the span's 16 kHz samples, allocated once */
    double ratio = (double)target / rate;
    double cap_d = (double)(to - from) * ratio + 64;
    if (dur_s > 0 && cap_d > dur_s * target + 1)
        cap_d = ceil(dur_s * target);
    if (cap_d * sizeof(float) > (double)SIZE_MAX / 2) {
        wav_reader_close(r);
        return unum_error_set("%s: %llu frames is too long", path,
                              (unsigned long long)(to - from));
    }
    size_t cap = (size_t)cap_d;
    float *o = to > from ? malloc(cap * sizeof *o) : NULL, *blk = NULL;
    SRC_STATE *src = NULL;
    int rc = 0, err = 0;
    if (to > from && !o) rc = unum_error_set("%s: out of memory for %zu samples", path, cap);
    if (!rc && rate != target && to > from) {
        src = src_new(SRC_SINC_BEST_QUALITY, 1, &err);
        if (!src) rc = unum_error_set("%s: resampling: %s", path, src_strerror(err));
    }
    if (!rc) rc = wav_reader_seek(r, from);
    blk = rc ? NULL : xmalloc(sizeof *blk * BLOCK);
    size_t got = 0;
    for (uint64_t at = from; !rc && at < to && got < cap;) {
        size_t want = to - at < BLOCK ? (size_t)(to - at) : BLOCK;
        long k = wav_reader_read(r, blk, want);
        if (k <= 0) {
            rc = k < 0 ? -1 : unum_error_set("%s: the data ended early", path);
            break;
        }
        at += (uint64_t)k;
        if (!src) { /* at the target rate already: an exact copy */
            size_t c = (size_t)k < cap - got ? (size_t)k : cap - got;
            memcpy(o + got, blk, c * sizeof *o);
            got += c;
        } else {
            rc = convert(src, ratio, blk, k, at == to, o, &got, cap, path);
        }
    }
    if (!rc && src && got < cap && to > from) /* drain what the filter holds */
        rc = convert(src, ratio, blk, 0, 1, o, &got, cap, path);
    if (src) src_delete(src);
    free(blk);
    wav_reader_close(r);
    if (rc || got == 0) {
        free(o);
        return rc;
    }
    *out = o;
    *n = got;
    return 0;
}

int audio_read_16k(const char *path, double start_s, double dur_s, float **out, size_t *n,
                   double *file_s) {
    return audio_read_rate(path, start_s, dur_s, RESAMPLE_WHISPER_RATE, out, n, file_s);
}
