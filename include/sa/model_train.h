/* model_train.h — the training forward (with saved activations) and the
 * backward pass of the Llama-family model.
 *
 * Purpose: gradients of the masked next-token cross-entropy with respect to
 * every weight, for a batch of B sequences of T tokens each (shorter
 * sequences are padded and their padding masked out). Gradients live in a
 * second sa_model of the same config (sa_model_alloc): the trainable state
 * reuses the weight layout, so AdamW moments, clipping and checkpoints
 * treat weights, gradients and moments as the same flat array
 * (m->storage, m->storage_floats). Tied embeddings share one gradient.
 *
 * The general step, sa_model_train_step, also trains LoRA adapters
 * (lora.h) on a frozen base (grads NULL: no weight gradient is computed and
 * the backward stops at the lowest adapted layer), applies dropout (masks
 * are a counter-based hash, so nothing is stored and the backward
 * regenerates them), runs shorter sequences than the buffers were sized
 * for, and scales gradients for accumulation over several calls.
 *
 * Ownership: sa_train_acts holds every buffer of one step (no allocation
 * during the step); the caller owns model, gradients, adapters and inputs.
 *
 * Usage:
 *     sa_model *g; sa_model_alloc(&g, &m->cfg, &err);       // zeroed gradients
 *     sa_train_acts a; sa_train_acts_init(&a, &m->cfg, NULL, B, T, &err);
 *     float loss; int64_t n;
 *     sa_model_loss_grad(m, g, &a, &k, tokens, targets, mask, &loss, &n, &err);  // g += dL/dw
 *
 *     // LoRA on a frozen base:
 *     sa_train_acts_init(&a, &m->cfg, &lora_cfg, B, T, &err);
 *     sa_train_args args = {.tokens = tok, .targets = tgt, .mask = mask, .backward = true,
 *                           .lora = &ad, .lora_grads = &adg, .dropout_seed = step};
 *     sa_model_train_step(m, &a, &k, &args, &loss, &n, &err);   // adg += dL/dA, dL/dB
 */
#ifndef SA_MODEL_TRAIN_H
#define SA_MODEL_TRAIN_H

#include <stdint.h>

#include "sa/kernels.h"
#include "sa/lora.h"
#include "sa/model.h"
#include "sa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_train_acts {
    int32_t B, T, L;
    /* saved per layer (layer-major), rows R = B*T */
    float *x;      /* [L+1][R,D] residual stream entering each layer (x[L]: final) */
    float *xn1, *rstd1, *q, *k, *v, *att_out, *xmid, *xn2, *rstd2, *gu, *h;
    float *lse;        /* [L][R, n_heads] attention log-sum-exp: the backward rebuilds the
                        * probabilities from q, k and lse instead of storing [R, H, T] per layer */
    float *xnf, *rstdf; /* final norm */
    float *ce_scratch;  /* chunked classifier + cross-entropy (sa_classifier_ce_fwd_bwd): logits
                         * exist only for SA_CE_CHUNK rows at a time, never [R, vocab] */
    /* backward scratch */
    float *dx, *dxb, *dqkv, *dq, *dk, *dv, *datt, *dgu, *dh, *tmp, *scratch;
    int32_t *pos;
    sa_attn_seq *seqs;
    /* LoRA (lora_rank > 0): u = drop(x) A^T saved per layer and target, and
     * per-target scratch reused by every target in turn */
    int32_t lora_rank;
    float *lora_u;  /* [L][SA_LORA_N_TARGETS][R, lora_rank] */
    float *lora_xd; /* [R, max in]: drop(x) of the current target */
    float *lora_y;  /* [R, max out]: u B^T (forward), scale * dy (backward) */
    float *lora_du; /* [R, lora_rank] */
    float *lora_dx; /* [R, max in] */
} sa_train_acts;

/* Buffers for B sequences of up to T tokens. lora (may be NULL: no adapter
 * can be trained or applied with these buffers) sizes the LoRA buffers:
 * adapters of rank <= lora->rank, any targets, can then be used. */
sa_status sa_train_acts_init(sa_train_acts *a, const sa_model_config *cfg, const sa_lora_config *lora, int32_t B,
                             int32_t T, sa_err *err);
void sa_train_acts_free(sa_train_acts *a);

/* Forward over tokens[B*T] (row b*T + t is token t of sequence b, at
 * position t), mean cross-entropy against targets[B*T] over rows whose
 * mask is 1 (mask NULL: all rows), and — when grads is non-NULL — the
 * backward pass, ADDING dL/dw into grads. *loss and *n_counted receive the
 * loss and the number of counted rows. Targets of counted rows must be in
 * the vocabulary (SA_ERR_RANGE otherwise); tokens too. A wrapper of
 * sa_model_train_step (full T, no adapter, no dropout, denom 0). */
sa_status sa_model_loss_grad(const sa_model *m, sa_model *grads, sa_train_acts *a, const sa_kernels *k,
                             const int32_t *tokens, const int32_t *targets, const uint8_t *mask, float *loss,
                             int64_t *n_counted, sa_err *err);

/* ---- the general step (LoRA, frozen base, dropout, variable length) ---- */
typedef struct sa_train_args {
    const int32_t *tokens;  /* [B*T]: row b*T + t is token t of sequence b, at position t */
    const int32_t *targets; /* [B*T] next tokens */
    const uint8_t *mask;    /* [B*T] 1 = the row counts; NULL = all rows */
    int32_t T;              /* tokens per sequence in this call, 1 .. acts->T; 0 = acts->T.
                             * Length-bucketed batches use short T: fewer rows, less work. */
    bool backward;          /* false: loss only (evaluation); nothing is written to gradients */
    sa_model *grads;        /* += dL/dW of the base weights; NULL: base frozen (LoRA) */
    const sa_lora *lora;    /* adapters applied in the forward; NULL: none */
    sa_lora *lora_grads;    /* += dL/dA, dL/dB (same config as lora); NULL: adapters fixed */
    float dropout;          /* residual dropout on each attention and MLP output before it is
                             * added to the residual stream; 0 = off */
    uint64_t dropout_seed;  /* dropout masks (residual and LoRA) are a hash of (seed, layer,
                             * site, row, column): identical in forward and backward, nothing
                             * stored; the trainer varies the seed per micro-batch */
    int64_t denom;          /* gradients are of (sum of counted rows' losses) / denom;
                             * 0 = this call's counted rows (the mean). Gradient accumulation
                             * passes the counted rows of the whole optimizer step. */
    float *logits_out;      /* optional [B*T, vocab]: receives every row's logits (an extra
                             * classifier product; training itself never holds them all) */
} sa_train_args;

/* *loss = mean cross-entropy over this call's counted rows (0 if none);
 * *n_counted (may be NULL) = their number. With backward, ADDS the
 * gradients described above into args->grads and args->lora_grads (a
 * backward with both NULL computes the loss only). The adapter's model
 * config must be m's and its rank at most the rank the acts were sized
 * for (SA_ERR_INVALID_ARG otherwise), as must T, dropout in [0, 1) and
 * denom >= 0. LoRA dropout is lora->cfg.dropout, one mask per target. */
sa_status sa_model_train_step(const sa_model *m, sa_train_acts *a, const sa_kernels *k, const sa_train_args *args,
                              float *loss, int64_t *n_counted, sa_err *err);

#ifdef __cplusplus
}
#endif
#endif
