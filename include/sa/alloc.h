/* alloc.h — checked allocation.
 *
 * Purpose: every size computation that multiplies or adds counts read from
 * untrusted input goes through these helpers, which detect overflow and
 * return NULL (never abort) so the caller can report SA_ERR_NOMEM.
 *
 * Ownership: memory from these functions is released with free() (or
 * sa_free, which is the same thing and accepts NULL).
 *
 * Usage:
 *     float *w = sa_malloc_array(rows, cols * sizeof(float));  // NULL on overflow
 *     if (!w) return sa_err_set(err, SA_ERR_NOMEM, "weights: %zu x %zu", rows, cols);
 */
#ifndef SA_ALLOC_H
#define SA_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* a*b and a+b with overflow detection; return false on overflow. */
static inline bool sa_size_mul(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool sa_size_add(size_t a, size_t b, size_t *out) {
    return !__builtin_add_overflow(a, b, out);
}

void *sa_malloc(size_t n);                      /* n == 0 allocates 1 byte */
void *sa_calloc(size_t count, size_t size);     /* zeroed, overflow-checked */
void *sa_malloc_array(size_t count, size_t size);
void *sa_realloc_array(void *p, size_t count, size_t size);
/* 64-byte aligned (for SIMD kernels), overflow-checked, free with free(). */
void *sa_aligned_alloc(size_t count, size_t size);
char *sa_strdup(const char *s);
char *sa_strndup(const char *s, size_t n);
void *sa_memdup(const void *p, size_t n);
void sa_free(void *p);

/* Grow *p (an array of `elem` bytes per item, capacity *cap) so that it can
 * hold at least `need` items; doubles capacity. Returns false on overflow or
 * allocation failure, leaving *p and *cap unchanged. */
bool sa_grow(void **p, size_t *cap, size_t need, size_t elem);

#ifdef __cplusplus
}
#endif
#endif
