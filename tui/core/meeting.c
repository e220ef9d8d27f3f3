/* meeting.c - see meeting.h. */
#include "tui/core/meeting.h"

#include "engine/cascade.h"
#include "engine/chat.h"
#include "store/meeting_store.h"
#include "store/persona.h"
#include "store/recording.h"
#include "audio/load.h"
#include "store/template.h"
#include "tui/core/adapterset.h"
#include "engine/base/cancel.h"
#include "engine/base/util.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void meeting_defaults(MeetingParams *p) {
    memset(p, 0, sizeof *p);
    p->section_tokens = 384;
    p->summary_tokens = 256;
    p->gen.sampling.temperature = 0;
    p->gen.sampling.top_p = 1;
    p->gen.sampling.repeat_penalty = 1.1f;
}

static int cancelled(const MeetingParams *p) { return unum_cancelled(p->cancel); }

/* ------------------------------------------------------------ text */

typedef struct {
    char *s;
    size_t n, cap;
} Buf;

static void buf_printf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(Buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->n + (size_t)need + 1 > b->cap) {
        b->cap = (b->n + (size_t)need + 1) * 2;
        b->s = xrealloc(b->s, b->cap);
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    b->n += (size_t)need;
}

static void clock_text(char *out, size_t cap, double s, char sep, int hours) {
    long ms = (long)(s * 1000 + 0.5);
    long h = ms / 3600000, m = ms / 60000 % 60, sec = ms / 1000 % 60, f = ms % 1000;
    if (hours) snprintf(out, cap, "%02ld:%02ld:%02ld%c%03ld", h, m, sec, sep, f);
    else snprintf(out, cap, "%02ld:%02ld.%02ld", h * 60 + m, sec, f / 10);
}

static char *trimmed_copy(const char *t) {
    while (*t == ' ' || *t == '\t' || *t == '\n') t++;
    char *c = xstrdup(t);
    size_t n = strlen(c);
    while (n && (c[n - 1] == ' ' || c[n - 1] == '\n' || c[n - 1] == '\t')) c[--n] = 0;
    return c;
}

/* Who speaks segment g: the name given, else the model's label ('' when
 * the model labels none). */
static const char *seg_who(const StoreSegment *g) { return g->name[0] ? g->name : g->speaker; }

/* s with WebVTT's special characters as character references: '&', '<'
 * and '>' could otherwise open a tag or end the voice tag early. */
static void buf_vtt(Buf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '&') buf_printf(b, "&amp;");
        else if (*s == '<') buf_printf(b, "&lt;");
        else if (*s == '>') buf_printf(b, "&gt;");
        else buf_printf(b, "%c", *s);
    }
}

/* s with every ASCII punctuation character backslash-escaped, which
 * CommonMark reads as that character: no emphasis, link, code, HTML or
 * heading can come out of a name. */
