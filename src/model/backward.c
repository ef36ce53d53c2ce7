/* backward.c — the training forward with saved activations and the
 * backward pass (see model_train.h). Follows forward.c step by step, then
 * walks the layers in reverse; every op's gradient comes from its kernel's
 * _bwd beside the forward in src/kernels/. */
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/model_train.h"

sa_status sa_train_acts_init(sa_train_acts *a, const sa_model_config *c, int32_t B, int32_t T, sa_err *err) {
    memset(a, 0, sizeof *a);
    if (B <= 0 || T <= 0 || T > c->max_seq_len)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "train: batch %d x %d tokens (context %d)", B, T, c->max_seq_len);
    size_t R = (size_t)B * (size_t)T, L = (size_t)c->n_layers, D = (size_t)c->dim, F = (size_t)c->hidden_dim,
           H = (size_t)c->n_heads, qd = H * (size_t)c->head_dim, kvd = (size_t)c->n_kv_heads * (size_t)c->head_dim,
           V = (size_t)c->vocab_size, qkvd = qd + 2 * kvd;
    a->B = B, a->T = T, a->L = c->n_layers;
    bool ok = true;
#define ALLOC(field, count) ok = ok && (a->field = sa_aligned_alloc((count), sizeof(float))) != NULL
    ALLOC(x, (L + 1) * R * D);
    ALLOC(xn1, L * R * D);
    ALLOC(rstd1, L * R);
    ALLOC(q, L * R * qd);
    ALLOC(k, L * R * kvd);
    ALLOC(v, L * R * kvd);
    ALLOC(att, L * R * H * (size_t)T);
    ALLOC(att_out, L * R * qd);
    ALLOC(xmid, L * R * D);
    ALLOC(xn2, L * R * D);
    ALLOC(rstd2, L * R);
    ALLOC(gu, L * R * 2 * F);
    ALLOC(h, L * R * F);
    ALLOC(xnf, R * D);
    ALLOC(rstdf, R);
    ALLOC(logits, R * V);
    ALLOC(dx, R * D);
    ALLOC(dxb, R * (D > qd ? D : qd));
    ALLOC(dqkv, R * qkvd);
    ALLOC(dq, R * qd);
    ALLOC(dk, R * kvd);
    ALLOC(dv, R * kvd);
    ALLOC(datt, R * qd);
    ALLOC(dgu, R * 2 * F);
    ALLOC(dh, R * F);
    ALLOC(tmp, R * (qkvd > D ? qkvd : D));
    ALLOC(scratch, (size_t)T * H * (size_t)T);
#undef ALLOC
    a->pos = ok ? sa_malloc_array(R, sizeof(int32_t)) : NULL;
    a->seqs = ok ? sa_malloc_array((size_t)B, sizeof(sa_attn_seq)) : NULL;
    if (!ok || !a->pos || !a->seqs) {
        sa_train_acts_free(a);
        return sa_err_set(err, SA_ERR_NOMEM, "train: activations for %d x %d tokens", B, T);
    }
    for (size_t r = 0; r < R; r++) a->pos[r] = (int32_t)(r % (size_t)T);
    return SA_OK;
}

void sa_train_acts_free(sa_train_acts *a) {
    float *bufs[] = {a->x, a->xn1, a->rstd1, a->q, a->k, a->v, a->att, a->att_out, a->xmid, a->xn2, a->rstd2,
                     a->gu, a->h, a->xnf, a->rstdf, a->logits, a->dx, a->dxb, a->dqkv, a->dq, a->dk, a->dv,
                     a->datt, a->dgu, a->dh, a->tmp, a->scratch};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(a->pos);
    free(a->seqs);
    memset(a, 0, sizeof *a);
}

