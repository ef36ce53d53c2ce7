/* eval.h — evaluation: eval sets, pairwise judging, reference NLL, task
 * accuracy, and the statistics behind their confidence intervals.
 *
 * Purpose: measure what alignment bought. Three kinds of evaluation, each
 * writing one JSON summary (read by the report generator from
 * RUN/eval/NAME.json) and a per-item JSONL beside it for a human to audit:
 *   pairwise  models A and B answer every prompt; a judge model compares the
 *             two answers in BOTH orders (A shown first, then B shown first),
 *             which cancels the judge's preference for a position;
 *   nll       mean per-token negative log-likelihood of the reference
 *             answers given the prompt in the model's chat template;
 *   task      exact-answer accuracy on a checkable set.
 *
 * ---- Eval sets (sa_eval_set_load) -------------------------------------------
 * One item = {id, prompt, optional reference answer, optional accepted
 * answers, optional chance}. Input: JSONL, or one JSON array (first non-space
 * byte '['). The format is detected from the keys of the first object
 * (or given): the first matching rule wins.
 *   mt-bench       {question_id, category, turns: [...]} (Vicuna / MT-bench
 *                  question.jsonl): the FIRST turn is the prompt; an optional
 *                  "reference": [...] gives the reference (its first entry).
 *                  The older Vicuna form {question_id, text} is read too.
 *   task           {id?, prompt, answer: "..." | ["...", ...], chance?}: the
 *                  checkable format; chance is a number in [0, 1].
 *   self-instruct  {id, instruction, instances: [{input, output}], ...}
 *                  (seed tasks and the user-oriented set; any other keys such
 *                  as user_oriented, motivation_app, name are ignored): the
 *                  FIRST instance only; prompt = instruction, plus "\n\n" +
 *                  input when the input is not empty; reference = output.
 *   koala          {id, prompt} (no answer).
 *   records        anything record.h reads: our records, Alpaca
 *                  (instruction/input/output), ShareGPT, OpenAI messages,
 *                  guanaco text. prompt = instruction (+ "\n\n" + input),
 *                  reference = output; id = the record id (computed from the
 *                  content when absent).
 * Items without an id get "line<N>" (N = the 1-based line/item number).
 * Numeric ids (question_id: 81) become their decimal text.
 * Hostile input: every bad line (bad JSON, not an object, a missing or
 * empty prompt, a wrong type, an empty accepted answer, a chance outside
 * [0, 1], an id seen before) is reported through on_bad as (path, line,
 * reason), counted in set->bad, and skipped; with fail_on_bad the first one
 * is returned as "path:line: reason". Nothing is dropped silently. limit > 0
 * keeps the first `limit` good items (lines after that are not read).
 *
 * ---- Pairwise (sa_eval_pairwise) ---------------------------------------------
 * Answers: each model answers each prompt (a user message in its chat
 * template, encoded with sa_chat_encode so the prompt stays plain text),
 * greedy by default (temperature 0), with the engine's per-request RNG
 * seeded from (opts.seed, hash of the item id): an item's answer does not
 * depend on batch order or thread count.
 * Judge prompt: prompts/judge_pairwise.txt with {{question}}, {{answer_a}},
 * {{answer_b}} (overridable with --prompts DIR), rendered into one user
 * message (content is untrusted text: never control tokens). Every item is
 * judged twice: order AB shows model A's answer as "A" and model B's as "B";
 * order BA shows model B's answer as "A" and model A's as "B".
 * Judge modes:
 *   generate  the judge writes its comparison (greedy, at most
 *             judge_max_tokens) and ends with a verdict line;
 *             sa_verdict_parse reads it (unparsable outputs are counted);
 *   logits    no reasoning: one forward pass over the judge prompt plus an
 *             assistant turn that starts "Verdict: "; the verdict is the more
 *             probable of the tokens "A" and "B" (a tie only when their
 *             probabilities are exactly equal, e.g. identical answers).
 *             p(A) and p(B) are kept in the items file.
 * Verdicts are POSITIONAL: SA_VERDICT_FIRST means the answer shown as "A".
 *
 * Combining the two orders (sa_pairwise_combine): each order gives model A
 * a score: +1 when A's answer is preferred, -1 when B's is, 0 for a tie. In
 * order AB FIRST is +1; in order BA FIRST (= B's answer) is -1. The item's
 * outcome for A is the sign of the sum: positive = win (A preferred in both
 * orders, or in one with a tie in the other), zero = tie (a split decision —
 * each answer preferred once, the signature of position bias — or two ties),
 * negative = loss. A missing verdict in either order = unparsable.
 *
 * Summary (sa_pairwise_summarize), over the J items with an outcome
 * (J = n - unparsable):
 *   win_rate    (wins + ties / 2) / J, i.e. the mean of per-item values
 *               win 1, tie 0.5, loss 0;
 *   order_bias  (F - S) / (2 J), where F (S) counts the judgments of those
 *               items that prefer the first-shown (second-shown) answer; the
 *               mean of per-item values (F_i - S_i) / 2. 0 = no positional
 *               preference, +1 = always the first shown, -1 = always the
 *               second. For a judge that picks the first-shown answer with
 *               probability q regardless of content and otherwise judges
 *               correctly, order_bias estimates q exactly, and win_rate
 *               estimates 0.5 + (1 - q) (T - 0.5) where T is the true win
 *               rate: the two orders cancel the bias in direction (the
 *               estimate is on the same side of 0.5 as T) at the cost of
 *               shrinking toward 0.5, whereas a single order adds
 *               q (ties / 2 + losses) / J and can flip the conclusion
 *               (tests/test_eval.c shows both).
 *   Both get a bootstrap 95% interval (items resampled, percentile method).
 *   With J = 0 the rates are NaN (written as null).
 *
 * ---- NLL (sa_eval_nll) ----------------------------------------------------------
 * For each item with a reference: the prompt as training renders it (chat.h
 * template, a leading system message when opts.system is set, the user turn,
 * the assistant header open; sft.h's rendering without the answer), then
 * sa_engine_score of the reference as a plain-text continuation (encoded on
 * its own, so its first token may differ from the in-context encoding of
 * training; the end-of-turn marker is not scored). Per item: nll = -sum of
 * log p / tokens. mean_nll = total NLL / total tokens (token-weighted); its
 * interval is a bootstrap over items of that ratio. Items without a
 * reference are counted (no_reference) and skipped; items that cannot be
 * scored (too long for the context) are counted (errors) and skipped.
 *
 * ---- Task (sa_eval_task) ----------------------------------------------------------
 * The model answers (greedy, max_tokens). Normalisation (sa_eval_normalize):
 * ASCII letters lower-cased, every run of white space one space, ASCII
 * punctuation stripped from both ends. An item is correct when any accepted
 * answer, normalised, occurs in the normalised output as a whole-word match:
 * the characters just before and after the occurrence are not letters,
 * digits or bytes >= 0x80 (or are the ends of the text). So "Paris." matches
 * "The capital is Paris!", "4" does not match "42", "new york" matches "in
 * new york city". accuracy = correct / n with a bootstrap interval; chance
 * is the mean of the items' chance values when every item gives one, else
 * unknown (null).
 *
 * ---- Output files -----------------------------------------------------------------
 * opts.out (e.g. RUN/eval/pairwise.json), written atomically with
 * sa_json_write_pretty; keys:
 *   pairwise: kind "pairwise", set, n, a, b, judge, judge_mode, wins, ties,
 *     losses, unparsable, win_rate, win_rate_ci [lo, hi], order_bias,
 *     order_bias_ci, seconds, prompts_per_s; also errors (engine failures,
 *     part of unparsable), bad_lines, resamples, seed.
 *   nll: kind "nll", model, set, n, tokens, mean_nll, ci, seconds,
 *     prompts_per_s; also no_reference, errors, bad_lines, resamples, seed.
 *   task: kind "task", model, set, n, correct, accuracy, ci, chance (number
 *     or null), seconds, prompts_per_s; also errors, bad_lines, resamples,
 *     seed, max_tokens.
 * Items: the out path with a final ".json" replaced by ".items.jsonl"
 * (else ".items.jsonl" appended), one canonical JSON line per item, written
 * atomically: id, prompt and
 *   pairwise: answer_a, answer_b, judge_ab, judge_ba (the judge's text;
 *     logits: p_ab / p_ba = [p(A), p(B)]), verdict_ab, verdict_ba ("A", "B",
 *     "tie" or null: positional, as the judge said), outcome ("win", "tie",
 *     "loss", "unparsable" for model A), error when an engine call failed;
 *   nll: reference, nll, tokens (or error);
 *   task: output, answers, correct (or error).
 * prompts_per_s = n / seconds (for pairwise, answers and judging included).
 *
 * ---- Statistics ---------------------------------------------------------------------
 * sa_bootstrap_ci: percentile bootstrap of the mean of values[n]: draw n
 * indices uniformly with replacement (sa_rng seeded with `seed`), take the
 * mean, repeat `resamples` times, sort; lo/hi are the alpha/2 and
 * 1 - alpha/2 quantiles (linear interpolation between order statistics).
 * Deterministic in (values, n, resamples, seed). sa_bootstrap_ci_weighted
 * does the same for the ratio sum(w v) / sum(w) (resamples with zero total
 * weight are skipped).
 *
 * Ownership: sa_eval_set owns its items (sa_eval_set_free). The run
 * functions borrow the engines, set and options; results are plain values.
 * Engines may be the same object (A = B = judge).
 *
 * Usage:
 *     sa_eval_set set;
 *     sa_eval_set_opts so = {.on_bad = report};
 *     sa_eval_set_load(&set, "question.jsonl", &so, &err);
 *     sa_eval_opts o = sa_eval_default_opts();
 *     o.prompts = prompts; o.out = "run/eval/pairwise.json";
 *     o.a_name = "M0"; o.b_name = "M1"; o.judge_name = "M1";
 *     sa_eval_pairwise_result r;
 *     sa_eval_pairwise(ea, eb, ejudge, &set, &o, &r, &err);
 *     sa_eval_set_free(&set);
 */
