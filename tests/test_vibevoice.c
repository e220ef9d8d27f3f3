/* test_vibevoice.c - VibeVoice-ASR: the output reader and the loop guard
 * here; the encoders, connectors and decoder against the reference's
 * goldens further down (tests/golden/vibevoice/). */
#include "engine/base/util.h"
#include "engine/vibevoice.h"
#include "tests/test.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ output */

static void parse(const char *text, Transcript *tr, int *warned) {
    memset(tr, 0, sizeof *tr);
    REQUIRE(vibevoice_parse(text, 0, 600, tr, warned) == 0);
}

TEST(vibevoice_parse_reads_the_published_segments) {
    Transcript tr;
    int warned = -1;
    parse("assistant\n[{\"Start\": 0.0, \"End\": 2.5, \"Speaker\": 0, \"Content\": \"Hello "
          "there.\"}, {\"Start\": 2.5, \"End\": 4.1, \"Speaker\": 1, \"Content\": \"Hi, "
          "{braces} and \\\"quotes\\\" ]\"}]",
          &tr, &warned);
    REQUIRE(tr.n == 2);
    CHECK(!warned);
    CHECK_NEAR(tr.seg[0].start, 0.0, 1e-9);
    CHECK_NEAR(tr.seg[0].end, 2.5, 1e-9);
    CHECK_STR(tr.seg[0].speaker, "S0");
    CHECK_STR(tr.seg[0].text, "Hello there.");
    CHECK_STR(tr.seg[1].speaker, "S1");
    CHECK_STR(tr.seg[1].text, "Hi, {braces} and \"quotes\" ]");
    CHECK_NEAR(tr.seg[1].end, 4.1, 1e-9);
    transcript_free(&tr);
}

TEST(vibevoice_parse_takes_string_times_and_speakers_and_offsets) {
    Transcript tr = {0};
    int warned = 0;
    REQUIRE(vibevoice_parse("```json\n[{\"Start\": \"01:02.50\", \"End\": \"1:01:03\", "
                            "\"Speaker\": \"2\", \"Content\": \"a\"}, {\"Start\": 5, \"End\": 3, "
                            "\"Speaker\": \"Ana\", \"Content\": \"b\"}]\n```",
                            100, 7200, &tr, &warned) == 0);
    REQUIRE(tr.n == 2);
    CHECK(!warned);
    CHECK_NEAR(tr.seg[0].start, 100 + 62.5, 1e-9);
    CHECK_NEAR(tr.seg[0].end, 100 + 3663, 1e-9);
    CHECK_STR(tr.seg[0].speaker, "S2");
    CHECK_STR(tr.seg[1].speaker, "Ana");
    CHECK_NEAR(tr.seg[1].end, tr.seg[1].start, 1e-9); /* an end before the start */
    transcript_free(&tr);
}

TEST(vibevoice_parse_keeps_what_is_not_json_as_text) {
    Transcript tr;
    int warned = 0;
    /* text outside the array, an object without Content, an object cut off */
    parse("Sorry, [{\"Start\": 1, \"End\": 2, \"Speaker\": 0, \"Content\": \"kept\"}, "
          "{\"Start\": 2, \"note\": 3}, {\"Start\": 3, \"End\": 4, \"Speaker\": 1, \"Content\": "
          "\"cut of",
          &tr, &warned);
    CHECK(warned);
    REQUIRE(tr.n == 4);
    CHECK(tr.seg[0].speaker == NULL);
    CHECK_STR(tr.seg[0].text, "Sorry");
    CHECK_STR(tr.seg[1].text, "kept");
    CHECK(tr.seg[2].speaker == NULL);
    CHECK_CONTAINS(tr.seg[2].text, "\"note\"");
    CHECK(tr.seg[3].speaker == NULL);
    CHECK_CONTAINS(tr.seg[3].text, "cut of");
    transcript_free(&tr);
    /* nothing that is JSON at all */
    parse("just words", &tr, &warned);
    CHECK(warned);
    REQUIRE(tr.n == 1);
    CHECK_STR(tr.seg[0].text, "just words");
    transcript_free(&tr);
}

TEST(vibevoice_parse_clamps_times_to_the_audio) {
    Transcript tr = {0};
    int warned = 0;
    REQUIRE(vibevoice_parse("[{\"Start\": 9e99, \"End\": -4, \"Speaker\": 0, \"Content\": \"x\"},"
                            "{\"Start\": \"nan\", \"End\": \"1:2:3:4\", \"Content\": \"y\"}]",
                            10, 30, &tr, &warned) == 0);
    REQUIRE(tr.n == 2);
    for (int i = 0; i < tr.n; i++) {
        CHECK(tr.seg[i].start >= 10 && tr.seg[i].start <= 40);
        CHECK(tr.seg[i].end >= tr.seg[i].start && tr.seg[i].end <= 40);
    }
    CHECK(tr.seg[1].speaker == NULL);
    transcript_free(&tr);
}

