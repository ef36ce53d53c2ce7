/* test_selfinstruct.c — `selfalign selfinstruct` and sa_si_*: list parsing
 * (crafted and hostile outputs), each filter, topic dedup and balancing,
 * seed and red-team type files, a scripted engine that exercises acceptance,
 * red-teaming and crash/replay in process, and the CLI on stories260K
 * (counts add up; kill -9 and rerun give byte-identical files). */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../src/engine/engine_internal.h"
#include "sa/hash.h"
#include "sa/json.h"
#include "sa/record.h"
#include "sa/rng.h"
#include "sa/selfinstruct.h"
#include "sa/strbuf.h"
#include "sa_test.h"
#include "sa_test_run.h"

#define M260 "models/llama2c-stories260K/stories260K.bin"
#define T512 "models/llama2c-stories260K/tok512.bin"

/* ---- list parsing -------------------------------------------------------------------- */

static void parse(sa_test *t, const char *text, size_t max, size_t want_n, bool want_end, const char *const *want) {
    sa_si_list l = {0};
    sa_err e = {0};
    SA_CHECK_OK(t, sa_si_parse_list(text, max, &l, &e), &e);
    SA_CHECKF(t, l.n == want_n && l.ran_to_end == want_end, "parse(\"%.60s\"): %zu items (end %d), want %zu (end %d)",
              text ? text : "(null)", l.n, l.ran_to_end, want_n, want_end);
    for (size_t i = 0; want && i < want_n && i < l.n; i++)
        SA_CHECKF(t, strcmp(l.items[i], want[i]) == 0, "item %zu: \"%s\", want \"%s\"", i, l.items[i], want[i]);
    sa_si_list_free(&l);
}

static void test_parse_list(sa_test *t) {
    const char *const a[] = {"Write a poem about rain.", "Explain gravity to a child.", "List three fruits.",
                             "Name a color."};
    parse(t, "7. Write a poem about rain.\n8) Explain gravity to a child.\nTask 9: List three fruits.\n  10.   Name a color.  \n",
          0, 4, true, a);
    /* a continuation line joins its item; an unnumbered first line is the item after the shown list */
    const char *const b[] = {"Translate this sentence into French: \"I like apples.\"", "Next task here."};
    parse(t, "7. Translate this sentence into French:\n\"I like apples.\"\n8. Next task here.", 0, 2, true, b);
    const char *const c[] = {"Write a haiku about snow.", "Describe a forest."};
    parse(t, "Write a haiku about snow.\n8. Describe a forest.\n", 0, 2, true, c);
    parse(t, "Write a haiku about snow.\n1. Describe a forest.\n", 0, 2, true, c); /* any number after it */
    /* a preamble is skipped */
    parse(t, "Here are more tasks:\n7. Write a poem about rain.\n8) Explain gravity to a child.", 0, 2, true, a);
    /* the list starts over: stop */
    parse(t, "7. Write a poem about rain.\n8. Explain gravity to a child.\n1. Write a poem about rain.\n2. x", 0, 2,
          false, a);
    /* a jump forward that is too large, or a template marker: stop */
    parse(t, "1. Write a poem about rain.\n2. Explain gravity to a child.\n10. C", 0, 2, false, a);
    parse(t, "7. Write a poem about rain.\n### Instruction:\nfoo", 0, 1, false, a);
    parse(t, "7. Write a poem about rain.\n<|im_end|>", 0, 1, false, a);
    /* after a blank line, unnumbered text ends the list */
    parse(t, "7. Write a poem about rain.\n\nThat is all for today.", 0, 1, false, a);
    /* blank lines between items are fine */
    parse(t, "7. Write a poem about rain.\n\n\n8. Explain gravity to a child.", 0, 2, true, a);
    /* bullets */
    parse(t, "- Write a poem about rain.\n* Explain gravity to a child.", 0, 2, true, a);
    /* empty items are kept (the filter rejects them), decimals are not numbers */
    const char *const d[] = {"", "B"};
    parse(t, "7.\n8. B", 0, 2, true, d);
    const char *const f[] = {"3.5 apples are left"};
    parse(t, "3.5 apples are left", 0, 1, true, f);
    /* over-long numbers are not item markers: the first line is an (unnumbered) item */
    parse(t, "123456. x\n2. y", 0, 2, true, NULL);
    /* nothing, NULL, white space */
    parse(t, "", 0, 0, true, NULL);
    parse(t, NULL, 0, 0, true, NULL);
    parse(t, " \n\t\n ", 0, 0, true, NULL);
    /* the item cap */
    sa_strbuf many = {0};
    for (int i = 1; i <= 100; i++) sa_strbuf_appendf(&many, "%d. item number %d\n", i, i);
    parse(t, sa_strbuf_cstr(&many), 5, 5, false, NULL);
    parse(t, sa_strbuf_cstr(&many), 0, 64, false, NULL);
    /* a huge single line, control bytes, invalid UTF-8: parsed without trouble */
    sa_strbuf huge = {0};
    for (int i = 0; i < 20000; i++) sa_strbuf_puts(&huge, "word ");
    parse(t, sa_strbuf_cstr(&huge), 0, 1, true, NULL);
    parse(t, "\x01\x02 7. A\n\xff\xfe 8. B\n", 0, 1, true, NULL); /* one item, the second line continues it */
    sa_strbuf_free(&many);
    sa_strbuf_free(&huge);
}

/* ---- filters ----------------------------------------------------------------------------- */

