/* bpe.c — byte-level BPE (GPT-2 family): the byte <-> code point mapping,
 * per-word merging by rank, and decoding.
 *
 * A word (one pre-tokenizer piece) starts as one symbol per byte, the id of
 * the byte's mapped character. The pair with the lowest merge rank merges
 * first, the leftmost one among equal ranks, until no adjacent pair has a
 * merge. Short words use a scan over a small array (no allocation, cache
 * friendly); long words (hostile input can make a whole megabyte one word)
 * use a heap so the cost stays O(n log n).
 */
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/hash.h"
#include "sa/utf8.h"
#include "tok_internal.h"

/* ---- GPT-2 byte mapping ---------------------------------------------------------
 * Printable Latin-1 bytes map to themselves; the other 68 bytes map, in
 * order, to U+0100.. so every byte is a visible character. */
static bool byte_is_printable(unsigned b) {
    return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
}

/* The 68 unprintable bytes are 0x00-0x20, 0x7F-0xA0 and 0xAD, numbered in
 * that order from U+0100. */
uint32_t sa_tok_byte_to_cp(uint8_t b) {
    if (b <= 0x20) return 256u + b;
    if (b >= 0x7f && b <= 0xa0) return 256u + 33u + (b - 0x7fu);
    if (b == 0xad) return 256u + 33u + 34u;
    return b;
}

int sa_tok_cp_to_byte(uint32_t cp) {
    if (cp < 256) return byte_is_printable(cp) ? (int)cp : -1;
    if (cp < 256 + 33) return (int)(cp - 256);
    if (cp < 256 + 33 + 34) return (int)(cp - 256 - 33 + 0x7f);
    if (cp == 256 + 33 + 34) return 0xad;
    return -1;
}

/* ---- preparation (called by sa_tok_finalize) -------------------------------------- */

sa_status sa_tok_bpe_prepare(sa_tokenizer *tok, struct sa_tok_tables *tb, sa_err *err) {
    int16_t cp2byte[324];
    for (int i = 0; i < 324; i++) cp2byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        uint32_t cp = sa_tok_byte_to_cp((uint8_t)b);
        cp2byte[cp] = (int16_t)b;
        char u[4];
        size_t n = sa_utf8_encode(cp, u);
        tok->byte_ids[b] = sa_tok_lookup(tok, u, n);
    }
    /* decoded bytes never exceed the piece's length: the mapping only shrinks */
    size_t total = 0;
    for (int32_t id = 0; id < tok->n_vocab; id++)
        if (!sa_size_add(total, tok->piece_len[id], &total))
            return sa_err_set(err, SA_ERR_NOMEM, "tokenizer: vocabulary too large");
    if (total > UINT32_MAX) return sa_err_set(err, SA_ERR_RANGE, "tokenizer: vocabulary text over 4 GiB");
    uint32_t *off = sa_malloc_array((size_t)tok->n_vocab + 1, sizeof *off);
    char *dec = sa_malloc(total);
    if (!off || !dec) {
        free(off);
        free(dec);
        return sa_err_set(err, SA_ERR_NOMEM, "tokenizer: decode table");
    }
    uint32_t o = 0;
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        off[id] = o;
        const char *p = tok->pieces[id];
        size_t n = tok->piece_len[id];
        if (tok->attrs[id] & (SA_TOKEN_ATTR_CONTROL | SA_TOKEN_ATTR_USER_DEFINED)) {
            /* added tokens hold their text as is, not byte-mapped */
            memcpy(dec + o, p, n);
            o += (uint32_t)n;
            continue;
        }
        size_t i = 0;
        while (i < n) {
            uint32_t cp;
            size_t k = sa_utf8_decode(p + i, n - i, &cp);
            if (k == 0) { /* not UTF-8: keep the byte */
                dec[o++] = p[i++];
                continue;
            }
            if (cp < 324 && cp2byte[cp] >= 0) {
                dec[o++] = (char)cp2byte[cp];
            } else { /* a character outside the mapping: keep it */
                memcpy(dec + o, p + i, k);
                o += (uint32_t)k;
            }
            i += k;
        }
    }
    off[tok->n_vocab] = o;
    return sa_tok_tables_set_decoded(tb, off, dec);
}

sa_status sa_tok_bpe_decode_piece(const sa_tokenizer *tok, int32_t id, sa_strbuf *out) {
    const char *b;
    size_t n = sa_tok_bpe_table_decoded(tok, id, &b);
    if (!b) return SA_ERR_RANGE;
    return sa_strbuf_append(out, b, n);
}

