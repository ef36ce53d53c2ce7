/* test_safetensors.c — safetensors writer/reader round trips (every dtype,
 * scalars, empty tensors, metadata), sharded sets with an index, and
 * hand-made corrupt headers (each asserting the status and a piece of the
 * message). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sa/mmap.h"
#include "sa/safetensors.h"
#include "sa_test.h"

static bool has(const char *msg, const char *sub) { return strstr(msg, sub) != NULL; }

/* A file image: 8-byte length of `json`, the JSON, then data_len pattern bytes. */
static uint8_t *mk(const char *json, uint64_t hlen_override, size_t data_len, size_t *n) {
    size_t jl = strlen(json);
    *n = 8 + jl + data_len;
    uint8_t *p = malloc(*n + 1);
    if (!p) abort(); /* test harness only */
    uint64_t h = hlen_override ? hlen_override : jl;
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(h >> (8 * i));
    memcpy(p + 8, json, jl);
    for (size_t i = 0; i < data_len; i++) p[8 + jl + i] = (uint8_t)(i * 7 + 1);
    return p;
}

#define EXPECT_BAD(t, json, hlen, dlen, code, sub)                                          \
    do {                                                                                    \
        size_t n_;                                                                          \
        uint8_t *p_ = mk((json), (hlen), (dlen), &n_);                                      \
        sa_st *st_ = NULL;                                                                  \
        sa_err e_ = {0};                                                                    \
        sa_status s_ = sa_st_open_memory(&st_, p_, n_, "bad.safetensors", &e_);             \
        SA_CHECKF(t, s_ == (code) && has(e_.msg, (sub)) && !st_,                            \
                  "%s: expected status %d with '%s', got %d: %s", (json), (int)(code), (sub), \
                  (int)s_, e_.msg);                                                         \
        sa_st_close(st_);                                                                   \
        free(p_);                                                                           \
    } while (0)

/* ---- round trips ------------------------------------------------------------ */

typedef struct ref_tensor {
    const char *name;
    sa_dtype dtype;
    int nd;
    int64_t shape[3];
    size_t nbytes;
    uint8_t data[64];
} ref_tensor;

static ref_tensor k_ref[] = {
    {"w.f32", SA_DTYPE_F32, 2, {2, 3}, 24, {0}},
    {"a.f16", SA_DTYPE_F16, 1, {4}, 8, {0}},
    {"b.bf16", SA_DTYPE_BF16, 2, {3, 1}, 6, {0}},
    {"c.f64", SA_DTYPE_F64, 2, {2, 2}, 32, {0}},
    {"d.i64", SA_DTYPE_I64, 1, {2}, 16, {0}},
    {"e.i32", SA_DTYPE_I32, 3, {1, 1, 3}, 12, {0}},
    {"f.i16", SA_DTYPE_I16, 1, {5}, 10, {0}},
    {"g.i8", SA_DTYPE_I8, 1, {7}, 7, {0}},
    {"h.u8", SA_DTYPE_U8, 1, {5}, 5, {0}},
    {"i.bool", SA_DTYPE_BOOL, 1, {3}, 3, {0}},
    {"scalar", SA_DTYPE_F32, 0, {0}, 4, {0}},
    {"empty", SA_DTYPE_F32, 2, {0, 4}, 0, {0}},
    {"empty2", SA_DTYPE_BF16, 2, {3, 0}, 0, {0}},
    {"z.\xc3\xa9t\xc3\xa9 \"q\"", SA_DTYPE_U8, 1, {1}, 1, {0}},
};
#define N_REF (sizeof(k_ref) / sizeof(k_ref[0]))

static const char *k_meta[][2] = {
    {"format", "pt"},
    {"note", "quote \" backslash \\ newline \n tab \t"},
    {"unicode", "caf\xc3\xa9 \xe2\x9c\x93"},
    {"empty", ""},
};

