/* test_corpus.c — corpus preparation: input formats, segmentation, each
 * filter, hostile input, determinism, the counts invariant, a real slice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/corpus.h"
#include "sa/fileio.h"
#include "sa/json.h"
#include "sa/strbuf.h"
#include "sa_test.h"
#include "sa_test_run.h"

/* Deterministic prose: distinct sentences so the repetition filter passes. */
static void prose(sa_strbuf *sb, unsigned seed, size_t chars) {
    static const char *const w[] = {"the", "river", "carried", "old", "stones", "past", "quiet",
        "farms", "where", "children", "watched", "boats", "drift", "slowly", "toward", "distant",
        "harbors", "under", "grey", "autumn", "skies", "while", "merchants", "counted", "coins",
        "and", "sang", "about", "winter", "markets", "bright", "lanterns"};
    uint64_t x = seed * 7919u + 1;
    size_t start = sb->len, words = 0;
    while (sb->len - start < chars) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        sa_strbuf_puts(sb, w[(x >> 33) % 32]);
        words++;
        if (words % 11 == 0) sa_strbuf_puts(sb, ". ");
        else sa_strbuf_putc(sb, ' ');
    }
    sa_strbuf_puts(sb, "end.");
}

typedef struct run_out {
    sa_corpus_stats st;
    sa_strbuf out, rej;
} run_out;

static void run_free(run_out *r) { sa_strbuf_free(&r->out); sa_strbuf_free(&r->rej); }

static uint64_t sum_rej(const sa_corpus_stats *s) {
    uint64_t n = 0;
    for (int k = 1; k < SA_CORPUS_REASON_COUNT; k++) n += s->rejected[k];
    return n;
}

/* Run one in-memory input (min_chars lowered to `minc`) and read back the
 * outputs. */
static int run_buf(sa_test *t, const char *name, const char *buf, size_t n, uint32_t minc, run_out *r) {
    memset(r, 0, sizeof *r);
    sa_corpus_opts o;
    sa_corpus_default_opts(&o);
    o.min_chars = minc;
    sa_corpus *c;
    sa_err err = {0};
    if (sa_corpus_init(&c, &o, &err) != SA_OK) return 0;
    sa_status s = sa_corpus_add_buffer(c, name, buf, n, SA_CORPUS_AUTO, &err);
    char op[512], rp[512]; /* sa_test_tmpfile reuses its buffer */
    snprintf(op, sizeof op, "%s", sa_test_tmpfile(t, "o.jsonl"));
    snprintf(rp, sizeof rp, "%s", sa_test_tmpfile(t, "r.jsonl"));
    if (s == SA_OK) s = sa_corpus_write(c, op, rp, NULL, &err);
    if (s == SA_OK) r->st = *sa_corpus_get_stats(c);
    sa_corpus_free(c);
    if (s != SA_OK) { SA_CHECKF(t, 0, "corpus: %s", err.msg); return 0; }
    sa_file_read_strbuf(op, &r->out, &err);
    sa_file_read_strbuf(rp, &r->rej, &err);
    SA_CHECK(t, r->st.segments == r->st.kept + sum_rej(&r->st));
    return 1;
}

static int count_lines(const sa_strbuf *s) {
    int n = 0;
    for (size_t i = 0; i < s->len; i++) n += s->buf[i] == '\n';
    return n;
}

/* Field `key` of the idx-th JSON line (copied into out). */
static int line_field(const sa_strbuf *s, int idx, const char *key, sa_strbuf *out) {
    const char *p = sa_strbuf_cstr(s);
    for (int i = 0; i < idx && p; i++) { p = strchr(p, '\n'); if (p) p++; }
    if (!p || !*p) return 0;
    const char *e = strchr(p, '\n');
    json_t *o;
    if (sa_json_parse(p, e ? (size_t)(e - p) : strlen(p), NULL, &o, NULL) != SA_OK) return 0;
    const char *v = NULL;
    size_t vn = 0;
    int ok = sa_json_get_str(o, key, true, &v, &vn, NULL) == SA_OK;
    sa_strbuf_reset(out);
    if (ok) sa_strbuf_append(out, v, vn);
    json_decref(o);
    return ok;
}

