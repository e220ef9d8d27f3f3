/* cli.c - run, tokenize, detokenize, logits and bench (forms fixed in
 * DESIGN.md). Output to stdout, diagnostics to stderr. */
#include "tui/cli/cli.h"

#include "tui/cli/common.h"
#include "tui/core/args.h"
#include "engine/chat.h"
#include "tui/cli/cli_lora.h"
#include "tui/cli/cli_models.h"
#include "tui/cli/cli_store.h"
#include "engine/engine.h"
#include "engine/cpu/kernels.h"
#include "engine/modeldir.h"
#include "audio/load.h"
#include "engine/speech.h"
#include "engine/vibevoice.h"
#include "engine/base/termsafe.h"
#include "engine/base/util.h"

#include <cjson/cJSON.h>
#include <math.h>

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_INPUT (256u << 20)

/* ------------------------------------------------------------ input */

/* Reads all of stdin into a new NUL-terminated string. */
static char *read_stdin(size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            if (cap >= MAX_INPUT) {
                free(buf);
                unum_error_set("stdin: more than %u bytes", MAX_INPUT);
                return NULL;
            }
            buf = xrealloc(buf, cap *= 2);
        }
        size_t r = fread(buf + n, 1, cap - n - 1, stdin);
        n += r;
        if (r == 0) break;
    }
    if (ferror(stdin)) {
        free(buf);
        unum_error_set("stdin: read error");
        return NULL;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

/* Parses whitespace-separated token ids; name is used in errors. */
static int parse_ids(const char *text, const char *name, IdVec *out) {
    const char *p = text;
    for (int k = 0;; k++) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',') p++;
        if (!*p) return 0;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < INT32_MIN || v > INT32_MAX ||
            (*end && !strchr(" \t\r\n,", *end)))
            return unum_error_set("%s: item %d ('%.20s') is not a token id", name, k + 1, p);
        idvec_push(out, (int32_t)v);
        p = end;
    }
}

static int read_ids(const char *path, IdVec *out) {
    size_t n;
    char *txt = path ? unum_read_file(path, MAX_INPUT, &n) : read_stdin(&n);
    if (!txt) return -1;
    if (strlen(txt) != n) {
        free(txt);
        return unum_error_set("%s: contains a NUL byte; expected token ids as text",
                              path ? path : "stdin");
    }
    int rc = parse_ids(txt, path ? path : "stdin", out);
    free(txt);
    if (rc == 0 && out->n == 0) rc = unum_error_set("%s: no token ids", path ? path : "stdin");
    if (rc) idvec_free(out);
    return rc;
}

static Tokenizer *load_tokenizer(const char *model) {
    char *dir = modeldir_resolve(model);
    if (!dir) return NULL;
    char *path = unum_path_join(dir, "tokenizer.json");
    Tokenizer *t = tokenizer_load(path);
    free(path);
    free(dir);
    return t;
}

/* ------------------------------------------------------------ run */

typedef struct {
    int ids; /* print ids instead of text */
    int first;
    int strip;    /* drop terminal control sequences (stdout is a terminal) */
    TermStrip ts; /* where the reply's text left off in a sequence */
} RunOut;

static int print_token(void *user, int32_t id, const char *text, size_t len) {
    RunOut *o = user;
    if (o->ids) {
        if (id >= 0) printf(o->first ? "%d" : " %d", id);
        o->first = 0;
    } else if (len) {
        if (o->strip) term_strip_write(&o->ts, stdout, text, len);
        else fwrite(text, 1, len, stdout);
    }
    fflush(stdout);
    return 0;
}

/* The projected frames of a WAV file for a speech LLM: a clip per 30 s
 * (new arrays). */
static int load_clips(SpeechLLM *s, const char *path, float ***clips, int *n_clips) {
    float *x = NULL;
    size_t n = 0;
    int rc = audio_read_16k(path, 0, 0, &x, &n, NULL);
    if (!rc && (rc = speech_embed_all(s, x, n, clips, n_clips))) unum_error_wrap("%s", path);
    free(x);
    return rc;
}

/* The model --audio needs: a speech LLM (LLaMA-Omni2's layout) or a
 * VibeVoice-ASR model, and its decoder in *e. */
