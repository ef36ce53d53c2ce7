/* gguf_write.c — GGUF v3 writer (see gguf.h).
 *
 * Each key/value is kept already serialized (value type u32 + value bytes,
 * exactly as in the file), so writing is a concatenation and copying a key
 * from a reader is a byte copy. Tensor data is borrowed and streamed to the
 * output at write time, each tensor padded to the alignment like llama.cpp
 * does, so files we write are laid out the way llama.cpp lays them out.
 *
 * sa_gguf_write goes through sa_atomic_file (temp file, fsync, rename), so a
 * crash never leaves a half-written model under the final name.
 */
#include "sa/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/fileio.h"

typedef struct wkv {
    char *key;
    uint8_t *val; /* type u32 + value, little-endian */
    size_t val_len;
} wkv;

typedef struct wtensor {
    char *name;
    uint32_t ggml_type;
    int n_dims;
    int64_t ne[SA_GGUF_MAX_DIMS];
    const void *data;
    size_t nbytes;
    uint64_t offset;
} wtensor;

struct sa_gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
};

/* Defined in gguf.c: the file bytes of key i's type + value. */
const uint8_t *sa_gguf__raw_value(const sa_gguf *g, int64_t i, size_t *len);

sa_status sa_gguf_writer_init(sa_gguf_writer **w, sa_err *err) {
    if (!w) return sa_err_set(err, SA_ERR_INVALID_ARG, "sa_gguf_writer_init: NULL argument");
    *w = sa_calloc(1, sizeof **w);
    return *w ? SA_OK : sa_err_set(err, SA_ERR_NOMEM, "gguf writer: out of memory");
}

void sa_gguf_writer_free(sa_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

/* ---- little-endian encoding into a strbuf ------------------------------------ */

static sa_status put_le(sa_strbuf *b, uint64_t v, int n) {
    uint8_t tmp[8];
    for (int i = 0; i < n; i++) tmp[i] = (uint8_t)(v >> (8 * i));
    return sa_strbuf_append(b, tmp, (size_t)n);
}

static sa_status put_str(sa_strbuf *b, const char *s, size_t len) {
    sa_status st = put_le(b, len, 8);
    return st ? st : sa_strbuf_append(b, s, len);
}

static const uint8_t k_size[SA_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

/* Take ownership of the serialized value in b and store it under key. */
static sa_status set_blob(sa_gguf_writer *w, const char *key, sa_strbuf *b, sa_err *err) {
    size_t len;
    uint8_t *val = (uint8_t *)sa_strbuf_detach(b, &len);
    if (!val) return sa_err_set(err, SA_ERR_NOMEM, "gguf writer: out of memory");
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].val);
            w->kv[i].val = val;
            w->kv[i].val_len = len;
            return SA_OK;
        }
    char *k = sa_strdup(key);
    if (!k || !sa_grow((void **)&w->kv, &w->cap_kv, w->n_kv + 1, sizeof *w->kv)) {
        free(k);
        free(val);
        return sa_err_set(err, SA_ERR_NOMEM, "gguf writer: out of memory adding key '%s'", key);
    }
    w->kv[w->n_kv++] = (wkv){k, val, len};
    return SA_OK;
}

static sa_status check_key(sa_gguf_writer *w, const char *key, sa_err *err) {
    if (!w || !key) return sa_err_set(err, SA_ERR_INVALID_ARG, "gguf writer: NULL writer or key");
    return SA_OK;
}

static sa_status set_scalar(sa_gguf_writer *w, const char *key, sa_gguf_type t, uint64_t bits,
                            sa_err *err) {
    sa_status s = check_key(w, key, err);
    if (s) return s;
    sa_strbuf b = {0};
    if (put_le(&b, (uint32_t)t, 4) || put_le(&b, bits, k_size[t])) {
        sa_strbuf_free(&b);
        return sa_err_set(err, SA_ERR_NOMEM, "gguf writer: out of memory");
    }
    return set_blob(w, key, &b, err);
}