static void test_filters(sa_test *t) {
    sa_si_filter_opts f = {0}; /* defaults: 4..150 words, the default blacklist */
    const char *m = NULL;
    SA_CHECK_EQ_INT(t, sa_si_filter(&f, "Explain why the sky looks blue at noon.", &m), SA_SI_ACCEPTED);
    SA_CHECK_EQ_INT(t, sa_si_filter(&f, "   \n", &m), SA_SI_EMPTY);
    SA_CHECK_EQ_INT(t, sa_si_filter(&f, "", &m), SA_SI_EMPTY);
    SA_CHECK_EQ_INT(t, sa_si_filter(&f, "(Optional) explain why the sky is blue.", &m), SA_SI_BAD_START);
    SA_CHECK_EQ_INT(t, sa_si_filter(&f, "42 reasons to explain the sky.", &m), SA_SI_BAD_START);
    SA_CHECK_EQ_INT(t, sa_si_filter(&f, "\xc3\x89" "crivez un po\xc3\xa8" "me sur la mer.", &m), SA_SI_ACCEPTED); /* É */
    SA_CHECK_EQ_INT(t, sa_si_filter(&f, "\xe2\x80\x94 explain the sky to me", &m), SA_SI_BAD_START); /* em dash */
    SA_CHECK_EQ_INT(t, sa_si_filter(&f, "Explain the sky.", &m), SA_SI_TOO_SHORT); /* 3 words */
    SA_CHECK_EQ_INT(t, sa_si_filter(&f, "Explain the blue sky.", &m), SA_SI_ACCEPTED); /* 4 words */
    sa_strbuf long_text = {0};
    sa_strbuf_puts(&long_text, "Explain");
    for (int i = 0; i < 150; i++) sa_strbuf_puts(&long_text, " more");
    SA_CHECK_EQ_INT(t, sa_si_filter(&f, sa_strbuf_cstr(&long_text), &m), SA_SI_TOO_LONG); /* 151 words */
    sa_strbuf_truncate(&long_text, long_text.len - 5);
    SA_CHECK_EQ_INT(t, sa_si_filter(&f, sa_strbuf_cstr(&long_text), &m), SA_SI_ACCEPTED); /* 150 */
    sa_strbuf_free(&long_text);
    m = NULL;
    SA_CHECK_EQ_INT(t, sa_si_filter(&f, "Describe the IMAGE below in detail.", &m), SA_SI_BLACKLIST);
    SA_CHECK_STR(t, m, "image");
    SA_CHECK_EQ_INT(t, sa_si_filter(&f, "Tell me how to go  to the station quickly.", &m), SA_SI_BLACKLIST);
    SA_CHECK_STR(t, m, "go to");
    /* whole words only */
    SA_CHECK_EQ_INT(t, sa_si_filter(&f, "Explain what a goto statement does in C.", &m), SA_SI_ACCEPTED);
    SA_CHECK_EQ_INT(t, sa_si_filter(&f, "Explain how a mapping between two sets works.", &m), SA_SI_ACCEPTED);
    SA_CHECK_EQ_INT(t, sa_si_filter(&f, "Tell me how to go home tonight.", &m), SA_SI_ACCEPTED);
    /* a configured list replaces the default; an empty list blacklists nothing */
    const char *const mine[] = {"weather", "stock price"};
    sa_si_filter_opts g = {.min_words = 2, .max_words = 5, .blacklist = mine, .n_blacklist = 2};
    SA_CHECK_EQ_INT(t, sa_si_filter(&g, "Draw a cat.", &m), SA_SI_ACCEPTED);
    SA_CHECK_EQ_INT(t, sa_si_filter(&g, "What is the Stock-Price today?", &m), SA_SI_BLACKLIST);
    SA_CHECK_STR(t, m, "stock price");
    SA_CHECK_EQ_INT(t, sa_si_filter(&g, "What is the weather like there today?", &m), SA_SI_TOO_LONG);
    sa_si_filter_opts none = {.blacklist = mine, .n_blacklist = 0};
    SA_CHECK_EQ_INT(t, sa_si_filter(&none, "Draw a map of the file.", &m), SA_SI_ACCEPTED);
    SA_CHECK_STR(t, sa_si_reason_name(SA_SI_NEAR_DUPLICATE), "near_duplicate");
    SA_CHECK_STR(t, sa_si_reason_name(SA_SI_BAD_START), "bad_start");
    SA_CHECK(t, sa_si_request_id("si:1") != sa_si_request_id("si:2"));
}

/* ---- topics ------------------------------------------------------------------------------- */

static void test_topics(sa_test *t) {
    sa_si_topic_set s;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_si_topic_set_init(&s, 0.7, &e), &e);
    const struct {
        const char *topic;
        bool kept;
    } cases[] = {
        {"Climate change", true},
        {"  climate change.  ", false},      /* same after trimming and case */
        {"\"Climate Change!\"", false},      /* normalized: the same words */
        {"The climate change", false},       /* ROUGE-L 2*2/(2+3) = 0.8 > 0.7 */
        {"Ancient Rome", true},
        {"Rome in ancient times", true},     /* LCS "rome" = 1: 2/(2+4) = 0.33 */
        {"**Volcanoes**", true},
        {"", false},
        {" . ", false},
        {"one two three four five six seven eight nine ten eleven twelve thirteen", false}, /* > 12 words */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool added = !cases[i].kept;
        SA_CHECK_OK(t, sa_si_topic_set_add(&s, cases[i].topic, &added, &e), &e);
        SA_CHECKF(t, added == cases[i].kept, "topic \"%s\": added %d", cases[i].topic, added);
    }
    SA_REQUIRE(t, s.n == 4);
    SA_CHECK_STR(t, s.v[0], "Climate change");
    SA_CHECK_STR(t, s.v[3], "Volcanoes");
    sa_si_topic_set_free(&s);
    size_t c1[] = {5, 3, 7};
    SA_CHECK_EQ_INT(t, sa_si_balance(c1, 3, 0), 3);
    SA_CHECK_EQ_INT(t, sa_si_balance(c1, 3, 2), 2);
    SA_CHECK_EQ_INT(t, sa_si_balance(c1, 3, 10), 3);
    SA_CHECK_EQ_INT(t, sa_si_balance(c1, 0, 0), 0);
    size_t c2[] = {4, 0};
    SA_CHECK_EQ_INT(t, sa_si_balance(c2, 2, 0), 0);
}

