/* tokenizer.c — the tokenizer object: builder, lookup tables and the public
 * API of tokenizer.h (load dispatch, encode with special-token splitting,
 * decode dispatch, accessors).
 *
 * Tables are rebuilt from scratch by sa_tok_finalize, so a loader may call it
 * again after growing the vocabulary (tokenizer_config.json adds tokens that
 * vocab.json lacks). Merges are kept as strings until then because a merge
 * may name a piece whose id is only known once every piece is set.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sa/alloc.h"
#include "sa/hash.h"
#include "sa/utf8.h"
#include "tok_internal.h"

#define SA_TOK_MAX_VOCAB (1 << 24)
#define SA_TOK_MAX_PIECE (1 << 16)

typedef struct sa_tok_merge_item {
    uint32_t loff, llen, roff, rlen; /* offsets into the merge list's arena */
    int32_t rank;
} sa_tok_merge_item;

struct sa_tok_merge_list {
    sa_tok_merge_item *items;
    size_t n, cap;
    sa_strbuf arena;
};

/* ---- sa_tokens ------------------------------------------------------------- */

sa_status sa_tokens_push(sa_tokens *t, int32_t id) {
    if (t->n == t->cap && !sa_grow((void **)&t->ids, &t->cap, t->n + 1, sizeof *t->ids))
        return SA_ERR_NOMEM;
    t->ids[t->n++] = id;
    return SA_OK;
}

void sa_tokens_free(sa_tokens *t) {
    if (!t) return;
    free(t->ids);
    t->ids = NULL;
    t->n = t->cap = 0;
}

/* ---- builder ------------------------------------------------------------------- */

static void tables_free(struct sa_tok_tables *tb);

sa_tokenizer *sa_tok_new(int32_t n_vocab) {
    if (n_vocab < 0 || n_vocab > SA_TOK_MAX_VOCAB) return NULL;
    sa_tokenizer *tok = sa_calloc(1, sizeof *tok);
    if (!tok) return NULL;
    tok->bos = tok->eos = tok->unk = tok->pad = tok->sep = tok->cls = tok->mask = tok->eot = -1;
    for (int i = 0; i < 256; i++) tok->byte_ids[i] = -1;
    if (sa_tok_resize(tok, n_vocab) != SA_OK) {
        free(tok);
        return NULL;
    }
    return tok;
}

sa_status sa_tok_resize(sa_tokenizer *tok, int32_t n_vocab) {
    if (n_vocab < tok->n_vocab || n_vocab > SA_TOK_MAX_VOCAB) return SA_ERR_RANGE;
    size_t n = (size_t)n_vocab, old = (size_t)tok->n_vocab;
    if (n == 0) n = 1; /* keep the arrays non-NULL */
    char **p = sa_realloc_array(tok->pieces, n, sizeof *p);
    if (!p) return SA_ERR_NOMEM;
    tok->pieces = p;
    uint32_t *pl = sa_realloc_array(tok->piece_len, n, sizeof *pl);
    if (!pl) return SA_ERR_NOMEM;
    tok->piece_len = pl;
    float *sc = sa_realloc_array(tok->scores, n, sizeof *sc);
    if (!sc) return SA_ERR_NOMEM;
    tok->scores = sc;
    uint32_t *at = sa_realloc_array(tok->attrs, n, sizeof *at);
    if (!at) return SA_ERR_NOMEM;
    tok->attrs = at;
    for (size_t i = old; i < n; i++) {
        p[i] = NULL;
        pl[i] = 0;
        sc[i] = 0.0f;
        at[i] = SA_TOKEN_ATTR_NORMAL;
    }
    tok->n_vocab = n_vocab;
    return SA_OK;
}

sa_status sa_tok_set_piece(sa_tokenizer *tok, int32_t id, const char *piece, size_t len,
                           float score, uint32_t attrs) {
    if (id < 0 || id >= tok->n_vocab) return SA_ERR_RANGE;
    if (len > SA_TOK_MAX_PIECE) return SA_ERR_RANGE;
    char *s = sa_malloc(len + 1);
    if (!s) return SA_ERR_NOMEM;
    if (len) memcpy(s, piece, len);
    s[len] = '\0';
    free(tok->pieces[id]);
    tok->pieces[id] = s;
    tok->piece_len[id] = (uint32_t)len;
    tok->scores[id] = score;
    tok->attrs[id] = attrs;
    return SA_OK;
}

