/* membw.c - measures this machine's memory read bandwidth, the bound on
 * batch-1 decode (every weight byte is read once per token).
 *
 *   membw [THREADS] [MIB]     default: 2 threads, 1024 MiB
 *
 * Each thread sums its share of a buffer much larger than the caches; the
 * best of five passes is printed in GB/s (1e9 bytes per second). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const uint32_t *p;
    size_t n;
    uint32_t sum;
} Part;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Integer addition is associative, so the compiler vectorizes this loop. */
static void *sum_part(void *arg) {
    Part *a = arg;
    uint32_t s = 0;
    for (size_t i = 0; i < a->n; i++) s += a->p[i];
    a->sum = s;
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    size_t mib = argc > 2 ? (size_t)atol(argv[2]) : 1024;
    if (threads < 1 || threads > 256 || mib < 64) {
        fprintf(stderr, "usage: membw [THREADS 1-256] [MIB >= 64]\n");
        return 2;
    }
    size_t n = mib << 20 >> 2;
    uint32_t *buf = malloc(n * sizeof(uint32_t));
    if (!buf) {
        fprintf(stderr, "membw: cannot allocate %zu MiB\n", mib);
        return 1;
    }
    for (size_t i = 0; i < n; i++) buf[i] = (uint32_t)i;
    pthread_t *t = calloc((size_t)threads, sizeof *t);
    Part *parts = calloc((size_t)threads, sizeof *parts);
    double best = 0;
    uint32_t check = 0;
    for (int pass = 0; pass < 5; pass++) {
        double t0 = now();
        for (int i = 0; i < threads; i++) {
            parts[i] = (Part){buf + n / threads * i, n / threads, 0};
            pthread_create(&t[i], NULL, sum_part, &parts[i]);
        }
        for (int i = 0; i < threads; i++) {
            pthread_join(t[i], NULL);
            check += parts[i].sum;
        }
        double gbs = (double)(n / threads * threads) * sizeof(uint32_t) / (now() - t0) / 1e9;
        if (gbs > best) best = gbs;
    }
    printf("%.2f\n", best);
    fprintf(stderr, "membw: %d threads, %zu MiB, best of 5 passes (checksum %u)\n", threads, mib,
            check);
    free(t);
    free(parts);
    free(buf);
    return 0;
}
