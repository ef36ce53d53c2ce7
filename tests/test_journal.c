/* test_journal.c — the crash-safe journal: torn-tail repair in both
 * directions, resume with has(), duplicate refusal, bad middle lines kept and
 * reported, the fsync policy, the writer lock, and four threads appending
 * concurrently without tearing a line. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "sa/journal.h"
#include "sa/jsonl.h"
#include "sa_test.h"

static json_t *rec(const char *id, int v) {
    return json_pack("{s:s, s:i, s:s}", "id", id, "v", v, "text", "some text\nwith a newline");
}

static void idname(char *buf, size_t n, int i) { snprintf(buf, n, "id%04d", i); }

/* Count valid records and bad lines in a file with the JSONL reader. */
static void count_file(const char *path, uint64_t *valid, uint64_t *bad) {
    sa_jsonl_reader r;
    *valid = *bad = 0;
    if (sa_jsonl_reader_open(&r, path, NULL, NULL) != SA_OK) return;
    json_t *o;
    while (sa_jsonl_next(&r, &o, NULL, NULL) == SA_OK) {
        (*valid)++;
        json_decref(o);
    }
    *bad = sa_jsonl_stats_bad(&r.stats);
    sa_jsonl_reader_close(&r);
}

static bool append_raw(const char *path, const char *bytes) {
    FILE *f = fopen(path, "ab");
    if (!f) return false;
    bool ok = fwrite(bytes, 1, strlen(bytes), f) == strlen(bytes);
    return fclose(f) == 0 && ok;
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void test_resume_after_torn_write(sa_test *t) {
    const char *p = sa_test_tmpfile(t, "resume.jsonl");
    char path[1024];
    snprintf(path, sizeof path, "%s", p);
    sa_journal j;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_journal_open(&j, path, NULL, &e), &e);
    char id[32];
    for (int i = 0; i < 50; i++) {
        idname(id, sizeof id, i);
        json_t *o = rec(id, i);
        SA_CHECK_OK(t, sa_journal_append(&j, o, &e), &e);
        json_decref(o);
    }
    SA_CHECK_EQ_INT(t, sa_journal_count(&j), 50);
    SA_CHECK_OK(t, sa_journal_close(&j, &e), &e);
    uint64_t valid, bad;
    count_file(path, &valid, &bad);
    SA_CHECK_EQ_INT(t, valid, 50);

    /* The crash: half a record written by hand after the last newline. */
    const char torn[] = "{\"id\":\"id0050\",\"v\":50,\"te";
    SA_REQUIRE(t, append_raw(path, torn));
    long size_torn = file_size(path);
    SA_REQUIRE_OK(t, sa_journal_open(&j, path, NULL, &e), &e);
    SA_CHECK_EQ_INT(t, j.stats.torn_bytes_dropped, strlen(torn));
    SA_CHECK(t, !j.stats.torn_line_kept);
    SA_CHECK_EQ_INT(t, j.stats.existing, 50);
    SA_CHECK_EQ_INT(t, j.stats.bad_lines, 0);
    SA_CHECK_EQ_INT(t, file_size(path), size_torn - (long)strlen(torn));
    for (int i = 0; i < 60; i++) {
        idname(id, sizeof id, i);
        SA_CHECKF(t, sa_journal_has(&j, id) == (i < 50), "has(%s)", id);
    }
    SA_CHECK(t, !sa_journal_has(&j, "nope"));
    /* Resume: skip what is done, append the rest; a duplicate is refused. */
    int appended = 0;
    for (int i = 0; i < 60; i++) {
        idname(id, sizeof id, i);
        if (sa_journal_has(&j, id)) continue;
        json_t *o = rec(id, i);
        SA_CHECK_OK(t, sa_journal_append(&j, o, &e), &e);
        json_decref(o);
        appended++;
    }
    SA_CHECK_EQ_INT(t, appended, 10);
    json_t *dup = rec("id0003", 3);
    long before = file_size(path);
    SA_CHECK_EQ_INT(t, sa_journal_append(&j, dup, &e), SA_ERR_INVALID_ARG);
    SA_CHECKF(t, strstr(e.msg, "id0003 is already journaled") != NULL, "%s", e.msg);
    SA_CHECK_EQ_INT(t, file_size(path), before);
    json_decref(dup);
    SA_CHECK_EQ_INT(t, sa_journal_count(&j), 60);
    SA_CHECK_OK(t, sa_journal_close(&j, &e), &e);
    count_file(path, &valid, &bad);
    SA_CHECK_EQ_INT(t, valid, 60);
    SA_CHECK_EQ_INT(t, bad, 0);

    /* Reopening a clean journal changes nothing. */
    long clean = file_size(path);
    SA_REQUIRE_OK(t, sa_journal_open(&j, path, NULL, &e), &e);
    SA_CHECK_EQ_INT(t, j.stats.torn_bytes_dropped, 0);
    SA_CHECK_EQ_INT(t, j.stats.existing, 60);
    sa_journal_close(&j, NULL);
    SA_CHECK_EQ_INT(t, file_size(path), clean);
}

