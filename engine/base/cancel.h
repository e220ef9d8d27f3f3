/* cancel.h - stopping long work: one flag type, one answer.
 *
 * A UnumCancel is an atomic int. Any thread, or a signal handler (an
 * atomic_int is lock-free here, so setting it is async-signal-safe), sets
 * it with unum_cancel; the work reads it with unum_cancelled between steps
 * (tokens, chunks, windows, file blocks). No plain volatile flag is shared
 * between threads anywhere in unum.
 *
 * The answer: a function that stops because its flag is set returns
 * UNUM_CANCELLED (1). That is not an error (0 is done, -1 an error with the
 * message set); what was done before the stop is kept as the function's
 * contract says (a reply so far, a transcript so far, .part files). A
 * caller that cannot tell the two apart, or that must print something,
 * finds "cancelled" as the current error message as well.
 *
 * Who clears the flag: whoever owns it, before starting the next piece of
 * work. The Engine's own flag (engine.h) is cleared by the engine call that
 * used it up, so a late cancel never reaches the next request. */
#ifndef UNUM_CANCEL_H
#define UNUM_CANCEL_H

#include <stdatomic.h>

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "a cancel flag must be settable from a signal handler");

typedef atomic_int UnumCancel;

enum { UNUM_CANCELLED = 1 };

/* Sets the flag; safe from any thread and from a signal handler. */
static inline void unum_cancel(UnumCancel *c) { atomic_store(c, 1); }
/* Whether c (which may be NULL: never cancelled) is set. */
static inline int unum_cancelled(UnumCancel *c) { return c && atomic_load(c) != 0; }
static inline void unum_cancel_clear(UnumCancel *c) { atomic_store(c, 0); }

/* Records "cancelled" as the current error and returns UNUM_CANCELLED, so
 * that `return unum_cancelled_status();` reads like unum_error_set. */
int unum_cancelled_status(void);

#endif
