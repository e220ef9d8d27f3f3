/* test.h - the unit-test harness.
 *
 * A test file defines cases with TEST(name) { ... } and checks with CHECK,
 * CHECK_EQ_INT, CHECK_NEAR, CHECK_STR. Cases register themselves at load
 * time; tests/test_main.c runs them all (or those whose name contains a
 * filter given on the command line) and prints one line per case and the
 * closing tally "N passed, N failed, N skipped". A case that needs something
 * absent (a GPU) calls SKIP("why") and is counted as skipped, never passed. */
#ifndef UNUM_TEST_H
#define UNUM_TEST_H

#include "engine/tokenizer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef void (*test_fn)(void);
void test_register(const char *name, const char *file, test_fn fn);
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void test_skip(const char *why);
int test_failed_now(void);
/* Directory holding generated fixtures (build/fixtures) and the source root. */
const char *test_fixtures(void);
const char *test_root(void);
/* Goldens: tests/golden/REL under the source root. Its whitespace-separated
 * integers appended to out (0, or -1 with the error set); its float32 values
 * when there are exactly want of them (else NULL with the error set; the
 * caller frees). */
int test_golden_ids(const char *rel, IdVec *out);
float *test_golden_f32(const char *rel, size_t want);
/* The largest |got - ref| of each of rows rows of cols values, over that
 * row's largest |ref|: how far logits are from a reference's. */
double test_worst_rel(const float *got, const float *ref, int rows, int cols);
/* A new empty directory under /tmp (NULL, and the case failed, if not), and
 * its removal with everything in it (frees the name). */
char *test_tmpdir(void);
void test_tmp_remove(char *dir);
/* The unum binary under test ($UNUM_BIN, else build/unum). */
const char *test_bin(void);
/* Runs `prelude; { cmd }` in sh with stdin from /dev/null, capturing stdout
 * and stderr into new strings (either pointer may be NULL). Returns the exit
 * status (128 when the shell did not exit normally). */
int test_shell(const char *prelude, const char *cmd, char **out, char **err);
/* test_shell of a printf-formatted command line in which $U names the unum
 * binary and $F the fixtures folder. */
int test_sh(char **out, char **err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Runs `prelude; { cmd }` in sh with stdout and stderr on one pseudo-
 * terminal in raw mode (no CR added, bytes as written) and stdin from
 * /dev/null; *out (may be NULL) gets everything written there, with its
 * length in *len (may be NULL). Returns the exit status (128 when the shell
 * did not exit normally or the terminal could not be made). */
int test_pty(const char *prelude, const char *cmd, char **out, size_t *len);

#define TEST(name)                                                                                 \
    static void test_##name(void);                                                                 \
    __attribute__((constructor)) static void test_reg_##name(void) {                               \
        test_register(#name, __FILE__, test_##name);                                               \
    }                                                                                              \
    static void test_##name(void)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) test_fail(__FILE__, __LINE__, "%s", #cond);                                   \
    } while (0)

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            test_fail(__FILE__, __LINE__, "%s", #cond);                                            \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) test_fail(__FILE__, __LINE__, "%s == %s (%lld vs %lld)", #a, #b, a_, b_);    \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double a_ = (double)(a), b_ = (double)(b);                                                 \
        if (!(fabs(a_ - b_) <= (tol)))                                                             \
            test_fail(__FILE__, __LINE__, "%s ~ %s (%.9g vs %.9g, tol %g)", #a, #b, a_, b_,        \
                      (double)(tol));                                                              \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                     \
            test_fail(__FILE__, __LINE__, "%s == %s (\"%s\" vs \"%s\")", #a, #b,                   \
                      a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                     \
    } while (0)

/* The string hay contains needle. */
#define CHECK_CONTAINS(hay, needle)                                                                \
    do {                                                                                           \
        if (!(hay) || !strstr((hay), (needle)))                                                    \
            test_fail(__FILE__, __LINE__, "\"%s\" lacks \"%s\"", (hay) ? (hay) : "(null)",         \
                      (needle));                                                                   \
    } while (0)

/* The current error message contains the given text. */
#define CHECK_ERR(text)                                                                            \
    do {                                                                                           \
        if (!strstr(unum_error(), (text)))                                                         \
            test_fail(__FILE__, __LINE__, "error \"%s\" lacks \"%s\"", unum_error(), (text));      \
    } while (0)

#define SKIP(why)                                                                                  \
    do {                                                                                           \
        test_skip(why);                                                                            \
        return;                                                                                    \
    } while (0)

#endif
