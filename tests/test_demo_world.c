/* test_demo_world.c — the demo world (demo_world.h): determinism, junk that
 * the corpus stage rejects and junk it cannot see, held-out genres absent
 * from the seed and the pretraining text, single-token names, the checker
 * and its chance levels, and `selfalign demo --quick` end to end. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sa/corpus.h"
#include "sa/demo_world.h"
#include "sa/fileio.h"
#include "sa/json.h"
#include "sa/strbuf.h"
#include "sa/tokenizer.h"
#include "sa_test.h"
#include "sa_test_run.h"

static const char *const k_files[] = {"world.json", "tokenizer/tokenizer.json", "tokenizer/tokenizer_config.json",
                                      "pretrain.jsonl", "unlabeled/pages.jsonl", "pages_truth.jsonl",
                                      "seed.jsonl", "eval.jsonl"};
#define N_FILES (sizeof k_files / sizeof k_files[0])

static bool write_world(sa_test *t, const char *name, uint64_t seed, sa_demo_world_stats *st) {
    sa_demo_world_opts o = sa_demo_world_defaults(true);
    o.seed = seed;
    sa_err err = {0};
    sa_demo_world_stats local;
    int s = sa_demo_world_write(&o, sa_test_tmpfile(t, name), st ? st : &local, &err);
    SA_CHECKF(t, s == 0, "sa_demo_world_write: %s", err.msg);
    return s == 0;
}

static void slurp_rel(sa_test *t, const char *dir, const char *rel, sa_strbuf *out) {
    sa_strbuf p = {0};
    sa_path_join(&p, sa_test_tmpfile(t, dir), rel);
    sa_strbuf_reset(out);
    slurp(sa_strbuf_cstr(&p), out);
    sa_strbuf_free(&p);
}

static void determinism(sa_test *t) {
    SA_REQUIRE(t, write_world(t, "a", 7, NULL) && write_world(t, "b", 7, NULL) && write_world(t, "c", 8, NULL));
    sa_strbuf x = {0}, y = {0}, z = {0};
    int differ = 0;
    for (size_t i = 0; i < N_FILES; i++) {
        slurp_rel(t, "a", k_files[i], &x);
        slurp_rel(t, "b", k_files[i], &y);
        slurp_rel(t, "c", k_files[i], &z);
        SA_CHECKF(t, x.len > 0, "%s is empty or missing", k_files[i]);
        SA_CHECKF(t, x.len == y.len && memcmp(x.buf, y.buf, x.len) == 0, "%s differs for the same seed", k_files[i]);
        differ += x.len != z.len || memcmp(x.buf, z.buf, x.len) != 0;
    }
    SA_CHECKF(t, differ >= 6, "another seed changed only %d files", differ);
    sa_strbuf_free(&x);
    sa_strbuf_free(&y);
    sa_strbuf_free(&z);
}

/* Count of lines of `buf` containing `needle`. */
static int count_lines_with(const sa_strbuf *buf, const char *needle) {
    int n = 0;
    const char *p = buf->buf ? buf->buf : "";
    while ((p = strstr(p, needle)) != NULL) {
        n++;
        const char *nl = strchr(p, '\n');
        if (!nl) break;
        p = nl + 1;
    }
    return n;
}

