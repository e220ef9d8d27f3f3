/* test_capture.c - audio capture: the lock-free ring (wraparound, overrun
 * counting, a producer and a consumer thread), recording through SDL's disk
 * audio driver, and `unum record`.
 *
 * SDL's disk driver (SDL_AUDIODRIVER=disk) reads the capture "device" from
 * the raw file SDL_DISKAUDIOFILEIN: headerless samples in the format the
 * device was opened with, which for the disk driver is exactly the format
 * asked for (here 16 kHz mono native-endian float32), so SDL converts
 * nothing; past the end of the file it delivers silence. SDL_DISKAUDIODELAY=0
 * makes it read as fast as it can. A device name that is not in its list is
 * taken as the input file's path. The input is espeak-ng speech, resampled to
 * 16 kHz and, for 16-bit output, rounded to the 16-bit grid, so the WAV that
 * comes out must hold the very same samples followed by silence. */
#include "audio/capture.h"
#include "audio/resample.h"
#include "tests/test.h"
#include "engine/base/util.h"
#include "audio/wav.h"

#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#ifdef UNUM_SDL
#include <SDL.h>
#endif

/* ---- ring ------------------------------------------------------------ */

TEST(capture_ring_basic) {
    capture_ring *r = capture_ring_create(5);
    REQUIRE(r);
    CHECK_EQ_INT(capture_ring_capacity(r), 8);
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, y[8] = {0};
    CHECK_EQ_INT(capture_ring_read(r, y, 8), 0);
    CHECK_EQ_INT(capture_ring_write(r, x, 3), 3);
    CHECK_EQ_INT(capture_ring_used(r), 3);
    CHECK_EQ_INT(capture_ring_read(r, y, 2), 2);
    CHECK(y[0] == 1 && y[1] == 2);
    CHECK_EQ_INT(capture_ring_read(r, y, 8), 1);
    CHECK(y[0] == 3);
    CHECK_EQ_INT(capture_ring_used(r), 0);
    CHECK_EQ_INT(capture_ring_written(r), 3);
    CHECK_EQ_INT(capture_ring_overruns(r), 0);
    capture_ring_free(r);
    capture_ring_free(NULL);
}

/* Chunks of every size from 1 to 7 through an 8-sample ring, so both the
 * write and the read cross the end of the buffer at every offset. */
TEST(capture_ring_wraparound) {
    capture_ring *r = capture_ring_create(8);
    REQUIRE(r);
    float next_in = 0, next_out = 0, x[8], y[8];
    for (int round = 0; round < 1000; round++) {
        size_t w = (size_t)(round % 7) + 1, rd = (size_t)((round * 3) % 7) + 1;
        size_t space = 8 - capture_ring_used(r);
        size_t k = w < space ? w : space;
        for (size_t i = 0; i < k; i++) x[i] = next_in + (float)i;
        CHECK_EQ_INT(capture_ring_write(r, x, k), k);
        next_in += (float)k;
        size_t got = capture_ring_read(r, y, rd);
        for (size_t i = 0; i < got; i++) {
            if (y[i] != next_out) {
                CHECK(y[i] == next_out);
                capture_ring_free(r);
                return;
            }
            next_out++;
        }
    }
    CHECK_EQ_INT(capture_ring_overruns(r), 0);
    CHECK_EQ_INT(capture_ring_dropped(r), 0);
    CHECK_EQ_INT(capture_ring_written(r), (long long)next_in);
    capture_ring_free(r);
}

