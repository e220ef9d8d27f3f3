/* vibevoice.c - see vibevoice.h. */
#include "engine/vibevoice.h"

#include "engine/base/util.h"
#include "engine/config.h"
#include "engine/modeldir.h"
#include "engine/sampler.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIXER_K 7           /* Block1D's depthwise kernel (the published default) */
/* Segment lengths: the published streaming code's 60 s on a GPU; 10 s on
 * the CPU, as fast there (43.9 and 44.2 s per audio minute) with a third of
 * the memory (peak RSS 2.0 GB against 4.7 GB with the published encoders) */
#define SEGMENT_SECONDS 60
#define SEGMENT_SECONDS_CPU 10
#define MAX_FRAMES (1 << 15) /* ids -(1 + tag * MAX_FRAMES + frame) stay in int32 */

/* ------------------------------------------------------------ config */

typedef struct {
    int vae, n_filters, n_stages, kernel, last_kernel, layer_scale;
    int ratios[VV_MAX_STAGES]; /* per downsampling stage, in the order applied */
    int depths[VV_MAX_STAGES];
    float eps;
} EncConfig;

static int want_string(const cJSON *o, const char *key, const char *want, const char *path,
                       const char *what) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j) return 0; /* the published default */
    if (!cJSON_IsString(j) || strcmp(j->valuestring, want))
        return unum_error_set("%s: %s.%s must be \"%s\" (the only form unum runs)", path, what,
                              key, want);
    return 0;
}

static int want_bool(const cJSON *o, const char *key, int want, const char *path,
                     const char *what) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j) return 0;
    if (!cJSON_IsBool(j) || cJSON_IsTrue(j) != want)
        return unum_error_set("%s: %s.%s must be %s (the only form unum runs)", path, what, key,
                              want ? "true" : "false");
    return 0;
}

static int enc_config(const cJSON *root, const char *what, EncConfig *c, const char *path) {
    memset(c, 0, sizeof *c);
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, what);
    if (!cJSON_IsObject(o)) return unum_error_set("%s: missing object %s", path, what);
    int channels = 1;
    c->n_filters = 32, c->kernel = c->last_kernel = 7, c->vae = 0;
    double eps = 1e-5, lsiv = 1e-6;
    if (want_string(o, "mixer_layer", "depthwise_conv", path, what) ||
        want_string(o, "conv_norm", "none", path, what) ||
        want_string(o, "pad_mode", "constant", path, what) ||
        want_string(o, "layernorm", "RMSNorm", path, what) ||
        want_bool(o, "causal", 1, path, what) || want_bool(o, "conv_bias", 1, path, what) ||
        want_bool(o, "disable_last_norm", 1, path, what) ||
        want_bool(o, "layernorm_elementwise_affine", 1, path, what) ||
        config_get_int(o, "channels", 1, 1, 1, &channels, path) ||
        config_get_int(o, "vae_dim", 1, 1 << 14, 0, &c->vae, path) ||
        config_get_int(o, "encoder_n_filters", 1, 1 << 12, 1, &c->n_filters, path) ||
        config_get_int(o, "kernel_size", 1, 64, 1, &c->kernel, path) ||
        config_get_int(o, "last_kernel_size", 1, 64, 1, &c->last_kernel, path))
        return unum_error_wrap("%s", what);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "layernorm_eps");
    if (e && (!cJSON_IsNumber(e) || !(e->valuedouble >= 0 && e->valuedouble <= 1)))
        return unum_error_set("%s: %s.layernorm_eps must be a number in [0, 1]", path, what);
    if (e) eps = e->valuedouble;
    c->eps = (float)eps;
    e = cJSON_GetObjectItemCaseSensitive(o, "layer_scale_init_value");
    if (e && !cJSON_IsNumber(e))
        return unum_error_set("%s: %s.layer_scale_init_value must be a number", path, what);
    if (e) lsiv = e->valuedouble;
    c->layer_scale = lsiv > 0;
    /* encoder_ratios as written; the encoder applies them reversed */
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "encoder_ratios");
    int nr = cJSON_GetArraySize(r);
    if (!cJSON_IsArray(r) || nr < 1 || nr > VV_MAX_STAGES - 1)
        return unum_error_set("%s: %s.encoder_ratios must be an array of 1 to %d integers", path,
                              what, VV_MAX_STAGES - 1);
    long hop = 1;
    for (int i = 0; i < nr; i++) {
        const cJSON *x = cJSON_GetArrayItem(r, i);
        double d = cJSON_IsNumber(x) ? x->valuedouble : -1;
        if (d != floor(d) || d < 1 || d > 64)
            return unum_error_set("%s: %s.encoder_ratios[%d] must be an integer in [1, 64]", path,
                                  what, i);
        c->ratios[nr - 1 - i] = (int)d;
        hop *= (long)d;
    }
    if (hop > 1 << 20)
        return unum_error_set("%s: %s.encoder_ratios multiply to %ld, more than %d", path, what,
                              hop, 1 << 20);
    c->n_stages = nr + 1;
    if ((long)c->n_filters << nr > 1 << 16)
        return unum_error_set("%s: %s: encoder_n_filters %d doubled %d times is too wide", path,
                              what, c->n_filters, nr);
    /* encoder_depths "3-3-3-3-3-3-8" (or an array): one per stage */
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "encoder_depths");
    int nd = 0;
    if (cJSON_IsString(d)) {
        const char *s = d->valuestring;
        while (*s) {
            char *end;
            long v = strtol(s, &end, 10);
            if (end == s || v < 0 || v > 64 || nd == VV_MAX_STAGES || (*end && *end != '-'))
                return unum_error_set("%s: %s.encoder_depths must be numbers 0..64 joined by "
                                      "'-', one per stage",
                                      path, what);
            c->depths[nd++] = (int)v;
            s = *end ? end + 1 : end;
        }
    } else if (cJSON_IsArray(d)) {
        for (int i = 0; i < cJSON_GetArraySize(d); i++) {
            const cJSON *x = cJSON_GetArrayItem(d, i);
            double v = cJSON_IsNumber(x) ? x->valuedouble : -1;
            if (v != floor(v) || v < 0 || v > 64 || nd == VV_MAX_STAGES)
                return unum_error_set("%s: %s.encoder_depths[%d] must be an integer in [0, 64]",
                                      path, what, i);
            c->depths[nd++] = (int)v;
        }
    } else {
        return unum_error_set("%s: missing %s.encoder_depths", path, what);
    }
    if (nd != c->n_stages)
        return unum_error_set("%s: %s.encoder_depths has %d stages but encoder_ratios makes %d",
                              path, what, nd, c->n_stages);
    return 0;
}

int vibevoice_is_model(const char *dir) {
    char *path = unum_path_join(dir, "config.json");
    char *txt = unum_read_file(path, 4u << 20, NULL);
    free(path);
    cJSON *root = txt ? cJSON_Parse(txt) : NULL;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    int yes = cJSON_IsString(mt) && !strcmp(mt->valuestring, "vibevoice");
    cJSON_Delete(root);
    free(txt);
    return yes;
}

/* ------------------------------------------------------------ encoder */

typedef struct {
    Weight w, b;
    int cin, cout, K, stride, ctx; /* ctx = K - stride rows carried between segments */
    float *cache;                  /* [ctx x cin] */
} Conv;

