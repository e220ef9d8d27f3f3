/* cli_models.c - see cli_models.h. */
#include "tui/cli/cli_models.h"

#include "engine/base/util.h"
#include "engine/cascade.h"
#include "engine/chat.h"
#include "engine/cpu/kernels.h"
#include "engine/models.h"
#include "engine/remote.h"
#include "engine/speculative.h"
#include "tui/cli/common.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_models_flag(Args *a, CliModels *cm) {
    if (args_flag(a, "--draft", NULL)) cm->draft = args_value(a);
    else if (args_flag(a, "--draft-n", NULL)) args_int(a, 1, SPEC_DRAFT_N_MAX, &cm->draft_n);
    else if (args_flag(a, "--stage2", NULL)) cm->stage2 = args_value(a);
    else if (args_flag(a, "--remote-model", NULL)) cm->remote_model = args_value(a);
    else if (args_flag(a, "--stage2-backend", NULL)) cm->stage2_backend = args_backend(a);
    else if (args_flag(a, "--mem-budget", NULL)) {
        const char *v = args_value(a);
        if (v && models_parse_size(v, &cm->mem_budget)) {
            fprintf(stderr, "unum: --mem-budget: %s\n", unum_error());
            a->bad = 1;
        }
    } else if (args_flag(a, "--escalate-below", NULL)) {
        float p;
        if (!args_float(a, 0, 2, &p)) cm->escalate_below = p, cm->have_escalate = 1;
    } else return 0;
    return 1;
}

static int is_url(const char *m) { return remote_is_url(m); }

/* ------------------------------------------------------------ prompts */

int cli_models_prompt(const Engine *e, const CliPrompt *pr, IdVec *out) {
    if (!pr->text) {
        for (size_t i = 0; i < pr->n; i++) idvec_push(out, pr->ids[i]);
        return 0;
    }
    if (pr->raw) return tokenizer_encode(engine_tokenizer(e), pr->text, strlen(pr->text), 1, out);
    /* one turn, not fitted (as run's own prompt): too long is refused later */
    ChatMsg turn = {"user", pr->text, 0};
    ChatFit fit = engine_chat_fit(e, pr->system, 0);
    fit.ctx = 0;
    return chat_prompt(engine_tokenizer(e), &turn, 1, &fit, out, NULL);
}

/* ------------------------------------------------------------ draft */

Engine *cli_models_load_draft(Models *ms, const char *draft, const char *target, Engine *e,
                              const EngineOptions *eo) {
    if (is_url(draft)) {
        unum_error_set("--draft %s: speculative decoding needs the draft's logits at every "
                       "position, so the draft must be a local model",
                       draft);
        return NULL;
    }
    if (is_url(target)) {
        unum_error_set("--draft with the remote model %s: verifying drafts needs the target's "
                       "logits at every drafted position, which a server does not return",
                       target);
        return NULL;
    }
    Engine *d = NULL;
    EngineOptions deo = *eo;
    deo.lora = NULL, deo.n_lora = 0; /* the adapters are the target's */
    if (models_adopt(ms, ROLE_CHAT, e) || models_set(ms, ROLE_DRAFT, draft, &deo) ||
        !(d = models_acquire(ms, ROLE_DRAFT))) {
        unum_error_wrap("--draft");
        return NULL;
    }
    return spec_check_pair(e, d) ? NULL : d;
}

void cli_models_report_spec(const SpecStats *ss, const GenerateStats *st) {
    fprintf(stderr,
            "unum: draft: %d of %d drafted tokens accepted (%.1f%%), %.2f tokens per target "
            "forward over %d forwards\n",
            ss->accepted, ss->drafted, 100.0 * spec_accept_rate(ss),
            spec_tokens_per_forward(ss, st), ss->rounds);
}

/* ------------------------------------------------------------ cascade */

/* Stage 1's tokens, kept to be scored and, when stdout is not a terminal,
 * delivered only if stage 1's answer stands. */
typedef struct {
    IdVec ids;  /* generated ids, and the end id when it stopped on one */
    char *text; /* all text, in pieces */
    size_t len, cap;
    IdVec piece_id;
    IdVec piece_end; /* end offset of each piece in text */
    int live;        /* also pass each token on as it comes */
    engine_token_fn fn;
    void *user;
    UnumCancel *cancel; /* stops stage 2 when set (a Ctrl-C meant for stage 1) */
} Collect;

