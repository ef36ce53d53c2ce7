/* sa_test.h — the tiny test harness every tests/test_*.c uses.
 *
 * Each test file is its own program (a crash in one cannot hide the others).
 * It defines `static void name(sa_test *t)` functions, lists them in a table
 * and ends with SA_TEST_MAIN(table). Every test prints exactly one line:
 *     PASS <file>:<name>
 *     FAIL <file>:<name>: <first failure, file:line>
 *     SKIP <file>:<name>: <reason>
 * tests/run collects these lines from all programs and prints the closing
 * line `N passed, N failed, N skipped`.
 *
 * Checks do not stop a test (so one run shows several failures); use
 * SA_REQUIRE when later lines cannot run after a failure.
 *
 * Data files: sa_test_data(t, "tokenizers/...") returns a path under
 * $SA_DATA_DIR (default ../shared/data relative to the repository root, as
 * set by tests/run) or NULL after marking the test skipped when absent.
 * Scratch files go under sa_test_tmpdir(t), a fresh directory per program.
 */
#ifndef SA_TEST_H
#define SA_TEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa/status.h"

typedef struct sa_test {
    const char *file;
    const char *name;
    int failures;
    int skipped;
    char first_fail[512];
    char skip_reason[256];
    char tmpdir[512];
    char **paths;   /* strings returned by sa_test_data / sa_test_tmpfile, freed after the test */
    size_t n_paths;
} sa_test;

typedef struct sa_test_def {
    const char *name;
    void (*fn)(sa_test *t);
} sa_test_def;

void sa_test_fail(sa_test *t, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void sa_test_skip(sa_test *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Path of a file under the shared test data directory, or NULL (test skipped).
 * Like sa_test_tmpfile's, the string stays valid until the test ends. */
const char *sa_test_data(sa_test *t, const char *rel);
/* Per-program scratch directory (created on first use, removed at exit
 * unless SA_TEST_KEEP is set). */
const char *sa_test_tmpdir(sa_test *t);
/* tmpdir + "/" + name, owned by t and valid until the test ends. */
const char *sa_test_tmpfile(sa_test *t, const char *name);
/* Write bytes to a file; returns false on error (and records a failure). */
bool sa_test_write_file(sa_test *t, const char *path, const void *data, size_t n);
/* Message of an sa_err, or "" for NULL. */
const char *sa_test_errmsg(const sa_err *e);
int sa_test_main(const char *file, const sa_test_def *tests, size_t n, int argc, char **argv);

#define SA_CHECK(t, cond)                                                      \
    do {                                                                       \
        if (!(cond)) sa_test_fail((t), __FILE__, __LINE__, "check failed: %s", #cond); \
    } while (0)
#define SA_CHECKF(t, cond, ...)                                                \
    do {                                                                       \
        if (!(cond)) sa_test_fail((t), __FILE__, __LINE__, __VA_ARGS__);       \
    } while (0)
#define SA_REQUIRE(t, cond)                                                    \
    do {                                                                       \
        if (!(cond)) {                                                         \
            sa_test_fail((t), __FILE__, __LINE__, "required: %s", #cond);      \
            return;                                                            \
        }                                                                      \
    } while (0)
#define SA_CHECK_EQ_INT(t, a, b)                                               \
    do {                                                                       \
        long long sa__a = (long long)(a), sa__b = (long long)(b);              \
        if (sa__a != sa__b)                                                    \
            sa_test_fail((t), __FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, sa__a, \
                         #b, sa__b);                                           \
    } while (0)
#define SA_CHECK_STR(t, a, b)                                                  \
    do {                                                                       \
        const char *sa__a = (a), *sa__b = (b);                                 \
        if (!sa__a || !sa__b || strcmp(sa__a, sa__b) != 0)                     \
            sa_test_fail((t), __FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a, \
                         sa__a ? sa__a : "(null)", sa__b ? sa__b : "(null)");  \
    } while (0)
/* Check a call returns SA_OK; on failure print the sa_err message. */
#define SA_CHECK_OK(t, call, errp)                                             \
    do {                                                                       \
        int sa__s = (int)(call);                                               \
        if (sa__s != 0)                                                        \
            sa_test_fail((t), __FILE__, __LINE__, "%s returned %d: %s", #call, sa__s, \
                         sa_test_errmsg(errp));                           \
    } while (0)
#define SA_REQUIRE_OK(t, call, errp)                                           \
    do {                                                                       \
        int sa__s = (int)(call);                                               \
        if (sa__s != 0) {                                                      \
            sa_test_fail((t), __FILE__, __LINE__, "%s returned %d: %s", #call, sa__s, \
                         sa_test_errmsg(errp));                           \
            return;                                                            \
        }                                                                      \
    } while (0)

#define SA_TEST_MAIN(table)                                                    \
    int main(int argc, char **argv) {                                          \
        return sa_test_main(__FILE__, (table), sizeof(table) / sizeof((table)[0]), argc, argv); \
    }

#endif
