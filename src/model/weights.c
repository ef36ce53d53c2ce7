/* weights.c — allocate a model and fill its fp32 weights from an HF
 * directory (safetensors), a GGUF file or a llama2.c checkpoint. Every
 * tensor is found by name, its shape checked against the config, and its
 * data converted to fp32 into the model's single allocation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sa/alloc.h"
#include "sa/dtype.h"
#include "sa/gguf.h"
#include "sa/llama2c.h"
#include "sa/model.h"
#include "sa/rng.h"
#include "sa/safetensors.h"

/* ---- allocation ------------------------------------------------------------ */

sa_status sa_model_alloc(sa_model **out, const sa_model_config *cfg, sa_err *err) {
    *out = NULL;
    sa_status st = sa_model_config_validate(cfg, "model config", err);
    if (st) return st;
    sa_model *m = calloc(1, sizeof *m);
    if (!m) return sa_err_set(err, SA_ERR_NOMEM, "model: out of memory");
    m->cfg = *cfg;
    const sa_model_config *c = cfg;
    size_t d = (size_t)c->dim, h = (size_t)c->hidden_dim, v = (size_t)c->vocab_size;
    size_t qd = (size_t)c->n_heads * (size_t)c->head_dim, kvd = (size_t)c->n_kv_heads * (size_t)c->head_dim;
    size_t per_layer = d + qd * d + 2 * kvd * d + d * qd + d + 3 * h * d + (c->qkv_bias ? qd + 2 * kvd : 0);
    size_t total = v * d + (size_t)c->n_layers * per_layer + d + (c->tied_embeddings ? 0 : v * d);
    m->storage = sa_aligned_alloc(total, sizeof(float));
    m->w.layers = calloc((size_t)c->n_layers, sizeof(sa_layer_weights));
    if (!m->storage || !m->w.layers) {
        sa_model_free(m);
        return sa_err_set(err, SA_ERR_NOMEM, "model: cannot allocate %zu weights (%.1f MiB)", total,
                          (double)total * 4 / 1048576.0);
    }
    memset(m->storage, 0, total * sizeof(float));
    m->storage_floats = total;
    float *p = m->storage;
#define TAKE(ptr, n) do { (ptr) = p; p += (n); } while (0)
    TAKE(m->w.tok_embd, v * d);
    for (int32_t l = 0; l < c->n_layers; l++) {
        sa_layer_weights *L = &m->w.layers[l];
        TAKE(L->attn_norm, d);
        TAKE(L->wq, qd * d);
        TAKE(L->wk, kvd * d);
        TAKE(L->wv, kvd * d);
        TAKE(L->wo, d * qd);
        if (c->qkv_bias) {
            TAKE(L->bq, qd);
            TAKE(L->bk, kvd);
            TAKE(L->bv, kvd);
        }
        TAKE(L->ffn_norm, d);
        TAKE(L->w_gate, h * d);
        TAKE(L->w_up, h * d);
        TAKE(L->w_down, d * h);
    }
    TAKE(m->w.out_norm, d);
    if (c->tied_embeddings) m->w.output = m->w.tok_embd;
    else TAKE(m->w.output, v * d);
#undef TAKE
    SA_ASSERT((size_t)(p - m->storage) == total);
    st = sa_rope_table_init(&m->rope, c->head_dim, c->max_seq_len, c->rope_theta, &c->rope_scaling,
                            c->rope_layout, err);
    if (st) {
        sa_model_free(m);
        return st;
    }
    *out = m;
    return SA_OK;
}

static void fill_normal(float *p, size_t n, sa_rng *r, float mean, float std) {
    for (size_t i = 0; i < n; i++) p[i] = mean + std * (float)sa_rng_normal(r);
}

