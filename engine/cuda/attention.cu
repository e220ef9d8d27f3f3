/* attention.cu - rotate-half RoPE and attention: one block per (head,
 * query) with an online softmax, split-K (flash-decoding) for decode over
 * many keys, and the unmasked form for Whisper. */
#include "engine/cuda/cuda.cuh"

/* Rotate-half RoPE: thread (t, head, i < half). */
__global__ void k_rope(float *x, int T, int n_heads, int hd, int pos0, Rope r) {
    int half = hd / 2;
    size_t n = (size_t)T * n_heads * half;
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < n;
         k += (size_t)gridDim.x * blockDim.x) {
        int i = (int)(k % half);
        size_t th = k / half;
        int t = (int)(th / n_heads);
        float a = (float)(pos0 + t) * r.inv_freq[i], cs, sn;
        sincosf(a, &sn, &cs);
        cs *= r.scale, sn *= r.scale;
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
                            const int *posp, int pos0, int n_heads, int n_kv, int hd, int causal) {
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

void cu_rope(Backend *be, float *x, int T, int n_heads, int head_dim, int pos0,
             const Rope *rope) {
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
    k_rope<<<grid_for(n), 256, 0, c->stream>>>(x, T, n_heads, head_dim, pos0, *rope);
    LAUNCHED(c, "rope");
}

/* Causal attention. Decode (T < MATVEC_MAX_T) over many keys splits the
 * keys across blocks (k_attention_split + k_attention_combine); a recorded
 * step always does, with SPLIT_MAX chunks, because its key count changes
 * with the position it is replayed at. Otherwise one block per (head,
 * query). */
void cu_attention(Backend *be, float *out, const float *q, const float *kc, const float *vc, int T,
                  int pos0, int n_heads, int n_kv, int head_dim) {
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

void cu_attention_full(Backend *be, float *out, const float *q, const float *k, const float *v,
                       int T, int S, int n_heads, int head_dim) {
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
