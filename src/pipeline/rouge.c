/* rouge.c — ROUGE-L and the pruned pool (see include/sa/rouge.h for the
 * tokenization rule, the score and the bounds that make pruning exact). */
#include "sa/rouge.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/hash.h"

#define NO_WORD UINT32_MAX /* a query word no member holds: never equal to a member's id */
#define MARGIN 1e-9        /* keeps the derived integer limits on the safe side of rounding */

/* ---- growable arrays ------------------------------------------------------------------- */

typedef struct u32vec {
    uint32_t *v;
    size_t n, cap;
} u32vec;

static bool u32_push(u32vec *a, uint32_t x) {
    if (a->n == a->cap && !sa_grow((void **)&a->v, &a->cap, a->n + 1, sizeof *a->v)) return false;
    a->v[a->n++] = x;
    return true;
}

static bool u32_reserve(u32vec *a, size_t need) {
    return need <= a->cap || sa_grow((void **)&a->v, &a->cap, need, sizeof *a->v);
}

/* ---- word interning ------------------------------------------------------------------------ */

typedef struct word_slot {
    uint64_t hash;
    uint32_t id;  /* NO_WORD = empty slot */
    uint32_t len;
    size_t off;   /* bytes in interner.bytes */
} word_slot;

typedef struct interner {
    word_slot *slot;
    size_t cap, n; /* cap is a power of two */
    char *bytes;
    size_t nbytes, bytes_cap;
    char *scratch; /* the current word, lower-cased */
    size_t scratch_cap;
} interner;

static void interner_free(interner *in) {
    free(in->slot);
    free(in->bytes);
    free(in->scratch);
    memset(in, 0, sizeof *in);
}

static bool interner_rehash(interner *in) {
    size_t nc = in->cap ? in->cap * 2 : 1024;
    word_slot *ns = malloc(nc * sizeof *ns);
    if (!ns) return false;
    for (size_t i = 0; i < nc; i++) ns[i].id = NO_WORD;
    for (size_t i = 0; i < in->cap; i++) {
        if (in->slot[i].id == NO_WORD) continue;
        size_t j = (size_t)in->slot[i].hash & (nc - 1);
        while (ns[j].id != NO_WORD) j = (j + 1) & (nc - 1);
        ns[j] = in->slot[i];
    }
    free(in->slot);
    in->slot = ns;
    in->cap = nc;
    return true;
}

/* The id of w[0..len); added when absent and add is set, else NO_WORD.
 * Returns false when memory runs out. */
static bool intern(interner *in, const char *w, size_t len, bool add, uint32_t *id) {
    uint64_t h = sa_hash64(w, len, 0x726f756765ULL);
    if (in->cap) {
        size_t j = (size_t)h & (in->cap - 1);
        for (; in->slot[j].id != NO_WORD; j = (j + 1) & (in->cap - 1)) {
            const word_slot *s = &in->slot[j];
            if (s->hash == h && s->len == len && memcmp(in->bytes + s->off, w, len) == 0) {
                *id = s->id;
                return true;
            }
        }
    }
    if (!add) {
        *id = NO_WORD;
        return true;
    }
    if (in->n >= NO_WORD - 1 || len > UINT32_MAX) return false;
    if ((in->n + 1) * 2 > in->cap && !interner_rehash(in)) return false;
    if (in->nbytes + len > in->bytes_cap &&
        !sa_grow((void **)&in->bytes, &in->bytes_cap, in->nbytes + len + 1, 1))
        return false;
    memcpy(in->bytes + in->nbytes, w, len);
    size_t j = (size_t)h & (in->cap - 1);
    while (in->slot[j].id != NO_WORD) j = (j + 1) & (in->cap - 1);
    in->slot[j] = (word_slot){.hash = h, .id = (uint32_t)in->n, .len = (uint32_t)len, .off = in->nbytes};
    in->nbytes += len;
    *id = (uint32_t)in->n++;
    return true;
}

static bool is_word_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

