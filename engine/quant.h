/* quant.h - weight-only quantized checkpoints: GPTQ and AWQ, read as published.
 *
 * config.json's "quantization_config" says which. Both store a linear layer
 * W [N x K] (N outputs, K inputs) as unsigned b-bit integers q, one fp16
 * scale s and one integer zero point z per group of G consecutive inputs
 * and per output, and W[n, k] = s[g, n] * (q[n, k] - z[g, n]), g = k's group.
 *
 *   GPTQ (AutoGPTQ / GPTQModel): qweight int32 [K / p, N], p = 32 / b values
 *     per word packed along K, lowest bits first (word (i, n) holds inputs
 *     p*i .. p*i+p-1 of output n); qzeros int32 [ceil(K / G), N / p] packed
 *     along N the same way; scales fp16 [ceil(K / G), N]; g_idx int32 [K],
 *     the group of each input (k / G, or a permutation of it with act-order,
 *     desc_act). checkpoint_format "gptq" (v1) stores each zero minus one,
 *     "gptq_v2" stores it as is. b is 4 or 8; G is -1 (one group) or more.
 *   AWQ (AutoAWQ, version "gemm"): qweight int32 [K, N / 8] packed along N,
 *     nibble i of word j holding output 8j + (0,2,4,6,1,3,5,7)[i]; qzeros
 *     int32 [K / G, N / 8] the same way; scales fp16 [K / G, N]; zeros as is.
 *
 * quant_load checks every tensor's dtype and shape against config.json and
 * the quantization parameters before it reads a byte, then builds a QMat: one
 * layout for every format, which the backends' kernels read. A GPTQ matrix
 * without act-order is used in place from the mmap; AWQ and act-order are
 * repacked once at load (act-order with its inputs sorted by group, and the
 * permutation kept, so the kernels gather the activations instead). */
#ifndef UNUM_QUANT_H
#define UNUM_QUANT_H

#include "engine/safetensors.h"

#include <stddef.h>
#include <stdint.h>

typedef enum { QUANT_NONE, QUANT_GPTQ, QUANT_AWQ } QuantMethod;

typedef struct {
    QuantMethod method;
    int bits;        /* 4 or 8 */
    int group_size;  /* inputs per group; -1: one group over all inputs */
    int sym;         /* symmetric (informative: the zeros are read either way) */
    int desc_act;    /* act-order: g_idx permutes the groups */
    int zero_offset; /* added to each stored zero: 1 for GPTQ v1, else 0 */
} QuantConfig;

/* A quantized matrix in the kernels' layout. With pack = 32 / bits:
 *   qw      [K / pack x N] words; word (i, n) holds inputs pack*i ..
 *           pack*i+pack-1 (in the permuted order when perm) of output n,
 *           input pack*i+j in bits j*bits .. j*bits+bits-1;
 *   scales  fp16 [n_groups x N]; group g covers inputs g*group .. (g+1)*group-1
 *           (the last one may be shorter), in the permuted order;
 *   zeros   [n_groups x N], the zero points (0 .. 2^bits, offsets applied);
 *   perm    [K] or NULL: input k of the layout is input perm[k] of x.
 * W[n, perm[k]] = f16(scales[g, n]) * (q(k, n) - zeros[g, n]), g = k / group. */
typedef struct QMat {
    int bits, rows, cols; /* rows N (outputs), cols K (inputs) */
    int group, n_groups;
    const uint32_t *qw; /* may point into the mmap: unaligned, read with memcpy/loadu */
    const uint16_t *scales;
    const uint8_t *zeros;
    const int32_t *perm;
    void *own_qw, *own_scales; /* what this QMat allocated (free'd by quant_free) */
    uint8_t *own_zeros;
    int32_t *own_perm;
    const char *format; /* "gptq" or "awq", for messages */
} QMat;

struct cJSON;
/* Reads "quantization_config" of a config.json object: absent, method
 * QUANT_NONE. Any method, bits, group size, version or checkpoint format
 * unum cannot read is an error naming path and the value. */
int quant_config_parse(QuantConfig *q, const struct cJSON *root, const char *path);

/* "gptq-int4 g128", "gptq-int8 g-1 act-order", "awq-int4 g128", or "" when
 * not quantized; written to buf (size n), which is returned. */
const char *quant_config_name(const QuantConfig *q, char *buf, size_t n);

/* Whether prefix (e.g. "model.layers.0.mlp.up_proj") is stored quantized:
 * prefix.qweight is present. */
int quant_present(const STModel *st, const char *prefix);

/* Reads the quantized linear prefix as [rows x cols] (out x in): finds and
 * checks prefix.qweight, .qzeros, .scales (and GPTQ's .g_idx) and builds *m.
 * took (per tensor of st, may be NULL) gets 1 for each tensor used. 0, or
 * -1 with the error naming the file, the tensor and what was found. */
int quant_load(QMat *m, const STModel *st, const QuantConfig *q, const char *prefix, int rows,
               int cols, unsigned char *took);
void quant_free(QMat *m);

/* Bytes of m a matrix-vector product reads (packed weights, scales, zeros). */
size_t quant_bytes(const QMat *m);

/* Row n of W in float32: out[k] for k < cols, in the input order of x. For
 * tests and slow paths. */
void quant_dequant_row(const QMat *m, int n, float *out);

#endif
