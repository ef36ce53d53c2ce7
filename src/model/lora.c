/* lora.c — low-rank adapters: configuration, the flat parameter block,
 * merging into the base weights, and the PEFT adapter directory
 * (adapter_config.json + adapter_model.safetensors) in both directions.
 * The training forward/backward through adapters lives in backward.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/fileio.h"
#include "sa/json.h"
#include "sa/lora.h"
#include "sa/rng.h"
#include "sa/safetensors.h"
#include "sa/strbuf.h"

/* Larger ranks than this are no longer "low rank" for any model we load; the
 * cap also keeps hostile adapter_config.json values from driving sizes. */
#define LORA_MAX_RANK 65536
#define ADAPTER_CONFIG_MAX_BYTES (1u << 20)

static const char *const short_names[SA_LORA_N_TARGETS] = {"q", "k", "v", "o", "gate", "up", "down"};
static const char *const peft_names[SA_LORA_N_TARGETS] = {"q_proj", "k_proj", "v_proj", "o_proj",
                                                          "gate_proj", "up_proj", "down_proj"};

const char *sa_lora_target_name(sa_lora_target t) {
    return (unsigned)t < SA_LORA_N_TARGETS ? short_names[t] : "?";
}

/* Target of a name of n bytes (short or PEFT form), -1 if unknown. */
static int target_from_name(const char *s, size_t n) {
    for (int t = 0; t < SA_LORA_N_TARGETS; t++)
        if ((strlen(short_names[t]) == n && memcmp(s, short_names[t], n) == 0) ||
            (strlen(peft_names[t]) == n && memcmp(s, peft_names[t], n) == 0))
            return t;
    return -1;
}

sa_status sa_lora_targets_parse(const char *list, uint32_t *out, sa_err *err) {
    *out = 0;
    if (!list) return sa_err_set(err, SA_ERR_INVALID_ARG, "lora: no target list");
    uint32_t set = 0;
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *s = p;
        while (n && (*s == ' ' || *s == '\t')) s++, n--;
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
        if (n == 3 && memcmp(s, "all", 3) == 0) {
            set |= SA_LORA_TARGETS_ALL;
        } else {
            int t = target_from_name(s, n);
            if (t < 0)
                return sa_err_set(err, SA_ERR_INVALID_ARG,
                                  "lora: unknown target \"%.*s\" in \"%s\" "
                                  "(expected q, k, v, o, gate, up, down or all)",
                                  (int)(n > 64 ? 64 : n), s, list);
            set |= 1u << t;
        }
        if (!end) break;
        p = end + 1;
    }
    *out = set;
    return SA_OK;
}

/* in/out features of target t for model config c. */
static void target_dims(const sa_model_config *c, int t, int32_t *in, int32_t *out) {
    int32_t D = c->dim, F = c->hidden_dim, qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    static const int kinds[SA_LORA_N_TARGETS] = {0, 1, 1, 2, 3, 3, 4};
    switch (kinds[t]) {
    case 0: *in = D, *out = qd; break;
    case 1: *in = D, *out = kvd; break;
    case 2: *in = qd, *out = D; break;
    case 3: *in = D, *out = F; break;
    default: *in = F, *out = D; break;
    }
}

static sa_status check_config(const sa_lora_config *cfg, sa_err *err) {
    if (cfg->rank < 1 || cfg->rank > LORA_MAX_RANK)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "lora: rank %d outside 1 .. %d", cfg->rank, LORA_MAX_RANK);
    if (!isfinite(cfg->alpha) || cfg->alpha == 0.0f)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "lora: alpha %g must be finite and non-zero", (double)cfg->alpha);
    if (!(cfg->dropout >= 0.0f && cfg->dropout < 1.0f))
        return sa_err_set(err, SA_ERR_INVALID_ARG, "lora: dropout %g outside [0, 1)", (double)cfg->dropout);
    if (cfg->targets == 0 || (cfg->targets & ~SA_LORA_TARGETS_ALL))
        return sa_err_set(err, SA_ERR_INVALID_ARG, "lora: target set 0x%x is empty or has unknown bits",
                          (unsigned)cfg->targets);
    return SA_OK;
}

