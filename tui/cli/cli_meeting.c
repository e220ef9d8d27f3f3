/* cli_meeting.c - see cli_meeting.h. */
#include "tui/cli/cli_meeting.h"

#include "tui/cli/common.h"
#include "tui/core/appconfig.h"
#include "tui/core/args.h"
#include "tui/cli/cli_lora.h"
#include "tui/cli/cli_models.h"
#include "tui/core/recordings.h"
#include "tui/cli/cli_store.h"
#include "tui/core/meeting.h"
#include "store/meeting_store.h"
#include "store/speakers.h"
#include "engine/models.h"
#include "engine/modeldir.h"
#include "engine/remote.h"
#include "engine/base/termsafe.h"
#include "engine/base/util.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_id(const char *s, int64_t *id) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v <= 0) return -1;
    *id = v;
    return 0;
}

/* ------------------------------------------------------------ summarize */

static void on_progress(void *ud, MeetStage stage, double done, double total) {
    int tty = *(int *)ud;
    static const char *what[] = {"transcribing", "summarizing part", "writing section"};
    if (stage == MEET_TRANSCRIBING)
        fprintf(stderr, "%sunum: transcribing: %.0f of %.0f s%s", tty ? "\r\033[K" : "", done,
                total, tty ? "" : "\n");
    else
        fprintf(stderr, "%sunum: %s %d of %d%s", tty ? "\r\033[K" : "", what[stage],
                (int)done + (done < total), (int)total, tty ? "" : "\n");
    fflush(stderr);
}

