/* test_dtype.c — element types: fp16/bf16 conversions, Q8_0, sizes and names. */
#include <float.h>
#include <math.h>
#include <stdint.h>

#include "sa/dtype.h"
#include "sa_test.h"

static float fbits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint32_t bitsf(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static bool h_is_nan(uint16_t h) { return (h & 0x7C00) == 0x7C00 && (h & 0x3FF); }

static void test_f16_exhaustive_identity(sa_test *t) {
    int bad = 0, nans = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = sa_f16_to_f32((uint16_t)h);
        if (h_is_nan((uint16_t)h)) {
            nans++;
            SA_CHECK(t, isnan(f));
            SA_CHECK(t, h_is_nan(sa_f32_to_f16(f))); /* NaN stays NaN, never inf */
            continue;
        }
        uint16_t back = sa_f32_to_f16(f);
        if (back != h && bad++ < 5)
            sa_test_fail(t, __FILE__, __LINE__, "f16 0x%04x -> %a -> 0x%04x", h, f, back);
    }
    SA_CHECK_EQ_INT(t, bad, 0);
    SA_CHECK_EQ_INT(t, nans, 2 * 1023);
    /* a few exact values */
    SA_CHECK(t, sa_f16_to_f32(0x3C00) == 1.0f);
    SA_CHECK(t, sa_f16_to_f32(0xC000) == -2.0f);
    SA_CHECK(t, sa_f16_to_f32(0x7BFF) == 65504.0f);
    SA_CHECK(t, sa_f16_to_f32(0x0001) == 0x1p-24f);
    SA_CHECK(t, sa_f16_to_f32(0x0400) == 0x1p-14f);
    SA_CHECK(t, isinf(sa_f16_to_f32(0xFC00)) && sa_f16_to_f32(0xFC00) < 0);
    SA_CHECK(t, bitsf(sa_f16_to_f32(0x8000)) == 0x80000000u);
}

static void test_f32_to_f16_rounding(sa_test *t) {
    static const struct {
        float f;
        uint16_t h;
    } cases[] = {
        {65504.0f, 0x7BFF},           /* largest half */
        {65519.0f, 0x7BFF},           /* below the halfway point to 65536 */
        {65519.99f, 0x7BFF},
        {65520.0f, 0x7C00},           /* halfway rounds (to even) up to inf */
        {1e10f, 0x7C00},
        {-65520.0f, 0xFC00},
        {0x1p-24f, 0x0001},           /* smallest subnormal */
        {0x1p-25f, 0x0000},           /* tie between 0 and 2^-24: even is 0 */
        {0x1.000002p-25f, 0x0001},    /* just above the tie */
        {0x3p-25f, 0x0002},           /* tie between 1 and 2 ulps: even is 2 */
        {0x5p-25f, 0x0002},           /* tie between 2 and 3: even is 2 */
        {0x1p-14f - 0x1p-25f, 0x0400}, /* tie between largest subnormal and smallest normal */
        {0x1p-14f, 0x0400},
        {1.0f + 0x1p-11f, 0x3C00},    /* tie: 1.0 is even */
        {1.0f + 0x3p-11f, 0x3C02},    /* tie: 1+2^-9 is even */
        {1.0f + 0x1p-11f + 0x1p-20f, 0x3C01},
        {-0.0f, 0x8000},
        {1e-10f, 0x0000},
        {-1e-10f, 0x8000},
        {2048.0f + 1.0f, 0x6800},     /* tie at 2048 (ulp 2): even */
        {2048.0f + 3.0f, 0x6802},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t h = sa_f32_to_f16(cases[i].f);
        SA_CHECKF(t, h == cases[i].h, "f32 %a -> 0x%04x, expected 0x%04x", cases[i].f, h, cases[i].h);
    }
    SA_CHECK(t, sa_f32_to_f16(INFINITY) == 0x7C00);
    SA_CHECK(t, sa_f32_to_f16(-INFINITY) == 0xFC00);
    SA_CHECK(t, h_is_nan(sa_f32_to_f16(NAN)));
    SA_CHECK(t, h_is_nan(sa_f32_to_f16(fbits(0x7F800001u)))); /* low-payload NaN stays NaN */
#ifdef __FLT16_MAX__
    /* compare against the compiler's IEEE conversion on a spread of patterns */
    int bad = 0;
    for (uint64_t u = 0; u <= 0xFFFFFFFFull; u += 4093) {
        float f = fbits((uint32_t)u);
        if (isnan(f)) continue;
        _Float16 r = (_Float16)f;
        uint16_t want;
        memcpy(&want, &r, 2);
        uint16_t got = sa_f32_to_f16(f);
        if (got != want && bad++ < 5)
            sa_test_fail(t, __FILE__, __LINE__, "f32 %a -> 0x%04x, _Float16 gives 0x%04x", f, got, want);
    }
    SA_CHECK_EQ_INT(t, bad, 0);
#endif
}

