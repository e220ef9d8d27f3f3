/* worker.c - see worker.h. */
#include "tui/core/worker.h"

#include "tui/core/adapterset.h"
#include "tui/core/meeting.h"
#include "engine/modeldir.h"
#include "audio/load.h"
#include "engine/cascade.h"
#include "engine/models.h"
#include "engine/remote.h"
#include "engine/speculative.h"
#include "engine/speech.h"
#include "engine/transcribe.h"
#include "engine/base/cancel.h"
#include "engine/base/util.h"
#include "engine/whisper.h"
#include "engine/pull.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum {
    RQ_LOAD,
    RQ_CHAT,
    RQ_WHISPER,
    RQ_REPORT,
    RQ_PULL,
    RQ_STAGE2,
    RQ_DRAFT,
    RQ_QUIT,
    RQ_TRANSCRIBE,
    RQ_BUDGET,      /* rec: the budget's bytes */
    RQ_REPORT_MODEL /* model: the report writer (NULL: the chat model) */
} RequestKind;

typedef struct Request {
    RequestKind kind;
    char *model, *backend;
    EngineOptions opt;
    double threshold; /* RQ_STAGE2: escalate below this */
    int draft_n;      /* RQ_DRAFT: tokens drafted per round at most */
    ChatMsg *msgs; /* role and content copied */
    char **audio;  /* per message: a WAV file, or NULL */
    int n_msgs;
    GenerateParams params;
    int64_t rec;         /* RQ_REPORT, RQ_TRANSCRIBE: the recording; model = template, */
    char *persona, *db;  /* backend unused */
    char **repos;        /* RQ_PULL: the repositories, in order */
    int n_repos;
    LoraSpec *lora;      /* RQ_CHAT: the adapters to answer with */
    int n_lora;
    struct Request *next;
} Request;

struct Worker {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int pipe[2];
    Request *rq, *rq_tail; /* requests, oldest first */
    Event *ev, *ev_tail;   /* events, oldest first */
    /* UNUM_TEST_TOKEN_DELAY_MS: a pause after each streamed token, so that
     * tests can act mid-reply on any machine (tests alone set it) */
    useconds_t token_delay_us;
    int running_chat;      /* a reply is being generated (under lock) */
    int pulling;           /* a download runs (under lock) */
    LoraSpec *chat_lora;   /* the adapters of the next replies (under lock) */
    int n_chat_lora;
    Router *router;        /* lora = auto (under lock), or NULL */
    UnumCancel pull_cancel; /* the download's (pull.h) */
    int quit;

    /* worker thread only (status copies under lock) */
    /* every model by its role under one budget (engine/models.h): the
     * chat model (ROLE_CHAT, or ROLE_SPEECH for a speech LLM) is in use
     * while loaded; the second stage, the draft and the report writer are
     * in use for the reply or report that needs them; Whisper while a
     * recording is being transcribed. The others may be unloaded to make
     * room, and are loaded again when next needed. */
    Models *models;
    ModelRole chat_role;       /* the chat model's role, when engine is set */
    char *where;               /* the last models_where posted (EV_MODELS) */
    Engine *engine;            /* the chat model, acquired (under lock) */
    Remote *remote;            /* a server as the language model (or NULL) */
    Engine *stage2;            /* the second stage while a reply uses it (under lock) */
    double escalate_below;
    Engine *draft;             /* the draft while a reply uses it (under lock) */
    int draft_n;
    const Engine *draft_for;   /* the chat model the draft was checked against */
    Engine *report_e;          /* the report writer while it writes (under lock) */
    UnumCancel remote_cancel;  /* stops a remote reply */
    Transcriber *transcriber; /* ROLE_WHISPER's, acquired while stream exists */
    int whisper_on;           /* a Whisper model is set for live transcription */
    TStream *stream;
    Transcript transcript;

    /* live audio waiting for the transcriber (under lock) */
    float *audio;
    size_t audio_n, audio_cap;
    int audio_end;
    size_t end_at; /* where in audio the recording ended (with audio_end) */
    int gen;       /* the number of the recording being transcribed (worker) */
    int gen_failed; /* a window of that recording failed to transcribe (worker) */
    UnumCancel stream_cancel;
    UnumCancel report_cancel;
    Store *st; /* the worker's own connection, opened for the first report */
    SpeechLLM *speech; /* the chat model when it is a speech LLM (engine is its e) */
    struct Heard {
        char *path;
        float **clips;
        int n;
    } *heard; /* voice messages already encoded, newest last (HEARD_KEEP kept
               * between requests; a prompt may use more meanwhile) */
    int n_heard;
};

/* w->lock is an error-checking mutex: locking it again from the thread that
 * holds it fails with EDEADLK instead of waiting, which is how ASSERT_LOCKED
 * checks that the caller holds it (the fields marked "under lock"). */
#define ASSERT_LOCKED(w) assert(pthread_mutex_lock(&(w)->lock) == EDEADLK)

/* ------------------------------------------------------------ events */

static void post_models(Worker *w);

static void post(Worker *w, Event *e) {
    pthread_mutex_lock(&w->lock);
    if (w->ev_tail) w->ev_tail->next = e;
    else w->ev = e;
    w->ev_tail = e;
    pthread_mutex_unlock(&w->lock);
    char b = 1;
    ssize_t r = write(w->pipe[1], &b, 1); /* full pipe: the reader is already due */
    (void)r;
}

static Event *event_new(EventKind kind) {
    Event *e = xcalloc(1, sizeof *e);
    e->kind = kind;
    return e;
}

/* A failure event (EV_*_FAILED) saying why. */
static Event *event_failed(EventKind kind, const char *why) {
    assert(kind == EV_LOAD_FAILED || kind == EV_REPLY_FAILED || kind == EV_WHISPER_FAILED ||
           kind == EV_TRANSCRIBE_FAILED || kind == EV_REPORT_FAILED || kind == EV_WARNING);
    Event *e = event_new(kind);
    e->failed.why = xstrdup(why ? why : "");
    return e;
}

