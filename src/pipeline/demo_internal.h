/* demo_internal.h — what demo_world.c needs from demo_bpe.c (internal to
 * src/pipeline, not installed).
 *
 * Also the world generator's shared state and helpers, and the evaluation
 * of the demo's models (demo_eval.c), below.
 *
 * sa_demo_bpe_write trains a byte-level BPE on ASCII text (GPT-2
 * pre-tokenization, merges by pair frequency until no pair occurs at least
 * min_count times or max_vocab pieces exist) and writes dir/tokenizer.json
 * (ids 0..255 the bytes, 256 <|endoftext|>, 257 <|im_start|>, 258
 * <|im_end|>, then one piece per merge) and dir/tokenizer_config.json (a
 * ChatML chat template, eos <|endoftext|>, no BOS). Words that occur often
 * enough become single tokens. Deterministic: ties between pairs go to the
 * smaller ids. Text must be ASCII without NUL (SA_ERR_INVALID_ARG
 * otherwise).
 */
#ifndef SA_PIPELINE_DEMO_INTERNAL_H
#define SA_PIPELINE_DEMO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sa/status.h"

#define SA_DEMO_TOK_EOT 256 /* <|endoftext|> */

sa_status sa_demo_bpe_write(const char *text, size_t n, const char *dir, int32_t max_vocab, int32_t min_count,
                            int32_t *vocab_size, sa_err *err);

/* ---- the world generator's shared state (demo_world.c, demo_pages.c) ---- */

#include <jansson.h>
#include <stdbool.h>

#include "sa/demo_world.h"
#include "sa/rng.h"
#include "sa/strbuf.h"

#define MAX_ENT 32
#define MAX_PLACES 8
#define N_PLACES 6
#define DW_MAX_ITEMS 40

typedef struct entity {
    char name[16];
    int home, trade, friend_;
    int goods[3];
} entity;

typedef struct dw {
    const sa_demo_world_opts *o;
    sa_rng rng;
    entity ent[MAX_ENT];
    int n_ent;
    char places[MAX_PLACES][16];
    const char *items[DW_MAX_ITEMS];
    int n_items;
    uint64_t *reserved;
    size_t n_reserved, cap_reserved;
    sa_strbuf all; /* every text, for the tokenizer */
} dw;

/* Text templates: {E} entity, {F} its friend, {P} home, {Q} another place,
 * {T} trade, {a} {b} {c} items, {g} genre word, {N} another entity, {k} a
 * small number. */
typedef struct dw_ctx {
    const char *E, *F, *P, *Q, *T, *a, *b, *c, *g, *N;
    int k;
} dw_ctx;

int sa_dw_rnd(dw *w, int n);
sa_status sa_dw_put_t(sa_strbuf *sb, const char *t, const dw_ctx *c);
/* A context for entity e with fresh random items, places and names. */
dw_ctx sa_dw_make_ctx(dw *w, int e);
/* A task of genre g whose key is not reserved for the evaluation (reserve
 * it when keep); *ent (may be NULL) receives the entity index. */
sa_status sa_dw_draw_task(dw *w, int g, bool keep, sa_demo_task *t, int *ent);
int sa_dw_seen_genre(dw *w);
int sa_dw_heldout_genre(dw *w);
/* Append text (and a newline) to the tokenizer's training text. */
sa_status sa_dw_add_all(dw *w, const char *s, size_t n);
sa_status sa_dw_write_file(const char *dir, const char *name, const sa_strbuf *sb, sa_err *err);
/* Append j (stolen) as one canonical JSON line. */
sa_status sa_dw_dump(json_t *j, sa_strbuf *out, sa_err *err);
/* n_sent encyclopedic sentences about entity e. */
sa_status sa_dw_article_text(dw *w, int e, int n_sent, sa_strbuf *out);
/* unlabeled/pages.jsonl and pages_truth.jsonl (demo_pages.c). */
sa_status sa_dw_write_pages(dw *w, const char *dir, sa_demo_world_stats *st, sa_err *err);

/* ---- evaluating the demo's models (demo_eval.c) ---- */

#include <stdio.h>

#include "sa/engine.h"
#include "sa/eval.h"
#include "sa/prompts.h"

typedef struct sa_demo_item {
    sa_demo_task task;
    char *id, *prompt, *answer; /* answer: the one text that passes */
    bool heldout;
} sa_demo_item;

typedef struct sa_demo_items {
    sa_demo_item *v;
    size_t n;
} sa_demo_items;

/* world/eval.jsonl (every line must parse as a demo eval item). */
sa_status sa_demo_items_load(const char *file, sa_demo_items *out, sa_err *err);
void sa_demo_items_free(sa_demo_items *it);

typedef struct sa_demo_eval_spec {
    const char *out_dir;   /* results go to out_dir/eval/ (must exist) */
    const char *name;      /* file stem: "m0" */
    const char *label;     /* shown in the report: "M0" */
    const char *model_dir;
    const char *system;    /* system message of every prompt; NULL = none */
    int threads;
    uint64_t seed;
} sa_demo_eval_spec;

typedef struct sa_demo_eval_result {
    sa_demo_split_score heldout, seen;
    double heldout_lo, heldout_hi, seen_lo, seen_hi; /* 95% bootstrap interval of pass */
    double nll_heldout, nll_seen;                    /* mean reference NLL per token */
    double answer_prompts_per_s, nll_prompts_per_s;
} sa_demo_eval_result;

/* Answers, checker scores and reference NLL of one model (see demo_eval.c);
 * chance[0] held-out, chance[1] seen. */
sa_status sa_demo_eval_model(const sa_demo_eval_spec *m, const sa_demo_items *it, const sa_demo_chance *chance,
                             sa_demo_eval_result *res, sa_err *err);
/* a against b on the held-out split, a judging in both orders (logits). */
sa_status sa_demo_eval_pairwise(const sa_demo_eval_spec *a, const sa_demo_eval_spec *b, const sa_prompts *prompts,
                                const sa_demo_items *it, sa_eval_pairwise_result *res, sa_err *err);

/* An sa_gen_callback: the text of request id into ((char **)ctx)[id]
 * (request ids are item indexes), replacing what was there. */
sa_status demo_collect_text(void *ctx, const sa_gen_result *res);

#endif