static void test_markdown_sections(sa_test *t) {
    sa_strbuf d = {0}, f = {0};
    sa_strbuf_puts(&d, "# Rivers\n\n"); prose(&d, 1, 500);
    sa_strbuf_puts(&d, "\n\n## Boats\n\n"); prose(&d, 2, 500);
    sa_strbuf_puts(&d, "\n\n# Markets\n\n"); prose(&d, 3, 500);
    run_out r;
    SA_REQUIRE(t, run_buf(t, "a.md", d.buf, d.len, 100, &r));
    SA_CHECK(t, r.st.documents == 1);
    SA_CHECK(t, r.st.segments == 3);
    SA_CHECK(t, r.st.kept == 3);
    SA_CHECK(t, line_field(&r.out, 0, "title", &f)); SA_CHECK_STR(t, sa_strbuf_cstr(&f), "Rivers");
    SA_CHECK(t, line_field(&r.out, 0, "text", &f));
    /* the parent section includes its sub-header and the sub-section text */
    SA_CHECK(t, strstr(sa_strbuf_cstr(&f), "\n\nBoats\n\n") != NULL);
    SA_CHECK(t, strstr(sa_strbuf_cstr(&f), "Markets") == NULL);
    SA_CHECK(t, line_field(&r.out, 1, "title", &f)); SA_CHECK_STR(t, sa_strbuf_cstr(&f), "Boats");
    SA_CHECK(t, line_field(&r.out, 2, "title", &f)); SA_CHECK_STR(t, sa_strbuf_cstr(&f), "Markets");
    SA_CHECK(t, line_field(&r.out, 2, "source_path", &f)); SA_CHECK_STR(t, sa_strbuf_cstr(&f), "a.md");
    SA_CHECK(t, line_field(&r.out, 0, "id", &f) && f.len == 16);
    run_free(&r); sa_strbuf_free(&d); sa_strbuf_free(&f);
}

static void test_wikitext_headers(sa_test *t) {
    sa_strbuf d = {0}, f = {0};
    sa_strbuf_puts(&d, " = Robert Smith = \n \n "); prose(&d, 4, 1200); /* parent not a near-dup of its child */
    sa_strbuf_puts(&d, " \n \n = = Career = = \n \n "); prose(&d, 5, 700);
    sa_strbuf_puts(&d, " \n \n = = = Film = = = \n \n "); prose(&d, 6, 700);
    run_out r;
    SA_REQUIRE(t, run_buf(t, "wiki.txt", d.buf, d.len, 100, &r));
    SA_CHECK(t, r.st.segments == 3);
    SA_CHECK(t, line_field(&r.out, 1, "title", &f)); SA_CHECK_STR(t, sa_strbuf_cstr(&f), "Career");
    SA_CHECK(t, line_field(&r.out, 1, "text", &f));
    SA_CHECK(t, strstr(sa_strbuf_cstr(&f), "Film") != NULL);
    SA_CHECK(t, line_field(&r.out, 2, "title", &f)); SA_CHECK_STR(t, sa_strbuf_cstr(&f), "Film");
    run_free(&r); sa_strbuf_free(&d); sa_strbuf_free(&f);
}