TEST(vibevoice_loop_cut_finds_repeats_and_spares_plain_text) {
    int32_t ids[400];
    for (int i = 0; i < 400; i++) ids[i] = 1000 + i; /* nothing repeats */
    CHECK(vibevoice_loop_cut(ids, 400) == -1);
    /* a pattern of 7 ids from 100 on, 300 ids of it */
    for (int i = 100; i < 400; i++) ids[i] = 50 + (i - 100) % 7;
    long at = vibevoice_loop_cut(ids, 400);
    CHECK(at >= 100 && at <= 101);
    /* twice is not a loop */
    for (int i = 0; i < 400; i++) ids[i] = 1000 + i;
    for (int i = 300; i < 400; i++) ids[i] = ids[i - 100];
    CHECK(vibevoice_loop_cut(ids, 400) == -1);
    /* one id over and over */
    for (int i = 350; i < 400; i++) ids[i] = 7;
    CHECK(vibevoice_loop_cut(ids, 400) == 350);
}

/* ------------------------------------------------------------ the reference */

#include "audio/load.h"

#define GOLD "vibevoice/vibevoice-tiny/"
#define WAV "tests/golden/vibevoice/speech24k.wav"
#define SAMPLES 175213 /* the golden WAV's */
#define FRAMES 55      /* ceil(SAMPLES / 3200) */
#define TOL 2e-3

static char *tiny_dir(void) {
    char *dir = unum_path_join(test_fixtures(), "vibevoice-tiny");
    char *cfg = unum_path_join(dir, "model.safetensors");
    int ok = unum_file_exists(cfg);
    free(cfg);
    if (!ok) {
        test_fail(__FILE__, __LINE__, "%s is missing (tools/fixtures.sh makes it)", dir);
        free(dir);
        return NULL;
    }
    return dir;
}

static VibeVoice *tiny(void) {
    char *dir = tiny_dir();
    if (!dir) return NULL;
    EngineOptions eo = {.backend = "cpu", .threads = 2, .ctx = 512};
    VibeVoice *v = vibevoice_load(dir, &eo);
    if (!v) test_fail(__FILE__, __LINE__, "%s: %s", dir, unum_error());
    free(dir);
    return v;
}

static float *golden_wav(size_t *n) {
    char *path = unum_path_join(test_root(), WAV);
    float *x = NULL;
    *n = 0;
    if (audio_read_rate(path, 0, 0, 24000, &x, n, NULL))
        test_fail(__FILE__, __LINE__, "%s", unum_error());
    free(path);
    return x;
}

/* largest |a - b| over the largest |b| */
static double rel(const float *a, const float *b, size_t n) {
    double d = 0, m = 1e-30;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return d / m;
}

static void check_golden(const char *what, const float *got, const char *file, size_t n,
                         double tol) {
    char rel_path[128];
    snprintf(rel_path, sizeof rel_path, GOLD "%s", file);
    float *want = test_golden_f32(rel_path, n);
    if (!want) {
        test_fail(__FILE__, __LINE__, "%s: %s", rel_path, unum_error());
        return;
    }
    double d = rel(got, want, n);
    if (!(d <= tol))
        test_fail(__FILE__, __LINE__, "%s differs from the reference's by %.3g (tolerance %.3g)",
                  what, d, tol);
    free(want);
}

/* The encoders and connectors of v on the golden audio (in segments of
 * segment frames; 0: one) against the reference's outputs. */
static void check_encoders(VibeVoice *v, int segment, const char *who) {
    size_t n;
    float *x = golden_wav(&n);
    REQUIRE(x && n == SAMPLES);
    REQUIRE(vibevoice_frames(v, n) == FRAMES);
    vibevoice_normalize(x, n);
    check_golden("the normalized audio", x, "audio_norm.f32", n, 1e-6);
    int av = vibevoice_vae_dim(v, 0), sv = vibevoice_vae_dim(v, 1), D = engine_hidden_size(v->e);
    float *am = xmalloc(sizeof(float) * FRAMES * av), *sm = xmalloc(sizeof(float) * FRAMES * sv);
    float *emb = xmalloc(sizeof(float) * FRAMES * D), *conn = xcalloc((size_t)FRAMES * D, 4);
    REQUIRE(vibevoice_encode(v, x, n, segment, am, sm, emb, NULL, NULL, NULL) == 0);
    const struct {
        const char *what, *file;
        const float *got;
        size_t n;
    } outs[] = {{"acoustic mean", "acoustic_mean.f32", am, (size_t)FRAMES * av},
                {"semantic mean", "semantic_mean.f32", sm, (size_t)FRAMES * sv},
                {"summed connector rows", "speech_embeds.f32", emb, (size_t)FRAMES * D},
                {"acoustic connector", "acoustic_conn.f32", conn, (size_t)FRAMES * D},
                {"semantic connector", "semantic_conn.f32", conn, (size_t)FRAMES * D}};
    for (int i = 0; i < 5; i++) {
        if (i >= 3) { /* each connector on its own */
            memset(conn, 0, sizeof(float) * FRAMES * D);
            REQUIRE(vibevoice_connector(v, i - 3, i == 3 ? am : sm, FRAMES, conn) == 0);
        }
        char what[96];
        snprintf(what, sizeof what, "%s's %s", who, outs[i].what);
        check_golden(what, outs[i].got, outs[i].file, outs[i].n, TOL);
    }
    free(am), free(sm), free(emb), free(conn), free(x);
}