static void junk_and_corpus(sa_test *t) {
    sa_demo_world_stats st;
    SA_REQUIRE(t, write_world(t, "w", 3, &st));
    for (int k = 0; k < SA_DEMO_PAGE_KIND_COUNT; k++)
        SA_CHECKF(t, st.pages_by_kind[k] > 0, "no page of kind %s", sa_demo_page_kind_name((sa_demo_page_kind)k));
    sa_strbuf pages = {0};
    slurp_rel(t, "w", "unlabeled/pages.jsonl", &pages);
    SA_CHECK(t, count_lines_with(&pages, "Cookie") > 0);
    SA_CHECK(t, count_lines_with(&pages, "Main menu") + count_lines_with(&pages, "# Menu") > 0);
    SA_CHECK(t, count_lines_with(&pages, " said: ") > 0);
    SA_CHECK(t, count_lines_with(&pages, "https://") > 0);
    sa_strbuf_free(&pages);

    /* the corpus stage, with the demo's length bounds */
    sa_corpus_opts co;
    sa_corpus_default_opts(&co);
    co.min_chars = 40;
    co.max_chars = 1500;
    sa_corpus *c = NULL;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_corpus_init(&c, &co, &err), &err);
    sa_strbuf dir = {0}, seg = {0};
    sa_path_join(&dir, sa_test_tmpfile(t, "w"), "unlabeled");
    SA_CHECK_OK(t, sa_corpus_add_path(c, sa_strbuf_cstr(&dir), &err), &err);
    SA_CHECK_OK(t, sa_corpus_write(c, sa_test_tmpfile(t, "seg.jsonl"), NULL, NULL, &err), &err);
    const sa_corpus_stats *cs = sa_corpus_get_stats(c);
    SA_CHECK_EQ_INT(t, cs->documents, st.pages);
    SA_CHECK(t, cs->rejected[SA_CORPUS_BOILERPLATE_HEADER] > 0);
    SA_CHECK(t, cs->rejected[SA_CORPUS_NEAR_DUPLICATE] > 0);
    SA_CHECK(t, cs->rejected[SA_CORPUS_EXACT_DUPLICATE] > 0);
    SA_CHECK(t, cs->rejected[SA_CORPUS_FEW_LETTERS] > 0);
    SA_CHECK(t, cs->rejected[SA_CORPUS_TOO_SHORT] > 0);
    /* ...and junk it cannot see stays for curation: comment threads, and
     * the clean held-out documents are kept */
    slurp(sa_test_tmpfile(t, "seg.jsonl"), &seg);
    SA_CHECK(t, count_lines_with(&seg, " said: ") > 0);
    SA_CHECK(t, count_lines_with(&seg, "\\nmorning: ") > 0);
    SA_CHECK(t, count_lines_with(&seg, "boilerplate") == 0);
    sa_corpus_free(c);
    sa_strbuf_free(&dir);
    sa_strbuf_free(&seg);
}

/* Text that only a held-out genre's document contains. */
static const char *const k_heldout_marks[] = {
    "Here is a timetable for", "Here is a recipe for", "Here is a riddle for", "Here is a ledger for",
    "Here is a notice for", "That was the timetable.", "That was the notice.", "\\nmorning: ",
    "\\nnoon: rest", "\\nevening: ", "\\nTake the ", "\\nMix it well.", "\\nServe it to ", "\\nWhat has a ",
    "\\nAsk ", "\\nsold: ", "| one coin", "\\nbuyer: ", "| two coins", "\\nWanted: ", "\\nSigned, "};

/* Decoys: for every held-out genre more decoy pages than clean ones, and
 * each decoy holds a document's opening and closing lines around the
 * slogan and adverts, but none of the genre's form lines. */
static void decoys(sa_test *t) {
    SA_REQUIRE(t, write_world(t, "d", 3, NULL));
    sa_strbuf pages = {0}, truth = {0};
    slurp_rel(t, "d", "unlabeled/pages.jsonl", &pages);
    slurp_rel(t, "d", "pages_truth.jsonl", &truth);
    int clean[SA_DEMO_GENRES] = {0}, decoy[SA_DEMO_GENRES] = {0};
    const char *pl = pages.buf, *tl = truth.buf;
    while (pl && tl && *pl && *tl) {
        json_error_t je;
        json_t *p = json_loadb(pl, strcspn(pl, "\n"), 0, &je), *r = json_loadb(tl, strcspn(tl, "\n"), 0, &je);
        SA_REQUIRE(t, p && r);
        const char *kind = json_string_value(json_object_get(r, "kind")), *text = json_string_value(json_object_get(p, "text"));
        const char *gn = json_string_value(json_object_get(r, "genre"));
        int g = gn ? sa_demo_genre_find(gn, strlen(gn)) : -1;
        SA_REQUIRE(t, kind && text);
        if (g >= 0 && strcmp(kind, "clean") == 0) clean[g]++;
        if (g >= 0 && strcmp(kind, "decoy") == 0) {
            decoy[g]++;
            char open[64], close[64], slogan[96];
            snprintf(open, sizeof open, "Here is a %s for ", gn);
            snprintf(slogan, sizeof slogan, "\nThe best %s prices of the season, only this week!\n", gn);
            snprintf(close, sizeof close, "\nThat was the %s.\n", gn);
            const char *o = strstr(text, open), *sl = strstr(text, slogan);
            const char *c = strstr(text, close);
            SA_CHECKF(t, o && sl && c && o < sl && sl < c, "decoy of %s lacks opening, slogan or closing: %s", gn, text);
            static const char *const form[] = {"\nmorning: ", "\nnoon: rest", "\nevening: ", "\nTake the ",
                                               "\nMix it well.", "\nServe it to ", "\nWhat has a ", "\nsold: ",
                                               "\nbuyer: ", "\nWanted: ", "\nSigned, "};
            for (size_t i = 0; i < sizeof form / sizeof form[0]; i++)
                SA_CHECKF(t, !strstr(text, form[i]), "a decoy holds the form line \"%s\": %s", form[i] + 1, text);
        }
        json_decref(p);
        json_decref(r);
        pl = strchr(pl, '\n'), tl = strchr(tl, '\n');
        if (pl) pl++;
        if (tl) tl++;
    }
    for (int g = 0; g < SA_DEMO_GENRES; g++)
        if (sa_demo_genre_heldout(g))
            SA_CHECKF(t, decoy[g] > clean[g] && clean[g] > 0, "%s: %d decoys, %d clean pages", sa_demo_genre_name(g),
                      decoy[g], clean[g]);
    sa_strbuf_free(&pages);
    sa_strbuf_free(&truth);
}

