/* tokenizer.h - BPE tokenizers read from a Hugging Face tokenizer.json:
 * byte-level BPE (the Qwen2 / GPT-2 family) and SentencePiece-style BPE with
 * byte fallback (the Llama / MiniCPM family, model.byte_fallback true).
 *
 * Encoding: added tokens are split out first (special ones only when asked),
 * the rest is NFC-normalized (utf8proc), cut by the pre-tokenizer regex taken
 * from the file (PCRE2, UTF + Unicode properties), mapped to byte-level
 * symbols and merged by rank.
 *
 * SentencePiece-style files: the normalizer's Prepend and Replace steps
 * (Llama's Sequence[Prepend("\u2581"), Replace(" ", "\u2581")]) or a
 * Metaspace pre-tokenizer (prepend_scheme always/first/never, or the older
 * add_prefix_space; split or not) run on each stretch of text between added
 * tokens; each character is a symbol when the vocabulary has it, else its
 * bytes' <0xNN> tokens (all 256 must exist), and symbols merge by rank. The
 * decoder Sequence[Replace("\u2581", " "), ByteFallback, Fuse, Strip(" ",
 * N, 0)] or Metaspace maps tokens back to bytes and drops the text's first N
 * spaces (also when streaming). Any other normalizer, pre-tokenizer or
 * decoder step is an error naming the field. One difference from the
 * tokenizers library: a run of <0xNN> tokens that is not valid UTF-8
 * becomes U+FFFD by the maximal-subpart rule below, where the library
 * writes one U+FFFD per byte token (text that encode gave never has one). Decoding maps symbols back to bytes and can
 * stream: a token that ends inside a UTF-8 sequence holds those bytes back
 * until the sequence completes. The file is treated as hostile: every size,
 * index and string is checked, and errors name the file and the problem. */
#ifndef UNUM_TOKENIZER_H
#define UNUM_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct Tokenizer Tokenizer;

/* A growable array of token ids. */
typedef struct {
    int32_t *v;
    size_t n, cap;
} IdVec;
void idvec_push(IdVec *a, int32_t id);
void idvec_free(IdVec *a);

/* Loads tokenizer.json at path. NULL with unum_error() set on failure. */
Tokenizer *tokenizer_load(const char *path);
/* Same, from a buffer in memory; name is used in error messages. */
Tokenizer *tokenizer_load_buffer(const char *json, size_t len, const char *name);
void tokenizer_free(Tokenizer *t);

/* One past the largest id the tokenizer knows (vocab and added tokens). */
int tokenizer_n_vocab(const Tokenizer *t);
/* The id of an exact token string (vocab or added), or -1. */
int32_t tokenizer_token_id(const Tokenizer *t, const char *token);
/* Nonzero when id is an added token marked special. */
int tokenizer_is_special(const Tokenizer *t, int32_t id);

/* Appends the ids of UTF-8 text to out. With allow_special, special added
 * tokens written in the text become their ids; without, they are plain text.
 * Non-special added tokens always match. Returns 0, or -1 with the error set
 * (invalid UTF-8 is an error naming the byte offset). */
int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int allow_special,
                     IdVec *out);

/* Decodes ids to a new NUL-terminated string (special tokens included as
 * their text; invalid UTF-8 becomes U+FFFD). NULL with the error set when an
 * id is outside the vocabulary. */
char *tokenizer_decode(const Tokenizer *t, const int32_t *ids, size_t n);

/* Streaming decode: feed ids one at a time; each call writes the text that
 * became complete (NUL-terminated) to buf and returns its length, or -1 with
 * the error set for an id outside the vocabulary. buf must hold at least
 * TOKENIZER_STREAM_MAX bytes beyond the longest token; tokenizer_stream_cap()
 * gives a size that always suffices (stray bytes each become a 3-byte
 * U+FFFD). A buf too small for the text is an error that leaves the stream
 * unchanged, never an overflow. flush writes what is left (an incomplete
 * tail becomes U+FFFD). */
typedef struct {
    unsigned char pend[8];
    int n;
    int lead; /* leading spaces stripped so far, -1 once past them; 0 to start */
} TokStream;
#define TOKENIZER_STREAM_MAX 16
int tokenizer_stream(const Tokenizer *t, TokStream *s, int32_t id, char *buf, size_t cap);
int tokenizer_stream_flush(TokStream *s, char *buf, size_t cap);
/* A buf size with which tokenizer_stream never runs short. */
size_t tokenizer_stream_cap(const Tokenizer *t);

#endif
