/* test_audio.c - audio/: WAV reading (every encoding, layout and a catalogue
 * of hostile headers) and writing, resampling to 16 kHz (tones keep frequency
 * and amplitude, no aliasing), Whisper's log-mel against the torch reference
 * goldens in tests/golden/mel (made by tests/reference/mel_ref.py), and the
 * voice activity detector on synthetic bursts and on an espeak-ng clip. */
#include "engine/mel.h"
#include "audio/load.h"
#include "audio/resample.h"
#include "tests/test.h"
#include "engine/base/util.h"
#include "audio/vad.h"
#include "audio/wav.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>

/* Golden comparison tolerance on the normalised log-mel ((log10 + 4) / 4). */
#define MEL_TOL 1e-4

/* ------------------------------------------------------------ WAV images */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void put16(bytes *b, unsigned v) {
    uint8_t s[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    put(b, s, 2);
}
static void put32(bytes *b, uint32_t v) {
    uint8_t s[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, s, 4);
}
static void put_chunk(bytes *b, const char *id, const void *body, uint32_t n) {
    put(b, id, 4);
    put32(b, n);
    put(b, body, n);
    if (n & 1) put(b, "", 1);
}

typedef struct {
    unsigned tag, channels, rate, bits, block_align; /* block_align 0: computed */
    int extensible;                                  /* tag is then the subformat */
    const char *guid_tail;                           /* NULL: the standard one */
} fmt_spec;

static void put_fmt(bytes *b, fmt_spec f) {
    bytes body = {0};
    unsigned ba = f.block_align ? f.block_align : f.channels * f.bits / 8;
    put16(&body, f.extensible ? 0xFFFE : f.tag);
    put16(&body, f.channels);
    put32(&body, f.rate);
    put32(&body, f.rate * ba);
    put16(&body, ba);
    put16(&body, f.bits);
    if (f.extensible) {
        static const uint8_t tail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                         0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};
        put16(&body, 22);
        put16(&body, f.bits);
        put32(&body, 0x3); /* FL | FR */
        put16(&body, f.tag);
        put(&body, f.guid_tail ? (const uint8_t *)f.guid_tail : tail, 14);
    }
    put_chunk(b, "fmt ", body.p, (uint32_t)body.n);
    free(body.p);
}

/* RIFF header + LIST (odd size, padded) + fmt + data. */
static bytes make_wav(fmt_spec f, const void *data, uint32_t data_len) {
    bytes b = {0};
    put(&b, "RIFF", 4);
    put32(&b, 0); /* patched below */
    put(&b, "WAVE", 4);
    put_chunk(&b, "LIST", "INFOISFTx", 9);
    put_fmt(&b, f);
    put_chunk(&b, "data", data, data_len);
    uint32_t riff = (uint32_t)b.n - 8;
    memcpy(b.p + 4, &riff, 4);
    return b;
}

/* Reads an image expecting failure with `text` in the message. */
static void expect_bad(bytes b, int flags, const char *text) {
    wav_audio a;
    CHECK_EQ_INT(wav_read_buffer(b.p, b.n, "bad.wav", flags, &a), -1);
    CHECK_ERR("bad.wav");
    CHECK_ERR(text);
    CHECK(a.samples == NULL);
    free(b.p);
}

/* ------------------------------------------------------------ WAV tests */

TEST(wav_pcm16_roundtrip_mono_and_stereo) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    char *path = unum_path_join(dir, "a.wav");
    float x[2 * 100];
    for (int i = 0; i < 200; i++) x[i] = (float)((i * 37 % 201) - 100) / 128.0f;
    REQUIRE(wav_write_file(path, x, 200, 22050, 1, WAV_PCM) == 0);
    wav_audio a;
    REQUIRE(wav_read_file(path, 0, &a) == 0);
    CHECK_EQ_INT(a.n, 200);
    CHECK_EQ_INT(a.sample_rate, 22050);
    CHECK_EQ_INT(a.bits, 16);
    CHECK_EQ_INT(a.encoding, WAV_PCM);
    int same = 1;
    for (int i = 0; i < 200; i++) same &= a.samples[i] == x[i]; /* k/128 is exact in 16 bits */
    CHECK(same);
    wav_audio_free(&a);
    unlink(path); /* the writer never replaces a file */
    REQUIRE(wav_write_file(path, x, 100, 8000, 2, WAV_PCM) == 0);
    REQUIRE(wav_read_file(path, 0, &a) == 0);
    CHECK_EQ_INT(a.n, 100);
    CHECK_EQ_INT(a.channels, 2);
    for (int i = 0; i < 100; i++) CHECK_NEAR(a.samples[i], 0.5f * (x[2 * i] + x[2 * i + 1]), 1e-6);
    wav_audio_free(&a);
    /* clipping */
    float loud[3] = {1.5f, -1.5f, 1.0f};
    unlink(path);
    REQUIRE(wav_write_file(path, loud, 3, 16000, 1, WAV_PCM) == 0);
    REQUIRE(wav_read_file(path, 0, &a) == 0);
    CHECK_NEAR(a.samples[0], 32767.0 / 32768.0, 0);
    CHECK_NEAR(a.samples[1], -1.0, 0);
    CHECK_NEAR(a.samples[2], 32767.0 / 32768.0, 0);
    wav_audio_free(&a);
    free(path);
    test_tmp_remove(dir);
}

TEST(wav_second_writer_leaves_a_live_recording_alone) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    char *path = unum_path_join(dir, "live.wav");
    wav_writer *a = wav_writer_open(path, 16000, 1, WAV_PCM);
    REQUIRE(a);
    float x[1600];
    for (int i = 0; i < 1600; i++) x[i] = (float)(i % 100) / 200.0f;
    REQUIRE(wav_writer_write(a, x, 1600) == 0);
    REQUIRE(wav_writer_finalize(a) == 0);
    /* a second writer is refused without touching the file */
    CHECK(wav_writer_open(path, 16000, 1, WAV_PCM) == NULL);
    CHECK_ERR("File exists");
    REQUIRE(wav_writer_write(a, x, 1600) == 0);
    CHECK(wav_writer_close(a) == 0);
    wav_audio in;
    REQUIRE(wav_read_file(path, 0, &in) == 0);
    CHECK_EQ_INT(in.n, 3200);
    CHECK_NEAR(in.samples[3199], x[1599], 1.0 / 32768);
    wav_audio_free(&in);
    free(path);
    test_tmp_remove(dir);
}

