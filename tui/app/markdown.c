/* markdown.c - light markdown to styled display lines; see markdown.h.
 *
 * One pass over the source lines. A line is a fence, a code line (inside a
 * fence), blank, or a block line: quote bars, then a rule, a heading, a list
 * item or plain text. A block line becomes a prefix (quote bars, bullet) and
 * content; the content goes through the inline parser (which hides markers
 * and styles every byte), is sanitized for the terminal, and is wrapped to
 * the width left after the prefix. Each step is linear in the line, so
 * rendering the whole reply again after every streamed token stays cheap. */
#include "tui/app/markdown.h"

#include "tui/app/textwrap.h"
#include "engine/base/util.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ------------------------------------------------------------ styled bytes */

/* A growing byte string with one style per byte. */
typedef struct {
    char *s;
    unsigned *st;
    size_t n, cap;
} Styled;

static void sty_put(Styled *b, const char *p, size_t k, unsigned style) {
    if (k == 0) return;
    if (b->n + k > b->cap) {
        while (b->n + k > b->cap) b->cap = b->cap ? 2 * b->cap : 64;
        b->s = xrealloc(b->s, b->cap);
        b->st = xrealloc(b->st, b->cap * sizeof *b->st);
    }
    memcpy(b->s + b->n, p, k);
    for (size_t i = 0; i < k; i++) b->st[b->n + i] = style;
    b->n += k;
}

static void sty_puts(Styled *b, const char *p, unsigned style) { sty_put(b, p, strlen(p), style); }

/* Appends src's bytes [a, e) with their styles. */
static void sty_append(Styled *b, const Styled *src, size_t a, size_t e) {
    if (e <= a) return;
    size_t at = b->n;
    sty_put(b, src->s + a, e - a, 0);
    memcpy(b->st + at, src->st + a, (e - a) * sizeof *b->st);
}

static void sty_free(Styled *b) {
    free(b->s);
    free(b->st);
    memset(b, 0, sizeof *b);
}

/* Cuts b to its longest prefix of at most cols columns. */
static void sty_cut(Styled *b, int cols) { b->n = tw_fit(b->s, b->n, cols, NULL); }

/* ------------------------------------------------------------ source lines */

typedef struct {
    const char *text;
    size_t len, pos;
} Lines;

/* The next source line (without its '\n' or a '\r' before it); 0 at the
 * end. Text ending in '\n' has no empty line after it. */
static int lines_next(Lines *it, const char **p, size_t *n) {
    if (it->pos >= it->len) return 0;
    const char *a = it->text + it->pos;
    const char *nl = memchr(a, '\n', it->len - it->pos);
    size_t k = nl ? (size_t)(nl - a) : it->len - it->pos;
    it->pos += k + (nl != NULL);
    if (k && a[k - 1] == '\r') k--;
    *p = a;
    *n = k;
    return 1;
}

static int is_blank(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t') return 0;
    return 1;
}

static size_t skip_spaces(const char *p, size_t n, size_t i, size_t max) {
    size_t start = i;
    while (i < n && p[i] == ' ' && i - start < max) i++;
    return i;
}

/* ------------------------------------------------------------ fences */

typedef struct {
    char ch;       /* '`' or '~' */
    size_t len;    /* fence length, >= 3 */
    size_t indent; /* spaces before the opening fence, stripped from code lines */
} Fence;

/* An opening fence: spaces, three or more '`' or '~', an info string whose
 * first word is the language (a backtick fence's info has no backtick, so
 * "```x```" on one line is inline code). */
static int fence_open(const char *p, size_t n, Fence *f, const char **lang, size_t *lang_n) {
    size_t i = skip_spaces(p, n, 0, SIZE_MAX);
    if (i >= n || (p[i] != '`' && p[i] != '~')) return 0;
    char ch = p[i];
    size_t j = i;
    while (j < n && p[j] == ch) j++;
    if (j - i < 3) return 0;
    if (ch == '`' && memchr(p + j, '`', n - j)) return 0;
    *f = (Fence){ch, j - i, i};
    while (j < n && (p[j] == ' ' || p[j] == '\t')) j++;
    size_t e = j;
    while (e < n && p[e] != ' ' && p[e] != '\t') e++;
    *lang = p + j;
    *lang_n = e - j;
    return 1;
}

