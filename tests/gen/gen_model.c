/* gen_model.c - writes random Qwen2 and MiniCPM checkpoints for the tests
 * and benches.
 *
 *   gen_model --preset NAME OUTDIR [--tokenizer tokenizer.json]
 *   gen_model --adapter NAME OUTDIR
 *   gen_model --list
 *
 * Each preset is a Hugging Face directory as published: config.json,
 * model.safetensors (or shards + model.safetensors.index.json),
 * generation_config.json, tokenizer.json and tokenizer_config.json, with the
 * real tensor names. Values come from a counter-based generator keyed by the
 * preset and the tensor name, so the bytes are the same on every machine and
 * the committed goldens (tests/golden/) stay valid. Without --tokenizer a
 * small byte-level BPE tokenizer is trained on a fixed text and written.
 * vibevoice-tiny is microsoft/VibeVoice-ASR's layout (speech tokenizer
 * encoders, connectors, a Qwen2 decoder) with tiny shapes; it needs
 * --tokenizer, since its prompt uses the Qwen tokenizer's real speech ids.
 * vibevoice-enc has the published encoders' shapes with the tiny decoder,
 * and vibevoice7b-gptq4 adds a Qwen2.5-7B-shaped GPTQ-Int4 decoder: both
 * for the speed record (docs/perf.md), too big for the tests.
 * An adapter preset is a PEFT LoRA adapter directory for one of the model
 * presets (adapter_config.json and adapter_model.safetensors as peft saves
 * them). */
#include "engine/base/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef enum { F32, F16, BF16 } Dt;
static const char *dt_name[] = {"F32", "F16", "BF16"};
static const char *dt_torch[] = {"float32", "float16", "bfloat16"};

typedef struct {
    const char *name;
    int D, F, L, Hq, Hkv, head_dim, V, tied, shards, max_pos;
    double theta;
    Dt dt;
    /* MiniCPM (model_type "minicpm", no q/k/v biases, the muP scales of
     * minicpm_config below); rope_orig: rope_scaling of rope_type
     * "longrope" with that original_max_position_embeddings (0: none).
     * tied -1: tie_word_embeddings left out (MiniCPM's default, true). */
    int minicpm, rope_orig;
    int spm; /* a SentencePiece-style tokenizer (write_spm_tokenizer) */
} Preset;

static const Preset presets[] = {
    {"tiny-bf16", 64, 160, 2, 4, 2, 0, 384, 1, 1, 512, 10000.0, BF16, 0, 0, 0},
    {"tiny-untied-f32", 64, 128, 2, 4, 4, 0, 384, 0, 1, 512, 10000.0, F32, 0, 0, 0},
    {"tiny-headdim-f16", 64, 96, 2, 4, 2, 32, 384, 1, 1, 512, 10000.0, F16, 0, 0, 0},
    {"tiny-mqa-bf16", 96, 256, 3, 6, 1, 0, 400, 1, 1, 512, 1000000.0, BF16, 0, 0, 0},
    {"tiny-sharded-bf16", 64, 160, 3, 4, 2, 0, 384, 1, 3, 512, 10000.0, BF16, 0, 0, 0},
    {"tiny-qwen-vocab", 32, 64, 1, 2, 1, 0, 151936, 1, 1, 4096, 1000000.0, BF16, 0, 0, 0},
    {"qwen05-bench", 896, 4864, 24, 14, 2, 0, 151936, 1, 1, 32768, 1000000.0, BF16, 0, 0, 0},
    {"qwen7b-bench", 3584, 18944, 28, 28, 4, 0, 152064, 0, 1, 32768, 1000000.0, BF16, 0, 0, 0},
    /* Qwen2.5-1.5B's and -3B's shapes: speculative decoding's targets */
    {"qwen15-bench", 1536, 8960, 28, 12, 2, 0, 151936, 1, 1, 32768, 1000000.0, BF16, 0, 0, 0},
    {"qwen3b-bench", 2048, 11008, 36, 16, 2, 0, 151936, 1, 1, 32768, 1000000.0, BF16, 0, 0, 0},
    /* MiniCPM: LongRoPE past its original length (long factors, attention
     * factor above 1); tied by default; one KV head with LongRoPE at its
     * original length (short factors, factor 1), three query heads a KV head */
    {"tiny-minicpm-longrope", 64, 160, 2, 4, 2, 0, 384, 0, 1, 1024, 10000.0, BF16, 1, 256, 0},
    {"tiny-minicpm-tied", 64, 128, 2, 4, 4, 0, 384, -1, 1, 512, 10000.0, F32, 1, 0, 0},
    {"tiny-minicpm-gqa", 96, 256, 3, 6, 2, 0, 400, 0, 1, 512, 10000.0, BF16, 1, 512, 0},
    /* MiniCPM with its own kind of tokenizer: SentencePiece-style BPE */
    {"tiny-minicpm-spm", 64, 128, 2, 4, 4, 0, 384, -1, 1, 4096, 10000.0, F32, 1, 0, 1},
    /* MiniCPM4-8B's shapes (openbmb/MiniCPM4-8B config.json) */
    {"minicpm8b-bench", 4096, 16384, 32, 32, 2, 0, 73448, 0, 1, 32768, 10000.0, BF16, 1, 32768, 0},
};

/* ------------------------------------------------------------ random */

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t fnv(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Uniform in (-1, 1) scaled by sqrt(3) to unit variance: cheap and exact
 * to reproduce, which matters more here than Gaussian tails. */
static float rnd(uint64_t *s) {
    double u = (double)(splitmix(s) >> 11) * (1.0 / 9007199254740992.0);
    return (float)((2.0 * u - 1.0) * 1.7320508075688772);
}

/* ------------------------------------------------------------ tensors */

typedef struct {
    char name[96];
    int ndim;
    int64_t shape[3];
    float scale, offset; /* value = offset + scale * unit noise */
    int shard;
} Tensor;

static Tensor *tensors;
static int n_tensors;
/* A "tuned" preset: the base preset's values plus tune_scale times each
 * tensor's own scale in noise from tune_seed (a stand-in for fine-tuning). */
static uint64_t tune_seed;
static float tune_scale;

static void add(const char *name, int ndim, int64_t a, int64_t b, float scale, float offset) {
    tensors = xrealloc(tensors, sizeof *tensors * (size_t)(n_tensors + 1));
    Tensor *t = &tensors[n_tensors++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->shape[0] = a;
    t->shape[1] = b;
    t->scale = scale;
    t->offset = offset;
}

/* --extra-layers N --extra-scale S: N more decoder layers after the
 * preset's, whose output projections (o_proj, down_proj) are scaled by S.
 * The preset's own tensors keep their names and so their values: the
 * result is the preset's model with a small change on top, a target that a
 * draft of the plain preset agrees with often but not always. */
static int extra_layers;
static float extra_scale = 1.0f;

static void plan(const Preset *p) {
    int hd = p->head_dim ? p->head_dim : p->D / p->Hq;
    int qd = p->Hq * hd, kvd = p->Hkv * hd;
    char n[96];
    add("model.embed_tokens.weight", 2, p->V, p->D, 0.5f, 0);
    for (int i = 0; i < p->L + extra_layers; i++) {
        float xs = i < p->L ? 1.0f : extra_scale;
#define L(suffix, nd, a, b, sc, off)                                                               \
    (snprintf(n, sizeof n, "model.layers.%d.%s", i, suffix), add(n, nd, a, b, sc, off))
        float si = 1.0f / sqrtf((float)p->D), sf = 1.0f / sqrtf((float)p->F);
        L("input_layernorm.weight", 1, p->D, 0, 0.1f, 1.0f);
        L("self_attn.q_proj.weight", 2, qd, p->D, si, 0);
        L("self_attn.k_proj.weight", 2, kvd, p->D, si, 0);
        L("self_attn.v_proj.weight", 2, kvd, p->D, si, 0);
        if (!p->minicpm) {
            L("self_attn.q_proj.bias", 1, qd, 0, 0.1f, 0);
            L("self_attn.k_proj.bias", 1, kvd, 0, 0.1f, 0);
            L("self_attn.v_proj.bias", 1, kvd, 0, 0.1f, 0);
        }
        /* output projections at 4x: the layers, not the input embedding,
         * dominate the residual, so greedy output does not just echo */
        L("self_attn.o_proj.weight", 2, p->D, qd, xs * 4.0f / sqrtf((float)qd), 0);
        L("post_attention_layernorm.weight", 1, p->D, 0, 0.1f, 1.0f);
        L("mlp.gate_proj.weight", 2, p->F, p->D, si, 0);
        L("mlp.up_proj.weight", 2, p->F, p->D, si, 0);
        L("mlp.down_proj.weight", 2, p->D, p->F, xs * 4.0f * sf, 0);
#undef L
    }
    add("model.norm.weight", 1, p->D, 0, 0.1f, 1.0f);
    /* MiniCPM divides the hidden state by hidden_size / dim_model_base (4
     * here) before lm_head: a head 4x larger keeps the logits' spread */
    if (!p->tied)
        add("lm_head.weight", 2, p->V, p->D, (p->minicpm ? 4.0f : 1.0f) / sqrtf((float)p->D), 0);
}

static int64_t numel(const Tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const Tensor *)a)->name, ((const Tensor *)b)->name);
}

static void die(const char *what, const char *path) {
    fprintf(stderr, "gen_model: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

/* Writes one shard: header (names sorted, padded to 8 bytes) then data. */
static void write_shard(const char *path, Dt dt, uint64_t seed, int shard) {
    size_t esz = dt == F32 ? 4 : 2;
    size_t cap = 1 << 16, len = 0;
    char *h = xmalloc(cap);
    len += (size_t)snprintf(h, cap, "{\"__metadata__\":{\"format\":\"pt\"}");
    uint64_t off = 0;
    for (int i = 0; i < n_tensors; i++) {
        const Tensor *t = &tensors[i];
        if (t->shard != shard) continue;
        if (cap - len < 512) h = xrealloc(h, cap *= 2);
        uint64_t nb = (uint64_t)numel(t) * esz;
        char shape[64] = "";
        for (int d = 0; d < t->ndim; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", d ? "," : "",
                     (long long)t->shape[d]);
        len += (size_t)snprintf(
            h + len, cap - len,
            ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%s],\"data_offsets\":[%llu,%llu]}", t->name,
            dt_name[dt], shape, (unsigned long long)off, (unsigned long long)(off + nb));
        off += nb;
    }
    h[len++] = '}';
    while (len % 8) h[len++] = ' ';
    FILE *f = fopen(path, "wb");
    if (!f) die("cannot write", path);
    uint64_t hl = len;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(hl >> (8 * i));
    fwrite(le, 1, 8, f);
    fwrite(h, 1, len, f);
    free(h);
    size_t chunk = 1 << 20;
    void *buf = xmalloc(chunk * 4);
    for (int i = 0; i < n_tensors; i++) {
        const Tensor *t = &tensors[i];
        if (t->shard != shard) continue;
        uint64_t s = seed ^ fnv(t->name), s2 = tune_seed ^ fnv(t->name);
        for (int64_t done = 0, n = numel(t); done < n;) {
            size_t k = (size_t)(n - done) < chunk ? (size_t)(n - done) : chunk;
            for (size_t j = 0; j < k; j++) {
                float v = t->offset + t->scale * rnd(&s);
                if (tune_seed) v += tune_scale * t->scale * rnd(&s2);
                if (dt == F32) ((float *)buf)[j] = v;
                else if (dt == BF16) ((uint16_t *)buf)[j] = unum_f32_to_bf16(v);
                else ((uint16_t *)buf)[j] = unum_f32_to_f16(v);
            }
            if (fwrite(buf, esz, k, f) != k) die("write failed:", path);
            done += (int64_t)k;
        }
    }
    free(buf);
    if (fclose(f)) die("write failed:", path);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char *path = unum_path_join(dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fputs(text, f) < 0 || fclose(f)) die("cannot write", path);
    free(path);
}

/* ------------------------------------------------------------ tokenizer */

/* GPT-2's byte-to-symbol map: printable bytes stand for themselves, the
 * rest are moved to U+0100 and up. */
static int byte_sym(int b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return b;
    int n = 0;
    for (int c = 0; c < b; c++)
        if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255))) n++;
    return 256 + n;
}