typedef struct {
    Weight norm, dw, dwb, gamma, ffn_norm, fc1, fc1b, fc2, fc2b, ffn_gamma;
    float *cache; /* [MIXER_K - 1 x C] of the mixer's input */
} Block;

struct VVEncoder {
    EncConfig c;
    Conv down[VV_MAX_STAGES]; /* [0] the stem */
    Block *blocks[VV_MAX_STAGES];
    int dims[VV_MAX_STAGES];
    Conv head;
    int hop;
};

/* The work buffers (backend memory), sized for one segment of either
 * encoder: they run one after the other, so one set serves both. */
struct VVWork {
    float *x, *in, *col, *y, *h;
    size_t seg_samples;
};

typedef struct {
    VibeVoice *v;
    char name[192];
    const char *pre;
    const char *path;
} Ld;

static int upload_t(Ld *ld, Weight *w, const char *suffix, int ndim, int64_t a, int64_t b,
                    int64_t c, int rows, int cols) {
    snprintf(ld->name, sizeof ld->name, "%s%s", ld->pre, suffix);
    int64_t shape[3] = {a, b, c};
    const STensor *t = st_get(&ld->v->st, ld->name, ndim, shape);
    if (!t) return -1;
    Backend *be = ld->v->e->be;
    return be->upload(be, t, rows, cols, w);
}

static int load_conv(Ld *ld, Conv *cv, const char *at, int cin, int cout, int K, int stride) {
    char s[160];
    cv->cin = cin, cv->cout = cout, cv->K = K, cv->stride = stride, cv->ctx = K - stride;
    if (cv->ctx < 0)
        return unum_error_set("%s: %s: kernel %d is shorter than its stride %d", ld->path, at, K,
                              stride);
    snprintf(s, sizeof s, "%s.conv.conv.weight", at);
    if (upload_t(ld, &cv->w, s, 3, cout, cin, K, cout, cin * K)) return -1;
    snprintf(s, sizeof s, "%s.conv.conv.bias", at);
    return upload_t(ld, &cv->b, s, 1, cout, 0, 0, 1, cout);
}

static int load_block(Ld *ld, Block *b, int i, int j, int C, int layer_scale) {
    char s[160];
#define V(field, suffix, n)                                                                        \
    (snprintf(s, sizeof s, "stages.%d.%d.%s", i, j, suffix),                                       \
     upload_t(ld, &b->field, s, 1, n, 0, 0, 1, n))
#define M(field, suffix, r, c)                                                                     \
    (snprintf(s, sizeof s, "stages.%d.%d.%s", i, j, suffix),                                       \
     upload_t(ld, &b->field, s, 2, r, c, 0, r, c))
    int F = 4 * C;
    if (V(norm, "norm.weight", C) || V(ffn_norm, "ffn_norm.weight", C) ||
        M(fc1, "ffn.linear1.weight", F, C) || V(fc1b, "ffn.linear1.bias", F) ||
        M(fc2, "ffn.linear2.weight", C, F) || V(fc2b, "ffn.linear2.bias", C) ||
        V(dwb, "mixer.conv.conv.conv.bias", C))
        return -1;
    snprintf(s, sizeof s, "stages.%d.%d.mixer.conv.conv.conv.weight", i, j);
    if (upload_t(ld, &b->dw, s, 3, C, 1, MIXER_K, 1, C * MIXER_K)) return -1;
    if (layer_scale && (V(gamma, "gamma", C) || V(ffn_gamma, "ffn_gamma", C))) return -1;
#undef V
#undef M
    return 0;
}

static void enc_free(VVEncoder *enc, Backend *be) {
    if (!enc) return;
    Conv *convs[VV_MAX_STAGES + 1];
    int nc = 0;
    for (int i = 0; i < enc->c.n_stages; i++) convs[nc++] = &enc->down[i];
    convs[nc++] = &enc->head;
    for (int i = 0; i < nc; i++) {
        if (convs[i]->w.data) be->release(be, &convs[i]->w);
        if (convs[i]->b.data) be->release(be, &convs[i]->b);
        if (convs[i]->cache) be->free(be, convs[i]->cache);
    }
    for (int i = 0; i < enc->c.n_stages; i++) {
        for (int j = 0; enc->blocks[i] && j < enc->c.depths[i]; j++) {
            Block *b = &enc->blocks[i][j];
            Weight *ws[] = {&b->norm, &b->dw,  &b->dwb,  &b->gamma, &b->ffn_norm,
                            &b->fc1,  &b->fc1b, &b->fc2, &b->fc2b,  &b->ffn_gamma};
            for (size_t k = 0; k < sizeof ws / sizeof *ws; k++)
                if (ws[k]->data) be->release(be, ws[k]);
            if (b->cache) be->free(be, b->cache);
        }
        free(enc->blocks[i]);
    }
    free(enc);
}

static void work_free(VVWork *w, Backend *be) {
    float **bufs[] = {&w->x, &w->in, &w->col, &w->y, &w->h};
    for (size_t k = 0; k < sizeof bufs / sizeof *bufs; k++)
        if (*bufs[k]) be->free(be, *bufs[k]), *bufs[k] = NULL;
    w->seg_samples = 0;
}

/* The floats each work buffer needs for segments of seg frames of enc:
 * need[] in the order x, in, col, y, h (raised, never lowered). */
static void work_need(const VVEncoder *enc, int seg, size_t need[5]) {
    size_t L = (size_t)seg * enc->hop, act = L, in = 0, col = 0, hid = 0;
    for (int i = 0; i < enc->c.n_stages; i++) {
        const Conv *cv = &enc->down[i];
        size_t Lin = L, pad = (size_t)cv->ctx + (size_t)cv->stride;
        in = fmax(in, (double)(Lin + pad) * cv->cin);
        L = (Lin + (size_t)cv->stride - 1) / (size_t)cv->stride;
        col = fmax(col, (double)L * cv->cin * cv->K);
        act = fmax(act, (double)(L + MIXER_K) * cv->cout);
        in = fmax(in, (double)(L + MIXER_K) * cv->cout);
        hid = fmax(hid, (double)L * 4 * cv->cout);
    }
    in = fmax(in, (double)(L + enc->head.ctx + 1) * enc->head.cin);
    col = fmax(col, (double)L * enc->head.cin * enc->head.K);
    act = fmax(act, (double)L * enc->head.cout);
    size_t n[5] = {act, in, col, act, hid};
    for (int k = 0; k < 5; k++)
        if (n[k] > need[k]) need[k] = n[k];
}

/* The work buffers for segments of seg frames of both encoders. */
static int work_alloc(VibeVoice *v, int seg) {
    Backend *be = v->e->be;
    VVWork *w = v->work;
    work_free(w, be);
    size_t need[5] = {0};
    work_need(v->acoustic, seg, need);
    work_need(v->semantic, seg, need);
    float **bufs[] = {&w->x, &w->in, &w->col, &w->y, &w->h};
    for (int k = 0; k < 5; k++)
        if (!(*bufs[k] = be->alloc(be, need[k]))) {
            work_free(w, be);
            return unum_error_wrap("encoder buffers for segments of %d frames", seg);
        }
    w->seg_samples = (size_t)seg * v->hop;
    return 0;
}

