/* dist.c — the process group (see include/sa/dist.h): MPI when built with
 * it and launched by a launcher, else a single process whose collectives
 * do nothing. */
#include "sa/dist.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#ifdef SA_HAVE_MPI
#include <mpi.h>
#endif

bool sa_dist_compiled(void) {
#ifdef SA_HAVE_MPI
    return true;
#else
    return false;
#endif
}

static bool env_set(const char *name) {
    const char *v = getenv(name);
    return v && *v;
}

bool sa_dist_launched(void) {
    return env_set("OMPI_COMM_WORLD_SIZE") || env_set("PMIX_RANK") || env_set("PMI_SIZE") || env_set("PMI_RANK");
}

int sa_dist_launch_size(void) {
    if (!sa_dist_launched()) return 0;
    const char *names[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) return atoi(v);
    }
    return 0;
}

int sa_dist_rank(const sa_dist *d) { return d ? d->rank : 0; }
int sa_dist_size(const sa_dist *d) { return d ? d->size : 1; }

static bool multi(const sa_dist *d) { return d && d->size > 1; }

#ifdef SA_HAVE_MPI
static sa_status mpi_fail(sa_err *err, const char *what, int rc) {
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return sa_err_set(err, SA_ERR_IO, "MPI %s failed: %s", what, msg);
}
/* MPI counts are ints: large buffers go in pieces */
#define PIECE ((size_t)1 << 28)
#endif

sa_status sa_dist_init(sa_dist *d, sa_err *err) {
    memset(d, 0, sizeof *d);
    d->rank = 0, d->size = 1;
    if (!sa_dist_launched()) return SA_OK;
#ifdef SA_HAVE_MPI
    int provided = 0, rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return mpi_fail(err, "init", rc);
    d->mpi = true;
    /* errors come back as codes, so a failed collective is reported, not fatal */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    return SA_OK;
#else
    if (sa_dist_launch_size() > 1)
        return sa_err_set(err, SA_ERR_UNSUPPORTED, "launched as one of %d processes, but this selfalign was built "
                          "without MPI (install libopenmpi-dev and rebuild, or run it alone)", sa_dist_launch_size());
    return SA_OK;
#endif
}

void sa_dist_abandon(sa_dist *d) {
    if (d) d->mpi = false, d->rank = 0, d->size = 1;
}

void sa_dist_free(sa_dist *d) {
#ifdef SA_HAVE_MPI
    if (d && d->mpi) MPI_Finalize();
#endif
    if (d) d->mpi = false, d->rank = 0, d->size = 1;
}

sa_status sa_dist_barrier(const sa_dist *d, sa_err *err) {
    if (!multi(d)) return SA_OK;
#ifdef SA_HAVE_MPI
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail(err, "barrier", rc);
#endif
    return SA_OK;
}

sa_status sa_dist_bcast(const sa_dist *d, void *buf, size_t n, int root, sa_err *err) {
    if (!multi(d)) return SA_OK;
#ifdef SA_HAVE_MPI
    for (size_t off = 0; off < n; off += PIECE) {
        size_t k = n - off < PIECE ? n - off : PIECE;
        int rc = MPI_Bcast((char *)buf + off, (int)k, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(err, "broadcast", rc);
    }
#else
    (void)buf, (void)n, (void)root, (void)err;
#endif
    return SA_OK;
}

#ifdef SA_HAVE_MPI
/* Reduce to rank 0, then broadcast: every rank holds the bits rank 0 computed. */
static sa_status reduce_bcast(const sa_dist *d, void *buf, size_t n, size_t elem, MPI_Datatype t, MPI_Op op,
                              sa_err *err) {
    for (size_t off = 0; off < n; off += PIECE) {
        size_t k = n - off < PIECE ? n - off : PIECE;
        char *p = (char *)buf + off * elem;
        int rc = d->rank == 0 ? MPI_Reduce(MPI_IN_PLACE, p, (int)k, t, op, 0, MPI_COMM_WORLD)
                              : MPI_Reduce(p, NULL, (int)k, t, op, 0, MPI_COMM_WORLD);
        if (rc == MPI_SUCCESS) rc = MPI_Bcast(p, (int)k, t, 0, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(err, "all-reduce", rc);
    }
    return SA_OK;
}
#endif

sa_status sa_dist_allreduce_f32(const sa_dist *d, float *buf, size_t n, sa_err *err) {
    if (!multi(d) || n == 0) return SA_OK;
#ifdef SA_HAVE_MPI
    return reduce_bcast(d, buf, n, sizeof *buf, MPI_FLOAT, MPI_SUM, err);
#else
    (void)buf, (void)err;
    return SA_OK;
#endif
}

sa_status sa_dist_allreduce_f64(const sa_dist *d, double *buf, size_t n, sa_err *err) {
    if (!multi(d) || n == 0) return SA_OK;
#ifdef SA_HAVE_MPI
    return reduce_bcast(d, buf, n, sizeof *buf, MPI_DOUBLE, MPI_SUM, err);
#else
    (void)buf, (void)err;
    return SA_OK;
#endif
}

sa_status sa_dist_allreduce_max_i64(const sa_dist *d, int64_t *buf, size_t n, sa_err *err) {
    if (!multi(d) || n == 0) return SA_OK;
#ifdef SA_HAVE_MPI
    return reduce_bcast(d, buf, n, sizeof *buf, MPI_INT64_T, MPI_MAX, err);
#else
    (void)buf, (void)err;
    return SA_OK;
#endif
}

sa_status sa_dist_agree(const sa_dist *d, sa_status local, sa_err *err) {
    if (!multi(d)) return local;
    int64_t code = (int64_t)local;
    sa_err ce = {0};
    if (sa_dist_allreduce_max_i64(d, &code, 1, &ce)) {
        if (!local && err) *err = ce;
        return local ? local : ce.code;
    }
    if (local) return local;
    if (code) return sa_err_set(err, (sa_status)code, "another rank failed (%s); see its messages",
                                sa_status_str((sa_status)code));
    return SA_OK;
}
