/* wav.c - WAV reading (hostile input) and writing. See wav.h. */
#include "audio/wav.h"
#include "engine/base/sha256.h"
#include "engine/base/util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>

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

/* Where the header walk reads from: a buffer in memory or an open file. */
typedef struct {
    const uint8_t *buf; /* NULL: read fd */
    int fd;
    uint64_t len;
} source;

/* n bytes at off into dst; the caller has checked off + n <= len. */
static int source_read(const source *src, uint64_t off, void *dst, size_t n, const char *name) {
    if (src->buf) {
        memcpy(dst, src->buf + off, n);
        return 0;
    }
    uint8_t *d = dst;
    while (n) {
        ssize_t r = pread(src->fd, d, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0)
            return unum_error_set("%s: read failed at offset %llu: %s", name,
                                  (unsigned long long)off, r < 0 ? strerror(errno) : "end of file");
        d += r, n -= (size_t)r, off += (uint64_t)r;
    }
    return 0;
}

typedef struct {
    fmt_info f;
    uint64_t data_off, data_len; /* the data chunk's bytes present */
    int truncated;
} wav_header;

/* Walks the chunks of a RIFF/WAVE image: the fmt chunk parsed, the data
 * chunk located (its declared size checked against what the image holds). */
static int walk_header(const source *src, const char *name, int flags, wav_header *h) {
    memset(h, 0, sizeof *h);
    uint64_t len = src->len;
    uint8_t b[12];
    if (len < 12)
        return unum_error_set("%s: %llu bytes is too short for a RIFF/WAVE header", name,
                              (unsigned long long)len);
    if (source_read(src, 0, b, 12, name)) return -1;
    if (memcmp(b, "RIFF", 4) != 0) {
        if (memcmp(b, "RF64", 4) == 0 || memcmp(b, "RIFX", 4) == 0)
            return unum_error_set("%s: %.4s files are not supported (RIFF only)", name,
                                  (const char *)b);
        return unum_error_set("%s: not a RIFF file (no 'RIFF' tag)", name);
    }
    if (memcmp(b + 8, "WAVE", 4) != 0) return unum_error_set("%s: RIFF form is not 'WAVE'", name);

    /* The RIFF size is often wrong (0 or 0xFFFFFFFF from streaming writers);
     * chunks are walked against the real length instead. */
    int have_data = 0;
    uint64_t pos = 12;
    while (len - pos >= 8) {
        uint8_t ch[8];
        if (source_read(src, pos, ch, 8, name)) return -1;
        char id[5];
        id_str(ch, id);
        uint32_t size = rd32(ch + 4);
        uint64_t body = pos + 8, avail = len - body;
        if (memcmp(ch, "data", 4) == 0) {
            if (have_data) return unum_error_set("%s: second data chunk", name);
            have_data = 1;
            h->data_off = body;
            h->data_len = size;
            if (size > avail) {
                if (!(flags & WAV_ALLOW_TRUNCATED))
                    return unum_error_set("%s: data chunk declares %u bytes but only %llu remain "
                                          "(file truncated, or header not finalized after a crash)",
                                          name, size, (unsigned long long)avail);
                h->data_len = avail;
                h->truncated = 1;
                break;
            }
        } else if (size > avail) {
            if (have_data && h->f.have) break; /* trailing junk after complete audio: ignore */
            return unum_error_set("%s: chunk '%s' at offset %llu declares %u bytes but only %llu "
                                  "remain",
                                  name, id, (unsigned long long)pos, size,
                                  (unsigned long long)avail);
        } else if (memcmp(ch, "fmt ", 4) == 0) {
            uint8_t fb[40] = {0}; /* parse_fmt reads at most 40 bytes, and only what size says */
            if (source_read(src, body, fb, size < 40 ? size : 40, name) ||
                parse_fmt(fb, size, name, &h->f) < 0)
                return -1;
        }
        uint64_t next = body + size + (size & 1);
        if (next >= len) break; /* a missing final pad byte is tolerated */
        pos = next;
    }
    if (!h->f.have) return unum_error_set("%s: no fmt chunk", name);
    if (!have_data) return unum_error_set("%s: no data chunk", name);
    return 0;
}

