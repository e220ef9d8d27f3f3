/* cli_calibrate.c - unum calibrate: the cascade's threshold for a rate of
 * escalation (see cli_models.h). */
#include "tui/cli/cli_models.h"

#include "engine/base/util.h"
#include "engine/cascade.h"
#include "tui/core/appconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A greedy answer's ids (the end id included, for scoring) and text. */
typedef struct {
    IdVec ids;
    char *text;
    size_t len;
} Answer;

static int take_token(void *user, int32_t id, const char *text, size_t len) {
    Answer *a = user;
    if (id >= 0) idvec_push(&a->ids, id);
    a->text = xrealloc(a->text, a->len + len + 1);
    memcpy(a->text + a->len, text, len);
    a->text[a->len += len] = 0;
    return 0;
}

/* e's greedy answer to text (chat template) after the prompt it built. */
static int answer(Engine *e, const char *text, int max_tokens, Answer *out, IdVec *prompt) {
    CliPrompt pr = {.text = text};
    if (cli_models_prompt(e, &pr, prompt)) return -1;
    GenerateParams gp = engine_default_params(e);
    gp.sampling.temperature = 0;
    gp.max_tokens = max_tokens;
    if (gp.max_tokens > e->model->ctx - (int)prompt->n)
        gp.max_tokens = e->model->ctx - (int)prompt->n;
    out->text = xstrdup("");
    GenerateStats st;
    return engine_generate(e, prompt->v, prompt->n, &gp, take_token, out, &st);
}

static void answer_free(Answer *a) {
    idvec_free(&a->ids);
    free(a->text);
}

int cli_calibrate(int argc, char **argv) {
    Args a = {argc, 1, argv, 0};
    const char *small = NULL, *prompts = NULL, *backend = "auto";
    CliModels cm = {0};
    float rate = -1;
    int threads = 0, n = 64, save = 0;
    while (a.i < a.argc && !a.bad) {
        if (args_flag(&a, "-m", "--model")) small = args_value(&a);
        else if (args_flag(&a, "--prompts", NULL)) prompts = args_value(&a);
        else if (args_flag(&a, "--rate", NULL)) args_float(&a, 0, 1, &rate);
        else if (args_flag(&a, "-n", "--n-predict")) args_int(&a, 1, 1 << 20, &n);
        else if (args_flag(&a, "--save", NULL)) save = 1;
        else if (args_flag(&a, "--backend", NULL)) backend = args_backend(&a);
        else if (args_flag(&a, "--threads", "-t")) args_int(&a, 1, 1024, &threads);
        else if (cli_models_flag(&a, &cm)) continue;
        else args_unknown(&a, "calibrate");
    }
    if (a.bad) return EXIT_USAGE;
    if (!small || !cm.stage2 || !prompts || rate < 0) {
        fprintf(stderr, "unum calibrate: -m SMALL, --stage2 BIG, --prompts FILE and --rate R are "
                        "required\n");
        return EXIT_USAGE;
    }
    if (remote_is_url(small) || remote_is_url(cm.stage2)) {
        fprintf(stderr, "unum: calibrate runs local models (stage 1's confidence needs its "
                        "logits)\n");
        return 1;
    }
    char *file = unum_read_file(prompts, 64u << 20, NULL);
    if (!file) {
        fprintf(stderr, "unum: %s\n", unum_error());
        return 1;
    }
    EngineOptions eo = {.backend = backend, .threads = threads};
    EngineOptions eo2 = eo;
    if (cm.stage2_backend) eo2.backend = cm.stage2_backend;
    Engine *e1 = engine_load(small, &eo), *e2 = e1 ? engine_load(cm.stage2, &eo2) : NULL;
    int rc = 1;
    size_t np = 0, agree = 0, cap = 16;
    double *conf = xmalloc(sizeof(double) * cap);
    unsigned char *same = xmalloc(cap);
    if (!e1 || !e2) {
        fprintf(stderr, "unum: %s\n", unum_error());
        goto out;
    }
    int tty = isatty(STDERR_FILENO);
    for (char *line = strtok(file, "\n"); line; line = strtok(NULL, "\n")) {
        if (!*line || *line == '#') continue;
        if (tty) /* both stages answer each prompt: say where it is */
            fprintf(stderr, "\r\033[Kunum: calibrate: prompt %zu (%zu agreed so far)", np + 1,
                    agree);
        Answer a1 = {0}, a2 = {0};
        IdVec p1 = {0}, p2 = {0};
        double c1 = 0;
        int r = answer(e1, line, n, &a1, &p1) ||
                cascade_confidence(e1, p1.v, p1.n, a1.ids.v, a1.ids.n, &c1) ||
                answer(e2, line, n, &a2, &p2);
        if (!r) {
            if (np == cap) {
                conf = xrealloc(conf, sizeof(double) * (cap *= 2));
                same = xrealloc(same, cap);
            }
            same[np] = !strcmp(a1.text, a2.text);
            agree += same[np];
            conf[np++] = c1;
        }
        answer_free(&a1), answer_free(&a2), idvec_free(&p1), idvec_free(&p2);
        if (r) {
            if (tty) fputs("\r\033[K", stderr);
            fprintf(stderr, "unum: %s: prompt %zu: %s\n", prompts, np + 1, unum_error());
            goto out;
        }
    }
    if (tty) fputs("\r\033[K", stderr);
    if (np == 0) {
        fprintf(stderr, "unum: %s: no prompts (one per line)\n", prompts);
        goto out;
    }
    double *sorted = xmalloc(sizeof(double) * np);
    memcpy(sorted, conf, sizeof(double) * np);
    double P = cascade_calibrate(sorted, np, rate);
    free(sorted);
    size_t esc = 0, kept = 0, kept_agree = 0;
    for (size_t i = 0; i < np; i++) {
        if (cascade_escalates(conf[i], P)) esc++;
        else kept++, kept_agree += same[i];
    }
    printf("escalate_below = %.4f\n", P);
    printf("prompts %zu, escalated %zu (%.1f%%, asked %.1f%%)\n", np, esc, 100.0 * esc / np,
           100.0 * rate);
    printf("agreement: stage 1 gave stage 2's answer on %zu of %zu prompts (%.1f%%), on %zu of "
           "the %zu it keeps (%.1f%%)\n",
           agree, np, 100.0 * agree / np, kept_agree, kept, kept ? 100.0 * kept_agree / kept : 0);
    rc = 0;
    if (save) { /* the app's settings keep the pair and the threshold */
        char *cfg = app_config_path("config"), val[32];
        snprintf(val, sizeof val, "%.4f", P);
        if (app_config_set(cfg, "stage2", cm.stage2) ||
            app_config_set(cfg, "escalate_below", val)) {
            fprintf(stderr, "unum: %s\n", unum_error());
            rc = 1;
        } else {
            printf("saved to %s\n", cfg);
        }
        free(cfg);
    }
out:
    free(conf);
    free(same);
    free(file);
    engine_free(e2);
    engine_free(e1);
    return rc;
}
