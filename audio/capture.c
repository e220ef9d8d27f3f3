/* capture.c - see capture.h. The invariants that matter:
 *  - SDL's audio thread (the producer) never waits: it copies into the ring
 *    or drops and counts. It never touches the file, the listener or a lock.
 *  - Only the writer thread touches the WAV writer until capture_close has
 *    joined it, and it patches the header at least once per CAPTURE_RATE
 *    frames, so the file on disk is valid up to the last second. */
#include "audio/capture.h"

#include "engine/base/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef UNUM_SDL
#include <SDL.h>
#include <samplerate.h>
#endif

/* ---- ring ------------------------------------------------------------ */

/* head counts samples ever written, tail samples ever read; both only grow
 * (64-bit: no wrap in practice), head - tail is the fill. The producer owns
 * head, the consumer owns tail; each publishes its index with release order
 * after touching the data and reads the other's with acquire order. */
struct capture_ring {
    float *buf;
    size_t cap, mask;
    _Atomic uint64_t head, tail;
    _Atomic uint64_t overruns, dropped;
};

capture_ring *capture_ring_create(size_t min_capacity) {
    size_t cap = 2;
    while (cap < min_capacity) {
        if (cap > ((size_t)1 << 40)) {
            unum_error_set("capture ring: %zu samples is too many", min_capacity);
            return NULL;
        }
        cap <<= 1;
    }
    capture_ring *r = xcalloc(1, sizeof *r);
    r->buf = malloc(cap * sizeof *r->buf);
    if (!r->buf) {
        free(r);
        unum_error_set("capture ring: cannot allocate %zu samples", cap);
        return NULL;
    }
    r->cap = cap;
    r->mask = cap - 1;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    atomic_init(&r->overruns, 0);
    atomic_init(&r->dropped, 0);
    return r;
}

void capture_ring_free(capture_ring *r) {
    if (!r) return;
    free(r->buf);
    free(r);
}

size_t capture_ring_capacity(const capture_ring *r) { return r->cap; }

size_t capture_ring_write(capture_ring *r, const float *x, size_t n) {
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    size_t space = r->cap - (size_t)(head - tail);
    size_t k = n < space ? n : space;
    if (k < n) {
        atomic_fetch_add_explicit(&r->overruns, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&r->dropped, n - k, memory_order_relaxed);
    }
    size_t at = (size_t)head & r->mask, first = r->cap - at < k ? r->cap - at : k;
    if (first) memcpy(r->buf + at, x, first * sizeof *x);
    if (k > first) memcpy(r->buf, x + first, (k - first) * sizeof *x);
    atomic_store_explicit(&r->head, head + k, memory_order_release);
    return k;
}

size_t capture_ring_read(capture_ring *r, float *out, size_t max) {
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    size_t avail = (size_t)(head - tail);
    size_t k = max < avail ? max : avail;
    size_t at = (size_t)tail & r->mask, first = r->cap - at < k ? r->cap - at : k;
    if (first) memcpy(out, r->buf + at, first * sizeof *out);
    if (k > first) memcpy(out + first, r->buf, (k - first) * sizeof *out);
    atomic_store_explicit(&r->tail, tail + k, memory_order_release);
    return k;
}

size_t capture_ring_used(const capture_ring *r) {
    capture_ring *m = (capture_ring *)r; /* atomic loads of a const object */
    uint64_t tail = atomic_load_explicit(&m->tail, memory_order_acquire);
    uint64_t head = atomic_load_explicit(&m->head, memory_order_acquire);
    return (size_t)(head - tail);
}

uint64_t capture_ring_written(const capture_ring *r) {
    return atomic_load_explicit(&((capture_ring *)r)->head, memory_order_acquire);
}
uint64_t capture_ring_overruns(const capture_ring *r) {
    return atomic_load_explicit(&((capture_ring *)r)->overruns, memory_order_relaxed);
}
uint64_t capture_ring_dropped(const capture_ring *r) {
    return atomic_load_explicit(&((capture_ring *)r)->dropped, memory_order_relaxed);
}

void capture_names_free(char **names, int n) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

#ifndef UNUM_SDL

int capture_supported(void) { return 0; }

static int no_sdl(void) {
    return unum_error_set("this build has no audio capture (built with SDL=0)");
}