#ifndef SA_EVAL_H
#define SA_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sa/chat.h"
#include "sa/engine.h"
#include "sa/jsonl.h"
#include "sa/prompts.h"
#include "sa/status.h"
#include "sa/strbuf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- eval sets ------------------------------------------------------------------ */

typedef enum sa_eval_format {
    SA_EVAL_FORMAT_AUTO = 0,
    SA_EVAL_FORMAT_MT_BENCH,      /* "mt-bench" */
    SA_EVAL_FORMAT_TASK,          /* "task" */
    SA_EVAL_FORMAT_SELF_INSTRUCT, /* "self-instruct" */
    SA_EVAL_FORMAT_KOALA,         /* "koala" */
    SA_EVAL_FORMAT_RECORDS,       /* "records" */
    SA_EVAL_FORMAT_COUNT
} sa_eval_format;

const char *sa_eval_format_name(sa_eval_format f); /* "auto", "mt-bench", ...; "?" if invalid */
sa_status sa_eval_format_parse(const char *name, sa_eval_format *out, sa_err *err);

typedef struct sa_eval_item {
    char *id;
    char *prompt;
    char *reference;   /* NULL when the set gives none */
    char **answers;    /* accepted answers (task format), n_answers entries */
    size_t n_answers;
    bool has_chance;
    double chance;
    uint64_t line;     /* 1-based line (or, for arrays, the line where the item starts) */
} sa_eval_item;

