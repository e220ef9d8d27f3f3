/* termsafe.h - text from stored or received sources, written to a stream
 * without ever driving the terminal.
 *
 * A model's reply, a Whisper transcript, a persona file someone shared or a
 * WAV file's name may hold escape sequences: OSC 52 writes the clipboard,
 * OSC 0 the window title, OSC 8 makes links, CSI moves the cursor and
 * rewrites what is on screen. Every place that prints such text to stdout or
 * stderr goes through one of the calls below.
 *
 * term_write and friends: when the stream is a terminal (isatty on its file
 * descriptor), C0 controls other than '\n' and '\t' are shown in caret form
 * ("^[" for ESC, "^M" for CR, "^?" for DEL), C1 controls (U+0080..U+009F,
 * as UTF-8) as "\u0080".."\u009f", and bytes that are not valid UTF-8 as
 * "\xHH" (a lone 0x9B would be a CSI to an 8-bit terminal). Everything else
 * passes unchanged. When the stream is a file or a pipe, the bytes pass
 * unchanged, so an export stays faithful.
 *
 * TermStrip (for `unum run`'s reply on a terminal): drops whole control
 * sequences (ESC and C1 introducers with everything up to their final byte
 * or string terminator: CSI, OSC, DCS, SOS, PM, APC and two-byte escapes)
 * and other control characters but '\n' and '\t', keeping the text around
 * them. Its state carries across calls, so a sequence split between tokens
 * is still dropped whole. */
#ifndef UNUM_TERMSAFE_H
#define UNUM_TERMSAFE_H

#include "engine/base/util.h"

#include <stddef.h>
#include <stdio.h>

/* Whether f is a terminal. */
int term_is_tty(FILE *f);

/* Writes s[0..n) to f as described above. 0, or -1 when the write failed
 * (errno set, as by fwrite). */
int term_write(FILE *f, const char *s, size_t n);
/* term_write of a NUL-terminated string. */
int term_puts(const char *s, FILE *f);
/* Formats like fprintf, then writes the result with term_write. Returns
 * the bytes formatted, or -1 on a failed write. Deliberate control output
 * (a progress line's "\r\033[K") is written with plain stdio beside it. */
int term_printf(FILE *f, const char *fmt, ...) UNUM_PRINTF(2, 3);

/* Escapes s[0..n) as term_write does for a terminal, into a new string. */
char *term_escape(const char *s, size_t n);

typedef struct {
    int state; /* where in a sequence the last byte left off */
} TermStrip;

/* Writes s[0..n) to f without its control sequences; st starts zeroed and
 * is kept between calls for one stream of text. 0, or -1 on a failed write. */
int term_strip_write(TermStrip *st, FILE *f, const char *s, size_t n);

#endif
