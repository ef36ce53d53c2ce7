/* run.h — a pipeline run directory: manifest, stage states, one writer.
 *
 * Purpose: `selfalign humpback` and `selfalign dromedary` run many stages
 * (corpus, training, generation, curation...) that take minutes to days. A
 * run is a directory (DESIGN.md 2.2) whose manifest.json records the full
 * resolved configuration, the selfalign version and every stage's state, so
 * the same command can be rerun after a crash, Ctrl-C or reboot and pick up
 * where it stopped, and `selfalign status` can say where a run is.
 *
 * manifest.json (written atomically after every state change):
 *   {"kind": "humpback", "version": "0.1.0", "created": ISO-8601 UTC,
 *    "updated": ..., "config": {...the caller's resolved config...},
 *    "stages": [{"name": "corpus", "dir": "corpus", "state": "done",
 *                "attempts": 1, "started": ..., "finished": ...,
 *                "seconds": 1.25, "summary": {...counts...},
 *                "error": "..." (failed only)}, ...]}
 * States: pending -> running -> done | failed | interrupted. A stage killed
 * with SIGKILL stays "running" in the file; sa_run_read reports whether a
 * process still holds the run (see locking) so status can print
 * "interrupted" for it. "seconds" adds up the wall time of every attempt.
 *
 * Configuration: sa_run_open compares the caller's config with the stored
 * one. Any key whose value differs (or that exists on one side only) makes
 * the open fail with SA_ERR_INVALID_ARG naming the keys, so two runs with
 * different settings can never be mixed in one directory. Keys that do not
 * change results (thread counts, progress output) must be left out of the
 * config by the caller.
 *
 * Locking: the open run holds flock(LOCK_EX) on DIR/.lock; a second process
 * opening the same run gets SA_ERR_IO ("in use by another process").
 *
 * Ownership: sa_run_open copies the config (json_deep_copy); the run owns
 * its manifest and lock and releases them in sa_run_close. Summaries passed
 * to sa_run_stage_end are borrowed (copied).
 *
 * Usage:
 *     const char *stages[] = {"corpus", "backward", ...};
 *     sa_run *run;
 *     if (sa_run_open(&run, "runs/h1", "humpback", cfg, stages, n, &err)) ...;
 *     if (!sa_run_stage_is_done(run, "corpus")) {
 *         sa_run_stage_begin(run, "corpus", &err);
 *         s = do_corpus(...);
 *         sa_run_stage_end(run, "corpus", s, summary, s ? err.msg : NULL, &err2);
 *     }
 *     sa_run_close(run);
 */
#ifndef SA_RUN_H
#define SA_RUN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "sa/status.h"
#include "sa/strbuf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_run sa_run;

/* Open (creating DIR and its manifest if needed) the run in dir. stages
 * lists the stage names in execution order; stages already in an existing
 * manifest keep their state, new names are appended as pending. */
sa_status sa_run_open(sa_run **out, const char *dir, const char *kind, const json_t *config,
                      const char *const *stages, size_t n_stages, sa_err *err);
void sa_run_close(sa_run *run);

const char *sa_run_dir(const sa_run *run);
/* DIR + "/" + rel into out (reset first). */
sa_status sa_run_path(const sa_run *run, const char *rel, sa_strbuf *out);

bool sa_run_stage_is_done(const sa_run *run, const char *stage);
/* Mark a stage running (attempts + 1) and write the manifest. */
sa_status sa_run_stage_begin(sa_run *run, const char *stage, sa_err *err);
/* Record how an attempt ended: result SA_OK -> done (with summary, may be
 * NULL), SA_ERR_INTERRUPTED -> interrupted, else failed with error_msg. */
sa_status sa_run_stage_end(sa_run *run, const char *stage, sa_status result, const json_t *summary,
                           const char *error_msg, sa_err *err);
/* The stored summary of a done stage (borrowed; NULL if none). */
const json_t *sa_run_stage_summary(const sa_run *run, const char *stage);

/* Read a run's manifest without opening it for writing (for status and
 * reports). *active is true when a process holds the run's lock now.
 * The caller owns *manifest (json_decref). */
sa_status sa_run_read(const char *dir, json_t **manifest, bool *active, sa_err *err);

/* Current time as "2026-12-04T21:30:00Z" into buf (>= 21 bytes). */
void sa_run_timestamp(char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
