/* svg.c — inline SVG charts: axes with nice ticks, horizontal and vertical
 * bars (error bars), histograms and line charts. See include/sa/svg.h. */
#include "sa/svg.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sa/utf8.h"

static const char *const k_palette[SA_SVG_PALETTE_N] = {"#3b6fd4", "#e0803a", "#2f9e6e", "#8e5cc4",
                                                        "#d44a4a", "#1c9db3", "#a3784a", "#d063a8"};
#define GREY "#b4bcc8"
#define CHAR_W 6.6 /* average width of a 12 px character, for layout */

const char *sa_svg_palette(size_t i) { return k_palette[i % SA_SVG_PALETTE_N]; }

sa_svg_opts sa_svg_defaults(void) {
    sa_svg_opts o;
    memset(&o, 0, sizeof o);
    o.width = 720;
    o.height = 280;
    o.x_min = o.x_max = o.y_min = o.y_max = o.ref = NAN;
    return o;
}

/* ---- text ---------------------------------------------------------------- */

sa_status sa_svg_escape(sa_strbuf *out, const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = NULL;
        size_t run = i;
        /* copy a run of plain bytes at once */
        while (run < n) {
            unsigned char d = (unsigned char)s[run];
            if (d == '&' || d == '<' || d == '>' || d == '"' || d == '\'' || (d < 0x20 && d != '\t' && d != '\n') ||
                d == 0x7f || d >= 0x80)
                break;
            run++;
        }
        if (run > i) {
            if (sa_strbuf_append(out, s + i, run - i)) return SA_ERR_NOMEM;
            i = run;
            continue;
        }
        c = (unsigned char)s[i];
        if (c >= 0x80) {
            uint32_t cp;
            size_t len = sa_utf8_decode(s + i, n - i, &cp);
            if (len == 0) {
                if (sa_strbuf_puts(out, "\xEF\xBF\xBD")) return SA_ERR_NOMEM;
                i++;
            } else {
                if (sa_strbuf_append(out, s + i, len)) return SA_ERR_NOMEM;
                i += len;
            }
            continue;
        }
        switch (c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: rep = ""; break; /* control character: dropped */
        }
        if (sa_strbuf_puts(out, rep)) return SA_ERR_NOMEM;
        i++;
    }
    return SA_OK;
}

/* ---- ticks ----------------------------------------------------------------- */

static double nice_num(double x, bool round_it) {
    double e = floor(log10(x)), p = pow(10.0, e), f = x / p, nf;
    if (round_it) nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    else nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nf * p;
}

size_t sa_svg_nice_ticks(double lo, double hi, int max_ticks, double ticks[16], double *step) {
    if (!isfinite(lo) || !isfinite(hi)) lo = 0, hi = 1;
    if (lo > hi) {
        double t = lo;
        lo = hi;
        hi = t;
    }
    if (hi - lo <= 1e-12 * fmax(1.0, fabs(lo))) {
        if (lo == 0) hi = 1;
        else {
            double d = fabs(lo) * 0.1;
            lo -= d;
            hi += d;
        }
    }
    if (max_ticks < 2) max_ticks = 2;
    if (max_ticks > 12) max_ticks = 12;
    double st = nice_num(nice_num(hi - lo, false) / (max_ticks - 1), true);
    double t0 = floor(lo / st + 1e-9) * st, t1 = ceil(hi / st - 1e-9) * st;
    size_t n = (size_t)llround((t1 - t0) / st) + 1;
    while (n > 16) {
        st = nice_num(st * 2, true);
        t0 = floor(lo / st + 1e-9) * st;
        t1 = ceil(hi / st - 1e-9) * st;
        n = (size_t)llround((t1 - t0) / st) + 1;
    }
    if (n < 2) n = 2;
    for (size_t i = 0; i < n; i++) {
        double v = t0 + (double)i * st;
        ticks[i] = fabs(v) < st * 1e-9 ? 0.0 : v;
    }
    if (step) *step = st;
    return n;
}

static int decimals_for(double step) {
    step = fabs(step);
    for (int d = 0; d < 9; d++) {
        double s = step * pow(10.0, d);
        if (fabs(s - round(s)) < 1e-6 * fmax(1.0, s)) return d;
    }
    return 9;
}