static void test_bf16(sa_test *t) {
    /* exhaustive bf16 -> f32 -> bf16 identity for non-NaN */
    int bad = 0;
    for (uint32_t b = 0; b < 65536; b++) {
        float f = sa_bf16_to_f32((uint16_t)b);
        SA_CHECK(t, bitsf(f) == b << 16);
        if (isnan(f)) continue;
        if (sa_f32_to_bf16(f) != b && bad++ < 5)
            sa_test_fail(t, __FILE__, __LINE__, "bf16 0x%04x round trip failed", b);
    }
    static const struct {
        uint32_t f;
        uint16_t b;
    } cases[] = {
        {0x3F808000u, 0x3F80}, /* 1 + 2^-8: tie, 1.0 is even */
        {0x3F818000u, 0x3F82}, /* tie above an odd value rounds up */
        {0x3F808001u, 0x3F81}, /* just above the tie */
        {0x3F807FFFu, 0x3F80}, /* just below */
        {0x7F7FFFFFu, 0x7F80}, /* FLT_MAX rounds to inf */
        {0x7F800000u, 0x7F80}, /* inf */
        {0xFF800000u, 0xFF80},
        {0x80000000u, 0x8000},
        {0x00000001u, 0x0000}, /* tiny subnormal rounds to zero */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t got = sa_f32_to_bf16(fbits(cases[i].f));
        SA_CHECKF(t, got == cases[i].b, "f32 0x%08x -> bf16 0x%04x, expected 0x%04x", cases[i].f, got,
                  cases[i].b);
    }
    /* NaNs stay NaN (a naive round would turn 0x7F80FFFF into inf) */
    static const uint32_t nans[] = {0x7FC00000u, 0x7F800001u, 0x7F80FFFFu, 0xFF800001u, 0x7FFFFFFFu};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++)
        SA_CHECKF(t, isnan(sa_bf16_to_f32(sa_f32_to_bf16(fbits(nans[i])))), "NaN 0x%08x lost", nans[i]);
    SA_CHECK(t, (sa_f32_to_bf16(fbits(0xFF800001u)) & 0x8000) != 0); /* sign kept */
}

static uint32_t rng(uint32_t *s) {
    *s ^= *s << 13, *s ^= *s >> 17, *s ^= *s << 5;
    return *s;
}

static void test_q8_0(sa_test *t) {
    enum { N = 32 * 64 };
    static float x[N], y[N];
    static sa_block_q8_0 q[N / 32];
    uint32_t s = 12345;
    for (int i = 0; i < N; i++) {
        /* blocks with very different magnitudes, including an all-zero block */
        float scale = (i / 32 == 5) ? 0.0f : powf(10.0f, (float)((i / 32) % 9) - 4.0f);
        x[i] = scale * ((float)(rng(&s) % 20001) / 10000.0f - 1.0f);
    }
    SA_REQUIRE(t, sa_dtype_from_f32(SA_DTYPE_Q8_0, x, q, N));
    SA_REQUIRE(t, sa_dtype_to_f32(SA_DTYPE_Q8_0, q, y, N));
    int bad = 0;
    for (int b = 0; b < N / 32; b++) {
        float d = sa_f16_to_f32(q[b].d); /* the quantisation step actually stored */
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[b * 32 + j]));
        SA_CHECK(t, fabsf(d - amax / 127.0f) <= amax / 127.0f * 0x1p-10f + 0x1p-24f);
        for (int j = 0; j < 32; j++) {
            int i = b * 32 + j;
            SA_CHECK(t, q[b].qs[j] >= -127 && q[b].qs[j] <= 127);
            /* half a step, plus float rounding of the product d*q */
            float tol = d / 2 * (1 + 0x1p-20f) + fabsf(y[i]) * 0x1p-23f;
            if (fabsf(x[i] - y[i]) > tol && bad++ < 5)
                sa_test_fail(t, __FILE__, __LINE__, "block %d elem %d: x=%a y=%a d=%a", b, j, x[i],
                             y[i], d);
        }
    }
    SA_CHECK_EQ_INT(t, bad, 0);
    for (int j = 0; j < 32; j++) SA_CHECK(t, y[5 * 32 + j] == 0.0f); /* zero block stays zero */
    /* the extreme element maps to +-127 */
    float one[32] = {0};
    one[3] = -2.5f;
    one[7] = 1.0f;
    SA_REQUIRE(t, sa_dtype_from_f32(SA_DTYPE_Q8_0, one, q, 32));
    SA_CHECK_EQ_INT(t, q[0].qs[3], -127);
    SA_CHECK_EQ_INT(t, q[0].qs[0], 0);
    SA_CHECK(t, !sa_dtype_from_f32(SA_DTYPE_Q8_0, one, q, 31)); /* not whole blocks */
    SA_CHECK(t, !sa_dtype_to_f32(SA_DTYPE_Q8_0, q, y, 33));
}