static void heldout_only_in_pages(sa_test *t) {
    SA_REQUIRE(t, write_world(t, "h", 5, NULL));
    sa_strbuf pre = {0}, seed = {0}, pages = {0}, eval = {0};
    slurp_rel(t, "h", "pretrain.jsonl", &pre);
    slurp_rel(t, "h", "seed.jsonl", &seed);
    slurp_rel(t, "h", "unlabeled/pages.jsonl", &pages);
    slurp_rel(t, "h", "eval.jsonl", &eval);
    SA_REQUIRE(t, pre.len && seed.len && pages.len && eval.len);
    for (size_t i = 0; i < sizeof k_heldout_marks / sizeof k_heldout_marks[0]; i++) {
        const char *m = k_heldout_marks[i];
        SA_CHECKF(t, !strstr(pre.buf, m), "held-out form \"%s\" in the pretraining text", m);
        SA_CHECKF(t, !strstr(seed.buf, m), "held-out form \"%s\" in the seed", m);
        SA_CHECKF(t, strstr(pages.buf, m) != NULL, "held-out form \"%s\" missing from the pages", m);
    }
    /* every eval answer (as JSON-escaped text) appears nowhere else */
    int n_eval = 0, n_held = 0;
    for (const char *p = eval.buf; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        json_t *j = NULL;
        sa_err err = {0};
        SA_REQUIRE_OK(t, sa_json_parse(p, len, "eval", &j, &err), &err);
        const char *ans = json_string_value(json_object_get(j, "answer"));
        const char *split = json_string_value(json_object_get(j, "split"));
        SA_REQUIRE(t, ans && split);
        json_t *as = json_string(ans);
        char *enc = json_dumps(as, JSON_ENCODE_ANY);
        SA_REQUIRE(t, enc);
        size_t el = strlen(enc);
        enc[el - 1] = '\0'; /* drop the quotes: match inside other JSON strings */
        SA_CHECKF(t, !strstr(pre.buf, enc + 1), "eval answer %s in the pretraining text", enc);
        SA_CHECKF(t, !strstr(seed.buf, enc + 1), "eval answer %s in the seed", enc);
        SA_CHECKF(t, !strstr(pages.buf, enc + 1), "eval answer %s in the pages", enc);
        sa_demo_task task;
        SA_CHECK(t, sa_demo_task_parse(json_string_value(json_object_get(j, "prompt")), &task));
        bool held = strcmp(split, "heldout") == 0;
        SA_CHECK(t, sa_demo_genre_heldout(task.genre) == held);
        n_eval++, n_held += held;
        free(enc);
        json_decref(as);
        json_decref(j);
        p = nl ? nl + 1 : NULL;
    }
    sa_demo_world_opts o = sa_demo_world_defaults(true);
    SA_CHECK_EQ_INT(t, n_held, 5 * o.n_eval_heldout);
    SA_CHECK_EQ_INT(t, n_eval, 5 * (o.n_eval_heldout + o.n_eval_seen));
    sa_strbuf_free(&pre);
    sa_strbuf_free(&seed);
    sa_strbuf_free(&pages);
    sa_strbuf_free(&eval);
}