/* A closing fence for f: spaces, at least f->len of f->ch, then only spaces. */
static int fence_close(const char *p, size_t n, const Fence *f) {
    size_t i = skip_spaces(p, n, 0, SIZE_MAX), j = i;
    while (j < n && p[j] == f->ch) j++;
    return j - i >= f->len && is_blank(p + j, n - j);
}

/* Strips up to the fence's indent of leading spaces from a code line. */
static void fence_strip(const Fence *f, const char **p, size_t *n) {
    size_t i = skip_spaces(*p, *n, 0, f->indent);
    *p += i;
    *n -= i;
}

/* ------------------------------------------------------------ inline markup */

#define MD_MAX_TICKS 32 /* longer backtick runs are literal */
#define MD_NONE SIZE_MAX

typedef struct {
    size_t start; /* the remaining delimiters are [start, start + cnt) */
    int cnt;
} Delim;

static int is_word_byte(unsigned char c) { return isalnum(c) || c >= 0x80; }
static int is_ascii_punct(unsigned char c) { return c < 0x80 && ispunct(c); }

/* Parses the inline markup of p[0..m) and appends its visible bytes to out,
 * each styled base | (bold, italic, code where they apply). Code spans are
 * found first (an opening backtick run pairs with the next run of the same
 * length, looked up in a table built right to left); emphasis delimiters
 * pair through one stack per character, and styles are counted with
 * difference arrays, so nesting costs nothing extra: linear in m. */
