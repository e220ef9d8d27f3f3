/* test_quant.c - GPTQ and AWQ checkpoints.
 *
 * Each quantized fixture (gen_model's tiny-gptq and tiny-awq presets) comes
 * with a float32 twin holding W = scale * (q - zero) for every quantized
 * matrix; tests/reference/quant_ref.py checks the twins against its own
 * dequantizer, and the goldens of tests/golden/<preset>/ are the
 * independent reference's (qwen2_ref.py) logits on the twin. Here:
 * unum's reading of every format equals the twin bit for bit, its kernels
 * (each instruction set, decode and prefill) equal a plain dot product, the
 * model's logits are within 2e-3 of the golden's row max with greedy ids
 * identical, and hostile configs and headers are refused by name. */
#include "engine/cpu/kernels.h"
#include "engine/cpu/qkernels.h"
#include "engine/engine.h"
#include "engine/qwen2.h"
#include "engine/quant.h"
#include "tests/test.h"
#include "engine/base/util.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#define TOL 2e-3

static const char *presets[] = {
    "tiny-gptq4-g64",     "tiny-gptq4-g32-asym", "tiny-gptq4-g32-act",      "tiny-gptq4-gall-asym",
    "tiny-gptq4-g128-v2", "tiny-gptq8-g64",      "tiny-gptq8-g32-act-asym", "tiny-awq4-g32"};
#define N_PRESETS (int)(sizeof presets / sizeof presets[0])

static char *fixture(const char *preset, const char *suffix) {
    char name[128];
    snprintf(name, sizeof name, "%s%s", preset, suffix);
    return unum_path_join(test_fixtures(), name);
}

/* ------------------------------------------------------------ config */

static int parse_qc(QuantConfig *q, const char *qc) {
    char json[512];
    snprintf(json, sizeof json, "{\"quantization_config\": %s}", qc);
    cJSON *root = cJSON_Parse(json);
    int rc = quant_config_parse(q, root, "cfg/config.json");
    cJSON_Delete(root);
    return rc;
}

TEST(quant_config_reads_gptq_and_awq) {
    QuantConfig q;
    char name[64];
    CHECK_EQ_INT(parse_qc(&q, "{\"quant_method\":\"gptq\",\"bits\":4,\"group_size\":128,"
                              "\"sym\":true,\"desc_act\":false}"),
                 0);
    CHECK_EQ_INT(q.method, QUANT_GPTQ);
    CHECK_EQ_INT(q.zero_offset, 1);
    CHECK_STR(quant_config_name(&q, name, sizeof name), "gptq-int4 g128");
    CHECK_EQ_INT(parse_qc(&q, "{\"quant_method\":\"gptq\",\"bits\":8,\"group_size\":-1,"
                              "\"desc_act\":true,\"checkpoint_format\":\"gptq_v2\"}"),
                 0);
    CHECK_EQ_INT(q.zero_offset, 0);
    CHECK_STR(quant_config_name(&q, name, sizeof name), "gptq-int8 g-1 act-order");
    CHECK_EQ_INT(parse_qc(&q, "{\"quant_method\":\"awq\",\"bits\":4,\"group_size\":128,"
                              "\"zero_point\":true,\"version\":\"GEMM\"}"),
                 0);
    CHECK_EQ_INT(q.method, QUANT_AWQ);
    CHECK_STR(quant_config_name(&q, name, sizeof name), "awq-int4 g128");
    cJSON *none = cJSON_Parse("{}");
    CHECK_EQ_INT(quant_config_parse(&q, none, "x"), 0);
    CHECK_EQ_INT(q.method, QUANT_NONE);
    cJSON_Delete(none);
}

