/* test_markdown.c - the terminal app's text modules, headless: display
 * width, fitting and wrapping, cursor movement over UTF-8 (tui/app/textwrap.c),
 * and light markdown to styled lines (tui/app/markdown.c). Expected lines are
 * worked out by hand at small widths; a seeded property test feeds random
 * bytes and random markdown-ish text at every width from 1 to 40. */
#include "tests/test.h"
#include "tui/app/markdown.h"
#include "tui/app/textwrap.h"
#include "engine/base/util.h"

#include <stdlib.h>
#include <utf8proc.h>

/* ------------------------------------------------------------ helpers */

#define S(lit) (lit), (sizeof(lit) - 1)

/* The rendered lines joined by '|', a new string. */
static char *md_joined(const MdDoc *d) {
    size_t n = 1;
    for (int i = 0; i < d->n; i++) n += (size_t)d->line[i].len + 1;
    char *s = xmalloc(n), *p = s;
    for (int i = 0; i < d->n; i++) {
        if (i) *p++ = '|';
        memcpy(p, d->line[i].text, (size_t)d->line[i].len);
        p += d->line[i].len;
    }
    *p = 0;
    return s;
}

static void check_render(const char *md, int cols, const char *want, int line, const char *file) {
    MdDoc d = {0};
    md_render(&d, md, strlen(md), cols);
    char *got = md_joined(&d);
    if (strcmp(got, want) != 0)
        test_fail(file, line, "render(\"%s\", %d): \"%s\" vs \"%s\"", md, cols, got, want);
    free(got);
    md_free(&d);
}
#define CHECK_RENDER(md, cols, want) check_render(md, cols, want, __LINE__, __FILE__)

#define CHECK_SPAN(l, k, st, ln, sty)                                                              \
    do {                                                                                           \
        CHECK((k) < (l)->n_spans);                                                                 \
        if ((k) < (l)->n_spans) {                                                                  \
            CHECK_EQ_INT((l)->spans[k].start, st);                                                 \
            CHECK_EQ_INT((l)->spans[k].len, ln);                                                   \
            CHECK_EQ_INT((l)->spans[k].style, sty);                                                \
        }                                                                                          \
    } while (0)

/* ------------------------------------------------------------ width */

TEST(markdown_width) {
    CHECK_EQ_INT(tw_width(S("hello")), 5);
    CHECK_EQ_INT(tw_width(S("")), 0);
    CHECK_EQ_INT(tw_width(S("\xe4\xbd\xa0\xe5\xa5\xbd")), 4); /* 你好 */
    CHECK_EQ_INT(tw_width(S("\xf0\x9f\x98\x80")), 2);         /* emoji */
    CHECK_EQ_INT(tw_width(S("e\xcc\x81")), 1);                /* e + U+0301 */
    CHECK_EQ_INT(tw_width(S("\xcc\x81")), 0);                 /* lone mark */
    CHECK_EQ_INT(tw_width(S("\xff\xfe"
                            "a")),
                 3);                          /* invalid bytes */
    CHECK_EQ_INT(tw_width(S("\xe4\xbd")), 2); /* cut sequence */
    CHECK_EQ_INT(tw_width(S("\x01\x1b")), 0); /* controls */
    CHECK_EQ_INT(tw_width(S("a\tb")), 5);     /* tab to col 4 */
    CHECK_EQ_INT(tw_width(S("abcd\t")), 8);
    CHECK_EQ_INT(tw_width(S("\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd")), 4); /* thumbs + skin tone */
}

TEST(markdown_fit) {
    int used;
    const char *s = "a\xe4\xbd\xa0"
                    "b"; /* a你b */
    CHECK_EQ_INT(tw_fit(s, 5, 2, &used), 1);
    CHECK_EQ_INT(used, 1);
    CHECK_EQ_INT(tw_fit(s, 5, 3, &used), 4);
    CHECK_EQ_INT(used, 3);
    CHECK_EQ_INT(tw_fit(s, 5, 40, &used), 5);
    CHECK_EQ_INT(used, 4);
    CHECK_EQ_INT(tw_fit(s, 5, 0, &used), 0);
    /* a combining sequence is never split from its base */
    CHECK_EQ_INT(tw_fit(S("e\xcc\x81x"), 1, &used), 3);
    CHECK_EQ_INT(used, 1);
    /* nor a ZWJ sequence (man ZWJ woman: 4 columns) */
    CHECK_EQ_INT(tw_fit(S("\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9"), 3, &used), 0);
    CHECK_EQ_INT(tw_fit(S("\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9"), 4, &used), 11);
}

