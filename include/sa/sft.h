/* sft.h — supervised fine-tuning data: records -> token sequences with
 * loss masks, held-out split and length-bucketed batches.
 *
 * Purpose: every fine-tune of the methods (the Humpback backward model,
 * M0..Mt, Dromedary's engraving and cloning) reads instruction records and
 * trains on the response tokens only. This module turns records (our
 * schema, Alpaca, ShareGPT, OpenAI messages: record.h reads them all) into
 * examples through a chat template (chat.h: the model's own, or "alpaca"
 * as the plain instruction template) and, for plain-text language-model
 * training, turns text into fixed windows.
 *
 * An example is n token ids with a per-token loss flag; it trains n - 1
 * rows (input ids[0..n-2], target ids[1..n-1], a row counts when the flag
 * of its TARGET token is set). Chat examples flag the assistant spans that
 * sa_chat_encode returns (content and end-of-turn marker; every assistant
 * turn of a multi-turn record); system, user and template tokens never
 * count.
 *
 * Tags (Humpback): a system sentence per record source,
 * e.g. {"seed", "Answer in the style of an AI Assistant."}, {"augmented",
 * "Answer with knowledge from web search."}. A record's own `system` wins
 * over its tag; with neither, the template's default system (if any)
 * applies. The chosen system goes in as a leading system message. Reverse (the backward model p(x|y)): the user turn is the
 * record's output and the assistant turn is its instruction (with the input
 * appended after a blank line when present); only the first exchange of a
 * multi-turn record is used.
 *
 * Nothing is dropped silently: every record that yields no example (a
 * malformed line, an empty response, no loss token left, longer than the
 * limit under the skip policy) is reported through on_bad with
 * "path:line: reason" and counted in sa_sft_stats; truncations are
 * reported and counted too. With fail_on_bad the first drop is an error
 * (a truncation never is). The JSONL/array reading and record parsing are
 * record.h's and jsonl.h's; a parser rejection of an empty output counts
 * as empty_response, any other as bad.
 *
 * Ownership: sa_sft_data owns its token pool and example table
 * (sa_sft_data_free). sa_sft_batches owns its index array. The tokenizer
 * and template are borrowed during sa_sft_data_add_* only.
 *
 * Usage:
 *     sa_sft_opts o = {.tok = tok, .tmpl = &tmpl, .seq_len = 512, .tags = tags, .n_tags = 2};
 *     sa_sft_data d; sa_sft_data_init(&d);
 *     sa_sft_data_add_records(&d, "seed.jsonl", &o, &err);
 *     uint32_t *train, *eval; size_t nt, ne;
 *     sa_sft_split(&d, 0.05, seed, &train, &nt, &eval, &ne, &err);
 *     sa_sft_batches bt = {0};
 *     sa_sft_plan_epoch(&d, train, nt, 8, seed, epoch, true, &bt, &err);
 *     for (int64_t i = 0; i < bt.n_batches; i++) {
 *         int32_t T; int64_t n_loss;
 *         sa_sft_batch_fill(&d, bt.idx + i * 8, 8, 511, tokens, targets, mask, &T, &n_loss);
 *         ...
 *     }
 */
#ifndef SA_SFT_H
#define SA_SFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sa/chat.h"
#include "sa/status.h"
#include "sa/strbuf.h"
#include "sa/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_sft_tag {
    const char *source; /* record source, e.g. "seed" */
    const char *system; /* system sentence for that source */
} sa_sft_tag;

typedef enum sa_sft_trunc {
    SA_SFT_TRUNC_SKIP = 0, /* an example longer than seq_len is reported and skipped */
    SA_SFT_TRUNC_RIGHT,    /* cut to seq_len tokens (reported, counted); skipped if no
                            * loss token remains */
} sa_sft_trunc;

/* For record files, records = examples + bad + empty_response + too_long
 * (a truncated example is kept and counted in both examples and
 * truncated). For text, records counts documents and examples windows. */
typedef struct sa_sft_stats {
    int64_t records;        /* records read (good or bad) */
    int64_t examples;       /* examples kept */
    int64_t bad;            /* malformed lines / records the reader rejected, unknown
                             * turn roles, conversations the template refuses */
    int64_t empty_response; /* records whose response (any assistant turn) is empty or
                             * white space, whether the parser or sft.c found it */
    int64_t too_long;       /* skipped for length (policy skip) or no loss token left */
    int64_t truncated;      /* kept but cut (policy right) */
    int64_t tokens;         /* tokens in kept examples (sum of n) */
    int64_t loss_tokens;    /* of which flagged for loss */
    int32_t max_len;        /* longest kept example */
} sa_sft_stats;

/* Called for each record that yields no example or is truncated: where =
 * "path:line", reason in words (for JSON array files it starts with
 * "index N: "; an empty response's reason starts with "empty response";
 * a too-long one's with "too long"; a truncation's with "truncated").
 * Both strings are valid only during the call. */
typedef void (*sa_sft_report_fn)(void *ud, const char *where, const char *reason);