TEST(capture_ring_overrun_counts) {
    capture_ring *r = capture_ring_create(8);
    REQUIRE(r);
    float x[16], y[16];
    for (int i = 0; i < 16; i++) x[i] = (float)i;
    CHECK_EQ_INT(capture_ring_write(r, x, 6), 6);
    /* 5 more: 2 fit, 3 are dropped, one overrun */
    CHECK_EQ_INT(capture_ring_write(r, x + 6, 5), 2);
    CHECK_EQ_INT(capture_ring_overruns(r), 1);
    CHECK_EQ_INT(capture_ring_dropped(r), 3);
    /* full: everything dropped, another overrun */
    CHECK_EQ_INT(capture_ring_write(r, x, 4), 0);
    CHECK_EQ_INT(capture_ring_overruns(r), 2);
    CHECK_EQ_INT(capture_ring_dropped(r), 7);
    CHECK_EQ_INT(capture_ring_write(r, x, 0), 0);
    CHECK_EQ_INT(capture_ring_overruns(r), 2);
    /* the oldest samples survive, in order */
    CHECK_EQ_INT(capture_ring_read(r, y, 16), 8);
    for (int i = 0; i < 8; i++) CHECK(y[i] == (float)i);
    /* and the ring works normally afterwards, across the wrap */
    CHECK_EQ_INT(capture_ring_write(r, x + 8, 5), 5);
    CHECK_EQ_INT(capture_ring_read(r, y, 16), 5);
    for (int i = 0; i < 5; i++) CHECK(y[i] == (float)(8 + i));
    CHECK_EQ_INT(capture_ring_overruns(r), 2);
    capture_ring_free(r);
}

/* A producer thread pushes a counting sequence as fast as it can while the
 * consumer drains it: whatever arrives is in order, and what arrives plus
 * what was dropped is everything. */
#define SEQ_N 2000000
typedef struct {
    capture_ring *r;
    int patient; /* wait for room instead of dropping */
} producer_arg;

static void *ring_producer(void *arg) {
    producer_arg *p = arg;
    float x[97];
    for (uint32_t v = 0; v < SEQ_N;) {
        size_t k = 0;
        while (k < 97 && v + k < SEQ_N) x[k] = (float)(v + k), k++;
        if (p->patient)
            while (capture_ring_capacity(p->r) - capture_ring_used(p->r) < k) sched_yield();
        capture_ring_write(p->r, x, k);
        v += (uint32_t)k;
    }
    return NULL;
}

static void ring_threads(int patient) {
    capture_ring *r = capture_ring_create(4096);
    REQUIRE(r);
    pthread_t t;
    producer_arg pa = {r, patient};
    REQUIRE(pthread_create(&t, NULL, ring_producer, &pa) == 0);
    float y[333], last = -1;
    uint64_t got = 0;
    int ordered = 1, done = 0;
    while (!done || capture_ring_used(r)) {
        size_t n = capture_ring_read(r, y, 333);
        for (size_t i = 0; i < n; i++) {
            if (!(y[i] > last)) ordered = 0;
            last = y[i];
        }
        got += n;
        if (!done && capture_ring_written(r) + capture_ring_dropped(r) == SEQ_N) done = 1;
    }
    pthread_join(t, NULL);
    got += capture_ring_read(r, y, 333);
    CHECK(ordered);
    CHECK_EQ_INT(got + capture_ring_dropped(r), SEQ_N);
    CHECK_EQ_INT(got, capture_ring_written(r));
    if (patient) {
        /* nothing dropped: every sample arrived, in order, none repeated */
        CHECK_EQ_INT(capture_ring_dropped(r), 0);
        CHECK_EQ_INT(got, SEQ_N);
        CHECK(last == (float)(SEQ_N - 1));
    }
    printf("  %llu samples through, %llu dropped in %llu overruns\n", (unsigned long long)got,
           (unsigned long long)capture_ring_dropped(r),
           (unsigned long long)capture_ring_overruns(r));
    capture_ring_free(r);
}

TEST(capture_ring_two_threads_lossless) { ring_threads(1); }
TEST(capture_ring_two_threads_firehose) { ring_threads(0); }

/* ---- helpers for the SDL tests ---------------------------------------- */

