/* test_gguf.c — GGUF writer/reader round trips and the real llama.cpp vocab files. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <unistd.h>

#include "sa/alloc.h"
#include "sa/dtype.h"
#include "sa/gguf.h"
#include "sa/mmap.h"
#include "sa/strbuf.h"
#include "sa_test.h"

/* Deterministic filler so every tensor byte is checked. */
static void fill(void *p, size_t n, uint32_t seed) {
    uint8_t *b = p;
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        b[i] = (uint8_t)x;
    }
}

static const char *const k_strs[] = {"", "hello", "héllo wörld ✓ 😀", "▁the", "<0x0A>", "a\tb\nc"};
#define N_STRS (sizeof k_strs / sizeof k_strs[0])

typedef struct fixture {
    float f32a[7 * 3];
    uint16_t f16a[64], bf16a[5 * 2 * 3];
    sa_block_q8_0 q8[2 * 4];
    float one[1];
    float big4[2 * 3 * 4 * 5];
} fixture;

static uint8_t arr_u8[] = {0, 1, 255};
static int8_t arr_i8[] = {-128, 0, 127};
static uint16_t arr_u16[] = {0, 65535};
static int16_t arr_i16[] = {-32768, 32767, -1};
static uint32_t arr_u32[] = {0, UINT32_MAX, 12345};
static int32_t arr_i32[] = {INT32_MIN, INT32_MAX, -7};
static float arr_f32[] = {0.0f, -0.0f, FLT_MAX, -FLT_MIN, 1e-45f, INFINITY};
static uint8_t arr_bool[] = {1, 0, 1, 1};
static uint64_t arr_u64[] = {0, UINT64_MAX};
static int64_t arr_i64[] = {INT64_MIN, INT64_MAX};
static double arr_f64[] = {DBL_MAX, -DBL_MIN, 4.9e-324, 3.141592653589793};

static struct {
    sa_gguf_type t;
    const void *data;
    uint64_t n;
    size_t es;
} k_arrs[] = {
    {SA_GGUF_TYPE_UINT8, arr_u8, 3, 1},   {SA_GGUF_TYPE_INT8, arr_i8, 3, 1},
    {SA_GGUF_TYPE_UINT16, arr_u16, 2, 2}, {SA_GGUF_TYPE_INT16, arr_i16, 3, 2},
    {SA_GGUF_TYPE_UINT32, arr_u32, 3, 4}, {SA_GGUF_TYPE_INT32, arr_i32, 3, 4},
    {SA_GGUF_TYPE_FLOAT32, arr_f32, 6, 4}, {SA_GGUF_TYPE_BOOL, arr_bool, 4, 1},
    {SA_GGUF_TYPE_UINT64, arr_u64, 2, 8}, {SA_GGUF_TYPE_INT64, arr_i64, 2, 8},
    {SA_GGUF_TYPE_FLOAT64, arr_f64, 4, 8}, {SA_GGUF_TYPE_UINT32, arr_u32, 0, 4},
};
#define N_ARRS (sizeof k_arrs / sizeof k_arrs[0])

