/* engine.c - see engine.h. */
#include "engine/engine.h"

#include "engine/chat.h"
#include "engine/modeldir.h"
#include "engine/base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* The tokenizer.json a model reads: its own, or, for a model that has none
 * and whose preprocessor_config.json names its language model
 * (language_model_pretrained_name, as VibeVoice's processor loads it; that
 * model's folder found as -m finds one), that model's. */
static char *tokenizer_path(const char *dir) {
    char *tp = unum_path_join(dir, "tokenizer.json");
    if (unum_file_exists(tp)) return tp;
    char *pp = NULL;
    cJSON *pre = NULL;
    char *pc = unum_path_join(dir, "preprocessor_config.json");
    if (unum_file_exists(pc)) pre = config_read_object(dir, "preprocessor_config.json", &pp);
    free(pc);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(pre, "language_model_pretrained_name");
    char *lm = cJSON_IsString(name) && strchr(name->valuestring, '/') &&
                       !strstr(name->valuestring, "..")
                   ? modeldir_resolve(name->valuestring)
                   : NULL;
    if (lm) {
        char *other = unum_path_join(lm, "tokenizer.json");
        if (unum_file_exists(other)) free(tp), tp = other;
        else free(other);
    } else if (cJSON_IsString(name)) {
        unum_error_set("%s has no tokenizer.json, and %s names %s, which is not downloaded "
                       "(unum pull %s)",
                       dir, pp, name->valuestring, name->valuestring);
        free(tp), tp = NULL;
    }
    free(lm);
    free(pp);
    cJSON_Delete(pre);
    return tp;
}

Engine *engine_load(const char *model, const EngineOptions *opt) {
    double t0 = unum_now();
    Engine *e = xcalloc(1, sizeof *e);
    e->dir = modeldir_resolve(model);
    if (!e->dir) goto fail;
    char *tp = tokenizer_path(e->dir);
    e->tok = tp ? tokenizer_load(tp) : NULL;
    free(tp);
    if (!e->tok) goto fail;
    int err = 0;
    e->default_system = chat_default_system(e->dir, &err);
    if (err || gen_config_load(&e->gen, e->dir)) goto fail;
    e->be = backend_open(opt ? opt->backend : NULL, opt ? opt->threads : 0);
    if (!e->be) goto fail;
    e->model = qwen2_load_progress(e->dir, e->be, opt ? opt->ctx : 0, opt ? opt->progress : NULL,
                                   opt ? opt->progress_user : NULL);
    if (!e->model) goto fail;
    if (opt && opt->n_lora && engine_set_adapters(e, opt->lora, opt->n_lora)) goto fail;
    /* page-locked where the backend offers it: the copy is then one DMA */
    size_t V = (size_t)e->model->c.vocab;
    if (e->be->host_alloc && (e->logits = e->be->host_alloc(e->be, V))) e->logits_pinned = 1;
    else e->logits = malloc(sizeof(float) * V);
    if (!e->logits) {
        unum_error_set("out of memory for the logits");
        goto fail;
    }
    e->load_s = unum_now() - t0;
    return e;
fail:
    engine_free(e);
    return NULL;
}

void engine_free(Engine *e) {
    if (!e) return;
    qwen2_free(e->model);
    if (e->logits_pinned) e->be->host_free(e->be, e->logits);
    else free(e->logits);
    if (e->be) e->be->close(e->be);
    tokenizer_free(e->tok);
    idvec_free(&e->cached);
    free(e->default_system);
    free(e->adapters_key);
    free(e->dir);
    free(e);
}

int engine_set_adapters(Engine *e, const LoraSpec *specs, int n) {
    size_t len = 1;
    for (int i = 0; i < n; i++) len += strlen(specs[i].dir) + 32;
    char *key = xmalloc(len);
    key[0] = 0;
    for (int i = 0; i < n; i++)
        sprintf(key + strlen(key), "%s\t%.9g\n", specs[i].dir, specs[i].scale);
    if (e->adapters_key ? !strcmp(key, e->adapters_key) : !n) {
        free(key);
        return 0;
    }
    /* whatever happens below, the cached keys and values are stale */
    qwen2_rewind(e->model, 0);
    e->cached.n = 0;
    free(e->adapters_key);
    e->adapters_key = NULL;
    LoraAdapter **ads = xcalloc((size_t)n + 1, sizeof *ads);
    float *scales = xcalloc((size_t)n + 1, sizeof *scales);
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        ads[i] = lora_load(specs[i].dir, &e->model->c);
        scales[i] = specs[i].scale;
        rc = ads[i] ? 0 : -1;
    }
    if (!rc) rc = qwen2_set_adapters(e->model, ads, scales, n);
    else qwen2_set_adapters(e->model, NULL, NULL, 0);
    for (int i = 0; i < n; i++) lora_free(ads[i]);
    free(ads);
    free(scales);
    if (!rc && n) e->adapters_key = key;
    else free(key);
    return rc;
}

