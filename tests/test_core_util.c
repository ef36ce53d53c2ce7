/* test_core_util.c — log, progress, arena and rng. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sa/arena.h"
#include "sa/log.h"
#include "sa/progress.h"
#include "sa/rng.h"
#include "sa_test.h"

/* Everything written to f so far, NUL-terminated, in buf (cap bytes). */
static size_t slurp(FILE *f, char *buf, size_t cap) {
    fflush(f);
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    return n;
}

/* Empty f again so the next check sees only new output. */
static void clear(FILE *f) {
    fflush(f);
    rewind(f);
    if (ftruncate(fileno(f), 0) != 0) perror("ftruncate");
}

/* ---- log ------------------------------------------------------------------ */

static void test_log_format_and_levels(sa_test *t) {
    FILE *f = tmpfile();
    SA_REQUIRE(t, f);
    sa_log log;
    sa_log_init(&log, SA_LOG_LEVEL_INFO, f);
    SA_CHECK(t, log.timestamps);
    log.timestamps = false;
    log.prefix = "curate";
    SA_LOG_INFO(&log, "scored %d records", 42);
    SA_LOG_DEBUG(&log, "hidden %d", 1);  /* above the level */
    SA_LOG_WARN(&log, "two newlines\n\n"); /* trailing newlines collapse to one */
    SA_LOG_ERROR(&log, "bad");
    SA_CHECK(t, sa_log_enabled(&log, SA_LOG_LEVEL_INFO));
    SA_CHECK(t, !sa_log_enabled(&log, SA_LOG_LEVEL_DEBUG));
    SA_CHECK(t, !sa_log_enabled(NULL, SA_LOG_LEVEL_ERROR));
    char buf[4096];
    slurp(f, buf, sizeof buf);
    SA_CHECK_STR(t, buf, "info  curate: scored 42 records\n"
                         "warn  curate: two newlines\n"
                         "error curate: bad\n");

    /* NULL log and NULL out are silent, not crashes */
    SA_LOG_ERROR((const sa_log *)NULL, "nothing %s", "here");
    sa_log quiet;
    sa_log_init(&quiet, SA_LOG_LEVEL_TRACE, NULL);
    SA_LOG_ERROR(&quiet, "nothing");

    /* timestamp shape: "YYYY-MM-DD HH:MM:SS.mmm info  x" */
    clear(f);
    log.timestamps = true;
    log.prefix = NULL;
    SA_LOG_INFO(&log, "x");
    /* a prefix longer than the header buffer is cut, the message kept */
    char longpre[400];
    memset(longpre, 'p', sizeof longpre - 1);
    longpre[sizeof longpre - 1] = '\0';
    sa_log lp = log;
    lp.prefix = longpre;
    lp.timestamps = false;
    FILE *g = tmpfile();
    SA_REQUIRE(t, g);
    lp.out = g;
    SA_LOG_INFO(&lp, "msg");
    static char gbuf[1024];
    size_t gn = slurp(g, gbuf, sizeof gbuf);
    SA_CHECK(t, gn > 10 && strncmp(gbuf, "info  ppp", 9) == 0 && strcmp(gbuf + gn - 4, "msg\n") == 0);
    fclose(g);
    size_t n = slurp(f, buf, sizeof buf);
    const char *shape = "dddd-dd-dd dd:dd:dd.ddd info  x\n";
    SA_CHECK_EQ_INT(t, n, strlen(shape));
    for (size_t i = 0; i < n && i < strlen(shape); i++) {
        if (shape[i] == 'd') SA_CHECKF(t, buf[i] >= '0' && buf[i] <= '9', "byte %zu: %s", i, buf);
        else SA_CHECKF(t, buf[i] == shape[i], "byte %zu: %s", i, buf);
    }
    fclose(f);
}

