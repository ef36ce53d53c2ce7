/* stage_util.c — see stage_util.h. */
#include "stage_util.h"

#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/hash.h"
#include "sa/strbuf.h"

void sa_idmap_free(sa_idmap *m) {
    for (size_t i = 0; i < m->cap; i++) {
        free(m->v[i].id);
        if (m->v[i].rec) json_decref(m->v[i].rec);
    }
    free(m->v);
    memset(m, 0, sizeof *m);
}

static sa_idmap_entry *idmap_slot(const sa_idmap *m, const char *id) {
    size_t i = (size_t)sa_hash_str(id, 0) & (m->cap - 1);
    while (m->v[i].id && strcmp(m->v[i].id, id) != 0) i = (i + 1) & (m->cap - 1);
    return &m->v[i];
}

sa_idmap_entry *sa_idmap_get(const sa_idmap *m, const char *id) {
    if (!m->cap) return NULL;
    sa_idmap_entry *e = idmap_slot(m, id);
    return e->id ? e : NULL;
}

sa_status sa_idmap_put(sa_idmap *m, const char *id, json_t *rec, bool *added) {
    if ((m->len + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 64;
        sa_idmap_entry *nv = calloc(nc, sizeof *nv);
        if (!nv) return SA_ERR_NOMEM;
        sa_idmap n = {nv, nc, m->len};
        for (size_t i = 0; i < m->cap; i++)
            if (m->v[i].id) *idmap_slot(&n, m->v[i].id) = m->v[i];
        free(m->v);
        *m = n;
    }
    sa_idmap_entry *e = idmap_slot(m, id);
    *added = e->id == NULL;
    if (!*added) return SA_OK;
    if (!(e->id = sa_strdup(id))) return SA_ERR_NOMEM;
    e->rec = rec;
    m->len++;
    return SA_OK;
}

char *sa_stage_path_suffix(const char *path, const char *suffix) {
    sa_strbuf b = {0};
    if (sa_strbuf_puts(&b, path) || sa_strbuf_puts(&b, suffix)) {
        sa_strbuf_free(&b);
        return NULL;
    }
    return sa_strbuf_detach(&b, NULL);
}

char *sa_stage_stats_beside(const char *out) {
    const char *slash = strrchr(out, '/');
    sa_strbuf b = {0};
    if ((slash && sa_strbuf_append(&b, out, (size_t)(slash - out) + 1)) || sa_strbuf_puts(&b, "stats.json")) {
        sa_strbuf_free(&b);
        return NULL;
    }
    return sa_strbuf_detach(&b, NULL);
}
