/* test_gguf_corrupt.c — hand-made corrupt GGUF files must be refused with
 * the right status and a message naming the problem, never a crash.
 *
 * Each file is built byte by byte here (no binary fixtures). The input is
 * copied into a buffer of exactly its length so ASan catches any over-read.
 */
#include <stdint.h>

#include "sa/alloc.h"
#include "sa/gguf.h"
#include "sa/strbuf.h"
#include "sa_test.h"

/* ---- a tiny GGUF byte builder ---------------------------------------------- */

static void le(sa_strbuf *b, uint64_t v, int n) {
    for (int i = 0; i < n; i++) sa_strbuf_putc(b, (char)(uint8_t)(v >> (8 * i)));
}
static void u32(sa_strbuf *b, uint32_t v) { le(b, v, 4); }
static void u64(sa_strbuf *b, uint64_t v) { le(b, v, 8); }
static void str(sa_strbuf *b, const char *s) {
    u64(b, strlen(s));
    sa_strbuf_append(b, s, strlen(s));
}
static void header(sa_strbuf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    sa_strbuf_append(b, "GGUF", 4);
    u32(b, version);
    u64(b, n_tensors);
    u64(b, n_kv);
}
static void kv_u32(sa_strbuf *b, const char *k, uint32_t v) {
    str(b, k);
    u32(b, SA_GGUF_TYPE_UINT32);
    u32(b, v);
}
static void kv_str(sa_strbuf *b, const char *k, const char *v) {
    str(b, k);
    u32(b, SA_GGUF_TYPE_STRING);
    str(b, v);
}
/* tensor info with n_dims dims from ne */
static void tinfo(sa_strbuf *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                  uint64_t offset) {
    str(b, name);
    u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) u64(b, ne[d]);
    u32(b, type);
    u64(b, offset);
}
/* pad to `align` and append `n` data bytes */
static void data(sa_strbuf *b, uint32_t align, size_t n) {
    while (b->len % align) sa_strbuf_putc(b, 0);
    for (size_t i = 0; i < n; i++) sa_strbuf_putc(b, (char)(i * 7));
}

/* Open exactly `n` bytes from a private heap copy, then close and free. */
static sa_status open_exact(const void *p, size_t n, sa_err *e) {
    void *copy = sa_malloc(n);
    memcpy(copy, p, n);
    sa_gguf *g = NULL;
    sa_status s = sa_gguf_open_memory(&g, copy, n, "bad.gguf", e);
    if (s == SA_OK && !g) s = SA_ERR_INTERNAL;
    sa_gguf_close(g);
    free(copy);
    return s;
}

/* Expect status `want` and `sub` in the message, plus the
 * "bad.gguf: offset N: " prefix. */
static void expect(sa_test *t, int line, sa_strbuf *b, sa_status want, const char *sub) {
    sa_err e = {0};
    sa_status s = open_exact(b->buf, b->len, &e);
    if (s != want)
        sa_test_fail(t, __FILE__, line, "status %d (%s), expected %d; msg: %s", s, sa_status_str(s),
                     want, e.msg);
    else if (!strstr(e.msg, sub))
        sa_test_fail(t, __FILE__, line, "message \"%s\" lacks \"%s\"", e.msg, sub);
    else if (strncmp(e.msg, "bad.gguf: offset ", 17) != 0)
        sa_test_fail(t, __FILE__, line, "message \"%s\" does not name file and offset", e.msg);
    sa_strbuf_reset(b);
}
#define EXPECT(want, sub) expect(t, __LINE__, &b, (want), (sub))

