/* test_safetensors.c - the safetensors reader on hand-written hostile files,
 * exact values read back for every dtype, sharded directories, and the
 * Qwen2 loader on copies of the tiny-bf16 fixture that disagree with their
 * config.json.
 *
 * Every hostile file is written by the case itself into a fresh directory
 * under /tmp (removed afterwards); each failure is checked twice: that it
 * fails, and that the message names the file or tensor and the problem.
 * The model cases read generated fixtures from test_fixtures() (make
 * fixtures). */
#include "engine/config.h"
#include "engine/cpu/kernels.h"
#include "engine/ops.h"
#include "engine/qwen2.h"
#include "engine/safetensors.h"
#include "tests/test.h"
#include "engine/base/util.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ temp files */

static int write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(p, 1, n, f) : 0;
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static int write_text(const char *dir, const char *name, const char *text) {
    char *p = unum_path_join(dir, name);
    int rc = write_file(p, text, strlen(text));
    free(p);
    return rc;
}

/* dir/name holding the 8-byte little-endian length hlen, then body. The
 * length need not match the body: hostile files lie. */
static char *write_raw(const char *dir, const char *name, uint64_t hlen, const void *body,
                       size_t body_len) {
    char *path = unum_path_join(dir, name);
    unsigned char *buf = xmalloc(8 + body_len);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(hlen >> (8 * i));
    if (body_len) memcpy(buf + 8, body, body_len);
    if (write_file(path, buf, 8 + body_len)) test_fail(__FILE__, __LINE__, "cannot write %s", path);
    free(buf);
    return path;
}

/* A well-framed file: header then data_len bytes (data, or zeros). */
static char *write_st(const char *dir, const char *name, const char *header, const void *data,
                      size_t data_len) {
    size_t hl = strlen(header);
    char *body = xcalloc(hl + data_len + 1, 1);
    memcpy(body, header, hl);
    if (data) memcpy(body + hl, data, data_len);
    char *path = write_raw(dir, name, hl, body, hl + data_len);
    free(body);
    return path;
}

/* Writes header + data_len zero bytes as case.safetensors in a fresh
 * directory, opens it, and returns st_open_file's result; the error stays
 * set for the caller to inspect. */
static int try_header(const char *header, size_t data_len) {
    char *dir = test_tmpdir();
    if (!dir) return 0;
    char *path = write_st(dir, "case.safetensors", header, NULL, data_len);
    STModel m = {0};
    int rc = st_open_file(&m, path);
    st_close(&m);
    free(path);
    test_tmp_remove(dir);
    return rc;
}

/* ------------------------------------------------------------ framing */

TEST(st_missing_file) {
    STModel m = {0};
    CHECK_EQ_INT(st_open_file(&m, "/nonexistent-unum/dir/model.safetensors"), -1);
    CHECK_ERR("/nonexistent-unum/dir/model.safetensors");
    CHECK_ERR("No such file");
    st_close(&m);
}

TEST(st_not_regular_file) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    STModel m = {0};
    CHECK_EQ_INT(st_open_file(&m, dir), -1);
    CHECK_ERR(dir);
    CHECK(strstr(unum_error(), "not a regular file") || strstr(unum_error(), "directory"));
    st_close(&m);
    test_tmp_remove(dir);
}

TEST(st_short_file) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    char *p = unum_path_join(dir, "short.safetensors");
    REQUIRE(write_file(p, "\x02\0\0\0\0", 5) == 0);
    STModel m = {0};
    CHECK_EQ_INT(st_open_file(&m, p), -1);
    CHECK_ERR("short.safetensors");
    CHECK_ERR("5 bytes");
    st_close(&m);
    REQUIRE(write_file(p, "", 0) == 0);
    CHECK_EQ_INT(st_open_file(&m, p), -1);
    CHECK_ERR("short.safetensors");
    CHECK_ERR("truncated");
    st_close(&m);
    free(p);
    test_tmp_remove(dir);
}

TEST(st_header_length_past_file) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    /* claims 3 bytes more than there are */
    char *p = write_raw(dir, "long.safetensors", 5, "{}", 2);
    STModel m = {0};
    CHECK_EQ_INT(st_open_file(&m, p), -1);
    CHECK_ERR("long.safetensors");
    CHECK_ERR("header length 5 exceeds the file (10 bytes)");
    st_close(&m);
    free(p);
    /* a length with the top bit set must not wrap anything */
    p = write_raw(dir, "huge.safetensors", UINT64_MAX, "{}", 2);
    CHECK_EQ_INT(st_open_file(&m, p), -1);
    CHECK_ERR("huge.safetensors");
    CHECK_ERR("18446744073709551615");
    st_close(&m);
    free(p);
    /* one byte past the end is past the end */
    p = write_raw(dir, "one.safetensors", 3, "{}", 2);
    CHECK_EQ_INT(st_open_file(&m, p), -1);
    CHECK_ERR("header length 3");
    st_close(&m);
    free(p);
    test_tmp_remove(dir);
}

/* The cap holds even when the file is big enough for the length: a sparse
 * file of ST_MAX_HEADER + 64 bytes claiming ST_MAX_HEADER + 1 bytes of
 * header. Without the cap the reader would go on to parse 100 MiB of zeros
 * and fail with a JSON error instead. */
TEST(st_header_length_above_cap) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    char *p = write_raw(dir, "cap.safetensors", (uint64_t)ST_MAX_HEADER + 1, "{}", 2);
    REQUIRE(truncate(p, (off_t)ST_MAX_HEADER + 64) == 0);
    STModel m = {0};
    CHECK_EQ_INT(st_open_file(&m, p), -1);
    CHECK_ERR("cap.safetensors");
    CHECK_ERR("header length 104857601");
    CHECK_ERR("cap");
    CHECK(!strstr(unum_error(), "JSON"));
    st_close(&m);
    /* exactly the cap passes the length check (whatever the JSON does) */
    free(p);
    p = write_raw(dir, "atcap.safetensors", (uint64_t)ST_MAX_HEADER, "{}", 2);
    REQUIRE(truncate(p, (off_t)ST_MAX_HEADER + 64) == 0);
    if (st_open_file(&m, p)) CHECK(!strstr(unum_error(), "header length"));
    st_close(&m);
    free(p);
    test_tmp_remove(dir);
}

TEST(st_header_not_json) {
    CHECK_EQ_INT(try_header("{\"a\": {\"dtype\": \"F32\",", 0), -1);
    CHECK_ERR("case.safetensors");
    CHECK_ERR("header is not valid JSON");
    CHECK_EQ_INT(try_header("", 0), -1); /* zero-length header */
    CHECK_ERR("not valid JSON");
    /* a header that is JSON only if read past its length */
    char *dir = test_tmpdir();
    REQUIRE(dir);
    char *p = write_raw(dir, "cut.safetensors", 1, "{}", 2);
    STModel m = {0};
    CHECK_EQ_INT(st_open_file(&m, p), -1);
    CHECK_ERR("cut.safetensors");
    CHECK_ERR("not valid JSON");
    st_close(&m);
    free(p);
    test_tmp_remove(dir);
}

/* The header is the whole slice: JSON followed by anything but whitespace
 * is not a safetensors header (the reference reader rejects "trailing
 * characters"). */
