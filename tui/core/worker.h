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
 * next token (its text so far comes with the done event, marked cancelled). */
#ifndef UNUM_WORKER_H
#define UNUM_WORKER_H

#include "engine/chat.h"
#include "engine/engine.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    EV_LOAD_PROGRESS, /* num: 0..1 */
    EV_LOADED,        /* text: the model directory; text2: the backend's name;
                       * num: load seconds; n: context; stop: 1 for a speech LLM */
    EV_LOAD_FAILED,   /* text: why */
    EV_TOKEN,         /* text: the reply's new text */
    EV_REPLY_DONE,    /* text: the whole reply; n: tokens; num: decode tok/s;
                       * stop: StopReason; ctx_used: positions in the cache;
                       * text2: the name of the model that wrote it; with a
                       * second stage, t0: stage 1's confidence and t1: the
                       * stage that answered (1 or 2), else t0 = -1 */
    EV_REPLY_RESTART, /* stage 1 was unsure (num: its confidence): the text
                       * so far is dropped, stage 2's tokens follow */
    EV_REPLY_FAILED,  /* text: why */
    EV_WHISPER_LOADED,
    EV_WHISPER_FAILED, /* text: why */
    EV_SEGMENT,        /* text; t0, t1: seconds from the start of the recording;
                        * n: the recording's number (0, 1, .. in worker_audio_end order) */
    EV_RECORDING_DONE, /* n: that recording's number: all its segments came before */
    EV_TRANSCRIBE_FAILED,
    EV_REPORT_PROGRESS, /* num: sections written of n */
    EV_REPORT_DONE,     /* text: the report's markdown; n: its row */
    EV_REPORT_FAILED,   /* text: why ("" when cancelled) */
} EventKind;

typedef struct Event {
    EventKind kind;
    char *text, *text2;
    double num, t0, t1;
    int n, stop, ctx_used;
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

/* Loads a language model (replacing the current one). */
void worker_load(Worker *w, const char *model, const EngineOptions *opt);
/* Uses the OpenAI-compatible server at url (engine/remote.h) as the
 * language model instead, its model remote_model (NULL: the first it
 * lists); EV_LOADED then has text2 "remote" and context 0. Voice messages
 * and reports need a local model. */
void worker_load_remote(Worker *w, const char *url, const char *remote_model);
/* A second stage for chat replies (engine/cascade.h): a reply whose
 * confidence is below escalate_below is written again by model, loaded on
 * first need with opt (model NULL: no second stage). */
void worker_set_stage2(Worker *w, const char *model, double escalate_below,
                       const EngineOptions *opt);
/* Answers msgs (copied) with the chat template. audio (may be NULL) gives
 * each message's WAV file or NULL: a speech LLM hears those messages (their
 * clips are encoded once and kept for the next turns). */
void worker_chat(Worker *w, const ChatMsg *msgs, const char *const *audio, int n,
                 const GenerateParams *p);
/* Stops the running reply; safe from any thread. */
void worker_cancel(Worker *w);
/* Whether a reply is being generated. */
int worker_busy(const Worker *w);

/* Writes the report of recording rec (meeting.h) from template as persona
 * (NULL: none) with the loaded language model, reading and storing through
 * its own connection to the database at db (NULL: the default), sections
 * of at most section_tokens. Cancelled
 * by worker_cancel like a reply. */
void worker_report(Worker *w, const char *db, int64_t rec, const char *template_name,
                   const char *persona, int section_tokens);

/* Loads a Whisper model for live transcription. */
void worker_load_whisper(Worker *w, const char *model, const char *backend, int threads);
/* Live audio (16 kHz mono): copied and queued; transcribed as utterances end.
 * Safe from the capture's writer thread. */
void worker_audio(Worker *w, const float *pcm, size_t n);
/* The recording ended: the utterance in progress is transcribed. */
void worker_audio_end(Worker *w);

#endif