typedef struct sa_eval_set {
    char *path;
    sa_eval_format format;  /* detected or given */
    sa_eval_item *items;
    size_t n;
    uint64_t bad;           /* bad lines and items reported and skipped */
    size_t n_reference;     /* items with a reference answer */
    size_t n_answers;       /* items with accepted answers */
} sa_eval_set;

typedef struct sa_eval_set_opts {
    sa_eval_format format;  /* AUTO = detect from the first object */
    size_t limit;           /* keep the first `limit` good items; 0 = all */
    bool fail_on_bad;       /* the first bad line is an error (default: report, count, skip) */
    sa_jsonl_bad_fn on_bad; /* every bad line; may be NULL */
    void *ctx;
} sa_eval_set_opts;

/* Read path into out (zeroed first; opts may be NULL). An empty set (no good
 * item) is SA_ERR_FORMAT. */
sa_status sa_eval_set_load(sa_eval_set *out, const char *path, const sa_eval_set_opts *opts, sa_err *err);
void sa_eval_set_free(sa_eval_set *s);

/* ---- statistics (pure) -------------------------------------------------------------- */

/* Percentile bootstrap interval of the mean of values[n] (see above).
 * n >= 1, resamples >= 1, 0 < alpha < 1; SA_ERR_INVALID_ARG otherwise. */
