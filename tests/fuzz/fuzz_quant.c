/* fuzz_quant.c - libFuzzer target for GPTQ and AWQ metadata and tensors.
 *
 * The input is a config.json text, a NUL byte, then a .safetensors file
 * image holding one quantized linear layer named "l" (l.qweight, l.qzeros,
 * l.scales and GPTQ's l.g_idx). The config's quantization_config goes
 * through quant_config_parse; its hidden_size and intermediate_size (each
 * clamped to 1..1024) are the layer's outputs and inputs. When the header
 * parses, quant_load must either refuse the layer or build a QMat that keeps
 * its promises (quant.h): the shape asked for, groups covering the inputs,
 * zero points within 0..2^bits, act-order's permutation a permutation of the
 * inputs. Then every row is dequantized and the CPU kernels multiply it by a
 * vector, so that ASan sees any read past a tensor. Seeds:
 * tests/fuzz/seeds/fuzz_quant/. */
#include "engine/cpu/qkernels.h"
#include "engine/quant.h"
#include "engine/safetensors.h"
#include "engine/base/util.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what) {
    fprintf(stderr, "fuzz_quant: %s (%s)\n", what, unum_error());
    abort();
}

static int dim(const cJSON *root, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsNumber(v)) return dflt;
    double d = v->valuedouble;
    return d < 1 ? 1 : d > 1024 ? 1024 : (int)d;
}

/* The promises quant_load makes about a matrix it accepts. */
static void check_qmat(const QMat *m, const QuantConfig *q, int rows, int cols) {
    if (m->rows != rows || m->cols != cols) fail("a shape other than the one asked for");
    if (m->bits != q->bits) fail("bits differ from the config");
    if (m->group < 1 || m->n_groups < 1 || (int64_t)m->group * m->n_groups < cols ||
        (int64_t)m->group * (m->n_groups - 1) >= cols)
        fail("groups do not cover the inputs exactly");
    int zmax = 1 << m->bits;
    for (int64_t i = 0; i < (int64_t)m->n_groups * rows; i++)
        if (m->zeros[i] > zmax) fail("a zero point out of range");
    if (m->perm) {
        unsigned char *seen = calloc((size_t)cols, 1);
        if (!seen) abort();
        for (int k = 0; k < cols; k++) {
            if (m->perm[k] < 0 || m->perm[k] >= cols || seen[m->perm[k]]) fail("perm is not a permutation");
            seen[m->perm[k]] = 1;
        }
        free(seen);
    }
    if (quant_bytes(m) == 0) fail("a matrix that reads no bytes");
}

static void exercise(const QMat *m) {
    float *row = malloc(sizeof(float) * (size_t)m->cols);
    float *x = malloc(sizeof(float) * (size_t)m->cols);
    float *y = malloc(sizeof(float) * (size_t)m->rows);
    void *prep = malloc(kq_prep_bytes(m) + 64);
    if (!row || !x || !y || !prep) abort();
    for (int k = 0; k < m->cols; k++) x[k] = (float)((k * 7) % 13) / 13.0f - 0.5f;
    for (int n = 0; n < m->rows; n++) quant_dequant_row(m, n, row);
    kq_prepare(m, x, prep);
    kq_matvec(m, 0, m->rows, prep, y);
    free(row);
    free(x);
    free(y);
    free(prep);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    if (!nul) return 0;
    cJSON *root = cJSON_ParseWithLength((const char *)data, (size_t)(nul - data));
    if (!root) return 0;
    QuantConfig q;
    int rows = dim(root, "hidden_size", 64), cols = dim(root, "intermediate_size", 64);
    if (quant_config_parse(&q, root, "fuzz/config.json") || q.method == QUANT_NONE) {
        cJSON_Delete(root);
        return 0;
    }
    cJSON_Delete(root);

    /* the safetensors image after the NUL, as st_open_file bounds it */
    const uint8_t *img = nul + 1;
    size_t n = size - (size_t)(img - data);
    if (n < 8) return 0;
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)img[i] << (8 * i);
    if (hlen > n - 8) return 0;
    char *json = malloc(hlen ? hlen : 1);
    size_t dlen = n - 8 - (size_t)hlen;
    unsigned char *body = malloc(dlen ? dlen : 1);
    if (!json || !body) abort();
    memcpy(json, img + 8, hlen);
    memcpy(body, img + 8 + hlen, dlen);

    STModel st;
    memset(&st, 0, sizeof st);
    if (st_parse_header(&st, json, hlen, body, dlen, "fuzz/model.safetensors") == 0) {
        QMat m;
        memset(&m, 0, sizeof m);
        unum_error_set("%s", "");
        if (quant_load(&m, &st, &q, "l", rows, cols, NULL) == 0) {
            check_qmat(&m, &q, rows, cols);
            exercise(&m);
            quant_free(&m);
        } else if (!unum_error()[0]) {
            fail("a refusal without a message");
        }
    }
    st_close(&st);
    free(json);
    free(body);
    return 0;
}
