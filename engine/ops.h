/* ops.h - the one interface every compute backend implements.
 *
 * The model code (qwen2.c) is written once against these operations and
 * never learns which backend runs it. Activations are float32 buffers that
 * the backend allocates (host memory for the CPU, device memory for CUDA);
 * weights are uploaded once and stay in their checkpoint dtype (the CPU
 * backend reads them in place from the mmap). Shapes: T rows (tokens) of a
 * row-major matrix; a weight W is [rows x cols] = [out x in] as Hugging Face
 * stores nn.Linear. */
#ifndef UNUM_OPS_H
#define UNUM_OPS_H

#include "engine/quant.h"
#include "engine/safetensors.h"
#include "engine/sampler.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    DType dtype;
    int rows, cols;   /* [rows x cols]; a vector has rows == 1 */
    const void *data; /* backend memory (or the mmap for the CPU) */
    /* A quantized matrix (upload_quant): the backend's copy of a QMat, dtype
     * and data then unused but data non-NULL; NULL for a plain weight. */
    const QMat *quant;
} Weight;

/* The weights of a Qwen2 attention block's input (for qkv_rope). */
typedef struct {
    const Weight *norm;         /* [1 x D] input_layernorm */
    const Weight *wq, *wk, *wv; /* [Hq*hd x D], [Hkv*hd x D], [Hkv*hd x D] */
    const Weight *bq, *bk, *bv; /* [1 x Hq*hd], [1 x Hkv*hd], [1 x Hkv*hd] */
} QkvWeights;

/* A rotary position embedding as the backends apply it: rotate-half RoPE
 * that turns the pair (i, i + half) of every head by the angle
 * pos * inv_freq[i] and multiplies cos and sin by scale. Plain RoPE has
 * inv_freq[i] = theta^(-2i/head_dim) and scale 1; LongRoPE divides each
 * frequency by a per-pair factor and scales by its attention factor. The
 * model config fills one (config.h), computed on the host in float32 so
 * that every backend turns by the same angles. */
#define ROPE_MAX_HALF 128 /* head_dim up to 256 */
typedef struct {
    int half;                      /* head_dim / 2 */
    float scale;                   /* cos and sin multiplied by this */
    float inv_freq[ROPE_MAX_HALF]; /* [half] */
} Rope;

/* What step_begin answers. */
enum { STEP_DIRECT, STEP_RECORDING, STEP_REPLAYED };

typedef struct Backend Backend;
struct Backend {
    const char *name;
    int n_threads;
    void *impl;
    size_t device_bytes, device_peak; /* device memory in use and its peak (0 on the CPU) */
    long steps_recorded, steps_replayed; /* decode steps captured and replayed (step_begin) */

    /* Activation buffers of n floats, zeroed. NULL with the error set when
     * memory is short (the message says how much was asked). */
    float *(*alloc)(Backend *be, size_t n);
    void (*free)(Backend *be, float *p);
    /* Makes a checkpoint tensor usable as a weight: rows x cols. A tensor
     * that does not hold values (I32) is an error naming it. */
    int (*upload)(Backend *be, const STensor *t, int rows, int cols, Weight *w);
    /* Makes a quantized matrix (quant.h) usable as a weight for matmul and
     * the fused ops; takes ownership of *q (quant_free'd now or by release)
     * whether it succeeds or not. NULL when the backend has no quantized
     * kernels. */
    int (*upload_quant)(Backend *be, QMat *q, Weight *w);
    void (*release)(Backend *be, Weight *w);
    /* Copies n floats between host and backend memory. */
    void (*to_host)(Backend *be, float *dst, const float *src, size_t n);
    void (*from_host)(Backend *be, float *dst, const float *src, size_t n);