/* Recordings are never overwritten: the writer creates its file
 * exclusively, private to the user, and two recordings started in the same
 * second (the same name stem) both survive, each in its own file. */
TEST(wav_writer_never_overwrites_and_unique_names_do_not_collide) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    float x[800];
    for (int i = 0; i < 800; i++) x[i] = (float)(i % 50) / 100.0f;
    wav_writer *a = wav_writer_create_unique(dir, "rec-20260101-120000", 16000, 1, WAV_PCM);
    wav_writer *b = wav_writer_create_unique(dir, "rec-20260101-120000", 16000, 1, WAV_PCM);
    REQUIRE(a && b);
    char *pa = xstrdup(wav_writer_path(a)), *pb = xstrdup(wav_writer_path(b));
    CHECK(strcmp(pa, pb) != 0);
    CHECK_CONTAINS(pa, "/rec-20260101-120000.wav");
    CHECK_CONTAINS(pb, "/rec-20260101-120000-2.wav");
    REQUIRE(wav_writer_write(a, x, 800) == 0);
    REQUIRE(wav_writer_write(b, x, 400) == 0);
    CHECK(wav_writer_close(a) == 0);
    CHECK(wav_writer_close(b) == 0);
    struct stat sb;
    CHECK(stat(pa, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    /* a finished file is not reopened for writing either */
    CHECK(wav_writer_open(pa, 16000, 1, WAV_PCM) == NULL);
    CHECK_ERR(pa);
    wav_audio ra, rb;
    REQUIRE(wav_read_file(pa, 0, &ra) == 0);
    REQUIRE(wav_read_file(pb, 0, &rb) == 0);
    CHECK_EQ_INT(ra.n, 800);
    CHECK_EQ_INT(rb.n, 400);
    wav_audio_free(&ra);
    wav_audio_free(&rb);
    free(pa);
    free(pb);
    test_tmp_remove(dir);
}

TEST(wav_float32_roundtrip_and_finalize_midway) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    char *path = unum_path_join(dir, "f.wav");
    float x[3 * 50];
    for (int i = 0; i < 150; i++) x[i] = sinf(i * 0.1f) * 0.7f;
    wav_writer *w = wav_writer_open(path, 48000, 3, WAV_FLOAT);
    REQUIRE(w);
    REQUIRE(wav_writer_write(w, x, 20) == 0);
    REQUIRE(wav_writer_finalize(w) == 0);
    wav_audio a;
    REQUIRE(wav_read_file(path, 0, &a) == 0); /* valid while still open */
    CHECK_EQ_INT(a.n, 20);
    wav_audio_free(&a);
    REQUIRE(wav_writer_write(w, x + 60, 30) == 0);
    CHECK_EQ_INT(wav_writer_frames(w), 50);
    REQUIRE(wav_writer_close(w) == 0);
    REQUIRE(wav_read_file(path, 0, &a) == 0);
    CHECK_EQ_INT(a.n, 50);
    CHECK_EQ_INT(a.channels, 3);
    CHECK_EQ_INT(a.sample_rate, 48000);
    CHECK_EQ_INT(a.encoding, WAV_FLOAT);
    for (int i = 0; i < 50; i++)
        CHECK_NEAR(a.samples[i], (x[3 * i] + x[3 * i + 1] + x[3 * i + 2]) / 3.0f, 1e-6);
    wav_audio_free(&a);
    /* an unfinalized header (as a crash leaves it): data size 0 -> empty,
     * never garbage */
    free(path);
    path = unum_path_join(dir, "g.wav");
    w = wav_writer_open(path, 16000, 1, WAV_PCM);
    REQUIRE(w);
    REQUIRE(wav_writer_write(w, x, 10) == 0);
    fflush(NULL);
    REQUIRE(wav_read_file(path, 0, &a) == 0);
    CHECK_EQ_INT(a.n, 0);
    wav_audio_free(&a);
    wav_writer_close(w);
    CHECK(wav_writer_open("/nonexistent-dir/x.wav", 16000, 1, WAV_PCM) == NULL);
    CHECK_ERR("/nonexistent-dir/x.wav");
    free(path);
    test_tmp_remove(dir);
}

