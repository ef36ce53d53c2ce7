/* eval_stats.c — the pure parts of evaluation (eval.h): bootstrap
 * intervals, verdict parsing, combining the two judging orders, the
 * pairwise summary, answer normalisation and matching. No model, no I/O. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/eval.h"
#include "sa/rng.h"

/* ---- bootstrap ----------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Quantile p of sorted[n] with linear interpolation between order statistics. */
static double quantile(const double *sorted, size_t n, double p) {
    double h = p * (double)(n - 1);
    size_t i = (size_t)floor(h);
    if (i >= n - 1) return sorted[n - 1];
    return sorted[i] + (h - (double)i) * (sorted[i + 1] - sorted[i]);
}

static sa_status bootstrap(const double *v, const double *w, size_t n, int32_t resamples, uint64_t seed, double alpha,
                           double *lo, double *hi, sa_err *err) {
    if (!v || n == 0 || resamples < 1 || !(alpha > 0 && alpha < 1) || !lo || !hi)
        return sa_err_set(err, SA_ERR_INVALID_ARG,
                          "bootstrap: need n >= 1 values, resamples >= 1 and 0 < alpha < 1 (n %zu, resamples %d, "
                          "alpha %g)", n, resamples, alpha);
    if (w) {
        double tw = 0;
        for (size_t i = 0; i < n; i++) {
            if (!(w[i] >= 0) || !isfinite(w[i]))
                return sa_err_set(err, SA_ERR_INVALID_ARG, "bootstrap: weight %zu is %g (need a finite value >= 0)", i,
                                  w[i]);
            tw += w[i];
        }
        if (!(tw > 0)) return sa_err_set(err, SA_ERR_INVALID_ARG, "bootstrap: the weights sum to zero");
    }
    double *means = sa_malloc_array((size_t)resamples, sizeof *means);
    if (!means) return sa_err_set(err, SA_ERR_NOMEM, "bootstrap: out of memory");
    sa_rng rng;
    sa_rng_init(&rng, seed);
    size_t k = 0;
    for (int32_t r = 0; r < resamples; r++) {
        double sv = 0, sw = 0;
        for (size_t i = 0; i < n; i++) {
            size_t j = (size_t)sa_rng_below(&rng, n);
            double wj = w ? w[j] : 1.0;
            sv += wj * v[j];
            sw += wj;
        }
        if (sw > 0) means[k++] = sv / sw;
    }
    sa_status s = SA_OK;
    if (k == 0) s = sa_err_set(err, SA_ERR_RANGE, "bootstrap: every resample had zero total weight");
    else {
        qsort(means, k, sizeof *means, cmp_double);
        *lo = quantile(means, k, alpha / 2);
        *hi = quantile(means, k, 1 - alpha / 2);
    }
    free(means);
    return s;
}

sa_status sa_bootstrap_ci(const double *values, size_t n, int32_t resamples, uint64_t seed, double alpha, double *lo,
                          double *hi, sa_err *err) {
    return bootstrap(values, NULL, n, resamples, seed, alpha, lo, hi, err);
}

sa_status sa_bootstrap_ci_weighted(const double *values, const double *weights, size_t n, int32_t resamples,
                                   uint64_t seed, double alpha, double *lo, double *hi, sa_err *err) {
    if (!weights) return sa_err_set(err, SA_ERR_INVALID_ARG, "bootstrap: no weights");
    return bootstrap(values, weights, n, resamples, seed, alpha, lo, hi, err);
}

/* ---- verdicts -------------------------------------------------------------------------- */

const char *sa_verdict_label(sa_verdict v) {
    switch (v) {
    case SA_VERDICT_FIRST: return "A";
    case SA_VERDICT_SECOND: return "B";
    case SA_VERDICT_TIE: return "tie";
    default: return NULL;
    }
}

static bool is_alnum_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

static unsigned char lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c; }

/* Case-insensitive: does t[i..len) start with the lower-case word w? */
static bool starts_ci(const char *t, size_t len, size_t i, const char *w) {
    size_t n = strlen(w);
    if (len - i < n) return false;
    for (size_t k = 0; k < n; k++)
        if (lower((unsigned char)t[i + k]) != (unsigned char)w[k]) return false;
    return true;
}

static bool is_decor(unsigned char c) {
    return c == ' ' || c == '\t' || c == '*' || c == '_' || c == '"' || c == '\'' || c == '`' || c == '[' ||
           c == '(' || c == '{' || c == '<';
}

