/* test_store_crash.c - the durability promise under SIGKILL.
 *
 * Runs tests/store_crash.c (build/store_crash, next to UNUM_BIN) against one
 * database for many rounds, killing it with SIGKILL after a random delay:
 * during open, migration, repair, inside a transaction, between a commit and
 * its report. After each kill the database is opened as unum would open it
 * (recordings repaired) and must hold: integrity_check ok, foreign_key_check
 * empty, both FTS indexes consistent with their tables, every acknowledged
 * message and segment present with its exact text, no recording left in
 * status 'recording', and the round's WAV holding at least every acknowledged
 * byte with a header that agrees with its length.
 * UNUM_CRASH_ROUNDS overrides the number of rounds (default 200). */
#include "store/recording.h"
#include "store/search.h"
#include "store/store.h"
#include "tests/test.h"
#include "engine/base/util.h"
#include "tui/core/recordings.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    long long id, seg, n; /* n: which text the message holds now */
    int deleted;
    long long maybe_n; /* >= 0: an unacknowledged edit may have made it this, or deleted it */
} Acked;

static char *crash_bin(void) {
    const char *u = getenv("UNUM_BIN");
    char *dir = xstrdup(u ? u : "build/unum");
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else strcpy(dir, ".");
    char *p = unum_path_join(dir, "store_crash");
    free(dir);
    return p;
}

/* Reads everything the child wrote until EOF (it is dead by then). */
static char *drain(int fd) {
    size_t cap = 1 << 14, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n + 1 == cap) buf = xrealloc(buf, cap *= 2);
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
    }
    buf[n] = 0;
    return buf;
}

static int64_t one_int(Store *st, const char *sql, long long arg) {
    sqlite3_stmt *s = store_prepare(st, sql);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, arg);
    int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    return v;
}

static int text_is(Store *st, const char *sql, long long id, const char *want) {
    sqlite3_stmt *s = store_prepare(st, sql);
    if (!s) return 0;
    sqlite3_bind_int64(s, 1, id);
    int ok =
        sqlite3_step(s) == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(s, 0), want);
    sqlite3_finalize(s);
    return ok;
}

/* Verifies one round; returns the number of failures. */
static int verify(const char *db, const char *wavdir, int round, const char *log) {
    int fails = test_failed_now();
    Store *st;
    if (recordings_open(db, &st) != 0) {
        test_fail(__FILE__, __LINE__, "round %d: reopen: %s", round, unum_error());
        return 1;
    }
    if (store_check(st) != 0) test_fail(__FILE__, __LINE__, "round %d: %s", round, unum_error());
    Acked *acked = NULL;
    size_t n_acked = 0;
    long long rec = 0, wbytes = 0;
    char last_kind = 0;
    for (const char *p = log; *p;) {
        long long a = 0, b = 0, c = 0;
        char kind = *p;
        int got = sscanf(p + 1, "%lld %lld %lld", &a, &b, &c);
        const char *nl = strchr(p, '\n');
        if (!nl) break; /* a line cut short cannot happen (one write each) */
        p = nl + 1;
        if (got < 1) continue;
        last_kind = kind;
        if (kind == 'r') rec = a;
        else if (kind == 'w') wbytes = a;
        else if (kind == 'm') {
            acked = xrealloc(acked, (n_acked + 1) * sizeof *acked);
            acked[n_acked++] = (Acked){a, b, c, 0, -1};
        } else if (kind == 'u' || kind == 'd') {
            for (size_t i = 0; i < n_acked; i++)
                if (acked[i].id == a) {
                    if (kind == 'u') acked[i].n = b;
                    else acked[i].deleted = 1;
                }
        }
    }
    /* After each message the writer may edit or delete the one before it; if
     * the log ends right after a message, that step was cut short unreported
     * and may or may not have committed. */
    if (last_kind == 'm' && n_acked >= 2)
        acked[n_acked - 2].maybe_n = acked[n_acked - 1].n + 1000000;
    for (size_t i = 0; i < n_acked; i++) {
        char want[128], alt[128];
        snprintf(alt, sizeof alt, "crash r%dx n%lld alpha beta gamma %lld", round, acked[i].maybe_n,
                 acked[i].maybe_n * 7919 % 1000);
        if (acked[i].maybe_n >= 0 &&
            (one_int(st, "SELECT count(*) FROM messages WHERE id = ?1", acked[i].id) == 0 ||
             text_is(st, "SELECT content FROM messages WHERE id = ?1", acked[i].id, alt)))
            acked[i].deleted = 2; /* the cut-short step committed */
        snprintf(want, sizeof want, "crash r%dx n%lld alpha beta gamma %lld", round, acked[i].n,
                 acked[i].n * 7919 % 1000);
        if (acked[i].deleted == 1) {
            if (one_int(st, "SELECT count(*) FROM messages WHERE id = ?1", acked[i].id) != 0)
                test_fail(__FILE__, __LINE__, "round %d: deleted message %lld is back", round,
                          acked[i].id);
        } else if (acked[i].deleted == 0 &&
                   !text_is(st, "SELECT content FROM messages WHERE id = ?1", acked[i].id, want))
            test_fail(__FILE__, __LINE__,
                      "round %d: acknowledged message %lld lost or changed "
                      "(want \"%s\")",
                      round, acked[i].id, want);
        if (one_int(st, "SELECT count(*) FROM segments WHERE id = ?1", acked[i].seg) != 1)
            test_fail(__FILE__, __LINE__, "round %d: acknowledged segment %lld lost", round,
                      acked[i].seg);
    }
    if (n_acked) {
        /* The round's word is found by full-text search at least as often as
         * there are acknowledged, undeleted messages. */
        char q[32];
        snprintf(q, sizeof q, "r%dx", round);
        StoreHit *hits;
        size_t nh;
        size_t live = 0;
        for (size_t i = 0; i < n_acked; i++) live += !acked[i].deleted;
        if (store_search(st, q, 1000000, &hits, &nh) != 0)
            test_fail(__FILE__, __LINE__, "round %d: search: %s", round, unum_error());
        else {
            size_t msgs = 0;
            for (size_t i = 0; i < nh; i++) msgs += hits[i].kind[0] == 'm';
            if (msgs < live)
                test_fail(__FILE__, __LINE__, "round %d: search found %zu of %zu messages", round,
                          msgs, live);
            store_hits_free(hits, nh);
        }
    }
    if (one_int(st, "SELECT count(*) FROM recordings WHERE status = 'recording' AND ?1", 1) != 0)
        test_fail(__FILE__, __LINE__, "round %d: a recording was left unrepaired", round);
    if (rec) {
        StoreRecording r;
        if (store_recording_get(st, rec, &r) != 0) {
            test_fail(__FILE__, __LINE__, "round %d: recording %lld lost", round, rec);
        } else {
            struct stat sb;
            char path[4096];
            snprintf(path, sizeof path, "%s/round-%d.wav", wavdir, round);
            long long frames = (long long)(r.duration_s * r.sample_rate + 0.5);
            if (strcmp(r.status, "complete") != 0 || strcmp(r.path, path) != 0)
                test_fail(__FILE__, __LINE__, "round %d: recording %lld is '%s'", round, rec,
                          r.status);
            else if (frames * 2 < wbytes)
                test_fail(__FILE__, __LINE__, "round %d: WAV has %lld frames, %lld bytes acked",
                          round, frames, wbytes);
            else if (stat(path, &sb) != 0 || sb.st_size != 44 + frames * 2)
                test_fail(__FILE__, __LINE__, "round %d: WAV size disagrees with its header",
                          round);
            else if (strlen(r.sha256) != 64)
                test_fail(__FILE__, __LINE__, "round %d: no sha256", round);
            store_recording_free(&r);
        }
    }
    free(acked);
    store_close(st);
    return test_failed_now() - fails;
}