sa_status sa_tok_add_merge(sa_tokenizer *tok, const char *left, size_t llen, const char *right,
                           size_t rlen, int32_t rank) {
    if (llen > SA_TOK_MAX_PIECE || rlen > SA_TOK_MAX_PIECE || rank < 0) return SA_ERR_RANGE;
    struct sa_tok_merge_list *ml = tok->pending_merges;
    if (!ml) {
        ml = sa_calloc(1, sizeof *ml);
        if (!ml) return SA_ERR_NOMEM;
        tok->pending_merges = ml;
    }
    if (ml->arena.len > UINT32_MAX - llen - rlen - 2) return SA_ERR_RANGE;
    if (ml->n == ml->cap && !sa_grow((void **)&ml->items, &ml->cap, ml->n + 1, sizeof *ml->items))
        return SA_ERR_NOMEM;
    sa_tok_merge_item it = {.loff = (uint32_t)ml->arena.len, .llen = (uint32_t)llen,
                            .roff = (uint32_t)(ml->arena.len + llen), .rlen = (uint32_t)rlen,
                            .rank = rank};
    if (sa_strbuf_reserve(&ml->arena, llen + rlen) != SA_OK) return SA_ERR_NOMEM;
    sa_strbuf_append(&ml->arena, left, llen);
    sa_strbuf_append(&ml->arena, right, rlen);
    ml->items[ml->n++] = it;
    return SA_OK;
}

/* ---- tables ------------------------------------------------------------------- */

#define SA_TOK_MAX_EOG 16

struct str_slot {
    int32_t id;
    uint32_t tag; /* high half of the hash */
};

struct merge_slot {
    uint64_t key;
    int32_t rank, id;
};

struct sa_tok_tables {
    /* piece string -> id: open addressing, id -1 = empty; the hash tag
     * spares most probes a visit to the piece itself */
    struct str_slot *str_slots;
    uint64_t str_mask;
    /* (a, b) -> (rank, merged id), packed so a probe touches one cache line */
    struct merge_slot *mslots; /* key UINT64_MAX = empty */
    uint64_t mmask;
    /* tokens matched verbatim in text (CONTROL and USER_DEFINED), longest first */
    int32_t *specials;
    size_t n_specials;
    uint8_t special_first[256]; /* bit 0: some USER_DEFINED starts with byte; bit 1: CONTROL */
    int32_t eog[SA_TOK_MAX_EOG];
    int n_eog;
    size_t n_merges_dropped;
    /* BPE: decoded bytes of every id (byte-level mapping undone) */
    uint32_t *dec_off; /* n_vocab + 1 offsets into dec */
    char *dec;
};

static void tables_free(struct sa_tok_tables *tb) {
    if (!tb) return;
    free(tb->str_slots);
    free(tb->mslots);
    free(tb->specials);
    free(tb->dec_off);
    free(tb->dec);
    free(tb);
}

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static int32_t table_lookup(const sa_tokenizer *tok, const struct sa_tok_tables *tb, const char *s,
                            size_t len) {
    uint64_t hv = sa_hash64(s, len, 0);
    uint32_t tag = (uint32_t)(hv >> 32);
    for (uint64_t h = hv & tb->str_mask;; h = (h + 1) & tb->str_mask) {
        const struct str_slot *sl = &tb->str_slots[h];
        if (sl->id < 0) return -1;
        if (sl->tag == tag && tok->piece_len[sl->id] == len && memcmp(tok->pieces[sl->id], s, len) == 0)
            return sl->id;
    }
}

int32_t sa_tok_lookup(const sa_tokenizer *tok, const char *s, size_t len) {
    if (!tok->tables) return -1;
    return table_lookup(tok, tok->tables, s, len);
}

