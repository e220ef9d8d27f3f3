/* recordings.c - see recordings.h. */
#include "tui/core/recordings.h"

#include "audio/wav.h"
#include "engine/base/sha256.h"
#include "engine/base/util.h"
#include "store/meeting_store.h"
#include "store/recording.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int recordings_open(const char *db, Store **out) {
    if (store_open(db, out)) return -1;
    if (recordings_repair(*out, NULL, NULL)) {
        store_close(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* Fixes and measures path's file and updates row id: 0, WAV_FIX_LOCKED,
 * WAV_FIX_DAMAGED or -1. */
static int finish_file(Store *st, int64_t id, const char *path, int flags) {
    wav_fixed f;
    int rc = wav_fix_header(path, flags | WAV_FIX_SHA256, &f);
    if (rc == 0)
        rc = store_recording_complete(st, id, (double)f.frames / f.sample_rate, f.sample_rate,
                                      f.channels, f.sha256);
    return rc;
}

int recording_finish(Store *st, int64_t id) {
    char *path = store_recording_path(st, id);
    if (!path) return -1;
    int rc = finish_file(st, id, path, 0);
    free(path);
    return rc < 0 ? -1 : 0;
}

int recordings_repair(Store *st, int *repaired, int *damaged) {
    if (repaired) *repaired = 0;
    if (damaged) *damaged = 0;
    int64_t *ids;
    char **paths;
    size_t n;
    int err = store_recordings_unfinished(st, &ids, &paths, &n);
    for (size_t i = 0; i < n && !err; i++) {
        int r = finish_file(st, ids[i], paths[i], WAV_FIX_SKIP_LOCKED);
        if (r == 0 && repaired) (*repaired)++;
        if (r == WAV_FIX_DAMAGED) {
            /* No usable audio: keep the row, say what happened. */
            if (store_recording_damaged(st, ids[i]) != 0) err = -1;
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

/* ------------------------------------------------------------ import */

/* Copies src into dst (both open) a block at a time, hashing what it
 * copies; the copy is on disk when this returns 0. */
static int copy_hashing(int src, int dst, const char *from, const char *to, char hex[65]) {
    Sha256 c;
    if (sha256_init(&c)) return unum_error_wrap("%s", from);
    static const size_t BLOCK = 1 << 16;
    uint8_t *buf = xmalloc(BLOCK);
    int rc = 0;
    for (off_t at = 0;;) {
        ssize_t r = pread(src, buf, BLOCK, at);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            rc = unum_error_set("%s: %s", from, strerror(errno));
            break;
        }
        if (r == 0) break;
        sha256_update(&c, buf, (size_t)r);
        for (ssize_t done = 0; done < r;) {
            ssize_t w = write(dst, buf + done, (size_t)(r - done));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                rc = unum_error_set("%s: cannot write: %s", to, strerror(errno));
                break;
            }
            done += w;
        }
        if (rc) break;
        at += r;
    }
    sha256_final_hex(&c, hex);
    free(buf);
    if (!rc && fsync(dst) != 0) rc = unum_error_set("%s: cannot write: %s", to, strerror(errno));
    return rc;
}

int recording_import(Store *st, const char *path, int64_t *id, int *existing) {
    *existing = 0;
    wav_info info;
    wav_reader *r = wav_reader_open(path, 0, &info); /* a usable WAV, by its header */
    if (!r) return -1;
    wav_reader_close(r);
    int src = open(path, O_RDONLY | O_CLOEXEC);
    if (src < 0) return unum_error_set("%s: %s", path, strerror(errno));
    char hex[65], copied[65];
    int64_t found = 0;
    if (sha256_fd_hex(src, path, hex) || store_recording_by_sha(st, hex, &found)) {
        close(src);
        return -1;
    }
    if (found) {
        close(src);
        *id = found;
        *existing = 1;
        return 0;
    }
    char *dir = store_recordings_dir();
    if (!dir) {
        close(src);
        return -1;
    }
    char name[64];
    snprintf(name, sizeof name, "import-%.16s.wav", hex);
    char *dest = unum_path_join(dir, name), *part = NULL;
    int rc = -1, dst = -1;
    /* into a private .part first, then renamed: the final name only ever
     * holds a whole copy */
    for (int k = 0; k < 100 && dst < 0; k++) {
        free(part);
        snprintf(name, sizeof name, ".import-%d-%d.part", (int)getpid(), k);
        part = unum_path_join(dir, name);
        dst = open(part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (dst < 0 && errno != EEXIST) break;
    }
    if (dst < 0) {
        unum_error_set("%s: cannot create: %s", part, strerror(errno));
    } else if (copy_hashing(src, dst, path, part, copied) == 0) {
        if (strcmp(copied, hex) != 0)
            unum_error_set("%s: the file changed while it was imported", path);
        else if (rename(part, dest) != 0)
            unum_error_set("%s: cannot rename to %s: %s", part, dest, strerror(errno));
        else
            rc = store_recording_add_imported(st, dest, (double)info.frames / info.sample_rate,
                                              info.sample_rate, info.channels, hex, path, id);
    }
    if (dst >= 0) {
        close(dst);
        if (rc) unlink(part); /* after a successful rename, part names nothing */
    }
    close(src);
    free(part);
    free(dest);
    free(dir);
    return rc;
}
