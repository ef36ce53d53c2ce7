/* bench_train.c — training-step throughput (forward with saved activations,
 * backward, AdamW) of random-init M-tiny (16 x 256 tokens) and M-small
 * (4 x 512), F32, as in DESIGN.md §4 (PyTorch 1.13 on this machine: 1083 and
 * 113 tokens/s). A measurement of the pieces; the trainer itself comes with
 * issue 4.
 *     bench_train [m-tiny|m-small|all] [threads] [steps]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sa/bench.h"
#include "sa/model_train.h"
#include "sa/optim.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    const char *which = argc > 1 ? argv[1] : "all";
    int threads = argc > 2 ? atoi(argv[2]) : 2, steps = argc > 3 ? atoi(argv[3]) : 3;
    printf("selfalign training-step benchmark: F32, %d threads, %d timed steps after 1 warm-up\n", threads, steps);
    printf("%-8s %8s %12s %12s %10s\n", "shape", "batch", "tokens/s", "s/step", "peak MiB");
    for (int s = 0; s < 2; s++) {
        const char *name = s ? "m-small" : "m-tiny";
        if (strcmp(which, "all") != 0 && strcmp(which, name) != 0) continue;
        sa_model_config c;
        sa_model_config_preset(name, &c);
        int B = s ? 4 : 16, T = s ? 512 : 256;
        sa_err err = {0};
        sa_model *m, *g;
        sa_train_acts a;
        sa_adamw opt;
        if (sa_model_alloc(&m, &c, &err) || sa_model_alloc(&g, &c, &err) || sa_train_acts_init(&a, &c, B, T, &err) ||
            sa_adamw_init(&opt, m->storage_floats, sa_adamw_defaults(), &err)) {
            fprintf(stderr, "bench: %s\n", err.msg);
            return 1;
        }
        sa_model_randomize(m, 1, 0.02f);
        sa_kernels k;
        sa_kernels_init(&k, threads);
        int32_t *tok = malloc(sizeof(int32_t) * (size_t)(B * T)), *tgt = malloc(sizeof(int32_t) * (size_t)(B * T));
        for (int i = 0; i < B * T; i++) tok[i] = (i * 7919) % c.vocab_size, tgt[i] = (i * 104729 + 1) % c.vocab_size;
        double t0 = 0;
        for (int step = 0; step <= steps; step++) {
            if (step == 1) t0 = now_s();
            memset(g->storage, 0, g->storage_floats * sizeof(float));
            float loss;
            if (sa_model_loss_grad(m, g, &a, &k, tok, tgt, NULL, &loss, NULL, &err)) {
                fprintf(stderr, "bench: %s\n", err.msg);
                return 1;
            }
            sa_grad_clip(g->storage, g->storage_floats, 1.0f);
            sa_adamw_step(&opt, m->storage, g->storage, 1e-4f);
        }
        double dt = (now_s() - t0) / steps;
        printf("%-8s %5dx%-4d %12.0f %12.3f %10.0f\n", name, B, T, B * T / dt, dt, sa_bench_peak_rss_mb());
        fflush(stdout);
        free(tok);
        free(tgt);
        sa_adamw_free(&opt);
        sa_train_acts_free(&a);
        sa_model_free(g);
        sa_model_free(m);
    }
    return 0;
}