TEST(capture_cli_usage) {
    char *err = NULL;
    CHECK_EQ_INT(test_sh(NULL, &err, "$U record"), 2);
    CHECK_CONTAINS(err, "-o");
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err, "$U record -o /tmp/x.wav --seconds soon"), 2);
    CHECK_CONTAINS(err, "soon");
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err, "$U record -o /tmp/x.wav --seconds 0"), 2);
    CHECK_CONTAINS(err, "--seconds");
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err, "$U record -o /tmp/x.wav --seconds 0.00001"), 2);
    CHECK_CONTAINS(err, "less than one sample");
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err, "$U record -o /tmp/x.wav --device"), 2);
    CHECK_CONTAINS(err, "--device");
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err, "$U record -o /tmp/x.wav --loud"), 2);
    CHECK_CONTAINS(err, "--loud");
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err, "$U --help | grep -q 'record -o FILE.wav'"), 0);
    free(err);
}

#ifndef UNUM_SDL

TEST(capture_without_sdl) {
    char *err = NULL;
    CHECK(!capture_supported());
    CHECK(capture_start(&(capture_config){.path = "/tmp/x.wav"}) == NULL);
    CHECK_ERR("no audio capture");
    CHECK_EQ_INT(test_sh(NULL, &err, "$U record -o /tmp/unum-nosdl.wav --seconds 1"), 1);
    CHECK_CONTAINS(err, "no audio capture");
    free(err);
}

#else

/* 16 kHz espeak-ng speech in *x (n samples); on16 rounds it to the 16-bit
 * grid. Returns 0, or 1 after SKIP-worthy trouble (message in *why). */
static int make_speech(const char *dir, int on16, float **x, size_t *n) {
    char wavp[512], cmd[1024];
    snprintf(wavp, sizeof wavp, "%s/speech.wav", dir);
    snprintf(cmd, sizeof cmd,
             "espeak-ng -w '%s' 'The meeting starts at ten. Please record every word.' "
             ">/dev/null 2>&1",
             wavp);
    if (system(cmd) != 0) return 1;
    wav_audio a;
    if (wav_read_file(wavp, 0, &a) < 0) return 1;
    int rc = resample_to_16k(a.samples, a.n, a.sample_rate, x, n);
    wav_audio_free(&a);
    if (rc < 0 || *n == 0) return 1;
    if (on16)
        for (size_t i = 0; i < *n; i++) {
            long q = lrintf(fmaxf(-1.0f, fminf(1.0f, (*x)[i])) * 32768.0f);
            (*x)[i] = (float)(q > 32767 ? 32767 : q) / 32768.0f;
        }
    return 0;
}

