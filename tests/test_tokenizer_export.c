/* test_tokenizer_export.c — a tokenizer written as GGUF metadata (with a
 * model, as `convert` does) loads back to the same ids on real text: SPM by
 * scores (llama2.c tok512), SPM by merge rank (HF Llama 2 tokenizer.json,
 * whose ranks become scores), and byte-level BPE (Qwen2.5, GPT-2). */
#include <stdlib.h>

#include "sa/gguf.h"
#include "sa/mmap.h"
#include "sa/model.h"
#include "sa/tokenizer.h"
#include "sa_test.h"

static void check_same(sa_test *t, const char *tok_rel, int32_t model_vocab) {
    const char *p = sa_test_data(t, tok_rel);
    if (!p) return;
    char tpath[1024];
    snprintf(tpath, sizeof tpath, "%s", p);
    const char *cp = sa_test_data(t, "corpus/exllamav2_cal/multilingual.utf8");
    if (!cp) return;
    char cpath[1024];
    snprintf(cpath, sizeof cpath, "%s", cp);
    sa_err e = {0};
    sa_tokenizer *a, *b;
    SA_REQUIRE_OK(t, sa_tokenizer_load(&a, tpath, &e), &e);
    if (model_vocab < sa_tokenizer_vocab_size(a)) model_vocab = sa_tokenizer_vocab_size(a);
    /* a tiny model whose embedding has model_vocab rows, exported with the tokenizer */
    sa_model_config c = {.arch = SA_ARCH_LLAMA, .dim = 32, .hidden_dim = 32, .n_layers = 1, .n_heads = 2,
                         .n_kv_heads = 2, .head_dim = 16, .vocab_size = model_vocab, .max_seq_len = 16,
                         .rope_theta = 10000, .norm_eps = 1e-5f, .rope_layout = SA_ROPE_LAYOUT_NEOX,
                         .tied_embeddings = true, .bos_id = -1, .eos_id = -1};
    sa_model *m;
    SA_REQUIRE_OK(t, sa_model_alloc(&m, &c, &e), &e);
    char gpath[1024];
    snprintf(gpath, sizeof gpath, "%s/%d.gguf", sa_test_tmpdir(t), model_vocab);
    SA_REQUIRE_OK(t, sa_model_save_gguf(m, gpath, SA_DTYPE_F32, a, &e), &e);
    sa_model_free(m);
    SA_REQUIRE_OK(t, sa_tokenizer_load(&b, gpath, &e), &e);
    SA_CHECK_EQ_INT(t, sa_tokenizer_vocab_size(b), model_vocab);
    SA_CHECK_EQ_INT(t, sa_tokenizer_bos(b), sa_tokenizer_bos(a));
    SA_CHECK_EQ_INT(t, sa_tokenizer_eos(b), sa_tokenizer_eos(a));
    char *text;
    size_t n;
    SA_REQUIRE_OK(t, sa_file_read_all(cpath, 0, &text, &n, &e), &e);
    /* line by line, so a difference names the line */
    int lines = 0, same = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        sa_tokens x = {0}, y = {0};
        size_t len = strlen(line);
        sa_status s1 = sa_tokenizer_encode(a, line, len, 0, &x, &e), s2 = sa_tokenizer_encode(b, line, len, 0, &y, &e);
        lines++;
        if (s1 == s2 && x.n == y.n && (x.n == 0 || memcmp(x.ids, y.ids, x.n * sizeof(int32_t)) == 0)) same++;
        else if (lines - same <= 3) sa_test_fail(t, __FILE__, __LINE__, "%s: line %d encodes differently after export", tok_rel, lines);
        sa_tokens_free(&x);
        sa_tokens_free(&y);
    }
    fprintf(stderr, "  %s: %d/%d lines identical after GGUF export\n", tok_rel, same, lines);
    SA_CHECK(t, lines > 100);
    free(text);
    sa_tokenizer_free(a);
    sa_tokenizer_free(b);
}

static void test_spm_scores(sa_test *t) { check_same(t, "models/llama2c-stories260K/tok512.bin", 600); }
static void test_spm_merges(sa_test *t) { check_same(t, "tokenizers/hf/llama-2/tokenizer.json", 32000); }
static void test_bpe_qwen(sa_test *t) { check_same(t, "tokenizers/hf/qwen2.5-0.5b-instruct", 151936); }
static void test_bpe_gpt2(sa_test *t) { check_same(t, "tokenizers/hf/gpt2", 50257); }

static const sa_test_def tests[] = {
    {"spm_scores", test_spm_scores},
    {"spm_merges", test_spm_merges},
    {"bpe_qwen", test_bpe_qwen},
    {"bpe_gpt2", test_bpe_gpt2},
};
SA_TEST_MAIN(tests)