static sa_st_writer *ref_writer(sa_test *t, bool reverse) {
    sa_st_writer *w;
    sa_err err = {0};
    if (sa_st_writer_init(&w, &err) != SA_OK) return NULL;
    for (size_t k = 0; k < N_REF; k++) {
        size_t i = reverse ? N_REF - 1 - k : k;
        ref_tensor *r = &k_ref[i];
        for (size_t b = 0; b < r->nbytes; b++) r->data[b] = (uint8_t)(i * 31 + b * 3 + 1);
        if (r->dtype == SA_DTYPE_BOOL)
            for (size_t b = 0; b < r->nbytes; b++) r->data[b] &= 1;
        SA_CHECK_OK(t, sa_st_writer_add(w, r->name, r->dtype, r->nd, r->shape,
                                        r->nbytes ? r->data : NULL, &err),
                    &err);
    }
    size_t nm = sizeof(k_meta) / sizeof(k_meta[0]);
    for (size_t k = 0; k < nm; k++) {
        size_t i = reverse ? nm - 1 - k : k;
        SA_CHECK_OK(t, sa_st_writer_set_metadata(w, k_meta[i][0], k_meta[i][1], &err), &err);
    }
    return w;
}

static void check_ref(sa_test *t, const sa_st *st) {
    SA_CHECK_EQ_INT(t, sa_st_n_tensors(st), N_REF);
    for (size_t i = 0; i < N_REF; i++) {
        const ref_tensor *r = &k_ref[i];
        const sa_st_tensor *x = sa_st_find(st, r->name);
        SA_CHECKF(t, x != NULL, "missing %s", r->name);
        if (!x) continue;
        SA_CHECK_STR(t, x->name, r->name);
        SA_CHECK(t, x->dtype == r->dtype);
        SA_CHECK_EQ_INT(t, x->n_dims, r->nd);
        for (int d = 0; d < r->nd; d++) SA_CHECK_EQ_INT(t, x->shape[d], r->shape[d]);
        SA_CHECK_EQ_INT(t, x->nbytes, r->nbytes);
        SA_CHECKF(t, r->nbytes == 0 || memcmp(x->data, r->data, r->nbytes) == 0,
                  "%s bytes differ", r->name);
    }
    SA_CHECK(t, sa_st_find(st, "nope") == NULL);
    SA_CHECK_EQ_INT(t, sa_st_tensor_numel(sa_st_find(st, "scalar")), 1);
    SA_CHECK_EQ_INT(t, sa_st_tensor_numel(sa_st_find(st, "empty")), 0);
    size_t nm = sizeof(k_meta) / sizeof(k_meta[0]);
    SA_CHECK_EQ_INT(t, sa_st_n_metadata(st), nm);
    for (size_t i = 0; i < nm; i++)
        SA_CHECK_STR(t, sa_st_metadata_get(st, k_meta[i][0]), k_meta[i][1]);
    SA_CHECK(t, sa_st_metadata_get(st, "missing") == NULL);
    /* tensor_at follows the data offsets, which the writer sorts by name */
    for (int64_t i = 1; i < sa_st_n_tensors(st); i++)
        SA_CHECK(t, strcmp(sa_st_tensor_at(st, i - 1)->name, sa_st_tensor_at(st, i)->name) < 0);
    SA_CHECK(t, sa_st_tensor_at(st, -1) == NULL && sa_st_tensor_at(st, (int64_t)N_REF) == NULL);
}

