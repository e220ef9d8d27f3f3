/* theme.c - see theme.h. */
#include "tui/app/theme.h"

#include "tui/core/conffile.h"
#include "engine/base/paths.h"
#include "engine/base/util.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ------------------------------------------------------------ elements */

static const struct {
    const char *name, *desc;
    short fg, bg;
    unsigned attrs, mono;
} elements[THEME_N] = {
#define X(id, name, desc, fg, bg, attrs, mono) {name, desc, fg, bg, attrs, mono},
    THEME_ELEMENTS(X)
#undef X
};

const char *theme_element_name(ThemeElement e) {
    return (unsigned)e < THEME_N ? elements[e].name : NULL;
}

const char *theme_element_description(ThemeElement e) {
    return (unsigned)e < THEME_N ? elements[e].desc : NULL;
}

int theme_element_find(const char *name) {
    for (int i = 0; i < THEME_N; i++)
        if (!strcasecmp(name, elements[i].name)) return i;
    return -1;
}

/* ------------------------------------------------------------- colours */

static const char *const basic_names[8] = {"black", "red",     "green", "yellow",
                                           "blue",  "magenta", "cyan",  "white"};

int theme_color_parse(const char *s) {
    if (!strcasecmp(s, "default")) return THEME_DEFAULT;
    int bright = !strncasecmp(s, "bright-", 7);
    const char *base = bright ? s + 7 : s;
    for (int i = 0; i < 8; i++)
        if (!strcasecmp(base, basic_names[i])) return i + (bright ? 8 : 0);
    /* decimal 0..255, at most three digits, no sign */
    int v = 0, n = 0;
    for (; s[n]; n++) {
        if (s[n] < '0' || s[n] > '9' || n == 3) return -2;
        v = v * 10 + (s[n] - '0');
    }
    return n > 0 && v <= 255 ? v : -2;
}

const char *theme_color_name(int color) {
    static const char *const bright[8] = {"bright-black",  "bright-red",  "bright-green",
                                          "bright-yellow", "bright-blue", "bright-magenta",
                                          "bright-cyan",   "bright-white"};
    static char numbers[256][4];
    if (color == THEME_DEFAULT) return "default";
    if (color >= 0 && color < 8) return basic_names[color];
    if (color >= 8 && color < 16) return bright[color - 8];
    if (color < 0 || color > 255) return "?";
    if (!numbers[color][0]) snprintf(numbers[color], sizeof numbers[color], "%d", color);
    return numbers[color];
}

/* The xterm palette: 0..15 as xterm ships them, 16..231 a 6x6x6 cube with
 * levels 0, 95, 135, 175, 215, 255, and 232..255 greys 8, 18, ..., 238. */
static void color_rgb(int c, int rgb[3]) {
    static const unsigned char base[16][3] = {
        {0, 0, 0},     {205, 0, 0},     {0, 205, 0},     {205, 205, 0},  {0, 0, 238}, {205, 0, 205},
        {0, 205, 205}, {229, 229, 229}, {127, 127, 127}, {255, 0, 0},    {0, 255, 0}, {255, 255, 0},
        {92, 92, 255}, {255, 0, 255},   {0, 255, 255},   {255, 255, 255}};
    static const int level[6] = {0, 95, 135, 175, 215, 255};
    if (c < 16) {
        for (int i = 0; i < 3; i++) rgb[i] = base[c][i];
    } else if (c < 232) {
        c -= 16;
        rgb[0] = level[c / 36], rgb[1] = level[c / 6 % 6], rgb[2] = level[c % 6];
    } else {
        rgb[0] = rgb[1] = rgb[2] = 8 + 10 * (c - 232);
    }
}

int theme_color_degrade(int color, int ncolors) {
    if (color < 0 || color > 255) return THEME_DEFAULT;
    if (ncolors >= 256) return color;
    if (ncolors < 8) return THEME_DEFAULT;
    int limit = ncolors >= 16 ? 16 : 8;
    if (color < limit) return color;
    int want[3], have[3], best = 0;
    long best_d = -1;
    color_rgb(color, want);
    /* On an 8-colour terminal bright colours 8..15 still count by their own
     * RGB, but land on their basic form. */
    for (int c = 0; c < 16; c++) {
        color_rgb(c, have);
        long d = 0;
        for (int i = 0; i < 3; i++) d += (long)(want[i] - have[i]) * (want[i] - have[i]);
        if (best_d < 0 || d < best_d) best_d = d, best = c;
    }
    return limit == 16 ? best : best % 8;
}

