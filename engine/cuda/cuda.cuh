/* cuda.cuh - what the CUDA backend's files share: the backend state, error
 * noting, launch sizes, the device-side reductions and weight loads, and the
 * ops each file defines (cuda.cu registers them in backend_cuda_open).
 *
 *   cuda.cu       memory, uploads, transfers, sync, open and close
 *   matmul.cu     embedding, decode matvec, prefill GEMMs (cuBLAS)
 *   pointwise.cu  rmsnorm, layernorm and the element-wise ops
 *   attention.cu  RoPE, causal and full attention, split-K decode attention
 *   fused.cu      the fused decode ops (norm into projection, QKV + RoPE)
 *   graph.cu      recorded decode steps (CUDA graphs)
 *   sample.cu     sampling on the device
 *   quant.cu      products with quantized (GPTQ, AWQ) matrices */
#ifndef UNUM_CUDA_CUH
#define UNUM_CUDA_CUH

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "engine/ops.h"
#include "engine/base/util.h"
}

#define MATVEC_MAX_T 8
#define SLAB_ELEMS ((size_t)16 << 20) /* f32 elements of widened weight per sgemm */
#define ATT_THREADS 128
#define ATT_MAX_HD 256
#define FUSED_WARPS 4                 /* rows (or row pairs) per fused matvec block */
#define FUSED_SMEM_MAX (40 << 10)     /* staged input bytes (48 KiB without opting in) */
#define SPLIT_FROM 256                /* direct decode attention splits keys above this */
#define SPLIT_KEYS 64                 /* ... into chunks of at least this many keys */
#define SPLIT_MAX 32                  /* chunks per (head, query); a recorded step uses all */
#define PART_FLOATS ((size_t)1 << 20) /* split-K partial states */
#define SAMPLE_THREADS 1024

/* The cuBLAS entry points unum uses, from the library opened at run time. */
typedef struct {
    void *lib;
    cublasStatus_t (*create)(cublasHandle_t *);
    cublasStatus_t (*destroy)(cublasHandle_t);
    cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t);
    cublasStatus_t (*set_math_mode)(cublasHandle_t, cublasMath_t);
    cublasStatus_t (*sgemm)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                            const float *, const float *, int, const float *, int, const float *,
                            float *, int);
    cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                              const void *, const void *, cudaDataType, int, const void *,
                              cudaDataType, int, const void *, void *, cudaDataType, int,
                              cublasComputeType_t, cublasGemmAlgo_t);
} Blas;

typedef struct {
    Blas api;
    cublasHandle_t blas;
    cudaStream_t stream;
    float *slab;  /* SLAB_ELEMS widened weights */
    int32_t *ids; /* device copy of embed's ids */
    int ids_cap;
    int32_t *h_ids; /* page-locked staging of embed's ids [ids_cap] */
    cudaEvent_t ids_copied;
    cudaError_t err; /* first error seen, reported by sync */
    const char *err_where;
    int fused, graphs; /* UNUM_CUDA_FUSED, UNUM_CUDA_GRAPH (both default on) */
    int prefill_bf16;  /* UNUM_CUDA_PREFILL=bf16: tensor-core GEMMs for prefill */
    __nv_bfloat16 *xb; /* prefill activations rounded to bf16 [xb_cap] */
    size_t xb_cap;

    /* Decode steps recorded as a CUDA graph and replayed for every position:
     * while recording, ops take the position from d_pos (device memory), so
     * one graph fits every position. */
    int recording;            /* ops are being captured into a graph */
    const void *graph_key;    /* the model whose step graph_exec is */
    const void *graph_failed; /* a model whose recording failed */
    cudaGraphExec_t graph_exec;
    int *d_pos, *h_pos;        /* the step's position: device, page-locked host */
    cudaEvent_t pos_copied;    /* h_pos may be rewritten */
    int rec_pos0;              /* position of the step being recorded */
    cudaError_t rec_err_saved; /* an error pending before recording began */
    const char *rec_where_saved;
    float *part; /* split-K attention partials [PART_FLOATS] */

    /* the sampler's device buffers, for a vocabulary of samp_V */
    int samp_V;
    float *keys, *sorted_keys, *prob; /* [samp_V] */
    int32_t *ids_seq, *sorted_ids;    /* [samp_V] */
    int *seen;                        /* [samp_V], zero between calls */
    void *sort_tmp;
    size_t sort_tmp_bytes;
    int32_t *d_hist, *h_hist; /* [hist_cap]: device, page-locked host */
    size_t hist_cap;
    int32_t *d_id, *h_id; /* the chosen id: device, page-locked host */
} Cuda;

