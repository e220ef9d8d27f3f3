/* cuda.cu - the CUDA backend: the ops of ops.h on one GPU.
 *
 * Weights are uploaded once: bf16 matrices as they are, f16 and f32 ones
 * widened to f32 (exactly, so the GPU computes with the checkpoint's values),
 * vectors (norms, biases) as f32. Activations and the KV cache are f32 in
 * device memory.
 *
 * - Decode (fewer than MATVEC_MAX_T rows): one warp per output row streams
 *   the row with 16-byte loads and accumulates in f32, bias fused.
 * - Prefill: each bf16 weight is widened to f32 a slab at a time and multiplied
 *   with cuBLAS sgemm (tensor-core TF32 off), so prefill logits agree with
 *   the CPU backend to f32 rounding. A bf16 tensor-core path is the known
 *   next step for speed; it will come with its own stated tolerance.
 * - Attention: one block per (head, query), keys split across the block's
 *   warps with an online softmax, so no T x T score matrix exists.
 *
 * Everything runs on one stream; sync() reports any device error. cuBLAS is
 * opened with dlopen when the backend is, so that a CPU run never maps its
 * hundreds of megabytes. */
#include <cublas_v2.h>
#include <dlfcn.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "ops.h"
#include "util.h"
}

#define MATVEC_MAX_T 8
#define SLAB_ELEMS ((size_t)16 << 20) /* f32 elements of widened weight per sgemm */
#define ATT_THREADS 128
#define ATT_MAX_HD 256

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
    cudaError_t err; /* first error seen, reported by sync */
    const char *err_where;
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

/* ------------------------------------------------------------ kernels */

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
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
    __shared__ float part[32];
    const float *xr = x + (size_t)blockIdx.x * D;
    float ss = 0;
    for (int i = threadIdx.x; i < D; i += blockDim.x) ss += xr[i] * xr[i];
    ss = warp_sum(ss);
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = ss;
    __syncthreads();
    if (threadIdx.x < 32) {
        float v = threadIdx.x < (blockDim.x + 31) / 32 ? part[threadIdx.x] : 0;
        v = warp_sum(v);
        if (threadIdx.x == 0) part[0] = v;
    }
    __syncthreads();
    float inv = rsqrtf(part[0] / (float)D + eps);
    float *yr = y + (size_t)blockIdx.x * D;
    for (int i = threadIdx.x; i < D; i += blockDim.x) yr[i] = xr[i] * inv * w[i];
}

/* y[t, r] = W[r, :] . x[t, :] (+ b[r]) for t < T; one warp per row r. */
template <typename WT>
__global__ void k_matvec(float *y, const float *x, const WT *W, const float *b, int rows, int cols,
                         int T) {
    int r = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (r >= rows) return;
    const WT *wr = W + (size_t)r * cols;
    float acc[MATVEC_MAX_T];
    for (int t = 0; t < T; t++) acc[t] = 0;
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
    for (int t = 0; t < T; t++) {
        float s = warp_sum(acc[t]);
        if (lane == 0) y[(size_t)t * rows + r] = s + (b ? b[r] : 0.0f);
    }
}

__global__ void k_widen(float *dst, const __nv_bfloat16 *src, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __bfloat162float(src[i]);
}

__global__ void k_add_bias(float *y, const float *b, int rows, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] += b[i % rows];
}

/* inv_freq as the CPU backend (and transformers, in float32) computes it,
 * computed on the host so both backends use the same bits. */
typedef struct {
    float f[ATT_MAX_HD / 2];
} InvFreq;

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

/* One block per (head, query t). Each warp walks every 4th key keeping an
 * online softmax (running max m, sum l, weighted values acc); the warps'
 * partial states are merged at the end. Lane j holds dims j, j+32, ... */