/* The other torn case: a complete object whose '\n' never made it. */
static void test_torn_complete_object_kept(sa_test *t) {
    const char *p = sa_test_tmpfile(t, "kept.jsonl");
    char path[1024];
    snprintf(path, sizeof path, "%s", p);
    SA_REQUIRE(t, append_raw(path, "{\"id\":\"a\",\"v\":1}\n{\"id\":\"b\",\"v\":2}"));
    uint64_t valid, bad;
    count_file(path, &valid, &bad);
    SA_CHECK_EQ_INT(t, valid, 2);
    sa_journal j;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_journal_open(&j, path, NULL, &e), &e);
    SA_CHECK(t, j.stats.torn_line_kept);
    SA_CHECK_EQ_INT(t, j.stats.torn_bytes_dropped, 0);
    SA_CHECK(t, sa_journal_has(&j, "a") && sa_journal_has(&j, "b"));
    json_t *o = rec("c", 3);
    SA_CHECK_OK(t, sa_journal_append(&j, o, &e), &e);
    json_decref(o);
    sa_journal_close(&j, NULL);
    count_file(path, &valid, &bad);
    SA_CHECK_EQ_INT(t, valid, 3); /* nothing valid lost, and "c" did not glue onto "b" */
    SA_CHECK_EQ_INT(t, bad, 0);

    /* A file that is one torn line and nothing else becomes empty. */
    const char *p2 = sa_test_tmpfile(t, "allgarbage.jsonl");
    SA_REQUIRE(t, append_raw(p2, "{\"id\":\"x\",\"v"));
    SA_REQUIRE_OK(t, sa_journal_open(&j, p2, NULL, &e), &e);
    SA_CHECK_EQ_INT(t, j.stats.torn_bytes_dropped, 12);
    SA_CHECK_EQ_INT(t, sa_journal_count(&j), 0);
    sa_journal_close(&j, NULL);
    SA_CHECK_EQ_INT(t, file_size(p2), 0);
}

typedef struct bad_log {
    int n;
    uint64_t lines[8];
} bad_log;

static void on_bad(void *ctx, const char *path, uint64_t line, const char *reason) {
    bad_log *b = ctx;
    if (b->n < 8) b->lines[b->n] = line;
    b->n++;
}

