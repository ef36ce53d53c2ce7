/* gguf.c — GGUF v2/v3 reader (see gguf.h).
 *
 * The whole file is validated in sa_gguf_open*, so the query functions do
 * no checks beyond the index range. The input is hostile: every read goes
 * through the cursor helpers, which compare against the remaining bytes
 * before touching memory, and every count is compared against the bytes
 * left before anything is allocated for it, so allocation stays
 * proportional to the file size.
 *
 * Strings (keys, string values, string-array elements, tensor names) are
 * copied NUL-terminated into one arena; while parsing the arena may move, so
 * we keep offsets and turn them into pointers once at the end.
 */
#include "sa/gguf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/hash.h"
#include "sa/mmap.h"
#include "sa/strbuf.h"

/* ---- ggml type table -------------------------------------------------------- */

typedef struct ggml_type_info {
    const char *name;
    uint32_t blck; /* elements per block; 0 = unknown/removed id */
    uint32_t size; /* bytes per block */
    sa_dtype dtype;
} ggml_type_info;

#define N_GGML_TYPES 40
static const ggml_type_info k_ggml[N_GGML_TYPES] = {
    [0] = {"F32", 1, 4, SA_DTYPE_F32},
    [1] = {"F16", 1, 2, SA_DTYPE_F16},
    [2] = {"Q4_0", 32, 18, SA_DTYPE_INVALID},
    [3] = {"Q4_1", 32, 20, SA_DTYPE_INVALID},
    [6] = {"Q5_0", 32, 22, SA_DTYPE_INVALID},
    [7] = {"Q5_1", 32, 24, SA_DTYPE_INVALID},
    [8] = {"Q8_0", 32, 34, SA_DTYPE_Q8_0},
    [9] = {"Q8_1", 32, 36, SA_DTYPE_INVALID},
    [10] = {"Q2_K", 256, 84, SA_DTYPE_INVALID},
    [11] = {"Q3_K", 256, 110, SA_DTYPE_INVALID},
    [12] = {"Q4_K", 256, 144, SA_DTYPE_INVALID},
    [13] = {"Q5_K", 256, 176, SA_DTYPE_INVALID},
    [14] = {"Q6_K", 256, 210, SA_DTYPE_INVALID},
    [15] = {"Q8_K", 256, 292, SA_DTYPE_INVALID},
    [16] = {"IQ2_XXS", 256, 66, SA_DTYPE_INVALID},
    [17] = {"IQ2_XS", 256, 74, SA_DTYPE_INVALID},
    [18] = {"IQ3_XXS", 256, 98, SA_DTYPE_INVALID},
    [19] = {"IQ1_S", 256, 50, SA_DTYPE_INVALID},
    [20] = {"IQ4_NL", 32, 18, SA_DTYPE_INVALID},
    [21] = {"IQ3_S", 256, 110, SA_DTYPE_INVALID},
    [22] = {"IQ2_S", 256, 82, SA_DTYPE_INVALID},
    [23] = {"IQ4_XS", 256, 136, SA_DTYPE_INVALID},
    [24] = {"I8", 1, 1, SA_DTYPE_I8},
    [25] = {"I16", 1, 2, SA_DTYPE_I16},
    [26] = {"I32", 1, 4, SA_DTYPE_I32},
    [27] = {"I64", 1, 8, SA_DTYPE_I64},
    [28] = {"F64", 1, 8, SA_DTYPE_F64},
    [29] = {"IQ1_M", 256, 56, SA_DTYPE_INVALID},
    [30] = {"BF16", 1, 2, SA_DTYPE_BF16},
    /* 31..33 (Q4_0_4_4 etc.) and 36..38 (IQ4_NL_4_4 etc.) were removed from
     * GGUF files upstream; treat them as unknown. */
    [34] = {"TQ1_0", 256, 54, SA_DTYPE_INVALID},
    [35] = {"TQ2_0", 256, 66, SA_DTYPE_INVALID},
    [39] = {"MXFP4", 32, 17, SA_DTYPE_INVALID},
};

bool sa_ggml_type_block(uint32_t t, uint32_t *block_elems, uint32_t *block_bytes) {
    if (t >= N_GGML_TYPES || k_ggml[t].blck == 0) return false;
    if (block_elems) *block_elems = k_ggml[t].blck;
    if (block_bytes) *block_bytes = k_ggml[t].size;
    return true;
}

const char *sa_ggml_type_name(uint32_t t) {
    return (t < N_GGML_TYPES && k_ggml[t].name) ? k_ggml[t].name : "?";
}

sa_dtype sa_ggml_type_to_dtype(uint32_t t) {
    return (t < N_GGML_TYPES && k_ggml[t].blck) ? k_ggml[t].dtype : SA_DTYPE_INVALID;
}