static int collect_token(void *user, int32_t id, const char *text, size_t len) {
    Collect *c = user;
    if (id >= 0) idvec_push(&c->ids, id);
    if (c->len + len + 1 > c->cap) {
        c->cap = (c->len + len + 1) * 2;
        c->text = xrealloc(c->text, c->cap);
    }
    memcpy(c->text + c->len, text, len);
    c->len += len;
    idvec_push(&c->piece_id, id);
    idvec_push(&c->piece_end, (int32_t)c->len);
    return c->live && c->fn ? c->fn(c->user, id, text, len) : 0;
}

static void collect_replay(const Collect *c) {
    size_t start = 0;
    for (size_t i = 0; i < c->piece_id.n; i++) {
        size_t end = (size_t)c->piece_end.v[i];
        if (c->fn) c->fn(c->user, c->piece_id.v[i], c->text + start, end - start);
        start = end;
    }
}

static void collect_free(Collect *c) {
    idvec_free(&c->ids);
    idvec_free(&c->piece_id);
    idvec_free(&c->piece_end);
    free(c->text);
}

/* Stage 2's tokens pass straight on; a cancel of stage 1's engine stops it. */
static int pass_token(void *user, int32_t id, const char *text, size_t len) {
    Collect *c = user;
    if (unum_cancelled(c->cancel)) return 1;
    return c->fn ? c->fn(c->user, id, text, len) : 0;
}

/* The user's turn for a server: the system prompt (when given) and the
 * text. A prompt given as ids or --raw has no such form. */
static int remote_msgs(const CliPrompt *pr, ChatMsg *msgs, int *nm) {
    if (!pr->text || pr->raw)
        return unum_error_set("a remote model takes a chat prompt (-p, -f or stdin); --raw, "
                              "--prompt-ids, --ids and --audio need a local model");
    *nm = 0;
    if (pr->system) msgs[(*nm)++] = (ChatMsg){"system", pr->system, 0};
    msgs[(*nm)++] = (ChatMsg){"user", pr->text, 0};
    return 0;
}

static int remote_piece(void *user, const char *text, size_t len) {
    return collect_token(user, -1, text, len);
}

static int remote_pass(void *user, const char *text, size_t len) {
    return pass_token(user, -1, text, len);
}

/* The sampling settings of a local run as a server takes them. */
static RemoteParams remote_params_of(const GenerateParams *gp) {
    RemoteParams rp = {.temperature = gp->sampling.temperature,
                       .top_p = gp->sampling.top_p,
                       .max_tokens = gp->max_tokens,
                       .have_seed = 1,
                       .seed = gp->sampling.seed};
    return rp;
}

static void remote_to_stats(const RemoteStats *rs, GenerateStats *st) {
    memset(st, 0, sizeof *st);
    st->generated = rs->pieces;
    st->decode_s = rs->total_s;
    st->prefill_s = rs->first_s;
    st->stop = rs->stop;
}

/* Stage 2 answers the prompt, its tokens through pass (whose cancel flag
 * stops it). gp: stage 1's settings when it was local, else NULL and rp. */