static void test_log_long_line(sa_test *t) {
    FILE *f = tmpfile();
    SA_REQUIRE(t, f);
    sa_log log;
    sa_log_init(&log, SA_LOG_LEVEL_TRACE, f);
    log.timestamps = false;
    char big[5000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    SA_LOG_TRACE(&log, "%s|end", big);
    static char buf[8192];
    size_t n = slurp(f, buf, sizeof buf);
    SA_CHECK_EQ_INT(t, n, 6 + 4999 + 4 + 1);
    SA_CHECK(t, strncmp(buf, "trace zzz", 9) == 0);
    SA_CHECK(t, n > 5 && strcmp(buf + n - 5, "|end\n") == 0);
    fclose(f);
}

static void test_log_level_parse(sa_test *t) {
    sa_log_level l = SA_LOG_LEVEL_ERROR;
    SA_CHECK_OK(t, sa_log_level_parse("INFO", &l), NULL);
    SA_CHECK_EQ_INT(t, l, SA_LOG_LEVEL_INFO);
    SA_CHECK_OK(t, sa_log_level_parse("warning", &l), NULL);
    SA_CHECK_EQ_INT(t, l, SA_LOG_LEVEL_WARN);
    SA_CHECK_OK(t, sa_log_level_parse("trace", &l), NULL);
    SA_CHECK_EQ_INT(t, l, SA_LOG_LEVEL_TRACE);
    SA_CHECK_EQ_INT(t, sa_log_level_parse("verbose", &l), SA_ERR_INVALID_ARG);
    SA_CHECK_EQ_INT(t, sa_log_level_parse("", &l), SA_ERR_INVALID_ARG);
    SA_CHECK_EQ_INT(t, sa_log_level_parse(NULL, &l), SA_ERR_INVALID_ARG);
    SA_CHECK_EQ_INT(t, l, SA_LOG_LEVEL_TRACE); /* unchanged on failure */
    SA_CHECK_STR(t, sa_log_level_name(SA_LOG_LEVEL_DEBUG), "debug");
    SA_CHECK_STR(t, sa_log_level_name((sa_log_level)99), "?");
}

typedef struct log_thread_arg {
    const sa_log *log;
    int id;
} log_thread_arg;

static void *log_thread(void *p) {
    const log_thread_arg *a = p;
    /* ~1.5 KB lines: longer than the stack buffer and than a pipe's atomic
     * write unit, so interleaving would show if the locking were wrong. */
    char pad[1500];
    memset(pad, 'a' + a->id, sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    for (int i = 0; i < 200; i++) SA_LOG_INFO(a->log, "t%d n%03d %s", a->id, i, pad);
    return NULL;
}

static void test_log_threads_no_interleave(sa_test *t) {
    FILE *f = tmpfile();
    SA_REQUIRE(t, f);
    sa_log log;
    sa_log_init(&log, SA_LOG_LEVEL_INFO, f);
    log.timestamps = false;
    pthread_t th[4];
    log_thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (log_thread_arg){&log, i};
        SA_REQUIRE(t, pthread_create(&th[i], NULL, log_thread, &args[i]) == 0);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    rewind(f);
    static char line[4096];
    int count[4] = {0}, bad = 0;
    while (fgets(line, sizeof line, f)) {
        int id = -1, n = -1;
        if (sscanf(line, "info  t%d n%d ", &id, &n) != 2 || id < 0 || id > 3) {
            bad++;
            continue;
        }
        /* the padding must be 1499 copies of this thread's letter */
        const char *pad = strchr(line + 6, ' ');
        pad = pad ? strchr(pad + 1, ' ') : NULL;
        size_t k = 0;
        if (pad)
            for (pad++; pad[k] == 'a' + id; k++) {
            }
        if (k != 1499 || pad[k] != '\n') bad++;
        else count[id]++;
    }
    SA_CHECK_EQ_INT(t, bad, 0);
    for (int i = 0; i < 4; i++) SA_CHECK_EQ_INT(t, count[i], 200);
    fclose(f);
}

/* ---- progress ---------------------------------------------------------------- */

typedef struct fake_clock {
    double now;
} fake_clock;

static double fake_now(void *ctx) { return ((fake_clock *)ctx)->now; }

static void test_progress_plain(sa_test *t) {
    FILE *f = tmpfile();
    SA_REQUIRE(t, f);
    fake_clock c = {100.0};
    sa_progress p;
    sa_progress_init(&p, "gen", 100, f);
    SA_CHECK_EQ_INT(t, p.mode, SA_PROGRESS_MODE_PLAIN); /* a tmpfile is not a tty */
    sa_progress_set_clock(&p, fake_now, &c);
    char buf[1024];

    c.now = 101;
    sa_progress_add(&p, 10);
    SA_CHECK_EQ_INT(t, slurp(f, buf, sizeof buf), 0); /* not due before 10 s */
    c.now = 110;
    sa_progress_add(&p, 40);
    slurp(f, buf, sizeof buf);
    SA_CHECK_STR(t, buf, "gen: 50/100 (50.0%) 5.0/s ETA 0:10\n");
    c.now = 115;
    sa_progress_add(&p, 10);
    c.now = 119.9;
    sa_progress_set(&p, 75);
    slurp(f, buf, sizeof buf);
    SA_CHECK_STR(t, buf, "gen: 50/100 (50.0%) 5.0/s ETA 0:10\n");
    c.now = 120;
    sa_progress_add(&p, 25);
    SA_CHECK_EQ_INT(t, sa_progress_done(&p), 100);
    sa_progress_finish(&p);
    sa_progress_finish(&p); /* idempotent */
    sa_progress_add(&p, 1); /* after finish: counted, not printed */
    slurp(f, buf, sizeof buf);
    SA_CHECK_STR(t, buf, "gen: 50/100 (50.0%) 5.0/s ETA 0:10\n"
                         "gen: 100/100 (100.0%) 5.0/s ETA 0:00\n"
                         "gen: done 100/100 in 0:20 (5.0/s)\n");

    /* unknown total, long durations, custom interval */
    clear(f);
    c.now = 0;
    sa_progress_init(&p, "read", 0, f);
    sa_progress_set_clock(&p, fake_now, &c);
    p.interval_s = 60;
    c.now = 30;
    sa_progress_add(&p, 3);
    c.now = 60;
    sa_progress_add(&p, 3);
    c.now = 3723;
    sa_progress_add(&p, 372294);
    sa_progress_finish(&p);
    slurp(f, buf, sizeof buf);
    SA_CHECK_STR(t, buf, "read: 6 0.1/s elapsed 1:00\n"
                         "read: 372300 100/s elapsed 1:02:03\n"
                         "read: done 372300 in 1:02:03 (100/s)\n");

    /* through an sa_log: same text, in the log's line format */
    clear(f);
    sa_log log;
    sa_log_init(&log, SA_LOG_LEVEL_INFO, f);
    log.timestamps = false;
    log.prefix = "stage";
    c.now = 0;
    sa_progress_init(&p, "gen", 4, f);
    sa_progress_set_clock(&p, fake_now, &c);
    p.log = &log;
    c.now = 10;
    sa_progress_add(&p, 2);
    c.now = 20;
    sa_progress_add(&p, 2);
    sa_progress_finish(&p);
    slurp(f, buf, sizeof buf);
    SA_CHECK_STR(t, buf, "info  stage: gen: 2/4 (50.0%) 0.2/s ETA 0:10\n"
                         "info  stage: gen: 4/4 (100.0%) 0.2/s ETA 0:00\n"
                         "info  stage: gen: done 4/4 in 0:20 (0.2/s)\n");
    fclose(f);
}

static void test_progress_tty(sa_test *t) {
    FILE *f = tmpfile();
    SA_REQUIRE(t, f);
    fake_clock c = {5.0};
    sa_progress p;
    sa_progress_init(&p, "gen", 100, f);
    sa_progress_set_clock(&p, fake_now, &c);
    sa_progress_set_mode(&p, SA_PROGRESS_MODE_TTY);
    char buf[1024];
    c.now = 5.05;
    sa_progress_add(&p, 1);
    SA_CHECK_EQ_INT(t, slurp(f, buf, sizeof buf), 0); /* under the 0.1 s redraw gap */
    c.now = 6.0;
    sa_progress_set(&p, 25);
    slurp(f, buf, sizeof buf);
    SA_CHECK_STR(t, buf, "\rgen [######..................]  25% 25/100 25.0/s ETA 0:03\x1b[K");
    clear(f);
    c.now = 6.05;
    sa_progress_add(&p, 1); /* too soon */
    SA_CHECK_EQ_INT(t, slurp(f, buf, sizeof buf), 0);
    c.now = 9.0;
    sa_progress_set(&p, 100);
    clear(f);
    sa_progress_finish(&p);
    slurp(f, buf, sizeof buf);
    SA_CHECK_STR(t, buf, "\rgen [########################] 100% 100/100 25.0/s ETA 0:00\x1b[K\n");

    /* unknown total on a tty; counts above the total clamp the bar */
    clear(f);
    c.now = 0;
    sa_progress_init(&p, "tok", 0, f);
    sa_progress_set_clock(&p, fake_now, &c);
    sa_progress_set_mode(&p, SA_PROGRESS_MODE_TTY);
    c.now = 2;
    sa_progress_add(&p, 5);
    slurp(f, buf, sizeof buf);
    SA_CHECK_STR(t, buf, "\rtok 5 2.5/s elapsed 0:02\x1b[K");
    clear(f);
    c.now = 0;
    sa_progress_init(&p, "x", 10, f);
    sa_progress_set_clock(&p, fake_now, &c);
    sa_progress_set_mode(&p, SA_PROGRESS_MODE_TTY);
    c.now = 1;
    sa_progress_set(&p, 15);
    slurp(f, buf, sizeof buf);
    SA_CHECK_STR(t, buf, "\rx [########################] 100% 15/10 15.0/s ETA 0:00\x1b[K");
    fclose(f);
}

static void test_progress_off(sa_test *t) {
    FILE *f = tmpfile();
    SA_REQUIRE(t, f);
    fake_clock c = {0};
    sa_progress p;
    sa_progress_init(&p, "gen", 10, f);
    sa_progress_set_clock(&p, fake_now, &c);
    sa_progress_set_mode(&p, SA_PROGRESS_MODE_OFF);
    c.now = 100;
    sa_progress_add(&p, 10);
    sa_progress_finish(&p);
    char buf[64];
    SA_CHECK_EQ_INT(t, slurp(f, buf, sizeof buf), 0);
    SA_CHECK_EQ_INT(t, sa_progress_done(&p), 10);
    sa_progress_init(&p, "gen", 10, NULL); /* no stream: off whatever the mode */
    sa_progress_set_mode(&p, SA_PROGRESS_MODE_TTY);
    SA_CHECK_EQ_INT(t, p.mode, SA_PROGRESS_MODE_OFF);
    sa_progress_add(&p, 3);
    sa_progress_finish(&p);
    fclose(f);
}

static void *progress_worker(void *arg) {
    for (int i = 0; i < 5000; i++) sa_progress_add(arg, 1);
    return NULL;
}

static void test_progress_threads(sa_test *t) {
    FILE *f = tmpfile();
    SA_REQUIRE(t, f);
    fake_clock c = {0};
    sa_progress p;
    sa_progress_init(&p, "mt", 20000, f);
    sa_progress_set_clock(&p, fake_now, &c);
    p.interval_s = 0; /* every update is due: maximum contention on printing */
    pthread_t th[4];
    for (int i = 0; i < 4; i++) SA_REQUIRE(t, pthread_create(&th[i], NULL, progress_worker, &p) == 0);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    SA_CHECK_EQ_INT(t, sa_progress_done(&p), 20000);
    c.now = 10;
    sa_progress_finish(&p);
    /* every printed line is whole, and the last one is the finish line */
    rewind(f);
    char line[256], last[256] = "";
    int lines = 0, bad = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        if (strncmp(line, "mt: ", 4) != 0 || !strchr(line, '\n')) bad++;
        snprintf(last, sizeof last, "%s", line);
    }
    SA_CHECK(t, lines >= 1);
    SA_CHECK_EQ_INT(t, bad, 0);
    SA_CHECK_STR(t, last, "mt: done 20000/20000 in 0:10 (2000/s)\n");
    fclose(f);
}

/* ---- arena -------------------------------------------------------------------- */

static void test_arena_alignment_and_contents(sa_test *t) {
    sa_arena a;
    sa_arena_init(&a, 1024);
    const size_t aligns[] = {1, 2, 8, 16, 64, 4096};
    unsigned char *ptrs[60];
    size_t sizes[60];
    for (int i = 0; i < 60; i++) {
        size_t al = aligns[i % 6];
        sizes[i] = (size_t)(i * 37 % 300) + 1;
        ptrs[i] = sa_arena_alloc(&a, sizes[i], al);
        SA_REQUIRE(t, ptrs[i]);
        SA_CHECKF(t, ((uintptr_t)ptrs[i] & (al - 1)) == 0, "alloc %d not aligned to %zu", i, al);
        memset(ptrs[i], i, sizes[i]);
    }
    for (int i = 0; i < 60; i++) /* no allocation overwrote another */
        for (size_t k = 0; k < sizes[i]; k++) SA_REQUIRE(t, ptrs[i][k] == (unsigned char)i);
    /* default alignment is max_align_t */
    void *d = sa_arena_alloc(&a, 3, 0);
    SA_CHECK(t, d && ((uintptr_t)d & (_Alignof(max_align_t) - 1)) == 0);
    SA_CHECK(t, sa_arena_alloc(&a, 8, 3) == NULL);   /* not a power of two */
    SA_CHECK(t, sa_arena_alloc(&a, SIZE_MAX, 1) == NULL);
    SA_CHECK(t, sa_arena_alloc(&a, SIZE_MAX - 8, 64) == NULL);
    SA_CHECK(t, sa_arena_calloc(&a, SIZE_MAX / 2, 4) == NULL);
    int *z = sa_arena_calloc(&a, 100, sizeof *z);
    SA_REQUIRE(t, z);
    int sum = 0;
    for (int i = 0; i < 100; i++) sum += z[i];
    SA_CHECK_EQ_INT(t, sum, 0);
    char *s = sa_arena_strndup(&a, "hello world", 5);
    SA_CHECK_STR(t, s, "hello");
    SA_CHECK_STR(t, sa_arena_strndup(&a, "hi", 100), "hi");
    SA_CHECK_STR(t, sa_arena_strdup(&a, ""), "");
    sa_arena_free(&a);
    SA_CHECK_EQ_INT(t, sa_arena_bytes_reserved(&a), 0);
    SA_CHECK_EQ_INT(t, sa_arena_bytes_used(&a), 0);
    SA_CHECK(t, sa_arena_alloc(&a, 10, 1) != NULL); /* reusable after free */
    sa_arena_free(&a);
}

static void test_arena_oversize_and_zero_init(sa_test *t) {
    sa_arena a = {0}; /* zeroed: default chunk size */
    char *small = sa_arena_alloc(&a, 10, 1);
    SA_REQUIRE(t, small);
    SA_CHECK_EQ_INT(t, sa_arena_bytes_reserved(&a), SA_ARENA_DEFAULT_CHUNK);
    size_t big_n = SA_ARENA_DEFAULT_CHUNK * 3;
    unsigned char *big = sa_arena_alloc(&a, big_n, 64);
    SA_REQUIRE(t, big);
    memset(big, 0xab, big_n);
    SA_CHECK(t, sa_arena_bytes_reserved(&a) >= SA_ARENA_DEFAULT_CHUNK + big_n);
    SA_CHECK_EQ_INT(t, sa_arena_bytes_used(&a) >= 10 + big_n, 1);
    sa_arena_free(&a);
}

static void test_arena_mark_reset_reuses_chunks(sa_test *t) {
    sa_arena a;
    sa_arena_init(&a, 256);
    void *keep = sa_arena_alloc(&a, 16, 8); /* lives across steps */
    SA_REQUIRE(t, keep);
    memset(keep, 7, 16);
    sa_arena_pos m = sa_arena_mark(&a);
    size_t used0 = sa_arena_bytes_used(&a);
    size_t reserved_after_first = 0;
    void *first_ptr = NULL;
    for (int step = 0; step < 50; step++) {
        /* a mix of small, chunk-filling and oversize requests */
        void *p = sa_arena_alloc(&a, 100, 16);
        SA_REQUIRE(t, p);
        if (step == 0) first_ptr = p;
        else SA_CHECK(t, p == first_ptr); /* same scratch memory every step */
        SA_REQUIRE(t, sa_arena_alloc(&a, 200, 8));
        SA_REQUIRE(t, sa_arena_alloc(&a, 1000, 64));
        SA_REQUIRE(t, sa_arena_alloc(&a, 50, 1));
        SA_REQUIRE(t, sa_arena_alloc(&a, 3000, 4096));
        sa_arena_reset(&a, m);
        SA_CHECK_EQ_INT(t, sa_arena_bytes_used(&a), used0);
        if (step == 0) reserved_after_first = sa_arena_bytes_reserved(&a);
        else SA_CHECK_EQ_INT(t, sa_arena_bytes_reserved(&a), reserved_after_first);
    }
    for (int i = 0; i < 16; i++) SA_CHECK(t, ((unsigned char *)keep)[i] == 7);

    /* nested marks: the inner reset keeps what came between the two marks */
    char *x = sa_arena_strdup(&a, "outer");
    sa_arena_pos inner = sa_arena_mark(&a);
    SA_REQUIRE(t, sa_arena_alloc(&a, 5000, 8));
    sa_arena_reset(&a, inner);
    SA_CHECK_STR(t, x, "outer");
    char *y = sa_arena_strdup(&a, "next");
    SA_CHECK(t, y && y != x);
    SA_CHECK_STR(t, x, "outer");

    /* a zero mark rewinds everything; a big request then reuses the big spare */
    size_t reserved = sa_arena_bytes_reserved(&a);
    sa_arena_pos zero = {0};
    sa_arena_reset(&a, zero);
    SA_CHECK_EQ_INT(t, sa_arena_bytes_used(&a), 0);
    SA_REQUIRE(t, sa_arena_alloc(&a, 3000, 4096));
    SA_REQUIRE(t, sa_arena_alloc(&a, 200, 8));
    SA_CHECK_EQ_INT(t, sa_arena_bytes_reserved(&a), reserved);
    sa_arena_free(&a);
}

/* ---- rng ------------------------------------------------------------------- */

static void test_rng_reference_outputs(sa_test *t) {
    /* splitmix64, seed 0: the first outputs of the reference implementation */
    uint64_t sm = 0;
    SA_CHECK(t, sa_splitmix64(&sm) == 0xe220a8397b1dcdafULL);
    SA_CHECK(t, sa_splitmix64(&sm) == 0x6e789e6aa1b965f4ULL);
    SA_CHECK(t, sa_splitmix64(&sm) == 0x06c45d188009454fULL);

    /* xoshiro256** from state {1, 2, 3, 4}: the reference sequence */
    static const uint64_t want[10] = {
        11520ULL, 0ULL, 1509978240ULL, 1215971899390074240ULL, 1216172134540287360ULL,
        607988272756665600ULL, 16172922978634559625ULL, 8476171486693032832ULL,
        10595114339597558777ULL, 2904607092377533576ULL};
    sa_rng r = {{1, 2, 3, 4}};
    for (int i = 0; i < 10; i++)
        SA_CHECKF(t, sa_rng_u64(&r) == want[i], "xoshiro256** output %d differs", i);

    /* init(seed) is four splitmix64 outputs of that seed */
    sa_rng_init(&r, 0);
    SA_CHECK(t, r.s[0] == 0xe220a8397b1dcdafULL && r.s[1] == 0x6e789e6aa1b965f4ULL &&
                    r.s[2] == 0x06c45d188009454fULL);
}

static void test_rng_determinism_and_restore(sa_test *t) {
    sa_rng a, b;
    sa_rng_init(&a, 1234);
    sa_rng_init(&b, 1234);
    for (int i = 0; i < 1000; i++) SA_REQUIRE(t, sa_rng_u64(&a) == sa_rng_u64(&b));
    /* a checkpoint is the four words: restoring them continues the stream */
    sa_rng saved = a;
    uint64_t next[8];
    for (int i = 0; i < 8; i++) next[i] = sa_rng_u64(&a);
    sa_rng restored;
    memcpy(restored.s, saved.s, sizeof restored.s);
    for (int i = 0; i < 8; i++) SA_CHECK(t, sa_rng_u64(&restored) == next[i]);
    sa_rng_init(&b, 1235);
    SA_CHECK(t, sa_rng_u64(&b) != next[0]);
}

static void test_rng_split(sa_test *t) {
    sa_rng a, b, c, d, base;
    sa_rng_split(&a, 42, 1);
    sa_rng_split(&b, 42, 2);
    sa_rng_split(&c, 43, 1);
    sa_rng_split(&d, 42, 1);
    sa_rng_init(&base, 42);
    SA_CHECK(t, memcmp(&a, &d, sizeof a) == 0); /* a pure function of (seed, id) */
    SA_CHECK(t, memcmp(&a, &b, sizeof a) != 0);
    SA_CHECK(t, memcmp(&a, &c, sizeof a) != 0);
    SA_CHECK(t, memcmp(&a, &base, sizeof a) != 0);
    /* neighbouring streams are uncorrelated (|r| ~ 1/sqrt(n) = 0.007) */
    const int n = 20000;
    double sx = 0, sy = 0, sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < n; i++) {
        double x = sa_rng_double(&a), y = sa_rng_double(&b);
        sx += x, sy += y, sxy += x * y, sxx += x * x, syy += y * y;
    }
    double cov = sxy / n - (sx / n) * (sy / n);
    double corr = cov / sqrt((sxx / n - (sx / n) * (sx / n)) * (syy / n - (sy / n) * (sy / n)));
    SA_CHECKF(t, fabs(corr) < 0.05, "correlation %f", corr);
    /* consecutive ids give distinct first outputs */
    uint64_t firsts[256];
    for (int i = 0; i < 256; i++) {
        sa_rng_split(&a, 7, (uint64_t)i);
        firsts[i] = sa_rng_u64(&a);
        for (int j = 0; j < i; j++) SA_REQUIRE(t, firsts[j] != firsts[i]);
    }
}

