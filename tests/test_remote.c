/* test_remote.c - remote models (engine/remote.h) against the stand-in
 * server tests/openai_server.py on 127.0.0.1: streaming, the parameters and
 * the key as the server receives them, every failure mode a clear error
 * (with the key never shown), cancellation, and the command line: run -m
 * URL, a remote first or second stage of the cascade, and what a remote
 * model refuses; meeting summarize with a server writing the report or
 * standing in for either stage of its cascade. */
#include "engine/base/util.h"
#include "engine/remote.h"
#include "tests/openai_stub.h"
#include "tests/test.h"
#include "store/meeting_store.h"
#include "store/recording.h"
#include "store/store.h"
#include "tui/core/recordings.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char buf[4096];
    size_t n;
} Text;

static int take(void *user, const char *text, size_t len) {
    Text *t = user;
    if (t->n + len < sizeof t->buf) memcpy(t->buf + t->n, text, len), t->n += len;
    t->buf[t->n] = 0;
    return 0;
}

static RemoteParams defaults(void) {
    RemoteParams p = {.temperature = -1, .top_p = -1};
    return p;
}

/* One chat turn "hello there" to model; the text in t. */
static int ask(const char *url, const char *model, const RemoteParams *p, Text *t,
               RemoteStats *st) {
    Remote *r = remote_open(url, model);
    if (!r) return -1;
    ChatMsg m[2] = {{"system", "be brief", 0}, {"user", "hello there", 0}};
    memset(t, 0, sizeof *t);
    int rc = remote_chat(r, m, 2, p, take, t, NULL, st);
    remote_free(r);
    return rc;
}

TEST(remote_streams_and_passes_the_parameters_and_key) {
    OpenAIStub s;
    if (openai_stub_start(&s)) return;
    setenv("UNUM_API_KEY", "sk-test-123", 1);
    Text t;
    RemoteStats st;
    Remote *r = remote_open(s.url, NULL); /* the first model listed */
    CHECK(r && !strcmp(remote_model(r), "echo"));
    remote_free(r);
    RemoteParams p = defaults();
    CHECK(!ask(s.url, "echo", &p, &t, &st));
    CHECK_STR(t.buf, "You said: hello there");
    CHECK_EQ_INT(st.stop, STOP_EOS);
    CHECK_EQ_INT(st.pieces, 6);
    CHECK(!st.had_logprobs && st.n_probs == 0);
    /* sampling settings, a length limit, stop strings and logprobs */
    p.temperature = 0.5f, p.top_p = 0.25f, p.max_tokens = 2, p.logprobs = 1;
    p.have_seed = 1, p.seed = 42;
    CHECK(!ask(s.url, "echo", &p, &t, &st));
    CHECK_STR(t.buf, "You said");
    CHECK_EQ_INT(st.stop, STOP_LENGTH);
    CHECK(st.had_logprobs && st.n_probs == 2);
    if (st.n_probs) CHECK_NEAR(st.probs[0], 0.904837, 1e-5);
    remote_stats_free(&st);
    p = defaults();
    p.stop[0] = "there", p.stop[1] = "zzz";
    CHECK(!ask(s.url, "echo", &p, &t, &st));
    CHECK_STR(t.buf, "You said: hello ");
    /* a server that answers in one JSON body */
    p = defaults();
    CHECK(!ask(s.url, "plain", &p, &t, &st));
    CHECK_STR(t.buf, "You said: hello there");
    /* what the server received */
    char *log = unum_read_file(s.log, 1 << 20, NULL);
    CHECK_CONTAINS(log, "\"auth\": \"Bearer sk-test-123\"");
    CHECK_CONTAINS(log, "\"temperature\": 0.5");
    CHECK_CONTAINS(log, "\"top_p\": 0.25");
    CHECK_CONTAINS(log, "\"max_tokens\": 2");
    CHECK_CONTAINS(log, "\"seed\": 42");
    CHECK_CONTAINS(log, "\"logprobs\": true");
    CHECK_CONTAINS(log, "\"stop\": [\"there\", \"zzz\"]");
    CHECK_CONTAINS(log, "\"stream\": true");
    CHECK_CONTAINS(log, "{\"role\": \"system\", \"content\": \"be brief\"}");
    free(log);
    unsetenv("UNUM_API_KEY");
    openai_stub_stop(&s);
}

