/* test_config.c - config.json and generation_config.json: the fields unum
 * reads, their defaults, and the refusals (each message names the file and
 * the field at fault). config.json texts are built from a known-good base
 * with one field changed, so each case fails for exactly one reason. */
#include "engine/config.h"
#include "tests/test.h"
#include "engine/base/util.h"

#include <cjson/cJSON.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>

#define CFG "/models/m/config.json"

static const char *base_json =
    "{\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\",\"hidden_size\":64,"
    "\"intermediate_size\":160,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
    "\"num_key_value_heads\":2,\"vocab_size\":384,\"max_position_embeddings\":512,"
    "\"rope_theta\":1000000.0,\"rms_norm_eps\":1e-05,\"tie_word_embeddings\":true,"
    "\"torch_dtype\":\"bfloat16\",\"eos_token_id\":354}";

/* base_json with key set to the JSON text value (NULL: removed). */
static char *with(const char *key, const char *value) {
    cJSON *root = cJSON_Parse(base_json);
    cJSON_DeleteItemFromObjectCaseSensitive(root, key);
    if (value) {
        cJSON *v = cJSON_Parse(value);
        if (!v) test_fail(__FILE__, __LINE__, "bad test value %s", value);
        else cJSON_AddItemToObject(root, key, v);
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

/* Parses base_json changed in one field; returns the result, error kept. */
static int parse_with(Qwen2Config *c, const char *key, const char *value) {
    char *s = with(key, value);
    int rc = qwen2_config_parse(c, s, CFG);
    free(s);
    return rc;
}

/* ------------------------------------------------------------ config.json */

TEST(config_base) {
    Qwen2Config c;
    REQUIRE(qwen2_config_parse(&c, base_json, CFG) == 0);
    CHECK_EQ_INT(c.hidden, 64);
    CHECK_EQ_INT(c.intermediate, 160);
    CHECK_EQ_INT(c.n_layers, 2);
    CHECK_EQ_INT(c.n_heads, 4);
    CHECK_EQ_INT(c.n_kv_heads, 2);
    CHECK_EQ_INT(c.head_dim, 16);
    CHECK_EQ_INT(c.vocab, 384);
    CHECK_EQ_INT(c.max_pos, 512);
    CHECK_EQ_INT(c.tied, 1);
    CHECK(c.rope_theta == 1000000.0);
    CHECK(c.rms_eps == 1e-5);
}

TEST(config_defaults) {
    const char *txt = "{\"model_type\":\"qwen2\",\"hidden_size\":32,\"intermediate_size\":8,"
                      "\"num_hidden_layers\":1,\"num_attention_heads\":2,\"vocab_size\":10}";
    Qwen2Config c;
    REQUIRE(qwen2_config_parse(&c, txt, CFG) == 0);
    CHECK_EQ_INT(c.n_kv_heads, 2); /* = num_attention_heads */
    CHECK_EQ_INT(c.head_dim, 16);
    CHECK_EQ_INT(c.max_pos, 32768);
    CHECK(c.rope_theta == 10000.0);
    CHECK(c.rms_eps == 1e-6);
    CHECK_EQ_INT(c.tied, 0);
    /* null means absent for optional fields */
    REQUIRE(parse_with(&c, "num_key_value_heads", "null") == 0);
    CHECK_EQ_INT(c.n_kv_heads, 4);
    REQUIRE(parse_with(&c, "rope_scaling", "null") == 0);
}

TEST(config_not_json) {
    Qwen2Config c;
    CHECK_EQ_INT(qwen2_config_parse(&c, "{\"model_type\": \"qwen2\",", CFG), -1);
    CHECK_ERR(CFG);
    CHECK_ERR("not valid JSON");
    CHECK_EQ_INT(qwen2_config_parse(&c, "", CFG), -1);
    CHECK_ERR(CFG);
    CHECK_EQ_INT(qwen2_config_parse(&c, "[1, 2]", CFG), -1);
    CHECK_ERR(CFG);
    CHECK_ERR("not a JSON object");
}

TEST(config_model_type) {
    Qwen2Config c;
    CHECK_EQ_INT(parse_with(&c, "model_type", "\"llama\""), -1);
    CHECK_ERR(CFG);
    CHECK_ERR("model_type 'llama'");
    CHECK_ERR("not supported");
    CHECK_EQ_INT(parse_with(&c, "model_type", "\"qwen2_moe\""), -1);
    CHECK_ERR("'qwen2_moe'");
    CHECK_EQ_INT(parse_with(&c, "model_type", "\"Qwen2\""), -1);
    CHECK_ERR("'Qwen2'");
    CHECK_EQ_INT(parse_with(&c, "model_type", NULL), -1);
    CHECK_ERR(CFG);
    CHECK_ERR("missing model_type");
    CHECK_EQ_INT(parse_with(&c, "model_type", "2"), -1);
    CHECK_ERR("model_type");
}

TEST(config_missing_fields) {
    const char *req[] = {"hidden_size", "intermediate_size", "num_hidden_layers",
                         "num_attention_heads", "vocab_size"};
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        Qwen2Config c;
        CHECK_EQ_INT(parse_with(&c, req[i], NULL), -1);
        CHECK_ERR(CFG);
        char want[64];
        snprintf(want, sizeof want, "missing field %s", req[i]);
        CHECK_ERR(want);
        CHECK_EQ_INT(parse_with(&c, req[i], "null"), -1);
        CHECK_ERR(want);
    }
}

TEST(config_non_integer_fields) {
    const char *keys[] = {"hidden_size",
                          "intermediate_size",
                          "num_hidden_layers",
                          "num_attention_heads",
                          "num_key_value_heads",
                          "vocab_size",
                          "max_position_embeddings",
                          "head_dim"};
    const char *bad[] = {"64.5", "\"64\"", "true", "[64]", "{}", "0", "-64", "1e30"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            Qwen2Config c;
            if (parse_with(&c, keys[k], bad[i]) == 0) {
                test_fail(__FILE__, __LINE__, "%s: %s accepted", keys[k], bad[i]);
                continue;
            }
            char want[80];
            snprintf(want, sizeof want, "%s must be an integer", keys[k]);
            if (!strstr(unum_error(), CFG) || !strstr(unum_error(), want))
                test_fail(__FILE__, __LINE__, "%s = %s: error \"%s\"", keys[k], bad[i],
                          unum_error());
        }
}

TEST(config_non_number_floats) {
    Qwen2Config c;
    CHECK_EQ_INT(parse_with(&c, "rope_theta", "\"1e6\""), -1);
    CHECK_ERR(CFG);
    CHECK_ERR("rope_theta must be a number");
    CHECK_EQ_INT(parse_with(&c, "rope_theta", "0"), -1);
    CHECK_ERR("rope_theta");
    CHECK_EQ_INT(parse_with(&c, "rms_norm_eps", "-1e-6"), -1);
    CHECK_ERR("rms_norm_eps must be a number");
    CHECK_EQ_INT(parse_with(&c, "rms_norm_eps", "2"), -1);
    CHECK_ERR("rms_norm_eps");
}

TEST(config_heads_not_divisible) {
    Qwen2Config c;
    CHECK_EQ_INT(parse_with(&c, "num_key_value_heads", "3"), -1);
    CHECK_ERR(CFG);
    CHECK_ERR("num_attention_heads (4) is not a multiple of num_key_value_heads (3)");
    /* more kv heads than query heads */
    CHECK_EQ_INT(parse_with(&c, "num_key_value_heads", "8"), -1);
    CHECK_ERR("num_key_value_heads (8)");
    /* hidden not a multiple of the heads, no head_dim */
    CHECK_EQ_INT(parse_with(&c, "num_attention_heads", "6"), -1);
    CHECK_ERR(CFG);
    CHECK(strstr(unum_error(), "hidden_size (64) is not a multiple of num_attention_heads (6)") ||
          strstr(unum_error(), "num_key_value_heads"));
    /* MQA is fine */
    CHECK_EQ_INT(parse_with(&c, "num_key_value_heads", "1"), 0);
    CHECK_EQ_INT(c.n_kv_heads, 1);
}

TEST(config_hidden_not_multiple_of_heads) {
    char *s = with("hidden_size", "66");
    Qwen2Config c;
    CHECK_EQ_INT(qwen2_config_parse(&c, s, CFG), -1);
    CHECK_ERR(CFG);
    CHECK_ERR("hidden_size (66) is not a multiple of num_attention_heads (4)");
    free(s);
}

TEST(config_odd_head_dim) {
    Qwen2Config c;
    CHECK_EQ_INT(parse_with(&c, "head_dim", "7"), -1);
    CHECK_ERR(CFG);
    CHECK_ERR("head_dim (7) must be even");
    /* derived: 60 / 4 = 15 */
    CHECK_EQ_INT(parse_with(&c, "hidden_size", "60"), -1);
    CHECK_ERR("head_dim (15) must be even");
}

TEST(config_head_dim_explicit) {
    Qwen2Config c;
    REQUIRE(parse_with(&c, "head_dim", "32") == 0);
    CHECK_EQ_INT(c.head_dim, 32); /* not 64 / 4 */
    CHECK_EQ_INT(c.hidden, 64);
    /* with head_dim given, hidden need not divide by the heads */
    char *s = with("head_dim", "24");
    cJSON *root = cJSON_Parse(s);
    cJSON_ReplaceItemInObjectCaseSensitive(root, "hidden_size", cJSON_CreateNumber(66));
    char *t = cJSON_PrintUnformatted(root);
    REQUIRE(qwen2_config_parse(&c, t, CFG) == 0);
    CHECK_EQ_INT(c.head_dim, 24);
    CHECK_EQ_INT(c.hidden, 66);
    free(t);
    cJSON_Delete(root);
    free(s);
    REQUIRE(parse_with(&c, "head_dim", "null") == 0);
    CHECK_EQ_INT(c.head_dim, 16);
}

TEST(config_sliding_window_and_activation_refused) {
    Qwen2Config c;
    REQUIRE(parse_with(&c, "use_sliding_window", "false") == 0);
    CHECK_EQ_INT(parse_with(&c, "use_sliding_window", "true"), -1);
    CHECK_ERR("use_sliding_window");
    REQUIRE(parse_with(&c, "hidden_act", "\"silu\"") == 0);
    CHECK_EQ_INT(parse_with(&c, "hidden_act", "\"gelu\""), -1);
    CHECK_ERR("hidden_act");
}

TEST(config_rope_scaling_refused) {
    Qwen2Config c;
    CHECK_EQ_INT(parse_with(&c, "rope_scaling", "{\"type\":\"yarn\",\"factor\":4.0}"), -1);
    CHECK_ERR(CFG);
    CHECK_ERR("rope_scaling is not supported");
    CHECK_EQ_INT(parse_with(&c, "rope_scaling", "{}"), -1);
    CHECK_ERR("rope_scaling");
}

TEST(config_tie_word_embeddings) {
    Qwen2Config c;
    const char *bad[] = {"\"true\"", "1", "0", "[]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ_INT(parse_with(&c, "tie_word_embeddings", bad[i]), -1);
        CHECK_ERR(CFG);
        CHECK_ERR("tie_word_embeddings must be true or false");
    }
    REQUIRE(parse_with(&c, "tie_word_embeddings", "false") == 0);
    CHECK_EQ_INT(c.tied, 0);
    REQUIRE(parse_with(&c, "tie_word_embeddings", "true") == 0);
    CHECK_EQ_INT(c.tied, 1);
    REQUIRE(parse_with(&c, "tie_word_embeddings", NULL) == 0);
    CHECK_EQ_INT(c.tied, 0);
}

TEST(config_ranges) {
    Qwen2Config c;
    CHECK_EQ_INT(parse_with(&c, "num_hidden_layers", "4097"), -1);
    CHECK_ERR("num_hidden_layers must be an integer in [1, 4096]");
    CHECK_EQ_INT(parse_with(&c, "vocab_size", "16777217"), -1);
    CHECK_ERR("vocab_size");
    CHECK_EQ_INT(parse_with(&c, "hidden_size", "2147483648"), -1);
    CHECK_ERR("hidden_size");
    REQUIRE(parse_with(&c, "vocab_size", "151936") == 0);
    CHECK_EQ_INT(c.vocab, 151936);
}

/* ------------------------------------------------------------ files */

static void put(const char *dir, const char *name, const char *text) {
    char *p = unum_path_join(dir, name);
    FILE *f = fopen(p, "wb");
    if (!f || fputs(text, f) < 0) test_fail(__FILE__, __LINE__, "cannot write %s", p);
    if (f) fclose(f);
    free(p);
}

TEST(config_load_file) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    Qwen2Config c;
    CHECK_EQ_INT(qwen2_config_load(&c, dir), -1);
    CHECK_ERR(dir);
    CHECK_ERR("config.json");
    put(dir, "config.json", base_json);
    REQUIRE(qwen2_config_load(&c, dir) == 0);
    CHECK_EQ_INT(c.vocab, 384);
    put(dir, "config.json", "{\"model_type\":\"gemma\"}");
    CHECK_EQ_INT(qwen2_config_load(&c, dir), -1);
    char want[128];
    snprintf(want, sizeof want, "%s/config.json: model_type 'gemma'", dir);
    CHECK_ERR(want);
    test_tmp_remove(dir);
}