/* One frame of known values in every PCM/float encoding and layout. */
TEST(wav_encodings_and_layouts) {
    const double want[2] = {0.5, -0.25};
    struct {
        fmt_spec f;
    } cases[] = {
        {{1, 1, 8000, 8, 0, 0, NULL}},   {{1, 1, 8000, 16, 0, 0, NULL}},
        {{1, 1, 8000, 24, 0, 0, NULL}},  {{1, 1, 8000, 32, 0, 0, NULL}},
        {{3, 1, 8000, 32, 0, 0, NULL}},  {{1, 2, 44100, 24, 0, 1, NULL}},
        {{3, 2, 96000, 32, 0, 1, NULL}}, {{1, 6, 11025, 16, 0, 0, NULL}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        fmt_spec f = cases[c].f;
        bytes d = {0};
        for (int i = 0; i < 2; i++) { /* 2 frames */
            for (unsigned ch = 0; ch < f.channels; ch++) {
                /* channel values average to want[i]: v + (ch odd ? -0.125 : +0.125)
                 * paired; with an even count the average is exact */
                double v = want[i];
                if (f.channels > 1) v += (ch & 1) ? -0.125 : 0.125;
                if (f.tag == 3) {
                    float fv = (float)v;
                    put(&d, &fv, 4);
                } else if (f.bits == 8) {
                    uint8_t u = (uint8_t)(128 + v * 128);
                    put(&d, &u, 1);
                } else if (f.bits == 16) {
                    put16(&d, (unsigned)(uint16_t)(int16_t)(v * 32768));
                } else if (f.bits == 24) {
                    int32_t q = (int32_t)(v * 8388608);
                    uint8_t s[3] = {(uint8_t)q, (uint8_t)(q >> 8), (uint8_t)(q >> 16)};
                    put(&d, s, 3);
                } else {
                    put32(&d, (uint32_t)(int32_t)(v * 2147483648.0));
                }
            }
        }
        bytes b = make_wav(f, d.p, (uint32_t)d.n);
        wav_audio a;
        if (wav_read_buffer(b.p, b.n, "enc.wav", 0, &a) != 0) {
            test_fail(__FILE__, __LINE__, "case %zu: %s", c, unum_error());
        } else {
            CHECK_EQ_INT(a.n, 2);
            CHECK_EQ_INT(a.channels, f.channels);
            CHECK_EQ_INT(a.sample_rate, f.rate);
            CHECK_EQ_INT(a.bits, f.bits);
            CHECK_EQ_INT(a.extensible, f.extensible);
            CHECK_EQ_INT(a.encoding, f.tag == 3 ? WAV_FLOAT : WAV_PCM);
            CHECK_NEAR(a.samples[0], want[0], 1e-6);
            CHECK_NEAR(a.samples[1], want[1], 1e-6);
        }
        wav_audio_free(&a);
        free(b.p);
        free(d.p);
    }
}

TEST(wav_chunk_walk_padding_and_order) {
    /* data before fmt, an odd-sized unknown chunk in between, trailing junk
     * shorter than a chunk header, and an odd data size with a missing final
     * pad byte */
    int16_t s[3] = {16384, -16384, 8192};
    bytes b = {0};
    put(&b, "RIFF", 4);
    put32(&b, 0xFFFFFFFF); /* a streaming writer's RIFF size: ignored */
    put(&b, "WAVE", 4);
    put_chunk(&b, "junk", "abc", 3);
    put_chunk(&b, "data", s, 6);
    put_chunk(&b, "cue ", "12345", 5);
    put_fmt(&b, (fmt_spec){1, 1, 16000, 16, 0, 0, NULL});
    put(&b, "xyz", 3);
    wav_audio a;
    REQUIRE(wav_read_buffer(b.p, b.n, "walk.wav", 0, &a) == 0);
    CHECK_EQ_INT(a.n, 3);
    CHECK_NEAR(a.samples[2], 0.25, 0);
    wav_audio_free(&a);
    free(b.p);
    /* 8-bit mono with odd data length, file ends without the pad byte */
    b = (bytes){0};
    put(&b, "RIFF", 4);
    put32(&b, 0);
    put(&b, "WAVE", 4);
    put_fmt(&b, (fmt_spec){1, 1, 8000, 8, 0, 0, NULL});
    put(&b, "data", 4);
    put32(&b, 3);
    put(&b, "\x80\xc0\x40", 3);
    REQUIRE(wav_read_buffer(b.p, b.n, "odd.wav", 0, &a) == 0);
    CHECK_EQ_INT(a.n, 3);
    CHECK_NEAR(a.samples[1], 0.5, 0);
    CHECK_NEAR(a.samples[2], -0.5, 0);
    wav_audio_free(&a);
    free(b.p);
}

TEST(wav_float_non_finite_become_zero) {
    float d[4] = {0.25f, NAN, INFINITY, -INFINITY};
    bytes b = make_wav((fmt_spec){3, 1, 16000, 32, 0, 0, NULL}, d, sizeof d);
    wav_audio a;
    REQUIRE(wav_read_buffer(b.p, b.n, "nan.wav", 0, &a) == 0);
    CHECK_EQ_INT(a.n, 4);
    CHECK_NEAR(a.samples[0], 0.25, 0);
    CHECK(a.samples[1] == 0 && a.samples[2] == 0 && a.samples[3] == 0);
    wav_audio_free(&a);
    free(b.p);
}

TEST(wav_truncated_data) {
    int16_t s[100] = {0};
    for (int i = 0; i < 100; i++) s[i] = (int16_t)(i * 100);
    bytes b = make_wav((fmt_spec){1, 2, 16000, 16, 0, 0, NULL}, s, sizeof s);
    b.n -= 51; /* cut mid-frame */
    wav_audio a;
    CHECK_EQ_INT(wav_read_buffer(b.p, b.n, "cut.wav", 0, &a), -1);
    CHECK_ERR("cut.wav: data chunk declares 200 bytes but only 149 remain");
    CHECK_ERR("truncated");
    REQUIRE(wav_read_buffer(b.p, b.n, "cut.wav", WAV_ALLOW_TRUNCATED, &a) == 0);
    CHECK(a.truncated);
    CHECK_EQ_INT(a.n, 37); /* whole stereo frames in 149 bytes */
    CHECK_NEAR(a.samples[36], (72 * 100 + 73 * 100) / 2.0 / 32768.0, 1e-6);
    wav_audio_free(&a);
    free(b.p);
}

TEST(wav_hostile_headers) {
    int16_t s[4] = {1, 2, 3, 4};
    fmt_spec ok = {1, 1, 16000, 16, 0, 0, NULL};
    bytes b;

    b = (bytes){0};
    put(&b, "RIFF\0\0\0\0WAV", 11);
    expect_bad(b, 0, "too short");
    b = make_wav(ok, s, 8);
    memcpy(b.p, "RIFX", 4);
    expect_bad(b, 0, "RIFX files are not supported");
    b = make_wav(ok, s, 8);
    memcpy(b.p, "OggS", 4);
    expect_bad(b, 0, "not a RIFF file");
    b = make_wav(ok, s, 8);
    memcpy(b.p + 8, "AVI ", 4);
    expect_bad(b, 0, "not 'WAVE'");

    fmt_spec f = ok;
    f.channels = 0;
    f.block_align = 2;
    expect_bad(make_wav(f, s, 8), 0, "fmt channel count is 0");
    f = ok;
    f.rate = 0;
    expect_bad(make_wav(f, s, 8), 0, "fmt sample rate is 0");
    f = ok;
    f.rate = 0xFFFFFFFF;
    expect_bad(make_wav(f, s, 8), 0, "sample rate 4294967295 Hz is out of range");
    f = ok;
    f.bits = 12;
    f.block_align = 2;
    expect_bad(make_wav(f, s, 8), 0, "bits per sample 12");
    f = ok;
    f.tag = 3;
    f.bits = 16;
    expect_bad(make_wav(f, s, 8), 0, "bits per sample 16 is not supported for float");
    f = ok;
    f.tag = 0x55; /* MP3 */
    expect_bad(make_wav(f, s, 8), 0, "format tag 0x0055");
    f = ok;
    f.block_align = 7;
    expect_bad(make_wav(f, s, 8), 0, "block align 7");
    f = ok;
    f.extensible = 1;
    f.guid_tail = "ABCDEFGHIJKLMN";
    expect_bad(make_wav(f, s, 8), 0, "subformat GUID");

    /* fmt chunk too small */
    b = (bytes){0};
    put(&b, "RIFF\0\0\0\0WAVE", 12);
    put_chunk(&b, "fmt ", "\1\0\1\0\x80\x3e\0\0", 8);
    put_chunk(&b, "data", s, 8);
    expect_bad(b, 0, "fmt chunk is 8 bytes");
    /* extensible fmt too small */
    b = (bytes){0};
    put(&b, "RIFF\0\0\0\0WAVE", 12);
    put_chunk(&b, "fmt ", "\xfe\xff\1\0\x80\x3e\0\0\0\x7d\0\0\2\0\x10\0\0\0", 18);
    put_chunk(&b, "data", s, 8);
    expect_bad(b, 0, "needs 40");
    /* missing data / missing fmt / two fmt */
    b = (bytes){0};
    put(&b, "RIFF\0\0\0\0WAVE", 12);
    put_fmt(&b, ok);
    expect_bad(b, 0, "no data chunk");
    b = (bytes){0};
    put(&b, "RIFF\0\0\0\0WAVE", 12);
    put_chunk(&b, "data", s, 8);
    expect_bad(b, 0, "no fmt chunk");
    b = (bytes){0};
    put(&b, "RIFF\0\0\0\0WAVE", 12);
    put_fmt(&b, ok);
    put_fmt(&b, ok);
    put_chunk(&b, "data", s, 8);
    expect_bad(b, 0, "second fmt chunk");
    /* a huge chunk size before the audio */
    b = (bytes){0};
    put(&b, "RIFF\0\0\0\0WAVE", 12);
    put(&b, "LIST", 4);
    put32(&b, 0xFFFFFFF0);
    put(&b, "INFO", 4);
    put_fmt(&b, ok);
    put_chunk(&b, "data", s, 8);
    expect_bad(b, 0, "chunk 'LIST' at offset 12 declares 4294967280 bytes");
    /* a huge data size: truncated, and with the flag just what is there */
    b = (bytes){0};
    put(&b, "RIFF\0\0\0\0WAVE", 12);
    put_fmt(&b, ok);
    put(&b, "data", 4);
    put32(&b, 0xFFFFFFFF);
    put(&b, s, 8);
    wav_audio a;
    REQUIRE(wav_read_buffer(b.p, b.n, "huge.wav", WAV_ALLOW_TRUNCATED, &a) == 0);
    CHECK_EQ_INT(a.n, 4);
    CHECK(a.truncated);
    wav_audio_free(&a);
    expect_bad(b, 0, "data chunk declares 4294967295 bytes but only 8 remain");
    /* a file that is missing */
    CHECK_EQ_INT(wav_read_file("/nonexistent/x.wav", 0, &a), -1);
    CHECK_ERR("/nonexistent/x.wav");
}

/* ------------------------------------------------------------ resampling */

/* Amplitude of the component at freq Hz (least squares over whole periods
 * of the middle of x, away from the filter's edge effects). */
static double tone_amplitude(const float *x, size_t n, double freq, double rate) {
    size_t a = n / 8, len = n * 3 / 4;
    double re = 0, im = 0;
    for (size_t i = a; i < a + len; i++) {
        double ph = 2 * M_PI * freq * (double)i / rate;
        re += x[i] * cos(ph);
        im += x[i] * sin(ph);
    }
    return 2.0 * sqrt(re * re + im * im) / (double)len;
}

/* Frequency from zero crossings over the middle of x. */
static double zc_frequency(const float *x, size_t n, double rate) {
    size_t a = n / 8, b = n - n / 8, first = 0, last = 0;
    int count = 0;
    for (size_t i = a + 1; i < b; i++) {
        if (x[i - 1] < 0 && x[i] >= 0) {
            if (!count) first = i;
            last = i;
            count++;
        }
    }
    return count > 1 ? (count - 1) * rate / (double)(last - first) : 0;
}

static float *tone(int rate, double freq, double amp, double seconds, size_t *n) {
    *n = (size_t)(rate * seconds);
    float *x = xmalloc(*n * sizeof *x);
    for (size_t i = 0; i < *n; i++) x[i] = (float)(amp * sin(2 * M_PI * freq * (double)i / rate));
    return x;
}

TEST(resample_tones_keep_frequency_and_amplitude) {
    struct {
        int rate;
        double freq;
    } cases[] = {{44100, 1000}, {22050, 440}, {8000, 440}, {48000, 3150}, {8000, 3000}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t n, m;
        float *x = tone(cases[c].rate, cases[c].freq, 0.5, 1.0, &n), *y;
        REQUIRE(resample_to_16k(x, n, cases[c].rate, &y, &m) == 0);
        CHECK(labs((long)m - 16000) <= 2);
        double f = zc_frequency(y, m, 16000), amp = tone_amplitude(y, m, cases[c].freq, 16000);
        if (fabs(f - cases[c].freq) > cases[c].freq * 0.002 || fabs(amp - 0.5) > 0.005)
            test_fail(__FILE__, __LINE__, "%d Hz, %.0f Hz tone: got %.2f Hz amplitude %.5f",
                      cases[c].rate, cases[c].freq, f, amp);
        free(x);
        free(y);
    }
}

TEST(resample_rejects_above_nyquist_and_identity) {
    /* 12 kHz at 44.1 kHz cannot be represented at 16 kHz: it must be
     * filtered out, not folded to 4 kHz */
    size_t n, m;
    float *x = tone(44100, 12000, 0.5, 1.0, &n), *y;
    REQUIRE(resample_to_16k(x, n, 44100, &y, &m) == 0);
    double rms = 0;
    for (size_t i = m / 8; i < m - m / 8; i++) rms += (double)y[i] * y[i];
    rms = sqrt(rms / (double)(m - m / 4));
    CHECK(rms < 0.5 * 1e-3); /* below -60 dB relative to the tone */
    CHECK(tone_amplitude(y, m, 4000, 16000) < 1e-4);
    free(x);
    free(y);
    x = tone(16000, 1234, 0.3, 0.1, &n);
    REQUIRE(resample_to_16k(x, n, 16000, &y, &m) == 0);
    CHECK_EQ_INT(m, n);
    CHECK(memcmp(x, y, n * sizeof *x) == 0);
    free(x);
    free(y);
    CHECK_EQ_INT(resample_to_16k(NULL, 0, 44100, &y, &m), 0);
    CHECK_EQ_INT(m, 0);
    CHECK_EQ_INT(resample(NULL, 0, 0, 16000, &y, &m), -1);
    CHECK_ERR("positive");
    CHECK_EQ_INT(resample(NULL, 0, 16, 16000, &y, &m), -1);
    CHECK_ERR("ratio");
}

/* ------------------------------------------------------------ log-mel */

static float *read_golden(const char *name, size_t count) {
    char *rel = unum_path_join("tests/golden/mel", name);
    char *path = unum_path_join(test_root(), rel);
    size_t len = 0;
    char *buf = unum_read_file(path, 64 << 20, &len);
    free(rel);
    free(path);
    if (!buf) {
        test_fail(__FILE__, __LINE__, "%s", unum_error());
        return NULL;
    }
    if (len != count * sizeof(float)) {
        test_fail(__FILE__, __LINE__, "%s: %zu bytes, expected %zu", name, len, count * 4);
        free(buf);
        return NULL;
    }
    return (float *)buf;
}

static int read_golden_wav(const char *name, wav_audio *a) {
    char *rel = unum_path_join("tests/golden/mel", name);
    char *path = unum_path_join(test_root(), rel);
    int rc = wav_read_file(path, 0, a);
    if (rc) test_fail(__FILE__, __LINE__, "%s", unum_error());
    free(rel);
    free(path);
    return rc;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d; /* NaN propagates */
    }
    return m;
}

