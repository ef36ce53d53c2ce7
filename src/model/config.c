/* config.c — the model blueprint: architecture names, config.json parsing,
 * validation and parameter counting. */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "sa/model.h"

static const struct {
    const char *name;
    sa_arch arch;
} k_arch[] = {
    {"LlamaForCausalLM", SA_ARCH_LLAMA},
    {"MistralForCausalLM", SA_ARCH_MISTRAL},
    {"Qwen2ForCausalLM", SA_ARCH_QWEN2},
};

const char *sa_arch_name(sa_arch a) {
    for (size_t i = 0; i < sizeof k_arch / sizeof k_arch[0]; i++)
        if (k_arch[i].arch == a) return k_arch[i].name;
    return "?";
}

sa_status sa_arch_from_name(const char *name, sa_arch *out, sa_err *err) {
    for (size_t i = 0; i < sizeof k_arch / sizeof k_arch[0]; i++)
        if (strcmp(k_arch[i].name, name) == 0) {
            *out = k_arch[i].arch;
            return SA_OK;
        }
    return sa_err_set(err, SA_ERR_UNSUPPORTED,
                      "unsupported architecture \"%s\" (supported: LlamaForCausalLM, "
                      "MistralForCausalLM, Qwen2ForCausalLM)", name);
}

/* Integer field: required ones must be present and integral; optional ones
 * keep *out when absent. */
static sa_status get_i32(const json_t *o, const char *key, bool required, int32_t *out,
                         const char *path, sa_err *err) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (required) return sa_err_set(err, SA_ERR_FORMAT, "%s: missing \"%s\"", path, key);
        return SA_OK;
    }
    if (!json_is_integer(v))
        return sa_err_set(err, SA_ERR_FORMAT, "%s: \"%s\" must be an integer", path, key);
    json_int_t x = json_integer_value(v);
    if (x < INT32_MIN || x > INT32_MAX)
        return sa_err_set(err, SA_ERR_RANGE, "%s: \"%s\" = %lld is out of range", path, key,
                          (long long)x);
    *out = (int32_t)x;
    return SA_OK;
}

static sa_status get_f32(const json_t *o, const char *key, float *out, const char *path,
                         sa_err *err) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return SA_OK;
    if (!json_is_number(v))
        return sa_err_set(err, SA_ERR_FORMAT, "%s: \"%s\" must be a number", path, key);
    *out = (float)json_number_value(v);
    return SA_OK;
}

static sa_status get_bool(const json_t *o, const char *key, bool *out, const char *path,
                          sa_err *err) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return SA_OK;
    if (!json_is_boolean(v))
        return sa_err_set(err, SA_ERR_FORMAT, "%s: \"%s\" must be true or false", path, key);
    *out = json_is_true(v);
    return SA_OK;
}

/* eos_token_id may be an integer or a list (Llama 3): take the first. */
static sa_status get_token_id(const json_t *o, const char *key, int32_t *out, const char *path,
                              sa_err *err) {
    json_t *v = json_object_get(o, key);
    if (json_is_array(v) && json_array_size(v) > 0) v = json_array_get(v, 0);
    if (!v || json_is_null(v)) return SA_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
        return sa_err_set(err, SA_ERR_FORMAT, "%s: \"%s\" must be a token id", path, key);
    *out = (int32_t)json_integer_value(v);
    return SA_OK;
}

