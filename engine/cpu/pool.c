/* pool.c - see pool.h. */
#include "pool.h"

#include "util.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#define SPIN_ITERS 200000

struct Pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    atomic_uint gen; /* bumped once per job */
    atomic_int done; /* workers finished with the current job */
    atomic_int stop;
    int sleepers; /* guarded by mu */
    pool_fn fn;
    void *ctx;
    int total, grain;
    atomic_int next; /* first index not yet claimed */
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Claims grain-sized chunks until none are left: a thread that runs slow
 * (or was descheduled) simply takes fewer. */
static void run_share(Pool *p, int t) {
    for (;;) {
        int b = atomic_fetch_add_explicit(&p->next, p->grain, memory_order_relaxed);
        if (b >= p->total) return;
        int e = b + p->grain < p->total ? b + p->grain : p->total;
        p->fn(p->ctx, b, e, t);
    }
}

typedef struct {
    Pool *p;
    int id;
} WorkerArg;

static void *worker(void *arg) {
    WorkerArg *wa = arg;
    Pool *p = wa->p;
    int id = wa->id;
    free(wa);
    /* jobs may be posted before this thread first runs: start from the
     * generation the pool was created with, never from a later read */
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
               !atomic_load(&p->stop)) {
            if (++spins < SPIN_ITERS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            p->sleepers++;
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->wake, &p->mu);
            p->sleepers--;
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = g;
        run_share(p, id);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
    }
}

Pool *pool_open(int n_threads) {
    Pool *p = xcalloc(1, sizeof *p);
    p->n = n_threads < 1 ? 1 : n_threads;
    p->threads = xcalloc((size_t)p->n, sizeof *p->threads);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    for (int i = 1; i < p->n; i++) {
        WorkerArg *wa = xmalloc(sizeof *wa);
        *wa = (WorkerArg){p, i};
        if (pthread_create(&p->threads[i], NULL, worker, wa)) {
            free(wa);
            p->n = i; /* run with the threads we got */
            break;
        }
    }
    return p;
}

int pool_threads(const Pool *p) { return p->n; }

void pool_run(Pool *p, int n, int grain, pool_fn fn, void *ctx) {
    if (n <= 0) return;
    if (p->n == 1) {
        fn(ctx, 0, n, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->total = n;
    p->grain = grain < 1 ? 1 : grain;
    atomic_store(&p->next, 0);
    atomic_store(&p->done, 0);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    if (p->sleepers) pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    run_share(p, 0);
    /* a worker that lost its core (more threads than cores, a busy machine)
     * gets it back sooner if we yield instead of spinning on */
    for (int spins = 0; atomic_load_explicit(&p->done, memory_order_acquire) < p->n - 1;)
        if (++spins < 4096) cpu_relax();
        else sched_yield();
}

void pool_close(Pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    free(p->threads);
    free(p);
}