static void buf_md(Buf *b, const char *s) {
    for (; *s; s++) {
        if (strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", *s) && *s) buf_printf(b, "\\");
        buf_printf(b, "%c", *s);
    }
}

char *meeting_transcript_text(Store *st, int64_t rec_id, const char *format) {
    StoreSegment *g;
    size_t n;
    if (store_segment_list(st, rec_id, &g, &n)) return NULL;
    Buf b = {0};
    int vtt = format && !strcmp(format, "vtt"), srt = format && !strcmp(format, "srt");
    int md = format && !strcmp(format, "md");
    buf_printf(&b, "%s", vtt ? "WEBVTT\n\n" : "");
    for (size_t i = 0; i < n; i++) {
        char a[32], z[32], *text = trimmed_copy(g[i].text);
        const char *who = seg_who(&g[i]);
        clock_text(a, sizeof a, g[i].start_s, srt ? ',' : '.', vtt || srt);
        clock_text(z, sizeof z, g[i].end_s, srt ? ',' : '.', vtt || srt);
        if (srt) buf_printf(&b, "%zu\n%s --> %s\n", i + 1, a, z);
        else if (vtt) buf_printf(&b, "%s --> %s\n", a, z);
        else buf_printf(&b, "[%s -> %s] ", a, z);
        if (vtt) { /* a voice span: <v Name>text */
            if (*who) {
                buf_printf(&b, "<v ");
                buf_vtt(&b, who);
                buf_printf(&b, ">");
            }
            buf_vtt(&b, text);
        } else if (md && *who) {
            buf_printf(&b, "**");
            buf_md(&b, who);
            buf_printf(&b, ":** %s", text);
        } else {
            buf_printf(&b, "%s%s%s", who, *who ? ": " : "", text);
        }
        buf_printf(&b, "%s", srt || vtt ? "\n\n" : md ? "  \n" : "\n");
        free(text);
    }
    store_segments_free(g, n);
    return b.s ? b.s : xstrdup("");
}

char *meeting_export(Store *st, int64_t rec_id, const char *format) {
    if (format && strcmp(format, "md") && strcmp(format, "json") && strcmp(format, "vtt") &&
        strcmp(format, "srt")) {
        unum_error_set("export format '%s': md, json, vtt or srt", format);
        return NULL;
    }
    StoreMeeting m;
    if (store_meeting_get(st, rec_id, &m)) return NULL;
    char *text = NULL;
    if (!format || !strcmp(format, "vtt") || !strcmp(format, "srt")) {
        text = meeting_transcript_text(st, rec_id, format);
    } else if (!strcmp(format, "md")) { /* the newest report, else the transcript */
        text = m.reports ? store_report_latest(st, rec_id) : NULL;
        if (!m.reports) {
            char *tr = meeting_transcript_text(st, rec_id, "md");
            if (tr) {
                Buf b = {0};
                buf_printf(&b, "# Transcript of recording %lld\n\n%s", (long long)rec_id, tr);
                text = b.s;
            }
            free(tr);
        }
    } else { /* json */
        StoreSegment *g;
        size_t n;
        if (!store_segment_list(st, rec_id, &g, &n)) {
            cJSON *j = cJSON_CreateObject(), *segs = cJSON_CreateArray();
            cJSON_AddNumberToObject(j, "id", (double)rec_id);
            cJSON_AddStringToObject(j, "path", m.path);
            cJSON_AddStringToObject(j, "source", m.source);
            cJSON_AddStringToObject(j, "title", m.title);
            cJSON_AddStringToObject(j, "created", m.created);
            cJSON_AddNumberToObject(j, "duration_s", m.duration_s);
            cJSON_AddBoolToObject(j, "transcribed", m.transcribed);
            for (size_t i = 0; i < n; i++) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddNumberToObject(o, "start", g[i].start_s);
                cJSON_AddNumberToObject(o, "end", g[i].end_s);
                cJSON_AddStringToObject(o, "speaker", g[i].speaker);
                if (g[i].name[0]) cJSON_AddStringToObject(o, "speaker_name", g[i].name);
                else cJSON_AddNullToObject(o, "speaker_name");
                cJSON_AddStringToObject(o, "text", g[i].text);
                cJSON_AddItemToArray(segs, o);
            }
            cJSON_AddItemToObject(j, "segments", segs);
            char *report = m.reports ? store_report_latest(st, rec_id) : NULL;
            if (report) cJSON_AddStringToObject(j, "report", report);
            free(report);
            text = cJSON_Print(j);
            cJSON_Delete(j);
            store_segments_free(g, n);
        }
    }
    store_meeting_free(&m);
    return text;
}

/* ------------------------------------------------------------ transcription */

typedef struct {
    Store *st;
    int64_t rec;
    MeetingParams *p;
    double total, resume; /* seconds in all, and already transcribed before */
    int failed;
} TxCtx;

static int tx_segment(void *ud, const TSegment *s) {
    TxCtx *c = ud;
    char *text = trimmed_copy(s->text);
    int rc = store_segment_add(c->st, c->rec, s->start, s->end, s->speaker, text, NULL);
    free(text);
    if (rc) c->failed = 1;
    return rc ? 1 : 0;
}

static void tx_warning(void *ud, const char *msg) {
    TxCtx *c = ud;
    c->p->warning(c->p->ud, msg);
}

static void tx_progress(void *ud, double done, double total) {
    TxCtx *c = ud;
    (void)total;
    if (c->p->progress) c->p->progress(c->p->ud, MEET_TRANSCRIBING, c->resume + done, c->total);
}