void sa_svg_format_tick(double v, double step, char *buf, size_t n) {
    if (v == 0) v = 0; /* no "-0" */
    const char *suffix = "";
    double scale = 1;
    if (fabs(step) >= 1e6 && fabs(v) >= 1e6) scale = 1e6, suffix = "M";
    else if (fabs(step) >= 1e3 && fabs(v) >= 1e3) scale = 1e3, suffix = "k";
    snprintf(buf, n, "%.*f%s", decimals_for(step / scale), v / scale, suffix);
}

static void format_tick_opts(const sa_svg_opts *o, double v, double step, char *buf, size_t n) {
    if (o->percent) {
        sa_svg_format_tick(v * 100, step * 100, buf, n > 1 ? n - 1 : n);
        size_t l = strlen(buf);
        if (l + 1 < n) buf[l] = '%', buf[l + 1] = 0;
    } else {
        sa_svg_format_tick(v, step, buf, n);
    }
}

/* ---- writer ------------------------------------------------------------------ */

typedef struct W {
    sa_strbuf *o;
    bool bad;
} W;

static void pf(W *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pf(W *w, const char *fmt, ...) {
    if (w->bad) return;
    va_list ap;
    va_start(ap, fmt);
    if (sa_strbuf_appendv(w->o, fmt, ap)) w->bad = true;
    va_end(ap);
}

static void esc(W *w, const char *s) {
    if (!w->bad && s && sa_svg_escape(w->o, s, strlen(s))) w->bad = true;
}

/* Text escaped and cut to max_chars code points with an ellipsis. */
static void esc_cut(W *w, const char *s, size_t max_chars) {
    if (!s) return;
    size_t n = strlen(s), i = 0, chars = 0;
    while (i < n && chars < max_chars) {
        i += sa_utf8_seq_len((unsigned char)s[i]);
        chars++;
    }
    if (i >= n) {
        esc(w, s);
        return;
    }
    if (!w->bad && sa_svg_escape(w->o, s, i)) w->bad = true;
    pf(w, "\xE2\x80\xA6");
}

static double text_w(const char *s) {
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++)
        if ((*p & 0xC0) != 0x80) chars++;
    return (double)chars * CHAR_W;
}

static void open_svg(W *w, const sa_svg_opts *o, int width, int height) {
    pf(w, "<svg class=\"sa-chart\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\"", width, height,
       width, height);
    if (o->title) {
        pf(w, " aria-label=\"");
        esc(w, o->title);
        pf(w, "\"");
    }
    pf(w, ">\n");
    if (o->title) {
        pf(w, "<text class=\"sa-title\" x=\"4\" y=\"18\">");
        esc(w, o->title);
        pf(w, "</text>\n");
    }
}

static sa_status close_svg(W *w, sa_err *err) {
    pf(w, "</svg>\n");
    return w->bad ? sa_err_set(err, SA_ERR_NOMEM, "svg: out of memory") : SA_OK;
}

typedef struct axis {
    double t[16];
    size_t n;
    double step, lo, hi; /* domain = first and last tick */
    double p0, p1;       /* pixel range */
} axis;

static void axis_init(axis *a, double lo, double hi, double fix_lo, double fix_hi, int max_ticks, double p0,
                      double p1) {
    if (isfinite(fix_lo)) lo = fix_lo;
    if (isfinite(fix_hi)) hi = fix_hi;
    a->n = sa_svg_nice_ticks(lo, hi, max_ticks, a->t, &a->step);
    a->lo = isfinite(fix_lo) ? fix_lo : a->t[0];
    a->hi = isfinite(fix_hi) ? fix_hi : a->t[a->n - 1];
    if (!(a->hi > a->lo)) a->hi = a->lo + 1;
    a->p0 = p0;
    a->p1 = p1;
}

static double axis_px(const axis *a, double v) { return a->p0 + (v - a->lo) / (a->hi - a->lo) * (a->p1 - a->p0); }

static bool axis_has(const axis *a, double v) {
    double eps = (a->hi - a->lo) * 1e-9;
    return v >= a->lo - eps && v <= a->hi + eps;
}

/* Grid, ticks and axis titles for a plot box [l, r] x [t, b]. xa NULL: no x axis
 * ticks (categorical x). */
