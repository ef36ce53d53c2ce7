/* save.c — write a model as an HF directory (config.json +
 * model.safetensors), a GGUF file or a llama2.c v0 checkpoint. The rotary
 * layout is converted on the way: HF stores q/k for the "rotate half"
 * (NEOX) pairing, GGUF llama and llama2.c for interleaved pairs (NORM), so
 * the rows of wq/wk are permuted within each head when the layouts differ. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/fileio.h"
#include "sa/gguf.h"
#include "sa/llama2c.h"
#include "sa/model.h"
#include "sa/safetensors.h"
#include "sa/strbuf.h"
#include "sa/tokenizer.h"

/* Owned temporary buffers that writers borrow until they write. */
typedef struct bufs {
    void **p;
    size_t n, cap;
} bufs;

static void *bufs_add(bufs *b, size_t bytes) {
    if (!sa_grow((void **)&b->p, &b->cap, b->n + 1, sizeof(void *))) return NULL;
    void *x = sa_malloc(bytes);
    if (x) b->p[b->n++] = x;
    return x;
}

static void bufs_free(bufs *b) {
    for (size_t i = 0; i < b->n; i++) free(b->p[i]);
    free(b->p);
}

void sa_model_permute_qk_rows(float *dst, const float *src, int64_t n_heads, int64_t hd, int64_t cols, bool to_norm) {
    int64_t half = hd / 2;
    for (int64_t h = 0; h < n_heads; h++)
        for (int64_t i = 0; i < half; i++)
            for (int64_t j = 0; j < 2; j++) {
                int64_t neox = h * hd + j * half + i, norm = h * hd + 2 * i + j;
                int64_t from = to_norm ? neox : norm, to = to_norm ? norm : neox;
                memcpy(dst + to * cols, src + from * cols, (size_t)cols * sizeof(float));
            }
}

/* fp32 data of a weight in the target layout and dtype, in a buffer owned by b. */
static const void *prepare(bufs *b, const float *w, int64_t rows, int64_t cols, sa_dtype dt, bool permute,
                           int64_t n_heads, int64_t hd, bool to_norm, sa_err *err) {
    size_t n = (size_t)rows * (size_t)cols;
    const float *src = w;
    if (permute) {
        float *p = bufs_add(b, n * sizeof(float));
        if (!p) return sa_err_set(err, SA_ERR_NOMEM, "save: out of memory"), NULL;
        sa_model_permute_qk_rows(p, w, n_heads, hd, cols, to_norm);
        src = p;
    }
    if (dt == SA_DTYPE_F32) return src;
    size_t bytes;
    if (!sa_dtype_row_bytes(dt, n, &bytes)) {
        sa_err_set(err, SA_ERR_INVALID_ARG, "save: %lld x %lld values cannot be stored as %s", (long long)rows,
                   (long long)cols, sa_dtype_name(dt));
        return NULL;
    }
    void *out = bufs_add(b, bytes);
    if (!out || !sa_dtype_from_f32(dt, src, out, n)) {
        sa_err_set(err, SA_ERR_NOMEM, "save: cannot convert to %s", sa_dtype_name(dt));
        return NULL;
    }
    return out;
}

/* Every weight with its role, shape and whether it is a q/k projection. */
typedef struct wdesc {
    const char *hf, *gguf; /* name formats with %d for the layer */
    const float *data;
    int64_t rows, cols;    /* cols == 0: a vector */
    int rope_heads;        /* n_heads for q, n_kv_heads for k, 0 otherwise */
} wdesc;

typedef sa_status (*wdesc_fn)(void *ud, const wdesc *d, int layer, sa_err *err);

