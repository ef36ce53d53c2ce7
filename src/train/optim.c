/* optim.c — AdamW, gradient clipping and learning-rate schedules (see optim.h). */
#include "sa/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"

sa_adamw_params sa_adamw_defaults(void) {
    return (sa_adamw_params){.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f};
}

sa_status sa_adamw_init(sa_adamw *o, size_t n, sa_adamw_params p, sa_err *err) {
    memset(o, 0, sizeof *o);
    if (!(p.beta1 >= 0 && p.beta1 < 1) || !(p.beta2 >= 0 && p.beta2 < 1) || !(p.eps > 0) || !(p.weight_decay >= 0))
        return sa_err_set(err, SA_ERR_INVALID_ARG, "adamw: need 0 <= beta < 1, eps > 0, weight_decay >= 0");
    o->m = sa_calloc(n, sizeof(float));
    o->v = sa_calloc(n, sizeof(float));
    if (!o->m || !o->v) {
        sa_adamw_free(o);
        return sa_err_set(err, SA_ERR_NOMEM, "adamw: moments for %zu parameters", n);
    }
    o->p = p;
    o->n = n;
    return SA_OK;
}

void sa_adamw_free(sa_adamw *o) {
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof *o);
}

void sa_adamw_tick(sa_adamw *o) { o->t++; }

void sa_adamw_update(sa_adamw *o, float *params, const float *grads, size_t off, size_t len, float lr) {
    SA_ASSERT(o->t > 0 && off + len <= o->n);
    const float b1 = o->p.beta1, b2 = o->p.beta2, eps = o->p.eps;
    /* bias corrections in double: (1 - beta^t) loses digits in float for small t */
    const float c1 = (float)(1.0 - pow(b1, (double)o->t)), c2 = (float)(1.0 - pow(b2, (double)o->t));
    const float decay = 1.0f - lr * o->p.weight_decay, step = lr / c1, rc2 = 1.0f / sqrtf(c2);
    float *m = o->m + off, *v = o->v + off;
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for schedule(static) if (len > 1 << 16)
#endif
    for (size_t i = 0; i < len; i++) {
        float g = grads[i];
        m[i] = b1 * m[i] + (1.0f - b1) * g;
        v[i] = b2 * v[i] + (1.0f - b2) * g * g;
        params[i] = params[i] * decay - step * m[i] / (sqrtf(v[i]) * rc2 + eps);
    }
}

void sa_adamw_step(sa_adamw *o, float *params, const float *grads, float lr) {
    sa_adamw_tick(o);
    sa_adamw_update(o, params, grads, 0, o->n, lr);
}

float sa_grad_clip(float *grads, size_t n, float max_norm) {
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)grads[i] * grads[i];
    float norm = (float)sqrt(ss);
    if (max_norm > 0 && norm > max_norm) {
        float s = max_norm / (norm + 1e-6f); /* as torch.nn.utils.clip_grad_norm_ */
        for (size_t i = 0; i < n; i++) grads[i] *= s;
    }
    return norm;
}

float sa_lr_at(const sa_lr_schedule *s, int64_t step) {
    if (s->warmup > 0 && step < s->warmup) return s->lr * (float)(step + 1) / (float)s->warmup;
    if (s->type == SA_LR_CONSTANT || s->total_steps <= s->warmup) return s->lr;
    double frac = (double)(step - s->warmup) / (double)(s->total_steps - s->warmup);
    if (frac > 1) frac = 1;
    if (frac < 0) frac = 0;
    if (s->type == SA_LR_LINEAR) return (float)(s->lr + (s->lr_final - s->lr) * frac);
    return (float)(s->lr_final + 0.5 * (s->lr - s->lr_final) * (1.0 + cos(3.14159265358979323846 * frac)));
}

sa_status sa_lr_type_parse(const char *name, sa_lr_type *out, sa_err *err) {
    if (strcmp(name, "constant") == 0) *out = SA_LR_CONSTANT;
    else if (strcmp(name, "linear") == 0) *out = SA_LR_LINEAR;
    else if (strcmp(name, "cosine") == 0) *out = SA_LR_COSINE;
    else return sa_err_set(err, SA_ERR_INVALID_ARG, "unknown schedule \"%s\" (constant, linear, cosine)", name);
    return SA_OK;
}
