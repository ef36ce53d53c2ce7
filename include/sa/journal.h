/* journal.h — append-only, crash-safe JSONL journal for long pipeline stages.
 *
 * Purpose: every long stage writes its results as they finish to an
 * `out.jsonl` journal. After a crash or Ctrl-C the stage reopens the journal,
 * asks sa_journal_has(id) to skip work already done, and appends the rest.
 * At most the records in flight are lost; none is ever duplicated.
 *
 * Opening an existing journal repairs and indexes it:
 *   - a torn last line (bytes after the last '\n') is truncated away, unless
 *     it parses as a complete JSON object, in which case a '\n' is appended
 *     and it is kept (nothing valid is lost); stats say which and how many
 *     bytes were dropped;
 *   - every record's string "id" goes into an in-memory set;
 *   - bad complete lines in the middle are reported through on_bad and
 *     counted, never deleted (a human should look at them).
 * The file is locked with flock(LOCK_EX|LOCK_NB) while open, so a second
 * writer (another process, or a second open in this process) gets SA_ERR_IO
 * instead of interleaving lines.
 *
 * Appending: sa_journal_append serialises the object as one canonical line
 * (json.h: compact, sorted keys) and writes it with a single write() on an
 * O_APPEND descriptor, under a mutex, so it may be called from engine worker
 * threads. Every record must carry a non-empty string "id"; appending an id
 * that is already journaled is refused with SA_ERR_INVALID_ARG (the file is
 * untouched), so a journal never holds a duplicate. A line longer than
 * max_line_bytes is refused with SA_ERR_RANGE, because the scan at open could
 * not read it back (its id would be lost and the work redone). A failed or
 * short write is rolled back with ftruncate to the previous size.
 *
 * Durability: fdatasync after every fsync_every_n appends and/or when
 * fsync_every_ms have passed since the last sync (checked at each append);
 * always on sa_journal_flush and sa_journal_close. Creating the file also
 * fsyncs its directory.
 *
 * Ownership: sa_journal is a caller-owned struct; sa_journal_close releases
 * everything open acquired (call it even after a failed append). Appended
 * objects are not stolen: the caller still owns them.
 *
 * Usage:
 *     sa_journal j;
 *     sa_journal_opts o = sa_journal_default_opts();
 *     if (sa_journal_open(&j, "run/curate/out.jsonl", &o, &err) != SA_OK) return err.code;
 *     for (each item) {
 *         if (sa_journal_has(&j, item.id)) continue;   // done before the crash
 *         json_t *rec = make(item);
 *         sa_status s = sa_journal_append(&j, rec, &err);
 *         json_decref(rec);
 *     }
 *     sa_journal_close(&j, &err);
 */
#ifndef SA_JOURNAL_H
#define SA_JOURNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sa/jsonl.h"
#include "sa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_journal_opts {
    uint32_t fsync_every_n;  /* sync after this many appends; 0 = no count trigger */
    uint32_t fsync_every_ms; /* sync when this long since the last; 0 = no time trigger */
    uint64_t max_line_bytes; /* scan at open and append cap; 0 = SA_JSONL_DEFAULT_MAX_LINE */
    sa_jsonl_bad_fn on_bad;  /* bad lines found at open; may be NULL */
    void *ctx;
} sa_journal_opts;

/* Defaults: fsync every 64 appends or every 1000 ms, whichever comes first. */
sa_journal_opts sa_journal_default_opts(void);

typedef struct sa_journal_stats {
    uint64_t existing;           /* records with an id found at open */
    uint64_t existing_no_id;     /* valid objects at open without a string "id" */
    uint64_t existing_dup_ids;   /* repeated ids at open (written by someone else) */
    uint64_t bad_lines;          /* bad complete lines at open (left in place) */
    uint64_t torn_bytes_dropped; /* bytes truncated from a torn last line */
    bool torn_line_kept;         /* an unterminated complete object got its '\n' */
    uint64_t appended;           /* records appended since open */
    uint64_t fsyncs;
} sa_journal_stats;

typedef struct sa_journal {
    sa_journal_stats stats; /* public, read-only (read under no lock: approximate
                               while other threads append) */
    /* private */
    int fd;
    char *path;
    sa_journal_opts opts;
    pthread_mutex_t mu;
    bool mu_init;
    uint64_t size;          /* current file size */
    uint64_t since_sync;    /* appends since the last fsync */
    uint64_t last_sync_ms;  /* CLOCK_MONOTONIC */
    char **set;             /* open-addressing set of ids (owned strings) */
    size_t set_cap, set_len;
} sa_journal;

/* Open or create path (its directory must exist). opts NULL = defaults. */
sa_status sa_journal_open(sa_journal *j, const char *path, const sa_journal_opts *opts,
                          sa_err *err);
/* Append one object holding a non-empty string "id" (see above). Returns
 * SA_ERR_INVALID_ARG for a missing id or a duplicate, SA_ERR_RANGE for a line
 * over max_line_bytes, SA_ERR_IO on write or sync errors. Thread-safe. */
sa_status sa_journal_append(sa_journal *j, const json_t *obj, sa_err *err);
/* True when id is journaled (found at open or appended). Thread-safe. */
bool sa_journal_has(sa_journal *j, const char *id);
/* Number of distinct ids journaled. Thread-safe. */
uint64_t sa_journal_count(sa_journal *j);
/* fdatasync now. Thread-safe. */
sa_status sa_journal_flush(sa_journal *j, sa_err *err);
/* Sync, unlock, close and free. Safe on a zeroed or already closed journal. */
sa_status sa_journal_close(sa_journal *j, sa_err *err);

#ifdef __cplusplus
}
#endif
#endif
