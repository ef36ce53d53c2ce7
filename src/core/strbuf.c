/* strbuf.c — growable byte string (see strbuf.h). */
#include "sa/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"

void sa_strbuf_init(sa_strbuf *sb) {
    sb->buf = NULL;
    sb->len = 0;
    sb->cap = 0;
}

void sa_strbuf_free(sa_strbuf *sb) {
    free(sb->buf);
    sa_strbuf_init(sb);
}

sa_status sa_strbuf_reserve(sa_strbuf *sb, size_t extra) {
    size_t need;
    if (!sa_size_add(sb->len, extra, &need) || !sa_size_add(need, 1, &need))
        return SA_ERR_NOMEM;
    void *p = sb->buf;
    size_t cap = sb->cap;
    if (!sa_grow(&p, &cap, need < 32 ? 32 : need, 1)) return SA_ERR_NOMEM;
    sb->buf = p;
    sb->cap = cap;
    sb->buf[sb->len] = '\0'; /* a fresh allocation must read as "" */
    return SA_OK;
}

sa_status sa_strbuf_append(sa_strbuf *sb, const void *data, size_t n) {
    if (sa_strbuf_reserve(sb, n) != SA_OK) return SA_ERR_NOMEM;
    if (n) memcpy(sb->buf + sb->len, data, n);
    sb->len += n;
    sb->buf[sb->len] = '\0';
    return SA_OK;
}

sa_status sa_strbuf_puts(sa_strbuf *sb, const char *s) {
    return sa_strbuf_append(sb, s, strlen(s));
}

sa_status sa_strbuf_putc(sa_strbuf *sb, char c) { return sa_strbuf_append(sb, &c, 1); }

sa_status sa_strbuf_appendv(sa_strbuf *sb, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return SA_ERR_INVALID_ARG;
    if (sa_strbuf_reserve(sb, (size_t)n) != SA_OK) return SA_ERR_NOMEM;
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
    sb->len += (size_t)n;
    return SA_OK;
}

sa_status sa_strbuf_appendf(sa_strbuf *sb, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sa_status s = sa_strbuf_appendv(sb, fmt, ap);
    va_end(ap);
    return s;
}

void sa_strbuf_reset(sa_strbuf *sb) {
    sb->len = 0;
    if (sb->buf) sb->buf[0] = '\0';
}

void sa_strbuf_truncate(sa_strbuf *sb, size_t n) {
    if (n >= sb->len) return;
    sb->len = n;
    sb->buf[n] = '\0';
}

const char *sa_strbuf_cstr(const sa_strbuf *sb) { return sb->buf ? sb->buf : ""; }

char *sa_strbuf_detach(sa_strbuf *sb, size_t *len_out) {
    if (!sb->buf && sa_strbuf_reserve(sb, 0) != SA_OK) return NULL;
    if (sb->len == 0) sb->buf[0] = '\0';
    char *p = sb->buf;
    if (len_out) *len_out = sb->len;
    sa_strbuf_init(sb);
    return p;
}
