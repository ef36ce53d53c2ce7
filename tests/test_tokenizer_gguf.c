/* test_tokenizer_gguf.c — tokenizers loaded from GGUF metadata against
 * llama.cpp's vocabulary test vectors (ids from HF AutoTokenizer
 * encode(text, add_special_tokens=False)), and the loader's validation on
 * hand-made bad files. Per-vocabulary pass counts go to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa/gguf.h"
#include "sa/tokenizer.h"
#include "sa_test.h"
#include "sa_test_vocab.h"

#define VOCAB_DIR "tokenizers/llamacpp-vocab/"

/* ---- .inp / .out ----------------------------------------------------------------- */

static char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = sz >= 0 ? malloc((size_t)sz + 1) : NULL;
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) b[sz] = 0;
    *n = b ? (size_t)sz : 0;
    return b;
}

/* Load ggml-vocab-<name>.gguf, encode every .inp text, compare with .out;
 * round-trip decode when the tokenizer is lossless. */
static void run_vocab(sa_test *t, const char *name, sa_tok_type type, int32_t n_vocab,
                      bool roundtrip) {
    char rel[256], gg[1024], inp[1040], outp[1040];
    snprintf(rel, sizeof rel, VOCAB_DIR "ggml-vocab-%s.gguf", name);
    const char *p = sa_test_data(t, rel);
    if (!p) return;
    snprintf(gg, sizeof gg, "%s", p);
    snprintf(inp, sizeof inp, "%s.inp", gg);
    snprintf(outp, sizeof outp, "%s.out", gg);
    sa_tokenizer *tok;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_tokenizer_load(&tok, gg, &err), &err);
    SA_CHECK_EQ_INT(t, sa_tokenizer_type(tok), type);
    SA_CHECK_EQ_INT(t, sa_tokenizer_vocab_size(tok), n_vocab);
    sa_vocab_cases c;
    if (!sa_vocab_cases_read(t, inp, outp, &c)) {
        sa_vocab_cases_free(&c);
        sa_tokenizer_free(tok);
        return;
    }
    sa_vocab_result r = sa_vocab_cases_run(t, tok, &c, name, roundtrip);
    if (roundtrip)
        fprintf(stderr, "gguf %-15s %s: %d/%d encode, %d/%d round trip\n", name, sa_tokenizer_describe(tok),
                r.ok_ids, c.n, r.ok_rt, c.n);
    else
        fprintf(stderr, "gguf %-15s %s: %d/%d encode (no round trip: lossy)\n", name, sa_tokenizer_describe(tok),
                r.ok_ids, c.n);
    SA_CHECK(t, c.n >= 40);
    sa_vocab_cases_free(&c);
    sa_tokenizer_free(tok);
}

static void v_llama_spm(sa_test *t) { run_vocab(t, "llama-spm", SA_TOK_TYPE_SPM, 32000, true); }
static void v_phi3(sa_test *t) { run_vocab(t, "phi-3", SA_TOK_TYPE_SPM, 32064, true); }
static void v_gpt2(sa_test *t) { run_vocab(t, "gpt-2", SA_TOK_TYPE_BPE, 50257, true); }
static void v_falcon(sa_test *t) { run_vocab(t, "falcon", SA_TOK_TYPE_BPE, 65024, true); }
static void v_mpt(sa_test *t) { run_vocab(t, "mpt", SA_TOK_TYPE_BPE, 50432, true); }
static void v_starcoder(sa_test *t) { run_vocab(t, "starcoder", SA_TOK_TYPE_BPE, 49152, true); }
static void v_refact(sa_test *t) { run_vocab(t, "refact", SA_TOK_TYPE_BPE, 49216, true); }
static void v_deepseek_llm(sa_test *t) { run_vocab(t, "deepseek-llm", SA_TOK_TYPE_BPE, 102400, true); }
static void v_deepseek_coder(sa_test *t) {
    run_vocab(t, "deepseek-coder", SA_TOK_TYPE_BPE, 32256, true);
}
/* WordPiece lowercases, strips accents and drops spacing: no round trip */
static void v_bert_bge(sa_test *t) { run_vocab(t, "bert-bge", SA_TOK_TYPE_WPM, 30522, false); }