static int stage2_answer(const CliModels *cm, Models *ms, const EngineOptions *eo,
                         const CliPrompt *pr, const GenerateParams *gp, const RemoteParams *rp,
                         Collect *pass, GenerateStats *st) {
    if (is_url(cm->stage2)) {
        ChatMsg msgs[2];
        int nm = 0;
        if (remote_msgs(pr, msgs, &nm)) return unum_error_wrap("--stage2 %s", cm->stage2);
        Remote *r = remote_open(cm->stage2, cm->remote_model);
        if (!r) return unum_error_wrap("--stage2");
        RemoteParams p = gp ? remote_params_of(gp) : *rp;
        p.logprobs = 0;
        RemoteStats rs;
        int rc = remote_chat(r, msgs, nm, &p, remote_pass, pass, pass->cancel, &rs);
        if (rc >= 0) remote_to_stats(&rs, st); /* a cancel: stop STOP_CANCELLED */
        if (rc == UNUM_CANCELLED) rc = 0;
        remote_stats_free(&rs);
        remote_free(r);
        return rc;
    }
    EngineOptions eo2 = *eo;
    eo2.lora = NULL, eo2.n_lora = 0; /* the adapters are stage 1's */
    if (cm->stage2_backend) eo2.backend = cm->stage2_backend;
    Engine *e2 = NULL;
    if (models_set(ms, ROLE_STAGE2, cm->stage2, &eo2) || !(e2 = models_acquire(ms, ROLE_STAGE2)))
        return unum_error_wrap("--stage2");
    IdVec ids2 = {0};
    int rc = cli_models_prompt(e2, pr, &ids2);
    GenerateParams gp2 = gp ? *gp : engine_default_params(e2);
    if (!gp) {
        if (rp->temperature >= 0) gp2.sampling.temperature = rp->temperature;
        if (rp->top_p >= 0) gp2.sampling.top_p = rp->top_p;
        if (rp->max_tokens > 0) gp2.max_tokens = rp->max_tokens;
        gp2.sampling.seed = rp->seed;
    }
    if (!rc && gp2.max_tokens > e2->model->ctx - (int)ids2.n)
        gp2.max_tokens = e2->model->ctx - (int)ids2.n;
    if (!rc) rc = engine_generate(e2, ids2.v, ids2.n, &gp2, pass_token, pass, st);
    idvec_free(&ids2);
    models_release(ms, ROLE_STAGE2);
    return rc;
}

/* After stage 1 (its tokens in c, its confidence conf): stage 1's answer
 * stands, or stage 2 answers. */
static int cascade_finish(const CliModels *cm, Models *ms, const EngineOptions *eo,
                          const CliPrompt *pr, const GenerateParams *gp, const RemoteParams *rp,
                          Collect *c, double conf, GenerateStats *st, int verbose) {
    double P = cm->have_escalate ? cm->escalate_below : CLI_ESCALATE_DEFAULT;
    if (!cascade_escalates(conf, P)) {
        if (!c->live) collect_replay(c);
        if (verbose)
            fprintf(stderr, "unum: stage 1 answered (confidence %.3f, threshold %.3f)\n", conf, P);
        return 0;
    }
    if (c->live)
        fprintf(stderr, "\nunum: stage 1 unsure (confidence %.3f < %.3f); stage 2 answers:\n", conf,
                P);
    Collect pass = {.fn = c->fn, .user = c->user, .cancel = c->cancel};
    int rc = stage2_answer(cm, ms, eo, pr, gp, rp, &pass, st);
    if (!rc && st->stop == STOP_CALLBACK && unum_cancelled(c->cancel)) st->stop = STOP_CANCELLED;
    unum_cancel_clear(c->cancel); /* used up here, not by stage 1's next call */
    if (!rc && verbose)
        fprintf(stderr, "unum: stage 2 answered (stage 1 confidence %.3f < %.3f)\n", conf, P);
    return rc;
}

static int cascade(const CliModels *cm, Engine *e, const EngineOptions *eo, const CliPrompt *pr,
                   const GenerateParams *gp, engine_token_fn fn, void *user, GenerateStats *st,
                   int verbose) {
    Collect c = {.live = isatty(1), .fn = fn, .user = user, .cancel = &e->cancel};
    int rc = engine_generate(e, pr->ids, pr->n, gp, collect_token, &c, st);
    double conf = 1.0;
    if (!rc && st->stop != STOP_CANCELLED)
        rc = cascade_confidence(e, pr->ids, pr->n, c.ids.v, c.ids.n, &conf);
    Models *ms = models_new(cm->mem_budget);
    if (!rc && st->stop != STOP_CANCELLED) rc = models_adopt(ms, ROLE_CHAT, e);
    if (!rc && st->stop != STOP_CANCELLED)
        rc = cascade_finish(cm, ms, eo, pr, gp, NULL, &c, conf, st, verbose);
    models_free(ms);
    collect_free(&c);
    return rc;
}

/* ------------------------------------------------------------ remote */

