/* speech.c - see speech.h. */
#include "engine/speech.h"

#include "engine/chat.h"
#include "engine/config.h"
#include "engine/mel.h"
#include "engine/modeldir.h"
#include "engine/base/util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ config */

typedef struct {
    int k, enc_hidden;
    char *encoder; /* config.json's speech_encoder */
} SpeechConfig;

static int speech_config(const char *dir, SpeechConfig *c) {
    memset(c, 0, sizeof *c);
    char *path;
    cJSON *root = config_read_object(dir, "config.json", &path);
    int rc = -1;
    if (!root) goto done;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "speech_encoder_type");
    if (t && (!cJSON_IsString(t) || strcmp(t->valuestring, "whisper"))) {
        unum_error_set("%s: speech_encoder_type must be \"whisper\"", path);
        goto done;
    }
    t = cJSON_GetObjectItemCaseSensitive(root, "speech_projector_type");
    if (t && (!cJSON_IsString(t) || strcmp(t->valuestring, "linear"))) {
        unum_error_set("%s: speech_projector_type must be \"linear\"", path);
        goto done;
    }
    c->k = 5;
    if (config_get_int(root, "speech_encoder_ds_rate", 1, 64, 1, &c->k, path) ||
        config_get_int(root, "speech_encoder_hidden_size", 1, 1 << 16, 1, &c->enc_hidden, path))
        goto done;
    t = cJSON_GetObjectItemCaseSensitive(root, "speech_encoder");
    if (cJSON_IsString(t)) c->encoder = xstrdup(t->valuestring);
    rc = 0;
done:
    cJSON_Delete(root);
    free(path);
    return rc;
}

int speech_is_model(const char *dir) {
    char *path = unum_path_join(dir, "config.json");
    char *txt = unum_read_file(path, 4u << 20, NULL);
    free(path);
    cJSON *root = txt ? cJSON_Parse(txt) : NULL;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    int yes = cJSON_IsString(mt) && !strncmp(mt->valuestring, "omni2_speech", 12);
    cJSON_Delete(root);
    free(txt);
    return yes;
}

/* ------------------------------------------------------------ loading */

static int load_weight(SpeechLLM *s, Weight *w, const char *name, int ndim, int64_t a, int64_t b) {
    int64_t shape[2] = {a, b};
    const STensor *t = st_get(&s->st, name, ndim, shape);
    if (!t) return -1;
    Backend *be = s->e->be;
    return be->upload(be, t, ndim == 1 ? 1 : (int)a, ndim == 1 ? (int)a : (int)b, w);
}

SpeechLLM *speech_load(const char *model, const EngineOptions *opt) {
    SpeechLLM *s = xcalloc(1, sizeof *s);
    SpeechConfig c = {0};
    if (!(s->e = engine_load(model, opt))) goto fail;
    const char *dir = s->e->dir;
    if (!s->e->model->c.speech) {
        unum_error_set("%s: not a speech LLM (model_type omni2_speech2s_qwen2)", dir);
        goto fail;
    }
    if (speech_config(dir, &c) || st_open_dir(&s->st, dir)) goto fail;
    /* the encoder: a Whisper directory inside the model's, else its tensors */
    char *encdir = c.encoder && !strstr(c.encoder, "..") && c.encoder[0] != '/'
                       ? unum_path_join(dir, c.encoder)
                       : NULL;
    char *cfg = encdir ? unum_path_join(encdir, "config.json") : NULL;
    int separate = cfg && unum_file_exists(cfg);
    free(cfg);
    s->enc = separate ? whisper_load_encoder(encdir, NULL, s->e->be)
                      : whisper_load_encoder(dir, "model.speech_encoder.", s->e->be);
    free(encdir);
    if (!s->enc) goto fail;
    const WhisperConfig *wc = &s->enc->c;
    if (c.enc_hidden && c.enc_hidden != wc->d) {
        unum_error_set("%s: speech_encoder_hidden_size is %d but the encoder's width is %d", dir,
                       c.enc_hidden, wc->d);
        goto fail;
    }
    s->k = c.k;
    s->frames = wc->n_audio / s->k;
    int D = s->e->model->c.hidden;
    const STensor *l1 = st_find(&s->st, "model.speech_projector.linear1.weight");
    if (!l1 || l1->ndim != 2) {
        unum_error_set("%s: model.speech_projector.linear1.weight is missing or not 2-D", dir);
        goto fail;
    }
    int mid = (int)l1->shape[0];
    if (load_weight(s, &s->l1, "model.speech_projector.linear1.weight", 2, mid,
                    (int64_t)s->k * wc->d) ||
        load_weight(s, &s->l1b, "model.speech_projector.linear1.bias", 1, mid, 0) ||
        load_weight(s, &s->l2, "model.speech_projector.linear2.weight", 2, D, mid) ||
        load_weight(s, &s->l2b, "model.speech_projector.linear2.bias", 1, D, 0))
        goto fail;
    Backend *be = s->e->be;
    if (!be->relu) {
        unum_error_set("%s: the %s backend has no relu", dir, be->name);
        goto fail;
    }
    if (!(s->h = be->alloc(be, (size_t)s->frames * mid)) ||
        !(s->out = be->alloc(be, (size_t)s->frames * D)))
        goto fail;
    free(c.encoder);
    return s;
fail:
    free(c.encoder);
    unum_error_wrap("speech model");
    speech_free(s);
    return NULL;
}