sa_status sa_bootstrap_ci(const double *values, size_t n, int32_t resamples, uint64_t seed, double alpha, double *lo,
                          double *hi, sa_err *err);
/* The same for sum(weights * values) / sum(weights); weights >= 0 with a
 * positive sum. */
sa_status sa_bootstrap_ci_weighted(const double *values, const double *weights, size_t n, int32_t resamples,
                                   uint64_t seed, double alpha, double *lo, double *hi, sa_err *err);

typedef enum sa_verdict {
    SA_VERDICT_NONE = 0, /* no verdict (unparsable, or the judge call failed) */
    SA_VERDICT_FIRST,    /* the answer shown first ("A") is better */
    SA_VERDICT_SECOND,   /* the answer shown second ("B") is better */
    SA_VERDICT_TIE,
} sa_verdict;

const char *sa_verdict_label(sa_verdict v); /* "A", "B", "tie", or NULL for NONE */

/* Find the judge's verdict in text[0..len): the word "verdict" (any case,
 * not preceded by a letter or digit and not followed by one, so "verdicts"
 * and "nonverdict" do not count), optional "*" / "_" / spaces, an optional
 * ':', '=' or '-', then the value up to the end of the line. Markdown
 * emphasis, quotes and brackets ("**A**", "[[B]]", "\"tie\"") and a leading
 * "answer " or "response " are skipped. The value must then be "A", "B" or
 * "tie" (any case), followed by the end of the line or by one of . , ; : ! )
 * ( (so "Verdict: A." and "Verdict: tie (both fine)" parse, while "Verdict:
 * AB", "Verdict: A or B", "Verdict: C" and "Verdict: A because ..." do not).
 * The LAST verdict that parses wins (a judge may quote the format first or
 * change its mind); a later unparsable one does not erase it. */
bool sa_verdict_parse(const char *text, size_t len, sa_verdict *out);

typedef enum sa_pair_outcome {
    SA_PAIR_UNPARSABLE = 0,
    SA_PAIR_WIN,  /* for model A */
    SA_PAIR_TIE,
    SA_PAIR_LOSS,
} sa_pair_outcome;

const char *sa_pair_outcome_name(sa_pair_outcome o); /* "unparsable", "win", "tie", "loss" */

/* verdict_ab: order AB (A's answer shown first); verdict_ba: order BA (B's
 * answer shown first). The sign rule above. */
sa_pair_outcome sa_pairwise_combine(sa_verdict verdict_ab, sa_verdict verdict_ba);

typedef struct sa_verdict_pair {
    sa_verdict ab, ba;
} sa_verdict_pair;

typedef struct sa_pairwise_summary {
    size_t n, wins, ties, losses, unparsable;
    double win_rate, win_rate_lo, win_rate_hi;       /* NaN when no item has an outcome */
    double order_bias, order_bias_lo, order_bias_hi; /* NaN likewise */
    /* Order AB alone (what a single-order evaluation would report), over the
     * items with an AB verdict: first 1, tie 0.5, second 0. For comparison. */
    size_t n_single;
    double single_win_rate, single_lo, single_hi;
} sa_pairwise_summary;

/* Counts, rates and bootstrap intervals for v[n]. */
sa_status sa_pairwise_summarize(const sa_verdict_pair *v, size_t n, int32_t resamples, uint64_t seed, double alpha,
                                sa_pairwise_summary *out, sa_err *err);

/* ---- answer checking (task) ---------------------------------------------------------- */

