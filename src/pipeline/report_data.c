/* report_data.c — the data sections of the run report: the Humpback funnel
 * and rejection reasons, score histograms and sample pairs (streamed from
 * scored.jsonl) and training loss curves (metrics.jsonl, downsampled).
 * Evaluations are in report_eval.c. See include/sa/report.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"
#include "sa/fileio.h"
#include "sa/json.h"
#include "sa/jsonl.h"

#define MAX_BINS 64

/* ---- funnel ------------------------------------------------------------------ */

/* Summary of a stage: the manifest's, else the stage folder's stats.json. */
static json_t *stage_summary(rp *r, const char *name, const char *stats_rel, json_t **owned) {
    *owned = NULL;
    json_t *st = rp_find_stage(r, name);
    json_t *sum = json_object_get(st, "summary");
    if (json_is_object(sum)) return sum;
    *owned = rp_load_json(r, stats_rel, false);
    if (!*owned) {
        const char *state = st ? rp_stage_state(r, st) : "absent";
        rp_missing(r, "%s (stage %s)", stats_rel, state);
    }
    return *owned;
}

static void reasons_table(rp *r, const char *title, const json_t *obj, double total) {
    rp_pf(r, "<div><h3>");
    rp_esc(r, title);
    rp_pf(r, "</h3>");
    if (!json_is_object(obj)) {
        rp_pf(r, "<p class=\"note\">not recorded</p></div>\n");
        return;
    }
    /* sort by count, descending; zero counts are left out */
    const char *keys[64];
    double vals[64];
    size_t n = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        if (n == 64) break;
        double x = json_is_number(v) ? json_number_value(v) : NAN;
        if (x == 0) continue;
        size_t j = n++;
        while (j > 0 && (vals[j - 1] < x || (!isfinite(vals[j - 1]) && isfinite(x)))) {
            keys[j] = keys[j - 1];
            vals[j] = vals[j - 1];
            j--;
        }
        keys[j] = key;
        vals[j] = x;
    }
    if (!n) {
        rp_pf(r, "<p class=\"note\">nothing rejected</p></div>\n");
        return;
    }
    rp_pf(r, "<table><tr><th>reason</th><th class=\"n\">count</th><th class=\"n\">share</th></tr>\n");
    double sum = 0;
    char buf[48];
    for (size_t i = 0; i < n; i++) {
        if (isfinite(vals[i])) sum += vals[i];
        else rp_missing(r, "%s: \"%s\" is not a number", title, keys[i]);
    }
    if (!isfinite(total) || total <= 0) total = sum;
    for (size_t i = 0; i < n; i++) {
        rp_pf(r, "<tr><td>");
        rp_esc(r, keys[i]);
        rp_count(buf, sizeof buf, vals[i]);
        rp_pf(r, "</td><td class=\"n\">%s</td><td class=\"n\">", buf);
        if (isfinite(vals[i]) && total > 0) rp_pf(r, "%.0f%%", 100.0 * vals[i] / total);
        rp_pf(r, "</td></tr>\n");
    }
    rp_count(buf, sizeof buf, sum);
    rp_pf(r, "<tr class=\"total\"><td>total</td><td class=\"n\">%s</td><td></td></tr></table></div>\n", buf);
}

static bool is_curate(const char *name, int *iter) {
    if (!name || strncmp(name, "curate-", 7) != 0) return false;
    char *end;
    long t = strtol(name + 7, &end, 10);
    if (*end || t < 1 || t > 100000) return false;
    *iter = (int)t;
    return true;
}

