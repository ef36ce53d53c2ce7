/* fileio.h — crash-safe file writes and small path helpers.
 *
 * Purpose: final outputs (manifest.json, stats.json, checkpoints, exported
 * models) must never be seen half-written. sa_atomic_file writes to a
 * temporary file next to the destination (`path.tmp.<pid>.<random>`,
 * created with O_EXCL), and commit flushes, fsyncs, closes, renames it over
 * the destination and fsyncs the directory: a reader sees either the old
 * file or the complete new one, even across a crash or power loss.
 * Abort (or a failed commit) removes the temporary file and leaves the
 * destination untouched. A process killed mid-write leaves only a stray
 * `*.tmp.*` file beside an intact destination.
 *
 * Errors: every message names the path and the system error, e.g.
 *     "out/run/manifest.json: cannot create temporary file
 *      'out/run/manifest.json.tmp.4242.9f1c03ab': No such file or directory"
 *
 * Ownership: sa_atomic_file is caller-owned; open fills it, and exactly one
 * of commit or abort must follow (abort after a commit, failed or not, is a
 * harmless no-op, as is abort on a zeroed struct). Its fields are public for
 * inspection only. New files get mode 0666 minus the umask.
 *
 * Usage:
 *     sa_atomic_file af;
 *     if (sa_atomic_open(&af, "run/stats.json", &err) != SA_OK) return err.code;
 *     if (sa_atomic_printf(&af, &err, "{\"n\": %zu}\n", n) != SA_OK) {
 *         sa_atomic_abort(&af);
 *         return err.code;
 *     }
 *     return sa_atomic_commit(&af, &err);
 * or in one call: sa_file_write_atomic("run/stats.json", buf, len, &err);
 */
#ifndef SA_FILEIO_H
#define SA_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "sa/status.h"
#include "sa/strbuf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_atomic_file {
    FILE *fp;        /* the temporary file; NULL when not open */
    char *path;      /* destination (owned) */
    char *tmp_path;  /* temporary file (owned) */
    int write_errno; /* first write error (makes commit fail), 0 if none */
} sa_atomic_file;

sa_status sa_atomic_open(sa_atomic_file *af, const char *path, sa_err *err);
/* Append n bytes. After a failed write the file is poisoned: commit fails. */
sa_status sa_atomic_write(sa_atomic_file *af, const void *data, size_t n, sa_err *err);
sa_status sa_atomic_printf(sa_atomic_file *af, sa_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Flush, fsync, close, rename over the destination, fsync the directory.
 * On failure the temporary file is removed and the destination is as it
 * was (except after a directory fsync failure, where the new file is in
 * place but its durability is not guaranteed). Always closes af. */
sa_status sa_atomic_commit(sa_atomic_file *af, sa_err *err);
/* Close and remove the temporary file; the destination is untouched. */
void sa_atomic_abort(sa_atomic_file *af);

/* Open, write n bytes, commit. */
sa_status sa_file_write_atomic(const char *path, const void *data, size_t n, sa_err *err);

/* Read a whole file into out (replacing its contents). (sa_file_read_all in
 * mmap.h returns a plain heap buffer with a size cap instead.) */
sa_status sa_file_read_strbuf(const char *path, sa_strbuf *out, sa_err *err);

/* mkdir -p: create path and missing parents with `mode` (minus umask).
 * Existing directories are fine; an existing non-directory is an error. */
sa_status sa_mkdir_p(const char *path, mode_t mode, sa_err *err);
/* True when path exists (following symlinks) / is a directory. */
bool sa_path_exists(const char *path);
bool sa_path_is_dir(const char *path);
/* out = a + "/" + b with exactly one slash between them (a's trailing and
 * b's leading slashes are merged); an empty a or b yields the other. An
 * absolute b is still appended ("run" + "/x" = "run/x"), never substituted.
 * Replaces out's contents. Returns SA_OK or SA_ERR_NOMEM. */
sa_status sa_path_join(sa_strbuf *out, const char *a, const char *b);

#ifdef __cplusplus
}
#endif
#endif
