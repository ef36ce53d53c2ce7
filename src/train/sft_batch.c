/* sft_batch.c — held-out split, per-epoch batch plans with length
 * bucketing, and batch filling (sft.h).
 *
 * Everything here is a pure function of (data, seed, epoch): the plan for an
 * epoch can be recomputed on resume or on every rank of a data-parallel run
 * without communicating, and it never depends on thread count.
 */
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/hash.h"
#include "sa/rng.h"
#include "sa/sft.h"

/* Mixed into the seed so the plan's stream differs from other users of
 * the same run seed (sampling, dropout). */
#define PLAN_STREAM_TAG 0x7366742e706c616eULL /* "sft.plan" */

/* (seed, key) -> uniform in [0, 1), 53 bits. */
static double split_u(uint64_t seed, uint64_t key) {
    return (double)(sa_hash_mix(seed, key) >> 11) * 0x1p-53;
}

sa_status sa_sft_split(const sa_sft_data *d, double eval_frac, uint64_t seed, uint32_t **train, size_t *n_train,
                       uint32_t **eval, size_t *n_eval, sa_err *err) {
    *train = *eval = NULL;
    *n_train = *n_eval = 0;
    if (!(eval_frac >= 0.0 && eval_frac < 1.0))
        return sa_err_set(err, SA_ERR_INVALID_ARG, "sft split: eval fraction %g is not in [0, 1)", eval_frac);
    size_t n = d->n_ex;
    if (n == 0) return SA_OK;
    uint8_t *is_eval = sa_calloc(n, 1);
    if (!is_eval) return sa_err_set(err, SA_ERR_NOMEM, "sft split: %zu examples", n);
    size_t ne = 0, lo = 0, hi = 0;
    double ulo = 2.0, uhi = -1.0;
    for (size_t i = 0; i < n; i++) {
        double u = split_u(seed, d->ex[i].key);
        is_eval[i] = u < eval_frac;
        ne += is_eval[i];
        /* strict comparisons: ties go to the lowest index, deterministically */
        if (u < ulo) ulo = u, lo = i;
        if (u > uhi) uhi = u, hi = i;
    }
    /* A tiny data set must still give both sides something to do. */
    if (eval_frac > 0.0 && n >= 2) {
        if (ne == 0) is_eval[lo] = 1, ne = 1;
        else if (ne == n) is_eval[hi] = 0, ne = n - 1;
    }
    size_t nt = n - ne;
    uint32_t *t = nt ? sa_malloc_array(nt, sizeof *t) : NULL;
    uint32_t *e = ne ? sa_malloc_array(ne, sizeof *e) : NULL;
    if ((nt && !t) || (ne && !e)) {
        free(t);
        free(e);
        free(is_eval);
        return sa_err_set(err, SA_ERR_NOMEM, "sft split: %zu examples", n);
    }
    size_t it = 0, ie = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_eval[i]) e[ie++] = (uint32_t)i;
        else t[it++] = (uint32_t)i;
    }
    free(is_eval);
    *train = t, *n_train = nt;
    *eval = e, *n_eval = ne;
    return SA_OK;
}

void sa_sft_batches_free(sa_sft_batches *b) {
    if (!b) return;
    free(b->idx);
    memset(b, 0, sizeof *b);
}

typedef struct len_item {
    int32_t n;
    uint32_t pos; /* position in the shuffled order: makes the sort stable */
    uint32_t ex;
} len_item;

static int cmp_len(const void *pa, const void *pb) {
    const len_item *a = pa, *b = pb;
    if (a->n != b->n) return a->n < b->n ? -1 : 1;
    return (a->pos > b->pos) - (a->pos < b->pos);
}

