/* report.c — the HTML run report: page shell and style, header, stage
 * timeline, generic stage summaries, configuration, and the helpers the
 * sections share. The Humpback funnel, scores, loss curves and evaluations
 * live in report_data.c. See include/sa/report.h. */
#include "sa/report.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report_internal.h"
#include "sa/fileio.h"
#include "sa/json.h"
#include "sa/run.h"
#include "sa/version.h"

#define JSON_FILE_MAX ((size_t)16 << 20)

sa_report_opts sa_report_defaults(void) {
    sa_report_opts o = {.max_curve_points = 400, .samples = 3, .instruction_chars = 300, .output_chars = 500};
    return o;
}

/* ---- helpers shared with report_data.c ------------------------------------ */

void rp_pf(rp *r, const char *fmt, ...) {
    if (r->bad) return;
    va_list ap;
    va_start(ap, fmt);
    if (sa_strbuf_appendv(r->h, fmt, ap)) r->bad = true;
    va_end(ap);
}

void rp_esc(rp *r, const char *s) {
    if (!r->bad && s && sa_svg_escape(r->h, s, strlen(s))) r->bad = true;
}

void rp_esc_cut(rp *r, const char *s, size_t max_chars) {
    if (!s) return;
    size_t n = strlen(s), i = 0, chars = 0;
    while (i < n && chars < max_chars) {
        unsigned char c = (unsigned char)s[i++];
        if (c >= 0x80)
            while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
        chars++;
    }
    if (!r->bad && sa_svg_escape(r->h, s, i)) r->bad = true;
    if (i < n) rp_pf(r, "\xE2\x80\xA6");
}

void rp_missing(rp *r, const char *fmt, ...) {
    char msg[SA_ERR_MSG_MAX + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->notes.len && sa_strbuf_puts(&r->notes, "; ")) r->bad = true;
    if (sa_svg_escape(&r->notes, msg, strlen(msg))) r->bad = true;
    r->n_notes_total++;
}

void rp_flush_notes(rp *r) {
    if (!r->notes.len) return;
    rp_pf(r, "<p class=\"missing\">missing: %s</p>\n", sa_strbuf_cstr(&r->notes));
    sa_strbuf_reset(&r->notes);
}

const char *rp_path(rp *r, const char *rel) {
    if (sa_path_join(&r->path, r->dir, rel)) r->bad = true;
    return sa_strbuf_cstr(&r->path);
}

json_t *rp_load_json(rp *r, const char *rel, bool note_absent) {
    const char *p = rp_path(r, rel);
    if (!sa_path_exists(p)) {
        if (note_absent) rp_missing(r, "%s", rel);
        return NULL;
    }
    json_t *j = NULL;
    sa_err e = {0};
    if (sa_json_load_file(p, JSON_FILE_MAX, &j, &e)) {
        rp_missing(r, "%s (unreadable: %s)", rel, e.msg);
        return NULL;
    }
    if (!json_is_object(j)) {
        rp_missing(r, "%s (not a JSON object)", rel);
        json_decref(j);
        return NULL;
    }
    return j;
}

