/* keys.c - see keys.h. */
#include "tui/app/keys.h"

#include "tui/core/conffile.h"
#include "engine/base/paths.h"
#include "engine/base/util.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------- key names */

static const struct {
    const char *name;
    int code;
} named[] = {
    {"Enter", 13},
    {"Tab", 9},
    {"Esc", 27},
    {"Space", 32},
    {"Backspace", KEYS_FN | KEY_BACKSPACE},
    {"Delete", KEYS_FN | KEY_DC},
    {"Insert", KEYS_FN | KEY_IC},
    {"Home", KEYS_FN | KEY_HOME},
    {"End", KEYS_FN | KEY_END},
    {"PgUp", KEYS_FN | KEY_PPAGE},
    {"PgDn", KEYS_FN | KEY_NPAGE},
    {"Up", KEYS_FN | KEY_UP},
    {"Down", KEYS_FN | KEY_DOWN},
    {"Left", KEYS_FN | KEY_LEFT},
    {"Right", KEYS_FN | KEY_RIGHT},
    {"C-Left", KEYS_FN | KEYS_X_C_LEFT},
    {"C-Right", KEYS_FN | KEYS_X_C_RIGHT},
    {"C-Up", KEYS_FN | KEYS_X_C_UP},
    {"C-Down", KEYS_FN | KEYS_X_C_DOWN},
    {"S-Tab", KEYS_FN | KEY_BTAB},
    /* aliases: parsed, never written */
    {"Return", 13},
    {"Escape", 27},
    {"Del", KEYS_FN | KEY_DC},
    {"Ins", KEYS_FN | KEY_IC},
    {"PageUp", KEYS_FN | KEY_PPAGE},
    {"PageDown", KEYS_FN | KEY_NPAGE},
    {"BTab", KEYS_FN | KEY_BTAB},
};
#define N_NAMED (sizeof named / sizeof named[0])

static int is_char(int c) {
    return c >= 0x20 && c != 0x7f && !(c >= 0x80 && c < 0xa0) && c <= 0x10ffff &&
           !(c >= 0xd800 && c <= 0xdfff);
}

static int valid_code(int code) {
    int base = code & ~KEYS_ALT;
    if (code < 0 || (code & ~(KEYS_ALT | KEYS_FN | 0x1fffff))) return 0;
    if (base & KEYS_FN) {
        int k = base & ~KEYS_FN;
        if (k >= KEY_F(1) && k <= KEY_F(12)) return 1;
        for (size_t i = 0; i < N_NAMED; i++)
            if (named[i].code == base) return 1;
        return 0;
    }
    return (base >= 1 && base <= 27) || is_char(base);
}

char *keys_name(int code, char out[KEYS_NAME_MAX]) {
    if (!valid_code(code)) return strcpy(out, "?");
    char *p = out;
    if (code & KEYS_ALT) p = stpcpy(p, "M-"), code &= ~KEYS_ALT;
    for (size_t i = 0; i < N_NAMED; i++)
        if (named[i].code == code) return strcpy(p, named[i].name), out;
    int k = code & ~KEYS_FN;
    if (code & KEYS_FN) snprintf(p, KEYS_NAME_MAX - 2, "F%d", k - KEY_F(0));
    else if (code >= 1 && code <= 26) snprintf(p, KEYS_NAME_MAX - 2, "C-%c", 'a' + code - 1);
    else if (code == 27) strcpy(p, "Esc");
    else conf_utf8_encode((unsigned)code, p);
    return out;
}

