/* train_internal.h (internal to src/train) — helpers the trainer shares
 * with its export step. */
#ifndef SA_TRAIN_INTERNAL_H
#define SA_TRAIN_INTERNAL_H

#include "sa/log.h"
#include "sa/status.h"

/* Copy the tokenizer files that belong with a model into an exported HF
 * directory so that the directory loads on its own. src is what the
 * tokenizer was loaded from: an HF directory (or a config.json inside one)
 * contributes the tokenizer files it holds (tokenizer.json,
 * tokenizer_config.json, special_tokens_map.json, vocab.json, merges.txt,
 * tokenizer.model, generation_config.json, tokenizer.bin); a single file
 * is copied as tokenizer.json (.json) or tokenizer.bin (a llama2.c
 * tokenizer). A GGUF source has no separate files: a warning says to use
 * the GGUF export. Each copy is atomic. */
sa_status sa_train_copy_tokenizer(const char *src, const char *dst_dir, const sa_log *log, sa_err *err);

#endif
