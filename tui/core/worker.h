/* worker.h - the engine thread behind the terminal app.
 *
 * The app's main thread never touches a model. It posts requests (load a
 * model, answer a chat turn, load Whisper, transcribe live audio) and reads
 * events back (progress, each token, each transcript segment, done, error).
 * Requests run one at a time in the worker thread, chat before
 * transcription; events are queued and announced on a pipe whose read end
 * the app polls together with the keyboard, so the UI never blocks.
 *
 * Cancelling is immediate from any thread: the running reply stops at the
 * next token (its text so far comes with the done event, marked cancelled).
 *
 * The thread holds its models by role (engine/models.h) under one memory
 * budget (worker_set_mem_budget): the chat model (or speech LLM), the
 * second stage, the draft, the report writer and Whisper. Loading one that
 * does not fit unloads the least recently used one not in use (it is
 * loaded again when next needed), or fails the request with the sizes. */
#ifndef UNUM_WORKER_H
#define UNUM_WORKER_H

#include "engine/chat.h"
#include "engine/engine.h"
#include "engine/router.h"

#include <stddef.h>
#include <stdint.h>

/* Events, one kind each; an Event carries the member of its kind. */
typedef enum {
    EV_LOAD_PROGRESS,     /* progress */
    EV_LOADED,            /* loaded */
    EV_LOAD_FAILED,       /* failed */
    EV_TOKEN,             /* token: the reply's new text */
    EV_REPLY_DONE,        /* reply */
    EV_REPLY_RESTART,     /* restart: stage 1 was unsure; its text so far is
                           * dropped and stage 2's tokens follow */
    EV_REPLY_FAILED,      /* failed */
    EV_WHISPER_LOADED,    /* whisper */
    EV_WHISPER_FAILED,    /* failed */
    EV_SEGMENT,           /* segment */
    EV_RECORDING_DONE,    /* recording: all its segments came before */
    EV_TRANSCRIBE_FAILED, /* failed */
    EV_REPORT_PROGRESS,   /* report_progress */
    EV_REPORT_DONE,       /* report */
    EV_REPORT_FAILED,     /* failed ("" when cancelled) */
    EV_PULL_PROGRESS,     /* pull_progress */
    EV_PULL_DONE,         /* pull */
    EV_TRANSCRIBED,       /* transcribed: a stored recording's transcript is whole */
    EV_MODELS,            /* models: the models loaded besides the chat model changed */
    EV_WARNING,           /* failed: a warning from the speech model (a repetition loop
                           * cut, output kept as text), work going on */
} EventKind;

typedef struct Event {
    EventKind kind;
    union {
        double progress; /* 0..1 */
        struct {
            char *dir, *backend; /* the model directory; the backend's name */
            double seconds;      /* load time */
            int ctx, speech;     /* context; 1 for a speech LLM */
        } loaded;
        struct {
            char *why;
        } failed;
        char *token;
        struct {
            char *text;   /* the whole reply */
            int tokens;   /* generated */
            double tok_s; /* decode speed */
            int stop;     /* StopReason */
            int ctx_used; /* positions in the cache */
            char *model;  /* the name of the model that wrote it */
            double confidence; /* with a second stage: stage 1's, else -1 */
            int stage;         /* the stage that answered (1 or 2) */
            char *adapters;    /* the adapters that answered (adapterset_label), "" none */
            double draft_accept; /* drafted: the share of drafts kept, else -1 */
        } reply;
        struct {
            double confidence; /* stage 1's */
        } restart;
        struct {
            char *model;
        } whisper;
        struct {
            char *text;
            char *speaker; /* the speech model's label ("S0"), NULL when it has none */
            double t0, t1; /* seconds from the start of the recording */
            int rec;       /* the recording's number (0, 1, .. in worker_audio_end order) */
        } segment;
        struct {
            int rec;
            int whole; /* every window of it was transcribed (no failure) */
        } recording;
        struct {
            char *stage;     /* "summarizing", "writing" */
            int done, total; /* sections */
        } report_progress;
        struct {
            char *markdown;
            int row;
        } report;
        struct {
            char *repo, *file;    /* the repository and file in flight */
            uint64_t done, total; /* bytes of this repository */
        } pull_progress;
        struct {
            int64_t rec; /* the recording's row */
        } transcribed;
        struct {
            /* models_where's long and brief forms ("" when none) */
            char *where, *brief;
        } models;
        struct {
            int status;  /* PULL_OK or a failure (pull.h) */
            char *why;   /* for a failure */
        } pull;
    };
    struct Event *next;
} Event;

typedef struct Worker Worker;

/* Starts the thread. NULL with the error set. */
Worker *worker_start(void);
/* Cancels what runs, finishes the thread and frees everything. */
void worker_stop(Worker *w);
/* The descriptor to poll for readability: events are waiting. */
int worker_fd(const Worker *w);
/* Takes the waiting events, oldest first (free with event_free). */
Event *worker_events(Worker *w);
void event_free(Event *e);

