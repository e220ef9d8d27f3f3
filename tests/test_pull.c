/* test_pull.c - unum pull against a local stand-in for the Hugging Face hub
 * (tests/hf_server.py on 127.0.0.1): a whole download into the models folder,
 * a resume after a cut transfer, a corrupted file refused, the errors a user
 * meets (unknown repo, no server, bad usage), and the library's progress and
 * cancel. No test needs the internet. */
#include "engine/modeldir.h"
#include "engine/pull.h"
#include "engine/base/sha256.h"
#include "tests/test.h"
#include "engine/base/util.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define REPO "test-org/tiny-model"
#define ADAPTER_REPO "test-org/tiny-lora"
#define WEIGHTS_SIZE 600000

/* ---- the fake hub --------------------------------------------------------- */

typedef struct {
    char *tmp; /* everything of one test: root/, data/, the log */
    char root[512], data[512], log[512], endpoint[64];
    long pid;
} Hub;

static void put(const char *dir, const char *name, const void *data, size_t n) {
    char *p = unum_path_join(dir, name);
    FILE *f = fopen(p, "wb");
    if (f) fwrite(data, 1, n, f), fclose(f);
    free(p);
}

/* A repo as the hub lists it: the files unum wants, weights in formats it
 * does not read, a subfolder and a dotfile. */
static void make_repo(const char *root) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/%s/onnx", root, REPO);
    for (char *c = dir + 1; *c; c++)
        if (*c == '/') *c = 0, mkdir(dir, 0755), *c = '/';
    mkdir(dir, 0755);
    snprintf(dir, sizeof dir, "%s/%s", root, REPO);
    static const char config[] = "{\"model_type\": \"qwen2\"}\n";
    put(dir, "config.json", config, sizeof config - 1);
    put(dir, "tokenizer.json", "{\"model\": {}}\n", 14);
    put(dir, "generation_config.json", "{}\n", 3);
    put(dir, "README.md", "# tiny\n", 7);
    put(dir, "pytorch_model.bin", "not wanted", 10);
    put(dir, "onnx/model.onnx", "not wanted", 10);
    put(dir, ".gitattributes", "*.safetensors filter=lfs\n", 25);
    unsigned char *w = malloc(WEIGHTS_SIZE);
    unsigned s = 12345;
    for (int i = 0; i < WEIGHTS_SIZE; i++)
        w[i] = (unsigned char)((s = s * 1103515245u + 12345u) >> 16);
    put(dir, "model.safetensors", w, WEIGHTS_SIZE);
    free(w);
    /* a PEFT adapter repo: no config.json, two files */
    snprintf(dir, sizeof dir, "%s/%s", root, ADAPTER_REPO);
    mkdir(dir, 0755);
    char *fx = unum_path_join(test_fixtures(), "lora-attn-rs");
    static const char *files[] = {"adapter_config.json", "adapter_model.safetensors"};
    for (int i = 0; i < 2; i++) {
        char *src = unum_path_join(fx, files[i]);
        size_t n = 0;
        char *data = unum_read_file(src, 1 << 24, &n);
        if (data) put(dir, files[i], data, n);
        free(data);
        free(src);
    }
    free(fx);
}

/* Starts hf_server.py with extra options; 0 once it listens. */
static int hub_start(Hub *h, const char *opts) {
    memset(h, 0, sizeof *h);
    h->tmp = test_tmpdir();
    if (!h->tmp) return -1;
    snprintf(h->root, sizeof h->root, "%s/root", h->tmp);
    snprintf(h->data, sizeof h->data, "%s/data", h->tmp);
    snprintf(h->log, sizeof h->log, "%s/requests.log", h->tmp);
    mkdir(h->root, 0755);
    make_repo(h->root);
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "python3 %s/tests/hf_server.py %s --port-file %s/port --log %s --lifetime 60 %s "
             ">/dev/null 2>&1 & echo $!",
             test_root(), h->root, h->tmp, h->log, opts);
    test_shell(":", cmd, &out, NULL);
    h->pid = out ? atol(out) : 0;
    free(out);
    char *pf = unum_path_join(h->tmp, "port");
    char *port = NULL;
    for (int i = 0; i < 200 && !port; i++) { /* up to 10 s */
        if (unum_file_exists(pf)) port = unum_read_file(pf, 64, NULL);
        else usleep(50000);
    }
    free(pf);
    if (!port || h->pid <= 0) {
        free(port);
        test_fail(__FILE__, __LINE__, "tests/hf_server.py did not start");
        return -1;
    }
    snprintf(h->endpoint, sizeof h->endpoint, "http://127.0.0.1:%d", atoi(port));
    free(port);
    return 0;
}

