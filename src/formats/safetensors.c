/* safetensors.c — safetensors reader (one file or a sharded set) and writer
 * (see safetensors.h).
 *
 * The header is hostile input. The validation follows the reference
 * implementation's rules: the header length is capped and must fit in the
 * file, the JSON is an object without duplicate keys, every dtype is known,
 * every shape product times the element size (overflow-checked) equals the
 * span of the data offsets, and the tensors, sorted by offset, tile the data
 * section exactly (no overlap, no hole, no trailing bytes).
 */
#include "sa/safetensors.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sa/alloc.h"
#include "sa/fileio.h"
#include "sa/mmap.h"
#include "sa/utf8.h"

#define ST_MAX_SHARDS 65536
#define ST_INDEX_MAX_BYTES (100u * 1024u * 1024u)

typedef struct st_file {
    char *path;  /* path or caller-given name, for messages */
    sa_mmap map; /* empty for sa_st_open_memory */
    const uint8_t *base;
    size_t size;
} st_file;

struct sa_st {
    st_file *files;
    int n_files;
    sa_st_tensor *tensors;
    int64_t n_tensors;
    size_t cap_tensors;
    int64_t *by_name; /* tensor indices sorted by name, for sa_st_find */
    char **meta_keys;
    char **meta_vals;
    int64_t n_meta;
};

/* ---- small helpers ------------------------------------------------------ */

static uint64_t rd_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static sa_status nomem(sa_err *err, const char *what) {
    return sa_err_set(err, SA_ERR_NOMEM, "out of memory (%s)", what);
}

static int cmp_tensor_offset(const void *a, const void *b) {
    const sa_st_tensor *x = a, *y = b;
    uintptr_t px = (uintptr_t)x->data, py = (uintptr_t)y->data;
    if (px != py) return px < py ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* ---- reader ------------------------------------------------------------- */

void sa_st_close(sa_st *st) {
    if (!st) return;
    for (int i = 0; i < st->n_files; i++) {
        sa_mmap_close(&st->files[i].map);
        free(st->files[i].path);
    }
    free(st->files);
    for (int64_t i = 0; i < st->n_tensors; i++) free((char *)st->tensors[i].name);
    free(st->tensors);
    free(st->by_name);
    for (int64_t i = 0; i < st->n_meta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_vals[i]);
    }
    free(st->meta_keys);
    free(st->meta_vals);
    free(st);
}

static sa_status add_file(sa_st *st, const char *path, int *index, sa_err *err) {
    st_file *nf = sa_realloc_array(st->files, (size_t)st->n_files + 1, sizeof(st_file));
    if (!nf) return nomem(err, "shard list");
    st->files = nf;
    st_file *f = &st->files[st->n_files];
    memset(f, 0, sizeof(*f));
    f->path = sa_strdup(path);
    if (!f->path) return nomem(err, "shard path");
    *index = st->n_files++;
    return SA_OK;
}

static sa_status parse_metadata(sa_st *st, const char *label, json_t *meta, bool keep,
                                sa_err *err) {
    if (!json_is_object(meta))
        return sa_err_set(err, SA_ERR_FORMAT, "%s: __metadata__ is not an object", label);
    const char *k;
    json_t *v;
    size_t n = json_object_size(meta);
    if (keep && n) {
        st->meta_keys = sa_calloc(n, sizeof(char *));
        st->meta_vals = sa_calloc(n, sizeof(char *));
        if (!st->meta_keys || !st->meta_vals) return nomem(err, "metadata");
    }
    json_object_foreach(meta, k, v) {
        if (!json_is_string(v))
            return sa_err_set(err, SA_ERR_FORMAT,
                              "%s: __metadata__ value of '%.200s' is not a string", label, k);
        if (!keep) continue;
        char *kk = sa_strdup(k), *vv = sa_strndup(json_string_value(v), json_string_length(v));
        if (!kk || !vv) {
            free(kk);
            free(vv);
            return nomem(err, "metadata");
        }
        st->meta_keys[st->n_meta] = kk;
        st->meta_vals[st->n_meta] = vv;
        st->n_meta++;
    }
    return SA_OK;
}

/* Read a non-negative JSON integer. */
static bool get_u64(json_t *v, uint64_t *out) {
    if (!json_is_integer(v)) return false;
    json_int_t x = json_integer_value(v);
    if (x < 0) return false;
    *out = (uint64_t)x;
    return true;
}

