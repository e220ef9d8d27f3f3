/* util.h - error reporting, checked allocation, whole-file reads.
 *
 * Errors: a failing function records one message with unum_error_set() and
 * returns -1 (or NULL). The caller either adds context and fails in turn, or
 * prints unum_error() and stops. Messages name the file or value at fault.
 * The message is thread-local, so the engine thread and the UI never clobber
 * each other's errors. */
#ifndef UNUM_UTIL_H
#define UNUM_UTIL_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define UNUM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define UNUM_PRINTF(a, b)
#endif

/* Records the current error message (printf style). Always returns -1 so that
 * `return unum_error_set(...)` reads naturally. */
int unum_error_set(const char *fmt, ...) UNUM_PRINTF(1, 2);
/* Prefixes the current error with more context: "prefix: old message". */
int unum_error_wrap(const char *fmt, ...) UNUM_PRINTF(1, 2);
/* The last error message of this thread ("" when none). */
const char *unum_error(void);

/* Allocation that aborts with a message on exhaustion; for small bookkeeping
 * only. Large buffers use the non-aborting calls and report failure. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* Reads a whole file into a NUL-terminated buffer of at most max bytes.
 * Returns NULL with the error set (naming path) on failure. */
char *unum_read_file(const char *path, size_t max, size_t *len_out);

/* Writes n bytes to path through path.part and a rename, so path is either
 * whole or untouched. The .part is created afresh (a stale one, or a
 * symbolic link put there, is removed first, never followed) with mode 0600
 * whatever the umask, or with the mode of the file it replaces, so that an
 * existing file keeps the mode its owner gave it. 0, or -1 with the error
 * naming the file. */
int unum_write_file_atomic(const char *path, const void *data, size_t n);

/* Creates path for writing: exclusively (an existing file or a symbolic
 * link there is an error, EEXIST), with mode 0600 whatever the umask.
 * Returns the open descriptor, or -1 with the error naming path and errno
 * kept. */
int unum_create_private(const char *path);

/* When the existing file at path can be read by others than its owner
 * (group or world), a new notice that says so and how to make it private;
 * NULL when it cannot (or does not exist). */
char *unum_private_notice(const char *path);

/* mkdir -p: dir and the folders above it, new ones with mode. 0, or -1
 * with the error naming the folder that could not be made. */
int unum_mkdir_p(const char *dir, unsigned mode);

/* Path join into a new string: "a" + "/" + "b". */
char *unum_path_join(const char *a, const char *b);
int unum_file_exists(const char *path);

/* Size-overflow-checked arithmetic: return 0 on success, -1 on overflow. */
static inline int unum_mul_ok(uint64_t a, uint64_t b, uint64_t *out) {
    return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}

/* Monotonic clock in seconds. */
double unum_now(void);

/* Peak resident set size of this process in MiB (from /proc/self/status). */
double unum_peak_rss_mb(void);

/* bf16 / f16 to f32 (scalar, exact). */
static inline float unum_bf16_to_f32(uint16_t h) {
    union {
        uint32_t u;
        float f;
    } v = {(uint32_t)h << 16};
    return v.f;
}
float unum_f16_to_f32(uint16_t h);
/* Round-to-nearest-even f32 to bf16 / f16. */
uint16_t unum_f32_to_bf16(float f);
uint16_t unum_f32_to_f16(float f);

#endif