/* ------------------------------------------------------------ wrapping */

static char *wrap_joined(const char *s, int cols, int indent) {
    TwLine *l;
    int k = tw_wrap(s, strlen(s), cols, indent, &l);
    char *out = xmalloc(strlen(s) + (size_t)k * 8 + 1), *p = out;
    for (int i = 0; i < k; i++) {
        if (i) *p++ = '|';
        for (int j = 0; j < l[i].indent; j++) *p++ = '.';
        memcpy(p, s + l[i].start, l[i].end - l[i].start);
        p += l[i].end - l[i].start;
    }
    *p = 0;
    free(l);
    return out;
}

#define CHECK_WRAP(s, cols, indent, want)                                                          \
    do {                                                                                           \
        char *got_ = wrap_joined(s, cols, indent);                                                 \
        CHECK_STR(got_, want);                                                                     \
        free(got_);                                                                                \
    } while (0)

TEST(markdown_wrap) {
    CHECK_WRAP("the quick brown fox", 10, 0, "the quick|brown fox");
    CHECK_WRAP("abcdefghij kl", 4, 0, "abcd|efgh|ij|kl");
    CHECK_WRAP("one two three four", 9, 2, "one two|..three|..four");
    CHECK_WRAP("", 5, 0, "");
    CHECK_WRAP("  indented text", 10, 0, "  indented|text");
    CHECK_WRAP("  indented text", 9, 0, "  indente|d text");
    CHECK_WRAP("a    b", 3, 0, "a|b");
    /* CJK breaks between characters */
    CHECK_WRAP("\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c", 5, 0,
               "\xe4\xbd\xa0\xe5\xa5\xbd|\xe4\xb8\x96\xe7\x95\x8c");
    CHECK_WRAP("ab \xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96", 6, 0,
               "ab \xe4\xbd\xa0|\xe5\xa5\xbd\xe4\xb8\x96");
    /* a wide character at width 1 takes a line alone */
    CHECK_WRAP("\xe4\xbd\xa0x", 1, 0, "\xe4\xbd\xa0|x");
    /* the indent never leaves less than one column */
    CHECK_WRAP("ab cd", 2, 5, "ab|.c|.d");
}

/* ------------------------------------------------------------ cursor */

TEST(markdown_cursor_chars) {
    const char *s = "e\xcc\x81x\xff"
                    "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9"
                    "!";
    size_t n = strlen(s);
    size_t want[] = {0, 3, 4, 5, 16, 17};
    size_t i = 0;
    for (int k = 1; k < 6; k++) {
        i = tw_next_char(s, n, i);
        CHECK_EQ_INT(i, want[k]);
    }
    CHECK_EQ_INT(tw_next_char(s, n, n), n);
    for (int k = 5; k > 0; k--) CHECK_EQ_INT(tw_prev_char(s, n, want[k]), want[k - 1]);
    CHECK_EQ_INT(tw_prev_char(s, n, 0), 0);
    /* from inside a character, back to its start */
    CHECK_EQ_INT(tw_prev_char(s, n, 2), 0);
}

