/* fuzz_gguf.c — libFuzzer target for the GGUF reader (and writer round trip).
 *
 * Opens the input with sa_gguf_open_memory from an exact-size copy, walks
 * every key, array element and tensor byte, and for files that validate,
 * re-exports them through the writer and checks the result reads back with
 * the same metadata and tensor bytes. Any mismatch traps.
 *
 *     make fuzz && build-fuzz/fuzz_gguf -max_total_time=60 corpus/
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/gguf.h"
#include "sa/strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t g_sink;

static void walk(const sa_gguf *g) {
    uint64_t acc = sa_gguf_version(g) + sa_gguf_alignment(g) + sa_gguf_data_offset(g);
    for (int64_t i = 0; i < sa_gguf_n_kv(g); i++) {
        const char *k = sa_gguf_key(g, i);
        if (!k || sa_gguf_find_key(g, k) != i) __builtin_trap();
        int64_t iv;
        uint64_t uv;
        double dv;
        bool bv;
        size_t len;
        if (sa_gguf_get_int(g, i, &iv)) acc += (uint64_t)iv;
        if (sa_gguf_get_uint(g, i, &uv)) acc += uv;
        if (sa_gguf_get_float(g, i, &dv)) acc += (uint64_t)(dv == dv);
        if (sa_gguf_get_bool(g, i, &bv)) acc += bv;
        const char *s = sa_gguf_get_str(g, i, &len);
        if (s) acc += len ? (uint8_t)s[len - 1] : 0;
        sa_gguf_type at = sa_gguf_arr_type(g, i);
        uint64_t n = sa_gguf_arr_n(g, i);
        if (at == SA_GGUF_TYPE_STRING) {
            for (uint64_t j = 0; j < n; j++) {
                s = sa_gguf_arr_str(g, i, j, &len);
                if (!s || s[len] != 0) __builtin_trap();
                acc += len;
            }
        } else if (n) {
            const uint8_t *p = sa_gguf_arr_data(g, i);
            if (!p) __builtin_trap();
            acc += p[0];
        }
    }
    for (int64_t i = 0; i < sa_gguf_n_tensors(g); i++) {
        const sa_gguf_tensor *t = sa_gguf_tensor_at(g, i);
        if (sa_gguf_find_tensor(g, t->name) != i) __builtin_trap();
        const uint8_t *p = t->data;
        for (size_t b = 0; b < t->nbytes; b++) acc += p[b];
    }
    g_sink = acc;
}

static void reexport(const sa_gguf *g) {
    sa_gguf_writer *w = NULL;
    if (sa_gguf_writer_init(&w, NULL)) return;
    for (int64_t i = 0; i < sa_gguf_n_kv(g); i++)
        if (sa_gguf_copy_kv(w, g, i, NULL)) __builtin_trap();
    int64_t n_t = 0;
    for (int64_t i = 0; i < sa_gguf_n_tensors(g); i++) {
        const sa_gguf_tensor *t = sa_gguf_tensor_at(g, i);
        if (sa_dtype_to_ggml_type(t->dtype) == UINT32_MAX) continue; /* not writable */
        if (sa_gguf_add_tensor(w, t->name, t->dtype, t->n_dims, t->ne, t->data, NULL)) __builtin_trap();
        n_t++;
    }
    sa_strbuf out = {0};
    sa_gguf *g2 = NULL;
    if (sa_gguf_write_mem(w, &out, NULL) == SA_OK) {
        if (sa_gguf_open_memory(&g2, out.buf, out.len, "reexport", NULL) != SA_OK) __builtin_trap();
        if (sa_gguf_n_kv(g2) != sa_gguf_n_kv(g) || sa_gguf_n_tensors(g2) != n_t) __builtin_trap();
        for (int64_t i = 0; i < n_t; i++) {
            const sa_gguf_tensor *b = sa_gguf_tensor_at(g2, i);
            const sa_gguf_tensor *a = sa_gguf_tensor_at(g, sa_gguf_find_tensor(g, b->name));
            if (!a || a->nbytes != b->nbytes || memcmp(a->data, b->data, a->nbytes)) __builtin_trap();
        }
        sa_gguf_close(g2);
    }
    sa_strbuf_free(&out);
    sa_gguf_writer_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(size ? size : 1); /* exact size so ASan sees over-reads */
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    sa_gguf *g = NULL;
    sa_err err = {0};
    if (sa_gguf_open_memory(&g, copy, size, "fuzz", &err) == SA_OK) {
        walk(g);
        if (size < (1u << 20)) reexport(g);
        sa_gguf_close(g);
    } else if (!err.msg[0]) {
        __builtin_trap(); /* every failure must explain itself */
    }
    free(copy);
    return 0;
}
