/* optim.h — AdamW, gradient clipping and learning-rate schedules.
 *
 * Purpose: the update rule of every fine-tune (backward model, M0..Mt,
 * engraving, cloning). AdamW as in Loshchilov & Hutter and PyTorch's
 * torch.optim.AdamW: decoupled weight decay (p -= lr * wd * p before the
 * Adam step), bias-corrected first and second moments. The moments are
 * plain arrays laid out like the parameters, so checkpoints save them and
 * resume bit-exactly.
 *
 * Ownership: sa_adamw owns m and v (sa_adamw_free). Parameters and
 * gradients belong to the caller.
 *
 * Usage:
 *     sa_adamw opt;
 *     sa_adamw_init(&opt, n_params, (sa_adamw_params){.beta1 = 0.9f, .beta2 = 0.999f,
 *                   .eps = 1e-8f, .weight_decay = 0.1f}, &err);
 *     float norm = sa_grad_clip(grads, n, 1.0f);
 *     sa_lr_schedule s = {.type = SA_LR_LINEAR, .lr = 1e-5f, .lr_final = 9e-6f, .total_steps = 1000};
 *     sa_adamw_step(&opt, params, grads, sa_lr_at(&s, step));
 */
#ifndef SA_OPTIM_H
#define SA_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "sa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_adamw_params {
    float beta1, beta2, eps, weight_decay;
} sa_adamw_params;

/* PyTorch's defaults: beta1 0.9, beta2 0.999, eps 1e-8, weight decay 0.01. */
sa_adamw_params sa_adamw_defaults(void);

typedef struct sa_adamw {
    sa_adamw_params p;
    size_t n;
    float *m, *v;  /* first and second moments, [n] */
    int64_t t;     /* steps taken */
} sa_adamw;

sa_status sa_adamw_init(sa_adamw *o, size_t n, sa_adamw_params p, sa_err *err);
void sa_adamw_free(sa_adamw *o);
/* One update of params[n] with grads[n] at learning rate lr. */
void sa_adamw_step(sa_adamw *o, float *params, const float *grads, float lr);
/* Same, for the slice [off, off + len) of the parameter vector (the moments
 * are indexed by the same offsets), counting no step: call sa_adamw_tick
 * once per optimizer step before updating the slices. */
void sa_adamw_tick(sa_adamw *o);
void sa_adamw_update(sa_adamw *o, float *params, const float *grads, size_t off, size_t len, float lr);

/* Global L2 norm of grads; if it exceeds max_norm (> 0), scale grads down
 * to max_norm. Returns the norm before clipping. */
float sa_grad_clip(float *grads, size_t n, float max_norm);

typedef enum sa_lr_type { SA_LR_CONSTANT = 0, SA_LR_LINEAR, SA_LR_COSINE } sa_lr_type;

/* Warmup rises linearly from 0 to lr over `warmup` steps; then constant
 * lr, or linear / cosine from lr to lr_final at total_steps (the paper's
 * 1e-5 -> 9e-6 is linear with lr_final 9e-6). */
typedef struct sa_lr_schedule {
    sa_lr_type type;
    float lr, lr_final;
    int64_t warmup, total_steps;
} sa_lr_schedule;

/* Learning rate for step (0-based). */
float sa_lr_at(const sa_lr_schedule *s, int64_t step);
/* "constant", "linear", "cosine" -> type; SA_ERR_INVALID_ARG otherwise. */
sa_status sa_lr_type_parse(const char *name, sa_lr_type *out, sa_err *err);

#ifdef __cplusplus
}
#endif
#endif