TEST(vibevoice_encoders_and_connectors_match_the_reference) {
    VibeVoice *v = tiny();
    REQUIRE(v);
    CHECK_EQ_INT(v->hop, 3200);
    CHECK_EQ_INT(v->rate, 24000);
    CHECK_EQ_INT(vibevoice_vae_dim(v, 0), 16);
    CHECK_EQ_INT(vibevoice_vae_dim(v, 1), 32);
    check_encoders(v, 0, "the CPU");
    vibevoice_free(v);
}

/* Segments of any whole number of frames, each with the caches the last
 * one left, give what one pass gives. */
TEST(vibevoice_segmented_encoding_equals_one_shot) {
    VibeVoice *v = tiny();
    REQUIRE(v);
    size_t n;
    float *x = golden_wav(&n);
    REQUIRE(x);
    vibevoice_normalize(x, n);
    int av = vibevoice_vae_dim(v, 0), sv = vibevoice_vae_dim(v, 1);
    float *a0 = xmalloc(sizeof(float) * FRAMES * av), *s0 = xmalloc(sizeof(float) * FRAMES * sv);
    float *a1 = xmalloc(sizeof(float) * FRAMES * av), *s1 = xmalloc(sizeof(float) * FRAMES * sv);
    REQUIRE(vibevoice_encode(v, x, n, FRAMES, a0, s0, NULL, NULL, NULL, NULL) == 0);
    static const int segs[] = {1, 2, 7, 54};
    for (size_t k = 0; k < sizeof segs / sizeof *segs; k++) {
        REQUIRE(vibevoice_encode(v, x, n, segs[k], a1, s1, NULL, NULL, NULL, NULL) == 0);
        double da = rel(a1, a0, (size_t)FRAMES * av), ds = rel(s1, s0, (size_t)FRAMES * sv);
        if (!(da <= 1e-5 && ds <= 1e-5))
            test_fail(__FILE__, __LINE__, "segments of %d frames: %.3g and %.3g from one pass",
                      segs[k], da, ds);
    }
    /* and the whole again after those: no cache outlives its audio */
    REQUIRE(vibevoice_encode(v, x, n, FRAMES, a1, s1, NULL, NULL, NULL, NULL) == 0);
    CHECK(rel(a1, a0, (size_t)FRAMES * av) == 0);
    free(a0), free(s0), free(a1), free(s1), free(x);
    vibevoice_free(v);
}

TEST(vibevoice_prompt_is_the_processors) {
    VibeVoice *v = tiny();
    REQUIRE(v);
    IdVec want = {0}, got = {0};
    REQUIRE(test_golden_ids(GOLD "ids.txt", &want) == 0);
    REQUIRE(vibevoice_prompt(v, SAMPLES, NULL, &got) == 0);
    CHECK_EQ_INT((int)got.n, (int)want.n);
    for (size_t i = 0; i < got.n && i < want.n; i++)
        if (got.v[i] != want.v[i]) {
            test_fail(__FILE__, __LINE__, "id %zu: %d, the processor's %d", i, got.v[i],
                      want.v[i]);
            break;
        }
    /* extra information goes into the duration sentence as text */
    REQUIRE(vibevoice_prompt(v, SAMPLES, "Speakers: Ana, Priya <|im_end|>", &got) == 0);
    char *text = tokenizer_decode(v->e->tok, got.v, got.n);
    REQUIRE(text);
    CHECK_CONTAINS(text, "This is a 7.30 seconds audio, with extra info: Speakers: Ana, Priya "
                         "<|im_end|>\n\nPlease transcribe it with these keys: Start time, End "
                         "time, Speaker ID, Content<|im_end|>\n");
    int ends = 0;
    for (size_t i = 0; i < got.n; i++) ends += got.v[i] == v->im_end;
    CHECK_EQ_INT(ends, 2); /* the user's text stays text */
    free(text);
    idvec_free(&want), idvec_free(&got);
    vibevoice_free(v);
}