int keys_parse_name(const char *s) {
    if (!s || !*s) return -1;
    if (s[0] == 'M' && s[1] == '-' && s[2]) {
        int k = keys_parse_name(s + 2);
        return k < 0 || (k & KEYS_ALT) ? -1 : k | KEYS_ALT;
    }
    size_t n = strlen(s);
    for (size_t i = 0; i < N_NAMED; i++)
        if (!strcasecmp(s, named[i].name)) return named[i].code;
    if ((s[0] == 'C' || s[0] == 'c') && s[1] == '-' && n == 3) {
        char c = s[2];
        if (c >= 'a' && c <= 'z') return c - 'a' + 1;
        if (c >= 'A' && c <= 'Z') return c - 'A' + 1;
        return -1;
    }
    if ((s[0] == 'F' || s[0] == 'f') && n >= 2 && n <= 3 && s[1] >= '1' && s[1] <= '9') {
        int f = s[1] - '0';
        if (n == 3) {
            if (s[2] < '0' || s[2] > '9') goto single;
            f = f * 10 + s[2] - '0';
        }
        return f <= 12 ? KEYS_FN | KEY_F(f) : -1;
    }
single:;
    unsigned cp;
    int k = conf_utf8_decode((const unsigned char *)s, n, &cp);
    return k > 0 && (size_t)k == n && is_char((int)cp) && cp != ' ' ? (int)cp : -1;
}

/* Codes this terminal gives the keys ncurses has no KEY_* for. */
static int x_code[4] = {-1, -1, -1, -1};

int keys_from_curses(int is_key_code, unsigned ch) {
    if (is_key_code) {
        if (ch == KEY_ENTER) return 13;
        for (int i = 0; i < 4; i++)
            if (x_code[i] >= 0 && (unsigned)x_code[i] == ch) return KEYS_FN | (KEYS_X_C_LEFT + i);
        int code = KEYS_FN | (int)ch;
        return ch <= KEY_MAX && valid_code(code) ? code : -1;
    }
    if (ch == 127 || ch == 8) return KEYS_FN | KEY_BACKSPACE;
    if (ch > 0x10ffff) return -1;
    return valid_code((int)ch) ? (int)ch : -1;
}

int keys_alt(int code) { return code < 0 || (code & KEYS_ALT) ? -1 : code | KEYS_ALT; }

int keys_is_text(int code) { return code >= 0 && !(code & (KEYS_FN | KEYS_ALT)) && is_char(code); }

int keys_editor_reserved(int code) {
    static const int reserved[] = {1,
                                   5,
                                   2,
                                   6,
                                   11,
                                   21,
                                   23, /* C-a C-e C-b C-f C-k C-u C-w */
                                   KEYS_FN | KEYS_X_C_LEFT,
                                   KEYS_FN | KEYS_X_C_RIGHT,
                                   KEYS_ALT | 'b',
                                   KEYS_ALT | 'f',
                                   KEYS_FN | KEY_HOME,
                                   KEYS_FN | KEY_END,
                                   KEYS_FN | KEY_UP,
                                   KEYS_FN | KEY_DOWN,
                                   KEYS_FN | KEY_LEFT,
                                   KEYS_FN | KEY_RIGHT,
                                   KEYS_FN | KEY_BACKSPACE,
                                   KEYS_FN | KEY_DC};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (reserved[i] == code) return 1;
    return 0;
}

/* ------------------------------------------------------------ actions */

static const struct {
    const char *name, *keys, *desc;
    KeyContext ctx;
} actions[KEYS_N_ACTIONS] = {
#define X(id, name, ctx, keys, desc) {name, keys, desc, KEYS_CTX_##ctx},
    KEYS_ACTIONS(X)
#undef X
};

static const struct {
    const char *name, *title;
} contexts[KEYS_N_CONTEXTS] = {
#define X(id, name, title) {name, title},
    KEYS_CONTEXTS(X)
#undef X
};

const char *keys_action_name(KeyAction a) {
    return (unsigned)a < KEYS_N_ACTIONS ? actions[a].name : NULL;
}

const char *keys_action_description(KeyAction a) {
    return (unsigned)a < KEYS_N_ACTIONS ? actions[a].desc : NULL;
}

KeyContext keys_action_context(KeyAction a) {
    return (unsigned)a < KEYS_N_ACTIONS ? actions[a].ctx : KEYS_CTX_GLOBAL;
}

const char *keys_context_name(KeyContext c) {
    return (unsigned)c < KEYS_N_CONTEXTS ? contexts[c].name : NULL;
}