static void load_only(sa_test *t) {
    const char *p = sa_test_data(t, VOCAB_DIR "ggml-vocab-gpt-neox.gguf");
    if (!p) return;
    sa_tokenizer *tok;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_tokenizer_load(&tok, p, &err), &err);
    SA_CHECK_EQ_INT(t, sa_tokenizer_type(tok), SA_TOK_TYPE_BPE);
    SA_CHECK_EQ_INT(t, sa_tokenizer_vocab_size(tok), 50432);
    SA_CHECK_EQ_INT(t, sa_tokenizer_eos(tok), 0);
    SA_CHECK(t, strstr(sa_tokenizer_describe(tok), "gpt2") || strstr(sa_tokenizer_describe(tok), "default"));
    SA_CHECK(t, sa_tokenizer_attr(tok, 0) & SA_TOKEN_ATTR_CONTROL);
    fprintf(stderr, "gguf gpt-neox        %s (load only)\n", sa_tokenizer_describe(tok));
    sa_tokens ids = {0};
    sa_strbuf sb = {0};
    const char *txt = "Hello world, GPT-NeoX!";
    SA_CHECK_OK(t, sa_tokenizer_encode(tok, txt, strlen(txt), 0, &ids, &err), &err);
    SA_CHECK_OK(t, sa_tokenizer_decode(tok, ids.ids, ids.n, 0, &sb, &err), &err);
    SA_CHECK_STR(t, sa_strbuf_cstr(&sb), txt);
    sa_tokens_free(&ids);
    sa_strbuf_free(&sb);
    sa_tokenizer_free(tok);

    p = sa_test_data(t, VOCAB_DIR "ggml-vocab-baichuan.gguf");
    if (!p) return;
    SA_REQUIRE_OK(t, sa_tokenizer_load(&tok, p, &err), &err);
    SA_CHECK_EQ_INT(t, sa_tokenizer_type(tok), SA_TOK_TYPE_SPM);
    SA_CHECK_EQ_INT(t, sa_tokenizer_vocab_size(tok), 64000);
    SA_CHECK_EQ_INT(t, sa_tokenizer_bos(tok), 1);
    SA_CHECK_EQ_INT(t, sa_tokenizer_eos(tok), 2);
    SA_CHECK_EQ_INT(t, sa_tokenizer_unk(tok), 0);
    SA_CHECK(t, strstr(sa_tokenizer_describe(tok), "byte fallback") != NULL);
    fprintf(stderr, "gguf baichuan        %s (load only)\n", sa_tokenizer_describe(tok));
    const char *txt2 = "\xE4\xBD\xA0\xE5\xA5\xBD, world \xF0\x9F\xA6\x99";
    SA_CHECK_OK(t, sa_tokenizer_encode(tok, txt2, strlen(txt2), 0, &ids, &err), &err);
    SA_CHECK_OK(t, sa_tokenizer_decode(tok, ids.ids, ids.n, 0, &sb, &err), &err);
    SA_CHECK_STR(t, sa_strbuf_cstr(&sb), txt2);
    sa_tokens_free(&ids);
    sa_strbuf_free(&sb);
    sa_tokenizer_free(tok);
}