/* Word ids of text appended to out (out->n reset first). */
static bool tokenize(interner *in, const char *text, bool add, u32vec *out) {
    out->n = 0;
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        if (!is_word_byte(*p)) {
            p++;
            continue;
        }
        const unsigned char *b = p;
        while (*p && is_word_byte(*p)) p++;
        size_t len = (size_t)(p - b);
        if (len > in->scratch_cap && !sa_grow((void **)&in->scratch, &in->scratch_cap, len, 1)) return false;
        for (size_t i = 0; i < len; i++)
            in->scratch[i] = (char)((b[i] >= 'A' && b[i] <= 'Z') ? b[i] + 32 : b[i]);
        uint32_t id;
        if (!intern(in, in->scratch, len, add, &id) || !u32_push(out, id)) return false;
    }
    return true;
}

size_t sa_rouge_count_words(const char *text) {
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p;) {
        if (!is_word_byte(*p)) {
            p++;
            continue;
        }
        n++;
        while (*p && is_word_byte(*p)) p++;
    }
    return n;
}

/* ---- LCS and the score ------------------------------------------------------------------------ */

uint32_t sa_rouge_lcs(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, uint32_t *row) {
    /* row[j] = LCS(a[0..i), b[0..j)) for the current i */
    memset(row, 0, (nb + 1) * sizeof *row);
    for (size_t i = 0; i < na; i++) {
        uint32_t diag = 0, ai = a[i];
        for (size_t j = 1; j <= nb; j++) {
            uint32_t up = row[j];
            if (ai == b[j - 1]) row[j] = diag + 1;
            else if (row[j - 1] > up) row[j] = row[j - 1];
            diag = up;
        }
    }
    return row[nb];
}

static double f_of(uint32_t l, size_t na, size_t nb) { return na + nb ? 2.0 * (double)l / (double)(na + nb) : 0.0; }

double sa_rouge_l(const char *a, const char *b) {
    interner in = {0};
    u32vec x = {0}, y = {0};
    uint32_t *row = NULL;
    double f = -1;
    if (tokenize(&in, a, true, &x) && tokenize(&in, b, true, &y)) {
        if (x.n == 0 || y.n == 0) f = 0;
        else if ((row = sa_malloc_array(y.n + 1, sizeof *row)) != NULL)
            f = f_of(sa_rouge_lcs(x.v, x.n, y.v, y.n, row), x.n, y.n);
    }
    free(row);
    free(x.v);
    free(y.v);
    interner_free(&in);
    return f;
}

/* ---- the pool ---------------------------------------------------------------------------------- */

struct sa_rouge_pool {
    interner in;
    /* members: word sequences, and sorted distinct (word, count) lists */
    u32vec seq;        /* all sequences, concatenated */
    u32vec uid, ucnt;  /* all distinct lists, concatenated */
    size_t *seq_off;   /* [n + 1] */
    size_t *u_off;     /* [n + 1] */
    size_t n, seq_off_cap, u_off_cap;
    /* inverted index: word id -> (member, count in member) pairs, members ascending */
    u32vec *post;
    size_t post_cap;   /* entries allocated in post (>= in.n) */
    /* query scratch */
    u32vec q, qs, qid, qcnt, order, cand, row;
    uint32_t *stamp;   /* [n]: last query that reached the member */
    uint32_t *acc;     /* [n]: shared tokens in the query words read so far (valid when stamped) */
    size_t stamp_cap;
    uint32_t query_no;
    sa_rouge_pool_stats st;
};

sa_status sa_rouge_pool_new(sa_rouge_pool **out, sa_err *err) {
    *out = sa_calloc(1, sizeof **out);
    if (!*out) return sa_err_set(err, SA_ERR_NOMEM, "rouge pool: out of memory");
    return SA_OK;
}

void sa_rouge_pool_free(sa_rouge_pool *p) {
    if (!p) return;
    interner_free(&p->in);
    free(p->seq.v);
    free(p->uid.v);
    free(p->ucnt.v);
    free(p->seq_off);
    free(p->u_off);
    for (size_t i = 0; i < p->post_cap; i++) free(p->post[i].v);
    free(p->post);
    u32vec *s[] = {&p->q, &p->qs, &p->qid, &p->qcnt, &p->order, &p->cand, &p->row};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) free(s[i]->v);
    free(p->stamp);
    free(p->acc);
    free(p);
}

