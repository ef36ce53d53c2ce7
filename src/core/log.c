/* log.c — leveled log lines (see log.h). */
#include "sa/log.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const level_names[SA_LOG_LEVEL_COUNT] = {"error", "warn", "info", "debug",
                                                            "trace"};

void sa_log_init(sa_log *log, sa_log_level level, FILE *out) {
    log->level = level;
    log->out = out;
    log->timestamps = true;
    log->prefix = NULL;
}

bool sa_log_enabled(const sa_log *log, sa_log_level level) {
    return log && log->out && level <= log->level;
}

const char *sa_log_level_name(sa_log_level level) {
    if ((int)level < 0 || level >= SA_LOG_LEVEL_COUNT) return "?";
    return level_names[level];
}

sa_status sa_log_level_parse(const char *name, sa_log_level *out) {
    if (!name) return SA_ERR_INVALID_ARG;
    for (int i = 0; i < SA_LOG_LEVEL_COUNT; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (sa_log_level)i;
            return SA_OK;
        }
    }
    if (strcasecmp(name, "warning") == 0) {
        *out = SA_LOG_LEVEL_WARN;
        return SA_OK;
    }
    return SA_ERR_INVALID_ARG;
}

/* Append printf output to buf[*n..cap), keeping *n < cap even when the
 * output is truncated. */
static void put(char *buf, size_t cap, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t cap, size_t *n, const char *fmt, ...) {
    if (*n >= cap - 1) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *n, cap - *n, fmt, ap);
    va_end(ap);
    if (k > 0) *n = *n + (size_t)k < cap ? *n + (size_t)k : cap - 1;
}

/* Header: "YYYY-MM-DD HH:MM:SS.mmm level prefix: " into buf; returns length. */
static size_t format_header(const sa_log *log, sa_log_level level, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = '\0';
    if (log->timestamps) {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
        put(buf, cap, &n, ".%03ld ", ts.tv_nsec / 1000000L);
    }
    put(buf, cap, &n, "%-5s ", sa_log_level_name(level));
    if (log->prefix && log->prefix[0]) put(buf, cap, &n, "%s: ", log->prefix);
    return n;
}

void sa_log_msgv(const sa_log *log, sa_log_level level, const char *fmt, va_list ap) {
    if (!sa_log_enabled(log, level)) return;
    /* Most lines fit on the stack; longer ones get one heap buffer so the
     * whole line can still go out in a single fwrite. */
    char stack[1024];
    char head[160];
    size_t hn = format_header(log, level, head, sizeof head);

    va_list ap2;
    va_copy(ap2, ap);
    int mlen = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (mlen < 0) mlen = 0;

    size_t need = hn + (size_t)mlen + 2; /* + '\n' + NUL */
    char *line = stack;
    size_t cap = sizeof stack;
    if (need > cap) {
        char *heap = malloc(need);
        if (heap) {
            line = heap;
            cap = need;
        }
    }
    memcpy(line, head, hn);
    vsnprintf(line + hn, cap - hn - 1, fmt, ap);
    size_t len = hn + strlen(line + hn);
    while (len > hn && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
    line[len++] = '\n';

    flockfile(log->out);
    fwrite(line, 1, len, log->out);
    fflush(log->out);
    funlockfile(log->out);
    if (line != stack) free(line);
}

void sa_log_msg(const sa_log *log, sa_log_level level, const char *fmt, ...) {
    if (!sa_log_enabled(log, level)) return;
    va_list ap;
    va_start(ap, fmt);
    sa_log_msgv(log, level, fmt, ap);
    va_end(ap);
}
