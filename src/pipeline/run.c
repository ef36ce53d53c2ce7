/* run.c — run directory: manifest, stage states and the run lock (run.h). */
#include "sa/run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "sa/alloc.h"
#include "sa/fileio.h"
#include "sa/json.h"
#include "sa/version.h"

struct sa_run {
    char *dir;
    char *manifest_path;
    int lock_fd;
    json_t *manifest; /* owned */
    double *t_begin;  /* per stage index of "stages": monotonic start of the current attempt */
    size_t n_t;
};

#define MANIFEST_MAX_BYTES ((size_t)64 << 20)

void sa_run_timestamp(char *buf, size_t n) {
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    if (!strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) && n) buf[0] = 0;
}

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static sa_status join(sa_strbuf *sb, const char *a, const char *b) {
    sa_strbuf_reset(sb);
    return sa_path_join(sb, a, b);
}

/* Differences between two config objects as "a.b, c" (dotted for nested
 * objects); returns the number of differing keys. */
static size_t config_diff(const json_t *old, const json_t *cur, const char *prefix, sa_strbuf *out) {
    size_t n = 0;
    const char *k;
    json_t *v;
    char name[256];
    json_object_foreach((json_t *)old, k, v) {
        snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", k);
        json_t *w = json_object_get(cur, k);
        if (w && json_is_object(v) && json_is_object(w)) {
            n += config_diff(v, w, name, out);
        } else if (!w || !json_equal(v, w)) {
            if (out->len) sa_strbuf_puts(out, ", ");
            sa_strbuf_puts(out, name);
            n++;
        }
    }
    json_object_foreach((json_t *)cur, k, v) {
        if (json_object_get(old, k)) continue;
        snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", k);
        if (out->len) sa_strbuf_puts(out, ", ");
        sa_strbuf_puts(out, name);
        n++;
    }
    return n;
}

static json_t *find_stage(const sa_run *run, const char *stage, size_t *index) {
    json_t *arr = json_object_get(run->manifest, "stages");
    size_t i;
    json_t *st;
    json_array_foreach(arr, i, st) {
        const char *nm = json_string_value(json_object_get(st, "name"));
        if (nm && strcmp(nm, stage) == 0) {
            if (index) *index = i;
            return st;
        }
    }
    return NULL;
}

static sa_status write_manifest(sa_run *run, sa_err *err) {
    char ts[32];
    sa_run_timestamp(ts, sizeof ts);
    json_object_set_new(run->manifest, "updated", json_string(ts));
    return sa_json_write_pretty(run->manifest_path, run->manifest, err);
}

/* Check that a loaded manifest has the shape we write. */
static sa_status check_manifest(const char *path, json_t *m, sa_err *err) {
    if (!json_is_object(m)) return sa_err_set(err, SA_ERR_FORMAT, "%s: not a JSON object", path);
    if (!json_is_string(json_object_get(m, "kind")))
        return sa_err_set(err, SA_ERR_FORMAT, "%s: \"kind\" is missing or not a string", path);
    if (!json_is_object(json_object_get(m, "config")))
        return sa_err_set(err, SA_ERR_FORMAT, "%s: \"config\" is missing or not an object", path);
    json_t *arr = json_object_get(m, "stages");
    if (!json_is_array(arr)) return sa_err_set(err, SA_ERR_FORMAT, "%s: \"stages\" is missing or not an array", path);
    size_t i;
    json_t *st;
    json_array_foreach(arr, i, st) {
        if (!json_is_object(st) || !json_is_string(json_object_get(st, "name")) ||
            !json_is_string(json_object_get(st, "state")))
            return sa_err_set(err, SA_ERR_FORMAT, "%s: stages[%zu] needs a string \"name\" and \"state\"", path, i);
    }
    return SA_OK;
}

static json_t *new_stage(const char *name) {
    return json_pack("{s:s, s:s, s:s, s:i, s:f}", "name", name, "dir", name, "state", "pending", "attempts", 0,
                     "seconds", 0.0);
}