static VVEncoder *enc_load(VibeVoice *v, const EncConfig *c, const char *pre, const char *path) {
    VVEncoder *enc = xcalloc(1, sizeof *enc);
    enc->c = *c;
    Ld ld = {v, "", pre, path};
    Backend *be = v->e->be;
    int cin = 1, hop = 1, rc = 0;
    for (int i = 0; !rc && i < c->n_stages; i++) {
        char at[64];
        int C = c->n_filters << i;
        int K = i ? 2 * c->ratios[i - 1] : c->kernel, S = i ? c->ratios[i - 1] : 1;
        snprintf(at, sizeof at, "downsample_layers.%d.0", i);
        rc = load_conv(&ld, &enc->down[i], at, cin, C, K, S);
        hop *= S;
        enc->dims[i] = cin = C;
        enc->blocks[i] = xcalloc((size_t)(c->depths[i] ? c->depths[i] : 1), sizeof(Block));
        for (int j = 0; !rc && j < c->depths[i]; j++)
            rc = load_block(&ld, &enc->blocks[i][j], i, j, C, c->layer_scale);
    }
    if (!rc) rc = load_conv(&ld, &enc->head, "head", cin, c->vae, c->last_kernel, 1);
    enc->hop = hop;
    /* the caches, zero until a segment fills them */
    for (int i = 0; !rc && i < c->n_stages; i++) {
        Conv *cv = &enc->down[i];
        if (cv->ctx && !(cv->cache = be->alloc(be, (size_t)cv->ctx * cv->cin))) rc = -1;
        for (int j = 0; !rc && j < c->depths[i]; j++)
            if (!(enc->blocks[i][j].cache = be->alloc(be, (size_t)(MIXER_K - 1) * enc->dims[i])))
                rc = -1;
    }
    if (!rc && enc->head.ctx &&
        !(enc->head.cache = be->alloc(be, (size_t)enc->head.ctx * enc->head.cin)))
        rc = -1;
    if (rc) {
        unum_error_wrap("%s", pre);
        enc_free(enc, be);
        return NULL;
    }
    return enc;
}

/* Zeroes every cache: the audio starts. */
static void enc_reset(VVEncoder *enc, Backend *be) {
    size_t most = (size_t)(MIXER_K - 1) * enc->dims[enc->c.n_stages - 1];
    for (int i = 0; i < enc->c.n_stages; i++)
        most = (size_t)fmax((double)most, (double)enc->down[i].ctx * enc->down[i].cin);
    most = (size_t)fmax((double)most, (double)enc->head.ctx * enc->head.cin);
    float *zero = xcalloc(most ? most : 1, sizeof(float));
    for (int i = 0; i < enc->c.n_stages; i++) {
        Conv *cv = &enc->down[i];
        if (cv->cache) be->from_host(be, cv->cache, zero, (size_t)cv->ctx * cv->cin);
        for (int j = 0; j < enc->c.depths[i]; j++)
            be->from_host(be, enc->blocks[i][j].cache, zero,
                          (size_t)(MIXER_K - 1) * enc->dims[i]);
    }
    if (enc->head.cache)
        be->from_host(be, enc->head.cache, zero, (size_t)enc->head.ctx * enc->head.cin);
    free(zero);
}

/* One causal convolution over the L rows in w->x into w->x (via col):
 * the input is [cache | x | zeros to a whole stride on the last segment],
 * and the cache keeps the last ctx rows before the zeros. Returns the rows
 * out. */
static int conv_step(VVWork *w, Backend *be, Conv *cv, int L, int last) {
    size_t C = (size_t)cv->cin;
    int len = cv->ctx + L, extra = 0;
    if (last) extra = (len + cv->stride - 1) / cv->stride * cv->stride - len;
    if (cv->ctx) be->copy(be, w->in, cv->cache, (size_t)cv->ctx * C);
    be->copy(be, w->in + (size_t)cv->ctx * C, w->x, (size_t)L * C);
    if (extra) { /* the last segment's zeros, fewer than a stride of rows */
        float *zero = xcalloc((size_t)extra * C, sizeof(float));
        be->from_host(be, w->in + (size_t)len * C, zero, (size_t)extra * C);
        free(zero);
    }
    if (cv->ctx) be->copy(be, cv->cache, w->in + (size_t)(len - cv->ctx) * C, (size_t)cv->ctx * C);
    int T = (len + extra - cv->K) / cv->stride + 1;
    if (T <= 0) return 0;
    be->im2col(be, w->col, w->in, T, cv->cin, cv->K, cv->stride);
    be->matmul(be, w->x, w->col, &cv->w, &cv->b, T);
    return T;
}

static void block_step(VVWork *w, Backend *be, Block *b, int L, int C, float eps) {
    size_t ctx = MIXER_K - 1;
    be->copy(be, w->in, b->cache, ctx * C);
    be->rmsnorm(be, w->in + ctx * C, w->x, &b->norm, L, eps);
    be->copy(be, b->cache, w->in + (size_t)L * C, ctx * C);
    be->dwconv(be, w->y, w->in, &b->dw, &b->dwb, L, C, MIXER_K);
    if (b->gamma.data) be->add_scaled(be, w->x, w->y, &b->gamma, L, C);
    else be->add(be, w->x, w->y, (size_t)L * C);
    be->rmsnorm(be, w->y, w->x, &b->ffn_norm, L, eps);
    be->matmul(be, w->h, w->y, &b->fc1, &b->fc1b, L);
    be->gelu(be, w->h, (size_t)L * 4 * C);
    be->matmul(be, w->y, w->h, &b->fc2, &b->fc2b, L);
    if (b->ffn_gamma.data) be->add_scaled(be, w->x, w->y, &b->ffn_gamma, L, C);
    else be->add(be, w->x, w->y, (size_t)L * C);
}

/* One segment of n samples (a whole number of frames unless last): the
 * frames into out (host, [frames x vae]); returns the frames. */
static int enc_segment(VVEncoder *enc, VVWork *w, Backend *be, const float *pcm, size_t n, int last,
                       float *out) {
    be->from_host(be, w->x, pcm, n);
    int L = (int)n;
    for (int i = 0; i < enc->c.n_stages; i++) {
        L = conv_step(w, be, &enc->down[i], L, last);
        for (int j = 0; j < enc->c.depths[i]; j++)
            block_step(w, be, &enc->blocks[i][j], L, enc->dims[i], enc->c.eps);
    }
    L = conv_step(w, be, &enc->head, L, last);
    be->to_host(be, out, w->x, (size_t)L * enc->c.vae);
    return L;
}

/* ------------------------------------------------------------ loading */

/* The top-level fields of config.json's parsed root. */
static int parse_top(const cJSON *root, const char *path, EncConfig *ac, EncConfig *sc,
                     int *hop) {
    int avae = 0, svae = 0;
    if (enc_config(root, "acoustic_tokenizer_config", ac, path) ||
        enc_config(root, "semantic_tokenizer_config", sc, path) ||
        config_get_int(root, "acoustic_vae_dim", 1, 1 << 14, 1, &avae, path) ||
        config_get_int(root, "semantic_vae_dim", 1, 1 << 14, 1, &svae, path))
        return -1;
    if ((avae && avae != ac->vae) || (svae && svae != sc->vae))
        return unum_error_set("%s: acoustic_vae_dim/semantic_vae_dim (%d, %d) differ from the "
                              "tokenizers' vae_dim (%d, %d)",
                              path, avae, svae, ac->vae, sc->vae);
    long ha = 1, hs = 1;
    for (int i = 0; i < ac->n_stages - 1; i++) ha *= ac->ratios[i];
    for (int i = 0; i < sc->n_stages - 1; i++) hs *= sc->ratios[i];
    if (ha != hs)
        return unum_error_set("%s: the acoustic and semantic encoders' strides multiply to %ld "
                              "and %ld; their frames must line up",
                              path, ha, hs);
    *hop = (int)ha;
    return 0;
}

