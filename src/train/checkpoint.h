/* checkpoint.h (internal to src/train) — training checkpoints and the
 * metrics log's resume point.
 *
 * A checkpoint is OUT/ckpt-NNNNNNNN/state.safetensors holding three F32
 * tensors of the same length — "params" (the trainable vector: all weights
 * for full fine-tuning, the adapter for LoRA), "adam_m", "adam_v" — and
 * metadata: format "selfalign.ckpt.v1", step, adam_t and "config", the
 * JSON of the settings that must not change across a resume.
 * OUT/checkpoint.json ({"step": N, "dir": "ckpt-NNNNNNNN"}) names the
 * latest complete one; it is replaced atomically after the state file is
 * synced, and older ckpt-* directories are removed only after that, so
 * some complete checkpoint survives a kill at any instant.
 *
 * Ownership: nothing is retained; buffers belong to the caller.
 */
#ifndef SA_TRAIN_CHECKPOINT_H
#define SA_TRAIN_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sa/optim.h"
#include "sa/status.h"

sa_status sa_ckpt_save(const char *out_dir, int64_t step, const float *params, const sa_adamw *opt,
                       const char *config_json, sa_err *err);

/* Load the checkpoint named by OUT/checkpoint.json into params[opt->n] and
 * opt (moments and t). *found is false (and nothing changes) when there is
 * none. A checkpoint of another length or written with different settings
 * is an error naming the settings that differ. */
sa_status sa_ckpt_load(const char *out_dir, float *params, sa_adamw *opt, const char *config_json, int64_t *step,
                       bool *found, sa_err *err);

/* Keep the lines of a metrics JSONL file whose "step" is <= step (and drop
 * a torn last line); absent file: nothing to do. Rewritten atomically. */
sa_status sa_metrics_truncate(const char *path, int64_t step, sa_err *err);

#endif
