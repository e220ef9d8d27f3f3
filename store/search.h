/* search.h - full-text search over messages and transcript segments.
 *
 * The query is FTS5 syntax (words, "phrases", prefix*, AND/OR/NOT); a query
 * that FTS5 refuses (bad syntax, or nested deeper than its parser takes) is
 * searched as its plain words instead, so any text typed by a user works.
 * Column filters ("content:word", "text:word", "{...}:word" outside quotes)
 * are not supported and are an error that says so: messages and transcript
 * segments are indexed under different column names. Hits are ordered by
 * relevance (bm25). */
#ifndef UNUM_SEARCH_H
#define UNUM_SEARCH_H

#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *kind; /* "message" or "segment" (static) */
    int64_t id;       /* the message or segment id */
    int64_t owner;    /* its session or recording id */
    char *snippet;    /* one line, matches in [brackets] */
} StoreHit;

/* Up to limit hits (limit <= 0: 100). */
int store_search(Store *st, const char *query, int limit, StoreHit **out, size_t *n);
void store_hits_free(StoreHit *hits, size_t n);

#endif
