/* qwen2.c - Qwen2ForCausalLM, read top to bottom like the model card:
 *
 *   x = embed_tokens[ids]
 *   for each layer:
 *       h = rmsnorm(x) ; q,k,v = h Wq+bq, h Wk+bk, h Wv+bv ; rope(q, k)
 *       x = x + o_proj(causal_gqa_attention(q, k_cache, v_cache))
 *       h = rmsnorm(x) ; x = x + down(silu(gate(h)) * up(h))
 *   logits = lm_head(rmsnorm(x))
 *
 * The other Llama-style families of family.h run here too, their
 * differences being the config's data: no q/k/v biases, the embeddings
 * times embed_scale, each "x = x + ..." branch times residual_scale, the
 * final hidden state times logit_scale, and their RoPE (MiniCPM).
 *
 * With LoRA adapters active, each projection P(h) = h W^T + b becomes
 * P(h) + B (A h) (project() below), the adapters' low-rank product added
 * after the base projection, whatever the base weights' format.
 *
 * Every operation goes through the backend's ops table (ops.h); where the
 * backend fuses a step (norm into the projection after it, bias and RoPE
 * and the cache write into the QKV projection, SiLU*up into gate/up, the
 * residual add into the output projections) the model uses the fused op,
 * and otherwise the primitives it stands for. */
#include "engine/qwen2.h"
#include "engine/family.h"

#include "engine/base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CTX 4096
#define MAX_BATCH 512
#define LOGIT_ROWS 16 /* rows of logits computed per lm_head call */

/* ------------------------------------------------------------ loading */

typedef struct {
    Qwen2 *m;
    unsigned char *took; /* per checkpoint tensor: consumed by the model */
} Loader;

/* Fetches name with shape [rows x cols] (a vector when rows == 0) and
 * uploads it. */
static int load_weight(Loader *ld, Weight *w, const char *name, int rows, int cols) {
    int64_t shape2[2] = {rows, cols}, shape1[1] = {cols};
    const STensor *t =
        rows ? st_get(&ld->m->st, name, 2, shape2) : st_get(&ld->m->st, name, 1, shape1);
    if (!t) return -1;
    ld->took[t - ld->m->st.tensors] = 1;
    return ld->m->be->upload(ld->m->be, t, rows ? rows : 1, cols, w);
}

/* A linear layer's matrix prefix.weight [rows x cols], or its quantized
 * form (prefix.qweight and the rest, quant.h) when config.json says the
 * checkpoint is quantized and the layer is stored so. */
static int load_matrix(Loader *ld, Weight *w, const char *prefix, int rows, int cols) {
    Qwen2 *m = ld->m;
    char name[160];
    if (m->c.quant.method != QUANT_NONE && quant_present(&m->st, prefix)) {
        if (!m->be->upload_quant)
            return unum_error_set("%s: the %s backend has no kernels for quantized weights",
                                  prefix, m->be->name);
        QMat q;
        if (quant_load(&q, &m->st, &m->c.quant, prefix, rows, cols, ld->took)) return -1;
        return m->be->upload_quant(m->be, &q, w);
    }
    snprintf(name, sizeof name, "%s.weight", prefix);
    return load_weight(ld, w, name, rows, cols);
}

const char *qwen2_prefix(const Qwen2Config *c) {
    return c->family && c->family->prefix ? c->family->prefix : "model.";
}

static int load_layer(Loader *ld, int i) {
    const Qwen2Config *c = &ld->m->c;
    Qwen2Layer *l = &ld->m->layers[i];
    int D = c->hidden, F = c->intermediate;
    int qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    char n[128];
    const char *pre = qwen2_prefix(c);
#define W(field, suffix, rows, cols)                                                               \
    (snprintf(n, sizeof n, "%slayers.%d.%s", pre, i, suffix),                                      \
     load_weight(ld, &l->field, n, rows, cols))
#define M(field, suffix, rows, cols)                                                               \
    (snprintf(n, sizeof n, "%slayers.%d.%s", pre, i, suffix),                                      \
     load_matrix(ld, &l->field, n, rows, cols))
    int b = c->qkv_bias; /* a family without biases leaves bq, bk, bv empty */
    if (W(attn_norm, "input_layernorm.weight", 0, D) || M(wq, "self_attn.q_proj", qd, D) ||
        (b && W(bq, "self_attn.q_proj.bias", 0, qd)) || M(wk, "self_attn.k_proj", kvd, D) ||
        (b && W(bk, "self_attn.k_proj.bias", 0, kvd)) || M(wv, "self_attn.v_proj", kvd, D) ||
        (b && W(bv, "self_attn.v_proj.bias", 0, kvd)) || M(wo, "self_attn.o_proj", D, qd) ||
        W(mlp_norm, "post_attention_layernorm.weight", 0, D) ||
        M(gate, "mlp.gate_proj", F, D) || M(up, "mlp.up_proj", F, D) ||
        M(down, "mlp.down_proj", D, F))
        return -1;
#undef M
#undef W
    return 0;
}

