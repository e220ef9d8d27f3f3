/* common.c - see common.h. */
#include "tui/cli/common.h"

#include "engine/base/termsafe.h"
#include "engine/base/util.h"
#include "tui/core/recordings.h"

#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

int cli_fail(void) {
    term_printf(stderr, "unum: %s\n", unum_error());
    return 1;
}

/* ------------------------------------------------------------ database */

static const char *db_path;

void cli_set_db(const char *path) { db_path = path; }
const char *cli_db(void) { return db_path; }

Store *cli_open_db(void) {
    Store *st = NULL;
    if (recordings_open(db_path, &st)) {
        cli_fail();
        return NULL;
    }
    if (store_notice(st)) term_printf(stderr, "unum: note: %s\n", store_notice(st));
    return st;
}

/* ------------------------------------------------------------ Ctrl-C */

static UnumCancel interrupted;
static _Atomic(Engine *) interrupt_engine;

static void on_signal(int sig) {
    if (unum_cancelled(&interrupted)) _exit(128 + sig); /* the second one */
    unum_cancel(&interrupted);
    Engine *e = atomic_load(&interrupt_engine);
    if (e) engine_cancel(e);
}

void cli_interrupt_begin(CliInterrupt *ci, int with_term) {
    unum_cancel_clear(&interrupted);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    ci->term = with_term;
    sigaction(SIGINT, &sa, &ci->old_int);
    if (with_term) sigaction(SIGTERM, &sa, &ci->old_term);
}

void cli_interrupt_end(CliInterrupt *ci) {
    atomic_store(&interrupt_engine, NULL);
    sigaction(SIGINT, &ci->old_int, NULL);
    if (ci->term) sigaction(SIGTERM, &ci->old_term, NULL);
}

UnumCancel *cli_interrupt_flag(void) { return &interrupted; }

void cli_interrupt_engine(Engine *e) { atomic_store(&interrupt_engine, e); }
