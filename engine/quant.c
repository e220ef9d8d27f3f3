/* quant.c - see quant.h. */
#include "engine/quant.h"
#include "engine/config.h"

#include "engine/base/util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

/* ------------------------------------------------------------ config */

static int get_bool(const cJSON *o, const char *key, int def, int *out, const char *path) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j || cJSON_IsNull(j)) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsBool(j))
        return unum_error_set("%s: quantization_config.%s must be true or false", path, key);
    *out = cJSON_IsTrue(j);
    return 0;
}

static const char *get_str(const cJSON *o, const char *key) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(j) ? j->valuestring : NULL;
}

int quant_config_parse(QuantConfig *q, const cJSON *root, const char *path) {
    memset(q, 0, sizeof *q);
    const cJSON *qc = cJSON_GetObjectItemCaseSensitive(root, "quantization_config");
    if (!qc || cJSON_IsNull(qc)) return 0;
    if (!cJSON_IsObject(qc)) return unum_error_set("%s: quantization_config is not an object", path);
    const char *method = get_str(qc, "quant_method");
    if (!method) return unum_error_set("%s: quantization_config has no quant_method", path);
    if (!strcmp(method, "gptq")) q->method = QUANT_GPTQ;
    else if (!strcmp(method, "awq")) q->method = QUANT_AWQ;
    else
        return unum_error_set("%s: quantization_config.quant_method '%s' is not supported (unum "
                              "reads gptq and awq)",
                              path, method);
    char where[4096];
    snprintf(where, sizeof where, "%s: quantization_config", path);
    if (config_get_int(qc, "bits", 1, 32, 0, &q->bits, where) ||
        config_get_int(qc, "group_size", -1, 1 << 24, 0, &q->group_size, where))
        return -1;
    if (q->method == QUANT_GPTQ ? q->bits != 4 && q->bits != 8 : q->bits != 4)
        return unum_error_set("%s: quantization_config.bits %d is not supported for %s (unum "
                              "reads %s)",
                              path, q->bits, method, q->method == QUANT_GPTQ ? "4 and 8" : "4");
    int pack = 32 / q->bits;
    if (q->group_size != -1 &&
        (q->group_size < pack || q->group_size > (1 << 24) || q->group_size % pack))
        return unum_error_set("%s: quantization_config.group_size %d is not supported (-1 or a "
                              "multiple of %d)",
                              path, q->group_size, pack);
    if (q->method == QUANT_GPTQ) {
        int marlin = 0;
        if (get_bool(qc, "sym", 1, &q->sym, path) ||
            get_bool(qc, "desc_act", 0, &q->desc_act, path) ||
            get_bool(qc, "is_marlin_format", 0, &marlin, path))
            return -1;
        const char *fmt = get_str(qc, "checkpoint_format");
        if (!fmt) fmt = get_str(qc, "format");
        if (marlin) fmt = "marlin";
        if (!fmt || !strcmp(fmt, "gptq")) q->zero_offset = 1;
        else if (!strcmp(fmt, "gptq_v2")) q->zero_offset = 0;
        else
            return unum_error_set("%s: quantization_config checkpoint_format '%s' is not supported "
                                  "(unum reads gptq and gptq_v2; a repacked marlin, exllama or "
                                  "other kernel layout needs the original checkpoint)",
                                  path, fmt);
    } else {
        int zp;
        const char *version = get_str(qc, "version");
        if (version && strcasecmp(version, "gemm"))
            return unum_error_set("%s: quantization_config.version '%s' is not supported (unum "
                                  "reads AWQ's gemm layout)",
                                  path, version);
        if (get_bool(qc, "zero_point", 1, &zp, path)) return -1;
        if (!zp)
            return unum_error_set("%s: quantization_config.zero_point false is not supported "
                                  "(unum reads AWQ with zero points)",
                                  path);
        q->sym = 0;
    }
    return 0;
}

const char *quant_config_name(const QuantConfig *q, char *buf, size_t n) {
    if (q->method == QUANT_NONE) snprintf(buf, n, "%s", "");
    else
        snprintf(buf, n, "%s-int%d g%d%s", q->method == QUANT_GPTQ ? "gptq" : "awq", q->bits,
                 q->group_size, q->desc_act ? " act-order" : "");
    return buf;
}

/* ------------------------------------------------------------ tensors */

static int32_t rd32(const void *base, size_t i) {
    int32_t v;
    memcpy(&v, (const char *)base + 4 * i, 4);
    return v;
}

int quant_present(const STModel *st, const char *prefix) {
    char name[256];
    snprintf(name, sizeof name, "%s.qweight", prefix);
    return st_find(st, name) != NULL;
}

