/* whisper.c - WhisperForConditionalGeneration, as the model card reads:
 *
 *   encoder:  x = gelu(conv1(mel)); x = gelu(conv2(x, stride 2)) + positions
 *             each layer: x += attn(LN(x)); x += fc2(gelu(fc1(LN(x))))
 *             out = LN(x)
 *   decoder:  x = embed(tokens) + positions
 *             each layer: x += causal_attn(LN(x)); x += cross_attn(LN(x), out)
 *                         x += fc2(gelu(fc1(LN(x))))
 *             logits = LN(x) embed^T
 *
 * LayerNorm eps is 1e-5; attention scales queries by head_dim^-0.5; k_proj
 * has no bias. Every operation goes through the backend's ops table. */
#include "engine/whisper.h"

#include "engine/config.h"
#include "engine/base/util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LN_EPS 1e-5f
#define LOGIT_ROWS 16

/* ------------------------------------------------------------ config */

int whisper_config_load(WhisperConfig *c, const char *dir) {
    memset(c, 0, sizeof *c);
    char *path;
    cJSON *root = config_read_object(dir, "config.json", &path);
    int rc = -1;
    if (!root) goto done;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (!cJSON_IsString(mt) || strcmp(mt->valuestring, "whisper")) {
        unum_error_set("%s: model_type is not \"whisper\"", path);
        goto done;
    }
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "activation_function");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "gelu"))) {
        unum_error_set("%s: activation_function must be \"gelu\"", path);
        goto done;
    }
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(root, "tie_word_embeddings");
    if (tie && !cJSON_IsBool(tie)) {
        unum_error_set("%s: tie_word_embeddings must be true or false", path);
        goto done;
    }
    c->tied = !tie || cJSON_IsTrue(tie);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "scale_embedding"))) {
        unum_error_set("%s: scale_embedding is not supported", path);
        goto done;
    }
    const int big = 1 << 20;
    if (config_get_int(root, "d_model", 1, big, 0, &c->d, path) ||
        config_get_int(root, "encoder_layers", 1, 1024, 0, &c->enc_layers, path) ||
        config_get_int(root, "decoder_layers", 1, 1024, 0, &c->dec_layers, path) ||
        config_get_int(root, "encoder_attention_heads", 1, 1024, 0, &c->enc_heads, path) ||
        config_get_int(root, "decoder_attention_heads", 1, 1024, 0, &c->dec_heads, path) ||
        config_get_int(root, "encoder_ffn_dim", 1, big, 0, &c->enc_ffn, path) ||
        config_get_int(root, "decoder_ffn_dim", 1, big, 0, &c->dec_ffn, path) ||
        config_get_int(root, "num_mel_bins", 1, 1024, 0, &c->n_mels, path) ||
        config_get_int(root, "max_source_positions", 1, big, 0, &c->n_audio, path) ||
        config_get_int(root, "max_target_positions", 1, big, 0, &c->n_text, path) ||
        config_get_int(root, "vocab_size", 1, 1 << 24, 0, &c->vocab, path) ||
        config_get_int(root, "decoder_start_token_id", 0, 1 << 24, 0, &c->decoder_start, path))
        goto done;
    c->eot = c->vocab; /* none unless given */
    if (config_get_int(root, "eos_token_id", 0, c->vocab, 1, &c->eot, path)) goto done;
    /* element counts go through int-sized loops: keep the shapes sane */
    if (c->n_audio > 1 << 16 || c->n_text > 1 << 16 ||
        (int64_t)2 * c->n_audio * (c->enc_ffn > c->d * 3 ? c->enc_ffn : c->d * 3) > INT32_MAX) {
        unum_error_set("%s: max_source_positions / max_target_positions are implausibly large",
                       path);
        goto done;
    }
    if (c->d % c->enc_heads || c->d % c->dec_heads) {
        unum_error_set("%s: d_model (%d) is not a multiple of the attention heads", path, c->d);
        goto done;
    }
    if (c->decoder_start >= c->vocab) {
        unum_error_set("%s: decoder_start_token_id %d is outside the vocabulary", path,
                       c->decoder_start);
        goto done;
    }
    rc = 0;
done:
    cJSON_Delete(root);
    free(path);
    return rc;
}

/* ------------------------------------------------------------ loading */

typedef struct {
    Whisper *w;
    unsigned char *took;
    const char *prefix; /* non-NULL: openai-whisper names under this prefix */
} Loader;