static sa_status parse_rope_scaling(const json_t *o, sa_model_config *cfg, const char *path,
                                    sa_err *err) {
    json_t *rs = json_object_get(o, "rope_scaling");
    if (!rs || json_is_null(rs)) return SA_OK;
    if (!json_is_object(rs))
        return sa_err_set(err, SA_ERR_FORMAT, "%s: \"rope_scaling\" must be an object", path);
    json_t *t = json_object_get(rs, "rope_type");
    if (!t) t = json_object_get(rs, "type");
    const char *type = json_is_string(t) ? json_string_value(t) : NULL;
    if (!type) return sa_err_set(err, SA_ERR_FORMAT, "%s: rope_scaling has no \"rope_type\"", path);
    sa_rope_scaling *s = &cfg->rope_scaling;
    sa_status st;
    if (strcmp(type, "default") == 0) return SA_OK;
    if (strcmp(type, "linear") == 0) s->type = SA_ROPE_SCALING_LINEAR;
    else if (strcmp(type, "llama3") == 0) s->type = SA_ROPE_SCALING_LLAMA3;
    else
        return sa_err_set(err, SA_ERR_UNSUPPORTED,
                          "%s: rope_scaling type \"%s\" is not supported (linear, llama3)", path, type);
    s->factor = 0;
    if ((st = get_f32(rs, "factor", &s->factor, path, err))) return st;
    if (!(s->factor > 0)) return sa_err_set(err, SA_ERR_FORMAT, "%s: rope_scaling.factor must be > 0", path);
    if (s->type == SA_ROPE_SCALING_LLAMA3) {
        s->low_freq_factor = 1, s->high_freq_factor = 4, s->original_max_pos = 8192;
        if ((st = get_f32(rs, "low_freq_factor", &s->low_freq_factor, path, err)) ||
            (st = get_f32(rs, "high_freq_factor", &s->high_freq_factor, path, err)) ||
            (st = get_i32(rs, "original_max_position_embeddings", false, &s->original_max_pos, path, err)))
            return st;
    }
    return SA_OK;
}

sa_status sa_model_config_from_hf(sa_model_config *cfg, const char *path, sa_err *err) {
    memset(cfg, 0, sizeof *cfg);
    json_error_t je;
    json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!o) return sa_err_set(err, SA_ERR_FORMAT, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    sa_status st = SA_OK;
    if (!json_is_object(o)) {
        st = sa_err_set(err, SA_ERR_FORMAT, "%s: not a JSON object", path);
        goto done;
    }
    json_t *archs = json_object_get(o, "architectures");
    const char *aname = NULL;
    if (json_is_array(archs) && json_array_size(archs) > 0) aname = json_string_value(json_array_get(archs, 0));
    if (!aname) {
        st = sa_err_set(err, SA_ERR_FORMAT, "%s: missing \"architectures\"", path);
        goto done;
    }
    if ((st = sa_arch_from_name(aname, &cfg->arch, err))) {
        sa_err_prefix(err, "%s: ", path);
        goto done;
    }
    cfg->n_kv_heads = -1;
    cfg->head_dim = -1;
    cfg->max_seq_len = 2048;
    cfg->rope_theta = 10000.0f;
    cfg->norm_eps = 1e-6f;
    cfg->bos_id = cfg->eos_id = -1;
    cfg->qkv_bias = cfg->arch == SA_ARCH_QWEN2;
    cfg->tied_embeddings = false;
    cfg->rope_layout = SA_ROPE_LAYOUT_NEOX;
    if ((st = get_i32(o, "hidden_size", true, &cfg->dim, path, err)) ||
        (st = get_i32(o, "intermediate_size", true, &cfg->hidden_dim, path, err)) ||
        (st = get_i32(o, "num_hidden_layers", true, &cfg->n_layers, path, err)) ||
        (st = get_i32(o, "num_attention_heads", true, &cfg->n_heads, path, err)) ||
        (st = get_i32(o, "num_key_value_heads", false, &cfg->n_kv_heads, path, err)) ||
        (st = get_i32(o, "head_dim", false, &cfg->head_dim, path, err)) ||
        (st = get_i32(o, "vocab_size", true, &cfg->vocab_size, path, err)) ||
        (st = get_i32(o, "max_position_embeddings", false, &cfg->max_seq_len, path, err)) ||
        (st = get_f32(o, "rope_theta", &cfg->rope_theta, path, err)) ||
        (st = get_f32(o, "rms_norm_eps", &cfg->norm_eps, path, err)) ||
        (st = get_bool(o, "tie_word_embeddings", &cfg->tied_embeddings, path, err)) ||
        (st = get_bool(o, "attention_bias", &cfg->qkv_bias, path, err)) ||
        (st = get_token_id(o, "bos_token_id", &cfg->bos_id, path, err)) ||
        (st = get_token_id(o, "eos_token_id", &cfg->eos_id, path, err)) ||
        (st = parse_rope_scaling(o, cfg, path, err)))
        goto done;
    if (cfg->n_kv_heads == -1) cfg->n_kv_heads = cfg->n_heads;
    if (cfg->head_dim == -1 && cfg->n_heads > 0) cfg->head_dim = cfg->dim / cfg->n_heads;
    st = sa_model_config_validate(cfg, path, err);
done:
    json_decref(o);
    return st;
}

