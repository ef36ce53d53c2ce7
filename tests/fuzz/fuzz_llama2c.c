/* fuzz_llama2c.c — libFuzzer target for the llama2.c checkpoint and
 * tokenizer.bin readers.
 *
 * The input is tried as a checkpoint (every tensor walked, converted to
 * fp32, its bytes inside the input) and as a vocabulary, both read to EOF
 * and with the count it would then have.
 * Build: make fuzz; run: build-fuzz/fuzz_llama2c -max_total_time=60 corpus/
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sa/llama2c.h"

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c)) __builtin_trap();                                            \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_checkpoint(const uint8_t *data, size_t size) {
    sa_llama2c *m = NULL;
    sa_err err = {0};
    if (sa_llama2c_open_memory(&m, data, size, "fuzz", &err) != SA_OK) {
        CHECK(m == NULL && err.code != SA_OK && err.msg[0] != '\0');
        return;
    }
    const sa_llama2c_config *c = sa_llama2c_config_get(m);
    CHECK(c->dim > 0 && c->n_heads > 0 && c->dim % c->n_heads == 0);
    size_t total = 0;
    for (int64_t i = 0; i < sa_llama2c_n_tensors(m); i++) {
        const sa_st_tensor *t = sa_llama2c_tensor_at(m, i);
        CHECK(t && sa_llama2c_find(m, t->name) == t);
        const uint8_t *p = t->data;
        CHECK(p >= data && p + t->nbytes <= data + size);
        total += t->nbytes;
        if (strstr(t->name, ".scales")) continue;
        int64_t numel = sa_st_tensor_numel(t);
        float *buf = malloc((size_t)numel * sizeof(float) + 1);
        CHECK(buf != NULL);
        CHECK(sa_llama2c_tensor_to_f32(m, t, buf, NULL) == SA_OK);
        volatile float sink = numel ? buf[numel - 1] : 0.0f;
        (void)sink;
        free(buf);
    }
    /* the tensors and the header cover the file exactly */
    CHECK(total + (c->version == 0 ? 28u : 256u) == size);
    sa_llama2c_close(m);
}

static void fuzz_vocab(const uint8_t *data, size_t size) {
    sa_llama2c_vocab v;
    if (sa_llama2c_vocab_read_memory(&v, data, size, "fuzz", 0, NULL) != SA_OK) {
        CHECK(v.pieces == NULL && v.n == 0);
        return;
    }
    int32_t n = v.n;
    for (int32_t i = 0; i < n; i++) {
        CHECK(v.lens[i] <= (uint32_t)v.max_token_length);
        CHECK(v.pieces[i][v.lens[i]] == '\0');
    }
    sa_llama2c_vocab_free(&v);
    if (n > 0) {
        CHECK(sa_llama2c_vocab_read_memory(&v, data, size, "fuzz", n, NULL) == SA_OK);
        CHECK(v.n == n);
        sa_llama2c_vocab_free(&v);
        CHECK(sa_llama2c_vocab_read_memory(&v, data, size, "fuzz", n + 1, NULL) != SA_OK);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_checkpoint(data, size);
    fuzz_vocab(data, size);
    return 0;
}