static void chat_template_and_flags(sa_test *t) {
    const char *p = sa_test_data(t, VOCAB_DIR "ggml-vocab-phi-3.gguf");
    if (!p) return;
    sa_tokenizer *tok;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_tokenizer_load(&tok, p, &err), &err);
    const char *tmpl = sa_tokenizer_chat_template(tok);
    SA_CHECK(t, tmpl && strncmp(tmpl, "{{ bos_token }}", 15) == 0);
    SA_CHECK(t, sa_tokenizer_add_bos(tok));
    SA_CHECK_EQ_INT(t, sa_tokenizer_eos(tok), 32000);
    SA_CHECK_EQ_INT(t, sa_tokenizer_pad(tok), 32000);
    sa_tokens ids = {0};
    SA_CHECK_OK(t, sa_tokenizer_encode(tok, "Hi", 2, SA_ENCODE_BOS, &ids, &err), &err);
    SA_CHECK(t, ids.n >= 2 && ids.ids[0] == 1);
    sa_tokens_free(&ids);
    sa_tokenizer_free(tok);

    p = sa_test_data(t, VOCAB_DIR "ggml-vocab-bert-bge.gguf");
    if (!p) return;
    SA_REQUIRE_OK(t, sa_tokenizer_load(&tok, p, &err), &err);
    SA_CHECK_EQ_INT(t, sa_tokenizer_bos(tok), 101); /* [CLS] */
    SA_CHECK_EQ_INT(t, sa_tokenizer_eos(tok), 102); /* [SEP] */
    SA_CHECK_EQ_INT(t, sa_tokenizer_unk(tok), 100);
    SA_CHECK_EQ_INT(t, sa_tokenizer_pad(tok), 0);
    SA_CHECK_OK(t, sa_tokenizer_encode(tok, "Hello", 5, SA_ENCODE_BOS | SA_ENCODE_EOS, &ids, &err),
                &err);
    SA_CHECK(t, ids.n == 3 && ids.ids[0] == 101 && ids.ids[2] == 102);
    sa_tokens_free(&ids);
    sa_tokenizer_free(tok);
}

/* ---- hand-made GGUF files ------------------------------------------------------------- */

typedef enum { BAD_NONE, BAD_MODEL, BAD_SCORES_LEN, BAD_TYPES_KIND, BAD_BOS, BAD_MERGE,
               BAD_MERGE_FORM, BAD_PRE, BAD_NO_TOKENS, BAD_BYTE_PIECE, BAD_TYPE_VALUE } bad_kind;

/* A 6-token BPE ("gpt2") or SPM ("llama") vocabulary with one defect. */
static bool write_vocab(sa_test *t, const char *path, bool bpe, bad_kind bad) {
    sa_gguf_writer *w;
    sa_err err = {0};
    if (sa_gguf_writer_init(&w, &err) != SA_OK) return false;
    const char *model = bad == BAD_MODEL ? "t5" : bpe ? "gpt2" : "llama";
    sa_gguf_set_str(w, "tokenizer.ggml.model", model, &err);
    if (bpe) sa_gguf_set_str(w, "tokenizer.ggml.pre", bad == BAD_PRE ? "klingon" : "gpt-2", &err);
    const char *bpe_tok[] = {"<|endoftext|>", "a", "b", "ab", "\xC4\xA0", "\xC4\xA0" "ab"};
    const char *spm_tok[] = {"<unk>", "<s>", "</s>", bad == BAD_BYTE_PIECE ? "<0xZZ>" : "<0x41>",
                             "\xE2\x96\x81", "a"};
    if (bad != BAD_NO_TOKENS)
        sa_gguf_set_arr_str(w, "tokenizer.ggml.tokens", bpe ? bpe_tok : spm_tok, 6, &err);
    float scores[6] = {0, 0, 0, 0, -1, -2};
    sa_gguf_set_arr(w, "tokenizer.ggml.scores", SA_GGUF_TYPE_FLOAT32, scores,
                    bad == BAD_SCORES_LEN ? 5 : 6, &err);
    int32_t types[6] = {3, 1, 1, 1, 1, 1};
    if (!bpe) types[0] = 2, types[1] = 3, types[2] = 3, types[3] = 6;
    if (bad == BAD_TYPE_VALUE) types[4] = 9;
    if (bad == BAD_TYPES_KIND)
        sa_gguf_set_arr(w, "tokenizer.ggml.token_type", SA_GGUF_TYPE_FLOAT32, scores, 6, &err);
    else
        sa_gguf_set_arr(w, "tokenizer.ggml.token_type", SA_GGUF_TYPE_INT32, types, 6, &err);
    if (bpe) {
        const char *merges[] = {"a b", "\xC4\xA0 ab", bad == BAD_MERGE ? "a zz" : "b a",
                                bad == BAD_MERGE_FORM ? "ab" : "a a"};
        /* "b a" / "a a" result in pieces that do not exist: only BAD_MERGE is
         * about unknown sides, so keep the good file's merges all valid */
        const char *good[] = {"a b", "\xC4\xA0 ab"};
        if (bad == BAD_MERGE || bad == BAD_MERGE_FORM)
            sa_gguf_set_arr_str(w, "tokenizer.ggml.merges", merges, 4, &err);
        else
            sa_gguf_set_arr_str(w, "tokenizer.ggml.merges", good, 2, &err);
    }
    sa_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", bad == BAD_BOS ? 6 : 1, &err);
    sa_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", bpe ? 0 : 2, &err);
    sa_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", false, &err);
    sa_gguf_set_str(w, "tokenizer.chat_template", "{{ x }}", &err);
    sa_status s = sa_gguf_write(w, path, &err);
    sa_gguf_writer_free(w);
    SA_CHECKF(t, s == SA_OK, "writing %s: %s", path, err.msg);
    return s == SA_OK;
}