static void put_utf8(char **s, int cp) {
    char *o = *s;
    if (cp < 0x80) *o++ = (char)cp;
    else if (cp < 0x800) *o++ = (char)(0xc0 | cp >> 6), *o++ = (char)(0x80 | (cp & 63));
    else
        *o++ = (char)(0xe0 | cp >> 12), *o++ = (char)(0x80 | ((cp >> 6) & 63)),
        *o++ = (char)(0x80 | (cp & 63));
    *s = o;
}

/* A JSON string literal of the byte-level symbols of bytes[0..n). */
static void sym_json(char *out, const unsigned char *bytes, int n) {
    char *o = out;
    *o++ = '"';
    for (int i = 0; i < n; i++) {
        int cp = byte_sym(bytes[i]);
        if (cp == '"' || cp == '\\') *o++ = '\\', *o++ = (char)cp;
        else put_utf8(&o, cp);
    }
    *o++ = '"';
    *o = 0;
}

static const char *train_text =
    "the quick brown fox jumps over the lazy dog. hello world, this is a test of the "
    "tokenizer. the meeting starts at ten; we will talk about the report and the plan. "
    "hello there! what is the weather like today? it is sunny and warm in the city.";

#define TOK_MERGES 96

/* Trains TOK_MERGES merges on train_text (words split at spaces, a space
 * kept in front as GPT-2 does) and writes tokenizer.json. Ids: bytes 0-255,
 * merges 256.., then <|endoftext|>, <|im_start|>, <|im_end|>. */
static int write_tokenizer(const char *dir) {
    enum { MAXT = 4096, MAXW = 64 };
    static unsigned char tok[MAXT][16];
    static int tlen[MAXT];
    int ntok = 256;
    for (int b = 0; b < 256; b++) tok[b][0] = (unsigned char)b, tlen[b] = 1;
    /* corpus as sequences of token ids per word */
    static int seq[512][MAXW], slen[512];
    int nw = 0;
    const char *p = train_text;
    while (*p) {
        const char *q = p + 1;
        while (*q && *q != ' ') q++;
        slen[nw] = 0;
        for (const char *c = p; c < q && slen[nw] < MAXW; c++)
            seq[nw][slen[nw]++] = (unsigned char)*c;
        nw++;
        p = q;
    }
    static int ma[TOK_MERGES], mb[TOK_MERGES];
    for (int m = 0; m < TOK_MERGES; m++) {
        int best_a = -1, best_b = -1, best = 0;
        /* count pairs (small corpus: quadratic is fine) */
        for (int w = 0; w < nw; w++)
            for (int i = 0; i + 1 < slen[w]; i++) {
                int a = seq[w][i], b = seq[w][i + 1], c = 0;
                if (tlen[a] + tlen[b] > 15) continue;
                for (int w2 = 0; w2 < nw; w2++)
                    for (int j = 0; j + 1 < slen[w2]; j++)
                        c += seq[w2][j] == a && seq[w2][j + 1] == b;
                if (c > best ||
                    (c == best && best_a >= 0 && (a < best_a || (a == best_a && b < best_b)))) {
                    best = c;
                    best_a = a;
                    best_b = b;
                }
            }
        if (best_a < 0) break;
        ma[m] = best_a;
        mb[m] = best_b;
        memcpy(tok[ntok], tok[best_a], (size_t)tlen[best_a]);
        memcpy(tok[ntok] + tlen[best_a], tok[best_b], (size_t)tlen[best_b]);
        tlen[ntok] = tlen[best_a] + tlen[best_b];
        for (int w = 0; w < nw; w++) {
            int o = 0;
            for (int i = 0; i < slen[w]; i++) {
                if (i + 1 < slen[w] && seq[w][i] == best_a && seq[w][i + 1] == best_b) {
                    seq[w][o++] = ntok;
                    i++;
                } else {
                    seq[w][o++] = seq[w][i];
                }
            }
            slen[w] = o;
        }
        ntok++;
    }
    int n_merges = ntok - 256;
    size_t cap = 1 << 20;
    char *js = xmalloc(cap), *o = js, sym[256], sa[256], sb[256];
    o += sprintf(o, "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[");
    const char *specials[3] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    for (int i = 0; i < 3; i++)
        o += sprintf(o,
                     "%s{\"id\":%d,\"content\":\"%s\",\"single_word\":false,\"lstrip\":false,"
                     "\"rstrip\":false,\"normalized\":false,\"special\":true}",
                     i ? "," : "", ntok + i, specials[i]);
    o += sprintf(
        o, "],\"normalizer\":{\"type\":\"NFC\"},\"pre_tokenizer\":{\"type\":\"Sequence\","
           "\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
           "\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| "
           "?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},"
           "\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\","
           "\"add_prefix_space\":false,\"trim_offsets\":false,\"use_regex\":false}]},"
           "\"post_processor\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
           "\"trim_offsets\":false,\"use_regex\":false},\"decoder\":{\"type\":\"ByteLevel\","
           "\"add_prefix_space\":false,\"trim_offsets\":false,\"use_regex\":false},"
           "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,"
           "\"continuing_subword_prefix\":\"\",\"end_of_word_suffix\":\"\","
           "\"fuse_unk\":false,\"byte_fallback\":false,\"ignore_merges\":false,\"vocab\":{");
    for (int i = 0; i < ntok; i++) {
        sym_json(sym, tok[i], tlen[i]);
        o += sprintf(o, "%s%s:%d", i ? "," : "", sym, i);
    }
    o += sprintf(o, "},\"merges\":[");
    for (int m = 0; m < n_merges; m++) {
        sym_json(sa, tok[ma[m]], tlen[ma[m]]);
        sym_json(sb, tok[mb[m]], tlen[mb[m]]);
        /* "a b" form: strip the quotes and join with a space */
        sa[strlen(sa) - 1] = 0;
        o += sprintf(o, "%s%s %s", m ? "," : "", sa, sb + 1);
    }
    o += sprintf(o, "]}}\n");
    write_text(dir, "tokenizer.json", js);
    free(js);
    char cfg[4096];
    snprintf(cfg, sizeof cfg,
             "{\"bos_token\":null,\"eos_token\":\"<|im_end|>\",\"pad_token\":\"<|endoftext|>\","
             "\"model_max_length\":512,\"chat_template\":\"{%%- if messages[0]['role'] == "
             "'system' %%}\\n    {{- '<|im_start|>system\\\\n' + messages[0]['content'] + "
             "'<|im_end|>\\\\n' }}\\n{%%- else %%}\\n    {{- '<|im_start|>system\\\\nYou are a "
             "small test model.<|im_end|>\\\\n' }}\\n{%%- endif %%}\\n{%%- for message in messages "
             "%%}{{- '<|im_start|>' + message.role + '\\\\n' + message.content + '<|im_end|>' + "
             "'\\\\n' }}{%%- endfor %%}{%%- if add_generation_prompt %%}{{- "
             "'<|im_start|>assistant\\\\n' }}{%%- endif %%}\\n\"}\n");
    write_text(dir, "tokenizer_config.json", cfg);
    snprintf(cfg, sizeof cfg,
             "{\"bos_token_id\":%d,\"eos_token_id\":[%d,%d],\"do_sample\":true,"
             "\"temperature\":0.7,\"top_p\":0.8,\"top_k\":20,\"repetition_penalty\":1.05}\n",
             ntok, ntok + 2, ntok);
    write_text(dir, "generation_config.json", cfg);
    return ntok;
}

/* ------------------------------------------------------------ SentencePiece-style tokenizer */

#define SPM_MERGES 64
#define SPM_META "\xe2\x96\x81" /* U+2581, SentencePiece's space */

static const char *spm_train_text =
    "the quick brown fox jumps over the lazy dog. hello world, this is a test of the "
    "tokenizer. the meeting starts at ten; we will talk about the report and the plan. "
    "\xe4\xbc\x9a\xe8\xae\xae\xe6\x8a\xa5\xe5\x91\x8a \xe8\xae\xa1\xe5\x88\x92 "
    "hello there! what is the weather like today?";

/* A JSON string literal of a UTF-8 token (quotes and backslashes escaped). */
static void spm_json(char *out, const char *tok) {
    char *o = out;
    *o++ = '"';
    for (const char *c = tok; *c; c++) {
        if (*c == '"' || *c == '\\') *o++ = '\\';
        *o++ = *c;
    }
    *o++ = '"';
    *o = 0;
}

/* Writes a Llama-style tokenizer.json as Hugging Face's converter writes
 * Llama's and MiniCPM's: normalizer Prepend + Replace to U+2581, no
 * pre-tokenizer, BPE with byte_fallback over characters, the decoder
 * Replace, ByteFallback, Fuse, Strip. Ids: <unk> 0, <0x00>..<0xFF> 1..256,
 * the training text's characters in order of appearance, SPM_MERGES merges
 * trained on its words (cut before each U+2581), then <s>, <|im_start|>,
 * <|im_end|>. Merges are written as [a, b] pairs. */