static int summarize(int argc, char **argv) {
    Args a = {argc, 2, argv, 0};
    const char *rec_arg = NULL, *wav = NULL, *tmpl = NULL, *persona = NULL, *model = NULL,
               *whisper = NULL, *out = NULL, *backend = "auto", *report_model = NULL;
    int threads = 0, ctx = 0, no_fallback = 0;
    CliModels cm = {0}; /* --stage2 [--escalate-below P]: sections may escalate */
    LoraSpec *lora = NULL; /* --lora: in place of the template's adapters */
    int n_lora = 0;
    while (a.i < a.argc && !a.bad) {
        if (args_flag(&a, "--recording", NULL)) rec_arg = args_value(&a);
        else if (args_flag(&a, "--template", "-t")) tmpl = args_value(&a);
        else if (args_flag(&a, "--persona", NULL)) persona = args_value(&a);
        else if (args_flag(&a, "-m", "--model")) model = args_value(&a);
        else if (args_flag(&a, "--report-model", NULL)) report_model = args_value(&a);
        else if (args_flag(&a, "--whisper", "--speech-model")) whisper = args_value(&a);
        else if (args_flag(&a, "-o", "--output")) out = args_value(&a);
        else if (args_flag(&a, "--backend", NULL)) backend = args_backend(&a);
        else if (args_flag(&a, "--threads", NULL)) args_int(&a, 1, 1024, &threads);
        else if (args_flag(&a, "--ctx", NULL)) args_int(&a, 64, 1 << 20, &ctx);
        else if (args_flag(&a, "--no-fallback", NULL)) no_fallback = 1;
        else if (args_flag(&a, "--lora", NULL)) cli_lora_option(&a, &lora, &n_lora);
        else if (cli_models_flag(&a, &cm)) continue;
        else if (argv[a.i][0] != '-' && !wav) wav = argv[a.i++];
        else args_unknown(&a, "meeting summarize");
    }
    int64_t rec = 0;
    if (!a.bad && ((!rec_arg) == (!wav) || !tmpl || (rec_arg && parse_id(rec_arg, &rec)))) {
        term_printf(stderr,
                    "unum meeting summarize: give --recording ID or FILE.wav (one of them), "
                    "and --template NAME\n");
        a.bad = 1;
    }
    if (a.bad) {
        lora_specs_free(lora, n_lora);
        return EXIT_USAGE;
    }
    AppConfig cfg;
    app_config_defaults(&cfg);
    char *cfg_path = app_config_path("config");
    int rc = app_config_load(&cfg, cfg_path);
    free(cfg_path);
    if (rc) return cli_fail();
    /* the report writer: --report-model, -m, then the settings' report_model
     * and model (a chat model and a separate report writer, say an 8B
     * MiniCPM, live side by side in the settings) */
    if (report_model) model = report_model;
    if (!model) model = cfg.report_model ? cfg.report_model : cfg.model;
    if (!whisper) whisper = cfg.whisper;
    if (!model) {
        app_config_free(&cfg);
        lora_specs_free(lora, n_lora);
        term_printf(stderr,
                    "unum meeting summarize: no language model: give -m MODEL or set model = "
                    "in the config file\n");
        return EXIT_USAGE;
    }
    Store *st = cli_open_db();
    if (!st) {
        app_config_free(&cfg);
        lora_specs_free(lora, n_lora);
        return 1;
    }
    rc = 1;
    Engine *e = NULL;
    Models *ms = NULL;
    Transcriber *t = NULL;
    char *md = NULL;
    int tty = isatty(2);
    MeetingParams mp;
    meeting_defaults(&mp);
    mp.progress = on_progress;
    mp.ud = &tty;
    mp.cancel = cli_interrupt_flag();
    mp.no_fallback = no_fallback;
    mp.lora = lora;
    mp.n_lora = n_lora;
    CliInterrupt ci;
    cli_interrupt_begin(&ci, 0);
    if (wav) {
        int existing = 0;
        char *abs = realpath(wav, NULL);
        int r = recording_import(st, abs ? abs : wav, &rec, &existing);
        free(abs);
        if (r) goto done;
        term_printf(stderr, "unum: %s is recording %lld%s\n", wav, (long long)rec,
                    existing ? " (imported before; its transcript resumes)" : "");
    }
    StoreMeeting m;
    if (store_meeting_get(st, rec, &m)) goto done;
    int transcribed = m.transcribed;
    store_meeting_free(&m);
    if (!transcribed) {
        if (!whisper) {
            unum_error_set("recording %lld has no whole transcript and no Whisper model was given "
                           "(--whisper MODEL or whisper = in the config file)",
                           (long long)rec);
            goto done;
        }
        if (!(t = transcriber_load(whisper, backend, threads))) goto done;
        int r = meeting_transcribe(st, t, rec, &mp);
        if (tty) fputs("\r\033[K", stderr);
        if (r < 0) goto done;
        if (r > 0) {
            term_printf(stderr, "unum: stopped; the transcript so far is stored and the next run "
                                "resumes it\n");
            goto done;
        }
        transcriber_free(t);
        t = NULL;
    }
    EngineOptions eo = {.backend = backend, .threads = threads, .ctx = ctx ? ctx : cfg.ctx};
    if (cm.draft && cm.stage2) {
        unum_error_set("give --draft or --stage2, not both");
        goto done;
    }
    /* a server cannot verify drafts: refused before anything is opened */
    if (cm.draft && remote_is_url(model) && !cli_models_load_draft(NULL, cm.draft, model, NULL, &eo))
        goto done;
    /* a server writes within --ctx (meeting.h: MEETING_REMOTE_CTX without it) */
    if (remote_is_url(model)) {
        if (!(mp.remote = remote_open(model, cm.remote_model ? cm.remote_model : cfg.remote_model)))
            goto done;
        mp.remote_ctx = ctx;
    } else if (!(e = engine_load(model, &eo))) {
        goto done;
    }
    if (cm.draft) { /* stage 1 drafted: the same report, sooner */
        ms = models_new(cm.mem_budget);
        if (!(mp.draft = cli_models_load_draft(ms, cm.draft, model, e, &eo))) goto done;
        mp.draft_n = cm.draft_n;
    }
    if (cm.stage2 && remote_is_url(cm.stage2)) {
        if (!(mp.stage2_remote = remote_open(cm.stage2, cm.remote_model))) {
            unum_error_wrap("--stage2");
            goto done;
        }
    } else if (cm.stage2) {
        EngineOptions eo2 = eo;
        eo2.lora = NULL, eo2.n_lora = 0; /* the adapters are stage 1's */
        if (cm.stage2_backend) eo2.backend = cm.stage2_backend;
        ms = models_new(cm.mem_budget);
        if ((e && models_adopt(ms, ROLE_CHAT, e)) || models_set(ms, ROLE_STAGE2, cm.stage2, &eo2) ||
            !(mp.stage2 = models_acquire(ms, ROLE_STAGE2))) {
            unum_error_wrap("--stage2");
            goto done;
        }
    }
    if (cm.stage2) mp.escalate_below = cm.have_escalate ? cm.escalate_below : CLI_ESCALATE_DEFAULT;
    cli_interrupt_engine(e);
    int64_t report = 0;
    int r = meeting_report(st, e, rec, tmpl, persona, &mp, &md, &report);
    cli_interrupt_engine(NULL);
    if (tty) fputs("\r\033[K", stderr);
    if (r < 0) goto done;
    if (r > 0) {
        fprintf(stderr, "unum: stopped; no report was stored\n");
        goto done;
    }
    if (out) {
        if (unum_write_file_atomic(out, md, strlen(md))) goto done;
    } else {
        term_puts(md, stdout);
    }
    term_printf(stderr,
                "unum: report %lld of recording %lld (%d generations, at most %d of %d "
                "context positions%s)\n",
                (long long)report, (long long)rec, mp.calls, mp.max_positions,
                e               ? engine_ctx(e)
                : mp.remote_ctx ? mp.remote_ctx
                                : MEETING_REMOTE_CTX,
                e ? "" : ", estimated");
    if (mp.draft)
        fprintf(stderr,
                "unum: draft: %d of %d drafted tokens accepted (%.1f%%) over %d target "
                "forwards\n",
                mp.spec.accepted, mp.spec.drafted, 100.0 * spec_accept_rate(&mp.spec),
                mp.spec.rounds);
    if (mp.stage2 || mp.stage2_remote)
        fprintf(stderr, "unum: stage 2 wrote %d of the %d generations (confidence below %.3f)\n",
                mp.escalated, mp.calls - mp.escalated, mp.escalate_below);
    rc = 0;
done:
    cli_interrupt_end(&ci);
    if (rc && !unum_cancelled(cli_interrupt_flag())) cli_fail();
    free(md);
    transcriber_free(t);
    models_free(ms);
    engine_free(e);
    remote_free(mp.remote);
    remote_free(mp.stage2_remote);
    store_close(st);
    app_config_free(&cfg);
    lora_specs_free(lora, n_lora);
    return rc;
}

