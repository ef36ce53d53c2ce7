/* attention.c — causal scaled dot-product attention over a KV cache with
 * grouped-query heads (fast and reference). */
#include <math.h>
#include <string.h>

#include "sa/kernels.h"

static void attend_ref(float *o, float *p, const float *q, const float *kc, const float *vc,
                       int64_t n_ctx, int64_t kv_stride, int64_t hd) {
    double scale = 1.0 / sqrt((double)hd), mx = -INFINITY;
    for (int64_t s = 0; s < n_ctx; s++) {
        double d = 0;
        for (int64_t i = 0; i < hd; i++) d += (double)q[i] * kc[s * kv_stride + i];
        p[s] = (float)(d * scale);
        if (p[s] > mx) mx = p[s];
    }
    double sum = 0;
    for (int64_t s = 0; s < n_ctx; s++) sum += exp((double)p[s] - mx);
    for (int64_t s = 0; s < n_ctx; s++) p[s] = (float)(exp((double)p[s] - mx) / sum);
    for (int64_t i = 0; i < hd; i++) {
        double acc = 0;
        for (int64_t s = 0; s < n_ctx; s++) acc += (double)p[s] * vc[s * kv_stride + i];
        o[i] = (float)acc;
    }
}

static void attend(float *o, float *p, const float *q, const float *kc, const float *vc,
                   int64_t n_ctx, int64_t kv_stride, int64_t hd) {
    float scale = 1.0f / sqrtf((float)hd), mx = -INFINITY;
    for (int64_t s = 0; s < n_ctx; s++) {
        const float *kr = kc + s * kv_stride;
        float d = 0;
        for (int64_t i = 0; i < hd; i++) d += q[i] * kr[i];
        p[s] = d * scale;
        mx = p[s] > mx ? p[s] : mx;
    }
    float sum = 0;
    for (int64_t s = 0; s < n_ctx; s++) {
        p[s] = expf(p[s] - mx);
        sum += p[s];
    }
    float inv = 1.0f / sum;
    for (int64_t i = 0; i < hd; i++) o[i] = 0;
    for (int64_t s = 0; s < n_ctx; s++) {
        float w = p[s] * inv;
        p[s] = w;
        const float *vr = vc + s * kv_stride;
        for (int64_t i = 0; i < hd; i++) o[i] += w * vr[i];
    }
}

void sa_attention_fwd(const sa_kernels *k, float *out, float *att, const float *q,
                      const float *kc, const float *vc, int64_t T, int64_t pos0, int64_t S,
                      int64_t n_heads, int64_t n_kv_heads, int64_t hd) {
    int64_t group = n_heads / n_kv_heads, kv_stride = n_kv_heads * hd;
    bool ref = k->reference;
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(k->n_threads) schedule(dynamic, 1) if (!ref && T * n_heads > 1)
#endif
    for (int64_t r = 0; r < T * n_heads; r++) {
        int64_t t = r / n_heads, h = r % n_heads, kvh = h / group;
        int64_t n_ctx = pos0 + t + 1;
        float *p = att + r * S;
        const float *qr = q + r * hd;
        const float *kr = kc + kvh * hd, *vr = vc + kvh * hd;
        if (ref) attend_ref(out + r * hd, p, qr, kr, vr, n_ctx, kv_stride, hd);
        else attend(out + r * hd, p, qr, kr, vr, n_ctx, kv_stride, hd);
        if (S > n_ctx) memset(p + n_ctx, 0, (size_t)(S - n_ctx) * sizeof(float));
    }
}