static sa_status for_each_weight(const sa_model *m, wdesc_fn fn, void *ud, sa_err *err) {
    const sa_model_config *c = &m->cfg;
    int64_t D = c->dim, F = c->hidden_dim, V = c->vocab_size, qd = (int64_t)c->n_heads * c->head_dim,
            kvd = (int64_t)c->n_kv_heads * c->head_dim;
    sa_status s;
    wdesc g[] = {{"model.embed_tokens.weight", "token_embd.weight", m->w.tok_embd, V, D, 0},
                 {"model.norm.weight", "output_norm.weight", m->w.out_norm, D, 0, 0},
                 {"lm_head.weight", "output.weight", m->w.output, V, D, 0}};
    for (int i = 0; i < 3; i++) {
        if (i == 2 && c->tied_embeddings) break;
        if ((s = fn(ud, &g[i], -1, err))) return s;
    }
    for (int l = 0; l < c->n_layers; l++) {
        const sa_layer_weights *L = &m->w.layers[l];
        wdesc d[] = {
            {"model.layers.%d.input_layernorm.weight", "blk.%d.attn_norm.weight", L->attn_norm, D, 0, 0},
            {"model.layers.%d.self_attn.q_proj.weight", "blk.%d.attn_q.weight", L->wq, qd, D, c->n_heads},
            {"model.layers.%d.self_attn.k_proj.weight", "blk.%d.attn_k.weight", L->wk, kvd, D, c->n_kv_heads},
            {"model.layers.%d.self_attn.v_proj.weight", "blk.%d.attn_v.weight", L->wv, kvd, D, 0},
            {"model.layers.%d.self_attn.o_proj.weight", "blk.%d.attn_output.weight", L->wo, D, qd, 0},
            {"model.layers.%d.self_attn.q_proj.bias", "blk.%d.attn_q.bias", L->bq, qd, 0, c->n_heads},
            {"model.layers.%d.self_attn.k_proj.bias", "blk.%d.attn_k.bias", L->bk, kvd, 0, c->n_kv_heads},
            {"model.layers.%d.self_attn.v_proj.bias", "blk.%d.attn_v.bias", L->bv, kvd, 0, 0},
            {"model.layers.%d.post_attention_layernorm.weight", "blk.%d.ffn_norm.weight", L->ffn_norm, D, 0, 0},
            {"model.layers.%d.mlp.gate_proj.weight", "blk.%d.ffn_gate.weight", L->w_gate, F, D, 0},
            {"model.layers.%d.mlp.up_proj.weight", "blk.%d.ffn_up.weight", L->w_up, F, D, 0},
            {"model.layers.%d.mlp.down_proj.weight", "blk.%d.ffn_down.weight", L->w_down, D, F, 0},
        };
        for (size_t i = 0; i < sizeof d / sizeof d[0]; i++)
            if (d[i].data && (s = fn(ud, &d[i], l, err))) return s;
    }
    return SA_OK;
}

/* ---- Hugging Face directory ------------------------------------------------------ */

typedef struct hf_ud {
    const sa_model *m;
    sa_st_writer *w;
    bufs b;
    sa_dtype dt;
} hf_ud;

static sa_status hf_add(void *p, const wdesc *d, int layer, sa_err *err) {
    hf_ud *u = p;
    const sa_model_config *c = &u->m->cfg;
    char name[160];
    /* the pattern comes from our own constant name table (one %d) */
    #pragma GCC diagnostic push
    #pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(name, sizeof name, d->hf, layer);
    #pragma GCC diagnostic pop
    bool perm = d->rope_heads && c->rope_layout == SA_ROPE_LAYOUT_NORM; /* HF wants NEOX */
    sa_dtype dt = d->cols == 0 ? SA_DTYPE_F32 : u->dt; /* norms and biases stay fp32 */
    const void *data = prepare(&u->b, d->data, d->rows, d->cols ? d->cols : 1, dt, perm, d->rope_heads,
                               c->head_dim, false, err);
    if (!data) return err ? err->code : SA_ERR_NOMEM;
    int64_t shape[2] = {d->rows, d->cols};
    return sa_st_writer_add(u->w, name, dt, d->cols ? 2 : 1, shape, data, err);
}