TEST(markdown_cursor_words) {
    /* "hello, wörld  42x-y" */
    const char *s = "hello, w\xc3\xb6rld  42x-y";
    size_t n = strlen(s);
    CHECK_EQ_INT(tw_next_word(s, n, 0), 5);
    CHECK_EQ_INT(tw_next_word(s, n, 5), 13);
    CHECK_EQ_INT(tw_next_word(s, n, 13), 18);
    CHECK_EQ_INT(tw_next_word(s, n, 18), 20);
    CHECK_EQ_INT(tw_next_word(s, n, 20), 20);
    CHECK_EQ_INT(tw_prev_word(s, n, 20), 19);
    CHECK_EQ_INT(tw_prev_word(s, n, 19), 15);
    CHECK_EQ_INT(tw_prev_word(s, n, 15), 7);
    CHECK_EQ_INT(tw_prev_word(s, n, 9), 7);
    CHECK_EQ_INT(tw_prev_word(s, n, 7), 0);
    CHECK_EQ_INT(tw_prev_word(s, n, 0), 0);
    /* CJK letters are word characters */
    const char *c = "\xe4\xbd\xa0\xe5\xa5\xbd \xe4\xb8\x96";
    CHECK_EQ_INT(tw_next_word(c, strlen(c), 0), 6);
    CHECK_EQ_INT(tw_prev_word(c, strlen(c), strlen(c)), 7);
}

TEST(markdown_layout_round_trip) {
    const char *s =
        "hello wide \xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c text\n"
        "second line e\xcc\x81t\xc3\xa9\n\nlast  words here \xf0\x9f\x98\x80\xf0\x9f\x98\x80x";
    size_t n = strlen(s);
    for (int cols = 1; cols <= 12; cols++) {
        TwLayout lay = {0};
        tw_layout(&lay, s, n, cols);
        REQUIRE(lay.n > 0);
        for (int r = 0; r < lay.n; r++) {
            CHECK(lay.row[r].start <= lay.row[r].end);
            if (r) CHECK(lay.row[r].start > lay.row[r - 1].start);
        }
        int prow = 0, pcol = 0;
        for (size_t i = 0;; i = tw_next_char(s, n, i)) {
            int row, col;
            tw_layout_pos(&lay, s, n, i, &row, &col);
            CHECK(col >= 0 && col <= cols + (cols < 2)); /* a wide char alone may overflow */
            CHECK(row > prow || (row == prow && col >= pcol) || i == 0);
            size_t back = tw_layout_offset(&lay, s, n, row, col);
            if (back != i)
                test_fail(__FILE__, __LINE__, "cols %d: offset %zu -> (%d,%d) -> %zu", cols, i, row,
                          col, back);
            prow = row, pcol = col;
            if (i == n) break;
        }
        tw_layout_free(&lay);
    }
    /* exact rows at width 6: the break space hangs in column 6 */
    TwLayout lay = {0};
    const char *t = "hello world\nx";
    tw_layout(&lay, t, strlen(t), 5);
    REQUIRE(lay.n == 3);
    CHECK_EQ_INT(lay.row[0].end, 6);
    CHECK_EQ_INT(lay.row[1].start, 6);
    CHECK_EQ_INT(lay.row[1].end, 11);
    CHECK_EQ_INT(lay.row[2].start, 12);
    int row, col;
    tw_layout_pos(&lay, t, strlen(t), 5, &row, &col);
    CHECK(row == 0 && col == 5);
    tw_layout_pos(&lay, t, strlen(t), 6, &row, &col);
    CHECK(row == 1 && col == 0);
    tw_layout_pos(&lay, t, strlen(t), 11, &row, &col);
    CHECK(row == 1 && col == 5);
    /* Up/Down keep the column, clamped to the row */
    CHECK_EQ_INT(tw_layout_offset(&lay, t, strlen(t), 2, 4), 13);
    CHECK_EQ_INT(tw_layout_offset(&lay, t, strlen(t), 0, 99), 5);
    CHECK_EQ_INT(tw_layout_offset(&lay, t, strlen(t), 9, 0), 12);
    tw_layout_free(&lay);
}

/* ------------------------------------------------------------ markdown */

