/* test_theme.c - the theme file parser, the shipped themes, the colour
 * policy (NO_COLOR, degrading to 8/16 colours), the search path and, on a
 * dummy terminal, theme_apply. */
#include "tests/test.h"

#include "tui/core/conffile.h"
#include "tui/app/theme.h"
#include "engine/base/util.h"

#include <stdlib.h>

/* ------------------------------------------------------------ helpers */

static int parse_str(Theme *t, const char *text) {
    return theme_parse(t, text, strlen(text), "t.theme");
}

/* text must fail with an error containing want. */
static void expect_error(const char *text, size_t len, const char *want) {
    Theme t;
    if (theme_parse(&t, text, len, "t.theme") == 0) {
        test_fail(__FILE__, __LINE__, "accepted: %.60s (wanted %s)", text, want);
        return;
    }
    CHECK_ERR(want);
    CHECK_EQ_INT(t.style[THEME_STATUS].fg, 15); /* reset to the dark defaults */
}
#define EXPECT_ERROR(text, want) expect_error(text, strlen(text), want)

static int load_file(Theme *t, const char *name) {
    char path[256];
    snprintf(path, sizeof path, "%s/themes/%s.theme", test_root(), name);
    size_t len;
    char *text = unum_read_file(path, CONF_MAX_FILE, &len);
    if (!text) return -1;
    int rc = theme_parse(t, text, len, path);
    free(text);
    return rc;
}

static int same_styles(const Theme *a, const Theme *b) {
    for (int e = 0; e < THEME_N; e++)
        if (a->style[e].fg != b->style[e].fg || a->style[e].bg != b->style[e].bg ||
            a->style[e].attrs != b->style[e].attrs)
            return 0;
    return 1;
}

/* ---------------------------------------------------------- the files */

TEST(theme_shipped_files_set_every_element) {
    const char *names[] = {"dark", "light", "high-contrast", "mono"};
    for (int i = 0; i < 4; i++) {
        Theme t;
        if (load_file(&t, names[i])) {
            test_fail(__FILE__, __LINE__, "%s: %s", names[i], unum_error());
            continue;
        }
        CHECK_STR(t.name, names[i]);
        CHECK(t.description[0] != 0);
        for (int e = 0; e < THEME_N; e++)
            if (!t.line[e])
                test_fail(__FILE__, __LINE__, "%s.theme leaves out %s", names[i],
                          theme_element_name(e));
    }
}

TEST(theme_shipped_dark_and_mono_match_builtins) {
    const char *names[] = {"dark", "mono"};
    for (int i = 0; i < 2; i++) {
        Theme f, b;
        REQUIRE(load_file(&f, names[i]) == 0);
        REQUIRE(theme_builtin(&b, names[i]) == 0);
        CHECK(same_styles(&f, &b));
        CHECK_STR(f.description, b.description);
    }
    Theme t;
    CHECK(theme_builtin(&t, "light") == -1);
    CHECK_ERR("no built-in theme 'light'");
}

TEST(theme_mono_has_no_colours) {
    Theme t;
    REQUIRE(theme_builtin(&t, "mono") == 0);
    for (int e = 0; e < THEME_N; e++) {
        CHECK_EQ_INT(t.style[e].fg, THEME_DEFAULT);
        CHECK_EQ_INT(t.style[e].bg, THEME_DEFAULT);
    }
    CHECK(t.style[THEME_STATUS].attrs & THEME_A_REVERSE);
    CHECK(t.style[THEME_SELECTION].attrs & THEME_A_REVERSE);
}

TEST(theme_element_names_are_unique) {
    for (int e = 0; e < THEME_N; e++) {
        CHECK_EQ_INT(theme_element_find(theme_element_name(e)), e);
        CHECK(theme_element_description(e)[0] != 0);
    }
    CHECK_EQ_INT(theme_element_find("STATUS_ACCENT"), THEME_STATUS_ACCENT);
    CHECK_EQ_INT(theme_element_find("nope"), -1);
    CHECK(theme_element_name(THEME_N) == NULL);
}