int capture_list_devices(char ***names, int *n) {
    *names = NULL;
    *n = 0;
    return no_sdl();
}

capture *capture_start(const capture_config *cfg) {
    (void)cfg;
    no_sdl();
    return NULL;
}
void capture_request_stop(capture *c) { (void)c; }
capture_state capture_wait(capture *c, int timeout_ms, capture_stats *st) {
    (void)c, (void)timeout_ms;
    if (st) memset(st, 0, sizeof *st);
    return CAPTURE_STOPPED;
}
int capture_close(capture *c, capture_stats *st) {
    (void)c;
    if (st) memset(st, 0, sizeof *st);
    return 0;
}
const char *capture_path(const capture *c) {
    (void)c;
    return NULL;
}

void capture_pause(capture *c, int paused) {
    (void)c;
    (void)paused;
}

#else /* UNUM_SDL */

int capture_supported(void) { return 1; }

#define BLOCK 1600 /* samples per writer step: 100 ms */

struct capture {
    SDL_AudioDeviceID dev;
    char *devname; /* for messages */
    capture_ring *ring;
    wav_writer *wav;
    uint64_t max_frames; /* output frames (16 kHz); 0: no limit */
    uint64_t max_in;     /* device frames that make them; 0: no limit */
    int dev_rate;        /* the device's rate */
    SRC_STATE *src;      /* its conversion to 16 kHz (NULL when it is 16 kHz) */
    capture_listener listener;
    void *listener_user;
    pthread_t writer;
    /* The writer polls the device's status; capture_close frees the device.
     * closing (under status_lock) keeps the two apart. */
    pthread_mutex_t status_lock;
    int closing;
    _Atomic int accepting;       /* the callback stores samples */
    _Atomic int paused;          /* the callback drops them (capture_pause) */
    _Atomic int stop;            /* stop requested */
    _Atomic int removed;         /* the device went away ... */
    _Atomic uint64_t removed_at; /* ... after this many ring samples */
    _Atomic int state;           /* capture_state, set once by the writer */
    _Atomic uint64_t frames;
    _Atomic uint32_t level_bits;
    char error[256]; /* written by the writer before it publishes state */
};

/* SDL must not install its SIGINT/SIGTERM handlers for a library user. */
static int sdl_audio_init(void) {
    SDL_SetHint(SDL_HINT_NO_SIGNAL_HANDLERS, "1");
    if (SDL_InitSubSystem(SDL_INIT_AUDIO | SDL_INIT_EVENTS) != 0) {
        const char *drv = getenv("SDL_AUDIODRIVER");
        return unum_error_set("audio: SDL cannot start audio%s%s%s: %s",
                              drv ? " (SDL_AUDIODRIVER=" : "", drv ? drv : "", drv ? ")" : "",
                              SDL_GetError());
    }
    return 0;
}

static void sdl_audio_quit(void) { SDL_QuitSubSystem(SDL_INIT_AUDIO | SDL_INIT_EVENTS); }

int capture_list_devices(char ***names, int *n) {
    *names = NULL;
    *n = 0;
    if (sdl_audio_init() < 0) return -1;
    int k = SDL_GetNumAudioDevices(1);
    if (k < 0) {
        sdl_audio_quit();
        return unum_error_set("audio: driver '%s' cannot list capture devices",
                              SDL_GetCurrentAudioDriver() ? SDL_GetCurrentAudioDriver() : "?");
    }
    char **v = xcalloc((size_t)k + 1, sizeof *v);
    for (int i = 0; i < k; i++) {
        const char *s = SDL_GetAudioDeviceName(i, 1);
        v[i] = xstrdup(s ? s : "(unnamed)");
    }
    sdl_audio_quit();
    *names = v;
    *n = k;
    return 0;
}

/* SDL's audio thread: copy and return. Samples after the writer has
 * finished are ignored rather than counted as overruns. */
static void SDLCALL on_audio(void *user, Uint8 *stream, int len) {
    capture *c = user;
    if (!atomic_load_explicit(&c->accepting, memory_order_acquire)) return;
    if (atomic_load_explicit(&c->paused, memory_order_relaxed)) return; /* not in the file */
    size_t n = (size_t)len / sizeof(float);
    if (c->max_in) { /* nothing past the limit: it would only count as overruns */
        uint64_t got = capture_ring_written(c->ring);
        if (got >= c->max_in) return;
        if (n > c->max_in - got) n = (size_t)(c->max_in - got);
    }
    capture_ring_write(c->ring, (const float *)(const void *)stream, n);
}