sa_status sa_sft_plan_epoch(const sa_sft_data *d, const uint32_t *subset, size_t n, int32_t B, uint64_t seed,
                            int64_t epoch, bool bucket, sa_sft_batches *out, sa_err *err) {
    sa_sft_batches_free(out);
    if (B < 1) return sa_err_set(err, SA_ERR_INVALID_ARG, "sft plan: batch size %d < 1", (int)B);
    out->B = B;
    if (n == 0) return SA_OK;
    if (!subset) return sa_err_set(err, SA_ERR_INVALID_ARG, "sft plan: no subset");
    if (n > UINT32_MAX) return sa_err_set(err, SA_ERR_RANGE, "sft plan: %zu examples", n);
    for (size_t i = 0; i < n; i++)
        if (subset[i] >= d->n_ex)
            return sa_err_set(err, SA_ERR_INVALID_ARG, "sft plan: subset[%zu] = %u, data has %zu examples", i,
                              subset[i], d->n_ex);
    size_t ub = (size_t)B, n_batches = n / ub + (n % ub != 0), total;
    if (!sa_size_mul(n_batches, ub, &total))
        return sa_err_set(err, SA_ERR_NOMEM, "sft plan: %zu batches of %d", n_batches, (int)B);
    uint32_t *order = sa_malloc_array(n, sizeof *order);
    uint32_t *idx = sa_malloc_array(total, sizeof *idx);
    len_item *win = NULL;
    uint32_t *perm = NULL;
    sa_status s = SA_OK;
    if (!order || !idx) {
        s = sa_err_set(err, SA_ERR_NOMEM, "sft plan: %zu examples", n);
        goto fail;
    }
    memcpy(order, subset, n * sizeof *order);
    sa_rng rng;
    sa_rng_split(&rng, sa_hash_mix(seed, PLAN_STREAM_TAG), (uint64_t)epoch);
    sa_rng_shuffle_u32(&rng, order, n);

    if (bucket) {
        /* Sort windows of 32 batches by length: batches hold similar lengths
         * (less padding) while the epoch stays shuffled at window scale. */
        size_t wlen;
        if (!sa_size_mul(ub, 32, &wlen) || wlen > n) wlen = n;
        if (!(win = sa_malloc_array(wlen, sizeof *win))) {
            s = sa_err_set(err, SA_ERR_NOMEM, "sft plan: window of %zu", wlen);
            goto fail;
        }
        for (size_t w = 0; w < n; w += wlen) {
            size_t m = n - w < wlen ? n - w : wlen;
            for (size_t i = 0; i < m; i++)
                win[i] = (len_item){d->ex[order[w + i]].n, (uint32_t)(w + i), order[w + i]};
            qsort(win, m, sizeof *win, cmp_len);
            for (size_t i = 0; i < m; i++) order[w + i] = win[i].ex;
        }
    }
    /* Full batches; with bucketing their order is shuffled so an epoch does
     * not walk from short to long. A short last batch stays last. */
    size_t n_full = n / ub;
    if (bucket && n_full > 1) {
        if (n_full > UINT32_MAX || !(perm = sa_malloc_array(n_full, sizeof *perm))) {
            s = sa_err_set(err, SA_ERR_NOMEM, "sft plan: %zu batches", n_full);
            goto fail;
        }
        for (size_t i = 0; i < n_full; i++) perm[i] = (uint32_t)i;
        sa_rng_shuffle_u32(&rng, perm, n_full);
        for (size_t i = 0; i < n_full; i++) memcpy(idx + i * ub, order + (size_t)perm[i] * ub, ub * sizeof *idx);
    } else {
        memcpy(idx, order, n_full * ub * sizeof *idx);
    }
    size_t rest = n - n_full * ub;
    if (rest) {
        memcpy(idx + n_full * ub, order + n_full * ub, rest * sizeof *idx);
        for (size_t i = rest; i < ub; i++) idx[n_full * ub + i] = SA_SFT_NONE;
    }
    out->idx = idx;
    out->n_batches = (int64_t)n_batches;
    idx = NULL;
fail:
    free(order);
    free(idx);
    free(win);
    free(perm);
    return s;
}

void sa_sft_batch_fill(const sa_sft_data *d, const uint32_t *idx, int32_t B, int32_t max_T, int32_t *tokens,
                       int32_t *targets, uint8_t *mask, int32_t *T_out, int64_t *n_loss) {
    SA_ASSERT(B >= 1 && max_T >= 1);
    int32_t T = 0;
    for (int32_t b = 0; b < B; b++) {
        if (idx[b] == SA_SFT_NONE) continue;
        SA_ASSERT(idx[b] < d->n_ex);
        int32_t rows = d->ex[idx[b]].n - 1;
        if (rows > T) T = rows;
    }
    if (T > max_T) T = max_T;
    int64_t count = 0;
    for (int32_t b = 0; b < B; b++) {
        size_t row0 = (size_t)b * (size_t)T;
        int32_t rows = 0;
        if (idx[b] != SA_SFT_NONE) {
            const sa_sft_example *e = &d->ex[idx[b]];
            const int32_t *ids = d->ids + e->off;
            const uint8_t *loss = d->loss + e->off;
            rows = e->n - 1 < T ? e->n - 1 : T;
            for (int32_t t = 0; t < rows; t++) {
                tokens[row0 + t] = ids[t];
                targets[row0 + t] = ids[t + 1];
                mask[row0 + t] = loss[t + 1] != 0;
                count += loss[t + 1] != 0;
            }
        }
        size_t pad = (size_t)(T - rows);
        memset(tokens + row0 + rows, 0, pad * sizeof *tokens);
        memset(targets + row0 + rows, 0, pad * sizeof *targets);
        memset(mask + row0 + rows, 0, pad);
    }
    *T_out = T;
    *n_loss = count;
}
