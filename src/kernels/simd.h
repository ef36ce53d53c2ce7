/* simd.h — portable SIMD helpers for the kernels (private).
 *
 * Hot loops are written once with GCC vector extensions (16 floats per
 * vector) and compiled for several instruction sets with SA_CLONES: the
 * loader picks the AVX-512, AVX2 or baseline build at run time, so one
 * binary runs everywhere and uses what the CPU has. Dot products keep 16 x
 * 4 independent partial sums, so they vectorise without -ffast-math and
 * their summation order is fixed (a result never depends on threads). */
#ifndef SA_KERNELS_SIMD_H
#define SA_KERNELS_SIMD_H

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && !defined(SA_NO_CLONES)
#define SA_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SA_CLONES
#endif

/* The helpers below are always inlined into a cloned function, so the
 * "vector return changes the ABI" warning for the baseline clone is moot. */
#pragma GCC diagnostic ignored "-Wpsabi"

typedef float sa_v16 __attribute__((vector_size(64)));

static inline __attribute__((always_inline)) sa_v16 sa_v16_load(const float *p) {
    sa_v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline __attribute__((always_inline)) void sa_v16_store(float *p, sa_v16 v) { memcpy(p, &v, sizeof v); }

static inline __attribute__((always_inline)) float sa_v16_sum(sa_v16 v) {
    float s = 0;
    for (int i = 0; i < 16; i++) s += v[i];
    return s;
}

/* sum a[i] * b[i] with a fixed association order */
static inline __attribute__((always_inline)) float sa_dot(const float *a, const float *b, int64_t n) {
    sa_v16 acc0 = {0}, acc1 = {0}, acc2 = {0}, acc3 = {0};
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 += sa_v16_load(a + i) * sa_v16_load(b + i);
        acc1 += sa_v16_load(a + i + 16) * sa_v16_load(b + i + 16);
        acc2 += sa_v16_load(a + i + 32) * sa_v16_load(b + i + 32);
        acc3 += sa_v16_load(a + i + 48) * sa_v16_load(b + i + 48);
    }
    for (; i + 16 <= n; i += 16) acc0 += sa_v16_load(a + i) * sa_v16_load(b + i);
    float s = sa_v16_sum((acc0 + acc1) + (acc2 + acc3));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/* y[i] += a * x[i] */
static inline __attribute__((always_inline)) void sa_axpy(float *y, float a, const float *x, int64_t n) {
    int64_t i = 0;
    sa_v16 va = {a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a};
    for (; i + 16 <= n; i += 16) sa_v16_store(y + i, sa_v16_load(y + i) + va * sa_v16_load(x + i));
    for (; i < n; i++) y[i] += a * x[i];
}

#endif
