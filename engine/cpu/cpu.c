/* cpu.c - the CPU backend: pthreads across output rows, AVX-512/AVX2
 * kernels for matrix-vector products straight from the mmapped bf16/f16/f32
 * weights, and single-threaded OpenBLAS sgemm per thread for prefill (each
 * thread widens its own slice of the weight rows to f32, a block at a time,
 * so no f32 copy of the model ever exists). Activations stay in f32. */
#include "engine/cpu/kernels.h"
#include "engine/cpu/qkernels.h"
#include "engine/ops.h"
#include "engine/cpu/pool.h"
#include "engine/base/util.h"

#include <cblas.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* matmul: up to MATVEC_MAX_T rows of activations, k_matvec_n reads each
 * weight row once for all of them (a speculative verify costs about one
 * decode); sgemm from there on. Attention: sgemm from GEMM_MIN_T queries. */
#define MATVEC_MAX_T 16
#define GEMM_MIN_T 4
#define ELEM_GRAIN 16384 /* elements per task of the element-wise ops */
#define GEMM_BLOCK 128 /* weight rows widened to f32 per sgemm call */
#define QUANT_KC 512   /* inputs of a quantized matrix dequantized per sgemm call */
#define QUANT_GEMM_MIN_T 8 /* quantized: matvec below this many rows (it reads
                              the packed weights once per row, a slab costs more) */
#define ATT_BLOCK 64   /* queries per attention task */

typedef struct {
    float *buf;
    size_t cap;
} Scratch;

typedef struct {
    Pool *pool;
    Scratch *scratch; /* one per thread */
    Scratch gather;   /* activations in a quantized matrix's input order */
} Cpu;

static float *scratch_get(Cpu *c, int thread, size_t n) {
    Scratch *s = &c->scratch[thread];
    if (s->cap < n) {
        free(s->buf);
        s->buf = xmalloc(n * sizeof(float));
        s->cap = n;
    }
    return s->buf;
}

/* ------------------------------------------------------------ memory */

/* calloc: large buffers (the KV cache) come as untouched zero pages, so
 * memory is only resident once positions are actually used. */
static float *cpu_alloc(Backend *be, size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p)
        unum_error_set("out of memory: cannot allocate %.1f MiB for activations",
                       (double)n * sizeof(float) / (1 << 20));
    return p;
}

static void cpu_free(Backend *be, float *p) { free(p); }

static int cpu_upload(Backend *be, const STensor *t, int rows, int cols, Weight *w) {
    if (!dtype_is_float(t->dtype))
        return unum_error_set("%s: tensor '%s' is %s, which holds no weight values", t->file,
                              t->name, dtype_name(t->dtype));
    if (t->numel != (int64_t)rows * cols)
        return unum_error_set("%s: tensor '%s' has %lld elements, expected %d x %d", t->file,
                              t->name, (long long)t->numel, rows, cols);
    *w = (Weight){t->dtype, rows, cols, t->data, NULL};
    return 0;
}

/* The QMat is kept as built (in place from the mmap where it can be). */
static int cpu_upload_quant(Backend *be, QMat *q, Weight *w) {
    QMat *own = xmalloc(sizeof *own);
    *own = *q;
    *w = (Weight){DT_F32, q->rows, q->cols, own, own};
    return 0;
}

static void cpu_release(Backend *be, Weight *w) {
    if (w->quant) {
        QMat *q = (QMat *)w->quant;
        quant_free(q);
        free(q);
    }
    memset(w, 0, sizeof *w);
}

static void cpu_copy(Backend *be, float *dst, const float *src, size_t n) {
    memcpy(dst, src, n * sizeof(float));
}

/* ------------------------------------------------------------ matmul */

typedef struct {
    Cpu *cpu;
    float *y;
    const float *x;
    const Weight *W, *bias;
    int T;
    const char *prep; /* quantized decode: kq_prepare's output per token */
    size_t prep_bytes;
} MatmulJob;

