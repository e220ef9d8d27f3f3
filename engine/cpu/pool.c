/* pool.c - see pool.h.
 *
 * A job is done when all of its indices are done, not when every worker
 * has looked at it: a worker that lost its core (another program is busy,
 * more threads than cores) must not hold up each of the hundreds of jobs of
 * a decode step. So a late worker may wake up while the pool has moved on
 * to later jobs, and must never act on one that is finished. Each job lives
 * in a slot of a small ring and its chunks are claimed through one 64-bit
 * word,
 *
 *     tag (24 bits: the job's number) | next (20 bits) | total (20 bits)
 *
 * counting chunks. A compare-and-swap that moves next on succeeds only while
 * the slot still holds that job; a claim with next < total means the job is
 * not finished, so the slot cannot be reused before that chunk is done, and
 * the job's other fields are safe to read. The caller counts finished chunks
 * and returns when all are done. (A worker asleep for 2^24 jobs could in
 * principle mistake a slot's tag; jobs are microseconds apart and a worker
 * wakes for the next one, so it does not sleep that long.) */
#include "engine/cpu/pool.h"

#include "engine/base/util.h"

#include <assert.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#define SPIN_ITERS 200000
#define SLOTS 4
#define FIELD_BITS 20
#define MAX_ITEMS ((1 << FIELD_BITS) - 1)
#define TAG_MASK 0xffffffu

typedef struct {
    _Atomic uint64_t word; /* tag | next chunk | chunks */
    atomic_int completed;  /* chunks done */
    pool_fn fn;
    void *ctx;
    int n, grain; /* indices, and indices per chunk */
} Job;

struct Pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    atomic_uint gen; /* the newest job's number */
    atomic_int stop;
    int sleepers; /* guarded by mu */
    Job jobs[SLOTS];
};

static inline uint64_t pack(unsigned tag, int next, int total) {
    assert(0 <= next && next <= total && total <= MAX_ITEMS);
    return (uint64_t)(tag & TAG_MASK) << (2 * FIELD_BITS) | (uint64_t)next << FIELD_BITS |
           (uint64_t)total;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Claims and runs chunks of job g until none is left (or the slot has
 * moved on to a later job). */
static void run_share(Pool *p, unsigned g, int t) {
    Job *j = &p->jobs[g % SLOTS];
    uint64_t w = atomic_load_explicit(&j->word, memory_order_acquire);
    for (;;) {
        unsigned tag = (unsigned)(w >> (2 * FIELD_BITS)) & TAG_MASK;
        int next = (int)(w >> FIELD_BITS & MAX_ITEMS), total = (int)(w & MAX_ITEMS);
        if (tag != (g & TAG_MASK) || next >= total) return;
        if (!atomic_compare_exchange_weak_explicit(&j->word, &w, pack(g, next + 1, total),
                                                   memory_order_acq_rel, memory_order_acquire))
            continue; /* w now holds the current word */
        /* the claim succeeded: the slot holds job g, not finished */
        int b = next * j->grain, e = b + j->grain < j->n ? b + j->grain : j->n;
        assert(b < e);
        j->fn(j->ctx, b, e, t);
        atomic_fetch_add_explicit(&j->completed, 1, memory_order_release);
        w = atomic_load_explicit(&j->word, memory_order_acquire);
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
        run_share(p, g, id); /* the newest job; older ones are done */
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
    if (grain < 1) grain = 1;
    if (p->n == 1) {
        fn(ctx, 0, n, 0);
        return;
    }
    if ((n - 1) / grain + 1 > MAX_ITEMS) grain = (n - 1) / MAX_ITEMS + 1; /* chunks must fit */
    int chunks = (n - 1) / grain + 1;
    /* only this thread starts jobs, and the previous one is finished: the
     * next slot's job is finished too (it is SLOTS jobs old) */
    unsigned g = atomic_load_explicit(&p->gen, memory_order_relaxed) + 1;
    Job *j = &p->jobs[g % SLOTS];
    uint64_t old = atomic_load_explicit(&j->word, memory_order_acquire);
    assert((old >> FIELD_BITS & MAX_ITEMS) == (old & MAX_ITEMS)); /* every chunk claimed */
    assert(atomic_load(&j->completed) == (int)(old & MAX_ITEMS)); /* and done */
    assert(((old >> (2 * FIELD_BITS)) & TAG_MASK) != (g & TAG_MASK) || !old);
    j->fn = fn;
    j->ctx = ctx;
    j->n = n;
    j->grain = grain;
    atomic_store_explicit(&j->completed, 0, memory_order_relaxed);
    atomic_store_explicit(&j->word, pack(g, 0, chunks), memory_order_release);
    pthread_mutex_lock(&p->mu);
    atomic_store_explicit(&p->gen, g, memory_order_release);
    if (p->sleepers) pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    run_share(p, g, 0);
    /* the chunks others claimed: yield rather than spin when they take long
     * (their thread may have lost its core) */
    for (int spins = 0; atomic_load_explicit(&j->completed, memory_order_acquire) < chunks;)
        if (++spins < 4096) cpu_relax();
        else sched_yield();
    assert(atomic_load(&j->completed) == chunks); /* never more: each chunk is claimed once */
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
