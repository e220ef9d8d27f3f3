/* transcribe.c - see transcribe.h. */
#include "engine/transcribe.h"

#include "engine/vibevoice.h"
#include "audio/resample.h"

#include "engine/config.h"
#include "engine/mel.h"
#include "engine/modeldir.h"
#include "engine/sampler.h"
#include "engine/base/cancel.h"
#include "engine/base/util.h"
#include "audio/vad.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define TIME_PRECISION 0.02 /* seconds per timestamp token */
#define INPUT_STRIDE 2      /* mel frames per encoder position */
#define MAX_BEAM 8

struct Transcriber {
    Whisper *w;
    VibeVoice *vv; /* a speaker-aware model instead of Whisper (the rest then unused) */
    /* transcriber_load's: the model folder, and the model and backend the
     * transcriber owns (NULL for transcriber_new's) */
    char *dir;
    Whisper *own_w;
    Backend *own_be;
    Tokenizer *tok;
    WhisperVocab v;
    mel_ctx *mel;
    int V;               /* the model's vocabulary (logit count) */
    int n_frames;        /* mel frames per window: 2 * n_audio (3000) */
    float *init_logits;  /* [V] logits after the window's initial tokens */
    float *logits;       /* [MAX_BEAM x V] */
    unsigned char *mask; /* [V] 1: suppressed at every step */
    unsigned char *mask0; /* [V] 1: suppressed at the first step */
    int encoded_seek, encoded_size; /* the window the encoder last ran on (seek -1: none) */
};

void transcribe_defaults(TranscribeParams *p) {
    memset(p, 0, sizeof *p);
    p->timestamps = 1;
    p->best_of = 5;
    p->temperature_inc = 0.2f;
    p->compression_ratio_threshold = 2.4f;
    p->logprob_threshold = -1.0f;
    p->no_speech_threshold = 0.6f;
    p->condition_on_previous = 1;
}

/* ------------------------------------------------------------ vocabulary */

static int need_token(const Tokenizer *tok, const char *text, int32_t *id, const char *path) {
    if ((*id = tokenizer_token_id(tok, text)) < 0)
        return unum_error_set("%s: Whisper's token %s is missing", path, text);
    return 0;
}

/* An int array of generation_config.json, each id in [0, V); absent: n = -1. */
static int id_list(const cJSON *root, const char *key, int V, int32_t **out, int *n,
                   const char *path) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, key);
    *out = NULL;
    *n = -1;
    if (!a || cJSON_IsNull(a)) return 0;
    if (!cJSON_IsArray(a)) return unum_error_set("%s: %s is not an array", path, key);
    int len = cJSON_GetArraySize(a);
    *out = xmalloc(sizeof(int32_t) * (size_t)(len + 1));
    *n = 0;
    for (const cJSON *e = a->child; e; e = e->next) {
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < 0 ||
            e->valuedouble >= V)
            return unum_error_set("%s: %s[%d] is not a token id below %d", path, key, *n, V);
        (*out)[(*n)++] = (int32_t)e->valuedouble;
    }
    return 0;
}

/* openai's non-speech symbols: tokens that are (or, after a space, start)
 * symbols a transcript should not hold, for models whose
 * generation_config.json does not list them. */
static void non_speech_tokens(const Tokenizer *tok, IdVec *out) {
    static const char *sym[] = {"\"", "#", "(", ")", "*", "+", "/", ":", ";", "<", "=", ">",
                                "@", "[", "\\", "]", "^", "_", "`", "{", "|", "}", "~",
                                "\u300c", "\u300d", "\u300e", "\u300f", "<<", ">>", "<<<",
                                ">>>", "--", "---", "-(", "-[", "('", "(\"", "((", "))",
                                "(((", ")))", "[[", "]]", "{{", "}}", "\u266a\u266a",
                                "\u266a\u266a\u266a"};
    static const char *misc[] = {"\u2669", "\u266a", "\u266b", "\u266c", "\u266d", "\u266e",
                                 "\u266f"};
    IdVec ids = {0};
    const char *lead[] = {" -", " '"};
    for (int i = 0; i < 2; i++) {
        ids.n = 0;
        if (!tokenizer_encode(tok, lead[i], strlen(lead[i]), 0, &ids) && ids.n)
            idvec_push(out, ids.v[0]);
    }
    size_t n_sym = sizeof sym / sizeof *sym, n_misc = sizeof misc / sizeof *misc;
    for (size_t i = 0; i < n_sym + n_misc; i++) {
        const char *s = i < n_sym ? sym[i] : misc[i - n_sym];
        char spaced[32];
        snprintf(spaced, sizeof spaced, " %s", s);
        const char *forms[] = {s, spaced};
        for (int f = 0; f < 2; f++) {
            ids.n = 0;
            if (tokenizer_encode(tok, forms[f], strlen(forms[f]), 0, &ids) || !ids.n) continue;
            if (ids.n == 1 || i >= n_sym) idvec_push(out, ids.v[0]);
        }
    }
    idvec_free(&ids);
}

