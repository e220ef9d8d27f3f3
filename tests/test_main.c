/* test_main.c - runs the registered unit tests; see test.h. */
#include "tests/test.h"

#include "engine/base/util.h"

#include <fcntl.h>
#include <ftw.h>
#include <pty.h>
#include <termios.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdlib.h>

typedef struct {
    const char *name, *file;
    test_fn fn;
} Case;

static Case cases[512];
static int n_cases;
static int cur_failed, cur_skipped;
static const char *cur_skip_why;

void test_register(const char *name, const char *file, test_fn fn) {
    if (n_cases == (int)(sizeof cases / sizeof cases[0])) {
        fprintf(stderr, "test: too many cases\n");
        exit(1);
    }
    cases[n_cases++] = (Case){name, file, fn};
}

void test_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("    %s:%d: ", file, line);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    cur_failed++;
}

void test_skip(const char *why) {
    cur_skipped = 1;
    cur_skip_why = why;
}

int test_failed_now(void) { return cur_failed; }

const char *test_fixtures(void) {
    const char *d = getenv("UNUM_FIXTURES");
    return d ? d : "build/fixtures";
}

const char *test_root(void) {
    const char *d = getenv("UNUM_ROOT");
    return d ? d : ".";
}

static char *golden_path(const char *rel) {
    char full[512];
    snprintf(full, sizeof full, "tests/golden/%s", rel);
    return unum_path_join(test_root(), full);
}

int test_golden_ids(const char *rel, IdVec *out) {
    char *p = golden_path(rel);
    char *txt = unum_read_file(p, 1 << 20, NULL);
    free(p);
    if (!txt) return -1;
    for (char *s = txt, *e;; s = e) {
        long v = strtol(s, &e, 10);
        if (e == s) break;
        idvec_push(out, (int32_t)v);
    }
    free(txt);
    return 0;
}

float *test_golden_f32(const char *rel, size_t want) {
    char *p = golden_path(rel);
    size_t n = 0;
    float *v = (float *)unum_read_file(p, 64u << 20, &n);
    free(p);
    if (v && n != want * sizeof(float)) {
        unum_error_set("tests/golden/%s: %zu bytes, expected %zu floats", rel, n, want);
        free(v);
        return NULL;
    }
    return v;
}

double test_worst_rel(const float *got, const float *ref, int rows, int cols) {
    double worst = 0;
    for (int r = 0; r < rows; r++) {
        double mx = 1e-30, d = 0;
        for (int i = 0; i < cols; i++) {
            size_t k = (size_t)r * cols + i;
            mx = fmax(mx, fabs(ref[k]));
            d = fmax(d, fabs((double)got[k] - ref[k]));
        }
        worst = fmax(worst, d / mx);
    }
    return worst;
}

char *test_tmpdir(void) {
    char tmpl[] = "/tmp/unum-test-XXXXXX";
    if (!mkdtemp(tmpl)) {
        test_fail(__FILE__, __LINE__, "mkdtemp failed");
        return NULL;
    }
    return strdup(tmpl);
}

static int remove_one(const char *p, const struct stat *sb, int flag, struct FTW *f) {
    (void)sb, (void)flag, (void)f;
    return remove(p);
}

void test_tmp_remove(char *dir) {
    if (dir) nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

const char *test_bin(void) {
    const char *b = getenv("UNUM_BIN");
    return b ? b : "build/unum";
}

int test_shell(const char *prelude, const char *cmd, char **out, char **err) {
    char ofile[] = "/tmp/unum-sh-outXXXXXX", efile[] = "/tmp/unum-sh-errXXXXXX";
    close(mkstemp(ofile));
    close(mkstemp(efile));
    size_t n = strlen(prelude) + strlen(cmd) + 2 * sizeof ofile + 64;
    char *full = malloc(n);
    snprintf(full, n, "%s; { %s\n} >%s 2>%s </dev/null", prelude, cmd, ofile, efile);
    int st = system(full);
    free(full);
    char *o = unum_read_file(ofile, 64u << 20, NULL), *e = unum_read_file(efile, 1 << 20, NULL);
    unlink(ofile);
    unlink(efile);
    if (out) *out = o;
    else free(o);
    if (err) *err = e;
    else free(e);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

int test_pty(const char *prelude, const char *cmd, char **out, size_t *len) {
    if (out) *out = NULL;
    if (len) *len = 0;
    int m, s;
    if (openpty(&m, &s, NULL, NULL, NULL) != 0) return 128;
    struct termios t;
    if (tcgetattr(s, &t) == 0) {
        cfmakeraw(&t);
        tcsetattr(s, TCSANOW, &t);
    }
    size_t n = strlen(prelude) + strlen(cmd) + 32;
    char *full = malloc(n);
    snprintf(full, n, "%s; { %s\n}", prelude, cmd);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        int nul = open("/dev/null", O_RDONLY);
        dup2(nul, 0);
        dup2(s, 1);
        dup2(s, 2);
        close(m);
        close(s);
        close(nul);
        execl("/bin/sh", "sh", "-c", full, (char *)NULL);
        _exit(127);
    }
    free(full);
    close(s);
    size_t cap = 4096, got = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (got + 1024 > cap) buf = realloc(buf, cap *= 2);
        ssize_t k = read(m, buf + got, cap - got - 1);
        if (k <= 0) break; /* EIO once every writer is gone */
        got += (size_t)k;
    }
    buf[got] = 0;
    close(m);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0) st = -1;
    if (out) *out = buf;
    else free(buf);
    if (len) *len = got;
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

int main(int argc, char **argv) {
    int passed = 0, failed = 0, skipped = 0;
    for (int i = 0; i < n_cases; i++) {
        Case *c = &cases[i];
        if (argc > 1 && !strstr(c->name, argv[1]) && !strstr(c->file, argv[1])) continue;
        cur_failed = 0;
        cur_skipped = 0;
        fflush(stdout);
        c->fn();
        if (cur_failed) {
            printf("FAIL %s (%s)\n", c->name, c->file);
            failed++;
        } else if (cur_skipped) {
            printf("skip %s: %s\n", c->name, cur_skip_why);
            skipped++;
        } else {
            printf("ok   %s\n", c->name);
            passed++;
        }
    }
    printf("unit: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}

int test_sh(char **out, char **err, const char *fmt, ...) {
    char cmd[4096], prelude[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(prelude, sizeof prelude, "U='%s'; F='%s'", test_bin(), test_fixtures());
    return test_shell(prelude, cmd, out, err);
}