static void matmul_rows(void *ctx, int r0, int r1, int thread) {
    MatmulJob *j = ctx;
    const Weight *W = j->W;
    int rows = W->rows, cols = W->cols;
    if (W->quant && j->T < QUANT_GEMM_MIN_T) {
        for (int t = 0; t < j->T; t++)
            kq_matvec(W->quant, r0, r1, j->prep + (size_t)t * j->prep_bytes,
                      j->y + (size_t)t * rows + r0);
    } else if (W->quant) {
        /* input-major f32 slabs of GEMM_BLOCK outputs by QUANT_KC inputs,
         * small enough to stay in L2 between being written and read, each
         * one sgemm adding into y */
        float *wf = scratch_get(j->cpu, thread, (size_t)GEMM_BLOCK * QUANT_KC);
        for (int r = r0; r < r1; r += GEMM_BLOCK) {
            int n = r1 - r < GEMM_BLOCK ? r1 - r : GEMM_BLOCK;
            for (int k = 0; k < cols; k += QUANT_KC) {
                int kn = cols - k < QUANT_KC ? cols - k : QUANT_KC;
                kq_dequant(W->quant, r, r + n, k, k + kn, wf, n);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, j->T, n, kn, 1.0f,
                            j->x + k, cols, wf, n, k ? 1.0f : 0.0f, j->y + r, rows);
            }
        }
    } else if (j->T == 1) {
        k_matvec(W->dtype, W->data, cols, r0, r1, j->x, j->y + r0);
    } else if (j->T <= MATVEC_MAX_T) {
        k_matvec_n(W->dtype, W->data, cols, r0, r1, j->x, j->T, j->y + r0, (size_t)rows);
    } else {
        /* y starts as the bias (one pass over y, where zeroing it and adding
         * the bias after would take two) */
        float *wf = scratch_get(j->cpu, thread, (size_t)GEMM_BLOCK * cols), b[GEMM_BLOCK];
        for (int r = r0; r < r1; r += GEMM_BLOCK) {
            int n = r1 - r < GEMM_BLOCK ? r1 - r : GEMM_BLOCK;
            if (j->bias) {
                k_convert_rows(j->bias->dtype,
                               (const char *)j->bias->data + (size_t)r * dtype_size(j->bias->dtype),
                               n, 0, 1, b);
                for (int t = 0; t < j->T; t++) memcpy(j->y + (size_t)t * rows + r, b, sizeof(float) * n);
            }
            k_convert_rows(W->dtype, W->data, cols, r, r + n, wf);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->T, n, cols, 1.0f, j->x, cols,
                        wf, cols, j->bias ? 1.0f : 0.0f, j->y + r, rows);
        }
        return;
    }
    if (j->bias) { /* the bias is a [1 x rows] weight; widen our slice of it */
        float b[GEMM_BLOCK];
        for (int r = r0; r < r1; r += GEMM_BLOCK) {
            int n = r1 - r < GEMM_BLOCK ? r1 - r : GEMM_BLOCK;
            k_convert_rows(j->bias->dtype,
                           (const char *)j->bias->data + (size_t)r * dtype_size(j->bias->dtype), n,
                           0, 1, b);
            for (int t = 0; t < j->T; t++) {
                float *yt = j->y + (size_t)t * rows + r;
                for (int i = 0; i < n; i++) yt[i] += b[i];
            }
        }
    }
}

