/* bench_kernels_train.c — the memory-saving training kernels against the
 * paths they replace, at the shapes of bench_train:
 *   classifier: sa_matmul_fwd + sa_cross_entropy_fwd_bwd + sa_matmul_bwd over
 *     all rows ([R, V] logits) vs sa_classifier_ce_fwd_bwd in chunks, with no
 *     mask and with half the rows masked (SFT prompts);
 *   attention: sa_attention_fwd/bwd (saved probabilities) vs the _lse pair,
 *     one layer's forward + backward over the whole batch.
 * Reports milliseconds per call (median of `reps`) and the working memory
 * each path needs.
 *     bench_kernels_train [m-tiny|m-small|all] [threads] [reps] [chunk] [attention|classifier|both]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sa/alloc.h"
#include "sa/kernels.h"
#include "sa/model.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *buf(int64_t n, uint64_t seed, float amp) {
    float *p = sa_aligned_alloc((size_t)n, sizeof(float));
    if (!p) {
        fprintf(stderr, "bench_kernels_train: out of memory (%lld floats)\n", (long long)n);
        exit(1);
    }
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        p[i] = amp * ((float)((seed >> 40) & 0xFFFFFF) / 16777216.0f * 2.0f - 1.0f);
    }
    return p;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

static void bench_classifier(const sa_kernels *k, const sa_model_config *c, int64_t R, int reps, int64_t chunk) {
    const int64_t V = c->vocab_size, D = c->dim;
    float *x = buf(R * D, 1, 1), *w = buf(V * D, 2, 0.05f), *dx = buf(R * D, 3, 0), *dw = buf(V * D, 4, 0);
    int32_t *tg = malloc(sizeof(int32_t) * (size_t)R);
    uint8_t *half = malloc((size_t)R);
    for (int64_t r = 0; r < R; r++) tg[r] = (int32_t)((r * 7919) % V), half[r] = (r % 256) >= 128;
    double t[16];
    float loss;
    /* unfused: the path backward.c takes today */
    float *logits = buf(R * V, 5, 0);
    for (int i = 0; i < reps; i++) {
        double t0 = now_s();
        sa_matmul_fwd(k, logits, x, w, NULL, R, V, D);
        sa_cross_entropy_fwd_bwd(k, &loss, logits, logits, tg, NULL, R, V, NULL, NULL);
        sa_matmul_bwd(k, dx, dw, NULL, logits, x, w, R, V, D);
        t[i] = now_s() - t0;
    }
    double un = median(t, reps);
    free(logits);
    float *scr = sa_aligned_alloc((size_t)sa_classifier_ce_scratch_floats(V, D, chunk), sizeof(float));
    double fu[2];
    for (int m = 0; m < 2; m++) {
        for (int i = 0; i < reps; i++) {
            double t0 = now_s();
            sa_classifier_ce_fwd_bwd(k, &loss, dx, dw, x, w, tg, m ? half : NULL, R, V, D, 1.0f, scr, chunk, NULL,
                                     NULL);
            t[i] = now_s() - t0;
        }
        fu[m] = median(t, reps);
    }
    printf("  classifier+CE R=%lld V=%lld D=%lld: unfused %.1f ms (%.0f MiB logits) | fused chunk %lld %.1f ms "
           "(%.1f MiB scratch) | fused, half masked %.1f ms\n",
           (long long)R, (long long)V, (long long)D, 1e3 * un, (double)(R * V) * 4 / 1048576.0, (long long)chunk,
           1e3 * fu[0], (double)sa_classifier_ce_scratch_floats(V, D, chunk) * 4 / 1048576.0, 1e3 * fu[1]);
    free(x), free(w), free(dx), free(dw), free(tg), free(half), free(scr);
}

