/* principles.h — Dromedary stage 2: principle-driven answers, and the
 * verbose-persona answers of verbose cloning (DESIGN.md 1.2).
 *
 * Purpose: `selfalign principles` reads prompt records (what `selfalign
 * selfinstruct` writes), asks the model for an answer and keeps only the
 * final answer, filtered (answer_filter.h), as records ready for engraving
 * (stage 3) or cloning (stage 4). Two modes:
 *   SA_PRINCIPLES_ANSWER   principles + worked exemplars + the query; the
 *                          model writes internal thoughts, then "### Answer:"
 *                          and the answer; only the answer is kept
 *                          (source "principle_answer");
 *   SA_PRINCIPLES_VERBOSE  the "detailed and comprehensive" persona + the
 *                          query, for the engraved model; the whole reply is
 *                          the answer (source "verbose_clone").
 *
 * Prompt (prompts.h names; override with --prompts DIR):
 *   answer   system message = "principles" + blank line + "principle_exemplars"
 *            (exactly as in the files, trimmed; with n_exemplars > 0 only
 *            the text before the (n+1)-th exemplar's "### User:", for a
 *            model whose context, or trained length, the whole set
 *            overruns); user message =
 *            "principle_query" with {{query}}; the chat template's generation
 *            prompt; then the plain-text tokens of SA_MARK_THOUGHTS + "\n"
 *            (the assistant turn starts in its thoughts).
 *   verbose  user message = "verbose_persona" with {{query}}; generation prompt.
 * Everything is encoded by sa_chat_encode, so the query is always plain text
 * ("</s>", "<|im_end|>", "[INST]" in a query never become control tokens).
 * The fixed text comes first and is the same for every query, so the
 * engine's shared-prefix cache computes it once; sa_principles_shared_prefix
 * says how many tokens that is. The template is the stage's caller's choice
 * (sa_chat_template_resolve: the tokenizer's, else alpaca for a base model).
 * Answer mode stops at "### End", "### User:" and "### Instruction:" (the
 * model starting another turn); verbose mode at "### Instruction:".
 *
 * Input: JSONL objects; the query is "instruction" (with "input", when
 * present and non-blank, appended after a blank line), else "question",
 * else "prompt". The id is "id" (string or integer), else a hash of the
 * query. "harmful": true (top level or in "meta") exempts a query from the
 * refusal filter. Unparsable lines, lines without a query and repeated ids
 * are reported (path:line) and counted as bad lines; every valid record ends
 * in exactly one of the two output files, so
 *     input lines = accepted + rejected + bad lines.
 *
 * Output: accepted records (record.h): instruction (and input) = the
 * query WITHOUT principles or exemplars, output = the kept answer, source
 * "principle_answer" or "verbose_clone", id = content hash, meta {prompt_id,
 * mode, model, template, temperature, top_p, seed, max_tokens, cut (when a
 * repeated tail was removed), query_source / query_meta (the input's
 * "source" / "meta", when present)}. Rejected ones: {"prompt_id",
 * "instruction", "reason", "text" (the raw generation), "detail" (leaked
 * entry or refusal pattern, when any), "error" (reason error)}.
 *
 * Determinism, files and resumption: as backtranslate.h. Request id =
 * sa_principles_request_id(prompt id), so an answer depends on (seed,
 * prompt id), not on batching, threads or resumption. Raw generations go to
 * <out>.journal keyed by prompt id; a rerun skips journaled ones; when all
 * are journaled the final files (out, rejected, stats) are rewritten
 * atomically in INPUT order, byte-identical to an uninterrupted run. The
 * generation settings (mode, model, template, temperature, top-p, seed, max
 * tokens, and a hash of the prompt texts) are kept in <journal>.settings; a
 * rerun with others is refused (SA_ERR_INVALID_ARG). The filters apply at
 * the final pass, so their options (min words, leak words, refusals) may
 * change between reruns. SIGINT/SIGTERM: the journal is flushed and
 * SA_ERR_INTERRUPTED returned (final files untouched).
 *
 * Ownership: sa_principles_run borrows the engine, tokenizer, template and
 * everything in the options. sa_principles_prompt_ids appends to a
 * caller-owned sa_tokens.
 *
 * Usage:
 *     sa_chat_template t;
 *     sa_chat_template_resolve(tok, NULL, &t, NULL, &err);   // alpaca for a base model
 *     sa_principles_opts o = sa_principles_default_opts();
 *     o.in_path = "prompts.jsonl"; o.out_path = "answers.jsonl"; o.model_name = "base";
 *     sa_principles_stats st;
 *     if (sa_principles_run(engine, tok, &t, &o, &st, &err)) ...;  // SA_ERR_INTERRUPTED: rerun later
 */
