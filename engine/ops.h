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

#include "safetensors.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    DType dtype;
    int rows, cols;   /* [rows x cols]; a vector has rows == 1 */
    const void *data; /* backend memory (or the mmap for the CPU) */
} Weight;

typedef struct Backend Backend;
struct Backend {
    const char *name;
    int n_threads;
    void *impl;
    size_t device_bytes, device_peak; /* device memory in use and its peak (0 on the CPU) */

    /* Activation buffers of n floats, zeroed. NULL with the error set when
     * memory is short (the message says how much was asked). */
    float *(*alloc)(Backend *be, size_t n);
    void (*free)(Backend *be, float *p);
    /* Makes a checkpoint tensor usable as a weight: rows x cols. */
    int (*upload)(Backend *be, const STensor *t, int rows, int cols, Weight *w);
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
    /* Rotate-half RoPE in place on x[T x n_heads*head_dim] for positions
     * pos0 .. pos0+T-1. */
    void (*rope)(Backend *be, float *x, int T, int n_heads, int head_dim, int pos0, float theta);
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
    /* Kernel-3, padding-1 convolution input as rows: for a time-major x
     * [L x C], col[t] = (x[s*t-1, c], x[s*t, c], x[s*t+1, c]) for each c in
     * channel-major order (c*3 + k), zero outside; t < (L - 1) / s + 1. */
    void (*im2col3)(Backend *be, float *col, const float *x, int L, int C, int stride);
    /* Attention without a mask: T queries over S keys and values, all
     * [rows x n_heads*head_dim]. */
    void (*attention_full)(Backend *be, float *out, const float *q, const float *k,
                           const float *v, int T, int S, int n_heads, int head_dim);
    /* a[i] = silu(g[i]) * u[i] for n elements. */
    void (*swiglu)(Backend *be, float *a, const float *g, const float *u, size_t n);
    /* x[i] += y[i]. */
    void (*add)(Backend *be, float *x, const float *y, size_t n);
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

#endif