/* The openai-whisper name (after prefix) of an encoder tensor named as
 * Hugging Face names it (model.encoder.*), into out. */
static void openai_name(const char *prefix, const char *hf, char *out, size_t cap) {
    static const char *const map[][2] = {
        {"self_attn.q_proj.", "attn.query."},  {"self_attn.k_proj.", "attn.key."},
        {"self_attn.v_proj.", "attn.value."},  {"self_attn.out_proj.", "attn.out."},
        {"self_attn_layer_norm.", "attn_ln."}, {"fc1.", "mlp.0."},
        {"fc2.", "mlp.2."},                    {"final_layer_norm.", "mlp_ln."}};
    const char *r = hf + strlen("model.encoder.");
    int layer, at = 0;
    if (!strcmp(r, "embed_positions.weight")) {
        snprintf(out, cap, "%spositional_embedding", prefix);
    } else if (!strncmp(r, "layer_norm.", 11)) {
        snprintf(out, cap, "%sln_post.%s", prefix, r + 11);
    } else if (sscanf(r, "layers.%d.%n", &layer, &at) == 1 && at > 0) {
        const char *rest = r + at;
        for (size_t i = 0; i < sizeof map / sizeof *map; i++)
            if (!strncmp(rest, map[i][0], strlen(map[i][0]))) {
                snprintf(out, cap, "%sblocks.%d.%s%s", prefix, layer, map[i][1],
                         rest + strlen(map[i][0]));
                return;
            }
        snprintf(out, cap, "%sblocks.%d.%s", prefix, layer, rest);
    } else {
        snprintf(out, cap, "%s%s", prefix, r); /* conv1.*, conv2.* */
    }
}

/* name with the given rank and shape, uploaded as [rows x cols]. */
static int load(Loader *ld, Weight *out, const char *name, int ndim, const int64_t *shape, int rows,
                int cols) {
    char mapped[256];
    if (ld->prefix) {
        openai_name(ld->prefix, name, mapped, sizeof mapped);
        name = mapped;
    }
    const STensor *t = st_get(&ld->w->st, name, ndim, shape);
    if (!t) return -1;
    ld->took[t - ld->w->st.tensors] = 1;
    return ld->w->be->upload(ld->w->be, t, rows, cols, out);
}

static int load_mat(Loader *ld, Weight *out, const char *name, int rows, int cols) {
    int64_t s[2] = {rows, cols};
    return load(ld, out, name, 2, s, rows, cols);
}

static int load_vec(Loader *ld, Weight *out, const char *name, int n) {
    int64_t s[1] = {n};
    return load(ld, out, name, 1, s, 1, n);
}

static int load_norm(Loader *ld, Weight *w, Weight *b, const char *prefix) {
    char n[160];
    int d = ld->w->c.d;
    snprintf(n, sizeof n, "%s.weight", prefix);
    if (load_vec(ld, w, n, d)) return -1;
    snprintf(n, sizeof n, "%s.bias", prefix);
    return load_vec(ld, b, n, d);
}

static int load_attn(Loader *ld, WhisperAttn *a, const char *prefix) {
    char n[160];
    int d = ld->w->c.d;
#define M(field, suffix)                                                                           \
    (snprintf(n, sizeof n, "%s.%s", prefix, suffix), load_mat(ld, &a->field, n, d, d))
#define V(field, suffix)                                                                           \
    (snprintf(n, sizeof n, "%s.%s", prefix, suffix), load_vec(ld, &a->field, n, d))
    return M(wq, "q_proj.weight") || V(bq, "q_proj.bias") || M(wk, "k_proj.weight") ||
                   M(wv, "v_proj.weight") || V(bv, "v_proj.bias") || M(wo, "out_proj.weight") ||
                   V(bo, "out_proj.bias")
               ? -1
               : 0;
#undef M
#undef V
}

