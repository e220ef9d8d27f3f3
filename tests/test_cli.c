/* test_cli.c - the command line as a user drives it: exit codes (0 ok, 1
 * runtime error, 2 usage), messages naming the value at fault, and outputs
 * that agree with the engine API and the reference goldens. */
#include "engine/chat.h"
#include "tests/test.h"
#include "engine/tokenizer.h"
#include "tui/app/keys.h"
#include "engine/base/util.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

TEST(cli_usage_errors_exit_2) {
    char *err = NULL;
    CHECK_EQ_INT(test_sh(NULL, &err, "$U"), 2);
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err, "$U frobnicate"), 2);
    CHECK_CONTAINS(err, "frobnicate");
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err, "$U run -p hi"), 2);
    CHECK_CONTAINS(err, "-m");
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err, "$U run -m $F/tiny-bf16 -p hi --temp warm"), 2);
    CHECK_CONTAINS(err, "--temp");
    CHECK_CONTAINS(err, "warm");
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err, "$U run -m $F/tiny-bf16 -p hi --top-p 2"), 2);
    CHECK_CONTAINS(err, "--top-p");
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err, "$U run -m $F/tiny-bf16 -p hi -n"), 2);
    CHECK_CONTAINS(err, "-n needs a value");
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err, "$U logits -m $F/tiny-bf16"), 2);
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err, "$U run -m $F/tiny-bf16 -p hi --backend tpu"), 2);
    CHECK_CONTAINS(err, "tpu");
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err, "$U bench -m $F/tiny-bf16 --wat"), 2);
    CHECK_CONTAINS(err, "--wat");
    free(err);
    char *out = NULL;
    CHECK_EQ_INT(test_sh(&out, NULL, "$U --help"), 0);
    CHECK_CONTAINS(out, "tokenize");
    free(out);
}

/* Every command the usage text lists, and every subcommand it names (a
 * word after the command or after " | "), answers --help and -h with its
 * own usage on stdout and exit 0, and runs nothing: the database given
 * with --db is never created (`unum search --help` must not search).
 * --version prints the version. */