/* prefix.suffix with dtype dt and shape [d0 x d1] (a vector when d1 < 0). */
static const STensor *want(const STModel *st, const char *prefix, const char *suffix, DType dt,
                           int64_t d0, int64_t d1, const char *why, unsigned char *took) {
    char name[256];
    snprintf(name, sizeof name, "%s.%s", prefix, suffix);
    const STensor *t = st_find(st, name);
    if (!t) {
        unum_error_set("%s: tensor '%s' is missing (%s)",
                       st->n_files ? st->files[0].path : "checkpoint", name, why);
        return NULL;
    }
    int ndim = d1 < 0 ? 1 : 2;
    char got[96] = "", exp[64];
    for (int i = 0; i < t->ndim; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "",
                 (long long)t->shape[i]);
    if (ndim == 1) snprintf(exp, sizeof exp, "%lld", (long long)d0);
    else snprintf(exp, sizeof exp, "%lld, %lld", (long long)d0, (long long)d1);
    if (t->dtype != dt || t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1)) {
        unum_error_set("%s: tensor '%s' is %s [%s], expected %s [%s] (%s)", t->file, name,
                       dtype_name(t->dtype), got, dtype_name(dt), exp, why);
        return NULL;
    }
    if (took) took[t - st->tensors] = 1;
    return t;
}

/* Gives the pages of a tensor that was repacked back to the page cache, so
 * the process does not hold both copies. */
static void release_pages(const STensor *t) {
    uintptr_t ps = (uintptr_t)sysconf(_SC_PAGESIZE), b = (uintptr_t)t->data;
    uintptr_t e = b + t->nbytes;
    b = (b + ps - 1) & ~(ps - 1);
    e &= ~(ps - 1);
    if (e > b) madvise((void *)b, e - b, MADV_DONTNEED);
}

/* The zero point of output n in group g from a qzeros tensor packed along N
 * (nibble or byte order given by slot: the slot of output offset m). */
static int unpack_zeros(QMat *m, const STensor *qz, const int *slot, int offset) {
    int b = m->bits, p = 32 / b, N = m->rows;
    uint32_t mask = (1u << b) - 1;
    m->own_zeros = xmalloc((size_t)m->n_groups * N);
    m->zeros = m->own_zeros;
    for (int g = 0; g < m->n_groups; g++)
        for (int n = 0; n < N; n++) {
            uint32_t w = (uint32_t)rd32(qz->data, (size_t)g * (N / p) + n / p);
            uint32_t z = ((w >> (b * slot[n % p])) & mask) + (uint32_t)offset;
            if (z > 255) /* only an 8-bit v1 zero stored as 255 (z = 256) */
                return unum_error_set("%s: tensor '%s': zero point %u of output %d in group %d "
                                      "is outside [0, 255]",
                                      qz->file, qz->name, z, n, g);
            m->own_zeros[(size_t)g * N + n] = (uint8_t)z;
        }
    return 0;
}

