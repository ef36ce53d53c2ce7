/* trainer.h — the fine-tuning loop: data, steps, evaluation, checkpoints,
 * resume and export.
 *
 * Purpose: every fine-tune of the methods (the Humpback backward model,
 * M0..Mt; Dromedary's engraving and cloning) is one sa_train_run call:
 * load a base model and tokenizer, turn record files (or plain text) into
 * examples (sft.h), and train all weights or LoRA adapters with AdamW
 * (optim.h) on the response tokens, writing into an output directory:
 *
 *   OUT/train_config.json   the resolved configuration (written at start)
 *   OUT/metrics.jsonl       one line per logged step: step, epoch, loss, lr,
 *                           grad_norm, tokens, tokens_per_s, elapsed_s,
 *                           and eval_loss / eval_tokens when evaluated
 *   OUT/data_stats.json     what the data step kept, cut and reported
 *   OUT/checkpoint.json     points at the latest complete checkpoint
 *   OUT/ckpt-NNNNNNNN/      state.safetensors: trainable parameters, AdamW
 *                           moments, step and a fingerprint of the config
 *   OUT/model/              at the end: an HF directory (config.json,
 *                           model.safetensors, the base's tokenizer files),
 *                           LoRA merged in
 *   OUT/adapter/            with LoRA: a PEFT adapter directory
 *   OUT/model.gguf          with gguf export: the merged model + tokenizer
 *
 * Determinism and resume: the batch order of each epoch, the dropout masks
 * and the LoRA initialisation are functions of (seed, step), so a run that
 * resumes from a checkpoint sees the same batches with the same masks. A
 * checkpoint is written into a new directory, synced, and only then named
 * by checkpoint.json (written atomically), so a kill at any moment leaves
 * the previous checkpoint intact. Resuming truncates metrics.jsonl to the
 * checkpoint's step. With the same thread count the resumed run's final
 * weights are bitwise identical to an uninterrupted run's (tests check one
 * and two threads).
 *
 * Data parallelism (dist.h): with o->dist of N > 1 ranks (mpirun -np N),
 * every rank loads the same model and data and plans the same batches (a
 * function of seed and step), computes gradients on its share of each
 * optimizer step, and the gradients and loss sums are all-reduced (summed
 * to rank 0 and broadcast, so every rank holds the same bits); every rank
 * then clips and applies the same AdamW update, so the weights stay
 * bitwise identical on all ranks. The loss of a step is normalised by the
 * response tokens of the whole global step (all ranks' micro-batches), so
 * the summed gradient is the single-process one up to rounding. Only rank
 * 0 writes train_config.json, data_stats.json, metrics.jsonl, checkpoints
 * and the exported model; on resume every rank reads the checkpoint (the
 * output directory must be on a filesystem all ranks see). The stop
 * decision (stop_after, a signal on any rank) is agreed by all ranks, so
 * all of them stop after the same step. Evaluation batches are split
 * across ranks and the loss sums all-reduced.
 *
 *   default mode: each micro-batch's B sequences are split into N
 *     contiguous row ranges (rank r: rows [r*B/N, (r+1)*B/N)), so one
 *     optimizer step of B x grad_accum sequences is shared by all ranks
 *     even with grad_accum 1. The result differs from one process only by
 *     floating-point summation order (smaller GEMMs, a different reduction
 *     tree) and, with dropout, by the masks (they are a hash of the row
 *     within the sub-batch). Tolerance, as tests/test_mpi.c checks it for
 *     a 2-rank full fine-tune of stories260K without dropout for 12 steps:
 *     every weight within 1e-3 absolute + 1e-2 relative of one process's,
 *     final loss within 1e-3 relative.
 *   deterministic mode (o->deterministic): the unit of work is the whole
 *     micro-batch. Micro-batch j of a step (0 <= j < grad_accum) belongs
 *     to rank floor(j*N/grad_accum); its gradient is computed alone into
 *     its own zeroed slot (signed zeros made +0), the slots are all-reduced
 *     (each element has one non-zero contributor, so the sum is exact),
 *     and every rank adds the slots in the fixed order j = 0, 1, ...; one
 *     process does exactly the same. With the same --threads per rank the
 *     weights after any number of steps are bitwise identical for every N
 *     (tests check N = 1 and 2). Cost: grad_accum gradient copies in memory
 *     and on the wire per step, and no speed-up unless grad_accum >= N
 *     (use grad_accum a multiple of N); meant for verification and small
 *     models.
 *
 * Ownership: sa_train_opts borrows every string and array; the run owns
 * everything it allocates and frees it before returning.
 *
 * Usage:
 *     sa_train_opts o = sa_train_defaults();
 *     o.base = "models/base"; o.data = files; o.n_data = 1; o.out_dir = "runs/m0";
 *     o.lora.rank = 16;                      // 0: full fine-tuning
 *     sa_train_result r;
 *     if (sa_train_run(&o, &r, &err)) ...;
 */
