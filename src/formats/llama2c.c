/* llama2c.c — llama2.c checkpoints (v0 legacy, v1 fp32, v2 Q8_0) and
 * tokenizer.bin files (see llama2c.h).
 *
 * A checkpoint has no table of contents: the tensor layout is implied by
 * the seven header integers. So the header is validated first (positive,
 * consistent, under caps), the layout is planned with overflow-checked
 * sizes, and the planned total must equal the file size exactly — the only
 * integrity check this format allows.
 */
#include "sa/llama2c.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/fileio.h"
#include "sa/mmap.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "llama2.c files are little-endian; this reader maps them in place"
#endif

#define L2C_MAGIC 0x616b3432u /* "ak42" */
#define L2C_V0_HEADER 28
#define L2C_VX_HEADER 256
/* Caps well above any llama2.c-era model; they keep sizes far from overflow
 * and reject headers that are garbage. */
#define L2C_MAX_DIM (1 << 16)
#define L2C_MAX_HIDDEN (1 << 18)
#define L2C_MAX_LAYERS 1024
#define L2C_MAX_VOCAB (1 << 22)
#define L2C_MAX_SEQ (1 << 22)
#define L2C_MAX_TOKEN_LEN (1 << 16)
#define L2C_VOCAB_MAX_FILE (1u << 30)

struct sa_llama2c {
    sa_mmap map;
    const uint8_t *base;
    size_t size;
    char *label;
    sa_llama2c_config cfg;
    sa_st_tensor *tensors;
    uint64_t *offsets;  /* planned file offset of each tensor */
    int64_t *scales_of; /* v2: index of the scales tensor, else -1 */
    size_t n, cap, cap_off, cap_sc;
    int64_t *by_name;
};

