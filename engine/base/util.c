/* util.c - see util.h. */
#include "engine/base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ERR_MAX 1024
static _Thread_local char err_buf[ERR_MAX];

int unum_error_set(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
    return -1;
}

int unum_error_wrap(const char *fmt, ...) {
    char prefix[ERR_MAX], joined[2 * ERR_MAX + 4];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    snprintf(joined, sizeof joined, "%s: %s", prefix, err_buf);
    memcpy(err_buf, joined, ERR_MAX - 1);
    err_buf[ERR_MAX - 1] = 0;
    return -1;
}

const char *unum_error(void) { return err_buf; }

static void oom(size_t n) {
    fprintf(stderr, "unum: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n * size);
    return p;
}

void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

char *unum_read_file(const char *path, size_t max, size_t *len_out) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        unum_error_set("%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        unum_error_set("%s: not a regular file", path);
        return NULL;
    }
    if ((uint64_t)st.st_size > max) {
        fclose(f);
        unum_error_set("%s: file is %lld bytes, more than the %zu allowed", path,
                       (long long)st.st_size, max);
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        unum_error_set("%s: cannot allocate %zu bytes", path, n + 1);
        return NULL;
    }
    if (fread(buf, 1, n, f) != n) {
        fclose(f);
        free(buf);
        unum_error_set("%s: read failed", path);
        return NULL;
    }
    fclose(f);
    buf[n] = 0;
    if (len_out) *len_out = n;
    return buf;
}

int unum_create_private(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        unum_error_set("%s: cannot create: %s", path, strerror(e));
        errno = e; /* EEXIST tells a caller that another process was first */
        return -1;
    }
    if (fchmod(fd, 0600) != 0) { /* the umask may have taken bits away */
        unum_error_set("%s: cannot set its mode: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    return fd;
}

char *unum_private_notice(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0 || !(sb.st_mode & 077)) return NULL;
    size_t n = 2 * strlen(path) + 128;
    char *s = xmalloc(n);
    snprintf(s, n, "%s can be read by others (mode %04o); 'chmod 600 %s' makes it private", path,
             (unsigned)(sb.st_mode & 07777), path);
    return s;
}

int unum_write_file_atomic(const char *path, const void *data, size_t n) {
    size_t tl = strlen(path) + 8;
    char *tmp = xmalloc(tl);
    snprintf(tmp, tl, "%s.part", path);
    struct stat old;
    int keep_mode = stat(path, &old) == 0 && S_ISREG(old.st_mode);
    unlink(tmp); /* a stale .part, or a link someone put there */
    int fd = unum_create_private(tmp);
    if (fd < 0) {
        free(tmp);
        return -1;
    }
    errno = 0;
    int ok = !keep_mode || fchmod(fd, old.st_mode & 07777) == 0;
    for (size_t off = 0; ok && off < n;) {
        ssize_t w = write(fd, (const char *)data + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) ok = 0;
        else off += (size_t)w;
    }
    if (close(fd) != 0) ok = 0;
    if (ok && rename(tmp, path)) ok = 0;
    if (!ok) {
        unum_error_set("%s: %s", path, errno ? strerror(errno) : "write failed");
        unlink(tmp);
    }
    free(tmp);
    return ok ? 0 : -1;
}

char *unum_path_join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *p = xmalloc(la + lb + 2);
    memcpy(p, a, la);
    size_t o = la;
    if (la && a[la - 1] != '/') p[o++] = '/';
    memcpy(p + o, b, lb + 1);
    return p;
}

int unum_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

double unum_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double unum_peak_rss_mb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    double mb = 0;
    while (fgets(line, sizeof line, f)) {
        long kb;
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) {
            mb = (double)kb / 1024.0;
            break;
        }
    }
    fclose(f);
    return mb;
}

float unum_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: renormalize */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            man &= 0x3ff;
            u = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    union {
        uint32_t u;
        float f;
    } v = {u};
    return v.f;
}

uint16_t unum_f32_to_bf16(float f) {
    union {
        float f;
        uint32_t u;
    } v = {f};
    if ((v.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((v.u >> 16) | 0x40); /* NaN */
    uint32_t r = v.u + 0x7fffu + ((v.u >> 16) & 1);
    return (uint16_t)(r >> 16);
}

uint16_t unum_f32_to_f16(float f) {
    union {
        float f;
        uint32_t u;
    } v = {f};
    uint32_t sign = (v.u >> 16) & 0x8000, a = v.u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00);
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* overflow -> inf */
    if (a < 0x38800000u) {                                  /* subnormal or zero in f16 */
        if (a < 0x33000000u) return (uint16_t)sign;
        uint32_t e = a >> 23, m = (a & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e; /* bits to drop to reach units of 2^-24 */
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = a + 0xfffu + ((a >> 13) & 1);
    return (uint16_t)(sign | (((r >> 13) - ((127 - 15) << 10)) & 0xffff));
}

int unum_mkdir_p(const char *dir, unsigned mode) {
    char *p = xstrdup(dir);
    for (char *c = p + 1;; c++) {
        if (*c == '/' || *c == 0) {
            char saved = *c;
            *c = 0;
            if (mkdir(p, (mode_t)mode) != 0 && errno != EEXIST) {
                unum_error_set("%s: cannot create folder: %s", p, strerror(errno));
                free(p);
                return -1;
            }
            *c = saved;
            if (!saved) break;
        }
    }
    free(p);
    return 0;
}