bool sa_model_config_preset(const char *name, sa_model_config *c) {
    memset(c, 0, sizeof *c);
    c->arch = SA_ARCH_LLAMA;
    c->rope_theta = 10000.0f, c->norm_eps = 1e-5f, c->rope_layout = SA_ROPE_LAYOUT_NEOX;
    c->bos_id = c->eos_id = -1, c->max_seq_len = 2048;
    if (strcmp(name, "m-tiny") == 0)
        c->dim = 288, c->hidden_dim = 768, c->n_layers = 6, c->n_heads = 6, c->n_kv_heads = 6, c->vocab_size = 32000;
    else if (strcmp(name, "m-small") == 0)
        c->dim = 576, c->hidden_dim = 1536, c->n_layers = 30, c->n_heads = 9, c->n_kv_heads = 3,
        c->vocab_size = 49152, c->tied_embeddings = true;
    else
        return false;
    c->head_dim = c->dim / c->n_heads;
    return true;
}

sa_status sa_model_config_validate(const sa_model_config *c, const char *src, sa_err *err) {
    /* caps keep every size product far from overflow and catch garbage headers */
    const int32_t cap = 1 << 20;
    if (c->dim <= 0 || c->dim > cap || c->hidden_dim <= 0 || c->hidden_dim > 4 * cap ||
        c->n_layers <= 0 || c->n_layers > 1024 || c->n_heads <= 0 || c->n_heads > 1024 ||
        c->n_kv_heads <= 0 || c->head_dim <= 0 || c->head_dim > 4096 || c->vocab_size <= 0 ||
        c->vocab_size > 16 * cap || c->max_seq_len <= 0 || c->max_seq_len > 16 * cap)
        return sa_err_set(err, SA_ERR_FORMAT,
                          "%s: implausible model shape (dim %d, hidden %d, layers %d, heads %d, "
                          "kv heads %d, head_dim %d, vocab %d, seq %d)",
                          src, c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads,
                          c->head_dim, c->vocab_size, c->max_seq_len);
    if (c->n_heads % c->n_kv_heads)
        return sa_err_set(err, SA_ERR_FORMAT, "%s: %d attention heads are not a multiple of %d kv heads",
                          src, c->n_heads, c->n_kv_heads);
    if (c->head_dim % 2)
        return sa_err_set(err, SA_ERR_FORMAT, "%s: head_dim %d must be even for rotary embeddings", src,
                          c->head_dim);
    if (!(c->rope_theta > 0) || !isfinite(c->rope_theta) || !(c->norm_eps >= 0) || !isfinite(c->norm_eps))
        return sa_err_set(err, SA_ERR_FORMAT, "%s: invalid rope_theta %g or rms_norm_eps %g", src,
                          (double)c->rope_theta, (double)c->norm_eps);
    return SA_OK;
}

int64_t sa_model_config_n_params(const sa_model_config *c) {
    int64_t d = c->dim, h = c->hidden_dim, qd = (int64_t)c->n_heads * c->head_dim,
            kvd = (int64_t)c->n_kv_heads * c->head_dim, v = c->vocab_size;
    int64_t layer = d + d * qd + 2 * d * kvd + qd * d + d + 3 * d * h;
    if (c->qkv_bias) layer += qd + 2 * kvd;
    return v * d + c->n_layers * layer + d + (c->tied_embeddings ? 0 : v * d);
}