int whisper_vocab_load(WhisperVocab *v, const Tokenizer *tok, int V, const char *gen_json,
                       size_t gen_len, const char *gen_name, const char *tok_name) {
    memset(v, 0, sizeof *v);
    int rc = need_token(tok, "<|endoftext|>", &v->eot, tok_name) ||
             need_token(tok, "<|startoftranscript|>", &v->sot, tok_name) ||
             need_token(tok, "<|translate|>", &v->translate, tok_name) ||
             need_token(tok, "<|transcribe|>", &v->transcribe, tok_name) ||
             need_token(tok, "<|startoflm|>", &v->sot_lm, tok_name) ||
             need_token(tok, "<|startofprev|>", &v->sot_prev, tok_name) ||
             need_token(tok, "<|notimestamps|>", &v->no_timestamps, tok_name) ||
             need_token(tok, "<|0.00|>", &v->ts_begin, tok_name);
    if (!rc && (v->no_speech = tokenizer_token_id(tok, "<|nospeech|>")) < 0)
        rc = need_token(tok, "<|nocaptions|>", &v->no_speech, tok_name);
    if (rc) return -1;
    /* language tokens: <|xx|> between <|startoftranscript|> and <|translate|> */
    v->lang_first = v->sot + 1;
    v->n_langs = v->translate - v->lang_first;
    if (v->n_langs < 1 || v->n_langs > 200)
        return unum_error_set("%s: no language tokens between <|startoftranscript|> and "
                              "<|translate|>",
                              tok_name);
    if (v->ts_begin > V - 1501)
        return unum_error_set("%s: the timestamp tokens reach past the model's %d ids", tok_name,
                              V);
    int32_t ids[] = {v->eot, v->sot, v->translate, v->transcribe, v->sot_lm, v->sot_prev,
                     v->no_speech, v->no_timestamps};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
        if (ids[i] >= V)
            return unum_error_set("%s: special token %d is outside the model's %d ids", tok_name,
                                  ids[i], V);

    cJSON *root = NULL;
    if (gen_json && !(root = cJSON_ParseWithLength(gen_json, gen_len)))
        return unum_error_set("%s: not valid JSON", gen_name);
    if (root && !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return unum_error_set("%s: not a JSON object", gen_name);
    }
    v->multilingual = V >= 51865; /* openai's rule, when the file does not say */
    v->max_initial_ts = 50;
    v->n_suppress = v->n_begin_suppress = -1;
    if (root) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "is_multilingual");
        if (cJSON_IsBool(m)) v->multilingual = cJSON_IsTrue(m);
        rc = config_get_int(root, "max_initial_timestamp_index", 0, 1500, 1, &v->max_initial_ts,
                            gen_name) ||
             id_list(root, "suppress_tokens", V, &v->suppress, &v->n_suppress, gen_name) ||
             id_list(root, "begin_suppress_tokens", V, &v->begin_suppress, &v->n_begin_suppress,
                     gen_name);
        cJSON_Delete(root);
        if (rc) {
            whisper_vocab_free(v);
            return -1;
        }
    }
    if (v->n_suppress < 0) { /* openai's suppress_tokens="-1" */
        IdVec s = {0};
        non_speech_tokens(tok, &s);
        free(v->suppress);
        v->suppress = s.v, v->n_suppress = (int)s.n;
    }
    if (v->n_begin_suppress < 0) { /* " " and end of text */
        IdVec s = {0};
        if (tokenizer_encode(tok, " ", 1, 0, &s)) {
            whisper_vocab_free(v);
            return -1;
        }
        idvec_push(&s, v->eot);
        free(v->begin_suppress);
        v->begin_suppress = s.v, v->n_begin_suppress = (int)s.n;
    }
    /* derived ids past the model's logits (a tokenizer larger than the
     * model) cannot be produced anyway */
    int k = 0;
    for (int i = 0; i < v->n_suppress; i++)
        if (v->suppress[i] < V) v->suppress[k++] = v->suppress[i];
    v->n_suppress = k;
    k = 0;
    for (int i = 0; i < v->n_begin_suppress; i++)
        if (v->begin_suppress[i] < V) v->begin_suppress[k++] = v->begin_suppress[i];
    v->n_begin_suppress = k;
    return 0;
}

void whisper_vocab_free(WhisperVocab *v) {
    free(v->suppress);
    free(v->begin_suppress);
    v->suppress = v->begin_suppress = NULL;
    v->n_suppress = v->n_begin_suppress = 0;
}

static int vocab_load(WhisperVocab *v, const Tokenizer *tok, int V, const char *dir) {
    char *tpath = unum_path_join(dir, "tokenizer.json");
    char *gpath = unum_path_join(dir, "generation_config.json");
    char *txt = NULL;
    size_t len = 0;
    int rc = 0;
    if (unum_file_exists(gpath) && !(txt = unum_read_file(gpath, 16u << 20, &len))) rc = -1;
    if (!rc) rc = whisper_vocab_load(v, tok, V, txt, len, gpath, tpath);
    free(txt);
    free(gpath);
    free(tpath);
    return rc;
}

Transcriber *transcriber_new(Whisper *w, const char *dir) {
    Transcriber *t = xcalloc(1, sizeof *t);
    t->w = w;
    t->V = w->c.vocab;
    t->n_frames = 2 * w->c.n_audio;
    t->encoded_seek = -1;
    char *tpath = unum_path_join(dir, "tokenizer.json");
    t->tok = tokenizer_load(tpath);
    free(tpath);
    if (!t->tok || vocab_load(&t->v, t->tok, t->V, dir) || !(t->mel = mel_create(w->c.n_mels))) {
        transcriber_free(t);
        return NULL;
    }
    t->init_logits = xmalloc(sizeof(float) * (size_t)t->V);
    t->logits = xmalloc(sizeof(float) * (size_t)t->V * MAX_BEAM);
    t->mask = xcalloc((size_t)t->V, 1);
    t->mask0 = xcalloc((size_t)t->V, 1);
    const WhisperVocab *v = &t->v;
    for (int i = 0; i < v->n_suppress; i++) t->mask[v->suppress[i]] = 1;
    int32_t ctl[] = {v->transcribe, v->translate, v->sot, v->sot_prev, v->sot_lm, v->no_speech};
    for (size_t i = 0; i < sizeof ctl / sizeof *ctl; i++) t->mask[ctl[i]] = 1;
    for (int i = 0; i < v->n_begin_suppress; i++) t->mask0[v->begin_suppress[i]] = 1;
    return t;
}