TEST(cli_every_command_answers_help) {
    char *usage = NULL;
    REQUIRE(test_sh(&usage, NULL, "$U --help") == 0 && usage);
    char *dir = test_tmpdir(), *db = unum_path_join(dir, "never.db");
    int commands = 0, subcommands = 0;
    char cmd[64] = "";
    for (char *save = NULL, *l = strtok_r(usage, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        const char *words = NULL;
        if (l[0] == ' ' && l[1] == ' ' && l[2] >= 'a' && l[2] <= 'z') { /* a command's entry */
            size_t n = strcspn(l + 2, " ");
            snprintf(cmd, sizeof cmd, "%.*s", (int)n, l + 2);
            words = l + 2;
            for (int flag = 0; flag < 2; flag++) {
                char *out = NULL, *err = NULL, want[96];
                CHECK_EQ_INT(
                    test_sh(&out, &err, "$U --db %s %s %s", db, cmd, flag ? "-h" : "--help"), 0);
                snprintf(want, sizeof want, "usage: unum %s", cmd);
                CHECK_CONTAINS(out, want);
                CHECK(err && !err[0]);
                free(out);
                free(err);
            }
            commands++;
        } else if (cmd[0] && l[0] == ' ' && strstr(l, "| ")) {
            words = l; /* a continuation that names more subcommands */
        }
        /* the subcommands: a lowercase word after the command or a "|" */
        char line[1024], prev[64] = "";
        snprintf(line, sizeof line, "%s", words ? words : "");
        for (char *s2 = NULL, *w = strtok_r(line, " ", &s2); w; w = strtok_r(NULL, " ", &s2)) {
            int word = strspn(w, "abcdefghijklmnopqrstuvwxyz") == strlen(w);
            if (word && (!strcmp(prev, "|") || !strcmp(prev, cmd))) {
                char *out = NULL;
                CHECK_EQ_INT(test_sh(&out, NULL, "$U --db %s %s %s --help", db, cmd, w), 0);
                CHECK_CONTAINS(out, "usage: unum");
                free(out);
                subcommands++;
            }
            snprintf(prev, sizeof prev, "%s", w);
        }
    }
    printf("  %d commands, %d subcommands\n", commands, subcommands);
    CHECK(commands >= 17);
    CHECK(subcommands >= 10);
    CHECK(!unum_file_exists(db));
    char *out = NULL;
    CHECK_EQ_INT(test_sh(&out, NULL, "$U --version"), 0);
    CHECK(out && !strncmp(out, "unum ", 5) && out[5] >= '0' && out[5] <= '9');
    free(out);
    free(db);
    test_tmp_remove(dir);
    free(usage);
}

/* s with roff's escaped hyphen for every '-' (new string). */
static char *roff_hyphens(const char *s) {
    char *out = xmalloc(2 * strlen(s) + 1), *o = out;
    for (; *s; s++) {
        if (*s == '-') *o++ = '\\';
        *o++ = *s;
    }
    *o = 0;
    return out;
}

/* docs/unum.1 names every command of the usage text in its COMMANDS
 * section, and every action of the key table with its default keys in
 * its KEYS section. */
TEST(docs_man_page_lists_every_command_and_key) {
    char *path = unum_path_join(test_root(), "docs/unum.1");
    char *man = unum_read_file(path, 1 << 20, NULL), *usage = NULL;
    free(path);
    REQUIRE(man && test_sh(&usage, NULL, "$U --help") == 0 && usage);
    char *cmds = strstr(man, ".SH COMMANDS"), *keys = strstr(man, ".SH KEYS");
    REQUIRE(cmds && keys && cmds < keys);
    /* the commands the section names: the words of its ".B a, b" lines */
    char named[4096] = " ";
    for (char *at = cmds; (at = strstr(at, "\n.B ")) && at < keys; at += 4) {
        size_t len = strcspn(at + 4, "\n");
        strncat(named, at + 4, len < 200 ? len : 200);
        strcat(named, " ");
    }
    for (char *c = named; *c; c++)
        if (*c == ',') *c = ' ';
    for (char *save = NULL, *l = strtok_r(usage, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (!(l[0] == ' ' && l[1] == ' ' && l[2] >= 'a' && l[2] <= 'z')) continue;
        char word[80];
        snprintf(word, sizeof word, " %.*s ", (int)strcspn(l + 2, " "), l + 2);
        if (!strstr(named, word))
            test_fail(__FILE__, __LINE__, "docs/unum.1's COMMANDS lacks%s", word);
    }
    Keymap m;
    keys_defaults(&m);
    for (int a = 0; a < KEYS_N_ACTIONS; a++) {
        char want[256], *name = roff_hyphens(keys_action_name((KeyAction)a));
        snprintf(want, sizeof want, "(\\fI%s\\fR)", name);
        free(name);
        char *entry = strstr(keys, want);
        if (!entry) {
            test_fail(__FILE__, __LINE__, "docs/unum.1 KEYS lacks the action %s",
                      keys_action_name((KeyAction)a));
            continue;
        }
        /* its ".B KEY, KEY" line is the one just before */
        char *line_end = entry;
        while (line_end > keys && line_end[-1] != '\n') line_end--;
        char *b = line_end - 1;
        while (b > keys && b[-1] != '\n') b--;
        for (int k = 0; k < m.n[a]; k++) {
            char kn[KEYS_NAME_MAX], *esc = roff_hyphens(keys_name(m.key[a][k], kn));
            char *hit = strstr(b, esc);
            if (!(hit && hit < line_end))
                test_fail(__FILE__, __LINE__, "docs/unum.1: %s lacks its key %s",
                          keys_action_name((KeyAction)a), kn);
            free(esc);
        }
    }
    free(usage);
    free(man);
}

TEST(cli_runtime_errors_exit_1_and_name_the_culprit) {
    char *err = NULL;
    CHECK_EQ_INT(test_sh(NULL, &err, "$U run -m /nonexistent/model -p hi"), 1);
    CHECK_CONTAINS(err, "/nonexistent/model");
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err, "$U run -m NoSuchOrg/NoSuchModel -p hi"), 1);
    CHECK_CONTAINS(err, "models--NoSuchOrg--NoSuchModel");
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err, "$U run -m $F/tiny-bf16 -p hi --backend cuda"), 1);
    CHECK_CONTAINS(err, "CUDA");
    free(err);

    CHECK_EQ_INT(test_sh(NULL, &err,
                         "echo '1 2 99999' > /tmp/unum-bad.ids; "
                         "$U logits -m $F/tiny-bf16 --ids /tmp/unum-bad.ids -o /tmp/unum.f32"),
                 1);
    CHECK_CONTAINS(err, "99999");
    CHECK_CONTAINS(err, "/tmp/unum-bad.ids");
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err,
                         "echo '1 2 x3' > /tmp/unum-bad.ids; "
                         "$U logits -m $F/tiny-bf16 --ids /tmp/unum-bad.ids -o /tmp/unum.f32"),
                 1);
    CHECK_CONTAINS(err, "item 3");
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err,
                         "echo '5 6' > /tmp/unum-ok.ids; "
                         "$U logits -m $F/tiny-bf16 --ids /tmp/unum-ok.ids -o /nonexistent/x.f32"),
                 1);
    CHECK_CONTAINS(err, "/nonexistent/x.f32");
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err, "echo 5 400 | $U detokenize -m $F/tiny-bf16"), 1);
    CHECK_CONTAINS(err, "400");
    free(err);
    CHECK_EQ_INT(test_sh(NULL, &err, "$U run -m $F/tiny-bf16 -f /nonexistent/prompt.txt"), 1);
    CHECK_CONTAINS(err, "/nonexistent/prompt.txt");
    free(err);
    unlink("/tmp/unum-bad.ids");
    unlink("/tmp/unum-ok.ids");
}

