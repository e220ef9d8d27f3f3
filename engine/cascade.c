/* cascade.c - see cascade.h. */
#include "engine/cascade.h"

#include "engine/base/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double cascade_quantile(float *probs, size_t n) {
    if (n == 0) return 1.0;
    qsort(probs, n, sizeof *probs, cmp_float);
    return probs[(size_t)floor(CASCADE_QUANTILE * (double)(n - 1))];
}

/* softmax(row)[id] without overflow */
static float prob_of(const float *row, int V, int32_t id) {
    float mx = row[0];
    for (int i = 1; i < V; i++) mx = row[i] > mx ? row[i] : mx;
    double sum = 0;
    for (int i = 0; i < V; i++) sum += exp((double)(row[i] - mx));
    return (float)(exp((double)(row[id] - mx)) / sum);
}

#define SCORE_CHUNK 16

int cascade_confidence(Engine *e, const int32_t *prompt, size_t n, const int32_t *answer, size_t m,
                       double *conf) {
    Qwen2 *md = e->model;
    int V = md->c.vocab;
    if (n == 0) return unum_error_set("empty prompt");
    if (m == 0) {
        *conf = 1.0;
        return 0;
    }
    if (n + m - 1 > (size_t)md->ctx)
        return unum_error_set("%zu prompt and %zu answer tokens do not fit the context of %d", n, m,
                              md->ctx);
    /* the sequence whose logits predict the answer: prompt[n-1], answer[..m-1) */
    int32_t *seq = xmalloc(sizeof(int32_t) * (n + m));
    memcpy(seq, prompt, sizeof(int32_t) * n);
    memcpy(seq + n, answer, sizeof(int32_t) * m);
    for (size_t i = 0; i < n + m; i++)
        if (seq[i] < 0 || seq[i] >= V) {
            free(seq);
            return unum_error_set("id %d at %zu is outside the vocabulary [0, %d)", seq[i], i, V);
        }
    size_t keep = 0;
    while (keep < e->cached.n && keep < n - 1 && e->cached.v[keep] == seq[keep]) keep++;
    qwen2_rewind(md, (int)keep);
    e->cached.n = keep;
    float *rows = malloc(sizeof(float) * SCORE_CHUNK * (size_t)V);
    float *probs = xmalloc(sizeof(float) * m);
    int rc = rows ? 0 : unum_error_set("out of memory for %d rows of logits", SCORE_CHUNK);
    /* the prompt's rest without logits, in chunks */
    for (size_t i = keep; !rc && i < n - 1;) {
        size_t k = n - 1 - i < (size_t)md->max_batch ? n - 1 - i : (size_t)md->max_batch;
        rc = qwen2_forward(md, seq + i, (int)k, NULL, 0);
        i += k;
    }
    /* then positions n-1 .. n+m-2, each row predicting the next answer id */
    for (size_t i = 0; !rc && i < m;) {
        size_t k = m - i < SCORE_CHUNK ? m - i : SCORE_CHUNK;
        rc = qwen2_forward(md, seq + n - 1 + i, (int)k, rows, 1);
        for (size_t j = 0; !rc && j < k; j++)
            probs[i + j] = prob_of(rows + j * (size_t)V, V, answer[i + j]);
        i += k;
    }
    if (!rc) {
        for (size_t i = keep; i < n + m - 1; i++) idvec_push(&e->cached, seq[i]);
        *conf = cascade_quantile(probs, m);
    } else {
        qwen2_rewind(md, 0);
        e->cached.n = 0;
    }
    free(rows);
    free(probs);
    free(seq);
    return rc;
}

double cascade_calibrate(double *confs, size_t n, double rate) {
    if (n == 0 || rate <= 0) return 0.0;
    qsort(confs, n, sizeof *confs, cmp_double);
    size_t k = (size_t)floor(rate * (double)n + 0.5); /* prompts to escalate */
    if (k == 0) return 0.0;
    if (k >= n) return confs[n - 1] < 1.0 ? (confs[n - 1] + 1.0) / 2 : 1.01;
    return (confs[k - 1] + confs[k]) / 2;
}
