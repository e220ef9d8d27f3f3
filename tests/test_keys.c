/* test_keys.c - key names, the default bindings, the key file parser, the
 * lookup by context and the help overlay. */
#include "tests/test.h"

#include "tui/core/conffile.h"
#include "tui/app/app.h"
#include "tui/app/keys.h"
#include "engine/base/util.h"

#include <curses.h>
#include <stdlib.h>
#include <sys/stat.h>

/* ------------------------------------------------------------ helpers */

static void expect_error(const char *text, size_t len, const char *want) {
    Keymap m;
    if (keys_parse(&m, text, len, "keys") == 0) {
        test_fail(__FILE__, __LINE__, "accepted: %.60s (wanted %s)", text, want);
        return;
    }
    CHECK_ERR(want);
    CHECK_EQ_INT(keys_lookup(&m, 17, KEYS_CTX_GLOBAL), KEYS_QUIT); /* the bad line changed nothing */
}
#define EXPECT_ERROR(text, want) expect_error(text, strlen(text), want)

static int round_trips(int code) {
    char name[KEYS_NAME_MAX], again[KEYS_NAME_MAX];
    keys_name(code, name);
    int back = keys_parse_name(name);
    if (back != code) {
        test_fail(__FILE__, __LINE__, "code %#x -> '%s' -> %#x", code, name, back);
        return 0;
    }
    keys_name(back, again);
    if (strcmp(name, again)) test_fail(__FILE__, __LINE__, "'%s' -> '%s'", name, again);
    return 1;
}

/* ---------------------------------------------------------- key names */

TEST(keys_every_name_round_trips) {
    const char *names[] = {"Enter", "Tab",    "S-Tab",   "Esc",  "Backspace", "Delete",  "Insert",
                           "Home",  "End",    "PgUp",    "PgDn", "Up",        "Down",    "Left",
                           "Right", "C-Left", "C-Right", "C-Up", "C-Down",    "Space",   "M-Enter",
                           "M-<",   "M->",    "?",       "#",    "=",         "a",       "Z",
                           "é",     "中",     "😀",       "ā",    "M-y",       "M-Space", "M-F1",
                           "C-q",   "M-C-x"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int code = keys_parse_name(names[i]);
        char back[KEYS_NAME_MAX];
        if (code < 0) {
            test_fail(__FILE__, __LINE__, "'%s' does not parse", names[i]);
            continue;
        }
        CHECK_STR(keys_name(code, back), names[i]);
        round_trips(code);
    }
    for (int f = 1; f <= 12; f++) {
        char n[8];
        snprintf(n, sizeof n, "F%d", f);
        CHECK_EQ_INT(keys_parse_name(n), KEYS_FN | KEY_F(f));
        round_trips(KEYS_FN | KEY_F(f));
        round_trips(KEYS_ALT | KEYS_FN | KEY_F(f));
    }
    for (int c = 1; c <= 27; c++) round_trips(c), round_trips(c | KEYS_ALT);
    for (int c = 0x21; c < 0x7f; c++) round_trips(c), round_trips(c | KEYS_ALT);
    for (int c = 0xa0; c < 0x800; c++) round_trips(c); /* includes U+0101..U+01FF */
    round_trips(0x10ffff);
}