TEST(mel_filters_match_librosa_formula) {
    int sizes[2] = {80, 128};
    for (int s = 0; s < 2; s++) {
        mel_ctx *m = mel_create(sizes[s]);
        REQUIRE(m);
        char name[32];
        snprintf(name, sizeof name, "filters%d.f32", sizes[s]);
        size_t count = (size_t)sizes[s] * MEL_N_FREQ;
        float *g = read_golden(name, count);
        if (g) {
            double d = max_abs_diff(mel_filters(m), g, count);
            if (d > 1e-8) test_fail(__FILE__, __LINE__, "%s: max |diff| %.3g", name, d);
        }
        free(g);
        mel_free(m);
    }
    CHECK(mel_create(0) == NULL);
    CHECK_ERR("n_mels 0");
}

static void check_mel_golden(const char *wav, const char *golden, int n_mels) {
    wav_audio a;
    if (read_golden_wav(wav, &a)) return;
    CHECK_EQ_INT(a.sample_rate, 16000);
    size_t frames = mel_frames(a.n), count = (size_t)n_mels * frames;
    float *g = read_golden(golden, count);
    mel_ctx *m = mel_create(n_mels);
    float *out = xmalloc(count * sizeof *out);
    if (g && m && mel_compute(m, a.samples, a.n, out) == 0) {
        double d = max_abs_diff(out, g, count);
        printf("  %s: %zu x %zu, max |diff| %.3g (tolerance %g)\n", golden, (size_t)n_mels, frames,
               d, MEL_TOL);
        if (!(d <= MEL_TOL)) test_fail(__FILE__, __LINE__, "%s: max |diff| %.3g", golden, d);
    } else if (g && m) {
        test_fail(__FILE__, __LINE__, "%s", unum_error());
    }
    free(out);
    free(g);
    mel_free(m);
    wav_audio_free(&a);
}

