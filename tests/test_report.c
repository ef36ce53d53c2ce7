/* test_report.c — `selfalign report`: a synthetic Humpback run (stages in
 * every state, hostile record text, two training curves, an evaluation of
 * each kind) renders to one self-contained page whose markup balances, whose
 * hostile strings appear only escaped, with no script and no external
 * reference, and whose funnel counts are written; missing files, a torn
 * JSONL line and non-numeric values give "missing" notes, not failures; a
 * corrupt manifest is an error naming the file; a Dromedary-shaped run
 * renders its generic parts; nice ticks; a real run made by the binary; and
 * a headless Chromium check (screenshot + DOM) when /usr/bin/chromium exists. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sa/fileio.h"
#include "sa/report.h"
#include "sa/strbuf.h"
#include "sa/svg.h"
#include "sa_test.h"
#include "sa_test_run.h"

#define HOSTILE_SCRIPT "<script>alert(1)</script>"
#define HOSTILE_LINK "<a href=\"http://evil.example/x\">click</a> & <img src=x onerror=alert(2)>"

static bool put(sa_test *t, const char *dir, const char *rel, const char *text) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    char *slash = strrchr(p, '/');
    *slash = 0;
    sa_err e = {0};
    if (sa_mkdir_p(p, 0777, &e)) return false;
    *slash = '/';
    return sa_test_write_file(t, p, text, strlen(text));
}

static const char *k_manifest =
    "{\"kind\":\"humpback\",\"version\":\"0.1.0\",\"created\":\"2026-12-01T10:00:00Z\",\"updated\":\"2026-12-01T12:"
    "00:00Z\",\"config\":{\"curate\":{\"min_score\":4.5,\"mode\":\"logits\"},\"note\":\"<script>alert(1)</script>\","
    "\"iterations\":2},\"stages\":["
    "{\"name\":\"corpus\",\"dir\":\"corpus\",\"state\":\"done\",\"attempts\":1,\"seconds\":3.5,"
    "\"summary\":{\"documents\":1234,\"segments\":5678,\"kept\":4321,\"rejected\":{\"too_short\":900,"
    "\"boilerplate_header\":457,\"near_duplicate\":0},\"rejected_total\":1357}},"
    "{\"name\":\"backward\",\"dir\":\"backward\",\"state\":\"done\",\"attempts\":1,\"seconds\":120.25,"
    "\"summary\":{\"steps\":200,\"first_loss\":3.2,\"final_loss\":1.9,\"train_examples\":100}},"
    "{\"name\":\"augment\",\"dir\":\"augment\",\"state\":\"done\",\"attempts\":1,\"seconds\":60,"
    "\"summary\":{\"segments\":4321,\"accepted\":3210,\"rejected\":1111,\"rejected_by_reason\":{\"truncated\":1000,"
    "\"copied\":111,\"empty\":0}}},"
    "{\"name\":\"m0\",\"dir\":\"m0\",\"state\":\"done\",\"attempts\":2,\"seconds\":300.5,"
    "\"summary\":{\"steps\":1000,\"first_loss\":4.0,\"final_loss\":\"oops\",\"eval_loss_end\":2.1}},"
    "{\"name\":\"curate-1\",\"dir\":\"curate-1\",\"state\":\"done\",\"attempts\":1,\"seconds\":42,"
    "\"summary\":{\"candidates\":3210,\"scored\":3210,\"selected\":987,\"below_threshold\":2223,\"unparsable\":0,"
    "\"errors\":0,\"mode\":\"logits\",\"rater\":\"m0/model\",\"min_score\":4.5}},"
    "{\"name\":\"m1\",\"dir\":\"m1\",\"state\":\"failed\",\"attempts\":1,\"seconds\":5,"
    "\"error\":\"boom <b>bold</b> & more\"},"
    "{\"name\":\"curate-2\",\"dir\":\"curate-2\",\"state\":\"running\",\"attempts\":1,\"seconds\":0},"
    "{\"name\":\"m2\",\"dir\":\"m2\",\"state\":\"pending\",\"attempts\":0,\"seconds\":0}]}\n";

/* A synthetic run with every file the report reads. */
static bool make_synthetic(sa_test *t, const char *dir) {
    if (!put(t, dir, "manifest.json", k_manifest)) return false;
    if (!put(t, dir, "corpus/stats.json",
             "{\"documents\":1234,\"segments\":5678,\"kept\":4321,\"rejected\":{\"too_short\":900,"
             "\"boilerplate_header\":457},\"rejected_total\":1357}\n"))
        return false;
    /* scored.jsonl: 200 records with logits scores in [1, 5], hostile text */
    sa_strbuf s = {0};
    for (int i = 0; i < 200; i++) {
        double score = 1.0 + 4.0 * (double)((i * 37) % 200) / 199.0;
        const char *ins = i % 3 == 0 ? HOSTILE_SCRIPT " </svg> tell me & more" : "Explain rivers.";
        const char *out = i % 2 == 0 ? HOSTILE_LINK : "Rivers flow downhill. </svg></div></body>";
        if (i == 77) score = 5.0, ins = HOSTILE_SCRIPT " best";
        sa_strbuf_appendf(&s, "{\"id\":\"%016x\",\"instruction\":\"", i);
        for (const char *p = ins; *p; p++) {
            if (*p == '"' || *p == '\\') sa_strbuf_putc(&s, '\\');
            sa_strbuf_putc(&s, *p);
        }
        sa_strbuf_puts(&s, "\",\"output\":\"");
        for (const char *p = out; *p; p++) {
            if (*p == '"' || *p == '\\') sa_strbuf_putc(&s, '\\');
            sa_strbuf_putc(&s, *p);
        }
        sa_strbuf_appendf(&s, "\",\"score\":%.4f,\"source\":\"augmented\"}\n", score);
    }
    sa_strbuf_puts(&s, "{\"id\":\"unscored\",\"instruction\":\"x\",\"output\":\"y\",\"meta\":{\"error\":\"too long\"}}\n");
    bool ok = put(t, dir, "curate-1/scored.jsonl", s.buf);
    sa_strbuf_free(&s);
    /* metrics: backward short, m0 long (downsampled) with eval loss */
    sa_strbuf_reset(&s);
    for (int i = 1; i <= 20; i++) sa_strbuf_appendf(&s, "{\"step\":%d,\"loss\":%.4f}\n", i * 10, 3.2 - 0.06 * i);
    ok = ok && put(t, dir, "backward/metrics.jsonl", s.buf);
    sa_strbuf_reset(&s);
    for (int i = 1; i <= 1000; i++) {
        sa_strbuf_appendf(&s, "{\"step\":%d,\"loss\":%.5f", i, 2.0 + 2.0 * exp(-i / 150.0) + 0.05 * sin(i));
        if (i % 100 == 0) sa_strbuf_appendf(&s, ",\"eval_loss\":%.4f", 2.2 + 1.8 * exp(-i / 200.0));
        sa_strbuf_puts(&s, "}\n");
    }
    ok = ok && put(t, dir, "m0/metrics.jsonl", s.buf);
    sa_strbuf_free(&s);
    ok = ok &&
         put(t, dir, "eval/pairwise.json",
             "{\"kind\":\"pairwise\",\"set\":\"vicuna<80>\",\"a\":\"m2\",\"b\":\"m0\",\"judge\":\"judge <i>x</i>\","
             "\"n\":80,\"wins\":44,\"ties\":10,\"losses\":24,\"unparsable\":2,\"win_rate\":0.6125,"
             "\"win_rate_ci\":[0.53,0.69],\"order_bias\":0.12,\"order_bias_ci\":[0.05,0.2]}\n") &&
         put(t, dir, "eval/pairwise-base.json",
             "{\"kind\":\"pairwise\",\"set\":\"vicuna\",\"a\":\"m2\",\"b\":\"base\",\"judge\":\"j\",\"n\":80,"
             "\"wins\":60,\"ties\":5,\"losses\":15,\"unparsable\":0,\"win_rate\":0.78,\"win_rate_ci\":[0.7,0.85],"
             "\"order_bias\":-0.02,\"order_bias_ci\":[-0.08,0.04]}\n") &&
         put(t, dir, "eval/nll.json",
             "{\"kind\":\"nll\",\"model\":\"m0\",\"set\":\"oasst\",\"n\":50,\"tokens\":12345,\"mean_nll\":2.3456,"
             "\"ci\":[2.2,2.5]}\n") &&
         put(t, dir, "eval/task-m0.json",
             "{\"kind\":\"task\",\"model\":\"m0\",\"set\":\"capitals\",\"n\":100,\"correct\":31,\"accuracy\":0.31,"
             "\"ci\":[0.22,0.4],\"chance\":0.25}\n") &&
         put(t, dir, "eval/task-m2.json",
             "{\"kind\":\"task\",\"model\":\"m2\",\"set\":\"capitals\",\"n\":100,\"correct\":47,\"accuracy\":0.47,"
             "\"ci\":[0.37,0.57],\"chance\":0.25}\n") &&
         put(t, dir, "eval/weird.json", "{\"kind\":\"task\",\"model\":\"m1\",\"n\":\"many\",\"accuracy\":null}\n");
    return ok;
}

