/* appconfig.c - see appconfig.h. */
#include "tui/core/appconfig.h"
#include "engine/models.h"
#include "engine/speculative.h"

#include "engine/base/paths.h"
#include "engine/base/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FILE (64u << 10)
#define MAX_LINE 4096

void app_config_defaults(AppConfig *c) {
    memset(c, 0, sizeof *c);
    c->temperature = -1;
    c->top_p = -1;
    c->escalate_below = -1;
    c->lora_threshold = -1;
    c->max_tokens = 1024;
    c->mouse = 1;
}

void app_config_free(AppConfig *c) {
    free(c->model);
    free(c->whisper);
    free(c->theme);
    free(c->backend);
    free(c->persona);
    free(c->remote_model);
    free(c->stage2);
    free(c->draft);
    free(c->stage2_backend);
    free(c->report_model);
    router_entries_free(c->adapters, c->n_adapters);
    app_config_defaults(c);
}

static int parse_int(const char *v, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < lo || x > hi) return -1;
    *out = (int)x;
    return 0;
}

static int parse_float(const char *v, double lo, double hi, float *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(x) || x < lo || x > hi) return -1;
    *out = (float)x;
    return 0;
}

static int is_blank(char c) { return c == ' ' || c == '\t'; }

/* The value after '=' in place: its trailing comment (a '#' first in the
 * value or after a blank) and the blanks around it removed, or the text
 * between its double quotes. */
static int value_unquote(char *v, const char *name, int line) {
    while (is_blank(*v)) memmove(v, v + 1, strlen(v));
    if (*v == '"') {
        /* the closing quote is the first one followed by nothing but
         * blanks and perhaps a comment */
        for (char *q = v + 1; (q = strchr(q, '"')); q++) {
            char *r = q + 1;
            while (is_blank(*r)) r++;
            if (*r && *r != '#') continue;
            size_t n = (size_t)(q - v - 1);
            memmove(v, v + 1, n);
            v[n] = 0;
            return 0;
        }
        return unum_error_set("%s:%d: the value has no closing '\"' (a value in quotes ends "
                              "with one, before any comment)",
                              name, line);
    }
    for (char *h = v; (h = strchr(h, '#')); h++)
        if (h == v || is_blank(h[-1])) {
            *h = 0;
            break;
        }
    size_t n = strlen(v);
    while (n && is_blank(v[n - 1])) v[--n] = 0;
    return 0;
}

/* 1 when value must be written in quotes to read back as itself. */
static int value_needs_quotes(const char *v) {
    if (!*v || is_blank(*v) || *v == '"' || *v == '#' || is_blank(v[strlen(v) - 1])) return 1;
    for (const char *h = v; (h = strchr(h, '#')); h++)
        if (h > v && is_blank(h[-1])) return 1;
    return 0;
}

/* "DIR[:SCALE] | DESCRIPTION" appended to c->adapters. */
static int parse_adapter(AppConfig *c, char *v) {
    char *bar = strchr(v, '|');
    if (!bar) return unum_error_set("no '|' before a description");
    char *d = bar + 1;
    while (*d == ' ' || *d == '\t') d++;
    *bar = 0;
    for (char *e = bar; e > v && (e[-1] == ' ' || e[-1] == '\t');) *--e = 0;
    if (!*d) return unum_error_set("no description after '|'");
    LoraSpec s;
    if (lora_spec_parse(v, &s)) return -1;
    c->adapters = xrealloc(c->adapters, sizeof *c->adapters * (size_t)(c->n_adapters + 1));
    c->adapters[c->n_adapters++] = (RouterEntry){s, xstrdup(d)};
    return 0;
}