Transcriber *transcriber_load(const char *model, const char *backend, int threads) {
    char *dir = modeldir_resolve(model);
    if (!dir) return NULL;
    if (vibevoice_is_model(dir)) {
        EngineOptions eo = {.backend = backend, .threads = threads};
        VibeVoice *vv = vibevoice_load(dir, &eo);
        if (!vv) {
            free(dir);
            return NULL;
        }
        Transcriber *t = xcalloc(1, sizeof *t);
        t->vv = vv, t->dir = dir;
        return t;
    }
    Backend *be = backend_open(backend, threads);
    Whisper *w = be ? whisper_load(dir, be) : NULL;
    Transcriber *t = w ? transcriber_new(w, dir) : NULL;
    if (!t) {
        whisper_free(w);
        if (be) be->close(be);
        free(dir);
        return NULL;
    }
    t->dir = dir, t->own_w = w, t->own_be = be;
    return t;
}

const char *transcriber_dir(const Transcriber *t) { return t->dir; }
const char *transcriber_backend(const Transcriber *t) {
    return t->vv ? t->vv->e->be->name : t->w->be->name;
}

int transcriber_rate(const Transcriber *t) { return t->vv ? t->vv->rate : MEL_SAMPLE_RATE; }

int transcriber_speakers(const Transcriber *t) { return t->vv != NULL; }

void transcriber_free(Transcriber *t) {
    if (!t) return;
    vibevoice_free(t->vv);
    whisper_free(t->own_w);
    if (t->own_be) t->own_be->close(t->own_be);
    free(t->dir);
    tokenizer_free(t->tok);
    mel_free(t->mel);
    whisper_vocab_free(&t->v);
    free(t->init_logits);
    free(t->logits);
    free(t->mask);
    free(t->mask0);
    free(t);
}

const WhisperVocab *transcriber_vocab(const Transcriber *t) { return &t->v; }
const Tokenizer *transcriber_tokenizer(const Transcriber *t) { return t->tok; }

/* ------------------------------------------------------------ logits */

/* log(sum(exp(x))) over the finite entries of x[0, n); -inf when none. */
static double logsumexp(const float *x, int n) {
    float m = -INFINITY;
    for (int i = 0; i < n; i++)
        if (x[i] > m) m = x[i];
    if (m == -INFINITY) return -INFINITY;
    double s = 0;
    for (int i = 0; i < n; i++) s += exp((double)x[i] - m);
    return m + log(s);
}

/* The logit filters, in openai's order, on the logits for the next token
 * after the sampled tokens seq[0, n). */
static void apply_filters(const Transcriber *t, float *x, const int32_t *seq, int n,
                          int timestamps) {
    const WhisperVocab *v = &t->v;
    int V = t->V, tb = v->ts_begin;
    if (n == 0)
        for (int i = 0; i < V; i++)
            if (t->mask0[i]) x[i] = -INFINITY;
    for (int i = 0; i < V; i++)
        if (t->mask[i]) x[i] = -INFINITY;
    if (!timestamps) return;
    x[v->no_timestamps] = -INFINITY;
    int last_ts = n >= 1 && seq[n - 1] >= tb;
    int penult_ts = n < 2 || seq[n - 2] >= tb;
    if (last_ts) {
        if (penult_ts) /* a pair just closed: text (or end) next */
            for (int i = tb; i < V; i++) x[i] = -INFINITY;
        else /* a single timestamp: another one, or the end */
            for (int i = 0; i < v->eot; i++) x[i] = -INFINITY;
    }
    int32_t ts_last = -1;
    for (int i = n - 1; i >= 0 && ts_last < 0; i--)
        if (seq[i] >= tb) ts_last = seq[i];
    if (ts_last >= 0) { /* never decreasing; a new segment starts strictly later */
        int32_t lim = last_ts && !penult_ts ? ts_last : ts_last + 1;
        for (int i = tb; i < lim && i < V; i++) x[i] = -INFINITY;
    }
    if (n == 0) { /* begin with a timestamp no later than max_initial_ts */
        for (int i = 0; i < tb; i++) x[i] = -INFINITY;
        for (int i = tb + v->max_initial_ts + 1; i < V; i++) x[i] = -INFINITY;
    }
    /* the timestamps together likelier than any single text token: a timestamp */
    double lse = logsumexp(x, V);
    double ts_lp = logsumexp(x + tb, V - tb) - lse;
    float text_max = -INFINITY;
    for (int i = 0; i < tb; i++)
        if (x[i] > text_max) text_max = x[i];
    if (ts_lp > (double)text_max - lse)
        for (int i = 0; i < tb; i++) x[i] = -INFINITY;
}

/* A draw from softmax(x / temp). */
static int32_t sample(const float *x, int n, float temp, uint64_t *rng) {
    float m = x[sampler_argmax(x, n)];
    double s = 0;
    for (int i = 0; i < n; i++) s += exp(((double)x[i] - m) / temp);
    double r = sampler_uniform_next(rng) * s, c = 0;
    int32_t last = 0;
    for (int i = 0; i < n; i++) {
        if (x[i] == -INFINITY) continue;
        c += exp(((double)x[i] - m) / temp);
        last = i;
        if (c > r) return i;
    }
    return last;
}

/* ------------------------------------------------------------ text */

double transcribe_compression_ratio(const char *text) {
    size_t n = strlen(text);
    if (!n) return 0;
    uLongf cap = compressBound((uLong)n);
    Bytef *buf = xmalloc(cap);
    double r = compress(buf, &cap, (const Bytef *)text, (uLong)n) == Z_OK ? (double)n / cap : 0;
    free(buf);
    return r;
}

static int is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }

/* ids below `below`, decoded; NULL with the error set on a bad id */
static char *decode_below(const Transcriber *t, const int32_t *ids, int n, int32_t below) {
    int32_t *keep = xmalloc(sizeof(int32_t) * (size_t)(n + 1));
    int k = 0;
    for (int i = 0; i < n; i++)
        if (ids[i] < below) keep[k++] = ids[i];
    char *s = tokenizer_decode(t->tok, keep, (size_t)k);
    free(keep);
    return s;
}

/* The text with leading and trailing white space removed, in place. */
static char *strip(char *s) {
    size_t n = strlen(s), a = 0;
    while (n && is_space((unsigned char)s[n - 1])) s[--n] = 0;
    while (a < n && is_space((unsigned char)s[a])) a++;
    memmove(s, s + a, n - a + 1);
    return s;
}

/* ------------------------------------------------------------ one window */

typedef struct {
    IdVec tokens;        /* sampled, without the end of text */
    double sum_logprob;
    double avg_logprob;
    double no_speech_prob;
    double compression_ratio;
    float temperature;
    char *text;          /* stripped */
} DecodeResult;

static void result_free(DecodeResult *r) {
    idvec_free(&r->tokens);
    free(r->text);
    memset(r, 0, sizeof *r);
}

/* log-probability of x[id] under softmax(x) */
static double logprob(const float *x, int n, int32_t id) { return x[id] - logsumexp(x, n); }

/* One greedy or sampled candidate from the cached initial tokens. */
static int decode_one(Transcriber *t, int n_init, int timestamps, float temp, uint64_t *rng,
                      UnumCancel *cancel, IdVec *seq, double *sum) {
    Whisper *w = t->w;
    int V = t->V, n_text = w->c.n_text, sample_len = n_text / 2;
    float *x = t->logits;
    whisper_rewind(w, n_init);
    memcpy(x, t->init_logits, sizeof(float) * (size_t)V);
    seq->n = 0;
    *sum = 0;
    for (int i = 0; i < sample_len; i++) {
        if (unum_cancelled(cancel)) return unum_cancelled_status();
        if (i > 0 && whisper_decode(w, &seq->v[seq->n - 1], 1, x, 0)) return -1;
        apply_filters(t, x, seq->v, (int)seq->n, timestamps);
        int32_t id = temp > 0 ? sample(x, V, temp, rng) : sampler_argmax(x, V);
        *sum += logprob(x, V, id);
        if (id == t->v.eot) break;
        idvec_push(seq, id);
        if (n_init + (int)seq->n > n_text) break;
    }
    return 0;
}

typedef struct {
    IdVec seq;
    double score;
    int src; /* the beam it extends */
} Cand;

static int cand_find(const Cand *c, int n, const IdVec *prefix, int32_t tok) {
    for (int i = 0; i < n; i++)
        if (c[i].seq.n == prefix->n + 1 && c[i].seq.v[prefix->n] == tok &&
            !memcmp(c[i].seq.v, prefix->v, sizeof(int32_t) * prefix->n))
            return i;
    return -1;
}

static void cand_set(Cand *c, const IdVec *prefix, int32_t tok, double score, int src) {
    c->seq.n = 0;
    for (size_t k = 0; k < prefix->n; k++) idvec_push(&c->seq, prefix->v[k]);
    idvec_push(&c->seq, tok);
    c->score = score;
    c->src = src;
}

static int cand_desc(const void *a, const void *b) { /* stable: ties keep their order */
    const Cand *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->src - y->src;
}

/* Beam search of width B from the cached initial tokens (openai's
 * BeamSearchDecoder, patience 1): each beam proposes its B + 1 likeliest
 * next tokens; the best B unfinished candidates become the beams and those
 * ending in end of text are kept as finished, until B have finished. The
 * result is the finished sequence with the best sum log-prob / length. */