KeyAction keys_action_find(const char *name) {
    for (int i = 0; i < KEYS_N_ACTIONS; i++)
        if (!strcmp(name, actions[i].name)) return (KeyAction)i;
    return KEYS_NONE;
}

/* ------------------------------------------------------------ keymaps */

void keys_defaults(Keymap *m) {
    memset(m, 0, sizeof *m);
    for (int a = 0; a < KEYS_N_ACTIONS; a++) {
        char buf[64], *w[KEYS_PER_ACTION + 1];
        snprintf(buf, sizeof buf, "%s", actions[a].keys);
        int n = conf_split(buf, w, KEYS_PER_ACTION);
        for (int i = 0; i < n && i < KEYS_PER_ACTION; i++) {
            int k = keys_parse_name(w[i]);
            if (k >= 0) m->key[a][m->n[a]++] = k;
        }
    }
}

/* Where action a may not take key k: the editor's keys and text keys belong
 * to the editor in the global and input contexts. */
static int check_key(int a, int k, const char *kname, const char *origin, int line) {
    KeyContext c = actions[a].ctx;
    if (c != KEYS_CTX_GLOBAL && c != KEYS_CTX_INPUT) return 0;
    if (keys_editor_reserved(k))
        return unum_error_set("%s:%d: %s is the message editor's own key; %s cannot have it",
                              origin, line, kname, actions[a].name);
    if (c == KEYS_CTX_INPUT && keys_is_text(k))
        return unum_error_set("%s:%d: %s types text in the message editor; %s cannot have it",
                              origin, line, kname, actions[a].name);
    return 0;
}

static int parse_binding(Keymap *m, char *s, const char *origin, int line) {
    char *w[KEYS_PER_ACTION + 2];
    if (!strncmp(s, "unbind", 6) && (s[6] == ' ' || s[6] == '\t' || !s[6])) {
        int nw = conf_split(s + 6, w, 1);
        if (nw != 1) return unum_error_set("%s:%d: expected 'unbind KEY'", origin, line);
        int k = keys_parse_name(w[0]);
        if (k < 0) return unum_error_set("%s:%d: unknown key '%.32s'", origin, line, w[0]);
        for (int a = 0; a < KEYS_N_ACTIONS; a++)
            for (int i = 0; i < m->n[a]; i++)
                if (m->key[a][i] == k) {
                    memmove(&m->key[a][i], &m->key[a][i + 1],
                            (size_t)(m->n[a] - i - 1) * sizeof(int));
                    m->n[a]--, i--;
                }
        return 0;
    }
    char *eq = strchr(s, '=');
    if (!eq)
        return unum_error_set("%s:%d: expected 'ACTION = KEY...' or 'unbind KEY'", origin, line);
    *eq = 0;
    char *name[2];
    int nn = conf_split(s, name, 1);
    if (nn != 1) return unum_error_set("%s:%d: expected one action name before '='", origin, line);
    KeyAction a = keys_action_find(name[0]);
    if (a == KEYS_NONE)
        return unum_error_set("%s:%d: unknown action '%.64s'", origin, line, name[0]);
    if (m->line[a])
        return unum_error_set("%s:%d: %s already bound on line %d", origin, line, name[0],
                              m->line[a]);
    int nw = conf_split(eq + 1, w, KEYS_PER_ACTION);
    if (nw > KEYS_PER_ACTION)
        return unum_error_set("%s:%d: %s has more than %d keys", origin, line, name[0],
                              KEYS_PER_ACTION);
    /* all of the line or none of it: a bad key leaves the action as it was */
    int key[KEYS_PER_ACTION], n = 0;
    for (int i = 0; i < nw; i++) {
        int k = keys_parse_name(w[i]);
        if (k < 0) return unum_error_set("%s:%d: unknown key '%.32s'", origin, line, w[i]);
        if (check_key(a, k, w[i], origin, line)) return -1;
        int dup = 0;
        for (int j = 0; j < n; j++) dup |= key[j] == k;
        if (!dup) key[n++] = k;
    }
    memcpy(m->key[a], key, sizeof key);
    m->n[a] = n;
    m->line[a] = line;
    return 0;
}

