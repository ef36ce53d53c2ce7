/* minhash.c — exact dedup on normalised text and MinHash + LSH near dedup.
 * See include/sa/minhash.h for the method and its parameters. */
#include "sa/minhash.h"

#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/hash.h"

void sa_minhash_default_opts(sa_minhash_opts *o) {
    o->num_perm = 128;
    o->bands = 32;
    o->shingle = 3;
    o->threshold = 0.8;
    o->seed = 0;
}

static int is_punct(unsigned char c) {
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
           (c >= 123 && c <= 126);
}

sa_status sa_text_normalize(const char *s, size_t n, sa_strbuf *out) {
    if (sa_strbuf_reserve(out, n) != SA_OK) return SA_ERR_NOMEM;
    char *w = out->buf + out->len;
    int pending_space = 0, any = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 32 || c == 127 || is_punct(c)) {
            pending_space = any;
            continue;
        }
        if (pending_space) *w++ = ' ';
        pending_space = 0;
        any = 1;
        *w++ = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    out->len = (size_t)(w - out->buf);
    out->buf[out->len] = '\0';
    return SA_OK;
}

/* 64-bit finaliser (splitmix64): turns salt-xored hashes into independent-
 * looking permutation values. */
static inline uint64_t fmix(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static void sig_update(uint64_t *sig, const uint64_t *salt, uint32_t np, uint64_t h) {
    for (uint32_t p = 0; p < np; p++) {
        uint64_t v = fmix(h ^ salt[p]);
        if (v < sig[p]) sig[p] = v;
    }
}

static void minhash_sig_salted(const sa_minhash_opts *o, const uint64_t *salt, const char *t,
                               size_t n, uint64_t *sig) {
    uint32_t np = o->num_perm, k = o->shingle ? o->shingle : 1;
    for (uint32_t p = 0; p < np; p++) sig[p] = UINT64_MAX;
    /* word starts in a ring of k entries: shingle = bytes from start of word
     * i-k+1 to end of word i (normalised text has single spaces). */
    size_t ring[64];
    if (k > 64) k = 64;
    size_t nw = 0, i = 0;
    int emitted = 0;
    while (i < n) {
        while (i < n && t[i] == ' ') i++;
        if (i >= n) break;
        size_t ws = i;
        while (i < n && t[i] != ' ') i++;
        ring[nw % k] = ws;
        nw++;
        if (nw >= k) {
            size_t st = ring[(nw - k) % k];
            sig_update(sig, salt, np, sa_hash64(t + st, i - st, o->seed));
            emitted = 1;
        }
    }
    if (!emitted) sig_update(sig, salt, np, sa_hash64(t, n, o->seed));
}

static void make_salts(const sa_minhash_opts *o, uint64_t *salt) {
    for (uint32_t p = 0; p < o->num_perm; p++) salt[p] = sa_hash_mix(o->seed, (uint64_t)p + 1);
}

void sa_minhash_signature(const sa_minhash_opts *o, const char *norm, size_t n, uint64_t *sig) {
    uint64_t stack_salt[512] = {0};
    uint64_t *salt = o->num_perm <= 512 ? stack_salt : sa_malloc_array(o->num_perm, 8);
    if (!salt) { /* cannot happen for sane num_perm; degrade to a constant signature */
        for (uint32_t p = 0; p < o->num_perm; p++) sig[p] = 0;
        return;
    }
    make_salts(o, salt);
    minhash_sig_salted(o, salt, norm, n, sig);
    if (salt != stack_salt) free(salt);
}

double sa_minhash_similarity(const uint64_t *a, const uint64_t *b, uint32_t np) {
    if (np == 0) return 0;
    uint32_t eq = 0;
    for (uint32_t p = 0; p < np; p++) eq += a[p] == b[p];
    return (double)eq / np;
}

/* Open-addressing map uint64 key -> uint32 value (a chain head); key 0 is
 * remapped so 0 can mark empty slots. */
typedef struct u64map {
    uint64_t *keys;
    uint32_t *vals;
    size_t cap, used;
} u64map;

static uint64_t fixkey(uint64_t k) { return k ? k : 0x9e3779b97f4a7c15ULL; }

static uint32_t *map_find(u64map *m, uint64_t key) {
    if (!m->cap) return NULL;
    key = fixkey(key);
    size_t mask = m->cap - 1, i = (size_t)fmix(key) & mask;
    while (m->keys[i]) {
        if (m->keys[i] == key) return &m->vals[i];
        i = (i + 1) & mask;
    }
    return NULL;
}

static int map_put(u64map *m, uint64_t key, uint32_t val) {
    if ((m->used + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 1024;
        if (nc < m->cap) return 0;
        uint64_t *nk = sa_calloc(nc, sizeof *nk);
        uint32_t *nv = sa_calloc(nc, sizeof *nv);
        if (!nk || !nv) { free(nk); free(nv); return 0; }
        for (size_t j = 0; j < m->cap; j++) {
            if (!m->keys[j]) continue;
            size_t i = (size_t)fmix(m->keys[j]) & (nc - 1);
            while (nk[i]) i = (i + 1) & (nc - 1);
            nk[i] = m->keys[j];
            nv[i] = m->vals[j];
        }
        free(m->keys); free(m->vals);
        m->keys = nk; m->vals = nv; m->cap = nc;
    }
    key = fixkey(key);
    size_t mask = m->cap - 1, i = (size_t)fmix(key) & mask;
    while (m->keys[i]) {
        if (m->keys[i] == key) { m->vals[i] = val; return 1; }
        i = (i + 1) & mask;
    }
    m->keys[i] = key;
    m->vals[i] = val;
    m->used++;
    return 1;
}

#define NIL UINT32_MAX

struct sa_dedup {
    sa_minhash_opts o;
    uint32_t rows;
    uint64_t *salt;
    u64map exact;      /* normalised-text hash -> item */
    u64map bands;      /* (band, band hash) -> head of chain in link_* */
    uint32_t *link_item, *link_next;
    size_t nlink, caplink;
    uint64_t *sigs;    /* num_perm per item */
    size_t nitems, capitems;
    uint64_t *cur;     /* signature scratch */
    uint32_t *seen;    /* last query stamp per item, to verify a candidate once */
    size_t capseen;
    uint32_t stamp;
    sa_strbuf norm;
};

sa_status sa_dedup_init(sa_dedup **out, const sa_minhash_opts *o, sa_err *err) {
    *out = NULL;
    if (!o->num_perm || !o->bands || o->num_perm % o->bands || o->num_perm > 4096 ||
        !o->shingle || o->shingle > 64 || !(o->threshold > 0 && o->threshold <= 1))
        return sa_err_set(err, SA_ERR_INVALID_ARG,
                          "minhash: need num_perm (1..4096) divisible by bands, shingle 1..64, "
                          "threshold in (0,1] (got %u, %u, %u, %g)",
                          o->num_perm, o->bands, o->shingle, o->threshold);
    sa_dedup *d = sa_calloc(1, sizeof *d);
    if (!d) return sa_err_set(err, SA_ERR_NOMEM, "minhash: out of memory");
    d->o = *o;
    d->rows = o->num_perm / o->bands;
    d->salt = sa_malloc_array(o->num_perm, sizeof(uint64_t));
    d->cur = sa_malloc_array(o->num_perm, sizeof(uint64_t));
    if (!d->salt || !d->cur) {
        sa_dedup_free(d);
        return sa_err_set(err, SA_ERR_NOMEM, "minhash: out of memory");
    }
    make_salts(o, d->salt);
    *out = d;
    return SA_OK;
}

void sa_dedup_free(sa_dedup *d) {
    if (!d) return;
    free(d->salt); free(d->cur); free(d->sigs); free(d->seen);
    free(d->link_item); free(d->link_next);
    free(d->exact.keys); free(d->exact.vals);
    free(d->bands.keys); free(d->bands.vals);
    sa_strbuf_free(&d->norm);
    free(d);
}

uint64_t sa_dedup_count(const sa_dedup *d) { return d->nitems; }

static uint64_t band_key(const sa_dedup *d, uint32_t b, const uint64_t *sig) {
    return sa_hash64(sig + (size_t)b * d->rows, d->rows * sizeof(uint64_t), (uint64_t)b * 0x100000001b3ULL + 1);
}

sa_status sa_dedup_add(sa_dedup *d, const char *text, size_t n, int near_dedup,
                       sa_dedup_result *res, sa_err *err) {
    res->kind = SA_DEDUP_NEW;
    res->dup_of = 0;
    res->similarity = 0;
    sa_strbuf_reset(&d->norm);
    if (sa_text_normalize(text, n, &d->norm) != SA_OK)
        return sa_err_set(err, SA_ERR_NOMEM, "minhash: out of memory");
    const char *t = sa_strbuf_cstr(&d->norm);
    size_t tn = d->norm.len;
    uint64_t eh = sa_hash64(t, tn, d->o.seed ^ 0x5a5a5a5a5a5a5a5aULL);
    uint32_t *hit = map_find(&d->exact, eh);
    if (hit) {
        res->kind = SA_DEDUP_EXACT;
        res->dup_of = *hit;
        res->similarity = 1;
        return SA_OK;
    }
    uint32_t np = d->o.num_perm;
    if (d->nitems >= NIL - 1) return sa_err_set(err, SA_ERR_RANGE, "minhash: too many items");
    minhash_sig_salted(&d->o, d->salt, t, tn, d->cur);
    if (near_dedup) {
        if (++d->stamp == 0) { /* wrapped: clear the stamps */
            if (d->seen) memset(d->seen, 0, d->capseen * sizeof *d->seen);
            d->stamp = 1;
        }
        double best = -1;
        uint64_t best_i = 0;
        for (uint32_t b = 0; b < d->o.bands; b++) {
            uint32_t *h = map_find(&d->bands, band_key(d, b, d->cur));
            for (uint32_t l = h ? *h : NIL; l != NIL; l = d->link_next[l]) {
                uint32_t it = d->link_item[l];
                if (d->seen[it] == d->stamp) continue;
                d->seen[it] = d->stamp;
                double s = sa_minhash_similarity(d->cur, d->sigs + (size_t)it * np, np);
                /* earliest item wins among equals so the choice is order-stable */
                if (s >= d->o.threshold && (s > best || (s == best && it < best_i))) {
                    best = s;
                    best_i = it;
                }
            }
        }
        if (best >= 0) {
            res->kind = SA_DEDUP_NEAR;
            res->dup_of = best_i;
            res->similarity = best;
            return SA_OK;
        }
    }
    /* keep it */
    size_t need_links;
    if (!sa_size_add(d->nlink, d->o.bands, &need_links) ||
        !sa_grow((void **)&d->sigs, &d->capitems, d->nitems + 1, (size_t)np * sizeof(uint64_t)))
        return sa_err_set(err, SA_ERR_NOMEM, "minhash: out of memory");
    size_t capseen = d->capseen, caplink = d->caplink;
    if (!sa_grow((void **)&d->seen, &capseen, d->nitems + 1, sizeof(uint32_t)))
        return sa_err_set(err, SA_ERR_NOMEM, "minhash: out of memory");
    if (capseen > d->capseen)
        memset(d->seen + d->capseen, 0, (capseen - d->capseen) * sizeof(uint32_t));
    d->capseen = capseen;
    if (!sa_grow((void **)&d->link_item, &caplink, need_links, sizeof(uint32_t)))
        return sa_err_set(err, SA_ERR_NOMEM, "minhash: out of memory");
    size_t caplink2 = d->caplink;
    if (!sa_grow((void **)&d->link_next, &caplink2, need_links, sizeof(uint32_t)))
        return sa_err_set(err, SA_ERR_NOMEM, "minhash: out of memory");
    d->caplink = caplink < caplink2 ? caplink : caplink2;
    uint32_t id = (uint32_t)d->nitems;
    memcpy(d->sigs + (size_t)id * np, d->cur, (size_t)np * sizeof(uint64_t));
    if (!map_put(&d->exact, eh, id)) return sa_err_set(err, SA_ERR_NOMEM, "minhash: out of memory");
    if (near_dedup) {
        for (uint32_t b = 0; b < d->o.bands; b++) {
            uint64_t k = band_key(d, b, d->cur);
            uint32_t *h = map_find(&d->bands, k);
            uint32_t l = (uint32_t)d->nlink++;
            d->link_item[l] = id;
            d->link_next[l] = h ? *h : NIL;
            if (!map_put(&d->bands, k, l)) return sa_err_set(err, SA_ERR_NOMEM, "minhash: out of memory");
        }
    }
    d->nitems++;
    return SA_OK;
}