void event_free(Event *e) {
    while (e) {
        Event *next = e->next;
        switch (e->kind) {
        case EV_LOADED: free(e->loaded.dir), free(e->loaded.backend); break;
        case EV_LOAD_FAILED:
        case EV_REPLY_FAILED:
        case EV_WHISPER_FAILED:
        case EV_TRANSCRIBE_FAILED:
        case EV_WARNING:
        case EV_REPORT_FAILED: free(e->failed.why); break;
        case EV_TOKEN: free(e->token); break;
        case EV_REPLY_DONE:
            free(e->reply.text), free(e->reply.model), free(e->reply.adapters);
            break;
        case EV_REPLY_RESTART: break;
        case EV_WHISPER_LOADED: free(e->whisper.model); break;
        case EV_SEGMENT:
            free(e->segment.text);
            free(e->segment.speaker);
            break;
        case EV_REPORT_PROGRESS: free(e->report_progress.stage); break;
        case EV_REPORT_DONE: free(e->report.markdown); break;
        case EV_PULL_PROGRESS: free(e->pull_progress.repo), free(e->pull_progress.file); break;
        case EV_PULL_DONE: free(e->pull.why); break;
        case EV_MODELS: free(e->models.where), free(e->models.brief); break;
        case EV_LOAD_PROGRESS:
        case EV_RECORDING_DONE:
        case EV_TRANSCRIBED: break;
        }
        free(e);
        e = next;
    }
}

Event *worker_events(Worker *w) {
    char buf[256];
    while (read(w->pipe[0], buf, sizeof buf) > 0) {}
    pthread_mutex_lock(&w->lock);
    Event *e = w->ev;
    w->ev = w->ev_tail = NULL;
    pthread_mutex_unlock(&w->lock);
    return e;
}

int worker_fd(const Worker *w) { return w->pipe[0]; }

/* ------------------------------------------------------------ requests */

