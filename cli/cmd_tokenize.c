/* cmd_tokenize.c — `selfalign tokenize`: text -> ids, or ids -> text.
 *
 * Encoding treats the input as untrusted text unless --special is given
 * (then special-token strings such as "<|im_end|>" become their ids). The
 * input is taken byte for byte: a trailing newline read from stdin is part
 * of the text. Decoding prints exactly the decoded bytes, with no newline
 * added, so `tokenize | tokenize --decode` gives the input back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "opts.h"
#include "sa/strbuf.h"
#include "sa/tokenizer.h"

static const cli_opt k_opts[] = {
    {.name = "tokenizer", .type = CLI_OPT_STR, .metavar = "PATH", .required = true,
     .help = "tokenizer: directory, tokenizer.json, .gguf or llama2.c tokenizer.bin"},
    {.name = "text", .type = CLI_OPT_STR, .metavar = "TEXT",
     .help = "input text (or ids with --decode); default: read stdin"},
    {.name = "decode", .type = CLI_OPT_FLAG, .help = "read token ids and print their text"},
    {.name = "special", .type = CLI_OPT_FLAG,
     .help = "treat the text as trusted: match special tokens like <|im_end|>"},
    {.name = "bos", .type = CLI_OPT_FLAG,
     .help = "prepend the BOS token (if the tokenizer has one)"},
    {.name = "eos", .type = CLI_OPT_FLAG, .help = "append the EOS token"},
    {.name = "skip-special", .type = CLI_OPT_FLAG, .help = "with --decode: drop control tokens"},
};

static const cli_cmd_spec k_spec = {
    "tokenize",
    "--tokenizer PATH [--text TEXT] [--decode] [options]",
    "Encode text to token ids (printed space-separated on one line), or with --decode\n"
    "turn ids (separated by spaces, commas or newlines) back into text.",
    k_opts,
    sizeof k_opts / sizeof k_opts[0],
    0,
    0,
    "examples:\n"
    "  selfalign tokenize --tokenizer models/qwen --text 'Hello world'\n"
    "  echo '9707 1879' | selfalign tokenize --tokenizer models/qwen --decode\n",
};

static sa_status read_stdin(sa_strbuf *sb, sa_err *err) {
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0)
        if (sa_strbuf_append(sb, buf, n) != SA_OK)
            return sa_err_set(err, SA_ERR_NOMEM, "stdin: out of memory");
    if (ferror(stdin)) return sa_err_set(err, SA_ERR_IO, "stdin: read error");
    return SA_OK;
}

/* Parse "12 34,56\n" (or "[12, 34]") into ids; each must be a valid id. */
static sa_status parse_ids(const char *s, int32_t vocab, sa_tokens *ids, sa_err *err) {
    size_t idx = 0;
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',' || *p == '[' ||
               *p == ']')
            p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno == ERANGE ||
            (*end && !strchr(" \t\r\n,[]", *end)))
            return sa_err_set(err, SA_ERR_FORMAT, "token %zu: '%.20s' is not an integer id", idx,
                              p);
        if (v < 0 || v >= vocab)
            return sa_err_set(err, SA_ERR_RANGE,
                              "token %zu: id %lld is outside the vocabulary [0, %d)", idx, v,
                              (int)vocab);
        if (sa_tokens_push(ids, (int32_t)v) != SA_OK)
            return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
        p = end;
        idx++;
    }
    return SA_OK;
}

int cmd_tokenize(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&k_spec, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    bool decode = cli_flag(&a, "decode");
    if (decode && (cli_flag(&a, "special") || cli_flag(&a, "bos") || cli_flag(&a, "eos"))) {
        cli_error("tokenize: --special, --bos and --eos apply to encoding, not --decode");
        return CLI_EXIT_USAGE;
    }
    if (!decode && cli_flag(&a, "skip-special")) {
        cli_error("tokenize: --skip-special applies to --decode");
        return CLI_EXIT_USAGE;
    }

    sa_err err = {0};
    sa_status st;
    sa_strbuf input = {0}, out = {0};
    sa_tokens ids = {0};
    sa_tokenizer *tok = NULL;
    const char *text = cli_str(&a, "text");
    if (text) st = sa_strbuf_puts(&input, text) == SA_OK ? SA_OK : SA_ERR_NOMEM;
    else st = read_stdin(&input, &err);
    if (st == SA_OK) st = sa_tokenizer_load(&tok, cli_str(&a, "tokenizer"), &err);

    if (st == SA_OK && decode) {
        st = parse_ids(sa_strbuf_cstr(&input), sa_tokenizer_vocab_size(tok), &ids, &err);
        if (st != SA_OK) sa_err_prefix(&err, "%s: ", text ? "--text" : "stdin");
        if (st == SA_OK)
            st = sa_tokenizer_decode(tok, ids.ids, ids.n,
                                     cli_flag(&a, "skip-special") ? SA_DECODE_SKIP_SPECIAL : 0,
                                     &out, &err);
        if (st == SA_OK && out.len && fwrite(out.buf, 1, out.len, stdout) != out.len)
            st = sa_err_set(&err, SA_ERR_IO, "stdout: write error");
    } else if (st == SA_OK) {
        unsigned flags = (cli_flag(&a, "special") ? SA_ENCODE_SPECIAL : 0) |
                         (cli_flag(&a, "bos") ? SA_ENCODE_BOS : 0) |
                         (cli_flag(&a, "eos") ? SA_ENCODE_EOS : 0);
        st = sa_tokenizer_encode(tok, sa_strbuf_cstr(&input), input.len, flags, &ids, &err);
        for (size_t i = 0; st == SA_OK && i < ids.n; i++)
            if (sa_strbuf_appendf(&out, i ? " %d" : "%d", (int)ids.ids[i]) != SA_OK)
                st = sa_err_set(&err, SA_ERR_NOMEM, "out of memory");
        if (st == SA_OK && (sa_strbuf_putc(&out, '\n') != SA_OK ||
                            fwrite(out.buf, 1, out.len, stdout) != out.len))
            st = sa_err_set(&err, SA_ERR_IO, "stdout: write error");
    }
    if (st == SA_OK && fflush(stdout) != 0) st = sa_err_set(&err, SA_ERR_IO, "stdout: write error");
    rc = st == SA_OK ? CLI_EXIT_OK : cli_fail(st, &err);
    sa_tokenizer_free(tok);
    sa_tokens_free(&ids);
    sa_strbuf_free(&input);
    sa_strbuf_free(&out);
    return rc;
}