static sa_status write_config_json(const sa_model *m, const char *path, sa_dtype dt, sa_err *err) {
    const sa_model_config *c = &m->cfg;
    sa_strbuf sb = {0};
    sa_strbuf_appendf(&sb, "{\n  \"architectures\": [\"%s\"],\n  \"model_type\": \"%s\",\n", sa_arch_name(c->arch),
                      c->arch == SA_ARCH_QWEN2 ? "qwen2" : c->arch == SA_ARCH_MISTRAL ? "mistral" : "llama");
    sa_strbuf_appendf(&sb, "  \"hidden_size\": %d,\n  \"intermediate_size\": %d,\n  \"num_hidden_layers\": %d,\n"
                           "  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n  \"head_dim\": %d,\n"
                           "  \"vocab_size\": %d,\n  \"max_position_embeddings\": %d,\n",
                      c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim, c->vocab_size,
                      c->max_seq_len);
    sa_strbuf_appendf(&sb, "  \"rope_theta\": %.9g,\n  \"rms_norm_eps\": %.9g,\n  \"tie_word_embeddings\": %s,\n"
                           "  \"attention_bias\": %s,\n  \"hidden_act\": \"silu\",\n",
                      (double)c->rope_theta, (double)c->norm_eps, c->tied_embeddings ? "true" : "false",
                      c->qkv_bias ? "true" : "false");
    const sa_rope_scaling *r = &c->rope_scaling;
    if (r->type == SA_ROPE_SCALING_LINEAR)
        sa_strbuf_appendf(&sb, "  \"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": %.9g},\n", (double)r->factor);
    else if (r->type == SA_ROPE_SCALING_LLAMA3)
        sa_strbuf_appendf(&sb, "  \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": %.9g, \"low_freq_factor\": "
                               "%.9g, \"high_freq_factor\": %.9g, \"original_max_position_embeddings\": %d},\n",
                          (double)r->factor, (double)r->low_freq_factor, (double)r->high_freq_factor, r->original_max_pos);
    if (c->bos_id >= 0) sa_strbuf_appendf(&sb, "  \"bos_token_id\": %d,\n", c->bos_id);
    if (c->eos_id >= 0) sa_strbuf_appendf(&sb, "  \"eos_token_id\": %d,\n", c->eos_id);
    sa_status s = sa_strbuf_appendf(&sb, "  \"torch_dtype\": \"%s\"\n}\n",
                                    dt == SA_DTYPE_BF16 ? "bfloat16" : dt == SA_DTYPE_F16 ? "float16" : "float32");
    if (!s) s = sa_file_write_atomic(path, sb.buf, sb.len, err);
    else s = sa_err_set(err, SA_ERR_NOMEM, "save: out of memory");
    sa_strbuf_free(&sb);
    return s;
}

sa_status sa_model_save_hf(const sa_model *m, const char *dir, sa_dtype dt, sa_err *err) {
    if (dt != SA_DTYPE_F32 && dt != SA_DTYPE_F16 && dt != SA_DTYPE_BF16)
        return sa_err_set(err, SA_ERR_UNSUPPORTED, "save: safetensors export supports F32, F16 and BF16, not %s",
                          sa_dtype_name(dt));
    sa_status s = sa_mkdir_p(dir, 0755, err);
    if (s) return s;
    hf_ud u = {.m = m, .dt = dt};
    if ((s = sa_st_writer_init(&u.w, err))) return s;
    sa_strbuf path = {0};
    s = sa_st_writer_set_metadata(u.w, "format", "pt", err);
    if (!s) s = for_each_weight(m, hf_add, &u, err);
    if (!s) {
        sa_path_join(&path, dir, "model.safetensors");
        s = sa_st_write(u.w, sa_strbuf_cstr(&path), err);
    }
    if (!s) {
        sa_strbuf_reset(&path);
        sa_path_join(&path, dir, "config.json");
        s = write_config_json(m, sa_strbuf_cstr(&path), dt, err);
    }
    sa_strbuf_free(&path);
    sa_st_writer_free(u.w);
    bufs_free(&u.b);
    return s;
}

/* ---- GGUF -------------------------------------------------------------------------- */

typedef struct gguf_ud {
    const sa_model *m;
    sa_gguf_writer *w;
    bufs b;
    sa_dtype dt;
    bool norm; /* target layout NORM (llama) or NEOX (qwen2) */
} gguf_ud;