static void test_html(sa_test *t) {
    sa_strbuf d = {0}, f = {0};
    sa_strbuf_puts(&d, "<html><head><style>p{color:red}</style><script>var bad = 1;</script></head><body>\n"
                       "<h1>Fish &amp; Chips</h1><p>");
    prose(&d, 7, 700);
    sa_strbuf_puts(&d, " caf&eacute; &#8364;5 &lt;b&gt;</p><!-- hidden comment --><h2>Quick Links</h2><p>");
    prose(&d, 8, 700);
    sa_strbuf_puts(&d, "</p><div>trailing <b>text</b> <a href=\"x\"");  /* unterminated tag */
    run_out r;
    SA_REQUIRE(t, run_buf(t, "page.html", d.buf, d.len, 100, &r));
    SA_CHECK(t, r.st.segments == 2);
    SA_CHECK(t, r.st.kept == 1);
    SA_CHECK(t, r.st.rejected[SA_CORPUS_BOILERPLATE_HEADER] == 1);
    SA_CHECK(t, line_field(&r.out, 0, "title", &f)); SA_CHECK_STR(t, sa_strbuf_cstr(&f), "Fish & Chips");
    SA_CHECK(t, line_field(&r.out, 0, "text", &f));
    const char *x = sa_strbuf_cstr(&f);
    SA_CHECK(t, strstr(x, "caf\xC3\xA9 \xE2\x82\xAC" "5 <b>") != NULL);
    SA_CHECK(t, strstr(x, "bad") == NULL && strstr(x, "color") == NULL && strstr(x, "hidden") == NULL);
    SA_CHECK(t, strstr(x, "<p>") == NULL);
    SA_CHECK(t, line_field(&r.rej, 0, "reason", &f)); SA_CHECK_STR(t, sa_strbuf_cstr(&f), "boilerplate_header");
    run_free(&r); sa_strbuf_free(&d); sa_strbuf_free(&f);
}

static void test_doc_dump(sa_test *t) {
    sa_strbuf d = {0}, f = {0};
    sa_strbuf_puts(&d, "<doc id=\"42\" url=\"https://e.org/a\" title=\"Alpha\">\nAlpha\n\n");
    prose(&d, 9, 800);
    sa_strbuf_puts(&d, "\n</doc>\n<doc id=\"43\" title=\"Beta\">\nBeta\n\n");
    prose(&d, 10, 800);
    sa_strbuf_puts(&d, "\nEarly life.\n");  /* a WikiExtractor section heading */
    prose(&d, 12, 800);
    sa_strbuf_puts(&d, "\n</doc>\n<doc title=\"Gamma\">\n");  /* no id, never closed */
    prose(&d, 11, 800);
    run_out r;
    SA_REQUIRE(t, run_buf(t, "dump.utf8", d.buf, d.len, 100, &r));
    SA_CHECK(t, r.st.documents == 3);
    SA_CHECK(t, r.st.kept == 4);
    SA_CHECK(t, line_field(&r.out, 0, "doc", &f)); SA_CHECK_STR(t, sa_strbuf_cstr(&f), "42");
    SA_CHECK(t, line_field(&r.out, 0, "url", &f)); SA_CHECK_STR(t, sa_strbuf_cstr(&f), "https://e.org/a");
    SA_CHECK(t, line_field(&r.out, 0, "title", &f)); SA_CHECK_STR(t, sa_strbuf_cstr(&f), "Alpha");
    SA_CHECK(t, line_field(&r.out, 0, "text", &f));
    SA_CHECK(t, strncmp(sa_strbuf_cstr(&f), "Alpha", 5) != 0); /* repeated title line dropped */
    SA_CHECK(t, !line_field(&r.out, 1, "url", &f));
    SA_CHECK(t, line_field(&r.out, 1, "title", &f)); SA_CHECK_STR(t, sa_strbuf_cstr(&f), "Beta");
    SA_CHECK(t, line_field(&r.out, 2, "title", &f)); SA_CHECK_STR(t, sa_strbuf_cstr(&f), "Early life");
    SA_CHECK(t, line_field(&r.out, 3, "doc", &f)); SA_CHECK_STR(t, sa_strbuf_cstr(&f), "dump.utf8#3");
    run_free(&r); sa_strbuf_free(&d); sa_strbuf_free(&f);
}

static void test_headerless_groups(sa_test *t) {
    sa_strbuf d = {0};
    for (unsigned i = 0; i < 12; i++) { prose(&d, 20 + i, 400); sa_strbuf_puts(&d, "\n\n"); }
    run_out r;
    SA_REQUIRE(t, run_buf(t, "plain.txt", d.buf, d.len, 600, &r));
    /* ~405-char paragraphs grouped up to 3000 chars: 7 per group */
    SA_CHECK_EQ_INT(t, (int)r.st.segments, 2);
    SA_CHECK(t, r.st.kept == 2);
    sa_strbuf f = {0};
    SA_CHECK(t, line_field(&r.out, 0, "text", &f));
    SA_CHECK(t, f.len <= 3000 && f.len > 2000);
    sa_strbuf_free(&f);
    run_free(&r); sa_strbuf_free(&d);
}

