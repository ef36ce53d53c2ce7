/* test_jsonl.c — the strict JSON layer and the streaming JSONL reader:
 * error locations, canonical dumps, every bad-line kind reported with its
 * line number and counted, CRLF/blank/unterminated-last-line handling,
 * unbuffered skipping of over-long lines, the FAIL policy, and array mode
 * (streamed items, bad items by index and line, truncation). */
#include <stdint.h>
#include <string.h>

#include "sa/json.h"
#include "sa/jsonl.h"
#include "sa_test.h"

typedef struct bad_log {
    int n;
    uint64_t lines[32];
    char reasons[32][200];
} bad_log;

static void on_bad(void *ctx, const char *path, uint64_t line, const char *reason) {
    bad_log *b = ctx;
    if (b->n < 32) {
        b->lines[b->n] = line;
        snprintf(b->reasons[b->n], sizeof b->reasons[0], "%s", reason);
    }
    b->n++;
}

static void test_json_parse_errors(sa_test *t) {
    sa_err e = {0};
    json_t *v;
    const char dup[] = "{\"a\": 1,\n \"a\": 2}";
    SA_CHECK_EQ_INT(t, sa_json_parse(dup, strlen(dup), "cfg.json", &v, &e), SA_ERR_FORMAT);
    SA_CHECK(t, v == NULL);
    SA_CHECKF(t, strstr(e.msg, "cfg.json:2:") && strstr(e.msg, "duplicate"), "msg: %s", e.msg);

    const char bad8[] = "{\"a\": \"ok\",\n \"b\": \"\xC3\x28\"}";
    SA_CHECK_EQ_INT(t, sa_json_parse(bad8, strlen(bad8), "x.json", &v, &e), SA_ERR_UTF8);
    SA_CHECKF(t, strstr(e.msg, "x.json:2:8:") && strstr(e.msg, "byte offset 19"), "msg: %s", e.msg);

    const char trunc[] = "{\"a\": [1, 2";
    SA_CHECK_EQ_INT(t, sa_json_parse(trunc, strlen(trunc), NULL, &v, &e), SA_ERR_FORMAT);
    SA_CHECKF(t, strncmp(e.msg, "<json>:1:", 9) == 0, "msg: %s", e.msg);

    /* Not NUL-terminated: only len bytes count. */
    const char two[] = "{\"k\":true}GARBAGE";
    SA_REQUIRE_OK(t, sa_json_parse(two, 10, "n", &v, &e), &e);
    bool b = false, present = false;
    SA_CHECK_OK(t, sa_json_get_bool(v, "k", true, &b, &present, &e), &e);
    SA_CHECK(t, b && present);
    json_decref(v);

    /* BOM is skipped; \u0000 inside strings is refused. */
    const char bom[] = "\xEF\xBB\xBF{\"x\":1}";
    SA_CHECK_OK(t, sa_json_parse(bom, strlen(bom), "bom", &v, &e), &e);
    json_decref(v);
    const char nul[] = "{\"x\":\"a\\u0000b\"}";
    SA_CHECK_EQ_INT(t, sa_json_parse(nul, strlen(nul), "nul", &v, &e), SA_ERR_FORMAT);

    /* Deep nesting is refused by jansson's depth cap, not by a crash. */
    char deep[5001];
    memset(deep, '[', 5000);
    deep[5000] = '\0';
    SA_CHECK_EQ_INT(t, sa_json_parse(deep, 5000, "deep", &v, &e), SA_ERR_FORMAT);
    SA_CHECKF(t, strstr(e.msg, "depth") != NULL, "msg: %s", e.msg);
}

