/* worker_wait.h - for tests that drive the app's engine thread (Worker)
 * directly: waiting for its events. */
#ifndef UNUM_TESTS_WORKER_WAIT_H
#define UNUM_TESTS_WORKER_WAIT_H

#include "tui/core/worker.h"
#include "engine/base/util.h"

#include <poll.h>
#include <stdio.h>

/* The next event of kind k or fail from w within seconds (NULL when none
 * came); the events before it are dropped, except that the models named by
 * the last EV_MODELS among them are kept in where (size n; where may be
 * NULL). The caller frees the event. */
static inline Event *test_worker_wait(Worker *w, EventKind k, EventKind fail, double seconds,
                                      char *where, size_t n) {
    double t0 = unum_now();
    while (unum_now() - t0 < seconds) {
        struct pollfd p = {worker_fd(w), POLLIN, 0};
        poll(&p, 1, 200);
        Event *e = worker_events(w), *hit = NULL;
        while (e) {
            Event *next = e->next;
            e->next = NULL;
            if (where && e->kind == EV_MODELS) snprintf(where, n, "%s", e->models.where);
            if (!hit && (e->kind == k || e->kind == fail)) hit = e;
            else event_free(e);
            e = next;
        }
        if (hit) return hit;
    }
    return NULL;
}

#endif
