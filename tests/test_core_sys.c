/* test_core_sys.c — thread pool, signal flag, atomic files and paths. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sa/fileio.h"
#include "sa/signal.h"
#include "sa/strbuf.h"
#include "sa/thread.h"
#include "sa_test.h"

/* ---- thread ------------------------------------------------------------------ */

typedef struct count_ctx {
    atomic_int *hits;   /* per task */
    atomic_int bad_thread;
    int n_threads;
    pthread_t caller;
    atomic_int on_caller; /* tasks run by the calling thread */
} count_ctx;

static void count_task(void *p, size_t task, int thread) {
    count_ctx *c = p;
    atomic_fetch_add(&c->hits[task], 1);
    if (thread < 0 || thread >= c->n_threads) atomic_fetch_add(&c->bad_thread, 1);
    if (pthread_equal(pthread_self(), c->caller)) {
        atomic_fetch_add(&c->on_caller, 1);
        if (thread != 0) atomic_fetch_add(&c->bad_thread, 1); /* the caller is thread 0 */
    }
}

static void test_threadpool_runs_every_task_once(sa_test *t) {
    SA_CHECK(t, sa_cpu_count() >= 1);
    sa_err err = {0};
    sa_threadpool pool;
    SA_REQUIRE_OK(t, sa_threadpool_init(&pool, 4, &err), &err);
    SA_CHECK_EQ_INT(t, pool.n_threads, 4);
    enum { N = 1000 };
    static atomic_int hits[N];
    count_ctx c = {.hits = hits, .n_threads = 4, .caller = pthread_self()};
    /* the same pool, reused: no state may leak from one run to the next */
    for (int round = 0; round < 50; round++) {
        size_t n = round % 5 == 4 ? 1 : (size_t)(N - round);
        for (int i = 0; i < N; i++) atomic_store(&hits[i], 0);
        sa_threadpool_run(&pool, count_task, &c, n);
        for (size_t i = 0; i < N; i++)
            SA_REQUIRE(t, atomic_load(&hits[i]) == (i < n ? 1 : 0));
    }
    sa_threadpool_run(&pool, count_task, &c, 0); /* nothing to do: returns at once */
    SA_CHECK_EQ_INT(t, atomic_load(&c.bad_thread), 0);
    sa_threadpool_free(&pool);
    sa_threadpool_free(&pool); /* safe twice */
    SA_CHECK(t, pool.workers == NULL);
}

static void test_threadpool_single_is_inline(sa_test *t) {
    sa_threadpool pool;
    SA_REQUIRE_OK(t, sa_threadpool_init(&pool, 1, NULL), NULL);
    static atomic_int hits[64];
    count_ctx c = {.hits = hits, .n_threads = 1, .caller = pthread_self()};
    sa_threadpool_run(&pool, count_task, &c, 64);
    SA_CHECK_EQ_INT(t, atomic_load(&c.on_caller), 64);
    SA_CHECK_EQ_INT(t, atomic_load(&c.bad_thread), 0);
    sa_threadpool_free(&pool);
    /* 0 threads means one per CPU */
    SA_REQUIRE_OK(t, sa_threadpool_init(&pool, 0, NULL), NULL);
    SA_CHECK_EQ_INT(t, pool.n_threads, sa_cpu_count());
    sa_threadpool_free(&pool);
    sa_threadpool zero;
    memset(&zero, 0, sizeof zero);
    sa_threadpool_free(&zero);
}

typedef struct range_ctx {
    atomic_int *hits;
    atomic_int calls;
    atomic_int bad;
    size_t grain;
    size_t n;
} range_ctx;

static void range_fn(void *p, size_t begin, size_t end, int thread) {
    range_ctx *c = p;
    atomic_fetch_add(&c->calls, 1);
    if (begin >= end || end > c->n || (c->grain && (begin % c->grain != 0 || end - begin > c->grain)))
        atomic_fetch_add(&c->bad, 1);
    for (size_t i = begin; i < end && i < c->n; i++) atomic_fetch_add(&c->hits[i], 1);
    (void)thread;
}