static void bench_attention(const sa_kernels *k, const sa_model_config *c, int64_t B, int64_t T, int reps) {
    const int64_t H = c->n_heads, KVH = c->n_kv_heads, hd = c->head_dim, R = B * T, qd = H * hd, kvd = KVH * hd;
    float *q = buf(R * qd, 1, 1), *kk = buf(R * kvd, 2, 1), *vv = buf(R * kvd, 3, 1), *g = buf(R * qd, 4, 1);
    float *out = buf(R * qd, 5, 0), *dq = buf(R * qd, 6, 0), *dk = buf(R * kvd, 7, 0), *dv = buf(R * kvd, 8, 0);
    float *att = buf(R * H * T, 9, 0), *scr = buf(2 * H * T * T, 10, 0), *lse = buf(R * H, 11, 0);
    sa_attn_seq *seqs = malloc(sizeof *seqs * (size_t)B);
    for (int64_t b = 0; b < B; b++) seqs[b] = (sa_attn_seq){b * T, T, 0, kk + b * T * kvd, vv + b * T * kvd};
    double t[16], tf[2], tb[2];
    for (int path = 0; path < 2; path++) {
        double tt[16];
        for (int i = 0; i < reps; i++) {
            double t0 = now_s();
            if (path) sa_attention_fwd_lse(k, out, lse, q, seqs, B, H, KVH, hd, scr);
            else sa_attention_fwd(k, out, att, q, seqs, B, T, H, KVH, hd);
            double t1 = now_s();
            for (int64_t b = 0; b < B; b++) {
                if (path)
                    sa_attention_bwd_lse(k, dq + b * T * qd, dk + b * T * kvd, dv + b * T * kvd, g + b * T * qd,
                                         lse + b * T * H, q + b * T * qd, kk + b * T * kvd, vv + b * T * kvd, T, 0, H,
                                         KVH, hd, scr);
                else
                    sa_attention_bwd(k, dq + b * T * qd, dk + b * T * kvd, dv + b * T * kvd, g + b * T * qd,
                                     att + b * T * H * T, q + b * T * qd, kk + b * T * kvd, vv + b * T * kvd, T, 0, T,
                                     H, KVH, hd, scr);
            }
            t[i] = t1 - t0;
            tt[i] = now_s() - t1;
        }
        tf[path] = median(t, reps);
        tb[path] = median(tt, reps);
    }
    printf("  attention %lldx%lld H=%lld/%lld hd=%lld, one layer: saved-P fwd %.1f + bwd %.1f ms (%.0f MiB per layer)"
           " | lse fwd %.1f + bwd %.1f ms (%.2f MiB per layer + %.1f MiB shared scratch)\n",
           (long long)B, (long long)T, (long long)H, (long long)KVH, (long long)hd, 1e3 * tf[0], 1e3 * tb[0],
           (double)(R * H * T) * 4 / 1048576.0, 1e3 * tf[1], 1e3 * tb[1], (double)(R * H) * 4 / 1048576.0,
           (double)(2 * H * T * T) * 4 / 1048576.0);
    free(q), free(kk), free(vv), free(g), free(out), free(dq), free(dk), free(dv), free(att), free(scr), free(lse);
    free(seqs);
}

int main(int argc, char **argv) {
    const char *which = argc > 1 ? argv[1] : "all";
    int threads = argc > 2 ? atoi(argv[2]) : 2, reps = argc > 3 ? atoi(argv[3]) : 3;
    int64_t chunk = argc > 4 ? atoll(argv[4]) : 128;
    const char *part = argc > 5 ? argv[5] : "both";
    if (reps < 1 || reps > 16 || chunk < 1) {
        fprintf(stderr, "usage: bench_kernels_train [m-tiny|m-small|all] [threads] [reps 1..16] [chunk] "
                        "[attention|classifier|both]\n");
        return 2;
    }
    sa_kernels k;
    sa_kernels_init(&k, threads);
    printf("training kernels: %s, %d threads, median of %d\n", sa_kernels_backend(), k.n_threads, reps);
    for (int s = 0; s < 2; s++) {
        const char *name = s ? "m-small" : "m-tiny";
        if (strcmp(which, "all") != 0 && strcmp(which, name) != 0) continue;
        sa_model_config c;
        sa_model_config_preset(name, &c);
        int64_t B = s ? 4 : 16, T = s ? 512 : 256;
        printf("%s (%lldx%lld)\n", name, (long long)B, (long long)T);
        if (strcmp(part, "classifier") != 0) bench_attention(&k, &c, B, T, reps);
        if (strcmp(part, "attention") != 0) bench_classifier(&k, &c, B * T, reps, chunk);
    }
    return 0;
}
