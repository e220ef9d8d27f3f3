/* speculative.c - see speculative.h. */
#include "engine/speculative.h"

#include "engine/base/util.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ pairing */

int spec_check_pair(const Engine *target, const Engine *draft) {
    int nt = tokenizer_n_vocab(target->tok), nd = tokenizer_n_vocab(draft->tok);
    int shared = nt < nd ? nt : nd;
    for (int32_t id = 0; id < shared; id++) {
        char *a = tokenizer_decode(target->tok, &id, 1);
        char *b = tokenizer_decode(draft->tok, &id, 1);
        int same = a && b && !strcmp(a, b);
        if (!same) {
            unum_error_set("draft %s and target %s: their tokenizers differ at id %d ('%.20s' "
                           "vs '%.20s'); speculative decoding needs the same tokenizer",
                           draft->dir, target->dir, id, b ? b : "?", a ? a : "?");
            free(a);
            free(b);
            return -1;
        }
        free(a);
        free(b);
    }
    return 0;
}

double spec_accept_rate(const SpecStats *s) {
    return s->drafted ? (double)s->accepted / s->drafted : 0.0;
}

double spec_tokens_per_forward(const SpecStats *s, const GenerateStats *g) {
    return s->rounds ? (double)g->generated / s->rounds : 0.0;
}

/* ------------------------------------------------------------ helpers */

/* Rewinds e's cache to its longest common prefix with ids[0..limit). */
static size_t sync_prefix(Engine *e, const int32_t *ids, size_t limit) {
    size_t keep = 0;
    while (keep < e->cached.n && keep < limit && e->cached.v[keep] == ids[keep]) keep++;
    qwen2_rewind(e->model, (int)keep);
    e->cached.n = keep;
    return keep;
}

/* Feeds ids[0..n) to e in chunks, checking the cancel flag of cancel_from
 * between them; the last position's logits go to logits (host) when not
 * NULL. 0, 1 when cancelled, -1 on error. */
static int feed(Engine *e, Engine *cancel_from, const int32_t *ids, size_t n, float *logits) {
    Qwen2 *m = e->model;
    for (size_t from = 0; from < n;) {
        if (unum_cancelled(&cancel_from->cancel)) return 1;
        size_t k = n - from < (size_t)m->max_batch ? n - from : (size_t)m->max_batch;
        if (qwen2_forward(m, ids + from, (int)k, logits, 0)) return -1;
        for (size_t i = 0; i < k; i++) idvec_push(&e->cached, ids[from + i]);
        from += k;
    }
    return 0;
}

/* A draw from probs[0..n) with u in [0, 1): ids in order. */
static int32_t draw(const float *probs, int n, double u) {
    double sum = 0;
    for (int i = 0; i < n; i++) sum += probs[i];
    double r = u * sum, acc = 0;
    int32_t last = 0;
    for (int i = 0; i < n; i++) {
        if (probs[i] <= 0) continue;
        acc += probs[i];
        last = i;
        if (r < acc) return i;
    }
    return last;
}

/* A draw from norm(max(0, p - q)) over the target's ids (q is zero past
 * nq); p itself when the difference has no mass. */
static int32_t draw_residual(float *p, int np, const float *q, int nq, double u) {
    double mass = 0;
    for (int i = 0; i < np; i++) {
        float d = p[i] - (i < nq ? q[i] : 0.0f);
        mass += d > 0 ? d : 0;
    }
    if (mass <= 0) return draw(p, np, u);
    for (int i = 0; i < np; i++) {
        float d = p[i] - (i < nq ? q[i] : 0.0f);
        p[i] = d > 0 ? d : 0;
    }
    return draw(p, np, u);
}

static int is_eos(const Engine *e, int32_t id) {
    for (int i = 0; i < e->gen.n_eos; i++)
        if (e->gen.eos[i] == id) return 1;
    return 0;
}

/* ------------------------------------------------------------ output */

/* The committed text and its delivery to the callback, as engine_generate
 * delivers it. */
