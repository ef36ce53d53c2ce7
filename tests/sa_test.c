/* sa_test.c — implementation of the test harness (see sa_test.h). */
#include "sa_test.h"

#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_tmpdir[512];   /* harness-only state: one per test program */

void sa_test_fail(sa_test *t, const char *file, int line, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (t->failures == 0) snprintf(t->first_fail, sizeof t->first_fail, "%s:%d: %s", file, line, msg);
    fprintf(stderr, "  %s:%d: %s\n", file, line, msg);
    t->failures++;
}

void sa_test_skip(sa_test *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->skip_reason, sizeof t->skip_reason, fmt, ap);
    va_end(ap);
    t->skipped = 1;
}

/* a + "/" + b, kept in t->paths until the test ends (so callers may hold
 * several at once); NULL only when memory runs out (the test fails). */
static const char *keep_join(sa_test *t, const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n), **v = realloc(t->paths, (t->n_paths + 1) * sizeof *v);
    if (v) t->paths = v;
    if (!p || !v) {
        free(p);
        sa_test_fail(t, __FILE__, __LINE__, "out of memory");
        return NULL;
    }
    snprintf(p, n, "%s/%s", a, b);
    t->paths[t->n_paths++] = p;
    return p;
}

const char *sa_test_data(sa_test *t, const char *rel) {
    const char *dir = getenv("SA_DATA_DIR");
    if (!dir || !*dir) dir = "../shared/data";
    const char *p = keep_join(t, dir, rel);
    if (p && access(p, R_OK) != 0) {
        sa_test_skip(t, "test data %s not found (set SA_DATA_DIR to ../shared/data)", p);
        return NULL;
    }
    return p;
}

const char *sa_test_tmpdir(sa_test *t) {
    if (!g_tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        if (!base || !*base) base = "/tmp";
        snprintf(g_tmpdir, sizeof g_tmpdir, "%s/sa_test_XXXXXX", base);
        if (!mkdtemp(g_tmpdir)) {
            g_tmpdir[0] = '\0';
            sa_test_fail(t, __FILE__, __LINE__, "mkdtemp failed");
            return "/tmp";
        }
    }
    snprintf(t->tmpdir, sizeof t->tmpdir, "%s", g_tmpdir);
    return t->tmpdir;
}

const char *sa_test_tmpfile(sa_test *t, const char *name) {
    return keep_join(t, sa_test_tmpdir(t), name);
}

bool sa_test_write_file(sa_test *t, const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        sa_test_fail(t, __FILE__, __LINE__, "cannot write %s", path);
        return false;
    }
    bool ok = fwrite(data, 1, n, f) == n;
    ok = (fclose(f) == 0) && ok;
    if (!ok) sa_test_fail(t, __FILE__, __LINE__, "short write to %s", path);
    return ok;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

const char *sa_test_errmsg(const sa_err *e) { return e ? e->msg : ""; }

int sa_test_main(const char *file, const sa_test_def *tests, size_t n, int argc, char **argv) {
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    char fname[128];
    snprintf(fname, sizeof fname, "%s", base);
    char *dot = strrchr(fname, '.');
    if (dot) *dot = '\0';
    const char *only = argc > 1 ? argv[1] : NULL;
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (only && strcmp(only, tests[i].name) != 0) continue;
        sa_test t;
        memset(&t, 0, sizeof t);
        t.file = fname;
        t.name = tests[i].name;
        fflush(stdout);
        tests[i].fn(&t);
        for (size_t k = 0; k < t.n_paths; k++) free(t.paths[k]);
        free(t.paths);
        if (t.failures) {
            printf("FAIL %s:%s: %s\n", fname, t.name, t.first_fail);
            failed++;
        } else if (t.skipped) {
            printf("SKIP %s:%s: %s\n", fname, t.name, t.skip_reason);
        } else {
            printf("PASS %s:%s\n", fname, t.name);
        }
        fflush(stdout);
    }
    if (g_tmpdir[0] && !getenv("SA_TEST_KEEP")) nftw(g_tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return failed ? 1 : 0;
}
