/* svg.h — a tiny builder of self-contained SVG charts for HTML reports.
 *
 * Purpose: `selfalign report` draws its charts itself (no scripts, no
 * network): horizontal bars (stage timeline, data funnel), vertical bars
 * with error bars (accuracies with confidence intervals), histograms with a
 * threshold line, and line charts with a legend. Every chart has axes with
 * "nice" round tick values (1, 2 or 5 times a power of ten), grid lines,
 * labels and a title, and is emitted as one <svg> element meant to be
 * inlined in an HTML page (no xmlns: the HTML parser puts it in the SVG
 * namespace; fonts and colours come from the page's CSS classes sa-*).
 *
 * Trust: every text (titles, labels, legend names, colours) is escaped with
 * sa_svg_escape, so data-derived labels can never inject markup. Non-finite
 * values (NaN, infinities) are skipped (a gap in a line, no bar).
 *
 * Ownership: the builders append to a caller-owned sa_strbuf and borrow
 * every input; nothing is retained.
 *
 * Usage:
 *     sa_svg_opts o = sa_svg_defaults();
 *     o.title = "Training loss"; o.x_label = "step"; o.y_label = "loss";
 *     double x[] = {10, 20, 30}, y[] = {3.1, 2.2, 1.6};
 *     sa_svg_series s = {.name = "m0", .x = x, .y = y, .n = 3};
 *     sa_strbuf html = {0};
 *     if (sa_svg_lines(&html, &o, &s, 1, &err)) ...;
 */
#ifndef SA_SVG_H
#define SA_SVG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sa/status.h"
#include "sa/strbuf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Colours of the report palette (CSS colour strings), cycled by series. */
#define SA_SVG_PALETTE_N 8
const char *sa_svg_palette(size_t i);

typedef struct sa_svg_opts {
    int width, height;          /* viewBox size in px (default 720 x 280) */
    const char *title;          /* drawn top left; NULL = none */
    const char *x_label;        /* axis titles; NULL = none */
    const char *y_label;
    double x_min, x_max;        /* axis domain; NAN = from the data (rounded to ticks) */
    double y_min, y_max;
    double ref;                 /* NAN = none; a dashed reference line: histogram and
                                   line chart: vertical at x = ref; vertical bars:
                                   horizontal at y = ref */
    const char *ref_label;      /* written beside the reference line */
    const char *color;          /* main colour (histogram bins >= ref; default palette 0) */
    const char *color_low;      /* histogram bins below ref (default grey) */
    bool funnel;                /* hbars: bars centred, no axis (a funnel) */
    bool percent;               /* format y tick labels as percentages (0.25 -> 25%) */
} sa_svg_opts;

/* 720 x 280, every domain bound and ref NAN, everything else empty. */
sa_svg_opts sa_svg_defaults(void);

/* One bar: label, value, optional error interval [lo, hi] (NAN = none),
 * colour (NULL = palette by index) and the text written on or after the bar
 * (NULL = the value). */
typedef struct sa_svg_bar {
    const char *label;
    double value;
    double lo, hi;
    const char *color;
    const char *text;
} sa_svg_bar;

/* One line: n points (x[i], y[i]); a non-finite y is a gap. */
typedef struct sa_svg_series {
    const char *name;   /* legend entry; NULL = not in the legend */
    const double *x, *y;
    size_t n;
    const char *color;  /* NULL = palette by index */
    bool dashed;
} sa_svg_series;

/* Horizontal bars, one row each, labels on the left (timeline, funnel).
 * The height grows with the number of rows (o->height is ignored). */
sa_status sa_svg_hbars(sa_strbuf *out, const sa_svg_opts *o, const sa_svg_bar *bars, size_t n, sa_err *err);
/* Vertical bars with optional error bars, labels under the bars. */
sa_status sa_svg_vbars(sa_strbuf *out, const sa_svg_opts *o, const sa_svg_bar *bars, size_t n, sa_err *err);
/* counts[i] is the bin [lo + i*width, lo + (i+1)*width). selected (may be
 * NULL) gives, per bin, how many of counts[i] reach the threshold: they are
 * drawn in o->color at the bottom of the bar and the rest in o->color_low
 * on top (a bin the threshold cuts shows both). Without it a bin takes
 * o->color when its centre is >= o->ref. */
sa_status sa_svg_histogram(sa_strbuf *out, const sa_svg_opts *o, double lo, double width, const uint64_t *counts,
                           const uint64_t *selected, size_t n_bins, sa_err *err);
/* Line chart with markers (when a series has few points) and a legend. */
sa_status sa_svg_lines(sa_strbuf *out, const sa_svg_opts *o, const sa_svg_series *series, size_t n_series,
                       sa_err *err);

/* Nice axis ticks for the data range [lo, hi]: about max_ticks values
 * (>= 2), the first <= lo, the last >= hi, evenly spaced by 1, 2 or 5 times
 * a power of ten. Returns the number written to ticks (<= 16) and the step
 * in *step. A degenerate or non-finite range is widened around it. */
size_t sa_svg_nice_ticks(double lo, double hi, int max_ticks, double ticks[16], double *step);
/* Format a tick value with as many decimals as step needs ("0.25", "1k",
 * "2.5M" for large values). */
void sa_svg_format_tick(double v, double step, char *buf, size_t n);

/* Append text escaped for HTML and XML text or attribute values (& < > " '),
 * dropping control characters other than tab and newline (invalid in XML)
 * and replacing invalid UTF-8 with U+FFFD. */
sa_status sa_svg_escape(sa_strbuf *out, const char *s, size_t n);

#ifdef __cplusplus
}
#endif
#endif