void sa_model_randomize(sa_model *m, uint64_t seed, float std) {
    const sa_model_config *c = &m->cfg;
    size_t D = (size_t)c->dim, F = (size_t)c->hidden_dim, V = (size_t)c->vocab_size,
           qd = (size_t)c->n_heads * c->head_dim, kvd = (size_t)c->n_kv_heads * c->head_dim;
    sa_rng r;
    sa_rng_split(&r, seed, 0);
    fill_normal(m->w.tok_embd, V * D, &r, 0, std);
    for (int32_t l = 0; l < c->n_layers; l++) {
        sa_layer_weights *L = &m->w.layers[l];
        sa_rng_split(&r, seed, (uint64_t)l + 1); /* one stream per layer */
        fill_normal(L->attn_norm, D, &r, 1, 0.1f);
        fill_normal(L->wq, qd * D, &r, 0, std);
        fill_normal(L->wk, kvd * D, &r, 0, std);
        fill_normal(L->wv, kvd * D, &r, 0, std);
        fill_normal(L->wo, D * qd, &r, 0, std);
        if (L->bq) {
            fill_normal(L->bq, qd, &r, 0, std);
            fill_normal(L->bk, kvd, &r, 0, std);
            fill_normal(L->bv, kvd, &r, 0, std);
        }
        fill_normal(L->ffn_norm, D, &r, 1, 0.1f);
        fill_normal(L->w_gate, F * D, &r, 0, std);
        fill_normal(L->w_up, F * D, &r, 0, std);
        fill_normal(L->w_down, D * F, &r, 0, std);
    }
    sa_rng_split(&r, seed, (uint64_t)c->n_layers + 1);
    fill_normal(m->w.out_norm, D, &r, 1, 0.1f);
    if (!c->tied_embeddings) fill_normal(m->w.output, V * D, &r, 0, std);
}

void sa_model_free(sa_model *m) {
    if (!m) return;
    free(m->storage);
    free(m->w.layers);
    sa_rope_table_free(&m->rope);
    free(m);
}

/* ---- tensor sources ----------------------------------------------------------- */

typedef struct tsource {
    sa_model_format fmt;
    const char *path;
    sa_st *st;
    sa_gguf *g;
    sa_llama2c *l2c;
} tsource;

typedef struct tview {
    sa_dtype dtype;
    int n_dims;
    int64_t shape[8]; /* row-major: shape[0] is the outermost dimension */
    const void *data;
    size_t nbytes;
    const sa_st_tensor *st_t; /* llama2.c v2 needs the original for dequantisation */
} tview;

static bool src_find(const tsource *s, const char *name, tview *v) {
    memset(v, 0, sizeof *v);
    if (s->fmt == SA_MODEL_FORMAT_GGUF) {
        int64_t i = sa_gguf_find_tensor(s->g, name);
        if (i < 0) return false;
        const sa_gguf_tensor *t = sa_gguf_tensor_at(s->g, i);
        v->dtype = t->dtype;
        v->n_dims = t->n_dims;
        for (int d = 0; d < t->n_dims; d++) v->shape[d] = t->ne[t->n_dims - 1 - d];
        v->data = t->data;
        v->nbytes = t->nbytes;
        return true;
    }
    const sa_st_tensor *t = s->fmt == SA_MODEL_FORMAT_HF ? sa_st_find(s->st, name) : sa_llama2c_find(s->l2c, name);
    if (!t) return false;
    v->dtype = t->dtype;
    v->n_dims = t->n_dims;
    for (int d = 0; d < t->n_dims && d < 8; d++) v->shape[d] = t->shape[d];
    v->data = t->data;
    v->nbytes = t->nbytes;
    v->st_t = t;
    return true;
}