static void push(Worker *w, Request *r) {
    pthread_mutex_lock(&w->lock);
    if (r->kind == RQ_CHAT) {
        /* interactive work goes before the rest (reports, transcripts,
         * downloads), but never before a request that changes who answers
         * it (a model, a second stage, a draft, the budget) */
        Request **p = &w->rq;
        for (Request **q = &w->rq; *q; q = &(*q)->next)
            if ((*q)->kind == RQ_LOAD || (*q)->kind == RQ_STAGE2 || (*q)->kind == RQ_DRAFT ||
                (*q)->kind == RQ_BUDGET)
                p = &(*q)->next;
        while (*p && (*p)->kind == RQ_CHAT) p = &(*p)->next;
        r->next = *p;
        *p = r;
        if (!r->next) w->rq_tail = r;
    } else {
        if (w->rq_tail) w->rq_tail->next = r;
        else w->rq = r;
        w->rq_tail = r;
    }
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

static void request_free(Request *r) {
    for (int i = 0; i < r->n_msgs; i++) {
        free((char *)r->msgs[i].role);
        free((char *)r->msgs[i].content);
        if (r->audio) free(r->audio[i]);
    }
    free(r->audio);
    free(r->msgs);
    free(r->model);
    free(r->backend);
    free(r->persona);
    free(r->db);
    for (int i = 0; i < r->n_repos; i++) free(r->repos[i]);
    free(r->repos);
    lora_specs_free(r->lora, r->n_lora);
    free(r);
}

void worker_load(Worker *w, const char *model, const EngineOptions *opt) {
    Request *r = xcalloc(1, sizeof *r);
    r->kind = RQ_LOAD;
    r->model = xstrdup(model);
    r->opt = *opt;
    r->backend = xstrdup(opt->backend ? opt->backend : "auto");
    push(w, r);
}

void worker_set_stage2(Worker *w, const char *model, double escalate_below,
                       const EngineOptions *opt) {
    Request *r = xcalloc(1, sizeof *r);
    r->kind = RQ_STAGE2;
    r->model = model ? xstrdup(model) : NULL;
    r->opt = *opt;
    r->backend = xstrdup(opt->backend ? opt->backend : "auto");
    r->threshold = escalate_below;
    push(w, r);
}

/* The request's backend by its static name: a Models keeps the options
 * after the request is gone (models.h). */
static const char *backend_static(const char *b) {
    return b && !strcmp(b, "cpu") ? "cpu" : b && !strcmp(b, "cuda") ? "cuda" : "auto";
}

static void do_stage2(Worker *w, Request *r) {
    EngineOptions o = r->opt;
    o.backend = backend_static(r->backend);
    o.lora = NULL, o.n_lora = 0; /* the adapters are the chat model's */
    o.progress = NULL, o.progress_user = NULL;
    if (models_set(w->models, ROLE_STAGE2, r->model, &o)) /* never in use between replies */
        post(w, event_failed(EV_LOAD_FAILED, unum_error()));
    w->escalate_below = r->threshold;
}

void worker_set_draft(Worker *w, const char *model, int draft_n, const EngineOptions *opt) {
    Request *r = xcalloc(1, sizeof *r);
    r->kind = RQ_DRAFT;
    r->model = model ? xstrdup(model) : NULL;
    r->opt = *opt;
    r->backend = xstrdup(opt->backend ? opt->backend : "auto");
    r->draft_n = draft_n;
    push(w, r);
}

static void draft_off(Worker *w) {
    models_set(w->models, ROLE_DRAFT, NULL, NULL);
    w->draft_for = NULL;
}

static void do_draft(Worker *w, Request *r) {
    draft_off(w);
    EngineOptions o = r->opt;
    o.backend = backend_static(r->backend);
    o.lora = NULL, o.n_lora = 0; /* adapters are the chat model's */
    o.progress = NULL, o.progress_user = NULL;
    models_set(w->models, ROLE_DRAFT, r->model, &o);
    w->draft_n = r->draft_n > 0 ? r->draft_n : SPEC_DRAFT_N_DEFAULT;
}

/* The draft for the chat model e: loaded when needed (it may have been
 * unloaded for another model), checked against e once per chat model, and
 * in use until draft_done. A draft that cannot serve is turned off, so the
 * next reply is written without it, and the error says so: -1. */
static int draft_for(Worker *w, Engine *e, Engine **out) {
    *out = NULL;
    Engine *d = models_acquire(w->models, ROLE_DRAFT);
    if (d) {
        pthread_mutex_lock(&w->lock);
        w->draft = d;
        pthread_mutex_unlock(&w->lock);
    }
    if (!d || (w->draft_for != e && spec_check_pair(e, d))) {
        unum_error_wrap("the draft (drafting is off until the settings change)");
        if (d) {
            pthread_mutex_lock(&w->lock);
            w->draft = NULL;
            pthread_mutex_unlock(&w->lock);
            models_release(w->models, ROLE_DRAFT);
        }
        draft_off(w);
        return -1;
    }
    w->draft_for = e;
    *out = d;
    return 0;
}

/* The reply no longer needs the draft: it may make room for another. */
static void draft_done(Worker *w) {
    if (!w->draft) return;
    pthread_mutex_lock(&w->lock);
    engine_cancel_clear(w->draft);
    w->draft = NULL;
    pthread_mutex_unlock(&w->lock);
    models_release(w->models, ROLE_DRAFT);
}

void worker_set_mem_budget(Worker *w, size_t bytes) {
    Request *r = xcalloc(1, sizeof *r);
    r->kind = RQ_BUDGET;
    r->rec = (int64_t)bytes;
    push(w, r);
}

void worker_set_report_model(Worker *w, const char *model, const EngineOptions *opt) {
    Request *r = xcalloc(1, sizeof *r);
    r->kind = RQ_REPORT_MODEL;
    r->model = model ? xstrdup(model) : NULL;
    r->opt = *opt;
    r->backend = xstrdup(opt->backend ? opt->backend : "auto");
    push(w, r);
}

static void do_report_model(Worker *w, Request *r) {
    EngineOptions o = r->opt;
    o.backend = backend_static(r->backend);
    o.lora = NULL, o.n_lora = 0; /* a template's adapters are set per report */
    o.progress = NULL, o.progress_user = NULL;
    if (models_set(w->models, ROLE_REPORT, r->model, &o))
        post(w, event_failed(EV_LOAD_FAILED, unum_error()));
}

void worker_load_remote(Worker *w, const char *url, const char *remote_model) {
    Request *r = xcalloc(1, sizeof *r);
    r->kind = RQ_LOAD;
    r->model = xstrdup(url);
    r->backend = xstrdup("remote");
    r->persona = remote_model ? xstrdup(remote_model) : NULL; /* the server's model */
    push(w, r);
}

void worker_chat(Worker *w, const ChatMsg *msgs, const char *const *audio, int n,
                 const GenerateParams *p) {
    Request *r = xcalloc(1, sizeof *r);
    r->kind = RQ_CHAT;
    r->msgs = xcalloc((size_t)n + 1, sizeof *r->msgs);
    for (int i = 0; i < n; i++) {
        r->msgs[i].role = xstrdup(msgs[i].role);
        r->msgs[i].content = xstrdup(msgs[i].content);
    }
    if (audio) {
        r->audio = xcalloc((size_t)n + 1, sizeof *r->audio);
        for (int i = 0; i < n; i++) r->audio[i] = audio[i] ? xstrdup(audio[i]) : NULL;
    }
    r->n_msgs = n;
    r->params = *p;
    pthread_mutex_lock(&w->lock);
    r->lora = adapterset_copy(w->chat_lora, r->n_lora = w->n_chat_lora);
    w->running_chat = 1; /* busy from now: a cancel must reach this reply */
    pthread_mutex_unlock(&w->lock);
    push(w, r);
}

void worker_chat_adapters(Worker *w, const LoraSpec *specs, int n) {
    LoraSpec *c = adapterset_copy(specs, n);
    pthread_mutex_lock(&w->lock);
    LoraSpec *old = w->chat_lora;
    int n_old = w->n_chat_lora;
    w->chat_lora = c, w->n_chat_lora = n > 0 ? n : 0;
    pthread_mutex_unlock(&w->lock);
    lora_specs_free(old, n_old);
}

void worker_chat_router(Worker *w, const RouterEntry *entries, int n, float threshold) {
    Router *r = n > 0 ? router_new(entries, n, threshold) : NULL;
    pthread_mutex_lock(&w->lock);
    Router *old = w->router;
    w->router = r;
    pthread_mutex_unlock(&w->lock);
    router_free(old);
}

/* A request without adapters of its own when the router is on: the
 * adapter it picks for the last user message becomes the request's. */
static int route(Worker *w, Request *r) {
    pthread_mutex_lock(&w->lock);
    Router *rt = w->router;
    pthread_mutex_unlock(&w->lock);
    const char *last = NULL;
    for (int i = 0; i < r->n_msgs; i++)
        if (!strcmp(r->msgs[i].role, "user")) last = r->audio && r->audio[i] ? NULL : r->msgs[i].content;
    if (!rt || r->n_lora || !last) return 0;
    int pick;
    if (router_pick(rt, w->engine, last, NULL, &pick)) return unum_error_wrap("lora = auto");
    if (pick >= 0) r->lora = adapterset_copy(&router_entry(rt, pick)->spec, r->n_lora = 1);
    return 0;
}

void worker_report(Worker *w, const char *db, int64_t rec, const char *template_name,
                   const char *persona, int section_tokens) {
    Request *r = xcalloc(1, sizeof *r);
    r->kind = RQ_REPORT;
    r->params.max_tokens = section_tokens;
    r->rec = rec;
    r->model = xstrdup(template_name);
    r->persona = persona ? xstrdup(persona) : NULL;
    r->db = db ? xstrdup(db) : NULL;
    pthread_mutex_lock(&w->lock);
    w->running_chat = 1; /* cancellable like a reply */
    unum_cancel_clear(&w->report_cancel);
    pthread_mutex_unlock(&w->lock);
    push(w, r);
}

void worker_transcribe(Worker *w, const char *db, int64_t rec) {
    Request *r = xcalloc(1, sizeof *r);
    r->kind = RQ_TRANSCRIBE;
    r->rec = rec;
    r->db = db ? xstrdup(db) : NULL;
    push(w, r);
}

void worker_load_whisper(Worker *w, const char *model, const char *backend, int threads) {
    Request *r = xcalloc(1, sizeof *r);
    r->kind = RQ_WHISPER;
    r->model = xstrdup(model);
    r->backend = xstrdup(backend ? backend : "auto");
    r->opt.threads = threads;
    push(w, r);
}

void worker_pull(Worker *w, const char *const *repos, int n) {
    Request *r = xcalloc(1, sizeof *r);
    r->kind = RQ_PULL;
    r->repos = xcalloc((size_t)n + 1, sizeof *r->repos);
    for (int i = 0; i < n; i++) r->repos[i] = xstrdup(repos[i]);
    r->n_repos = n;
    push(w, r);
}

void worker_cancel(Worker *w) {
    pthread_mutex_lock(&w->lock);
    if (w->pulling) unum_cancel(&w->pull_cancel);
    if (w->running_chat) unum_cancel(&w->report_cancel);
    if (w->running_chat && w->engine) engine_cancel(w->engine);
    if (w->running_chat && w->stage2) engine_cancel(w->stage2);
    if (w->running_chat && w->report_e) engine_cancel(w->report_e);
    if (w->running_chat) unum_cancel(&w->remote_cancel);
    /* a reply still queued is dropped when its turn comes */
    for (Request *r = w->rq; r; r = r->next)
        if (r->kind == RQ_CHAT) r->params.max_tokens = -1;
    pthread_mutex_unlock(&w->lock);
}

int worker_busy(const Worker *w) {
    Worker *m = (Worker *)w;
    pthread_mutex_lock(&m->lock);
    int b = m->running_chat;
    pthread_mutex_unlock(&m->lock);
    return b;
}

void worker_audio(Worker *w, const float *pcm, size_t n) {
    pthread_mutex_lock(&w->lock);
    if (w->audio_n + n > w->audio_cap) {
        size_t cap = w->audio_cap ? w->audio_cap : 16000;
        while (cap < w->audio_n + n) cap *= 2;
        w->audio = xrealloc(w->audio, sizeof(float) * cap);
        w->audio_cap = cap;
    }
    memcpy(w->audio + w->audio_n, pcm, sizeof(float) * n);
    w->audio_n += n;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

void worker_audio_end(Worker *w) {
    pthread_mutex_lock(&w->lock);
    w->audio_end = 1;
    w->end_at = w->audio_n; /* later audio is the next recording's */
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

/* ------------------------------------------------------------ the thread */

static void on_progress(void *user, double done) {
    Event *e = event_new(EV_LOAD_PROGRESS);
    e->progress = done;
    post(user, e);
}

typedef struct {
    Worker *w;
    const char *repo;
    char file[256];
    uint64_t posted; /* bytes at the last progress event */
} Pull;

/* Progress now and then: a new file, or another 1% of the bytes. */
static void on_pull_progress(const PullProgress *p, void *user) {
    Pull *u = user;
    const char *file = p->file ? p->file : "";
    uint64_t step = p->total / 100 ? p->total / 100 : 1;
    if (!strcmp(file, u->file) && p->done < u->posted + step && p->done != p->total) return;
    snprintf(u->file, sizeof u->file, "%s", file);
    u->posted = p->done;
    Event *e = event_new(EV_PULL_PROGRESS);
    e->pull_progress.repo = xstrdup(u->repo);
    e->pull_progress.file = xstrdup(file);
    e->pull_progress.done = p->done;
    e->pull_progress.total = p->total;
    post(u->w, e);
}

static void do_pull(Worker *w, Request *r) {
    pthread_mutex_lock(&w->lock);
    w->pulling = 1;
    unum_cancel_clear(&w->pull_cancel);
    pthread_mutex_unlock(&w->lock);
    int status = PULL_OK;
    Event *ev = event_new(EV_PULL_DONE);
    for (int i = 0; i < r->n_repos && status == PULL_OK; i++) {
        Pull u = {.w = w, .repo = r->repos[i]};
        PullOptions o = {.repo = r->repos[i], .progress = on_pull_progress, .user = &u,
                         .cancel = &w->pull_cancel};
        status = pull_run(&o, NULL);
        if (status != PULL_OK && status != PULL_CANCELLED) {
            char why[1024];
            snprintf(why, sizeof why, "%s%s%s", unum_error(), status == PULL_OFFLINE ? "; " : "",
                     status == PULL_OFFLINE ? pull_offline_hint() : "");
            ev->pull.why = xstrdup(why);
        }
    }
    ev->pull.status = status;
    pthread_mutex_lock(&w->lock);
    w->pulling = 0;
    pthread_mutex_unlock(&w->lock);
    post(w, ev);
}

enum { HEARD_KEEP = 32 };

/* Drops the oldest encoded voice messages until keep are left. */
static void heard_trim(Worker *w, int keep) {
    int drop = w->n_heard > keep ? w->n_heard - keep : 0;
    for (int i = 0; i < drop; i++) {
        for (int k = 0; k < w->heard[i].n; k++) free(w->heard[i].clips[k]);
        free(w->heard[i].clips);
        free(w->heard[i].path);
    }
    if (drop == 0) return; /* heard may be NULL, which memmove must not see */
    memmove(w->heard, w->heard + drop, sizeof *w->heard * (size_t)(w->n_heard - drop));
    w->n_heard -= drop;
}

static void heard_free(Worker *w) {
    heard_trim(w, 0);
    free(w->heard);
    w->heard = NULL;
}

static void do_load(Worker *w, Request *r) {
    pthread_mutex_lock(&w->lock);
    Engine *old = w->engine;
    w->engine = NULL;
    w->speech = NULL;
    pthread_mutex_unlock(&w->lock);
    heard_free(w);
    if (old) models_release(w->models, w->chat_role);
    models_set(w->models, ROLE_CHAT, NULL, NULL); /* unloaded: out of use now */
    models_set(w->models, ROLE_SPEECH, NULL, NULL);
    w->draft_for = NULL;
    remote_free(w->remote);
    w->remote = NULL;
    if (remote_is_url(r->model)) {
        Remote *rm = remote_open(r->model, r->persona);
        if (!rm) {
            post(w, event_failed(EV_LOAD_FAILED, unum_error()));
            return;
        }
        w->remote = rm;
        Event *ev = event_new(EV_LOADED);
        ev->loaded.dir = xstrdup(r->model);
        ev->loaded.backend = xstrdup("remote");
        post(w, ev);
        return;
    }
    r->opt.backend = backend_static(r->backend);
    r->opt.lora = NULL, r->opt.n_lora = 0; /* a reply's adapters are set per reply */
    r->opt.progress = on_progress;
    r->opt.progress_user = w;
    char *dir = modeldir_resolve(r->model);
    ModelRole role = dir && speech_is_model(dir) ? ROLE_SPEECH : ROLE_CHAT;
    Engine *e = dir && !models_set(w->models, role, r->model, &r->opt)
                    ? models_acquire(w->models, role) /* in use while it is the chat model */
                    : NULL;
    SpeechLLM *sp = e && role == ROLE_SPEECH ? models_speech(w->models) : NULL;
    free(dir);
    if (!e) {
        post(w, event_failed(EV_LOAD_FAILED, unum_error()));
        models_set(w->models, role, NULL, NULL);
        return;
    }
    w->chat_role = role;
    pthread_mutex_lock(&w->lock);
    w->engine = e;
    w->speech = sp;
    pthread_mutex_unlock(&w->lock);
    Event *ev = event_new(EV_LOADED);
    ev->loaded.dir = xstrdup(engine_dir(e));
    ev->loaded.speech = sp != NULL;
    /* the status bar's backend label names the weights' quantization too */
    char q[64], label[96];
    engine_quant_name(e, q, sizeof q);
    snprintf(label, sizeof label, "%s%s%s", engine_backend_name(e), *q ? " " : "", q);
    ev->loaded.backend = xstrdup(label);
    ev->loaded.seconds = engine_load_seconds(e);
    ev->loaded.ctx = engine_ctx(e);
    post(w, ev);
}

typedef struct {
    Worker *w;
    char *text;
    size_t len, cap;
    IdVec ids; /* the reply's ids, the end id included (for the cascade) */
} Reply;

static int on_token(void *user, int32_t id, const char *text, size_t len) {
    Reply *r = user;
    if (id >= 0) idvec_push(&r->ids, id);
    if (!len) return 0;
    if (r->len + len + 1 > r->cap) {
        r->cap = (r->len + len + 1) * 2;
        r->text = xrealloc(r->text, r->cap);
    }
    memcpy(r->text + r->len, text, len);
    r->len += len;
    r->text[r->len] = 0;
    Event *e = event_new(EV_TOKEN);
    e->token = xmalloc(len + 1);
    memcpy(e->token, text, len);
    e->token[len] = 0;
    post(r->w, e);
    if (r->w->token_delay_us) usleep(r->w->token_delay_us);
    return 0;
}

/* The clips of a voice message, encoded once. */
static float **heard(Worker *w, const char *path, int *n) {
    for (int i = 0; i < w->n_heard; i++)
        if (!strcmp(w->heard[i].path, path)) return *n = w->heard[i].n, w->heard[i].clips;
    float *x = NULL, **clips = NULL;
    size_t len = 0;
    if (audio_read_16k(path, 0, 0, &x, &len, NULL)) return NULL;
    int rc = speech_embed_all(w->speech, x, len, &clips, n);
    free(x);
    if (rc) return unum_error_wrap("%s", path), NULL;
    /* appended, never evicted here: the clips of a prompt being built stay
     * valid until conversation_prompt has copied them (heard_trim) */
    w->heard = xrealloc(w->heard, sizeof *w->heard * (size_t)(w->n_heard + 1));
    w->heard[w->n_heard].path = xstrdup(path);
    w->heard[w->n_heard].clips = clips;
    w->heard[w->n_heard++].n = *n;
    return clips;
}

/* The prompt of a conversation (chat_prompt: text and voice turns alike,
 * the oldest dropped until the reply has room): for a speech LLM each voice
 * message is a user turn of its clips, and the ids and embeddings come
 * expanded (*embeds NULL when there is no voice turn). */
static int conversation_prompt(Worker *w, const Request *r, int room, int32_t **ids, size_t *n_ids,
                               float **embeds) {
    Engine *e = w->engine;
    ChatMsg *m = xcalloc((size_t)r->n_msgs + 1, sizeof *m);
    float ***clips = xcalloc((size_t)r->n_msgs + 1, sizeof *clips);
    int rc = 0, voice = 0;
    for (int i = 0; !rc && i < r->n_msgs; i++) {
        m[i] = r->msgs[i];
        if (!r->audio || !r->audio[i]) continue;
        m[i].content = NULL; /* the model hears the message; its label is for the screen */
        if (!(clips[i] = heard(w, r->audio[i], &m[i].n_clips))) rc = -1;
        voice = 1;
    }
    ChatFit fit = engine_chat_fit(e, NULL, room);
    if (voice) fit.clip_positions = w->speech->frames;
    IdVec p = {0};
    int first = 0;
    if (!rc) rc = chat_prompt(engine_tokenizer(e), m, r->n_msgs, &fit, &p, &first);
    if (!rc && !voice) {
        *ids = p.v, *n_ids = p.n, *embeds = NULL;
        p.v = NULL;
    } else if (!rc) { /* the clips of the turns kept, in order */
        const float **all = NULL;
        int n_all = 0;
        for (int i = first; i < r->n_msgs; i++) {
            all = xrealloc(all, sizeof *all * (size_t)(n_all + m[i].n_clips + 1));
            for (int k = 0; k < m[i].n_clips; k++) all[n_all++] = clips[i][k];
        }
        rc = speech_expand(w->speech, p.v, p.n, all, n_all, ids, n_ids, embeds);
        free(all);
    }
    idvec_free(&p);
    free(clips); /* the clips themselves are heard()'s, copied into *embeds by now */
    free(m);
    heard_trim(w, HEARD_KEEP);
    return rc;
}

static int on_remote_text(void *user, const char *text, size_t len) {
    return on_token(user, -1, text, len);
}

/* A reply from the server: the conversation as it is, the settings passed
 * through. */
static int remote_reply(Worker *w, Request *r, Reply *rep, GenerateStats *st) {
    RemoteParams p = {.temperature = r->params.sampling.temperature,
                      .top_p = r->params.sampling.top_p,
                      .max_tokens = r->params.max_tokens,
                      .have_seed = 1,
                      .seed = r->params.sampling.seed};
    RemoteStats rs;
    unum_cancel_clear(&w->remote_cancel);
    int rc = remote_chat(w->remote, r->msgs, r->n_msgs, &p, on_remote_text, rep,
                         &w->remote_cancel, &rs);
    if (rc >= 0) { /* a cancel too: stop STOP_CANCELLED, the text so far kept */
        st->generated = rs.pieces;
        st->decode_s = rs.total_s;
        st->stop = rs.stop;
    }
    remote_stats_free(&rs);
    return rc;
}

/* Stage 1's reply is in rep: its confidence, and when it is below the
 * threshold the same conversation answered by the second stage (loaded on
 * first need), its tokens replacing stage 1's. */
static int cascade_reply(Worker *w, Request *r, const int32_t *ids, size_t n, Reply *rep,
                         GenerateStats *st, double *conf, Engine **answered) {
    Engine *e = w->engine;
    if (cascade_confidence(e, ids, n, rep->ids.v, rep->ids.n, conf)) return -1;
    if (!cascade_escalates(*conf, w->escalate_below)) return 0;
    /* loaded when needed, in use until the reply is done (stage2_done) */
    Engine *e2 = models_acquire(w->models, ROLE_STAGE2);
    if (!e2) return unum_error_wrap("the second stage");
    pthread_mutex_lock(&w->lock);
    w->stage2 = e2;
    pthread_mutex_unlock(&w->lock);
    Event *ev = event_new(EV_REPLY_RESTART);
    ev->restart.confidence = *conf;
    post(w, ev);
    rep->len = 0;
    rep->text[0] = 0;
    rep->ids.n = 0;
    IdVec ids2 = {0};
    int ctx = engine_ctx(e2), room = r->params.max_tokens < ctx / 2 ? r->params.max_tokens : ctx / 2;
    ChatFit fit = engine_chat_fit(e2, NULL, room);
    int rc = chat_prompt(engine_tokenizer(e2), r->msgs, r->n_msgs, &fit, &ids2, NULL);
    if (!rc) rc = engine_generate(e2, ids2.v, ids2.n, &r->params, on_token, rep, st);
    idvec_free(&ids2);
    *answered = e2;
    return rc;
}

static void do_chat(Worker *w, Request *r) {
    Engine *e = w->engine;
    int voice = 0;
    for (int i = 0; r->audio && i < r->n_msgs; i++) voice |= r->audio[i] != NULL;
    Reply rep = {w, xstrdup(""), 0, 1, {0}};
    GenerateStats st = {0};
    SpecStats spec = {0};
    int rc = 0;
    double conf = -1;
    Engine *answered = e;
    if (r->n_lora && r->params.max_tokens >= 0 && (!e || (w->remote && !voice))) {
        rc = unum_error_set("the persona's adapters (%s) need a local model", r->lora[0].dir);
    } else if (w->remote && !voice && r->params.max_tokens >= 0) {
        rc = remote_reply(w, r, &rep, &st);
    } else if (!e) {
        rc = unum_error_set(w->remote ? "a remote model cannot hear voice messages"
                                      : "no language model is loaded");
    } else if (r->params.max_tokens < 0) { /* cancelled while queued */
        st.stop = STOP_CANCELLED;
    } else if (voice && !w->speech) {
        rc = unum_error_set("the model is not a speech LLM: it cannot hear voice messages");
    } else {
        int ctx = engine_ctx(e), room = r->params.max_tokens < ctx / 2 ? r->params.max_tokens : ctx / 2;
        int32_t *x = NULL;
        size_t nx = 0;
        float *emb = NULL;
        rc = route(w, r);
        if (!rc && (rc = engine_set_adapters(e, r->lora, r->n_lora)))
            unum_error_wrap("the reply's adapters");
        if (!rc) rc = conversation_prompt(w, r, room, &x, &nx, &emb);
        Engine *d = NULL;
        if (!rc && !emb && models_model(w->models, ROLE_DRAFT)) rc = draft_for(w, e, &d);
        if (!rc && emb) rc = engine_generate_embeds(e, x, nx, emb, &r->params, on_token, &rep, &st);
        else if (!rc && d)
            rc = spec_generate(e, d, w->draft_n, x, nx, &r->params, on_token, &rep, &st, &spec);
        else if (!rc) rc = engine_generate(e, x, nx, &r->params, on_token, &rep, &st);
        draft_done(w); /* the second stage may need its room */
        if (!rc && !emb && models_model(w->models, ROLE_STAGE2) && st.stop != STOP_CANCELLED)
            rc = cascade_reply(w, r, x, nx, &rep, &st, &conf, &answered);
        free(x);
        free(emb);
    }
    Event *ev;
    if (rc < 0) {
        ev = event_failed(EV_REPLY_FAILED, unum_error());
    } else {
        ev = event_new(EV_REPLY_DONE);
        ev->reply.text = xstrdup(rep.text ? rep.text : "");
        ev->reply.tokens = st.generated;
        ev->reply.tok_s = st.decode_s > 0 ? st.generated / st.decode_s : 0;
        ev->reply.stop = (int)st.stop;
        ev->reply.ctx_used = answered ? engine_ctx_used(answered) : 0;
        const char *name = answered ? strrchr(engine_dir(answered), '/') : NULL;
        ev->reply.model = xstrdup(w->remote ? remote_model(w->remote)
                                  : name     ? name + 1
                                  : answered ? engine_dir(answered)
                                             : "");
        ev->reply.confidence = conf;
        ev->reply.stage = answered && answered == w->stage2 ? 2 : 1;
        ev->reply.draft_accept = spec.drafted ? spec_accept_rate(&spec) : -1;
        /* stage 2 is another model: it answers without them */
        ev->reply.adapters = answered == e && e ? adapterset_label(r->lora, r->n_lora) : xstrdup("");
    }
    pthread_mutex_lock(&w->lock);
    int more = 0; /* another reply queued behind this one keeps us busy */
    ASSERT_LOCKED(w); /* running_chat and the queue */
    for (Request *q = w->rq; q; q = q->next) more |= q->kind == RQ_CHAT;
    w->running_chat = more;
    if (e) engine_cancel_clear(e); /* a late cancel must not hit the next reply */
    Engine *e2 = w->stage2;
    if (e2) engine_cancel_clear(e2);
    w->stage2 = NULL;
    pthread_mutex_unlock(&w->lock);
    if (e2) models_release(w->models, ROLE_STAGE2);
    post_models(w); /* the status before the reply's end */
    post(w, ev);
    idvec_free(&rep.ids);
    free(rep.text);
}

static void report_progress(void *ud, MeetStage stage, double done, double total) {
    Event *e = event_new(EV_REPORT_PROGRESS);
    e->report_progress.stage = xstrdup(stage == MEET_SUMMARIZING ? "summarizing" : "writing");
    e->report_progress.done = (int)done;
    e->report_progress.total = (int)total;
    post(ud, e);
}

/* The report writer: ROLE_REPORT's model when one is set (and is not the
 * chat model itself), acquired (report_done releases it); else the chat
 * model. NULL with the error set. */
static Engine *report_writer(Worker *w) {
    const char *rm = models_model(w->models, ROLE_REPORT), *chat = models_model(w->models, w->chat_role);
    if (!rm || (w->engine && chat && !strcmp(rm, chat))) {
        if (!w->engine) unum_error_set("no language model is loaded");
        return w->engine;
    }
    if (remote_is_url(rm)) {
        unum_error_set("report_model = %s: the app writes reports with a local model", rm);
        return NULL;
    }
    Engine *e = models_acquire(w->models, ROLE_REPORT);
    if (!e) return unum_error_wrap("the report writer (report_model)"), NULL;
    pthread_mutex_lock(&w->lock);
    w->report_e = e;
    pthread_mutex_unlock(&w->lock);
    return e;
}

static void report_done(Worker *w) {
    if (!w->report_e) return;
    pthread_mutex_lock(&w->lock);
    engine_cancel_clear(w->report_e);
    w->report_e = NULL;
    pthread_mutex_unlock(&w->lock);
    models_release(w->models, ROLE_REPORT);
}

/* A speech model's warning, for the message log (the work goes on). */
static void speech_warning(void *ud, const char *msg) {
    post(ud, event_failed(EV_WARNING, msg));
}

static void do_report(Worker *w, Request *r) {
    Event *ev = NULL;
    Engine *writer = NULL;
    if (!(writer = report_writer(w))) {
        ev = event_failed(EV_REPORT_FAILED, unum_error());
    } else if (!w->st && store_open(r->db, &w->st)) {
        w->st = NULL;
        ev = event_failed(EV_REPORT_FAILED, unum_error());
    } else {
        MeetingParams p;
        meeting_defaults(&p);
        p.warning = speech_warning;
        p.progress = report_progress;
        p.ud = w;
        p.cancel = &w->report_cancel;
        if (r->params.max_tokens > 0) p.section_tokens = r->params.max_tokens;
        char *md = NULL;
        int64_t id = 0;
        int rc = meeting_report(w->st, writer, r->rec, r->model, r->persona, &p, &md, &id);
        if (rc == 0) {
            ev = event_new(EV_REPORT_DONE);
            ev->report.markdown = xstrdup(md ? md : "");
            ev->report.row = (int)id;
        } else {
            ev = event_failed(EV_REPORT_FAILED, rc > 0 ? "" : unum_error());
        }
        free(md);
    }
    pthread_mutex_lock(&w->lock);
    int more = 0;
    ASSERT_LOCKED(w); /* running_chat and the queue */
    for (Request *q = w->rq; q; q = q->next) more |= q->kind == RQ_CHAT;
    w->running_chat = more;
    if (w->engine) engine_cancel_clear(w->engine);
    pthread_mutex_unlock(&w->lock);
    report_done(w);
    post_models(w);
    post(w, ev);
}

static void transcribe_progress(void *ud, MeetStage stage, double done, double total) {
    (void)stage;
    Event *e = event_new(EV_REPORT_PROGRESS);
    e->report_progress.stage = xstrdup("transcribing (seconds)");
    e->report_progress.done = (int)done;
    e->report_progress.total = (int)total;
    post(ud, e);
}

/* A stored recording transcribed to its end (meeting_transcribe: resumes
 * after its stored segments), with the live transcriber's model. */
static void do_transcribe(Worker *w, Request *r) {
    Event *ev = NULL;
    Transcriber *t = NULL;
    if (!w->whisper_on) {
        ev = event_failed(EV_TRANSCRIBE_FAILED, "no speech model is loaded (set whisper = DIR "
                                                "in the config file or pass --whisper)");
    } else if (!(t = models_acquire_transcriber(w->models))) {
        ev = event_failed(EV_TRANSCRIBE_FAILED, unum_error());
    } else if (!w->st && store_open(r->db, &w->st)) {
        w->st = NULL;
        ev = event_failed(EV_TRANSCRIBE_FAILED, unum_error());
    } else {
        MeetingParams p;
        meeting_defaults(&p);
        p.warning = speech_warning;
        p.progress = transcribe_progress;
        p.ud = w;
        p.no_fallback = 1;
        if (meeting_transcribe(w->st, t, r->rec, &p)) {
            ev = event_failed(EV_TRANSCRIBE_FAILED, unum_error());
        } else {
            ev = event_new(EV_TRANSCRIBED);
            ev->transcribed.rec = r->rec;
        }
    }
    if (t) models_release(w->models, ROLE_WHISPER);
    post(w, ev);
}

static int on_segment(void *user, const TSegment *s) {
    Worker *w = user;
    Event *e = event_new(EV_SEGMENT);
    e->segment.text = xstrdup(s->text ? s->text : "");
    e->segment.speaker = s->speaker && s->speaker[0] ? xstrdup(s->speaker) : NULL;
    e->segment.t0 = s->start;
    e->segment.t1 = s->end;
    e->segment.rec = w->gen;
    post(w, e);
    return 0;
}

/* Live transcription decodes each utterance once, at temperature 0: the
 * fallback's resampling (up to 25 more decodes of a window) would put the
 * transcript far behind the speaker. */
static void live_params(Worker *w, TranscribeParams *p) {
    transcribe_defaults(p);
    p->temperature_inc = 0;
    p->on_segment = on_segment;
    p->on_warning = speech_warning;
    p->ud = w;
    p->cancel = &w->stream_cancel;
}

/* The live stream ends: Whisper is out of use (it may make room for
 * another model between recordings). */
static void stream_end(Worker *w) {
    tstream_free(w->stream);
    transcript_free(&w->transcript);
    if (w->transcriber) models_release(w->models, ROLE_WHISPER);
    w->stream = NULL, w->transcriber = NULL;
}

/* A fresh live stream, Whisper acquired (loaded again if it was unloaded
 * for another model). 0, or -1 with the error set. */
static int stream_begin(Worker *w) {
    if (!(w->transcriber = models_acquire_transcriber(w->models))) return -1;
    TranscribeParams p;
    live_params(w, &p);
    if (!(w->stream = tstream_new(w->transcriber, &p, &w->transcript))) {
        stream_end(w);
        return -1;
    }
    return 0;
}

static void whisper_drop(Worker *w) {
    stream_end(w);
    models_set(w->models, ROLE_WHISPER, NULL, NULL);
    w->whisper_on = 0;
}

static void do_whisper(Worker *w, Request *r) {
    whisper_drop(w);
    EngineOptions o = {.backend = backend_static(r->backend), .threads = r->opt.threads};
    int ok = !models_set(w->models, ROLE_WHISPER, r->model, &o) && !stream_begin(w);
    if (!ok) {
        post(w, event_failed(EV_WHISPER_FAILED, unum_error()));
        whisper_drop(w);
    } else { /* loaded; in use from a recording's first audio */
        w->whisper_on = 1;
        Event *e = event_new(EV_WHISPER_LOADED);
        e->whisper.model = xstrdup(transcriber_dir(w->transcriber));
        post(w, e);
        stream_end(w);
    }
}

/* A window of the recording failed to transcribe (the error set): said
 * once, and the recording is not whole. */
static void stream_failed(Worker *w) {
    if (!w->gen_failed) post(w, event_failed(EV_TRANSCRIBE_FAILED, unum_error()));
    w->gen_failed = 1;
}

/* Feeds the queued audio to the stream (lock held on entry and exit): up
 * to where a recording ended, then that recording is finished (its last
 * utterance transcribed, EV_RECORDING_DONE posted) and a fresh stream takes
 * the audio after it. */
static void feed_audio(Worker *w) {
    ASSERT_LOCKED(w); /* the audio fields */
    float *a = w->audio;
    size_t n = w->audio_n, end_at = w->audio_end ? w->end_at : n;
    int end = w->audio_end;
    w->audio = NULL, w->audio_n = w->audio_cap = 0, w->audio_end = 0;
    pthread_mutex_unlock(&w->lock);
    if (w->whisper_on) {
        /* a recording's first audio: Whisper in use until its end (loaded
         * again if it was unloaded for another model in between) */
        if (!w->stream && !w->gen_failed && (end_at || end) && stream_begin(w))
            stream_failed(w);
        if (w->stream && end_at && tstream_feed(w->stream, a, end_at) < 0) stream_failed(w);
        if (end) {
            if (w->stream && !w->gen_failed && tstream_finish(w->stream) < 0) stream_failed(w);
            Event *d = event_new(EV_RECORDING_DONE);
            d->recording.rec = w->gen++;
            d->recording.whole = !w->gen_failed;
            w->gen_failed = 0;
            post(w, d);
            stream_end(w); /* the next recording gets a fresh stream */
            if (n > end_at && (stream_begin(w) || tstream_feed(w->stream, a + end_at, n - end_at) < 0))
                stream_failed(w);
        }
    }
    free(a);
    pthread_mutex_lock(&w->lock);
}

/* EV_MODELS when the models loaded besides the chat model, or where they
 * live, changed since the last one: after each request, and before a
 * reply's or report's end event. */
static void post_models(Worker *w) {
    char where[512], brief[256];
    models_where(w->models, 0, where, sizeof where);
    if (w->where ? !strcmp(w->where, where) : !where[0]) return;
    models_where(w->models, 1, brief, sizeof brief);
    free(w->where);
    w->where = xstrdup(where);
    Event *e = event_new(EV_MODELS);
    e->models.where = xstrdup(where);
    e->models.brief = xstrdup(brief);
    post(w, e);
}

static void *worker_main(void *arg) {
    Worker *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->rq && !w->audio_n && !w->audio_end && !w->quit)
            pthread_cond_wait(&w->wake, &w->lock);
        if (w->quit) break;
        Request *r = w->rq;
        /* a report waits for the recording's audio to be transcribed */
        if (!r || (r->kind == RQ_REPORT && (w->audio_n || w->audio_end))) {
            feed_audio(w);
            pthread_mutex_unlock(&w->lock);
            post_models(w);
            pthread_mutex_lock(&w->lock);
            continue;
        }
        w->rq = r->next;
        if (!w->rq) w->rq_tail = NULL;
        pthread_mutex_unlock(&w->lock);
        switch (r->kind) {
        case RQ_LOAD: do_load(w, r); break;
        case RQ_CHAT: do_chat(w, r); break;
        case RQ_WHISPER: do_whisper(w, r); break;
        case RQ_REPORT: do_report(w, r); break;
        case RQ_TRANSCRIBE: do_transcribe(w, r); break;
        case RQ_PULL: do_pull(w, r); break;
        case RQ_STAGE2: do_stage2(w, r); break;
        case RQ_DRAFT: do_draft(w, r); break;
        case RQ_BUDGET: models_set_budget(w->models, (size_t)r->rec); break;
        case RQ_REPORT_MODEL: do_report_model(w, r); break;
        case RQ_QUIT: break;
        }
        request_free(r);
        post_models(w);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

Worker *worker_start(void) {
    Worker *w = xcalloc(1, sizeof *w);
    w->models = models_new(0);
    const char *delay = getenv("UNUM_TEST_TOKEN_DELAY_MS");
    if (delay && atoi(delay) > 0 && atoi(delay) <= 10000)
        w->token_delay_us = (useconds_t)atoi(delay) * 1000;
    if (pipe(w->pipe) != 0) {
        unum_error_set("cannot create the event pipe: %s", strerror(errno));
        models_free(w->models);
        free(w);
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        fcntl(w->pipe[i], F_SETFL, fcntl(w->pipe[i], F_GETFL) | O_NONBLOCK);
        fcntl(w->pipe[i], F_SETFD, FD_CLOEXEC);
    }
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(&w->lock, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_cond_init(&w->wake, NULL);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        unum_error_set("cannot start the engine thread");
        close(w->pipe[0]);
        close(w->pipe[1]);
        models_free(w->models);
        free(w);
        return NULL;
    }
    return w;
}

void worker_stop(Worker *w) {
    if (!w) return;
    pthread_mutex_lock(&w->lock);
    w->quit = 1;
    unum_cancel(&w->stream_cancel);
    unum_cancel(&w->pull_cancel);
    if (w->engine) engine_cancel(w->engine);
    unum_cancel(&w->remote_cancel);
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    while (w->rq) {
        Request *r = w->rq;
        w->rq = r->next;
        request_free(r);
    }
    event_free(w->ev);
    heard_free(w);
    whisper_drop(w);
    models_free(w->models); /* every model, the chat model's too */
    free(w->where);
    lora_specs_free(w->chat_lora, w->n_chat_lora);
    router_free(w->router);
    remote_free(w->remote);
    store_close(w->st);
    free(w->audio);
    close(w->pipe[0]);
    close(w->pipe[1]);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->wake);
    free(w);
}
