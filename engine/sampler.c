/* sampler.c - see sampler.h. */
#include "engine/sampler.h"

#include "engine/base/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float logit;
    int32_t id;
} Cand;

struct Sampler {
    SamplerParams p;
    int V;
    uint64_t rng;
    Cand *cand;
    unsigned char *seen;
};

Sampler *sampler_new(const SamplerParams *p, int n_vocab) {
    Sampler *s = xcalloc(1, sizeof *s);
    s->p = *p;
    s->V = n_vocab;
    s->rng = p->seed ^ 0x853c49e6748fea9bull;
    s->cand = xmalloc(sizeof *s->cand * (size_t)n_vocab);
    s->seen = xcalloc((size_t)n_vocab, 1);
    return s;
}

void sampler_free(Sampler *s) {
    if (!s) return;
    free(s->cand);
    free(s->seen);
    free(s);
}

double sampler_uniform_next(uint64_t *state) { /* splitmix64 -> [0, 1) */
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

double sampler_uniform(Sampler *s) { return sampler_uniform_next(&s->rng); }

int32_t sampler_argmax(const float *x, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static int cand_desc(const void *a, const void *b) {
    const Cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return x->id - y->id;
}

/* Moves the k largest candidates to the front (unordered): quickselect. */
static void select_top(Cand *c, int n, int k) {
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = c[(lo + hi) / 2].logit;
        int i = lo, j = hi;
        while (i <= j) {
            while (c[i].logit > pivot) i++;
            while (c[j].logit < pivot) j--;
            if (i <= j) {
                Cand t = c[i];
                c[i++] = c[j];
                c[j--] = t;
            }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
}

static void penalize(Sampler *s, float *logits, const int32_t *hist, size_t n) {
    float r = s->p.repeat_penalty;
    for (size_t i = 0; i < n; i++) {
        int32_t id = hist[i];
        if (id < 0 || id >= s->V || s->seen[id]) continue;
        s->seen[id] = 1;
        logits[id] = logits[id] > 0 ? logits[id] / r : logits[id] * r;
    }
    for (size_t i = 0; i < n; i++)
        if (hist[i] >= 0 && hist[i] < s->V) s->seen[hist[i]] = 0;
}

/* Leaves in s->cand[0..n) the candidates that survive the cuts, each with
 * its unnormalized probability, in the draw's order; returns n. */
static int filter(Sampler *s, const float *logits) {
    const SamplerParams *p = &s->p;
    int n = s->V, top_k = p->top_k > 0 && p->top_k < n;
    for (int i = 0; i < n; i++) s->cand[i] = (Cand){logits[i] / p->temperature, i};
    if (top_k) {
        /* keep the k largest and, as Hugging Face does, anything tied with
         * the k-th */
        select_top(s->cand, n, p->top_k);
        float kth = s->cand[0].logit;
        for (int i = 1; i < p->top_k; i++) kth = s->cand[i].logit < kth ? s->cand[i].logit : kth;
        int keep = p->top_k;
        for (int i = keep; i < n; i++)
            if (s->cand[i].logit == kth) s->cand[keep++] = s->cand[i];
        n = keep;
    }
    /* sorted whenever a cut applies, so that the draw's order never
     * depends on how quickselect left the top k (sampler.h) */
    int need_sorted = top_k || p->top_p < 1.0f || p->min_p > 0;
    if (need_sorted) qsort(s->cand, (size_t)n, sizeof *s->cand, cand_desc);
    float mx = s->cand[0].logit;
    for (int i = 1; i < n; i++) mx = s->cand[i].logit > mx ? s->cand[i].logit : mx;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        s->cand[i].logit = expf(s->cand[i].logit - mx);
        sum += s->cand[i].logit;
    }
    /* now cand[i].logit holds unnormalized probabilities */
    if (p->top_p < 1.0f) {
        double cum = 0;
        int keep = n;
        for (int i = 0; i < n; i++) {
            cum += s->cand[i].logit / sum;
            if (cum >= (double)p->top_p - 1e-6) { /* 0.8f is 0.800000012 */
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    if (p->min_p > 0) {
        float floor_p = p->min_p * s->cand[0].logit; /* cand[0] is the most likely */
        int keep = 1;
        while (keep < n && s->cand[keep].logit >= floor_p) keep++;
        n = keep;
    }
    return n;
}

int32_t sampler_sample(Sampler *s, float *logits, const int32_t *history, size_t n_history) {
    const SamplerParams *p = &s->p;
    if (p->repeat_penalty > 0 && p->repeat_penalty != 1.0f) penalize(s, logits, history, n_history);
    if (p->temperature <= 0) return sampler_argmax(logits, s->V);
    int n = filter(s, logits);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += s->cand[i].logit;
    double r = sampler_uniform(s) * sum, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += s->cand[i].logit;
        if (r < acc) return s->cand[i].id;
    }
    return s->cand[n - 1].id;
}

void sampler_dist(Sampler *s, float *logits, const int32_t *history, size_t n_history,
                  float *probs) {
    const SamplerParams *p = &s->p;
    if (p->repeat_penalty > 0 && p->repeat_penalty != 1.0f) penalize(s, logits, history, n_history);
    memset(probs, 0, sizeof(float) * (size_t)s->V);
    if (p->temperature <= 0) {
        probs[sampler_argmax(logits, s->V)] = 1.0f;
        return;
    }
    int n = filter(s, logits);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += s->cand[i].logit;
    for (int i = 0; i < n; i++) probs[s->cand[i].id] = (float)(s->cand[i].logit / sum);
}