int app_config_parse(AppConfig *c, const char *text, size_t len, const char *name) {
    if (len > MAX_FILE) return unum_error_set("%s: larger than %u bytes", name, MAX_FILE);
    unsigned seen = 0;
    int line = 0;
    for (size_t at = 0; at < len;) {
        line++;
        const char *s = text + at;
        const char *nl = memchr(s, '\n', len - at);
        size_t n = nl ? (size_t)(nl - s) : len - at;
        at += n + (nl != NULL);
        if (n > MAX_LINE) return unum_error_set("%s:%d: line longer than %d bytes", name, line, MAX_LINE);
        if (memchr(s, 0, n)) return unum_error_set("%s:%d: NUL byte", name, line);
        char buf[MAX_LINE + 1];
        memcpy(buf, s, n);
        buf[n] = 0;
        char *k = buf;
        while (*k == ' ' || *k == '\t') k++;
        size_t kl = strlen(k);
        while (kl && (k[kl - 1] == ' ' || k[kl - 1] == '\t' || k[kl - 1] == '\r')) k[--kl] = 0;
        if (!*k || *k == '#') continue;
        char *eq = strchr(k, '=');
        if (!eq) return unum_error_set("%s:%d: expected KEY = VALUE", name, line);
        char *v = eq + 1;
        *eq = 0;
        for (char *e = eq; e > k && (e[-1] == ' ' || e[-1] == '\t');) *--e = 0;
        if (value_unquote(v, name, line)) return -1;
        static const char *keys[] = {"model",       "whisper", "theme", "backend",
                                     "threads",     "temperature", "top_p", "top_k",
                                     "max_tokens",  "ctx",     "persona", "remote_model",
                                     "stage2",      "escalate_below", "stage2_backend",
                                     "adapter",     "lora",    "lora_threshold",
                                     "report_model", "draft",  "draft_n", "mouse",
                                     "mem_budget", "speech_model"};
        int key = -1;
        for (int i = 0; i < (int)(sizeof keys / sizeof *keys); i++)
            if (!strcmp(k, keys[i])) key = i;
        if (key < 0) return unum_error_set("%s:%d: unknown setting \"%s\"", name, line, k);
        if (key == 23) key = 1; /* speech_model is whisper's other name (any speech model) */
        if (key != 15 && (seen & (1u << key)))
            return unum_error_set("%s:%d: %s is set twice", name, line, k);
        seen |= 1u << key;
        int bad = 0;
        switch (key) {
        case 0: free(c->model), c->model = xstrdup(v); bad = !*v; break;
        case 1: free(c->whisper), c->whisper = xstrdup(v); bad = !*v; break;
        case 2: free(c->theme), c->theme = xstrdup(v); bad = !*v; break;
        case 3:
            bad = strcmp(v, "auto") && strcmp(v, "cpu") && strcmp(v, "cuda");
            if (!bad) free(c->backend), c->backend = xstrdup(v);
            break;
        case 4: bad = parse_int(v, 0, 1024, &c->threads); break;
        case 5: bad = parse_float(v, 0, 10, &c->temperature); break;
        case 6: bad = parse_float(v, 0, 1, &c->top_p); break;
        case 7: bad = parse_int(v, 0, 1 << 20, &c->top_k); c->have_top_k = !bad; break;
        case 8: bad = parse_int(v, 1, 1 << 20, &c->max_tokens); break;
        case 9: bad = parse_int(v, 0, 1 << 24, &c->ctx); break;
        case 10: free(c->persona), c->persona = xstrdup(v); bad = !*v; break;
        case 11: free(c->remote_model), c->remote_model = xstrdup(v); bad = !*v; break;
        case 12: free(c->stage2), c->stage2 = xstrdup(v); bad = !*v; break;
        case 13: bad = parse_float(v, 0, 2, &c->escalate_below); break;
        case 14:
            bad = strcmp(v, "auto") && strcmp(v, "cpu") && strcmp(v, "cuda");
            if (!bad) free(c->stage2_backend), c->stage2_backend = xstrdup(v);
            break;
        case 15:
            if (parse_adapter(c, v))
                return unum_error_wrap("%s:%d: adapter = DIR[:SCALE] | DESCRIPTION", name, line);
            break;
        case 16:
            bad = strcmp(v, "auto") && strcmp(v, "off");
            c->lora_auto = !strcmp(v, "auto");
            break;
        case 17: bad = parse_float(v, -1, 1, &c->lora_threshold); break;
        case 18: free(c->report_model), c->report_model = xstrdup(v); bad = !*v; break;
        case 19: free(c->draft), c->draft = xstrdup(v); bad = !*v; break;
        case 20: bad = parse_int(v, 1, SPEC_DRAFT_N_MAX, &c->draft_n); break;
        case 21:
            bad = strcmp(v, "on") && strcmp(v, "off");
            if (!bad) c->mouse = !strcmp(v, "on");
            break;
        case 22:
            if (models_parse_size(v, &c->mem_budget))
                return unum_error_wrap("%s:%d: mem_budget", name, line);
            break;
        }
        if (bad) return unum_error_set("%s:%d: bad value \"%s\" for %s", name, line, v, k);
    }
    return 0;
}

int app_config_load(AppConfig *c, const char *path) {
    if (!path || !unum_file_exists(path)) return 0;
    size_t len = 0;
    char *txt = unum_read_file(path, MAX_FILE + 1, &len);
    if (!txt) return -1;
    int rc = app_config_parse(c, txt, len, path);
    free(txt);
    return rc;
}

char *app_config_path(const char *name) { return unum_xdg_path(UNUM_XDG_CONFIG, name); }

int app_config_mkdir(const char *path) {
    char *d = xstrdup(path), *slash = strrchr(d, '/');
    int rc = 0;
    if (slash && slash != d) {
        *slash = 0;
        rc = unum_mkdir_p(d, 0700);
    }
    free(d);
    return rc;
}

int app_config_set(const char *path, const char *key, const char *value) {
    if (!path) return unum_error_set("no settings file: neither XDG_CONFIG_HOME nor HOME is set");
    size_t len = 0;
    char *old = unum_file_exists(path) ? unum_read_file(path, MAX_FILE + 1, &len) : xstrdup("");
    if (!old) return -1;
    if (strchr(value, '\n'))
        return free(old), unum_error_set("%s: a value cannot hold a line break", path);
    int q = value_needs_quotes(value);
    size_t cap = len + strlen(key) + strlen(value) + 16, n = 0;
    char *out = xmalloc(cap);
    int done = 0;
    for (size_t at = 0; at < len;) {
        const char *s = old + at;
        const char *nl = memchr(s, '\n', len - at);
        size_t l = nl ? (size_t)(nl - s) : len - at;
        at += l + (nl != NULL);
        const char *k = s;
        while (k < s + l && (*k == ' ' || *k == '\t')) k++;
        size_t kl = strlen(key);
        const char *after = k + kl;
        while (after < s + l && (*after == ' ' || *after == '\t')) after++;
        int match = (size_t)(s + l - k) > kl && !strncmp(k, key, kl) && after < s + l && *after == '=';
        if (match && !done) {
            n += (size_t)snprintf(out + n, cap - n, q ? "%s = \"%s\"\n" : "%s = %s\n", key, value);
            done = 1;
        } else if (!match) {
            memcpy(out + n, s, l);
            n += l;
            out[n++] = '\n';
        }
    }
    if (!done) n += (size_t)snprintf(out + n, cap - n, q ? "%s = \"%s\"\n" : "%s = %s\n", key, value);
    int rc = app_config_mkdir(path) || unum_write_file_atomic(path, out, n) ? -1 : 0;
    free(out);
    free(old);
    return rc;
}
