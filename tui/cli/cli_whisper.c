/* cli_whisper.c - see cli_whisper.h. */
#include "tui/cli/cli_whisper.h"

#include "tui/cli/common.h"
#include "tui/core/args.h"
#include "engine/mel.h"
#include "engine/transcribe.h"
#include "engine/modeldir.h"
#include "audio/load.h"
#include "engine/base/termsafe.h"
#include "engine/base/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The mel bin count of a Whisper directory: preprocessor_config.json's
 * feature_size, else config.json's num_mel_bins. */
static int model_n_mels(const char *dir, int *n_mels) {
    static const char *files[2][2] = {{"preprocessor_config.json", "feature_size"},
                                      {"config.json", "num_mel_bins"}};
    for (int i = 0; i < 2; i++) {
        char *path = unum_path_join(dir, files[i][0]);
        if (!unum_file_exists(path)) {
            free(path);
            continue;
        }
        char *txt = unum_read_file(path, 4u << 20, NULL);
        cJSON *root = txt ? cJSON_Parse(txt) : NULL;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, files[i][1]);
        int ok = cJSON_IsNumber(v) && (v->valuedouble == 80 || v->valuedouble == 128);
        if (ok) *n_mels = (int)v->valuedouble;
        else if (txt) unum_error_set("%s: %s must be 80 or 128", path, files[i][1]);
        cJSON_Delete(root);
        free(txt);
        free(path);
        if (ok) return 0;
        return -1;
    }
    return unum_error_set("%s: no preprocessor_config.json or config.json with the mel bin count",
                          dir);
}

int cli_mel(int argc, char **argv) {
    Args a = {argc, 1, argv, 0};
    const char *model = NULL, *out = NULL, *wav = NULL;
    while (a.i < a.argc && !a.bad) {
        if (args_flag(&a, "-m", "--model")) model = args_value(&a);
        else if (args_flag(&a, "-o", "--output")) out = args_value(&a);
        else if (argv[a.i][0] != '-' && !wav) wav = argv[a.i++];
        else args_unknown(&a, "mel");
    }
    if (a.bad) return EXIT_USAGE;
    if (!model || !wav || !out) {
        fprintf(stderr, "unum mel: -m WHISPER, FILE.wav and -o OUT.f32 are required\n");
        return EXIT_USAGE;
    }
    char *dir = modeldir_resolve(model);
    int n_mels = 0, rc = 1;
    if (!dir || model_n_mels(dir, &n_mels)) {
        free(dir);
        return cli_fail();
    }
    free(dir);
    float *x = NULL, *mel = NULL;
    size_t n = 0;
    mel_ctx *m = NULL;
    if (audio_read_16k(wav, 0, 30, &x, &n, NULL)) { /* the one window the mel covers */
        cli_fail();
        goto done;
    }
    if (!(m = mel_create(n_mels))) {
        cli_fail();
        goto done;
    }
    mel = xmalloc(sizeof(float) * (size_t)n_mels * 3000);
    if (mel_compute_30s(m, x, n, mel) || unum_write_file_atomic(out, mel, sizeof(float) * n_mels * 3000)) {
        cli_fail();
        goto done;
    }
    rc = 0;
done:
    mel_free(m);
    free(mel);
    free(x);
    return rc;
}

/* ------------------------------------------------------------ transcribe */

typedef struct {
    int timestamps, json, progress, speakers;
    double t_start;
} TOut;

/* [mm:ss.xx], or [h:mm:ss.xx] from an hour on */
static void print_time(double s) {
    long cs = lround(s * 100);
    long h = cs / 360000, m = cs / 6000 % 60, sec = cs / 100 % 60, frac = cs % 100;
    if (h) printf("%ld:%02ld:%02ld.%02ld", h, m, sec, frac);
    else printf("%02ld:%02ld.%02ld", m, sec, frac);
}

static const char *trimmed(const char *s, size_t *len) {
    while (*s == ' ' || (*s >= '\t' && *s <= '\r')) s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || (s[n - 1] >= '\t' && s[n - 1] <= '\r'))) n--;
    *len = n;
    return s;
}

