/* bench.h — throughput measurements of the model and engine, shared by
 * `selfalign bench generate` and bench/bench_generate.
 *
 * Purpose: the figures DESIGN.md §4 compares against PyTorch and llama.cpp:
 * prefill tokens/s for one long prompt, and aggregate decode tokens/s for a
 * batch of sequences decoding together (one GEMM-shaped forward per step),
 * plus peak resident memory.
 *
 * Ownership: plain structs; the model is borrowed.
 *
 * Usage:
 *     sa_bench_gen_opts o = sa_bench_gen_defaults();
 *     o.batch = 8;
 *     sa_bench_gen_result r;
 *     sa_bench_generate(model, &o, &r, &err);
 */
#ifndef SA_BENCH_H
#define SA_BENCH_H

#include <stdint.h>

#include "sa/model.h"
#include "sa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_bench_gen_opts {
    int32_t batch;          /* sequences decoding together */
    int32_t prompt_len;     /* prompt tokens per sequence before decoding */
    int32_t new_tokens;     /* decode steps */
    int32_t prefill_len;    /* tokens of the separate prefill measurement (0 = skip) */
    int32_t n_threads;
    int32_t repeats;        /* timed repetitions; the median is reported */
    uint64_t seed;
} sa_bench_gen_opts;

typedef struct sa_bench_gen_result {
    double prefill_tokens_per_s; /* prefill_len tokens in one sequence, median */
    double decode_tokens_per_s;  /* batch * new_tokens / decode time, median */
    double decode_ms_per_step;
    double peak_rss_mb;          /* of the whole process so far */
} sa_bench_gen_result;

sa_bench_gen_opts sa_bench_gen_defaults(void); /* batch 1, prompt 64, 128 new, prefill 512, 2 threads, 3 repeats */
sa_status sa_bench_generate(const sa_model *m, const sa_bench_gen_opts *o, sa_bench_gen_result *r, sa_err *err);
/* Training-step throughput (`selfalign bench train`, bench/bench_train):
 * forward with saved activations, backward, gradient clipping and AdamW on
 * synthetic tokens, full fine-tuning or LoRA (base frozen, all seven
 * targets), F32. Also measures this machine's sgemm rate (1024^3, best of
 * three, same threads) and reports the fraction of it the step reaches,
 * counting the matrix FLOPs the step must do (forward 2 per weight per
 * token plus causal attention; backward twice that with weight gradients,
 * once without). */
typedef struct sa_bench_train_opts {
    int32_t batch, seq_len; /* tokens per step = batch * seq_len */
    int32_t lora_rank;      /* 0 = full fine-tuning */
    int32_t steps;          /* timed steps after one warm-up */
    int32_t n_threads;
    uint64_t seed;
} sa_bench_train_opts;

typedef struct sa_bench_train_result {
    double tokens_per_s, step_s; /* median over the timed steps */
    double peak_rss_mb;
    double step_gflop;           /* matrix work per step, GFLOP */
    double sgemm_gflops;         /* measured sgemm rate */
    double frac_of_sgemm;        /* (step_gflop / step_s) / sgemm_gflops */
    int64_t trainable;           /* parameters updated */
} sa_bench_train_result;

sa_bench_train_opts sa_bench_train_defaults(void); /* 16 x 256, full, 3 steps, 2 threads */
/* Trains m in place (its weights change). */
sa_status sa_bench_train(sa_model *m, const sa_bench_train_opts *o, sa_bench_train_result *r, sa_err *err);

/* Peak resident set size of this process in MiB. */
double sa_bench_peak_rss_mb(void);

#ifdef __cplusplus
}
#endif
#endif