typedef struct {
    Engine *e;
    const GenerateParams *p;
    engine_token_fn fn;
    void *user;
    GenerateStats *st;
    IdVec seq; /* prompt + generated */
    TokStream ts;
    char *text;
    size_t cap;
    int done;
} Out;

/* Appends id to the text; sets o->done (and the stop reason) when
 * generation ends with it. */
static void commit(Out *o, int32_t id) {
    if (!o->p->ignore_eos && is_eos(o->e, id)) {
        o->st->stop = STOP_EOS;
        if (o->fn) o->fn(o->user, id, "", 0);
        o->done = 1;
        return;
    }
    idvec_push(&o->seq, id);
    o->st->generated++;
    o->text[0] = 0;
    int len = tokenizer_stream(o->e->tok, &o->ts, id, o->text, o->cap);
    if (len < 0) len = 0, o->text[0] = 0;
    if (o->fn && o->fn(o->user, id, o->text, (size_t)len)) {
        o->st->stop = STOP_CALLBACK;
        o->done = 1;
    } else if (o->st->generated >= o->p->max_tokens) {
        o->st->stop = STOP_LENGTH;
        o->done = 1;
    }
}

/* ------------------------------------------------------------ rounds */

typedef struct {
    Engine *t, *d;
    Sampler *st, *sd; /* the same settings over each vocabulary */
    int Vt, Vd, kmax;
    float *plog;  /* [(kmax+1) x Vt] the verify forward's logits */
    float *pprob; /* [Vt] */
    float *dlog;  /* [Vd] the draft's last logits */
    float *qprob; /* [(kmax+1) x Vd] the draft's distributions */
    int32_t *batch;
    uint64_t rng;
    int draft_off; /* the draft cannot read the text any more */
    int greedy;
    double rate; /* recent share of drafts kept (halves toward each round's) */
    int pause;   /* rounds left to decode without drafting */
} Spec;

static double uniform(Spec *s) { return s->greedy ? 0.0 : sampler_uniform_next(&s->rng); }

/* Drafts up to k tokens after o->seq into s->batch[1..]; returns how many,
 * or -1 on error, -2 when cancelled. *forced: the next draft was an id the
 * target lacks, so position (returned count) is a refusal whose q is
 * qprob[count]. */
static int draft_tokens(Spec *s, Out *o, int k, int *forced) {
    Engine *d = s->d;
    size_t L = o->seq.n;
    *forced = 0;
    size_t c = sync_prefix(d, o->seq.v, L - 1);
    int rc = feed(d, s->t, o->seq.v + c, L - c, s->dlog);
    if (rc) return rc < 0 ? -1 : -2;
    int got = 0;
    for (int i = 0; i < k; i++) {
        float *q = s->qprob + (size_t)i * s->Vd;
        sampler_dist(s->sd, s->dlog, o->seq.v, o->seq.n, q);
        int32_t id = s->greedy ? sampler_argmax(q, s->Vd) : draw(q, s->Vd, uniform(s));
        if (id >= s->Vt) {
            *forced = 1;
            break;
        }
        s->batch[1 + i] = id;
        idvec_push(&o->seq, id); /* history for the next distribution */
        got++;
        int rc = i + 1 < k ? feed(d, s->t, &id, 1, s->dlog) : 0;
        if (rc) {
            o->seq.n = L;
            return rc < 0 ? -1 : -2;
        }
    }
    o->seq.n = L;
    return got;
}

/* One round: draft, verify, keep, commit. 0, -1 on error, 1 when
 * cancelled. */
