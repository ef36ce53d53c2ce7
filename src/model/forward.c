/* forward.c — run state, KV caches and the forward pass over a batch of
 * rows (tokens of one or more sequences). Reads top to bottom like the
 * paper: embed, then per layer attention and MLP with pre-norm residuals,
 * then the final norm and the classifier for the rows that want logits. */
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/model.h"

/* ---- KV cache ---------------------------------------------------------------- */

sa_status sa_kv_cache_init(sa_kv_cache *kv, const sa_model_config *cfg, int32_t max_ctx,
                           sa_err *err) {
    memset(kv, 0, sizeof *kv);
    if (max_ctx <= 0) return sa_err_set(err, SA_ERR_INVALID_ARG, "kv cache: max_ctx must be positive");
    size_t kvd = (size_t)cfg->n_kv_heads * (size_t)cfg->head_dim, n;
    if (!sa_size_mul((size_t)cfg->n_layers * (size_t)max_ctx, kvd, &n))
        return sa_err_set(err, SA_ERR_NOMEM, "kv cache: size overflow");
    kv->k = sa_aligned_alloc(n, sizeof(float));
    kv->v = sa_aligned_alloc(n, sizeof(float));
    if (!kv->k || !kv->v) {
        sa_kv_cache_free(kv);
        return sa_err_set(err, SA_ERR_NOMEM, "kv cache: cannot allocate 2 x %zu floats", n);
    }
    kv->n_layers = cfg->n_layers;
    kv->max_ctx = max_ctx;
    kv->kv_dim = (int32_t)kvd;
    return SA_OK;
}

void sa_kv_cache_free(sa_kv_cache *kv) {
    free(kv->k);
    free(kv->v);
    memset(kv, 0, sizeof *kv);
}

sa_status sa_kv_cache_copy_prefix(sa_kv_cache *dst, const sa_kv_cache *src, int32_t n, sa_err *err) {
    if (dst->n_layers != src->n_layers || dst->kv_dim != src->kv_dim || n < 0 || n > src->max_ctx ||
        n > dst->max_ctx)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "kv cache: cannot copy %d positions between caches of "
                          "different shapes", n);
    size_t row = (size_t)src->kv_dim * sizeof(float);
    for (int32_t l = 0; l < src->n_layers; l++) {
        memcpy(dst->k + (size_t)l * dst->max_ctx * dst->kv_dim, src->k + (size_t)l * src->max_ctx * src->kv_dim, row * n);
        memcpy(dst->v + (size_t)l * dst->max_ctx * dst->kv_dim, src->v + (size_t)l * src->max_ctx * src->kv_dim, row * n);
    }
    dst->n_pos = n;
    return SA_OK;
}

/* ---- run state ------------------------------------------------------------------ */

sa_status sa_model_state_init(sa_model_state *st, const sa_model_config *c, int32_t max_rows,
                              int32_t max_ctx, sa_err *err) {
    memset(st, 0, sizeof *st);
    if (max_rows <= 0 || max_ctx <= 0)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "model state: max_rows and max_ctx must be positive");
    size_t R = (size_t)max_rows, qd = (size_t)c->n_heads * c->head_dim, kvd = (size_t)c->n_kv_heads * c->head_dim;
    st->x = sa_aligned_alloc(R, (size_t)c->dim * sizeof(float));
    st->xb = sa_aligned_alloc(R, (size_t)(c->dim > (int32_t)qd ? c->dim : (int32_t)qd) * sizeof(float));
    st->q = sa_aligned_alloc(R, qd * sizeof(float));
    st->k = sa_aligned_alloc(R, kvd * sizeof(float));
    st->v = sa_aligned_alloc(R, kvd * sizeof(float));
    st->att_out = sa_aligned_alloc(R, qd * sizeof(float));
    st->hb = sa_aligned_alloc(R, (size_t)c->hidden_dim * sizeof(float));
    st->hb2 = sa_aligned_alloc(R, (size_t)2 * c->hidden_dim * sizeof(float));
    st->qkv = sa_aligned_alloc(R, (qd + 2 * kvd) * sizeof(float));
    size_t natt = 0;
    bool ok = sa_size_mul(R * (size_t)c->n_heads, (size_t)max_ctx, &natt);
    st->att = ok ? sa_aligned_alloc(natt, sizeof(float)) : NULL;
    st->logits = sa_aligned_alloc(R, (size_t)c->vocab_size * sizeof(float));
    st->pos = sa_malloc_array(R, sizeof(int32_t));
    st->seqs = sa_malloc_array(R, sizeof(sa_attn_seq));
    if (!st->x || !st->xb || !st->q || !st->k || !st->v || !st->att_out || !st->hb || !st->hb2 || !st->qkv || !st->att ||
        !st->logits || !st->pos || !st->seqs) {
        sa_model_state_free(st);
        return sa_err_set(err, SA_ERR_NOMEM, "model state: cannot allocate buffers for %d rows x %d positions",
                          max_rows, max_ctx);
    }
    st->max_rows = max_rows;
    st->max_ctx = max_ctx;
    return SA_OK;
}

