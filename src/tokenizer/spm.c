/* spm.c — SentencePiece-style BPE: encode plain text, decode one piece.
 *
 * The algorithm follows SentencePiece's bpe_model (and Hugging Face's BPE
 * with byte_fallback for tokenizer.json vocabularies):
 *   1. normalise: every ' ' becomes "▁" (U+2581); when add_space_prefix, one
 *      "▁" is prepended (to every call: the caller invokes us once per text
 *      segment between special tokens, as HF's Prepend normaliser does);
 *   2. split into UTF-8 characters;
 *   3. repeatedly merge the adjacent pair with the best priority — the
 *      highest score of the concatenated piece (GGUF, llama2.c), or the
 *      lowest merge rank (spm_use_merges, from tokenizer.json) — ties go to
 *      the leftmost pair;
 *   4. a symbol that is not a usable piece is split back along the merges
 *      that built it (SentencePiece's "resegment", needed for UNUSED pieces)
 *      and single characters without a piece become <0xXX> byte tokens
 *      (byte_fallback) or one <unk> per run of unknown characters.
 * Merges only ever produce NORMAL, USER_DEFINED or UNUSED pieces: CONTROL,
 * UNKNOWN and BYTE pieces are not reachable from text, so an untrusted
 * "</s>" encodes as "</", "s", ">" and never as the EOS id.
 *
 * llama2.c's own encoder (run.c) is the same score-driven BPE, written
 * O(n^2), with small differences we do not copy: it looks pieces up among
 * all vocabulary strings (it has no piece types, so "<0x41>" typed in text
 * can become a byte id), it makes byte tokens as byte + 3 (assuming Llama
 * 2's layout) and it pushes the dummy prefix as a separate " " token before
 * merging (same effect as our prefix). We follow SentencePiece/HF.
 *
 * Word split: when the vocabulary allows it (sa_tok_spm_prepare), the text
 * is cut before each "▁" that follows another character and each word is
 * merged on its own heap; the ids are provably the same (see there) and
 * long texts stay fast (~10 MB/s instead of ~0.3 MB/s for a 3 MB text).
 *
 * Memory: two allocations per call — the normalised text, and one block
 * sized for the longest word holding the symbol list, the merge-tree nodes
 * and the priority heap; nothing is allocated per symbol or per word.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/utf8.h"
#include "tok_internal.h"

static const char k_space_mark[] = "\xE2\x96\x81"; /* U+2581 */
#define SPACE_MARK_LEN 3

typedef struct spm_sym {
    int32_t prev, next; /* neighbours in the live list, -1 at the ends */
    uint32_t start, len; /* byte range in the normalised text; len 0 = merged away */
    int32_t node;        /* merge-tree node describing how this symbol was built */
    int32_t id;          /* piece id of the symbol (merge mode; -1 if none) */
} spm_sym;

typedef struct spm_node {
    uint32_t start, len;
    int32_t left, right; /* child nodes, -1 for a single character */
} spm_node;

/* A candidate merge of symbol `left` with its right neighbour. key orders
 * the heap (smallest first): high half the priority (inverted score, or the
 * merge rank), low half the left index, so ties go to the leftmost pair. */
typedef struct spm_cand {
    uint64_t key;
    uint32_t size; /* byte length of the pair when pushed: stale if it changed */
    int32_t id;    /* id of the merged piece */
} spm_cand;

typedef struct spm_state {
    const sa_tokenizer *tok;
    const char *text; /* normalised */
    spm_sym *sym;
    spm_node *node;
    int32_t n_node;
    spm_cand *heap;
    size_t n_heap;
    size_t first_out; /* out->n when this call started */
} spm_state;

/* Map a float to a uint32 with the same order, then invert it so that a
 * higher score gives a smaller key. */
static uint32_t score_key(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return ~u;
}

static void heap_push(spm_state *st, const spm_cand *c) {
    size_t i = st->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (st->heap[p].key <= c->key) break;
        st->heap[i] = st->heap[p];
        i = p;
    }
    st->heap[i] = *c;
}

static spm_cand heap_pop(spm_state *st) {
    spm_cand top = st->heap[0];
    spm_cand last = st->heap[--st->n_heap];
    size_t n = st->n_heap, i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, best = l;
        if (l >= n) break;
        if (r < n && st->heap[r].key < st->heap[l].key) best = r;
        if (st->heap[best].key >= last.key) break;
        st->heap[i] = st->heap[best];
        i = best;
    }
    if (n > 0) st->heap[i] = last;
    return top;
}

