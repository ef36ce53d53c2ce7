/* test_cli.c — the selfalign binary end to end: help, version, exit codes,
 * error messages, tokenize round trips and inspect on real files.
 *
 * The binary is $SA_BIN (tests/run sets it to <build>/selfalign); every test
 * skips when it is unset or not executable. Each run's stdout and stderr go
 * to files in the test's scratch directory.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The option parser is compiled in directly so its float/int/flag handling
 * is tested without a command that uses every type. */
#include "../cli/opts.c"
#include "sa/safetensors.h"
#include "sa/strbuf.h"
#include "sa/version.h"
#include "sa_test.h"
#include "sa_test_run.h"


static void test_help_version(sa_test *t) {
    run_result r;
    if (!run(t, &r, NULL, "--version", NULL)) return;
    SA_CHECK_EQ_INT(t, r.rc, 0);
    SA_CHECK_STR(t, OUT(r), "selfalign " SA_VERSION "\n");
    result_free(&r);

    run(t, &r, NULL, "--help", NULL);
    SA_CHECK_EQ_INT(t, r.rc, 0);
    CHECK_HAS(t, OUT(r), "tokenize");
    CHECK_HAS(t, OUT(r), "inspect");
    CHECK_HAS(t, OUT(r), "130");
    CHECK_HAS(t, OUT(r), "usage error");
    result_free(&r);

    run(t, &r, NULL, "inspect", "--help", NULL);
    SA_CHECK_EQ_INT(t, r.rc, 0);
    CHECK_HAS(t, OUT(r), "usage: selfalign inspect PATH");
    CHECK_HAS(t, OUT(r), "--max-items N");
    CHECK_HAS(t, OUT(r), "(default: 5)"); /* defaults come from the option table */
    CHECK_HAS(t, OUT(r), "exit status: 0 ok, 1 runtime error, 2 usage error, 130 interrupted");
    result_free(&r);

    run(t, &r, NULL, "help", "tokenize", NULL);
    SA_CHECK_EQ_INT(t, r.rc, 0);
    CHECK_HAS(t, OUT(r), "--tokenizer PATH");
    CHECK_HAS(t, OUT(r), "(required)");
    result_free(&r);
}

static void test_usage_errors(sa_test *t) {
    run_result r;
    if (!run(t, &r, NULL, "frobnicate", NULL)) return;
    SA_CHECK_EQ_INT(t, r.rc, 2);
    CHECK_HAS(t, ERR(r), "selfalign: error: unknown command 'frobnicate'");
    SA_CHECK_EQ_INT(t, r.out.len, 0);
    result_free(&r);

    run(t, &r, NULL, NULL); /* no command at all */
    SA_CHECK_EQ_INT(t, r.rc, 2);
    CHECK_HAS(t, ERR(r), "usage: selfalign <command>");
    result_free(&r);

    run(t, &r, NULL, "inspect", "--frob", "x", NULL);
    SA_CHECK_EQ_INT(t, r.rc, 2);
    CHECK_HAS(t, ERR(r), "selfalign: error: inspect: unknown option '--frob'");
    result_free(&r);

    run(t, &r, NULL, "inspect", "--max-items", "abc", "x", NULL);
    SA_CHECK_EQ_INT(t, r.rc, 2);
    CHECK_HAS(t, ERR(r), "--max-items expects an integer, got 'abc'");
    result_free(&r);

    run(t, &r, NULL, "inspect", "--max-items=5000", "x", NULL);
    SA_CHECK_EQ_INT(t, r.rc, 2);
    CHECK_HAS(t, ERR(r), "--max-items 5000 is out of range [0..1000]");
    result_free(&r);

    run(t, &r, NULL, "inspect", "x", "--max-items", NULL);
    SA_CHECK_EQ_INT(t, r.rc, 2);
    CHECK_HAS(t, ERR(r), "--max-items needs a value");
    result_free(&r);

    run(t, &r, NULL, "inspect", NULL);
    SA_CHECK_EQ_INT(t, r.rc, 2);
    CHECK_HAS(t, ERR(r), "inspect: expected PATH");
    result_free(&r);

    run(t, &r, NULL, "inspect", "a", "b", NULL);
    SA_CHECK_EQ_INT(t, r.rc, 2);
    CHECK_HAS(t, ERR(r), "unexpected argument 'b'");
    result_free(&r);

    run(t, &r, NULL, "tokenize", "--text", "hi", NULL);
    SA_CHECK_EQ_INT(t, r.rc, 2);
    CHECK_HAS(t, ERR(r), "missing required option --tokenizer");
    result_free(&r);

    run(t, &r, NULL, "tokenize", "--tokenizer", "x", "--decode=yes", NULL);
    SA_CHECK_EQ_INT(t, r.rc, 2);
    CHECK_HAS(t, ERR(r), "--decode is a flag");
    result_free(&r);
}

