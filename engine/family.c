/* family.c - see family.h. One reader per family; the shared fields are
 * config.c's. */
#include "engine/family.h"

#include "engine/base/util.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

void rope_plain(Rope *r, double theta, int head_dim) {
    memset(r, 0, sizeof *r);
    r->half = head_dim / 2;
    r->scale = 1.0f;
    for (int i = 0; i < r->half; i++)
        r->inv_freq[i] = 1.0f / powf((float)theta, (float)(2 * i) / (float)head_dim);
}

static int no_rope_scaling(const cJSON *root, const char *path) {
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    if (rs && !cJSON_IsNull(rs)) return unum_error_set("%s: rope_scaling is not supported", path);
    return 0;
}

/* ------------------------------------------------------------ Qwen2 */

/* Qwen2ForCausalLM (transformers' modeling_qwen2.py): biases on q, k, v;
 * no scales; plain RoPE; no sliding window. */
static int qwen2_read(Qwen2Config *c, const cJSON *root, const char *path) {
    const cJSON *sw = cJSON_GetObjectItemCaseSensitive(root, "use_sliding_window");
    if (cJSON_IsTrue(sw)) return unum_error_set("%s: use_sliding_window is not supported", path);
    c->qkv_bias = 1;
    return no_rope_scaling(root, path);
}

/* ------------------------------------------------------------ MiniCPM */

/* A positive finite number field (absent: *out keeps its default). */
static int get_positive(const cJSON *root, const char *key, double *out, const char *path) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!j || cJSON_IsNull(j)) return 0;
    if (!cJSON_IsNumber(j) || !(j->valuedouble > 0) || !isfinite(j->valuedouble))
        return unum_error_set("%s: %s must be a positive number", path, key);
    *out = j->valuedouble;
    return 0;
}

/* rope_scaling.KEY: head_dim/2 positive numbers. */
static int read_factors(const cJSON *rs, const char *key, int half, float *out, const char *path) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(rs, key);
    if (!a) return unum_error_set("%s: rope_scaling.%s is missing", path, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != half)
        return unum_error_set("%s: rope_scaling.%s must be a list of %d numbers (head_dim / 2)",
                              path, key, half);
    for (int i = 0; i < half; i++) {
        const cJSON *v = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsNumber(v) || !(v->valuedouble > 0) || !isfinite(v->valuedouble))
            return unum_error_set("%s: rope_scaling.%s[%d] must be a positive number", path, key,
                                  i);
        out[i] = (float)v->valuedouble;
    }
    return 0;
}

/* LongRoPE as modeling_minicpm.py's MiniCPMLongRoPE computes it: the cos
 * and sin cache is built once for max_position_embeddings positions, with
 * long_factor when that exceeds original_max_position_embeddings and
 * short_factor otherwise; angle pos * (1 / factor[i]) * inv_freq[i]; cos and
 * sin times sqrt(1 + ln(max_pos / orig) / ln(orig)). */
static int read_longrope(Qwen2Config *c, const cJSON *rs, const char *path) {
    int half = c->head_dim / 2, orig = 0;
    float shortf[ROPE_MAX_HALF], longf[ROPE_MAX_HALF];
    if (!cJSON_GetObjectItemCaseSensitive(rs, "original_max_position_embeddings"))
        return unum_error_set("%s: rope_scaling.original_max_position_embeddings is missing", path);
    if (config_get_int(rs, "original_max_position_embeddings", 2, 1 << 24, 0, &orig, path))
        return -1;
    if (read_factors(rs, "short_factor", half, shortf, path) ||
        read_factors(rs, "long_factor", half, longf, path))
        return -1;
    double f = 1.0 + log((double)c->max_pos / orig) / log((double)orig);
    if (!(f > 0))
        return unum_error_set("%s: max_position_embeddings %d is too small for "
                              "rope_scaling.original_max_position_embeddings %d",
                              path, c->max_pos, orig);
    const float *ext = c->max_pos > orig ? longf : shortf;
    Rope plain;
    rope_plain(&plain, c->rope_theta, c->head_dim);
    c->rope.half = half;
    c->rope.scale = (float)sqrt(f);
    for (int i = 0; i < half; i++) c->rope.inv_freq[i] = (1.0f / ext[i]) * plain.inv_freq[i];
    c->longrope = 1;
    return 0;
}