TEST(mel_speech_and_synthetic_match_torch_reference) {
    check_mel_golden("speech16k.wav", "speech.mel80.f32", 80);
    check_mel_golden("speech16k.wav", "speech.mel128.f32", 128);
    check_mel_golden("synth16k.wav", "synth.mel80.f32", 80);
    check_mel_golden("synth16k.wav", "synth.mel128.f32", 128);
}

TEST(mel_30s_pad_matches_reference) {
    wav_audio a;
    if (read_golden_wav("speech16k.wav", &a)) return;
    float *g = read_golden("speech.30s.mel80.first300.f32", 80 * 300);
    mel_ctx *m = mel_create(80);
    float *out = xmalloc(80 * MEL_CHUNK_FRAMES * sizeof *out);
    if (g && m && mel_compute_30s(m, a.samples, a.n, out) == 0) {
        double d = 0, tail = out[MEL_CHUNK_FRAMES - 1];
        for (int b = 0; b < 80; b++) {
            double db = max_abs_diff(out + (size_t)b * MEL_CHUNK_FRAMES, g + b * 300, 300);
            d = db > d ? db : d;
            for (int t = 300; t < MEL_CHUNK_FRAMES; t++)
                if (out[(size_t)b * MEL_CHUNK_FRAMES + t] != tail) {
                    test_fail(__FILE__, __LINE__, "padding frame %d of bin %d is not the floor", t,
                              b);
                    b = 80;
                    break;
                }
        }
        printf("  speech 30 s window: max |diff| %.3g over the first 300 frames\n", d);
        CHECK(d <= MEL_TOL);
        CHECK_NEAR(tail, -0.754816, 1e-5); /* the reference's value for frames 300.. */
    } else {
        test_fail(__FILE__, __LINE__, "%s", unum_error());
    }
    free(out);
    free(g);
    mel_free(m);
    wav_audio_free(&a);
}

