/* fuzz_whisper_vocab.c - libFuzzer target for a Whisper model's
 * generation_config.json as transcribe.c reads it.
 *
 * A small Whisper tokenizer (the 256 byte symbols, a few merges, Whisper's
 * special tokens and 1501 timestamps) is built once; each input is parsed as
 * generation_config.json for a model of that many ids and, when it loads,
 * every id it lists must lie inside the model's. Seeds:
 * tests/fuzz/seeds/fuzz_whisper_vocab/. */
#include "engine/tokenizer.h"
#include "engine/transcribe.h"
#include "engine/base/util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static Tokenizer *tok;
static int n_ids;

/* GPT-2's byte-to-symbol map: printable Latin-1 bytes stand for themselves,
 * the rest are shifted to U+0100 and up. */
static void byte_symbol(int b, char out[4]) {
    int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    static int shift[256], ready;
    if (!ready) {
        int n = 0;
        for (int i = 0; i < 256; i++) {
            int p = (i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255);
            shift[i] = p ? i : 256 + n++;
        }
        ready = 1;
    }
    int cp = printable ? b : shift[b];
    if (cp < 0x80) out[0] = (char)cp, out[1] = 0;
    else out[0] = (char)(0xc0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3f)), out[2] = 0;
}

static void build(void) {
    size_t cap = 1 << 20, n = 0;
    char *j = malloc(cap);
    if (!j) abort();
#define PUT(...) (n += (size_t)snprintf(j + n, cap - n, __VA_ARGS__))
    PUT("{\"version\":\"1.0\",\"added_tokens\":[");
    static const char *specials[] = {"<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|de|>",
                                     "<|translate|>", "<|transcribe|>", "<|startoflm|>",
                                     "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"};
    int id = 256 + 1; /* byte symbols and one merge */
    for (size_t i = 0; i < sizeof specials / sizeof *specials; i++, id++)
        PUT("%s{\"id\":%d,\"content\":\"%s\",\"special\":true}", i ? "," : "", id, specials[i]);
    for (int k = 0; k <= 1500; k++, id++)
        PUT(",{\"id\":%d,\"content\":\"<|%d.%02d|>\",\"special\":false}", id, k * 2 / 100,
            k * 2 % 100);
    PUT("],\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":"
        "false,\"use_regex\":true},\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":"
        "\"BPE\",\"vocab\":{");
    for (int b = 0; b < 256; b++) {
        char s[4];
        byte_symbol(b, s);
        PUT("%s\"%s%s\":%d", b ? "," : "", s[0] == '"' || s[0] == '\\' ? "\\" : "", s, b);
    }
    PUT(",\"\xc4\xa0-\":256},\"merges\":[\"\xc4\xa0 -\"]}}");
#undef PUT
    tok = tokenizer_load_buffer(j, n, "fuzz-tokenizer.json");
    free(j);
    if (!tok) {
        fprintf(stderr, "fuzz_whisper_vocab: %s\n", unum_error());
        abort();
    }
    n_ids = tokenizer_n_vocab(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!tok) build();
    WhisperVocab v;
    if (whisper_vocab_load(&v, tok, n_ids, (const char *)data, size, "generation_config.json",
                           "tokenizer.json") == 0) {
        for (int i = 0; i < v.n_suppress; i++)
            if (v.suppress[i] < 0 || v.suppress[i] >= n_ids) abort();
        for (int i = 0; i < v.n_begin_suppress; i++)
            if (v.begin_suppress[i] < 0 || v.begin_suppress[i] >= n_ids) abort();
        if (v.ts_begin + 1500 >= n_ids || v.max_initial_ts < 0 || v.max_initial_ts > 1500)
            abort();
        whisper_vocab_free(&v);
    }
    return 0;
}