TEST(config_load_fixture) {
    char *dir = unum_path_join(test_fixtures(), "tiny-headdim-f16");
    Qwen2Config c;
    if (qwen2_config_load(&c, dir)) {
        test_fail(__FILE__, __LINE__, "%s (run `make fixtures`)", unum_error());
    } else {
        CHECK_EQ_INT(c.hidden, 64);
        CHECK_EQ_INT(c.n_heads, 4);
        CHECK_EQ_INT(c.head_dim, 32);
        CHECK_EQ_INT(c.intermediate, 96);
    }
    free(dir);
}

/* ------------------------------------------------------------ generation */

TEST(gen_config_missing_file_ok) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    GenConfig g;
    memset(&g, 0x55, sizeof g);
    REQUIRE(gen_config_load(&g, dir) == 0);
    /* Hugging Face's defaults: greedy, temperature 1, top_p 1, top_k 50 */
    CHECK_EQ_INT(g.do_sample, 0);
    CHECK(g.temperature == 1.0f);
    CHECK(g.top_p == 1.0f);
    CHECK_EQ_INT(g.top_k, 50);
    CHECK(g.repeat_penalty == 1.0f);
    CHECK(g.min_p == 0.0f);
    CHECK_EQ_INT(g.n_eos, 0);
    /* eos from config.json when generation_config.json is absent */
    put(dir, "config.json", base_json);
    REQUIRE(gen_config_load(&g, dir) == 0);
    CHECK_EQ_INT(g.n_eos, 1);
    CHECK_EQ_INT(g.eos[0], 354);
    test_tmp_remove(dir);
}