TEST(store_crash_sigkill_rounds) {
    char *bin = crash_bin();
    if (access(bin, X_OK) != 0) {
        test_fail(__FILE__, __LINE__, "%s is missing (make builds it)", bin);
        free(bin);
        return;
    }
    const char *env = getenv("UNUM_CRASH_ROUNDS");
    int rounds = env ? atoi(env) : 200;
    char *dir = test_tmpdir();
    REQUIRE(dir);
    char *db = unum_path_join(dir, "crash.db");
    unsigned seed = (unsigned)time(NULL);
    srand(seed);
    int killed_busy = 0;
    for (int round = 0; round < rounds; round++) {
        int pfd[2];
        REQUIRE(pipe(pfd) == 0);
        char rs[16];
        snprintf(rs, sizeof rs, "%d", round);
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            dup2(pfd[1], 1);
            close(pfd[0]);
            close(pfd[1]);
            execl(bin, bin, db, dir, rs, (char *)NULL);
            _exit(127);
        }
        close(pfd[1]);
        /* A quarter of the kills (every fourth round) land at a random
         * moment from the start (open, migration, repair); the rest wait
         * for the writer to report its first message and land a random
         * moment into the write loop, so neither a slow start (sanitizers)
         * nor slow syncs on a busy disk change what is tested. */
        char first[256] = "";
        size_t got = 0;
        long us = rand() % 20000;
        if (round % 4 != 0) {
            while (got < sizeof first - 1 && !strstr(first, "\nm ")) {
                ssize_t k = read(pfd[0], first + got, sizeof first - 1 - got);
                if (k <= 0) break;
                got += (size_t)k;
                first[got] = 0;
            }
            us = rand() % 15000;
        }
        struct timespec ts = {0, us * 1000};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        char *rest = drain(pfd[0]);
        char *log = xmalloc(strlen(first) + strlen(rest) + 1);
        strcpy(log, first);
        strcat(log, rest);
        free(rest);
        close(pfd[0]);
        if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
            test_fail(__FILE__, __LINE__, "round %d: writer ended by itself (status %d)", round,
                      status);
            free(log);
            break;
        }
        killed_busy += strchr(log, 'm') != NULL;
        int bad = verify(db, dir, round, log);
        free(log);
        if (bad) {
            printf("    (seed %u, round %d)\n", seed, round);
            break;
        }
    }
    /* Most kills must have landed while messages were being written (every
     * round that waited for the first message did). */
    if (rounds >= 50) CHECK(killed_busy >= rounds / 4);
    printf("    %d rounds, %d killed mid-write\n", rounds, killed_busy);
    free(db);
    free(bin);
    test_tmp_remove(dir);
}
