/* recording.c - see recording.h. */
#include "store/recording.h"

#include "engine/base/sha256.h"
#include "engine/base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- WAV files ------------------------------------------------------------ */

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16),
    p[3] = (uint8_t)(v >> 24);
}
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static uint32_t get32(const uint8_t *p) {
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

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

#define WAV_MAX_RATE 768000

/* Makes path's directory entry durable (the row pointing at it is). */
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

int store_wav_create(const char *path, int sample_rate, int channels) {
    if (sample_rate <= 0 || sample_rate > WAV_MAX_RATE || channels <= 0 || channels > 16)
        return unum_error_set("%s: bad WAV format (%d Hz, %d channels)", path, sample_rate,
                              channels);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return unum_error_set("%s: cannot create: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return unum_error_set("%s: cannot lock: %s", path, strerror(errno));
    }
    uint8_t h[44];
    memcpy(h, "RIFF", 4);
    put32(h + 4, 36);
    memcpy(h + 8, "WAVEfmt ", 8);
    put32(h + 16, 16);
    put16(h + 20, 1); /* PCM */
    put16(h + 22, (uint16_t)channels);
    put32(h + 24, (uint32_t)sample_rate);
    put32(h + 28, (uint32_t)sample_rate * (uint32_t)channels * 2);
    put16(h + 32, (uint16_t)(channels * 2));
    put16(h + 34, 16);
    memcpy(h + 36, "data", 4);
    put32(h + 40, 0);
    if (write_all(fd, h, sizeof h, 0) != 0 || lseek(fd, sizeof h, SEEK_SET) < 0 ||
        fsync(fd) != 0 || sync_parent(path) != 0) {
        unum_error_set("%s: cannot write the header: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Finds the fmt and data chunks and makes the header agree with the audio.
 * unum's writer appends nothing after the data, so the data runs to the end
 * of the file whatever its stale size says, cut to whole frames (and padded
 * to an even size, as RIFF wants). Sizes past what the 32-bit fields hold
 * are capped in the header; the frame count returned is the true one.
 * Errors: WAV_DAMAGED when the file is not usable audio, -1 for a failure to
 * read or write it. */
#define WAV_DAMAGED -2
static int wav_fix_fd(int fd, const char *path, int *rate_out, int *ch_out, uint64_t *frames_out) {
    struct stat sb;
    if (fstat(fd, &sb) != 0) return unum_error_set("%s: %s", path, strerror(errno));
    uint64_t size = (uint64_t)sb.st_size;
    uint8_t h[12];
    if (size < 12 || pread(fd, h, 12, 0) != 12 || memcmp(h, "RIFF", 4) || memcmp(h + 8, "WAVE", 4)) {
        unum_error_set("%s: not a WAV file (no RIFF/WAVE header)", path);
        return WAV_DAMAGED;
    }
    uint64_t pos = 12;
    int have_fmt = 0;
    uint16_t channels = 0, align = 0;
    uint32_t rate = 0;
    for (;;) {
        uint8_t ch[8];
        if (pos + 8 > size || pread(fd, ch, 8, (off_t)pos) != 8) {
            unum_error_set("%s: WAV file has no data chunk", path);
            return WAV_DAMAGED;
        }
        uint32_t len = get32(ch + 4);
        if (!memcmp(ch, "fmt ", 4)) {
            uint8_t f[16];
            if (len < 16 || pread(fd, f, 16, (off_t)pos + 8) != 16) {
                unum_error_set("%s: WAV fmt chunk is too short", path);
                return WAV_DAMAGED;
            }
            channels = get16(f + 2);
            rate = get32(f + 4);
            align = get16(f + 12);
            uint16_t bits = get16(f + 14);
            if (!channels || !rate || !align || align != channels * ((bits + 7) / 8)) {
                unum_error_set("%s: WAV fmt chunk is inconsistent", path);
                return WAV_DAMAGED;
            }
            have_fmt = 1;
        } else if (!memcmp(ch, "data", 4)) {
            if (!have_fmt) {
                unum_error_set("%s: WAV data comes before fmt", path);
                return WAV_DAMAGED;
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
            put32(b, (uint32_t)hdr);
            if (write_all(fd, b, 4, (off_t)pos + 4) != 0) goto io;
            put32(b, (uint32_t)(off + hdr + pad - 8));
            if (write_all(fd, b, 4, 4) != 0) goto io;
            if (fsync(fd) != 0) goto io;
            if (rate_out) *rate_out = (int)rate;
            if (ch_out) *ch_out = channels;
            if (frames_out) *frames_out = frames;
            return 0;
        }
        pos += 8 + (uint64_t)len + (len & 1);
    }
io:
    return unum_error_set("%s: cannot fix the WAV header: %s", path, strerror(errno));
}

int store_wav_fix(const char *path, int *sample_rate, int *channels, uint64_t *frames) {
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return unum_error_set("%s: %s", path, strerror(errno));
    int rc = wav_fix_fd(fd, path, sample_rate, channels, frames);
    close(fd);
    return rc < 0 ? -1 : 0;
}

static int file_sha256(int fd, const char *path, char hex[65]) {
    Sha256 c;
    if (sha256_init(&c)) return unum_error_wrap("%s", path);
    uint8_t buf[1 << 16];
    off_t at = 0;
    for (;;) {
        ssize_t r = pread(fd, buf, sizeof buf, at);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            sha256_final_hex(&c, hex); /* frees the context */
            return unum_error_set("%s: %s", path, strerror(errno));
        }
        if (r == 0) break;
        sha256_update(&c, buf, (size_t)r);
        at += r;
    }
    sha256_final_hex(&c, hex);
    return 0;
}

/* ---- rows ----------------------------------------------------------------- */

int store_recording_begin(Store *st, const char *path, int sample_rate, int channels,
                          int64_t session_id, int64_t *id) {
    /* repair runs at every open, from whatever folder: the path must not
     * depend on the current one */
    if (path[0] != '/') return unum_error_set("%s: a recording path must be absolute", path);
    sqlite3_stmt *s =
        store_prepare(st, "INSERT INTO recordings(session_id, path, status, "
                          "sample_rate, channels) VALUES (?1, ?2, 'recording', ?3, ?4)");
    if (!s) return -1;
    if (session_id) sqlite3_bind_int64(s, 1, session_id);
    sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, sample_rate);
    sqlite3_bind_int(s, 4, channels);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_CONSTRAINT_UNIQUE)
        return unum_error_set("%s: already has a recording row", path);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return unum_error_set("session %lld not found", (long long)session_id);
    if (rc != SQLITE_DONE) return store_fail(st, "adding a recording");
    if (id) *id = sqlite3_last_insert_rowid(store_db(st));
    return 0;
}

static int set_status(Store *st, int64_t id, const char *status, double dur, int rate, int ch,
                      const char *sha) {
    sqlite3_stmt *s = store_prepare(
        st, "UPDATE recordings SET status = ?2, duration_s = coalesce(?3, duration_s), "
            "sample_rate = coalesce(?4, sample_rate), channels = coalesce(?5, channels), "
            "sha256 = coalesce(?6, sha256) WHERE id = ?1");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_text(s, 2, status, -1, SQLITE_STATIC);
    if (sha) {
        sqlite3_bind_double(s, 3, dur);
        sqlite3_bind_int(s, 4, rate);
        sqlite3_bind_int(s, 5, ch);
        sqlite3_bind_text(s, 6, sha, -1, SQLITE_STATIC);
    }
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return store_fail(st, "updating a recording");
    if (sqlite3_changes(store_db(st)) == 0)
        return unum_error_set("recording %lld not found", (long long)id);
    return 0;
}

/* Fixes and measures the file; 1 when it is held by a live writer. */
static int finish_file(Store *st, int64_t id, const char *path, int skip_locked) {
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int missing = errno == ENOENT;
        unum_error_set("%s: %s", path, strerror(errno));
        return missing ? WAV_DAMAGED : -1;
    }
    if (skip_locked && flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return 1;
    }
    int rate = 0, ch = 0;
    uint64_t frames = 0;
    char hex[65];
    int rc = wav_fix_fd(fd, path, &rate, &ch, &frames);
    if (rc == 0) rc = file_sha256(fd, path, hex);
    if (rc == 0) rc = set_status(st, id, "complete", (double)frames / rate, rate, ch, hex);
    close(fd);
    return rc;
}

static char *recording_path(Store *st, int64_t id) {
    sqlite3_stmt *s = store_prepare(st, "SELECT path FROM recordings WHERE id = ?1");
    if (!s) return NULL;
    sqlite3_bind_int64(s, 1, id);
    char *p = NULL;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) p = store_col_text(s, 0);
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) unum_error_set("recording %lld not found", (long long)id);
    else if (rc != SQLITE_ROW) store_fail(st, "reading a recording");
    return p;
}