static void test_roundtrip_memory(sa_test *t) {
    sa_err err = {0};
    sa_st_writer *w = ref_writer(t, false);
    SA_REQUIRE(t, w != NULL);
    sa_strbuf img = {0};
    SA_CHECK_OK(t, sa_st_write_mem(w, &img, &err), &err);
    sa_st_writer_free(w);
    SA_REQUIRE(t, img.len > 8);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | (uint8_t)img.buf[i];
    SA_CHECK_EQ_INT(t, hlen % 8, 0);
    SA_CHECK(t, img.buf[8] == '{');
    /* __metadata__ is written first */
    SA_CHECK(t, strncmp(img.buf + 8, "{\"__metadata__\":", 16) == 0);
    sa_st *st;
    SA_REQUIRE_OK(t, sa_st_open_memory(&st, img.buf, img.len, "mem", &err), &err);
    check_ref(t, st);
    SA_CHECK_EQ_INT(t, sa_st_n_shards(st), 1);
    sa_st_close(st);
    /* deterministic: insertion order does not change a byte */
    sa_st_writer *w2 = ref_writer(t, true);
    SA_REQUIRE(t, w2 != NULL);
    sa_strbuf img2 = {0};
    SA_CHECK_OK(t, sa_st_write_mem(w2, &img2, &err), &err);
    sa_st_writer_free(w2);
    SA_CHECK(t, img2.len == img.len && memcmp(img.buf, img2.buf, img.len) == 0);
    /* every proper prefix is rejected cleanly */
    int ok = 0, not_format = 0;
    for (size_t n = 0; n < img.len; n++) {
        sa_st *p = NULL;
        sa_status s = sa_st_open_memory(&p, img.buf, n, "prefix", &err);
        if (s == SA_OK) ok++;
        else if (s != SA_ERR_FORMAT) not_format++;
        sa_st_close(p);
    }
    SA_CHECK_EQ_INT(t, ok, 0);
    SA_CHECK_EQ_INT(t, not_format, 0);
    sa_strbuf_free(&img);
    sa_strbuf_free(&img2);
}

static void test_roundtrip_file(sa_test *t) {
    sa_err err = {0};
    sa_st_writer *w = ref_writer(t, false);
    SA_REQUIRE(t, w != NULL);
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s", sa_test_tmpfile(t, "single"));
    SA_REQUIRE(t, mkdir(dir, 0755) == 0);
    char path[1100];
    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    SA_CHECK_OK(t, sa_st_write(w, path, &err), &err);
    /* writing again replaces the file atomically */
    SA_CHECK_OK(t, sa_st_write(w, path, &err), &err);
    sa_st_writer_free(w);
    sa_st *st;
    SA_REQUIRE_OK(t, sa_st_open(&st, path, &err), &err);
    check_ref(t, st);
    SA_CHECK_STR(t, sa_st_shard_path(st, 0), path);
    sa_st_close(st);
    SA_REQUIRE_OK(t, sa_st_open(&st, dir, &err), &err); /* a directory works too */
    check_ref(t, st);
    sa_st_close(st);
    SA_CHECK(t, sa_st_open(&st, "/nonexistent/x.safetensors", &err) == SA_ERR_IO);
    SA_CHECK(t, has(err.msg, "/nonexistent/x.safetensors"));
    SA_CHECK(t, sa_st_write(w = NULL, path, &err) == SA_ERR_INVALID_ARG);
}

