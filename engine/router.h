/* router.h - picks the LoRA adapter for a request by what it is about
 * (`--lora auto`, and `lora = auto` in the app).
 *
 * Each adapter comes with a short description of what it is for. The
 * router embeds the descriptions and the request with the base model's own
 * hidden states (engine_embed: the mean over the text's tokens of the
 * final-norm hidden state, with no adapter active) and picks the adapter
 * whose description has the highest cosine similarity with the request,
 * or none when every similarity is below the threshold. Ties go to the
 * adapter listed first. The descriptions' embeddings are computed once per
 * model (a router used with another model computes them again).
 *
 * Routing runs the base without adapters, so it empties the engine's prefix
 * cache and leaves no adapter active; the caller then sets the chosen one
 * (engine_set_adapters). Texts are tokenized as is, without the chat
 * template. */
#ifndef UNUM_ROUTER_H
#define UNUM_ROUTER_H

#include "engine/engine.h"

/* The threshold when none is given: hidden-state cosines of unrelated
 * texts are high on many models (mean pooling shares one large direction),
 * so this only rules out a request unlike every description; `run -v`
 * prints the scores to tune it by (--lora-threshold, lora_threshold =). */
#define ROUTER_THRESHOLD_DEFAULT 0.5f

typedef struct {
    LoraSpec spec;     /* the adapter and its scale (dir owned) */
    char *description; /* what it is for (owned) */
} RouterEntry;

typedef struct Router Router;

/* A router over entries[0..n) (copied) that picks none below threshold. */
Router *router_new(const RouterEntry *entries, int n, float threshold);
void router_free(Router *r);
int router_size(const Router *r);
const RouterEntry *router_entry(const Router *r, int i);

/* Scores request against every description with e's base model and sets
 * *pick to the chosen entry's index, or -1 when none reaches the threshold;
 * scores (may be NULL) gets the n cosines in entry order. 0, or -1 with the
 * error set. */
int router_pick(Router *r, Engine *e, const char *request, float *scores, int *pick);

void router_entries_free(RouterEntry *entries, int n);

#endif
