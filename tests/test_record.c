/* test_record.c — records: the real instruction files in every format with
 * exact counts, round trips ours -> alpaca/sharegpt/messages -> ours, stable
 * content ids, canonical serialisation, and hostile inputs. */
#include <stdint.h>
#include <string.h>

#include "sa/hash.h"
#include "sa/json.h"
#include "sa/record.h"
#include "sa_test.h"

typedef struct bad_log {
    int n;
    uint64_t lines[32];
    char reasons[32][300];
} bad_log;

static void on_bad(void *ctx, const char *path, uint64_t line, const char *reason) {
    bad_log *b = ctx;
    if (b->n < 32) {
        b->lines[b->n] = line;
        snprintf(b->reasons[b->n], sizeof b->reasons[0], "%s", reason);
    }
    b->n++;
}

typedef struct file_counts {
    uint64_t records, bad, multi_turn, with_input, with_system;
    sa_record_format format;
    bool is_array;
} file_counts;

/* Read a whole file with AUTO detection; counts records by shape. */
static sa_status read_all(const char *path, file_counts *c, bad_log *log, sa_err *e) {
    memset(c, 0, sizeof *c);
    sa_record_reader_opts o = {.format = SA_RECORD_FORMAT_AUTO, .on_bad = on_bad, .ctx = log};
    sa_record_reader r;
    sa_status s = sa_record_reader_open(&r, path, &o, e);
    if (s != SA_OK) return s;
    sa_record rec;
    sa_record_init(&rec);
    while ((s = sa_record_reader_next(&r, &rec, e)) == SA_OK) {
        c->records++;
        if (rec.meta && json_array_size(json_object_get(rec.meta, "turns"))) c->multi_turn++;
        if (rec.input) c->with_input++;
        if (rec.system) c->with_system++;
    }
    sa_record_free(&rec);
    c->bad = sa_record_reader_bad(&r);
    c->format = r.format;
    c->is_array = r.is_array;
    sa_record_reader_close(&r);
    return s == SA_ERR_EOF ? SA_OK : s;
}

static void test_real_lima(sa_test *t) {
    const char *p = sa_test_data(t, "instructions/lima_train_llamafactory.json");
    if (!p) return;
    file_counts c;
    bad_log log = {0};
    sa_err e = {0};
    SA_REQUIRE_OK(t, read_all(p, &c, &log, &e), &e);
    SA_CHECK_EQ_INT(t, c.format, SA_RECORD_FORMAT_ALPACA);
    SA_CHECK(t, c.is_array);
    SA_CHECK_EQ_INT(t, c.records, 1029);
    SA_CHECK_EQ_INT(t, c.multi_turn, 29);
    SA_CHECK_EQ_INT(t, c.bad, 0);
    SA_CHECKF(t, log.n == 0, "first bad: %s", log.reasons[0]);
}

static void test_real_sharegpt(sa_test *t) {
    const char *p = sa_test_data(t, "instructions/sharegpt-vicuna-dummy.json");
    if (!p) return;
    file_counts c;
    bad_log log = {0};
    sa_err e = {0};
    SA_REQUIRE_OK(t, read_all(p, &c, &log, &e), &e);
    SA_CHECK_EQ_INT(t, c.format, SA_RECORD_FORMAT_SHAREGPT);
    SA_CHECK_EQ_INT(t, c.records, 910);
    SA_CHECK_EQ_INT(t, c.multi_turn, 1);
    SA_CHECK_EQ_INT(t, c.bad, 0);
    /* The first record: its ShareGPT id kept in meta.extra, later turns in meta.turns. */
    sa_record_reader r;
    SA_REQUIRE_OK(t, sa_record_reader_open(&r, p, NULL, &e), &e);
    sa_record rec;
    sa_record_init(&rec);
    SA_REQUIRE_OK(t, sa_record_reader_next(&r, &rec, &e), &e);
    SA_CHECK_STR(t, rec.instruction, "Who are you?");
    SA_CHECK_STR(t, rec.source, "seed");
    SA_CHECK_STR(t, json_string_value(json_object_get(json_object_get(rec.meta, "extra"), "id")),
                 "identity_0");
    SA_CHECK_STR(t, json_string_value(json_object_get(rec.meta, "format")), "sharegpt");
    json_t *turns = json_object_get(rec.meta, "turns");
    SA_CHECK_EQ_INT(t, json_array_size(turns), 2);
    SA_CHECK_STR(t, json_string_value(json_object_get(json_array_get(turns, 1), "content")),
                 "I can chat with you.");
    sa_record_free(&rec);
    sa_record_reader_close(&r);
}

