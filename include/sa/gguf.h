/* gguf.h — read and write GGUF files (versions 2 and 3, little-endian).
 *
 * Purpose: GGUF is llama.cpp's single-file model format: a header, typed
 * key/value metadata, tensor descriptions and an aligned data section. The
 * reader maps the file (or borrows a caller buffer), validates everything up
 * front (bounds, counts, types, duplicate keys/tensors, alignment, tensor
 * extents and overlaps) and then answers queries without further checks.
 * The writer collects metadata and borrowed tensor data and emits a v3 file.
 *
 * Reader limits (documented behaviour):
 *   - Version 1, versions > 3 and big-endian files are refused
 *     (SA_ERR_UNSUPPORTED) with a message saying so.
 *   - Arrays of arrays are refused (SA_ERR_UNSUPPORTED, "nested array");
 *     no known producer writes them.
 *   - Tensor types we cannot compute with (Q4_K, IQ*, ...) are still
 *     validated (block size, byte size) and reported with
 *     dtype == SA_DTYPE_INVALID; their raw bytes stay reachable via data.
 *   - Every error message has the form "<name>: offset <n>: <problem>".
 *
 * Ownership: sa_gguf_open/_open_memory return a reader freed with
 * sa_gguf_close. Every pointer it returns (keys, strings, tensor infos, data)
 * stays valid until close. sa_gguf_open_memory does not copy: the caller's
 * buffer must outlive the reader. The writer copies keys, strings and arrays
 * but borrows tensor data until sa_gguf_write returns; free it with
 * sa_gguf_writer_free.
 *
 * Usage:
 *     sa_gguf *g; sa_err err = {0};
 *     if (sa_gguf_open(&g, "model.gguf", &err) != SA_OK) { puts(err.msg); return; }
 *     int64_t k = sa_gguf_find_key(g, "tokenizer.ggml.tokens");
 *     for (uint64_t j = 0; k >= 0 && j < sa_gguf_arr_n(g, k); j++)
 *         puts(sa_gguf_arr_str(g, k, j, NULL));
 *     const sa_gguf_tensor *t = sa_gguf_tensor_at(g, sa_gguf_find_tensor(g, "output.weight"));
 *     sa_gguf_close(g);
 *
 *     sa_gguf_writer *w; sa_gguf_writer_init(&w, &err);
 *     sa_gguf_set_str(w, "general.architecture", "llama", &err);
 *     sa_gguf_add_tensor(w, "tok_embd.weight", SA_DTYPE_F32, 2, ne, data, &err);
 *     sa_gguf_write(w, "out.gguf", &err);
 *     sa_gguf_writer_free(w);
 */
#ifndef SA_GGUF_H
#define SA_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sa/dtype.h"
#include "sa/status.h"
#include "sa/strbuf.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SA_GGUF_MAGIC 0x46554747u /* "GGUF" read as a little-endian u32 */
#define SA_GGUF_VERSION 3u        /* version the writer emits */
#define SA_GGUF_DEFAULT_ALIGNMENT 32u
#define SA_GGUF_MAX_DIMS 4

/* Metadata value types (the on-disk u32 codes). */
typedef enum sa_gguf_type {
    SA_GGUF_TYPE_UINT8 = 0,
    SA_GGUF_TYPE_INT8 = 1,
    SA_GGUF_TYPE_UINT16 = 2,
    SA_GGUF_TYPE_INT16 = 3,
    SA_GGUF_TYPE_UINT32 = 4,
    SA_GGUF_TYPE_INT32 = 5,
    SA_GGUF_TYPE_FLOAT32 = 6,
    SA_GGUF_TYPE_BOOL = 7,
    SA_GGUF_TYPE_STRING = 8,
    SA_GGUF_TYPE_ARRAY = 9,
    SA_GGUF_TYPE_UINT64 = 10,
    SA_GGUF_TYPE_INT64 = 11,
    SA_GGUF_TYPE_FLOAT64 = 12,
    SA_GGUF_TYPE_COUNT,
    SA_GGUF_TYPE_INVALID = -1 /* returned for a bad index */
} sa_gguf_type;

/* ggml tensor type ids (subset we name; others are validated via the table
 * in gguf.c). */