/* The verdict value starting at t[i] (just after the word "verdict"). */
static sa_verdict parse_value(const char *t, size_t len, size_t i) {
    while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '*' || t[i] == '_')) i++;
    if (i < len && (t[i] == ':' || t[i] == '=' || t[i] == '-')) i++;
    while (i < len && is_decor((unsigned char)t[i])) i++;
    if (starts_ci(t, len, i, "answer ")) i += 7;
    else if (starts_ci(t, len, i, "response ")) i += 9;
    while (i < len && is_decor((unsigned char)t[i])) i++;
    sa_verdict v;
    if (starts_ci(t, len, i, "tie")) {
        v = SA_VERDICT_TIE;
        i += 3;
    } else if (i < len && lower((unsigned char)t[i]) == 'a') {
        v = SA_VERDICT_FIRST;
        i++;
    } else if (i < len && lower((unsigned char)t[i]) == 'b') {
        v = SA_VERDICT_SECOND;
        i++;
    } else
        return SA_VERDICT_NONE;
    /* closing decoration ("**", "]]", quotes), then the end of the line or
     * a punctuation mark */
    while (i < len && (t[i] == '*' || t[i] == '_' || t[i] == '"' || t[i] == '\'' || t[i] == '`' || t[i] == ']' ||
                       t[i] == '}' || t[i] == '>'))
        i++;
    while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\r')) i++;
    if (i >= len || t[i] == '\n') return v;
    if (strchr(".,;:!()", t[i]) && t[i] != '\0') return v;
    return SA_VERDICT_NONE;
}

bool sa_verdict_parse(const char *text, size_t len, sa_verdict *out) {
    if (!text) return false;
    sa_verdict found = SA_VERDICT_NONE;
    static const char kw[] = "verdict";
    const size_t kn = sizeof kw - 1;
    for (size_t i = 0; i + kn <= len; i++) {
        if (lower((unsigned char)text[i]) != 'v' || !starts_ci(text, len, i, kw)) continue;
        if (i > 0 && is_alnum_byte((unsigned char)text[i - 1])) continue;
        if (i + kn < len && is_alnum_byte((unsigned char)text[i + kn])) continue;
        sa_verdict v = parse_value(text, len, i + kn);
        if (v != SA_VERDICT_NONE) found = v;
    }
    if (found == SA_VERDICT_NONE) return false;
    if (out) *out = found;
    return true;
}

/* ---- combining and summarising ------------------------------------------------------------ */

const char *sa_pair_outcome_name(sa_pair_outcome o) {
    switch (o) {
    case SA_PAIR_WIN: return "win";
    case SA_PAIR_TIE: return "tie";
    case SA_PAIR_LOSS: return "loss";
    default: return "unparsable";
    }
}

/* Model A's score in one order: +1 preferred, -1 not, 0 tie. */
static int a_score(sa_verdict v, bool a_first) {
    if (v == SA_VERDICT_TIE) return 0;
    int first = v == SA_VERDICT_FIRST ? 1 : -1;
    return a_first ? first : -first;
}

static bool valid_verdict(sa_verdict v) {
    return v == SA_VERDICT_FIRST || v == SA_VERDICT_SECOND || v == SA_VERDICT_TIE;
}

sa_pair_outcome sa_pairwise_combine(sa_verdict verdict_ab, sa_verdict verdict_ba) {
    if (!valid_verdict(verdict_ab) || !valid_verdict(verdict_ba)) return SA_PAIR_UNPARSABLE;
    int s = a_score(verdict_ab, true) + a_score(verdict_ba, false);
    return s > 0 ? SA_PAIR_WIN : s < 0 ? SA_PAIR_LOSS : SA_PAIR_TIE;
}

static double position_pref(sa_verdict v) {
    return v == SA_VERDICT_FIRST ? 1 : v == SA_VERDICT_SECOND ? -1 : 0;
}

