/* test_minhash.c — normalisation, MinHash estimates, exact and near dedup
 * (recall on lightly edited copies, no false merges). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/fileio.h"
#include "sa/minhash.h"
#include "sa/rng.h"
#include "sa/strbuf.h"
#include "sa_test.h"

static void test_normalize(sa_test *t) {
    sa_strbuf o = {0};
    SA_CHECK(t, sa_text_normalize("  Hello,  WORLD!\n\tIt's  ok. ", 28, &o) == SA_OK);
    SA_CHECK_STR(t, sa_strbuf_cstr(&o), "hello world it s ok");
    sa_strbuf_reset(&o);
    SA_CHECK(t, sa_text_normalize("", 0, &o) == SA_OK);
    SA_CHECK_STR(t, sa_strbuf_cstr(&o), "");
    sa_strbuf_free(&o);
}

static void test_signature_similarity(sa_test *t) {
    sa_minhash_opts o;
    sa_minhash_default_opts(&o);
    const char *a = "the quick brown fox jumps over the lazy dog and runs far away into the deep green forest";
    const char *b = "the quick brown fox jumps over the lazy cat and runs far away into the deep green forest";
    const char *c = "completely different words make up this other sentence with nothing much in common at all";
    uint64_t sa[128], sb[128], sc[128], sa2[128];
    sa_minhash_signature(&o, a, strlen(a), sa);
    sa_minhash_signature(&o, a, strlen(a), sa2);
    sa_minhash_signature(&o, b, strlen(b), sb);
    sa_minhash_signature(&o, c, strlen(c), sc);
    SA_CHECK(t, sa_minhash_similarity(sa, sa2, 128) == 1.0);
    double ab = sa_minhash_similarity(sa, sb, 128), ac = sa_minhash_similarity(sa, sc, 128);
    /* 16 word 3-grams each, one word differs so 3 differ: true Jaccard
     * 13/19 = 0.68; the estimate has sd ~0.04 at 128 permutations */
    SA_CHECKF(t, ab > 0.5 && ab < 0.85, "ab = %g", ab);
    SA_CHECKF(t, ac < 0.05, "ac = %g", ac);
    o.seed = 7;
    uint64_t s7[128];
    sa_minhash_signature(&o, a, strlen(a), s7);
    SA_CHECK(t, memcmp(s7, sa, sizeof s7) != 0);
}

static void test_exact_dedup(sa_test *t) {
    sa_minhash_opts o;
    sa_minhash_default_opts(&o);
    sa_dedup *d;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_dedup_init(&d, &o, &err), &err);
    sa_dedup_result r;
    SA_CHECK_OK(t, sa_dedup_add(d, "Hello, World. This is it.", 25, 1, &r, &err), &err);
    SA_CHECK(t, r.kind == SA_DEDUP_NEW);
    SA_CHECK_OK(t, sa_dedup_add(d, "hello world -- this IS it", 25, 1, &r, &err), &err);
    SA_CHECK(t, r.kind == SA_DEDUP_EXACT && r.dup_of == 0);
    SA_CHECK_OK(t, sa_dedup_add(d, "something else", 14, 1, &r, &err), &err);
    SA_CHECK(t, r.kind == SA_DEDUP_NEW);
    SA_CHECK(t, sa_dedup_count(d) == 2);
    sa_dedup_free(d);
    o.bands = 7; /* 128 % 7 != 0 */
    SA_CHECK(t, sa_dedup_init(&d, &o, &err) == SA_ERR_INVALID_ARG);
    SA_CHECK(t, d == NULL);
}

/* Lightly edit text: replace 2 words, insert 1, delete 1 at spread
 * positions (about 20 of ~250 word 5-grams change: true Jaccard ~0.85). */
