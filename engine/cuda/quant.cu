/* quant.cu - products with quantized matrices (GPTQ, AWQ; the QMat layout of
 * engine/quant.h, uploaded by cu_upload_quant with device pointers).
 *
 * Decode: one thread per output column and a slice of the inputs. The
 * layout runs along the outputs, so a warp's 32 loads of one word row are
 * one coalesced 128-byte read, and every weight byte is read once. A nibble
 * (or byte) becomes a float with one shift-and-or into the mantissa of 2^23
 * (a lop3) and one subtraction; products and sums stay in f32, and scale and
 * zero are applied once per group: s * (sum q x - z * sum x). Blocks split
 * the inputs (KC per block) and add their part into y atomically.
 *
 * Prefill: a slab of outputs is dequantized to f32, input-major (so writes
 * are coalesced and act-order's permutation is applied by where each input
 * goes), then one cuBLAS sgemm: exact, like the f32 path of matmul.cu. */
#include "engine/cuda/cuda.cuh"

#define QX 64   /* outputs per block (threadIdx.x) */
#define QY 4    /* input slices per block (threadIdx.y) */
#define KC 512  /* inputs per block (blockIdx.y) */

/* the integer in bits [sh, sh + bits) of w, as a float */
template <int BITS> __device__ __forceinline__ float qval(uint32_t w, int sh) {
    const uint32_t mask = (1u << BITS) - 1;
    return __uint_as_float(((w >> sh) & mask) | 0x4b000000u) - 8388608.0f;
}

/* y[t, n] (+)= sum over the block's inputs of W[n, k] x[t, k] for t < T. */
template <int BITS>
__global__ void k_qmatvec(float *y, const float *x, QMat m, const float *bias, int T) {
    const int p = 32 / BITS;
    __shared__ float xs[MATVEC_MAX_T][KC];
    __shared__ float part[MATVEC_MAX_T][QY][QX];
    int n = blockIdx.x * QX + threadIdx.x, kb = blockIdx.y * KC;
    int ke = kb + KC < m.cols ? kb + KC : m.cols;
    int tid = threadIdx.y * QX + threadIdx.x;
    for (int t = 0; t < T; t++) /* stage x (gathered when act-order permutes it) */
        for (int k = kb + tid; k < ke; k += QX * QY)
            xs[t][k - kb] = x[(size_t)t * m.cols + (m.perm ? m.perm[k] : k)];
    __syncthreads();
    float acc[MATVEC_MAX_T];
    for (int t = 0; t < T; t++) acc[t] = 0;
    if (n < m.rows) {
        float a[MATVEC_MAX_T], sx[MATVEC_MAX_T];
        int g = -1;
        for (int i = kb / p + threadIdx.y; i < ke / p; i += QY) {
            int gi = i * p / m.group;
            if (gi != g) { /* a new group: settle the last one */
                if (g >= 0) {
                    float s = __half2float(((const __half *)m.scales)[(size_t)g * m.rows + n]);
                    float z = (float)m.zeros[(size_t)g * m.rows + n];
                    for (int t = 0; t < T; t++) acc[t] += s * (a[t] - z * sx[t]);
                }
                for (int t = 0; t < T; t++) a[t] = sx[t] = 0;
                g = gi;
            }
            uint32_t w = m.qw[(size_t)i * m.rows + n];
            const int k0 = i * p - kb;
#pragma unroll
            for (int j = 0; j < p; j++) {
                float q = qval<BITS>(w, BITS * j);
                for (int t = 0; t < T; t++) {
                    float xv = xs[t][k0 + j];
                    a[t] += q * xv;
                    sx[t] += xv;
                }
            }
        }
        if (g >= 0) {
            float s = __half2float(((const __half *)m.scales)[(size_t)g * m.rows + n]);
            float z = (float)m.zeros[(size_t)g * m.rows + n];
            for (int t = 0; t < T; t++) acc[t] += s * (a[t] - z * sx[t]);
        }
    }
    for (int t = 0; t < T; t++) part[t][threadIdx.y][threadIdx.x] = acc[t];
    __syncthreads();
    if (threadIdx.y == 0 && n < m.rows)
        for (int t = 0; t < T; t++) {
            float s = 0;
            for (int j = 0; j < QY; j++) s += part[t][j][threadIdx.x];
            if (bias && blockIdx.y == 0) s += bias[n];
            atomicAdd(y + (size_t)t * m.rows + n, s);
        }
}