    /* x[t] = table[ids[t]] for t < T (table is [V x D]); ids already checked. */
    void (*embed)(Backend *be, float *x, const Weight *table, const int32_t *ids, int T);
    /* y[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w, rows of w->cols. */
    void (*rmsnorm)(Backend *be, float *y, const float *x, const Weight *w, int T, float eps);
    /* y[T x W.rows] = x[T x W.cols] W^T (+ bias when bias != NULL). */
    void (*matmul)(Backend *be, float *y, const float *x, const Weight *W, const Weight *bias,
                   int T);
    /* RoPE (Rope above) in place on x[T x n_heads*head_dim] for positions
     * pos0 .. pos0+T-1; head_dim is 2 * rope->half. */
    void (*rope)(Backend *be, float *x, int T, int n_heads, int head_dim, int pos0,
                 const Rope *rope);
    /* Causal grouped-query attention for T queries at positions pos0.. whose
     * keys and values (positions 0 .. pos0+T-1) are already in the cache
     * rows kc/vc [ctx x n_kv*head_dim]. out, q: [T x n_heads*head_dim]. */
    void (*attention)(Backend *be, float *out, const float *q, const float *kc, const float *vc,
                      int T, int pos0, int n_heads, int n_kv, int head_dim);
    /* Whisper's ops (a backend without them leaves them NULL). */
    /* y[t] = (x[t] - mean) / sqrt(var + eps) * w + b, rows of w->cols. */
    void (*layernorm)(Backend *be, float *y, const float *x, const Weight *w, const Weight *b,
                      int T, float eps);
    /* x[i] = gelu(x[i]) (the exact, erf form) for n elements. */
    void (*gelu)(Backend *be, float *x, size_t n);
    /* x[i] = max(x[i], 0) for n elements (a speech projector's). */
    void (*relu)(Backend *be, float *x, size_t n);
    /* Kernel-3, padding-1 convolution input as rows: for a time-major x
     * [L x C], col[t] = (x[s*t-1, c], x[s*t, c], x[s*t+1, c]) for each c in
     * channel-major order (c*3 + k), zero outside; t < (L - 1) / s + 1. */
    void (*im2col3)(Backend *be, float *col, const float *x, int L, int C, int stride);
    /* VibeVoice's convolutions over time-major rows, the padding already
     * in the input (a backend without them leaves them NULL). */
    /* col[t][c*K + k] = x[t*stride + k][c] for t < T, c < C, k < K; x holds
     * (T - 1) * stride + K rows of C. */
    void (*im2col)(Backend *be, float *col, const float *x, int T, int C, int K, int stride);
    /* Depthwise convolution: y[t][c] = b[c] + sum_k w[c*K + k] x[t + k][c]
     * for t < T; x holds T + K - 1 rows of C; w [1 x C*K], b [1 x C]. */
    void (*dwconv)(Backend *be, float *y, const float *x, const Weight *w, const Weight *b, int T,
                   int C, int K);
    /* x[t][c] += g[c] * y[t][c] for t < T (a layer scale on a residual);
     * g [1 x C]. */
    void (*add_scaled)(Backend *be, float *x, const float *y, const Weight *g, int T, int C);
    /* Attention without a mask: T queries over S keys and values, all
     * [rows x n_heads*head_dim]. */
    void (*attention_full)(Backend *be, float *out, const float *q, const float *k,
                           const float *v, int T, int S, int n_heads, int head_dim);
    /* a[i] = silu(g[i]) * u[i] for n elements. */
    void (*swiglu)(Backend *be, float *a, const float *g, const float *u, size_t n);
    /* x[i] += y[i]. */
    void (*add)(Backend *be, float *x, const float *y, size_t n);
    /* x[i] *= s for n elements (a family's embedding, residual and logit
     * scales, family.h). */
    void (*scale)(Backend *be, float *x, float s, size_t n);
    /* dst[i] = src[i] within backend memory (beam search's cache copies). */
    void (*copy)(Backend *be, float *dst, const float *src, size_t n);
    /* y[T x W.cols] += x[T x W.rows] W, with W float32 and not transposed
     * (torch's addmm): a LoRA adapter's second product, its B kept as
     * [rank x out] so that a thin rank reads as a few long rows. */
    void (*addmm)(Backend *be, float *y, const float *x, const Weight *W, int T);