/* The action a bound back to its default keys, as if its line were absent. */
static void action_reset(Keymap *m, int a) {
    Keymap d;
    keys_defaults(&d);
    memcpy(m->key[a], d.key[a], sizeof m->key[a]);
    m->n[a] = d.n[a];
    m->line[a] = 0;
}

/* One key, two actions, one context: name both and where each was bound;
 * the one bound later goes back to its defaults (the defaults never
 * conflict, so this ends). The number of conflicts, the first one's error set. */
static int find_conflict(Keymap *m, const char *origin, int report);
static int check_conflicts(Keymap *m, const char *origin) {
    int bad = 0;
    while (find_conflict(m, origin, bad == 0)) bad++;
    return bad;
}

static int find_conflict(Keymap *m, const char *origin, int report) {
    for (int a = 0; a < KEYS_N_ACTIONS; a++)
        for (int i = 0; i < m->n[a]; i++)
            for (int b = a + 1; b < KEYS_N_ACTIONS; b++) {
                if (actions[a].ctx != actions[b].ctx) continue;
                for (int j = 0; j < m->n[b]; j++) {
                    if (m->key[a][i] != m->key[b][j]) continue;
                    char kn[KEYS_NAME_MAX], wa[32], wb[32];
                    int line = m->line[a] > m->line[b] ? m->line[a] : m->line[b];
                    snprintf(wa, sizeof wa, m->line[a] ? "line %d" : "default", m->line[a]);
                    snprintf(wb, sizeof wb, m->line[b] ? "line %d" : "default", m->line[b]);
                    int later = m->line[a] > m->line[b] ? a : b;
                    if (report)
                        unum_error_set("%s:%d: %s is bound to both %s (%s) and %s (%s) in the "
                                       "%s context",
                                       origin, line, keys_name(m->key[a][i], kn), actions[a].name,
                                       wa, actions[b].name, wb, contexts[actions[a].ctx].name);
                    action_reset(m, later);
                    return 1;
                }
            }
    return 0;
}

int keys_parse(Keymap *m, const char *text, size_t len, const char *origin) {
    ConfReader *r = xmalloc(sizeof *r);
    keys_defaults(m);
    if (conf_open(r, text, len, origin)) return free(r), -1;
    char first[512] = "";
    int bad = 0;
    for (;;) {
        char *s;
        int k = conf_next(r, &s); /* a bad line is reported and passed over */
        if (k == 0) break;
        if (k > 0 && !parse_binding(m, s, r->origin, r->line)) continue;
        if (!bad++) snprintf(first, sizeof first, "%s", unum_error());
    }
    int conflicts = check_conflicts(m, r->origin);
    if (conflicts && !bad) snprintf(first, sizeof first, "%s", unum_error());
    bad += conflicts;
    free(r);
    if (!bad) return 0;
    if (bad == 1) unum_error_set("%s", first);
    else unum_error_set("%s (and %d more problems; the other lines apply)", first, bad - 1);
    return -1;
}

char *keys_config_path(void) {
    return unum_xdg_path(UNUM_XDG_CONFIG, "keys");
}

int keys_load(Keymap *m) {
    char *path = keys_config_path();
    keys_defaults(m);
    if (!path || !unum_file_exists(path)) {
        free(path);
        return 0;
    }
    size_t len;
    char *text = unum_read_file(path, CONF_MAX_FILE, &len);
    int rc = text ? keys_parse(m, text, len, path) : -1;
    free(text);
    free(path);
    return rc;
}

KeyAction keys_lookup(const Keymap *m, int code, KeyContext ctx) {
    KeyAction global = KEYS_NONE;
    for (int a = 0; a < KEYS_N_ACTIONS; a++)
        for (int i = 0; i < m->n[a]; i++) {
            if (m->key[a][i] != code) continue;
            if (actions[a].ctx == ctx) return (KeyAction)a;
            if (actions[a].ctx == KEYS_CTX_GLOBAL && global == KEYS_NONE) global = (KeyAction)a;
        }
    if (ctx == KEYS_CTX_INPUT && keys_is_text(code)) return KEYS_NONE;
    return global;
}

