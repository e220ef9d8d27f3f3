/* paths.c - see paths.h. */
#include "engine/base/paths.h"

#include "engine/base/util.h"

#include <stdlib.h>

static const struct {
    const char *var, *home_rel;
} xdg[] = {
    [UNUM_XDG_CONFIG] = {"XDG_CONFIG_HOME", ".config"},
    [UNUM_XDG_DATA] = {"XDG_DATA_HOME", ".local/share"},
    [UNUM_XDG_STATE] = {"XDG_STATE_HOME", ".local/state"},
    [UNUM_XDG_CACHE] = {"XDG_CACHE_HOME", ".cache"},
};

static const char *absolute_env(const char *var) {
    const char *v = getenv(var);
    return v && v[0] == '/' ? v : NULL;
}

char *unum_home_path(const char *rel) {
    const char *home = absolute_env("HOME");
    if (!home) return unum_error_set("HOME is not set (or not an absolute path)"), NULL;
    return rel && *rel ? unum_path_join(home, rel) : xstrdup(home);
}

char *unum_xdg_path(UnumXdg kind, const char *sub) {
    const char *x = absolute_env(xdg[kind].var);
    char *base;
    if (x) {
        base = xstrdup(x);
    } else {
        const char *home = absolute_env("HOME");
        if (!home)
            return unum_error_set("neither %s nor HOME is set (as an absolute path)",
                                  xdg[kind].var),
                   NULL;
        base = unum_path_join(home, xdg[kind].home_rel);
    }
    char *dir = unum_path_join(base, "unum");
    free(base);
    if (!sub || !*sub) return dir;
    char *p = unum_path_join(dir, sub);
    free(dir);
    return p;
}