size_t sa_rouge_pool_size(const sa_rouge_pool *p) { return p->n; }

void sa_rouge_pool_get_stats(const sa_rouge_pool *p, sa_rouge_pool_stats *out) {
    *out = p->st;
    out->pruned = out->pairs - out->lcs_computed;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorted distinct ids of v[0..n) with their counts into ids/cnt (via the scratch sorted copy). */
static bool distinct_counts(const uint32_t *v, size_t n, u32vec *sorted, u32vec *ids, u32vec *cnt) {
    sorted->n = ids->n = cnt->n = 0;
    if (!u32_reserve(sorted, n) || !u32_reserve(ids, n) || !u32_reserve(cnt, n)) return false;
    memcpy(sorted->v, v, n * sizeof *v);
    sorted->n = n;
    qsort(sorted->v, n, sizeof *v, cmp_u32);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && sorted->v[j] == sorted->v[i]) j++;
        ids->v[ids->n++] = sorted->v[i];
        cnt->v[cnt->n++] = (uint32_t)(j - i);
        i = j;
    }
    return true;
}

sa_status sa_rouge_pool_add(sa_rouge_pool *p, const char *text, size_t *index, sa_err *err) {
    if (p->n >= UINT32_MAX - 1) return sa_err_set(err, SA_ERR_RANGE, "rouge pool: too many members");
    if (!sa_grow((void **)&p->seq_off, &p->seq_off_cap, p->n + 2, sizeof *p->seq_off) ||
        !sa_grow((void **)&p->u_off, &p->u_off_cap, p->n + 2, sizeof *p->u_off))
        return sa_err_set(err, SA_ERR_NOMEM, "rouge pool: out of memory");
    if (p->n == 0) p->seq_off[0] = p->u_off[0] = 0;
    if (!tokenize(&p->in, text, true, &p->q)) return sa_err_set(err, SA_ERR_NOMEM, "rouge pool: out of memory");
    if (p->in.n > p->post_cap) {
        size_t old = p->post_cap;
        if (!sa_grow((void **)&p->post, &p->post_cap, p->in.n, sizeof *p->post))
            return sa_err_set(err, SA_ERR_NOMEM, "rouge pool: out of memory");
        memset(p->post + old, 0, (p->post_cap - old) * sizeof *p->post);
    }
    if (!distinct_counts(p->q.v, p->q.n, &p->qs, &p->qid, &p->qcnt) || !u32_reserve(&p->seq, p->seq.n + p->q.n) ||
        !u32_reserve(&p->uid, p->uid.n + p->qid.n) || !u32_reserve(&p->ucnt, p->ucnt.n + p->qid.n))
        return sa_err_set(err, SA_ERR_NOMEM, "rouge pool: out of memory");
    /* postings first: a failure there leaves the member absent everywhere but in some lists,
       which only ever adds candidates (each is checked exactly) */
    uint32_t m = (uint32_t)p->n;
    for (size_t i = 0; i < p->qid.n; i++)
        if (!u32_push(&p->post[p->qid.v[i]], m) || !u32_push(&p->post[p->qid.v[i]], p->qcnt.v[i]))
            return sa_err_set(err, SA_ERR_NOMEM, "rouge pool: out of memory");
    if (p->n + 1 > p->stamp_cap) {
        size_t old = p->stamp_cap, acap = p->stamp_cap;
        if (!sa_grow((void **)&p->acc, &acap, p->n + 1, sizeof *p->acc) ||
            !sa_grow((void **)&p->stamp, &p->stamp_cap, p->n + 1, sizeof *p->stamp))
            return sa_err_set(err, SA_ERR_NOMEM, "rouge pool: out of memory");
        memset(p->stamp + old, 0, (p->stamp_cap - old) * sizeof *p->stamp);
    }
    memcpy(p->seq.v + p->seq.n, p->q.v, p->q.n * sizeof *p->q.v);
    p->seq.n += p->q.n;
    memcpy(p->uid.v + p->uid.n, p->qid.v, p->qid.n * sizeof *p->qid.v);
    memcpy(p->ucnt.v + p->ucnt.n, p->qcnt.v, p->qcnt.n * sizeof *p->qcnt.v);
    p->uid.n += p->qid.n;
    p->ucnt.n += p->qcnt.n;
    p->n++;
    p->seq_off[p->n] = p->seq.n;
    p->u_off[p->n] = p->uid.n;
    if (index) *index = m;
    return SA_OK;
}