TEST(cli_run_greedy_ids_match_reference) {
    static const char *presets[] = {"tiny-bf16", "tiny-mqa-bf16", "tiny-sharded-bf16"};
    for (int i = 0; i < 3; i++) {
        char *out = NULL, *err = NULL;
        int rc =
            test_sh(&out, &err,
                    "$U run -m $F/%s --prompt-ids %s/tests/golden/%s/prompt.ids -n 16 --temp 0 "
                    "--repeat-penalty 1 --ignore-eos --ids",
                    presets[i], test_root(), presets[i]);
        char rel[128];
        snprintf(rel, sizeof rel, "tests/golden/%s/greedy.ids", presets[i]);
        char *gp = unum_path_join(test_root(), rel);
        char *want = unum_read_file(gp, 1 << 16, NULL);
        free(gp);
        CHECK_EQ_INT(rc, 0);
        REQUIRE(out && want);
        out[strcspn(out, "\n")] = want[strcspn(want, "\n")] = 0;
        CHECK_STR(out, want);
        free(out), free(err), free(want);
    }
}

TEST(cli_logits_file_matches_reference) {
    char *err = NULL;
    int rc = test_sh(
        NULL, &err,
        "$U logits -m $F/tiny-headdim-f16 --ids %s/tests/golden/tiny-headdim-f16/prompt.ids "
        "-o /tmp/unum-cli.f32",
        test_root());
    CHECK_EQ_INT(rc, 0);
    free(err);
    size_t n = 0, m = 0;
    float *got = (float *)unum_read_file("/tmp/unum-cli.f32", 1 << 24, &n);
    char *gp = unum_path_join(test_root(), "tests/golden/tiny-headdim-f16/logits.f32");
    float *ref = (float *)unum_read_file(gp, 1 << 24, &m);
    free(gp);
    REQUIRE(got && ref);
    CHECK_EQ_INT(n, 24 * 384 * 4);
    CHECK_EQ_INT(n, m);
    double worst = 0, mx = 0;
    for (size_t i = 0; i < m / 4 && i < n / 4; i++) {
        worst = fmax(worst, fabs(got[i] - ref[i]));
        mx = fmax(mx, fabs(ref[i]));
    }
    CHECK(worst < 2e-3 * mx);
    free(got), free(ref);
    unlink("/tmp/unum-cli.f32");
}

