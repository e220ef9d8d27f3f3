/* cuda.cu - the CUDA backend: the ops of ops.h on one GPU.
 *
 * Weights are uploaded once: bf16 matrices as they are, f16 and f32 ones
 * widened to f32 (exactly, so the GPU computes with the checkpoint's values),
 * vectors (norms, biases) as f32. Activations and the KV cache are f32 in
 * device memory.
 *
 * - Decode (fewer than MATVEC_MAX_T rows): one warp per output row streams
 *   the row with 16-byte loads and accumulates in f32. The fused ops cut a
 *   layer to four kernels plus attention's one or two: rmsnorm staged in
 *   shared memory ahead of the projection that reads it (QKV, gate/up,
 *   lm_head); QKV with bias, RoPE (one warp per rotate-half row pair) and
 *   the KV-cache write; gate/up with SiLU*up; the residual add in o_proj's
 *   and down's epilogue.
 * - Attention: one block per (head, query), keys split across the block's
 *   warps with an online softmax, so no T x T score matrix exists. Decode
 *   over more than SPLIT_FROM keys splits the keys across blocks as well
 *   (flash-decoding: partial max/sum/acc per chunk, then a combine kernel),
 *   which matters with Qwen's two KV heads.
 * - Decode steps are recorded: the first T = 1 step of a model is captured
 *   into a CUDA graph and every later one replays it, the kernels reading
 *   the position from device memory (see "recorded steps"). A failed
 *   capture falls back to direct launches. UNUM_CUDA_GRAPH=0 turns this
 *   off, UNUM_CUDA_FUSED=0 the fused ops as well.
 * - Sampling runs on the GPU (penalty, greedy, temperature, top-k, top-p,
 *   min-p; CUB's stable radix sort) and only the chosen id is copied back;
 *   it follows sampler.c so that the same uniform number picks the same id.
 *   Greedy is exact; a draw can differ only where expf's last bits (CUDA's
 *   versus glibc's) or the order of a double sum move a cumulative sum
 *   across the draw or the top-p bar, i.e. for a draw within a few ulps
 *   of a boundary. NaN logits are not matched.
 * - Prefill: each bf16 weight is widened to f32 a slab at a time and multiplied
 *   with cuBLAS sgemm (tensor-core TF32 off), so prefill logits agree with
 *   the CPU backend to f32 rounding. UNUM_CUDA_PREFILL=bf16 instead rounds
 *   the activations to bf16 and uses the tensor cores (cublasGemmEx, f32
 *   sums), with its own tolerance (tests/test_cuda.c); it becomes the
 *   default once a GPU run has measured it.
 * - Host transfers (embed's ids, the sampler's history and id, the engine's
 *   logits through host_alloc) use page-locked memory.
 *
 * Everything runs on one stream; sync() reports any device error. cuBLAS is
 * opened with dlopen when the backend is, so that a CPU run never maps its
 * hundreds of megabytes.
 *
 * Not yet run on a GPU: the fused kernels, split-K attention, the recorded
 * steps and the sampler were written and compiled (nvcc 13; sm_80, sm_89,
 * sm_90) on a machine without one. tests/test_cuda.c checks each against the
 * CPU backend; tools/gpu-check.sh runs those tests and the benchmarks. */
#include <cub/cub.cuh>
#include <cublas_v2.h>
#include <dlfcn.h>
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
#define FUSED_WARPS 4                /* rows (or row pairs) per fused matvec block */
#define FUSED_SMEM_MAX (40 << 10)    /* staged input bytes (48 KiB without opting in) */
#define SPLIT_FROM 256               /* direct decode attention splits keys above this */
#define SPLIT_KEYS 64                /* ... into chunks of at least this many keys */
#define SPLIT_MAX 32                 /* chunks per (head, query); a recorded step uses all */
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

static int blas_open(Blas *b) {
    static const char *names[] = {"libcublas.so", "libcublas.so.13", "libcublas.so.12"};
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !b->lib; i++)
        b->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!b->lib)
        return unum_error_set("CUDA: cannot load cuBLAS (libcublas.so in the library path or "
                              "the toolkit's lib64): %s",
                              dlerror());
    *(void **)&b->create = dlsym(b->lib, "cublasCreate_v2");
    *(void **)&b->destroy = dlsym(b->lib, "cublasDestroy_v2");
    *(void **)&b->set_stream = dlsym(b->lib, "cublasSetStream_v2");
    *(void **)&b->set_math_mode = dlsym(b->lib, "cublasSetMathMode");
    *(void **)&b->sgemm = dlsym(b->lib, "cublasSgemm_v2");
    *(void **)&b->gemm_ex = dlsym(b->lib, "cublasGemmEx"); /* optional: bf16 prefill */
    if (!b->create || !b->destroy || !b->set_stream || !b->set_math_mode || !b->sgemm)
        return unum_error_set("CUDA: the cuBLAS library lacks an expected function");
    return 0;
}

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
    int recording;             /* ops are being captured into a graph */
    const void *graph_key;     /* the model whose step graph_exec is */
    const void *graph_failed;  /* a model whose recording failed */
    cudaGraphExec_t graph_exec;
    int *d_pos, *h_pos;        /* the step's position: device, page-locked host */
    cudaEvent_t pos_copied;    /* h_pos may be rewritten */
    int rec_pos0;              /* position of the step being recorded */
    cudaError_t rec_err_saved; /* an error pending before recording began */
    const char *rec_where_saved;
    float *part;               /* split-K attention partials [PART_FLOATS] */

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

static int note(Cuda *c, cudaError_t e, const char *where) {
    if (e != cudaSuccess && c->err == cudaSuccess) {
        c->err = e;
        c->err_where = where;
    }
    return e == cudaSuccess ? 0 : -1;
}

#define LAUNCHED(c, what) note((c), cudaGetLastError(), (what))

/* ------------------------------------------------------------ memory */

/* Device bytes in use, for bench's peak_vram_mb: cudaMalloc's sizes are
 * remembered per pointer in a small open list (few dozen buffers). */
typedef struct Alloc {
    void *p;
    size_t bytes;
    struct Alloc *next;
} Alloc;
static Alloc *allocs;

static void count(Backend *be, void *p, size_t bytes) {
    Alloc *a = (Alloc *)xmalloc(sizeof *a);
    *a = (Alloc){p, bytes, allocs};
    allocs = a;
    be->device_bytes += bytes;
    if (be->device_bytes > be->device_peak) be->device_peak = be->device_bytes;
}

static void uncount(Backend *be, void *p) {
    for (Alloc **a = &allocs; *a; a = &(*a)->next)
        if ((*a)->p == p) {
            Alloc *dead = *a;
            be->device_bytes -= dead->bytes;
            *a = dead->next;
            free(dead);
            return;
        }
}

static float *cu_alloc(Backend *be, size_t n) {
    Cuda *c = (Cuda *)be->impl;
    void *p = NULL;
    size_t bytes = (n ? n : 1) * sizeof(float);
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
        size_t free_b = 0, total_b = 0;
        cudaGetLastError();
        cudaMemGetInfo(&free_b, &total_b);
        unum_error_set("CUDA out of memory: needed %.1f MiB more, %.1f MiB of %.1f MiB free",
                       (double)bytes / (1 << 20), (double)free_b / (1 << 20),
                       (double)total_b / (1 << 20));
        return NULL;
    }
    note(c, cudaMemsetAsync(p, 0, bytes, c->stream), "memset");
    count(be, p, bytes);
    return (float *)p;
}

static void cu_free(Backend *be, float *p) {
    uncount(be, p);
    cudaFree(p);
}

/* Matrices go up as bf16, vectors as f32; the host side is converted in
 * pieces so no full-size host copy is ever made. */
