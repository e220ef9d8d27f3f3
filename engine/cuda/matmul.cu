/* matmul.cu - embedding lookups and matrix products: the decode matvec (a
 * warp per output row) and prefill through cuBLAS (a widened f32 slab, or bf16
 * tensor cores with UNUM_CUDA_PREFILL=bf16). */
#include "engine/cuda/cuda.cuh"

template <typename WT>
__global__ void k_embed(float *x, const WT *table, const int32_t *ids, int D) {
    int t = blockIdx.y;
    const WT *row = table + (size_t)ids[t] * D;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < D; i += gridDim.x * blockDim.x)
        x[(size_t)t * D + i] = to_f(row[i]);
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

void cu_embed(Backend *be, float *x, const Weight *table, const int32_t *ids, int T) {
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
    note(c,
         cudaMemcpyAsync(c->ids, c->h_ids, sizeof(int32_t) * T, cudaMemcpyHostToDevice, c->stream),
         "embed");
    note(c, cudaEventRecord(c->ids_copied, c->stream), "embed");
    dim3 grid((table->cols + 255) / 256, T);
    if (table->dtype == DT_BF16)
        k_embed<<<grid, 256, 0, c->stream>>>(x, (const __nv_bfloat16 *)table->data, c->ids,
                                             table->cols);
    else k_embed<<<grid, 256, 0, c->stream>>>(x, (const float *)table->data, c->ids, table->cols);
    LAUNCHED(c, "embed");
}

static void gemm_f32(Cuda *c, float *y, const float *x, const Weight *W, int T, int add);
static void gemm_bf16(Cuda *c, float *y, const float *x, const Weight *W, int T, int add);

/* y = x W^T + b, or y += x W^T + b when add, for T rows. */
void matmul_into(Cuda *c, float *y, const float *x, const Weight *W, const float *b, int T,
                 int add) {
    int rows = W->rows, cols = W->cols;
    if (W->quant) {
        quant_matmul(c, y, x, W, b, T, add);
        return;
    }
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
    cublasStatus_t st = c->api.gemm_ex(
        c->blas, CUBLAS_OP_T, CUBLAS_OP_N, rows, T, cols, &one, W->data, CUDA_R_16BF, cols, c->xb,
        CUDA_R_16BF, cols, &beta, y, CUDA_R_32F, rows, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    c->api.set_math_mode(c->blas, CUBLAS_PEDANTIC_MATH);
    if (st != CUBLAS_STATUS_SUCCESS) note(c, cudaErrorUnknown, "cublasGemmEx");
}

void cu_matmul(Backend *be, float *y, const float *x, const Weight *W, const Weight *bias, int T) {
    matmul_into((Cuda *)be->impl, y, x, W, bias ? (const float *)bias->data : NULL, T, 0);
}

void cu_matmul_add(Backend *be, float *x, const float *a, const Weight *W, int T) {
    matmul_into((Cuda *)be->impl, x, a, W, NULL, T, 1);
}