static void test_bad_middle_lines_kept(sa_test *t) {
    const char *p = sa_test_tmpfile(t, "middle.jsonl");
    char path[1024];
    snprintf(path, sizeof path, "%s", p);
    SA_REQUIRE(t, append_raw(path, "{\"id\":\"a\"}\n{broken\n{\"no_id\":1}\n[1]\n{\"id\":\"b\"}\n"
                                   "{\"id\":\"a\"}\n"));
    long size = file_size(path);
    bad_log log = {0};
    sa_journal_opts o = sa_journal_default_opts();
    o.on_bad = on_bad;
    o.ctx = &log;
    sa_journal j;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_journal_open(&j, path, &o, &e), &e);
    SA_CHECK_EQ_INT(t, j.stats.bad_lines, 2);
    SA_CHECK_EQ_INT(t, j.stats.existing, 2);
    SA_CHECK_EQ_INT(t, j.stats.existing_no_id, 1);
    SA_CHECK_EQ_INT(t, j.stats.existing_dup_ids, 1);
    SA_REQUIRE(t, log.n == 2);
    SA_CHECK(t, log.lines[0] == 2 && log.lines[1] == 4);
    SA_CHECK_EQ_INT(t, file_size(path), size); /* reported, not deleted */
    /* A record without an id is refused. */
    json_t *noid = json_pack("{s:i}", "v", 1);
    SA_CHECK_EQ_INT(t, sa_journal_append(&j, noid, &e), SA_ERR_INVALID_ARG);
    json_decref(noid);
    sa_journal_close(&j, NULL);

    /* A record the scan could not read back is refused, so it cannot be
     * appended again after a restart. */
    o.max_line_bytes = 64;
    o.on_bad = NULL;
    SA_REQUIRE_OK(t, sa_journal_open(&j, path, &o, &e), &e);
    json_t *big = json_pack("{s:s, s:s}", "id", "big",
                            "text", "0123456789012345678901234567890123456789012345678901234567890");
    SA_CHECK_EQ_INT(t, sa_journal_append(&j, big, &e), SA_ERR_RANGE);
    SA_CHECKF(t, strstr(e.msg, "over the 64-byte line limit") != NULL, "%s", e.msg);
    SA_CHECK(t, !sa_journal_has(&j, "big"));
    SA_CHECK_EQ_INT(t, file_size(path), size);
    json_decref(big);
    sa_journal_close(&j, NULL);
}

static void test_fsync_policy_and_lock(sa_test *t) {
    const char *p = sa_test_tmpfile(t, "sync.jsonl");
    char path[1024];
    snprintf(path, sizeof path, "%s", p);
    sa_journal_opts o = {.fsync_every_n = 10, .fsync_every_ms = 0};
    sa_journal j;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_journal_open(&j, path, &o, &e), &e);
    char id[32];
    for (int i = 0; i < 25; i++) {
        idname(id, sizeof id, i);
        json_t *r = rec(id, i);
        SA_CHECK_OK(t, sa_journal_append(&j, r, &e), &e);
        json_decref(r);
    }
    SA_CHECK_EQ_INT(t, j.stats.fsyncs, 2);
    SA_CHECK_OK(t, sa_journal_flush(&j, &e), &e);
    SA_CHECK_EQ_INT(t, j.stats.fsyncs, 3);
    /* A second writer on the same file is refused while the first is open. */
    sa_journal j2;
    SA_CHECK_EQ_INT(t, sa_journal_open(&j2, path, NULL, &e), SA_ERR_IO);
    SA_CHECKF(t, strstr(e.msg, "locked") != NULL, "%s", e.msg);
    sa_journal_close(&j, NULL);
    SA_CHECK_OK(t, sa_journal_open(&j2, path, NULL, &e), &e);
    SA_CHECK_EQ_INT(t, sa_journal_count(&j2), 25);
    sa_journal_close(&j2, NULL);
    sa_journal_close(&j2, NULL); /* double close is harmless */
    /* A missing directory is an I/O error naming the path. */
    SA_CHECK_EQ_INT(t, sa_journal_open(&j2, "/nonexistent-dir/out.jsonl", NULL, &e), SA_ERR_IO);
    SA_CHECKF(t, strstr(e.msg, "/nonexistent-dir/out.jsonl") != NULL, "%s", e.msg);
}

#define THREADS 4
#define PER_THREAD 400

typedef struct worker {
    sa_journal *j;
    int tid;
    int ok, dup_ok, failures;
} worker;