static int write_raw(const char *path, const float *x, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(x, sizeof *x, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

/* Sets up the disk driver reading raw floats from dir/in.raw. */
static void use_disk_driver(const char *dir, const char *delay) {
    char p[512];
    snprintf(p, sizeof p, "%s/in.raw", dir);
    setenv("SDL_AUDIODRIVER", "disk", 1);
    setenv("SDL_DISKAUDIOFILEIN", p, 1);
    setenv("SDL_DISKAUDIODELAY", delay, 1);
}

static void drop_disk_driver(void) {
    unsetenv("SDL_AUDIODRIVER");
    unsetenv("SDL_DISKAUDIOFILEIN");
    unsetenv("SDL_DISKAUDIODELAY");
}

/* out[0..n) is x[0..min(n, nx)) followed by zeros. */
static int same_then_silence(const float *out, size_t n, const float *x, size_t nx) {
    for (size_t i = 0; i < n; i++) {
        float want = i < nx ? x[i] : 0.0f;
        if (out[i] != want) {
            printf("  sample %zu: %.9g, want %.9g\n", i, out[i], want);
            return 0;
        }
    }
    return 1;
}

typedef struct {
    uint64_t n;
    double sum;
} tally;

static void count_samples(void *user, const float *x, size_t n) {
    tally *t = user;
    for (size_t i = 0; i < n; i++) t->sum += x[i];
    t->n += n;
}

/* One recording of the espeak clip through the disk driver, limited to the
 * clip plus half a second; the WAV read back must match sample for sample. */
static void record_exact(wav_encoding enc) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    float *x = NULL;
    size_t nx = 0;
    if (make_speech(dir, enc == WAV_PCM, &x, &nx)) {
        test_tmp_remove(dir);
        SKIP("espeak-ng could not make speech");
    }
    char raw[512], out[512];
    snprintf(raw, sizeof raw, "%s/in.raw", dir);
    snprintf(out, sizeof out, "%s/out.wav", dir);
    REQUIRE(write_raw(raw, x, nx) == 0);
    use_disk_driver(dir, "0");
    tally t = {0, 0};
    capture_config cfg = {.path = out,
                          .encoding = enc,
                          .max_frames = nx + 8000,
                          .listener = count_samples,
                          .listener_user = &t};
    capture *c = capture_start(&cfg);
    if (!c) printf("  %s\n", unum_error());
    REQUIRE(c);
    capture_stats st;
    capture_state s = capture_wait(c, 10000, &st);
    CHECK_EQ_INT(s, CAPTURE_LIMIT);
    CHECK_EQ_INT(capture_close(c, &st), 0);
    CHECK_EQ_INT(st.state, CAPTURE_LIMIT);
    CHECK_EQ_INT(st.frames, nx + 8000);
    CHECK_EQ_INT(st.overruns, 0);
    CHECK_EQ_INT(t.n, nx + 8000);
    wav_audio a;
    REQUIRE(wav_read_file(out, 0, &a) == 0);
    CHECK_EQ_INT(a.sample_rate, 16000);
    CHECK_EQ_INT(a.channels, 1);
    CHECK_EQ_INT(a.encoding, enc);
    CHECK_EQ_INT(a.n, nx + 8000);
    CHECK(same_then_silence(a.samples, a.n, x, nx));
    double sum = 0;
    for (size_t i = 0; i < nx; i++) sum += x[i];
    CHECK_NEAR(t.sum, sum, 1e-6);
    printf("  %zu samples of speech, %s WAV identical\n", nx, enc == WAV_PCM ? "16-bit" : "float");
    wav_audio_free(&a);
    free(x);
    drop_disk_driver();
    test_tmp_remove(dir);
}

/* Paused, nothing more reaches the file or the listener; resumed, it
 * grows again; the file holds exactly the frames counted, the paused span
 * left out. */
TEST(capture_pause_leaves_the_span_out) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    float *x = NULL;
    size_t nx = 0;
    if (make_speech(dir, 1, &x, &nx)) {
        test_tmp_remove(dir);
        SKIP("espeak-ng could not make speech");
    }
    char raw[512], out[512];
    snprintf(raw, sizeof raw, "%s/in.raw", dir);
    snprintf(out, sizeof out, "%s/out.wav", dir);
    REQUIRE(write_raw(raw, x, nx) == 0);
    use_disk_driver(dir, "13"); /* paced: about 5x real time */
    tally t = {0, 0};
    capture *c = capture_start(&(capture_config){.path = out, .listener = count_samples,
                                                 .listener_user = &t});
    REQUIRE(c);
    capture_stats st;
    for (int i = 0; i < 2000; i++)
        if (capture_wait(c, 5, &st) != CAPTURE_RUNNING || st.frames >= 4000) break;
    capture_pause(c, 1);
    uint64_t at_pause = 0; /* what was captured before drains (within seconds) */
    for (int i = 0; i < 30 && (i == 0 || st.frames != at_pause); i++) {
        at_pause = st.frames;
        capture_wait(c, 300, &st);
    }
    capture_wait(c, 1000, &st); /* a second of paused input: about 5 s of audio */
    CHECK_EQ_INT(st.frames, at_pause);
    CHECK_EQ_INT(st.state, CAPTURE_RUNNING);
    capture_pause(c, 0);
    for (int i = 0; i < 2000; i++)
        if (capture_wait(c, 5, &st) != CAPTURE_RUNNING || st.frames >= at_pause + 4000) break;
    CHECK(st.frames >= at_pause + 4000);
    CHECK_EQ_INT(capture_close(c, &st), 0);
    CHECK_EQ_INT(st.overruns, 0);
    CHECK_EQ_INT(t.n, st.frames);
    wav_audio a;
    REQUIRE(wav_read_file(out, 0, &a) == 0);
    CHECK_EQ_INT(a.n, st.frames);
    printf("  %llu frames before the pause, %llu in all\n", (unsigned long long)at_pause,
           (unsigned long long)st.frames);
    wav_audio_free(&a);
    free(x);
    drop_disk_driver();
    test_tmp_remove(dir);
}