/* ------------------------------------------------------------ parsing */

TEST(theme_parse_lines) {
    Theme t;
    REQUIRE(parse_str(&t, "\xef\xbb\xbf# comment\r\n\n  name = mine  \ndescription = a # b\n"
                          "status = Bright-Red on 17 bold underline\r\n"
                          "heading = 200 reverse dim italic\nerror = default on blue\n"
                          "normal = 0\n") == 0);
    CHECK_STR(t.name, "mine");
    CHECK_STR(t.description, "a # b");
    CHECK_EQ_INT(t.style[THEME_STATUS].fg, 9);
    CHECK_EQ_INT(t.style[THEME_STATUS].bg, 17);
    CHECK_EQ_INT(t.style[THEME_STATUS].attrs, THEME_A_BOLD | THEME_A_UNDERLINE);
    CHECK_EQ_INT(t.style[THEME_STATUS].attrs, THEME_A_BOLD | THEME_A_UNDERLINE);
    CHECK_EQ_INT(t.style[THEME_HEADING].attrs, THEME_A_REVERSE | THEME_A_DIM | THEME_A_ITALIC);
    CHECK_EQ_INT(t.style[THEME_HEADING].bg, THEME_DEFAULT);
    CHECK_EQ_INT(t.style[THEME_ERROR].fg, THEME_DEFAULT);
    CHECK_EQ_INT(t.style[THEME_ERROR].bg, 4);
    CHECK_EQ_INT(t.style[THEME_NORMAL].fg, 0);
    CHECK_EQ_INT(t.line[THEME_STATUS], 5);
    /* left-out elements keep the dark look */
    CHECK_EQ_INT(t.line[THEME_TIME], 0);
    CHECK_EQ_INT(t.style[THEME_TIME].fg, 242);
}

TEST(theme_name_defaults_to_the_file_name) {
    Theme t;
    REQUIRE(theme_parse(&t, "", 0, "/x/y/solar.theme") == 0);
    CHECK_STR(t.name, "solar");
    REQUIRE(theme_parse(&t, "", 0, "plain") == 0);
    CHECK_STR(t.name, "plain");
}

TEST(theme_parse_errors_name_file_and_line) {
    EXPECT_ERROR("\n\nfrobnicate = red\n", "t.theme:3: unknown element 'frobnicate'");
    EXPECT_ERROR("status = purple\n", "t.theme:1: unknown colour 'purple'");
    EXPECT_ERROR("status = 256\n", "t.theme:1: unknown colour '256'");
    EXPECT_ERROR("status = -1\n", "unknown colour '-1'");
    EXPECT_ERROR("status = 0012\n", "unknown colour '0012'");
    EXPECT_ERROR("status = red on\n", "t.theme:1: 'on' needs a background colour");
    EXPECT_ERROR("status = red on mauve\n", "unknown colour 'mauve'");
    EXPECT_ERROR("status = red blinking\n", "t.theme:1: unknown attribute 'blinking'");
    EXPECT_ERROR("status = red blue\n", "colour 'blue' out of place");
    EXPECT_ERROR("status =\n", "t.theme:1: expected a colour after '='");
    EXPECT_ERROR("status red\n", "t.theme:1: expected 'ELEMENT = COLOURS'");
    EXPECT_ERROR("= red\n", "missing element name");
    EXPECT_ERROR("sta tus = red\n", "has blanks");
    EXPECT_ERROR("# x\nstatus = red\nborder = red\nstatus = blue\n",
                 "t.theme:4: element 'status' already set on line 2");
    EXPECT_ERROR("name = a\nname = b\n", "t.theme:2: name already given on line 1");
    EXPECT_ERROR("description = a\ndescription = b\n", "t.theme:2: description already given");
    EXPECT_ERROR("name = a/b\n", "t.theme:1: theme name 'a/b'");
    EXPECT_ERROR("name =\n", "theme name ''");
    EXPECT_ERROR("status = red\x1b[31m\n", "t.theme:1: control character 0x1b in column 13");
    EXPECT_ERROR("normal = red\nstatus = r\xc3\n", "t.theme:2: invalid UTF-8 in column 11");
    EXPECT_ERROR("status = \xc0\xaf\n", "t.theme:1: invalid UTF-8");     /* overlong */
    EXPECT_ERROR("status = \xed\xa0\x80\n", "t.theme:1: invalid UTF-8"); /* surrogate */
    EXPECT_ERROR("status = \xf4\x90\x80\x80\n", "invalid UTF-8");        /* > U+10FFFF */
    expect_error("normal = red\nstatus = r\0ed\n", 26, "t.theme:2: NUL byte in column 11");

    char *big = malloc(CONF_MAX_FILE + 2);
    memset(big, '#', CONF_MAX_FILE + 1);
    big[CONF_MAX_FILE + 1] = 0;
    expect_error(big, CONF_MAX_FILE + 1, "t.theme: file is 65537 bytes; the limit is 65536");
    big[0] = '\n';
    big[2000] = '\n';
    expect_error(big, 3000, "t.theme:2: line is longer than 1024 bytes");
    /* exactly 1024 bytes is fine */
    memset(big, ' ', 1024);
    memcpy(big, "#", 1);
    Theme t;
    CHECK(theme_parse(&t, big, 1024, "t.theme") == 0);
    char desc[400];
    snprintf(desc, sizeof desc, "description = %0300d\n", 7);
    EXPECT_ERROR(desc, "t.theme:1: description is longer than 255 bytes");
    free(big);
}