/* Pieces a merge may produce (SentencePiece's `pieces_`). */
static int mergeable_attr(uint32_t attr) {
    return !(attr & (SA_TOKEN_ATTR_CONTROL | SA_TOKEN_ATTR_UNKNOWN | SA_TOKEN_ATTR_BYTE));
}

static void try_pair(spm_state *st, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const sa_tokenizer *tok = st->tok;
    spm_cand c;
    c.size = st->sym[l].len + st->sym[r].len;
    uint32_t prio;
    if (tok->spm_use_merges) {
        if (st->sym[l].id < 0 || st->sym[r].id < 0) return;
        int32_t merged = -1;
        int32_t rank = sa_tok_merge_rank(tok, st->sym[l].id, st->sym[r].id, &merged);
        if (rank < 0 || merged < 0 || !mergeable_attr(tok->attrs[merged])) return;
        prio = (uint32_t)rank;
        c.id = merged;
    } else {
        int32_t id = sa_tok_lookup(tok, st->text + st->sym[l].start, c.size);
        if (id < 0 || !mergeable_attr(tok->attrs[id])) return;
        prio = score_key(tok->scores ? tok->scores[id] : 0.0f);
        c.id = id;
    }
    c.key = ((uint64_t)prio << 32) | (uint32_t)l;
    heap_push(st, &c);
}

/* A piece id that may be emitted for this byte range as is. */
static int32_t final_id(const spm_state *st, uint32_t start, uint32_t len) {
    int32_t id = sa_tok_lookup(st->tok, st->text + start, len);
    if (id < 0) return -1;
    uint32_t a = st->tok->attrs[id];
    if (!mergeable_attr(a) || (a & SA_TOKEN_ATTR_UNUSED)) return -1;
    return id;
}

static sa_status emit(const spm_state *st, int32_t id, sa_tokens *out) {
    /* runs of unknown characters become one <unk> (SentencePiece and HF fuse_unk) */
    if (id == st->tok->unk && id >= 0 && out->n > st->first_out && out->ids[out->n - 1] == id)
        return SA_OK;
    return sa_tokens_push(out, id);
}

/* Emit the pieces of merge-tree node n: the node itself when it is a usable
 * piece, else its children (explicit stack: the tree can be deep). */
static sa_status emit_node(const spm_state *st, int32_t n, sa_tokens *out, sa_err *err) {
    int32_t stack_small[64];
    int32_t *stack = stack_small;
    size_t cap = 64, sp = 0;
    sa_status s = SA_OK;
    stack[sp++] = n;
    while (sp > 0) {
        const spm_node *nd = &st->node[stack[--sp]];
        int32_t id = final_id(st, nd->start, nd->len);
        if (id >= 0) {
            if ((s = emit(st, id, out)) != SA_OK) break;
            continue;
        }
        if (nd->left >= 0) {
            if (sp + 2 > cap) {
                size_t ncap = cap * 2;
                int32_t *ns = sa_malloc_array(ncap, sizeof *ns);
                if (!ns) { s = SA_ERR_NOMEM; break; }
                memcpy(ns, stack, sp * sizeof *ns);
                if (stack != stack_small) free(stack);
                stack = ns;
                cap = ncap;
            }
            stack[sp++] = nd->right; /* left is processed first */
            stack[sp++] = nd->left;
            continue;
        }
        /* a single character with no usable piece */
        const sa_tokenizer *tok = st->tok;
        if (tok->byte_fallback) {
            for (uint32_t k = 0; k < nd->len && s == SA_OK; k++) {
                int32_t b = tok->byte_ids[(unsigned char)st->text[nd->start + k]];
                s = emit(st, b >= 0 ? b : tok->unk, out);
            }
            if (s != SA_OK) break;
            continue;
        }
        if (tok->unk < 0) {
            s = sa_err_set(err, SA_ERR_NOT_FOUND,
                           "spm encode: character at byte %u has no piece and the vocabulary "
                           "has neither byte fallback nor <unk>",
                           nd->start);
            break;
        }
        if ((s = emit(st, tok->unk, out)) != SA_OK) break;
    }
    if (stack != stack_small) free(stack);
    if (s == SA_ERR_NOMEM && err) sa_err_set(err, SA_ERR_NOMEM, "spm encode: out of memory");
    return s;
}

