/* backtranslate.h — self-augmentation: one candidate instruction per corpus
 * segment from the backward model M_yx (Humpback, DESIGN.md 1.1).
 *
 * Purpose: `selfalign backtranslate` reads segments JSONL (as written by
 * `selfalign corpus`: {"id", "text", "doc"?, ...}; only "id" and "text" are
 * required), asks the backward model for the instruction that the segment
 * answers, filters the result and writes candidate records.
 *
 * Prompt: exactly what `selfalign train --reverse` trained on: the
 * conversation [user: segment text] with the generation prompt, rendered by
 * the chat template and encoded by sa_chat_encode, so the segment is always
 * plain text (a "</s>" or "<|im_end|>" in a web page never becomes a control
 * token). Template choice is the trainer's: the named one, else the
 * tokenizer's, else alpaca when the tokenizer's is absent or unknown
 * (sa_chat_template_resolve). No system message is added (reverse training adds one
 * only for --tag, which augmentation does not use).
 *
 * Determinism: the engine seeds each request from (seed, request id); the
 * request id is sa_bt_request_id(segment id), so a segment's instruction
 * does not depend on batch composition, thread count or resumption.
 *
 * Post-filters (first that applies wins), on the generated text trimmed of
 * white space:
 *   error      the engine failed this request (or the prompt could not be built)
 *   empty      nothing left after trimming
 *   truncated  finish "length" or "context": the model was cut off before it
 *              ended its turn, so the instruction is a fragment -> rejected
 *   too_long   more than max_instruction_chars code points
 *   copied     the instruction is a byte substring of the segment, or it has
 *              at least 3 words and >= 80% of its distinct word 3-grams
 *              (lower-cased ASCII letters/digits and non-ASCII bytes form
 *              words) occur in the segment: the model echoed its input
 *              instead of asking for it
 * Accepted candidates are records (record.h): instruction = the trimmed text,
 * output = segment text, source "augmented", meta {segment_id, doc, model,
 * temperature, top_p, seed, max_tokens}. Rejected ones are
 * {"segment_id", "reason", "text"} (+ "error" for reason error).
 *
 * Input errors: unparsable lines, lines without a string/integer "id" or a
 * non-blank string "text", and repeated ids are reported (path:line) and
 * counted as bad lines; they are not segments. Every segment ends in exactly
 * one of the two output files.
 *
 * Files and resumption: generation results go to an append-only journal
 * (<out>.journal, journal.h) keyed by segment id, in completion order. A
 * rerun skips journaled segments (a kill -9 loses only requests in flight).
 * When every segment is journaled, the final files (out, rejected, stats)
 * are rewritten atomically (fileio.h) in INPUT order from the journal and the
 * input, so an interrupted-and-resumed run gives byte-identical out and
 * rejected files to an uninterrupted one. SIGINT/SIGTERM: the journal is
 * flushed and sa_bt_run returns SA_ERR_INTERRUPTED (final files untouched).
 * Journal records keep the raw generation; classification happens at the
 * final pass, so the filters' options may change between reruns; the
 * generation settings (model name, template, temperature, top-p, seed, max
 * tokens) are kept in <journal>.settings and a rerun with others is
 * refused with SA_ERR_INVALID_ARG.
 *
 * MPI (o->dist of N > 1 ranks, shard.h): every rank reads the whole input
 * and generates the segments it owns (id hash mod N) into its shard of the
 * journal; rank 0 checks the settings file, folds the shards into the
 * journal and alone writes the final files, which are therefore
 * byte-identical to a one-process run's. In every rank's stats, generated
 * and gen_tokens are summed over ranks, gen_seconds is the slowest rank's;
 * the final counts (by_reason) are rank 0's.
 *
 * Ownership: sa_bt_run borrows the engine, tokenizer and template; options
 * strings are borrowed. sa_bt_prompt_ids appends to a caller-owned sa_tokens.
 *
 * Usage:
 *     sa_chat_template t; bool fb;
 *     if (sa_chat_template_resolve(tok, NULL, &t, &fb, &err)) ...;
 *     sa_bt_opts o = sa_bt_default_opts();
 *     o.in_path = "segments.jsonl"; o.out_path = "candidates.jsonl"; o.model_name = "m_yx";
 *     sa_bt_stats st;
 *     if (sa_bt_run(engine, tok, &t, &o, &st, &err)) ...;   // SA_ERR_INTERRUPTED: rerun later
 */
