/* bench_train.c — training-step throughput (forward with saved
 * activations, backward, AdamW) of random-init M-tiny (16 x 256 tokens) and
 * M-small (4 x 512), F32, full fine-tuning and LoRA r = 16, as in DESIGN.md
 * §4 (PyTorch figures: bench/torch_train_bench.py on the same machine). The
 * measurement itself is sa_bench_train, also behind `selfalign bench train`.
 *     bench_train [m-tiny|m-small|all] [threads] [steps]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa/bench.h"

int main(int argc, char **argv) {
    const char *which = argc > 1 ? argv[1] : "all";
    int threads = argc > 2 ? atoi(argv[2]) : 2, steps = argc > 3 ? atoi(argv[3]) : 3;
    printf("selfalign training-step benchmark: F32, %d threads, median of %d steps after 1 warm-up\n", threads, steps);
    printf("%-8s %9s %6s %10s %8s %9s %9s\n", "shape", "batch", "lora", "tokens/s", "s/step", "%sgemm", "peak MiB");
    for (int s = 0; s < 2; s++) {
        const char *name = s ? "m-small" : "m-tiny";
        if (strcmp(which, "all") != 0 && strcmp(which, name) != 0) continue;
        for (int lora = 0; lora <= 16; lora += 16) {
            sa_model_config c;
            sa_model_config_preset(name, &c);
            sa_err err = {0};
            sa_model *m;
            if (sa_model_alloc(&m, &c, &err)) {
                fprintf(stderr, "bench: %s\n", err.msg);
                return 1;
            }
            sa_model_randomize(m, 1, 0.02f);
            sa_bench_train_opts o = sa_bench_train_defaults();
            o.batch = s ? 4 : 16, o.seq_len = s ? 512 : 256, o.lora_rank = lora, o.steps = steps, o.n_threads = threads;
            sa_bench_train_result r;
            if (sa_bench_train(m, &o, &r, &err)) {
                fprintf(stderr, "bench: %s\n", err.msg);
                return 1;
            }
            /* peak RSS is of the process: the first (full) run of a shape sets it */
            printf("%-8s %5dx%-4d %6d %10.0f %8.3f %8.0f%% %9.0f\n", name, o.batch, o.seq_len, lora, r.tokens_per_s,
                   r.step_s, 100 * r.frac_of_sgemm, r.peak_rss_mb);
            fflush(stdout);
            sa_model_free(m);
        }
    }
    return 0;
}