int32_t sa_tok_merge_rank(const sa_tokenizer *tok, int32_t a, int32_t b, int32_t *merged) {
    const struct sa_tok_tables *tb = tok->tables;
    if (!tb || !tb->mslots || a < 0 || b < 0) return -1;
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    uint64_t h = mix64(key) & tb->mmask;
    for (;;) {
        const struct merge_slot *sl = &tb->mslots[h];
        if (sl->key == key) {
            if (merged) *merged = sl->id;
            return sl->rank;
        }
        if (sl->key == UINT64_MAX) return -1;
        h = (h + 1) & tb->mmask;
    }
}

void sa_tok_merge_rank_batch(const sa_tokenizer *tok, const int32_t *ids, size_t n, int32_t *rank,
                             int32_t *merged) {
    const struct sa_tok_tables *tb = tok->tables;
    if (n < 2) return;
    if (!tb || !tb->mslots) {
        for (size_t i = 0; i + 1 < n; i++) rank[i] = -1;
        return;
    }
    /* all probes of a word are independent: start every cache miss first */
    for (size_t i = 0; i + 1 < n; i++) {
        uint64_t key = ((uint64_t)(uint32_t)ids[i] << 32) | (uint32_t)ids[i + 1];
        __builtin_prefetch(&tb->mslots[mix64(key) & tb->mmask]);
    }
    for (size_t i = 0; i + 1 < n; i++) rank[i] = sa_tok_merge_rank(tok, ids[i], ids[i + 1], &merged[i]);
}

static uint64_t pow2_at_least(uint64_t n) {
    uint64_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

static sa_status build_string_table(sa_tokenizer *tok, struct sa_tok_tables *tb, sa_err *err) {
    uint64_t cap = pow2_at_least((uint64_t)tok->n_vocab * 2 + 1);
    tb->str_slots = sa_malloc_array(cap, sizeof *tb->str_slots);
    if (!tb->str_slots) return sa_err_set(err, SA_ERR_NOMEM, "tokenizer: string table");
    for (uint64_t i = 0; i < cap; i++) tb->str_slots[i].id = -1;
    tb->str_mask = cap - 1;
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        if (!tok->pieces[id])
            return sa_err_set(err, SA_ERR_FORMAT, "tokenizer: token id %d has no piece", id);
        uint64_t hv = sa_hash64(tok->pieces[id], tok->piece_len[id], 0);
        uint32_t tag = (uint32_t)(hv >> 32);
        for (uint64_t h = hv & tb->str_mask;; h = (h + 1) & tb->str_mask) {
            struct str_slot *sl = &tb->str_slots[h];
            if (sl->id < 0) {
                sl->id = id;
                sl->tag = tag;
                break;
            }
            /* a duplicate piece keeps its first (lowest) id, as lookups must be stable */
            if (sl->tag == tag && tok->piece_len[sl->id] == tok->piece_len[id] &&
                memcmp(tok->pieces[sl->id], tok->pieces[id], tok->piece_len[id]) == 0)
                break;
        }
    }
    return SA_OK;
}

static sa_status build_merge_table(sa_tokenizer *tok, struct sa_tok_tables *tb, sa_err *err) {
    struct sa_tok_merge_list *ml = tok->pending_merges;
    if (!ml || ml->n == 0) return SA_OK;
    uint64_t cap = pow2_at_least((uint64_t)ml->n * 2 + 1);
    tb->mslots = sa_malloc_array(cap, sizeof *tb->mslots);
    if (!tb->mslots)
        return sa_err_set(err, SA_ERR_NOMEM, "tokenizer: merge table of %zu merges", ml->n);
    for (uint64_t i = 0; i < cap; i++) tb->mslots[i].key = UINT64_MAX;
    tb->mmask = cap - 1;
    sa_strbuf joined = {0};
    const char *arena = ml->arena.buf;
    for (size_t i = 0; i < ml->n; i++) {
        const sa_tok_merge_item *it = &ml->items[i];
        int32_t a = table_lookup(tok, tb, arena + it->loff, it->llen);
        int32_t b = table_lookup(tok, tb, arena + it->roff, it->rlen);
        sa_strbuf_reset(&joined);
        if (sa_strbuf_append(&joined, arena + it->loff, (size_t)it->llen + it->rlen) != SA_OK) {
            sa_strbuf_free(&joined);
            return sa_err_set(err, SA_ERR_NOMEM, "tokenizer: merge table");
        }
        int32_t m = table_lookup(tok, tb, joined.buf, joined.len);
        if (a < 0 || b < 0 || m < 0) {
            /* HF refuses such files; llama.cpp skips the merge. Skipping is
             * harmless: a merge whose result is not a token can never fire. */
            tb->n_merges_dropped++;
            continue;
        }
        uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
        uint64_t h = mix64(key) & tb->mmask;
        for (;;) {
            struct merge_slot *sl = &tb->mslots[h];
            if (sl->key == UINT64_MAX) {
                sl->key = key;
                sl->rank = it->rank;
                sl->id = m;
                break;
            }
            if (sl->key == key) { /* duplicate merge: the better rank wins */
                if (it->rank < sl->rank) sl->rank = it->rank;
                break;
            }
            h = (h + 1) & tb->mmask;
        }
    }
    sa_strbuf_free(&joined);
    return SA_OK;
}

