/* modeldir.c - see modeldir.h. */
#include "modeldir.h"

#include "util.h"

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
    e = getenv("HOME");
    return unum_path_join(e ? e : ".", ".cache/huggingface/hub");
}

char *modeldir_models_dir(void) {
    const char *e = getenv("XDG_DATA_HOME");
    if (e && *e) return unum_path_join(e, "unum/models");
    e = getenv("HOME");
    return unum_path_join(e ? e : ".", ".local/share/unum/models");
}

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
    char *mdir = modeldir_models_dir(), *local = unum_path_join(mdir, model);
    if (is_model_dir(local)) {
        free(mdir);
        return local;
    }
    char *hub = hub_dir(), *found = from_hub(hub, org, name);
    if (!found)
        unum_error_set("%s: model not found; looked in %s and in %s/models--%s--%s/snapshots "
                       "(put the Hugging Face model directory in one of those places, or pass "
                       "its path with -m)",
                       model, local, hub, org, name);
    free(local);
    free(mdir);
    free(hub);
    return found;
}
