/* status.h — status codes and error details for every selfalign library call.
 *
 * Purpose: library functions never exit or print; they return an sa_status
 * and, when the caller passes an sa_err, fill it with a message that names
 * the file, line/offset and problem ("model.gguf: offset 1234: tensor count
 * 99999999 exceeds file size").
 *
 * Ownership: sa_err is a plain value owned by the caller (usually on the
 * stack); it holds no heap memory and needs no free.
 *
 * Usage:
 *     sa_err err = {0};
 *     if (sa_gguf_open(&g, path, &err) != SA_OK)
 *         fprintf(stderr, "error: %s\n", err.msg);
 *
 * Functions that accept an `sa_err *err` allow NULL when the caller only
 * wants the code.
 */
#ifndef SA_STATUS_H
#define SA_STATUS_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sa_status {
    SA_OK = 0,
    SA_ERR_NOMEM,       /* allocation failed or a size computation overflowed */
    SA_ERR_IO,          /* open/read/write/fsync/rename/mmap failed (errno in msg) */
    SA_ERR_FORMAT,      /* input is malformed, corrupt or truncated */
    SA_ERR_UNSUPPORTED, /* input is valid but uses a feature we do not implement */
    SA_ERR_INVALID_ARG, /* the caller passed a bad argument */
    SA_ERR_NOT_FOUND,   /* a named key, tensor, token or file does not exist */
    SA_ERR_RANGE,       /* a value is out of its allowed range (length caps, ids) */
    SA_ERR_UTF8,        /* text is not valid UTF-8 */
    SA_ERR_EOF,         /* end of input reached (not an error for stream readers) */
    SA_ERR_INTERRUPTED, /* stopped by a signal or a cancel request */
    SA_ERR_INTERNAL,    /* a broken invariant: a bug in selfalign */
    SA_STATUS_COUNT
} sa_status;

/* Short, static, human-readable name of a status ("out of memory"). Never NULL. */
const char *sa_status_str(sa_status s);

/* Error detail: the code plus a formatted message. */
#define SA_ERR_MSG_MAX 512
typedef struct sa_err {
    sa_status code;
    char msg[SA_ERR_MSG_MAX];
} sa_err;

/* Set err (if non-NULL) to code and the printf-style message; return code so
 * callers can write `return sa_err_set(err, SA_ERR_FORMAT, "...")`. */
sa_status sa_err_set(sa_err *err, sa_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
sa_status sa_err_setv(sa_err *err, sa_status code, const char *fmt, va_list ap);

/* Prepend context to an existing message ("loading model: " + msg); returns err->code. */
sa_status sa_err_prefix(sa_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Reset to SA_OK with an empty message. */
void sa_err_clear(sa_err *err);

/* Programmer-error check: aborts with file:line on a broken invariant.
 * Never use it on data read from a file or the network. */
#define SA_ASSERT(cond)                                                        \
    do {                                                                       \
        if (!(cond)) sa_assert_fail(#cond, __FILE__, __LINE__);                \
    } while (0)
_Noreturn void sa_assert_fail(const char *expr, const char *file, int line);

#ifdef __cplusplus
}
#endif
#endif
