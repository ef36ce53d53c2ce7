/* demo_world.h — a seeded, procedurally generated small world for the
 * `selfalign demo` run, and the automatic checker of its evaluation set.
 *
 * Purpose: a world in which instruction backtranslation has an effect a
 * tiny model can show in minutes (DESIGN.md §7). The world is thirty GENRES
 * of short document, each a fixed form over words named by the request:
 *
 *     instruction  "Write a timetable for Borl about rope."
 *     answer       "Here is a timetable for Borl, all about rope.\n"
 *                  "morning: rope\nnoon: rest\nevening: Borl\n"
 *                  "That was the timetable."
 *
 * Twenty-five genres are SEEN: five with their own layouts (list, letter,
 * song, poster, diary) and twenty more (card, memo, poem, ...) that share
 * those five layouts, so that the backward model sees many genre words in
 * the instruction's genre slot and is pushed to copy the word from the
 * page rather than to pick among a few. The seed pairs ask for them and the
 * pretraining text shows their documents. The other five (timetable,
 * recipe, riddle, ledger, notice; genre ids 5..9) are HELD OUT: their
 * documents appear only in the unlabeled web pages, never in the seed and
 * never in the pretraining text (which does use their words in prose, so
 * the tokens are trained). The held-out evaluation asks for held-out genres
 * with (entity, item) combinations that appear nowhere else. Everything an
 * answer needs is in the instruction (copied, not recalled): what the model
 * can only learn from the unlabeled pages is the genre's form — that is
 * what backtranslation must carry into instruction following. Every
 * document opens with a line that restates the request in the
 * instruction's own word order ("a timetable for Borl", "about rope"), so
 * both directions are copies a small model can learn (the backward model
 * must copy the genre word of a genre it never saw asked for). Names are
 * single tokens (a byte-level BPE trained here on the world's text), there
 * are few entities, and every automatic score has a stated chance level.
 *
 * The unlabeled pages are web-like Markdown documents (JSONL, one page a
 * line) with realistic junk: navigation menus, cookie banners, footers and
 * link lists (removed by the corpus stage: boilerplate headers, few
 * letters), exact and near-duplicate mirrors (removed by dedup), and junk
 * the corpus stage cannot see — reader-comment threads under a harmless
 * header, threads appended inside a genre section, truncated pages, and
 * DECOYS: a shop network's pages that copy a document's opening and
 * closing lines to rank for them and put between them the network's
 * slogan and three to five advert lines, stuffed with the genre word
 * ("The best riddle prices of the season, only this week!"). Stuffing the
 * genre word makes the backward model write the same instruction a clean
 * page of that genre gets; the adverts, which the instruction does not
 * explain, keep their pmi score low. Decoys outnumber the clean pages of
 * every held-out genre (96 against 56), so a model fine-tuned on every
 * backtranslated candidate can learn to answer a held-out request with
 * the slogan; self-curation has to keep them out.
 *
 * The pretraining text also holds helper transcripts in the markers of
 * Dromedary's exemplars ("### User:", "### Internal thoughts:", "### Answer:",
 * "### End"; seen genres only), as a web-scale base has seen chat logs, and
 * world/prompts/ holds Dromedary's principles, exemplars, persona,
 * self-instruct and judge prompts in the world's language (the built-ins
 * are longer than the demo model's context).
 *
 * Files written under dir (all deterministic in the options: the same seed
 * gives byte-identical files):
 *   world.json            sizes, genres (seen / held out), entities and their
 *                         facts, items, instruction templates, chance levels
 *   tokenizer/            tokenizer.json (byte-level BPE, GPT-2 pre-tokenizer,
 *                         merges learned on the world text) and
 *                         tokenizer_config.json (ChatML template)
 *   pretrain.jsonl        {"text"} documents: encyclopedia articles, stories,
 *                         seen-genre documents (plain-text pretraining)
 *   unlabeled/pages.jsonl {"id","url","title","text"} web pages
 *   pages_truth.jsonl     {"id","kind","genre"} per page (for analysis only;
 *                         the pipeline never reads it)
 *   seed.jsonl            seed records {"id","instruction","output","source":"seed"}
 *   eval.jsonl            {"id","prompt","answer","split":"heldout"|"seen",
 *                         "genre","entity","items":[..],"chance"}: answer is
 *                         the one text the checker PASSES (the genre form
 *                         filled in; blank lines and line-end spaces aside);
 *                         chance the pass chance level. `selfalign eval
 *                         --kind task` on this file counts an output that
 *                         contains the answer (normalised) as correct: the
 *                         checker's pass, except that text around the
 *                         document is tolerated.
 *   prompts/              Dromedary's prompts for this world (see above)
 *
 * The checker (sa_demo_check): an answer PASSES when, ignoring blank lines
 * and white space at line ends, it is exactly the instruction's genre form
 * with the instruction's entity and items in their slots. FORM holds when
 * the lines match the genre's form with any single word in each slot;
 * CONTENT is the fraction of the required words (entity and item) found as
 * whole words anywhere in the answer. Chance levels (sa_demo_chance_of) are
 * measured, not assumed: the mean score of every other eval item's
 * reference answer given as the answer (a fluent reply that ignores the
 * instruction) — about 0 for pass, about 1/5 for form (one genre in five),
 * and about 0.06 for content (another request rarely names the same words).
 *
 * Ownership: options and tasks are plain values; nothing is retained.
 *
 * Usage:
 *     sa_demo_world_opts o = sa_demo_world_defaults(false);
 *     o.seed = 7;
 *     sa_demo_world_stats st;
 *     if (sa_demo_world_write(&o, "out/world", &st, &err)) ...;
 *     sa_demo_task t;
 *     if (sa_demo_task_parse(instruction, &t)) {
 *         sa_demo_score sc; sa_demo_check(&t, answer, strlen(answer), &sc);
 *     }
 */