uint32_t sa_dtype_to_ggml_type(sa_dtype d) {
    if (d == SA_DTYPE_INVALID) return UINT32_MAX;
    for (uint32_t t = 0; t < N_GGML_TYPES; t++)
        if (k_ggml[t].blck && k_ggml[t].dtype == d) return t;
    return UINT32_MAX;
}

static const char *const k_type_names[SA_GGUF_TYPE_COUNT] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
    "bool",  "string", "array", "uint64", "int64", "float64",
};
/* Byte size of a scalar value type; 0 for string/array. */
static const uint8_t k_type_size[SA_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *sa_gguf_type_name(sa_gguf_type t) {
    return ((int)t >= 0 && t < SA_GGUF_TYPE_COUNT) ? k_type_names[t] : "?";
}

/* ---- reader state ------------------------------------------------------------- */

typedef struct gg_kv {
    size_t key_off, key_len; /* arena */
    size_t file_off;         /* where the key starts, for messages */
    size_t val_off, val_end; /* file range [type u32 .. end of value], for copy_kv */
    sa_gguf_type type;
    sa_gguf_type arr_type;
    uint64_t n;              /* array count */
    union {
        uint64_t u;
        int64_t i;
        double f;
    } v;
    size_t str_off, str_len; /* string value (arena) */
    const uint8_t *raw;      /* numeric array elements inside the file */
    size_t soff_first;       /* string arrays: first of n+1 arena offsets in soff */
} gg_kv;

struct sa_gguf {
    sa_mmap map; /* size 0 / data NULL when borrowing */
    bool owns_map;
    const uint8_t *data;
    size_t size;
    char *name;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;

    gg_kv *kv;
    size_t n_kv, cap_kv;
    sa_gguf_tensor *tensors;
    size_t *tensor_name_off; /* arena offsets, until fixed up */
    size_t *tensor_file_off;
    size_t n_tensors;

    sa_strbuf arena;
    size_t *soff; /* arena offsets of string-array elements */
    size_t n_soff, cap_soff;

    int64_t *kv_hash; /* open addressing: index or -1; size hash_cap */
    int64_t *t_hash;
    size_t kv_hash_cap, t_hash_cap;
};

/* Parse cursor. */
typedef struct rd {
    sa_gguf *g;
    size_t pos;
    sa_err *err;
} rd;

static sa_status fail_at(rd *r, size_t off, sa_status code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static sa_status fail_at(rd *r, size_t off, sa_status code, const char *fmt, ...) {
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sa_err_set(r->err, code, "%s: offset %zu: %s", r->g->name, off, msg);
}

static size_t remaining(const rd *r) { return r->g->size - r->pos; }

static sa_status need(rd *r, size_t n, const char *what) {
    if (n > remaining(r))
        return fail_at(r, r->pos, SA_ERR_FORMAT,
                       "truncated: %s needs %zu bytes, only %zu left in the file (size %zu)", what,
                       n, remaining(r), r->g->size);
    return SA_OK;
}

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static sa_status rd_u32(rd *r, uint32_t *v, const char *what) {
    sa_status s = need(r, 4, what);
    if (s) return s;
    *v = (uint32_t)le(r->g->data + r->pos, 4);
    r->pos += 4;
    return SA_OK;
}

static sa_status rd_u64(rd *r, uint64_t *v, const char *what) {
    sa_status s = need(r, 8, what);
    if (s) return s;
    *v = le(r->g->data + r->pos, 8);
    r->pos += 8;
    return SA_OK;
}

/* Read a GGUF string and copy it NUL-terminated into the arena. */
static sa_status rd_str(rd *r, size_t *arena_off, size_t *len, const char *what) {
    uint64_t n;
    sa_status s = rd_u64(r, &n, what);
    if (s) return s;
    if (n > remaining(r))
        return fail_at(r, r->pos - 8, SA_ERR_FORMAT,
                       "truncated: %s length %llu exceeds the %zu bytes left in the file", what,
                       (unsigned long long)n, remaining(r));
    *arena_off = r->g->arena.len;
    *len = (size_t)n;
    sa_strbuf *a = &r->g->arena;
    if (sa_strbuf_reserve(a, (size_t)n + 1))
        return fail_at(r, r->pos, SA_ERR_NOMEM, "out of memory copying %s", what);
    memcpy(a->buf + a->len, r->g->data + r->pos, (size_t)n);
    a->len += (size_t)n + 1; /* keep the NUL: strings are packed back to back */
    a->buf[a->len - 1] = a->buf[a->len] = 0;
    r->pos += (size_t)n;
    return SA_OK;
}

static bool is_pow2(uint64_t x) { return x && !(x & (x - 1)); }

static bool push_soff(sa_gguf *g, size_t off) {
    if (!sa_grow((void **)&g->soff, &g->cap_soff, g->n_soff + 1, sizeof *g->soff)) return false;
    g->soff[g->n_soff++] = off;
    return true;
}

/* Scalar value of type t at the cursor into kv->v. */
static sa_status rd_scalar(rd *r, sa_gguf_type t, gg_kv *kv, const char *key) {
    size_t n = k_type_size[t], at = r->pos;
    sa_status s = need(r, n, "value");
    if (s) return s;
    uint64_t raw = le(r->g->data + r->pos, (int)n);
    r->pos += n;
    switch (t) {
    case SA_GGUF_TYPE_INT8: kv->v.i = (int8_t)raw; break;
    case SA_GGUF_TYPE_INT16: kv->v.i = (int16_t)raw; break;
    case SA_GGUF_TYPE_INT32: kv->v.i = (int32_t)raw; break;
    case SA_GGUF_TYPE_INT64: kv->v.i = (int64_t)raw; break;
    case SA_GGUF_TYPE_FLOAT32: {
        uint32_t b = (uint32_t)raw;
        float f;
        memcpy(&f, &b, 4);
        kv->v.f = f;
        break;
    }
    case SA_GGUF_TYPE_FLOAT64: memcpy(&kv->v.f, &raw, 8); break;
    case SA_GGUF_TYPE_BOOL:
        if (raw > 1)
            return fail_at(r, at, SA_ERR_FORMAT, "key '%s': bool value %llu is not 0 or 1", key,
                           (unsigned long long)raw);
        kv->v.u = raw;
        break;
    default: kv->v.u = raw; break; /* unsigned */
    }
    return SA_OK;
}

static sa_status rd_array(rd *r, gg_kv *kv, const char *key) {
    uint32_t et;
    size_t at = r->pos;
    sa_status s = rd_u32(r, &et, "array element type");
    if (s) return s;
    if (et == SA_GGUF_TYPE_ARRAY)
        return fail_at(r, at, SA_ERR_UNSUPPORTED,
                       "key '%s': nested array (array of arrays) is not supported", key);
    if (et >= SA_GGUF_TYPE_COUNT)
        return fail_at(r, at, SA_ERR_FORMAT, "key '%s': unknown array element type %u", key, et);
    uint64_t n;
    at = r->pos;
    if ((s = rd_u64(r, &n, "array count"))) return s;
    kv->arr_type = (sa_gguf_type)et;
    kv->n = n;
    if (et == SA_GGUF_TYPE_STRING) {
        /* each element needs at least its 8-byte length */
        if (n > remaining(r) / 8)
            return fail_at(r, at, SA_ERR_FORMAT,
                           "key '%s': string array count %llu exceeds the %zu bytes left", key,
                           (unsigned long long)n, remaining(r));
        kv->soff_first = r->g->n_soff;
        /* Size the arena and offset table once for the whole array (vocabs
         * have 100k+ strings); a malformed array skips this and the copy
         * loop below reports the exact error. */
        size_t p = r->pos, total = n + 1;
        uint64_t j = 0;
        for (; j < n && r->g->size - p >= 8; j++) {
            uint64_t len = le(r->g->data + p, 8);
            if (len > r->g->size - p - 8) break;
            p += 8 + (size_t)len;
            total += (size_t)len;
        }
        if (j == n && (sa_strbuf_reserve(&r->g->arena, total) ||
                       !sa_grow((void **)&r->g->soff, &r->g->cap_soff, r->g->n_soff + n + 1,
                                sizeof *r->g->soff)))
            return fail_at(r, r->pos, SA_ERR_NOMEM, "out of memory for %llu strings",
                           (unsigned long long)n);
        /* rd_str may move the arena, so `key` must not be used in this loop */
        for (uint64_t i = 0; i < n; i++) {
            size_t off, len;
            if ((s = rd_str(r, &off, &len, "array string"))) return s;
            if (!push_soff(r->g, off)) return fail_at(r, r->pos, SA_ERR_NOMEM, "out of memory");
        }
        if (!push_soff(r->g, r->g->arena.len)) /* end sentinel */
            return fail_at(r, r->pos, SA_ERR_NOMEM, "out of memory");
        return SA_OK;
    }
    size_t es = k_type_size[et];
    if (n > remaining(r) / es)
        return fail_at(r, at, SA_ERR_FORMAT,
                       "truncated: key '%s': %s array of %llu elements exceeds the %zu bytes left",
                       key, k_type_names[et], (unsigned long long)n, remaining(r));
    kv->raw = r->g->data + r->pos;
    if (et == SA_GGUF_TYPE_BOOL)
        for (uint64_t j = 0; j < n; j++)
            if (kv->raw[j] > 1)
                return fail_at(r, r->pos + j, SA_ERR_FORMAT,
                               "key '%s': bool array element %llu is %u, not 0 or 1", key,
                               (unsigned long long)j, kv->raw[j]);
    r->pos += (size_t)n * es;
    return SA_OK;
}

static sa_status rd_kv(rd *r, int64_t idx) {
    sa_gguf *g = r->g;
    if (!sa_grow((void **)&g->kv, &g->cap_kv, g->n_kv + 1, sizeof *g->kv))
        return fail_at(r, r->pos, SA_ERR_NOMEM, "out of memory for key %lld", (long long)idx);
    gg_kv *kv = &g->kv[g->n_kv];
    memset(kv, 0, sizeof *kv);
    kv->file_off = r->pos;
    kv->arr_type = SA_GGUF_TYPE_INVALID;
    sa_status s = rd_str(r, &kv->key_off, &kv->key_len, "key");
    if (s) return s;
    g->n_kv++;
    const char *key = g->arena.buf + kv->key_off;
    if (strlen(key) != kv->key_len)
        return fail_at(r, kv->file_off, SA_ERR_FORMAT, "key %lld contains a NUL byte",
                       (long long)idx);
    kv->val_off = r->pos;
    uint32_t t;
    if ((s = rd_u32(r, &t, "value type"))) return s;
    if (t >= SA_GGUF_TYPE_COUNT)
        return fail_at(r, r->pos - 4, SA_ERR_FORMAT, "key '%s': unknown value type %u", key, t);
    kv->type = (sa_gguf_type)t;
    if (t == SA_GGUF_TYPE_STRING)
        s = rd_str(r, &kv->str_off, &kv->str_len, "string value");
    else if (t == SA_GGUF_TYPE_ARRAY)
        s = rd_array(r, kv, key);
    else
        s = rd_scalar(r, kv->type, kv, key);
    kv->val_end = r->pos;
    return s;
}

/* ---- hashing of names ------------------------------------------------------- */

static size_t hash_cap_for(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    return cap;
}

typedef const char *(*name_fn)(const sa_gguf *g, int64_t i);

/* Names resolve through the arena each time because it may still move. */
static const char *kv_name(const sa_gguf *g, int64_t i) { return g->arena.buf + g->kv[i].key_off; }
static const char *tensor_name(const sa_gguf *g, int64_t i) {
    return g->arena.buf + g->tensor_name_off[i];
}

/* Insert name i into the table; returns the index of an earlier equal name,
 * or -1. */
static int64_t hash_insert(int64_t *tab, size_t cap, name_fn name_of, const sa_gguf *g, int64_t i) {
    const char *s = name_of(g, i);
    size_t h = (size_t)sa_hash64(s, strlen(s), 0) & (cap - 1);
    while (tab[h] >= 0) {
        if (strcmp(name_of(g, tab[h]), s) == 0) return tab[h];
        h = (h + 1) & (cap - 1);
    }
    tab[h] = i;
    return -1;
}

static int64_t hash_find(const int64_t *tab, size_t cap, const char *name, name_fn name_of,
                         const sa_gguf *g) {
    if (!tab || !name) return -1;
    size_t h = (size_t)sa_hash64(name, strlen(name), 0) & (cap - 1);
    while (tab[h] >= 0) {
        if (strcmp(name_of(g, tab[h]), name) == 0) return tab[h];
        h = (h + 1) & (cap - 1);
    }
    return -1;
}

/* ---- tensors ---------------------------------------------------------------- */

static sa_status rd_tensor(rd *r, size_t i) {
    sa_gguf *g = r->g;
    sa_gguf_tensor *t = &g->tensors[i];
    size_t len;
    g->tensor_file_off[i] = r->pos;
    sa_status s = rd_str(r, &g->tensor_name_off[i], &len, "tensor name");
    if (s) return s;
    /* names are also used as C strings in messages below; the arena is stable
     * until the next rd_str */
    const char *name = g->arena.buf + g->tensor_name_off[i];
    if (strlen(name) != len)
        return fail_at(r, g->tensor_file_off[i], SA_ERR_FORMAT, "tensor %zu: name contains a NUL byte",
                       i);
    uint32_t nd;
    size_t at = r->pos;
    if ((s = rd_u32(r, &nd, "tensor n_dims"))) return s;
    if (nd < 1 || nd > SA_GGUF_MAX_DIMS)
        return fail_at(r, at, SA_ERR_FORMAT, "tensor '%s': n_dims %u out of range 1..%d", name, nd,
                       SA_GGUF_MAX_DIMS);
    t->n_dims = (int)nd;
    uint64_t nel = 1;
    for (int d = 0; d < SA_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t v;
        at = r->pos;
        if ((s = rd_u64(r, &v, "tensor dimension"))) return s;
        if (v == 0 || v > (uint64_t)INT64_MAX)
            return fail_at(r, at, SA_ERR_FORMAT, "tensor '%s': ne[%u] = %llu is out of range", name,
                           d, (unsigned long long)v);
        if (__builtin_mul_overflow(nel, v, &nel) || nel > (uint64_t)INT64_MAX)
            return fail_at(r, at, SA_ERR_FORMAT, "tensor '%s': element count overflows (size overflow)",
                           name);
        t->ne[d] = (int64_t)v;
    }
    uint32_t ty;
    at = r->pos;
    if ((s = rd_u32(r, &ty, "tensor type"))) return s;
    uint32_t blck, bsz;
    if (!sa_ggml_type_block(ty, &blck, &bsz))
        return fail_at(r, at, SA_ERR_UNSUPPORTED, "tensor '%s': unknown ggml type %u", name, ty);
    t->ggml_type = ty;
    t->dtype = k_ggml[ty].dtype;
    if ((uint64_t)t->ne[0] % blck != 0)
        return fail_at(r, at, SA_ERR_FORMAT,
                       "tensor '%s': ne[0] = %lld is not a multiple of the %s block size %u", name,
                       (long long)t->ne[0], k_ggml[ty].name, blck);
    uint64_t nb;
    if (__builtin_mul_overflow(nel / blck, (uint64_t)bsz, &nb) || nb > SIZE_MAX)
        return fail_at(r, at, SA_ERR_FORMAT, "tensor '%s': byte size overflows (size overflow)", name);
    t->nbytes = (size_t)nb;
    at = r->pos;
    if ((s = rd_u64(r, &t->offset, "tensor offset"))) return s;
    if (t->offset % g->alignment != 0)
        return fail_at(r, at, SA_ERR_FORMAT,
                       "tensor '%s': data offset %llu is misaligned (alignment %u)", name,
                       (unsigned long long)t->offset, g->alignment);
    return SA_OK;
}

typedef struct extent {
    uint64_t off;
    size_t idx;
} extent;

static int cmp_extent(const void *a, const void *b) {
    uint64_t x = ((const extent *)a)->off, y = ((const extent *)b)->off;
    return x < y ? -1 : x > y;
}

static sa_status check_tensor_extents(rd *r) {
    sa_gguf *g = r->g;
    if (g->n_tensors == 0) return SA_OK;
    uint64_t avail = g->data_offset <= g->size ? g->size - g->data_offset : 0;
    for (size_t i = 0; i < g->n_tensors; i++) {
        sa_gguf_tensor *t = &g->tensors[i];
        if (t->offset > avail || t->nbytes > avail - t->offset)
            return fail_at(r, g->tensor_file_off[i], SA_ERR_FORMAT,
                           "tensor '%s': data [%llu, %llu) past the end of the file (data section "
                           "starts at %llu, file size %zu)",
                           t->name, (unsigned long long)(g->data_offset + t->offset),
                           (unsigned long long)(g->data_offset + t->offset) + t->nbytes,
                           (unsigned long long)g->data_offset, g->size);
        t->data = g->data + g->data_offset + t->offset;
    }
    extent *order = sa_malloc_array(g->n_tensors, sizeof *order);
    if (!order) return fail_at(r, r->pos, SA_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < g->n_tensors; i++) order[i] = (extent){g->tensors[i].offset, i};
    qsort(order, g->n_tensors, sizeof *order, cmp_extent);
    sa_status s = SA_OK;
    for (size_t k = 1; k < g->n_tensors; k++) {
        const sa_gguf_tensor *a = &g->tensors[order[k - 1].idx], *b = &g->tensors[order[k].idx];
        if (a->offset + a->nbytes > b->offset) { /* no overflow: both end inside the file */
            s = fail_at(r, g->tensor_file_off[order[k].idx], SA_ERR_FORMAT,
                        "tensors '%s' and '%s' overlap (data offsets %llu+%zu and %llu)", a->name,
                        b->name, (unsigned long long)a->offset, a->nbytes,
                        (unsigned long long)b->offset);
            break;
        }
    }
    free(order);
    return s;
}

/* ---- open ------------------------------------------------------------------- */

static sa_status parse(rd *r) {
    sa_gguf *g = r->g;
    sa_status s;
    uint32_t magic;
    if (g->size < 4)
        return fail_at(r, 0, SA_ERR_FORMAT, "truncated: file is %zu bytes, too short for the GGUF magic",
                       g->size);
    if ((s = rd_u32(r, &magic, "magic"))) return s;
    if (magic != SA_GGUF_MAGIC) {
        char shown[17];
        size_t k = 0;
        for (int i = 0; i < 4; i++) {
            uint8_t c = g->data[i];
            if (c >= 0x20 && c < 0x7f && c != '\\') shown[k++] = (char)c;
            else k += (size_t)snprintf(shown + k, sizeof shown - k, "\\x%02x", c);
        }
        shown[k] = 0;
        return fail_at(r, 0, SA_ERR_FORMAT, "bad magic \"%s\", expected \"GGUF\" (not a GGUF file)",
                       shown);
    }
    if ((s = rd_u32(r, &g->version, "version"))) return s;
    if (g->version == 1)
        return fail_at(r, 4, SA_ERR_UNSUPPORTED,
                       "unsupported version 1 (GGUF v1 used 32-bit counts; re-convert the model "
                       "with a current llama.cpp)");
    if (g->version != 2 && g->version != 3) {
        uint32_t sw = __builtin_bswap32(g->version);
        if (sw == 2 || sw == 3)
            return fail_at(r, 4, SA_ERR_UNSUPPORTED,
                           "big-endian GGUF (version %u byte-swapped) is not supported", sw);
        return fail_at(r, 4, SA_ERR_UNSUPPORTED, "unsupported version %u (supported: 2, 3)",
                       g->version);
    }
    uint64_t n_tensors, n_kv;
    if ((s = rd_u64(r, &n_tensors, "tensor count"))) return s;
    if ((s = rd_u64(r, &n_kv, "kv count"))) return s;
    /* minimum sizes: tensor info = name len 8 + n_dims 4 + ne 8 + type 4 +
     * offset 8; kv = key len 8 + type 4 + 1 byte of value */
    if (n_tensors > remaining(r) / 32)
        return fail_at(r, 8, SA_ERR_FORMAT, "tensor count %llu exceeds what the file size %zu can hold",
                       (unsigned long long)n_tensors, g->size);
    if (n_kv > remaining(r) / 13)
        return fail_at(r, 16, SA_ERR_FORMAT, "kv count %llu exceeds what the file size %zu can hold",
                       (unsigned long long)n_kv, g->size);
    for (uint64_t i = 0; i < n_kv; i++)
        if ((s = rd_kv(r, (int64_t)i))) return s;
    /* pointers into the arena are stable from here to the tensor names */
    g->kv_hash_cap = hash_cap_for(g->n_kv);
    g->kv_hash = sa_malloc_array(g->kv_hash_cap, sizeof *g->kv_hash);
    if (!g->kv_hash) return fail_at(r, r->pos, SA_ERR_NOMEM, "out of memory");
    memset(g->kv_hash, 0xff, g->kv_hash_cap * sizeof *g->kv_hash);
    for (size_t i = 0; i < g->n_kv; i++) {
        int64_t prev = hash_insert(g->kv_hash, g->kv_hash_cap, kv_name, g, (int64_t)i);
        if (prev >= 0)
            return fail_at(r, g->kv[i].file_off, SA_ERR_FORMAT,
                           "duplicate key '%s' (first at offset %zu)", g->arena.buf + g->kv[i].key_off,
                           g->kv[prev].file_off);
    }
    g->alignment = SA_GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < g->n_kv; i++) {
        const gg_kv *kv = &g->kv[i];
        if (strcmp(g->arena.buf + kv->key_off, "general.alignment") != 0) continue;
        if (kv->type != SA_GGUF_TYPE_UINT32)
            return fail_at(r, kv->val_off, SA_ERR_FORMAT,
                           "general.alignment has type %s, expected uint32", k_type_names[kv->type]);
        if (!is_pow2(kv->v.u))
            return fail_at(r, kv->val_off + 4, SA_ERR_FORMAT,
                           "general.alignment %llu is not a power of two",
                           (unsigned long long)kv->v.u);
        g->alignment = (uint32_t)kv->v.u;
    }

    g->n_tensors = (size_t)n_tensors;
    if (n_tensors) {
        g->tensors = sa_calloc((size_t)n_tensors, sizeof *g->tensors);
        g->tensor_name_off = sa_calloc((size_t)n_tensors, sizeof(size_t));
        g->tensor_file_off = sa_calloc((size_t)n_tensors, sizeof(size_t));
        if (!g->tensors || !g->tensor_name_off || !g->tensor_file_off)
            return fail_at(r, r->pos, SA_ERR_NOMEM, "out of memory for %llu tensors",
                           (unsigned long long)n_tensors);
    }
    for (size_t i = 0; i < g->n_tensors; i++)
        if ((s = rd_tensor(r, i))) {
            g->n_tensors = i; /* names of later tensors were never set */
            return s;
        }
    uint64_t pad = (g->alignment - r->pos % g->alignment) % g->alignment;
    g->data_offset = (uint64_t)r->pos + pad;

    /* arena is final: tensor names can be plain pointers */
    for (size_t i = 0; i < g->n_tensors; i++) g->tensors[i].name = g->arena.buf + g->tensor_name_off[i];

    g->t_hash_cap = hash_cap_for(g->n_tensors);
    g->t_hash = sa_malloc_array(g->t_hash_cap, sizeof *g->t_hash);
    if (!g->t_hash) return fail_at(r, r->pos, SA_ERR_NOMEM, "out of memory");
    memset(g->t_hash, 0xff, g->t_hash_cap * sizeof *g->t_hash);
    for (size_t i = 0; i < g->n_tensors; i++) {
        int64_t prev = hash_insert(g->t_hash, g->t_hash_cap, tensor_name, g, (int64_t)i);
        if (prev >= 0)
            return fail_at(r, g->tensor_file_off[i], SA_ERR_FORMAT,
                           "duplicate tensor name '%s' (first at offset %zu)", g->tensors[i].name,
                           g->tensor_file_off[prev]);
    }
    return check_tensor_extents(r);
}

static sa_status open_common(sa_gguf *g, sa_gguf **out, sa_err *err) {
    rd r = {.g = g, .pos = 0, .err = err};
    sa_status s = parse(&r);
    if (s) {
        sa_gguf_close(g);
        return s;
    }
    *out = g;
    return SA_OK;
}

static sa_gguf *alloc_reader(const char *name) {
    sa_gguf *g = sa_calloc(1, sizeof *g);
    if (!g) return NULL;
    g->name = sa_strdup(name ? name : "<memory>");
    if (!g->name) {
        free(g);
        return NULL;
    }
    return g;
}

sa_status sa_gguf_open_memory(sa_gguf **out, const void *data, size_t size, const char *name,
                              sa_err *err) {
    if (!out || (!data && size))
        return sa_err_set(err, SA_ERR_INVALID_ARG, "sa_gguf_open_memory: NULL argument");
    *out = NULL;
    sa_gguf *g = alloc_reader(name);
    if (!g) return sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", name ? name : "<memory>");
    g->data = data;
    g->size = size;
    return open_common(g, out, err);
}

sa_status sa_gguf_open(sa_gguf **out, const char *path, sa_err *err) {
    if (!out || !path) return sa_err_set(err, SA_ERR_INVALID_ARG, "sa_gguf_open: NULL argument");
    *out = NULL;
    sa_gguf *g = alloc_reader(path);
    if (!g) return sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
    sa_status s = sa_mmap_open(&g->map, path, err);
    if (s) {
        free(g->name);
        free(g);
        return s;
    }
    g->owns_map = true;
    g->data = g->map.data;
    g->size = g->map.size;
    return open_common(g, out, err);
}

void sa_gguf_close(sa_gguf *g) {
    if (!g) return;
    if (g->owns_map) sa_mmap_close(&g->map);
    free(g->kv);
    free(g->tensors);
    free(g->tensor_name_off);
    free(g->tensor_file_off);
    sa_strbuf_free(&g->arena);
    free(g->soff);
    free(g->kv_hash);
    free(g->t_hash);
    free(g->name);
    free(g);
}

/* ---- queries ------------------------------------------------------------------ */

uint32_t sa_gguf_version(const sa_gguf *g) { return g ? g->version : 0; }
uint32_t sa_gguf_alignment(const sa_gguf *g) { return g ? g->alignment : 0; }
uint64_t sa_gguf_data_offset(const sa_gguf *g) { return g ? g->data_offset : 0; }
int64_t sa_gguf_n_kv(const sa_gguf *g) { return g ? (int64_t)g->n_kv : 0; }

static const gg_kv *kv_at(const sa_gguf *g, int64_t i) {
    return (g && i >= 0 && (uint64_t)i < g->n_kv) ? &g->kv[i] : NULL;
}

const char *sa_gguf_key(const sa_gguf *g, int64_t i) {
    const gg_kv *kv = kv_at(g, i);
    return kv ? g->arena.buf + kv->key_off : NULL;
}

int64_t sa_gguf_find_key(const sa_gguf *g, const char *key) {
    return g ? hash_find(g->kv_hash, g->kv_hash_cap, key, kv_name, g) : -1;
}

sa_gguf_type sa_gguf_kv_type(const sa_gguf *g, int64_t i) {
    const gg_kv *kv = kv_at(g, i);
    return kv ? kv->type : SA_GGUF_TYPE_INVALID;
}

static bool is_signed(sa_gguf_type t) {
    return t == SA_GGUF_TYPE_INT8 || t == SA_GGUF_TYPE_INT16 || t == SA_GGUF_TYPE_INT32 ||
           t == SA_GGUF_TYPE_INT64;
}
static bool is_unsigned(sa_gguf_type t) {
    return t == SA_GGUF_TYPE_UINT8 || t == SA_GGUF_TYPE_UINT16 || t == SA_GGUF_TYPE_UINT32 ||
           t == SA_GGUF_TYPE_UINT64;
}

bool sa_gguf_get_int(const sa_gguf *g, int64_t i, int64_t *out) {
    const gg_kv *kv = kv_at(g, i);
    if (!kv) return false;
    if (is_signed(kv->type)) {
        *out = kv->v.i;
        return true;
    }
    if (is_unsigned(kv->type) && kv->v.u <= (uint64_t)INT64_MAX) {
        *out = (int64_t)kv->v.u;
        return true;
    }
    return false;
}

bool sa_gguf_get_uint(const sa_gguf *g, int64_t i, uint64_t *out) {
    const gg_kv *kv = kv_at(g, i);
    if (!kv) return false;
    if (is_unsigned(kv->type)) {
        *out = kv->v.u;
        return true;
    }
    if (is_signed(kv->type) && kv->v.i >= 0) {
        *out = (uint64_t)kv->v.i;
        return true;
    }
    return false;
}

bool sa_gguf_get_float(const sa_gguf *g, int64_t i, double *out) {
    const gg_kv *kv = kv_at(g, i);
    if (!kv || (kv->type != SA_GGUF_TYPE_FLOAT32 && kv->type != SA_GGUF_TYPE_FLOAT64)) return false;
    *out = kv->v.f;
    return true;
}

bool sa_gguf_get_bool(const sa_gguf *g, int64_t i, bool *out) {
    const gg_kv *kv = kv_at(g, i);
    if (!kv || kv->type != SA_GGUF_TYPE_BOOL) return false;
    *out = kv->v.u != 0;
    return true;
}

const char *sa_gguf_get_str(const sa_gguf *g, int64_t i, size_t *len) {
    const gg_kv *kv = kv_at(g, i);
    if (!kv || kv->type != SA_GGUF_TYPE_STRING) return NULL;
    if (len) *len = kv->str_len;
    return g->arena.buf + kv->str_off;
}

sa_gguf_type sa_gguf_arr_type(const sa_gguf *g, int64_t i) {
    const gg_kv *kv = kv_at(g, i);
    return (kv && kv->type == SA_GGUF_TYPE_ARRAY) ? kv->arr_type : SA_GGUF_TYPE_INVALID;
}

uint64_t sa_gguf_arr_n(const sa_gguf *g, int64_t i) {
    const gg_kv *kv = kv_at(g, i);
    return (kv && kv->type == SA_GGUF_TYPE_ARRAY) ? kv->n : 0;
}

const void *sa_gguf_arr_data(const sa_gguf *g, int64_t i) {
    const gg_kv *kv = kv_at(g, i);
    if (!kv || kv->type != SA_GGUF_TYPE_ARRAY || kv->arr_type == SA_GGUF_TYPE_STRING || kv->n == 0)
        return NULL;
    return kv->raw;
}

const char *sa_gguf_arr_str(const sa_gguf *g, int64_t i, uint64_t j, size_t *len) {
    const gg_kv *kv = kv_at(g, i);
    if (!kv || kv->type != SA_GGUF_TYPE_ARRAY || kv->arr_type != SA_GGUF_TYPE_STRING || j >= kv->n)
        return NULL;
    size_t a = g->soff[kv->soff_first + j], b = g->soff[kv->soff_first + j + 1];
    if (len) *len = b - a - 1;
    return g->arena.buf + a;
}

int64_t sa_gguf_n_tensors(const sa_gguf *g) { return g ? (int64_t)g->n_tensors : 0; }

const sa_gguf_tensor *sa_gguf_tensor_at(const sa_gguf *g, int64_t i) {
    return (g && i >= 0 && (uint64_t)i < g->n_tensors) ? &g->tensors[i] : NULL;
}

int64_t sa_gguf_find_tensor(const sa_gguf *g, const char *name) {
    return g ? hash_find(g->t_hash, g->t_hash_cap, name, tensor_name, g) : -1;
}

/* Raw serialized value (type u32 + value) of key i, for sa_gguf_copy_kv in
 * gguf_write.c. */
const uint8_t *sa_gguf__raw_value(const sa_gguf *g, int64_t i, size_t *len);
const uint8_t *sa_gguf__raw_value(const sa_gguf *g, int64_t i, size_t *len) {
    const gg_kv *kv = kv_at(g, i);
    if (!kv) return NULL;
    *len = kv->val_end - kv->val_off;
    return g->data + kv->val_off;
}