/* Tensors the model does not use mean config.json and the checkpoint
 * disagree (say, more layers than num_hidden_layers): refuse them, by name.
 * A tied model may still carry lm_head.weight, and old exports carry
 * rotary_emb.inv_freq. */
static int check_unused(Loader *ld) {
    const STModel *st = &ld->m->st;
    for (int i = 0; i < st->n_tensors; i++) {
        const char *name = st->tensors[i].name, *file = st->tensors[i].file;
        size_t len = strlen(name);
        int layer;
        if (ld->took[i] || (ld->m->c.tied && !strcmp(name, "lm_head.weight")) ||
            (len > 19 && !strcmp(name + len - 19, "rotary_emb.inv_freq")))
            continue;
        /* a speech LLM's encoder, projector and speech generator (speech.c
         * reads the first two; the third makes speech, which unum does not) */
        if (ld->m->c.speech && (!strncmp(name, "model.speech_encoder.", 21) ||
                                !strncmp(name, "model.speech_projector.", 23) ||
                                !strncmp(name, "speech_generator.", 17)))
            continue;
        const ModelFamily *f = ld->m->c.family;
        int other = 0;
        for (const char *const *o = f ? f->others : NULL; o && *o && !other; o++)
            other = !strncmp(name, *o, strlen(*o));
        if (other) continue;
        const char *pre = qwen2_prefix(&ld->m->c);
        size_t np = strlen(pre);
        if (!strncmp(name, pre, np) && sscanf(name + np, "layers.%d.", &layer) == 1 &&
            layer >= ld->m->c.n_layers)
            return unum_error_set("%s: tensor '%s' belongs to layer %d but config.json has "
                                  "num_hidden_layers %d",
                                  file, name, layer, ld->m->c.n_layers);
        return unum_error_set("%s: tensor '%s' is not part of the model config.json describes",
                              file, name);
    }
    return 0;
}

static int alloc_state(Qwen2 *m) {
    const Qwen2Config *c = &m->c;
    Backend *be = m->be;
    size_t B = (size_t)m->max_batch, D = (size_t)c->hidden;
    size_t qd = (size_t)c->n_heads * c->head_dim, kvd = (size_t)c->n_kv_heads * c->head_dim;
    size_t F = (size_t)c->intermediate;
    m->logits_rows = LOGIT_ROWS;
    struct {
        float **p;
        size_t n;
    } bufs[] = {{&m->x, B * D},
                {&m->xn, B * D},
                {&m->q, B * qd},
                {&m->att, B * qd},
                {&m->g, B * F},
                {&m->u, B * F},
                {&m->logits, (size_t)m->logits_rows * c->vocab}};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (!(*bufs[i].p = be->alloc(be, bufs[i].n))) return -1;
    for (int i = 0; i < c->n_layers; i++) {
        Qwen2Layer *l = &m->layers[i];
        if (!(l->k_cache = be->alloc(be, (size_t)m->ctx * kvd)) ||
            !(l->v_cache = be->alloc(be, (size_t)m->ctx * kvd)))
            return unum_error_wrap("KV cache of %d positions", m->ctx);
    }
    return 0;
}