int theme_want_mono(const char *no_color_env, int has_colors) {
    return (no_color_env && *no_color_env) || !has_colors;
}

const char *theme_default_name(const char *no_color_env, int has_colors) {
    return theme_want_mono(no_color_env, has_colors) ? "mono" : "dark";
}

/* ------------------------------------------------------------- parsing */

static void theme_set_defaults(Theme *t, int mono) {
    memset(t, 0, sizeof *t);
    for (int i = 0; i < THEME_N; i++) {
        t->style[i].fg = mono ? THEME_DEFAULT : elements[i].fg;
        t->style[i].bg = mono ? THEME_DEFAULT : elements[i].bg;
        t->style[i].attrs = mono ? elements[i].mono : elements[i].attrs;
    }
}

int theme_builtin(Theme *t, const char *name) {
    int mono = name && !strcmp(name, "mono");
    theme_set_defaults(t, mono);
    if (!mono && !(name && !strcmp(name, "dark")))
        return unum_error_set("no built-in theme '%s' (built in: dark, mono)", name ? name : "");
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->description, sizeof t->description, "%s",
             mono ? "attributes only, for NO_COLOR and terminals without colours"
                  : "light text on the terminal's dark background");
    return 0;
}

static const struct {
    const char *name;
    unsigned bit;
} attr_names[] = {{"bold", THEME_A_BOLD},
                  {"underline", THEME_A_UNDERLINE},
                  {"reverse", THEME_A_REVERSE},
                  {"dim", THEME_A_DIM},
                  {"italic", THEME_A_ITALIC}};

static int name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n >= THEME_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

/* "FG [on BG] [attr...]" into st; words are the value split at blanks. */
static int parse_style(ThemeStyle *st, char **w, int nw, const char *origin, int line) {
    if (nw == 0) return unum_error_set("%s:%d: expected a colour after '='", origin, line);
    int fg = theme_color_parse(w[0]), bg = THEME_DEFAULT, i = 1;
    if (fg == -2) return unum_error_set("%s:%d: unknown colour '%s'", origin, line, w[0]);
    if (i < nw && !strcasecmp(w[i], "on")) {
        if (i + 1 == nw)
            return unum_error_set("%s:%d: 'on' needs a background colour", origin, line);
        bg = theme_color_parse(w[i + 1]);
        if (bg == -2) return unum_error_set("%s:%d: unknown colour '%s'", origin, line, w[i + 1]);
        i += 2;
    }
    unsigned attrs = 0;
    for (; i < nw; i++) {
        size_t k = 0, na = sizeof attr_names / sizeof attr_names[0];
        while (k < na && strcasecmp(w[i], attr_names[k].name)) k++;
        if (k == na) {
            if (theme_color_parse(w[i]) != -2)
                return unum_error_set("%s:%d: colour '%s' out of place (write FG on BG)", origin,
                                      line, w[i]);
            return unum_error_set("%s:%d: unknown attribute '%s' (bold, underline, reverse, dim, "
                                  "italic)",
                                  origin, line, w[i]);
        }
        attrs |= attr_names[k].bit;
    }
    st->fg = (short)fg, st->bg = (short)bg, st->attrs = attrs;
    return 0;
}

