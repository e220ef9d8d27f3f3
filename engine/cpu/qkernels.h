/* qkernels.h - the CPU backend's inner loops for quantized matrices (QMat,
 * engine/quant.h), AVX-512 / AVX2 / generic as kernels.h picks (k_isa).
 *
 * Exact: the integers are widened and scaled in registers, activations and
 * accumulation stay float32. Within a group the kernels sum q * x and apply
 * the scale and zero once per group (s * (sum q x - z * sum x)), which is
 * W x up to float32 rounding. */
#ifndef UNUM_QKERNELS_H
#define UNUM_QKERNELS_H

#include "engine/quant.h"

/* Decode, in two steps: kq_prepare once per input vector x [cols] (in the
 * model's order; act-order's permutation is applied here) into prep, of
 * kq_prep_bytes(m) bytes, 4-byte aligned; then kq_matvec for any range of
 * outputs, from any thread: y[n - r0] = sum over k of W[n, k] x[k] for
 * outputs r0 .. r1. With AVX-512 VNNI, prep holds x split per group into
 * three int8 pieces, which leave at most 6.1e-8 of the group's max|x|
 * unrepresented (float32 rounding itself is 6e-8), and the products are
 * summed exactly in int32. The instruction set must not change between the
 * two calls. */
size_t kq_prep_bytes(const QMat *m);
void kq_prepare(const QMat *m, const float *x, void *prep);
void kq_matvec(const QMat *m, int r0, int r1, const void *prep, float *y);
/* Whether the AVX-512 path uses VNNI: 1 on, 0 off, -1 as the CPU allows
 * (the default). -1 when asked for it on a CPU without it. For tests. */
int kq_use_vnni(int on);
/* dst[(k - k0) * ld + (n - r0)] = W[n, k] as float32 (exactly: s * (q - z)
 * is an f32 value) for outputs r0 .. r1 and inputs k0 .. k1 (multiples of
 * 32 / bits): a [(k1 - k0) x (r1 - r0)] slab, input-major, for sgemm. k runs
 * in the layout's order: with act-order (m->perm) the caller multiplies it
 * by x gathered, x[perm[k]]. */
void kq_dequant(const QMat *m, int r0, int r1, int k0, int k1, float *dst, int ld);

#endif
