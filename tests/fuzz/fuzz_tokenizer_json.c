/* fuzz_tokenizer_json.c — libFuzzer target for the tokenizer.json loader
 * and, when a file loads, encode/decode of a few texts.
 *
 * The input is written to a private temporary tokenizer.json (the loader
 * takes paths); any tokenizer that loads must encode and decode without
 * error on valid UTF-8, and decoding must never fail on ids it produced.
 *
 *     make fuzz && build-fuzz/fuzz_tokenizer_json -max_total_time=60 corpus/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sa/strbuf.h"
#include "sa/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/sa_fuzz_tok_XXXXXX");
        if (!mkdtemp(dir)) return 0;
    }
    char path[128];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    sa_tokenizer *tok = NULL;
    sa_err err = {0};
    if (sa_tokenizer_load(&tok, path, &err) != SA_OK) return 0;
    static const char *texts[] = {"Hello world", "  spaces\tand\nnewlines  ", "<|im_end|></s><s>", "naïve 日本語 😀 123456",
                                  ""};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        for (unsigned flags = 0; flags < 4; flags++) {
            sa_tokens ids = {0};
            sa_strbuf out = {0};
            if (sa_tokenizer_encode(tok, texts[i], strlen(texts[i]), flags, &ids, &err) == SA_OK) {
                for (size_t j = 0; j < ids.n; j++)
                    if (ids.ids[j] < 0 || ids.ids[j] >= sa_tokenizer_vocab_size(tok)) __builtin_trap();
                if (sa_tokenizer_decode(tok, ids.ids, ids.n, 0, &out, &err) != SA_OK) __builtin_trap();
            }
            sa_tokens_free(&ids);
            sa_strbuf_free(&out);
        }
    }
    sa_tokenizer_free(tok);
    return 0;
}