static void cpu_matmul(Backend *be, float *y, const float *x, const Weight *W, const Weight *bias,
                       int T) {
    Cpu *c = be->impl;
    Scratch *g = &c->gather;
    const char *prep = NULL;
    size_t prep_bytes = 0;
    if (W->quant && T < QUANT_GEMM_MIN_T) { /* decode: x prepared once for every thread */
        prep_bytes = (kq_prep_bytes(W->quant) + 63) & ~(size_t)63;
        size_t floats = (T * prep_bytes) / sizeof(float);
        if (g->cap < floats) {
            free(g->buf);
            g->cap = floats;
            g->buf = xmalloc(floats * sizeof(float));
        }
        for (int t = 0; t < T; t++)
            kq_prepare(W->quant, x + (size_t)t * W->cols, (char *)g->buf + t * prep_bytes);
        prep = (const char *)g->buf;
    } else if (W->quant && W->quant->perm) { /* act-order prefill: x in the layout's order */
        const int32_t *perm = W->quant->perm;
        int K = W->cols;
        if (g->cap < (size_t)T * K) {
            free(g->buf);
            g->cap = (size_t)T * K;
            g->buf = xmalloc(g->cap * sizeof(float));
        }
        for (int t = 0; t < T; t++)
            for (int k = 0; k < K; k++) g->buf[(size_t)t * K + k] = x[(size_t)t * K + perm[k]];
        x = g->buf;
    }
    MatmulJob j = {c, y, x, W, bias, T, prep, prep_bytes};
    /* Decode streams weights: long contiguous runs keep the prefetchers
     * busy, so each thread gets about two chunks (still leaving room to
     * balance a slow core). Prefill: sgemm blocks of at most GEMM_BLOCK
     * rows, sized so each thread gets the same number (down_proj's 896
     * rows as 8 x 112, not 7 x 128 with one thread idle at the end). */
    int nt = be->n_threads, grain;
    if (W->quant ? T < QUANT_GEMM_MIN_T : T <= MATVEC_MAX_T) {
        grain = (W->rows / (2 * nt) + 15) & ~15;
        grain = grain < 64 ? 64 : grain;
    } else { /* a whole number of blocks per thread, each at most GEMM_BLOCK */
        int per = (W->rows + nt * GEMM_BLOCK - 1) / (nt * GEMM_BLOCK);
        grain = (W->rows + nt * per - 1) / (nt * per);
        grain = (grain + 15) & ~15;
    }
    pool_run(c->pool, W->rows, grain, matmul_rows, &j);
}

/* addmm: each thread adds x W into its own columns of y, a row of x at a
 * time as W's rows scaled by x's entries (k_axpy_rows). */
typedef struct {
    float *y;
    const float *x;
    const Weight *W;
    int T;
} AddmmJob;

static void addmm_cols(void *ctx, int c0, int c1, int thread) {
    AddmmJob *j = ctx;
    int K = j->W->rows, N = j->W->cols;
    const float *W = j->W->data;
    for (int t = 0; t < j->T; t++)
        k_axpy_rows(j->y + (size_t)t * N + c0, W + c0, (size_t)N, K, j->x + (size_t)t * K, c1 - c0);
}

static void cpu_addmm(Backend *be, float *y, const float *x, const Weight *W, int T) {
    Cpu *c = be->impl;
    AddmmJob j = {y, x, W, T};
    int grain = (W->cols / (2 * be->n_threads) + 15) & ~15;
    pool_run(c->pool, W->cols, grain < 256 ? 256 : grain, addmm_cols, &j);
}

/* ------------------------------------------------------------ elementwise */

static void cpu_embed(Backend *be, float *x, const Weight *table, const int32_t *ids, int T) {
    for (int t = 0; t < T; t++)
        k_convert_rows(table->dtype, table->data, table->cols, ids[t], ids[t] + 1,
                       x + (size_t)t * table->cols);
}

typedef struct {
    float *y;
    const float *x, *w;
    int D;
    float eps;
} NormJob;

static void rmsnorm_rows(void *ctx, int b, int e, int thread) {
    const NormJob *j = ctx;
    int D = j->D;
    for (int t = b; t < e; t++) {
        const float *xt = j->x + (size_t)t * D;
        float *yt = j->y + (size_t)t * D;
        float ss = 0;
        for (int i = 0; i < D; i++) ss += xt[i] * xt[i];
        float inv = 1.0f / sqrtf(ss / (float)D + j->eps);
        for (int i = 0; i < D; i++) yt[i] = xt[i] * inv * j->w[i];
    }
}

