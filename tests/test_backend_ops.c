/* test_backend_ops.c - every op of ops.h, one table of cases, run on every
 * backend and compared with the CPU backend (one thread, the best kernels)
 * on the same inputs.
 *
 * A case is one row: the op, the weight dtype and up to five shape numbers
 * whose meaning each runner states. A runner builds its inputs from a
 * generator seeded by the row, so every backend sees the same numbers, runs
 * the op and returns what it wrote. A fused op that a backend does not offer
 * (the CPU offers none) runs as the composition of primitives it stands for,
 * so the reference of a fused op is its composition. Adding an op, or a
 * shape or dtype to cover, is adding a row.
 *
 * Variants under test: the CPU's other kernel sets (generic, AVX2) with two
 * threads, and CUDA with and without its fused ops (skipped without a
 * device or without CUDA in the build).
 *
 * Tolerance: all paths compute in f32 from the checkpoint's weights, so
 * results agree to 1e-4 of the largest reference value; lookups and copies
 * (embed, im2col3, copy) are exact. */
#include "engine/base/util.h"
#include "engine/cpu/kernels.h"
#include "engine/family.h"
#include "engine/ops.h"
#include "tests/test.h"

#include <assert.h>
#include <stdlib.h>

#define TOL 1e-4

typedef struct {
    const char *op; /* the ops.h member it exercises */
    DType dt;       /* weights' dtype (where the op takes weights) */
    int a, b, c, d, e;
    double tol; /* 0: the default TOL; -1: exact */
} OpCase;

/* ------------------------------------------------------------ inputs */

typedef struct {
    Backend *be;
    uint64_t rng;
    float *bufs[16]; /* backend buffers to free */
    int n_bufs;
    Weight ws[16]; /* uploaded weights to release, and their host data */
    void *wdata[16];
    int n_ws;
} Run;