static int32_t rd_i32(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* ---- header validation -------------------------------------------------- */

static sa_status check_field(const char *label, const char *what, int32_t v, int32_t cap,
                             sa_err *err) {
    if (v <= 0)
        return sa_err_set(err, SA_ERR_FORMAT, "%s: header %s is %d; it must be positive", label,
                          what, (int)v);
    if (v > cap)
        return sa_err_set(err, SA_ERR_FORMAT, "%s: header %s %d exceeds the limit %d", label,
                          what, (int)v, (int)cap);
    return SA_OK;
}

static sa_status validate_config(const char *label, const sa_llama2c_config *c, sa_err *err) {
    sa_status s;
    if ((s = check_field(label, "dim", c->dim, L2C_MAX_DIM, err)) != SA_OK ||
        (s = check_field(label, "hidden_dim", c->hidden_dim, L2C_MAX_HIDDEN, err)) != SA_OK ||
        (s = check_field(label, "n_layers", c->n_layers, L2C_MAX_LAYERS, err)) != SA_OK ||
        (s = check_field(label, "n_heads", c->n_heads, c->dim > 0 ? c->dim : 1, err)) != SA_OK ||
        (s = check_field(label, "n_kv_heads", c->n_kv_heads, c->n_heads, err)) != SA_OK ||
        (s = check_field(label, "vocab_size", c->vocab_size, L2C_MAX_VOCAB, err)) != SA_OK ||
        (s = check_field(label, "seq_len", c->seq_len, L2C_MAX_SEQ, err)) != SA_OK)
        return s;
    if (c->dim % c->n_heads != 0)
        return sa_err_set(err, SA_ERR_FORMAT, "%s: n_heads %d does not divide dim %d", label,
                          (int)c->n_heads, (int)c->dim);
    if (c->n_heads % c->n_kv_heads != 0)
        return sa_err_set(err, SA_ERR_FORMAT, "%s: n_kv_heads %d does not divide n_heads %d",
                          label, (int)c->n_kv_heads, (int)c->n_heads);
    if ((c->dim / c->n_heads) % 2 != 0)
        return sa_err_set(err, SA_ERR_FORMAT,
                          "%s: head size %d is odd; rotary embeddings need pairs", label,
                          (int)(c->dim / c->n_heads));
    if (c->version == 2) {
        if (c->group_size <= 0 || c->group_size > c->dim || c->dim % c->group_size != 0)
            return sa_err_set(err, SA_ERR_FORMAT,
                              "%s: Q8_0 group_size %d must be positive and divide dim %d", label,
                              (int)c->group_size, (int)c->dim);
    }
    return SA_OK;
}

/* ---- layout planning ---------------------------------------------------- */

typedef struct l2c_plan {
    sa_llama2c *m;
    uint64_t pos;
    bool overflow;
    bool nomem;
} l2c_plan;

static int64_t plan_add(l2c_plan *p, const char *name, sa_dtype dt, int nd, int64_t d0,
                        int64_t d1) {
    sa_llama2c *m = p->m;
    if (p->nomem) return -1;
    if (!sa_grow((void **)&m->tensors, &m->cap, m->n + 1, sizeof(sa_st_tensor)) ||
        !sa_grow((void **)&m->offsets, &m->cap_off, m->n + 1, sizeof(uint64_t)) ||
        !sa_grow((void **)&m->scales_of, &m->cap_sc, m->n + 1, sizeof(int64_t))) {
        p->nomem = true;
        return -1;
    }
    sa_st_tensor *t = &m->tensors[m->n];
    memset(t, 0, sizeof(*t));
    t->name = sa_strdup(name);
    if (!t->name) {
        p->nomem = true;
        return -1;
    }
    t->dtype = dt;
    t->n_dims = nd;
    t->shape[0] = d0;
    if (nd > 1) t->shape[1] = d1;
    uint64_t numel = (uint64_t)d0, nb;
    if (nd > 1 && __builtin_mul_overflow(numel, (uint64_t)d1, &numel)) p->overflow = true;
    if (__builtin_mul_overflow(numel, (uint64_t)(dt == SA_DTYPE_I8 ? 1 : 4), &nb) ||
        nb > SIZE_MAX)
        p->overflow = true;
    t->nbytes = (size_t)nb;
    m->offsets[m->n] = p->pos;
    m->scales_of[m->n] = -1;
    if (__builtin_add_overflow(p->pos, nb, &p->pos)) p->overflow = true;
    return (int64_t)m->n++;
}

/* One matrix: fp32, or (v2) int8 quants followed by their scales. */
static void plan_matrix(l2c_plan *p, const char *name, int64_t rows, int64_t cols) {
    const sa_llama2c_config *c = &p->m->cfg;
    if (c->version != 2) {
        plan_add(p, name, SA_DTYPE_F32, 2, rows, cols);
        return;
    }
    int64_t q = plan_add(p, name, SA_DTYPE_I8, 2, rows, cols);
    char sname[96];
    snprintf(sname, sizeof(sname), "%s.scales", name);
    int64_t s = plan_add(p, sname, SA_DTYPE_F32, 1, rows * cols / c->group_size, 0);
    if (q >= 0 && s >= 0) p->m->scales_of[q] = s;
}

enum { FAM_NORM_ATT, FAM_NORM_FFN, FAM_WQ, FAM_WK, FAM_WV, FAM_WO, FAM_W1, FAM_W2, FAM_W3 };

static void plan_family(l2c_plan *p, int fam) {
    const sa_llama2c_config *c = &p->m->cfg;
    int64_t dim = c->dim, hid = c->hidden_dim;
    int64_t kv_dim = (int64_t)c->dim / c->n_heads * c->n_kv_heads;
    static const char *const part[] = {
        "attention_norm",  "ffn_norm",        "attention.wq",
        "attention.wk",    "attention.wv",    "attention.wo",
        "feed_forward.w1", "feed_forward.w2", "feed_forward.w3",
    };
    const int64_t rows[] = {dim, dim, dim, kv_dim, kv_dim, dim, hid, dim, hid};
    const int64_t cols[] = {0, 0, dim, dim, dim, dim, dim, hid, dim};
    for (int l = 0; l < c->n_layers; l++) {
        char name[96];
        snprintf(name, sizeof(name), "layers.%d.%s.weight", l, part[fam]);
        if (fam <= FAM_NORM_FFN) plan_add(p, name, SA_DTYPE_F32, 1, dim, 0);
        else plan_matrix(p, name, rows[fam], cols[fam]);
    }
}

static void plan_layout(l2c_plan *p) {
    const sa_llama2c_config *c = &p->m->cfg;
    int64_t dim = c->dim, vocab = c->vocab_size, half = c->dim / c->n_heads / 2;
    static const int matrices[] = {FAM_WQ, FAM_WK, FAM_WV, FAM_WO, FAM_W1, FAM_W2, FAM_W3};
    if (c->version == 0) {
        plan_add(p, "tok_embeddings.weight", SA_DTYPE_F32, 2, vocab, dim);
        plan_family(p, FAM_NORM_ATT);
        for (int f = FAM_WQ; f <= FAM_WO; f++) plan_family(p, f);
        plan_family(p, FAM_NORM_FFN);
        for (int f = FAM_W1; f <= FAM_W3; f++) plan_family(p, f);
        plan_add(p, "norm.weight", SA_DTYPE_F32, 1, dim, 0);
        plan_add(p, "freq_cis_real", SA_DTYPE_F32, 2, c->seq_len, half);
        plan_add(p, "freq_cis_imag", SA_DTYPE_F32, 2, c->seq_len, half);
        if (!c->shared_classifier) plan_add(p, "output.weight", SA_DTYPE_F32, 2, vocab, dim);
        return;
    }
    /* v1 and v2: the norms first, in fp32. */
    plan_family(p, FAM_NORM_ATT);
    plan_family(p, FAM_NORM_FFN);
    plan_add(p, "norm.weight", SA_DTYPE_F32, 1, dim, 0);
    plan_matrix(p, "tok_embeddings.weight", vocab, dim);
    for (size_t f = 0; f < sizeof(matrices) / sizeof(matrices[0]); f++)
        plan_family(p, matrices[f]);
    if (!c->shared_classifier) plan_matrix(p, "output.weight", vocab, dim);
}

/* ---- open / close ------------------------------------------------------- */

void sa_llama2c_close(sa_llama2c *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n; i++) free((char *)m->tensors[i].name);
    free(m->tensors);
    free(m->offsets);
    free(m->scales_of);
    free(m->by_name);
    sa_mmap_close(&m->map);
    free(m->label);
    free(m);
}