sa_status sa_lora_init(sa_lora *l, const sa_model_config *mcfg, const sa_lora_config *cfg, sa_err *err) {
    memset(l, 0, sizeof *l);
    sa_status s = check_config(cfg, err);
    if (!s) s = sa_model_config_validate(mcfg, "lora: model config", err);
    if (s) return s;
    size_t per_layer = 0, r = (size_t)cfg->rank, total, n_pairs;
    for (int t = 0; t < SA_LORA_N_TARGETS; t++) {
        if (!(cfg->targets & (1u << t))) continue;
        int32_t in, out;
        target_dims(mcfg, t, &in, &out);
        size_t io, n;
        if (!sa_size_add((size_t)in, (size_t)out, &io) || !sa_size_mul(io, r, &n) ||
            !sa_size_add(per_layer, n, &per_layer))
            return sa_err_set(err, SA_ERR_NOMEM, "lora: rank %d adapter size overflows", cfg->rank);
    }
    if (!sa_size_mul(per_layer, (size_t)mcfg->n_layers, &total) ||
        !sa_size_mul((size_t)mcfg->n_layers, SA_LORA_N_TARGETS, &n_pairs))
        return sa_err_set(err, SA_ERR_NOMEM, "lora: rank %d adapter size overflows", cfg->rank);
    l->storage = sa_aligned_alloc(total, sizeof(float));
    l->layers = sa_calloc(n_pairs, sizeof(sa_lora_pair));
    if (!l->storage || !l->layers) {
        sa_lora_free(l);
        return sa_err_set(err, SA_ERR_NOMEM, "lora: cannot allocate %zu adapter weights", total);
    }
    memset(l->storage, 0, total * sizeof(float));
    l->storage_floats = total;
    l->cfg = *cfg;
    l->mcfg = *mcfg;
    l->scale = cfg->alpha / (float)cfg->rank;
    float *p = l->storage;
    for (int32_t layer = 0; layer < mcfg->n_layers; layer++)
        for (int t = 0; t < SA_LORA_N_TARGETS; t++) {
            sa_lora_pair *pr = &l->layers[(size_t)layer * SA_LORA_N_TARGETS + (size_t)t];
            target_dims(mcfg, t, &pr->in, &pr->out);
            if (!(cfg->targets & (1u << t))) continue;
            pr->a = p, p += r * (size_t)pr->in;
            pr->b = p, p += r * (size_t)pr->out;
        }
    return SA_OK;
}

void sa_lora_free(sa_lora *l) {
    if (!l) return;
    free(l->storage);
    free(l->layers);
    memset(l, 0, sizeof *l);
}

void sa_lora_randomize(sa_lora *l, uint64_t seed) {
    for (int32_t layer = 0; layer < l->mcfg.n_layers; layer++)
        for (int t = 0; t < SA_LORA_N_TARGETS; t++) {
            sa_lora_pair *p = &l->layers[(size_t)layer * SA_LORA_N_TARGETS + (size_t)t];
            if (!p->a) continue;
            /* one stream per matrix: values do not depend on which other targets exist */
            sa_rng rng;
            sa_rng_split(&rng, seed, (uint64_t)layer * SA_LORA_N_TARGETS + (uint64_t)t);
            /* kaiming_uniform(a = sqrt(5)) on [rank, in]: bound = sqrt(6 / ((1 + 5) in)) = 1/sqrt(in) */
            float bound = 1.0f / sqrtf((float)p->in);
            size_t n = (size_t)l->cfg.rank * (size_t)p->in;
            for (size_t i = 0; i < n; i++) p->a[i] = (2.0f * sa_rng_float(&rng) - 1.0f) * bound;
            memset(p->b, 0, (size_t)l->cfg.rank * (size_t)p->out * sizeof(float));
        }
}

