/* common.h - what every command of the command line shares: the way it
 * fails, Ctrl-C, and the database it works on.
 *
 * Ctrl-C (and SIGTERM where a command asks for it) while a command's
 * interrupt window is open: the first one sets cli_interrupt_flag() and
 * cancels the engine given to cli_interrupt_engine, so the command stops at
 * its next step and keeps what it has; a second one ends the process at
 * once (exit status 128 + the signal), for a stop that hangs. Outside the
 * window the default actions apply. One window at a time. */
#ifndef UNUM_CLI_COMMON_H
#define UNUM_CLI_COMMON_H

#include "engine/base/cancel.h"
#include "engine/engine.h"
#include "store/store.h"

#include <signal.h>

/* Prints "unum: <the current error>" on stderr; returns 1 (the runtime
 * error exit status) so that `return cli_fail();` reads naturally. */
int cli_fail(void);

/* The --db path given before the command (NULL: the store's default). */
void cli_set_db(const char *path);
const char *cli_db(void);
/* Opens that database (recordings_open: with the crash repair of
 * recordings); NULL after printing the error. */
Store *cli_open_db(void);

typedef struct {
    struct sigaction old_int, old_term;
    int term;
} CliInterrupt;

/* Opens the window: clears the flag and catches SIGINT, and SIGTERM too
 * when with_term. */
void cli_interrupt_begin(CliInterrupt *ci, int with_term);
/* Closes it: the previous handlers come back; no engine is cancelled. */
void cli_interrupt_end(CliInterrupt *ci);
/* The flag the first signal sets (for TranscribeParams, MeetingParams,
 * PullOptions and loops of the command's own). */
UnumCancel *cli_interrupt_flag(void);
/* The engine the first signal also cancels (NULL: none); set it while a
 * generation runs. */
void cli_interrupt_engine(Engine *e);

#endif