static int cu_upload(Backend *be, const STensor *t, int rows, int cols, Weight *w) {
    Cuda *c = (Cuda *)be->impl;
    if (t->numel != (int64_t)rows * cols)
        return unum_error_set("%s: tensor '%s' has %lld elements, expected %d x %d", t->file,
                              t->name, (long long)t->numel, rows, cols);
    DType dt = rows > 1 && t->dtype == DT_BF16 ? DT_BF16 : DT_F32;
    size_t n = (size_t)rows * cols, esz = dtype_size(dt);
    void *d = NULL;
    if (cudaMalloc(&d, n * esz) != cudaSuccess) {
        cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        return unum_error_set("CUDA out of memory uploading '%s': needed %.1f MiB, %.1f MiB of "
                              "%.1f MiB free",
                              t->name, (double)(n * esz) / (1 << 20), (double)free_b / (1 << 20),
                              (double)total_b / (1 << 20));
    }
    if (t->dtype == dt) {
        if (note(c, cudaMemcpy(d, t->data, n * esz, cudaMemcpyHostToDevice), "upload")) goto fail;
    } else {
        const size_t chunk = 1 << 20;
        void *tmp = xmalloc(chunk * esz);
        for (size_t i = 0; i < n; i += chunk) {
            size_t k = n - i < chunk ? n - i : chunk;
            for (size_t j = 0; j < k; j++) {
                const unsigned char *src = (const unsigned char *)t->data;
                float f;
                if (t->dtype == DT_F32) memcpy(&f, src + 4 * (i + j), 4);
                else {
                    uint16_t h;
                    memcpy(&h, src + 2 * (i + j), 2);
                    f = t->dtype == DT_BF16 ? unum_bf16_to_f32(h) : unum_f16_to_f32(h);
                }
                if (dt == DT_F32) ((float *)tmp)[j] = f;
                else ((uint16_t *)tmp)[j] = unum_f32_to_bf16(f);
            }
            if (note(c, cudaMemcpy((char *)d + i * esz, tmp, k * esz, cudaMemcpyHostToDevice),
                     "upload")) {
                free(tmp);
                goto fail;
            }
        }
        free(tmp);
    }
    count(be, d, n * esz);
    *w = (Weight){dt, rows, cols, d};
    return 0;
fail:
    cudaFree(d);
    return unum_error_set("CUDA: uploading '%s' failed: %s", t->name, cudaGetErrorString(c->err));
}

static void cu_release(Backend *be, Weight *w) {
    uncount(be, (void *)w->data);
    cudaFree((void *)w->data);
    memset(w, 0, sizeof *w);
}

static void cu_to_host(Backend *be, float *dst, const float *src, size_t n) {
    Cuda *c = (Cuda *)be->impl;
    note(c, cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToHost, c->stream),
         "copy to host");
    note(c, cudaStreamSynchronize(c->stream), "copy to host");
}

static void cu_from_host(Backend *be, float *dst, const float *src, size_t n) {
    Cuda *c = (Cuda *)be->impl;
    note(c, cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyHostToDevice, c->stream),
         "copy to device");
    note(c, cudaStreamSynchronize(c->stream), "copy to device");
}

static void cu_copy(Backend *be, float *dst, const float *src, size_t n) {
    Cuda *c = (Cuda *)be->impl;
    note(c, cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, c->stream),
         "copy on the device");
}

/* ------------------------------------------------------------ kernels */

__device__ __forceinline__ float warp_sum(float v) {
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

__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }

/* Eight consecutive weights as f32 from one 16-byte (bf16) or two 16-byte
 * (f32) loads; p is 16-byte aligned. */
__device__ __forceinline__ void load8(const __nv_bfloat16 *p, float *w) {
    uint4 raw = *(const uint4 *)p;
    const __nv_bfloat162 *h = (const __nv_bfloat162 *)&raw;
    for (int k = 0; k < 4; k++) {
        float2 f = __bfloat1622float2(h[k]);
        w[2 * k] = f.x;
        w[2 * k + 1] = f.y;
    }
}
__device__ __forceinline__ void load8(const float *p, float *w) {
    float4 a = *(const float4 *)p, b = *(const float4 *)(p + 4);
    w[0] = a.x, w[1] = a.y, w[2] = a.z, w[3] = a.w, w[4] = b.x, w[5] = b.y, w[6] = b.z, w[7] = b.w;
}

template <typename WT>
__global__ void k_embed(float *x, const WT *table, const int32_t *ids, int D) {
    int t = blockIdx.y;
    const WT *row = table + (size_t)ids[t] * D;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < D; i += gridDim.x * blockDim.x)
        x[(size_t)t * D + i] = to_f(row[i]);
}

__global__ void k_rmsnorm(float *y, const float *x, const float *w, int D, float eps) {
    __shared__ float part[33];
    const float *xr = x + (size_t)blockIdx.x * D;
    float ss = 0;
    for (int i = threadIdx.x; i < D; i += blockDim.x) ss += xr[i] * xr[i];
    float inv = rsqrtf(block_reduce(ss, part, SumOp(), 0.0f) / (float)D + eps);
    float *yr = y + (size_t)blockIdx.x * D;
    for (int i = threadIdx.x; i < D; i += blockDim.x) yr[i] = xr[i] * inv * w[i];
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

/* y[t, r] = W[r, :] . x[t, :] (+ b[r]) for t < T, added to what y holds
 * when add (a residual); one warp per row r. */
template <typename WT>
__global__ void k_matvec(float *y, const float *x, const WT *W, const float *b, int rows, int cols,
                         int T, int add) {
    int r = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (r >= rows) return;
    float acc[MATVEC_MAX_T];
    for (int t = 0; t < T; t++) acc[t] = 0;
    row_dot(acc, W + (size_t)r * cols, x, cols, T, lane);
    for (int t = 0; t < T; t++) {
        float s = warp_sum(acc[t]) + (b ? b[r] : 0.0f);
        size_t i = (size_t)t * rows + r;
        if (lane == 0) y[i] = add ? y[i] + s : s;
    }
}

/* ------------------------------------------------------------ fused decode kernels */

/* The dynamic shared memory of the fused kernels: T rows of normalized
 * input, [T x cols] floats. */
extern __shared__ float4 dyn_smem[];

/* xs[t, i] = x[t, i] * inv_t * w[i] for t < T, inv_t = 1/sqrt(mean(x[t]^2) +
 * eps), by the whole block (every thread must call it): the rmsnorm that
 * k_rmsnorm computes, staged in shared memory for the matvec after it. */
__device__ void stage_rmsnorm(float *xs, const float *x, const float *w, int cols, int T,
                              float eps) {
    __shared__ float part[33];
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * cols;
        float ss = 0;
        for (int i = threadIdx.x; i < cols; i += blockDim.x) ss += xr[i] * xr[i];
        float inv = rsqrtf(block_reduce(ss, part, SumOp(), 0.0f) / (float)cols + eps);
        for (int i = threadIdx.x; i < cols; i += blockDim.x)
            xs[(size_t)t * cols + i] = xr[i] * inv * w[i];
        __syncthreads(); /* the staged row is whole before anyone reads it */
    }
}

/* y = rmsnorm(x) W^T + b for t < T: each block stages the normalized rows,
 * then one warp per output row r. */
template <typename WT>
__global__ void k_rmsnorm_matvec(float *y, const float *x, const float *nw, const WT *W,
                                 const float *b, int rows, int cols, int T, float eps) {
    float *xs = (float *)dyn_smem;
    stage_rmsnorm(xs, x, nw, cols, T, eps);
    int r = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (r >= rows) return;
    float acc[MATVEC_MAX_T];
    for (int t = 0; t < T; t++) acc[t] = 0;
    row_dot(acc, W + (size_t)r * cols, xs, cols, T, lane);
    for (int t = 0; t < T; t++) {
        float s = warp_sum(acc[t]) + (b ? b[r] : 0.0f);
        if (lane == 0) y[(size_t)t * rows + r] = s;
    }
}

/* a[t, r] = silu(G[r] . h[t]) * (U[r] . h[t]) with h = rmsnorm(x): one warp
 * per row r streams the gate row and the up row. */
template <typename WT>
__global__ void k_rmsnorm_swiglu(float *a, const float *x, const float *nw, const WT *G,
                                 const WT *U, int rows, int cols, int T, float eps) {
    float *xs = (float *)dyn_smem;
    stage_rmsnorm(xs, x, nw, cols, T, eps);
    int r = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (r >= rows) return;
    float ag[MATVEC_MAX_T], au[MATVEC_MAX_T];
    for (int t = 0; t < T; t++) ag[t] = au[t] = 0;
    row_dot(ag, G + (size_t)r * cols, xs, cols, T, lane);
    row_dot(au, U + (size_t)r * cols, xs, cols, T, lane);
    for (int t = 0; t < T; t++) {
        float g = warp_sum(ag[t]), u = warp_sum(au[t]);
        if (lane == 0) a[(size_t)t * rows + r] = g / (1.0f + expf(-g)) * u;
    }
}

/* inv_freq as the CPU backend (and transformers, in float32) computes it,
 * computed on the host so both backends use the same bits. */
typedef struct {
    float f[ATT_MAX_HD / 2];
} InvFreq;

/* The attention input of a block for T tokens: h = rmsnorm(x) staged in
 * shared memory, then one warp per pair of rows (i, i + hd/2) of one head of
 * q, k or v, so that RoPE's rotate-half pair is in one warp:
 *   units [0, Hq*half)                q rows, rotated, to q [T x Hq*hd]
 *   units [Hq*half, (Hq+Hkv)*half)    k rows, rotated, to kc row pos+t
 *   units [(Hq+Hkv)*half, ...+Hkv*half) v rows to vc row pos+t
 * pos is *posp when posp is set (a recorded step), else pos0. */
