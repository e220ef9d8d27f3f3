/* fuzz_settings.c - libFuzzer target for the app's settings file
 * (tui/core/appconfig.c), read as hostile input.
 *
 * The input is the file's text, copied into a buffer of exactly its size (so
 * ASan sees any read past it). Whatever parses must lie in the documented
 * ranges and, written back as "key = value" lines, parse again to the same
 * settings. Seeds: tests/fuzz/seeds/fuzz_settings/. */
#include "tui/core/appconfig.h"

#include "engine/base/util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what) {
    fprintf(stderr, "fuzz_settings: %s (%s)\n", what, unum_error());
    abort();
}

static int same_str(const char *a, const char *b) {
    return (!a && !b) || (a && b && !strcmp(a, b));
}

/* The settings as a file's text (a new string). */
static char *settings_text(const AppConfig *c) {
    size_t cap = 8 * 4200, n = 0;
    char *s = xmalloc(cap);
    const struct {
        const char *key, *v;
    } strs[] = {{"model", c->model},
                {"whisper", c->whisper},
                {"theme", c->theme},
                {"backend", c->backend},
                {"persona", c->persona}};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        if (strs[i].v) n += (size_t)snprintf(s + n, cap - n, "%s = %s\n", strs[i].key, strs[i].v);
    n += (size_t)snprintf(s + n, cap - n, "threads = %d\nmax_tokens = %d\nctx = %d\n", c->threads,
                          c->max_tokens, c->ctx);
    if (c->have_top_k) n += (size_t)snprintf(s + n, cap - n, "top_k = %d\n", c->top_k);
    if (c->temperature >= 0)
        n += (size_t)snprintf(s + n, cap - n, "temperature = %.9g\n", c->temperature);
    if (c->top_p >= 0) n += (size_t)snprintf(s + n, cap - n, "top_p = %.9g\n", c->top_p);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    AppConfig c;
    app_config_defaults(&c);
    if (app_config_parse(&c, buf, size, "fuzz") == 0) {
        if (c.threads < 0 || c.threads > 1024 || c.max_tokens < 1 || c.ctx < 0 ||
            c.temperature > 10 || c.top_p > 1 || (c.have_top_k && c.top_k < 0))
            fail("a value out of its range");
        if (c.backend && strcmp(c.backend, "auto") && strcmp(c.backend, "cpu") &&
            strcmp(c.backend, "cuda"))
            fail("an unknown backend");
        char *text = settings_text(&c);
        AppConfig d;
        app_config_defaults(&d);
        if (app_config_parse(&d, text, strlen(text), "again") != 0) fail("written back, refused");
        if (!same_str(c.model, d.model) || !same_str(c.whisper, d.whisper) ||
            !same_str(c.theme, d.theme) || !same_str(c.backend, d.backend) ||
            !same_str(c.persona, d.persona) || c.threads != d.threads ||
            c.max_tokens != d.max_tokens || c.ctx != d.ctx || c.have_top_k != d.have_top_k ||
            (c.have_top_k && c.top_k != d.top_k) || c.temperature != d.temperature ||
            c.top_p != d.top_p)
            fail("written back, read differently");
        free(text);
        app_config_free(&d);
    }
    app_config_free(&c);
    free(buf);
    return 0;
}