static void test_row_bytes_and_names(sa_test *t) {
    size_t nb = 12345;
    SA_CHECK(t, sa_dtype_row_bytes(SA_DTYPE_F32, 10, &nb) && nb == 40);
    SA_CHECK(t, sa_dtype_row_bytes(SA_DTYPE_BF16, 3, &nb) && nb == 6);
    SA_CHECK(t, sa_dtype_row_bytes(SA_DTYPE_Q8_0, 64, &nb) && nb == 68);
    SA_CHECK(t, sa_dtype_row_bytes(SA_DTYPE_F32, 0, &nb) && nb == 0);
    SA_CHECK(t, !sa_dtype_row_bytes(SA_DTYPE_Q8_0, 33, &nb)); /* not a multiple of 32 */
    SA_CHECK(t, !sa_dtype_row_bytes(SA_DTYPE_Q8_0, 31, &nb));
    SA_CHECK(t, !sa_dtype_row_bytes(SA_DTYPE_F32, UINT64_MAX / 2, &nb)); /* overflow */
    SA_CHECK(t, !sa_dtype_row_bytes(SA_DTYPE_F64, (uint64_t)SIZE_MAX / 8 + 1, &nb));
    SA_CHECK(t, sa_dtype_row_bytes(SA_DTYPE_I8, (uint64_t)SIZE_MAX, &nb) && nb == SIZE_MAX);
    SA_CHECK(t, !sa_dtype_row_bytes(SA_DTYPE_Q8_0, UINT64_MAX - 31, &nb)); /* 34/32 * n overflows */
    SA_CHECK(t, !sa_dtype_row_bytes(SA_DTYPE_INVALID, 4, &nb));
    SA_CHECK(t, !sa_dtype_row_bytes(SA_DTYPE_COUNT, 4, &nb));
    SA_CHECK_EQ_INT(t, sa_dtype_block_elems(SA_DTYPE_Q8_0), 32);
    SA_CHECK_EQ_INT(t, sa_dtype_block_bytes(SA_DTYPE_Q8_0), 34);
    SA_CHECK_EQ_INT(t, sa_dtype_block_bytes(SA_DTYPE_INVALID), 0);
    for (int d = 0; d < SA_DTYPE_COUNT; d++)
        SA_CHECK_EQ_INT(t, sa_dtype_from_name(sa_dtype_name((sa_dtype)d)), d);
    SA_CHECK_STR(t, sa_dtype_name(SA_DTYPE_BF16), "BF16");
    SA_CHECK_STR(t, sa_dtype_name(SA_DTYPE_INVALID), "?");
    SA_CHECK_EQ_INT(t, sa_dtype_from_name("F8_E4M3"), SA_DTYPE_INVALID);
    SA_CHECK_EQ_INT(t, sa_dtype_from_name(NULL), SA_DTYPE_INVALID);
}

static void test_bulk_conversions(sa_test *t) {
    float src[8] = {0.0f, 1.0f, -2.5f, 65504.0f, 1e-7f, 3.14159f, -0.0f, 100000.0f};
    uint16_t h[8], bb[8];
    float back[8];
    SA_REQUIRE(t, sa_dtype_from_f32(SA_DTYPE_F16, src, h, 8));
    SA_REQUIRE(t, sa_dtype_to_f32(SA_DTYPE_F16, h, back, 8));
    for (int i = 0; i < 8; i++) {
        SA_CHECK(t, h[i] == sa_f32_to_f16(src[i]));
        SA_CHECK(t, bitsf(back[i]) == bitsf(sa_f16_to_f32(h[i])));
    }
    SA_REQUIRE(t, sa_dtype_from_f32(SA_DTYPE_BF16, src, bb, 8));
    SA_REQUIRE(t, sa_dtype_to_f32(SA_DTYPE_BF16, bb, back, 8));
    for (int i = 0; i < 8; i++) SA_CHECK(t, bitsf(back[i]) == (uint32_t)sa_f32_to_bf16(src[i]) << 16);
    double d[2] = {1.5, -1e300};
    SA_REQUIRE(t, sa_dtype_to_f32(SA_DTYPE_F64, d, back, 2));
    SA_CHECK(t, back[0] == 1.5f && isinf(back[1]));
    SA_CHECK(t, !sa_dtype_to_f32(SA_DTYPE_I32, d, back, 1));
    SA_CHECK(t, !sa_dtype_from_f32(SA_DTYPE_I8, src, h, 1));
}

static const sa_test_def tests[] = {
    {"f16_exhaustive_identity", test_f16_exhaustive_identity},
    {"f32_to_f16_rounding", test_f32_to_f16_rounding},
    {"bf16", test_bf16},
    {"q8_0", test_q8_0},
    {"row_bytes_and_names", test_row_bytes_and_names},
    {"bulk_conversions", test_bulk_conversions},
};
SA_TEST_MAIN(tests)
