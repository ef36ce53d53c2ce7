/* dtype.c — element type table and scalar conversions (see dtype.h). */
#include "sa/dtype.h"

#include <math.h>
#include <string.h>

#include "sa/alloc.h"

static const struct {
    const char *name;
    size_t elems, bytes;
} k_types[SA_DTYPE_COUNT] = {
    [SA_DTYPE_F32] = {"F32", 1, 4},   [SA_DTYPE_F16] = {"F16", 1, 2},
    [SA_DTYPE_BF16] = {"BF16", 1, 2}, [SA_DTYPE_Q8_0] = {"Q8_0", SA_Q8_0_BLOCK, sizeof(sa_block_q8_0)},
    [SA_DTYPE_F64] = {"F64", 1, 8},   [SA_DTYPE_I8] = {"I8", 1, 1},
    [SA_DTYPE_I16] = {"I16", 1, 2},   [SA_DTYPE_I32] = {"I32", 1, 4},
    [SA_DTYPE_I64] = {"I64", 1, 8},   [SA_DTYPE_U8] = {"U8", 1, 1},
    [SA_DTYPE_BOOL] = {"BOOL", 1, 1},
};

_Static_assert(sizeof(sa_block_q8_0) == 34, "Q8_0 block must be 34 bytes");

static bool valid(sa_dtype t) { return (int)t >= 0 && t < SA_DTYPE_COUNT; }

const char *sa_dtype_name(sa_dtype t) { return valid(t) ? k_types[t].name : "?"; }

sa_dtype sa_dtype_from_name(const char *name) {
    if (!name) return SA_DTYPE_INVALID;
    for (int i = 0; i < SA_DTYPE_COUNT; i++)
        if (strcmp(name, k_types[i].name) == 0) return (sa_dtype)i;
    return SA_DTYPE_INVALID;
}

size_t sa_dtype_block_elems(sa_dtype t) { return valid(t) ? k_types[t].elems : 0; }
size_t sa_dtype_block_bytes(sa_dtype t) { return valid(t) ? k_types[t].bytes : 0; }

bool sa_dtype_row_bytes(sa_dtype t, uint64_t n, size_t *bytes) {
    if (!valid(t)) return false;
    uint64_t be = k_types[t].elems;
    if (n % be != 0) return false;
    uint64_t nb = n / be;
    if (nb > SIZE_MAX) return false;
    return sa_size_mul((size_t)nb, k_types[t].bytes, bytes);
}

static inline uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float sa_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
    if (exp == 0) {
        if (mant == 0) return bits_f32(sign);
        /* subnormal: value = mant * 2^-24 */
        float v = (float)mant * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    if (exp == 31) return bits_f32(sign | 0x7F800000u | (mant << 13));
    return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t sa_f32_to_f16(float f) {
    uint32_t x = f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7FFFFFFF;
    if (absx >= 0x7F800000) /* inf or nan */
        return (uint16_t)(sign | 0x7C00 | (absx > 0x7F800000 ? 0x200 | ((absx >> 13) & 0x3FF) : 0));
    if (absx >= 0x477FF000) return (uint16_t)(sign | 0x7C00); /* rounds to >= 65520: inf */
    if (absx < 0x38800000) {                                  /* below 2^-14: subnormal or zero */
        /* scale to units of 2^-24 and round to nearest even */
        float a = bits_f32(absx);
        float q = a * 16777216.0f; /* exact: power of two */
        uint32_t r = (uint32_t)q;
        float frac = q - (float)r;
        if (frac > 0.5f || (frac == 0.5f && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t mant = absx & 0x7FFFFF;
    uint32_t exp = (absx >> 23) - 112;
    uint32_t h = (exp << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; /* may carry into exponent: correct */
    return (uint16_t)(sign | h);
}

float sa_bf16_to_f32(uint16_t b) { return bits_f32((uint32_t)b << 16); }

uint16_t sa_f32_to_bf16(float f) {
    uint32_t x = f32_bits(f);
    if ((x & 0x7FFFFFFF) > 0x7F800000) return (uint16_t)((x >> 16) | 0x40); /* quiet nan */
    uint32_t lsb = (x >> 16) & 1;
    x += 0x7FFF + lsb;
    return (uint16_t)(x >> 16);
}

bool sa_dtype_to_f32(sa_dtype t, const void *src, float *dst, size_t n) {
    switch (t) {
    case SA_DTYPE_F32: memcpy(dst, src, n * 4); return true;
    case SA_DTYPE_F16: {
        const uint8_t *p = src;
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = sa_f16_to_f32(h);
        }
        return true;
    }
    case SA_DTYPE_BF16: {
        const uint8_t *p = src;
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = sa_bf16_to_f32(h);
        }
        return true;
    }
    case SA_DTYPE_F64: {
        const uint8_t *p = src;
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            dst[i] = (float)d;
        }
        return true;
    }
    case SA_DTYPE_Q8_0: {
        if (n % SA_Q8_0_BLOCK) return false;
        const uint8_t *p = src;
        for (size_t b = 0; b < n / SA_Q8_0_BLOCK; b++) {
            sa_block_q8_0 blk;
            memcpy(&blk, p + b * sizeof blk, sizeof blk);
            float d = sa_f16_to_f32(blk.d);
            for (int j = 0; j < SA_Q8_0_BLOCK; j++) dst[b * SA_Q8_0_BLOCK + j] = d * blk.qs[j];
        }
        return true;
    }
    default: return false;
    }
}

bool sa_dtype_from_f32(sa_dtype t, const float *src, void *dst, size_t n) {
    uint8_t *p = dst;
    switch (t) {
    case SA_DTYPE_F32: memcpy(dst, src, n * 4); return true;
    case SA_DTYPE_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = sa_f32_to_f16(src[i]);
            memcpy(p + 2 * i, &h, 2);
        }
        return true;
    case SA_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = sa_f32_to_bf16(src[i]);
            memcpy(p + 2 * i, &h, 2);
        }
        return true;
    case SA_DTYPE_Q8_0: {
        if (n % SA_Q8_0_BLOCK) return false;
        for (size_t b = 0; b < n / SA_Q8_0_BLOCK; b++) {
            const float *x = src + b * SA_Q8_0_BLOCK;
            float amax = 0;
            for (int j = 0; j < SA_Q8_0_BLOCK; j++) amax = fmaxf(amax, fabsf(x[j]));
            /* Quantise against the fp16 scale actually stored, not the fp32
             * one: otherwise the fp16 rounding of d (up to 4% for subnormal
             * scales) multiplies the error of every element by up to 127.
             * If rounding d down would push the largest element past 127.5,
             * step the scale up one fp16 ulp; saturate scales beyond fp16. */
            float d = amax / 127.0f;
            uint16_t dh = d < 65504.0f ? sa_f32_to_f16(d) : 0x7BFF;
            float d16 = sa_f16_to_f32(dh);
            if (d16 > 0 && amax / d16 > 127.5f && dh < 0x7BFF) d16 = sa_f16_to_f32(++dh);
            float id = d16 > 0 ? 1.0f / d16 : 0.0f;
            sa_block_q8_0 blk;
            blk.d = dh;
            for (int j = 0; j < SA_Q8_0_BLOCK; j++) {
                float v = x[j] * id; /* NaN/inf inputs saturate instead of hitting UB */
                blk.qs[j] = (int8_t)(v >= 127.0f ? 127 : v <= -127.0f ? -127 : v == v ? roundf(v) : 0);
            }
            memcpy(p + b * sizeof blk, &blk, sizeof blk);
        }
        return true;
    }
    default: return false;
    }
}