static void single_token_names(sa_test *t) {
    SA_REQUIRE(t, write_world(t, "k", 9, NULL));
    sa_strbuf p = {0}, wj = {0};
    sa_path_join(&p, sa_test_tmpfile(t, "k"), "tokenizer");
    sa_tokenizer *tok = NULL;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_tokenizer_load(&tok, sa_strbuf_cstr(&p), &err), &err);
    slurp_rel(t, "k", "world.json", &wj);
    json_t *w = NULL;
    SA_REQUIRE_OK(t, sa_json_parse(wj.buf, wj.len, "world.json", &w, &err), &err);
    size_t i;
    json_t *v;
    int checked = 0;
    sa_tokens ids = {0};
    json_array_foreach(json_object_get(w, "entities"), i, v) {
        char buf[64];
        snprintf(buf, sizeof buf, " %s", json_string_value(json_object_get(v, "name")));
        ids.n = 0;
        SA_CHECK_OK(t, sa_tokenizer_encode(tok, buf, strlen(buf), 0, &ids, &err), &err);
        SA_CHECKF(t, ids.n == 1, "\"%s\" is %zu tokens", buf, ids.n);
        checked++;
    }
    json_array_foreach(json_object_get(w, "items"), i, v) {
        char buf[64];
        snprintf(buf, sizeof buf, " %s", json_string_value(v));
        ids.n = 0;
        SA_CHECK_OK(t, sa_tokenizer_encode(tok, buf, strlen(buf), 0, &ids, &err), &err);
        SA_CHECKF(t, ids.n == 1, "\"%s\" is %zu tokens", buf, ids.n);
        checked++;
    }
    SA_CHECK(t, checked >= 20);
    /* a page round-trips; the chat markers are special tokens */
    const char *txt = "# Notes\nHere is a timetable for Kel, all about rope.\nmorning: rope\n\n[1] https://x.example/?id=4";
    ids.n = 0;
    sa_strbuf back = {0};
    SA_CHECK_OK(t, sa_tokenizer_encode(tok, txt, strlen(txt), 0, &ids, &err), &err);
    SA_CHECK_OK(t, sa_tokenizer_decode(tok, ids.ids, ids.n, 0, &back, &err), &err);
    SA_CHECK_STR(t, sa_strbuf_cstr(&back), txt);
    SA_CHECK(t, sa_tokenizer_find(tok, "<|im_end|>", 10) >= 0);
    SA_CHECK(t, sa_tokenizer_chat_template(tok) && strstr(sa_tokenizer_chat_template(tok), "<|im_start|>"));
    sa_tokens_free(&ids);
    sa_strbuf_free(&back);
    json_decref(w);
    sa_tokenizer_free(tok);
    sa_strbuf_free(&p);
    sa_strbuf_free(&wj);
}