#ifndef SA_PRINCIPLES_H
#define SA_PRINCIPLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sa/answer_filter.h"
#include "sa/chat.h"
#include "sa/engine.h"
#include "sa/prompts.h"
#include "sa/status.h"
#include "sa/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sa_principles_mode {
    SA_PRINCIPLES_ANSWER = 0,
    SA_PRINCIPLES_VERBOSE,
    SA_PRINCIPLES_MODE_COUNT
} sa_principles_mode;

const char *sa_principles_mode_name(sa_principles_mode m); /* "answer", "verbose"; "?" */
sa_status sa_principles_mode_parse(const char *name, sa_principles_mode *out, sa_err *err);

typedef struct sa_principles_opts {
    sa_principles_mode mode;
    const char *in_path;       /* prompt records JSONL (required) */
    const char *out_path;      /* accepted answers (required) */
    const char *rejected_path; /* NULL = <out>.rejected.jsonl */
    const char *journal_path;  /* NULL = <out>.journal */
    const char *stats_path;    /* NULL = stats.json in out's directory */
    const char *model_name;    /* meta.model (NULL = "") */
    const sa_prompts *prompts; /* NULL = the built-ins */
    const char *const *leak_words;  /* user leak phrases */
    size_t n_leak_words;
    const char *const *refusals;    /* NULL with 0 = built-in patterns; non-NULL with 0 = no refusal filter */
    size_t n_refusals;
    uint32_t refusal_max_words;     /* default 50 (0 = any length) */
    uint32_t min_words;             /* default 8 */
    uint32_t leak_min_entities;     /* default 2 */
    int32_t max_tokens;        /* default 512 (thoughts + answer) */
    int32_t n_exemplars;       /* answer mode: the first N exemplars in the prompt (0 = all; the
                                  leakage filter knows them all either way) */
    float temperature, top_p;  /* default 0.7, 0.9 */
    uint64_t seed;             /* default 0 */
    uint32_t chunk;            /* requests per engine call; default 64 */
    bool strict;               /* stop at the first bad input line */
    FILE *progress;            /* progress/summary lines; NULL = quiet */
} sa_principles_opts;

sa_principles_opts sa_principles_default_opts(void);

typedef struct sa_principles_stats {
    uint64_t inputs;          /* valid, distinct prompt records */
    uint64_t bad_lines;
    uint64_t resumed;         /* found in the journal at start */
    uint64_t generated;       /* generated by this run */
    uint64_t by_reason[SA_ANS_REASON_COUNT]; /* [SA_ANS_ACCEPTED] = accepted */
    uint64_t cut;             /* accepted answers whose repeated tail was removed */
    uint64_t gen_tokens;      /* tokens generated by this run */
    uint64_t prompt_tokens, cached_tokens; /* this run's prompt tokens, and those reused from the prefix cache */
    uint64_t leak_entries;    /* size of the leakage blacklist */
    uint32_t prefix_tokens;   /* tokens every prompt shares (sa_principles_shared_prefix) */
    double gen_seconds;
    double answers_per_s;     /* generated / gen_seconds */
} sa_principles_stats;

/* Append the prompt ids for one query to ids (see above). prompts NULL =
 * the built-ins; n_exemplars as in the options (0 = all). */
sa_status sa_principles_prompt_ids(const sa_tokenizer *tok, const sa_chat_template *t, const sa_prompts *prompts,
                                   sa_principles_mode mode, int32_t n_exemplars, const char *query, sa_tokens *ids,
                                   sa_err *err);
/* Tokens that the prompts of any two queries share at their start (the
 * fixed part, as the prefix cache sees it). */
sa_status sa_principles_shared_prefix(const sa_tokenizer *tok, const sa_chat_template *t, const sa_prompts *prompts,
                                      sa_principles_mode mode, int32_t n_exemplars, size_t *n, sa_err *err);
/* Stable request id (engine RNG stream) for a prompt id. */
uint64_t sa_principles_request_id(const char *prompt_id);
/* The parsed built-in or overriding exemplars (answer mode); errors name
 * the file and line (answer_filter.h). */
sa_status sa_principles_exemplars(const sa_prompts *prompts, sa_exemplars *out, sa_err *err);

/* Run the whole stage (see above). stats may be NULL. */
sa_status sa_principles_run(sa_engine *e, const sa_tokenizer *tok, const sa_chat_template *t,
                            const sa_principles_opts *o, sa_principles_stats *stats, sa_err *err);

#ifdef __cplusplus
}
#endif
#endif
