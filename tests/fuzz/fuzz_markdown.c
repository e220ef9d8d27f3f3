/* fuzz_markdown.c - libFuzzer target for the chat pane's markdown layout
 * and the input editor's text helpers (tui/app/markdown.c, tui/app/textwrap.c).
 *
 * The input is chat text, copied into a buffer of exactly its size (so ASan
 * sees any read past it). The first byte picks a width; the text is rendered
 * at that width and at 1, 2 and 80 columns. Every line must be at most the
 * width (tw_width), its spans sorted and inside it, and every code block
 * md_render counted must be extractable. The editor layout of the same text
 * must place every character boundary on a row and map it back in range.
 * Seeds: tests/fuzz/seeds/fuzz_markdown/. */
#include "tui/app/markdown.h"
#include "tui/app/textwrap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what, int cols, int line) {
    fprintf(stderr, "fuzz_markdown: %s (width %d, line %d)\n", what, cols, line);
    abort();
}

static void check_render(const char *s, size_t n, int cols) {
    MdDoc d = {0};
    md_render(&d, s, n, cols);
    for (int i = 0; i < d.n; i++) {
        const MdLine *l = &d.line[i];
        if (tw_width(l->text, (size_t)l->len) > cols) fail("line wider than the width", cols, i);
        if ((int)strlen(l->text) != l->len) fail("line length wrong", cols, i);
        int end = 0;
        for (int k = 0; k < l->n_spans; k++) {
            const MdSpan *sp = &l->spans[k];
            if (sp->start < end || sp->len <= 0 || sp->start + sp->len > l->len)
                fail("span out of order", cols, i);
            end = sp->start + sp->len;
        }
        if (l->code_block >= d.n_code_blocks) fail("unknown code block", cols, i);
    }
    for (int k = 0; k < d.n_code_blocks; k++) {
        char *c = md_code_block(s, n, k);
        if (!c) fail("counted code block missing", cols, k);
        free(c);
    }
    md_free(&d);
}

static void check_layout(const char *s, size_t n, int cols) {
    TwLayout lay = {0};
    tw_layout(&lay, s, n, cols);
    for (size_t i = 0;; i = tw_next_char(s, n, i)) {
        int row, col;
        tw_layout_pos(&lay, s, n, i, &row, &col);
        if (row < 0 || row >= lay.n || col < 0) fail("offset off the layout", cols, row);
        if (tw_layout_offset(&lay, s, n, row, col) > n) fail("offset past the text", cols, row);
        if (tw_prev_char(s, n, tw_next_char(s, n, i)) > i) fail("prev after next", cols, row);
        if (i >= n) break;
    }
    tw_layout_free(&lay);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    int cols = 1 + data[0] % 60;
    char *buf = malloc(size - 1 ? size - 1 : 1);
    if (!buf) return 0;
    memcpy(buf, data + 1, size - 1);
    int widths[] = {cols, 1, 2, 80};
    for (int i = 0; i < 4; i++) check_render(buf, size - 1, widths[i]);
    if (size <= 4096) check_layout(buf, size - 1, cols);
    free(buf);
    return 0;
}
