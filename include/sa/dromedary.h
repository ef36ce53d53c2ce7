/* dromedary.h — principle-driven self-alignment, end to end, resumable.
 *
 * Purpose: `selfalign dromedary` (DESIGN.md 1.2): from a base model, seed
 * tasks and (optionally) red-team question types, run the four stages of
 * SELF-ALIGN in one run directory (run.h), like `humpback`:
 *
 *   selfinstruct/  prompts.jsonl (+ .rejected.jsonl, .journal), stats.json:
 *                  new user prompts from the base model, bootstrapped from
 *                  the seed and red-teamed per question type (selfinstruct.h)
 *   principles/    queries.jsonl (the seed instructions, unless
 *                  seed_prompts is off, then the new prompts), answers.jsonl
 *                  (+ .rejected.jsonl, .journal), stats.json: the base model
 *                  answers each query after the principles and exemplars;
 *                  only the filtered final answer is kept (principles.h)
 *   engrave/       the base fine-tuned on (query -> answer) WITHOUT the
 *                  principles or exemplars (trainer.h; LoRA r = 16 on
 *                  q, k, v, o by default in the CLI)
 *   clone-gen/     answers.jsonl: the engraved model answers every query
 *                  under the verbose persona prompt (principles.h verbose mode)
 *   clone/         the final model: the base fine-tuned on those answers
 *                  WITHOUT the persona prompt (context distillation)
 *
 * At the end of a complete run, RUN/report.html (report.h) is written.
 * Resumption, config checking and SIGINT behave as in humpback.h: rerun the
 * same command to continue; a run with other settings is refused. Each
 * stage's summary in the manifest makes the counts add up: self-instruct
 * candidates = accepted + rejected (by reason); queries = answers accepted +
 * rejected (by reason) + bad lines, for both generation stages.
 *
 * A stage that leaves nothing to train on (no answer passed the filters)
 * fails with a message naming the rejected file and the reasons, instead of
 * training on nothing.
 *
 * Ownership: options borrow every string and array.
 *
 * Usage:
 *     sa_dromedary_opts o = sa_dromedary_defaults();
 *     o.run_dir = "runs/d1"; o.base = "base/"; o.seed_path = "seed_tasks.jsonl";
 *     o.engrave.lora.rank = 16; o.engrave.lora.targets = q|k|v|o;
 *     if (sa_dromedary_run(&o, &err)) ...;
 */
#ifndef SA_DROMEDARY_H
#define SA_DROMEDARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sa/dist.h"
#include "sa/engine_http.h"
#include "sa/status.h"
#include "sa/trainer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_dromedary_opts {
    const char *run_dir;        /* required */
    const char *base;           /* required */
    const char *tokenizer;      /* NULL: the base's own */
    const char *template_name;  /* NULL: the tokenizer's, else alpaca */
    const char *seed_path;      /* seed tasks (selfinstruct.h formats); required */
    const char *redteam_path;   /* red-team question types; NULL = none */
    const char *prompts_dir;    /* NULL: built-in prompts */
    bool seed_prompts;          /* answer the seed instructions too (default true) */
    /* stage 1 */
    uint64_t target;            /* new prompts to generate (default 200) */
    uint32_t max_rounds;        /* self-instruct rounds at most (0 = no limit) */
    uint32_t stall_rounds;      /* stop after this many fruitless rounds (default 50) */
    uint32_t k;                 /* pool examples per prompt (default 6) */
    uint32_t topics_per_type, questions_per_topic; /* 0 = stage defaults */
    int32_t si_max_tokens;      /* default 256 */
    /* stages 2 and 4 */
    int32_t answer_max_tokens;  /* default 512 */
    int32_t n_exemplars;        /* principle answers: the first N exemplars in the prompt (0 = all; principles.h) */
    float temperature, top_p;   /* sampling for every generation (0.7, 0.9) */
    uint32_t min_words;         /* shortest accepted answer (default 8) */
    const char *const *leak_words; /* extra leakage phrases */
    size_t n_leak_words;
    /* stages 3 and 5 */
    sa_train_opts engrave;      /* engraving fine-tune (base, data, out... filled in) */
    sa_train_opts clone;        /* verbose-cloning fine-tune */
    uint64_t seed;              /* run seed (default 1) */
    /* execution (not part of the config) */
    int32_t gen_batch;          /* default 8 */
    int threads;
    bool prefix_cache;          /* default true */
    FILE *log;
    /* NULL: generation and scoring run in this process; else every stage
     * that generates or scores does it on this OpenAI-compatible server:
     * the base stages on its own model, the others on RUN/<stage>/model,
     * loaded by name at run time (selfalign serve --models-root; see
     * engine_http.h, docs/scale.md). Training stays local. Borrowed. */
    const sa_engine_http_opts *http;
    /* NULL or one rank: alone. Under mpirun -np N (dist.h) rank 0 owns the
     * run directory; augmentation and curation are sharded across ranks
     * and every fine-tune is data-parallel (trainer.h); other stages run
     * on rank 0. Outputs equal a one-process run's (bitwise with
     * train.deterministic). Borrowed. */
    const sa_dist *dist;
    bool quiet;
} sa_dromedary_opts;

sa_dromedary_opts sa_dromedary_defaults(void);

/* The stage names, in order. */
extern const char *const sa_dromedary_stages[5];

sa_status sa_dromedary_run(const sa_dromedary_opts *o, sa_err *err);

#ifdef __cplusplus
}
#endif
#endif