void rp_funnel(rp *r) {
    const char *kind = json_string_value(json_object_get(r->manifest, "kind"));
    if (!(kind && strcmp(kind, "humpback") == 0) && !rp_find_stage(r, "corpus") && !rp_find_stage(r, "augment"))
        return;
    rp_section(r, "funnel", "Data funnel");
    json_t *co_owned, *aug_owned;
    json_t *co = stage_summary(r, "corpus", "corpus/stats.json", &co_owned);
    json_t *aug = stage_summary(r, "augment", "augment/stats.json", &aug_owned);
    sa_svg_bar bars[40];
    char texts[40][96];
    size_t n = 0;
    static const char *const ramp[] = {"#7f9be0", "#5b86d9", "#3f78cf", "#2f8fb0", "#2f9e6e"};
    struct {
        const char *label;
        double v;
    } steps[4] = {{"documents", rp_num(co, "documents")},
                  {"segments", rp_num(co, "segments")},
                  {"kept by the filters", rp_num(co, "kept")},
                  {"candidates", rp_num(aug, "accepted")}};
    double prev = NAN;
    const char *prev_name = NULL;
    for (int i = 0; i < 4; i++) {
        if ((i < 3 && co) || (i == 3 && aug)) {
            if (!isfinite(steps[i].v)) rp_missing(r, "%s count (not a number)", steps[i].label);
        }
        if (!isfinite(steps[i].v)) continue;
        char c[40];
        rp_count(c, sizeof c, steps[i].v);
        if (i >= 2 && isfinite(prev) && prev > 0)
            snprintf(texts[n], sizeof texts[n], "%s (%.0f%% of %s)", c, 100.0 * steps[i].v / prev, prev_name);
        else snprintf(texts[n], sizeof texts[n], "%s", c);
        bars[n] = (sa_svg_bar){steps[i].label, steps[i].v, NAN, NAN, ramp[i], texts[n]};
        n++;
        prev = steps[i].v;
        prev_name = i == 0 ? "documents" : i == 1 ? "segments" : i == 2 ? "kept" : "candidates";
    }
    double cand = steps[3].v;
    json_t *stages = json_object_get(r->manifest, "stages"), *st;
    size_t i;
    char lab[40][40];
    json_array_foreach(stages, i, st) {
        int t;
        if (n >= 40 || !is_curate(json_string_value(json_object_get(st, "name")), &t)) continue;
        json_t *sum = json_object_get(st, "summary");
        double sel = rp_num(sum, "selected");
        if (!isfinite(sel)) continue;
        char c[40];
        rp_count(c, sizeof c, sel);
        snprintf(lab[n], sizeof lab[n], "selected, iteration %d", t);
        if (isfinite(cand) && cand > 0)
            snprintf(texts[n], sizeof texts[n], "%s (%.0f%% of candidates)", c, 100.0 * sel / cand);
        else snprintf(texts[n], sizeof texts[n], "%s", c);
        bars[n] = (sa_svg_bar){lab[n], sel, NAN, NAN, ramp[4], texts[n]};
        n++;
    }
    sa_svg_opts o = sa_svg_defaults();
    o.funnel = true;
    o.width = 980;
    sa_strbuf svg = {0};
    sa_err e = {0};
    sa_status s = sa_svg_hbars(&svg, &o, bars, n, &e);
    rp_svg_done(r, s, &svg, &e);
    rp_pf(r, "<div class=\"grid2\">\n");
    if (co) reasons_table(r, "corpus: segments rejected", json_object_get(co, "rejected"), rp_num(co, "segments"));
    if (aug)
        reasons_table(r, "backtranslation: rejected", json_object_get(aug, "rejected_by_reason"),
                      rp_num(aug, "segments"));
    rp_pf(r, "</div>\n");
    json_decref(co_owned);
    json_decref(aug_owned);
    rp_section_end(r);
}

/* ---- scores ------------------------------------------------------------------ */

typedef struct sample {
    double score;
    char *instruction, *output;
} sample;

typedef struct scores {
    int iter;
    char dir[256];
    uint64_t lines, scored, unscored, bad, truncated;
    double min, max, threshold;
    bool all_int, read;
    const char *mode, *rater;   /* borrowed from the manifest */
    json_t *sum;                /* borrowed */
    double lo, width;
    size_t nb;
    uint64_t counts[MAX_BINS], sel[MAX_BINS]; /* sel: of counts, score >= threshold */
    sample top[20], bottom[20];
    size_t n_top, n_bottom;
} scores;

static char *cut_dup(const char *s, size_t max_chars) {
    if (!s) s = "";
    size_t n = strlen(s), i = 0, chars = 0;
    while (i < n && chars < max_chars) {
        i++;
        while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
        chars++;
    }
    bool cut = i < n;
    char *d = malloc(i + 4);
    if (!d) return NULL;
    memcpy(d, s, i);
    if (cut) memcpy(d + i, "\xE2\x80\xA6", 3), i += 3;
    d[i] = 0;
    return d;
}