static void test_jsonl_input(sa_test *t) {
    sa_strbuf d = {0}, p = {0}, f = {0};
    prose(&p, 30, 800);
    sa_strbuf_appendf(&d, "{\"text\": \"%s\", \"id\": \"d1\", \"url\": \"u1\", \"title\": \"T1\"}\n", p.buf);
    sa_strbuf_puts(&d, "not json\n{\"text\": 5}\n[1,2]\n\n");
    sa_strbuf_reset(&p); prose(&p, 31, 800);
    sa_strbuf_appendf(&d, "{\"text\": \"%s\"}\n", p.buf);
    run_out r;
    SA_REQUIRE(t, run_buf(t, "docs.jsonl", d.buf, d.len, 100, &r));
    SA_CHECK(t, r.st.documents == 2);
    SA_CHECK(t, r.st.bad_lines == 3);
    SA_CHECK(t, r.st.kept == 2);
    SA_CHECK(t, line_field(&r.out, 0, "doc", &f)); SA_CHECK_STR(t, sa_strbuf_cstr(&f), "d1");
    SA_CHECK(t, line_field(&r.out, 0, "title", &f)); SA_CHECK_STR(t, sa_strbuf_cstr(&f), "T1");
    SA_CHECK(t, line_field(&r.out, 1, "doc", &f)); SA_CHECK_STR(t, sa_strbuf_cstr(&f), "docs.jsonl:6");
    run_free(&r); sa_strbuf_free(&d); sa_strbuf_free(&p); sa_strbuf_free(&f);
}

static sa_corpus_reason filt(const char *title, bool hh, const char *text) {
    sa_corpus_opts o;
    sa_corpus_default_opts(&o);
    o.min_chars = 50;
    o.max_chars = 400;
    return sa_corpus_filter(&o, title, title ? strlen(title) : 0, hh, text, strlen(text));
}

static void test_filters(sa_test *t) {
    const char *good = "Rivers carry stones toward the sea. Farmers watch the water rise in spring. "
                       "Boats drift slowly past the old mill.";
    SA_CHECK(t, filt("Rivers", true, good) == SA_CORPUS_KEEP);
    SA_CHECK(t, filt(NULL, false, good) == SA_CORPUS_KEEP);
    SA_CHECK(t, filt("Rivers", true, "Too short.") == SA_CORPUS_TOO_SHORT);
    sa_strbuf big = {0};
    for (int i = 0; i < 6; i++) sa_strbuf_puts(&big, good);
    SA_CHECK(t, filt("Rivers", true, big.buf) == SA_CORPUS_TOO_LONG);
    sa_strbuf_free(&big);
    SA_CHECK(t, filt("", true, good) == SA_CORPUS_EMPTY_HEADER);
    SA_CHECK(t, filt(" -- ", true, good) == SA_CORPUS_EMPTY_HEADER);
    SA_CHECK(t, filt("CHAPTER ONE", true, good) == SA_CORPUS_ALLCAPS_HEADER);
    SA_CHECK(t, filt("Chapter One", true, good) == SA_CORPUS_KEEP);
    SA_CHECK(t, filt("Sign up for our Newsletter", true, good) == SA_CORPUS_BOILERPLATE_HEADER);
    SA_CHECK(t, filt("Cookie policy", true, good) == SA_CORPUS_BOILERPLATE_HEADER);
    SA_CHECK(t, filt("Advertisement", true, good) == SA_CORPUS_BOILERPLATE_HEADER);
    SA_CHECK(t, filt("Shareholders and forums", true, good) == SA_CORPUS_BOILERPLATE_HEADER);
    SA_CHECK(t, filt("Shareholders", true, good) == SA_CORPUS_KEEP); /* word boundary */
    SA_CHECK(t, filt("CHAPTER ONE", false, good) == SA_CORPUS_KEEP);   /* not a header */
    SA_CHECK(t, filt("T", true, "12345 67890 12345 67890 12345 67890 12345 67890 12345 67890 !!!! ???? ab") ==
                    SA_CORPUS_FEW_LETTERS);
    const char *rep = "Click here to buy the best shoes now. Click here to buy the best shoes today. "
                      "Click here to buy the best shoes now. Click here to buy the best shoes now!";
    SA_CHECK(t, filt("Shoes", true, rep) == SA_CORPUS_REPETITIVE);
    SA_CHECK(t, filt("Rivers", true, "Rivers carry stones toward the sea.\xff More words here to pass the length bound.") ==
                    SA_CORPUS_INVALID_UTF8);
    SA_CHECK(t, filt("Bad\xc0\xaf", true, good) == SA_CORPUS_INVALID_UTF8);
    SA_CHECK(t, sa_corpus_repetition(&(sa_corpus_opts){.rep_ngram = 3, .rep_threshold = 0.7}, good, strlen(good)) == 0);
}