/* The memory budget of the models loaded from now on (bytes; 0: the
 * default, models_default_budget_for). */
void worker_set_mem_budget(Worker *w, size_t bytes);
/* The report writer (worker_report): model, loaded when a report needs it
 * with opt (no adapters: the template's are set per report), or NULL for
 * the chat model. */
void worker_set_report_model(Worker *w, const char *model, const EngineOptions *opt);
/* Loads a language model (replacing the current one). */
void worker_load(Worker *w, const char *model, const EngineOptions *opt);
/* Uses the OpenAI-compatible server at url (engine/remote.h) as the
 * language model instead, its model remote_model (NULL: the first it
 * lists); EV_LOADED then has the backend "remote" and context 0. Voice
 * messages and reports need a local model. */
void worker_load_remote(Worker *w, const char *url, const char *remote_model);
/* A second stage for chat replies (engine/cascade.h): a reply whose
 * confidence is below escalate_below is written again by model, loaded on
 * first need with opt (model NULL: no second stage). */
void worker_set_stage2(Worker *w, const char *model, double escalate_below,
                       const EngineOptions *opt);
/* Speculative decoding for chat replies (engine/speculative.h): model
 * drafts up to draft_n tokens (0: the default) that the chat model
 * verifies, so a reply is the chat model's own, sooner. Loaded on the
 * first reply with opt (no adapters) and checked against the chat model;
 * one that cannot serve fails that reply with the reason and is turned
 * off. Voice replies and remote models are not drafted. model NULL: off. */
void worker_set_draft(Worker *w, const char *model, int draft_n, const EngineOptions *opt);
/* Answers msgs (copied) with the chat template. audio (may be NULL) gives
 * each message's WAV file or NULL: a speech LLM hears those messages (their
 * clips are encoded once and kept for the next turns). */
void worker_chat(Worker *w, const ChatMsg *msgs, const char *const *audio, int n,
                 const GenerateParams *p);
/* The LoRA adapters (copied) that the chat replies asked for from now on
 * are written with: the chosen persona's (n = 0: none). Each worker_chat
 * takes the set current when it is called, and the engine is switched to
 * it before the reply (the base stays loaded; a report's adapters never
 * stay on for chat). A folder that cannot be read fails that reply with an
 * error naming it: no reply is written with other weights instead. The
 * reply's event names the adapters that wrote it. */
void worker_chat_adapters(Worker *w, const LoraSpec *specs, int n);
/* lora = auto: from now on a reply asked for without adapters (a persona
 * with none) is written with the adapter the router (engine/router.h)
 * picks among entries[0..n) (copied) for the conversation's last user
 * message, or with none when no description reaches threshold (n = 0:
 * no routing). Voice messages are not routed. */
void worker_chat_router(Worker *w, const RouterEntry *entries, int n, float threshold);
/* Stops the running reply or download; safe from any thread. */
void worker_cancel(Worker *w);
/* Whether a reply is being generated. */
int worker_busy(const Worker *w);

/* Writes the report of recording rec (meeting.h) from template as persona
 * (NULL: none) with the report writer (worker_set_report_model; else the
 * loaded language model), reading and storing through
 * its own connection to the database at db (NULL: the default), sections
 * of at most section_tokens. Cancelled
 * by worker_cancel like a reply. */
void worker_report(Worker *w, const char *db, int64_t rec, const char *template_name,
                   const char *persona, int section_tokens);

/* Downloads the repositories repos[0..n) (ORG/NAME, copied) in order with
 * pull.h's pull_run into their default folders, posting EV_PULL_PROGRESS
 * now and then and one EV_PULL_DONE (the first failure stops it). Stopped by
 * worker_cancel; the .part files stay for a resume. */
void worker_pull(Worker *w, const char *const *repos, int n);

/* Transcribes stored recording rec to its end (meeting.h's
 * meeting_transcribe, resuming after its stored segments) with the loaded
 * Whisper model, through the worker's own connection to db: progress as
 * EV_REPORT_PROGRESS, then EV_TRANSCRIBED or EV_TRANSCRIBE_FAILED. Not
 * while a live recording is being transcribed. */
void worker_transcribe(Worker *w, const char *db, int64_t rec);

/* Loads a Whisper model for live transcription. */
void worker_load_whisper(Worker *w, const char *model, const char *backend, int threads);
/* Live audio (16 kHz mono): copied and queued; transcribed as utterances end.
 * Safe from the capture's writer thread. */
void worker_audio(Worker *w, const float *pcm, size_t n);
/* The recording ended: the utterance in progress is transcribed. */
void worker_audio_end(Worker *w);

#endif