int meeting_transcribe(Store *st, Transcriber *t, int64_t rec_id, MeetingParams *p) {
    StoreMeeting m;
    if (store_meeting_get(st, rec_id, &m)) return -1;
    int done = m.transcribed;
    char *path = xstrdup(m.path);
    store_meeting_free(&m);
    if (done) {
        free(path);
        return 0;
    }
    /* where the stored segments stop */
    StoreSegment *g;
    size_t n_seg;
    if (store_segment_list(st, rec_id, &g, &n_seg)) {
        free(path);
        return -1;
    }
    double resume = 0;
    for (size_t i = 0; i < n_seg; i++)
        if (g[i].end_s > resume) resume = g[i].end_s;
    store_segments_free(g, n_seg);
    /* only what is left to transcribe, read as a stream */
    float *x = NULL;
    size_t n = 0;
    double total = 0;
    int rate = transcriber_rate(t); /* a 24 kHz recording goes to VibeVoice as it is */
    int rc = audio_read_rate(path, resume, 0, rate, &x, &n, &total);
    free(path);
    if (rc) return -1;
    TxCtx c = {st, rec_id, p, total, resume, 0};
    if (n > 0) {
        TranscribeParams tp;
        transcribe_defaults(&tp);
        tp.on_segment = tx_segment;
        tp.on_progress = tx_progress;
        tp.ud = &c;
        tp.cancel = p->cancel;
        tp.on_warning = p->warning ? tx_warning : NULL; /* NULL: transcribe prints it */
        if (p->no_fallback) tp.temperature_inc = 0;
        Transcript tr = {0};
        rc = transcribe_at(t, x, n, rate, resume, &tp, &tr);
        transcript_free(&tr);
        if (c.failed) rc = -1;
    }
    free(x);
    if (rc == 0 && store_recording_set_transcribed(st, rec_id)) rc = -1;
    return rc;
}

/* ------------------------------------------------------------ generation */

/* Who writes: a local engine, or a server whose context is ctx. */
typedef struct {
    Engine *e;
    Remote *r;
    int ctx;
    Engine *draft; /* drafts for e (stage 1 only), or NULL */
} Writer;

static int writer_ctx(const Writer *w) { return w->e ? engine_ctx(w->e) : w->ctx; }

static const char *writer_model(const Writer *w) {
    if (w->r) return remote_model(w->r);
    const char *slash = strrchr(engine_dir(w->e), '/');
    return slash ? slash + 1 : engine_dir(w->e);
}

typedef struct {
    Buf out;
    IdVec ids; /* the answer's ids, the end id included (the cascade scores them) */
} Gen;

static int on_text(void *user, int32_t id, const char *text, size_t len) {
    Gen *g = user;
    if (id >= 0) idvec_push(&g->ids, id);
    if (len) buf_printf(&g->out, "%.*s", (int)len, text);
    return 0;
}

static int on_remote_text(void *user, const char *text, size_t len) {
    return on_text(user, -1, text, len);
}

/* The prompt's ids for a system prompt and user text. */
static int prompt_ids(Engine *e, const char *sys, const char *user, IdVec *ids) {
    ChatMsg turn = {"user", user, 0};
    ChatFit fit = engine_chat_fit(e, sys, 0);
    fit.ctx = 0; /* the callers fit the material to the context themselves */
    return chat_prompt(engine_tokenizer(e), &turn, 1, &fit, ids, NULL);
}

/* The tokens of a system prompt and user text: counted by the engine's
 * tokenizer, or estimated for a server (meeting.h), with room for the
 * chat template's own tokens. */
static int n_tokens(const Writer *w, const char *sys, const char *user) {
    if (w->r) return (int)((strlen(sys ? sys : "") + strlen(user)) / MEETING_BYTES_PER_TOKEN) + 32;
    IdVec ids = {0};
    int n = prompt_ids(w->e, sys, user, &ids) ? 1 << 30 : (int)ids.n;
    idvec_free(&ids);
    return n;
}

/* A server's answer to sys and user in g; its confidence (the cascade's
 * quantile of the token probabilities) in *conf when conf is not NULL,
 * which needs the server's logprobs. 0, UNUM_CANCELLED or -1. */