static int load_audio_model(const char *model, const EngineOptions *eo, SpeechLLM **sp,
                            VibeVoice **vv, Engine **e) {
    char *dir = modeldir_resolve(model);
    int rc = -1;
    if (!dir) return -1;
    if (vibevoice_is_model(dir)) {
        if ((*vv = vibevoice_load(dir, eo))) *e = (*vv)->e, rc = 0;
    } else if (speech_is_model(dir)) {
        if ((*sp = speech_load(dir, eo))) *e = (*sp)->e, rc = 0;
    } else {
        unum_error_set("%s: --audio needs a speech LLM (LLaMA-Omni2's layout) or a VibeVoice-ASR "
                       "model",
                       dir);
    }
    free(dir);
    return rc;
}

/* VibeVoice's decoder inputs for a WAV file (vibevoice_inputs; the
 * processor's prompt, with context, when ids is empty). */
static int vibevoice_file_inputs(VibeVoice *vv, const char *path, const char *context, IdVec *ids,
                                 float **embeds) {
    float *x = NULL;
    size_t n = 0;
    int rc = audio_read_rate(path, 0, 0, vv->rate, &x, &n, NULL);
    if (!rc && (rc = vibevoice_inputs(vv, x, n, context, 0, ids, embeds, NULL, NULL, NULL)))
        unum_error_wrap("%s", path);
    free(x);
    return rc;
}

static void clips_free(float **clips, int n) {
    for (int i = 0; i < n; i++) free(clips[i]);
    free(clips);
}

static const char run_usage[] =
    "usage: unum run -m MODEL [-p TEXT | -f FILE | --prompt-ids FILE]\n"
    "                [--system TEXT | --persona NAME] [--raw] [-n N] [--temp T] [--top-k K]\n"
    "                [--top-p P] [--min-p P] [--repeat-penalty R] [--seed S] [--ignore-eos]\n"
    "                [--ids] [--backend auto|cpu|cuda] [--threads N] [--ctx N] [-v]\n"
    "                [--audio FILE.wav] [--keep-escapes] [--lora DIR[:SCALE]]...\n"
    "                [--lora auto [--lora-threshold T]]\n"
    "Prints the model's reply to the prompt (stdin when no -p, -f or --prompt-ids).\n"
    "On a terminal the reply's terminal control sequences (ESC and C1 controls with\n"
    "what follows them: colours, cursor moves, OSC title and clipboard writes) are\n"
    "dropped; --keep-escapes writes them as they are. Piped or redirected output is\n"
    "always the reply byte for byte.\n";