static void add_into(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

sa_status sa_model_loss_grad(const sa_model *m, sa_model *g, sa_train_acts *a, const sa_kernels *k,
                             const int32_t *tokens, const int32_t *targets, const uint8_t *mask, float *loss,
                             int64_t *n_counted, sa_err *err) {
    const sa_model_config *c = &m->cfg;
    const int64_t B = a->B, T = a->T, R = B * T, D = c->dim, F = c->hidden_dim, H = c->n_heads, KVH = c->n_kv_heads,
                  hd = c->head_dim, qd = H * hd, kvd = KVH * hd, qkvd = qd + 2 * kvd, V = c->vocab_size;
    if (g && memcmp(&g->cfg, c, sizeof *c) != 0)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "train: gradients were allocated for another config");
    sa_status s = sa_embedding_fwd(k, a->x, m->w.tok_embd, tokens, R, D, V, err);
    if (s) return s;
    for (int64_t b = 0; b < B; b++) a->seqs[b] = (sa_attn_seq){b * T, T, 0, NULL, NULL};
    /* ---- forward, saving what the backward needs ---- */
    for (int32_t l = 0; l < c->n_layers; l++) {
        const sa_layer_weights *W = &m->w.layers[l];
        float *xl = a->x + (size_t)l * R * D, *xn1 = a->xn1 + (size_t)l * R * D, *q = a->q + (size_t)l * R * qd,
              *kk = a->k + (size_t)l * R * kvd, *vv = a->v + (size_t)l * R * kvd,
              *att = a->att + (size_t)l * R * H * T, *ao = a->att_out + (size_t)l * R * qd,
              *xmid = a->xmid + (size_t)l * R * D, *xn2 = a->xn2 + (size_t)l * R * D,
              *gu = a->gu + (size_t)l * R * 2 * F, *h = a->h + (size_t)l * R * F, *xnext = xl + (size_t)R * D;
        sa_rmsnorm_fwd(k, xn1, a->rstd1 + (size_t)l * R, xl, W->attn_norm, R, D, c->norm_eps);
        sa_matmul_fwd(k, a->tmp, xn1, W->wq, W->bq, R, qkvd, D); /* wq|wk|wv adjacent, as in forward.c */
        for (int64_t r = 0; r < R; r++) {
            memcpy(q + r * qd, a->tmp + r * qkvd, (size_t)qd * sizeof(float));
            memcpy(kk + r * kvd, a->tmp + r * qkvd + qd, (size_t)kvd * sizeof(float));
            memcpy(vv + r * kvd, a->tmp + r * qkvd + qd + kvd, (size_t)kvd * sizeof(float));
        }
        sa_rope_fwd(k, q, &m->rope, a->pos, R, H);
        sa_rope_fwd(k, kk, &m->rope, a->pos, R, KVH);
        for (int64_t b = 0; b < B; b++) a->seqs[b].kc = kk + b * T * kvd, a->seqs[b].vc = vv + b * T * kvd;
        sa_attention_fwd(k, ao, att, q, a->seqs, B, T, H, KVH, hd);
        sa_matmul_fwd(k, a->tmp, ao, W->wo, NULL, R, D, qd);
        for (int64_t i = 0; i < R * D; i++) xmid[i] = xl[i] + a->tmp[i];
        sa_rmsnorm_fwd(k, xn2, a->rstd2 + (size_t)l * R, xmid, W->ffn_norm, R, D, c->norm_eps);
        sa_matmul_fwd(k, gu, xn2, W->w_gate, NULL, R, 2 * F, D); /* w_gate|w_up adjacent */
        sa_swiglu_rows_fwd(k, h, gu, R, F);
        sa_matmul_fwd(k, a->tmp, h, W->w_down, NULL, R, D, F);
        for (int64_t i = 0; i < R * D; i++) xnext[i] = xmid[i] + a->tmp[i];
    }
    const float *xL = a->x + (size_t)c->n_layers * R * D;
    sa_rmsnorm_fwd(k, a->xnf, a->rstdf, xL, m->w.out_norm, R, D, c->norm_eps);
    sa_matmul_fwd(k, a->logits, a->xnf, m->w.output, NULL, R, V, D);
    s = sa_cross_entropy_fwd_bwd(k, loss, g ? a->logits : NULL, a->logits, targets, mask, R, V, n_counted, err);
    if (s || !g) return s;
    /* ---- backward: dx is the gradient of the residual stream ---- */
    sa_matmul_bwd(k, a->dxb, g->w.output, NULL, a->logits, a->xnf, m->w.output, R, V, D);
    sa_rmsnorm_bwd(k, a->dx, g->w.out_norm, a->dxb, xL, a->rstdf, m->w.out_norm, R, D);
    for (int32_t l = c->n_layers - 1; l >= 0; l--) {
        const sa_layer_weights *W = &m->w.layers[l];
        sa_layer_weights *G = &g->w.layers[l];
        const float *xl = a->x + (size_t)l * R * D, *xn1 = a->xn1 + (size_t)l * R * D, *q = a->q + (size_t)l * R * qd,
                    *kk = a->k + (size_t)l * R * kvd, *vv = a->v + (size_t)l * R * kvd,
                    *att = a->att + (size_t)l * R * H * T, *ao = a->att_out + (size_t)l * R * qd,
                    *xmid = a->xmid + (size_t)l * R * D, *xn2 = a->xn2 + (size_t)l * R * D,
                    *gu = a->gu + (size_t)l * R * 2 * F, *h = a->h + (size_t)l * R * F;
        /* MLP: x_next = xmid + down(swiglu(gate|up(norm(xmid)))) */
        sa_matmul_bwd(k, a->dh, G->w_down, NULL, a->dx, h, W->w_down, R, D, F);
        for (int64_t r = 0; r < R; r++)
            sa_swiglu_bwd(k, a->dgu + r * 2 * F, a->dgu + r * 2 * F + F, a->dh + r * F, gu + r * 2 * F,
                          gu + r * 2 * F + F, F);
        sa_matmul_bwd(k, a->dxb, G->w_gate, NULL, a->dgu, xn2, W->w_gate, R, 2 * F, D);
        sa_rmsnorm_bwd(k, a->dxb, G->ffn_norm, a->dxb, xmid, a->rstd2 + (size_t)l * R, W->ffn_norm, R, D);
        add_into(a->dx, a->dxb, (size_t)(R * D));
        /* attention: xmid = x + o(attention(rope(q), rope(k), v)) */
        sa_matmul_bwd(k, a->datt, G->wo, NULL, a->dx, ao, W->wo, R, D, qd);
        memset(a->dk, 0, (size_t)(R * kvd) * sizeof(float));
        memset(a->dv, 0, (size_t)(R * kvd) * sizeof(float));
        for (int64_t b = 0; b < B; b++)
            sa_attention_bwd(k, a->dq + b * T * qd, a->dk + b * T * kvd, a->dv + b * T * kvd, a->datt + b * T * qd,
                             att + b * T * H * T, q + b * T * qd, kk + b * T * kvd, vv + b * T * kvd, T, 0, T, H, KVH,
                             hd, a->scratch);
        sa_rope_bwd(k, a->dq, &m->rope, a->pos, R, H);
        sa_rope_bwd(k, a->dk, &m->rope, a->pos, R, KVH);
        for (int64_t r = 0; r < R; r++) {
            memcpy(a->dqkv + r * qkvd, a->dq + r * qd, (size_t)qd * sizeof(float));
            memcpy(a->dqkv + r * qkvd + qd, a->dk + r * kvd, (size_t)kvd * sizeof(float));
            memcpy(a->dqkv + r * qkvd + qd + kvd, a->dv + r * kvd, (size_t)kvd * sizeof(float));
        }
        sa_matmul_bwd(k, a->dxb, G->wq, G->bq, a->dqkv, xn1, W->wq, R, qkvd, D);
        sa_rmsnorm_bwd(k, a->dxb, G->attn_norm, a->dxb, xl, a->rstd1 + (size_t)l * R, W->attn_norm, R, D);
        add_into(a->dx, a->dxb, (size_t)(R * D));
    }
    sa_embedding_bwd(k, g->w.tok_embd, tokens, a->dx, R, D);
    return SA_OK;
}
