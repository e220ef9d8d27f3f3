/* sampler.h - picks the next token from logits.
 *
 * Order, as Hugging Face generation applies it: repetition penalty (over
 * every distinct id in the history), temperature, top-k, top-p, min-p, then
 * a draw from the remaining distribution. Temperature 0 is greedy argmax
 * (lowest id wins a tie). Seeded and reproducible.
 *
 * The draw walks the candidates in a fixed order, so that another sampler
 * (the CUDA backend's) given the same uniform number picks the same id:
 * by logit descending, lower id first on ties, whenever a cut applies
 * (top-k below the vocabulary, top-p below 1, min-p above 0); in id order
 * otherwise. */
#ifndef UNUM_SAMPLER_H
#define UNUM_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    float temperature;    /* 0: greedy */
    int top_k;            /* 0: off */
    float top_p;          /* 1: off */
    float min_p;          /* 0: off */
    float repeat_penalty; /* 1: off */
    uint64_t seed;
} SamplerParams;

typedef struct Sampler Sampler;

Sampler *sampler_new(const SamplerParams *p, int n_vocab);
void sampler_free(Sampler *s);
/* Chooses an id from logits[n_vocab] (modified in place) given the ids so far. */
int32_t sampler_sample(Sampler *s, float *logits, const int32_t *history, size_t n_history);
/* The distribution sampler_sample draws from, as probabilities over the
 * whole vocabulary: probs[n_vocab] (zero where a cut removed an id; one-hot
 * on the argmax at temperature 0). Draws no random number. logits is
 * modified in place, as by sampler_sample. Speculative decoding compares
 * these of the draft and the target. */
void sampler_dist(Sampler *s, float *logits, const int32_t *history, size_t n_history,
                  float *probs);
/* The next number in [0, 1) of s's stream: the one sampler_sample would
 * draw next (it draws one per call when temperature > 0, none otherwise). */
double sampler_uniform(Sampler *s);
/* The same generator on a bare state (splitmix64): uniform in [0, 1). */
double sampler_uniform_next(uint64_t *state);
/* The index of the largest value (first on ties). */
int32_t sampler_argmax(const float *x, int n);

#endif