static void test_writer_errors(sa_test *t) {
    sa_st_writer *w;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_st_writer_init(&w, &err), &err);
    float x[4] = {1, 2, 3, 4};
    int64_t shp[2] = {2, 2}, neg[1] = {-1}, huge[2] = {INT64_MAX, 4};
    SA_CHECK(t, sa_st_writer_add(w, "q", SA_DTYPE_Q8_0, 1, (int64_t[]){32}, x, &err) ==
                    SA_ERR_INVALID_ARG);
    SA_CHECK(t, has(err.msg, "Q8_0"));
    SA_CHECK(t, sa_st_writer_add(w, "n", SA_DTYPE_F32, 1, neg, x, &err) == SA_ERR_INVALID_ARG);
    SA_CHECK(t, sa_st_writer_add(w, "h", SA_DTYPE_F32, 2, huge, x, &err) == SA_ERR_INVALID_ARG);
    SA_CHECK(t, has(err.msg, "overflows"));
    SA_CHECK(t, sa_st_writer_add(w, "d", SA_DTYPE_F32, 2, shp, NULL, &err) == SA_ERR_INVALID_ARG);
    SA_CHECK(t, sa_st_writer_add(w, "__metadata__", SA_DTYPE_F32, 2, shp, x, &err) ==
                    SA_ERR_INVALID_ARG);
    SA_CHECK(t, sa_st_writer_add(w, "", SA_DTYPE_F32, 2, shp, x, &err) == SA_ERR_INVALID_ARG);
    SA_CHECK(t, sa_st_writer_add(w, "bad\xff", SA_DTYPE_F32, 2, shp, x, &err) ==
                    SA_ERR_INVALID_ARG);
    SA_CHECK(t, sa_st_writer_add(w, "r9", SA_DTYPE_F32, 9, shp, x, &err) == SA_ERR_INVALID_ARG);
    SA_CHECK_OK(t, sa_st_writer_add(w, "a", SA_DTYPE_F32, 2, shp, x, &err), &err);
    SA_CHECK_OK(t, sa_st_writer_add(w, "a", SA_DTYPE_F32, 2, shp, x, &err), &err);
    sa_strbuf out = {0};
    SA_CHECK(t, sa_st_write_mem(w, &out, &err) == SA_ERR_INVALID_ARG);
    SA_CHECK(t, has(err.msg, "'a' added twice"));
    SA_CHECK_EQ_INT(t, out.len, 0);
    SA_CHECK(t, sa_st_writer_set_metadata(w, "k", "\xc3", &err) == SA_ERR_INVALID_ARG);
    sa_st_writer_free(w);
    /* an empty writer gives a valid file with no tensors */
    SA_REQUIRE_OK(t, sa_st_writer_init(&w, &err), &err);
    SA_CHECK_OK(t, sa_st_write_mem(w, &out, &err), &err);
    sa_st_writer_free(w);
    sa_st *st;
    SA_CHECK_OK(t, sa_st_open_memory(&st, out.buf, out.len, "empty", &err), &err);
    SA_CHECK_EQ_INT(t, sa_st_n_tensors(st), 0);
    SA_CHECK(t, sa_st_find(st, "a") == NULL);
    sa_st_close(st);
    sa_strbuf_free(&out);
}

/* ---- sharded sets ----------------------------------------------------------- */

static bool write_shard(sa_test *t, const char *path, const char *const *names, int n) {
    sa_st_writer *w;
    sa_err err = {0};
    static const float v[6] = {1, 2, 3, 4, 5, 6};
    if (sa_st_writer_init(&w, &err) != SA_OK) return false;
    for (int i = 0; i < n; i++) {
        int64_t shp[2] = {2, i + 1};
        SA_CHECK_OK(t, sa_st_writer_add(w, names[i], SA_DTYPE_F32, 2, shp, v, &err), &err);
    }
    SA_CHECK_OK(t, sa_st_writer_set_metadata(w, "format", "pt", &err), &err);
    sa_status s = sa_st_write(w, path, &err);
    SA_CHECK_OK(t, s, &err);
    sa_st_writer_free(w);
    return s == SA_OK;
}

static void write_text(sa_test *t, const char *path, const char *text) {
    sa_test_write_file(t, path, text, strlen(text));
}

static void expect_index_fail(sa_test *t, const char *index_path, const char *json,
                              sa_status code, const char *sub) {
    write_text(t, index_path, json);
    sa_st *st = NULL;
    sa_err err = {0};
    sa_status s = sa_st_open(&st, index_path, &err);
    SA_CHECKF(t, s == code && has(err.msg, sub) && !st,
              "index %s: expected %d '%s', got %d: %s", json, (int)code, sub, (int)s, err.msg);
    sa_st_close(st);
}