/* Copy tensor `name` ([rows] if cols == 0, else [rows, cols]) into dst as fp32. */
static sa_status fill(const tsource *s, const char *name, float *dst, int64_t rows, int64_t cols,
                      sa_err *err) {
    tview v;
    if (!src_find(s, name, &v)) return sa_err_set(err, SA_ERR_NOT_FOUND, "%s: missing tensor \"%s\"", s->path, name);
    bool ok = cols == 0 ? (v.n_dims == 1 && v.shape[0] == rows)
                        : (v.n_dims == 2 && v.shape[0] == rows && v.shape[1] == cols);
    if (!ok) {
        char got[128] = "";
        size_t o = 0;
        for (int d = 0; d < v.n_dims && o < sizeof got - 24; d++)
            o += (size_t)snprintf(got + o, sizeof got - o, "%s%lld", d ? ", " : "", (long long)v.shape[d]);
        if (cols == 0)
            return sa_err_set(err, SA_ERR_FORMAT, "%s: tensor \"%s\" has shape [%s], expected [%lld]", s->path,
                              name, got, (long long)rows);
        return sa_err_set(err, SA_ERR_FORMAT, "%s: tensor \"%s\" has shape [%s], expected [%lld, %lld]",
                          s->path, name, got, (long long)rows, (long long)cols);
    }
    size_t n = (size_t)rows * (size_t)(cols ? cols : 1);
    if (s->fmt == SA_MODEL_FORMAT_LLAMA2C && v.dtype == SA_DTYPE_I8) {
        sa_status st = sa_llama2c_tensor_to_f32(s->l2c, v.st_t, dst, err);
        return st;
    }
    size_t need;
    if (!sa_dtype_row_bytes(v.dtype, n, &need) || need != v.nbytes || !sa_dtype_to_f32(v.dtype, v.data, dst, n))
        return sa_err_set(err, SA_ERR_UNSUPPORTED, "%s: tensor \"%s\" has dtype %s, which cannot be used as weights",
                          s->path, name, sa_dtype_name(v.dtype));
    return SA_OK;
}

typedef enum { R_ATTN_NORM, R_WQ, R_WK, R_WV, R_WO, R_BQ, R_BK, R_BV, R_FFN_NORM, R_GATE, R_UP, R_DOWN, R_COUNT } layer_role;