static bool build(sa_test *t, sa_gguf_writer *w, fixture *fx) {
    sa_err e = {0};
    fill(fx, sizeof *fx, 7);
    /* keep float tensors finite/non-NaN is not needed: bytes are compared */
#define OK(call)                                                                                   \
    do {                                                                                           \
        if ((call) != SA_OK) {                                                                     \
            sa_test_fail(t, __FILE__, __LINE__, "%s: %s", #call, e.msg);                           \
            return false;                                                                          \
        }                                                                                          \
    } while (0)
    OK(sa_gguf_set_str(w, "general.architecture", "llama", &e));
    OK(sa_gguf_set_u8(w, "s.u8.max", UINT8_MAX, &e));
    OK(sa_gguf_set_i8(w, "s.i8.min", INT8_MIN, &e));
    OK(sa_gguf_set_u16(w, "s.u16.max", UINT16_MAX, &e));
    OK(sa_gguf_set_i16(w, "s.i16.min", INT16_MIN, &e));
    OK(sa_gguf_set_u32(w, "s.u32.max", UINT32_MAX, &e));
    OK(sa_gguf_set_i32(w, "s.i32.min", INT32_MIN, &e));
    OK(sa_gguf_set_u64(w, "s.u64.max", UINT64_MAX, &e));
    OK(sa_gguf_set_i64(w, "s.i64.min", INT64_MIN, &e));
    OK(sa_gguf_set_i64(w, "s.i64.max", INT64_MAX, &e));
    OK(sa_gguf_set_f32(w, "s.f32.max", FLT_MAX, &e));
    OK(sa_gguf_set_f32(w, "s.f32.denorm", -1e-45f, &e));
    OK(sa_gguf_set_f64(w, "s.f64.min", DBL_MIN, &e));
    OK(sa_gguf_set_f64(w, "s.f64.neginf", -INFINITY, &e));
    OK(sa_gguf_set_bool(w, "s.bool.t", true, &e));
    OK(sa_gguf_set_bool(w, "s.bool.f", false, &e));
    OK(sa_gguf_set_str(w, "s.str.empty", "", &e));
    OK(sa_gguf_set_str(w, "s.str.utf8", "日本語 — ✓ 😀", &e));
    OK(sa_gguf_set_strn(w, "s.str.nul", "a\0b", 3, &e));
    for (size_t i = 0; i < N_ARRS; i++) {
        char key[32];
        snprintf(key, sizeof key, "a.%zu", i);
        OK(sa_gguf_set_arr(w, key, k_arrs[i].t, k_arrs[i].data, k_arrs[i].n, &e));
    }
    OK(sa_gguf_set_arr_str(w, "a.str", k_strs, N_STRS, &e));
    OK(sa_gguf_set_arr_str(w, "a.str.empty", NULL, 0, &e));
    /* replacing keeps the position and changes the value and type */
    OK(sa_gguf_set_u32(w, "replaced", 1, &e));
    OK(sa_gguf_set_str(w, "replaced", "second", &e));

    int64_t ne_f32[] = {7, 3}, ne_f16[] = {64}, ne_bf16[] = {5, 2, 3}, ne_q8[] = {64, 4},
            ne_one[] = {1}, ne_big4[] = {2, 3, 4, 5};
    OK(sa_gguf_add_tensor(w, "t.f32", SA_DTYPE_F32, 2, ne_f32, fx->f32a, &e));
    OK(sa_gguf_add_tensor(w, "t.f16", SA_DTYPE_F16, 1, ne_f16, fx->f16a, &e));
    OK(sa_gguf_add_tensor(w, "t.bf16", SA_DTYPE_BF16, 3, ne_bf16, fx->bf16a, &e));
    OK(sa_gguf_add_tensor(w, "t.q8_0", SA_DTYPE_Q8_0, 2, ne_q8, fx->q8, &e));
    OK(sa_gguf_add_tensor(w, "t.one", SA_DTYPE_F32, 1, ne_one, fx->one, &e));
    OK(sa_gguf_add_tensor(w, "t.big4", SA_DTYPE_F32, 4, ne_big4, fx->big4, &e));
#undef OK
    return true;
}

static void check_contents(sa_test *t, const sa_gguf *g, const fixture *fx) {
    SA_CHECK_EQ_INT(t, sa_gguf_version(g), 3);
    SA_CHECK_EQ_INT(t, sa_gguf_n_kv(g), 19 + N_ARRS + 3);
    SA_CHECK_STR(t, sa_gguf_key(g, 0), "general.architecture");
    int64_t i64;
    uint64_t u64;
    double d;
    bool b;
    size_t len;
#define K(name) sa_gguf_find_key(g, name)
    SA_CHECK_STR(t, sa_gguf_get_str(g, K("general.architecture"), NULL), "llama");
    SA_CHECK(t, sa_gguf_get_uint(g, K("s.u8.max"), &u64) && u64 == UINT8_MAX);
    SA_CHECK(t, sa_gguf_kv_type(g, K("s.u8.max")) == SA_GGUF_TYPE_UINT8);
    SA_CHECK(t, sa_gguf_get_int(g, K("s.i8.min"), &i64) && i64 == INT8_MIN);
    SA_CHECK(t, sa_gguf_kv_type(g, K("s.i8.min")) == SA_GGUF_TYPE_INT8);
    SA_CHECK(t, !sa_gguf_get_uint(g, K("s.i8.min"), &u64)); /* negative */
    SA_CHECK(t, sa_gguf_get_uint(g, K("s.u16.max"), &u64) && u64 == UINT16_MAX);
    SA_CHECK(t, sa_gguf_get_int(g, K("s.i16.min"), &i64) && i64 == INT16_MIN);
    SA_CHECK(t, sa_gguf_get_uint(g, K("s.u32.max"), &u64) && u64 == UINT32_MAX);
    SA_CHECK(t, sa_gguf_get_int(g, K("s.u32.max"), &i64) && i64 == UINT32_MAX);
    SA_CHECK(t, sa_gguf_get_int(g, K("s.i32.min"), &i64) && i64 == INT32_MIN);
    SA_CHECK(t, sa_gguf_get_uint(g, K("s.u64.max"), &u64) && u64 == UINT64_MAX);
    SA_CHECK(t, !sa_gguf_get_int(g, K("s.u64.max"), &i64)); /* > INT64_MAX */
    SA_CHECK(t, sa_gguf_get_int(g, K("s.i64.min"), &i64) && i64 == INT64_MIN);
    SA_CHECK(t, sa_gguf_get_int(g, K("s.i64.max"), &i64) && i64 == INT64_MAX);
    SA_CHECK(t, sa_gguf_get_uint(g, K("s.i64.max"), &u64) && u64 == INT64_MAX);
    SA_CHECK(t, sa_gguf_get_float(g, K("s.f32.max"), &d) && d == FLT_MAX);
    SA_CHECK(t, sa_gguf_kv_type(g, K("s.f32.max")) == SA_GGUF_TYPE_FLOAT32);
    SA_CHECK(t, sa_gguf_get_float(g, K("s.f32.denorm"), &d) && d == (double)-1e-45f);
    SA_CHECK(t, sa_gguf_get_float(g, K("s.f64.min"), &d) && d == DBL_MIN);
    SA_CHECK(t, sa_gguf_get_float(g, K("s.f64.neginf"), &d) && isinf(d) && d < 0);
    SA_CHECK(t, !sa_gguf_get_int(g, K("s.f64.min"), &i64));
    SA_CHECK(t, sa_gguf_get_bool(g, K("s.bool.t"), &b) && b);
    SA_CHECK(t, sa_gguf_get_bool(g, K("s.bool.f"), &b) && !b);
    SA_CHECK(t, !sa_gguf_get_int(g, K("s.bool.t"), &i64));
    const char *s = sa_gguf_get_str(g, K("s.str.empty"), &len);
    SA_CHECK(t, s && len == 0 && s[0] == 0);
    SA_CHECK_STR(t, sa_gguf_get_str(g, K("s.str.utf8"), NULL), "日本語 — ✓ 😀");
    s = sa_gguf_get_str(g, K("s.str.nul"), &len);
    SA_CHECK(t, s && len == 3 && memcmp(s, "a\0b", 4) == 0);
    SA_CHECK(t, sa_gguf_get_str(g, K("s.u8.max"), &len) == NULL);
    SA_CHECK_STR(t, sa_gguf_get_str(g, K("replaced"), NULL), "second");
    SA_CHECK_EQ_INT(t, K("replaced"), sa_gguf_n_kv(g) - 1);
    SA_CHECK_EQ_INT(t, K("no.such.key"), -1);
    for (size_t i = 0; i < N_ARRS; i++) {
        char key[32];
        snprintf(key, sizeof key, "a.%zu", i);
        int64_t k = K(key);
        SA_CHECK(t, sa_gguf_kv_type(g, k) == SA_GGUF_TYPE_ARRAY);
        SA_CHECK_EQ_INT(t, sa_gguf_arr_type(g, k), k_arrs[i].t);
        SA_CHECK_EQ_INT(t, sa_gguf_arr_n(g, k), k_arrs[i].n);
        const void *p = sa_gguf_arr_data(g, k);
        if (k_arrs[i].n == 0) SA_CHECK(t, p == NULL);
        else SA_CHECKF(t, p && memcmp(p, k_arrs[i].data, k_arrs[i].n * k_arrs[i].es) == 0,
                       "array %s differs", key);
    }
    int64_t ks = K("a.str");
    SA_CHECK_EQ_INT(t, sa_gguf_arr_type(g, ks), SA_GGUF_TYPE_STRING);
    SA_CHECK_EQ_INT(t, sa_gguf_arr_n(g, ks), N_STRS);
    SA_CHECK(t, sa_gguf_arr_data(g, ks) == NULL);
    for (uint64_t j = 0; j < N_STRS; j++) {
        SA_CHECK_STR(t, sa_gguf_arr_str(g, ks, j, &len), k_strs[j]);
        SA_CHECK_EQ_INT(t, len, strlen(k_strs[j]));
    }
    SA_CHECK(t, sa_gguf_arr_str(g, ks, N_STRS, &len) == NULL);
    SA_CHECK_EQ_INT(t, sa_gguf_arr_n(g, K("a.str.empty")), 0);
    SA_CHECK_EQ_INT(t, sa_gguf_arr_type(g, K("a.str.empty")), SA_GGUF_TYPE_STRING);
#undef K

    struct {
        const char *name;
        sa_dtype dt;
        uint32_t gt;
        int nd;
        int64_t ne[4];
        const void *data;
        size_t nbytes;
    } ex[] = {
        {"t.f32", SA_DTYPE_F32, 0, 2, {7, 3, 1, 1}, fx->f32a, sizeof fx->f32a},
        {"t.f16", SA_DTYPE_F16, 1, 1, {64, 1, 1, 1}, fx->f16a, sizeof fx->f16a},
        {"t.bf16", SA_DTYPE_BF16, 30, 3, {5, 2, 3, 1}, fx->bf16a, sizeof fx->bf16a},
        {"t.q8_0", SA_DTYPE_Q8_0, 8, 2, {64, 4, 1, 1}, fx->q8, sizeof fx->q8},
        {"t.one", SA_DTYPE_F32, 0, 1, {1, 1, 1, 1}, fx->one, 4},
        {"t.big4", SA_DTYPE_F32, 0, 4, {2, 3, 4, 5}, fx->big4, sizeof fx->big4},
    };
    SA_REQUIRE(t, sa_gguf_n_tensors(g) == 6);
    uint32_t align = sa_gguf_alignment(g);
    for (int i = 0; i < 6; i++) {
        const sa_gguf_tensor *ti = sa_gguf_tensor_at(g, i);
        SA_REQUIRE(t, ti);
        SA_CHECK_STR(t, ti->name, ex[i].name);
        SA_CHECK_EQ_INT(t, sa_gguf_find_tensor(g, ex[i].name), i);
        SA_CHECK_EQ_INT(t, ti->dtype, ex[i].dt);
        SA_CHECK_EQ_INT(t, ti->ggml_type, ex[i].gt);
        SA_CHECK_EQ_INT(t, ti->n_dims, ex[i].nd);
        for (int k = 0; k < 4; k++) SA_CHECK_EQ_INT(t, ti->ne[k], ex[i].ne[k]);
        SA_CHECK_EQ_INT(t, ti->nbytes, ex[i].nbytes);
        SA_CHECK(t, ti->offset % align == 0);
        SA_CHECKF(t, memcmp(ti->data, ex[i].data, ex[i].nbytes) == 0, "tensor %s bytes differ",
                  ex[i].name);
    }
    SA_CHECK(t, sa_gguf_tensor_at(g, 6) == NULL && sa_gguf_tensor_at(g, -1) == NULL);
    SA_CHECK_EQ_INT(t, sa_gguf_find_tensor(g, "nope"), -1);
}

static void test_round_trip_memory(sa_test *t) {
    sa_err e = {0};
    fixture *fx = sa_calloc(1, sizeof *fx);
    sa_gguf_writer *w = NULL;
    SA_REQUIRE_OK(t, sa_gguf_writer_init(&w, &e), &e);
    sa_strbuf out = {0}, again = {0};
    sa_gguf *g = NULL;
    if (!build(t, w, fx)) goto done;
    SA_CHECK_OK(t, sa_gguf_write_mem(w, &out, &e), &e);
    SA_CHECK_OK(t, sa_gguf_open_memory(&g, out.buf, out.len, "rt.gguf", &e), &e);
    if (!g) goto done;
    SA_CHECK_EQ_INT(t, sa_gguf_alignment(g), 32);
    SA_CHECK(t, sa_gguf_data_offset(g) % 32 == 0);
    check_contents(t, g, fx);

    /* write -> read -> write: copy every key and tensor, bytes must match */
    sa_gguf_writer *w2 = NULL;
    SA_CHECK_OK(t, sa_gguf_writer_init(&w2, &e), &e);
    for (int64_t i = 0; i < sa_gguf_n_kv(g); i++) SA_CHECK_OK(t, sa_gguf_copy_kv(w2, g, i, &e), &e);
    for (int64_t i = 0; i < sa_gguf_n_tensors(g); i++) {
        const sa_gguf_tensor *ti = sa_gguf_tensor_at(g, i);
        SA_CHECK_OK(t, sa_gguf_add_tensor(w2, ti->name, ti->dtype, ti->n_dims, ti->ne, ti->data, &e),
                    &e);
    }
    SA_CHECK_OK(t, sa_gguf_write_mem(w2, &again, &e), &e);
    SA_CHECK_EQ_INT(t, again.len, out.len);
    SA_CHECK(t, again.len == out.len && memcmp(again.buf, out.buf, out.len) == 0);
    sa_gguf_writer_free(w2);
done:
    sa_gguf_close(g);
    sa_gguf_writer_free(w);
    sa_strbuf_free(&out);
    sa_strbuf_free(&again);
    free(fx);
}

static void test_round_trip_file(sa_test *t) {
    sa_err e = {0};
    fixture *fx = sa_calloc(1, sizeof *fx);
    sa_gguf_writer *w = NULL;
    SA_REQUIRE_OK(t, sa_gguf_writer_init(&w, &e), &e);
    sa_strbuf mem = {0};
    sa_gguf *g = NULL;
    char *data = NULL;
    if (!build(t, w, fx)) goto done;
    char path[1024];
    snprintf(path, sizeof path, "%s", sa_test_tmpfile(t, "rt.gguf"));
    SA_CHECK_OK(t, sa_gguf_write(w, path, &e), &e);
    SA_CHECK_OK(t, sa_gguf_write(w, path, &e), &e); /* overwrite works */
    /* no temp file left behind */
    char tmpl[1100];
    snprintf(tmpl, sizeof tmpl, "ls %s | grep -c tmp >/dev/null", sa_test_tmpdir(t));
    SA_CHECK(t, system(tmpl) != 0);
    SA_CHECK_OK(t, sa_gguf_write_mem(w, &mem, &e), &e);
    size_t n = 0;
    SA_CHECK_OK(t, sa_file_read_all(path, 0, &data, &n, &e), &e);
    SA_CHECK(t, data && n == mem.len && memcmp(data, mem.buf, n) == 0);
    SA_CHECK_OK(t, sa_gguf_open(&g, path, &e), &e);
    if (g) check_contents(t, g, fx);
    /* writing into a missing directory fails cleanly */
    SA_CHECK(t, sa_gguf_write(w, "/nonexistent-dir/x.gguf", &e) == SA_ERR_IO);
    SA_CHECK(t, strstr(e.msg, "/nonexistent-dir/x.gguf") != NULL);
done:
    free(data);
    sa_gguf_close(g);
    sa_gguf_writer_free(w);
    sa_strbuf_free(&mem);
    free(fx);
}

static void test_alignment_and_writer_errors(sa_test *t) {
    sa_err e = {0};
    sa_gguf_writer *w = NULL;
    SA_REQUIRE_OK(t, sa_gguf_writer_init(&w, &e), &e);
    float a[3] = {1, 2, 3}, b[5] = {4, 5, 6, 7, 8};
    int64_t ne3[] = {3}, ne5[] = {5};
    SA_CHECK(t, sa_gguf_writer_set_alignment(w, 48, &e) == SA_ERR_INVALID_ARG);
    SA_CHECK_OK(t, sa_gguf_writer_set_alignment(w, 64, &e), &e);
    SA_CHECK_OK(t, sa_gguf_add_tensor(w, "a", SA_DTYPE_F32, 1, ne3, a, &e), &e);
    SA_CHECK_OK(t, sa_gguf_add_tensor(w, "b", SA_DTYPE_F32, 1, ne5, b, &e), &e);
    SA_CHECK(t, sa_gguf_add_tensor(w, "a", SA_DTYPE_F32, 1, ne3, a, &e) == SA_ERR_INVALID_ARG);
    SA_CHECK(t, strstr(e.msg, "duplicate tensor name 'a'") != NULL);
    int64_t ne_bad[] = {33};
    SA_CHECK(t, sa_gguf_add_tensor(w, "q", SA_DTYPE_Q8_0, 1, ne_bad, a, &e) == SA_ERR_INVALID_ARG);
    SA_CHECK(t, sa_gguf_add_tensor(w, "z", SA_DTYPE_F32, 5, ne3, a, &e) == SA_ERR_INVALID_ARG);
    int64_t ne_zero[] = {0};
    SA_CHECK(t, sa_gguf_add_tensor(w, "z", SA_DTYPE_F32, 1, ne_zero, a, &e) == SA_ERR_INVALID_ARG);
    int64_t ne_huge[] = {INT64_MAX, 4};
    SA_CHECK(t, sa_gguf_add_tensor(w, "z", SA_DTYPE_F32, 2, ne_huge, a, &e) == SA_ERR_INVALID_ARG);
    SA_CHECK(t, sa_gguf_add_tensor(w, "z", SA_DTYPE_U8, 1, ne3, a, &e) == SA_ERR_INVALID_ARG);
    SA_CHECK(t, sa_gguf_set_arr(w, "x", SA_GGUF_TYPE_STRING, a, 1, &e) == SA_ERR_INVALID_ARG);
    sa_strbuf out = {0};
    SA_CHECK_OK(t, sa_gguf_write_mem(w, &out, &e), &e);
    sa_gguf *g = NULL;
    SA_CHECK_OK(t, sa_gguf_open_memory(&g, out.buf, out.len, NULL, &e), &e);
    if (g) {
        SA_CHECK_EQ_INT(t, sa_gguf_alignment(g), 64);
        SA_CHECK(t, sa_gguf_data_offset(g) % 64 == 0);
        const sa_gguf_tensor *tb = sa_gguf_tensor_at(g, 1);
        SA_CHECK_EQ_INT(t, tb->offset, 64);
        SA_CHECK(t, memcmp(tb->data, b, sizeof b) == 0);
        /* the file ends with the last tensor padded to the alignment */
        SA_CHECK_EQ_INT(t, out.len, sa_gguf_data_offset(g) + 128);
    }
    sa_gguf_close(g);
    /* a general.alignment of the wrong type is refused at write time */
    SA_CHECK_OK(t, sa_gguf_set_u64(w, "general.alignment", 64, &e), &e);
    sa_strbuf_reset(&out);
    SA_CHECK(t, sa_gguf_write_mem(w, &out, &e) == SA_ERR_INVALID_ARG);
    SA_CHECK_EQ_INT(t, out.len, 0);
    sa_strbuf_free(&out);
    sa_gguf_writer_free(w);
}

static void test_empty_file_layout(sa_test *t) {
    /* no keys, no tensors: exactly the 24-byte header */
    sa_err e = {0};
    sa_gguf_writer *w = NULL;
    SA_REQUIRE_OK(t, sa_gguf_writer_init(&w, &e), &e);
    sa_strbuf out = {0};
    SA_CHECK_OK(t, sa_gguf_write_mem(w, &out, &e), &e);
    static const uint8_t hdr[24] = {'G', 'G', 'U', 'F', 3, 0, 0, 0};
    SA_CHECK(t, out.len == 24 && memcmp(out.buf, hdr, 24) == 0);
    sa_gguf *g = NULL;
    SA_CHECK_OK(t, sa_gguf_open_memory(&g, out.buf, out.len, NULL, &e), &e);
    if (g) SA_CHECK(t, sa_gguf_n_kv(g) == 0 && sa_gguf_n_tensors(g) == 0);
    sa_gguf_close(g);
    sa_strbuf_free(&out);
    sa_gguf_writer_free(w);
}

static void test_type_tables(sa_test *t) {
    SA_CHECK_STR(t, sa_gguf_type_name(SA_GGUF_TYPE_STRING), "string");
    SA_CHECK_STR(t, sa_gguf_type_name(SA_GGUF_TYPE_FLOAT64), "float64");
    SA_CHECK_STR(t, sa_gguf_type_name((sa_gguf_type)13), "?");
    SA_CHECK_STR(t, sa_ggml_type_name(12), "Q4_K");
    SA_CHECK_STR(t, sa_ggml_type_name(30), "BF16");
    SA_CHECK_STR(t, sa_ggml_type_name(4), "?");
    uint32_t be, bb;
    SA_CHECK(t, sa_ggml_type_block(14, &be, &bb) && be == 256 && bb == 210); /* Q6_K */
    SA_CHECK(t, sa_ggml_type_block(2, &be, &bb) && be == 32 && bb == 18);    /* Q4_0 */
    SA_CHECK(t, !sa_ggml_type_block(31, &be, &bb));                          /* removed */
    SA_CHECK_EQ_INT(t, sa_ggml_type_to_dtype(8), SA_DTYPE_Q8_0);
    SA_CHECK_EQ_INT(t, sa_ggml_type_to_dtype(12), SA_DTYPE_INVALID);
    SA_CHECK_EQ_INT(t, sa_dtype_to_ggml_type(SA_DTYPE_BF16), 30);
    SA_CHECK_EQ_INT(t, sa_dtype_to_ggml_type(SA_DTYPE_U8), UINT32_MAX);
}

/* The llama.cpp vocab-only files: every one opens; model and token count
 * (counts cross-checked with an independent 20-line Python parser). */
static void test_real_vocab_files(sa_test *t) {
    static const struct {
        const char *file, *model;
        uint64_t n_tokens;
    } cases[] = {
        {"ggml-vocab-llama-spm.gguf", "llama", 32000},
        {"ggml-vocab-gpt-2.gguf", "gpt2", 50257},
        {"ggml-vocab-phi-3.gguf", "llama", 32064},
        {"ggml-vocab-bert-bge.gguf", "bert", 30522},
        {"ggml-vocab-baichuan.gguf", "llama", 64000},
        {"ggml-vocab-falcon.gguf", "gpt2", 65024},
        {"ggml-vocab-deepseek-coder.gguf", "gpt2", 32256},
        {"ggml-vocab-deepseek-llm.gguf", "gpt2", 102400},
        {"ggml-vocab-gpt-neox.gguf", "gpt2", 50432},
        {"ggml-vocab-mpt.gguf", "gpt2", 50432},
        {"ggml-vocab-refact.gguf", "gpt2", 49216},
        {"ggml-vocab-starcoder.gguf", "gpt2", 49152},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char rel[256];
        snprintf(rel, sizeof rel, "tokenizers/llamacpp-vocab/%s", cases[c].file);
        const char *path = sa_test_data(t, rel);
        if (!path) return;
        sa_err e = {0};
        sa_gguf *g = NULL;
        SA_CHECK_OK(t, sa_gguf_open(&g, path, &e), &e);
        if (!g) continue;
        SA_CHECK_EQ_INT(t, sa_gguf_version(g), 3);
        SA_CHECK_EQ_INT(t, sa_gguf_n_tensors(g), 0);
        const char *model = sa_gguf_get_str(g, sa_gguf_find_key(g, "tokenizer.ggml.model"), NULL);
        SA_CHECKF(t, model && strcmp(model, cases[c].model) == 0, "%s: model %s, expected %s",
                  cases[c].file, model ? model : "(null)", cases[c].model);
        int64_t k = sa_gguf_find_key(g, "tokenizer.ggml.tokens");
        SA_CHECK_EQ_INT(t, sa_gguf_arr_type(g, k), SA_GGUF_TYPE_STRING);
        SA_CHECKF(t, sa_gguf_arr_n(g, k) == cases[c].n_tokens, "%s: %llu tokens, expected %llu",
                  cases[c].file, (unsigned long long)sa_gguf_arr_n(g, k),
                  (unsigned long long)cases[c].n_tokens);
        /* every key is reachable through find_key */
        for (int64_t i = 0; i < sa_gguf_n_kv(g); i++)
            SA_CHECK_EQ_INT(t, sa_gguf_find_key(g, sa_gguf_key(g, i)), i);
        if (strcmp(cases[c].file, "ggml-vocab-llama-spm.gguf") == 0) {
            size_t len;
            SA_CHECK_STR(t, sa_gguf_arr_str(g, k, 0, &len), "<unk>");
            SA_CHECK_STR(t, sa_gguf_arr_str(g, k, 1, &len), "<s>");
            SA_CHECK_STR(t, sa_gguf_arr_str(g, k, 13, &len), "<0x0A>");
            int64_t ks = sa_gguf_find_key(g, "tokenizer.ggml.scores");
            SA_CHECK_EQ_INT(t, sa_gguf_arr_type(g, ks), SA_GGUF_TYPE_FLOAT32);
            SA_CHECK_EQ_INT(t, sa_gguf_arr_n(g, ks), 32000);
            uint64_t bos;
            SA_CHECK(t, sa_gguf_get_uint(g, sa_gguf_find_key(g, "tokenizer.ggml.bos_token_id"), &bos) &&
                            bos == 1);
        }
        if (strcmp(cases[c].file, "ggml-vocab-gpt-2.gguf") == 0) {
            int64_t km = sa_gguf_find_key(g, "tokenizer.ggml.merges");
            SA_CHECK_EQ_INT(t, sa_gguf_arr_type(g, km), SA_GGUF_TYPE_STRING);
            SA_CHECK_EQ_INT(t, sa_gguf_arr_n(g, km), 50000);
            SA_CHECK_STR(t, sa_gguf_arr_str(g, km, 0, NULL), "Ġ t");
        }
        /* re-export through the writer and read back identically */
        sa_gguf_writer *w = NULL;
        sa_strbuf out = {0};
        SA_CHECK_OK(t, sa_gguf_writer_init(&w, &e), &e);
        for (int64_t i = 0; w && i < sa_gguf_n_kv(g); i++)
            SA_CHECK_OK(t, sa_gguf_copy_kv(w, g, i, &e), &e);
        SA_CHECK_OK(t, sa_gguf_write_mem(w, &out, &e), &e);
        sa_mmap m;
        if (sa_mmap_open(&m, path, &e) == SA_OK) {
            SA_CHECKF(t, out.len == m.size && memcmp(out.buf, m.data, m.size) == 0,
                      "%s: re-export differs (%zu vs %zu bytes)", cases[c].file, out.len, m.size);
            sa_mmap_close(&m);
        }
        sa_strbuf_free(&out);
        sa_gguf_writer_free(w);
        sa_gguf_close(g);
    }
}

static const sa_test_def tests[] = {
    {"round_trip_memory", test_round_trip_memory},
    {"round_trip_file", test_round_trip_file},
    {"alignment_and_writer_errors", test_alignment_and_writer_errors},
    {"empty_file_layout", test_empty_file_layout},
    {"type_tables", test_type_tables},
    {"real_vocab_files", test_real_vocab_files},
};
SA_TEST_MAIN(tests)