TEST(cli_tokenize_detokenize_round_trip_with_qwen_tokenizer) {
    char *dir = unum_path_join(test_fixtures(), "tiny-qwen-vocab");
    char *tp = unum_path_join(dir, "tokenizer.json");
    Tokenizer *t = tokenizer_load(tp);
    free(tp);
    REQUIRE(t);
    const char *text = "Hello, world! Ça va? 東京 \xf0\x9f\x91\x8b<|im_start|>  x\n";
    IdVec plain = {0}, special = {0};
    REQUIRE(tokenizer_encode(t, text, strlen(text), 0, &plain) == 0);
    REQUIRE(tokenizer_encode(t, text, strlen(text), 1, &special) == 0);
    CHECK(special.n < plain.n); /* <|im_start|> became one id */
    char *out = NULL;
    /* exact stdin bytes, trailing newline included */
    CHECK_EQ_INT(test_sh(&out, NULL,
                         "printf 'Hello, world! \\303\\207a va? \\346\\235\\261\\344\\272\\254 "
                         "\\360\\237\\221\\213<|im_start|>  x\\n' | $U tokenize -m %s",
                         dir),
                 0);
    char want[4096] = "";
    for (size_t i = 0; i < plain.n; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), i ? " %d" : "%d", plain.v[i]);
    strcat(want, "\n");
    CHECK_STR(out, want);
    free(out);
    CHECK_EQ_INT(test_sh(&out, NULL, "printf '<|im_start|>' | $U tokenize -m %s --special", dir),
                 0);
    CHECK_STR(out, "151644\n");
    free(out);
    CHECK_EQ_INT(test_sh(&out, NULL, "echo '%s' | $U detokenize -m %s", want, dir), 0);
    CHECK_STR(out, text);
    free(out);
    idvec_free(&plain);
    idvec_free(&special);
    tokenizer_free(t);
    free(dir);
}

TEST(cli_run_chat_template_and_bench_json) {
    char *out = NULL, *err = NULL;
    /* the chat template on the real tokenizer: reply tokens come back as text */
    CHECK_EQ_INT(test_sh(&out, &err,
                         "$U run -m $F/tiny-qwen-vocab -p 'Hi there' -n 8 --temp 0 --ignore-eos"),
                 0);
    CHECK(out && strlen(out) > 1);
    free(out), free(err);
    CHECK_EQ_INT(
        test_sh(&out, &err, "$U run -m $F/tiny-bf16 -p 'hello world' -n 5 --seed 3 --temp 1 --ids"),
        0);
    char *again = NULL;
    CHECK_EQ_INT(test_sh(&again, NULL,
                         "$U run -m $F/tiny-bf16 -p 'hello world' -n 5 --seed 3 --temp 1 --ids"),
                 0);
    CHECK_STR(out, again); /* seeded sampling is reproducible */
    free(out), free(err), free(again);
    CHECK_EQ_INT(
        test_sh(&out, &err,
                "$U bench -m $F/tiny-bf16 --threads 1 --prompt-len 9 --gen 3 --reps 1 --json"),
        0);
    static const char *keys[] = {"\"model\"",         "\"backend\":\"cpu\"", "\"threads\":1",
                                 "\"prompt_len\":9",  "\"gen\":3",           "\"load_s\"",
                                 "\"prefill_tok_s\"", "\"decode_tok_s\"",    "\"peak_rss_mb\"",
                                 "\"peak_vram_mb\""};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) CHECK_CONTAINS(out, keys[i]);
    free(out), free(err);
}