TEST(capture_disk_pcm16_exact) { record_exact(WAV_PCM); }
TEST(capture_disk_float_exact) { record_exact(WAV_FLOAT); }

/* Amplitude of the f Hz component of x (rate 16 kHz), by correlation. */
static double tone_amp(const float *x, size_t n, double f) {
    double re = 0, im = 0;
    for (size_t i = 0; i < n; i++) {
        double ph = 2 * M_PI * f * (double)i / 16000;
        re += x[i] * cos(ph);
        im += x[i] * sin(ph);
    }
    return 2 * sqrt(re * re + im * im) / (double)n;
}

/* A device running at 48 kHz: the writer converts to 16 kHz. A 1 kHz tone
 * keeps its amplitude; an 11 kHz one (above the 8 kHz Nyquist limit) must
 * not come back as its 5 kHz alias: stated level -80 dB of its amplitude
 * (libsamplerate's medium sinc converter). */
TEST(capture_disk_48k_is_resampled_without_aliasing) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    size_t n_in = 48000 * 3;
    float *x = xmalloc(sizeof(float) * n_in);
    for (size_t i = 0; i < n_in; i++)
        x[i] = (float)(0.4 * sin(2 * M_PI * 1000.0 * (double)i / 48000) +
                       0.4 * sin(2 * M_PI * 11000.0 * (double)i / 48000));
    char raw[512], out[512];
    snprintf(raw, sizeof raw, "%s/in.raw", dir);
    snprintf(out, sizeof out, "%s/out.wav", dir);
    REQUIRE(write_raw(raw, x, n_in) == 0);
    use_disk_driver(dir, "0");
    capture_config cfg = {
        .path = out, .encoding = WAV_FLOAT, .max_frames = 32000, .device_rate = 48000};
    capture *c = capture_start(&cfg);
    if (!c) printf("  %s\n", unum_error());
    REQUIRE(c);
    capture_stats st;
    CHECK_EQ_INT(capture_wait(c, 20000, &st), CAPTURE_LIMIT);
    CHECK_EQ_INT(capture_close(c, &st), 0);
    CHECK_EQ_INT(st.frames, 32000);
    wav_audio a;
    REQUIRE(wav_read_file(out, 0, &a) == 0);
    CHECK_EQ_INT(a.sample_rate, 16000);
    CHECK_EQ_INT(a.n, 32000);
    /* skip the converter's start-up, measure over 1.5 s */
    const float *y = a.samples + 4000;
    double one = tone_amp(y, 24000, 1000), alias = tone_amp(y, 24000, 5000);
    printf("  1 kHz at %.4f (sent 0.4); 5 kHz alias at %.1f dB\n", one,
           20 * log10(alias / 0.4 + 1e-12));
    CHECK_NEAR(one, 0.4, 0.01);
    CHECK(alias < 0.4 * 1e-4);
    wav_audio_free(&a);
    free(x);
    drop_disk_driver();
    test_tmp_remove(dir);
}

TEST(capture_list_disk) {
    setenv("SDL_AUDIODRIVER", "disk", 1);
    char **names;
    int n;
    REQUIRE(capture_list_devices(&names, &n) == 0);
    CHECK(n >= 1);
    if (n >= 1) CHECK_STR(names[0], "System audio capture device");
    capture_names_free(names, n);
    drop_disk_driver();
}

/* A removal event for our device mid-recording: the writer stops with
 * CAPTURE_REMOVED, the message names the device, and the file is a valid
 * WAV holding what came before (a prefix of the input). */