/* ---- input files ---------------------------------------------------------------------------- */

static void collect_bad(void *ctx, const char *path, uint64_t line, const char *reason) {
    sa_strbuf_appendf((sa_strbuf *)ctx, "%s:%llu: %s\n", path, (unsigned long long)line, reason);
}

static void test_types_file(sa_test *t) {
    const char *p = sa_test_tmpfile(t, "types.jsonl");
    const char *text =
        "{\"type\": \"Future events\", \"description\": \"Asks about things that have not happened.\", "
        "\"examples\": [\"Who will win the next election?\"]}\n"
        "{\"type\": \"Legal advice\"}\n"
        "{\"type\": \"Future events\"}\n"                              /* 3: repeated */
        "{\"type\": \"\"}\n"                                          /* 4: blank */
        "{\"type\": \"X\", \"examples\": \"not a list\"}\n"            /* 5 */
        "{\"type\": \"Y\", \"examples\": [\"ok\", 3]}\n"               /* 6 */
        "{\"topic\": \"Rain\", \"question_type\": \"Weather now\", \"question\": \"Is it raining in Oslo?\"}\n"
        "{\"topic\": \"Snow\", \"question_type\": \"Weather now\", \"question\": \"Is it snowing in Bern?\"}\n"
        "{\"topic\": \"Rain\", \"question_type\": \"Weather now\"}\n"  /* 9: no question */
        "{\"name\": \"what\"}\n"                                      /* 10 */
        "{\"type\": \"Trunc\"\n"                                       /* 11: bad JSON */
        "[1, 2]\n";                                                   /* 12: not an object */
    sa_test_write_file(t, p, text, strlen(text));
    sa_si_types ty;
    sa_strbuf bad = {0};
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_si_types_load(p, false, collect_bad, &bad, &ty, &e), &e);
    SA_CHECK_EQ_INT(t, ty.n, 3);
    SA_CHECK_EQ_INT(t, ty.bad_lines, 8);
    if (ty.n == 3) {
        SA_CHECK_STR(t, ty.v[0].name, "Future events");
        SA_CHECK_EQ_INT(t, ty.v[0].n_examples, 1);
        SA_CHECK_STR(t, ty.v[1].description, "");
        SA_CHECK_STR(t, ty.v[2].name, "Weather now");
        SA_CHECK_EQ_INT(t, ty.v[2].n_examples, 2);
        SA_CHECK_EQ_INT(t, ty.v[2].n_topics, 2);
    }
    char want[1200];
    const int lines[] = {3, 4, 5, 6, 9, 10, 11, 12};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        snprintf(want, sizeof want, "%s:%d: ", p, lines[i]);
        CHECK_HAS(t, sa_strbuf_cstr(&bad), want);
    }
    snprintf(want, sizeof want, "%s:3: repeated type \"Future events\"", p);
    CHECK_HAS(t, sa_strbuf_cstr(&bad), want);
    sa_si_types_free(&ty);
    /* strict: the first bad line is fatal, with its location */
    SA_CHECK_EQ_INT(t, sa_si_types_load(p, true, NULL, NULL, &ty, &e), SA_ERR_FORMAT);
    snprintf(want, sizeof want, "%s:3:", p);
    CHECK_HAS(t, e.msg, want);
    sa_strbuf_free(&bad);
    /* the real TGRT seed questions: 20 question types, one question each */
    const char *tg = sa_test_data(t, "instructions/dromedary-tgrt-seed-questions.jsonl");
    if (!tg) return;
    SA_REQUIRE_OK(t, sa_si_types_load(tg, true, NULL, NULL, &ty, &e), &e);
    SA_CHECK_EQ_INT(t, ty.n, 20);
    SA_CHECK_STR(t, ty.v[0].name, "Questions that require cultural context");
    SA_CHECK_STR(t, ty.v[0].examples[0], "How should I celebrate weddings?");
    SA_CHECK_STR(t, ty.v[0].topics[0], "Wedding");
    sa_si_types_free(&ty);
}

static void test_seeds_file(sa_test *t) {
    const char *real = sa_test_data(t, "instructions/self-instruct_seed_tasks.jsonl");
    if (!real) return;
    sa_si_seeds s;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_si_seeds_load(real, true, NULL, NULL, &s, &e), &e);
    SA_CHECK_EQ_INT(t, s.n, 175);
    SA_CHECK_EQ_INT(t, s.bad_lines, 0);
    SA_CHECK_STR(t, s.v[1], "What is the relation between the given pairs?");
    sa_si_seeds_free(&s);
    const char *p = sa_test_tmpfile(t, "seeds.jsonl");
    const char *text = "{\"instruction\": \"Plain instruction one.\"}\n"
                       "{\"question\": \"A question?\", \"topic\": \"T\", \"question_type\": \"Q\"}\n"
                       "{\"instruction\": \"Alpaca style.\", \"input\": \"x\", \"output\": \"y\"}\n"
                       "{\"instruction\": \"Plain instruction one.\"}\n" /* repeat */
                       "{\"text\": \"a corpus line\"}\n"                 /* 5: bad */
                       "{\"instruction\": \"   \"}\n"                    /* 6: blank */
                       "not json\n";                                     /* 7 */
    sa_test_write_file(t, p, text, strlen(text));
    sa_strbuf bad = {0};
    SA_REQUIRE_OK(t, sa_si_seeds_load(p, false, collect_bad, &bad, &s, &e), &e);
    SA_CHECK_EQ_INT(t, s.n, 3);
    SA_CHECK_EQ_INT(t, s.duplicates, 1);
    SA_CHECK_EQ_INT(t, s.bad_lines, 3);
    if (s.n == 3) {
        SA_CHECK_STR(t, s.v[1], "A question?");
        SA_CHECK_STR(t, s.v[2], "Alpaca style.");
    }
    char want[1200];
    for (int line = 5; line <= 7; line++) {
        snprintf(want, sizeof want, "%s:%d: ", p, line);
        CHECK_HAS(t, sa_strbuf_cstr(&bad), want);
    }
    sa_strbuf_free(&bad);
    sa_si_seeds_free(&s);
}