static void test_real_self_instruct(sa_test *t) {
    const char *p = sa_test_data(t, "instructions/self-instruct_seed_tasks.jsonl");
    if (!p) return;
    file_counts c;
    bad_log log = {0};
    sa_err e = {0};
    SA_REQUIRE_OK(t, read_all(p, &c, &log, &e), &e);
    SA_CHECK_EQ_INT(t, c.format, SA_RECORD_FORMAT_SELF_INSTRUCT);
    SA_CHECK(t, !c.is_array);
    SA_CHECK_EQ_INT(t, c.records, 175);
    SA_CHECK_EQ_INT(t, c.bad, 0);
    SA_CHECKF(t, log.n == 0, "first bad: line %llu: %s", (unsigned long long)log.lines[0],
              log.reasons[0]);
    sa_record_reader r;
    SA_REQUIRE_OK(t, sa_record_reader_open(&r, p, NULL, &e), &e);
    sa_record rec;
    sa_record_init(&rec);
    SA_CHECK_OK(t, sa_record_reader_next(&r, &rec, &e), &e);
    SA_CHECK_OK(t, sa_record_reader_next(&r, &rec, &e), &e); /* seed_task_1 has an input */
    SA_CHECK_STR(t, rec.instruction, "What is the relation between the given pairs?");
    SA_CHECK_STR(t, rec.input, "Night : Day :: Right : Left");
    json_t *extra = json_object_get(rec.meta, "extra");
    SA_CHECK_STR(t, json_string_value(json_object_get(extra, "name")), "antonym_relation");
    SA_CHECK(t, json_is_false(json_object_get(extra, "is_classification")));
    sa_record_free(&rec);
    sa_record_reader_close(&r);
}

static void test_real_guanaco(sa_test *t) {
    const char *p = sa_test_data(t, "instructions/openassistant-guanaco_best_replies_eval.jsonl");
    if (!p) return;
    file_counts c;
    bad_log log = {0};
    sa_err e = {0};
    SA_REQUIRE_OK(t, read_all(p, &c, &log, &e), &e);
    SA_CHECK_EQ_INT(t, c.format, SA_RECORD_FORMAT_GUANACO);
    SA_CHECK_EQ_INT(t, c.records, 518);
    /* 254 rows are one exchange; the other 264 keep their later turns. */
    SA_CHECK_EQ_INT(t, c.multi_turn, 264);
    SA_CHECK_EQ_INT(t, c.bad, 0);
    SA_CHECKF(t, log.n == 0, "first bad: line %llu: %s", (unsigned long long)log.lines[0],
              log.reasons[0]);
}

static void test_real_dromedary_unsupported(sa_test *t) {
    const char *p = sa_test_data(t, "instructions/dromedary-tgrt-seed-questions.jsonl");
    if (!p) return;
    file_counts c;
    bad_log log = {0};
    sa_err e = {0};
    SA_CHECK_EQ_INT(t, read_all(p, &c, &log, &e), SA_ERR_UNSUPPORTED);
    SA_CHECKF(t, strstr(e.msg, "dromedary-tgrt-seed-questions.jsonl:1: ") &&
                     strstr(e.msg, "TGRT seed questions"),
              "msg: %s", e.msg);
}

static void fill(sa_record *r, const char *ins, const char *inp, const char *out, const char *sys) {
    sa_record_init(r);
    r->instruction = strdup(ins);
    r->input = inp ? strdup(inp) : NULL;
    r->output = strdup(out);
    r->system = sys ? strdup(sys) : NULL;
}