static float frand(Run *r) {
    r->rng = r->rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(r->rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* A backend buffer of n random values in [-scale, scale]. */
static float *rand_buf(Run *r, size_t n, float scale) {
    float *h = xmalloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) h[i] = scale * frand(r);
    float *d = r->be->alloc(r->be, n ? n : 1);
    if (d) r->be->from_host(r->be, d, h, n);
    free(h);
    assert(r->n_bufs < 16);
    r->bufs[r->n_bufs++] = d;
    return d;
}

static float *zero_buf(Run *r, size_t n) {
    float *d = r->be->alloc(r->be, n ? n : 1);
    assert(r->n_bufs < 16);
    r->bufs[r->n_bufs++] = d;
    return d;
}

/* A weight [rows x cols] in dt of values offset + scale * U(-1, 1). */
static const Weight *rand_weight(Run *r, DType dt, int rows, int cols, float scale, float offset) {
    size_t n = (size_t)rows * cols;
    void *data = xmalloc(n * dtype_size(dt));
    for (size_t i = 0; i < n; i++) {
        float v = offset + scale * frand(r);
        if (dt == DT_F32) ((float *)data)[i] = v;
        else if (dt == DT_BF16) ((uint16_t *)data)[i] = unum_f32_to_bf16(v);
        else ((uint16_t *)data)[i] = unum_f32_to_f16(v);
    }
    STensor t = {.name = (char *)"w",
                 .file = "test",
                 .dtype = dt,
                 .ndim = rows == 1 ? 1 : 2,
                 .numel = (int64_t)n,
                 .data = data,
                 .nbytes = n * dtype_size(dt)};
    t.shape[0] = rows == 1 ? cols : rows;
    t.shape[1] = cols;
    assert(r->n_ws < 16);
    Weight *w = &r->ws[r->n_ws];
    r->wdata[r->n_ws++] = data;
    if (r->be->upload(r->be, &t, rows, cols, w)) return NULL;
    return w;
}

/* A random quantized matrix [rows x cols] (quant.h's layout) of bits bits
 * and groups of group inputs (0: one group), its inputs permuted when
 * permute (act-order), uploaded with upload_quant. */
static const Weight *rand_quant(Run *r, int rows, int cols, int bits, int group, int permute) {
    QMat q = {0};
    int p = 32 / bits;
    q.bits = bits, q.rows = rows, q.cols = cols, q.format = "test";
    q.group = group > 0 ? group : cols;
    q.n_groups = (cols + q.group - 1) / q.group;
    size_t words = (size_t)cols / p * rows, gs = (size_t)q.n_groups * rows;
    uint32_t *qw = xmalloc(words * 4);
    uint16_t *sc = xmalloc(gs * 2);
    uint8_t *z = xmalloc(gs);
    for (size_t i = 0; i < words; i++) {
        frand(r);
        qw[i] = (uint32_t)(r->rng >> 24);
    }
    for (size_t i = 0; i < gs; i++) {
        sc[i] = unum_f32_to_f16(0.02f + 0.01f * frand(r));
        z[i] = (uint8_t)((frand(r) + 1.0f) * 0.5f * (float)((1 << bits) - 1));
    }
    q.qw = qw, q.own_qw = qw, q.scales = sc, q.own_scales = sc, q.zeros = z, q.own_zeros = z;
    if (permute) {
        int32_t *perm = xmalloc(sizeof(int32_t) * cols);
        for (int k = 0; k < cols; k++) perm[k] = k;
        for (int k = cols - 1; k > 0; k--) {
            int j = (int)((frand(r) + 1.0f) * 0.5f * (float)k), t = perm[k];
            perm[k] = perm[j], perm[j] = t;
        }
        q.perm = perm, q.own_perm = perm;
    }
    assert(r->n_ws < 16);
    Weight *w = &r->ws[r->n_ws];
    r->wdata[r->n_ws++] = NULL;
    if (!r->be->upload_quant) {
        quant_free(&q);
        unum_error_set("backend %s has no upload_quant", r->be->name);
        return NULL;
    }
    if (r->be->upload_quant(r->be, &q, w)) return NULL;
    return w;
}

/* The output: n floats of a backend buffer, appended to *out on the host. */
typedef struct {
    float *v;
    size_t n;
} Out;

static void take(Run *r, Out *out, const float *dev, size_t n) {
    out->v = xrealloc(out->v, sizeof(float) * (out->n + n));
    r->be->to_host(r->be, out->v + out->n, dev, n);
    out->n += n;
}

static void run_free(Run *r) {
    for (int i = 0; i < r->n_bufs; i++)
        if (r->bufs[i]) r->be->free(r->be, r->bufs[i]);
    for (int i = 0; i < r->n_ws; i++) {
        r->be->release(r->be, &r->ws[i]);
        free(r->wdata[i]);
    }
}

/* ------------------------------------------------------------ runners
 *
 * Each returns 0 with the output in *out, or -1 (an upload failed or the
 * backend lacks the op; unum_error says which). */

typedef int (*Runner)(Run *r, const OpCase *c, Out *out);

/* embed: a = vocabulary, b = width, c = T. */
static int run_embed(Run *r, const OpCase *c, Out *out) {
    const Weight *table = rand_weight(r, c->dt, c->a, c->b, 1.0f, 0);
    if (!table) return -1;
    int32_t *ids = xmalloc(sizeof(int32_t) * c->c);
    for (int t = 0; t < c->c; t++) ids[t] = (int32_t)((t * 37 + 11) % c->a);
    ids[0] = c->a - 1; /* the last row too */
    float *x = zero_buf(r, (size_t)c->c * c->b);
    r->be->embed(r->be, x, table, ids, c->c);
    take(r, out, x, (size_t)c->c * c->b);
    free(ids);
    return 0;
}

/* a quantized matmul with bias: a = rows, b = cols, c = T, d = bits, e =
 * group size (0: one group; negative: -e with act-order's permutation). */
static int run_matmul_quant(Run *r, const OpCase *c, Out *out) {
    const Weight *W = rand_quant(r, c->a, c->b, c->d, c->e < 0 ? -c->e : c->e, c->e < 0);
    const Weight *B = rand_weight(r, DT_F16, 1, c->a, 0.5f, 0);
    if (!W || !B) return -1;
    float *x = rand_buf(r, (size_t)c->c * c->b, 1.0f), *y = zero_buf(r, (size_t)c->c * c->a);
    r->be->matmul(r->be, y, x, W, B, c->c);
    take(r, out, y, (size_t)c->c * c->a);
    return 0;
}

/* rmsnorm: a = width, b = T. */
static int run_rmsnorm(Run *r, const OpCase *c, Out *out) {
    const Weight *w = rand_weight(r, c->dt, 1, c->a, 0.2f, 1.0f);
    if (!w) return -1;
    size_t n = (size_t)c->b * c->a;
    float *x = rand_buf(r, n, 3.0f), *y = zero_buf(r, n);
    r->be->rmsnorm(r->be, y, x, w, c->b, 1e-6f);
    take(r, out, y, n);
    return 0;
}

/* matmul with bias: a = rows (out), b = cols (in), c = T. */
static int run_matmul(Run *r, const OpCase *c, Out *out) {
    const Weight *W = rand_weight(r, c->dt, c->a, c->b, 1.0f, 0);
    const Weight *B = rand_weight(r, c->dt, 1, c->a, 0.5f, 0);
    if (!W || !B) return -1;
    float *x = rand_buf(r, (size_t)c->c * c->b, 1.0f), *y = zero_buf(r, (size_t)c->c * c->a);
    r->be->matmul(r->be, y, x, W, B, c->c);
    take(r, out, y, (size_t)c->c * c->a);
    return 0;
}

/* The rotary embedding of a case: plain RoPE (theta 1e6), or with long
 * set, LongRoPE's form: each frequency divided by a factor in [1, 8) and
 * cos and sin scaled by 1.2. The same numbers on every backend. */
static Rope case_rope(int head_dim, int long_) {
    Rope rp;
    rope_plain(&rp, 1e6, head_dim);
    if (long_) {
        for (int i = 0; i < rp.half; i++) rp.inv_freq[i] /= 1.0f + 7.0f * i / rp.half;
        rp.scale = 1.2f;
    }
    return rp;
}

/* rope on [T x heads*hd]: a = T, b = heads, c = head_dim, d = pos0; e = 1:
 * LongRoPE's form (case_rope). */
static int run_rope(Run *r, const OpCase *c, Out *out) {
    size_t n = (size_t)c->a * c->b * c->c;
    float *x = rand_buf(r, n, 1.0f);
    Rope rp = case_rope(c->c, c->e);
    r->be->rope(r->be, x, c->a, c->b, c->c, c->d, &rp);
    take(r, out, x, n);
    return 0;
}

/* scale over a = n elements. */
static int run_scale(Run *r, const OpCase *c, Out *out) {
    float *x = rand_buf(r, c->a, 3.0f);
    r->be->scale(r->be, x, 0.37f, c->a);
    take(r, out, x, c->a);
    return 0;
}

/* causal attention: a = Hq, b = Hkv, c = head_dim, d = pos0, e = T. */
static int run_attention(Run *r, const OpCase *c, Out *out) {
    int Hq = c->a, Hkv = c->b, hd = c->c, pos0 = c->d, T = c->e;
    size_t nq = (size_t)T * Hq * hd, nk = (size_t)(pos0 + T) * Hkv * hd;
    float *q = rand_buf(r, nq, 2.0f), *k = rand_buf(r, nk, 2.0f), *v = rand_buf(r, nk, 1.0f);
    float *o = zero_buf(r, nq);
    r->be->attention(r->be, o, q, k, v, T, pos0, Hq, Hkv, hd);
    take(r, out, o, nq);
    return 0;
}

/* swiglu, add and copy over a = n elements. */
static int run_swiglu(Run *r, const OpCase *c, Out *out) {
    float *g = rand_buf(r, c->a, 4.0f), *u = rand_buf(r, c->a, 1.0f), *a = zero_buf(r, c->a);
    r->be->swiglu(r->be, a, g, u, c->a);
    take(r, out, a, c->a);
    return 0;
}

static int run_add(Run *r, const OpCase *c, Out *out) {
    float *x = rand_buf(r, c->a, 5.0f), *y = rand_buf(r, c->a, 1.0f);
    r->be->add(r->be, x, y, c->a);
    take(r, out, x, c->a);
    return 0;
}

/* addmm: a = rows of W (a rank), b = its cols (out), c = T. */
static int run_addmm(Run *r, const OpCase *c, Out *out) {
    const Weight *W = rand_weight(r, DT_F32, c->a, c->b, 1.0f, 0);
    if (!W) return -1;
    float *x = rand_buf(r, (size_t)c->c * c->a, 1.0f), *y = rand_buf(r, (size_t)c->c * c->b, 3.0f);
    r->be->addmm(r->be, y, x, W, c->c);
    take(r, out, y, (size_t)c->c * c->b);
    return 0;
}

static int run_copy(Run *r, const OpCase *c, Out *out) {
    float *x = rand_buf(r, c->a, 5.0f), *y = zero_buf(r, c->a);
    r->be->copy(r->be, y, x, c->a);
    take(r, out, y, c->a);
    return 0;
}

/* Whisper's ops. layernorm: a = width, b = T. */
static int run_layernorm(Run *r, const OpCase *c, Out *out) {
    const Weight *w = rand_weight(r, c->dt, 1, c->a, 0.2f, 1.0f);
    const Weight *b = rand_weight(r, c->dt, 1, c->a, 0.2f, 0);
    if (!w || !b) return -1;
    size_t n = (size_t)c->b * c->a;
    float *x = rand_buf(r, n, 3.0f), *y = zero_buf(r, n);
    r->be->layernorm(r->be, y, x, w, b, c->b, 1e-5f);
    take(r, out, y, n);
    return 0;
}

/* gelu and relu over a = n elements. */
static int run_gelu(Run *r, const OpCase *c, Out *out) {
    float *x = rand_buf(r, c->a, 4.0f);
    r->be->gelu(r->be, x, c->a);
    take(r, out, x, c->a);
    return 0;
}

static int run_relu(Run *r, const OpCase *c, Out *out) {
    float *x = rand_buf(r, c->a, 4.0f);
    r->be->relu(r->be, x, c->a);
    take(r, out, x, c->a);
    return 0;
}

/* im2col3: a = L, b = C, c = stride. */
static int run_im2col3(Run *r, const OpCase *c, Out *out) {
    int L = c->a, C = c->b, Lo = (L - 1) / c->c + 1;
    float *x = rand_buf(r, (size_t)L * C, 1.0f), *col = zero_buf(r, (size_t)Lo * C * 3);
    r->be->im2col3(r->be, col, x, L, C, c->c);
    take(r, out, col, (size_t)Lo * C * 3);
    return 0;
}

/* im2col: a = T, b = C, c = K, d = stride. */
static int run_im2col(Run *r, const OpCase *c, Out *out) {
    int T = c->a, C = c->b, K = c->c, s = c->d, L = (T - 1) * s + K;
    float *x = rand_buf(r, (size_t)L * C, 1.0f), *col = zero_buf(r, (size_t)T * C * K);
    r->be->im2col(r->be, col, x, T, C, K, s);
    take(r, out, col, (size_t)T * C * K);
    return 0;
}

/* depthwise convolution: a = T, b = C, c = K. */
static int run_dwconv(Run *r, const OpCase *c, Out *out) {
    int T = c->a, C = c->b, K = c->c;
    const Weight *W = rand_weight(r, c->dt, 1, C * K, 0.5f, 0);
    const Weight *B = rand_weight(r, c->dt, 1, C, 0.5f, 0);
    if (!W || !B) return -1;
    float *x = rand_buf(r, (size_t)(T + K - 1) * C, 2.0f), *y = zero_buf(r, (size_t)T * C);
    r->be->dwconv(r->be, y, x, W, B, T, C, K);
    take(r, out, y, (size_t)T * C);
    return 0;
}

/* layer-scaled residual: a = T, b = C. */
static int run_add_scaled(Run *r, const OpCase *c, Out *out) {
    int T = c->a, C = c->b;
    const Weight *G = rand_weight(r, c->dt, 1, C, 1.0f, 0);
    if (!G) return -1;
    float *x = rand_buf(r, (size_t)T * C, 2.0f), *y = rand_buf(r, (size_t)T * C, 2.0f);
    r->be->add_scaled(r->be, x, y, G, T, C);
    take(r, out, x, (size_t)T * C);
    return 0;
}

/* unmasked attention: a = T queries, b = S keys, c = heads, d = head_dim. */
static int run_attention_full(Run *r, const OpCase *c, Out *out) {
    size_t nq = (size_t)c->a * c->c * c->d, nk = (size_t)c->b * c->c * c->d;
    float *q = rand_buf(r, nq, 2.0f), *k = rand_buf(r, nk, 2.0f), *v = rand_buf(r, nk, 1.0f);
    float *o = zero_buf(r, nq);
    r->be->attention_full(r->be, o, q, k, v, c->a, c->b, c->c, c->d);
    take(r, out, o, nq);
    return 0;
}

/* The fused ops, or their composition where the backend lacks them.
 * rmsnorm_matmul with bias: a = rows, b = cols, c = T. */
static int run_rmsnorm_matmul(Run *r, const OpCase *c, Out *out) {
    Backend *be = r->be;
    int rows = c->a, cols = c->b, T = c->c;
    const Weight *W = rand_weight(r, c->dt, rows, cols, 1.0f, 0);
    const Weight *B = rand_weight(r, c->dt, 1, rows, 0.5f, 0);
    const Weight *N = rand_weight(r, c->dt, 1, cols, 0.2f, 1.0f);
    if (!W || !B || !N) return -1;
    float *x = rand_buf(r, (size_t)T * cols, 2.0f), *h = zero_buf(r, (size_t)T * cols);
    float *y = zero_buf(r, (size_t)T * rows);
    if (be->rmsnorm_matmul) {
        be->rmsnorm_matmul(be, y, h, x, N, W, B, T, 1e-6f);
    } else {
        be->rmsnorm(be, h, x, N, T, 1e-6f);
        be->matmul(be, y, h, W, B, T);
    }
    take(r, out, y, (size_t)T * rows);
    return 0;
}

/* matmul_add (x += a W^T): a = rows, b = cols, c = T. */
static int run_matmul_add(Run *r, const OpCase *c, Out *out) {
    Backend *be = r->be;
    int rows = c->a, cols = c->b, T = c->c;
    const Weight *W = rand_weight(r, c->dt, rows, cols, 1.0f, 0);
    if (!W) return -1;
    float *a = rand_buf(r, (size_t)T * cols, 1.0f), *x = rand_buf(r, (size_t)T * rows, 5.0f);
    if (be->matmul_add) {
        be->matmul_add(be, x, a, W, T);
    } else {
        float *t = zero_buf(r, (size_t)T * rows);
        be->matmul(be, t, a, W, NULL, T);
        be->add(be, x, t, (size_t)T * rows);
    }
    take(r, out, x, (size_t)T * rows);
    return 0;
}

/* rmsnorm_swiglu: a = F (rows), b = D (cols), c = T. */
static int run_rmsnorm_swiglu(Run *r, const OpCase *c, Out *out) {
    Backend *be = r->be;
    int F = c->a, D = c->b, T = c->c;
    const Weight *G = rand_weight(r, c->dt, F, D, 1.0f, 0);
    const Weight *U = rand_weight(r, c->dt, F, D, 1.0f, 0);
    const Weight *N = rand_weight(r, c->dt, 1, D, 0.2f, 1.0f);
    if (!G || !U || !N) return -1;
    float *x = rand_buf(r, (size_t)T * D, 2.0f), *h = zero_buf(r, (size_t)T * D);
    float *a = zero_buf(r, (size_t)T * F), *u = zero_buf(r, (size_t)T * F);
    if (be->rmsnorm_swiglu) {
        be->rmsnorm_swiglu(be, a, u, h, x, N, G, U, T, 1e-6f);
    } else {
        be->rmsnorm(be, h, x, N, T, 1e-6f);
        be->matmul(be, a, h, G, NULL, T);
        be->matmul(be, u, h, U, NULL, T);
        be->swiglu(be, a, a, u, (size_t)T * F);
    }
    take(r, out, a, (size_t)T * F);
    return 0;
}

/* qkv_rope: a = D, b = Hq, c = Hkv, d = head_dim, e = pos0; T = 3. The
 * output is q and the whole caches (rows before pos0 must stay as they
 * were). A negative head_dim -d is MiniCPM's form: no biases, LongRoPE. */
static int run_qkv_rope(Run *r, const OpCase *c, Out *out) {
    Backend *be = r->be;
    int D = c->a, Hq = c->b, Hkv = c->c, hd = abs(c->d), pos0 = c->e, T = 3, ctx = pos0 + T + 2;
    int minicpm = c->d < 0;
    Rope rp = case_rope(hd, minicpm);
    int qd = Hq * hd, kvd = Hkv * hd;
    const Weight *N = rand_weight(r, c->dt, 1, D, 0.2f, 1.0f);
    const Weight *Wq = rand_weight(r, c->dt, qd, D, 1.0f, 0);
    const Weight *Wk = rand_weight(r, c->dt, kvd, D, 1.0f, 0);
    const Weight *Wv = rand_weight(r, c->dt, kvd, D, 1.0f, 0);
    const Weight *Bq = rand_weight(r, c->dt, 1, qd, 0.5f, 0);
    const Weight *Bk = rand_weight(r, c->dt, 1, kvd, 0.5f, 0);
    const Weight *Bv = rand_weight(r, c->dt, 1, kvd, 0.5f, 0);
    if (!N || !Wq || !Wk || !Wv || !Bq || !Bk || !Bv) return -1;
    if (minicpm) Bq = Bk = Bv = NULL;
    size_t nc = (size_t)ctx * kvd;
    float *x = rand_buf(r, (size_t)T * D, 2.0f), *h = zero_buf(r, (size_t)T * D);
    float *q = zero_buf(r, (size_t)T * qd);
    float *kc = rand_buf(r, nc, 1.0f), *vc = rand_buf(r, nc, 1.0f);
    if (be->qkv_rope) {
        QkvWeights w = {N, Wq, Wk, Wv, Bq, Bk, Bv};
        be->qkv_rope(be, q, kc, vc, h, x, &w, T, pos0, Hq, Hkv, hd, &rp, 1e-6f);
    } else {
        float *kp = kc + (size_t)pos0 * kvd, *vp = vc + (size_t)pos0 * kvd;
        be->rmsnorm(be, h, x, N, T, 1e-6f);
        be->matmul(be, q, h, Wq, Bq, T);
        be->matmul(be, kp, h, Wk, Bk, T);
        be->matmul(be, vp, h, Wv, Bv, T);
        be->rope(be, q, T, Hq, hd, pos0, &rp);
        be->rope(be, kp, T, Hkv, hd, pos0, &rp);
    }
    take(r, out, q, (size_t)T * qd);
    take(r, out, kc, nc);
    take(r, out, vc, nc);
    return 0;
}

static const struct {
    const char *op;
    Runner run;
} runners[] = {
    {"embed", run_embed},
    {"rmsnorm", run_rmsnorm},
    {"matmul", run_matmul},
    {"matmul_quant", run_matmul_quant},
    {"rope", run_rope},
    {"scale", run_scale},
    {"attention", run_attention},
    {"swiglu", run_swiglu},
    {"add", run_add},
    {"copy", run_copy},
    {"addmm", run_addmm},
    {"layernorm", run_layernorm},
    {"gelu", run_gelu},
    {"relu", run_relu},
    {"im2col3", run_im2col3},
    {"im2col", run_im2col},
    {"dwconv", run_dwconv},
    {"add_scaled", run_add_scaled},
    {"attention_full", run_attention_full},
    {"rmsnorm_matmul", run_rmsnorm_matmul},
    {"matmul_add", run_matmul_add},
    {"rmsnorm_swiglu", run_rmsnorm_swiglu},
    {"qkv_rope", run_qkv_rope},
};

/* ------------------------------------------------------------ the cases */

/* A weight op at the batch sizes that take different paths: decode matvec
 * (T < 8), the fused kernels' limit, and prefill. */
#define AT_TS(op, dt, a, b)                                                                        \
    {op, dt, a, b, 1, 0, 0, 0}, {op, dt, a, b, 3, 0, 0, 0}, {op, dt, a, b, 7, 0, 0, 0},            \
        {op, dt, a, b, 8, 0, 0, 0}, {                                                              \
        op, dt, a, b, 33, 0, 0, 0                                                                  \
    }

/* A weight op at every small batch size, 2 to 17. */
#define AT_N(op, dt, a, b, n) {op, dt, a, b, n, 0, 0, 0}
#define AT_NS(op, dt, a, b)                                                                        \
    AT_N(op, dt, a, b, 2), AT_N(op, dt, a, b, 3), AT_N(op, dt, a, b, 4), AT_N(op, dt, a, b, 5),    \
        AT_N(op, dt, a, b, 6), AT_N(op, dt, a, b, 7), AT_N(op, dt, a, b, 8),                       \
        AT_N(op, dt, a, b, 9), AT_N(op, dt, a, b, 10), AT_N(op, dt, a, b, 11),                     \
        AT_N(op, dt, a, b, 12), AT_N(op, dt, a, b, 13), AT_N(op, dt, a, b, 14),                    \
        AT_N(op, dt, a, b, 15), AT_N(op, dt, a, b, 16), AT_N(op, dt, a, b, 17)

static const OpCase cases[] = {
    {"embed", DT_BF16, 50, 97, 5, 0, 0, -1},
    {"embed", DT_F16, 50, 97, 5, 0, 0, -1},
    {"embed", DT_F32, 50, 97, 5, 0, 0, -1},
    {"rmsnorm", DT_BF16, 97, 5, 0, 0, 0, 0},
    {"rmsnorm", DT_F32, 896, 3, 0, 0, 0, 0},
    /* 77 columns take the scalar paths, 264 the vector ones */
    AT_TS("matmul", DT_BF16, 301, 77),
    AT_TS("matmul", DT_BF16, 130, 264),
    AT_TS("matmul", DT_F16, 301, 77),
    AT_TS("matmul", DT_F16, 130, 264),
    AT_TS("matmul", DT_F32, 301, 77),
    AT_TS("matmul", DT_F32, 130, 264),
    /* the CPU's several-position matvec (k_matvec_n) at every n it takes,
     * 2 to 16 (a pass of 8 positions, then the rest), and 17, sgemm's first */
    AT_NS("matmul", DT_BF16, 301, 77),
    AT_NS("matmul", DT_BF16, 130, 264),
    AT_NS("matmul", DT_F16, 130, 264),
    AT_NS("matmul", DT_F32, 301, 77),
    AT_NS("matmul", DT_F32, 37, 2100),
    /* quantized (GPTQ/AWQ layout): 4 and 8 bits, groups of 32, 128, one
     * group, act-order; 296 outputs leave a tail of 8 */
    {"matmul_quant", DT_F32, 296, 256, 1, 4, 128, 0},
    {"matmul_quant", DT_F32, 296, 256, 3, 4, -32, 0},
    {"matmul_quant", DT_F32, 296, 256, 33, 4, 32, 0},
    {"matmul_quant", DT_F32, 296, 256, 33, 4, -32, 0},
    {"matmul_quant", DT_F32, 64, 160, 1, 8, 0, 0},
    {"matmul_quant", DT_F32, 64, 160, 33, 8, 64, 0},
    {"matmul_quant", DT_F32, 896, 1152, 1, 4, 128, 0},
    {"rope", DT_F32, 5, 3, 10, 4000, 0, 0},
    {"rope", DT_F32, 2, 14, 64, 0, 0, 0},
    {"rope", DT_F32, 5, 3, 10, 4000, 1, 0}, /* LongRoPE's form */
    {"rope", DT_F32, 2, 8, 128, 31, 1, 0},
    /* Hq, Hkv, head_dim, pos0, T: decode, prefill, odd head sizes, and
     * past the 256 keys where CUDA's decode splits the keys */
    {"attention", DT_F32, 14, 2, 64, 0, 1, 0},
    {"attention", DT_F32, 14, 2, 64, 700, 1, 0},
    {"attention", DT_F32, 6, 2, 8, 5, 70, 0},
    {"attention", DT_F32, 4, 4, 80, 17, 3, 0},
    {"attention", DT_F32, 2, 1, 136, 40, 9, 0},
    {"attention", DT_F32, 4, 1, 64, 0, 300, 0},
    {"attention", DT_F32, 14, 2, 64, 1499, 1, 0},
    {"attention", DT_F32, 14, 2, 64, 1497, 3, 0},
    {"attention", DT_F32, 14, 2, 64, 1000, 7, 0},
    {"attention", DT_F32, 14, 2, 64, 257, 1, 0},
    {"attention", DT_F32, 4, 1, 128, 2047, 1, 0},
    {"attention", DT_F32, 6, 2, 80, 3000, 2, 0},
    {"attention", DT_F32, 2, 1, 136, 700, 5, 0},
    {"swiglu", DT_F32, 485, 0, 0, 0, 0, 0},
    {"add", DT_F32, 485, 0, 0, 0, 0, 0},
    {"scale", DT_F32, 485, 0, 0, 0, 0, 0},
    {"copy", DT_F32, 485, 0, 0, 0, 0, -1},
    AT_TS("addmm", DT_F32, 16, 896),
    AT_TS("addmm", DT_F32, 4, 4864),
    {"addmm", DT_F32, 3, 37, 5, 0, 0, 0},
    {"layernorm", DT_BF16, 72, 37, 0, 0, 0, 0},
    {"gelu", DT_F32, 2664, 0, 0, 0, 0, 0},
    {"relu", DT_F32, 2664, 0, 0, 0, 0, -1},
    {"im2col3", DT_F32, 37, 72, 1, 0, 0, -1},
    {"im2col3", DT_F32, 37, 72, 2, 0, 0, -1},
    /* VibeVoice's: the stem (one channel, kernel 7), a downsampling
     * (kernel 2r, stride r) and the head; depthwise mixers of kernel 7 */
    {"im2col", DT_F32, 301, 1, 7, 1, 0, -1},
    {"im2col", DT_F32, 40, 24, 10, 5, 0, -1},
    {"im2col", DT_F32, 9, 130, 7, 1, 0, -1},
    {"dwconv", DT_BF16, 301, 8, 7, 0, 0, 0},
    {"dwconv", DT_F32, 33, 130, 7, 0, 0, 0},
    {"dwconv", DT_F16, 5, 2049, 3, 0, 0, 0},
    {"add_scaled", DT_BF16, 301, 8, 0, 0, 0, 0},
    {"add_scaled", DT_F32, 7, 2049, 0, 0, 0, 0},
    {"attention_full", DT_F32, 70, 93, 3, 24, 0, 0},
    /* the fused ops at Qwen2.5-0.5B's widths and odd ones */
    AT_TS("rmsnorm_matmul", DT_BF16, 1000, 896),
    AT_TS("rmsnorm_matmul", DT_F32, 301, 77),
    AT_TS("matmul_add", DT_BF16, 896, 4864),
    AT_TS("matmul_add", DT_F32, 1000, 77),
    AT_TS("rmsnorm_swiglu", DT_BF16, 4864, 896),
    AT_TS("rmsnorm_swiglu", DT_F32, 1000, 77),
    {"qkv_rope", DT_BF16, 896, 14, 2, 64, 0, 0},
    {"qkv_rope", DT_BF16, 896, 14, 2, 64, 1700, 0},
    {"qkv_rope", DT_F32, 77, 6, 2, 10, 33, 0},
    {"qkv_rope", DT_BF16, 256, 8, 2, -32, 5, 0}, /* MiniCPM: no biases, LongRoPE */
    {"qkv_rope", DT_F32, 77, 6, 2, -10, 33, 0},
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

static Runner runner_for(const char *op) {
    for (size_t i = 0; i < sizeof runners / sizeof runners[0]; i++)
        if (!strcmp(runners[i].op, op)) return runners[i].run;
    return NULL;
}

static void describe(const OpCase *c, char *buf, size_t size) {
    snprintf(buf, size, "%s %s (%d, %d, %d, %d, %d)", c->op, dtype_name(c->dt), c->a, c->b, c->c,
             c->d, c->e);
}

/* Runs case i on be: 0 with the output, or -1 with the error set. */
static int run_case(Backend *be, int i, Out *out) {
    Run r = {.be = be, .rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1)};
    memset(out, 0, sizeof *out);
    int rc = runner_for(cases[i].op)(&r, &cases[i], out);
    if (rc == 0 && be->sync(be)) rc = -1;
    run_free(&r);
    return rc;
}

/* Largest |a - b| over the largest |b|. */
static double rel_diff(const float *a, const float *b, size_t n) {
    double d = 0, m = 1e-30;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return d / m;
}

/* Every case on be against the reference; isa (or NULL) picks the CPU
 * kernels be runs with. Fails naming each case that differs. */
static void check_backend(Backend *be, const char *name, const char *isa) {
    Backend *ref = backend_cpu_open(1);
    for (int i = 0; i < N_CASES; i++) {
        char what[128];
        describe(&cases[i], what, sizeof what);
        Out want, got;
        k_reset_isa();
        if (run_case(ref, i, &want)) {
            test_fail(__FILE__, __LINE__, "%s on the reference: %s", what, unum_error());
            continue;
        }
        if (isa) k_set_isa(isa);
        int rc = run_case(be, i, &got);
        k_reset_isa();
        if (rc) {
            test_fail(__FILE__, __LINE__, "%s on %s: %s", what, name, unum_error());
        } else if (got.n != want.n) {
            test_fail(__FILE__, __LINE__, "%s on %s: %zu values, expected %zu", what, name, got.n,
                      want.n);
        } else {
            double tol = cases[i].tol < 0 ? 0 : cases[i].tol > 0 ? cases[i].tol : TOL;
            double d = rel_diff(got.v, want.v, want.n);
            if (!(d <= tol))
                test_fail(__FILE__, __LINE__,
                          "%s on %s: differs by %.3g of the largest value "
                          "(tolerance %.3g)",
                          what, name, d, tol);
        }
        free(want.v), free(got.v);
    }
    ref->close(ref);
}

TEST(backend_ops_table_names_known_ops) {
    for (int i = 0; i < N_CASES; i++)
        if (!runner_for(cases[i].op))
            test_fail(__FILE__, __LINE__, "case %d names op '%s', which has no runner", i,
                      cases[i].op);
}

TEST(backend_ops_cpu_kernel_sets_match_reference) {
    static const char *isas[] = {"generic", "avx2", "avx512"};
    int ran = 0;
    for (int i = 0; i < 3; i++) {
        if (k_set_isa(isas[i])) continue; /* the CPU lacks it */
        k_reset_isa();
        char name[32];
        snprintf(name, sizeof name, "cpu/%s", isas[i]);
        Backend *be = backend_cpu_open(2);
        check_backend(be, name, isas[i]);
        be->close(be);
        ran++;
    }
    CHECK(ran >= 1); /* generic is always there */
}

/* The convolution ops against plain loops over the same inputs. */
TEST(backend_ops_cpu_convolutions_match_loops) {
    Backend *be = backend_cpu_open(2);
    Run r = {.be = be, .rng = 7};
    int T = 23, C = 5, K = 6, S = 3, L = (T - 1) * S + K;
    float *x = rand_buf(&r, (size_t)L * C, 1.0f), *col = zero_buf(&r, (size_t)T * C * K);
    be->im2col(be, col, x, T, C, K, S);
    for (int t = 0; t < T; t++)
        for (int c = 0; c < C; c++)
            for (int k = 0; k < K; k++)
                CHECK(col[((size_t)t * C + c) * K + k] == x[(size_t)(t * S + k) * C + c]);
    const Weight *W = rand_weight(&r, DT_F32, 1, C * K, 0.5f, 0);
    const Weight *B = rand_weight(&r, DT_F32, 1, C, 0.5f, 0);
    const Weight *G = rand_weight(&r, DT_F32, 1, C, 1.0f, 0);
    REQUIRE(W && B && G);
    const float *w = W->data, *b = B->data, *g = G->data;
    float *y = zero_buf(&r, (size_t)T * C), *acc = zero_buf(&r, (size_t)T * C);
    be->dwconv(be, y, x, W, B, T, C, K);
    double worst = 0;
    for (int t = 0; t < T; t++)
        for (int c = 0; c < C; c++) {
            double v = b[c];
            for (int k = 0; k < K; k++) v += (double)w[c * K + k] * x[(size_t)(t + k) * C + c];
            worst = fmax(worst, fabs(v - y[(size_t)t * C + c]));
        }
    CHECK(worst < 1e-5);
    for (size_t i = 0; i < (size_t)T * C; i++) acc[i] = (float)i;
    be->add_scaled(be, acc, y, G, T, C);
    worst = 0;
    for (size_t i = 0; i < (size_t)T * C; i++)
        worst = fmax(worst, fabs((double)i + (double)g[i % C] * y[i] - acc[i]));
    CHECK(worst < 1e-4);
    run_free(&r);
    be->close(be);
}

#ifdef UNUM_CUDA
static void check_cuda(const char *fused) {
    const char *old = getenv("UNUM_CUDA_FUSED");
    char *saved = old ? xstrdup(old) : NULL;
    setenv("UNUM_CUDA_FUSED", fused, 1);
    Backend *be = backend_open("cuda", 0);
    if (saved) setenv("UNUM_CUDA_FUSED", saved, 1);
    else unsetenv("UNUM_CUDA_FUSED");
    free(saved);
    if (!be) SKIP(unum_error());
    check_backend(be, strcmp(fused, "0") ? "cuda" : "cuda (unfused)", NULL);
    be->close(be);
}
#endif

TEST(backend_ops_cuda_matches_cpu) {
#ifdef UNUM_CUDA
    check_cuda("1");
#else
    SKIP("built without CUDA (nvcc was not found)");
#endif
}

TEST(backend_ops_cuda_unfused_matches_cpu) {
#ifdef UNUM_CUDA
    check_cuda("0");
#else
    SKIP("built without CUDA (nvcc was not found)");
#endif
}