/* ---- a scripted engine: outputs that depend on the prompt and the request id -------------- */

typedef struct fake_engine {
    sa_engine base;
    const sa_tokenizer *tok;
    size_t requests, calls;
    long fail_after; /* deliver this many results in all, then fail the call (-1 = never) */
    long delivered;
    bool bad_prompt; /* a prompt did not hold what the test prompts promise */
} fake_engine;

static const char *const k_words[] = {"explain", "describe", "compare", "summarize", "list", "why", "how",
                                      "ocean", "planet", "recipe", "history", "music", "engine", "garden",
                                      "language", "economy", "winter", "bridge", "library", "volcano", "poem",
                                      "letter", "advice", "budget", "habit", "forest", "city", "river"};
enum { N_WORDS = sizeof k_words / sizeof k_words[0] };

static void fake_sentence(sa_rng *r, sa_strbuf *b, int words) {
    static const char *const starts[] = {"Explain", "Describe", "Write", "Give", "Suggest", "Tell"};
    sa_strbuf_puts(b, starts[sa_rng_below(r, 6)]);
    for (int i = 0; i < words; i++) sa_strbuf_appendf(b, " %s", k_words[sa_rng_below(r, N_WORDS)]);
    sa_strbuf_puts(b, ".");
}

static sa_status fake_generate(sa_engine *eng, const sa_gen_request *reqs, size_t n, sa_gen_callback cb, void *ctx,
                               sa_err *err) {
    fake_engine *f = (fake_engine *)eng;
    f->calls++;
    /* reverse order: results must not depend on completion order */
    for (size_t k = n; k-- > 0;) {
        const sa_gen_request *q = &reqs[k];
        if (f->fail_after >= 0 && f->delivered >= f->fail_after)
            return sa_err_set(err, SA_ERR_IO, "simulated crash");
        f->requests++;
        sa_strbuf prompt = {0}, out = {0};
        sa_err e = {0};
        if (sa_tokenizer_decode(f->tok, q->prompt_tokens, (size_t)q->n_prompt_tokens, 0, &prompt, &e))
            f->bad_prompt = true;
        const char *pt = sa_strbuf_cstr(&prompt);
        uint64_t h = sa_hash64(q->prompt_tokens, (size_t)q->n_prompt_tokens * sizeof(int32_t), q->id);
        sa_rng r;
        sa_rng_split(&r, q->seed, h);
        sa_finish_reason fin = SA_FINISH_EOS;
        if (strstr(pt, "TASKS")) {
            if (!strstr(pt, "1. ") || !strstr(pt, "2. ")) f->bad_prompt = true;
            int items = 3 + (int)sa_rng_below(&r, 4);
            for (int i = 0; i < items; i++) {
                sa_strbuf_appendf(&out, "%d. ", 3 + i);
                uint64_t kind = sa_rng_below(&r, 10);
                if (kind == 0) sa_strbuf_puts(&out, "Write a short poem about the sea at night."); /* a seed */
                else if (kind == 1) sa_strbuf_puts(&out, "Do it now.");
                else if (kind == 2) sa_strbuf_puts(&out, "Draw a map of the old town for visitors.");
                else if (kind == 3) sa_strbuf_puts(&out, "(hint) explain the river and the bridge.");
                else if (kind == 4) fake_sentence(&r, &out, 160);
                else if (kind == 5) sa_strbuf_appendf(&out, "Explain the caf\xff menu of the %s in detail.", /* bad UTF-8 */
                                                      k_words[sa_rng_below(&r, N_WORDS)]);
                else fake_sentence(&r, &out, 3 + (int)sa_rng_below(&r, 5));
                sa_strbuf_puts(&out, "\n");
            }
            if (sa_rng_below(&r, 4) == 0) {
                sa_strbuf_appendf(&out, "%d. Explain the", 3 + items);
                fin = SA_FINISH_LENGTH;
            }
        } else if (strstr(pt, "TOPICS")) {
            static const char *const topics[] = {"Mars", "mars", "Tax law", "Elections", "The Elections", "Coffee",
                                                 "Chess", "Bees", "Tides", "Rome", "Jazz", "Glaciers"};
            int items = 2 + (int)sa_rng_below(&r, 4);
            for (int i = 0; i < items; i++) sa_strbuf_appendf(&out, "%d. %s\n", i + 1, topics[sa_rng_below(&r, 12)]);
        } else if (strstr(pt, "QUESTIONS")) {
            const char *topic = strstr(pt, "ABOUT ");
            if (!topic) f->bad_prompt = true;
            for (int i = 0; i < 3; i++) {
                sa_strbuf_appendf(&out, "%d. ", i + 1);
                sa_strbuf_appendf(&out, "What would happen to %.*s if ", topic ? (int)strcspn(topic + 6, "\n") : 1,
                                  topic ? topic + 6 : "x");
                fake_sentence(&r, &out, 3);
                sa_strbuf_puts(&out, "\n");
            }
        } else {
            f->bad_prompt = true;
        }
        sa_gen_result res = {.id = q->id, .text = sa_strbuf_cstr(&out), .text_len = out.len, .finish = fin,
                             .user = q->user, .n_tokens = 5};
        sa_status s = cb(ctx, &res);
        f->delivered++;
        sa_strbuf_free(&prompt);
        sa_strbuf_free(&out);
        if (s) return s;
    }
    return SA_OK;
}

