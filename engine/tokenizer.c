/* tokenizer.c - byte-level BPE read from a Hugging Face tokenizer.json; see
 * tokenizer.h for the contract.
 *
 * A loaded tokenizer holds:
 *   vocab    model.vocab strings (in the GPT-2 byte-level alphabet) -> id,
 *            in an open-addressing string hash
 *   merges   (left id, right id) -> (rank, merged id), in a pair hash
 *   added    added_tokens, matched in the raw text before anything else,
 *            longest first, bucketed by their first byte
 *   dec      per id, the raw bytes it decodes to
 *   re       the pre-tokenizer's Split patterns, compiled by PCRE2
 * Nothing changes after loading, so encode and decode may run on several
 * threads at once over one Tokenizer.
 *
 * Encoding one stretch of text between added tokens: NFC (utf8proc), split
 * by each regex in turn, then each piece's bytes become byte-level symbols
 * and are merged lowest rank first (leftmost on ties) with a binary heap over
 * a linked list of symbols, O(n log n) in the piece length. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "engine/tokenizer.h"
#include "engine/base/util.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define TOK_MAX_ID (1 << 22)    /* ids at or above this are refused */
#define TOK_MAX_REGEX 8         /* Split steps in the pre-tokenizer */
#define TOK_MAX_FILE (1u << 30) /* largest tokenizer.json accepted */
#define TOK_MAX_NEST 4          /* nested normalizer Sequences */

/* The GPT-2 pre-tokenizer pattern, used for ByteLevel with use_regex. */
static const char gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

enum { KIND_NONE, KIND_VOCAB, KIND_ADDED, KIND_SPECIAL };

/* ------------------------------------------------------------ UTF-8 */

/* Looks at the UTF-8 sequence starting s[0] (n >= 1 bytes available).
 * Returns its length (1-4) when well formed, with *cp set; 0 when ill
 * formed, with *sub the length of the maximal subpart to replace (>= 1);
 * -1 when it is a well-formed prefix cut short by the end of the input.
 * The ranges are Unicode's Table 3-7: no overlongs, surrogates or values
 * past U+10FFFF. */
static int utf8_seq(const unsigned char *s, size_t n, uint32_t *cp, size_t *sub) {
    unsigned b = s[0], need, lo = 0x80, hi = 0xbf;
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    if (b < 0xc2 || b > 0xf4) {
        *sub = 1;
        return 0;
    }
    if (b < 0xe0) {
        need = 2;
    } else if (b < 0xf0) {
        need = 3;
        if (b == 0xe0) lo = 0xa0;
        if (b == 0xed) hi = 0x9f;
    } else {
        need = 4;
        if (b == 0xf0) lo = 0x90;
        if (b == 0xf4) hi = 0x8f;
    }
    uint32_t c = b & (0x7f >> need);
    for (unsigned i = 1; i < need; i++) {
        if (i >= n) return -1;
        unsigned x = s[i];
        if (x < (i == 1 ? lo : 0x80) || x > (i == 1 ? hi : 0xbf)) {
            *sub = i;
            return 0;
        }
        c = (c << 6) | (x & 0x3f);
    }
    *cp = c;
    return (int)need;
}

/* Offset of the first byte that does not start a well-formed sequence, or n. */
static size_t utf8_check(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t sub;
        int k = utf8_seq(s + i, n - i, &cp, &sub);
        if (k <= 0) return i;
        i += (size_t)k;
    }
    return n;
}

static int is_ascii(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 0x80) return 0;
    return 1;
}

