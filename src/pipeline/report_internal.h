/* report_internal.h — shared state of the report writer (report.c: page,
 * header, stages, config; report_data.c: funnel, scores, loss curves,
 * evaluations). Not a public header. */
#ifndef SA_REPORT_INTERNAL_H
#define SA_REPORT_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "sa/report.h"
#include "sa/strbuf.h"
#include "sa/svg.h"

typedef struct rp {
    const char *dir;          /* run directory */
    sa_report_opts o;
    json_t *manifest;         /* owned */
    bool active;              /* a process holds the run */
    sa_strbuf *h;             /* the page (borrowed) */
    sa_strbuf notes;          /* this section's missing notes, "; "-separated, escaped */
    size_t n_notes_total;
    bool bad;                 /* out of memory somewhere */
    sa_strbuf path;           /* scratch for rp_path */
} rp;

/* Append formatted text / escaped text to the page (out of memory sets bad). */
void rp_pf(rp *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rp_esc(rp *r, const char *s);
/* Escaped, cut to max_chars characters plus "…". */
void rp_esc_cut(rp *r, const char *s, size_t max_chars);
/* Record a problem for this section's "missing: ..." note. */
void rp_missing(rp *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Emit this section's note (if any) and clear it. */
void rp_flush_notes(rp *r);
/* dir + "/" + rel in a scratch buffer valid until the next call. */
const char *rp_path(rp *r, const char *rel);
/* A JSON object file under the run (capped size), or NULL with a note. */
json_t *rp_load_json(rp *r, const char *rel, bool note_absent);
/* Number at key, or NAN when absent or not a number. */
double rp_num(const json_t *obj, const char *key);
/* "1,234" */
void rp_count(char *buf, size_t n, double v);
/* A stage's directory relative to the run, or NULL when unsafe
 * (absolute, or containing a ".." component). */
const char *rp_stage_dir(const json_t *stage);
/* Stage state as shown ("running" without a process is "interrupted"). */
const char *rp_stage_state(const rp *r, const json_t *stage);
/* The stage object named name, or NULL. */
json_t *rp_find_stage(const rp *r, const char *name);
/* Open and close a section card with a heading. */
void rp_section(rp *r, const char *id, const char *title);
void rp_section_end(rp *r);
/* Append an SVG chart built into a scratch buffer (error -> note). */
void rp_svg_done(rp *r, sa_status s, sa_strbuf *svg, const sa_err *err);

/* report_data.c */
void rp_funnel(rp *r);
void rp_curation(rp *r);
void rp_training(rp *r);
void rp_eval(rp *r);

#endif
