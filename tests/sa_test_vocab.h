/* sa_test_vocab.h — llama.cpp's tokenizer test files, for the conformance
 * tests.
 *
 * A .inp file holds texts, each followed by "\n__ggml_vocab_test__\n"
 * (llama.cpp's test-tokenizer-0 splits on it); the matching .out has one
 * line per text with the ids Hugging Face `encode(text,
 * add_special_tokens=False)` produced. sa_vocab_cases_read splits both in
 * place; sa_vocab_cases_run encodes every text, compares the ids and checks
 * decode(encode(text)) == text, reporting each mismatch as a test failure.
 */
#ifndef SA_TEST_VOCAB_H
#define SA_TEST_VOCAB_H

#include <stdbool.h>
#include <stddef.h>

#include "sa/tokenizer.h"
#include "sa_test.h"

#define SA_VOCAB_MAX_CASES 128

typedef struct sa_vocab_cases {
    char *inp, *outbuf; /* the two files, split in place */
    const char *text[SA_VOCAB_MAX_CASES];
    size_t text_len[SA_VOCAB_MAX_CASES];
    const char *ids[SA_VOCAB_MAX_CASES]; /* a line of space-separated ids */
    int n;
} sa_vocab_cases;

/* Read inp_path and out_path; false (test failed) if unreadable or the
 * .out has fewer lines than texts. Free with sa_vocab_cases_free either way. */
bool sa_vocab_cases_read(sa_test *t, const char *inp_path, const char *out_path, sa_vocab_cases *c);
/* The same for tokenizers/llamacpp-vocab/<stem>.inp/.out under the test
 * data (false, test skipped, when absent). */
bool sa_vocab_cases_load(sa_test *t, const char *stem, sa_vocab_cases *c);
void sa_vocab_cases_free(sa_vocab_cases *c);

typedef struct sa_vocab_result {
    int ok_ids, ok_rt; /* texts whose ids matched; texts that round-tripped */
} sa_vocab_result;

/* Encode every text (untrusted) and compare with the .out ids: each
 * mismatch fails the test (the first three with the ids). Every encoding is
 * decoded; a text that does not come back fails the test when roundtrip is
 * required and is only counted otherwise. */
sa_vocab_result sa_vocab_cases_run(sa_test *t, const sa_tokenizer *tok, const sa_vocab_cases *c, const char *label,
                                   bool roundtrip);

#endif
