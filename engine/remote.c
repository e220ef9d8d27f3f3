/* remote.c - see remote.h. */
#include "engine/remote.h"

#include "engine/base/util.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE (1u << 20) /* one SSE line */
#define MAX_BODY (4u << 20) /* a non-streamed body */

struct Remote {
    char *base; /* without a trailing slash */
    char *model;
    char *key; /* NULL without one */
    CURL *curl;
    struct curl_slist *hdrs;
    char errbuf[CURL_ERROR_SIZE];
};

int remote_is_url(const char *m) {
    return m && (!strncmp(m, "http://", 7) || !strncmp(m, "https://", 8));
}

const char *remote_model(const Remote *r) { return r->model; }

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init_once(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static long timeout_s(void) {
    const char *t = getenv("UNUM_REMOTE_TIMEOUT");
    long v = t ? atol(t) : 0;
    return v > 0 ? v : 60;
}

/* The current error with every copy of the key replaced by "***": servers
 * echo what they were sent. */
static int scrub(const Remote *r) {
    if (!r->key || !*r->key) return -1;
    const char *msg = unum_error();
    if (!strstr(msg, r->key)) return -1;
    size_t kl = strlen(r->key), cap = strlen(msg) + 1;
    char *out = xmalloc(cap), *o = out;
    for (const char *p = msg; *p;) {
        if (!strncmp(p, r->key, kl)) {
            memcpy(o, "***", 3), o += 3, p += kl;
        } else {
            *o++ = *p++;
        }
    }
    *o = 0;
    unum_error_set("%s", out);
    free(out);
    return -1;
}

/* ------------------------------------------------------------ transfers */

typedef struct {
    Remote *r;
    long status;
    int sse;    /* the reply is an event stream */
    char *line; /* the SSE line being read */
    size_t n, cap;
    char *body; /* a plain (or error) body */
    size_t bn, bcap;
    int failed;   /* the stream broke a rule: error set, transfer stopped */
    int stopped;  /* fn asked to stop */
    int done;     /* [DONE] seen */
    int finished; /* a finish_reason seen */
    const char *finish;
    remote_text_fn fn;
    void *user;
    UnumCancel *cancel;
    RemoteStats *st;
    double t0;
    double last;   /* when bytes last came (or the request started) */
    int timed_out; /* silent for timeout_s() */
    size_t probs_cap;
} Xfer;

/* Called at least once a second: stops a cancelled request, and one whose
 * server has been silent for the time-out (libcurl's own low-speed check
 * averages over several seconds, so it would fire late). */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    Xfer *x = ud;
    if (unum_cancelled(x->cancel)) return 1;
    if (unum_now() - x->last > (double)timeout_s()) x->timed_out = 1;
    return x->timed_out;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud) {
    Xfer *x = ud;
    size_t len = size * n;
    if (len > 13 && !strncasecmp(data, "content-type:", 13)) {
        const char *v = data + 13;
        while (*v == ' ') v++;
        x->sse = !strncasecmp(v, "text/event-stream", 17);
    }
    return len;
}

static void add_prob(Xfer *x, double logprob) {
    RemoteStats *st = x->st;
    if (st->n_probs == x->probs_cap) {
        x->probs_cap = x->probs_cap ? 2 * x->probs_cap : 64;
        st->probs = xrealloc(st->probs, sizeof(float) * x->probs_cap);
    }
    st->probs[st->n_probs++] = (float)exp(logprob);
}