static const char *const k_layer_names[3][R_COUNT] = {
    [SA_MODEL_FORMAT_HF] = {"model.layers.%d.input_layernorm.weight", "model.layers.%d.self_attn.q_proj.weight",
                            "model.layers.%d.self_attn.k_proj.weight", "model.layers.%d.self_attn.v_proj.weight",
                            "model.layers.%d.self_attn.o_proj.weight", "model.layers.%d.self_attn.q_proj.bias",
                            "model.layers.%d.self_attn.k_proj.bias", "model.layers.%d.self_attn.v_proj.bias",
                            "model.layers.%d.post_attention_layernorm.weight", "model.layers.%d.mlp.gate_proj.weight",
                            "model.layers.%d.mlp.up_proj.weight", "model.layers.%d.mlp.down_proj.weight"},
    [SA_MODEL_FORMAT_GGUF] = {"blk.%d.attn_norm.weight", "blk.%d.attn_q.weight", "blk.%d.attn_k.weight",
                              "blk.%d.attn_v.weight", "blk.%d.attn_output.weight", "blk.%d.attn_q.bias",
                              "blk.%d.attn_k.bias", "blk.%d.attn_v.bias", "blk.%d.ffn_norm.weight",
                              "blk.%d.ffn_gate.weight", "blk.%d.ffn_up.weight", "blk.%d.ffn_down.weight"},
    [SA_MODEL_FORMAT_LLAMA2C] = {"layers.%d.attention_norm.weight", "layers.%d.attention.wq.weight",
                                 "layers.%d.attention.wk.weight", "layers.%d.attention.wv.weight",
                                 "layers.%d.attention.wo.weight", NULL, NULL, NULL, "layers.%d.ffn_norm.weight",
                                 "layers.%d.feed_forward.w1.weight", "layers.%d.feed_forward.w3.weight",
                                 "layers.%d.feed_forward.w2.weight"},
};
static const char *const k_global_names[3][4] = {
    /* embedding, final norm, output */
    [SA_MODEL_FORMAT_HF] = {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"},
    [SA_MODEL_FORMAT_GGUF] = {"token_embd.weight", "output_norm.weight", "output.weight"},
    [SA_MODEL_FORMAT_LLAMA2C] = {"tok_embeddings.weight", "norm.weight", "output.weight"},
};

static sa_status fill_all(sa_model *m, const tsource *s, sa_err *err) {
    const sa_model_config *c = &m->cfg;
    int64_t d = c->dim, h = c->hidden_dim, v = c->vocab_size;
    int64_t qd = (int64_t)c->n_heads * c->head_dim, kvd = (int64_t)c->n_kv_heads * c->head_dim;
    const char *const *g = k_global_names[s->fmt];
    sa_status st;
    if ((st = fill(s, g[0], m->w.tok_embd, v, d, err))) return st;
    if ((st = fill(s, g[1], m->w.out_norm, d, 0, err))) return st;
    if (!c->tied_embeddings && (st = fill(s, g[2], m->w.output, v, d, err))) return st;
    for (int32_t l = 0; l < c->n_layers; l++) {
        sa_layer_weights *L = &m->w.layers[l];
        struct { layer_role r; float *dst; int64_t rows, cols; } plan[] = {
            {R_ATTN_NORM, L->attn_norm, d, 0}, {R_WQ, L->wq, qd, d}, {R_WK, L->wk, kvd, d},
            {R_WV, L->wv, kvd, d}, {R_WO, L->wo, d, qd}, {R_BQ, L->bq, qd, 0},
            {R_BK, L->bk, kvd, 0}, {R_BV, L->bv, kvd, 0}, {R_FFN_NORM, L->ffn_norm, d, 0},
            {R_GATE, L->w_gate, h, d}, {R_UP, L->w_up, h, d}, {R_DOWN, L->w_down, d, h},
        };
        for (size_t i = 0; i < sizeof plan / sizeof plan[0]; i++) {
            if (!plan[i].dst) continue; /* no bias in this architecture */
            const char *fmt = k_layer_names[s->fmt][plan[i].r];
            if (!fmt)
                return sa_err_set(err, SA_ERR_UNSUPPORTED, "%s: this format has no q/k/v bias tensors", s->path);
            char name[128];
            /* the pattern comes from our own constant name table (one %d) */
            #pragma GCC diagnostic push
            #pragma GCC diagnostic ignored "-Wformat-nonliteral"
            snprintf(name, sizeof name, fmt, (int)l);
            #pragma GCC diagnostic pop
            if ((st = fill(s, name, plan[i].dst, plan[i].rows, plan[i].cols, err))) return st;
        }
    }
    return SA_OK;
}

/* ---- config from GGUF metadata and llama2.c headers ---------------------------- */

static bool gguf_int(const sa_gguf *g, const char *arch, const char *suffix, int32_t *out) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int64_t i = sa_gguf_find_key(g, key), x;
    if (i < 0 || !sa_gguf_get_int(g, i, &x) || x < 0 || x > INT32_MAX) return false;
    *out = (int32_t)x;
    return true;
}
static bool gguf_float(const sa_gguf *g, const char *arch, const char *suffix, float *out) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int64_t i = sa_gguf_find_key(g, key);
    double x;
    if (i < 0 || !sa_gguf_get_float(g, i, &x)) return false;
    *out = (float)x;
    return true;
}