static inline int note(Cuda *c, cudaError_t e, const char *where) {
    if (e != cudaSuccess && c->err == cudaSuccess) {
        c->err = e;
        c->err_where = where;
    }
    return e == cudaSuccess ? 0 : -1;
}

#define LAUNCHED(c, what) note((c), cudaGetLastError(), (what))

static __device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

struct SumOp {
    template <typename T> __device__ T operator()(T a, T b) const { return a + b; }
};
struct MaxOp {
    __device__ float operator()(float a, float b) const { return b > a ? b : a; }
};
struct MinOp {
    __device__ int operator()(int a, int b) const { return b < a ? b : a; }
};

/* op over v of every thread of the block (identity: op's neutral value),
 * returned to all; sh holds 33 elements. Every thread must call it. */
template <typename T, typename Op> __device__ T block_reduce(T v, T *sh, Op op, T identity) {
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
    __syncthreads();
    if (threadIdx.x < 32) {
        T x = threadIdx.x < (blockDim.x >> 5) ? sh[threadIdx.x] : identity;
        for (int o = 16; o > 0; o >>= 1) x = op(x, __shfl_xor_sync(0xffffffffu, x, o));
        if (threadIdx.x == 0) sh[32] = x;
    }
    __syncthreads();
    T r = sh[32];
    __syncthreads();
    return r;
}

static __device__ __forceinline__ float to_f(float v) { return v; }
static __device__ __forceinline__ float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }

/* Eight consecutive weights as f32 from one 16-byte (bf16) or two 16-byte
 * (f32) loads; p is 16-byte aligned. */
static __device__ __forceinline__ void load8(const __nv_bfloat16 *p, float *w) {
    uint4 raw = *(const uint4 *)p;
    const __nv_bfloat162 *h = (const __nv_bfloat162 *)&raw;
    for (int k = 0; k < 4; k++) {
        float2 f = __bfloat1622float2(h[k]);
        w[2 * k] = f.x;
        w[2 * k + 1] = f.y;
    }
}
static __device__ __forceinline__ void load8(const float *p, float *w) {
    float4 a = *(const float4 *)p, b = *(const float4 *)(p + 4);
    w[0] = a.x, w[1] = a.y, w[2] = a.z, w[3] = a.w, w[4] = b.x, w[5] = b.y, w[6] = b.z, w[7] = b.w;
}

/* acc[t] += this lane's share of W[r, :] . x[t, :] for t < T, where wr is
 * the row; the warp's lanes split the columns (warp_sum the results). */
template <typename WT>
__device__ __forceinline__ void row_dot(float *acc, const WT *wr, const float *x, int cols, int T,
                                        int lane) {
    int vec = (cols % 8 == 0) && (((uintptr_t)wr & 15) == 0);
    if (vec) { /* eight weights per step */
        for (int c = lane * 8; c < cols; c += 256) {
            float wf[8];
            load8(wr + c, wf);
            for (int t = 0; t < T; t++) {
                const float *xt = x + (size_t)t * cols + c;
                for (int k = 0; k < 8; k++) acc[t] += wf[k] * xt[k];
            }
        }
    } else {
        for (int c = lane; c < cols; c += 32) {
            float wf = to_f(wr[c]);
            for (int t = 0; t < T; t++) acc[t] += wf * x[(size_t)t * cols + c];
        }
    }
}