/* Insert into a list kept sorted (best first when desc); earlier records win ties. */
static bool keep_sample(sample *list, size_t *n, size_t k, bool desc, double score, const json_t *rec, const rp *r) {
    if (!k) return true;
    size_t pos = *n;
    while (pos > 0 && (desc ? score > list[pos - 1].score : score < list[pos - 1].score)) pos--;
    if (pos >= k) return true;
    sample s = {score, cut_dup(json_string_value(json_object_get(rec, "instruction")), r->o.instruction_chars),
                cut_dup(json_string_value(json_object_get(rec, "output")), r->o.output_chars)};
    if (!s.instruction || !s.output) {
        free(s.instruction);
        free(s.output);
        return false;
    }
    if (*n == k) {
        free(list[k - 1].instruction);
        free(list[k - 1].output);
        (*n)--;
    }
    memmove(list + pos + 1, list + pos, (*n - pos) * sizeof *list);
    list[pos] = s;
    (*n)++;
    return true;
}

static size_t bin_of(const scores *sc, double v) {
    double f = floor((v - sc->lo) / sc->width + 1e-9);
    if (f < 0) f = 0;
    if (f >= (double)sc->nb) f = (double)sc->nb - 1;
    return (size_t)f;
}

/* One pass over scored.jsonl; pass 1 finds the range and samples, pass 2 bins. */
static bool scan_scores(rp *r, scores *sc, const char *path, int pass, bool samples) {
    sa_jsonl_reader rd;
    sa_jsonl_opts jo = {.policy = SA_JSONL_SKIP};
    sa_err e = {0};
    if (sa_jsonl_reader_open(&rd, path, &jo, &e)) {
        if (pass == 1) rp_missing(r, "%s/scored.jsonl (%s)", sc->dir, e.msg);
        return false;
    }
    json_t *obj;
    sa_status s;
    while ((s = sa_jsonl_next(&rd, &obj, NULL, &e)) == SA_OK) {
        double v = rp_num(obj, "score");
        if (pass == 1) {
            sc->lines++;
            if (!isfinite(v)) {
                sc->unscored++;
            } else {
                sc->scored++;
                sc->min = fmin(sc->min, v);
                sc->max = fmax(sc->max, v);
                if (v != floor(v)) sc->all_int = false;
                if (samples && (!keep_sample(sc->top, &sc->n_top, r->o.samples, true, v, obj, r) ||
                                !keep_sample(sc->bottom, &sc->n_bottom, r->o.samples, false, v, obj, r)))
                    r->bad = true;
            }
        } else if (isfinite(v)) {
            size_t b = bin_of(sc, v);
            sc->counts[b]++;
            if (v >= sc->threshold) sc->sel[b]++;
        }
        json_decref(obj);
    }
    if (s != SA_ERR_EOF) rp_missing(r, "%s/scored.jsonl: read error (%s)", sc->dir, e.msg);
    if (pass == 1) {
        sc->bad = sa_jsonl_stats_bad(&rd.stats) - rd.stats.truncated;
        sc->truncated = rd.stats.truncated;
    }
    sa_jsonl_reader_close(&rd);
    return true;
}

static void choose_bins(scores *sc) {
    if (!sc->scored) {
        sc->lo = 1, sc->width = 1, sc->nb = 5;
    } else if (sc->all_int && sc->min >= 1 && sc->max <= 5) {
        sc->lo = 0.5, sc->width = 1, sc->nb = 5;
    } else if (sc->min >= 1 && sc->max <= 5) {
        sc->lo = 1, sc->width = 0.25, sc->nb = 16;
    } else {
        double ticks[16], step;
        sa_svg_nice_ticks(sc->min, sc->max, 12, ticks, &step);
        sc->width = step / 2;
        sc->lo = floor(sc->min / sc->width) * sc->width;
        double nb = floor((sc->max - sc->lo) / sc->width) + 1;
        sc->nb = nb > MAX_BINS ? MAX_BINS : nb < 1 ? 1 : (size_t)nb;
        if (sc->lo + sc->width * (double)sc->nb < sc->max) sc->width = (sc->max - sc->lo) / (double)(sc->nb - 1);
    }
}