int engine_n_vocab(const Engine *e) { return e->model->c.vocab; }
int engine_hidden_size(const Engine *e) { return e->model->c.hidden; }

int engine_embed_ids(Engine *e, const int32_t *ids, size_t n, float *out) {
    int D = e->model->c.hidden;
    if (n == 0) return unum_error_set("nothing to embed: no tokens");
    if (n > (size_t)e->model->ctx)
        return unum_error_set("%zu tokens to embed do not fit the context of %d", n,
                              e->model->ctx);
    qwen2_rewind(e->model, 0);
    e->cached.n = 0; /* the cache now holds positions no prompt asked for */
    memset(out, 0, sizeof(float) * (size_t)D);
    int rc = qwen2_hidden_sum(e->model, ids, (int)n, out);
    qwen2_rewind(e->model, 0);
    if (rc) return -1;
    for (int d = 0; d < D; d++) out[d] /= (float)n;
    return 0;
}

int engine_embed(Engine *e, const char *text, float *out) {
    IdVec ids = {0};
    int rc = tokenizer_encode(e->tok, text, strlen(text), 0, &ids);
    if (!rc) rc = engine_embed_ids(e, ids.v, ids.n, out);
    idvec_free(&ids);
    return rc;
}
const char *engine_dir(const Engine *e) { return e->dir; }
const Tokenizer *engine_tokenizer(const Engine *e) { return e->tok; }
const char *engine_default_system(const Engine *e) { return e->default_system; }
const char *engine_backend_name(const Engine *e) { return e->be->name; }
int engine_ctx(const Engine *e) { return e->model->ctx; }
int engine_ctx_used(const Engine *e) { return e->model->n_past; }
double engine_load_seconds(const Engine *e) { return e->load_s; }

ChatFit engine_chat_fit(const Engine *e, const char *system, int room) {
    return (ChatFit){.system = system,
                     .default_system = e->default_system,
                     .ctx = e->model->ctx,
                     .room = room,
                     .clip_positions = 1};
}

GenerateParams engine_default_params(const Engine *e) {
    GenerateParams p = {0};
    const GenConfig *g = &e->gen;
    p.sampling.temperature = g->do_sample ? g->temperature : 0.0f;
    p.sampling.top_k = g->top_k;
    p.sampling.top_p = g->top_p > 0 ? g->top_p : 1.0f;
    p.sampling.min_p = g->min_p;
    p.sampling.repeat_penalty = g->repeat_penalty > 0 ? g->repeat_penalty : 1.0f;
    p.max_tokens = 256;
    return p;
}

void engine_cancel(Engine *e) { unum_cancel(&e->cancel); }
void engine_cancel_clear(Engine *e) { unum_cancel_clear(&e->cancel); }

static int is_eos(const Engine *e, int32_t id) {
    for (int i = 0; i < e->gen.n_eos; i++)
        if (e->gen.eos[i] == id) return 1;
    return 0;
}