static bool same_str(const char *a, const char *b) {
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Write recs in fmt (JSONL, or a JSON array when array), read back with AUTO. */
static void roundtrip(sa_test *t, sa_record *recs, int n, sa_record_format fmt, bool array,
                      sa_record *back) {
    sa_strbuf sb = {0};
    sa_err e = {0};
    sa_record_array_writer w;
    if (array) SA_CHECK_OK(t, sa_record_array_begin(&w, &sb, fmt, &e), &e);
    for (int i = 0; i < n; i++) {
        if (array) SA_CHECK_OK(t, sa_record_array_add(&w, &sb, &recs[i], &e), &e);
        else SA_CHECK_OK(t, sa_record_write(&sb, &recs[i], fmt, &e), &e);
    }
    if (array) SA_CHECK_OK(t, sa_record_array_end(&w, &sb, &e), &e);
    const char *path = sa_test_tmpfile(t, "rt.json");
    SA_REQUIRE(t, sa_test_write_file(t, path, sb.buf, sb.len));
    sa_strbuf_free(&sb);
    bad_log log = {0};
    sa_record_reader_opts o = {.on_bad = on_bad, .ctx = &log};
    sa_record_reader r;
    SA_REQUIRE_OK(t, sa_record_reader_open(&r, path, &o, &e), &e);
    SA_CHECKF(t, r.format == fmt, "%s read back as %s", sa_record_format_name(fmt),
              sa_record_format_name(r.format));
    SA_CHECK(t, r.is_array == array);
    for (int i = 0; i < n; i++) SA_CHECK_OK(t, sa_record_reader_next(&r, &back[i], &e), &e);
    sa_record extra;
    sa_record_init(&extra);
    SA_CHECK_EQ_INT(t, sa_record_reader_next(&r, &extra, &e), SA_ERR_EOF);
    SA_CHECKF(t, log.n == 0, "bad: %s", log.reasons[0]);
    sa_record_reader_close(&r);
}

static void test_roundtrips(sa_test *t) {
    enum { N = 3 };
    sa_record recs[N];
    fill(&recs[0], "Translate to French.", "Good morning", "Bonjour", "You are terse.");
    fill(&recs[1], "Write a haiku about \"snow\".\nKeep it calm.", NULL,
         "White hush on the pines\n\xE2\x80\x94 silence falls", NULL);
    fill(&recs[2], "Name a prime.", NULL, "7", NULL);
    recs[0].has_score = true;
    recs[0].score = 4.5;
    recs[0].source = strdup("augmented");
    recs[0].reason = strdup("clear");
    recs[0].meta = json_pack("{s:s, s:i}", "model", "tiny", "iteration", 2);
    sa_err e = {0};
    for (int i = 0; i < N; i++) SA_CHECK_OK(t, sa_record_set_id(&recs[i], &e), &e);

    sa_record back[N];
    for (int i = 0; i < N; i++) sa_record_init(&back[i]);
    /* Ours: everything survives, and the serialisation is byte-identical. */
    roundtrip(t, recs, N, SA_RECORD_FORMAT_OURS, false, back);
    for (int i = 0; i < N; i++) {
        sa_strbuf a = {0}, b = {0};
        SA_CHECK_OK(t, sa_record_write(&a, &recs[i], SA_RECORD_FORMAT_OURS, &e), &e);
        SA_CHECK_OK(t, sa_record_write(&b, &back[i], SA_RECORD_FORMAT_OURS, &e), &e);
        SA_CHECK_STR(t, sa_strbuf_cstr(&b), sa_strbuf_cstr(&a));
        sa_strbuf_free(&a);
        sa_strbuf_free(&b);
    }
    SA_CHECK(t, back[0].has_score && back[0].score == 4.5);
    SA_CHECK_STR(t, back[0].reason, "clear");
    SA_CHECK_EQ_INT(t, json_integer_value(json_object_get(back[0].meta, "iteration")), 2);

    sa_record_format fmts[] = {SA_RECORD_FORMAT_ALPACA, SA_RECORD_FORMAT_ALPACA,
                               SA_RECORD_FORMAT_SHAREGPT, SA_RECORD_FORMAT_MESSAGES};
    for (size_t f = 0; f < 4; f++) {
        bool array = f == 1;
        roundtrip(t, recs, N, fmts[f], array, back);
        for (int i = 0; i < N; i++) {
            bool keeps_input = fmts[f] == SA_RECORD_FORMAT_ALPACA || !recs[i].input;
            if (keeps_input) {
                SA_CHECKF(t, same_str(back[i].instruction, recs[i].instruction), "%s #%d instruction",
                          sa_record_format_name(fmts[f]), i);
                SA_CHECKF(t, same_str(back[i].input, recs[i].input), "%s #%d input",
                          sa_record_format_name(fmts[f]), i);
                SA_CHECK_STR(t, back[i].id, recs[i].id); /* same content, same id */
            } else {
                /* No input field in chat formats: it joins the user turn. */
                SA_CHECK_STR(t, back[i].instruction, "Translate to French.\n\nGood morning");
                SA_CHECK(t, back[i].input == NULL);
            }
            SA_CHECKF(t, same_str(back[i].output, recs[i].output), "%s #%d output",
                      sa_record_format_name(fmts[f]), i);
            SA_CHECKF(t, same_str(back[i].system, recs[i].system), "%s #%d system",
                      sa_record_format_name(fmts[f]), i);
            SA_CHECK_STR(t, json_string_value(json_object_get(back[i].meta, "format")),
                         sa_record_format_name(fmts[f]));
        }
    }
    for (int i = 0; i < N; i++) {
        sa_record_free(&recs[i]);
        sa_record_free(&back[i]);
    }
}

/* A three-exchange conversation survives every chat export and Alpaca history. */
static void test_multiturn_roundtrip(sa_test *t) {
    const char line[] =
        "{\"messages\":[{\"role\":\"system\",\"content\":\"Be kind.\"},"
        "{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Hello!\"},"
        "{\"role\":\"user\",\"content\":\"2+2?\"},{\"role\":\"assistant\",\"content\":\"4\"},"
        "{\"role\":\"user\",\"content\":\"Thanks\"},{\"role\":\"assistant\",\"content\":\"Any time.\"}]}";
    json_t *obj;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_json_parse(line, strlen(line), "m", &obj, &e), &e);
    sa_record rec;
    sa_record_init(&rec);
    SA_REQUIRE_OK(t, sa_record_parse(obj, SA_RECORD_FORMAT_MESSAGES, NULL, NULL, &rec, &e), &e);
    json_decref(obj);
    SA_CHECK_STR(t, rec.system, "Be kind.");
    SA_CHECK_STR(t, rec.instruction, "Hi");
    SA_CHECK_STR(t, rec.output, "Hello!");
    SA_CHECK_EQ_INT(t, json_array_size(json_object_get(rec.meta, "turns")), 4);
    sa_record_format fmts[] = {SA_RECORD_FORMAT_SHAREGPT, SA_RECORD_FORMAT_MESSAGES,
                               SA_RECORD_FORMAT_ALPACA};
    for (size_t f = 0; f < 3; f++) {
        sa_record back;
        sa_record_init(&back);
        roundtrip(t, &rec, 1, fmts[f], false, &back);
        SA_CHECK_STR(t, back.system, "Be kind.");
        SA_CHECK_STR(t, back.instruction, "Hi");
        SA_CHECK_STR(t, back.output, "Hello!");
        SA_CHECKF(t, json_equal(json_object_get(back.meta, "turns"), json_object_get(rec.meta, "turns")),
                  "%s lost turns", sa_record_format_name(fmts[f]));
        sa_record_free(&back);
    }
    /* The Alpaca form is LIMA-style: earlier exchanges in history. */
    sa_strbuf sb = {0};
    SA_CHECK_OK(t, sa_record_write(&sb, &rec, SA_RECORD_FORMAT_ALPACA, &e), &e);
    SA_CHECK_STR(t, sa_strbuf_cstr(&sb),
                 "{\"history\":[[\"Hi\",\"Hello!\"],[\"2+2?\",\"4\"]],\"input\":\"\","
                 "\"instruction\":\"Thanks\",\"output\":\"Any time.\",\"system\":\"Be kind.\"}\n");
    sa_strbuf_free(&sb);
    sa_record_free(&rec);
}