int cli_run(int argc, char **argv) {
    Args a = {argc, 1, argv, 0};
    const char *audio = NULL;
    const char *model = NULL, *prompt = NULL, *file = NULL, *ids_file = NULL, *system = NULL;
    const char *persona = NULL, *backend = "auto";
    int raw = 0, n = -1, top_k = -1, ignore_eos = 0, ids_out = 0, threads = 0, verbose = 0;
    int ctx = 0, keep_escapes = 0;
    float temp = -1, top_p = -1, min_p = -1, rep = -1;
    unsigned long long seed = 0;
    int have_seed = 0;
    CliModels cm = {0}; /* --draft, --stage2, --remote-model (cli_models.h) */
    LoraSpec *lora = NULL;
    int n_lora = 0, lora_auto = 0;
    float lora_threshold = -1;
    while (a.i < a.argc && !a.bad) {
        if (args_flag(&a, "-m", "--model")) model = args_value(&a);
        else if (cli_models_flag(&a, &cm)) continue;

        else if (args_flag(&a, "-p", "--prompt")) prompt = args_value(&a);
        else if (args_flag(&a, "-f", "--file")) file = args_value(&a);
        else if (args_flag(&a, "--prompt-ids", NULL)) ids_file = args_value(&a);
        else if (args_flag(&a, "--system", NULL)) system = args_value(&a);
        else if (args_flag(&a, "--persona", NULL)) persona = args_value(&a);
        else if (args_flag(&a, "--raw", NULL)) raw = 1;
        else if (args_flag(&a, "-n", "--n-predict")) args_int(&a, 0, 1 << 24, &n);
        else if (args_flag(&a, "--temp", NULL)) args_float(&a, 0, 100, &temp);
        else if (args_flag(&a, "--top-k", NULL)) args_int(&a, 0, 1 << 24, &top_k);
        else if (args_flag(&a, "--top-p", NULL)) args_float(&a, 0, 1, &top_p);
        else if (args_flag(&a, "--min-p", NULL)) args_float(&a, 0, 1, &min_p);
        else if (args_flag(&a, "--repeat-penalty", NULL)) args_float(&a, 0.01, 100, &rep);
        else if (args_flag(&a, "--seed", NULL)) have_seed = !args_u64(&a, &seed);
        else if (args_flag(&a, "--ignore-eos", NULL)) ignore_eos = 1;
        else if (args_flag(&a, "--ids", NULL)) ids_out = 1;
        else if (args_flag(&a, "--backend", NULL)) backend = args_backend(&a);
        else if (args_flag(&a, "--threads", "-t")) args_int(&a, 1, 1024, &threads);
        else if (args_flag(&a, "--ctx", "-c")) args_int(&a, 1, 1 << 24, &ctx);
        else if (args_flag(&a, "-v", "--verbose")) verbose = 1;
        else if (args_flag(&a, "--audio", NULL)) audio = args_value(&a);
        else if (args_flag(&a, "--lora", NULL)) {
            if (a.i < a.argc && !strcmp(argv[a.i], "auto")) lora_auto = 1, a.i++; /* the router */
            else cli_lora_option(&a, &lora, &n_lora);
        }
        else if (args_flag(&a, "--lora-threshold", NULL)) args_float(&a, -1, 1, &lora_threshold);
        else if (args_flag(&a, "--keep-escapes", NULL)) keep_escapes = 1;
        else if (args_flag(&a, "--help", "-h")) {
            fputs(run_usage, stdout);
            lora_specs_free(lora, n_lora);
            return 0;
        } else args_unknown(&a, "run");
    }
    if (a.bad) {
        lora_specs_free(lora, n_lora);
        return EXIT_USAGE;
    }
    if (!model) {
        fprintf(stderr, "unum run: -m MODEL is required\n");
        lora_specs_free(lora, n_lora);
        return EXIT_USAGE;
    }
    if ((prompt != NULL) + (file != NULL) + (ids_file != NULL) > 1) {
        fprintf(stderr, "unum run: give one of -p, -f and --prompt-ids\n");
        lora_specs_free(lora, n_lora);
        return EXIT_USAGE;
    }
    if (persona && system) {
        fprintf(stderr, "unum run: give --persona or --system, not both\n");
        lora_specs_free(lora, n_lora);
        return EXIT_USAGE;
    }
    if (lora_auto && (n_lora || ids_file || audio || remote_is_url(model))) {
        fprintf(stderr, "unum run: --lora auto routes a text prompt on a local model, alone "
                        "(not with other --lora, --prompt-ids, --audio or a server)\n");
        lora_specs_free(lora, n_lora);
        return EXIT_USAGE;
    }

    char *text = NULL;
    IdVec ids = {0};
    if (ids_file) {
        if (read_ids(ids_file, &ids)) return lora_specs_free(lora, n_lora), cli_fail();
    } else if (prompt) {
        text = xstrdup(prompt);
    } else if (file) {
        if (!(text = unum_read_file(file, MAX_INPUT, NULL))) return lora_specs_free(lora, n_lora), cli_fail();
    } else if (audio) {
        text = NULL; /* the spoken question alone */
    } else if (!isatty(0)) {
        if (!(text = read_stdin(NULL))) return lora_specs_free(lora, n_lora), cli_fail();
    } else {
        term_printf(stderr, "unum run: no prompt (give -p TEXT, -f FILE, --prompt-ids FILE or "
                            "pipe text in)\n");
        lora_specs_free(lora, n_lora);
        return EXIT_USAGE;
    }

    /* a persona's prompt (and style) from the store becomes the system turn */
    char *persona_prompt = NULL;
    Engine *e = NULL;
    SpeechLLM *sp = NULL;
    VibeVoice *vv = NULL;
    float **clips = NULL, *embeds = NULL;
    int n_clips = 0;
    int rc = 1;
    if (persona) {
        if (!(persona_prompt = cli_store_persona_prompt(persona))) {
            cli_fail();
            goto out;
        }
        system = persona_prompt;
    }
    EngineOptions eo = {.backend = backend, .threads = threads, .ctx = ctx, .lora = lora,
                        .n_lora = n_lora};
    if (remote_is_url(model)) { /* an OpenAI-compatible server (cli_models.h) */
        CliPrompt pr = {system, text, raw || ids_file || audio || ids_out, NULL, 0};
        RemoteParams rp = {.temperature = temp, .top_p = top_p, .max_tokens = n,
                           .have_seed = have_seed, .seed = seed};
        RunOut ro = {0, 1, !keep_escapes && term_is_tty(stdout), {0}}; /* untrusted text */
        if (cli_models_run_remote(&cm, model, &pr, &rp, &eo, print_token, &ro, verbose)) cli_fail();
        else rc = 0;
        goto out;
    }
    if (audio) load_audio_model(model, &eo, &sp, &vv, &e);
    else e = engine_load(model, &eo);
    double t_audio = unum_now();
    if (!e || (sp && load_clips(sp, audio, &clips, &n_clips)) ||
        (vv && vibevoice_file_inputs(vv, audio, text, &ids, &embeds))) {
        cli_fail();
        goto out;
    }
    t_audio = unum_now() - t_audio;
    if (vv) {
        /* the processor's prompt (or the --prompt-ids) is complete */
    } else if (audio && !ids_file) {
        if (raw) {
            unum_error_set("--raw and --audio: a spoken prompt goes through the chat template");
            cli_fail();
            goto out;
        }
        if (speech_chat_prompt(sp, system, text, n_clips, &ids)) {
            cli_fail();
            goto out;
        }
    } else if (text) {
        int err;
        if (raw) {
            err = tokenizer_encode(engine_tokenizer(e), text, strlen(text), 1, &ids);
        } else {
            /* one turn, not fitted: a prompt too long for the context is
             * refused by the engine, never cut */
            ChatMsg turn = {"user", text, 0};
            ChatFit fit = engine_chat_fit(e, system, 0);
            fit.ctx = 0;
            err = chat_prompt(engine_tokenizer(e), &turn, 1, &fit, &ids, NULL);
        }
        if (err) {
            unum_error_wrap("%s", file ? file : prompt ? "-p" : "stdin");
            cli_fail();
            goto out;
        }
    }
    if (lora_auto && cli_lora_route(e, text, lora_threshold, verbose)) {
        cli_fail();
        goto out;
    }
    GenerateParams gp = engine_default_params(e);
    if (n >= 0) gp.max_tokens = n;
    if (temp >= 0) gp.sampling.temperature = temp;
    if (top_k >= 0) gp.sampling.top_k = top_k;
    if (top_p >= 0) gp.sampling.top_p = top_p;
    if (min_p >= 0) gp.sampling.min_p = min_p;
    if (rep >= 0) gp.sampling.repeat_penalty = rep;
    gp.sampling.seed = have_seed ? seed : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    gp.ignore_eos = ignore_eos;
    if (gp.max_tokens > engine_ctx(e) - (int)ids.n) gp.max_tokens = engine_ctx(e) - (int)ids.n;

    RunOut ro = {ids_out, 1, !keep_escapes && term_is_tty(stdout), {0}};
    GenerateStats st;
    /* Ctrl-C stops the generation (what was printed stays); a second one
     * ends the process */
    CliInterrupt ci;
    cli_interrupt_begin(&ci, 0);
    cli_interrupt_engine(e);
    int g;
    if (vv) { /* the frames in place of the speech pads */
        g = engine_generate_embeds(e, ids.v, ids.n, embeds, &gp, print_token, &ro, &st);
    } else if (sp) { /* the clip's frames in place of the placeholder */
        int32_t *x = NULL;
        size_t nx = 0;
        g = speech_expand(sp, ids.v, ids.n, (const float *const *)clips, n_clips, &x, &nx,
                          &embeds);
        if (!g) g = engine_generate_embeds(e, x, nx, embeds, &gp, print_token, &ro, &st);
        free(x);
    } else {
        int placeholder = 0;
        for (size_t i = 0; i < ids.n; i++) placeholder |= ids.v[i] == SPEECH_PLACEHOLDER;
        CliPrompt pr = {system, text, raw, ids.v, ids.n};
        g = placeholder ? unum_error_set("the prompt has an audio placeholder (%d) but no --audio",
                                         SPEECH_PLACEHOLDER)
                        : cli_models_generate(&cm, e, &eo, &pr, &gp, print_token, &ro, &st,
                                              verbose);
    }
    cli_interrupt_end(&ci);
    if (g < 0) { /* cancelled (g == UNUM_CANCELLED): what was printed stands */
        if (ids_file) unum_error_wrap("%s", ids_file);
        cli_fail();
        goto out;
    }
    printf("\n");
    fflush(stdout);
    if (verbose && (sp || vv))
        term_printf(stderr,
                "unum: %d clip(s) read and encoded in %.3f s, then %d prompt positions in "
                "%.3f s: %.3f s from the end of the audio to the first token\n",
                vv ? 1 : n_clips, t_audio, st.prompt_tokens, st.prefill_s,
                t_audio + st.prefill_s);
    char qname[64];
    if (verbose)
        term_printf(stderr,
                "unum: %d prompt tokens (%d reused) in %.3f s, %d generated in %.3f s "
                "(%.1f tok/s), backend %s%s%s\n",
                st.prompt_tokens, st.reused_tokens, st.prefill_s, st.generated, st.decode_s,
                st.decode_s > 0 ? st.generated / st.decode_s : 0.0, engine_backend_name(e),
                *engine_quant_name(e, qname, sizeof qname) ? ", " : "", qname);
    if (st.stop == STOP_CANCELLED) {
        fprintf(stderr, "unum: interrupted\n");
        goto out;
    }
    rc = 0;
out:
    if (sp) speech_free(sp);
    else if (vv) vibevoice_free(vv);
    else engine_free(e);
    clips_free(clips, n_clips);
    free(embeds);
    idvec_free(&ids);
    free(text);
    free(persona_prompt);
    lora_specs_free(lora, n_lora);
    return rc;
}