static int write_spm_tokenizer(const char *dir) {
    enum { MAXT = 1024, MAXW = 64, TOKLEN = 48 };
    static char tok[MAXT][TOKLEN];
    int ntok = 0;
    strcpy(tok[ntok++], "<unk>");
    for (int b = 0; b < 256; b++) snprintf(tok[ntok++], TOKLEN, "<0x%02X>", b);
    /* the normalized text: a U+2581 in front, spaces as U+2581 */
    char norm[2048], *o = norm;
    o += sprintf(o, SPM_META);
    for (const char *c = spm_train_text; *c; c++) o += *c == ' ' ? sprintf(o, SPM_META) : (*o = *c, 1);
    *o = 0;
    /* words as symbol ids: characters, each a token of its own */
    static int seq[256][MAXW], slen[256];
    int nw = -1;
    for (const char *c = norm; *c;) {
        int k = 1;
        while ((c[k] & 0xc0) == 0x80) k++;
        char ch[8] = {0};
        memcpy(ch, c, (size_t)k);
        int id = -1;
        for (int i = 257; i < ntok; i++)
            if (!strcmp(tok[i], ch)) id = i;
        if (id < 0) strcpy(tok[id = ntok++], ch);
        if (nw < 0 || !strcmp(ch, SPM_META)) slen[++nw] = 0;
        if (slen[nw] < MAXW) seq[nw][slen[nw]++] = id;
        c += k;
    }
    nw++;
    static int ma[SPM_MERGES], mb[SPM_MERGES];
    int n_merges = 0;
    for (; n_merges < SPM_MERGES; n_merges++) {
        int best_a = -1, best_b = -1, best = 0;
        for (int w = 0; w < nw; w++)
            for (int i = 0; i + 1 < slen[w]; i++) {
                int a = seq[w][i], b = seq[w][i + 1], c = 0;
                if (strlen(tok[a]) + strlen(tok[b]) >= TOKLEN) continue;
                for (int w2 = 0; w2 < nw; w2++)
                    for (int j = 0; j + 1 < slen[w2]; j++)
                        c += seq[w2][j] == a && seq[w2][j + 1] == b;
                if (c > best ||
                    (c == best && best_a >= 0 && (a < best_a || (a == best_a && b < best_b)))) {
                    best = c;
                    best_a = a;
                    best_b = b;
                }
            }
        if (best_a < 0 || best < 2) break;
        ma[n_merges] = best_a;
        mb[n_merges] = best_b;
        snprintf(tok[ntok], TOKLEN, "%s%s", tok[best_a], tok[best_b]);
        for (int w = 0; w < nw; w++) {
            int k = 0;
            for (int i = 0; i < slen[w]; i++) {
                if (i + 1 < slen[w] && seq[w][i] == best_a && seq[w][i + 1] == best_b) {
                    seq[w][k++] = ntok;
                    i++;
                } else {
                    seq[w][k++] = seq[w][i];
                }
            }
            slen[w] = k;
        }
        ntok++;
    }
    size_t cap = 1 << 20;
    char *js = xmalloc(cap), sa[128], sb[128];
    o = js;
    o += sprintf(o, "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,"
                    "\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"single_word\":false,"
                    "\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true}");
    const char *specials[3] = {"<s>", "<|im_start|>", "<|im_end|>"};
    for (int i = 0; i < 3; i++)
        o += sprintf(o,
                     ",{\"id\":%d,\"content\":\"%s\",\"single_word\":false,\"lstrip\":false,"
                     "\"rstrip\":false,\"normalized\":false,\"special\":true}",
                     ntok + i, specials[i]);
    o += sprintf(o, "],\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":"
                    "\"Prepend\",\"prepend\":\"" SPM_META "\"},{\"type\":\"Replace\",\"pattern\":"
                    "{\"String\":\" \"},\"content\":\"" SPM_META "\"}]},\"pre_tokenizer\":null,"
                    "\"post_processor\":null,\"decoder\":{\"type\":\"Sequence\",\"decoders\":["
                    "{\"type\":\"Replace\",\"pattern\":{\"String\":\"" SPM_META "\"},"
                    "\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},"
                    "{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}]},"
                    "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":\"<unk>\","
                    "\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null,"
                    "\"fuse_unk\":true,\"byte_fallback\":true,\"ignore_merges\":false,\"vocab\":{");
    for (int i = 0; i < ntok; i++) {
        spm_json(sa, tok[i]);
        o += sprintf(o, "%s%s:%d", i ? "," : "", sa, i);
    }
    o += sprintf(o, "},\"merges\":[");
    for (int m = 0; m < n_merges; m++) {
        spm_json(sa, tok[ma[m]]);
        spm_json(sb, tok[mb[m]]);
        o += sprintf(o, "%s[%s,%s]", m ? "," : "", sa, sb);
    }
    o += sprintf(o, "]}}\n");
    write_text(dir, "tokenizer.json", js);
    free(js);
    char cfg[4096];
    snprintf(cfg, sizeof cfg,
             "{\"bos_token\":\"<s>\",\"eos_token\":\"<|im_end|>\",\"unk_token\":\"<unk>\","
             "\"model_max_length\":512,\"chat_template\":\"{%%- for message in messages %%}{{- "
             "'<|im_start|>' + message.role + '\\\\n' + message.content + '<|im_end|>' + "
             "'\\\\n' }}{%%- endfor %%}{%%- if add_generation_prompt %%}{{- "
             "'<|im_start|>assistant\\\\n' }}{%%- endif %%}\"}\n");
    write_text(dir, "tokenizer_config.json", cfg);
    snprintf(cfg, sizeof cfg,
             "{\"bos_token_id\":%d,\"eos_token_id\":[%d],\"do_sample\":true,"
             "\"temperature\":0.7,\"top_p\":0.8}\n",
             ntok, ntok + 2);
    write_text(dir, "generation_config.json", cfg);
    return ntok;
}

static void copy_file(const char *src, const char *dir, const char *name) {
    size_t n;
    char *txt = unum_read_file(src, 64u << 20, &n);
    if (!txt) {
        fprintf(stderr, "gen_model: %s\n", unum_error());
        exit(1);
    }
    write_text(dir, name, txt);
    free(txt);
}

/* ------------------------------------------------------------ whisper */

/* Whisper (WhisperForConditionalGeneration) presets: small, with the real
 * tensor names and config keys; a 128-mel one has large-v3's layout. The
 * audio context is short (n_audio frames after the stride-2 conv), so the
 * input mel has 2 * n_audio frames. */
typedef struct {
    const char *name;
    int d, enc_layers, dec_layers, enc_heads, dec_heads, enc_ffn, dec_ffn;
    int n_mels, n_audio, n_text, vocab, tied;
    Dt dt;
} WhisperPreset;

static const WhisperPreset whisper_presets[] = {
    /* encoder and decoder differ in depth, heads and width (as distilled
     * models do), and n_audio spans more than one 64-query attention block */
    {"whisper-tiny-f32", 64, 2, 1, 4, 2, 256, 128, 80, 92, 32, 320, 1, F32},
    {"whisper-v3-bf16", 96, 3, 2, 6, 4, 192, 160, 128, 80, 24, 352, 0, BF16},
    /* the published vocabulary layouts and 30 s windows, for transcription
     * (tools/whisper-vocab.mjs adds tokenizer.json and generation_config.json) */
    {"whisper-en-f32", 64, 2, 2, 2, 2, 128, 128, 80, 1500, 448, 51864, 1, F32},
    {"whisper-v3-vocab-bf16", 64, 2, 2, 2, 2, 128, 128, 128, 1500, 448, 51866, 1, BF16},
    /* whisper-base's shapes (English-only layout), for the benchmarks */
    {"whisper-base-bench", 512, 6, 6, 8, 8, 2048, 2048, 80, 1500, 448, 51864, 1, F32},
};

static void plan_attention(const char *prefix, int d, float s) {
    char n[128];
#define A(suffix, nd, a, b, sc, off)                                                               \
    (snprintf(n, sizeof n, "%s.%s", prefix, suffix), add(n, nd, a, b, sc, off))
    A("q_proj.weight", 2, d, d, s, 0);
    A("q_proj.bias", 1, d, 0, 0.1f, 0);
    A("k_proj.weight", 2, d, d, s, 0); /* Whisper's k_proj has no bias */
    A("v_proj.weight", 2, d, d, s, 0);
    A("v_proj.bias", 1, d, 0, 0.1f, 0);
    A("out_proj.weight", 2, d, d, 2.0f * s, 0);
    A("out_proj.bias", 1, d, 0, 0.1f, 0);
#undef A
}

static void plan_norm(const char *name, int d) {
    char n[128];
    snprintf(n, sizeof n, "%s.weight", name);
    add(n, 1, d, 0, 0.1f, 1.0f);
    snprintf(n, sizeof n, "%s.bias", name);
    add(n, 1, d, 0, 0.1f, 0);
}

static void plan_mlp(const char *prefix, int d, int ffn) {
    char n[128];
    snprintf(n, sizeof n, "%s.fc1.weight", prefix);
    add(n, 2, ffn, d, 1.0f / sqrtf((float)d), 0);
    snprintf(n, sizeof n, "%s.fc1.bias", prefix);
    add(n, 1, ffn, 0, 0.1f, 0);
    snprintf(n, sizeof n, "%s.fc2.weight", prefix);
    add(n, 2, d, ffn, 2.0f / sqrtf((float)ffn), 0);
    snprintf(n, sizeof n, "%s.fc2.bias", prefix);
    add(n, 1, d, 0, 0.1f, 0);
}

static void plan_whisper(const WhisperPreset *w) {
    int d = w->d;
    float s = 1.0f / sqrtf((float)d);
    char n[128];
    add("model.encoder.conv1.weight", 3, d, w->n_mels, 1.0f / sqrtf(3.0f * w->n_mels), 0);
    tensors[n_tensors - 1].shape[2] = 3;
    add("model.encoder.conv1.bias", 1, d, 0, 0.1f, 0);
    add("model.encoder.conv2.weight", 3, d, d, 1.0f / sqrtf(3.0f * d), 0);
    tensors[n_tensors - 1].shape[2] = 3;
    add("model.encoder.conv2.bias", 1, d, 0, 0.1f, 0);
    add("model.encoder.embed_positions.weight", 2, w->n_audio, d, 0.5f, 0);
    for (int i = 0; i < w->enc_layers; i++) {
        char pre[96];
        snprintf(pre, sizeof pre, "model.encoder.layers.%d", i);
        snprintf(n, sizeof n, "%s.self_attn", pre);
        plan_attention(n, d, s);
        snprintf(n, sizeof n, "%s.self_attn_layer_norm", pre);
        plan_norm(n, d);
        plan_mlp(pre, d, w->enc_ffn);
        snprintf(n, sizeof n, "%s.final_layer_norm", pre);
        plan_norm(n, d);
    }
    plan_norm("model.encoder.layer_norm", d);
    add("model.decoder.embed_tokens.weight", 2, w->vocab, d, 0.5f, 0);
    add("model.decoder.embed_positions.weight", 2, w->n_text, d, 0.5f, 0);
    for (int i = 0; i < w->dec_layers; i++) {
        char pre[96];
        snprintf(pre, sizeof pre, "model.decoder.layers.%d", i);
        snprintf(n, sizeof n, "%s.self_attn", pre);
        plan_attention(n, d, s);
        snprintf(n, sizeof n, "%s.self_attn_layer_norm", pre);
        plan_norm(n, d);
        snprintf(n, sizeof n, "%s.encoder_attn", pre);
        plan_attention(n, d, s);
        snprintf(n, sizeof n, "%s.encoder_attn_layer_norm", pre);
        plan_norm(n, d);
        plan_mlp(pre, d, w->dec_ffn);
        snprintf(n, sizeof n, "%s.final_layer_norm", pre);
        plan_norm(n, d);
    }
    plan_norm("model.decoder.layer_norm", d);
    if (!w->tied) add("proj_out.weight", 2, w->vocab, d, 1.0f / sqrtf((float)d), 0);
}

static void write_whisper_config(const char *out, const WhisperPreset *w) {
    char cfg[2048];
    /* ids past the vocabulary's text tokens: end of text, start of
     * transcript, and the rest of Whisper's specials at the top */
    int eot = w->vocab - 8, sot = w->vocab - 7;
    if (w->vocab >= 51864) /* the published layouts: English-only or multilingual */
        eot = w->vocab == 51864 ? 50256 : 50257, sot = eot + 1;
    snprintf(cfg, sizeof cfg,
             "{\"architectures\":[\"WhisperForConditionalGeneration\"],\"model_type\":\"whisper\","
             "\"d_model\":%d,\"encoder_layers\":%d,\"decoder_layers\":%d,"
             "\"encoder_attention_heads\":%d,\"decoder_attention_heads\":%d,"
             "\"encoder_ffn_dim\":%d,\"decoder_ffn_dim\":%d,\"num_mel_bins\":%d,"
             "\"max_source_positions\":%d,\"max_target_positions\":%d,\"vocab_size\":%d,"
             "\"activation_function\":\"gelu\",\"scale_embedding\":false,"
             "\"tie_word_embeddings\":%s,\"torch_dtype\":\"%s\",\"bos_token_id\":%d,"
             "\"eos_token_id\":%d,\"pad_token_id\":%d,\"decoder_start_token_id\":%d}\n",
             w->d, w->enc_layers, w->dec_layers, w->enc_heads, w->dec_heads, w->enc_ffn, w->dec_ffn,
             w->n_mels, w->n_audio, w->n_text, w->vocab, w->tied ? "true" : "false",
             dt_torch[w->dt], eot, eot, eot, sot);
    write_text(out, "config.json", cfg);
    snprintf(cfg, sizeof cfg,
             "{\"feature_extractor_type\":\"WhisperFeatureExtractor\",\"feature_size\":%d,"
             "\"sampling_rate\":16000,\"hop_length\":160,\"n_fft\":400,\"chunk_length\":30,"
             "\"n_samples\":480000,\"nb_max_frames\":3000,\"padding_value\":0.0}\n",
             w->n_mels);
    write_text(out, "preprocessor_config.json", cfg);
    snprintf(cfg, sizeof cfg, "{\"decoder_start_token_id\":%d,\"eos_token_id\":%d}\n", sot, eot);
    write_text(out, "generation_config.json", cfg);
}