static void md_inline(const char *p, size_t m, unsigned base, Styled *out) {
    if (m == 0) return;
    char *hide = xcalloc(m, 1);
    int *d_bold = xcalloc(m + 1, sizeof *d_bold), *d_ital = xcalloc(m + 1, sizeof *d_ital),
        *d_code = xcalloc(m + 1, sizeof *d_code);
    /* backtick runs and, for each, the next run of the same length */
    size_t *rs = xmalloc(m * sizeof *rs), *rl = xmalloc(m * sizeof *rl),
           *rnext = xmalloc(m * sizeof *rnext), nr = 0;
    for (size_t i = 0; i < m;) {
        if (p[i] != '`') {
            i++;
            continue;
        }
        size_t j = i;
        while (j < m && p[j] == '`') j++;
        rs[nr] = i;
        rl[nr++] = j - i;
        i = j;
    }
    size_t last[MD_MAX_TICKS + 1];
    for (int L = 0; L <= MD_MAX_TICKS; L++) last[L] = MD_NONE;
    for (size_t r = nr; r-- > 0;) {
        rnext[r] = rl[r] <= MD_MAX_TICKS ? last[rl[r]] : MD_NONE;
        if (rl[r] <= MD_MAX_TICKS) last[rl[r]] = rs[r];
    }
    Delim *stack[2] = {xmalloc(m * sizeof(Delim)), xmalloc(m * sizeof(Delim))};
    size_t depth[2] = {0, 0}, ri = 0;

    for (size_t i = 0; i < m;) {
        char ch = p[i];
        if (ch == '\\' && i + 1 < m && is_ascii_punct((unsigned char)p[i + 1])) {
            hide[i] = 1;
            i += 2;
            continue;
        }
        if (ch == '`') {
            while (ri < nr && rs[ri] < i) ri++;
            if (ri == nr || rs[ri] != i) { /* inside a run cut by an escape */
                i++;
                continue;
            }
            size_t L = rl[ri], close = rnext[ri];
            if (close == MD_NONE) {
                i += L;
                continue;
            }
            size_t a = i + L, b = close;
            memset(hide + i, 1, L);
            memset(hide + close, 1, L);
            if (b - a >= 2 && p[a] == ' ' && p[b - 1] == ' ') hide[a] = hide[b - 1] = 1;
            d_code[a]++;
            d_code[b]--;
            i = close + L;
            continue;
        }
        if (ch != '*' && ch != '_') {
            i++;
            continue;
        }
        size_t L = i;
        while (L < m && p[L] == ch) L++;
        L -= i;
        unsigned char before = i ? (unsigned char)p[i - 1] : ' ';
        unsigned char after = i + L < m ? (unsigned char)p[i + L] : ' ';
        int can_open = !isspace(after), can_close = i > 0 && !isspace(before);
        if (ch == '_') {
            can_open = can_open && !is_word_byte(before);
            can_close = can_close && !is_word_byte(after);
        }
        int which = ch == '_';
        Delim *st = stack[which];
        size_t cs = i;
        int cc = (int)(L < 1000000 ? L : 1000000);
        while (can_close && cc > 0 && depth[which] > 0) {
            Delim *o = &st[depth[which] - 1];
            int use = o->cnt >= 2 && cc >= 2 ? 2 : 1;
            size_t oe = o->start + (size_t)o->cnt;
            memset(hide + oe - use, 1, (size_t)use);
            memset(hide + cs, 1, (size_t)use);
            int *d = use == 2 ? d_bold : d_ital;
            d[oe]++;
            d[cs]--;
            o->cnt -= use;
            cs += (size_t)use;
            cc -= use;
            if (o->cnt == 0) depth[which]--;
        }
        if (cc > 0 && can_open) st[depth[which]++] = (Delim){cs, cc};
        i += L;
    }

    int bold = 0, ital = 0, code = 0;
    for (size_t i = 0; i < m; i++) {
        bold += d_bold[i];
        ital += d_ital[i];
        code += d_code[i];
        if (hide[i]) continue;
        unsigned s =
            base | (bold > 0 ? MD_BOLD : 0) | (ital > 0 ? MD_ITALIC : 0) | (code > 0 ? MD_CODE : 0);
        sty_put(out, p + i, 1, s);
    }
    free(hide);
    free(d_bold);
    free(d_ital);
    free(d_code);
    free(rs);
    free(rl);
    free(rnext);
    free(stack[0]);
    free(stack[1]);
}

/* ------------------------------------------------------------ sanitizing */

static const char REPLACEMENT[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Replaces every character of out wider than avail columns by U+FFFD.
 * Returns whether it replaced any. */
static int md_replace_wide(Styled *out, int avail) {
    size_t i = 0;
    while (i < out->n) {
        size_t j = tw_next_char(out->s, out->n, i);
        if (tw_width(out->s + i, j - i) > avail) break;
        i = j;
    }
    if (i >= out->n) return 0;
    Styled fixed = {0};
    for (size_t a = 0; a < out->n;) {
        size_t b = tw_next_char(out->s, out->n, a);
        if (tw_width(out->s + a, b - a) > avail) sty_put(&fixed, REPLACEMENT, 3, out->st[a]);
        else sty_put(&fixed, out->s + a, b - a, out->st[a]);
        a = b;
    }
    sty_free(out);
    *out = fixed;
    return 1;
}

/* Copies in to out as terminal-safe text for lines avail columns wide:
 * invalid bytes become U+FFFD, tabs spaces to the next stop, other control
 * characters vanish, and a character wider than avail becomes U+FFFD. */
static void md_sanitize(const Styled *in, int avail, Styled *out) {
    out->n = 0;
    int col = 0;
    for (size_t i = 0; i < in->n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)in->s + i,
                                              (utf8proc_ssize_t)(in->n - i), &cp);
        if (k <= 0) {
            sty_put(out, REPLACEMENT, 3, in->st[i]);
            col++;
            i++;
        } else if (cp == '\t') {
            for (int t = 4 - col % 4; t > 0; t--, col++) sty_put(out, " ", 1, in->st[i]);
            i++;
        } else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
            i += (size_t)k;
        } else {
            sty_put(out, in->s + i, (size_t)k, in->st[i]);
            int w = utf8proc_charwidth(cp);
            col += w > 0 ? w : 0;
            i += (size_t)k;
        }
    }
    /* too-wide characters: only at tiny widths, so further passes are fine.
     * A U+FFFD put after a character that ends in a zero-width joiner joins
     * it, and the joined pair may again be too wide, so passes repeat until
     * none replaces anything; each replacement lowers the count of code
     * points or of wide ones, so the loop ends. */
    while (md_replace_wide(out, avail)) {
    }
}