static int decode_beam(Transcriber *t, int n_init, int timestamps, int B, UnumCancel *cancel,
                       IdVec *out, double *out_sum) {
    Whisper *w = t->w;
    int V = t->V, n_text = w->c.n_text, sample_len = n_text / 2, rc = -1;
    if (whisper_slots(w, B)) return -1;
    whisper_slot_select(w, 0);
    whisper_rewind(w, n_init);
    for (int b = 1; b < B; b++) whisper_slot_copy(w, b, 0, 0);
    IdVec beams[MAX_BEAM] = {{0}};
    double sums[MAX_BEAM] = {0};
    int slot[MAX_BEAM], n_beams = 1; /* at first all beams are the same: one row */
    for (int b = 0; b < B; b++) slot[b] = b;
    int ncap = MAX_BEAM * (MAX_BEAM + 1);
    Cand *cand = xcalloc((size_t)ncap, sizeof *cand), fin[MAX_BEAM + MAX_BEAM];
    memset(fin, 0, sizeof fin);
    int n_fin = 0;
    int32_t *top = xmalloc(sizeof(int32_t) * (size_t)(B + 1));
    for (int step = 0; step < sample_len; step++) {
        if (unum_cancelled(cancel)) {
            rc = unum_cancelled_status();
            goto done;
        }
        int nc = 0;
        for (int b = 0; b < n_beams; b++) {
            float *x = t->logits;
            if (step == 0) memcpy(x, t->init_logits, sizeof(float) * (size_t)V);
            else {
                whisper_slot_select(w, slot[b]);
                if (whisper_decode(w, &beams[b].v[beams[b].n - 1], 1, x, 0)) goto done;
            }
            apply_filters(t, x, beams[b].v, (int)beams[b].n, timestamps);
            double lse = logsumexp(x, V);
            /* the B + 1 likeliest tokens, the lower id first among equals */
            int nt = 0;
            for (int i = 0; i < V; i++) {
                if (nt == B + 1 && !(x[i] > x[top[B]])) continue;
                int k = nt < B + 1 ? nt++ : B; /* a free place, or the worst one's */
                while (k > 0 && x[i] > x[top[k - 1]]) top[k] = top[k - 1], k--;
                top[k] = i;
            }
            for (int k = 0; k < nt; k++) {
                double s = sums[b] + (x[top[k]] - lse);
                int at = cand_find(cand, nc, &beams[b], top[k]);
                if (at >= 0) cand[at].score = s; /* same sequence: keeps its place */
                else cand_set(&cand[nc++], &beams[b], top[k], s, b * (B + 1) + k);
            }
        }
        qsort(cand, (size_t)nc, sizeof *cand, cand_desc);
        /* new beams: the best B unfinished; finished ones set aside */
        IdVec next[MAX_BEAM] = {{0}};
        double nsum[MAX_BEAM];
        int src[MAX_BEAM], saved = 0;
        Cand newly[MAX_BEAM + MAX_BEAM + 2];
        int n_new = 0;
        for (int i = 0; i < nc && saved < B; i++) {
            IdVec *s = &cand[i].seq;
            if (s->v[s->n - 1] == t->v.eot) {
                newly[n_new++] = cand[i];
                continue;
            }
            for (size_t k = 0; k < s->n; k++) idvec_push(&next[saved], s->v[k]);
            nsum[saved] = cand[i].score;
            src[saved++] = cand[i].src / (B + 1);
        }
        for (int i = 0; i < n_new && n_fin < B; i++) {
            fin[n_fin].seq = (IdVec){0};
            for (size_t k = 0; k + 1 < newly[i].seq.n; k++) idvec_push(&fin[n_fin].seq, newly[i].seq.v[k]);
            fin[n_fin++].score = newly[i].score;
        }
        /* caches follow the beams: a beam's slot goes to its first heir,
         * the others get copies in the slots no heir claimed */
        int claimed[MAX_BEAM] = {0}, nslot[MAX_BEAM];
        for (int k = 0; k < saved; k++) {
            int s = slot[src[k]];
            nslot[k] = claimed[s] ? -1 : s;
            claimed[s] = 1;
        }
        for (int k = 0; k < saved; k++)
            if (nslot[k] < 0) {
                int f = 0;
                while (claimed[f]) f++;
                claimed[f] = 1;
                nslot[k] = f;
                whisper_slot_copy(w, f, slot[src[k]], n_init);
            }
        for (int b = 0; b < MAX_BEAM; b++) idvec_free(&beams[b]);
        for (int k = 0; k < saved; k++) beams[k] = next[k], sums[k] = nsum[k], slot[k] = nslot[k];
        n_beams = saved;
        if (n_fin >= B || n_beams == 0 || n_init + (int)beams[0].n > n_text) break;
    }
    /* too few finished: the best unfinished beams, as they stand */
    int order[MAX_BEAM];
    for (int b = 0; b < n_beams; b++) order[b] = b;
    for (int i = 1; i < n_beams; i++)
        for (int j = i; j > 0 && sums[order[j]] > sums[order[j - 1]]; j--) {
            int tmp = order[j];
            order[j] = order[j - 1], order[j - 1] = tmp;
        }
    for (int i = 0; i < n_beams && n_fin < B; i++) {
        fin[n_fin].seq = (IdVec){0};
        for (size_t k = 0; k < beams[order[i]].n; k++) idvec_push(&fin[n_fin].seq, beams[order[i]].v[k]);
        fin[n_fin++].score = sums[order[i]];
    }
    int best = -1;
    double best_score = -INFINITY;
    for (int i = 0; i < n_fin; i++) {
        double sc = fin[i].seq.n ? fin[i].score / (double)fin[i].seq.n : fin[i].score;
        if (best < 0 || sc > best_score) best = i, best_score = sc;
    }
    out->n = 0;
    *out_sum = best >= 0 ? fin[best].score : -INFINITY;
    for (size_t k = 0; best >= 0 && k < fin[best].seq.n; k++) idvec_push(out, fin[best].seq.v[k]);
    rc = 0;
done:
    whisper_slot_select(w, 0);
    for (int b = 0; b < MAX_BEAM; b++) idvec_free(&beams[b]);
    for (int i = 0; i < n_fin; i++) idvec_free(&fin[i].seq);
    for (int i = 0; i < ncap; i++) idvec_free(&cand[i].seq);
    free(cand);
    free(top);
    return rc;
}

/* Decodes the window whose encoder output is current, at one temperature,
 * from the initial tokens already decoded (n_init of them). */
static int decode_window(Transcriber *t, int n_init, const TranscribeParams *p, float temp,
                         uint64_t *rng, DecodeResult *r) {
    IdVec seq = {0};
    double sum = 0;
    int rc;
    if (temp == 0 && p->beam > 1) {
        rc = decode_beam(t, n_init, p->timestamps, p->beam > MAX_BEAM ? MAX_BEAM : p->beam,
                         p->cancel, &r->tokens, &r->sum_logprob);
    } else {
        int n = temp > 0 && p->best_of > 1 ? p->best_of : 1;
        double best_score = -INFINITY;
        rc = 0;
        for (int k = 0; k < n && !rc; k++) {
            rc = decode_one(t, n_init, p->timestamps, temp, rng, p->cancel, &seq, &sum);
            double sc = seq.n ? sum / (double)seq.n : sum;
            if (!rc && (k == 0 || sc > best_score)) {
                best_score = sc;
                r->tokens.n = 0;
                for (size_t i = 0; i < seq.n; i++) idvec_push(&r->tokens, seq.v[i]);
                r->sum_logprob = sum;
            }
        }
    }
    idvec_free(&seq);
    if (rc) return rc;
    r->temperature = temp;
    r->avg_logprob = r->sum_logprob / (double)(r->tokens.n + 1);
    if (!(r->text = decode_below(t, r->tokens.v, (int)r->tokens.n, t->v.ts_begin))) return -1;
    strip(r->text);
    r->compression_ratio = transcribe_compression_ratio(r->text);
    return 0;
}