static void hub_stop(Hub *h) {
    if (h->pid > 0) kill((pid_t)h->pid, SIGTERM);
    test_tmp_remove(h->tmp);
    h->tmp = NULL;
}

/* Runs unum with HF_ENDPOINT and XDG_DATA_HOME pointing at the hub. */
static int pull_sh(const Hub *h, char **out, char **err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int pull_sh(const Hub *h, char **out, char **err, const char *fmt, ...) {
    char cmd[2048], prelude[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(prelude, sizeof prelude,
             "U='%s'; export HF_ENDPOINT='%s' XDG_DATA_HOME='%s'; unset HF_TOKEN", test_bin(),
             h->endpoint, h->data);
    return test_shell(prelude, cmd, out, err);
}

static char *model_path(const Hub *h, const char *name) {
    char p[1200];
    snprintf(p, sizeof p, "%s/unum/models/%s%s%s", h->data, REPO, name[0] ? "/" : "", name);
    return xstrdup(p);
}

static char *repo_path(const Hub *h, const char *name) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s/%s", h->root, REPO, name);
    return xstrdup(p);
}

/* The pulled file equals the served one byte for byte. */
static int same_file(const Hub *h, const char *name) {
    char *a = model_path(h, name), *b = repo_path(h, name);
    size_t na = 0, nb = 0;
    char *da = unum_read_file(a, 1 << 24, &na), *db = unum_read_file(b, 1 << 24, &nb);
    int same = da && db && na == nb && !memcmp(da, db, na);
    free(a), free(b), free(da), free(db);
    return same;
}

static int exists(const Hub *h, const char *name) {
    char *p = model_path(h, name);
    int e = unum_file_exists(p);
    free(p);
    return e;
}

static long long file_size(const Hub *h, const char *name) {
    char *p = model_path(h, name);
    struct stat sb;
    long long n = stat(p, &sb) == 0 ? (long long)sb.st_size : -1;
    free(p);
    return n;
}

static char *log_text(const Hub *h) {
    char *t = unum_read_file(h->log, 1 << 20, NULL);
    return t ? t : xstrdup("");
}

/* ---- the command ---------------------------------------------------------- */

TEST(pull_downloads_the_wanted_files_into_the_models_folder) {
    Hub h;
    if (hub_start(&h, "") != 0) return;
    char *out = NULL, *err = NULL;
    CHECK_EQ_INT(pull_sh(&h, &out, &err, "HF_TOKEN=sekrit $U pull " REPO), 0);
    char *dir = model_path(&h, ""), want[1300];
    snprintf(want, sizeof want, "%s\n", dir);
    CHECK_STR(out, want); /* the folder on stdout, for scripts */
    static const char *wanted[] = {"config.json", "tokenizer.json", "generation_config.json",
                                   "README.md", "model.safetensors"};
    for (int i = 0; i < 5; i++) CHECK(same_file(&h, wanted[i]));
    CHECK(!exists(&h, "pytorch_model.bin")); /* safetensors exist: other formats stay */
    CHECK(!exists(&h, "onnx/model.onnx") && !exists(&h, "onnx"));
    CHECK(!exists(&h, ".gitattributes"));
    CHECK(!exists(&h, "model.safetensors.part"));
    char *log = log_text(&h);
    CHECK_CONTAINS(log, "GET /api/models/" REPO "/revision/main");
    CHECK_CONTAINS(log, "GET /lfs/" REPO "/model.safetensors"); /* followed the LFS redirect */
    CHECK_CONTAINS(log, "auth=Bearer sekrit");
    free(log), free(out), free(err);

    /* -m ORG/NAME finds what pull wrote */
    char *old = getenv("XDG_DATA_HOME") ? xstrdup(getenv("XDG_DATA_HOME")) : NULL;
    setenv("XDG_DATA_HOME", h.data, 1);
    char *found = modeldir_resolve(REPO);
    CHECK_STR(found, dir);
    free(found);
    if (old) setenv("XDG_DATA_HOME", old, 1), free(old);
    else unsetenv("XDG_DATA_HOME");

    /* a second pull finds everything complete and fetches nothing */
    FILE *f = fopen(h.log, "w");
    if (f) fclose(f);
    CHECK_EQ_INT(pull_sh(&h, &out, &err, "$U pull " REPO " --revision main"), 0);
    CHECK_CONTAINS(err, "0 fetched");
    log = log_text(&h);
    CHECK(!strstr(log, "GET /lfs/") && !strstr(log, "GET /" REPO "/resolve/"));
    free(log), free(out), free(err), free(dir);
    hub_stop(&h);
}

TEST(pull_resumes_an_interrupted_transfer_with_a_range_request) {
    Hub h;
    if (hub_start(&h, "--cut-after 200000") != 0) return;
    char *err = NULL;
    CHECK_EQ_INT(pull_sh(&h, NULL, &err, "$U pull " REPO), 1);
    CHECK_CONTAINS(err, "model.safetensors");
    CHECK_CONTAINS(err, "resume");
    CHECK_EQ_INT(file_size(&h, "model.safetensors.part"), 200000); /* kept */
    CHECK(!exists(&h, "model.safetensors"));
    CHECK(!exists(&h, "config.json")); /* the folder does not yet pass for a model */
    free(err);
    /* the server cuts only whole-file transfers: the resume goes through */
    CHECK_EQ_INT(pull_sh(&h, NULL, &err, "$U pull " REPO), 0);
    CHECK(same_file(&h, "model.safetensors"));
    CHECK(same_file(&h, "config.json"));
    CHECK(!exists(&h, "model.safetensors.part"));
    char *log = log_text(&h);
    CHECK_CONTAINS(log, "GET /lfs/" REPO "/model.safetensors range=bytes=200000-");
    free(log), free(err);
    hub_stop(&h);
}

TEST(pull_refuses_a_checksum_mismatch) {
    Hub h;
    if (hub_start(&h, "--corrupt") != 0) return;
    char *w = repo_path(&h, "model.safetensors"), sha[65];
    size_t n = 0;
    char *data = unum_read_file(w, 1 << 24, &n);
    Sha256 c;
    REQUIRE(data && sha256_init(&c) == 0);
    sha256_update(&c, data, n);
    sha256_final_hex(&c, sha);
    char *err = NULL;
    CHECK_EQ_INT(pull_sh(&h, NULL, &err, "$U pull " REPO), 1);
    CHECK_CONTAINS(err, "model.safetensors");
    CHECK_CONTAINS(err, "sha256 mismatch");
    CHECK_CONTAINS(err, sha); /* the expected digest */
    CHECK(!exists(&h, "model.safetensors"));
    CHECK(!exists(&h, "model.safetensors.part"));
    free(err), free(data), free(w);
    hub_stop(&h);
}

TEST(pull_errors_name_the_repo_or_server_and_usage_exits_2) {
    Hub h;
    if (hub_start(&h, "") != 0) return;
    char *err = NULL;
    CHECK_EQ_INT(pull_sh(&h, NULL, &err, "$U pull test-org/no-such-model"), 1);
    CHECK_CONTAINS(err, "test-org/no-such-model");
    CHECK_CONTAINS(err, "not found");
    CHECK_CONTAINS(err, "HTTP 404");
    free(err);
    CHECK_EQ_INT(pull_sh(&h, NULL, &err, "$U pull " REPO " --revision v9"), 1);
    CHECK_CONTAINS(err, "'v9'");
    free(err);
    hub_stop(&h);

    /* nothing listens on port 1: say so, and how to use a local model */
    Hub none = {.pid = 0};
    snprintf(none.endpoint, sizeof none.endpoint, "http://127.0.0.1:1");
    snprintf(none.data, sizeof none.data, "/nonexistent/unum-data");
    CHECK_EQ_INT(pull_sh(&none, NULL, &err, "$U pull " REPO), 1);
    CHECK_CONTAINS(err, "cannot reach http://127.0.0.1:1");
    CHECK_CONTAINS(err, "-m DIR");
    CHECK_CONTAINS(err, "unum/config");
    free(err);

    static const char *bad[] = {"$U pull",        "$U pull just-a-name", "$U pull a/b/c",
                                "$U pull ../etc", "$U pull a/b --frob",  "$U pull a/b --revision",
                                "$U pull a/b c/d"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ_INT(pull_sh(&none, NULL, &err, "%s", bad[i]), 2);
        CHECK(err && strlen(err) > 10);
        free(err);
    }
    char *out = NULL;
    CHECK_EQ_INT(pull_sh(&none, &out, NULL, "$U --help"), 0);
    CHECK_CONTAINS(out, "pull REPO");
    free(out);
}

/* ---- the library ---------------------------------------------------------- */

typedef struct {
    int calls, backwards, cancel_at_chunk;
    uint64_t last_done, total;
    UnumCancel cancel;
    int n_files;
} Seen;

static void on_progress(const PullProgress *p, void *user) {
    Seen *s = user;
    s->calls++;
    if (p->done < s->last_done) s->backwards++;
    s->last_done = p->done;
    s->total = p->total;
    s->n_files = p->n_files;
    if (s->cancel_at_chunk && p->file && !strcmp(p->file, "model.safetensors") && p->file_done > 0)
        unum_cancel(&s->cancel);
}

TEST(pull_api_reports_progress_and_cancels_keeping_the_part) {
    Hub h;
    if (hub_start(&h, "") != 0) return;
    char *dest = unum_path_join(h.tmp, "dest");
    Seen seen = {.cancel_at_chunk = 1};
    PullOptions o = {.repo = REPO,
                     .endpoint = h.endpoint,
                     .token = "",
                     .dest = dest,
                     .progress = on_progress,
                     .user = &seen,
                     .cancel = &seen.cancel};
    PullResult r;
    CHECK_EQ_INT(pull_run(&o, &r), PULL_CANCELLED);
    CHECK_ERR("interrupted");
    char *part = unum_path_join(dest, "model.safetensors.part");
    struct stat sb;
    CHECK(stat(part, &sb) == 0 && sb.st_size > 0 && sb.st_size < WEIGHTS_SIZE);
    free(part);

    seen = (Seen){0};
    CHECK_EQ_INT(pull_run(&o, &r), PULL_OK);
    CHECK(seen.calls > 2);
    CHECK_EQ_INT(seen.backwards, 0);
    CHECK_EQ_INT(seen.n_files, 5);
    CHECK(seen.total > WEIGHTS_SIZE);
    CHECK_EQ_INT(seen.last_done, seen.total);
    CHECK_STR(r.dir, dest);
    CHECK_EQ_INT(strlen(r.commit), 40);
    CHECK_EQ_INT(r.n_files, 5);
    CHECK(r.bytes < seen.total); /* the resumed file's kept bytes were not fetched again */
    pull_result_free(&r);

    /* a .part holding someone else's bytes: the sha256 refuses them, and the
     * pull starts that file again from zero once, by itself */
    char *dest2 = unum_path_join(h.tmp, "dest2");
    mkdir(dest2, 0755);
    static const char junk[1000];
    put(dest2, "model.safetensors.part", junk, sizeof junk);
    o.dest = dest2, o.progress = NULL, o.cancel = NULL;
    CHECK_EQ_INT(pull_run(&o, &r), PULL_OK);
    pull_result_free(&r);
    char *got = unum_path_join(dest2, "model.safetensors"),
         *want = repo_path(&h, "model.safetensors");
    size_t ng = 0, nw = 0;
    char *dg = unum_read_file(got, 1 << 24, &ng), *dw = unum_read_file(want, 1 << 24, &nw);
    CHECK(dg && dw && ng == nw && !memcmp(dg, dw, nw));
    free(dg), free(dw), free(got), free(want), free(dest2);

    CHECK_EQ_INT(pull_repo_check("Qwen/Qwen2.5-0.5B-Instruct"), 0);
    CHECK_EQ_INT(pull_repo_check("openai/whisper-base"), 0);
    CHECK(pull_repo_check("a/..") != 0 && pull_repo_check("/x") != 0 &&
          pull_repo_check("a/-b") != 0 && pull_repo_check("a b/c") != 0);
    free(dest);
    hub_stop(&h);
}

/* An adapter repository (adapter_config.json, adapter_model.safetensors)
 * comes down whole, and the folder, or the repo id, works with --lora. */
TEST(pull_fetches_an_adapter_repo) {
    Hub h;
    if (hub_start(&h, "") != 0) return;
    char *out = NULL, *err = NULL;
    CHECK_EQ_INT(pull_sh(&h, &out, &err, "$U pull " ADAPTER_REPO), 0);
    free(out), free(err);
    char p[1300];
    snprintf(p, sizeof p, "%s/unum/models/%s", h.data, ADAPTER_REPO);
    char *cfg = unum_path_join(p, "adapter_config.json"), *st = unum_path_join(p, "adapter_model.safetensors");
    CHECK(unum_file_exists(cfg) && unum_file_exists(st));
    free(cfg), free(st);
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "echo 1 2 3 > %s/ids && $U logits -m %s/tiny-bf16 --backend cpu --ids %s/ids -o %s/l.f32 "
             "--lora %s:0.5 && $U logits -m %s/tiny-bf16 --backend cpu --ids %s/ids -o %s/m.f32 "
             "--lora " ADAPTER_REPO ":0.5 && cmp %s/l.f32 %s/m.f32",
             h.tmp, test_fixtures(), h.tmp, h.tmp, p, test_fixtures(), h.tmp, h.tmp, h.tmp, h.tmp);
    CHECK_EQ_INT(pull_sh(&h, &out, &err, "%s", cmd), 0);
    free(out), free(err);
    hub_stop(&h);
}

