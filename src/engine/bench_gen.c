/* bench_gen.c — prefill and batched-decode throughput of a model (see
 * bench.h). Decoding drives sa_model_forward directly with one row per
 * sequence per step and greedy argmax, so the figure is the model's, not
 * the scheduler's. */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "sa/alloc.h"
#include "sa/bench.h"
#include "sa/progress.h"
#include "sa/rng.h"

sa_bench_gen_opts sa_bench_gen_defaults(void) {
    return (sa_bench_gen_opts){.batch = 1, .prompt_len = 64, .new_tokens = 128, .prefill_len = 512,
                               .n_threads = 2, .repeats = 3, .seed = 1};
}

double sa_bench_peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int32_t argmax(const float *x, int32_t n) {
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

sa_status sa_bench_generate(const sa_model *m, const sa_bench_gen_opts *o, sa_bench_gen_result *r, sa_err *err) {
    memset(r, 0, sizeof *r);
    const sa_model_config *c = &m->cfg;
    if (o->batch <= 0 || o->prompt_len <= 0 || o->new_tokens <= 0 || o->repeats <= 0 || o->prefill_len < 0)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "bench: batch, prompt length, new tokens and repeats must be positive");
    int32_t ctx = o->prompt_len + o->new_tokens;
    if (o->prefill_len > ctx) ctx = o->prefill_len;
    if (ctx > c->max_seq_len)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "bench: %d positions exceed the model's %d", ctx, c->max_seq_len);
    sa_kernels k, kd; /* as the engine runs them: prompts with sgemm, decode steps row by row */
    sa_kernels_init(&k, o->n_threads);
    k.path = SA_MATMUL_GEMM;
    kd = k;
    kd.path = SA_MATMUL_ROWWISE;
    int32_t rows_cap = o->batch > o->prefill_len ? o->batch : o->prefill_len;
    if (rows_cap < o->prompt_len) rows_cap = o->prompt_len;
    sa_model_state st;
    sa_status s = sa_model_state_init(&st, c, rows_cap, ctx, err);
    if (s) return s;
    sa_kv_cache *kv = calloc((size_t)o->batch, sizeof *kv);
    int32_t *toks = sa_malloc_array((size_t)(rows_cap > o->batch ? rows_cap : o->batch), sizeof(int32_t));
    sa_batch_row *rows = sa_malloc_array((size_t)rows_cap, sizeof *rows);
    double *times = sa_malloc_array((size_t)o->repeats, sizeof(double));
    if (!kv || !toks || !rows || !times) {
        s = sa_err_set(err, SA_ERR_NOMEM, "bench: out of memory");
        goto done;
    }
    for (int32_t b = 0; b < o->batch && !s; b++) s = sa_kv_cache_init(&kv[b], c, ctx, err);
    if (s) goto done;
    sa_rng rng;
    sa_rng_init(&rng, o->seed);
    /* prefill: one sequence of prefill_len tokens in one forward call */
    if (o->prefill_len > 0) {
        for (int32_t rep = 0; rep < o->repeats && !s; rep++) {
            for (int32_t i = 0; i < o->prefill_len; i++)
                rows[i] = (sa_batch_row){(int32_t)sa_rng_below(&rng, (uint64_t)c->vocab_size), i, &kv[0], i == o->prefill_len - 1, false};
            double t0 = sa_progress_clock_monotonic(NULL);
            s = sa_model_forward(m, &st, &k, rows, o->prefill_len, err);
            times[rep] = sa_progress_clock_monotonic(NULL) - t0;
        }
        if (s) goto done;
        qsort(times, (size_t)o->repeats, sizeof(double), cmp_double);
        r->prefill_tokens_per_s = o->prefill_len / times[o->repeats / 2];
    }
    /* decode: prefill every sequence, then new_tokens steps of batch rows */
    for (int32_t rep = 0; rep < o->repeats && !s; rep++) {
        for (int32_t b = 0; b < o->batch && !s; b++) {
            for (int32_t i = 0; i < o->prompt_len; i++)
                rows[i] = (sa_batch_row){(int32_t)sa_rng_below(&rng, (uint64_t)c->vocab_size), i, &kv[b], i == o->prompt_len - 1, false};
            s = sa_model_forward(m, &st, &k, rows, o->prompt_len, err);
            toks[b] = argmax(st.logits, c->vocab_size);
        }
        double t0 = sa_progress_clock_monotonic(NULL);
        for (int32_t step = 0; step < o->new_tokens && !s; step++) {
            for (int32_t b = 0; b < o->batch; b++) rows[b] = (sa_batch_row){toks[b], o->prompt_len + step, &kv[b], true, false};
            s = sa_model_forward(m, &st, &kd, rows, o->batch, err);
            for (int32_t b = 0; b < o->batch && !s; b++)
                toks[b] = argmax(st.logits + (size_t)b * c->vocab_size, c->vocab_size);
        }
        times[rep] = sa_progress_clock_monotonic(NULL) - t0;
    }
    if (s) goto done;
    qsort(times, (size_t)o->repeats, sizeof(double), cmp_double);
    r->decode_tokens_per_s = (double)o->batch * o->new_tokens / times[o->repeats / 2];
    r->decode_ms_per_step = 1000.0 * times[o->repeats / 2] / o->new_tokens;
    r->peak_rss_mb = sa_bench_peak_rss_mb();
done:
    if (kv)
        for (int32_t b = 0; b < o->batch; b++) sa_kv_cache_free(&kv[b]);
    free(kv);
    free(toks);
    free(rows);
    free(times);
    sa_model_state_free(&st);
    return s;
}
