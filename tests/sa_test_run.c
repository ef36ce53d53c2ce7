/* sa_test_run.c — run the selfalign binary from a test (see sa_test_run.h). */
#include "sa_test_run.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>


void result_free(run_result *r) {
    sa_strbuf_free(&r->out);
    sa_strbuf_free(&r->err);
}

const char *bin_path(sa_test *t) {
    const char *b = getenv("SA_BIN");
    if (!b || !*b) {
        sa_test_skip(t, "SA_BIN is not set (tests/run sets it to <build>/selfalign)");
        return NULL;
    }
    if (access(b, X_OK) != 0) {
        sa_test_skip(t, "SA_BIN=%s is not an executable (build it first)", b);
        return NULL;
    }
    return b;
}

void slurp(const char *path, sa_strbuf *sb) {
    FILE *f = fopen(path, "rb");
    if (!f) return;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) sa_strbuf_append(sb, buf, n);
    fclose(f);
}

bool same_bytes(const char *a, const char *b, bool empty_ok, size_t *na, size_t *nb) {
    sa_strbuf x = {0}, y = {0};
    bool there = access(a, F_OK) == 0 && access(b, F_OK) == 0;
    slurp(a, &x);
    slurp(b, &y);
    if (na) *na = x.len;
    if (nb) *nb = y.len;
    bool same = there && (x.len > 0 || empty_ok) && x.len == y.len && (!x.len || memcmp(x.buf, y.buf, x.len) == 0);
    sa_strbuf_free(&x);
    sa_strbuf_free(&y);
    return same;
}

/* Run $SA_BIN with the NULL-terminated arguments, stdin from `input` (NULL:
 * empty). Returns false (test skipped) when there is no binary. */
bool run(sa_test *t, run_result *r, const char *input, ...) {
    const char *args[RUN_MAX_ARGS + 1];
    int n = 0;
    va_list ap;
    va_start(ap, input);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < RUN_MAX_ARGS) args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    return run_argv(t, r, input, args);
}

bool run_argv(sa_test *t, run_result *r, const char *input, const char *const *args) {
    memset(r, 0, sizeof *r);
    r->rc = -1;
    const char *bin = bin_path(t);
    if (!bin) return false;
    const char *argv[RUN_MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = bin;
    for (int i = 0; args[i] && argc <= RUN_MAX_ARGS; i++) argv[argc++] = args[i];
    argv[argc] = NULL;

    char in_path[1024], out_path[1024], err_path[1024];
    snprintf(in_path, sizeof in_path, "%s", sa_test_tmpfile(t, "stdin"));
    snprintf(out_path, sizeof out_path, "%s", sa_test_tmpfile(t, "stdout"));
    snprintf(err_path, sizeof err_path, "%s", sa_test_tmpfile(t, "stderr"));
    if (!sa_test_write_file(t, in_path, input ? input : "", input ? strlen(input) : 0)) return true;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        sa_test_fail(t, __FILE__, __LINE__, "fork failed");
        return true;
    }
    if (pid == 0) {
        int fi = open(in_path, O_RDONLY), fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600),
            fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fi < 0 || fo < 0 || fe < 0) _exit(127);
        dup2(fi, 0);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) == pid && WIFEXITED(status)) r->rc = WEXITSTATUS(status);
    slurp(out_path, &r->out);
    slurp(err_path, &r->err);
    return true;
}


uint64_t file_lines(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    uint64_t n = 0;
    int c;
    while ((c = fgetc(f)) != EOF) n += c == '\n';
    fclose(f);
    return n;
}

json_t *file_json_lines(sa_test *t, const char *path) {
    json_t *arr = json_array();
    FILE *f = fopen(path, "r");
    SA_CHECKF(t, f != NULL, "cannot open %s", path);
    if (!f) return arr;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        json_t *o = json_loadb(line, (size_t)n, 0, NULL);
        SA_CHECKF(t, o != NULL, "bad line in %s: %s", path, line);
        if (o) json_array_append_new(arr, o);
    }
    free(line);
    fclose(f);
    return arr;
}

bool files_equal(const char *a, const char *b) {
    sa_strbuf x = {0}, y = {0};
    slurp(a, &x);
    slurp(b, &y);
    bool same = x.len == y.len && x.len > 0 && memcmp(x.buf, y.buf, x.len) == 0;
    sa_strbuf_free(&x);
    sa_strbuf_free(&y);
    return same;
}

void argv_append(const char **argv, const char *const *extra) {
    size_t n = 0;
    while (argv[n]) n++;
    for (size_t i = 0; extra[i] && n + 1 < RUN_MAX_ARGS; i++) argv[n++] = extra[i];
    argv[n] = NULL;
}

pid_t child_spawn(const char *const *argv) {
    pid_t pid = fork();
    if (pid == 0) {
        const char *log = getenv("SA_TEST_CHILD_LOG"); /* debugging: keep the children's stderr */
        if (!freopen(log && *log ? log : "/dev/null", log && *log ? "a" : "w", stderr) ||
            !freopen("/dev/null", "w", stdout))
            _exit(126);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

int child_run(const char *const *argv) {
    int st = 0;
    pid_t pid = child_spawn(argv);
    if (pid < 0) return -1;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int serve_spawn(sa_test *t, const char *const *argv, const char *port_file, pid_t *pid) {
    unlink(port_file);
    *pid = child_spawn(argv);
    for (int i = 0; i < 1500; i++) {
        usleep(10000);
        FILE *fp = fopen(port_file, "r");
        int port = 0;
        if (fp) {
            if (fscanf(fp, "%d", &port) != 1) port = 0;
            fclose(fp);
        }
        if (port) return port;
        int st;
        if (waitpid(*pid, &st, WNOHANG) == *pid) {
            sa_test_fail(t, __FILE__, __LINE__, "selfalign serve exited at start (status %d)", st);
            return 0;
        }
    }
    sa_test_fail(t, __FILE__, __LINE__, "selfalign serve did not write its port within 15 s");
    return 0;
}
