/* appconfig.h - the app's settings file, $XDG_CONFIG_HOME/unum/config
 * (default ~/.config/unum/config).
 *
 *   # comments and blank lines are ignored
 *   model = Qwen/Qwen2.5-0.5B-Instruct     language model (directory or repo id)
 *   whisper = openai/whisper-base          speech model for the transcript pane
 *   theme = dark                           themes/NAME.theme
 *   backend = auto                         auto, cpu or cuda
 *   threads = 0                            CPU threads (0: all cores)
 *   temperature = 0.7                      sampling (default: the model's
 *   top_p = 0.8                            generation_config.json)
 *   top_k = 20
 *   max_tokens = 1024                      longest reply
 *   ctx = 4096                             context positions (0: model default)
 *   persona = assistant                    persona chosen at start
 *   remote_model = NAME                    the model of a server given as
 *                                          model = http(s)://HOST/v1
 *   report_model = openbmb/AgentCPM-Report  the meeting report writer
 *                                          (default: model)
 *   stage2 = Qwen/Qwen2.5-7B-Instruct      a second stage for unsure replies
 *   escalate_below = 0.3                   its threshold (unum calibrate)
 *   stage2_backend = cpu                   where the second stage runs
 *   draft = Qwen/Qwen2.5-0.5B-Instruct     a small model that drafts replies
 *                                          (speculative decoding: the same
 *                                          replies, sooner)
 *   draft_n = 5                            tokens drafted per round at most
 *   adapter = DIR[:SCALE] | DESCRIPTION    a LoRA adapter the router may pick
 *                                          (repeatable; DIR a folder or repo id)
 *   lora = auto                            the router picks one per reply
 *                                          (off: never; the default)
 *   lora_threshold = 0.5                   the least cosine it picks at
 *   mouse = on                             on: click focuses, the wheel
 *                                          scrolls; off: the terminal
 *                                          selects text as usual
 *   mem_budget = 8G                        the memory of all the app's models
 *                                          together (as --mem-budget; default:
 *                                          the device's less a margin)
 *
 * The file is read as hostile: a line longer than 4 KiB, a file over 64 KiB,
 * an unknown key, a bad number or a repeated key (adapter may repeat) is
 * an error naming FILE:LINE; so is an adapter line without a description
 * after '|'. A value is the text after the '=' up to a comment, blanks
 * around it trimmed; a comment starts at a '#' that follows a blank (or
 * begins the value), so "model = DIR   # note" is DIR and "a#b" keeps its
 * '#'. A value in double quotes is the text between them, '#' and blanks
 * included: theme = "odd # name". app_config_set writes a value in quotes
 * when it needs them. */
#ifndef UNUM_CONFIG_APP_H
#define UNUM_CONFIG_APP_H

#include "engine/router.h"

#include <stddef.h>

typedef struct {
    char *model, *whisper, *theme, *backend, *persona;
    char *remote_model; /* with model = URL: the server's model (NULL: its first) */
    char *stage2, *stage2_backend; /* the cascade's second stage (NULL: none) */
    char *report_model;            /* meeting reports' writer (NULL: model) */
    char *draft;                   /* drafts chat replies (NULL: none) */
    int draft_n;                   /* 0: SPEC_DRAFT_N_DEFAULT */
    float escalate_below;          /* < 0: the default */
    int threads, top_k, max_tokens, ctx;
    float temperature, top_p; /* < 0: the model's default */
    int have_top_k;
    RouterEntry *adapters; /* adapter = lines, in order */
    int n_adapters;
    int lora_auto;        /* lora = auto */
    float lora_threshold; /* < 0: ROUTER_THRESHOLD_DEFAULT */
    int mouse;            /* 1: the app takes mouse clicks and the wheel */
    size_t mem_budget;    /* bytes (0: models_default_budget_for) */
} AppConfig;

/* Defaults: nothing set (backend NULL: auto), threads 0, max_tokens 1024,
 * mouse on. */
void app_config_defaults(AppConfig *c);
/* Parses a config file's text (name for messages). 0, or -1 with the error. */
int app_config_parse(AppConfig *c, const char *text, size_t len, const char *name);
/* Reads path (a missing file, or path NULL, is not an error: defaults stay). */
int app_config_load(AppConfig *c, const char *path);
void app_config_free(AppConfig *c);

/* $XDG_CONFIG_HOME/unum/NAME (else ~/.config/unum/NAME), new string; NULL
 * when neither is set (engine/base/paths.h), which app_config_load reads as
 * no file and app_config_set refuses. */
char *app_config_path(const char *name);
/* Creates the folders above path (the settings folder); 0 or -1. */
int app_config_mkdir(const char *path);
/* Sets key = value in the file at path, keeping its other lines and
 * comments (creates the file and its folder when missing); atomic. */
int app_config_set(const char *path, const char *key, const char *value);

#endif