/* Count occurrences of the id `id` in a space-separated id line. */
static int count_id(const char *line, long id) {
    int c = 0;
    const char *p = line;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) break;
        c += v == id;
        p = end;
    }
    return c;
}

static void test_tokenize_roundtrip(sa_test *t) {
    const char *tokdir = sa_test_data(t, "tokenizers/hf/qwen2.5-0.5b-instruct");
    if (!tokdir) return;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", tokdir);
    const char *text = "Hello world, héllo wörld! <|im_end|> 12345";
    run_result r;
    if (!run(t, &r, NULL, "tokenize", "--tokenizer", dir, "--text", text, NULL)) return;
    SA_REQUIRE(t, r.rc == 0);
    SA_CHECK(t, r.out.len > 1 && r.out.buf[r.out.len - 1] == '\n');
    SA_CHECK(t, strchr(OUT(r), '\n') == r.out.buf + r.out.len - 1); /* one line */
    SA_CHECK_EQ_INT(t, count_id(OUT(r), 151645), 0); /* untrusted: no <|im_end|> id */
    char ids[4096];
    snprintf(ids, sizeof ids, "%s", OUT(r));
    result_free(&r);

    /* ids from stdin -> the text, byte for byte */
    run(t, &r, ids, "tokenize", "--tokenizer", dir, "--decode", NULL);
    SA_CHECK_EQ_INT(t, r.rc, 0);
    SA_CHECK_STR(t, OUT(r), text);
    result_free(&r);

    /* text from stdin gives the same ids as --text */
    run(t, &r, text, "tokenize", "--tokenizer", dir, NULL);
    SA_CHECK_EQ_INT(t, r.rc, 0);
    SA_CHECK_STR(t, OUT(r), ids);
    result_free(&r);

    /* --special: the template token becomes its id */
    run(t, &r, NULL, "tokenize", "--tokenizer", dir, "--special", "--text", "hi<|im_end|>", NULL);
    SA_CHECK_EQ_INT(t, r.rc, 0);
    SA_CHECK_EQ_INT(t, count_id(OUT(r), 151645), 1);
    result_free(&r);

    /* a bad id is a runtime error naming it */
    run(t, &r, NULL, "tokenize", "--tokenizer", dir, "--decode", "--text", "9707 99999999", NULL);
    SA_CHECK_EQ_INT(t, r.rc, 1);
    CHECK_HAS(t, ERR(r), "selfalign: error: --text: token 1: id 99999999 is outside");
    result_free(&r);

    /* a missing tokenizer is a runtime error, not a usage error */
    run(t, &r, NULL, "tokenize", "--tokenizer", "/nonexistent/tok", "--text", "x", NULL);
    SA_CHECK_EQ_INT(t, r.rc, 1);
    CHECK_HAS(t, ERR(r), "selfalign: error: ");
    CHECK_HAS(t, ERR(r), "/nonexistent/tok");
    result_free(&r);
}