static void test_ids(sa_test *t) {
    sa_record a, b;
    fill(&a, "ab", NULL, "out", NULL);
    fill(&b, "ab", NULL, "out", "a system prompt");
    char ia[17], ib[17];
    sa_record_compute_id(&a, ia);
    sa_record_compute_id(&b, ib);
    SA_CHECK_EQ_INT(t, strlen(ia), 16);
    SA_CHECK_STR(t, ia, ib); /* system does not enter the id */
    /* Pinned: ids must never change between versions or machines (the value
     * is XXH3-64 of the byte layout documented in record.h). */
    SA_CHECK_STR(t, ia, "ec4ff014c18842c4");
    /* ...and it is exactly that layout, hashed in one shot. */
    const unsigned char layout[] = "sa.record.v1" "\x02\0\0\0\0\0\0\0" "ab"
                                   "\0\0\0\0\0\0\0\0" "\x03\0\0\0\0\0\0\0" "out";
    char one[17];
    sa_hash_hex(sa_hash64(layout, sizeof layout - 1, 0), one);
    SA_CHECK_STR(t, ia, one);
    free(b.instruction);
    b.instruction = strdup("a");
    free(b.input);
    b.input = strdup("b");
    sa_record_compute_id(&b, ib);
    SA_CHECK(t, strcmp(ia, ib) != 0); /* ("ab", -) != ("a", "b") */
    free(b.instruction);
    b.instruction = strdup("ab");
    free(b.input);
    b.input = NULL;
    free(b.output);
    b.output = strdup("out!");
    sa_record_compute_id(&b, ib);
    SA_CHECK(t, strcmp(ia, ib) != 0);
    free(b.output);
    b.output = strdup("out");
    b.input = strdup("");
    sa_record_compute_id(&b, ib);
    SA_CHECK_STR(t, ia, ib); /* empty input == no input */
    sa_record_free(&a);
    sa_record_free(&b);
}