TEST(gen_config_eos_int_and_list) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    put(dir, "config.json", base_json);
    GenConfig g;
    put(dir, "generation_config.json", "{\"eos_token_id\": 7, \"temperature\": 0.3}");
    REQUIRE(gen_config_load(&g, dir) == 0);
    CHECK_EQ_INT(g.n_eos, 1);
    CHECK_EQ_INT(g.eos[0], 7);
    CHECK(g.temperature == 0.3f);
    put(dir, "generation_config.json",
        "{\"eos_token_id\": [151645, 151643], \"top_k\": 50, \"top_p\": 0.95, "
        "\"repetition_penalty\": 1.1, \"do_sample\": false, \"min_p\": 0.05}");
    REQUIRE(gen_config_load(&g, dir) == 0);
    CHECK_EQ_INT(g.n_eos, 2);
    CHECK_EQ_INT(g.eos[0], 151645);
    CHECK_EQ_INT(g.eos[1], 151643);
    CHECK_EQ_INT(g.top_k, 50);
    CHECK(g.top_p == 0.95f);
    CHECK(g.repeat_penalty == 1.1f);
    CHECK(g.min_p == 0.05f);
    CHECK_EQ_INT(g.do_sample, 0);
    CHECK(g.temperature == 1.0f); /* default kept */
    /* no eos in generation_config.json: config.json's stays */
    put(dir, "generation_config.json", "{\"top_k\": 1}");
    REQUIRE(gen_config_load(&g, dir) == 0);
    CHECK_EQ_INT(g.n_eos, 1);
    CHECK_EQ_INT(g.eos[0], 354);
    /* a list longer than CONFIG_MAX_EOS is refused, not cut */
    put(dir, "generation_config.json", "{\"eos_token_id\": [1,2,3,4,5,6,7,8,9,10]}");
    CHECK_EQ_INT(gen_config_load(&g, dir), -1);
    CHECK_ERR("eos_token_id lists 10 ids");
    test_tmp_remove(dir);
}

