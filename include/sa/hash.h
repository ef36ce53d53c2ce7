/* hash.h — fast non-cryptographic hashing (xxHash XXH3) for ids and tables.
 *
 * Purpose: stable record ids (a hash of content), hash tables, RNG stream
 * splitting. The values are stable across runs, machines and versions of
 * selfalign because they come from XXH3, whose output is specified.
 *
 * Ownership: pure functions. sa_hash_state is a caller-owned streaming state.
 *
 * Usage:
 *     uint64_t h = sa_hash64(text, len, 0);
 *     char id[17]; sa_hash_hex(h, id);   // "9f1c...": 16 lowercase hex digits
 */
#ifndef SA_HASH_H
#define SA_HASH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

uint64_t sa_hash64(const void *data, size_t n, uint64_t seed);
/* Hash of a NUL-terminated string. */
uint64_t sa_hash_str(const char *s, uint64_t seed);
/* Mix two 64-bit values into one (order-sensitive); used to derive
 * per-record streams from (seed, id). */
uint64_t sa_hash_mix(uint64_t a, uint64_t b);
/* Write h as 16 lowercase hex digits plus NUL. */
void sa_hash_hex(uint64_t h, char out[17]);

/* Streaming hash over several pieces (e.g. the fields of a record, each
 * followed by a separator so ("ab","c") != ("a","bc")). */
typedef struct sa_hash_state {
    void *impl; /* XXH3_state_t, owned */
} sa_hash_state;
int sa_hash_state_init(sa_hash_state *st, uint64_t seed); /* 0 on success */
void sa_hash_state_update(sa_hash_state *st, const void *data, size_t n);
uint64_t sa_hash_state_digest(const sa_hash_state *st);
void sa_hash_state_free(sa_hash_state *st);

#ifdef __cplusplus
}
#endif
#endif
