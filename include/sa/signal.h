/* signal.h — graceful stop on SIGINT/SIGTERM.
 *
 * Purpose: a long stage (generation, curation, training) must be stoppable
 * with Ctrl-C or `kill` without losing work: the handlers only record the
 * signal; journals and loops poll sa_signal_pending() between records or
 * steps, flush what they have, and return SA_ERR_INTERRUPTED so the CLI can
 * exit cleanly and a rerun resumes.
 *
 * A second SIGINT/SIGTERM while one is still pending restores the default
 * action and re-raises it, so a run stuck somewhere can still be killed by
 * pressing Ctrl-C twice.
 *
 * Global state: this module holds the one file-level mutable variable in
 * selfalign, a `static volatile sig_atomic_t` with the caught signal number.
 * It cannot live in a context struct because a signal handler receives no
 * context pointer; sig_atomic_t is the only type C lets a handler write.
 * Handlers use SA_RESTART so stdio and read/write calls elsewhere are not
 * cut short with EINTR.
 *
 * Usage:
 *     if (sa_signal_install(&err) != SA_OK) ...;
 *     while (have_records) {
 *         if (sa_signal_pending()) { journal_flush(); return sa_signal_check(&err); }
 *         ...
 *     }
 */
#ifndef SA_SIGNAL_H
#define SA_SIGNAL_H

#include "sa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Install the SIGINT and SIGTERM handlers. Idempotent. */
sa_status sa_signal_install(sa_err *err);
/* Put SIGINT and SIGTERM back to their default actions (for tests and for
 * code that hands the terminal to something else). The pending flag stays. */
void sa_signal_uninstall(void);
/* The number of the signal caught (SIGINT or SIGTERM), or 0. */
int sa_signal_pending(void);
/* Forget a caught signal (the handlers stay installed). */
void sa_signal_reset(void);
/* SA_OK when no signal is pending; otherwise SA_ERR_INTERRUPTED with
 * "interrupted by SIGINT" (or SIGTERM) in err. */
sa_status sa_signal_check(sa_err *err);

#ifdef __cplusplus
}
#endif
#endif
