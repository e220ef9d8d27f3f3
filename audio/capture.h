/* capture.h - recording from a capture device through SDL2 into a WAV file.
 *
 * Data path: SDL's audio thread calls our callback with mono float32 at the
 * device's rate (SDL converts format and channels when they differ; a 16 kHz
 * mono float device passes bit for bit).
 * The callback only copies into a single-producer/single-consumer ring
 * (C11 atomics, no locks, no allocation); when the ring is full it drops the
 * excess and counts an overrun instead of waiting. A writer thread drains the
 * ring, converts to 16 kHz when the device runs at another rate, writes the
 * WAV file and hands each block to an optional listener (level
 * meter, transcriber); it patches the WAV header about once a second, so a
 * crash loses at most about a second and leaves a playable file.
 *
 * A recording ends when capture_close is called, when max_frames have been
 * written, when the device goes away (SDL_AUDIODEVICEREMOVED for our device,
 * or SDL reporting the device stopped), or when the file cannot be written.
 * In every case what reached the file before is kept, finalized and valid.
 *
 * Built without SDL (make SDL=0) the ring buffer still works; listing and
 * starting capture fail with "this build has no audio capture". */
#ifndef UNUM_CAPTURE_H
#define UNUM_CAPTURE_H

#include "audio/wav.h"

#include <stddef.h>
#include <stdint.h>

#define CAPTURE_RATE 16000 /* Hz, mono float32: what Whisper wants */

/* ---- lock-free SPSC ring of float samples ------------------------------ */

typedef struct capture_ring capture_ring;

/* Capacity is min_capacity rounded up to a power of two (at least 2).
 * Returns NULL with the error set when it cannot be allocated. */
capture_ring *capture_ring_create(size_t min_capacity);
void capture_ring_free(capture_ring *r);
size_t capture_ring_capacity(const capture_ring *r);
/* Producer only. Copies what fits of x[0..n) and returns how many; never
 * blocks. When not all fit, the rest is dropped: one overrun is counted and
 * the dropped samples are added to the dropped count. */
size_t capture_ring_write(capture_ring *r, const float *x, size_t n);
/* Consumer only. Moves up to max samples into out; returns how many. */
size_t capture_ring_read(capture_ring *r, float *out, size_t max);
/* Samples waiting to be read (exact for the consumer, a snapshot otherwise). */
size_t capture_ring_used(const capture_ring *r);
/* Samples ever accepted by capture_ring_write. */
uint64_t capture_ring_written(const capture_ring *r);
uint64_t capture_ring_overruns(const capture_ring *r);
uint64_t capture_ring_dropped(const capture_ring *r);

/* ---- devices --------------------------------------------------------- */

/* 1 when this build can capture (built with SDL), else 0. */
int capture_supported(void);
/* Names of the capture devices SDL sees (*names: n strings, free with
 * capture_names_free). Returns 0, or -1 with the error set. */
int capture_list_devices(char ***names, int *n);
void capture_names_free(char **names, int n);

/* ---- recording ------------------------------------------------------- */

typedef enum {
    CAPTURE_RUNNING = 0,
    CAPTURE_STOPPED, /* capture_close or capture_request_stop */
    CAPTURE_LIMIT,   /* max_frames reached */
    CAPTURE_REMOVED, /* the device went away */
    CAPTURE_FAILED   /* the file could not be written (error in stats) */
} capture_state;

/* Called on the writer thread with every block, in order. It must not block
 * for long: while it runs the ring fills, and past its size the callback
 * drops samples, which are then missing from the file too. */
typedef void (*capture_listener)(void *user, const float *samples, size_t n);

typedef struct {
    const char *device;    /* device name; NULL: the default capture device */
    const char *path;      /* WAV file to create (never an existing one); NULL: see dir */
    const char *dir;       /* with stem, instead of path: a new file DIR/STEM.wav, */
    const char *stem;      /* or STEM-2.wav, ... (wav_writer_create_unique); both
                            * NULL and no path: listeners only */
    wav_encoding encoding; /* WAV_PCM (16-bit) or WAV_FLOAT; 0 means WAV_PCM */
    uint64_t max_frames;   /* stop after this many; 0: no limit */
    size_t ring_frames;    /* ring size; 0: 8 seconds */
    int device_rate;       /* rate to ask the device for; 0: 16000 */
    capture_listener listener;
    void *listener_user;
} capture_config;

typedef struct {
    capture_state state;
    uint64_t frames;   /* written to the file (and given to the listener) */
    uint64_t overruns; /* callbacks that found the ring full */
    uint64_t dropped;  /* samples lost to overruns */
    float level;       /* peak |sample| of the latest block, 0..1 */
    char error[256];   /* why, for CAPTURE_FAILED and CAPTURE_REMOVED */
} capture_stats;

typedef struct capture capture;

/* Opens the device (asking for mono float32 at 16 kHz, or device_rate),
 * creates the WAV file and starts recording. When the device runs at
 * another rate, the writer thread converts to 16 kHz with libsamplerate's
 * band-limited sinc converter, so live audio gets the same kind of
 * conversion as files (tests: an 11 kHz tone at 48 kHz leaves no 5 kHz
 * alias above -80 dB). Returns NULL with the error set, naming the device
 * or the file, when either cannot be opened. */
capture *capture_start(const capture_config *cfg);
/* Asks the recording to stop (safe from any thread; not from a signal
 * handler). The writer drains what is buffered and finalizes the file. */
void capture_request_stop(capture *c);
/* Waits up to timeout_ms for the recording to end by itself (limit, removal,
 * failure, requested stop). Returns its state (CAPTURE_RUNNING on timeout)
 * and fills *st when st is not NULL. */
capture_state capture_wait(capture *c, int timeout_ms, capture_stats *st);
/* Stops the device, drains the ring, finalizes and closes the file, frees c
 * (NULL is fine). Fills *st with the final counts when st is not NULL.
 * Returns 0, or -1 with the error set when the file could not be completed;
 * a removed device is not an error here (st->state says so). */
int capture_close(capture *c, capture_stats *st);
/* Pauses (paused 1) or resumes (0) the recording: while paused, what the
 * device delivers is dropped in the callback, so the paused span is in
 * neither the file nor the listener's stream (nor counted as an overrun);
 * what was captured before still drains. Safe from any thread. */
void capture_pause(capture *c, int paused);
/* The WAV file being written (owned by c; NULL when there is none). */
const char *capture_path(const capture *c);

#endif