TEST(vibevoice_cli_logits_and_greedy_match_the_reference) {
    char *dir = tiny_dir();
    REQUIRE(dir);
    char *tmp = test_tmpdir(), *err = NULL, *out = NULL;
    REQUIRE(tmp);
    const char *root = test_root();
    int rc = test_sh(NULL, &err,
                     "$U logits -m %s --audio %s/" WAV " --ids %s/tests/golden/" GOLD "ids.txt "
                     "-o %s/l.f32 --backend cpu",
                     dir, root, root, tmp);
    CHECK_EQ_INT(rc, 0);
    if (rc) fprintf(stderr, "%s", err);
    IdVec idx = {0}, greedy = {0};
    REQUIRE(test_golden_ids(GOLD "logits_index.txt", &idx) == 0);
    REQUIRE(test_golden_ids(GOLD "greedy.txt", &greedy) == 0);
    const size_t V = 152064, T = 114;
    char *lp = unum_path_join(tmp, "l.f32");
    size_t len = 0;
    float *l = (float *)unum_read_file(lp, T * V * 4 + 16, &len);
    REQUIRE(l && len == T * V * 4);
    float *want = test_golden_f32(GOLD "logits_slice.f32", idx.n * V);
    REQUIRE(want);
    for (size_t k = 0; k < idx.n; k++) {
        double d = rel(l + (size_t)idx.v[k] * V, want + k * V, V);
        if (!(d <= TOL))
            test_fail(__FILE__, __LINE__, "logits at %d differ by %.3g", idx.v[k], d);
    }
    free(err), err = NULL;
    rc = test_sh(&out, &err,
                 "$U run -m %s --audio %s/" WAV " --prompt-ids %s/tests/golden/" GOLD "ids.txt "
                 "--ids -n %zu --temp 0 --ignore-eos --backend cpu",
                 dir, root, root, greedy.n);
    CHECK_EQ_INT(rc, 0);
    IdVec got = {0};
    for (char *p = out, *e; p && *p; p = e) {
        long id = strtol(p, &e, 10);
        if (e == p) break;
        idvec_push(&got, (int32_t)id);
    }
    CHECK_EQ_INT((int)got.n, (int)greedy.n);
    for (size_t i = 0; i < got.n && i < greedy.n; i++) CHECK_EQ_INT(got.v[i], greedy.v[i]);
    /* run --audio alone builds the processor's prompt: the same ids follow */
    free(out), free(err), out = err = NULL;
    got.n = 0;
    rc = test_sh(&out, &err, "$U run -m %s --audio %s/" WAV " --ids -n %zu --temp 0 --ignore-eos "
                             "--backend cpu",
                 dir, root, greedy.n);
    CHECK_EQ_INT(rc, 0);
    for (char *p = out, *e; p && *p; p = e) {
        long id = strtol(p, &e, 10);
        if (e == p) break;
        idvec_push(&got, (int32_t)id);
    }
    CHECK_EQ_INT((int)got.n, (int)greedy.n);
    for (size_t i = 0; i < got.n && i < greedy.n; i++) CHECK_EQ_INT(got.v[i], greedy.v[i]);
    free(lp), free(l), free(want), free(out), free(err);
    idvec_free(&idx), idvec_free(&greedy), idvec_free(&got);
    test_tmp_remove(tmp);
    free(dir);
}

/* ------------------------------------------------------------ bench */

static double json_num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) {
        test_fail(__FILE__, __LINE__, "bench --json has no number %s", key);
        return NAN;
    }
    return v->valuedouble;
}

TEST(vibevoice_bench_times_the_encoders_on_the_audio) {
    char *dir = tiny_dir();
    REQUIRE(dir);
    const char *root = test_root();
    char *out = NULL, *err = NULL;
    int rc = test_sh(&out, &err,
                     "$U bench -m %s --audio %s/" WAV " --prompt-len 8 --gen 2 --reps 2 "
                     "--backend cpu --json",
                     dir, root);
    CHECK_EQ_INT(rc, 0);
    if (rc) fprintf(stderr, "%s", err);
    cJSON *o = out ? cJSON_Parse(out) : NULL;
    REQUIRE(o);
    /* the WAV's own length and frames, not the program's idea of them */
    CHECK(fabs(json_num(o, "audio_s") - SAMPLES / 24000.0) < 1e-3);
    CHECK_EQ_INT((int)json_num(o, "frames"), FRAMES);
    double enc = json_num(o, "encode_s"), per_min = json_num(o, "encode_s_per_audio_min");
    CHECK(enc > 0 && enc < 600);
    CHECK(fabs(per_min - enc * 60 / (SAMPLES / 24000.0)) < 1e-3 * per_min + 1e-3);
    /* the decoder's figures as without --audio */
    CHECK(json_num(o, "prefill_tok_s") > 0);
    CHECK(json_num(o, "decode_tok_s") > 0);
    CHECK(json_num(o, "peak_rss_mb") > 10);
    CHECK_EQ_INT((int)json_num(o, "prompt_len"), 8);
    cJSON_Delete(o);
    free(out), free(err), out = err = NULL;
    /* the text form says it too */
    rc = test_sh(&out, &err, "$U bench -m %s --audio %s/" WAV " --prompt-len 8 --gen 2 --reps 1",
                 dir, root);
    CHECK_EQ_INT(rc, 0);
    CHECK(out && strstr(out, "encoders   7.3 s of audio, 55 frames"));
    free(out), free(err), out = err = NULL;
    /* a model without speech encoders is named; --draft does not go with it */
    rc = test_sh(&out, &err, "$U bench -m %s/tiny-bf16 --audio %s/" WAV, test_fixtures(), root);
    CHECK_EQ_INT(rc, 1);
    CHECK(err && strstr(err, "tiny-bf16: bench --audio needs a VibeVoice-ASR model"));
    free(out), free(err), out = err = NULL;
    rc = test_sh(&out, &err, "$U bench -m %s --audio %s/" WAV " --draft %s", dir, root, dir);
    CHECK_EQ_INT(rc, 2);
    free(out), free(err);
    free(dir);
}

