/* rope.c — rotary position embeddings: the cos/sin table (with linear and
 * Llama 3 frequency scaling) and the in-place rotation. */
#include <math.h>

#include "sa/alloc.h"
#include "sa/kernels.h"

/* Scale one inverse frequency as Llama 3.1 does: long wavelengths are
 * divided by `factor`, short ones kept, the band between interpolated. */
static float llama3_scale(float inv_freq, const sa_rope_scaling *s) {
    const double pi2 = 6.283185307179586;
    double old = s->original_max_pos;
    double low_wavelen = old / s->low_freq_factor;
    double high_wavelen = old / s->high_freq_factor;
    double wavelen = pi2 / inv_freq;
    if (wavelen < high_wavelen) return inv_freq;
    if (wavelen > low_wavelen) return inv_freq / s->factor;
    double smooth = (old / wavelen - s->low_freq_factor) / (s->high_freq_factor - s->low_freq_factor);
    return (float)((1.0 - smooth) * inv_freq / s->factor + smooth * inv_freq);
}

sa_status sa_rope_table_init(sa_rope_table *t, int32_t head_dim, int32_t max_pos, float theta,
                             const sa_rope_scaling *scaling, sa_rope_layout layout, sa_err *err) {
    t->cos = t->sin = NULL;
    if (head_dim <= 0 || head_dim % 2 || max_pos <= 0 || !(theta > 0))
        return sa_err_set(err, SA_ERR_INVALID_ARG, "rope: invalid head_dim %d, max_pos %d or theta %g",
                          head_dim, max_pos, (double)theta);
    if (scaling && scaling->type != SA_ROPE_SCALING_NONE && !(scaling->factor > 0))
        return sa_err_set(err, SA_ERR_INVALID_ARG, "rope: scaling factor must be positive");
    if (scaling && scaling->type == SA_ROPE_SCALING_LLAMA3 &&
        (scaling->original_max_pos <= 0 || !(scaling->high_freq_factor > scaling->low_freq_factor) ||
         !(scaling->low_freq_factor > 0)))
        return sa_err_set(err, SA_ERR_INVALID_ARG, "rope: invalid llama3 scaling parameters");
    int32_t half = head_dim / 2;
    t->cos = sa_malloc_array((size_t)max_pos * (size_t)half, sizeof(float));
    t->sin = sa_malloc_array((size_t)max_pos * (size_t)half, sizeof(float));
    if (!t->cos || !t->sin) {
        sa_rope_table_free(t);
        return sa_err_set(err, SA_ERR_NOMEM, "rope: table of %d x %d", max_pos, half);
    }
    t->head_dim = head_dim;
    t->max_pos = max_pos;
    t->layout = layout;
    for (int32_t i = 0; i < half; i++) {
        /* single precision like the reference implementations, so angles match */
        float inv_freq = 1.0f / powf(theta, (float)(2 * i) / (float)head_dim);
        if (scaling && scaling->type == SA_ROPE_SCALING_LINEAR) inv_freq /= scaling->factor;
        if (scaling && scaling->type == SA_ROPE_SCALING_LLAMA3) inv_freq = llama3_scale(inv_freq, scaling);
        for (int32_t p = 0; p < max_pos; p++) {
            float ang = (float)p * inv_freq;
            t->cos[(size_t)p * half + i] = (float)cos((double)ang);
            t->sin[(size_t)p * half + i] = (float)sin((double)ang);
        }
    }
    return SA_OK;
}

void sa_rope_table_free(sa_rope_table *t) {
    sa_free(t->cos);
    sa_free(t->sin);
    t->cos = t->sin = NULL;
}

static void rope_row(float *x, const float *c, const float *s, int32_t hd, sa_rope_layout layout) {
    int32_t half = hd / 2;
    if (layout == SA_ROPE_LAYOUT_NORM) {
        for (int32_t i = 0; i < half; i++) {
            float a = x[2 * i], b = x[2 * i + 1];
            x[2 * i] = a * c[i] - b * s[i];
            x[2 * i + 1] = a * s[i] + b * c[i];
        }
    } else {
        for (int32_t i = 0; i < half; i++) {
            float a = x[i], b = x[i + half];
            x[i] = a * c[i] - b * s[i];
            x[i + half] = a * s[i] + b * c[i];
        }
    }
}

void sa_rope_fwd(const sa_kernels *k, float *x, const sa_rope_table *t, const int32_t *pos,
                 int64_t T, int64_t n_heads) {
    int32_t hd = t->head_dim, half = hd / 2;
    (void)k; /* elementwise and exact: the reference is the same loop, run serially */
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(k->n_threads) schedule(static) if (!k->reference && T * n_heads * hd > 65536)
#endif
    for (int64_t r = 0; r < T * n_heads; r++) {
        int64_t tt = r / n_heads;
        const float *c = t->cos + (size_t)pos[tt] * half, *s = t->sin + (size_t)pos[tt] * half;
        rope_row(x + r * hd, c, s, hd, t->layout);
    }
}

/* The rotation is orthogonal, so its transpose (rotation by -angle) maps the
 * output gradient to the input gradient: (a, b) -> (a c + b s, -a s + b c). */
static void rope_row_bwd(float *x, const float *c, const float *s, int32_t hd, sa_rope_layout layout) {
    int32_t half = hd / 2;
    int32_t step = layout == SA_ROPE_LAYOUT_NORM ? 2 : 1, off = layout == SA_ROPE_LAYOUT_NORM ? 1 : half;
    for (int32_t i = 0; i < half; i++) {
        float *pa = x + i * step, *pb = pa + off;
        float a = *pa, b = *pb;
        *pa = a * c[i] + b * s[i];
        *pb = b * c[i] - a * s[i];
    }
}

void sa_rope_bwd(const sa_kernels *k, float *dx, const sa_rope_table *t, const int32_t *pos,
                 int64_t T, int64_t n_heads) {
    int32_t hd = t->head_dim, half = hd / 2;
    (void)k; /* elementwise and exact: the reference is the same loop, run serially */
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(k->n_threads) schedule(static) if (!k->reference && T * n_heads * hd > 65536)
#endif
    for (int64_t r = 0; r < T * n_heads; r++) {
        int64_t tt = r / n_heads;
        const float *c = t->cos + (size_t)pos[tt] * half, *s = t->sin + (size_t)pos[tt] * half;
        rope_row_bwd(dx + r * hd, c, s, hd, t->layout);
    }
}