enum {
    SA_GGML_TYPE_F32 = 0,
    SA_GGML_TYPE_F16 = 1,
    SA_GGML_TYPE_Q4_0 = 2,
    SA_GGML_TYPE_Q4_1 = 3,
    SA_GGML_TYPE_Q5_0 = 6,
    SA_GGML_TYPE_Q5_1 = 7,
    SA_GGML_TYPE_Q8_0 = 8,
    SA_GGML_TYPE_Q8_1 = 9,
    SA_GGML_TYPE_Q2_K = 10,
    SA_GGML_TYPE_Q3_K = 11,
    SA_GGML_TYPE_Q4_K = 12,
    SA_GGML_TYPE_Q5_K = 13,
    SA_GGML_TYPE_Q6_K = 14,
    SA_GGML_TYPE_Q8_K = 15,
    SA_GGML_TYPE_I8 = 24,
    SA_GGML_TYPE_I16 = 25,
    SA_GGML_TYPE_I32 = 26,
    SA_GGML_TYPE_I64 = 27,
    SA_GGML_TYPE_F64 = 28,
    SA_GGML_TYPE_BF16 = 30,
};

typedef struct sa_gguf sa_gguf; /* opaque reader */

typedef struct sa_gguf_tensor {
    const char *name;   /* NUL-terminated, owned by the reader */
    sa_dtype dtype;     /* SA_DTYPE_INVALID if a ggml type we don't compute with */
    uint32_t ggml_type; /* on-disk ggml type id */
    int n_dims;         /* 1..4 */
    int64_t ne[4];      /* ggml order: ne[0] is the contiguous dimension; unused = 1 */
    uint64_t offset;    /* relative to the start of the data section */
    const void *data;   /* inside the mapping; aligned to the file's alignment */
    size_t nbytes;      /* exact byte size of the tensor data */
} sa_gguf_tensor;

/* ---- reader ------------------------------------------------------------- */

/* mmap + full validation. */
sa_status sa_gguf_open(sa_gguf **out, const char *path, sa_err *err);
/* Parse a caller buffer without copying; `name` is used in error messages
 * (may be NULL: "<memory>"). */
sa_status sa_gguf_open_memory(sa_gguf **out, const void *data, size_t size, const char *name,
                              sa_err *err);
void sa_gguf_close(sa_gguf *g); /* NULL is fine */

uint32_t sa_gguf_version(const sa_gguf *g);
uint32_t sa_gguf_alignment(const sa_gguf *g);
/* Byte offset of the data section within the file. */
uint64_t sa_gguf_data_offset(const sa_gguf *g);

/* Metadata. Index functions accept any i; out-of-range i returns
 * NULL / false / 0 / SA_GGUF_TYPE_INVALID. */
int64_t sa_gguf_n_kv(const sa_gguf *g);
const char *sa_gguf_key(const sa_gguf *g, int64_t i);
int64_t sa_gguf_find_key(const sa_gguf *g, const char *key); /* -1 if absent */
sa_gguf_type sa_gguf_kv_type(const sa_gguf *g, int64_t i);
/* Scalars. get_int/get_uint accept any integer type when the value fits
 * (u64 > INT64_MAX fails get_int; negatives fail get_uint). */
bool sa_gguf_get_int(const sa_gguf *g, int64_t i, int64_t *out);
bool sa_gguf_get_uint(const sa_gguf *g, int64_t i, uint64_t *out);
bool sa_gguf_get_float(const sa_gguf *g, int64_t i, double *out); /* float32/float64 */
bool sa_gguf_get_bool(const sa_gguf *g, int64_t i, bool *out);
/* NUL-terminated copy owned by g; NULL if not a string. Strings may contain
 * embedded NULs: use *len. */
const char *sa_gguf_get_str(const sa_gguf *g, int64_t i, size_t *len);

/* Arrays: element type (SA_GGUF_TYPE_INVALID if not an array), count. */
sa_gguf_type sa_gguf_arr_type(const sa_gguf *g, int64_t i);
uint64_t sa_gguf_arr_n(const sa_gguf *g, int64_t i);
/* Numeric/bool arrays: pointer to the raw little-endian elements inside the
 * file, possibly unaligned (read with memcpy). NULL for string arrays,
 * non-arrays and empty arrays. */
const void *sa_gguf_arr_data(const sa_gguf *g, int64_t i);
/* Element j of a string array: NUL-terminated, owned by g; NULL otherwise. */
const char *sa_gguf_arr_str(const sa_gguf *g, int64_t i, uint64_t j, size_t *len);

/* Tensors, in file order. */
int64_t sa_gguf_n_tensors(const sa_gguf *g);
const sa_gguf_tensor *sa_gguf_tensor_at(const sa_gguf *g, int64_t i); /* NULL if out of range */
int64_t sa_gguf_find_tensor(const sa_gguf *g, const char *name);    /* -1 if absent */