static void shape_str(char *buf, size_t cap, const sa_st_tensor *t) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "[");
    for (int d = 0; d < t->n_dims && o < cap; d++)
        o += (size_t)snprintf(buf + o, cap - o, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

static sa_status parse_tensor(sa_st *st, const char *label, const char *name, json_t *info,
                              const uint8_t *data, size_t data_size, int shard, sa_err *err) {
    if (!*name) return sa_err_set(err, SA_ERR_FORMAT, "%s: a tensor has an empty name", label);
    if (!json_is_object(info))
        return sa_err_set(err, SA_ERR_FORMAT, "%s: tensor '%.200s': entry is not an object",
                          label, name);
    json_t *jdtype = NULL, *jshape = NULL, *joff = NULL;
    const char *k;
    json_t *v;
    json_object_foreach(info, k, v) {
        if (strcmp(k, "dtype") == 0) jdtype = v;
        else if (strcmp(k, "shape") == 0) jshape = v;
        else if (strcmp(k, "data_offsets") == 0) joff = v;
        else
            return sa_err_set(err, SA_ERR_FORMAT, "%s: tensor '%.200s': unknown field '%.100s'",
                              label, name, k);
    }
    if (!jdtype || !jshape || !joff)
        return sa_err_set(err, SA_ERR_FORMAT, "%s: tensor '%.200s': missing '%s'", label, name,
                          !jdtype ? "dtype" : !jshape ? "shape" : "data_offsets");
    if (!json_is_string(jdtype))
        return sa_err_set(err, SA_ERR_FORMAT, "%s: tensor '%.200s': dtype is not a string",
                          label, name);
    const char *dname = json_string_value(jdtype);
    sa_dtype dt = sa_dtype_from_name(dname);
    if (dt == SA_DTYPE_INVALID || dt == SA_DTYPE_Q8_0)
        return sa_err_set(err, SA_ERR_UNSUPPORTED,
                          "%s: tensor '%.200s': unsupported dtype '%.50s'", label, name, dname);

    sa_st_tensor t;
    memset(&t, 0, sizeof(t));
    t.dtype = dt;
    t.shard = shard;
    if (!json_is_array(jshape))
        return sa_err_set(err, SA_ERR_FORMAT, "%s: tensor '%.200s': shape is not an array",
                          label, name);
    size_t rank = json_array_size(jshape);
    if (rank > SA_ST_MAX_DIMS)
        return sa_err_set(err, SA_ERR_UNSUPPORTED,
                          "%s: tensor '%.200s': rank %zu exceeds the maximum %d", label, name,
                          rank, SA_ST_MAX_DIMS);
    t.n_dims = (int)rank;
    uint64_t numel = 1;
    bool overflow = false, has_zero = false;
    for (size_t d = 0; d < rank; d++) {
        uint64_t dim;
        if (!get_u64(json_array_get(jshape, d), &dim) || dim > INT64_MAX)
            return sa_err_set(err, SA_ERR_FORMAT,
                              "%s: tensor '%.200s': shape[%zu] is not a non-negative integer",
                              label, name, d);
        t.shape[d] = (int64_t)dim;
        if (dim == 0) has_zero = true;
        if (__builtin_mul_overflow(numel, dim, &numel)) overflow = true;
    }
    size_t nbytes = 0;
    /* A zero dimension makes the product 0 even after an overflowing prefix. */
    if (has_zero) {
        overflow = false;
        numel = 0;
    }
    if (overflow || !sa_dtype_row_bytes(dt, numel, &nbytes))
        return sa_err_set(err, SA_ERR_FORMAT, "%s: tensor '%.200s': shape size overflows",
                          label, name);

    if (!json_is_array(joff) || json_array_size(joff) != 2)
        return sa_err_set(err, SA_ERR_FORMAT,
                          "%s: tensor '%.200s': data_offsets is not a [begin, end] pair", label,
                          name);
    uint64_t begin, end;
    if (!get_u64(json_array_get(joff, 0), &begin) || !get_u64(json_array_get(joff, 1), &end))
        return sa_err_set(err, SA_ERR_FORMAT,
                          "%s: tensor '%.200s': data_offsets are not non-negative integers",
                          label, name);
    if (end < begin)
        return sa_err_set(err, SA_ERR_FORMAT,
                          "%s: tensor '%.200s': data_offsets [%llu, %llu) end before they begin",
                          label, name, (unsigned long long)begin, (unsigned long long)end);
    if (end > data_size)
        return sa_err_set(err, SA_ERR_FORMAT,
                          "%s: tensor '%.200s': data_offsets [%llu, %llu) run past the end of "
                          "the %zu-byte data section",
                          label, name, (unsigned long long)begin, (unsigned long long)end,
                          data_size);
    if (end - begin != nbytes) {
        char sh[128];
        shape_str(sh, sizeof(sh), &t);
        return sa_err_set(err, SA_ERR_FORMAT,
                          "%s: tensor '%.200s': shape %s of %s needs %zu bytes but data_offsets "
                          "span %llu",
                          label, name, sh, sa_dtype_name(dt), nbytes,
                          (unsigned long long)(end - begin));
    }
    t.data = data + begin;
    t.nbytes = nbytes;
    t.name = sa_strdup(name);
    if (!t.name) return nomem(err, "tensor name");
    if (!sa_grow((void **)&st->tensors, &st->cap_tensors, (size_t)st->n_tensors + 1,
                 sizeof(sa_st_tensor))) {
        free((char *)t.name);
        return nomem(err, "tensor list");
    }
    st->tensors[st->n_tensors++] = t;
    return SA_OK;
}

/* Parse one safetensors image, appending its tensors (as shard `shard`). */
static sa_status parse_file(sa_st *st, int shard, bool keep_meta, sa_err *err) {
    const st_file *f = &st->files[shard];
    const char *label = f->path;
    const uint8_t *p = f->base;
    size_t size = f->size;
    if (size < 8)
        return sa_err_set(err, SA_ERR_FORMAT,
                          "%s: file is %zu bytes, too short for the 8-byte header length", label,
                          size);
    uint64_t hlen = rd_le64(p);
    if (hlen > SA_ST_MAX_HEADER)
        return sa_err_set(err, SA_ERR_FORMAT,
                          "%s: header length %llu exceeds the %u-byte limit", label,
                          (unsigned long long)hlen, SA_ST_MAX_HEADER);
    if (hlen > size - 8)
        return sa_err_set(err, SA_ERR_FORMAT,
                          "%s: header length %llu runs past the end of the file (%zu bytes)",
                          label, (unsigned long long)hlen, size);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)p + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return sa_err_set(err, SA_ERR_FORMAT, "%s: header JSON at byte %d: %s", label,
                          jerr.position + 8, jerr.text);
    sa_status s = SA_OK;
    if (!json_is_object(root)) {
        s = sa_err_set(err, SA_ERR_FORMAT, "%s: header JSON is not an object", label);
        goto done;
    }
    const uint8_t *data = p + 8 + hlen;
    size_t data_size = size - 8 - (size_t)hlen;
    int64_t first = st->n_tensors;
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        if (strcmp(k, "__metadata__") == 0) s = parse_metadata(st, label, v, keep_meta, err);
        else s = parse_tensor(st, label, k, v, data, data_size, shard, err);
        if (s != SA_OK) goto done;
    }
    /* Present tensors in offset order and check that they tile the data. */
    sa_st_tensor *ts = st->tensors + first;
    size_t nt = (size_t)(st->n_tensors - first);
    if (nt > 1) qsort(ts, nt, sizeof(*ts), cmp_tensor_offset);
    size_t pos = 0;
    for (size_t i = 0; i < nt; i++) {
        size_t b = (size_t)((const uint8_t *)ts[i].data - data);
        if (b < pos) {
            s = sa_err_set(err, SA_ERR_FORMAT,
                           "%s: tensors '%.200s' and '%.200s' overlap (data offset %zu < %zu)",
                           label, ts[i - 1].name, ts[i].name, b, pos);
            goto done;
        }
        if (b > pos) {
            s = sa_err_set(err, SA_ERR_FORMAT,
                           "%s: hole in the data section: bytes [%zu, %zu) before tensor "
                           "'%.200s' belong to no tensor",
                           label, pos, b, ts[i].name);
            goto done;
        }
        pos = b + ts[i].nbytes;
    }
    if (pos != data_size)
        s = sa_err_set(err, SA_ERR_FORMAT,
                       "%s: the data section has %zu bytes after the last tensor (ends at %zu of "
                       "%zu)",
                       label, data_size - pos, pos, data_size);
