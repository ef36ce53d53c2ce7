/* report_eval.c — the evaluation section of the run report: every
 * RUN/eval/NAME.json written by `selfalign eval` (kinds pairwise, nll, task;
 * see eval.h) as tables with their intervals, plus bar charts with error
 * bars when several models or comparisons are there. See report.h. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

#define MAX_EVAL_FILES 1000
#define DASH "\xE2\x80\x93"

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A number cell; null is a legitimate "unknown" (e.g. chance, or a rate with
 * no outcome), anything else that is not a number is noted. */
static double cell_num(rp *r, const json_t *o, const char *key, int dec, bool sign, const char *file) {
    json_t *v = json_object_get(o, key);
    if (json_is_number(v)) {
        rp_pf(r, sign ? "<td class=\"n\">%+.*f</td>" : "<td class=\"n\">%.*f</td>", dec, json_number_value(v));
        return json_number_value(v);
    }
    rp_pf(r, "<td class=\"n\">" DASH "</td>");
    if (!json_is_null(v)) rp_missing(r, "eval/%s: \"%s\" %s", file, key, v ? "is not a number" : "is absent");
    return NAN;
}

/* "[lo, hi]" from a two-number array; the bounds into lo/hi (NAN when bad). */
static void cell_ci(rp *r, const json_t *o, const char *key, int dec, bool sign, const char *file, double *lo,
                    double *hi) {
    json_t *a = json_object_get(o, key);
    *lo = *hi = NAN;
    if (json_is_array(a) && json_array_size(a) == 2 && json_is_number(json_array_get(a, 0)) &&
        json_is_number(json_array_get(a, 1))) {
        *lo = json_number_value(json_array_get(a, 0));
        *hi = json_number_value(json_array_get(a, 1));
        rp_pf(r, sign ? "<td class=\"n\">[%+.*f, %+.*f]</td>" : "<td class=\"n\">[%.*f, %.*f]</td>", dec, *lo, dec, *hi);
        return;
    }
    rp_pf(r, "<td class=\"n\">" DASH "</td>");
    bool nulls = json_is_array(a) && json_is_null(json_array_get(a, 0)) && json_is_null(json_array_get(a, 1));
    if (a && !json_is_null(a) && !nulls) rp_missing(r, "eval/%s: \"%s\" is not a [lo, hi] pair", file, key);
}

static void cell_str(rp *r, const json_t *o, const char *key, const char *fallback) {
    rp_pf(r, "<td>");
    const char *s = json_string_value(json_object_get(o, key));
    if (!s) s = fallback;
    if (s) rp_esc_cut(r, s, 80);
    else rp_pf(r, DASH);
    rp_pf(r, "</td>");
}

typedef struct eval_bar {
    char label[96], set[48];
    double v, lo, hi, ref;
} eval_bar;

static void eval_chart(rp *r, const char *title, const char *ylab, const eval_bar *eb, size_t n, double ref,
                       const char *ref_label) {
    if (n < 2) return;
    sa_svg_bar *bars = calloc(n, sizeof *bars);
    if (!bars) {
        r->bad = true;
        return;
    }
    for (size_t i = 0; i < n; i++) bars[i] = (sa_svg_bar){eb[i].label, eb[i].v, eb[i].lo, eb[i].hi, NULL, NULL};
    sa_svg_opts o = sa_svg_defaults();
    o.title = title, o.y_label = ylab, o.percent = true, o.y_min = 0, o.y_max = 1;
    o.ref = ref, o.ref_label = ref_label;
    sa_strbuf svg = {0};
    sa_err e = {0};
    sa_status s = sa_svg_vbars(&svg, &o, bars, n, &e);
    rp_svg_done(r, s, &svg, &e);
    free(bars);
}

/* The sorted NAME.json files of RUN/eval (n = 0 when none); NULL when the
 * folder is absent. */