/* Hostile and malformed records: each reported with its line and reason. */
static void test_hostile_records(sa_test *t) {
    sa_strbuf f = {0};
    sa_strbuf_puts(&f, "{\"id\":\"x1\",\"instruction\":\"ok\",\"output\":\"fine\",\"source\":\"seed\"}\n"); /* 1 */
    sa_strbuf_puts(&f, "{\"id\":\"x2\",\"instruction\":5,\"output\":\"o\"}\n");             /* 2 */
    sa_strbuf_puts(&f, "{\"id\":\"x3\",\"instruction\":\"i\"}\n");                           /* 3 */
    sa_strbuf_puts(&f, "{\"id\":\"x4\",\"instruction\":\"i\",\"output\":\"o\",\"categry\":1}\n"); /* 4 */
    sa_strbuf_puts(&f, "{\"id\":\"x5\",\"instruction\":\"i\",\"output\":\"o\",\"meta\":");   /* 5 */
    for (int i = 0; i < 3000; i++) sa_strbuf_putc(&f, '[');
    for (int i = 0; i < 3000; i++) sa_strbuf_putc(&f, ']');
    sa_strbuf_puts(&f, "}\n");
    sa_strbuf_puts(&f, "{\"id\":\"x6\",\"instruction\":\"i\",\"output\":\""); /* 6 */
    for (int i = 0; i < 300000; i++) sa_strbuf_putc(&f, 'z');
    sa_strbuf_puts(&f, "\"}\n");
    sa_strbuf_puts(&f, "{\"id\":\"x7\",\"instruction\":\"  \",\"output\":\"o\"}\n");         /* 7 */
    sa_strbuf_puts(&f, "{\"id\":\"x8\",\"instruction\":\"i\",\"output\":\"o\",\"meta\":[1]}\n"); /* 8 */
    sa_strbuf_puts(&f, "{\"id\":\"x9\",\"instruction\":\"i\",\"output\":\"o\",\"score\":\"high\"}\n"); /* 9 */
    sa_strbuf_puts(&f, "{\"id\":\"xa\",\"instruction\":\"last\",\"output\":\"good\"}\n");    /* 10 */
    const char *path = sa_test_tmpfile(t, "hostile.jsonl");
    SA_REQUIRE(t, sa_test_write_file(t, path, f.buf, f.len));
    sa_strbuf_free(&f);
    bad_log log = {0};
    sa_record_reader_opts o = {.format = SA_RECORD_FORMAT_AUTO,
                               .limits = {.max_field_bytes = 100000},
                               .on_bad = on_bad,
                               .ctx = &log};
    sa_record_reader r;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_record_reader_open(&r, path, &o, &e), &e);
    SA_CHECK_EQ_INT(t, r.format, SA_RECORD_FORMAT_OURS);
    sa_record rec;
    sa_record_init(&rec);
    int n = 0;
    while (sa_record_reader_next(&r, &rec, &e) == SA_OK) n++;
    SA_CHECK_EQ_INT(t, n, 2);
    SA_CHECK_STR(t, rec.instruction, "last");
    SA_CHECK_STR(t, rec.id, "xa"); /* ids are kept as written */
    SA_REQUIRE(t, log.n == 8);
    const uint64_t lines[8] = {2, 3, 4, 5, 6, 7, 8, 9};
    const char *why[8] = {"key \"instruction\" is an integer, expected a string",
                          "missing required key \"output\"",
                          "unknown key \"categry\"",
                          "depth",
                          "\"output\" is 300000 bytes, over the 100000-byte limit",
                          "\"instruction\" is empty",
                          "key \"meta\" is an array, expected an object",
                          "key \"score\" is a string, expected a number"};
    for (int i = 0; i < 8; i++) {
        SA_CHECKF(t, log.lines[i] == lines[i], "bad %d at line %llu", i,
                  (unsigned long long)log.lines[i]);
        SA_CHECKF(t, strstr(log.reasons[i], why[i]) != NULL, "reason %d: %s", i, log.reasons[i]);
    }
    SA_CHECK_EQ_INT(t, sa_record_reader_bad(&r), 8);
    SA_CHECK_EQ_INT(t, r.bad_records, 7);     /* schema errors */
    SA_CHECK_EQ_INT(t, r.jr.stats.bad_json, 1); /* the too-deep line */
    sa_record_free(&rec);
    sa_record_reader_close(&r);

    /* FAIL policy: the first bad record stops the reader with file:line. */
    o.policy = SA_JSONL_FAIL;
    o.on_bad = NULL;
    SA_REQUIRE_OK(t, sa_record_reader_open(&r, path, &o, &e), &e);
    SA_CHECK_OK(t, sa_record_reader_next(&r, &rec, &e), &e);
    SA_CHECK_EQ_INT(t, sa_record_reader_next(&r, &rec, &e), SA_ERR_FORMAT);
    char want[1200];
    snprintf(want, sizeof want, "%s:2: key \"instruction\" is an integer, expected a string", path);
    SA_CHECK_STR(t, e.msg, want);
    sa_record_free(&rec);
    sa_record_reader_close(&r);
}

