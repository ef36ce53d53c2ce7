/* selfinstruct.h — Dromedary stage 1: topic-guided red-teaming self-instruct
 * (DESIGN.md 1.2, step 1). Grows a pool of user prompts from seed tasks by
 * few-shot prompting a base model.
 *
 * Purpose: `selfalign selfinstruct` reads seed instructions, optionally a
 * file of adversarial question types, and writes new prompts (records with
 * an instruction and no output) until --target of them are accepted.
 *
 * Seeds (sa_si_seeds_load): JSONL, one object a line, any of
 *   Self-Instruct tasks {id, name, instruction, instances, is_classification}
 *   (read through record.h; only the instruction is used), our records or
 *   Alpaca objects (their instruction), {"instruction": ...} alone, or
 *   {"question": ...} (e.g. Dromedary TGRT seed questions). Unparsable
 *   lines and objects without a non-blank instruction/question are reported
 *   (path:line) and counted; exact repeats are counted and skipped.
 *
 * Red-team types (sa_si_types_load): JSONL lines of either form
 *   {"type": "...", "description": "...", "examples": ["...", ...], "topics": ["...", ...]}
 *     (description, examples and topics optional; a repeated type is a bad line), or
 *   {"topic": "...", "question_type": "...", "question": "..."}
 *     (TGRT seed questions: grouped by question_type in order of first
 *     appearance; the questions become its examples, the topics its example topics).
 *
 * Bootstrapping (self-instruct): round r shows k instructions sampled from
 * the pool (seed and accepted ones; up to k/3 accepted ones once there are
 * any), numbered 1..k, in the "selfinstruct" prompt ({{tasks}}, {{next}} =
 * k + 1), and parses the numbered list the model writes (sa_si_parse_list).
 * Red-teaming (when a types file is given, before bootstrapping): per type
 * the model brainstorms topics ("redteam_topics": {{type}}, {{description}},
 * {{examples}}, {{topics}}, {{count}}); topics are trimmed, deduplicated
 * within the type (same normalized text — lower-case ASCII words — or
 * ROUGE-L > threshold against a kept one) and balanced: every type keeps the
 * same number, min(the smallest type's count, topics_per_type when set);
 * brainstorming repeats (up to topic_rounds) for types short of
 * topics_per_type. Then one request per (type, topic), topic-major so types
 * stay balanced if the target cuts the list short ("redteam_questions":
 * {{type}}, {{description}}, {{examples}}, {{topic}}, {{count}} =
 * questions_per_topic); its first questions_per_topic items are candidates.
 * Every prompt is one user message (sa_chat_encode: pool instructions and
 * topics stay plain text) with the generation prompt open.
 *
 * Filters, in order, first failure wins (sa_si_filter, then the pool):
 *   empty           nothing left after trimming (or no item in the output)
 *   truncated       the last item of an output cut off by max_tokens/context
 *   bad_start       the first character is not a letter
 *   too_short       at most min_words - 1 words (white-space separated; default <= 3)
 *   too_long        more than max_words words (default 150)
 *   blacklist       holds a blacklisted word or phrase (whole lower-cased words, rouge.h rule)
 *   near_duplicate  ROUGE-L F > rouge_threshold (0.7) against any pool member, seeds included
 * Accepted candidates join the pool at once (the next candidate is checked
 * against them). generated = accepted + sum of rejected, always.
 *
 * Records: accepted ones go to out_path as {id, instruction, source, meta}
 * (source "self_instruct" or "red_team"; meta {round} or {type, topic}, plus
 * model and seed; id = sa_record_compute_id of the instruction with no
 * input and no output). NOTE: record.h requires an output, so these
 * prompt records are written here, not with sa_record_to_json. Rejected ones
 * go to rejected_path as {reason, text, source, meta} (+ similar_to and
 * rouge_l for near_duplicate, word for blacklist).
 *
 * Determinism and resumption: every generation request has a journal id
 * ("si:R", "topics:T:J", "questions:T:I") and an engine request id hashed
 * from it, so its sample depends on (seed, that id) only. Its raw result is
 * journaled (<out>.journal) as it finishes, with a hash of the prompt
 * tokens. Work is processed in a fixed order in batches whose boundaries
 * depend on the options only (rounds_per_batch self-instruct rounds, whose
 * prompts all sample the pool as it was at the batch start; a whole
 * brainstorming round; chunk question requests). A rerun replays journaled
 * results in the same order — the pool grows exactly as before — and
 * generates only the missing requests, so out, rejected and stats.json are
 * byte-identical to an uninterrupted run's. The settings that shape prompts
 * and results are kept in <journal>.settings; a rerun with others is
 * refused (SA_ERR_INVALID_ARG), and so is a journaled result whose prompt
 * hash differs. target and max_rounds may change: a larger target continues
 * where the journal ends. SIGINT/SIGTERM: the journal is flushed and
 * sa_si_run returns SA_ERR_INTERRUPTED; final files are written atomically
 * (fileio.h) only at the end.
 *
 * Ownership: sa_si_run borrows everything it is given. The loaders fill
 * caller-owned structs released by their _free functions. sa_si_list owns
 * its strings.
 *
 * Usage:
 *     sa_chat_template t; bool fb;
 *     if (sa_chat_template_resolve(tok, NULL, &t, &fb, &err)) ...;   // alpaca for a base model
 *     sa_si_opts o = sa_si_default_opts();
 *     o.seed_path = "seed_tasks.jsonl"; o.types_path = "types.jsonl";
 *     o.out_path = "prompts.jsonl"; o.target = 1000; o.model_name = "base";
 *     sa_si_stats st;
 *     if (sa_si_run(engine, tok, &t, &o, &st, &err)) ...;   // SA_ERR_INTERRUPTED: rerun later
 */
