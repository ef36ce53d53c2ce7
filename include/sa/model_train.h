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
 * Ownership: sa_train_acts holds every buffer of one step (no allocation
 * during the step); the caller owns model, gradients and inputs.
 *
 * Usage:
 *     sa_model *g; sa_model_alloc(&g, &m->cfg, &err);       // zeroed gradients
 *     sa_train_acts a; sa_train_acts_init(&a, &m->cfg, B, T, &err);
 *     float loss; int64_t n;
 *     sa_model_loss_grad(m, g, &a, &k, tokens, targets, mask, &loss, &n, &err);  // g += dL/dw
 */
#ifndef SA_MODEL_TRAIN_H
#define SA_MODEL_TRAIN_H

#include <stdint.h>

#include "sa/kernels.h"
#include "sa/model.h"
#include "sa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_train_acts {
    int32_t B, T, L;
    /* saved per layer (layer-major), rows R = B*T */
    float *x;      /* [L+1][R,D] residual stream entering each layer (x[L]: final) */
    float *xn1, *rstd1, *q, *k, *v, *att, *att_out, *xmid, *xn2, *rstd2, *gu, *h;
    float *xnf, *rstdf, *logits; /* final norm and classifier */
    /* backward scratch */
    float *dx, *dxb, *dqkv, *dq, *dk, *dv, *datt, *dgu, *dh, *tmp, *scratch;
    int32_t *pos;
    sa_attn_seq *seqs;
} sa_train_acts;

sa_status sa_train_acts_init(sa_train_acts *a, const sa_model_config *cfg, int32_t B, int32_t T, sa_err *err);
void sa_train_acts_free(sa_train_acts *a);

/* Forward over tokens[B*T] (row b*T + t is token t of sequence b, at
 * position t), mean cross-entropy against targets[B*T] over rows whose
 * mask is 1 (mask NULL: all rows), and — when grads is non-NULL — the
 * backward pass, ADDING dL/dw into grads. *loss and *n_counted receive the
 * loss and the number of counted rows. Targets of counted rows must be in
 * the vocabulary (SA_ERR_RANGE otherwise); tokens too. */
sa_status sa_model_loss_grad(const sa_model *m, sa_model *grads, sa_train_acts *a, const sa_kernels *k,
                             const int32_t *tokens, const int32_t *targets, const uint8_t *mask, float *loss,
                             int64_t *n_counted, sa_err *err);

#ifdef __cplusplus
}
#endif
#endif
