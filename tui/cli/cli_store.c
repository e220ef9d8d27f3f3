/* cli_store.c - see cli_store.h. Lists print one item per line, name or id
 * first, fields separated by tabs; export prints JSON that import accepts
 * byte for byte. */
#include "tui/cli/cli_store.h"

#include "tui/cli/common.h"
#include "tui/core/args.h"
#include "store/persona.h"
#include "store/search.h"
#include "store/session.h"
#include "store/store.h"
#include "store/template.h"
#include "engine/base/termsafe.h"
#include "engine/base/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prints "head<TAB>text" as one line: tabs and line breaks inside text
 * (free-form descriptions and titles) are shown as \\t, \\n and \\r, so
 * `list` output stays one item per line. */
static void print_fields(const char *head, const char *text) {
    char *t = xmalloc(2 * strlen(text) + 1), *o = t;
    for (const char *c = text; *c; c++) {
        if (*c == '\n') *o++ = '\\', *o++ = 'n';
        else if (*c == '\r') *o++ = '\\', *o++ = 'r';
        else if (*c == '\t') *o++ = '\\', *o++ = 't';
        else *o++ = *c;
    }
    *o = 0;
    term_printf(stdout, "%s\t%s\n", head, t);
    free(t);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("unum: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return EXIT_USAGE;
}

char *cli_store_persona_prompt(const char *name) {
    Store *st;
    if (store_open(cli_db(), &st) != 0) return NULL;
    Persona p;
    char *out = NULL;
    if (store_persona_get(st, name, &p) == 0) {
        out = persona_system_prompt(&p);
        persona_free(&p);
    }
    store_close(st);
    return out;
}

/* A file's text, or stdin's for "-". */
static char *read_input(const char *path, size_t *len) {
    if (strcmp(path, "-") != 0) return unum_read_file(path, 1u << 20, len);
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, stdin)) > 0) {
        n += r;
        if (n + 1 == cap) {
            if (cap >= (1u << 20)) {
                free(buf);
                unum_error_set("stdin: more than 1 MiB");
                return NULL;
            }
            buf = xrealloc(buf, cap *= 2);
        }
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* Checks that a file's "name" agrees with the NAME on the command line. */
static int name_matches(const char *file, const char *in_file, const char *name) {
    if (strcmp(in_file, name) != 0)
        return unum_error_set("%s: field 'name' is '%s' but the command names '%s'", file, in_file,
                              name);
    return 0;
}

/* ---- persona -------------------------------------------------------------- */

static const char persona_usage[] =
    "usage: unum [--db PATH] persona list | show NAME | add NAME (--prompt TEXT | --file F.json)\n"
    "                        | edit NAME --file F.json | rm NAME | export NAME | import F.json\n";

/* "adapters: DIR (scale S), ..." when there are any */
static void adapters_print(const AdapterList *l) {
    for (size_t i = 0; i < l->n; i++)
        term_printf(stdout, "%s%s (scale %g)%s", i ? ", " : "adapters: ", l->v[i].path,
                    l->v[i].scale, i + 1 == l->n ? "\n" : "");
}

static void persona_print(const Persona *p) {
    term_printf(stdout, "name: %s\ndescription: %s\nstyle: tone=%s length=%s language=%s\n",
                p->name, p->description, p->tone, p->length, p->language);
    adapters_print(&p->adapters);
    term_printf(stdout, "built-in: %s\n\n%s\n", p->builtin ? "yes" : "no", p->system_prompt);
}

static int persona_from_file(const char *file, Persona *p) {
    size_t len = 0;
    char *text = read_input(file, &len);
    if (!text) return -1;
    int rc = persona_parse_json(text, len, strcmp(file, "-") ? file : "stdin", p);
    free(text);
    return rc;
}

int cli_persona(int argc, char **argv) {
    const char *verb = argc > 1 ? argv[1] : NULL, *name = argc > 2 ? argv[2] : NULL;
    if (!verb) {
        term_puts(persona_usage, stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(verb, "-h") || !strcmp(verb, "--help")) {
        term_puts(persona_usage, stdout);
        return 0;
    }
    const char *prompt = NULL, *file = NULL;
    int want_args;
    if (!strcmp(verb, "list")) want_args = 0;
    else if (!strcmp(verb, "show") || !strcmp(verb, "rm") || !strcmp(verb, "export") ||
             !strcmp(verb, "import") || !strcmp(verb, "add") || !strcmp(verb, "edit"))
        want_args = 1;
    else return usage_error("persona: unknown action '%s'\n%s", verb, persona_usage);
    if (want_args && !name)
        return usage_error("persona %s: needs %s", verb,
                           !strcmp(verb, "import") ? "a file" : "a NAME");
    int i = want_args ? 3 : 2;
    if (!strcmp(verb, "add") || !strcmp(verb, "edit")) {
        Args a = {argc, i, argv, 0};
        while (a.i < argc && !a.bad) {
            if (!strcmp(verb, "add") && args_flag(&a, "--prompt", NULL)) prompt = args_value(&a);
            else if (args_flag(&a, "--file", NULL)) file = args_value(&a);
            else {
                char sub[32];
                snprintf(sub, sizeof sub, "persona %s", verb);
                args_unknown(&a, sub);
            }
        }
        if (a.bad) return EXIT_USAGE;
        if (!strcmp(verb, "add") && !!prompt == !!file)
            return usage_error("persona add: give exactly one of --prompt TEXT and --file F.json");
        if (!strcmp(verb, "edit") && !file) return usage_error("persona edit: needs --file F.json");
        i = argc;
    }
    if (i < argc) return usage_error("persona %s: unexpected argument '%s'", verb, argv[i]);
    if (name && strcmp(verb, "import") != 0 && store_name_check(name, "persona name") != 0) {
        term_printf(stderr, "unum: %s\n", unum_error());
        return EXIT_USAGE;
    }

    Store *st = cli_open_db();
    if (!st) return 1;
    int rc = 0;
    Persona p = {0};
    if (!strcmp(verb, "list")) {
        Persona *list;
        size_t n;
        if (store_persona_list(st, &list, &n) != 0) rc = cli_fail();
        else {
            for (size_t k = 0; k < n; k++) print_fields(list[k].name, list[k].description);
            store_personas_free(list, n);
        }
    } else if (!strcmp(verb, "show") || !strcmp(verb, "export")) {
        if (store_persona_get(st, name, &p) != 0) rc = cli_fail();
        else if (!strcmp(verb, "show")) persona_print(&p);
        else {
            char *j = persona_to_json(&p);
            term_puts(j, stdout);
            free(j);
        }
    } else if (!strcmp(verb, "rm")) {
        if (store_persona_delete(st, name) != 0) rc = cli_fail();
    } else if (!strcmp(verb, "import")) {
        if (persona_from_file(name, &p) != 0 || store_persona_add(st, &p) != 0) rc = cli_fail();
        else term_printf(stderr, "unum: imported persona '%s'\n", p.name);
    } else if (prompt) { /* add --prompt */
        p.name = xstrdup(name);
        p.system_prompt = xstrdup(prompt);
        p.description = xstrdup("");
        p.tone = xstrdup("");
        p.length = xstrdup("");
        p.language = xstrdup("");
        if (store_persona_add(st, &p) != 0) rc = cli_fail();
    } else { /* add or edit --file */
        if (persona_from_file(file, &p) != 0 || name_matches(file, p.name, name) != 0 ||
            (!strcmp(verb, "add") ? store_persona_add(st, &p) : store_persona_update(st, &p)) != 0)
            rc = cli_fail();
    }
    persona_free(&p);
    store_close(st);
    if (fflush(stdout) != 0 && !rc) {
        term_printf(stderr, "unum: stdout: %s\n", strerror(errno));
        rc = 1;
    }
    return rc;
}

/* ---- template ------------------------------------------------------------- */

static const char template_usage[] =
    "usage: unum [--db PATH] template list | show NAME | add NAME --file F.json\n"
    "                        | edit NAME --file F.json | rm NAME | export NAME | import F.json\n";

static void template_print(const Template *t) {
    term_printf(stdout, "name: %s\ndescription: %s\n", t->name, t->description);
    adapters_print(&t->adapters);
    term_printf(stdout, "built-in: %s\nsections:\n", t->builtin ? "yes" : "no");
    for (size_t i = 0; i < t->n_sections; i++)
        term_printf(stdout, "  %zu. %s (%s)\n     %s\n", i + 1, t->sections[i].title,
                    t->sections[i].format, t->sections[i].instruction);
}

static int template_from_file(const char *file, Template *t) {
    size_t len = 0;
    char *text = read_input(file, &len);
    if (!text) return -1;
    int rc = template_parse_json(text, len, strcmp(file, "-") ? file : "stdin", t);
    free(text);
    return rc;
}

int cli_template(int argc, char **argv) {
    const char *verb = argc > 1 ? argv[1] : NULL, *name = argc > 2 ? argv[2] : NULL;
    if (!verb) {
        term_puts(template_usage, stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(verb, "-h") || !strcmp(verb, "--help")) {
        term_puts(template_usage, stdout);
        return 0;
    }
    const char *file = NULL;
    int want_args;
    if (!strcmp(verb, "list")) want_args = 0;
    else if (!strcmp(verb, "show") || !strcmp(verb, "rm") || !strcmp(verb, "export") ||
             !strcmp(verb, "import") || !strcmp(verb, "add") || !strcmp(verb, "edit"))
        want_args = 1;
    else return usage_error("template: unknown action '%s'\n%s", verb, template_usage);
    if (want_args && !name)
        return usage_error("template %s: needs %s", verb,
                           !strcmp(verb, "import") ? "a file" : "a NAME");
    int i = want_args ? 3 : 2;
    if (!strcmp(verb, "add") || !strcmp(verb, "edit")) {
        Args a = {argc, i, argv, 0};
        while (a.i < argc && !a.bad) {
            if (args_flag(&a, "--file", NULL)) file = args_value(&a);
            else {
                char sub[32];
                snprintf(sub, sizeof sub, "template %s", verb);
                args_unknown(&a, sub);
            }
        }
        if (a.bad) return EXIT_USAGE;
        if (!file) return usage_error("template %s: needs --file F.json", verb);
        i = argc;
    }
    if (i < argc) return usage_error("template %s: unexpected argument '%s'", verb, argv[i]);
    if (name && strcmp(verb, "import") != 0 && store_name_check(name, "template name") != 0) {
        term_printf(stderr, "unum: %s\n", unum_error());
        return EXIT_USAGE;
    }

    Store *st = cli_open_db();
    if (!st) return 1;
    int rc = 0;
    Template t = {0};
    if (!strcmp(verb, "list")) {
        Template *list;
        size_t n;
        if (store_template_list(st, &list, &n) != 0) rc = cli_fail();
        else {
            for (size_t k = 0; k < n; k++) print_fields(list[k].name, list[k].description);
            store_templates_free(list, n);
        }
    } else if (!strcmp(verb, "show") || !strcmp(verb, "export")) {
        if (store_template_get(st, name, &t) != 0) rc = cli_fail();
        else if (!strcmp(verb, "show")) template_print(&t);
        else {
            char *j = template_to_json(&t);
            term_puts(j, stdout);
            free(j);
        }
    } else if (!strcmp(verb, "rm")) {
        if (store_template_delete(st, name) != 0) rc = cli_fail();
    } else if (!strcmp(verb, "import")) {
        if (template_from_file(name, &t) != 0 || store_template_add(st, &t) != 0) rc = cli_fail();
        else term_printf(stderr, "unum: imported template '%s'\n", t.name);
    } else {
        if (template_from_file(file, &t) != 0 || name_matches(file, t.name, name) != 0 ||
            (!strcmp(verb, "add") ? store_template_add(st, &t) : store_template_update(st, &t)) !=
                0)
            rc = cli_fail();
    }
    template_free(&t);
    store_close(st);
    if (fflush(stdout) != 0 && !rc) {
        term_printf(stderr, "unum: stdout: %s\n", strerror(errno));
        rc = 1;
    }
    return rc;
}

/* ---- sessions ------------------------------------------------------------- */

static const char sessions_usage[] =
    "usage: unum [--db PATH] sessions list | show ID | export ID --format md|json | rm ID\n";

static int parse_id(const char *s, long long *out) {
    char *end;
    errno = 0;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || errno || *end || end == s || v <= 0) return -1;
    *out = v;
    return 0;
}

/* A message's status as show and export print it ("" when complete). */
static const char *status_mark(const StoreMessage *m) {
    return m->status == STORE_MSG_CANCELLED ? "[cancelled]"
           : m->status == STORE_MSG_PARTIAL ? "[incomplete]"
                                            : "";
}

static const char *status_name(const StoreMessage *m) {
    return m->status == STORE_MSG_CANCELLED ? "cancelled"
           : m->status == STORE_MSG_PARTIAL ? "partial"
                                            : "complete";
}

/* Export and show print the branch in view (store/session.h), not the
 * versions it replaced; "version K of N" says when there are others. */
static void sessions_export_md(const StoreSession *s, const StoreMessage *m, size_t n) {
    term_printf(stdout, "# %s\n\n", s->title[0] ? s->title : "(untitled)");
    term_printf(stdout, "- id: %lld\n- model: %s\n- persona: %s\n- created: %s\n", (long long)s->id,
                s->model, s->persona, s->created);
    for (size_t i = 0; i < n; i++) {
        char version[64] = "";
        if (m[i].n_siblings > 1)
            snprintf(version, sizeof version, ", version %d of %d", m[i].sibling, m[i].n_siblings);
        term_printf(stdout, "\n## %s (%s%s)\n\n%s\n", m[i].role, m[i].created, version,
                    m[i].content);
        if (m[i].status != STORE_MSG_COMPLETE) term_printf(stdout, "\n*%s*\n", status_mark(&m[i]));
    }
}

static void sessions_export_json(const StoreSession *s, const StoreMessage *m, size_t n) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "id", (double)s->id);
    cJSON_AddStringToObject(j, "title", s->title);
    cJSON_AddStringToObject(j, "model", s->model);
    cJSON_AddStringToObject(j, "persona", s->persona);
    cJSON_AddStringToObject(j, "created", s->created);
    cJSON *a = cJSON_AddArrayToObject(j, "messages");
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "role", m[i].role);
        cJSON_AddStringToObject(o, "content", m[i].content);
        cJSON_AddStringToObject(o, "created", m[i].created);
        cJSON_AddStringToObject(o, "status", status_name(&m[i]));
        cJSON_AddNumberToObject(o, "version", m[i].sibling);
        cJSON_AddNumberToObject(o, "versions", m[i].n_siblings);
        cJSON_AddItemToArray(a, o);
    }
    char *txt = cJSON_Print(j);
    puts(txt);
    cJSON_free(txt);
    cJSON_Delete(j);
}