sa_status sa_pairwise_summarize(const sa_verdict_pair *v, size_t n, int32_t resamples, uint64_t seed, double alpha,
                                sa_pairwise_summary *out, sa_err *err) {
    memset(out, 0, sizeof *out);
    out->n = n;
    out->win_rate = out->win_rate_lo = out->win_rate_hi = NAN;
    out->order_bias = out->order_bias_lo = out->order_bias_hi = NAN;
    out->single_win_rate = out->single_lo = out->single_hi = NAN;
    if (resamples < 1 || !(alpha > 0 && alpha < 1))
        return sa_err_set(err, SA_ERR_INVALID_ARG, "pairwise summary: resamples %d, alpha %g", resamples, alpha);
    if (n == 0) return SA_OK;
    double *wr = sa_malloc_array(n, sizeof *wr), *ob = sa_malloc_array(n, sizeof *ob),
           *sw = sa_malloc_array(n, sizeof *sw);
    if (!wr || !ob || !sw) {
        free(wr);
        free(ob);
        free(sw);
        return sa_err_set(err, SA_ERR_NOMEM, "pairwise summary: out of memory");
    }
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (valid_verdict(v[i].ab)) sw[out->n_single++] = v[i].ab == SA_VERDICT_FIRST ? 1 : v[i].ab == SA_VERDICT_TIE ? 0.5 : 0;
        sa_pair_outcome o = sa_pairwise_combine(v[i].ab, v[i].ba);
        switch (o) {
        case SA_PAIR_WIN: out->wins++; wr[j] = 1; break;
        case SA_PAIR_TIE: out->ties++; wr[j] = 0.5; break;
        case SA_PAIR_LOSS: out->losses++; wr[j] = 0; break;
        default: out->unparsable++; continue;
        }
        ob[j] = (position_pref(v[i].ab) + position_pref(v[i].ba)) / 2;
        j++;
    }
    sa_status s = SA_OK;
    if (j > 0) {
        double a = 0, b = 0;
        for (size_t i = 0; i < j; i++) {
            a += wr[i];
            b += ob[i];
        }
        out->win_rate = a / (double)j;
        out->order_bias = b / (double)j;
        /* the same seed: both intervals come from the same resampled item sets */
        s = sa_bootstrap_ci(wr, j, resamples, seed, alpha, &out->win_rate_lo, &out->win_rate_hi, err);
        if (!s) s = sa_bootstrap_ci(ob, j, resamples, seed, alpha, &out->order_bias_lo, &out->order_bias_hi, err);
    }
    if (!s && out->n_single > 0) {
        double a = 0;
        for (size_t i = 0; i < out->n_single; i++) a += sw[i];
        out->single_win_rate = a / (double)out->n_single;
        s = sa_bootstrap_ci(sw, out->n_single, resamples, seed, alpha, &out->single_lo, &out->single_hi, err);
    }
    free(wr);
    free(ob);
    free(sw);
    return s;
}

/* ---- answers -------------------------------------------------------------------------------- */

static bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static bool is_punct(unsigned char c) { return c < 0x80 && c > ' ' && c != 0x7f && !is_alnum_byte(c); }

sa_status sa_eval_normalize(const char *text, sa_strbuf *out) {
    if (!text) text = "";
    size_t len = strlen(text), b = 0, e = len;
    /* strip white space and punctuation at both ends */
    while (b < e && (is_space((unsigned char)text[b]) || is_punct((unsigned char)text[b]))) b++;
    while (e > b && (is_space((unsigned char)text[e - 1]) || is_punct((unsigned char)text[e - 1]))) e--;
    sa_status s = sa_strbuf_reserve(out, e - b);
    if (s) return s;
    bool sp = false;
    for (size_t i = b; i < e; i++) {
        unsigned char c = (unsigned char)text[i];
        if (is_space(c)) {
            sp = true;
            continue;
        }
        if (sp && (s = sa_strbuf_putc(out, ' '))) return s;
        sp = false;
        if ((s = sa_strbuf_putc(out, (char)lower(c)))) return s;
    }
    return SA_OK;
}

/* Whole-word occurrence of needle[nl] in hay[hl]. */
static bool word_find(const char *hay, size_t hl, const char *needle, size_t nl) {
    if (nl == 0 || nl > hl) return false;
    for (size_t i = 0; i + nl <= hl; i++) {
        if (memcmp(hay + i, needle, nl) != 0) continue;
        bool left = i == 0 || !is_alnum_byte((unsigned char)hay[i - 1]);
        bool right = i + nl == hl || !is_alnum_byte((unsigned char)hay[i + nl]);
        if (left && right) return true;
    }
    return false;
}

bool sa_eval_answer_match(const char *output, const char *const *answers, size_t n) {
    sa_strbuf o = {0}, a = {0};
    bool hit = false;
    if (sa_eval_normalize(output, &o) == SA_OK)
        for (size_t k = 0; k < n && !hit; k++) {
            sa_strbuf_reset(&a);
            if (!answers[k] || sa_eval_normalize(answers[k], &a) != SA_OK) continue;
            hit = word_find(sa_strbuf_cstr(&o), o.len, sa_strbuf_cstr(&a), a.len);
        }
    sa_strbuf_free(&o);
    sa_strbuf_free(&a);
    return hit;
}
