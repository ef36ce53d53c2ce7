/* shard.h — a stage journal split across the ranks of an MPI run.
 *
 * Purpose: the journaled stages (generate, backtranslate, curate) run
 * under `mpirun -np N` by giving each record to one rank — the owner,
 * sa_hash_str(id) mod N — and letting each rank append its results to its
 * own shard journal beside the stage's journal:
 *
 *     <journal>                  the stage's journal (journal.h), as with one process
 *     <journal>.shard-R-of-N     rank R's results of the current run
 *
 * sa_shard_open (collective): rank 0 first folds every leftover shard file
 * (from an interrupted run with any N) into the main journal and deletes
 * it; then every rank reads the ids of the main journal (read-only) and
 * opens a fresh shard file of its own. With one process (dist NULL or of
 * size 1) the leftovers are folded the same way and the main journal
 * itself is the writer, exactly as before sharding existed.
 *
 * sa_shard_finish (collective): closes this rank's journal, agrees on
 * every rank's status (sa_dist_agree) and, only when all succeeded, rank 0
 * folds the shards into the main journal and deletes the shard files;
 * with `order` (a stage's input ids, in order) it then rewrites the main
 * journal atomically with those records first, in that order, and the rest
 * after them as they were, so a journal that is itself the output (curate)
 * is byte-identical to the one a single uninterrupted process writes, also
 * after a rank was killed and the run resumed. One process that folded
 * leftovers at open does the same rewrite when given an order. Afterwards rank 0
 * writes the stage's final files from the main journal as a single process
 * would; other ranks write nothing.
 *
 * Resume: a rank killed mid-stage (mpirun then ends the job) leaves its
 * shard file; the next run, with the same N or any other (or alone), folds
 * it in first and skips every journaled id. A torn last line of a shard is
 * dropped by the fold (only results in flight are lost). Records are
 * owned by id hash, so the split does not depend on input order; each
 * record's result depends only on (seed, id) (engine.h), so which rank
 * computes it does not change it.
 *
 * Assumption: the journal's directory is on a filesystem every rank sees
 * (one node, or a shared filesystem across nodes).
 *
 * Ownership: sa_shard is caller-owned; sa_shard_finish or sa_shard_close
 * releases what open acquired (close is for error paths that never reach
 * finish; it is local, not collective). Appended objects are not stolen.
 *
 * Usage:
 *     sa_shard sh;
 *     if ((s = sa_shard_open(&sh, dist, "run/curate/out.jsonl", NULL, &err))) return s;
 *     for (each item) {
 *         if (!sa_shard_mine(&sh, id) || sa_shard_has(&sh, id)) continue;
 *         s = sa_shard_append(&sh, result, &err);
 *     }
 *     s = sa_shard_finish(&sh, s, order_ids, n_order, &err);
 *     if (!s && sa_dist_rank(dist) == 0) write_finals(...);
 */
#ifndef SA_SHARD_H
#define SA_SHARD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sa/dist.h"
#include "sa/journal.h"
#include "sa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_shard {
    const sa_dist *dist;
    int rank, size;
    char *main_path;
    char *shard_path;    /* NULL with one process */
    sa_journal j;        /* the writer: main (one process) or this rank's shard */
    bool open;
    void *done;          /* N > 1: ids of the main journal (private) */
    uint64_t done_count; /* records of the main journal at open */
    bool reorder;        /* one process that folded leftovers at open */
} sa_shard;

/* The rank that owns id among size ranks. */
int sa_shard_owner(const char *id, int size);

/* Collective (see above). jo NULL = journal defaults. */
sa_status sa_shard_open(sa_shard *sh, const sa_dist *d, const char *main_path, const sa_journal_opts *jo,
                        sa_err *err);
/* This rank computes id. */
bool sa_shard_mine(const sa_shard *sh, const char *id);
/* id is journaled (main journal or this rank's shard). Thread-safe. */
bool sa_shard_has(sa_shard *sh, const char *id);
/* Records of the main journal at open (the same on every rank). */
uint64_t sa_shard_done_before(const sa_shard *sh);
/* sa_journal_append on this rank's writer. Thread-safe. */
sa_status sa_shard_append(sa_shard *sh, const json_t *obj, sa_err *err);
/* Collective (see above): returns the agreed status; on rank 0 also the
 * fold's. order may be NULL. */
sa_status sa_shard_finish(sa_shard *sh, sa_status local, const char *const *order, size_t n_order, sa_err *err);
/* Release without merging (local). Safe after finish and on a zeroed struct. */
void sa_shard_close(sa_shard *sh);

#ifdef __cplusplus
}
#endif
#endif
