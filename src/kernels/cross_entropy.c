/* cross_entropy.c — softmax cross-entropy loss and its gradient in one pass
 * (fast and reference). The loss of a row is lse(logits) - logits[target]
 * with the log-sum-exp taken after subtracting the row maximum and summed in
 * double, so large logits neither overflow nor lose the small terms; the
 * gradient softmax - onehot is written in the same pass, scaled by 1/count
 * so it is the gradient of the mean loss. */
#include <math.h>
#include <string.h>

#include "sa/kernels.h"

/* the most partial sums the fast path keeps (threads beyond it are not used) */
#define CE_MAX_PARTS 64

/* One counted row: returns its loss; writes the gradient if d is non-NULL
 * (d may alias l: each element is read before it is written). */
static double ce_row(float *d, const float *l, int32_t target, int64_t V, double inv_count, bool ref) {
    float mx = -INFINITY;
    for (int64_t v = 0; v < V; v++) mx = l[v] > mx ? l[v] : mx;
    double lt = l[target], s = 0;
    if (ref) {
        for (int64_t v = 0; v < V; v++) s += exp((double)l[v] - mx);
        if (d) {
            for (int64_t v = 0; v < V; v++) d[v] = (float)(exp((double)l[v] - mx) / s * inv_count);
            d[target] = (float)((double)d[target] - inv_count);
        }
    } else if (d) {
        for (int64_t v = 0; v < V; v++) {
            float e = expf(l[v] - mx);
            d[v] = e;
            s += e;
        }
        float scale = (float)(inv_count / s);
        for (int64_t v = 0; v < V; v++) d[v] *= scale;
        d[target] -= (float)inv_count;
    } else {
        for (int64_t v = 0; v < V; v++) s += expf(l[v] - mx);
    }
    return (double)mx + log(s) - lt;
}

sa_status sa_cross_entropy_fwd_bwd(const sa_kernels *k, float *loss_out, float *dlogits,
                                   const float *logits, const int32_t *targets,
                                   const uint8_t *mask, int64_t M, int64_t V,
                                   int64_t *n_counted, sa_err *err) {
    int64_t count = 0;
    for (int64_t m = 0; m < M; m++) {
        if (mask && !mask[m]) continue;
        if (targets[m] < 0 || targets[m] >= V)
            return sa_err_set(err, SA_ERR_RANGE, "cross_entropy: target %lld of row %lld is outside [0, %lld)",
                              (long long)targets[m], (long long)m, (long long)V);
        count++;
    }
    if (n_counted) *n_counted = count;
    double inv_count = count > 0 ? 1.0 / (double)count : 0.0;
    bool ref = k->reference;
    /* one partial sum per thread over a static block of rows, added in
     * thread order: the loss does not depend on scheduling */
    double parts[CE_MAX_PARTS] = {0};
    int nt = ref || M * V <= 65536 ? 1 : (k->n_threads < CE_MAX_PARTS ? k->n_threads : CE_MAX_PARTS);
    (void)nt;
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
    for (int t = 0; t < nt; t++) {
        double acc = 0;
        for (int64_t m = M * t / nt; m < M * (t + 1) / nt; m++) {
            float *d = dlogits ? dlogits + m * V : NULL;
            if (mask && !mask[m]) {
                if (d) memset(d, 0, (size_t)V * sizeof(float));
                continue;
            }
            acc += ce_row(d, logits + m * V, targets[m], V, inv_count, ref);
        }
        parts[t] = acc;
    }
    double loss = 0;
    for (int t = 0; t < nt; t++) loss += parts[t];
    if (loss_out) *loss_out = (float)(loss * inv_count);
    return SA_OK;
}