int vibevoice_config_check(const char *json, size_t len, const char *path, int *hop) {
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return unum_error_set("%s: not valid JSON", path);
    EncConfig ac, sc;
    int rc = parse_top(root, path, &ac, &sc, hop);
    cJSON_Delete(root);
    return rc;
}

static int read_top(VibeVoice *v, EncConfig *ac, EncConfig *sc) {
    char *path = NULL;
    cJSON *root = config_read_object(v->e->dir, "config.json", &path);
    int rc = root ? parse_top(root, path, ac, sc, &v->hop) : -1;
    cJSON_Delete(root);
    free(path);
    return rc;
}

/* preprocessor_config.json, when present: the rate and hop must be ours */
static int read_preprocessor(VibeVoice *v) {
    char *path = unum_path_join(v->e->dir, "preprocessor_config.json");
    int rc = 0;
    v->rate = 24000;
    if (unum_file_exists(path)) {
        char *p2 = NULL;
        cJSON *root = config_read_object(v->e->dir, "preprocessor_config.json", &p2);
        int hop = v->hop;
        rc = !root || config_get_int(root, "target_sample_rate", 8000, 192000, 1, &v->rate, p2) ||
                     config_get_int(root, "speech_tok_compress_ratio", 1, 1 << 20, 1, &hop, p2)
                 ? -1
                 : 0;
        if (!rc && hop != v->hop)
            rc = unum_error_set("%s: speech_tok_compress_ratio is %d but the encoders' strides "
                                "multiply to %d",
                                p2, hop, v->hop);
        cJSON_Delete(root);
        free(p2);
    }
    free(path);
    return rc;
}

static int find_token(VibeVoice *v, int32_t *id, const char *text) {
    *id = tokenizer_token_id(v->e->tok, text);
    if (*id < 0 || *id >= engine_n_vocab(v->e))
        return unum_error_set("%s: tokenizer.json has no token %s", v->e->dir, text);
    return 0;
}

/* Every encoder and connector tensor must have been read; the acoustic
 * decoder (speech synthesis) is skipped by name. */
static int check_tensors(VibeVoice *v, const unsigned char *used) {
    for (int i = 0; i < v->st.n_tensors; i++) {
        const char *n = v->st.tensors[i].name;
        if (used[i] || strncmp(n, "model.", 6) ||
            !strncmp(n, "model.acoustic_tokenizer.decoder.", 33) ||
            !strncmp(n, "model.language_model.", 21))
            continue;
        if (!strncmp(n, "model.acoustic_", 15) || !strncmp(n, "model.semantic_", 15))
            return unum_error_set("%s: tensor '%s' is not part of the encoders config.json "
                                  "describes",
                                  v->st.tensors[i].file, n);
    }
    return 0;
}

VibeVoice *vibevoice_load(const char *model, const EngineOptions *opt) {
    VibeVoice *v = xcalloc(1, sizeof *v);
    v->work = xcalloc(1, sizeof *v->work);
    /* the context: the whole window the decoder was trained for unless the
     * caller says (an hour of audio is 27,000 frames before any text) */
    EngineOptions o = opt ? *opt : (EngineOptions){0};
    char *resolved = modeldir_resolve(model);
    Qwen2Config qc;
    if (!resolved || qwen2_config_load(&qc, resolved)) {
        free(resolved);
        goto fail;
    }
    if (!o.ctx) o.ctx = qc.max_pos;
    v->e = engine_load(resolved, &o);
    free(resolved);
    if (!v->e) goto fail;
    const char *dir = v->e->dir;
    if (!vibevoice_is_model(dir)) {
        unum_error_set("%s: not a VibeVoice model (model_type vibevoice)", dir);
        goto fail;
    }
    Backend *be = v->e->be;
    if (!be->im2col || !be->dwconv || !be->add_scaled || !be->gelu) {
        unum_error_set("%s: the %s backend lacks the convolution ops", dir, be->name);
        goto fail;
    }
    EncConfig ac, sc;
    if (read_top(v, &ac, &sc) || read_preprocessor(v) ||
        st_open_dir(&v->st, dir))
        goto fail;
    char *path = unum_path_join(dir, "config.json");
    v->acoustic = enc_load(v, &ac, "model.acoustic_tokenizer.encoder.", path);
    v->semantic = v->acoustic ? enc_load(v, &sc, "model.semantic_tokenizer.encoder.", path) : NULL;
    free(path);
    if (!v->semantic) goto fail;
    int D = v->e->model->c.hidden, vae[2] = {ac.vae, sc.vae};
    const char *names[2] = {"model.acoustic_connector.", "model.semantic_connector."};
    for (int k = 0; k < 2; k++) {
        Ld ld = {v, "", names[k], dir};
        if (upload_t(&ld, &v->fc1[k], "fc1.weight", 2, D, vae[k], 0, D, vae[k]) ||
            upload_t(&ld, &v->fc1b[k], "fc1.bias", 1, D, 0, 0, 1, D) ||
            upload_t(&ld, &v->norm[k], "norm.weight", 1, D, 0, 0, 1, D) ||
            upload_t(&ld, &v->fc2[k], "fc2.weight", 2, D, D, 0, D, D) ||
            upload_t(&ld, &v->fc2b[k], "fc2.bias", 1, D, 0, 0, 1, D))
            goto fail;
    }
    /* which tensors were read: st_get marks nothing, so look them up again */
    unsigned char *used = xcalloc((size_t)v->st.n_tensors + 1, 1);
    for (int i = 0; i < v->st.n_tensors; i++) {
        const char *n = v->st.tensors[i].name;
        int ok = 0;
        for (int k = 0; k < 2 && !ok; k++) ok = !strncmp(n, names[k], strlen(names[k]));
        /* encoder tensors: accepted by name when the layout above reads them */
        const char *pre[2] = {"model.acoustic_tokenizer.encoder.", "model.semantic_tokenizer.encoder."};
        const EncConfig *cs[2] = {&ac, &sc};
        for (int k = 0; k < 2 && !ok; k++) {
            size_t pl = strlen(pre[k]);
            if (strncmp(n, pre[k], pl)) continue;
            int a, b;
            char rest[96];
            if (sscanf(n + pl, "downsample_layers.%d.0.conv.conv.%95s", &a, rest) == 2)
                ok = a >= 0 && a < cs[k]->n_stages;
            else if (sscanf(n + pl, "stages.%d.%d.%95s", &a, &b, rest) == 3)
                ok = a >= 0 && a < cs[k]->n_stages && b >= 0 && b < cs[k]->depths[a] &&
                     (cs[k]->layer_scale || !strstr(rest, "gamma"));
            else ok = !strncmp(n + pl, "head.conv.conv.", 15);
        }
        used[i] = (unsigned char)ok;
    }
    int bad = check_tensors(v, used);
    free(used);
    if (bad) goto fail;
    if (find_token(v, &v->speech_start, "<|object_ref_start|>") ||
        find_token(v, &v->speech_end, "<|object_ref_end|>") ||
        find_token(v, &v->speech_pad, "<|box_start|>") ||
        find_token(v, &v->im_end, "<|im_end|>") ||
        find_token(v, &v->endoftext, "<|endoftext|>"))
        goto fail;
    /* a transcript ends at either (the published demo stops at the
     * tokenizer's eos, <|endoftext|>; the turn itself ends at <|im_end|>) */
    int32_t stops[2] = {v->im_end, v->endoftext};
    for (int k = 0; k < 2; k++) {
        GenConfig *g = &v->e->gen;
        int have = 0;
        for (int i = 0; i < g->n_eos; i++) have |= g->eos[i] == stops[k];
        if (!have && g->n_eos < CONFIG_MAX_EOS) g->eos[g->n_eos++] = stops[k];
    }
    return v;
fail:
    unum_error_wrap("VibeVoice model");
    vibevoice_free(v);
    return NULL;
}

