/* meeting.h - from a recording to a report: transcription that resumes,
 * and a report written section by section from a template, in a persona's
 * voice, with map-reduce when the transcript does not fit the context.
 *
 * Transcription stores each segment as it comes (one transaction each), so
 * an interrupted run keeps what it did, and the next run starts after the
 * last stored segment; the recording is marked transcribed when the end is
 * reached.
 *
 * The report: each template section is one generation whose prompt holds
 * the persona's system prompt, the material and the section's instruction
 * and format (paragraph, list or table, in markdown; sections about action
 * items ask for owners and due dates). The material is the transcript with
 * timestamps when its prompt leaves room for the answer in the model's
 * context (counted with the tokenizer); otherwise the transcript is cut into
 * overlapping chunks that fit, each chunk is summarized, and the summaries
 * are the material (summarized again in groups while they do not fit).
 * Nothing is stored until every section is written; the report is then one
 * row (linked to the recording, template, persona and model). A template
 * that names LoRA adapters has its reports written with them
 * (MeetingParams.lora).
 *
 * Either stage may be a server (engine/remote.h). A server's tokenizer is
 * not at hand, so what is sent to it is counted as MEETING_BYTES_PER_TOKEN
 * bytes a token (BPE vocabularies average about 4 for English, so this
 * overestimates), against the context it is given. A remote first stage
 * can only be judged by the cascade when the server returns logprobs. */
#ifndef UNUM_MEETING_H
#define UNUM_MEETING_H

#include "engine/engine.h"
#include "engine/speculative.h"
#include "engine/remote.h"
#include "store/store.h"
#include "engine/transcribe.h"

#include <stdint.h>

typedef enum { MEET_TRANSCRIBING, MEET_SUMMARIZING, MEET_WRITING } MeetStage;

typedef struct {
    /* done of total: seconds of audio, chunks summarized, sections written */
    void (*progress)(void *ud, MeetStage stage, double done, double total);
    /* a warning for the user from the speech model (a repetition loop cut,
     * output kept as text); NULL: printed on stderr */
    void (*warning)(void *ud, const char *msg);
    void *ud;
    UnumCancel *cancel;      /* may be NULL; set from anywhere to stop */
    int section_tokens;      /* longest section (default 384) */
    int summary_tokens;      /* longest chunk summary (default 256) */
    int no_fallback;         /* transcribe at temperature 0 only */
    GenerateParams gen;      /* sampling for the report (default greedy) */
    /* the cascade (engine/cascade.h): a generation whose confidence is
     * below escalate_below is written again by stage2 (NULL: never) */
    Engine *stage2;
    double escalate_below;
    /* servers instead of local engines: remote writes the report when
     * meeting_report's e is NULL, fitting the material into remote_ctx
     * tokens (0: MEETING_REMOTE_CTX); stage2_remote is a second stage
     * (instead of stage2) */
    Remote *remote;
    int remote_ctx;
    Remote *stage2_remote;
    /* the adapters the report is written with: lora[0..n_lora) when
     * n_lora > 0 (the command line's --lora, in place of the template's),
     * else the template's own (none when it names none). They are set on e
     * (engine_set_adapters) for the whole report, not on stage 2, and
     * named in the report's header; a folder that cannot be read fails the
     * report before anything is generated. */
    const LoraSpec *lora;
    int n_lora;
    /* speculative decoding (engine/speculative.h): draft (NULL: none)
     * proposes up to draft_n tokens that e verifies; the report is e's own
     * (identical when greedy). Stage 1 only; spec counts the drafting. */
    Engine *draft;
    int draft_n;
    SpecStats spec;
    /* filled in: the largest prompt + reply of any generation, and how many */
    int max_positions, calls;
    int escalated; /* generations stage 2 wrote */
} MeetingParams;

#define MEETING_BYTES_PER_TOKEN 3
#define MEETING_REMOTE_CTX 8192 /* the API does not say a server's context */

void meeting_defaults(MeetingParams *p);

/* Transcribes recording rec_id (its WAV in the store) with t, resuming
 * after the last stored segment. 0 when the transcript is whole, 1 when
 * cancelled, -1 with the error set. */
int meeting_transcribe(Store *st, Transcriber *t, int64_t rec_id, MeetingParams *p);

/* Writes and stores the report of rec_id from template_name as persona
 * (NULL: the model's default voice) with e, or with p->remote when e is
 * NULL. 0 with *markdown (new string) and *report_id, 1 when cancelled
 * (nothing stored), -1 with the error set. Only a whole transcript (the
 * recording marked transcribed: by meeting_transcribe at its end, or by
 * the app once live transcription has its last utterance) is reported on;
 * otherwise -1 and nothing runs. */
int meeting_report(Store *st, Engine *e, int64_t rec_id, const char *template_name,
                   const char *persona, MeetingParams *p, char **markdown, int64_t *report_id);

/* "[mm:ss.xx -> mm:ss.xx] Who: text" lines of the recording's transcript
 * (format NULL), the same for markdown ("md": "**Who:** text", each line a
 * hard break), or subtitles: "vtt" (a voice span "<v Who>text") or "srt"
 * ("Who: text"). Who is the speaker's name (store/speakers.h), else its
 * label; segments without a label show their text alone. A name is escaped
 * where its format gives characters a meaning: '&', '<' and '>' as
 * character references in WebVTT (the cue text too), ASCII punctuation
 * backslash-escaped in markdown. New string; NULL with the error set. */
char *meeting_transcript_text(Store *st, int64_t rec_id, const char *format);

/* What `unum meeting show` and `export` print, and the app's library
 * writes: format NULL the timestamped transcript; "md" the newest report,
 * else the transcript under a heading; "json" the recording, its segments
 * and its newest report (each segment's "speaker" label and
 * "speaker_name", null when unnamed); "vtt" or "srt" subtitles. A new string, or NULL
 * with the error set (an unknown format names itself). */
char *meeting_export(Store *st, int64_t rec_id, const char *format);

#endif