/* Is there a "▁" at t[i] (i > 0, 3 bytes available) that follows a
 * character other than "▁"? Such a position starts an independent word. */
static bool word_start(const char *t, size_t i) {
    return i > 0 && memcmp(t + i, k_space_mark, SPACE_MARK_LEN) == 0 &&
           !(i >= SPACE_MARK_LEN && memcmp(t + i - SPACE_MARK_LEN, k_space_mark, SPACE_MARK_LEN) == 0);
}

/* Next segment end after `from` (the whole rest unless spm_word_split). */
static size_t segment_end(const sa_tokenizer *tok, const char *t, size_t n, size_t from) {
    if (!tok->spm_word_split) return n;
    for (size_t i = from + 1; i + SPACE_MARK_LEN <= n; i++)
        if ((unsigned char)t[i] == 0xE2 && word_start(t, i)) return i;
    return n;
}

/* Merge the characters of text[a..b) and emit the resulting pieces. */
static sa_status encode_segment(spm_state *st, size_t a, size_t b, sa_tokens *out, sa_err *err) {
    const sa_tokenizer *tok = st->tok;
    const char *t = st->text;
    int32_t n_sym = 0;
    st->n_node = 0;
    st->n_heap = 0;
    for (size_t i = a; i < b;) {
        size_t cl = sa_utf8_seq_len((unsigned char)t[i]);
        if (cl > b - i) cl = b - i;
        spm_sym *s = &st->sym[n_sym];
        s->prev = n_sym - 1;
        s->next = -1;
        if (n_sym > 0) st->sym[n_sym - 1].next = n_sym;
        s->start = (uint32_t)i;
        s->len = (uint32_t)cl;
        s->node = st->n_node;
        s->id = tok->spm_use_merges ? sa_tok_lookup(tok, t + i, cl) : -1;
        st->node[st->n_node++] = (spm_node){(uint32_t)i, (uint32_t)cl, -1, -1};
        n_sym++;
        i += cl;
    }
    for (int32_t i = 0; i + 1 < n_sym; i++) try_pair(st, i, i + 1);

    while (st->n_heap > 0) {
        spm_cand c = heap_pop(st);
        int32_t li = (int32_t)(uint32_t)c.key;
        spm_sym *l = &st->sym[li];
        /* stale: either side took part in another merge since the push (its
         * length, and so the pair's, has grown; a merged-away left has 0) */
        if (l->len == 0 || l->next < 0) continue;
        spm_sym *r = &st->sym[l->next];
        if (l->len + r->len != c.size) continue;
        st->node[st->n_node] = (spm_node){l->start, c.size, l->node, r->node};
        l->node = st->n_node++;
        l->len = c.size;
        l->id = c.id;
        l->next = r->next;
        if (r->next >= 0) st->sym[r->next].prev = li;
        r->len = 0;
        r->next = r->prev = -1;
        try_pair(st, l->prev, li);
        try_pair(st, li, l->next);
    }

    sa_status s = SA_OK;
    for (int32_t i = n_sym > 0 ? 0 : -1; i >= 0 && s == SA_OK; i = st->sym[i].next)
        s = emit_node(st, st->sym[i].node, out, err);
    return s;
}