int store_recording_finish(Store *st, int64_t id) {
    char *path = recording_path(st, id);
    if (!path) return -1;
    int rc = finish_file(st, id, path, 0);
    free(path);
    return rc < 0 ? -1 : rc;
}

int store_recording_repair(Store *st, int *repaired, int *damaged) {
    if (repaired) *repaired = 0;
    if (damaged) *damaged = 0;
    sqlite3_stmt *s = store_prepare(st, "SELECT id, path FROM recordings WHERE status = "
                                        "'recording' ORDER BY id");
    if (!s) return -1;
    int64_t *ids = NULL;
    char **paths = NULL;
    size_t n = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        ids = xrealloc(ids, (n + 1) * sizeof *ids);
        paths = xrealloc(paths, (n + 1) * sizeof *paths);
        ids[n] = sqlite3_column_int64(s, 0);
        paths[n++] = store_col_text(s, 1);
    }
    sqlite3_finalize(s);
    int err = rc == SQLITE_DONE ? 0 : store_fail(st, "reading recordings");
    for (size_t i = 0; i < n && !err; i++) {
        int r = finish_file(st, ids[i], paths[i], 1);
        if (r == 0 && repaired) (*repaired)++;
        if (r == WAV_DAMAGED) {
            /* No usable audio: keep the row, say what happened. */
            if (set_status(st, ids[i], "damaged", 0, 0, 0, NULL) != 0) err = -1;
            else if (damaged) (*damaged)++;
        } else if (r < 0) {
            /* Could not read or write it now (permissions, I/O, a busy
             * database): leave it as 'recording' for the next open. */
            fprintf(stderr, "unum: recording %lld not repaired yet: %s\n", (long long)ids[i],
                    unum_error());
        }
    }
    for (size_t i = 0; i < n; i++) free(paths[i]);
    free(paths);
    free(ids);
    return err ? -1 : 0;
}

