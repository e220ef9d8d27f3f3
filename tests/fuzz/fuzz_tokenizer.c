/* fuzz_tokenizer.c - libFuzzer target for tokenizer.json parsing.
 *
 * The input is a tokenizer.json. When it loads, fixed texts (scripts,
 * whitespace runs, an emoji, a combining mark, special-token strings, a
 * SentencePiece metasymbol) are
 * encoded with and without special tokens, decoded whole and streamed, and a few ids at
 * and past the ends of the vocabulary are decoded. Streaming must always
 * give the same bytes as the whole decode. Seeds: tests/fuzz/seeds/fuzz_tokenizer/. */
#include "engine/tokenizer.h"
#include "engine/base/util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first text needs most byte symbols; the others suit small vocabularies. */
static const char *const texts[] = {
    ("Hello, w\xc3\xb6rld! I'M 12345 <|im_start|><think>e\xcc\x81 \t\n\n  "
     "\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 ab  "),
    "Hello, world!",
    "ab ab aab <s>xx",
    /* SentencePiece-style files: a literal metasymbol, a byte token's text,
     * spaces around an added token */
    " \xe2\x96\x81" "a  b<s> ab <0x41>\xc3\xa9\n",
};

/* Streams ids into one string and compares it with the whole decode. */
static void check_stream(const Tokenizer *t, const IdVec *v, const char *whole) {
    size_t cap = tokenizer_stream_cap(t), len = 0;
    char *buf = malloc(cap);
    if (!buf) abort();
    TokStream s = {0};
    for (size_t i = 0; i <= v->n; i++) {
        int k = i < v->n ? tokenizer_stream(t, &s, v->v[i], buf, cap)
                         : tokenizer_stream_flush(&s, buf, cap);
        if (k < 0 || len + (size_t)k > strlen(whole) || memcmp(whole + len, buf, (size_t)k) != 0) {
            fprintf(stderr, "streamed decode differs from the whole decode: %s\n", unum_error());
            abort();
        }
        len += (size_t)k;
    }
    if (len != strlen(whole)) abort();
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Tokenizer *t = tokenizer_load_buffer((const char *)data, size, "fuzz.json");
    if (!t) return 0;
    for (int k = 0; k < 8; k++) {
        IdVec v = {0};
        if (tokenizer_encode(t, texts[k / 2], strlen(texts[k / 2]), k % 2, &v) == 0) {
            char *whole = tokenizer_decode(t, v.v, v.n);
            if (!whole) abort(); /* every id encode gives must decode */
            check_stream(t, &v, whole);
            free(whole);
        }
        idvec_free(&v);
    }
    int32_t probe[] = {0, tokenizer_n_vocab(t) - 1, tokenizer_n_vocab(t), -1};
    for (size_t i = 0; i < sizeof probe / sizeof probe[0]; i++)
        free(tokenizer_decode(t, &probe[i], 1));
    (void)tokenizer_token_id(t, "<|im_start|>");
    (void)tokenizer_is_special(t, probe[1]);
    tokenizer_free(t);
    return 0;
}