TEST(markdown_inline_styles) {
    MdDoc d = {0};
    const char *md = "a **b** *c* `d` _e_ __f__";
    md_render(&d, md, strlen(md), 20);
    REQUIRE(d.n == 1);
    CHECK_STR(d.line[0].text, "a b c d e f");
    CHECK_EQ_INT(d.line[0].n_spans, 5);
    CHECK_SPAN(&d.line[0], 0, 2, 1, MD_BOLD);
    CHECK_SPAN(&d.line[0], 1, 4, 1, MD_ITALIC);
    CHECK_SPAN(&d.line[0], 2, 6, 1, MD_CODE);
    CHECK_SPAN(&d.line[0], 3, 8, 1, MD_ITALIC);
    CHECK_SPAN(&d.line[0], 4, 10, 1, MD_BOLD);
    CHECK_EQ_INT(d.line[0].block, 0);
    CHECK_EQ_INT(d.line[0].code_block, -1);
    /* nesting, and code taken literally */
    md_render(&d, S("***x*** **a *b* c** `**no**`"), 40);
    REQUIRE(d.n == 1);
    CHECK_STR(d.line[0].text, "x a b c **no**");
    CHECK_SPAN(&d.line[0], 0, 0, 1, MD_BOLD | MD_ITALIC);
    CHECK_SPAN(&d.line[0], 1, 2, 2, MD_BOLD);
    CHECK_SPAN(&d.line[0], 2, 4, 1, MD_BOLD | MD_ITALIC);
    CHECK_SPAN(&d.line[0], 3, 5, 2, MD_BOLD);
    CHECK_SPAN(&d.line[0], 4, 8, 6, MD_CODE);
    md_free(&d);
    /* literal: inside words for _, spaced stars, escapes, unmatched */
    CHECK_RENDER("snake_case_name and 2 * 3 * 4", 40, "snake_case_name and 2 * 3 * 4");
    CHECK_RENDER("\\*not\\* `` a`b ``", 40, "*not* a`b");
    CHECK_RENDER("**unclosed and `open", 40, "**unclosed and `open");
}

TEST(markdown_headings) {
    MdDoc d = {0};
    md_render(&d, S("## Title **b** ##\n#hashtag\n# C#"), 20);
    REQUIRE(d.n == 3);
    CHECK_STR(d.line[0].text, "Title b");
    CHECK_EQ_INT(d.line[0].block, MD_HEADING);
    CHECK_SPAN(&d.line[0], 0, 0, 6, MD_HEADING);
    CHECK_SPAN(&d.line[0], 1, 6, 1, MD_HEADING | MD_BOLD);
    CHECK_STR(d.line[1].text, "#hashtag");
    CHECK_EQ_INT(d.line[1].block, 0);
    CHECK_STR(d.line[2].text, "C#");
    md_free(&d);
    CHECK_RENDER("# a long heading text", 8, "a long|heading|text");
}

TEST(markdown_lists) {
    CHECK_RENDER("- one two three four five six", 12,
                 "\xe2\x80\xa2 one two|  three four|  five six");
    CHECK_RENDER("12. alpha beta gamma", 12, "12. alpha|    beta|    gamma");
    CHECK_RENDER("* a\n  + nested item\n3) c", 20,
                 "\xe2\x80\xa2 a|  \xe2\x80\xa2 nested item|3) c");
    MdDoc d = {0};
    md_render(&d, S("- **x**"), 20);
    REQUIRE(d.n == 1);
    CHECK_SPAN(&d.line[0], 0, 0, 4, MD_BULLET);
    CHECK_SPAN(&d.line[0], 1, 4, 1, MD_BOLD);
    md_free(&d);
    /* at width 1 the bullet gives way to the text */
    CHECK_RENDER("- ab", 1, "a|b");
    CHECK_RENDER("- ab", 2,
                 "\xe2\x80\xa2"
                 "a|"
                 " b");
}

TEST(markdown_quotes_rules_blanks) {
    MdDoc d = {0};
    md_render(&d, S("> quoted text here"), 10);
    REQUIRE(d.n == 3);
    CHECK_STR(d.line[0].text, "\xe2\x94\x82 quoted");
    CHECK_STR(d.line[1].text, "\xe2\x94\x82 text");
    CHECK_STR(d.line[2].text, "\xe2\x94\x82 here");
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(d.line[i].block, MD_QUOTE);
        CHECK_SPAN(&d.line[i], 0, 0, 4, MD_QUOTE);
    }
    md_render(&d, S("---"), 5);
    REQUIRE(d.n == 1);
    CHECK_STR(d.line[0].text, "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80");
    CHECK_SPAN(&d.line[0], 0, 0, 15, MD_RULE);
    md_free(&d);
    CHECK_RENDER(">> deep", 20, "\xe2\x94\x82 \xe2\x94\x82 deep");
    CHECK_RENDER("a\n\n\n\nb\n", 20, "a||b");
    CHECK_RENDER("\n\na\r\n \t\nb", 20, "|a||b");
    CHECK_RENDER("* * *\n___", 3,
                 "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80|"
                 "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80");
}