static const sa_tokenizer *fake_tokenizer(const sa_engine *e) { return ((const fake_engine *)e)->tok; }
static void fake_free(sa_engine *e) { (void)e; }
static const sa_engine_ops k_fake_ops = {.generate = fake_generate, .tokenizer = fake_tokenizer, .free = fake_free};

static long long jint(json_t *o, const char *a, const char *b) {
    json_t *v = json_object_get(o, a);
    if (b) v = json_object_get(v, b);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* generated == accepted + sum(rejected) in stats.json, and the files hold as many lines. */
static void check_counts(sa_test *t, const char *stats, const char *out, const char *rej) {
    json_t *sj = NULL;
    sa_err e = {0};
    SA_CHECK_OK(t, sa_json_load_file(stats, 1 << 20, &sj, &e), &e);
    if (!sj) return;
    long long sum = 0;
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(sj, "rejected_by_reason"), key, v) sum += json_integer_value(v);
    SA_CHECKF(t, jint(sj, "generated", NULL) == jint(sj, "accepted", NULL) + sum,
              "generated %lld != accepted %lld + rejected %lld", jint(sj, "generated", NULL), jint(sj, "accepted", NULL),
              sum);
    SA_CHECK_EQ_INT(t, jint(sj, "rejected", NULL), sum);
    SA_CHECK_EQ_INT(t, file_lines(out), jint(sj, "accepted", NULL));
    SA_CHECK_EQ_INT(t, file_lines(rej), sum);
    SA_CHECK_EQ_INT(t, jint(sj, "accepted", NULL), jint(sj, "accepted_self_instruct", NULL) +
                                                       jint(sj, "accepted_red_team", NULL));
    json_decref(sj);
}

/* Ids are distinct, and each is the content id of its instruction. */
static void check_ids(sa_test *t, const char *out) {
    json_t *arr = file_json_lines(t, out), *seen = json_object(), *o;
    size_t i;
    json_array_foreach(arr, i, o) {
        const char *id = json_string_value(json_object_get(o, "id"));
        sa_record r;
        sa_record_init(&r);
        r.instruction = (char *)json_string_value(json_object_get(o, "instruction"));
        char want[17];
        sa_record_compute_id(&r, want);
        SA_CHECKF(t, id && r.instruction && strcmp(id, want) == 0, "line %zu: id %s", i + 1, id ? id : "(none)");
        SA_CHECKF(t, id && !json_object_get(seen, id), "id %s twice", id ? id : "");
        if (id) json_object_set_new(seen, id, json_true());
    }
    json_decref(seen);
    json_decref(arr);
}

static void write_prompts_dir(sa_test *t, const char *dir, bool markers) {
    char p[1200];
    snprintf(p, sizeof p, "mkdir -p %s", dir);
    SA_REQUIRE(t, system(p) == 0);
    const char *si = markers ? "TASKS\n{{tasks}}\n{{next}}." : "Tasks:\n{{tasks}}\n";
    const char *tp = markers ? "TOPICS {{type}} {{count}}\n{{examples}}\n{{topics}}" : "Topics for {{type}}:\n";
    const char *qp = markers ? "QUESTIONS {{type}}\nABOUT {{topic}}\n{{count}}" : "Questions about {{topic}}:\n";
    snprintf(p, sizeof p, "%s/selfinstruct.txt", dir);
    sa_test_write_file(t, p, si, strlen(si));
    snprintf(p, sizeof p, "%s/redteam_topics.txt", dir);
    sa_test_write_file(t, p, tp, strlen(tp));
    snprintf(p, sizeof p, "%s/redteam_questions.txt", dir);
    sa_test_write_file(t, p, qp, strlen(qp));
}

static const char *k_seeds =
    "{\"instruction\": \"Write a short poem about the sea at night.\"}\n"
    "{\"instruction\": \"Summarize the plot of a famous novel in three sentences.\"}\n"
    "{\"question\": \"How do vaccines train the immune system?\"}\n"
    "{\"instruction\": \"Plan a weekly budget for a student living alone.\"}\n";

static const char *k_types =
    "{\"type\": \"Future events\", \"description\": \"About things that have not happened.\", \"examples\": "
    "[\"Who will win the next election?\"]}\n"
    "{\"type\": \"Legal expertise\", \"examples\": [\"Can my landlord keep my deposit?\"]}\n"
    "{\"topic\": \"Mars\", \"question_type\": \"Real-time data\", \"question\": \"What is the weather on Mars now?\"}\n";