TEST(quant_config_refuses_what_it_cannot_read) {
    static const struct {
        const char *qc, *err;
    } cases[] = {
        {"{\"quant_method\":\"gptq\",\"bits\":3,\"group_size\":128}", "bits 3"},
        {"{\"quant_method\":\"gptq\",\"bits\":2,\"group_size\":128}", "bits 2"},
        {"{\"quant_method\":\"awq\",\"bits\":8,\"group_size\":128}", "bits 8"},
        {"{\"quant_method\":\"gptq\",\"bits\":4,\"group_size\":128,\"checkpoint_format\":"
         "\"marlin\"}",
         "checkpoint_format 'marlin'"},
        {"{\"quant_method\":\"gptq\",\"bits\":4,\"group_size\":128,\"is_marlin_format\":true}",
         "checkpoint_format 'marlin'"},
        {"{\"quant_method\":\"awq\",\"bits\":4,\"group_size\":128,\"version\":\"gemv\"}",
         "version 'gemv'"},
        {"{\"quant_method\":\"awq\",\"bits\":4,\"group_size\":128,\"zero_point\":false}",
         "zero_point false"},
        {"{\"quant_method\":\"fp8\"}", "quant_method 'fp8'"},
        {"{\"quant_method\":\"gptq\",\"bits\":4,\"group_size\":12}", "group_size 12"},
        {"{\"quant_method\":\"gptq\",\"bits\":4}", "missing field group_size"},
        {"{\"quant_method\":\"gptq\",\"bits\":4,\"group_size\":12.5}",
         "quantization_config: group_size must be an integer"},
        /* a number no int holds (converting it was undefined; fuzz_quant) */
        {"{\"quant_method\":\"gptq\",\"bits\":8e109,\"group_size\":-1}", "bits must be an integer"},
        {"{\"bits\":4}", "no quant_method"},
        {"{\"quant_method\":\"gptq\",\"bits\":4,\"group_size\":128,\"sym\":\"yes\"}", "sym"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        QuantConfig q;
        CHECK_EQ_INT(parse_qc(&q, cases[i].qc), -1);
        CHECK_ERR("cfg/config.json");
        CHECK_ERR(cases[i].err);
    }
}

/* ------------------------------------------------------------ layers */

typedef struct {
    STModel q, twin;
    Qwen2Config c;
} Pair;

static int pair_open(Pair *p, const char *preset) {
    memset(p, 0, sizeof *p);
    char *qd = fixture(preset, ""), *td = fixture(preset, "-twin");
    int rc = qwen2_config_load(&p->c, qd) || st_open_dir(&p->q, qd) || st_open_dir(&p->twin, td);
    free(qd);
    free(td);
    return rc ? -1 : 0;
}

static void pair_close(Pair *p) {
    st_close(&p->q);
    st_close(&p->twin);
}

/* Calls fn for every quantized matrix of the pair with its QMat and the
 * twin's f32 tensor. */
typedef void (*layer_fn)(const char *preset, const char *prefix, const QMat *m, const float *W);

static void each_layer(layer_fn fn) {
    static const char *proj[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                 "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                 "mlp.down_proj"};
    for (int i = 0; i < N_PRESETS; i++) {
        Pair p;
        if (pair_open(&p, presets[i])) {
            test_fail(__FILE__, __LINE__, "%s: %s", presets[i], unum_error());
            continue;
        }
        int seen = 0;
        for (int l = 0; l < p.c.n_layers; l++)
            for (size_t j = 0; j < sizeof proj / sizeof proj[0]; j++) {
                char prefix[128], name[160];
                snprintf(prefix, sizeof prefix, "model.layers.%d.%s", l, proj[j]);
                snprintf(name, sizeof name, "%s.weight", prefix);
                const STensor *t = st_find(&p.twin, name);
                if (!t || t->dtype != DT_F32 || !quant_present(&p.q, prefix)) {
                    test_fail(__FILE__, __LINE__, "%s: %s missing", presets[i], prefix);
                    continue;
                }
                QMat m;
                if (quant_load(&m, &p.q, &p.c.quant, prefix, (int)t->shape[0], (int)t->shape[1],
                               NULL)) {
                    test_fail(__FILE__, __LINE__, "%s: %s", presets[i], unum_error());
                    continue;
                }
                fn(presets[i], prefix, &m, t->data);
                quant_free(&m);
                seen++;
            }
        CHECK_EQ_INT(seen, 7 * p.c.n_layers);
        pair_close(&p);
    }
}

static void dequant_equals_twin(const char *preset, const char *prefix, const QMat *m,
                                const float *W) {
    float *row = xmalloc(sizeof(float) * (size_t)m->cols);
    int bad = 0;
    for (int n = 0; n < m->rows && !bad; n++) {
        quant_dequant_row(m, n, row);
        for (int k = 0; k < m->cols && !bad; k++)
            if (row[k] != W[(size_t)n * m->cols + k]) {
                test_fail(__FILE__, __LINE__, "%s %s: W[%d, %d] = %g, twin %g", preset, prefix, n,
                          k, row[k], W[(size_t)n * m->cols + k]);
                bad = 1;
            }
    }
    free(row);
}

TEST(quant_layers_dequantize_to_the_twin_exactly) { each_layer(dequant_equals_twin); }

static void kernels_equal_dot(const char *preset, const char *prefix, const QMat *m,
                              const float *W) {
    static const char *isas[] = {"generic", "avx2", "avx512", "avx512+vnni"};
    int N = m->rows, K = m->cols;
    void *prep = xmalloc(kq_prep_bytes(m));
    float *x = xmalloc(sizeof(float) * K);
    float *y = xmalloc(sizeof(float) * N), *slab = xmalloc(sizeof(float) * (size_t)N * K);
    double *ref = xmalloc(sizeof(double) * N);
    uint64_t s = 7;
    for (int k = 0; k < K; k++) x[k] = (float)sampler_uniform_next(&s) * 2 - 1;
    double mx = 0;
    for (int n = 0; n < N; n++) {
        ref[n] = 0;
        for (int k = 0; k < K; k++) ref[n] += (double)W[(size_t)n * K + k] * x[k];
        mx = fmax(mx, fabs(ref[n]));
    }
    for (int i = 0; i < 4; i++) {
        if (k_set_isa(i == 3 ? "avx512" : isas[i]) || kq_use_vnni(i == 3)) continue;
        /* outputs 8 .. N: a range that starts off a vector boundary */
        kq_prepare(m, x, prep);
        kq_matvec(m, 8, N, prep, y + 8);
        kq_matvec(m, 0, 8, prep, y);
        for (int n = 0; n < N; n++)
            if (fabs(y[n] - ref[n]) > 1e-5 * mx + 1e-6) {
                test_fail(__FILE__, __LINE__, "%s %s on %s: y[%d] = %.9g, dot %.9g", preset, prefix,
                          isas[i], n, y[n], ref[n]);
                break;
            }
        /* the inputs in two ranges, split off a group boundary */
        int kh = K / 16 * 8;
        kq_dequant(m, 8, N, 0, kh, slab, N - 8);
        kq_dequant(m, 8, N, kh, K, slab + (size_t)kh * (N - 8), N - 8);
        int bad = 0;
        for (int k = 0; k < K && !bad; k++)
            for (int n = 8; n < N && !bad; n++) {
                int src = m->perm ? m->perm[k] : k;
                if (slab[(size_t)k * (N - 8) + (n - 8)] != W[(size_t)n * K + src]) {
                    test_fail(__FILE__, __LINE__, "%s %s on %s: slab[%d, %d] differs", preset,
                              prefix, isas[i], k, n);
                    bad = 1;
                }
            }
    }
    k_reset_isa();
    kq_use_vnni(-1);
    free(x), free(y), free(slab), free(ref), free(prep);
}

TEST(quant_kernels_equal_a_plain_dot_product_on_every_isa) { each_layer(kernels_equal_dot); }

/* ------------------------------------------------------------ model */

static int read_ids(const char *preset, const char *file, IdVec *out) {
    char rel[256];
    snprintf(rel, sizeof rel, "%s/%s", preset, file);
    return test_golden_ids(rel, out);
}

static float *read_logits(const char *preset, size_t want) {
    char rel[256];
    snprintf(rel, sizeof rel, "%s/logits.f32", preset);
    return test_golden_f32(rel, want);
}

/* test_worst_rel, and whether the argmaxes of every row agree. */
static double worst_rel(const float *got, const float *ref, int rows, int V, int *same_argmax) {
    *same_argmax = 1;
    for (int r = 0; r < rows; r++)
        *same_argmax &=
            sampler_argmax(got + (size_t)r * V, V) == sampler_argmax(ref + (size_t)r * V, V);
    return test_worst_rel(got, ref, rows, V);
}

/* The prompt through the quantized model in one call (step 0) or step
 * tokens at a time, against the golden logits. */
static void run_preset(const char *preset, int threads, int step) {
    char *dir = fixture(preset, "");
    Backend *be = backend_cpu_open(threads);
    Qwen2 *m = qwen2_load(dir, be, 64);
    free(dir);
    IdVec prompt = {0};
    float *ref = NULL, *out = NULL;
    if (!m || read_ids(preset, "prompt.ids", &prompt)) {
        test_fail(__FILE__, __LINE__, "%s: %s", preset, unum_error());
        goto done;
    }
    int T = (int)prompt.n, V = m->c.vocab;
    if (!(ref = read_logits(preset, (size_t)T * V))) {
        test_fail(__FILE__, __LINE__, "%s: %s", preset, unum_error());
        goto done;
    }
    out = xmalloc(sizeof(float) * (size_t)T * V);
    for (int t = 0; t < T;) {
        int n = step ? (T - t < step ? T - t : step) : T;
        if (qwen2_forward(m, prompt.v + t, n, out + (size_t)t * V, 1)) {
            test_fail(__FILE__, __LINE__, "%s: %s", preset, unum_error());
            goto done;
        }
        t += n;
    }
    int same;
    double w = worst_rel(out, ref, T, V, &same);
    if (w > TOL || !same)
        test_fail(__FILE__, __LINE__, "%s (step %d, %d threads, %s): worst relative error %g%s",
                  preset, step, threads, k_isa(), w, same ? "" : ", argmax differs");
done:
    free(out);
    free(ref);
    idvec_free(&prompt);
    qwen2_free(m);
    be->close(be);
}

TEST(quant_logits_match_reference_on_the_twin) {
    for (int i = 0; i < N_PRESETS; i++) {
        run_preset(presets[i], 2, 0);
        run_preset(presets[i], 2, 1);
        run_preset(presets[i], 1, 5);
    }
}

TEST(quant_logits_match_reference_on_every_isa) {
    static const char *isas[] = {"generic", "avx2", "avx512"};
    for (int k = 0; k < 4; k++) { /* the last: AVX-512 without VNNI */
        if (k_set_isa(isas[k < 3 ? k : 2]) || (k == 3 && kq_use_vnni(0))) continue;
        for (int i = 0; i < N_PRESETS; i++) {
            run_preset(presets[i], 2, 0);
            run_preset(presets[i], 2, 1);
        }
    }
    k_reset_isa();
    kq_use_vnni(-1);
}

TEST(quant_greedy_matches_reference) {
    for (int i = 0; i < N_PRESETS; i++) {
        char *dir = fixture(presets[i], "");
        EngineOptions o = {.backend = "cpu", .threads = 2};
        Engine *e = engine_load(dir, &o);
        free(dir);
        IdVec prompt = {0}, want = {0}, got = {0};
        if (!e || read_ids(presets[i], "prompt.ids", &prompt) ||
            read_ids(presets[i], "greedy.ids", &want)) {
            test_fail(__FILE__, __LINE__, "%s: %s", presets[i], unum_error());
        } else {
            /* greedy by hand: the argmax of each step's logits */
            int V = engine_n_vocab(e);
            float *lg = xmalloc(sizeof(float) * V);
            int rc = qwen2_forward(e->model, prompt.v, (int)prompt.n, lg, 0);
            for (size_t k = 0; !rc && k < want.n; k++) {
                int32_t id = sampler_argmax(lg, V);
                idvec_push(&got, id);
                rc = qwen2_forward(e->model, &id, 1, lg, 0);
            }
            CHECK_EQ_INT(rc, 0);
            CHECK_EQ_INT(got.n, want.n);
            for (size_t k = 0; k < got.n && k < want.n; k++)
                if (got.v[k] != want.v[k]) {
                    test_fail(__FILE__, __LINE__, "%s: greedy token %zu is %d, reference %d",
                              presets[i], k, got.v[k], want.v[k]);
                    break;
                }
            free(lg);
        }
        idvec_free(&prompt), idvec_free(&want), idvec_free(&got);
        engine_free(e);
    }
}

TEST(quant_bytes_per_token_and_name) {
    char *dir = fixture("tiny-gptq4-g64", "");
    Backend *be = backend_cpu_open(1);
    Qwen2 *m = qwen2_load(dir, be, 16);
    free(dir);
    REQUIRE(m);
    char name[64];
    CHECK_STR(qwen2_quant_name(m, name, sizeof name), "gptq-int4 g64");
    /* tiny-bf16's shapes: D 64, F 160, 2 layers, 4 x 16 query and 2 x 16
     * key/value dims, V 384 (tied), fp16 */
    size_t D = 64, F = 160, qd = 64, kvd = 32, V = 384;
    size_t per_layer = 0;
    size_t mats[7][2] = {{qd, D}, {kvd, D}, {kvd, D}, {D, qd}, {F, D}, {F, D}, {D, F}};
    for (int j = 0; j < 7; j++) {
        size_t N = mats[j][0], K = mats[j][1], ng = (K + 63) / 64;
        per_layer += K / 8 * N * 4 + ng * N * 3;
    }
    per_layer += 2 * (2 * D + qd + 2 * kvd); /* norms and biases */
    CHECK_EQ_INT(qwen2_bytes_per_token(m), 2 * per_layer + 2 * D + 2 * V * D + 2 * D);
    qwen2_free(m);
    be->close(be);
}

/* ------------------------------------------------------------ hostile */

/* A copy of a fixture in a new temporary directory. */
static char *copy_fixture(const char *preset) {
    char *dir = test_tmpdir(), *src = fixture(preset, "");
    if (!dir) return NULL;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp '%s'/* '%s'/", src, dir);
    free(src);
    if (test_shell(":", cmd, NULL, NULL)) test_fail(__FILE__, __LINE__, "cp failed");
    return dir;
}

/* Replaces text in dir/name (the first occurrence); for model.safetensors
 * the header's length prefix is rewritten to match. */
static void replace_in(const char *dir, const char *name, const char *from, const char *to) {
    char *path = unum_path_join(dir, name);
    size_t n;
    char *buf = unum_read_file(path, 64u << 20, &n);
    char *hit = buf ? memmem(buf, n, from, strlen(from)) : NULL;
    if (!hit) {
        test_fail(__FILE__, __LINE__, "'%s' not in %s", from, path);
        free(buf), free(path);
        return;
    }
    size_t at = (size_t)(hit - buf), fl = strlen(from), tl = strlen(to);
    char *out = xmalloc(n - fl + tl);
    memcpy(out, buf, at);
    memcpy(out + at, to, tl);
    memcpy(out + at + tl, buf + at + fl, n - at - fl);
    if (!strcmp(name, "model.safetensors")) {
        uint64_t hl = 0;
        for (int i = 0; i < 8; i++) hl |= (uint64_t)(unsigned char)out[i] << (8 * i);
        hl = hl + tl - fl;
        for (int i = 0; i < 8; i++) out[i] = (char)(hl >> (8 * i));
    }
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(out, 1, n - fl + tl, f) == n - fl + tl);
    if (f) fclose(f);
    free(out), free(buf), free(path);
}

/* Writes v at element i of tensor name (an I32) of dir/model.safetensors. */
static void poke_i32(const char *dir, const char *name, int64_t i, int32_t v) {
    char *path = unum_path_join(dir, "model.safetensors");
    STModel st = {0};
    const STensor *t = NULL;
    if (st_open_file(&st, path) || !(t = st_find(&st, name))) {
        test_fail(__FILE__, __LINE__, "%s: %s", name, unum_error());
    } else {
        off_t off = (off_t)((const char *)t->data - (const char *)st.files[0].map) + 4 * i;
        int fd = open(path, O_WRONLY);
        CHECK(fd >= 0 && pwrite(fd, &v, 4, off) == 4);
        if (fd >= 0) close(fd);
    }
    st_close(&st);
    free(path);
}

static void expect_load_error(const char *dir, const char *const *errs) {
    Backend *be = backend_cpu_open(1);
    Qwen2 *m = qwen2_load(dir, be, 16);
    CHECK(m == NULL);
    for (; *errs; errs++) CHECK_ERR(*errs);
    qwen2_free(m);
    be->close(be);
}

TEST(quant_refuses_hostile_checkpoints) {
    static const struct {
        const char *preset, *file, *from, *to;
        const char *errs[4];
    } cases[] = {
        /* same element count, wrong shape */
        {"tiny-gptq4-g64",
         "model.safetensors",
         "\"model.layers.0.mlp.up_proj.qweight\":{\"dtype\":\"I32\",\"shape\":[8,160]",
         "\"model.layers.0.mlp.up_proj.qweight\":{\"dtype\":\"I32\",\"shape\":[16,80]",
         {"model.safetensors", "'model.layers.0.mlp.up_proj.qweight'", "I32 [16, 80]",
          "expected I32 [8, 160]"}},
        {"tiny-gptq4-g64",
         "model.safetensors",
         "\"model.layers.1.mlp.down_proj.scales\":{\"dtype\":\"F16\"",
         "\"model.layers.1.mlp.down_proj.scales\":{\"dtype\":\"BF16\"",
         {"'model.layers.1.mlp.down_proj.scales'", "is BF16", "expected F16 [3, 64]"}},
        {"tiny-gptq4-g64",
         "model.safetensors",
         "\"model.layers.0.self_attn.k_proj.qzeros\"",
         "\"model.layers.0.self_attn.k_proj.qzeroz\"",
         {"'model.layers.0.self_attn.k_proj.qzeros' is missing"}},
        {"tiny-awq4-g32",
         "model.safetensors",
         "\"model.layers.1.self_attn.o_proj.qweight\"",
         "\"model.layers.1.self_attn.o_proj.qweighx\"",
         {"'model.layers.1.self_attn.o_proj.weight'"}},
        /* the weight itself stored as I32 in a float checkpoint's place */
        {"tiny-gptq4-g64",
         "model.safetensors",
         "\"model.norm.weight\":{\"dtype\":\"F16\",\"shape\":[64]",
         "\"model.norm.weight\":{\"dtype\":\"I32\",\"shape\":[32]",
         {"'model.norm.weight'"}},
        {"tiny-gptq4-g64", "config.json", "\"bits\":4", "\"bits\":3", {"config.json", "bits 3"}},
        {"tiny-gptq4-g64",
         "config.json",
         "\"checkpoint_format\":\"gptq\"",
         "\"checkpoint_format\":\"marlin\"",
         {"config.json", "checkpoint_format 'marlin'"}},
        /* the config's group size disagrees with the tensors */
        {"tiny-gptq4-g64",
         "config.json",
         "\"group_size\":64",
         "\"group_size\":32",
         {"'model.layers.0.self_attn.q_proj.qzeros'", "expected I32 [2, 8]", "gptq-int4 g32"}},
        {"tiny-gptq8-g64",
         "config.json",
         "\"bits\":8",
         "\"bits\":4",
         {"'model.layers.0.self_attn.q_proj.qweight'", "expected I32 [8, 64]"}},
        {"tiny-awq4-g32",
         "config.json",
         "\"quant_method\":\"awq\"",
         "\"quant_method\":\"gptq\"",
         {"'model.layers.0.self_attn.q_proj.qweight'", "expected I32 [8, 64]"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *dir = copy_fixture(cases[i].preset);
        if (!dir) continue;
        replace_in(dir, cases[i].file, cases[i].from, cases[i].to);
        const char *errs[5] = {0};
        for (int k = 0; k < 4 && cases[i].errs[k]; k++) errs[k] = cases[i].errs[k];
        expect_load_error(dir, errs);
        test_tmp_remove(dir);
    }
}

TEST(quant_refuses_bad_g_idx) {
    static const struct {
        int64_t at;
        int32_t v;
        const char *err;
    } cases[] = {
        {5, 99, "g_idx[5] = 99 is outside [0, 5)"},
        {0, -1, "g_idx[0] = -1 is outside [0, 5)"},
        {0, 1, "g_idx puts"}, /* in range, but group 1 then holds 33 inputs */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *dir = copy_fixture("tiny-gptq4-g32-act");
        if (!dir) continue;
        poke_i32(dir, "model.layers.1.mlp.down_proj.g_idx", cases[i].at, cases[i].v);
        const char *errs[] = {"'model.layers.1.mlp.down_proj.g_idx'", cases[i].err, NULL};
        expect_load_error(dir, errs);
        test_tmp_remove(dir);
    }
}

TEST(quant_cli_bench_reports_bytes_and_quantization) {
    char *dir = fixture("tiny-gptq4-g32-act", ""), cmd[1024], *out = NULL, *err = NULL;
    snprintf(cmd, sizeof cmd, "'%s' bench -m '%s' --prompt-len 8 --gen 4 --reps 1 --json",
             test_bin(), dir);
    CHECK_EQ_INT(test_shell(":", cmd, &out, &err), 0);
    CHECK_CONTAINS(out ? out : "", "\"bytes_per_token\":");
    CHECK_CONTAINS(out ? out : "", "\"quantization\":\"gptq-int4 g32 act-order\"");
    free(out), free(err), free(dir);
}