static void draw_axes(W *w, const sa_svg_opts *o, const axis *xa, const axis *ya, double l, double r, double t,
                      double b) {
    char buf[48];
    for (size_t i = 0; ya && i < ya->n; i++) {
        if (!axis_has(ya, ya->t[i])) continue;
        double y = axis_px(ya, ya->t[i]);
        pf(w, "<line class=\"sa-grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", l, y, r, y);
        format_tick_opts(o, ya->t[i], ya->step, buf, sizeof buf);
        pf(w, "<text class=\"sa-tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", l - 6, y + 4, buf);
    }
    for (size_t i = 0; xa && i < xa->n; i++) {
        if (!axis_has(xa, xa->t[i])) continue;
        double x = axis_px(xa, xa->t[i]);
        pf(w, "<line class=\"sa-tickmark\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x, b, x, b + 4);
        sa_svg_format_tick(xa->t[i], xa->step, buf, sizeof buf);
        pf(w, "<text class=\"sa-tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x, b + 17, buf);
    }
    pf(w, "<line class=\"sa-axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", l, b, r, b);
    if (ya) pf(w, "<line class=\"sa-axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", l, t, l, b);
    if (o->x_label) {
        pf(w, "<text class=\"sa-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", (l + r) / 2, b + 36);
        esc(w, o->x_label);
        pf(w, "</text>\n");
    }
    if (o->y_label) {
        double x = 14, y = (t + b) / 2;
        pf(w, "<text class=\"sa-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 %.1f %.1f)\">",
           x, y, x, y);
        esc(w, o->y_label);
        pf(w, "</text>\n");
    }
}

static void no_data(W *w, double cx, double cy) {
    pf(w, "<text class=\"sa-empty\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">no data</text>\n", cx, cy);
}

/* ---- horizontal bars ------------------------------------------------------- */

sa_status sa_svg_hbars(sa_strbuf *out, const sa_svg_opts *o, const sa_svg_bar *bars, size_t n, sa_err *err) {
    W w = {out, false};
    const double row = 28, top = o->title ? 32 : 8;
    double label_w = 40;
    for (size_t i = 0; i < n; i++) label_w = fmax(label_w, fmin(text_w(bars[i].label), 220));
    int width = o->width > 0 ? o->width : 720;
    double l = label_w + 16, r = width - (o->funnel ? 16 : 120);
    double b = top + row * (double)(n ? n : 1);
    int height = (int)(b + (o->funnel ? 8 : o->x_label ? 44 : 26));
    double vmax = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(bars[i].value)) vmax = fmax(vmax, bars[i].value);
    axis xa;
    axis_init(&xa, 0, vmax > 0 ? vmax : 1, isfinite(o->x_min) ? o->x_min : 0, o->x_max, 6, l, r);
    open_svg(&w, o, width, height);
    if (!o->funnel) draw_axes(&w, o, &xa, NULL, l, r, top, b);
    if (n == 0) no_data(&w, (l + r) / 2, top + row / 2 + 4);
    char buf[64];
    for (size_t i = 0; i < n; i++) {
        const sa_svg_bar *bar = &bars[i];
        double y = top + row * (double)i, cy = y + row / 2;
        pf(&w, "<text class=\"sa-cat\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", l - 8, cy + 4);
        esc_cut(&w, bar->label, 32);
        pf(&w, "</text>");
        double v = isfinite(bar->value) && bar->value > 0 ? bar->value : 0;
        double bw = o->funnel ? (vmax > 0 ? v / vmax * (r - l) : 0) : axis_px(&xa, fmin(v, xa.hi)) - l;
        if (v > 0 && bw < 2) bw = 2;
        double x0 = o->funnel ? l + ((r - l) - bw) / 2 : l;
        const char *col = bar->color ? bar->color : sa_svg_palette(i);
        pf(&w, "<rect class=\"sa-bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" rx=\"3\" fill=\"", x0, y + 5,
           bw, row - 10);
        esc(&w, col);
        pf(&w, "\"/>");
        const char *text = bar->text;
        if (!text) {
            snprintf(buf, sizeof buf, "%.4g", bar->value);
            text = buf;
        }
        double tw = text_w(text);
        if (o->funnel && bw > tw + 12)
            pf(&w, "<text class=\"sa-on\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", x0 + bw / 2, cy + 4);
        else if (o->funnel)
            pf(&w, "<text class=\"sa-val\" x=\"%.1f\" y=\"%.1f\">", x0 + bw + 6, cy + 4);
        else
            pf(&w, "<text class=\"sa-val\" x=\"%.1f\" y=\"%.1f\">", x0 + bw + 6, cy + 4);
        esc(&w, text);
        pf(&w, "</text>\n");
    }
    return close_svg(&w, err);
}

/* ---- vertical bars ---------------------------------------------------------- */

sa_status sa_svg_vbars(sa_strbuf *out, const sa_svg_opts *o, const sa_svg_bar *bars, size_t n, sa_err *err) {
    W w = {out, false};
    int width = o->width > 0 ? o->width : 720, height = o->height > 0 ? o->height : 280;
    double t = o->title ? 36 : 12, l = 64, r = width - 16, b = height - (o->x_label ? 50 : 34);
    double lo = 0, hi = 0;
    for (size_t i = 0; i < n; i++) {
        const sa_svg_bar *bar = &bars[i];
        if (isfinite(bar->value)) lo = fmin(lo, bar->value), hi = fmax(hi, bar->value);
        if (isfinite(bar->hi)) hi = fmax(hi, bar->hi);
        if (isfinite(bar->lo)) lo = fmin(lo, bar->lo);
    }
    if (isfinite(o->ref)) hi = fmax(hi, o->ref), lo = fmin(lo, o->ref);
    axis ya;
    axis_init(&ya, lo, hi > lo ? hi : lo + 1, o->y_min, o->y_max, 6, b, t);
    open_svg(&w, o, width, height);
    draw_axes(&w, o, NULL, &ya, l, r, t, b);
    if (n == 0) no_data(&w, (l + r) / 2, (t + b) / 2);
    double slot = n ? (r - l) / (double)n : 1, bw = fmin(slot * 0.6, 90);
    double y0 = axis_px(&ya, fmax(ya.lo, fmin(0.0, ya.hi)));
    size_t max_chars = (size_t)fmax(4, slot / CHAR_W);
    for (size_t i = 0; i < n; i++) {
        const sa_svg_bar *bar = &bars[i];
        double cx = l + slot * ((double)i + 0.5);
        const char *col = bar->color ? bar->color : sa_svg_palette(i);
        if (isfinite(bar->value)) {
            double y = axis_px(&ya, fmax(ya.lo, fmin(bar->value, ya.hi)));
            pf(&w, "<rect class=\"sa-bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" rx=\"2\" fill=\"",
               cx - bw / 2, fmin(y, y0), bw, fabs(y0 - y));
            esc(&w, col);
            pf(&w, "\"/>");
        }
        if (isfinite(bar->lo) && isfinite(bar->hi)) {
            double ylo = axis_px(&ya, fmax(ya.lo, fmin(bar->lo, ya.hi)));
            double yhi = axis_px(&ya, fmax(ya.lo, fmin(bar->hi, ya.hi)));
            pf(&w,
               "<path class=\"sa-err\" d=\"M%.1f %.1fV%.1fM%.1f %.1fH%.1fM%.1f %.1fH%.1f\"/>", cx, ylo, yhi,
               cx - 8, ylo, cx + 8, cx - 8, yhi, cx + 8);
        }
        double ytext = isfinite(bar->hi) ? axis_px(&ya, fmin(bar->hi, ya.hi)) : axis_px(&ya, fmin(bar->value, ya.hi));
        if (bar->text || isfinite(bar->value)) {
            char buf[64];
            const char *text = bar->text;
            if (!text) {
                format_tick_opts(o, bar->value, 0.001, buf, sizeof buf);
                text = buf;
            }
            pf(&w, "<text class=\"sa-val\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", cx + (isfinite(bar->hi) ? 10 : 0),
               fmax(t + 10, ytext - 6));
            esc(&w, text);
            pf(&w, "</text>");
        }
        pf(&w, "<text class=\"sa-cat\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", cx, b + 17);
        esc_cut(&w, bar->label, max_chars);
        pf(&w, "</text>\n");
    }
    if (isfinite(o->ref) && axis_has(&ya, o->ref)) {
        double y = axis_px(&ya, o->ref);
        pf(&w, "<line class=\"sa-ref\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", l, y, r, y);
        if (o->ref_label) {
            pf(&w, "<text class=\"sa-reflabel\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", r - 2, y - 5);
            esc(&w, o->ref_label);
            pf(&w, "</text>\n");
        }
    }
    return close_svg(&w, err);
}

/* ---- histogram ---------------------------------------------------------------- */

static void ref_vline(W *w, const sa_svg_opts *o, const axis *xa, double t, double b) {
    if (!isfinite(o->ref) || !axis_has(xa, o->ref)) return;
    double x = axis_px(xa, o->ref);
    pf(w, "<line class=\"sa-ref\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x, t - 4, x, b);
    if (o->ref_label) {
        bool right = x < (xa->p0 + xa->p1) / 2;
        pf(w, "<text class=\"sa-reflabel\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">", right ? x + 5 : x - 5, t + 6,
           right ? "start" : "end");
        esc(w, o->ref_label);
        pf(w, "</text>\n");
    }
}

sa_status sa_svg_histogram(sa_strbuf *out, const sa_svg_opts *o, double lo, double width, const uint64_t *counts,
                           const uint64_t *selected, size_t n_bins, sa_err *err) {
    W w = {out, false};
    int cw = o->width > 0 ? o->width : 720, ch = o->height > 0 ? o->height : 280;
    double t = o->title ? 40 : 14, l = 56, r = cw - 14, b = ch - (o->x_label ? 48 : 30);
    if (!(width > 0) || !isfinite(lo)) n_bins = 0;
    uint64_t cmax = 0;
    for (size_t i = 0; i < n_bins; i++) cmax = counts[i] > cmax ? counts[i] : cmax;
    double hi = n_bins ? lo + width * (double)n_bins : 1;
    axis xa, ya;
    axis_init(&xa, n_bins ? lo : 0, hi, isfinite(o->x_min) ? o->x_min : (n_bins ? lo : NAN),
              isfinite(o->x_max) ? o->x_max : (n_bins ? hi : NAN), 9, l, r);
    axis_init(&ya, 0, cmax ? (double)cmax : 1, 0, o->y_max, 5, b, t);
    if (ya.step < 1) { /* counts are whole: no 0.5 ticks */
        axis_init(&ya, 0, fmax(ya.hi, 2), 0, NAN, 3, b, t);
    }
    open_svg(&w, o, cw, ch);
    draw_axes(&w, o, &xa, &ya, l, r, t, b);
    if (n_bins == 0 || cmax == 0) no_data(&w, (l + r) / 2, (t + b) / 2);
    const char *hi_col = o->color ? o->color : sa_svg_palette(0), *lo_col = o->color_low ? o->color_low : GREY;
    bool labels = n_bins <= 24;
    for (size_t i = 0; i < n_bins; i++) {
        if (!counts[i]) continue;
        double a = lo + width * (double)i, z = a + width;
        double x0 = axis_px(&xa, a), x1 = axis_px(&xa, z), y = axis_px(&ya, fmin((double)counts[i], ya.hi));
        uint64_t sel = selected ? (selected[i] < counts[i] ? selected[i] : counts[i])
                                : (!isfinite(o->ref) || a + width / 2 >= o->ref ? counts[i] : 0);
        double ysel = axis_px(&ya, fmin((double)sel, ya.hi)), bx = x0 + 1, bw = fmax(1, x1 - x0 - 2);
        if (sel < counts[i]) { /* the part below the threshold, on top */
            pf(&w, "<rect class=\"sa-bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"", bx, y, bw,
               ysel - y);
            esc(&w, lo_col);
            pf(&w, "\"/>");
        }
        if (sel > 0) {
            pf(&w, "<rect class=\"sa-bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"", bx, ysel, bw,
               b - ysel);
            esc(&w, hi_col);
            pf(&w, "\"/>");
        }
        if (labels)
            pf(&w, "<text class=\"sa-val\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%llu</text>", (x0 + x1) / 2,
               y - 4, (unsigned long long)counts[i]);
        pf(&w, "\n");
    }
    ref_vline(&w, o, &xa, t, b);
    return close_svg(&w, err);
}

/* ---- line chart ----------------------------------------------------------------- */

sa_status sa_svg_lines(sa_strbuf *out, const sa_svg_opts *o, const sa_svg_series *series, size_t n_series,
                       sa_err *err) {
    W w = {out, false};
    int cw = o->width > 0 ? o->width : 720, ch = o->height > 0 ? o->height : 280;
    double l = 60, r = cw - 16;
    /* legend rows */
    double lx = l, legend_rows = 0;
    for (size_t i = 0; i < n_series; i++) {
        if (!series[i].name) continue;
        double iw = 30 + fmin(text_w(series[i].name), 200) + 16;
        if (legend_rows == 0) legend_rows = 1;
        if (lx + iw > r && lx > l) legend_rows++, lx = l;
        lx += iw;
    }
    double t = (o->title ? 30 : 8) + legend_rows * 18 + 10, b = ch - (o->x_label ? 48 : 30);
    double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
    size_t points = 0;
    for (size_t s = 0; s < n_series; s++)
        for (size_t i = 0; i < series[s].n; i++) {
            double x = series[s].x[i], y = series[s].y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            x_lo = fmin(x_lo, x), x_hi = fmax(x_hi, x), y_lo = fmin(y_lo, y), y_hi = fmax(y_hi, y);
            points++;
        }
    if (!points) x_lo = 0, x_hi = 1, y_lo = 0, y_hi = 1;
    axis xa, ya;
    axis_init(&xa, x_lo, x_hi, o->x_min, o->x_max, 8, l, r);
    axis_init(&ya, y_lo, y_hi, o->y_min, o->y_max, 6, b, t);
    open_svg(&w, o, cw, ch);
    draw_axes(&w, o, &xa, &ya, l, r, t, b);
    if (!points) no_data(&w, (l + r) / 2, (t + b) / 2);
    /* legend */
    lx = l;
    double ly = (o->title ? 30 : 8) + 10;
    bool first = true;
    for (size_t s = 0; s < n_series; s++) {
        if (!series[s].name) continue;
        double iw = 30 + fmin(text_w(series[s].name), 200) + 16;
        if (!first && lx + iw > r && lx > l) ly += 18, lx = l;
        first = false;
        const char *col = series[s].color ? series[s].color : sa_svg_palette(s);
        pf(&w, "<line class=\"sa-line%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"",
           series[s].dashed ? " sa-dashed" : "", lx, ly - 4, lx + 24, ly - 4);
        esc(&w, col);
        pf(&w, "\"/><text class=\"sa-legend\" x=\"%.1f\" y=\"%.1f\">", lx + 30, ly);
        esc_cut(&w, series[s].name, 30);
        pf(&w, "</text>\n");
        lx += iw;
    }
    /* lines */
    for (size_t s = 0; s < n_series; s++) {
        const sa_svg_series *se = &series[s];
        const char *col = se->color ? se->color : sa_svg_palette(s);
        bool open = false;
        size_t finite = 0;
        for (size_t i = 0; i < se->n; i++) {
            double x = se->x[i], y = se->y[i];
            if (!isfinite(x) || !isfinite(y)) {
                if (open) pf(&w, "\"/>\n");
                open = false;
                continue;
            }
            finite++;
            if (!open) {
                pf(&w, "<polyline class=\"sa-line%s\" stroke=\"", se->dashed ? " sa-dashed" : "");
                esc(&w, col);
                pf(&w, "\" points=\"");
                open = true;
            }
            pf(&w, "%.1f,%.1f ", axis_px(&xa, x), axis_px(&ya, y));
        }
        if (open) pf(&w, "\"/>\n");
        if (finite > 0 && finite <= 40) {
            for (size_t i = 0; i < se->n; i++) {
                if (!isfinite(se->x[i]) || !isfinite(se->y[i])) continue;
                pf(&w, "<circle class=\"sa-dot\" cx=\"%.1f\" cy=\"%.1f\" r=\"%s\" fill=\"", axis_px(&xa, se->x[i]),
                   axis_px(&ya, se->y[i]), se->dashed ? "2.5" : "3");
                esc(&w, col);
                pf(&w, "\"/>");
            }
            pf(&w, "\n");
        }
    }
    ref_vline(&w, o, &xa, t, b);
    return close_svg(&w, err);
}
