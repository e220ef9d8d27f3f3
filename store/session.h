/* session.h - chat sessions and their messages.
 *
 * A session has a title, the model and persona it was started with (kept as
 * text, so they stay readable after the persona is removed) and its messages.
 * Timestamps are UTC ISO 8601 strings with milliseconds. Each call is one
 * transaction: a message is either stored whole or not at all.
 *
 * The messages form a tree (schema version 7): each names its parent, the
 * message it follows (none for a first message). Regenerating a reply adds a
 * sibling of it, editing a message adds a sibling of that message; nothing
 * is overwritten. The branch in view is the path from a first message down
 * to one leaf: the most recent leaf (highest id) under the session's view
 * message, or in the whole session when it has none (or that message is
 * gone). Adding a message makes it the view; so does stepping to a sibling.
 * Listing, counting and exporting a session read the branch in view. */
#ifndef UNUM_SESSION_H
#define UNUM_SESSION_H

#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t id;
    char *title, *model, *persona, *created, *updated;
    int64_t n_messages; /* in the branch in view */
} StoreSession;

/* Whether a message's text is whole. A reply is stored as it streams with
 * STORE_MSG_PARTIAL, so that a crash keeps the text so far, and updated in
 * place until it ends. */
typedef enum { STORE_MSG_COMPLETE, STORE_MSG_PARTIAL, STORE_MSG_CANCELLED } StoreMessageStatus;

typedef struct {
    int64_t id, session_id;
    char *role; /* system, user, assistant or tool */
    char *content, *created;
    int tokens;        /* tokens in content */
    double elapsed_ms; /* time it took to produce (0 for typed text) */
    char *model;       /* the model that wrote it ("" for typed text) */
    int64_t parent_id; /* the message it follows; 0 for a first message */
    StoreMessageStatus status;
    int sibling, n_siblings; /* its place (1-based) among the messages with its parent */
} StoreMessage;

int store_session_create(Store *st, const char *title, const char *model, const char *persona,
                         int64_t *id);
int store_session_get(Store *st, int64_t id, StoreSession *out);
/* All sessions, most recently updated first. */
int store_session_list(Store *st, StoreSession **out, size_t *n);
int store_session_rename(Store *st, int64_t id, const char *title);
/* Removes the session with its messages and reports; its recordings stay. */
int store_session_delete(Store *st, int64_t id);
void store_session_free(StoreSession *s);
void store_sessions_free(StoreSession *list, size_t n);

/* Adds a complete message at the end of the branch in view; it becomes the
 * view. */
int store_message_add(Store *st, int64_t session_id, const char *role, const char *content,
                      int tokens, double elapsed_ms, int64_t *id);
/* Adds a message after parent_id (0: a first message), a sibling of the
 * replies parent_id already has; it becomes the view. The parent must be a
 * message of the same session. */
int store_message_add_after(Store *st, int64_t session_id, int64_t parent_id, const char *role,
                            const char *content, int tokens, double elapsed_ms,
                            StoreMessageStatus status, int64_t *id);
/* Rewrites message id's text, tokens, time and status in place (a reply
 * being written, then finished). */
int store_message_update(Store *st, int64_t id, const char *content, int tokens,
                         double elapsed_ms, StoreMessageStatus status);
/* Removes message id and every message after it (its replies, on every
 * branch); the view moves to its parent. *n_removed (may be NULL) counts
 * the messages removed. */
int store_message_delete(Store *st, int64_t id, int *n_removed);
/* Records the model that wrote message id (schema version 5). */
int store_message_set_model(Store *st, int64_t id, const char *model);
/* The messages of the branch in view, first message first. */
int store_message_list(Store *st, int64_t session_id, StoreMessage **out, size_t *n);
void store_messages_free(StoreMessage *list, size_t n);
/* The sibling delta places from message id (-1: the previous, 1: the next,
 * in the order they were written) into *out; an error when there is none. */
int store_message_sibling(Store *st, int64_t id, int delta, int64_t *out);
/* Message id's place among the messages with its parent: *sibling (1-based)
 * of *n_siblings. */
int store_message_place(Store *st, int64_t id, int *sibling, int *n_siblings);
/* Makes the branch through message_id the one in view (its most recent leaf
 * under message_id); 0 returns the session to its most recent leaf. */
int store_session_view(Store *st, int64_t session_id, int64_t message_id);

/* Reports: markdown written for a recording or a session (one of the ids may
 * be 0) from a template in a persona's voice (names kept as text). */
typedef struct {
    int64_t id, recording_id, session_id;
    char *template_name, *persona, *markdown, *created;
} StoreReport;

int store_report_add(Store *st, int64_t recording_id, int64_t session_id, const char *template_name,
                     const char *persona, const char *markdown, int64_t *id);
int store_report_get(Store *st, int64_t id, StoreReport *out);
void store_report_free(StoreReport *r);

#endif