/* Reads in the pages of a weight used in place (the CPU backend's mmap). */
static void touch(const Weight *w) {
    if (!w->data || w->rows <= 0) return;
    size_t n = (size_t)w->rows * (size_t)(w->cols > 0 ? w->cols : 1) * dtype_size(w->dtype);
    const volatile unsigned char *p = w->data;
    if (w->quant) { /* the packed words; scales and zeros are small */
        n = (size_t)w->rows * (size_t)w->cols / (32 / w->quant->bits) * 4;
        p = (const volatile unsigned char *)w->quant->qw;
    }
    unsigned char sum = 0;
    for (size_t i = 0; i < n; i += 4096) sum ^= p[i];
    (void)sum;
}

static void touch_layer(const Qwen2Layer *l) {
    const Weight *w[] = {&l->attn_norm, &l->wq, &l->wk,       &l->wv,   &l->bq, &l->bk,
                         &l->bv,        &l->wo, &l->mlp_norm, &l->gate, &l->up, &l->down};
    for (size_t j = 0; j < sizeof w / sizeof w[0]; j++) touch(w[j]);
}

Qwen2 *qwen2_load(const char *dir, Backend *be, int ctx) {
    return qwen2_load_progress(dir, be, ctx, NULL, NULL);
}

Qwen2 *qwen2_load_progress(const char *dir, Backend *be, int ctx, qwen2_progress_fn fn,
                           void *user) {
    Qwen2 *m = xcalloc(1, sizeof *m);
    m->be = be;
    if (qwen2_config_load(&m->c, dir) || st_open_dir(&m->st, dir)) {
        free(m);
        return NULL;
    }
    const Qwen2Config *c = &m->c;
    m->ctx = ctx > 0 ? ctx : (c->max_pos < DEFAULT_CTX ? c->max_pos : DEFAULT_CTX);
    if (c->longrope && m->ctx > c->max_pos) { /* past it the published code changes factors */
        unum_error_set("%s: a context of %d positions is more than the %d that LongRoPE "
                       "(max_position_embeddings) is computed for",
                       dir, m->ctx, c->max_pos);
        st_close(&m->st);
        free(m);
        return NULL;
    }
    m->max_batch = MAX_BATCH;
    m->layers = xcalloc((size_t)c->n_layers, sizeof *m->layers);
    Loader ld = {m, xcalloc((size_t)m->st.n_tensors + 1, 1)};
    char en[160], nn[160];
    snprintf(en, sizeof en, "%sembed_tokens.weight", qwen2_prefix(c));
    snprintf(nn, sizeof nn, "%snorm.weight", qwen2_prefix(c));
    int rc = load_weight(&ld, &m->embed, en, c->vocab, c->hidden) ||
             load_weight(&ld, &m->final_norm, nn, 0, c->hidden);
    for (int i = 0; !rc && i < c->n_layers; i++) {
        rc = load_layer(&ld, i);
        if (!rc && fn) {
            if (!be->device_bytes && !rc) touch_layer(&m->layers[i]);
            fn(user, (double)(i + 1) / (c->n_layers + 1));
        }
    }
    if (!rc) {
        if (c->tied) m->lm_head = m->embed;
        else rc = load_matrix(&ld, &m->lm_head, "lm_head", c->vocab, c->hidden);
    }
    if (!rc) rc = check_unused(&ld);
    free(ld.took);
    if (!rc) rc = alloc_state(m);
    if (rc) {
        unum_error_wrap("%s", dir);
        qwen2_free(m);
        return NULL;
    }
    if (fn) {
        if (!be->device_bytes) touch(&m->embed);
        fn(user, 1.0);
    }
    return m;
}

static void sites_free(Qwen2 *m);

void qwen2_free(Qwen2 *m) {
    if (!m) return;
    Backend *be = m->be;
    if (be->step_forget) be->step_forget(be, m);
    sites_free(m);
    float *bufs[] = {m->x, m->xn, m->q, m->att, m->g, m->u, m->logits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) be->free(be, bufs[i]);
    for (int i = 0; m->layers && i < m->c.n_layers; i++) {
        Qwen2Layer *l = &m->layers[i];
        if (l->k_cache) be->free(be, l->k_cache);
        if (l->v_cache) be->free(be, l->v_cache);
        Weight *w[] = {&l->attn_norm, &l->wq, &l->wk,       &l->wv,   &l->bq, &l->bk,
                       &l->bv,        &l->wo, &l->mlp_norm, &l->gate, &l->up, &l->down};
        for (size_t j = 0; j < sizeof w / sizeof w[0]; j++)
            if (w[j]->data) be->release(be, w[j]);
    }
    if (!m->c.tied && m->lm_head.data) be->release(be, &m->lm_head);
    if (m->embed.data) be->release(be, &m->embed);
    if (m->final_norm.data) be->release(be, &m->final_norm);
    free(m->layers);
    st_close(&m->st);
    free(m);
}