static size_t utf8_put(uint32_t cp, unsigned char *o) {
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xc0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xe0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (unsigned char)(0xf0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Copies in[0..n) to out (or only counts, when out is NULL), replacing each
 * ill-formed subsequence by U+FFFD with the maximal-subpart policy that
 * WHATWG TextDecoder and Rust's from_utf8_lossy use. Unless final, a
 * well-formed but unfinished sequence at the end is left unconsumed. Returns
 * the bytes written; *used is the bytes consumed. */
static size_t utf8_lossy(const unsigned char *in, size_t n, int final, char *out, size_t *used) {
    static const char fffd[3] = {(char)0xef, (char)0xbf, (char)0xbd};
    size_t i = 0, w = 0;
    while (i < n) {
        if (in[i] < 0x80) {
            if (out) out[w] = (char)in[i];
            w++;
            i++;
            continue;
        }
        uint32_t cp;
        size_t sub = 0;
        int k = utf8_seq(in + i, n - i, &cp, &sub);
        if (k > 0) {
            if (out) memcpy(out + w, in + i, (size_t)k);
            w += (size_t)k;
            i += (size_t)k;
            continue;
        }
        if (k < 0) {
            if (!final) break;
            sub = n - i;
        }
        if (out) memcpy(out + w, fffd, 3);
        w += 3;
        i += sub;
    }
    *used = i;
    return w;
}

/* A token for an error message: printable ASCII and well-formed UTF-8 as
 * is, other bytes as \xNN, cut to about 40 bytes. */
static const char *show(const char *s, size_t n, char out[200]) {
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0, i = 0;
    while (i < n && o < 160) {
        uint32_t cp;
        size_t sub;
        int k = u[i] >= 0x80 ? utf8_seq(u + i, n - i, &cp, &sub) : 1;
        if (u[i] >= 0x80 && k > 0) {
            memcpy(out + o, s + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else if (u[i] >= 0x20 && u[i] < 0x7f && u[i] != '"' && u[i] != '\\') {
            out[o++] = s[i++];
        } else {
            o += (size_t)snprintf(out + o, 8, "\\x%02x", u[i++]);
        }
        if (i >= 40 && i < n) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
    }
    out[o] = 0;
    return out;
}

/* ------------------------------------------------------------ byte level */

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves,
 * the other 68 (controls, space, DEL, NBSP, soft hyphen) become U+0100 on. */
static uint32_t byte_to_cp(unsigned b) {
    if (b <= 32) return 256 + b;
    if (b >= 127 && b <= 160) return b + 162;
    if (b == 173) return 323;
    return b;
}

static int cp_to_byte(uint32_t cp) {
    if (cp < 256) return byte_to_cp(cp) == cp ? (int)cp : -1;
    if (cp <= 288) return (int)(cp - 256);
    if (cp <= 322) return (int)(cp - 162);
    if (cp == 323) return 173;
    return -1;
}

/* ------------------------------------------------------------ buffers */

typedef struct {
    char *p;
    size_t n, cap;
} Buf;

typedef struct {
    size_t off, len;
} Span;

static void buf_reserve(Buf *b, size_t more) {
    if (b->p && b->cap - b->n >= more) return; /* never NULL, even when empty */
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->n < more) cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

static Span buf_add(Buf *b, const void *s, size_t n) {
    buf_reserve(b, n);
    if (n) memcpy(b->p + b->n, s, n);
    Span sp = {b->n, n};
    b->n += n;
    return sp;
}

void idvec_push(IdVec *a, int32_t id) {
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->v = xrealloc(a->v, a->cap * sizeof *a->v);
    }
    a->v[a->n++] = id;
}

void idvec_free(IdVec *a) {
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

/* ------------------------------------------------------------ hash maps */

static uint64_t hash_bytes(const void *s, size_t n) {
    const unsigned char *p = s;
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t x) { /* splitmix64 finalizer */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c *= 2;
    return c;
}

/* Strings -> entry index. The keys live in a Buf as Spans indexed by entry;
 * a slot holds entry + 1, 0 for empty. Load factor at most 1/2. */
typedef struct {
    uint32_t *slot;
    size_t mask;
} StrMap;

static void strmap_init(StrMap *m, size_t n) {
    size_t cap = pow2_at_least(2 * n + 1);
    m->slot = xcalloc(cap, sizeof *m->slot);
    m->mask = cap - 1;
}

static int strmap_find(const StrMap *m, const char *base, const Span *keys, const char *s,
                       size_t n) {
    if (!m->slot) return -1;
    for (size_t i = hash_bytes(s, n) & m->mask;; i = (i + 1) & m->mask) {
        uint32_t e = m->slot[i];
        if (!e) return -1;
        const Span *k = &keys[e - 1];
        if (k->len == n && memcmp(base + k->off, s, n) == 0) return (int)(e - 1);
    }
}

/* Inserts entry e; returns -1, or the entry already holding the same key. */
static int strmap_insert(StrMap *m, const char *base, const Span *keys, uint32_t e) {
    const char *s = base + keys[e].off;
    size_t n = keys[e].len;
    for (size_t i = hash_bytes(s, n) & m->mask;; i = (i + 1) & m->mask) {
        uint32_t o = m->slot[i];
        if (!o) {
            m->slot[i] = e + 1;
            return -1;
        }
        const Span *k = &keys[o - 1];
        if (k->len == n && memcmp(base + k->off, s, n) == 0) return (int)(o - 1);
    }
}

/* (left id, right id) -> (rank, merged id). */
typedef struct {
    uint64_t key; /* left << 32 | right; PAIR_EMPTY when free */
    int32_t rank, id;
} PairSlot;

#define PAIR_EMPTY UINT64_MAX

typedef struct {
    PairSlot *slot;
    size_t mask;
} PairMap;

static void pairmap_init(PairMap *m, size_t n) {
    size_t cap = pow2_at_least(2 * n + 1);
    m->slot = xmalloc(cap * sizeof *m->slot);
    for (size_t i = 0; i < cap; i++) m->slot[i].key = PAIR_EMPTY;
    m->mask = cap - 1;
}

/* A later merge of the same pair replaces the earlier one, as in the Rust
 * and JavaScript libraries (both collect the list into a map). */
static void pairmap_put(PairMap *m, int32_t a, int32_t b, int32_t rank, int32_t id) {
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    size_t i = hash_u64(key) & m->mask;
    while (m->slot[i].key != PAIR_EMPTY && m->slot[i].key != key) i = (i + 1) & m->mask;
    m->slot[i] = (PairSlot){key, rank, id};
}

static const PairSlot *pairmap_get(const PairMap *m, int32_t a, int32_t b) {
    if (!m->slot) return NULL;
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    for (size_t i = hash_u64(key) & m->mask;; i = (i + 1) & m->mask) {
        if (m->slot[i].key == key) return &m->slot[i];
        if (m->slot[i].key == PAIR_EMPTY) return NULL;
    }
}

/* ------------------------------------------------------------ the tokenizer */

typedef struct {
    int32_t id;
    int special;
} Added;

struct Tokenizer {
    char *name;
    Buf strs; /* every string: vocab tokens, added contents, decoded bytes */

    size_t n_vocab;    /* entries in model.vocab */
    Span *vocab_str;   /* [n_vocab] token text, byte-level alphabet */
    int32_t *vocab_id; /* [n_vocab] */
    StrMap vocab_map;
    PairMap merges;
    int32_t byte_id[256]; /* id of each byte's one-symbol token, or -1 */
    int ignore_merges;

    size_t n_added;
    Added *added;    /* [n_added] */
    Span *added_str; /* [n_added] content */
    StrMap added_map;
    int32_t *added_order;    /* [n_added] by first byte, longest first */
    size_t added_first[257]; /* added_order[added_first[b] .. added_first[b+1]) start with b */

    int32_t n_ids;       /* one past the largest id */
    Span *dec;           /* [n_ids] the bytes each id decodes to */
    unsigned char *kind; /* [n_ids] KIND_* */
    size_t max_dec;      /* longest dec */

    int nfc;
    int n_re;
    pcre2_code *re[TOK_MAX_REGEX];
};

static int fail(const Tokenizer *t, const char *fmt, ...) UNUM_PRINTF(2, 3);
static int fail(const Tokenizer *t, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return unum_error_set("%s: %s", t->name, msg);
}

void tokenizer_free(Tokenizer *t) {
    if (!t) return;
    for (int i = 0; i < t->n_re; i++) pcre2_code_free(t->re[i]);
    free(t->name);
    free(t->strs.p);
    free(t->vocab_str);
    free(t->vocab_id);
    free(t->vocab_map.slot);
    free(t->merges.slot);
    free(t->added);
    free(t->added_str);
    free(t->added_map.slot);
    free(t->added_order);
    free(t->dec);
    free(t->kind);
    free(t);
}

/* ------------------------------------------------------------ loading: JSON helpers */

/* An id: an integral JSON number in [0, TOK_MAX_ID). NULL, or why not. */
static const char *json_id(const cJSON *v, int32_t *out) {
    if (!cJSON_IsNumber(v)) return "is not a number";
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d)) return "is not an integer";
    if (d < 0) return "is negative";
    if (d >= TOK_MAX_ID) return "is too large (ids must be below 4194304)";
    *out = (int32_t)d;
    return NULL;
}

/* A boolean member that may be absent or null (then dflt). -1 on wrong type. */
static int json_bool(const cJSON *o, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return dflt;
    if (!cJSON_IsBool(v)) return -1;
    return cJSON_IsTrue(v) ? 1 : 0;
}

static const char *json_str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static size_t json_count(const cJSON *a) {
    size_t n = 0;
    for (const cJSON *c = a->child; c; c = c->next) n++;
    return n;
}

/* ------------------------------------------------------------ loading: vocabulary */

static int load_vocab(Tokenizer *t, const cJSON *v) {
    char sh[200];
    if (!cJSON_IsObject(v)) return fail(t, "model.vocab is missing or not an object");
    size_t n = json_count(v);
    if (n == 0) return fail(t, "model.vocab is empty");
    if (n > TOK_MAX_ID) return fail(t, "model.vocab has %zu tokens, too many", n);
    t->vocab_str = xcalloc(n, sizeof *t->vocab_str);
    t->vocab_id = xcalloc(n, sizeof *t->vocab_id);
    size_t i = 0;
    for (const cJSON *c = v->child; c; c = c->next, i++) {
        const char *key = c->string ? c->string : "";
        const char *why = json_id(c, &t->vocab_id[i]);
        if (why)
            return fail(t, "model.vocab: the id of \"%s\" %s", show(key, strlen(key), sh), why);
        t->vocab_str[i] = buf_add(&t->strs, key, strlen(key));
    }
    t->n_vocab = n;
    strmap_init(&t->vocab_map, n);
    for (i = 0; i < n; i++) {
        if (strmap_insert(&t->vocab_map, t->strs.p, t->vocab_str, (uint32_t)i) >= 0)
            return fail(t, "model.vocab: token \"%s\" is listed twice",
                        show(t->strs.p + t->vocab_str[i].off, t->vocab_str[i].len, sh));
    }
    return 0;
}

static int32_t vocab_lookup(const Tokenizer *t, const char *s, size_t n) {
    int e = strmap_find(&t->vocab_map, t->strs.p, t->vocab_str, s, n);
    return e < 0 ? -1 : t->vocab_id[e];
}

static int load_added(Tokenizer *t, const cJSON *a) {
    char sh[200];
    if (!a || cJSON_IsNull(a)) return 0;
    if (!cJSON_IsArray(a)) return fail(t, "added_tokens is not an array");
    size_t n = json_count(a);
    t->added = xcalloc(n ? n : 1, sizeof *t->added);
    t->added_str = xcalloc(n ? n : 1, sizeof *t->added_str);
    size_t i = 0;
    for (const cJSON *c = a->child; c; c = c->next, i++) {
        if (!cJSON_IsObject(c)) return fail(t, "added_tokens[%zu] is not an object", i);
        const char *s = json_str(c, "content");
        if (!s) return fail(t, "added_tokens[%zu]: \"content\" is missing or not a string", i);
        size_t len = strlen(s);
        if (len == 0) return fail(t, "added_tokens[%zu]: \"content\" is empty", i);
        if (utf8_check((const unsigned char *)s, len) != len)
            return fail(t, "added_tokens[%zu]: \"content\" is not valid UTF-8", i);
        const char *why = json_id(cJSON_GetObjectItemCaseSensitive(c, "id"), &t->added[i].id);
        if (why) return fail(t, "added_tokens[%zu] (\"%s\"): \"id\" %s", i, show(s, len, sh), why);
        int sp = json_bool(c, "special", 0);
        if (sp < 0) return fail(t, "added_tokens[%zu]: \"special\" is not a boolean", i);
        t->added[i].special = sp;
        t->added_str[i] = buf_add(&t->strs, s, len);
    }
    t->n_added = n;
    strmap_init(&t->added_map, n);
    for (i = 0; i < n; i++) {
        if (strmap_insert(&t->added_map, t->strs.p, t->added_str, (uint32_t)i) >= 0)
            return fail(t, "added_tokens[%zu]: \"%s\" is listed twice", i,
                        show(t->strs.p + t->added_str[i].off, t->added_str[i].len, sh));
    }
    return 0;
}

/* Order for matching added tokens: by first byte, then longest first. */
typedef struct {
    unsigned char first;
    size_t len;
    int32_t index;
} AddedKey;

static int added_key_cmp(const void *pa, const void *pb) {
    const AddedKey *a = pa, *b = pb;
    if (a->first != b->first) return a->first < b->first ? -1 : 1;
    if (a->len != b->len) return a->len > b->len ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

static void index_added(Tokenizer *t) {
    size_t n = t->n_added;
    AddedKey *k = xcalloc(n ? n : 1, sizeof *k);
    for (size_t i = 0; i < n; i++)
        k[i] = (AddedKey){(unsigned char)t->strs.p[t->added_str[i].off], t->added_str[i].len,
                          (int32_t)i};
    qsort(k, n, sizeof *k, added_key_cmp);
    t->added_order = xcalloc(n ? n : 1, sizeof *t->added_order);
    memset(t->added_first, 0, sizeof t->added_first);
    for (size_t i = 0; i < n; i++) {
        t->added_order[i] = k[i].index;
        t->added_first[k[i].first + 1]++;
    }
    for (int b = 0; b < 256; b++) t->added_first[b + 1] += t->added_first[b];
    free(k);
}

/* The bytes a vocabulary token stands for: each character mapped back
 * through the byte-level alphabet. A token with a character outside it
 * decodes to its own UTF-8, as the Rust ByteLevel decoder does. */
static Span decode_bytelevel(Buf *b, Span s) {
    buf_reserve(b, s.len);
    const unsigned char *src = (const unsigned char *)b->p + s.off;
    unsigned char *dst = (unsigned char *)b->p + b->n;
    size_t i = 0, o = 0;
    while (i < s.len) {
        uint32_t cp;
        size_t sub;
        int k = utf8_seq(src + i, s.len - i, &cp, &sub);
        int byte = k > 0 ? cp_to_byte(cp) : -1;
        if (byte < 0) return s;
        dst[o++] = (unsigned char)byte;
        i += (size_t)k;
    }
    Span d = {b->n, o};
    b->n += o;
    return d;
}

/* Fills the per-id tables from the vocabulary and the added tokens. */
static int build_ids(Tokenizer *t) {
    char sh[200], sh2[200];
    int32_t max = -1;
    for (size_t i = 0; i < t->n_vocab; i++)
        if (t->vocab_id[i] > max) max = t->vocab_id[i];
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].id > max) max = t->added[i].id;
    t->n_ids = max + 1;
    t->dec = xcalloc((size_t)t->n_ids, sizeof *t->dec);
    t->kind = xcalloc((size_t)t->n_ids, 1);
    int32_t *owner = xmalloc((size_t)t->n_ids * sizeof *owner); /* entry that holds each id */
    for (size_t i = 0; i < t->n_vocab; i++) {
        int32_t id = t->vocab_id[i];
        if (t->kind[id]) {
            Span a = t->vocab_str[owner[id]], b = t->vocab_str[i];
            fail(t, "model.vocab: id %d is given to both \"%s\" and \"%s\"", id,
                 show(t->strs.p + a.off, a.len, sh), show(t->strs.p + b.off, b.len, sh2));
            free(owner);
            return -1;
        }
        owner[id] = (int32_t)i;
        t->kind[id] = KIND_VOCAB;
        t->dec[id] = decode_bytelevel(&t->strs, t->vocab_str[i]);
    }
    /* An added token may share its id with a vocabulary token (then it
     * decodes as its content), but not with another added token. */
    for (size_t i = 0; i < t->n_added; i++) {
        int32_t id = t->added[i].id;
        if (t->kind[id] == KIND_ADDED || t->kind[id] == KIND_SPECIAL) {
            Span a = t->added_str[owner[id]], b = t->added_str[i];
            fail(t, "added_tokens: id %d is given to both \"%s\" and \"%s\"", id,
                 show(t->strs.p + a.off, a.len, sh), show(t->strs.p + b.off, b.len, sh2));
            free(owner);
            return -1;
        }
        owner[id] = (int32_t)i;
        t->kind[id] = t->added[i].special ? KIND_SPECIAL : KIND_ADDED;
        t->dec[id] = t->added_str[i];
    }
    free(owner);
    for (int32_t id = 0; id < t->n_ids; id++)
        if (t->dec[id].len > t->max_dec) t->max_dec = t->dec[id].len;
    for (unsigned b = 0; b < 256; b++) {
        unsigned char sym[4];
        size_t k = utf8_put(byte_to_cp(b), sym);
        t->byte_id[b] = vocab_lookup(t, (const char *)sym, k);
    }
    index_added(t);
    return 0;
}

/* ------------------------------------------------------------ loading: merges */

static int merge_symbol(Tokenizer *t, size_t k, const char *s, size_t n, int32_t *id) {
    char sh[200];
    if (n == 0) return fail(t, "model.merges[%zu]: a symbol is empty", k);
    *id = vocab_lookup(t, s, n);
    if (*id < 0)
        return fail(t, "model.merges[%zu]: symbol \"%s\" is not in model.vocab", k, show(s, n, sh));
    return 0;
}

static int load_merges(Tokenizer *t, const cJSON *m) {
    char sh[200];
    if (!cJSON_IsArray(m)) return fail(t, "model.merges is missing or not an array");
    size_t n = json_count(m);
    if (n > INT32_MAX) return fail(t, "model.merges has too many entries");
    pairmap_init(&t->merges, n);
    Buf cat = {0};
    size_t k = 0;
    int rc = 0;
    for (const cJSON *c = m->child; c && !rc; c = c->next, k++) {
        const char *a, *b;
        size_t la, lb;
        if (cJSON_IsString(c)) { /* "a b" */
            a = c->valuestring;
            const char *sp = strchr(a, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                rc = fail(t, "model.merges[%zu]: \"%s\" is not two symbols split by one space", k,
                          show(a, strlen(a), sh));
                break;
            }
            la = (size_t)(sp - a);
            b = sp + 1;
            lb = strlen(b);
        } else if (cJSON_IsArray(c) && json_count(c) == 2 && cJSON_IsString(c->child) &&
                   cJSON_IsString(c->child->next)) { /* ["a", "b"] */
            a = c->child->valuestring;
            b = c->child->next->valuestring;
            la = strlen(a);
            lb = strlen(b);
        } else {
            rc = fail(t, "model.merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]", k);
            break;
        }
        int32_t ia, ib, ir;
        if (merge_symbol(t, k, a, la, &ia) || merge_symbol(t, k, b, lb, &ib)) {
            rc = -1;
            break;
        }
        cat.n = 0;
        buf_add(&cat, a, la);
        buf_add(&cat, b, lb);
        ir = vocab_lookup(t, cat.p, cat.n);
        if (ir < 0) {
            rc = fail(t, "model.merges[%zu]: the merged token \"%s\" is not in model.vocab", k,
                      show(cat.p, cat.n, sh));
            break;
        }
        pairmap_put(&t->merges, ia, ib, (int32_t)k, ir);
    }
    free(cat.p);
    return rc;
}

/* ------------------------------------------------------------ loading: text pipeline */

static int load_normalizer(Tokenizer *t, const cJSON *n, int depth) {
    if (!n || cJSON_IsNull(n)) return 0;
    if (!cJSON_IsObject(n)) return fail(t, "normalizer is not an object");
    const char *type = json_str(n, "type");
    if (!type) return fail(t, "normalizer: \"type\" is missing or not a string");
    if (strcmp(type, "NFC") == 0) {
        t->nfc = 1;
        return 0;
    }
    if (strcmp(type, "Sequence") == 0 && depth < TOK_MAX_NEST) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers");
        if (!cJSON_IsArray(list)) return fail(t, "normalizer: \"normalizers\" is not an array");
        for (const cJSON *c = list->child; c; c = c->next)
            if (load_normalizer(t, c, depth + 1)) return -1;
        return 0;
    }
    char sh[200];
    return fail(t, "normalizer: type \"%s\" is not supported (only NFC)",
                show(type, strlen(type), sh));
}

