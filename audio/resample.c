/* resample.c - sample-rate conversion with libsamplerate. See resample.h. */
#include "audio/resample.h"
#include "engine/base/util.h"

#include <limits.h>
#include <samplerate.h>
#include <stdlib.h>
#include <string.h>

int resample(const float *in, size_t n, int rate_in, int rate_out, float **out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    if (rate_in <= 0 || rate_out <= 0)
        return unum_error_set("resample: sample rates must be positive (%d -> %d Hz)", rate_in,
                              rate_out);
    double ratio = (double)rate_out / rate_in;
    if (!src_is_valid_ratio(ratio))
        return unum_error_set("resample: %d -> %d Hz is outside libsamplerate's ratio range "
                              "(1/256 to 256)",
                              rate_in, rate_out);
    if (n == 0) return 0;
    if (rate_in == rate_out) {
        float *o = malloc(n * sizeof *o);
        if (!o) return unum_error_set("resample: out of memory for %zu samples", n);
        memcpy(o, in, n * sizeof *o);
        *out = o;
        *n_out = n;
        return 0;
    }
    double want = (double)n * ratio + 64;
    if (n > (size_t)LONG_MAX || want > (double)LONG_MAX || want * sizeof(float) > (double)SIZE_MAX)
        return unum_error_set("resample: %zu samples is too long", n);
    size_t cap = (size_t)want;
    float *o = malloc(cap * sizeof *o);
    if (!o) return unum_error_set("resample: out of memory for %zu samples", cap);
    SRC_DATA d = {0};
    d.data_in = in;
    d.data_out = o;
    d.input_frames = (long)n;
    d.output_frames = (long)cap;
    d.end_of_input = 1;
    d.src_ratio = ratio;
    int err = src_simple(&d, SRC_SINC_BEST_QUALITY, 1);
    if (err) {
        free(o);
        return unum_error_set("resample: %d -> %d Hz: %s", rate_in, rate_out, src_strerror(err));
    }
    *out = o;
    *n_out = (size_t)d.output_frames_gen;
    return 0;
}

int resample_to_16k(const float *in, size_t n, int rate_in, float **out, size_t *n_out) {
    return resample(in, n, rate_in, RESAMPLE_WHISPER_RATE, out, n_out);
}