__global__ void k_qbias(float *y, const float *b, int rows, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] += b[i % rows];
}

/* slab[perm(k) * nb + (n - r0)] = W[n, k] for outputs r0 .. r0+nb: input-major. */
template <int BITS> __global__ void k_qdequant(float *slab, QMat m, int r0, int nb) {
    const int p = 32 / BITS;
    int c = blockIdx.x * blockDim.x + threadIdx.x, i = blockIdx.y;
    if (c >= nb) return;
    int n = r0 + c, g = i * p / m.group;
    uint32_t w = m.qw[(size_t)i * m.rows + n];
    float s = __half2float(((const __half *)m.scales)[(size_t)g * m.rows + n]);
    float sz = s * (float)m.zeros[(size_t)g * m.rows + n]; /* exact: fp16 x integer */
#pragma unroll
    for (int j = 0; j < p; j++) {
        int k = i * p + j;
        slab[(size_t)(m.perm ? m.perm[k] : k) * nb + c] = fmaf(qval<BITS>(w, BITS * j), s, -sz);
    }
}

/* y = x W^T + b, or y += x W^T + b when add, for T rows; W->quant's
 * pointers are device memory. */
void quant_matmul(Cuda *c, float *y, const float *x, const Weight *W, const float *b, int T,
                  int add) {
    const QMat *m = W->quant;
    int rows = m->rows, cols = m->cols;
    if (T < MATVEC_MAX_T) { /* as matmul_into: up to MATVEC_MAX_T - 1 rows */
        if (!add &&
            note(c, cudaMemsetAsync(y, 0, sizeof(float) * (size_t)T * rows, c->stream), "qmatvec"))
            return;
        dim3 grid((unsigned)((rows + QX - 1) / QX), (unsigned)((cols + KC - 1) / KC));
        dim3 block(QX, QY);
        if (m->bits == 4) k_qmatvec<4><<<grid, block, 0, c->stream>>>(y, x, *m, b, T);
        else k_qmatvec<8><<<grid, block, 0, c->stream>>>(y, x, *m, b, T);
        LAUNCHED(c, "qmatvec");
        return;
    }
    /* column-major view: y^T[nb x T] (+)= slab[nb x cols] (input-major is
     * its column-major form, ld nb) times x^T[cols x T] */
    int slab_rows = (int)(SLAB_ELEMS / (size_t)cols);
    const float one = 1.0f, beta = add ? 1.0f : 0.0f;
    for (int r0 = 0; r0 < rows; r0 += slab_rows) {
        int nb = rows - r0 < slab_rows ? rows - r0 : slab_rows;
        dim3 grid((unsigned)((nb + 127) / 128), (unsigned)(cols / (32 / m->bits)));
        if (m->bits == 4) k_qdequant<4><<<grid, 128, 0, c->stream>>>(c->slab, *m, r0, nb);
        else k_qdequant<8><<<grid, 128, 0, c->stream>>>(c->slab, *m, r0, nb);
        if (LAUNCHED(c, "qdequant")) return;
        cublasStatus_t st = c->api.sgemm(c->blas, CUBLAS_OP_N, CUBLAS_OP_N, nb, T, cols, &one,
                                         c->slab, nb, x, cols, &beta, y + r0, rows);
        if (st != CUBLAS_STATUS_SUCCESS) note(c, cudaErrorUnknown, "cublasSgemm");
    }
    if (b) {
        size_t n = (size_t)T * rows;
        k_qbias<<<grid_for(n), 256, 0, c->stream>>>(y, b, rows, n);
        LAUNCHED(c, "bias");
    }
}
