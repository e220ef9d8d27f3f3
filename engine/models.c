/* models.c - see models.h. */
#include "engine/models.h"

#include "engine/base/util.h"
#include "engine/config.h"
#include "engine/modeldir.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char *model; /* NULL: the role is empty */
    EngineOptions opt;
    Engine *e;
    int owned; /* loaded here (else adopted) */
    size_t bytes;
    int in_use;
    unsigned long used_at;
} Slot;

struct Models {
    Slot slot[ROLE_COUNT];
    size_t budget;
    unsigned long clock;
};

static const char *role_names[ROLE_COUNT] = {"chat", "stage 2", "draft", "report"};

const char *models_role_name(ModelRole role) { return role_names[role]; }

#define MIB(x) ((double)(x) / 1048576.0)

/* ------------------------------------------------------------ sizes */

static long long file_size(const char *dir, const char *name) {
    char *p = unum_path_join(dir, name);
    struct stat sb;
    long long n = stat(p, &sb) ? -1 : (long long)sb.st_size;
    free(p);
    return n;
}

/* The weight files' bytes: model.safetensors, or the shards its index names. */
static int weight_bytes(const char *dir, size_t *out) {
    long long n = file_size(dir, "model.safetensors");
    if (n >= 0) {
        *out = (size_t)n;
        return 0;
    }
    char *path = NULL;
    cJSON *idx = config_read_object(dir, "model.safetensors.index.json", &path);
    if (!idx) return -1;
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(idx, "weight_map"), *it;
    size_t total = 0;
    int rc = 0;
    const char *seen[256];
    int n_seen = 0;
    cJSON_ArrayForEach(it, map) {
        if (!cJSON_IsString(it)) continue;
        int dup = 0;
        for (int i = 0; i < n_seen; i++) dup |= !strcmp(seen[i], it->valuestring);
        if (dup) continue;
        if (n_seen < 256) seen[n_seen++] = it->valuestring;
        long long s = file_size(dir, it->valuestring);
        if (s < 0) {
            rc = unum_error_set("%s: shard %s is missing", path, it->valuestring);
            break;
        }
        total += (size_t)s;
    }
    cJSON_Delete(idx);
    free(path);
    *out = total;
    return rc;
}

int models_estimate(const char *model, int ctx, size_t *bytes) {
    char *dir = modeldir_resolve(model);
    if (!dir) return -1;
    Qwen2Config c;
    size_t w = 0;
    int rc = qwen2_config_load(&c, dir) || weight_bytes(dir, &w) ? -1 : 0;
    if (!rc) {
        if (ctx <= 0) ctx = c.max_pos < 4096 ? c.max_pos : 4096;
        size_t kvd = (size_t)c.n_kv_heads * c.head_dim, qd = (size_t)c.n_heads * c.head_dim;
        size_t kv = 2 * (size_t)c.n_layers * (size_t)ctx * kvd * sizeof(float);
        /* activations for a 512-token chunk, 16 rows of logits, the host
         * logits row */
        size_t act = 512 * (2 * (size_t)c.hidden + 2 * qd + 2 * (size_t)c.intermediate) +
                     17 * (size_t)c.vocab;
        *bytes = w + kv + act * sizeof(float);
    }
    free(dir);
    return rc;
}

/* total less a tenth (at least 1 GiB; half of it when that is more) */
static size_t less_margin(size_t total) {
    size_t margin = total / 10 > ((size_t)1 << 30) ? total / 10 : (size_t)1 << 30;
    return total > margin ? total - margin : total / 2;
}

size_t models_default_budget(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return less_margin(pages > 0 && page > 0 ? (size_t)pages * (size_t)page : (size_t)8 << 30);
}

size_t models_default_budget_for(const char *backend) {
    size_t device = backend_device_memory(backend);
    return device ? less_margin(device) : models_default_budget();
}

int models_parse_size(const char *text, size_t *bytes) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || errno || !(v >= 0))
        return unum_error_set("'%s' is not a size (like 8G or 512M)", text);
    double mul = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K':
        mul = 1024.0;
        break;
    case 'M':
        mul = 1048576.0;
        break;
    case 'G':
        mul = 1073741824.0;
        break;
    case 'T':
        mul = 1099511627776.0;
        break;
    case 0:
        break;
    default:
        return unum_error_set("'%s' is not a size (like 8G or 512M)", text);
    }
    if (*end) {
        end++;
        if (!strcasecmp(end, "iB") || !strcasecmp(end, "B")) end += strlen(end);
        if (*end) return unum_error_set("'%s' is not a size (like 8G or 512M)", text);
    }
    double b = v * mul;
    if (b < 1 || b > 1e18) return unum_error_set("'%s' is not a size (like 8G or 512M)", text);
    *bytes = (size_t)b;
    return 0;
}