static int cmp_special_len_desc(const void *pa, const void *pb, void *ctx) {
    const sa_tokenizer *tok = ctx;
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    if (tok->piece_len[a] != tok->piece_len[b]) return tok->piece_len[a] > tok->piece_len[b] ? -1 : 1;
    return a < b ? -1 : a > b;
}

static bool is_eog_name(const char *s) {
    static const char *const names[] = {"<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end|>",
                                        "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
                                        "</s>", "<EOT>", "<|EOT|>", "<|return|>", "<|call|>"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i]) == 0) return true;
    return false;
}

static sa_status build_specials(sa_tokenizer *tok, struct sa_tok_tables *tb, sa_err *err) {
    size_t n = 0;
    for (int32_t id = 0; id < tok->n_vocab; id++)
        if ((tok->attrs[id] & (SA_TOKEN_ATTR_CONTROL | SA_TOKEN_ATTR_USER_DEFINED)) &&
            tok->piece_len[id] > 0)
            n++;
    tb->specials = sa_malloc_array(n ? n : 1, sizeof *tb->specials);
    if (!tb->specials) return sa_err_set(err, SA_ERR_NOMEM, "tokenizer: special table");
    n = 0;
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        uint32_t at = tok->attrs[id];
        if (!(at & (SA_TOKEN_ATTR_CONTROL | SA_TOKEN_ATTR_USER_DEFINED)) || !tok->piece_len[id])
            continue;
        tb->specials[n++] = id;
        unsigned char c = (unsigned char)tok->pieces[id][0];
        tb->special_first[c] |= (at & SA_TOKEN_ATTR_USER_DEFINED) ? 1 : 2;
        if ((at & SA_TOKEN_ATTR_CONTROL) && tb->n_eog < SA_TOK_MAX_EOG &&
            is_eog_name(tok->pieces[id]))
            tb->eog[tb->n_eog++] = id;
    }
    tb->n_specials = n;
    qsort_r(tb->specials, n, sizeof *tb->specials, cmp_special_len_desc, tok);
    return SA_OK;
}

