/* main.c - program entry: dispatches the subcommands. */
#include "tui/app/app.h"
#include "tui/core/args.h"
#include "tui/cli/cli.h"
#include "tui/cli/cli_audio.h"
#include "tui/cli/cli_lora.h"
#include "tui/cli/cli_meeting.h"
#include "tui/cli/cli_merge.h"
#include "tui/cli/cli_models.h"
#include "tui/cli/cli_pull.h"
#include "tui/cli/cli_store.h"
#include "tui/cli/cli_whisper.h"
#include "tui/cli/common.h"
#include "engine/base/termsafe.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: unum [--db PATH] [-m MODEL] [--whisper SPEECH_MODEL] [--theme NAME]\n"
    "                                  the terminal app (chat, transcript, personas, templates)\n"
    "       unum [--db PATH] COMMAND [options]\n"
    "\n"
    "  run -m MODEL [-p TEXT | -f FILE | --prompt-ids FILE] [--system TEXT | --persona NAME]\n"
    "      [--raw] [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R]\n"
    "      [--seed S] [--ignore-eos] [--ids] [--backend auto|cpu|cuda] [--threads N]\n"
    "      [--ctx N] [-v] [--audio FILE.wav] [--keep-escapes] [--lora DIR[:SCALE]]...\n"
    "      [--draft D [--draft-n K]] [--stage2 M [--escalate-below P] [--stage2-backend B]]\n"
    "      [--remote-model NAME] [--mem-budget SIZE] [--lora auto [--lora-threshold T]]\n"
    "                                  generate a reply (chat template unless --raw);\n"
    "                                  --lora auto: the settings file's adapter nearest the prompt\n"
    "  tokenize -m MODEL [--special]   stdin text -> token ids on one line\n"
    "  detokenize -m MODEL             stdin token ids -> text\n"
    "  logits -m MODEL --ids FILE -o OUT.f32 [--backend B] [--audio FILE.wav]\n"
    "        [--lora DIR[:SCALE]]...\n"
    "                                  float32 logits [T x vocab] of every position\n"
    "  bench -m MODEL [--backend B] [--threads N] [--prompt-len N] [--gen N] [--reps N] "
    "[--json]\n"
    "        [--lora DIR[:SCALE]]...\n"
    "                                  --lora: a PEFT LoRA adapter applied with its scale\n"
    "                                  (repeatable; docs/adapters.md)\n"
    "      [--draft D [--draft-n K]]\n"
    "      [--audio FILE.wav]          VibeVoice-ASR: also the speech encoders on the file\n"
    "                                  (best of --reps; seconds per minute of audio)\n"
    "  calibrate -m SMALL --stage2 BIG --prompts FILE --rate R [-n N] [--save]\n"
    "                                  the --escalate-below that escalates about R of the prompts\n"
    "  persona list | show NAME | add NAME (--prompt TEXT | --file F.json)\n"
    "        | edit NAME --file F.json | rm NAME | export NAME | import F.json\n"
    "                                  personas (JSON: name, description, system_prompt, style)\n"
    "  template list | show NAME | add NAME --file F.json | edit NAME --file F.json\n"
    "        | rm NAME | export NAME | import F.json\n"
    "                                  report templates (JSON: name, description, sections)\n"
    "  sessions list | show ID | export ID --format md|json | rm ID\n"
    "                                  saved chat sessions\n"
    "  search QUERY                    full-text search of messages and transcripts;\n"
    "                                  one line per hit: kind, id, snippet\n"
    "  record -o FILE.wav [--seconds N] [--device NAME] [--list-devices]\n"
    "                                  record 16 kHz mono WAV from a microphone\n"
    "  mel -m WHISPER FILE.wav -o OUT.f32\n"
    "                                  float32 [n_mels x 3000] log-mel of the first 30 s\n"
    "  transcribe -m SPEECH_MODEL [--language xx] [--timestamps] [--json] [--beam N] FILE.wav\n"
    "        [--translate] [--temp T] [--no-fallback] [--best-of N] [--no-condition]\n"
    "        [--seed S] [--stream] [-n N] [--backend B] [--threads N] [-v]\n"
    "                                  speech to text, segment by segment; a VibeVoice-ASR\n"
    "                                  model names speakers ([00:01.20 -> 00:04.00] S1: text)\n"
    "                                  in one pass over the file, -n capping its output tokens\n"
    "  meeting summarize (--recording ID | FILE.wav) --template NAME [--persona NAME]\n"
    "        [-m MODEL] [--whisper SPEECH_MODEL] [-o REPORT.md] [--lora DIR[:SCALE]]...\n"
    "        [--report-model M] [--draft D [--draft-n K] | --stage2 M [--escalate-below P]]\n"
    "  meeting list | show ID | export ID [--format md|json|vtt|srt]\n"
    "                                  meeting reports from recordings\n"
    "  meeting speakers ID [LABEL=NAME | LABEL=]...\n"
    "                                  list a recording's speakers, or name them (S1=Priya;\n"
    "                                  S1= takes the name away)\n"
    "  pull REPO [--revision REV] [--max-unverified SIZE]\n"
    "                                  download ORG/NAME from the Hugging Face hub into\n"
    "                                  $XDG_DATA_HOME/unum/models (HF_ENDPOINT, HF_TOKEN)\n"
    "  merge --method linear|task_arithmetic|ties|dare_ties|dare_linear|slerp [--base DIR]\n"
    "        [--t T] [--seed S] [--out-dtype f32|bf16|f16] -o OUT_DIR MODEL[:WEIGHT[:DENSITY]]...\n"
    "  merge --base DIR --lora ADAPTER[:SCALE]... -o OUT_DIR\n"
    "                                  merge checkpoints, or bake adapters into a base\n"
    "  lora extract --base DIR --tuned DIR --rank R [--targets M,...] -o ADAPTER_DIR\n"
    "                                  a LoRA adapter from two checkpoints (truncated SVD)\n"
    "\n"
    "--db PATH picks the database (default $XDG_DATA_HOME/unum/unum.db).\n"
    "MODEL is a Hugging Face model directory or a repo id ORG/NAME found in\n"
    "$XDG_DATA_HOME/unum/models or the Hugging Face cache, or the http(s) URL of an\n"
    "OpenAI-compatible server (.../v1; key from UNUM_API_KEY or OPENAI_API_KEY).\n";