void sa_model_state_free(sa_model_state *st) {
    free(st->x); free(st->xb); free(st->q); free(st->k); free(st->v);
    free(st->att_out); free(st->hb); free(st->hb2); free(st->qkv); free(st->att); free(st->logits); free(st->pos); free(st->seqs);
    memset(st, 0, sizeof *st);
}

/* ---- forward ------------------------------------------------------------------------ */

static sa_status check_rows(const sa_model *m, const sa_model_state *st, const sa_batch_row *rows,
                            int32_t n, sa_err *err) {
    const sa_model_config *c = &m->cfg;
    if (n <= 0 || n > st->max_rows)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "forward: %d rows (state holds at most %d)", n, st->max_rows);
    for (int32_t r = 0; r < n; r++) {
        const sa_batch_row *b = &rows[r];
        if (b->token < 0 || b->token >= c->vocab_size)
            return sa_err_set(err, SA_ERR_RANGE, "forward: row %d: token %d is outside the vocabulary [0, %d)", r,
                              b->token, c->vocab_size);
        if (!b->kv || b->kv->n_layers != c->n_layers || b->kv->kv_dim != c->n_kv_heads * c->head_dim)
            return sa_err_set(err, SA_ERR_INVALID_ARG, "forward: row %d: missing or mismatched KV cache", r);
        int32_t limit = b->kv->max_ctx;
        if (limit > st->max_ctx) limit = st->max_ctx;
        if (limit > c->max_seq_len) limit = c->max_seq_len;
        if (b->pos < 0 || b->pos >= limit)
            return sa_err_set(err, SA_ERR_RANGE, "forward: row %d: position %d exceeds the context of %d", r,
                              b->pos, limit);
        if (r > 0 && rows[r - 1].kv == b->kv && rows[r - 1].pos >= b->pos)
            return sa_err_set(err, SA_ERR_INVALID_ARG, "forward: rows of one sequence must have increasing positions");
    }
    return SA_OK;
}