TEST(capture_disk_device_removed) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    float *x = NULL;
    size_t nx = 0;
    if (make_speech(dir, 1, &x, &nx)) {
        test_tmp_remove(dir);
        SKIP("espeak-ng could not make speech");
    }
    char raw[512], out[512];
    snprintf(raw, sizeof raw, "%s/in.raw", dir);
    snprintf(out, sizeof out, "%s/out.wav", dir);
    REQUIRE(write_raw(raw, x, nx) == 0);
    /* paced (1024 samples per 13 ms, about 5x real time) so that the event
     * lands in the middle of the speech */
    use_disk_driver(dir, "13");
    capture *c = capture_start(&(capture_config){.path = out, .device = NULL});
    REQUIRE(c);
    capture_stats st;
    for (int i = 0; i < 2000; i++)
        if (capture_wait(c, 5, &st) != CAPTURE_RUNNING || st.frames >= 4000) break;
    CHECK_EQ_INT(st.state, CAPTURE_RUNNING);
    uint64_t before = st.frames;
    /* the only audio device open in this process is ours */
    SDL_Event ev;
    SDL_zero(ev);
    ev.type = SDL_AUDIODEVICEREMOVED;
    ev.adevice.iscapture = 1;
    for (SDL_AudioDeviceID id = 1; id < 64; id++)
        if (SDL_GetAudioDeviceStatus(id) == SDL_AUDIO_PLAYING) ev.adevice.which = id;
    REQUIRE(ev.adevice.which != 0);
    REQUIRE(SDL_PushEvent(&ev) == 1);
    CHECK_EQ_INT(capture_wait(c, 10000, &st), CAPTURE_REMOVED);
    CHECK_CONTAINS(st.error, "default capture device");
    CHECK_CONTAINS(st.error, "removed");
    /* nothing more reaches the file after the end */
    uint64_t end_frames = st.frames;
    capture_wait(c, 50, &st);
    CHECK_EQ_INT(st.frames, end_frames);
    CHECK_EQ_INT(capture_close(c, &st), 0);
    CHECK_EQ_INT(st.state, CAPTURE_REMOVED);
    wav_audio a;
    REQUIRE(wav_read_file(out, 0, &a) == 0); /* header finalized: not truncated */
    CHECK_EQ_INT(a.n, end_frames);
    CHECK(a.n >= before && a.n >= 4000 && a.n < nx);
    CHECK(same_then_silence(a.samples, a.n, x, nx));
    printf("  removed after %.2f s (%llu frames before the event)\n", a.n / 16000.0,
           (unsigned long long)before);
    wav_audio_free(&a);
    free(x);
    drop_disk_driver();
    test_tmp_remove(dir);
}

TEST(capture_open_failures_named) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    char raw[512], out[512];
    snprintf(raw, sizeof raw, "%s/in.raw", dir);
    snprintf(out, sizeof out, "%s/out.wav", dir);
    float z[16] = {0};
    REQUIRE(write_raw(raw, z, 16) == 0);
    use_disk_driver(dir, "0");
    /* the disk driver takes an unknown device name as its input file */
    CHECK(capture_start(&(capture_config){.path = out, .device = "/nonexistent/mic"}) == NULL);
    CHECK_ERR("/nonexistent/mic");
    CHECK(access(out, F_OK) != 0);
    /* an output file that cannot be created names the file */
    CHECK(capture_start(&(capture_config){.path = "/nonexistent/dir/o.wav"}) == NULL);
    CHECK_ERR("/nonexistent/dir/o.wav");
    /* no such audio driver at all */
    setenv("SDL_AUDIODRIVER", "no-such-driver", 1);
    CHECK(capture_start(&(capture_config){.path = out}) == NULL);
    CHECK_ERR("no-such-driver");
    drop_disk_driver();
    test_tmp_remove(dir);
}

