/* cascade.h - the confidence cascade: a small first stage answers, and
 * when it is unsure a larger second stage answers the same prompt instead.
 *
 * The confidence of an answer is a low quantile (CASCADE_QUANTILE) of the
 * probabilities its model gave each of its tokens: a mean is pulled up by
 * long easy stretches, while a low quantile notices the few tokens the
 * model was unsure of (Gupta et al. 2024). The probabilities are the
 * model's own (softmax at temperature 1), whatever sampling chose the
 * tokens, so greedy and sampled answers are judged alike.
 *
 * A stage escalates when its confidence is below the threshold P: every
 * confidence is in [0, 1], so P = 1.01 always escalates and P = 0 never. */
#ifndef UNUM_CASCADE_H
#define UNUM_CASCADE_H

#include "engine/engine.h"

#define CASCADE_QUANTILE 0.1

/* The CASCADE_QUANTILE quantile (the lower of the two neighbours, no
 * interpolation) of probs[0..n), which it sorts; 1 when n is 0. */
double cascade_quantile(float *probs, size_t n);

/* The confidence of answer[0..m) after prompt[0..n) under e: each answer
 * token's probability given what precedes it, teacher-forced in batches
 * (the cached prefix of the prompt is reused). The answer should end with
 * the end id when generation stopped on one, so that stopping is judged
 * too. 0 with *conf set, -1 with the error set. e's cache then holds the
 * prompt and the answer but its last token. */
int cascade_confidence(Engine *e, const int32_t *prompt, size_t n, const int32_t *answer, size_t m,
                       double *conf);

/* Nonzero when a confidence below threshold asks for the second stage. */
static inline int cascade_escalates(double conf, double threshold) { return conf < threshold; }

/* The threshold under which about rate of confs[0..n) fall (sorts confs):
 * midway between the neighbours that split them; 0 for rate 0 and above
 * every confidence for rate 1. */
double cascade_calibrate(double *confs, size_t n, double rate);

#endif
