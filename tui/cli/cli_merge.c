/* cli_merge.c - see cli_merge.h. */
#include "tui/cli/cli_merge.h"

#include "engine/merge.h"
#include "tui/cli/cli_lora.h"
#include "tui/core/args.h"
#include "engine/base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: unum merge --method linear|task_arithmetic|ties|dare_ties|dare_linear|slerp\n"
    "                  [--base DIR] [--t T] [--seed S] [--out-dtype f32|bf16|f16]\n"
    "                  [--shard-size BYTES] -o OUT_DIR MODEL[:WEIGHT[:DENSITY]]...\n"
    "       unum merge --base DIR --lora ADAPTER[:SCALE]... [--out-dtype D] -o OUT_DIR\n";

static void progress(void *user, int i, int n, const char *name) {
    int tty = isatty(2);
    if (i == n) fprintf(stderr, "%smerge: %d tensors written\n", tty ? "\r\033[K" : "", n);
    else if (tty) fprintf(stderr, "\r\033[Kmerge: [%3d%%] %d/%d %s", 100 * i / n, i, n, name);
}

/* MODEL[:WEIGHT[:DENSITY]]: trailing numbers after ':' (a path may hold ':'
 * itself, so only numeric tails count). */
static int parse_model(const char *arg, MergeInput *in, char **dir) {
    char *s = xstrdup(arg);
    double nums[2];
    int k = 0;
    for (char *c; k < 2 && (c = strrchr(s, ':'));) {
        char *end;
        double v = strtod(c + 1, &end);
        if (!c[1] || *end) break;
        nums[k++] = v, *c = 0;
    }
    in->weight = 1, in->density = 1;
    if (k == 1) in->weight = (float)nums[0];
    if (k == 2) in->weight = (float)nums[1], in->density = (float)nums[0];
    if (!s[0]) {
        free(s);
        fprintf(stderr, "unum merge: %s: no model before the numbers\n", arg);
        return -1;
    }
    *dir = s;
    in->dir = s;
    return 0;
}

int cli_merge(int argc, char **argv) {
    Args a = {argc, 1, argv, 0};
    MergeOptions o = {0};
    o.out_dtype = -1;
    o.method = MERGE_BAKE;
    const char *out = NULL, *method = NULL, *dtype = NULL;
    float t = -1;
    unsigned long long seed = 0, shard = 0;
    LoraSpec *lora = NULL;
    int n_lora = 0, n = 0;
    MergeInput *models = xcalloc((size_t)argc + 1, sizeof *models);
    char **dirs = xcalloc((size_t)argc + 1, sizeof *dirs);
    int rc = EXIT_USAGE;
    while (a.i < a.argc && !a.bad) {
        if (args_flag(&a, "--method", NULL)) method = args_value(&a);
        else if (args_flag(&a, "--base", NULL)) o.base = args_value(&a);
        else if (args_flag(&a, "--t", NULL)) args_float(&a, 0, 1, &t);
        else if (args_flag(&a, "--seed", NULL)) args_u64(&a, &seed);
        else if (args_flag(&a, "--out-dtype", NULL)) dtype = args_value(&a);
        else if (args_flag(&a, "--shard-size", NULL)) args_u64(&a, &shard);
        else if (args_flag(&a, "-o", "--output")) out = args_value(&a);
        else if (args_flag(&a, "--lora", NULL)) cli_lora_option(&a, &lora, &n_lora);
        else if (args_flag(&a, "-h", "--help")) {
            fputs(usage, stdout);
            rc = 0;
            goto done;
        } else if (argv[a.i][0] != '-') {
            if (parse_model(argv[a.i], &models[n], &dirs[n])) a.bad = 1;
            n++, a.i++;
        } else args_unknown(&a, "merge");
    }
    if (a.bad) goto done;
    if (dtype) {
        if (!strcmp(dtype, "f32")) o.out_dtype = DT_F32;
        else if (!strcmp(dtype, "bf16")) o.out_dtype = DT_BF16;
        else if (!strcmp(dtype, "f16")) o.out_dtype = DT_F16;
        else {
            fprintf(stderr, "unum merge: --out-dtype %s: give f32, bf16 or f16\n", dtype);
            goto done;
        }
    }
    if (!out || (!method && !n_lora) || (method && n_lora) || (n_lora && n)) {
        fprintf(stderr,
                "unum merge: give -o and either --method with models, or --base with "
                "--lora\n%s",
                usage);
        goto done;
    }
    if (method && (int)(o.method = merge_method_parse(method)) < 0) {
        fprintf(stderr,
                "unum merge: --method %s is not one of linear, task_arithmetic, ties, "
                "dare_ties, dare_linear, slerp\n",
                method);
        goto done;
    }
    o.models = models, o.n_models = n;
    o.lora = lora, o.n_lora = n_lora;
    o.t = t, o.seed = seed, o.shard_bytes = shard;
    o.progress = progress;
    if (merge_run(&o, out)) {
        fprintf(stderr, "unum merge: %s\n", unum_error());
        rc = 1;
        goto done;
    }
    puts(out);
    rc = 0;
done:
    for (int i = 0; i < n; i++) free(dirs[i]);
    free(dirs);
    free(models);
    lora_specs_free(lora, n_lora);
    return rc;
}