static int add_regex(Tokenizer *t, const char *pattern, const char *where) {
    if (t->n_re == TOK_MAX_REGEX)
        return fail(t, "%s: more than %d Split steps", where, TOK_MAX_REGEX);
    int err;
    PCRE2_SIZE off;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                      PCRE2_UTF | PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C, &err, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return fail(t, "%s: invalid regex at offset %zu: %s", where, (size_t)off, (char *)msg);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* optional: without it the interpreter runs */
    t->re[t->n_re++] = re;
    return 0;
}

static int load_pre_step(Tokenizer *t, const cJSON *s, int *byte_level) {
    char sh[200];
    if (!cJSON_IsObject(s)) return fail(t, "pre_tokenizer: a step is not an object");
    const char *type = json_str(s, "type");
    if (!type) return fail(t, "pre_tokenizer: \"type\" is missing or not a string");
    if (*byte_level) return fail(t, "pre_tokenizer: ByteLevel must be the last step");
    if (strcmp(type, "Split") == 0) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(s, "pattern");
        if (!cJSON_IsObject(pat))
            return fail(t, "pre_tokenizer Split: \"pattern\" is not an object");
        const char *rx = json_str(pat, "Regex");
        if (!rx)
            return fail(t, "pre_tokenizer Split: only {\"Regex\": ...} patterns are supported");
        const char *beh = json_str(s, "behavior");
        if (!beh || strcmp(beh, "Isolated") != 0)
            return fail(t, "pre_tokenizer Split: behavior \"%s\" is not supported (only Isolated)",
                        beh ? show(beh, strlen(beh), sh) : "(missing)");
        int inv = json_bool(s, "invert", 0);
        if (inv != 0) return fail(t, "pre_tokenizer Split: \"invert\" must be false");
        return add_regex(t, rx, "pre_tokenizer Split");
    }
    if (strcmp(type, "ByteLevel") == 0) {
        int aps = json_bool(s, "add_prefix_space", 0), ur = json_bool(s, "use_regex", 1);
        if (aps != 0) return fail(t, "pre_tokenizer ByteLevel: add_prefix_space is not supported");
        if (ur < 0) return fail(t, "pre_tokenizer ByteLevel: \"use_regex\" is not a boolean");
        *byte_level = 1;
        return ur ? add_regex(t, gpt2_pattern, "pre_tokenizer ByteLevel") : 0;
    }
    return fail(t, "pre_tokenizer: type \"%s\" is not supported (Split and ByteLevel only)",
                show(type, strlen(type), sh));
}