static void cpu_rmsnorm(Backend *be, float *y, const float *x, const Weight *w, int T, float eps) {
    Cpu *c = be->impl;
    int D = w->cols;
    float *wf = scratch_get(c, 0, (size_t)D);
    k_convert_rows(w->dtype, w->data, D, 0, 1, wf);
    NormJob j = {y, x, wf, D, eps};
    /* a few rows (decode) in this thread; many (a speech encoder's) shared */
    if ((size_t)T * D < 4 * ELEM_GRAIN) rmsnorm_rows(&j, 0, T, 0);
    else pool_run(c->pool, T, ELEM_GRAIN / D + 1, rmsnorm_rows, &j);
}

static void cpu_rope(Backend *be, float *x, int T, int n_heads, int head_dim, int pos0,
                     const Rope *rope) {
    int half = head_dim / 2;
    float cs[half], sn[half];
    for (int t = 0; t < T; t++) {
        float pos = (float)(pos0 + t);
        for (int i = 0; i < half; i++) {
            float a = pos * rope->inv_freq[i];
            cs[i] = cosf(a) * rope->scale;
            sn[i] = sinf(a) * rope->scale;
        }
        float *xt = x + (size_t)t * n_heads * head_dim;
        for (int h = 0; h < n_heads; h++) {
            float *v = xt + (size_t)h * head_dim;
            for (int i = 0; i < half; i++) {
                float a = v[i], b = v[i + half];
                v[i] = a * cs[i] - b * sn[i];
                v[i + half] = b * cs[i] + a * sn[i];
            }
        }
    }
}

/* Elementwise ops on prefill-sized buffers are split across the pool in
 * chunks of ELEM_GRAIN; a decode step's few thousand elements are not worth
 * waking a thread for. */

typedef struct {
    float *a;
    const float *g, *u;
} ElemJob;

static void swiglu_range(void *ctx, int b, int e, int thread) {
    ElemJob *j = ctx;
    for (int i = b; i < e; i++) j->a[i] = j->g[i] / (1.0f + expf(-j->g[i])) * j->u[i];
}

static void add_range(void *ctx, int b, int e, int thread) {
    ElemJob *j = ctx;
    for (int i = b; i < e; i++) j->a[i] += j->g[i];
}

static void run_elementwise(Backend *be, pool_fn fn, ElemJob *j, size_t n) {
    Cpu *c = be->impl;
    if (n < 2 * ELEM_GRAIN) fn(j, 0, (int)n, 0); /* n < 2^31: at most max_batch rows */
    else pool_run(c->pool, (int)n, ELEM_GRAIN, fn, j);
}

static void cpu_swiglu(Backend *be, float *a, const float *g, const float *u, size_t n) {
    ElemJob j = {a, g, u};
    run_elementwise(be, swiglu_range, &j, n);
}

static void cpu_add(Backend *be, float *x, const float *y, size_t n) {
    ElemJob j = {x, y, NULL};
    run_elementwise(be, add_range, &j, n);
}