void vibevoice_free(VibeVoice *v) {
    if (!v) return;
    Backend *be = v->e ? v->e->be : NULL;
    if (be) {
        enc_free(v->acoustic, be);
        enc_free(v->semantic, be);
        work_free(v->work, be);
        for (int k = 0; k < 2; k++) {
            Weight *ws[] = {&v->fc1[k], &v->fc1b[k], &v->norm[k], &v->fc2[k], &v->fc2b[k]};
            for (size_t i = 0; i < sizeof ws / sizeof *ws; i++)
                if (ws[i]->data) be->release(be, ws[i]);
        }
    }
    st_close(&v->st);
    engine_free(v->e);
    free(v->work);
    free(v);
}

/* ------------------------------------------------------------ encoding */

void vibevoice_normalize(float *pcm, size_t n) {
    if (!n) return;
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)pcm[i] * pcm[i];
    double rms = sqrt(ss / (double)n), scalar = pow(10.0, -25.0 / 20.0) / (rms + 1e-6);
    double peak = 0;
    for (size_t i = 0; i < n; i++) {
        pcm[i] = (float)(pcm[i] * scalar);
        peak = fmax(peak, fabs(pcm[i]));
    }
    if (peak > 1.0)
        for (size_t i = 0; i < n; i++) pcm[i] = (float)(pcm[i] / (peak + 1e-6));
}

size_t vibevoice_frames(const VibeVoice *v, size_t n) { return (n + v->hop - 1) / v->hop; }

int vibevoice_vae_dim(const VibeVoice *v, int semantic) {
    return (semantic ? v->semantic : v->acoustic)->c.vae;
}

int vibevoice_connector(VibeVoice *v, int k, const float *mean, size_t F, float *out) {
    Backend *be = v->e->be;
    int D = v->e->model->c.hidden, vae = k ? v->semantic->c.vae : v->acoustic->c.vae;
    size_t R = 256;
    float *x = be->alloc(be, R * vae), *a = be->alloc(be, R * D), *b = be->alloc(be, R * D);
    float *host = xmalloc(sizeof(float) * R * D);
    int rc = x && a && b ? 0 : -1;
    for (size_t f = 0; !rc && f < F; f += R) {
        int T = (int)(F - f < R ? F - f : R);
        be->from_host(be, x, mean + f * vae, (size_t)T * vae);
        be->matmul(be, a, x, &v->fc1[k], &v->fc1b[k], T);
        be->rmsnorm(be, b, a, &v->norm[k], T, 1e-6f);
        be->matmul(be, a, b, &v->fc2[k], &v->fc2b[k], T);
        be->to_host(be, host, a, (size_t)T * D);
        float *o = out + f * D;
        for (size_t i = 0; i < (size_t)T * D; i++) o[i] += host[i];
    }
    if (!rc && be->sync(be)) rc = -1;
    free(host);
    if (x) be->free(be, x);
    if (a) be->free(be, a);
    if (b) be->free(be, b);
    return rc;
}

static int too_long(const VibeVoice *v, size_t n) {
    return unum_error_set("%.1f minutes of audio is more than the %d frames (%.1f minutes) one "
                          "pass takes",
                          (double)n / v->rate / 60, MAX_FRAMES,
                          (double)MAX_FRAMES * v->hop / v->rate / 60);
}

int vibevoice_encode(VibeVoice *v, const float *pcm, size_t n, int segment, float *acoustic,
                     float *semantic, float *embeds, vibevoice_progress_fn fn, void *user,
                     UnumCancel *cancel) {
    if (!n) return unum_error_set("no audio to encode");
    size_t F = vibevoice_frames(v, n);
    if (F > MAX_FRAMES) return too_long(v, n);
    if (segment <= 0)
        segment = (v->e->be->device_bytes ? SEGMENT_SECONDS : SEGMENT_SECONDS_CPU) * v->rate / v->hop;
    if (segment < 1) segment = 1;
    Backend *be = v->e->be;
    VVEncoder *encs[2] = {v->acoustic, v->semantic};
    int D = v->e->model->c.hidden;
    float *means[2] = {NULL, NULL};
    int rc = 0;
    for (int k = 0; k < 2 && !rc; k++) {
        VVEncoder *enc = encs[k];
        float *out = k ? semantic : acoustic;
        if (!out && embeds) out = means[k] = xmalloc(sizeof(float) * F * enc->c.vae);
        if (!out) continue;
        if (v->work->seg_samples != (size_t)segment * v->hop && work_alloc(v, segment)) {
            rc = -1;
            break;
        }
        enc_reset(enc, be);
        size_t seg = v->work->seg_samples, f = 0;
        for (size_t at = 0; at < n && !rc; at += seg) {
            if (unum_cancelled(cancel)) {
                rc = UNUM_CANCELLED;
                break;
            }
            size_t len = n - at < seg ? n - at : seg;
            int last = at + len == n;
            f += (size_t)enc_segment(enc, v->work, be, pcm + at, len, last, out + f * enc->c.vae);
            if (be->sync(be)) rc = -1;
            if (fn) fn(user, (size_t)k * n + at + len, 2 * n);
        }
        if (!rc && f != F)
            rc = unum_error_set("the encoder made %zu frames of %zu samples, expected %zu", f, n,
                                F);
    }
    if (!rc && embeds) {
        memset(embeds, 0, sizeof(float) * F * D);
        rc = vibevoice_connector(v, 0, acoustic ? acoustic : means[0], F, embeds) ||
                     vibevoice_connector(v, 1, semantic ? semantic : means[1], F, embeds)
                 ? -1
                 : 0;
    }
    free(means[0]);
    free(means[1]);
    if (rc == UNUM_CANCELLED) unum_error_set("cancelled");
    return rc;
}

/* ------------------------------------------------------------ prompts */

static const char SYSTEM_PROMPT[] =
    "You are a helpful assistant that transcribes audio input into text output in JSON format.";