static void test_rng_uniform_stats(sa_test *t) {
    sa_rng r;
    sa_rng_init(&r, 99);
    const int n = 100000;
    double sum = 0, sum2 = 0, fsum = 0;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        double d = sa_rng_double(&r);
        float f = sa_rng_float(&r);
        if (!(d >= 0 && d < 1) || !(f >= 0 && f < 1)) bad++;
        sum += d, sum2 += d * d, fsum += f;
    }
    SA_CHECK_EQ_INT(t, bad, 0);
    double mean = sum / n, var = sum2 / n - mean * mean;
    /* sd of the mean is 0.29/sqrt(1e5) = 0.0009: these bounds are ~10 sd */
    SA_CHECKF(t, fabs(mean - 0.5) < 0.01, "mean %f", mean);
    SA_CHECKF(t, fabs(var - 1.0 / 12) < 0.005, "variance %f", var);
    SA_CHECKF(t, fabs(fsum / n - 0.5) < 0.01, "float mean %f", fsum / n);
    /* u32 is the top half of u64 */
    sa_rng a, b;
    sa_rng_init(&a, 5);
    b = a;
    SA_CHECK(t, sa_rng_u32(&a) == (uint32_t)(sa_rng_u64(&b) >> 32));
}

static void test_rng_below(sa_test *t) {
    sa_rng r;
    sa_rng_init(&r, 7);
    SA_CHECK(t, sa_rng_below(&r, 0) == 0);
    for (int i = 0; i < 100; i++) SA_REQUIRE(t, sa_rng_below(&r, 1) == 0);
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++) {
        uint64_t v = sa_rng_below(&r, 7);
        SA_REQUIRE(t, v < 7);
        counts[v]++;
    }
    for (int k = 0; k < 7; k++) /* expected 10000, sd ~93 */
        SA_CHECKF(t, counts[k] > 9500 && counts[k] < 10500, "value %d seen %d times", k, counts[k]);
    /* n = 3 * 2^62: multiply-shift without rejection would map two inputs to
     * every value divisible by 3 and one to the others (P = 1/2, not 1/3);
     * Lemire's rejection of the low 2^62 products removes that bias. */
    uint64_t big = 3ULL << 62;
    int div3 = 0;
    for (int i = 0; i < 30000; i++) {
        uint64_t v = sa_rng_below(&r, big);
        SA_REQUIRE(t, v < big);
        div3 += v % 3 == 0;
    }
    SA_CHECKF(t, div3 > 9500 && div3 < 10500, "multiples of 3: %d of 30000 (want ~10000)", div3);
}