/* ------------------------------------------------------------ tokenize */

int cli_tokenize(int argc, char **argv) {
    Args a = {argc, 1, argv, 0};
    const char *model = NULL;
    int special = 0;
    while (a.i < a.argc && !a.bad) {
        if (args_flag(&a, "-m", "--model")) model = args_value(&a);
        else if (args_flag(&a, "--special", NULL)) special = 1;
        else args_unknown(&a, "tokenize");
    }
    if (a.bad) return EXIT_USAGE;
    if (!model) {
        fprintf(stderr, "unum tokenize: -m MODEL is required\n");
        return EXIT_USAGE;
    }
    Tokenizer *t = load_tokenizer(model);
    if (!t) return cli_fail();
    size_t len;
    char *text = read_stdin(&len);
    IdVec ids = {0};
    int rc = !text || tokenizer_encode(t, text, len, special, &ids);
    if (rc) {
        if (text) unum_error_wrap("stdin");
        cli_fail();
    } else {
        for (size_t i = 0; i < ids.n; i++) printf(i ? " %d" : "%d", ids.v[i]);
        printf("\n");
    }
    idvec_free(&ids);
    free(text);
    tokenizer_free(t);
    return rc;
}

int cli_detokenize(int argc, char **argv) {
    Args a = {argc, 1, argv, 0};
    const char *model = NULL;
    while (a.i < a.argc && !a.bad) {
        if (args_flag(&a, "-m", "--model")) model = args_value(&a);
        else args_unknown(&a, "detokenize");
    }
    if (a.bad) return EXIT_USAGE;
    if (!model) {
        fprintf(stderr, "unum detokenize: -m MODEL is required\n");
        return EXIT_USAGE;
    }
    Tokenizer *t = load_tokenizer(model);
    if (!t) return cli_fail();
    IdVec ids = {0};
    char *text = NULL;
    int rc = read_ids(NULL, &ids) || !(text = tokenizer_decode(t, ids.v, ids.n));
    if (rc) cli_fail();
    else fputs(text, stdout);
    free(text);
    idvec_free(&ids);
    tokenizer_free(t);
    return rc;
}