/* ------------------------------------------------------------ windows */

typedef struct {
    float *mel;           /* [n_mels x frames] of the audio and a window of silence */
    size_t frames;        /* all frames */
    size_t content;       /* frames of the audio itself */
} WholeMel;

static int whole_mel(Transcriber *t, const float *pcm, size_t n, WholeMel *m) {
    size_t pad = (size_t)t->n_frames * MEL_HOP, total = n + pad;
    float *x = calloc(total, sizeof *x);
    m->frames = mel_frames(total);
    m->content = m->frames - (size_t)t->n_frames;
    m->mel = malloc(sizeof(float) * m->frames * (size_t)t->w->c.n_mels);
    if (!x || !m->mel) {
        free(x);
        free(m->mel);
        m->mel = NULL;
        return unum_error_set("out of memory for the log-mel of %.0f s of audio",
                              (double)n / MEL_SAMPLE_RATE);
    }
    if (n) memcpy(x, pcm, sizeof(float) * n);
    int rc = mel_compute(t->mel, x, total, m->mel);
    free(x);
    return rc;
}

/* Runs the encoder on the window of `size` frames at frame seek, padded
 * with zeros to the window length as openai's transcribe() pads the slice
 * (unless that window is the current one). Language detection instead
 * reads a whole window of the padded spectrogram, as openai's does. */
static int encode_at(Transcriber *t, const WholeMel *m, size_t seek, size_t size) {
    if (t->encoded_seek == (int)seek && t->encoded_size == (int)size) return 0;
    int nm = t->w->c.n_mels, F = t->n_frames;
    float *win = xcalloc((size_t)nm * F, sizeof(float));
    for (int r = 0; r < nm; r++)
        memcpy(win + (size_t)r * F, m->mel + (size_t)r * m->frames + seek, sizeof(float) * size);
    t->encoded_seek = -1;
    int rc = whisper_encode(t->w, win, F);
    free(win);
    if (!rc) t->encoded_seek = (int)seek, t->encoded_size = (int)size;
    return rc;
}

static int lang_index(const Transcriber *t, const char *code) {
    char buf[32];
    snprintf(buf, sizeof buf, "<|%s|>", code);
    int32_t id = tokenizer_token_id(t->tok, buf);
    if (id < t->v.lang_first || id >= t->v.lang_first + t->v.n_langs) return -1;
    return id - t->v.lang_first;
}

static void lang_code(const Transcriber *t, int idx, char code[16]) {
    char *s = tokenizer_decode(t->tok, &(int32_t){t->v.lang_first + idx}, 1);
    size_t n = s ? strlen(s) : 0;
    if (n > 4 && n - 4 < 16) {
        memcpy(code, s + 2, n - 4);
        code[n - 4] = 0;
    } else {
        snprintf(code, 16, "?");
    }
    free(s);
}

/* The most likely language of the encoded window. */
static int detect_encoded(Transcriber *t, char code[16], float *prob) {
    const WhisperVocab *v = &t->v;
    float *x = t->logits;
    whisper_slot_select(t->w, 0);
    whisper_rewind(t->w, 0);
    if (whisper_decode(t->w, &v->sot, 1, x, 0)) return -1;
    float *l = x + v->lang_first;
    int best = sampler_argmax(l, v->n_langs);
    double lse = logsumexp(l, v->n_langs);
    if (prob) *prob = (float)exp(l[best] - lse);
    lang_code(t, best, code);
    return 0;
}

int transcribe_detect_language(Transcriber *t, const float *pcm, size_t n, char code[16],
                               float *prob) {
    if (t->vv) return unum_error_set("%s: a VibeVoice model does not name the language", t->dir);
    if (!t->v.multilingual) {
        snprintf(code, 16, "en");
        if (prob) *prob = 1;
        return 0;
    }
    WholeMel m = {0};
    t->encoded_seek = -1; /* other audio may have been encoded at the same window */
    int rc = whole_mel(t, pcm, n, &m) || encode_at(t, &m, 0, (size_t)t->n_frames) ||
             detect_encoded(t, code, prob);
    free(m.mel);
    return rc ? -1 : 0;
}

static int seg_push(Transcript *out, const Transcriber *t, double start, double end,
                    const int32_t *tok, int n, const DecodeResult *r) {
    char *text = decode_below(t, tok, n, t->v.eot);
    if (!text) return -1;
    char *probe = xstrdup(text);
    int blank = !*strip(probe);
    free(probe);
    if (start == end || blank) { /* instantaneous or empty: dropped */
        free(text);
        return 0;
    }
    if (out->n == out->cap) {
        out->cap = out->cap ? 2 * out->cap : 16;
        out->seg = xrealloc(out->seg, sizeof *out->seg * (size_t)out->cap);
    }
    TSegment *s = &out->seg[out->n++];
    s->start = start, s->end = end, s->text = text, s->speaker = NULL;
    s->tokens = xmalloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    memcpy(s->tokens, tok, sizeof(int32_t) * (size_t)n);
    s->n_tokens = n;
    s->avg_logprob = (float)r->avg_logprob;
    s->compression_ratio = (float)r->compression_ratio;
    s->no_speech_prob = (float)r->no_speech_prob;
    s->temperature = r->temperature;
    return 1;
}

/* The core of transcribe() and the stream: ctx holds the text tokens so far
 * (the next window's prompt) and is carried over between calls. */
static void warn_stderr(void *ud, const char *msg) { fprintf(stderr, "unum: warning: %s\n", msg); }