/* Markup check of the body: tags balance (no void elements are used there),
 * every '&' starts an entity, no '<' in text or attributes. Returns NULL or
 * a description of the first problem (static buffer). */
static const char *check_markup(const char *html, char *why, size_t n) {
    const char *p = strstr(html, "<body>");
    if (!p) return "no <body>";
    char stack[256][24];
    size_t depth = 0;
    while (*p) {
        if (*p == '&') {
            const char *q = p + 1;
            if (*q == '#') {
                q++;
                while (isdigit((unsigned char)*q)) q++;
            } else {
                while (isalpha((unsigned char)*q)) q++;
            }
            if (*q != ';' || q == p + 1) {
                snprintf(why, n, "bare '&' at \"%.30s\"", p);
                return why;
            }
            p = q + 1;
            continue;
        }
        if (*p != '<') {
            if (*p == '>') {
                snprintf(why, n, "bare '>' at \"%.30s\"", p);
                return why;
            }
            p++;
            continue;
        }
        const char *end = strchr(p, '>');
        if (!end) return "unterminated tag";
        for (const char *q = p + 1; q < end; q++)
            if (*q == '<') {
                snprintf(why, n, "'<' inside a tag at \"%.40s\"", p);
                return why;
            }
        for (const char *q = p; q < end; q++) /* no reference or handler in any tag */
            if (!strncasecmp(q, "href", 4) || !strncasecmp(q, "src=", 4) || !strncasecmp(q, "url(", 4) ||
                (q > p && q[-1] == ' ' && !strncasecmp(q, "on", 2) && isalpha((unsigned char)q[2]) &&
                 strchr(q, '=') && strchr(q, '=') < end && strcspn(q, "= ") == (size_t)(strchr(q, '=') - q))) {
                snprintf(why, n, "reference or handler in tag \"%.60s\"", p);
                return why;
            }
        bool closing = p[1] == '/', self = end[-1] == '/';
        const char *name = p + (closing ? 2 : 1);
        size_t len = strcspn(name, " >/\n");
        if (len == 0 || len >= 24) {
            snprintf(why, n, "bad tag at \"%.30s\"", p);
            return why;
        }
        if (closing) {
            if (!depth || strncmp(stack[depth - 1], name, len) != 0 || stack[depth - 1][len]) {
                snprintf(why, n, "</%.*s> closes <%s>", (int)len, name, depth ? stack[depth - 1] : "(nothing)");
                return why;
            }
            depth--;
            if (len == 4 && strncmp(name, "body", 4) == 0) return depth == 0 ? NULL : "unbalanced at </body>";
        } else if (!self) {
            if (depth == 256) return "too deep";
            memcpy(stack[depth], name, len);
            stack[depth++][len] = 0;
        }
        p = end + 1;
    }
    return "no </body>";
}