static void add_inplace(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

sa_status sa_model_forward(const sa_model *m, sa_model_state *st, const sa_kernels *k,
                           const sa_batch_row *rows, int32_t n, sa_err *err) {
    sa_status s = check_rows(m, st, rows, n, err);
    if (s) return s;
    /* the fused products below rely on sa_model_alloc's layout */
    SA_ASSERT(m->w.layers[0].wk == m->w.layers[0].wq + (size_t)m->cfg.n_heads * m->cfg.head_dim * m->cfg.dim);
    const sa_model_config *c = &m->cfg;
    const int64_t D = c->dim, H = c->n_heads, KVH = c->n_kv_heads, hd = c->head_dim, F = c->hidden_dim;
    const int64_t qd = H * hd, kvd = KVH * hd, V = c->vocab_size;
    int32_t *pos = st->pos;
    for (int32_t r = 0; r < n; r++) {
        pos[r] = rows[r].pos;
        memcpy(st->x + r * D, m->w.tok_embd + (int64_t)rows[r].token * D, (size_t)D * sizeof(float));
    }
    for (int32_t l = 0; l < c->n_layers; l++) {
        const sa_layer_weights *L = &m->w.layers[l];
        /* attention block */
        sa_rmsnorm_fwd(k, st->xb, NULL, st->x, L->attn_norm, n, D, c->norm_eps);
        /* wq, wk, wv (and their biases) are adjacent in the model's storage:
         * one [qd + 2 kvd, D] product, then split into q, k, v */
        const int64_t qkvd = qd + 2 * kvd;
        sa_matmul_fwd(k, st->qkv, st->xb, L->wq, L->bq, n, qkvd, D);
        for (int32_t r = 0; r < n; r++) {
            const float *row = st->qkv + (int64_t)r * qkvd;
            memcpy(st->q + r * qd, row, (size_t)qd * sizeof(float));
            memcpy(st->k + r * kvd, row + qd, (size_t)kvd * sizeof(float));
            memcpy(st->v + r * kvd, row + qd + kvd, (size_t)kvd * sizeof(float));
        }
        sa_rope_fwd(k, st->q, &m->rope, pos, n, H);
        sa_rope_fwd(k, st->k, &m->rope, pos, n, KVH);
        for (int32_t r = 0; r < n; r++) {
            sa_kv_cache *kv = rows[r].kv;
            size_t off = ((size_t)l * kv->max_ctx + (size_t)rows[r].pos) * (size_t)kvd;
            memcpy(kv->k + off, st->k + r * kvd, (size_t)kvd * sizeof(float));
            memcpy(kv->v + off, st->v + r * kvd, (size_t)kvd * sizeof(float));
        }
        /* attention over runs of consecutive rows of one sequence, all in one call */
        int64_t ns = 0;
        for (int32_t r0 = 0; r0 < n;) {
            int32_t r1 = r0 + 1;
            while (r1 < n && !rows[r1].run_start && rows[r1].kv == rows[r0].kv && rows[r1].pos == rows[r1 - 1].pos + 1) r1++;
            const sa_kv_cache *kv = rows[r0].kv;
            st->seqs[ns++] = (sa_attn_seq){r0, r1 - r0, rows[r0].pos, kv->k + (size_t)l * kv->max_ctx * kvd,
                                           kv->v + (size_t)l * kv->max_ctx * kvd};
            r0 = r1;
        }
        sa_attention_fwd(k, st->att_out, st->att, st->q, st->seqs, ns, st->max_ctx, H, KVH, hd);
        sa_matmul_fwd(k, st->xb, st->att_out, L->wo, NULL, n, D, qd);
        add_inplace(st->x, st->xb, (size_t)n * D);
        /* MLP block */
        sa_rmsnorm_fwd(k, st->xb, NULL, st->x, L->ffn_norm, n, D, c->norm_eps);
        /* w_gate and w_up are adjacent too: one [2F, D] product, rows [gate | up] */
        sa_matmul_fwd(k, st->hb2, st->xb, L->w_gate, NULL, n, 2 * F, D);
        sa_swiglu_rows_fwd(k, st->hb, st->hb2, n, F);
        sa_matmul_fwd(k, st->xb, st->hb, L->w_down, NULL, n, D, F);
        add_inplace(st->x, st->xb, (size_t)n * D);
    }
    /* classifier for the wanted rows only, gathered so it stays one GEMM */
    int32_t nw = 0;
    for (int32_t r = 0; r < n; r++)
        if (rows[r].want_logits) {
            if (nw != r) memcpy(st->x + nw * D, st->x + r * D, (size_t)D * sizeof(float));
            nw++;
        }
    if (nw == 0) return SA_OK;
    sa_rmsnorm_fwd(k, st->xb, NULL, st->x, m->w.out_norm, nw, D, c->norm_eps);
    sa_matmul_fwd(k, st->logits, st->xb, m->w.output, NULL, nw, V, D);
    /* scatter back to row order, last first so nothing is overwritten early */
    int32_t j = nw - 1;
    for (int32_t r = n - 1; r >= 0 && j >= 0; r--) {
        if (!rows[r].want_logits) continue;
        if (j != r) memmove(st->logits + (int64_t)r * V, st->logits + (int64_t)j * V, (size_t)V * sizeof(float));
        j--;
    }
    return SA_OK;
}

sa_status sa_model_forward_seq(const sa_model *m, sa_model_state *st, const sa_kernels *k,
                               sa_kv_cache *kv, const int32_t *tokens, int32_t n, int32_t pos0,
                               const float **logits, sa_err *err) {
    if (n <= 0) return sa_err_set(err, SA_ERR_INVALID_ARG, "forward: no tokens");
    sa_batch_row *rows = sa_malloc_array((size_t)(n < st->max_rows ? n : st->max_rows), sizeof *rows);
    if (!rows) return sa_err_set(err, SA_ERR_NOMEM, "forward: out of memory");
    sa_status s = SA_OK;
    int32_t last = 0;
    for (int32_t i0 = 0; i0 < n && s == SA_OK; i0 += st->max_rows) {
        int32_t cnt = n - i0 < st->max_rows ? n - i0 : st->max_rows;
        for (int32_t r = 0; r < cnt; r++)
            rows[r] = (sa_batch_row){tokens[i0 + r], pos0 + i0 + r, kv, i0 + r == n - 1, false};
        s = sa_model_forward(m, st, k, rows, cnt, err);
        last = cnt - 1;
    }
    free(rows);
    if (s == SA_OK) {
        if (kv->n_pos < pos0 + n) kv->n_pos = pos0 + n;
        if (logits) *logits = st->logits + (int64_t)last * m->cfg.vocab_size;
    }
    return s;
}