static void test_inspect_llama2c(sa_test *t) {
    const char *p = sa_test_data(t, "models/llama2c-stories260K/stories260K.bin");
    if (!p) return;
    char path[1024];
    snprintf(path, sizeof path, "%s", p);
    run_result r;
    if (!run(t, &r, NULL, "inspect", path, NULL)) return;
    SA_CHECK_EQ_INT(t, r.rc, 0);
    CHECK_HAS(t, OUT(r), "dim: 64\n");
    CHECK_HAS(t, OUT(r), "hidden_dim: 172\n");
    CHECK_HAS(t, OUT(r), "n_layers: 5\n");
    CHECK_HAS(t, OUT(r), "n_heads: 8\n");
    CHECK_HAS(t, OUT(r), "n_kv_heads: 4\n");
    CHECK_HAS(t, OUT(r), "vocab_size: 512\n");
    CHECK_HAS(t, OUT(r), "seq_len: 512\n");
    CHECK_HAS(t, OUT(r), "tok_embeddings.weight");
    CHECK_HAS(t, OUT(r), "[512, 64]");
    /* 512*64 + 5*(2*64 + 2*64*64 + 2*32*64 + 3*172*64) + 64, RoPE tables excluded */
    CHECK_HAS(t, OUT(r), "parameters: 260032 ");
    result_free(&r);

    /* A truncated copy: the llama2.c parser's message, exit 1. */
    FILE *f = fopen(path, "rb");
    SA_REQUIRE(t, f != NULL);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    SA_REQUIRE(t, n == sizeof buf);
    char bad[1024];
    snprintf(bad, sizeof bad, "%s", sa_test_tmpfile(t, "truncated.bin"));
    SA_REQUIRE(t, sa_test_write_file(t, bad, buf, n));
    run(t, &r, NULL, "inspect", bad, NULL);
    SA_CHECK_EQ_INT(t, r.rc, 1);
    CHECK_HAS(t, ERR(r), "selfalign: error: ");
    CHECK_HAS(t, ERR(r), bad);
    SA_CHECK_EQ_INT(t, r.out.len, 0);
    result_free(&r);
}

static void test_inspect_gguf(sa_test *t) {
    const char *p = sa_test_data(t, "tokenizers/llamacpp-vocab/ggml-vocab-llama-spm.gguf");
    if (!p) return;
    char path[1024];
    snprintf(path, sizeof path, "%s", p);
    run_result r;
    if (!run(t, &r, NULL, "inspect", path, NULL)) return;
    SA_CHECK_EQ_INT(t, r.rc, 0);
    CHECK_HAS(t, OUT(r), "format: GGUF v3");
    CHECK_HAS(t, OUT(r), "tokenizer.ggml.model: \"llama\"\n");
    CHECK_HAS(t, OUT(r), "tokenizer.ggml.tokens: string[32000] \"<unk>\", \"<s>\", \"</s>\"");
    CHECK_HAS(t, OUT(r), "tokenizer.ggml.bos_token_id: 1\n");
    CHECK_HAS(t, OUT(r), "n_layers: 32\n");
    CHECK_HAS(t, OUT(r), "tensors (0):");
    result_free(&r);

    /* --max-items bounds the array preview */
    run(t, &r, NULL, "inspect", "--max-items", "1", path, NULL);
    SA_CHECK_EQ_INT(t, r.rc, 0);
    CHECK_HAS(t, OUT(r), "tokenizer.ggml.tokens: string[32000] \"<unk>\", ...\n");
    result_free(&r);
}

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* A GGUF header claiming far more metadata than the file holds. */
static void test_inspect_corrupt_gguf(sa_test *t) {
    unsigned char buf[24];
    memcpy(buf, "GGUF", 4);
    put_u32(buf + 4, 3);
    put_u64(buf + 8, 0);            /* tensors */
    put_u64(buf + 16, 1000000000);  /* metadata keys: impossible for 24 bytes */
    char path[1024];
    snprintf(path, sizeof path, "%s", sa_test_tmpfile(t, "corrupt.gguf"));
    SA_REQUIRE(t, sa_test_write_file(t, path, buf, sizeof buf));
    run_result r;
    if (!run(t, &r, NULL, "inspect", path, NULL)) return;
    SA_CHECK_EQ_INT(t, r.rc, 1);
    CHECK_HAS(t, ERR(r), "selfalign: error: ");
    CHECK_HAS(t, ERR(r), path);
    CHECK_HAS(t, ERR(r), "offset"); /* the GGUF reader's "<name>: offset <n>: ..." */
    result_free(&r);

    run(t, &r, NULL, "inspect", "/nonexistent/model.gguf", NULL);
    SA_CHECK_EQ_INT(t, r.rc, 1);
    CHECK_HAS(t, ERR(r), "/nonexistent/model.gguf");
    result_free(&r);

    snprintf(path, sizeof path, "%s", sa_test_tmpfile(t, "notes.txt"));
    SA_REQUIRE(t, sa_test_write_file(t, path, "just some text\n", 15));
    run(t, &r, NULL, "inspect", path, NULL);
    SA_CHECK_EQ_INT(t, r.rc, 1);
    CHECK_HAS(t, ERR(r), "not a GGUF, safetensors, llama2.c or tokenizer file");
    result_free(&r);
}

