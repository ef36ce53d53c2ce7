/* thread.h — a persistent worker pool and a parallel-for over it.
 *
 * Purpose: kernels and pipeline stages split work into tasks and run them on
 * a fixed set of pthreads created once. sa_threadpool_run hands out task
 * indices dynamically (an atomic counter), so uneven tasks balance, and it
 * allocates nothing per call, so it can sit inside a decode loop.
 *
 * Threads: a pool of n threads has n-1 worker threads; the calling thread
 * is thread 0 and works too. A pool of 1 runs everything inline in the
 * caller. fn receives (ctx, task_index, thread_index) with thread_index in
 * [0, n_threads), handy for per-thread scratch (e.g. one sa_arena each).
 *
 * Rules: run is not reentrant (do not call it from inside a task or from two
 * threads at once: SA_ASSERT). Tasks must not fail silently: they record
 * errors in ctx (tasks have no return value because every task runs anyway;
 * cancelling is the task's business, e.g. by checking a flag in ctx).
 *
 * Ownership: caller-owned struct, filled by init, released by free (which
 * joins the workers).
 *
 * Usage:
 *     sa_threadpool pool;
 *     if (sa_threadpool_init(&pool, 0, &err) != SA_OK) ...;   // 0 = all CPUs
 *     sa_threadpool_run(&pool, score_one, &ctx, n_records);
 *     sa_parallel_for(&pool, rows, 0, matmul_rows, &args);     // ranges
 *     sa_threadpool_free(&pool);
 */
#ifndef SA_THREAD_H
#define SA_THREAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*sa_task_fn)(void *ctx, size_t task, int thread);
typedef void (*sa_range_fn)(void *ctx, size_t begin, size_t end, int thread);

typedef struct sa_threadpool {
    int n_threads;       /* total, caller included (>= 1) */
    pthread_t *workers;  /* n_threads - 1 */
    pthread_mutex_t mu;
    pthread_cond_t wake; /* workers wait here for a new generation */
    pthread_cond_t idle; /* the caller waits here for the workers to finish */
    uint64_t generation; /* bumped by each run; guarded by mu */
    int busy;            /* workers still in the current generation; guarded by mu */
    bool stop;           /* guarded by mu */
    bool running;        /* misuse guard: a run is in progress */
    /* the current job (written before the generation bump, under mu) */
    sa_task_fn fn;
    void *ctx;
    size_t n_tasks;
    atomic_size_t next;  /* next task index to hand out */
} sa_threadpool;

/* Start n_threads - 1 workers (n_threads <= 0 means sa_cpu_count()).
 * On failure nothing is left running and the pool needs no free. */
sa_status sa_threadpool_init(sa_threadpool *pool, int n_threads, sa_err *err);

/* Run fn(ctx, i, thread) for every i in [0, n_tasks); returns when all are
 * done. Tasks run in no particular order. No allocation. */
void sa_threadpool_run(sa_threadpool *pool, sa_task_fn fn, void *ctx, size_t n_tasks);

/* Stop and join the workers. Safe on a zeroed or already-freed pool. */
void sa_threadpool_free(sa_threadpool *pool);

/* Split [0, n) into contiguous ranges of about `grain` items (0 = pick so
 * that each thread gets several ranges) and call fn(ctx, begin, end,
 * thread) for each, in parallel. pool NULL runs fn(ctx, 0, n, 0) inline. */
void sa_parallel_for(sa_threadpool *pool, size_t n, size_t grain, sa_range_fn fn, void *ctx);

/* CPUs this process may run on (affinity mask, else online CPUs); >= 1. */
int sa_cpu_count(void);

#ifdef __cplusplus
}
#endif
#endif