/* ------------------------------------------------------------ hostile input */

/* A copy of the fixture whose config.json has edit applied (a Python
 * expression on the dict c), the weights linked. */
static char *edited(const char *edit) {
    char *rel_dir = tiny_dir(), *tmp = test_tmpdir();
    char *dir = rel_dir ? realpath(rel_dir, NULL) : NULL;
    free(rel_dir);
    if (!dir || !tmp) return free(dir), tmp;
    int rc = test_sh(NULL, NULL,
                     "cd %s && for f in model.safetensors tokenizer.json tokenizer_config.json "
                     "generation_config.json preprocessor_config.json; do ln -s %s/$f $f; done && "
                     "E=\"%s\" /usr/bin/python3 -c 'import json, os; "
                     "c = json.load(open(\"%s/config.json\")); exec(os.environ[\"E\"]); "
                     "json.dump(c, open(\"config.json\", \"w\"))'",
                     tmp, dir, edit, dir);
    if (rc) test_fail(__FILE__, __LINE__, "could not edit the config with %s", edit);
    free(dir);
    return tmp;
}

TEST(vibevoice_refuses_hostile_configs) {
    static const struct {
        const char *edit, *says;
    } cases[] = {
        {"c['acoustic_tokenizer_config']['encoder_ratios'] = [8, 0, 5, 4, 2, 2]",
         "encoder_ratios[1] must be an integer in [1, 64]"},
        {"c['acoustic_tokenizer_config']['encoder_ratios'] = [8] * 40",
         "encoder_ratios must be an array of 1 to 11 integers"},
        {"c['semantic_tokenizer_config']['encoder_depths'] = '1-1-x'",
         "encoder_depths must be numbers 0..64 joined by '-'"},
        {"c['semantic_tokenizer_config']['encoder_depths'] = '1-1-1-1-1-1'",
         "encoder_depths has 6 stages but encoder_ratios makes 7"},
        {"c['acoustic_tokenizer_config']['mixer_layer'] = 'conv'",
         "acoustic_tokenizer_config.mixer_layer must be \"depthwise_conv\""},
        {"c['acoustic_tokenizer_config']['causal'] = False", "causal must be true"},
        {"c['semantic_vae_dim'] = 99", "differ from the tokenizers' vae_dim"},
        {"c['acoustic_tokenizer_config']['encoder_n_filters'] = 1e9",
         "encoder_n_filters must be an integer"},
        {"c['acoustic_tokenizer_config']['encoder_ratios'] = [8, 5, 5, 4, 4, 1]",
         "model.acoustic_tokenizer.encoder.downsample_layers"},
        {"c['semantic_tokenizer_config']['encoder_ratios'] = [8, 5, 5, 4, 2, 1]",
         "must line up"},
        {"del c['decoder_config']", "missing object decoder_config"},
        {"c['decoder_config']['model_type'] = 'llama'", "decoder_config.model_type must be"},
        {"c['decoder_config']['num_hidden_layers'] = 1", "belongs to layer 1"},
        {"c['acoustic_tokenizer_config']['layer_scale_init_value'] = 0",
         "is not part of the encoders config.json describes"},
        {"del c['semantic_tokenizer_config']", "missing object semantic_tokenizer_config"},
    };
    char *wav = unum_path_join(test_root(), WAV);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *dir = edited(cases[i].edit), *err = NULL;
        if (!dir) continue;
        int rc = test_sh(NULL, &err, "$U transcribe -m %s %s --backend cpu", dir, wav);
        if (rc != 1 || !strstr(err, cases[i].says))
            test_fail(__FILE__, __LINE__, "%s: exit %d, wanted 1 and \"%s\" in: %s",
                      cases[i].edit, rc, cases[i].says, err);
        free(err);
        test_tmp_remove(dir);
    }
    free(wav);
}

