/* cmd_convert.c — `selfalign convert IN OUT`: a model between an HF
 * directory, a GGUF file and a llama2.c checkpoint. The output format
 * follows OUT: "*.gguf" is GGUF, "*.bin" a llama2.c checkpoint, anything
 * else an HF directory. Converting into an HF directory also copies the
 * tokenizer files found beside the input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "opts.h"
#include "sa/fileio.h"
#include "sa/mmap.h"
#include "sa/model.h"
#include "sa/strbuf.h"
#include "sa/tokenizer.h"

static const cli_opt k_opts[] = {
    {.name = "dtype", .type = CLI_OPT_STR, .metavar = "TYPE", .def = "f32",
     .help = "weight type: f32, f16, bf16 (HF, GGUF) or q8_0 (GGUF)"},
    {.name = "tokenizer", .type = CLI_OPT_STR, .metavar = "PATH",
     .help = "tokenizer to embed into a GGUF output, or whose files to copy into an HF output directory"},
};

static const cli_cmd_spec k_spec = {
    "convert", "IN OUT [--dtype TYPE]",
    "Convert a model between an HF directory, GGUF and a llama2.c checkpoint\n"
    "(OUT ending in .gguf: GGUF; in .bin: llama2.c; otherwise an HF directory).",
    k_opts, sizeof k_opts / sizeof k_opts[0], 2, 2,
    "The rotary q/k layout is converted as each format expects, so the output\n"
    "gives the same logits as the input (exactly for f32).\n",
};

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Copy dir_in/name to dir_out/name if it exists. */
static sa_status copy_if_present(const char *dir_in, const char *name, const char *dir_out, int *copied, sa_err *err) {
    sa_strbuf a = {0}, b = {0};
    sa_path_join(&a, dir_in, name);
    sa_path_join(&b, dir_out, name);
    sa_status s = SA_OK;
    if (sa_path_exists(sa_strbuf_cstr(&a))) {
        char *data;
        size_t n;
        s = sa_file_read_all(sa_strbuf_cstr(&a), 0, &data, &n, err);
        if (!s) {
            s = sa_file_write_atomic(sa_strbuf_cstr(&b), data, n, err);
            free(data);
            if (!s) (*copied)++;
        }
    }
    sa_strbuf_free(&a);
    sa_strbuf_free(&b);
    return s;
}

int cmd_convert(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&k_spec, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    const char *in = a.pos[0], *out = a.pos[1], *dts = cli_str(&a, "dtype");
    sa_dtype dt = strcmp(dts, "f32") == 0 ? SA_DTYPE_F32 : strcmp(dts, "f16") == 0 ? SA_DTYPE_F16
                : strcmp(dts, "bf16") == 0 ? SA_DTYPE_BF16 : strcmp(dts, "q8_0") == 0 ? SA_DTYPE_Q8_0 : SA_DTYPE_INVALID;
    if (dt == SA_DTYPE_INVALID) {
        cli_error("convert: unknown --dtype '%s' (f32, f16, bf16, q8_0)", dts);
        return CLI_EXIT_USAGE;
    }
    sa_err err = {0};
    sa_model *m;
    sa_status s = sa_model_load(&m, in, &err);
    if (s) return cli_fail(s, &err);
    const char *kind;
    if (ends_with(out, ".gguf")) {
        kind = "GGUF";
        /* embed the tokenizer: --tokenizer, or whatever loads from the input */
        sa_tokenizer *tok = NULL;
        const char *tp = cli_str(&a, "tokenizer");
        if (tp) s = sa_tokenizer_load(&tok, tp, &err);
        else if (sa_tokenizer_load(&tok, in, NULL) != SA_OK) tok = NULL;
        if (!s) s = sa_model_save_gguf(m, out, dt, tok, &err);
        if (!s && !tok) fprintf(stderr, "convert: note: no tokenizer found; the GGUF has none (pass --tokenizer)\n");
        sa_tokenizer_free(tok);
    } else if (ends_with(out, ".bin")) {
        kind = "llama2.c";
        if (dt != SA_DTYPE_F32) s = sa_err_set(&err, SA_ERR_UNSUPPORTED, "llama2.c checkpoints are f32 only");
        else s = sa_model_save_llama2c(m, out, &err);
    } else {
        kind = "HF directory";
        if (dt == SA_DTYPE_Q8_0) s = sa_err_set(&err, SA_ERR_UNSUPPORTED, "safetensors export supports f32, f16, bf16");
        else s = sa_model_save_hf(m, out, dt, &err);
        int copied = 0;
        if (!s) {
            /* the tokenizer files of an HF input directory (or --tokenizer) */
            const char *tdir = cli_str(&a, "tokenizer");
            char buf[4096];
            struct stat sb;
            if (!tdir && stat(in, &sb) == 0 && S_ISDIR(sb.st_mode)) tdir = in;
            if (tdir && stat(tdir, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
                snprintf(buf, sizeof buf, "%s", tdir);
                char *slash = strrchr(buf, '/');
                if (slash) *slash = '\0';
                else snprintf(buf, sizeof buf, ".");
                tdir = buf;
            }
            static const char *const names[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                                "added_tokens.json", "vocab.json", "merges.txt", "tokenizer.model",
                                                "generation_config.json", "chat_template.jinja"};
            for (size_t i = 0; tdir && !s && i < sizeof names / sizeof names[0]; i++)
                s = copy_if_present(tdir, names[i], out, &copied, &err);
            if (!s && !copied)
                fprintf(stderr, "convert: note: no tokenizer files copied; pass --tokenizer to add one\n");
        }
    }
    if (!s)
        fprintf(stderr, "convert: wrote %s %s (%s, %lld parameters, %s)\n", kind, out, sa_arch_name(m->cfg.arch),
                (long long)sa_model_config_n_params(&m->cfg), dts);
    sa_model_free(m);
    return s ? cli_fail(s, &err) : CLI_EXIT_OK;
}