static void free_samples(scores *sc) {
    for (size_t i = 0; i < sc->n_top; i++) free(sc->top[i].instruction), free(sc->top[i].output);
    for (size_t i = 0; i < sc->n_bottom; i++) free(sc->bottom[i].instruction), free(sc->bottom[i].output);
    sc->n_top = sc->n_bottom = 0;
}

static void sample_cards(rp *r, const sample *list, size_t n, bool best) {
    rp_pf(r, "<div class=\"pairs\">\n");
    for (size_t i = 0; i < n; i++) {
        rp_pf(r, "<div class=\"pair\"><span class=\"score %s\">%.3g</span><div class=\"lab\">instruction</div><p>",
              best ? "hi" : "lo", list[i].score);
        rp_esc(r, list[i].instruction);
        rp_pf(r, "</p><div class=\"lab\">output</div><p>");
        rp_esc(r, list[i].output);
        rp_pf(r, "</p></div>\n");
    }
    rp_pf(r, "</div>\n");
}

void rp_curation(rp *r) {
    json_t *stages = json_object_get(r->manifest, "stages"), *st;
    size_t i, n = 0;
    json_array_foreach(stages, i, st) {
        int t;
        if (is_curate(json_string_value(json_object_get(st, "name")), &t)) n++;
    }
    if (!n) return;
    rp_section(r, "scores", "Self-curation scores");
    scores *sc = calloc(n, sizeof *sc);
    if (!sc) {
        r->bad = true;
        return;
    }
    double cfg_min = rp_num(json_object_get(json_object_get(r->manifest, "config"), "curate"), "min_score");
    size_t k = 0, last = n;
    json_array_foreach(stages, i, st) {
        int t;
        if (!is_curate(json_string_value(json_object_get(st, "name")), &t)) continue;
        scores *c = &sc[k++];
        c->iter = t;
        c->min = INFINITY, c->max = -INFINITY, c->all_int = true;
        c->sum = json_object_get(st, "summary");
        c->mode = json_string_value(json_object_get(c->sum, "mode"));
        c->rater = json_string_value(json_object_get(c->sum, "rater"));
        c->threshold = rp_num(c->sum, "min_score");
        if (!isfinite(c->threshold)) c->threshold = cfg_min;
        const char *dir = rp_stage_dir(st);
        snprintf(c->dir, sizeof c->dir, "%s", dir ? dir : "?");
        if (!dir) {
            rp_missing(r, "curate-%d: unsafe stage directory", t);
            continue;
        }
        sa_strbuf rel = {0};
        if (sa_path_join(&rel, dir, "scored.jsonl")) r->bad = true;
        const char *p = rp_path(r, sa_strbuf_cstr(&rel));
        sa_strbuf_free(&rel);
        if (!sa_path_exists(p)) {
            rp_missing(r, "%s/scored.jsonl (stage %s)", c->dir, rp_stage_state(r, st));
            continue;
        }
        c->read = true;
        last = k - 1;
    }
    /* pass 1: ranges (+ samples for the last iteration read), pass 2: bins */
    uint64_t ymax = 0;
    for (k = 0; k < n; k++) {
        scores *c = &sc[k];
        if (!c->read) continue;
        sa_strbuf p = {0};
        if (sa_path_join(&p, r->dir, c->dir) || sa_strbuf_puts(&p, "/scored.jsonl")) r->bad = true;
        if (scan_scores(r, c, sa_strbuf_cstr(&p), 1, k == last)) {
            choose_bins(c);
            scan_scores(r, c, sa_strbuf_cstr(&p), 2, false);
        }
        sa_strbuf_free(&p);
        if (c->truncated) rp_missing(r, "%s/scored.jsonl: torn last line skipped", c->dir);
        if (c->bad) rp_missing(r, "%s/scored.jsonl: %llu bad lines skipped", c->dir, (unsigned long long)c->bad);
        for (size_t b = 0; b < c->nb; b++) ymax = c->counts[b] > ymax ? c->counts[b] : ymax;
    }
    rp_pf(r, "<div class=\"grid2\">\n");
    for (k = 0; k < n; k++) {
        scores *c = &sc[k];
        if (!c->read) continue;
        char title[160], ref[64], xl[96];
        snprintf(title, sizeof title, "Iteration %d%s%.60s", c->iter, c->rater ? ", rated by " : "",
                 c->rater ? c->rater : "");
        snprintf(ref, sizeof ref, "threshold %.3g", c->threshold);
        snprintf(xl, sizeof xl, "score%s%.40s%s", c->mode ? " (" : "", c->mode ? c->mode : "", c->mode ? ")" : "");
        sa_svg_opts o = sa_svg_defaults();
        o.width = 500, o.height = 270;
        o.title = title, o.x_label = xl, o.y_label = "candidates";
        o.ref = c->threshold, o.ref_label = ref;
        o.color = "#2f9e6e";
        o.y_max = ymax > 0 ? NAN : 1;
        if (ymax > 0) {
            double tk[16], step;
            size_t nt = sa_svg_nice_ticks(0, (double)ymax, 5, tk, &step);
            o.y_max = tk[nt - 1];
        }
        sa_strbuf svg = {0};
        sa_err e = {0};
        rp_pf(r, "<div>");
        sa_status s = sa_svg_histogram(&svg, &o, c->lo, c->width, c->counts, isfinite(c->threshold) ? c->sel : NULL,
                                       c->nb, &e);
        rp_svg_done(r, s, &svg, &e);
        rp_pf(r, "</div>\n");
    }
    rp_pf(r, "</div>\n<div class=\"legend\"><span><i class=\"dot\" style=\"background:#2f9e6e\"></i>selected "
             "(score &#8805; threshold)</span><span><i class=\"dot\" style=\"background:#b4bcc8\"></i>below the "
             "threshold</span><span>unscored candidates (unparsable, errors) are not in the histograms</span></div>\n");
    /* per-iteration counts */
    rp_pf(r, "<table><tr><th>iteration</th><th>rater</th><th>mode</th><th class=\"n\">threshold</th>"
             "<th class=\"n\">candidates</th><th class=\"n\">selected</th><th class=\"n\">below</th>"
             "<th class=\"n\">unparsable</th><th class=\"n\">errors</th></tr>\n");
    for (k = 0; k < n; k++) {
        scores *c = &sc[k];
        static const char *const keys[] = {"candidates", "selected", "below_threshold", "unparsable", "errors"};
        rp_pf(r, "<tr><td>%d</td><td>", c->iter);
        rp_esc(r, c->rater ? c->rater : "\xE2\x80\x93");
        rp_pf(r, "</td><td>");
        rp_esc(r, c->mode ? c->mode : "\xE2\x80\x93");
        rp_pf(r, "</td><td class=\"n\">%.3g</td>", c->threshold);
        for (size_t j = 0; j < 5; j++) {
            char buf[48];
            double v = rp_num(c->sum, keys[j]);
            if (!isfinite(v) && keys[j][0] == 'c' && c->read) v = (double)c->lines;
            rp_count(buf, sizeof buf, v);
            rp_pf(r, "<td class=\"n\">%s</td>", buf);
        }
        rp_pf(r, "</tr>\n");
    }
    rp_pf(r, "</table>\n");
    if (last < n && (sc[last].n_top || sc[last].n_bottom)) {
        scores *c = &sc[last];
        rp_pf(r, "<h3>Best-scored pairs, iteration %d</h3>\n", c->iter);
        sample_cards(r, c->top, c->n_top, true);
        if (c->scored > c->n_top) {
            rp_pf(r, "<h3>Worst-scored pairs, iteration %d</h3>\n", c->iter);
            sample_cards(r, c->bottom, c->n_bottom, false);
        }
    }
    for (k = 0; k < n; k++) free_samples(&sc[k]);
    free(sc);
    rp_section_end(r);
}

