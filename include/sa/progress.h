/* progress.h — progress reporting for long jobs (bar on a terminal, periodic
 * log lines otherwise).
 *
 * Purpose: stages that run for minutes or hours (generation, curation,
 * training) tell the user how far they are. On a terminal one line is
 * redrawn in place with a bar, percent, count, rate and ETA, at most about
 * ten times a second; when output goes to a file or pipe a plain line is
 * printed every `interval_s` seconds and once at the end, so logs stay
 * readable.
 *
 *   tty:    label [##########..........]  50% 500/1000 12.5/s ETA 0:40
 *   plain:  label: 500/1000 (50.0%) 12.5/s ETA 0:40
 *           label: done 1000/1000 in 1:20 (12.5/s)
 * With an unknown total (0) the bar, percent and ETA are left out. Set
 * `log` to send plain lines through an sa_log (info level) so they match
 * the rest of the log output.
 *
 * Thread safety: sa_progress_add/set may be called from any number of
 * threads at once: the counter is atomic and printing is guarded by a
 * try-lock (a thread that finds another one printing just skips; the next
 * update prints the newer count). init, the setters and finish belong to the
 * owning thread.
 *
 * Determinism for tests: the clock is a function pointer plus context
 * (default CLOCK_MONOTONIC) and the mode can be forced, so a test can drive
 * time by hand and read the exact text from a tmpfile.
 *
 * Ownership: caller-owned struct; it borrows `out`, `label` is copied (up to
 * 63 bytes). Holds no heap memory and needs no free; finish is the end.
 *
 * Usage:
 *     sa_progress p;
 *     sa_progress_init(&p, "curate", n_records, stderr);
 *     ... in workers: sa_progress_add(&p, 1);
 *     sa_progress_finish(&p);
 */
#ifndef SA_PROGRESS_H
#define SA_PROGRESS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sa/log.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sa_progress_mode {
    SA_PROGRESS_MODE_AUTO = 0, /* tty if isatty(out), else plain (resolved at init) */
    SA_PROGRESS_MODE_TTY,      /* redraw one line with \r */
    SA_PROGRESS_MODE_PLAIN,    /* a full line every interval_s and at finish */
    SA_PROGRESS_MODE_OFF       /* print nothing */
} sa_progress_mode;

/* Seconds on a monotonic clock; only differences are used. */
typedef double (*sa_progress_clock_fn)(void *ctx);

typedef struct sa_progress {
    char label[64];
    uint64_t total;          /* 0 = unknown */
    FILE *out;               /* borrowed; NULL means mode OFF */
    sa_progress_mode mode;   /* resolved: never AUTO after init */
    double interval_s;       /* plain mode: seconds between lines (default 10) */
    double redraw_s;         /* tty mode: seconds between redraws (default 0.1) */
    sa_progress_clock_fn clock;
    void *clock_ctx;
    const sa_log *log;       /* optional, borrowed: plain lines go through this log
                              * at info level (timestamp, prefix) instead of out */
    /* internal */
    _Atomic uint64_t done;
    atomic_flag printing;    /* try-lock guarding the fields below and output */
    double t_start;
    double t_last;           /* last time a line was printed */
    bool finished;
} sa_progress;

/* Set up with the default clock and mode AUTO resolved against `out`.
 * Prints nothing. total = 0 means the total is unknown. */
void sa_progress_init(sa_progress *p, const char *label, uint64_t total, FILE *out);

/* Replace the clock (and restart the elapsed time from its current value).
 * Call right after init, before any update. fn NULL restores the default. */
void sa_progress_set_clock(sa_progress *p, sa_progress_clock_fn fn, void *ctx);
/* Force a mode (AUTO re-resolves against `out`). Call before any update. */
void sa_progress_set_mode(sa_progress *p, sa_progress_mode mode);

/* Set the count to `done` / add n to it, and print if due. */
void sa_progress_set(sa_progress *p, uint64_t done);
void sa_progress_add(sa_progress *p, uint64_t n);
/* Current count. */
uint64_t sa_progress_done(const sa_progress *p);

/* Print the final state (tty: last redraw plus newline; plain: the "done"
 * line). Idempotent; later updates are counted but print nothing. Call after
 * all worker threads have stopped updating. */
void sa_progress_finish(sa_progress *p);

/* The default clock: CLOCK_MONOTONIC in seconds (ctx unused). */
double sa_progress_clock_monotonic(void *ctx);

#ifdef __cplusplus
}
#endif
#endif