sa_status sa_gguf_set_u8(sa_gguf_writer *w, const char *key, uint8_t v, sa_err *err) {
    return set_scalar(w, key, SA_GGUF_TYPE_UINT8, v, err);
}
sa_status sa_gguf_set_i8(sa_gguf_writer *w, const char *key, int8_t v, sa_err *err) {
    return set_scalar(w, key, SA_GGUF_TYPE_INT8, (uint8_t)v, err);
}
sa_status sa_gguf_set_u16(sa_gguf_writer *w, const char *key, uint16_t v, sa_err *err) {
    return set_scalar(w, key, SA_GGUF_TYPE_UINT16, v, err);
}
sa_status sa_gguf_set_i16(sa_gguf_writer *w, const char *key, int16_t v, sa_err *err) {
    return set_scalar(w, key, SA_GGUF_TYPE_INT16, (uint16_t)v, err);
}
sa_status sa_gguf_set_u32(sa_gguf_writer *w, const char *key, uint32_t v, sa_err *err) {
    return set_scalar(w, key, SA_GGUF_TYPE_UINT32, v, err);
}
sa_status sa_gguf_set_i32(sa_gguf_writer *w, const char *key, int32_t v, sa_err *err) {
    return set_scalar(w, key, SA_GGUF_TYPE_INT32, (uint32_t)v, err);
}
sa_status sa_gguf_set_u64(sa_gguf_writer *w, const char *key, uint64_t v, sa_err *err) {
    return set_scalar(w, key, SA_GGUF_TYPE_UINT64, v, err);
}
sa_status sa_gguf_set_i64(sa_gguf_writer *w, const char *key, int64_t v, sa_err *err) {
    return set_scalar(w, key, SA_GGUF_TYPE_INT64, (uint64_t)v, err);
}
sa_status sa_gguf_set_f32(sa_gguf_writer *w, const char *key, float v, sa_err *err) {
    uint32_t bits;
    memcpy(&bits, &v, 4);
    return set_scalar(w, key, SA_GGUF_TYPE_FLOAT32, bits, err);
}
sa_status sa_gguf_set_f64(sa_gguf_writer *w, const char *key, double v, sa_err *err) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    return set_scalar(w, key, SA_GGUF_TYPE_FLOAT64, bits, err);
}
sa_status sa_gguf_set_bool(sa_gguf_writer *w, const char *key, bool v, sa_err *err) {
    return set_scalar(w, key, SA_GGUF_TYPE_BOOL, v ? 1 : 0, err);
}

sa_status sa_gguf_set_strn(sa_gguf_writer *w, const char *key, const char *str, size_t len,
                           sa_err *err) {
    sa_status s = check_key(w, key, err);
    if (s) return s;
    if (!str && len) return sa_err_set(err, SA_ERR_INVALID_ARG, "gguf writer: key '%s': NULL string", key);
    sa_strbuf b = {0};
    if (put_le(&b, SA_GGUF_TYPE_STRING, 4) || put_str(&b, str, len)) {
        sa_strbuf_free(&b);
        return sa_err_set(err, SA_ERR_NOMEM, "gguf writer: out of memory");
    }
    return set_blob(w, key, &b, err);
}

sa_status sa_gguf_set_str(sa_gguf_writer *w, const char *key, const char *str, sa_err *err) {
    if (!str) return sa_err_set(err, SA_ERR_INVALID_ARG, "gguf writer: NULL string");
    return sa_gguf_set_strn(w, key, str, strlen(str), err);
}