static int remote_answer(const Writer *w, MeetingParams *p, const char *sys, const char *user,
                         int max_new, Gen *g, double *conf) {
    ChatMsg msgs[2];
    int nm = 0;
    if (sys) msgs[nm++] = (ChatMsg){"system", sys, 0};
    msgs[nm++] = (ChatMsg){"user", user, 0};
    RemoteParams rp = {.temperature = p->gen.sampling.temperature,
                       .top_p = p->gen.sampling.top_p,
                       .max_tokens = max_new,
                       .logprobs = conf != NULL,
                       .have_seed = 1,
                       .seed = p->gen.sampling.seed};
    RemoteStats rs;
    int rc = remote_chat(w->r, msgs, nm, &rp, on_remote_text, g, p->cancel, &rs);
    int used = n_tokens(w, sys, user) + rs.pieces;
    if (used > p->max_positions) p->max_positions = used;
    p->calls++;
    if (!rc && conf && rs.stop != STOP_CANCELLED) {
        if (!rs.had_logprobs)
            rc = unum_error_set("%s: the server returned no logprobs; a remote first stage's "
                                "confidence (--stage2) needs them",
                                remote_model(w->r));
        else *conf = cascade_quantile(rs.probs, rs.n_probs);
    }
    remote_stats_free(&rs);
    return rc;
}

/* A local engine's answer, as remote_answer. */
static int local_answer(const Writer *w, MeetingParams *p, const char *sys, const char *user,
                        int max_new, Gen *g, double *conf) {
    Engine *e = w->e;
    IdVec ids = {0};
    if (prompt_ids(e, sys, user, &ids)) return -1;
    if ((int)ids.n + max_new > engine_ctx(e)) {
        idvec_free(&ids);
        return unum_error_set("a prompt of %zu tokens leaves no room for %d more in the context "
                              "of %d",
                              ids.n, max_new, engine_ctx(e));
    }
    GenerateParams gp = p->gen;
    gp.max_tokens = max_new;
    GenerateStats st;
    int rc;
    if (w->draft) {
        SpecStats ss = {0};
        rc = spec_generate(e, w->draft, p->draft_n ? p->draft_n : SPEC_DRAFT_N_DEFAULT, ids.v,
                           ids.n, &gp, on_text, g, &st, &ss);
        p->spec.rounds += ss.rounds, p->spec.drafted += ss.drafted, p->spec.accepted += ss.accepted;
    } else {
        rc = engine_generate(e, ids.v, ids.n, &gp, on_text, g, &st);
    }
    int used = (int)ids.n + st.generated;
    if (used > p->max_positions) p->max_positions = used;
    p->calls++;
    if (!rc && conf && st.stop != STOP_CANCELLED && !cancelled(p))
        rc = cascade_confidence(e, ids.v, ids.n, g->ids.v, g->ids.n, conf);
    idvec_free(&ids);
    return rc;
}

/* One generation of at most max_new tokens; the answer (new string) or
 * NULL (error set, or cancelled: *stop = 1). With a second stage (and
 * may_escalate), an answer the first is unsure of is written again by the
 * second. */
static char *generate_with(const Writer *w, MeetingParams *p, const char *sys, const char *user,
                           int max_new, int *stop, int may_escalate) {
    *stop = 0;
    Gen g;
    memset(&g, 0, sizeof g);
    double conf = 1;
    int rc = (w->r ? remote_answer : local_answer)(w, p, sys, user, max_new, &g,
                                                   may_escalate ? &conf : NULL);
    idvec_free(&g.ids);
    if (rc || cancelled(p)) { /* rc UNUM_CANCELLED, or a cancel after the last token */
        *stop = rc >= 0;
        free(g.out.s);
        return NULL;
    }
    if (may_escalate && cascade_escalates(conf, p->escalate_below)) {
        free(g.out.s);
        p->escalated++;
        Writer w2 = {p->stage2, p->stage2_remote, 0, NULL};
        return generate_with(&w2, p, sys, user, max_new, stop, 0);
    }
    char *t = trimmed_copy(g.out.s ? g.out.s : "");
    free(g.out.s);
    return t;
}

static char *generate(const Writer *w, MeetingParams *p, const char *sys, const char *user,
                      int max_new, int *stop) {
    return generate_with(w, p, sys, user, max_new, stop, p->stage2 || p->stage2_remote);
}