const sa_lora_pair *sa_lora_get(const sa_lora *l, int32_t layer, sa_lora_target t) {
    if (!l || !l->layers || layer < 0 || layer >= l->mcfg.n_layers || (unsigned)t >= SA_LORA_N_TARGETS) return NULL;
    const sa_lora_pair *p = &l->layers[(size_t)layer * SA_LORA_N_TARGETS + (size_t)t];
    return p->a ? p : NULL;
}

/* Shapes and rotary layout: what an adapter's matrices depend on. */
static bool same_shape(const sa_model_config *a, const sa_model_config *b) {
    return a->dim == b->dim && a->hidden_dim == b->hidden_dim && a->n_layers == b->n_layers &&
           a->n_heads == b->n_heads && a->n_kv_heads == b->n_kv_heads && a->head_dim == b->head_dim &&
           a->rope_layout == b->rope_layout;
}

static float *model_weight(sa_model *m, int32_t layer, int t) {
    sa_layer_weights *L = &m->w.layers[layer];
    float *w[SA_LORA_N_TARGETS] = {L->wq, L->wk, L->wv, L->wo, L->w_gate, L->w_up, L->w_down};
    return w[t];
}

sa_status sa_lora_merge(const sa_lora *l, sa_model *m, sa_err *err) {
    if (!same_shape(&l->mcfg, &m->cfg))
        return sa_err_set(err, SA_ERR_INVALID_ARG, "lora: merge into a model of another shape or rotary layout");
    const int64_t r = l->cfg.rank;
    const double scale = (double)l->scale;
    for (int32_t layer = 0; layer < m->cfg.n_layers; layer++)
        for (int t = 0; t < SA_LORA_N_TARGETS; t++) {
            const sa_lora_pair *p = sa_lora_get(l, layer, (sa_lora_target)t);
            if (!p) continue;
            float *w = model_weight(m, layer, t);
            /* the update in double, rounded once: merging is exact up to one fp32 rounding */
            for (int64_t o = 0; o < p->out; o++)
                for (int64_t i = 0; i < p->in; i++) {
                    double acc = 0;
                    for (int64_t j = 0; j < r; j++) acc += (double)p->b[o * r + j] * (double)p->a[j * p->in + i];
                    w[o * p->in + i] = (float)((double)w[o * p->in + i] + scale * acc);
                }
        }
    return SA_OK;
}

/* ---- PEFT directory ------------------------------------------------------------ */

/* Heads whose rows B permutes for target t in a NORM-layout model; 0 = none. */
static int32_t rope_heads(const sa_model_config *c, int t) {
    if (c->rope_layout != SA_ROPE_LAYOUT_NORM) return 0;
    return t == SA_LORA_Q ? c->n_heads : t == SA_LORA_K ? c->n_kv_heads : 0;
}

static void tensor_name(char *buf, size_t n, int32_t layer, int t, bool b) {
    snprintf(buf, n, "base_model.model.model.layers.%d.%s.%s.lora_%c.weight", (int)layer,
             t <= SA_LORA_O ? "self_attn" : "mlp", peft_names[t], b ? 'B' : 'A');
}

/* Shortest decimal that reads back as the same float ("0.05", not 0.0500000007). */
static void format_float(char *buf, size_t n, float v) {
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, n, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) return;
    }
}