/* One completion chunk (streamed delta or whole message). */
static int take_choice(Xfer *x, const cJSON *o, const char *src) {
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(o, "error");
    if (err) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(err, "message");
        return unum_error_set("%s: the server reported an error: %.300s", src,
                              cJSON_IsString(m)     ? m->valuestring
                              : cJSON_IsString(err) ? err->valuestring
                                                    : "(no message)");
    }
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(o, "choices");
    if (!cJSON_IsArray(choices)) return unum_error_set("%s: a reply without \"choices\"", src);
    const cJSON *c = cJSON_GetArrayItem(choices, 0);
    if (!c) return 0; /* usage-only chunks have none */
    const cJSON *delta = cJSON_GetObjectItemCaseSensitive(c, "delta");
    if (!delta) delta = cJSON_GetObjectItemCaseSensitive(c, "message");
    const cJSON *content = delta ? cJSON_GetObjectItemCaseSensitive(delta, "content") : NULL;
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(c, "logprobs");
    const cJSON *lpc = cJSON_IsObject(lp) ? cJSON_GetObjectItemCaseSensitive(lp, "content") : NULL;
    if (cJSON_IsArray(lpc)) {
        x->st->had_logprobs = 1;
        const cJSON *t;
        cJSON_ArrayForEach(t, lpc) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, "logprob");
            if (!cJSON_IsNumber(v))
                return unum_error_set("%s: a logprobs entry without a number", src);
            add_prob(x, v->valuedouble);
        }
    }
    if (cJSON_IsString(content) && content->valuestring[0]) {
        if (!x->st->pieces++) x->st->first_s = unum_now() - x->t0;
        if (x->fn && x->fn(x->user, content->valuestring, strlen(content->valuestring)))
            x->stopped = 1;
    }
    const cJSON *fin = cJSON_GetObjectItemCaseSensitive(c, "finish_reason");
    if (cJSON_IsString(fin)) {
        x->finished = 1;
        x->st->stop = !strcmp(fin->valuestring, "length") ? STOP_LENGTH : STOP_EOS;
    }
    return 0;
}

static int take_line(Xfer *x) {
    char *l = x->line;
    size_t n = x->n;
    if (n && l[n - 1] == '\r') l[--n] = 0;
    if (n == 0 || l[0] == ':' || strncmp(l, "data:", 5)) return 0; /* blank, comment, event: */
    char *d = l + 5;
    while (*d == ' ') d++;
    if (!strcmp(d, "[DONE]")) {
        x->done = 1;
        return 0;
    }
    if (x->done) return unum_error_set("%s: malformed stream: data after [DONE]", x->r->base);
    cJSON *o = cJSON_Parse(d);
    if (!o) return unum_error_set("%s: malformed stream: not JSON: '%.60s'", x->r->base, d);
    int rc = take_choice(x, o, x->r->base);
    cJSON_Delete(o);
    return rc;
}

static size_t on_body(char *data, size_t size, size_t nitems, void *ud) {
    Xfer *x = ud;
    size_t len = size * nitems;
    x->last = unum_now();
    if (unum_cancelled(x->cancel)) return 0;
    if (!x->sse || x->status >= 400) { /* kept whole, read at the end */
        if (x->bn + len + 1 > MAX_BODY) {
            x->failed = 1;
            unum_error_set("%s: a reply of more than %u bytes", x->r->base, MAX_BODY);
            return 0;
        }
        if (x->bn + len + 1 > x->bcap) {
            x->bcap = (x->bn + len + 1) * 2;
            x->body = xrealloc(x->body, x->bcap);
        }
        memcpy(x->body + x->bn, data, len);
        x->bn += len;
        x->body[x->bn] = 0;
        return len;
    }
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n') {
            x->line[x->n] = 0;
            int rc = take_line(x);
            x->n = 0;
            if (rc) {
                x->failed = 1;
                return 0;
            }
            if (x->stopped) return 0;
            continue;
        }
        if (x->n + 2 > x->cap) {
            if (x->cap >= MAX_LINE) {
                x->failed = 1;
                unum_error_set("%s: malformed stream: a line of more than %u bytes", x->r->base,
                               MAX_LINE);
                return 0;
            }
            x->cap = x->cap ? 2 * x->cap : 4096;
            x->line = xrealloc(x->line, x->cap);
        }
        x->line[x->n++] = data[i];
    }
    return len;
}

static size_t on_status_probe(char *data, size_t size, size_t n, void *ud) {
    Xfer *x = ud;
    x->last = unum_now();
    on_header(data, size, n, ud);
    if (size * n > 5 && !strncmp(data, "HTTP/", 5)) {
        const char *sp = strchr(data, ' ');
        x->status = sp ? atol(sp + 1) : 0;
    }
    return size * n;
}