TEST(cli_ctrl_c_stops_generation_and_keeps_the_output) {
    char *out = NULL, *err = NULL;
    /* a generation far longer than the test; Ctrl-C after a moment */
    int rc = test_sh(&out, &err,
                     "$U run -m $F/tiny-bf16 -p 'hello' --ignore-eos --ids --temp 1 --seed 1 "
                     "-n 100000 --ctx 100100 & pid=$!; sleep 1; kill -INT $pid; wait $pid");
    CHECK_EQ_INT(rc, 1);
    CHECK_CONTAINS(err, "interrupted");
    CHECK(out && strlen(out) > 10); /* what was generated before the signal was printed */
    free(out), free(err);
}

/* ------------------------------------------------------------ chat */

TEST(chat_template_matches_chatml_and_default_system) {
    char *dir = unum_path_join(test_fixtures(), "tiny-bf16");
    int err;
    char *sys = chat_default_system(dir, &err);
    CHECK_EQ_INT(err, 0);
    CHECK_STR(sys, "You are a small test model.");
    char *tp = unum_path_join(dir, "tokenizer.json");
    Tokenizer *t = tokenizer_load(tp);
    free(tp);
    REQUIRE(t);
    ChatMsg msgs[2] = {{"system", sys, 0}, {"user", "hello <|im_start|> world", 0}};
    IdVec ids = {0}, whole = {0};
    REQUIRE(chat_encode(t, msgs, 2, 1, &ids) == 0);
    char *text = tokenizer_decode(t, ids.v, ids.n);
    const char *want = "<|im_start|>system\nYou are a small test model.<|im_end|>\n"
                       "<|im_start|>user\nhello <|im_start|> world<|im_end|>\n"
                       "<|im_start|>assistant\n";
    CHECK_STR(text, want);
    /* the user's "<|im_start|>" stays text: exactly three real turn markers */
    int32_t start = tokenizer_token_id(t, "<|im_start|>");
    int n_start = 0;
    for (size_t i = 0; i < ids.n; i++) n_start += ids.v[i] == start;
    CHECK_EQ_INT(n_start, 3);
    /* with no forged markers, the same as rendering and encoding with specials */
    msgs[1].content = "hello world";
    idvec_free(&ids);
    REQUIRE(chat_encode(t, msgs, 2, 1, &ids) == 0);
    const char *rendered = "<|im_start|>system\nYou are a small test model.<|im_end|>\n"
                           "<|im_start|>user\nhello world<|im_end|>\n<|im_start|>assistant\n";
    REQUIRE(tokenizer_encode(t, rendered, strlen(rendered), 1, &whole) == 0);
    CHECK(ids.n == whole.n && !memcmp(ids.v, whole.v, ids.n * sizeof(int32_t)));
    free(text), free(sys), free(dir);
    idvec_free(&ids), idvec_free(&whole);
    tokenizer_free(t);
}

/* chat_prompt: the one prompt builder. A voice turn is its clips where
 * the words go (then its text after a newline), and voice turns are
 * fitted into the context like text ones: the oldest turns go first, the
 * system turn stays, and a turn too long alone is an error. */