static char **list_eval(rp *r, size_t *n) {
    *n = 0;
    DIR *d = opendir(rp_path(r, "eval"));
    if (!d) return NULL;
    char **names = calloc(1, sizeof *names);
    size_t cap = 1;
    struct dirent *de;
    while (names && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l < 6 || strcmp(de->d_name + l - 5, ".json") != 0) continue;
        if (*n == MAX_EVAL_FILES) {
            rp_missing(r, "eval/: more than %d result files (the rest are not shown)", MAX_EVAL_FILES);
            break;
        }
        if (*n == cap) {
            char **nn = realloc(names, 2 * cap * sizeof *nn);
            if (!nn) break;
            names = nn;
            cap *= 2;
        }
        if (!(names[*n] = strdup(de->d_name))) break;
        (*n)++;
    }
    closedir(d);
    if (!names) r->bad = true;
    else if (*n) qsort(names, *n, sizeof *names, cmp_str);
    return names;
}

static const char *const k_kinds[] = {"pairwise", "task", "nll"};

static void table_head(rp *r, int kind) {
    if (kind == 0)
        rp_pf(r, "<h3>Pairwise comparisons (judged in both orders)</h3><table><tr><th>set</th><th>A</th><th>B</th>"
                 "<th>judge</th><th class=\"n\">n</th><th class=\"n\">wins</th><th class=\"n\">ties</th>"
                 "<th class=\"n\">losses</th><th class=\"n\">unparsable</th><th class=\"n\">A win rate</th>"
                 "<th class=\"n\">95%% interval</th><th class=\"n\">order bias</th><th class=\"n\">interval</th>"
                 "</tr>\n");
    else if (kind == 1)
        rp_pf(r, "<h3>Task accuracy</h3><table><tr><th>set</th><th>model</th><th class=\"n\">n</th>"
                 "<th class=\"n\">correct</th><th class=\"n\">accuracy</th><th class=\"n\">95%% interval</th>"
                 "<th class=\"n\">chance</th></tr>\n");
    else
        rp_pf(r, "<h3>Reference likelihood</h3><table><tr><th>set</th><th>model</th><th class=\"n\">n</th>"
                 "<th class=\"n\">tokens</th><th class=\"n\">mean NLL</th><th class=\"n\">95%% interval</th></tr>\n");
}

static void row(rp *r, int kind, const json_t *j, const char *file, const char *stem, eval_bar *bar) {
    double lo, hi;
    rp_pf(r, "<tr>");
    cell_str(r, j, "set", stem);
    if (kind == 0) {
        cell_str(r, j, "a", NULL);
        cell_str(r, j, "b", NULL);
        cell_str(r, j, "judge", NULL);
        static const char *const ck[] = {"n", "wins", "ties", "losses", "unparsable"};
        for (size_t c = 0; c < 5; c++) cell_num(r, j, ck[c], 0, false, file);
        bar->v = cell_num(r, j, "win_rate", 3, false, file);
        cell_ci(r, j, "win_rate_ci", 3, false, file, &bar->lo, &bar->hi);
        const char *a = json_string_value(json_object_get(j, "a")), *b = json_string_value(json_object_get(j, "b"));
        snprintf(bar->label, sizeof bar->label, "%.40s vs %.40s", a ? a : "?", b ? b : "?");
        cell_num(r, j, "order_bias", 3, true, file);
        cell_ci(r, j, "order_bias_ci", 3, true, file, &lo, &hi);
    } else if (kind == 1) {
        cell_str(r, j, "model", NULL);
        cell_num(r, j, "n", 0, false, file);
        cell_num(r, j, "correct", 0, false, file);
        bar->v = cell_num(r, j, "accuracy", 3, false, file);
        cell_ci(r, j, "ci", 3, false, file, &bar->lo, &bar->hi);
        bar->ref = cell_num(r, j, "chance", 3, false, file);
        const char *model = json_string_value(json_object_get(j, "model"));
        snprintf(bar->label, sizeof bar->label, "%.40s", model ? model : stem);
    } else {
        cell_str(r, j, "model", NULL);
        cell_num(r, j, "n", 0, false, file);
        cell_num(r, j, "tokens", 0, false, file);
        cell_num(r, j, "mean_nll", 4, false, file);
        cell_ci(r, j, "ci", 4, false, file, &lo, &hi);
    }
    rp_pf(r, "</tr>\n");
}