static int load_gptq(QMat *m, const STModel *st, const QuantConfig *q, const char *prefix,
                     unsigned char *took, const char *why) {
    int b = m->bits, p = 32 / b, N = m->rows, K = m->cols, G = m->group, ng = m->n_groups;
    const STensor *qw = want(st, prefix, "qweight", DT_I32, K / p, N, why, took);
    const STensor *qz = qw ? want(st, prefix, "qzeros", DT_I32, ng, N / p, why, took) : NULL;
    const STensor *sc = qz ? want(st, prefix, "scales", DT_F16, ng, N, why, took) : NULL;
    if (!sc) return -1;
    char name[256];
    snprintf(name, sizeof name, "%s.g_idx", prefix);
    const STensor *gi = st_find(st, name);
    if (gi && !want(st, prefix, "g_idx", DT_I32, K, -1, why, took)) return -1;
    if (!gi && q->desc_act)
        return unum_error_set("%s: tensor '%s' is missing (desc_act needs it)",
                              st->n_files ? st->files[0].path : "checkpoint", name);
    /* g_idx: each input's group; every group must hold exactly the inputs
     * k / G would give it, in whatever order */
    int trivial = 1;
    for (int k = 0; gi && k < K; k++) {
        int32_t g = rd32(gi->data, (size_t)k);
        if (g < 0 || g >= ng)
            return unum_error_set("%s: tensor '%s': g_idx[%d] = %d is outside [0, %d)", gi->file,
                                  name, k, g, ng);
        trivial &= g == k / G;
    }
    static const int natural[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    m->qw = qw->data;
    m->scales = sc->data;
    if (unpack_zeros(m, qz, natural, q->zero_offset)) return -1;
    if (trivial) return 0;
    /* act-order: sort the inputs by group (stably) and repack */
    int *count = xcalloc((size_t)ng + 1, sizeof *count);
    for (int k = 0; k < K; k++) count[rd32(gi->data, (size_t)k) + 1]++;
    for (int g = 0; g < ng; g++) {
        int size = K - g * G < G ? K - g * G : G;
        if (count[g + 1] != size) {
            unum_error_set("%s: tensor '%s': g_idx puts %d inputs in group %d, expected %d",
                           gi->file, name, count[g + 1], g, size);
            free(count);
            return -1;
        }
        count[g + 1] += count[g];
    }
    m->own_perm = xmalloc(sizeof(int32_t) * (size_t)K);
    for (int k = 0; k < K; k++) m->own_perm[count[rd32(gi->data, (size_t)k)]++] = k;
    free(count);
    uint32_t mask = (1u << b) - 1, *out = xcalloc((size_t)(K / p) * N, 4);
    for (int k = 0; k < K; k++) {
        int src = m->own_perm[k];
        for (int n = 0; n < N; n++) {
            uint32_t v = ((uint32_t)rd32(qw->data, (size_t)(src / p) * N + n) >> (b * (src % p))) &
                         mask;
            out[(size_t)(k / p) * N + n] |= v << (b * (k % p));
        }
    }
    m->own_qw = out;
    m->qw = out;
    m->perm = m->own_perm;
    release_pages(qw);
    return 0;
}

static int load_awq(QMat *m, const STModel *st, const QuantConfig *q, const char *prefix,
                    unsigned char *took, const char *why) {
    int N = m->rows, K = m->cols, ng = m->n_groups;
    if (q->group_size > 0 && K % q->group_size) {
        char name[256];
        snprintf(name, sizeof name, "%s.qweight", prefix);
        return unum_error_set("%s: tensor '%s': %d inputs are not a multiple of group_size %d "
                              "(AWQ needs whole groups)",
                              st->n_files ? st->files[0].path : "checkpoint", name, K,
                              q->group_size);
    }
    const STensor *qw = want(st, prefix, "qweight", DT_I32, K, N / 8, why, took);
    const STensor *qz = qw ? want(st, prefix, "qzeros", DT_I32, ng, N / 8, why, took) : NULL;
    const STensor *sc = qz ? want(st, prefix, "scales", DT_F16, ng, N, why, took) : NULL;
    if (!sc) return -1;
    /* AutoAWQ packs output 8j + order[i] into nibble i, order = 0,2,4,6,1,3,5,7;
     * slot[m] is the nibble of output offset m */
    static const int slot[8] = {0, 4, 1, 5, 2, 6, 3, 7};
    m->scales = sc->data;
    if (unpack_zeros(m, qz, slot, 0)) return -1;
    uint32_t *out = xcalloc((size_t)(K / 8) * N, 4);
    for (int k = 0; k < K; k++)
        for (int n = 0; n < N; n++) {
            uint32_t w = (uint32_t)rd32(qw->data, (size_t)k * (N / 8) + n / 8);
            out[(size_t)(k / 8) * N + n] |= ((w >> (4 * slot[n % 8])) & 15u) << (4 * (k % 8));
        }
    m->own_qw = out;
    m->qw = out;
    release_pages(qw);
    return 0;
}

int quant_load(QMat *m, const STModel *st, const QuantConfig *q, const char *prefix, int rows,
               int cols, unsigned char *took) {
    memset(m, 0, sizeof *m);
    if (q->method == QUANT_NONE) return unum_error_set("%s: not a quantized checkpoint", prefix);
    int b = q->bits, p = 32 / b;
    m->bits = b;
    m->rows = rows;
    m->cols = cols;
    m->group = q->group_size < 0 ? cols : q->group_size;
    m->n_groups = (cols + m->group - 1) / m->group;
    m->format = q->method == QUANT_GPTQ ? "gptq" : "awq";
    char why[96], qn[64];
    snprintf(why, sizeof why, "config.json: %s, layer %d x %d",
             quant_config_name(q, qn, sizeof qn), rows, cols);
    char name[256];
    snprintf(name, sizeof name, "%s.qweight", prefix);
    /* the layout packs p inputs per word, and GPTQ's and AWQ's zeros p outputs */
    if (cols % p || rows % p)
        return unum_error_set("%s: tensor '%s': a %d x %d layer cannot be stored in %d-bit %s "
                              "(both sides must be multiples of %d)",
                              st->n_files ? st->files[0].path : "checkpoint", name, rows, cols, b,
                              m->format, p);
    int rc = q->method == QUANT_GPTQ ? load_gptq(m, st, q, prefix, took, why)
                                     : load_awq(m, st, q, prefix, took, why);
    if (rc) quant_free(m);
    return rc;
}

void quant_free(QMat *m) {
    if (!m) return;
    free(m->own_qw);
    free(m->own_scales);
    free(m->own_zeros);
    free(m->own_perm);
    memset(m, 0, sizeof *m);
}

size_t quant_bytes(const QMat *m) {
    size_t N = (size_t)m->rows, K = (size_t)m->cols, ng = (size_t)m->n_groups;
    return K / (32 / m->bits) * N * 4 + ng * N * 3 + (m->perm ? K * 4 : 0);
}

void quant_dequant_row(const QMat *m, int n, float *out) {
    int b = m->bits, p = 32 / b, N = m->rows;
    uint32_t mask = (1u << b) - 1;
    for (int k = 0; k < m->cols; k++) {
        int g = k / m->group;
        uint32_t w = (uint32_t)rd32(m->qw, (size_t)(k / p) * N + n);
        uint16_t s;
        memcpy(&s, (const char *)m->scales + 2 * ((size_t)g * N + n), 2);
        float v = unum_f16_to_f32(s) *
                  (float)((int)((w >> (b * (k % p))) & mask) - (int)m->zeros[(size_t)g * N + n]);
        out[m->perm ? m->perm[k] : k] = v;
    }
}