static size_t count(const char *hay, const char *needle) {
    size_t c = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) c++;
    return c;
}

static bool has_ci(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++)
        if (strncasecmp(p, needle, n) == 0) return true;
    return false;
}

/* The checks every rendered page must pass. */
static void check_page(sa_test *t, const char *html) {
    char why[160];
    const char *bad = check_markup(html, why, sizeof why);
    SA_CHECKF(t, bad == NULL, "markup: %s", bad ? bad : "");
    SA_CHECK_EQ_INT(t, count(html, "<svg"), count(html, "</svg>"));
    SA_CHECK(t, !has_ci(html, "<script"));
    SA_CHECK(t, !has_ci(html, "<link"));
    SA_CHECK(t, !has_ci(html, "<iframe"));
    SA_CHECK(t, !has_ci(html, "<img"));
    /* the head (style included) loads nothing */
    const char *body = strstr(html, "<body>");
    sa_strbuf head = {0};
    sa_strbuf_append(&head, html, body ? (size_t)(body - html) : strlen(html));
    const char *hd = sa_strbuf_cstr(&head);
    SA_CHECK(t, !has_ci(hd, "url(") && !has_ci(hd, "@import") && !has_ci(hd, "href") && !has_ci(hd, "src="));
    sa_strbuf_free(&head);
    /* http(s):// only inside escaped text: never right after a quote, '(' or '=' */
    for (const char *p = html; (p = strstr(p, "http")); p += 4) {
        if (strncmp(p, "http://", 7) != 0 && strncmp(p, "https://", 8) != 0) continue;
        char prev = p > html ? p[-1] : ' ';
        SA_CHECKF(t, prev != '"' && prev != '\'' && prev != '(' && prev != '=', "unescaped URL at \"%.40s\"", p - 1);
    }
    SA_CHECK(t, strstr(html, "default-src 'none'") != NULL);
}