int vibevoice_prompt(VibeVoice *v, size_t n, const char *context, IdVec *out) {
    out->n = 0;
    size_t F = vibevoice_frames(v, n);
    const Tokenizer *tok = v->e->tok;
    char head[256];
    snprintf(head, sizeof head, "<|im_start|>system\n%s<|im_end|>\n<|im_start|>user\n",
             SYSTEM_PROMPT);
    if (tokenizer_encode(tok, head, strlen(head), 1, out)) return -1;
    idvec_push(out, v->speech_start);
    for (size_t f = 0; f < F; f++) idvec_push(out, v->speech_pad);
    idvec_push(out, v->speech_end);
    /* the duration sentence, with the caller's extra information when
     * given (special-token text in it stays text) */
    static const char keys[] = "Start time, End time, Speaker ID, Content";
    char dur[96];
    snprintf(dur, sizeof dur, "\nThis is a %.2f seconds audio, ", (double)n / v->rate);
    size_t cl = context ? strlen(context) : 0;
    while (cl && strchr(" \t\r\n", context[0])) context++, cl--;
    while (cl && strchr(" \t\r\n", context[cl - 1])) cl--;
    size_t len = strlen(dur) + cl + 128;
    char *tail = xmalloc(len);
    if (cl)
        snprintf(tail, len, "%swith extra info: %.*s\n\nPlease transcribe it with these keys: %s",
                 dur, (int)cl, context, keys);
    else snprintf(tail, len, "%splease transcribe it with these keys: %s", dur, keys);
    int rc = tokenizer_encode(tok, tail, strlen(tail), 0, out);
    free(tail);
    return rc || tokenizer_encode(tok, "<|im_end|>\n", 11, 1, out) ? -1 : 0;
}

static uint32_t audio_tag(const float *x, size_t n);

int vibevoice_inputs(VibeVoice *v, const float *pcm, size_t n, const char *context, int segment,
                     IdVec *ids, float **embeds, vibevoice_progress_fn fn, void *user,
                     UnumCancel *cancel) {
    *embeds = NULL;
    if (!n) return unum_error_set("no audio");
    size_t F = vibevoice_frames(v, n);
    int D = v->e->model->c.hidden;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(pcm[i]))
            return unum_error_set("audio sample %zu is not a finite number", i);
    float *audio = xmalloc(sizeof(float) * n);
    memcpy(audio, pcm, sizeof(float) * n);
    vibevoice_normalize(audio, n);
    int rc = F > MAX_FRAMES ? too_long(v, n) : 0;
    float *rows = rc ? NULL : xmalloc(sizeof(float) * F * D);
    if (!rc) rc = vibevoice_encode(v, audio, n, segment, NULL, NULL, rows, fn, user, cancel);
    if (!rc && !ids->n && vibevoice_prompt(v, n, context, ids)) rc = -1;
    if (!rc && vibevoice_mark_frames(v, ids->v, ids->n, F, audio_tag(audio, n))) rc = -1;
    free(audio);
    if (rc) free(rows);
    else *embeds = rows;
    return rc;
}

int vibevoice_mark_frames(const VibeVoice *v, int32_t *ids, size_t n, size_t frames,
                          uint32_t tag) {
    size_t pads = 0;
    for (size_t i = 0; i < n; i++) pads += ids[i] == v->speech_pad;
    if (pads != frames)
        return unum_error_set("the ids hold %zu speech pads (<|box_start|>, %d) but the audio "
                              "makes %zu frames",
                              pads, v->speech_pad, frames);
    if (frames > MAX_FRAMES) return unum_error_set("%zu frames is more than %d", frames, MAX_FRAMES);
    int32_t base = 1 + (int32_t)(tag % 65535u) * MAX_FRAMES, f = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] == v->speech_pad) ids[i] = -(base + f++);
    return 0;
}

/* ------------------------------------------------------------ output */

/* Seconds from a number or a "[[h:]m:]s.ss" string; -1 when neither. */
static double seg_time(const cJSON *j) {
    if (cJSON_IsNumber(j)) return isfinite(j->valuedouble) && j->valuedouble >= 0 ? j->valuedouble : -1;
    if (!cJSON_IsString(j)) return -1;
    double t = 0, part;
    const char *s = j->valuestring;
    for (int fields = 0; fields < 3; fields++) {
        char *end;
        part = strtod(s, &end);
        if (end == s || !isfinite(part) || part < 0) return -1;
        t = t * 60 + part;
        if (*end != ':') return *end ? -1 : t;
        s = end + 1;
    }
    return -1;
}

/* "S<n>" for a number or a string of digits; other strings as written
 * (printable, at most 32 bytes); NULL when absent. */
static char *seg_speaker(const cJSON *j) {
    char buf[40];
    if (cJSON_IsNumber(j) && j->valuedouble == floor(j->valuedouble) && j->valuedouble >= 0 &&
        j->valuedouble < 1e6) {
        snprintf(buf, sizeof buf, "S%d", (int)j->valuedouble);
        return xstrdup(buf);
    }
    if (!cJSON_IsString(j) || !j->valuestring[0]) return NULL;
    const char *s = j->valuestring;
    size_t n = strspn(s, "0123456789");
    if (n && !s[n] && n < 8) {
        snprintf(buf, sizeof buf, "S%s", s);
        return xstrdup(buf);
    }
    size_t k = 0;
    for (; s[k] && k < 32; k++) buf[k] = (unsigned char)s[k] < 32 || s[k] == 127 ? ' ' : s[k];
    buf[k] = 0;
    return xstrdup(buf);
}

static void seg_add(Transcript *out, double start, double end, char *speaker, char *text) {
    if (out->n == out->cap) {
        out->cap = out->cap ? 2 * out->cap : 16;
        out->seg = xrealloc(out->seg, sizeof *out->seg * (size_t)out->cap);
    }
    TSegment *s = &out->seg[out->n++];
    memset(s, 0, sizeof *s);
    s->start = start, s->end = end, s->speaker = speaker, s->text = text;
}

static void seg_drop(Transcript *out, int keep) {
    while (out->n > keep) {
        TSegment *s = &out->seg[--out->n];
        free(s->text), free(s->speaker), free(s->tokens);
    }
}

/* The output scanner: top-level JSON objects become segments as they
 * close; what lies outside them (other than the array's brackets, commas,
 * white space, a ```json fence and the assistant header) is kept as text. */
typedef struct {
    Transcript *out;
    double t0, dur;
    int warned;
    size_t pos;                 /* scanned up to here */
    int depth, in_str, esc;
    size_t obj;                 /* where the open object began ((size_t)-1: none) */
    int obj_depth;              /* the depth outside it */
    char *junk;                 /* text outside objects since the last one */
    size_t n_junk, cap_junk;
    size_t *ends;               /* per segment: the text offset after it */
    int *depths;                /* and the depth there */
    int cap_ends;
    int base;                   /* out->n when the scan began */
} Scan;

static void scan_junk_flush(Scan *s) {
    /* drop the noise that is not content */
    static const char *const noise[] = {"```json", "```", "assistant", NULL};
    char *t = s->junk;
    if (!t || !s->n_junk) return;
    t[s->n_junk] = 0;
    for (const char *const *w = noise; *w; w++)
        for (char *p; (p = strstr(t, *w));) memset(p, ' ', strlen(*w));
    char *a = t, *b = t + strlen(t);
    while (a < b && strchr(" \t\r\n[],", *a)) a++;
    while (b > a && strchr(" \t\r\n[],", b[-1])) b--;
    if (b > a) {
        double at = s->out->n > s->base ? s->out->seg[s->out->n - 1].end : s->t0;
        char *txt = xmalloc((size_t)(b - a) + 1);
        memcpy(txt, a, (size_t)(b - a));
        txt[b - a] = 0;
        seg_add(s->out, at, at, NULL, txt);
        s->warned = 1;
    }
    s->n_junk = 0;
}