template <typename WT>
__global__ void k_qkv_rope(float *q, float *kc, float *vc, const float *x, const float *nw,
                           const WT *Wq, const WT *Wk, const WT *Wv, const float *bq,
                           const float *bk, const float *bv, int D, int T, int Hq, int Hkv,
                           int hd, const int *posp, int pos0, InvFreq inv, float eps) {
    float *xs = (float *)dyn_smem;
    stage_rmsnorm(xs, x, nw, D, T, eps);
    int half = hd / 2, nq = Hq * half, nk = Hkv * half;
    int u = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (u >= nq + 2 * nk) return;
    int pos = posp ? *posp : pos0;
    size_t kvd = (size_t)Hkv * hd;
    const WT *W;
    const float *b;
    float *out; /* row t of the output is out + t * stride */
    size_t stride;
    int j, rope;
    if (u < nq) {
        j = u, W = Wq, b = bq, out = q, stride = (size_t)Hq * hd, rope = 1;
    } else if (u < nq + nk) {
        j = u - nq, W = Wk, b = bk, out = kc + (size_t)pos * kvd, stride = kvd, rope = 1;
    } else {
        j = u - nq - nk, W = Wv, b = bv, out = vc + (size_t)pos * kvd, stride = kvd, rope = 0;
    }
    int i = j % half, r1 = (j / half) * hd + i, r2 = r1 + half;
    float a1[MATVEC_MAX_T], a2[MATVEC_MAX_T];
    for (int t = 0; t < T; t++) a1[t] = a2[t] = 0;
    row_dot(a1, W + (size_t)r1 * D, xs, D, T, lane);
    row_dot(a2, W + (size_t)r2 * D, xs, D, T, lane);
    for (int t = 0; t < T; t++) {
        float lo = warp_sum(a1[t]) + (b ? b[r1] : 0.0f);
        float hi = warp_sum(a2[t]) + (b ? b[r2] : 0.0f);
        float *o = out + (size_t)t * stride;
        if (lane == 0 && rope) { /* as k_rope */
            float ang = (float)(pos + t) * inv.f[i], cs, sn;
            sincosf(ang, &sn, &cs);
            o[r1] = lo * cs - hi * sn;
            o[r2] = hi * cs + lo * sn;
        } else if (lane == 0) {
            o[r1] = lo;
            o[r2] = hi;
        }
    }
}

__global__ void k_widen(float *dst, const __nv_bfloat16 *src, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __bfloat162float(src[i]);
}

__global__ void k_narrow(__nv_bfloat16 *dst, const float *src, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __float2bfloat16(src[i]); /* round to nearest even */
}

__global__ void k_add_bias(float *y, const float *b, int rows, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] += b[i % rows];
}

/* Rotate-half RoPE: thread (t, head, i < half). */
__global__ void k_rope(float *x, int T, int n_heads, int hd, int pos0, InvFreq inv) {
    int half = hd / 2;
    size_t n = (size_t)T * n_heads * half;
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < n;
         k += (size_t)gridDim.x * blockDim.x) {
        int i = (int)(k % half);
        size_t th = k / half;
        int t = (int)(th / n_heads);
        float a = (float)(pos0 + t) * inv.f[i], cs, sn;
        sincosf(a, &sn, &cs);
        float *v = x + th * hd;
        float lo = v[i], hi = v[i + half];
        v[i] = lo * cs - hi * sn;
        v[i + half] = hi * cs + lo * sn;
    }
}

/* The attention of one query row qv (n_heads*hd wide, head already
 * applied) over keys [k0, k1) of KV head kvh, by one block: each warp walks
 * every nwarps-th key keeping an online softmax (running max m, sum l,
 * weighted values acc; lane j holds dims j, j+32, ...), then the warps'
 * partial states are merged. dst[d] gets the merged weighted values, divided
 * by the sum when normalize; *M and *L (thread 0's are meaningful) the
 * block's max and sum. An empty range gives M = -inf, L = 0, dst = 0. */
__device__ void attend_block(float *dst, float *M_out, float *L_out, const float *qv,
                             const float *kc, const float *vc, size_t ks, int kvh, int hd, int k0,
                             int k1, int normalize) {
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nwarps = blockDim.x >> 5;
    int per = (hd + 31) / 32;
    float scale = rsqrtf((float)hd);
    float qr[ATT_MAX_HD / 32], acc[ATT_MAX_HD / 32];
    for (int k = 0; k < per; k++) {
        int d = lane + 32 * k;
        qr[k] = d < hd ? qv[d] * scale : 0;
        acc[k] = 0;
    }
    float m = -INFINITY, l = 0;
    for (int s = k0 + warp; s < k1; s += nwarps) {
        const float *kr = kc + (size_t)s * ks + (size_t)kvh * hd;
        float dot = 0;
        for (int k = 0; k < per; k++) {
            int d = lane + 32 * k;
            if (d < hd) dot += qr[k] * kr[d];
        }
        dot = warp_sum(dot);
        float mn = fmaxf(m, dot), corr = __expf(m - mn), p = __expf(dot - mn);
        const float *vr = vc + (size_t)s * ks + (size_t)kvh * hd;
        for (int k = 0; k < per; k++) {
            int d = lane + 32 * k;
            acc[k] = acc[k] * corr + (d < hd ? p * vr[d] : 0);
        }
        l = l * corr + p;
        m = mn;
    }
    __shared__ float sm[ATT_THREADS / 32], sl[ATT_THREADS / 32];
    __shared__ float sacc[ATT_THREADS / 32][ATT_MAX_HD];
    if (lane == 0) sm[warp] = m, sl[warp] = l;
    for (int k = 0; k < per; k++) {
        int d = lane + 32 * k;
        if (d < hd) sacc[warp][d] = acc[k];
    }
    __syncthreads();
    float M = -INFINITY;
    for (int w = 0; w < nwarps; w++) M = fmaxf(M, sm[w]);
    float L = 0;
    for (int w = 0; w < nwarps; w++) L += sl[w] * (sm[w] == -INFINITY ? 0 : __expf(sm[w] - M));
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float v = 0;
        for (int w = 0; w < nwarps; w++)
            if (sm[w] != -INFINITY) v += sacc[w][d] * __expf(sm[w] - M);
        dst[d] = normalize ? v / L : v;
    }
    *M_out = M;
    *L_out = L;
}

/* One block per (head, query t): attend_block over the keys the query
 * sees. pos0 is *posp when posp is set (a recorded step). */
__global__ void k_attention(float *out, const float *q, const float *kc, const float *vc, int T,
                            const int *posp, int pos0, int n_heads, int n_kv, int hd,
                            int causal) {
    int h = blockIdx.x, t = blockIdx.y;
    if (posp) pos0 = *posp; /* a recorded step's position */
    /* causal: query t sees keys 0..pos0+t; otherwise all pos0 keys */
    int kvh = h / (n_heads / n_kv), nk = causal ? pos0 + t + 1 : pos0;
    size_t qs = (size_t)n_heads * hd, ks = (size_t)n_kv * hd;
    float M, L;
    attend_block(out + (size_t)t * qs + (size_t)h * hd, &M, &L, q + (size_t)t * qs + (size_t)h * hd,
                 kc, vc, ks, kvh, hd, 0, nk, 1);
}

/* Split-K decode attention (flash-decoding), pass 1. Block (head h, split
 * s, query t) runs attend_block over its chunk of keys
 * [s*chunk, min((s+1)*chunk, nk)), nk = pos + t + 1 and chunk =
 * ceil(nk / nsplit), and writes its partial state unnormalized: at index
 * pi = (t*n_heads + h)*nsplit + s, part[2*pi] = max m, part[2*pi+1] = sum l,
 * and part[P + pi*hd + d] = acc[d] with P = 2*T*n_heads*nsplit. A chunk
 * past the keys writes m = -inf, l = 0, acc = 0. pos = *posp when posp is
 * set (a recorded step), else pos0. */
__global__ void k_attention_split(float *part, const float *q, const float *kc, const float *vc,
                                  int T, const int *posp, int pos0, int n_heads, int n_kv, int hd,
                                  int nsplit) {
    int h = blockIdx.x, sp = blockIdx.y, t = blockIdx.z;
    int pos = posp ? *posp : pos0;
    int nk = pos + t + 1, chunk = (nk + nsplit - 1) / nsplit;
    int k0 = sp * chunk, k1 = k0 + chunk < nk ? k0 + chunk : nk; /* empty when k0 >= nk */
    int kvh = h / (n_heads / n_kv);
    size_t qs = (size_t)n_heads * hd, ks = (size_t)n_kv * hd;
    size_t pi = ((size_t)t * n_heads + h) * nsplit + sp;
    float *pacc = part + (size_t)2 * T * n_heads * nsplit + pi * hd;
    float M, L;
    attend_block(pacc, &M, &L, q + (size_t)t * qs + (size_t)h * hd, kc, vc, ks, kvh, hd, k0, k1, 0);
    if (threadIdx.x == 0) part[2 * pi] = M, part[2 * pi + 1] = L;
}

