/* cmd_inspect.c — `selfalign inspect PATH`: say what a model or tokenizer
 * file is and what is inside it.
 *
 * What PATH is gets decided by content first and name second: the "GGUF"
 * and llama2.c "ak42" magics, then names (*.safetensors,
 * *.safetensors.index.json, config.json, *.json tokenizers), then a
 * llama2.c v0 checkpoint (no magic: its header must fit the file size
 * exactly) and last a llama2.c tokenizer.bin. A directory is a Hugging Face
 * model when it has config.json, else a tokenizer directory.
 *
 * Output: metadata as "key: value" lines, a tensor table (name, dtype,
 * shape outermost-first: GGUF's ne order is reversed to match safetensors),
 * and the total parameter count. Model configs use the same keys for every
 * format (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size,
 * seq_len) with right-aligned keys, so "dim: 64" reads the same everywhere.
 * A parser error is printed as-is (it names the file and offset) and exits 1.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "opts.h"
#include "sa/chat.h"
#include "sa/gguf.h"
#include "sa/json.h"
#include "sa/llama2c.h"
#include "sa/safetensors.h"
#include "sa/strbuf.h"
#include "sa/tokenizer.h"

static const cli_opt k_opts[] = {
    {.name = "max-tensors", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 1e9,
     .help = "print at most N tensor rows (0 = all)"},
    {.name = "max-items", .type = CLI_OPT_INT, .metavar = "N", .def = "5", .min = 0, .max = 1000,
     .help = "items shown per metadata array"},
    {.name = "max-string", .type = CLI_OPT_INT, .metavar = "N", .def = "160", .min = 8, .max = 1e9,
     .help = "bytes shown per string value"},
};

static const cli_cmd_spec k_spec = {
    "inspect",
    "PATH [options]",
    "Describe a model or tokenizer: GGUF file, safetensors file or index, Hugging Face\n"
    "model directory (config.json), llama2.c checkpoint or tokenizer.bin, tokenizer.json\n"
    "or vocabulary directory. Prints metadata, the tensor table and the parameter count.",
    k_opts,
    sizeof k_opts / sizeof k_opts[0],
    1,
    1,
    NULL,
};

typedef struct inspect_ctx {
    size_t max_tensors, max_items, max_string;
} inspect_ctx;

/* ---- printing helpers ------------------------------------------------------- */

typedef struct kv_block {
    const char *key[32];
    char val[32][192];
    int n;
} kv_block;

static void kv_add(kv_block *b, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void kv_add(kv_block *b, const char *key, const char *fmt, ...) {
    if (b->n >= 32) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->val[b->n], sizeof b->val[b->n], fmt, ap);
    va_end(ap);
    b->key[b->n++] = key;
}

/* Right-aligned keys: the colons line up and "key: value" stays literal. */
static void kv_print(const char *title, const kv_block *b) {
    int w = 0;
    for (int i = 0; i < b->n; i++)
        if ((int)strlen(b->key[i]) > w) w = (int)strlen(b->key[i]);
    printf("%s\n", title);
    for (int i = 0; i < b->n; i++) printf("  %*s: %s\n", w, b->key[i], b->val[i]);
}

/* A string shown on one line: quoted, escaped, cut at max characters. */
static void put_quoted(sa_strbuf *sb, const char *s, size_t len, size_t max) {
    sa_strbuf_putc(sb, '"');
    size_t shown = len < max ? len : max;
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') sa_strbuf_appendf(sb, "\\%c", c);
        else if (c == '\n') sa_strbuf_puts(sb, "\\n");
        else if (c == '\t') sa_strbuf_puts(sb, "\\t");
        else if (c < 0x20 || c == 0x7f) sa_strbuf_appendf(sb, "\\x%02x", c);
        else sa_strbuf_putc(sb, (char)c);
    }
    sa_strbuf_putc(sb, '"');
    if (shown < len) sa_strbuf_appendf(sb, "... (%zu bytes)", len);
}