static void checker(sa_test *t) {
    sa_demo_task task;
    SA_REQUIRE(t, sa_demo_task_parse("  Write a timetable for Borl about rope. \n", &task));
    SA_CHECK_STR(t, sa_demo_genre_name(task.genre), "timetable");
    SA_CHECK_STR(t, task.entity, "Borl");
    SA_CHECK_STR(t, task.items[0], "rope");
    sa_demo_task u;
    SA_CHECK(t, sa_demo_task_parse("I need a ledger for Kel: salt.", &u) && strcmp(u.items[0], "salt") == 0);
    SA_CHECK(t, sa_demo_task_parse("Please make a song for Kel about the salt.", &u));
    SA_CHECK(t, !sa_demo_task_parse("Write a sonnet for Borl about rope.", &u)); /* not a genre */
    SA_CHECK(t, !sa_demo_task_parse("Write a timetable for Borl.", &u));

    struct {
        const char *answer;
        bool pass, form;
        double content;
    } cases[] = {
        {"Here is a timetable for Borl, all about rope.\nmorning: rope\nnoon: rest\nevening: Borl\nThat was the timetable.", true, true,
         1.0},
        {"\nHere is a timetable for Borl, all about rope.  \n\nmorning: rope\nnoon: rest\nevening: Borl\nThat was the timetable.\n\n", true,
         true, 1.0},
        {"Here is a timetable for Borl, all about salt.\nmorning: salt\nnoon: rest\nevening: Borl\nThat was the timetable.", false, true,
         0.5}, /* wrong item */
        {"Here is a timetable for Borl, all about rope.\nmorning: rope\nnoon: rest\nevening: Kel\nThat was the timetable.", false, true,
         1.0}, /* a slot disagrees with the first line: the form holds, the answer fails */
        {"Here is a timetable for Borl, all about rope.\nmorning: rope\nnoon: rest", false, false, 1.0}, /* cut */
        {"Here is a timetable for Borl, all about rope.\nmorning: rope\nnoon: rest\nevening: Borl\nThat was the timetable.\nKel said: First! "
         "Reply",
         false, false, 1.0}, /* junk tail */
        {"Here is a list for Borl, all about rope.\n- rope\n- rope for Borl\n- done\nThat was the list.", false, false,
         1.0}, /* seen form */
        {"Here is a recipe for Borl, all about rope.\nTake the rope.\nMix it well.\nServe it to Borl.\nThat was the recipe.", false, false,
         1.0}, /* another held-out form */
        {"here is a timetable for Borl, all about rope.\nmorning: rope\nnoon: rest\nevening: Borl\nThat was the timetable.", false, false,
         1.0}, /* case */
        {"Here is a timetable for Borl, all about rope.\nmorning: rope\nnoon: rest\nevening: Borl\nThat was the "
         "recipe.",
         false, false, 1.0}, /* the closing line names another genre */
        {"", false, false, 0.0},
        {"Borl likes ropes.", false, false, 0.5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sa_demo_score sc;
        sa_demo_check(&task, cases[i].answer, strlen(cases[i].answer), &sc);
        SA_CHECKF(t, sc.pass == cases[i].pass && sc.form == cases[i].form && fabs(sc.content - cases[i].content) < 1e-9,
                  "case %zu: pass %d form %d content %.2f", i, sc.pass, sc.form, sc.content);
    }
    /* render and parse are inverses for every genre and template */
    for (int g = 0; g < SA_DEMO_GENRES; g++) {
        sa_demo_task x = {.genre = g, .entity = "Kel", .items = {"salt"}}, y;
        sa_strbuf doc = {0}, ins = {0};
        SA_CHECK_OK(t, sa_demo_render(&x, &doc), NULL);
        SA_CHECKF(t, sa_demo_doc_parse(doc.buf, doc.len, &y) && y.genre == g && strcmp(y.items[0], "salt") == 0,
                  "genre %s does not parse back", sa_demo_genre_name(g));
        sa_demo_score sc;
        sa_demo_check(&x, doc.buf, doc.len, &sc);
        SA_CHECK(t, sc.pass && sc.form && sc.content == 1.0);
        for (int k = 0; k < sa_demo_template_count(); k++) {
            sa_strbuf_reset(&ins);
            SA_CHECK_OK(t, sa_demo_instruction(&x, k, &ins), NULL);
            SA_CHECK(t, sa_demo_task_parse(sa_strbuf_cstr(&ins), &y) && y.genre == g && strcmp(y.entity, "Kel") == 0);
        }
        sa_strbuf_free(&doc);
        sa_strbuf_free(&ins);
    }
    int held = 0;
    for (int g = 0; g < SA_DEMO_GENRES; g++) held += sa_demo_genre_heldout(g);
    SA_CHECK_EQ_INT(t, held, 5);
}

static void chance_levels(sa_test *t) {
    sa_demo_world_stats st;
    SA_REQUIRE(t, write_world(t, "ch", 11, &st));
    /* pass needs the instruction's own words: a reply to another request
     * essentially never passes; form is right when the genres match (1 in 5
     * held-out genres, a little less because an item may repeat) */
    SA_CHECK(t, st.chance_pass < 0.01);
    SA_CHECKF(t, st.chance_form > 0.12 && st.chance_form < 0.25, "form chance %.3f", st.chance_form);
    SA_CHECKF(t, st.chance_content > 0.0 && st.chance_content < 0.4, "content chance %.3f", st.chance_content);
    sa_strbuf wj = {0};
    slurp_rel(t, "ch", "world.json", &wj);
    json_t *w = NULL;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_json_parse(wj.buf, wj.len, "world.json", &w, &err), &err);
    json_t *c = json_object_get(json_object_get(w, "chance"), "heldout");
    SA_CHECK(t, fabs(json_real_value(json_object_get(c, "form")) - st.chance_form) < 1e-9);
    SA_CHECK(t, fabs(json_real_value(json_object_get(c, "pass")) - st.chance_pass) < 1e-9);
    /* the measured levels, recomputed by hand for two tasks */
    sa_demo_task two[2] = {{.genre = 5, .entity = "Kel", .items = {"salt"}},
                           {.genre = 5, .entity = "Kel", .items = {"rope"}}};
    sa_demo_chance ch;
    SA_CHECK_OK(t, sa_demo_chance_of(two, 2, &ch, &err), &err);
    SA_CHECK(t, ch.pass == 0.0 && ch.form == 1.0 && fabs(ch.content - 0.5) < 1e-9);
    json_decref(w);
    sa_strbuf_free(&wj);
}

