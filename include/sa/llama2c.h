/* llama2c.h — karpathy/llama2.c checkpoints and tokenizer.bin files.
 *
 * Purpose: read the llama2.c model formats in place (mapped, no copies) and
 * export the legacy one.
 *   - v0 (legacy, run.c): 7 int32 (dim, hidden_dim, n_layers, n_heads,
 *     n_kv_heads, vocab_size — negative when a separate classifier follows —,
 *     seq_len), then fp32 arrays: tok_embeddings, attention_norm, wq, wk, wv,
 *     wo, ffn_norm, w1, w2, w3, final norm, freq_cis_real, freq_cis_imag
 *     (the RoPE tables) and, when not shared, the classifier.
 *   - v1 ("ak42" magic, version 1, export.py): 256-byte header, fp32 tensors.
 *   - v2 ("ak42", version 2, runq.c): 256-byte header, norms in fp32, then
 *     each matrix (per layer) as int8 quants followed by its fp32 scales,
 *     one per group of group_size elements.
 * Every header value and the total size are validated (overflow-checked; the
 * file size must match exactly).
 *
 * Tensors are exposed through sa_st_tensor views under llama2.c's PyTorch
 * names: "tok_embeddings.weight", "layers.N.attention_norm.weight",
 * "layers.N.attention.wq.weight" (wk, wv, wo), "layers.N.ffn_norm.weight",
 * "layers.N.feed_forward.w1.weight" (w2, w3), "norm.weight", and
 * "output.weight" (absent when shared); v0 files also list their RoPE tables
 * "freq_cis_real" and "freq_cis_imag" ([seq_len, head_size / 2], F32), which
 * a model need not use. Shapes are row-major, rows first
 * ([out, in] for matrices). For v0/v1 every dtype is F32. For v2 the norms
 * are F32 and each matrix is stored llama2.c's way — not ggml's 34-byte
 * Q8_0 blocks — as two tensors: "<name>" with dtype I8 (the quants, same
 * shape as the fp32 matrix) followed by "<name>.scales", F32 with shape
 * [numel / group_size] (one scale per group of group_size consecutive
 * elements). sa_llama2c_tensor_to_f32 dequantises either kind.
 *
 * Ownership: sa_llama2c_open returns a handle freed by sa_llama2c_close;
 * config, tensor views and data pointers stay valid until then. Data
 * pointers into a memory image (sa_llama2c_open_memory) may be unaligned,
 * and so may v2 scales when group_size is not a multiple of 4: read them
 * with memcpy (or sa_llama2c_tensor_to_f32).
 * sa_llama2c_vocab_read fills a caller-owned struct released with
 * sa_llama2c_vocab_free.
 *
 * Usage:
 *     sa_llama2c *m;
 *     if (sa_llama2c_open(&m, "stories260K.bin", &err) != SA_OK) return err.code;
 *     const sa_llama2c_config *c = sa_llama2c_config_get(m);
 *     const sa_st_tensor *emb = sa_llama2c_find(m, "tok_embeddings.weight");
 *     sa_llama2c_close(m);
 *
 *     sa_llama2c_vocab v;
 *     sa_llama2c_vocab_read(&v, "tokenizer.bin", c->vocab_size, &err);
 *     sa_llama2c_vocab_free(&v);
 */
#ifndef SA_LLAMA2C_H
#define SA_LLAMA2C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sa/dtype.h"
#include "sa/safetensors.h"
#include "sa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_llama2c_config {
    int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
    bool shared_classifier;
    int version;        /* 0 legacy; 1 fp32 "ak42"; 2 Q8_0 "ak42" */
    int32_t group_size; /* Q8_0 group size for version 2; 0 otherwise */
} sa_llama2c_config;

typedef struct sa_llama2c sa_llama2c; /* opaque: a mapped checkpoint */

sa_status sa_llama2c_open(sa_llama2c **out, const char *path, sa_err *err);
/* Parse an in-memory image (borrowed; must outlive the handle). */
sa_status sa_llama2c_open_memory(sa_llama2c **out, const void *data, size_t size,
                                 const char *name, sa_err *err);
void sa_llama2c_close(sa_llama2c *m);

const sa_llama2c_config *sa_llama2c_config_get(const sa_llama2c *m);
int64_t sa_llama2c_n_tensors(const sa_llama2c *m);
const sa_st_tensor *sa_llama2c_tensor_at(const sa_llama2c *m, int64_t i); /* file order */
const sa_st_tensor *sa_llama2c_find(const sa_llama2c *m, const char *name);
/* v2 only: the scales tensor belonging to quantised tensor t; NULL for
 * other tensors/versions. */
const sa_st_tensor *sa_llama2c_q8_scales(const sa_llama2c *m, const sa_st_tensor *t);
/* Copy tensor t (from this checkpoint) into dst as fp32, dequantising v2
 * quants (q * scale); dst holds sa_st_tensor_numel(t) floats. */
sa_status sa_llama2c_tensor_to_f32(const sa_llama2c *m, const sa_st_tensor *t, float *dst,
                                   sa_err *err);

/* Export a v0 checkpoint (atomic write). tensors_in_file_order holds the
 * fp32 arrays in v0 order, one pointer per family covering all layers:
 * [0] tok_embeddings (vocab*dim), [1] rms_att (L*dim), [2] wq, [3] wk,
 * [4] wv, [5] wo, [6] rms_ffn (L*dim), [7] w1, [8] w2, [9] w3,
 * [10] rms_final (dim), [11] freq_cis_real and [12] freq_cis_imag
 * (seq_len*head_size/2 each; NULL = compute the standard RoPE table with
 * theta 10000), [13] wcls (vocab*dim; ignored when shared_classifier). */
#define SA_LLAMA2C_V0_ARRAYS 14
sa_status sa_llama2c_write_v0(const char *path, const sa_llama2c_config *cfg,
                              const float *const *tensors_in_file_order, sa_err *err);

/* llama2.c tokenizer.bin: int32 max_token_length, then per token: float
 * score, int32 len, len bytes. The file has no count. */
typedef struct sa_llama2c_vocab {
    int32_t n;
    int32_t max_token_length;
    char **pieces;  /* n NUL-terminated pieces (may contain embedded NULs: use lens) */
    uint32_t *lens; /* byte length of each piece */
    float *scores;
} sa_llama2c_vocab;

/* expected_n > 0: read exactly that many tokens (trailing bytes are an
 * error); 0: read tokens until EOF. */
sa_status sa_llama2c_vocab_read(sa_llama2c_vocab *v, const char *path, int32_t expected_n,
                                sa_err *err);
sa_status sa_llama2c_vocab_read_memory(sa_llama2c_vocab *v, const void *data, size_t size,
                                       const char *name, int32_t expected_n, sa_err *err);
void sa_llama2c_vocab_free(sa_llama2c_vocab *v);

#ifdef __cplusplus
}
#endif
#endif