TEST(theme_colour_names_round_trip) {
    for (int c = -1; c < 256; c++) CHECK_EQ_INT(theme_color_parse(theme_color_name(c)), c);
    CHECK_EQ_INT(theme_color_parse("RED"), 1);
    CHECK_EQ_INT(theme_color_parse("bright-white"), 15);
    CHECK_EQ_INT(theme_color_parse("bright-"), -2);
    CHECK_EQ_INT(theme_color_parse("bright-7"), -2);
    CHECK_EQ_INT(theme_color_parse(""), -2);
    CHECK_STR(theme_color_name(300), "?");
}

/* ------------------------------------------------------- colour policy */

TEST(theme_no_color_picks_mono) {
    CHECK_EQ_INT(theme_want_mono(NULL, 1), 0);
    CHECK_EQ_INT(theme_want_mono("", 1), 0); /* set but empty: ignored */
    CHECK_EQ_INT(theme_want_mono("1", 1), 1);
    CHECK_EQ_INT(theme_want_mono("0", 1), 1); /* any non-empty value */
    CHECK_EQ_INT(theme_want_mono(NULL, 0), 1);
    CHECK_EQ_INT(theme_want_mono("", 0), 1);
    CHECK_STR(theme_default_name("yes", 1), "mono");
    CHECK_STR(theme_default_name(NULL, 1), "dark");
}