TEST(markdown_code_blocks) {
    const char *md = "```c\nint x;\n\tlong_line_here_is_long\n```\nafter `x`";
    MdDoc d = {0};
    md_render(&d, md, strlen(md), 10);
    char *got = md_joined(&d);
    CHECK_STR(got, "c|int x;|    long_l|ine_here_i|s_long||after x");
    free(got);
    REQUIRE(d.n == 7);
    for (int i = 0; i < 6; i++) {
        CHECK_EQ_INT(d.line[i].block, MD_CODEBLOCK);
        CHECK_EQ_INT(d.line[i].code_block, 0);
    }
    CHECK_EQ_INT(d.line[6].block, 0);
    CHECK_EQ_INT(d.line[6].code_block, -1);
    CHECK_EQ_INT(d.n_code_blocks, 1);
    /* markup inside is literal; ~~~ fences; indented fences strip their indent */
    md_render(&d, S("~~~\n**a** # b\n~~~\n1. step\n   ```sh\n   ls -l\n   ```"), 20);
    got = md_joined(&d);
    CHECK_STR(got, "|**a** # b||1. step|sh|ls -l|");
    free(got);
    CHECK_EQ_INT(d.n_code_blocks, 2);
    CHECK_EQ_INT(d.line[5].code_block, 1);
    md_free(&d);
    /* one-line ```x``` is inline code */
    CHECK_RENDER("```x```", 20, "x");
}

TEST(markdown_streaming) {
    MdDoc d = {0};
    /* a half-streamed fence is a code block to the end */
    md_render(&d, S("text\n```py\nprint(1)"), 20);
    REQUIRE(d.n == 3);
    CHECK_EQ_INT(d.n_code_blocks, 1);
    CHECK_STR(d.line[1].text, "py");
    CHECK_STR(d.line[2].text, "print(1)");
    CHECK_EQ_INT(d.line[2].block, MD_CODEBLOCK);
    /* a half-streamed bold is literal until it closes; re-rendering reuses doc */
    md_render(&d, S("some **bol"), 20);
    REQUIRE(d.n == 1);
    CHECK_STR(d.line[0].text, "some **bol");
    CHECK_EQ_INT(d.line[0].n_spans, 0);
    md_render(&d, S("some **bold**"), 20);
    REQUIRE(d.n == 1);
    CHECK_STR(d.line[0].text, "some bold");
    CHECK_SPAN(&d.line[0], 0, 5, 4, MD_BOLD);
    md_render(&d, S(""), 20);
    CHECK_EQ_INT(d.n, 0);
    md_free(&d);
}

TEST(markdown_code_block_extract) {
    const char *md =
        "x\n```py\na\n  b\n```\n~~~\nc\n~~~\n1. s\n   ```\n   ls\n    -l\n   ```\n```\nopen";
    size_t n = strlen(md);
    char *s = md_code_block(md, n, 0);
    CHECK_STR(s, "a\n  b\n");
    free(s);
    s = md_code_block(md, n, 1);
    CHECK_STR(s, "c\n");
    free(s);
    s = md_code_block(md, n, 2);
    CHECK_STR(s, "ls\n -l\n");
    free(s);
    s = md_code_block(md, n, 3);
    CHECK_STR(s, "open\n");
    free(s);
    CHECK(md_code_block(md, n, 4) == NULL);
    CHECK(md_code_block(md, n, -1) == NULL);
    s = md_code_block(S("```\n```"), 0);
    CHECK_STR(s, "");
    free(s);
    /* numbering agrees with md_render */
    MdDoc d = {0};
    md_render(&d, md, n, 20);
    CHECK_EQ_INT(d.n_code_blocks, 4);
    md_free(&d);
}