/* ------------------------------------------------------------ speech LLM */

/* Speech LLMs with LLaMA-Omni2's layout: a Qwen2 backbone (a preset above),
 * a Whisper encoder (128 mels, 1500 positions) and the projector
 * (frames concatenated by 5, Linear, ReLU, Linear). embedded: the encoder's
 * tensors are in the checkpoint under model.speech_encoder. with
 * openai-whisper's names; else it is a Hugging Face Whisper directory,
 * whisper-encoder/, beside them, named by config.json's speech_encoder. */
typedef struct {
    const char *name, *base;
    int enc_d, enc_layers, enc_ffn, proj_hidden, embedded;
} OmniPreset;

static const OmniPreset omni_presets[] = {
    {"omni-tiny", "tiny-qwen-vocab", 64, 2, 128, 48, 1},
    {"omni-tiny-hfenc", "tiny-qwen-vocab", 64, 2, 128, 48, 0},
    /* LLaMA-Omni2-0.5B's shapes (large-v3's encoder), for the benchmarks */
    {"omni05-bench", "qwen05-bench", 1280, 32, 5120, 2048, 1},
};

static void plan_omni(const OmniPreset *o, int D) {
    int d = o->enc_d;
    float s = 1.0f / sqrtf((float)d);
    char n[128];
    if (o->embedded) {
#define E(suffix, nd, a, b, sc, off)                                                               \
    (snprintf(n, sizeof n, "model.speech_encoder.%s", suffix), add(n, nd, a, b, sc, off))
        E("conv1.weight", 3, d, 128, 1.0f / sqrtf(3.0f * 128), 0);
        tensors[n_tensors - 1].shape[2] = 3;
        E("conv1.bias", 1, d, 0, 0.1f, 0);
        E("conv2.weight", 3, d, d, 1.0f / sqrtf(3.0f * d), 0);
        tensors[n_tensors - 1].shape[2] = 3;
        E("conv2.bias", 1, d, 0, 0.1f, 0);
        E("positional_embedding", 2, 1500, d, 0.5f, 0);
        for (int i = 0; i < o->enc_layers; i++) {
            char b[64];
            snprintf(b, sizeof b, "blocks.%d.", i);
#define B(suffix, nd, a, bb, sc, off)                                                              \
    (snprintf(n, sizeof n, "model.speech_encoder.%s%s", b, suffix), add(n, nd, a, bb, sc, off))
            B("attn_ln.weight", 1, d, 0, 0.1f, 1.0f);
            B("attn_ln.bias", 1, d, 0, 0.1f, 0);
            B("attn.query.weight", 2, d, d, s, 0);
            B("attn.query.bias", 1, d, 0, 0.1f, 0);
            B("attn.key.weight", 2, d, d, s, 0);
            B("attn.value.weight", 2, d, d, s, 0);
            B("attn.value.bias", 1, d, 0, 0.1f, 0);
            B("attn.out.weight", 2, d, d, 2.0f * s, 0);
            B("attn.out.bias", 1, d, 0, 0.1f, 0);
            B("mlp_ln.weight", 1, d, 0, 0.1f, 1.0f);
            B("mlp_ln.bias", 1, d, 0, 0.1f, 0);
            B("mlp.0.weight", 2, o->enc_ffn, d, s, 0);
            B("mlp.0.bias", 1, o->enc_ffn, 0, 0.1f, 0);
            B("mlp.2.weight", 2, d, o->enc_ffn, 2.0f / sqrtf((float)o->enc_ffn), 0);
            B("mlp.2.bias", 1, d, 0, 0.1f, 0);
#undef B
        }
        E("ln_post.weight", 1, d, 0, 0.1f, 1.0f);
        E("ln_post.bias", 1, d, 0, 0.1f, 0);
#undef E
    }
    add("model.speech_projector.linear1.weight", 2, o->proj_hidden, 5 * d,
        1.0f / sqrtf(5.0f * d), 0);
    add("model.speech_projector.linear1.bias", 1, o->proj_hidden, 0, 0.1f, 0);
    add("model.speech_projector.linear2.weight", 2, D, o->proj_hidden,
        2.0f / sqrtf((float)o->proj_hidden), 0);
    add("model.speech_projector.linear2.bias", 1, D, 0, 0.1f, 0);
}

/* config.json's speech keys, spliced into the backbone's config */
static void omni_config(const char *out, const OmniPreset *o) {
    char *path = unum_path_join(out, "config.json");
    char *cfg = unum_read_file(path, 1 << 16, NULL);
    if (!cfg) die("cannot read", path);
    char *brace = strrchr(cfg, '}');
    char extra[1024];
    snprintf(extra, sizeof extra,
             ",\"speech_encoder\":\"%s\",\"speech_encoder_type\":\"whisper\","
             "\"speech_projector_type\":\"linear\",\"speech_encoder_ds_rate\":5,"
             "\"speech_encoder_hidden_size\":%d}\n",
             o->embedded ? "models/speech_encoder/large-v3.pt" : "whisper-encoder", o->enc_d);
    *brace = 0;
    size_t n = strlen(cfg) + strlen(extra) + 1;
    char *all = xmalloc(n);
    snprintf(all, n, "%s%s", cfg, extra);
    /* the published model type */
    char *mt = strstr(all, "\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\"");
    if (mt) {
        const char *rep = "\"architectures\":[\"Omni2Speech2SQwen2ForCausalLM\"],"
                          "\"model_type\":\"omni2_speech2s_qwen2\"";
        size_t old = strlen("\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\"");
        char *fixed = xmalloc(n + 64);
        snprintf(fixed, n + 64, "%.*s%s%s", (int)(mt - all), all, rep, mt + old);
        free(all);
        all = fixed;
    }
    write_text(out, "config.json", all);
    free(all);
    free(cfg);
    free(path);
}

/* ------------------------------------------------------------ VibeVoice-ASR */

/* microsoft/VibeVoice-ASR's layout (vibevoice/modular/ at e73d1e1): a Qwen2
 * decoder under model.language_model. with an untied lm_head, and two
 * convolutional speech tokenizer encoders (acoustic and semantic) whose
 * latents go through a connector each (fc1, RMSNorm, fc2) and are summed.
 * Each encoder (TokenizerEncoder) is a stem conv, six strided convs with the
 * reversed encoder_ratios, a stage of Block1D (RMSNorm, depthwise conv,
 * gamma; RMSNorm, GELU FFN, ffn_gamma) after the stem and after each strided
 * conv, and a head conv to vae_dim. Shapes are tiny but the ratios are the
 * published ones (hop 3200 at 24 kHz). The published checkpoint also holds
 * the acoustic tokenizer's decoder, which ASR never runs: a few of its
 * tensors are written so that loaders learn to skip them by name. */
enum { VV_STAGES = 7, VV_DEC_FILTERS = 4 };
/* the decoder: Qwen2 with the 7B's vocabulary (152064) and untied head */
static const Preset vv_decoder = {"vibevoice-tiny", 64, 128, 2, 4, 2, 0, 152064, 0, 1, 32768,
                                  1000000.0, BF16, 0, 0, 0};
/* Qwen2.5-7B's decoder as VibeVoice-ASR publishes it (qwen2.5_7b_32k.json) */
static const Preset vv_decoder_7b = {"vibevoice7b", 3584, 18944, 28, 28, 4, 0, 152064, 0, 1,
                                     32768, 1000000.0, BF16, 0, 0, 0};
static const int vv_ratios[6] = {8, 5, 5, 4, 2, 2}; /* encoder_ratios as published */

/* The encoders' shapes: filters of the stem, blocks per stage, the two
 * vae_dims. */
typedef struct {
    int filters, depths[VV_STAGES];
    const char *depths_str;
    int acoustic_dim, semantic_dim;
} VVShape;
/* tiny, for the tests */
static const VVShape vv_tiny = {4, {1, 1, 1, 1, 1, 1, 2}, "1-1-1-1-1-1-2", 16, 32};
/* the published ones (qwen2.5_7b_32k.json): the speed of the real encoders */
static const VVShape vv_real = {32, {3, 3, 3, 3, 3, 3, 8}, "3-3-3-3-3-3-8", 64, 128};
static const VVShape *vv_shape = &vv_tiny;

/* VibeVoice presets: the decoder, the encoders, quantized or not */
typedef struct {
    const char *name;
    const Preset *decoder;
    const VVShape *shape;
    int gptq4; /* the decoder's linear layers as GPTQ 4-bit, group 128, symmetric */
} VVPreset;
static const VVPreset vv_presets[] = {
    {"vibevoice-tiny", &vv_decoder, &vv_tiny, 0},
    /* the real encoders with the tiny decoder: the encoders' speed */
    {"vibevoice-enc", &vv_decoder, &vv_real, 0},
    /* the real encoders and a Qwen2.5-7B-shaped GPTQ-Int4 decoder */
    {"vibevoice7b-gptq4", &vv_decoder_7b, &vv_real, 1},
    /* the tiny model with its decoder in GPTQ 4-bit (groups of 32), and its
     * float32 twin in OUTDIR-twin: the same model with every quantized
     * matrix dequantized */
    {"vibevoice-tiny-gptq4", &vv_decoder, &vv_tiny, 2},
};

/* conv weight [out, in/groups, k] at 1/sqrt(fan_in), bias small */
static void vv_conv(const char *prefix, int out, int in_per_group, int k) {
    char n[160];
    snprintf(n, sizeof n, "%s.weight", prefix);
    add(n, 3, out, in_per_group, 1.0f / sqrtf((float)(in_per_group * k)), 0);
    tensors[n_tensors - 1].shape[2] = k;
    snprintf(n, sizeof n, "%s.bias", prefix);
    add(n, 1, out, 0, 0.05f, 0);
}

