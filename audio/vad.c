/* vad.c - energy + zero-crossing voice activity detector. See vad.h. */
#include "audio/vad.h"
#include "engine/base/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct vad {
    vad_config c;
    int frame_len; /* samples per frame */
    int start_frames, silence_frames, hang_frames, max_frames;
    float *buf; /* partial frame */
    int buf_n;
    uint64_t frame_index; /* frames seen */
    int have_floor;
    float floor_db;
    int in_speech;
    int run;                             /* consecutive speech frames (before start) */
    int silence_run;                     /* consecutive non-speech frames (in speech) */
    uint64_t utt_start, last_speech_end; /* samples */
    vad_segment *queue;
    size_t q_head, q_len, q_cap;
};

void vad_config_default(vad_config *c) {
    c->frame_ms = 30;
    c->threshold_db = 10.0f;
    c->min_energy_db = -55.0f;
    c->floor_min_db = -70.0f;
    c->zcr_max = 0.35f;
    c->zcr_override_db = 15.0f;
    c->min_speech_ms = 90;
    c->min_silence_ms = 300;
    c->hangover_ms = 90;
    c->max_utterance_ms = 30000;
}

static int ms_frames(int ms, int frame_ms) { return (ms + frame_ms - 1) / frame_ms; }

vad *vad_create(const vad_config *cfg) {
    vad_config c;
    if (cfg) c = *cfg;
    else vad_config_default(&c);
    if (c.frame_ms < 5 || c.frame_ms > 100)
        return unum_error_set("vad: frame_ms %d is out of range (5..100)", c.frame_ms), NULL;
    if (c.min_speech_ms < 0 || c.min_silence_ms < 0 || c.hangover_ms < 0)
        return unum_error_set("vad: durations must not be negative"), NULL;
    if (c.hangover_ms > c.min_silence_ms)
        return unum_error_set("vad: hangover_ms %d exceeds min_silence_ms %d", c.hangover_ms,
                              c.min_silence_ms),
               NULL;
    if (c.max_utterance_ms < c.frame_ms)
        return unum_error_set("vad: max_utterance_ms %d is shorter than a frame",
                              c.max_utterance_ms),
               NULL;
    vad *v = xcalloc(1, sizeof *v);
    v->c = c;
    v->frame_len = VAD_SAMPLE_RATE / 1000 * c.frame_ms;
    v->start_frames = ms_frames(c.min_speech_ms, c.frame_ms);
    if (v->start_frames < 1) v->start_frames = 1;
    v->silence_frames = ms_frames(c.min_silence_ms, c.frame_ms);
    if (v->silence_frames < 1) v->silence_frames = 1;
    v->hang_frames = ms_frames(c.hangover_ms, c.frame_ms);
    v->max_frames = c.max_utterance_ms / c.frame_ms;
    v->buf = xmalloc((size_t)v->frame_len * sizeof *v->buf);
    return v;
}

void vad_free(vad *v) {
    if (!v) return;
    free(v->buf);
    free(v->queue);
    free(v);
}

static void push(vad *v, uint64_t start, uint64_t end) {
    if (end <= start) return;
    if (v->q_head + v->q_len == v->q_cap) {
        if (v->q_head > 0) {
            memmove(v->queue, v->queue + v->q_head, v->q_len * sizeof *v->queue);
            v->q_head = 0;
        }
        if (v->q_len == v->q_cap) {
            v->q_cap = v->q_cap ? 2 * v->q_cap : 8;
            v->queue = xrealloc(v->queue, v->q_cap * sizeof *v->queue);
        }
    }
    v->queue[v->q_head + v->q_len++] = (vad_segment){start, end};
}