#ifndef SA_SELFINSTRUCT_H
#define SA_SELFINSTRUCT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sa/chat.h"
#include "sa/engine.h"
#include "sa/jsonl.h"
#include "sa/prompts.h"
#include "sa/rouge.h"
#include "sa/status.h"
#include "sa/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sa_si_reason {
    SA_SI_ACCEPTED = 0,
    SA_SI_EMPTY,
    SA_SI_TRUNCATED,
    SA_SI_BAD_START,
    SA_SI_TOO_SHORT,
    SA_SI_TOO_LONG,
    SA_SI_BLACKLIST,
    SA_SI_NEAR_DUPLICATE,
    SA_SI_REASON_COUNT
} sa_si_reason;

/* "accepted", "empty", "truncated", "bad_start", "too_short", "too_long",
 * "blacklist", "near_duplicate". */
const char *sa_si_reason_name(sa_si_reason r);

/* ---- list parsing ------------------------------------------------------------ */

typedef struct sa_si_list {
    char **items;   /* trimmed item texts (may be ""), owned */
    size_t n, cap;
    bool ran_to_end; /* parsing consumed the whole text (no stop at a repeat or garbage) */
} sa_si_list;

void sa_si_list_free(sa_si_list *l);

/* Parse the numbered list in a model's output into l (reset first).
 * Lines are trimmed. An item line is an optional label word (ASCII letters,
 * e.g. "Task", "Question", "Topic") and a space, 1-4 digits, then '.', ')'
 * or ':' and the text ("7. text", "7) text", "Task 7: text"); a "- " or
 * "* " bullet counts as the next number. The first item may carry any
 * number; each later one must be 1-3 above the previous, else the list is
 * being repeated or went astray and parsing stops. Before the first item,
 * one unnumbered line is taken as the item (the model may continue right
 * after the number it was shown) unless it ends with ':' (a preamble, skipped).
 * After an item, an unnumbered line that starts with a letter, digit, quote
 * or non-ASCII byte and follows without a blank line continues it (joined
 * with a space); any other unnumbered line ends the list. At most max_items
 * items (0 = 64). */
sa_status sa_si_parse_list(const char *text, size_t max_items, sa_si_list *l, sa_err *err);

/* ---- filters ----------------------------------------------------------------- */

typedef struct sa_si_filter_opts {
    uint32_t min_words;               /* fewer words: too_short (default 4) */
    uint32_t max_words;               /* more words: too_long (default 150) */
    const char *const *blacklist;     /* words or phrases; NULL = the default list */
    size_t n_blacklist;
} sa_si_filter_opts;

/* The default blacklist (things a text-only model cannot see, make or
 * visit): image(s), picture(s), photo(s), graph(s), file(s), map(s), draw,
 * plot, go to, video(s), audio, music, flowchart, diagram(s). */
const char *const *sa_si_default_blacklist(size_t *n);
/* The first filter text fails, or SA_SI_ACCEPTED (near_duplicate and
 * truncated are decided by the caller). For blacklist, *matched (may be
 * NULL) points at the blacklist entry. */
sa_si_reason sa_si_filter(const sa_si_filter_opts *f, const char *text, const char **matched);

/* ---- inputs ------------------------------------------------------------------ */

typedef struct sa_si_seeds {
    char **v;           /* instructions in file order, distinct, owned */
    size_t n, cap;
    uint64_t bad_lines; /* reported and skipped */
    uint64_t duplicates;
} sa_si_seeds;

/* on_bad (may be NULL) receives every bad line; strict: the first is fatal. */
sa_status sa_si_seeds_load(const char *path, bool strict, sa_jsonl_bad_fn on_bad, void *ctx, sa_si_seeds *out,
                           sa_err *err);
void sa_si_seeds_free(sa_si_seeds *s);

typedef struct sa_si_type {
    char *name, *description;       /* description "" when absent */
    char **examples;                /* example questions */
    size_t n_examples, cap_examples;
    char **topics;                  /* example topics */
    size_t n_topics, cap_topics;
} sa_si_type;