done:
    json_decref(root);
    return s;
}

static int cmp_index_name(const void *a, const void *b, void *ctx) {
    const sa_st_tensor *t = ctx;
    return strcmp(t[*(const int64_t *)a].name, t[*(const int64_t *)b].name);
}

/* Build the name index; a name seen twice (possible across shards) is an error. */
static sa_status build_index(sa_st *st, sa_err *err) {
    if (st->n_tensors == 0) return SA_OK;
    st->by_name = sa_malloc_array((size_t)st->n_tensors, sizeof(int64_t));
    if (!st->by_name) return nomem(err, "tensor index");
    for (int64_t i = 0; i < st->n_tensors; i++) st->by_name[i] = i;
    qsort_r(st->by_name, (size_t)st->n_tensors, sizeof(int64_t), cmp_index_name, st->tensors);
    for (int64_t i = 1; i < st->n_tensors; i++) {
        const sa_st_tensor *a = &st->tensors[st->by_name[i - 1]];
        const sa_st_tensor *b = &st->tensors[st->by_name[i]];
        if (strcmp(a->name, b->name) == 0)
            return sa_err_set(err, SA_ERR_FORMAT, "tensor '%.200s' appears in both %s and %s",
                              a->name, st->files[a->shard].path, st->files[b->shard].path);
    }
    return SA_OK;
}

