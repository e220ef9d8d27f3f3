/* cli_models.h - the command line's several-models-as-one options, shared
 * by run and bench: speculative decoding (--draft D [--draft-n K]), the
 * confidence cascade (--stage2 M [--escalate-below P]), remote models
 * (--remote-model NAME for an http(s) URL), the memory budget the models
 * share (--mem-budget SIZE, engine/models.h), and `unum calibrate`.
 *
 * cli_run parses these flags with cli_models_flag and hands generation to
 * cli_models_generate, which loads the other models and picks the path. */
#ifndef UNUM_CLI_MODELS_H
#define UNUM_CLI_MODELS_H

#include "engine/engine.h"
#include "engine/models.h"
#include "engine/remote.h"
#include "engine/speculative.h"
#include "tui/core/args.h"

typedef struct {
    const char *draft;     /* --draft */
    int draft_n;           /* --draft-n (0: the default) */
    const char *stage2;    /* --stage2 */
    double escalate_below; /* --escalate-below (valid when have_escalate) */
    int have_escalate;
    const char *remote_model;   /* --remote-model */
    const char *stage2_backend; /* --stage2-backend */
    size_t mem_budget;          /* --mem-budget (0: models_default_budget) */
} CliModels;

/* The default threshold of the cascade. */
#define CLI_ESCALATE_DEFAULT 0.3

/* Consumes one of the flags above at a->argv[a->i]: 1 when it did (a->bad
 * set on a bad value), 0 when the flag is not one of them. */
int cli_models_flag(Args *a, CliModels *cm);

/* What the prompt was made from, so that a second stage with its own
 * tokenizer or a remote server can be given the same request. */
typedef struct {
    const char *system; /* NULL: the model's default */
    const char *text;   /* NULL when the prompt came as ids */
    int raw;            /* no chat template */
    const int32_t *ids; /* e's prompt */
    size_t n;
} CliPrompt;

/* The prompt for a local model e: the same ids when they came as ids, else
 * the text through e's tokenizer and chat template (appended to out). */
int cli_models_prompt(const Engine *e, const CliPrompt *pr, IdVec *out);

/* Generates for the prompt with e, drafted or cascaded as cm says, loading
 * the draft or second stage with eo. Tokens go to fn as engine_generate
 * sends them. With a cascade, stage 1's tokens go to fn as they come when
 * stdout is a terminal (stage 2's then follow), else only the answer that
 * stands is sent. A cancel of e (Ctrl-C) stops whichever stage runs.
 * verbose: the acceptance rate or the answering stage on stderr.
 * 0, or -1 with the error set. */
int cli_models_generate(const CliModels *cm, Engine *e, const EngineOptions *eo,
                        const CliPrompt *pr, const GenerateParams *gp, engine_token_fn fn,
                        void *user, GenerateStats *st, int verbose);

/* run -m URL: the prompt answered by the server at url (--remote-model or
 * its first model), streamed to fn as text pieces (id -1), then a newline;
 * Ctrl-C cancels. With --stage2, the server is stage 1 and must return
 * logprobs; --draft is refused. 0, or -1 with the error set. */
int cli_models_run_remote(const CliModels *cm, const char *url, const CliPrompt *pr,
                          const RemoteParams *rp, const EngineOptions *eo, engine_token_fn fn,
                          void *user, int verbose);

/* The draft for target e (loaded from the folder target), loaded with eo
 * (no adapters) within ms's budget, where e is adopted; checked to share
 * e's tokens (spec_check_pair). A URL as either is refused before ms or
 * e is touched (verifying needs logits at every drafted position). NULL
 * with the error set. */
Engine *cli_models_load_draft(Models *ms, const char *draft, const char *target, Engine *e,
                              const EngineOptions *eo);
/* "unum: draft: A of D drafted tokens accepted ..." on stderr. */
void cli_models_report_spec(const SpecStats *ss, const GenerateStats *st);

/* bench with a draft: the same measurements as bench plus the draft's
 * acceptance rate and tokens per target forward (--json adds
 * draft_accept_rate and tokens_per_target_forward). */
int cli_bench_draft(const char *model, const char *draft, int draft_n, const EngineOptions *eo,
                    int plen, int gen, int reps, int json);

/* unum calibrate -m SMALL (cli_calibrate.c) --stage2 BIG --prompts FILE --rate R [-n N]
 * [--save]: --save writes stage2 and escalate_below into the app's
 * settings file. */
int cli_calibrate(int argc, char **argv);

#endif