static void test_rng_normal(sa_test *t) {
    sa_rng r;
    sa_rng_init(&r, 2024);
    const int n = 100000;
    double sum = 0, sum2 = 0;
    int within1 = 0;
    for (int i = 0; i < n; i++) {
        double x = sa_rng_normal(&r);
        SA_REQUIRE(t, isfinite(x));
        sum += x, sum2 += x * x;
        within1 += fabs(x) < 1.0;
    }
    double mean = sum / n, var = sum2 / n - mean * mean;
    SA_CHECKF(t, fabs(mean) < 0.02, "mean %f", mean);
    SA_CHECKF(t, fabs(var - 1.0) < 0.03, "variance %f", var);
    SA_CHECKF(t, fabs((double)within1 / n - 0.6827) < 0.01, "P(|x|<1) = %f", (double)within1 / n);
}

static void test_rng_shuffle(sa_test *t) {
    sa_rng r;
    sa_rng_init(&r, 3);
    uint32_t arr[100], seen[100] = {0};
    for (uint32_t i = 0; i < 100; i++) arr[i] = i;
    sa_rng_shuffle_u32(&r, arr, 100);
    int moved = 0;
    for (uint32_t i = 0; i < 100; i++) {
        SA_REQUIRE(t, arr[i] < 100);
        seen[arr[i]]++;
        moved += arr[i] != i;
    }
    for (int i = 0; i < 100; i++) SA_CHECK_EQ_INT(t, seen[i], 1);
    SA_CHECK(t, moved > 80);
    /* same seed, same order */
    uint32_t again[100];
    for (uint32_t i = 0; i < 100; i++) again[i] = i;
    sa_rng_init(&r, 3);
    sa_rng_shuffle_u32(&r, again, 100);
    SA_CHECK(t, memcmp(arr, again, sizeof arr) == 0);
    sa_rng_shuffle_u32(&r, NULL, 0);
    uint32_t one = 5;
    sa_rng_shuffle_u32(&r, &one, 1);
    SA_CHECK_EQ_INT(t, one, 5);
    /* all 6 orders of 3 items equally likely (expected 10000 each, sd ~91) */
    int perm[6] = {0};
    for (int i = 0; i < 60000; i++) {
        uint32_t v[3] = {0, 1, 2};
        sa_rng_shuffle_u32(&r, v, 3);
        perm[v[0] * 2 + (v[1] > v[2])]++;
    }
    for (int k = 0; k < 6; k++) SA_CHECKF(t, perm[k] > 9500 && perm[k] < 10500, "order %d: %d", k, perm[k]);
}

static const sa_test_def tests[] = {
    {"log_format_and_levels", test_log_format_and_levels},
    {"log_long_line", test_log_long_line},
    {"log_level_parse", test_log_level_parse},
    {"log_threads_no_interleave", test_log_threads_no_interleave},
    {"progress_plain", test_progress_plain},
    {"progress_tty", test_progress_tty},
    {"progress_off", test_progress_off},
    {"progress_threads", test_progress_threads},
    {"arena_alignment_and_contents", test_arena_alignment_and_contents},
    {"arena_oversize_and_zero_init", test_arena_oversize_and_zero_init},
    {"arena_mark_reset_reuses_chunks", test_arena_mark_reset_reuses_chunks},
    {"rng_reference_outputs", test_rng_reference_outputs},
    {"rng_determinism_and_restore", test_rng_determinism_and_restore},
    {"rng_split", test_rng_split},
    {"rng_uniform_stats", test_rng_uniform_stats},
    {"rng_below", test_rng_below},
    {"rng_normal", test_rng_normal},
    {"rng_shuffle", test_rng_shuffle},
};
SA_TEST_MAIN(tests)