static void test_parallel_for(sa_test *t) {
    sa_threadpool pool;
    SA_REQUIRE_OK(t, sa_threadpool_init(&pool, 3, NULL), NULL);
    enum { N = 1003 };
    static atomic_int hits[N];
    const size_t grains[] = {0, 1, 10, 1003, 5000};
    for (int g = 0; g < 5; g++) {
        for (int i = 0; i < N; i++) atomic_store(&hits[i], 0);
        range_ctx c = {.hits = hits, .grain = grains[g], .n = N};
        sa_parallel_for(&pool, N, grains[g], range_fn, &c);
        int wrong = 0;
        for (int i = 0; i < N; i++) wrong += atomic_load(&hits[i]) != 1;
        SA_CHECKF(t, wrong == 0, "grain %zu: %d items not covered exactly once", grains[g], wrong);
        SA_CHECK_EQ_INT(t, atomic_load(&c.bad), 0);
        if (grains[g] == 10) SA_CHECK_EQ_INT(t, atomic_load(&c.calls), 101);
        if (grains[g] == 0) SA_CHECK_EQ_INT(t, atomic_load(&c.calls), 12); /* 4 per thread */
    }
    /* no pool: one inline call over everything */
    for (int i = 0; i < N; i++) atomic_store(&hits[i], 0);
    range_ctx c = {.hits = hits, .n = N};
    sa_parallel_for(NULL, N, 7, range_fn, &c);
    SA_CHECK_EQ_INT(t, atomic_load(&c.calls), 1);
    sa_parallel_for(&pool, 0, 0, range_fn, &c);
    SA_CHECK_EQ_INT(t, atomic_load(&c.calls), 1);
    sa_threadpool_free(&pool);
}

/* ---- signal -------------------------------------------------------------------- */

static void test_signal_flag(sa_test *t) {
    sa_err err = {0};
    sa_signal_reset();
    SA_REQUIRE_OK(t, sa_signal_install(&err), &err);
    SA_CHECK_EQ_INT(t, sa_signal_pending(), 0);
    SA_CHECK_OK(t, sa_signal_check(&err), &err);
    /* raise() runs the handler before it returns, in this thread */
    SA_REQUIRE(t, raise(SIGINT) == 0);
    SA_CHECK_EQ_INT(t, sa_signal_pending(), SIGINT);
    SA_CHECK_EQ_INT(t, sa_signal_check(&err), SA_ERR_INTERRUPTED);
    SA_CHECK_STR(t, err.msg, "interrupted by SIGINT");
    sa_signal_reset();
    SA_CHECK_EQ_INT(t, sa_signal_pending(), 0);
    SA_REQUIRE(t, raise(SIGTERM) == 0);
    SA_CHECK_EQ_INT(t, sa_signal_pending(), SIGTERM);
    sa_signal_reset();
    SA_CHECK_OK(t, sa_signal_install(&err), &err); /* idempotent */
    sa_signal_uninstall();
    struct sigaction cur;
    sigaction(SIGINT, NULL, &cur);
    SA_CHECK(t, cur.sa_handler == SIG_DFL);
}

static void test_signal_second_one_kills(sa_test *t) {
    /* In a child: the first SIGINT sets the flag, the second terminates the
     * process the default way. */
    fflush(NULL);
    pid_t pid = fork();
    SA_REQUIRE(t, pid >= 0);
    if (pid == 0) {
        if (sa_signal_install(NULL) != SA_OK) _exit(10);
        raise(SIGINT);
        if (sa_signal_pending() != SIGINT) _exit(11);
        raise(SIGINT);
        _exit(12); /* not reached */
    }
    int status = 0;
    SA_REQUIRE(t, waitpid(pid, &status, 0) == pid);
    SA_CHECKF(t, WIFSIGNALED(status) && WTERMSIG(status) == SIGINT, "child status %#x", status);
}

/* ---- fileio ----------------------------------------------------------------------- */

static bool read_text(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return true;
}