TEST(st_header_trailing_garbage) {
    const char *hs[] = {"{}x", "{} {}", "{}\0\0",
                        ("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],"
                         "\"data_offsets\":[0,4]}},")};
    size_t lens[] = {3, 5, 4, strlen(hs[3])};
    char *dir = test_tmpdir();
    REQUIRE(dir);
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) {
        char body[128] = {0};
        memcpy(body, hs[i], lens[i]);
        char *p = write_raw(dir, "trail.safetensors", lens[i], body, lens[i] + 4);
        STModel m = {0};
        if (st_open_file(&m, p) == 0) {
            test_fail(__FILE__, __LINE__, "header %zu with trailing bytes was accepted", i);
        } else {
            CHECK_ERR("trail.safetensors");
            CHECK_ERR("JSON");
        }
        st_close(&m);
        free(p);
    }
    test_tmp_remove(dir);
}

TEST(st_header_not_object) {
    const char *hs[] = {"[]", "[{\"dtype\":\"F32\"}]", "42", "\"x\"", "null", "true"};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) {
        CHECK_EQ_INT(try_header(hs[i], 0), -1);
        CHECK_ERR("case.safetensors");
        CHECK_ERR("header is not a JSON object");
    }
}

TEST(st_empty_header_ok) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    char *p = write_st(dir, "empty.safetensors", "{}", NULL, 0);
    STModel m = {0};
    CHECK_EQ_INT(st_open_file(&m, p), 0);
    CHECK_EQ_INT(m.n_tensors, 0);
    CHECK_EQ_INT(m.n_files, 1);
    CHECK(st_find(&m, "x") == NULL);
    st_close(&m);
    CHECK_EQ_INT(m.n_files, 0);
    free(p);
    test_tmp_remove(dir);
}

/* ------------------------------------------------------------ entries */

TEST(st_entry_not_object) {
    CHECK_EQ_INT(try_header("{\"w.weight\": [1, 2]}", 0), -1);
    CHECK_ERR("case.safetensors");
    CHECK_ERR("'w.weight'");
    CHECK_ERR("not an object");
}

TEST(st_missing_dtype) {
    CHECK_EQ_INT(try_header("{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4), -1);
    CHECK_ERR("case.safetensors: tensor 'w': missing dtype");
    CHECK_EQ_INT(try_header("{\"w\": {\"dtype\": 4, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4),
                 -1);
    CHECK_ERR("tensor 'w': missing dtype");
}

TEST(st_unsupported_dtype) {
    const char *names[] = {"I8", "F64", "U8", "f32", "BF16 ", "F8_E4M3", ""};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char h[160];
        snprintf(h, sizeof h,
                 "{\"emb\": {\"dtype\": \"%s\", \"shape\": [2], \"data_offsets\": [0, 8]}}",
                 names[i]);
        CHECK_EQ_INT(try_header(h, 8), -1);
        CHECK_ERR("case.safetensors");
        CHECK_ERR("tensor 'emb'");
        CHECK_ERR("unsupported dtype");
        char want[64];
        snprintf(want, sizeof want, "dtype %s", names[i]);
        CHECK_ERR(want);
    }
}

TEST(st_missing_shape) {
    CHECK_EQ_INT(try_header("{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4), -1);
    CHECK_ERR("tensor 'w': missing shape");
    CHECK_EQ_INT(
        try_header("{\"w\": {\"dtype\": \"F32\", \"shape\": 1, \"data_offsets\": [0, 4]}}", 4), -1);
    CHECK_ERR("tensor 'w': missing shape");
}

TEST(st_bad_shape_entries) {
    /* each has shape [2, X]: X is the bad entry, index 1 */
    const char *bad[] = {"-2",  "1.5", "\"2\"", "null",  "true",
                         "[2]", "{}",  "-0.5",  "1e300", "9007199254740994"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char h[200];
        snprintf(h, sizeof h,
                 "{\"blk.w\": {\"dtype\": \"F32\", \"shape\": [2, %s], \"data_offsets\": [0, 8]}}",
                 bad[i]);
        CHECK_EQ_INT(try_header(h, 8), -1);
        CHECK_ERR("case.safetensors: tensor 'blk.w'");
        if (!strstr(unum_error(), "shape[1] is not a valid size"))
            test_fail(__FILE__, __LINE__, "shape entry %s: error \"%s\"", bad[i], unum_error());
    }
}

TEST(st_too_many_dims) {
    CHECK_EQ_INT(try_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [1, 1, 1, 1, 1], "
                            "\"data_offsets\": [0, 4]}}",
                            4),
                 -1);
    CHECK_ERR("case.safetensors: tensor 'w'");
    CHECK_ERR("5 dimensions, at most 4");
    /* exactly ST_MAX_DIMS is fine */
    CHECK_EQ_INT(try_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [1, 1, 1, 1], "
                            "\"data_offsets\": [0, 4]}}",
                            4),
                 0);
}

TEST(st_shape_product_overflow) {
    CHECK_EQ_INT(try_header("{\"big\": {\"dtype\": \"BF16\", \"shape\": [4294967296, 4294967296, "
                            "4294967296], \"data_offsets\": [0, 8]}}",
                            8),
                 -1);
    CHECK_ERR("case.safetensors: tensor 'big'");
    CHECK_ERR("shape product overflows");
    /* product 2^64 exactly, from two in-range entries */
    CHECK_EQ_INT(try_header("{\"big\": {\"dtype\": \"F32\", \"shape\": [9007199254740992, 2048], "
                            "\"data_offsets\": [0, 8]}}",
                            8),
                 -1);
    CHECK_ERR("shape product overflows");
    /* the product fits but times 4 bytes does not: 2^63 elements of F32 */
    CHECK_EQ_INT(try_header("{\"big\": {\"dtype\": \"F32\", \"shape\": [9007199254740992, 1024], "
                            "\"data_offsets\": [0, 8]}}",
                            8),
                 -1);
    CHECK_ERR("tensor 'big'");
    CHECK_ERR("overflows");
    /* a product that fits everything but the data */
    CHECK_EQ_INT(try_header("{\"big\": {\"dtype\": \"F32\", \"shape\": [65536, 65536], "
                            "\"data_offsets\": [0, 8]}}",
                            8),
                 -1);
    CHECK_ERR("tensor 'big'");
    CHECK_ERR("need 17179869184 bytes but data_offsets span 8");
}

TEST(st_bad_data_offsets) {
    const char *bad[] = {"[0]", "[0, 4, 8]", "[-4, 0]", "[0, 4.5]", "\"0,4\"", "[0, \"4\"]", "{}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char h[160];
        snprintf(h, sizeof h, "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": %s}}",
                 bad[i]);
        CHECK_EQ_INT(try_header(h, 16), -1);
        CHECK_ERR("case.safetensors: tensor 'w'");
        if (!strstr(unum_error(), "data_offsets must be [begin, end]"))
            test_fail(__FILE__, __LINE__, "data_offsets %s: error \"%s\"", bad[i], unum_error());
    }
    CHECK_EQ_INT(try_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4), -1);
    CHECK_ERR("data_offsets must be [begin, end]");
}