static int load_layer(Loader *ld, WhisperLayer *l, const char *side, int i, int ffn, int cross) {
    char pre[96], n[160];
    int d = ld->w->c.d;
    snprintf(pre, sizeof pre, "model.%s.layers.%d", side, i);
#define P(suffix) (snprintf(n, sizeof n, "%s.%s", pre, suffix), n)
    if (load_norm(ld, &l->ln1_w, &l->ln1_b, P("self_attn_layer_norm")) ||
        load_attn(ld, &l->self, P("self_attn")) ||
        (cross && (load_norm(ld, &l->ln2_w, &l->ln2_b, P("encoder_attn_layer_norm")) ||
                   load_attn(ld, &l->cross, P("encoder_attn")))) ||
        load_norm(ld, &l->ln3_w, &l->ln3_b, P("final_layer_norm")) ||
        load_mat(ld, &l->fc1, P("fc1.weight"), ffn, d) ||
        load_vec(ld, &l->fc1_b, P("fc1.bias"), ffn) ||
        load_mat(ld, &l->fc2, P("fc2.weight"), d, ffn) || load_vec(ld, &l->fc2_b, P("fc2.bias"), d))
        return -1;
#undef P
    return 0;
}

/* A tied checkpoint may still carry proj_out.weight; anything else unused
 * means config.json and the checkpoint disagree. */
static int check_unused(Loader *ld) {
    const STModel *st = &ld->w->st;
    for (int i = 0; i < st->n_tensors; i++)
        if (!ld->took[i] && !(ld->w->c.tied && !strcmp(st->tensors[i].name, "proj_out.weight")))
            return unum_error_set("%s: tensor '%s' is not part of the model config.json describes",
                                  st->tensors[i].file, st->tensors[i].name);
    return 0;
}

static int alloc_state(Whisper *w) {
    const WhisperConfig *c = &w->c;
    Backend *be = w->be;
    /* conv1 works on all the mel frames; everything after it on at most
     * max(n_audio, n_text) rows */
    size_t d = (size_t)c->d, frames = 2 * (size_t)c->n_audio;
    size_t rows = (size_t)(c->n_audio > c->n_text ? c->n_audio : c->n_text);
    size_t ffn = c->enc_ffn > c->dec_ffn ? (size_t)c->enc_ffn : (size_t)c->dec_ffn;
    size_t col =
        frames * c->n_mels * 3 > c->n_audio * d * 3 ? frames * c->n_mels * 3 : c->n_audio * d * 3;
    size_t mel = frames * c->n_mels > rows * d ? frames * c->n_mels : rows * d;
    struct {
        float **p;
        size_t n;
    } bufs[] = {{&w->col, col},
                {&w->x, (frames > rows ? frames : rows) * d},
                {&w->h, mel},
                {&w->q, rows * d},
                {&w->k, rows * d},
                {&w->v, rows * d},
                {&w->att, rows * d},
                {&w->ff, rows * ffn},
                {&w->enc_out, c->n_audio * d},
                {&w->logits, (size_t)LOGIT_ROWS * c->vocab}};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i].n && !(*bufs[i].p = be->alloc(be, bufs[i].n))) return -1;
    for (int i = 0; i < c->dec_layers; i++) {
        WhisperLayer *l = &w->dec[i];
        if (!(l->k_cache = be->alloc(be, (size_t)c->n_text * d)) ||
            !(l->v_cache = be->alloc(be, (size_t)c->n_text * d)) ||
            !(l->cross_k = be->alloc(be, (size_t)c->n_audio * d)) ||
            !(l->cross_v = be->alloc(be, (size_t)c->n_audio * d)))
            return -1;
    }
    return 0;
}

/* The encoder's tensors (names as Hugging Face has them; the loader maps
 * them when the checkpoint uses openai-whisper's). */
static int load_encoder(Loader *ld) {
    Whisper *w = ld->w;
    const WhisperConfig *c = &w->c;
    int64_t c1[3] = {c->d, c->n_mels, 3}, c2[3] = {c->d, c->d, 3};
    int rc = load(ld, &w->conv1, "model.encoder.conv1.weight", 3, c1, c->d, c->n_mels * 3) ||
             load_vec(ld, &w->conv1_b, "model.encoder.conv1.bias", c->d) ||
             load(ld, &w->conv2, "model.encoder.conv2.weight", 3, c2, c->d, c->d * 3) ||
             load_vec(ld, &w->conv2_b, "model.encoder.conv2.bias", c->d) ||
             load_mat(ld, &w->enc_pos, "model.encoder.embed_positions.weight", c->n_audio, c->d) ||
             load_norm(ld, &w->enc_ln_w, &w->enc_ln_b, "model.encoder.layer_norm");
    for (int i = 0; !rc && i < c->enc_layers; i++)
        rc = load_layer(ld, &w->enc[i], "encoder", i, c->enc_ffn, 0);
    return rc;
}