static void vv_encoder(const char *tok, int vae_dim) {
    char n[160], p[128];
    /* stem: SConv1d(channels 1 -> n_filters, kernel 7) */
    snprintf(p, sizeof p, "model.%s.encoder.downsample_layers.0.0.conv.conv", tok);
    int nf = vv_shape->filters;
    vv_conv(p, nf, 1, 7);
    for (int i = 1; i < VV_STAGES; i++) { /* strided: kernel 2r, stride r, r reversed */
        int r = vv_ratios[6 - i];
        snprintf(p, sizeof p, "model.%s.encoder.downsample_layers.%d.0.conv.conv", tok, i);
        vv_conv(p, nf << i, nf << (i - 1), 2 * r);
    }
    for (int i = 0; i < VV_STAGES; i++) {
        int c = nf << i;
        for (int j = 0; j < vv_shape->depths[i]; j++) {
#define S(suffix, nd, a, b, sc, off)                                                               \
    (snprintf(n, sizeof n, "model.%s.encoder.stages.%d.%d.%s", tok, i, j, suffix),                 \
     add(n, nd, a, b, sc, off))
            S("norm.weight", 1, c, 0, 0.1f, 1.0f);
            S("ffn_norm.weight", 1, c, 0, 0.1f, 1.0f);
            /* layer scales uniform in [0.3, 1] (not the 1e-6 init): every
             * block changes the output */
            S("gamma", 1, c, 0, 0.35f / 1.7320508f, 0.65f);
            S("ffn_gamma", 1, c, 0, 0.35f / 1.7320508f, 0.65f);
            S("ffn.linear1.weight", 2, 4 * c, c, 1.0f / sqrtf((float)c), 0);
            S("ffn.linear1.bias", 1, 4 * c, 0, 0.05f, 0);
            S("ffn.linear2.weight", 2, c, 4 * c, 1.0f / sqrtf(4.0f * c), 0);
            S("ffn.linear2.bias", 1, c, 0, 0.05f, 0);
#undef S
            /* depthwise mixer: groups = channels, kernel 7 */
            snprintf(p, sizeof p, "model.%s.encoder.stages.%d.%d.mixer.conv.conv.conv", tok, i, j);
            vv_conv(p, c, 1, 7);
        }
    }
    snprintf(p, sizeof p, "model.%s.encoder.head.conv.conv", tok);
    vv_conv(p, vae_dim, nf << (VV_STAGES - 1), 7);
}

static void vv_connector(const char *name, int in, int D) {
    char n[128];
    snprintf(n, sizeof n, "model.%s.fc1.weight", name);
    add(n, 2, D, in, 1.0f / sqrtf((float)in), 0);
    snprintf(n, sizeof n, "model.%s.fc1.bias", name);
    add(n, 1, D, 0, 0.05f, 0);
    snprintf(n, sizeof n, "model.%s.norm.weight", name);
    add(n, 1, D, 0, 0.1f, 1.0f);
    snprintf(n, sizeof n, "model.%s.fc2.weight", name);
    add(n, 2, D, D, 1.0f / sqrtf((float)D), 0);
    snprintf(n, sizeof n, "model.%s.fc2.bias", name);
    add(n, 1, D, 0, 0.05f, 0);
}

/* The Qwen2 tensors of plan(), moved under model.language_model. */
static void vv_rename_decoder(void) {
    for (int i = 0; i < n_tensors; i++) {
        Tensor *t = &tensors[i];
        if (strncmp(t->name, "model.", 6)) continue;
        char n[96];
        snprintf(n, sizeof n, "model.language_model.%s", t->name + 6);
        snprintf(t->name, sizeof t->name, "%s", n);
    }
}

static void plan_vibevoice(int D, int acoustic_dim, int semantic_dim) {
    vv_rename_decoder();
    vv_encoder("acoustic_tokenizer", acoustic_dim);
    vv_encoder("semantic_tokenizer", semantic_dim);
    vv_connector("acoustic_connector", acoustic_dim, D);
    vv_connector("semantic_connector", semantic_dim, D);
    /* part of the acoustic decoder (TokenizerDecoder): its stem conv
     * (vae_dim -> n_filters * 2^6), the first transposed conv
     * (ConvTranspose1d weight [in, out, k], kernel 2 * 8, stride 8), one
     * block's norm and the head (-> 1 channel) */
    int top = VV_DEC_FILTERS << (VV_STAGES - 1);
    vv_conv("model.acoustic_tokenizer.decoder.upsample_layers.0.0.conv.conv", top, acoustic_dim, 7);
    add("model.acoustic_tokenizer.decoder.upsample_layers.1.0.convtr.convtr.weight", 3, top,
        top / 2, 1.0f / sqrtf((float)top), 0);
    tensors[n_tensors - 1].shape[2] = 2 * vv_ratios[0];
    add("model.acoustic_tokenizer.decoder.upsample_layers.1.0.convtr.convtr.bias", 1, top / 2, 0,
        0.05f, 0);
    add("model.acoustic_tokenizer.decoder.stages.0.0.norm.weight", 1, top, 0, 0.1f, 1.0f);
    vv_conv("model.acoustic_tokenizer.decoder.head.conv.conv", 1, VV_DEC_FILTERS, 7);
}

/* One tokenizer's config: every field of the published
 * vibevoice/configs/qwen2.5_7b_32k.json, with the tiny filters and depths. */
static size_t vv_tok_config(char *o, size_t cap, int acoustic, int vae_dim) {
    char ratios[64] = "[";
    for (int i = 0; i < 6; i++)
        snprintf(ratios + strlen(ratios), sizeof ratios - strlen(ratios), "%s%d", i ? "," : "",
                 vv_ratios[i]);
    strcat(ratios, "]");
    char dec[256] = "";
    if (acoustic)
        snprintf(dec, sizeof dec,
                 "\"decoder_depths\":null,\"decoder_n_filters\":%d,\"decoder_ratios\":%s,",
                 VV_DEC_FILTERS, ratios);
    return (size_t)snprintf(
        o, cap,
        "{\"causal\":true,\"channels\":1,\"conv_bias\":true,\"conv_norm\":\"none\","
        "\"corpus_normalize\":0.0,%s\"disable_last_norm\":true,\"encoder_depths\":\"%s\","
        "\"encoder_n_filters\":%d,\"encoder_ratios\":%s,\"fix_std\":%s,"
        "\"layer_scale_init_value\":1e-06,\"layernorm\":\"RMSNorm\","
        "\"layernorm_elementwise_affine\":true,\"layernorm_eps\":1e-05,"
        "\"mixer_layer\":\"depthwise_conv\",\"model_type\":\"%s\",\"pad_mode\":\"constant\","
        "\"std_dist_type\":\"%s\",\"vae_dim\":%d,\"weight_init_value\":0.01}",
        dec, vv_shape->depths_str, vv_shape->filters, ratios, acoustic ? "0.5" : "0",
        acoustic ? "vibevoice_acoustic_tokenizer" : "vibevoice_semantic_tokenizer",
        acoustic ? "gaussian" : "none", vae_dim);
}

/* extra: more top-level fields (each ending in a comma) before torch_dtype */
static void write_vibevoice_config(const char *out, const Preset *p, int acoustic_dim,
                                   int semantic_dim, const char *extra, const char *torch_dtype) {
    size_t cap = 8192, len = 0;
    char *cfg = xmalloc(cap);
    len += (size_t)snprintf(cfg, cap,
                            "{\"architectures\":[\"VibeVoiceASRForConditionalGeneration\"],"
                            "\"model_type\":\"vibevoice\",\"acoustic_vae_dim\":%d,"
                            "\"semantic_vae_dim\":%d,\"acoustic_tokenizer_config\":",
                            acoustic_dim, semantic_dim);
    len += vv_tok_config(cfg + len, cap - len, 1, acoustic_dim);
    len += (size_t)snprintf(cfg + len, cap - len, ",\"semantic_tokenizer_config\":");
    len += vv_tok_config(cfg + len, cap - len, 0, semantic_dim);
    len += (size_t)snprintf(
        cfg + len, cap - len,
        ",\"decoder_config\":{\"attention_dropout\":0.0,\"hidden_act\":\"silu\","
        "\"hidden_size\":%d,\"initializer_range\":0.02,\"intermediate_size\":%d,"
        "\"max_position_embeddings\":%d,\"max_window_layers\":%d,\"model_type\":\"qwen2\","
        "\"num_attention_heads\":%d,\"num_hidden_layers\":%d,\"num_key_value_heads\":%d,"
        "\"rms_norm_eps\":1e-06,\"rope_theta\":%.1f,\"sliding_window\":null,"
        "\"tie_word_embeddings\":false,\"torch_dtype\":\"bfloat16\",\"use_cache\":true,"
        "\"use_mrope\":false,\"use_sliding_window\":false,\"vocab_size\":%d},"
        "%s\"torch_dtype\":\"%s\"}\n",
        p->D, p->F, p->max_pos, p->L, p->Hq, p->L, p->Hkv, p->theta, p->V, extra, torch_dtype);
    if (len >= cap) {
        fprintf(stderr, "gen_model: config of %s too long\n", p->name);
        exit(1);
    }
    write_text(out, "config.json", cfg);
    free(cfg);
    /* as VibeVoiceASRProcessor.save_pretrained writes it */
    write_text(out, "preprocessor_config.json",
               "{\n  \"processor_class\": \"VibeVoiceASRProcessor\",\n"
               "  \"speech_tok_compress_ratio\": 3200,\n  \"target_sample_rate\": 24000,\n"
               "  \"normalize_audio\": true,\n  \"target_dB_FS\": -25,\n  \"eps\": 1e-06\n}\n");
    /* the demo stops at the tokenizer's eos (<|endoftext|> for Qwen2.5-7B)
     * and pads with <|image_pad|> */
    write_text(out, "generation_config.json",
               "{\"bos_token_id\":151643,\"eos_token_id\":151643,\"pad_token_id\":151655,"
               "\"do_sample\":false}\n");
    /* VibeVoiceASRTextTokenizerFast's chat template (no system default) */
    write_text(out, "tokenizer_config.json",
               "{\"tokenizer_class\":\"Qwen2TokenizerFast\",\"eos_token\":\"<|endoftext|>\","
               "\"pad_token\":\"<|endoftext|>\",\"additional_special_tokens\":["
               "\"<|object_ref_start|>\",\"<|object_ref_end|>\",\"<|box_start|>\"],"
               "\"chat_template\":\"{% for message in messages %}{{'<|im_start|>' + "
               "message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
               "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
               "{% endif %}\"}\n");
}

/* ------------------------------------------------------------ adapters */

static const char *const lora_paths[7] = {"self_attn.q_proj", "self_attn.k_proj",
                                          "self_attn.v_proj", "self_attn.o_proj",
                                          "mlp.gate_proj",    "mlp.up_proj",
                                          "mlp.down_proj"};
enum { Q = 1, K = 2, V = 4, O = 8, G = 16, U = 32, DN = 64, ALL = 127 };

typedef struct {
    const char *name, *base; /* the model preset it adapts */
    unsigned targets;        /* modules, a bit per lora_paths entry */
    int r;
    double alpha;
    int rslora;
    Dt dt;
    const char *patterns; /* rank_pattern and alpha_pattern members (JSON) */
    int ov_layer, ov_module, ov_rank; /* the rank rank_pattern gives one module */
} AdapterPreset;

static const AdapterPreset adapter_presets[] = {
    {"lora-all", "tiny-bf16", ALL, 8, 16, 0, F32,
     "\"rank_pattern\":{},\"alpha_pattern\":{}", -1, 0, 0},
    {"lora-attn-rs", "tiny-bf16", Q | V, 4, 8, 1, BF16,
     "\"rank_pattern\":{},\"alpha_pattern\":{}", -1, 0, 0},
    {"lora-pattern", "tiny-bf16", K | O | G | DN, 4, 8, 0, F16,
     "\"rank_pattern\":{\"layers.1.mlp.down_proj\":2},\"alpha_pattern\":{\"o_proj\":3}", 1, 6,
     2},
    {"lora-mqa", "tiny-mqa-bf16", ALL, 4, 4, 0, BF16,
     "\"rank_pattern\":{},\"alpha_pattern\":{}", -1, 0, 0},
    /* for the real-tokenizer preset: personas', templates' and the
     * router's adapters in the app and meeting tests */
    {"lora-qv-a", "tiny-qwen-vocab", ALL, 4, 8, 0, F32,
     "\"rank_pattern\":{},\"alpha_pattern\":{}", -1, 0, 0},
    {"lora-qv-b", "tiny-qwen-vocab", Q | V | DN, 2, 4, 0, BF16,
     "\"rank_pattern\":{},\"alpha_pattern\":{}", -1, 0, 0},
    /* tools/bench.sh: r = 16 on every projection of the Qwen2.5-0.5B shapes */
    {"lora-bench-r16", "qwen05-bench", ALL, 16, 32, 0, BF16,
     "\"rank_pattern\":{},\"alpha_pattern\":{}", -1, 0, 0},
};