int store_recording_get(Store *st, int64_t id, StoreRecording *out) {
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = store_prepare(st, "SELECT id, coalesce(session_id, 0), path, status, "
                                        "sha256, created, duration_s, sample_rate, channels "
                                        "FROM recordings WHERE id = ?1");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(s, 0);
        out->session_id = sqlite3_column_int64(s, 1);
        out->path = store_col_text(s, 2);
        out->status = store_col_text(s, 3);
        out->sha256 = store_col_text(s, 4);
        out->created = store_col_text(s, 5);
        out->duration_s = sqlite3_column_double(s, 6);
        out->sample_rate = sqlite3_column_int(s, 7);
        out->channels = sqlite3_column_int(s, 8);
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return unum_error_set("recording %lld not found", (long long)id);
    if (rc != SQLITE_ROW) return store_fail(st, "reading a recording");
    return 0;
}

void store_recording_free(StoreRecording *r) {
    if (!r) return;
    free(r->path);
    free(r->status);
    free(r->sha256);
    free(r->created);
    memset(r, 0, sizeof *r);
}

int store_segment_add(Store *st, int64_t recording_id, double start_s, double end_s,
                      const char *speaker, const char *text, int64_t *id) {
    if (!(end_s >= start_s) || start_s < 0)
        return unum_error_set("segment %.3f..%.3f s: end before start", start_s, end_s);
    sqlite3_stmt *s = store_prepare(st, "INSERT INTO segments(recording_id, start_s, end_s, "
                                        "speaker, text) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, recording_id);
    sqlite3_bind_double(s, 2, start_s);
    sqlite3_bind_double(s, 3, end_s);
    sqlite3_bind_text(s, 4, speaker ? speaker : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, text ? text : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return unum_error_set("recording %lld not found", (long long)recording_id);
    if (rc != SQLITE_DONE) return store_fail(st, "adding a segment");
    if (id) *id = sqlite3_last_insert_rowid(store_db(st));
    return 0;
}