TEST(keys_name_aliases_and_refusals) {
    CHECK_EQ_INT(keys_parse_name("enter"), 13);
    CHECK_EQ_INT(keys_parse_name("Return"), 13);
    CHECK_EQ_INT(keys_parse_name("C-m"), 13);
    CHECK_EQ_INT(keys_parse_name("C-i"), 9);
    CHECK_EQ_INT(keys_parse_name("C-A"), 1);
    CHECK_EQ_INT(keys_parse_name("C-j"), 10);
    CHECK_EQ_INT(keys_parse_name("PageUp"), KEYS_FN | KEY_PPAGE);
    CHECK_EQ_INT(keys_parse_name("escape"), 27);
    CHECK_EQ_INT(keys_parse_name("BTab"), KEYS_FN | KEY_BTAB);
    CHECK_EQ_INT(keys_parse_name("M-A"), KEYS_ALT | 'A'); /* Alt+Shift+a differs */
    CHECK(keys_parse_name("M-a") != keys_parse_name("M-A"));
    const char *bad[] = {"",   "C-",   "M-", "M-M-a", "F0",   "F13", "F1a", "C-1",
                         "ab", "\x80", "é!", " ",     "Meta", "S-a", "C-é", "\xc3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (keys_parse_name(bad[i]) != -1) test_fail(__FILE__, __LINE__, "'%s' parsed", bad[i]);
    char n[KEYS_NAME_MAX];
    CHECK_STR(keys_name(-1, n), "?");
    CHECK_STR(keys_name(0, n), "?");
    CHECK_STR(keys_name(KEYS_FN | 5, n), "?");
    CHECK_STR(keys_name(0x7f, n), "?");
    CHECK_STR(keys_name(0xd800, n), "?");
    CHECK_STR(keys_name(1 << 28, n), "?");
}

TEST(keys_from_curses_codes) {
    CHECK_EQ_INT(keys_from_curses(1, KEY_ENTER), 13);
    CHECK_EQ_INT(keys_from_curses(0, '\r'), 13);
    CHECK_EQ_INT(keys_from_curses(0, '\n'), 10);
    CHECK_EQ_INT(keys_from_curses(0, 127), KEYS_FN | KEY_BACKSPACE);
    CHECK_EQ_INT(keys_from_curses(1, KEY_BACKSPACE), KEYS_FN | KEY_BACKSPACE);
    CHECK_EQ_INT(keys_from_curses(1, KEY_DOWN), KEYS_FN | KEY_DOWN);
    CHECK_EQ_INT(keys_from_curses(0, KEY_DOWN), KEY_DOWN); /* the character U+0102 */
    CHECK_EQ_INT(keys_from_curses(1, KEY_F(5)), KEYS_FN | KEY_F(5));
    CHECK_EQ_INT(keys_from_curses(1, KEY_F(40)), -1);
    CHECK_EQ_INT(keys_from_curses(0, 0x110000), -1);
    CHECK_EQ_INT(keys_alt('y'), KEYS_ALT | 'y');
    CHECK_EQ_INT(keys_alt(KEYS_ALT | 'y'), -1);
    CHECK(keys_is_text('a') && keys_is_text(' ') && keys_is_text(0x4e2d));
    CHECK(!keys_is_text(13) && !keys_is_text(KEYS_ALT | 'a') && !keys_is_text(KEYS_FN | KEY_F(1)));
}

/* ----------------------------------------------------------- defaults */

TEST(keys_defaults_parse_and_do_not_conflict) {
    Keymap m;
    keys_defaults(&m);
    for (int a = 0; a < KEYS_N_ACTIONS; a++) {
        CHECK(m.n[a] >= 1);
        CHECK_EQ_INT(keys_action_find(keys_action_name(a)), a);
        KeyContext c = keys_action_context(a);
        for (int i = 0; i < m.n[a]; i++) {
            if (c == KEYS_CTX_GLOBAL || c == KEYS_CTX_INPUT)
                CHECK(!keys_editor_reserved(m.key[a][i]));
            if (c == KEYS_CTX_INPUT) CHECK(!keys_is_text(m.key[a][i]));
        }
    }
    /* the conflict check runs on an empty file */
    REQUIRE(keys_parse(&m, "", 0, "keys") == 0);
    struct {
        const char *key;
        KeyContext ctx;
        KeyAction want;
    } cases[] = {
        {"C-q", KEYS_CTX_GLOBAL, KEYS_QUIT},
        {"C-q", KEYS_CTX_INPUT, KEYS_QUIT},
        {"Enter", KEYS_CTX_INPUT, KEYS_SEND},
        {"M-Enter", KEYS_CTX_INPUT, KEYS_NEWLINE},
        {"C-j", KEYS_CTX_INPUT, KEYS_NEWLINE},
        {"Tab", KEYS_CTX_INPUT, KEYS_FOCUS_NEXT},
        {"S-Tab", KEYS_CTX_SESSIONS, KEYS_FOCUS_PREV},
        {"F1", KEYS_CTX_INPUT, KEYS_HELP},
        {"?", KEYS_CTX_SESSIONS, KEYS_HELP},
        {"?", KEYS_CTX_INPUT, KEYS_NONE},
        {"a", KEYS_CTX_INPUT, KEYS_NONE},
        {"Enter", KEYS_CTX_PERSONAS, KEYS_PERSONA_PICK},
        {"e", KEYS_CTX_TEMPLATES, KEYS_TEMPLATE_EDIT},
        {"n", KEYS_CTX_PERSONAS, KEYS_PERSONA_NEW},
        {"Enter", KEYS_CTX_GLOBAL, KEYS_NONE},
        {"F3", KEYS_CTX_GLOBAL, KEYS_SEARCH},
        {"M-<", KEYS_CTX_INPUT, KEYS_PAGE_TOP},
        {"PgDn", KEYS_CTX_INPUT, KEYS_SCROLL_DOWN},
        {"C-a", KEYS_CTX_INPUT, KEYS_NONE},
        {"M-y", KEYS_CTX_INPUT, KEYS_COPY_CODE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        KeyAction got = keys_lookup(&m, keys_parse_name(cases[i].key), cases[i].ctx);
        if (got != cases[i].want)
            test_fail(__FILE__, __LINE__, "%s in %s: %s, wanted %s", cases[i].key,
                      keys_context_name(cases[i].ctx), got < 0 ? "none" : keys_action_name(got),
                      cases[i].want < 0 ? "none" : keys_action_name(cases[i].want));
    }
}

/* ---------------------------------------------------------- key files */

TEST(keys_file_overrides) {
    Keymap m;
    const char *text = "# my keys\n\n"
                       "  quit = F10 C-q F10  \r\n"
                       "regenerate = C-n\n" /* C-n is freed by the next line */
                       "new_session = M-F5\n"
                       "help = #\n"
                       "unbind F4\n"
                       "persona_new = Insert\n"
                       "copy_code =\n";
    REQUIRE(keys_parse(&m, text, strlen(text), "keys") == 0);
    CHECK_EQ_INT(m.n[KEYS_QUIT], 2);
    CHECK_EQ_INT(m.line[KEYS_QUIT], 3);
    CHECK_EQ_INT(keys_lookup(&m, KEYS_FN | KEY_F(10), KEYS_CTX_GLOBAL), KEYS_QUIT);
    CHECK_EQ_INT(keys_lookup(&m, 14, KEYS_CTX_GLOBAL), KEYS_REGENERATE);
    CHECK_EQ_INT(keys_lookup(&m, 18, KEYS_CTX_GLOBAL), KEYS_NONE); /* C-r replaced */
    CHECK_EQ_INT(keys_lookup(&m, KEYS_ALT | KEYS_FN | KEY_F(5), KEYS_CTX_INPUT), KEYS_NEW_SESSION);
    CHECK_EQ_INT(keys_lookup(&m, '#', KEYS_CTX_SESSIONS), KEYS_HELP);
    CHECK_EQ_INT(keys_lookup(&m, '?', KEYS_CTX_SESSIONS), KEYS_NONE);
    CHECK_EQ_INT(keys_lookup(&m, KEYS_FN | KEY_F(4), KEYS_CTX_GLOBAL), KEYS_NONE);
    CHECK_EQ_INT(keys_lookup(&m, KEYS_FN | KEY_IC, KEYS_CTX_PERSONAS), KEYS_PERSONA_NEW);
    CHECK_EQ_INT(keys_lookup(&m, 'n', KEYS_CTX_PERSONAS), KEYS_NONE);
    CHECK_EQ_INT(m.n[KEYS_COPY_CODE], 0);
    /* a pane's binding hides a global one without a conflict */
    text = "persona_edit = F2\n";
    REQUIRE(keys_parse(&m, text, strlen(text), "keys") == 0);
    CHECK_EQ_INT(keys_lookup(&m, KEYS_FN | KEY_F(2), KEYS_CTX_PERSONAS), KEYS_PERSONA_EDIT);
    CHECK_EQ_INT(keys_lookup(&m, KEYS_FN | KEY_F(2), KEYS_CTX_SESSIONS), KEYS_SESSIONS);
}

TEST(keys_file_errors_name_file_and_line) {
    EXPECT_ERROR("\nfly = C-q\n", "keys:2: unknown action 'fly'");
    EXPECT_ERROR("quit = C-Q F99\n", "keys:1: unknown key 'F99'");
    EXPECT_ERROR("quit = F5 F6 F7 F8 F9\n", "keys:1: quit has more than 4 keys");
    EXPECT_ERROR("export = F10\n# x\nexport = F9\n", "keys:3: export already bound on line 1");
    EXPECT_ERROR("quit F10\n", "keys:1: expected 'ACTION = KEY...' or 'unbind KEY'");
    EXPECT_ERROR("quit export = F10\n", "keys:1: expected one action name before '='");
    EXPECT_ERROR(" = F10\n", "expected one action name");
    EXPECT_ERROR("unbind\n", "keys:1: expected 'unbind KEY'");
    EXPECT_ERROR("unbind C-q F1\n", "expected 'unbind KEY'");
    EXPECT_ERROR("unbind Hyper-x\n", "keys:1: unknown key 'Hyper-x'");
    EXPECT_ERROR("regenerate = C-n\n",
                 "keys:1: C-n is bound to both regenerate (line 1) and new_session (default) in "
                 "the global context");
    EXPECT_ERROR("\n\nsearch = M-F5\nrecord = M-F5\n",
                 "keys:4: M-F5 is bound to both search (line 3) and record (line 4)");
    EXPECT_ERROR("persona_edit = n\n", "persona_edit (line 1) and persona_new (default) in the "
                                       "personas context");
    EXPECT_ERROR("quit = C-a\n",
                 "keys:1: C-a is the message editor's own key; quit cannot have it");
    EXPECT_ERROR("send = Home\n", "Home is the message editor's own key");
    EXPECT_ERROR("send = x\n", "keys:1: x types text in the message editor; send cannot have it");
    EXPECT_ERROR("quit = C-q\x07\n", "keys:1: control character 0x07");
    EXPECT_ERROR("quit = \xff\n", "keys:1: invalid UTF-8 in column 8");
    expect_error("quit = F1\0\n", 10, "keys:1: NUL byte in column 10");
    char *big = malloc(CONF_MAX_FILE + 1);
    memset(big, '\n', CONF_MAX_FILE + 1);
    expect_error(big, CONF_MAX_FILE + 1, "keys: file is 65537 bytes");
    memset(big, '#', 1500);
    expect_error(big, 1500, "keys:1: line is longer than 1024 bytes");
    free(big);
}

TEST(keys_load_reads_the_config_file) {
    char *tmp = test_tmpdir();
    REQUIRE(tmp);
    char *old = getenv("XDG_CONFIG_HOME") ? strdup(getenv("XDG_CONFIG_HOME")) : NULL;
    setenv("XDG_CONFIG_HOME", tmp, 1);
    Keymap m;
    CHECK(keys_load(&m) == 0); /* no file: the defaults */
    CHECK_EQ_INT(keys_lookup(&m, 17, KEYS_CTX_GLOBAL), KEYS_QUIT);
    char *dir = unum_path_join(tmp, "unum"), *path = keys_config_path();
    CHECK(path && !strcmp(path + strlen(path) - 9, "unum/keys"));
    mkdir(dir, 0700);
    const char *text = "quit = F10\n";
    CHECK(unum_write_file_atomic(path, text, strlen(text)) == 0);
    CHECK(keys_load(&m) == 0);
    CHECK_EQ_INT(keys_lookup(&m, KEYS_FN | KEY_F(10), KEYS_CTX_GLOBAL), KEYS_QUIT);
    text = "quit = nothing\n";
    CHECK(unum_write_file_atomic(path, text, strlen(text)) == 0);
    CHECK(keys_load(&m) == -1);
    CHECK_ERR("unum/keys:1: unknown key 'nothing'");
    if (old) setenv("XDG_CONFIG_HOME", old, 1);
    else unsetenv("XDG_CONFIG_HOME");
    free(old), free(dir), free(path);
    test_tmp_remove(tmp);
}

/* --------------------------------------------------------------- help */

TEST(keys_help_lists_every_action) {
    Keymap m;
    const char *text = "copy_code =\n";
    REQUIRE(keys_parse(&m, text, strlen(text), "keys") == 0);
    char **lines;
    int n;
    keys_help(&m, &lines, &n);
    REQUIRE(n > KEYS_N_ACTIONS);
    for (int a = 0; a < KEYS_N_ACTIONS; a++) {
        int found = 0;
        for (int i = 0; i < n; i++)
            found |= strstr(lines[i], keys_action_description(a)) &&
                     strstr(lines[i], keys_action_name(a));
        if (!found) test_fail(__FILE__, __LINE__, "help lacks %s", keys_action_name(a));
    }
    CHECK_STR(lines[0], "Everywhere");
    /* aligned: every action line has its name at the same column */
    const char *q = NULL, *s = NULL;
    for (int i = 0; i < n; i++) {
        if (strstr(lines[i], " quit ")) q = lines[i];
        if (strstr(lines[i], " send ")) s = lines[i];
    }
    REQUIRE(q && s);
    CHECK_EQ_INT(strstr(q, " quit ") - q, strstr(s, " send ") - s);
    CHECK(strncmp(q, "  C-q ", 6) == 0);
    int none = 0, newline = 0;
    for (int i = 0; i < n; i++) {
        none |= strstr(lines[i], "(none)") && strstr(lines[i], "copy_code");
        newline |= strstr(lines[i], "M-Enter, C-j") != NULL;
    }
    CHECK(none);
    CHECK(newline);
    keys_help_free(lines, n);
}

/* ------------------------------------------------------------ handlers */

/* Presses every key bound in m in every context: each one that names an
 * action must reach a handler of the app (app.c's pane and overlay tables). */
static void every_bound_key_has_a_handler(const Keymap *m) {
    for (int c = 0; c < KEYS_N_CONTEXTS; c++)
        for (int a = 0; a < KEYS_N_ACTIONS; a++) {
            KeyContext own = keys_action_context((KeyAction)a);
            if (own != (KeyContext)c && own != KEYS_CTX_GLOBAL) continue;
            /* the sessions and meetings overlays are modal: of the global
             * keys only quit acts there */
            if ((c == KEYS_CTX_SESSIONS || c == KEYS_CTX_MEETINGS) && own == KEYS_CTX_GLOBAL &&
                a != KEYS_QUIT)
                continue;
            for (int k = 0; k < m->n[a]; k++) {
                KeyAction got = keys_lookup(m, m->key[a][k], (KeyContext)c);
                char name[KEYS_NAME_MAX];
                if (got == KEYS_NONE) continue; /* a printable key the editor keeps as text */
                if (!app_action_handled((KeyContext)c, got))
                    test_fail(__FILE__, __LINE__, "%s in %s: action %s has no handler",
                              keys_name(m->key[a][k], name), keys_context_name((KeyContext)c),
                              keys_action_name(got));
            }
        }
}

TEST(keys_every_action_has_a_handler) {
    for (int a = 0; a < KEYS_N_ACTIONS; a++)
        if (!app_action_handled(keys_action_context((KeyAction)a), (KeyAction)a))
            test_fail(__FILE__, __LINE__, "action %s has no handler", keys_action_name((KeyAction)a));
    CHECK(!app_action_handled(KEYS_CTX_GLOBAL, KEYS_NONE));
    CHECK(!app_action_handled(KEYS_CTX_GLOBAL, KEYS_N_ACTIONS));
}

TEST(keys_every_bound_key_has_a_handler) {
    Keymap m;
    keys_defaults(&m);
    every_bound_key_has_a_handler(&m);
    /* rebound: the pane actions on other keys, the paging keys on F-keys */
    const char *f = "persona_pick = o\npersona_edit = E\npersona_new = N\n"
                    "template_pick = o\ntemplate_edit = E\ntemplate_new = N\ntemplate_report = R\n"
                    "session_open = o\nsession_delete = x\npage_top = M-F5\npage_bottom = F10\n";
    REQUIRE(keys_parse(&m, f, strlen(f), "keys") == 0);
    every_bound_key_has_a_handler(&m);
    CHECK_EQ_INT(keys_lookup(&m, 'x', KEYS_CTX_SESSIONS), KEYS_SESSION_DELETE);
    CHECK_EQ_INT(keys_lookup(&m, KEYS_ALT | KEYS_FN | KEY_F(5), KEYS_CTX_INPUT), KEYS_PAGE_TOP);
}

/* ------------------------------------------------------- bad lines */

/* A bad line is reported with its file and line and passed over; every
 * other line applies (a key file with one typo keeps the user's other
 * bindings), and a conflict sends the later binding back to its defaults. */
TEST(keys_bad_line_reported_and_the_rest_applied) {
    Keymap m;
    const char *text = "quit = F10\n"
                       "help = NoSuchKey\n"
                       "persona_pick = o\n"
                       "regenerate = F10\n";
    CHECK(keys_parse(&m, text, strlen(text), "/c/unum/keys") == -1);
    CHECK_ERR("/c/unum/keys:2: unknown key 'NoSuchKey'");
    CHECK_ERR("and 1 more problems");
    CHECK_EQ_INT(keys_lookup(&m, KEYS_FN | KEY_F(10), KEYS_CTX_GLOBAL), KEYS_QUIT);
    CHECK_EQ_INT(keys_lookup(&m, 'o', KEYS_CTX_PERSONAS), KEYS_PERSONA_PICK);
    /* the bad line left help as it was, and regenerate (bound later than
     * quit to the same key) keeps its default */
    CHECK_EQ_INT(keys_lookup(&m, KEYS_FN | KEY_F(1), KEYS_CTX_GLOBAL), KEYS_HELP);
    CHECK_EQ_INT(keys_lookup(&m, 18, KEYS_CTX_GLOBAL), KEYS_REGENERATE);
    /* one bad line alone: its message, no count */
    text = "quit = F10 nothing\npersona_pick = o\n";
    CHECK(keys_parse(&m, text, strlen(text), "keys") == -1);
    CHECK_ERR("keys:1: unknown key 'nothing'");
    CHECK(!strstr(unum_error(), "more problems"));
    CHECK_EQ_INT(keys_lookup(&m, 17, KEYS_CTX_GLOBAL), KEYS_QUIT);
    CHECK_EQ_INT(keys_lookup(&m, KEYS_FN | KEY_F(10), KEYS_CTX_GLOBAL), KEYS_NONE);
    CHECK_EQ_INT(keys_lookup(&m, 'o', KEYS_CTX_PERSONAS), KEYS_PERSONA_PICK);
    /* a line that is not UTF-8 is passed over too */
    text = "quit = F10\nhelp = \xff\n";
    CHECK(keys_parse(&m, text, strlen(text), "keys") == -1);
    CHECK_ERR("keys:2: invalid UTF-8");
    CHECK_EQ_INT(keys_lookup(&m, KEYS_FN | KEY_F(10), KEYS_CTX_GLOBAL), KEYS_QUIT);
}