static int load_pre_tokenizer(Tokenizer *t, const cJSON *p) {
    if (!cJSON_IsObject(p)) return fail(t, "pre_tokenizer is missing or not an object");
    int byte_level = 0;
    const char *type = json_str(p, "type");
    if (type && strcmp(type, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers");
        if (!cJSON_IsArray(list))
            return fail(t, "pre_tokenizer: \"pretokenizers\" is not an array");
        for (const cJSON *c = list->child; c; c = c->next)
            if (load_pre_step(t, c, &byte_level)) return -1;
    } else if (load_pre_step(t, p, &byte_level)) {
        return -1;
    }
    if (!byte_level)
        return fail(t, "pre_tokenizer has no ByteLevel step (only byte-level BPE is supported)");
    return 0;
}

static int load_model_options(Tokenizer *t, const cJSON *model) {
    const char *type = json_str(model, "type");
    const cJSON *tv = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (tv && (!type || strcmp(type, "BPE") != 0)) return fail(t, "model.type is not \"BPE\"");
    static const char *const affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, affixes[i]);
        if (v && !cJSON_IsNull(v) && !(cJSON_IsString(v) && v->valuestring[0] == 0))
            return fail(t, "model.%s is not supported", affixes[i]);
    }
    t->ignore_merges = json_bool(model, "ignore_merges", 0);
    if (t->ignore_merges < 0) return fail(t, "model.ignore_merges is not a boolean");
    /* SentencePiece-derived BPE (Llama's, MiniCPM's): characters merged,
     * unknown ones as <0xXX> byte tokens, "\u2581" for spaces; a different
     * tokenizer from byte-level BPE, not read as one */
    int bf = json_bool(model, "byte_fallback", 0);
    if (bf < 0) return fail(t, "model.byte_fallback is not a boolean");
    if (bf)
        return fail(t, "model.byte_fallback: a SentencePiece-style BPE with byte fallback "
                       "(Llama's, MiniCPM's) is not supported; unum reads byte-level BPE "
                       "(Qwen2's, GPT-2's)");
    return 0;
}