__global__ void k_attention(float *out, const float *q, const float *kc, const float *vc, int T,
                            int pos0, int n_heads, int n_kv, int hd, int causal) {
    int h = blockIdx.x, t = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    /* causal: query t sees keys 0..pos0+t; otherwise all pos0 keys */
    int nwarps = blockDim.x >> 5, kvh = h / (n_heads / n_kv), nk = causal ? pos0 + t + 1 : pos0;
    int per = (hd + 31) / 32;
    size_t qs = (size_t)n_heads * hd, ks = (size_t)n_kv * hd;
    const float *qv = q + (size_t)t * qs + (size_t)h * hd;
    float scale = rsqrtf((float)hd);
    float qr[ATT_MAX_HD / 32], acc[ATT_MAX_HD / 32];
    for (int k = 0; k < per; k++) {
        int d = lane + 32 * k;
        qr[k] = d < hd ? qv[d] * scale : 0;
        acc[k] = 0;
    }
    float m = -INFINITY, l = 0;
    for (int s = warp; s < nk; s += nwarps) {
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
    float *o = out + (size_t)t * qs + (size_t)h * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float v = 0;
        for (int w = 0; w < nwarps; w++)
            if (sm[w] != -INFINITY) v += sacc[w][d] * __expf(sm[w] - M);
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
    __shared__ float part[32];
    __shared__ float stat;
    const float *xr = x + (size_t)blockIdx.x * D;
    float s = 0;
    for (int i = threadIdx.x; i < D; i += blockDim.x) s += xr[i];
    s = warp_sum(s);
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = s;
    __syncthreads();
    if (threadIdx.x < 32) {
        float v = threadIdx.x < (blockDim.x + 31) / 32 ? part[threadIdx.x] : 0;
        v = warp_sum(v);
        if (threadIdx.x == 0) stat = v / (float)D;
    }
    __syncthreads();
    float mean = stat, q = 0;
    for (int i = threadIdx.x; i < D; i += blockDim.x) q += (xr[i] - mean) * (xr[i] - mean);
    q = warp_sum(q);
    __syncthreads(); /* everyone has read stat */
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = q;
    __syncthreads();
    if (threadIdx.x < 32) {
        float v = threadIdx.x < (blockDim.x + 31) / 32 ? part[threadIdx.x] : 0;
        v = warp_sum(v);
        if (threadIdx.x == 0) stat = rsqrtf(v / (float)D + eps);
    }
    __syncthreads();
    float inv = stat;
    float *yr = y + (size_t)blockIdx.x * D;
    for (int i = threadIdx.x; i < D; i += blockDim.x) yr[i] = (xr[i] - mean) * inv * w[i] + b[i];
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

static unsigned grid_for(size_t n) {
    size_t g = (n + 255) / 256;
    return (unsigned)(g > 4096 ? 4096 : g ? g : 1);
}

/* ------------------------------------------------------------ ops */

static void cu_embed(Backend *be, float *x, const Weight *table, const int32_t *ids, int T) {
    Cuda *c = (Cuda *)be->impl;
    if (T > c->ids_cap) {
        cudaFree(c->ids);
        c->ids = NULL;
        c->ids_cap = 0;
        if (note(c, cudaMalloc(&c->ids, sizeof(int32_t) * T), "embed")) return;
        c->ids_cap = T;
    }
    note(c, cudaMemcpyAsync(c->ids, ids, sizeof(int32_t) * T, cudaMemcpyHostToDevice, c->stream),
         "embed");
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

static void cu_matmul(Backend *be, float *y, const float *x, const Weight *W, const Weight *bias,
                      int T) {
    Cuda *c = (Cuda *)be->impl;
    const float *b = bias ? (const float *)bias->data : NULL;
    int rows = W->rows, cols = W->cols;
    if (T < MATVEC_MAX_T) {
        int warps = 8;
        unsigned blocks = (unsigned)((rows + warps - 1) / warps);
        if (W->dtype == DT_BF16)
            k_matvec<<<blocks, 32 * warps, 0, c->stream>>>(y, x, (const __nv_bfloat16 *)W->data, b,
                                                           rows, cols, T);
        else
            k_matvec<<<blocks, 32 * warps, 0, c->stream>>>(y, x, (const float *)W->data, b, rows,
                                                           cols, T);
        LAUNCHED(c, "matvec");
        return;
    }
    /* widen a slab of rows, then y[:, r0:r0+n] = x W[r0:r0+n]^T (column-major view:
     * y^T[n x T] = Wslab[n x cols] x^T[cols x T]) */
    int slab_rows = (int)(SLAB_ELEMS / (size_t)cols);
    const float one = 1.0f, zero = 0.0f;
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
                                         cols, x, cols, &zero, y + r0, rows);
        if (st != CUBLAS_STATUS_SUCCESS) note(c, cudaErrorUnknown, "cublasSgemm");
    }
    if (b) {
        size_t n = (size_t)T * rows;
        k_add_bias<<<grid_for(n), 256, 0, c->stream>>>(y, b, rows, n);
        LAUNCHED(c, "bias");
    }
}

static void cu_rope(Backend *be, float *x, int T, int n_heads, int head_dim, int pos0,
                    float theta) {
    Cuda *c = (Cuda *)be->impl;
    if (head_dim > ATT_MAX_HD) {
        note(c, cudaErrorInvalidValue, "rope (head_dim above 256)");
        return;
    }
    InvFreq inv;
    for (int i = 0; i < head_dim / 2; i++)
        inv.f[i] = 1.0f / powf(theta, (float)(2 * i) / (float)head_dim);
    size_t n = (size_t)T * n_heads * (head_dim / 2);
    k_rope<<<grid_for(n), 256, 0, c->stream>>>(x, T, n_heads, head_dim, pos0, inv);
    LAUNCHED(c, "rope");
}

static void cu_attention(Backend *be, float *out, const float *q, const float *kc, const float *vc,
                         int T, int pos0, int n_heads, int n_kv, int head_dim) {
    Cuda *c = (Cuda *)be->impl;
    if (head_dim > ATT_MAX_HD) {
        note(c, cudaErrorInvalidValue, "attention (head_dim above 256)");
        return;
    }
    dim3 grid(n_heads, T);
    k_attention<<<grid, ATT_THREADS, 0, c->stream>>>(out, q, kc, vc, T, pos0, n_heads, n_kv,
                                                     head_dim, 1);
    LAUNCHED(c, "attention");
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
    k_attention<<<grid, ATT_THREADS, 0, c->stream>>>(out, q, k, v, T, S, n_heads, n_heads, head_dim,
                                                     0);
    LAUNCHED(c, "attention_full");
}

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
    cu_free(be, c->slab);
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
    be->layernorm = cu_layernorm;
    be->gelu = cu_gelu;
    be->im2col3 = cu_im2col3;
    be->attention_full = cu_attention_full;
    be->sync = cu_sync;
    be->close = cu_close;
    c->slab = cu_alloc(be, SLAB_ELEMS);
    if (!c->slab) {
        cu_close(be);
        return NULL;
    }
    return be;
}
