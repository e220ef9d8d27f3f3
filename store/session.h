/* session.h - chat sessions and their messages.
 *
 * A session has a title, the model and persona it was started with (kept as
 * text, so they stay readable after the persona is removed) and its messages
 * in order. Timestamps are UTC ISO 8601 strings with milliseconds. Each call
 * is one transaction: a message is either stored whole or not at all. */
#ifndef UNUM_SESSION_H
#define UNUM_SESSION_H

#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t id;
    char *title, *model, *persona, *created, *updated;
    int64_t n_messages;
} StoreSession;

typedef struct {
    int64_t id, session_id;
    char *role; /* system, user, assistant or tool */
    char *content, *created;
    int tokens;        /* tokens in content */
    double elapsed_ms; /* time it took to produce (0 for typed text) */
    char *model;       /* the model that wrote it ("" for typed text) */
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

int store_message_add(Store *st, int64_t session_id, const char *role, const char *content,
                      int tokens, double elapsed_ms, int64_t *id);
/* The session's messages in order. */
/* Records the model that wrote message id (schema version 5). */
int store_message_set_model(Store *st, int64_t id, const char *model);
int store_message_list(Store *st, int64_t session_id, StoreMessage **out, size_t *n);
void store_messages_free(StoreMessage *list, size_t n);

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
