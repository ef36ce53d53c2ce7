/* answer_filter.h — the pure parts of Dromedary's principle-driven answer
 * stage (principles.h): the exemplar file format, answer extraction, and the
 * filters that drop leaking, repeating, short and reflexively refusing
 * answers. No model, no files: text in, verdict out.
 *
 * Purpose: `selfalign principles` asks a base model to answer queries after
 * a list of principles and a few worked exemplars. The model's text is kept
 * only when it passes these filters; every rejection has a reason name.
 *
 * Exemplar format (prompts/principle_exemplars.txt). Markers are lines that
 * hold exactly the marker (trailing spaces and a '\r' are ignored); the text
 * of a section is on the lines after its marker:
 *
 *     optional intro text (kept in the prompt, not an exemplar)
 *
 *     ### User:
 *     the user's query (one or more lines)
 *     ### Internal thoughts:
 *     the assistant's private thoughts, naming principles by number and name
 *     ### Answer:
 *     the final answer shown to the user
 *     ### End
 *
 * Exemplars follow each other, separated by blank lines only. Errors, each
 * naming "<name>:<line>" and the problem: a marker out of order (e.g.
 * "### Answer:" before "### Internal thoughts:"), a blank section, text
 * between "### End" and the next "### User:", a file that ends inside an
 * exemplar, or a file with no exemplar at all.
 *
 * Answer extraction (SA_PRINCIPLES_ANSWER mode): the final answer is the
 * text after the FIRST "### Answer:" in the generation (anywhere, not only
 * at a line start), trimmed; no marker = rejection "no_marker".
 *
 * Leakage blacklist (sa_leak_list), derived automatically from the
 * exemplars (sa_leak_list_build), plus user words:
 *   ngram    every word 6-gram of an exemplar's query, thoughts or answer
 *            with at least 2 content words (words of >= 3 characters that
 *            are not common English function words), matched case-
 *            insensitively: one verbatim 6-word run copied from an
 *            exemplar is leakage;
 *   entity   capitalised words of >= 4 characters found in the middle of a
 *            sentence in an exemplar (so sentence-initial "However" is not
 *            one; "I", "AI" never are), matched case-sensitively; an answer
 *            is leaking when it holds at least min_entities (default 2)
 *            distinct entities of ONE exemplar — a single shared name
 *            ("Africa") is common, two from the same exemplar signal that the
 *            model answered the exemplar instead of the query;
 *   marker   the format markers themselves ("### User:", "### Internal
 *            thoughts:", "### Answer:", "### End") and the phrase "internal
 *            thoughts": the answer talks about the prompt's scaffolding;
 *   user     phrases given by the user (--leak-words), matched as whole
 *            words, case-insensitively; one hit is leakage.
 * Any entry (except markers) whose words also occur in the current query is
 * ignored for that query: a query about Kilimanjaro may be answered with
 * Kilimanjaro. Words are runs of ASCII letters/digits and non-ASCII
 * characters other than typographic punctuation (U+00A0..U+00BF,
 * U+2000..U+207F, U+3000..U+303F: curly quotes and dashes split words).
 *
 * Repetition: the answer is split into sentences (ending at '.', '!', '?'
 * followed by white space, or at a line break); sentences of fewer than 3
 * words are ignored. The answer is cut at the start of the first sentence
 * whose words (lower-cased) equal an earlier sentence's. When the cut leaves
 * fewer than min_words words, the answer is rejected as "repetition";
 * otherwise the cut answer goes on (and is marked cut).
 *
 * Refusal: a reflexive refusal is an answer that STARTS with one of the
 * patterns (case-insensitive; runs of white space compare as one space;
 * the typographic apostrophe U+2019 equals ') and has at most
 * refusal_max_words words in all (default 50; 0 = any length): a short
 * "I'm sorry, but I can't help with that." is rejected, while "As an AI I
 * cannot browse, but here is how to check: ..." with real content is kept.
 * Queries marked harmful are exempt (their refusal is the right answer).
 *
 * Classification order (first that applies wins): error, truncated (finish
 * "length" or "context"), no_marker (answer mode), leakage (on the whole
 * answer), repetition (cut, then too little left), refusal (on the cut
 * answer), too_short (fewer than min_words words after the cut).
 *
 * Ownership: sa_exemplars and sa_leak_list own their strings (free with
 * their _free functions). Verdicts point into the caller's text or into the
 * filter's lists (borrowed, valid while those live).
 *
 * Usage:
 *     sa_exemplars ex = {0};
 *     if (sa_exemplars_parse(text, "principle_exemplars.txt", &ex, &err)) ...;
 *     sa_leak_list *leaks;
 *     sa_leak_list_build(&ex, user_words, n_user_words, &leaks, &err);
 *     sa_answer_filter f = sa_answer_filter_default();
 *     f.need_marker = true; f.leaks = leaks;
 *     sa_answer_verdict v;
 *     if (sa_answer_classify(&f, query, false, gen, SA_FINISH_EOS, &v) == SA_ANS_ACCEPTED)
 *         keep(v.answer, v.answer_len);
 *     sa_leak_list_free(leaks); sa_exemplars_free(&ex);
 */
