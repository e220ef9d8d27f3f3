/* store_bench.c - the store's benchmark: insert N messages (default 100,000)
 * through the store API and search them. Usage: store_bench [DIR] [N]
 *
 * Messages are 10..60 words drawn with a Zipf-like skew from 5,000 made-up
 * words, so common words hit many rows and rare ones few. Phases:
 *   batched: N messages, 1,000 per transaction (what an import would do)
 *   single:  2,000 messages, one durable transaction each (a chat turn)
 *   search:  queries of several kinds against all N + 2,000 rows, top 100
 * Everything is written with the settings unum uses (WAL, synchronous=FULL). */
#include "store/search.h"
#include "store/session.h"
#include "store/store.h"
#include "engine/base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define N_WORDS 5000

static char words[N_WORDS][12];
static unsigned long long rng = 88172645463325252ull;

static unsigned next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng >> 11);
}

/* Skewed choice: small indexes far more often. */
static const char *word(void) {
    double u = (next() % 1000000) / 1000000.0;
    return words[(int)(N_WORDS * u * u * u) % N_WORDS];
}

static void make_words(void) {
    static const char *syl[] = {"ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "pe", "da",
                                "gu", "ri", "so", "fe", "zu", "ba", "no", "xi",  "we", "ly"};
    for (int i = 0; i < N_WORDS; i++) {
        int n = 2 + i % 3, v = i;
        words[i][0] = 0;
        for (int k = 0; k < n; k++) {
            strcat(words[i], syl[v % 20]);
            v /= 20;
            if (!v) v = i + k + 7;
        }
        char tag[4];
        snprintf(tag, sizeof tag, "%c", 'a' + i % 26); /* keep the words distinct */
        strcat(words[i], tag);
    }
}

static void sentence(char *buf, size_t cap) {
    int n = 10 + (int)(next() % 51);
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < n; i++) {
        const char *w = word();
        size_t wl = strlen(w);
        if (len + wl + 2 >= cap) break;
        if (i) buf[len++] = ' ';
        memcpy(buf + len, w, wl + 1);
        len += wl;
    }
}

static void die(void) {
    fprintf(stderr, "store_bench: %s\n", unum_error());
    exit(1);
}

static void query(Store *st, const char *label, const char *q, int reps) {
    StoreHit *h;
    size_t n = 0;
    double t0 = unum_now();
    for (int i = 0; i < reps; i++) {
        if (store_search(st, q, 100, &h, &n) != 0) die();
        store_hits_free(h, n);
    }
    double ms = (unum_now() - t0) * 1000 / reps;
    printf("search %-28s %-26s %3zu hits  %8.3f ms/query\n", label, q, n, ms);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    long total = argc > 2 ? atol(argv[2]) : 100000;
    make_words();
    char path[4096];
    snprintf(path, sizeof path, "%s/unum-store-bench-%d.db", dir, (int)getpid());
    Store *st;
    if (store_open(path, &st) != 0) die();
    int64_t sid;
    if (store_session_create(st, "bench", "none", "assistant", &sid) != 0) die();
    char text[1024];

    double t0 = unum_now();
    for (long i = 0; i < total; i++) {
        if (i % 1000 == 0 && store_begin(st) != 0) die();
        sentence(text, sizeof text);
        if (store_message_add(st, sid, i % 2 ? "assistant" : "user", text, 40, 10, NULL) != 0)
            die();
        if ((i % 1000 == 999 || i == total - 1) && store_commit(st) != 0) die();
    }
    double batched = unum_now() - t0;
    printf("insert batched  %ld messages, 1000/transaction: %.2f s, %.0f messages/s\n", total,
           batched, total / batched);

    int singles = 2000;
    t0 = unum_now();
    for (int i = 0; i < singles; i++) {
        sentence(text, sizeof text);
        if (store_message_add(st, sid, "user", text, 40, 10, NULL) != 0) die();
    }
    double single = unum_now() - t0;
    printf("insert single   %d messages, 1 durable commit each: %.2f s, %.3f ms/commit\n", singles,
           single, single * 1000 / singles);

    query(st, "common word", words[0], 200);
    query(st, "mid-frequency word", words[400], 200);
    query(st, "rare word", words[4990], 200);
    char q[128];
    snprintf(q, sizeof q, "%s %s", words[3], words[60]);
    query(st, "two words (AND)", q, 200);
    snprintf(q, sizeof q, "\"%s %s\"", words[0], words[1]);
    query(st, "phrase", q, 200);
    snprintf(q, sizeof q, "%.4s*", words[500]);
    query(st, "prefix", q, 200);
    query(st, "no match", "zzzzqqq", 200);

    t0 = unum_now();
    if (store_check(st) != 0) die();
    printf("check (integrity, foreign keys, FTS) %.2f s\n", unum_now() - t0);
    store_close(st);
    struct stat sb;
    if (stat(path, &sb) == 0) printf("database %.1f MiB\n", sb.st_size / 1048576.0);
    unlink(path);
    return 0;
}