static void test_hostile_foreign(sa_test *t) {
    struct {
        sa_record_format fmt;
        const char *json;
        const char *why;
    } cases[] = {
        {SA_RECORD_FORMAT_SHAREGPT, "{\"conversations\":[{\"from\":\"gpt\",\"value\":\"hi\"}]}",
         "turn 0 is assistant, expected the first user turn"},
        {SA_RECORD_FORMAT_SHAREGPT,
         "{\"conversations\":[{\"from\":\"human\",\"value\":\"q\"},{\"from\":\"tool\",\"value\":\"x\"}]}",
         "unsupported from \"tool\""},
        {SA_RECORD_FORMAT_SHAREGPT, "{\"conversations\":[{\"from\":\"human\",\"value\":\"q\"}]}",
         "not followed by an assistant turn"},
        {SA_RECORD_FORMAT_SHAREGPT, "{\"conversations\":{}}", "is an object, expected an array"},
        {SA_RECORD_FORMAT_SHAREGPT, "{\"conversations\":[\"q\",\"a\"]}", "conversations[0] is a string"},
        {SA_RECORD_FORMAT_MESSAGES,
         "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}", "multimodal"},
        {SA_RECORD_FORMAT_MESSAGES, "{\"messages\":[{\"role\":\"user\"}]}",
         "messages[0]: missing required key \"content\""},
        {SA_RECORD_FORMAT_MESSAGES,
         "{\"messages\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":\"q\"},"
         "{\"role\":\"assistant\",\"content\":\"\"}]}",
         "output) is empty"},
        {SA_RECORD_FORMAT_ALPACA, "{\"instruction\":\"i\",\"output\":\"o\",\"history\":[[\"q\"]]}",
         "history[0] is not a [user, assistant] pair"},
        {SA_RECORD_FORMAT_ALPACA, "{\"instruction\":\"i\",\"input\":7,\"output\":\"o\"}",
         "key \"input\" is an integer"},
        {SA_RECORD_FORMAT_SELF_INSTRUCT, "{\"instruction\":\"i\",\"instances\":[]}",
         "\"instances\" is empty"},
        {SA_RECORD_FORMAT_SELF_INSTRUCT, "{\"instruction\":\"i\",\"instances\":[{\"input\":\"x\"}]}",
         "instances[0]: missing required key \"output\""},
        {SA_RECORD_FORMAT_GUANACO, "{\"text\":\"Hello ### Assistant: hi\"}", "does not start with"},
        {SA_RECORD_FORMAT_GUANACO, "{\"text\":\"### Human: only a question\"}",
         "not followed by an assistant turn"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *obj;
        sa_err e = {0};
        SA_REQUIRE_OK(t, sa_json_parse(cases[i].json, strlen(cases[i].json), "case", &obj, &e), &e);
        sa_record rec;
        sa_record_init(&rec);
        sa_status s = sa_record_parse(obj, cases[i].fmt, NULL, NULL, &rec, &e);
        SA_CHECKF(t, s != SA_OK && strstr(e.msg, cases[i].why), "case %zu: status %d msg: %s", i,
                  (int)s, e.msg);
        SA_CHECK(t, rec.instruction == NULL && rec.meta == NULL); /* nothing half-filled */
        sa_record_free(&rec);
        json_decref(obj);
    }
    /* Turn cap. */
    sa_strbuf sb = {0};
    sa_strbuf_puts(&sb, "{\"conversations\":[");
    for (int i = 0; i < 20; i++)
        sa_strbuf_appendf(&sb, "%s{\"from\":\"%s\",\"value\":\"t\"}", i ? "," : "", i % 2 ? "gpt" : "human");
    sa_strbuf_puts(&sb, "]}");
    json_t *obj;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_json_parse(sb.buf, sb.len, "turns", &obj, &e), &e);
    sa_record rec;
    sa_record_init(&rec);
    sa_record_limits lim = {.max_turns = 8};
    SA_CHECK_EQ_INT(t, sa_record_parse(obj, SA_RECORD_FORMAT_SHAREGPT, &lim, NULL, &rec, &e), SA_ERR_RANGE);
    SA_CHECKF(t, strstr(e.msg, "more than 8 turns") != NULL, "%s", e.msg);
    SA_CHECK_OK(t, sa_record_parse(obj, SA_RECORD_FORMAT_SHAREGPT, NULL, "red_team", &rec, &e), &e);
    SA_CHECK_EQ_INT(t, json_array_size(json_object_get(rec.meta, "turns")), 18);
    SA_CHECK_STR(t, rec.source, "red_team");
    sa_record_free(&rec);
    json_decref(obj);
    sa_strbuf_free(&sb);
}