static void test_sharded(sa_test *t) {
    char dir[1024], p1[1100], p2[1100], p3[1100], idx[1100];
    snprintf(dir, sizeof(dir), "%s", sa_test_tmpfile(t, "sharded"));
    SA_REQUIRE(t, mkdir(dir, 0755) == 0);
    snprintf(p1, sizeof(p1), "%s/model-00001-of-00002.safetensors", dir);
    snprintf(p2, sizeof(p2), "%s/model-00002-of-00002.safetensors", dir);
    snprintf(p3, sizeof(p3), "%s/extra.safetensors", dir);
    snprintf(idx, sizeof(idx), "%s/model.safetensors.index.json", dir);
    static const char *const s1[] = {"embed.weight", "layers.0.w"};
    static const char *const s2[] = {"layers.1.w"};
    static const char *const s3[] = {"embed.weight"};
    SA_REQUIRE(t, write_shard(t, p1, s1, 2) && write_shard(t, p2, s2, 1) &&
                      write_shard(t, p3, s3, 1));
    const char *good =
        "{\"metadata\": {\"total_size\": 40},\n"
        " \"weight_map\": {\"embed.weight\": \"model-00001-of-00002.safetensors\",\n"
        "  \"layers.1.w\": \"model-00002-of-00002.safetensors\",\n"
        "  \"layers.0.w\": \"model-00001-of-00002.safetensors\"}}\n";
    write_text(t, idx, good);
    sa_st *st;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_st_open(&st, dir, &err), &err);
    SA_CHECK_EQ_INT(t, sa_st_n_shards(st), 2);
    SA_CHECK_EQ_INT(t, sa_st_n_tensors(st), 3);
    const sa_st_tensor *a = sa_st_find(st, "embed.weight"), *b = sa_st_find(st, "layers.0.w"),
                       *c = sa_st_find(st, "layers.1.w");
    SA_REQUIRE(t, a && b && c);
    SA_CHECK(t, a->shard == 0 && b->shard == 0 && c->shard == 1);
    SA_CHECK_EQ_INT(t, b->shape[1], 2);
    SA_CHECK(t, ((const float *)c->data)[1] == 2.0f);
    SA_CHECK_STR(t, sa_st_metadata_get(st, "format"), "pt");
    SA_CHECK(t, has(sa_st_shard_path(st, 1), "model-00002-of-00002.safetensors"));
    sa_st_close(st);
    SA_CHECK_OK(t, sa_st_open(&st, idx, &err), &err); /* the index path itself */
    sa_st_close(st);

    expect_index_fail(t, idx,
                      "{\"weight_map\": {\"embed.weight\": \"model-00001-of-00002.safetensors\","
                      " \"layers.0.w\": \"model-00001-of-00002.safetensors\","
                      " \"layers.1.w\": \"missing.safetensors\"}}",
                      SA_ERR_IO, "missing.safetensors: cannot open");
    expect_index_fail(t, idx,
                      "{\"weight_map\": {\"embed.weight\": \"model-00001-of-00002.safetensors\","
                      " \"layers.0.w\": \"model-00001-of-00002.safetensors\","
                      " \"layers.1.w\": \"model-00002-of-00002.safetensors\","
                      " \"layers.2.w\": \"model-00002-of-00002.safetensors\"}}",
                      SA_ERR_FORMAT, "tensor 'layers.2.w' in 'model-00002-of-00002.safetensors'"
                                     ", which does not contain it");
    expect_index_fail(t, idx,
                      "{\"weight_map\": {\"embed.weight\": \"model-00002-of-00002.safetensors\","
                      " \"layers.0.w\": \"model-00001-of-00002.safetensors\","
                      " \"layers.1.w\": \"model-00002-of-00002.safetensors\"}}",
                      SA_ERR_FORMAT, "does not contain it");
    expect_index_fail(t, idx,
                      "{\"weight_map\": {\"embed.weight\": \"model-00001-of-00002.safetensors\","
                      " \"layers.1.w\": \"model-00002-of-00002.safetensors\"}}",
                      SA_ERR_FORMAT, "holds tensor 'layers.0.w', which weight_map does not list");
    expect_index_fail(t, idx,
                      "{\"weight_map\": {\"embed.weight\": \"model-00001-of-00002.safetensors\","
                      " \"layers.0.w\": \"model-00001-of-00002.safetensors\","
                      " \"x\": \"extra.safetensors\"}}",
                      SA_ERR_FORMAT, "tensor 'embed.weight' appears in both");
    expect_index_fail(t, idx, "{\"metadata\": {}}", SA_ERR_FORMAT, "missing \"weight_map\"");
    expect_index_fail(t, idx, "{\"weight_map\": {\"a\": \"../x.safetensors\"}}", SA_ERR_FORMAT,
                      "not a relative path");
    expect_index_fail(t, idx, "{\"weight_map\": {\"a\": \"/etc/passwd\"}}", SA_ERR_FORMAT,
                      "not a relative path");
    expect_index_fail(t, idx, "{\"weight_map\": {\"a\": 3}}", SA_ERR_FORMAT, "not a string");
    expect_index_fail(t, idx,
                      "{\"weight_map\": {\"a\": \"extra.safetensors\", \"a\": \"x\"}}",
                      SA_ERR_FORMAT, "duplicate");
    expect_index_fail(t, idx, "[1, 2]", SA_ERR_FORMAT, "not a JSON object");
    expect_index_fail(t, idx, "{\"weight_map\": ", SA_ERR_FORMAT, "line 1");
}