static void scripted_run(sa_test *t, const sa_tokenizer *tok, const sa_chat_template *tm, const sa_prompts *pr,
                         const char *dir, uint32_t topics_per_type, long fail_after, sa_si_stats *st, sa_status want) {
    char out[1200], seeds[1200], types[1200];
    snprintf(out, sizeof out, "%s/p.jsonl", dir);
    snprintf(seeds, sizeof seeds, "%s/../seeds.jsonl", dir);
    snprintf(types, sizeof types, "%s/../types.jsonl", dir);
    fake_engine f = {.base = {&k_fake_ops}, .tok = tok, .fail_after = fail_after};
    sa_si_opts o = sa_si_default_opts();
    o.seed_path = seeds;
    o.types_path = types;
    o.out_path = out;
    o.prompts = pr;
    o.model_name = "fake";
    o.target = 60;
    o.k = 3;
    o.rounds_per_batch = 4;
    o.chunk = 5;
    o.topics_per_type = topics_per_type;
    o.seed = 9;
    sa_err e = {0};
    sa_status s = sa_si_run(&f.base, tok, tm, &o, st, &e);
    SA_CHECKF(t, s == want, "sa_si_run returned %d (%s), want %d", s, e.msg, want);
    SA_CHECK(t, !f.bad_prompt);
}

static void test_scripted(sa_test *t) {
    const char *tp = sa_test_data(t, T512);
    if (!tp) return;
    sa_tokenizer *tok = NULL;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_tokenizer_load(&tok, tp, &e), &e);
    sa_chat_template tm;
    SA_REQUIRE_OK(t, sa_chat_template_resolve(tok, NULL, &tm, NULL, &e), &e);
    char dir[1100], pdir[1200], a[1200], b[1200], c[1200], cmd[4000];
    snprintf(dir, sizeof dir, "%s/scripted", sa_test_tmpdir(t));
    snprintf(pdir, sizeof pdir, "%s/prompts", dir);
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    snprintf(c, sizeof c, "%s/c", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s %s %s", a, b, c);
    SA_REQUIRE(t, system(cmd) == 0);
    write_prompts_dir(t, pdir, true);
    char p[1300];
    snprintf(p, sizeof p, "%s/seeds.jsonl", dir);
    sa_test_write_file(t, p, k_seeds, strlen(k_seeds));
    snprintf(p, sizeof p, "%s/types.jsonl", dir);
    sa_test_write_file(t, p, k_types, strlen(k_types));
    sa_prompts *pr = NULL;
    SA_REQUIRE_OK(t, sa_prompts_load(&pr, pdir, &e), &e);

    /* the reference run */
    sa_si_stats st;
    scripted_run(t, tok, &tm, pr, a, 3, -1, &st, SA_OK);
    SA_CHECK_STR(t, st.stop_reason, "target");
    SA_CHECK_EQ_INT(t, st.by_reason[SA_SI_ACCEPTED], 60);
    uint64_t sum = 0;
    for (int r = 1; r < SA_SI_REASON_COUNT; r++) sum += st.by_reason[r];
    SA_CHECK_EQ_INT(t, st.generated, st.by_reason[SA_SI_ACCEPTED] + sum);
    /* every filter fired */
    for (int r = SA_SI_TRUNCATED; r < SA_SI_REASON_COUNT; r++)
        SA_CHECKF(t, st.by_reason[r] > 0, "no %s rejections", sa_si_reason_name((sa_si_reason)r));
    SA_CHECK(t, st.accepted_red_team > 0 && st.accepted_self_instruct > 0);
    SA_CHECK_EQ_INT(t, st.types, 3);
    SA_CHECK(t, st.topics_per_type >= 1 && st.topics_per_type <= 3);
    SA_CHECK(t, st.rouge.lcs_computed < st.rouge.pairs);
    SA_CHECK_EQ_INT(t, st.replayed, 0);
    char out[1300], rej[1300], stats[1300];
    snprintf(out, sizeof out, "%s/p.jsonl", a);
    snprintf(rej, sizeof rej, "%s/p.jsonl.rejected.jsonl", a);
    snprintf(stats, sizeof stats, "%s/stats.json", a);
    check_counts(t, stats, out, rej);
    check_ids(t, out);
    /* red-team records: balanced over types (all their questions fit before the target), with meta */
    json_t *acc = file_json_lines(t, out), *o;
    size_t i;
    json_t *per_type = json_object();
    bool saw_fffd = false; /* the engine's invalid UTF-8 arrives as U+FFFD */
    json_array_foreach(acc, i, o) {
        const char *src = json_string_value(json_object_get(o, "source"));
        const char *ins = json_string_value(json_object_get(o, "instruction"));
        saw_fffd = saw_fffd || (ins && strstr(ins, "caf\xef\xbf\xbd menu"));
        json_t *meta = json_object_get(o, "meta");
        SA_CHECK_STR(t, json_string_value(json_object_get(meta, "model")), "fake");
        SA_CHECK_EQ_INT(t, json_integer_value(json_object_get(meta, "seed")), 9);
        SA_CHECK(t, json_object_get(o, "output") == NULL);
        if (src && strcmp(src, "red_team") == 0) {
            const char *ty = json_string_value(json_object_get(meta, "type"));
            SA_CHECK(t, ty && json_string_value(json_object_get(meta, "topic")));
            if (ty) json_object_set_new(per_type, ty, json_integer(json_integer_value(json_object_get(per_type, ty)) + 1));
        } else {
            SA_CHECK_STR(t, src, "self_instruct");
            SA_CHECK(t, json_is_integer(json_object_get(meta, "round")));
        }
    }
    SA_CHECK_EQ_INT(t, json_object_size(per_type), 3);
    SA_CHECK(t, saw_fffd);
    json_decref(per_type);
    json_decref(acc);
    /* rejected: near-duplicates name what they resemble */
    json_t *rj = file_json_lines(t, rej);
    bool saw_dup = false, saw_word = false;
    json_array_foreach(rj, i, o) {
        const char *why = json_string_value(json_object_get(o, "reason"));
        if (why && strcmp(why, "near_duplicate") == 0) {
            saw_dup = true;
            SA_CHECK(t, json_string_value(json_object_get(o, "similar_to")) &&
                            json_real_value(json_object_get(o, "rouge_l")) > 0.7);
        }
        if (why && strcmp(why, "blacklist") == 0) saw_word = json_string_value(json_object_get(o, "word")) != NULL;
    }
    SA_CHECK(t, saw_dup && saw_word);
    json_decref(rj);
    sa_json_load_file(stats, 1 << 20, &o, &e);
    SA_CHECK(t, o && jint(json_object_get(o, "red_team"), "topics_per_type", NULL) == (long long)st.topics_per_type);
    json_decref(o);

    /* a crash after 7 results, another after 23, then the rest: the same files */
    scripted_run(t, tok, &tm, pr, b, 3, 7, &st, SA_ERR_IO);
    char bj[1300];
    snprintf(bj, sizeof bj, "%s/p.jsonl.journal", b);
    SA_CHECK_EQ_INT(t, file_lines(bj), 7);
    scripted_run(t, tok, &tm, pr, b, 3, 16, &st, SA_ERR_IO);
    SA_CHECK_EQ_INT(t, st.replayed, 7);
    scripted_run(t, tok, &tm, pr, b, 3, -1, &st, SA_OK);
    SA_CHECK_EQ_INT(t, st.replayed, 23);
    const char *names[] = {"p.jsonl", "p.jsonl.rejected.jsonl", "stats.json"};
    for (int k = 0; k < 3; k++) {
        char x[1300], y[1300];
        snprintf(x, sizeof x, "%s/%s", a, names[k]);
        snprintf(y, sizeof y, "%s/%s", b, names[k]);
        SA_CHECKF(t, files_equal(x, y), "%s differs after the crashes", names[k]);
    }
    /* a finished run reruns from its journal alone, and a larger target continues it */
    scripted_run(t, tok, &tm, pr, b, 3, 0, &st, SA_OK);
    SA_CHECK_EQ_INT(t, st.generated_now, 0);

    /* other settings on the same journal are refused */
    fake_engine f = {.base = {&k_fake_ops}, .tok = tok, .fail_after = -1};
    sa_si_opts op = sa_si_default_opts();
    char seeds[1300], bo[1300];
    snprintf(seeds, sizeof seeds, "%s/seeds.jsonl", dir);
    snprintf(bo, sizeof bo, "%s/p.jsonl", b);
    op.seed_path = seeds;
    op.out_path = bo;
    op.prompts = pr;
    op.target = 10;
    op.model_name = "fake";
    SA_CHECK_EQ_INT(t, sa_si_run(&f.base, tok, &tm, &op, &st, &e), SA_ERR_INVALID_ARG);
    CHECK_HAS(t, e.msg, "other settings");

    /* topics_per_type 0: one brainstorming round, the smallest type's count */
    scripted_run(t, tok, &tm, pr, c, 0, -1, &st, SA_OK);
    SA_CHECK(t, st.topics_per_type >= 1);
    snprintf(stats, sizeof stats, "%s/stats.json", c);
    sa_json_load_file(stats, 1 << 20, &o, &e);
    json_t *tops = json_object_get(json_object_get(o, "red_team"), "topics");
    const char *key;
    json_t *v;
    long long minimum = -1;
    json_object_foreach(tops, key, v) {
        long long d = jint(v, "distinct", NULL);
        if (minimum < 0 || d < minimum) minimum = d;
        SA_CHECK_EQ_INT(t, jint(v, "used", NULL), (long long)st.topics_per_type);
    }
    SA_CHECK_EQ_INT(t, minimum, (long long)st.topics_per_type);
    json_decref(o);
    sa_prompts_free(pr);
    sa_tokenizer_free(tok);
}