static void test_synthetic(sa_test *t) {
    char dir[1024], out[1100];
    snprintf(dir, sizeof dir, "%s/synth", sa_test_tmpdir(t));
    SA_REQUIRE(t, make_synthetic(t, dir));
    snprintf(out, sizeof out, "%s/page.html", dir);
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_report_write(dir, out, &err), &err);
    sa_strbuf h = {0};
    SA_REQUIRE_OK(t, sa_file_read_strbuf(out, &h, &err), &err);
    const char *html = sa_strbuf_cstr(&h);
    check_page(t, html);
    /* hostile strings only escaped */
    CHECK_HAS(t, html, "&lt;script&gt;alert(1)&lt;/script&gt;");
    CHECK_HAS(t, html, "&lt;/svg&gt;");
    CHECK_HAS(t, html, "&lt;a href=&quot;http://evil.example/x&quot;&gt;click&lt;/a&gt; &amp; &lt;img");
    CHECK_HAS(t, html, "boom &lt;b&gt;bold&lt;/b&gt; &amp; more");
    CHECK_HAS(t, html, "judge &lt;i&gt;x&lt;/i&gt;");
    /* header, timeline */
    CHECK_HAS(t, html, "humpback</span> run report");
    CHECK_HAS(t, html, "5 of 8 stages; m1 failed");
    CHECK_HAS(t, html, "2 attempts");
    CHECK_HAS(t, html, "st-failed");
    CHECK_HAS(t, html, "interrupted"); /* curate-2 "running" with no process */
    /* funnel counts and rejection reasons */
    CHECK_HAS(t, html, ">1,234<");
    CHECK_HAS(t, html, ">5,678<");
    CHECK_HAS(t, html, "4,321 (76% of segments)");
    CHECK_HAS(t, html, "3,210 (74% of kept)");
    CHECK_HAS(t, html, "987 (31% of candidates)");
    CHECK_HAS(t, html, "boilerplate_header");
    CHECK_HAS(t, html, "copied");
    /* histogram with its threshold, best pair first */
    CHECK_HAS(t, html, "threshold 4.5");
    CHECK_HAS(t, html, "Best-scored pairs, iteration 1");
    CHECK_HAS(t, html, "Worst-scored pairs, iteration 1");
    const char *best = strstr(html, "Best-scored");
    SA_CHECK(t, best && strstr(best, "&lt;/script&gt; best") != NULL);
    /* training: two curves, eval dashed, the summary's bad final_loss shown as a dash */
    CHECK_HAS(t, html, "Loss (solid: training, dashed: held-out)");
    CHECK_HAS(t, html, ">m0 eval<");
    CHECK_HAS(t, html, "m0 summary: &quot;final_loss&quot; is not a number");
    SA_CHECK(t, count(html, "<polyline") >= 3);
    /* curate-2 has no scored.jsonl yet */
    CHECK_HAS(t, html, "missing: ");
    CHECK_HAS(t, html, "curate-2/scored.jsonl (stage interrupted)");
    /* evaluations */
    CHECK_HAS(t, html, "vicuna&lt;80&gt;");
    CHECK_HAS(t, html, "[0.530, 0.690]");
    CHECK_HAS(t, html, "2.3456");
    CHECK_HAS(t, html, "Task accuracy (whiskers: 95% interval)");
    CHECK_HAS(t, html, "Win rate of A over B");
    CHECK_HAS(t, html, "eval/weird.json: &quot;n&quot; is not a number");
    CHECK_HAS(t, html, "sa-err");
    /* configuration, escaped */
    CHECK_HAS(t, html, "<details>");
    SA_CHECK(t, strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;&quot;") != NULL ||
                    strstr(html, "&quot;&lt;script&gt;") != NULL);
    /* default output path */
    SA_CHECK_OK(t, sa_report_write(dir, NULL, &err), &err);
    char def[1100];
    snprintf(def, sizeof def, "%s/report.html", dir);
    SA_CHECK(t, sa_path_exists(def));
    sa_strbuf_free(&h);
}

/* Count the points of every polyline; each must be <= cap. */
static void test_downsample(sa_test *t) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/synth_ds", sa_test_tmpdir(t));
    SA_REQUIRE(t, make_synthetic(t, dir));
    sa_report_opts o = sa_report_defaults();
    o.max_curve_points = 50;
    sa_strbuf h = {0};
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_report_render(dir, &o, &h, &err), &err);
    size_t lines = 0, max_pts = 0;
    for (const char *p = h.buf; (p = strstr(p, "points=\"")); lines++) {
        p += 8;
        size_t pts = 0;
        for (; *p && *p != '"'; p++) pts += *p == ',';
        max_pts = pts > max_pts ? pts : max_pts;
    }
    SA_CHECK(t, lines >= 3);
    SA_CHECK(t, max_pts <= 50);
    SA_CHECK(t, max_pts >= 40); /* m0's 1000 points thinned to 50 */
    SA_CHECK(t, h.len < 200000);
    sa_strbuf_free(&h);
}

