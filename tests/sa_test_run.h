/* sa_test_run.h — run the selfalign binary from a test.
 *
 * run(t, &r, stdin_text_or_NULL, "arg", ..., NULL) executes $SA_BIN (set by
 * tests/run to <build>/selfalign) with the arguments, captures exit status,
 * stdout and stderr; it returns false after marking the test skipped when
 * the binary is missing. result_free releases the captured output.
 */
#ifndef SA_TEST_RUN_H
#define SA_TEST_RUN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

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
/* Whether files a and b both exist and hold the same bytes, at least one
 * unless empty_ok; their sizes in *na and *nb when not NULL (for messages). */
bool same_bytes(const char *a, const char *b, bool empty_ok, size_t *na, size_t *nb);
bool run(sa_test *t, run_result *r, const char *input, ...);
/* The same with a NULL-terminated array of at most RUN_MAX_ARGS arguments. */
#define RUN_MAX_ARGS 96
bool run_argv(sa_test *t, run_result *r, const char *input, const char *const *args);

/* ---- files and child processes, for the resume tests ---- */
/* Newlines in a file (0 when it cannot be read). */
uint64_t file_lines(const char *path);
/* Every line of a JSONL file as an array (a line that is not JSON, or a
 * missing file, is a test failure). The caller owns the array. */
json_t *file_json_lines(sa_test *t, const char *path);
/* Both files exist, are non-empty and hold the same bytes. */
bool files_equal(const char *a, const char *b);
/* Append the NULL-terminated extra to the NULL-terminated argv (which has
 * room for RUN_MAX_ARGS entries; what does not fit is dropped). */
void argv_append(const char **argv, const char *const *extra);
/* Fork and exec argv[0] with argv, stdout and stderr to /dev/null. */
pid_t child_spawn(const char *const *argv);
/* child_spawn, then wait: the exit status, or -1 if it did not exit. */
int child_run(const char *const *argv);
/* Start `selfalign serve` (argv, which must include --port-file port_file)
 * and wait up to 15 s for the port it writes; the port, or 0 after failing
 * the test (the process is reaped if it exited). */
int serve_spawn(sa_test *t, const char *const *argv, const char *port_file, pid_t *pid);

#define OUT(r) sa_strbuf_cstr(&(r).out)
#define ERR(r) sa_strbuf_cstr(&(r).err)
#define CHECK_HAS(t, hay, needle)                                                           \
    SA_CHECKF((t), strstr((hay), (needle)) != NULL, "expected \"%s\" in:\n%s", (needle), (hay))

#endif