static sa_status parse_header(sa_llama2c *m, sa_err *err) {
    const char *label = m->label;
    const uint8_t *p = m->base;
    sa_llama2c_config *c = &m->cfg;
    if (m->size < L2C_V0_HEADER)
        return sa_err_set(err, SA_ERR_FORMAT,
                          "%s: file is %zu bytes, shorter than the %d-byte header", label,
                          m->size, L2C_V0_HEADER);
    size_t off = 0;
    if ((uint32_t)rd_i32(p) == L2C_MAGIC) {
        int32_t version = rd_i32(p + 4);
        if (version != 1 && version != 2)
            return sa_err_set(err, SA_ERR_UNSUPPORTED, "%s: unsupported llama2.c version %d",
                              label, (int)version);
        if (m->size < L2C_VX_HEADER)
            return sa_err_set(err, SA_ERR_FORMAT,
                              "%s: file is %zu bytes, shorter than the %d-byte version %d header",
                              label, m->size, L2C_VX_HEADER, (int)version);
        c->version = version;
        off = 8;
    }
    c->dim = rd_i32(p + off);
    c->hidden_dim = rd_i32(p + off + 4);
    c->n_layers = rd_i32(p + off + 8);
    c->n_heads = rd_i32(p + off + 12);
    c->n_kv_heads = rd_i32(p + off + 16);
    c->vocab_size = rd_i32(p + off + 20);
    c->seq_len = rd_i32(p + off + 24);
    if (c->version == 0) {
        /* Legacy: a negative vocab size means a separate classifier follows. */
        c->shared_classifier = c->vocab_size > 0;
        if (c->vocab_size < 0 && c->vocab_size != INT32_MIN) c->vocab_size = -c->vocab_size;
    } else {
        uint8_t flag = p[36];
        if (flag > 1)
            return sa_err_set(err, SA_ERR_FORMAT,
                              "%s: offset 36: shared_classifier flag is %u, not 0 or 1", label,
                              flag);
        c->shared_classifier = flag == 1;
        if (c->version == 2) c->group_size = rd_i32(p + 37);
    }
    return validate_config(label, c, err);
}