/* Module shapes [out x in] of a model preset, by lora_paths index. */
static void module_shape(const Preset *p, int m, int64_t *out, int64_t *in) {
    int hd = p->head_dim ? p->head_dim : p->D / p->Hq;
    int64_t qd = p->Hq * hd, kvd = p->Hkv * hd;
    int64_t o[7] = {qd, kvd, kvd, p->D, p->F, p->F, p->D};
    int64_t i[7] = {p->D, p->D, p->D, qd, p->D, p->D, p->F};
    *out = o[m], *in = i[m];
}

/* A random adapter whose update is about a third of each layer's output:
 * A has unit-variance rows over in, and B is scaled so that
 * s * B A x has about 0.3 of x's scale. */
static void write_adapter(const AdapterPreset *a, const Preset *p, const char *out,
                          uint64_t seed) {
    char n[96], list[256] = "";
    for (int i = 0; i < p->L; i++)
        for (int m = 0; m < 7; m++) {
            if (!(a->targets & (1u << m))) continue;
            int r = i == a->ov_layer && m == a->ov_module ? a->ov_rank : a->r;
            double s = a->rslora ? a->alpha / sqrt(r) : a->alpha / r;
            int64_t o, in;
            module_shape(p, m, &o, &in);
            snprintf(n, sizeof n, "base_model.model.model.layers.%d.%s.lora_A.weight", i,
                     lora_paths[m]);
            add(n, 2, r, in, 1.0f / sqrtf((float)in), 0);
            snprintf(n, sizeof n, "base_model.model.model.layers.%d.%s.lora_B.weight", i,
                     lora_paths[m]);
            add(n, 2, o, r, (float)(0.3 / (s * sqrt(r))), 0);
        }
    for (int m = 0; m < 7; m++)
        if (a->targets & (1u << m))
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"",
                     list[0] ? "," : "", strchr(lora_paths[m], '.') + 1);
    qsort(tensors, (size_t)n_tensors, sizeof *tensors, cmp_name);
    char *path = unum_path_join(out, "adapter_model.safetensors");
    write_shard(path, a->dt, seed, 0);
    free(path);
    char cfg[2048];
    snprintf(cfg, sizeof cfg,
             "{\"auto_mapping\":null,\"base_model_name_or_path\":\"%s\",\"bias\":\"none\","
             "\"fan_in_fan_out\":false,\"inference_mode\":true,\"init_lora_weights\":true,"
             "\"layers_pattern\":null,\"layers_to_transform\":null,%s,\"lora_alpha\":%g,"
             "\"lora_dropout\":0.05,\"modules_to_save\":null,\"peft_type\":\"LORA\",\"r\":%d,"
             "\"revision\":null,\"target_modules\":[%s],\"task_type\":\"CAUSAL_LM\","
             "\"use_dora\":false,\"use_rslora\":%s}\n",
             a->base, a->patterns, a->alpha, a->r, list, a->rslora ? "true" : "false");
    write_text(out, "adapter_config.json", cfg);
    free(tensors);
    tensors = NULL, n_tensors = 0;
}

/* ------------------------------------------------------------ main */

static void write_config(const char *out, const Preset *p, int first_special, const char *extra,
                         const char *torch_dtype);
static int write_tokenizer_files(const char *out, const char *tokenizer, int spm);

/* ------------------------------------------------------------ quantized */

/* GPTQ and AWQ checkpoints (engine/quant.h describes the layouts), each with
 * a twin: the same model in float32 with every quantized matrix written
 * dequantized, W = scale * (q - zero), which is exact in float32. The twin
 * goes to OUTDIR-twin. The integers are drawn directly (this is not a
 * quantizer): q uniform, zeros 2^(b-1) when symmetric, else uniform, and an
 * fp16 scale per group and output that keeps each matrix at the float
 * presets' spread. */
typedef enum { GPTQ, AWQ } QMethod;

typedef struct {
    const char *name, *base; /* base: a float preset whose shapes it takes */
    QMethod method;
    int bits, group, sym, desc_act, v2, twin;
} QuantPreset;

static const QuantPreset quant_presets[] = {
    /* tiny-bf16's shapes: down_proj has 160 inputs, not a multiple of 64 or 128 */
    {"tiny-gptq4-g64", "tiny-bf16", GPTQ, 4, 64, 1, 0, 0, 1},
    {"tiny-gptq4-g32-asym", "tiny-bf16", GPTQ, 4, 32, 0, 0, 0, 1},
    {"tiny-gptq4-g32-act", "tiny-bf16", GPTQ, 4, 32, 0, 1, 0, 1},
    {"tiny-gptq4-gall-asym", "tiny-bf16", GPTQ, 4, -1, 0, 0, 0, 1},
    {"tiny-gptq4-g128-v2", "tiny-mqa-bf16", GPTQ, 4, 128, 0, 0, 1, 1},
    {"tiny-gptq8-g64", "tiny-bf16", GPTQ, 8, 64, 1, 0, 0, 1},
    {"tiny-gptq8-g32-act-asym", "tiny-untied-f32", GPTQ, 8, 32, 0, 1, 0, 1},
    {"tiny-awq4-g32", "tiny-bf16", AWQ, 4, 32, 0, 0, 0, 1},
    {"qwen05-gptq4", "qwen05-bench", GPTQ, 4, 128, 1, 0, 0, 0},
    {"qwen05-gptq8", "qwen05-bench", GPTQ, 8, 128, 1, 0, 0, 0},
    {"qwen7b-gptq4", "qwen7b-bench", GPTQ, 4, 128, 1, 0, 0, 0},
    {"minicpm8b-gptq4", "minicpm8b-bench", GPTQ, 4, 128, 1, 0, 0, 0},
};

typedef struct {
    char name[112];
    const char *dtype; /* F32, F16, I32 */
    int ndim;
    int64_t shape[3];
    void *data;
    size_t nbytes;
} Blob;

typedef struct {
    Blob *b;
    int n;
} Blobs;

static void *blob_add(Blobs *bs, const char *name, const char *dtype, int ndim, int64_t a,
                      int64_t b) {
    bs->b = xrealloc(bs->b, sizeof *bs->b * (size_t)(bs->n + 1));
    Blob *t = &bs->b[bs->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->dtype = dtype;
    t->ndim = ndim;
    t->shape[0] = a;
    t->shape[1] = b;
    t->shape[2] = 1;
    size_t esz = strcmp(dtype, "F16") ? 4 : 2;
    t->nbytes = (size_t)a * (size_t)(ndim >= 2 ? b : 1) * esz;
    t->data = xcalloc(t->nbytes ? t->nbytes : 1, 1);
    return t->data;
}

/* A blob of a planned tensor's shape (1 to 3 dimensions). */
static void *blob_add_tensor(Blobs *bs, const Tensor *t, const char *dtype) {
    if (t->ndim < 3)
        return blob_add(bs, t->name, dtype, t->ndim, t->shape[0], t->ndim == 2 ? t->shape[1] : 0);
    blob_add(bs, t->name, dtype, 2, t->shape[0], t->shape[1] * t->shape[2]);
    Blob *b = &bs->b[bs->n - 1];
    b->ndim = 3;
    b->shape[1] = t->shape[1];
    b->shape[2] = t->shape[2];
    return b->data;
}

static int cmp_blob(const void *a, const void *b) {
    return strcmp(((const Blob *)a)->name, ((const Blob *)b)->name);
}

/* Writes the blobs as dir/model.safetensors (names sorted) and frees them. */
static void blobs_write(Blobs *bs, const char *dir) {
    qsort(bs->b, (size_t)bs->n, sizeof *bs->b, cmp_blob);
    size_t cap = 1 << 16, len = 0;
    char *h = xmalloc(cap);
    len += (size_t)snprintf(h, cap, "{\"__metadata__\":{\"format\":\"pt\"}");
    uint64_t off = 0;
    for (int i = 0; i < bs->n; i++) {
        const Blob *t = &bs->b[i];
        if (cap - len < 512) h = xrealloc(h, cap *= 2);
        char shape[96] = "";
        for (int d = 0; d < t->ndim; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", d ? "," : "",
                     (long long)t->shape[d]);
        len += (size_t)snprintf(
            h + len, cap - len,
            ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%s],\"data_offsets\":[%llu,%llu]}", t->name,
            t->dtype, shape, (unsigned long long)off, (unsigned long long)(off + t->nbytes));
        off += t->nbytes;
    }
    h[len++] = '}';
    while (len % 8) h[len++] = ' ';
    char *path = unum_path_join(dir, "model.safetensors");
    FILE *f = fopen(path, "wb");
    if (!f) die("cannot write", path);
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)((uint64_t)len >> (8 * i));
    fwrite(le, 1, 8, f);
    fwrite(h, 1, len, f);
    for (int i = 0; i < bs->n; i++) {
        if (fwrite(bs->b[i].data, 1, bs->b[i].nbytes, f) != bs->b[i].nbytes)
            die("write failed:", path);
        free(bs->b[i].data);
    }
    if (fclose(f)) die("write failed:", path);
    free(path);
    free(h);
    free(bs->b);
    bs->b = NULL, bs->n = 0;
}

static uint32_t below(uint64_t *s, uint32_t n) { return (uint32_t)((splitmix(s) >> 32) % n); }