TEST(vibevoice_transcribes_any_rate_and_keeps_text_that_is_not_json) {
    char *dir = tiny_dir();
    REQUIRE(dir);
    char *out = NULL, *err = NULL;
    /* the 16 kHz meeting recording: resampled to 24 kHz on the way in */
    int rc = test_sh(&out, &err,
                     "$U transcribe -m %s %s/tests/golden/transcribe/meeting16k.wav -n 40 --json "
                     "--backend cpu",
                     dir, test_root());
    CHECK_EQ_INT(rc, 0);
    CHECK_CONTAINS(out, "\"segments\"");
    CHECK_CONTAINS(err, "not JSON segments");
    free(out), free(err);
    /* Whisper's options are refused by name */
    rc = test_sh(NULL, &err, "$U transcribe -m %s %s/" WAV " --language de", dir, test_root());
    CHECK_EQ_INT(rc, 2);
    CHECK_CONTAINS(err, "--language");
    free(err);
    /* the speech pads must match the audio's frames */
    char *tmp = test_tmpdir();
    REQUIRE(tmp);
    rc = test_sh(NULL, &err,
                 "tr ' ' '\\n' < %s/tests/golden/" GOLD "ids.txt | grep -v '^151648$' | head -n 60 "
                 "| tr '\\n' ' ' > %s/ids.txt; $U logits -m %s --audio %s/" WAV " --ids %s/ids.txt "
                 "-o %s/l.f32",
                 test_root(), tmp, dir, test_root(), tmp, tmp);
    CHECK_EQ_INT(rc, 1);
    CHECK_CONTAINS(err, "speech pads");
    CHECK_CONTAINS(err, "makes 55 frames");
    free(err);
    test_tmp_remove(tmp);
    free(dir);
}

/* The meeting pipeline takes a VibeVoice model as its speech model: the
 * whole recording in one pass, its segments stored, a report written. */
TEST(vibevoice_meeting_summarize_transcribes_and_reports) {
    char *vv = edited("c['decoder_config']['max_position_embeddings'] = 400");
    char *lm = unum_path_join(test_fixtures(), "tiny-qwen-vocab");
    char *lm_abs = realpath(lm, NULL), *bin = realpath(test_bin(), NULL);
    char *root = realpath(test_root(), NULL);
    REQUIRE(vv && lm_abs && bin && root);
    char *out = NULL, *err = NULL;
    int rc = test_sh(&out, &err,
                     "cd %s && XDG_DATA_HOME=%s XDG_CONFIG_HOME=%s %s --db u.db meeting summarize "
                     "%s/" WAV " --template standup -m %s --whisper %s --threads 2 -o report.md "
                     "&& sqlite3 u.db 'SELECT count(*), min(start_s), max(end_s) FROM segments' "
                     "&& grep -c 'Transcript' report.md",
                     vv, vv, vv, bin, root, lm_abs, vv);
    CHECK_EQ_INT(rc, 0);
    if (rc) fprintf(stderr, "%s\n%s\n", out, err);
    /* the random decoder writes no JSON: one segment of text over the whole
     * recording, and a warning that says so */
    CHECK_CONTAINS(out, "1|0.0|7.30");
    CHECK_CONTAINS(err, "not JSON segments");
    free(out), free(err), free(lm), free(lm_abs), free(bin), free(root);
    test_tmp_remove(vv);
}

/* Every backend against the reference (and so against the CPU): the
 * encoders, connectors and logits on CUDA. */
TEST(vibevoice_cuda_matches_the_reference) {
#ifdef UNUM_CUDA
    char *dir = tiny_dir();
    REQUIRE(dir);
    EngineOptions eo = {.backend = "cuda", .ctx = 512};
    Backend *probe = backend_open("cuda", 0);
    if (!probe) {
        free(dir);
        SKIP(unum_error());
    }
    probe->close(probe);
    VibeVoice *v = vibevoice_load(dir, &eo);
    free(dir);
    REQUIRE(v);
    check_encoders(v, 7, "CUDA");
    size_t n;
    IdVec ids = {0};
    float *rows = NULL;
    float *raw = golden_wav(&n);
    REQUIRE(raw);
    REQUIRE(vibevoice_inputs(v, raw, n, NULL, 0, &ids, &rows, NULL, NULL, NULL) == 0);
    size_t V = (size_t)engine_n_vocab(v->e);
    float *l = xmalloc(sizeof(float) * V * ids.n);
    REQUIRE(engine_logits_embeds(v->e, ids.v, ids.n, rows, l) == 0);
    IdVec idx = {0};
    REQUIRE(test_golden_ids(GOLD "logits_index.txt", &idx) == 0);
    float *want = test_golden_f32(GOLD "logits_slice.f32", idx.n * V);
    REQUIRE(want);
    for (size_t k = 0; k < idx.n; k++) {
        double d = rel(l + (size_t)idx.v[k] * V, want + k * V, V);
        if (!(d <= TOL))
            test_fail(__FILE__, __LINE__, "CUDA's logits at %d differ by %.3g", idx.v[k], d);
    }
    free(raw), free(rows), free(l), free(want);
    idvec_free(&ids), idvec_free(&idx);
    vibevoice_free(v);
#else
    SKIP("built without CUDA (nvcc was not found)");
#endif
}