/* ------------------------------------------------------------ roles */

Models *models_new(size_t budget) {
    Models *m = xcalloc(1, sizeof *m);
    m->budget = budget; /* 0: fixed by the first model counted (default_budget) */
    return m;
}

/* Without --mem-budget, the budget is what the device of the first model
 * counted has: its GPU's memory or the machine's. */
static void default_budget(Models *m, const char *backend) {
    if (!m->budget) m->budget = models_default_budget_for(backend);
}

size_t models_budget(const Models *m) {
    return m->budget ? m->budget : models_default_budget_for("auto");
}

static void unload(Slot *s) {
    if (s->owned) engine_free(s->e);
    s->e = NULL;
    s->owned = 0;
    s->in_use = 0;
}

void models_free(Models *m) {
    if (!m) return;
    for (int r = 0; r < ROLE_COUNT; r++) {
        unload(&m->slot[r]);
        free(m->slot[r].model);
    }
    free(m);
}

int models_set(Models *m, ModelRole role, const char *model, const EngineOptions *opt) {
    Slot *s = &m->slot[role];
    if (s->in_use) return unum_error_set("the %s model is in use", role_names[role]);
    unload(s);
    free(s->model);
    s->model = model ? xstrdup(model) : NULL;
    s->opt = opt ? *opt : (EngineOptions){0};
    s->bytes = 0;
    return 0;
}

int models_adopt(Models *m, ModelRole role, Engine *e) {
    if (models_set(m, role, e->dir, NULL)) return -1;
    Slot *s = &m->slot[role];
    if (models_estimate(e->dir, e->model->ctx, &s->bytes)) return -1;
    default_budget(m, engine_backend_name(e));
    s->e = e;
    s->owned = 0;
    s->used_at = ++m->clock;
    return 0;
}

size_t models_used(const Models *m) {
    size_t n = 0;
    for (int r = 0; r < ROLE_COUNT; r++)
        if (m->slot[r].e) n += m->slot[r].bytes;
    return n;
}

int models_loaded(const Models *m, ModelRole role) { return m->slot[role].e != NULL; }

/* The least recently used slot that may be unloaded, or NULL. */
static Slot *victim(Models *m) {
    Slot *best = NULL;
    for (int r = 0; r < ROLE_COUNT; r++) {
        Slot *s = &m->slot[r];
        if (s->e && s->owned && !s->in_use && (!best || s->used_at < best->used_at)) best = s;
    }
    return best;
}

Engine *models_acquire(Models *m, ModelRole role) {
    Slot *s = &m->slot[role];
    if (!s->model) {
        unum_error_set("no %s model is set", role_names[role]);
        return NULL;
    }
    if (!s->e) {
        size_t need;
        if (models_estimate(s->model, s->opt.ctx, &need)) return NULL;
        default_budget(m, s->opt.backend);
        if (need > m->budget) {
            unum_error_set("%s (%s model) needs %.0f MiB, more than the memory budget of %.0f MiB "
                           "(--mem-budget)",
                           s->model, role_names[role], MIB(need), MIB(m->budget));
            return NULL;
        }
        Slot *v;
        while (models_used(m) + need > m->budget && (v = victim(m))) unload(v);
        if (models_used(m) + need > m->budget) {
            char held[512] = "";
            for (int r = 0; r < ROLE_COUNT; r++)
                if (m->slot[r].e)
                    snprintf(held + strlen(held), sizeof held - strlen(held), "%s%s %.0f MiB",
                             held[0] ? ", " : "", role_names[r], MIB(m->slot[r].bytes));
            unum_error_set("%s (%s model) needs %.0f MiB; the memory budget of %.0f MiB has "
                           "%.0f MiB in models in use (%s)",
                           s->model, role_names[role], MIB(need), MIB(m->budget),
                           MIB(models_used(m)), held);
            return NULL;
        }
        s->e = engine_load(s->model, &s->opt);
        if (!s->e) return NULL;
        s->owned = 1;
        s->bytes = need;
    }
    s->in_use++;
    s->used_at = ++m->clock;
    return s->e;
}

void models_release(Models *m, ModelRole role) {
    Slot *s = &m->slot[role];
    if (s->in_use > 0) s->in_use--;
}