/* ---- corrupt headers --------------------------------------------------------- */

#define T1(dt, shape, b, e)                                                    \
    "{\"t\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" b "," e "]}}"

static void test_corrupt(sa_test *t) {
    /* the valid baseline */
    size_t n;
    uint8_t *p = mk(T1("F32", "[2,3]", "0", "24"), 0, 24, &n);
    sa_st *st;
    sa_err err = {0};
    SA_CHECK_OK(t, sa_st_open_memory(&st, p, n, "ok", &err), &err);
    sa_st_close(st);
    free(p);
    /* trailing spaces (writer padding) are fine */
    p = mk(T1("F32", "[2,3]", "0", "24") "   ", 0, 24, &n);
    SA_CHECK_OK(t, sa_st_open_memory(&st, p, n, "ok", &err), &err);
    sa_st_close(st);
    free(p);
    /* a zero dimension makes an otherwise overflowing shape empty */
    p = mk(T1("F32", "[0,4611686018427387904,4611686018427387904]", "0", "0"), 0, 0, &n);
    SA_CHECK_OK(t, sa_st_open_memory(&st, p, n, "ok", &err), &err);
    if (st) SA_CHECK_EQ_INT(t, sa_st_tensor_numel(sa_st_find(st, "t")), 0);
    sa_st_close(st);
    free(p);

    SA_CHECK(t, sa_st_open_memory(&st, "1234", 4, "tiny", &err) == SA_ERR_FORMAT);
    SA_CHECK(t, has(err.msg, "tiny: file is 4 bytes, too short"));
    EXPECT_BAD(t, "{}", 1000, 0, SA_ERR_FORMAT, "header length 1000 runs past the end");
    EXPECT_BAD(t, "{}", 1ull << 40, 0, SA_ERR_FORMAT, "exceeds the 104857600-byte limit");
    EXPECT_BAD(t, "{\"t\":", 0, 0, SA_ERR_FORMAT, "header JSON at byte");
    EXPECT_BAD(t, "[1,2,3]", 0, 0, SA_ERR_FORMAT, "header JSON is not an object");
    EXPECT_BAD(t, "{\"t\":1}", 0, 0, SA_ERR_FORMAT, "tensor 't': entry is not an object");
    EXPECT_BAD(t, "{\"\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 0, 1,
               SA_ERR_FORMAT, "a tensor has an empty name");
    EXPECT_BAD(t,
               "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
               "\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
               0, 2, SA_ERR_FORMAT, "duplicate object key");
    EXPECT_BAD(t, T1("F8_E4M3", "[2]", "0", "2"), 0, 2, SA_ERR_UNSUPPORTED,
               "tensor 't': unsupported dtype 'F8_E4M3'");
    EXPECT_BAD(t, T1("Q8_0", "[32]", "0", "34"), 0, 34, SA_ERR_UNSUPPORTED, "dtype 'Q8_0'");
    EXPECT_BAD(t, T1("F32", "[-2,3]", "0", "24"), 0, 24, SA_ERR_FORMAT,
               "shape[0] is not a non-negative integer");
    EXPECT_BAD(t, T1("F32", "[2.0,3]", "0", "24"), 0, 24, SA_ERR_FORMAT,
               "shape[0] is not a non-negative integer");
    EXPECT_BAD(t, T1("F32", "[2,3]", "0", "20"), 0, 20, SA_ERR_FORMAT,
               "shape [2, 3] of F32 needs 24 bytes but data_offsets span 20");
    EXPECT_BAD(t, T1("F32", "[2,3]", "0", "24"), 0, 20, SA_ERR_FORMAT,
               "run past the end of the 20-byte data section");
    EXPECT_BAD(t, T1("F32", "[2,3]", "24", "0"), 0, 24, SA_ERR_FORMAT, "end before they begin");
    EXPECT_BAD(t, T1("F32", "[4294967296,4294967296]", "0", "0"), 0, 0, SA_ERR_FORMAT,
               "shape size overflows");
    EXPECT_BAD(t, T1("F32", "[4611686018427387904]", "0", "0"), 0, 0, SA_ERR_FORMAT,
               "shape size overflows");
    EXPECT_BAD(t, T1("F32", "[1,1,1,1,1,1,1,1,1]", "0", "4"), 0, 4, SA_ERR_UNSUPPORTED,
               "rank 9 exceeds the maximum 8");
    EXPECT_BAD(t,
               "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
               "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}",
               0, 6, SA_ERR_FORMAT, "tensors 'a' and 'b' overlap");
    EXPECT_BAD(t,
               "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
               "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[6,10]}}",
               0, 10, SA_ERR_FORMAT, "hole in the data section: bytes [4, 6)");
    EXPECT_BAD(t, T1("U8", "[4]", "0", "4"), 0, 9, SA_ERR_FORMAT,
               "5 bytes after the last tensor");
    EXPECT_BAD(t, "{\"__metadata__\":{\"k\":1}}", 0, 0, SA_ERR_FORMAT,
               "__metadata__ value of 'k' is not a string");
    EXPECT_BAD(t, "{\"__metadata__\":[\"k\"]}", 0, 0, SA_ERR_FORMAT,
               "__metadata__ is not an object");
    EXPECT_BAD(t, "{\"t\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", 0, 1, SA_ERR_FORMAT,
               "missing 'shape'");
    EXPECT_BAD(t, "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":1}}", 0,
               1, SA_ERR_FORMAT, "unknown field 'x'");
    EXPECT_BAD(t, "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,1]}}", 0, 1,
               SA_ERR_FORMAT, "not a [begin, end] pair");
    EXPECT_BAD(t, "{\"t\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,1]}}", 0, 1,
               SA_ERR_FORMAT, "dtype is not a string");
    EXPECT_BAD(t, "{\"t\xff\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 0, 1,
               SA_ERR_FORMAT, "header JSON");
    EXPECT_BAD(t, "{\"t\\u0000x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 0,
               1, SA_ERR_FORMAT, "header JSON");
    EXPECT_BAD(t, T1("U8", "[1]", "0", "99999999999999999999999"), 0, 1, SA_ERR_FORMAT,
               "header JSON");
}

static const sa_test_def tests[] = {
    {"roundtrip_memory", test_roundtrip_memory},
    {"roundtrip_file", test_roundtrip_file},
    {"writer_errors", test_writer_errors},
    {"sharded", test_sharded},
    {"corrupt", test_corrupt},
};
SA_TEST_MAIN(tests)
