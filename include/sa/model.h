/* model.h — a Llama-family decoder: config, weights, run state, forward.
 *
 * Purpose: the transformer behind every generation and scoring call.
 * Architectures: LlamaForCausalLM, MistralForCausalLM (full attention within
 * the context) and Qwen2ForCausalLM (q/k/v bias). RMSNorm, rotary
 * embeddings (theta; linear and Llama 3 scaling), grouped- and multi-query
 * attention, SwiGLU MLP, tied or untied embeddings.
 *
 * Three structs by lifetime, as in llama2.c:
 *   sa_model_config  the blueprint (read from config.json, GGUF metadata or
 *                    a llama2.c header);
 *   sa_model         config + weights, immutable after load, shareable by
 *                    threads (weights are fp32 in one owned allocation);
 *   sa_model_state   activation buffers for up to max_rows tokens per
 *                    forward call, plus sa_kv_cache objects, one per
 *                    sequence, holding keys/values for max_ctx positions.
 *
 * A forward call processes a "batch" of rows; each row is one token of one
 * sequence at one position, with a pointer to that sequence's KV cache. A
 * prefill is many rows of one sequence; a batched decode step is one row for
 * each of several sequences, so every weight matrix is read once per step
 * for all of them (a GEMM, not a loop of GEMVs).
 *
 * Ownership: sa_model_load returns a model the caller frees with
 * sa_model_free. State and caches are caller-owned structs with init/free.
 *
 * Usage:
 *     sa_model *m; sa_model_state st; sa_kv_cache kv;
 *     sa_model_load(&m, "models/stories260K.bin", &err);
 *     sa_model_state_init(&st, &m->cfg, 512, &err);
 *     sa_kv_cache_init(&kv, &m->cfg, 512, &err);
 *     sa_model_forward_seq(m, &st, &k, &kv, ids, n, 0, &logits, &err); // last row's logits
 */
#ifndef SA_MODEL_H
#define SA_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sa/dtype.h"
#include "sa/kernels.h"
#include "sa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sa_arch {
    SA_ARCH_LLAMA = 0,
    SA_ARCH_MISTRAL,
    SA_ARCH_QWEN2,
} sa_arch;

typedef enum sa_model_format {
    SA_MODEL_FORMAT_HF = 0,  /* directory: config.json + *.safetensors */
    SA_MODEL_FORMAT_GGUF,
    SA_MODEL_FORMAT_LLAMA2C,
} sa_model_format;

typedef struct sa_model_config {
    sa_arch arch;
    int32_t dim;         /* hidden size */
    int32_t hidden_dim;  /* MLP intermediate size */
    int32_t n_layers;
    int32_t n_heads;
    int32_t n_kv_heads;
    int32_t head_dim;    /* usually dim / n_heads */
    int32_t vocab_size;
    int32_t max_seq_len; /* positions the model was trained for */
    float rope_theta;
    sa_rope_scaling rope_scaling;
    sa_rope_layout rope_layout; /* NORM for llama2.c and GGUF llama, NEOX for HF */
    float norm_eps;
    bool tied_embeddings;
    bool qkv_bias;
    int32_t bos_id, eos_id; /* -1 if unknown */
} sa_model_config;

/* "LlamaForCausalLM", ... */
const char *sa_arch_name(sa_arch a);
/* Parse an HF architecture name; SA_ERR_UNSUPPORTED naming it otherwise. */
sa_status sa_arch_from_name(const char *name, sa_arch *out, sa_err *err);
/* The reference shapes of DESIGN.md §4 as plain Llama configs (rope theta
 * 10000, eps 1e-5, HF rotary layout, context 2048, no bos/eos):
 * "m-tiny" dim 288, 6 layers, 6 heads, ffn 768, vocab 32000, untied;
 * "m-small" (SmolLM-135M) dim 576, 30 layers, 9 heads, 3 kv heads, ffn 1536,
 * vocab 49152, tied. False for any other name. */
bool sa_model_config_preset(const char *name, sa_model_config *out);
/* Read config.json (path of the file). */
sa_status sa_model_config_from_hf(sa_model_config *cfg, const char *config_json, sa_err *err);
/* Check internal consistency (heads divide dims, positive sizes, caps). */
sa_status sa_model_config_validate(const sa_model_config *cfg, const char *source, sa_err *err);
/* Parameter count implied by the config. */
int64_t sa_model_config_n_params(const sa_model_config *cfg);

typedef struct sa_layer_weights {
    float *attn_norm;          /* [dim] */
    float *wq, *wk, *wv, *wo;  /* [n_heads*hd, dim], [kv_dim, dim] x2, [dim, n_heads*hd] */
    float *bq, *bk, *bv;       /* biases (Qwen2) or NULL */
    float *ffn_norm;           /* [dim] */
    float *w_gate, *w_up;      /* [hidden, dim] */
    float *w_down;             /* [dim, hidden] */
} sa_layer_weights;

typedef struct sa_model_weights {
    float *tok_embd;           /* [vocab, dim] */
    sa_layer_weights *layers;  /* [n_layers] */
    float *out_norm;           /* [dim] */
    float *output;             /* [vocab, dim]; == tok_embd when tied */
} sa_model_weights;

typedef struct sa_model {
    sa_model_config cfg;
    sa_model_weights w;
    sa_model_format format;
    float *storage;            /* the one fp32 allocation every pointer above lives in;
                                * per layer wq|wk|wv|wo|... with wq, wk, wv adjacent (and
                                * bq, bk, bv; w_gate, w_up) so the forward fuses them */
    size_t storage_floats;
    sa_rope_table rope;        /* cos/sin for positions [0, max_seq_len) */
} sa_model;