Whisper *whisper_load(const char *dir, Backend *be) {
    if (!be->layernorm || !be->gelu || !be->im2col3 || !be->attention_full || !be->copy) {
        unum_error_set("%s: the %s backend cannot run Whisper yet", dir, be->name);
        return NULL;
    }
    Whisper *w = xcalloc(1, sizeof *w);
    w->be = be;
    if (whisper_config_load(&w->c, dir) || st_open_dir(&w->st, dir)) {
        free(w);
        return NULL;
    }
    const WhisperConfig *c = &w->c;
    w->enc = xcalloc((size_t)c->enc_layers, sizeof *w->enc);
    w->dec = xcalloc((size_t)c->dec_layers, sizeof *w->dec);
    Loader ld = {w, xcalloc((size_t)w->st.n_tensors + 1, 1), NULL};
    int rc = load_encoder(&ld) ||
             load_mat(&ld, &w->tok, "model.decoder.embed_tokens.weight", c->vocab, c->d) ||
             load_mat(&ld, &w->dec_pos, "model.decoder.embed_positions.weight", c->n_text, c->d) ||
             load_norm(&ld, &w->dec_ln_w, &w->dec_ln_b, "model.decoder.layer_norm");
    if (!rc) {
        if (c->tied) w->proj = w->tok;
        else rc = load_mat(&ld, &w->proj, "proj_out.weight", c->vocab, c->d);
    }
    for (int i = 0; !rc && i < c->dec_layers; i++)
        rc = load_layer(&ld, &w->dec[i], "decoder", i, c->dec_ffn, 1);
    if (!rc) rc = check_unused(&ld);
    free(ld.took);
    if (!rc) rc = alloc_state(w);
    if (rc) {
        unum_error_wrap("%s", dir);
        whisper_free(w);
        return NULL;
    }
    return w;
}

/* An encoder inside another checkpoint has no config.json of its own: its
 * shapes give it (heads: head_dim 64, as in every published Whisper). */
static int config_from_shapes(WhisperConfig *c, const STModel *st, const char *prefix,
                              const char *dir) {
    char n[256];
    memset(c, 0, sizeof *c);
    snprintf(n, sizeof n, "%sconv1.weight", prefix);
    const STensor *conv = st_find(st, n);
    snprintf(n, sizeof n, "%spositional_embedding", prefix);
    const STensor *pos = st_find(st, n);
    snprintf(n, sizeof n, "%sblocks.0.mlp.0.weight", prefix);
    const STensor *fc1 = st_find(st, n);
    if (!conv || conv->ndim != 3 || !pos || pos->ndim != 2 || !fc1 || fc1->ndim != 2)
        return unum_error_set("%s: no Whisper encoder under %s (conv1.weight, "
                              "positional_embedding, blocks.0.mlp.0.weight)",
                              dir, prefix);
    c->d = (int)conv->shape[0];
    c->n_mels = (int)conv->shape[1];
    c->n_audio = (int)pos->shape[0];
    c->enc_ffn = (int)fc1->shape[0];
    for (c->enc_layers = 0; c->enc_layers < 1024; c->enc_layers++) {
        snprintf(n, sizeof n, "%sblocks.%d.attn.query.weight", prefix, c->enc_layers);
        if (!st_find(st, n)) break;
    }
    if (c->d % 64 || c->d < 64 || c->n_mels < 1 || c->n_mels > 1024 || c->n_audio < 1 ||
        c->n_audio > 1 << 16 || c->enc_ffn < 1)
        return unum_error_set("%s: the encoder under %s has implausible shapes (d %d, mels %d, "
                              "positions %d)",
                              dir, prefix, c->d, c->n_mels, c->n_audio);
    c->enc_heads = c->d / 64;
    return 0;
}

Whisper *whisper_load_encoder(const char *dir, const char *prefix, Backend *be) {
    if (!be->layernorm || !be->gelu || !be->im2col3 || !be->attention_full || !be->copy) {
        unum_error_set("%s: the %s backend cannot run Whisper yet", dir, be->name);
        return NULL;
    }
    Whisper *w = xcalloc(1, sizeof *w);
    w->be = be;
    int rc = st_open_dir(&w->st, dir);
    if (!rc) rc = prefix ? config_from_shapes(&w->c, &w->st, prefix, dir)
                         : whisper_config_load(&w->c, dir);
    if (rc) {
        st_close(&w->st);
        free(w);
        return NULL;
    }
    WhisperConfig *c = &w->c;
    c->dec_layers = c->dec_heads = c->dec_ffn = c->n_text = c->vocab = 0; /* no decoder */
    w->enc = xcalloc((size_t)c->enc_layers, sizeof *w->enc);
    Loader ld = {w, xcalloc((size_t)w->st.n_tensors + 1, 1), prefix};
    rc = load_encoder(&ld);
    free(ld.took);
    if (!rc) rc = alloc_state(w);
    if (rc) {
        unum_error_wrap("%s", dir);
        whisper_free(w);
        return NULL;
    }
    return w;
}

