/* safetensors_write.c — write safetensors files: a JSON header (tensors
 * sorted by name, packed contiguously, padded with spaces to 8 bytes) and
 * the raw tensor bytes, written atomically. The reader is safetensors.c. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/fileio.h"
#include "sa/safetensors.h"
#include "sa/utf8.h"

static sa_status nomem(sa_err *err, const char *what) {
    return sa_err_set(err, SA_ERR_NOMEM, "out of memory (%s)", what);
}

/* ---- writer ------------------------------------------------------------- */

typedef struct st_wtensor {
    char *name;
    sa_dtype dtype;
    int n_dims;
    int64_t shape[SA_ST_MAX_DIMS];
    const void *data;
    size_t nbytes;
} st_wtensor;

struct sa_st_writer {
    st_wtensor *t;
    size_t n, cap;
    char **mkeys, **mvals;
    size_t nm, capk, capv;
};

sa_status sa_st_writer_init(sa_st_writer **w, sa_err *err) {
    *w = sa_calloc(1, sizeof(**w));
    return *w ? SA_OK : nomem(err, "safetensors writer");
}

void sa_st_writer_free(sa_st_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) free(w->t[i].name);
    free(w->t);
    for (size_t i = 0; i < w->nm; i++) {
        free(w->mkeys[i]);
        free(w->mvals[i]);
    }
    free(w->mkeys);
    free(w->mvals);
    free(w);
}

static bool is_st_dtype(sa_dtype t) {
    return (int)t >= 0 && t < SA_DTYPE_COUNT && t != SA_DTYPE_Q8_0;
}

sa_status sa_st_writer_add(sa_st_writer *w, const char *name, sa_dtype dtype, int n_dims,
                           const int64_t *shape, const void *data, sa_err *err) {
    if (!w || !name || !*name)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "safetensors writer: empty tensor name");
    if (strcmp(name, "__metadata__") == 0 || !sa_utf8_valid(name, strlen(name), NULL))
        return sa_err_set(err, SA_ERR_INVALID_ARG,
                          "safetensors writer: invalid tensor name '%.200s'", name);
    if (!is_st_dtype(dtype))
        return sa_err_set(err, SA_ERR_INVALID_ARG,
                          "safetensors writer: tensor '%.200s': dtype %s cannot be stored", name,
                          sa_dtype_name(dtype));
    if (n_dims < 0 || n_dims > SA_ST_MAX_DIMS || (n_dims > 0 && !shape))
        return sa_err_set(err, SA_ERR_INVALID_ARG,
                          "safetensors writer: tensor '%.200s': bad rank %d", name, n_dims);
    st_wtensor t;
    memset(&t, 0, sizeof(t));
    uint64_t numel = 1;
    bool has_zero = false, overflow = false;
    for (int d = 0; d < n_dims; d++) {
        if (shape[d] < 0)
            return sa_err_set(err, SA_ERR_INVALID_ARG,
                              "safetensors writer: tensor '%.200s': negative shape[%d]", name, d);
        t.shape[d] = shape[d];
        if (shape[d] == 0) has_zero = true;
        if (__builtin_mul_overflow(numel, (uint64_t)shape[d], &numel)) overflow = true;
    }
    if (has_zero) numel = 0;
    if ((overflow && !has_zero) || !sa_dtype_row_bytes(dtype, numel, &t.nbytes))
        return sa_err_set(err, SA_ERR_INVALID_ARG,
                          "safetensors writer: tensor '%.200s': size overflows", name);
    if (!data && t.nbytes)
        return sa_err_set(err, SA_ERR_INVALID_ARG,
                          "safetensors writer: tensor '%.200s': NULL data", name);
    t.dtype = dtype;
    t.n_dims = n_dims;
    t.data = data;
    t.name = sa_strdup(name);
    if (!t.name || !sa_grow((void **)&w->t, &w->cap, w->n + 1, sizeof(st_wtensor))) {
        free(t.name);
        return nomem(err, "safetensors writer");
    }
    w->t[w->n++] = t;
    return SA_OK;
}

sa_status sa_st_writer_set_metadata(sa_st_writer *w, const char *key, const char *value,
                                    sa_err *err) {
    if (!w || !key || !value || !sa_utf8_valid(key, strlen(key), NULL) ||
        !sa_utf8_valid(value, strlen(value), NULL))
        return sa_err_set(err, SA_ERR_INVALID_ARG,
                          "safetensors writer: metadata key and value must be UTF-8 strings");
    char *v = sa_strdup(value);
    if (!v) return nomem(err, "metadata");
    for (size_t i = 0; i < w->nm; i++) {
        if (strcmp(w->mkeys[i], key) == 0) {
            free(w->mvals[i]);
            w->mvals[i] = v;
            return SA_OK;
        }
    }
    char *k = sa_strdup(key);
    if (!k || !sa_grow((void **)&w->mkeys, &w->capk, w->nm + 1, sizeof(char *)) ||
        !sa_grow((void **)&w->mvals, &w->capv, w->nm + 1, sizeof(char *))) {
        free(k);
        free(v);
        return nomem(err, "metadata");
    }
    w->mkeys[w->nm] = k;
    w->mvals[w->nm] = v;
    w->nm++;
    return SA_OK;
}