/* "uint8", "string", "array", ...; "?" if unknown. */
const char *sa_gguf_type_name(sa_gguf_type t);
/* "F32", "Q4_K", "IQ2_XXS", ...; "?" if unknown. */
const char *sa_ggml_type_name(uint32_t ggml_type);
/* Block geometry of a ggml type; false for unknown/removed ids. */
bool sa_ggml_type_block(uint32_t ggml_type, uint32_t *block_elems, uint32_t *block_bytes);
/* sa_dtype for a ggml type, SA_DTYPE_INVALID if we don't compute with it;
 * and the reverse (UINT32_MAX if the dtype has no ggml equivalent). */
sa_dtype sa_ggml_type_to_dtype(uint32_t ggml_type);
uint32_t sa_dtype_to_ggml_type(sa_dtype t);

/* ---- writer ------------------------------------------------------------- */

typedef struct sa_gguf_writer sa_gguf_writer;

sa_status sa_gguf_writer_init(sa_gguf_writer **w, sa_err *err);
void sa_gguf_writer_free(sa_gguf_writer *w); /* NULL is fine */

/* Data section alignment (power of two, default 32). A value other than 32
 * is also stored as the general.alignment key. */
sa_status sa_gguf_writer_set_alignment(sa_gguf_writer *w, uint32_t alignment, sa_err *err);

/* set_* replace an existing key of the same name (keeping its position);
 * strings and arrays are copied. Keys are in insertion order. */
sa_status sa_gguf_set_u8(sa_gguf_writer *w, const char *key, uint8_t v, sa_err *err);
sa_status sa_gguf_set_i8(sa_gguf_writer *w, const char *key, int8_t v, sa_err *err);
sa_status sa_gguf_set_u16(sa_gguf_writer *w, const char *key, uint16_t v, sa_err *err);
sa_status sa_gguf_set_i16(sa_gguf_writer *w, const char *key, int16_t v, sa_err *err);
sa_status sa_gguf_set_u32(sa_gguf_writer *w, const char *key, uint32_t v, sa_err *err);
sa_status sa_gguf_set_i32(sa_gguf_writer *w, const char *key, int32_t v, sa_err *err);
sa_status sa_gguf_set_u64(sa_gguf_writer *w, const char *key, uint64_t v, sa_err *err);
sa_status sa_gguf_set_i64(sa_gguf_writer *w, const char *key, int64_t v, sa_err *err);
sa_status sa_gguf_set_f32(sa_gguf_writer *w, const char *key, float v, sa_err *err);
sa_status sa_gguf_set_f64(sa_gguf_writer *w, const char *key, double v, sa_err *err);
sa_status sa_gguf_set_bool(sa_gguf_writer *w, const char *key, bool v, sa_err *err);
sa_status sa_gguf_set_str(sa_gguf_writer *w, const char *key, const char *str, sa_err *err);
/* Binary-safe string of len bytes. */
sa_status sa_gguf_set_strn(sa_gguf_writer *w, const char *key, const char *str, size_t len,
                           sa_err *err);
/* Numeric/bool array: n elements of elem_type laid out in host order
 * (C arrays of uint8_t/int16_t/float/... ; bool arrays as uint8_t 0/1). */
sa_status sa_gguf_set_arr(sa_gguf_writer *w, const char *key, sa_gguf_type elem_type,
                          const void *data, uint64_t n, sa_err *err);
sa_status sa_gguf_set_arr_str(sa_gguf_writer *w, const char *key, const char *const *strs,
                              uint64_t n, sa_err *err);
/* Copy a key (any type) from a reader into the writer (e.g. re-export). */
sa_status sa_gguf_copy_kv(sa_gguf_writer *w, const sa_gguf *g, int64_t i, sa_err *err);

/* dtype: F32, F16, BF16 or Q8_0; ne in ggml order (ne[0] contiguous, a
 * multiple of 32 for Q8_0). data is borrowed until write returns. */
sa_status sa_gguf_add_tensor(sa_gguf_writer *w, const char *name, sa_dtype dtype, int n_dims,
                             const int64_t *ne, const void *data, sa_err *err);

/* Atomic: temp file + fsync + rename. */
sa_status sa_gguf_write(sa_gguf_writer *w, const char *path, sa_err *err);
/* Append the whole file to out (for tests and small files). */
sa_status sa_gguf_write_mem(sa_gguf_writer *w, sa_strbuf *out, sa_err *err);

#ifdef __cplusplus
}
#endif
#endif