static void cpu_scale(Backend *be, float *x, float s, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

/* ------------------------------------------------------------ attention */

typedef struct {
    Cpu *cpu;
    float *out;
    const float *q, *kc, *vc;
    int T, pos0, n_heads, n_kv, head_dim, n_blocks;
    int causal; /* 0: every query sees all pos0 keys (Whisper's unmasked attention) */
} AttJob;

/* One task = one head and a block of up to ATT_BLOCK queries:
 * S = scale * Q K^T over the keys the block can see, causal mask, row
 * softmax, O = P V; both products through sgemm on strided views. */
static void attention_tasks(void *ctx, int b, int e, int thread) {
    AttJob *j = ctx;
    int hd = j->head_dim, qs = j->n_heads * hd, ks = j->n_kv * hd;
    float scale = 1.0f / sqrtf((float)hd);
    for (int task = b; task < e; task++) {
        int h = task / j->n_blocks, blk = task % j->n_blocks;
        int kvh = h / (j->n_heads / j->n_kv);
        int t0 = blk * ATT_BLOCK, tb = j->T - t0 < ATT_BLOCK ? j->T - t0 : ATT_BLOCK;
        /* keys visible to the last query of the block */
        int nk = j->causal ? j->pos0 + t0 + tb : j->pos0;
        float *S = scratch_get(j->cpu, thread, (size_t)tb * nk);
        const float *q = j->q + (size_t)t0 * qs + (size_t)h * hd;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, tb, nk, hd, scale, q, qs,
                    j->kc + (size_t)kvh * hd, ks, 0.0f, S, nk);
        for (int i = 0; i < tb; i++) {
            float *s = S + (size_t)i * nk;
            int valid = j->causal ? j->pos0 + t0 + i + 1 : nk;
            float mx = -INFINITY;
            for (int k = 0; k < valid; k++) mx = s[k] > mx ? s[k] : mx;
            float sum = 0;
            for (int k = 0; k < valid; k++) {
                s[k] = expf(s[k] - mx);
                sum += s[k];
            }
            float inv = 1.0f / sum;
            for (int k = 0; k < valid; k++) s[k] *= inv;
            for (int k = valid; k < nk; k++) s[k] = 0;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, tb, hd, nk, 1.0f, S, nk,
                    j->vc + (size_t)kvh * hd, ks, 0.0f, j->out + (size_t)t0 * qs + (size_t)h * hd,
                    qs);
    }
}

/* Decode (and Whisper's cross-attention for a few queries): one task per
 * head and query, straight loops over the cache rows (an sgemm with a
 * single query row would re-pack the head's whole cache). */
static void attention_rows(void *ctx, int b, int e, int thread) {
    AttJob *j = ctx;
    int hd = j->head_dim, qs = j->n_heads * hd, ks = j->n_kv * hd;
    float scale = 1.0f / sqrtf((float)hd);
    for (int task = b; task < e; task++) {
        int h = task % j->n_heads, t = task / j->n_heads;
        int kvh = h / (j->n_heads / j->n_kv), nk = j->causal ? j->pos0 + t + 1 : j->pos0;
        float *s = scratch_get(j->cpu, thread, (size_t)nk);
        k_dot_rows(j->kc + (size_t)kvh * hd, ks, nk, j->q + (size_t)t * qs + (size_t)h * hd, hd,
                   scale, s);
        float mx = -INFINITY, sum = 0;
        for (int k = 0; k < nk; k++) mx = s[k] > mx ? s[k] : mx;
        for (int k = 0; k < nk; k++) sum += s[k] = expf(s[k] - mx);
        for (int k = 0; k < nk; k++) s[k] /= sum;
        float *o = j->out + (size_t)t * qs + (size_t)h * hd;
        memset(o, 0, sizeof(float) * hd);
        k_axpy_rows(o, j->vc + (size_t)kvh * hd, ks, nk, s, hd);
    }
}

static void cpu_attention(Backend *be, float *out, const float *q, const float *kc, const float *vc,
                          int T, int pos0, int n_heads, int n_kv, int head_dim) {
    Cpu *c = be->impl;
    AttJob j = {
        c, out, q, kc, vc, T, pos0, n_heads, n_kv, head_dim, (T + ATT_BLOCK - 1) / ATT_BLOCK, 1};
    if (T < GEMM_MIN_T) pool_run(c->pool, n_heads * T, 1, attention_rows, &j);
    else pool_run(c->pool, n_heads * j.n_blocks, 1, attention_tasks, &j);
}

/* ------------------------------------------------------------ whisper ops */

static void cpu_layernorm(Backend *be, float *y, const float *x, const Weight *w, const Weight *b,
                          int T, float eps) {
    Cpu *c = be->impl;
    int D = w->cols;
    float *wf = scratch_get(c, 0, 2 * (size_t)D), *bf = wf + D;
    k_convert_rows(w->dtype, w->data, D, 0, 1, wf);
    k_convert_rows(b->dtype, b->data, D, 0, 1, bf);
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * D;
        float *yt = y + (size_t)t * D;
        double mean = 0, var = 0;
        for (int i = 0; i < D; i++) mean += xt[i];
        mean /= D;
        for (int i = 0; i < D; i++) var += (xt[i] - mean) * (xt[i] - mean);
        float inv = (float)(1.0 / sqrt(var / D + eps));
        for (int i = 0; i < D; i++) yt[i] = (float)(xt[i] - mean) * inv * wf[i] + bf[i];
    }
}