/* ------------------------------------------------------------ prompts */

static const char *format_rule(const char *format) {
    if (!strcmp(format, "list")) return "Write it as a markdown bullet list.";
    if (!strcmp(format, "table")) return "Write it as a markdown table with a header row.";
    return "Write it as one or two paragraphs.";
}

static int is_action_items(const char *title) {
    char low[256];
    size_t i = 0;
    for (; title[i] && i + 1 < sizeof low; i++)
        low[i] = (char)(title[i] >= 'A' && title[i] <= 'Z' ? title[i] + 32 : title[i]);
    low[i] = 0;
    return strstr(low, "action") || strstr(low, "todo") || strstr(low, "to-do") ||
           strstr(low, "next step");
}

/* The speakers of segments g[0..n) in the order they first speak, each
 * once, by name (else label), joined with ", " (new string; '' when the
 * transcript tells no speakers apart). */
static char *speaker_list(const StoreSegment *g, size_t n) {
    Buf b = {0};
    for (size_t i = 0; i < n; i++) {
        if (!g[i].speaker[0]) continue;
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++) seen = !strcmp(g[j].speaker, g[i].speaker);
        if (!seen) buf_printf(&b, "%s%s", b.n ? ", " : "", seg_who(&g[i]));
    }
    return b.s ? b.s : xstrdup("");
}

/* A section's instruction with its variables filled in (new string):
 * {{speakers}} becomes the list of speakers (template.h). */
static char *instruction_text(const char *instr, const char *speakers) {
    static const char var[] = "{{speakers}}";
    Buf b = {0};
    buf_printf(&b, "%s", "");
    for (const char *at; (at = strstr(instr, var)); instr = at + sizeof var - 1)
        buf_printf(&b, "%.*s%s", (int)(at - instr), instr,
                   speakers[0] ? speakers : "(the transcript does not tell speakers apart)");
    buf_printf(&b, "%s", instr);
    return b.s;
}

static char *section_prompt(const char *material_kind, const char *material,
                            const TemplateSection *sec, const char *speakers) {
    Buf b = {0};
    char *instr = instruction_text(sec->instruction, speakers);
    buf_printf(&b,
               "Here is %s.\n\n%s\n\nWrite the section \"%s\" of a meeting report from it. %s %s",
               material_kind, material, sec->title, instr, format_rule(sec->format));
    free(instr);
    if (is_action_items(sec->title))
        buf_printf(&b, " For each action item, give its owner and due date when the meeting "
                       "names them.");
    buf_printf(&b, " Answer with the section's content only, without its heading.");
    return b.s;
}

static char *chunk_prompt(const char *chunk, int i, int n) {
    Buf b = {0};
    buf_printf(&b,
               "Here is part %d of %d of a meeting transcript, with timestamps.\n\n%s\n\n"
               "Summarize this part as concise bullet points. Keep names, numbers, decisions, "
               "open questions and action items with their owners and due dates, each with "
               "its timestamp.",
               i + 1, n, chunk);
    return b.s;
}

/* ------------------------------------------------------------ map-reduce */

typedef struct {
    char **v;
    int n;
} Lines;

static void lines_free(Lines *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->v = NULL, l->n = 0;
}

static void lines_push(Lines *l, char *s) {
    l->v = xrealloc(l->v, sizeof *l->v * (size_t)(l->n + 1));
    l->v[l->n++] = s;
}

static char *join(const Lines *l, int from, int to) {
    Buf b = {0};
    for (int i = from; i < to; i++) buf_printf(&b, "%s\n", l->v[i]);
    return b.s ? b.s : xstrdup("");
}

/* The most room any section's prompt needs besides the material. */
static int section_room(const Writer *w, const char *sys, const Template *tp, MeetingParams *p,
                        const char *speakers) {
    int most = 0;
    for (size_t k = 0; k < tp->n_sections; k++) {
        char *q = section_prompt("the notes", "", &tp->sections[k], speakers);
        int n = n_tokens(w, sys, q);
        free(q);
        if (n > most) most = n;
    }
    return most + p->section_tokens;
}

/* Summarizes lines in overlapping chunks that fit; the summaries replace
 * them. 0, 1 cancelled, -1 error. */