static void setup(Remote *r, Xfer *x, const char *url) {
    CURL *c = r->curl;
    x->last = unum_now();
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "unum/1");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    long t = timeout_s();
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, t);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L); /* silent for t seconds: give up */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, t);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_status_probe);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->hdrs);
    r->errbuf[0] = 0;
}

/* The error of a status >= 400: the server's message when it sent JSON. */
static int http_error(Xfer *x, const char *url) {
    const char *msg = x->body ? x->body : "";
    cJSON *o = cJSON_Parse(msg);
    const cJSON *err = o ? cJSON_GetObjectItemCaseSensitive(o, "error") : NULL;
    const cJSON *m = err ? cJSON_GetObjectItemCaseSensitive(err, "message") : NULL;
    if (cJSON_IsString(m)) msg = m->valuestring;
    else if (cJSON_IsString(err)) msg = err->valuestring;
    unum_error_set("%s: HTTP %ld: %.300s%s", url, x->status, *msg ? msg : "(empty body)",
                   x->status == 401 || x->status == 403 ? " (check UNUM_API_KEY or OPENAI_API_KEY)"
                                                        : "");
    cJSON_Delete(o);
    return scrub(x->r);
}

static int perform(Remote *r, Xfer *x, const char *url) {
    CURLcode rc = curl_easy_perform(r->curl);
    if (x->failed) return scrub(r);
    if (unum_cancelled(x->cancel) && rc != CURLE_OK) {
        x->st->stop = STOP_CANCELLED;
        return 0;
    }
    if (x->stopped) return 0;
    if (x->status >= 400) return http_error(x, url);
    if (x->timed_out) rc = CURLE_OPERATION_TIMEDOUT;
    if (rc != CURLE_OK) {
        const char *why = r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc);
        if (rc == CURLE_OPERATION_TIMEDOUT)
            unum_error_set("%s: no answer within %ld s (UNUM_REMOTE_TIMEOUT)", url, timeout_s());
        else if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST)
            unum_error_set("cannot reach %s: %s", url, why);
        else unum_error_set("%s: %s", url, why);
        return scrub(r);
    }
    return 0;
}

/* ------------------------------------------------------------ API */

Remote *remote_open(const char *url, const char *model) {
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) {
        unum_error_set("libcurl could not start: %s", curl_easy_strerror(curl_init_rc));
        return NULL;
    }
    Remote *r = xcalloc(1, sizeof *r);
    r->base = xstrdup(url);
    size_t bl = strlen(r->base);
    while (bl > 0 && r->base[bl - 1] == '/') r->base[--bl] = 0;
    const char *key = getenv("UNUM_API_KEY");
    if (!key || !*key) key = getenv("OPENAI_API_KEY");
    r->curl = curl_easy_init();
    if (!r->curl) {
        unum_error_set("libcurl could not start a transfer");
        remote_free(r);
        return NULL;
    }
    r->hdrs = curl_slist_append(r->hdrs, "Content-Type: application/json");
    r->hdrs = curl_slist_append(r->hdrs, "Accept: text/event-stream, application/json");
    if (key && *key) {
        r->key = xstrdup(key);
        size_t n = strlen(key) + 32;
        char *auth = xmalloc(n);
        snprintf(auth, n, "Authorization: Bearer %s", key);
        r->hdrs = curl_slist_append(r->hdrs, auth);
        memset(auth, 0, n);
        free(auth);
    }
    if (model) {
        r->model = xstrdup(model);
        return r;
    }
    /* the first model the server lists */
    size_t n = strlen(r->base) + 16;
    char *lurl = xmalloc(n);
    snprintf(lurl, n, "%s/models", r->base);
    RemoteStats st = {0};
    Xfer x = {.r = r, .st = &st};
    setup(r, &x, lurl);
    int rc = perform(r, &x, lurl);
    if (!rc) {
        cJSON *o = x.body ? cJSON_Parse(x.body) : NULL;
        const cJSON *data = o ? cJSON_GetObjectItemCaseSensitive(o, "data") : NULL;
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(data, 0), "id");
        if (cJSON_IsString(id)) r->model = xstrdup(id->valuestring);
        else rc = unum_error_set("%s: lists no models (give --remote-model NAME)", lurl);
        cJSON_Delete(o);
    }
    free(x.body);
    free(x.line);
    free(lurl);
    if (rc) {
        remote_free(r);
        return NULL;
    }
    return r;
}

