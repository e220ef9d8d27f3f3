/* test_family.c - the model family table (engine/family.h): what each
 * family's reader makes of config.json (MiniCPM's scales and LongRoPE, the
 * Qwen2 entry unchanged), the refusals of hostile MiniCPM configs (each
 * naming the file and the field), and what the loader then asks of the
 * checkpoint. The forward itself is checked against goldens in
 * test_qwen2.c. */
#include "engine/base/util.h"
#include "engine/family.h"
#include "engine/modeldir.h"
#include "engine/qwen2.h"
#include "tests/test.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CFG "/models/cpm/config.json"

/* MiniCPM4-8B's config.json (openbmb/MiniCPM4-8B) cut down to 2 layers of
 * 64 wide, 4 heads of 16: LongRoPE's factor lists then have 8 entries. */
static const char *base_json =
    "{\"architectures\":[\"MiniCPMForCausalLM\"],\"model_type\":\"minicpm\","
    "\"hidden_size\":64,\"intermediate_size\":160,\"num_hidden_layers\":2,"
    "\"num_attention_heads\":4,\"num_key_value_heads\":2,\"vocab_size\":384,"
    "\"max_position_embeddings\":32768,\"rope_theta\":10000.0,\"rms_norm_eps\":1e-06,"
    "\"rope_scaling\":{\"rope_type\":\"longrope\","
    "\"short_factor\":[1,1.5,2,2.5,3,3.5,4,4.5],\"long_factor\":[1,2,4,8,16,32,64,128],"
    "\"original_max_position_embeddings\":32768},"
    "\"scale_emb\":12,\"scale_depth\":1.4,\"dim_model_base\":16,"
    "\"tie_word_embeddings\":false,\"hidden_act\":\"silu\",\"eos_token_id\":[2,73440]}";

/* base_json with key (a.b: in the object a) set to the JSON text value
 * (NULL: removed), parsed; the result, error kept. */
static int parse_with(Qwen2Config *c, const char *key, const char *value) {
    cJSON *root = cJSON_Parse(base_json), *obj = root;
    char k[64];
    snprintf(k, sizeof k, "%s", key);
    char *dot = strchr(k, '.');
    if (dot) {
        *dot = 0;
        obj = cJSON_GetObjectItemCaseSensitive(root, k);
        memmove(k, dot + 1, strlen(dot + 1) + 1);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(obj, k);
    if (value) cJSON_AddItemToObject(obj, k, cJSON_Parse(value));
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    int rc = qwen2_config_parse(c, s, CFG);
    free(s);
    return rc;
}

TEST(family_minicpm_config_as_published) {
    Qwen2Config c;
    REQUIRE(qwen2_config_parse(&c, base_json, CFG) == 0);
    CHECK(c.family == family_find("minicpm"));
    CHECK_EQ_INT(c.qkv_bias, 0);
    CHECK_EQ_INT(c.tied, 0);
    CHECK(c.embed_scale == 12.0f);
    CHECK(c.residual_scale == (float)(1.4 / sqrt(2.0)));
    CHECK(c.logit_scale == 0.25f); /* 1 / (hidden_size / dim_model_base) */
    /* max_position_embeddings == original: short factors, attention factor 1 */
    CHECK_EQ_INT(c.longrope, 1);
    CHECK_EQ_INT(c.rope.half, 8);
    CHECK(c.rope.scale == 1.0f);
    Rope plain;
    rope_plain(&plain, 10000.0, 16);
    for (int i = 0; i < 8; i++)
        CHECK(c.rope.inv_freq[i] == (1.0f / (1.0f + 0.5f * i)) * plain.inv_freq[i]);
    /* beyond it: long factors and sqrt(1 + ln(max/orig) / ln(orig)) */
    REQUIRE(parse_with(&c, "max_position_embeddings", "65536") == 0);
    CHECK(fabs(c.rope.scale - sqrt(1 + log(2.0) / log(32768.0))) < 1e-7);
    for (int i = 0; i < 8; i++)
        CHECK(c.rope.inv_freq[i] == (1.0f / (float)(1 << i)) * plain.inv_freq[i]);
    /* the older configs' "type" names the variant too */
    CHECK_EQ_INT(parse_with(&c, "rope_scaling.rope_type", NULL), -1);
    CHECK_ERR("rope_type");
}

TEST(family_minicpm_defaults_are_minicpm_config_s) {
    Qwen2Config c;
    const char *gone[] = {"scale_emb",    "scale_depth",         "dim_model_base",
                          "rope_scaling", "tie_word_embeddings", "max_position_embeddings"};
    char *s = xstrdup(base_json);
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) {
        cJSON *root = cJSON_Parse(s);
        cJSON_DeleteItemFromObjectCaseSensitive(root, gone[i]);
        free(s);
        s = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
    }
    REQUIRE(qwen2_config_parse(&c, s, CFG) == 0);
    free(s);
    CHECK(c.embed_scale == 1.0f && c.residual_scale == (float)(1 / sqrt(2.0)));
    CHECK(c.logit_scale == 1.0f / 64);
    CHECK_EQ_INT(c.tied, 1); /* MiniCPMConfig: tie_word_embeddings=True */
    CHECK_EQ_INT(c.max_pos, 2048);
    CHECK_EQ_INT(c.longrope, 0);
    Rope plain;
    rope_plain(&plain, 10000.0, 16);
    CHECK(!memcmp(&c.rope, &plain, sizeof plain));
}