/* Number of entries in dir whose name contains ".tmp.". */
static int count_temps(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static void test_atomic_commit_replaces(sa_test *t) {
    sa_err err = {0};
    char dir[600], path[700], buf[256];
    snprintf(dir, sizeof dir, "%s/commit", sa_test_tmpdir(t));
    SA_REQUIRE_OK(t, sa_mkdir_p(dir, 0755, &err), &err);
    snprintf(path, sizeof path, "%s/stats.json", dir);

    SA_REQUIRE_OK(t, sa_file_write_atomic(path, "old\n", 4, &err), &err);
    SA_REQUIRE(t, read_text(path, buf, sizeof buf));
    SA_CHECK_STR(t, buf, "old\n");

    sa_atomic_file af;
    SA_REQUIRE_OK(t, sa_atomic_open(&af, path, &err), &err);
    char expect_prefix[720];
    snprintf(expect_prefix, sizeof expect_prefix, "%s.tmp.%ld.", path, (long)getpid());
    SA_CHECK(t, strncmp(af.tmp_path, expect_prefix, strlen(expect_prefix)) == 0);
    SA_CHECK_EQ_INT(t, strlen(af.tmp_path), strlen(expect_prefix) + 8);
    SA_CHECK_OK(t, sa_atomic_write(&af, "{\"n\": ", 6, &err), &err);
    SA_CHECK_OK(t, sa_atomic_printf(&af, &err, "%d}\n", 17), &err);
    /* before commit, readers still see the old file */
    SA_REQUIRE(t, read_text(path, buf, sizeof buf));
    SA_CHECK_STR(t, buf, "old\n");
    SA_CHECK_EQ_INT(t, count_temps(dir), 1);
    SA_REQUIRE_OK(t, sa_atomic_commit(&af, &err), &err);
    SA_REQUIRE(t, read_text(path, buf, sizeof buf));
    SA_CHECK_STR(t, buf, "{\"n\": 17}\n");
    SA_CHECK_EQ_INT(t, count_temps(dir), 0);
    SA_CHECK(t, af.fp == NULL && af.path == NULL);
    sa_atomic_abort(&af); /* after commit: no-op */
    SA_REQUIRE(t, read_text(path, buf, sizeof buf));
    SA_CHECK_STR(t, buf, "{\"n\": 17}\n");
    SA_CHECK_EQ_INT(t, sa_atomic_commit(&af, &err), SA_ERR_INVALID_ARG);

    /* a large write round-trips; read_all gets it back */
    size_t big_n = 3u << 20;
    char *big = malloc(big_n);
    SA_REQUIRE(t, big);
    for (size_t i = 0; i < big_n; i++) big[i] = (char)(i * 7 + (i >> 11));
    SA_CHECK_OK(t, sa_file_write_atomic(path, big, big_n, &err), &err);
    sa_strbuf sb = {0};
    SA_CHECK_OK(t, sa_file_read_strbuf(path, &sb, &err), &err);
    SA_CHECK(t, sb.len == big_n && memcmp(sb.buf, big, big_n) == 0);
    free(big);
    /* an empty file reads as "" */
    SA_CHECK_OK(t, sa_file_write_atomic(path, NULL, 0, &err), &err);
    SA_CHECK_OK(t, sa_file_read_strbuf(path, &sb, &err), &err);
    SA_CHECK(t, sb.len == 0 && sb.buf && sb.buf[0] == '\0');
    sa_strbuf_free(&sb);
    SA_CHECK_EQ_INT(t, count_temps(dir), 0);
}

static void test_atomic_abort_and_crash_keep_old(sa_test *t) {
    sa_err err = {0};
    char dir[600], path[700], buf[256];
    snprintf(dir, sizeof dir, "%s/abort", sa_test_tmpdir(t));
    SA_REQUIRE_OK(t, sa_mkdir_p(dir, 0755, &err), &err);
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    SA_REQUIRE_OK(t, sa_file_write_atomic(path, "precious", 8, &err), &err);

    /* abort: old contents, no temp file */
    sa_atomic_file af;
    SA_REQUIRE_OK(t, sa_atomic_open(&af, path, &err), &err);
    SA_CHECK_OK(t, sa_atomic_printf(&af, &err, "half-written %s", "junk"), &err);
    sa_atomic_abort(&af);
    SA_REQUIRE(t, read_text(path, buf, sizeof buf));
    SA_CHECK_STR(t, buf, "precious");
    SA_CHECK_EQ_INT(t, count_temps(dir), 0);
    sa_atomic_abort(&af); /* twice: harmless */

    /* simulated crash: the writer dies after writing, without commit or
     * abort. The destination is intact; only a stray temp file remains. */
    SA_REQUIRE_OK(t, sa_atomic_open(&af, path, &err), &err);
    SA_CHECK_OK(t, sa_atomic_write(&af, "torn", 4, &err), &err);
    fclose(af.fp); /* what the kernel does for a dead process */
    char stray[800];
    snprintf(stray, sizeof stray, "%s", af.tmp_path);
    free(af.path);
    free(af.tmp_path);
    SA_REQUIRE(t, read_text(path, buf, sizeof buf));
    SA_CHECK_STR(t, buf, "precious");
    SA_CHECK_EQ_INT(t, count_temps(dir), 1);
    SA_CHECK(t, sa_path_exists(stray));
    unlink(stray);

    /* two writers on one path get distinct temp files; the last commit wins */
    sa_atomic_file a1, a2;
    SA_REQUIRE_OK(t, sa_atomic_open(&a1, path, &err), &err);
    SA_REQUIRE_OK(t, sa_atomic_open(&a2, path, &err), &err);
    SA_CHECK(t, strcmp(a1.tmp_path, a2.tmp_path) != 0);
    SA_CHECK_OK(t, sa_atomic_write(&a1, "one", 3, &err), &err);
    SA_CHECK_OK(t, sa_atomic_write(&a2, "two", 3, &err), &err);
    SA_CHECK_OK(t, sa_atomic_commit(&a1, &err), &err);
    SA_CHECK_OK(t, sa_atomic_commit(&a2, &err), &err);
    SA_REQUIRE(t, read_text(path, buf, sizeof buf));
    SA_CHECK_STR(t, buf, "two");
    SA_CHECK_EQ_INT(t, count_temps(dir), 0);
}

static void test_atomic_errors_name_path(sa_test *t) {
    sa_err err = {0};
    char path[800];
    /* missing directory */
    snprintf(path, sizeof path, "%s/no/such/dir/out.json", sa_test_tmpdir(t));
    sa_atomic_file af;
    SA_CHECK_EQ_INT(t, sa_atomic_open(&af, path, &err), SA_ERR_IO);
    SA_CHECKF(t, strstr(err.msg, path) && strstr(err.msg, strerror(ENOENT)), "msg: %s", err.msg);
    SA_CHECK(t, af.fp == NULL && af.path == NULL);
    sa_atomic_abort(&af); /* harmless after a failed open */
    SA_CHECK_EQ_INT(t, sa_file_write_atomic(path, "x", 1, &err), SA_ERR_IO);

    /* parent is a regular file (a chmod-based test would pass as root) */
    char file[700];
    snprintf(file, sizeof file, "%s/regular", sa_test_tmpdir(t));
    SA_REQUIRE(t, sa_test_write_file(t, file, "x", 1));
    snprintf(path, sizeof path, "%s/out.json", file);
    SA_CHECK_EQ_INT(t, sa_file_write_atomic(path, "x", 1, &err), SA_ERR_IO);
    SA_CHECKF(t, strstr(err.msg, path) && strstr(err.msg, strerror(ENOTDIR)), "msg: %s", err.msg);

    /* a write that fails (the device is full) poisons the commit; the old
     * file survives and the temp file is removed */
    if (sa_path_exists("/dev/full")) {
        sa_atomic_file full = {0};
        full.fp = fopen("/dev/full", "wb");
        SA_REQUIRE(t, full.fp);
        full.path = strdup("/dev/null-dest-never-written");
        full.tmp_path = strdup("/dev/full");
        /* go through printf + commit: the error surfaces at flush at the latest */
        sa_atomic_printf(&full, &err, "%s", "data");
        /* do not unlink /dev/full: detach the temp name before commit's cleanup */
        free(full.tmp_path);
        full.tmp_path = strdup("/nonexistent-tmp-for-test");
        SA_CHECK_EQ_INT(t, sa_atomic_commit(&full, &err), SA_ERR_IO);
        SA_CHECKF(t, strstr(err.msg, "/dev/null-dest-never-written") &&
                         strstr(err.msg, strerror(ENOSPC)),
                  "msg: %s", err.msg);
        SA_CHECK(t, !sa_path_exists("/dev/null-dest-never-written"));
    }

    SA_CHECK_EQ_INT(t, sa_atomic_open(&af, "", &err), SA_ERR_INVALID_ARG);
    sa_strbuf sb = {0};
    snprintf(path, sizeof path, "%s/missing.txt", sa_test_tmpdir(t));
    SA_CHECK_EQ_INT(t, sa_file_read_strbuf(path, &sb, &err), SA_ERR_IO);
    SA_CHECKF(t, strstr(err.msg, path) && strstr(err.msg, strerror(ENOENT)), "msg: %s", err.msg);
    sa_strbuf_free(&sb);
}

static void test_mkdir_p_and_paths(sa_test *t) {
    sa_err err = {0};
    char path[700], buf[800];
    const char *tmp = sa_test_tmpdir(t);
    snprintf(path, sizeof path, "%s/mk/a//b/c/", tmp);
    SA_CHECK_OK(t, sa_mkdir_p(path, 0755, &err), &err);
    snprintf(buf, sizeof buf, "%s/mk/a/b/c", tmp);
    SA_CHECK(t, sa_path_is_dir(buf));
    SA_CHECK_OK(t, sa_mkdir_p(path, 0755, &err), &err); /* already there: fine */
    SA_CHECK_OK(t, sa_mkdir_p(tmp, 0755, &err), &err);

    /* through a regular file */
    snprintf(buf, sizeof buf, "%s/mk/file", tmp);
    SA_REQUIRE(t, sa_test_write_file(t, buf, "x", 1));
    SA_CHECK(t, sa_path_exists(buf) && !sa_path_is_dir(buf));
    snprintf(path, sizeof path, "%s/mk/file/sub/dir", tmp);
    SA_CHECK_EQ_INT(t, sa_mkdir_p(path, 0755, &err), SA_ERR_IO);
    SA_CHECKF(t, strstr(err.msg, path) && strstr(err.msg, "exists and is not a directory"),
              "msg: %s", err.msg);
    SA_CHECK_EQ_INT(t, sa_mkdir_p(buf, 0755, &err), SA_ERR_IO); /* the file itself */
    SA_CHECK_EQ_INT(t, sa_mkdir_p("", 0755, &err), SA_ERR_INVALID_ARG);
    snprintf(path, sizeof path, "%s/mk/nope", tmp);
    SA_CHECK(t, !sa_path_exists(path) && !sa_path_is_dir(path));
    SA_CHECK(t, sa_path_is_dir("/"));

    /* relative path, created from the current directory */
    char cwd[600];
    SA_REQUIRE(t, getcwd(cwd, sizeof cwd));
    SA_REQUIRE(t, chdir(tmp) == 0);
    SA_CHECK_OK(t, sa_mkdir_p("rel/x", 0700, &err), &err);
    SA_CHECK(t, sa_path_is_dir("rel/x"));
    SA_CHECK_OK(t, sa_file_write_atomic("rel/x/f", "ok", 2, &err), &err); /* dir of a relative path */
    SA_CHECK_OK(t, sa_file_write_atomic("top", "ok", 2, &err), &err);      /* no slash: "." */
    SA_CHECK(t, sa_path_exists("top"));
    SA_REQUIRE(t, chdir(cwd) == 0);

    sa_strbuf sb = {0};
    struct { const char *a, *b, *want; } cases[] = {
        {"run", "out.jsonl", "run/out.jsonl"},
        {"run/", "out.jsonl", "run/out.jsonl"},
        {"run//", "/out.jsonl", "run/out.jsonl"},
        {"run", "/abs", "run/abs"},
        {"/", "x", "/x"},
        {"", "x", "x"},
        {"", "/x", "/x"},
        {"run", "", "run"},
        {"a/b", "c/d", "a/b/c/d"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        SA_CHECK_OK(t, sa_path_join(&sb, cases[i].a, cases[i].b), NULL);
        SA_CHECK_STR(t, sa_strbuf_cstr(&sb), cases[i].want);
    }
    sa_strbuf_free(&sb);
}

static const sa_test_def tests[] = {
    {"threadpool_runs_every_task_once", test_threadpool_runs_every_task_once},
    {"threadpool_single_is_inline", test_threadpool_single_is_inline},
    {"parallel_for", test_parallel_for},
    {"signal_flag", test_signal_flag},
    {"signal_second_one_kills", test_signal_second_one_kills},
    {"atomic_commit_replaces", test_atomic_commit_replaces},
    {"atomic_abort_and_crash_keep_old", test_atomic_abort_and_crash_keep_old},
    {"atomic_errors_name_path", test_atomic_errors_name_path},
    {"mkdir_p_and_paths", test_mkdir_p_and_paths},
};
SA_TEST_MAIN(tests)
