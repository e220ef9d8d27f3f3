/* cli_lora.c - see cli_lora.h. */
#include "tui/cli/cli_lora.h"

#include "engine/extract.h"
#include "engine/router.h"
#include "engine/base/termsafe.h"
#include "tui/core/appconfig.h"
#include "engine/base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cli_lora_option(Args *a, LoraSpec **specs, int *n) {
    const char *v = args_value(a);
    if (!v) return;
    LoraSpec s;
    if (lora_spec_parse(v, &s)) {
        fprintf(stderr, "unum: %s\n", unum_error());
        a->bad = 1;
        return;
    }
    *specs = xrealloc(*specs, sizeof **specs * (size_t)(*n + 1));
    (*specs)[(*n)++] = s;
}

int cli_lora_route(Engine *e, const char *text, float threshold, int verbose) {
    AppConfig cfg;
    app_config_defaults(&cfg);
    char *path = app_config_path("config");
    int rc = app_config_load(&cfg, path);
    if (!rc && !cfg.n_adapters)
        rc = unum_error_set("--lora auto: the settings file %s lists no adapter "
                            "(adapter = DIR[:SCALE] | DESCRIPTION)",
                            path ? path : "(none: neither XDG_CONFIG_HOME nor HOME is set)");
    free(path);
    if (rc) {
        app_config_free(&cfg);
        return -1;
    }
    if (threshold < 0) threshold = cfg.lora_threshold >= 0 ? cfg.lora_threshold : ROUTER_THRESHOLD_DEFAULT;
    Router *r = router_new(cfg.adapters, cfg.n_adapters, threshold);
    float *scores = xcalloc((size_t)cfg.n_adapters, sizeof *scores);
    int pick = -1;
    rc = router_pick(r, e, text, scores, &pick);
    if (!rc && pick >= 0) rc = engine_set_adapters(e, &router_entry(r, pick)->spec, 1);
    if (!rc && verbose) {
        term_printf(stderr, "unum: router: %s (threshold %.3f); scores:", 
                    pick >= 0 ? router_entry(r, pick)->spec.dir : "no adapter", threshold);
        for (int i = 0; i < cfg.n_adapters; i++)
            term_printf(stderr, " %s %.4f%s", router_entry(r, i)->spec.dir, scores[i],
                        i + 1 < cfg.n_adapters ? "," : "\n");
    }
    free(scores);
    router_free(r);
    app_config_free(&cfg);
    return rc;
}

static const char usage[] =
    "usage: unum lora extract --base DIR --tuned DIR --rank R [--targets M,...] -o ADAPTER_DIR\n"
    "  M: q_proj k_proj v_proj o_proj gate_proj up_proj down_proj (default: all)\n";

static void progress(void *user, int done, int total) {
    if (isatty(2)) fprintf(stderr, "\r\033[Klora extract: %d/%d layers' projections", done, total);
    if (done == total)
        fprintf(stderr, "%slora extract: %d projections factored\n", isatty(2) ? "\r\033[K" : "",
                total);
}

/* "q_proj,v_proj" -> bits; -1 on an unknown name. */
static int parse_targets(const char *list, unsigned *bits) {
    char *s = xstrdup(list), *save = NULL;
    *bits = 0;
    for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int m = 0;
        while (m < LORA_N_MODULES && strcmp(tok, lora_module_name(m))) m++;
        if (m == LORA_N_MODULES) {
            fprintf(stderr,
                    "unum lora extract: --targets: '%s' is not one of q_proj, k_proj, "
                    "v_proj, o_proj, gate_proj, up_proj, down_proj\n",
                    tok);
            free(s);
            return -1;
        }
        *bits |= 1u << m;
    }
    free(s);
    return 0;
}

int cli_lora(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "extract")) {
        fputs(usage, stderr);
        return argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) ? 0 : EXIT_USAGE;
    }
    Args a = {argc, 2, argv, 0};
    ExtractOptions o = {0};
    const char *out = NULL;
    while (a.i < a.argc && !a.bad) {
        if (args_flag(&a, "--base", NULL)) o.base = args_value(&a);
        else if (args_flag(&a, "--tuned", NULL)) o.tuned = args_value(&a);
        else if (args_flag(&a, "--rank", "-r")) args_int(&a, 1, 1 << 16, &o.rank);
        else if (args_flag(&a, "--targets", NULL)) {
            const char *v = args_value(&a);
            if (v && parse_targets(v, &o.targets)) a.bad = 1;
        } else if (args_flag(&a, "-o", "--output")) out = args_value(&a);
        else args_unknown(&a, "lora extract");
    }
    if (a.bad) return EXIT_USAGE;
    if (!o.base || !o.tuned || !o.rank || !out) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    o.progress = progress;
    char *untouched = NULL;
    if (lora_extract(&o, out, &untouched)) {
        fprintf(stderr, "unum lora extract: %s\n", unum_error());
        return 1;
    }
    if (untouched) {
        fprintf(stderr,
                "unum lora extract: note: tensor '%s' (and maybe others) differs outside "
                "the adapted projections; the adapter does not carry it\n",
                untouched);
        free(untouched);
    }
    puts(out);
    return 0;
}