static void scan_junk(Scan *s, char c) {
    if (s->n_junk + 2 > s->cap_junk) {
        s->cap_junk = s->cap_junk ? 2 * s->cap_junk : 256;
        s->junk = xrealloc(s->junk, s->cap_junk);
    }
    s->junk[s->n_junk++] = c;
}

static void scan_object(Scan *s, const char *text, size_t a, size_t b) {
    cJSON *o = cJSON_ParseWithLength(text + a, b - a);
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(o, "Content");
    if (!cJSON_IsObject(o) || !cJSON_IsString(content)) {
        for (size_t i = a; i < b; i++) scan_junk(s, text[i]);
        scan_junk_flush(s);
        cJSON_Delete(o);
        return;
    }
    scan_junk_flush(s);
    double st = seg_time(cJSON_GetObjectItemCaseSensitive(o, "Start"));
    double en = seg_time(cJSON_GetObjectItemCaseSensitive(o, "End"));
    double prev = s->out->n > s->base ? s->out->seg[s->out->n - 1].end - s->t0 : 0;
    if (st < 0) st = prev;
    if (en < st) en = st;
    st = fmin(st, s->dur), en = fmin(en, s->dur);
    seg_add(s->out, s->t0 + st, s->t0 + en,
            seg_speaker(cJSON_GetObjectItemCaseSensitive(o, "Speaker")),
            xstrdup(content->valuestring));
    if (s->out->n - s->base > s->cap_ends) {
        s->cap_ends = 2 * (s->out->n - s->base) + 16;
        s->ends = xrealloc(s->ends, sizeof *s->ends * (size_t)s->cap_ends);
        s->depths = xrealloc(s->depths, sizeof *s->depths * (size_t)s->cap_ends);
    }
    s->ends[s->out->n - s->base - 1] = b;
    s->depths[s->out->n - s->base - 1] = s->depth;
    cJSON_Delete(o);
}

static void scan_feed(Scan *s, const char *text, size_t len) {
    for (; s->pos < len; s->pos++) {
        char c = text[s->pos];
        if (s->in_str) {
            if (s->esc) s->esc = 0;
            else if (c == '\\') s->esc = 1;
            else if (c == '"') s->in_str = 0;
            continue;
        }
        if (s->obj != (size_t)-1) { /* inside an object */
            if (c == '"') s->in_str = 1;
            else if (c == '{' || c == '[') s->depth++;
            else if (c == '}' || c == ']') {
                if (--s->depth == s->obj_depth) {
                    scan_object(s, text, s->obj, s->pos + 1);
                    s->obj = (size_t)-1;
                }
            }
            continue;
        }
        if (c == '{') {
            s->obj = s->pos;
            s->obj_depth = s->depth;
            s->depth++;
        } else if (c == '[' && s->depth == 0) {
            s->depth = 1;
        } else if (c == ']' && s->depth == 1) {
            s->depth = 0;
        } else {
            scan_junk(s, c);
        }
    }
}

static void scan_init(Scan *s, Transcript *out, double t0, double dur) {
    memset(s, 0, sizeof *s);
    s->out = out, s->t0 = t0, s->dur = dur, s->obj = (size_t)-1, s->base = out->n;
}

static void scan_finish(Scan *s, const char *text, size_t len) {
    scan_feed(s, text, len);
    if (s->obj != (size_t)-1) { /* an object the output never closed */
        for (size_t i = s->obj; i < len; i++) scan_junk(s, text[i]);
        s->obj = (size_t)-1;
    }
    scan_junk_flush(s);
    /* text at the end, outside any segment, covers the rest of the audio */
    TSegment *last = s->out->n > s->base ? &s->out->seg[s->out->n - 1] : NULL;
    if (last && !last->speaker && last->end == last->start && last->start < s->t0 + s->dur)
        last->end = s->t0 + s->dur;
}

static void scan_free(Scan *s) {
    free(s->junk), free(s->ends), free(s->depths);
}

/* Back to just after segment k (of this scan; 0: the start), dropping the
 * segments after it. */
static void scan_rewind(Scan *s, int k, size_t start) {
    seg_drop(s->out, s->base + k);
    s->pos = k ? s->ends[k - 1] : start;
    s->depth = k ? s->depths[k - 1] : 0;
    s->in_str = s->esc = 0;
    s->obj = (size_t)-1;
    s->n_junk = 0;
}

int vibevoice_parse(const char *text, double t0, double dur, Transcript *out, int *warned) {
    Scan s;
    scan_init(&s, out, t0, dur);
    scan_finish(&s, text, strlen(text));
    if (warned) *warned = s.warned;
    scan_free(&s);
    return 0;
}

long vibevoice_loop_cut(const int32_t *ids, size_t n) {
    long best = -1;
    for (size_t p = 1; p <= 256 && 2 * p <= n; p++) {
        size_t k = 0; /* trailing ids equal to the id p before them */
        while (k + p < n && ids[n - 1 - k] == ids[n - 1 - k - p]) k++;
        size_t span = k + p;
        if (span >= 3 * p && span >= 48) {
            long start = (long)(n - span);
            if (best < 0 || start < best) best = start;
        }
    }
    return best;
}

/* ------------------------------------------------------------ transcribing */

#define LAG 3        /* segments held back: a run of repeats is dropped unseen */
#define RETRIES 2
#define RETRY_TEMP 0.3f

typedef struct {
    VibeVoice *v;
    const VibeVoiceParams *p;
    Scan scan;
    char *text;      /* the output so far, special tokens left out */
    size_t n_text, cap_text;
    IdVec gen;       /* ids generated */
    size_t *cum;     /* text length after each of them */
    size_t cap_cum;
    int emitted;     /* segments given to on_segment */
    long loop_tok;   /* a token loop starting at this id of gen, or -1 */
    int loop_seg;    /* a run of repeated segments from this one (scan's), or -1 */
    int stopped;     /* on_segment asked to stop */
    int cancelled;   /* p->cancel was set */
} Tx;

static void tx_emit(Tx *t, int upto) {
    Transcript *out = t->scan.out;
    if (t->emitted >= upto) return;
    for (; t->emitted < upto; t->emitted++)
        if (t->p->on_segment && !t->stopped && t->p->on_segment(t->p->ud, &out->seg[t->emitted]))
            t->stopped = 1;
    if (t->p->on_progress)
        t->p->on_progress(t->p->ud, 0.1 * t->scan.dur +
                                         0.9 * (out->seg[out->n - 1].end - t->scan.t0),
                          t->scan.dur);
}

/* The last RUN segments say the same: a loop (people rarely say the same
 * thing four times running, a looping model does). */
#define RUN 4
static int repeated_run(const Tx *t) {
    const Transcript *o = t->scan.out;
    int k = o->n - t->scan.base;
    if (k < RUN) return -1;
    const char *last = o->seg[o->n - 1].text;
    if (strlen(last) < 2) return -1;
    for (int i = 2; i <= RUN; i++)
        if (strcmp(o->seg[o->n - i].text, last)) return -1;
    return k - RUN + 1; /* keep the first of them */
}

