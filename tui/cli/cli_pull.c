/* cli_pull.c - see cli_pull.h. */
#include "tui/cli/cli_pull.h"

#include "tui/cli/common.h"
#include "tui/core/args.h"
#include "engine/pull.h"
#include "engine/base/termsafe.h"
#include "engine/base/util.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- progress ------------------------------------------------------------- */

typedef struct {
    int tty;
    double start, last;  /* clock at the start and at the last line */
    uint64_t start_done; /* bytes already done at the start (resumed, skipped) */
    int printed_index;   /* the last file given its own line (not a terminal) */
    int line_open;       /* a \r line is on the terminal */
} Show;

static void human(char *out, size_t cap, uint64_t b) {
    if (b >= (1ull << 30)) snprintf(out, cap, "%.2f GB", b / 1073741824.0);
    else if (b >= (1u << 20)) snprintf(out, cap, "%.1f MB", b / 1048576.0);
    else if (b >= 1024) snprintf(out, cap, "%.1f kB", b / 1024.0);
    else snprintf(out, cap, "%llu B", (unsigned long long)b);
}

static void on_progress(const PullProgress *p, void *user) {
    Show *s = user;
    double now = unum_now();
    char fd[32], ft[32], rate[32] = "";
    human(fd, sizeof fd, p->file_done);
    human(ft, sizeof ft, p->file_total);
    int whole = p->file_total && p->file_done == p->file_total;
    if (s->tty) {
        if (now - s->last < 0.1 && !whole) return;
        s->last = now;
        double el = now - s->start;
        if (el > 0.5 && p->done > s->start_done && !p->verifying) {
            human(rate, sizeof rate, (uint64_t)((p->done - s->start_done) / el));
            strcat(rate, "/s");
        }
        int pct = p->total ? (int)(100.0 * p->done / p->total) : 0;
        fputs("\r\033[K", stderr);
        term_printf(stderr, "  [%d/%d] %s%s  %s / %s  (all: %d%%)  %s", p->index + 1, p->n_files,
                    p->verifying ? "checking " : "", p->file, fd, ft, pct, rate);
        fflush(stderr);
        s->line_open = 1;
        return;
    }
    /* not a terminal: a line when a file is complete, and one every 5 s */
    if (whole && p->index != s->printed_index) {
        s->printed_index = p->index;
        term_printf(stderr, "unum pull: [%d/%d] %s  %s\n", p->index + 1, p->n_files, p->file, ft);
        s->last = now;
    } else if (now - s->last >= 5 && p->file_total) {
        s->last = now;
        term_printf(stderr, "unum pull: [%d/%d] %s  %s / %s\n", p->index + 1, p->n_files, p->file,
                    fd, ft);
    }
}

/* ---- the command ---------------------------------------------------------- */

/* A size: digits with an optional K, M or G (powers of 1024). 0 or -1. */
static int parse_size(const char *v, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || end == v || v[0] == '-') return -1;
    int shift = 0;
    if (*end == 'K' || *end == 'k') shift = 10, end++;
    else if (*end == 'M' || *end == 'm') shift = 20, end++;
    else if (*end == 'G' || *end == 'g') shift = 30, end++;
    if (*end || n == 0 || n > (UINT64_MAX >> shift)) return -1;
    *out = (uint64_t)n << shift;
    return 0;
}

int cli_pull(int argc, char **argv) {
    Args a = {argc, 1, argv, 0};
    const char *repo = NULL, *rev = NULL;
    uint64_t max_unverified = 0;
    while (a.i < a.argc && !a.bad) {
        if (args_flag(&a, "--revision", NULL)) {
            rev = args_value(&a);
            if (rev && !rev[0]) {
                fputs("unum: --revision: the value is empty\n", stderr);
                a.bad = 1;
            }
        } else if (args_flag(&a, "--max-unverified", NULL)) {
            const char *v = args_value(&a);
            if (v && parse_size(v, &max_unverified) != 0) {
                term_printf(stderr, "unum: --max-unverified: '%s' is not a size (N, NK, NM, NG)\n",
                            v);
                a.bad = 1;
            }
        } else if (a.argv[a.i][0] == '-' && a.argv[a.i][1]) {
            args_unknown(&a, "pull");
        } else if (!repo) {
            repo = a.argv[a.i++];
        } else {
            term_printf(stderr, "unum pull: one repo at a time ('%s' is extra)\n", a.argv[a.i]);
            a.bad = 1;
        }
    }
    if (a.bad) return EXIT_USAGE;
    if (!repo) {
        fputs("unum pull: which model? usage: unum pull ORG/NAME [--revision REV] "
              "[--max-unverified SIZE]\n",
              stderr);
        return EXIT_USAGE;
    }
    if (pull_repo_check(repo) != 0) {
        term_printf(stderr, "unum pull: %s\n", unum_error());
        return EXIT_USAGE;
    }

    /* the first Ctrl-C stops the transfer at the next chunk (the .part
     * stays); a second one ends the process at once */
    CliInterrupt ci;
    cli_interrupt_begin(&ci, 1);
    Show show = {.tty = isatty(STDERR_FILENO), .start = unum_now(), .printed_index = -1};
    show.last = show.start;
    PullOptions o = {.repo = repo,
                     .revision = rev,
                     .progress = on_progress,
                     .user = &show,
                     .cancel = cli_interrupt_flag(),
                     .max_unverified = max_unverified};
    PullResult r;
    int st = pull_run(&o, &r);
    cli_interrupt_end(&ci);
    if (show.line_open) fputs("\r\033[K", stderr);

    switch (st) {
    case PULL_OK: {
        char b[32];
        human(b, sizeof b, r.bytes);
        term_printf(stderr, "unum pull: %s at %.12s: %d files, %d fetched (%s)\n", repo, r.commit,
                    r.n_files, r.n_fetched, b);
        if (r.n_unverified)
            term_printf(stderr,
                        "unum pull: unverified (the hub gave neither a size nor a sha256): %s\n",
                        r.unverified);
        term_printf(stdout, "%s\n", r.dir);
        pull_result_free(&r);
        return 0;
    }
    case PULL_OFFLINE:
        term_printf(stderr, "unum pull: %s; %s\n", unum_error(), pull_offline_hint());
        return 1;
    case PULL_CANCELLED:
        term_printf(stderr,
                    "unum pull: interrupted; the partial file is kept, and the same command "
                    "resumes it\n");
        return 1;
    default:
        term_printf(stderr, "unum pull: %s\n", unum_error());
        return 1;
    }
}