static int parse_line(Theme *t, char *s, const char *origin, int line, int *name_line,
                      int *desc_line) {
    char *eq = strchr(s, '=');
    if (!eq) return unum_error_set("%s:%d: expected 'ELEMENT = COLOURS'", origin, line);
    char *key = s, *val = eq + 1, *end = eq;
    *eq = 0;
    while (end > key && (end[-1] == ' ' || end[-1] == '\t')) *--end = 0;
    while (*val == ' ' || *val == '\t') val++;
    if (!*key) return unum_error_set("%s:%d: missing element name before '='", origin, line);
    if (strchr(key, ' ') || strchr(key, '\t'))
        return unum_error_set("%s:%d: element name '%s' has blanks in it", origin, line, key);

    if (!strcmp(key, "name") || !strcmp(key, "description")) {
        int is_name = key[0] == 'n', *seen = is_name ? name_line : desc_line;
        if (*seen)
            return unum_error_set("%s:%d: %s already given on line %d", origin, line, key, *seen);
        *seen = line;
        if (is_name) {
            if (!name_ok(val))
                return unum_error_set("%s:%d: theme name '%.64s' must be 1 to %d letters, digits, "
                                      "'.', '_' or '-'",
                                      origin, line, val, THEME_NAME_MAX - 1);
            snprintf(t->name, sizeof t->name, "%s", val);
        } else {
            if (strlen(val) >= THEME_DESC_MAX)
                return unum_error_set("%s:%d: description is longer than %d bytes", origin, line,
                                      THEME_DESC_MAX - 1);
            snprintf(t->description, sizeof t->description, "%s", val);
        }
        return 0;
    }

    int e = theme_element_find(key);
    if (e < 0) return unum_error_set("%s:%d: unknown element '%.64s'", origin, line, key);
    if (t->line[e])
        return unum_error_set("%s:%d: element '%s' already set on line %d", origin, line,
                              elements[e].name, t->line[e]);
    char *w[16];
    int nw = conf_split(val, w, 16);
    if (nw > 16) return unum_error_set("%s:%d: too many words for '%s'", origin, line, key);
    if (parse_style(&t->style[e], w, nw, origin, line)) return -1;
    t->line[e] = line;
    return 0;
}

int theme_parse(Theme *t, const char *text, size_t len, const char *origin) {
    ConfReader *r = xmalloc(sizeof *r);
    int rc = conf_open(r, text, len, origin), name_line = 0, desc_line = 0;
    theme_set_defaults(t, 0);
    /* default name: the base name without ".theme" */
    const char *base = strrchr(r->origin, '/');
    base = base ? base + 1 : r->origin;
    size_t bn = strlen(base);
    if (bn > 6 && !strcmp(base + bn - 6, ".theme")) bn -= 6;
    if (bn >= THEME_NAME_MAX) bn = THEME_NAME_MAX - 1;
    memcpy(t->name, base, bn);
    t->name[bn] = 0;
    char *s;
    while (rc == 0) {
        int k = conf_next(r, &s);
        if (k <= 0) {
            rc = k;
            break;
        }
        rc = parse_line(t, s, r->origin, r->line, &name_line, &desc_line);
    }
    free(r);
    if (rc) theme_set_defaults(t, 0);
    return rc ? -1 : 0;
}

/* --------------------------------------------------------- search path */

int theme_search_dirs(char *dirs[4]) {
    int n = 0;
    char *d = unum_xdg_path(UNUM_XDG_CONFIG, "themes");
    if (d) dirs[n++] = d;
    char exe[4096];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
        exe[k] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0; /* exe is now BIN */
            dirs[n++] = unum_path_join(exe, "../themes");
            dirs[n++] = unum_path_join(exe, "../../themes");
        }
    }
    d = unum_xdg_path(UNUM_XDG_DATA, "themes");
    if (d) dirs[n++] = d;
    return n;
}

static void dirs_free(char **dirs, int n) {
    for (int i = 0; i < n; i++) free(dirs[i]);
}

char *theme_find(const char *name) {
    if (!name || !name_ok(name))
        return unum_error_set("invalid theme name '%.64s'", name ? name : ""), NULL;
    char *dirs[4], *found = NULL, file[THEME_NAME_MAX + 8];
    int n = theme_search_dirs(dirs);
    snprintf(file, sizeof file, "%s.theme", name);
    for (int i = 0; i < n && !found; i++) {
        char *p = unum_path_join(dirs[i], file);
        if (unum_file_exists(p)) found = p;
        else free(p);
    }
    dirs_free(dirs, n);
    if (!found) unum_error_set("theme '%s' not found", name);
    return found;
}