static int cmp_by_name(const void *a, const void *b, void *ctx) {
    const sa_st_tensor *t = ctx;
    return strcmp(t[*(const int64_t *)a].name, t[*(const int64_t *)b].name);
}

static sa_status l2c_parse(sa_llama2c *m, sa_err *err) {
    sa_status s = parse_header(m, err);
    if (s != SA_OK) return s;
    const sa_llama2c_config *c = &m->cfg;
    l2c_plan p = {.m = m, .pos = c->version == 0 ? L2C_V0_HEADER : L2C_VX_HEADER};
    plan_layout(&p);
    if (p.nomem) return sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory (tensor list)", m->label);
    if (p.overflow)
        return sa_err_set(err, SA_ERR_FORMAT, "%s: tensor sizes overflow", m->label);
    if (p.pos != (uint64_t)m->size) {
        bool missing = p.pos > (uint64_t)m->size;
        uint64_t diff = missing ? p.pos - m->size : m->size - p.pos;
        return sa_err_set(err, SA_ERR_FORMAT,
                          "%s: file is %zu bytes but the version %d header (dim %d, hidden_dim "
                          "%d, n_layers %d, n_heads %d, n_kv_heads %d, vocab_size %d, seq_len "
                          "%d, %s classifier) implies %llu: %llu bytes %s",
                          m->label, m->size, c->version, (int)c->dim, (int)c->hidden_dim,
                          (int)c->n_layers, (int)c->n_heads, (int)c->n_kv_heads,
                          (int)c->vocab_size, (int)c->seq_len,
                          c->shared_classifier ? "shared" : "separate",
                          (unsigned long long)p.pos, (unsigned long long)diff,
                          missing ? "missing (truncated?)" : "extra at the end");
    }
    for (size_t i = 0; i < m->n; i++) m->tensors[i].data = m->base + m->offsets[i];
    m->by_name = sa_malloc_array(m->n, sizeof(int64_t));
    if (!m->by_name) return sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", m->label);
    for (size_t i = 0; i < m->n; i++) m->by_name[i] = (int64_t)i;
    qsort_r(m->by_name, m->n, sizeof(int64_t), cmp_by_name, m->tensors);
    return SA_OK;
}

static sa_llama2c *l2c_new(const char *label, sa_err *err) {
    sa_llama2c *m = sa_calloc(1, sizeof(*m));
    if (m) m->label = sa_strdup(label);
    if (!m || !m->label) {
        free(m);
        sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", label);
        return NULL;
    }
    return m;
}

sa_status sa_llama2c_open_memory(sa_llama2c **out, const void *data, size_t size,
                                 const char *name, sa_err *err) {
    *out = NULL;
    if (!data && size)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "sa_llama2c_open_memory: NULL data");
    sa_llama2c *m = l2c_new(name ? name : "<memory>", err);
    if (!m) return SA_ERR_NOMEM;
    m->base = data;
    m->size = size;
    sa_status s = l2c_parse(m, err);
    if (s != SA_OK) {
        sa_llama2c_close(m);
        return s;
    }
    *out = m;
    return SA_OK;
}

sa_status sa_llama2c_open(sa_llama2c **out, const char *path, sa_err *err) {
    *out = NULL;
    if (!path) return sa_err_set(err, SA_ERR_INVALID_ARG, "sa_llama2c_open: NULL path");
    sa_llama2c *m = l2c_new(path, err);
    if (!m) return SA_ERR_NOMEM;
    sa_status s = sa_mmap_open(&m->map, path, err);
    if (s == SA_OK) {
        m->base = m->map.data;
        m->size = m->map.size;
        s = l2c_parse(m, err);
    }
    if (s != SA_OK) {
        sa_llama2c_close(m);
        return s;
    }
    *out = m;
    return SA_OK;
}