int cli_sessions(int argc, char **argv) {
    const char *verb = argc > 1 ? argv[1] : NULL;
    if (!verb) {
        term_puts(sessions_usage, stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(verb, "-h") || !strcmp(verb, "--help")) {
        term_puts(sessions_usage, stdout);
        return 0;
    }
    long long id = 0;
    const char *format = NULL;
    if (!strcmp(verb, "list")) {
        if (argc > 2) return usage_error("sessions list: unexpected argument '%s'", argv[2]);
    } else if (!strcmp(verb, "show") || !strcmp(verb, "rm") || !strcmp(verb, "export")) {
        if (argc < 3) return usage_error("sessions %s: needs an ID", verb);
        if (parse_id(argv[2], &id) != 0)
            return usage_error("sessions %s: '%s' is not a session id (a positive integer)", verb,
                               argv[2]);
        Args a = {argc, 3, argv, 0};
        while (a.i < argc && !a.bad) {
            if (!strcmp(verb, "export") && args_flag(&a, "--format", NULL)) {
                format = args_value(&a);
                if (format && strcmp(format, "md") && strcmp(format, "json"))
                    return usage_error("sessions export: --format: '%s' is not md or json", format);
            } else {
                char sub[32];
                snprintf(sub, sizeof sub, "sessions %s", verb);
                args_unknown(&a, sub);
            }
        }
        if (a.bad) return EXIT_USAGE;
        if (!strcmp(verb, "export") && !format)
            return usage_error("sessions export: needs --format md|json");
    } else {
        return usage_error("sessions: unknown action '%s'\n%s", verb, sessions_usage);
    }

    Store *st = cli_open_db();
    if (!st) return 1;
    int rc = 0;
    if (!strcmp(verb, "list")) {
        StoreSession *list;
        size_t n;
        if (store_session_list(st, &list, &n) != 0) rc = cli_fail();
        else {
            for (size_t k = 0; k < n; k++)
            {
                char head[96];
                snprintf(head, sizeof head, "%lld\t%s\t%lld message%s", (long long)list[k].id,
                         list[k].updated, (long long)list[k].n_messages,
                         list[k].n_messages == 1 ? "" : "s");
                print_fields(head, list[k].title);
            }
            store_sessions_free(list, n);
        }
    } else if (!strcmp(verb, "rm")) {
        if (store_session_delete(st, id) != 0) rc = cli_fail();
    } else {
        StoreSession s;
        StoreMessage *m = NULL;
        size_t n = 0;
        if (store_session_get(st, id, &s) != 0) rc = cli_fail();
        else if (store_message_list(st, id, &m, &n) != 0) rc = cli_fail();
        else if (!strcmp(verb, "show")) {
            term_printf(stdout,
                        "session %lld: %s\nmodel: %s\npersona: %s\ncreated: %s\nupdated: %s\n",
                        (long long)s.id, s.title, s.model, s.persona, s.created, s.updated);
            for (size_t k = 0; k < n; k++) {
                char version[64] = "";
                if (m[k].n_siblings > 1)
                    snprintf(version, sizeof version, " version %d of %d", m[k].sibling,
                             m[k].n_siblings);
                term_printf(stdout, "\n[%s] %s (%d tokens, %.0f ms)%s%s%s\n%s\n", m[k].role,
                            m[k].created, m[k].tokens, m[k].elapsed_ms, version,
                            m[k].status != STORE_MSG_COMPLETE ? " " : "", status_mark(&m[k]),
                            m[k].content);
            }
        } else if (!strcmp(format, "md")) {
            sessions_export_md(&s, m, n);
        } else {
            sessions_export_json(&s, m, n);
        }
        store_messages_free(m, n);
        store_session_free(&s);
    }
    store_close(st);
    if (fflush(stdout) != 0 && !rc) {
        term_printf(stderr, "unum: stdout: %s\n", strerror(errno));
        rc = 1;
    }
    return rc;
}

/* ---- search --------------------------------------------------------------- */

int cli_search(int argc, char **argv) {
    if (argc < 2 || !argv[1][0]) {
        fputs("usage: unum [--db PATH] search QUERY\n", stderr);
        return EXIT_USAGE;
    }
    /* The words of the query may come as one argument or several. */
    size_t len = 1;
    for (int i = 1; i < argc; i++) len += strlen(argv[i]) + 1;
    char *q = xcalloc(1, len);
    for (int i = 1; i < argc; i++) {
        if (i > 1) strcat(q, " ");
        strcat(q, argv[i]);
    }
    Store *st = cli_open_db();
    if (!st) {
        free(q);
        return 1;
    }
    StoreHit *hits;
    size_t n;
    int rc = 0;
    if (store_search(st, q, 1000, &hits, &n) != 0) rc = cli_fail();
    else {
        for (size_t i = 0; i < n; i++)
            term_printf(stdout, "%s\t%lld\t%s\n", hits[i].kind, (long long)hits[i].id,
                        hits[i].snippet);
        store_hits_free(hits, n);
    }
    free(q);
    store_close(st);
    if (fflush(stdout) != 0 && !rc) {
        term_printf(stderr, "unum: stdout: %s\n", strerror(errno));
        rc = 1;
    }
    return rc;
}