static sa_status config_from_gguf(sa_model_config *c, const sa_gguf *g, const char *path, sa_err *err) {
    memset(c, 0, sizeof *c);
    int64_t ai = sa_gguf_find_key(g, "general.architecture");
    const char *arch = ai >= 0 ? sa_gguf_get_str(g, ai, NULL) : NULL;
    if (!arch) return sa_err_set(err, SA_ERR_FORMAT, "%s: no general.architecture", path);
    if (strcmp(arch, "llama") == 0 || strcmp(arch, "mistral") == 0) {
        c->arch = strcmp(arch, "llama") == 0 ? SA_ARCH_LLAMA : SA_ARCH_MISTRAL;
        c->rope_layout = SA_ROPE_LAYOUT_NORM; /* GGUF llama stores q/k permuted for it */
    } else if (strcmp(arch, "qwen2") == 0) {
        c->arch = SA_ARCH_QWEN2;
        c->rope_layout = SA_ROPE_LAYOUT_NEOX;
        c->qkv_bias = true;
    } else {
        return sa_err_set(err, SA_ERR_UNSUPPORTED, "%s: unsupported GGUF architecture \"%s\" (llama, mistral, qwen2)",
                          path, arch);
    }
    if (!gguf_int(g, arch, "embedding_length", &c->dim) || !gguf_int(g, arch, "feed_forward_length", &c->hidden_dim) ||
        !gguf_int(g, arch, "block_count", &c->n_layers) || !gguf_int(g, arch, "attention.head_count", &c->n_heads))
        return sa_err_set(err, SA_ERR_FORMAT, "%s: missing %s.embedding_length, feed_forward_length, block_count "
                          "or attention.head_count", path, arch);
    c->n_kv_heads = c->n_heads;
    gguf_int(g, arch, "attention.head_count_kv", &c->n_kv_heads);
    c->head_dim = c->n_heads ? c->dim / c->n_heads : 0;
    gguf_int(g, arch, "attention.key_length", &c->head_dim);
    c->max_seq_len = 2048;
    gguf_int(g, arch, "context_length", &c->max_seq_len);
    c->rope_theta = 10000.0f;
    gguf_float(g, arch, "rope.freq_base", &c->rope_theta);
    c->norm_eps = 1e-5f;
    gguf_float(g, arch, "attention.layer_norm_rms_epsilon", &c->norm_eps);
    int64_t ti = sa_gguf_find_tensor(g, "token_embd.weight");
    if (ti < 0) return sa_err_set(err, SA_ERR_NOT_FOUND, "%s: missing tensor \"token_embd.weight\"", path);
    const sa_gguf_tensor *te = sa_gguf_tensor_at(g, ti);
    if (te->n_dims != 2 || te->ne[1] > INT32_MAX)
        return sa_err_set(err, SA_ERR_FORMAT, "%s: token_embd.weight must be 2-D", path);
    c->vocab_size = (int32_t)te->ne[1];
    c->tied_embeddings = sa_gguf_find_tensor(g, "output.weight") < 0;
    if (sa_gguf_find_tensor(g, "rope_freqs.weight") >= 0)
        return sa_err_set(err, SA_ERR_UNSUPPORTED, "%s: per-frequency rope factors (rope_freqs.weight) are not supported yet", path);
    char key[160];
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    int64_t si = sa_gguf_find_key(g, key);
    const char *stype = si >= 0 ? sa_gguf_get_str(g, si, NULL) : NULL;
    if (stype && strcmp(stype, "none") != 0) {
        if (strcmp(stype, "linear") != 0)
            return sa_err_set(err, SA_ERR_UNSUPPORTED, "%s: rope scaling \"%s\" is not supported", path, stype);
        c->rope_scaling.type = SA_ROPE_SCALING_LINEAR;
        c->rope_scaling.factor = 1.0f;
        gguf_float(g, arch, "rope.scaling.factor", &c->rope_scaling.factor);
    }
    c->bos_id = c->eos_id = -1;
    int64_t x, bi = sa_gguf_find_key(g, "tokenizer.ggml.bos_token_id"), ei = sa_gguf_find_key(g, "tokenizer.ggml.eos_token_id");
    if (bi >= 0 && sa_gguf_get_int(g, bi, &x) && x >= 0 && x < c->vocab_size) c->bos_id = (int32_t)x;
    if (ei >= 0 && sa_gguf_get_int(g, ei, &x) && x >= 0 && x < c->vocab_size) c->eos_id = (int32_t)x;
    return sa_model_config_validate(c, path, err);
}

