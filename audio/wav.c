/* wav.c - WAV reading (hostile input) and writing. See wav.h. */
#include "audio/wav.h"
#include "engine/base/util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <fcntl.h>

/* ---------------------------------------------------------------- reading */

#define TAG_EXTENSIBLE 0xFFFE

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Chunk ids are printed in errors; hostile bytes are shown as '?'. */
static void id_str(const uint8_t *p, char out[5]) {
    for (int i = 0; i < 4; i++) out[i] = (p[i] >= 32 && p[i] < 127) ? (char)p[i] : '?';
    out[4] = 0;
}

typedef struct {
    int have;
    unsigned tag; /* effective: 1 (PCM) or 3 (float) */
    unsigned channels, rate, block_align, bits;
    int extensible;
} fmt_info;

/* The GUID tail shared by KSDATAFORMAT_SUBTYPE_PCM and _IEEE_FLOAT. */
static const uint8_t guid_tail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                      0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};

static int parse_fmt(const uint8_t *p, uint32_t size, const char *name, fmt_info *f) {
    if (f->have) return unum_error_set("%s: second fmt chunk", name);
    if (size < 16)
        return unum_error_set("%s: fmt chunk is %u bytes, needs at least 16", name, size);
    unsigned tag = rd16(p);
    f->channels = rd16(p + 2);
    f->rate = rd32(p + 4);
    f->block_align = rd16(p + 12);
    f->bits = rd16(p + 14);
    f->extensible = 0;
    if (tag == TAG_EXTENSIBLE) {
        if (size < 40)
            return unum_error_set("%s: fmt chunk of WAVE_FORMAT_EXTENSIBLE is %u bytes, needs 40",
                                  name, size);
        unsigned cb = rd16(p + 16);
        if (cb < 22)
            return unum_error_set("%s: fmt extension size (cbSize) is %u, extensible needs 22",
                                  name, cb);
        unsigned valid = rd16(p + 18);
        if (valid > f->bits)
            return unum_error_set("%s: fmt valid bits per sample %u exceeds container %u bits",
                                  name, valid, f->bits);
        if (memcmp(p + 26, guid_tail, 14) != 0)
            return unum_error_set("%s: fmt extensible subformat GUID is not PCM or IEEE float",
                                  name);
        tag = rd16(p + 24);
        f->extensible = 1;
    }
    if (tag != 1 && tag != 3)
        return unum_error_set("%s: fmt format tag 0x%04x is not supported (PCM, IEEE float or "
                              "extensible only)",
                              name, tag);
    f->tag = tag;
    if (f->channels == 0) return unum_error_set("%s: fmt channel count is 0", name);
    if (f->rate == 0) return unum_error_set("%s: fmt sample rate is 0", name);
    if (f->rate > WAV_MAX_RATE)
        return unum_error_set("%s: fmt sample rate %u Hz is out of range (at most %d)", name,
                              f->rate, WAV_MAX_RATE);
    if (tag == 1 && f->bits != 8 && f->bits != 16 && f->bits != 24 && f->bits != 32)
        return unum_error_set("%s: fmt bits per sample %u is not supported for PCM (8, 16, 24, "
                              "32)",
                              name, f->bits);
    if (tag == 3 && f->bits != 32)
        return unum_error_set("%s: fmt bits per sample %u is not supported for float (32 only)",
                              name, f->bits);
    unsigned want = f->channels * (f->bits / 8);
    if (f->block_align != want)
        return unum_error_set("%s: fmt block align %u does not match %u channels x %u bytes", name,
                              f->block_align, f->channels, f->bits / 8);
    f->have = 1;
    return 0;
}

static float sample_at(const uint8_t *p, const fmt_info *f) {
    switch (f->bits) {
    case 8:
        return ((int)p[0] - 128) * (1.0f / 128.0f);
    case 16:
        return (float)(int16_t)rd16(p) * (1.0f / 32768.0f);
    case 24: {
        int32_t v = (int32_t)((uint32_t)p[0] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 24);
        return (float)(v >> 8) * (1.0f / 8388608.0f);
    }
    default:
        if (f->tag == 3) {
            uint32_t u = rd32(p);
            float x;
            memcpy(&x, &u, 4);
            return isfinite(x) ? x : 0.0f; /* NaN/Inf would poison the whole mel window */
        }
        return (float)((double)(int32_t)rd32(p) * (1.0 / 2147483648.0));
    }
}