/* The error of asking model, which must fail. */
static void check_fails(const char *url, const char *model, const char *want) {
    Text t;
    RemoteStats st;
    RemoteParams p = defaults();
    int rc = ask(url, model, &p, &t, &st);
    if (rc != -1) printf("    %s did not fail\n", model);
    CHECK_EQ_INT(rc, -1);
    CHECK_ERR(want);
    CHECK(!strstr(unum_error(), "sk-secret-456"));
}

TEST(remote_failures_are_clear_errors_without_the_key) {
    OpenAIStub s;
    if (openai_stub_start(&s)) return;
    setenv("UNUM_API_KEY", "sk-secret-456", 1);
    check_fails(s.url, "fail-401", "HTTP 401: invalid key in 'Bearer ***'");
    check_fails(s.url, "fail-500", "HTTP 500: upstream exploded");
    check_fails(s.url, "nope", "HTTP 404: model 'nope' not found");
    check_fails(s.url, "malformed", "malformed stream: not JSON");
    check_fails(s.url, "truncated", "malformed stream: it ended without [DONE]");
    check_fails(s.url, "stream-error", "the server reported an error: the model is overloaded");
    setenv("UNUM_REMOTE_TIMEOUT", "1", 1);
    check_fails(s.url, "stall", "no answer within 1 s");
    unsetenv("UNUM_REMOTE_TIMEOUT");
    /* nothing listens on port 1 */
    CHECK(!remote_open("http://127.0.0.1:1/v1", NULL));
    CHECK_ERR("cannot reach http://127.0.0.1:1/v1/models");
    unsetenv("UNUM_API_KEY");
    openai_stub_stop(&s);
}

typedef struct {
    UnumCancel *flag;
} Canceller;

static void *cancel_soon(void *arg) {
    Canceller *c = arg;
    usleep(300000);
    unum_cancel(c->flag);
    return NULL;
}

TEST(remote_cancel_stops_a_stream) {
    OpenAIStub s;
    if (openai_stub_start(&s)) return;
    Remote *r = remote_open(s.url, "slow");
    REQUIRE(r);
    ChatMsg m = {"user", "hi", 0};
    UnumCancel flag = 0;
    Canceller c = {&flag};
    pthread_t th;
    pthread_create(&th, NULL, cancel_soon, &c);
    Text t = {0};
    RemoteStats st;
    RemoteParams p = defaults();
    CHECK_EQ_INT(remote_chat(r, &m, 1, &p, take, &t, &flag, &st), UNUM_CANCELLED);
    pthread_join(th, NULL);
    CHECK_EQ_INT(st.stop, STOP_CANCELLED);
    CHECK(st.pieces >= 1 && st.pieces < 300);
    remote_free(r);
    openai_stub_stop(&s);
}

/* ------------------------------------------------------------ CLI */