/* ---- merging ------------------------------------------------------------------------ */

#define SCAN_MAX 128 /* words up to this many bytes merge by scanning */

typedef struct heap_item {
    int32_t rank;
    int32_t left;  /* symbol index of the left side */
    int32_t a, b;  /* ids when queued, to detect stale items */
    int32_t merged;
} heap_item;

/* Words repeat (Zipf): a per-call cache of word -> ids skips most merging
 * on long texts. It lives in the call, not the tokenizer, which stays
 * immutable and shareable between threads. */
#define WC_MAX_WORD 1024
#define WC_MAX_ARENA ((size_t)8 << 20)

typedef struct wc_entry {
    uint64_t h;
    uint32_t woff, toff;
    uint16_t wlen, ntok; /* wlen 0: empty slot */
} wc_entry;

typedef struct word_cache {
    wc_entry *e;
    size_t mask, used;
    char *words;
    size_t wlen, wcap;
    int32_t *toks;
    size_t tlen, tcap;
} word_cache;

typedef struct bpe_work {
    const sa_tokenizer *tok;
    sa_tokens *out;
    sa_err *err;
    /* scratch for long words, grown as needed and reused */
    int32_t *id, *prev, *next;
    size_t cap;
    heap_item *heap;
    size_t hcap, hn;
    char *mapped;
    size_t mcap;
    word_cache wc; /* e == NULL: no caching (short texts) */
} bpe_work;

static void wc_reset(word_cache *c) {
    memset(c->e, 0, (c->mask + 1) * sizeof *c->e);
    c->used = c->wlen = c->tlen = 0;
}

static const wc_entry *wc_find(const word_cache *c, const char *s, size_t n, uint64_t h) {
    for (size_t i = h & c->mask;; i = (i + 1) & c->mask) {
        const wc_entry *e = &c->e[i];
        if (e->wlen == 0) return NULL;
        if (e->h == h && e->wlen == n && memcmp(c->words + e->woff, s, n) == 0) return e;
    }
}

/* Remember ids[0..k) for word s; silently does nothing when out of room. */
static void wc_add(word_cache *c, const char *s, size_t n, uint64_t h, const int32_t *ids, size_t k) {
    if (k > UINT16_MAX) return;
    if (c->used + 1 > (c->mask + 1) / 4 * 3 || c->wlen + n > WC_MAX_ARENA ||
        c->tlen + k > WC_MAX_ARENA / 4)
        wc_reset(c);
    if (c->wlen + n > c->wcap && !sa_grow((void **)&c->words, &c->wcap, c->wlen + n, 1)) return;
    if (c->tlen + k > c->tcap && !sa_grow((void **)&c->toks, &c->tcap, c->tlen + k, sizeof *c->toks))
        return;
    size_t i = h & c->mask;
    while (c->e[i].wlen) i = (i + 1) & c->mask;
    c->e[i] = (wc_entry){.h = h, .woff = (uint32_t)c->wlen, .toff = (uint32_t)c->tlen,
                         .wlen = (uint16_t)n, .ntok = (uint16_t)k};
    memcpy(c->words + c->wlen, s, n);
    memcpy(c->toks + c->tlen, ids, k * sizeof *ids);
    c->wlen += n;
    c->tlen += k;
    c->used++;
}

static bool heap_less(const heap_item *x, const heap_item *y) {
    return x->rank < y->rank || (x->rank == y->rank && x->left < y->left);
}

static void heap_push(bpe_work *w, heap_item it) {
    size_t i = w->hn++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(&it, &w->heap[p])) break;
        w->heap[i] = w->heap[p];
        i = p;
    }
    w->heap[i] = it;
}

static heap_item heap_pop(bpe_work *w) {
    heap_item top = w->heap[0], last = w->heap[--w->hn];
    size_t i = 0, n = w->hn;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_less(&w->heap[c + 1], &w->heap[c])) c++;
        if (!heap_less(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n) w->heap[i] = last;
    return top;
}

static sa_status push_all(bpe_work *w, const int32_t *ids, size_t n) {
    sa_tokens *o = w->out;
    if (o->cap - o->n < n && !sa_grow((void **)&o->ids, &o->cap, o->n + n, sizeof *o->ids))
        return sa_err_set(w->err, SA_ERR_NOMEM, "bpe: out of memory");
    memcpy(o->ids + o->n, ids, n * sizeof *ids);
    o->n += n;
    return SA_OK;
}