sa_status sa_tok_finalize(sa_tokenizer *tok, sa_err *err) {
    tables_free(tok->tables);
    tok->tables = NULL;
    struct sa_tok_tables *tb = sa_calloc(1, sizeof *tb);
    if (!tb) return sa_err_set(err, SA_ERR_NOMEM, "tokenizer: tables");
    sa_status st;
    if ((st = build_string_table(tok, tb, err)) != SA_OK) goto fail;
    if ((st = build_merge_table(tok, tb, err)) != SA_OK) goto fail;
    if ((st = build_specials(tok, tb, err)) != SA_OK) goto fail;
    int32_t *special[] = {&tok->bos, &tok->eos, &tok->unk, &tok->pad,
                          &tok->sep, &tok->cls, &tok->mask, &tok->eot};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
        if (*special[i] < -1 || *special[i] >= tok->n_vocab) {
            st = sa_err_set(err, SA_ERR_FORMAT, "tokenizer: special token id %d out of range (%d tokens)",
                            *special[i], tok->n_vocab);
            goto fail;
        }
    tok->tables = tb; /* the BPE preparation below uses the lookups */
    if (tok->type == SA_TOK_TYPE_SPM) {
        bool any = false;
        for (int b = 0; b < 256; b++) any |= tok->byte_ids[b] >= 0;
        for (int b = 0; b < 256 && !any; b++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", b);
            tok->byte_ids[b] = sa_tok_lookup(tok, name, 6);
        }
    }
    if (tok->type == SA_TOK_TYPE_BPE) {
        if ((st = sa_tok_bpe_prepare(tok, tb, err)) != SA_OK) goto fail_detach;
        if (tok->pretok != SA_PRETOK_NONE && tok->n_regex == 0 &&
            (st = sa_tok_set_pretok(tok, tok->pretok, err)) != SA_OK)
            goto fail_detach; /* the loader set a kind but did not compile it */
    }
    static const char *const type_names[] = {"BPE", "SPM", "WPM"};
    const char *tn = (unsigned)tok->type < 3 ? type_names[tok->type] : "?";
    if (tok->type == SA_TOK_TYPE_BPE)
        snprintf(tok->describe, sizeof tok->describe, "BPE (pre-tokenizer %s%s), %d tokens",
                 tok->pretok_name ? tok->pretok_name : sa_pretok_kind_name(tok->pretok),
                 tok->ignore_merges ? ", ignore_merges" : "", tok->n_vocab);
    else if (tok->type == SA_TOK_TYPE_SPM)
        snprintf(tok->describe, sizeof tok->describe, "SPM (%s%s), %d tokens",
                 tok->spm_use_merges ? "merges" : "scores",
                 tok->byte_fallback ? ", byte fallback" : "", tok->n_vocab);
    else
        snprintf(tok->describe, sizeof tok->describe, "%s, %d tokens", tn, tok->n_vocab);
    return SA_OK;
fail_detach:
    tok->tables = NULL;
fail:
    tables_free(tb);
    return st;
}

size_t sa_tok_bpe_table_decoded(const sa_tokenizer *tok, int32_t id, const char **bytes) {
    const struct sa_tok_tables *tb = tok->tables;
    if (!tb || !tb->dec_off || id < 0 || id >= tok->n_vocab) {
        *bytes = NULL;
        return 0;
    }
    *bytes = tb->dec + tb->dec_off[id];
    return tb->dec_off[id + 1] - tb->dec_off[id];
}

sa_status sa_tok_tables_set_decoded(struct sa_tok_tables *tb, uint32_t *off, char *dec) {
    tb->dec_off = off;
    tb->dec = dec;
    return SA_OK;
}

size_t sa_tok_merges_dropped(const sa_tokenizer *tok) {
    return tok->tables ? tok->tables->n_merges_dropped : 0;
}

/* ---- public: lifecycle and load dispatch ------------------------------------------ */