static void test_header(sa_test *t) {
    sa_strbuf b = {0};
    sa_strbuf_append(&b, "GGML", 4), u32(&b, 3), u64(&b, 0), u64(&b, 0);
    EXPECT(SA_ERR_FORMAT, "bad magic \"GGML\"");
    sa_strbuf_append(&b, "\x00\x01GU", 4), u32(&b, 3), u64(&b, 0), u64(&b, 0);
    EXPECT(SA_ERR_FORMAT, "bad magic \"\\x00\\x01GU\"");
    header(&b, 1, 0, 0);
    EXPECT(SA_ERR_UNSUPPORTED, "unsupported version 1");
    header(&b, 99, 0, 0);
    EXPECT(SA_ERR_UNSUPPORTED, "unsupported version 99");
    header(&b, 0x03000000u, 0, 0); /* a big-endian v3 file read little-endian */
    EXPECT(SA_ERR_UNSUPPORTED, "big-endian");
    sa_strbuf_append(&b, "GG", 2);
    EXPECT(SA_ERR_FORMAT, "truncated");
    header(&b, 3, 0, 0);
    sa_strbuf_truncate(&b, 10); /* inside the tensor count */
    EXPECT(SA_ERR_FORMAT, "truncated: tensor count");
    header(&b, 3, 0, 1ull << 60);
    kv_u32(&b, "a", 1);
    EXPECT(SA_ERR_FORMAT, "kv count 1152921504606846976 exceeds");
    header(&b, 3, UINT64_MAX, 0);
    EXPECT(SA_ERR_FORMAT, "tensor count 18446744073709551615 exceeds");
    header(&b, 2, 0, 1); /* v2 has the same layout and is accepted */
    kv_u32(&b, "a", 7);
    {
        sa_err e = {0};
        sa_gguf *g = NULL;
        SA_CHECK_OK(t, sa_gguf_open_memory(&g, b.buf, b.len, "v2.gguf", &e), &e);
        uint64_t v = 0;
        SA_CHECK(t, g && sa_gguf_version(g) == 2 && sa_gguf_get_uint(g, 0, &v) && v == 7);
        sa_gguf_close(g);
    }
    sa_strbuf_free(&b);
}

static void test_keys_and_values(sa_test *t) {
    sa_strbuf b = {0};
    header(&b, 3, 0, 2);
    kv_u32(&b, "ok", 1);
    u64(&b, 20), sa_strbuf_append(&b, "gener", 5); /* key cut short */
    EXPECT(SA_ERR_FORMAT, "truncated: key length 20");
    header(&b, 3, 0, 1);
    str(&b, "name"), u32(&b, SA_GGUF_TYPE_STRING), u64(&b, 1000), sa_strbuf_append(&b, "abc", 3);
    EXPECT(SA_ERR_FORMAT, "string value length 1000 exceeds");
    header(&b, 3, 0, 1);
    str(&b, "k"), u32(&b, 13), u32(&b, 0);
    EXPECT(SA_ERR_FORMAT, "key 'k': unknown value type 13");
    header(&b, 3, 0, 1);
    str(&b, "k"), u32(&b, SA_GGUF_TYPE_ARRAY), u32(&b, 77), u64(&b, 1), u32(&b, 0);
    EXPECT(SA_ERR_FORMAT, "unknown array element type 77");
    header(&b, 3, 0, 3);
    kv_u32(&b, "a", 1), kv_str(&b, "b", "x"), kv_u32(&b, "a", 2);
    EXPECT(SA_ERR_FORMAT, "duplicate key 'a' (first at offset 24)");
    header(&b, 3, 0, 1); /* array of arrays */
    str(&b, "nest"), u32(&b, SA_GGUF_TYPE_ARRAY), u32(&b, SA_GGUF_TYPE_ARRAY), u64(&b, 1);
    u32(&b, SA_GGUF_TYPE_UINT8), u64(&b, 1), le(&b, 5, 1);
    EXPECT(SA_ERR_UNSUPPORTED, "nested array");
    header(&b, 3, 0, 1);
    str(&b, "arr"), u32(&b, SA_GGUF_TYPE_ARRAY), u32(&b, SA_GGUF_TYPE_UINT64), u64(&b, 1ull << 61);
    u64(&b, 1);
    EXPECT(SA_ERR_FORMAT, "uint64 array of 2305843009213693952 elements exceeds");
    header(&b, 3, 0, 1);
    str(&b, "arr"), u32(&b, SA_GGUF_TYPE_ARRAY), u32(&b, SA_GGUF_TYPE_STRING), u64(&b, 1ull << 40);
    str(&b, "x");
    EXPECT(SA_ERR_FORMAT, "string array count 1099511627776 exceeds");
    header(&b, 3, 0, 1);
    str(&b, "arr"), u32(&b, SA_GGUF_TYPE_ARRAY), u32(&b, SA_GGUF_TYPE_STRING), u64(&b, 2);
    str(&b, "x"), u64(&b, 9), sa_strbuf_append(&b, "abc", 3);
    EXPECT(SA_ERR_FORMAT, "array string length 9 exceeds");
    header(&b, 3, 0, 1);
    str(&b, "flag"), u32(&b, SA_GGUF_TYPE_BOOL), le(&b, 2, 1);
    EXPECT(SA_ERR_FORMAT, "bool value 2 is not 0 or 1");
    header(&b, 3, 0, 1);
    u64(&b, 3), sa_strbuf_append(&b, "a\0b", 3), u32(&b, SA_GGUF_TYPE_UINT8), le(&b, 1, 1);
    EXPECT(SA_ERR_FORMAT, "contains a NUL byte");
    header(&b, 3, 0, 1);
    str(&b, "v"), u32(&b, SA_GGUF_TYPE_FLOAT64), u32(&b, 0);
    EXPECT(SA_ERR_FORMAT, "truncated: value needs 8 bytes");
    sa_strbuf_free(&b);
}

