/* pool.h - a small fork-join thread pool for the CPU backend.
 *
 * pool_run(p, n, grain, fn, ctx) cuts [0, n) into chunks of grain indices
 * (the last may be short); the threads, the caller's included, claim chunks
 * until none is left, so uneven progress balances itself. It returns when
 * all chunks are done.
 * Workers spin briefly between jobs (a decode step issues hundreds of short
 * jobs) and then sleep on a condition variable, so an idle engine costs no
 * CPU. */
#ifndef UNUM_POOL_H
#define UNUM_POOL_H

typedef void (*pool_fn)(void *ctx, int begin, int end, int thread);
typedef struct Pool Pool;

Pool *pool_open(int n_threads);
int pool_threads(const Pool *p);
void pool_run(Pool *p, int n, int grain, pool_fn fn, void *ctx);
void pool_close(Pool *p);

#endif