#ifndef SA_TRAINER_H
#define SA_TRAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sa/dist.h"
#include "sa/dtype.h"
#include "sa/lora.h"
#include "sa/optim.h"
#include "sa/sft.h"
#include "sa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_train_opts {
    /* inputs and outputs */
    const char *base;           /* model path (HF dir, .gguf, llama2.c .bin) */
    const char *tokenizer;      /* NULL: the model's own (its directory or GGUF) */
    const char *const *data;    /* record files (or text files with text_mode) */
    size_t n_data;
    const char *out_dir;
    /* data */
    bool text_mode;             /* plain-text language-model training */
    const char *template_name;  /* NULL: the tokenizer's chat template, else chatml/alpaca/... */
    const sa_sft_tag *tags;
    size_t n_tags;
    bool reverse;
    sa_sft_trunc trunc;
    bool fail_on_bad;
    int32_t seq_len;            /* max tokens per example */
    double eval_frac;           /* held-out fraction, 0 = none */
    bool bucket;                /* length-bucketed batches */
    /* method */
    sa_lora_config lora;        /* rank 0: full fine-tuning */
    float dropout;              /* residual dropout, 0 = off */
    /* optimisation */
    int64_t epochs;             /* used when steps == 0 */
    int64_t steps;              /* optimizer steps; 0 = epochs */
    int32_t batch;              /* sequences per micro-batch */
    int32_t grad_accum;         /* micro-batches per optimizer step */
    sa_lr_schedule sched;       /* total_steps is filled in by the run */
    sa_adamw_params adamw;
    float clip;                 /* global gradient-norm clip, 0 = off */
    uint64_t seed;
    int threads;
    /* cadence */
    int64_t log_every;          /* steps between metrics lines (the last step is always logged) */
    int64_t eval_every;         /* steps between evaluations, 0 = only at start and end */
    int64_t save_every;         /* steps between checkpoints, 0 = only at the end */
    bool resume;                /* continue from OUT/checkpoint.json if present */
    /* export */
    sa_dtype export_dtype;      /* F32, F16 or BF16 for model.safetensors */
    bool export_gguf;
    const char *base_name;      /* recorded in adapter_config.json (default: base path) */
    /* reporting */
    FILE *log;                  /* progress and log lines (NULL = stderr) */
    bool quiet;                 /* no progress bar / periodic lines; the config is logged as its file path */
    int64_t stop_after;         /* testing aid: return SA_ERR_INTERRUPTED after this many
                                 * steps of this invocation (0 = off), as if interrupted */
    /* data parallelism */
    const sa_dist *dist;        /* NULL or size 1: one process (see "Data parallelism") */
    bool deterministic;         /* fixed micro-batch gradient order: bitwise equal for any rank count */
} sa_train_opts;

/* Defaults: seq_len 512, batch 8, grad_accum 1, epochs 1, lr 1e-5 constant,
 * lr_final = lr, warmup 0, AdamW betas (0.9, 0.95), eps 1e-8, weight decay
 * 0.1, clip 1.0, seed 1, threads 0 (all CPUs), log_every 10, bucketed
 * batches, trunc skip, LoRA alpha 2*rank with dropout 0.05 on all targets
 * when rank is set, export F32. */
sa_train_opts sa_train_defaults(void);

typedef struct sa_train_result {
    int64_t steps;              /* optimizer steps taken in total (including before a resume) */
    int64_t resumed_from;       /* step the run resumed at, 0 if fresh */
    float first_loss, final_loss; /* training loss of the first and last step of this call */
    float eval_loss_start, eval_loss_end; /* NAN when there is no eval split */
    int64_t train_examples, eval_examples;
    double tokens_per_s;        /* trained tokens (non-padding rows) per second in this call */
    sa_sft_stats data;
} sa_train_result;

/* Run (or resume) a training job. SIGINT/SIGTERM (signal.h) make it write a
 * checkpoint and return SA_ERR_INTERRUPTED. */
sa_status sa_train_run(const sa_train_opts *o, sa_train_result *r, sa_err *err);

#ifdef __cplusplus
}
#endif
#endif