TEST(gen_config_malformed) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    GenConfig g;
    put(dir, "generation_config.json", "{\"eos_token_id\": [1, 2");
    CHECK_EQ_INT(gen_config_load(&g, dir), -1);
    CHECK_ERR(dir);
    CHECK_ERR("generation_config.json");
    put(dir, "generation_config.json", "[1]");
    CHECK_EQ_INT(gen_config_load(&g, dir), -1);
    CHECK_ERR("generation_config.json");
    const char *bad[] = {"{\"eos_token_id\": \"</s>\"}",
                         "{\"eos_token_id\": [1, \"x\"]}",
                         "{\"eos_token_id\": -1}",
                         "{\"eos_token_id\": [3, -2]}",
                         "{\"temperature\": \"hot\"}",
                         "{\"top_p\": 1.5}",
                         "{\"top_k\": 2.5}",
                         "{\"repetition_penalty\": 0}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put(dir, "generation_config.json", bad[i]);
        if (gen_config_load(&g, dir) == 0) {
            test_fail(__FILE__, __LINE__, "%s accepted", bad[i]);
            continue;
        }
        CHECK_ERR("generation_config.json");
    }
    test_tmp_remove(dir);
}

/* A token id is an integer: 354.7 is no more an id than "354" is. */
TEST(gen_config_eos_fractional) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    GenConfig g;
    put(dir, "generation_config.json", "{\"eos_token_id\": 354.7}");
    CHECK_EQ_INT(gen_config_load(&g, dir), -1);
    CHECK_ERR("generation_config.json");
    CHECK_ERR("eos_token_id");
    put(dir, "generation_config.json", "{\"eos_token_id\": [354, 0.5]}");
    CHECK_EQ_INT(gen_config_load(&g, dir), -1);
    CHECK_ERR("eos_token_id");
    test_tmp_remove(dir);
}