static void set_out(double best, int64_t at, bool found, double *bs, int64_t *bi, bool *fo) {
    if (bs) *bs = best;
    if (bi) *bi = at;
    if (fo) *fo = found;
}

/* Tokenize the query (unknown words: NO_WORD) and size the LCS row. */
static sa_status prepare_query(sa_rouge_pool *p, const char *text, double threshold, sa_err *err) {
    if (!(threshold > 0 && threshold <= 1))
        return sa_err_set(err, SA_ERR_INVALID_ARG, "rouge pool: threshold %g outside (0, 1]", threshold);
    if (!tokenize(&p->in, text, false, &p->q)) return sa_err_set(err, SA_ERR_NOMEM, "rouge pool: out of memory");
    p->st.queries++;
    p->st.pairs += p->n;
    return SA_OK;
}

static bool row_for(sa_rouge_pool *p, size_t nb) { return u32_reserve(&p->row, nb + 1); }

sa_status sa_rouge_pool_max_brute(sa_rouge_pool *p, const char *text, double threshold, double *best_score,
                                  int64_t *best_index, bool *found, sa_err *err) {
    sa_status s = prepare_query(p, text, threshold, err);
    if (s) return s;
    double best = 0;
    int64_t at = -1;
    size_t lq = p->q.n;
    for (size_t m = 0; lq && m < p->n; m++) {
        size_t lm = p->seq_off[m + 1] - p->seq_off[m];
        if (!row_for(p, lm)) return sa_err_set(err, SA_ERR_NOMEM, "rouge pool: out of memory");
        uint32_t l = lm ? sa_rouge_lcs(p->q.v, lq, p->seq.v + p->seq_off[m], lm, p->row.v) : 0;
        p->st.lcs_computed++;
        double f = f_of(l, lq, lm);
        if (f > best || at < 0) best = f, at = (int64_t)m;
    }
    set_out(best, at, at >= 0 && best >= threshold, best_score, best_index, found);
    return SA_OK;
}

/* Query words ordered by document frequency, rarest first (ties by id: deterministic). */
typedef struct df_key {
    uint32_t df, idx;
} df_key;