static int round_once(Spec *s, Out *o, int *k, SpecStats *ss) {
    Engine *t = s->t;
    size_t L = o->seq.n;
    int want = *k;
    int left = o->p->max_tokens - o->st->generated;
    if (want > left - 1) want = left - 1;
    if (want > t->model->ctx - (int)L) want = t->model->ctx - (int)L;
    if (want > s->d->model->ctx - (int)L) want = s->d->model->ctx - (int)L; /* may be < 0 */
    if (s->draft_off || want < 0) want = 0;
    if (s->pause > 0) s->pause--, want = 0;

    int forced = 0, nd = 0;
    if (want > 0) {
        nd = draft_tokens(s, o, want, &forced);
        if (nd == -2) return 1;
        if (nd < 0) return -1;
    }
    /* verify: the last committed token and the drafts, every position's
     * logits */
    s->batch[0] = o->seq.v[L - 1];
    if (qwen2_forward(t->model, s->batch, nd + 1, s->plog, 1)) return -1;
    for (int i = 0; i <= nd; i++) idvec_push(&t->cached, s->batch[i]);
    ss->rounds++;
    ss->drafted += nd + forced;

    int kept = 0;
    int32_t next = -1;
    for (int i = 0; i <= nd; i++) {
        float *q = s->qprob + (size_t)i * s->Vd;
        sampler_dist(s->st, s->plog + (size_t)i * s->Vt, o->seq.v, o->seq.n, s->pprob);
        if (i == nd) { /* past the drafts: a refused id the target lacks, or the bonus */
            next = forced      ? draw_residual(s->pprob, s->Vt, q, s->Vd, uniform(s))
                   : s->greedy ? sampler_argmax(s->pprob, s->Vt)
                               : draw(s->pprob, s->Vt, uniform(s));
            break;
        }
        int32_t d = s->batch[1 + i];
        double pd = s->pprob[d], qd = q[d];
        int accept = s->greedy ? pd > 0 : qd <= 0 || uniform(s) * qd < pd;
        if (!accept) {
            next = s->greedy ? sampler_argmax(s->pprob, s->Vt)
                             : draw_residual(s->pprob, s->Vt, q, s->Vd, uniform(s));
            break;
        }
        kept++;
        commit(o, d);
        if (o->done) break;
    }
    ss->accepted += kept;
    /* the target keeps what was committed but the last token */
    size_t valid = L + (size_t)kept;
    if (valid > o->seq.n) valid = o->seq.n;
    qwen2_rewind(t->model, (int)valid);
    t->cached.n = valid;
    if (!o->done) {
        commit(o, next);
        if (next >= s->Vd) s->draft_off = 1;
    }
    if (nd > 0) {
        *k = kept == nd && !forced ? (*k + 2 < s->kmax ? *k + 2 : s->kmax) : (*k > 1 ? *k - 1 : 1);
        s->rate = (s->rate + (double)kept / (nd + forced)) / 2;
        if (s->rate < SPEC_PAUSE_BELOW) s->pause = SPEC_PAUSE_ROUNDS;
    }
    return 0;
}

/* ------------------------------------------------------------ generate */

