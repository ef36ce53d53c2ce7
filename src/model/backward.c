/* backward.c — the training forward with saved activations and the
 * backward pass (see model_train.h). Follows forward.c step by step, then
 * walks the layers in reverse; every op's gradient comes from its kernel's
 * _bwd beside the forward in src/kernels/. LoRA adapters, dropout, a frozen
 * base and short sequences are folded into the same walk so there is one
 * training path to keep correct. */
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"

/* rows of logits alive at once in the fused classifier (16 MB at V = 32000) */
#define SA_CE_CHUNK 128
#include "sa/model_train.h"
#include "../kernels/simd.h" /* SA_CLONES */

#define MAX3(a, b, c) ((a) > (b) ? ((a) > (c) ? (a) : (c)) : ((b) > (c) ? (b) : (c)))

sa_status sa_train_acts_init(sa_train_acts *a, const sa_model_config *c, const sa_lora_config *lora, int32_t B,
                             int32_t T, sa_err *err) {
    memset(a, 0, sizeof *a);
    if (B <= 0 || T <= 0 || T > c->max_seq_len)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "train: batch %d x %d tokens (context %d)", B, T, c->max_seq_len);
    if (lora && (lora->rank < 1 || lora->rank > 65536))
        return sa_err_set(err, SA_ERR_INVALID_ARG, "train: LoRA rank %d", lora->rank);
    size_t R = (size_t)B * (size_t)T, L = (size_t)c->n_layers, D = (size_t)c->dim, F = (size_t)c->hidden_dim,
           H = (size_t)c->n_heads, qd = H * (size_t)c->head_dim, kvd = (size_t)c->n_kv_heads * (size_t)c->head_dim,
           V = (size_t)c->vocab_size, qkvd = qd + 2 * kvd, rank = lora ? (size_t)lora->rank : 0,
           wide = MAX3(D, qd, F);
    a->B = B, a->T = T, a->L = c->n_layers;
    /* the largest buffers are products of validated config caps (< 2^60):
     * check the few that could still overflow with huge B or T */
    size_t chk;
    if (!sa_size_mul(H * (size_t)T, 2 * (size_t)T, &chk) ||
        !sa_size_mul(L * R * SA_LORA_N_TARGETS, rank, &chk) || !sa_size_mul((L + 1) * R, D + qkvd + 3 * F, &chk))
        return sa_err_set(err, SA_ERR_NOMEM, "train: activations for %d x %d tokens overflow", B, T);
    bool ok = true;
#define ALLOC(field, count) ok = ok && (a->field = sa_aligned_alloc((count), sizeof(float))) != NULL
    ALLOC(x, (L + 1) * R * D);
    ALLOC(xn1, L * R * D);
    ALLOC(rstd1, L * R);
    ALLOC(q, L * R * qd);
    ALLOC(k, L * R * kvd);
    ALLOC(v, L * R * kvd);
    ALLOC(lse, L * R * H); /* per-(row, head) log-sum-exp (sa_attention_fwd_lse) */
    ALLOC(att_out, L * R * qd);
    ALLOC(xmid, L * R * D);
    ALLOC(xn2, L * R * D);
    ALLOC(rstd2, L * R);
    ALLOC(gu, L * R * 2 * F);
    ALLOC(h, L * R * F);
    ALLOC(xnf, R * D);
    ALLOC(rstdf, R);
    ALLOC(ce_scratch, (size_t)sa_classifier_ce_scratch_floats((int64_t)V, (int64_t)D, SA_CE_CHUNK));
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
    ALLOC(scratch, 2 * (size_t)T * H * (size_t)T); /* sa_attention_{fwd,bwd}_lse */
    if (lora) {
        ALLOC(lora_u, L * SA_LORA_N_TARGETS * R * rank);
        ALLOC(lora_xd, R * wide);
        ALLOC(lora_y, R * wide);
        ALLOC(lora_du, R * rank);
        ALLOC(lora_dx, R * wide);
        a->lora_rank = lora->rank;
    }
#undef ALLOC
    a->pos = ok ? sa_malloc_array(R, sizeof(int32_t)) : NULL;
    a->seqs = ok ? sa_malloc_array((size_t)B, sizeof(sa_attn_seq)) : NULL;
    if (!ok || !a->pos || !a->seqs) {
        sa_train_acts_free(a);
        return sa_err_set(err, SA_ERR_NOMEM, "train: activations for %d x %d tokens", B, T);
    }
    return SA_OK;
}