static sa_status write_adapter_config(const sa_lora *l, const char *path, const char *base_name, sa_err *err) {
    sa_strbuf sb = {0};
    json_t *name = json_string(base_name ? base_name : "");
    char *quoted = name ? json_dumps(name, JSON_ENCODE_ANY) : NULL;
    json_decref(name);
    if (!quoted) return sa_err_set(err, SA_ERR_INVALID_ARG, "%s: base model name is not valid UTF-8", path);
    char alpha[32], drop[32];
    format_float(alpha, sizeof alpha, l->cfg.alpha);
    format_float(drop, sizeof drop, l->cfg.dropout);
    sa_strbuf_appendf(&sb, "{\n  \"alpha_pattern\": {},\n  \"base_model_name_or_path\": %s,\n  \"bias\": \"none\",\n"
                           "  \"fan_in_fan_out\": false,\n  \"inference_mode\": true,\n  \"init_lora_weights\": true,\n"
                           "  \"layers_to_transform\": null,\n  \"lora_alpha\": %s,\n  \"lora_dropout\": %s,\n"
                           "  \"modules_to_save\": null,\n  \"peft_type\": \"LORA\",\n  \"r\": %d,\n"
                           "  \"rank_pattern\": {},\n  \"target_modules\": [",
                      quoted, alpha, drop, (int)l->cfg.rank);
    free(quoted);
    bool first = true;
    for (int t = 0; t < SA_LORA_N_TARGETS; t++)
        if (l->cfg.targets & (1u << t)) {
            sa_strbuf_appendf(&sb, "%s\"%s\"", first ? "" : ", ", peft_names[t]);
            first = false;
        }
    /* use_rslora / use_dora are left out (false by default): PEFT releases
     * older than those options refuse unknown keys */
    sa_status s = sa_strbuf_appendf(&sb, "],\n  \"task_type\": \"CAUSAL_LM\"\n}\n");
    if (!s) s = sa_file_write_atomic(path, sb.buf, sb.len, err);
    else s = sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
    sa_strbuf_free(&sb);
    return s;
}

sa_status sa_lora_save_peft(const sa_lora *l, const char *dir, const char *base_name, sa_err *err) {
    sa_status s = sa_mkdir_p(dir, 0755, err);
    if (s) return s;
    const sa_model_config *c = &l->mcfg;
    sa_st_writer *w = NULL;
    if ((s = sa_st_writer_init(&w, err))) return s;
    /* q/k B matrices of a NORM-layout model need permuted copies; the writer
     * borrows data until it writes, so one buffer holds all of them */
    size_t perm_floats = 0, off = 0;
    for (int t = SA_LORA_Q; t <= SA_LORA_K; t++)
        if ((l->cfg.targets & (1u << t)) && rope_heads(c, t)) {
            const sa_lora_pair *p = sa_lora_get(l, 0, (sa_lora_target)t);
            perm_floats += (size_t)c->n_layers * (size_t)p->out * (size_t)l->cfg.rank;
        }
    float *perm = perm_floats ? sa_malloc_array(perm_floats, sizeof(float)) : NULL;
    sa_strbuf path = {0};
    if (perm_floats && !perm) s = sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", dir);
    if (!s) s = sa_st_writer_set_metadata(w, "format", "pt", err);
    for (int32_t layer = 0; !s && layer < c->n_layers; layer++)
        for (int t = 0; !s && t < SA_LORA_N_TARGETS; t++) {
            const sa_lora_pair *p = sa_lora_get(l, layer, (sa_lora_target)t);
            if (!p) continue;
            char name[160];
            int64_t sa[2] = {l->cfg.rank, p->in}, sb[2] = {p->out, l->cfg.rank};
            tensor_name(name, sizeof name, layer, t, false);
            s = sa_st_writer_add(w, name, SA_DTYPE_F32, 2, sa, p->a, err);
            const float *b = p->b;
            int32_t heads = rope_heads(c, t);
            if (heads) {
                sa_model_permute_qk_rows(perm + off, p->b, heads, c->head_dim, l->cfg.rank, false); /* to HF (NEOX) */
                b = perm + off;
                off += (size_t)p->out * (size_t)l->cfg.rank;
            }
            tensor_name(name, sizeof name, layer, t, true);
            if (!s) s = sa_st_writer_add(w, name, SA_DTYPE_F32, 2, sb, b, err);
        }
    if (!s && !(s = sa_path_join(&path, dir, "adapter_model.safetensors"))) s = sa_st_write(w, path.buf, err);
    if (!s) {
        sa_strbuf_reset(&path);
        if (!(s = sa_path_join(&path, dir, "adapter_config.json")))
            s = write_adapter_config(l, path.buf, base_name, err);
    }
    if (s == SA_ERR_NOMEM && err && !err->msg[0]) sa_err_set(err, s, "%s: out of memory", dir);
    sa_strbuf_free(&path);
    sa_st_writer_free(w);
    free(perm);
    return s;
}