static void release_attn(Backend *be, WhisperAttn *a) {
    Weight *ws[] = {&a->wq, &a->bq, &a->wk, &a->wv, &a->bv, &a->wo, &a->bo};
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
        if (ws[i]->data) be->release(be, ws[i]);
}

static void release_layer(Backend *be, WhisperLayer *l) {
    release_attn(be, &l->self);
    release_attn(be, &l->cross);
    Weight *ws[] = {&l->ln1_w, &l->ln1_b, &l->ln2_w, &l->ln2_b, &l->ln3_w,
                    &l->ln3_b, &l->fc1,   &l->fc1_b, &l->fc2,   &l->fc2_b};
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
        if (ws[i]->data) be->release(be, ws[i]);
    float *bufs[] = {l->k_cache, l->v_cache, l->cross_k, l->cross_v};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) be->free(be, bufs[i]);
}

void whisper_free(Whisper *w) {
    if (!w) return;
    Backend *be = w->be;
    if (w->slot_k) whisper_slots(w, 1); /* back to the layers' own caches */
    for (int i = 0; w->enc && i < w->c.enc_layers; i++) release_layer(be, &w->enc[i]);
    for (int i = 0; w->dec && i < w->c.dec_layers; i++) release_layer(be, &w->dec[i]);
    if (!w->c.tied && w->proj.data) be->release(be, &w->proj);
    Weight *ws[] = {&w->conv1,    &w->conv1_b, &w->conv2,   &w->conv2_b,  &w->enc_pos, &w->enc_ln_w,
                    &w->enc_ln_b, &w->tok,     &w->dec_pos, &w->dec_ln_w, &w->dec_ln_b};
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
        if (ws[i]->data) be->release(be, ws[i]);
    float *bufs[] = {w->col, w->x, w->h, w->q, w->k, w->v, w->att, w->ff, w->enc_out, w->logits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) be->free(be, bufs[i]);
    free(w->slot_k);
    free(w->slot_v);
    free(w->slot_past);
    free(w->enc);
    free(w->dec);
    st_close(&w->st);
    free(w);
}

/* ------------------------------------------------------------ forward */

/* x += fc2(gelu(fc1(LN(x)))) over T rows. */
static void mlp_block(Whisper *w, WhisperLayer *l, int T) {
    Backend *be = w->be;
    size_t n = (size_t)T * w->c.d;
    be->layernorm(be, w->h, w->x, &l->ln3_w, &l->ln3_b, T, LN_EPS);
    be->matmul(be, w->ff, w->h, &l->fc1, &l->fc1_b, T);
    be->gelu(be, w->ff, (size_t)T * l->fc1.rows);
    be->matmul(be, w->h, w->ff, &l->fc2, &l->fc2_b, T);
    be->add(be, w->x, w->h, n);
}

/* positions from..from+T-1 of table, added to x */
static void add_positions(Whisper *w, const Weight *table, int from, int T) {
    int32_t *pos = xmalloc(sizeof(int32_t) * (size_t)T);
    for (int t = 0; t < T; t++) pos[t] = from + t;
    w->be->embed(w->be, w->h, table, pos, T);
    w->be->add(w->be, w->x, w->h, (size_t)T * w->c.d);
    free(pos);
}