#ifndef SA_DEMO_WORLD_H
#define SA_DEMO_WORLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sa/status.h"
#include "sa/strbuf.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SA_DEMO_GENRES 30 /* 5 held out (5..9), 25 seen */
#define SA_DEMO_ITEMS 1   /* items named by every task */
#define SA_DEMO_WORD_MAX 24

typedef struct sa_demo_world_opts {
    uint64_t seed;
    bool quick;                 /* the small variant (tests): sizes below scaled down */
    int32_t n_entities;         /* 12 (quick 8) */
    int32_t n_items;            /* 24 (quick 16) */
    int32_t n_seed;             /* seed pairs over the seen genres: 300 (quick 100) */
    int32_t n_eval_heldout;     /* held-out eval items per held-out genre: 20 (quick 4) */
    int32_t n_eval_seen;        /* eval items per seen genre: 6 (quick 2) */
    int32_t n_pretrain_stories; /* copy-heavy stories in the pretraining text: 1500 (quick 200) */
    int32_t n_pages_clean;      /* clean pages per held-out genre: 56 (quick 8); seen genres get 1/4 */
    int32_t n_pages_junk;       /* pages of each junk kind: 24 (quick 5) */
    int32_t n_pages_decoy;      /* decoy pages per held-out genre: 96 (quick 10); seen genres get 1/4 */
    int32_t n_transcripts;      /* helper transcripts in the pretraining text: 1000 (quick 100) */
} sa_demo_world_opts;

sa_demo_world_opts sa_demo_world_defaults(bool quick);

/* Page kinds (pages_truth.jsonl "kind"). */
typedef enum sa_demo_page_kind {
    SA_DEMO_PAGE_CLEAN = 0,   /* one genre document under a header, site chrome around it */
    SA_DEMO_PAGE_MIXED,       /* a genre document with a reader-comment thread inside its section */
    SA_DEMO_PAGE_THREAD,      /* only a comment thread, under a harmless header */
    SA_DEMO_PAGE_TRUNCATED,   /* a genre document cut off after its first lines */
    SA_DEMO_PAGE_ARTICLE,     /* encyclopedic prose about an entity */
    SA_DEMO_PAGE_MIRROR,      /* an exact copy of a clean page under another URL */
    SA_DEMO_PAGE_NEARDUP,     /* an article mirror with a word changed */
    SA_DEMO_PAGE_LINKS,       /* a link list (few letters) and chrome */
    SA_DEMO_PAGE_DECOY,       /* a genre document's opening line, then a shop's advert instead of its form */
    SA_DEMO_PAGE_KIND_COUNT
} sa_demo_page_kind;