/* Optional key must be absent, null, or equal to `ok_value` (a bool). */
static sa_status refuse_bool(const json_t *doc, const char *key, const char *path, sa_err *err) {
    bool v = false, present = false;
    sa_status s = sa_json_get_bool(doc, key, false, &v, &present, err);
    if (s) return sa_err_prefix(err, "%s: ", path), s;
    if (present && v) return sa_err_set(err, SA_ERR_UNSUPPORTED, "%s: \"%s\": true is not supported", path, key);
    return SA_OK;
}

/* An optional key that must be absent, null or an empty object/array. */
static sa_status refuse_nonempty(const json_t *doc, const char *key, const char *path, sa_err *err) {
    const json_t *v = json_object_get(doc, key);
    if (!v || json_is_null(v)) return SA_OK;
    if ((json_is_object(v) && json_object_size(v) == 0) || (json_is_array(v) && json_array_size(v) == 0))
        return SA_OK;
    return sa_err_set(err, SA_ERR_UNSUPPORTED, "%s: \"%s\" (%s) is not supported", path, key, sa_json_type_name(v));
}

static sa_status parse_adapter_config(const char *path, sa_lora_config *out, sa_err *err) {
    json_t *doc = NULL;
    sa_status s = sa_json_load_file(path, ADAPTER_CONFIG_MAX_BYTES, &doc, err);
    if (s) return s;
    const char *str;
    int64_t r = 0;
    double alpha = 0, drop = 0;
    bool present;
    json_t *tm;
    memset(out, 0, sizeof *out);
    if (!json_is_object(doc)) {
        s = sa_err_set(err, SA_ERR_FORMAT, "%s: top level is %s, expected an object", path, sa_json_type_name(doc));
        goto done;
    }
    if ((s = sa_json_get_str(doc, "peft_type", true, &str, NULL, err))) goto prefix;
    if (strcmp(str, "LORA") != 0) {
        s = sa_err_set(err, SA_ERR_UNSUPPORTED, "%s: peft_type \"%.64s\" is not supported (only LORA)", path, str);
        goto done;
    }
    if ((s = sa_json_get_str(doc, "bias", false, &str, NULL, err))) goto prefix;
    if (str && strcmp(str, "none") != 0) {
        s = sa_err_set(err, SA_ERR_UNSUPPORTED, "%s: bias \"%.64s\" is not supported (only \"none\")", path, str);
        goto done;
    }
    if ((s = refuse_bool(doc, "use_rslora", path, err)) || (s = refuse_bool(doc, "use_dora", path, err)) ||
        (s = refuse_bool(doc, "fan_in_fan_out", path, err)) ||
        (s = refuse_nonempty(doc, "rank_pattern", path, err)) ||
        (s = refuse_nonempty(doc, "alpha_pattern", path, err)) ||
        (s = refuse_nonempty(doc, "layers_to_transform", path, err)) ||
        (s = refuse_nonempty(doc, "modules_to_save", path, err)))
        goto done;
    if ((s = sa_json_get_int(doc, "r", true, &r, NULL, err))) goto prefix;
    if (r < 1 || r > LORA_MAX_RANK) {
        s = sa_err_set(err, SA_ERR_FORMAT, "%s: r = %lld outside 1 .. %d", path, (long long)r, LORA_MAX_RANK);
        goto done;
    }
    if ((s = sa_json_get_num(doc, "lora_alpha", true, &alpha, NULL, err))) goto prefix;
    if ((s = sa_json_get_num(doc, "lora_dropout", false, &drop, &present, err))) goto prefix;
    if (!isfinite(alpha) || alpha == 0 || fabs(alpha) > 1e30 || !(drop >= 0 && drop < 1)) {
        s = sa_err_set(err, SA_ERR_FORMAT, "%s: lora_alpha %g or lora_dropout %g out of range", path, alpha, drop);
        goto done;
    }
    if (!(tm = json_object_get(doc, "target_modules"))) {
        s = sa_err_set(err, SA_ERR_FORMAT, "%s: missing \"target_modules\"", path);
        goto done;
    }
    if (json_is_string(tm) && strcmp(json_string_value(tm), "all-linear") == 0) {
        out->targets = SA_LORA_TARGETS_ALL;
    } else if (json_is_array(tm)) {
        size_t i;
        json_t *v;
        json_array_foreach(tm, i, v) {
            const char *name = json_string_value(v);
            /* PEFT also accepts a module path suffix ("self_attn.q_proj") */
            const char *dot = name ? strrchr(name, '.') : NULL, *leaf = dot ? dot + 1 : name;
            int t = leaf ? target_from_name(leaf, strlen(leaf)) : -1;
            if (t < 0) {
                s = sa_err_set(err, SA_ERR_UNSUPPORTED, "%s: target_modules[%zu] %s%.64s%s is not a Llama projection",
                               path, i, name ? "\"" : "(", name ? name : sa_json_type_name(v), name ? "\"" : ")");
                goto done;
            }
            out->targets |= 1u << t;
        }
        if (!out->targets) {
            s = sa_err_set(err, SA_ERR_FORMAT, "%s: target_modules is empty", path);
            goto done;
        }
    } else {
        s = sa_err_set(err, SA_ERR_UNSUPPORTED, "%s: target_modules must be a list of module names (found %s)", path,
                       sa_json_type_name(tm));
        goto done;
    }
    out->rank = (int32_t)r;
    out->alpha = (float)alpha;
    out->dropout = (float)drop;
    if (out->dropout >= 1.0f) out->dropout = nextafterf(1.0f, 0.0f); /* just below 1, rounded up to float */
    goto done;
prefix:
    sa_err_prefix(err, "%s: ", path);
done:
    json_decref(doc);
    return s;
}

