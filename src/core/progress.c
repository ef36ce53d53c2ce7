/* progress.c — progress bar / periodic lines (see progress.h). */
#include "sa/progress.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 24

double sa_progress_clock_monotonic(void *ctx) {
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static sa_progress_mode resolve_mode(sa_progress_mode m, FILE *out) {
    if (!out) return SA_PROGRESS_MODE_OFF;
    if (m != SA_PROGRESS_MODE_AUTO) return m;
    return isatty(fileno(out)) ? SA_PROGRESS_MODE_TTY : SA_PROGRESS_MODE_PLAIN;
}

void sa_progress_init(sa_progress *p, const char *label, uint64_t total, FILE *out) {
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    p->total = total;
    p->out = out;
    p->mode = resolve_mode(SA_PROGRESS_MODE_AUTO, out);
    p->interval_s = 10.0;
    p->redraw_s = 0.1;
    p->clock = sa_progress_clock_monotonic;
    p->clock_ctx = NULL;
    p->log = NULL;
    atomic_init(&p->done, 0);
    atomic_flag_clear(&p->printing);
    p->t_start = p->clock(p->clock_ctx);
    p->t_last = p->t_start;
    p->finished = false;
}

void sa_progress_set_clock(sa_progress *p, sa_progress_clock_fn fn, void *ctx) {
    p->clock = fn ? fn : sa_progress_clock_monotonic;
    p->clock_ctx = fn ? ctx : NULL;
    p->t_start = p->clock(p->clock_ctx);
    p->t_last = p->t_start;
}

void sa_progress_set_mode(sa_progress *p, sa_progress_mode mode) {
    p->mode = resolve_mode(mode, p->out);
}

uint64_t sa_progress_done(const sa_progress *p) {
    return atomic_load_explicit(&((sa_progress *)p)->done, memory_order_relaxed);
}

/* "1:05" under an hour, "2:03:04" above; "?" for unknown/absurd values. */
static void format_duration(double s, char *buf, size_t cap) {
    if (!(s >= 0) || s > 1e8) {
        snprintf(buf, cap, "?");
        return;
    }
    unsigned long t = (unsigned long)(s + 0.5);
    unsigned long h = t / 3600, m = (t / 60) % 60, sec = t % 60;
    if (h) snprintf(buf, cap, "%lu:%02lu:%02lu", h, m, sec);
    else snprintf(buf, cap, "%lu:%02lu", m, sec);
}

static void format_rate(double rate, char *buf, size_t cap) {
    if (rate >= 100) snprintf(buf, cap, "%.0f/s", rate);
    else snprintf(buf, cap, "%.1f/s", rate);
}

/* Called with the print lock held. */
static void print_line(sa_progress *p, uint64_t done, double now, bool final) {
    double elapsed = now - p->t_start;
    double rate = elapsed > 0 ? (double)done / elapsed : 0.0;
    char rate_s[32], eta_s[32], el_s[32];
    format_rate(rate, rate_s, sizeof rate_s);
    format_duration(elapsed, el_s, sizeof el_s);
    bool known = p->total > 0;
    uint64_t shown = known && done > p->total ? p->total : done;
    double frac = known ? (double)shown / (double)p->total : 0.0;
    if (known && rate > 0) format_duration((double)(p->total - shown) / rate, eta_s, sizeof eta_s);
    else snprintf(eta_s, sizeof eta_s, "?");

    char line[256];
    int n = 0;
    if (p->mode == SA_PROGRESS_MODE_TTY) {
        if (known) {
            char bar[BAR_WIDTH + 1];
            int fill = (int)(frac * BAR_WIDTH);
            for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < fill ? '#' : '.';
            bar[BAR_WIDTH] = '\0';
            n = snprintf(line, sizeof line, "\r%s [%s] %3d%% %llu/%llu %s ETA %s", p->label, bar,
                         (int)(frac * 100), (unsigned long long)done,
                         (unsigned long long)p->total, rate_s, final ? "0:00" : eta_s);
        } else {
            n = snprintf(line, sizeof line, "\r%s %llu %s elapsed %s", p->label,
                         (unsigned long long)done, rate_s, el_s);
        }
        /* ESC[K clears leftovers of a longer previous line. */
        if (n > 0 && (size_t)n < sizeof line)
            n += snprintf(line + n, sizeof line - (size_t)n, "\x1b[K%s", final ? "\n" : "");
    } else if (final) {
        if (known)
            n = snprintf(line, sizeof line, "%s: done %llu/%llu in %s (%s)\n", p->label,
                         (unsigned long long)done, (unsigned long long)p->total, el_s, rate_s);
        else
            n = snprintf(line, sizeof line, "%s: done %llu in %s (%s)\n", p->label,
                         (unsigned long long)done, el_s, rate_s);
    } else {
        if (known)
            n = snprintf(line, sizeof line, "%s: %llu/%llu (%.1f%%) %s ETA %s\n", p->label,
                         (unsigned long long)done, (unsigned long long)p->total, frac * 100,
                         rate_s, eta_s);
        else
            n = snprintf(line, sizeof line, "%s: %llu %s elapsed %s\n", p->label,
                         (unsigned long long)done, rate_s, el_s);
    }
    if (n <= 0) return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    p->t_last = now;
    if (p->mode == SA_PROGRESS_MODE_PLAIN && p->log) {
        line[len - 1] = '\0'; /* the log adds its own newline */
        sa_log_msg(p->log, SA_LOG_LEVEL_INFO, "%s", line);
        return;
    }
    flockfile(p->out);
    fwrite(line, 1, len, p->out);
    fflush(p->out);
    funlockfile(p->out);
}

static void maybe_print(sa_progress *p) {
    if (p->mode == SA_PROGRESS_MODE_OFF) return;
    if (atomic_flag_test_and_set_explicit(&p->printing, memory_order_acquire)) return;
    if (!p->finished) {
        double now = p->clock(p->clock_ctx);
        double gap = p->mode == SA_PROGRESS_MODE_TTY ? p->redraw_s : p->interval_s;
        if (now - p->t_last >= gap) {
            /* Re-read: another thread may have advanced the counter meanwhile. */
            print_line(p, atomic_load_explicit(&p->done, memory_order_relaxed), now, false);
        }
    }
    atomic_flag_clear_explicit(&p->printing, memory_order_release);
}

void sa_progress_set(sa_progress *p, uint64_t done) {
    atomic_store_explicit(&p->done, done, memory_order_relaxed);
    maybe_print(p);
}

void sa_progress_add(sa_progress *p, uint64_t n) {
    atomic_fetch_add_explicit(&p->done, n, memory_order_relaxed);
    maybe_print(p);
}

void sa_progress_finish(sa_progress *p) {
    /* Wait out a thread that is still printing (finish is called after the
     * workers stopped, so this is at most one line's worth of spinning). */
    while (atomic_flag_test_and_set_explicit(&p->printing, memory_order_acquire)) {
    }
    if (!p->finished) {
        if (p->mode != SA_PROGRESS_MODE_OFF)
            print_line(p, atomic_load_explicit(&p->done, memory_order_relaxed),
                       p->clock(p->clock_ctx), true);
        p->finished = true;
    }
    atomic_flag_clear_explicit(&p->printing, memory_order_release);
}