TEST(markdown_sanitizes) {
    /* invalid bytes become U+FFFD, controls vanish, tabs expand */
    CHECK_RENDER("a\xff"
                 "b\x01\x1b[31mc\td",
                 20,
                 "a\xef\xbf\xbd"
                 "b[31mc    d");
    /* a wide character at width 1 becomes U+FFFD */
    CHECK_RENDER("\xe4\xbd\xa0", 1, "\xef\xbf\xbd");
    CHECK_RENDER("\xe4\xbd\xa0", 2, "\xe4\xbd\xa0");
}

/* ------------------------------------------------------------ properties */

static unsigned lcg_state;
static unsigned lcg(void) {
    lcg_state = lcg_state * 1103515245u + 12345u;
    return (lcg_state >> 8) & 0xffffff;
}

/* Every line at most cols wide, valid UTF-8 without controls, spans sorted,
 * disjoint, in bounds; code lines only in existing blocks. */
static int check_doc(const MdDoc *d, int cols, const char *src) {
    for (int i = 0; i < d->n; i++) {
        const MdLine *l = &d->line[i];
        int w = tw_width(l->text, (size_t)l->len);
        if (w > cols || (int)strlen(l->text) != l->len) {
            test_fail(__FILE__, __LINE__, "line %d \"%s\" is %d wide at %d (source \"%s\")", i,
                      l->text, w, cols, src);
            return 0;
        }
        for (int k = 0; k < l->len;) {
            utf8proc_int32_t cp;
            utf8proc_ssize_t m =
                utf8proc_iterate((const utf8proc_uint8_t *)l->text + k, l->len - k, &cp);
            if (m <= 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
                test_fail(__FILE__, __LINE__, "line %d has a bad byte at %d", i, k);
                return 0;
            }
            k += (int)m;
        }
        int end = 0;
        for (int k = 0; k < l->n_spans; k++) {
            const MdSpan *sp = &l->spans[k];
            if (sp->start < end || sp->len <= 0 || sp->start + sp->len > l->len || !sp->style) {
                test_fail(__FILE__, __LINE__, "line %d span %d out of order", i, k);
                return 0;
            }
            end = sp->start + sp->len;
        }
        if (l->code_block >= d->n_code_blocks ||
            (l->code_block >= 0) != (l->block == MD_CODEBLOCK)) {
            test_fail(__FILE__, __LINE__, "line %d code block %d of %d", i, l->code_block,
                      d->n_code_blocks);
            return 0;
        }
    }
    return 1;
}

/* At width 1 every character wider than the pane shows as one U+FFFD,
 * also when the U+FFFD that replaced one character joins the character
 * before it through a zero-width joiner (fuzz_markdown's seed zwj_width1). */
TEST(markdown_width1_joined_replacement) {
    static const char src[] = "\xe4\xa0 \xbd\xa5\xe5\xcc" "e\xe4\xe4\xbd\xe2\x80\x8d:"
                              "\xe2\x80\x8d\xf8\x9f" "e ``open";
    for (int cols = 1; cols <= 3; cols++) {
        MdDoc d = {0};
        md_render(&d, src, sizeof src - 1, cols);
        check_doc(&d, cols, "zwj_width1");
        md_free(&d);
    }
    MdDoc d = {0};
    md_render(&d, ":\xe2\x80\x8d\xe4\xbd\xa0", 7, 1);
    CHECK_EQ_INT(d.n, 1);
    if (d.n == 1) CHECK_STR(d.line[0].text, "\xef\xbf\xbd");
    md_free(&d);
}