void speech_free(SpeechLLM *s) {
    if (!s) return;
    Backend *be = s->e ? s->e->be : NULL;
    if (be) {
        Weight *ws[] = {&s->l1, &s->l1b, &s->l2, &s->l2b};
        for (size_t i = 0; i < sizeof ws / sizeof *ws; i++)
            if (ws[i]->data) be->release(be, ws[i]);
        if (s->h) be->free(be, s->h);
        if (s->out) be->free(be, s->out);
    }
    whisper_free(s->enc);
    st_close(&s->st);
    engine_free(s->e);
    free(s);
}

/* ------------------------------------------------------------ audio */

int speech_embed(SpeechLLM *s, const float *pcm, size_t n, float *out) {
    const WhisperConfig *wc = &s->enc->c;
    int frames = 2 * wc->n_audio;
    mel_ctx *m = mel_create(wc->n_mels);
    if (!m) return -1;
    float *mel = malloc(sizeof(float) * (size_t)wc->n_mels * frames);
    int rc = -1;
    if (!mel) {
        unum_error_set("out of memory for the log-mel");
    } else if (frames != MEL_CHUNK_FRAMES) {
        unum_error_set("the speech encoder takes %d mel frames; published models take %d", frames,
                       MEL_CHUNK_FRAMES);
    } else if (!mel_compute_30s(m, pcm, n, mel) && !whisper_encode(s->enc, mel, frames)) {
        /* the encoder's output [n_audio x d] read as [frames x k*d]: k
         * consecutive frames side by side, the last n_audio % k dropped */
        Backend *be = s->e->be;
        be->matmul(be, s->h, s->enc->enc_out, &s->l1, &s->l1b, s->frames);
        be->relu(be, s->h, (size_t)s->frames * s->l1.rows);
        be->matmul(be, s->out, s->h, &s->l2, &s->l2b, s->frames);
        be->to_host(be, out, s->out, (size_t)s->frames * s->e->model->c.hidden);
        rc = be->sync(be);
    }
    free(mel);
    mel_free(m);
    return rc;
}

int speech_embed_all(SpeechLLM *s, const float *pcm, size_t n, float ***clips, int *n_clips) {
    size_t per = 30 * 16000;
    int k = n ? (int)((n + per - 1) / per) : 1;
    int D = s->e->model->c.hidden;
    *clips = xcalloc((size_t)k, sizeof **clips);
    *n_clips = 0;
    for (int i = 0; i < k; i++) {
        size_t at = (size_t)i * per, len = n - at < per ? n - at : per;
        float *c = xmalloc(sizeof(float) * (size_t)s->frames * D);
        if (speech_embed(s, pcm + at, n ? len : 0, c)) {
            free(c);
            for (int j = 0; j < *n_clips; j++) free((*clips)[j]);
            free(*clips);
            *clips = NULL;
            return -1;
        }
        (*clips)[(*n_clips)++] = c;
    }
    return 0;
}

/* A 20-bit tag of a clip's frames, for ids unique to it. */
static uint32_t clip_tag(const float *x, size_t n) {
    uint32_t h = 2166136261u;
    const unsigned char *p = (const unsigned char *)x;
    for (size_t i = 0; i < n * sizeof *x; i += 7) h = (h ^ p[i]) * 16777619u;
    return h & 0xfffff;
}

int speech_expand(SpeechLLM *s, const int32_t *prompt, size_t n, const float *const *clips,
                  int n_clips, int32_t **ids, size_t *n_ids, float **embeds) {
    int D = s->e->model->c.hidden, F = s->frames, used = 0;
    for (size_t i = 0; i < n; i++) used += prompt[i] == SPEECH_PLACEHOLDER;
    if (used != n_clips)
        return unum_error_set(used > n_clips ? "the prompt has %d audio placeholders but only %d "
                                               "clips were given"
                                             : "the prompt has %d audio placeholders for %d clips",
                              used, n_clips);
    *n_ids = n - (size_t)used + (size_t)used * F;
    *ids = xmalloc(sizeof(int32_t) * (*n_ids ? *n_ids : 1));
    *embeds = xmalloc(sizeof(float) * (size_t)(used ? used : 1) * F * D);
    size_t at = 0;
    int clip = 0;
    for (size_t i = 0; i < n; i++) {
        if (prompt[i] != SPEECH_PLACEHOLDER) {
            if (prompt[i] < 0) {
                free(*ids), free(*embeds);
                return unum_error_set("prompt id %d at %zu is neither a token nor %d", prompt[i],
                                      i, SPEECH_PLACEHOLDER);
            }
            (*ids)[at++] = prompt[i];
            continue;
        }
        /* ids -(1 + tag*512 + frame): the same clip gives the same ids */
        int32_t base = 1 + (int32_t)clip_tag(clips[clip], (size_t)F * D) * 512;
        for (int f = 0; f < F; f++) (*ids)[at++] = -(base + f);
        memcpy(*embeds + (size_t)clip * F * D, clips[clip], sizeof(float) * (size_t)F * D);
        clip++;
    }
    return 0;
}

/* ------------------------------------------------------------ prompts */

int speech_chat_prompt(SpeechLLM *s, const char *system, const char *text, int n_clips,
                       IdVec *out) {
    ChatMsg turn = {"user", text, n_clips};
    ChatFit fit = engine_chat_fit(s->e, system, 0);
    fit.clip_positions = s->frames;
    return chat_prompt(engine_tokenizer(s->e), &turn, 1, &fit, out, NULL);
}