int cli_models_run_remote(const CliModels *cm, const char *url, const CliPrompt *pr,
                          const RemoteParams *rp, const EngineOptions *eo, engine_token_fn fn,
                          void *user, int verbose) {
    ChatMsg msgs[2];
    int nm = 0;
    if (cm->draft)
        return unum_error_set("--draft with the remote model %s: verifying drafts needs the "
                              "target's logits at every drafted position, which a server does "
                              "not return",
                              url);
    if (remote_msgs(pr, msgs, &nm)) return -1;
    Remote *r = remote_open(url, cm->remote_model);
    if (!r) return -1;
    CliInterrupt ci; /* Ctrl-C stops the stream (tui/cli/common.h) */
    cli_interrupt_begin(&ci, 0);
    UnumCancel *flag = cli_interrupt_flag();
    RemoteParams p = *rp;
    p.logprobs = cm->stage2 != NULL; /* stage 1's confidence */
    Collect c = {
        .live = !cm->stage2 || isatty(1), .fn = fn, .user = user, .cancel = flag};
    RemoteStats rs;
    GenerateStats st = {0};
    int rc = remote_chat(r, msgs, nm, &p, remote_piece, &c, flag, &rs);
    if (rc >= 0) remote_to_stats(&rs, &st); /* a cancel: stop STOP_CANCELLED */
    if (rc == UNUM_CANCELLED) rc = 0;
    if (!rc && verbose)
        fprintf(stderr, "unum: %s at %s: %d pieces in %.3f s (first after %.3f s)%s\n",
                remote_model(r), url, rs.pieces, rs.total_s, rs.first_s,
                rs.had_logprobs ? ", with logprobs" : "");
    if (!rc && cm->stage2 && st.stop != STOP_CANCELLED) {
        if (!rs.had_logprobs)
            rc = unum_error_set("%s: the server returned no logprobs; a remote first stage's "
                                "confidence (--stage2) needs them",
                                url);
        else {
            Models *ms = models_new(cm->mem_budget);
            rc = cascade_finish(cm, ms, eo, pr, NULL, rp, &c,
                                cascade_quantile(rs.probs, rs.n_probs), &st, verbose);
            models_free(ms);
        }
    }
    cli_interrupt_end(&ci);
    if ((!rc || (c.len && c.live)) && fn) fn(user, -1, "\n", 1); /* after what was shown */
    if (!rc && st.stop == STOP_CANCELLED) rc = unum_error_set("interrupted");
    remote_stats_free(&rs);
    collect_free(&c);
    remote_free(r);
    return rc;
}

/* ------------------------------------------------------------ generate */

int cli_models_generate(const CliModels *cm, Engine *e, const EngineOptions *eo,
                        const CliPrompt *pr, const GenerateParams *gp, engine_token_fn fn,
                        void *user, GenerateStats *st, int verbose) {
    if (cm->draft && cm->stage2) return unum_error_set("give --draft or --stage2, not both");
    if (cm->stage2) return cascade(cm, e, eo, pr, gp, fn, user, st, verbose);
    if (!cm->draft) return engine_generate(e, pr->ids, pr->n, gp, fn, user, st);
    Models *ms = models_new(cm->mem_budget);
    Engine *d = cli_models_load_draft(ms, cm->draft, e->dir, e, eo);
    SpecStats ss;
    int rc = d ? spec_generate(e, d, cm->draft_n ? cm->draft_n : SPEC_DRAFT_N_DEFAULT, pr->ids,
                               pr->n, gp, fn, user, st, &ss)
               : -1;
    if (!rc && verbose) cli_models_report_spec(&ss, st);
    models_free(ms);
    return rc;
}

/* ------------------------------------------------------------ bench */

