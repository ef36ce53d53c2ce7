/* minhash.h — exact and near-duplicate detection for corpus segments.
 *
 * Purpose: drop repeated web text before it becomes training data. Exact
 * duplicates are found by hashing the normalised text (lowercase, white space
 * collapsed, punctuation stripped); near duplicates by MinHash over word
 * shingles (default 3-grams, 128 permutations) with LSH banding (default 32
 * bands x 4 rows). LSH only proposes candidates; a candidate counts as a
 * duplicate when the estimated Jaccard similarity of the two signatures is
 * >= threshold (default 0.8). Everything is seeded, so results depend only on
 * the input order and the options, never on addresses or time.
 *
 * Each shingle is hashed once with XXH3 (seeded with opts.seed); the 128
 * permutation values are derived from that hash by xor with per-permutation
 * salts (themselves XXH3-derived from the seed) and a 64-bit finaliser. This
 * is a standard cheap stand-in for independent hash functions.
 *
 * Ownership: sa_dedup_init allocates a sa_dedup that the caller releases with
 * sa_dedup_free. It keeps one signature per kept item (num_perm x 8 bytes).
 *
 * Usage:
 *     sa_minhash_opts o; sa_minhash_default_opts(&o);
 *     sa_dedup *d; if (sa_dedup_init(&d, &o, &err) != SA_OK) return err.code;
 *     sa_dedup_result r;
 *     sa_dedup_add(d, text, len, &r, &err);   // r.kind: NEW, EXACT or NEAR; r.dup_of
 *     sa_dedup_free(d);
 */
#ifndef SA_MINHASH_H
#define SA_MINHASH_H
#include <stddef.h>
#include <stdint.h>
#include "sa/status.h"
#include "sa/strbuf.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_minhash_opts {
    uint32_t num_perm;  /* signature length (default 128); must equal bands * rows */
    uint32_t bands;     /* LSH bands (default 32) */
    uint32_t shingle;   /* words per shingle (default 3) */
    double threshold;   /* estimated Jaccard for a near duplicate (default 0.8) */
    uint64_t seed;      /* hashing seed (default 0) */
} sa_minhash_opts;

void sa_minhash_default_opts(sa_minhash_opts *o);

/* Normalised text: ASCII letters lowercased, ASCII punctuation removed,
 * every run of white space (and removed punctuation) collapsed to one space,
 * no leading/trailing space. Non-ASCII bytes are kept as they are. Appends to
 * out. */
sa_status sa_text_normalize(const char *s, size_t n, sa_strbuf *out);

/* MinHash signature (o->num_perm values) of normalised text `norm`. Texts with
 * fewer words than o->shingle are one shingle. */
void sa_minhash_signature(const sa_minhash_opts *o, const char *norm, size_t n, uint64_t *sig);
/* Fraction of equal positions: an estimate of the Jaccard similarity. */
double sa_minhash_similarity(const uint64_t *a, const uint64_t *b, uint32_t num_perm);

typedef enum sa_dedup_kind { SA_DEDUP_NEW = 0, SA_DEDUP_EXACT, SA_DEDUP_NEAR } sa_dedup_kind;
typedef struct sa_dedup_result {
    sa_dedup_kind kind;
    uint64_t dup_of;    /* index (in add order, counting NEW items only) of the kept item */
    double similarity;  /* estimated Jaccard for NEAR, 1 for EXACT */
} sa_dedup_result;

typedef struct sa_dedup sa_dedup;
sa_status sa_dedup_init(sa_dedup **out, const sa_minhash_opts *o, sa_err *err);
void sa_dedup_free(sa_dedup *d);
/* Check raw text against every item kept so far; when it is NEW it is kept
 * (indexes are 0, 1, 2... over NEW items). The first occurrence always wins.
 * near_dedup false skips MinHash (exact only). */
sa_status sa_dedup_add(sa_dedup *d, const char *text, size_t n, int near_dedup,
                       sa_dedup_result *res, sa_err *err);
/* Number of items kept. */
uint64_t sa_dedup_count(const sa_dedup *d);

#ifdef __cplusplus
}
#endif
#endif
