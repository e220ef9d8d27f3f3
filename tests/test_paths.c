/* test_paths.c - engine/base/paths.h: the one rule for unum's folders. */
#include "tests/test.h"

#include "engine/base/paths.h"
#include "engine/base/util.h"
#include "engine/modeldir.h"
#include "tui/core/appconfig.h"

#include <stdlib.h>

/* Saves and restores the variables the rule reads. */
static const char *vars[] = {"HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME",
                             "XDG_CACHE_HOME"};
enum { N_VARS = sizeof vars / sizeof vars[0] };

static void env_save(char *saved[N_VARS]) {
    for (int i = 0; i < N_VARS; i++) {
        const char *v = getenv(vars[i]);
        saved[i] = v ? xstrdup(v) : NULL;
        unsetenv(vars[i]);
    }
}

static void env_restore(char *saved[N_VARS]) {
    for (int i = 0; i < N_VARS; i++) {
        if (saved[i]) setenv(vars[i], saved[i], 1);
        else unsetenv(vars[i]);
        free(saved[i]);
    }
}

static void check_path(char *got, const char *want) {
    CHECK_STR(got, want);
    free(got);
}

TEST(paths_xdg_variables_win_over_home) {
    char *saved[N_VARS];
    env_save(saved);
    setenv("HOME", "/h", 1);
    setenv("XDG_CONFIG_HOME", "/c", 1);
    setenv("XDG_DATA_HOME", "/d", 1);
    setenv("XDG_STATE_HOME", "/s", 1);
    setenv("XDG_CACHE_HOME", "/k", 1);
    check_path(unum_xdg_path(UNUM_XDG_CONFIG, "keys"), "/c/unum/keys");
    check_path(unum_xdg_path(UNUM_XDG_DATA, "models"), "/d/unum/models");
    check_path(unum_xdg_path(UNUM_XDG_STATE, NULL), "/s/unum");
    check_path(unum_xdg_path(UNUM_XDG_CACHE, ""), "/k/unum");
    check_path(modeldir_models_dir(), "/d/unum/models");
    check_path(app_config_path("config"), "/c/unum/config");
    env_restore(saved);
}

TEST(paths_home_defaults_and_relative_values_ignored) {
    char *saved[N_VARS];
    env_save(saved);
    setenv("HOME", "/h", 1);
    setenv("XDG_DATA_HOME", "relative/data", 1); /* not absolute: ignored */
    setenv("XDG_CONFIG_HOME", "", 1);
    check_path(unum_xdg_path(UNUM_XDG_CONFIG, "themes"), "/h/.config/unum/themes");
    check_path(unum_xdg_path(UNUM_XDG_DATA, "recordings"), "/h/.local/share/unum/recordings");
    check_path(unum_xdg_path(UNUM_XDG_STATE, NULL), "/h/.local/state/unum");
    check_path(unum_xdg_path(UNUM_XDG_CACHE, NULL), "/h/.cache/unum");
    check_path(unum_home_path(".cache/huggingface/hub"), "/h/.cache/huggingface/hub");
    env_restore(saved);
}

TEST(paths_home_unset_is_an_error_everywhere) {
    char *saved[N_VARS];
    env_save(saved);
    /* no XDG variable and no HOME: no folder, never ".", /tmp or the cwd */
    char *p = unum_xdg_path(UNUM_XDG_DATA, "unum.db");
    CHECK(p == NULL);
    CHECK_CONTAINS(unum_error(), "neither XDG_DATA_HOME nor HOME is set");
    free(p);
    CHECK(unum_home_path("x") == NULL);
    CHECK(modeldir_models_dir() == NULL);
    CHECK(app_config_path("config") == NULL);
    /* a relative HOME counts as unset */
    setenv("HOME", "rel", 1);
    CHECK(unum_xdg_path(UNUM_XDG_CONFIG, "keys") == NULL);
    CHECK_CONTAINS(unum_error(), "neither XDG_CONFIG_HOME nor HOME is set");
    /* the settings file is then absent: loading keeps the defaults, saving
     * says why it cannot */
    AppConfig c;
    app_config_defaults(&c);
    CHECK_EQ_INT(app_config_load(&c, NULL), 0);
    CHECK(app_config_set(NULL, "theme", "dark") != 0);
    app_config_free(&c);
    /* a repo id still gets its full error rather than a path under "." */
    char *m = modeldir_resolve("Org/Name");
    CHECK(m == NULL);
    CHECK_CONTAINS(unum_error(), "model not found");
    free(m);
    env_restore(saved);
}