/* ------------------------------------------------------------ logits */

int cli_logits(int argc, char **argv) {
    Args a = {argc, 1, argv, 0};
    const char *model = NULL, *ids_file = NULL, *out = NULL, *backend = "auto", *audio = NULL;
    int threads = 0, n_lora = 0;
    LoraSpec *lora = NULL;
    while (a.i < a.argc && !a.bad) {
        if (args_flag(&a, "-m", "--model")) model = args_value(&a);
        else if (args_flag(&a, "--lora", NULL)) cli_lora_option(&a, &lora, &n_lora);
        else if (args_flag(&a, "--ids", NULL)) ids_file = args_value(&a);
        else if (args_flag(&a, "-o", "--output")) out = args_value(&a);
        else if (args_flag(&a, "--backend", NULL)) backend = args_backend(&a);
        else if (args_flag(&a, "--threads", "-t")) args_int(&a, 1, 1024, &threads);
        else if (args_flag(&a, "--audio", NULL)) audio = args_value(&a);
        else args_unknown(&a, "logits");
    }
    if (a.bad || !model || !ids_file || !out) {
        if (!a.bad)
            fprintf(stderr, "unum logits: -m MODEL, --ids FILE and -o OUT.f32 are required\n");
        lora_specs_free(lora, n_lora);
        return EXIT_USAGE;
    }
    IdVec ids = {0};
    if (read_ids(ids_file, &ids)) {
        lora_specs_free(lora, n_lora);
        return cli_fail();
    }
    /* with --audio, each -200 in the ids is the clip's frames (speech.h) */
    EngineOptions eo = {.backend = backend, .threads = threads, .ctx = audio ? 0 : (int)ids.n,
                        .lora = lora, .n_lora = n_lora};
    SpeechLLM *sp = NULL;
    VibeVoice *vv = NULL;
    Engine *e = NULL;
    float *logits = NULL, **clips = NULL, *embeds = NULL;
    int n_clips = 0;
    int32_t *x = ids.v;
    size_t nx = ids.n;
    int rc = 1;
    if (audio) load_audio_model(model, &eo, &sp, &vv, &e);
    else e = engine_load(model, &eo);
    if (!e || (sp && load_clips(sp, audio, &clips, &n_clips))) {
        cli_fail();
        goto done;
    }
    /* VibeVoice: one speech pad per frame, in order */
    if (vv && !ids.n) unum_error_set("%s: no ids", ids_file);
    if (vv && (!ids.n || vibevoice_file_inputs(vv, audio, NULL, &ids, &embeds))) {
        unum_error_wrap("%s", ids_file);
        cli_fail();
        goto done;
    }
    x = ids.v;
    if (sp) {
        if (speech_expand(sp, ids.v, ids.n, (const float *const *)clips, n_clips, &x, &nx,
                          &embeds)) {
            unum_error_wrap("%s", ids_file);
            cli_fail();
            goto done;
        }
    }
    size_t V = (size_t)engine_n_vocab(e);
    logits = malloc(sizeof(float) * V * nx);
    if (!logits) {
        fprintf(stderr, "unum: out of memory for %zu x %zu logits\n", nx, V);
        goto done;
    }
    if (engine_logits_embeds(e, x, nx, embeds, logits)) {
        unum_error_wrap("%s", ids_file);
        cli_fail();
        goto done;
    }
    if (unum_write_file_atomic(out, logits, sizeof(float) * V * nx)) {
        cli_fail();
        goto done;
    }
    rc = 0;
done:
    free(logits);
    if (x != ids.v) free(x);
    clips_free(clips, n_clips);
    free(embeds);
    if (sp) speech_free(sp);
    else if (vv) vibevoice_free(vv);
    else engine_free(e);
    idvec_free(&ids);
    lora_specs_free(lora, n_lora);
    return rc;
}