static void test_missing_and_torn(sa_test *t) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/torn", sa_test_tmpdir(t));
    SA_REQUIRE(t, put(t, dir, "manifest.json",
                      "{\"kind\":\"humpback\",\"config\":{},\"stages\":["
                      "{\"name\":\"corpus\",\"state\":\"done\",\"seconds\":\"fast\",\"attempts\":1},"
                      "{\"name\":\"augment\",\"state\":\"pending\"},"
                      "{\"name\":\"m0\",\"state\":\"done\",\"summary\":{\"final_loss\":1.5}},"
                      "{\"name\":\"curate-1\",\"state\":\"running\",\"summary\":{\"min_score\":\"high\"}},"
                      "{\"name\":\"evil\",\"dir\":\"../../etc\",\"state\":\"done\",\"summary\":{\"x\":1}}]}"));
    SA_REQUIRE(t, put(t, dir, "curate-1/scored.jsonl",
                      "{\"instruction\":\"a\",\"output\":\"b\",\"score\":3}\n"
                      "not json at all\n"
                      "{\"instruction\":\"c\",\"output\":\"d\",\"score\":\"five\"}\n"
                      "{\"instruction\":\"e\",\"output\":\"f\",\"score\":4}\n"
                      "{\"instruction\":\"torn\",\"out"));
    SA_REQUIRE(t, put(t, dir, "m0/metrics.jsonl",
                      "{\"step\":1,\"loss\":2.5}\n{\"step\":2,\"loss\":\"NaN\"}\n{\"step\":3,\"loss\":2.1}\n{\"st"));
    sa_strbuf h = {0};
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_report_render(dir, NULL, &h, &err), &err);
    const char *html = sa_strbuf_cstr(&h);
    check_page(t, html);
    CHECK_HAS(t, html, "missing: ");
    CHECK_HAS(t, html, "curate-1/scored.jsonl: torn last line skipped");
    CHECK_HAS(t, html, "curate-1/scored.jsonl: 1 bad lines skipped");
    CHECK_HAS(t, html, "m0/metrics.jsonl: torn last line skipped");
    CHECK_HAS(t, html, "m0/metrics.jsonl: 1 lines with a non-numeric step or loss");
    CHECK_HAS(t, html, "corpus/stats.json (stage done)");
    CHECK_HAS(t, html, "augment/stats.json (stage pending)");
    CHECK_HAS(t, html, "No evaluation was run");
    SA_CHECK(t, strstr(html, "etc/passwd") == NULL);
    CHECK_HAS(t, html, "<svg"); /* the histogram of the 2 numeric scores */
    sa_strbuf_free(&h);
    /* an empty stages list renders too */
    snprintf(dir, sizeof dir, "%s/empty", sa_test_tmpdir(t));
    SA_REQUIRE(t, put(t, dir, "manifest.json", "{\"kind\":\"dromedary\",\"config\":{},\"stages\":[]}"));
    SA_REQUIRE_OK(t, sa_report_render(dir, NULL, &h, &err), &err);
    check_page(t, sa_strbuf_cstr(&h));
    sa_strbuf_free(&h);
}

static void test_corrupt_manifest(sa_test *t) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/corrupt", sa_test_tmpdir(t));
    SA_REQUIRE(t, put(t, dir, "manifest.json", "{\"kind\": \"humpback\", \"stages\": [ {oops"));
    sa_err err = {0};
    char out[1100];
    snprintf(out, sizeof out, "%s/r.html", dir);
    SA_CHECK(t, sa_report_write(dir, out, &err) == SA_ERR_FORMAT);
    CHECK_HAS(t, err.msg, "manifest.json");
    SA_CHECK(t, !sa_path_exists(out));
    SA_REQUIRE(t, put(t, dir, "manifest.json", "{\"kind\":\"humpback\",\"config\":{},\"stages\":[{\"name\":1}]}"));
    SA_CHECK(t, sa_report_write(dir, out, &err) == SA_ERR_FORMAT);
    CHECK_HAS(t, err.msg, "manifest.json");
    snprintf(dir, sizeof dir, "%s/nothing-here", sa_test_tmpdir(t));
    SA_CHECK(t, sa_report_write(dir, NULL, &err) == SA_ERR_NOT_FOUND);
    CHECK_HAS(t, err.msg, "manifest.json");
}

