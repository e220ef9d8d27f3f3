/* speculative.h - speculative decoding: a small draft model proposes a few
 * tokens, the target model checks them all in one batched forward, and the
 * longest prefix the target agrees with is kept (Leviathan et al. 2023,
 * Chen et al. 2023).
 *
 * Each round: the draft, synced to the committed text, proposes k tokens
 * d_0..d_{k-1}, one forward each, drawing d_i from its sampling
 * distribution q_i. The target runs [last committed, d_0..d_{k-1}] in one
 * forward with the logits of all k+1 positions, p_0..p_k. d_i is kept with
 * probability min(1, p_i(d_i) / q_i(d_i)); at the first refusal the round
 * ends with a token drawn from norm(max(0, p_i - q_i)); when all k are kept
 * a bonus token comes from p_k. The text is then distributed exactly as the
 * target's alone; at temperature 0 (p and q one-hot) it is the target's
 * greedy text. Both KV caches are rewound to what was kept. p and q are the
 * sampler's distributions (sampler_dist: repetition penalty, temperature,
 * top-k, top-p, min-p applied), so every sampling setting is honoured.
 *
 * k adapts: a round whose drafts were all kept raises it by 2, any other
 * lowers it by 1, within [1, draft_n]. When the recent share of drafts
 * kept (each round's share averaged with the previous value) falls below
 * SPEC_PAUSE_BELOW, the next SPEC_PAUSE_ROUNDS rounds decode without
 * drafting, then a round drafts again to probe: a draft that never agrees
 * costs little more than decoding alone. A round also drafts no more than
 * the remaining token budget and both contexts allow. All of this depends
 * on the tokens alone, never on timings, so a seed gives the same text.
 *
 * Vocabularies may differ in size (Qwen2.5-0.5B has 151936 rows, -7B
 * 152064) as long as the tokenizers agree on the ids both have
 * (spec_check_pair). A target token the draft cannot read ends drafting for
 * the rest of the call (plain decoding continues); a drafted id the target
 * lacks counts as refused.
 *
 * Threading: as engine_generate; both engines belong to the calling thread
 * for the call. engine_cancel on the target stops it at the next round, and
 * the call returns UNUM_CANCELLED (engine/base/cancel.h) with what was
 * generated so far delivered. */
#ifndef UNUM_SPECULATIVE_H
#define UNUM_SPECULATIVE_H

#include "engine/engine.h"

typedef struct {
    int rounds;   /* target forwards while decoding: one per round */
    int drafted;  /* draft tokens proposed */
    int accepted; /* of those, kept */
} SpecStats;

#define SPEC_PAUSE_BELOW 0.2
#define SPEC_PAUSE_ROUNDS 8

/* Default and upper bound of --draft-n. */
#define SPEC_DRAFT_N_DEFAULT 5
#define SPEC_DRAFT_N_MAX 32

/* 0 when draft can draft for target: their tokenizers agree on every id
 * both know. -1 with the error naming both folders and the first id that
 * differs. */
int spec_check_pair(const Engine *target, const Engine *draft);

/* engine_generate for target, drafted by draft with at most draft_n tokens
 * per round. The token callback, stats, stop reasons and return values
 * (0, UNUM_CANCELLED, -1) are engine_generate's; spec (may be NULL)
 * receives the drafting counts. */
int spec_generate(Engine *target, Engine *draft, int draft_n, const int32_t *prompt, size_t n,
                  const GenerateParams *p, engine_token_fn fn, void *user, GenerateStats *stats,
                  SpecStats *spec);

/* accepted / drafted (0 when nothing was drafted), and generated tokens per
 * target forward of the decoding rounds. */
double spec_accept_rate(const SpecStats *s);
double spec_tokens_per_forward(const SpecStats *s, const GenerateStats *g);

#endif