    /* ---- optional: fused ops, step recording, sampling, pinned memory ----
     * A backend may leave any of these NULL; qwen2.c and engine.c then
     * compose the primitives above (the CPU backend sets none and stays the
     * reference). Each fused op equals the composition its comment names up
     * to f32 rounding. Arguments named h or u are scratch the backend may
     * overwrite: h [T x D], u [T x F]. */
    /* y = matmul(rmsnorm(x, norm, eps), W, bias); bias may be NULL. */
    void (*rmsnorm_matmul)(Backend *be, float *y, float *h, const float *x, const Weight *norm,
                           const Weight *W, const Weight *bias, int T, float eps);
    /* The input of a Qwen2 attention block for T tokens at positions
     * pos0 .. pos0+T-1: h = rmsnorm(x); q = h Wq^T + bq into q [T x Hq*hd];
     * k = h Wk^T + bk and v = h Wv^T + bv into rows pos0.. of k_cache and
     * v_cache [ctx x Hkv*hd]; RoPE (rope) on q and k. The biases may be
     * NULL (a family without them). */
    void (*qkv_rope)(Backend *be, float *q, float *k_cache, float *v_cache, float *h,
                     const float *x, const QkvWeights *w, int T, int pos0, int n_heads, int n_kv,
                     int head_dim, const Rope *rope, float eps);
    /* a = swiglu(gate(h), up(h)) with h = rmsnorm(x, norm, eps); a [T x F]. */
    void (*rmsnorm_swiglu)(Backend *be, float *a, float *u, float *h, const float *x,
                           const Weight *norm, const Weight *gate, const Weight *up, int T,
                           float eps);
    /* x += a W^T: an output projection with the residual add fused. */
    void (*matmul_add)(Backend *be, float *x, const float *a, const Weight *W, int T);
    /* Step recording (a backend that has it also has qkv_rope). Called
     * before the ops of one step of T tokens at pos0 of the model key:
     *   STEP_REPLAYED: a recording of key's step ran at pos0; the caller
     *     issues none of the step's ops;
     *   STEP_RECORDING: the ops issued until step_end are recorded, not run
     *     (qwen2.c then writes the cache only through qkv_rope, since ops
     *     take the position from the step rather than from host pointers);
     *   STEP_DIRECT: run the ops as usual.
     * step_end after a recorded step runs the recording: 0, or nonzero when
     * recording failed and nothing ran, so the caller issues the ops again
     * directly (the backend then answers STEP_DIRECT for key until
     * step_forget). step_forget(key) drops what was recorded for key, whose
     * buffers are about to change or be freed. */
    int (*step_begin)(Backend *be, const void *key, int T, int pos0);
    int (*step_end)(Backend *be);
    void (*step_forget)(Backend *be, const void *key);
    /* Picks the next id from logits [V] in backend memory (modified in
     * place), as sampler_sample with the same params, history and uniform
     * draw u in [0, 1) would (engine.c draws u with sampler_uniform, and
     * only for temperature > 0). 0, or -1 with the error set. */
    int (*sample)(Backend *be, int32_t *id, float *logits, int V, const SamplerParams *p,
                  const int32_t *history, size_t n_history, double u);
    /* Host buffers of n floats that transfer fast (page-locked); NULL when
     * that memory is short, and the caller uses malloc. */
    float *(*host_alloc)(Backend *be, size_t n);
    void (*host_free)(Backend *be, float *p);

    /* Waits for queued work: 0, or -1 with the error set when the device
     * reported a failure (the CPU backend never does). */
    int (*sync)(Backend *be);
    void (*close)(Backend *be);
};

/* Opens the CPU backend with n_threads workers (0: all cores). */
Backend *backend_cpu_open(int n_threads);
/* Opens a backend by name: "cpu", "cuda" or "auto" (CUDA when a device is
 * present, else the CPU with a notice on stderr). */
Backend *backend_open(const char *name, int n_threads);
/* The total memory in bytes of the device that backend_open(name) would
 * run on ("cuda", or "auto" with a device present): 0 for the CPU, in a
 * build without CUDA, or when there is no device. */
size_t backend_device_memory(const char *name);

#endif