sa_status sa_gguf_set_arr(sa_gguf_writer *w, const char *key, sa_gguf_type elem_type,
                          const void *data, uint64_t n, sa_err *err) {
    sa_status s = check_key(w, key, err);
    if (s) return s;
    if ((int)elem_type < 0 || elem_type >= SA_GGUF_TYPE_COUNT || elem_type == SA_GGUF_TYPE_STRING ||
        elem_type == SA_GGUF_TYPE_ARRAY)
        return sa_err_set(err, SA_ERR_INVALID_ARG,
                          "gguf writer: key '%s': set_arr needs a numeric or bool element type, "
                          "got %s (use sa_gguf_set_arr_str for strings)",
                          key, sa_gguf_type_name(elem_type));
    if (!data && n) return sa_err_set(err, SA_ERR_INVALID_ARG, "gguf writer: key '%s': NULL data", key);
    size_t es = k_size[elem_type], bytes;
    if (n > SIZE_MAX || !sa_size_mul((size_t)n, es, &bytes) || !sa_size_add(bytes, 12, &bytes))
        return sa_err_set(err, SA_ERR_NOMEM, "gguf writer: key '%s': array too large", key);
    sa_strbuf b = {0};
    s = sa_strbuf_reserve(&b, bytes);
    if (!s) s = put_le(&b, SA_GGUF_TYPE_ARRAY, 4);
    if (!s) s = put_le(&b, (uint32_t)elem_type, 4);
    if (!s) s = put_le(&b, n, 8);
    const uint8_t *p = data;
    for (uint64_t j = 0; !s && j < n; j++) {
        uint64_t v = 0;
        /* elements are host-order C values; encode each little-endian */
        switch (es) {
        case 1: v = p[j]; break;
        case 2: { uint16_t x; memcpy(&x, p + 2 * j, 2); v = x; break; }
        case 4: { uint32_t x; memcpy(&x, p + 4 * j, 4); v = x; break; }
        default: memcpy(&v, p + 8 * j, 8); break;
        }
        if (elem_type == SA_GGUF_TYPE_BOOL) v = v != 0;
        s = put_le(&b, v, (int)es);
    }
    if (s) {
        sa_strbuf_free(&b);
        return sa_err_set(err, SA_ERR_NOMEM, "gguf writer: out of memory");
    }
    return set_blob(w, key, &b, err);
}

sa_status sa_gguf_set_arr_str(sa_gguf_writer *w, const char *key, const char *const *strs,
                              uint64_t n, sa_err *err) {
    sa_status s = check_key(w, key, err);
    if (s) return s;
    if (!strs && n) return sa_err_set(err, SA_ERR_INVALID_ARG, "gguf writer: key '%s': NULL array", key);
    sa_strbuf b = {0};
    s = put_le(&b, SA_GGUF_TYPE_ARRAY, 4);
    if (!s) s = put_le(&b, SA_GGUF_TYPE_STRING, 4);
    if (!s) s = put_le(&b, n, 8);
    for (uint64_t j = 0; !s && j < n; j++) {
        if (!strs[j]) {
            sa_strbuf_free(&b);
            return sa_err_set(err, SA_ERR_INVALID_ARG, "gguf writer: key '%s': string %llu is NULL",
                              key, (unsigned long long)j);
        }
        s = put_str(&b, strs[j], strlen(strs[j]));
    }
    if (s) {
        sa_strbuf_free(&b);
        return sa_err_set(err, SA_ERR_NOMEM, "gguf writer: out of memory");
    }
    return set_blob(w, key, &b, err);
}

sa_status sa_gguf_copy_kv(sa_gguf_writer *w, const sa_gguf *g, int64_t i, sa_err *err) {
    const char *key = sa_gguf_key(g, i);
    sa_status s = check_key(w, key, err);
    if (s) return s;
    size_t len;
    const uint8_t *raw = sa_gguf__raw_value(g, i, &len);
    sa_strbuf b = {0};
    if (sa_strbuf_append(&b, raw, len)) return sa_err_set(err, SA_ERR_NOMEM, "gguf writer: out of memory");
    return set_blob(w, key, &b, err);
}

