/* msglog.c - the message log: every note and error the app showed on its
 * bottom line, with the time it came, so that one replaced by the next
 * (a start-up error by "model loaded") can still be read (F9). See pane.h. */
#include "tui/app/pane.h"

#include "engine/base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MSGLOG_MAX 500 /* entries kept; the oldest go first */

void msglog_add(App *a, int err, const char *text) {
    if (a->n_log == MSGLOG_MAX) {
        free(a->log[0]);
        memmove(a->log, a->log + 1, (MSGLOG_MAX - 1) * sizeof *a->log);
        a->n_log--;
    }
    if (!a->log) a->log = xcalloc(MSGLOG_MAX, sizeof *a->log);
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char stamp[16];
    strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
    size_t n = strlen(text) + 32;
    char *e = xmalloc(n);
    snprintf(e, n, "%s %s%s", stamp, err ? "error: " : "", text);
    a->log[a->n_log++] = e;
}

void msglog_free(App *a) {
    for (int i = 0; i < a->n_log; i++) free(a->log[i]);
    free(a->log);
    a->log = NULL, a->n_log = 0;
}