static void test_inspect_safetensors(sa_test *t) {
    if (!bin_path(t)) return;
    static const float w[6] = {1, 2, 3, 4, 5, 6};
    static const uint16_t h[4] = {0x3c00, 0x3c00, 0x3c00, 0x3c00};
    sa_st_writer *wr = NULL;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_st_writer_init(&wr, &err), &err);
    int64_t s1[2] = {2, 3}, s2[1] = {4};
    SA_CHECK_OK(t, sa_st_writer_add(wr, "model.embed_tokens.weight", SA_DTYPE_F32, 2, s1, w, &err),
                &err);
    SA_CHECK_OK(t, sa_st_writer_add(wr, "model.norm.weight", SA_DTYPE_F16, 1, s2, h, &err), &err);
    SA_CHECK_OK(t, sa_st_writer_set_metadata(wr, "format", "pt", &err), &err);
    char path[1024];
    snprintf(path, sizeof path, "%s", sa_test_tmpfile(t, "model.safetensors"));
    SA_CHECK_OK(t, sa_st_write(wr, path, &err), &err);
    sa_st_writer_free(wr);
    run_result r;
    run(t, &r, NULL, "inspect", path, NULL);
    SA_CHECK_EQ_INT(t, r.rc, 0);
    CHECK_HAS(t, OUT(r), "format: safetensors (1 file)");
    CHECK_HAS(t, OUT(r), "format: \"pt\"");
    CHECK_HAS(t, OUT(r), "model.embed_tokens.weight  F32    [2, 3]");
    CHECK_HAS(t, OUT(r), "model.norm.weight          F16    [4]");
    CHECK_HAS(t, OUT(r), "parameters: 10 (10)");
    result_free(&r);
}

static void test_inspect_hf_dir(sa_test *t) {
    const char *p = sa_test_data(t, "tokenizers/hf/qwen2.5-0.5b-instruct");
    if (!p) return;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", p);
    run_result r;
    if (!run(t, &r, NULL, "inspect", dir, NULL)) return;
    SA_CHECK_EQ_INT(t, r.rc, 0);
    CHECK_HAS(t, OUT(r), "format: Hugging Face model directory");
    CHECK_HAS(t, OUT(r), "architecture: Qwen2ForCausalLM\n");
    CHECK_HAS(t, OUT(r), "dim: 896\n");
    CHECK_HAS(t, OUT(r), "n_layers: 24\n");
    CHECK_HAS(t, OUT(r), "n_heads: 14\n");
    CHECK_HAS(t, OUT(r), "n_kv_heads: 2\n");
    CHECK_HAS(t, OUT(r), "vocab_size: 151936\n");
    CHECK_HAS(t, OUT(r), "rope_theta: 1000000\n");
    CHECK_HAS(t, OUT(r), "tie_word_embeddings: true\n");
    CHECK_HAS(t, OUT(r), "chat_template: chatml\n");
    CHECK_HAS(t, OUT(r), "eos: 151645 \"<|im_end|>\"");
    result_free(&r);

    /* a tokenizer.json file on its own */
    const char *tj = sa_test_data(t, "tokenizers/hf/phi-3-mini/tokenizer.json");
    if (!tj) return;
    char tpath[1024];
    snprintf(tpath, sizeof tpath, "%s", tj);
    run(t, &r, NULL, "inspect", tpath, NULL);
    SA_CHECK_EQ_INT(t, r.rc, 0);
    CHECK_HAS(t, OUT(r), "tokenizer:");
    CHECK_HAS(t, OUT(r), "vocab_size: ");
    result_free(&r);
}

