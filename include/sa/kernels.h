/* kernels.h — CPU compute kernels for the Llama-family forward pass.
 *
 * Purpose: every op the model needs, each with a fast implementation
 * (OpenBLAS sgemm, OpenMP threads, vectorisable loops) and a naive
 * reference beside it. The reference is selected at run time through the
 * sa_kernels context, so tests validate the fast path against the naive one
 * at many shapes and a user can rerun any model in reference mode when a
 * result looks wrong.
 *
 * Conventions (the training issue adds each backward next to its forward):
 *   - arguments go: outputs, saved-for-backward, inputs, weights, dims;
 *   - matrices are row-major; a weight W of a linear layer is [out, in] like
 *     PyTorch's nn.Linear, so y = x W^T;
 *   - activations are [rows, features]; attention tensors are [T, heads, hd];
 *   - (for the backward passes) parameter gradients accumulate (+=),
 *     activation gradients overwrite (=).
 *
 * Ownership: kernels never allocate; every buffer belongs to the caller.
 * sa_rope_table owns its cos/sin arrays (sa_rope_table_free).
 *
 * Usage:
 *     sa_kernels k;
 *     sa_kernels_init(&k, 2);                  // 2 threads, fast path
 *     sa_matmul_fwd(&k, y, x, w, NULL, M, N, K);
 *     k.reference = true;                      // naive reference from now on
 */
#ifndef SA_KERNELS_H
#define SA_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How sa_matmul_fwd computes its rows. AUTO picks by the row count M (a
 * GEMV for 1 row, per-row dot products up to SA_SMALL_M rows, sgemm above),
 * so one row's result can differ in the last bits between calls of
 * different sizes. The two fixed paths give every row the same bits
 * whatever else is in the call: ROWWISE (per-row dot products: decode
 * steps) and GEMM (sgemm for any M: prompt blocks). */
typedef enum sa_matmul_path { SA_MATMUL_AUTO = 0, SA_MATMUL_ROWWISE, SA_MATMUL_GEMM } sa_matmul_path;

typedef struct sa_kernels {
    int n_threads;       /* threads for OpenMP regions and OpenBLAS (>= 1) */
    bool reference;      /* true: run the naive reference implementations */
    sa_matmul_path path; /* sa_matmul_fwd's kernel choice (AUTO after init) */
} sa_kernels;

/* n_threads <= 0 means all online CPUs. */
void sa_kernels_init(sa_kernels *k, int n_threads);
/* "openblas+openmp", "openmp", or "scalar": what the fast path was built with. */
const char *sa_kernels_backend(void);

/* out[M,N] = x[M,K] · w[N,K]^T (+ bias[N] if non-NULL). */
void sa_matmul_fwd(const sa_kernels *k, float *out, const float *x, const float *w,
                   const float *bias, int64_t M, int64_t N, int64_t K);

/* RMSNorm over rows: out[m,:] = x[m,:] / sqrt(mean(x[m,:]^2) + eps) * w.
 * rstd[M] (may be NULL) receives 1/sqrt(mean+eps) for the backward pass.
 * out may alias x. */
void sa_rmsnorm_fwd(const sa_kernels *k, float *out, float *rstd, const float *x,
                    const float *w, int64_t M, int64_t D, float eps);

/* Row-wise softmax of x[M,N] into out (may alias x). */
void sa_softmax_fwd(const sa_kernels *k, float *out, const float *x, int64_t M, int64_t N);

/* SwiGLU: out[i] = silu(gate[i]) * up[i] over n elements (out may alias gate). */
void sa_swiglu_fwd(const sa_kernels *k, float *out, const float *gate, const float *up,
                   int64_t n);

/* SwiGLU over M rows of a fused [gate | up] product: gu is [M, 2F], out
 * [M, F] with out[m, i] = silu(gu[m, i]) * gu[m, F + i]. */
void sa_swiglu_rows_fwd(const sa_kernels *k, float *out, const float *gu, int64_t M, int64_t F);