/* ---- the CLI on stories260K ---------------------------------------------------------------- */

static void si_argv(const char **argv, const char *bin, const char *model, const char *tok, const char *seeds,
                    const char *types, const char *pdir, const char *out, const char *rounds) {
    const char *v[] = {bin,        "selfinstruct", "--model",      model,     "--tokenizer", tok,    "--seed",
                       seeds,      "--red-team",   types,          "--prompts", pdir,       "--out", out,
                       "--target", "1000",         "--max-rounds", rounds,    "--k",        "2",    "--max-tokens",
                       "40",       "--threads",    "1",            "--batch", "4",          "--random-seed", "5",
                       "--rounds-per-batch", "4",  "--quiet",      NULL};
    memcpy(argv, v, sizeof v);
}

static void setup_cli(sa_test *t, char *dir, size_t n, const char **seeds, const char **types, const char **pdir) {
    snprintf(dir, n, "%s/cli", sa_test_tmpdir(t));
    char p[1300];
    snprintf(p, sizeof p, "mkdir -p %s/ref %s/cut %s/one", dir, dir, dir);
    SA_REQUIRE(t, system(p) == 0);
    snprintf(p, sizeof p, "%s/seeds.jsonl", dir);
    *seeds = sa_test_tmpfile(t, "cli/seeds.jsonl");
    sa_test_write_file(t, *seeds, k_seeds, strlen(k_seeds));
    *types = sa_test_tmpfile(t, "cli/types.jsonl");
    sa_test_write_file(t, *types, k_types, strlen(k_types));
    *pdir = sa_test_tmpfile(t, "cli/prompts");
    write_prompts_dir(t, *pdir, false);
}