static void test_dromedary(sa_test *t) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/drom", sa_test_tmpdir(t));
    SA_REQUIRE(t, put(t, dir, "manifest.json",
                      "{\"kind\":\"dromedary\",\"version\":\"0.1.0\",\"config\":{\"principles\":16},\"stages\":["
                      "{\"name\":\"selfinstruct\",\"dir\":\"selfinstruct\",\"state\":\"done\",\"attempts\":1,"
                      "\"seconds\":12.5,\"summary\":{\"accepted\":4321,\"rejected\":{\"near_duplicate\":77}}},"
                      "{\"name\":\"principles\",\"dir\":\"principles\",\"state\":\"done\",\"attempts\":3,"
                      "\"seconds\":30},"
                      "{\"name\":\"engrave\",\"dir\":\"engrave\",\"state\":\"done\",\"attempts\":1,\"seconds\":99,"
                      "\"summary\":{\"steps\":10,\"first_loss\":3,\"final_loss\":2}},"
                      "{\"name\":\"clone-gen\",\"dir\":\"clone-gen\",\"state\":\"running\",\"attempts\":1,"
                      "\"seconds\":1},"
                      "{\"name\":\"clone\",\"dir\":\"clone\",\"state\":\"pending\",\"attempts\":0,\"seconds\":0}]}"));
    SA_REQUIRE(t, put(t, dir, "principles/stats.json", "{\"answered\":3999,\"leaked\":12,\"refusals\":5}"));
    SA_REQUIRE(t, put(t, dir, "engrave/metrics.jsonl",
                      "{\"step\":5,\"loss\":3.0,\"eval_loss\":3.1}\n{\"step\":10,\"loss\":2.0,\"eval_loss\":2.4}\n"));
    sa_strbuf h = {0};
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_report_render(dir, NULL, &h, &err), &err);
    const char *html = sa_strbuf_cstr(&h);
    check_page(t, html);
    CHECK_HAS(t, html, "dromedary</span> run report");
    CHECK_HAS(t, html, "3 of 5 stages");
    CHECK_HAS(t, html, "3 attempts");
    CHECK_HAS(t, html, "Stage summaries");
    CHECK_HAS(t, html, ">4,321<");
    CHECK_HAS(t, html, "rejected.near_duplicate");
    CHECK_HAS(t, html, ">3,999<"); /* from principles/stats.json */
    CHECK_HAS(t, html, ">engrave eval<");
    SA_CHECK(t, strstr(html, "id=\"funnel\"") == NULL);
    SA_CHECK(t, strstr(html, "id=\"scores\"") == NULL);
    sa_strbuf_free(&h);
}

static void test_ticks(sa_test *t) {
    double tk[16], step;
    size_t n = sa_svg_nice_ticks(0, 8.6, 6, tk, &step);
    SA_CHECK(t, step == 2 && n == 6 && tk[0] == 0 && tk[5] == 10);
    n = sa_svg_nice_ticks(1, 5, 9, tk, &step);
    SA_CHECK(t, step == 0.5 && n == 9 && tk[0] == 1 && tk[8] == 5);
    n = sa_svg_nice_ticks(1.23, 1.87, 5, tk, &step);
    SA_CHECK(t, fabs(step - 0.2) < 1e-12 && tk[0] <= 1.23 && tk[n - 1] >= 1.87);
    n = sa_svg_nice_ticks(3, 3, 5, tk, &step); /* degenerate */
    SA_CHECK(t, n >= 2 && tk[0] <= 3 && tk[n - 1] >= 3 && step > 0);
    n = sa_svg_nice_ticks(NAN, INFINITY, 5, tk, &step);
    SA_CHECK(t, n >= 2 && isfinite(tk[0]));
    char b[32];
    sa_svg_format_tick(0.25, 0.25, b, sizeof b);
    SA_CHECK_STR(t, b, "0.25");
    sa_svg_format_tick(15000, 5000, b, sizeof b);
    SA_CHECK_STR(t, b, "15k");
    sa_svg_format_tick(-0.0, 0.5, b, sizeof b);
    SA_CHECK_STR(t, b, "0.0");
    sa_strbuf e = {0};
    SA_CHECK_OK(t, sa_svg_escape(&e, "a<b>&\"'\x01\xff\xc3\xa9", 11), NULL);
    SA_CHECK_STR(t, sa_strbuf_cstr(&e), "a&lt;b&gt;&amp;&quot;&#39;\xEF\xBF\xBD\xC3\xA9");
    sa_strbuf_free(&e);
}

static void test_cli(sa_test *t) {
    char dir[1024], out[1100];
    snprintf(dir, sizeof dir, "%s/synth_cli", sa_test_tmpdir(t));
    SA_REQUIRE(t, make_synthetic(t, dir));
    snprintf(out, sizeof out, "%s/x.html", dir);
    run_result r = {0};
    if (!run(t, &r, NULL, "report", "--run", dir, "--out", out, NULL)) return;
    SA_CHECK_EQ_INT(t, r.rc, 0);
    CHECK_HAS(t, OUT(r), out);
    SA_CHECK(t, sa_path_exists(out));
    result_free(&r);
    if (!run(t, &r, NULL, "report", "--run", dir, NULL)) return;
    SA_CHECK_EQ_INT(t, r.rc, 0);
    CHECK_HAS(t, OUT(r), "report.html");
    result_free(&r);
    snprintf(dir, sizeof dir, "%s/corrupt_cli", sa_test_tmpdir(t));
    SA_REQUIRE(t, put(t, dir, "manifest.json", "[1, 2"));
    if (!run(t, &r, NULL, "report", "--run", dir, NULL)) return;
    SA_CHECK_EQ_INT(t, r.rc, 1);
    CHECK_HAS(t, ERR(r), "manifest.json");
    result_free(&r);
}

