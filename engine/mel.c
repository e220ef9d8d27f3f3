/* mel.c - Whisper's log-mel spectrogram with FFTW. See mel.h. */
#include "engine/mel.h"
#include "engine/base/util.h"

#include <fftw3.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct mel_ctx {
    int n_mels;
    float *filters; /* [n_mels x MEL_N_FREQ] */
    float window[MEL_N_FFT];
    float *frame;        /* fftwf_malloc'd [MEL_N_FFT] */
    fftwf_complex *spec; /* fftwf_malloc'd [MEL_N_FREQ] */
    fftwf_plan plan;
};

static pthread_mutex_t plan_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---------------------------------------------------------- mel filters */

/* librosa's Slaney mel scale: linear below 1 kHz (200/3 Hz per mel), then
 * logarithmic with 27 mels per factor 6.4. */
static double hz_to_mel(double hz) {
    const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
    const double logstep = log(6.4) / 27.0;
    return hz >= min_log_hz ? min_log_mel + log(hz / min_log_hz) / logstep : hz / f_sp;
}

static double mel_to_hz(double mel) {
    const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
    const double logstep = log(6.4) / 27.0;
    return mel >= min_log_mel ? min_log_hz * exp(logstep * (mel - min_log_mel)) : f_sp * mel;
}

/* librosa.filters.mel(sr=16000, n_fft=400, n_mels, fmin=0, fmax=sr/2,
 * htk=False, norm="slaney"): triangles between n_mels + 2 points equally
 * spaced in mel, each scaled by 2 / (its width in Hz) so they have equal area. */
static void build_filters(int n_mels, float *w) {
    int n_pts = n_mels + 2;
    double *f = xmalloc((size_t)n_pts * sizeof *f);
    double lo = hz_to_mel(0.0), hi = hz_to_mel(MEL_SAMPLE_RATE / 2.0);
    for (int i = 0; i < n_pts; i++) f[i] = mel_to_hz(lo + (hi - lo) * i / (n_pts - 1));
    for (int i = 0; i < n_mels; i++) {
        double enorm = 2.0 / (f[i + 2] - f[i]);
        for (int k = 0; k < MEL_N_FREQ; k++) {
            double hz = (double)k * MEL_SAMPLE_RATE / MEL_N_FFT;
            double lower = (hz - f[i]) / (f[i + 1] - f[i]);
            double upper = (f[i + 2] - hz) / (f[i + 2] - f[i + 1]);
            double v = fmin(lower, upper);
            w[(size_t)i * MEL_N_FREQ + k] = (float)((v > 0 ? v : 0) * enorm);
        }
    }
    free(f);
}

/* ---------------------------------------------------------- context */

mel_ctx *mel_create(int n_mels) {
    if (n_mels < 1 || n_mels > 512) {
        unum_error_set("mel: n_mels %d is out of range (1..512)", n_mels);
        return NULL;
    }
    mel_ctx *m = xcalloc(1, sizeof *m);
    m->n_mels = n_mels;
    m->filters = xmalloc((size_t)n_mels * MEL_N_FREQ * sizeof(float));
    build_filters(n_mels, m->filters);
    /* torch.hann_window(400) (periodic): 0.5 - 0.5 cos(2 pi i / 400) */
    for (int i = 0; i < MEL_N_FFT; i++)
        m->window[i] = (float)(0.5 - 0.5 * cos(2.0 * M_PI * i / MEL_N_FFT));
    m->frame = fftwf_malloc(MEL_N_FFT * sizeof(float));
    m->spec = fftwf_malloc(MEL_N_FREQ * sizeof(fftwf_complex));
    if (m->frame && m->spec) {
        pthread_mutex_lock(&plan_lock);
        m->plan = fftwf_plan_dft_r2c_1d(MEL_N_FFT, m->frame, m->spec, FFTW_ESTIMATE);
        pthread_mutex_unlock(&plan_lock);
    }
    if (!m->plan) {
        unum_error_set("mel: cannot create the FFTW plan for n_fft %d", MEL_N_FFT);
        mel_free(m);
        return NULL;
    }
    return m;
}

void mel_free(mel_ctx *m) {
    if (!m) return;
    if (m->plan) {
        pthread_mutex_lock(&plan_lock);
        fftwf_destroy_plan(m->plan);
        pthread_mutex_unlock(&plan_lock);
    }
    fftwf_free(m->frame);
    fftwf_free(m->spec);
    free(m->filters);
    free(m);
}

int mel_n_mels(const mel_ctx *m) { return m->n_mels; }
const float *mel_filters(const mel_ctx *m) { return m->filters; }
size_t mel_frames(size_t n) { return n / MEL_HOP; }

/* ---------------------------------------------------------- spectrogram */

/* x[j - 200] with reflection at both ends (torch.stft center=True,
 * pad_mode="reflect"): -1 -> 1, n -> n - 2. Requires n > 200. */
static float padded_at(const float *x, size_t n, long j) {
    long i = j - MEL_N_FFT / 2;
    if (i < 0) i = -i;
    if (i >= (long)n) i = 2 * ((long)n - 1) - i;
    return x[i];
}

int mel_compute(mel_ctx *m, const float *x, size_t n, float *out) {
    if (n <= MEL_N_FFT / 2)
        return unum_error_set("mel: %zu samples is too short (reflect padding needs at least %d)",
                              n, MEL_N_FFT / 2 + 1);
    size_t frames = mel_frames(n);
    int nm = m->n_mels;
    float power[MEL_N_FREQ];
    float maxv = -INFINITY;
    for (size_t t = 0; t < frames; t++) {
        long start = (long)(t * MEL_HOP);
        if (start >= MEL_N_FFT / 2 && start + MEL_N_FFT / 2 <= (long)n) {
            const float *p = x + start - MEL_N_FFT / 2;
            for (int i = 0; i < MEL_N_FFT; i++) m->frame[i] = p[i] * m->window[i];
        } else {
            for (int i = 0; i < MEL_N_FFT; i++)
                m->frame[i] = padded_at(x, n, start + i) * m->window[i];
        }
        fftwf_execute(m->plan);
        for (int k = 0; k < MEL_N_FREQ; k++)
            power[k] = m->spec[k][0] * m->spec[k][0] + m->spec[k][1] * m->spec[k][1];
        for (int b = 0; b < nm; b++) {
            const float *w = m->filters + (size_t)b * MEL_N_FREQ;
            float acc = 0;
            for (int k = 0; k < MEL_N_FREQ; k++) acc += w[k] * power[k];
            float l = log10f(acc > 1e-10f ? acc : 1e-10f);
            out[(size_t)b * frames + t] = l;
            if (l > maxv) maxv = l;
        }
    }
    float floorv = maxv - 8.0f;
    size_t total = (size_t)nm * frames;
    for (size_t i = 0; i < total; i++) {
        float l = out[i] > floorv ? out[i] : floorv;
        out[i] = (l + 4.0f) / 4.0f;
    }
    return 0;
}

int mel_compute_30s(mel_ctx *m, const float *x, size_t n, float *out) {
    float *buf = calloc(MEL_CHUNK_SAMPLES, sizeof *buf);
    if (!buf) return unum_error_set("mel: out of memory for a 30 s window");
    if (n) memcpy(buf, x, (n < MEL_CHUNK_SAMPLES ? n : MEL_CHUNK_SAMPLES) * sizeof *buf);
    int rc = mel_compute(m, buf, MEL_CHUNK_SAMPLES, out);
    free(buf);
    return rc;
}