/* ------------------------------------------------------------ adapters */

static void sites_free(Qwen2 *m) {
    Backend *be = m->be;
    for (int i = 0; m->layers && i < m->c.n_layers; i++)
        for (int j = 0; j < LORA_N_MODULES; j++) {
            LoraSite *s = &m->layers[i].lora[j];
            if (s->A.data) be->release(be, &s->A);
            if (s->Bt.data) be->release(be, &s->Bt);
            free(s->host_A);
            free(s->host_Bt);
            memset(s, 0, sizeof *s);
        }
    if (m->lora_a) be->free(be, m->lora_a);
    m->lora_a = NULL;
    m->n_adapters = 0;
}

/* Uploads a host float32 matrix [rows x cols] as a weight. */
static int upload_f32(Backend *be, float *host, int rows, int cols, const char *what, Weight *w) {
    STensor t = {0};
    t.name = (char *)what;
    t.dtype = DT_F32;
    t.ndim = 2;
    t.shape[0] = rows, t.shape[1] = cols;
    t.numel = (int64_t)rows * cols;
    t.data = host;
    t.nbytes = sizeof(float) * (size_t)t.numel;
    t.file = what;
    return be->upload(be, &t, rows, cols, w);
}

/* Stacks the adapters of one module of one layer into s. */
static int site_build(Qwen2 *m, LoraSite *s, int layer, LoraModule mod, LoraAdapter *const *ads,
                      const float *scales, int n) {
    int out, in, R = 0;
    lora_module_shape(&m->c, mod, &out, &in);
    for (int k = 0; k < n; k++) R += lora_pair(ads[k], layer, mod)->rank;
    if (!R) return 0;
    s->rank = R;
    s->host_A = malloc(sizeof(float) * (size_t)R * in);
    s->host_Bt = malloc(sizeof(float) * (size_t)R * out);
    if (!s->host_A || !s->host_Bt) return unum_error_set("out of memory for adapters");
    for (int k = 0, r0 = 0; k < n; k++) {
        const LoraPair *p = lora_pair(ads[k], layer, mod);
        if (!p->rank) continue;
        memcpy(s->host_A + (size_t)r0 * in, p->A, sizeof(float) * (size_t)p->rank * in);
        float f = scales[k] * p->scale;
        for (int r = 0; r < p->rank; r++)
            for (int o = 0; o < out; o++)
                s->host_Bt[(size_t)(r0 + r) * out + o] = f * p->B[(size_t)o * p->rank + r];
        r0 += p->rank;
    }
    char what[96];
    snprintf(what, sizeof what, "adapters of layer %d %s", layer, lora_module_name(mod));
    return upload_f32(m->be, s->host_A, R, in, what, &s->A) ||
           upload_f32(m->be, s->host_Bt, R, out, what, &s->Bt);
}

int qwen2_set_adapters(Qwen2 *m, LoraAdapter *const *ads, const float *scales, int n) {
    Backend *be = m->be;
    /* a recorded step ran the blocks without (or with other) adapters */
    if (be->step_forget) be->step_forget(be, m);
    sites_free(m);
    for (int k = 0; k < n; k++)
        if (!lora_fits(ads[k], &m->c))
            return unum_error_set("adapter %s was made for a model of other shapes than this "
                                  "one",
                                  ads[k]->dir);
    int max_rank = 0;
    for (int i = 0; i < m->c.n_layers; i++)
        for (int j = 0; j < LORA_N_MODULES; j++) {
            LoraSite *s = &m->layers[i].lora[j];
            if (site_build(m, s, i, j, ads, scales, n)) {
                sites_free(m);
                return -1;
            }
            if (s->rank > max_rank) max_rank = s->rank;
        }
    if (max_rank) {
        size_t B = (size_t)m->max_batch;
        if (!(m->lora_a = be->alloc(be, B * max_rank))) {
            sites_free(m);
            return -1;
        }
    }
    m->n_adapters = n;
    return 0;
}