static sa_status load_tensor(float *dst, const sa_st *st, const char *file, const char *name, int64_t rows,
                             int64_t cols, sa_err *err) {
    const sa_st_tensor *t = sa_st_find(st, name);
    if (!t) return sa_err_set(err, SA_ERR_NOT_FOUND, "%s: missing tensor %s", file, name);
    if (t->n_dims != 2 || t->shape[0] != rows || t->shape[1] != cols)
        return sa_err_set(err, SA_ERR_FORMAT, "%s: tensor %s has shape %s[%lld, %lld], expected [%lld, %lld]", file,
                          name, t->n_dims == 2 ? "" : "of rank != 2 ", (long long)(t->n_dims > 0 ? t->shape[0] : 0),
                          (long long)(t->n_dims > 1 ? t->shape[1] : 0), (long long)rows, (long long)cols);
    if (t->dtype != SA_DTYPE_F32 && t->dtype != SA_DTYPE_F16 && t->dtype != SA_DTYPE_BF16)
        return sa_err_set(err, SA_ERR_UNSUPPORTED, "%s: tensor %s has dtype %s (F32, F16 or BF16 expected)", file, name,
                          sa_dtype_name(t->dtype));
    if (!sa_dtype_to_f32(t->dtype, t->data, dst, (size_t)rows * (size_t)cols))
        return sa_err_set(err, SA_ERR_FORMAT, "%s: cannot convert tensor %s", file, name);
    return SA_OK;
}