/* ------------------------------------------------------------ list, show, export */

static int list(void) {
    Store *st = cli_open_db();
    if (!st) return 1;
    StoreMeeting *m;
    size_t n;
    if (store_meeting_list(st, &m, &n)) {
        store_close(st);
        return cli_fail();
    }
    for (size_t i = 0; i < n; i++) {
        int s = (int)(m[i].duration_s + 0.5);
        term_printf(stdout, "%lld\t%s\t%d:%02d\t%lld segments%s\t%lld reports\t%s\n",
                    (long long)m[i].id, m[i].created, s / 60, s % 60, (long long)m[i].segments,
                    m[i].transcribed ? "" : " (transcript not whole)", (long long)m[i].reports,
                    m[i].title[0] ? m[i].title : m[i].source[0] ? m[i].source : m[i].path);
    }
    store_meetings_free(m, n);
    store_close(st);
    return 0;
}

static int show_or_export(int argc, char **argv, int export) {
    Args a = {argc, 2, argv, 0};
    const char *id_arg = NULL, *format = "md";
    while (a.i < a.argc && !a.bad) {
        if (export && args_flag(&a, "--format", NULL)) format = args_value(&a);
        else if (argv[a.i][0] != '-' && !id_arg) id_arg = argv[a.i++];
        else args_unknown(&a, export ? "meeting export" : "meeting show");
    }
    int64_t id;
    if (a.bad) return EXIT_USAGE;
    if (!id_arg || parse_id(id_arg, &id) ||
        (strcmp(format, "md") && strcmp(format, "json") && strcmp(format, "vtt") &&
         strcmp(format, "srt"))) {
        term_printf(stderr, "unum meeting %s: give a recording ID%s\n", export ? "export" : "show",
                    export ? " and --format md|json|vtt|srt" : "");
        return EXIT_USAGE;
    }
    Store *st = cli_open_db();
    if (!st) return 1;
    int rc = 1;
    char *text = meeting_export(st, id, export ? format : NULL);
    if (text) {
        term_puts(text, stdout);
        if (text[0] && text[strlen(text) - 1] != '\n') putchar('\n');
        rc = 0;
    } else {
        cli_fail();
    }
    free(text);
    store_close(st);
    return rc;
}