/* frames whole frames of raw bytes to mono floats (the channels averaged). */
static void decode_frames(const uint8_t *data, uint64_t frames, const fmt_info *f, float *s) {
    unsigned bps = f->bits / 8;
    float inv = 1.0f / (float)f->channels;
    for (uint64_t i = 0; i < frames; i++) {
        const uint8_t *p = data + i * f->block_align;
        if (f->channels == 1) {
            s[i] = sample_at(p, f);
            continue;
        }
        float acc = 0;
        for (unsigned c = 0; c < f->channels; c++) acc += sample_at(p + c * bps, f);
        s[i] = acc * inv;
    }
}

static void fill_info(const wav_header *h, wav_info *info) {
    info->sample_rate = (int)h->f.rate;
    info->channels = (int)h->f.channels;
    info->bits = (int)h->f.bits;
    info->encoding = h->f.tag == 3 ? WAV_FLOAT : WAV_PCM;
    info->extensible = h->f.extensible;
    info->truncated = h->truncated;
    info->frames = h->data_len / h->f.block_align;
}

static float *alloc_samples(uint64_t frames, const char *name) {
    if (frames > SIZE_MAX / sizeof(float)) {
        unum_error_set("%s: data chunk of %llu frames is too large", name,
                       (unsigned long long)frames);
        return NULL;
    }
    float *s = malloc((size_t)(frames ? frames : 1) * sizeof(float));
    if (!s)
        unum_error_set("%s: out of memory for %llu samples", name, (unsigned long long)frames);
    return s;
}

static void audio_from(const wav_info *info, float *s, wav_audio *out) {
    out->samples = info->frames ? s : (free(s), NULL);
    out->n = (size_t)info->frames;
    out->sample_rate = info->sample_rate;
    out->channels = info->channels;
    out->bits = info->bits;
    out->encoding = info->encoding;
    out->extensible = info->extensible;
    out->truncated = info->truncated;
}

int wav_read_buffer(const void *buf, size_t len, const char *name, int flags, wav_audio *out) {
    memset(out, 0, sizeof *out);
    if (!name) name = "(wav)";
    source src = {buf, -1, len};
    wav_header h;
    if (walk_header(&src, name, flags, &h)) return -1;
    wav_info info;
    fill_info(&h, &info);
    float *s = alloc_samples(info.frames, name);
    if (!s) return -1;
    decode_frames((const uint8_t *)buf + h.data_off, info.frames, &h.f, s);
    audio_from(&info, s, out);
    return 0;
}

/* ---------------------------------------------------------------- streaming */

#define READ_BLOCK (1u << 16) /* raw bytes per read */

struct wav_reader {
    int fd;
    char *path;
    wav_header h;
    wav_info info;
    uint64_t pos; /* next frame */
    uint8_t *raw; /* READ_BLOCK bytes */
};

wav_reader *wav_reader_open(const char *path, int flags, wav_info *info) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        unum_error_set("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        unum_error_set("%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    wav_reader *r = xcalloc(1, sizeof *r);
    r->fd = fd;
    r->path = xstrdup(path);
    source src = {NULL, fd, (uint64_t)sb.st_size};
    if (walk_header(&src, path, flags, &r->h)) {
        wav_reader_close(r);
        return NULL;
    }
    fill_info(&r->h, &r->info);
    r->raw = xmalloc(READ_BLOCK);
    if (info) *info = r->info;
    return r;
}

int wav_reader_seek(wav_reader *r, uint64_t frame) {
    if (frame > r->info.frames)
        return unum_error_set("%s: frame %llu is past the end (%llu frames)", r->path,
                              (unsigned long long)frame, (unsigned long long)r->info.frames);
    r->pos = frame;
    return 0;
}