/* ------------------------------------------------------------ output lines */

typedef struct {
    MdDoc *doc;
    int cols;
    Styled pre1, pre2; /* prefix of the first and of continuation lines */
    Styled raw;        /* content after inline parsing */
    Styled text;       /* content sanitized */
    Styled line;       /* the line being assembled */
} Ctx;

/* Appends one line made of b's bytes; styled runs become spans. */
static void md_emit(MdDoc *doc, const Styled *b, unsigned block, int code_block) {
    if (doc->n == doc->cap) {
        doc->cap = doc->cap ? 2 * doc->cap : 32;
        doc->line = xrealloc(doc->line, (size_t)doc->cap * sizeof *doc->line);
    }
    MdLine *l = &doc->line[doc->n++];
    memset(l, 0, sizeof *l);
    l->text = xmalloc(b->n + 1);
    if (b->n) memcpy(l->text, b->s, b->n);
    l->text[b->n] = 0;
    l->len = (int)b->n;
    l->block = block;
    l->code_block = code_block;
    int cap = 0;
    for (size_t i = 0; i < b->n;) {
        size_t j = i + 1;
        while (j < b->n && b->st[j] == b->st[i]) j++;
        if (b->st[i]) {
            if (l->n_spans == cap) {
                cap = cap ? 2 * cap : 4;
                l->spans = xrealloc(l->spans, (size_t)cap * sizeof *l->spans);
            }
            l->spans[l->n_spans++] = (MdSpan){(int)i, (int)(j - i), b->st[i]};
        }
        i = j;
    }
}

static void md_emit_empty(Ctx *c, unsigned block, int code_block) {
    c->line.n = 0;
    md_emit(c->doc, &c->line, block, code_block);
}

/* The width left for content after the prefixes, cutting them first so that
 * at least one column remains. */
static int md_prefix_fit(Ctx *c) {
    sty_cut(&c->pre1, c->cols - 1);
    sty_cut(&c->pre2, c->cols - 1);
    int w1 = tw_width(c->pre1.s, c->pre1.n), w2 = tw_width(c->pre2.s, c->pre2.n);
    return c->cols - (w1 > w2 ? w1 : w2);
}

/* Wraps c->raw under the prefixes and emits the lines. */
static void md_paragraph(Ctx *c, unsigned block) {
    int avail = md_prefix_fit(c);
    md_sanitize(&c->raw, avail, &c->text);
    TwLine *tl;
    int k = tw_wrap(c->text.s, c->text.n, avail, 0, &tl);
    for (int i = 0; i < k; i++) {
        const Styled *pre = i ? &c->pre2 : &c->pre1;
        c->line.n = 0;
        sty_append(&c->line, pre, 0, pre->n);
        sty_append(&c->line, &c->text, tl[i].start, tl[i].end);
        md_emit(c->doc, &c->line, block, -1);
    }
    free(tl);
}

/* ------------------------------------------------------------ code blocks */

/* One source line of fenced block k: cut at the width, never reflowed. */
static void md_code_line(Ctx *c, const char *p, size_t n, int k) {
    c->raw.n = 0;
    sty_put(&c->raw, p, n, 0);
    md_sanitize(&c->raw, c->cols, &c->text);
    const char *t = c->text.n ? c->text.s : "";
    size_t i = 0;
    do {
        size_t take = tw_fit(t + i, c->text.n - i, c->cols, NULL);
        c->line.n = 0;
        sty_put(&c->line, t + i, take, 0);
        md_emit(c->doc, &c->line, MD_CODEBLOCK, k);
        i += take;
    } while (i < c->text.n);
}