const sa_llama2c_config *sa_llama2c_config_get(const sa_llama2c *m) { return &m->cfg; }

int64_t sa_llama2c_n_tensors(const sa_llama2c *m) { return m ? (int64_t)m->n : 0; }

const sa_st_tensor *sa_llama2c_tensor_at(const sa_llama2c *m, int64_t i) {
    if (!m || i < 0 || (uint64_t)i >= m->n) return NULL;
    return &m->tensors[i];
}

const sa_st_tensor *sa_llama2c_find(const sa_llama2c *m, const char *name) {
    if (!m || !name || !m->by_name) return NULL;
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const sa_st_tensor *t = &m->tensors[m->by_name[mid]];
        int c = strcmp(t->name, name);
        if (c == 0) return t;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static bool owns(const sa_llama2c *m, const sa_st_tensor *t) {
    return m && t && t >= m->tensors && t < m->tensors + m->n;
}

const sa_st_tensor *sa_llama2c_q8_scales(const sa_llama2c *m, const sa_st_tensor *t) {
    if (!owns(m, t)) return NULL;
    int64_t s = m->scales_of[t - m->tensors];
    return s >= 0 ? &m->tensors[s] : NULL;
}

sa_status sa_llama2c_tensor_to_f32(const sa_llama2c *m, const sa_st_tensor *t, float *dst,
                                   sa_err *err) {
    if (!owns(m, t) || !dst)
        return sa_err_set(err, SA_ERR_INVALID_ARG,
                          "sa_llama2c_tensor_to_f32: tensor does not belong to this checkpoint");
    if (t->dtype == SA_DTYPE_F32) {
        memcpy(dst, t->data, t->nbytes); /* may be unaligned in a memory image */
        return SA_OK;
    }
    const sa_st_tensor *sc = sa_llama2c_q8_scales(m, t);
    if (t->dtype != SA_DTYPE_I8 || !sc)
        return sa_err_set(err, SA_ERR_INTERNAL, "%s: tensor '%s' has no scales", m->label,
                          t->name);
    const int8_t *q = t->data;
    const uint8_t *sp = sc->data;
    size_t gs = (size_t)m->cfg.group_size, n = t->nbytes;
    for (size_t g = 0; g < n / gs; g++) {
        float scale;
        memcpy(&scale, sp + 4 * g, 4);
        for (size_t i = g * gs; i < (g + 1) * gs; i++) dst[i] = (float)q[i] * scale;
    }
    return SA_OK;
}

/* ---- v0 export ----------------------------------------------------------- */

/* The standard RoPE table (theta 10000), as llama2.c's model.py computes it. */
static sa_status write_freqs(sa_atomic_file *af, const sa_llama2c_config *c, bool imag,
                             sa_err *err) {
    int half = c->dim / c->n_heads / 2, hs = c->dim / c->n_heads;
    float *row = sa_malloc_array((size_t)half, sizeof(float));
    if (!row) return sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", af->path);
    sa_status s = SA_OK;
    for (int t = 0; t < c->seq_len && s == SA_OK; t++) {
        for (int i = 0; i < half; i++) {
            float freq = (float)(1.0 / pow(10000.0, (double)(2 * i) / hs));
            float ang = (float)t * freq;
            row[i] = imag ? sinf(ang) : cosf(ang);
        }
        s = sa_atomic_write(af, row, (size_t)half * sizeof(float), err);
    }
    free(row);
    return s;
}

sa_status sa_llama2c_write_v0(const char *path, const sa_llama2c_config *cfg,
                              const float *const *tensors_in_file_order, sa_err *err) {
    if (!path || !cfg || !tensors_in_file_order)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "sa_llama2c_write_v0: NULL argument");
    sa_llama2c_config c = *cfg;
    c.version = 0;
    c.group_size = 0;
    sa_status s = validate_config(path, &c, err);
    if (s != SA_OK) {
        if (err) err->code = SA_ERR_INVALID_ARG;
        return SA_ERR_INVALID_ARG;
    }
    /* Reuse the reader's layout plan for the family sizes. */
    sa_llama2c *m = l2c_new(path, err);
    if (!m) return SA_ERR_NOMEM;
    m->cfg = c;
    l2c_plan p = {.m = m, .pos = L2C_V0_HEADER};
    plan_layout(&p);
    if (p.nomem || p.overflow) {
        sa_llama2c_close(m);
        return sa_err_set(err, SA_ERR_NOMEM, "%s: layout too large", path);
    }
    int64_t L = c.n_layers;
    /* Family f covers tensors [start, start + count) of the plan. */
    size_t counts[SA_LLAMA2C_V0_ARRAYS] = {1, L, L, L, L, L, L, L, L, L, 1, 1, 1,
                                           c.shared_classifier ? 0 : 1};
    for (int f = 0; f < SA_LLAMA2C_V0_ARRAYS; f++) {
        bool optional = f == 11 || f == 12 || counts[f] == 0;
        if (!tensors_in_file_order[f] && !optional) {
            sa_llama2c_close(m);
            return sa_err_set(err, SA_ERR_INVALID_ARG, "sa_llama2c_write_v0: array %d is NULL", f);
        }
    }
    sa_atomic_file af;
    s = sa_atomic_open(&af, path, err);
    if (s != SA_OK) {
        sa_llama2c_close(m);
        return s;
    }
    int32_t hdr[7] = {c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads,
                      c.shared_classifier ? c.vocab_size : -c.vocab_size, c.seq_len};
    s = sa_atomic_write(&af, hdr, sizeof(hdr), err);
    size_t ti = 0;
    for (int f = 0; f < SA_LLAMA2C_V0_ARRAYS && s == SA_OK; f++) {
        size_t bytes = 0;
        for (size_t k = 0; k < counts[f]; k++) bytes += m->tensors[ti + k].nbytes;
        ti += counts[f];
        if (counts[f] == 0) continue;
        if (!tensors_in_file_order[f]) s = write_freqs(&af, &c, f == 12, err);
        else s = sa_atomic_write(&af, tensors_in_file_order[f], bytes, err);
    }
    sa_llama2c_close(m);
    if (s != SA_OK) {
        sa_atomic_abort(&af);
        return s;
    }
    return sa_atomic_commit(&af, err);
}