/* The real loop on stories260K (about 30 s), then its report. */
static void test_real_run(sa_test *t) {
    const char *model = sa_test_data(t, "models/llama2c-stories260K/stories260K.bin");
    const char *tok = model ? sa_test_data(t, "models/llama2c-stories260K/tok512.bin") : NULL;
    const char *wiki = tok ? sa_test_data(t, "corpus/exllamav2_cal/wiki.utf8") : NULL;
    const char *seeds = wiki ? sa_test_data(t, "instructions/self-instruct_seed_tasks.jsonl") : NULL;
    if (!seeds || !bin_path(t)) return;
    const char *tmp = sa_test_tmpdir(t);
    char run_dir[1024], seed[1024], corpus[1024], prompts[1024], p[1100];
    snprintf(run_dir, sizeof run_dir, "%s/real/run", tmp);
    snprintf(seed, sizeof seed, "%s/real/seed.jsonl", tmp);
    snprintf(corpus, sizeof corpus, "%s/real/wiki.txt", tmp);
    snprintf(prompts, sizeof prompts, "%s/real/prompts", tmp);
    sa_strbuf w = {0}, s = {0};
    slurp(wiki, &w);
    slurp(seeds, &s);
    SA_REQUIRE(t, w.len > 90000 && s.len > 0);
    sa_strbuf_truncate(&w, 90000);
    sa_strbuf_puts(&w, "</doc>\n");
    const char *q = s.buf;
    for (int i = 0; i < 60 && q; i++) q = strchr(q, '\n') ? strchr(q, '\n') + 1 : NULL;
    SA_REQUIRE(t, q != NULL);
    sa_strbuf_truncate(&s, (size_t)(q - s.buf));
    SA_REQUIRE(t, put(t, tmp, "real/wiki.txt", w.buf) && put(t, tmp, "real/seed.jsonl", s.buf) &&
                      put(t, tmp, "real/prompts/rubric.txt",
                          "Rate the answer from 1 to 5.\nInstruction: {{instruction}}\nAnswer: {{output}}\n"));
    sa_strbuf_free(&w);
    sa_strbuf_free(&s);
    run_result r = {0};
    if (!run(t, &r, NULL, "humpback", "--run", run_dir, "--base", model, "--tokenizer", tok, "--seed", seed,
             "--corpus", corpus, "--prompts", prompts, "--min-chars", "150", "--max-chars", "500", "--full", "--lr",
             "3e-3", "--steps", "30", "--batch", "8", "--save-every", "10", "--threads", "1", "--gen-batch", "2",
             "--instruction-tokens", "128", "--min-score", "2.45", "--quiet", NULL))
        return;
    SA_REQUIRE(t, r.rc == 0);
    result_free(&r);
    if (!run(t, &r, NULL, "report", "--run", run_dir, NULL)) return;
    SA_CHECK_EQ_INT(t, r.rc, 0);
    result_free(&r);
    snprintf(p, sizeof p, "%s/report.html", run_dir);
    sa_strbuf h = {0};
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_file_read_strbuf(p, &h, &err), &err);
    const char *html = sa_strbuf_cstr(&h);
    check_page(t, html);
    CHECK_HAS(t, html, "all 8 stages");
    CHECK_HAS(t, html, "Data funnel");
    CHECK_HAS(t, html, "Iteration 2, rated by m1/model");
    CHECK_HAS(t, html, "Best-scored pairs, iteration 2");
    SA_CHECK(t, count(html, "<polyline") >= 4); /* backward, m0, m1, m2 */
    SA_CHECK(t, strstr(html, "class=\"missing\"") == NULL);
    sa_strbuf_free(&h);
}

/* Headless Chromium: the page renders (screenshot not blank), its DOM holds
 * the charts, and nothing tried to load from anywhere. */
