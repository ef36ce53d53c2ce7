/* thread.c — persistent worker pool (see thread.h). */
#include "sa/thread.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sa_cpu_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Pull task indices until none are left. */
static void drain(sa_threadpool *pool, int thread) {
    size_t n = pool->n_tasks;
    for (;;) {
        size_t i = atomic_fetch_add_explicit(&pool->next, 1, memory_order_relaxed);
        if (i >= n) break;
        pool->fn(pool->ctx, i, thread);
    }
}

typedef struct worker_arg {
    sa_threadpool *pool;
    int thread;
} worker_arg;

static void *worker_main(void *arg) {
    worker_arg wa = *(worker_arg *)arg;
    free(arg);
    sa_threadpool *pool = wa.pool;
    uint64_t seen = 0;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (!pool->stop && pool->generation == seen) pthread_cond_wait(&pool->wake, &pool->mu);
        if (pool->stop) break;
        seen = pool->generation;
        pthread_mutex_unlock(&pool->mu);
        drain(pool, wa.thread);
        pthread_mutex_lock(&pool->mu);
        if (--pool->busy == 0) pthread_cond_signal(&pool->idle);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

static void stop_workers(sa_threadpool *pool, int n_started) {
    pthread_mutex_lock(&pool->mu);
    pool->stop = true;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 0; i < n_started; i++) pthread_join(pool->workers[i], NULL);
}

sa_status sa_threadpool_init(sa_threadpool *pool, int n_threads, sa_err *err) {
    memset(pool, 0, sizeof *pool);
    if (n_threads <= 0) n_threads = sa_cpu_count();
    pool->n_threads = n_threads;
    atomic_init(&pool->next, 0);
    if (n_threads == 1) return SA_OK;

    pool->workers = calloc((size_t)n_threads - 1, sizeof *pool->workers);
    if (!pool->workers)
        return sa_err_set(err, SA_ERR_NOMEM, "thread pool: cannot allocate %d workers", n_threads);
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->idle, NULL);
    for (int i = 0; i < n_threads - 1; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        int rc = ENOMEM;
        if (wa) {
            wa->pool = pool;
            wa->thread = i + 1;
            rc = pthread_create(&pool->workers[i], NULL, worker_main, wa);
        }
        if (rc != 0) {
            free(wa);
            stop_workers(pool, i);
            pthread_cond_destroy(&pool->idle);
            pthread_cond_destroy(&pool->wake);
            pthread_mutex_destroy(&pool->mu);
            free(pool->workers);
            memset(pool, 0, sizeof *pool);
            return sa_err_set(err, rc == ENOMEM ? SA_ERR_NOMEM : SA_ERR_IO,
                              "thread pool: cannot start worker %d of %d: %s", i + 1,
                              n_threads - 1, strerror(rc));
        }
    }
    return SA_OK;
}

void sa_threadpool_run(sa_threadpool *pool, sa_task_fn fn, void *ctx, size_t n_tasks) {
    if (n_tasks == 0) return;
    if (pool->n_threads <= 1 || n_tasks == 1) {
        /* Inline: nothing to gain from waking workers. */
        for (size_t i = 0; i < n_tasks; i++) fn(ctx, i, 0);
        return;
    }
    pthread_mutex_lock(&pool->mu);
    SA_ASSERT(!pool->running && "sa_threadpool_run is not reentrant");
    pool->running = true;
    pool->fn = fn;
    pool->ctx = ctx;
    pool->n_tasks = n_tasks;
    atomic_store_explicit(&pool->next, 0, memory_order_relaxed);
    pool->busy = pool->n_threads - 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);

    drain(pool, 0);

    pthread_mutex_lock(&pool->mu);
    while (pool->busy > 0) pthread_cond_wait(&pool->idle, &pool->mu);
    pool->running = false;
    pthread_mutex_unlock(&pool->mu);
}

void sa_threadpool_free(sa_threadpool *pool) {
    if (pool->workers) {
        stop_workers(pool, pool->n_threads - 1);
        pthread_cond_destroy(&pool->idle);
        pthread_cond_destroy(&pool->wake);
        pthread_mutex_destroy(&pool->mu);
        free(pool->workers);
    }
    memset(pool, 0, sizeof *pool);
}

typedef struct range_job {
    sa_range_fn fn;
    void *ctx;
    size_t n, grain;
} range_job;

static void range_task(void *ctx, size_t task, int thread) {
    const range_job *j = ctx;
    size_t begin = task * j->grain; /* task < ceil(n / grain): no overflow */
    size_t end = j->n - begin < j->grain ? j->n : begin + j->grain;
    j->fn(j->ctx, begin, end, thread);
}

void sa_parallel_for(sa_threadpool *pool, size_t n, size_t grain, sa_range_fn fn, void *ctx) {
    if (n == 0) return;
    if (!pool || pool->n_threads <= 1) {
        fn(ctx, 0, n, 0);
        return;
    }
    if (grain == 0) {
        /* About four ranges per thread: enough to balance uneven rows
         * without paying per-range overhead on tiny ones. */
        size_t parts = (size_t)pool->n_threads * 4;
        grain = n / parts + (n % parts != 0);
    }
    range_job j = {fn, ctx, n, grain};
    size_t n_tasks = n / grain + (n % grain != 0);
    sa_threadpool_run(pool, range_task, &j, n_tasks);
}
