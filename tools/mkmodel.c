/* mkmodel.c — write a random-init Llama-family model in the Hugging Face
 * layout (config.json, model.safetensors, tokenizer.json) of any shape, for
 * tests and benchmarks.
 *
 *   build/tools/mkmodel --out DIR [--shape m-tiny|m-small|tiny] [--arch llama|mistral|qwen2]
 *       [--dim N] [--hidden N] [--layers N] [--heads N] [--kv-heads N] [--head-dim N]
 *       [--vocab N] [--seq-len N] [--tied|--untied] [--bias] [--rope-theta X]
 *       [--rope-scaling none|linear|llama3] [--rope-factor X] [--seed N] [--std X]
 *       [--dtype f32|bf16|f16] [--tokenizer FILE]
 *
 * Shapes (DESIGN.md §4): m-tiny = dim 288, 6 layers, 6 heads, ffn 768,
 * vocab 32000; m-small = SmolLM-135M (dim 576, 30 layers, 9 heads, 3 kv
 * heads, ffn 1536, vocab 49152, tied); tiny = dim 64, 2 layers, 4 heads,
 * 2 kv heads, ffn 96, vocab 300.
 *
 * The tokenizer written is a byte-level BPE with the 256 byte tokens and
 * three special tokens (<|endoftext|>, <|im_start|>, <|im_end|>) and no
 * merges — enough to drive the engine; --tokenizer copies a real one. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa/fileio.h"
#include "sa/mmap.h"
#include "sa/model.h"
#include "sa/strbuf.h"
#include "sa/utf8.h"

static int usage(void) {
    fprintf(stderr, "usage: mkmodel --out DIR [--shape m-tiny|m-small|tiny] [--arch A] [--dim N] [--hidden N] "
                    "[--layers N] [--heads N] [--kv-heads N] [--head-dim N] [--vocab N] [--seq-len N] "
                    "[--tied|--untied] [--bias] [--rope-theta X] [--rope-scaling none|linear|llama3] "
                    "[--rope-factor X] [--seed N] [--std X] [--dtype f32|bf16|f16] [--tokenizer FILE]\n");
    return 2;
}

/* GPT-2's printable stand-in for each byte. */
static uint32_t byte_cp(int b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return (uint32_t)b;
    int n = 0;
    for (int x = 0; x < b; x++)
        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) n++;
    return 256u + (uint32_t)n;
}

static sa_status write_byte_tokenizer(const char *path, sa_err *err) {
    sa_strbuf sb = {0};
    sa_strbuf_puts(&sb, "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[");
    const char *sp[3] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    for (int i = 0; i < 3; i++)
        sa_strbuf_appendf(&sb, "%s{\"id\":%d,\"content\":\"%s\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"
                               "\"normalized\":false,\"special\":true}", i ? "," : "", 256 + i, sp[i]);
    sa_strbuf_puts(&sb, "],\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
                        "\"trim_offsets\":true,\"use_regex\":true},\"post_processor\":null,\"decoder\":{\"type\":"
                        "\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true},\"model\":{"
                        "\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,\"continuing_subword_prefix\":null,"
                        "\"end_of_word_suffix\":null,\"fuse_unk\":false,\"byte_fallback\":false,\"vocab\":{");
    for (int b = 0; b < 256; b++) {
        char u[4];
        size_t n = sa_utf8_encode(byte_cp(b), u);
        sa_strbuf_puts(&sb, b ? ",\"" : "\"");
        if (u[0] == '"' || u[0] == '\\') sa_strbuf_putc(&sb, '\\');
        sa_strbuf_append(&sb, u, n);
        sa_strbuf_appendf(&sb, "\":%d", b);
    }
    for (int i = 0; i < 3; i++) sa_strbuf_appendf(&sb, ",\"%s\":%d", sp[i], 256 + i);
    sa_status s = sa_strbuf_puts(&sb, "},\"merges\":[]}}\n");
    if (!s) s = sa_file_write_atomic(path, sb.buf, sb.len, err);
    sa_strbuf_free(&sb);
    return s;
}

