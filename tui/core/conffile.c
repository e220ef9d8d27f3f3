/* conffile.c - see conffile.h. */
#include "tui/core/conffile.h"

#include "engine/base/util.h"

#include <string.h>

/* ---------------------------------------------------------------- UTF-8 */

int conf_utf8_decode(const unsigned char *s, size_t n, unsigned *cp) {
    if (n == 0) return 0;
    unsigned c = s[0], v, min;
    int len;
    if (c < 0x80) len = 1, v = c, min = 0;
    else if (c >= 0xc2 && c <= 0xdf) len = 2, v = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef) len = 3, v = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, v = c & 0x07, min = 0x10000;
    else return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    if (cp) *cp = v;
    return len;
}

int conf_utf8_encode(unsigned cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    int n;
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    if (cp < 0x80) o[0] = (unsigned char)cp, n = 1;
    else if (cp < 0x800) o[0] = 0xc0 | cp >> 6, o[1] = 0x80 | (cp & 0x3f), n = 2;
    else if (cp < 0x10000)
        o[0] = 0xe0 | cp >> 12, o[1] = 0x80 | (cp >> 6 & 0x3f), o[2] = 0x80 | (cp & 0x3f), n = 3;
    else
        o[0] = 0xf0 | cp >> 18, o[1] = 0x80 | (cp >> 12 & 0x3f), o[2] = 0x80 | (cp >> 6 & 0x3f),
        o[3] = 0x80 | (cp & 0x3f), n = 4;
    o[n] = 0;
    return n;
}

/* ---------------------------------------------------------------- lines */

int conf_open(ConfReader *r, const char *text, size_t len, const char *origin) {
    memset(r, 0, sizeof *r);
    r->text = text;
    r->len = len;
    r->origin = origin ? origin : "(input)";
    if (len > CONF_MAX_FILE)
        return unum_error_set("%s: file is %zu bytes; the limit is %d", r->origin, len,
                              CONF_MAX_FILE);
    if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) r->pos = 3;
    return 0;
}

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

int conf_next(ConfReader *r, char **line) {
    while (r->pos < r->len) {
        const char *s = r->text + r->pos;
        size_t rest = r->len - r->pos;
        const char *nl = memchr(s, '\n', rest);
        size_t n = nl ? (size_t)(nl - s) : rest;
        r->pos += nl ? n + 1 : n;
        r->line++;
        if (n > CONF_MAX_LINE)
            return unum_error_set("%s:%d: line is longer than %d bytes", r->origin, r->line,
                                  CONF_MAX_LINE);
        for (size_t i = 0; i < n;) {
            unsigned char c = (unsigned char)s[i];
            if (c == 0)
                return unum_error_set("%s:%d: NUL byte in column %zu", r->origin, r->line, i + 1);
            if ((c < 0x20 && c != '\t' && !(c == '\r' && i == n - 1)) || c == 0x7f)
                return unum_error_set("%s:%d: control character 0x%02x in column %zu", r->origin,
                                      r->line, c, i + 1);
            int k = conf_utf8_decode((const unsigned char *)s + i, n - i, NULL);
            if (!k)
                return unum_error_set("%s:%d: invalid UTF-8 in column %zu", r->origin, r->line,
                                      i + 1);
            i += (size_t)k;
        }
        while (n > 0 && is_blank(s[n - 1])) n--;
        while (n > 0 && is_blank(*s)) s++, n--;
        if (n == 0 || *s == '#') continue;
        memcpy(r->buf, s, n);
        r->buf[n] = 0;
        *line = r->buf;
        return 1;
    }
    return 0;
}

int conf_split(char *s, char **words, int max) {
    int n = 0;
    for (;;) {
        while (*s && is_blank(*s)) s++;
        if (!*s) return n;
        if (n == max) return max + 1;
        words[n++] = s;
        while (*s && !is_blank(*s)) s++;
        if (*s) *s++ = 0;
    }
}