static void test_browser(sa_test *t) {
    const char *chrome = "/usr/bin/chromium";
    if (access(chrome, X_OK) != 0) {
        sa_test_skip(t, "%s is absent (install the chromium package to run the browser check)", chrome);
        return;
    }
    const char *tmp = sa_test_tmpdir(t);
    char dir[1024], cmd[8192], page[1100], shot[1100], dom[1100], log[1100], prof[1100];
    snprintf(dir, sizeof dir, "%s/browser", tmp);
    SA_REQUIRE(t, make_synthetic(t, dir));
    snprintf(page, sizeof page, "%s/report.html", dir);
    snprintf(shot, sizeof shot, "%s/shot.png", dir);
    snprintf(dom, sizeof dom, "%s/dom.html", dir);
    snprintf(log, sizeof log, "%s/chrome.log", dir);
    snprintf(prof, sizeof prof, "%s/profile", dir);
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_report_write(dir, page, &err), &err);
    const char *flags = "--headless --no-sandbox --disable-gpu --disable-background-networking "
                        "--enable-logging=stderr --v=0";
    snprintf(cmd, sizeof cmd,
             "timeout 60 %s %s --user-data-dir='%s/a' --screenshot='%s' --window-size=1280,2400 'file://%s' "
             ">/dev/null 2>'%s'",
             chrome, flags, prof, shot, page, log);
    int rc = system(cmd);
    SA_CHECKF(t, rc == 0, "chromium --screenshot returned %d", rc);
    snprintf(cmd, sizeof cmd,
             "timeout 60 %s %s --user-data-dir='%s/b' --dump-dom 'file://%s' >'%s' 2>>'%s'", chrome, flags, prof,
             page, dom, log);
    rc = system(cmd);
    SA_CHECKF(t, rc == 0, "chromium --dump-dom returned %d", rc);
    sa_strbuf png = {0}, d = {0}, l = {0};
    slurp(shot, &png);
    slurp(dom, &d);
    slurp(log, &l);
    SA_CHECKF(t, png.len > 20000, "screenshot is %zu bytes (blank?)", png.len);
    SA_CHECK(t, png.len >= 8 && memcmp(png.buf, "\x89PNG\r\n\x1a\n", 8) == 0);
    const char *dm = sa_strbuf_cstr(&d);
    SA_CHECKF(t, count(dm, "<svg") >= 6, "%zu <svg> in the DOM", count(dm, "<svg"));
    SA_CHECK(t, count(dm, "<rect") >= 20);
    SA_CHECK(t, count(dm, "<polyline") >= 3);
    SA_CHECK(t, count(dm, "<path") >= 2); /* error bars */
    SA_CHECK(t, count(dm, "<details") == 1);
    SA_CHECK(t, !has_ci(dm, "<script"));
    SA_CHECK(t, strstr(dm, "&lt;script&gt;alert(1)&lt;/script&gt;") != NULL);
    /* A fetch the page's Content-Security-Policy blocks is logged as a console
     * message ("Loading the image 'http://...' violates the following Content
     * Security Policy directive"); failed fetches print nothing at --v=0, so
     * the CSP is what makes any load attempt visible here. */
    const char *lg = sa_strbuf_cstr(&l);
    SA_CHECKF(t, strstr(lg, "Failed to load") == NULL && strstr(lg, "net::ERR") == NULL &&
                     strstr(lg, "Content Security Policy") == NULL && strstr(lg, ":CONSOLE") == NULL,
              "chromium log reports a load or a console message: %.400s", strstr(lg, ":CONSOLE") ? strstr(lg, ":CONSOLE") : lg);
    sa_strbuf_free(&png);
    sa_strbuf_free(&d);
    sa_strbuf_free(&l);
    /* negative control: the same check sees a page with the report's CSP
     * that tries to load an image */
    snprintf(page, sizeof page, "%s/neg.html", dir);
    const char *neg = "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src "
                      "'none'; style-src 'unsafe-inline'\"></head><body><img src=\"http://example.invalid/x.png\">"
                      "</body></html>";
    SA_REQUIRE(t, sa_test_write_file(t, page, neg, strlen(neg)));
    snprintf(cmd, sizeof cmd, "timeout 60 %s %s --user-data-dir='%s/c' --dump-dom 'file://%s' >/dev/null 2>'%s'",
             chrome, flags, prof, page, log);
    rc = system(cmd);
    slurp(log, &l);
    SA_CHECKF(t, rc == 0 && strstr(sa_strbuf_cstr(&l), "Content Security Policy") != NULL,
              "the negative control's blocked load was not logged (rc %d)", rc);
    sa_strbuf_free(&l);
}

static const sa_test_def k_tests[] = {
    {"ticks", test_ticks},
    {"synthetic", test_synthetic},
    {"downsample", test_downsample},
    {"missing_and_torn", test_missing_and_torn},
    {"corrupt_manifest", test_corrupt_manifest},
    {"dromedary", test_dromedary},
    {"cli", test_cli},
    {"browser", test_browser},
    {"real_run", test_real_run},
};
SA_TEST_MAIN(k_tests)
