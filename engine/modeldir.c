/* modeldir.c - see modeldir.h. */
#include "engine/modeldir.h"

#include "engine/family.h"

#include "engine/base/paths.h"
#include "engine/base/util.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int is_model_dir(const char *dir) {
    char *p = unum_path_join(dir, "config.json");
    int ok = unum_file_exists(p);
    free(p);
    return ok;
}

static char *hub_dir(void) {
    const char *e = getenv("HF_HUB_CACHE");
    if (e && *e) return xstrdup(e);
    e = getenv("HF_HOME");
    if (e && *e) return unum_path_join(e, "hub");
    return unum_home_path(".cache/huggingface/hub");
}

char *modeldir_models_dir(void) { return unum_xdg_path(UNUM_XDG_DATA, "models"); }

/* models--ORG--NAME/snapshots/<rev>: refs/main first, else any snapshot
 * holding a config.json. */
static char *from_hub(const char *hub, const char *org, const char *name) {
    char rel[1100];
    snprintf(rel, sizeof rel, "models--%s--%s", org, name);
    char *repo = unum_path_join(hub, rel), *snaps = unum_path_join(repo, "snapshots");
    char *ref = unum_path_join(repo, "refs/main"), *found = NULL;
    char *rev = unum_read_file(ref, 256, NULL);
    if (rev) {
        rev[strcspn(rev, "\r\n")] = 0;
        char *d = unum_path_join(snaps, rev);
        if (!strchr(rev, '/') && is_model_dir(d)) found = d;
        else free(d);
        free(rev);
    }
    DIR *dp = found ? NULL : opendir(snaps);
    for (struct dirent *de; dp && !found && (de = readdir(dp));) {
        if (de->d_name[0] == '.') continue;
        char *d = unum_path_join(snaps, de->d_name);
        if (is_model_dir(d)) found = d;
        else free(d);
    }
    if (dp) closedir(dp);
    free(repo);
    free(snaps);
    free(ref);
    return found;
}

char *modeldir_resolve(const char *model) {
    if (!model || !*model) {
        unum_error_set("no model given (-m DIR or -m ORG/NAME)");
        return NULL;
    }
    if (is_model_dir(model)) return xstrdup(model);
    struct stat st;
    if (stat(model, &st) == 0) {
        unum_error_set("%s: not a model directory (no config.json)", model);
        return NULL;
    }
    const char *slash = strchr(model, '/');
    if (!slash || slash == model || !slash[1] || strchr(slash + 1, '/') || model[0] == '.') {
        unum_error_set("%s: no such directory, and not a repo id of the form ORG/NAME", model);
        return NULL;
    }
    char org[512], name[512];
    snprintf(org, sizeof org, "%.*s", (int)(slash - model), model);
    snprintf(name, sizeof name, "%s", slash + 1);
    char *mdir = modeldir_models_dir(), *local = mdir ? unum_path_join(mdir, model) : NULL;
    free(mdir);
    if (local && is_model_dir(local)) return local;
    char *hub = hub_dir(), *found = hub ? from_hub(hub, org, name) : NULL;
    if (!found)
        unum_error_set("%s: model not found; looked in %s and in %s/models--%s--%s/snapshots "
                       "(put the Hugging Face model directory in one of those places, or pass "
                       "its path with -m)",
                       model, local ? local : "(no models folder: HOME is not set)",
                       hub ? hub : "(no Hugging Face cache: HOME is not set)", org, name);
    free(local);
    free(hub);
    return found;
}

/* ------------------------------------------------------------ finding */

/* Whether dir's config.json says model_type mt, or with mt NULL, the
 * model_type of a language model family (family.h) other than a speech
 * LLM's. */
static int has_type(const char *dir, const char *mt) {
    char *p = unum_path_join(dir, "config.json");
    char *txt = unum_read_file(p, 1 << 20, NULL);
    free(p);
    cJSON *j = txt ? cJSON_Parse(txt) : NULL;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "model_type");
    const ModelFamily *f = !mt && cJSON_IsString(t) ? family_find(t->valuestring) : NULL;
    int ok = cJSON_IsString(t) && (mt ? !strcmp(t->valuestring, mt) : f && !f->speech);
    cJSON_Delete(j);
    free(txt);
    return ok;
}

static void add_unique(char ***out, int *n, const char *repo) {
    for (int i = 0; i < *n; i++)
        if (!strcmp((*out)[i], repo)) return;
    *out = xrealloc(*out, sizeof **out * (size_t)(*n + 1));
    (*out)[(*n)++] = xstrdup(repo);
}

int modeldir_find(const char *model_type, char ***out) {
    int n = 0;
    *out = NULL;
    char *models = modeldir_models_dir();
    DIR *orgs = models ? opendir(models) : NULL;
    for (struct dirent *o; orgs && (o = readdir(orgs));) {
        if (o->d_name[0] == '.') continue;
        char *od = unum_path_join(models, o->d_name);
        DIR *names = opendir(od);
        for (struct dirent *m; names && (m = readdir(names));) {
            if (m->d_name[0] == '.') continue;
            char *md = unum_path_join(od, m->d_name);
            if (has_type(md, model_type)) {
                char repo[600];
                snprintf(repo, sizeof repo, "%s/%s", o->d_name, m->d_name);
                add_unique(out, &n, repo);
            }
            free(md);
        }
        if (names) closedir(names);
        free(od);
    }
    if (orgs) closedir(orgs);
    free(models);
    char *hub = hub_dir();
    DIR *dp = hub ? opendir(hub) : NULL;
    for (struct dirent *de; dp && (de = readdir(dp));) {
        /* models--ORG--NAME */
        if (strncmp(de->d_name, "models--", 8)) continue;
        const char *org = de->d_name + 8, *sep = strstr(org, "--");
        if (!sep || sep == org || !sep[2]) continue;
        char o[256], nm[256];
        snprintf(o, sizeof o, "%.*s", (int)(sep - org), org);
        snprintf(nm, sizeof nm, "%s", sep + 2);
        char *d = from_hub(hub, o, nm);
        if (d && has_type(d, model_type)) {
            char repo[600];
            snprintf(repo, sizeof repo, "%s/%s", o, nm);
            add_unique(out, &n, repo);
        }
        free(d);
    }
    if (dp) closedir(dp);
    free(hub);
    return n;
}