TEST(st_data_offsets_beyond_data) {
    /* 12 bytes of data; the tensor claims [8, 16) */
    CHECK_EQ_INT(try_header("{\"lm_head.weight\": {\"dtype\": \"F32\", \"shape\": [2], "
                            "\"data_offsets\": [8, 16]}}",
                            12),
                 -1);
    CHECK_ERR("case.safetensors: tensor 'lm_head.weight'");
    CHECK_ERR("data_offsets [8, 16] outside the 12 bytes of data");
    /* offsets far past any file, near 2^53 */
    CHECK_EQ_INT(try_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], "
                            "\"data_offsets\": [9007199254740988, 9007199254740992]}}",
                            12),
                 -1);
    CHECK_ERR("outside the 12 bytes of data");
    /* ending exactly at the end is fine */
    CHECK_EQ_INT(try_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], "
                            "\"data_offsets\": [8, 12]}}",
                            12),
                 0);
}

TEST(st_data_offsets_begin_after_end) {
    CHECK_EQ_INT(try_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [0], "
                            "\"data_offsets\": [8, 4]}}",
                            16),
                 -1);
    CHECK_ERR("case.safetensors: tensor 'w'");
    CHECK_ERR("data_offsets [8, 4]");
}

TEST(st_span_mismatch) {
    /* [3] F16 is 6 bytes; the span is 8 */
    CHECK_EQ_INT(try_header("{\"norm\": {\"dtype\": \"F16\", \"shape\": [3], "
                            "\"data_offsets\": [0, 8]}}",
                            8),
                 -1);
    CHECK_ERR("case.safetensors: tensor 'norm'");
    CHECK_ERR("need 6 bytes but data_offsets span 8");
    /* too short a span as well */
    CHECK_EQ_INT(try_header("{\"norm\": {\"dtype\": \"F32\", \"shape\": [2, 2], "
                            "\"data_offsets\": [0, 12]}}",
                            16),
                 -1);
    CHECK_ERR("need 16 bytes but data_offsets span 12");
    /* a zero-size tensor with a non-empty span */
    CHECK_EQ_INT(try_header("{\"z\": {\"dtype\": \"F32\", \"shape\": [4, 0], "
                            "\"data_offsets\": [0, 4]}}",
                            16),
                 -1);
    CHECK_ERR("tensor 'z'");
    CHECK_ERR("need 0 bytes but data_offsets span 4");
}

TEST(st_overlap) {
    CHECK_EQ_INT(
        try_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
                   " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [12, 20]}}",
                   32),
        -1);
    CHECK_ERR("case.safetensors");
    CHECK_ERR("overlap");
    CHECK_ERR("'a'");
    CHECK_ERR("'b'");
    /* identical spans, listed in reverse order of offset */
    CHECK_EQ_INT(
        try_header("{\"y\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [4, 8]},"
                   " \"x\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [4, 8]}}",
                   8),
        -1);
    CHECK_ERR("overlap");
    CHECK_ERR("'x'");
    CHECK_ERR("'y'");
}

/* A span that overlaps a large earlier one but not its neighbour: a check
 * that only compares sorted neighbours (or lets an empty span reset the
 * furthest end) misses it. */
TEST(st_overlap_not_neighbours) {
    CHECK_EQ_INT(
        try_header("{\"big\": {\"dtype\": \"F32\", \"shape\": [16], \"data_offsets\": [0, 64]},"
                   " \"e\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [8, 8]},"
                   " \"s\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [16, 20]},"
                   " \"t\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [40, 48]}}",
                   64),
        -1);
    CHECK_ERR("overlap");
    CHECK_ERR("'big'");
    CHECK_EQ_INT(
        try_header("{\"big\": {\"dtype\": \"F32\", \"shape\": [16], \"data_offsets\": [0, 64]},"
                   " \"e\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [8, 8]},"
                   " \"t\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [40, 48]}}",
                   64),
        -1);
    CHECK_ERR("overlap");
    CHECK_ERR("'big'");
    CHECK_ERR("'t'");
}

/* Touching spans, empty spans inside others and a header whose order is not
 * the data order are all fine. */
TEST(st_adjacent_spans_ok) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    char *p = write_st(dir, "ok.safetensors",
                       "{\"c\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [12, 16]},"
                       " \"a\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [0, 4]},"
                       " \"e\": {\"dtype\": \"BF16\", \"shape\": [0, 7], \"data_offsets\": [6, 6]},"
                       " \"b\": {\"dtype\": \"BF16\", \"shape\": [4], \"data_offsets\": [4, 12]},"
                       " \"z\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [16, 16]}}",
                       NULL, 16);
    STModel m = {0};
    CHECK_EQ_INT(st_open_file(&m, p), 0);
    CHECK_EQ_INT(m.n_tensors, 5);
    const STensor *e = st_find(&m, "e"), *b = st_find(&m, "b"), *c = st_find(&m, "c");
    REQUIRE(e && b && c);
    CHECK_EQ_INT(e->numel, 0);
    CHECK_EQ_INT(e->nbytes, 0);
    CHECK_EQ_INT(e->ndim, 2);
    CHECK_EQ_INT(e->shape[1], 7);
    CHECK_EQ_INT((const char *)c->data - (const char *)b->data, 8);
    st_close(&m);
    free(p);
    test_tmp_remove(dir);
}

TEST(st_duplicate_name) {
    CHECK_EQ_INT(
        try_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                   " \"v\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [4, 4]},"
                   " \"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
                   8),
        -1);
    CHECK_ERR("case.safetensors");
    CHECK_ERR("tensor 'w' appears twice");
}

TEST(st_zero_size_tensor_ok) {
    CHECK_EQ_INT(try_header("{\"z\": {\"dtype\": \"F32\", \"shape\": [0, 4096], "
                            "\"data_offsets\": [0, 0]}}",
                            0),
                 0);
    CHECK_EQ_INT(try_header("{\"z\": {\"dtype\": \"F16\", \"shape\": [3, 0], "
                            "\"data_offsets\": [2, 2]}, "
                            "\"s\": {\"dtype\": \"F16\", \"shape\": [], \"data_offsets\": [0, 2]}}",
                            2),
                 0);
}

TEST(st_metadata) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    char *p = write_st(dir, "meta.safetensors",
                       "{\"__metadata__\": {\"format\": \"pt\", \"dtype\": \"I8\"},"
                       " \"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
                       NULL, 4);
    STModel m = {0};
    CHECK_EQ_INT(st_open_file(&m, p), 0);
    CHECK_EQ_INT(m.n_tensors, 1);
    CHECK(st_find(&m, "__metadata__") == NULL);
    CHECK(st_find(&m, "w") != NULL);
    st_close(&m);
    free(p);
    test_tmp_remove(dir);
    CHECK_EQ_INT(try_header("{\"__metadata__\": [1]}", 0), -1);
    CHECK_ERR("case.safetensors");
    CHECK_ERR("__metadata__ is not an object");
}

/* ------------------------------------------------------------ values */