static void test_hostile_input(sa_test *t) {
    /* NUL bytes, invalid UTF-8, an unterminated <doc>, a 10 MB single line */
    sa_strbuf d = {0};
    prose(&d, 40, 700);
    sa_strbuf_append(&d, "\0\0abc", 5);
    sa_strbuf_puts(&d, "\n\n# Sect\n\n");
    prose(&d, 41, 700);
    sa_strbuf_puts(&d, "\xed\xa0\x80 surrogate\n");
    run_out r;
    SA_REQUIRE(t, run_buf(t, "bad.txt", d.buf, d.len, 100, &r));
    SA_CHECK(t, r.st.segments == 2);
    SA_CHECK(t, r.st.rejected[SA_CORPUS_INVALID_UTF8] == 2);
    run_free(&r);
    sa_strbuf_reset(&d);
    size_t big = 10u << 20;
    SA_REQUIRE(t, sa_strbuf_reserve(&d, big) == SA_OK);
    while (d.len < big) sa_strbuf_puts(&d, "lorem ipsum dolor sit amet ");
    SA_REQUIRE(t, run_buf(t, "big.txt", d.buf, d.len, 600, &r));
    SA_CHECK(t, r.st.segments == 1 && r.st.rejected[SA_CORPUS_TOO_LONG] == 1);
    run_free(&r);
    const char *h = "<html><h1>Title</h1><p>text <b unterminated";
    SA_REQUIRE(t, run_buf(t, "x.html", h, strlen(h), 1, &r));
    SA_CHECK(t, r.st.segments == 1);
    run_free(&r);
    const char *dd = "<doc id=\"1\" title=\"unterminated";
    SA_REQUIRE(t, run_buf(t, "x.dump", dd, strlen(dd), 1, &r));
    SA_CHECK(t, r.st.documents == 1 && r.st.segments == 0);
    run_free(&r);
    sa_strbuf_free(&d);
}

static void test_dedup_in_corpus(sa_test *t) {
    sa_strbuf d = {0}, p = {0}, f = {0}, id0 = {0};
    prose(&p, 50, 900);
    sa_strbuf_appendf(&d, "# One\n\n%s\n\n# Two\n\n%s\n\n", p.buf, p.buf);   /* exact */
    /* near: same text, a few words edited */
    char *q = sa_strdup(p.buf);
    memcpy(q + 100, "ZEBRA", 5);
    memcpy(q + 500, "ZEBRA", 5);
    sa_strbuf_appendf(&d, "# Three\n\n%s\n\n", q);
    free(q);
    run_out r;
    SA_REQUIRE(t, run_buf(t, "dup.md", d.buf, d.len, 100, &r));
    SA_CHECK(t, r.st.kept == 1);
    SA_CHECK(t, r.st.rejected[SA_CORPUS_EXACT_DUPLICATE] == 1);
    SA_CHECK(t, r.st.rejected[SA_CORPUS_NEAR_DUPLICATE] == 1);
    SA_CHECK(t, line_field(&r.out, 0, "id", &id0));
    SA_CHECK(t, line_field(&r.rej, 1, "detail", &f));
    char want[64];
    snprintf(want, sizeof want, "near-duplicate of %s", sa_strbuf_cstr(&id0));
    SA_CHECK_STR(t, sa_strbuf_cstr(&f), want);
    run_free(&r);
    sa_strbuf_free(&d); sa_strbuf_free(&p); sa_strbuf_free(&f); sa_strbuf_free(&id0);
}