/* MiniCPMForCausalLM (openbmb's modeling_minicpm.py, MiniCPM 1 to 4.1):
 * embeddings times scale_emb, each residual branch times scale_depth /
 * sqrt(num_hidden_layers), the final hidden state divided by hidden_size /
 * dim_model_base before lm_head; no biases unless attention_bias (which
 * would also put one on o_proj, refused); rope_scaling absent (plain RoPE)
 * or of rope_type "longrope". */
static int minicpm_read(Qwen2Config *c, const cJSON *root, const char *path) {
    double scale_emb = 1, scale_depth = 1, dim_model_base = 1;
    if (get_positive(root, "scale_emb", &scale_emb, path) ||
        get_positive(root, "scale_depth", &scale_depth, path) ||
        get_positive(root, "dim_model_base", &dim_model_base, path))
        return -1;
    const cJSON *ab = cJSON_GetObjectItemCaseSensitive(root, "attention_bias");
    if (ab && !cJSON_IsBool(ab))
        return unum_error_set("%s: attention_bias must be true or false", path);
    if (cJSON_IsTrue(ab))
        return unum_error_set("%s: attention_bias true (biases on q, k, v and o_proj) is not "
                              "supported",
                              path);
    c->qkv_bias = 0;
    c->embed_scale = (float)scale_emb;
    c->residual_scale = (float)(scale_depth / sqrt((double)c->n_layers));
    c->logit_scale = (float)(1.0 / ((double)c->hidden / dim_model_base));
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    if (!rs || cJSON_IsNull(rs)) return 0;
    if (!cJSON_IsObject(rs)) return unum_error_set("%s: rope_scaling must be an object", path);
    /* the published code reads "rope_type", older configs say "type" */
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
    if (!t) t = cJSON_GetObjectItemCaseSensitive(rs, "type");
    if (!cJSON_IsString(t)) return unum_error_set("%s: rope_scaling has no rope_type string", path);
    if (strcmp(t->valuestring, "longrope"))
        return unum_error_set("%s: rope_scaling type '%s' is not supported (unum runs "
                              "\"longrope\")",
                              path, t->valuestring);
    return read_longrope(c, rs, path);
}

/* ------------------------------------------------------------ the table */

static const char *const vibevoice_others[] = {
    "model.acoustic_tokenizer.", "model.semantic_tokenizer.", "model.acoustic_connector.",
    "model.semantic_connector.", NULL};

static const ModelFamily families[] = {
    {"qwen2", "Qwen2", 0, 32768, 0, qwen2_read, NULL, NULL, NULL},
    /* LLaMA-Omni2's speech LLMs: a Qwen2 backbone and speech tensors */
    {"omni2_speech2s_qwen2", "Qwen2 (LLaMA-Omni2 speech)", 1, 32768, 0, qwen2_read, NULL, NULL,
     NULL},
    {"omni2_speech_qwen2", "Qwen2 (LLaMA-Omni2 speech)", 1, 32768, 0, qwen2_read, NULL, NULL,
     NULL},
    {"minicpm", "MiniCPM", 0, 2048, 1, minicpm_read, NULL, NULL, NULL},
    /* VibeVoice-ASR: a Qwen2 decoder under decoder_config and
     * model.language_model., two speech encoders and their connectors
     * (vibevoice.c reads those) */
    {"vibevoice", "Qwen2 (VibeVoice-ASR)", 0, 32768, 0, qwen2_read, "decoder_config",
     "model.language_model.", vibevoice_others},
};

const ModelFamily *family_find(const char *model_type) {
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        if (!strcmp(families[i].model_type, model_type)) return &families[i];
    return NULL;
}

const char *family_list(void) {
    static char list[256];
    if (!list[0])
        for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
            size_t n = strlen(list);
            snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", families[i].model_type);
        }
    return list;
}