/* Embedding lookup: out[i,:] = table[ids[i],:]. Fails with SA_ERR_RANGE
 * (naming the position and id) if an id is outside [0, vocab). */
sa_status sa_embedding_fwd(const sa_kernels *k, float *out, const float *table,
                           const int32_t *ids, int64_t n, int64_t D, int64_t vocab,
                           sa_err *err);

/* ---- rotary position embeddings ---------------------------------------------- */
typedef enum sa_rope_scaling_type {
    SA_ROPE_SCALING_NONE = 0,
    SA_ROPE_SCALING_LINEAR, /* positions divided by factor */
    SA_ROPE_SCALING_LLAMA3, /* frequency-dependent (Llama 3.1+) */
} sa_rope_scaling_type;

typedef struct sa_rope_scaling {
    sa_rope_scaling_type type;
    float factor;
    float low_freq_factor, high_freq_factor; /* llama3 */
    int32_t original_max_pos;                /* llama3 */
} sa_rope_scaling;

/* Which elements rotate together: NORM pairs (2i, 2i+1) as in llama2.c and
 * GGUF; NEOX pairs (i, i + hd/2) as in Hugging Face rotate_half. */
typedef enum sa_rope_layout { SA_ROPE_LAYOUT_NORM = 0, SA_ROPE_LAYOUT_NEOX } sa_rope_layout;

typedef struct sa_rope_table {
    int32_t head_dim, max_pos;
    sa_rope_layout layout;
    float *cos, *sin; /* [max_pos, head_dim/2] */
} sa_rope_table;

/* Precompute cos/sin for positions [0, max_pos). head_dim must be even;
 * scaling may be NULL. */
sa_status sa_rope_table_init(sa_rope_table *t, int32_t head_dim, int32_t max_pos, float theta,
                             const sa_rope_scaling *scaling, sa_rope_layout layout, sa_err *err);
void sa_rope_table_free(sa_rope_table *t);

/* Rotate x[T, n_heads, head_dim] in place; row t is at position pos[t]
 * (every pos[t] must be < max_pos; the caller checks). */
void sa_rope_fwd(const sa_kernels *k, float *x, const sa_rope_table *t, const int32_t *pos,
                 int64_t T, int64_t n_heads);

/* ---- causal attention with grouped-query heads ------------------------------ */
/* One sequence's share of a batch: rows [row0, row0 + T) of q/out hold its
 * queries for positions pos0 .. pos0+T-1; kc, vc are its keys/values,
 * [S, n_kv_heads, hd] with S >= pos0 + T (the KV cache, already holding
 * this step's keys). */
typedef struct sa_attn_seq {
    int64_t row0, T, pos0;
    const float *kc, *vc;
} sa_attn_seq;

/* q: [rows, n_heads, hd]; out: [rows, n_heads, hd]. Query t of a sequence
 * attends to its keys 0 .. pos0+t; head h uses kv head h / (n_heads /
 * n_kv_heads). att: [rows, n_heads, att_stride] receives the probabilities
 * over positions 0 .. pos0+T-1 of the row's sequence (entries past the
 * causal limit within that range are 0) — saved for the backward pass and
 * used as scratch, so it is required; att_stride >= pos0 + T for every
 * sequence. All sequences run in one parallel region (decode batches many
 * one-row sequences). seqs must be ordered by row0 and cover the rows. */
void sa_attention_fwd(const sa_kernels *k, float *out, float *att, const float *q, const sa_attn_seq *seqs,
                      int64_t n_seqs, int64_t att_stride, int64_t n_heads, int64_t n_kv_heads, int64_t hd);