static sa_st *st_new(sa_err *err) {
    sa_st *st = sa_calloc(1, sizeof(*st));
    if (!st) nomem(err, "safetensors handle");
    return st;
}

sa_status sa_st_open_memory(sa_st **out, const void *data, size_t size, const char *name,
                            sa_err *err) {
    *out = NULL;
    if (!data && size) return sa_err_set(err, SA_ERR_INVALID_ARG, "sa_st_open_memory: NULL data");
    sa_st *st = st_new(err);
    if (!st) return SA_ERR_NOMEM;
    int idx;
    sa_status s = add_file(st, name ? name : "<memory>", &idx, err);
    if (s == SA_OK) {
        st->files[idx].base = data;
        st->files[idx].size = size;
        s = parse_file(st, idx, true, err);
    }
    if (s == SA_OK) s = build_index(st, err);
    if (s != SA_OK) {
        sa_st_close(st);
        return s;
    }
    *out = st;
    return SA_OK;
}

static sa_status map_and_parse(sa_st *st, const char *path, bool keep_meta, int *idx,
                               sa_err *err) {
    sa_status s = add_file(st, path, idx, err);
    if (s != SA_OK) return s;
    st_file *f = &st->files[*idx];
    s = sa_mmap_open(&f->map, path, err);
    if (s != SA_OK) return s;
    f->base = f->map.data;
    f->size = f->map.size;
    return parse_file(st, *idx, keep_meta, err);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

/* Shard names come from the index: keep them inside the index's directory. */
static bool safe_relative(const char *p) {
    if (!*p || p[0] == '/') return false;
    const char *c = p;
    while (*c) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (n == 2 && c[0] == '.' && c[1] == '.') return false;
        if (!e) break;
        c = e + 1;
    }
    return true;
}

static char *path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name), n;
    if (!sa_size_add(a, b, &n) || !sa_size_add(n, 2, &n)) return NULL;
    char *p = sa_malloc(n);
    if (!p) return NULL;
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return sa_strdup(".");
    if (slash == path) return sa_strdup("/");
    return sa_strndup(path, (size_t)(slash - path));
}