static sa_status gguf_add(void *p, const wdesc *d, int layer, sa_err *err) {
    gguf_ud *u = p;
    const sa_model_config *c = &u->m->cfg;
    char name[160];
    /* the pattern comes from our own constant name table (one %d) */
    #pragma GCC diagnostic push
    #pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(name, sizeof name, d->gguf, layer);
    #pragma GCC diagnostic pop
    bool perm = d->rope_heads && (c->rope_layout == SA_ROPE_LAYOUT_NORM) != u->norm;
    sa_dtype dt = d->cols == 0 ? SA_DTYPE_F32 : u->dt;
    if (dt == SA_DTYPE_Q8_0 && d->cols % SA_Q8_0_BLOCK) dt = SA_DTYPE_F16; /* rows must be whole blocks */
    const void *data = prepare(&u->b, d->data, d->rows, d->cols ? d->cols : 1, dt, perm, d->rope_heads, c->head_dim,
                               u->norm, err);
    if (!data) return err ? err->code : SA_ERR_NOMEM;
    int64_t ne[2] = {d->cols ? d->cols : d->rows, d->rows};
    return sa_gguf_add_tensor(u->w, name, dt, d->cols ? 2 : 1, ne, data, err);
}

sa_status sa_model_save_gguf(const sa_model *m, const char *path, sa_dtype dt, const sa_tokenizer *tok, sa_err *err) {
    if (dt != SA_DTYPE_F32 && dt != SA_DTYPE_F16 && dt != SA_DTYPE_BF16 && dt != SA_DTYPE_Q8_0)
        return sa_err_set(err, SA_ERR_UNSUPPORTED, "save: GGUF export supports F32, F16, BF16 and Q8_0, not %s",
                          sa_dtype_name(dt));
    const sa_model_config *c = &m->cfg;
    if (c->rope_scaling.type == SA_ROPE_SCALING_LLAMA3)
        return sa_err_set(err, SA_ERR_UNSUPPORTED, "save: Llama 3 rope scaling cannot be written to GGUF yet");
    gguf_ud u = {.m = m, .dt = dt, .norm = c->arch != SA_ARCH_QWEN2};
    sa_status s = sa_gguf_writer_init(&u.w, err);
    if (s) return s;
    const char *a = c->arch == SA_ARCH_QWEN2 ? "qwen2" : "llama";
    char key[128];
#define K(suffix) (snprintf(key, sizeof key, "%s.%s", a, suffix), key)
    if (!s) s = sa_gguf_set_str(u.w, "general.architecture", a, err);
    if (!s) s = sa_gguf_set_str(u.w, "general.name", "selfalign export", err);
    if (!s) s = sa_gguf_set_u32(u.w, K("context_length"), (uint32_t)c->max_seq_len, err);
    if (!s) s = sa_gguf_set_u32(u.w, K("embedding_length"), (uint32_t)c->dim, err);
    if (!s) s = sa_gguf_set_u32(u.w, K("feed_forward_length"), (uint32_t)c->hidden_dim, err);
    if (!s) s = sa_gguf_set_u32(u.w, K("block_count"), (uint32_t)c->n_layers, err);
    if (!s) s = sa_gguf_set_u32(u.w, K("attention.head_count"), (uint32_t)c->n_heads, err);
    if (!s) s = sa_gguf_set_u32(u.w, K("attention.head_count_kv"), (uint32_t)c->n_kv_heads, err);
    if (!s) s = sa_gguf_set_u32(u.w, K("attention.key_length"), (uint32_t)c->head_dim, err);
    if (!s) s = sa_gguf_set_u32(u.w, K("attention.value_length"), (uint32_t)c->head_dim, err);
    if (!s) s = sa_gguf_set_u32(u.w, K("rope.dimension_count"), (uint32_t)c->head_dim, err);
    if (!s) s = sa_gguf_set_f32(u.w, K("rope.freq_base"), c->rope_theta, err);
    if (!s) s = sa_gguf_set_f32(u.w, K("attention.layer_norm_rms_epsilon"), c->norm_eps, err);
    if (!s) s = sa_gguf_set_u32(u.w, K("vocab_size"), (uint32_t)c->vocab_size, err);
    if (!s && c->rope_scaling.type == SA_ROPE_SCALING_LINEAR) {
        s = sa_gguf_set_str(u.w, K("rope.scaling.type"), "linear", err);
        if (!s) s = sa_gguf_set_f32(u.w, K("rope.scaling.factor"), c->rope_scaling.factor, err);
    }
#undef K
    if (!s && c->bos_id >= 0) s = sa_gguf_set_u32(u.w, "tokenizer.ggml.bos_token_id", (uint32_t)c->bos_id, err);
    if (!s && c->eos_id >= 0) s = sa_gguf_set_u32(u.w, "tokenizer.ggml.eos_token_id", (uint32_t)c->eos_id, err);
    if (!s && tok) {
        if (sa_tokenizer_vocab_size(tok) > c->vocab_size)
            s = sa_err_set(err, SA_ERR_INVALID_ARG, "save: the tokenizer has %d tokens, the model only %d",
                           sa_tokenizer_vocab_size(tok), c->vocab_size);
        else
            s = sa_tokenizer_export_gguf(tok, u.w, c->vocab_size, err);
    }
    if (!s) s = for_each_weight(m, gguf_add, &u, err);
    if (!s) s = sa_gguf_write(u.w, path, err);
    sa_gguf_writer_free(u.w);
    bufs_free(&u.b);
    return s;
}