static void test_json_getters(sa_test *t) {
    sa_err e = {0};
    json_t *o;
    const char doc[] = "{\"s\":\"h\xC3\xA9\",\"i\":42,\"r\":2.5,\"b\":false,\"o\":{},\"a\":[1],\"n\":null}";
    SA_REQUIRE_OK(t, sa_json_parse(doc, strlen(doc), "doc", &o, &e), &e);
    const char *s;
    size_t n;
    SA_CHECK_OK(t, sa_json_get_str(o, "s", true, &s, &n, &e), &e);
    SA_CHECK(t, n == 3 && strcmp(s, "h\xC3\xA9") == 0);
    int64_t i = 0;
    bool present;
    SA_CHECK_OK(t, sa_json_get_int(o, "i", true, &i, &present, &e), &e);
    SA_CHECK_EQ_INT(t, i, 42);
    double d = 0;
    SA_CHECK_OK(t, sa_json_get_num(o, "i", true, &d, NULL, &e), &e);
    SA_CHECK(t, d == 42.0);
    SA_CHECK_OK(t, sa_json_get_num(o, "r", true, &d, NULL, &e), &e);
    SA_CHECK(t, d == 2.5);
    SA_CHECK_EQ_INT(t, sa_json_get_int(o, "r", true, &i, NULL, &e), SA_ERR_FORMAT);
    SA_CHECK_STR(t, e.msg, "key \"r\" is a real, expected an integer");
    SA_CHECK_EQ_INT(t, sa_json_get_str(o, "i", true, &s, NULL, &e), SA_ERR_FORMAT);
    SA_CHECK_STR(t, e.msg, "key \"i\" is an integer, expected a string");
    SA_CHECK_EQ_INT(t, sa_json_get_str(o, "zz", true, &s, NULL, &e), SA_ERR_NOT_FOUND);
    SA_CHECK_STR(t, e.msg, "missing required key \"zz\"");
    SA_CHECK_EQ_INT(t, sa_json_get_str(o, "n", true, &s, NULL, &e), SA_ERR_NOT_FOUND);
    SA_CHECK_OK(t, sa_json_get_str(o, "n", false, &s, NULL, &e), &e);
    SA_CHECK(t, s == NULL);
    SA_CHECK_OK(t, sa_json_get_int(o, "zz", false, &i, &present, &e), &e);
    SA_CHECK(t, !present);
    json_t *sub;
    SA_CHECK_OK(t, sa_json_get_obj(o, "o", true, &sub, &e), &e);
    SA_CHECK(t, json_is_object(sub));
    SA_CHECK_OK(t, sa_json_get_arr(o, "a", true, &sub, &e), &e);
    SA_CHECK(t, json_is_array(sub));
    SA_CHECK_EQ_INT(t, sa_json_get_arr(o, "o", true, &sub, &e), SA_ERR_FORMAT);
    SA_CHECK_EQ_INT(t, sa_json_get_bool(o, "s", true, &present, NULL, &e), SA_ERR_FORMAT);
    SA_CHECK_EQ_INT(t, sa_json_get_str(sub, "x", false, &s, NULL, &e), SA_ERR_FORMAT);
    json_decref(o);
}

static void test_json_dump_canonical(sa_test *t) {
    sa_err e = {0};
    json_t *a = json_pack("{s:s, s:i, s:[i,s]}", "zeta", "multi\nline \xE2\x82\xAC", "alpha", 1,
                          "mid", 2, "x");
    json_t *b = json_object();
    json_object_set_new(b, "mid", json_pack("[i,s]", 2, "x"));
    json_object_set_new(b, "alpha", json_integer(1));
    json_object_set_new(b, "zeta", json_string("multi\nline \xE2\x82\xAC"));
    sa_strbuf sa = {0}, sb = {0};
    SA_CHECK_OK(t, sa_json_dump_line(a, &sa, &e), &e);
    SA_CHECK_OK(t, sa_json_dump_line(b, &sb, &e), &e);
    SA_CHECK_STR(t, sa_strbuf_cstr(&sa),
                 "{\"alpha\":1,\"mid\":[2,\"x\"],\"zeta\":\"multi\\nline \xE2\x82\xAC\"}\n");
    SA_CHECK_STR(t, sa_strbuf_cstr(&sa), sa_strbuf_cstr(&sb));
    /* Invalid UTF-8 smuggled in with _nocheck cannot be encoded: error,
     * buffer unchanged. */
    json_t *nan = json_object();
    json_object_set_new(nan, "x", json_string_nocheck("\xFF"));
    size_t before = sa.len;
    SA_CHECK(t, sa_json_dump_line(nan, &sa, &e) != SA_OK);
    SA_CHECK_EQ_INT(t, sa.len, before);
    json_decref(nan);
    json_decref(a);
    json_decref(b);
    sa_strbuf_free(&sa);
    sa_strbuf_free(&sb);
}