static void test_alignment_key(sa_test *t) {
    sa_strbuf b = {0};
    uint64_t ne[1] = {8};
    header(&b, 3, 1, 1);
    kv_u32(&b, "general.alignment", 48);
    tinfo(&b, "w", 1, ne, 0, 0), data(&b, 16, 32);
    EXPECT(SA_ERR_FORMAT, "general.alignment 48 is not a power of two");
    header(&b, 3, 0, 1);
    kv_u32(&b, "general.alignment", 0);
    EXPECT(SA_ERR_FORMAT, "not a power of two");
    header(&b, 3, 0, 1);
    str(&b, "general.alignment"), u32(&b, SA_GGUF_TYPE_UINT64), u64(&b, 32);
    EXPECT(SA_ERR_FORMAT, "general.alignment has type uint64, expected uint32");
    header(&b, 3, 0, 1);
    kv_str(&b, "general.alignment", "32");
    EXPECT(SA_ERR_FORMAT, "has type string");
    sa_strbuf_free(&b);
}

static void test_tensors(sa_test *t) {
    sa_strbuf b = {0};
    uint64_t ne4[4] = {8, 1, 1, 1}, ne5[5] = {8, 1, 1, 1, 1};
    header(&b, 3, 2, 0);
    tinfo(&b, "w", 1, ne4, 0, 0), tinfo(&b, "w", 1, ne4, 0, 32), data(&b, 32, 64);
    EXPECT(SA_ERR_FORMAT, "duplicate tensor name 'w'");
    header(&b, 3, 1, 0);
    tinfo(&b, "w", 0, ne4, 0, 0), data(&b, 32, 32);
    EXPECT(SA_ERR_FORMAT, "tensor 'w': n_dims 0 out of range 1..4");
    header(&b, 3, 1, 0);
    tinfo(&b, "w", 5, ne5, 0, 0), data(&b, 32, 32);
    EXPECT(SA_ERR_FORMAT, "tensor 'w': n_dims 5 out of range 1..4");
    header(&b, 3, 1, 0);
    tinfo(&b, "w", 1, ne4, 0, 64), data(&b, 32, 32);
    EXPECT(SA_ERR_FORMAT, "tensor 'w': data [");
    header(&b, 3, 1, 0);
    tinfo(&b, "w", 1, ne4, 0, UINT64_MAX - 31), data(&b, 32, 32);
    EXPECT(SA_ERR_FORMAT, "past the end of the file");
    header(&b, 3, 1, 0);
    tinfo(&b, "w", 1, ne4, 0, 4), data(&b, 32, 64);
    EXPECT(SA_ERR_FORMAT, "tensor 'w': data offset 4 is misaligned (alignment 32)");
    {
        uint64_t big[3] = {1ull << 32, 1ull << 32, 2};
        header(&b, 3, 1, 0);
        tinfo(&b, "w", 3, big, 0, 0), data(&b, 32, 32);
        EXPECT(SA_ERR_FORMAT, "element count overflows");
        uint64_t huge[1] = {1ull << 62}; /* 2^62 F32 elements: 2^64 bytes */
        header(&b, 3, 1, 0);
        tinfo(&b, "w", 1, huge, 0, 0), data(&b, 32, 32);
        EXPECT(SA_ERR_FORMAT, "byte size overflows");
        uint64_t neg[2] = {8, UINT64_MAX};
        header(&b, 3, 1, 0);
        tinfo(&b, "w", 2, neg, 0, 0), data(&b, 32, 32);
        EXPECT(SA_ERR_FORMAT, "ne[1] = 18446744073709551615 is out of range");
        uint64_t zero[2] = {8, 0};
        header(&b, 3, 1, 0);
        tinfo(&b, "w", 2, zero, 0, 0), data(&b, 32, 32);
        EXPECT(SA_ERR_FORMAT, "ne[1] = 0 is out of range");
    }
    header(&b, 3, 2, 0); /* a: [0,64) b: [32,64) */
    {
        uint64_t ne16[1] = {16};
        tinfo(&b, "a", 1, ne16, 0, 0), tinfo(&b, "b", 1, ne4, 0, 32), data(&b, 32, 64);
    }
    EXPECT(SA_ERR_FORMAT, "tensors 'a' and 'b' overlap");
    header(&b, 3, 1, 0);
    tinfo(&b, "w", 1, ne4, 31, 0), data(&b, 32, 32); /* 31 was removed from ggml */
    EXPECT(SA_ERR_UNSUPPORTED, "tensor 'w': unknown ggml type 31");
    {
        uint64_t ne100[1] = {100};
        header(&b, 3, 1, 0);
        tinfo(&b, "w", 1, ne100, 12 /* Q4_K */, 0), data(&b, 32, 256);
        EXPECT(SA_ERR_FORMAT, "ne[0] = 100 is not a multiple of the Q4_K block size 256");
    }
    header(&b, 3, 1, 1);
    kv_str(&b, "pad", "enough bytes for the tensor count check");
    str(&b, "w"), u32(&b, 2), u64(&b, 8); /* ends inside ne */
    EXPECT(SA_ERR_FORMAT, "truncated: tensor dimension");
    sa_strbuf_free(&b);
}