static sa_status open_index(sa_st *st, const char *index_path, sa_err *err) {
    sa_mmap map;
    sa_status s = sa_mmap_open(&map, index_path, err);
    if (s != SA_OK) return s;
    if (map.size > ST_INDEX_MAX_BYTES) {
        sa_mmap_close(&map);
        return sa_err_set(err, SA_ERR_FORMAT, "%s: %zu bytes is too large for an index",
                          index_path, map.size);
    }
    json_error_t jerr;
    json_t *root = json_loadb((const char *)map.data, map.size, JSON_REJECT_DUPLICATES, &jerr);
    sa_mmap_close(&map);
    if (!root)
        return sa_err_set(err, SA_ERR_FORMAT, "%s: line %d column %d: %s", index_path, jerr.line,
                          jerr.column, jerr.text);
    char *dir = NULL;
    const char **shard_names = NULL; /* borrowed from root */
    size_t n_shards = 0;
    json_t *shard_ids = json_object(); /* shard file -> index: a hash map */
    json_t *wm = json_is_object(root) ? json_object_get(root, "weight_map") : NULL;
    if (!json_is_object(root)) {
        s = sa_err_set(err, SA_ERR_FORMAT, "%s: not a JSON object", index_path);
        goto done;
    }
    if (!json_is_object(wm)) {
        s = sa_err_set(err, SA_ERR_FORMAT, "%s: missing \"weight_map\" object", index_path);
        goto done;
    }
    json_t *meta = json_object_get(root, "metadata");
    if (meta && !json_is_object(meta) && !json_is_null(meta)) {
        s = sa_err_set(err, SA_ERR_FORMAT, "%s: \"metadata\" is not an object", index_path);
        goto done;
    }
    shard_names = sa_calloc(json_object_size(wm) + 1, sizeof(char *));
    dir = dir_of(index_path);
    if (!shard_names || !dir || !shard_ids) {
        s = nomem(err, "index");
        goto done;
    }
    /* Distinct shard files, in order of first mention (hashed: an index may
     * list millions of tensors). */
    const char *k;
    json_t *v;
    json_object_foreach(wm, k, v) {
        if (!json_is_string(v)) {
            s = sa_err_set(err, SA_ERR_FORMAT, "%s: weight_map['%.200s'] is not a string",
                           index_path, k);
            goto done;
        }
        const char *fn = json_string_value(v);
        if (!safe_relative(fn)) {
            s = sa_err_set(err, SA_ERR_FORMAT,
                           "%s: weight_map['%.200s'] names '%.200s', not a relative path inside "
                           "the model directory",
                           index_path, k, fn);
            goto done;
        }
        if (!json_object_get(shard_ids, fn)) {
            if (n_shards >= ST_MAX_SHARDS) {
                s = sa_err_set(err, SA_ERR_RANGE, "%s: more than %d shard files", index_path,
                               ST_MAX_SHARDS);
                goto done;
            }
            if (json_object_set_new(shard_ids, fn, json_integer((json_int_t)n_shards)) != 0) {
                s = nomem(err, "index");
                goto done;
            }
            shard_names[n_shards++] = fn;
        }
    }
    for (size_t j = 0; j < n_shards; j++) {
        char *sp = path_join(dir, shard_names[j]);
        if (!sp) {
            s = nomem(err, "shard path");
            goto done;
        }
        int idx;
        s = map_and_parse(st, sp, j == 0, &idx, err);
        free(sp);
        if (s != SA_OK) {
            sa_err_prefix(err, "%s: shard %zu: ", index_path, j);
            goto done;
        }
    }
    s = build_index(st, err);
    if (s != SA_OK) {
        sa_err_prefix(err, "%s: ", index_path);
        goto done;
    }
    /* weight_map and the shards must agree exactly. */
    json_object_foreach(wm, k, v) {
        const sa_st_tensor *t = sa_st_find(st, k);
        const char *fn = json_string_value(v);
        json_int_t want = json_integer_value(json_object_get(shard_ids, fn));
        if (!t || t->shard != want) {
            s = sa_err_set(err, SA_ERR_FORMAT,
                           "%s: weight_map lists tensor '%.200s' in '%.200s', which does not "
                           "contain it",
                           index_path, k, fn);
            goto done;
        }
    }
    for (int64_t i = 0; i < st->n_tensors; i++) {
        if (!json_object_get(wm, st->tensors[i].name)) {
            s = sa_err_set(err, SA_ERR_FORMAT,
                           "%s: shard %s holds tensor '%.200s', which weight_map does not list",
                           index_path, st->files[st->tensors[i].shard].path,
                           st->tensors[i].name);
            goto done;
        }
    }
done:
    free(shard_names);
    free(dir);
    json_decref(shard_ids);
    json_decref(root);
    return s;
}