#ifndef SA_ANSWER_FILTER_H
#define SA_ANSWER_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sa/engine.h"
#include "sa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SA_MARK_USER "### User:"
#define SA_MARK_THOUGHTS "### Internal thoughts:"
#define SA_MARK_ANSWER "### Answer:"
#define SA_MARK_END "### End"

/* ---- exemplars ----------------------------------------------------------------- */

typedef struct sa_exemplar {
    char *query, *thoughts, *answer; /* trimmed section texts (owned) */
    uint32_t line;                   /* 1-based line of its "### User:" */
} sa_exemplar;

typedef struct sa_exemplars {
    sa_exemplar *v;
    size_t n;
    char *intro; /* trimmed text before the first exemplar ("" when none; owned) */
} sa_exemplars;

/* Parse text (NUL-terminated); name is used in error messages
 * ("<name>:<line>: ..."). out is overwritten (free it first if reused). */
sa_status sa_exemplars_parse(const char *text, const char *name, sa_exemplars *out, sa_err *err);
void sa_exemplars_free(sa_exemplars *x);

/* ---- leakage ------------------------------------------------------------------- */

typedef struct sa_leak_list sa_leak_list;

typedef enum sa_leak_kind { SA_LEAK_NGRAM = 0, SA_LEAK_ENTITY, SA_LEAK_MARKER, SA_LEAK_USER } sa_leak_kind;

/* Build the list from the exemplars (NULL = none: user words and markers
 * only) and user phrases (words[n_words], blank ones ignored). */
sa_status sa_leak_list_build(const sa_exemplars *x, const char *const *words, size_t n_words, sa_leak_list **out,
                             sa_err *err);
void sa_leak_list_free(sa_leak_list *l);
/* Entries, for reports and tests: count, and entry i's text and kind. */
size_t sa_leak_list_count(const sa_leak_list *l);
const char *sa_leak_list_entry(const sa_leak_list *l, size_t i, sa_leak_kind *kind);
/* Distinct entities of one exemplar needed for leakage (default 2, >= 1). */
void sa_leak_list_set_min_entities(sa_leak_list *l, uint32_t n);
/* The entry that makes answer[0..len) leak for this query (see above), or
 * NULL when it does not. For entity leaks, the entity that reached the
 * threshold is named. */
const char *sa_leak_find(const sa_leak_list *l, const char *query, const char *answer, size_t len);

/* ---- text measures --------------------------------------------------------------- */

/* Words in text[0..len) (same word rule as above). */
size_t sa_answer_word_count(const char *text, size_t len);
/* Length to keep: the offset of the first repeated sentence (trailing white
 * space before it dropped), or len when no sentence repeats. */
size_t sa_answer_cut_repetition(const char *text, size_t len);
/* The built-in refusal patterns (see principles docs); *n receives the count. */
const char *const *sa_refusal_default_patterns(size_t *n);
/* The pattern that text starts with (see above; leading white space, quotes
 * and '*' are skipped), or NULL. */
const char *sa_refusal_match(const char *text, size_t len, const char *const *patterns, size_t n);
/* Find the answer after SA_MARK_ANSWER in gen[0..len): true and the trimmed
 * span, or false when the marker is missing. */
bool sa_answer_extract(const char *gen, size_t len, const char **ans, size_t *ans_len);

/* ---- classification --------------------------------------------------------------- */

typedef enum sa_answer_reason {
    SA_ANS_ACCEPTED = 0,
    SA_ANS_ERROR,
    SA_ANS_TRUNCATED,
    SA_ANS_NO_MARKER,
    SA_ANS_LEAKAGE,
    SA_ANS_REPETITION,
    SA_ANS_REFUSAL,
    SA_ANS_TOO_SHORT,
    SA_ANS_REASON_COUNT
} sa_answer_reason;

/* "accepted", "error", "truncated", "no_marker", "leakage", "repetition",
 * "refusal", "too_short". */
const char *sa_answer_reason_name(sa_answer_reason r);

typedef struct sa_answer_filter {
    bool need_marker;               /* answer mode: extract after SA_MARK_ANSWER */
    const sa_leak_list *leaks;      /* NULL = no leakage check */
    const char *const *refusals;    /* NULL with n_refusals 0 = the built-ins; */
    size_t n_refusals;              /*   non-NULL with 0 = no refusal check */
    uint32_t refusal_max_words;     /* default 50; 0 = any length */
    uint32_t min_words;             /* default 8 */
} sa_answer_filter;

sa_answer_filter sa_answer_filter_default(void);

typedef struct sa_answer_verdict {
    sa_answer_reason reason;
    const char *answer; /* the kept answer (into gen), trimmed and cut */
    size_t answer_len;
    bool cut;           /* a repeated tail was removed */
    const char *detail; /* leakage: the entry; refusal: the pattern; else NULL (borrowed) */
} sa_answer_verdict;

/* Classify one generation gen (NUL-terminated, may be NULL for "") for the
 * query (see the order above). harmful exempts it from the refusal check. */
sa_answer_reason sa_answer_classify(const sa_answer_filter *f, const char *query, bool harmful, const char *gen,
                                    sa_finish_reason finish, sa_answer_verdict *v);

#ifdef __cplusplus
}
#endif
#endif