static int reduce(const Writer *w, const char *sys, Lines *lines, MeetingParams *p) {
    int ctx = writer_ctx(w), budget = ctx - p->summary_tokens;
    /* chunk boundaries: as many lines as fit, the last line of a chunk
     * repeated at the start of the next (overlap) */
    int *start = xmalloc(sizeof(int) * (size_t)(lines->n + 1)), n_chunks = 0;
    int *end = xmalloc(sizeof(int) * (size_t)(lines->n + 1));
    for (int at = 0; at < lines->n;) {
        int to = at + 1;
        for (;;) { /* grow while it fits */
            if (to >= lines->n) break;
            char *c = join(lines, at, to + 1), *q = chunk_prompt(c, 0, 99);
            int fits = n_tokens(w, sys, q) <= budget;
            free(c);
            free(q);
            if (!fits) break;
            to++;
        }
        /* a single line that does not fit is cut until it does */
        for (;;) {
            char *c = join(lines, at, to), *q = chunk_prompt(c, 0, 99);
            int fits = n_tokens(w, sys, q) <= budget;
            free(c);
            free(q);
            if (fits || to - at > 1) break;
            size_t len = strlen(lines->v[at]);
            if (len < 16) {
                free(start);
                free(end);
                return unum_error_set("the context of %d tokens is too small for a report", ctx);
            }
            size_t cut = len / 2; /* on a character boundary */
            while (cut > 0 && ((unsigned char)lines->v[at][cut] & 0xc0) == 0x80) cut--;
            lines->v[at][cut] = 0;
        }
        start[n_chunks] = at, end[n_chunks++] = to;
        at = to >= lines->n ? lines->n : (to - 1 > at ? to - 1 : to);
    }
    Lines out = {0};
    int rc = 0;
    for (int i = 0; i < n_chunks && !rc; i++) {
        if (p->progress) p->progress(p->ud, MEET_SUMMARIZING, i, n_chunks);
        char *c = join(lines, start[i], end[i]), *q = chunk_prompt(c, i, n_chunks);
        int stop;
        char *sum = generate(w, p, sys, q, p->summary_tokens, &stop);
        free(c);
        free(q);
        if (!sum) rc = stop ? 1 : -1;
        else lines_push(&out, sum);
    }
    free(start);
    free(end);
    if (rc) {
        lines_free(&out);
        return rc;
    }
    lines_free(lines);
    *lines = out;
    return 0;
}

/* ------------------------------------------------------------ the report */