static const cli_opt k_test_opts[] = {
    {.name = "temperature", .type = CLI_OPT_FLOAT, .def = "0.7", .min = 0, .max = 2,
     .help = "sampling temperature"},
    {.name = "n", .type = CLI_OPT_INT, .def = "3", .min = 1, .max = 10, .help = "count"},
    {.name = "name", .type = CLI_OPT_STR, .metavar = "S", .help = "a name"},
    {.name = "fast", .type = CLI_OPT_FLAG, .help = "go fast"},
};
static const cli_cmd_spec k_test_spec = {"demo", "[options] [FILE]", "demo", k_test_opts, 4, 0, 1,
                                         NULL};

static int parse(cli_args *a, int argc, const char **argv) {
    return cli_parse(&k_test_spec, argc, (char **)argv, a);
}

static void test_opts_parser(sa_test *t) {
    cli_args a;
    const char *v0[] = {"demo"};
    SA_REQUIRE(t, parse(&a, 1, v0) == CLI_CONTINUE);
    SA_CHECK(t, cli_float(&a, "temperature") == 0.7); /* defaults */
    SA_CHECK_EQ_INT(t, cli_int(&a, "n"), 3);
    SA_CHECK(t, cli_str(&a, "name") == NULL);
    SA_CHECK(t, !cli_flag(&a, "fast") && !cli_is_set(&a, "n"));

    const char *v1[] = {"demo", "--temperature=1.5", "f.txt", "--n", "10",
                        "--name", "-x", "--fast"};
    SA_REQUIRE(t, parse(&a, 8, v1) == CLI_CONTINUE);
    SA_CHECK(t, cli_float(&a, "temperature") == 1.5);
    SA_CHECK_EQ_INT(t, cli_int(&a, "n"), 10);
    SA_CHECK_STR(t, cli_str(&a, "name"), "-x"); /* a value may start with '-' */
    SA_CHECK(t, cli_flag(&a, "fast") && cli_is_set(&a, "n"));
    SA_CHECK_EQ_INT(t, a.n_pos, 1);
    SA_CHECK_STR(t, a.pos[0], "f.txt");

    const char *v2[] = {"demo", "--", "--fast"}; /* after --: positional */
    SA_REQUIRE(t, parse(&a, 3, v2) == CLI_CONTINUE);
    SA_CHECK(t, !cli_flag(&a, "fast") && a.n_pos == 1);

    const char *bad[][3] = {
        {"demo", "--temperature", "2.5"}, /* out of range */
        {"demo", "--temperature", "hot"}, /* not a number */
        {"demo", "--temperature", "nan"}, /* not finite */
        {"demo", "--n", "0"},             /* below range */
        {"demo", "--n", "3.5"},           /* not an integer */
        {"demo", "--n", "99999999999999999999"}, /* overflow */
        {"demo", "-n", "3"},              /* short options do not exist */
        {"demo", "a", "b"},               /* too many positionals */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        SA_CHECKF(t, parse(&a, 3, bad[i]) == CLI_EXIT_USAGE, "case %zu (%s %s) accepted", i,
                  bad[i][1], bad[i][2]);
}

static const sa_test_def tests[] = {
    {"opts_parser", test_opts_parser},
    {"help_version", test_help_version},
    {"usage_errors", test_usage_errors},
    {"tokenize_roundtrip", test_tokenize_roundtrip},
    {"inspect_llama2c", test_inspect_llama2c},
    {"inspect_gguf", test_inspect_gguf},
    {"inspect_corrupt_gguf", test_inspect_corrupt_gguf},
    {"inspect_safetensors", test_inspect_safetensors},
    {"inspect_hf_dir", test_inspect_hf_dir},
};
SA_TEST_MAIN(tests)