/* Runs ids[from..n) through the model in chunks, checking for cancellation
 * between chunks; a negative id takes the next row of embeds. Logits of the
 * last position end up in e->logits, or stay in backend memory when the
 * backend samples (on_device); with all, every position's go to
 * all[position x V]. */
static int feed(Engine *e, const int32_t *ids, const float *embeds, size_t from, size_t n,
                int on_device, float *all) {
    Qwen2 *m = e->model;
    size_t row = 0; /* embeddings row of the next negative id */
    for (size_t i = 0; i < from; i++) row += ids[i] < 0;
    while (from < n) {
        if (unum_cancelled(&e->cancel)) return UNUM_CANCELLED;
        /* a run of ids, or of embedding positions, up to a batch */
        int emb = ids[from] < 0;
        size_t k = 1;
        while (from + k < n && k < (size_t)m->max_batch && (ids[from + k] < 0) == emb) k++;
        float *lg = all ? all + from * (size_t)m->c.vocab : on_device ? NULL : e->logits;
        int rc = emb ? qwen2_forward_embeds(m, embeds + row * (size_t)m->c.hidden, (int)k, lg,
                                            all != NULL)
                     : qwen2_forward(m, ids + from, (int)k, lg, all != NULL);
        if (rc) return -1;
        if (emb) row += k;
        for (size_t i = 0; i < k; i++) idvec_push(&e->cached, ids[from + i]);
        from += k;
    }
    return 0;
}

/* The next id from the last logits: on the backend when it samples (only
 * the id crosses to the host), else with the host sampler. Both consume the
 * same random numbers, so a seed gives the same ids on either. */
static int next_id(Engine *e, Sampler *s, const SamplerParams *p, int on_device, int32_t *id) {
    if (!on_device) {
        *id = sampler_sample(s, e->logits, e->cached.v, e->cached.n);
        return 0;
    }
    double u = p->temperature > 0 ? sampler_uniform(s) : 0;
    return e->be->sample(e->be, id, e->model->logits, e->model->c.vocab, p, e->cached.v,
                         e->cached.n, u);
}

const char *engine_quant_name(const Engine *e, char *buf, size_t n) {
    return qwen2_quant_name(e->model, buf, n);
}

int engine_device_sampling(const Engine *e) {
    const char *env = getenv("UNUM_DEVICE_SAMPLING");
    return e->be->sample && !(env && !strcmp(env, "0"));
}