static int load_decoder(Tokenizer *t, const cJSON *d) {
    if (!d || cJSON_IsNull(d)) return 0;
    const char *type = cJSON_IsObject(d) ? json_str(d, "type") : NULL;
    if (!type || strcmp(type, "ByteLevel") != 0)
        return fail(t, "decoder is not {\"type\": \"ByteLevel\"}");
    return 0;
}

static int load_json(Tokenizer *t, const cJSON *root) {
    if (!cJSON_IsObject(root)) return fail(t, "the top level is not a JSON object");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) return fail(t, "\"model\" is missing or not an object");
    if (load_model_options(t, model)) return -1;
    if (load_vocab(t, cJSON_GetObjectItemCaseSensitive(model, "vocab"))) return -1;
    if (load_added(t, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"))) return -1;
    if (build_ids(t)) return -1;
    if (load_merges(t, cJSON_GetObjectItemCaseSensitive(model, "merges"))) return -1;
    if (load_normalizer(t, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), 0)) return -1;
    if (load_pre_tokenizer(t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"))) return -1;
    return load_decoder(t, cJSON_GetObjectItemCaseSensitive(root, "decoder"));
}

Tokenizer *tokenizer_load_buffer(const char *json, size_t len, const char *name) {
    Tokenizer *t = xcalloc(1, sizeof *t);
    t->name = xstrdup(name ? name : "tokenizer.json");
    const char *end = NULL;
    cJSON *root = json ? cJSON_ParseWithLengthOpts(json, len, &end, 0) : NULL;
    if (!root) {
        size_t at = end && end >= json && end <= json + len ? (size_t)(end - json) : 0;
        fail(t, "not valid JSON (parsing stopped at byte %zu of %zu)", at, len);
        tokenizer_free(t);
        return NULL;
    }
    int rc = load_json(t, root);
    cJSON_Delete(root);
    if (rc) {
        tokenizer_free(t);
        return NULL;
    }
    return t;
}

Tokenizer *tokenizer_load(const char *path) {
    size_t n;
    char *buf = unum_read_file(path, TOK_MAX_FILE, &n);
    if (!buf) return NULL;
    Tokenizer *t = tokenizer_load_buffer(buf, n, path);
    free(buf);
    return t;
}

/* ------------------------------------------------------------ queries */

int tokenizer_n_vocab(const Tokenizer *t) { return t->n_ids; }

int32_t tokenizer_token_id(const Tokenizer *t, const char *token) {
    if (!token) return -1;
    size_t n = strlen(token);
    int a = strmap_find(&t->added_map, t->strs.p, t->added_str, token, n);
    if (a >= 0) return t->added[a].id;
    return vocab_lookup(t, token, n);
}

int tokenizer_is_special(const Tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_ids && t->kind[id] == KIND_SPECIAL;
}

size_t tokenizer_stream_cap(const Tokenizer *t) { return 3 * (t->max_dec + 3) + 1; }

/* ------------------------------------------------------------ encoding: BPE */

typedef struct {
    int32_t rank, pos, left, right, merged;
} Cand;

/* Scratch space of one encode call. */
typedef struct {
    const Tokenizer *t;
    IdVec *out;
    pcre2_match_data *md;
    int32_t *sym, *prev, *next;
    size_t sym_cap;
    Cand *heap;
    size_t heap_n, heap_cap;
    Buf tmp;
} Enc;

static int cand_less(const Cand *a, const Cand *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(Enc *e, Cand c) {
    size_t i = e->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(&c, &e->heap[p])) break;
        e->heap[i] = e->heap[p];
        i = p;
    }
    e->heap[i] = c;
}

static Cand heap_pop(Enc *e) {
    Cand top = e->heap[0], last = e->heap[--e->heap_n];
    size_t i = 0, n = e->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && cand_less(&e->heap[c + 1], &e->heap[c])) c++;
        if (!cand_less(&e->heap[c], &last)) break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (n) e->heap[i] = last;
    return top;
}