/* ---- training ------------------------------------------------------------------ */

typedef struct curve {
    double *x, *y;
    size_t n, cap;
} curve;

static bool curve_add(curve *c, double x, double y) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        double *nx = realloc(c->x, cap * sizeof *nx);
        if (!nx) return false;
        c->x = nx;
        double *ny = realloc(c->y, cap * sizeof *ny);
        if (!ny) return false;
        c->y = ny;
        c->cap = cap;
    }
    c->x[c->n] = x;
    c->y[c->n] = y;
    c->n++;
    return true;
}

/* Keep at most cap points, evenly spaced, first and last included. */
static void curve_thin(curve *c, size_t cap) {
    if (c->n <= cap) return;
    for (size_t i = 0; i < cap; i++) {
        size_t j = (size_t)llround((double)i * (double)(c->n - 1) / (double)(cap - 1));
        c->x[i] = c->x[j];
        c->y[i] = c->y[j];
    }
    c->n = cap;
}

typedef struct model_curves {
    char name[128];
    curve loss, eval;
} model_curves;

static void read_metrics(rp *r, model_curves *m, const char *rel) {
    sa_jsonl_reader rd;
    sa_jsonl_opts jo = {.policy = SA_JSONL_SKIP};
    sa_err e = {0};
    if (sa_jsonl_reader_open(&rd, rp_path(r, rel), &jo, &e)) {
        rp_missing(r, "%s (%s)", rel, e.msg);
        return;
    }
    json_t *obj;
    sa_status s;
    uint64_t nonnum = 0;
    while ((s = sa_jsonl_next(&rd, &obj, NULL, &e)) == SA_OK) {
        double step = rp_num(obj, "step"), loss = rp_num(obj, "loss"), ev = rp_num(obj, "eval_loss");
        json_t *lj = json_object_get(obj, "loss"), *ej = json_object_get(obj, "eval_loss");
        if ((lj && !json_is_number(lj)) || (ej && !json_is_number(ej) && !json_is_null(ej)) || !isfinite(step))
            nonnum++;
        if (isfinite(step)) {
            if (isfinite(loss) && !curve_add(&m->loss, step, loss)) r->bad = true;
            if (isfinite(ev) && !curve_add(&m->eval, step, ev)) r->bad = true;
        }
        json_decref(obj);
    }
    if (s != SA_ERR_EOF) rp_missing(r, "%s: read error (%s)", rel, e.msg);
    if (rd.stats.truncated) rp_missing(r, "%s: torn last line skipped", rel);
    uint64_t bad = sa_jsonl_stats_bad(&rd.stats) - rd.stats.truncated;
    if (bad) rp_missing(r, "%s: %llu bad lines skipped", rel, (unsigned long long)bad);
    if (nonnum) rp_missing(r, "%s: %llu lines with a non-numeric step or loss", rel, (unsigned long long)nonnum);
    sa_jsonl_reader_close(&rd);
    curve_thin(&m->loss, r->o.max_curve_points);
    curve_thin(&m->eval, r->o.max_curve_points);
}