static void test_array_bad_items_and_detection(sa_test *t) {
    const char data[] =
        "[\n {\"instruction\":\"a\",\"input\":\"\",\"output\":\"b\"},\n 42,\n"
        " {\"instruction\":\"c\"},\n {\"instruction\":\"d\",\"output\":\"e\",\"category\":\"qa\"}\n]\n";
    const char *path = sa_test_tmpfile(t, "arr.json");
    SA_REQUIRE(t, sa_test_write_file(t, path, data, strlen(data)));
    file_counts c;
    bad_log log = {0};
    sa_err e = {0};
    SA_REQUIRE_OK(t, read_all(path, &c, &log, &e), &e);
    SA_CHECK_EQ_INT(t, c.format, SA_RECORD_FORMAT_ALPACA);
    SA_CHECK_EQ_INT(t, c.records, 2);
    SA_CHECK_EQ_INT(t, c.bad, 2);
    SA_REQUIRE(t, log.n == 2);
    SA_CHECK(t, log.lines[0] == 3 && log.lines[1] == 4); /* where each item starts */
    SA_CHECKF(t, strstr(log.reasons[0], "index 1: not a JSON object (got an integer)"), "%s",
              log.reasons[0]);
    SA_CHECKF(t, strstr(log.reasons[1], "index 2: missing required key \"output\""), "%s",
              log.reasons[1]);
    SA_CHECK_EQ_INT(t, c.with_input, 0); /* "" input is no input */

    /* A missing comma glues two items into one bad item, reported with the
     * file line where jansson choked; the items after it still read. */
    const char broken[] = "[\n {\"instruction\":\"a\",\"output\":\"b\"}\n {\"x\":1},\n"
                          " {\"instruction\":\"c\",\"output\":\"d\"}\n]";
    SA_REQUIRE(t, sa_test_write_file(t, path, broken, strlen(broken)));
    memset(&log, 0, sizeof log);
    SA_REQUIRE_OK(t, read_all(path, &c, &log, &e), &e);
    SA_CHECK_EQ_INT(t, c.records, 1);
    SA_CHECK_EQ_INT(t, c.bad, 1);
    SA_REQUIRE(t, log.n == 1);
    SA_CHECK_EQ_INT(t, log.lines[0], 2);
    SA_CHECKF(t, strstr(log.reasons[0], "index 0: invalid JSON at line 3,"), "%s", log.reasons[0]);
    /* FAIL policy on an array: path:line: index N: reason. */
    sa_record_reader r;
    sa_record_reader_opts fo = {.format = SA_RECORD_FORMAT_ALPACA, .policy = SA_JSONL_FAIL};
    SA_REQUIRE_OK(t, sa_record_reader_open(&r, path, &fo, &e), &e);
    sa_record one;
    sa_record_init(&one);
    SA_CHECK_EQ_INT(t, sa_record_reader_next(&r, &one, &e), SA_ERR_FORMAT);
    SA_CHECKF(t, strstr(e.msg, "arr.json:2: index 0: invalid JSON at line 3,") != NULL, "%s", e.msg);
    SA_CHECK_OK(t, sa_record_reader_next(&r, &one, &e), &e);
    SA_CHECK_STR(t, one.instruction, "c");
    sa_record_free(&one);
    sa_record_reader_close(&r);

    /* Unknown shapes and plain text corpora are refused with a reason. */
    const char unk[] = "{\"prompt\":\"p\",\"completion\":\"c\"}\n";
    SA_REQUIRE(t, sa_test_write_file(t, path, unk, strlen(unk)));
    SA_CHECK_EQ_INT(t, sa_record_reader_open(&r, path, NULL, &e), SA_ERR_UNSUPPORTED);
    SA_CHECKF(t, strstr(e.msg, "keys {prompt, completion}") != NULL, "%s", e.msg);
    const char txt[] = "{\"text\":\"The cat sat.\"}\n";
    SA_REQUIRE(t, sa_test_write_file(t, path, txt, strlen(txt)));
    SA_CHECK_EQ_INT(t, sa_record_reader_open(&r, path, NULL, &e), SA_ERR_UNSUPPORTED);
    SA_CHECKF(t, strstr(e.msg, "corpus") != NULL, "%s", e.msg);
    /* An empty file is simply empty. */
    SA_REQUIRE(t, sa_test_write_file(t, path, "", 0));
    SA_REQUIRE_OK(t, sa_record_reader_open(&r, path, NULL, &e), &e);
    sa_record rec;
    sa_record_init(&rec);
    SA_CHECK_EQ_INT(t, sa_record_reader_next(&r, &rec, &e), SA_ERR_EOF);
    sa_record_reader_close(&r);

    sa_record_format f;
    SA_CHECK_OK(t, sa_record_format_parse("sharegpt", &f, &e), &e);
    SA_CHECK_EQ_INT(t, f, SA_RECORD_FORMAT_SHAREGPT);
    SA_CHECK_EQ_INT(t, sa_record_format_parse("vicuna", &f, &e), SA_ERR_INVALID_ARG);
}