static int print_segment(void *ud, const TSegment *seg) {
    TOut *o = ud;
    if (o->json) return 0;
    if (o->progress) fputs("\r\033[K", stderr);
    size_t n;
    const char *text = trimmed(seg->text, &n);
    if (o->timestamps) {
        putchar('[');
        print_time(seg->start);
        fputs(" -> ", stdout);
        print_time(seg->end);
        fputs("] ", stdout);
    }
    if (o->speakers && seg->speaker) term_printf(stdout, "%s: ", seg->speaker);
    term_write(stdout, text, n);
    putchar('\n');
    fflush(stdout);
    return 0;
}

static void print_progress(void *ud, double done, double total) {
    TOut *o = ud;
    if (!o->progress) return;
    double el = unum_now() - o->t_start;
    fputs("\r\033[K", stderr);
    term_printf(stderr, "unum: transcribed %.1f of %.1f s (%.0f%%, %.1fx real time)", done, total,
                total > 0 ? 100 * done / total : 100, el > 0 ? done / el : 0);
}

static void print_json(const Transcript *tr) {
    cJSON *root = cJSON_CreateObject(), *segs = cJSON_CreateArray();
    cJSON_AddStringToObject(root, "language", tr->language);
    for (int i = 0; i < tr->n; i++) {
        cJSON *o = cJSON_CreateObject();
        size_t n;
        const char *t = trimmed(tr->seg[i].text, &n);
        char *text = xmalloc(n + 1);
        memcpy(text, t, n);
        text[n] = 0;
        cJSON_AddNumberToObject(o, "start", round(tr->seg[i].start * 100) / 100);
        cJSON_AddNumberToObject(o, "end", round(tr->seg[i].end * 100) / 100);
        cJSON_AddStringToObject(o, "text", text);
        if (tr->seg[i].speaker) cJSON_AddStringToObject(o, "speaker", tr->seg[i].speaker);
        cJSON_AddItemToArray(segs, o);
        free(text);
    }
    cJSON_AddItemToObject(root, "segments", segs);
    char *s = cJSON_Print(root);
    puts(s);
    free(s);
    cJSON_Delete(root);
}