/* The bytes of one weight a decode step reads. */
static size_t weight_bytes(const Weight *w) {
    if (!w->data) return 0;
    if (w->quant) return quant_bytes(w->quant);
    return (size_t)w->rows * (size_t)w->cols * dtype_size(w->dtype);
}

size_t qwen2_bytes_per_token(const Qwen2 *m) {
    size_t n = weight_bytes(&m->final_norm) + weight_bytes(&m->lm_head) +
               (size_t)m->embed.cols * dtype_size(m->embed.dtype); /* one embedding row */
    for (int i = 0; i < m->c.n_layers; i++) {
        const Qwen2Layer *l = &m->layers[i];
        const Weight *w[] = {&l->attn_norm, &l->wq, &l->wk,       &l->wv,   &l->bq, &l->bk,
                             &l->bv,        &l->wo, &l->mlp_norm, &l->gate, &l->up, &l->down};
        for (size_t j = 0; j < sizeof w / sizeof w[0]; j++) n += weight_bytes(w[j]);
        for (int j = 0; j < LORA_N_MODULES; j++) /* active adapters */
            n += weight_bytes(&l->lora[j].A) + weight_bytes(&l->lora[j].Bt);
    }
    return n;
}

const char *qwen2_quant_name(const Qwen2 *m, char *buf, size_t n) {
    return quant_config_name(&m->c.quant, buf, n);
}

/* ------------------------------------------------------------ forward */

/* Each step of a block below is one fused op where the backend has it and
 * otherwise the primitives it stands for (ops.h). */

/* y += B (A x): a layer's adapters, after its base projection. */
static void adapters_add(Qwen2 *m, float *y, const float *x, const LoraSite *s, int T) {
    if (!s->rank) return;
    Backend *be = m->be;
    be->matmul(be, m->lora_a, x, &s->A, NULL, T);
    be->addmm(be, y, m->lora_a, &s->Bt, T);
}

/* A bias the family may not have (NULL then, for the ops). */
static const Weight *bias(const Weight *b) { return b->data ? b : NULL; }

/* y = x W^T + b + B (A x): a projection with its adapters. */
static void project(Qwen2 *m, float *y, const float *x, const Weight *W, const Weight *b,
                    const LoraSite *s, int T) {
    m->be->matmul(m->be, y, x, W, b, T);
    adapters_add(m, y, x, s, T);
}

/* h = rmsnorm(x) ; q,k,v = h Wq+bq, h Wk+bk, h Wv+bv ; rope(q, k); the new
 * keys and values are written straight into the cache at pos0. */
static void attn_input(Qwen2 *m, Qwen2Layer *l, int T, int pos0) {
    const Qwen2Config *c = &m->c;
    Backend *be = m->be;
    int hd = c->head_dim, Hq = c->n_heads, Hkv = c->n_kv_heads;
    float eps = (float)c->rms_eps;
    int adapted = l->lora[LORA_Q].rank || l->lora[LORA_K].rank || l->lora[LORA_V].rank;
    if (be->qkv_rope && !adapted) {
        QkvWeights w = {&l->attn_norm, &l->wq,       &l->wk,      &l->wv,
                        bias(&l->bq),  bias(&l->bk), bias(&l->bv)};
        be->qkv_rope(be, m->q, l->k_cache, l->v_cache, m->xn, m->x, &w, T, pos0, Hq, Hkv, hd,
                     &c->rope, eps);
        return;
    }
    size_t kvd = (size_t)Hkv * hd;
    float *kc = l->k_cache + (size_t)pos0 * kvd, *vc = l->v_cache + (size_t)pos0 * kvd;
    be->rmsnorm(be, m->xn, m->x, &l->attn_norm, T, eps);
    project(m, m->q, m->xn, &l->wq, bias(&l->bq), &l->lora[LORA_Q], T);
    project(m, kc, m->xn, &l->wk, bias(&l->bk), &l->lora[LORA_K], T);
    project(m, vc, m->xn, &l->wv, bias(&l->bv), &l->lora[LORA_V], T);
    be->rope(be, m->q, T, Hq, hd, pos0, &c->rope);
    be->rope(be, kc, T, Hkv, hd, pos0, &c->rope);
}