TEST(theme_degrade_to_16_and_8_colours) {
    for (int c = 0; c < 256; c++) CHECK_EQ_INT(theme_color_degrade(c, 256), c);
    for (int c = 0; c < 16; c++) CHECK_EQ_INT(theme_color_degrade(c, 16), c);
    for (int c = 0; c < 8; c++) CHECK_EQ_INT(theme_color_degrade(c, 8), c);
    for (int c = 0; c < 256; c++) {
        int d16 = theme_color_degrade(c, 16), d8 = theme_color_degrade(c, 8);
        CHECK(d16 >= 0 && d16 < 16);
        CHECK(d8 >= 0 && d8 < 8);
        CHECK_EQ_INT(d8, d16 % 8);
        CHECK_EQ_INT(theme_color_degrade(c, 2), THEME_DEFAULT);
    }
    CHECK_EQ_INT(theme_color_degrade(THEME_DEFAULT, 8), THEME_DEFAULT);
    CHECK_EQ_INT(theme_color_degrade(196, 16), 9);  /* ff0000 -> bright red */
    CHECK_EQ_INT(theme_color_degrade(196, 8), 1);   /* -> red */
    CHECK_EQ_INT(theme_color_degrade(231, 16), 15); /* ffffff */
    CHECK_EQ_INT(theme_color_degrade(16, 16), 0);   /* 000000 */
    CHECK_EQ_INT(theme_color_degrade(21, 16), 4);   /* 0000ff: 0000ee is nearer than 5c5cff */
    CHECK_EQ_INT(theme_color_degrade(46, 16), 10);  /* 00ff00 */
    CHECK_EQ_INT(theme_color_degrade(244, 16), 8);  /* 808080 -> 7f7f7f */
    CHECK_EQ_INT(theme_color_degrade(244, 8), 0);
    CHECK_EQ_INT(theme_color_degrade(254, 16), 7); /* e4e4e4 -> e5e5e5 */
    CHECK_EQ_INT(theme_color_degrade(9, 8), 1);
    CHECK_EQ_INT(theme_color_degrade(15, 8), 7);
}

/* --------------------------------------------------------- search path */

static void write_file(const char *dir, const char *name, const char *text) {
    char *p = unum_path_join(dir, name);
    CHECK(unum_write_file_atomic(p, text, strlen(text)) == 0);
    free(p);
}

TEST(theme_find_list_and_load) {
    char *tmp = test_tmpdir();
    REQUIRE(tmp);
    char *old_cfg = getenv("XDG_CONFIG_HOME") ? strdup(getenv("XDG_CONFIG_HOME")) : NULL;
    char *old_data = getenv("XDG_DATA_HOME") ? strdup(getenv("XDG_DATA_HOME")) : NULL;
    char *cfg = unum_path_join(tmp, "cfg"), *data = unum_path_join(tmp, "data");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/unum/themes %s/unum/themes", cfg, data);
    CHECK(system(cmd) == 0);
    setenv("XDG_CONFIG_HOME", cfg, 1);
    setenv("XDG_DATA_HOME", data, 1);
    char *cd = unum_path_join(cfg, "unum/themes"), *dd = unum_path_join(data, "unum/themes");
    write_file(cd, "solar.theme", "status = yellow\n");
    write_file(cd, "light.theme", "name = my-light\n"); /* shadows the shipped one */
    write_file(dd, "zz.theme", "error = red\n");
    write_file(dd, "solar.theme", "status = blue\n");
    write_file(dd, "bad name.theme", "");
    write_file(dd, "notes.txt", "");

    char *dirs[4];
    int nd = theme_search_dirs(dirs);
    REQUIRE(nd == 4);
    CHECK_STR(dirs[0], cd);
    CHECK_STR(dirs[3], dd);
    for (int i = 0; i < nd; i++) free(dirs[i]);

    char *p = theme_find("solar");
    CHECK(p && strstr(p, "/cfg/unum/themes/solar.theme"));
    free(p);
    p = theme_find("high-contrast"); /* from the source tree, found from the binary */
    CHECK(p && strstr(p, "themes/high-contrast.theme"));
    free(p);
    CHECK(theme_find("../etc/passwd") == NULL);
    CHECK_ERR("invalid theme name");
    CHECK(theme_find("absent") == NULL);
    CHECK_ERR("theme 'absent' not found");

    Theme t;
    REQUIRE(theme_load(&t, "solar") == 0);
    CHECK_EQ_INT(t.style[THEME_STATUS].fg, 3);
    REQUIRE(theme_load(&t, "light") == 0);
    CHECK_STR(t.name, "my-light");
    CHECK(theme_load(&t, "absent") == -1);
    write_file(cd, "broken.theme", "x = y\n");
    CHECK(theme_load(&t, "broken") == -1);
    CHECK_ERR("broken.theme:1: unknown element 'x'");

    char **names;
    int n;
    theme_list(&names, &n);
    const char *want[] = {"broken", "dark", "high-contrast", "light", "mono", "solar", "zz"};
    CHECK_EQ_INT(n, 7);
    for (int i = 0; i < n && i < 7; i++) CHECK_STR(names[i], want[i]);
    theme_list_free(names, n);

    if (old_cfg) setenv("XDG_CONFIG_HOME", old_cfg, 1);
    else unsetenv("XDG_CONFIG_HOME");
    if (old_data) setenv("XDG_DATA_HOME", old_data, 1);
    else unsetenv("XDG_DATA_HOME");
    free(old_cfg), free(old_data), free(cfg), free(data), free(cd), free(dd);
    test_tmp_remove(tmp);
}

