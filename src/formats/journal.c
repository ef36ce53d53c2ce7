/* journal.c — the append-only crash-safe journal (see journal.h).
 *
 * Open = lock, repair the tail, index the ids with the JSONL reader, then
 * switch the descriptor to O_APPEND. Append = serialise outside the file,
 * one write() under the mutex, roll back on a short write. */
#include "sa/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sa/alloc.h"
#include "sa/hash.h"
#include "sa/json.h"
#include "sa/strbuf.h"
#include "sa/utf8.h"

sa_journal_opts sa_journal_default_opts(void) {
    sa_journal_opts o = {0};
    o.fsync_every_n = 64;
    o.fsync_every_ms = 1000;
    return o;
}

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- id set: open addressing, linear probing, load factor <= 1/2 ---- */

static size_t set_slot(char **set, size_t cap, const char *id) {
    size_t i = (size_t)sa_hash_str(id, 0) & (cap - 1);
    while (set[i] && strcmp(set[i], id) != 0) i = (i + 1) & (cap - 1);
    return i;
}

static bool set_has(const sa_journal *j, const char *id) {
    if (!j->set_cap) return false;
    return j->set[set_slot(j->set, j->set_cap, id)] != NULL;
}

/* Insert (copying id). Returns SA_OK, or SA_ERR_NOMEM. *added false if present. */
static sa_status set_add(sa_journal *j, const char *id, bool *added) {
    *added = false;
    if ((j->set_len + 1) * 2 > j->set_cap) {
        size_t nc = j->set_cap ? j->set_cap * 2 : 1024;
        if (nc < j->set_cap) return SA_ERR_NOMEM;
        char **ns = sa_calloc(nc, sizeof *ns);
        if (!ns) return SA_ERR_NOMEM;
        for (size_t i = 0; i < j->set_cap; i++)
            if (j->set[i]) ns[set_slot(ns, nc, j->set[i])] = j->set[i];
        free(j->set);
        j->set = ns;
        j->set_cap = nc;
    }
    size_t i = set_slot(j->set, j->set_cap, id);
    if (j->set[i]) return SA_OK;
    char *copy = sa_strdup(id);
    if (!copy) return SA_ERR_NOMEM;
    j->set[i] = copy;
    j->set_len++;
    *added = true;
    return SA_OK;
}

/* ---- open: repair the tail, index the ids ---- */

static sa_status write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return SA_ERR_IO;
        }
        p += w;
        n -= (size_t)w;
    }
    return SA_OK;
}

static sa_status sync_dir_of(const char *path) {
    char *copy = sa_strdup(path);
    if (!copy) return SA_ERR_NOMEM;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (dfd < 0) return SA_ERR_IO;
    int rc = fsync(dfd);
    close(dfd);
    return rc == 0 ? SA_OK : SA_ERR_IO;
}

/* Offset just past the last '\n' in the first `size` bytes (0 if none). */
static sa_status find_line_end(int fd, uint64_t size, uint64_t *end) {
    char buf[65536];
    uint64_t pos = size;
    while (pos > 0) {
        size_t n = pos > sizeof buf ? sizeof buf : (size_t)pos;
        pos -= n;
        ssize_t r = pread(fd, buf, n, (off_t)pos);
        if (r != (ssize_t)n) return SA_ERR_IO;
        for (size_t i = n; i > 0; i--)
            if (buf[i - 1] == '\n') {
                *end = pos + i;
                return SA_OK;
            }
    }
    *end = 0;
    return SA_OK;
}

static sa_status repair_tail(sa_journal *j, sa_err *err) {
    uint64_t end;
    if (find_line_end(j->fd, j->size, &end) != SA_OK)
        return sa_err_set(err, SA_ERR_IO, "%s: read error scanning the tail: %s", j->path,
                          strerror(errno));
    uint64_t tail = j->size - end;
    if (tail == 0) return SA_OK;
    bool keep = false;
    if (tail <= j->opts.max_line_bytes) {
        char *buf = malloc((size_t)tail);
        if (!buf) return sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", j->path);
        if (pread(j->fd, buf, (size_t)tail, (off_t)end) != (ssize_t)tail) {
            free(buf);
            return sa_err_set(err, SA_ERR_IO, "%s: read error: %s", j->path, strerror(errno));
        }
        if (sa_utf8_valid(buf, (size_t)tail, NULL)) {
            json_error_t je;
            json_t *v = json_loadb(buf, (size_t)tail, SA_JSON_LOAD_FLAGS, &je);
            keep = v && json_is_object(v);
            json_decref(v);
        }
        free(buf);
    }
    if (keep) {
        if (pwrite(j->fd, "\n", 1, (off_t)j->size) != 1)
            return sa_err_set(err, SA_ERR_IO, "%s: cannot complete the last line: %s", j->path,
                              strerror(errno));
        j->size++;
        j->stats.torn_line_kept = true;
    } else {
        if (ftruncate(j->fd, (off_t)end) != 0)
            return sa_err_set(err, SA_ERR_IO, "%s: cannot truncate the torn last line: %s",
                              j->path, strerror(errno));
        j->stats.torn_bytes_dropped = tail;
        j->size = end;
    }
    if (fdatasync(j->fd) != 0)
        return sa_err_set(err, SA_ERR_IO, "%s: fsync: %s", j->path, strerror(errno));
    j->stats.fsyncs++;
    return SA_OK;
}

