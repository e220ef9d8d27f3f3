/* remote.h - a model behind an OpenAI-compatible server (vLLM, llama.cpp's
 * llama-server, ollama, TensorRT-LLM behind Triton's OpenAI frontend),
 * reached over HTTP(S) with libcurl.
 *
 * The base URL ends in /v1 (".../v1/"); GET {base}/models lists the
 * server's models and POST {base}/chat/completions with "stream": true
 * answers as server-sent events ("data: {...}" lines, "data: [DONE]" at
 * the end). The key comes from UNUM_API_KEY, else OPENAI_API_KEY, and is
 * sent as "Authorization: Bearer KEY"; it never appears in an error
 * message (a server that echoes it back has it replaced by "***").
 *
 * Failures are errors, never hangs: a connection that cannot be made in
 * the connect time-out, a server that stays silent for the stall time-out
 * (UNUM_REMOTE_TIMEOUT seconds, default 60, for either), an HTTP status of
 * 400 or more (the error names the status and the server's message), a
 * stream that is not JSON or ends without [DONE] or a finish reason.
 *
 * Threading: a Remote belongs to one thread at a time; the cancel flag
 * may be set from any thread (or a signal handler) and stops the request
 * within about a second. */
#ifndef UNUM_REMOTE_H
#define UNUM_REMOTE_H

#include "engine/chat.h"
#include "engine/engine.h"

#include "engine/base/cancel.h"

typedef struct Remote Remote;

/* Nonzero when model names a server: it starts with http:// or https://. */
int remote_is_url(const char *model);

/* The server at url with its model name (NULL: the first the server lists,
 * asked at once). NULL with the error set (naming url) on failure. */
Remote *remote_open(const char *url, const char *model);
void remote_free(Remote *r);
/* The model's name, as sent in requests. */
const char *remote_model(const Remote *r);

#define REMOTE_MAX_STOP 4

typedef struct {
    float temperature;                 /* < 0: the server's default */
    float top_p;                       /* < 0: the server's default */
    int max_tokens;                    /* <= 0: the server's default */
    const char *stop[REMOTE_MAX_STOP]; /* NULL-terminated when fewer */
    int logprobs;                      /* ask for each token's log-probability */
    int have_seed;
    uint64_t seed;
} RemoteParams;

typedef struct {
    int pieces;     /* content deltas received */
    double first_s; /* seconds to the first piece */
    double total_s;
    StopReason stop; /* STOP_EOS ("stop"), STOP_LENGTH, STOP_CALLBACK, STOP_CANCELLED */
    float *probs;    /* with logprobs: each token's probability (new array) */
    size_t n_probs;
    int had_logprobs; /* the server returned them */
} RemoteStats;

/* Called with each piece of the reply's text; return nonzero to stop. */
typedef int (*remote_text_fn)(void *user, const char *text, size_t len);

/* One chat completion of msgs[0..n), streamed to fn. cancel (may be NULL)
 * stops it: UNUM_CANCELLED with stats->stop STOP_CANCELLED and the stats
 * so far. 0, or -1 with the error set. stats->probs is the caller's to free
 * (remote_stats_free). */
int remote_chat(Remote *r, const ChatMsg *msgs, int n, const RemoteParams *p, remote_text_fn fn,
                void *user, UnumCancel *cancel, RemoteStats *stats);
void remote_stats_free(RemoteStats *s);

#endif