TEST(chat_prompt_fits_text_and_voice_turns_alike) {
    char *tp = unum_path_join(test_fixtures(), "tiny-bf16/tokenizer.json");
    Tokenizer *t = tokenizer_load(tp);
    free(tp);
    REQUIRE(t);
    ChatMsg voice = {"user", "and this", 2};
    ChatFit fit = {.default_system = "S", .clip_positions = 1};
    IdVec ids = {0};
    REQUIRE(chat_prompt(t, &voice, 1, &fit, &ids, NULL) == 0);
    int clips = 0;
    for (size_t i = 0; i < ids.n; i++) clips += ids.v[i] == CHAT_CLIP_ID;
    CHECK_EQ_INT(clips, 2);
    IdVec text = {0};
    for (size_t i = 0; i < ids.n; i++)
        if (ids.v[i] != CHAT_CLIP_ID) idvec_push(&text, ids.v[i]);
    char *s = tokenizer_decode(t, text.v, text.n);
    CHECK_STR(s, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n\nand this<|im_end|>\n"
                 "<|im_start|>assistant\n");
    free(s);
    idvec_free(&text);
    /* a conversation: system, an old voice turn of 3 clips, a reply, a new
     * text turn; each clip takes 100 positions once expanded */
    ChatMsg conv[4] = {
        {"system", "sys", 0}, {"user", NULL, 3}, {"assistant", "ok", 0}, {"user", "hello", 0}};
    fit = (ChatFit){.ctx = 0, .clip_positions = 100};
    int first = -1;
    REQUIRE(chat_prompt(t, conv, 4, &fit, &ids, &first) == 0);
    CHECK_EQ_INT(first, 1); /* no limit: everything */
    size_t whole = ids.n + 3 * 99;
    fit.ctx = (int)whole + 10, fit.room = 10; /* just fits */
    REQUIRE(chat_prompt(t, conv, 4, &fit, &ids, &first) == 0);
    CHECK_EQ_INT(first, 1);
    fit.room = 11; /* one short: the voice turn (the oldest) goes, not an error */
    REQUIRE(chat_prompt(t, conv, 4, &fit, &ids, &first) == 0);
    CHECK_EQ_INT(first, 2);
    clips = 0;
    for (size_t i = 0; i < ids.n; i++) clips += ids.v[i] == CHAT_CLIP_ID;
    CHECK_EQ_INT(clips, 0);
    s = tokenizer_decode(t, ids.v, ids.n);
    CHECK_CONTAINS(s, "<|im_start|>system\nsys<|im_end|>\n<|im_start|>assistant\nok");
    free(s);
    /* the newest turn alone too long: an error naming the context */
    ChatMsg big = {"user", NULL, 3};
    fit = (ChatFit){.ctx = 200, .clip_positions = 100};
    CHECK(chat_prompt(t, &big, 1, &fit, &ids, NULL) == -1);
    CHECK_ERR("does not fit the context of 200");
    idvec_free(&ids);
    tokenizer_free(t);
}

TEST(chat_default_system_from_qwen25_template) {
    char tmp[] = "/tmp/unum-chatXXXXXX";
    REQUIRE(mkdtemp(tmp));
    char *p = unum_path_join(tmp, "tokenizer_config.json");
    FILE *f = fopen(p, "w");
    REQUIRE(f);
    /* the shape of Qwen2.5-Instruct's template: a tools branch first, whose
     * default is a separate literal, then the plain branch */
    fputs("{\"chat_template\": \"{%- if tools %}\\n    {{- '<|im_start|>system\\\\n' }}\\n    "
          "{%- if messages[0]['role'] == 'system' %}\\n        {{- messages[0]['content'] }}\\n    "
          "{%- else %}\\n        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful "
          "assistant.' }}\\n    {%- endif %}\\n{%- else %}\\n    {%- if messages[0]['role'] == "
          "'system' %}\\n        {{- '<|im_start|>system\\\\n' + messages[0]['content'] + "
          "'<|im_end|>\\\\n' }}\\n    {%- else %}\\n        {{- '<|im_start|>system\\\\nYou are "
          "Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\\\n' }}\\n    "
          "{%- endif %}\\n{%- endif %}\"}",
          f);
    fclose(f);
    int err;
    char *sys = chat_default_system(tmp, &err);
    CHECK_STR(sys, "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
    free(sys);
    f = fopen(p, "w");
    fputs("{\"chat_template\": ", f); /* truncated */
    fclose(f);
    sys = chat_default_system(tmp, &err);
    CHECK(!sys && err == -1);
    CHECK_ERR("tokenizer_config.json");
    unlink(p);
    rmdir(tmp);
    free(p);
}