/* One file with every kind of bad line, plus blank lines, CRLF and a valid
 * unterminated last line. */
static void test_jsonl_bad_lines(sa_test *t) {
    sa_strbuf f = {0};
    sa_strbuf_puts(&f, "{\"a\":1}\n");                     /* 1 ok */
    sa_strbuf_puts(&f, "\n");                              /* 2 blank */
    sa_strbuf_puts(&f, "{\"a\": nope}\n");                 /* 3 bad JSON */
    sa_strbuf_puts(&f, "{\"a\":\"\xFF\"}\n");              /* 4 bad UTF-8 */
    sa_strbuf_puts(&f, "{\"a\":\"");                       /* 5 too long */
    for (int i = 0; i < 200; i++) sa_strbuf_putc(&f, 'x');
    sa_strbuf_puts(&f, "\"}\n");
    sa_strbuf_puts(&f, "[1,2]\n");                         /* 6 not an object */
    sa_strbuf_puts(&f, "{\"a\":2}\r\n");                   /* 7 ok (CRLF) */
    sa_strbuf_puts(&f, "  \t\r\n");                        /* 8 blank */
    sa_strbuf_puts(&f, "{\"a\":3}{\"b\":1}\n");            /* 9 bad JSON (two values) */
    sa_strbuf_puts(&f, "{\"a\":5,\"a\":6}\n");             /* 10 bad JSON (duplicate key) */
    sa_strbuf_puts(&f, "{\"a\":4}");                       /* 11 ok, no newline */
    const char *path = sa_test_tmpfile(t, "bad.jsonl");
    SA_REQUIRE(t, sa_test_write_file(t, path, f.buf, f.len));
    bad_log log = {0};
    sa_jsonl_opts o = {.max_line_bytes = 100, .policy = SA_JSONL_SKIP, .on_bad = on_bad, .ctx = &log};
    sa_jsonl_reader r;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_jsonl_reader_open(&r, path, &o, &e), &e);
    json_t *obj;
    uint64_t line;
    int64_t got[8];
    uint64_t got_lines[8];
    int n = 0;
    sa_status s;
    while ((s = sa_jsonl_next(&r, &obj, &line, &e)) == SA_OK) {
        if (n < 8) {
            got[n] = json_integer_value(json_object_get(obj, "a"));
            got_lines[n] = line;
        }
        n++;
        json_decref(obj);
    }
    SA_CHECK_EQ_INT(t, s, SA_ERR_EOF);
    SA_REQUIRE(t, n == 3);
    SA_CHECK(t, got[0] == 1 && got[1] == 2 && got[2] == 4);
    SA_CHECK(t, got_lines[0] == 1 && got_lines[1] == 7 && got_lines[2] == 11);
    SA_REQUIRE(t, log.n == 6);
    uint64_t want_lines[6] = {3, 4, 5, 6, 9, 10};
    const char *want[6] = {"invalid JSON at column", "invalid UTF-8 at byte 6", "line too long (208 bytes",
                           "not a JSON object (got an array)", "invalid JSON", "duplicate object key"};
    for (int i = 0; i < 6; i++) {
        SA_CHECKF(t, log.lines[i] == want_lines[i], "bad %d at line %llu", i,
                  (unsigned long long)log.lines[i]);
        SA_CHECKF(t, strstr(log.reasons[i], want[i]) != NULL, "reason %d: %s", i, log.reasons[i]);
    }
    SA_CHECK_EQ_INT(t, r.stats.lines, 11);
    SA_CHECK_EQ_INT(t, r.stats.records, 3);
    SA_CHECK_EQ_INT(t, r.stats.blank, 2);
    SA_CHECK_EQ_INT(t, r.stats.bad_json, 3);
    SA_CHECK_EQ_INT(t, r.stats.bad_utf8, 1);
    SA_CHECK_EQ_INT(t, r.stats.too_long, 1);
    SA_CHECK_EQ_INT(t, r.stats.not_object, 1);
    SA_CHECK_EQ_INT(t, r.stats.truncated, 0);
    SA_CHECK_EQ_INT(t, sa_jsonl_stats_bad(&r.stats), 6);
    SA_CHECK_EQ_INT(t, r.stats.bytes, f.len);
    sa_jsonl_reader_close(&r);
    sa_strbuf_free(&f);
}