/* The program's version, as `unum --version` prints it. */
#define UNUM_VERSION "0.9.0"

/* Prints the entries of cmd in the usage text above: its lines (two
 * spaces, then the command) and their continuation lines, as a usage of
 * its own. The usage text is the one place each command's form is written,
 * so `unum COMMAND --help` and `unum --help` cannot disagree. */
static void command_usage(const char *cmd) {
    size_t n = strlen(cmd);
    int in = 0, first = 1;
    for (const char *l = usage; *l;) {
        const char *end = strchr(l, '\n');
        size_t len = end ? (size_t)(end - l) : strlen(l);
        int entry = len > 2 && l[0] == ' ' && l[1] == ' ' && l[2] != ' ';
        if (entry)
            in = len >= n + 2 && !strncmp(l + 2, cmd, n) && (l[n + 2] == ' ' || len == n + 2);
        else if (len < 3 || l[0] != ' ') in = 0;
        if (in && entry) {
            printf("%s unum %.*s\n", first ? "usage:" : "      ", (int)(len - 2), l + 2);
            first = 0;
        } else if (in) {
            printf("     %.*s\n", (int)len, l);
        }
        l += len + (end != NULL);
    }
    fputs("\n--db PATH (before the command) picks the database; `unum --help` lists every "
          "command.\n",
          stdout);
}

static int is_help(const char *s) { return s && (!strcmp(s, "--help") || !strcmp(s, "-h")); }

int main(int argc, char **argv) {
    /* Global options come before the command. */
    while (argc > 1 && !strncmp(argv[1], "--db", 4)) {
        const char *path = NULL;
        if (!strcmp(argv[1], "--db") && argc > 2) {
            path = argv[2];
            argv[2] = argv[0];
            argc -= 2, argv += 2;
        } else if (!strncmp(argv[1], "--db=", 5)) {
            path = argv[1] + 5;
            argv[1] = argv[0];
            argc -= 1, argv += 1;
        } else if (!strcmp(argv[1], "--db")) {
            fputs("unum: --db needs a value\n", stderr);
            return EXIT_USAGE;
        } else {
            break;
        }
        if (!path[0]) {
            fputs("unum: --db: the path is empty\n", stderr);
            return EXIT_USAGE;
        }
        cli_set_db(path);
    }
    const char *cmd = argc > 1 ? argv[1] : NULL;
    if (!cmd || !strcmp(cmd, "-m") || !strcmp(cmd, "--model") || !strcmp(cmd, "--whisper") ||
        !strcmp(cmd, "--speech-model") || !strcmp(cmd, "--theme") || !strncmp(cmd, "--model=", 8) ||
        !strncmp(cmd, "--whisper=", 10) || !strncmp(cmd, "--theme=", 8)) {
        AppArgs app = {.db = cli_db()};
        int rc = app_parse_args(argc, argv, &app);
        return rc ? rc : app_main(&app);
    }
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        puts("unum " UNUM_VERSION);
        return 0;
    }
    struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {{"run", cli_run},
                {"tokenize", cli_tokenize},
                {"detokenize", cli_detokenize},
                {"logits", cli_logits},
                {"bench", cli_bench},
                {"calibrate", cli_calibrate},
                {"persona", cli_persona},
                {"template", cli_template},
                {"sessions", cli_sessions},
                {"search", cli_search},
                {"record", cli_record},
                {"mel", cli_mel},
                {"transcribe", cli_transcribe},
                {"meeting", cli_meeting},
                {"pull", cli_pull},
                {"merge", cli_merge},
                {"lora", cli_lora}};
    /* COMMAND --help, or COMMAND SUBCOMMAND --help (a word, not an
     * option's value): the usage, and nothing of the command runs */
    const char *a2 = argc > 2 ? argv[2] : NULL, *a3 = argc > 3 ? argv[3] : NULL;
    int help = is_help(a2) || (a2 && a2[0] >= 'a' && a2[0] <= 'z' && is_help(a3));
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(cmd, cmds[i].name)) continue;
        if (help) return command_usage(cmd), 0;
        return cmds[i].fn(argc - 1, argv + 1);
    }
    term_printf(stderr, "unum: unknown command '%s'\n\n%s", cmd, usage);
    return EXIT_USAGE;
}