/* Training variant of sa_attention_fwd that saves no probabilities: lse
 * [rows, n_heads] receives each row's log-sum-exp of the scaled scores,
 * log sum_j exp(q.k_j / sqrt(hd)), from which sa_attention_bwd_lse rebuilds
 * them. scratch: n_heads * T * S floats for the largest sequence (S = pos0 +
 * T), reused by every sequence and layer. Long sequences skip the masked
 * upper triangle in query blocks and run as (sequence, head) items, one per
 * thread. Outputs equal sa_attention_fwd's to float rounding. Meant for
 * training batches; decode keeps sa_attention_fwd. */
void sa_attention_fwd_lse(const sa_kernels *k, float *out, float *lse, const float *q, const sa_attn_seq *seqs,
                          int64_t n_seqs, int64_t n_heads, int64_t n_kv_heads, int64_t hd, float *scratch);

/* ---- backward passes ---------------------------------------------------------
 * Each backward sits in the same source file as its forward. Arguments go
 * gradients out, saved-for-backward, upstream gradient and inputs, weights,
 * dims. Gradients of PARAMETERS (dw, db, dtable, and the per-sequence dk/dv
 * which several query rows share) ACCUMULATE (+=): zero them once per step.
 * Gradients of ACTIVATIONS OVERWRITE (=). No backward allocates; attention
 * takes a caller-provided scratch buffer. Like the forwards, k->reference
 * selects a naive serial implementation (double accumulation). */

/* From out = x w^T + b: dx[M,K] = dout w (OVERWRITE; NULL skips it),
 * dw[N,K] += dout^T x (ACCUMULATE; NULL skips it: a frozen weight),
 * db[N] += column sums of dout
 * (ACCUMULATE; NULL skips it). dout is [M,N]. */
void sa_matmul_bwd(const sa_kernels *k, float *dx, float *dw, float *db, const float *dout,
                   const float *x, const float *w, int64_t M, int64_t N, int64_t K);

/* RMSNorm: dx[M,D] (OVERWRITE), dw[D] (ACCUMULATE; NULL skips it: a frozen
 * weight). rstd[M] is what the forward saved; x and w are the forward's
 * inputs. dx may alias dout. */
void sa_rmsnorm_bwd(const sa_kernels *k, float *dx, float *dw, const float *dout, const float *x,
                    const float *rstd, const float *w, int64_t M, int64_t D);

/* RoPE: dx[T, n_heads, head_dim] holds dL/d(rotated) on entry and
 * dL/d(input) on return (OVERWRITE in place): the gradient is rotated by
 * -angle, the transpose of the forward rotation. */
void sa_rope_bwd(const sa_kernels *k, float *dx, const sa_rope_table *t, const int32_t *pos,
                 int64_t T, int64_t n_heads);

/* Row-wise softmax: dx[M,N] = y * (dout - <dout, y>) (OVERWRITE), y is the
 * forward's output. dx may alias dout. */
void sa_softmax_bwd(const sa_kernels *k, float *dx, const float *dout, const float *y, int64_t M,
                    int64_t N);

/* SwiGLU out = silu(gate) * up: dgate, dup (both OVERWRITE) over n
 * elements. Neither may alias dout, gate or up. */
void sa_swiglu_bwd(const sa_kernels *k, float *dgate, float *dup, const float *dout,
                   const float *gate, const float *up, int64_t n);

/* Embedding: dtable[ids[i], :] += dout[i, :] (ACCUMULATE). ids must be the
 * ones sa_embedding_fwd accepted (in range). Race-free: repeated ids are
 * summed in order. */
void sa_embedding_bwd(const sa_kernels *k, float *dtable, const int32_t *ids, const float *dout,
                      int64_t n, int64_t D);

/* Causal GQA attention for ONE sequence (rows 0..T-1 at positions pos0 ..
 * pos0+T-1, keys/values kc, vc [S, n_kv_heads, hd] with S >= pos0 + T),
 * scale 1/sqrt(hd). dq [T, n_heads, hd] (OVERWRITE); dk, dv [S, n_kv_heads,
 * hd] (ACCUMULATE: several query rows and heads share one key; rows at and
 * past pos0 + T are not touched). att is the probabilities
 * sa_attention_fwd saved ([T, n_heads, att_stride]); scratch holds
 * T * n_heads * att_stride floats. */