static void test_jsonl_truncated_last_line(sa_test *t) {
    const char data[] = "{\"a\":1}\n{\"a\":2}\n{\"a\":3,\"b\":\"cut he";
    const char *path = sa_test_tmpfile(t, "torn.jsonl");
    SA_REQUIRE(t, sa_test_write_file(t, path, data, strlen(data)));
    bad_log log = {0};
    sa_jsonl_opts o = {.on_bad = on_bad, .ctx = &log};
    sa_jsonl_reader r;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_jsonl_reader_open(&r, path, &o, &e), &e);
    json_t *obj;
    int n = 0;
    while (sa_jsonl_next(&r, &obj, NULL, &e) == SA_OK) {
        n++;
        json_decref(obj);
    }
    SA_CHECK_EQ_INT(t, n, 2);
    SA_CHECK_EQ_INT(t, r.stats.truncated, 1);
    SA_CHECK_EQ_INT(t, r.stats.bad_json, 0);
    SA_REQUIRE(t, log.n == 1);
    SA_CHECK_EQ_INT(t, log.lines[0], 3);
    SA_CHECKF(t, strstr(log.reasons[0], "truncated last line") != NULL, "%s", log.reasons[0]);
    sa_jsonl_reader_close(&r);

    /* A cut inside a multi-byte character is also "truncated", not bad UTF-8. */
    const char cut8[] = "{\"a\":1}\n{\"a\":\"\xE2\x82";
    SA_REQUIRE(t, sa_test_write_file(t, path, cut8, strlen(cut8)));
    SA_REQUIRE_OK(t, sa_jsonl_reader_open(&r, path, NULL, &e), &e);
    while (sa_jsonl_next(&r, &obj, NULL, &e) == SA_OK) json_decref(obj);
    SA_CHECK_EQ_INT(t, r.stats.records, 1);
    SA_CHECK_EQ_INT(t, r.stats.truncated, 1);
    SA_CHECK_EQ_INT(t, r.stats.bad_utf8, 0);
    sa_jsonl_reader_close(&r);
}

static void test_jsonl_fail_policy(sa_test *t) {
    const char data[] = "{\"a\":1}\n\n{oops}\n{\"a\":2}\n";
    const char *path = sa_test_tmpfile(t, "fail.jsonl");
    SA_REQUIRE(t, sa_test_write_file(t, path, data, strlen(data)));
    char want_prefix[1100];
    snprintf(want_prefix, sizeof want_prefix, "%s:3: invalid JSON", path);
    sa_jsonl_opts o = {.policy = SA_JSONL_FAIL};
    sa_jsonl_reader r;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_jsonl_reader_open(&r, path, &o, &e), &e);
    json_t *obj;
    SA_CHECK_OK(t, sa_jsonl_next(&r, &obj, NULL, &e), &e);
    json_decref(obj);
    SA_CHECK_EQ_INT(t, sa_jsonl_next(&r, &obj, NULL, &e), SA_ERR_FORMAT);
    SA_CHECKF(t, strncmp(e.msg, want_prefix, strlen(want_prefix)) == 0, "msg: %s", e.msg);
    /* The reader stays usable after the error. */
    uint64_t line = 0;
    SA_CHECK_OK(t, sa_jsonl_next(&r, &obj, &line, &e), &e);
    SA_CHECK_EQ_INT(t, line, 4);
    json_decref(obj);
    SA_CHECK_EQ_INT(t, sa_jsonl_next(&r, &obj, NULL, &e), SA_ERR_EOF);
    sa_jsonl_reader_close(&r);
}

/* A 3 MB line under a 1 KiB limit is skipped without being buffered, and
 * the lines around it are read normally (the line spans many read chunks). */