/* ------------------------------------------------------------ help */

static void keys_list(const Keymap *m, int a, char *out, size_t cap) {
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < m->n[a]; i++) {
        char kn[KEYS_NAME_MAX];
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? ", " : "",
                                keys_name(m->key[a][i], kn));
        if (len >= cap) break;
    }
    if (m->n[a] == 0) snprintf(out, cap, "(none)");
}

/* The message editor's own keys (keys_editor_reserved, and the ones it
 * handles besides), for the help. */
static const struct {
    const char *keys, *desc;
} editor_keys[] = {
    {"Left Right C-b C-f", "move by a character"},
    {"M-b M-f C-Left C-Right", "move by a word"},
    {"Up Down", "move by a line; past the first or last, earlier messages"},
    {"Home End C-a C-e", "go to the start or the end of the line"},
    {"Backspace", "delete the character before the cursor"},
    {"Delete C-d", "delete the character under the cursor"},
    {"C-w", "delete the word before the cursor"},
    {"C-k", "delete to the end of the line"},
    {"C-u", "delete to the start of the line"},
};

void keys_help(const Keymap *m, char ***lines, int *n) {
    int kw = 0, nw = 0, count = 0;
    char buf[KEYS_PER_ACTION * (KEYS_NAME_MAX + 2) + 8];
    for (int a = 0; a < KEYS_N_ACTIONS; a++) {
        keys_list(m, a, buf, sizeof buf);
        int l = (int)strlen(buf), ln = (int)strlen(actions[a].name);
        kw = l > kw ? l : kw;
        nw = ln > nw ? ln : nw;
    }
    size_t n_ed = sizeof editor_keys / sizeof editor_keys[0];
    char **v = xmalloc((KEYS_N_ACTIONS + 2 * KEYS_N_CONTEXTS + n_ed + 2) * sizeof *v);
    for (int c = 0; c < KEYS_N_CONTEXTS; c++) {
        int first = 1;
        for (int a = 0; a < KEYS_N_ACTIONS; a++) {
            if (actions[a].ctx != (KeyContext)c) continue;
            if (first) {
                if (count) v[count++] = xstrdup("");
                v[count++] = xstrdup(contexts[c].title);
                first = 0;
            }
            keys_list(m, a, buf, sizeof buf);
            size_t sz = (size_t)(kw + nw) + strlen(actions[a].desc) + 16;
            v[count] = xmalloc(sz);
            snprintf(v[count++], sz, "  %-*s  %-*s  %s", kw, buf, nw, actions[a].name,
                     actions[a].desc);
        }
    }
    /* the editor's own keys, which no key file changes */
    v[count++] = xstrdup("");
    v[count++] = xstrdup("Message editor (fixed keys)");
    for (size_t i = 0; i < n_ed; i++) {
        size_t sz = strlen(editor_keys[i].keys) + 22 + strlen(editor_keys[i].desc) + 8;
        v[count] = xmalloc(sz);
        snprintf(v[count++], sz, "  %-22s  %s", editor_keys[i].keys, editor_keys[i].desc);
    }
    *lines = v;
    *n = count;
}

void keys_help_free(char **lines, int n) {
    for (int i = 0; i < n; i++) free(lines[i]);
    free(lines);
}

/* ------------------------------------------------------------- ncurses */

void keys_curses_init(void) {
    static const char *const cap[4] = {"kLFT5", "kRIT5", "kUP5", "kDN5"};
    for (int i = 0; i < 4; i++) {
        char *seq = tigetstr(cap[i]);
        x_code[i] = seq && seq != (char *)-1 ? key_defined(seq) : -1;
        if (x_code[i] <= 0) x_code[i] = -1;
    }
}