/* Runs on whichever thread pushes the event (SDL's audio thread for a real
 * unplug): remember how much had arrived, then raise the flag. */
static int SDLCALL on_event(void *user, SDL_Event *ev) {
    capture *c = user;
    if (ev->type == SDL_AUDIODEVICEREMOVED && ev->adevice.iscapture &&
        ev->adevice.which == c->dev && !atomic_load(&c->removed)) {
        atomic_store(&c->removed_at, capture_ring_written(c->ring));
        atomic_store(&c->removed, 1);
    }
    return 1;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static float block_peak(const float *x, size_t n) {
    float p = 0;
    for (size_t i = 0; i < n; i++) {
        float a = x[i] < 0 ? -x[i] : x[i];
        if (a > p) p = a;
    }
    return p > 1 ? 1 : p;
}

/* Writes one block of 16 kHz samples to the file and the listener (no
 * further than max_frames); -1 with c->error set. */
static int writer_put(capture *c, const float *x, size_t n) {
    uint64_t done = atomic_load(&c->frames);
    if (c->max_frames && n > c->max_frames - done) n = (size_t)(c->max_frames - done);
    if (!n) return 0;
    if (c->wav && wav_writer_write(c->wav, x, n) < 0) {
        snprintf(c->error, sizeof c->error, "%s", unum_error());
        return -1;
    }
    if (c->listener) c->listener(c->listener_user, x, n);
    float p = block_peak(x, n);
    uint32_t bits;
    memcpy(&bits, &p, sizeof bits);
    atomic_store_explicit(&c->level_bits, bits, memory_order_relaxed);
    atomic_store(&c->frames, done + n);
    return 0;
}

/* Device samples in, 16 kHz samples out: through the converter when the
 * device runs at another rate; last flushes what the filter holds. */
static int writer_feed(capture *c, const float *x, size_t n, int last) {
    if (!c->src) return writer_put(c, x, n);
    float out[BLOCK];
    for (;;) {
        SRC_DATA d = {.data_in = x,
                      .input_frames = (long)n,
                      .data_out = out,
                      .output_frames = BLOCK,
                      .src_ratio = (double)CAPTURE_RATE / c->dev_rate,
                      .end_of_input = last};
        int e = src_process(c->src, &d);
        if (e) {
            snprintf(c->error, sizeof c->error, "audio: rate conversion from %d Hz: %s",
                     c->dev_rate, src_strerror(e));
            return -1;
        }
        if (writer_put(c, out, (size_t)d.output_frames_gen) < 0) return -1;
        x += d.input_frames_used;
        n -= (size_t)d.input_frames_used;
        if (n == 0 && (!last || d.output_frames_gen == 0)) return 0;
    }
}

static void *writer_main(void *arg) {
    capture *c = arg;
    float buf[BLOCK];
    uint64_t frames = 0, synced = 0; /* device frames taken from the ring */
    uint64_t stop_at = UINT64_MAX;   /* ring samples that arrived before the stop */
    capture_state end = CAPTURE_STOPPED;
    for (;;) {
        int stopping = atomic_load(&c->stop);
        if (stopping && stop_at == UINT64_MAX) stop_at = capture_ring_written(c->ring);
        int removed = atomic_load(&c->removed);
        int gone = 0;
        if (!removed && !stopping) {
            pthread_mutex_lock(&c->status_lock);
            gone = !c->closing && SDL_GetAudioDeviceStatus(c->dev) == SDL_AUDIO_STOPPED;
            pthread_mutex_unlock(&c->status_lock);
        }
        if (gone) {
            /* SDL disabled the device without an event reaching us */
            atomic_store(&c->removed_at, capture_ring_written(c->ring));
            atomic_store(&c->removed, 1);
            removed = 1;
        }
        uint64_t removed_at = removed ? atomic_load(&c->removed_at) : UINT64_MAX;
        uint64_t limit = c->max_in ? c->max_in : UINT64_MAX;
        if (removed_at < limit) limit = removed_at;
        if (stop_at < limit) limit = stop_at;
        size_t want = limit - frames < BLOCK ? (size_t)(limit - frames) : BLOCK;
        size_t n = want ? capture_ring_read(c->ring, buf, want) : 0;
        if (n) {
            if (writer_feed(c, buf, n, 0) < 0) {
                end = CAPTURE_FAILED;
                break;
            }
            frames += n;
            if (c->wav && frames - synced >= (uint64_t)c->dev_rate) {
                if (wav_writer_finalize(c->wav) < 0) {
                    snprintf(c->error, sizeof c->error, "%s", unum_error());
                    end = CAPTURE_FAILED;
                    break;
                }
                synced = frames;
            }
        }
        if (c->max_in && frames >= c->max_in) {
            end = CAPTURE_LIMIT;
            break;
        }
        if (removed && (frames >= removed_at || n == 0)) {
            end = CAPTURE_REMOVED;
            break;
        }
        if (stopping && (frames >= stop_at || n == 0)) break;
        if (n == 0) sleep_ms(10);
    }
    atomic_store(&c->accepting, 0);
    if (end != CAPTURE_FAILED && writer_feed(c, buf, 0, 1) < 0) end = CAPTURE_FAILED;
    if (end == CAPTURE_REMOVED)
        snprintf(c->error, sizeof c->error,
                 "audio device '%s' was removed; kept the %.2f s recorded before", c->devname,
                 (double)atomic_load(&c->frames) / CAPTURE_RATE);
    if (end != CAPTURE_FAILED && c->wav && wav_writer_finalize(c->wav) < 0) {
        snprintf(c->error, sizeof c->error, "%s", unum_error());
        end = CAPTURE_FAILED;
    }
    atomic_store(&c->state, (int)end);
    return NULL;
}

static void capture_free(capture *c) {
    if (c->src) src_delete(c->src);
    pthread_mutex_destroy(&c->status_lock);
    capture_ring_free(c->ring);
    free(c->devname);
    free(c);
}

capture *capture_start(const capture_config *cfg) {
    wav_encoding enc = cfg->encoding ? cfg->encoding : WAV_PCM;
    if (enc != WAV_PCM && enc != WAV_FLOAT) {
        unum_error_set("capture: unknown WAV encoding %d", (int)enc);
        return NULL;
    }
    capture *c = xcalloc(1, sizeof *c);
    c->devname = xstrdup(cfg->device ? cfg->device : "default capture device");
    pthread_mutex_init(&c->status_lock, NULL);
    c->max_frames = cfg->max_frames;
    c->listener = cfg->listener;
    c->listener_user = cfg->listener_user;
    atomic_init(&c->accepting, 0);
    atomic_init(&c->stop, 0);
    atomic_init(&c->removed, 0);
    atomic_init(&c->removed_at, 0);
    atomic_init(&c->state, CAPTURE_RUNNING);
    atomic_init(&c->frames, 0);
    atomic_init(&c->level_bits, 0);
    if (sdl_audio_init() < 0) {
        capture_free(c);
        return NULL;
    }
    SDL_AudioSpec want, have;
    SDL_zero(want);
    SDL_zero(have);
    want.freq = cfg->device_rate > 0 ? cfg->device_rate : CAPTURE_RATE;
    want.format = AUDIO_F32SYS;
    want.channels = 1;
    want.samples = 1024;
    want.callback = on_audio;
    want.userdata = c;
    /* SDL converts format and channels; the rate stays the device's own
     * and the writer converts it */
    c->dev = SDL_OpenAudioDevice(cfg->device, 1, &want, &have, SDL_AUDIO_ALLOW_FREQUENCY_CHANGE);
    if (!c->dev) {
        unum_error_set("audio device '%s': cannot open for capture: %s", c->devname,
                       SDL_GetError());
        sdl_audio_quit();
        capture_free(c);
        return NULL;
    }
    c->dev_rate = have.freq;
    int e = 0;
    if (have.freq <= 0 || have.freq > 768000 ||
        (have.freq != CAPTURE_RATE && !(c->src = src_new(SRC_SINC_MEDIUM_QUALITY, 1, &e)))) {
        unum_error_set("audio device '%s': cannot convert its %d Hz to %d Hz%s%s", c->devname,
                       have.freq, CAPTURE_RATE, e ? ": " : "", e ? src_strerror(e) : "");
        SDL_CloseAudioDevice(c->dev);
        sdl_audio_quit();
        capture_free(c);
        return NULL;
    }
    /* device frames for max_frames at 16 kHz, and a little for the filter */
    if (c->max_frames)
        c->max_in = c->src ? (c->max_frames * (uint64_t)have.freq + CAPTURE_RATE - 1) / CAPTURE_RATE + 64
                           : c->max_frames;
    size_t ring = cfg->ring_frames ? cfg->ring_frames : 8 * CAPTURE_RATE;
    if (c->src) ring = ring / CAPTURE_RATE * (size_t)have.freq + ring % CAPTURE_RATE + 2;
    c->ring = capture_ring_create(ring);
    if (!c->ring) {
        SDL_CloseAudioDevice(c->dev);
        sdl_audio_quit();
        capture_free(c);
        return NULL;
    }
    if (cfg->path || cfg->stem) {
        c->wav = cfg->path ? wav_writer_open(cfg->path, CAPTURE_RATE, 1, enc)
                           : wav_writer_create_unique(cfg->dir, cfg->stem, CAPTURE_RATE, 1, enc);
        if (!c->wav) {
            SDL_CloseAudioDevice(c->dev);
            sdl_audio_quit();
            capture_free(c);
            return NULL;
        }
    }
    SDL_AddEventWatch(on_event, c);
    atomic_store(&c->accepting, 1);
    if (pthread_create(&c->writer, NULL, writer_main, c) != 0) {
        unum_error_set("capture: cannot start the writer thread");
        SDL_CloseAudioDevice(c->dev);
        SDL_DelEventWatch(on_event, c);
        wav_writer_close(c->wav);
        sdl_audio_quit();
        capture_free(c);
        return NULL;
    }
    SDL_PauseAudioDevice(c->dev, 0);
    return c;
}

void capture_request_stop(capture *c) {
    if (c) atomic_store(&c->stop, 1);
}

static capture_state fill_stats(capture *c, capture_stats *st) {
    capture_state s = (capture_state)atomic_load(&c->state);
    if (!st) return s;
    memset(st, 0, sizeof *st);
    st->state = s;
    st->frames = atomic_load(&c->frames);
    st->overruns = capture_ring_overruns(c->ring);
    st->dropped = capture_ring_dropped(c->ring);
    uint32_t bits = atomic_load_explicit(&c->level_bits, memory_order_relaxed);
    memcpy(&st->level, &bits, sizeof st->level);
    if (s != CAPTURE_RUNNING) snprintf(st->error, sizeof st->error, "%s", c->error);
    return s;
}

capture_state capture_wait(capture *c, int timeout_ms, capture_stats *st) {
    for (int waited = 0;; waited += 5) {
        if (atomic_load(&c->state) != CAPTURE_RUNNING || waited >= timeout_ms) break;
        sleep_ms(5);
    }
    return fill_stats(c, st);
}

int capture_close(capture *c, capture_stats *st) {
    if (!c) return 0;
    /* Closing the device joins SDL's audio thread: no callback runs after
     * this, so the writer's drain below sees every sample that arrived. */
    pthread_mutex_lock(&c->status_lock);
    c->closing = 1;
    pthread_mutex_unlock(&c->status_lock);
    SDL_CloseAudioDevice(c->dev);
    SDL_DelEventWatch(on_event, c);
    atomic_store(&c->stop, 1);
    pthread_join(c->writer, NULL);
    capture_state s = fill_stats(c, st);
    int rc = 0;
    if (s == CAPTURE_FAILED) rc = unum_error_set("%s", c->error);
    if (wav_writer_close(c->wav) < 0 && rc == 0) rc = -1;
    sdl_audio_quit();
    capture_free(c);
    return rc;
}

const char *capture_path(const capture *c) { return c && c->wav ? wav_writer_path(c->wav) : NULL; }

void capture_pause(capture *c, int paused) {
    if (c) atomic_store_explicit(&c->paused, paused != 0, memory_order_relaxed);
}

#endif /* UNUM_SDL */