static void put16(unsigned char *p, uint16_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint16_t get16(const void *base, size_t i) {
    const unsigned char *p = (const unsigned char *)base + 2 * i;
    return (uint16_t)(p[0] | p[1] << 8);
}

static float getf32(const void *base, size_t i) {
    const unsigned char *p = (const unsigned char *)base + 4 * i;
    union {
        uint32_t u;
        float f;
    } v = {(uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24};
    return v.f;
}

/* Known bit patterns of every dtype, written little-endian and read back
 * through the mapping at the right place. The header length (171 bytes) is
 * odd on purpose: nothing may assume the data section is aligned. */
TEST(st_values_exact) {
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},"
                      "\"f32\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                      "\"f16\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[16,22]},"
                      "\"bf16\":{\"dtype\":\"BF16\",\"shape\":[1,1,3],\"data_offsets\":[22,28]},"
                      "\"s\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[28,30]}}";
    const uint32_t f32_bits[4] = {0x3fc00000u /* 1.5 */, 0x80000000u /* -0 */, 0x40490fdbu /* pi */,
                                  0xc77fe000u /* -65504 */};
    const uint16_t f16_bits[3] = {0x3c00 /* 1 */, 0xc000 /* -2 */, 0x7bff /* 65504 */};
    const uint16_t bf16_bits[3] = {0x3f80 /* 1 */, 0x4049 /* 3.140625 */, 0xbf00 /* -0.5 */};
    unsigned char data[30];
    for (int i = 0; i < 4; i++) put32(data + 4 * i, f32_bits[i]);
    for (int i = 0; i < 3; i++) put16(data + 16 + 2 * i, f16_bits[i]);
    for (int i = 0; i < 3; i++) put16(data + 22 + 2 * i, bf16_bits[i]);
    put16(data + 28, 0x4120); /* 10 */

    char *dir = test_tmpdir();
    REQUIRE(dir);
    char *p = write_st(dir, "vals.safetensors", hdr, data, sizeof data);
    STModel m = {0};
    REQUIRE(st_open_file(&m, p) == 0);
    CHECK_EQ_INT(m.n_tensors, 4);
    REQUIRE(m.n_files == 1);
    const char *base = (const char *)m.files[0].map + 8 + strlen(hdr);
    CHECK_EQ_INT(m.files[0].size, 8 + strlen(hdr) + sizeof data);

    const STensor *t = st_find(&m, "f32");
    REQUIRE(t);
    CHECK_EQ_INT(t->dtype, DT_F32);
    CHECK_EQ_INT(t->ndim, 2);
    CHECK_EQ_INT(t->shape[0], 2);
    CHECK_EQ_INT(t->shape[1], 2);
    CHECK_EQ_INT(t->numel, 4);
    CHECK_EQ_INT(t->nbytes, 16);
    CHECK((const char *)t->data == base);
    CHECK_STR(t->file, p);
    CHECK_STR(t->name, "f32");
    CHECK(getf32(t->data, 0) == 1.5f);
    CHECK(getf32(t->data, 1) == 0.0f && signbit(getf32(t->data, 1)));
    CHECK(getf32(t->data, 2) == 3.14159274101257324f);
    CHECK(getf32(t->data, 3) == -65504.0f);

    t = st_find(&m, "f16");
    REQUIRE(t);
    CHECK_EQ_INT(t->dtype, DT_F16);
    CHECK_EQ_INT(t->ndim, 1);
    CHECK_EQ_INT(t->numel, 3);
    CHECK_EQ_INT(t->nbytes, 6);
    CHECK((const char *)t->data == base + 16);
    CHECK(unum_f16_to_f32(get16(t->data, 0)) == 1.0f);
    CHECK(unum_f16_to_f32(get16(t->data, 1)) == -2.0f);
    CHECK(unum_f16_to_f32(get16(t->data, 2)) == 65504.0f);

    t = st_find(&m, "bf16");
    REQUIRE(t);
    CHECK_EQ_INT(t->dtype, DT_BF16);
    CHECK_EQ_INT(t->ndim, 3);
    CHECK_EQ_INT(t->shape[2], 3);
    CHECK_EQ_INT(t->numel, 3);
    CHECK_EQ_INT(t->nbytes, 6);
    CHECK((const char *)t->data == base + 22);
    CHECK(unum_bf16_to_f32(get16(t->data, 0)) == 1.0f);
    CHECK(unum_bf16_to_f32(get16(t->data, 1)) == 3.140625f);
    CHECK(unum_bf16_to_f32(get16(t->data, 2)) == -0.5f);

    t = st_find(&m, "s");
    REQUIRE(t);
    CHECK_EQ_INT(t->ndim, 0);
    CHECK_EQ_INT(t->numel, 1);
    CHECK(unum_bf16_to_f32(get16(t->data, 0)) == 10.0f);

    CHECK_STR(dtype_name(DT_F32), "F32");
    CHECK_STR(dtype_name(DT_F16), "F16");
    CHECK_STR(dtype_name(DT_BF16), "BF16");
    CHECK_EQ_INT(dtype_size(DT_F32), 4);
    CHECK_EQ_INT(dtype_size(DT_BF16), 2);
    st_close(&m);
    CHECK_EQ_INT(m.n_tensors, 0);
    CHECK(m.tensors == NULL && m.files == NULL);
    free(p);
    test_tmp_remove(dir);
}

/* Hugging Face pads the header with spaces to a multiple of 8. */
TEST(st_header_space_padding_ok) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    char *p = write_st(dir, "pad.safetensors",
                       "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}       ",
                       "\0\0\x80\x3f", 4);
    STModel m = {0};
    CHECK_EQ_INT(st_open_file(&m, p), 0);
    const STensor *t = st_find(&m, "w");
    REQUIRE(t);
    CHECK(getf32(t->data, 0) == 1.0f);
    st_close(&m);
    free(p);
    test_tmp_remove(dir);
}

/* ------------------------------------------------------------ from memory */

TEST(st_parse_header_memory) {
    unsigned char data[8] = {0, 0, 0x80, 0x3f, 0, 0, 0, 0x40}; /* 1.0f, 2.0f */
    const char *h1 = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
    const char *h2 = "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    STModel m = {0};
    /* the length is honoured: the text after it is not read */
    char buf[128];
    snprintf(buf, sizeof buf, "%sGARBAGE", h1);
    REQUIRE(st_parse_header(&m, buf, strlen(h1), data, sizeof data, "mem-a") == 0);
    REQUIRE(st_parse_header(&m, h2, strlen(h2), data, sizeof data, "mem-b") == 0);
    CHECK_EQ_INT(m.n_tensors, 2);
    const STensor *a = st_find(&m, "a"), *b = st_find(&m, "b");
    REQUIRE(a && b);
    CHECK(a->data == data + 4);
    CHECK(b->data == data);
    CHECK_STR(a->file, "mem-a");
    CHECK_STR(b->file, "mem-b");
    CHECK(getf32(a->data, 0) == 2.0f);
    /* names are unique across calls (shards) too */
    CHECK_EQ_INT(st_parse_header(&m, h1, strlen(h1), data, sizeof data, "mem-c"), -1);
    CHECK_ERR("mem-c");
    CHECK_ERR("tensor 'a' appears twice");
    st_close(&m);
}

/* A header of n empty F32 tensors t0 .. t(n-1); length in *len. */
static char *many_tensors(int n, size_t *len) {
    size_t cap = (size_t)n * 64 + 16, l = 0;
    char *h = xmalloc(cap);
    h[l++] = '{';
    for (int i = 0; i < n; i++)
        l += (size_t)snprintf(h + l, cap - l,
                              "%s\"t%d\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}",
                              i ? "," : "", i);
    h[l++] = '}';
    *len = l;
    return h;
}

