/* pool.h - a small fork-join thread pool for the CPU backend.
 *
 * pool_run(p, n, fn, ctx) splits [0, n) into one contiguous range per thread
 * and returns when all are done; the caller's thread takes the first range.
 * Workers spin briefly between jobs (a decode step issues hundreds of short
 * jobs) and then sleep on a condition variable, so an idle engine costs no
 * CPU. */
#ifndef UNUM_POOL_H
#define UNUM_POOL_H

typedef void (*pool_fn)(void *ctx, int begin, int end, int thread);
typedef struct Pool Pool;

Pool *pool_open(int n_threads);
int pool_threads(const Pool *p);
void pool_run(Pool *p, int n, pool_fn fn, void *ctx);
/* Like pool_run, but the split points are multiples of align (except n). */
void pool_run_aligned(Pool *p, int n, int align, pool_fn fn, void *ctx);
void pool_close(Pool *p);

#endif
