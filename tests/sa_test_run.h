/* sa_test_run.h — run the selfalign binary from a test.
 *
 * run(t, &r, stdin_text_or_NULL, "arg", ..., NULL) executes $SA_BIN (set by
 * tests/run to <build>/selfalign) with the arguments, captures exit status,
 * stdout and stderr; it returns false after marking the test skipped when
 * the binary is missing. result_free releases the captured output.
 */
#ifndef SA_TEST_RUN_H
#define SA_TEST_RUN_H

#include <stdbool.h>

#include "sa/strbuf.h"
#include "sa_test.h"

typedef struct run_result {
    int rc; /* exit status, or -1 if the process did not exit normally */
    sa_strbuf out, err;
} run_result;

void result_free(run_result *r);
/* $SA_BIN, or NULL after skipping the test. */
const char *bin_path(sa_test *t);
/* Append a whole file to sb (nothing if it cannot be read). */
void slurp(const char *path, sa_strbuf *sb);
bool run(sa_test *t, run_result *r, const char *input, ...);
/* The same with a NULL-terminated array of at most RUN_MAX_ARGS arguments. */
#define RUN_MAX_ARGS 96
bool run_argv(sa_test *t, run_result *r, const char *input, const char *const *args);

#define OUT(r) sa_strbuf_cstr(&(r).out)
#define ERR(r) sa_strbuf_cstr(&(r).err)
#define CHECK_HAS(t, hay, needle)                                                           \
    SA_CHECKF((t), strstr((hay), (needle)) != NULL, "expected \"%s\" in:\n%s", (needle), (hay))

#endif
