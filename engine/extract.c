/* extract.c - see extract.h. */
#include "engine/extract.h"

#include "engine/config.h"
#include "engine/safetensors.h"
#include "engine/st_write.h"
#include "engine/base/util.h"

#include <cjson/cJSON.h>
#include <lapacke.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *tensor_f32(const STensor *t) {
    float *v = malloc(sizeof(float) * (size_t)t->numel);
    if (!v) return NULL;
    const unsigned char *p = t->data;
    for (int64_t i = 0; i < t->numel; i++) {
        if (t->dtype == DT_F32) memcpy(&v[i], p + 4 * i, 4);
        else {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            v[i] = t->dtype == DT_BF16 ? unum_bf16_to_f32(h) : unum_f16_to_f32(h);
        }
    }
    return v;
}

/* A = V_R^T [R x in], B = U_R S_R [out x R] of D [out x in] (destroyed). */
static int factor(float *D, int out, int in, int R, float *A, float *B, const char *name) {
    int k = out < in ? out : in;
    float *s = malloc(sizeof(float) * (size_t)k), *u = malloc(sizeof(float) * (size_t)out * k),
          *vt = malloc(sizeof(float) * (size_t)k * in);
    int rc = 0;
    if (!s || !u || !vt) rc = unum_error_set("out of memory factoring '%s'", name);
    else if (LAPACKE_sgesdd(LAPACK_ROW_MAJOR, 'S', out, in, D, in, s, u, k, vt, in))
        rc = unum_error_set("the SVD of the difference in '%s' did not converge", name);
    for (int r = 0; !rc && r < R; r++) {
        int keep = r < k;
        for (int j = 0; j < in; j++) A[(size_t)r * in + j] = keep ? vt[(size_t)r * in + j] : 0;
        for (int o = 0; o < out; o++) B[(size_t)o * R + r] = keep ? u[(size_t)o * k + r] * s[r] : 0;
    }
    free(s);
    free(u);
    free(vt);
    return rc;
}

static int write_config(const char *dir, const char *base, int R, unsigned targets) {
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "peft_type", "LORA");
    cJSON_AddStringToObject(c, "task_type", "CAUSAL_LM");
    cJSON_AddStringToObject(c, "base_model_name_or_path", base);
    cJSON_AddNumberToObject(c, "r", R);
    cJSON_AddNumberToObject(c, "lora_alpha", R);
    cJSON_AddFalseToObject(c, "use_rslora");
    cJSON_AddFalseToObject(c, "use_dora");
    cJSON_AddFalseToObject(c, "fan_in_fan_out");
    cJSON_AddStringToObject(c, "bias", "none");
    cJSON_AddNullToObject(c, "modules_to_save");
    cJSON_AddNumberToObject(c, "lora_dropout", 0);
    cJSON_AddTrueToObject(c, "inference_mode");
    cJSON_AddItemToObject(c, "rank_pattern", cJSON_CreateObject());
    cJSON_AddItemToObject(c, "alpha_pattern", cJSON_CreateObject());
    cJSON *t = cJSON_AddArrayToObject(c, "target_modules");
    for (int m = 0; m < LORA_N_MODULES; m++)
        if (targets & (1u << m)) cJSON_AddItemToArray(t, cJSON_CreateString(lora_module_name(m)));
    char *txt = cJSON_Print(c);
    cJSON_Delete(c);
    char *path = unum_path_join(dir, "adapter_config.json");
    int rc = unum_write_file_atomic(path, txt, strlen(txt));
    free(path);
    cJSON_free(txt);
    return rc;
}

/* The first tensor outside the targets whose values differ. */
static char *first_untouched(const STModel *b, const STModel *t, unsigned targets) {
    for (int i = 0; i < b->n_tensors; i++) {
        const STensor *x = &b->tensors[i], *y = st_find(t, x->name);
        int targeted = 0;
        for (int m = 0; m < LORA_N_MODULES; m++) {
            char tail[64];
            snprintf(tail, sizeof tail, ".%s.weight", lora_module_path(m));
            size_t n = strlen(x->name), k = strlen(tail);
            targeted |= (targets & (1u << m)) && n > k && !strcmp(x->name + n - k, tail);
        }
        if (targeted || !y) continue;
        float *a = tensor_f32(x), *c = tensor_f32(y);
        int differ = !a || !c || memcmp(a, c, sizeof(float) * (size_t)x->numel);
        free(a);
        free(c);
        if (differ) return xstrdup(x->name);
    }
    return NULL;
}