typedef struct sa_si_types {
    sa_si_type *v;
    size_t n, cap;
    uint64_t bad_lines;
} sa_si_types;

sa_status sa_si_types_load(const char *path, bool strict, sa_jsonl_bad_fn on_bad, void *ctx, sa_si_types *out,
                           sa_err *err);
void sa_si_types_free(sa_si_types *t);

/* ---- topics ------------------------------------------------------------------ */

/* The distinct topics of one type. */
typedef struct sa_si_topic_set {
    char **v;        /* kept topics in order, owned */
    size_t n, cap;
    char **keys;     /* normalized forms, parallel to v */
    sa_rouge_pool *pool;
    double threshold; /* ROUGE-L above this is a duplicate */
} sa_si_topic_set;

sa_status sa_si_topic_set_init(sa_si_topic_set *s, double threshold, sa_err *err);
void sa_si_topic_set_free(sa_si_topic_set *s);
/* Trim topic (white space, a trailing '.', surrounding quotes) and keep it
 * unless empty, longer than 12 words, or a duplicate; *added says. */
sa_status sa_si_topic_set_add(sa_si_topic_set *s, const char *topic, bool *added, sa_err *err);
/* Topics each type keeps: the smallest count, capped at cap when cap > 0. */
size_t sa_si_balance(const size_t *counts, size_t n, size_t cap);

/* ---- the stage --------------------------------------------------------------- */

typedef struct sa_si_opts {
    const char *seed_path;      /* seed instructions (required) */
    const char *types_path;     /* red-team types; NULL = no red-teaming */
    const char *out_path;       /* accepted prompts (required) */
    const char *rejected_path;  /* NULL = <out>.rejected.jsonl */
    const char *journal_path;   /* NULL = <out>.journal */
    const char *stats_path;     /* NULL = stats.json in out's directory */
    const sa_prompts *prompts;  /* NULL = the built-in ones */
    const char *model_name;     /* meta.model (NULL = "") */
    uint64_t target;            /* accepted new prompts to stop at (required, >= 1) */
    uint32_t max_rounds;        /* self-instruct rounds at most (0 = no limit, the default) */
    uint32_t stall_rounds;      /* stop after this many rounds in a row accept nothing (default 200; 0 = never) */
    uint32_t k;                 /* examples shown per round (default 6) */
    uint32_t rounds_per_batch;  /* rounds whose prompts share one pool snapshot (default 8) */
    uint32_t max_items;         /* items taken from one self-instruct output (default 20) */
    uint32_t chunk;             /* red-team question requests per engine call (default 32) */
    uint32_t topics_per_type;   /* 0 = one brainstorming round, keep the smallest count */
    uint32_t topics_per_request;/* {{count}} in the topics prompt (default 10) */
    uint32_t topic_rounds;      /* brainstorming rounds at most (default 4; 1 when topics_per_type is 0) */
    uint32_t questions_per_topic; /* default 2 */
    sa_si_filter_opts filter;
    double rouge_threshold;     /* default 0.7 */
    int32_t max_tokens;         /* default 256 */
    float temperature, top_p;   /* default 0.7, 0.9 */
    uint64_t seed;              /* default 0 */
    bool strict;                /* the first bad input line is fatal */
    FILE *progress;             /* progress and warnings; NULL = quiet */
} sa_si_opts;

sa_si_opts sa_si_default_opts(void);

typedef struct sa_si_stats {
    char stop_reason[32];       /* "target", "max_rounds" or "stalled" */
    uint64_t seeds, seed_bad_lines, seed_duplicates, type_bad_lines;
    uint64_t types, topics_per_type; /* balanced count */
    uint64_t rounds;            /* self-instruct rounds processed */
    uint64_t requests;          /* generation requests processed */
    uint64_t failed_requests;   /* requests the engine failed (no candidates) */
    uint64_t replayed;          /* requests answered from the journal (this run) */
    uint64_t generated_now;     /* requests generated by this run */
    uint64_t generated;         /* candidates classified */
    uint64_t by_reason[SA_SI_REASON_COUNT]; /* [SA_SI_ACCEPTED] = accepted */
    uint64_t accepted_self_instruct, accepted_red_team;
    sa_rouge_pool_stats rouge;  /* the near-duplicate filter's cost */
    double seconds;             /* wall time of this run */
} sa_si_stats;

/* Stable engine request id for a journal id ("si:3"). */
uint64_t sa_si_request_id(const char *journal_id);

/* Run the stage (see above). stats may be NULL. */
sa_status sa_si_run(sa_engine *e, const sa_tokenizer *tok, const sa_chat_template *t, const sa_si_opts *o,
                    sa_si_stats *stats, sa_err *err);

#ifdef __cplusplus
}
#endif
#endif
