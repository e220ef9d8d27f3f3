/* qkernels.h - the CPU backend's inner loops for quantized matrices (QMat,
 * engine/quant.h), AVX-512 / AVX2 / generic as kernels.h picks (k_isa).
 *
 * Exact: the integers are widened and scaled in registers, activations and
 * accumulation stay float32. Within a group the kernels sum q * x and apply
 * the scale and zero once per group (s * (sum q x - z * sum x)), which is
 * W x up to float32 rounding. x is in the layout's input order: a caller
 * whose matrix has a permutation (act-order) gathers x first. */
#ifndef UNUM_QKERNELS_H
#define UNUM_QKERNELS_H

#include "engine/quant.h"

/* y[n - r0] = sum over k of W[n, k] x[k], for outputs r0 .. r1 of m; work
 * is scratch of kq_work_bytes(m) bytes, 4-byte aligned. With AVX-512 VNNI x
 * is split into three int8 pieces per group, which leaves at most 6.1e-8 of
 * the group's max|x| unrepresented (float32 rounding itself is 6e-8), and
 * the products are summed exactly in int32. */
void kq_matvec(const QMat *m, int r0, int r1, const float *x, float *y, void *work);
size_t kq_work_bytes(const QMat *m);
/* Whether the AVX-512 path uses VNNI: 1 on, 0 off, -1 as the CPU allows
 * (the default). -1 when asked for it on a CPU without it. For tests. */
int kq_use_vnni(int on);
/* dst[k * ld + (n - r0)] = W[n, k] as float32 (exactly: s * (q - z) is an
 * f32 value) for outputs r0 .. r1 and every input k: a [cols x (r1 - r0)]
 * slab, input-major, for sgemm. */
void kq_dequant(const QMat *m, int r0, int r1, float *dst, int ld);

#endif