/* Split-K pass 2: block (head h, query t) merges the nsplit partial states
 * of k_attention_split (same layout) into out [T x n_heads*hd]. Every
 * query has at least one key, so some split has l > 0. */
__global__ void k_attention_combine(float *out, const float *part, int T, int n_heads, int hd,
                                    int nsplit) {
    int h = blockIdx.x, t = blockIdx.y;
    size_t base = ((size_t)t * n_heads + h) * nsplit;
    const float *ml = part + 2 * base;
    const float *pacc = part + (size_t)2 * T * n_heads * nsplit + base * hd;
    float M = -INFINITY;
    for (int s = 0; s < nsplit; s++) M = fmaxf(M, ml[2 * s]);
    float L = 0;
    for (int s = 0; s < nsplit; s++)
        if (ml[2 * s] != -INFINITY) L += ml[2 * s + 1] * __expf(ml[2 * s] - M);
    float *o = out + (size_t)t * n_heads * hd + (size_t)h * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float v = 0;
        for (int s = 0; s < nsplit; s++)
            if (ml[2 * s] != -INFINITY) v += pacc[(size_t)s * hd + d] * __expf(ml[2 * s] - M);
        o[d] = v / L;
    }
}

__global__ void k_swiglu(float *a, const float *g, const float *u, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        a[i] = g[i] / (1.0f + __expf(-g[i])) * u[i];
}

__global__ void k_add(float *x, const float *y, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        x[i] += y[i];
}

/* Whisper: LayerNorm with bias, one block per row (two-pass mean/var). */
__global__ void k_layernorm(float *y, const float *x, const float *w, const float *b, int D,
                            float eps) {
    __shared__ float part[33];
    const float *xr = x + (size_t)blockIdx.x * D;
    float s = 0;
    for (int i = threadIdx.x; i < D; i += blockDim.x) s += xr[i];
    float mean = block_reduce(s, part, SumOp(), 0.0f) / (float)D, q = 0;
    for (int i = threadIdx.x; i < D; i += blockDim.x) q += (xr[i] - mean) * (xr[i] - mean);
    float inv = rsqrtf(block_reduce(q, part, SumOp(), 0.0f) / (float)D + eps);
    float *yr = y + (size_t)blockIdx.x * D;
    for (int i = threadIdx.x; i < D; i += blockDim.x) yr[i] = (xr[i] - mean) * inv * w[i] + b[i];
}

__global__ void k_relu(float *x, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        x[i] = fmaxf(x[i], 0.0f);
}

__global__ void k_gelu(float *x, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

/* col[t, c*3 + k] = x[stride*t + k - 1, c], zero outside [0, L). */
__global__ void k_im2col3(float *col, const float *x, int L, int C, int stride, int Lo) {
    size_t n = (size_t)Lo * C * 3;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        int k = (int)(i % 3), c = (int)(i / 3 % C), t = (int)(i / ((size_t)3 * C));
        int s = stride * t + k - 1;
        col[i] = s >= 0 && s < L ? x[(size_t)s * C + c] : 0.0f;
    }
}

/* ------------------------------------------------------------ sampling kernels
 *
 * The host sampler (sampler.c) step by step, so that the same uniform
 * number picks the same id: repetition penalty once per distinct id;
 * greedy argmax (lowest id on ties); otherwise logits / temperature, a
 * stable descending sort whenever a cut applies (top-k, top-p, min-p), the
 * top-k set (everything tied with the k-th kept), softmax numerators
 * expf(l - max), the top-p prefix, the min-p floor, and the draw walking the
 * candidates in the host's order. The single-block kernels use
 * SAMPLE_THREADS threads. */

/* logits[id] /= r (or *= r when not positive) once per distinct valid id of
 * hist: seen[id] marks the first visit (k_unsee clears it afterwards). */
__global__ void k_penalty(float *logits, int *seen, const int32_t *hist, int n, int V, float r) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        int32_t id = hist[i];
        if (id < 0 || id >= V || atomicExch(&seen[id], 1) != 0) continue;
        float l = logits[id];
        logits[id] = l > 0 ? l / r : l * r;
    }
}

__global__ void k_unsee(int *seen, const int32_t *hist, int n, int V) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        if (hist[i] >= 0 && hist[i] < V) seen[hist[i]] = 0;
}

/* Inclusive prefix sum of v over the block's threads in thread order, plus
 * carry; the block's total (with carry) comes back in *total. sh holds 34
 * doubles. Every thread must call it. */
__device__ double block_scan(double v, double carry, double *sh, double *total) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    for (int o = 1; o < 32; o <<= 1) {
        double n = __shfl_up_sync(0xffffffffu, v, o);
        if (lane >= o) v += n;
    }
    if (lane == 31) sh[w] = v;
    __syncthreads();
    if (w == 0) {
        double x = lane < nw ? sh[lane] : 0.0;
        for (int o = 1; o < 32; o <<= 1) {
            double n = __shfl_up_sync(0xffffffffu, x, o);
            if (lane >= o) x += n;
        }
        sh[lane] = x; /* inclusive scan of the warps' totals */
        if (lane == 31) sh[33] = carry + x;
    }
    __syncthreads();
    double r = carry + (w > 0 ? sh[w - 1] : 0.0) + v;
    *total = sh[33];
    __syncthreads();
    return r;
}

/* The first i < n at which the running sum of w(0..i) reaches thr (sum >=
 * thr, or sum > thr when strict), walking in index order a block-wide tile
 * at a time; n when it never does. */
template <typename W>
__device__ int first_reaching(W w, int n, double thr, int strict, double *shd, int *shi) {
    double carry = 0, total;
    for (int base = 0; base < n; base += blockDim.x) {
        int i = base + threadIdx.x;
        double c = block_scan(i < n ? w(i) : 0.0, carry, shd, &total);
        int hit = i < n && (strict ? thr < c : c >= thr);
        int first = block_reduce(hit ? i : INT_MAX, shi, MinOp(), INT_MAX);
        if (first != INT_MAX) return first;
        carry = total;
    }
    return n;
}

/* *out = the lowest index of the largest of x[0..n) (sampler_argmax). */
__global__ void __launch_bounds__(SAMPLE_THREADS) k_argmax(int32_t *out, const float *x, int n) {
    __shared__ float shf[33];
    __shared__ int shi[33];
    float best = -INFINITY;
    int at = INT_MAX;
    for (int i = threadIdx.x; i < n; i += blockDim.x) /* ascending: ties keep the first */
        if (at == INT_MAX || x[i] > best) best = x[i], at = i;
    float top = block_reduce(best, shf, MaxOp(), -INFINITY);
    int first = block_reduce(at != INT_MAX && best == top ? at : INT_MAX, shi, MinOp(), INT_MAX);
    if (threadIdx.x == 0) *out = first == INT_MAX ? 0 : first;
}

/* keys[i] = logits[i] / temperature as the host divides (IEEE division, no
 * fast math), ids[i] = i. CUB's radix sort is stable and treats -0 and +0
 * as equal, as the host's comparison does. */
__global__ void k_scale(float *keys, int32_t *ids, const float *logits, int V, float temperature) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < V; i += gridDim.x * blockDim.x) {
        keys[i] = logits[i] / temperature;
        ids[i] = i;
    }
}

/* The rest of sampler_sample after the scaling, in one block: keys [V] in
 * id order; sorted_keys and sorted_ids the same descending (stable, so ties
 * keep the lower id first) when a cut applies; top_k 0 when off (or >= V);
 * prob [V] scratch; u the uniform draw. */
__global__ void __launch_bounds__(SAMPLE_THREADS)
    k_draw(int32_t *out, float *prob, const float *keys, const float *sorted_keys,
           const int32_t *sorted_ids, int V, int top_k, float top_p, float min_p, double u) {
    __shared__ double shd[34];
    __shared__ float shf[33];
    __shared__ int shi[33];
    int n = V;
    if (top_k > 0) { /* the k largest and all tied with the k-th: a prefix of the sorted */
        float kth = sorted_keys[top_k - 1];
        int cnt = 0;
        for (int i = threadIdx.x; i < V; i += blockDim.x) cnt += sorted_keys[i] >= kth;
        n = block_reduce(cnt, shi, SumOp(), 0);
    }
    int sorted = top_k > 0 || top_p < 1.0f || min_p > 0;
    const float *K = sorted ? sorted_keys : keys;
    float mx = K[0];
    if (!sorted) {
        float m = -INFINITY;
        for (int i = threadIdx.x; i < n; i += blockDim.x) m = K[i] > m ? K[i] : m;
        mx = block_reduce(m, shf, MaxOp(), -INFINITY);
    }
    double part = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        float e = expf(K[i] - mx);
        prob[i] = e;
        part += e;
    }
    double sum = block_reduce(part, shd, SumOp(), 0.0); /* also orders prob's writes */
    if (top_p < 1.0f) {
        int i = first_reaching([=](int j) { return (double)prob[j] / sum; }, n,
                               (double)top_p - 1e-6, 0, shd, shi);
        if (i < n) n = i + 1;
    }
    if (min_p > 0) { /* keep the leading run at or above min_p * the top probability */
        float floor_p = min_p * prob[0];
        int first = INT_MAX;
        for (int i = 1 + threadIdx.x; i < n; i += blockDim.x)
            if (prob[i] < floor_p) {
                first = i;
                break;
            }
        first = block_reduce(first, shi, MinOp(), INT_MAX);
        if (first < n) n = first;
    }
    part = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) part += prob[i];
    sum = block_reduce(part, shd, SumOp(), 0.0);
    int i = first_reaching([=](int j) { return (double)prob[j]; }, n, u * sum, 1, shd,
                           shi);
    if (i >= n) i = n - 1;
    if (threadIdx.x == 0) *out = sorted ? sorted_ids[i] : i;
}