TEST(mel_trim_short_and_silence) {
    mel_ctx *m = mel_create(80);
    REQUIRE(m);
    size_t n = 31 * 16000;
    float *x = xmalloc(n * sizeof *x);
    uint32_t r = 1;
    for (size_t i = 0; i < n; i++) {
        r = r * 1664525u + 1013904223u;
        x[i] = ((float)(r >> 8) / 16777216.0f - 0.5f) * 0.2f;
    }
    x[n - 1] = 1.0f; /* past 30 s: must not influence anything */
    float *a = xmalloc(80 * 3000 * sizeof *a), *b = xmalloc(80 * 3000 * sizeof *b);
    REQUIRE(mel_compute_30s(m, x, n, a) == 0);
    REQUIRE(mel_compute(m, x, MEL_CHUNK_SAMPLES, b) == 0);
    CHECK(memcmp(a, b, 80 * 3000 * sizeof *a) == 0);
    /* silence: log10(1e-10) everywhere -> (-10 + 4) / 4 */
    REQUIRE(mel_compute_30s(m, NULL, 0, a) == 0);
    CHECK_NEAR(a[0], -1.5, 0);
    CHECK_NEAR(a[80 * 3000 - 1], -1.5, 0);
    CHECK_EQ_INT(mel_frames(401), 2);
    CHECK_EQ_INT(mel_compute(m, x, 200, a), -1);
    CHECK_ERR("200 samples is too short");
    REQUIRE(mel_compute(m, x, 201, a) == 0); /* the shortest input: 1 frame */
    free(a);
    free(b);
    free(x);
    mel_free(m);
}

/* ------------------------------------------------------------ VAD */

/* A voiced-speech-like burst: 150 Hz harmonics with a syllable envelope. */
static void add_burst(float *x, size_t start, size_t len, double amp) {
    for (size_t i = 0; i < len; i++) {
        double t = (double)i / 16000, env = 0.6 + 0.4 * sin(2 * M_PI * 4 * t);
        double v = 0;
        for (int h = 1; h <= 5; h++) v += sin(2 * M_PI * 150 * h * t) / h;
        x[start + i] += (float)(amp * env * v);
    }
}

static float *noise_bed(size_t n, double amp) {
    float *x = xmalloc(n * sizeof *x);
    uint32_t r = 7;
    for (size_t i = 0; i < n; i++) {
        r = r * 1664525u + 1013904223u;
        x[i] = (float)(((double)(r >> 8) / 16777216.0 - 0.5) * 2 * amp);
    }
    return x;
}

static int run_vad(const vad_config *c, const float *x, size_t n, size_t chunk, vad_segment *seg,
                   int max) {
    vad *v = vad_create(c);
    if (!v) return -1;
    for (size_t i = 0; i < n; i += chunk) vad_feed(v, x + i, n - i < chunk ? n - i : chunk);
    vad_flush(v);
    int k = 0;
    vad_segment s;
    while (vad_next(v, &s))
        if (k < max) seg[k++] = s;
    vad_free(v);
    return k;
}

#define FRAME 480

TEST(vad_bursts_in_noise) {
    size_t n = 16000 * 4;
    float *x = noise_bed(n, 0.002);
    add_burst(x, 8000, 16000, 0.2); /* 0.5 s .. 1.5 s */
    add_burst(x, 33600, 8000, 0.1); /* 2.1 s .. 2.6 s */
    add_burst(x, 48000, 480, 0.3);  /* 30 ms click: too short */
    vad_config c;
    vad_config_default(&c);
    vad_segment s[8];
    int k = run_vad(&c, x, n, 777, s, 8);
    REQUIRE(k == 2);
    uint64_t hang = 3 * FRAME;
    CHECK(llabs((long long)s[0].start - 8000) <= 2 * FRAME);
    CHECK(llabs((long long)s[0].end - (24000 + (long long)hang)) <= 2 * FRAME);
    CHECK(llabs((long long)s[1].start - 33600) <= 2 * FRAME);
    CHECK(llabs((long long)s[1].end - (41600 + (long long)hang)) <= 2 * FRAME);
    /* max utterance: the 1 s burst is cut at 600 ms and goes on */
    c.max_utterance_ms = 600;
    k = run_vad(&c, x, n, 16000, s, 8);
    REQUIRE(k == 3);
    CHECK_EQ_INT(s[0].end - s[0].start, 600 * 16);
    CHECK_EQ_INT(s[1].start, s[0].end);
    CHECK(llabs((long long)s[1].end - (24000 + (long long)hang)) <= 2 * FRAME);
    /* the same stream fed in one call gives the same answer */
    vad_segment t[8];
    CHECK_EQ_INT(run_vad(&c, x, n, n, t, 8), 3);
    CHECK(memcmp(s, t, 3 * sizeof *s) == 0);
    /* digital silence and steady noise never open an utterance */
    memset(x, 0, n * sizeof *x);
    CHECK_EQ_INT(run_vad(NULL, x, n, 1000, s, 8), 0);
    free(x);
    x = noise_bed(n, 0.05);
    CHECK_EQ_INT(run_vad(NULL, x, n, 1000, s, 8), 0);
    free(x);
    /* hiss 20 dB over the background: loud enough, but it crosses zero far
     * too often to be voiced speech; the same level of voiced sound is */
    x = noise_bed(n, 0.001);
    float *hiss = noise_bed(n, 0.01);
    for (size_t i = 16000; i < 32000; i++) x[i] += hiss[i * 7 % n];
    add_burst(x, 40000, 8000, 0.006);
    k = run_vad(NULL, x, n, 1000, s, 8);
    CHECK_EQ_INT(k, 1);
    if (k == 1) CHECK(llabs((long long)s[0].start - 40000) <= 2 * FRAME);
    free(hiss);
    free(x);
    c.hangover_ms = 1000;
    CHECK(vad_create(&c) == NULL);
    CHECK_ERR("hangover_ms");
}