TEST(st_too_many_tensors) {
    size_t len;
    char *h = many_tensors(ST_MAX_TENSORS + 1, &len);
    char data[1] = {0};
    STModel m = {0};
    CHECK_EQ_INT(st_parse_header(&m, h, len, data, 0, "many.safetensors"), -1);
    CHECK_ERR("many.safetensors");
    CHECK_ERR("65537 tensors");
    st_close(&m);
    free(h);
    /* exactly the limit is allowed, and then not one more in a second shard */
    h = many_tensors(ST_MAX_TENSORS, &len);
    CHECK_EQ_INT(st_parse_header(&m, h, len, data, 0, "many.safetensors"), 0);
    CHECK_EQ_INT(m.n_tensors, ST_MAX_TENSORS);
    const char *one = "{\"u\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}";
    CHECK_EQ_INT(st_parse_header(&m, one, strlen(one), data, 0, "more.safetensors"), -1);
    CHECK_ERR("more.safetensors");
    CHECK_EQ_INT(m.n_tensors, ST_MAX_TENSORS);
    st_close(&m);
    free(h);
}

/* ------------------------------------------------------------ st_get */

TEST(st_get_shapes) {
    char data[24] = {0};
    const char *h = "{\"blk.0.w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}";
    STModel m = {0};
    REQUIRE(st_parse_header(&m, h, strlen(h), data, sizeof data, "shapes.safetensors") == 0);
    int64_t ok[2] = {2, 3}, any[2] = {-1, 3}, swapped[2] = {3, 2}, one[1] = {6};
    CHECK(st_get(&m, "blk.0.w", 2, ok) == st_find(&m, "blk.0.w"));
    CHECK(st_get(&m, "blk.0.w", 2, any) != NULL);
    CHECK(st_get(&m, "blk.0.w", 2, swapped) == NULL);
    CHECK_ERR("shapes.safetensors");
    CHECK_ERR("'blk.0.w'");
    CHECK_ERR("[2, 3]");
    CHECK_ERR("[3, 2]");
    CHECK(st_get(&m, "blk.0.w", 1, one) == NULL);
    CHECK_ERR("[2, 3]");
    CHECK_ERR("[6]");
    CHECK(st_get(&m, "blk.1.w", 2, ok) == NULL);
    CHECK_ERR("'blk.1.w'");
    CHECK_ERR("missing");
    st_close(&m);
}

/* ------------------------------------------------------------ directories */

/* dir/name: F32 tensors, each named with n floats set to base + i. */
static char *write_shard(const char *dir, const char *name, const char *const *tensors, int nt,
                         int n, float base) {
    char hdr[1024] = "{";
    size_t dl = (size_t)nt * n * 4;
    unsigned char *data = xcalloc(dl + 1, 1);
    for (int k = 0; k < nt; k++) {
        snprintf(hdr + strlen(hdr), sizeof hdr - strlen(hdr),
                 "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%d],\"data_offsets\":[%d,%d]}",
                 k ? "," : "", tensors[k], n, k * n * 4, (k + 1) * n * 4);
        for (int i = 0; i < n; i++) {
            union {
                float f;
                uint32_t u;
            } v = {base + (float)(k * n + i)};
            put32(data + 4 * (k * n + i), v.u);
        }
    }
    strcat(hdr, "}");
    char *p = write_st(dir, name, hdr, data, dl);
    free(data);
    return p;
}

/* Two shards: a.safetensors holds x, y; b.safetensors holds z. */
static char *two_shards(void) {
    char *dir = test_tmpdir();
    if (!dir) return NULL;
    const char *ta[] = {"x", "y"}, *tb[] = {"z"};
    free(write_shard(dir, "a.safetensors", ta, 2, 3, 0));
    free(write_shard(dir, "b.safetensors", tb, 1, 3, 100));
    return dir;
}

static int open_with_index(const char *dir, const char *index) {
    write_text(dir, "model.safetensors.index.json", index);
    STModel m = {0};
    int rc = st_open_dir(&m, dir);
    st_close(&m);
    return rc;
}

TEST(st_dir_single_file) {
    char *dir = test_tmpdir();
    REQUIRE(dir);
    STModel m = {0};
    CHECK_EQ_INT(st_open_dir(&m, dir), -1);
    CHECK_ERR(dir);
    CHECK_ERR("model.safetensors");
    CHECK_EQ_INT(m.n_files, 0);
    const char *t[] = {"w"};
    free(write_shard(dir, "model.safetensors", t, 1, 4, 5));
    REQUIRE(st_open_dir(&m, dir) == 0);
    CHECK_EQ_INT(m.n_files, 1);
    const STensor *w = st_find(&m, "w");
    REQUIRE(w);
    CHECK(getf32(w->data, 3) == 8.0f);
    CHECK(strstr(w->file, "/model.safetensors") != NULL);
    st_close(&m);
    test_tmp_remove(dir);
}

TEST(st_dir_sharded_ok) {
    char *dir = two_shards();
    REQUIRE(dir);
    write_text(dir, "model.safetensors.index.json",
               "{\"metadata\": {\"total_size\": 36}, \"weight_map\": {\"z\": \"b.safetensors\","
               " \"x\": \"a.safetensors\", \"y\": \"a.safetensors\"}}");
    STModel m = {0};
    REQUIRE(st_open_dir(&m, dir) == 0);
    CHECK_EQ_INT(m.n_files, 2);
    CHECK_EQ_INT(m.n_tensors, 3);
    const STensor *y = st_find(&m, "y"), *z = st_find(&m, "z");
    REQUIRE(y && z);
    CHECK(strstr(y->file, "/a.safetensors") != NULL);
    CHECK(strstr(z->file, "/b.safetensors") != NULL);
    CHECK(getf32(y->data, 0) == 3.0f);
    CHECK(getf32(z->data, 2) == 102.0f);
    st_close(&m);
    test_tmp_remove(dir);
}

TEST(st_dir_missing_shard) {
    char *dir = two_shards();
    REQUIRE(dir);
    CHECK_EQ_INT(
        open_with_index(dir, "{\"weight_map\": {\"x\": \"a.safetensors\", \"y\": "
                             "\"a.safetensors\", \"z\": \"model-00002-of-00002.safetensors\"}}"),
        -1);
    char want[256];
    snprintf(want, sizeof want, "%s/model-00002-of-00002.safetensors", dir);
    CHECK_ERR(want);
    CHECK_ERR("No such file");
    test_tmp_remove(dir);
}

TEST(st_dir_tensor_in_other_shard) {
    char *dir = two_shards();
    REQUIRE(dir);
    CHECK_EQ_INT(open_with_index(dir, "{\"weight_map\": {\"x\": \"a.safetensors\", \"z\": "
                                      "\"b.safetensors\", \"y\": \"b.safetensors\"}}"),
                 -1);
    CHECK_ERR("model.safetensors.index.json");
    CHECK_ERR("'y'");
    CHECK_ERR("listed in b.safetensors but found in a.safetensors");
    test_tmp_remove(dir);
}

TEST(st_dir_tensor_absent) {
    char *dir = two_shards();
    REQUIRE(dir);
    CHECK_EQ_INT(open_with_index(dir, "{\"weight_map\": {\"x\": \"a.safetensors\", \"y\": "
                                      "\"a.safetensors\", \"z\": \"b.safetensors\", "
                                      "\"model.norm.weight\": \"b.safetensors\"}}"),
                 -1);
    CHECK_ERR("model.safetensors.index.json");
    CHECK_ERR("'model.norm.weight'");
    CHECK_ERR("b.safetensors");
    test_tmp_remove(dir);
}