static unsigned grid_for(size_t n) {
    size_t g = (n + 255) / 256;
    return (unsigned)(g > 4096 ? 4096 : g ? g : 1);
}

/* ------------------------------------------------------------ ops */

static void cu_embed(Backend *be, float *x, const Weight *table, const int32_t *ids, int T) {
    Cuda *c = (Cuda *)be->impl;
    /* the last copy out of h_ids has finished before it is rewritten */
    if (note(c, cudaEventSynchronize(c->ids_copied), "embed")) return;
    if (T > c->ids_cap) {
        cudaFree(c->ids);
        cudaFreeHost(c->h_ids);
        c->ids = NULL;
        c->h_ids = NULL;
        c->ids_cap = 0;
        if (note(c, cudaMalloc(&c->ids, sizeof(int32_t) * T), "embed") ||
            note(c, cudaMallocHost(&c->h_ids, sizeof(int32_t) * T), "embed"))
            return;
        c->ids_cap = T;
    }
    memcpy(c->h_ids, ids, sizeof(int32_t) * T);
    note(c, cudaMemcpyAsync(c->ids, c->h_ids, sizeof(int32_t) * T, cudaMemcpyHostToDevice,
                            c->stream),
         "embed");
    note(c, cudaEventRecord(c->ids_copied, c->stream), "embed");
    dim3 grid((table->cols + 255) / 256, T);
    if (table->dtype == DT_BF16)
        k_embed<<<grid, 256, 0, c->stream>>>(x, (const __nv_bfloat16 *)table->data, c->ids,
                                             table->cols);
    else k_embed<<<grid, 256, 0, c->stream>>>(x, (const float *)table->data, c->ids, table->cols);
    LAUNCHED(c, "embed");
}

static void cu_rmsnorm(Backend *be, float *y, const float *x, const Weight *w, int T, float eps) {
    Cuda *c = (Cuda *)be->impl;
    k_rmsnorm<<<T, 256, 0, c->stream>>>(y, x, (const float *)w->data, w->cols, eps);
    LAUNCHED(c, "rmsnorm");
}

static void gemm_f32(Cuda *c, float *y, const float *x, const Weight *W, int T, int add);
static void gemm_bf16(Cuda *c, float *y, const float *x, const Weight *W, int T, int add);

/* y = x W^T + b, or y += x W^T + b when add, for T rows. */
static void matmul_into(Cuda *c, float *y, const float *x, const Weight *W, const float *b, int T,
                        int add) {
    int rows = W->rows, cols = W->cols;
    if (T < MATVEC_MAX_T) {
        int warps = 8;
        unsigned blocks = (unsigned)((rows + warps - 1) / warps);
        if (W->dtype == DT_BF16)
            k_matvec<<<blocks, 32 * warps, 0, c->stream>>>(y, x, (const __nv_bfloat16 *)W->data, b,
                                                           rows, cols, T, add);
        else
            k_matvec<<<blocks, 32 * warps, 0, c->stream>>>(y, x, (const float *)W->data, b, rows,
                                                           cols, T, add);
        LAUNCHED(c, "matvec");
        return;
    }
    if (W->dtype == DT_BF16 && c->prefill_bf16 && c->api.gemm_ex) {
        gemm_bf16(c, y, x, W, T, add);
    } else {
        gemm_f32(c, y, x, W, T, add);
    }
    if (b) {
        size_t n = (size_t)T * rows;
        k_add_bias<<<grid_for(n), 256, 0, c->stream>>>(y, b, rows, n);
        LAUNCHED(c, "bias");
    }
}

/* y (+)= x W^T in f32: a bf16 W is widened a slab of rows at a time. */
static void gemm_f32(Cuda *c, float *y, const float *x, const Weight *W, int T, int add) {
    int rows = W->rows, cols = W->cols;
    /* widen a slab of rows, then y[:, r0:r0+n] = x W[r0:r0+n]^T (column-major view:
     * y^T[n x T] = Wslab[n x cols] x^T[cols x T]); beta 1 adds to y */
    int slab_rows = (int)(SLAB_ELEMS / (size_t)cols);
    const float one = 1.0f, beta = add ? 1.0f : 0.0f;
    if (W->dtype == DT_F32) slab_rows = rows; /* already f32: one product */
    for (int r0 = 0; r0 < rows; r0 += slab_rows) {
        int n = rows - r0 < slab_rows ? rows - r0 : slab_rows;
        size_t elems = (size_t)n * cols;
        const float *w = (const float *)W->data + (size_t)r0 * cols;
        if (W->dtype == DT_BF16) {
            k_widen<<<grid_for(elems), 256, 0, c->stream>>>(
                c->slab, (const __nv_bfloat16 *)W->data + (size_t)r0 * cols, elems);
            LAUNCHED(c, "widen");
            w = c->slab;
        }
        cublasStatus_t st = c->api.sgemm(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, n, T, cols, &one, w,
                                         cols, x, cols, &beta, y + r0, rows);
        if (st != CUBLAS_STATUS_SUCCESS) note(c, cudaErrorUnknown, "cublasSgemm");
    }
}

/* y (+)= x W^T on the tensor cores: x rounded to bf16, products summed in
 * f32 (cublasGemmEx, CUBLAS_COMPUTE_32F), in the same column-major view as
 * gemm_f32. Its error is the rounding of the activations (2^-9 relative
 * each), which tests/test_cuda.c bounds separately. */