static long count_lines(const char *path) {
    sa_strbuf b = {0};
    slurp(path, &b);
    long n = 0;
    for (size_t i = 0; i < b.len; i++) n += b.buf[i] == '\n';
    sa_strbuf_free(&b);
    return n;
}

/* Occurrences of needle in hay. */
static long count_of(const char *hay, const char *needle) {
    long n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
    return n;
}

/* The report is one well-formed page: doctype to </html>, every opened
 * element of the kinds it uses closed, the demo's sections present. */
static void check_report(sa_test *t, const char *file) {
    sa_strbuf b = {0};
    slurp(file, &b);
    const char *h = b.buf ? b.buf : "";
    SA_CHECKF(t, strncmp(h, "<!DOCTYPE html>", 15) == 0, "%s does not start with a doctype", file);
    SA_CHECKF(t, b.len > 8 && strstr(h + b.len - 9, "</html>") != NULL, "%s does not end with </html>", file);
    static const char *const tags[] = {"section", "table", "div", "svg", "details", "tr", "h2", "h3"};
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
        char open[32], close[32];
        snprintf(open, sizeof open, "<%s", tags[i]);
        snprintf(close, sizeof close, "</%s>", tags[i]);
        long no = count_of(h, open) - count_of(h, close);
        SA_CHECKF(t, no == 0, "%s: <%s> opened and closed %ld times apart", file, tags[i], no);
    }
    static const char *const must[] = {"Stage timeline", "Task accuracy", "Reference likelihood",
                                       "Pairwise comparisons", "M0", "M2", "control (uncurated)", "copy_probe"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++) CHECK_HAS(t, h, must[i]);
    sa_strbuf_free(&b);
}

/* Every one of the n paths rel[] exists under dir. */
static void check_exist(sa_test *t, const char *dir, const char *const *rel, size_t n) {
    sa_strbuf p = {0};
    for (size_t i = 0; i < n; i++) {
        sa_strbuf_reset(&p);
        sa_path_join(&p, dir, rel[i]);
        SA_CHECKF(t, sa_path_exists(sa_strbuf_cstr(&p)), "missing %s", rel[i]);
    }
    sa_strbuf_free(&p);
}

/* A base below the copy-probe gate is set aside and pretrained again from
 * another initialisation, three times in all; then the demo stops with a
 * message, and a rerun does not start over. The quick base cannot copy, so
 * a gate of 1 fails every attempt. */
static void base_retry(sa_test *t) {
    const char *out = sa_test_tmpfile(t, "retry");
    run_result r;
    if (!run(t, &r, NULL, "demo", "--quick", "--out", out, "--threads", "2", "--quiet", "--pretrain-steps", "20",
             "--min-copy-probe", "1", NULL))
        return;
    SA_CHECKF(t, r.rc != 0, "demo passed a gate of 1 with a quick base:\n%s", ERR(r));
    CHECK_HAS(t, ERR(r), "setting it aside (base-failed-1)");
    CHECK_HAS(t, ERR(r), "setting it aside (base-failed-2)");
    CHECK_HAS(t, ERR(r), "below --min-copy-probe 1");
    SA_CHECK(t, !strstr(ERR(r), "base-failed-3"));
    result_free(&r);
    static const char *const dirs[] = {"base-failed-1/model/config.json", "init-failed-1/config.json",
                                       "base-failed-2/model/config.json", "base/model/config.json"};
    check_exist(t, out, dirs, sizeof dirs / sizeof dirs[0]);
    sa_strbuf p = {0}, a = {0}, b = {0};
    /* each attempt started from another initialisation */
    sa_strbuf_reset(&p);
    sa_path_join(&p, out, "init-failed-1/model.safetensors");
    slurp(sa_strbuf_cstr(&p), &a);
    sa_strbuf_reset(&p);
    sa_path_join(&p, out, "init/model.safetensors");
    slurp(sa_strbuf_cstr(&p), &b);
    SA_CHECK(t, a.len > 0 && a.len == b.len && memcmp(a.buf, b.buf, a.len) != 0);
    /* a rerun probes the last base again and stops; nothing is pretrained anew */
    if (!run(t, &r, NULL, "demo", "--quick", "--out", out, "--threads", "2", "--quiet", "--pretrain-steps", "20",
             "--min-copy-probe", "1", NULL))
        return;
    SA_CHECK(t, r.rc != 0);
    CHECK_HAS(t, ERR(r), "base model already pretrained");
    SA_CHECK(t, !strstr(ERR(r), "pretraining the base"));
    result_free(&r);
    sa_strbuf_free(&p);
    sa_strbuf_free(&a);
    sa_strbuf_free(&b);
}