static int generate(Engine *e, const int32_t *prompt, size_t n, const float *embeds,
                    const GenerateParams *p, engine_token_fn fn, void *user, GenerateStats *st) {
    Qwen2 *m = e->model;
    if (n == 0) return unum_error_set("empty prompt");
    if (n >= (size_t)m->ctx)
        return unum_error_set("prompt of %zu tokens does not fit the context of %d", n, m->ctx);
    for (size_t i = 0; i < n; i++)
        if ((prompt[i] < 0 && !embeds) || prompt[i] >= m->c.vocab)
            return unum_error_set("prompt token %zu: id %d is outside the vocabulary [0, %d)", i,
                                  prompt[i], m->c.vocab);

    /* keep the longest cached prefix, but always recompute the last token */
    size_t keep = 0;
    while (keep < e->cached.n && keep < n - 1 && e->cached.v[keep] == prompt[keep]) keep++;
    qwen2_rewind(m, (int)keep);
    e->cached.n = keep;
    st->prompt_tokens = (int)n;
    st->reused_tokens = (int)keep;

    int dev = engine_device_sampling(e);
    double t0 = unum_now();
    int rc = feed(e, prompt, embeds, keep, n, dev, NULL);
    st->prefill_s = unum_now() - t0;
    if (rc < 0) return -1;
    if (rc == UNUM_CANCELLED) {
        st->stop = STOP_CANCELLED;
        return unum_cancelled_status();
    }

    Sampler *s = sampler_new(&p->sampling, m->c.vocab);
    TokStream ts = {0};
    size_t cap = tokenizer_stream_cap(e->tok);
    char *text = xmalloc(cap);
    t0 = unum_now();
    st->stop = STOP_LENGTH;
    for (int i = 0; i < p->max_tokens; i++) {
        int32_t id;
        if (next_id(e, s, &p->sampling, dev, &id)) {
            rc = -1;
            break;
        }
        if (!p->ignore_eos && is_eos(e, id)) {
            /* the end id is reported (as Hugging Face's generate returns it)
             * but has no text and does not count as generated */
            st->stop = STOP_EOS;
            if (fn) fn(user, id, "", 0);
            break;
        }
        st->generated++;
        /* ids without text (the model's padded vocabulary, gaps in the
         * tokenizer's ids) come with an empty string */
        text[0] = 0;
        int len = tokenizer_stream(e->tok, &ts, id, text, cap);
        if (len < 0) len = 0, text[0] = 0;
        if (fn && fn(user, id, text, (size_t)len)) {
            st->stop = STOP_CALLBACK;
            break;
        }
        if (i + 1 == p->max_tokens) break;
        if (m->n_past >= m->ctx) {
            st->stop = STOP_CONTEXT;
            break;
        }
        if (unum_cancelled(&e->cancel)) {
            st->stop = STOP_CANCELLED;
            break;
        }
        if (qwen2_forward(m, &id, 1, dev ? NULL : e->logits, 0)) {
            rc = -1;
            break;
        }
        idvec_push(&e->cached, id);
    }
    int tail = tokenizer_stream_flush(&ts, text, cap);
    if (rc == 0 && tail > 0 && fn) fn(user, -1, text, (size_t)tail);
    if (rc == 0 && st->stop == STOP_CANCELLED) rc = unum_cancelled_status();
    st->decode_s = unum_now() - t0;
    free(text);
    sampler_free(s);
    return rc;
}

int engine_generate(Engine *e, const int32_t *prompt, size_t n, const GenerateParams *p,
                    engine_token_fn fn, void *user, GenerateStats *st) {
    GenerateStats local;
    if (!st) st = &local;
    memset(st, 0, sizeof *st);
    int rc = generate(e, prompt, n, NULL, p, fn, user, st);
    /* a cancel that arrived before or during this call is used up here, so
     * it can neither be lost nor leak into the next request */
    unum_cancel_clear(&e->cancel);
    return rc;
}

int engine_generate_embeds(Engine *e, const int32_t *prompt, size_t n, const float *embeds,
                           const GenerateParams *p, engine_token_fn fn, void *user,
                           GenerateStats *st) {
    GenerateStats local;
    if (!st) st = &local;
    memset(st, 0, sizeof *st);
    int rc = generate(e, prompt, n, embeds, p, fn, user, st);
    unum_cancel_clear(&e->cancel);
    return rc;
}

int engine_logits_embeds(Engine *e, const int32_t *ids, size_t n, const float *embeds,
                         float *out) {
    Qwen2 *m = e->model;
    if (n == 0) return unum_error_set("no ids");
    if (n > (size_t)m->ctx)
        return unum_error_set("%zu positions do not fit the context of %d", n, m->ctx);
    for (size_t i = 0; i < n; i++)
        if ((ids[i] < 0 && !embeds) || ids[i] >= m->c.vocab)
            return unum_error_set("id %d at %zu is outside the vocabulary [0, %d)", ids[i], i,
                                  m->c.vocab);
    qwen2_rewind(m, 0);
    e->cached.n = 0;
    int rc = feed(e, ids, embeds, 0, n, 0, out);
    unum_cancel_clear(&e->cancel); /* used up, as by engine_generate */
    return rc == UNUM_CANCELLED ? unum_cancelled_status() : rc;
}

int engine_logits(Engine *e, const int32_t *ids, size_t n, float *out) {
    return engine_logits_embeds(e, ids, n, NULL, out);
}