static void expect_error(sa_test *t, bool bpe, bad_kind bad, sa_status code, const char *needle) {
    const char *path = sa_test_tmpfile(t, "bad.gguf");
    char pbuf[1024];
    snprintf(pbuf, sizeof pbuf, "%s", path);
    if (!write_vocab(t, pbuf, bpe, bad)) return;
    sa_tokenizer *tok = (sa_tokenizer *)(uintptr_t)1;
    sa_err err = {0};
    sa_status s = sa_tokenizer_load(&tok, pbuf, &err);
    SA_CHECKF(t, s == code, "defect %d: status %d (%s), expected %d", (int)bad, (int)s, err.msg,
              (int)code);
    SA_CHECK(t, tok == NULL);
    SA_CHECKF(t, strstr(err.msg, needle) && strstr(err.msg, "bad.gguf"),
              "defect %d: message \"%s\" lacks \"%s\" or the file name", (int)bad, err.msg, needle);
    if (s == SA_OK) sa_tokenizer_free(tok);
}

static void handmade_good(sa_test *t) {
    const char *path = sa_test_tmpfile(t, "good_bpe.gguf");
    char pbuf[1024];
    snprintf(pbuf, sizeof pbuf, "%s", path);
    SA_REQUIRE(t, write_vocab(t, pbuf, true, BAD_NONE));
    sa_tokenizer *tok;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_tokenizer_load(&tok, pbuf, &err), &err);
    SA_CHECK_EQ_INT(t, sa_tokenizer_type(tok), SA_TOK_TYPE_BPE);
    SA_CHECK_EQ_INT(t, sa_tokenizer_bos(tok), 1);
    SA_CHECK(t, !sa_tokenizer_add_bos(tok));
    SA_CHECK_STR(t, sa_tokenizer_chat_template(tok), "{{ x }}");
    sa_tokens ids = {0};
    SA_CHECK_OK(t, sa_tokenizer_encode(tok, "ab ab", 5, 0, &ids, &err), &err);
    SA_CHECK(t, ids.n == 2 && ids.ids[0] == 3 && ids.ids[1] == 5);
    sa_tokens_free(&ids);
    sa_tokenizer_free(tok);

    path = sa_test_tmpfile(t, "good_spm.gguf");
    snprintf(pbuf, sizeof pbuf, "%s", path);
    SA_REQUIRE(t, write_vocab(t, pbuf, false, BAD_NONE));
    SA_REQUIRE_OK(t, sa_tokenizer_load(&tok, pbuf, &err), &err);
    SA_CHECK_EQ_INT(t, sa_tokenizer_type(tok), SA_TOK_TYPE_SPM);
    SA_CHECK_EQ_INT(t, sa_tokenizer_unk(tok), 0);     /* default */
    SA_CHECK_EQ_INT(t, sa_tokenizer_attr(tok, 3), SA_TOKEN_ATTR_BYTE);
    SA_CHECK_OK(t, sa_tokenizer_encode(tok, "aA", 2, 0, &ids, &err), &err);
    /* ▁ a, then A by byte fallback (<0x41> is id 3); b has no piece and no byte: unk */
    SA_CHECK(t, ids.n == 3 && ids.ids[0] == 4 && ids.ids[1] == 5 && ids.ids[2] == 3);
    ids.n = 0;
    SA_CHECK_OK(t, sa_tokenizer_encode(tok, "b", 1, 0, &ids, &err), &err);
    SA_CHECK(t, ids.n == 2 && ids.ids[1] == 0);
    sa_tokens_free(&ids);
    sa_tokenizer_free(tok);
}

