/* test_vibevoice.c - VibeVoice-ASR: the output reader and the loop guard
 * here; the encoders, connectors and decoder against the reference's
 * goldens further down (tests/golden/vibevoice/). */
#include "engine/base/util.h"
#include "engine/vibevoice.h"
#include "tests/test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ output */

static void parse(const char *text, Transcript *tr, int *warned) {
    memset(tr, 0, sizeof *tr);
    REQUIRE(vibevoice_parse(text, 0, 600, tr, warned) == 0);
}

TEST(vibevoice_parse_reads_the_published_segments) {
    Transcript tr;
    int warned = -1;
    parse("assistant\n[{\"Start\": 0.0, \"End\": 2.5, \"Speaker\": 0, \"Content\": \"Hello "
          "there.\"}, {\"Start\": 2.5, \"End\": 4.1, \"Speaker\": 1, \"Content\": \"Hi, "
          "{braces} and \\\"quotes\\\" ]\"}]",
          &tr, &warned);
    REQUIRE(tr.n == 2);
    CHECK(!warned);
    CHECK_NEAR(tr.seg[0].start, 0.0, 1e-9);
    CHECK_NEAR(tr.seg[0].end, 2.5, 1e-9);
    CHECK_STR(tr.seg[0].speaker, "S0");
    CHECK_STR(tr.seg[0].text, "Hello there.");
    CHECK_STR(tr.seg[1].speaker, "S1");
    CHECK_STR(tr.seg[1].text, "Hi, {braces} and \"quotes\" ]");
    CHECK_NEAR(tr.seg[1].end, 4.1, 1e-9);
    transcript_free(&tr);
}

TEST(vibevoice_parse_takes_string_times_and_speakers_and_offsets) {
    Transcript tr = {0};
    int warned = 0;
    REQUIRE(vibevoice_parse("```json\n[{\"Start\": \"01:02.50\", \"End\": \"1:01:03\", "
                            "\"Speaker\": \"2\", \"Content\": \"a\"}, {\"Start\": 5, \"End\": 3, "
                            "\"Speaker\": \"Ana\", \"Content\": \"b\"}]\n```",
                            100, 7200, &tr, &warned) == 0);
    REQUIRE(tr.n == 2);
    CHECK(!warned);
    CHECK_NEAR(tr.seg[0].start, 100 + 62.5, 1e-9);
    CHECK_NEAR(tr.seg[0].end, 100 + 3663, 1e-9);
    CHECK_STR(tr.seg[0].speaker, "S2");
    CHECK_STR(tr.seg[1].speaker, "Ana");
    CHECK_NEAR(tr.seg[1].end, tr.seg[1].start, 1e-9); /* an end before the start */
    transcript_free(&tr);
}

TEST(vibevoice_parse_keeps_what_is_not_json_as_text) {
    Transcript tr;
    int warned = 0;
    /* text outside the array, an object without Content, an object cut off */
    parse("Sorry, [{\"Start\": 1, \"End\": 2, \"Speaker\": 0, \"Content\": \"kept\"}, "
          "{\"Start\": 2, \"note\": 3}, {\"Start\": 3, \"End\": 4, \"Speaker\": 1, \"Content\": "
          "\"cut of",
          &tr, &warned);
    CHECK(warned);
    REQUIRE(tr.n == 4);
    CHECK(tr.seg[0].speaker == NULL);
    CHECK_STR(tr.seg[0].text, "Sorry");
    CHECK_STR(tr.seg[1].text, "kept");
    CHECK(tr.seg[2].speaker == NULL);
    CHECK_CONTAINS(tr.seg[2].text, "\"note\"");
    CHECK(tr.seg[3].speaker == NULL);
    CHECK_CONTAINS(tr.seg[3].text, "cut of");
    transcript_free(&tr);
    /* nothing that is JSON at all */
    parse("just words", &tr, &warned);
    CHECK(warned);
    REQUIRE(tr.n == 1);
    CHECK_STR(tr.seg[0].text, "just words");
    transcript_free(&tr);
}

TEST(vibevoice_parse_clamps_times_to_the_audio) {
    Transcript tr = {0};
    int warned = 0;
    REQUIRE(vibevoice_parse("[{\"Start\": 9e99, \"End\": -4, \"Speaker\": 0, \"Content\": \"x\"},"
                            "{\"Start\": \"nan\", \"End\": \"1:2:3:4\", \"Content\": \"y\"}]",
                            10, 30, &tr, &warned) == 0);
    REQUIRE(tr.n == 2);
    for (int i = 0; i < tr.n; i++) {
        CHECK(tr.seg[i].start >= 10 && tr.seg[i].start <= 40);
        CHECK(tr.seg[i].end >= tr.seg[i].start && tr.seg[i].end <= 40);
    }
    CHECK(tr.seg[1].speaker == NULL);
    transcript_free(&tr);
}

TEST(vibevoice_loop_cut_finds_repeats_and_spares_plain_text) {
    int32_t ids[400];
    for (int i = 0; i < 400; i++) ids[i] = 1000 + i; /* nothing repeats */
    CHECK(vibevoice_loop_cut(ids, 400) == -1);
    /* a pattern of 7 ids from 100 on, 300 ids of it */
    for (int i = 100; i < 400; i++) ids[i] = 50 + (i - 100) % 7;
    long at = vibevoice_loop_cut(ids, 400);
    CHECK(at >= 100 && at <= 101);
    /* twice is not a loop */
    for (int i = 0; i < 400; i++) ids[i] = 1000 + i;
    for (int i = 300; i < 400; i++) ids[i] = ids[i - 100];
    CHECK(vibevoice_loop_cut(ids, 400) == -1);
    /* one id over and over */
    for (int i = 350; i < 400; i++) ids[i] = 7;
    CHECK(vibevoice_loop_cut(ids, 400) == 350);
}