static int tx_token(void *user, int32_t id, const char *text, size_t len) {
    Tx *t = user;
    if (unum_cancelled(t->p->cancel)) {
        t->cancelled = 1;
        return 1;
    }
    if (id < 0 && !len) return 0;
    if (id >= 0) {
        idvec_push(&t->gen, id);
        if (t->gen.n > t->cap_cum) {
            t->cap_cum = 2 * t->gen.n + 64;
            t->cum = xrealloc(t->cum, sizeof *t->cum * t->cap_cum);
        }
    }
    if (id < 0 || !tokenizer_is_special(t->v->e->tok, id)) {
        if (t->n_text + len + 1 > t->cap_text) {
            t->cap_text = 2 * (t->n_text + len) + 256;
            t->text = xrealloc(t->text, t->cap_text);
        }
        memcpy(t->text + t->n_text, text, len);
        t->n_text += len;
        t->text[t->n_text] = 0;
    }
    if (id >= 0) t->cum[t->gen.n - 1] = t->n_text;
    scan_feed(&t->scan, t->text, t->n_text);
    int run = repeated_run(t);
    if (run >= 0) {
        t->loop_seg = run;
        return 1;
    }
    if (id >= 0 && t->gen.n % 8 == 0 && (t->loop_tok = vibevoice_loop_cut(t->gen.v, t->gen.n)) >= 0)
        return 1;
    tx_emit(t, t->scan.out->n - LAG);
    return t->stopped;
}

/* Cuts the output at the loop: keeps the segments that end before it and
 * the ids that wrote them. */
static void tx_cut(Tx *t) {
    Scan *s = &t->scan;
    int keep; /* segments of this scan */
    if (t->loop_seg >= 0) {
        keep = t->loop_seg;
    } else {
        size_t at = t->loop_tok > 0 ? t->cum[t->loop_tok - 1] : 0;
        keep = 0;
        while (keep < s->out->n - s->base && s->ends[keep] <= at) keep++;
    }
    size_t cut = keep ? s->ends[keep - 1] : 0;
    /* the ids up to the one that completes the text up to cut */
    size_t k = 0;
    while (k < t->gen.n && t->cum[k] < cut) k++;
    if (keep) k++;
    if (k > t->gen.n) k = t->gen.n;
    t->gen.n = k;
    t->n_text = k ? t->cum[k - 1] : 0;
    if (t->text) t->text[t->n_text] = 0;
    if (!keep) { /* nothing complete: start over */
        t->gen.n = 0, t->n_text = 0;
        if (t->text) t->text[0] = 0;
    }
    scan_rewind(s, keep, 0);
    if (t->emitted > s->out->n) t->emitted = s->out->n;
    t->loop_tok = -1, t->loop_seg = -1;
}

static uint32_t audio_tag(const float *x, size_t n) {
    uint32_t h = 2166136261u;
    const unsigned char *p = (const unsigned char *)x;
    for (size_t i = 0; i < n * sizeof *x; i += 7) h = (h ^ p[i]) * 16777619u;
    return h;
}

typedef struct {
    const VibeVoiceParams *p;
    double dur;
} EncProgress;

static void enc_progress(void *user, size_t done, size_t total) {
    EncProgress *e = user;
    if (e->p->on_progress) e->p->on_progress(e->p->ud, 0.1 * e->dur * done / total, e->dur);
}

static int engine_gen(void *ctx, Engine *e, const int32_t *ids, size_t n, const float *embeds,
                      const GenerateParams *p, engine_token_fn fn, void *user) {
    GenerateStats st;
    (void)ctx;
    return engine_generate_embeds(e, ids, n, embeds, p, fn, user, &st);
}

int vibevoice_transcribe(VibeVoice *v, const float *pcm, size_t n, double t0,
                         const VibeVoiceParams *p, Transcript *out) {
    return vibevoice_transcribe_with(v, pcm, n, t0, p, out, engine_gen, NULL);
}

int vibevoice_transcribe_with(VibeVoice *v, const float *pcm, size_t n, double t0,
                              const VibeVoiceParams *p, Transcript *out, vibevoice_gen_fn gen,
                              void *gen_ctx) {
    Engine *e = v->e;
    double dur = (double)n / v->rate;
    int rc = -1;
    float *embeds = NULL;
    IdVec ids = {0}, prompt = {0};
    Tx t = {.v = v, .p = p, .loop_tok = -1, .loop_seg = -1};
    scan_init(&t.scan, out, t0, dur);
    EncProgress ep = {p, dur};
    rc = vibevoice_inputs(v, pcm, n, NULL, p->segment, &prompt, &embeds, enc_progress, &ep,
                          p->cancel);
    if (rc) goto done;
    rc = -1;
    int room = engine_ctx(e) - (int)prompt.n;
    if (room < 16) {
        unum_error_set("%.1f s of audio makes a prompt of %zu positions, and the context holds "
                       "%d (more audio needs a longer context)",
                       dur, prompt.n, engine_ctx(e));
        goto done;
    }
    GenerateParams gp = {.max_tokens = p->max_tokens > 0 && p->max_tokens < room ? p->max_tokens
                                                                                : room};
    gp.sampling.temperature = 0, gp.sampling.top_p = 1, gp.sampling.repeat_penalty = 1;
    gp.sampling.seed = p->seed;
    for (int attempt = 0;; attempt++) {
        ids.n = 0;
        for (size_t i = 0; i < prompt.n; i++) idvec_push(&ids, prompt.v[i]);
        for (size_t i = 0; i < t.gen.n; i++) idvec_push(&ids, t.gen.v[i]);
        int max = gp.max_tokens - (int)t.gen.n;
        if (max <= 0) break;
        GenerateParams g = gp;
        g.max_tokens = max;
        rc = gen(gen_ctx, e, ids.v, ids.n, embeds, &g, tx_token, &t);
        if (rc) goto done;
        if (t.cancelled) {
            rc = unum_cancelled_status();
            goto done;
        }
        if (t.loop_tok < 0 && t.loop_seg < 0) break;
        char msg[160];
        double at = t.scan.out->n > t.scan.base ? t.scan.out->seg[t.scan.out->n - 1].end : t0;
        tx_cut(&t);
        if (attempt == RETRIES) {
            snprintf(msg, sizeof msg,
                     "the transcript repeats itself near %.1f s; cut there after %d retries",
                     at, RETRIES);
            if (p->on_warning) p->on_warning(p->ud, msg);
            break;
        }
        snprintf(msg, sizeof msg,
                 "the transcript repeats itself near %.1f s; decoding the rest again at "
                 "temperature %.1f",
                 at, RETRY_TEMP);
        if (p->on_warning) p->on_warning(p->ud, msg);
        gp.sampling.temperature = RETRY_TEMP;
        gp.sampling.seed = p->seed + (uint64_t)attempt + 1;
    }
    scan_finish(&t.scan, t.text ? t.text : "", t.n_text);
    if (t.scan.warned && p->on_warning)
        p->on_warning(p->ud, "part of the output was not JSON segments; it is kept as text "
                             "without a speaker");
    tx_emit(&t, out->n);
    rc = t.stopped ? UNUM_CANCELLED : 0;
done:
    scan_free(&t.scan);
    free(t.text), free(t.cum);
    idvec_free(&t.gen), idvec_free(&ids), idvec_free(&prompt);
    free(embeds);
    return rc;
}