static sa_status merge_small(bpe_work *w, int32_t *id, size_t n) {
    const sa_tokenizer *tok = w->tok;
    int32_t rk[SCAN_MAX], mid[SCAN_MAX];
    sa_tok_merge_rank_batch(tok, id, n, rk, mid);
    while (n > 1) {
        size_t best = SIZE_MAX;
        int32_t br = INT32_MAX;
        for (size_t i = 0; i + 1 < n; i++)
            if (rk[i] >= 0 && rk[i] < br) {
                br = rk[i];
                best = i;
            }
        if (best == SIZE_MAX) break;
        id[best] = mid[best];
        size_t tail = n - best - 2; /* elements after best+1 */
        memmove(id + best + 1, id + best + 2, tail * sizeof *id);
        if (tail) {
            memmove(rk + best + 1, rk + best + 2, (tail - 1) * sizeof *rk);
            memmove(mid + best + 1, mid + best + 2, (tail - 1) * sizeof *mid);
        }
        n--;
        if (best > 0) rk[best - 1] = sa_tok_merge_rank(tok, id[best - 1], id[best], &mid[best - 1]);
        if (best + 1 < n) rk[best] = sa_tok_merge_rank(tok, id[best], id[best + 1], &mid[best]);
    }
    return push_all(w, id, n);
}

static sa_status reserve_long(bpe_work *w, size_t n) {
    if (n > w->cap) {
        size_t c = n;
        int32_t *a = sa_realloc_array(w->id, c, sizeof *a);
        if (a) w->id = a;
        int32_t *p = a ? sa_realloc_array(w->prev, c, sizeof *p) : NULL;
        if (p) w->prev = p;
        int32_t *x = p ? sa_realloc_array(w->next, c, sizeof *x) : NULL;
        if (x) w->next = x;
        if (!x) return sa_err_set(w->err, SA_ERR_NOMEM, "bpe: word of %zu bytes", n);
        w->cap = c;
    }
    if (n > w->hcap) {
        heap_item *h = sa_realloc_array(w->heap, n, sizeof *h);
        if (!h) return sa_err_set(w->err, SA_ERR_NOMEM, "bpe: word of %zu bytes", n);
        w->heap = h;
        w->hcap = n;
    }
    return SA_OK;
}

static void queue_pair(bpe_work *w, int32_t left) {
    int32_t right = w->next[left];
    if (right < 0) return;
    heap_item it = {.left = left, .a = w->id[left], .b = w->id[right]};
    it.rank = sa_tok_merge_rank(w->tok, it.a, it.b, &it.merged);
    if (it.rank >= 0) heap_push(w, it);
}