/* x = x + a W^T + B (A a) (an output projection, its adapters and the
 * residual add); x = x + residual_scale * (a W^T + B (A a)) in a family
 * that scales its residual branches */
static void residual_matmul(Qwen2 *m, const float *a, const Weight *W, const LoraSite *s, int T) {
    Backend *be = m->be;
    if (m->c.residual_scale != 1.0f) {
        size_t n = (size_t)T * m->c.hidden;
        project(m, m->xn, a, W, NULL, s, T);
        be->scale(be, m->xn, m->c.residual_scale, n);
        be->add(be, m->x, m->xn, n);
        return;
    }
    if (be->matmul_add) {
        be->matmul_add(be, m->x, a, W, T);
    } else {
        be->matmul(be, m->xn, a, W, NULL, T);
        be->add(be, m->x, m->xn, (size_t)T * m->c.hidden);
    }
    adapters_add(m, m->x, a, s, T);
}

/* g = silu(gate(h)) * up(h) with h = rmsnorm(x) */
static void mlp_input(Qwen2 *m, Qwen2Layer *l, int T) {
    Backend *be = m->be;
    float eps = (float)m->c.rms_eps;
    if (be->rmsnorm_swiglu && !l->lora[LORA_GATE].rank && !l->lora[LORA_UP].rank) {
        be->rmsnorm_swiglu(be, m->g, m->u, m->xn, m->x, &l->mlp_norm, &l->gate, &l->up, T, eps);
        return;
    }
    be->rmsnorm(be, m->xn, m->x, &l->mlp_norm, T, eps);
    project(m, m->g, m->xn, &l->gate, NULL, &l->lora[LORA_GATE], T);
    project(m, m->u, m->xn, &l->up, NULL, &l->lora[LORA_UP], T);
    be->swiglu(be, m->g, m->g, m->u, (size_t)T * m->c.intermediate);
}

static void blocks(Qwen2 *m, int T, int pos0) {
    const Qwen2Config *c = &m->c;
    Backend *be = m->be;
    for (int i = 0; i < c->n_layers; i++) {
        Qwen2Layer *l = &m->layers[i];
        attn_input(m, l, T, pos0);
        be->attention(be, m->att, m->q, l->k_cache, l->v_cache, T, pos0, c->n_heads,
                      c->n_kv_heads, c->head_dim);
        residual_matmul(m, m->att, &l->wo, &l->lora[LORA_O], T);
        mlp_input(m, l, T);
        residual_matmul(m, m->g, &l->down, &l->lora[LORA_DOWN], T);
    }
}

/* One chunk of T <= max_batch tokens at positions pos0 .. pos0+T-1. Leaves
 * the final hidden states (before the final norm) in m->x. The blocks may
 * run as one recorded step (a CUDA graph) that the backend replays for
 * every position. */
/* T positions from token ids, or from input embeddings (host [T x D])
 * when ids is NULL */
static void forward_chunk(Qwen2 *m, const int32_t *ids, const float *embeds, int T, int pos0) {
    Backend *be = m->be;
    if (ids) {
        be->embed(be, m->x, &m->embed, ids, T);
        if (m->c.embed_scale != 1.0f)
            be->scale(be, m->x, m->c.embed_scale, (size_t)T * m->c.hidden);
    } else {
        be->from_host(be, m->x, embeds, (size_t)T * m->c.hidden);
    }
    /* with adapters the blocks write the cache at host-computed rows, which
     * a recording cannot replay at other positions */
    int step = be->step_begin && be->qkv_rope && !m->n_adapters ? be->step_begin(be, m, T, pos0)
                                                                 : STEP_DIRECT;
    if (step == STEP_REPLAYED) return;
    blocks(m, T, pos0);
    if (step == STEP_RECORDING && be->step_end(be)) blocks(m, T, pos0); /* not recorded: run */
}

/* logits for rows [r0, r1) of m->x, copied to host out [(r1-r0) x V], or
 * left in m->logits when out is NULL (one row). */
