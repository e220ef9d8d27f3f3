/* conffile.h - the line reader shared by the theme and key-binding files.
 *
 * Both files are small UTF-8 text a user edits by hand, so both are read as
 * hostile input: a file over CONF_MAX_FILE bytes, a line over CONF_MAX_LINE
 * bytes, a NUL byte, another control character than tab (and the CR of a
 * CRLF line end) or a byte sequence that is not UTF-8 is refused with
 * "ORIGIN:LINE: problem" (unum_error_set) before any of it is interpreted.
 *
 * conf_next() hands out one meaningful line at a time, with leading and
 * trailing blanks removed, blank lines and comment lines (first non-blank
 * character '#') skipped, a CR before the LF dropped and a leading UTF-8
 * byte-order mark ignored. A '#' later in a line is ordinary text, so a key
 * file can bind the '#' key and a description can hold one. */
#ifndef UNUM_CONFFILE_H
#define UNUM_CONFFILE_H

#include <stddef.h>

#define CONF_MAX_FILE (64 * 1024) /* bytes in a whole file */
#define CONF_MAX_LINE 1024        /* bytes in one line, without its LF */

typedef struct {
    const char *text; /* the file image (need not be NUL-terminated) */
    size_t len, pos;
    int line;           /* number of the line last returned (1-based) */
    const char *origin; /* file name for messages */
    char buf[CONF_MAX_LINE + 1];
} ConfReader;

/* Starts reading text[0..len). Fails (-1, error set) when len is over
 * CONF_MAX_FILE. */
int conf_open(ConfReader *r, const char *text, size_t len, const char *origin);
/* 1 with *line pointing at the next meaningful line (NUL-terminated, valid
 * until the next call), 0 at the end, -1 with the error set. */
int conf_next(ConfReader *r, char **line);
/* Splits s in place at runs of blanks into at most max words; returns how
 * many, or max + 1 when there were more. */
int conf_split(char *s, char **words, int max);
/* The number of bytes of the valid UTF-8 sequence at s[0..n), or 0 when it is
 * not one (overlong forms, surrogates and code points past U+10FFFF count as
 * invalid). *cp receives the code point when cp is not NULL. */
int conf_utf8_decode(const unsigned char *s, size_t n, unsigned *cp);
/* Encodes cp as UTF-8 into out (room for 4 bytes and a NUL); returns the
 * byte count, 0 for a value that is not a Unicode scalar value. */
int conf_utf8_encode(unsigned cp, char *out);

#endif