int wav_read_buffer(const void *buf, size_t len, const char *name, int flags, wav_audio *out) {
    memset(out, 0, sizeof *out);
    const uint8_t *b = buf;
    if (!name) name = "(wav)";
    if (len < 12)
        return unum_error_set("%s: %zu bytes is too short for a RIFF/WAVE header", name, len);
    if (memcmp(b, "RIFF", 4) != 0) {
        if (memcmp(b, "RF64", 4) == 0 || memcmp(b, "RIFX", 4) == 0)
            return unum_error_set("%s: %.4s files are not supported (RIFF only)", name,
                                  (const char *)b);
        return unum_error_set("%s: not a RIFF file (no 'RIFF' tag)", name);
    }
    if (memcmp(b + 8, "WAVE", 4) != 0) return unum_error_set("%s: RIFF form is not 'WAVE'", name);

    /* The RIFF size is often wrong (0 or 0xFFFFFFFF from streaming writers);
     * chunks are walked against the real length instead. */
    fmt_info f = {0};
    const uint8_t *data = NULL;
    uint64_t data_len = 0;
    int truncated = 0;
    size_t pos = 12;
    while (len - pos >= 8) {
        char id[5];
        id_str(b + pos, id);
        uint32_t size = rd32(b + pos + 4);
        size_t body = pos + 8;
        size_t avail = len - body;
        if (memcmp(b + pos, "data", 4) == 0) {
            if (data) return unum_error_set("%s: second data chunk", name);
            data = b + body;
            data_len = size;
            if (size > avail) {
                if (!(flags & WAV_ALLOW_TRUNCATED))
                    return unum_error_set("%s: data chunk declares %u bytes but only %zu remain "
                                          "(file truncated, or header not finalized after a crash)",
                                          name, size, avail);
                data_len = avail;
                truncated = 1;
                break;
            }
        } else if (size > avail) {
            if (data && f.have) break; /* trailing junk after complete audio: ignore */
            return unum_error_set("%s: chunk '%s' at offset %zu declares %u bytes but only %zu "
                                  "remain",
                                  name, id, pos, size, avail);
        } else if (memcmp(b + pos, "fmt ", 4) == 0) {
            if (parse_fmt(b + body, size, name, &f) < 0) return -1;
        }
        uint64_t next = (uint64_t)body + size + (size & 1);
        if (next >= len) break; /* a missing final pad byte is tolerated */
        pos = (size_t)next;
    }
    if (!f.have) return unum_error_set("%s: no fmt chunk", name);
    if (!data) return unum_error_set("%s: no data chunk", name);

    uint64_t frames = data_len / f.block_align;
    if (frames > SIZE_MAX / sizeof(float))
        return unum_error_set("%s: data chunk of %llu frames is too large", name,
                              (unsigned long long)frames);
    float *s = NULL;
    if (frames) {
        s = malloc((size_t)frames * sizeof(float));
        if (!s)
            return unum_error_set("%s: out of memory for %llu samples", name,
                                  (unsigned long long)frames);
    }
    unsigned bps = f.bits / 8;
    float inv = 1.0f / (float)f.channels;
    for (uint64_t i = 0; i < frames; i++) {
        const uint8_t *p = data + i * f.block_align;
        if (f.channels == 1) {
            s[i] = sample_at(p, &f);
            continue;
        }
        float acc = 0;
        for (unsigned c = 0; c < f.channels; c++) acc += sample_at(p + c * bps, &f);
        s[i] = acc * inv;
    }
    out->samples = s;
    out->n = (size_t)frames;
    out->sample_rate = (int)f.rate;
    out->channels = (int)f.channels;
    out->bits = (int)f.bits;
    out->encoding = f.tag == 3 ? WAV_FLOAT : WAV_PCM;
    out->extensible = f.extensible;
    out->truncated = truncated;
    return 0;
}

int wav_read_file(const char *path, int flags, wav_audio *out) {
    memset(out, 0, sizeof *out);
    size_t len = 0;
    char *buf = unum_read_file(path, ((size_t)1 << 32) + 8, &len);
    if (!buf) return -1;
    int rc = wav_read_buffer(buf, len, path, flags, out);
    free(buf);
    return rc;
}

void wav_audio_free(wav_audio *a) {
    if (!a) return;
    free(a->samples);
    memset(a, 0, sizeof *a);
}

/* ---------------------------------------------------------------- writing */

struct wav_writer {
    FILE *fp;
    char *path;
    int channels;
    wav_encoding enc;
    unsigned bytes_per_frame;
    uint64_t frames;
    int failed;
};

#define HEADER_BYTES 44
#define MAX_DATA_BYTES (0xFFFFFFFFull - (HEADER_BYTES - 8) - 1)