static void test_jsonl_long_line_unbuffered(sa_test *t) {
    const char *path = sa_test_tmpfile(t, "long.jsonl");
    FILE *f = fopen(path, "wb");
    SA_REQUIRE(t, f != NULL);
    fputs("{\"a\":1}\n{\"big\":\"", f);
    for (int i = 0; i < 3 * 1024; i++) {
        char chunk[1024];
        memset(chunk, 'y', sizeof chunk);
        fwrite(chunk, 1, sizeof chunk, f);
    }
    fputs("\"}\n{\"a\":2}\n", f);
    fclose(f);
    sa_jsonl_opts o = {.max_line_bytes = 1024};
    sa_jsonl_reader r;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_jsonl_reader_open(&r, path, &o, &e), &e);
    json_t *obj;
    uint64_t lines[2];
    int n = 0;
    while (sa_jsonl_next(&r, &obj, &lines[n < 2 ? n : 1], &e) == SA_OK) {
        n++;
        json_decref(obj);
    }
    SA_CHECK_EQ_INT(t, n, 2);
    SA_CHECK(t, lines[0] == 1 && lines[1] == 3);
    SA_CHECK_EQ_INT(t, r.stats.too_long, 1);
    SA_CHECKF(t, r.line.cap <= 4096, "line buffer grew to %zu bytes", r.line.cap);
    sa_jsonl_reader_close(&r);
}

static void test_jsonl_open_fp_and_errors(sa_test *t) {
    FILE *f = tmpfile();
    SA_REQUIRE(t, f != NULL);
    fputs("\xEF\xBB\xBF{\"a\":1}\r\n{\"a\":2}\n", f);
    rewind(f);
    sa_jsonl_reader r;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_jsonl_reader_open_fp(&r, f, "<stdin>", NULL, &e), &e);
    json_t *obj;
    int n = 0;
    while (sa_jsonl_next(&r, &obj, NULL, &e) == SA_OK) {
        n++;
        json_decref(obj);
    }
    SA_CHECK_EQ_INT(t, n, 2);
    sa_jsonl_reader_close(&r);
    fclose(f); /* still ours: close did not close it */
    SA_CHECK_EQ_INT(t, sa_jsonl_reader_open(&r, "/nonexistent/x.jsonl", NULL, &e), SA_ERR_IO);
    SA_CHECKF(t, strstr(e.msg, "/nonexistent/x.jsonl: cannot open") != NULL, "%s", e.msg);
}

static void test_jsonl_write_roundtrip(sa_test *t) {
    const char *path = sa_test_tmpfile(t, "w.jsonl");
    FILE *f = fopen(path, "wb");
    SA_REQUIRE(t, f != NULL);
    sa_err e = {0};
    for (int i = 0; i < 100; i++) {
        json_t *o = json_pack("{s:i, s:s}", "i", i, "text", "line\nbreak\r\n\xE4\xB8\xAD");
        SA_CHECK_OK(t, sa_jsonl_write(f, o, &e), &e);
        json_decref(o);
    }
    fclose(f);
    sa_jsonl_reader r;
    SA_REQUIRE_OK(t, sa_jsonl_reader_open(&r, path, NULL, &e), &e);
    json_t *obj;
    int n = 0;
    while (sa_jsonl_next(&r, &obj, NULL, &e) == SA_OK) {
        SA_CHECK_EQ_INT(t, json_integer_value(json_object_get(obj, "i")), n);
        SA_CHECK_STR(t, json_string_value(json_object_get(obj, "text")), "line\nbreak\r\n\xE4\xB8\xAD");
        n++;
        json_decref(obj);
    }
    SA_CHECK_EQ_INT(t, n, 100);
    SA_CHECK_EQ_INT(t, r.stats.lines, 100);
    sa_jsonl_reader_close(&r);
}

/* Array mode: items stream one at a time across read chunks; strings with
 * brackets, commas and escaped quotes do not confuse the scanner. */