sa_status sa_gguf_add_tensor(sa_gguf_writer *w, const char *name, sa_dtype dtype, int n_dims,
                             const int64_t *ne, const void *data, sa_err *err) {
    if (!w || !name || !ne || !data)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "gguf writer: add_tensor: NULL argument");
    uint32_t gt = sa_dtype_to_ggml_type(dtype);
    if (gt == UINT32_MAX)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "gguf writer: tensor '%s': dtype %s has no GGUF type",
                          name, sa_dtype_name(dtype));
    if (n_dims < 1 || n_dims > SA_GGUF_MAX_DIMS)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "gguf writer: tensor '%s': n_dims %d out of range 1..4",
                          name, n_dims);
    uint64_t nel = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] < 1)
            return sa_err_set(err, SA_ERR_INVALID_ARG, "gguf writer: tensor '%s': ne[%d] = %lld < 1",
                              name, d, (long long)ne[d]);
        if (__builtin_mul_overflow(nel, (uint64_t)ne[d], &nel) || nel > (uint64_t)INT64_MAX)
            return sa_err_set(err, SA_ERR_INVALID_ARG, "gguf writer: tensor '%s': size overflow", name);
    }
    uint32_t blck, bsz;
    sa_ggml_type_block(gt, &blck, &bsz);
    if ((uint64_t)ne[0] % blck)
        return sa_err_set(err, SA_ERR_INVALID_ARG,
                          "gguf writer: tensor '%s': ne[0] = %lld is not a multiple of %u for %s", name,
                          (long long)ne[0], blck, sa_dtype_name(dtype));
    uint64_t nb;
    if (__builtin_mul_overflow(nel / blck, (uint64_t)bsz, &nb) || nb > SIZE_MAX)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "gguf writer: tensor '%s': size overflow", name);
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return sa_err_set(err, SA_ERR_INVALID_ARG, "gguf writer: duplicate tensor name '%s'", name);
    char *nm = sa_strdup(name);
    if (!nm || !sa_grow((void **)&w->t, &w->cap_t, w->n_t + 1, sizeof *w->t)) {
        free(nm);
        return sa_err_set(err, SA_ERR_NOMEM, "gguf writer: out of memory");
    }
    wtensor *t = &w->t[w->n_t++];
    memset(t, 0, sizeof *t);
    t->name = nm;
    t->ggml_type = gt;
    t->n_dims = n_dims;
    for (int d = 0; d < SA_GGUF_MAX_DIMS; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->data = data;
    t->nbytes = (size_t)nb;
    return SA_OK;
}

/* ---- output --------------------------------------------------------------------- */

typedef struct sink {
    sa_strbuf *mem; /* either mem or file */
    sa_atomic_file *file;
    sa_err *err;
} sink;

static sa_status sink_put(sink *k, const void *data, size_t n) {
    if (k->mem) {
        if (sa_strbuf_append(k->mem, data, n))
            return sa_err_set(k->err, SA_ERR_NOMEM, "gguf writer: out of memory");
        return SA_OK;
    }
    return sa_atomic_write(k->file, data, n, k->err);
}

static sa_status sink_pad(sink *k, uint64_t pos, uint32_t align) {
    static const uint8_t zeros[256];
    size_t pad = (size_t)((align - pos % align) % align);
    while (pad) {
        size_t m = pad < sizeof zeros ? pad : sizeof zeros;
        sa_status s = sink_put(k, zeros, m);
        if (s) return s;
        pad -= m;
    }
    return SA_OK;
}

static sa_status get_alignment(const sa_gguf_writer *w, uint32_t *align, sa_err *err) {
    *align = SA_GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, "general.alignment") != 0) continue;
        const uint8_t *v = w->kv[i].val;
        uint32_t t = (uint32_t)v[0] | (uint32_t)v[1] << 8 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 24;
        uint32_t a = 0;
        if (t == SA_GGUF_TYPE_UINT32)
            a = (uint32_t)v[4] | (uint32_t)v[5] << 8 | (uint32_t)v[6] << 16 | (uint32_t)v[7] << 24;
        if (t != SA_GGUF_TYPE_UINT32 || a == 0 || (a & (a - 1)))
            return sa_err_set(err, SA_ERR_INVALID_ARG,
                              "gguf writer: general.alignment must be a uint32 power of two");
        *align = a;
    }
    return SA_OK;
}