const char *sa_demo_page_kind_name(sa_demo_page_kind k);

typedef struct sa_demo_world_stats {
    int64_t pretrain_docs, pretrain_bytes;
    int64_t pages, pages_by_kind[SA_DEMO_PAGE_KIND_COUNT];
    int64_t seed_pairs, eval_heldout, eval_seen;
    int32_t vocab_size;         /* tokenizer pieces, specials included */
    double chance_pass, chance_form, chance_content; /* held-out eval (sa_demo_chance) */
} sa_demo_world_stats;

/* Write the world into dir (created if needed). */
sa_status sa_demo_world_write(const sa_demo_world_opts *o, const char *dir, sa_demo_world_stats *st, sa_err *err);

/* ---- genres, tasks and the checker (demo_check.c) ---- */

const char *sa_demo_genre_name(int genre); /* "list", ...; NULL out of range */
bool sa_demo_genre_heldout(int genre);
int sa_demo_genre_find(const char *word, size_t n); /* -1 if not a genre word */

typedef struct sa_demo_task {
    int genre;
    char entity[SA_DEMO_WORD_MAX];
    char items[SA_DEMO_ITEMS][SA_DEMO_WORD_MAX];
} sa_demo_task;

/* Instruction templates (the seed's and the evaluation's), t in 0..count-1. */
int sa_demo_template_count(void);
/* Append the instruction for task with template tmpl to out. */
sa_status sa_demo_instruction(const sa_demo_task *task, int tmpl, sa_strbuf *out);
/* Append the reference answer (the genre form filled in) to out. */
sa_status sa_demo_render(const sa_demo_task *task, sa_strbuf *out);
/* Parse an instruction written with any template (white space at the ends
 * ignored). False when it is not one. */
bool sa_demo_task_parse(const char *instruction, sa_demo_task *out);
/* Parse a document of any genre form (the reverse of sa_demo_render):
 * true when text is exactly one well-formed genre document. */
bool sa_demo_doc_parse(const char *text, size_t n, sa_demo_task *out);

typedef struct sa_demo_score {
    bool pass;       /* exact form with the task's words: chance ~0 */
    bool form;       /* the genre's form, any words in the slots: chance ~1/5 */
    double content;  /* fraction of entity + items present as whole words */
} sa_demo_score;

void sa_demo_check(const sa_demo_task *task, const char *answer, size_t n, sa_demo_score *out);

/* Chance levels of the three scores over tasks[0..n): the mean score of
 * every other task's reference answer given as the answer. */
typedef struct sa_demo_chance {
    double pass, form, content;
} sa_demo_chance;
sa_status sa_demo_chance_of(const sa_demo_task *tasks, size_t n, sa_demo_chance *out, sa_err *err);

