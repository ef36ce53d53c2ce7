/* dtype.h — tensor element types shared by the file formats and kernels.
 *
 * Purpose: one enum for every element type selfalign reads or writes
 * (safetensors, GGUF, llama2.c), with sizes, names and the scalar
 * conversions (fp16/bf16 <-> fp32, Q8_0 dequantisation).
 *
 * Block types: Q8_0 stores 32 elements per 34-byte block (fp16 scale + 32
 * int8). For a row of n elements, sa_dtype_row_bytes gives the byte size and
 * fails when n is not a multiple of the block size or the size overflows.
 *
 * Ownership: pure functions.
 *
 * Usage:
 *     size_t nb;
 *     if (!sa_dtype_row_bytes(SA_DTYPE_BF16, n, &nb)) return SA_ERR_FORMAT;
 *     float x = sa_bf16_to_f32(p[i]);
 */
#ifndef SA_DTYPE_H
#define SA_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sa_dtype {
    SA_DTYPE_F32 = 0,
    SA_DTYPE_F16,
    SA_DTYPE_BF16,
    SA_DTYPE_Q8_0,
    SA_DTYPE_F64,
    SA_DTYPE_I8,
    SA_DTYPE_I16,
    SA_DTYPE_I32,
    SA_DTYPE_I64,
    SA_DTYPE_U8,
    SA_DTYPE_BOOL,
    SA_DTYPE_COUNT,
    SA_DTYPE_INVALID = -1
} sa_dtype;

#define SA_Q8_0_BLOCK 32 /* elements per Q8_0 block */

typedef struct sa_block_q8_0 {
    uint16_t d;               /* fp16 scale */
    int8_t qs[SA_Q8_0_BLOCK]; /* quants */
} sa_block_q8_0;

/* "F32", "F16", "BF16", "Q8_0", ... (safetensors spelling); "?" if invalid. */
const char *sa_dtype_name(sa_dtype t);
/* Parse a safetensors dtype string ("F32", "BF16", ...); SA_DTYPE_INVALID if unknown. */
sa_dtype sa_dtype_from_name(const char *name);
/* Elements per block (1 for scalar types, 32 for Q8_0) and bytes per block. */
size_t sa_dtype_block_elems(sa_dtype t);
size_t sa_dtype_block_bytes(sa_dtype t);
/* Bytes for n elements; false if n is not a whole number of blocks, the type
 * is invalid, or the size overflows. */
bool sa_dtype_row_bytes(sa_dtype t, uint64_t n, size_t *bytes);

float sa_f16_to_f32(uint16_t h);
uint16_t sa_f32_to_f16(float f);    /* round to nearest even; inf/nan kept */
float sa_bf16_to_f32(uint16_t b);
uint16_t sa_f32_to_bf16(float f);   /* round to nearest even; nan stays nan */

/* Convert n elements of type t at src (a whole number of blocks for Q8_0)
 * to fp32. Returns false for types that are not numeric tensors we convert
 * (integers, bool). */
bool sa_dtype_to_f32(sa_dtype t, const void *src, float *dst, size_t n);
/* Convert n fp32 values to t (F32, F16, BF16, Q8_0). */
bool sa_dtype_from_f32(sa_dtype t, const float *src, void *dst, size_t n);

#ifdef __cplusplus
}
#endif
#endif