/* Append the normalised text (see above) to out. */
sa_status sa_eval_normalize(const char *text, sa_strbuf *out);
/* True when any of answers[n] matches output (normalised, whole words). */
bool sa_eval_answer_match(const char *output, const char *const *answers, size_t n);

/* ---- runs -------------------------------------------------------------------------------- */

typedef enum sa_judge_mode { SA_JUDGE_GENERATE = 0, SA_JUDGE_LOGITS, SA_JUDGE_MODE_COUNT } sa_judge_mode;

const char *sa_judge_mode_name(sa_judge_mode m); /* "generate", "logits"; "?" if invalid */
sa_status sa_judge_mode_parse(const char *name, sa_judge_mode *out, sa_err *err);

/* Progress: called after each chunk (stage "answers A", "answers B",
 * "judging", "scoring", "answers"). */
typedef void (*sa_eval_progress_fn)(void *ctx, const char *stage, size_t done, size_t total);

typedef struct sa_eval_opts {
    const char *out;              /* summary JSON path (required); items beside it */
    sa_judge_mode judge_mode;     /* pairwise */
    int32_t max_tokens;           /* answer tokens at most */
    int32_t judge_max_tokens;     /* generate judge: tokens at most */
    float temperature;            /* answers (0 = greedy, the default) */
    uint64_t seed;                /* answers, judge and bootstrap */
    int32_t resamples;            /* bootstrap resamples */
    double alpha;                 /* 1 - confidence (0.05) */
    int32_t chunk;                /* items generated together between progress/signal checks */
    const char *system;           /* leading system message for answers and NLL; NULL = none */
    const sa_prompts *prompts;    /* NULL = the built-ins ("judge_pairwise") */
    /* Chat templates; NULL = each engine tokenizer's (sa_chat_template_resolve:
     * detected, else alpaca). */
    const sa_chat_template *tmpl_a, *tmpl_b, *tmpl_judge;
    const char *a_name, *b_name, *judge_name, *model_name; /* written to the JSON */
    sa_eval_progress_fn on_progress; /* may be NULL */
    void *ctx;
} sa_eval_opts;

/* judge generate, max_tokens 256, judge_max_tokens 256, temperature 0,
 * seed 0, resamples 1000, alpha 0.05, chunk 64. */
sa_eval_opts sa_eval_default_opts(void);

typedef struct sa_eval_pairwise_result {
    sa_pairwise_summary sum;
    size_t errors;  /* items with an engine failure (counted in sum.unparsable) */
    double seconds, prompts_per_s;
} sa_eval_pairwise_result;

typedef struct sa_eval_nll_result {
    size_t n;            /* items scored */
    size_t no_reference; /* items without a reference (skipped) */
    size_t errors;       /* items the engine could not score (skipped) */
    uint64_t tokens;
    double mean_nll, lo, hi; /* NaN when n == 0 */
    double seconds, prompts_per_s;
} sa_eval_nll_result;

typedef struct sa_eval_task_result {
    size_t n, correct;
    size_t errors;       /* answers the engine failed on (counted as wrong) */
    size_t no_answers;   /* items without accepted answers (skipped) */
    double accuracy, lo, hi;
    bool has_chance;
    double chance;
    double seconds, prompts_per_s;
} sa_eval_task_result;

/* Each writes o->out and its items file. Fails on engine, memory or I/O
 * errors; per-item engine failures are counted instead. SA_ERR_INTERRUPTED
 * on a pending signal (signal.h), checked between chunks. */
sa_status sa_eval_pairwise(sa_engine *a, sa_engine *b, sa_engine *judge, const sa_eval_set *set,
                           const sa_eval_opts *o, sa_eval_pairwise_result *res, sa_err *err);
sa_status sa_eval_nll(sa_engine *m, const sa_eval_set *set, const sa_eval_opts *o, sa_eval_nll_result *res,
                      sa_err *err);
sa_status sa_eval_task(sa_engine *m, const sa_eval_set *set, const sa_eval_opts *o, sa_eval_task_result *res,
                       sa_err *err);

/* The items path for an output path (see above), appended to out. */
sa_status sa_eval_items_path(const char *out_path, sa_strbuf *out);

#ifdef __cplusplus
}
#endif
#endif