int meeting_report(Store *st, Engine *e, int64_t rec_id, const char *template_name,
                   const char *persona, MeetingParams *p, char **markdown, int64_t *report_id) {
    *markdown = NULL;
    if (!e && !p->remote) return unum_error_set("meeting_report: no model to write with");
    Writer writer = {e, e ? NULL : p->remote, p->remote_ctx ? p->remote_ctx : MEETING_REMOTE_CTX,
                     e ? p->draft : NULL};
    const Writer *w = &writer;
    Template tp;
    if (store_template_get(st, template_name, &tp)) return -1;
    /* the adapters first: a report is never written under another set */
    LoraSpec *ad = NULL;
    int n_ad = 0;
    if (p->n_lora > 0) ad = adapterset_copy(p->lora, n_ad = p->n_lora);
    else adapterset_append(&tp.adapters, &ad, &n_ad);
    char *ad_label = adapterset_label(ad, n_ad);
    int set = e ? engine_set_adapters(e, ad, n_ad) : 0;
    if (!e && n_ad > 0) /* a server applies none of ours */
        set = unum_error_set("%s: a remote model cannot write with LoRA adapters (%s)",
                             remote_model(p->remote), ad_label);
    lora_specs_free(ad, n_ad);
    if (set) {
        if (p->n_lora <= 0) unum_error_wrap("template '%s'", tp.name);
        template_free(&tp);
        free(ad_label);
        return -1;
    }
    char *sys = NULL;
    if (persona) {
        Persona ps;
        if (store_persona_get(st, persona, &ps)) {
            template_free(&tp);
            free(ad_label);
            return -1;
        }
        sys = persona_system_prompt(&ps);
        persona_free(&ps);
    }
    StoreMeeting m;
    StoreSegment *g = NULL;
    size_t n_seg = 0;
    int rc = store_meeting_get(st, rec_id, &m);
    if (!rc) rc = store_segment_list(st, rec_id, &g, &n_seg);
    /* the one rule for every front end: a report is written from a whole
     * transcript, never from the segments that happen to be stored while
     * the last ones are still being transcribed */
    if (!rc && !m.transcribed)
        rc = unum_error_set("recording %lld: its transcript is not whole yet (%zu segments so "
                            "far); transcribe it to the end first",
                            (long long)rec_id, n_seg);
    if (!rc && n_seg == 0) rc = unum_error_set("recording %lld has no transcript yet", (long long)rec_id);
    Lines material = {0};
    const char *kind = "a meeting transcript, one line per segment with its start time";
    for (size_t i = 0; !rc && i < n_seg; i++) {
        char at[32], *text = trimmed_copy(g[i].text);
        clock_text(at, sizeof at, g[i].start_s, '.', 0);
        Buf b = {0};
        const char *who = seg_who(&g[i]);
        buf_printf(&b, "[%s] %s%s%s", at, who, *who ? ": " : "", text);
        lines_push(&material, b.s);
        free(text);
    }
    /* the speakers, as the transcript shows them, for the header and the
     * templates' {{speakers}} */
    char *speakers = speaker_list(g, n_seg);
    /* reduce the material until every section's prompt fits with its answer */
    int room = rc ? 0 : section_room(w, sys, &tp, p, speakers);
    for (int round = 0; !rc; round++) {
        char *all = join(&material, 0, material.n);
        int need = n_tokens(w, NULL, all) + room;
        free(all);
        if (need <= writer_ctx(w)) break;
        if (round == 8) {
            rc = unum_error_set("the transcript does not shrink to fit the context of %d tokens",
                                writer_ctx(w));
            break;
        }
        rc = reduce(w, sys, &material, p);
        kind = "notes summarizing a meeting, part by part, with timestamps";
    }
    /* the sections */
    Buf body = {0};
    char *all = rc ? NULL : join(&material, 0, material.n);
    for (size_t k = 0; !rc && k < tp.n_sections; k++) {
        if (p->progress) p->progress(p->ud, MEET_WRITING, (double)k, (double)tp.n_sections);
        char *q = section_prompt(kind, all, &tp.sections[k], speakers);
        int stop;
        char *text = generate(w, p, sys, q, p->section_tokens, &stop);
        free(q);
        if (!text) {
            rc = stop ? 1 : -1;
            break;
        }
        buf_printf(&body, "## %s\n\n%s\n\n", tp.sections[k].title, text);
        free(text);
    }
    free(all);
    if (!rc) {
        const char *slash = strrchr(m.source[0] ? m.source : m.path, '/');
        const char *name = slash ? slash + 1 : m.source[0] ? m.source : m.path;
        const char *model = writer_model(w);
        char dur[32];
        clock_text(dur, sizeof dur, m.duration_s, '.', 0);
        Buf md = {0};
        buf_printf(&md, "# %s: %s\n\n", tp.name, name);
        buf_printf(&md, "- Date: %s\n- Duration: %s\n", m.created, dur);
        /* attendees, when the transcript tells speakers apart */
        if (speakers[0]) buf_printf(&md, "- Attendees: %s\n", speakers);
        buf_printf(&md, "- Template: %s; persona: %s; model: %s%s%s\n\n", tp.name,
                   persona ? persona : "(none)", model, *ad_label ? "; adapters: " : "",
                   ad_label);
        buf_printf(&md, "%s", body.s ? body.s : "");
        char *tr = meeting_transcript_text(st, rec_id, NULL);
        buf_printf(&md, "## Transcript\n\n%s", tr ? tr : "");
        free(tr);
        if (store_report_add_model(st, rec_id, tp.name, persona, model, md.s, report_id)) {
            free(md.s);
            rc = -1;
        } else {
            *markdown = md.s;
        }
        if (p->progress) p->progress(p->ud, MEET_WRITING, (double)tp.n_sections, (double)tp.n_sections);
    }
    free(body.s);
    free(speakers);
    lines_free(&material);
    store_segments_free(g, n_seg);
    if (m.path) store_meeting_free(&m);
    template_free(&tp);
    free(sys);
    free(ad_label);
    return rc;
}
