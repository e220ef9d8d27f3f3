/* lora.cu - addmm, the second product of LoRA adapters: y += x W with W
 * [rank x out] float32. One thread per output column and row of x: the
 * rank is small (a few to a few dozen), so each thread walks W's column
 * with its warp reading consecutive columns, and x's row comes from the
 * cache. */
#include "engine/cuda/cuda.cuh"

__global__ void k_addmm(float *y, const float *x, const float *W, int K, int N) {
    int n = blockIdx.x * blockDim.x + threadIdx.x;
    if (n >= N) return;
    const float *xt = x + (size_t)blockIdx.y * K;
    float acc = 0;
    for (int k = 0; k < K; k++) acc += xt[k] * W[(size_t)k * N + n];
    y[(size_t)blockIdx.y * N + n] += acc;
}

void cu_addmm(Backend *be, float *y, const float *x, const Weight *W, int T) {
    Cuda *c = (Cuda *)be->impl;
    if (T <= 0) return;
    dim3 grid((unsigned)((W->cols + 255) / 256), (unsigned)T);
    k_addmm<<<grid, 256, 0, c->stream>>>(y, x, (const float *)W->data, W->rows, W->cols);
    LAUNCHED(c, "addmm");
}