static void head_rows(Qwen2 *m, int r0, int r1, float *out) {
    Backend *be = m->be;
    int D = m->c.hidden, V = m->c.vocab;
    float eps = (float)m->c.rms_eps;
    for (int r = r0; r < r1; r += m->logits_rows) {
        int n = r1 - r < m->logits_rows ? r1 - r : m->logits_rows;
        const float *x = m->x + (size_t)r * D;
        if (be->rmsnorm_matmul)
            be->rmsnorm_matmul(be, m->logits, m->xn, x, &m->final_norm, &m->lm_head, NULL, n, eps);
        else {
            be->rmsnorm(be, m->xn, x, &m->final_norm, n, eps);
            be->matmul(be, m->logits, m->xn, &m->lm_head, NULL, n);
        }
        /* lm_head(h * s) = lm_head(h) * s: lm_head is linear without bias */
        if (m->c.logit_scale != 1.0f) be->scale(be, m->logits, m->c.logit_scale, (size_t)n * V);
        if (out) be->to_host(be, out + (size_t)(r - r0) * V, m->logits, (size_t)n * V);
    }
}

static int forward(Qwen2 *m, const int32_t *ids, const float *embeds, int T, float *logits,
                   int all_logits) {
    if (T <= 0) return unum_error_set("forward: no tokens");
    if (T > m->ctx - m->n_past)
        return unum_error_set("context full: %d positions used, %d more do not fit in %d",
                              m->n_past, T, m->ctx);
    for (int t = 0; ids && t < T; t++)
        if (ids[t] < 0 || ids[t] >= m->c.vocab)
            return unum_error_set("token id %d is outside the vocabulary [0, %d)", ids[t],
                                  m->c.vocab);
    int start = m->n_past, D = m->c.hidden;
    for (int done = 0; done < T;) {
        int n = T - done < m->max_batch ? T - done : m->max_batch;
        forward_chunk(m, ids ? ids + done : NULL, ids ? NULL : embeds + (size_t)done * D, n,
                      m->n_past);
        m->n_past += n;
        if (all_logits && logits) head_rows(m, 0, n, logits + (size_t)done * m->c.vocab);
        else if (done + n == T) head_rows(m, n - 1, n, logits);
        if (m->be->sync(m->be)) { /* the device failed: forget this call's positions */
            m->n_past = start;
            return -1;
        }
        done += n;
    }
    return 0;
}

int qwen2_forward(Qwen2 *m, const int32_t *ids, int T, float *logits, int all_logits) {
    return forward(m, ids, NULL, T, logits, all_logits);
}

int qwen2_forward_embeds(Qwen2 *m, const float *embeds, int T, float *logits, int all_logits) {
    return forward(m, NULL, embeds, T, logits, all_logits);
}

int qwen2_hidden_sum(Qwen2 *m, const int32_t *ids, int T, float *sum) {
    if (T <= 0) return unum_error_set("hidden states: no tokens");
    if (T > m->ctx - m->n_past)
        return unum_error_set("context full: %d positions used, %d more do not fit in %d",
                              m->n_past, T, m->ctx);
    for (int t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= m->c.vocab)
            return unum_error_set("token id %d is outside the vocabulary [0, %d)", ids[t],
                                  m->c.vocab);
    int D = m->c.hidden, start = m->n_past;
    float *h = xmalloc(sizeof(float) * (size_t)m->max_batch * D);
    int rc = 0;
    for (int done = 0; done < T && !rc;) {
        int n = T - done < m->max_batch ? T - done : m->max_batch;
        forward_chunk(m, ids + done, NULL, n, m->n_past);
        m->n_past += n;
        m->be->rmsnorm(m->be, m->xn, m->x, &m->final_norm, n, (float)m->c.rms_eps);
        m->be->to_host(m->be, h, m->xn, (size_t)n * D);
        if (m->be->sync(m->be)) {
            m->n_past = start;
            rc = -1;
            break;
        }
        for (int r = 0; r < n; r++)
            for (int d = 0; d < D; d++) sum[d] += h[(size_t)r * D + d];
        done += n;
    }
    free(h);
    return rc;
}

void qwen2_rewind(Qwen2 *m, int n) {
    if (n >= 0 && n < m->n_past) m->n_past = n;
}
