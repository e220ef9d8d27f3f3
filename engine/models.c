/* models.c - see models.h. */
#include "engine/models.h"

#include "engine/base/util.h"
#include "engine/config.h"
#include "engine/modeldir.h"
#include "engine/whisper.h"

#include <assert.h>
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
    Engine *e;         /* the engine (a speech LLM's backbone); NULL: not loaded */
    Transcriber *t;    /* ROLE_WHISPER's, when loaded */
    SpeechLLM *sp;     /* ROLE_SPEECH's, when loaded (e is sp->e) */
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

static const char *role_names[ROLE_COUNT] = {"chat",    "stage 2", "draft",
                                             "report",  "whisper", "speech LLM"};

/* Whether s holds a model now (an engine, or ROLE_WHISPER's transcriber). */
static int held(const Slot *s) { return s->e || s->t; }

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

/* A Whisper model: its weights, its decoder's self- and cross-attention
 * caches and its encoder's activations (the conv front end's columns, the
 * attention scores of one head and the feed-forward rows of 2 x audio
 * positions), and its logits. */
static int whisper_estimate(const char *dir, size_t *bytes) {
    WhisperConfig c;
    size_t w = 0;
    if (whisper_config_load(&c, dir) || weight_bytes(dir, &w)) return -1;
    size_t d = (size_t)c.d, frames = 2 * (size_t)c.n_audio;
    size_t caches = 2 * (size_t)c.dec_layers * ((size_t)c.n_text + (size_t)c.n_audio) * d;
    size_t ffn = (size_t)(c.enc_ffn > c.dec_ffn ? c.enc_ffn : c.dec_ffn);
    size_t act = frames * (3 * (size_t)c.n_mels + 6 * d + ffn) + (size_t)c.n_audio * c.n_audio +
                 (size_t)c.vocab;
    *bytes = w + (caches + act) * sizeof(float);
    return 0;
}

/* What a speech LLM adds to its backbone's estimate: the weights of an
 * encoder in a directory of its own, and its activations (those inside the
 * checkpoint are counted with the backbone's weights). */
static int speech_extra(const char *dir, size_t *bytes) {
    char *path = NULL;
    cJSON *root = config_read_object(dir, "config.json", &path);
    if (!root) return -1;
    const cJSON *enc = cJSON_GetObjectItemCaseSensitive(root, "speech_encoder");
    int rc = 0;
    *bytes = 0;
    if (cJSON_IsString(enc) && enc->valuestring[0]) {
        char *sub = unum_path_join(dir, enc->valuestring);
        struct stat sb;
        if (!stat(sub, &sb) && S_ISDIR(sb.st_mode)) rc = whisper_estimate(sub, bytes);
        free(sub);
    }
    cJSON_Delete(root);
    free(path);
    return rc;
}