/* Run over paths with default options; returns the output bytes. */
static int run_paths(sa_test *t, const char *const *paths, int n, const char *tag, sa_strbuf *out,
                     sa_corpus_stats *st) {
    sa_corpus_opts o;
    sa_corpus_default_opts(&o);
    sa_corpus *c;
    sa_err err = {0};
    if (sa_corpus_init(&c, &o, &err) != SA_OK) return 0;
    sa_status s = SA_OK;
    for (int i = 0; i < n && s == SA_OK; i++) s = sa_corpus_add_path(c, paths[i], &err);
    char name[64], op[512], sp[512];
    snprintf(name, sizeof name, "seg_%s.jsonl", tag);
    snprintf(op, sizeof op, "%s", sa_test_tmpfile(t, name));
    snprintf(name, sizeof name, "stats_%s.json", tag);
    snprintf(sp, sizeof sp, "%s", sa_test_tmpfile(t, name));
    if (s == SA_OK) s = sa_corpus_write(c, op, NULL, sp, &err);
    if (s == SA_OK) *st = *sa_corpus_get_stats(c);
    sa_corpus_free(c);
    SA_CHECKF(t, s == SA_OK, "%s", err.msg);
    if (s != SA_OK) return 0;
    json_t *js;
    SA_CHECK_OK(t, sa_json_load_file(sp, 0, &js, &err), &err);
    if (js) {
        int64_t seg = -1, kept = -1, rt = -1;
        sa_json_get_int(js, "segments", true, &seg, NULL, NULL);
        sa_json_get_int(js, "kept", true, &kept, NULL, NULL);
        sa_json_get_int(js, "rejected_total", true, &rt, NULL, NULL);
        SA_CHECK(t, seg >= 0 && seg == kept + rt && (uint64_t)seg == st->segments);
        json_decref(js);
    }
    return sa_file_read_strbuf(op, out, &err) == SA_OK;
}

static void test_real_slice_and_determinism(sa_test *t) {
    /* sa_test_data reuses its buffer: copy each path */
    static const char *const rel[3] = {"corpus/wikitext-2", "corpus/exllamav2_cal/wiki.utf8",
                                       "corpus/misc/c4_demo.jsonl"};
    char buf[3][512];
    const char *paths[3];
    for (int i = 0; i < 3; i++) {
        const char *p = sa_test_data(t, rel[i]);
        if (!p) return;
        snprintf(buf[i], sizeof buf[i], "%s", p);
        paths[i] = buf[i];
    }
    sa_strbuf o1 = {0}, o2 = {0};
    sa_corpus_stats s1, s2;
    SA_REQUIRE(t, run_paths(t, paths, 3, "a", &o1, &s1));
    SA_REQUIRE(t, run_paths(t, paths, 3, "b", &o2, &s2));
    SA_CHECK(t, s1.files == 5); /* wikitext-2 holds README.upstream, test.txt, valid.txt */
    SA_CHECK(t, s1.segments == s1.kept + sum_rej(&s1));
    SA_CHECK(t, s1.kept > 100);
    SA_CHECK(t, (int)s1.kept == count_lines(&o1));
    SA_CHECK(t, s1.rejected[SA_CORPUS_TOO_SHORT] > 0 && s1.rejected[SA_CORPUS_TOO_LONG] > 0);
    SA_CHECK(t, o1.len == o2.len && memcmp(o1.buf, o2.buf, o1.len) == 0);
    sa_strbuf_free(&o1); sa_strbuf_free(&o2);
}