typedef struct sa_sft_opts {
    const sa_tokenizer *tok;     /* required */
    const sa_chat_template *tmpl; /* required for records; unused for text */
    int32_t seq_len;             /* max tokens per example (>= 2) */
    const sa_sft_tag *tags;      /* n_tags entries (may be NULL) */
    size_t n_tags;
    bool reverse;                /* backward-model examples */
    sa_sft_trunc trunc;
    bool fail_on_bad;            /* the first bad record is an error (default: report, count, go on) */
    sa_sft_report_fn on_bad;     /* NULL: reports are only counted */
    void *ud;
} sa_sft_opts;

typedef struct sa_sft_example {
    int64_t off;      /* into ids / loss */
    int32_t n;        /* tokens */
    int32_t n_loss;   /* flagged tokens among ids[1..n) */
    uint32_t file;    /* index into files[] */
    int64_t line;     /* 1-based line (or item) of the source record; 0 for text windows */
    uint64_t key;     /* stable identity: hash of (record id, forward/reverse) or of
                       * (file path, window index) — drives the split */
} sa_sft_example;

typedef struct sa_sft_data {
    int32_t *ids;     /* token pool */
    uint8_t *loss;    /* per token: 1 = counts as a target */
    int64_t n_tok, cap_tok;
    sa_sft_example *ex;
    size_t n_ex, cap_ex;
    char **files;     /* paths added, owned */
    size_t n_files;
    sa_sft_stats stats;
} sa_sft_data;

void sa_sft_data_init(sa_sft_data *d);
void sa_sft_data_free(sa_sft_data *d);
/* One line for logs: "N records -> N examples (...); skipped: ...", appended. */
sa_status sa_sft_stats_format(const sa_sft_stats *s, sa_strbuf *out);

/* Read a record file of any format record.h detects (JSON array or JSONL)
 * and append its examples. I/O errors and an unrecognised format are errors;
 * bad records follow the policy in opts. On any error d is left as it was
 * before the call (examples, tokens, files, stats); reports already made
 * stay made. */
sa_status sa_sft_data_add_records(sa_sft_data *d, const char *path, const sa_sft_opts *o, sa_err *err);

/* Plain-text language-model data: a .jsonl file of {"text": ...} objects
 * (each a document; other keys ignored, a line without a string "text" is
 * bad) or any other file read as one document. Documents are encoded
 * (BOS first when the tokenizer adds one), joined with EOS, and cut into
 * windows of seq_len tokens, every target counted; the last short window
 * is kept when it has at least 2 tokens. Consecutive windows share one
 * token (window k starts at token k * (seq_len - 1)), so every token but the
 * file's first is a target exactly once; windows are views of one stretch
 * of the pool. Invalid UTF-8 in a plain file is an error. */
sa_status sa_sft_data_add_text(sa_sft_data *d, const char *path, const sa_sft_opts *o, sa_err *err);

/* Deterministic held-out split: example i goes to eval when a hash of
 * (seed, key) falls below eval_frac, so the split does not depend on file
 * order. eval_frac in [0, 1). When eval_frac > 0 and the data has at least
 * 2 examples, eval gets at least one and train keeps at least one. Arrays
 * are malloc'd (free them); either may be empty (NULL, 0). */
sa_status sa_sft_split(const sa_sft_data *d, double eval_frac, uint64_t seed, uint32_t **train, size_t *n_train,
                       uint32_t **eval, size_t *n_eval, sa_err *err);

/* One epoch's batch order over subset[0..n). Deterministic in (seed,
 * epoch): the subset is shuffled; with bucket, windows of 32 batches are
 * sorted by length before being cut into batches (less padding), and the
 * batch order is shuffled again. Every example appears exactly once; the
 * last batch may be short, its missing slots are SA_SFT_NONE. */
#define SA_SFT_NONE UINT32_MAX
typedef struct sa_sft_batches {
    uint32_t *idx;     /* [n_batches * B] example indices */
    int64_t n_batches;
    int32_t B;
} sa_sft_batches;

/* out must be zeroed or hold an earlier plan: its idx is freed first, so one
 * sa_sft_batches can be reused epoch after epoch. subset entries must be
 * example indices (SA_ERR_INVALID_ARG otherwise). With bucket, the full
 * batches are shuffled and a short last batch stays last. */
sa_status sa_sft_plan_epoch(const sa_sft_data *d, const uint32_t *subset, size_t n, int32_t B, uint64_t seed,
                            int64_t epoch, bool bucket, sa_sft_batches *out, sa_err *err);
void sa_sft_batches_free(sa_sft_batches *b);

/* Fill one batch of B examples (idx[B], SA_SFT_NONE = empty slot) as
 * training rows: T = max(n) - 1 over the batch (at most max_T: longer
 * examples are cut, which cannot happen when max_T >= seq_len - 1), rows b*T
 * + t; padding rows have token 0, target 0, mask 0. tokens, targets, mask
 * hold B * max_T entries. *T_out = T, *n_loss = rows with mask 1. */
void sa_sft_batch_fill(const sa_sft_data *d, const uint32_t *idx, int32_t B, int32_t max_T, int32_t *tokens,
                       int32_t *targets, uint8_t *mask, int32_t *T_out, int64_t *n_loss);

#ifdef __cplusplus
}
#endif
#endif