int cli_bench_draft(const char *model, const char *draft, int draft_n, const EngineOptions *eo,
                    int plen, int gen, int reps, int json) {
    Engine *e = engine_load(model, eo), *d = NULL;
    Models *ms = models_new(0);
    if (!e || !(d = cli_models_load_draft(ms, draft, model, e, eo))) {
        models_free(ms);
        engine_free(e);
        fprintf(stderr, "unum: %s\n", unum_error());
        return 1;
    }
    if (!draft_n) draft_n = SPEC_DRAFT_N_DEFAULT;
    int V = e->model->c.vocab < d->model->c.vocab ? e->model->c.vocab : d->model->c.vocab;
    int32_t *prompt = xmalloc(sizeof(int32_t) * (size_t)plen);
    uint64_t s = 42; /* bench's prompt */
    for (int i = 0; i < plen; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        prompt[i] = (int32_t)((s >> 33) % (uint64_t)V);
    }
    GenerateParams gp = engine_default_params(e);
    gp.sampling.temperature = 0;
    gp.sampling.repeat_penalty = 1.0f;
    gp.max_tokens = gen;
    gp.ignore_eos = 1;
    /* warm-up: touch every weight page of both once, as bench does */
    int rc = qwen2_forward(e->model, prompt, plen < 8 ? plen : 8, e->logits, 0) ||
             qwen2_forward(d->model, prompt, plen < 8 ? plen : 8, NULL, 0);
    double pre = 0, dec = 0;
    long generated = 0;
    SpecStats tot = {0};
    for (int r = 0; r < reps && !rc; r++) {
        /* cold caches each time, as bench's own runs */
        qwen2_rewind(e->model, 0), e->cached.n = 0;
        qwen2_rewind(d->model, 0), d->cached.n = 0;
        GenerateStats st;
        SpecStats ss;
        rc = spec_generate(e, d, draft_n, prompt, (size_t)plen, &gp, NULL, NULL, &st, &ss);
        pre += st.prefill_s;
        dec += st.decode_s;
        generated += st.generated;
        tot.rounds += ss.rounds, tot.drafted += ss.drafted, tot.accepted += ss.accepted;
    }
    if (rc) {
        fprintf(stderr, "unum: %s\n", unum_error());
    } else {
        GenerateStats all = {.generated = (int)generated};
        double pre_tps = plen * reps / pre, dec_tps = generated / dec;
        double rate = spec_accept_rate(&tot), tpf = spec_tokens_per_forward(&tot, &all);
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "model", model);
            cJSON_AddStringToObject(o, "draft", draft);
            cJSON_AddStringToObject(o, "backend", e->be->name);
            cJSON_AddNumberToObject(o, "threads", e->be->n_threads);
            cJSON_AddNumberToObject(o, "prompt_len", plen);
            cJSON_AddNumberToObject(o, "gen", gen);
            cJSON_AddNumberToObject(o, "draft_n", draft_n);
            cJSON_AddNumberToObject(o, "load_s", round((e->load_s + d->load_s) * 1e4) / 1e4);
            cJSON_AddNumberToObject(o, "prefill_tok_s", round(pre_tps * 100) / 100);
            cJSON_AddNumberToObject(o, "decode_tok_s", round(dec_tps * 100) / 100);
            cJSON_AddNumberToObject(o, "draft_accept_rate", round(rate * 1e4) / 1e4);
            cJSON_AddNumberToObject(o, "tokens_per_target_forward", round(tpf * 1e3) / 1e3);
            cJSON_AddNumberToObject(o, "peak_rss_mb", round(unum_peak_rss_mb() * 10) / 10);
            cJSON_AddNumberToObject(o, "peak_vram_mb",
                                    round(e->be->device_peak / 1048576.0 * 10) / 10);
            char *txt = cJSON_PrintUnformatted(o);
            puts(txt);
            cJSON_free(txt);
            cJSON_Delete(o);
        } else {
            printf("model      %s\ndraft      %s (up to %d per round)\n", e->dir, d->dir, draft_n);
            printf("backend    %s (%d threads, %s kernels)\n", e->be->name, e->be->n_threads,
                   k_isa());
            printf("prefill    %d tokens (both models): %.1f tok/s\n", plen, pre_tps);
            printf("decode     %d tokens: %.1f tok/s\n", gen, dec_tps);
            printf("accepted   %.1f%% of drafts, %.2f tokens per target forward\n", 100 * rate,
                   tpf);
            printf("peak RSS   %.0f MiB\n", unum_peak_rss_mb());
        }
    }
    free(prompt);
    models_free(ms);
    engine_free(e);
    return rc ? 1 : 0;
}
