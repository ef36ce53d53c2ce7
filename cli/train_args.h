/* train_args.h — the fine-tuning options shared by `selfalign train` and the
 * loops that train models (`humpback`, `dromedary`).
 *
 * CLI_TRAIN_OPTIONS expands to the cli_opt initializers of every option
 * that shapes a fine-tune (method, optimisation, data limits, cadence,
 * export), so each command lists them once in its own table:
 *     static const cli_opt k_opts[] = { {...command options...}, CLI_TRAIN_OPTIONS };
 * cli_train_apply reads them back into an sa_train_opts (the fields it does
 * not own — base, data, out_dir, tags, seed, threads... — are left alone).
 * Mutual exclusions (--lora/--full, --epochs/--steps) and enum parsing are
 * checked there; errors are usage errors (the caller returns
 * CLI_EXIT_USAGE).
 */
#ifndef SA_CLI_TRAIN_ARGS_H
#define SA_CLI_TRAIN_ARGS_H

#include "opts.h"
#include "sa/trainer.h"

#define CLI_TRAIN_OPTIONS                                                                                              \
    {.name = "lora", .type = CLI_OPT_INT, .metavar = "R", .min = 1, .max = 4096, .help = "LoRA rank (base frozen)"},   \
    {.name = "full", .type = CLI_OPT_FLAG, .help = "train every weight (the default without --lora)"},                 \
    {.name = "lora-alpha", .type = CLI_OPT_FLOAT, .metavar = "X", .min = 0, .max = 1e6,                                \
     .help = "LoRA alpha (default 2 x rank)"},                                                                         \
    {.name = "lora-dropout", .type = CLI_OPT_FLOAT, .metavar = "P", .def = "0.05", .min = 0, .max = 0.99,              \
     .help = "dropout on the LoRA input"},                                                                             \
    {.name = "lora-targets", .type = CLI_OPT_STR, .metavar = "LIST", .def = "all",                                     \
     .help = "adapted projections: q,k,v,o,gate,up,down or all"},                                                      \
    {.name = "dropout", .type = CLI_OPT_FLOAT, .metavar = "P", .def = "0", .min = 0, .max = 0.99,                      \
     .help = "residual dropout"},                                                                                      \
    {.name = "epochs", .type = CLI_OPT_INT, .metavar = "N", .def = "1", .min = 1, .max = 1000000,                      \
     .help = "passes over the training split (when --steps is not given)"},                                            \
    {.name = "steps", .type = CLI_OPT_INT, .metavar = "N", .min = 1, .max = 1000000000, .help = "optimizer steps"},    \
    {.name = "lr", .type = CLI_OPT_FLOAT, .metavar = "X", .def = "1e-5", .min = 1e-12, .max = 10,                      \
     .help = "peak learning rate"},                                                                                    \
    {.name = "lr-final", .type = CLI_OPT_FLOAT, .metavar = "X", .min = 0, .max = 10,                                   \
     .help = "learning rate at the last step for linear/cosine (default: lr / 10)"},                                   \
    {.name = "schedule", .type = CLI_OPT_STR, .metavar = "S", .def = "linear", .help = "constant, linear or cosine"},  \
    {.name = "warmup", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 1000000000,                   \
     .help = "warm-up steps"},                                                                                         \
    {.name = "batch", .type = CLI_OPT_INT, .metavar = "N", .def = "8", .min = 1, .max = 65536,                         \
     .help = "sequences per training micro-batch"},                                                                    \
    {.name = "grad-accum", .type = CLI_OPT_INT, .metavar = "N", .def = "1", .min = 1, .max = 65536,                    \
     .help = "micro-batches per optimizer step"},                                                                      \
    {.name = "deterministic", .type = CLI_OPT_FLAG,                                                                    \
     .help = "under mpirun: fixed micro-batch gradient order, weights bitwise equal for any rank count"},               \
    {.name = "seq-len", .type = CLI_OPT_INT, .metavar = "N", .def = "512", .min = 2, .max = 1 << 20,                   \
     .help = "max tokens per training example"},                                                                       \
    {.name = "truncate", .type = CLI_OPT_STR, .metavar = "POLICY", .def = "skip",                                      \
     .help = "longer examples: skip (reported) or right (cut, reported)"},                                             \
    {.name = "weight-decay", .type = CLI_OPT_FLOAT, .metavar = "X", .def = "0.1", .min = 0, .max = 10,                 \
     .help = "AdamW weight decay"},                                                                                    \
    {.name = "beta2", .type = CLI_OPT_FLOAT, .metavar = "X", .def = "0.95", .min = 0, .max = 0.999999,                 \
     .help = "AdamW beta2"},                                                                                           \
    {.name = "clip", .type = CLI_OPT_FLOAT, .metavar = "X", .def = "1", .min = 0, .max = 1e9,                          \
     .help = "global gradient-norm clip (0 = off)"},                                                                   \
    {.name = "eval-frac", .type = CLI_OPT_FLOAT, .metavar = "F", .def = "0", .min = 0, .max = 0.9,                     \
     .help = "held-out fraction for the eval loss"},                                                                   \
    {.name = "eval-every", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 1000000000,               \
     .help = "steps between evaluations (0 = start and end)"},                                                         \
    {.name = "save-every", .type = CLI_OPT_INT, .metavar = "N", .def = "100", .min = 0, .max = 1000000000,             \
     .help = "steps between checkpoints (0 = end only)"},                                                              \
    {.name = "log-every", .type = CLI_OPT_INT, .metavar = "N", .def = "10", .min = 1, .max = 1000000000,               \
     .help = "steps between metrics lines"},                                                                           \
    {.name = "fail-on-bad", .type = CLI_OPT_FLAG,                                                                      \
     .help = "stop at the first bad training record (default: report, count, skip)"},                                  \
    {.name = "no-bucket", .type = CLI_OPT_FLAG, .help = "do not group training examples of similar length"},           \
    {.name = "export-dtype", .type = CLI_OPT_STR, .metavar = "T", .def = "f32",                                        \
     .help = "f32, f16 or bf16 weights in the exported models"},                                                       \
    {.name = "gguf", .type = CLI_OPT_FLAG, .help = "also export each trained model as GGUF"}

/* Read the CLI_TRAIN_OPTIONS values of a into o. On a bad value or
 * combination, prints "selfalign: error: <cmd>: ..." and returns false. */
bool cli_train_apply(const cli_args *a, const char *cmd, sa_train_opts *o);

#endif