static void wr16(uint8_t *p, unsigned v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void wr32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

wav_writer *wav_writer_open(const char *path, int sample_rate, int channels, wav_encoding enc) {
    if (sample_rate <= 0 || sample_rate > WAV_MAX_RATE) {
        unum_error_set("%s: sample rate %d Hz is out of range", path, sample_rate);
        return NULL;
    }
    if (channels <= 0 || channels > 65535 / 4) {
        unum_error_set("%s: channel count %d is out of range", path, channels);
        return NULL;
    }
    if (enc != WAV_PCM && enc != WAV_FLOAT) {
        unum_error_set("%s: unknown sample encoding %d", path, (int)enc);
        return NULL;
    }
    /* The store repairs a recording left in status 'recording' unless its
     * file is locked: a live writer holds this lock until it closes. The file
     * is emptied only once the lock is ours, so a second writer can never
     * wipe a recording in progress. */
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        unum_error_set("%s: cannot create: %s", path, strerror(errno));
        return NULL;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        unum_error_set("%s: another writer holds it: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    FILE *fp = ftruncate(fd, 0) == 0 ? fdopen(fd, "wb") : NULL;
    if (!fp) {
        unum_error_set("%s: cannot create: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    unsigned bps = enc == WAV_PCM ? 2 : 4;
    uint8_t h[HEADER_BYTES];
    memcpy(h, "RIFF", 4);
    wr32(h + 4, HEADER_BYTES - 8);
    memcpy(h + 8, "WAVEfmt ", 8);
    wr32(h + 16, 16);
    wr16(h + 20, (unsigned)enc);
    wr16(h + 22, (unsigned)channels);
    wr32(h + 24, (uint32_t)sample_rate);
    wr32(h + 28, (uint32_t)sample_rate * bps * (uint32_t)channels);
    wr16(h + 32, bps * (unsigned)channels);
    wr16(h + 34, bps * 8);
    memcpy(h + 36, "data", 4);
    wr32(h + 40, 0);
    if (fwrite(h, 1, sizeof h, fp) != sizeof h) {
        unum_error_set("%s: write failed: %s", path, strerror(errno));
        fclose(fp);
        return NULL;
    }
    wav_writer *w = xcalloc(1, sizeof *w);
    w->fp = fp;
    w->path = xstrdup(path);
    w->channels = channels;
    w->enc = enc;
    w->bytes_per_frame = bps * (unsigned)channels;
    return w;
}

int wav_writer_write(wav_writer *w, const float *x, size_t frames) {
    if (w->failed) return unum_error_set("%s: earlier write failed", w->path);
    uint64_t total;
    if (unum_mul_ok(w->frames + frames, w->bytes_per_frame, &total) < 0 || total > MAX_DATA_BYTES)
        return unum_error_set("%s: WAV data would exceed the 4 GiB RIFF limit", w->path);
    uint8_t buf[4096];
    size_t n = frames * (size_t)w->channels, used = 0;
    for (size_t i = 0; i < n; i++) {
        if (w->enc == WAV_PCM) {
            float v = x[i];
            /* scale 32768 so that values read from 16-bit files round-trip
             * exactly; +1.0 clips to 32767 */
            long q = v != v ? 0 : lrintf(fmaxf(-1.0f, fminf(1.0f, v)) * 32768.0f);
            q = q > 32767 ? 32767 : q;
            wr16(buf + used, (unsigned)(uint16_t)(int16_t)q);
            used += 2;
        } else {
            uint32_t u;
            memcpy(&u, &x[i], 4);
            wr32(buf + used, u);
            used += 4;
        }
        if (used + 4 > sizeof buf || i + 1 == n) {
            if (fwrite(buf, 1, used, w->fp) != used) {
                w->failed = 1;
                return unum_error_set("%s: write failed: %s", w->path, strerror(errno));
            }
            used = 0;
        }
    }
    w->frames += frames;
    return 0;
}

uint64_t wav_writer_frames(const wav_writer *w) { return w->frames; }

int wav_writer_finalize(wav_writer *w) {
    uint64_t data = w->frames * w->bytes_per_frame;
    uint8_t s[4];
    /* An odd-sized data chunk needs its pad byte (only possible with odd
     * frame sizes, which these encodings never produce). */
    int ok = fflush(w->fp) == 0 && fseek(w->fp, 4, SEEK_SET) == 0;
    wr32(s, (uint32_t)(data + HEADER_BYTES - 8));
    ok = ok && fwrite(s, 1, 4, w->fp) == 4 && fseek(w->fp, 40, SEEK_SET) == 0;
    wr32(s, (uint32_t)data);
    ok = ok && fwrite(s, 1, 4, w->fp) == 4 && fseek(w->fp, 0, SEEK_END) == 0 && fflush(w->fp) == 0;
    if (!ok) {
        w->failed = 1;
        return unum_error_set("%s: cannot finalize WAV header: %s", w->path, strerror(errno));
    }
    return 0;
}

int wav_writer_close(wav_writer *w) {
    if (!w) return 0;
    int rc = w->failed ? -1 : wav_writer_finalize(w);
    if (fclose(w->fp) != 0 && rc == 0)
        rc = unum_error_set("%s: close failed: %s", w->path, strerror(errno));
    free(w->path);
    free(w);
    return rc;
}

int wav_write_file(const char *path, const float *x, size_t frames, int sample_rate, int channels,
                   wav_encoding enc) {
    wav_writer *w = wav_writer_open(path, sample_rate, channels, enc);
    if (!w) return -1;
    if (wav_writer_write(w, x, frames) < 0) {
        wav_writer_close(w);
        return -1;
    }
    return wav_writer_close(w);
}