void sa_train_acts_free(sa_train_acts *a) {
    float *bufs[] = {a->x,    a->xn1,  a->rstd1, a->q,      a->k,       a->v,       a->lse,     a->att_out,
                     a->xmid, a->xn2,  a->rstd2, a->gu,     a->h,       a->xnf,     a->rstdf,   a->ce_scratch,
                     a->dx,   a->dxb,  a->dqkv,  a->dq,     a->dk,      a->dv,      a->datt,    a->dgu,
                     a->dh,   a->tmp,  a->scratch, a->lora_u, a->lora_xd, a->lora_y, a->lora_du,
                     a->lora_dx};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(a->pos);
    free(a->seqs);
    memset(a, 0, sizeof *a);
}

static void add_into(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

/* ---- dropout: a counter-based hash, so the backward regenerates each mask ---- */

/* Sites per layer: the seven LoRA inputs (enum order), then the residuals. */
enum { SITE_RESID_ATTN = SA_LORA_N_TARGETS, SITE_RESID_MLP };

typedef struct dropout {
    float p, inv;     /* drop probability; 1 / (1 - p) */
    uint32_t thresh;  /* keep when the hash's high 32 bits >= thresh */
    uint64_t seed;
} dropout;

static dropout dropout_make(float p, uint64_t seed) {
    dropout d = {p, p > 0 ? 1.0f / (1.0f - p) : 1.0f, 0, seed};
    double th = (double)p * 4294967296.0;
    d.thresh = th >= 4294967295.0 ? 0xffffffffu : (uint32_t)th;
    return d;
}

static inline uint64_t mix64(uint64_t z) { /* splitmix64's finaliser */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t site_key(const dropout *d, int32_t layer, int site) {
    return mix64(d->seed ^ mix64(((uint64_t)(uint32_t)layer << 8 | (uint64_t)site) + 0x9e3779b97f4a7c15ull));
}

static inline uint32_t fmix32(uint32_t h) { /* murmur3's finaliser: a cheap bijection that vectorises */
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    return h ^ (h >> 16);
}

/* One row of dropout_apply: cloned per instruction set (simd.h) so the
 * hash vectorises; multiplying by a 0 / (1/(1-p)) factor, as PyTorch does. */
static SA_CLONES void dropout_row(float *dr, const float *sr, int64_t cols, uint32_t rk, uint32_t th, float inv,
                                  bool acc) {
    if (acc) {
#ifdef SA_HAVE_OPENMP
#pragma omp simd
#endif
        for (int64_t j = 0; j < cols; j++)
            dr[j] += sr[j] * (fmix32(rk + (uint32_t)j * 0x9e3779b9u) >= th ? inv : 0.0f);
    } else {
#ifdef SA_HAVE_OPENMP
#pragma omp simd
#endif
        for (int64_t j = 0; j < cols; j++)
            dr[j] = sr[j] * (fmix32(rk + (uint32_t)j * 0x9e3779b9u) >= th ? inv : 0.0f);
    }
}

/* dst (=, or += when acc) src * mask / (1 - p) over a [rows, cols] tensor.
 * The mask of (row, col) is a hash of a per-row key (64-bit mixing of the
 * site key and the row) and the column, so any row is regenerated alone. */
static void dropout_apply(const sa_kernels *k, float *dst, const float *src, int64_t rows, int64_t cols,
                          const dropout *d, uint64_t key, bool acc) {
#ifdef SA_HAVE_OPENMP
#pragma omp parallel for num_threads(k->n_threads) schedule(static) if (rows * cols > 65536)
#endif
    for (int64_t r = 0; r < rows; r++)
        dropout_row(dst + r * cols, src + r * cols, cols,
                    (uint32_t)(mix64(key + (uint64_t)r * 0x9e3779b97f4a7c15ull) >> 32), d->thresh, d->inv, acc);
    (void)k;
}

/* ---- LoRA: y[:, slice] += scale * (drop(x) A^T) B^T, and its gradients ---- */

typedef struct lora_site {
    const sa_lora_pair *p; /* adapter of this layer/target */
    sa_lora_pair *g;       /* its gradients, or NULL */
    float *u;              /* [R, rank] saved drop(x) A^T */
    const float *x;        /* the projection's input [R, in] */
    uint64_t key;          /* dropout key of this site (unused when p == 0) */
} lora_site;

static const float *lora_input(const sa_kernels *k, sa_train_acts *a, const lora_site *s, int64_t R,
                               const dropout *d) {
    if (d->p <= 0) return s->x;
    dropout_apply(k, a->lora_xd, s->x, R, s->p->in, d, s->key, false);
    return a->lora_xd;
}

static void lora_fwd(const sa_kernels *k, sa_train_acts *a, const lora_site *s, float scale, int32_t rank,
                     float *y, int64_t ystride, int64_t R, const dropout *d) {
    const int64_t out = s->p->out;
    const float *xin = lora_input(k, a, s, R, d);
    sa_matmul_fwd(k, s->u, xin, s->p->a, NULL, R, rank, s->p->in);
    sa_matmul_fwd(k, a->lora_y, s->u, s->p->b, NULL, R, out, rank);
    for (int64_t r = 0; r < R; r++) {
        float *yr = y + r * ystride;
        const float *lr = a->lora_y + r * out;
        for (int64_t j = 0; j < out; j++) yr[j] += scale * lr[j];
    }
}

/* dy: the gradient of the projection's output slice (row stride dystride);
 * dx (may be NULL) receives += d(loss)/d(input) through the adapter. */
static void lora_bwd(const sa_kernels *k, sa_train_acts *a, const lora_site *s, float scale, int32_t rank,
                     const float *dy, int64_t dystride, float *dx, int64_t R, const dropout *d) {
    const int64_t out = s->p->out, in = s->p->in;
    if (!s->g && !dx) return;
    for (int64_t r = 0; r < R; r++) {
        float *yr = a->lora_y + r * out;
        const float *dr = dy + r * dystride;
        for (int64_t j = 0; j < out; j++) yr[j] = scale * dr[j];
    }
    /* du = (scale dy) B;  dB += (scale dy)^T u */
    sa_matmul_bwd(k, a->lora_du, s->g ? s->g->b : NULL, NULL, a->lora_y, s->u, s->p->b, R, out, rank);
    const float *xin = s->g ? lora_input(k, a, s, R, d) : s->x; /* x only feeds dA */
    /* d(drop x) = du A;  dA += du^T drop(x) */
    sa_matmul_bwd(k, dx ? a->lora_dx : NULL, s->g ? s->g->a : NULL, NULL, a->lora_du, xin, s->p->a, R, rank, in);
    if (!dx) return;
    if (d->p > 0) dropout_apply(k, dx, a->lora_dx, R, in, d, s->key, true);
    else add_into(dx, a->lora_dx, (size_t)(R * in));
}

/* ---- the step ---- */

/* Shapes and rotary layout: what an adapter's matrices depend on (a field
 * comparison: padding bytes of two configs need not agree). */
static bool same_shape(const sa_model_config *a, const sa_model_config *b) {
    return a->dim == b->dim && a->hidden_dim == b->hidden_dim && a->n_layers == b->n_layers &&
           a->n_heads == b->n_heads && a->n_kv_heads == b->n_kv_heads && a->head_dim == b->head_dim &&
           a->rope_layout == b->rope_layout;
}

static sa_status check_args(const sa_model *m, const sa_train_acts *a, const sa_train_args *args, int64_t T,
                            sa_err *err) {
    const sa_model_config *c = &m->cfg;
    if (!args->tokens || !args->targets) return sa_err_set(err, SA_ERR_INVALID_ARG, "train: no tokens or targets");
    if (T < 1 || T > a->T)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "train: T = %lld outside 1 .. %d (the buffers' length)",
                          (long long)T, a->T);
    if (a->L != c->n_layers) return sa_err_set(err, SA_ERR_INVALID_ARG, "train: activations are for another model");
    if (!(args->dropout >= 0.0f && args->dropout < 1.0f))
        return sa_err_set(err, SA_ERR_INVALID_ARG, "train: dropout %g outside [0, 1)", (double)args->dropout);
    if (args->denom < 0)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "train: negative denominator %lld", (long long)args->denom);
    if (args->grads && memcmp(&args->grads->cfg, c, sizeof *c) != 0)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "train: gradients were allocated for another config");
    const sa_lora *lo = args->lora, *lg = args->lora_grads;
    if (lg && !lo) return sa_err_set(err, SA_ERR_INVALID_ARG, "train: LoRA gradients without an adapter");
    if (lo) {
        if (!same_shape(&lo->mcfg, c))
            return sa_err_set(err, SA_ERR_INVALID_ARG, "train: the adapter belongs to another model config");
        if (lo->cfg.rank > a->lora_rank)
            return sa_err_set(err, SA_ERR_INVALID_ARG,
                              "train: adapter rank %d but the activations were sized for LoRA rank %d "
                              "(sa_train_acts_init's lora argument)",
                              lo->cfg.rank, a->lora_rank);
        if (!(lo->cfg.dropout >= 0.0f && lo->cfg.dropout < 1.0f))
            return sa_err_set(err, SA_ERR_INVALID_ARG, "train: LoRA dropout %g outside [0, 1)",
                              (double)lo->cfg.dropout);
        if (lg && (lg->cfg.rank != lo->cfg.rank || lg->cfg.targets != lo->cfg.targets ||
                   !same_shape(&lg->mcfg, c)))
            return sa_err_set(err, SA_ERR_INVALID_ARG, "train: LoRA gradients have another configuration");
    }
    return SA_OK;
}