/* ---- tokenizer.bin -------------------------------------------------------- */

void sa_llama2c_vocab_free(sa_llama2c_vocab *v) {
    if (!v) return;
    free(v->pieces); /* one block: pointer table followed by the piece bytes */
    free(v->lens);
    free(v->scores);
    memset(v, 0, sizeof(*v));
}

/* Walk the records; with fill == false only count them and their bytes. */
static sa_status vocab_walk(sa_llama2c_vocab *v, const uint8_t *p, size_t size,
                            const char *label, int32_t expected_n, bool fill, int32_t *n_out,
                            size_t *bytes_out, sa_err *err) {
    size_t off = 4;
    int32_t n = 0;
    size_t bytes = 0;
    char *blob = fill ? (char *)(v->pieces + v->n) : NULL;
    while (expected_n > 0 ? n < expected_n : off < size) {
        if (size - off < 8)
            return sa_err_set(err, SA_ERR_FORMAT,
                              "%s: offset %zu: token %d: record header truncated (%zu bytes left)",
                              label, off, (int)n, size - off);
        float score;
        memcpy(&score, p + off, 4);
        int32_t len = rd_i32(p + off + 4);
        if (isnan(score))
            return sa_err_set(err, SA_ERR_FORMAT, "%s: offset %zu: token %d: score is NaN", label,
                              off, (int)n);
        if (len < 0 || len > v->max_token_length)
            return sa_err_set(err, SA_ERR_FORMAT,
                              "%s: offset %zu: token %d: length %d outside [0, max_token_length "
                              "%d]",
                              label, off + 4, (int)n, (int)len, (int)v->max_token_length);
        off += 8;
        if ((size_t)len > size - off)
            return sa_err_set(err, SA_ERR_FORMAT,
                              "%s: offset %zu: token %d: %d bytes run past the end of the file",
                              label, off, (int)n, (int)len);
        if (n == INT32_MAX || n >= L2C_MAX_VOCAB)
            return sa_err_set(err, SA_ERR_FORMAT, "%s: more than %d tokens", label,
                              L2C_MAX_VOCAB);
        if (fill) {
            v->pieces[n] = blob;
            memcpy(blob, p + off, (size_t)len);
            blob[len] = '\0';
            blob += (size_t)len + 1;
            v->lens[n] = (uint32_t)len;
            v->scores[n] = score;
        }
        bytes += (size_t)len + 1;
        off += (size_t)len;
        n++;
    }
    if (off != size)
        return sa_err_set(err, SA_ERR_FORMAT, "%s: %zu extra bytes after token %d", label,
                          size - off, (int)n);
    *n_out = n;
    *bytes_out = bytes;
    return SA_OK;
}