int theme_load(Theme *t, const char *name) {
    char *path = theme_find(name);
    if (!path) {
        if (name && (!strcmp(name, "dark") || !strcmp(name, "mono"))) return theme_builtin(t, name);
        theme_set_defaults(t, 0);
        return -1;
    }
    size_t len;
    char *text = unum_read_file(path, CONF_MAX_FILE, &len);
    int rc = text ? theme_parse(t, text, len, path) : -1;
    if (!text) theme_set_defaults(t, 0);
    free(text);
    free(path);
    return rc;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void theme_list(char ***names, int *n) {
    int cap = 16, count = 0;
    char **v = xmalloc(cap * sizeof *v), *dirs[4];
    v[count++] = xstrdup("dark");
    v[count++] = xstrdup("mono");
    int nd = theme_search_dirs(dirs);
    for (int i = 0; i < nd; i++) {
        DIR *d = opendir(dirs[i]);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            size_t len = strlen(de->d_name);
            if (len <= 6 || strcmp(de->d_name + len - 6, ".theme")) continue;
            char nm[THEME_NAME_MAX];
            if (len - 6 >= sizeof nm) continue;
            memcpy(nm, de->d_name, len - 6);
            nm[len - 6] = 0;
            if (!name_ok(nm)) continue;
            if (count == cap) v = xrealloc(v, (cap *= 2) * sizeof *v);
            v[count++] = xstrdup(nm);
        }
        if (d) closedir(d);
    }
    dirs_free(dirs, nd);
    qsort(v, count, sizeof *v, cmp_str);
    int u = 0;
    for (int i = 0; i < count; i++) {
        if (u > 0 && !strcmp(v[u - 1], v[i])) free(v[i]);
        else v[u++] = v[i];
    }
    *names = v;
    *n = u;
}

void theme_list_free(char **names, int n) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* ------------------------------------------------------------- ncurses */

/* Everything below talks to the terminal; the rest of the file does not. */

static attr_t cur_attr[THEME_N];
static short cur_pair[THEME_N];

static attr_t curses_attrs(unsigned a) {
    attr_t r = A_NORMAL;
    if (a & THEME_A_BOLD) r |= A_BOLD;
    if (a & THEME_A_UNDERLINE) r |= A_UNDERLINE;
    if (a & THEME_A_REVERSE) r |= A_REVERSE;
    if (a & THEME_A_DIM) r |= A_DIM;
#ifdef A_ITALIC
    if (a & THEME_A_ITALIC) r |= A_ITALIC;
#endif
    return r;
}

int theme_apply(const Theme *t) {
    Theme mono;
    int default_colors = 0;
    if (!has_colors()) {
        theme_builtin(&mono, "mono");
        t = &mono;
    } else {
        /* both return at once on later calls for the same screen */
        start_color();
        default_colors = use_default_colors() == OK;
    }
    int ncolors = has_colors() ? COLORS : 0, npairs = has_colors() ? COLOR_PAIRS : 0, used = 0;
    short pfg[THEME_N], pbg[THEME_N];
    int rc = 0;
    for (int e = 0; e < THEME_N; e++) {
        const ThemeStyle *st = &t->style[e];
        int fg = theme_color_degrade(st->fg, ncolors), bg = theme_color_degrade(st->bg, ncolors);
        /* distinct colours that degrade to one would hide the text */
        if (fg == bg && fg != THEME_DEFAULT && st->fg != st->bg) fg = THEME_DEFAULT;
        if (!default_colors) {
            if (fg == THEME_DEFAULT) fg = COLOR_WHITE;
            if (bg == THEME_DEFAULT) bg = COLOR_BLACK;
        }
        short pair = 0;
        if (ncolors > 0 && !(default_colors && fg == THEME_DEFAULT && bg == THEME_DEFAULT)) {
            int p = 0;
            while (p < used && !(pfg[p] == fg && pbg[p] == bg)) p++;
            if (p == used) {
                if (used + 1 < npairs) {
                    pfg[used] = (short)fg, pbg[used] = (short)bg;
                    init_pair((short)(used + 1), (short)fg, (short)bg);
                    used++;
                } else {
                    rc = unum_error_set("theme '%s': the terminal has only %d colour pairs",
                                        t->name, npairs);
                    p = -1;
                }
            }
            if (p >= 0) pair = (short)(p + 1);
        }
        cur_pair[e] = pair;
        cur_attr[e] = curses_attrs(st->attrs) | (attr_t)COLOR_PAIR(pair);
    }
    return rc;
}

attr_t theme_attr(ThemeElement e) { return (unsigned)e < THEME_N ? cur_attr[e] : A_NORMAL; }

short theme_pair(ThemeElement e) { return (unsigned)e < THEME_N ? cur_pair[e] : 0; }
