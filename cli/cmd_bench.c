/* cmd_bench.c — `selfalign bench generate`: prefill and batched decode
 * throughput of a random-init model of a standard shape (or a model file),
 * with peak memory; `selfalign bench train`: training-step throughput, full
 * or LoRA. --json prints one object for scripts. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "opts.h"
#include "sa/bench.h"
#include "sa/model.h"

static const cli_opt k_opts[] = {
    {.name = "shape", .type = CLI_OPT_STR, .metavar = "NAME|PATH", .def = "m-tiny",
     .help = "m-tiny, m-small (random F32 weights) or a model path"},
    {.name = "batch", .type = CLI_OPT_INT, .metavar = "N", .def = "1", .min = 1, .max = 4096,
     .help = "sequences decoding together"},
    {.name = "prompt-len", .type = CLI_OPT_INT, .metavar = "N", .def = "64", .min = 1, .max = 1 << 20,
     .help = "prompt tokens before decoding"},
    {.name = "new-tokens", .type = CLI_OPT_INT, .metavar = "N", .def = "128", .min = 1, .max = 1 << 20,
     .help = "decode steps"},
    {.name = "prefill-len", .type = CLI_OPT_INT, .metavar = "N", .def = "512", .min = 0, .max = 1 << 20,
     .help = "tokens of the prefill measurement (0 = skip)"},
    {.name = "threads", .type = CLI_OPT_INT, .metavar = "N", .def = "2", .min = 1, .max = 1024, .help = "threads"},
    {.name = "repeats", .type = CLI_OPT_INT, .metavar = "N", .def = "3", .min = 1, .max = 1000,
     .help = "timed repetitions (the median is reported)"},
    {.name = "json", .type = CLI_OPT_FLAG, .help = "print one JSON object"},
};

static const cli_cmd_spec k_spec = {
    "bench", "generate [options]", "Measure prefill and decode throughput.", k_opts,
    sizeof k_opts / sizeof k_opts[0], 1, 1,
    "shapes (DESIGN.md): m-tiny = dim 288, 6 layers, 6 heads, ffn 768, vocab 32000;\n"
    "m-small = dim 576, 30 layers, 9 heads, 3 kv heads, ffn 1536, vocab 49152, tied.\n",
};

static const cli_opt k_train_opts[] = {
    {.name = "shape", .type = CLI_OPT_STR, .metavar = "NAME|PATH", .def = "m-tiny",
     .help = "m-tiny, m-small (random F32 weights) or a model path"},
    {.name = "batch", .type = CLI_OPT_INT, .metavar = "N", .def = "16", .min = 1, .max = 4096, .help = "sequences per step"},
    {.name = "seq-len", .type = CLI_OPT_INT, .metavar = "N", .def = "256", .min = 1, .max = 1 << 20,
     .help = "tokens per sequence"},
    {.name = "lora", .type = CLI_OPT_INT, .metavar = "R", .def = "0", .min = 0, .max = 4096,
     .help = "LoRA rank on all seven projections, base frozen (0 = full fine-tuning)"},
    {.name = "steps", .type = CLI_OPT_INT, .metavar = "N", .def = "3", .min = 1, .max = 100000,
     .help = "timed steps after one warm-up (the median is reported)"},
    {.name = "threads", .type = CLI_OPT_INT, .metavar = "N", .def = "2", .min = 1, .max = 1024, .help = "threads"},
    {.name = "json", .type = CLI_OPT_FLAG, .help = "print one JSON object"},
};

static const cli_cmd_spec k_train_spec = {
    "bench", "train [options]", "Measure training-step throughput (forward, backward, AdamW; F32).", k_train_opts,
    sizeof k_train_opts / sizeof k_train_opts[0], 1, 1,
    "shapes as for bench generate; the step's matrix FLOPs are compared with this machine's measured sgemm rate.\n",
};

static sa_status load_shape(const char *shape, sa_model **m, sa_err *err) {
    sa_model_config c;
    if (!sa_model_config_preset(shape, &c)) return sa_model_load(m, shape, err);
    sa_status s = sa_model_alloc(m, &c, err);
    if (!s) sa_model_randomize(*m, 1, 0.02f);
    return s;
}

static int bench_train(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&k_train_spec, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    sa_err err = {0};
    sa_model *m;
    const char *shape = cli_str(&a, "shape");
    sa_status s = load_shape(shape, &m, &err);
    if (s) return cli_fail(s, &err);
    sa_bench_train_opts o = sa_bench_train_defaults();
    o.batch = (int32_t)cli_int(&a, "batch");
    o.seq_len = (int32_t)cli_int(&a, "seq-len");
    o.lora_rank = (int32_t)cli_int(&a, "lora");
    o.steps = (int32_t)cli_int(&a, "steps");
    o.n_threads = (int32_t)cli_int(&a, "threads");
    sa_bench_train_result r;
    s = sa_bench_train(m, &o, &r, &err);
    if (!s) {
        if (cli_flag(&a, "json"))
            printf("{\"shape\":\"%s\",\"params\":%lld,\"trainable\":%lld,\"threads\":%d,\"batch\":%d,\"seq_len\":%d,"
                   "\"lora\":%d,\"tokens_per_s\":%.2f,\"step_s\":%.4f,\"peak_rss_mb\":%.1f,\"step_gflop\":%.2f,"
                   "\"sgemm_gflops\":%.1f,\"frac_of_sgemm\":%.3f}\n",
                   shape, (long long)sa_model_config_n_params(&m->cfg), (long long)r.trainable, o.n_threads, o.batch,
                   o.seq_len, o.lora_rank, r.tokens_per_s, r.step_s, r.peak_rss_mb, r.step_gflop, r.sgemm_gflops,
                   r.frac_of_sgemm);
        else
            printf("%s: %lld parameters (%lld trained, %s), %d threads, batch %d x %d\n  %.1f tokens/s, %.3f s/step\n"
                   "  %.1f GFLOP/step = %.1f GFLOP/s, %.0f%% of measured sgemm (%.1f GFLOP/s)\n  peak RSS: %.0f MiB\n",
                   shape, (long long)sa_model_config_n_params(&m->cfg), (long long)r.trainable,
                   o.lora_rank ? "LoRA" : "full", o.n_threads, o.batch, o.seq_len, r.tokens_per_s, r.step_s,
                   r.step_gflop, r.step_gflop / r.step_s, 100 * r.frac_of_sgemm, r.sgemm_gflops, r.peak_rss_mb);
    }
    sa_model_free(m);
    return s ? cli_fail(s, &err) : CLI_EXIT_OK;
}

int cmd_bench(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "train") == 0) return bench_train(argc, argv);
    cli_args a;
    int rc = cli_parse(&k_spec, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    if (strcmp(a.pos[0], "generate") != 0) {
        cli_error("bench: unknown benchmark '%s' (available: generate, train)", a.pos[0]);
        return CLI_EXIT_USAGE;
    }
    sa_err err = {0};
    sa_model *m;
    const char *shape = cli_str(&a, "shape");
    sa_status s = load_shape(shape, &m, &err);
    if (s) return cli_fail(s, &err);
    sa_bench_gen_opts o = sa_bench_gen_defaults();
    o.batch = (int32_t)cli_int(&a, "batch");
    o.prompt_len = (int32_t)cli_int(&a, "prompt-len");
    o.new_tokens = (int32_t)cli_int(&a, "new-tokens");
    o.prefill_len = (int32_t)cli_int(&a, "prefill-len");
    o.n_threads = (int32_t)cli_int(&a, "threads");
    o.repeats = (int32_t)cli_int(&a, "repeats");
    sa_bench_gen_result r;
    s = sa_bench_generate(m, &o, &r, &err);
    if (!s) {
        if (cli_flag(&a, "json"))
            printf("{\"shape\":\"%s\",\"params\":%lld,\"threads\":%d,\"batch\":%d,\"prompt_len\":%d,\"new_tokens\":%d,"
                   "\"prefill_len\":%d,\"prefill_tokens_per_s\":%.2f,\"decode_tokens_per_s\":%.2f,"
                   "\"decode_ms_per_step\":%.3f,\"peak_rss_mb\":%.1f}\n",
                   shape, (long long)sa_model_config_n_params(&m->cfg), o.n_threads, o.batch, o.prompt_len,
                   o.new_tokens, o.prefill_len, r.prefill_tokens_per_s, r.decode_tokens_per_s, r.decode_ms_per_step,
                   r.peak_rss_mb);
        else
            printf("%s: %lld parameters, %d threads\n  prefill (%d tokens): %.1f tokens/s\n  decode (batch %d, %d "
                   "new after %d): %.1f tokens/s, %.2f ms/step\n  peak RSS: %.0f MiB\n",
                   shape, (long long)sa_model_config_n_params(&m->cfg), o.n_threads, o.prefill_len,
                   r.prefill_tokens_per_s, o.batch, o.new_tokens, o.prompt_len, r.decode_tokens_per_s,
                   r.decode_ms_per_step, r.peak_rss_mb);
    }
    sa_model_free(m);
    return s ? cli_fail(s, &err) : CLI_EXIT_OK;
}