sa_status sa_tok_spm_encode(const sa_tokenizer *tok, const char *text, size_t len, sa_tokens *out,
                            sa_err *err) {
    SA_ASSERT(tok && out && (text || len == 0));
    if (len == 0) return SA_OK;
    size_t bad = 0;
    if (!sa_utf8_valid(text, len, &bad))
        return sa_err_set(err, SA_ERR_UTF8, "spm encode: invalid UTF-8 at byte %zu", bad);

    size_t n_space = 0;
    for (size_t i = 0; i < len; i++) n_space += text[i] == ' ';
    /* normalised length: len + 2 per space (+3 for the prefix) */
    size_t nlen, extra;
    if (!sa_size_mul(n_space, SPACE_MARK_LEN - 1, &extra) || !sa_size_add(len, extra, &nlen) ||
        !sa_size_add(nlen, tok->add_space_prefix ? SPACE_MARK_LEN : 0, &nlen) ||
        nlen > UINT32_MAX / 4)
        return sa_err_set(err, SA_ERR_RANGE, "spm encode: text of %zu bytes is too long", len);
    char *norm = sa_malloc(nlen + 1);
    if (!norm) return sa_err_set(err, SA_ERR_NOMEM, "spm encode: out of memory (%zu bytes)", nlen);
    size_t w = 0;
    if (tok->add_space_prefix) {
        memcpy(norm, k_space_mark, SPACE_MARK_LEN);
        w = SPACE_MARK_LEN;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(norm + w, k_space_mark, SPACE_MARK_LEN);
            w += SPACE_MARK_LEN;
        } else {
            norm[w++] = text[i];
        }
    }
    norm[w] = 0;

    /* Workspace for the longest segment: symbols <= bytes, merge-tree nodes
     * <= 2 x symbols, heap entries <= 3 x symbols (one per initial pair and
     * two per merge). */
    size_t seg_max = 0;
    for (size_t a = 0; a < w;) {
        size_t b = segment_end(tok, norm, w, a);
        if (b - a > seg_max) seg_max = b - a;
        a = b;
    }
    size_t b_sym = seg_max * sizeof(spm_sym), b_node = seg_max * 2 * sizeof(spm_node);
    size_t b_heap = seg_max * 3 * sizeof(spm_cand); /* no overflow: seg_max < 2^30 */
    char *mem = sa_malloc(b_sym + b_node + b_heap);
    if (!mem) {
        free(norm);
        return sa_err_set(err, SA_ERR_NOMEM, "spm encode: out of memory for %zu bytes", seg_max);
    }
    spm_state st = {0};
    st.tok = tok;
    st.text = norm;
    st.sym = (spm_sym *)(void *)mem;
    st.node = (spm_node *)(void *)(mem + b_sym);
    st.heap = (spm_cand *)(void *)(mem + b_sym + b_node);
    st.first_out = out->n;

    sa_status s = SA_OK;
    for (size_t a = 0; a < w && s == SA_OK;) {
        size_t b = segment_end(tok, norm, w, a);
        s = encode_segment(&st, a, b, out, err);
        a = b;
    }
    if (s != SA_OK) out->n = st.first_out;
    free(mem);
    free(norm);
    return s;
}

void sa_tok_spm_prepare(sa_tokenizer *tok) {
    /* Text can be cut before every "▁" that follows another character when
     * no mergeable piece has a "▁" after a character other than "▁": then no
     * pair across such a cut is ever a piece, so the words merge
     * independently and the result is the same as for the whole text (with
     * small heaps that stay in cache). SentencePiece's default
     * split_by_whitespace vocabularies (Llama 2, llama2.c) qualify. */
    tok->spm_word_split = true;
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        if (!mergeable_attr(tok->attrs[id]) || !tok->pieces[id]) continue;
        const char *p = tok->pieces[id];
        size_t n = tok->piece_len[id];
        for (size_t i = 1; i + SPACE_MARK_LEN <= n; i++)
            if ((unsigned char)p[i] == 0xE2 && word_start(p, i)) {
                tok->spm_word_split = false;
                return;
            }
    }
}

sa_status sa_tok_spm_decode_piece(const sa_tokenizer *tok, int32_t id, sa_strbuf *out) {
    SA_ASSERT(tok && out);
    if (id < 0 || id >= tok->n_vocab) return SA_ERR_RANGE;
    const char *p = tok->pieces[id];
    size_t n = tok->piece_len[id];
    if (tok->attrs[id] & SA_TOKEN_ATTR_BYTE) {
        int v = sa_tok_byte_piece_value(p, n);
        if (v >= 0) return sa_strbuf_putc(out, (char)v);
    }
    /* copy, turning each "▁" into a space */
    size_t i = 0;
    while (i < n) {
        const char *m = memmem(p + i, n - i, k_space_mark, SPACE_MARK_LEN);
        size_t stop = m ? (size_t)(m - p) : n;
        if (stop > i) {
            sa_status s = sa_strbuf_append(out, p + i, stop - i);
            if (s != SA_OK) return s;
        }
        if (!m) break;
        sa_status s = sa_strbuf_putc(out, ' ');
        if (s != SA_OK) return s;
        i = stop + SPACE_MARK_LEN;
    }
    return SA_OK;
}
