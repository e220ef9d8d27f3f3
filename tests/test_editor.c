/* test_editor.c - the app's input editor (tui/app/editor.c): editing, movement
 * by character and word, the kill keys, history with the draft kept, and
 * Up/Down through wrapped rows. */
#include "tests/test.h"

#include "tui/app/editor.h"

#include <string.h>

TEST(editor_edits_and_moves) {
    Editor e;
    ed_init(&e);
    ed_insert(&e, "hello wörld", strlen("hello wörld"));
    CHECK_STR(e.buf, "hello wörld");
    ed_word_left(&e);
    CHECK_EQ_INT((int)e.cur, 6);
    ed_left(&e);
    ed_insert(&e, ",", 1);
    CHECK_STR(e.buf, "hello, wörld");
    ed_end(&e);
    ed_backspace(&e);
    ed_backspace(&e);
    CHECK_STR(e.buf, "hello, wör"); /* ö is one character, two bytes */
    ed_delete_word_left(&e);
    CHECK_STR(e.buf, "hello, ");
    ed_home(&e);
    ed_kill_line(&e);
    CHECK_STR(e.buf, "");
    /* control bytes dropped, newline and tab kept, invalid UTF-8 replaced */
    ed_insert(&e, "a\x01" "b\n\tc\xff", 7);
    CHECK_STR(e.buf, "ab\n\tc\xef\xbf\xbd");
    ed_home(&e); /* the start of the second line */
    CHECK_EQ_INT((int)e.cur, 3);
    ed_kill_to_start(&e);
    CHECK_EQ_INT((int)e.cur, 3);
    ed_free(&e);
}

TEST(editor_history_keeps_the_draft) {
    Editor e;
    ed_init(&e);
    ed_remember(&e, "first");
    ed_remember(&e, "second");
    ed_remember(&e, "second"); /* the same as the last: once */
    CHECK_EQ_INT(e.n_hist, 2);
    ed_set(&e, "draft");
    ed_up(&e, 80);
    CHECK_STR(e.buf, "second");
    ed_up(&e, 80);
    CHECK_STR(e.buf, "first");
    ed_up(&e, 80); /* nothing older */
    CHECK_STR(e.buf, "first");
    ed_down(&e, 80);
    CHECK_STR(e.buf, "second");
    ed_down(&e, 80);
    CHECK_STR(e.buf, "draft");
    ed_free(&e);
}

TEST(editor_up_and_down_move_through_wrapped_rows) {
    Editor e;
    ed_init(&e);
    ed_remember(&e, "old");
    /* 30 columns of words in a 11-column editor: several rows */
    ed_set(&e, "aaaa bbbb cccc dddd eeee ffff");
    ed_up(&e, 11); /* from the last row: a row up, not the history */
    CHECK(strcmp(e.buf, "old") != 0);
    CHECK(e.cur < e.len);
    size_t before = e.cur;
    ed_down(&e, 11);
    CHECK(e.cur > before);
    ed_free(&e);
}