static int sh(const OpenAIStub *s, char **out, char **err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int sh(const OpenAIStub *s, char **out, char **err, const char *fmt, ...) {
    char cmd[4096], prelude[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(prelude, sizeof prelude, "U='%s'; F='%s'; S='%s'; unset UNUM_API_KEY OPENAI_API_KEY",
             test_bin(), test_fixtures(), s->url);
    return test_shell(prelude, cmd, out, err);
}

TEST(cli_run_remote_model_and_cascade_stages) {
    OpenAIStub s;
    if (openai_stub_start(&s)) return;
    char *out = NULL, *err = NULL;
    CHECK_EQ_INT(sh(&s, &out, &err, "OPENAI_API_KEY=sk-o $U run -m $S -p 'hi you' -v"), 0);
    CHECK_STR(out, "You said: hi you\n");
    CHECK_CONTAINS(err, "echo at http://127.0.0.1:");
    free(out), free(err);
    CHECK_EQ_INT(sh(&s, &out, NULL, "$U run -m $S --remote-model plain -p 'hi' --temp 0.2 -n 50"),
                 0);
    CHECK_STR(out, "You said: hi\n");
    free(out);
    char *log = unum_read_file(s.log, 1 << 20, NULL);
    CHECK_CONTAINS(log, "\"auth\": \"Bearer sk-o\""); /* OPENAI_API_KEY when no UNUM_API_KEY */
    CHECK_CONTAINS(log, "\"temperature\": 0.2");
    CHECK_CONTAINS(log, "\"max_tokens\": 50");
    free(log);
    /* a remote stage 1 that is sure, then one that is not (stage 2 local) */
    char *local = NULL;
    CHECK_EQ_INT(sh(&s, &local, NULL, "$U run -m $F/tiny-bf16 -p hi --temp 0 -n 6"), 0);
    CHECK_EQ_INT(sh(&s, &out, &err, "$U run -m $S --stage2 $F/tiny-bf16 -p hi --temp 0 -n 6 -v"),
                 0);
    CHECK_STR(out, "You said: hi\n");
    CHECK_CONTAINS(err, "stage 1 answered (confidence 0.905");
    free(out), free(err);
    CHECK_EQ_INT(sh(&s, &out, &err,
                    "$U run -m $S --remote-model unsure --stage2 $F/tiny-bf16 "
                    "-p hi --temp 0 -n 6 -v"),
                 0);
    CHECK_STR(out, local);
    CHECK_CONTAINS(err, "stage 2 answered (stage 1 confidence 0.050");
    free(out), free(err), free(local);
    /* a remote stage 1 without logprobs cannot be judged */
    CHECK_EQ_INT(sh(&s, NULL, &err,
                    "$U run -m $S --remote-model nolog --stage2 $F/tiny-bf16 "
                    "-p hi"),
                 1);
    CHECK_CONTAINS(err, "returned no logprobs");
    free(err);
    /* a remote stage 2 behind a local stage 1 */
    CHECK_EQ_INT(sh(&s, &out, &err,
                    "$U run -m $F/tiny-bf16 --stage2 $S --escalate-below 1.01 "
                    "-p 'hi there' -n 6 -v"),
                 0);
    CHECK_STR(out, "You said: hi there\n");
    CHECK_CONTAINS(err, "stage 2 answered");
    free(out), free(err);
    /* what a remote model refuses */
    CHECK_EQ_INT(sh(&s, NULL, &err, "$U run -m $S --draft $F/tiny-bf16 -p hi"), 1);
    CHECK_CONTAINS(err, "--draft with the remote model");
    free(err);
    CHECK_EQ_INT(sh(&s, NULL, &err, "echo 1 2 3 >/dev/null; $U run -m $S --raw -p hi"), 1);
    CHECK_CONTAINS(err, "a remote model takes a chat prompt");
    free(err);
    CHECK_EQ_INT(sh(&s, &out, &err,
                    "UNUM_API_KEY=sk-cli-789 $U run -m $S --remote-model fail-401 "
                    "-p hi"),
                 1);
    CHECK_CONTAINS(err, "HTTP 401");
    CHECK(err && !strstr(err, "sk-cli-789") && out && !strstr(out, "sk-cli-789"));
    free(out), free(err);
    /* Ctrl-C stops a stream and keeps what came */
    CHECK_EQ_INT(sh(&s, &out, &err,
                    "$U run -m $S --remote-model slow -p hi & pid=$!; sleep 1; "
                    "kill -INT $pid; wait $pid"),
                 1);
    CHECK_CONTAINS(err, "interrupted");
    CHECK_CONTAINS(out, "tick");
    free(out), free(err);
    openai_stub_stop(&s);
}

/* ------------------------------------------------------------ meeting summarize */

/* A store at db with one recording (the golden meeting clip) whose
 * transcript is whole, three segments of it: no Whisper needed. */
static int64_t transcribed_meeting(const char *dir, const char *db) {
    Store *st;
    int64_t rec = 0;
    int existing;
    char *wav = unum_path_join(test_root(), "tests/golden/transcribe/meeting16k.wav");
    setenv("XDG_DATA_HOME", dir, 1); /* where the store keeps recordings */
    int rc = store_open(db, &st);
    if (!rc) {
        rc = recording_import(st, wav, &rec, &existing) ||
             store_segment_add(st, rec, 1.0, 4.5, NULL, "We shipped the parser on Monday.", NULL) ||
             store_segment_add(st, rec, 4.5, 9.0, NULL, "Ana writes the migration guide.", NULL) ||
             store_segment_add(st, rec, 9.0, 12.0, NULL, "The build server is still slow.", NULL) ||
             store_recording_set_transcribed(st, rec);
        store_close(st);
    }
    unsetenv("XDG_DATA_HOME");
    free(wav);
    if (rc) test_fail(__FILE__, __LINE__, "%s", unum_error());
    return rc ? 0 : rec;
}

static int count_of(const char *s, const char *what) {
    int n = 0;
    for (const char *p = s; p && (p = strstr(p, what)); p += strlen(what)) n++;
    return n;
}

TEST(cli_meeting_summarize_with_remote_models) {
    char *lm = unum_path_join(test_fixtures(), "tiny-qwen-vocab");
    int have = unum_file_exists(lm);
    free(lm);
    if (!have) SKIP("needs the tiny-qwen-vocab fixture (npm)");
    OpenAIStub s;
    if (openai_stub_start(&s)) return;
    char *dir = test_tmpdir(), *db = unum_path_join(dir, "u.db");
    int64_t rec = transcribed_meeting(dir, db);
    REQUIRE(rec > 0);
    char env[2048];
    snprintf(env, sizeof env, "XDG_DATA_HOME=%s XDG_CONFIG_HOME=%s $U --db %s meeting summarize "
             "--recording %lld --template standup", dir, dir, db, (long long)rec);
    char *out = NULL, *err = NULL;
    /* the server writes every section; what it was sent: the persona, the
     * material, the section's instruction, its length */
    CHECK_EQ_INT(sh(&s, &out, &err, "%s --persona analyst -m $S", env), 0);
    CHECK_CONTAINS(out, "## Done\n\nYou said: Here is a meeting transcript");
    CHECK_CONTAINS(out, "## Blockers\n\nYou said: ");
    CHECK_CONTAINS(out, "[00:04.50] Ana writes the migration guide.");
    CHECK_CONTAINS(out, "model: echo");
    CHECK_EQ_INT(count_of(out, "You said: "), 3);
    CHECK_CONTAINS(err, "(3 generations, at most ");
    CHECK_CONTAINS(err, "of 8192 context positions, estimated)");
    free(out), free(err);
    char *log = unum_read_file(s.log, 1 << 20, NULL);
    CHECK_CONTAINS(log, "\"max_tokens\": 384");
    CHECK_CONTAINS(log, "\"role\": \"system\"");
    CHECK_CONTAINS(log, "Write the section \\\"Blockers\\\"");
    free(log);
    /* a server applies no adapters of ours */
    CHECK_EQ_INT(sh(&s, NULL, &err, "%s -m $S --lora $F/lora-all", env), 1);
    CHECK_CONTAINS(err, "echo: a remote model cannot write with LoRA adapters (");
    free(err);
    /* a remote second stage behind a local first: everything escalates */
    CHECK_EQ_INT(
        sh(&s, &out, &err, "%s -m $F/tiny-qwen-vocab --stage2 $S --escalate-below 1.01", env), 0);
    CHECK_EQ_INT(count_of(out, "You said: "), 3);
    CHECK_CONTAINS(err, "stage 2 wrote 3 of the 3 generations");
    free(out), free(err);
    /* a remote first stage, judged by the logprobs it returns: sure (echo,
     * 0.905) stands, unsure (0.05) is written again by the local stage 2 */
    CHECK_EQ_INT(sh(&s, &out, &err, "%s -m $S --stage2 $F/tiny-qwen-vocab", env), 0);
    CHECK_EQ_INT(count_of(out, "You said: "), 3);
    CHECK_CONTAINS(err, "stage 2 wrote 0 of the 3 generations");
    free(out), free(err);
    CHECK_EQ_INT(
        sh(&s, &out, &err, "%s -m $S --remote-model unsure --stage2 $F/tiny-qwen-vocab", env), 0);
    CHECK_EQ_INT(count_of(out, "You said: "), 0);
    CHECK_CONTAINS(out, "model: unsure"); /* the report is stage 1's */
    CHECK_CONTAINS(err, "stage 2 wrote 3 of the 3 generations");
    free(out), free(err);
    /* without logprobs a remote first stage cannot be judged: refused,
     * nothing stored */
    CHECK_EQ_INT(
        sh(&s, &out, &err, "%s -m $S --remote-model nolog --stage2 $F/tiny-qwen-vocab", env), 1);
    CHECK_CONTAINS(err, "nolog: the server returned no logprobs");
    free(out), free(err);
    Store *st;
    REQUIRE(store_open(db, &st) == 0);
    sqlite3_stmt *q = store_prepare(st, "SELECT count(*) FROM reports");
    CHECK(q && sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) == 4);
    sqlite3_finalize(q);
    store_close(st);
    free(db);
    test_tmp_remove(dir);
    openai_stub_stop(&s);
}
