/* termsafe.c - terminal-safe output of untrusted text; see termsafe.h. */
#include "engine/base/termsafe.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int term_is_tty(FILE *f) {
    int fd = fileno(f);
    return fd >= 0 && isatty(fd);
}

/* ------------------------------------------------------------ escaping */

/* The length of the valid UTF-8 sequence at s[i] (i < n) with its code point
 * in *cp, or 0 when s[i] does not start one (overlong forms, surrogates and
 * code points past U+10FFFF are invalid). */
static size_t utf8_valid(const unsigned char *s, size_t n, size_t i, uint32_t *cp) {
    unsigned b = s[i];
    size_t len;
    uint32_t c, min;
    if (b < 0x80) return *cp = b, 1;
    if (b >= 0xC2 && b <= 0xDF) len = 2, c = b & 0x1F, min = 0x80;
    else if (b >= 0xE0 && b <= 0xEF) len = 3, c = b & 0x0F, min = 0x800;
    else if (b >= 0xF0 && b <= 0xF4) len = 4, c = b & 0x07, min = 0x10000;
    else return 0;
    if (n - i < len) return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[i + k] & 0xC0) != 0x80) return 0;
        c = c << 6 | (s[i + k] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return len;
}

/* The escaped form of the character at s[i] into out (at most 7 bytes, not
 * terminated), or 0 when it passes as it is; *step gets its length. */
static int escape_one(const unsigned char *s, size_t n, size_t i, char *out, size_t *step) {
    static const char hex[] = "0123456789abcdef";
    unsigned b = s[i];
    *step = 1;
    if (b == '\n' || b == '\t') return 0;
    if (b < 0x20 || b == 0x7F) {
        out[0] = '^', out[1] = b == 0x7F ? '?' : (char)(b + 0x40);
        return 2;
    }
    if (b < 0x80) return 0;
    uint32_t cp;
    size_t k = utf8_valid(s, n, i, &cp);
    if (!k) {
        memcpy(out, "\\x", 2), out[2] = hex[b >> 4], out[3] = hex[b & 15];
        return 4;
    }
    *step = k;
    if (cp >= 0x80 && cp < 0xA0) {
        memcpy(out, "\\u00", 4), out[4] = hex[cp >> 4], out[5] = hex[cp & 15];
        return 6;
    }
    return 0;
}

char *term_escape(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    char *out = xmalloc(n * 4 + 1); /* a byte never grows past 4 */
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t step;
        int e = escape_one(u, n, i, out + o, &step);
        if (e) o += (size_t)e;
        else memcpy(out + o, s + i, step), o += step;
        i += step;
    }
    out[o] = 0;
    return out;
}

int term_write(FILE *f, const char *s, size_t n) {
    if (!term_is_tty(f)) return n && fwrite(s, 1, n, f) != n ? -1 : 0;
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0; /* start of the bytes that pass unchanged */
    for (size_t i = 0; i < n;) {
        char e[8];
        size_t step;
        int k = escape_one(u, n, i, e, &step);
        if (k) {
            if (i > run && fwrite(s + run, 1, i - run, f) != i - run) return -1;
            if (fwrite(e, 1, (size_t)k, f) != (size_t)k) return -1;
            run = i + step;
        }
        i += step;
    }
    if (n > run && fwrite(s + run, 1, n - run, f) != n - run) return -1;
    return 0;
}

int term_puts(const char *s, FILE *f) { return term_write(f, s, strlen(s)); }

int term_printf(FILE *f, const char *fmt, ...) {
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (need < 0) return -1;
    char *s = small;
    if ((size_t)need >= sizeof small) {
        s = xmalloc((size_t)need + 1);
        va_start(ap, fmt);
        vsnprintf(s, (size_t)need + 1, fmt, ap);
        va_end(ap);
    }
    int rc = term_write(f, s, (size_t)need);
    if (s != small) free(s);
    return rc ? -1 : need;
}

