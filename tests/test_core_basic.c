/* test_core_basic.c — status, alloc, strbuf, mmap, utf8 and hash. */
#include <stdint.h>

#include "sa/alloc.h"
#include "sa/hash.h"
#include "sa/mmap.h"
#include "sa/status.h"
#include "sa/strbuf.h"
#include "sa/utf8.h"
#include "sa_test.h"

static void test_status_strings(sa_test *t) {
    for (int s = 0; s < SA_STATUS_COUNT; s++) SA_CHECK(t, sa_status_str((sa_status)s)[0] != '\0');
    sa_err e = {0};
    SA_CHECK_EQ_INT(t, sa_err_set(&e, SA_ERR_FORMAT, "x.gguf: offset %d: bad", 12), SA_ERR_FORMAT);
    SA_CHECK_STR(t, e.msg, "x.gguf: offset 12: bad");
    sa_err_prefix(&e, "loading: ");
    SA_CHECK_STR(t, e.msg, "loading: x.gguf: offset 12: bad");
    SA_CHECK_EQ_INT(t, sa_err_set(NULL, SA_ERR_IO, "ignored"), SA_ERR_IO);
}

static void test_alloc_overflow(sa_test *t) {
    SA_CHECK(t, sa_malloc_array(SIZE_MAX / 2, 4) == NULL);
    SA_CHECK(t, sa_calloc(SIZE_MAX, 2) == NULL);
    void *p = sa_aligned_alloc(3, 5);
    SA_CHECK(t, p && ((uintptr_t)p & 63) == 0);
    free(p);
    int *arr = NULL;
    size_t cap = 0;
    SA_REQUIRE(t, sa_grow((void **)&arr, &cap, 100, sizeof *arr));
    SA_CHECK(t, cap >= 100);
    SA_CHECK(t, !sa_grow((void **)&arr, &cap, SIZE_MAX / 2, 8));
    free(arr);
}

static void test_strbuf(sa_test *t) {
    sa_strbuf sb = {0};
    SA_CHECK_STR(t, sa_strbuf_cstr(&sb), "");
    for (int i = 0; i < 1000; i++) SA_CHECK_OK(t, sa_strbuf_appendf(&sb, "%d,", i), NULL);
    SA_CHECK(t, sb.len == strlen(sb.buf));
    SA_CHECK(t, strncmp(sb.buf, "0,1,2,", 6) == 0);
    sa_strbuf_truncate(&sb, 4);
    SA_CHECK_STR(t, sa_strbuf_cstr(&sb), "0,1,");
    SA_CHECK_OK(t, sa_strbuf_append(&sb, "a\0b", 3), NULL);
    SA_CHECK_EQ_INT(t, sb.len, 7);
    size_t n;
    char *s = sa_strbuf_detach(&sb, &n);
    SA_CHECK_EQ_INT(t, n, 7);
    SA_CHECK(t, memcmp(s, "0,1,a\0b", 8) == 0);
    SA_CHECK(t, sb.buf == NULL && sb.len == 0);
    free(s);
    sa_strbuf_free(&sb);
}

static void test_utf8(sa_test *t) {
    size_t bad = 0;
    SA_CHECK(t, sa_utf8_valid("héllo wörld — ✓ 😀", strlen("héllo wörld — ✓ 😀"), NULL));
    /* each invalid case with the offset of the first bad byte */
    struct { const char *s; size_t n, off; } cases[] = {
        {"ab\x80", 3, 2},           /* stray continuation */
        {"abcdefgh\xC0\xAF", 10, 8}, /* overlong '/' */
        {"\xE0\x80\xAF", 3, 0},      /* overlong 3-byte */
        {"x\xED\xA0\x80", 4, 1},     /* surrogate U+D800 */
        {"\xF4\x90\x80\x80", 4, 0},  /* > U+10FFFF */
        {"ok\xE2\x82", 4, 2},        /* truncated */
        {"\xFF", 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        SA_CHECKF(t, !sa_utf8_valid(cases[i].s, cases[i].n, &bad), "case %zu accepted", i);
        SA_CHECKF(t, bad == cases[i].off, "case %zu: offset %zu, expected %zu", i, bad, cases[i].off);
    }
    char buf[4];
    uint32_t cp;
    uint32_t cps[] = {0x24, 0xA2, 0x20AC, 0x10348, 0x10FFFF};
    for (size_t i = 0; i < 5; i++) {
        size_t k = sa_utf8_encode(cps[i], buf);
        SA_CHECK(t, k == i + (i == 4 ? 0 : 1) || (i == 4 && k == 4));
        SA_CHECK(t, sa_utf8_decode(buf, k, &cp) == k && cp == cps[i]);
    }
    SA_CHECK_EQ_INT(t, sa_utf8_encode(0xD800, buf), 0);
    /* "a€" with the euro cut after 2 of its 3 bytes: complete prefix is "a" */
    SA_CHECK_EQ_INT(t, sa_utf8_complete_prefix("a\xE2\x82", 3), 1);
    SA_CHECK_EQ_INT(t, sa_utf8_complete_prefix("a\xE2\x82\xAC", 4), 4);
}

static void test_hash(sa_test *t) {
    uint64_t a = sa_hash64("hello", 5, 0), b = sa_hash64("hello", 5, 1);
    SA_CHECK(t, a != b);
    SA_CHECK(t, a == sa_hash_str("hello", 0));
    /* XXH3_64bits of the empty input with seed 0 is a published constant */
    SA_CHECK(t, sa_hash64("", 0, 0) == 0x2D06800538D394C2ULL);
    char hex[17];
    sa_hash_hex(0x00ab00cd00ef0012ULL, hex);
    SA_CHECK_STR(t, hex, "00ab00cd00ef0012");
    sa_hash_state st;
    SA_REQUIRE(t, sa_hash_state_init(&st, 0) == 0);
    sa_hash_state_update(&st, "hel", 3);
    sa_hash_state_update(&st, "lo", 2);
    SA_CHECK(t, sa_hash_state_digest(&st) == a);
    sa_hash_state_free(&st);
    SA_CHECK(t, sa_hash_mix(1, 2) != sa_hash_mix(2, 1));
}

static void test_mmap_and_read(sa_test *t) {
    const char *p = sa_test_tmpfile(t, "m.bin");
    char path[1024];
    snprintf(path, sizeof path, "%s", p);
    SA_REQUIRE(t, sa_test_write_file(t, path, "abcdef", 6));
    sa_mmap m;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_mmap_open(&m, path, &e), &e);
    SA_CHECK(t, m.size == 6 && memcmp(m.data, "abcdef", 6) == 0);
    sa_mmap_close(&m);
    char *d;
    size_t n;
    SA_REQUIRE_OK(t, sa_file_read_all(path, 0, &d, &n, &e), &e);
    SA_CHECK(t, n == 6 && d[6] == '\0');
    free(d);
    SA_CHECK_EQ_INT(t, sa_file_read_all(path, 3, &d, &n, &e), SA_ERR_RANGE);
    SA_CHECK_EQ_INT(t, sa_mmap_open(&m, "/nonexistent/x", &e), SA_ERR_IO);
    SA_CHECK(t, strstr(e.msg, "/nonexistent/x") != NULL);
}

static const sa_test_def tests[] = {
    {"status_strings", test_status_strings},
    {"alloc_overflow", test_alloc_overflow},
    {"strbuf", test_strbuf},
    {"utf8", test_utf8},
    {"hash", test_hash},
    {"mmap_and_read", test_mmap_and_read},
};
SA_TEST_MAIN(tests)