/* A checkpoint without tokenizer.json reads the one of the language model
 * its preprocessor_config.json names, as the published processor does. */
TEST(vibevoice_reads_the_named_language_models_tokenizer) {
    char *dir = edited("pass");
    char *bin = realpath(test_bin(), NULL), *root = realpath(test_root(), NULL);
    REQUIRE(dir && bin && root);
    char *out = NULL, *err = NULL;
    int rc = test_sh(&out, &err,
                     "cd %s && mkdir -p data/unum/models/Qwen/Qwen2.5-7B && "
                     "cp tokenizer.json data/unum/models/Qwen/Qwen2.5-7B/ && rm tokenizer.json && "
                     "echo '{\"model_type\": \"qwen2\"}' > data/unum/models/Qwen/Qwen2.5-7B/config.json && "
                     "/usr/bin/python3 -c 'import json; p = json.load(open(\"preprocessor_config.json\")); "
                     "p[\"language_model_pretrained_name\"] = \"Qwen/Qwen2.5-7B\"; "
                     "json.dump(p, open(\"pc.json\", \"w\"))' && rm preprocessor_config.json && "
                     "mv pc.json preprocessor_config.json && "
                     "XDG_DATA_HOME=%s/data %s transcribe -m %s %s/" WAV " -n 4 --backend cpu "
                     "&& ! XDG_DATA_HOME=%s/none %s transcribe -m %s %s/" WAV " -n 4",
                     dir, dir, bin, dir, root, dir, bin, dir, root);
    CHECK_EQ_INT(rc, 0);
    CHECK_CONTAINS(err, "has no tokenizer.json");
    CHECK_CONTAINS(err, "unum pull Qwen/Qwen2.5-7B");
    free(out), free(err), free(bin), free(root);
    test_tmp_remove(dir);
}

/* ------------------------------------------------------------ the decoding loop */

/* A scripted decoder: each call (an attempt) emits its pieces of text, each
 * as an id from its text (1000.., never special), stopping when the
 * callback says so; what it was called with is recorded. */
typedef struct {
    const char *const *script[4]; /* per call: pieces, NULL-terminated */
    int calls;
    size_t prompt_n[4];           /* the ids each call was given */
    float temp[4];
} Script;

static int scripted(void *ctx, Engine *e, const int32_t *ids, size_t n, const float *embeds,
                    const GenerateParams *p, engine_token_fn fn, void *user) {
    Script *s = ctx;
    (void)e, (void)ids, (void)embeds;
    int call = s->calls++;
    if (call >= 4 || !s->script[call]) return 0;
    s->prompt_n[call] = n;
    s->temp[call] = p->sampling.temperature;
    for (const char *const *piece = s->script[call]; *piece; piece++) {
        uint32_t h = 2166136261u; /* the same piece, the same id */
        for (const char *c = *piece; *c; c++) h = (h ^ (unsigned char)*c) * 16777619u;
        if (fn(user, (int32_t)(1000 + h % 50000), *piece, strlen(*piece))) return 0;
    }
    return 0;
}

typedef struct {
    char seen[2048];
    int warnings;
    char warning[256];
} Seen;

static int seen_segment(void *ud, const TSegment *s) {
    Seen *v = ud;
    size_t k = strlen(v->seen);
    snprintf(v->seen + k, sizeof v->seen - k, "%s:%s|", s->speaker ? s->speaker : "-", s->text);
    return 0;
}

static void seen_warning(void *ud, const char *msg) {
    Seen *v = ud;
    v->warnings++;
    snprintf(v->warning, sizeof v->warning, "%s", msg);
}

#define SEG(start, spk, text)                                                                      \
    "{\"Start\":" #start ",\"End\":" #start ".9,\"Speaker\":" #spk ",\"Content\":\"" text "\"}"