sa_status sa_llama2c_vocab_read_memory(sa_llama2c_vocab *v, const void *data, size_t size,
                                       const char *name, int32_t expected_n, sa_err *err) {
    memset(v, 0, sizeof(*v));
    const char *label = name ? name : "<memory>";
    if (expected_n < 0 || expected_n > L2C_MAX_VOCAB)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "%s: expected token count %d out of range",
                          label, (int)expected_n);
    if (size < 4)
        return sa_err_set(err, SA_ERR_FORMAT, "%s: file is %zu bytes, too short for a vocabulary",
                          label, size);
    const uint8_t *p = data;
    v->max_token_length = rd_i32(p);
    if (v->max_token_length < 0 || v->max_token_length > L2C_MAX_TOKEN_LEN) {
        sa_status s = sa_err_set(err, SA_ERR_FORMAT, "%s: max_token_length %d outside [0, %d]",
                                 label, (int)v->max_token_length, L2C_MAX_TOKEN_LEN);
        v->max_token_length = 0;
        return s;
    }
    int32_t n;
    size_t bytes, block;
    sa_status s = vocab_walk(v, p, size, label, expected_n, false, &n, &bytes, err);
    if (s != SA_OK) return s;
    if (!sa_size_mul((size_t)n, sizeof(char *), &block) || !sa_size_add(block, bytes, &block))
        return sa_err_set(err, SA_ERR_NOMEM, "%s: vocabulary too large", label);
    v->pieces = sa_malloc(block);
    v->lens = sa_malloc_array((size_t)n, sizeof(uint32_t));
    v->scores = sa_malloc_array((size_t)n, sizeof(float));
    if (!v->pieces || !v->lens || !v->scores) {
        sa_llama2c_vocab_free(v);
        return sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", label);
    }
    v->n = n; /* vocab_walk places the piece bytes after the n pointers */
    s = vocab_walk(v, p, size, label, expected_n, true, &n, &bytes, err);
    if (s != SA_OK) sa_llama2c_vocab_free(v);
    return s;
}

sa_status sa_llama2c_vocab_read(sa_llama2c_vocab *v, const char *path, int32_t expected_n,
                                sa_err *err) {
    memset(v, 0, sizeof(*v));
    if (!path) return sa_err_set(err, SA_ERR_INVALID_ARG, "sa_llama2c_vocab_read: NULL path");
    sa_mmap map;
    sa_status s = sa_mmap_open(&map, path, err);
    if (s != SA_OK) return s;
    if (map.size > L2C_VOCAB_MAX_FILE)
        s = sa_err_set(err, SA_ERR_RANGE, "%s: %zu bytes is too large for a vocabulary", path,
                       map.size);
    else
        s = sa_llama2c_vocab_read_memory(v, map.data, map.size, path, expected_n, err);
    sa_mmap_close(&map);
    return s;
}