int lora_extract(const ExtractOptions *o, const char *out_dir, char **untouched) {
    *untouched = NULL;
    unsigned targets = o->targets ? o->targets : (1u << LORA_N_MODULES) - 1;
    Qwen2Config cb, ct;
    STModel sb = {0}, stt = {0};
    StWriter w = {0};
    int rc = -1;
    if (o->rank < 1) return unum_error_set("--rank must be at least 1");
    if (qwen2_config_load(&cb, o->base) || st_open_dir(&sb, o->base)) {
        unum_error_wrap("%s", o->base);
        goto done;
    }
    if (qwen2_config_load(&ct, o->tuned) || st_open_dir(&stt, o->tuned)) {
        unum_error_wrap("%s", o->tuned);
        goto done;
    }
    if (cb.hidden != ct.hidden || cb.intermediate != ct.intermediate ||
        cb.n_layers != ct.n_layers || cb.n_heads != ct.n_heads || cb.n_kv_heads != ct.n_kv_heads ||
        cb.head_dim != ct.head_dim || cb.vocab != ct.vocab) {
        unum_error_set("%s and %s have different shapes in config.json", o->base, o->tuned);
        goto done;
    }
    if (unum_mkdir_p(out_dir, 0755) || write_config(out_dir, o->base, o->rank, targets)) goto done;
    stw_init(&w, out_dir, "adapter_model", 0);
    int total = 0;
    for (int i = 0; i < cb.n_layers; i++)
        for (int m = 0; m < LORA_N_MODULES; m++) {
            if (!(targets & (1u << m))) continue;
            int out, in;
            lora_module_shape(&cb, m, &out, &in);
            char n[160];
            int64_t sa[2] = {o->rank, in}, sbb[2] = {out, o->rank};
            snprintf(n, sizeof n, "base_model.model.model.layers.%d.%s.lora_A.weight", i,
                     lora_module_path(m));
            stw_add(&w, n, DT_F32, 2, sa);
            snprintf(n, sizeof n, "base_model.model.model.layers.%d.%s.lora_B.weight", i,
                     lora_module_path(m));
            stw_add(&w, n, DT_F32, 2, sbb);
            total++;
        }
    int done_n = 0;
    for (int i = 0; i < cb.n_layers; i++)
        for (int m = 0; m < LORA_N_MODULES; m++) {
            if (!(targets & (1u << m))) continue;
            int out, in;
            lora_module_shape(&cb, m, &out, &in);
            char n[128];
            snprintf(n, sizeof n, "model.layers.%d.%s.weight", i, lora_module_path(m));
            int64_t shape[2] = {out, in};
            const STensor *tb = st_get(&sb, n, 2, shape),
                          *tt = tb ? st_get(&stt, n, 2, shape) : NULL;
            if (!tt) goto done;
            float *D = tensor_f32(tt), *Wb = tensor_f32(tb);
            float *A = malloc(sizeof(float) * (size_t)o->rank * in);
            float *B = malloc(sizeof(float) * (size_t)out * o->rank);
            int bad = !D || !Wb || !A || !B;
            if (bad) unum_error_set("out of memory for '%s'", n);
            for (size_t e = 0; !bad && e < (size_t)out * in; e++) D[e] -= Wb[e];
            bad = bad || factor(D, out, in, o->rank, A, B, n) ||
                  stw_put(&w, A, (size_t)o->rank * in) || stw_put(&w, B, (size_t)out * o->rank);
            free(D);
            free(Wb);
            free(A);
            free(B);
            if (bad) goto done;
            if (o->progress) o->progress(o->user, ++done_n, total);
        }
    if (stw_finish(&w)) goto done;
    *untouched = first_untouched(&sb, &stt, targets);
    rc = 0;
done:
    if (rc) stw_abort(&w);
    st_close(&sb);
    st_close(&stt);
    return rc;
}
