/* humpback.h — the instruction-backtranslation loop, end to end, resumable.
 *
 * Purpose: `selfalign humpback` (DESIGN.md 1.1): from a base model, a seed
 * set and unlabeled documents, run every stage of the method in one run
 * directory (run.h) and leave curated datasets, trained models and
 * statistics:
 *
 *   corpus/      segments.jsonl, rejected.jsonl, stats.json    (corpus.h)
 *   backward/    M_yx: the base fine-tuned on the seed reversed (trainer.h)
 *   augment/     candidates.jsonl (+ .rejected.jsonl, .journal), stats.json:
 *                one instruction per segment written by M_yx (backtranslate.h)
 *   m0/          M0: the base fine-tuned on the seed (tagged)
 *   curate-1/    scored.jsonl (every candidate with its score or the reason it
 *                has none), selected.jsonl (score >= min_score),
 *                selected.<format>.jsonl with an export format, stats.json;
 *                rated by M0 (curate.h)
 *   m1/          M1: the BASE fine-tuned on seed + curate-1/selected.jsonl
 *   curate-2/    the same candidates rated by M1
 *   m2/          ...and so on for `iterations` rounds.
 *   control/     with `control`: the base fine-tuned on seed + EVERY candidate
 *                (no curation), the paper's "uncurated data" comparison.
 *
 * Every M_t starts from the base model, never from M_{t-1}. Seed records
 * train with the "seed" system sentence (prompts tag_seed), augmented ones
 * with the "augmented" sentence (tag_augmented); records without a source
 * get none. Backtranslation and curation prompts are built from the same
 * chat template the models were trained with (sa_chat_template_resolve).
 *
 * At the end of a complete run, RUN/report.html (report.h) is written.
 *
 * Resumption: manifest.json holds the resolved config and each stage's
 * state; rerunning the same command skips done stages and resumes the
 * interrupted one: corpus is deterministic and rewritten, training resumes
 * from its last checkpoint (bit-exact with the same thread count),
 * backtranslation and curation skip journaled records. The final outputs of
 * a run killed (even with SIGKILL) and rerun any number of times equal
 * those of an uninterrupted run. A rerun with different settings is refused
 * (run.h). SIGINT/SIGTERM stop the current stage cleanly
 * (SA_ERR_INTERRUPTED; the stage is marked interrupted).
 *
 * Accounting (each stage's summary in the manifest): corpus segments =
 * kept + rejected (by reason); kept = candidates accepted + rejected by
 * backtranslation (by reason); candidates = selected + below threshold +
 * unparsable + errors at every iteration.
 *
 * Ownership: options borrow every string and array; nothing is retained
 * after sa_humpback_run returns.
 *
 * Usage:
 *     sa_humpback_opts o = sa_humpback_defaults();
 *     o.run_dir = "runs/h1"; o.base = "base/"; o.seed_path = "seed.jsonl";
 *     o.corpus = paths; o.n_corpus = 1;
 *     o.train.lora.rank = 16; o.train.steps = 200;
 *     if (sa_humpback_run(&o, &err)) ...;   // SA_ERR_INTERRUPTED: rerun to continue
 */
#ifndef SA_HUMPBACK_H
#define SA_HUMPBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sa/corpus.h"
#include "sa/curate.h"
#include "sa/record.h"
#include "sa/dist.h"
#include "sa/engine_http.h"
#include "sa/status.h"
#include "sa/trainer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_humpback_opts {
    const char *run_dir;          /* required */
    const char *base;             /* base model (HF dir, .gguf, llama2.c .bin); required */
    const char *tokenizer;        /* NULL: the base's own (used for every model of the run) */
    const char *template_name;    /* NULL: the tokenizer's chat template, else alpaca */
    const char *seed_path;        /* seed records (any format record.h reads); required */
    const char *const *corpus;    /* documents: files or directories; required */
    size_t n_corpus;
    const char *prompts_dir;      /* NULL: built-in prompts */
    int32_t iterations;           /* curation + training rounds after M0 (default 2) */
    bool control;                 /* also train the uncurated control (default false) */
    sa_curate_mode mode;          /* default logits */
    double min_score;             /* selection threshold; NAN = the mode's default (see below) */
    sa_corpus_opts corpus_opts;   /* corpus.h defaults */
    /* backtranslation */
    int32_t bt_max_tokens;        /* 128 */
    float bt_temperature, bt_top_p; /* 0.7, 0.9 */
    uint32_t max_instruction_chars; /* 1000 */
    /* curation */
    int32_t curate_max_tokens;    /* generate/constrained reason tokens (256) */
    float curate_temperature;     /* 0 (greedy) */
    /* every fine-tune: base, tokenizer, template_name, data, out_dir, reverse,
     * tags, resume, seed and threads are filled in by the loop */
    sa_train_opts train;
    /* > 0: M1..Mn and the control train exactly this many optimizer steps,
     * whatever their data size (equal compute, so Mn against the control
     * compares the data, not the number of updates); 0 (default): they
     * train like every fine-tune, by train.steps or train.epochs */
    int64_t model_steps;
    uint64_t seed;                /* run seed: training, sampling, MinHash (default 1) */
    /* execution (not part of the config: they do not change results) */
    int32_t gen_batch;            /* sequences decoded together (8) */
    int threads;                  /* 0 = all CPUs (training is bit-exact only at the same count) */
    bool prefix_cache;            /* share the rubric's KV prefix (default true) */
    sa_record_format export_format; /* also export selected records (SA_RECORD_FORMAT_AUTO = no) */
    FILE *log;                    /* progress and log lines (NULL = stderr) */
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
    bool quiet;                   /* no progress bars */
} sa_humpback_opts;

/* Defaults as listed above; min_score NAN means: 5 for generate and
 * constrained (the paper's A5), 4.5 for logits (an expected score), 0 for
 * pmi (the instruction makes the output more likely). */
sa_humpback_opts sa_humpback_defaults(void);
/* The threshold the run uses for o (resolving NAN as above). */
double sa_humpback_min_score(const sa_humpback_opts *o);

/* Stage names in order for n iterations: "corpus", "backward", "augment",
 * "m0", then "curate-t", "mt" for t = 1..n, then "control" when asked.
 * *out is malloc'd (free it and each string with sa_humpback_stages_free). */
sa_status sa_humpback_stages(int32_t iterations, bool control, char ***out, size_t *n, sa_err *err);
void sa_humpback_stages_free(char **stages, size_t n);

/* Run (or resume) the whole loop. */
sa_status sa_humpback_run(const sa_humpback_opts *o, sa_err *err);

#ifdef __cplusplus
}
#endif
#endif
