/* rouge.h — ROUGE-L between short texts, and a pool that answers "is any
 * member at least this similar?" without comparing against every member.
 *
 * Purpose: self-instruct (selfinstruct.h) rejects a generated instruction
 * whose ROUGE-L F-measure against any instruction already in the pool
 * exceeds 0.7. With tens of thousands of members a brute-force scan costs
 * one LCS per member per candidate; sa_rouge_pool keeps a word inverted
 * index and computes the LCS only for members that could reach the
 * threshold, with the same answer as the scan.
 *
 * Tokenization (both functions, stable across versions): a word is a
 * maximal run of bytes that are ASCII letters, ASCII digits or non-ASCII
 * bytes (>= 0x80, so a UTF-8 word such as "café" or "日本語" stays one word);
 * every other byte (ASCII space, punctuation, control) separates words.
 * ASCII letters are lower-cased; non-ASCII bytes are compared as they are.
 * No stemming, no stop words.
 *
 * Score: with a = words of one text, b = words of the other and
 * L = LCS(a, b) (longest common subsequence of words),
 *     P = L / |b|, R = L / |a|, F = 2PR / (P + R) = 2L / (|a| + |b|).
 * F is symmetric; F = 0 when either text has no word.
 *
 * Exact pruning (the pool): let S = sum over words w of min(ca(w), cb(w))
 * (shared word tokens counted with multiplicity). Every LCS pairs equal
 * words, each at most min(ca, cb) times, so L <= S and F <= 2S/(|a|+|b|).
 * Also L <= min(|a|, |b|), so F >= t needs |b| in [t|a|/(2-t), (2-t)|a|/t]
 * and S >= t|a|/(2-t). The query's word tokens are ordered rarest first
 * (by how many members hold the word); a member sharing at least m tokens
 * must hold one of the words that cover the first |a| - m + 1 of them
 * (prefix filtering), so only those words' posting lists are read. The
 * postings carry counts, so reading them sums each reached member's shared
 * tokens in those words; adding the query tokens not read bounds S. A
 * member whose bound passes gets its exact S by merging sorted (word,
 * count) lists, and the LCS only when 2S/(|a|+|b|) can still reach the
 * threshold (or the best score found so far, which only rises). Bounds are evaluated with the
 * same floating-point formula as the score, with a safety margin on the
 * derived integer limits, so there are no false negatives.
 *
 * Ownership: sa_rouge_pool owns copies of nothing but word ids (member
 * texts are not kept); sa_rouge_pool_free releases it. Queries reuse
 * scratch buffers held by the pool (grown amortised, never per member), so
 * a pool is not thread-safe, even for queries.
 *
 * Usage:
 *     double f = sa_rouge_l("Write a poem about cats.", "Write a short poem about a cat.");
 *     sa_rouge_pool *p;
 *     if (sa_rouge_pool_new(&p, &err)) ...;
 *     for (each seed) sa_rouge_pool_add(p, seed, NULL, &err);
 *     double best; int64_t at;
 *     bool dup;
 *     if (sa_rouge_pool_max(p, candidate, 0.7, &best, &at, &dup, &err)) ...;
 *     if (!dup) sa_rouge_pool_add(p, candidate, NULL, &err);
 *     sa_rouge_pool_free(p);
 */
#ifndef SA_ROUGE_H
#define SA_ROUGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ROUGE-L F-measure of two NUL-terminated texts (see above); in [0, 1].
 * Returns -1 only when memory runs out. */
double sa_rouge_l(const char *a, const char *b);
/* LCS length of two word-id sequences (O(na * nb) time, O(nb) memory from
 * the caller: row[nb + 1]). */
uint32_t sa_rouge_lcs(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, uint32_t *row);
/* Number of words in text under the rule above. */
size_t sa_rouge_count_words(const char *text);

typedef struct sa_rouge_pool sa_rouge_pool;

typedef struct sa_rouge_pool_stats {
    uint64_t queries;        /* sa_rouge_pool_max calls */
    uint64_t pairs;          /* sum of the pool size at each query (brute force's LCS count) */
    uint64_t candidates;     /* members reached through the index within the length window */
    uint64_t lcs_computed;   /* members whose LCS was computed */
    uint64_t pruned;         /* pairs - lcs_computed */
} sa_rouge_pool_stats;

sa_status sa_rouge_pool_new(sa_rouge_pool **out, sa_err *err);
void sa_rouge_pool_free(sa_rouge_pool *p);
/* Members so far. */
size_t sa_rouge_pool_size(const sa_rouge_pool *p);
/* Add text as the next member (index = the size before the call; a text
 * without words is a member that matches nothing). *index may be NULL. */
sa_status sa_rouge_pool_add(sa_rouge_pool *p, const char *text, size_t *index, sa_err *err);
/* Is there a member with F >= threshold (0 < threshold <= 1)? *found says.
 * When found, *best_score is the highest F over ALL members and
 * *best_index the lowest index reaching it, exactly as a brute-force scan
 * would report. When not found, *best_score is the highest F among the
 * members that were compared (a lower bound on the true maximum, which is
 * below threshold) and *best_index that member or -1. Any of the three
 * out pointers may be NULL. threshold outside (0, 1]: SA_ERR_INVALID_ARG. */
sa_status sa_rouge_pool_max(sa_rouge_pool *p, const char *text, double threshold, double *best_score,
                            int64_t *best_index, bool *found, sa_err *err);
/* The same answer by comparing against every member (for tests and the
 * benchmark; counts into the same stats). */
sa_status sa_rouge_pool_max_brute(sa_rouge_pool *p, const char *text, double threshold, double *best_score,
                                  int64_t *best_index, bool *found, sa_err *err);
void sa_rouge_pool_get_stats(const sa_rouge_pool *p, sa_rouge_pool_stats *out);

#ifdef __cplusplus
}
#endif
#endif