static int generate(Engine *t, Engine *d, int draft_n, const int32_t *prompt, size_t n,
                    const GenerateParams *p, engine_token_fn fn, void *user, GenerateStats *st,
                    SpecStats *ss) {
    Qwen2 *m = t->model;
    if (n == 0) return unum_error_set("empty prompt");
    if (n >= (size_t)m->ctx)
        return unum_error_set("prompt of %zu tokens does not fit the context of %d", n, m->ctx);
    for (size_t i = 0; i < n; i++)
        if (prompt[i] < 0 || prompt[i] >= m->c.vocab)
            return unum_error_set("prompt token %zu: id %d is outside the vocabulary [0, %d)", i,
                                  prompt[i], m->c.vocab);
    if (draft_n < 1 || draft_n > SPEC_DRAFT_N_MAX)
        return unum_error_set("--draft-n %d: give 1 to %d", draft_n, SPEC_DRAFT_N_MAX);
    st->prompt_tokens = (int)n;
    if (p->max_tokens <= 0) return 0;

    Spec s = {.t = t, .d = d, .Vt = m->c.vocab, .Vd = d->model->c.vocab, .kmax = draft_n};
    s.rate = 0.5; /* a prior: two rounds that keep nothing pause drafting */
    s.greedy = p->sampling.temperature <= 0;
    s.rng = p->sampling.seed ^ 0x5bd1e9955bd1e995ull;
    s.st = sampler_new(&p->sampling, s.Vt);
    s.sd = sampler_new(&p->sampling, s.Vd);
    s.plog = malloc(sizeof(float) * (size_t)(draft_n + 1) * (size_t)s.Vt);
    s.qprob = malloc(sizeof(float) * (size_t)(draft_n + 1) * (size_t)s.Vd);
    s.pprob = xmalloc(sizeof(float) * (size_t)s.Vt);
    s.dlog = xmalloc(sizeof(float) * (size_t)s.Vd);
    s.batch = xmalloc(sizeof(int32_t) * (size_t)(draft_n + 1));
    Out o = {.e = t, .p = p, .fn = fn, .user = user, .st = st};
    o.cap = tokenizer_stream_cap(t->tok);
    o.text = xmalloc(o.cap);
    int rc = 0;
    if (!s.plog || !s.qprob) {
        rc = unum_error_set("out of memory for %d draft positions' logits", draft_n + 1);
        goto out;
    }
    for (size_t i = 0; i < n; i++) idvec_push(&o.seq, prompt[i]);
    /* a prompt id the draft cannot read: the target decodes alone */
    for (size_t i = 0; i < n; i++) s.draft_off |= prompt[i] >= s.Vd;

    /* prefill: both take all but the last prompt token, which opens the
     * first round (the draft's sync and the target's verify batch) */
    double t0 = unum_now();
    size_t keep = sync_prefix(t, prompt, n - 1);
    st->reused_tokens = (int)keep;
    int f = feed(t, t, prompt + keep, n - 1 - keep, NULL);
    if (f == 0 && !s.draft_off && n - 1 < (size_t)d->model->ctx) {
        size_t c = sync_prefix(d, prompt, n - 1);
        f = feed(d, t, prompt + c, n - 1 - c, NULL);
    }
    st->prefill_s = unum_now() - t0;
    if (f < 0) rc = -1;
    if (f > 0) st->stop = STOP_CANCELLED;
    if (f) goto out;

    t0 = unum_now();
    int k = draft_n;
    while (!o.done) {
        if (unum_cancelled(&t->cancel)) {
            st->stop = STOP_CANCELLED;
            break;
        }
        /* engine_generate stops once a token lands in the last position */
        if ((int)o.seq.n > m->ctx) {
            st->stop = STOP_CONTEXT;
            break;
        }
        int r = round_once(&s, &o, &k, ss);
        if (r < 0) {
            rc = -1;
            break;
        }
        if (r > 0) {
            st->stop = STOP_CANCELLED;
            break;
        }
    }
    int tail = tokenizer_stream_flush(&o.ts, o.text, o.cap);
    if (rc == 0 && tail > 0 && fn) fn(user, -1, o.text, (size_t)tail);
    st->decode_s = unum_now() - t0;
out:
    free(o.text);
    idvec_free(&o.seq);
    free(s.plog);
    free(s.qprob);
    free(s.pprob);
    free(s.dlog);
    free(s.batch);
    sampler_free(s.st);
    sampler_free(s.sd);
    return rc;
}

int spec_generate(Engine *target, Engine *draft, int draft_n, const int32_t *prompt, size_t n,
                  const GenerateParams *p, engine_token_fn fn, void *user, GenerateStats *stats,
                  SpecStats *spec) {
    GenerateStats local;
    SpecStats slocal;
    if (!stats) stats = &local;
    if (!spec) spec = &slocal;
    memset(stats, 0, sizeof *stats);
    memset(spec, 0, sizeof *spec);
    stats->stop = STOP_LENGTH;
    int rc = generate(target, draft, draft_n, prompt, n, p, fn, user, stats, spec);
    if (rc == 0 && stats->stop == STOP_CANCELLED) rc = unum_cancelled_status();
    /* as engine_generate: a cancel is used up by the call it stopped */
    engine_cancel_clear(target);
    engine_cancel_clear(draft);
    return rc;
}