/* Pick the file to open inside a model directory. */
static sa_status resolve_dir(const char *dir, char **picked, sa_err *err) {
    static const char *const preferred[] = {"model.safetensors.index.json", "model.safetensors"};
    for (size_t i = 0; i < 2; i++) {
        char *p = path_join(dir, preferred[i]);
        if (!p) return nomem(err, "path");
        if (access(p, R_OK) == 0) {
            *picked = p;
            return SA_OK;
        }
        free(p);
    }
    DIR *d = opendir(dir);
    if (!d)
        return sa_err_set(err, SA_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno));
    char *index = NULL, *single = NULL;
    int n_index = 0, n_single = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (ends_with(e->d_name, ".safetensors.index.json")) {
            if (n_index++ == 0) index = sa_strdup(e->d_name);
        } else if (ends_with(e->d_name, ".safetensors")) {
            if (n_single++ == 0) single = sa_strdup(e->d_name);
        }
    }
    closedir(d);
    sa_status s = SA_OK;
    const char *name = NULL;
    if (n_index == 1) name = index;
    else if (n_index == 0 && n_single == 1) name = single;
    if (name) {
        *picked = path_join(dir, name);
        if (!*picked) s = nomem(err, "path");
    } else if (n_index > 1) {
        s = sa_err_set(err, SA_ERR_NOT_FOUND, "%s: %d *.safetensors.index.json files; name one",
                       dir, n_index);
    } else if (n_single > 1) {
        s = sa_err_set(err, SA_ERR_NOT_FOUND,
                       "%s: %d .safetensors files and no index; name one", dir, n_single);
    } else {
        s = sa_err_set(err, SA_ERR_NOT_FOUND, "%s: no .safetensors file or index", dir);
    }
    free(index);
    free(single);
    return s;
}

sa_status sa_st_open(sa_st **out, const char *path, sa_err *err) {
    *out = NULL;
    if (!path) return sa_err_set(err, SA_ERR_INVALID_ARG, "sa_st_open: NULL path");
    char *picked = NULL;
    if (sa_path_is_dir(path)) {
        sa_status s = resolve_dir(path, &picked, err);
        if (s != SA_OK) return s;
        path = picked;
    }
    sa_st *st = st_new(err);
    if (!st) {
        free(picked);
        return SA_ERR_NOMEM;
    }
    sa_status s;
    if (ends_with(path, ".json")) {
        s = open_index(st, path, err);
    } else {
        int idx;
        s = map_and_parse(st, path, true, &idx, err);
        if (s == SA_OK) s = build_index(st, err);
    }
    free(picked);
    if (s != SA_OK) {
        sa_st_close(st);
        return s;
    }
    *out = st;
    return SA_OK;
}

int64_t sa_st_n_tensors(const sa_st *st) { return st ? st->n_tensors : 0; }

const sa_st_tensor *sa_st_tensor_at(const sa_st *st, int64_t i) {
    if (!st || i < 0 || i >= st->n_tensors) return NULL;
    return &st->tensors[i];
}

const sa_st_tensor *sa_st_find(const sa_st *st, const char *name) {
    if (!st || !name || !st->by_name) return NULL;
    int64_t lo = 0, hi = st->n_tensors;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        const sa_st_tensor *t = &st->tensors[st->by_name[mid]];
        int c = strcmp(t->name, name);
        if (c == 0) return t;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

int sa_st_n_shards(const sa_st *st) { return st ? st->n_files : 0; }

const char *sa_st_shard_path(const sa_st *st, int shard) {
    if (!st || shard < 0 || shard >= st->n_files) return NULL;
    return st->files[shard].path;
}

int64_t sa_st_tensor_numel(const sa_st_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->n_dims; d++)
        if (t->shape[d] == 0) return 0;
    /* Validated on open: without a zero dimension the product fits. */
    for (int d = 0; d < t->n_dims; d++) n *= t->shape[d];
    return n;
}

int64_t sa_st_n_metadata(const sa_st *st) { return st ? st->n_meta : 0; }

const char *sa_st_metadata_key(const sa_st *st, int64_t i) {
    return st && i >= 0 && i < st->n_meta ? st->meta_keys[i] : NULL;
}

const char *sa_st_metadata_value(const sa_st *st, int64_t i) {
    return st && i >= 0 && i < st->n_meta ? st->meta_vals[i] : NULL;
}

const char *sa_st_metadata_get(const sa_st *st, const char *key) {
    if (!st || !key) return NULL;
    for (int64_t i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_vals[i];
    return NULL;
}
