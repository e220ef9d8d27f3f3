/* history.c - the chat's history as the store keeps it: a tree of messages
 * of which the chat shows one branch; replies stored while they stream;
 * stepping between versions; editing, regenerating and deleting any message;
 * the y/n question that guards what cannot be undone. See pane.h. */
#include "tui/app/pane.h"

#include "engine/base/util.h"
#include "tui/core/worker.h"

#include <stdio.h>
#include <string.h>

#define NCURSES_WIDECHAR 1
#include <ncursesw/curses.h>

/* ------------------------------------------------------------ storing */

static StoreMessageStatus status_of(const Msg *m) {
    return m->cancelled ? STORE_MSG_CANCELLED : m->partial ? STORE_MSG_PARTIAL : STORE_MSG_COMPLETE;
}

void history_store(App *a, Msg *m, int tokens, double ms) {
    if (!a->st || !a->session) return;
    int rc;
    if (m->id) {
        rc = store_message_update(a->st, m->id, m->text, tokens, ms, status_of(m));
    } else {
        /* the message above it on screen is its parent: after an edit or a
         * regenerate, that makes it a sibling of the version it replaces */
        int64_t parent = m > a->msgs ? m[-1].id : 0;
        rc = store_message_add_after(a->st, a->session, parent, m->role, m->text, tokens, ms,
                                     status_of(m), &m->id);
        if (!rc) rc = store_message_place(a->st, m->id, &m->sibling, &m->n_siblings);
    }
    if (rc) app_note(a, 1, "%s", unum_error());
}

void history_reply_token(App *a) {
    if (!a->replying || !a->n_msgs) return;
    Msg *m = &a->msgs[a->n_msgs - 1];
    a->reply_tokens++;
    double now = unum_now();
    if (m->id && (now - a->reply_saved_t) * 1000 < HISTORY_SAVE_MS) return;
    m->partial = 1;
    history_store(a, m, a->reply_tokens, 0);
    a->reply_saved_t = now;
}

void history_reply_drop(App *a) {
    if (!a->replying || !a->n_msgs) return;
    Msg *m = &a->msgs[a->n_msgs - 1];
    if (a->st && m->id && store_message_delete(a->st, m->id, NULL))
        app_note(a, 1, "%s", unum_error());
    m->id = 0;
}

/* ------------------------------------------------------------ versions */

static int busy(App *a) {
    if (!a->replying) return 0;
    app_note(a, 1, "a reply is being written (Esc cancels it)");
    return 1;
}

/* Drops messages i.. from the screen (they stay in the store). */
static void truncate_at(App *a, int i) {
    while (a->n_msgs > i) app_msg_free(&a->msgs[--a->n_msgs]);
    if (a->sel >= a->n_msgs) a->sel = a->n_msgs - 1;
    if (a->sel < 0) a->selecting = 0, a->sel = 0;
    a->scroll = 0;
    a->dirty = 1;
}

void history_step(App *a, int i, int delta) {
    if (busy(a) || i < 0 || i >= a->n_msgs) return;
    const Msg *m = &a->msgs[i];
    if (!a->st || !m->id) return app_note(a, 1, "this message is not stored");
    if (m->n_siblings < 2) return app_note(a, 0, "this message has no other version");
    int64_t to;
    if (store_message_sibling(a->st, m->id, delta, &to) ||
        store_session_view(a->st, a->session, to))
        return app_note(a, 1, "%s", unum_error());
    int selecting = a->selecting;
    app_session_load(a, a->session);
    if (selecting && i < a->n_msgs) a->selecting = 1, a->sel = i;
    if (i < a->n_msgs)
        app_note(a, 0, "version %d of %d", a->msgs[i].sibling, a->msgs[i].n_siblings);
}

void history_regenerate(App *a, int i) {
    if (busy(a) || i < 0 || i >= a->n_msgs) return;
    /* a user message: its reply is written again */
    int at = strcmp(a->msgs[i].role, "user") ? i : i + 1;
    if (at == 0 || strcmp(a->msgs[at - 1].role, "user"))
        return app_note(a, 1, "no message of yours to reply to");
    truncate_at(a, at);
    a->selecting = 0;
    app_ask(a);
}

void history_edit(App *a, int i) {
    if (busy(a)) return;
    while (i >= 0 && i < a->n_msgs && strcmp(a->msgs[i].role, "user")) i--;
    if (i < 0 || i >= a->n_msgs) return app_note(a, 1, "no message of yours to edit");
    if (a->msgs[i].audio) return app_note(a, 1, "a voice message cannot be edited");
    ed_set(&a->ed, a->msgs[i].text);
    truncate_at(a, i);
    a->selecting = 0;
    app_note(a, 0, "editing the message: Enter sends it as a new version (the old one stays)");
}

static void delete_yes(App *a) {
    int n = 0;
    if (store_message_delete(a->st, a->ask_id, &n)) return app_note(a, 1, "%s", unum_error());
    int sel = a->sel;
    app_session_load(a, a->session);
    if (a->n_msgs) a->selecting = 1, a->sel = sel < a->n_msgs ? sel : a->n_msgs - 1;
    app_note(a, 0, "%d message%s deleted", n, n == 1 ? "" : "s");
}

void history_delete(App *a, int i) {
    if (busy(a) || i < 0 || i >= a->n_msgs) return;
    if (!a->st || !a->msgs[i].id) {
        truncate_at(a, i);
        return;
    }
    a->ask_id = a->msgs[i].id;
    int after = a->n_msgs - 1 - i;
    char q[256];
    if (after)
        snprintf(q, sizeof q,
                 "Delete this message and the %d after it (with their other versions)?", after);
    else snprintf(q, sizeof q, "Delete this message?");
    history_ask(a, q, delete_yes);
}

/* ------------------------------------------------------------ quitting */

static void quit_yes(App *a) {
    if (a->replying && a->n_msgs) {
        /* what was written is kept, as Esc keeps it */
        Msg *m = &a->msgs[a->n_msgs - 1];
        worker_cancel(a->wk);
        m->cancelled = 1, m->partial = 0;
        history_store(a, m, a->reply_tokens, 0);
        a->replying = 0;
    }
    a->quit = 1;
}

void history_quit(App *a) {
    if (a->ov == OV_ASK || (!a->replying && !a->cap && !a->voice)) {
        a->ov = OV_NONE;
        a->quit = 1;
        return;
    }
    history_ask(a,
                a->replying ? "A reply is being written. Quit anyway (what was written is kept)?"
                : a->cap    ? "A recording is running. Stop it and quit?"
                            : "A voice message is being recorded. Keep it unsent and quit?",
                quit_yes);
}

/* ------------------------------------------------------------ the question */

void history_ask(App *a, const char *text, void (*yes)(App *a)) {
    snprintf(a->ask_text, sizeof a->ask_text, "%s", text);
    a->ask_yes = yes;
    a->ov = OV_ASK;
    a->dirty = 1;
}

void history_ask_draw(App *a, Rect b) {
    ui_put(b.y, b.x, a->ask_text, strlen(a->ask_text), b.w);
    static const char keys[] = "y: yes   n or Esc: no";
    if (b.h > 2) ui_put(b.y + 2, b.x, keys, sizeof keys - 1, b.w);
}

void history_ask_key(App *a, int key) {
    void (*yes)(App *) = a->ask_yes;
    a->ov = OV_NONE;
    a->ask_yes = NULL;
    if ((key == 'y' || key == 'Y') && yes) yes(a);
    else app_note(a, 0, "nothing done");
}
