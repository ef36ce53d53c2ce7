/* rng.c — xoshiro256** seeded by splitmix64 (see rng.h). Written from the
 * algorithm descriptions by Blackman and Vigna; constants are theirs. */
#include "sa/rng.h"

#include <math.h>

#include "sa/hash.h"

uint64_t sa_splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void sa_rng_init(sa_rng *rng, uint64_t seed) {
    uint64_t sm = seed;
    for (int i = 0; i < 4; i++) rng->s[i] = sa_splitmix64(&sm);
    /* splitmix64 is a bijection of its counter, so four zero outputs in a row
     * cannot happen; guard anyway, since all-zero is xoshiro's fixed point. */
    if (!(rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3])) rng->s[0] = 1;
}

void sa_rng_split(sa_rng *out, uint64_t seed, uint64_t stream_id) {
    sa_rng_init(out, sa_hash_mix(seed, stream_id));
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t sa_rng_u64(sa_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* The high bits are used because they are the best-mixed ones. */
uint32_t sa_rng_u32(sa_rng *rng) { return (uint32_t)(sa_rng_u64(rng) >> 32); }

float sa_rng_float(sa_rng *rng) { return (float)(sa_rng_u64(rng) >> 40) * 0x1.0p-24f; }

double sa_rng_double(sa_rng *rng) { return (double)(sa_rng_u64(rng) >> 11) * 0x1.0p-53; }

uint64_t sa_rng_below(sa_rng *rng, uint64_t n) {
    if (n == 0) return 0;
    /* Lemire, "Fast random integer generation in an interval" (2019): the
     * high word of x*n is uniform once low words below 2^64 mod n are
     * rejected; the modulo is only computed on the rare slow path. */
    unsigned __int128 m = (unsigned __int128)sa_rng_u64(rng) * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t threshold = (0 - n) % n;
        while (lo < threshold) {
            m = (unsigned __int128)sa_rng_u64(rng) * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double sa_rng_normal(sa_rng *rng) {
    /* u1 in (0, 1] so log(u1) is finite. */
    double u1 = (double)((sa_rng_u64(rng) >> 11) + 1) * 0x1.0p-53;
    double u2 = sa_rng_double(rng);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

void sa_rng_shuffle_u32(sa_rng *rng, uint32_t *arr, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)sa_rng_below(rng, i);
        uint32_t tmp = arr[i - 1];
        arr[i - 1] = arr[j];
        arr[j] = tmp;
    }
}