int cli_transcribe(int argc, char **argv) {
    Args a = {argc, 1, argv, 0};
    const char *model = NULL, *wav = NULL, *backend = "auto", *language = NULL;
    int threads = 0, beam = 0, verbose = 0, stream = 0, no_fallback = 0;
    TranscribeParams p;
    transcribe_defaults(&p);
    TOut o = {0};
    unsigned long long seed = 0;
    while (a.i < a.argc && !a.bad) {
        if (args_flag(&a, "-m", "--model")) model = args_value(&a);
        else if (args_flag(&a, "--language", "-l")) language = args_value(&a);
        else if (args_flag(&a, "--timestamps", NULL)) o.timestamps = 1;
        else if (args_flag(&a, "--json", NULL)) o.json = 1;
        else if (args_flag(&a, "--beam", NULL)) args_int(&a, 1, 8, &beam);
        else if (args_flag(&a, "--best-of", NULL)) args_int(&a, 1, 16, &p.best_of);
        else if (args_flag(&a, "--temp", "--temperature")) args_float(&a, 0, 1, &p.temperature);
        else if (args_flag(&a, "--no-fallback", NULL)) no_fallback = 1;
        else if (args_flag(&a, "--no-condition", NULL)) p.condition_on_previous = 0;
        else if (args_flag(&a, "--translate", NULL)) p.translate = 1;
        else if (args_flag(&a, "--seed", NULL)) args_u64(&a, &seed);
        else if (args_flag(&a, "-n", "--max-tokens")) args_int(&a, 1, 1 << 20, &p.max_tokens);
        else if (args_flag(&a, "--stream", NULL)) stream = 1;
        else if (args_flag(&a, "--backend", NULL)) backend = args_backend(&a);
        else if (args_flag(&a, "--threads", "-t")) args_int(&a, 1, 1024, &threads);
        else if (args_flag(&a, "-v", "--verbose")) verbose = 1;
        else if (argv[a.i][0] != '-' && !wav) wav = argv[a.i++];
        else args_unknown(&a, "transcribe");
    }
    if (a.bad) return EXIT_USAGE;
    if (!model || !wav) {
        fprintf(stderr, "unum transcribe: -m WHISPER and FILE.wav are required\n");
        return EXIT_USAGE;
    }
    p.beam = beam;
    p.seed = seed;
    if (no_fallback) p.temperature_inc = 0;
    p.language = language;
    p.on_segment = print_segment;
    p.on_progress = print_progress;
    p.ud = &o;
    p.cancel = cli_interrupt_flag();
    o.progress = isatty(2);

    int rc = 1;
    Transcriber *t = NULL;
    float *x = NULL;
    size_t n = 0;
    Transcript tr = {0};
    double t_load = unum_now();
    if (!(t = transcriber_load(model, backend, threads))) goto fail;
    const char *dir = transcriber_dir(t);
    /* the model's own rate (a 24 kHz file to VibeVoice as it is); live
     * audio, as --stream plays it, is 16 kHz */
    int rate = stream ? MEL_SAMPLE_RATE : transcriber_rate(t);
    if (audio_read_rate(wav, 0, 0, rate, &x, &n, NULL)) goto fail;
    if (transcriber_speakers(t)) {
        o.timestamps = o.speakers = 1;
        if (language || p.translate || beam || no_fallback) {
            term_printf(stderr, "unum transcribe: %s is a speaker-aware model, which finds the "
                        "language itself and decodes greedily; --language, --translate, --beam "
                        "and --no-fallback are Whisper's\n",
                        dir);
            rc = EXIT_USAGE;
            goto out;
        }
    }
    if (language && !transcriber_speakers(t) && !transcriber_vocab(t)->multilingual &&
        strcmp(language, "en")) {
        term_printf(stderr, "unum transcribe: --language %s: %s is an English-only model\n",
                    language, dir);
        rc = EXIT_USAGE;
        goto out;
    }
    if (language && !transcriber_speakers(t) && transcriber_vocab(t)->multilingual) {
        char tok[32];
        snprintf(tok, sizeof tok, "<|%s|>", language);
        int32_t id = tokenizer_token_id(transcriber_tokenizer(t), tok);
        const WhisperVocab *v = transcriber_vocab(t);
        if (id < v->lang_first || id >= v->lang_first + v->n_langs) {
            term_printf(stderr, "unum transcribe: --language %s is not a language of %s\n",
                        language, dir);
            rc = EXIT_USAGE;
            goto out;
        }
    }
    CliInterrupt ci;
    cli_interrupt_begin(&ci, 0);
    o.t_start = unum_now();
    int r;
    if (stream) { /* as live audio: through the voice activity detector, 100 ms at a time */
        TStream *s = tstream_new(t, &p, &tr);
        r = s ? 0 : -1;
        for (size_t i = 0; s && !r && i < n; i += 1600)
            r = tstream_feed(s, x + i, n - i < 1600 ? n - i : 1600);
        if (s && !r) r = tstream_finish(s);
        tstream_free(s);
    } else {
        r = transcribe_at(t, x, n, rate, 0, &p, &tr);
    }
    cli_interrupt_end(&ci);
    double el = unum_now() - o.t_start;
    if (o.progress) fputs("\r\033[K", stderr);
    if (r < 0) goto fail;
    if (o.json) print_json(&tr);
    if (verbose)
        term_printf(stderr,
                "unum: %.1f s of audio in %.2f s (%.1fx real time; model loaded in %.2f s), "
                "%d segments, language %s, backend %s\n",
                (double)n / rate, el, el > 0 ? (double)n / rate / el : 0, o.t_start - t_load,
                tr.n, tr.language[0] ? tr.language : "-", transcriber_backend(t));
    if (r > 0) {
        fprintf(stderr, "unum: transcription interrupted; the segments above are complete\n");
        goto out;
    }
    rc = 0;
    goto out;
fail:
    cli_fail();
out:
    transcript_free(&tr);
    transcriber_free(t);
    free(x);
    return rc;
}