/* ------------------------------------------------------------ speakers */

/* The LABEL of a LABEL=NAME argument (new string). */
static char *arg_label(const char *arg) {
    char *label = xstrdup(arg);
    *strchr(label, '=') = 0;
    return label;
}

static int speakers_list(Store *st, int64_t rec) {
    StoreSpeaker *sp;
    size_t n;
    if (store_speaker_list(st, rec, &sp, &n)) return cli_fail();
    if (!n)
        term_printf(stderr,
                    "unum: recording %lld has no speaker labels (its speech model does "
                    "not tell speakers apart)\n",
                    (long long)rec);
    for (size_t i = 0; i < n; i++) {
        int s = (int)(sp[i].seconds + 0.5);
        term_printf(stdout, "%s\t%s\t%lld segment%s\t%d:%02d\n", sp[i].label,
                    sp[i].name[0] ? sp[i].name : "(no name)", (long long)sp[i].segments,
                    sp[i].segments == 1 ? "" : "s", s / 60, s % 60);
    }
    store_speakers_free(sp, n);
    return 0;
}

/* unum meeting speakers ID [LABEL=NAME | LABEL=]...: every change in one
 * transaction, so that a refused one leaves the names as they were. */
static int speakers(int argc, char **argv) {
    int64_t rec;
    if (argc < 3 || parse_id(argv[2], &rec)) {
        term_printf(stderr, "unum meeting speakers: give a recording ID (then LABEL=NAME to "
                            "name a speaker, LABEL= to take its name away)\n");
        return EXIT_USAGE;
    }
    for (int i = 3; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i]) {
            term_printf(stderr,
                        "unum meeting speakers: '%s': give LABEL=NAME (S1=Priya) or "
                        "LABEL= to take the name away\n",
                        argv[i]);
            return EXIT_USAGE;
        }
    }
    Store *st = cli_open_db();
    if (!st) return 1;
    if (argc == 3) {
        int rc = speakers_list(st, rec);
        store_close(st);
        return rc;
    }
    int rc = store_begin(st);
    for (int i = 3; !rc && i < argc; i++) {
        char *label = arg_label(argv[i]);
        rc = store_speaker_set(st, rec, label, strchr(argv[i], '=') + 1);
        free(label);
    }
    if (!rc) rc = store_commit(st);
    if (rc) {
        store_rollback(st);
        cli_fail();
    } else {
        for (int i = 3; i < argc; i++) {
            char *label = arg_label(argv[i]);
            char *name = store_speaker_resolve(st, rec, label);
            if (name && strcmp(name, label))
                term_printf(stderr, "unum: recording %lld: %s is %s\n", (long long)rec, label,
                            name);
            else
                term_printf(stderr, "unum: recording %lld: %s has no name\n", (long long)rec,
                            label);
            free(name);
            free(label);
        }
    }
    store_close(st);
    return rc ? 1 : 0;
}

int cli_meeting(int argc, char **argv) {
    const char *sub = argc > 1 ? argv[1] : NULL;
    if (sub && !strcmp(sub, "summarize")) return summarize(argc, argv);
    if (sub && !strcmp(sub, "list") && argc == 2) return list();
    if (sub && !strcmp(sub, "show")) return show_or_export(argc, argv, 0);
    if (sub && !strcmp(sub, "export")) return show_or_export(argc, argv, 1);
    if (sub && !strcmp(sub, "speakers")) return speakers(argc, argv);
    term_printf(stderr,
                "usage: unum meeting summarize (--recording ID | FILE.wav) --template NAME\n"
                "                              [--persona NAME] [-m MODEL] [--report-model MODEL]\n"
                "                              [--whisper MODEL] [-o REPORT.md]\n"
                "                              [--draft D [--draft-n K] | --stage2 M "
                "[--escalate-below P]]\n"
                "                              [--lora DIR[:SCALE]]... (in place of the "
                "template's adapters)\n"
                "       unum meeting list | show ID | export ID [--format md|json|vtt|srt]\n"
                "       unum meeting speakers ID [LABEL=NAME | LABEL=]...\n");
    return EXIT_USAGE;
}
