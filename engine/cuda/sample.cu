/* sample.cu - sampling on the device.
 *
 * The host sampler (sampler.c) step by step, so that the same uniform
 * number picks the same id: repetition penalty once per distinct id;
 * greedy argmax (lowest id on ties); otherwise logits / temperature, a
 * stable descending sort whenever a cut applies (top-k, top-p, min-p), the
 * top-k set (everything tied with the k-th kept), softmax numerators
 * expf(l - max), the top-p prefix, the min-p floor, and the draw walking the
 * candidates in the host's order. The single-block kernels use
 * SAMPLE_THREADS threads. */
#include "engine/cuda/cuda.cuh"

#include <cub/cub.cuh>

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
    int i = first_reaching([=](int j) { return (double)prob[j]; }, n, u * sum, 1, shd, shi);
    if (i >= n) i = n - 1;
    if (threadIdx.x == 0) *out = sorted ? sorted_ids[i] : i;
}

void sampler_buffers_free(Cuda *c) {
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
                                              (float *)NULL, (const int32_t *)NULL, (int32_t *)NULL,
                                              V, 0, 32, c->stream);
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
    return note(c,
                cudaMemcpyAsync(c->d_hist, c->h_hist, sizeof(int32_t) * n, cudaMemcpyHostToDevice,
                                c->stream),
                "sampler history");
}

int cu_sample(Backend *be, int32_t *id, float *logits, int V, const SamplerParams *p,
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
                                                    c->sorted_ids, V, top_k, p->top_p, p->min_p, u);
        LAUNCHED(c, "sampler draw");
    }
    note(c, cudaMemcpyAsync(c->h_id, c->d_id, sizeof(int32_t), cudaMemcpyDeviceToHost, c->stream),
         "sampler id");
    if (cu_sync(be)) return -1;
    *id = *c->h_id;
    return 0;
}