/* Types we can't compute with are still measured exactly. */
static void test_foreign_types(sa_test *t) {
    sa_strbuf b = {0};
    uint64_t q4k[2] = {512, 3}, iq2[1] = {256}, q4_0[2] = {64, 2};
    header(&b, 3, 3, 1);
    kv_str(&b, "general.architecture", "llama");
    /* Q4_K: 2 blocks * 144 * 3 rows = 864 bytes -> 896 padded */
    tinfo(&b, "a", 2, q4k, 12, 0);
    tinfo(&b, "b", 1, iq2, 16, 896);  /* IQ2_XXS: 66 bytes */
    tinfo(&b, "c", 2, q4_0, 2, 992);  /* Q4_0: 4 blocks * 18 = 72 bytes */
    data(&b, 32, 992 + 72);
    sa_err e = {0};
    sa_gguf *g = NULL;
    SA_REQUIRE_OK(t, sa_gguf_open_memory(&g, b.buf, b.len, "foreign.gguf", &e), &e);
    const sa_gguf_tensor *a = sa_gguf_tensor_at(g, 0), *bb = sa_gguf_tensor_at(g, 1),
                         *c = sa_gguf_tensor_at(g, 2);
    SA_CHECK(t, a->dtype == SA_DTYPE_INVALID && a->nbytes == 864 && a->ggml_type == 12);
    SA_CHECK(t, bb->dtype == SA_DTYPE_INVALID && bb->nbytes == 66);
    SA_CHECK(t, c->dtype == SA_DTYPE_INVALID && c->nbytes == 72);
    SA_CHECK(t, (const char *)c->data == b.buf + sa_gguf_data_offset(g) + 992);
    SA_CHECK_STR(t, sa_ggml_type_name(bb->ggml_type), "IQ2_XXS");
    sa_gguf_close(g);
    /* one byte less and the last tensor no longer fits */
    sa_strbuf_truncate(&b, b.len - 1);
    SA_CHECK(t, sa_gguf_open_memory(&g, b.buf, b.len, "foreign.gguf", &e) == SA_ERR_FORMAT);
    SA_CHECK(t, strstr(e.msg, "tensor 'c'") && strstr(e.msg, "past the end"));
    sa_strbuf_free(&b);
}

/* A valid file whose last tensor ends exactly at the end of the file, so
 * every proper prefix is invalid. */
static void build_valid(sa_strbuf *out) {
    sa_gguf_writer *w = NULL;
    sa_gguf_writer_init(&w, NULL);
    static float f[64];
    static uint16_t h[32];
    for (int i = 0; i < 64; i++) f[i] = (float)i;
    static const char *const toks[] = {"<unk>", "", "▁a", "b"};
    uint32_t ids[] = {1, 2, 3};
    sa_gguf_set_str(w, "general.architecture", "llama", NULL);
    sa_gguf_set_u32(w, "llama.context_length", 128, NULL);
    sa_gguf_set_f32(w, "llama.rope.freq_base", 10000.0f, NULL);
    sa_gguf_set_bool(w, "flag", true, NULL);
    sa_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, 4, NULL);
    sa_gguf_set_arr(w, "ids", SA_GGUF_TYPE_UINT32, ids, 3, NULL);
    int64_t ne1[] = {8, 8}, ne2[] = {32};
    sa_gguf_add_tensor(w, "f", SA_DTYPE_F32, 2, ne1, f, NULL);
    sa_gguf_add_tensor(w, "h", SA_DTYPE_F16, 1, ne2, h, NULL); /* 64 bytes: ends aligned */
    sa_gguf_write_mem(w, out, NULL);
    sa_gguf_writer_free(w);
}