/* One linear layer [N x K]: the quantized tensors into q, W into twin. */
static void quantize_layer(const QuantPreset *qp, const Tensor *t, uint64_t seed, Blobs *q,
                           Blobs *twin) {
    int N = (int)t->shape[0], K = (int)t->shape[1], b = qp->bits, p = 32 / b;
    int G = qp->group < 0 ? K : qp->group, ng = (K + G - 1) / G, levels = 1 << b;
    uint64_t s = seed ^ fnv(t->name);
    char prefix[96], name[112];
    snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(t->name) - 7), t->name); /* - ".weight" */
    /* g_idx: k / G, or with act-order the group of k's place in a shuffle */
    int32_t *gidx = xmalloc(sizeof(int32_t) * (size_t)K), *order = xmalloc(sizeof(int32_t) * K);
    for (int k = 0; k < K; k++) order[k] = k;
    if (qp->desc_act)
        for (int k = K - 1; k > 0; k--) {
            int j = (int)below(&s, (uint32_t)k + 1), tmp = order[k];
            order[k] = order[j], order[j] = tmp;
        }
    for (int r = 0; r < K; r++) gidx[order[r]] = r / G;
    uint8_t *qv = xmalloc((size_t)N * K), *zv = xmalloc((size_t)ng * N);
    uint16_t *sv = xmalloc(sizeof(uint16_t) * (size_t)ng * N);
    float spread = t->scale * sqrtf(12.0f) / (float)levels;
    for (size_t i = 0; i < (size_t)N * K; i++) qv[i] = (uint8_t)below(&s, (uint32_t)levels);
    for (size_t i = 0; i < (size_t)ng * N; i++) {
        if (qp->sym) zv[i] = (uint8_t)(levels / 2);
        else if (qp->method == GPTQ && !qp->v2) zv[i] = (uint8_t)(1 + below(&s, levels - 1));
        else zv[i] = (uint8_t)below(&s, (uint32_t)levels);
        double u = (double)(splitmix(&s) >> 11) * (1.0 / 9007199254740992.0);
        sv[i] = unum_f32_to_f16(spread * (float)(0.75 + 0.5 * u));
    }
    float *w = blob_add(twin, t->name, "F32", 2, N, K);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) {
            size_t gi = (size_t)gidx[k] * N + n;
            w[(size_t)n * K + k] = unum_f16_to_f32(sv[gi]) * (float)((int)qv[(size_t)n * K + k] - zv[gi]);
        }
    int64_t qn = (int64_t)N;
    if (qp->method == GPTQ) {
        snprintf(name, sizeof name, "%s.qweight", prefix);
        uint32_t *qw = blob_add(q, name, "I32", 2, K / p, qn);
        for (int k = 0; k < K; k++)
            for (int n = 0; n < N; n++)
                qw[(size_t)(k / p) * N + n] |= (uint32_t)qv[(size_t)n * K + k] << (b * (k % p));
        snprintf(name, sizeof name, "%s.qzeros", prefix);
        uint32_t *qz = blob_add(q, name, "I32", 2, ng, N / p);
        for (int g = 0; g < ng; g++)
            for (int n = 0; n < N; n++) {
                uint32_t z = zv[(size_t)g * N + n] - (qp->v2 ? 0u : 1u); /* v1: minus one */
                qz[(size_t)g * (N / p) + n / p] |= z << (b * (n % p));
            }
        snprintf(name, sizeof name, "%s.g_idx", prefix);
        memcpy(blob_add(q, name, "I32", 1, K, 0), gidx, sizeof(int32_t) * (size_t)K);
    } else { /* AutoAWQ: output 8c + order[i] in nibble i */
        static const int order8[8] = {0, 2, 4, 6, 1, 3, 5, 7};
        snprintf(name, sizeof name, "%s.qweight", prefix);
        uint32_t *qw = blob_add(q, name, "I32", 2, K, N / 8);
        for (int k = 0; k < K; k++)
            for (int c = 0; c < N / 8; c++)
                for (int i = 0; i < 8; i++)
                    qw[(size_t)k * (N / 8) + c] |= (uint32_t)qv[(size_t)(8 * c + order8[i]) * K + k]
                                                   << (4 * i);
        snprintf(name, sizeof name, "%s.qzeros", prefix);
        uint32_t *qz = blob_add(q, name, "I32", 2, ng, N / 8);
        for (int g = 0; g < ng; g++)
            for (int c = 0; c < N / 8; c++)
                for (int i = 0; i < 8; i++)
                    qz[(size_t)g * (N / 8) + c] |= (uint32_t)zv[(size_t)g * N + 8 * c + order8[i]]
                                                   << (4 * i);
    }
    snprintf(name, sizeof name, "%s.scales", prefix);
    memcpy(blob_add(q, name, "F16", 2, ng, N), sv, sizeof(uint16_t) * (size_t)ng * N);
    free(gidx), free(order), free(qv), free(zv), free(sv);
}

static int is_linear(const char *name) {
    static const char *proj[] = {"q_proj.weight", "k_proj.weight", "v_proj.weight",
                                 "o_proj.weight", "gate_proj.weight", "up_proj.weight",
                                 "down_proj.weight"};
    size_t len = strlen(name);
    for (size_t i = 0; i < sizeof proj / sizeof proj[0]; i++) {
        size_t pl = strlen(proj[i]);
        if (len > pl && !strcmp(name + len - pl, proj[i])) return 1;
    }
    return 0;
}

/* The other tensors: fp16 in the checkpoint, the same values in f32 in the twin. */
static void plain_tensor(const Tensor *t, uint64_t seed, Blobs *q, Blobs *twin) {
    uint16_t *h = blob_add_tensor(q, t, "F16");
    float *f = twin ? blob_add_tensor(twin, t, "F32") : NULL;
    uint64_t s = seed ^ fnv(t->name);
    for (int64_t i = 0, n = numel(t); i < n; i++) {
        h[i] = unum_f32_to_f16(t->offset + t->scale * rnd(&s));
        if (f) f[i] = unum_f16_to_f32(h[i]);
    }
}

static void write_quant(const QuantPreset *qp, const Preset *p, const char *out,
                        const char *tokenizer, uint64_t seed) {
    plan(p);
    Blobs q = {0}, twin = {0};
    for (int i = 0; i < n_tensors; i++) {
        if (is_linear(tensors[i].name)) {
            Blobs tw = {0};
            quantize_layer(qp, &tensors[i], seed, &q, &tw);
            if (qp->twin) {
                twin.b = xrealloc(twin.b, sizeof *twin.b * (size_t)(twin.n + 1));
                twin.b[twin.n++] = tw.b[0];
            } else free(tw.b[0].data);
            free(tw.b);
        } else plain_tensor(&tensors[i], seed, &q, qp->twin ? &twin : NULL);
    }
    char qc[256];
    if (qp->method == GPTQ)
        snprintf(qc, sizeof qc,
                 "\"quantization_config\":{\"quant_method\":\"gptq\",\"bits\":%d,\"group_size\":%d,"
                 "\"sym\":%s,\"desc_act\":%s,\"damp_percent\":0.01,\"true_sequential\":true,"
                 "\"checkpoint_format\":\"%s\"},",
                 qp->bits, qp->group, qp->sym ? "true" : "false", qp->desc_act ? "true" : "false",
                 qp->v2 ? "gptq_v2" : "gptq");
    else
        snprintf(qc, sizeof qc,
                 "\"quantization_config\":{\"quant_method\":\"awq\",\"bits\":%d,\"group_size\":%d,"
                 "\"zero_point\":true,\"version\":\"gemm\",\"modules_to_not_convert\":null},",
                 qp->bits, qp->group);
    blobs_write(&q, out);
    write_config(out, p, write_tokenizer_files(out, tokenizer, p->spm), qc, "float16");
    if (qp->twin) {
        char *tdir = xmalloc(strlen(out) + 8);
        sprintf(tdir, "%s-twin", out);
        if (mkdir(tdir, 0755) && errno != EEXIST) die("cannot create", tdir);
        blobs_write(&twin, tdir);
        write_config(tdir, p, write_tokenizer_files(tdir, tokenizer, p->spm), "", "float32");
        free(tdir);
    }
    free(tensors);
    tensors = NULL, n_tensors = 0;
}


/* A VibeVoice preset whose decoder's linear layers are GPTQ 4-bit (group
 * 128, symmetric, as Qwen2.5-7B-Instruct-GPTQ-Int4 is): those tensors as
 * write_quant makes them, the rest (embeddings, norms, lm_head, the
 * encoders and connectors) fp16; quantization_config at the top level of
 * config.json, where the published quantized checkpoints put it. */
static void write_vibevoice_quant(const VVPreset *vp, const char *out, const char *tokenizer,
                                  uint64_t seed) {
    static const QuantPreset gptq4 = {"vibevoice-gptq4", NULL, GPTQ, 4, 128, 1, 0, 0, 0};
    static const QuantPreset gptq4_g32 = {"vibevoice-gptq4-g32", NULL, GPTQ, 4, 32, 1, 0, 0, 1};
    const QuantPreset *qp = vp->gptq4 == 2 ? &gptq4_g32 : &gptq4;
    const Preset *p = vp->decoder;
    plan(p);
    plan_vibevoice(p->D, vp->shape->acoustic_dim, vp->shape->semantic_dim);
    Blobs q = {0}, twin = {0};
    for (int i = 0; i < n_tensors; i++) {
        if (is_linear(tensors[i].name) && !strncmp(tensors[i].name, "model.language_model.", 21)) {
            Blobs tw = {0};
            quantize_layer(qp, &tensors[i], seed, &q, &tw);
            if (qp->twin) {
                twin.b = xrealloc(twin.b, sizeof *twin.b * (size_t)(twin.n + 1));
                twin.b[twin.n++] = tw.b[0];
            } else free(tw.b[0].data);
            free(tw.b);
        } else plain_tensor(&tensors[i], seed, &q, qp->twin ? &twin : NULL);
    }
    char qc[256];
    snprintf(qc, sizeof qc,
             "\"quantization_config\":{\"quant_method\":\"gptq\",\"bits\":4,\"group_size\":%d,"
             "\"sym\":true,\"desc_act\":false,\"damp_percent\":0.01,\"true_sequential\":true,"
             "\"checkpoint_format\":\"gptq\"},",
             qp->group);
    blobs_write(&q, out);
    copy_file(tokenizer, out, "tokenizer.json");
    write_vibevoice_config(out, p, vp->shape->acoustic_dim, vp->shape->semantic_dim, qc,
                           "float16");
    if (qp->twin) {
        char *tdir = xmalloc(strlen(out) + 8);
        sprintf(tdir, "%s-twin", out);
        if (mkdir(tdir, 0755) && errno != EEXIST) die("cannot create", tdir);
        blobs_write(&twin, tdir);
        copy_file(tokenizer, tdir, "tokenizer.json");
        write_vibevoice_config(tdir, p, vp->shape->acoustic_dim, vp->shape->semantic_dim, "",
                               "float32");
        free(tdir);
    }
    free(tensors);
    tensors = NULL, n_tensors = 0;
}