static void gemm_bf16(Cuda *c, float *y, const float *x, const Weight *W, int T, int add) {
    int rows = W->rows, cols = W->cols;
    size_t n = (size_t)T * cols;
    if (n > c->xb_cap) {
        cudaFree(c->xb);
        c->xb = NULL;
        c->xb_cap = 0;
        if (note(c, cudaMalloc(&c->xb, n * sizeof(__nv_bfloat16)), "bf16 activations")) return;
        c->xb_cap = n;
    }
    k_narrow<<<grid_for(n), 256, 0, c->stream>>>(c->xb, x, n);
    LAUNCHED(c, "narrow");
    const float one = 1.0f, beta = add ? 1.0f : 0.0f;
    c->api.set_math_mode(c->blas, CUBLAS_DEFAULT_MATH);
    cublasStatus_t st =
        c->api.gemm_ex(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, rows, T, cols, &one, W->data,
                       CUDA_R_16BF, cols, c->xb, CUDA_R_16BF, cols, &beta, y, CUDA_R_32F, rows,
                       CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    c->api.set_math_mode(c->blas, CUBLAS_PEDANTIC_MATH);
    if (st != CUBLAS_STATUS_SUCCESS) note(c, cudaErrorUnknown, "cublasGemmEx");
}

static void cu_matmul(Backend *be, float *y, const float *x, const Weight *W, const Weight *bias,
                      int T) {
    matmul_into((Cuda *)be->impl, y, x, W, bias ? (const float *)bias->data : NULL, T, 0);
}

static InvFreq inv_freq(float theta, int head_dim) {
    InvFreq inv;
    for (int i = 0; i < head_dim / 2; i++)
        inv.f[i] = 1.0f / powf(theta, (float)(2 * i) / (float)head_dim);
    return inv;
}

static void cu_rope(Backend *be, float *x, int T, int n_heads, int head_dim, int pos0,
                    float theta) {
    Cuda *c = (Cuda *)be->impl;
    if (head_dim > ATT_MAX_HD) {
        note(c, cudaErrorInvalidValue, "rope (head_dim above 256)");
        return;
    }
    /* a recorded step would bake pos0 in: refuse, so the step runs directly */
    if (c->recording) {
        note(c, cudaErrorStreamCaptureUnsupported, "rope while recording a step");
        return;
    }
    size_t n = (size_t)T * n_heads * (head_dim / 2);
    k_rope<<<grid_for(n), 256, 0, c->stream>>>(x, T, n_heads, head_dim, pos0,
                                                inv_freq(theta, head_dim));
    LAUNCHED(c, "rope");
}

/* Causal attention. Decode (T < MATVEC_MAX_T) over many keys splits the
 * keys across blocks (k_attention_split + k_attention_combine); a recorded
 * step always does, with SPLIT_MAX chunks, because its key count changes
 * with the position it is replayed at. Otherwise one block per (head,
 * query). */
static void cu_attention(Backend *be, float *out, const float *q, const float *kc, const float *vc,
                         int T, int pos0, int n_heads, int n_kv, int head_dim) {
    Cuda *c = (Cuda *)be->impl;
    if (head_dim > ATT_MAX_HD) {
        note(c, cudaErrorInvalidValue, "attention (head_dim above 256)");
        return;
    }
    const int *posp = c->recording ? c->d_pos : NULL;
    int keys = pos0 + T, nsplit = 0;
    if (T < MATVEC_MAX_T && (c->recording || keys > SPLIT_FROM)) {
        nsplit = c->recording ? SPLIT_MAX : (keys + SPLIT_KEYS - 1) / SPLIT_KEYS;
        if (nsplit > SPLIT_MAX) nsplit = SPLIT_MAX;
        if ((size_t)T * n_heads * nsplit * (head_dim + 2) > PART_FLOATS) nsplit = 0;
    }
    if (nsplit > 1) {
        k_attention_split<<<dim3(n_heads, nsplit, T), ATT_THREADS, 0, c->stream>>>(
            c->part, q, kc, vc, T, posp, pos0, n_heads, n_kv, head_dim, nsplit);
        LAUNCHED(c, "attention (split)");
        k_attention_combine<<<dim3(n_heads, T), 64, 0, c->stream>>>(out, c->part, T, n_heads,
                                                                     head_dim, nsplit);
        LAUNCHED(c, "attention (combine)");
        return;
    }
    dim3 grid(n_heads, T);
    k_attention<<<grid, ATT_THREADS, 0, c->stream>>>(out, q, kc, vc, T, posp, pos0, n_heads, n_kv,
                                                     head_dim, 1);
    LAUNCHED(c, "attention");
}

/* ------------------------------------------------------------ fused ops */

static void cu_swiglu(Backend *be, float *a, const float *g, const float *u, size_t n);

/* Whether a fused decode kernel stages T rows of cols normalized floats. */
static int fusable(int T, int cols) {
    return T < MATVEC_MAX_T && (size_t)T * cols * sizeof(float) <= FUSED_SMEM_MAX;
}

static unsigned fused_blocks(int units) {
    return (unsigned)((units + FUSED_WARPS - 1) / FUSED_WARPS);
}

static void cu_rmsnorm_matmul(Backend *be, float *y, float *h, const float *x, const Weight *norm,
                              const Weight *W, const Weight *bias, int T, float eps) {
    Cuda *c = (Cuda *)be->impl;
    const float *b = bias ? (const float *)bias->data : NULL, *nw = (const float *)norm->data;
    int rows = W->rows, cols = W->cols;
    if (!fusable(T, cols)) {
        cu_rmsnorm(be, h, x, norm, T, eps);
        matmul_into(c, y, h, W, b, T, 0);
        return;
    }
    size_t smem = (size_t)T * cols * sizeof(float);
    if (W->dtype == DT_BF16)
        k_rmsnorm_matvec<<<fused_blocks(rows), 32 * FUSED_WARPS, smem, c->stream>>>(
            y, x, nw, (const __nv_bfloat16 *)W->data, b, rows, cols, T, eps);
    else
        k_rmsnorm_matvec<<<fused_blocks(rows), 32 * FUSED_WARPS, smem, c->stream>>>(
            y, x, nw, (const float *)W->data, b, rows, cols, T, eps);
    LAUNCHED(c, "rmsnorm_matmul");
}

static void cu_qkv_rope(Backend *be, float *q, float *k_cache, float *v_cache, float *h,
                        const float *x, const QkvWeights *w, int T, int pos0, int n_heads,
                        int n_kv, int head_dim, float theta, float eps) {
    Cuda *c = (Cuda *)be->impl;
    int D = w->wq->cols;
    size_t kvd = (size_t)n_kv * head_dim;
    int same = w->wq->dtype == w->wk->dtype && w->wq->dtype == w->wv->dtype;
    if (head_dim > ATT_MAX_HD || head_dim % 2) {
        note(c, cudaErrorInvalidValue, "qkv_rope (head_dim odd or above 256)");
        return;
    }
    if (!fusable(T, D) || !same) { /* prefill: the primitives (rope refuses a recording) */
        float *kc = k_cache + (size_t)pos0 * kvd, *vc = v_cache + (size_t)pos0 * kvd;
        cu_rmsnorm(be, h, x, w->norm, T, eps);
        cu_matmul(be, q, h, w->wq, w->bq, T);
        cu_matmul(be, kc, h, w->wk, w->bk, T);
        cu_matmul(be, vc, h, w->wv, w->bv, T);
        cu_rope(be, q, T, n_heads, head_dim, pos0, theta);
        cu_rope(be, kc, T, n_kv, head_dim, pos0, theta);
        return;
    }
    const int *posp = c->recording ? c->d_pos : NULL;
    const float *nw = (const float *)w->norm->data;
#define VEC(b) ((b) ? (const float *)(b)->data : NULL)
    const float *bq = VEC(w->bq), *bk = VEC(w->bk), *bv = VEC(w->bv);
#undef VEC
    int units = (n_heads + 2 * n_kv) * (head_dim / 2);
    size_t smem = (size_t)T * D * sizeof(float);
    InvFreq inv = inv_freq(theta, head_dim);
    if (w->wq->dtype == DT_BF16)
        k_qkv_rope<<<fused_blocks(units), 32 * FUSED_WARPS, smem, c->stream>>>(
            q, k_cache, v_cache, x, nw, (const __nv_bfloat16 *)w->wq->data,
            (const __nv_bfloat16 *)w->wk->data, (const __nv_bfloat16 *)w->wv->data, bq, bk, bv, D,
            T, n_heads, n_kv, head_dim, posp, pos0, inv, eps);
    else
        k_qkv_rope<<<fused_blocks(units), 32 * FUSED_WARPS, smem, c->stream>>>(
            q, k_cache, v_cache, x, nw, (const float *)w->wq->data, (const float *)w->wk->data,
            (const float *)w->wv->data, bq, bk, bv, D, T, n_heads, n_kv, head_dim, posp, pos0,
            inv, eps);
    LAUNCHED(c, "qkv_rope");
}

static void cu_rmsnorm_swiglu(Backend *be, float *a, float *u, float *h, const float *x,
                              const Weight *norm, const Weight *gate, const Weight *up, int T,
                              float eps) {
    Cuda *c = (Cuda *)be->impl;
    int rows = gate->rows, cols = gate->cols;
    if (!fusable(T, cols) || gate->dtype != up->dtype) {
        cu_rmsnorm(be, h, x, norm, T, eps);
        matmul_into(c, a, h, gate, NULL, T, 0);
        matmul_into(c, u, h, up, NULL, T, 0);
        cu_swiglu(be, a, a, u, (size_t)T * rows);
        return;
    }
    size_t smem = (size_t)T * cols * sizeof(float);
    const float *nw = (const float *)norm->data;
    if (gate->dtype == DT_BF16)
        k_rmsnorm_swiglu<<<fused_blocks(rows), 32 * FUSED_WARPS, smem, c->stream>>>(
            a, x, nw, (const __nv_bfloat16 *)gate->data, (const __nv_bfloat16 *)up->data, rows,
            cols, T, eps);
    else
        k_rmsnorm_swiglu<<<fused_blocks(rows), 32 * FUSED_WARPS, smem, c->stream>>>(
            a, x, nw, (const float *)gate->data, (const float *)up->data, rows, cols, T, eps);
    LAUNCHED(c, "rmsnorm_swiglu");
}

static void cu_matmul_add(Backend *be, float *x, const float *a, const Weight *W, int T) {
    matmul_into((Cuda *)be->impl, x, a, W, NULL, T, 1);
}

static void cu_swiglu(Backend *be, float *a, const float *g, const float *u, size_t n) {
    Cuda *c = (Cuda *)be->impl;
    k_swiglu<<<grid_for(n), 256, 0, c->stream>>>(a, g, u, n);
    LAUNCHED(c, "swiglu");
}

static void cu_add(Backend *be, float *x, const float *y, size_t n) {
    Cuda *c = (Cuda *)be->impl;
    k_add<<<grid_for(n), 256, 0, c->stream>>>(x, y, n);
    LAUNCHED(c, "add");
}

static void cu_layernorm(Backend *be, float *y, const float *x, const Weight *w, const Weight *b,
                         int T, float eps) {
    Cuda *c = (Cuda *)be->impl;
    k_layernorm<<<T, 256, 0, c->stream>>>(y, x, (const float *)w->data, (const float *)b->data,
                                          w->cols, eps);
    LAUNCHED(c, "layernorm");
}

static void cu_relu(Backend *be, float *x, size_t n) {
    Cuda *c = (Cuda *)be->impl;
    k_relu<<<grid_for(n), 256, 0, c->stream>>>(x, n);
    LAUNCHED(c, "relu");
}

static void cu_gelu(Backend *be, float *x, size_t n) {
    Cuda *c = (Cuda *)be->impl;
    k_gelu<<<grid_for(n), 256, 0, c->stream>>>(x, n);
    LAUNCHED(c, "gelu");
}

static void cu_im2col3(Backend *be, float *col, const float *x, int L, int C, int stride) {
    Cuda *c = (Cuda *)be->impl;
    int Lo = (L - 1) / stride + 1;
    k_im2col3<<<grid_for((size_t)Lo * C * 3), 256, 0, c->stream>>>(col, x, L, C, stride, Lo);
    LAUNCHED(c, "im2col3");
}

static void cu_attention_full(Backend *be, float *out, const float *q, const float *k,
                              const float *v, int T, int S, int n_heads, int head_dim) {
    Cuda *c = (Cuda *)be->impl;
    if (head_dim > ATT_MAX_HD) {
        note(c, cudaErrorInvalidValue, "attention (head_dim above 256)");
        return;
    }
    dim3 grid(n_heads, T);
    /* k_attention without the causal limit: every query sees all S keys */
    k_attention<<<grid, ATT_THREADS, 0, c->stream>>>(out, q, k, v, T, NULL, S, n_heads, n_heads,
                                                     head_dim, 0);
    LAUNCHED(c, "attention_full");
}

/* ------------------------------------------------------------ recorded steps
 *
 * A decode step (T = 1) is captured from the stream into a CUDA graph the
 * first time it runs and replayed afterwards: one launch for all of a
 * token's blocks. Its kernels read the position from d_pos, which a copy
 * from page-locked h_pos sets before each launch, so one graph serves every
 * position; the attention inside it always splits its keys SPLIT_MAX ways
 * (chunks past the current keys are empty). The graph holds the model's
 * buffer addresses, so it belongs to one model (the key) until step_forget.
 * A recording that fails (an op that cannot be recorded, a driver that
 * refuses) runs nothing: the caller issues the step directly, and the
 * model's later steps run directly too. */

static int cu_sync(Backend *be);

static void graph_drop(Cuda *c) {
    if (c->graph_exec) cudaGraphExecDestroy(c->graph_exec);
    c->graph_exec = NULL;
    c->graph_key = NULL;
}

/* Sets the position and launches the graph. */
static cudaError_t graph_launch(Cuda *c, int pos) {
    cudaError_t e = cudaEventSynchronize(c->pos_copied); /* the last copy has read h_pos */
    if (e != cudaSuccess) return e;
    *c->h_pos = pos;
    e = cudaMemcpyAsync(c->d_pos, c->h_pos, sizeof(int), cudaMemcpyHostToDevice, c->stream);
    if (e == cudaSuccess) e = cudaEventRecord(c->pos_copied, c->stream);
    if (e == cudaSuccess) e = cudaGraphLaunch(c->graph_exec, c->stream);
    return e;
}

/* The graph could not be made or run: forget it, and the error with it. */
static int graph_give_up(Cuda *c, const void *key) {
    graph_drop(c);
    c->graph_failed = key;
    cudaGetLastError();
    return -1;
}

static int cu_step_begin(Backend *be, const void *key, int T, int pos0) {
    Cuda *c = (Cuda *)be->impl;
    if (T != 1 || key == c->graph_failed || c->recording) return STEP_DIRECT;
    if (c->graph_exec && c->graph_key == key) {
        if (graph_launch(c, pos0) == cudaSuccess) {
            be->steps_replayed++;
            return STEP_REPLAYED;
        }
        graph_give_up(c, key);
        return STEP_DIRECT;
    }
    graph_drop(c);
    if (cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
        graph_give_up(c, key);
        return STEP_DIRECT;
    }
    /* errors noted while recording are about the recording alone */
    c->rec_err_saved = c->err;
    c->rec_where_saved = c->err_where;
    c->err = cudaSuccess;
    c->recording = 1;
    c->graph_key = key;
    c->rec_pos0 = pos0;
    return STEP_RECORDING;
}

static int cu_step_end(Backend *be) {
    Cuda *c = (Cuda *)be->impl;
    const void *key = c->graph_key;
    cudaGraph_t g = NULL;
    c->recording = 0;
    cudaError_t e = cudaStreamEndCapture(c->stream, &g);
    if (e == cudaSuccess && (c->err != cudaSuccess || !g)) e = cudaErrorStreamCaptureInvalidated;
    c->err = c->rec_err_saved;
    c->err_where = c->rec_where_saved;
    if (e == cudaSuccess) e = cudaGraphInstantiate(&c->graph_exec, g, 0);
    if (g) cudaGraphDestroy(g);
    if (e != cudaSuccess) {
        c->graph_exec = NULL;
        return graph_give_up(c, key);
    }
    if (graph_launch(c, c->rec_pos0) != cudaSuccess) return graph_give_up(c, key);
    be->steps_recorded++;
    return 0;
}

static void cu_step_forget(Backend *be, const void *key) {
    Cuda *c = (Cuda *)be->impl;
    if (c->graph_key == key) graph_drop(c);
    if (c->graph_failed == key) c->graph_failed = NULL;
}

/* ------------------------------------------------------------ sampling */

static void sampler_buffers_free(Cuda *c) {
    cudaFree(c->keys), cudaFree(c->sorted_keys), cudaFree(c->prob);
    cudaFree(c->ids_seq), cudaFree(c->sorted_ids), cudaFree(c->seen), cudaFree(c->sort_tmp);
    c->keys = c->sorted_keys = c->prob = NULL;
    c->ids_seq = c->sorted_ids = NULL;
    c->seen = NULL;
    c->sort_tmp = NULL;
    c->samp_V = 0;
}

/* The sampler's buffers for a vocabulary of V: 0, or -1 with the error set. */
static int sampler_buffers(Cuda *c, int V) {
    if (c->samp_V == V) return 0;
    sampler_buffers_free(c);
    size_t fb = sizeof(float) * V, ib = sizeof(int32_t) * V;
    c->sort_tmp_bytes = 0;
    cub::DeviceRadixSort::SortPairsDescending(NULL, c->sort_tmp_bytes, (const float *)NULL,
                                              (float *)NULL, (const int32_t *)NULL,
                                              (int32_t *)NULL, V, 0, 32, c->stream);
    if (cudaMalloc(&c->keys, fb) != cudaSuccess || cudaMalloc(&c->sorted_keys, fb) != cudaSuccess ||
        cudaMalloc(&c->prob, fb) != cudaSuccess || cudaMalloc(&c->ids_seq, ib) != cudaSuccess ||
        cudaMalloc(&c->sorted_ids, ib) != cudaSuccess ||
        cudaMalloc(&c->seen, sizeof(int) * V) != cudaSuccess ||
        cudaMalloc(&c->sort_tmp, c->sort_tmp_bytes ? c->sort_tmp_bytes : 1) != cudaSuccess ||
        cudaMemset(c->seen, 0, sizeof(int) * V) != cudaSuccess) {
        cudaGetLastError();
        sampler_buffers_free(c);
        return unum_error_set("CUDA out of memory for the sampler's buffers (vocabulary %d)", V);
    }
    c->samp_V = V;
    return 0;
}

/* Copies the history to the device through page-locked memory. */
static int sampler_history(Cuda *c, const int32_t *hist, size_t n) {
    if (n > c->hist_cap) {
        cudaFree(c->d_hist);
        cudaFreeHost(c->h_hist);
        c->d_hist = c->h_hist = NULL;
        c->hist_cap = 0;
        size_t cap = n < 4096 ? 4096 : 2 * n;
        if (cudaMalloc(&c->d_hist, sizeof(int32_t) * cap) != cudaSuccess ||
            cudaMallocHost(&c->h_hist, sizeof(int32_t) * cap) != cudaSuccess) {
            cudaGetLastError();
            return unum_error_set("CUDA out of memory for %zu history ids", n);
        }
        c->hist_cap = cap;
    }
    memcpy(c->h_hist, hist, sizeof(int32_t) * n);
    return note(c, cudaMemcpyAsync(c->d_hist, c->h_hist, sizeof(int32_t) * n,
                                   cudaMemcpyHostToDevice, c->stream),
                "sampler history");
}

static int cu_sample(Backend *be, int32_t *id, float *logits, int V, const SamplerParams *p,
                     const int32_t *hist, size_t n_hist, double u) {
    Cuda *c = (Cuda *)be->impl;
    if (sampler_buffers(c, V)) return -1;
    if (p->repeat_penalty > 0 && p->repeat_penalty != 1.0f && n_hist > 0 && hist) {
        if (n_hist > INT_MAX) return unum_error_set("sampler: history of %zu ids", n_hist);
        if (sampler_history(c, hist, n_hist)) {
            if (c->err != cudaSuccess) cu_sync(be); /* sets the message */
            return -1;
        }
        unsigned g = grid_for(n_hist);
        k_penalty<<<g, 256, 0, c->stream>>>(logits, c->seen, c->d_hist, (int)n_hist, V,
                                            p->repeat_penalty);
        LAUNCHED(c, "sampler penalty");
        k_unsee<<<g, 256, 0, c->stream>>>(c->seen, c->d_hist, (int)n_hist, V);
        LAUNCHED(c, "sampler penalty");
    }
    if (p->temperature <= 0) {
        k_argmax<<<1, SAMPLE_THREADS, 0, c->stream>>>(c->d_id, logits, V);
        LAUNCHED(c, "sampler argmax");
    } else {
        int top_k = p->top_k > 0 && p->top_k < V ? p->top_k : 0;
        k_scale<<<grid_for((size_t)V), 256, 0, c->stream>>>(c->keys, c->ids_seq, logits, V,
                                                           p->temperature);
        LAUNCHED(c, "sampler scale");
        if (top_k || p->top_p < 1.0f || p->min_p > 0) {
            size_t bytes = c->sort_tmp_bytes;
            cudaError_t e = cub::DeviceRadixSort::SortPairsDescending(
                c->sort_tmp, bytes, c->keys, c->sorted_keys, c->ids_seq, c->sorted_ids, V, 0, 32,
                c->stream);
            if (e != cudaSuccess) cudaGetLastError();
            note(c, e, "sampler sort");
        }
        k_draw<<<1, SAMPLE_THREADS, 0, c->stream>>>(c->d_id, c->prob, c->keys, c->sorted_keys,
                                                    c->sorted_ids, V, top_k, p->top_p, p->min_p,
                                                    u);
        LAUNCHED(c, "sampler draw");
    }
    note(c, cudaMemcpyAsync(c->h_id, c->d_id, sizeof(int32_t), cudaMemcpyDeviceToHost, c->stream),
         "sampler id");
    if (cu_sync(be)) return -1;
    *id = *c->h_id;
    return 0;
}

/* ------------------------------------------------------------ pinned host memory */

static float *cu_host_alloc(Backend *be, size_t n) {
    void *p = NULL;
    if (cudaMallocHost(&p, (n ? n : 1) * sizeof(float)) != cudaSuccess) {
        cudaGetLastError();
        return NULL;
    }
    return (float *)p;
}

static void cu_host_free(Backend *be, float *p) { cudaFreeHost(p); }

static int cu_sync(Backend *be) {
    Cuda *c = (Cuda *)be->impl;
    note(c, cudaStreamSynchronize(c->stream), "synchronize");
    if (c->err == cudaSuccess) return 0;
    /* reported once; an error that sticks to the context comes back by itself */
    cudaError_t e = c->err;
    c->err = cudaSuccess;
    return unum_error_set("CUDA error in %s: %s", c->err_where, cudaGetErrorString(e));
}

static void cu_close(Backend *be) {
    Cuda *c = (Cuda *)be->impl;
    cudaStreamSynchronize(c->stream);
    graph_drop(c);
    sampler_buffers_free(c);
    if (c->slab) cu_free(be, c->slab);
    if (c->part) cu_free(be, c->part);
    cudaFree(c->d_pos), cudaFreeHost(c->h_pos);
    cudaFree(c->d_id), cudaFreeHost(c->h_id);
    cudaFree(c->d_hist), cudaFreeHost(c->h_hist);
    cudaFreeHost(c->h_ids);
    if (c->pos_copied) cudaEventDestroy(c->pos_copied);
    if (c->ids_copied) cudaEventDestroy(c->ids_copied);
    cudaFree(c->xb);
    cudaFree(c->ids);
    if (c->blas) c->api.destroy(c->blas);
    if (c->api.lib) dlclose(c->api.lib);
    cudaStreamDestroy(c->stream);
    free(c);
    free(be);
}

/* ------------------------------------------------------------ open */

extern "C" Backend *backend_cuda_open(int *no_device) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    *no_device = 0;
    if (e != cudaSuccess || n == 0) {
        cudaGetLastError();
        *no_device = 1;
        unum_error_set("no CUDA device (%s)",
                       e != cudaSuccess ? cudaGetErrorString(e) : "none found");
        return NULL;
    }
    Cuda *c = (Cuda *)xcalloc(1, sizeof *c);
    if (cudaSetDevice(0) != cudaSuccess || cudaStreamCreate(&c->stream) != cudaSuccess) {
        unum_error_set("CUDA: cannot use device 0: %s", cudaGetErrorString(cudaGetLastError()));
        free(c);
        return NULL;
    }
    int loaded = blas_open(&c->api) == 0;
    if (!loaded || c->api.create(&c->blas) != CUBLAS_STATUS_SUCCESS) {
        if (loaded) unum_error_set("CUDA: cuBLAS did not initialize");
        if (c->api.lib) dlclose(c->api.lib);
        cudaStreamDestroy(c->stream);
        free(c);
        return NULL;
    }
    c->api.set_stream(c->blas, c->stream);
    c->api.set_math_mode(c->blas, CUBLAS_PEDANTIC_MATH); /* true f32, no TF32 */
    Backend *be = (Backend *)xcalloc(1, sizeof *be);
    be->name = "cuda";
    be->n_threads = 1;
    be->impl = c;
    be->alloc = cu_alloc;
    be->free = cu_free;
    be->upload = cu_upload;
    be->release = cu_release;
    be->to_host = cu_to_host;
    be->from_host = cu_from_host;
    be->embed = cu_embed;
    be->rmsnorm = cu_rmsnorm;
    be->matmul = cu_matmul;
    be->rope = cu_rope;
    be->attention = cu_attention;
    be->swiglu = cu_swiglu;
    be->add = cu_add;
    be->copy = cu_copy;
    be->layernorm = cu_layernorm;
    be->gelu = cu_gelu;
    be->relu = cu_relu;
    be->im2col3 = cu_im2col3;
    be->attention_full = cu_attention_full;
    be->sync = cu_sync;
    be->close = cu_close;
    /* UNUM_CUDA_FUSED=0 runs decode on the primitives alone (and so without
     * recorded steps), UNUM_CUDA_GRAPH=0 without recorded steps: both for
     * comparing paths. */
    const char *fz = getenv("UNUM_CUDA_FUSED"), *gr = getenv("UNUM_CUDA_GRAPH");
    c->fused = !(fz && !strcmp(fz, "0"));
    c->graphs = c->fused && !(gr && !strcmp(gr, "0"));
    const char *pf = getenv("UNUM_CUDA_PREFILL");
    c->prefill_bf16 = pf && !strcmp(pf, "bf16");
    if (c->fused) {
        be->rmsnorm_matmul = cu_rmsnorm_matmul;
        be->qkv_rope = cu_qkv_rope;
        be->rmsnorm_swiglu = cu_rmsnorm_swiglu;
        be->matmul_add = cu_matmul_add;
    }
    if (c->graphs) {
        be->step_begin = cu_step_begin;
        be->step_end = cu_step_end;
        be->step_forget = cu_step_forget;
    }
    be->sample = cu_sample;
    be->host_alloc = cu_host_alloc;
    be->host_free = cu_host_free;
    c->slab = cu_alloc(be, SLAB_ELEMS);
    c->part = c->slab ? cu_alloc(be, PART_FLOATS) : NULL;
    if (!c->slab || !c->part ||
        cudaEventCreateWithFlags(&c->pos_copied, cudaEventDisableTiming) != cudaSuccess ||
        cudaEventCreateWithFlags(&c->ids_copied, cudaEventDisableTiming) != cudaSuccess ||
        cudaMalloc(&c->d_pos, sizeof(int)) != cudaSuccess ||
        cudaMallocHost(&c->h_pos, sizeof(int)) != cudaSuccess ||
        cudaMalloc(&c->d_id, sizeof(int32_t)) != cudaSuccess ||
        cudaMallocHost(&c->h_id, sizeof(int32_t)) != cudaSuccess) {
        if (c->slab && c->part) /* else cu_alloc said what was short */
            unum_error_set("CUDA: cannot set up the backend's buffers: %s",
                           cudaGetErrorString(cudaGetLastError()));
        cu_close(be);
        return NULL;
    }
    return be;
}