static void gelu_range(void *ctx, int b, int e, int thread) {
    float *x = ((ElemJob *)ctx)->a;
    k_gelu(x + b, (size_t)(e - b));
}

static void relu_range(void *ctx, int b, int e, int thread) {
    float *x = ((ElemJob *)ctx)->a;
    for (int i = b; i < e; i++) x[i] = x[i] > 0 ? x[i] : 0.0f;
}

static void cpu_relu(Backend *be, float *x, size_t n) {
    ElemJob j = {x, NULL, NULL};
    run_elementwise(be, relu_range, &j, n);
}

static void cpu_gelu(Backend *be, float *x, size_t n) {
    ElemJob j = {x, NULL, NULL};
    run_elementwise(be, gelu_range, &j, n);
}

static void cpu_im2col3(Backend *be, float *col, const float *x, int L, int C, int stride) {
    int Lo = (L - 1) / stride + 1;
    for (int t = 0; t < Lo; t++) {
        float *row = col + (size_t)t * C * 3;
        for (int k = 0; k < 3; k++) {
            int s = stride * t + k - 1;
            for (int ch = 0; ch < C; ch++)
                row[ch * 3 + k] = s >= 0 && s < L ? x[(size_t)s * C + ch] : 0.0f;
        }
    }
}

typedef struct {
    float *y;
    const float *x, *w, *b;
    int C, K, stride;
} ConvJob;

static void im2col_rows(void *ctx, int b, int e, int thread) {
    const ConvJob *j = ctx;
    int C = j->C, K = j->K;
    for (int t = b; t < e; t++) {
        float *row = j->y + (size_t)t * C * K;
        const float *in = j->x + (size_t)t * j->stride * C;
        for (int k = 0; k < K; k++)
            for (int ch = 0; ch < C; ch++) row[ch * K + k] = in[(size_t)k * C + ch];
    }
}

static void cpu_im2col(Backend *be, float *col, const float *x, int T, int C, int K, int stride) {
    Cpu *c = be->impl;
    ConvJob j = {col, x, NULL, NULL, C, K, stride};
    int grain = ELEM_GRAIN / (C * K) + 1;
    pool_run(c->pool, T, grain, im2col_rows, &j);
}

/* j->w is the weight transposed to [K x C], so each tap is a row of C */
static void dwconv_rows(void *ctx, int b, int e, int thread) {
    const ConvJob *j = ctx;
    int C = j->C, K = j->K;
    for (int t = b; t < e; t++) {
        float *yt = j->y + (size_t)t * C;
        memcpy(yt, j->b, sizeof(float) * (size_t)C);
        for (int k = 0; k < K; k++) {
            const float *xt = j->x + (size_t)(t + k) * C, *wk = j->w + (size_t)k * C;
            for (int ch = 0; ch < C; ch++) yt[ch] += wk[ch] * xt[ch];
        }
    }
}

static void cpu_dwconv(Backend *be, float *y, const float *x, const Weight *w, const Weight *b,
                       int T, int C, int K) {
    Cpu *c = be->impl;
    size_t CK = (size_t)C * K;
    float *buf = xmalloc(sizeof(float) * (2 * CK + (size_t)C));
    float *row = buf, *wt = buf + CK, *bf = wt + CK; /* w as read, w as [K x C], b */
    k_convert_rows(w->dtype, w->data, (int)CK, 0, 1, row);
    for (int ch = 0; ch < C; ch++)
        for (int k = 0; k < K; k++) wt[(size_t)k * C + ch] = row[(size_t)ch * K + k];
    k_convert_rows(b->dtype, b->data, C, 0, 1, bf);
    ConvJob j = {y, x, wt, bf, C, K, 1};
    pool_run(c->pool, T, ELEM_GRAIN / (C * K) + 1, dwconv_rows, &j);
    free(buf);
}