sa_status sa_gguf_writer_set_alignment(sa_gguf_writer *w, uint32_t alignment, sa_err *err) {
    if (!w || alignment == 0 || (alignment & (alignment - 1)))
        return sa_err_set(err, SA_ERR_INVALID_ARG,
                          "gguf writer: alignment %u is not a power of two", alignment);
    return sa_gguf_set_u32(w, "general.alignment", alignment, err);
}

static sa_status emit(sa_gguf_writer *w, sink *k) {
    sa_err *err = k->err;
    uint32_t align;
    sa_status s = get_alignment(w, &align, err);
    if (s) return s;
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        w->t[i].offset = off;
        uint64_t end = off + w->t[i].nbytes; /* cannot overflow: nbytes <= SIZE_MAX */
        if (end < off || end > UINT64_MAX - align)
            return sa_err_set(err, SA_ERR_NOMEM, "gguf writer: total tensor size overflows");
        off = end + (align - end % align) % align;
    }
    sa_strbuf b = {0};
    s = put_le(&b, SA_GGUF_MAGIC, 4);
    if (!s) s = put_le(&b, SA_GGUF_VERSION, 4);
    if (!s) s = put_le(&b, w->n_t, 8);
    if (!s) s = put_le(&b, w->n_kv, 8);
    for (size_t i = 0; !s && i < w->n_kv; i++) {
        s = put_str(&b, w->kv[i].key, strlen(w->kv[i].key));
        if (!s) s = sa_strbuf_append(&b, w->kv[i].val, w->kv[i].val_len);
    }
    for (size_t i = 0; !s && i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        s = put_str(&b, t->name, strlen(t->name));
        if (!s) s = put_le(&b, (uint32_t)t->n_dims, 4);
        for (int d = 0; !s && d < t->n_dims; d++) s = put_le(&b, (uint64_t)t->ne[d], 8);
        if (!s) s = put_le(&b, t->ggml_type, 4);
        if (!s) s = put_le(&b, t->offset, 8);
    }
    if (s) {
        sa_strbuf_free(&b);
        return sa_err_set(err, SA_ERR_NOMEM, "gguf writer: out of memory");
    }
    size_t meta = b.len;
    s = sink_put(k, b.buf, b.len);
    sa_strbuf_free(&b);
    /* data section: aligned start, each tensor padded to the alignment */
    if (!s && w->n_t) s = sink_pad(k, meta, align);
    for (size_t i = 0; !s && i < w->n_t; i++) {
        s = sink_put(k, w->t[i].data, w->t[i].nbytes);
        if (!s) s = sink_pad(k, w->t[i].nbytes, align);
    }
    return s;
}

sa_status sa_gguf_write_mem(sa_gguf_writer *w, sa_strbuf *out, sa_err *err) {
    if (!w || !out) return sa_err_set(err, SA_ERR_INVALID_ARG, "sa_gguf_write_mem: NULL argument");
    size_t start = out->len;
    sink k = {.mem = out, .file = NULL, .err = err};
    sa_status s = emit(w, &k);
    if (s) sa_strbuf_truncate(out, start);
    return s;
}

sa_status sa_gguf_write(sa_gguf_writer *w, const char *path, sa_err *err) {
    if (!w || !path) return sa_err_set(err, SA_ERR_INVALID_ARG, "sa_gguf_write: NULL argument");
    sa_atomic_file af;
    sa_status s = sa_atomic_open(&af, path, err);
    if (s) return s;
    sink k = {.mem = NULL, .file = &af, .err = err};
    s = emit(w, &k);
    if (s) {
        sa_atomic_abort(&af);
        return s;
    }
    return sa_atomic_commit(&af, err);
}