double rp_num(const json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

void rp_count(char *buf, size_t n, double v) {
    if (!isfinite(v)) {
        snprintf(buf, n, "\xE2\x80\x93");
        return;
    }
    if (fabs(v - round(v)) > 1e-9 || fabs(v) >= 1e15) {
        snprintf(buf, n, "%.4g", v);
        return;
    }
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%lld", (long long)llround(fabs(v)));
    size_t len = strlen(tmp), o = 0;
    if (v < 0 && o + 1 < n) buf[o++] = '-';
    for (size_t i = 0; i < len && o + 2 < n; i++) {
        if (i && (len - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = 0;
}

const char *rp_stage_dir(const json_t *stage) {
    const char *d = json_string_value(json_object_get(stage, "dir"));
    if (!d) d = json_string_value(json_object_get(stage, "name"));
    if (!d || !*d || d[0] == '/') return NULL;
    for (const char *p = d; *p;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') return NULL;
        p += n;
        if (*p == '/') p++;
    }
    return d;
}

const char *rp_stage_state(const rp *r, const json_t *stage) {
    const char *s = json_string_value(json_object_get(stage, "state"));
    if (!s) return "?";
    if (strcmp(s, "running") == 0 && !r->active) return "interrupted";
    return s;
}

json_t *rp_find_stage(const rp *r, const char *name) {
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(r->manifest, "stages"), i, st) {
        const char *n = json_string_value(json_object_get(st, "name"));
        if (n && strcmp(n, name) == 0) return st;
    }
    return NULL;
}

void rp_section(rp *r, const char *id, const char *title) {
    rp_pf(r, "<section id=\"%s\">\n<h2>", id);
    rp_esc(r, title);
    rp_pf(r, "</h2>\n");
}

void rp_section_end(rp *r) {
    rp_flush_notes(r);
    rp_pf(r, "</section>\n");
}

void rp_svg_done(rp *r, sa_status s, sa_strbuf *svg, const sa_err *err) {
    if (s == SA_OK) {
        rp_pf(r, "<figure>%s</figure>\n", sa_strbuf_cstr(svg));
    } else {
        rp_missing(r, "a chart (%s)", err->msg);
        if (s == SA_ERR_NOMEM) r->bad = true;
    }
    sa_strbuf_free(svg);
}

/* ---- page shell ------------------------------------------------------------------ */

static const char k_css[] =
    ":root{--ink:#1f2933;--soft:#52606d;--faint:#9aa5b1;--line:#e4e7eb;--bg:#f4f5f7;--card:#fff;"
    "--accent:#3b6fd4;--ok:#2f9e6e;--run:#3b6fd4;--warn:#d9962b;--bad:#d44a4a;--idle:#b4bcc8}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 system-ui,-apple-system,'Segoe UI',"
    "Roboto,'Helvetica Neue',Arial,sans-serif}\n"
    "main{max-width:1060px;margin:0 auto;padding:28px 24px 48px}\n"
    "header{margin-bottom:18px}\n"
    "h1{font-size:26px;margin:0 0 4px;font-weight:650;letter-spacing:-.01em}\n"
    "h1 .kind{color:var(--accent)}\n"
    "h2{font-size:17px;margin:0 0 12px;font-weight:620}\n"
    "h3{font-size:14px;margin:18px 0 8px;color:var(--soft);font-weight:600}\n"
    ".meta{color:var(--soft);font-size:13px}\n"
    ".meta code{font-size:12px;background:#e9ecf1;padding:1px 5px;border-radius:4px;word-break:break-all}\n"
    "section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 20px;"
    "margin:16px 0;box-shadow:0 1px 2px rgba(16,24,40,.04)}\n"
    ".tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px;margin:16px 0}\n"
    ".tile{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px}\n"
    ".tile .k{font-size:12px;color:var(--soft);text-transform:uppercase;letter-spacing:.04em}\n"
    ".tile .v{font-size:22px;font-weight:650;margin-top:2px;font-variant-numeric:tabular-nums}\n"
    ".tile .s{font-size:12px;color:var(--faint)}\n"
    ".state{display:inline-block;padding:1px 9px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}\n"
    ".st-done{background:var(--ok)}.st-running{background:var(--run)}.st-interrupted{background:var(--warn)}"
    ".st-failed{background:var(--bad)}.st-pending{background:var(--idle)}\n"
    "table{border-collapse:collapse;font-size:13px;margin:6px 0 4px;font-variant-numeric:tabular-nums}\n"
    "th,td{padding:5px 10px;text-align:left;border-bottom:1px solid var(--line);vertical-align:top}\n"
    "th{color:var(--soft);font-weight:600;font-size:12px;background:#f8f9fb}\n"
    "td.n,th.n{text-align:right}\ntd.n{white-space:nowrap}\n"
    "tr.total td{font-weight:600}\n"
    "td.err{color:var(--bad);max-width:460px;word-break:break-word}\n"
    ".grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:8px 24px}\n"
    ".grid2>div{min-width:0}\n"
    "figure{margin:4px 0 8px}\n"
    "svg.sa-chart{max-width:100%;height:auto;display:block}\n"
    "svg text{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif}\n"
    ".sa-title{font-size:14px;font-weight:600;fill:var(--ink)}\n"
    ".sa-tick{font-size:11px;fill:#7b8794}\n"
    ".sa-label{font-size:12px;fill:var(--soft)}\n"
    ".sa-cat{font-size:12px;fill:#323f4b}\n"
    ".sa-val{font-size:11px;fill:#323f4b}\n"
    ".sa-on{font-size:12px;fill:#fff;font-weight:600}\n"
    ".sa-legend{font-size:12px;fill:#323f4b}\n"
    ".sa-empty{font-size:13px;fill:var(--faint)}\n"
    ".sa-grid{stroke:#edf0f3;stroke-width:1}\n"
    ".sa-axis{stroke:#9aa5b1;stroke-width:1}\n"
    ".sa-tickmark{stroke:#9aa5b1;stroke-width:1}\n"
    ".sa-line{fill:none;stroke-width:2;stroke-linejoin:round;stroke-linecap:round}\n"
    ".sa-dashed{stroke-dasharray:6 4}\n"
    ".sa-ref{stroke:var(--bad);stroke-width:1.5;stroke-dasharray:5 4}\n"
    ".sa-reflabel{font-size:11px;fill:var(--bad);font-weight:600}\n"
    ".sa-err{stroke:#323f4b;stroke-width:1.5;fill:none}\n"
    ".legend{font-size:12px;color:var(--soft);margin:2px 0 8px}\n"
    ".legend span{margin-right:14px;white-space:nowrap}\n"
    ".dot{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px}\n"
    ".missing{font-size:12px;color:#8a5a00;background:#fff7e6;border:1px solid #f5dca8;border-radius:6px;"
    "padding:6px 10px;margin:10px 0 0;word-break:break-word}\n"
    ".note{color:var(--soft);font-style:italic}\n"
    ".pairs{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:12px}\n"
    ".pair{border:1px solid var(--line);border-radius:8px;padding:10px 12px;background:#fbfcfd;min-width:0}\n"
    ".pair .score{float:right;font-weight:650;font-size:13px;padding:1px 8px;border-radius:10px;color:#fff}\n"
    ".pair .hi{background:var(--ok)}.pair .lo{background:var(--bad)}\n"
    ".pair .lab{font-size:11px;color:var(--faint);text-transform:uppercase;letter-spacing:.05em;margin-top:6px}\n"
    ".pair p{margin:2px 0 4px;white-space:pre-wrap;word-break:break-word;font-size:13px}\n"
    "details summary{cursor:pointer;font-weight:600}\n"
    "pre{background:#f8f9fb;border:1px solid var(--line);border-radius:6px;padding:10px 12px;font-size:12px;"
    "overflow:auto;max-height:520px}\n"
    "footer{color:var(--faint);font-size:12px;text-align:center;margin-top:24px}\n";

static void fmt_seconds(char *buf, size_t n, double s) {
    if (!isfinite(s) || s < 0) snprintf(buf, n, "\xE2\x80\x93");
    else if (s < 0.095) snprintf(buf, n, "%.0f ms", s * 1000);
    else if (s < 60) snprintf(buf, n, "%.1f s", s);
    else if (s < 3600) snprintf(buf, n, "%d min %02d s", (int)(s / 60), (int)fmod(s, 60));
    else if (s < 86400 * 2) snprintf(buf, n, "%d h %02d min", (int)(s / 3600), (int)fmod(s / 60, 60));
    else snprintf(buf, n, "%d d %02d h", (int)(s / 86400), (int)fmod(s / 3600, 24));
}

static const char *state_color(const char *state) {
    if (strcmp(state, "done") == 0) return "#2f9e6e";
    if (strcmp(state, "running") == 0) return "#3b6fd4";
    if (strcmp(state, "interrupted") == 0) return "#d9962b";
    if (strcmp(state, "failed") == 0) return "#d44a4a";
    return "#b4bcc8";
}

static const char *state_class(const char *state) {
    static const char *const known[] = {"done", "running", "interrupted", "failed", "pending"};
    for (size_t i = 0; i < 5; i++)
        if (strcmp(state, known[i]) == 0) return known[i];
    return "pending";
}

static void tile(rp *r, const char *k, const char *v, const char *sub) {
    rp_pf(r, "<div class=\"tile\"><div class=\"k\">");
    rp_esc(r, k);
    rp_pf(r, "</div><div class=\"v\">");
    rp_esc(r, v);
    rp_pf(r, "</div>");
    if (sub) {
        rp_pf(r, "<div class=\"s\">");
        rp_esc(r, sub);
        rp_pf(r, "</div>");
    }
    rp_pf(r, "</div>\n");
}

static void header(rp *r) {
    json_t *m = r->manifest, *stages = json_object_get(m, "stages");
    const char *kind = json_string_value(json_object_get(m, "kind"));
    const char *ver = json_string_value(json_object_get(m, "version"));
    const char *created = json_string_value(json_object_get(m, "created"));
    const char *updated = json_string_value(json_object_get(m, "updated"));
    size_t n = json_array_size(stages), done = 0, i;
    double total = 0;
    const char *failed = NULL, *running = NULL;
    json_t *st;
    json_array_foreach(stages, i, st) {
        const char *s = rp_stage_state(r, st);
        double sec = rp_num(st, "seconds");
        if (isfinite(sec) && sec > 0) total += sec;
        if (strcmp(s, "done") == 0) done++;
        else if (strcmp(s, "failed") == 0 && !failed) failed = json_string_value(json_object_get(st, "name"));
        else if ((strcmp(s, "running") == 0 || strcmp(s, "interrupted") == 0) && !running)
            running = json_string_value(json_object_get(st, "name"));
    }
    rp_pf(r, "<header>\n<h1><span class=\"kind\">");
    rp_esc(r, kind ? kind : "run");
    rp_pf(r, "</span> run report</h1>\n<div class=\"meta\">directory <code>");
    rp_esc(r, r->dir);
    rp_pf(r, "</code> &#183; selfalign ");
    rp_esc(r, ver ? ver : "?");
    rp_pf(r, " &#183; created ");
    rp_esc(r, created ? created : "?");
    rp_pf(r, " &#183; updated ");
    rp_esc(r, updated ? updated : "?");
    if (r->active) rp_pf(r, " &#183; <b>a process is working on it now</b>");
    rp_pf(r, "</div>\n</header>\n<div class=\"tiles\">\n");
    char v[64], sub[160], t[32];
    const char *state = done == n ? "done" : failed ? "failed" : r->active ? "running" : "incomplete";
    if (done == n) snprintf(sub, sizeof sub, "all %zu stages", n);
    else if (failed) snprintf(sub, sizeof sub, "%zu of %zu stages; %.80s failed", done, n, failed);
    else if (running) snprintf(sub, sizeof sub, "%zu of %zu stages; at %.80s", done, n, running);
    else snprintf(sub, sizeof sub, "%zu of %zu stages", done, n);
    tile(r, "state", state, sub);
    fmt_seconds(t, sizeof t, total);
    tile(r, "wall time", t, "all stages, all attempts");
    snprintf(v, sizeof v, "%zu / %zu", done, n);
    tile(r, "stages done", v, NULL);
    /* Humpback headline numbers when present */
    json_t *aug = json_object_get(rp_find_stage(r, "augment"), "summary");
    if (json_is_number(json_object_get(aug, "accepted"))) {
        rp_count(v, sizeof v, rp_num(aug, "accepted"));
        tile(r, "candidates", v, "backtranslated pairs");
    }
    json_t *last = NULL;
    json_array_foreach(stages, i, st) {
        const char *nm = json_string_value(json_object_get(st, "name"));
        if (nm && strncmp(nm, "curate-", 7) == 0 && json_is_object(json_object_get(st, "summary"))) last = st;
    }
    if (last) {
        json_t *sum = json_object_get(last, "summary");
        rp_count(v, sizeof v, rp_num(sum, "selected"));
        double k = rp_num(sum, "min_score");
        if (isfinite(k))
            snprintf(sub, sizeof sub, "%.40s, score >= %.3g", json_string_value(json_object_get(last, "name")), k);
        else snprintf(sub, sizeof sub, "%.40s", json_string_value(json_object_get(last, "name")));
        tile(r, "selected", v, sub);
    }
    rp_pf(r, "</div>\n");
}

/* ---- stages ------------------------------------------------------------------- */

static void timeline(rp *r) {
    json_t *stages = json_object_get(r->manifest, "stages");
    size_t n = json_array_size(stages), i;
    rp_section(r, "timeline", "Stage timeline");
    sa_svg_bar *bars = calloc(n ? n : 1, sizeof *bars);
    char (*texts)[96] = calloc(n ? n : 1, sizeof *texts);
    if (!bars || !texts) {
        r->bad = true;
        free(bars);
        free(texts);
        return;
    }
    bool seen[5] = {0};
    static const char *const order[] = {"done", "running", "interrupted", "failed", "pending"};
    json_t *st;
    json_array_foreach(stages, i, st) {
        const char *state = rp_stage_state(r, st);
        double sec = rp_num(st, "seconds");
        long long att = (long long)rp_num(st, "attempts");
        char t[32];
        fmt_seconds(t, sizeof t, isfinite(sec) ? sec : 0);
        bars[i].label = json_string_value(json_object_get(st, "name"));
        bars[i].value = isfinite(sec) && sec > 0 ? sec : 0;
        bars[i].lo = bars[i].hi = NAN;
        bars[i].color = state_color(state);
        if (strcmp(state, "pending") == 0) snprintf(texts[i], sizeof texts[i], "pending");
        else if (strcmp(state, "done") == 0) snprintf(texts[i], sizeof texts[i], "%s", t);
        else snprintf(texts[i], sizeof texts[i], "%s \xC2\xB7 %s", t, state);
        if (att > 1) {
            size_t l = strlen(texts[i]);
            snprintf(texts[i] + l, sizeof texts[i] - l, " \xC2\xB7 %lld attempts", att);
        }
        bars[i].text = texts[i];
        for (size_t k = 0; k < 5; k++)
            if (strcmp(state_class(state), order[k]) == 0) seen[k] = true;
    }
    sa_svg_opts o = sa_svg_defaults();
    o.x_label = "wall seconds";
    o.width = 980;
    sa_strbuf svg = {0};
    sa_err e = {0};
    sa_status s = sa_svg_hbars(&svg, &o, bars, n, &e);
    rp_svg_done(r, s, &svg, &e);
    rp_pf(r, "<div class=\"legend\">");
    for (size_t k = 0; k < 5; k++)
        if (seen[k]) rp_pf(r, "<span><i class=\"dot\" style=\"background:%s\"></i>%s</span>", state_color(order[k]), order[k]);
    rp_pf(r, "</div>\n");
    /* table (the error column only when a stage failed) */
    bool any_err = false;
    json_array_foreach(stages, i, st) any_err |= json_is_string(json_object_get(st, "error"));
    rp_pf(r, "<table><tr><th>stage</th><th>state</th><th class=\"n\">attempts</th><th class=\"n\">time</th>"
             "<th>started</th><th>finished</th>%s</tr>\n", any_err ? "<th>error</th>" : "");
    json_array_foreach(stages, i, st) {
        const char *state = rp_stage_state(r, st);
        char t[32];
        fmt_seconds(t, sizeof t, rp_num(st, "seconds"));
        rp_pf(r, "<tr><td>");
        rp_esc(r, json_string_value(json_object_get(st, "name")));
        rp_pf(r, "</td><td><span class=\"state st-%s\">", state_class(state));
        rp_esc(r, state);
        rp_pf(r, "</span></td><td class=\"n\">%lld</td><td class=\"n\">%s</td><td>",
              (long long)(isfinite(rp_num(st, "attempts")) ? rp_num(st, "attempts") : 0), t);
        rp_esc(r, json_string_value(json_object_get(st, "started")));
        rp_pf(r, "</td><td>");
        rp_esc(r, json_string_value(json_object_get(st, "finished")));
        if (any_err) {
            rp_pf(r, "</td><td class=\"err\">");
            rp_esc_cut(r, json_string_value(json_object_get(st, "error")), 400);
        }
        rp_pf(r, "</td></tr>\n");
    }
    rp_pf(r, "</table>\n");
    free(bars);
    free(texts);
    rp_section_end(r);
}

static bool known_stage(const char *name, const json_t *summary) {
    if (strcmp(name, "corpus") == 0 || strcmp(name, "augment") == 0 || strncmp(name, "curate-", 7) == 0) return true;
    return json_object_get(summary, "final_loss") != NULL; /* a training stage: in the models table */
}

/* key = value rows of a summary (scalars; one nested level flattened). */
static void summary_rows(rp *r, const json_t *obj, const char *prefix, int depth) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        if (json_is_object(v) && depth == 0) {
            summary_rows(r, v, key, 1);
            continue;
        }
        rp_pf(r, "<tr><td>");
        if (prefix) {
            rp_esc(r, prefix);
            rp_pf(r, ".");
        }
        rp_esc(r, key);
        rp_pf(r, "</td><td class=\"n\">");
        char buf[64];
        if (json_is_integer(v)) rp_count(buf, sizeof buf, (double)json_integer_value(v)), rp_esc(r, buf);
        else if (json_is_real(v)) snprintf(buf, sizeof buf, "%.4g", json_real_value(v)), rp_esc(r, buf);
        else if (json_is_string(v)) rp_esc_cut(r, json_string_value(v), 120);
        else if (json_is_boolean(v)) rp_pf(r, "%s", json_is_true(v) ? "true" : "false");
        else if (json_is_array(v)) rp_pf(r, "[%zu items]", json_array_size(v));
        else if (json_is_object(v)) rp_pf(r, "{%zu keys}", json_object_size(v));
        else rp_pf(r, "null");
        rp_pf(r, "</td></tr>\n");
    }
}

static void other_stages(rp *r) {
    json_t *stages = json_object_get(r->manifest, "stages"), *st;
    size_t i, shown = 0;
    json_array_foreach(stages, i, st) {
        const char *name = json_string_value(json_object_get(st, "name"));
        json_t *sum = json_object_get(st, "summary");
        if (!name || known_stage(name, sum)) continue;
        json_t *owned = NULL;
        if (!json_is_object(sum)) {
            const char *dir = rp_stage_dir(st);
            if (dir) {
                sa_strbuf rel = {0};
                if (sa_path_join(&rel, dir, "stats.json")) r->bad = true;
                owned = rp_load_json(r, sa_strbuf_cstr(&rel), false);
                sa_strbuf_free(&rel);
            }
            sum = owned;
        }
        if (!sum) {
            if (strcmp(rp_stage_state(r, st), "done") == 0) rp_missing(r, "%s: no summary and no stats.json", name);
            continue;
        }
        if (!shown++) {
            rp_section(r, "stages", "Stage summaries");
            rp_pf(r, "<div class=\"grid2\">\n");
        }
        rp_pf(r, "<div><h3>");
        rp_esc(r, name);
        rp_pf(r, "</h3><table><tr><th>count</th><th class=\"n\">value</th></tr>\n");
        summary_rows(r, sum, NULL, 0);
        rp_pf(r, "</table></div>\n");
        json_decref(owned);
    }
    if (shown) {
        rp_pf(r, "</div>\n");
        rp_section_end(r);
    } else if (r->notes.len) {
        rp_section(r, "stages", "Stage summaries");
        rp_section_end(r);
    }
}

static void config(rp *r) {
    rp_section(r, "config", "Configuration");
    json_t *cfg = json_object_get(r->manifest, "config");
    char *text = json_dumps(cfg, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!text) {
        rp_missing(r, "config (cannot be serialised)");
    } else {
        rp_pf(r, "<details><summary>Resolved configuration (%zu keys)</summary>\n<pre>", json_object_size(cfg));
        rp_esc(r, text);
        rp_pf(r, "</pre></details>\n");
        free(text);
    }
    rp_section_end(r);
}

/* ---- entry points ------------------------------------------------------------------ */

sa_status sa_report_render(const char *run_dir, const sa_report_opts *o, sa_strbuf *html, sa_err *err) {
    if (!run_dir || !html) return sa_err_set(err, SA_ERR_INVALID_ARG, "report: a run directory is required");
    rp r;
    memset(&r, 0, sizeof r);
    r.dir = run_dir;
    r.o = o ? *o : sa_report_defaults();
    if (r.o.max_curve_points < 2) r.o.max_curve_points = 2;
    if (r.o.samples > 20) r.o.samples = 20;
    r.h = html;
    sa_status s = sa_run_read(run_dir, &r.manifest, &r.active, err);
    if (s) return s;
    const char *kind = json_string_value(json_object_get(r.manifest, "kind"));
    rp_pf(&r, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
              "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
              "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
    rp_esc(&r, kind);
    rp_pf(&r, " run report \xE2\x80\x94 ");
    rp_esc(&r, run_dir);
    rp_pf(&r, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n", k_css);
    header(&r);
    timeline(&r);
    rp_funnel(&r);
    rp_curation(&r);
    rp_training(&r);
    other_stages(&r);
    rp_eval(&r);
    config(&r);
    char ts[32];
    sa_run_timestamp(ts, sizeof ts);
    rp_pf(&r, "<footer>generated by selfalign %s at %s", SA_VERSION, ts);
    if (r.n_notes_total) rp_pf(&r, " &#183; %zu missing or unreadable item%s noted above", r.n_notes_total,
                               r.n_notes_total == 1 ? "" : "s");
    rp_pf(&r, "</footer>\n</main>\n</body>\n</html>\n");
    json_decref(r.manifest);
    sa_strbuf_free(&r.notes);
    sa_strbuf_free(&r.path);
    if (r.bad) return sa_err_set(err, SA_ERR_NOMEM, "report: %s: out of memory", run_dir);
    return SA_OK;
}

sa_status sa_report_write_opts(const char *run_dir, const char *out_path, const sa_report_opts *o, sa_err *err) {
    sa_strbuf html = {0}, def = {0};
    if (!out_path) {
        if (!run_dir || sa_path_join(&def, run_dir, "report.html"))
            return sa_err_set(err, run_dir ? SA_ERR_NOMEM : SA_ERR_INVALID_ARG, "report: cannot name the output");
        out_path = sa_strbuf_cstr(&def);
    }
    sa_status s = sa_report_render(run_dir, o, &html, err);
    if (!s) s = sa_file_write_atomic(out_path, html.buf ? html.buf : "", html.len, err);
    sa_strbuf_free(&html);
    sa_strbuf_free(&def);
    return s;
}

sa_status sa_report_write(const char *run_dir, const char *out_path, sa_err *err) {
    return sa_report_write_opts(run_dir, out_path, NULL, err);
}
