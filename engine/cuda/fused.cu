/* fused.cu - the fused decode ops: rmsnorm staged in shared memory ahead of
 * the projection that reads it, gate/up with SiLU*up, and QKV with bias, RoPE
 * and the KV-cache write in one kernel. */
#include "engine/cuda/cuda.cuh"

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
                           const float *bk, const float *bv, int D, int T, int Hq, int Hkv, int hd,
                           const int *posp, int pos0, Rope rope, float eps) {
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
    int j, rotate;
    if (u < nq) {
        j = u, W = Wq, b = bq, out = q, stride = (size_t)Hq * hd, rotate = 1;
    } else if (u < nq + nk) {
        j = u - nq, W = Wk, b = bk, out = kc + (size_t)pos * kvd, stride = kvd, rotate = 1;
    } else {
        j = u - nq - nk, W = Wv, b = bv, out = vc + (size_t)pos * kvd, stride = kvd, rotate = 0;
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
        if (lane == 0 && rotate) { /* as k_rope */
            float ang = (float)(pos + t) * rope.inv_freq[i], cs, sn;
            sincosf(ang, &sn, &cs);
            cs *= rope.scale, sn *= rope.scale;
            o[r1] = lo * cs - hi * sn;
            o[r2] = hi * cs + lo * sn;
        } else if (lane == 0) {
            o[r1] = lo;
            o[r2] = hi;
        }
    }
}

/* Whether a fused decode kernel stages T rows of cols normalized floats. */
static int fusable(int T, int cols) {
    return T < MATVEC_MAX_T && (size_t)T * cols * sizeof(float) <= FUSED_SMEM_MAX;
}

static unsigned fused_blocks(int units) {
    return (unsigned)((units + FUSED_WARPS - 1) / FUSED_WARPS);
}

void cu_rmsnorm_matmul(Backend *be, float *y, float *h, const float *x, const Weight *norm,
                       const Weight *W, const Weight *bias, int T, float eps) {
    Cuda *c = (Cuda *)be->impl;
    const float *b = bias ? (const float *)bias->data : NULL, *nw = (const float *)norm->data;
    int rows = W->rows, cols = W->cols;
    if (!fusable(T, cols) || W->quant) {
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

void cu_qkv_rope(Backend *be, float *q, float *k_cache, float *v_cache, float *h, const float *x,
                 const QkvWeights *w, int T, int pos0, int n_heads, int n_kv, int head_dim,
                 const Rope *rope, float eps) {
    Cuda *c = (Cuda *)be->impl;
    int D = w->wq->cols;
    size_t kvd = (size_t)n_kv * head_dim;
    int same = w->wq->dtype == w->wk->dtype && w->wq->dtype == w->wv->dtype &&
               !w->wq->quant && !w->wk->quant && !w->wv->quant;
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
        cu_rope(be, q, T, n_heads, head_dim, pos0, rope);
        cu_rope(be, kc, T, n_kv, head_dim, pos0, rope);
        return;
    }
    const int *posp = c->recording ? c->d_pos : NULL;
    const float *nw = (const float *)w->norm->data;
#define VEC(b) ((b) ? (const float *)(b)->data : NULL)
    const float *bq = VEC(w->bq), *bk = VEC(w->bk), *bv = VEC(w->bv);
#undef VEC
    int units = (n_heads + 2 * n_kv) * (head_dim / 2);
    size_t smem = (size_t)T * D * sizeof(float);
    if (w->wq->dtype == DT_BF16)
        k_qkv_rope<<<fused_blocks(units), 32 * FUSED_WARPS, smem, c->stream>>>(
            q, k_cache, v_cache, x, nw, (const __nv_bfloat16 *)w->wq->data,
            (const __nv_bfloat16 *)w->wk->data, (const __nv_bfloat16 *)w->wv->data, bq, bk, bv, D,
            T, n_heads, n_kv, head_dim, posp, pos0, *rope, eps);
    else
        k_qkv_rope<<<fused_blocks(units), 32 * FUSED_WARPS, smem, c->stream>>>(
            q, k_cache, v_cache, x, nw, (const float *)w->wq->data, (const float *)w->wk->data,
            (const float *)w->wv->data, bq, bk, bv, D, T, n_heads, n_kv, head_dim, posp, pos0,
            *rope, eps);
    LAUNCHED(c, "qkv_rope");
}

void cu_rmsnorm_swiglu(Backend *be, float *a, float *u, float *h, const float *x,
                       const Weight *norm, const Weight *gate, const Weight *up, int T, float eps) {
    Cuda *c = (Cuda *)be->impl;
    int rows = gate->rows, cols = gate->cols;
    if (!fusable(T, cols) || gate->dtype != up->dtype || gate->quant || up->quant) {
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
