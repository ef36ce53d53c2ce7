/* rng.h — seedable, splittable pseudo-random numbers (xoshiro256**).
 *
 * Purpose: every random choice in selfalign (sampling a token, shuffling a
 * dataset, dropout, picking exemplars) draws from an explicit sa_rng, so a
 * run is reproducible from its seed and a checkpoint can save and restore
 * the generator bit-exactly (the state is four public uint64_t words).
 *
 * Algorithm: xoshiro256** 1.0 by David Blackman and Sebastiano Vigna
 * ("Scrambled linear pseudorandom number generators", ACM TOMS 2021),
 * seeded through splitmix64 as its authors recommend. Not cryptographic.
 *
 * Streams: sa_rng_split(&r, run_seed, record_id) derives an independent
 * generator from (run seed, stream id) by hashing the pair (sa_hash_mix,
 * XXH3) and seeding from the hash; a record's sampling therefore never
 * depends on batch order, thread count or MPI rank.
 *
 * Ownership: plain value, no heap memory; copy it to fork a generator.
 * Not thread-safe: one sa_rng per thread/stream.
 *
 * Usage:
 *     sa_rng r;
 *     sa_rng_split(&r, cfg.seed, record_id);
 *     float u = sa_rng_float(&r);              // [0, 1)
 *     uint64_t k = sa_rng_below(&r, vocab);    // uniform in [0, vocab)
 */
#ifndef SA_RNG_H
#define SA_RNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_rng {
    uint64_t s[4]; /* xoshiro256** state; never all zero */
} sa_rng;

/* One splitmix64 step: advance *state and return the next output
 * (seed 0 gives 0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, ...). */
uint64_t sa_splitmix64(uint64_t *state);

/* Seed from a 64-bit value (the four words are successive splitmix64
 * outputs). Every seed, 0 included, gives a valid state. */
void sa_rng_init(sa_rng *rng, uint64_t seed);
/* Independent stream for (seed, stream_id), e.g. (run seed, record id). */
void sa_rng_split(sa_rng *out, uint64_t seed, uint64_t stream_id);

uint64_t sa_rng_u64(sa_rng *rng);
uint32_t sa_rng_u32(sa_rng *rng);  /* high 32 bits of the next u64 */
float sa_rng_float(sa_rng *rng);   /* uniform in [0, 1), 24 random bits */
double sa_rng_double(sa_rng *rng); /* uniform in [0, 1), 53 random bits */
/* Uniform integer in [0, n), unbiased (Lemire's multiply-and-reject).
 * n == 0 returns 0. */
uint64_t sa_rng_below(sa_rng *rng, uint64_t n);
/* Standard normal (mean 0, sd 1) by Box–Muller, one u64 pair per value so
 * the state stays four words. Uses log/sqrt/cos from libm. */
double sa_rng_normal(sa_rng *rng);
/* Uniform random permutation of arr[0..n) in place (Fisher–Yates). */
void sa_rng_shuffle_u32(sa_rng *rng, uint32_t *arr, size_t n);

#ifdef __cplusplus
}
#endif
#endif
