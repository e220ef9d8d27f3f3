/* pointwise.cu - rmsnorm, LayerNorm and the element-wise ops (SwiGLU, add,
 * ReLU, exact GELU, the kernel-3 im2col of Whisper's convolutions, VibeVoice's
 * im2col, depthwise convolution and layer-scaled residual). */
#include "engine/cuda/cuda.cuh"

__global__ void k_rmsnorm(float *y, const float *x, const float *w, int D, float eps) {
    __shared__ float part[33];
    const float *xr = x + (size_t)blockIdx.x * D;
    float ss = 0;
    for (int i = threadIdx.x; i < D; i += blockDim.x) ss += xr[i] * xr[i];
    float inv = rsqrtf(block_reduce(ss, part, SumOp(), 0.0f) / (float)D + eps);
    float *yr = y + (size_t)blockIdx.x * D;
    for (int i = threadIdx.x; i < D; i += blockDim.x) yr[i] = xr[i] * inv * w[i];
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

__global__ void k_scale(float *x, float s, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        x[i] *= s;
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

/* VibeVoice's convolutions (ops.h): col[t][c*K + k] = x[t*stride + k][c]. */
__global__ void k_im2col(float *col, const float *x, int T, int C, int K, int stride) {
    size_t n = (size_t)T * C * K;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        int k = (int)(i % K), c = (int)(i / K % C);
        size_t t = i / ((size_t)K * C);
        col[i] = x[(t * stride + k) * C + c];
    }
}

/* y[t][c] = b[c] + sum_k w[c*K + k] x[t + k][c] */
__global__ void k_dwconv(float *y, const float *x, const float *w, const float *b, int T, int C,
                         int K) {
    size_t n = (size_t)T * C;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        int c = (int)(i % C);
        size_t t = i / C;
        float acc = b[c];
        for (int k = 0; k < K; k++) acc += w[(size_t)c * K + k] * x[(t + k) * C + c];
        y[i] = acc;
    }
}

/* x[t][c] += g[c] * y[t][c] */
__global__ void k_add_scaled(float *x, const float *y, const float *g, size_t n, int C) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        x[i] += g[i % C] * y[i];
}

void cu_im2col(Backend *be, float *col, const float *x, int T, int C, int K, int stride) {
    Cuda *c = (Cuda *)be->impl;
    k_im2col<<<grid_for((size_t)T * C * K), 256, 0, c->stream>>>(col, x, T, C, K, stride);
    LAUNCHED(c, "im2col");
}

void cu_dwconv(Backend *be, float *y, const float *x, const Weight *w, const Weight *b, int T,
               int C, int K) {
    Cuda *c = (Cuda *)be->impl;
    k_dwconv<<<grid_for((size_t)T * C), 256, 0, c->stream>>>(
        y, x, (const float *)w->data, (const float *)b->data, T, C, K);
    LAUNCHED(c, "dwconv");
}

void cu_add_scaled(Backend *be, float *x, const float *y, const Weight *g, int T, int C) {
    Cuda *c = (Cuda *)be->impl;
    k_add_scaled<<<grid_for((size_t)T * C), 256, 0, c->stream>>>(x, y, (const float *)g->data,
                                                                   (size_t)T * C, C);
    LAUNCHED(c, "add_scaled");
}

void cu_rmsnorm(Backend *be, float *y, const float *x, const Weight *w, int T, float eps) {
    Cuda *c = (Cuda *)be->impl;
    k_rmsnorm<<<T, 256, 0, c->stream>>>(y, x, (const float *)w->data, w->cols, eps);
    LAUNCHED(c, "rmsnorm");
}

void cu_swiglu(Backend *be, float *a, const float *g, const float *u, size_t n) {
    Cuda *c = (Cuda *)be->impl;
    k_swiglu<<<grid_for(n), 256, 0, c->stream>>>(a, g, u, n);
    LAUNCHED(c, "swiglu");
}

void cu_add(Backend *be, float *x, const float *y, size_t n) {
    Cuda *c = (Cuda *)be->impl;
    k_add<<<grid_for(n), 256, 0, c->stream>>>(x, y, n);
    LAUNCHED(c, "add");
}

void cu_scale(Backend *be, float *x, float s, size_t n) {
    Cuda *c = (Cuda *)be->impl;
    k_scale<<<grid_for(n), 256, 0, c->stream>>>(x, s, n);
    LAUNCHED(c, "scale");
}

void cu_layernorm(Backend *be, float *y, const float *x, const Weight *w, const Weight *b, int T,
                  float eps) {
    Cuda *c = (Cuda *)be->impl;
    k_layernorm<<<T, 256, 0, c->stream>>>(y, x, (const float *)w->data, (const float *)b->data,
                                          w->cols, eps);
    LAUNCHED(c, "layernorm");
}

void cu_relu(Backend *be, float *x, size_t n) {
    Cuda *c = (Cuda *)be->impl;
    k_relu<<<grid_for(n), 256, 0, c->stream>>>(x, n);
    LAUNCHED(c, "relu");
}

void cu_gelu(Backend *be, float *x, size_t n) {
    Cuda *c = (Cuda *)be->impl;
    k_gelu<<<grid_for(n), 256, 0, c->stream>>>(x, n);
    LAUNCHED(c, "gelu");
}

void cu_im2col3(Backend *be, float *col, const float *x, int L, int C, int stride) {
    Cuda *c = (Cuda *)be->impl;
    int Lo = (L - 1) / stride + 1;
    k_im2col3<<<grid_for((size_t)Lo * C * 3), 256, 0, c->stream>>>(col, x, L, C, stride, Lo);
    LAUNCHED(c, "im2col3");
}