int main(int argc, char **argv) {
    sa_model_config c = {0};
    c.arch = SA_ARCH_LLAMA;
    c.dim = 64, c.hidden_dim = 96, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2, c.head_dim = -1;
    c.vocab_size = 300, c.max_seq_len = 512, c.rope_theta = 10000.0f, c.norm_eps = 1e-5f;
    c.rope_layout = SA_ROPE_LAYOUT_NEOX, c.bos_id = 256, c.eos_id = 256;
    const char *out = NULL, *tokfile = NULL;
    unsigned long long seed = 1;
    float std = 0.02f;
    sa_dtype dt = SA_DTYPE_F32;
    int bias = -1;
    static const struct option opts[] = {
        {"out", 1, 0, 'o'}, {"shape", 1, 0, 's'}, {"arch", 1, 0, 'a'}, {"dim", 1, 0, 'd'},
        {"hidden", 1, 0, 'f'}, {"layers", 1, 0, 'l'}, {"heads", 1, 0, 'h'}, {"kv-heads", 1, 0, 'k'},
        {"head-dim", 1, 0, 'H'}, {"vocab", 1, 0, 'v'}, {"seq-len", 1, 0, 'n'}, {"tied", 0, 0, 'T'},
        {"untied", 0, 0, 'U'}, {"bias", 0, 0, 'b'}, {"rope-theta", 1, 0, 'r'}, {"rope-scaling", 1, 0, 'R'},
        {"rope-factor", 1, 0, 'F'}, {"seed", 1, 0, 'S'}, {"std", 1, 0, 'x'}, {"dtype", 1, 0, 'D'},
        {"tokenizer", 1, 0, 't'}, {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'o': out = optarg; break;
        case 's': {
            sa_model_config p; /* only the shape: keep this tool's other settings */
            if (sa_model_config_preset(optarg, &p))
                c.dim = p.dim, c.hidden_dim = p.hidden_dim, c.n_layers = p.n_layers, c.n_heads = p.n_heads,
                c.n_kv_heads = p.n_kv_heads, c.vocab_size = p.vocab_size, c.tied_embeddings = p.tied_embeddings,
                c.max_seq_len = p.max_seq_len;
            else if (strcmp(optarg, "tiny") != 0) return usage();
            break;
        }
        case 'a':
            if (strcmp(optarg, "llama") == 0) c.arch = SA_ARCH_LLAMA;
            else if (strcmp(optarg, "mistral") == 0) c.arch = SA_ARCH_MISTRAL;
            else if (strcmp(optarg, "qwen2") == 0) c.arch = SA_ARCH_QWEN2;
            else return usage();
            break;
        case 'd': c.dim = atoi(optarg); break;
        case 'f': c.hidden_dim = atoi(optarg); break;
        case 'l': c.n_layers = atoi(optarg); break;
        case 'h': c.n_heads = atoi(optarg); break;
        case 'k': c.n_kv_heads = atoi(optarg); break;
        case 'H': c.head_dim = atoi(optarg); break;
        case 'v': c.vocab_size = atoi(optarg); break;
        case 'n': c.max_seq_len = atoi(optarg); break;
        case 'T': c.tied_embeddings = true; break;
        case 'U': c.tied_embeddings = false; break;
        case 'b': bias = 1; break;
        case 'r': c.rope_theta = strtof(optarg, NULL); break;
        case 'R':
            if (strcmp(optarg, "none") == 0) c.rope_scaling.type = SA_ROPE_SCALING_NONE;
            else if (strcmp(optarg, "linear") == 0) c.rope_scaling.type = SA_ROPE_SCALING_LINEAR;
            else if (strcmp(optarg, "llama3") == 0) {
                c.rope_scaling.type = SA_ROPE_SCALING_LLAMA3;
                c.rope_scaling.low_freq_factor = 1.0f, c.rope_scaling.high_freq_factor = 4.0f;
                c.rope_scaling.original_max_pos = 64;
            } else return usage();
            if (c.rope_scaling.factor == 0) c.rope_scaling.factor = 8.0f;
            break;
        case 'F': c.rope_scaling.factor = strtof(optarg, NULL); break;
        case 'S': seed = strtoull(optarg, NULL, 10); break;
        case 'x': std = strtof(optarg, NULL); break;
        case 'D':
            if (strcmp(optarg, "f32") == 0) dt = SA_DTYPE_F32;
            else if (strcmp(optarg, "bf16") == 0) dt = SA_DTYPE_BF16;
            else if (strcmp(optarg, "f16") == 0) dt = SA_DTYPE_F16;
            else return usage();
            break;
        case 't': tokfile = optarg; break;
        default: return usage();
        }
    }
    if (!out || optind != argc) return usage();
    if (bias >= 0) c.qkv_bias = bias;
    else c.qkv_bias = c.arch == SA_ARCH_QWEN2;
    if (c.head_dim <= 0 && c.n_heads > 0) c.head_dim = c.dim / c.n_heads;
    sa_err err = {0};
    sa_model *m;
    if (sa_model_alloc(&m, &c, &err)) {
        fprintf(stderr, "mkmodel: %s\n", err.msg);
        return 1;
    }
    sa_model_randomize(m, seed, std);
    sa_strbuf p = {0};
    sa_status s = sa_model_save_hf(m, out, dt, &err);
    if (!s) {
        sa_path_join(&p, out, "tokenizer.json");
        if (tokfile) {
            char *data;
            size_t n;
            s = sa_file_read_all(tokfile, 0, &data, &n, &err);
            if (!s) s = sa_file_write_atomic(sa_strbuf_cstr(&p), data, n, &err);
            if (!s) free(data);
        } else {
            s = write_byte_tokenizer(sa_strbuf_cstr(&p), &err);
        }
    }
    sa_strbuf_free(&p);
    sa_model_free(m);
    if (s) {
        fprintf(stderr, "mkmodel: %s\n", err.msg);
        return 1;
    }
    printf("wrote %s: %s, dim %d, %d layers, %d heads (%d kv), ffn %d, vocab %d, %lld parameters\n", out,
           sa_arch_name(c.arch), c.dim, c.n_layers, c.n_heads, c.n_kv_heads, c.hidden_dim, c.vocab_size,
           (long long)sa_model_config_n_params(&c));
    return 0;
}