TEST(st_dir_weight_map_not_object) {
    char *dir = two_shards();
    REQUIRE(dir);
    const char *bad[] = {"{\"weight_map\": [\"a.safetensors\"]}", "{\"weight_map\": \"a\"}",
                         "{\"metadata\": {}}", "[]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ_INT(open_with_index(dir, bad[i]), -1);
        CHECK_ERR("model.safetensors.index.json");
        CHECK_ERR("weight_map");
    }
    CHECK_EQ_INT(open_with_index(dir, "{\"weight_map\": {\"x\": "), -1);
    CHECK_ERR("model.safetensors.index.json");
    CHECK_ERR("not valid JSON");
    test_tmp_remove(dir);
}

TEST(st_dir_shard_name_rejected) {
    char *dir = two_shards();
    REQUIRE(dir);
    char *sub = unum_path_join(dir, "sub");
    REQUIRE(mkdir(sub, 0700) == 0);
    const char *tb[] = {"z"};
    free(write_shard(sub, "b.safetensors", tb, 1, 3, 100));
    free(sub);
    const char *names[] = {"sub/b.safetensors", "../b.safetensors", "/etc/passwd", ""};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char idx[256];
        snprintf(idx, sizeof idx, "{\"weight_map\": {\"z\": \"%s\"}}", names[i]);
        CHECK_EQ_INT(open_with_index(dir, idx), -1);
        CHECK_ERR("model.safetensors.index.json");
        CHECK_ERR("weight_map['z'] is not a file name in the directory");
    }
    CHECK_EQ_INT(open_with_index(dir, "{\"weight_map\": {\"z\": 7}}"), -1);
    CHECK_ERR("weight_map['z']");
    /* ".." has no slash but is not a file either */
    CHECK_EQ_INT(open_with_index(dir, "{\"weight_map\": {\"z\": \"..\"}}"), -1);
    CHECK_ERR("..");
    test_tmp_remove(dir);
}

TEST(st_dir_duplicate_across_shards) {
    char *dir = two_shards();
    REQUIRE(dir);
    const char *tb[] = {"z", "x"};
    free(write_shard(dir, "b.safetensors", tb, 2, 3, 100));
    CHECK_EQ_INT(open_with_index(dir, "{\"weight_map\": {\"x\": \"a.safetensors\", \"y\": "
                                      "\"a.safetensors\", \"z\": \"b.safetensors\"}}"),
                 -1);
    CHECK_ERR("b.safetensors");
    CHECK_ERR("tensor 'x' appears twice");
    test_tmp_remove(dir);
}

TEST(st_dir_bad_shard_named) {
    char *dir = two_shards();
    REQUIRE(dir);
    free(write_st(dir, "b.safetensors",
                  "{\"z\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", NULL, 8));
    CHECK_EQ_INT(open_with_index(dir, "{\"weight_map\": {\"x\": \"a.safetensors\", \"y\": "
                                      "\"a.safetensors\", \"z\": \"b.safetensors\"}}"),
                 -1);
    CHECK_ERR("/b.safetensors: tensor 'z': unsupported dtype F64");
    test_tmp_remove(dir);
}

/* ------------------------------------------------------------ fixtures */

static char *fixture(const char *name) {
    char *dir = unum_path_join(test_fixtures(), name);
    char *cfg = unum_path_join(dir, "config.json");
    int ok = unum_file_exists(cfg);
    free(cfg);
    if (!ok) {
        test_fail(__FILE__, __LINE__, "fixture %s is missing: run `make fixtures`", dir);
        free(dir);
        return NULL;
    }
    return dir;
}

TEST(st_fixture_counts) {
    char *d = fixture("tiny-bf16");
    REQUIRE(d);
    STModel m = {0};
    REQUIRE(st_open_dir(&m, d) == 0);
    CHECK_EQ_INT(m.n_files, 1);
    CHECK_EQ_INT(m.n_tensors, 2 + 2 * 12); /* embed, norm, 12 per layer; tied */
    const STensor *e = st_find(&m, "model.embed_tokens.weight");
    REQUIRE(e);
    CHECK_EQ_INT(e->dtype, DT_BF16);
    CHECK_EQ_INT(e->shape[0], 384);
    CHECK_EQ_INT(e->shape[1], 64);
    st_close(&m);
    free(d);
    d = fixture("tiny-sharded-bf16");
    REQUIRE(d);
    REQUIRE(st_open_dir(&m, d) == 0);
    CHECK_EQ_INT(m.n_files, 3);
    CHECK_EQ_INT(m.n_tensors, 2 + 3 * 12);
    st_close(&m);
    free(d);
}

/* ------------------------------------------------------------ model level */

/* Copies the regular files of fixture src into a fresh temp directory. */
static char *copy_fixture(const char *name) {
    char *src = fixture(name);
    if (!src) return NULL;
    char *dst = test_tmpdir();
    DIR *d = dst ? opendir(src) : NULL;
    if (!d) {
        free(src);
        test_tmp_remove(dst);
        return NULL;
    }
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char *from = unum_path_join(src, e->d_name), *to = unum_path_join(dst, e->d_name);
        size_t n;
        char *buf = unum_read_file(from, 256u << 20, &n);
        if (!buf || write_file(to, buf, n)) test_fail(__FILE__, __LINE__, "cannot copy %s", from);
        free(buf);
        free(from);
        free(to);
    }
    closedir(d);
    free(src);
    return dst;
}

/* Rewrites dir/config.json with key set to the JSON text value (NULL:
 * removed). */
static void edit_config(const char *dir, const char *key, const char *value) {
    char *path = unum_path_join(dir, "config.json");
    char *txt = unum_read_file(path, 1u << 20, NULL);
    cJSON *root = txt ? cJSON_Parse(txt) : NULL;
    if (!root) {
        test_fail(__FILE__, __LINE__, "cannot read %s", path);
    } else {
        cJSON_DeleteItemFromObjectCaseSensitive(root, key);
        if (value) cJSON_AddItemToObject(root, key, cJSON_Parse(value));
        char *out = cJSON_PrintUnformatted(root);
        if (write_file(path, out, strlen(out)))
            test_fail(__FILE__, __LINE__, "cannot write %s", path);
        free(out);
    }
    cJSON_Delete(root);
    free(txt);
    free(path);
}

/* Rewrites dir/model.safetensors without the tensor drop (NULL: none),
 * with an extra zero-filled F32 tensor add of n floats (NULL: none), and
 * with spaces after the header JSON so that the data section starts at
 * file offset 8k + misalign. */