/* Queues the merge of the symbol at i with its right neighbour, if any. */
static void bpe_consider(Enc *e, int32_t i) {
    int32_t j = e->next[i];
    if (j < 0) return;
    const PairSlot *m = pairmap_get(&e->t->merges, e->sym[i], e->sym[j]);
    if (m) heap_push(e, (Cand){m->rank, i, e->sym[i], e->sym[j], m->id});
}

/* Room for a piece of n bytes: n symbols, and n - 1 first candidates plus
 * two per merge on the heap. Huge pieces fail cleanly rather than abort. */
static int enc_reserve(Enc *e, size_t n) {
    if (n <= e->sym_cap) return 0;
    int32_t *sym = realloc(e->sym, n * sizeof *sym);
    if (sym) e->sym = sym;
    int32_t *prev = realloc(e->prev, n * sizeof *prev);
    if (prev) e->prev = prev;
    int32_t *next = realloc(e->next, n * sizeof *next);
    if (next) e->next = next;
    Cand *heap = realloc(e->heap, 3 * n * sizeof *heap);
    if (heap) e->heap = heap;
    if (!sym || !prev || !next || !heap)
        return fail(e->t, "out of memory merging a pre-token of %zu bytes", n);
    e->sym_cap = n;
    e->heap_cap = 3 * n;
    return 0;
}

