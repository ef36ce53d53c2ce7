/* alloc.c — checked allocation helpers (see alloc.h). */
#include "sa/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void *sa_malloc(size_t n) { return malloc(n ? n : 1); }

void *sa_calloc(size_t count, size_t size) {
    size_t n;
    if (!sa_size_mul(count, size, &n)) return NULL;
    return calloc(n ? n : 1, 1);
}

void *sa_malloc_array(size_t count, size_t size) {
    size_t n;
    if (!sa_size_mul(count, size, &n)) return NULL;
    return malloc(n ? n : 1);
}

void *sa_realloc_array(void *p, size_t count, size_t size) {
    size_t n;
    if (!sa_size_mul(count, size, &n)) return NULL;
    return realloc(p, n ? n : 1);
}

void *sa_aligned_alloc(size_t count, size_t size) {
    size_t n;
    if (!sa_size_mul(count, size, &n)) return NULL;
    if (n == 0) n = 64;
    size_t rounded;
    if (!sa_size_add(n, 63, &rounded)) return NULL;
    rounded &= ~(size_t)63;
    return aligned_alloc(64, rounded);
}

char *sa_strdup(const char *s) { return s ? sa_strndup(s, strlen(s)) : NULL; }

char *sa_strndup(const char *s, size_t n) {
    if (!s || n == SIZE_MAX) return NULL;
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void *sa_memdup(const void *p, size_t n) {
    void *d = malloc(n ? n : 1);
    if (d && n) memcpy(d, p, n);
    return d;
}

void sa_free(void *p) { free(p); }

bool sa_grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap : 8;
    while (nc < need) {
        if (nc > SIZE_MAX / 2) { nc = need; break; }
        nc *= 2;
    }
    void *np = sa_realloc_array(*p, nc, elem);
    if (!np) return false;
    *p = np;
    *cap = nc;
    return true;
}