static void rewrite_model(const char *dir, const char *drop, const char *add, int n, int misalign) {
    char *path = unum_path_join(dir, "model.safetensors");
    STModel m = {0};
    if (st_open_file(&m, path)) {
        test_fail(__FILE__, __LINE__, "%s", unum_error());
        st_close(&m);
        free(path);
        return;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    size_t off = 0;
    for (int i = 0; i <= m.n_tensors; i++) {
        const char *name = i < m.n_tensors ? m.tensors[i].name : add;
        if (!name || (drop && !strcmp(name, drop))) continue;
        cJSON *e = cJSON_AddObjectToObject(root, name);
        size_t nb = i < m.n_tensors ? m.tensors[i].nbytes : (size_t)n * 4;
        cJSON_AddStringToObject(e, "dtype",
                                i < m.n_tensors ? dtype_name(m.tensors[i].dtype) : "F32");
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        if (i < m.n_tensors)
            for (int k = 0; k < m.tensors[i].ndim; k++)
                cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)m.tensors[i].shape[k]));
        else cJSON_AddItemToArray(sh, cJSON_CreateNumber(n));
        cJSON *of = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)(off + nb)));
        off += nb;
    }
    char *json = cJSON_PrintUnformatted(root);
    size_t pad = (size_t)(misalign - (int)((8 + strlen(json)) % 8) + 8) % 8;
    size_t hl = strlen(json) + pad;
    char *body = xcalloc(hl + off + 1, 1);
    memcpy(body, json, strlen(json));
    memset(body + strlen(json), ' ', pad);
    size_t pos = hl;
    for (int i = 0; i < m.n_tensors; i++) {
        if (drop && !strcmp(m.tensors[i].name, drop)) continue;
        memcpy(body + pos, m.tensors[i].data, m.tensors[i].nbytes);
        pos += m.tensors[i].nbytes;
    }
    st_close(&m); /* unmapped before the file is replaced */
    char *dir_copy = xstrdup(dir);
    free(write_raw(dir_copy, "model.safetensors", hl, body, hl + off));
    free(dir_copy);
    free(body);
    free(json);
    cJSON_Delete(root);
    free(path);
}

static Backend *cpu(void) {
    Backend *be = backend_cpu_open(1);
    if (!be) test_fail(__FILE__, __LINE__, "backend_cpu_open: %s", unum_error());
    return be;
}

/* Loads dir expecting failure; the error is left for the caller. */
static int load_fails(const char *dir) {
    Backend *be = cpu();
    if (!be) return 0;
    Qwen2 *m = qwen2_load(dir, be, 16);
    int failed = m == NULL;
    qwen2_free(m);
    be->close(be);
    return failed;
}

/* Last-token logits of ids on dir (V floats, malloc'd), NULL on failure. */
static float *logits_of(const char *dir, const int32_t *ids, int T, int *vocab) {
    Backend *be = cpu();
    if (!be) return NULL;
    Qwen2 *m = qwen2_load(dir, be, 16);
    float *out = NULL;
    if (!m) {
        test_fail(__FILE__, __LINE__, "qwen2_load: %s", unum_error());
    } else {
        *vocab = m->c.vocab;
        out = xmalloc(sizeof(float) * (size_t)m->c.vocab);
        if (qwen2_forward(m, ids, T, out, 0)) {
            test_fail(__FILE__, __LINE__, "qwen2_forward: %s", unum_error());
            free(out);
            out = NULL;
        }
    }
    qwen2_free(m);
    be->close(be);
    return out;
}

TEST(model_rewrite_roundtrip) {
    /* the rewriting helper itself: an unmodified rewrite gives the same
     * logits, so the hostile cases below differ only in what they change */
    char *d = copy_fixture("tiny-bf16");
    REQUIRE(d);
    int32_t ids[3] = {1, 200, 383};
    int V0 = 0, V1 = 0;
    float *a = logits_of(d, ids, 3, &V0);
    rewrite_model(d, NULL, NULL, 0, 0);
    float *b = logits_of(d, ids, 3, &V1);
    REQUIRE(a && b);
    CHECK_EQ_INT(V0, 384);
    CHECK_EQ_INT(V1, 384);
    CHECK(memcmp(a, b, sizeof(float) * 384) == 0);
    int finite = 1;
    for (int i = 0; i < 384; i++) finite &= isfinite(a[i]);
    CHECK(finite);
    free(a);
    free(b);
    test_tmp_remove(d);
}

TEST(model_missing_tensor) {
    const char *drop[] = {"model.norm.weight", "model.layers.1.mlp.up_proj.weight",
                          "model.layers.0.self_attn.k_proj.bias", "model.embed_tokens.weight"};
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++) {
        char *d = copy_fixture("tiny-bf16");
        REQUIRE(d);
        rewrite_model(d, drop[i], NULL, 0, 0);
        CHECK(load_fails(d));
        char want[128];
        snprintf(want, sizeof want, "'%s'", drop[i]);
        CHECK_ERR(want);
        CHECK_ERR("missing");
        CHECK_ERR(d);
        test_tmp_remove(d);
    }
}

TEST(model_wrong_shape) {
    char *d = copy_fixture("tiny-bf16");
    REQUIRE(d);
    edit_config(d, "hidden_size", "32");
    CHECK(load_fails(d));
    CHECK_ERR("model.embed_tokens.weight");
    CHECK_ERR("[384, 64]");
    CHECK_ERR("[384, 32]");
    test_tmp_remove(d);

    d = copy_fixture("tiny-bf16");
    REQUIRE(d);
    edit_config(d, "intermediate_size", "128");
    CHECK(load_fails(d));
    CHECK_ERR("model.layers.0.mlp.gate_proj.weight");
    CHECK_ERR("[160, 64]");
    CHECK_ERR("[128, 64]");
    test_tmp_remove(d);

    d = copy_fixture("tiny-bf16");
    REQUIRE(d);
    edit_config(d, "num_key_value_heads", "4");
    CHECK(load_fails(d));
    CHECK_ERR("model.layers.0.self_attn.k_proj");
    test_tmp_remove(d);

    d = copy_fixture("tiny-bf16");
    REQUIRE(d);
    edit_config(d, "vocab_size", "400");
    CHECK(load_fails(d));
    CHECK_ERR("model.embed_tokens.weight");
    CHECK_ERR("[400, 64]");
    test_tmp_remove(d);
}

TEST(model_fewer_layers_than_tensors) {
    char *d = copy_fixture("tiny-bf16");
    REQUIRE(d);
    edit_config(d, "num_hidden_layers", "1");
    CHECK(load_fails(d));
    CHECK_ERR("num_hidden_layers 1");
    CHECK_ERR("model.layers.1.");
    test_tmp_remove(d);
}

TEST(model_more_layers_than_tensors) {
    char *d = copy_fixture("tiny-bf16");
    REQUIRE(d);
    edit_config(d, "num_hidden_layers", "3");
    CHECK(load_fails(d));
    CHECK_ERR("model.layers.2.");
    CHECK_ERR("missing");
    test_tmp_remove(d);
}

TEST(model_extra_tensors) {
    char *d = copy_fixture("tiny-bf16");
    REQUIRE(d);
    rewrite_model(d, NULL, "model.visual.proj.weight", 8, 0);
    CHECK(load_fails(d));
    CHECK_ERR("model.visual.proj.weight");
    CHECK_ERR("not part of the model config.json describes");
    test_tmp_remove(d);
    /* inv_freq buffers of old exports, and lm_head.weight on a tied model,
     * are tolerated */
    d = copy_fixture("tiny-bf16");
    REQUIRE(d);
    rewrite_model(d, NULL, "model.layers.0.self_attn.rotary_emb.inv_freq", 8, 0);
    int32_t id = 5;
    int V = 0;
    float *l = logits_of(d, &id, 1, &V);
    CHECK(l != NULL);
    free(l);
    test_tmp_remove(d);
}