static void test_array_stream(sa_test *t) {
    const char *path = sa_test_tmpfile(t, "arr.json");
    FILE *f = fopen(path, "wb");
    SA_REQUIRE(t, f != NULL);
    fputs("\xEF\xBB\xBF  [\r\n", f);
    const int n = 3000;
    for (int i = 0; i < n; i++)
        fprintf(f, "  {\"i\": %d, \"s\": \"a ] } , \\\" [ { \\\\\", \"nest\": [[{\"x\": [1, 2]}], {}]}%s\r\n",
                i, i + 1 < n ? "," : "");
    fputs("]\n\n", f);
    fclose(f);
    bad_log log = {0};
    sa_jsonl_opts o = {.json_array = true, .max_line_bytes = 1024, .on_bad = on_bad, .ctx = &log};
    sa_jsonl_reader r;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_jsonl_reader_open(&r, path, &o, &e), &e);
    json_t *obj;
    uint64_t line;
    int k = 0, ok = 1;
    sa_status s;
    while ((s = sa_jsonl_next(&r, &obj, &line, &e)) == SA_OK) {
        if (json_integer_value(json_object_get(obj, "i")) != k || line != (uint64_t)k + 2 ||
            r.index != (uint64_t)k ||
            strcmp(json_string_value(json_object_get(obj, "s")), "a ] } , \" [ { \\") != 0)
            ok = 0;
        k++;
        json_decref(obj);
    }
    SA_CHECK_EQ_INT(t, s, SA_ERR_EOF);
    SA_CHECK_EQ_INT(t, k, n);
    SA_CHECK(t, ok);
    SA_CHECKF(t, log.n == 0, "bad: %s", log.reasons[0]);
    SA_CHECK_EQ_INT(t, r.stats.records, n);
    SA_CHECK_EQ_INT(t, r.stats.lines, n + 3);
    SA_CHECKF(t, r.line.cap <= 4096, "item buffer grew to %zu bytes", r.line.cap);
    sa_jsonl_reader_close(&r);
}

static void test_array_bad_items(sa_test *t) {
    const char data[] = "[{\"a\":1},\n"            /* 0 ok */
                        " 7,\n"                    /* 1 not an object */
                        " {\"a\": tru},\n"         /* 2 bad JSON */
                        " {\"a\":\"\xC3\"},\n"     /* 3 bad UTF-8 */
                        " {\"a\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"},\n" /* 4 long */
                        " {\"a\":2},\n"            /* 5 ok */
                        " ,\n"                     /* 6 empty item */
                        " {\"a\":3},\n"            /* 7 ok, then a trailing comma */
                        "] x";                     /* data after ']' */
    const char *path = sa_test_tmpfile(t, "badarr.json");
    SA_REQUIRE(t, sa_test_write_file(t, path, data, strlen(data)));
    bad_log log = {0};
    sa_jsonl_opts o = {.json_array = true, .max_line_bytes = 40, .on_bad = on_bad, .ctx = &log};
    sa_jsonl_reader r;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_jsonl_reader_open(&r, path, &o, &e), &e);
    json_t *obj;
    int vals[8], n = 0;
    while (sa_jsonl_next(&r, &obj, NULL, &e) == SA_OK) {
        if (n < 8) vals[n] = (int)json_integer_value(json_object_get(obj, "a"));
        n++;
        json_decref(obj);
    }
    SA_REQUIRE(t, n == 3);
    SA_CHECK(t, vals[0] == 1 && vals[1] == 2 && vals[2] == 3);
    SA_REQUIRE(t, log.n == 7);
    const uint64_t lines[7] = {2, 3, 4, 5, 7, 9, 9};
    const char *why[7] = {"index 1: not a JSON object", "index 2: invalid JSON at line 3,",
                          "index 3: invalid UTF-8 at byte 6 of the item", "index 4: item too long",
                          "index 6: invalid JSON", "trailing comma", "data after the closing ']'"};
    for (int i = 0; i < 7; i++) {
        SA_CHECKF(t, log.lines[i] == lines[i], "bad %d at line %llu", i,
                  (unsigned long long)log.lines[i]);
        SA_CHECKF(t, strstr(log.reasons[i], why[i]) != NULL, "reason %d: %s", i, log.reasons[i]);
    }
    SA_CHECK_EQ_INT(t, r.stats.not_object, 1);
    SA_CHECK_EQ_INT(t, r.stats.bad_json, 4);
    SA_CHECK_EQ_INT(t, r.stats.bad_utf8, 1);
    SA_CHECK_EQ_INT(t, r.stats.too_long, 1);
    sa_jsonl_reader_close(&r);
}

