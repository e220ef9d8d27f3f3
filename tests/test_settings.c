/* test_settings.c - the app's settings file (tui/core/appconfig.h): values,
 * trailing comments, quoted values, and app_config_set writing back what
 * reads back. */
#include "tests/test.h"

#include "tui/core/appconfig.h"
#include "tui/core/when.h"
#include "engine/base/util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static int parse(AppConfig *c, const char *text) {
    app_config_defaults(c);
    return app_config_parse(c, text, strlen(text), "/c/unum/config");
}

/* The README's own example writes a comment after a value: the value is
 * what comes before it, blanks trimmed. */
TEST(settings_trailing_comment_is_not_part_of_the_value) {
    AppConfig c;
    REQUIRE(parse(&c, "model = Qwen/Qwen2.5-0.5B-Instruct    # directory or repo id\n"
                      "theme = dark\t# dark, light\n"
                      "threads = 0                           # 0: all cores\n"
                      "backend = auto # auto, cpu, cuda\n"
                      "persona = a#b\n") == 0);
    CHECK_STR(c.model, "Qwen/Qwen2.5-0.5B-Instruct");
    CHECK_STR(c.theme, "dark");
    CHECK_EQ_INT(c.threads, 0);
    CHECK_STR(c.backend, "auto");
    CHECK_STR(c.persona, "a#b"); /* a '#' inside a word is text */
    app_config_free(&c);
    /* a value that is only a comment is empty, and so refused */
    CHECK(parse(&c, "model =   # nothing yet\n") == -1);
    CHECK_ERR("/c/unum/config:1: bad value \"\" for model");
    app_config_free(&c);
}

TEST(settings_quoted_values_keep_hashes_and_blanks) {
    AppConfig c;
    REQUIRE(parse(&c, "model = \"/models/my # model \"   # the odd folder\n"
                      "whisper = \"/w/\"x\"\"\n") == 0);
    CHECK_STR(c.model, "/models/my # model ");
    CHECK_STR(c.whisper, "/w/\"x\"");
    app_config_free(&c);
    CHECK(parse(&c, "theme = dark\nmodel = \"/models/open\n") == -1);
    CHECK_ERR("/c/unum/config:2: the value has no closing '\"'");
    app_config_free(&c);
}

TEST(settings_mouse_on_off) {
    AppConfig c;
    REQUIRE(parse(&c, "") == 0);
    CHECK_EQ_INT(c.mouse, 1);
    REQUIRE(parse(&c, "mouse = off   # the terminal selects text\n") == 0);
    CHECK_EQ_INT(c.mouse, 0);
    CHECK(parse(&c, "mouse = maybe\n") == -1);
    CHECK_ERR("/c/unum/config:1: bad value \"maybe\" for mouse");
}

/* What app_config_set writes reads back as the value it was given, quoted
 * when it needs to be; the file's other lines and comments stay. */
TEST(settings_set_round_trips_odd_values) {
    char *tmp = test_tmpdir();
    REQUIRE(tmp);
    char *path = unum_path_join(tmp, "sub/config");
    const char *values[] = {"/plain/dir", "/dir with # hash", " padded ", "\"quoted\"", "a#b"};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        REQUIRE(app_config_set(path, "model", values[i]) == 0);
        REQUIRE(app_config_set(path, "theme", "mono") == 0);
        AppConfig c;
        app_config_defaults(&c);
        REQUIRE(app_config_load(&c, path) == 0);
        CHECK_STR(c.model, values[i]);
        CHECK_STR(c.theme, "mono");
        app_config_free(&c);
    }
    CHECK(app_config_set(path, "model", "two\nlines") != 0);
    CHECK_ERR("cannot hold a line break");
    free(path);
    test_tmp_remove(tmp);
}

/* The store's UTC stamps are shown in the user's time zone. */
TEST(settings_when_local_shows_the_local_clock) {
    char *old = getenv("TZ") ? xstrdup(getenv("TZ")) : NULL;
    setenv("TZ", "NPT-5:45", 1); /* UTC+05:45, a zone no machine's clock hides */
    tzset();
    char out[64];
    CHECK_STR(when_local("2026-01-15T23:30:00.000Z", out, sizeof out), "2026-01-16 05:15");
    CHECK_STR(when_local("2026-01-15 00:10:59", out, sizeof out), "2026-01-15 05:55");
    CHECK_STR(when_local("yesterday", out, sizeof out), "yesterday"); /* not a stamp: as it is */
    if (old) setenv("TZ", old, 1);
    else unsetenv("TZ");
    tzset();
    free(old);
}

/* speech_model is whisper's other name: either takes any speech model, and
 * both together are one setting given twice. */
TEST(settings_speech_model_is_whispers_other_name) {
    AppConfig c;
    REQUIRE(parse(&c, "speech_model = microsoft/VibeVoice-ASR\n") == 0);
    CHECK_STR(c.whisper, "microsoft/VibeVoice-ASR");
    app_config_free(&c);
    CHECK(parse(&c, "whisper = openai/whisper-base\nspeech_model = x\n") == -1);
    CHECK_ERR("/c/unum/config:2: speech_model is set twice");
    app_config_free(&c);
}