static int cmp_wtensor_name(const void *a, const void *b) {
    return strcmp(((const st_wtensor *)a)->name, ((const st_wtensor *)b)->name);
}

/* Sort the tensors and build the padded header (8-byte length prefix
 * included) into hdr. */
static sa_status build_header(sa_st_writer *w, sa_strbuf *hdr, sa_err *err) {
    if (w->n > 1) qsort(w->t, w->n, sizeof(st_wtensor), cmp_wtensor_name);
    for (size_t i = 1; i < w->n; i++)
        if (strcmp(w->t[i - 1].name, w->t[i].name) == 0)
            return sa_err_set(err, SA_ERR_INVALID_ARG,
                              "safetensors writer: tensor '%.200s' added twice", w->t[i].name);
    json_t *root = json_object();
    sa_status s = SA_OK;
    if (!root) return nomem(err, "header");
    if (w->nm) {
        /* Keys sorted too, so the bytes never depend on call order. */
        for (size_t i = 1; i < w->nm; i++)
            for (size_t j = i; j > 0 && strcmp(w->mkeys[j - 1], w->mkeys[j]) > 0; j--) {
                char *k = w->mkeys[j], *v = w->mvals[j];
                w->mkeys[j] = w->mkeys[j - 1];
                w->mvals[j] = w->mvals[j - 1];
                w->mkeys[j - 1] = k;
                w->mvals[j - 1] = v;
            }
        json_t *meta = json_object();
        if (!meta || json_object_set_new(root, "__metadata__", meta) != 0) goto oom;
        for (size_t i = 0; i < w->nm; i++)
            if (json_object_set_new(meta, w->mkeys[i], json_string(w->mvals[i])) != 0) goto oom;
    }
    size_t off = 0;
    for (size_t i = 0; i < w->n; i++) {
        const st_wtensor *t = &w->t[i];
        json_t *e = json_object(), *shape = json_array(), *offs = json_array();
        if (!e || !shape || !offs) {
            json_decref(e);
            json_decref(shape);
            json_decref(offs);
            goto oom;
        }
        json_object_set_new(e, "dtype", json_string(sa_dtype_name(t->dtype)));
        json_object_set_new(e, "shape", shape);
        json_object_set_new(e, "data_offsets", offs);
        if (json_object_set_new(root, t->name, e) != 0) goto oom;
        for (int d = 0; d < t->n_dims; d++)
            if (json_array_append_new(shape, json_integer((json_int_t)t->shape[d])) != 0) goto oom;
        size_t end;
        if (!sa_size_add(off, t->nbytes, &end)) {
            json_decref(root);
            return sa_err_set(err, SA_ERR_NOMEM, "safetensors writer: total size overflows");
        }
        if (json_array_append_new(offs, json_integer((json_int_t)off)) != 0 ||
            json_array_append_new(offs, json_integer((json_int_t)end)) != 0)
            goto oom;
        off = end;
    }
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text) return nomem(err, "header");
    size_t len = strlen(text), pad = (8 - len % 8) % 8;
    uint8_t lenbuf[8];
    uint64_t total = (uint64_t)len + pad;
    for (int i = 0; i < 8; i++) lenbuf[i] = (uint8_t)(total >> (8 * i));
    s = sa_strbuf_append(hdr, lenbuf, 8);
    if (s == SA_OK) s = sa_strbuf_append(hdr, text, len);
    for (size_t i = 0; s == SA_OK && i < pad; i++) s = sa_strbuf_putc(hdr, ' ');
    free(text);
    return s == SA_OK ? SA_OK : nomem(err, "header");
oom:
    json_decref(root);
    return nomem(err, "header");
}

sa_status sa_st_write_mem(sa_st_writer *w, sa_strbuf *out, sa_err *err) {
    if (!w || !out) return sa_err_set(err, SA_ERR_INVALID_ARG, "sa_st_write_mem: NULL argument");
    sa_strbuf hdr = {0};
    sa_status s = build_header(w, &hdr, err);
    if (s != SA_OK) return s;
    size_t old_len = out->len;
    s = sa_strbuf_append(out, hdr.buf, hdr.len);
    for (size_t i = 0; s == SA_OK && i < w->n; i++)
        if (w->t[i].nbytes) s = sa_strbuf_append(out, w->t[i].data, w->t[i].nbytes);
    sa_strbuf_free(&hdr);
    if (s != SA_OK) {
        sa_strbuf_truncate(out, old_len);
        return nomem(err, "safetensors image");
    }
    return SA_OK;
}

sa_status sa_st_write(sa_st_writer *w, const char *path, sa_err *err) {
    if (!w || !path) return sa_err_set(err, SA_ERR_INVALID_ARG, "sa_st_write: NULL argument");
    sa_strbuf hdr = {0};
    sa_status s = build_header(w, &hdr, err);
    if (s != SA_OK) return s;
    sa_atomic_file af;
    s = sa_atomic_open(&af, path, err);
    if (s == SA_OK) s = sa_atomic_write(&af, hdr.buf, hdr.len, err);
    for (size_t i = 0; s == SA_OK && i < w->n; i++)
        s = sa_atomic_write(&af, w->t[i].data, w->t[i].nbytes, err);
    sa_strbuf_free(&hdr);
    if (s != SA_OK) {
        sa_atomic_abort(&af);
        return s;
    }
    return sa_atomic_commit(&af, err);
}
