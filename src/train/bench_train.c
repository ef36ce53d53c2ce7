/* bench_train.c — training-step throughput (bench.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sa/alloc.h"
#include "sa/bench.h"
#include "sa/progress.h"
#include "sa/lora.h"
#include "sa/model_train.h"
#include "sa/optim.h"

sa_bench_train_opts sa_bench_train_defaults(void) {
    return (sa_bench_train_opts){.batch = 16, .seq_len = 256, .lora_rank = 0, .steps = 3, .n_threads = 2, .seed = 1};
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Best of three 1024^3 products through the same matmul the model uses. */
static double sgemm_rate(const sa_kernels *k) {
    const int64_t n = 1024;
    float *a = sa_aligned_alloc((size_t)(n * n), sizeof(float)), *b = sa_aligned_alloc((size_t)(n * n), sizeof(float)),
          *c = sa_aligned_alloc((size_t)(n * n), sizeof(float));
    double best = 0;
    if (a && b && c) {
        for (int64_t i = 0; i < n * n; i++) a[i] = (float)(i % 17) * 0.01f, b[i] = (float)(i % 13) * 0.01f;
        sa_matmul_fwd(k, c, a, b, NULL, n, n, n); /* warm-up */
        for (int rep = 0; rep < 3; rep++) {
            double t0 = sa_progress_clock_monotonic(NULL);
            sa_matmul_fwd(k, c, a, b, NULL, n, n, n);
            double dt = sa_progress_clock_monotonic(NULL) - t0, rate = 2.0 * (double)n * n * n / dt / 1e9;
            if (rate > best) best = rate;
        }
    }
    free(a), free(b), free(c);
    return best;
}

sa_status sa_bench_train(sa_model *m, const sa_bench_train_opts *o, sa_bench_train_result *r, sa_err *err) {
    memset(r, 0, sizeof *r);
    const sa_model_config *c = &m->cfg;
    const int32_t B = o->batch, T = o->seq_len;
    if (B < 1 || T < 1 || T > c->max_seq_len || o->steps < 1)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "bench train: batch %d x %d (context %d), %d steps", B, T,
                          c->max_seq_len, o->steps);
    sa_kernels k;
    sa_kernels_init(&k, o->n_threads);
    bool lora_on = o->lora_rank > 0;
    sa_lora ad = {0}, lg = {0};
    sa_lora_config lc = {.rank = o->lora_rank, .alpha = 2.0f * (float)o->lora_rank, .dropout = 0.0f,
                         .targets = SA_LORA_TARGETS_ALL};
    sa_model *g = NULL;
    sa_train_acts a;
    memset(&a, 0, sizeof a);
    sa_adamw opt = {0};
    int32_t *tok = NULL, *tgt = NULL;
    double *times = NULL;
    sa_status s = SA_OK;
    if (lora_on) {
        if (!(s = sa_lora_init(&ad, c, &lc, err)) && !(s = sa_lora_init(&lg, c, &lc, err))) sa_lora_randomize(&ad, o->seed);
    } else {
        s = sa_model_alloc(&g, c, err);
    }
    float *params = lora_on ? ad.storage : m->storage, *grads = lora_on ? lg.storage : (g ? g->storage : NULL);
    size_t n = lora_on ? ad.storage_floats : m->storage_floats;
    if (!s) s = sa_train_acts_init(&a, c, lora_on ? &lc : NULL, B, T, err);
    if (!s) s = sa_adamw_init(&opt, n, sa_adamw_defaults(), err);
    size_t R = (size_t)B * (size_t)T;
    tok = sa_malloc_array(R, sizeof(int32_t));
    tgt = sa_malloc_array(R, sizeof(int32_t));
    times = sa_malloc_array((size_t)o->steps, sizeof(double));
    if (!s && (!tok || !tgt || !times)) s = sa_err_set(err, SA_ERR_NOMEM, "bench train: buffers");
    if (!s) {
        uint64_t x = o->seed | 1;
        for (size_t i = 0; i < R; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            tok[i] = (int32_t)(x % (uint64_t)c->vocab_size);
            tgt[i] = (int32_t)((x >> 20) % (uint64_t)c->vocab_size);
        }
    }
    for (int32_t step = 0; !s && step <= o->steps; step++) {
        double t0 = sa_progress_clock_monotonic(NULL);
        memset(grads, 0, n * sizeof(float));
        sa_train_args ta = {.tokens = tok, .targets = tgt, .backward = true, .grads = g,
                            .lora = lora_on ? &ad : NULL, .lora_grads = lora_on ? &lg : NULL};
        float loss;
        s = sa_model_train_step(m, &a, &k, &ta, &loss, NULL, err);
        if (s) break;
        sa_grad_clip(grads, n, 1.0f);
        sa_adamw_step(&opt, params, grads, 1e-4f);
        if (step > 0) times[step - 1] = sa_progress_clock_monotonic(NULL) - t0;
    }
    if (!s) {
        qsort(times, (size_t)o->steps, sizeof(double), cmp_double);
        r->step_s = times[o->steps / 2];
        r->tokens_per_s = (double)R / r->step_s;
        r->peak_rss_mb = sa_bench_peak_rss_mb();
        r->trainable = (int64_t)n;
        double D = c->dim, F = c->hidden_dim, qd = (double)c->n_heads * c->head_dim,
               kvd = (double)c->n_kv_heads * c->head_dim, V = c->vocab_size, L = c->n_layers;
        double wflops = 2.0 * (L * (D * (qd + 2 * kvd) + qd * D + 3 * D * F) + V * D); /* per token */
        double aflops = 2.0 * 2.0 * ((double)T + 1) / 2.0 * qd * L;                   /* QK^T and PV, causal */
        /* backward: attention 2x its forward; weights 2x (dx, dW), or 1x when frozen (LoRA: the
         * adapter products are under 1% at rank 16 and not counted) */
        r->step_gflop = ((lora_on ? 2.0 : 3.0) * wflops + 3.0 * aflops) * (double)R / 1e9;
        r->sgemm_gflops = sgemm_rate(&k);
        r->frac_of_sgemm = r->sgemm_gflops > 0 ? r->step_gflop / r->step_s / r->sgemm_gflops : 0;
    }
    free(tok), free(tgt), free(times);
    sa_adamw_free(&opt);
    sa_train_acts_free(&a);
    if (lora_on) sa_lora_free(&ad), sa_lora_free(&lg);
    sa_model_free(g);
    return s;
}