int whisper_encode(Whisper *w, const float *mel, int n_frames) {
    const WhisperConfig *c = &w->c;
    Backend *be = w->be;
    int S = c->n_audio, d = c->d, frames = 2 * S, hd = d / c->enc_heads;
    w->encoded = 0; /* until this window's encoder output and cross K/V are whole */
    if (n_frames != frames)
        return unum_error_set("whisper: the encoder takes %d mel frames, got %d", frames, n_frames);
    /* channel-major mel to time-major rows */
    float *tm = malloc(sizeof(float) * (size_t)frames * c->n_mels);
    if (!tm) return unum_error_set("whisper: out of memory for the mel input");
    for (int m = 0; m < c->n_mels; m++)
        for (int t = 0; t < frames; t++)
            tm[(size_t)t * c->n_mels + m] = mel[(size_t)m * frames + t];
    be->from_host(be, w->h, tm, (size_t)frames * c->n_mels);
    free(tm);

    be->im2col3(be, w->col, w->h, frames, c->n_mels, 1);
    be->matmul(be, w->x, w->col, &w->conv1, &w->conv1_b, frames);
    be->gelu(be, w->x, (size_t)frames * d);
    be->im2col3(be, w->col, w->x, frames, d, 2);
    be->matmul(be, w->x, w->col, &w->conv2, &w->conv2_b, S);
    be->gelu(be, w->x, (size_t)S * d);
    add_positions(w, &w->enc_pos, 0, S);

    for (int i = 0; i < c->enc_layers; i++) {
        WhisperLayer *l = &w->enc[i];
        be->layernorm(be, w->h, w->x, &l->ln1_w, &l->ln1_b, S, LN_EPS);
        be->matmul(be, w->q, w->h, &l->self.wq, &l->self.bq, S);
        be->matmul(be, w->k, w->h, &l->self.wk, NULL, S);
        be->matmul(be, w->v, w->h, &l->self.wv, &l->self.bv, S);
        be->attention_full(be, w->att, w->q, w->k, w->v, S, S, c->enc_heads, hd);
        be->matmul(be, w->h, w->att, &l->self.wo, &l->self.bo, S);
        be->add(be, w->x, w->h, (size_t)S * d);
        mlp_block(w, l, S);
    }
    be->layernorm(be, w->enc_out, w->x, &w->enc_ln_w, &w->enc_ln_b, S, LN_EPS);
    /* each decoder layer's cross-attention keys and values, once per window */
    for (int i = 0; i < c->dec_layers; i++) {
        WhisperLayer *l = &w->dec[i];
        be->matmul(be, l->cross_k, w->enc_out, &l->cross.wk, NULL, S);
        be->matmul(be, l->cross_v, w->enc_out, &l->cross.wv, &l->cross.bv, S);
    }
    if (be->sync(be)) return -1;
    w->encoded = 1;
    w->n_past = 0;
    for (int s = 0; s < w->n_slots; s++) w->slot_past[s] = 0;
    return 0;
}

void whisper_encoder_output(Whisper *w, float *out) {
    if (w->encoded) w->be->to_host(w->be, out, w->enc_out, (size_t)w->c.n_audio * w->c.d);
}

int whisper_decode(Whisper *w, const int32_t *ids, int T, float *logits, int all_logits) {
    const WhisperConfig *c = &w->c;
    Backend *be = w->be;
    int d = c->d, hd = d / c->dec_heads, pos0 = w->n_past;
    if (!w->encoded) return unum_error_set("whisper: decode before encode");
    if (!c->vocab) return unum_error_set("whisper: this model was loaded without its decoder");
    if (T <= 0 || T > c->n_text - pos0)
        return unum_error_set("whisper: %d tokens at position %d do not fit the %d text positions",
                              T, pos0, c->n_text);
    for (int t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= c->vocab)
            return unum_error_set("whisper: token id %d is outside the vocabulary [0, %d)", ids[t],
                                  c->vocab);
    be->embed(be, w->x, &w->tok, ids, T);
    add_positions(w, &w->dec_pos, pos0, T);
    for (int i = 0; i < c->dec_layers; i++) {
        WhisperLayer *l = &w->dec[i];
        float *kc = l->k_cache + (size_t)pos0 * d, *vc = l->v_cache + (size_t)pos0 * d;
        be->layernorm(be, w->h, w->x, &l->ln1_w, &l->ln1_b, T, LN_EPS);
        be->matmul(be, w->q, w->h, &l->self.wq, &l->self.bq, T);
        be->matmul(be, kc, w->h, &l->self.wk, NULL, T);
        be->matmul(be, vc, w->h, &l->self.wv, &l->self.bv, T);
        be->attention(be, w->att, w->q, l->k_cache, l->v_cache, T, pos0, c->dec_heads, c->dec_heads,
                      hd);
        be->matmul(be, w->h, w->att, &l->self.wo, &l->self.bo, T);
        be->add(be, w->x, w->h, (size_t)T * d);

        be->layernorm(be, w->h, w->x, &l->ln2_w, &l->ln2_b, T, LN_EPS);
        be->matmul(be, w->q, w->h, &l->cross.wq, &l->cross.bq, T);
        be->attention_full(be, w->att, w->q, l->cross_k, l->cross_v, T, c->n_audio, c->dec_heads,
                           hd);
        be->matmul(be, w->h, w->att, &l->cross.wo, &l->cross.bo, T);
        be->add(be, w->x, w->h, (size_t)T * d);
        mlp_block(w, l, T);
    }
    int first = all_logits ? 0 : T - 1;
    for (int r = first; r < T; r += LOGIT_ROWS) {
        int n = T - r < LOGIT_ROWS ? T - r : LOGIT_ROWS;
        be->layernorm(be, w->h, w->x + (size_t)r * d, &w->dec_ln_w, &w->dec_ln_b, n, LN_EPS);
        be->matmul(be, w->logits, w->h, &w->proj, NULL, n);
        be->to_host(be, logits + (size_t)(r - first) * c->vocab, w->logits, (size_t)n * c->vocab);
    }
    if (be->sync(be)) return -1;
    w->n_past += T;
    return 0;
}