void remote_free(Remote *r) {
    if (!r) return;
    if (r->curl) curl_easy_cleanup(r->curl);
    curl_slist_free_all(r->hdrs);
    if (r->key) memset(r->key, 0, strlen(r->key));
    free(r->key);
    free(r->base);
    free(r->model);
    free(r);
}

void remote_stats_free(RemoteStats *s) {
    free(s->probs);
    s->probs = NULL;
    s->n_probs = 0;
}

static char *request_body(const Remote *r, const ChatMsg *msgs, int n, const RemoteParams *p) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", r->model);
    cJSON *arr = cJSON_AddArrayToObject(o, "messages");
    for (int i = 0; i < n; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", msgs[i].role);
        cJSON_AddStringToObject(m, "content", msgs[i].content);
        cJSON_AddItemToArray(arr, m);
    }
    cJSON_AddBoolToObject(o, "stream", 1);
    if (p->temperature >= 0) cJSON_AddNumberToObject(o, "temperature", p->temperature);
    if (p->top_p >= 0) cJSON_AddNumberToObject(o, "top_p", p->top_p);
    if (p->max_tokens > 0) cJSON_AddNumberToObject(o, "max_tokens", p->max_tokens);
    if (p->have_seed) cJSON_AddNumberToObject(o, "seed", (double)(p->seed & ((1ull << 53) - 1)));
    if (p->stop[0]) {
        cJSON *s = cJSON_AddArrayToObject(o, "stop");
        for (int i = 0; i < REMOTE_MAX_STOP && p->stop[i]; i++)
            cJSON_AddItemToArray(s, cJSON_CreateString(p->stop[i]));
    }
    if (p->logprobs) cJSON_AddBoolToObject(o, "logprobs", 1);
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return txt;
}

int remote_chat(Remote *r, const ChatMsg *msgs, int n, const RemoteParams *p, remote_text_fn fn,
                void *user, UnumCancel *cancel, RemoteStats *st) {
    memset(st, 0, sizeof *st);
    st->stop = STOP_EOS;
    size_t ul = strlen(r->base) + 32;
    char *url = xmalloc(ul);
    snprintf(url, ul, "%s/chat/completions", r->base);
    char *body = request_body(r, msgs, n, p);
    Xfer x = {.r = r, .fn = fn, .user = user, .cancel = cancel, .st = st, .t0 = unum_now()};
    setup(r, &x, url);
    curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, body);
    int rc = perform(r, &x, url);
    if (!rc && x.stopped) st->stop = STOP_CALLBACK;
    else if (!rc && st->stop != STOP_CANCELLED) {
        if (x.sse) {
            if (x.n && !x.failed) { /* a last line without its newline */
                x.line[x.n] = 0;
                rc = take_line(&x);
                if (rc) scrub(r);
            }
            if (!rc && !x.done && !x.finished)
                rc = unum_error_set("%s: malformed stream: it ended without [DONE]", url);
        } else { /* a server that answered in one piece */
            cJSON *o = x.body ? cJSON_Parse(x.body) : NULL;
            rc = o ? take_choice(&x, o, url)
                   : unum_error_set("%s: the reply is neither an event stream nor JSON: '%.60s'",
                                    url, x.body ? x.body : "");
            cJSON_Delete(o);
            if (!rc && x.stopped) st->stop = STOP_CALLBACK;
            if (rc) scrub(r);
        }
    }
    if (rc) remote_stats_free(st);
    if (!rc && st->stop == STOP_CANCELLED) rc = unum_cancelled_status();
    st->total_s = unum_now() - x.t0;
    free(x.line);
    free(x.body);
    free(body);
    free(url);
    return rc;
}
