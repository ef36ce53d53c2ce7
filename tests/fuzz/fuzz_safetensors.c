/* fuzz_safetensors.c — libFuzzer target for the safetensors reader.
 *
 * Opens the input as an in-memory safetensors image, touches every tensor's
 * first and last byte and every metadata string, then re-serialises an
 * accepted file with the writer and reopens it: the copy must hold the same
 * tensors, bytes and metadata (a broken invariant traps).
 * Build: make fuzz; run: build-fuzz/fuzz_safetensors -max_total_time=60 corpus/
 */
#include <stdint.h>
#include <string.h>

#include "sa/safetensors.h"

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c)) __builtin_trap();                                            \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sa_st *st = NULL;
    sa_err err = {0};
    if (sa_st_open_memory(&st, data, size, "fuzz", &err) != SA_OK) {
        CHECK(err.code != SA_OK && err.msg[0] != '\0');
        CHECK(st == NULL);
        return 0;
    }
    volatile uint8_t sink = 0;
    sa_st_writer *w = NULL;
    CHECK(sa_st_writer_init(&w, NULL) == SA_OK);
    int64_t n = sa_st_n_tensors(st);
    for (int64_t i = 0; i < n; i++) {
        const sa_st_tensor *t = sa_st_tensor_at(st, i);
        CHECK(t && t->name && t->n_dims >= 0 && t->n_dims <= SA_ST_MAX_DIMS);
        CHECK(sa_st_find(st, t->name) == t);
        if (t->nbytes) {
            const uint8_t *p = t->data;
            CHECK(p >= data && p + t->nbytes <= data + size);
            sink ^= p[0];
            sink ^= p[t->nbytes - 1];
        }
        size_t es = sa_dtype_block_bytes(t->dtype);
        CHECK((uint64_t)sa_st_tensor_numel(t) * es == t->nbytes);
        CHECK(sa_st_writer_add(w, t->name, t->dtype, t->n_dims, t->shape, t->data, NULL) ==
              SA_OK);
    }
    for (int64_t i = 0; i < sa_st_n_metadata(st); i++) {
        const char *k = sa_st_metadata_key(st, i), *v = sa_st_metadata_value(st, i);
        CHECK(k && v && sa_st_metadata_get(st, k) != NULL);
        sink ^= (uint8_t)strlen(v);
        CHECK(sa_st_writer_set_metadata(w, k, v, NULL) == SA_OK);
    }
    sa_strbuf out = {0};
    CHECK(sa_st_write_mem(w, &out, NULL) == SA_OK);
    sa_st *again = NULL;
    CHECK(sa_st_open_memory(&again, out.buf, out.len, "copy", NULL) == SA_OK);
    CHECK(sa_st_n_tensors(again) == n);
    for (int64_t i = 0; i < n; i++) {
        const sa_st_tensor *a = sa_st_tensor_at(st, i), *b = sa_st_find(again, a->name);
        CHECK(b && b->dtype == a->dtype && b->n_dims == a->n_dims && b->nbytes == a->nbytes);
        CHECK(memcmp(a->shape, b->shape, sizeof(a->shape[0]) * (size_t)a->n_dims) == 0);
        CHECK(a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0);
    }
    /* Metadata values containing NUL cannot exist (the JSON parser refuses
     * \u0000), so string comparison is exact. */
    CHECK(sa_st_n_metadata(again) == sa_st_n_metadata(st));
    for (int64_t i = 0; i < sa_st_n_metadata(st); i++) {
        const char *k = sa_st_metadata_key(st, i), *v = sa_st_metadata_get(again, k);
        CHECK(v && strcmp(v, sa_st_metadata_value(st, i)) == 0);
    }
    sa_st_close(again);
    sa_strbuf_free(&out);
    sa_st_writer_free(w);
    sa_st_close(st);
    (void)sink;
    return 0;
}