static void models_table(rp *r) {
    json_t *stages = json_object_get(r->manifest, "stages"), *st;
    size_t i, shown = 0;
    json_array_foreach(stages, i, st) {
        json_t *sum = json_object_get(st, "summary");
        if (!json_object_get(sum, "final_loss")) continue;
        static const char *const num_keys[] = {"steps", "first_loss", "final_loss"};
        for (size_t k = 0; k < 3; k++)
            if (!json_is_number(json_object_get(sum, num_keys[k])))
                rp_missing(r, "%s summary: \"%s\" is not a number", json_string_value(json_object_get(st, "name")),
                           num_keys[k]);
        if (!shown++)
            rp_pf(r, "<table><tr><th>model</th><th class=\"n\">steps</th><th class=\"n\">train examples</th>"
                     "<th class=\"n\">eval examples</th><th class=\"n\">too long</th><th class=\"n\">first loss</th>"
                     "<th class=\"n\">final loss</th><th class=\"n\">eval loss</th></tr>\n");
        char a[48], b[48], c[48], d[48];
        rp_count(a, sizeof a, rp_num(sum, "steps"));
        rp_count(b, sizeof b, rp_num(sum, "train_examples"));
        rp_count(c, sizeof c, rp_num(sum, "eval_examples"));
        rp_count(d, sizeof d, rp_num(sum, "too_long"));
        rp_pf(r, "<tr><td>");
        rp_esc(r, json_string_value(json_object_get(st, "name")));
        rp_pf(r, "</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td>", a,
              b, c, d);
        double l0 = rp_num(sum, "first_loss"), l1 = rp_num(sum, "final_loss"), ev = rp_num(sum, "eval_loss_end");
        rp_pf(r, isfinite(l0) ? "<td class=\"n\">%.4f</td>" : "<td class=\"n\">\xE2\x80\x93</td>", l0);
        rp_pf(r, isfinite(l1) ? "<td class=\"n\">%.4f</td>" : "<td class=\"n\">\xE2\x80\x93</td>", l1);
        rp_pf(r, isfinite(ev) ? "<td class=\"n\">%.4f</td></tr>\n" : "<td class=\"n\">\xE2\x80\x93</td></tr>\n", ev);
    }
    if (shown) rp_pf(r, "</table>\n");
}