/* ------------------------------------------------------------ stripping */

enum {
    ST_GROUND,
    ST_ESC,        /* after ESC */
    ST_ESC_INTER,  /* ESC and intermediate bytes, until a final byte */
    ST_CSI,        /* parameters and intermediates, until a final byte */
    ST_STRING,     /* OSC, DCS, SOS, PM, APC: until BEL or ST */
    ST_STRING_ESC, /* ESC inside a string: '\\' ends it */
    ST_STRING_C2,  /* 0xC2 inside a string: 0x9C (ST as UTF-8) ends it */
    ST_C2,         /* 0xC2 in text: the start of a C1 control or a character */
};

/* Feeds byte b; keeps it in *keep (1) or drops it (0). Returns 1 when b must
 * be fed again in the new state (it ended a sequence without belonging to
 * it); *c2 is set when a held 0xC2 turned out to be text. */
static int strip_step(int *state, unsigned b, int *keep, int *c2) {
    *keep = 0;
    *c2 = 0;
    switch (*state) {
    case ST_GROUND:
        if (b == 0x1B) *state = ST_ESC;
        else if (b == 0xC2) *state = ST_C2;
        else if ((b < 0x20 && b != '\n' && b != '\t') || b == 0x7F) {
        } else *keep = 1;
        return 0;
    case ST_C2:
        *state = ST_GROUND;
        if (b == 0x9B) *state = ST_CSI;
        else if (b == 0x90 || b == 0x98 || b == 0x9D || b == 0x9E || b == 0x9F) *state = ST_STRING;
        else if (b >= 0x80 && b < 0xA0) {
        } else {
            *c2 = 1;
            return 1;
        }
        return 0;
    case ST_ESC:
        if (b == '[') *state = ST_CSI;
        else if (b == ']' || b == 'P' || b == 'X' || b == '^' || b == '_') *state = ST_STRING;
        else if (b >= 0x20 && b <= 0x2F) *state = ST_ESC_INTER;
        else if (b >= 0x30 && b <= 0x7E) *state = ST_GROUND;
        else if (b == 0x1B) {
        } else {
            *state = ST_GROUND;
            return 1;
        }
        return 0;
    case ST_ESC_INTER:
        if (b >= 0x20 && b <= 0x2F) return 0;
        *state = ST_GROUND;
        return !(b >= 0x30 && b <= 0x7E);
    case ST_CSI:
        if (b >= 0x20 && b <= 0x3F) return 0;
        if (b >= 0x40 && b <= 0x7E) {
            *state = ST_GROUND;
            return 0;
        }
        *state = ST_GROUND;
        return 1;
    case ST_STRING:
        if (b == 0x07) *state = ST_GROUND;
        else if (b == 0x1B) *state = ST_STRING_ESC;
        else if (b == 0xC2) *state = ST_STRING_C2;
        return 0;
    case ST_STRING_ESC:
        if (b == '\\') {
            *state = ST_GROUND;
            return 0;
        }
        *state = ST_ESC; /* that ESC starts a sequence of its own */
        return 1;
    case ST_STRING_C2:
        *state = ST_STRING;
        if (b == 0x9C) *state = ST_GROUND;
        else return 1;
        return 0;
    }
    *state = ST_GROUND;
    return 1;
}

int term_strip_write(TermStrip *st, FILE *f, const char *s, size_t n) {
    char buf[4096];
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        int keep, c2;
        int again = strip_step(&st->state, (unsigned char)s[i], &keep, &c2);
        if (o + 2 > sizeof buf) {
            if (fwrite(buf, 1, o, f) != o) return -1;
            o = 0;
        }
        if (c2) buf[o++] = (char)0xC2;
        if (keep) buf[o++] = s[i];
        if (!again) i++;
    }
    if (o && fwrite(buf, 1, o, f) != o) return -1;
    return 0;
}