int main(int argc, char **argv) {
    const char *preset = NULL, *out = NULL, *tokenizer = NULL, *adapter = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--list")) {
            for (size_t k = 0; k < sizeof presets / sizeof presets[0]; k++) puts(presets[k].name);
            for (size_t k = 0; k < sizeof whisper_presets / sizeof whisper_presets[0]; k++)
                puts(whisper_presets[k].name);
            for (size_t k = 0; k < sizeof omni_presets / sizeof omni_presets[0]; k++)
                puts(omni_presets[k].name);
            for (size_t k = 0; k < sizeof adapter_presets / sizeof adapter_presets[0]; k++)
                puts(adapter_presets[k].name);
            puts("tiny-bf16-tuned-a\ntiny-bf16-tuned-b\ntiny-bf16-tuned-c");
            for (size_t k = 0; k < sizeof vv_presets / sizeof vv_presets[0]; k++)
                puts(vv_presets[k].name);
            for (size_t k = 0; k < sizeof quant_presets / sizeof quant_presets[0]; k++)
                puts(quant_presets[k].name);
            return 0;
        } else if (!strcmp(argv[i], "--adapter") && i + 1 < argc) {
            adapter = argv[++i];
        } else if (!strcmp(argv[i], "--preset") && i + 1 < argc) {
            preset = argv[++i];
        } else if (!strcmp(argv[i], "--extra-layers") && i + 1 < argc) {
            extra_layers = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--extra-scale") && i + 1 < argc) {
            extra_scale = (float)atof(argv[++i]);
        } else if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) {
            tokenizer = argv[++i];
        } else if (argv[i][0] != '-' && !out) {
            out = argv[i];
        } else {
            fprintf(stderr, "usage: gen_model --preset NAME OUTDIR [--tokenizer FILE] "
                            "[--extra-layers N --extra-scale S] | --list\n");
            return 2;
        }
    }
    const Preset *p = NULL;
    const WhisperPreset *w = NULL;
    const OmniPreset *om = NULL;
    const QuantPreset *qp = NULL;
    uint64_t seed = 0;
    for (size_t k = 0; adapter && out && k < sizeof adapter_presets / sizeof adapter_presets[0];
         k++)
        if (!strcmp(adapter_presets[k].name, adapter)) {
            const AdapterPreset *a = &adapter_presets[k];
            for (size_t j = 0; j < sizeof presets / sizeof presets[0]; j++)
                if (!strcmp(presets[j].name, a->base)) p = &presets[j];
            if (unum_mkdir_p(out, 0755)) die("cannot create", out);
            write_adapter(a, p, out, 0x5eed3000u + k);
            return 0;
        }
    for (size_t k = 0; preset && k < sizeof quant_presets / sizeof quant_presets[0]; k++)
        if (!strcmp(quant_presets[k].name, preset)) {
            qp = &quant_presets[k], seed = 0x5eed3000u + k;
            for (size_t j = 0; j < sizeof presets / sizeof presets[0]; j++)
                if (!strcmp(presets[j].name, qp->base)) p = &presets[j];
        }
    for (size_t k = 0; preset && k < sizeof omni_presets / sizeof omni_presets[0]; k++)
        if (!strcmp(omni_presets[k].name, preset)) {
            om = &omni_presets[k], seed = 0x5eed2000u + k;
            for (size_t j = 0; j < sizeof presets / sizeof presets[0]; j++)
                if (!strcmp(presets[j].name, om->base)) p = &presets[j];
        }
    const VVPreset *vp = NULL;
    for (size_t k = 0; preset && k < sizeof vv_presets / sizeof vv_presets[0]; k++)
        if (!strcmp(vv_presets[k].name, preset)) vp = &vv_presets[k], seed = 0x5eed4000u + k;
    int vv = vp != NULL;
    if (vv) {
        p = vp->decoder, vv_shape = vp->shape;
        if (!tokenizer) {
            fprintf(stderr, "gen_model: %s needs --tokenizer (the Qwen tokenizer.json: its "
                            "speech token ids are the real ones)\n", preset);
            return 2;
        }
    }
    for (size_t k = 0; preset && !om && !qp && !vv && k < sizeof presets / sizeof presets[0]; k++)
        if (!strcmp(presets[k].name, preset)) p = &presets[k], seed = 0x5eed0000u + k;
    /* tiny-bf16-tuned-a, -b: tiny-bf16 moved a little (for unum merge) */
    if (preset && !p && !strncmp(preset, "tiny-bf16-tuned-", 16) && preset[16] >= 'a' &&
        preset[16] <= 'c' && !preset[17]) {
        p = &presets[0], seed = 0x5eed0000u;
        tune_seed = 0x7e57a000u + (uint64_t)preset[16], tune_scale = 0.2f;
    }
    for (size_t k = 0; preset && k < sizeof whisper_presets / sizeof whisper_presets[0]; k++)
        if (!strcmp(whisper_presets[k].name, preset))
            w = &whisper_presets[k], seed = 0x5eed1000u + k;
    if ((!p && !w) || !out) {
        fprintf(stderr, "gen_model: need --preset (one of --list) and OUTDIR\n");
        return 2;
    }
    char *dir = xstrdup(out); /* mkdir -p */
    for (char *c = dir + 1; *c; c++)
        if (*c == '/') {
            *c = 0;
            if (mkdir(dir, 0755) && errno != EEXIST) die("cannot create", dir);
            *c = '/';
        }
    if (mkdir(dir, 0755) && errno != EEXIST) die("cannot create", out);
    free(dir);
    if (qp) {
        write_quant(qp, p, out, tokenizer, seed);
        return 0;
    }
    if (vp && vp->gptq4) {
        write_vibevoice_quant(vp, out, tokenizer, seed);
        return 0;
    }
    if (w) {
        plan_whisper(w);
        qsort(tensors, (size_t)n_tensors, sizeof *tensors, cmp_name);
        char *path = unum_path_join(out, "model.safetensors");
        write_shard(path, w->dt, seed, 0);
        free(path);
        write_whisper_config(out, w);
        free(tensors);
        return 0;
    }
    plan(p);
    if (om) plan_omni(om, p->D);
    if (vv) plan_vibevoice(p->D, vv_shape->acoustic_dim, vv_shape->semantic_dim);
    qsort(tensors, (size_t)n_tensors, sizeof *tensors, cmp_name);
    for (int i = 0; i < n_tensors; i++) tensors[i].shard = i * p->shards / n_tensors;
    if (p->shards == 1) {
        char *path = unum_path_join(out, "model.safetensors");
        write_shard(path, p->dt, seed, 0);
        free(path);
    } else {
        size_t cap = 1 << 16, len = 0;
        char *idx = xmalloc(cap);
        len += (size_t)snprintf(idx, cap, "{\"metadata\":{},\"weight_map\":{");
        for (int i = 0; i < n_tensors; i++) {
            if (cap - len < 256) idx = xrealloc(idx, cap *= 2);
            len += (size_t)snprintf(idx + len, cap - len,
                                    "%s\"%s\":\"model-%05d-of-%05d.safetensors\"", i ? "," : "",
                                    tensors[i].name, tensors[i].shard + 1, p->shards);
        }
        snprintf(idx + len, cap - len, "}}\n");
        write_text(out, "model.safetensors.index.json", idx);
        free(idx);
        for (int s = 0; s < p->shards; s++) {
            char name[64];
            snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, p->shards);
            char *path = unum_path_join(out, name);
            write_shard(path, p->dt, seed, s);
            free(path);
        }
    }
    if (vv) {
        copy_file(tokenizer, out, "tokenizer.json");
        write_vibevoice_config(out, p, vv_shape->acoustic_dim, vv_shape->semantic_dim, "",
                               "bfloat16");
        free(tensors);
        return 0;
    }
    write_config(out, p, write_tokenizer_files(out, tokenizer, p->spm), "", dt_torch[p->dt]);
    free(tensors);
    tensors = NULL, n_tensors = 0;
    if (om) {
        omni_config(out, om);
        if (!om->embedded) { /* the Whisper directory the config names */
            static const WhisperPreset enc = {"whisper-encoder", 64, 2, 1, 1, 1, 128, 128,
                                              128, 1500, 8, 64, 1, F32};
            char *sub = unum_path_join(out, "whisper-encoder");
            if (mkdir(sub, 0755) && errno != EEXIST) die("cannot create", sub);
            plan_whisper(&enc);
            qsort(tensors, (size_t)n_tensors, sizeof *tensors, cmp_name);
            char *path = unum_path_join(sub, "model.safetensors");
            write_shard(path, enc.dt, seed + 1, 0);
            free(path);
            write_whisper_config(sub, &enc);
            free(sub);
            free(tensors);
        }
    }
    return 0;
}

/* config.json; first_special is the id of <|endoftext|> (bos), and
 * <|im_end|> (eos) follows it two ids later. */
/* extra: more fields (each ending in a comma) before torch_dtype */
/* MiniCPM's config.json fields, as openbmb's configs name them: muP scales
 * (scale_emb 12 and scale_depth 1.4 as MiniCPM4-8B; dim_model_base a
 * quarter of hidden_size, so logits are divided by 4) and LongRoPE factors,
 * head_dim/2 of each, short near 1 and long growing like the published
 * ones. */
static void minicpm_config(const char *out, const Preset *p, int first_special,
                           const char *extra, const char *torch_dtype) {
    int hd = p->head_dim ? p->head_dim : p->D / p->Hq;
    size_t cap = 8192, len = 0;
    char *cfg = xmalloc(cap), tie[64] = "", rope[4096] = "";
    if (p->tied >= 0)
        snprintf(tie, sizeof tie, "\"tie_word_embeddings\":%s,", p->tied ? "true" : "false");
    if (p->rope_orig) {
        size_t n = (size_t)snprintf(rope, sizeof rope, "\"rope_scaling\":{\"rope_type\":"
                                                       "\"longrope\",\"short_factor\":[");
        for (int i = 0; i < hd / 2; i++)
            n += (size_t)snprintf(rope + n, sizeof rope - n, "%s%.6f", i ? "," : "",
                                  1.0 + 0.02 * i);
        n += (size_t)snprintf(rope + n, sizeof rope - n, "],\"long_factor\":[");
        for (int i = 0; i < hd / 2; i++)
            n += (size_t)snprintf(rope + n, sizeof rope - n, "%s%.6f", i ? "," : "",
                                  1.0 + 0.5 * i * i);
        snprintf(rope + n, sizeof rope - n, "],\"original_max_position_embeddings\":%d},",
                 p->rope_orig);
    }
    len = (size_t)snprintf(
        cfg, cap,
        "{\"architectures\":[\"MiniCPMForCausalLM\"],\"model_type\":\"minicpm\","
        "\"hidden_size\":%d,\"intermediate_size\":%d,\"num_hidden_layers\":%d,"
        "\"num_attention_heads\":%d,\"num_key_value_heads\":%d,\"vocab_size\":%d,"
        "\"max_position_embeddings\":%d,\"rope_theta\":%.1f,\"rms_norm_eps\":1e-06,%s%s"
        "\"scale_emb\":12,\"scale_depth\":1.4,\"dim_model_base\":%d,%s\"torch_dtype\":\"%s\","
        "\"hidden_act\":\"silu\",\"bos_token_id\":%d,\"eos_token_id\":[%d]}\n",
        p->D, p->F, p->L + extra_layers, p->Hq, p->Hkv, p->V, p->max_pos, p->theta, tie, rope,
        p->D / 4, extra, torch_dtype, first_special, first_special + 2);
    if (len >= cap) {
        fprintf(stderr, "gen_model: config of %s too long\n", p->name);
        exit(1);
    }
    write_text(out, "config.json", cfg);
    free(cfg);
}

static void write_config(const char *out, const Preset *p, int first_special, const char *extra,
                         const char *torch_dtype) {
    if (p->minicpm) {
        minicpm_config(out, p, first_special, extra, torch_dtype);
        return;
    }
    char cfg[2048], hd[64] = "";
    if (p->head_dim) snprintf(hd, sizeof hd, "\"head_dim\":%d,", p->head_dim);
    snprintf(cfg, sizeof cfg,
             "{\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\","
             "\"hidden_size\":%d,\"intermediate_size\":%d,\"num_hidden_layers\":%d,"
             "\"num_attention_heads\":%d,\"num_key_value_heads\":%d,%s\"vocab_size\":%d,"
             "\"max_position_embeddings\":%d,\"rope_theta\":%.1f,\"rms_norm_eps\":1e-06,"
             "\"tie_word_embeddings\":%s,%s\"torch_dtype\":\"%s\",\"hidden_act\":\"silu\","
             "\"use_sliding_window\":false,\"attention_dropout\":0.0,\"bos_token_id\":%d,"
             "\"eos_token_id\":%d}\n",
             p->D, p->F, p->L + extra_layers, p->Hq, p->Hkv, hd, p->V, p->max_pos, p->theta,
             p->tied ? "true" : "false", extra, torch_dtype, first_special, first_special + 2);
    write_text(out, "config.json", cfg);
}

static int write_tokenizer_files(const char *out, const char *tokenizer, int spm) {
    if (spm) return write_spm_tokenizer(out);
    if (tokenizer) {
        copy_file(tokenizer, out, "tokenizer.json");
        write_text(out, "generation_config.json",
                   "{\"bos_token_id\":151643,\"eos_token_id\":[151645,151643],\"do_sample\":true,"
                   "\"temperature\":0.7,\"top_p\":0.8,\"top_k\":20,\"repetition_penalty\":1.05}\n");
        write_text(
            out, "tokenizer_config.json",
            "{\"eos_token\":\"<|im_end|>\",\"pad_token\":\"<|endoftext|>\",\"chat_template\":"
            "\"{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\\\n' + "
            "message.content + '<|im_end|>' + '\\\\n' }}{%- endfor %}\"}\n");
        return 151643;
    }
    return write_tokenizer(out);
}
