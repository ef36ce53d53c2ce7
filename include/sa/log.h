/* log.h — leveled, thread-safe log lines for long-running jobs.
 *
 * Purpose: library code reports what it is doing (loading, progress of a
 * stage, skipped records) through a caller-supplied sa_log context instead
 * of printing. The CLI decides the level and the destination; tests pass
 * NULL (silent) or a tmpfile.
 *
 * Ownership: sa_log is a plain caller-owned value with no heap memory. It
 * borrows `out` and `prefix` (both must outlive it); it never closes `out`.
 * A NULL `const sa_log *` everywhere means "log nothing".
 *
 * Line format (one line per message, newline-terminated):
 *     2026-11-25 10:13:51.123 info  curate: scored 120 records
 *     ^ timestamp (UTC, only when `timestamps`) ^ level ^ prefix (optional)
 * Each line is formatted in memory and written with a single fwrite while
 * holding the FILE lock (flockfile), then flushed, so lines written by
 * several threads never interleave. Trailing newlines in the message are
 * dropped (the logger adds exactly one).
 *
 * Usage:
 *     sa_log log;
 *     sa_log_init(&log, SA_LOG_LEVEL_INFO, stderr);
 *     log.prefix = "curate";
 *     SA_LOG_INFO(&log, "scored %zu records", n);
 *     if (sa_log_enabled(&log, SA_LOG_LEVEL_DEBUG)) { ...expensive dump... }
 */
#ifndef SA_LOG_H
#define SA_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include "sa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Ordered from most to least severe: a log at level L prints messages whose
 * level is <= L. */
typedef enum sa_log_level {
    SA_LOG_LEVEL_ERROR = 0,
    SA_LOG_LEVEL_WARN,
    SA_LOG_LEVEL_INFO,
    SA_LOG_LEVEL_DEBUG,
    SA_LOG_LEVEL_TRACE,
    SA_LOG_LEVEL_COUNT
} sa_log_level;

typedef struct sa_log {
    sa_log_level level; /* most verbose level printed */
    FILE *out;          /* borrowed; NULL silences the log */
    bool timestamps;    /* prefix each line with a UTC timestamp (default true) */
    const char *prefix; /* borrowed, optional ("curate"); printed as "prefix: " */
} sa_log;

/* level, out as given; timestamps on; no prefix. */
void sa_log_init(sa_log *log, sa_log_level level, FILE *out);

/* True when a message at `level` would be printed (false for a NULL log). */
bool sa_log_enabled(const sa_log *log, sa_log_level level);

/* Format and write one line. Never fails visibly: a write error is ignored
 * (logging must not turn into a new failure path); a message too long for
 * memory is truncated. */
void sa_log_msg(const sa_log *log, sa_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sa_log_msgv(const sa_log *log, sa_log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* "error", "warn", "info", "debug", "trace" ("?" when out of range). */
const char *sa_log_level_name(sa_log_level level);

/* Parse a level name, case-insensitive; "warning" is accepted for warn.
 * Returns SA_OK, or SA_ERR_INVALID_ARG (leaving *out unchanged). */
sa_status sa_log_level_parse(const char *name, sa_log_level *out);

#define SA_LOG_ERROR(log, ...) sa_log_msg((log), SA_LOG_LEVEL_ERROR, __VA_ARGS__)
#define SA_LOG_WARN(log, ...) sa_log_msg((log), SA_LOG_LEVEL_WARN, __VA_ARGS__)
#define SA_LOG_INFO(log, ...) sa_log_msg((log), SA_LOG_LEVEL_INFO, __VA_ARGS__)
#define SA_LOG_DEBUG(log, ...) sa_log_msg((log), SA_LOG_LEVEL_DEBUG, __VA_ARGS__)
#define SA_LOG_TRACE(log, ...) sa_log_msg((log), SA_LOG_LEVEL_TRACE, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