static void edit_copy(const char *src, size_t n, uint64_t seed, sa_strbuf *out) {
    size_t nw = 0;
    for (size_t i = 0; i < n; i++) if (src[i] == ' ') nw++;
    size_t pos[4];
    for (int k = 0; k < 4; k++) pos[k] = (seed * 2654435761u + (uint64_t)k * (nw / 4 + 1) + 7) % (nw ? nw : 1);
    size_t w = 0;
    sa_strbuf_reset(out);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && src[j] != ' ') j++;
        int action = -1;
        for (int k = 0; k < 4; k++) if (pos[k] == w) action = k;
        if (action >= 0 && action < 2) sa_strbuf_puts(out, "zebra");
        else if (action == 2) { sa_strbuf_puts(out, "indeed "); sa_strbuf_append(out, src + i, j - i); }
        else if (action == 3) { /* deleted */ }
        else sa_strbuf_append(out, src + i, j - i);
        if (j < n && action != 3) sa_strbuf_putc(out, ' ');
        i = j < n ? j + 1 : n;
        w++;
    }
}

/* 50 distinct documents then an edited copy of each: every copy must match
 * its own original (>= 90%), no original may merge with another. */
static void run_recall(sa_test *t, char docs[50][1600], size_t lens[50]) {
    sa_minhash_opts o;
    sa_minhash_default_opts(&o);
    sa_dedup *d;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_dedup_init(&d, &o, &err), &err);
    sa_dedup_result r;
    int false_merge = 0, found = 0, wrong = 0;
    for (int i = 0; i < 50; i++) {
        SA_CHECK_OK(t, sa_dedup_add(d, docs[i], lens[i], 1, &r, &err), &err);
        if (r.kind != SA_DEDUP_NEW) false_merge++;
    }
    sa_strbuf e = {0};
    for (int i = 0; i < 50; i++) {
        edit_copy(docs[i], lens[i], (uint64_t)i + 1, &e);
        SA_CHECK_OK(t, sa_dedup_add(d, e.buf, e.len, 1, &r, &err), &err);
        if (r.kind == SA_DEDUP_NEAR && r.dup_of == (uint64_t)i) found++;
        else if (r.kind != SA_DEDUP_NEW) wrong++;
    }
    sa_strbuf_free(&e);
    SA_CHECKF(t, false_merge == 0, "%d originals merged", false_merge);
    SA_CHECKF(t, found >= 45, "found %d / 50 edited copies", found);
    SA_CHECKF(t, wrong == 0, "%d copies matched the wrong original", wrong);
    sa_dedup_free(d);
}

static void test_near_dedup_real_text(sa_test *t) {
    const char *p = sa_test_data(t, "corpus/misc/wiki_demo.txt");
    if (!p) return;
    sa_strbuf f = {0};
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_file_read_strbuf(p, &f, &err), &err);
    SA_REQUIRE(t, f.len > 50 * 20000);
    static char docs[50][1600];
    size_t lens[50];
    for (int i = 0; i < 50; i++) {
        size_t s = (size_t)i * 20000;
        while (f.buf[s] != ' ') s++;
        s++;
        size_t n = 1500;
        while (f.buf[s + n] != ' ') n--;
        memcpy(docs[i], f.buf + s, n);
        for (size_t k = 0; k < n; k++) if (docs[i][k] == '\n') docs[i][k] = ' ';
        lens[i] = n;
    }
    sa_strbuf_free(&f);
    run_recall(t, docs, lens);
}

static void test_near_dedup_generated(sa_test *t) {
    static const char *const words[] = {"river", "stone", "light", "market", "winter", "paper", "engine",
        "garden", "silver", "doctor", "island", "window", "forest", "signal", "harbor", "letter",
        "mountain", "circle", "thunder", "planet", "village", "bridge", "candle", "mirror", "ocean",
        "pepper", "rocket", "shadow", "teacher", "valley", "whistle", "yellow"};
    static char docs[50][1600];
    size_t lens[50];
    uint64_t x = 12345;
    for (int i = 0; i < 50; i++) {
        size_t n = 0;
        while (n < 1450) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            const char *w = words[(x >> 33) % 32];
            size_t l = strlen(w);
            memcpy(docs[i] + n, w, l);
            n += l;
            docs[i][n++] = ' ';
        }
        lens[i] = n - 1;
    }
    run_recall(t, docs, lens);
}

static const sa_test_def tests[] = {
    {"normalize", test_normalize},
    {"signature_similarity", test_signature_similarity},
    {"exact_dedup", test_exact_dedup},
    {"near_dedup_generated", test_near_dedup_generated},
    {"near_dedup_real_text", test_near_dedup_real_text},
};
SA_TEST_MAIN(tests)
