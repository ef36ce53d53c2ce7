/* dist.h — the process group of a data-parallel run: rank, size and the
 * few collective operations selfalign needs (Open MPI when built with it).
 *
 * Purpose: `mpirun -np N selfalign <stage> ...` (or srun) starts N copies of
 * the program. Each one calls sa_dist_init once; the context then says
 * which copy this is (rank 0..size-1) and carries the collectives that the
 * sharded stages (shard.h) and the data-parallel trainer (trainer.h) use:
 * barrier, broadcast, sum-all-reduce of float/double buffers, and a status
 * agreement so that every rank takes the same branch after an error.
 *
 * Launch detection: MPI is initialised only when the environment says a
 * launcher started us (OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_SIZE or
 * PMI_RANK is set). Otherwise — a plain `selfalign ...`, or a build
 * without MPI (NO_MPI=1, or Open MPI absent) — the context is rank 0 of 1,
 * MPI is never touched and every collective is a no-op (broadcast and
 * all-reduce leave the buffer as it is). A NULL `const sa_dist *` means
 * the same single process everywhere it is accepted. A build without MPI
 * that is nevertheless launched by mpirun with N > 1 is refused by
 * sa_dist_init (SA_ERR_UNSUPPORTED) rather than running N copies that
 * would overwrite each other's files.
 *
 * Results are identical on every rank: sa_dist_allreduce_* reduce to rank
 * 0 and broadcast the sum, so weights updated from them stay bitwise equal
 * across ranks whatever the reduction algorithm. Only the thread that
 * called sa_dist_init may call the collectives (MPI_THREAD_FUNNELED).
 *
 * Ownership: sa_dist is a caller-owned struct with no allocations;
 * sa_dist_free finalises MPI if sa_dist_init initialised it. Call init
 * once per process (MPI cannot be initialised twice).
 *
 * Usage:
 *     sa_dist d;
 *     if (sa_dist_init(&d, &err)) return fail(&err);
 *     ... o.dist = &d; ...                 // stages and the trainer take it
 *     sa_dist_allreduce_f32(&d, grads, n, &err);
 *     sa_dist_free(&d);
 */
#ifndef SA_DIST_H
#define SA_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_dist {
    int rank, size;
    bool mpi; /* MPI was initialised by sa_dist_init (finalised by sa_dist_free) */
} sa_dist;

/* True when this build has MPI support compiled in. */
bool sa_dist_compiled(void);
/* True when the environment says a launcher (mpirun, srun) started us. */
bool sa_dist_launched(void);

/* Rank 0 of 1 without MPI (see above), or the MPI world. */
sa_status sa_dist_init(sa_dist *d, sa_err *err);
/* Finalise MPI when init started it; safe on a single-process context.
 * Only after success: see sa_dist_abandon. */
void sa_dist_free(sa_dist *d);
/* After a failure (that other ranks may not share): forget the context
 * without finalising MPI, because MPI_Finalize could wait forever for a
 * rank blocked in a collective. The process then exits non-zero and the
 * launcher (mpirun, srun) ends the whole job. */
void sa_dist_abandon(sa_dist *d);
/* The number of processes a launcher announced in the environment, 0 when
 * not launched or unknown (readable without initialising MPI). */
int sa_dist_launch_size(void);

/* Rank and size of a possibly NULL context (NULL: 0 and 1). */
int sa_dist_rank(const sa_dist *d);
int sa_dist_size(const sa_dist *d);

sa_status sa_dist_barrier(const sa_dist *d, sa_err *err);
/* Copy n bytes of buf from root to every rank. */
sa_status sa_dist_bcast(const sa_dist *d, void *buf, size_t n, int root, sa_err *err);
/* buf[i] = sum over ranks of buf[i], the same bits on every rank. */
sa_status sa_dist_allreduce_f32(const sa_dist *d, float *buf, size_t n, sa_err *err);
sa_status sa_dist_allreduce_f64(const sa_dist *d, double *buf, size_t n, sa_err *err);
/* buf[i] = max over ranks (for counters and flags). */
sa_status sa_dist_allreduce_max_i64(const sa_dist *d, int64_t *buf, size_t n, sa_err *err);

/* Every rank learns whether any rank failed: returns SA_OK when local and
 * all other ranks' statuses are SA_OK; local when local failed (err
 * untouched); otherwise sets err saying another rank failed (its status
 * code is returned). Use it before every branch that others must follow. */
sa_status sa_dist_agree(const sa_dist *d, sa_status local, sa_err *err);

#ifdef __cplusplus
}
#endif
#endif