static sa_status merge_long(bpe_work *w, const int32_t *init, size_t n) {
    sa_status st = reserve_long(w, n);
    if (st) return st;
    int32_t *id = w->id, *prev = w->prev, *next = w->next;
    for (size_t i = 0; i < n; i++) {
        id[i] = init[i];
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    /* at most n-1 pairs are queued at once: each live pair once, and a merge
     * removes one pair for every one it adds back */
    w->hn = 0;
    for (size_t i = 0; i + 1 < n; i++) queue_pair(w, (int32_t)i);
    while (w->hn) {
        heap_item it = heap_pop(w);
        int32_t l = it.left, r = next[l];
        if (id[l] != it.a || r < 0 || id[r] != it.b || id[l] < 0) continue; /* stale */
        id[l] = it.merged;
        id[r] = -1; /* dead */
        next[l] = next[r];
        if (next[r] >= 0) prev[next[r]] = l;
        if (w->hn + 2 > w->hcap) { /* stale items can pile up; keep room */
            heap_item *h = sa_realloc_array(w->heap, w->hcap * 2, sizeof *h);
            if (!h) return sa_err_set(w->err, SA_ERR_NOMEM, "bpe: out of memory");
            w->heap = h;
            w->hcap *= 2;
        }
        if (prev[l] >= 0) queue_pair(w, prev[l]);
        queue_pair(w, l);
    }
    size_t k = 0;
    for (int32_t i = 0; i >= 0; i = next[i]) id[k++] = id[i];
    return push_all(w, id, k);
}

/* ids of the word's bytes; a byte without a token becomes unk (or fails) */
static sa_status word_bytes(bpe_work *w, const unsigned char *s, size_t n, int32_t *dst) {
    const sa_tokenizer *tok = w->tok;
    for (size_t i = 0; i < n; i++) {
        int32_t id = tok->byte_ids[s[i]];
        if (id < 0) {
            if (tok->unk < 0)
                return sa_err_set(w->err, SA_ERR_NOT_FOUND,
                                  "bpe: byte 0x%02x has no token and there is no unk", s[i]);
            id = tok->unk;
        }
        dst[i] = id;
    }
    return SA_OK;
}

static sa_status encode_word_uncached(bpe_work *w, const char *s, size_t n);

static sa_status encode_word(void *ud, const char *s, size_t n) {
    bpe_work *w = ud;
    if (!w->wc.e || n > WC_MAX_WORD) return encode_word_uncached(w, s, n);
    uint64_t h = sa_hash64(s, n, 0);
    const wc_entry *e = wc_find(&w->wc, s, n, h);
    if (e) return push_all(w, w->wc.toks + e->toff, e->ntok);
    size_t n0 = w->out->n;
    sa_status st = encode_word_uncached(w, s, n);
    if (!st) wc_add(&w->wc, s, n, h, w->out->ids + n0, w->out->n - n0);
    return st;
}

static sa_status encode_word_uncached(bpe_work *w, const char *s, size_t n) {
    const sa_tokenizer *tok = w->tok;
    if (tok->ignore_merges) {
        /* Llama 3: a word that is itself a token is emitted whole */
        size_t need = n * 2;
        if (need > w->mcap) {
            char *m = realloc(w->mapped, need);
            if (!m) return sa_err_set(w->err, SA_ERR_NOMEM, "bpe: out of memory");
            w->mapped = m;
            w->mcap = need;
        }
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t cp = sa_tok_byte_to_cp((uint8_t)s[i]);
            if (cp < 0x80) {
                w->mapped[k++] = (char)cp;
            } else {
                w->mapped[k++] = (char)(0xC0 | (cp >> 6));
                w->mapped[k++] = (char)(0x80 | (cp & 0x3F));
            }
        }
        int32_t id = sa_tok_lookup(tok, w->mapped, k);
        if (id >= 0) return sa_tokens_push(w->out, id) ? sa_err_set(w->err, SA_ERR_NOMEM, "bpe: out of memory") : SA_OK;
    }
    sa_status st;
    if (n <= SCAN_MAX) {
        int32_t id[SCAN_MAX];
        if ((st = word_bytes(w, (const unsigned char *)s, n, id))) return st;
        return merge_small(w, id, n);
    }
    if ((st = reserve_long(w, n))) return st;
    /* merge_long copies init into w->id, so stage the bytes in w->prev */
    if ((st = word_bytes(w, (const unsigned char *)s, n, w->prev))) return st;
    int32_t *init = sa_memdup(w->prev, n * sizeof *init);
    if (!init) return sa_err_set(w->err, SA_ERR_NOMEM, "bpe: out of memory");
    st = merge_long(w, init, n);
    free(init);
    return st;
}

sa_status sa_tok_bpe_encode(const sa_tokenizer *tok, const char *text, size_t len, sa_tokens *out,
                            sa_err *err) {
    sa_strbuf norm = {0};
    if (tok->bpe_add_prefix_space && len && text[0] != ' ') {
        if (sa_strbuf_putc(&norm, ' ') || sa_strbuf_append(&norm, text, len)) {
            sa_strbuf_free(&norm);
            return sa_err_set(err, SA_ERR_NOMEM, "bpe: out of memory");
        }
        text = norm.buf;
        len = norm.len;
    }
    if (tok->nfc && !sa_unicode_is_nfc_quick(text, len)) {
        sa_strbuf tmp = {0};
        sa_status st = sa_unicode_nfc(text, len, &tmp);
        sa_strbuf_free(&norm);
        norm = tmp;
        if (st) {
            sa_strbuf_free(&norm);
            return sa_err_set(err, st, "bpe: NFC normalisation failed");
        }
        text = sa_strbuf_cstr(&norm);
        len = norm.len;
    }
    bpe_work w = {.tok = tok, .out = out, .err = err};
    if (len >= 4096) { /* a cache pays for its setup only on longer texts */
        size_t cap = 1024;
        while (cap < len / 8 && cap < ((size_t)1 << 16)) cap <<= 1;
        w.wc.e = sa_calloc(cap, sizeof *w.wc.e);
        w.wc.mask = cap - 1; /* no cache if the allocation failed: still correct */
    }
    sa_status st = sa_tok_pretok_split(tok, text, len, encode_word, &w, err);
    free(w.wc.e);
    free(w.wc.words);
    free(w.wc.toks);
    free(w.id);
    free(w.prev);
    free(w.next);
    free(w.heap);
    free(w.mapped);
    sa_strbuf_free(&norm);
    return st;
}