/* ------------------------------------------------------------ bench */

/* The greedy next id: on the backend when it samples (the logits stayed
 * there), else the host's argmax of e->logits. */
static int bench_greedy(Engine *e, int on_device, int32_t *id) {
    if (!on_device) {
        *id = sampler_argmax(e->logits, engine_n_vocab(e));
        return 0;
    }
    SamplerParams greedy = {0};
    greedy.top_p = 1.0f;
    greedy.repeat_penalty = 1.0f;
    return e->be->sample(e->be, id, e->model->logits, e->model->c.vocab, &greedy, NULL, 0, 0);
}

/* VibeVoice's encoders on a recording (bench --audio): its length, frames
 * and the best of reps encodes of it. */
typedef struct {
    double audio_s, encode_s;
    size_t frames;
} EncodeBench;

/* Reads path at the model's rate, normalizes it as the processor does, and
 * times vibevoice_encode (both encoders' means and the connectors' rows,
 * as transcription runs it) reps times. 0, or -1 with the error set. */
static int bench_encode(VibeVoice *vv, const char *path, int reps, EncodeBench *out) {
    float *x = NULL;
    size_t n = 0;
    if (audio_read_rate(path, 0, 0, vv->rate, &x, &n, NULL)) return -1;
    if (!n) {
        free(x);
        return unum_error_set("%s: no audio", path);
    }
    vibevoice_normalize(x, n);
    size_t F = vibevoice_frames(vv, n), D = (size_t)vv->e->model->c.hidden;
    float *ac = xmalloc(sizeof(float) * F * (size_t)vibevoice_vae_dim(vv, 0));
    float *se = xmalloc(sizeof(float) * F * (size_t)vibevoice_vae_dim(vv, 1));
    float *emb = xmalloc(sizeof(float) * F * D);
    int rc = 0;
    out->encode_s = 0;
    for (int r = 0; r < reps && !rc; r++) {
        double t0 = unum_now();
        rc = vibevoice_encode(vv, x, n, 0, ac, se, emb, NULL, NULL, NULL);
        double dt = unum_now() - t0;
        if (!r || dt < out->encode_s) out->encode_s = dt;
    }
    if (rc) unum_error_wrap("%s", path);
    out->audio_s = (double)n / vv->rate;
    out->frames = F;
    free(x), free(ac), free(se), free(emb);
    return rc;
}