static int cmp_df(const void *a, const void *b) {
    const df_key *x = a, *y = b;
    if (x->df != y->df) return x->df < y->df ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

sa_status sa_rouge_pool_max(sa_rouge_pool *p, const char *text, double threshold, double *best_score,
                            int64_t *best_index, bool *found, sa_err *err) {
    sa_status s = prepare_query(p, text, threshold, err);
    if (s) return s;
    size_t lq = p->q.n;
    double best = 0;
    int64_t at = -1;
    if (lq == 0 || p->n == 0) {
        set_out(0, -1, false, best_score, best_index, found);
        return SA_OK;
    }
    if (!distinct_counts(p->q.v, lq, &p->qs, &p->qid, &p->qcnt))
        return sa_err_set(err, SA_ERR_NOMEM, "rouge pool: out of memory");
    size_t nd = p->qid.n;
    /* F >= t needs S >= t*lq/(2-t) shared tokens and a length in [t*lq/(2-t), (2-t)*lq/t] */
    double t = threshold;
    double need = t * (double)lq / (2.0 - t);
    size_t min_s = (size_t)ceil(need - MARGIN);
    if (min_s < 1) min_s = 1;
    size_t len_lo = min_s;
    double hi = (2.0 - t) * (double)lq / t + MARGIN;
    size_t len_hi = hi >= (double)SIZE_MAX ? SIZE_MAX : (size_t)floor(hi);
    if (min_s > lq) { /* cannot happen for t <= 1; kept for safety */
        set_out(0, -1, false, best_score, best_index, found);
        return SA_OK;
    }
    size_t prefix = lq - min_s + 1; /* token instances whose words' postings are read */
    /* rarest words first; the order array holds df_key pairs packed as two u32 */
    if (!u32_reserve(&p->order, 2 * nd)) return sa_err_set(err, SA_ERR_NOMEM, "rouge pool: out of memory");
    df_key *ord = (df_key *)(void *)p->order.v;
    for (size_t i = 0; i < nd; i++) {
        uint32_t w = p->qid.v[i];
        ord[i].df = w == NO_WORD ? 0 : (uint32_t)(p->post[w].n / 2);
        ord[i].idx = (uint32_t)i;
    }
    qsort(ord, nd, sizeof *ord, cmp_df);
    if (++p->query_no == 0) { /* stamps wrapped: clear them */
        memset(p->stamp, 0, p->stamp_cap * sizeof *p->stamp);
        p->query_no = 1;
    }
    uint32_t qn = p->query_no;
    p->cand.n = 0;
    size_t covered = 0;
    for (size_t k = 0; k < nd && covered < prefix; k++) {
        size_t i = ord[k].idx;
        uint32_t cq = p->qcnt.v[i];
        covered += cq;
        uint32_t w = p->qid.v[i];
        if (w == NO_WORD) continue;
        const u32vec *pl = &p->post[w];
        if (!u32_reserve(&p->cand, p->cand.n + pl->n / 2))
            return sa_err_set(err, SA_ERR_NOMEM, "rouge pool: out of memory");
        for (size_t j = 0; j < pl->n; j += 2) {
            uint32_t m = pl->v[j], cm = pl->v[j + 1];
            if (p->stamp[m] != qn) {
                p->stamp[m] = qn;
                size_t lm = p->seq_off[m + 1] - p->seq_off[m];
                if (lm < len_lo || lm > len_hi) {
                    p->acc[m] = UINT32_MAX; /* out of the length window: never a candidate */
                    continue;
                }
                p->acc[m] = 0;
                p->cand.v[p->cand.n++] = m;
            }
            if (p->acc[m] != UINT32_MAX) p->acc[m] += cq < cm ? cq : cm;
        }
    }
    /* query tokens whose words were not read: at most that many more shared tokens */
    uint32_t rest = (uint32_t)(lq - (covered < lq ? covered : lq));
    p->st.candidates += p->cand.n;
    bool have = false; /* best >= threshold */
    for (size_t c = 0; c < p->cand.n; c++) {
        uint32_t m = p->cand.v[c];
        size_t lm = p->seq_off[m + 1] - p->seq_off[m];
        double cur0 = have ? best : t;
        uint64_t ub = (uint64_t)p->acc[m] + rest; /* S <= shared so far + tokens not read */
        if (ub > lm) ub = lm;
        if (f_of((uint32_t)ub, lq, lm) < cur0) continue;
        /* exact shared token count: merge the two sorted (word, count) lists */
        const uint32_t *mi = p->uid.v + p->u_off[m], *mc = p->ucnt.v + p->u_off[m];
        size_t mn = p->u_off[m + 1] - p->u_off[m];
        uint32_t sh = 0;
        for (size_t i = 0, j = 0; i < nd && j < mn;) {
            if (p->qid.v[i] < mi[j]) i++;
            else if (p->qid.v[i] > mi[j]) j++;
            else {
                sh += p->qcnt.v[i] < mc[j] ? p->qcnt.v[i] : mc[j];
                i++, j++;
            }
        }
        double bound = f_of(sh, lq, lm);
        double cur = have ? best : t;
        if (bound < cur) continue;
        if (!row_for(p, lm)) return sa_err_set(err, SA_ERR_NOMEM, "rouge pool: out of memory");
        uint32_t l = sa_rouge_lcs(p->q.v, lq, p->seq.v + p->seq_off[m], lm, p->row.v);
        p->st.lcs_computed++;
        double f = f_of(l, lq, lm);
        if (at < 0 || f > best || (f == best && (int64_t)m < at)) {
            best = f;
            at = (int64_t)m;
        }
        if (best >= t) have = true;
    }
    set_out(at < 0 ? 0 : best, at, have, best_score, best_index, found);
    return SA_OK;
}