static void quick_demo(sa_test *t) {
    const char *out = sa_test_tmpfile(t, "demo");
    run_result r;
    if (!run(t, &r, NULL, "demo", "--quick", "--out", out, "--threads", "2", "--quiet", NULL)) return;
    SA_CHECKF(t, r.rc == 0, "demo --quick failed (%d):\n%s", r.rc, ERR(r));
    CHECK_HAS(t, OUT(r), "RESULT seed=1 model=m2 ");
    CHECK_HAS(t, OUT(r), "RESULT seed=1 model=control ");
    CHECK_HAS(t, OUT(r), "RESULT seed=1 pairwise=m2-m0 ");
    CHECK_HAS(t, OUT(r), "report: ");
    CHECK_HAS(t, ERR(r), "demo [");
    result_free(&r);
    static const char *const must[] = {"world/world.json", "world/eval.jsonl", "world/prompts/principles.txt",
                                       "base/model/config.json", "manifest.json", "report.html",
                                       "humpback/manifest.json", "humpback/m0/model/model.safetensors",
                                       "humpback/m1/model/model.safetensors", "humpback/m2/model/model.safetensors",
                                       "humpback/control/model/model.safetensors", "humpback/curate-2/scored.jsonl",
                                       "dromedary/manifest.json", "eval/heldout-m0.json", "eval/heldout-m2.json",
                                       "eval/seen-control.json", "eval/nll-heldout-m1.json",
                                       "eval/pairwise-heldout-m2-m0.json", "demo_results.json"};
    check_exist(t, out, must, sizeof must / sizeof must[0]);
    sa_strbuf p = {0};
    sa_path_join(&p, out, "report.html");
    check_report(t, sa_strbuf_cstr(&p));
    sa_strbuf_reset(&p);
    sa_path_join(&p, out, "world/eval.jsonl");
    long n_eval = count_lines(sa_strbuf_cstr(&p));
    sa_strbuf_reset(&p);
    sa_path_join(&p, out, "humpback/augment/candidates.jsonl");
    long n_cand = count_lines(sa_strbuf_cstr(&p));
    sa_strbuf_reset(&p);
    sa_path_join(&p, out, "demo_results.json");
    json_t *j = NULL;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_json_load_file(sa_strbuf_cstr(&p), 1 << 24, &j, &err), &err);
    json_t *m = json_object_get(j, "models");
    const char *names[] = {"m0", "m1", "m2", "control"};
    long n_held = (long)json_integer_value(json_object_get(json_object_get(json_object_get(j, "world"), "sizes"),
                                                           "eval_heldout"));
    SA_CHECK(t, n_held > 0 && n_held < n_eval);
    for (int k = 0; k < 4; k++) {
        json_t *h = json_object_get(json_object_get(m, names[k]), "heldout");
        json_t *s = json_object_get(json_object_get(m, names[k]), "seen");
        SA_CHECKF(t, json_integer_value(json_object_get(h, "n")) == n_held, "%s held-out n", names[k]);
        SA_CHECKF(t, json_integer_value(json_object_get(h, "n")) + json_integer_value(json_object_get(s, "n")) == n_eval,
                  "%s: held-out + seen != eval items", names[k]);
        double pass = json_real_value(json_object_get(h, "pass"));
        SA_CHECK(t, pass >= 0 && pass <= 1);
        /* every eval item answered once, in one split's items file or the other */
        long lines = 0;
        const char *splits[] = {"heldout", "seen"};
        for (int q = 0; q < 2; q++) {
            char rel[64];
            snprintf(rel, sizeof rel, "eval/%s-%s.items.jsonl", splits[q], names[k]);
            sa_strbuf_reset(&p);
            sa_path_join(&p, out, rel);
            lines += count_lines(sa_strbuf_cstr(&p));
        }
        SA_CHECKF(t, lines == n_eval, "%s: %ld answers for %ld eval items", names[k], lines, n_eval);
        /* the task summary the report reads agrees with demo_results.json */
        char rel[64];
        snprintf(rel, sizeof rel, "eval/heldout-%s.json", names[k]);
        sa_strbuf_reset(&p);
        sa_path_join(&p, out, rel);
        json_t *e = NULL;
        SA_REQUIRE_OK(t, sa_json_load_file(sa_strbuf_cstr(&p), 1 << 24, &e, &err), &err);
        SA_CHECK(t, strcmp(json_string_value(json_object_get(e, "kind")), "task") == 0);
        SA_CHECK_EQ_INT(t, json_integer_value(json_object_get(e, "n")), n_held);
        double acc = json_real_value(json_object_get(e, "accuracy"));
        json_t *ci = json_object_get(e, "ci");
        SA_CHECK(t, fabs(acc - pass) < 1e-9);
        SA_CHECK(t, json_real_value(json_array_get(ci, 0)) <= acc + 1e-12 && acc <= json_real_value(json_array_get(ci, 1)) + 1e-12);
        json_decref(e);
    }
    json_t *cur = json_object_get(j, "curation");
    SA_CHECK_EQ_INT(t, json_array_size(cur), 2);
    for (size_t k = 0; k < json_array_size(cur); k++) {
        json_t *c = json_array_get(cur, k);
        SA_CHECK_EQ_INT(t, json_integer_value(json_object_get(c, "candidates")), n_cand);
        SA_CHECK(t, json_integer_value(json_object_get(c, "selected_clean")) +
                            json_integer_value(json_object_get(c, "junk_kept")) ==
                        json_integer_value(json_object_get(c, "selected")));
    }
    /* the demo's own run: every stage done, except that the quick base may
     * be too small to write any principle answer: then Dromedary is a failed
     * stage whose reason demo_results.json gives, and the demo goes on */
    bool dromedary_failed = json_string_value(json_object_get(j, "dromedary_error")) != NULL;
    json_decref(j);
    j = NULL;
    sa_strbuf_reset(&p);
    sa_path_join(&p, out, "manifest.json");
    SA_REQUIRE_OK(t, sa_json_load_file(sa_strbuf_cstr(&p), 1 << 24, &j, &err), &err);
    json_t *stages = json_object_get(j, "stages");
    SA_CHECK_EQ_INT(t, json_array_size(stages), 5);
    for (size_t k = 0; k < json_array_size(stages); k++) {
        json_t *st = json_array_get(stages, k);
        const char *name = json_string_value(json_object_get(st, "name"));
        const char *state = json_string_value(json_object_get(st, "state"));
        bool ok = state && (strcmp(state, "done") == 0 ||
                            (dromedary_failed && name && strcmp(name, "dromedary") == 0 && strcmp(state, "failed") == 0));
        SA_CHECKF(t, ok, "stage %s is %s", name ? name : "?", state ? state : "?");
    }
    json_decref(j);
    /* the copy-probe gate: rerun (the base is kept) demanding a perfect copy
     * probe; the quick base is far from it, so the run stops after the probe
     * and demo_results.json says why */
    if (run(t, &r, NULL, "demo", "--quick", "--out", out, "--threads", "2", "--quiet", "--min-copy-probe", "1", NULL)) {
        SA_CHECKF(t, r.rc != 0, "demo --min-copy-probe 1 did not stop:\n%s", ERR(r));
        CHECK_HAS(t, ERR(r), "min-copy-probe");
        result_free(&r);
        sa_strbuf_reset(&p);
        sa_path_join(&p, out, "demo_results.json");
        j = NULL;
        SA_REQUIRE_OK(t, sa_json_load_file(sa_strbuf_cstr(&p), 1 << 24, &j, &err), &err);
        SA_CHECK(t, json_string_value(json_object_get(j, "stopped")) != NULL);
        json_decref(j);
    }
    sa_strbuf_free(&p);
}

static const sa_test_def tests[] = {
    {"determinism", determinism},
    {"junk_and_corpus", junk_and_corpus},
    {"heldout_only_in_pages", heldout_only_in_pages},
    {"decoys", decoys},
    {"single_token_names", single_token_names},
    {"checker", checker},
    {"chance_levels", chance_levels},
    {"base_retry", base_retry},
    {"quick_demo", quick_demo},
};
SA_TEST_MAIN(tests)