static int frame_is_speech(vad *v, const float *x) {
    int n = v->frame_len;
    double e = 0;
    int zc = 0;
    for (int i = 0; i < n; i++) {
        e += (double)x[i] * x[i];
        if (i && ((x[i] >= 0) != (x[i - 1] >= 0))) zc++;
    }
    float db = (float)(10.0 * log10(e / n + 1e-12));
    if (!isfinite(db)) db = -120.0f; /* NaN or infinite input */
    float zcr = (float)zc / n;
    if (!v->have_floor) {
        v->floor_db = db > v->c.floor_min_db ? db : v->c.floor_min_db;
        /* a voiced first frame (crossing zero rarely) is someone already
         * talking, not the background: the floor starts at the quietest
         * speech, so the utterance is heard at once */
        if (zcr < v->c.zcr_max && v->floor_db > v->c.min_energy_db)
            v->floor_db = v->c.min_energy_db;
        v->have_floor = 1;
    }
    float thr = v->floor_db + v->c.threshold_db;
    int speech = db > thr && db > v->c.min_energy_db &&
                 (zcr < v->c.zcr_max || db > thr + v->c.zcr_override_db);
    float a = db < v->floor_db ? 0.3f : speech ? 0.002f : 0.05f;
    v->floor_db += a * (db - v->floor_db);
    if (v->floor_db < v->c.floor_min_db) v->floor_db = v->c.floor_min_db;
    return speech;
}

/* Ends the open utterance: at the last speech frame plus hangover, but not
 * past `limit` (the end of the frames seen). */
static void close_utterance(vad *v, uint64_t limit) {
    uint64_t end = v->last_speech_end + (uint64_t)v->hang_frames * v->frame_len;
    if (end > limit) end = limit;
    push(v, v->utt_start, end);
    v->in_speech = 0;
    v->run = 0;
    v->silence_run = 0;
}

static void step(vad *v, const float *x) {
    uint64_t f0 = v->frame_index * (uint64_t)v->frame_len, f1 = f0 + (uint64_t)v->frame_len;
    v->frame_index++;
    int speech = frame_is_speech(v, x);
    if (!v->in_speech) {
        v->run = speech ? v->run + 1 : 0;
        if (v->run >= v->start_frames) {
            v->in_speech = 1;
            v->utt_start = f1 - (uint64_t)v->run * v->frame_len;
            v->last_speech_end = f1;
            v->silence_run = 0;
        }
    } else if (speech) {
        v->last_speech_end = f1;
        v->silence_run = 0;
    } else if (++v->silence_run >= v->silence_frames) {
        close_utterance(v, f1);
        return;
    }
    if (v->in_speech && (f1 - v->utt_start) / v->frame_len >= (uint64_t)v->max_frames) {
        /* too long: cut here. Inside speech the next utterance starts at
         * the cut; inside a pause the utterance simply ends. */
        if (!speech) {
            close_utterance(v, f1);
            return;
        }
        push(v, v->utt_start, f1);
        v->utt_start = f1;
        v->last_speech_end = f1;
        v->silence_run = 0;
    }
}

void vad_feed(vad *v, const float *x, size_t n) {
    while (n > 0) {
        if (v->buf_n == 0 && n >= (size_t)v->frame_len) {
            step(v, x);
            x += v->frame_len;
            n -= (size_t)v->frame_len;
            continue;
        }
        size_t take = (size_t)(v->frame_len - v->buf_n);
        if (take > n) take = n;
        memcpy(v->buf + v->buf_n, x, take * sizeof *x);
        v->buf_n += (int)take;
        x += take;
        n -= take;
        if (v->buf_n == v->frame_len) {
            step(v, v->buf);
            v->buf_n = 0;
        }
    }
}

void vad_flush(vad *v) {
    if (v->in_speech) close_utterance(v, v->frame_index * (uint64_t)v->frame_len);
    v->buf_n = 0;
}

int vad_next(vad *v, vad_segment *seg) {
    if (!v->q_len) return 0;
    *seg = v->queue[v->q_head++];
    if (--v->q_len == 0) v->q_head = 0;
    return 1;
}

int vad_in_speech(const vad *v, uint64_t *start) {
    if (v->in_speech && start) *start = v->utt_start;
    return v->in_speech;
}

float vad_noise_floor_db(const vad *v) { return v->floor_db; }