char *md_code_block(const char *text, size_t len, int k) {
    Lines it = {text, len, 0};
    const char *p, *lang;
    size_t n, lang_n;
    Fence f;
    int in_code = 0, idx = -1;
    Styled out = {0};
    while (lines_next(&it, &p, &n)) {
        if (!in_code) {
            if (fence_open(p, n, &f, &lang, &lang_n)) {
                in_code = 1;
                idx++;
            }
            continue;
        }
        if (fence_close(p, n, &f)) {
            in_code = 0;
            if (idx == k) break;
            continue;
        }
        if (idx != k) continue;
        fence_strip(&f, &p, &n);
        sty_put(&out, p, n, 0);
        sty_put(&out, "\n", 1, 0);
    }
    if (idx < k || k < 0) {
        sty_free(&out);
        return NULL;
    }
    char *s = xmalloc(out.n + 1);
    if (out.n) memcpy(s, out.s, out.n);
    s[out.n] = 0;
    sty_free(&out);
    return s;
}

/* ------------------------------------------------------------ block lines */

/* A thematic break: three or more of one of - * _, spaces allowed between. */
static int is_rule(const char *p, size_t n) {
    size_t i = skip_spaces(p, n, 0, 3);
    if (i >= n || (p[i] != '-' && p[i] != '*' && p[i] != '_')) return 0;
    char ch = p[i];
    int count = 0;
    for (; i < n; i++) {
        if (p[i] == ch) count++;
        else if (p[i] != ' ' && p[i] != '\t') return 0;
    }
    return count >= 3;
}

/* A list marker at p[i..]: "- ", "* ", "+ " or 1-9 digits and ". " or ") ".
 * Returns the marker's length without its space (0 when none). */
static size_t list_marker(const char *p, size_t n, size_t i) {
    if (i + 1 < n && (p[i] == '-' || p[i] == '*' || p[i] == '+') && p[i + 1] == ' ') return 1;
    size_t j = i;
    while (j < n && j - i < 9 && isdigit((unsigned char)p[j])) j++;
    if (j > i && j + 1 < n && (p[j] == '.' || p[j] == ')') && p[j + 1] == ' ') return j + 1 - i;
    return 0;
}

#define MD_MAX_DEPTH 8 /* quote and list levels drawn; deeper ones flatten */