static void *work(void *arg) {
    worker *w = arg;
    char id[32], text[2100];
    for (int i = 0; i < PER_THREAD; i++) {
        snprintf(id, sizeof id, "t%d-%d", w->tid, i);
        /* Lines of very different lengths make torn interleaving visible. */
        int len = (i * 37 + w->tid * 101) % 2000;
        memset(text, 'a' + w->tid, (size_t)len);
        text[len] = '\0';
        json_t *o = json_pack("{s:s, s:i, s:i, s:s}", "id", id, "tid", w->tid, "i", i, "text", text);
        if (sa_journal_append(w->j, o, NULL) == SA_OK) w->ok++;
        else w->failures++;
        json_decref(o);
        if (i % 50 == 0) {
            json_t *s = json_pack("{s:s}", "id", "shared");
            if (sa_journal_append(w->j, s, NULL) == SA_OK) w->dup_ok++;
            json_decref(s);
        }
    }
    return NULL;
}

static void test_concurrent_appends(sa_test *t) {
    const char *p = sa_test_tmpfile(t, "threads.jsonl");
    char path[1024];
    snprintf(path, sizeof path, "%s", p);
    sa_journal_opts o = {.fsync_every_n = 200, .fsync_every_ms = 0};
    sa_journal j;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_journal_open(&j, path, &o, &e), &e);
    pthread_t th[THREADS];
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.j = &j, .tid = i};
        SA_REQUIRE(t, pthread_create(&th[i], NULL, work, &w[i]) == 0);
    }
    int ok = 0, dup_ok = 0, failures = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        ok += w[i].ok;
        dup_ok += w[i].dup_ok;
        failures += w[i].failures;
    }
    SA_CHECK_EQ_INT(t, ok, THREADS * PER_THREAD);
    SA_CHECK_EQ_INT(t, failures, 0);
    SA_CHECK_EQ_INT(t, dup_ok, 1); /* "shared" went in exactly once */
    SA_CHECK_EQ_INT(t, sa_journal_count(&j), THREADS * PER_THREAD + 1);
    SA_CHECK_OK(t, sa_journal_close(&j, &e), &e);

    /* Every line is intact and each thread's records are all there, in order. */
    sa_jsonl_reader r;
    SA_REQUIRE_OK(t, sa_jsonl_reader_open(&r, path, NULL, &e), &e);
    int next_i[THREADS] = {0};
    json_t *obj;
    int n = 0, in_order = 1, text_ok = 1;
    while (sa_jsonl_next(&r, &obj, NULL, &e) == SA_OK) {
        n++;
        json_t *tid = json_object_get(obj, "tid");
        if (tid) {
            int ti = (int)json_integer_value(tid), i = (int)json_integer_value(json_object_get(obj, "i"));
            if (ti < 0 || ti >= THREADS || i != next_i[ti]) in_order = 0;
            else next_i[ti]++;
            const char *text = json_string_value(json_object_get(obj, "text"));
            size_t len = (size_t)((i * 37 + ti * 101) % 2000);
            if (!text || strlen(text) != len || (len && (text[0] != 'a' + ti || text[len - 1] != 'a' + ti)))
                text_ok = 0;
        }
        json_decref(obj);
    }
    SA_CHECK_EQ_INT(t, n, THREADS * PER_THREAD + 1);
    SA_CHECK_EQ_INT(t, sa_jsonl_stats_bad(&r.stats), 0);
    SA_CHECK(t, in_order);
    SA_CHECK(t, text_ok);
    sa_jsonl_reader_close(&r);
}

static const sa_test_def tests[] = {
    {"resume_after_torn_write", test_resume_after_torn_write},
    {"torn_complete_object_kept", test_torn_complete_object_kept},
    {"bad_middle_lines_kept", test_bad_middle_lines_kept},
    {"fsync_policy_and_lock", test_fsync_policy_and_lock},
    {"concurrent_appends", test_concurrent_appends},
};
SA_TEST_MAIN(tests)