void rp_eval(rp *r) {
    rp_section(r, "eval", "Evaluation");
    size_t n = 0;
    char **names = list_eval(r, &n);
    if (!names) {
        rp_pf(r, "<p class=\"note\">No evaluation was run (no eval/ folder in the run directory).</p>\n");
        rp_section_end(r);
        return;
    }
    json_t **docs = calloc(n ? n : 1, sizeof *docs);
    eval_bar *bars = calloc(n ? n : 1, sizeof *bars);
    if (!docs || !bars) r->bad = true;
    size_t good = 0;
    for (size_t i = 0; docs && i < n; i++) {
        char rel[512];
        snprintf(rel, sizeof rel, "eval/%s", names[i]);
        docs[i] = rp_load_json(r, rel, true);
        const char *kind = json_string_value(json_object_get(docs[i], "kind"));
        bool known = kind && (!strcmp(kind, "pairwise") || !strcmp(kind, "nll") || !strcmp(kind, "task"));
        if (docs[i] && !known) {
            rp_missing(r, "%s: unknown kind \"%.40s\"", rel, kind ? kind : "(none)");
            json_decref(docs[i]);
            docs[i] = NULL;
        }
        good += docs[i] != NULL;
    }
    if (!good) rp_pf(r, "<p class=\"note\">No evaluation was run (eval/ holds no readable result).</p>\n");
    for (int kind = 0; docs && bars && kind < 3; kind++) {
        size_t shown = 0, nb = 0;
        bool sets_differ = false;
        const char *first_set = NULL;
        for (size_t i = 0; i < n; i++) {
            json_t *j = docs[i];
            if (!j || strcmp(json_string_value(json_object_get(j, "kind")), k_kinds[kind]) != 0) continue;
            char stem[256];
            snprintf(stem, sizeof stem, "%.*s", (int)(strlen(names[i]) - 5), names[i]);
            if (!shown++) table_head(r, kind);
            eval_bar *b = &bars[nb++];
            b->v = b->lo = b->hi = b->ref = NAN;
            row(r, kind, j, names[i], stem, b);
            const char *set = json_string_value(json_object_get(j, "set"));
            if (!set) set = stem;
            snprintf(b->set, sizeof b->set, "%.47s", set);
            if (!first_set) first_set = set;
            else if (strcmp(first_set, set) != 0) sets_differ = true;
        }
        for (size_t i = 0; kind == 1 && sets_differ && i < nb; i++) { /* several tasks: name the set */
            char l[96];
            snprintf(l, sizeof l, "%.30s \xC2\xB7 %.50s", bars[i].set, bars[i].label);
            memcpy(bars[i].label, l, sizeof l);
        }
        if (shown) rp_pf(r, "</table>\n");
        if (kind == 0) eval_chart(r, "Win rate of A over B (whiskers: 95% interval)", "win rate", bars, nb, 0.5, "tie");
        if (kind == 1) {
            double ref = NAN; /* the chance line when every known chance agrees */
            bool same = true;
            for (size_t i = 0; i < nb; i++) {
                if (!isfinite(bars[i].ref)) continue;
                if (isfinite(ref) && bars[i].ref != ref) same = false;
                ref = bars[i].ref;
            }
            if (!same) ref = NAN;
            eval_chart(r, "Task accuracy (whiskers: 95% interval)", "accuracy", bars, nb, ref, "chance");
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (docs) json_decref(docs[i]);
        free(names[i]);
    }
    free(names);
    free(docs);
    free(bars);
    rp_section_end(r);
}