static void test_cli_end_to_end(sa_test *t) {
    const char *model = sa_test_data(t, M260), *tok = sa_test_data(t, T512), *bin = model && tok ? bin_path(t) : NULL;
    if (!model || !tok || !bin) return;
    char dir[1100];
    const char *seeds, *types, *pdir;
    setup_cli(t, dir, sizeof dir, &seeds, &types, &pdir);
    char out[1300], rej[1300], stats[1300];
    snprintf(out, sizeof out, "%s/one/p.jsonl", dir);
    snprintf(rej, sizeof rej, "%s/one/p.jsonl.rejected.jsonl", dir);
    snprintf(stats, sizeof stats, "%s/one/stats.json", dir);
    run_result r;
    if (!run(t, &r, NULL, "selfinstruct", "--model", model, "--tokenizer", tok, "--seed", seeds, "--red-team",
             types, "--prompts", pdir, "--out", out, "--target", "50", "--max-rounds", "6", "--k", "2",
             "--max-tokens", "32", "--threads", "1", "--topics-per-type", "2", "--topic-rounds", "2", NULL))
        return;
    SA_CHECKF(t, r.rc == 0, "rc %d: %s", r.rc, ERR(r));
    CHECK_HAS(t, ERR(r), "stopped (max_rounds)");
    CHECK_HAS(t, ERR(r), "template alpaca");
    result_free(&r);
    check_counts(t, stats, out, rej);
    check_ids(t, out);
    json_t *sj = NULL;
    sa_err e = {0};
    SA_CHECK_OK(t, sa_json_load_file(stats, 1 << 20, &sj, &e), &e);
    SA_CHECK_EQ_INT(t, jint(sj, "rounds", NULL), 6);
    SA_CHECK_EQ_INT(t, jint(sj, "seeds", NULL), 4);
    SA_CHECK_EQ_INT(t, jint(json_object_get(sj, "red_team"), "types", NULL), 3);
    SA_CHECK(t, jint(sj, "generated", NULL) >= 6); /* at least one candidate per round */
    json_decref(sj);
    /* usage errors */
    if (!run(t, &r, NULL, "selfinstruct", "--model", model, "--out", out, NULL)) return;
    SA_CHECK_EQ_INT(t, r.rc, 2);
    result_free(&r);
    /* the stock prompts do not fit this model's 512-token context: every request fails, and is counted */
    if (!run(t, &r, NULL, "selfinstruct", "--model", model, "--tokenizer", tok, "--seed", seeds, "--out",
             sa_test_tmpfile(t, "cli/stock.jsonl"), "--target", "5", "--max-rounds", "2", "--k", "6", "--threads", "1",
             NULL))
        return;
    SA_CHECKF(t, r.rc == 0, "rc %d: %s", r.rc, ERR(r));
    CHECK_HAS(t, ERR(r), "2 failed");
    result_free(&r);
}

static void test_cli_kill9_resume(sa_test *t) {
    const char *model = sa_test_data(t, M260), *tok = sa_test_data(t, T512), *bin = model && tok ? bin_path(t) : NULL;
    if (!model || !tok || !bin) return;
    char dir[1100];
    const char *seeds, *types, *pdir;
    setup_cli(t, dir, sizeof dir, &seeds, &types, &pdir);
    char ref[1300], cut[1300], journal[1400];
    snprintf(ref, sizeof ref, "%s/ref/p.jsonl", dir);
    snprintf(cut, sizeof cut, "%s/cut/p.jsonl", dir);
    snprintf(journal, sizeof journal, "%s.journal", cut);
    const char *rounds = "200";
    const char *argv[40];
    si_argv(argv, bin, model, tok, seeds, types, pdir, ref, rounds);
    int st = 0;
    pid_t pid = child_spawn(argv);
    waitpid(pid, &st, 0);
    SA_REQUIRE(t, WIFEXITED(st) && WEXITSTATUS(st) == 0);
    si_argv(argv, bin, model, tok, seeds, types, pdir, cut, rounds);
    pid = child_spawn(argv);
    bool exited = false;
    for (int spin = 0; spin < 60000; spin++) {
        if (file_lines(journal) >= 30) break;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            exited = true;
            break;
        }
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    SA_REQUIRE(t, !exited);
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    SA_CHECK(t, WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    uint64_t at = file_lines(journal);
    SA_CHECKF(t, at >= 30 && at < 200, "killed after %llu results", (unsigned long long)at);
    SA_CHECK(t, access(cut, F_OK) != 0); /* final files only at the end */
    run_result r;
    if (!run_argv(t, &r, NULL, argv + 1)) return;
    SA_CHECKF(t, r.rc == 0, "rc %d: %s", r.rc, ERR(r));
    result_free(&r);
    const char *names[] = {"p.jsonl", "p.jsonl.rejected.jsonl", "stats.json"};
    for (int k = 0; k < 3; k++) {
        char x[1300], y[1300];
        snprintf(x, sizeof x, "%s/ref/%s", dir, names[k]);
        snprintf(y, sizeof y, "%s/cut/%s", dir, names[k]);
        SA_CHECKF(t, files_equal(x, y) || (k == 0 && file_lines(x) == 0 && file_lines(y) == 0),
                  "%s differs after kill -9 and rerun", names[k]);
    }
    char rj[1400], sp[1400];
    snprintf(rj, sizeof rj, "%s.rejected.jsonl", cut);
    snprintf(sp, sizeof sp, "%s/cut/stats.json", dir);
    check_counts(t, sp, cut, rj);
    check_ids(t, cut);
}

static const sa_test_def k_tests[] = {
    {"parse_list", test_parse_list},
    {"filters", test_filters},
    {"topics", test_topics},
    {"types_file", test_types_file},
    {"seeds_file", test_seeds_file},
    {"scripted", test_scripted},
    {"cli_end_to_end", test_cli_end_to_end},
    {"cli_kill9_resume", test_cli_kill9_resume},
};
SA_TEST_MAIN(k_tests)