/* ---- bounds and links ----------------------------------------------------- */

TEST(pull_stops_a_body_longer_than_its_announced_size) {
    Hub h;
    if (hub_start(&h, "--oversize 50000000") != 0) return;
    char *err = NULL;
    CHECK_EQ_INT(pull_sh(&h, NULL, &err, "$U pull " REPO), 1);
    CHECK_CONTAINS(err, "model.safetensors: the server sent more than the 600000 bytes");
    CHECK(!exists(&h, "model.safetensors"));
    CHECK(!exists(&h, "model.safetensors.part"));
    free(err);
    hub_stop(&h);
}

TEST(pull_bounds_and_names_a_file_without_size_or_sha256) {
    Hub h;
    if (hub_start(&h, "--unsized") != 0) return;
    char *err = NULL;
    /* small files of unknown size come through, named as unverified */
    CHECK_EQ_INT(pull_sh(&h, NULL, &err, "$U pull " REPO), 0);
    CHECK_CONTAINS(err, "unverified");
    CHECK_CONTAINS(err, "config.json");
    CHECK(same_file(&h, "tokenizer.json"));
    free(err);
    hub_stop(&h);
    /* an endless one stops at the bound */
    if (hub_start(&h, "--unsized --endless") != 0) return;
    CHECK_EQ_INT(pull_sh(&h, NULL, &err, "$U pull " REPO " --max-unverified 2M"), 1);
    CHECK_CONTAINS(err, "neither its size nor its sha256");
    CHECK_CONTAINS(err, "2097152 bytes");
    CHECK_CONTAINS(err, "--max-unverified");
    free(err);
    CHECK_EQ_INT(pull_sh(&h, NULL, &err, "$U pull " REPO " --max-unverified 2X"), 2);
    CHECK_CONTAINS(err, "'2X' is not a size");
    free(err);
    hub_stop(&h);
}

