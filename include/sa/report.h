/* report.h — one self-contained HTML page that shows a run directory.
 *
 * Purpose: `selfalign report --run DIR` turns a Humpback or Dromedary run
 * (run.h, humpback.h) into a page a person would rather look at than read:
 *   - header: run kind, directory, selfalign version, created/updated,
 *     overall state (done / N of M stages), total wall time;
 *   - stage timeline: each stage's wall seconds as bars coloured by state,
 *     with the attempts of resumed stages;
 *   - Humpback data funnel: documents -> segments -> kept -> candidates ->
 *     selected per iteration, with the rejection reasons of each step;
 *   - score histograms of every curation round (curate-t/scored.jsonl) with
 *     the selection threshold, and the best- and worst-scored pairs of the
 *     last round;
 *   - training loss curves (every stage folder's metrics.jsonl: loss and
 *     eval_loss against step) and a table of the trained models;
 *   - evaluation tables from RUN/eval/ *.json files (kinds pairwise, nll, task),
 *     with a bar chart of accuracies (error bars = intervals);
 *   - the summary counts of stages the report has no dedicated view for
 *     (any run kind renders: timeline, curves, config and eval are generic);
 *   - the resolved configuration in a collapsed <details> block.
 * Charts are inline SVG drawn by svg.h; the page has inline CSS only, no
 * script, no external reference, and a Content-Security-Policy that forbids
 * loading anything.
 *
 * Trust: every text from the run (records, names, paths, config values) is
 * untrusted and HTML-escaped; nothing from data is emitted as markup.
 *
 * Robustness: only the manifest is required (a missing or corrupt
 * manifest.json is an error naming the file). Any other file may be absent,
 * torn (a JSONL last line cut by a crash) or hold wrong types: the report
 * renders what it can and lists the problems in "missing: ..." notes. Large
 * files stream: scored.jsonl is read twice line by line keeping only
 * histogram counts and the best/worst k records; each loss curve is
 * downsampled evenly to at most max_curve_points points.
 *
 * Ownership: opts and paths are borrowed; the report owns all it allocates
 * and frees it before returning.
 *
 * Usage:
 *     if (sa_report_write("runs/h1", NULL, &err)) ...;       // runs/h1/report.html
 *     sa_report_opts o = sa_report_defaults(); o.samples = 5;
 *     sa_strbuf html = {0};
 *     if (sa_report_render("runs/h1", &o, &html, &err)) ...;
 */
#ifndef SA_REPORT_H
#define SA_REPORT_H

#include <stddef.h>

#include "sa/status.h"
#include "sa/strbuf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_report_opts {
    size_t max_curve_points;   /* points per loss curve at most (default 400, minimum 2) */
    size_t samples;            /* best and worst pairs shown (default 3, at most 20) */
    size_t instruction_chars;  /* sample text cut to this many characters + "…" (default 300) */
    size_t output_chars;       /* (default 500) */
} sa_report_opts;

sa_report_opts sa_report_defaults(void);

/* Render the page for run_dir into html (appended). */
sa_status sa_report_render(const char *run_dir, const sa_report_opts *o, sa_strbuf *html, sa_err *err);

/* Render with o (NULL = defaults) and write it atomically (fileio.h) to
 * out_path (NULL = run_dir/report.html). */
sa_status sa_report_write_opts(const char *run_dir, const char *out_path, const sa_report_opts *o, sa_err *err);
/* sa_report_write_opts with the defaults. */
sa_status sa_report_write(const char *run_dir, const char *out_path, sa_err *err);

#ifdef __cplusplus
}
#endif
#endif