/* The command as a user drives it, under the disk driver. */
TEST(capture_cli_record) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    float *x = NULL;
    size_t nx = 0;
    if (make_speech(dir, 1, &x, &nx)) {
        test_tmp_remove(dir);
        SKIP("espeak-ng could not make speech");
    }
    char raw[512];
    snprintf(raw, sizeof raw, "%s/in.raw", dir);
    REQUIRE(write_raw(raw, x, nx) == 0);
    char *out = NULL, *err = NULL;
    const char *env = "SDL_AUDIODRIVER=disk SDL_DISKAUDIODELAY=0";

    CHECK_EQ_INT(test_sh(&out, &err, "%s $U record --list-devices", env), 0);
    CHECK_CONTAINS(out, "System audio capture device\n");
    free(out);
    free(err);

    CHECK_EQ_INT(
        test_sh(NULL, &err, "%s $U record -o %s/o.wav --device %s/missing.raw", env, dir, dir), 1);
    CHECK_CONTAINS(err, "missing.raw");
    free(err);

    /* --seconds: exactly that many samples, the clip then silence */
    CHECK_EQ_INT(test_sh(NULL, &err,
                         "%s SDL_DISKAUDIOFILEIN=%s $U record -o %s/o.wav --seconds 4.5", env, raw,
                         dir),
                 0);
    CHECK_CONTAINS(err, "recorded 4.50 s");
    free(err);
    char path[600];
    snprintf(path, sizeof path, "%s/o.wav", dir);
    wav_audio a;
    REQUIRE(wav_read_file(path, 0, &a) == 0);
    CHECK_EQ_INT(a.n, 72000);
    CHECK_EQ_INT(a.bits, 16);
    CHECK(same_then_silence(a.samples, a.n, x, nx));
    wav_audio_free(&a);

    /* Ctrl-C stops cleanly and keeps a valid file (paced at about 5x real
     * time so the recording is still running when the signal comes) */
    int rc = test_sh(NULL, &err,
                     "SDL_AUDIODRIVER=disk SDL_DISKAUDIODELAY=13 SDL_DISKAUDIOFILEIN=%s "
                     "$U record -o %s/i.wav --seconds 60 & p=$!; i=0; "
                     "while [ \"$(stat -c %%s %s/i.wav 2>/dev/null || echo 0)\" -le 8192 ] && "
                     "[ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; "
                     "kill -INT $p; wait $p",
                     raw, dir, dir);
    CHECK_EQ_INT(rc, 0);
    if (rc) printf("  %s\n", err);
    CHECK_CONTAINS(err, "recorded");
    free(err);
    snprintf(path, sizeof path, "%s/i.wav", dir);
    REQUIRE(wav_read_file(path, 0, &a) == 0);
    CHECK(a.n > 0 && a.n < 60 * 16000);
    CHECK(same_then_silence(a.samples, a.n, x, nx));
    printf("  Ctrl-C after %.2f s\n", a.n / 16000.0);
    wav_audio_free(&a);

    /* A crash (SIGKILL) leaves a valid WAV whose header covers all but at
     * most about a second (plus one writer block) of what reached the file */
    rc = test_sh(NULL, NULL,
                 "SDL_AUDIODRIVER=disk SDL_DISKAUDIODELAY=13 SDL_DISKAUDIOFILEIN=%s "
                 "$U record -o %s/k.wav --seconds 60 & p=$!; i=0; "
                 "while [ \"$(stat -c %%s %s/k.wav 2>/dev/null || echo 0)\" -le 100000 ] && "
                 "[ $i -lt 400 ]; do sleep 0.02; i=$((i+1)); done; "
                 "kill -KILL $p; wait $p",
                 raw, dir, dir);
    CHECK_EQ_INT(rc, 137);
    snprintf(path, sizeof path, "%s/k.wav", dir);
    size_t bytes = 0;
    char *img = unum_read_file(path, 64u << 20, &bytes);
    REQUIRE(img);
    free(img);
    REQUIRE(wav_read_file(path, 0, &a) == 0);
    uint64_t on_disk = (bytes - 44) / 2;
    printf("  SIGKILL: %llu frames on disk, %zu in the header\n", (unsigned long long)on_disk, a.n);
    CHECK(a.n >= 16000 && a.n <= on_disk && on_disk - a.n <= 16000 + 1600);
    CHECK(same_then_silence(a.samples, a.n, x, nx));
    wav_audio_free(&a);
    free(x);
    test_tmp_remove(dir);
}

#endif /* UNUM_SDL */