static void test_missing_path(sa_test *t) {
    sa_corpus_opts o;
    sa_corpus_default_opts(&o);
    sa_corpus *c;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_corpus_init(&c, &o, &err), &err);
    SA_CHECK(t, sa_corpus_add_path(c, "/nonexistent/corpus/dir", &err) == SA_ERR_IO);
    SA_CHECK(t, strstr(err.msg, "/nonexistent/corpus/dir") != NULL);
    sa_corpus_free(c);
    o.min_chars = 5000;
    SA_CHECK(t, sa_corpus_init(&c, &o, &err) == SA_ERR_INVALID_ARG);
}

static void test_cli(sa_test *t) {
    run_result r;
    if (!run(t, &r, NULL, "corpus", NULL)) return; /* --in and --out are required */
    SA_CHECK_EQ_INT(t, r.rc, 2);
    CHECK_HAS(t, ERR(r), "--in");
    result_free(&r);
    char dir[512], in[600], out[600], rej[600], stats[600];
    snprintf(dir, sizeof dir, "%s", sa_test_tmpdir(t));
    snprintf(in, sizeof in, "%s/cli_in.md", dir);
    snprintf(out, sizeof out, "%s/cli_seg.jsonl", dir);
    snprintf(rej, sizeof rej, "%s/cli_rej.jsonl", dir);
    snprintf(stats, sizeof stats, "%s/stats.json", dir);
    run(t, &r, NULL, "corpus", "--in", in, "--out", out, "--min-chars", "900", "--max-chars", "100", NULL);
    SA_CHECK_EQ_INT(t, r.rc, 2);
    result_free(&r);
    run(t, &r, NULL, "corpus", "--in", in, "--out", out, "--dedup-threshold", "2", NULL);
    SA_CHECK_EQ_INT(t, r.rc, 2);
    result_free(&r);
    run(t, &r, NULL, "corpus", "--in", in, "--out", out, NULL); /* input missing */
    SA_CHECK_EQ_INT(t, r.rc, 1);
    CHECK_HAS(t, ERR(r), "cli_in.md");
    result_free(&r);
    sa_strbuf d = {0};
    sa_strbuf_puts(&d, "# Rivers\n\n"); prose(&d, 60, 800);
    sa_strbuf_puts(&d, "\n\n# Menu\n\n"); prose(&d, 61, 800);
    SA_REQUIRE(t, sa_test_write_file(t, in, d.buf, d.len));
    sa_strbuf_free(&d);
    run(t, &r, NULL, "corpus", "--in", in, "--out", out, "--rejected", rej, NULL);
    SA_CHECK_EQ_INT(t, r.rc, 0);
    result_free(&r);
    sa_strbuf a = {0}, b = {0};
    slurp(out, &a);
    SA_CHECK_EQ_INT(t, count_lines(&a), 1);
    slurp(rej, &b);
    CHECK_HAS(t, sa_strbuf_cstr(&b), "boilerplate_header");
    sa_strbuf_reset(&b);
    slurp(stats, &b); /* default: stats.json beside --out */
    CHECK_HAS(t, sa_strbuf_cstr(&b), "\"kept\":1");
    run(t, &r, NULL, "corpus", "--in", in, "--out", out, NULL); /* rerun = resume */
    SA_CHECK_EQ_INT(t, r.rc, 0);
    result_free(&r);
    sa_strbuf_reset(&b);
    slurp(out, &b);
    SA_CHECK(t, a.len == b.len && memcmp(a.buf, b.buf, a.len) == 0);
    sa_strbuf_free(&a); sa_strbuf_free(&b);
}

static const sa_test_def tests[] = {
    {"cli", test_cli},
    {"markdown_sections", test_markdown_sections},
    {"wikitext_headers", test_wikitext_headers},
    {"html", test_html},
    {"doc_dump", test_doc_dump},
    {"headerless_groups", test_headerless_groups},
    {"jsonl_input", test_jsonl_input},
    {"filters", test_filters},
    {"hostile_input", test_hostile_input},
    {"dedup_in_corpus", test_dedup_in_corpus},
    {"real_slice_and_determinism", test_real_slice_and_determinism},
    {"missing_path", test_missing_path},
};
SA_TEST_MAIN(tests)
