/* shard.c — a stage journal split across MPI ranks, folded back by rank 0
 * (see include/sa/shard.h). */
#include "sa/shard.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sa/alloc.h"
#include "sa/fileio.h"
#include "sa/hash.h"
#include "sa/json.h"
#include "sa/jsonl.h"
#include "sa/strbuf.h"

#include "stage_util.h"

#define SHARD_SEED 0x7368617264696473ULL /* "shardids": independent of the stages' request ids */

int sa_shard_owner(const char *id, int size) {
    if (size <= 1) return 0;
    return (int)(sa_hash_str(id, SHARD_SEED) % (uint64_t)size);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The shard files beside main_path, sorted by name; *names is NULL-free list of full paths. */
static sa_status list_shards(const char *main_path, char ***names, size_t *n, sa_err *err) {
    *names = NULL, *n = 0;
    const char *sl = strrchr(main_path, '/');
    char *dir = sl ? sa_strndup(main_path, (size_t)(sl - main_path + (sl == main_path))) : sa_strdup(".");
    const char *base = sl ? sl + 1 : main_path;
    sa_strbuf prefix = {0};
    sa_strbuf_puts(&prefix, base);
    sa_strbuf_puts(&prefix, ".shard-");
    if (!dir || !prefix.buf) {
        free(dir);
        sa_strbuf_free(&prefix);
        return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    }
    sa_status s = SA_OK;
    DIR *d = opendir(dir);
    size_t cap = 0;
    if (!d) {
        if (errno != ENOENT) s = sa_err_set(err, SA_ERR_IO, "%s: cannot list: %s", dir, strerror(errno));
    } else {
        struct dirent *e;
        while (!s && (e = readdir(d))) {
            size_t nl = strlen(e->d_name);
            if (strncmp(e->d_name, sa_strbuf_cstr(&prefix), prefix.len) != 0) continue;
            if (nl > 4 && strcmp(e->d_name + nl - 4, ".tmp") == 0) continue;
            sa_strbuf p = {0};
            sa_strbuf_appendf(&p, "%s/%s", dir, e->d_name);
            char *full = sa_strbuf_detach(&p, NULL);
            if (!full || !sa_grow((void **)names, &cap, *n + 1, sizeof **names)) {
                free(full);
                s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
                break;
            }
            (*names)[(*n)++] = full;
        }
        closedir(d);
    }
    if (*n > 1) qsort(*names, *n, sizeof **names, cmp_str);
    free(dir);
    sa_strbuf_free(&prefix);
    return s;
}

static void free_names(char **names, size_t n) {
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* Every record of path with a string id: into map (first occurrence) and,
 * in file order, into list. A missing file is empty; bad and torn lines
 * are skipped (a torn last line is a result that was in flight). */
static sa_status load_records(const char *path, sa_idmap *map, json_t *list, sa_err *err) {
    if (!sa_path_exists(path)) return SA_OK;
    sa_jsonl_reader rd;
    sa_jsonl_opts ro = {.policy = SA_JSONL_SKIP};
    sa_status s = sa_jsonl_reader_open(&rd, path, &ro, err);
    if (s) return s;
    json_t *o;
    while ((s = sa_jsonl_next(&rd, &o, NULL, err)) == SA_OK) {
        const char *id = json_string_value(json_object_get(o, "id"));
        bool added = false;
        if (id && *id && sa_idmap_put(map, id, o, &added)) {
            json_decref(o);
            s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
            break;
        }
        if (added && list) json_array_append(list, o);
        if (!added) json_decref(o);
    }
    sa_jsonl_reader_close(&rd);
    return s == SA_ERR_EOF ? SA_OK : s;
}

/* Rank 0 (or the only process): append the shard files' records that the
 * main journal lacks — order first, then the rest in (file, line) order —
 * close the main journal (synced), then delete the shard files. */
static sa_status fold(const char *main_path, const sa_journal_opts *jo, const char *const *order, size_t n_order,
                      sa_err *err) {
    char **names;
    size_t n;
    sa_status s = list_shards(main_path, &names, &n, err);
    if (s || n == 0) {
        free_names(names, n);
        return s;
    }
    sa_idmap map = {0};
    json_t *list = json_array();
    sa_journal mj;
    memset(&mj, 0, sizeof mj);
    if (!list) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n && !s; i++) s = load_records(names[i], &map, list, err);
    bool opened = false;
    if (!s) s = sa_journal_open(&mj, main_path, jo, err);
    opened = !s;
    for (size_t i = 0; i < n_order && !s; i++) {
        sa_idmap_entry *e = sa_idmap_get(&map, order[i]);
        if (e && !sa_journal_has(&mj, order[i])) s = sa_journal_append(&mj, e->rec, err);
    }
    for (size_t i = 0; i < json_array_size(list) && !s; i++) {
        json_t *o = json_array_get(list, i);
        if (!sa_journal_has(&mj, json_string_value(json_object_get(o, "id")))) s = sa_journal_append(&mj, o, err);
    }
    if (opened) {
        sa_err ce = {0};
        sa_status cs = sa_journal_close(&mj, &ce);
        if (!s && cs) {
            s = cs;
            if (err) *err = ce;
        }
    }
    /* the main journal now holds everything (synced): the shards can go */
    for (size_t i = 0; i < n && !s; i++)
        if (unlink(names[i]) != 0 && errno != ENOENT)
            s = sa_err_set(err, SA_ERR_IO, "%s: cannot delete: %s", names[i], strerror(errno));
    json_decref(list);
    sa_idmap_free(&map);
    free_names(names, n);
    return s;
}

/* Rewrite the (closed) main journal atomically with the records of order
 * first, in that order, then the others as they were: after a fold the
 * journal reads as if one process had worked through the input in order. */
static sa_status rewrite_in_order(const char *main_path, const char *const *order, size_t n_order, sa_err *err) {
    sa_idmap map = {0}, written = {0};
    json_t *list = json_array();
    sa_atomic_file af = {0};
    sa_strbuf line = {0};
    sa_status s = list ? load_records(main_path, &map, list, err) : sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    if (!s) s = sa_atomic_open(&af, main_path, err);
    bool opened = !s;
    for (size_t pass = 0; pass < 2 && !s; pass++) {
        size_t n = pass == 0 ? n_order : json_array_size(list);
        for (size_t i = 0; i < n && !s; i++) {
            json_t *o = pass == 0 ? NULL : json_array_get(list, i);
            const char *id = pass == 0 ? order[i] : json_string_value(json_object_get(o, "id"));
            sa_idmap_entry *e = sa_idmap_get(&map, id);
            bool added = false;
            if (!e || (s = sa_idmap_put(&written, id, NULL, &added)) || !added) continue;
            sa_strbuf_reset(&line);
            s = sa_json_dump_line(e->rec, &line, err);
            if (!s) s = sa_atomic_write(&af, line.buf, line.len, err);
        }
    }
    if (opened) {
        if (!s) s = sa_atomic_commit(&af, err);
        else sa_atomic_abort(&af);
    }
    sa_strbuf_free(&line);
    sa_idmap_free(&written);
    sa_idmap_free(&map);
    json_decref(list);
    return s;
}

void sa_shard_close(sa_shard *sh) {
    if (!sh) return;
    if (sh->open) sa_journal_close(&sh->j, NULL);
    sh->open = false;
    if (sh->done) {
        sa_idmap_free(sh->done);
        free(sh->done);
        sh->done = NULL;
    }
    free(sh->main_path);
    free(sh->shard_path);
    sh->main_path = sh->shard_path = NULL;
}

sa_status sa_shard_open(sa_shard *sh, const sa_dist *d, const char *main_path, const sa_journal_opts *jo,
                        sa_err *err) {
    memset(sh, 0, sizeof *sh);
    sh->dist = d;
    sh->rank = sa_dist_rank(d), sh->size = sa_dist_size(d);
    sh->main_path = sa_strdup(main_path);
    if (!sh->main_path) return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    bool had_leftovers = false;
    if (sh->rank == 0) {
        char **names;
        size_t n;
        if (!list_shards(main_path, &names, &n, err)) had_leftovers = n > 0;
        free_names(names, n);
    }
    sh->reorder = had_leftovers; /* one process after an MPI run: put the folded records in order at the end */
    sa_status s = sh->rank == 0 ? fold(main_path, jo, NULL, 0, err) : SA_OK;
    if (sh->size == 1) {
        if (!s) s = sa_journal_open(&sh->j, main_path, jo, err);
        sh->open = !s;
        if (!s) sh->done_count = sa_journal_count(&sh->j);
        if (s) sa_shard_close(sh);
        return s;
    }
    if ((s = sa_dist_agree(d, s, err))) {
        sa_shard_close(sh);
        return s;
    }
    sa_idmap *done = sa_calloc(1, sizeof *done);
    sh->done = done;
    if (!done) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    if (!s) s = load_records(main_path, done, NULL, err);
    if (!s) {
        sh->done_count = done->len;
        sa_strbuf p = {0};
        sa_strbuf_appendf(&p, "%s.shard-%d-of-%d", main_path, sh->rank, sh->size);
        sh->shard_path = sa_strbuf_detach(&p, NULL);
        if (!sh->shard_path) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    }
    if (!s) s = sa_journal_open(&sh->j, sh->shard_path, jo, err);
    sh->open = !s;
    if ((s = sa_dist_agree(d, s, err))) sa_shard_close(sh);
    return s;
}

bool sa_shard_mine(const sa_shard *sh, const char *id) { return sa_shard_owner(id, sh->size) == sh->rank; }

bool sa_shard_has(sa_shard *sh, const char *id) {
    if (sh->done && sa_idmap_get(sh->done, id)) return true;
    return sh->open && sa_journal_has(&sh->j, id);
}

uint64_t sa_shard_done_before(const sa_shard *sh) { return sh->done_count; }

sa_status sa_shard_append(sa_shard *sh, const json_t *obj, sa_err *err) {
    if (!sh->open) return sa_err_set(err, SA_ERR_INVALID_ARG, "shard journal is not open");
    return sa_journal_append(&sh->j, obj, err);
}

sa_status sa_shard_finish(sa_shard *sh, sa_status local, const char *const *order, size_t n_order, sa_err *err) {
    sa_err ce = {0};
    sa_status cs = sh->open ? sa_journal_close(&sh->j, &ce) : SA_OK;
    sh->open = false;
    if (!local && cs) {
        local = cs;
        if (err) *err = ce;
    }
    sa_status s = local;
    if (sh->size == 1 && !s && sh->reorder && order) s = rewrite_in_order(sh->main_path, order, n_order, err);
    if (sh->size > 1) {
        s = sa_dist_agree(sh->dist, local, err);
        if (!s) {
            sa_journal_opts jo = sa_journal_default_opts();
            s = sh->rank == 0 ? fold(sh->main_path, &jo, order, n_order, err) : SA_OK;
            if (!s && sh->rank == 0 && order) s = rewrite_in_order(sh->main_path, order, n_order, err);
            s = sa_dist_agree(sh->dist, s, err);
        }
    }
    sa_shard_close(sh);
    return s;
}