sa_status sa_model_train_step(const sa_model *m, sa_train_acts *a, const sa_kernels *k, const sa_train_args *args,
                              float *loss, int64_t *n_counted, sa_err *err) {
    const sa_model_config *c = &m->cfg;
    const int64_t B = a->B, T = args->T ? args->T : a->T, R = B * T, D = c->dim, F = c->hidden_dim,
                  H = c->n_heads, KVH = c->n_kv_heads, hd = c->head_dim, qd = H * hd, kvd = KVH * hd,
                  qkvd = qd + 2 * kvd, V = c->vocab_size;
    sa_status s = check_args(m, a, args, T, err);
    if (s) return s;
    sa_model *g = args->grads;
    const sa_lora *lo = args->lora;
    sa_lora *lg = args->lora_grads;
    const bool frozen = !g, bwd = args->backward && (g || lg);
    const int32_t rank = lo ? lo->cfg.rank : 0;
    const float scale = lo ? lo->scale : 0.0f;
    const dropout dres = dropout_make(args->dropout, args->dropout_seed),
                  dlora = dropout_make(lo ? lo->cfg.dropout : 0.0f, args->dropout_seed);
    const size_t u_slot = (size_t)a->B * (size_t)a->T * (size_t)a->lora_rank; /* per layer and target */
    /* the adapter of (layer, target), its gradient and saved u */
    lora_site sites[SA_LORA_N_TARGETS];
#define SITE(l, t, xin)                                                                                           \
    (sites[t] = (lora_site){sa_lora_get(lo, (l), (t)),                                                            \
                            lg ? (sa_lora_pair *)sa_lora_get(lg, (l), (t)) : NULL,                                \
                            a->lora_u + ((size_t)(l) * SA_LORA_N_TARGETS + (t)) * u_slot, (xin),                  \
                            site_key(&dlora, (l), (t))},                                                          \
     sites[t].p ? &sites[t] : NULL)

    for (int64_t r = 0; r < R; r++) a->pos[r] = (int32_t)(r % T);
    for (int64_t b = 0; b < B; b++) a->seqs[b] = (sa_attn_seq){b * T, T, 0, NULL, NULL};
    if ((s = sa_embedding_fwd(k, a->x, m->w.tok_embd, args->tokens, R, D, V, err))) return s;
    /* ---- forward, saving what the backward needs ---- */
    for (int32_t l = 0; l < c->n_layers; l++) {
        const sa_layer_weights *W = &m->w.layers[l];
        float *xl = a->x + (size_t)l * R * D, *xn1 = a->xn1 + (size_t)l * R * D, *q = a->q + (size_t)l * R * qd,
              *kk = a->k + (size_t)l * R * kvd, *vv = a->v + (size_t)l * R * kvd,
              *lse = a->lse + (size_t)l * R * H, *ao = a->att_out + (size_t)l * R * qd,
              *xmid = a->xmid + (size_t)l * R * D, *xn2 = a->xn2 + (size_t)l * R * D,
              *gu = a->gu + (size_t)l * R * 2 * F, *h = a->h + (size_t)l * R * F, *xnext = xl + (size_t)R * D;
        const lora_site *st;
        sa_rmsnorm_fwd(k, xn1, a->rstd1 + (size_t)l * R, xl, W->attn_norm, R, D, c->norm_eps);
        sa_matmul_fwd(k, a->tmp, xn1, W->wq, W->bq, R, qkvd, D); /* wq|wk|wv adjacent, as in forward.c */
        if (lo) {
            if ((st = SITE(l, SA_LORA_Q, xn1))) lora_fwd(k, a, st, scale, rank, a->tmp, qkvd, R, &dlora);
            if ((st = SITE(l, SA_LORA_K, xn1))) lora_fwd(k, a, st, scale, rank, a->tmp + qd, qkvd, R, &dlora);
            if ((st = SITE(l, SA_LORA_V, xn1))) lora_fwd(k, a, st, scale, rank, a->tmp + qd + kvd, qkvd, R, &dlora);
        }
        for (int64_t r = 0; r < R; r++) {
            memcpy(q + r * qd, a->tmp + r * qkvd, (size_t)qd * sizeof(float));
            memcpy(kk + r * kvd, a->tmp + r * qkvd + qd, (size_t)kvd * sizeof(float));
            memcpy(vv + r * kvd, a->tmp + r * qkvd + qd + kvd, (size_t)kvd * sizeof(float));
        }
        sa_rope_fwd(k, q, &m->rope, a->pos, R, H);
        sa_rope_fwd(k, kk, &m->rope, a->pos, R, KVH);
        for (int64_t b = 0; b < B; b++) a->seqs[b].kc = kk + b * T * kvd, a->seqs[b].vc = vv + b * T * kvd;
        sa_attention_fwd_lse(k, ao, lse, q, a->seqs, B, H, KVH, hd, a->scratch);
        sa_matmul_fwd(k, a->tmp, ao, W->wo, NULL, R, D, qd);
        if (lo && (st = SITE(l, SA_LORA_O, ao))) lora_fwd(k, a, st, scale, rank, a->tmp, D, R, &dlora);
        if (dres.p > 0) dropout_apply(k, a->tmp, a->tmp, R, D, &dres, site_key(&dres, l, SITE_RESID_ATTN), false);
        for (int64_t i = 0; i < R * D; i++) xmid[i] = xl[i] + a->tmp[i];
        sa_rmsnorm_fwd(k, xn2, a->rstd2 + (size_t)l * R, xmid, W->ffn_norm, R, D, c->norm_eps);
        sa_matmul_fwd(k, gu, xn2, W->w_gate, NULL, R, 2 * F, D); /* w_gate|w_up adjacent */
        if (lo) {
            if ((st = SITE(l, SA_LORA_GATE, xn2))) lora_fwd(k, a, st, scale, rank, gu, 2 * F, R, &dlora);
            if ((st = SITE(l, SA_LORA_UP, xn2))) lora_fwd(k, a, st, scale, rank, gu + F, 2 * F, R, &dlora);
        }
        sa_swiglu_rows_fwd(k, h, gu, R, F);
        sa_matmul_fwd(k, a->tmp, h, W->w_down, NULL, R, D, F);
        if (lo && (st = SITE(l, SA_LORA_DOWN, h))) lora_fwd(k, a, st, scale, rank, a->tmp, D, R, &dlora);
        if (dres.p > 0) dropout_apply(k, a->tmp, a->tmp, R, D, &dres, site_key(&dres, l, SITE_RESID_MLP), false);
        for (int64_t i = 0; i < R * D; i++) xnext[i] = xmid[i] + a->tmp[i];
    }
    const float *xL = a->x + (size_t)c->n_layers * R * D;
    sa_rmsnorm_fwd(k, a->xnf, a->rstdf, xL, m->w.out_norm, R, D, c->norm_eps);
    if (args->logits_out) sa_matmul_fwd(k, args->logits_out, a->xnf, m->w.output, NULL, R, V, D);
    /* A frozen base needs dx only down to its lowest adapter. */
    int32_t lowest = 0;
    bool need_bwd = bwd;
    if (frozen && bwd) {
        lowest = c->n_layers;
        for (int32_t l = c->n_layers - 1; l >= 0; l--)
            for (int t = 0; t < SA_LORA_N_TARGETS; t++)
                if (sa_lora_get(lo, l, (sa_lora_target)t)) lowest = l;
        need_bwd = lowest < c->n_layers; /* no adapter: nothing to learn */
    }
    /* gradients are of (sum of counted losses) / denom = (n / denom) * mean */
    int64_t n = 0;
    for (int64_t r = 0; r < R; r++) n += !args->mask || args->mask[r];
    const float ce_scale = args->denom > 0 && n > 0 ? (float)((double)n / (double)args->denom) : 1.0f;
    s = sa_classifier_ce_fwd_bwd(k, loss, need_bwd ? a->dxb : NULL, need_bwd && !frozen ? g->w.output : NULL, a->xnf,
                                 m->w.output, args->targets, args->mask, R, V, D, ce_scale, a->ce_scratch, SA_CE_CHUNK,
                                 &n, err);
    if (n_counted) *n_counted = n;
    if (s || !need_bwd) return s;
    /* ---- backward: dx is the gradient of the residual stream ---- */
    sa_rmsnorm_bwd(k, a->dx, frozen ? NULL : g->w.out_norm, a->dxb, xL, a->rstdf, m->w.out_norm, R, D);
    for (int32_t l = c->n_layers - 1; l >= lowest; l--) {
        const sa_layer_weights *W = &m->w.layers[l];
        sa_layer_weights *G = frozen ? NULL : &g->w.layers[l];
        float *xn1 = a->xn1 + (size_t)l * R * D, *ao = a->att_out + (size_t)l * R * qd,
              *xn2 = a->xn2 + (size_t)l * R * D, *h = a->h + (size_t)l * R * F;
        const float *xl = a->x + (size_t)l * R * D, *q = a->q + (size_t)l * R * qd, *kk = a->k + (size_t)l * R * kvd,
                    *vv = a->v + (size_t)l * R * kvd, *lse = a->lse + (size_t)l * R * H,
                    *xmid = a->xmid + (size_t)l * R * D, *gu = a->gu + (size_t)l * R * 2 * F;
        const lora_site *st;
        /* below this layer nothing needs dx when the base is frozen */
        const bool last = frozen && l == lowest;
        const bool attn_adapted = lo && (sa_lora_get(lo, l, SA_LORA_Q) || sa_lora_get(lo, l, SA_LORA_K) ||
                                         sa_lora_get(lo, l, SA_LORA_V) || sa_lora_get(lo, l, SA_LORA_O));
        const bool need_dxmid = !last || attn_adapted;
        /* MLP: x_next = xmid + drop(down(swiglu(gate|up(norm(xmid))))) */
        const float *dy = a->dx;
        if (dres.p > 0) {
            dropout_apply(k, a->tmp, a->dx, R, D, &dres, site_key(&dres, l, SITE_RESID_MLP), false);
            dy = a->tmp;
        }
        const bool gu_adapted = lo && (sa_lora_get(lo, l, SA_LORA_GATE) || sa_lora_get(lo, l, SA_LORA_UP));
        const bool need_dh = need_dxmid || gu_adapted;
        sa_matmul_bwd(k, need_dh ? a->dh : NULL, G ? G->w_down : NULL, NULL, dy, h, W->w_down, R, D, F);
        if (lo && (st = SITE(l, SA_LORA_DOWN, h)))
            lora_bwd(k, a, st, scale, rank, dy, D, need_dh ? a->dh : NULL, R, &dlora);
        if (need_dh)
            for (int64_t r = 0; r < R; r++)
                sa_swiglu_bwd(k, a->dgu + r * 2 * F, a->dgu + r * 2 * F + F, a->dh + r * F, gu + r * 2 * F,
                              gu + r * 2 * F + F, F);
        if (need_dxmid || !frozen)
            sa_matmul_bwd(k, need_dxmid ? a->dxb : NULL, G ? G->w_gate : NULL, NULL, a->dgu, xn2, W->w_gate, R,
                          2 * F, D);
        if (lo) {
            float *dxn2 = need_dxmid ? a->dxb : NULL;
            if ((st = SITE(l, SA_LORA_GATE, xn2))) lora_bwd(k, a, st, scale, rank, a->dgu, 2 * F, dxn2, R, &dlora);
            if ((st = SITE(l, SA_LORA_UP, xn2))) lora_bwd(k, a, st, scale, rank, a->dgu + F, 2 * F, dxn2, R, &dlora);
        }
        if (!need_dxmid) break;
        sa_rmsnorm_bwd(k, a->dxb, G ? G->ffn_norm : NULL, a->dxb, xmid, a->rstd2 + (size_t)l * R, W->ffn_norm,
                       R, D);
        add_into(a->dx, a->dxb, (size_t)(R * D));
        /* attention: xmid = x + drop(o(attention(rope(q), rope(k), v))) */
        dy = a->dx;
        if (dres.p > 0) {
            dropout_apply(k, a->tmp, a->dx, R, D, &dres, site_key(&dres, l, SITE_RESID_ATTN), false);
            dy = a->tmp;
        }
        sa_matmul_bwd(k, a->datt, G ? G->wo : NULL, NULL, dy, ao, W->wo, R, D, qd);
        if (lo && (st = SITE(l, SA_LORA_O, ao))) lora_bwd(k, a, st, scale, rank, dy, D, a->datt, R, &dlora);
        memset(a->dk, 0, (size_t)(R * kvd) * sizeof(float));
        memset(a->dv, 0, (size_t)(R * kvd) * sizeof(float));
        for (int64_t b = 0; b < B; b++)
            sa_attention_bwd_lse(k, a->dq + b * T * qd, a->dk + b * T * kvd, a->dv + b * T * kvd,
                                 a->datt + b * T * qd, lse + b * T * H, q + b * T * qd, kk + b * T * kvd,
                                 vv + b * T * kvd, T, 0, H, KVH, hd, a->scratch);
        sa_rope_bwd(k, a->dq, &m->rope, a->pos, R, H);
        sa_rope_bwd(k, a->dk, &m->rope, a->pos, R, KVH);
        for (int64_t r = 0; r < R; r++) {
            memcpy(a->dqkv + r * qkvd, a->dq + r * qd, (size_t)qd * sizeof(float));
            memcpy(a->dqkv + r * qkvd + qd, a->dk + r * kvd, (size_t)kvd * sizeof(float));
            memcpy(a->dqkv + r * qkvd + qd + kvd, a->dv + r * kvd, (size_t)kvd * sizeof(float));
        }
        if (!last)
            sa_matmul_bwd(k, a->dxb, G ? G->wq : NULL, G ? G->bq : NULL, a->dqkv, xn1, W->wq, R, qkvd, D);
        if (lo) {
            float *dxn1 = last ? NULL : a->dxb;
            if ((st = SITE(l, SA_LORA_Q, xn1))) lora_bwd(k, a, st, scale, rank, a->dqkv, qkvd, dxn1, R, &dlora);
            if ((st = SITE(l, SA_LORA_K, xn1))) lora_bwd(k, a, st, scale, rank, a->dqkv + qd, qkvd, dxn1, R, &dlora);
            if ((st = SITE(l, SA_LORA_V, xn1)))
                lora_bwd(k, a, st, scale, rank, a->dqkv + qd + kvd, qkvd, dxn1, R, &dlora);
        }
        if (last) break;
        sa_rmsnorm_bwd(k, a->dxb, G ? G->attn_norm : NULL, a->dxb, xl, a->rstd1 + (size_t)l * R, W->attn_norm,
                       R, D);
        add_into(a->dx, a->dxb, (size_t)(R * D));
    }
#undef SITE
    if (!frozen) sa_embedding_bwd(k, g->w.tok_embd, args->tokens, a->dx, R, D);
    return SA_OK;
}

sa_status sa_model_loss_grad(const sa_model *m, sa_model *g, sa_train_acts *a, const sa_kernels *k,
                             const int32_t *tokens, const int32_t *targets, const uint8_t *mask, float *loss,
                             int64_t *n_counted, sa_err *err) {
    sa_train_args args = {.tokens = tokens, .targets = targets, .mask = mask, .backward = g != NULL, .grads = g};
    return sa_model_train_step(m, a, k, &args, loss, n_counted, err);
}