/* Merges the bytes of one pre-token into tokens, lowest rank first and
 * leftmost among equal ranks. A queued candidate is stale when either
 * symbol has changed since; symbols only grow, so comparing ids suffices. */
static int bpe_piece(Enc *e, const unsigned char *s, size_t n) {
    const Tokenizer *t = e->t;
    for (size_t i = 0; i < n; i++)
        if (t->byte_id[s[i]] < 0)
            return fail(t, "model.vocab has no token for byte 0x%02x, which the text needs", s[i]);
    if (n == 1) {
        idvec_push(e->out, t->byte_id[s[0]]);
        return 0;
    }
    if (t->ignore_merges) { /* a whole pre-token in the vocabulary wins */
        e->tmp.n = 0;
        for (size_t i = 0; i < n; i++) {
            unsigned char sym[4];
            buf_add(&e->tmp, sym, utf8_put(byte_to_cp(s[i]), sym));
        }
        int32_t id = vocab_lookup(t, e->tmp.p, e->tmp.n);
        if (id >= 0) {
            idvec_push(e->out, id);
            return 0;
        }
    }
    if (n > INT32_MAX / 4) return fail(t, "a pre-token of %zu bytes is too long", n);
    if (enc_reserve(e, n)) return -1;
    for (size_t i = 0; i < n; i++) {
        e->sym[i] = t->byte_id[s[i]];
        e->prev[i] = (int32_t)i - 1;
        e->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    e->heap_n = 0;
    for (size_t i = 0; i + 1 < n; i++) bpe_consider(e, (int32_t)i);
    while (e->heap_n) {
        Cand c = heap_pop(e);
        int32_t p = c.pos, q = e->next[p];
        if (e->sym[p] != c.left || q < 0 || e->sym[q] != c.right) continue;
        e->sym[p] = c.merged;
        e->sym[q] = -1;
        e->next[p] = e->next[q];
        if (e->next[q] >= 0) e->prev[e->next[q]] = p;
        if (e->prev[p] >= 0) bpe_consider(e, e->prev[p]);
        bpe_consider(e, p);
    }
    for (int32_t i = 0; i >= 0; i = e->next[i]) idvec_push(e->out, e->sym[i]);
    return 0;
}

/* ------------------------------------------------------------ encoding: pre-tokenizer */

static int regex_find(Enc *e, const pcre2_code *re, const char *s, size_t n, size_t off, size_t *ms,
                      size_t *me) {
    int rc = pcre2_match(re, (PCRE2_SPTR)s, n, off, PCRE2_NO_UTF_CHECK, e->md, NULL);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
        rc = pcre2_match(re, (PCRE2_SPTR)s, n, off, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, e->md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        return fail(e->t, "pre_tokenizer regex failed on the text: %s", (char *)msg);
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md);
    *ms = ov[0];
    *me = ov[1];
    if (*me < *ms || *ms < off || *me > n)
        return fail(e->t, "pre_tokenizer regex reported a match out of order");
    return 1;
}

/* Cuts s by regex k ("Isolated": matches and the gaps between them are both
 * pieces) and hands each piece to the next regex, the last ones to BPE. */
static int split_text(Enc *e, int k, const char *s, size_t n) {
    if (n == 0) return 0;
    if (k == e->t->n_re) return bpe_piece(e, (const unsigned char *)s, n);
    const pcre2_code *re = e->t->re[k];
    size_t off = 0, last = 0;
    while (off <= n) {
        size_t ms = 0, me = 0;
        int rc = regex_find(e, re, s, n, off, &ms, &me);
        if (rc < 0) return -1;
        if (rc == 0) break;
        if (ms < last) return fail(e->t, "pre_tokenizer regex reported a match out of order");
        if (ms > last && split_text(e, k + 1, s + last, ms - last)) return -1;
        if (me > ms && split_text(e, k + 1, s + ms, me - ms)) return -1;
        last = me;
        if (me > ms) {
            off = me;
        } else { /* empty match: step over one character */
            if (ms >= n) break;
            uint32_t cp;
            size_t sub;
            int len = utf8_seq((const unsigned char *)s + ms, n - ms, &cp, &sub);
            off = ms + (len > 0 ? (size_t)len : 1);
        }
    }
    if (last < n) return split_text(e, k + 1, s + last, n - last);
    return 0;
}

/* Text between added tokens: normalize, then split and merge. */
static int encode_segment(Enc *e, const char *s, size_t n) {
    if (!e->t->nfc || is_ascii((const unsigned char *)s, n)) return split_text(e, 0, s, n);
    utf8proc_uint8_t *norm = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &norm,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (m < 0) return fail(e->t, "NFC normalization failed: %s", utf8proc_errmsg(m));
    int rc = split_text(e, 0, (const char *)norm, (size_t)m);
    free(norm);
    return rc;
}

/* The added token starting at s, longest first, or -1. */
static int match_added(const Tokenizer *t, const char *s, size_t n, int allow_special) {
    unsigned char b = (unsigned char)s[0];
    for (size_t j = t->added_first[b]; j < t->added_first[b + 1]; j++) {
        int32_t a = t->added_order[j];
        Span sp = t->added_str[a];
        if (t->added[a].special && !allow_special) continue;
        if (sp.len <= n && memcmp(t->strs.p + sp.off, s, sp.len) == 0) return a;
    }
    return -1;
}

int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int allow_special,
                     IdVec *out) {
    if (!text && len) return unum_error_set("tokenizer_encode: text is NULL");
    size_t bad = utf8_check((const unsigned char *)text, len);
    if (bad < len)
        return unum_error_set("invalid UTF-8 at byte offset %zu (byte 0x%02x)", bad,
                              (unsigned char)text[bad]);
    size_t n0 = out->n;
    Enc e = {.t = t, .out = out};
    e.md = pcre2_match_data_create(1, NULL);
    if (!e.md) return unum_error_set("tokenizer_encode: out of memory");
    int rc = 0;
    size_t start = 0, i = 0;
    while (i < len && !rc) {
        int a = t->n_added ? match_added(t, text + i, len - i, allow_special) : -1;
        if (a < 0) {
            i++;
            continue;
        }
        if (i > start) rc = encode_segment(&e, text + start, i - start);
        if (!rc) idvec_push(out, t->added[a].id);
        i += t->added_str[a].len;
        start = i;
    }
    if (!rc && start < len) rc = encode_segment(&e, text + start, len - start);
    pcre2_match_data_free(e.md);
    free(e.sym);
    free(e.prev);
    free(e.next);
    free(e.heap);
    free(e.tmp.p);
    if (rc) out->n = n0;
    return rc;
}