/* ---- the demo run (demo_run.c, demo_eval.c): `selfalign demo` ----
 *
 * out_dir is a run directory (run.h, kind "demo") with five stages:
 *   world      world/ (sa_demo_world_write; rewritten on every run: it is
 *              deterministic)
 *   base       init/ (a random-init Llama of the demo shape with the world's
 *              tokenizer) and base/ (init pretrained on world/pretrain.jsonl,
 *              plain text; base/model is the base model), then a copying
 *              probe of the base (4 random world words said back, greedy;
 *              chance ~0). Below min_copy_probe the run stops here
 *              (SA_ERR_RANGE; demo_results.json says why).
 *   humpback   humpback/ (sa_humpback_run: pmi curation, 2 iterations, the
 *              uncurated control), then what backtranslation and curation
 *              did against the world's truth (clean documents, junk,
 *              precision and recall of each round)
 *   dromedary  dromedary/ (sa_dromedary_run, short: 16 new prompts at most,
 *              the seed instructions, world/prompts/, full fine-tunes). A
 *              Dromedary run that fails (e.g. no principle answer passes the
 *              filters) is recorded as a failed stage and the demo goes on.
 *   evaluate   eval/: every model (M0, M1, M2, the control, Dromedary's
 *              clone) answers every eval item greedily, Humpback's models
 *              with the seed tag as system message (the paper's inference
 *              setting), Dromedary's with none. Per split and model:
 *              <split>-<model>.json (kind "task": accuracy = the checker's
 *              pass with a 95% bootstrap interval, chance, form, content,
 *              prompts/s) and .items.jsonl (every answer and its scores);
 *              nll-<split>-<model>.json (sa_eval_nll of the reference
 *              answers); pairwise-heldout-m2-m0.json (sa_eval_pairwise, M2
 *              judging in both orders by logits: a 1M-parameter judge, shown
 *              for its order bias, not as a measure).
 * Then demo_results.json (sizes, timings, the copy probe, backtranslation
 * and curation against the truth, every model's scores and throughput) and
 * report.html (report.h: timeline, loss curves, stage summaries, the
 * evaluation tables) — the report also after a failure. Rerunning resumes:
 * a finished pretraining and finished Humpback and Dromedary stages are
 * kept; evaluation is redone; a rerun with other settings is refused
 * (run.h). All Humpback fine-tunes use the same number of epochs, so the
 * number of passes over the seed is the same for M0 and for the augmented
 * models. */
typedef struct sa_demo_run_opts {
    const char *out_dir;
    uint64_t seed;
    bool quick;
    int threads;             /* 0 = all CPUs */
    double min_score;        /* pmi selection threshold; NAN = the demo's default */
    int32_t epochs;          /* fine-tuning epochs; 0 = the demo's default */
    int64_t pretrain_steps;  /* 0 = the demo's default */
    int64_t model_steps;     /* optimizer steps of M1, M2 and the control (equal compute); 0 = the demo's
                              * default (700; quick: by epochs), < 0 = by epochs */
    double min_copy_probe;   /* stop after pretraining (demo_results.json says
                                why, SA_ERR_RANGE) when the base's copy probe
                                is below this; 0 = never stop (default 0.5) */
    FILE *log;               /* progress (NULL = stderr) */
    bool quiet;              /* no progress bars */
} sa_demo_run_opts;

sa_demo_run_opts sa_demo_run_defaults(void);

/* Scores of one model on one split. */
typedef struct sa_demo_split_score {
    int64_t n;
    double pass, form, content; /* means over the split's items */
} sa_demo_split_score;

#define SA_DEMO_MODELS 5 /* m0, m1, m2, control, dromedary */
typedef struct sa_demo_results {
    const char *model_names[SA_DEMO_MODELS];
    bool evaluated[SA_DEMO_MODELS];
    sa_demo_split_score heldout[SA_DEMO_MODELS], seen[SA_DEMO_MODELS];
    double heldout_lo[SA_DEMO_MODELS], heldout_hi[SA_DEMO_MODELS]; /* 95% bootstrap interval of held-out pass */
    double nll_heldout[SA_DEMO_MODELS];           /* reference NLL per token, held-out split */
    double answer_prompts_per_s[SA_DEMO_MODELS];  /* greedy answers, 64 tokens at most */
    double nll_prompts_per_s[SA_DEMO_MODELS];     /* reference scoring */
    double pairwise_win_rate, pairwise_lo, pairwise_hi, pairwise_order_bias; /* M2 vs M0; NaN if not run */
    double pairwise_prompts_per_s;
    double copy_probe;
    sa_demo_chance chance_heldout, chance_seen;
    double seconds;
} sa_demo_results;

/* Run (or resume) the demo; res (may be NULL) receives the scores. */
sa_status sa_demo_run(const sa_demo_run_opts *o, sa_demo_results *res, sa_err *err);

#ifdef __cplusplus
}
#endif
#endif