static void md_block_line(Ctx *c, const char *p, size_t n) {
    c->pre1.n = c->pre2.n = c->raw.n = 0;
    /* quote bars */
    size_t i = 0;
    int depth = 0;
    for (;;) {
        size_t j = skip_spaces(p, n, i, 3);
        if (j >= n || p[j] != '>') break;
        i = j + 1 < n && p[j + 1] == ' ' ? j + 2 : j + 1;
        if (depth++ < MD_MAX_DEPTH) {
            sty_puts(&c->pre1, "\xE2\x94\x82 ", MD_QUOTE); /* U+2502 */
            sty_puts(&c->pre2, "\xE2\x94\x82 ", MD_QUOTE);
        }
    }
    unsigned block = depth ? MD_QUOTE : 0;
    const char *q = p + i;
    size_t m = n - i;

    if (is_rule(q, m)) {
        int avail = md_prefix_fit(c);
        c->line.n = 0;
        sty_append(&c->line, &c->pre1, 0, c->pre1.n);
        for (int k = 0; k < avail; k++) sty_puts(&c->line, "\xE2\x94\x80", MD_RULE); /* U+2500 */
        md_emit(c->doc, &c->line, block, -1);
        return;
    }

    /* heading: 1-6 '#' then a space or the end; a closing run of '#' goes */
    size_t h = skip_spaces(q, m, 0, 3), hs = h;
    while (h < m && q[h] == '#') h++;
    if (h > hs && h - hs <= 6 && (h == m || q[h] == ' ' || q[h] == '\t')) {
        size_t a = h, e = m;
        while (a < e && (q[a] == ' ' || q[a] == '\t')) a++;
        while (e > a && (q[e - 1] == ' ' || q[e - 1] == '\t')) e--;
        size_t t = e;
        while (t > a && q[t - 1] == '#') t--;
        if (t == a || q[t - 1] == ' ' || q[t - 1] == '\t') {
            e = t;
            while (e > a && (q[e - 1] == ' ' || q[e - 1] == '\t')) e--;
        }
        md_inline(q + a, e - a, MD_HEADING, &c->raw);
        md_paragraph(c, block ? block : MD_HEADING);
        return;
    }

    /* list item: two leading spaces per nesting level */
    size_t sp = skip_spaces(q, m, 0, SIZE_MAX), mk = list_marker(q, m, sp);
    if (mk) {
        int level = (int)(sp / 2) < MD_MAX_DEPTH ? (int)(sp / 2) : MD_MAX_DEPTH;
        for (int k = 0; k < 2 * level; k++) {
            sty_puts(&c->pre1, " ", 0);
            sty_puts(&c->pre2, " ", 0);
        }
        if (!isdigit((unsigned char)q[sp])) {
            sty_puts(&c->pre1, "\xE2\x80\xA2 ", MD_BULLET); /* U+2022 */
            sty_puts(&c->pre2, "  ", 0);
        } else {
            sty_put(&c->pre1, q + sp, mk, MD_BULLET);
            sty_puts(&c->pre1, " ", MD_BULLET);
            for (size_t k = 0; k <= mk; k++) sty_puts(&c->pre2, " ", 0);
        }
        size_t a = sp + mk + 1;
        while (a < m && q[a] == ' ') a++;
        md_inline(q + a, m - a, 0, &c->raw);
        md_paragraph(c, block);
        return;
    }

    md_inline(q, m, 0, &c->raw);
    md_paragraph(c, block);
}

/* ------------------------------------------------------------ rendering */

static void md_clear_lines(MdDoc *doc) {
    for (int i = 0; i < doc->n; i++) {
        free(doc->line[i].text);
        free(doc->line[i].spans);
    }
    doc->n = 0;
    doc->n_code_blocks = 0;
}

void md_render(MdDoc *doc, const char *text, size_t len, int cols) {
    md_clear_lines(doc);
    Ctx c = {.doc = doc, .cols = cols < 1 ? 1 : cols};
    Lines it = {text, len, 0};
    const char *p, *lang;
    size_t n, lang_n;
    Fence f;
    int in_code = 0, k = -1, prev_blank = 0;
    while (lines_next(&it, &p, &n)) {
        if (in_code) {
            if (fence_close(p, n, &f)) {
                in_code = 0;
                md_emit_empty(&c, MD_CODEBLOCK, k);
            } else {
                fence_strip(&f, &p, &n);
                md_code_line(&c, p, n, k);
            }
            continue;
        }
        if (fence_open(p, n, &f, &lang, &lang_n)) {
            in_code = 1;
            k = doc->n_code_blocks++;
            prev_blank = 0;
            /* the header line: the language, cut to the width */
            c.raw.n = 0;
            sty_put(&c.raw, lang, lang_n, 0);
            md_sanitize(&c.raw, c.cols, &c.text);
            sty_cut(&c.text, c.cols);
            md_emit(doc, &c.text, MD_CODEBLOCK, k);
            continue;
        }
        if (is_blank(p, n)) {
            if (!prev_blank) md_emit_empty(&c, 0, -1);
            prev_blank = 1;
            continue;
        }
        prev_blank = 0;
        md_block_line(&c, p, n);
    }
    sty_free(&c.pre1);
    sty_free(&c.pre2);
    sty_free(&c.raw);
    sty_free(&c.text);
    sty_free(&c.line);
}

void md_free(MdDoc *doc) {
    md_clear_lines(doc);
    free(doc->line);
    memset(doc, 0, sizeof *doc);
}