TEST(pull_never_follows_a_link_at_the_part_or_the_file) {
    Hub h;
    if (hub_start(&h, "") != 0) return;
    char *dir = model_path(&h, "");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "mkdir -p %s && echo precious > %s/victim", dir, h.tmp);
    CHECK_EQ_INT(test_shell(":", cmd, NULL, NULL), 0);
    char *victim = unum_path_join(h.tmp, "victim");
    char *part = model_path(&h, "model.safetensors.part");
    CHECK(symlink(victim, part) == 0);
    char *err = NULL;
    CHECK_EQ_INT(pull_sh(&h, NULL, &err, "$U pull " REPO), 1);
    CHECK_CONTAINS(err, "symbolic link");
    free(err);
    char *v = unum_read_file(victim, 1 << 20, NULL);
    CHECK_STR(v, "precious\n");
    free(v);
    /* a link in the file's place is replaced, its target untouched */
    unlink(part);
    char *final = model_path(&h, "config.json");
    CHECK(symlink(victim, final) == 0);
    CHECK_EQ_INT(pull_sh(&h, NULL, NULL, "$U pull " REPO), 0);
    struct stat sb;
    CHECK(lstat(final, &sb) == 0 && S_ISREG(sb.st_mode));
    CHECK(same_file(&h, "config.json"));
    v = unum_read_file(victim, 1 << 20, NULL);
    CHECK_STR(v, "precious\n");
    free(v);
    free(final), free(part), free(victim), free(dir);
    hub_stop(&h);
}
