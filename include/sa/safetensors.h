/* safetensors.h — read and write safetensors files (single or sharded).
 *
 * Purpose: the Hugging Face model layout stores weights as safetensors: an
 * 8-byte little-endian header length N, N bytes of JSON (tensor name ->
 * {dtype, shape, data_offsets}, plus an optional "__metadata__" object of
 * string -> string), then the raw little-endian tensor bytes. Large models
 * split the tensors over several shard files listed by
 * model.safetensors.index.json ({"metadata": {...}, "weight_map": {name ->
 * shard file}}). The reader maps each file read-only and validates the header
 * as hostile input (known dtype, rank <= 8, sizes overflow-checked and equal
 * to the offsets, offsets inside the file, no overlaps, no holes) and then
 * presents one tensor list whatever the number of shards.
 *
 * Ownership: sa_st_open / sa_st_open_memory return a handle the caller
 * releases with sa_st_close. Tensor views, names, data pointers and metadata
 * strings stay valid until sa_st_close. sa_st_open_memory borrows `data`: it
 * must outlive the handle. The writer borrows each tensor's data pointer
 * until sa_st_write / sa_st_write_mem returns; free it with sa_st_writer_free.
 *
 * Usage:
 *     sa_st *st;
 *     if (sa_st_open(&st, "model_dir", &err) != SA_OK) return err.code;
 *     const sa_st_tensor *t = sa_st_find(st, "model.norm.weight");
 *     if (t && t->dtype == SA_DTYPE_BF16) use(t->data, t->nbytes);
 *     sa_st_close(st);
 *
 *     sa_st_writer *w;
 *     sa_st_writer_init(&w, &err);
 *     int64_t shape[2] = {rows, cols};
 *     sa_st_writer_add(w, "lm_head.weight", SA_DTYPE_F32, 2, shape, data, &err);
 *     sa_st_writer_set_metadata(w, "format", "pt", &err);
 *     sa_st_write(w, "out/model.safetensors", &err);   // temp + fsync + rename
 *     sa_st_writer_free(w);
 *
 * Tensor order: sa_st_tensor_at follows the header's data offsets within a
 * file, files in the order the index first names them. The writer sorts
 * tensors and metadata keys by name (byte order), so its output depends only
 * on the content, never on the order of the calls.
 */
#ifndef SA_SAFETENSORS_H
#define SA_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sa/dtype.h"
#include "sa/status.h"
#include "sa/strbuf.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SA_ST_MAX_DIMS 8
#define SA_ST_MAX_HEADER (100u * 1024u * 1024u) /* refuse larger JSON headers */

/* A uniform tensor view (also used by the llama2.c reader). */
typedef struct sa_st_tensor {
    const char *name;
    sa_dtype dtype;
    int n_dims;                      /* 0 for a scalar */
    int64_t shape[SA_ST_MAX_DIMS];   /* row-major, outermost first */
    const void *data;                /* into the mapping; may be NULL when nbytes == 0 */
    size_t nbytes;
    int shard;                       /* index of the file holding it (0 if single) */
} sa_st_tensor;

typedef struct sa_st sa_st; /* opaque: one file, or a sharded set */

/* path: a .safetensors file, a *.safetensors.index.json, or a directory
 * holding model.safetensors.index.json or model.safetensors (or exactly one
 * *.safetensors file). */
sa_status sa_st_open(sa_st **out, const char *path, sa_err *err);
/* Parse an in-memory safetensors image; `name` is used in error messages. */
sa_status sa_st_open_memory(sa_st **out, const void *data, size_t size, const char *name,
                            sa_err *err);
void sa_st_close(sa_st *st);

int64_t sa_st_n_tensors(const sa_st *st);
const sa_st_tensor *sa_st_tensor_at(const sa_st *st, int64_t i); /* NULL if out of range */
const sa_st_tensor *sa_st_find(const sa_st *st, const char *name); /* NULL if absent */
int sa_st_n_shards(const sa_st *st);
const char *sa_st_shard_path(const sa_st *st, int shard); /* NULL if out of range */
/* Product of the shape (1 for a scalar). */
int64_t sa_st_tensor_numel(const sa_st_tensor *t);

/* __metadata__ (string -> string). For a sharded set: the first shard's
 * __metadata__; the index's own "metadata" object is not merged (its values
 * need not be strings). Keys are in file order. */
int64_t sa_st_n_metadata(const sa_st *st);
const char *sa_st_metadata_key(const sa_st *st, int64_t i);
const char *sa_st_metadata_value(const sa_st *st, int64_t i);
const char *sa_st_metadata_get(const sa_st *st, const char *key); /* NULL if absent */

/* ---- writer ---- */
typedef struct sa_st_writer sa_st_writer;

sa_status sa_st_writer_init(sa_st_writer **w, sa_err *err);
void sa_st_writer_free(sa_st_writer *w);
/* Add a tensor; data (nbytes = product(shape) * element size, borrowed until
 * write) may be NULL only when the tensor is empty. Q8_0, an empty name,
 * invalid UTF-8 and the name "__metadata__" are SA_ERR_INVALID_ARG;
 * duplicate names are SA_ERR_INVALID_ARG from sa_st_write / sa_st_write_mem
 * (checked once, after sorting). */
sa_status sa_st_writer_add(sa_st_writer *w, const char *name, sa_dtype dtype, int n_dims,
                           const int64_t *shape, const void *data, sa_err *err);
/* Set (or replace) a __metadata__ entry. */
sa_status sa_st_writer_set_metadata(sa_st_writer *w, const char *key, const char *value,
                                    sa_err *err);
/* Write atomically: temp file + fsync + rename. */
sa_status sa_st_write(sa_st_writer *w, const char *path, sa_err *err);
/* Append the whole file image to out. */
sa_status sa_st_write_mem(sa_st_writer *w, sa_strbuf *out, sa_err *err);

#ifdef __cplusplus
}
#endif
#endif