/* ---- llama2.c -------------------------------------------------------------------------- */

sa_status sa_model_save_llama2c(const sa_model *m, const char *path, sa_err *err) {
    const sa_model_config *c = &m->cfg;
    if (c->arch != SA_ARCH_LLAMA || c->qkv_bias || c->rope_scaling.type != SA_ROPE_SCALING_NONE ||
        c->rope_theta != 10000.0f || c->head_dim * c->n_heads != c->dim)
        return sa_err_set(err, SA_ERR_UNSUPPORTED, "save: llama2.c checkpoints hold only plain Llama models "
                          "(rope theta 10000, no scaling, no bias, head_dim * heads == dim)");
    int64_t D = c->dim, F = c->hidden_dim, L = c->n_layers, kvd = (int64_t)c->n_kv_heads * c->head_dim;
    bufs b = {0};
    sa_status s = SA_OK;
    /* families concatenated over layers, in the v0 order */
    float *fam[10];
    int64_t per[10] = {D, D * D, kvd * D, kvd * D, D * D, D, F * D, D * F, F * D, 0};
    for (int f = 0; f < 9 && !s; f++)
        if (!(fam[f] = bufs_add(&b, (size_t)(L * per[f]) * sizeof(float)))) s = sa_err_set(err, SA_ERR_NOMEM, "save: out of memory");
    bool perm = c->rope_layout == SA_ROPE_LAYOUT_NEOX;
    for (int64_t l = 0; l < L && !s; l++) {
        const sa_layer_weights *W = &m->w.layers[l];
        memcpy(fam[0] + l * D, W->attn_norm, (size_t)D * 4);
        if (perm) {
            sa_model_permute_qk_rows(fam[1] + l * D * D, W->wq, c->n_heads, c->head_dim, D, true);
            sa_model_permute_qk_rows(fam[2] + l * kvd * D, W->wk, c->n_kv_heads, c->head_dim, D, true);
        } else {
            memcpy(fam[1] + l * D * D, W->wq, (size_t)(D * D) * 4);
            memcpy(fam[2] + l * kvd * D, W->wk, (size_t)(kvd * D) * 4);
        }
        memcpy(fam[3] + l * kvd * D, W->wv, (size_t)(kvd * D) * 4);
        memcpy(fam[4] + l * D * D, W->wo, (size_t)(D * D) * 4);
        memcpy(fam[5] + l * D, W->ffn_norm, (size_t)D * 4);
        memcpy(fam[6] + l * F * D, W->w_gate, (size_t)(F * D) * 4);
        memcpy(fam[7] + l * D * F, W->w_down, (size_t)(D * F) * 4);
        memcpy(fam[8] + l * F * D, W->w_up, (size_t)(F * D) * 4);
    }
    if (!s) {
        const float *arrays[SA_LLAMA2C_V0_ARRAYS] = {m->w.tok_embd, fam[0], fam[1], fam[2], fam[3], fam[4], fam[5],
                                                     fam[6], fam[7], fam[8], m->w.out_norm, NULL, NULL,
                                                     c->tied_embeddings ? NULL : m->w.output};
        sa_llama2c_config h = {.dim = c->dim, .hidden_dim = c->hidden_dim, .n_layers = c->n_layers,
                               .n_heads = c->n_heads, .n_kv_heads = c->n_kv_heads, .vocab_size = c->vocab_size,
                               .seq_len = c->max_seq_len, .shared_classifier = c->tied_embeddings};
        s = sa_llama2c_write_v0(path, &h, arrays, err);
    }
    bufs_free(&b);
    return s;
}
