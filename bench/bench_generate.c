/* bench_generate.c — the standard generation benchmark (DESIGN.md §4):
 * random-init M-tiny and M-small, F32, prefill tokens/s for a 512-token
 * prompt and aggregate decode tokens/s at batch 1, 8 and 32 (64-token
 * prompt, 128 new tokens), peak RSS. `make bench` runs it; arguments:
 *     bench_generate [m-tiny|m-small|all] [threads]
 * `selfalign bench generate` measures a single configuration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa/bench.h"
#include "sa/model.h"

int main(int argc, char **argv) {
    const char *which = argc > 1 ? argv[1] : "all";
    int threads = argc > 2 ? atoi(argv[2]) : 2;
    const char *names[2] = {"m-tiny", "m-small"};
    printf("selfalign generation benchmark: F32 random weights, %d threads, median of 3\n", threads);
    printf("%-8s %6s %14s %14s %12s %10s\n", "shape", "batch", "prefill tok/s", "decode tok/s", "ms/step", "peak MiB");
    for (int i = 0; i < 2; i++) {
        if (strcmp(which, "all") != 0 && strcmp(which, names[i]) != 0) continue;
        sa_model_config c;
        sa_model_config_preset(names[i], &c);
        sa_model *m;
        sa_err err = {0};
        if (sa_model_alloc(&m, &c, &err)) {
            fprintf(stderr, "bench: %s\n", err.msg);
            return 1;
        }
        sa_model_randomize(m, 1, 0.02f);
        int batches[3] = {1, 8, 32};
        for (int b = 0; b < 3; b++) {
            sa_bench_gen_opts o = sa_bench_gen_defaults();
            o.batch = batches[b];
            o.n_threads = threads;
            o.prefill_len = b == 0 ? 512 : 0;
            sa_bench_gen_result r;
            if (sa_bench_generate(m, &o, &r, &err)) {
                fprintf(stderr, "bench: %s\n", err.msg);
                return 1;
            }
            char pre[32] = "-";
            if (o.prefill_len) snprintf(pre, sizeof pre, "%.0f", r.prefill_tokens_per_s);
            printf("%-8s %6d %14s %14.1f %12.2f %10.0f\n", names[i], o.batch, pre, r.decode_tokens_per_s,
                   r.decode_ms_per_step, r.peak_rss_mb);
            fflush(stdout);
        }
        sa_model_free(m);
    }
    return 0;
}