TEST(model_untied_without_lm_head) {
    char *d = copy_fixture("tiny-bf16");
    REQUIRE(d);
    edit_config(d, "tie_word_embeddings", "false");
    CHECK(load_fails(d));
    CHECK_ERR("'lm_head.weight'");
    CHECK_ERR("missing");
    test_tmp_remove(d);
    d = copy_fixture("tiny-untied-f32");
    REQUIRE(d);
    rewrite_model(d, "lm_head.weight", NULL, 0, 0);
    CHECK(load_fails(d));
    CHECK_ERR("'lm_head.weight'");
    test_tmp_remove(d);
    /* tie_word_embeddings absent means untied (Qwen2Config's default) */
    d = copy_fixture("tiny-bf16");
    REQUIRE(d);
    edit_config(d, "tie_word_embeddings", NULL);
    CHECK(load_fails(d));
    CHECK_ERR("'lm_head.weight'");
    test_tmp_remove(d);
}

TEST(model_forward_bad_ids) {
    char *d = fixture("tiny-bf16");
    REQUIRE(d);
    Backend *be = cpu();
    REQUIRE(be);
    Qwen2 *m = qwen2_load(d, be, 8);
    if (!m) test_fail(__FILE__, __LINE__, "qwen2_load: %s", unum_error());
    if (m) {
        float *lg = xmalloc(sizeof(float) * 384 * 8);
        int32_t bad_hi[2] = {3, 384}, bad_neg[1] = {-1}, huge[1] = {INT32_MAX};
        CHECK_EQ_INT(qwen2_forward(m, bad_hi, 2, lg, 0), -1);
        CHECK_ERR("token id 384");
        CHECK_ERR("[0, 384)");
        CHECK_EQ_INT(m->n_past, 0);
        CHECK_EQ_INT(qwen2_forward(m, bad_neg, 1, lg, 0), -1);
        CHECK_ERR("token id -1");
        CHECK_EQ_INT(qwen2_forward(m, huge, 1, lg, 0), -1);
        CHECK_ERR("2147483647");
        CHECK_EQ_INT(qwen2_forward(m, bad_neg, 0, lg, 0), -1);
        CHECK_EQ_INT(m->n_past, 0);
        /* the model still works after refusing */
        int32_t good[3] = {0, 383, 7};
        CHECK_EQ_INT(qwen2_forward(m, good, 3, lg, 1), 0);
        CHECK_EQ_INT(m->n_past, 3);
        /* the context is 8: 6 more do not fit, 5 do */
        int32_t six[6] = {1, 2, 3, 4, 5, 6};
        CHECK_EQ_INT(qwen2_forward(m, six, 6, lg, 0), -1);
        CHECK_ERR("context full");
        CHECK_EQ_INT(m->n_past, 3);
        CHECK_EQ_INT(qwen2_forward(m, six, 5, lg, 0), 0);
        CHECK_EQ_INT(m->n_past, 8);
        free(lg);
    }
    qwen2_free(m);
    be->close(be);
    free(d);
}

/* The same model split over two shards with an index gives the same logits
 * as the single file. */
TEST(model_resharded_same_logits) {
    char *d = copy_fixture("tiny-bf16");
    REQUIRE(d);
    int32_t ids[4] = {10, 20, 30, 40};
    int V = 0;
    float *a = logits_of(d, ids, 4, &V);
    REQUIRE(a);
    /* shard 1: everything but layer 1; shard 2: layer 1 */
    char *path = unum_path_join(d, "model.safetensors");
    STModel m = {0};
    REQUIRE(st_open_file(&m, path) == 0);
    cJSON *idx = cJSON_CreateObject(), *wm = cJSON_AddObjectToObject(idx, "weight_map");
    for (int s = 0; s < 2; s++) {
        const char *shard =
            s ? "model-00002-of-00002.safetensors" : "model-00001-of-00002.safetensors";
        cJSON *h = cJSON_CreateObject();
        size_t off = 0;
        for (int i = 0; i < m.n_tensors; i++) {
            const STensor *t = &m.tensors[i];
            if ((strncmp(t->name, "model.layers.1.", 15) == 0) != s) continue;
            cJSON *e = cJSON_AddObjectToObject(h, t->name);
            cJSON_AddStringToObject(e, "dtype", dtype_name(t->dtype));
            cJSON *sh = cJSON_AddArrayToObject(e, "shape");
            for (int k = 0; k < t->ndim; k++)
                cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[k]));
            cJSON *of = cJSON_AddArrayToObject(e, "data_offsets");
            cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
            cJSON_AddItemToArray(of, cJSON_CreateNumber((double)(off + t->nbytes)));
            off += t->nbytes;
            cJSON_AddStringToObject(wm, t->name, shard);
        }
        char *js = cJSON_PrintUnformatted(h);
        size_t hl = strlen(js);
        char *body = xmalloc(hl + off + 1);
        memcpy(body, js, hl);
        size_t pos = hl;
        for (int i = 0; i < m.n_tensors; i++) {
            const STensor *t = &m.tensors[i];
            if ((strncmp(t->name, "model.layers.1.", 15) == 0) != s) continue;
            memcpy(body + pos, t->data, t->nbytes);
            pos += t->nbytes;
        }
        free(write_raw(d, shard, hl, body, hl + off));
        free(body);
        free(js);
        cJSON_Delete(h);
    }
    st_close(&m);
    REQUIRE(remove(path) == 0);
    free(path);
    char *js = cJSON_PrintUnformatted(idx);
    write_text(d, "model.safetensors.index.json", js);
    free(js);
    cJSON_Delete(idx);
    float *b = logits_of(d, ids, 4, &V);
    REQUIRE(b);
    CHECK(memcmp(a, b, sizeof(float) * 384) == 0);
    free(a);
    free(b);
    test_tmp_remove(d);
}

/* safetensors does not promise aligned data: a header of odd length puts
 * every weight at an odd address. Every kernel path must give the same
 * logits as with aligned data (and, under UBSan, make no misaligned loads). */
TEST(model_unaligned_weights) {
    const char *names[] = {"tiny-untied-f32", "tiny-bf16", "tiny-headdim-f16"};
    const char *isas[] = {"generic", "avx2", "avx512"};
    for (int k = 0; k < 3; k++) {
        char *d = copy_fixture(names[k]);
        REQUIRE(d);
        rewrite_model(d, NULL, NULL, 0, 1);
        char *path = unum_path_join(d, "model.safetensors");
        STModel m = {0};
        REQUIRE(st_open_file(&m, path) == 0);
        CHECK(((uintptr_t)m.tensors[0].data & 1) == 1);
        st_close(&m);
        free(path);
        int32_t ids[2] = {3, 4};
        for (int i = 0; i < 3; i++) {
            if (k_set_isa(isas[i])) continue;
            int V = 0;
            rewrite_model(d, NULL, NULL, 0, 0);
            float *a = logits_of(d, ids, 2, &V);
            rewrite_model(d, NULL, NULL, 0, 1);
            float *b = logits_of(d, ids, 2, &V);
            if (!a || !b || memcmp(a, b, sizeof(float) * (size_t)V) != 0)
                test_fail(__FILE__, __LINE__, "%s on %s: unaligned logits differ", names[k],
                          isas[i]);
            free(a);
            free(b);
        }
        k_reset_isa();
        test_tmp_remove(d);
    }
}