void sa_attention_bwd(const sa_kernels *k, float *dq, float *dk, float *dv, const float *dout,
                      const float *att, const float *q, const float *kc, const float *vc, int64_t T,
                      int64_t pos0, int64_t att_stride, int64_t n_heads, int64_t n_kv_heads,
                      int64_t hd, float *scratch);

/* sa_attention_bwd for ONE sequence without saved probabilities: lse is
 * this sequence's [T, n_heads] slice of what sa_attention_fwd_lse saved;
 * the probabilities are recomputed from q, kc and lse. Same gradients and
 * accumulation rules as sa_attention_bwd. scratch holds
 * 2 * n_heads * T * (pos0 + T) floats (reused across sequences and layers). */
void sa_attention_bwd_lse(const sa_kernels *k, float *dq, float *dk, float *dv, const float *dout,
                          const float *lse, const float *q, const float *kc, const float *vc, int64_t T,
                          int64_t pos0, int64_t n_heads, int64_t n_kv_heads, int64_t hd, float *scratch);

/* Softmax cross-entropy over logits [M,V] with targets [M]. mask[M] (NULL =
 * every row counts) marks rows that count with 1. *loss_out is the mean of
 * -log softmax(logits)[target] over counted rows (0 if none), computed with
 * a max-subtracted log-sum-exp in double. dlogits [M,V] (OVERWRITE; NULL =
 * loss only; may alias logits) receives d(*loss_out)/d(logits), i.e. already
 * divided by the counted-row count; rows with mask 0 get zeros.
 * *n_counted (may be NULL) receives the count. A counted row whose target
 * is outside [0, V) fails with SA_ERR_RANGE before anything is written. */
sa_status sa_cross_entropy_fwd_bwd(const sa_kernels *k, float *loss_out, float *dlogits,
                                   const float *logits, const int32_t *targets,
                                   const uint8_t *mask, int64_t M, int64_t V,
                                   int64_t *n_counted, sa_err *err);

/* The output classifier fused with sa_cross_entropy_fwd_bwd, a chunk of
 * rows at a time: logits = x w^T for up to `chunk` counted rows, their loss
 * and dlogits (in scratch), then dw += dlogits^T x and dx = dlogits w, so
 * only [chunk, V] logits ever exist instead of [R, V]. Rows with mask 0
 * (mask NULL = all count) get no logits at all and dx rows of 0.
 * x [R, D] is the final-normed hidden state, w [V, D], targets [R].
 * *loss_out = mean loss over all counted rows of the call (0 if none).
 * The gradients are those of scale * (*loss_out): dx [R, D] OVERWRITE (NULL
 * = none), dw [V, D] ACCUMULATE (NULL = frozen); both NULL = loss only.
 * scratch holds sa_classifier_ce_scratch_floats(V, D, chunk) floats (use a
 * 64-byte aligned buffer). Equals sa_matmul_fwd + sa_cross_entropy_fwd_bwd +
 * sa_matmul_bwd to float rounding. A counted row whose target is outside
 * [0, V) fails with SA_ERR_RANGE (naming the row) before anything is
 * written; *n_counted (may be NULL) receives the count. */
sa_status sa_classifier_ce_fwd_bwd(const sa_kernels *k, float *loss_out, float *dx, float *dw, const float *x,
                                   const float *w, const int32_t *targets, const uint8_t *mask, int64_t R,
                                   int64_t V, int64_t D, float scale, float *scratch, int64_t chunk,
                                   int64_t *n_counted, sa_err *err);
/* Scratch size of sa_classifier_ce_fwd_bwd, in floats. */
int64_t sa_classifier_ce_scratch_floats(int64_t V, int64_t D, int64_t chunk);

#ifdef __cplusplus
}
#endif
#endif