void rp_training(rp *r) {
    json_t *stages = json_object_get(r->manifest, "stages"), *st;
    size_t i, n = 0, cap = json_array_size(stages);
    model_curves *mc = calloc(cap ? cap : 1, sizeof *mc);
    if (!mc) {
        r->bad = true;
        return;
    }
    bool any_summary = false;
    rp_section(r, "training", "Training");
    json_array_foreach(stages, i, st) {
        const char *dir = rp_stage_dir(st);
        json_t *sum = json_object_get(st, "summary");
        bool trains = json_object_get(sum, "final_loss") != NULL;
        any_summary |= trains;
        if (!dir) continue;
        sa_strbuf rel = {0};
        if (sa_path_join(&rel, dir, "metrics.jsonl")) r->bad = true;
        if (sa_path_exists(rp_path(r, sa_strbuf_cstr(&rel)))) {
            snprintf(mc[n].name, sizeof mc[n].name, "%s", json_string_value(json_object_get(st, "name")));
            read_metrics(r, &mc[n], sa_strbuf_cstr(&rel));
            n++;
        } else if (trains) {
            rp_missing(r, "%s", sa_strbuf_cstr(&rel));
        }
        sa_strbuf_free(&rel);
    }
    if (!n && !any_summary) {
        free(mc);
        if (r->notes.len) rp_section_end(r);
        else {
            rp_pf(r, "<p class=\"note\">No training folder (metrics.jsonl) in this run yet.</p>\n");
            rp_section_end(r);
        }
        return;
    }
    if (n) {
        sa_svg_series *se = calloc(2 * n, sizeof *se);
        char (*names)[140] = calloc(2 * n, sizeof *names);
        size_t ns = 0;
        bool any_eval = false;
        if (!se || !names) r->bad = true;
        for (size_t k = 0; se && names && k < n; k++) {
            const char *col = sa_svg_palette(k);
            snprintf(names[ns], sizeof names[ns], "%s", mc[k].name);
            se[ns++] = (sa_svg_series){names[ns - 1], mc[k].loss.x, mc[k].loss.y, mc[k].loss.n, col, false};
            if (mc[k].eval.n) {
                any_eval = true;
                snprintf(names[ns], sizeof names[ns], "%s eval", mc[k].name);
                se[ns++] = (sa_svg_series){names[ns - 1], mc[k].eval.x, mc[k].eval.y, mc[k].eval.n, col, true};
            }
        }
        if (se && names) {
            sa_svg_opts o = sa_svg_defaults();
            o.width = 980, o.height = 340;
            o.x_min = 0;
            o.title = any_eval ? "Loss (solid: training, dashed: held-out)" : "Training loss";
            o.x_label = "optimizer step";
            o.y_label = "loss (nats per token)";
            sa_strbuf svg = {0};
            sa_err e = {0};
            sa_status s = sa_svg_lines(&svg, &o, se, ns, &e);
            rp_svg_done(r, s, &svg, &e);
        }
        free(se);
        free(names);
    }
    models_table(r);
    for (size_t k = 0; k < n; k++) {
        free(mc[k].loss.x), free(mc[k].loss.y);
        free(mc[k].eval.x), free(mc[k].eval.y);
    }
    free(mc);
    rp_section_end(r);
}