static void handmade_bad(sa_test *t) {
    expect_error(t, true, BAD_MODEL, SA_ERR_UNSUPPORTED, "\"t5\"");
    expect_error(t, true, BAD_PRE, SA_ERR_UNSUPPORTED, "klingon");
    expect_error(t, true, BAD_SCORES_LEN, SA_ERR_FORMAT, "tokenizer.ggml.scores");
    expect_error(t, false, BAD_TYPES_KIND, SA_ERR_FORMAT, "tokenizer.ggml.token_type");
    expect_error(t, false, BAD_TYPE_VALUE, SA_ERR_FORMAT, "token_type[4]");
    expect_error(t, false, BAD_BOS, SA_ERR_FORMAT, "bos_token_id");
    expect_error(t, true, BAD_MERGE, SA_ERR_FORMAT, "merges[2]");
    expect_error(t, true, BAD_MERGE_FORM, SA_ERR_FORMAT, "merges[3]");
    expect_error(t, true, BAD_NO_TOKENS, SA_ERR_NOT_FOUND, "tokenizer.ggml.tokens");
    expect_error(t, false, BAD_BYTE_PIECE, SA_ERR_FORMAT, "tokens[3]");

    /* a GGUF without tokenizer metadata, and a truncated one */
    const char *path = sa_test_tmpfile(t, "empty.gguf");
    char pbuf[1024];
    snprintf(pbuf, sizeof pbuf, "%s", path);
    sa_gguf_writer *w;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_gguf_writer_init(&w, &err), &err);
    sa_gguf_set_str(w, "general.architecture", "llama", &err);
    SA_CHECK_OK(t, sa_gguf_write(w, pbuf, &err), &err);
    sa_gguf_writer_free(w);
    sa_tokenizer *tok = NULL;
    SA_CHECK_EQ_INT(t, sa_tokenizer_load(&tok, pbuf, &err), SA_ERR_NOT_FOUND);
    SA_CHECK(t, tok == NULL && strstr(err.msg, "tokenizer.ggml.model"));
    path = sa_test_tmpfile(t, "good.gguf");
    snprintf(pbuf, sizeof pbuf, "%s", path);
    SA_REQUIRE(t, write_vocab(t, pbuf, false, BAD_NONE));
    size_t n;
    char *bytes = read_all(pbuf, &n);
    SA_REQUIRE(t, bytes && n > 40);
    path = sa_test_tmpfile(t, "cut.gguf");
    snprintf(pbuf, sizeof pbuf, "%s", path);
    for (size_t cut = 8; cut < n; cut += n / 7) {
        SA_REQUIRE(t, sa_test_write_file(t, pbuf, bytes, cut));
        SA_CHECK(t, sa_tokenizer_load(&tok, pbuf, &err) != SA_OK && tok == NULL);
    }
    free(bytes);
}

static const sa_test_def tests[] = {
    {"llama_spm", v_llama_spm},
    {"phi_3", v_phi3},
    {"gpt_2", v_gpt2},
    {"falcon", v_falcon},
    {"mpt", v_mpt},
    {"starcoder", v_starcoder},
    {"refact", v_refact},
    {"deepseek_llm", v_deepseek_llm},
    {"deepseek_coder", v_deepseek_coder},
    {"bert_bge", v_bert_bge},
    {"load_only_neox_baichuan", load_only},
    {"chat_template_and_flags", chat_template_and_flags},
    {"handmade_good", handmade_good},
    {"handmade_bad", handmade_bad},
};
SA_TEST_MAIN(tests)
