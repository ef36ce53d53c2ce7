/* signal.c — SIGINT/SIGTERM flag (see signal.h for why this file holds
 * the project's only file-level mutable state). */
#include "sa/signal.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

static volatile sig_atomic_t sa_signal_caught;

static void on_signal(int sig) {
    if (sa_signal_caught) {
        /* Second request: the user wants out now. Both calls are
         * async-signal-safe; errno is saved for the interrupted code. */
        int saved = errno;
        signal(sig, SIG_DFL);
        raise(sig);
        errno = saved;
        return;
    }
    sa_signal_caught = sig;
}

sa_status sa_signal_install(sa_err *err) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    const int sigs[2] = {SIGINT, SIGTERM};
    for (int i = 0; i < 2; i++) {
        if (sigaction(sigs[i], &sa, NULL) != 0)
            return sa_err_set(err, SA_ERR_IO, "installing handler for %s: %s",
                              sigs[i] == SIGINT ? "SIGINT" : "SIGTERM", strerror(errno));
    }
    return SA_OK;
}

void sa_signal_uninstall(void) {
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
}

int sa_signal_pending(void) { return (int)sa_signal_caught; }

void sa_signal_reset(void) { sa_signal_caught = 0; }

sa_status sa_signal_check(sa_err *err) {
    int sig = sa_signal_pending();
    if (!sig) return SA_OK;
    return sa_err_set(err, SA_ERR_INTERRUPTED, "interrupted by %s",
                      sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal");
}