/* A speaker-aware model: the audio at its rate, one pass. */
static int run_vibevoice(Transcriber *t, const float *pcm, size_t n, int rate, double t0,
                         const TranscribeParams *p, Transcript *out) {
    float *x = NULL;
    size_t nx = 0;
    if (rate != t->vv->rate) {
        if (resample(pcm, n, rate, t->vv->rate, &x, &nx)) return -1;
        pcm = x, n = nx;
    }
    VibeVoiceParams vp = {.on_segment = p->on_segment,
                          .on_progress = p->on_progress,
                          .on_warning = p->on_warning ? p->on_warning : warn_stderr,
                          .ud = p->ud,
                          .cancel = p->cancel,
                          .seed = p->seed,
                          .max_tokens = p->max_tokens};
    int rc = n ? vibevoice_transcribe(t->vv, pcm, n, t0, &vp, out) : 0;
    free(x);
    snprintf(out->language, sizeof out->language, "%s", "");
    return rc;
}

static int run(Transcriber *t, const float *pcm, size_t n, double t0, const TranscribeParams *p,
               Transcript *out, IdVec *ctx, size_t *ctx_reset) {
    if (t->vv) return run_vibevoice(t, pcm, n, MEL_SAMPLE_RATE, t0, p, out);
    Whisper *w = t->w;
    const WhisperVocab *v = &t->v;
    int n_text = w->c.n_text, rc = -1;
    WholeMel m = {0};
    IdVec init = {0};
    uint64_t rng = p->seed ^ 0x6a09e667f3bcc909ull;
    t->encoded_seek = -1;
    if (whole_mel(t, pcm, n, &m)) return -1;

    /* the initial tokens after the prompt */
    int32_t sot_seq[4];
    int n_sot = 0;
    sot_seq[n_sot++] = v->sot;
    if (v->multilingual) {
        int li = 0;
        if (p->language) {
            if ((li = lang_index(t, p->language)) < 0) {
                unum_error_set("language \"%s\" is not one of the model's", p->language);
                goto done;
            }
            snprintf(out->language, sizeof out->language, "%s", p->language);
        } else {
            if (encode_at(t, &m, 0, (size_t)t->n_frames) || detect_encoded(t, out->language, NULL))
                goto done;
            li = lang_index(t, out->language);
        }
        sot_seq[n_sot++] = v->lang_first + li;
        sot_seq[n_sot++] = p->translate ? v->translate : v->transcribe;
    } else {
        snprintf(out->language, sizeof out->language, "en");
    }
    if (!p->timestamps) sot_seq[n_sot++] = v->no_timestamps;

    size_t seek = 0;
    int F = t->n_frames;
    while (seek < m.content) {
        if (unum_cancelled(p->cancel)) {
            rc = unum_cancelled_status();
            goto done;
        }
        double offset = (double)seek * MEL_HOP / MEL_SAMPLE_RATE;
        size_t size = m.content - seek < (size_t)F ? m.content - seek : (size_t)F;
        double duration = (double)size * MEL_HOP / MEL_SAMPLE_RATE;
        if (encode_at(t, &m, seek, size)) goto done;

        init.n = 0;
        size_t n_prompt = ctx->n - *ctx_reset, max_prompt = (size_t)(n_text / 2 - 1);
        if (n_prompt > 0) {
            idvec_push(&init, v->sot_prev);
            size_t from = ctx->n - (n_prompt < max_prompt ? n_prompt : max_prompt);
            for (size_t i = from; i < ctx->n; i++) idvec_push(&init, ctx->v[i]);
        }
        int sot_at = (int)init.n;
        for (int i = 0; i < n_sot; i++) idvec_push(&init, sot_seq[i]);
        /* up to <|startoftranscript|> (the no-speech probability is read
         * there), then the rest */
        whisper_slot_select(w, 0);
        whisper_rewind(w, 0);
        if (whisper_decode(w, init.v, sot_at + 1, t->init_logits, 0)) goto done;
        double no_speech = exp(logprob(t->init_logits, t->V, v->no_speech));
        if (n_sot > 1 &&
            whisper_decode(w, init.v + sot_at + 1, n_sot - 1, t->init_logits, 0))
            goto done;
        int n_init = (int)init.n;

        /* decode, at rising temperatures while the result looks wrong */
        DecodeResult r = {0};
        for (float temp = p->temperature;; temp += p->temperature_inc) {
            result_free(&r);
            int drc = decode_window(t, n_init, p, temp, &rng, &r);
            if (drc) {
                result_free(&r);
                rc = drc;
                goto done;
            }
            r.no_speech_prob = no_speech;
            int fallback = r.compression_ratio > p->compression_ratio_threshold ||
                           r.avg_logprob < p->logprob_threshold;
            if (no_speech > p->no_speech_threshold && r.avg_logprob < p->logprob_threshold)
                fallback = 0; /* silence */
            if (!fallback || p->temperature_inc <= 0 || temp + p->temperature_inc > 1.0f + 1e-6f)
                break;
        }
        if (no_speech > p->no_speech_threshold && !(r.avg_logprob > p->logprob_threshold)) {
            seek += size; /* silence */
            result_free(&r);
            if (p->on_progress) p->on_progress(p->ud, (double)seek * MEL_HOP / MEL_SAMPLE_RATE, (double)n / MEL_SAMPLE_RATE);
            continue;
        }

        /* cut the tokens into segments at timestamp pairs */
        const int32_t *tok = r.tokens.v;
        int nt = (int)r.tokens.n, tb = v->ts_begin;
        int single_end = nt >= 2 && tok[nt - 2] < tb && tok[nt - 1] >= tb;
        int cuts[512], n_cuts = 0;
        for (int i = 1; i < nt && n_cuts < 511; i++)
            if (tok[i - 1] >= tb && tok[i] >= tb) cuts[n_cuts++] = i;
        size_t first_seg = (size_t)out->n, prev_seek = seek;
        int stopped = 0;
        if (n_cuts > 0) {
            if (single_end) cuts[n_cuts++] = nt;
            int last = 0;
            for (int c = 0; c < n_cuts; c++) {
                const int32_t *s = tok + last;
                int len = cuts[c] - last;
                double st = offset + (s[0] - tb) * TIME_PRECISION;
                double en = offset + (s[len - 1] - tb) * TIME_PRECISION;
                if (seg_push(out, t, t0 + st, t0 + en, s, len, &r) < 0) {
                    result_free(&r);
                    goto done;
                }
                last = cuts[c];
            }
            if (single_end) seek += size;
            else seek += (size_t)(tok[last - 1] - tb) * INPUT_STRIDE;
        } else {
            double dur = duration;
            int32_t ts_last = -1;
            for (int i = 0; i < nt; i++)
                if (tok[i] >= tb) ts_last = tok[i];
            if (ts_last > tb) dur = (ts_last - tb) * TIME_PRECISION;
            if (seg_push(out, t, t0 + offset, t0 + offset + dur, tok, nt, &r) < 0) {
                result_free(&r);
                goto done;
            }
            seek += size;
        }
        if (seek == prev_seek) seek += size; /* a zero-length pair: move on */
        for (size_t i = first_seg; i < (size_t)out->n; i++) {
            for (int k = 0; k < out->seg[i].n_tokens; k++) idvec_push(ctx, out->seg[i].tokens[k]);
            if (!stopped && p->on_segment && p->on_segment(p->ud, &out->seg[i])) stopped = 1;
        }
        if (!p->condition_on_previous || r.temperature > 0.5f) *ctx_reset = ctx->n;
        result_free(&r);
        if (p->on_progress)
            p->on_progress(p->ud, (double)(seek < m.content ? seek : m.content) * MEL_HOP / MEL_SAMPLE_RATE,
                           (double)n / MEL_SAMPLE_RATE);
        if (stopped) {
            rc = 1;
            goto done;
        }
    }
    rc = 0;
done:
    idvec_free(&init);
    free(m.mel);
    return rc;
}