TEST(vad_espeak_clip) {
    wav_audio a;
    if (read_golden_wav("speech16k.wav", &a)) return;
    size_t lead = 8000, n = a.n + 2 * 16000;
    float *x = noise_bed(n, 0.001);
    for (size_t i = 0; i < a.n; i++) x[lead + i] += a.samples[i];
    size_t on = 0, off = 0;
    for (size_t i = 0; i < a.n; i++)
        if (fabsf(a.samples[i]) > 0.02f) {
            if (!on) on = i;
            off = i;
        }
    vad_segment s[8] = {{0, 0}};
    int k = run_vad(NULL, x, n, 160, s, 8);
    printf("  espeak clip: sound %.2f..%.2f s, %d utterance(s), first %.2f..%.2f s\n",
           (lead + on) / 16000.0, (lead + off) / 16000.0, k, k ? s[0].start / 16000.0 : 0,
           k ? s[k - 1].end / 16000.0 : 0);
    REQUIRE(k >= 1);
    CHECK(llabs((long long)s[0].start - (long long)(lead + on)) <= 3 * FRAME);
    CHECK(llabs((long long)s[k - 1].end - (long long)(lead + off)) <= 6 * FRAME);
    free(x);
    wav_audio_free(&a);
}

/* WAV files written by sox (an independent writer) in every encoding unum
 * reads: the samples equal sox's own decoding of the same file to float
 * (channels averaged here), to float rounding. */
TEST(wav_reads_what_sox_writes) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    if (test_shell(":", "command -v sox", NULL, NULL) != 0) {
        test_tmp_remove(dir);
        test_skip("sox is not installed (tools/deps.sh test installs it)");
        return;
    }
    static const struct {
        const char *opts; /* sox output options */
        int channels, rate, bits;
    } cases[] = {
        {"-e unsigned-integer -b 8 -r 8000", 1, 8000, 8},
        {"-e signed-integer -b 16 -r 16000", 1, 16000, 16},
        {"-e signed-integer -b 24 -r 22050 -c 2", 2, 22050, 24},
        {"-e signed-integer -b 32 -r 44100", 1, 44100, 32},
        {"-e floating-point -b 32 -r 48000 -c 2", 2, 48000, 32},
        {"-e signed-integer -b 16 -r 11025 -c 6", 6, 11025, 16},
    };
    char cmd[2048], *root = realpath(test_root(), NULL);
    REQUIRE(root);
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        /* 1.5 s of espeak-ng speech (the committed clip), converted by sox;
         * then sox's own float decoding of that file */
        snprintf(cmd, sizeof cmd,
                 "cd %s && sox -D %s/tests/golden/transcribe/meeting16k.wav %s x%zu.wav "
                 "trim 0 1.5 %s && sox -D x%zu.wav -t f32 -e floating-point x%zu.f32",
                 dir, root, cases[c].opts, c,
                 cases[c].channels == 2   ? "remix 1 1v0.5"
                 : cases[c].channels == 6 ? "remix 1 1v0.5 1v0.25 1v-0.5 0 1"
                                          : "",
                 c, c);
        if (test_shell(":", cmd, NULL, NULL) != 0) {
            test_fail(__FILE__, __LINE__, "sox failed: %s", cmd);
            continue;
        }
        char name[64];
        snprintf(name, sizeof name, "x%zu.wav", c);
        char *wav = unum_path_join(dir, name);
        snprintf(name, sizeof name, "x%zu.f32", c);
        char *raw = unum_path_join(dir, name);
        size_t nraw = 0;
        float *ref = (float *)unum_read_file(raw, 64u << 20, &nraw);
        wav_audio a;
        if (!ref || wav_read_file(wav, 0, &a) != 0) {
            test_fail(__FILE__, __LINE__, "case %zu: %s", c, unum_error());
        } else {
            int ch = cases[c].channels;
            CHECK_EQ_INT(a.channels, ch);
            CHECK_EQ_INT(a.sample_rate, cases[c].rate);
            CHECK_EQ_INT(a.bits, cases[c].bits);
            CHECK_EQ_INT((long)a.n, (long)(nraw / sizeof(float) / (size_t)ch));
            CHECK(a.n > (size_t)cases[c].rate); /* at least a second */
            double worst = 0;
            for (size_t i = 0; i < a.n && i * ch < nraw / sizeof(float); i++) {
                double m = 0;
                for (int k = 0; k < ch; k++) m += ref[i * ch + k];
                worst = fmax(worst, fabs(m / ch - a.samples[i]));
            }
            if (worst > 1e-6) test_fail(__FILE__, __LINE__, "case %zu: off by %g", c, worst);
            wav_audio_free(&a);
        }
        free(ref);
        free(wav);
        free(raw);
    }
    free(root);
    test_tmp_remove(dir);
}

/* Someone already talking when the stream starts: a voiced first frame
 * does not become the noise floor, so the utterance starts at once; a
 * noisy first frame (broadband, crossing zero often) still does. */
TEST(vad_speech_from_the_first_frame) {
    size_t n = 16000 * 3;
    float *x = noise_bed(n, 0.001);
    add_burst(x, 0, 24000, 0.2); /* 0 .. 1.5 s, voiced */
    vad_segment s[4];
    int k = run_vad(NULL, x, n, 1000, s, 4);
    REQUIRE(k == 1);
    CHECK(s[0].start <= 2 * FRAME);
    CHECK(llabs((long long)s[0].end - (24000 + 3 * FRAME)) <= 2 * FRAME);
    free(x);
    x = noise_bed(n, 0.1); /* loud hiss from the start: never speech */
    CHECK_EQ_INT(run_vad(NULL, x, n, 1000, s, 4), 0);
    free(x);
}