/* ------------------------------------------------------------ decoding */

static int id_bytes(const Tokenizer *t, int32_t id, const unsigned char **p, size_t *n) {
    if (id < 0 || id >= t->n_ids || t->kind[id] == KIND_NONE)
        return fail(t, "token id %d is not in the vocabulary (ids 0..%d)", id, t->n_ids - 1);
    *p = (const unsigned char *)t->strs.p + t->dec[id].off;
    *n = t->dec[id].len;
    return 0;
}

char *tokenizer_decode(const Tokenizer *t, const int32_t *ids, size_t n) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *p;
        size_t len = 0;
        if (id_bytes(t, ids[i], &p, &len)) return NULL;
        total += len;
    }
    if (total > (SIZE_MAX - 1) / 3) {
        fail(t, "decoded text too large");
        return NULL;
    }
    unsigned char *raw = malloc(total ? total : 1);
    char *out = malloc(3 * total + 1);
    if (!raw || !out) {
        free(raw);
        free(out);
        fail(t, "cannot allocate %zu bytes to decode %zu ids", 4 * total + 1, n);
        return NULL;
    }
    size_t o = 0, used;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *p;
        size_t len;
        id_bytes(t, ids[i], &p, &len);
        if (len) memcpy(raw + o, p, len);
        o += len;
    }
    size_t w = utf8_lossy(raw, total, 1, out, &used);
    out[w] = 0;
    free(raw);
    return out;
}

int tokenizer_stream(const Tokenizer *t, TokStream *s, int32_t id, char *buf, size_t cap) {
    const unsigned char *p;
    size_t n;
    if (id_bytes(t, id, &p, &n)) return -1;
    if (s->n < 0 || s->n > 3) return fail(t, "tokenizer_stream: corrupt stream state");
    size_t m = (size_t)s->n + n, used;
    unsigned char small[256], *tmp = m <= sizeof small ? small : xmalloc(m);
    memcpy(tmp, s->pend, (size_t)s->n);
    if (n) memcpy(tmp + s->n, p, n);
    size_t need = utf8_lossy(tmp, m, 0, NULL, &used);
    int rc;
    if (need >= cap || need > INT_MAX) {
        rc = fail(t, "tokenizer_stream: a buffer of %zu bytes is too small (%zu needed)", cap,
                  need + 1);
    } else {
        utf8_lossy(tmp, m, 0, buf, &used);
        buf[need] = 0;
        s->n = (int)(m - used);
        memcpy(s->pend, tmp + used, (size_t)s->n);
        rc = (int)need;
    }
    if (tmp != small) free(tmp);
    return rc;
}

int tokenizer_stream_flush(TokStream *s, char *buf, size_t cap) {
    size_t n = s->n < 0 ? 0 : (size_t)s->n > sizeof s->pend ? sizeof s->pend : (size_t)s->n;
    size_t used, need = utf8_lossy(s->pend, n, 1, NULL, &used);
    if (need >= cap)
        return unum_error_set("tokenizer_stream_flush: a buffer of %zu bytes is too small (%zu "
                              "needed)",
                              cap, need + 1);
    utf8_lossy(s->pend, n, 1, buf, &used);
    buf[need] = 0;
    s->n = 0;
    return (int)need;
}