long wav_reader_read(wav_reader *r, float *mono, size_t max) {
    uint64_t left = r->info.frames - r->pos, per = READ_BLOCK / r->h.f.block_align;
    uint64_t k = left < max ? left : max;
    if (k > per) k = per;
    if (k == 0) return 0;
    source src = {NULL, r->fd, r->h.data_off + r->info.frames * r->h.f.block_align};
    if (source_read(&src, r->h.data_off + r->pos * r->h.f.block_align, r->raw,
                    (size_t)(k * r->h.f.block_align), r->path))
        return -1;
    decode_frames(r->raw, k, &r->h.f, mono);
    r->pos += k;
    return (long)k;
}

void wav_reader_close(wav_reader *r) {
    if (!r) return;
    if (r->fd >= 0) close(r->fd);
    free(r->raw);
    free(r->path);
    free(r);
}

int wav_read_file(const char *path, int flags, wav_audio *out) {
    memset(out, 0, sizeof *out);
    wav_info info;
    wav_reader *r = wav_reader_open(path, flags, &info);
    if (!r) return -1;
    float *s = alloc_samples(info.frames, path);
    for (uint64_t at = 0; s && at < info.frames;) {
        long k = wav_reader_read(r, s + at, (size_t)(info.frames - at));
        if (k <= 0) {
            if (k == 0) unum_error_set("%s: the data ended early", path);
            free(s), s = NULL;
            break;
        }
        at += (uint64_t)k;
    }
    wav_reader_close(r);
    if (!s) return -1;
    audio_from(&info, s, out);
    return 0;
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

/* Makes path's directory entry durable (a store row may point at it). */
static int sync_parent(const char *path) {
    char *dir = xstrdup(path), *slash = strrchr(dir, '/');
    if (slash) *(slash == dir ? slash + 1 : slash) = 0;
    int fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = -1;
    if (fd >= 0) {
        rc = fsync(fd);
        close(fd);
    }
    free(dir);
    return rc;
}

/* Creates path exclusively and writes the header; errno EEXIST (and NULL)
 * when the name is taken. */
static wav_writer *create(const char *path, int sample_rate, int channels, wav_encoding enc) {
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
    /* A new file only, private to the user: an existing file (another
     * recording, a file of the user's) is never truncated. The store
     * repairs a recording left in status 'recording' unless its file is
     * locked: the writer holds this lock until it closes. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        unum_error_set("%s: cannot create: %s", path, strerror(e));
        errno = e;
        return NULL;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        unum_error_set("%s: another writer holds it: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    FILE *fp = fdopen(fd, "wb");
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
    /* the header and the folder entry reach the disk before anyone records
     * the file's name */
    if (fwrite(h, 1, sizeof h, fp) != sizeof h || fflush(fp) != 0 || fsync(fd) != 0 ||
        sync_parent(path) != 0) {
        unum_error_set("%s: cannot write the header: %s", path, strerror(errno));
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

wav_writer *wav_writer_open(const char *path, int sample_rate, int channels, wav_encoding enc) {
    return create(path, sample_rate, channels, enc);
}

wav_writer *wav_writer_create_unique(const char *dir, const char *stem, int sample_rate,
                                     int channels, wav_encoding enc) {
    for (int k = 1; k <= 1000; k++) {
        char name[300];
        if (k == 1) snprintf(name, sizeof name, "%.280s.wav", stem);
        else snprintf(name, sizeof name, "%.280s-%d.wav", stem, k);
        char *path = unum_path_join(dir, name);
        wav_writer *w = create(path, sample_rate, channels, enc);
        int taken = !w && errno == EEXIST;
        free(path);
        if (w || !taken) return w;
    }
    unum_error_set("%s/%s: a thousand files of this name already exist", dir, stem);
    return NULL;
}

const char *wav_writer_path(const wav_writer *w) { return w->path; }

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

/* ---------------------------------------------------------------- repair */

static int write_all(int fd, const void *buf, size_t n, off_t at) {
    const uint8_t *p = buf;
    while (n) {
        ssize_t w = pwrite(fd, p, n, at);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w, n -= (size_t)w, at += w;
    }
    return 0;
}

/* Finds the fmt and data chunks and makes the header agree with the audio.
 * unum's writer appends nothing after the data, so the data runs to the end
 * of the file whatever its stale size says, cut to whole frames (and padded
 * to an even size, as RIFF wants). Sizes past what the 32-bit fields hold
 * are capped in the header; the frame count returned is the true one. */
static int fix_fd(int fd, const char *path, wav_fixed *out) {
    struct stat sb;
    if (fstat(fd, &sb) != 0) return unum_error_set("%s: %s", path, strerror(errno));
    uint64_t size = (uint64_t)sb.st_size;
    uint8_t h[12];
    if (size < 12 || pread(fd, h, 12, 0) != 12 || memcmp(h, "RIFF", 4) || memcmp(h + 8, "WAVE", 4)) {
        unum_error_set("%s: not a WAV file (no RIFF/WAVE header)", path);
        return WAV_FIX_DAMAGED;
    }
    uint64_t pos = 12;
    int have_fmt = 0;
    uint16_t channels = 0, align = 0;
    uint32_t rate = 0;
    for (;;) {
        uint8_t ch[8];
        if (pos + 8 > size || pread(fd, ch, 8, (off_t)pos) != 8) {
            unum_error_set("%s: WAV file has no data chunk", path);
            return WAV_FIX_DAMAGED;
        }
        uint32_t len = rd32(ch + 4);
        if (!memcmp(ch, "fmt ", 4)) {
            uint8_t f[16];
            if (len < 16 || pread(fd, f, 16, (off_t)pos + 8) != 16) {
                unum_error_set("%s: WAV fmt chunk is too short", path);
                return WAV_FIX_DAMAGED;
            }
            channels = rd16(f + 2);
            rate = rd32(f + 4);
            align = rd16(f + 12);
            uint16_t bits = rd16(f + 14);
            if (!channels || !rate || !align || align != channels * ((bits + 7) / 8)) {
                unum_error_set("%s: WAV fmt chunk is inconsistent", path);
                return WAV_FIX_DAMAGED;
            }
            have_fmt = 1;
        } else if (!memcmp(ch, "data", 4)) {
            if (!have_fmt) {
                unum_error_set("%s: WAV data comes before fmt", path);
                return WAV_FIX_DAMAGED;
            }
            uint64_t off = pos + 8, bytes = size - off;
            uint64_t frames = bytes / align, keep = frames * align;
            if (keep != bytes && ftruncate(fd, (off_t)(off + keep)) != 0) goto io;
            uint64_t pad = keep & 1, cap = (0xffffffffu - off - 1) / align * align;
            uint64_t hdr = keep < cap ? keep : cap;
            if (pad && hdr == keep) { /* RIFF chunks are padded to even sizes */
                uint8_t zero = 0;
                if (write_all(fd, &zero, 1, (off_t)(off + keep)) != 0) goto io;
            } else {
                pad = 0;
            }
            uint8_t b[4];
            wr32(b, (uint32_t)hdr);
            if (write_all(fd, b, 4, (off_t)pos + 4) != 0) goto io;
            wr32(b, (uint32_t)(off + hdr + pad - 8));
            if (write_all(fd, b, 4, 4) != 0) goto io;
            if (fsync(fd) != 0) goto io;
            out->sample_rate = (int)rate;
            out->channels = channels;
            out->frames = frames;
            return 0;
        }
        pos += 8 + (uint64_t)len + (len & 1);
    }
io:
    return unum_error_set("%s: cannot fix the WAV header: %s", path, strerror(errno));
}

int wav_fix_header(const char *path, int flags, wav_fixed *out) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int missing = errno == ENOENT;
        unum_error_set("%s: %s", path, strerror(errno));
        return missing ? WAV_FIX_DAMAGED : -1;
    }
    if ((flags & WAV_FIX_SKIP_LOCKED) && flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return WAV_FIX_LOCKED;
    }
    int rc = fix_fd(fd, path, out);
    if (rc == 0 && (flags & WAV_FIX_SHA256)) rc = sha256_fd_hex(fd, path, out->sha256);
    close(fd);
    return rc;
}