/* ------------------------------------------------------------ reading 16 kHz */

static char *tone_wav(const char *dir, const char *name, int rate, int channels, double seconds) {
    char *path = unum_path_join(dir, name);
    wav_writer *w = wav_writer_open(path, rate, channels, WAV_PCM);
    if (!w) return path;
    size_t total = (size_t)(seconds * rate), chunk = 4096;
    float *x = xmalloc(sizeof *x * chunk * (size_t)channels);
    for (size_t at = 0; at < total; at += chunk) {
        size_t k = total - at < chunk ? total - at : chunk;
        for (size_t i = 0; i < k * (size_t)channels; i++)
            x[i] = 0.3f * sinf(2 * 3.14159265f * 440.0f * (float)(at + i / channels) / rate);
        wav_writer_write(w, x, k);
    }
    free(x);
    wav_writer_close(w);
    return path;
}

/* A 63 Hz file (a few hundred kilobytes that would become gigabytes of
 * 16 kHz samples) and a 400 kHz one are refused, naming the file. */
TEST(audio_read_16k_refuses_rates_out_of_range) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    char *low = tone_wav(dir, "low.wav", 63, 1, 100), *high = tone_wav(dir, "high.wav", 400000, 1, 0.1);
    float *x = NULL;
    size_t n = 1;
    CHECK_EQ_INT(audio_read_16k(low, 0, 0, &x, &n, NULL), -1);
    CHECK_ERR(low);
    CHECK_ERR("63 Hz");
    CHECK(x == NULL && n == 0);
    CHECK_EQ_INT(audio_read_16k(high, 0, 30, &x, &n, NULL), -1);
    CHECK_ERR("400000 Hz");
    free(low);
    free(high);
    test_tmp_remove(dir);
}

/* The span asked for, and only that: a 16 kHz file is copied exactly; at
 * another rate the whole read agrees with resample() of the whole file and
 * a span has the span's length. */
TEST(audio_read_16k_reads_the_span) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    char *p16 = tone_wav(dir, "a16.wav", 16000, 1, 3), *p22 = tone_wav(dir, "a22.wav", 22050, 2, 3);
    wav_audio a;
    REQUIRE(wav_read_file(p16, 0, &a) == 0);
    float *x = NULL;
    size_t n = 0;
    double total = 0;
    REQUIRE(audio_read_16k(p16, 1.0, 0.5, &x, &n, &total) == 0);
    CHECK_EQ_INT(n, 8000);
    CHECK_NEAR(total, 3.0, 1e-9);
    CHECK(n == 8000 && !memcmp(x, a.samples + 16000, sizeof *x * 8000));
    free(x);
    REQUIRE(audio_read_16k(p16, 5.0, 0, &x, &n, NULL) == 0); /* past the end */
    CHECK(x == NULL && n == 0);
    wav_audio_free(&a);
    REQUIRE(wav_read_file(p22, 0, &a) == 0);
    float *ref = NULL;
    size_t nref = 0;
    REQUIRE(resample_to_16k(a.samples, a.n, a.sample_rate, &ref, &nref) == 0);
    REQUIRE(audio_read_16k(p22, 0, 0, &x, &n, NULL) == 0);
    CHECK_EQ_INT(n, nref);
    double worst = 0;
    for (size_t i = 0; i < n && i < nref; i++)
        if (fabs(x[i] - ref[i]) > worst) worst = fabs(x[i] - ref[i]);
    CHECK(worst < 1e-5);
    free(x);
    REQUIRE(audio_read_16k(p22, 1.0, 1.0, &x, &n, NULL) == 0);
    CHECK_EQ_INT(n, 16000);
    free(x);
    free(ref);
    wav_audio_free(&a);
    free(p16);
    free(p22);
    test_tmp_remove(dir);
}

/* Peak resident memory since clear_refs reset it, in bytes (-1: the
 * kernel does not offer it). */
static long long hwm_reset(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return -1;
    int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}
static long long hwm_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = atoll(line + 6);
    if (f) fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

/* The memory load.h promises: the 16 kHz output (64,000 bytes a second)
 * plus under 1 MiB of buffers, whatever the file holds. A minute of 44.1
 * kHz stereo (10.6 MB on disk) read whole used to cost the file, its mono
 * samples and the output (25 MB); now the output and the buffers. */
TEST(audio_read_16k_memory_stays_within_the_output) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    char *path = tone_wav(dir, "minute.wav", 44100, 2, 60);
    if (hwm_reset() != 0 || hwm_bytes() < 0) {
        free(path);
        test_tmp_remove(dir);
        SKIP("no /proc/self/clear_refs to reset the peak RSS");
        return;
    }
    long long before = hwm_bytes();
    float *x = NULL;
    size_t n = 0;
    REQUIRE(audio_read_16k(path, 0, 0, &x, &n, NULL) == 0);
    long long grew = hwm_bytes() - before, allowed = 60LL * 64000 + (1LL << 20) + (1LL << 20);
    printf("  a minute of 44.1 kHz stereo: peak grew %.1f MB (allowed %.1f MB)\n", grew / 1e6,
           allowed / 1e6);
    CHECK(n >= 959000 && n <= 961000);
    CHECK(grew <= allowed);
    free(x);
    /* a 30 s window of the same file costs 30 s of output */
    REQUIRE(hwm_reset() == 0);
    before = hwm_bytes();
    REQUIRE(audio_read_16k(path, 10, 30, &x, &n, NULL) == 0);
    grew = hwm_bytes() - before;
    CHECK(n >= 479990 && n <= 480000); /* the converter may keep a last sample */
    CHECK(grew <= 30LL * 64000 + (2LL << 20));
    free(x);
    free(path);
    test_tmp_remove(dir);
}