void whisper_rewind(Whisper *w, int n) {
    if (n >= 0 && n < w->n_past) w->n_past = n;
}

/* ------------------------------------------------------------ cache slots */

int whisper_slots(Whisper *w, int n) {
    const WhisperConfig *c = &w->c;
    int L = c->dec_layers;
    if (n < 1 || n > 16) return unum_error_set("whisper: %d cache slots (1 to 16)", n);
    whisper_slot_select(w, 0);
    if (!w->slot_k) { /* slot 0: the layers' own caches */
        w->slot_k = xcalloc(16 * (size_t)L, sizeof *w->slot_k);
        w->slot_v = xcalloc(16 * (size_t)L, sizeof *w->slot_v);
        w->slot_past = xcalloc(16, sizeof *w->slot_past);
        for (int i = 0; i < L; i++) w->slot_k[i] = w->dec[i].k_cache, w->slot_v[i] = w->dec[i].v_cache;
        w->n_slots = 1;
    }
    for (int s = n; s < w->n_slots; s++) /* fewer: free the extra ones */
        for (int i = 0; i < L; i++) {
            w->be->free(w->be, w->slot_k[s * L + i]);
            w->be->free(w->be, w->slot_v[s * L + i]);
            w->slot_k[s * L + i] = w->slot_v[s * L + i] = NULL;
        }
    if (n < w->n_slots) w->n_slots = n;
    for (; w->n_slots < n; w->n_slots++) {
        int s = w->n_slots;
        for (int i = 0; i < L; i++) {
            size_t sz = (size_t)c->n_text * c->d;
            if (!(w->slot_k[s * L + i] = w->be->alloc(w->be, sz)) ||
                !(w->slot_v[s * L + i] = w->be->alloc(w->be, sz))) {
                w->n_slots = s + 1; /* frees what this slot got */
                whisper_slots(w, s);
                return unum_error_wrap("whisper: decoder cache slot %d", s);
            }
        }
        w->slot_past[s] = 0;
    }
    return 0;
}

void whisper_slot_select(Whisper *w, int s) {
    if (!w->slot_k || s < 0 || s >= w->n_slots || s == w->slot) return;
    int L = w->c.dec_layers;
    w->slot_past[w->slot] = w->n_past;
    for (int i = 0; i < L; i++) {
        w->dec[i].k_cache = w->slot_k[s * L + i];
        w->dec[i].v_cache = w->slot_v[s * L + i];
    }
    w->slot = s;
    w->n_past = w->slot_past[s];
}

void whisper_slot_copy(Whisper *w, int dst, int src, int from) {
    if (!w->slot_k || dst == src || dst < 0 || src < 0 || dst >= w->n_slots || src >= w->n_slots)
        return;
    int L = w->c.dec_layers, d = w->c.d;
    w->slot_past[w->slot] = w->n_past;
    int n = w->slot_past[src];
    if (from < n)
        for (int i = 0; i < L; i++) {
            size_t off = (size_t)from * d, len = (size_t)(n - from) * d;
            w->be->copy(w->be, w->slot_k[dst * L + i] + off, w->slot_k[src * L + i] + off, len);
            w->be->copy(w->be, w->slot_v[dst * L + i] + off, w->slot_v[src * L + i] + off, len);
        }
    w->slot_past[dst] = n;
    if (dst == w->slot) w->n_past = n;
}