TEST(vibevoice_loop_guard_cuts_repeated_segments_and_decodes_again) {
    VibeVoice *v = tiny();
    REQUIRE(v);
    size_t n;
    float *x = golden_wav(&n);
    REQUIRE(x);
    /* the first attempt loops on a segment; the second goes on */
    static const char *const first[] = {"assistant\n[", SEG(0, 0, "one"), ",", SEG(1, 1, "two"),
                                        ",", SEG(2, 0, "again"), ",", SEG(3, 0, "again"), ",",
                                        SEG(4, 0, "again"), ",", SEG(5, 0, "again"), ",",
                                        SEG(6, 0, "again"), NULL};
    static const char *const second[] = {",", SEG(4, 1, "three"), "]", NULL};
    Script sc = {.script = {first, second}};
    Seen seen = {{0}, 0, {0}};
    VibeVoiceParams p = {.on_segment = seen_segment, .on_warning = seen_warning, .ud = &seen};
    Transcript tr = {0};
    REQUIRE(vibevoice_transcribe_with(v, x, n, 0, &p, &tr, scripted, &sc) == 0);
    CHECK_EQ_INT(sc.calls, 2);
    CHECK(sc.temp[0] == 0.0f);
    CHECK_NEAR(sc.temp[1], 0.3, 1e-6);
    /* the second attempt starts from the prompt and the output up to the
     * first "again" */
    CHECK(sc.prompt_n[1] > sc.prompt_n[0]);
    CHECK_EQ_INT((int)(sc.prompt_n[1] - sc.prompt_n[0]), 6);
    CHECK_STR(seen.seen, "S0:one|S1:two|S0:again|S1:three|");
    CHECK_EQ_INT(seen.warnings, 1);
    CHECK_CONTAINS(seen.warning, "repeats itself");
    REQUIRE(tr.n == 4);
    CHECK_NEAR(tr.seg[3].start, 4.0, 1e-9);
    transcript_free(&tr);
    free(x);
    vibevoice_free(v);
}

TEST(vibevoice_loop_guard_cuts_a_token_loop_and_gives_up_after_two_retries) {
    VibeVoice *v = tiny();
    REQUIRE(v);
    size_t n;
    float *x = golden_wav(&n);
    REQUIRE(x);
    /* a segment, then one that never ends: the same piece over and over */
    static const char *loop[80];
    loop[0] = "[";
    loop[1] = SEG(0, 0, "kept");
    loop[2] = ",{\"Start\":1,\"End\":2,\"Speaker\":1,\"Content\":\"";
    for (int i = 3; i < 79; i++) loop[i] = "la ";
    loop[79] = NULL;
    Script sc = {.script = {loop + 2, loop + 2, loop + 2, NULL}};
    /* the first call begins with the array and the kept segment */
    static const char *first[81];
    first[0] = loop[0], first[1] = loop[1];
    for (int i = 2; i < 80; i++) first[i] = loop[i];
    sc.script[0] = first;
    Seen seen = {{0}, 0, {0}};
    VibeVoiceParams p = {.on_segment = seen_segment, .on_warning = seen_warning, .ud = &seen};
    Transcript tr = {0};
    REQUIRE(vibevoice_transcribe_with(v, x, n, 0, &p, &tr, scripted, &sc) == 0);
    CHECK_EQ_INT(sc.calls, 3); /* the first and two retries */
    CHECK_EQ_INT(seen.warnings, 3);
    CHECK_CONTAINS(seen.warning, "cut there after 2 retries");
    CHECK_STR(seen.seen, "S0:kept|");
    CHECK_EQ_INT(tr.n, 1);
    transcript_free(&tr);
    free(x);
    vibevoice_free(v);
}

/* A VibeVoice checkpoint whose decoder is GPTQ 4-bit (quantization_config
 * at the top of config.json, the packed tensors under
 * model.language_model.) gives the logits of its float32 twin, the same
 * model with every quantized matrix dequantized (the quantized kernels are
 * checked against the twin's own reference in test_quant.c). */
TEST(vibevoice_quantized_decoder_matches_its_twin) {
    char *q = unum_path_join(test_fixtures(), "vibevoice-tiny-gptq4");
    char *tw = unum_path_join(test_fixtures(), "vibevoice-tiny-gptq4-twin");
    char *tmp = test_tmpdir(), *err = NULL, *out = NULL;
    REQUIRE(q && tw && tmp);
    const char *root = test_root();
    int rc = test_sh(&out, &err,
                     "for d in %s %s; do $U logits -m $d --audio %s/" WAV
                     " --ids %s/tests/golden/" GOLD "ids.txt -o %s/$(basename $d).f32 "
                     "--backend cpu || exit 1; done; $U run -m %s -p hi -n 1 -v --backend cpu",
                     q, tw, root, root, tmp, q);
    CHECK_EQ_INT(rc, 0);
    CHECK_CONTAINS(err, "gptq-int4 g32"); /* the quantized kernels ran */
    const size_t V = 152064, T = 114;
    char *pa = unum_path_join(tmp, "vibevoice-tiny-gptq4.f32");
    char *pb = unum_path_join(tmp, "vibevoice-tiny-gptq4-twin.f32");
    size_t la = 0, lb = 0;
    float *a = (float *)unum_read_file(pa, T * V * 4 + 16, &la);
    float *b = (float *)unum_read_file(pb, T * V * 4 + 16, &lb);
    REQUIRE(a && b && la == T * V * 4 && lb == la);
    double d = test_worst_rel(a, b, (int)T, (int)V);
    if (!(d <= 1e-4)) test_fail(__FILE__, __LINE__, "quantized vs twin: %.3g", d);
    free(a), free(b), free(pa), free(pb), free(q), free(tw), free(err), free(out);
    test_tmp_remove(tmp);
}