static sa_status index_ids(sa_journal *j, sa_err *err) {
    sa_jsonl_reader r;
    sa_jsonl_opts ro = {.max_line_bytes = j->opts.max_line_bytes,
                        .policy = SA_JSONL_SKIP,
                        .on_bad = j->opts.on_bad,
                        .ctx = j->opts.ctx};
    sa_status s = sa_jsonl_reader_open(&r, j->path, &ro, err);
    if (s != SA_OK) return s;
    json_t *obj;
    while ((s = sa_jsonl_next(&r, &obj, NULL, err)) == SA_OK) {
        const char *id = json_string_value(json_object_get(obj, "id"));
        if (id && id[0]) {
            bool added;
            if (set_add(j, id, &added) != SA_OK) {
                json_decref(obj);
                sa_jsonl_reader_close(&r);
                return sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory indexing ids", j->path);
            }
            if (added) j->stats.existing++;
            else j->stats.existing_dup_ids++;
        } else {
            j->stats.existing_no_id++;
        }
        json_decref(obj);
    }
    j->stats.bad_lines = sa_jsonl_stats_bad(&r.stats);
    sa_jsonl_reader_close(&r);
    return s == SA_ERR_EOF ? SA_OK : s;
}

sa_status sa_journal_open(sa_journal *j, const char *path, const sa_journal_opts *opts,
                          sa_err *err) {
    memset(j, 0, sizeof *j);
    j->fd = -1;
    j->opts = opts ? *opts : sa_journal_default_opts();
    if (!j->opts.max_line_bytes) j->opts.max_line_bytes = SA_JSONL_DEFAULT_MAX_LINE;
    j->path = sa_strdup(path);
    if (!j->path) return sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
    if (pthread_mutex_init(&j->mu, NULL) != 0) {
        sa_journal_close(j, NULL);
        return sa_err_set(err, SA_ERR_INTERNAL, "%s: cannot create mutex", path);
    }
    j->mu_init = true;
    sa_status s;
    bool created = access(path, F_OK) != 0;
    j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (j->fd < 0) {
        s = sa_err_set(err, SA_ERR_IO, "%s: cannot open journal: %s", path, strerror(errno));
        goto fail;
    }
    if (flock(j->fd, LOCK_EX | LOCK_NB) != 0) {
        s = sa_err_set(err, SA_ERR_IO, "%s: journal is locked by another writer (%s)", path,
                       strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(j->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        s = sa_err_set(err, SA_ERR_IO, "%s: not a regular file", path);
        goto fail;
    }
    j->size = (uint64_t)st.st_size;
    if (created && sync_dir_of(path) != SA_OK) {
        s = sa_err_set(err, SA_ERR_IO, "%s: cannot fsync the directory: %s", path,
                       strerror(errno));
        goto fail;
    }
    if ((s = repair_tail(j, err)) != SA_OK) goto fail;
    if (j->size && (s = index_ids(j, err)) != SA_OK) goto fail;
    int fl = fcntl(j->fd, F_GETFL);
    if (fl < 0 || fcntl(j->fd, F_SETFL, fl | O_APPEND) != 0) {
        s = sa_err_set(err, SA_ERR_IO, "%s: cannot set append mode: %s", path, strerror(errno));
        goto fail;
    }
    j->last_sync_ms = now_ms();
    return SA_OK;
fail:
    sa_journal_close(j, NULL);
    return s;
}

/* ---- append / sync ---- */

static sa_status sync_locked(sa_journal *j, sa_err *err) {
    if (fdatasync(j->fd) != 0)
        return sa_err_set(err, SA_ERR_IO, "%s: fsync: %s", j->path, strerror(errno));
    j->stats.fsyncs++;
    j->since_sync = 0;
    j->last_sync_ms = now_ms();
    return SA_OK;
}

sa_status sa_journal_append(sa_journal *j, const json_t *obj, sa_err *err) {
    if (!j || !j->path || j->fd < 0)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "journal is not open");
    const char *id = json_is_object(obj) ? json_string_value(json_object_get(obj, "id")) : NULL;
    if (!id || !id[0])
        return sa_err_set(err, SA_ERR_INVALID_ARG,
                          "%s: journal records need a non-empty string \"id\"", j->path);
    /* Serialise before taking the lock: it is the slow part. */
    sa_strbuf line = {0};
    sa_status s = sa_json_dump_line(obj, &line, err);
    if (s != SA_OK) {
        sa_strbuf_free(&line);
        sa_err_prefix(err, "%s: ", j->path);
        return s;
    }
    /* A line the open-time scan could not read back would hide its id and
     * let a restarted stage append it again. */
    if (line.len - 1 > j->opts.max_line_bytes) {
        s = sa_err_set(err, SA_ERR_RANGE,
                       "%s: record %s is %zu bytes, over the %llu-byte line limit", j->path, id,
                       line.len - 1, (unsigned long long)j->opts.max_line_bytes);
        sa_strbuf_free(&line);
        return s;
    }
    pthread_mutex_lock(&j->mu);
    if (set_has(j, id)) {
        s = sa_err_set(err, SA_ERR_INVALID_ARG, "%s: id %s is already journaled", j->path, id);
        goto out;
    }
    bool added;
    if (set_add(j, id, &added) != SA_OK) {
        s = sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", j->path);
        goto out;
    }
    if (write_all(j->fd, line.buf, line.len) != SA_OK) {
        int e = errno;
        /* Undo a partial line so the file stays a sequence of whole lines;
         * the id is forgotten so a retry can append it. */
        if (ftruncate(j->fd, (off_t)j->size) != 0) { /* reopen will repair it */
        }
        size_t i = set_slot(j->set, j->set_cap, id);
        free(j->set[i]);
        j->set[i] = NULL;
        /* Re-insert the probe run after the hole so lookups stay correct. */
        for (size_t k = (i + 1) & (j->set_cap - 1); j->set[k]; k = (k + 1) & (j->set_cap - 1)) {
            char *key = j->set[k];
            j->set[k] = NULL;
            j->set[set_slot(j->set, j->set_cap, key)] = key;
        }
        j->set_len--;
        s = sa_err_set(err, SA_ERR_IO, "%s: write failed: %s", j->path, strerror(e));
        goto out;
    }
    j->size += line.len;
    j->stats.appended++;
    j->since_sync++;
    if ((j->opts.fsync_every_n && j->since_sync >= j->opts.fsync_every_n) ||
        (j->opts.fsync_every_ms && now_ms() - j->last_sync_ms >= j->opts.fsync_every_ms))
        s = sync_locked(j, err);
out:
    pthread_mutex_unlock(&j->mu);
    sa_strbuf_free(&line);
    return s;
}

bool sa_journal_has(sa_journal *j, const char *id) {
    if (!j || !j->mu_init || !id) return false;
    pthread_mutex_lock(&j->mu);
    bool h = set_has(j, id);
    pthread_mutex_unlock(&j->mu);
    return h;
}

uint64_t sa_journal_count(sa_journal *j) {
    if (!j || !j->mu_init) return 0;
    pthread_mutex_lock(&j->mu);
    uint64_t n = j->set_len;
    pthread_mutex_unlock(&j->mu);
    return n;
}

sa_status sa_journal_flush(sa_journal *j, sa_err *err) {
    if (!j || !j->path || j->fd < 0)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "journal is not open");
    pthread_mutex_lock(&j->mu);
    sa_status s = sync_locked(j, err);
    pthread_mutex_unlock(&j->mu);
    return s;
}

sa_status sa_journal_close(sa_journal *j, sa_err *err) {
    if (!j) return SA_OK;
    sa_status s = SA_OK;
    if (j->path && j->fd >= 0) {
        if (fdatasync(j->fd) != 0)
            s = sa_err_set(err, SA_ERR_IO, "%s: fsync at close: %s", j->path, strerror(errno));
        if (close(j->fd) != 0 && s == SA_OK)
            s = sa_err_set(err, SA_ERR_IO, "%s: close: %s", j->path, strerror(errno));
        j->fd = -1;
    }
    for (size_t i = 0; i < j->set_cap; i++) free(j->set[i]);
    free(j->set);
    j->set = NULL;
    j->set_cap = j->set_len = 0;
    if (j->mu_init) pthread_mutex_destroy(&j->mu);
    j->mu_init = false;
    free(j->path);
    j->path = NULL;
    return s;
}