static inline unsigned grid_for(size_t n) {
    size_t g = (n + 255) / 256;
    return (unsigned)(g > 4096 ? 4096 : g ? g : 1);
}

/* ------------------------------------------------------------ the ops, by file */

float *cu_alloc(Backend *be, size_t n);
void cu_free(Backend *be, float *p);
int cu_upload(Backend *be, const STensor *t, int rows, int cols, Weight *w);
void cu_release(Backend *be, Weight *w);
int cu_upload_quant(Backend *be, QMat *q, Weight *w);
void quant_matmul(Cuda *c, float *y, const float *x, const Weight *W, const float *b, int T,
                  int add);
void cu_to_host(Backend *be, float *dst, const float *src, size_t n);
void cu_from_host(Backend *be, float *dst, const float *src, size_t n);
void cu_copy(Backend *be, float *dst, const float *src, size_t n);
void cu_embed(Backend *be, float *x, const Weight *table, const int32_t *ids, int T);
void cu_rmsnorm(Backend *be, float *y, const float *x, const Weight *w, int T, float eps);
void matmul_into(Cuda *c, float *y, const float *x, const Weight *W, const float *b, int T,
                 int add);
void cu_matmul(Backend *be, float *y, const float *x, const Weight *W, const Weight *bias, int T);
void cu_matmul_add(Backend *be, float *x, const float *a, const Weight *W, int T);
void cu_rope(Backend *be, float *x, int T, int n_heads, int head_dim, int pos0,
             const Rope *rope);
void cu_attention(Backend *be, float *out, const float *q, const float *kc, const float *vc, int T,
                  int pos0, int n_heads, int n_kv, int head_dim);
void cu_attention_full(Backend *be, float *out, const float *q, const float *k, const float *v,
                       int T, int S, int n_heads, int head_dim);
void cu_rmsnorm_matmul(Backend *be, float *y, float *h, const float *x, const Weight *norm,
                       const Weight *W, const Weight *bias, int T, float eps);
void cu_qkv_rope(Backend *be, float *q, float *k_cache, float *v_cache, float *h, const float *x,
                 const QkvWeights *w, int T, int pos0, int n_heads, int n_kv, int head_dim,
                 const Rope *rope, float eps);
void cu_rmsnorm_swiglu(Backend *be, float *a, float *u, float *h, const float *x,
                       const Weight *norm, const Weight *gate, const Weight *up, int T, float eps);
void cu_swiglu(Backend *be, float *a, const float *g, const float *u, size_t n);
void cu_add(Backend *be, float *x, const float *y, size_t n);
void cu_scale(Backend *be, float *x, float s, size_t n);
void cu_addmm(Backend *be, float *y, const float *x, const Weight *W, int T);
void cu_layernorm(Backend *be, float *y, const float *x, const Weight *w, const Weight *b, int T,
                  float eps);
void cu_relu(Backend *be, float *x, size_t n);
void cu_gelu(Backend *be, float *x, size_t n);
void cu_im2col3(Backend *be, float *col, const float *x, int L, int C, int stride);
void cu_im2col(Backend *be, float *col, const float *x, int T, int C, int K, int stride);
void cu_dwconv(Backend *be, float *y, const float *x, const Weight *w, const Weight *b, int T,
               int C, int K);
void cu_add_scaled(Backend *be, float *x, const float *y, const Weight *g, int T, int C);
int cu_step_begin(Backend *be, const void *key, int T, int pos0);
int cu_step_end(Backend *be);
void cu_step_forget(Backend *be, const void *key);
void graph_drop(Cuda *c);
void sampler_buffers_free(Cuda *c);
int cu_sample(Backend *be, int32_t *id, float *logits, int V, const SamplerParams *p,
              const int32_t *hist, size_t n_hist, double u);
float *cu_host_alloc(Backend *be, size_t n);
void cu_host_free(Backend *be, float *p);
int cu_sync(Backend *be);
void cu_close(Backend *be);

#endif