TEST(markdown_property_random) {
    static const char *pieces[] = {"**",
                                   "*",
                                   "_",
                                   "__",
                                   "`",
                                   "``",
                                   "```",
                                   "~~~",
                                   "# ",
                                   "### ",
                                   "- ",
                                   "1. ",
                                   "> ",
                                   "\n",
                                   "\n\n",
                                   " ",
                                   "  ",
                                   "word",
                                   "longerwordthanmost",
                                   "\xe4\xbd\xa0\xe5\xa5\xbd",
                                   "\xc3\xa9",
                                   "e\xcc\x81",
                                   "\xf0\x9f\x98\x80",
                                   "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9",
                                   "\t",
                                   "\xff",
                                   "\xe4\xbd",
                                   "---",
                                   "\\*",
                                   "\\",
                                   "\r\n",
                                   "\x1b",
                                   "12) ",
                                   "\xcc\x81"};
    int np = (int)(sizeof pieces / sizeof pieces[0]);
    char buf[512];
    MdDoc d = {0};
    lcg_state = 12345;
    for (int iter = 0; iter < 3000; iter++) {
        size_t n = 0;
        if (iter % 2) {
            size_t len = lcg() % 200;
            for (; n < len; n++) buf[n] = (char)(lcg() & 0xff);
        } else {
            int k = (int)(lcg() % 40);
            for (int j = 0; j < k; j++) {
                const char *p = pieces[lcg() % (unsigned)np];
                size_t m = strlen(p);
                if (n + m >= sizeof buf) break;
                memcpy(buf + n, p, m);
                n += m;
            }
        }
        buf[n] = 0;
        int cols = 1 + iter % 40;
        md_render(&d, buf, n, cols);
        if (!check_doc(&d, cols, buf)) break;
        for (int k = 0; k < d.n_code_blocks; k++) {
            char *c = md_code_block(buf, n, k);
            CHECK(c != NULL);
            free(c);
        }
        CHECK(md_code_block(buf, n, d.n_code_blocks) == NULL);
        /* the editor layout round-trips on valid text without zero widths */
        if (iter % 10 == 0) {
            TwLayout lay = {0};
            tw_layout(&lay, buf, n, cols);
            for (size_t i = 0; i <= n; i = tw_next_char(buf, n, i)) {
                int row, col;
                tw_layout_pos(&lay, buf, n, i, &row, &col);
                CHECK(row >= 0 && row < lay.n);
                size_t b = tw_layout_offset(&lay, buf, n, row, col);
                CHECK(b <= n);
                if (i == n) break;
            }
            tw_layout_free(&lay);
        }
    }
    md_free(&d);
}

TEST(markdown_property_plain_text_kept) {
    char buf[400], joined[800];
    MdDoc d = {0};
    lcg_state = 777;
    for (int iter = 0; iter < 2000; iter++) {
        size_t n = 0;
        int words = 1 + (int)(lcg() % 30);
        for (int w = 0; w < words && n < 300; w++) {
            if (w) buf[n++] = ' ';
            int len = 1 + (int)(lcg() % 14);
            for (int k = 0; k < len; k++)
                buf[n++] = "abcdefghijklmnopqrstuvwxyz0123456789"[lcg() % 36];
        }
        buf[n] = 0;
        int cols = 1 + iter % 40;
        md_render(&d, buf, n, cols);
        if (!check_doc(&d, cols, buf)) break;
        /* the words come back in order: the lines joined by spaces, with
         * words cut at line ends joined back, equal the source's letters */
        size_t j = 0;
        for (int i = 0; i < d.n; i++)
            for (int k = 0; k < d.line[i].len; k++)
                if (d.line[i].text[k] != ' ') joined[j++] = d.line[i].text[k];
        joined[j] = 0;
        size_t m = 0;
        char letters[400];
        for (size_t k = 0; k < n; k++)
            if (buf[k] != ' ') letters[m++] = buf[k];
        letters[m] = 0;
        if (strcmp(joined, letters) != 0) {
            test_fail(__FILE__, __LINE__, "cols %d: \"%s\" lost text", cols, buf);
            break;
        }
        /* and no line could have taken the next line's first word */
        for (int i = 0; i + 1 < d.n; i++) {
            const char *next = d.line[i + 1].text, *sp = strchr(next, ' ');
            int first = sp ? (int)(sp - next) : d.line[i + 1].len;
            CHECK(d.line[i].len + 1 + first > cols || d.line[i].len == cols);
        }
    }
    md_free(&d);
}