TEST(family_minicpm_hostile_configs) {
    static const struct {
        const char *key, *value, *want;
    } cases[] = {
        {"rope_scaling", "{\"rope_type\":\"dynamic\",\"factor\":2}",
         "rope_scaling type 'dynamic' is not supported"},
        {"rope_scaling", "{\"type\":\"yarn\",\"factor\":2}", "rope_scaling type 'yarn'"},
        {"rope_scaling", "[1,2]", "rope_scaling must be an object"},
        {"rope_scaling.rope_type", "3", "rope_scaling has no rope_type string"},
        {"rope_scaling.short_factor", "[1,2,3]",
         "rope_scaling.short_factor must be a list of 8 numbers (head_dim / 2)"},
        {"rope_scaling.long_factor", "[1,2,4,-8,16,32,64,128]",
         "rope_scaling.long_factor[3] must be a positive number"},
        {"rope_scaling.long_factor", NULL, "rope_scaling.long_factor is missing"},
        {"rope_scaling.original_max_position_embeddings", NULL,
         "rope_scaling.original_max_position_embeddings is missing"},
        {"rope_scaling.original_max_position_embeddings", "1.5",
         "original_max_position_embeddings must be an integer"},
        {"max_position_embeddings", "1", "max_position_embeddings 1 is too small"},
        {"scale_emb", "\"12\"", "scale_emb must be a positive number"},
        {"scale_depth", "0", "scale_depth must be a positive number"},
        {"dim_model_base", "-256", "dim_model_base must be a positive number"},
        {"attention_bias", "true", "attention_bias true (biases on q, k, v and o_proj)"},
        {"attention_bias", "1", "attention_bias must be true or false"},
        {"num_key_value_heads", "3", "is not a multiple of num_key_value_heads (3)"},
        {"hidden_act", "\"gelu\"", "hidden_act"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Qwen2Config c;
        if (parse_with(&c, cases[i].key, cases[i].value) != -1) {
            test_fail(__FILE__, __LINE__, "%s = %s was accepted", cases[i].key,
                      cases[i].value ? cases[i].value : "(absent)");
            continue;
        }
        CHECK_ERR(CFG);
        CHECK_ERR(cases[i].want);
    }
}

TEST(family_qwen2_entry_keeps_qwen2) {
    Qwen2Config c;
    const char *q = "{\"model_type\":\"qwen2\",\"hidden_size\":64,\"intermediate_size\":8,"
                    "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"vocab_size\":10}";
    REQUIRE(qwen2_config_parse(&c, q, CFG) == 0);
    CHECK(c.family == family_find("qwen2"));
    CHECK_EQ_INT(c.qkv_bias, 1);
    CHECK_EQ_INT(c.tied, 0);
    CHECK(c.embed_scale == 1 && c.residual_scale == 1 && c.logit_scale == 1);
    CHECK_EQ_INT(c.longrope, 0);
    for (int i = 0; i < 8; i++)
        CHECK(fabs(c.rope.inv_freq[i] - pow(10000.0, -2.0 * i / 16)) < 1e-6 * (1 + i));
    CHECK(family_find("llama") == NULL);
    CHECK(strstr(family_list(), "qwen2") && strstr(family_list(), "minicpm"));
    CHECK_EQ_INT(qwen2_config_parse(&c, "{\"model_type\":\"llama\"}", CFG), -1);
    CHECK_ERR("model_type 'llama' is not supported (unum runs qwen2, ");
    CHECK_ERR("minicpm");
}

/* A Qwen2 checkpoint (biases on q, k, v) said to be MiniCPM: the loader
 * names the tensor MiniCPM has no place for. */
TEST(family_minicpm_refuses_qwen2_tensors) {
    char *tmp = test_tmpdir();
    REQUIRE(tmp);
    char *src = unum_path_join(test_fixtures(), "tiny-bf16");
    char *out = NULL;
    CHECK_EQ_INT(test_sh(&out, NULL,
                         "cp %s/model.safetensors %s/ && sed "
                         "'s/\"model_type\":\"qwen2\"/\"model_type\":\"minicpm\"/' "
                         "%s/config.json > %s/config.json",
                         src, tmp, src, tmp),
                 0);
    free(out);
    Backend *be = backend_cpu_open(1);
    Qwen2 *m = qwen2_load(tmp, be, 64);
    CHECK(m == NULL);
    CHECK_ERR("model.layers.0.self_attn.");
    CHECK_ERR(".bias' is not part of the model config.json describes");
    qwen2_free(m);
    be->close(be);
    free(src);
    test_tmp_remove(tmp);
}

/* LongRoPE's factors hold for max_position_embeddings positions (past them
 * the published code rebuilds its cache with other factors): a longer
 * cache is refused, naming the directory. */
TEST(family_longrope_context_stops_at_max_position_embeddings) {
    char *dir = unum_path_join(test_fixtures(), "tiny-minicpm-longrope");
    Backend *be = backend_cpu_open(1);
    Qwen2 *m = qwen2_load(dir, be, 2048);
    CHECK(m == NULL);
    CHECK_ERR(dir);
    CHECK_ERR("a context of 2048 positions is more than the 1024");
    m = qwen2_load(dir, be, 1024);
    CHECK(m != NULL);
    qwen2_free(m);
    be->close(be);
    free(dir);
}

/* The app's first run looks for a chat model of any family (modeldir_find
 * with no model_type): qwen2 and minicpm, not Whisper, not a speech LLM. */
TEST(family_modeldir_finds_every_language_family) {
    char *tmp = test_tmpdir();
    REQUIRE(tmp);
    const char *saved_data = getenv("XDG_DATA_HOME"), *saved_home = getenv("HOME");
    char *sd = saved_data ? xstrdup(saved_data) : NULL,
         *sh = saved_home ? xstrdup(saved_home) : NULL;
    char *out = NULL;
    CHECK_EQ_INT(test_sh(&out, NULL,
                         "d=%s/data/unum/models/org; for m in a:qwen2 b:minicpm c:whisper "
                         "d:omni2_speech2s_qwen2; do mkdir -p $d/${m%%%%:*} && printf "
                         "'{\"model_type\":\"%%s\"}' ${m#*:} > $d/${m%%%%:*}/config.json; done",
                         tmp),
                 0);
    free(out);
    char *data = unum_path_join(tmp, "data");
    setenv("XDG_DATA_HOME", data, 1);
    setenv("HOME", tmp, 1);
    char **found = NULL;
    int n = modeldir_find(NULL, &found);
    CHECK_EQ_INT(n, 2);
    int qwen = 0, cpm = 0;
    for (int i = 0; i < n; i++) {
        qwen += !strcmp(found[i], "org/a");
        cpm += !strcmp(found[i], "org/b");
        free(found[i]);
    }
    free(found);
    CHECK(qwen == 1 && cpm == 1);
    n = modeldir_find("whisper", &found);
    CHECK_EQ_INT(n, 1);
    for (int i = 0; i < n; i++) free(found[i]);
    free(found);
    if (sd) setenv("XDG_DATA_HOME", sd, 1);
    else unsetenv("XDG_DATA_HOME");
    if (sh) setenv("HOME", sh, 1);
    else unsetenv("HOME");
    free(sd), free(sh), free(data);
    test_tmp_remove(tmp);
}

/* unum run, logits and bench on MiniCPM directories, end to end: the
 * logits within 2e-3 of the reference's and the greedy ids its own. */
TEST(family_minicpm_cli_run_logits_bench) {
    char *tmp = test_tmpdir();
    REQUIRE(tmp);
    char *out = NULL, *err = NULL, *want = NULL;
    CHECK_EQ_INT(test_sh(&out, &err,
                         "$U run -m $F/tiny-minicpm-gqa --prompt-ids %s/tests/golden/"
                         "tiny-minicpm-gqa/prompt.ids --temp 0 -n 16 --ids --ignore-eos "
                         "--backend cpu",
                         test_root()),
                 0);
    IdVec g = {0};
    REQUIRE(test_golden_ids("tiny-minicpm-gqa/greedy.ids", &g) == 0);
    size_t cap = 16 * 8 + 1, len = 0;
    want = xmalloc(cap);
    for (size_t i = 0; i < g.n; i++)
        len += (size_t)snprintf(want + len, cap - len, "%s%d", i ? " " : "", g.v[i]);
    CHECK(out && !strncmp(out, want, len));
    free(out), free(err), free(want);
    idvec_free(&g);

    CHECK_EQ_INT(test_sh(&out, &err,
                         "$U logits -m $F/tiny-minicpm-longrope --ids %s/tests/golden/"
                         "tiny-minicpm-longrope/prompt.ids -o %s/l.f32 --backend cpu",
                         test_root(), tmp),
                 0);
    free(out), free(err);
    float *ref = test_golden_f32("tiny-minicpm-longrope/logits.f32", 24 * 384);
    char *path = unum_path_join(tmp, "l.f32");
    size_t n = 0;
    float *got = (float *)unum_read_file(path, 1 << 20, &n);
    REQUIRE(ref && got && n == sizeof(float) * 24 * 384);
    double w = test_worst_rel(got, ref, 24, 384);
    if (!(w < 2e-3)) test_fail(__FILE__, __LINE__, "unum logits: worst relative error %g", w);
    free(ref), free(got), free(path);

    CHECK_EQ_INT(test_sh(&out, &err,
                         "$U bench -m $F/tiny-minicpm-tied --json --prompt-len 8 --gen 4 "
                         "--backend cpu"),
                 0);
    CHECK_CONTAINS(out, "\"decode_tok_s\":");
    CHECK_CONTAINS(out, "\"bytes_per_token\":");
    free(out), free(err);
    test_tmp_remove(tmp);
}
