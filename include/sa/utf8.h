/* utf8.h — UTF-8 validation and decoding.
 *
 * Purpose: every text boundary (JSONL lines, tokenizer input, generated
 * output) checks UTF-8 strictly: no overlong forms, no surrogates, nothing
 * above U+10FFFF, no truncated sequences.
 *
 * Ownership: pure functions over caller-owned bytes.
 *
 * Usage:
 *     size_t bad;
 *     if (!sa_utf8_valid(s, n, &bad)) report("invalid UTF-8 at byte %zu", bad);
 */
#ifndef SA_UTF8_H
#define SA_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* True if s[0..n) is valid UTF-8. On failure, *bad_offset (if non-NULL) is
 * the offset of the first byte of the first invalid sequence. */
bool sa_utf8_valid(const char *s, size_t n, size_t *bad_offset);

/* Decode one code point at s[0..n). Returns the sequence length (1..4) and
 * stores the code point; returns 0 if the sequence is invalid or truncated
 * (then *cp is U+FFFD). */
size_t sa_utf8_decode(const char *s, size_t n, uint32_t *cp);

/* Length of the sequence starting with lead byte c, from the lead byte alone
 * (1 for ASCII or invalid lead bytes). */
size_t sa_utf8_seq_len(unsigned char c);

/* Encode cp into out (room for 4 bytes); returns bytes written, 0 if cp is
 * not a valid scalar value. */
size_t sa_utf8_encode(uint32_t cp, char out[4]);

/* Number of bytes of s[0..n) that form complete sequences: n minus any
 * incomplete sequence at the end (for streaming decoded tokens). */
size_t sa_utf8_complete_prefix(const char *s, size_t n);

#ifdef __cplusplus
}
#endif
#endif