sa_status sa_lora_load_peft(sa_lora *l, const char *dir, const sa_model_config *mcfg, sa_err *err) {
    memset(l, 0, sizeof *l);
    sa_strbuf cpath = {0}, mpath = {0};
    sa_lora_config cfg;
    sa_st *st = NULL;
    sa_status s = sa_path_join(&cpath, dir, "adapter_config.json");
    if (!s) s = sa_path_join(&mpath, dir, "adapter_model.safetensors");
    if (s) {
        s = sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", dir);
        goto done;
    }
    if ((s = parse_adapter_config(cpath.buf, &cfg, err))) goto done;
    if ((s = sa_lora_init(l, mcfg, &cfg, err))) {
        sa_err_prefix(err, "%s: ", cpath.buf);
        goto done;
    }
    if ((s = sa_st_open(&st, mpath.buf, err))) goto done;
    int64_t expected = 0;
    for (int32_t layer = 0; !s && layer < mcfg->n_layers; layer++)
        for (int t = 0; !s && t < SA_LORA_N_TARGETS; t++) {
            sa_lora_pair *p = &l->layers[(size_t)layer * SA_LORA_N_TARGETS + (size_t)t];
            if (!p->a) continue;
            char name[160];
            tensor_name(name, sizeof name, layer, t, false);
            s = load_tensor(p->a, st, mpath.buf, name, cfg.rank, p->in, err);
            tensor_name(name, sizeof name, layer, t, true);
            if (!s) s = load_tensor(p->b, st, mpath.buf, name, p->out, cfg.rank, err);
            int32_t heads = rope_heads(mcfg, t);
            if (!s && heads) { /* HF (NEOX) rows back to the model's NORM order */
                float *tmp = sa_memdup(p->b, (size_t)p->out * (size_t)cfg.rank * sizeof(float));
                if (!tmp) {
                    s = sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", mpath.buf);
                    break;
                }
                sa_model_permute_qk_rows(p->b, tmp, heads, mcfg->head_dim, cfg.rank, true);
                free(tmp);
            }
            expected += 2;
        }
    if (!s && sa_st_n_tensors(st) != expected) {
        /* every tensor must be one we read: anything else (modules_to_save,
         * embeddings, layers past the model) would be silently dropped */
        for (int64_t i = 0; i < sa_st_n_tensors(st); i++) {
            const sa_st_tensor *t = sa_st_tensor_at(st, i);
            int layer = -1, n = 0;
            char mod[32] = {0}, ab = 0;
            bool known = false;
            if (sscanf(t->name, "base_model.model.model.layers.%d.%*[a-z_].%31[a-z_].lora_%c.weight%n", &layer, mod,
                       &ab, &n) == 3 &&
                t->name[n] == '\0' && layer >= 0 && layer < mcfg->n_layers) {
                int tg = target_from_name(mod, strlen(mod));
                char expect[160];
                if (tg >= 0 && (cfg.targets & (1u << tg)) && (ab == 'A' || ab == 'B')) {
                    tensor_name(expect, sizeof expect, layer, tg, ab == 'B');
                    known = strcmp(expect, t->name) == 0;
                }
            }
            if (!known) {
                s = sa_err_set(err, SA_ERR_UNSUPPORTED, "%s: unexpected tensor %.120s (not a LoRA matrix of the "
                               "targets in adapter_config.json)", mpath.buf, t->name);
                break;
            }
        }
        if (!s) s = sa_err_set(err, SA_ERR_FORMAT, "%s: %lld tensors, expected %lld", mpath.buf,
                               (long long)sa_st_n_tensors(st), (long long)expected);
    }
done:
    if (s) sa_lora_free(l);
    sa_st_close(st);
    sa_strbuf_free(&cpath);
    sa_strbuf_free(&mpath);
    return s;
}
