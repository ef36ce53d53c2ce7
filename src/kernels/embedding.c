/* embedding.c — token embedding lookup with id validation. */
#include <string.h>

#include "sa/kernels.h"

sa_status sa_embedding_fwd(const sa_kernels *k, float *out, const float *table,
                           const int32_t *ids, int64_t n, int64_t D, int64_t vocab,
                           sa_err *err) {
    (void)k; /* a copy: the reference and the fast path are the same code */
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return sa_err_set(err, SA_ERR_RANGE, "embedding: token %lld at position %lld is outside the vocabulary [0, %lld)",
                              (long long)ids[i], (long long)i, (long long)vocab);
    for (int64_t i = 0; i < n; i++)
        memcpy(out + i * D, table + (int64_t)ids[i] * D, (size_t)D * sizeof(float));
    return SA_OK;
}

/* Scatter-add. The fast path gives each thread a range of columns and walks
 * all rows in order, so repeated ids never race and the sum order is fixed. */
void sa_embedding_bwd(const sa_kernels *k, float *dtable, const int32_t *ids, const float *dout,
                      int64_t n, int64_t D) {
    int nt = !k->reference && n * D > 65536 ? k->n_threads : 1;
    (void)nt;
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
    for (int t = 0; t < nt; t++) {
        int64_t j0 = D * t / nt, j1 = D * (t + 1) / nt;
        for (int64_t i = 0; i < n; i++) {
            float *row = dtable + (int64_t)ids[i] * D;
            const float *g = dout + i * D;
            for (int64_t j = j0; j < j1; j++) row[j] += g[j];
        }
    }
}