static sa_status config_from_llama2c(sa_model_config *c, const sa_llama2c_config *h, const char *path,
                                     sa_err *err) {
    memset(c, 0, sizeof *c);
    c->arch = SA_ARCH_LLAMA;
    c->dim = h->dim;
    c->hidden_dim = h->hidden_dim;
    c->n_layers = h->n_layers;
    c->n_heads = h->n_heads;
    c->n_kv_heads = h->n_kv_heads;
    c->head_dim = h->n_heads > 0 ? h->dim / h->n_heads : 0;
    c->vocab_size = h->vocab_size;
    c->max_seq_len = h->seq_len;
    c->rope_theta = 10000.0f; /* llama2.c's fixed values */
    c->norm_eps = 1e-5f;
    c->rope_layout = SA_ROPE_LAYOUT_NORM;
    c->tied_embeddings = h->shared_classifier;
    c->bos_id = 1;
    c->eos_id = 2;
    return sa_model_config_validate(c, path, err);
}

/* ---- load ------------------------------------------------------------------------ */

static bool has_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

sa_status sa_model_load(sa_model **out, const char *path, sa_err *err) {
    *out = NULL;
    tsource s = {.path = path};
    sa_model_config cfg;
    sa_status st;
    struct stat sb;
    if (stat(path, &sb) != 0) return sa_err_set(err, SA_ERR_IO, "%s: no such file or directory", path);
    char dir[4096];
    if (S_ISDIR(sb.st_mode) || has_suffix(path, "config.json")) {
        s.fmt = SA_MODEL_FORMAT_HF;
        char cfgpath[4200];
        if (S_ISDIR(sb.st_mode)) {
            snprintf(dir, sizeof dir, "%s", path);
            snprintf(cfgpath, sizeof cfgpath, "%s/config.json", path);
        } else {
            snprintf(dir, sizeof dir, "%s", path);
            char *slash = strrchr(dir, '/');
            if (slash) *slash = '\0';
            else snprintf(dir, sizeof dir, ".");
            snprintf(cfgpath, sizeof cfgpath, "%s", path);
        }
        if ((st = sa_model_config_from_hf(&cfg, cfgpath, err))) return st;
        if ((st = sa_st_open(&s.st, dir, err))) return st;
        /* some checkpoints tie without saying so: no lm_head means tied */
        if (!cfg.tied_embeddings && !sa_st_find(s.st, "lm_head.weight")) cfg.tied_embeddings = true;
    } else {
        FILE *f = fopen(path, "rb");
        char magic[4] = {0};
        size_t got = f ? fread(magic, 1, 4, f) : 0;
        if (f) fclose(f);
        if (got == 4 && memcmp(magic, "GGUF", 4) == 0) {
            s.fmt = SA_MODEL_FORMAT_GGUF;
            if ((st = sa_gguf_open(&s.g, path, err))) return st;
            if ((st = config_from_gguf(&cfg, s.g, path, err))) goto done;
        } else {
            s.fmt = SA_MODEL_FORMAT_LLAMA2C;
            if ((st = sa_llama2c_open(&s.l2c, path, err))) return st;
            if ((st = config_from_llama2c(&cfg, sa_llama2c_config_get(s.l2c), path, err))) goto done;
        }
    }
    sa_model *m;
    if ((st = sa_model_alloc(&m, &cfg, err))) goto done;
    m->format = s.fmt;
    if ((st = fill_all(m, &s, err))) {
        sa_model_free(m);
        goto done;
    }
    *out = m;
done:
    if (s.st) sa_st_close(s.st);
    if (s.g) sa_gguf_close(s.g);
    if (s.l2c) sa_llama2c_close(s.l2c);
    return st;
}