static void human_count(char *buf, size_t n, uint64_t v) {
    if (v >= 1000000000ull) snprintf(buf, n, "%.2fB", (double)v / 1e9);
    else if (v >= 1000000ull) snprintf(buf, n, "%.2fM", (double)v / 1e6);
    else if (v >= 1000ull) snprintf(buf, n, "%.1fK", (double)v / 1e3);
    else snprintf(buf, n, "%" PRIu64, v);
}

/* 1000000 rather than 1e+06 for integral values (rope_theta), %g otherwise. */
typedef struct num_buf {
    char s[40];
} num_buf;

static num_buf num_str(double v) {
    num_buf b;
    if (v == (double)(int64_t)v && v > -1e15 && v < 1e15) snprintf(b.s, sizeof b.s, "%.0f", v);
    else snprintf(b.s, sizeof b.s, "%g", v);
    return b;
}

typedef struct tensor_row {
    const char *name;
    const char *dtype;
    int n_dims;
    int64_t shape[8];
} tensor_row;

static void shape_str(char *buf, size_t n, const int64_t *shape, int n_dims) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (int d = 0; d < n_dims && o < n; d++)
        o += (size_t)snprintf(buf + o, n - o, d ? ", %" PRId64 : "%" PRId64, shape[d]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

/* Print the table; rows come from a callback so no copy of the list is kept. */
typedef bool (*row_fn)(const void *src, int64_t i, tensor_row *row);

static void print_tensors(const inspect_ctx *cx, const void *src, int64_t n, row_fn get,
                          uint64_t params) {
    size_t wn = 4, wd = 5;
    tensor_row r;
    for (int64_t i = 0; i < n; i++) {
        if (!get(src, i, &r)) continue;
        if (strlen(r.name) > wn) wn = strlen(r.name);
        if (strlen(r.dtype) > wd) wd = strlen(r.dtype);
    }
    printf("tensors (%" PRId64 "):\n", n);
    if (n > 0) printf("  %-*s  %-*s  %s\n", (int)wn, "name", (int)wd, "dtype", "shape");
    int64_t shown = 0;
    for (int64_t i = 0; i < n; i++) {
        if (cx->max_tensors && (size_t)shown >= cx->max_tensors) {
            printf("  ... %" PRId64 " more\n", n - shown);
            break;
        }
        if (!get(src, i, &r)) continue;
        char sh[160];
        shape_str(sh, sizeof sh, r.shape, r.n_dims);
        printf("  %-*s  %-*s  %s\n", (int)wn, r.name, (int)wd, r.dtype, sh);
        shown++;
    }
    char h[32];
    human_count(h, sizeof h, params);
    printf("parameters: %" PRIu64 " (%s)\n", params, h);
}

/* ---- tokenizers ----------------------------------------------------------------- */

static void describe_special(kv_block *b, const sa_tokenizer *tok, const char *key, int32_t id) {
    if (id < 0) {
        kv_add(b, key, "none");
        return;
    }
    size_t len = 0;
    const char *p = sa_tokenizer_piece(tok, id, &len);
    kv_add(b, key, "%d \"%.*s\"", (int)id, (int)(len < 40 ? len : 40), p ? p : "");
}

static sa_status inspect_tokenizer(const inspect_ctx *cx, const char *path, const char *title,
                                   sa_err *err) {
    sa_tokenizer *tok = NULL;
    sa_status st = sa_tokenizer_load(&tok, path, err);
    if (st != SA_OK) return st;
    kv_block b = {0};
    kv_add(&b, "type", "%s", sa_tokenizer_describe(tok));
    kv_add(&b, "vocab_size", "%d", (int)sa_tokenizer_vocab_size(tok));
    describe_special(&b, tok, "bos", sa_tokenizer_bos(tok));
    describe_special(&b, tok, "eos", sa_tokenizer_eos(tok));
    describe_special(&b, tok, "unk", sa_tokenizer_unk(tok));
    describe_special(&b, tok, "pad", sa_tokenizer_pad(tok));
    kv_add(&b, "add_bos", "%s", sa_tokenizer_add_bos(tok) ? "true" : "false");
    int32_t nv = sa_tokenizer_vocab_size(tok), n_ctrl = 0;
    sa_strbuf list = {0};
    for (int32_t i = 0; i < nv; i++) {
        if (!(sa_tokenizer_attr(tok, i) & SA_TOKEN_ATTR_CONTROL)) continue;
        if (n_ctrl < 6) {
            size_t len = 0;
            const char *p = sa_tokenizer_piece(tok, i, &len);
            sa_strbuf_appendf(&list, "%s%.*s", n_ctrl ? " " : "", (int)(len < 32 ? len : 32),
                              p ? p : "");
        }
        n_ctrl++;
    }
    kv_add(&b, "special_tokens", "%d%s%s%s", (int)n_ctrl, n_ctrl ? " (" : "",
           sa_strbuf_cstr(&list), n_ctrl > 6 ? " ...)" : n_ctrl ? ")" : "");
    sa_strbuf_free(&list);
    const char *jinja = sa_tokenizer_chat_template(tok);
    sa_chat_template t;
    sa_chat_template_for_tokenizer(tok, &t);
    if (!jinja) kv_add(&b, "chat_template", "none");
    else if (t.unknown)
        kv_add(&b, "chat_template", "not recognised (%zu bytes; raw)", strlen(jinja));
    else kv_add(&b, "chat_template", "%s", sa_chat_format_name(t.format));
    if (t.default_system[0]) kv_add(&b, "default_system", "\"%.80s\"", t.default_system);
    kv_print(title, &b);
    (void)cx;
    sa_tokenizer_free(tok);
    return SA_OK;
}

static sa_status inspect_llama2c_vocab(const inspect_ctx *cx, const char *path, sa_err *err) {
    sa_llama2c_vocab v;
    sa_status st = sa_llama2c_vocab_read(&v, path, 0, err);
    if (st != SA_OK) return st;
    kv_block b = {0};
    kv_add(&b, "format", "llama2.c tokenizer.bin");
    kv_add(&b, "vocab_size", "%d", (int)v.n);
    kv_add(&b, "max_token_length", "%d", (int)v.max_token_length);
    kv_print("tokenizer:", &b);
    sa_strbuf sb = {0};
    for (int32_t i = 0; i < v.n && (size_t)i < cx->max_items; i++) {
        sa_strbuf_reset(&sb);
        put_quoted(&sb, v.pieces[i], v.lens[i], cx->max_string);
        printf("  %5d  %-24s  score %g\n", (int)i, sa_strbuf_cstr(&sb), (double)v.scores[i]);
    }
    if ((size_t)v.n > cx->max_items) printf("  ... %d more\n", (int)(v.n - (int32_t)cx->max_items));
    sa_strbuf_free(&sb);
    sa_llama2c_vocab_free(&v);
    return SA_OK;
}

/* ---- GGUF --------------------------------------------------------------------------- */

static void gguf_scalar(sa_strbuf *sb, const sa_gguf *g, int64_t i, sa_gguf_type t) {
    int64_t iv;
    uint64_t uv;
    double fv;
    bool bv;
    switch (t) {
    case SA_GGUF_TYPE_BOOL:
        if (sa_gguf_get_bool(g, i, &bv)) sa_strbuf_puts(sb, bv ? "true" : "false");
        break;
    case SA_GGUF_TYPE_FLOAT32:
    case SA_GGUF_TYPE_FLOAT64:
        if (sa_gguf_get_float(g, i, &fv)) sa_strbuf_appendf(sb, "%g", fv);
        break;
    case SA_GGUF_TYPE_UINT8:
    case SA_GGUF_TYPE_UINT16:
    case SA_GGUF_TYPE_UINT32:
    case SA_GGUF_TYPE_UINT64:
        if (sa_gguf_get_uint(g, i, &uv)) sa_strbuf_appendf(sb, "%" PRIu64, uv);
        break;
    default:
        if (sa_gguf_get_int(g, i, &iv)) sa_strbuf_appendf(sb, "%" PRId64, iv);
        break;
    }
}

/* Element j of a numeric array, read from the raw little-endian bytes. */
static void gguf_elem(sa_strbuf *sb, const uint8_t *p, sa_gguf_type t, uint64_t j) {
    union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
            uint64_t u64; int64_t i64; float f32; double f64; } u;
    static const size_t sz[SA_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    size_t s = (t >= 0 && t < SA_GGUF_TYPE_COUNT) ? sz[t] : 0;
    if (!s) {
        sa_strbuf_putc(sb, '?');
        return;
    }
    memcpy(&u, p + j * s, s);
    switch (t) {
    case SA_GGUF_TYPE_UINT8: sa_strbuf_appendf(sb, "%u", u.u8); break;
    case SA_GGUF_TYPE_INT8: sa_strbuf_appendf(sb, "%d", u.i8); break;
    case SA_GGUF_TYPE_UINT16: sa_strbuf_appendf(sb, "%u", u.u16); break;
    case SA_GGUF_TYPE_INT16: sa_strbuf_appendf(sb, "%d", u.i16); break;
    case SA_GGUF_TYPE_UINT32: sa_strbuf_appendf(sb, "%" PRIu32, u.u32); break;
    case SA_GGUF_TYPE_INT32: sa_strbuf_appendf(sb, "%" PRId32, u.i32); break;
    case SA_GGUF_TYPE_FLOAT32: sa_strbuf_appendf(sb, "%g", (double)u.f32); break;
    case SA_GGUF_TYPE_BOOL: sa_strbuf_puts(sb, u.u8 ? "true" : "false"); break;
    case SA_GGUF_TYPE_UINT64: sa_strbuf_appendf(sb, "%" PRIu64, u.u64); break;
    case SA_GGUF_TYPE_INT64: sa_strbuf_appendf(sb, "%" PRId64, u.i64); break;
    case SA_GGUF_TYPE_FLOAT64: sa_strbuf_appendf(sb, "%g", u.f64); break;
    default: sa_strbuf_putc(sb, '?'); break;
    }
}

static void gguf_value(const inspect_ctx *cx, sa_strbuf *sb, const sa_gguf *g, int64_t i) {
    sa_gguf_type t = sa_gguf_kv_type(g, i);
    if (t == SA_GGUF_TYPE_STRING) {
        size_t len = 0;
        const char *s = sa_gguf_get_str(g, i, &len);
        put_quoted(sb, s ? s : "", len, cx->max_string);
    } else if (t == SA_GGUF_TYPE_ARRAY) {
        sa_gguf_type et = sa_gguf_arr_type(g, i);
        uint64_t n = sa_gguf_arr_n(g, i);
        sa_strbuf_appendf(sb, "%s[%" PRIu64 "]", sa_gguf_type_name(et), n);
        const uint8_t *data = sa_gguf_arr_data(g, i);
        uint64_t k = n < cx->max_items ? n : cx->max_items;
        for (uint64_t j = 0; j < k; j++) {
            sa_strbuf_puts(sb, j ? ", " : " ");
            if (et == SA_GGUF_TYPE_STRING) {
                size_t len = 0;
                const char *s = sa_gguf_arr_str(g, i, j, &len);
                put_quoted(sb, s ? s : "", len, 40);
            } else if (data) {
                gguf_elem(sb, data, et, j);
            }
        }
        if (k < n) sa_strbuf_puts(sb, ", ...");
    } else {
        gguf_scalar(sb, g, i, t);
    }
}

static bool gguf_row(const void *src, int64_t i, tensor_row *r) {
    const sa_gguf_tensor *t = sa_gguf_tensor_at(src, i);
    if (!t) return false;
    r->name = t->name;
    r->dtype = sa_ggml_type_name(t->ggml_type);
    r->n_dims = t->n_dims;
    for (int d = 0; d < t->n_dims && d < 4; d++) r->shape[d] = t->ne[t->n_dims - 1 - d];
    return true;
}

/* The model config under the common keys, from "<arch>.*" metadata. */
static void gguf_config(const sa_gguf *g) {
    int64_t ka = sa_gguf_find_key(g, "general.architecture");
    const char *arch = ka >= 0 ? sa_gguf_get_str(g, ka, NULL) : NULL;
    if (!arch) return;
    static const struct { const char *key, *suffix; } map[] = {
        {"dim", "embedding_length"},          {"hidden_dim", "feed_forward_length"},
        {"n_layers", "block_count"},          {"n_heads", "attention.head_count"},
        {"n_kv_heads", "attention.head_count_kv"}, {"vocab_size", "vocab_size"},
        {"seq_len", "context_length"},        {"rope_theta", "rope.freq_base"},
    };
    kv_block b = {0};
    kv_add(&b, "architecture", "%s", arch);
    char key[256];
    for (size_t m = 0; m < sizeof map / sizeof map[0]; m++) {
        snprintf(key, sizeof key, "%s.%s", arch, map[m].suffix);
        int64_t k = sa_gguf_find_key(g, key);
        uint64_t u;
        double f;
        if (k >= 0 && sa_gguf_get_uint(g, k, &u)) kv_add(&b, map[m].key, "%" PRIu64, u);
        else if (k >= 0 && sa_gguf_get_float(g, k, &f)) kv_add(&b, map[m].key, "%s", num_str(f).s);
        else if (strcmp(map[m].key, "vocab_size") == 0 &&
                 (k = sa_gguf_find_key(g, "tokenizer.ggml.tokens")) >= 0)
            kv_add(&b, map[m].key, "%" PRIu64, sa_gguf_arr_n(g, k));
    }
    if (b.n > 1) kv_print("config:", &b);
}

static sa_status inspect_gguf(const inspect_ctx *cx, const char *path, sa_err *err) {
    sa_gguf *g = NULL;
    sa_status st = sa_gguf_open(&g, path, err);
    if (st != SA_OK) return st;
    printf("format: GGUF v%u (alignment %u, data at offset %" PRIu64 ")\n", sa_gguf_version(g),
           sa_gguf_alignment(g), sa_gguf_data_offset(g));
    int64_t n = sa_gguf_n_kv(g);
    printf("metadata (%" PRId64 " keys):\n", n);
    sa_strbuf sb = {0};
    for (int64_t i = 0; i < n; i++) {
        sa_strbuf_reset(&sb);
        gguf_value(cx, &sb, g, i);
        printf("  %s: %s\n", sa_gguf_key(g, i), sa_strbuf_cstr(&sb));
    }
    sa_strbuf_free(&sb);
    gguf_config(g);
    uint64_t params = 0;
    for (int64_t i = 0; i < sa_gguf_n_tensors(g); i++) {
        const sa_gguf_tensor *t = sa_gguf_tensor_at(g, i);
        uint64_t ne = 1;
        for (int d = 0; d < t->n_dims; d++) ne *= (uint64_t)t->ne[d];
        params += ne;
    }
    print_tensors(cx, g, sa_gguf_n_tensors(g), gguf_row, params);
    bool has_vocab = sa_gguf_find_key(g, "tokenizer.ggml.tokens") >= 0;
    sa_gguf_close(g);
    if (has_vocab) {
        /* the file itself parsed; a tokenizer we cannot build is only a warning */
        sa_err terr = {0};
        if (inspect_tokenizer(cx, path, "tokenizer:", &terr) != SA_OK)
            fprintf(stderr, "selfalign: warning: tokenizer: %s\n", terr.msg);
    }
    return SA_OK;
}

/* ---- safetensors -------------------------------------------------------------------- */

static bool st_row(const void *src, int64_t i, tensor_row *r) {
    const sa_st_tensor *t = sa_st_tensor_at(src, i);
    if (!t) return false;
    r->name = t->name;
    r->dtype = sa_dtype_name(t->dtype);
    r->n_dims = t->n_dims;
    memcpy(r->shape, t->shape, sizeof r->shape);
    return true;
}

static sa_status inspect_safetensors(const inspect_ctx *cx, const char *path, sa_err *err) {
    sa_st *st = NULL;
    sa_status s = sa_st_open(&st, path, err);
    if (s != SA_OK) return s;
    int shards = sa_st_n_shards(st);
    printf("format: safetensors (%d file%s)\n", shards, shards == 1 ? "" : "s");
    int64_t nm = sa_st_n_metadata(st);
    if (nm > 0) {
        printf("metadata (%" PRId64 " keys):\n", nm);
        sa_strbuf sb = {0};
        for (int64_t i = 0; i < nm; i++) {
            sa_strbuf_reset(&sb);
            const char *v = sa_st_metadata_value(st, i);
            put_quoted(&sb, v ? v : "", v ? strlen(v) : 0, cx->max_string);
            printf("  %s: %s\n", sa_st_metadata_key(st, i), sa_strbuf_cstr(&sb));
        }
        sa_strbuf_free(&sb);
    }
    uint64_t params = 0;
    for (int64_t i = 0; i < sa_st_n_tensors(st); i++)
        params += (uint64_t)sa_st_tensor_numel(sa_st_tensor_at(st, i));
    print_tensors(cx, st, sa_st_n_tensors(st), st_row, params);
    sa_st_close(st);
    return SA_OK;
}

/* ---- llama2.c ------------------------------------------------------------------------ */

static bool l2c_row(const void *src, int64_t i, tensor_row *r) {
    const sa_st_tensor *t = sa_llama2c_tensor_at(src, i);
    if (!t) return false;
    r->name = t->name;
    r->dtype = sa_dtype_name(t->dtype);
    r->n_dims = t->n_dims;
    memcpy(r->shape, t->shape, sizeof r->shape);
    return true;
}

static void print_llama2c(const inspect_ctx *cx, const sa_llama2c *m) {
    const sa_llama2c_config *c = sa_llama2c_config_get(m);
    static const char *const names[] = {"legacy v0", "v1 (fp32, ak42)", "v2 (int8 groups, ak42)"};
    printf("format: llama2.c checkpoint %s\n",
           c->version >= 0 && c->version <= 2 ? names[c->version] : "?");
    kv_block b = {0};
    kv_add(&b, "dim", "%d", (int)c->dim);
    kv_add(&b, "hidden_dim", "%d", (int)c->hidden_dim);
    kv_add(&b, "n_layers", "%d", (int)c->n_layers);
    kv_add(&b, "n_heads", "%d", (int)c->n_heads);
    kv_add(&b, "n_kv_heads", "%d", (int)c->n_kv_heads);
    kv_add(&b, "vocab_size", "%d", (int)c->vocab_size);
    kv_add(&b, "seq_len", "%d", (int)c->seq_len);
    kv_add(&b, "shared_classifier", "%s", c->shared_classifier ? "true" : "false");
    if (c->version == 2) kv_add(&b, "group_size", "%d", (int)c->group_size);
    kv_print("config:", &b);
    uint64_t params = 0;
    int64_t n = sa_llama2c_n_tensors(m);
    for (int64_t i = 0; i < n; i++) {
        const sa_st_tensor *t = sa_llama2c_tensor_at(m, i);
        size_t nl = strlen(t->name);
        /* v2 scales are quantisation data and the RoPE tables are precomputed
         * constants: neither is a parameter */
        if (nl > 7 && strcmp(t->name + nl - 7, ".scales") == 0) continue;
        if (strncmp(t->name, "freq_cis", 8) == 0) continue;
        params += (uint64_t)sa_st_tensor_numel(t);
    }
    print_tensors(cx, m, n, l2c_row, params);
}

/* ---- Hugging Face directories ---------------------------------------------------------- */

static bool exists_in(const char *dir, const char *name, char *buf, size_t n) {
    snprintf(buf, n, "%s/%s", dir, name);
    return access(buf, R_OK) == 0;
}

static sa_status inspect_hf_config(const char *path, sa_err *err) {
    json_t *doc = NULL;
    sa_status st = sa_json_load_file(path, 1u << 24, &doc, err);
    if (st != SA_OK) return st;
    if (!json_is_object(doc)) {
        json_decref(doc);
        return sa_err_set(err, SA_ERR_FORMAT, "%s: not a JSON object", path);
    }
    kv_block b = {0};
    json_t *archs = json_object_get(doc, "architectures");
    const char *arch = json_string_value(json_array_get(archs, 0));
    const char *mt = json_string_value(json_object_get(doc, "model_type"));
    kv_add(&b, "architecture", "%s", arch ? arch : "?");
    if (mt) kv_add(&b, "model_type", "%s", mt);
    static const struct { const char *key, *json; } map[] = {
        {"dim", "hidden_size"},
        {"hidden_dim", "intermediate_size"},
        {"n_layers", "num_hidden_layers"},
        {"n_heads", "num_attention_heads"},
        {"n_kv_heads", "num_key_value_heads"},
        {"vocab_size", "vocab_size"},
        {"seq_len", "max_position_embeddings"},
        {"rope_theta", "rope_theta"},
        {"rms_norm_eps", "rms_norm_eps"},
    };
    for (size_t m = 0; m < sizeof map / sizeof map[0]; m++) {
        json_t *v = json_object_get(doc, map[m].json);
        if (!v && strcmp(map[m].key, "n_kv_heads") == 0) /* absent = multi-head attention */
            v = json_object_get(doc, "num_attention_heads");
        if (json_is_integer(v))
            kv_add(&b, map[m].key, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else if (json_is_real(v)) kv_add(&b, map[m].key, "%s", num_str(json_real_value(v)).s);
    }
    json_t *tie = json_object_get(doc, "tie_word_embeddings");
    kv_add(&b, "tie_word_embeddings", "%s",
           json_is_boolean(tie) ? (json_is_true(tie) ? "true" : "false") : "? (absent)");
    const char *dt = json_string_value(json_object_get(doc, "torch_dtype"));
    if (dt) kv_add(&b, "torch_dtype", "%s", dt);
    kv_print("config:", &b);
    json_decref(doc);
    return SA_OK;
}

static bool has_tokenizer_files(const char *dir) {
    static const char *const names[] = {"tokenizer.json", "vocab.json", "encoder.json",
                                        "tokenizer.bin"};
    char buf[4096];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (exists_in(dir, names[i], buf, sizeof buf)) return true;
    return false;
}

static bool has_safetensors(const char *dir) {
    char buf[4096];
    return exists_in(dir, "model.safetensors", buf, sizeof buf) ||
           exists_in(dir, "model.safetensors.index.json", buf, sizeof buf);
}

static sa_status inspect_dir(const inspect_ctx *cx, const char *dir, sa_err *err) {
    char cfg[4096];
    bool is_model = exists_in(dir, "config.json", cfg, sizeof cfg);
    bool st_files = has_safetensors(dir), tok_files = has_tokenizer_files(dir);
    if (!is_model && !st_files && !tok_files)
        return sa_err_set(err, SA_ERR_NOT_FOUND,
                          "%s: no config.json, model.safetensors or tokenizer files in this "
                          "directory", dir);
    sa_status st = SA_OK;
    if (is_model) {
        printf("format: Hugging Face model directory\n");
        st = inspect_hf_config(cfg, err);
        if (st != SA_OK) return st;
    }
    if (st_files) {
        st = inspect_safetensors(cx, dir, err);
        if (st != SA_OK) return st;
    } else if (is_model) {
        printf("weights: none (no model.safetensors or index)\n");
    }
    if (tok_files) {
        sa_err terr = {0};
        sa_status ts = inspect_tokenizer(cx, dir, "tokenizer:", &terr);
        if (ts != SA_OK && !is_model) return *err = terr, ts;
        /* a model directory is still worth describing with a broken tokenizer */
        if (ts != SA_OK) fprintf(stderr, "selfalign: warning: tokenizer: %s\n", terr.msg);
    }
    return SA_OK;
}

/* ---- dispatch ------------------------------------------------------------------------ */

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static sa_status inspect_file(const inspect_ctx *cx, const char *path, sa_err *err) {
    unsigned char magic[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return sa_err_set(err, SA_ERR_IO, "%s: %s", path, strerror(errno));
    size_t got = fread(magic, 1, sizeof magic, f);
    fclose(f);
    const char *base = base_name(path);

    if (got >= 4 && memcmp(magic, "GGUF", 4) == 0) return inspect_gguf(cx, path, err);
    if (ends_with(base, ".gguf")) return inspect_gguf(cx, path, err); /* its error says why */
    if (ends_with(base, ".safetensors") || ends_with(base, ".safetensors.index.json"))
        return inspect_safetensors(cx, path, err);
    if (strcmp(base, "config.json") == 0) return inspect_hf_config(path, err);
    if (ends_with(base, ".json")) return inspect_tokenizer(cx, path, "tokenizer:", err);

    bool ak42 = got >= 4 && memcmp(magic, "ak42", 4) == 0;
    sa_llama2c *m = NULL;
    sa_err merr = {0};
    sa_status st = sa_llama2c_open(&m, path, &merr);
    if (st == SA_OK) {
        print_llama2c(cx, m);
        sa_llama2c_close(m);
        return SA_OK;
    }
    if (ak42) return *err = merr, st;
    sa_err verr = {0};
    if (inspect_llama2c_vocab(cx, path, &verr) == SA_OK) return SA_OK;
    /* safetensors without the extension: u64 header length then '{' */
    if (got == 8 && magic[0] != 0) {
        FILE *g = fopen(path, "rb");
        int c = EOF;
        if (g && fseek(g, 8, SEEK_SET) == 0) c = fgetc(g);
        if (g) fclose(g);
        if (c == '{') return inspect_safetensors(cx, path, err);
    }
    bool tok_name = strstr(base, "tok") != NULL;
    if (ends_with(base, ".bin")) return *err = tok_name ? verr : merr, tok_name ? verr.code : st;
    /* the checkpoint reader's message starts with the path too: drop it */
    const char *why = merr.msg;
    size_t pl = strlen(path);
    if (strncmp(why, path, pl) == 0 && strncmp(why + pl, ": ", 2) == 0) why += pl + 2;
    return sa_err_set(err, SA_ERR_FORMAT,
                      "%s: not a GGUF, safetensors, llama2.c or tokenizer file (as a llama2.c "
                      "checkpoint: %s)",
                      path, why);
}

int cmd_inspect(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&k_spec, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    inspect_ctx cx = {(size_t)cli_int(&a, "max-tensors"), (size_t)cli_int(&a, "max-items"),
                      (size_t)cli_int(&a, "max-string")};
    const char *path = a.pos[0];
    struct stat sb;
    sa_err err = {0};
    sa_status st;
    if (stat(path, &sb) != 0) st = sa_err_set(&err, SA_ERR_IO, "%s: %s", path, strerror(errno));
    else if (S_ISDIR(sb.st_mode)) st = inspect_dir(&cx, path, &err);
    else st = inspect_file(&cx, path, &err);
    if (st == SA_OK && fflush(stdout) != 0) st = sa_err_set(&err, SA_ERR_IO, "stdout: write error");
    return st == SA_OK ? CLI_EXIT_OK : cli_fail(st, &err);
}