static void test_writer_errors(sa_test *t) {
    sa_record r;
    sa_record_init(&r);
    r.instruction = strdup("i");
    sa_strbuf sb = {0};
    sa_err e = {0};
    SA_CHECK_EQ_INT(t, sa_record_write(&sb, &r, SA_RECORD_FORMAT_OURS, &e), SA_ERR_INVALID_ARG);
    SA_CHECK_STR(t, e.msg, "record has no output");
    r.output = strdup("o");
    SA_CHECK_EQ_INT(t, sa_record_write(&sb, &r, SA_RECORD_FORMAT_GUANACO, &e), SA_ERR_UNSUPPORTED);
    r.meta = json_pack("{s:[i]}", "turns", 1);
    SA_CHECK_EQ_INT(t, sa_record_write(&sb, &r, SA_RECORD_FORMAT_SHAREGPT, &e), SA_ERR_INVALID_ARG);
    SA_CHECKF(t, strstr(e.msg, "meta.turns[0]") != NULL, "%s", e.msg);
    SA_CHECK_EQ_INT(t, sb.len, 0);
    sa_strbuf_free(&sb);
    sa_record_free(&r);
}

static const sa_test_def tests[] = {
    {"real_lima", test_real_lima},
    {"real_sharegpt", test_real_sharegpt},
    {"real_self_instruct", test_real_self_instruct},
    {"real_guanaco", test_real_guanaco},
    {"real_dromedary_unsupported", test_real_dromedary_unsupported},
    {"roundtrips", test_roundtrips},
    {"multiturn_roundtrip", test_multiturn_roundtrip},
    {"ids", test_ids},
    {"hostile_records", test_hostile_records},
    {"hostile_foreign", test_hostile_foreign},
    {"array_bad_items_and_detection", test_array_bad_items_and_detection},
    {"writer_errors", test_writer_errors},
};
SA_TEST_MAIN(tests)