int sa_tok_byte_piece_value(const char *p, size_t n) {
    if (n != 6 || memcmp(p, "<0x", 3) != 0 || p[5] != '>') return -1;
    int v = 0;
    for (int k = 3; k < 5; k++) {
        char c = p[k];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

sa_status sa_tok_fill_holes(sa_tokenizer *tok, sa_err *err) {
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        if (tok->pieces[id]) continue;
        char name[48];
        int n = snprintf(name, sizeof name, "[sa:unused:%d]", id);
        if (sa_tok_set_piece(tok, id, name, (size_t)n, 0.0f, SA_TOKEN_ATTR_UNUSED))
            return sa_err_set(err, SA_ERR_NOMEM, "tokenizer: out of memory");
    }
    return SA_OK;
}

size_t sa_tok_n_merges(const sa_tokenizer *tok) { return tok->pending_merges ? tok->pending_merges->n : 0; }

bool sa_tok_merge_at(const sa_tokenizer *tok, size_t i, const char **l, size_t *llen, const char **r, size_t *rlen,
                     int32_t *rank) {
    const struct sa_tok_merge_list *ml = tok->pending_merges;
    if (!ml || i >= ml->n) return false;
    const sa_tok_merge_item *it = &ml->items[i];
    *l = ml->arena.buf + it->loff;
    *llen = it->llen;
    *r = ml->arena.buf + it->roff;
    *rlen = it->rlen;
    *rank = it->rank;
    return true;
}

void sa_tokenizer_free(sa_tokenizer *tok) {
    if (!tok) return;
    if (tok->pieces)
        for (int32_t i = 0; i < tok->n_vocab; i++) free(tok->pieces[i]);
    free(tok->pieces);
    free(tok->piece_len);
    free(tok->scores);
    free(tok->attrs);
    sa_tok_pretok_free(tok);
    free(tok->pretok_name);
    free(tok->chat_template);
    tables_free(tok->tables);
    if (tok->pending_merges) {
        free(tok->pending_merges->items);
        sa_strbuf_free(&tok->pending_merges->arena);
        free(tok->pending_merges);
    }
    free(tok);
}

static bool path_is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static sa_status join_path(char *out, size_t cap, const char *dir, const char *name, sa_err *err) {
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return sa_err_set(err, SA_ERR_RANGE, "%s: path too long", dir);
    return SA_OK;
}

static sa_status load_dir(sa_tokenizer **out, const char *dir, sa_err *err) {
    char a[4096], b[4096];
    sa_status st;
    if ((st = join_path(a, sizeof a, dir, "tokenizer.json", err))) return st;
    if (path_is_file(a)) {
        if ((st = sa_tok_load_hf_json(out, a, err))) return st;
    } else {
        static const char *const pairs[][2] = {{"vocab.json", "merges.txt"},
                                               {"encoder.json", "vocab.bpe"}};
        bool found = false;
        for (size_t i = 0; i < 2 && !found; i++) {
            if ((st = join_path(a, sizeof a, dir, pairs[i][0], err))) return st;
            if ((st = join_path(b, sizeof b, dir, pairs[i][1], err))) return st;
            if (path_is_file(a) && path_is_file(b)) {
                found = true;
                if ((st = sa_tok_load_vocab_merges(out, a, b, err))) return st;
            }
        }
        if (!found) {
            if ((st = join_path(a, sizeof a, dir, "tokenizer.bin", err))) return st;
            if (path_is_file(a)) return sa_tok_load_llama2c(out, a, err);
            return sa_err_set(err, SA_ERR_NOT_FOUND,
                              "%s: no tokenizer.json, vocab.json+merges.txt, encoder.json+vocab.bpe "
                              "or tokenizer.bin",
                              dir);
        }
    }
    if ((st = sa_tok_load_hf_config(*out, dir, err)) != SA_OK) {
        sa_tokenizer_free(*out);
        *out = NULL;
    }
    return st;
}

sa_status sa_tokenizer_load(sa_tokenizer **out, const char *path, sa_err *err) {
    *out = NULL;
    if (!path || !*path) return sa_err_set(err, SA_ERR_INVALID_ARG, "tokenizer: empty path");
    struct stat st;
    if (stat(path, &st) != 0) return sa_err_set(err, SA_ERR_IO, "%s: cannot stat", path);
    if (S_ISDIR(st.st_mode)) return load_dir(out, path, err);
    unsigned char magic[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return sa_err_set(err, SA_ERR_IO, "%s: cannot open", path);
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    if (got == 4 && memcmp(magic, "GGUF", 4) == 0) return sa_tok_load_gguf(out, path, err);
    /* a JSON file starts with '{' after optional whitespace or a UTF-8 BOM */
    size_t i = 0;
    if (got >= 3 && magic[0] == 0xEF && magic[1] == 0xBB && magic[2] == 0xBF) i = 3;
    while (i < got && (magic[i] == ' ' || magic[i] == '\n' || magic[i] == '\r' || magic[i] == '\t'))
        i++;
    if (i < got && magic[i] == '{') {
        sa_status s = sa_tok_load_hf_json(out, path, err);
        if (s) return s;
        char dir[4096];
        size_t n = strlen(path);
        if (n >= sizeof dir) n = sizeof dir - 1;
        memcpy(dir, path, n);
        dir[n] = '\0';
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            strcpy(dir, ".");
        if ((s = sa_tok_load_hf_config(*out, dir, err)) != SA_OK) {
            sa_tokenizer_free(*out);
            *out = NULL;
        }
        return s;
    }
    size_t plen = strlen(path);
    if (plen >= 9 && strcmp(path + plen - 9, ".tiktoken") == 0) return sa_tok_load_tiktoken(out, path, err);
    return sa_tok_load_llama2c(out, path, err);
}

/* ---- public: encode ------------------------------------------------------------------ */

static sa_status encode_plain(const sa_tokenizer *tok, const char *text, size_t len, sa_tokens *out,
                              sa_err *err) {
    if (len == 0) return SA_OK;
    switch (tok->type) {
    case SA_TOK_TYPE_BPE: return sa_tok_bpe_encode(tok, text, len, out, err);
    case SA_TOK_TYPE_SPM: return sa_tok_spm_encode(tok, text, len, out, err);
    case SA_TOK_TYPE_WPM: return sa_tok_wpm_encode(tok, text, len, out, err);
    }
    return sa_err_set(err, SA_ERR_INTERNAL, "tokenizer: unknown type %d", (int)tok->type);
}

static bool is_space_byte(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Longest special token (allowed by mask) starting at text[i], or -1. */
static int32_t match_special(const sa_tokenizer *tok, const char *text, size_t len, size_t i,
                             uint32_t mask) {
    const struct sa_tok_tables *tb = tok->tables;
    for (size_t k = 0; k < tb->n_specials; k++) {
        int32_t id = tb->specials[k];
        uint32_t pl = tok->piece_len[id];
        if (!(tok->attrs[id] & mask) || pl > len - i) continue;
        if (tok->pieces[id][0] == text[i] && memcmp(tok->pieces[id], text + i, pl) == 0) return id;
    }
    return -1;
}

sa_status sa_tokenizer_encode(const sa_tokenizer *tok, const char *text, size_t len,
                              unsigned flags, sa_tokens *out, sa_err *err) {
    if (!tok || !tok->tables || !out || (!text && len))
        return sa_err_set(err, SA_ERR_INVALID_ARG, "tokenizer_encode: bad argument");
    size_t bad;
    if (!sa_utf8_valid(text, len, &bad))
        return sa_err_set(err, SA_ERR_UTF8, "tokenizer_encode: invalid UTF-8 at byte %zu", bad);
    size_t n0 = out->n;
    sa_status st = SA_OK;
    if ((flags & SA_ENCODE_BOS) && tok->bos >= 0 && (st = sa_tokens_push(out, tok->bos))) goto fail;

    const struct sa_tok_tables *tb = tok->tables;
    /* USER_DEFINED added tokens are matched in untrusted text too (HF does);
     * CONTROL tokens only in trusted template text. */
    uint32_t mask = SA_TOKEN_ATTR_USER_DEFINED;
    uint8_t first_bits = 1;
    if (flags & SA_ENCODE_SPECIAL) {
        mask |= SA_TOKEN_ATTR_CONTROL;
        first_bits |= 2;
    }
    size_t start = 0;
    if (tb->n_specials) {
        for (size_t i = 0; i < len; i++) {
            if (!(tb->special_first[(unsigned char)text[i]] & first_bits)) continue;
            int32_t id = match_special(tok, text, len, i, mask);
            if (id < 0) continue;
            size_t seg_end = i, after = i + tok->piece_len[id];
            if (tok->attrs[id] & SA_TOKEN_ATTR_LSTRIP)
                while (seg_end > start && is_space_byte(text[seg_end - 1])) seg_end--;
            if (tok->attrs[id] & SA_TOKEN_ATTR_RSTRIP)
                while (after < len && is_space_byte(text[after])) after++;
            if ((st = encode_plain(tok, text + start, seg_end - start, out, err))) goto fail;
            if ((st = sa_tokens_push(out, id))) goto fail;
            start = after;
            i = after - 1;
        }
    }
    if ((st = encode_plain(tok, text + start, len - start, out, err))) goto fail;
    if ((flags & SA_ENCODE_EOS) && tok->eos >= 0 && (st = sa_tokens_push(out, tok->eos))) goto fail;
    return SA_OK;
fail:
    out->n = n0;
    if (st == SA_ERR_NOMEM && err && err->code != SA_ERR_NOMEM)
        sa_err_set(err, st, "tokenizer_encode: out of memory");
    return st;
}

/* ---- public: decode ------------------------------------------------------------------ */

sa_status sa_tokenizer_decode(const sa_tokenizer *tok, const int32_t *ids, size_t n,
                              unsigned flags, sa_strbuf *out, sa_err *err) {
    if (!tok || !tok->tables || !out || (!ids && n))
        return sa_err_set(err, SA_ERR_INVALID_ARG, "tokenizer_decode: bad argument");
    size_t len0 = out->len;
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= tok->n_vocab) {
            sa_strbuf_truncate(out, len0);
            return sa_err_set(err, SA_ERR_RANGE, "tokenizer_decode: id %d at position %zu out of range (%d tokens)",
                              id, i, tok->n_vocab);
        }
        if ((flags & SA_DECODE_SKIP_SPECIAL) && (tok->attrs[id] & SA_TOKEN_ATTR_CONTROL)) continue;
        size_t before = out->len;
        sa_status st;
        switch (tok->type) {
        case SA_TOK_TYPE_BPE: st = sa_tok_bpe_decode_piece(tok, id, out); break;
        case SA_TOK_TYPE_SPM: st = sa_tok_spm_decode_piece(tok, id, out); break;
        case SA_TOK_TYPE_WPM: st = sa_tok_wpm_decode_piece(tok, id, out); break;
        default: st = SA_ERR_INTERNAL; break;
        }
        if (st) {
            sa_strbuf_truncate(out, len0);
            return sa_err_set(err, st, "tokenizer_decode: token %d at position %zu", id, i);
        }
        /* SPM: the space the encoder prepended comes back as the first
         * token's leading "▁"; drop it (llama.cpp and HF's Strip decoder do). */
        if (first && tok->type == SA_TOK_TYPE_SPM && tok->add_space_prefix && out->len > before &&
            out->buf[before] == ' ' && !(tok->attrs[id] & SA_TOKEN_ATTR_CONTROL)) {
            memmove(out->buf + before, out->buf + before + 1, out->len - before - 1);
            sa_strbuf_truncate(out, out->len - 1);
        }
        if (!(tok->attrs[id] & SA_TOKEN_ATTR_CONTROL)) first = false;
    }
    return SA_OK;
}

/* ---- public: accessors --------------------------------------------------------------- */

const char *sa_tokenizer_piece(const sa_tokenizer *tok, int32_t id, size_t *len) {
    if (!tok || id < 0 || id >= tok->n_vocab) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = tok->piece_len[id];
    return tok->pieces[id];
}

int32_t sa_tokenizer_find(const sa_tokenizer *tok, const char *piece, size_t len) {
    if (!tok || (!piece && len)) return -1;
    return sa_tok_lookup(tok, piece ? piece : "", len);
}

sa_tok_type sa_tokenizer_type(const sa_tokenizer *tok) { return tok->type; }
int32_t sa_tokenizer_vocab_size(const sa_tokenizer *tok) { return tok->n_vocab; }
uint32_t sa_tokenizer_attr(const sa_tokenizer *tok, int32_t id) {
    return (id >= 0 && id < tok->n_vocab) ? tok->attrs[id] : 0;
}
int32_t sa_tokenizer_bos(const sa_tokenizer *tok) { return tok->bos; }
int32_t sa_tokenizer_eos(const sa_tokenizer *tok) { return tok->eos; }
int32_t sa_tokenizer_unk(const sa_tokenizer *tok) { return tok->unk; }
int32_t sa_tokenizer_pad(const sa_tokenizer *tok) { return tok->pad; }

bool sa_tokenizer_is_eog(const sa_tokenizer *tok, int32_t id) {
    if (id < 0) return false;
    if (id == tok->eos || id == tok->eot) return true;
    const struct sa_tok_tables *tb = tok->tables;
    if (tb)
        for (int i = 0; i < tb->n_eog; i++)
            if (tb->eog[i] == id) return true;
    return false;
}

bool sa_tokenizer_add_bos(const sa_tokenizer *tok) { return tok->add_bos; }
const char *sa_tokenizer_chat_template(const sa_tokenizer *tok) { return tok->chat_template; }
const char *sa_tokenizer_describe(const sa_tokenizer *tok) { return tok->describe; }