#ifndef SA_BACKTRANSLATE_H
#define SA_BACKTRANSLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sa/chat.h"
#include "sa/dist.h"
#include "sa/engine.h"
#include "sa/jsonl.h"
#include "sa/status.h"
#include "sa/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sa_bt_reason {
    SA_BT_ACCEPTED = 0,
    SA_BT_ERROR,
    SA_BT_EMPTY,
    SA_BT_TRUNCATED,
    SA_BT_TOO_LONG,
    SA_BT_COPIED,
    SA_BT_REASON_COUNT
} sa_bt_reason;

/* "accepted", "error", "empty", "truncated", "too_long", "copied". */
const char *sa_bt_reason_name(sa_bt_reason r);

typedef struct sa_bt_opts {
    const char *in_path;       /* segments JSONL (required) */
    const char *out_path;      /* accepted candidates (required) */
    const char *rejected_path; /* NULL = <out>.rejected.jsonl */
    const char *journal_path;  /* NULL = <out>.journal */
    const char *stats_path;    /* NULL = stats.json in out's directory */
    const char *model_name;    /* written to meta.model (NULL = "") */
    uint32_t max_instruction_chars; /* code points; default 1000 */
    int32_t max_tokens;        /* default 128 */
    float temperature, top_p;  /* default 0.7, 0.9 */
    uint64_t seed;             /* default 0 */
    uint32_t chunk;            /* requests handed to the engine per call; default 64 */
    bool strict;               /* stop at the first bad input line */
    FILE *progress;            /* progress/summary lines; NULL = quiet */
    const sa_dist *dist;       /* NULL: one process; else sharded (see "MPI" above) */
} sa_bt_opts;

sa_bt_opts sa_bt_default_opts(void);

typedef struct sa_bt_stats {
    uint64_t segments;       /* valid, distinct segments in the input */
    uint64_t bad_lines;      /* input lines that are not segments (incl. repeated ids) */
    uint64_t resumed;        /* segments found in the journal at start */
    uint64_t generated;      /* segments generated by this run */
    uint64_t by_reason[SA_BT_REASON_COUNT]; /* [SA_BT_ACCEPTED] = accepted */
    uint64_t gen_tokens;     /* tokens generated by this run */
    double gen_seconds;      /* wall time of this run's generation */
    double pairs_per_s;      /* generated / gen_seconds (0 if none) */
} sa_bt_stats;

/* Append the prompt ids for one segment to ids (see above). */
sa_status sa_bt_prompt_ids(const sa_tokenizer *tok, const sa_chat_template *t, const char *segment,
                           sa_tokens *ids, sa_err *err);
/* Stable request id (engine RNG stream) for a segment id. */
uint64_t sa_bt_request_id(const char *segment_id);
/* Fraction of the instruction's distinct word 3-grams found in the segment;
 * -1 when the instruction has fewer than 3 words. */
double sa_bt_trigram_overlap(const char *instruction, const char *segment);
/* Classify one generation (text untrimmed). *trimmed and *trimmed_len (may be
 * NULL) receive the trimmed span of text. */
sa_bt_reason sa_bt_classify(const char *text, sa_finish_reason finish, const char *segment,
                            uint32_t max_chars, const char **trimmed, size_t *trimmed_len);

/* Run the whole stage (see above). Returns SA_ERR_INTERRUPTED after a
 * signal (journal flushed, rerun to continue). stats may be NULL. */
sa_status sa_bt_run(sa_engine *e, const sa_tokenizer *tok, const sa_chat_template *t,
                    const sa_bt_opts *o, sa_bt_stats *stats, sa_err *err);

#ifdef __cplusplus
}
#endif
#endif
