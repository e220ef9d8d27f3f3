/* store_crash.c - the writer half of the store crash test
 * (tests/test_store_crash.c). Usage: store_crash DB WAVDIR ROUND
 *
 * Opens the store (which repairs what an earlier kill left behind), then
 * writes until it is killed: a session and a recording first, then in a loop
 * one transaction holding a message and a transcript segment, now and then a
 * message edit or delete, and a chunk of audio appended to the WAV file.
 * After each write is acknowledged by the store (the call returned 0) it
 * reports it on stdout, one line each, so the parent knows what must survive:
 *   s SESSION            session created
 *   r RECORDING          recording row added (WAV header on disk)
 *   m MESSAGE SEGMENT N  message "crash ROUND N ..." and its segment committed
 *   u MESSAGE N          message content changed to the text for N
 *   d MESSAGE            message deleted
 *   w BYTES              BYTES of audio data are in the WAV file */
#include "audio/wav.h"
#include "store/recording.h"
#include "store/session.h"
#include "store/store.h"
#include "engine/base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void say(const char *fmt, long long a, long long b, long long c) {
    char line[128];
    int n = snprintf(line, sizeof line, fmt, a, b, c);
    if (write(1, line, (size_t)n) != n) _exit(3);
}

/* The text of message N of a round; the parent rebuilds it to compare. */
static void message_text(char *buf, size_t cap, int round, long long n) {
    snprintf(buf, cap, "crash r%dx n%lld alpha beta gamma %lld", round, n, n * 7919 % 1000);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: store_crash DB WAVDIR ROUND\n");
        return 2;
    }
    int round = atoi(argv[3]);
    srand((unsigned)round * 2654435761u);
    Store *st;
    if (store_open(argv[1], &st) != 0) {
        fprintf(stderr, "store_crash: %s\n", unum_error());
        return 1;
    }
    int64_t sid, rid, mid, gid;
    if (store_session_create(st, "crash", "test-model", "assistant", &sid) != 0) goto fail;
    say("s %lld\n", sid, 0, 0);
    char wav[4096];
    snprintf(wav, sizeof wav, "%s/round-%d.wav", argv[2], round);
    wav_writer *w = wav_writer_open(wav, 16000, 1, WAV_PCM);
    if (!w || store_recording_begin(st, wav, 16000, 1, sid, &rid) != 0) goto fail;
    say("r %lld\n", rid, 0, 0);
    float pcm[160];
    long long bytes = 0;
    int64_t last = 0;
    for (long long n = 0;; n++) {
        char text[128];
        message_text(text, sizeof text, round, n);
        if (store_begin(st) != 0 ||
            /* each a first message of its own, so that deleting the one
             * before (below) takes no replies with it */
            store_message_add_after(st, sid, 0, n % 2 ? "assistant" : "user", text, 9, 1.5,
                                    STORE_MSG_COMPLETE, &mid) != 0 ||
            store_segment_add(st, rid, n * 0.01, n * 0.01 + 0.01, "A", text, &gid) != 0 ||
            store_commit(st) != 0)
            goto fail;
        say("m %lld %lld %lld\n", mid, gid, n);
        int dice = rand() % 8;
        if (dice == 0 && last) { /* edit the previous message (FTS update trigger) */
            char t2[128];
            message_text(t2, sizeof t2, round, n + 1000000);
            sqlite3_stmt *s = store_prepare(st, "UPDATE messages SET content = ?2 WHERE id = ?1");
            if (!s) goto fail;
            sqlite3_bind_int64(s, 1, last);
            sqlite3_bind_text(s, 2, t2, -1, SQLITE_STATIC);
            int rc = sqlite3_step(s);
            sqlite3_finalize(s);
            if (rc != SQLITE_DONE) goto fail;
            say("u %lld %lld\n", last, n + 1000000, 0);
        } else if (dice == 1 && last) { /* delete it (FTS delete trigger) */
            sqlite3_stmt *s = store_prepare(st, "DELETE FROM messages WHERE id = ?1");
            if (!s) goto fail;
            sqlite3_bind_int64(s, 1, last);
            int rc = sqlite3_step(s);
            sqlite3_finalize(s);
            if (rc != SQLITE_DONE) goto fail;
            say("d %lld\n", last, 0, 0);
        }
        last = mid;
        for (int i = 0; i < 160; i++) pcm[i] = (float)(rand() % 2000 - 1000) / 32768.0f;
        /* finalize flushes: what is acknowledged is in the file */
        if (wav_writer_write(w, pcm, 160) != 0 || wav_writer_finalize(w) != 0) goto fail;
        bytes += 160 * 2;
        say("w %lld\n", bytes, 0, 0);
    }
fail:
    fprintf(stderr, "store_crash: %s\n", unum_error());
    store_close(st);
    return 1;
}
