/* status.c — status names and the sa_err helpers. */
#include "sa/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *sa_status_str(sa_status s) {
    switch (s) {
    case SA_OK: return "ok";
    case SA_ERR_NOMEM: return "out of memory";
    case SA_ERR_IO: return "I/O error";
    case SA_ERR_FORMAT: return "malformed input";
    case SA_ERR_UNSUPPORTED: return "unsupported";
    case SA_ERR_INVALID_ARG: return "invalid argument";
    case SA_ERR_NOT_FOUND: return "not found";
    case SA_ERR_RANGE: return "out of range";
    case SA_ERR_UTF8: return "invalid UTF-8";
    case SA_ERR_EOF: return "end of input";
    case SA_ERR_INTERRUPTED: return "interrupted";
    case SA_ERR_INTERNAL: return "internal error";
    case SA_STATUS_COUNT: break;
    }
    return "unknown status";
}

sa_status sa_err_setv(sa_err *err, sa_status code, const char *fmt, va_list ap) {
    if (err) {
        err->code = code;
        if (fmt) vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        else snprintf(err->msg, sizeof err->msg, "%s", sa_status_str(code));
    }
    return code;
}

sa_status sa_err_set(sa_err *err, sa_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sa_err_setv(err, code, fmt, ap);
    va_end(ap);
    return code;
}

sa_status sa_err_prefix(sa_err *err, const char *fmt, ...) {
    if (!err) return SA_ERR_INTERNAL;
    char pre[SA_ERR_MSG_MAX], old[SA_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = '\0';
    /* build into a larger buffer, then cut to the message size on purpose */
    char joined[2 * SA_ERR_MSG_MAX];
    size_t lp = strnlen(pre, sizeof pre), lo = strnlen(old, sizeof old);
    memcpy(joined, pre, lp);
    memcpy(joined + lp, old, lo);
    joined[lp + lo] = '\0';
    memcpy(err->msg, joined, sizeof err->msg - 1);
    err->msg[sizeof err->msg - 1] = '\0';
    return err->code;
}

void sa_err_clear(sa_err *err) {
    if (!err) return;
    err->code = SA_OK;
    err->msg[0] = '\0';
}

void sa_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "selfalign: BUG: assertion '%s' failed at %s:%d\n", expr, file, line);
    abort();
}