/* Load from a path: an HF model directory (or its config.json), a .gguf
 * file, or a llama2.c checkpoint. Weights of any supported dtype (F32, F16,
 * BF16, Q8_0) become fp32. Missing tensors, wrong shapes and unknown
 * architectures are errors that name the tensor / file. */
sa_status sa_model_load(sa_model **out, const char *path, sa_err *err);
/* Allocate a model with zeroed weights for cfg (for tests, tools, benchmarks). */
sa_status sa_model_alloc(sa_model **out, const sa_model_config *cfg, sa_err *err);
void sa_model_free(sa_model *m);
/* Fill the weights with seeded random values: matrices and embeddings
 * normal(0, std), norm weights 1 + normal(0, 0.1), biases normal(0, std).
 * Deterministic for a seed, whatever the thread count. */
void sa_model_randomize(sa_model *m, uint64_t seed, float std);

/* Write the model as an HF directory (config.json + model.safetensors;
 * matrices in dtype F32, F16 or BF16, norms and biases F32), a GGUF file
 * (F32, F16, BF16 or Q8_0 matrices) or a llama2.c v0 checkpoint (F32, plain
 * Llama only). The q/k rows are permuted between rotary layouts as each
 * format expects, so every export reloads to the same logits. Tokenizer
 * files are not written here. */
sa_status sa_model_save_hf(const sa_model *m, const char *dir, sa_dtype dtype, sa_err *err);
/* tok (may be NULL) is embedded as tokenizer.* metadata, padded to the
 * model's vocabulary size. */
struct sa_tokenizer;
sa_status sa_model_save_gguf(const sa_model *m, const char *path, sa_dtype dtype, const struct sa_tokenizer *tok,
                             sa_err *err);
sa_status sa_model_save_llama2c(const sa_model *m, const char *path, sa_err *err);
/* Permute the rows of a [n_heads*hd, cols] q/k matrix (or a bias when cols
 * == 1, or a LoRA B) between the rotary pairings: to_norm moves row (head,
 * half j, i) of the NEOX (HF) order to 2i + j of the NORM (llama2.c, GGUF)
 * order; otherwise the inverse. dst and src must not overlap. */
void sa_model_permute_qk_rows(float *dst, const float *src, int64_t n_heads, int64_t hd, int64_t cols, bool to_norm);

/* Keys and values of one sequence. */
typedef struct sa_kv_cache {
    int32_t n_layers, max_ctx, kv_dim;
    float *k, *v; /* [n_layers][max_ctx][kv_dim] */
    int32_t n_pos; /* positions filled so far (informational; the caller manages it) */
} sa_kv_cache;

sa_status sa_kv_cache_init(sa_kv_cache *kv, const sa_model_config *cfg, int32_t max_ctx,
                           sa_err *err);
void sa_kv_cache_free(sa_kv_cache *kv);
/* Copy the first n positions of src into dst (shared-prefix reuse). */
sa_status sa_kv_cache_copy_prefix(sa_kv_cache *dst, const sa_kv_cache *src, int32_t n,
                                  sa_err *err);

typedef struct sa_model_state {
    int32_t max_rows, max_ctx;
    float *x, *xb, *q, *k, *v, *att_out, *hb, *hb2, *qkv; /* per row activations */
    float *att;    /* [max_rows, n_heads, max_ctx] attention probabilities */
    float *logits; /* [max_rows, vocab] */
    int32_t *pos;  /* [max_rows] positions of the current call */
    sa_attn_seq *seqs; /* [max_rows] attention groups of the current call */
} sa_model_state;

/* Buffers for up to max_rows rows per forward call and contexts up to max_ctx. */
sa_status sa_model_state_init(sa_model_state *st, const sa_model_config *cfg, int32_t max_rows,
                              int32_t max_ctx, sa_err *err);
void sa_model_state_free(sa_model_state *st);

/* One row per token: token id, position, the sequence's cache, and whether
 * its logits are wanted. Rows of the same sequence must be consecutive and
 * in increasing position order. */
typedef struct sa_batch_row {
    int32_t token;
    int32_t pos;
    sa_kv_cache *kv;
    bool want_logits;
    /* Attention runs over each stretch of consecutive positions of one
     * sequence in one call, and a long run takes another kernel (sgemm)
     * than a short one, with other rounding. run_start cuts a run here, so
     * a caller that always groups positions the same way (the engine's
     * fixed blocks) gets the same bits whatever else shares the call. */
    bool run_start;
} sa_batch_row;

/* Run the model over n rows. Logits of row r (if wanted) are written to
 * st->logits + r * vocab. Each row's key/value is stored in its cache at its
 * position before attention, so a row sees its own sequence's earlier rows. */
sa_status sa_model_forward(const sa_model *m, sa_model_state *st, const sa_kernels *k,
                           const sa_batch_row *rows, int32_t n, sa_err *err);

/* Convenience: one sequence, tokens at positions pos0 .. pos0+n-1; returns
 * a pointer to the last row's logits (inside st). */
sa_status sa_model_forward_seq(const sa_model *m, sa_model_state *st, const sa_kernels *k,
                               sa_kv_cache *kv, const int32_t *tokens, int32_t n, int32_t pos0,
                               const float **logits, sa_err *err);

#ifdef __cplusplus
}
#endif
#endif
