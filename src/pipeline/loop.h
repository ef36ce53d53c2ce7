/* loop.h — what the method loops (humpback.c, dromedary.c) share: one run
 * directory, the run's tokenizer and chat template, and helpers that run a
 * stage with its manifest bookkeeping, fine-tune the base into a stage
 * folder, and load a stage's model behind a local engine.
 *
 * MPI (dist of N > 1 ranks): every rank runs the same loop. Rank 0 alone
 * owns the run directory (lock, manifest, report); it decides which stages
 * are done and every rank follows. The sharded stages (backtranslate,
 * curate) and training take the process group; stages that cannot be split
 * run on rank 0 while the others wait (sa_loop_root). A stage ends for all
 * ranks with one status (sa_dist_agree): a failure anywhere stops all.
 *
 * Internal to src/pipeline (not installed): the public surface of each loop
 * is its own header. Ownership: sa_loop_open loads the prompts and the
 * tokenizer and opens the run; sa_loop_close releases them. Options are
 * borrowed and must outlive the loop.
 */
#ifndef SA_PIPELINE_LOOP_H
#define SA_PIPELINE_LOOP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "sa/chat.h"
#include "sa/dist.h"
#include "sa/engine.h"
#include "sa/engine_http.h"
#include "sa/log.h"
#include "sa/model.h"
#include "sa/prompts.h"
#include "sa/run.h"
#include "sa/sft.h"
#include "sa/strbuf.h"
#include "sa/tokenizer.h"
#include "sa/trainer.h"

typedef struct sa_loop {
    /* borrowed settings */
    const char *base, *tokenizer_path, *template_name;
    uint64_t seed;
    int threads;
    int32_t gen_batch;
    bool prefix_cache, quiet;
    FILE *out;
    const sa_engine_http_opts *http; /* NULL: every stage's model runs in this process */
    const sa_dist *dist;             /* NULL or one rank: alone; else see "MPI" above */
    /* owned */
    sa_run *run;          /* rank 0 only (NULL on the other ranks) */
    char *dir;            /* the run directory as given */
    sa_log log;
    sa_prompts *prompts;
    sa_tokenizer *tok; /* every model of a run shares the base's tokenizer */
    sa_chat_template tmpl;
    sa_strbuf scratch[3];
} sa_loop;

/* Fill the borrowed settings first, then open: prompts (prompts_dir may be
 * NULL), tokenizer, template, and the run (config, stages: run.h). */
sa_status sa_loop_open(sa_loop *l, const char *run_dir, const char *kind, const char *log_prefix,
                       const char *prompts_dir, const json_t *config, char *const *stages, size_t n_stages,
                       sa_err *err);
void sa_loop_close(sa_loop *l);

/* True on the rank that owns the run (rank 0; the only one alone). */
bool sa_loop_root(const sa_loop *l);

/* RUN/rel in scratch buffer i (0..2); NULL when out of memory. */
const char *sa_loop_path(sa_loop *l, int i, const char *rel);

typedef sa_status (*sa_loop_stage_fn)(sa_loop *l, void *ctx, const char *name, json_t **summary, sa_err *err);
/* Run one stage unless the manifest says it is done; record its state,
 * time and summary. */
sa_status sa_loop_stage(sa_loop *l, const char *name, sa_loop_stage_fn fn, void *ctx, sa_err *err);
/* The same for a stage that cannot be split across ranks: fn runs on rank
 * 0 only; the other ranks wait for its status. */
sa_status sa_loop_stage_root(sa_loop *l, const char *name, sa_loop_stage_fn fn, void *ctx, sa_err *err);

/* Fine-tune the base (from t's method and optimisation settings) on data
 * into RUN/<dir> (resuming from its checkpoint); summary: steps, losses,
 * data counts. */
sa_status sa_loop_train(sa_loop *l, const sa_train_opts *t, const char *dir, const char *const *data, size_t n_data,
                        bool reverse, const sa_sft_tag *tags, size_t n_tags, json_t **summary, sa_err *err);

/* Close the loop (releasing the run, so the report sees it finished) and,
 * when report is true, write RUN/report.html (report.h) and log its path; a
 * report that cannot be written is a warning: the run's results stand. */
void sa_loop_finish(sa_loop *l, const char *run_dir, bool report);

/* Load RUN/<dir>/model (the base when dir is NULL) behind a local engine;
 * with http set, an HTTP engine instead (*m stays NULL): the server's own
 * model for the base, else RUN/<dir>/model by name, loaded by the server
 * if it does not have it yet and unloaded when the engine is freed
 * (engine_http.h). */
sa_status sa_loop_engine(sa_loop *l, const char *dir, sa_model **m, sa_engine **e, sa_err *err);

#endif