static void add_scaled_rows(void *ctx, int b, int e, int thread) {
    const ConvJob *j = ctx;
    for (int t = b; t < e; t++) {
        float *xt = j->y + (size_t)t * j->C;
        const float *yt = j->x + (size_t)t * j->C;
        for (int ch = 0; ch < j->C; ch++) xt[ch] += j->w[ch] * yt[ch];
    }
}

static void cpu_add_scaled(Backend *be, float *x, const float *y, const Weight *g, int T, int C) {
    Cpu *c = be->impl;
    float *gf = xmalloc(sizeof(float) * (size_t)C);
    k_convert_rows(g->dtype, g->data, C, 0, 1, gf);
    ConvJob j = {x, y, gf, NULL, C, 1, 1};
    pool_run(c->pool, T, ELEM_GRAIN / C + 1, add_scaled_rows, &j);
    free(gf);
}

static void cpu_attention_full(Backend *be, float *out, const float *q, const float *k,
                               const float *v, int T, int S, int n_heads, int head_dim) {
    Cpu *c = be->impl;
    /* cpu_attention's paths, without the causal mask */
    AttJob j = {c, out, q, k, v, T, S, n_heads, n_heads, head_dim, (T + ATT_BLOCK - 1) / ATT_BLOCK,
                0};
    if (T < GEMM_MIN_T) pool_run(c->pool, n_heads * T, 1, attention_rows, &j);
    else pool_run(c->pool, n_heads * j.n_blocks, 1, attention_tasks, &j);
}

/* ------------------------------------------------------------ lifetime */

static int cpu_sync(Backend *be) { return 0; }

static void cpu_close(Backend *be) {
    Cpu *c = be->impl;
    int n = pool_threads(c->pool);
    pool_close(c->pool);
    for (int i = 0; i < n; i++) free(c->scratch[i].buf);
    free(c->scratch);
    free(c->gather.buf);
    free(c);
    free(be);
}

Backend *backend_cpu_open(int n_threads) {
    if (n_threads <= 0) { /* the cores this process may run on (taskset, cgroups) */
        cpu_set_t set;
        n_threads = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
        if (n_threads < 1) n_threads = 1;
    }
    (void)k_isa(); /* pick the kernels once, before any worker can race to */
    /* each of our threads calls sgemm on its own slice */
    openblas_set_num_threads(1);
    Cpu *c = xcalloc(1, sizeof *c);
    c->pool = pool_open(n_threads);
    c->scratch = xcalloc((size_t)pool_threads(c->pool), sizeof *c->scratch);
    Backend *be = xcalloc(1, sizeof *be);
    *be = (Backend){
        .name = "cpu",
        .n_threads = pool_threads(c->pool),
        .impl = c,
        .alloc = cpu_alloc,
        .free = cpu_free,
        .upload = cpu_upload,
        .addmm = cpu_addmm,
        .upload_quant = cpu_upload_quant,
        .release = cpu_release,
        .to_host = cpu_copy,
        .from_host = cpu_copy,
        .embed = cpu_embed,
        .rmsnorm = cpu_rmsnorm,
        .matmul = cpu_matmul,
        .rope = cpu_rope,
        .attention = cpu_attention,
        .swiglu = cpu_swiglu,
        .layernorm = cpu_layernorm,
        .gelu = cpu_gelu,
        .relu = cpu_relu,
        .im2col3 = cpu_im2col3,
        .im2col = cpu_im2col,
        .dwconv = cpu_dwconv,
        .add_scaled = cpu_add_scaled,
        .attention_full = cpu_attention_full,
        .add = cpu_add,
        .scale = cpu_scale,
        .copy = cpu_copy,
        .sync = cpu_sync,
        .close = cpu_close,
    };
    return be;
}
