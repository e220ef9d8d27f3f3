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
#include "engine/cuda/cuda.cuh"

#include <dlfcn.h>

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

float *cu_alloc(Backend *be, size_t n) {
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

void cu_free(Backend *be, float *p) {
    uncount(be, p);
    cudaFree(p);
}

/* Matrices go up as bf16, vectors as f32; the host side is converted in
 * pieces so no full-size host copy is ever made. */
int cu_upload(Backend *be, const STensor *t, int rows, int cols, Weight *w) {
    Cuda *c = (Cuda *)be->impl;
    if (!dtype_is_float(t->dtype))
        return unum_error_set("%s: tensor '%s' is %s, which holds no weight values", t->file,
                              t->name, dtype_name(t->dtype));
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
    *w = (Weight){dt, rows, cols, d, NULL};
    return 0;
fail:
    cudaFree(d);
    return unum_error_set("CUDA: uploading '%s' failed: %s", t->name, cudaGetErrorString(c->err));
}

/* A quantized matrix goes up in its layout (engine/quant.h) as it is; the
 * Weight's QMat is a host copy holding the device pointers. */
int cu_upload_quant(Backend *be, QMat *q, Weight *w) {
    Cuda *c = (Cuda *)be->impl;
    size_t N = (size_t)q->rows, K = (size_t)q->cols, ng = (size_t)q->n_groups;
    struct {
        const void *src;
        size_t bytes;
        void *dev;
    } part[4] = {{q->qw, K / (32 / q->bits) * N * 4, NULL},
                 {q->scales, ng * N * 2, NULL},
                 {q->zeros, ng * N, NULL},
                 {q->perm, q->perm ? K * 4 : 0, NULL}};
    int rc = 0;
    for (int i = 0; i < 4 && !rc; i++) {
        if (!part[i].bytes) continue;
        if (cudaMalloc(&part[i].dev, part[i].bytes) != cudaSuccess) {
            cudaGetLastError();
            rc = unum_error_set("CUDA out of memory uploading a %d x %d quantized matrix (%.1f MiB)",
                                q->rows, q->cols, (double)part[i].bytes / (1 << 20));
        } else if (note(c, cudaMemcpy(part[i].dev, part[i].src, part[i].bytes,
                                      cudaMemcpyHostToDevice),
                        "upload")) {
            rc = unum_error_set("CUDA: uploading a quantized matrix failed: %s",
                                cudaGetErrorString(c->err));
        } else count(be, part[i].dev, part[i].bytes);
    }
    QMat *d = (QMat *)xcalloc(1, sizeof *d);
    *d = *q;
    d->own_qw = d->own_scales = NULL, d->own_zeros = NULL, d->own_perm = NULL;
    d->qw = (const uint32_t *)part[0].dev;
    d->scales = (const uint16_t *)part[1].dev;
    d->zeros = (const uint8_t *)part[2].dev;
    d->perm = (const int32_t *)part[3].dev;
    quant_free(q);
    *w = (Weight){DT_F32, d->rows, d->cols, d, d};
    if (rc) cu_release(be, w);
    return rc;
}

void cu_release(Backend *be, Weight *w) {
    if (w->quant) {
        QMat *d = (QMat *)w->quant;
        const void *dev[] = {d->qw, d->scales, d->zeros, d->perm};
        for (int i = 0; i < 4; i++)
            if (dev[i]) {
                uncount(be, (void *)dev[i]);
                cudaFree((void *)dev[i]);
            }
        free(d);
        memset(w, 0, sizeof *w);
        return;
    }
    uncount(be, (void *)w->data);
    cudaFree((void *)w->data);
    memset(w, 0, sizeof *w);
}

void cu_to_host(Backend *be, float *dst, const float *src, size_t n) {
    Cuda *c = (Cuda *)be->impl;
    note(c, cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToHost, c->stream),
         "copy to host");
    note(c, cudaStreamSynchronize(c->stream), "copy to host");
}

void cu_from_host(Backend *be, float *dst, const float *src, size_t n) {
    Cuda *c = (Cuda *)be->impl;
    note(c, cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyHostToDevice, c->stream),
         "copy to device");
    note(c, cudaStreamSynchronize(c->stream), "copy to device");
}

void cu_copy(Backend *be, float *dst, const float *src, size_t n) {
    Cuda *c = (Cuda *)be->impl;
    note(c, cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, c->stream),
         "copy on the device");
}

/* ------------------------------------------------------------ pinned host memory */

float *cu_host_alloc(Backend *be, size_t n) {
    void *p = NULL;
    if (cudaMallocHost(&p, (n ? n : 1) * sizeof(float)) != cudaSuccess) {
        cudaGetLastError();
        return NULL;
    }
    return (float *)p;
}

void cu_host_free(Backend *be, float *p) { cudaFreeHost(p); }

int cu_sync(Backend *be) {
    Cuda *c = (Cuda *)be->impl;
    note(c, cudaStreamSynchronize(c->stream), "synchronize");
    if (c->err == cudaSuccess) return 0;
    /* reported once; an error that sticks to the context comes back by itself */
    cudaError_t e = c->err;
    c->err = cudaSuccess;
    return unum_error_set("CUDA error in %s: %s", c->err_where, cudaGetErrorString(e));
}

void cu_close(Backend *be) {
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

/* Device 0's total memory (backend_device_memory), 0 without a device. */
extern "C" size_t backend_cuda_memory(void) {
    int n = 0;
    size_t free_b = 0, total_b = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0 || cudaSetDevice(0) != cudaSuccess ||
        cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return total_b;
}

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
    be->upload_quant = cu_upload_quant;
    be->to_host = cu_to_host;
    be->from_host = cu_from_host;
    be->embed = cu_embed;
    be->rmsnorm = cu_rmsnorm;
    be->matmul = cu_matmul;
    be->rope = cu_rope;
    be->attention = cu_attention;
    be->swiglu = cu_swiglu;
    be->add = cu_add;
    be->scale = cu_scale;
    be->addmm = cu_addmm;
    be->copy = cu_copy;
    be->layernorm = cu_layernorm;
    be->gelu = cu_gelu;
    be->relu = cu_relu;
    be->im2col3 = cu_im2col3;
    be->im2col = cu_im2col;
    be->dwconv = cu_dwconv;
    be->add_scaled = cu_add_scaled;
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
