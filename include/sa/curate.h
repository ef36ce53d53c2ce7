/* curate.h — self-curation: the model rates candidate (instruction, output)
 * pairs (Humpback step 6, DESIGN.md 1.1 and 2.3).
 *
 * Purpose: score every record of a candidates file with one of four modes
 * and journal the scored records (resumable), then write stats.json and,
 * optionally, the selected records (score >= min_score).
 *   generate     the model writes a reason, then "Score: N" (parsed with
 *                sa_score_parse; unparsable outputs are kept, unscored, with
 *                meta.unparsable saying why, and counted);
 *   constrained  the reason is generated up to "Score:" (or max_tokens),
 *                then "Score: " is forced and the most probable digit 1..5
 *                is taken: every candidate gets a score;
 *   logits       one forward pass over rubric + pair + "Score: "; score =
 *                expected value of the digit distribution (kept in meta);
 *   pmi          (log p(output|instruction) - log p(output)) / tokens.
 *
 * Long pairs: when a request would not fit the engine's context
 * (sa_engine_max_context), the rater sees the output cut at the end, at a
 * word boundary where one is near ("[...]" marks the cut in the rubric; pmi
 * scores the kept part), and meta.curation.output_cut = {bytes, kept_bytes}
 * records it; the record keeps its whole output. Only an instruction too long
 * on its own is an error (meta.error, counted).
 *
 * Trust: the rubric (ours) and the pair (untrusted) are rendered into one
 * user message, encoded with sa_chat_encode (content is always plain text),
 * and handed to the engine as token ids; special-token strings inside a pair
 * never become control tokens. The rubric comes first and is the same for
 * every pair, so the engine's shared-prefix cache computes it once.
 *
 * Ownership: sa_curator borrows the engine and prompts (they must outlive
 * it); scored records own what is put into them.
 *
 * Usage:
 *     sa_curate_opts o = sa_curate_default_opts();
 *     o.mode = SA_CURATE_LOGITS; o.prompts = prompts;
 *     sa_curator *c;
 *     sa_curator_new(&c, engine, &o, &err);
 *     sa_curate_stats st;
 *     sa_curate_file(c, "candidates.jsonl", "scored.jsonl", NULL, &st, &err);
 *     sa_curator_free(c);
 */
#ifndef SA_CURATE_H
#define SA_CURATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sa/chat.h"
#include "sa/engine.h"
#include "sa/prompts.h"
#include "sa/record.h"
#include "sa/dist.h"
#include "sa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sa_curate_mode {
    SA_CURATE_GENERATE = 0,
    SA_CURATE_CONSTRAINED,
    SA_CURATE_LOGITS,
    SA_CURATE_PMI,
    SA_CURATE_MODE_COUNT
} sa_curate_mode;

const char *sa_curate_mode_name(sa_curate_mode m); /* "generate", ...; "?" if invalid */
sa_status sa_curate_mode_parse(const char *name, sa_curate_mode *out, sa_err *err);

/* Find the rubric score in a model's text: "Score: 4", "score 4/5",
 * "**Score**: 4", "Score - 4", "Rating: 4" (case-insensitive). The LAST
 * occurrence wins (a model may quote the scale before concluding). The
 * number must be a whole 1..5 not followed by another digit or a decimal
 * part ("Score: 45", "Score: 4.5", "Score: 0" are rejected). Returns true
 * and sets *score, or false. */
bool sa_score_parse(const char *text, size_t len, int32_t *score);

typedef struct sa_curate_opts {
    sa_curate_mode mode;
    double min_score;       /* selected: score >= min_score */
    int32_t max_tokens;     /* generate/constrained: reason tokens at most */
    float temperature;      /* generate/constrained sampling (0 = greedy, the default) */
    uint64_t seed;
    int32_t chunk;          /* records scored (and journaled) together */
    const sa_prompts *prompts;     /* NULL = the built-ins */
    const sa_chat_template *tmpl;  /* NULL = the tokenizer's, or alpaca if unknown */
    const char *model_name;        /* recorded in meta (may be NULL) */
    const sa_tokenizer *tok;       /* NULL = the engine's; with an engine of NULL the
                                      curator only builds prompts (sa_curator_prompt) */
    sa_jsonl_bad_fn on_bad;        /* bad input lines/records (skipped); may be NULL */
    void *ctx;
    const sa_dist *dist;           /* NULL: one process; else sa_curate_file shards (see there) */
} sa_curate_opts;

/* mode logits, min_score 5, max_tokens 256, temperature 0, chunk 32. */
sa_curate_opts sa_curate_default_opts(void);

typedef struct sa_curate_stats {
    /* over the whole output file at the end of the run */
    uint64_t records;        /* records in the output */
    uint64_t scored;         /* with a score */
    uint64_t unparsable;     /* generate: kept without a score */
    uint64_t errors;         /* pairs the engine could not score (an instruction too long for the context...) */
    uint64_t cut;            /* rated on their output cut to fit the context (meta.curation.output_cut) */
    uint64_t selected;       /* score >= min_score */
    uint64_t hist[5];        /* scores rounded to 1..5 (pmi: not filled) */
    /* this run */
    uint64_t done_before;    /* already in the output at start */
    uint64_t new_records;    /* scored now */
    uint64_t bad_input;      /* bad input lines or records (skipped, reported) */
    uint64_t skipped;        /* input records whose id is already in the output
                                (an earlier run, or repeated in the input) */
    double seconds;
    double pairs_per_s;      /* new_records / seconds */
} sa_curate_stats;

typedef struct sa_curator sa_curator;

/* e may be NULL when o->tok is set (prompt building only). */
sa_status sa_curator_new(sa_curator **out, sa_engine *e, const sa_curate_opts *o, sa_err *err);
void sa_curator_free(sa_curator *c);

/* The token ids of the prompt the current mode sends for rec (logits: it
 * ends with "Score: "; pmi: the conditional prompt). Appended to *out. */
sa_status sa_curator_prompt(sa_curator *c, const sa_record *rec, sa_tokens *out, sa_err *err);

/* Score recs[n] in place: sets score/has_score, reason, and meta.curation
 * (mode details), or meta.unparsable / meta.error for records that got no
 * score. Fails only on engine or memory errors. */
sa_status sa_curator_score(sa_curator *c, sa_record *recs, size_t n, sa_err *err);

/* Score every record of in_path not yet in the out_path journal, appending
 * in input order, chunk by chunk; then write stats.json next to out_path and,
 * if selected_path is not NULL, the selected records (atomically). st may be
 * NULL. Stops with SA_ERR_INTERRUPTED on a pending signal (signal.h).
 * Under MPI (o->dist of N > 1 ranks, shard.h): every rank reads the whole
 * input and scores the records it owns (id hash mod N) into its shard of
 * the journal; then rank 0 folds the shards into out_path in input order
 * (byte-identical to one process when scores do not depend on batch
 * composition, as with the local engine's modes) and alone writes
 * stats.json and selected_path. new_records and skipped are summed over
 * ranks in every rank's st; the whole-output counts are rank 0's. */
sa_status sa_curate_file(sa_curator *c, const char *in_path, const char *out_path, const char *selected_path,
                         sa_curate_stats *st, sa_err *err);

#ifdef __cplusplus
}
#endif
#endif