int transcribe_at(Transcriber *t, const float *pcm, size_t n, int rate, double t0,
                  const TranscribeParams *p, Transcript *out) {
    if (t->vv) return run_vibevoice(t, pcm, n, rate, t0, p, out);
    if (rate == MEL_SAMPLE_RATE) return transcribe(t, pcm, n, t0, p, out);
    float *x = NULL;
    size_t nx = 0;
    if (resample(pcm, n, rate, MEL_SAMPLE_RATE, &x, &nx)) return -1;
    int rc = transcribe(t, x, nx, t0, p, out);
    free(x);
    return rc;
}

int transcribe(Transcriber *t, const float *pcm, size_t n, double t0, const TranscribeParams *p,
               Transcript *out) {
    IdVec ctx = {0};
    size_t reset = 0;
    int rc = run(t, pcm, n, t0, p, out, &ctx, &reset);
    idvec_free(&ctx);
    return rc;
}

void transcript_free(Transcript *tr) {
    for (int i = 0; i < tr->n; i++) {
        free(tr->seg[i].text);
        free(tr->seg[i].speaker);
        free(tr->seg[i].tokens);
    }
    free(tr->seg);
    memset(tr, 0, sizeof *tr);
}

/* ------------------------------------------------------------ streaming */

struct TStream {
    Transcriber *t;
    TranscribeParams p;
    Transcript *out;
    vad *vad;
    float *buf;     /* samples from `base` on */
    size_t n, cap;
    uint64_t base;  /* stream offset of buf[0] */
    uint64_t total; /* samples fed */
    IdVec ctx;
    size_t reset;
};

TStream *tstream_new(Transcriber *t, const TranscribeParams *p, Transcript *out) {
    TStream *s = xcalloc(1, sizeof *s);
    s->t = t, s->p = *p, s->out = out;
    if (!(s->vad = vad_create(NULL))) {
        free(s);
        return NULL;
    }
    return s;
}

void tstream_free(TStream *s) {
    if (!s) return;
    vad_free(s->vad);
    free(s->buf);
    idvec_free(&s->ctx);
    free(s);
}

/* Transcribes the finished utterances, then drops audio no utterance can
 * still need. */
static int stream_drain(TStream *s) {
    vad_segment u;
    while (vad_next(s->vad, &u)) {
        if (u.start < s->base || u.end > s->base + s->n || u.end <= u.start) continue;
        int rc = run(s->t, s->buf + (u.start - s->base), (size_t)(u.end - u.start),
                     (double)u.start / MEL_SAMPLE_RATE, &s->p, s->out, &s->ctx, &s->reset);
        if (rc) return rc;
    }
    uint64_t keep = s->total, st;
    if (vad_in_speech(s->vad, &st) && st < keep) keep = st;
    /* a little before the current position, for an utterance about to start */
    uint64_t margin = MEL_SAMPLE_RATE;
    keep = keep > margin ? keep - margin : 0;
    if (keep > s->base) {
        size_t drop = (size_t)(keep - s->base);
        memmove(s->buf, s->buf + drop, sizeof(float) * (s->n - drop));
        s->n -= drop;
        s->base = keep;
    }
    return 0;
}

int tstream_feed(TStream *s, const float *pcm, size_t n) {
    if (s->n + n > s->cap) {
        size_t cap = s->cap ? s->cap : MEL_SAMPLE_RATE * 4;
        while (cap < s->n + n) cap *= 2;
        float *b = realloc(s->buf, sizeof(float) * cap);
        if (!b) return unum_error_set("out of memory for %zu samples of live audio", cap);
        s->buf = b, s->cap = cap;
    }
    memcpy(s->buf + s->n, pcm, sizeof(float) * n);
    s->n += n;
    s->total += n;
    vad_feed(s->vad, pcm, n);
    return stream_drain(s);
}

int tstream_finish(TStream *s) {
    vad_flush(s->vad);
    return stream_drain(s);
}
