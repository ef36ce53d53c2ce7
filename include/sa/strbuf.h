/* strbuf.h — a growable, always NUL-terminated byte string.
 *
 * Purpose: build text (prompts, JSON lines, error messages, reports) without
 * fixed buffers. Binary-safe: `len` counts bytes, embedded NULs allowed.
 *
 * Ownership: the strbuf owns `buf`. sa_strbuf_free releases it;
 * sa_strbuf_detach hands it to the caller (who frees it with free()).
 * A zero-initialised sa_strbuf ({0}) is a valid empty buffer; `buf` may be
 * NULL until the first append, so use sa_strbuf_cstr() to read it.
 *
 * Usage:
 *     sa_strbuf sb = {0};
 *     if (sa_strbuf_appendf(&sb, "%d tokens", n) != SA_OK) ...;
 *     puts(sa_strbuf_cstr(&sb));
 *     sa_strbuf_free(&sb);
 *
 * Append functions return SA_OK or SA_ERR_NOMEM; on failure the buffer keeps
 * its previous contents.
 */
#ifndef SA_STRBUF_H
#define SA_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

#include "sa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_strbuf {
    char *buf;  /* NUL-terminated once anything was appended; may be NULL */
    size_t len; /* bytes used, excluding the terminator */
    size_t cap; /* bytes allocated */
} sa_strbuf;

void sa_strbuf_init(sa_strbuf *sb);
void sa_strbuf_free(sa_strbuf *sb);
/* Ensure room for `extra` more bytes plus the terminator. */
sa_status sa_strbuf_reserve(sa_strbuf *sb, size_t extra);
sa_status sa_strbuf_append(sa_strbuf *sb, const void *data, size_t n);
sa_status sa_strbuf_puts(sa_strbuf *sb, const char *s);
sa_status sa_strbuf_putc(sa_strbuf *sb, char c);
sa_status sa_strbuf_appendf(sa_strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
sa_status sa_strbuf_appendv(sa_strbuf *sb, const char *fmt, va_list ap);
/* Set length to 0, keep the allocation. */
void sa_strbuf_reset(sa_strbuf *sb);
/* Shorten to n bytes (n <= len). */
void sa_strbuf_truncate(sa_strbuf *sb, size_t n);
/* Contents as a C string; "" when empty (never NULL). */
const char *sa_strbuf_cstr(const sa_strbuf *sb);
/* Return the heap buffer (never NULL unless out of memory) and reset sb to
 * empty; the caller frees it. */
char *sa_strbuf_detach(sa_strbuf *sb, size_t *len_out);

#ifdef __cplusplus
}
#endif
#endif
