/* test_sampler.c - sampling rules on small, known distributions. */
#include "engine/sampler.h"
#include "tests/test.h"
#include "engine/base/util.h"

#include <stdlib.h>

static SamplerParams plain(float temp) {
    SamplerParams p = {temp, 0, 1.0f, 0.0f, 1.0f, 7};
    return p;
}

TEST(sampler_greedy_is_argmax_first_on_ties) {
    float l[5] = {1, 3, 2, 3, -1};
    SamplerParams p = plain(0);
    Sampler *s = sampler_new(&p, 5);
    CHECK_EQ_INT(sampler_sample(s, l, NULL, 0), 1);
    sampler_free(s);
}

TEST(sampler_frequencies_follow_softmax) {
    float base[3] = {0.0f, logf(2.0f), logf(5.0f)}; /* p = 1/8, 2/8, 5/8 */
    SamplerParams p = plain(1.0f);
    Sampler *s = sampler_new(&p, 3);
    int count[3] = {0};
    for (int i = 0; i < 40000; i++) {
        float l[3] = {base[0], base[1], base[2]};
        count[sampler_sample(s, l, NULL, 0)]++;
    }
    CHECK_NEAR(count[0] / 40000.0, 0.125, 0.01);
    CHECK_NEAR(count[1] / 40000.0, 0.25, 0.01);
    CHECK_NEAR(count[2] / 40000.0, 0.625, 0.01);
    sampler_free(s);
    /* temperature 2 flattens: p ~ sqrt of the ratios */
    p.temperature = 2.0f;
    s = sampler_new(&p, 3);
    memset(count, 0, sizeof count);
    for (int i = 0; i < 40000; i++) {
        float l[3] = {base[0], base[1], base[2]};
        count[sampler_sample(s, l, NULL, 0)]++;
    }
    double z = 1 + sqrt(2.0) + sqrt(5.0);
    CHECK_NEAR(count[0] / 40000.0, 1 / z, 0.01);
    CHECK_NEAR(count[2] / 40000.0, sqrt(5.0) / z, 0.01);
    sampler_free(s);
}

TEST(sampler_top_k_top_p_min_p_cut_the_tail) {
    enum { V = 1000 };
    float *base = xmalloc(sizeof(float) * V);
    uint64_t r = 99;
    for (int i = 0; i < V; i++) {
        r = r * 6364136223846793005ull + 1;
        base[i] = (float)((r >> 40) % 1000) / 100.0f;
    }
    /* the true top 5 by sorting */
    int top[5];
    for (int k = 0; k < 5; k++) {
        int best = -1;
        for (int i = 0; i < V; i++) {
            int used = 0;
            for (int j = 0; j < k; j++) used |= top[j] == i;
            if (!used && (best < 0 || base[i] > base[best])) best = i;
        }
        top[k] = best;
    }
    SamplerParams p = plain(1.5f);
    p.top_k = 5;
    Sampler *s = sampler_new(&p, V);
    float *l = xmalloc(sizeof(float) * V);
    int seen_outside = 0, distinct[V] = {0};
    for (int it = 0; it < 3000; it++) {
        memcpy(l, base, sizeof(float) * V);
        int id = sampler_sample(s, l, NULL, 0);
        /* the top 5, and anything tied with the 5th, may be drawn */
        seen_outside |= base[id] < base[top[4]];
        distinct[id] = 1;
    }
    CHECK(!seen_outside);
    int nd = 0;
    for (int i = 0; i < V; i++) nd += distinct[i];
    CHECK(nd > 1); /* it does sample, not just argmax */
    sampler_free(s);
    /* top_p so small that only the most likely survives */
    p = plain(1.0f);
    p.top_p = 1e-6f;
    s = sampler_new(&p, V);
    for (int it = 0; it < 50; it++) {
        memcpy(l, base, sizeof(float) * V);
        CHECK_EQ_INT(sampler_sample(s, l, NULL, 0), sampler_argmax(base, V));
    }
    sampler_free(s);
    /* min_p 0.5: only tokens with at least half the top probability */
    float m[4] = {0.0f, logf(0.6f), logf(0.4f), logf(0.9f)};
    p = plain(1.0f);
    p.min_p = 0.5f;
    s = sampler_new(&p, 4);
    int counts[4] = {0};
    for (int it = 0; it < 2000; it++) {
        float c[4];
        memcpy(c, m, sizeof c);
        counts[sampler_sample(s, c, NULL, 0)]++;
    }
    CHECK_EQ_INT(counts[2], 0); /* 0.4 < 0.5 * 1.0 */
    CHECK(counts[0] > 0 && counts[1] > 0 && counts[3] > 0);
    sampler_free(s);
    free(base);
    free(l);
}

TEST(sampler_top_k_keeps_ties_and_top_p_boundary_is_inclusive) {
    /* top_k 2 over {3, 2, 2, 1}: both 2s tie with the 2nd, so three survive */
    float base[4] = {3.0f, 2.0f, 2.0f, 1.0f};
    SamplerParams p = plain(1.0f);
    p.top_k = 2;
    Sampler *s = sampler_new(&p, 4);
    int counts[4] = {0};
    for (int i = 0; i < 4000; i++) {
        float l[4];
        memcpy(l, base, sizeof l);
        counts[sampler_sample(s, l, NULL, 0)]++;
    }
    CHECK(counts[1] > 0 && counts[2] > 0);
    CHECK_EQ_INT(counts[3], 0);
    sampler_free(s);
    /* probabilities .5 .3 .2 with top_p .8: the first two make exactly .8 */
    float pr[3] = {logf(0.5f), logf(0.3f), logf(0.2f)};
    p = plain(1.0f);
    p.top_p = 0.8f;
    s = sampler_new(&p, 3);
    memset(counts, 0, sizeof counts);
    for (int i = 0; i < 4000; i++) {
        float l[3];
        memcpy(l, pr, sizeof l);
        counts[sampler_sample(s, l, NULL, 0)]++;
    }
    CHECK_EQ_INT(counts[2], 0);
    CHECK(counts[0] > 0 && counts[1] > 0);
    sampler_free(s);
}

TEST(sampler_repetition_penalty_and_seed) {
    float l[3] = {2.0f, 1.9f, -1.0f};
    SamplerParams p = plain(0);
    p.repeat_penalty = 1.2f;
    Sampler *s = sampler_new(&p, 3);
    int32_t hist[2] = {0, 0};
    /* 2.0 / 1.2 < 1.9: the repeated token loses */
    CHECK_EQ_INT(sampler_sample(s, l, hist, 2), 1);
    CHECK_NEAR(l[0], 2.0 / 1.2, 1e-6);
    float neg[3] = {-1.0f, -1.1f, -5.0f};
    int32_t h2[1] = {0};
    CHECK_EQ_INT(sampler_sample(s, neg, h2, 1), 1); /* -1 * 1.2 = -1.2 < -1.1 */
    sampler_free(s);
    /* the same seed gives the same draws; another seed differs somewhere */
    int a[64], b[64], c[64];
    for (int run = 0; run < 3; run++) {
        SamplerParams q = plain(1.0f);
        q.seed = run == 2 ? 8 : 7;
        Sampler *t = sampler_new(&q, 3);
        for (int i = 0; i < 64; i++) {
            float x[3] = {0, 0, 0};
            (run == 0 ? a : run == 1 ? b : c)[i] = sampler_sample(t, x, NULL, 0);
        }
        sampler_free(t);
    }
    CHECK(!memcmp(a, b, sizeof a));
    CHECK(memcmp(a, c, sizeof a));
}