sa_status sa_run_open(sa_run **out, const char *dir, const char *kind, const json_t *config,
                      const char *const *stages, size_t n_stages, sa_err *err) {
    *out = NULL;
    if (!dir || !*dir || !kind || !json_is_object(config))
        return sa_err_set(err, SA_ERR_INVALID_ARG, "run: a directory, a kind and a config object are required");
    sa_status s = sa_mkdir_p(dir, 0777, err);
    if (s) return s;
    sa_run *run = calloc(1, sizeof *run);
    if (!run) return sa_err_set(err, SA_ERR_NOMEM, "run: out of memory");
    run->lock_fd = -1;
    sa_strbuf sb = {0};
    run->dir = strdup(dir);
    if (!run->dir || join(&sb, dir, ".lock")) {
        s = sa_err_set(err, SA_ERR_NOMEM, "run: out of memory");
        goto fail;
    }
    run->lock_fd = open(sa_strbuf_cstr(&sb), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (run->lock_fd < 0) {
        s = sa_err_set(err, SA_ERR_IO, "%s: cannot open: %s", sa_strbuf_cstr(&sb), strerror(errno));
        goto fail;
    }
    if (flock(run->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        s = sa_err_set(err, SA_ERR_IO, "%s: the run is in use by another process (%s)", dir,
                       errno == EWOULDBLOCK ? "locked" : strerror(errno));
        goto fail;
    }
    if (join(&sb, dir, "manifest.json") || !(run->manifest_path = strdup(sa_strbuf_cstr(&sb)))) {
        s = sa_err_set(err, SA_ERR_NOMEM, "run: out of memory");
        goto fail;
    }
    if (sa_path_exists(run->manifest_path)) {
        s = sa_json_load_file(run->manifest_path, MANIFEST_MAX_BYTES, &run->manifest, err);
        if (!s) s = check_manifest(run->manifest_path, run->manifest, err);
        if (s) goto fail;
        const char *old_kind = json_string_value(json_object_get(run->manifest, "kind"));
        if (strcmp(old_kind, kind) != 0) {
            s = sa_err_set(err, SA_ERR_INVALID_ARG, "%s: this is a %s run, not a %s run", dir, old_kind, kind);
            goto fail;
        }
        sa_strbuf diff = {0};
        size_t nd = config_diff(json_object_get(run->manifest, "config"), config, "", &diff);
        if (nd) {
            s = sa_err_set(err, SA_ERR_INVALID_ARG,
                           "%s: the run was started with other settings (%s differ%s); rerun with the same "
                           "settings or use a new run directory",
                           dir, sa_strbuf_cstr(&diff), nd == 1 ? "s" : "");
            sa_strbuf_free(&diff);
            goto fail;
        }
        sa_strbuf_free(&diff);
    } else {
        char ts[32];
        sa_run_timestamp(ts, sizeof ts);
        run->manifest = json_pack("{s:s, s:s, s:s, s:O, s:[]}", "kind", kind, "version", SA_VERSION, "created", ts,
                                  "config", config, "stages");
        if (!run->manifest) {
            s = sa_err_set(err, SA_ERR_NOMEM, "run: out of memory");
            goto fail;
        }
    }
    json_t *arr = json_object_get(run->manifest, "stages");
    for (size_t i = 0; i < n_stages; i++) {
        if (find_stage(run, stages[i], NULL)) continue;
        json_t *st = new_stage(stages[i]);
        if (!st || json_array_append_new(arr, st)) {
            s = sa_err_set(err, SA_ERR_NOMEM, "run: out of memory");
            goto fail;
        }
    }
    run->n_t = json_array_size(arr);
    run->t_begin = calloc(run->n_t ? run->n_t : 1, sizeof *run->t_begin);
    if (!run->t_begin) {
        s = sa_err_set(err, SA_ERR_NOMEM, "run: out of memory");
        goto fail;
    }
    /* the running version is recorded (a resumed run may be finished by a newer binary) */
    json_object_set_new(run->manifest, "version", json_string(SA_VERSION));
    s = write_manifest(run, err);
    if (s) goto fail;
    sa_strbuf_free(&sb);
    *out = run;
    return SA_OK;
fail:
    sa_strbuf_free(&sb);
    sa_run_close(run);
    return s;
}

void sa_run_close(sa_run *run) {
    if (!run) return;
    if (run->lock_fd >= 0) close(run->lock_fd); /* releases the flock */
    json_decref(run->manifest);
    free(run->t_begin);
    free(run->manifest_path);
    free(run->dir);
    free(run);
}

const char *sa_run_dir(const sa_run *run) { return run->dir; }

sa_status sa_run_path(const sa_run *run, const char *rel, sa_strbuf *out) { return join(out, run->dir, rel); }

bool sa_run_stage_is_done(const sa_run *run, const char *stage) {
    json_t *st = find_stage(run, stage, NULL);
    return st && strcmp(json_string_value(json_object_get(st, "state")), "done") == 0;
}

const json_t *sa_run_stage_summary(const sa_run *run, const char *stage) {
    json_t *st = find_stage(run, stage, NULL);
    return st ? json_object_get(st, "summary") : NULL;
}

sa_status sa_run_stage_begin(sa_run *run, const char *stage, sa_err *err) {
    size_t idx = 0;
    json_t *st = find_stage(run, stage, &idx);
    if (!st || idx >= run->n_t)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "run: unknown stage \"%s\" (not declared at open)", stage);
    char ts[32];
    sa_run_timestamp(ts, sizeof ts);
    json_int_t attempts = json_integer_value(json_object_get(st, "attempts"));
    json_object_set_new(st, "attempts", json_integer(attempts + 1));
    json_object_set_new(st, "state", json_string("running"));
    if (!json_object_get(st, "started")) json_object_set_new(st, "started", json_string(ts));
    json_object_set_new(st, "last_started", json_string(ts));
    json_object_del(st, "error");
    run->t_begin[idx] = mono_s();
    return write_manifest(run, err);
}

sa_status sa_run_stage_end(sa_run *run, const char *stage, sa_status result, const json_t *summary,
                           const char *error_msg, sa_err *err) {
    size_t idx = 0;
    json_t *st = find_stage(run, stage, &idx);
    if (!st || idx >= run->n_t)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "run: unknown stage \"%s\" (not declared at open)", stage);
    char ts[32];
    sa_run_timestamp(ts, sizeof ts);
    double secs = json_number_value(json_object_get(st, "seconds"));
    if (run->t_begin[idx] > 0) secs += mono_s() - run->t_begin[idx];
    run->t_begin[idx] = 0;
    json_object_set_new(st, "seconds", json_real(secs));
    const char *state = result == SA_OK ? "done" : result == SA_ERR_INTERRUPTED ? "interrupted" : "failed";
    json_object_set_new(st, "state", json_string(state));
    if (result == SA_OK) {
        json_object_set_new(st, "finished", json_string(ts));
        if (summary) json_object_set_new(st, "summary", json_deep_copy(summary));
    } else if (result != SA_ERR_INTERRUPTED) {
        json_object_set_new(st, "error", json_string(error_msg ? error_msg : sa_status_str(result)));
    }
    return write_manifest(run, err);
}

sa_status sa_run_read(const char *dir, json_t **manifest, bool *active, sa_err *err) {
    *manifest = NULL;
    *active = false;
    sa_strbuf sb = {0};
    if (join(&sb, dir, "manifest.json")) return sa_err_set(err, SA_ERR_NOMEM, "run: out of memory");
    if (!sa_path_exists(sa_strbuf_cstr(&sb))) {
        sa_status s = sa_err_set(err, SA_ERR_NOT_FOUND, "%s: no manifest.json: not a run directory (or not started)",
                                 dir);
        sa_strbuf_free(&sb);
        return s;
    }
    sa_status s = sa_json_load_file(sa_strbuf_cstr(&sb), MANIFEST_MAX_BYTES, manifest, err);
    if (!s) s = check_manifest(sa_strbuf_cstr(&sb), *manifest, err);
    if (s) {
        json_decref(*manifest);
        *manifest = NULL;
        sa_strbuf_free(&sb);
        return s;
    }
    if (!join(&sb, dir, ".lock")) {
        int fd = open(sa_strbuf_cstr(&sb), O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            if (flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) *active = true;
            close(fd);
        }
    }
    sa_strbuf_free(&sb);
    return SA_OK;
}