/* The model for bench: with --audio, a VibeVoice-ASR model (its decoder in
 * *e), else any language model. */
static Engine *bench_load(const char *model, const char *audio, const EngineOptions *eo,
                          VibeVoice **vv) {
    if (!audio) return engine_load(model, eo);
    char *dir = modeldir_resolve(model);
    if (!dir) return NULL;
    if (!vibevoice_is_model(dir))
        unum_error_set("%s: bench --audio needs a VibeVoice-ASR model (config.json model_type "
                       "vibevoice)",
                       dir);
    else *vv = vibevoice_load(dir, eo);
    free(dir);
    return *vv ? (*vv)->e : NULL;
}

int cli_bench(int argc, char **argv) {
    Args a = {argc, 1, argv, 0};
    const char *model = NULL, *backend = "auto", *audio = NULL;
    int threads = 0, plen = 128, gen = 64, json = 0, reps = 3, n_lora = 0;
    LoraSpec *lora = NULL;
    CliModels cm = {0};
    while (a.i < a.argc && !a.bad) {
        if (args_flag(&a, "-m", "--model")) model = args_value(&a);
        else if (cli_models_flag(&a, &cm)) continue;
        else if (args_flag(&a, "--audio", NULL)) audio = args_value(&a);
        else if (args_flag(&a, "--lora", NULL)) cli_lora_option(&a, &lora, &n_lora);
        else if (args_flag(&a, "--backend", NULL)) backend = args_backend(&a);
        else if (args_flag(&a, "--threads", "-t")) args_int(&a, 1, 1024, &threads);
        else if (args_flag(&a, "--prompt-len", NULL)) args_int(&a, 1, 1 << 20, &plen);
        else if (args_flag(&a, "--gen", NULL)) args_int(&a, 1, 1 << 20, &gen);
        else if (args_flag(&a, "--reps", NULL)) args_int(&a, 1, 100, &reps);
        else if (args_flag(&a, "--json", NULL)) json = 1;
        else args_unknown(&a, "bench");
    }
    if (a.bad || !model || (audio && cm.draft)) {
        if (!a.bad)
            fprintf(stderr, !model ? "unum bench: -m MODEL is required\n"
                                   : "unum bench: --audio and --draft do not go together\n");
        lora_specs_free(lora, n_lora);
        return EXIT_USAGE;
    }
    EngineOptions eo = {.backend = backend, .threads = threads, .ctx = plen + gen, .lora = lora,
                        .n_lora = n_lora};
    if (cm.draft) return cli_bench_draft(model, cm.draft, cm.draft_n, &eo, plen, gen, reps, json);
    VibeVoice *vv = NULL;
    Engine *e = bench_load(model, audio, &eo, &vv);
    lora_specs_free(lora, n_lora);
    if (!e) return cli_fail();
    Qwen2 *m = e->model;
    int V = m->c.vocab;
    int32_t *prompt = xmalloc(sizeof(int32_t) * (size_t)plen);
    uint64_t s = 42;
    for (int i = 0; i < plen; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        prompt[i] = (int32_t)((s >> 33) % (uint64_t)V);
    }
    /* warm-up: touch every weight page once, as the timed runs will */
    int rc = qwen2_forward(m, prompt, plen < 8 ? plen : 8, e->logits, 0);
    double pre = 0, dec = 0;
    /* greedy ids picked where generation picks them (on the GPU when the
     * backend samples), so decode's rate is generation's */
    int dev = engine_device_sampling(e);
    float *lg = dev ? NULL : e->logits;
    for (int r = 0; r < reps && !rc; r++) {
        qwen2_rewind(m, 0);
        double t0 = unum_now();
        rc = qwen2_forward(m, prompt, plen, lg, 0);
        double t1 = unum_now();
        int32_t id = 0;
        rc = rc ? rc : bench_greedy(e, dev, &id);
        for (int g = 0; g < gen && !rc; g++) {
            rc = qwen2_forward(m, &id, 1, lg, 0);
            rc = rc ? rc : bench_greedy(e, dev, &id);
        }
        pre += t1 - t0;
        dec += unum_now() - t1;
    }
    /* the encoders after the decoder, whose figures stay as without --audio */
    EncodeBench eb = {0};
    if (!rc && vv) rc = bench_encode(vv, audio, reps, &eb);
    if (rc) {
        free(prompt);
        if (vv) vibevoice_free(vv);
        else engine_free(e);
        return cli_fail();
    }
    double pre_tps = plen * reps / pre, dec_tps = gen * reps / dec;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", model);
        cJSON_AddStringToObject(o, "backend", engine_backend_name(e));
        cJSON_AddNumberToObject(o, "threads", e->be->n_threads);
        cJSON_AddNumberToObject(o, "prompt_len", plen);
        cJSON_AddNumberToObject(o, "gen", gen);
        cJSON_AddNumberToObject(o, "load_s", round(engine_load_seconds(e) * 1e4) / 1e4);
        cJSON_AddNumberToObject(o, "prefill_tok_s", round(pre_tps * 100) / 100);
        cJSON_AddNumberToObject(o, "decode_tok_s", round(dec_tps * 100) / 100);
        cJSON_AddNumberToObject(o, "peak_rss_mb", round(unum_peak_rss_mb() * 10) / 10);
        cJSON_AddNumberToObject(o, "peak_vram_mb", round(e->be->device_peak / 1048576.0 * 10) / 10);
        cJSON_AddNumberToObject(o, "bytes_per_token", (double)qwen2_bytes_per_token(m));
        char qname[64];
        if (m->c.quant.method)
            cJSON_AddStringToObject(o, "quantization", qwen2_quant_name(m, qname, sizeof qname));
        if (vv) {
            cJSON_AddNumberToObject(o, "audio_s", round(eb.audio_s * 1e4) / 1e4);
            cJSON_AddNumberToObject(o, "frames", (double)eb.frames);
            cJSON_AddNumberToObject(o, "encode_s", round(eb.encode_s * 1e4) / 1e4);
            cJSON_AddNumberToObject(o, "encode_s_per_audio_min",
                                    round(eb.encode_s * 60 / eb.audio_s * 1e4) / 1e4);
        }
        char *txt = cJSON_PrintUnformatted(o);
        puts(txt);
        cJSON_free(txt);
        cJSON_Delete(o);
    } else {
        term_printf(stdout, "model      %s\nbackend    %s (%d threads, %s kernels)\n",
                    engine_dir(e), engine_backend_name(e), e->be->n_threads, k_isa());
        printf("load       %.3f s\nprefill    %d tokens: %.1f tok/s\n", engine_load_seconds(e), plen, pre_tps);
        term_printf(stdout, "decode     %d tokens: %.1f tok/s\npeak RSS   %.0f MiB\n", gen,
                    dec_tps, unum_peak_rss_mb());
        if (e->be->device_peak)
            printf("peak VRAM  %.0f MiB\n", e->be->device_peak / 1048576.0);
        if (vv)
            printf("encoders   %.1f s of audio, %zu frames: %.3f s (best of %d), %.3f s per "
                   "audio minute\n",
                   eb.audio_s, eb.frames, eb.encode_s, reps, eb.encode_s * 60 / eb.audio_s);
    }
    free(prompt);
    if (vv) vibevoice_free(vv);
    else engine_free(e);
    return 0;
}