static void test_array_truncated_and_not_array(sa_test *t) {
    const char *path = sa_test_tmpfile(t, "cut.json");
    const char cut[] = "[\n{\"a\":1},\n{\"a\":2},\n{\"a\":\"unterminated";
    SA_REQUIRE(t, sa_test_write_file(t, path, cut, strlen(cut)));
    bad_log log = {0};
    sa_jsonl_opts o = {.json_array = true, .on_bad = on_bad, .ctx = &log};
    sa_jsonl_reader r;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_jsonl_reader_open(&r, path, &o, &e), &e);
    json_t *obj;
    int n = 0;
    while (sa_jsonl_next(&r, &obj, NULL, &e) == SA_OK) {
        n++;
        json_decref(obj);
    }
    SA_CHECK_EQ_INT(t, n, 2);
    SA_CHECK_EQ_INT(t, r.stats.truncated, 1);
    SA_REQUIRE(t, log.n == 1);
    SA_CHECK_EQ_INT(t, log.lines[0], 4);
    SA_CHECKF(t, strstr(log.reasons[0], "index 2: truncated") != NULL, "%s", log.reasons[0]);
    sa_jsonl_reader_close(&r);

    const char open_only[] = "[{\"a\":1},";
    SA_REQUIRE(t, sa_test_write_file(t, path, open_only, strlen(open_only)));
    o.policy = SA_JSONL_FAIL;
    o.on_bad = NULL;
    SA_REQUIRE_OK(t, sa_jsonl_reader_open(&r, path, &o, &e), &e);
    SA_CHECK_OK(t, sa_jsonl_next(&r, &obj, NULL, &e), &e);
    json_decref(obj);
    SA_CHECK_EQ_INT(t, sa_jsonl_next(&r, &obj, NULL, &e), SA_ERR_FORMAT);
    SA_CHECKF(t, strstr(e.msg, "index 1: truncated: the array is not closed") != NULL, "%s", e.msg);
    sa_jsonl_reader_close(&r);

    const char notarr[] = "\n{\"a\":1}\n";
    SA_REQUIRE(t, sa_test_write_file(t, path, notarr, strlen(notarr)));
    o.policy = SA_JSONL_SKIP;
    SA_REQUIRE_OK(t, sa_jsonl_reader_open(&r, path, &o, &e), &e);
    SA_CHECK_EQ_INT(t, sa_jsonl_next(&r, &obj, NULL, &e), SA_ERR_FORMAT);
    SA_CHECKF(t, strstr(e.msg, "cut.json:2: expected '[' to open a JSON array") != NULL, "%s", e.msg);
    sa_jsonl_reader_close(&r);

    SA_REQUIRE(t, sa_test_write_file(t, path, "  [ ]  ", 7));
    SA_REQUIRE_OK(t, sa_jsonl_reader_open(&r, path, &o, &e), &e);
    SA_CHECK_EQ_INT(t, sa_jsonl_next(&r, &obj, NULL, &e), SA_ERR_EOF);
    SA_CHECK_EQ_INT(t, sa_jsonl_stats_bad(&r.stats), 0);
    sa_jsonl_reader_close(&r);
}

static const sa_test_def tests[] = {
    {"json_parse_errors", test_json_parse_errors},
    {"json_getters", test_json_getters},
    {"json_dump_canonical", test_json_dump_canonical},
    {"jsonl_bad_lines", test_jsonl_bad_lines},
    {"jsonl_truncated_last_line", test_jsonl_truncated_last_line},
    {"jsonl_fail_policy", test_jsonl_fail_policy},
    {"jsonl_long_line_unbuffered", test_jsonl_long_line_unbuffered},
    {"jsonl_open_fp_and_errors", test_jsonl_open_fp_and_errors},
    {"jsonl_write_roundtrip", test_jsonl_write_roundtrip},
    {"array_stream", test_array_stream},
    {"array_bad_items", test_array_bad_items},
    {"array_truncated_and_not_array", test_array_truncated_and_not_array},
};
SA_TEST_MAIN(tests)