int models_estimate(const char *model, int ctx, size_t *bytes) {
    char *dir = modeldir_resolve(model);
    if (!dir) return -1;
    char *path = NULL;
    cJSON *root = config_read_object(dir, "config.json", &path);
    const cJSON *mt = root ? cJSON_GetObjectItemCaseSensitive(root, "model_type") : NULL;
    int whisper = cJSON_IsString(mt) && !strcmp(mt->valuestring, "whisper");
    cJSON_Delete(root);
    free(path);
    if (!root || whisper) {
        int rc = root ? whisper_estimate(dir, bytes) : -1;
        free(dir);
        return rc;
    }
    size_t extra = 0;
    if (speech_is_model(dir) && speech_extra(dir, &extra)) {
        free(dir);
        return -1;
    }
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
        *bytes = w + kv + act * sizeof(float) + extra;
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

void models_set_budget(Models *m, size_t budget) { m->budget = budget; }

static void unload(Slot *s) {
    if (s->sp) speech_free(s->sp); /* its backbone with it */
    else if (s->t) transcriber_free(s->t);
    else if (s->owned) engine_free(s->e);
    s->e = NULL;
    s->t = NULL;
    s->sp = NULL;
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

const char *models_model(const Models *m, ModelRole role) { return m->slot[role].model; }

int models_adopt(Models *m, ModelRole role, Engine *e) {
    assert(role != ROLE_WHISPER && role != ROLE_SPEECH); /* an Engine alone */
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
        if (held(&m->slot[r])) n += m->slot[r].bytes;
    return n;
}

int models_loaded(const Models *m, ModelRole role) { return held(&m->slot[role]); }

int models_in_use(const Models *m, ModelRole role) { return m->slot[role].in_use > 0; }

const char *models_backend(const Models *m, ModelRole role) {
    const Slot *s = &m->slot[role];
    return s->t ? transcriber_backend(s->t) : s->e ? engine_backend_name(s->e) : NULL;
}

SpeechLLM *models_speech(const Models *m) { return m->slot[ROLE_SPEECH].sp; }

void models_where(const Models *m, int brief, char *out, size_t n) {
    size_t at = 0;
    out[0] = 0;
    for (int r = 0; r < ROLE_COUNT; r++) {
        const Slot *s = &m->slot[r];
        if (r == ROLE_CHAT || r == ROLE_SPEECH || !held(s) || at >= n) continue;
        const char *slash = strrchr(s->model, '/');
        const char *name = slash && slash[1] ? slash + 1 : s->model;
        int k = brief ? snprintf(out + at, n - at, "%s%s %s", at ? ", " : "", role_names[r],
                                 models_backend(m, (ModelRole)r))
                      : snprintf(out + at, n - at, "%s%s: %s on %s", at ? ", " : "",
                                 role_names[r], name, models_backend(m, (ModelRole)r));
        at = k < 0 ? n : at + (size_t)k;
    }
}

/* The least recently used slot that may be unloaded, or NULL. */
static Slot *victim(Models *m) {
    Slot *best = NULL;
    for (int r = 0; r < ROLE_COUNT; r++) {
        Slot *s = &m->slot[r];
        if (held(s) && s->owned && !s->in_use && (!best || s->used_at < best->used_at)) best = s;
    }
    return best;
}

/* role's slot with its model loaded (by its kind), unloading least
 * recently used models not in use to make room, and marked in use. */
static Slot *acquire(Models *m, ModelRole role) {
    Slot *s = &m->slot[role];
    if (!s->model) {
        unum_error_set("no %s model is set", role_names[role]);
        return NULL;
    }
    if (!held(s)) {
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
            char held_by[512] = "";
            for (int r = 0; r < ROLE_COUNT; r++)
                if (held(&m->slot[r]))
                    snprintf(held_by + strlen(held_by), sizeof held_by - strlen(held_by),
                             "%s%s %.0f MiB", held_by[0] ? ", " : "", role_names[r],
                             MIB(m->slot[r].bytes));
            unum_error_set("%s (%s model) needs %.0f MiB; the memory budget of %.0f MiB has "
                           "%.0f MiB in models in use (%s)",
                           s->model, role_names[role], MIB(need), MIB(m->budget),
                           MIB(models_used(m)), held_by);
            return NULL;
        }
        if (role == ROLE_WHISPER) {
            if (!(s->t = transcriber_load(s->model, s->opt.backend, s->opt.threads))) return NULL;
        } else if (role == ROLE_SPEECH) {
            if (!(s->sp = speech_load(s->model, &s->opt))) return NULL;
            s->e = s->sp->e;
        } else if (!(s->e = engine_load(s->model, &s->opt))) {
            return NULL;
        }
        s->owned = 1;
        s->bytes = need;
    }
    s->in_use++;
    s->used_at = ++m->clock;
    return s;
}

Engine *models_acquire(Models *m, ModelRole role) {
    if (role == ROLE_WHISPER) {
        unum_error_set("the whisper model is no language model (models_acquire_transcriber)");
        return NULL;
    }
    Slot *s = acquire(m, role);
    return s ? s->e : NULL;
}

Transcriber *models_acquire_transcriber(Models *m) {
    Slot *s = acquire(m, ROLE_WHISPER);
    return s ? s->t : NULL;
}

void models_release(Models *m, ModelRole role) {
    Slot *s = &m->slot[role];
    if (s->in_use > 0) s->in_use--;
}