static void test_every_prefix(sa_test *t) {
    sa_strbuf b = {0};
    build_valid(&b);
    sa_err e = {0};
    SA_REQUIRE_OK(t, open_exact(b.buf, b.len, &e), &e);
    int bad = 0;
    for (size_t n = 0; n < b.len; n++) {
        sa_status s = open_exact(b.buf, n, &e);
        bool ok_msg = strncmp(e.msg, "bad.gguf: offset ", 17) == 0 &&
                      (strstr(e.msg, "truncated") || strstr(e.msg, "exceeds") ||
                       strstr(e.msg, "past the end"));
        if (s != SA_ERR_FORMAT || !ok_msg) {
            if (bad++ < 5)
                sa_test_fail(t, __FILE__, __LINE__, "prefix %zu/%zu: status %d, msg \"%s\"", n, b.len,
                             s, e.msg);
        }
    }
    SA_CHECKF(t, bad == 0, "%d of %zu prefixes misjudged", bad, b.len);
    sa_strbuf_free(&b);
}

/* Flip every byte of a valid file to a few values: never a crash; either a
 * clean error or a file that still validates. */
static void test_byte_flips(sa_test *t) {
    sa_strbuf b = {0};
    build_valid(&b);
    static const uint8_t vals[] = {0x00, 0xff, 0x7f, 0x80, 0x01, 0x20};
    uint8_t *copy = sa_malloc(b.len);
    size_t n_ok = 0, n_err = 0;
    for (size_t i = 0; i < b.len; i++)
        for (size_t v = 0; v < sizeof vals; v++) {
            memcpy(copy, b.buf, b.len);
            copy[i] = vals[v];
            sa_err e = {0};
            sa_gguf *g = NULL;
            sa_status s = sa_gguf_open_memory(&g, copy, b.len, "flip.gguf", &e);
            if (s == SA_OK) {
                n_ok++;
                for (int64_t k = 0; k < sa_gguf_n_tensors(g); k++) {
                    const sa_gguf_tensor *ti = sa_gguf_tensor_at(g, k);
                    SA_CHECK(t, (const uint8_t *)ti->data + ti->nbytes <= copy + b.len);
                }
                sa_gguf_close(g);
            } else {
                n_err++;
                SA_CHECK(t, strncmp(e.msg, "flip.gguf: offset ", 18) == 0);
            }
        }
    SA_CHECK(t, n_ok > 0 && n_err > 0);
    free(copy);
    sa_strbuf_free(&b);
}

static void test_open_errors(sa_test *t) {
    sa_err e = {0};
    sa_gguf *g = NULL;
    SA_CHECK(t, sa_gguf_open(&g, "/nonexistent/x.gguf", &e) == SA_ERR_IO);
    SA_CHECK(t, strstr(e.msg, "/nonexistent/x.gguf") != NULL);
    SA_CHECK(t, g == NULL);
    const char *p = sa_test_tmpfile(t, "empty.gguf");
    char path[1024];
    snprintf(path, sizeof path, "%s", p);
    sa_test_write_file(t, path, "", 0);
    SA_CHECK(t, sa_gguf_open(&g, path, &e) == SA_ERR_FORMAT);
    SA_CHECK(t, strstr(e.msg, "empty.gguf: offset 0: truncated") != NULL);
    SA_CHECK(t, sa_gguf_open_memory(&g, NULL, 0, NULL, &e) == SA_ERR_FORMAT);
    SA_CHECK(t, strstr(e.msg, "<memory>: offset 0") != NULL);
}

static const sa_test_def tests[] = {
    {"header", test_header},
    {"keys_and_values", test_keys_and_values},
    {"alignment_key", test_alignment_key},
    {"tensors", test_tensors},
    {"foreign_types", test_foreign_types},
    {"every_prefix", test_every_prefix},
    {"byte_flips", test_byte_flips},
    {"open_errors", test_open_errors},
};
SA_TEST_MAIN(tests)
