/* hash.c — XXH3-based hashing (see hash.h). */
#include "sa/hash.h"

#include <string.h>
#include <xxhash.h>

uint64_t sa_hash64(const void *data, size_t n, uint64_t seed) {
    return (uint64_t)XXH3_64bits_withSeed(data, n, (XXH64_hash_t)seed);
}

uint64_t sa_hash_str(const char *s, uint64_t seed) { return sa_hash64(s, strlen(s), seed); }

uint64_t sa_hash_mix(uint64_t a, uint64_t b) {
    uint64_t buf[2] = {a, b};
    return (uint64_t)XXH3_64bits(buf, sizeof buf);
}

void sa_hash_hex(uint64_t h, char out[17]) {
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        out[i] = hex[h & 15];
        h >>= 4;
    }
    out[16] = '\0';
}

int sa_hash_state_init(sa_hash_state *st, uint64_t seed) {
    XXH3_state_t *s = XXH3_createState();
    st->impl = s;
    if (!s) return -1;
    XXH3_64bits_reset_withSeed(s, (XXH64_hash_t)seed);
    return 0;
}

void sa_hash_state_update(sa_hash_state *st, const void *data, size_t n) {
    XXH3_64bits_update((XXH3_state_t *)st->impl, data, n);
}

uint64_t sa_hash_state_digest(const sa_hash_state *st) {
    return (uint64_t)XXH3_64bits_digest((const XXH3_state_t *)st->impl);
}

void sa_hash_state_free(sa_hash_state *st) {
    if (st->impl) XXH3_freeState((XXH3_state_t *)st->impl);
    st->impl = NULL;
}