/* ------------------------------------------------------------- ncurses */

/* A screen on /dev/null for a named terminal type, or NULL. */
static SCREEN *dummy_screen(const char *term, FILE **out, FILE **in) {
    *out = fopen("/dev/null", "w");
    *in = fopen("/dev/null", "r");
    SCREEN *s = *out && *in ? newterm(term, *out, *in) : NULL;
    if (!s) {
        if (*out) fclose(*out);
        if (*in) fclose(*in);
    }
    return s;
}

static void close_screen(SCREEN *s, FILE *out, FILE *in) {
    endwin();
    delscreen(s);
    fclose(out);
    fclose(in);
}

TEST(theme_apply_sets_pairs_and_switches) {
    FILE *out, *in;
    SCREEN *s = dummy_screen("xterm-256color", &out, &in);
    if (!s) SKIP("no xterm-256color terminfo entry");
    Theme dark, mono, hc;
    theme_builtin(&dark, "dark");
    theme_builtin(&mono, "mono");
    REQUIRE(load_file(&hc, "high-contrast") == 0);
    CHECK(theme_apply(&dark) == 0);
    CHECK_EQ_INT(theme_pair(THEME_NORMAL), 0);
    CHECK(theme_pair(THEME_STATUS) > 0);
    /* status and status_accent share a background but not a foreground */
    CHECK(theme_pair(THEME_STATUS) != theme_pair(THEME_STATUS_ACCENT));
    CHECK(theme_pair(THEME_HEADING) == theme_pair(THEME_BULLET)); /* both 221 on default */
    CHECK(theme_attr(THEME_HEADING) & A_BOLD);
    short fg, bg;
    pair_content(theme_pair(THEME_STATUS), &fg, &bg);
    CHECK_EQ_INT(fg, 15);
    CHECK_EQ_INT(bg, 236);
    /* switching at run time */
    CHECK(theme_apply(&mono) == 0);
    for (int e = 0; e < THEME_N; e++) CHECK_EQ_INT(theme_pair(e), 0);
    CHECK(theme_attr(THEME_STATUS) & A_REVERSE);
    CHECK(theme_apply(&hc) == 0);
    pair_content(theme_pair(THEME_ERROR), &fg, &bg);
    CHECK_EQ_INT(fg, 9);
    CHECK_EQ_INT(bg, 0);
    close_screen(s, out, in);
}

TEST(theme_apply_on_eight_colours_and_none) {
    FILE *out, *in;
    SCREEN *s = dummy_screen("xterm", &out, &in);
    if (!s) SKIP("no xterm terminfo entry");
    Theme dark;
    theme_builtin(&dark, "dark");
    CHECK(theme_apply(&dark) == 0);
    short fg, bg;
    pair_content(theme_pair(THEME_STATUS), &fg, &bg);
    CHECK_EQ_INT(fg, 7); /* bright-white on 236 -> white on black */
    CHECK_EQ_INT(bg, 0);
    close_screen(s, out, in);

    s = dummy_screen("vt100", &out, &in);
    if (!s) SKIP("no vt100 terminfo entry");
    CHECK(theme_apply(&dark) == 0); /* shown as mono */
    CHECK_EQ_INT(theme_pair(THEME_STATUS), 0);
    CHECK(theme_attr(THEME_STATUS) & A_REVERSE);
    close_screen(s, out, in);
}
