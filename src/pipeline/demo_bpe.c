/* demo_bpe.c — a small byte-level BPE trainer for the demo world's
 * vocabulary (demo_internal.h). The world's text is ASCII, so the GPT-2
 * pre-tokenizer is implemented here for ASCII only; the loader applies the
 * full Unicode regex, which splits ASCII text the same way (the demo test
 * checks that every entity and item name encodes to one token). */
#include "demo_internal.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sa/fileio.h"
#include "sa/hash.h"
#include "sa/strbuf.h"
#include "sa/utf8.h"

static bool is_l(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_d(char c) { return c >= '0' && c <= '9'; }
static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* End of the GPT-2 pre-token starting at i. */
static size_t next_piece(const char *t, size_t n, size_t i) {
    char c = t[i];
    if (c == '\'') {
        static const char *const con[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
        for (size_t k = 0; k < sizeof con / sizeof con[0]; k++) {
            size_t l = strlen(con[k]);
            if (i + l <= n && memcmp(t + i, con[k], l) == 0) return i + l;
        }
    }
    size_t j = i;
    if (c == ' ' && i + 1 < n && !is_ws(t[i + 1])) j = i + 1; /* the optional leading space */
    char d = t[j];
    if (is_l(d)) {
        while (j < n && is_l(t[j])) j++;
        return j;
    }
    if (is_d(d)) {
        while (j < n && is_d(t[j])) j++;
        return j;
    }
    if (!is_ws(d)) {
        while (j < n && !is_ws(t[j]) && !is_l(t[j]) && !is_d(t[j])) j++;
        return j;
    }
    while (j < n && is_ws(t[j])) j++;
    if (j == n) return j;         /* \s+(?!\S) takes a trailing run whole */
    if (j - i >= 2) return j - 1; /* ...or all but the last before a non-space */
    return j;                     /* \s+ : one white-space character */
}

/* GPT-2's printable stand-in for each byte. */
static uint32_t byte_cp(int b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return (uint32_t)b;
    int k = 0;
    for (int x = 0; x < b; x++)
        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) k++;
    return 256u + (uint32_t)k;
}

typedef struct word {
    int32_t *sym;
    int32_t n;
    int64_t count;
    uint64_t hash;
    const char *text; /* into the input */
    size_t len;
} word;

typedef struct words {
    word *v;
    size_t n, cap;
    size_t *slot; /* open addressing over v, SIZE_MAX empty */
    size_t nslot;
} words;

static sa_status words_add(words *W, const char *p, size_t len) {
    uint64_t h = sa_hash64(p, len, 7);
    size_t i = (size_t)h & (W->nslot - 1);
    while (W->slot[i] != SIZE_MAX) {
        word *w = &W->v[W->slot[i]];
        if (w->hash == h && w->len == len && memcmp(w->text, p, len) == 0) {
            w->count++;
            return SA_OK;
        }
        i = (i + 1) & (W->nslot - 1);
    }
    if (W->n == W->cap) {
        size_t nc = W->cap ? W->cap * 2 : 1024;
        word *nv = realloc(W->v, nc * sizeof *nv);
        if (!nv) return SA_ERR_NOMEM;
        W->v = nv, W->cap = nc;
    }
    if ((W->n + 1) * 2 > W->nslot) { /* grow the table */
        size_t ns = W->nslot * 2;
        size_t *s = malloc(ns * sizeof *s);
        if (!s) return SA_ERR_NOMEM;
        for (size_t k = 0; k < ns; k++) s[k] = SIZE_MAX;
        for (size_t k = 0; k < W->n; k++) {
            size_t j = (size_t)W->v[k].hash & (ns - 1);
            while (s[j] != SIZE_MAX) j = (j + 1) & (ns - 1);
            s[j] = k;
        }
        free(W->slot);
        W->slot = s, W->nslot = ns;
        i = (size_t)h & (ns - 1);
        while (W->slot[i] != SIZE_MAX) i = (i + 1) & (ns - 1);
    }
    word *w = &W->v[W->n];
    memset(w, 0, sizeof *w);
    w->text = p, w->len = len, w->hash = h, w->count = 1;
    w->sym = malloc(len * sizeof *w->sym);
    if (!w->sym) return SA_ERR_NOMEM;
    for (size_t k = 0; k < len; k++) w->sym[k] = (unsigned char)p[k];
    w->n = (int32_t)len;
    W->slot[i] = W->n++;
    return SA_OK;
}

/* Pair counts: open addressing on key (a << 32 | b). */
typedef struct pairs {
    uint64_t *key;
    int64_t *cnt;
    size_t nslot, used;
} pairs;

static sa_status pairs_reset(pairs *P, size_t want) {
    size_t ns = 1024;
    while (ns < want * 2) ns *= 2;
    if (ns != P->nslot) {
        free(P->key);
        free(P->cnt);
        P->key = malloc(ns * sizeof *P->key);
        P->cnt = malloc(ns * sizeof *P->cnt);
        if (!P->key || !P->cnt) return SA_ERR_NOMEM;
        P->nslot = ns;
    }
    for (size_t i = 0; i < ns; i++) P->key[i] = UINT64_MAX;
    P->used = 0;
    return SA_OK;
}

static void pairs_add(pairs *P, uint64_t k, int64_t c) {
    size_t i = (size_t)(k * 0x9E3779B97F4A7C15ull >> 20) & (P->nslot - 1);
    while (P->key[i] != UINT64_MAX && P->key[i] != k) i = (i + 1) & (P->nslot - 1);
    if (P->key[i] == UINT64_MAX) P->key[i] = k, P->cnt[i] = 0, P->used++;
    P->cnt[i] += c;
}

static sa_status put_piece(sa_strbuf *sb, const sa_strbuf *bytes) {
    sa_status s = SA_OK;
    for (size_t i = 0; i < bytes->len && !s; i++) {
        char u[4];
        size_t k = sa_utf8_encode(byte_cp((unsigned char)bytes->buf[i]), u);
        if (u[0] == '"' || u[0] == '\\') s = sa_strbuf_putc(sb, '\\');
        if (!s) s = sa_strbuf_append(sb, u, k);
    }
    return s;
}

static const char *const k_special[3] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};

static sa_status write_files(const char *dir, const sa_strbuf *piece, int32_t n_pieces, const int32_t *ma,
                             const int32_t *mb, int32_t n_merges, sa_err *err) {
    sa_strbuf sb = {0}, path = {0};
    sa_status s = sa_strbuf_puts(&sb, "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[");
    for (int i = 0; i < 3 && !s; i++)
        s = sa_strbuf_appendf(&sb, "%s{\"id\":%d,\"content\":\"%s\",\"single_word\":false,\"lstrip\":false,"
                                   "\"rstrip\":false,\"normalized\":false,\"special\":true}",
                              i ? "," : "", 256 + i, k_special[i]);
    if (!s)
        s = sa_strbuf_puts(&sb, "],\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":"
                                "false,\"trim_offsets\":true,\"use_regex\":true},\"post_processor\":null,\"decoder\":{"
                                "\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":"
                                "true},\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,"
                                "\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null,\"fuse_unk\":false,"
                                "\"byte_fallback\":false,\"vocab\":{");
    for (int32_t id = 0; id < n_pieces && !s; id++) {
        s = sa_strbuf_puts(&sb, id ? ",\"" : "\"");
        if (!s && id >= 256 && id < 259) s = sa_strbuf_puts(&sb, k_special[id - 256]);
        else if (!s) s = put_piece(&sb, &piece[id]);
        if (!s) s = sa_strbuf_appendf(&sb, "\":%d", id);
    }
    if (!s) s = sa_strbuf_puts(&sb, "},\"merges\":[");
    for (int32_t m = 0; m < n_merges && !s; m++) {
        s = sa_strbuf_puts(&sb, m ? ",\"" : "\"");
        if (!s) s = put_piece(&sb, &piece[ma[m]]);
        if (!s) s = sa_strbuf_putc(&sb, ' ');
        if (!s) s = put_piece(&sb, &piece[mb[m]]);
        if (!s) s = sa_strbuf_putc(&sb, '"');
    }
    if (!s) s = sa_strbuf_puts(&sb, "]}}\n");
    if (s) {
        sa_strbuf_free(&sb);
        return sa_err_set(err, SA_ERR_NOMEM, "demo tokenizer: out of memory");
    }
    s = sa_path_join(&path, dir, "tokenizer.json");
    if (!s) s = sa_file_write_atomic(sa_strbuf_cstr(&path), sb.buf, sb.len, err);
    static const char cfg[] =
        "{\"add_bos_token\":false,\"add_eos_token\":false,\"bos_token\":null,\"eos_token\":\"<|endoftext|>\","
        "\"pad_token\":\"<|endoftext|>\",\"model_max_length\":512,\"tokenizer_class\":\"PreTrainedTokenizerFast\","
        "\"chat_template\":\"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\\\n' + "
        "message['content'] + '<|im_end|>' + '\\\\n'}}{% endfor %}{% if add_generation_prompt %}"
        "{{ '<|im_start|>assistant\\\\n' }}{% endif %}\"}\n";
    sa_strbuf_reset(&path);
    if (!s) s = sa_path_join(&path, dir, "tokenizer_config.json");
    if (!s) s = sa_file_write_atomic(sa_strbuf_cstr(&path), cfg, sizeof cfg - 1, err);
    sa_strbuf_free(&sb);
    sa_strbuf_free(&path);
    return s;
}

sa_status sa_demo_bpe_write(const char *text, size_t n, const char *dir, int32_t max_vocab, int32_t min_count,
                            int32_t *vocab_size, sa_err *err) {
    for (size_t i = 0; i < n; i++)
        if (text[i] == 0 || (unsigned char)text[i] >= 128)
            return sa_err_set(err, SA_ERR_INVALID_ARG, "demo tokenizer: byte %zu is not ASCII", i);
    if (max_vocab < 259) max_vocab = 259;
    words W = {0};
    pairs P = {0};
    sa_strbuf *piece = calloc((size_t)max_vocab, sizeof *piece);
    int32_t *ma = malloc((size_t)max_vocab * sizeof *ma), *mb = malloc((size_t)max_vocab * sizeof *mb);
    sa_status s = piece && ma && mb ? SA_OK : SA_ERR_NOMEM;
    W.nslot = 1024;
    W.slot = malloc(W.nslot * sizeof *W.slot);
    if (!W.slot) s = SA_ERR_NOMEM;
    for (size_t k = 0; k < W.nslot && !s; k++) W.slot[k] = SIZE_MAX;
    for (size_t i = 0; i < n && !s;) {
        size_t j = next_piece(text, n, i);
        s = words_add(&W, text + i, j - i);
        i = j;
    }
    for (int b = 0; b < 256 && !s; b++) {
        char c = (char)b;
        s = sa_strbuf_append(&piece[b], &c, 1);
    }
    int32_t next_id = 259, n_merges = 0;
    while (!s && next_id < max_vocab) {
        size_t total = 0;
        for (size_t w = 0; w < W.n; w++) total += (size_t)W.v[w].n;
        if ((s = pairs_reset(&P, total + 16))) break;
        for (size_t w = 0; w < W.n; w++)
            for (int32_t k = 0; k + 1 < W.v[w].n; k++)
                pairs_add(&P, (uint64_t)(uint32_t)W.v[w].sym[k] << 32 | (uint32_t)W.v[w].sym[k + 1], W.v[w].count);
        uint64_t best = UINT64_MAX;
        int64_t bc = 0;
        for (size_t i = 0; i < P.nslot; i++)
            if (P.key[i] != UINT64_MAX && (P.cnt[i] > bc || (P.cnt[i] == bc && P.key[i] < best)))
                best = P.key[i], bc = P.cnt[i];
        if (bc < min_count || best == UINT64_MAX) break;
        int32_t a = (int32_t)(best >> 32), b = (int32_t)(best & 0xffffffffu), id = next_id++;
        ma[n_merges] = a, mb[n_merges] = b, n_merges++;
        s = sa_strbuf_append(&piece[id], piece[a].buf, piece[a].len);
        if (!s) s = sa_strbuf_append(&piece[id], piece[b].buf, piece[b].len);
        for (size_t w = 0; w < W.n && !s; w++) {
            word *x = &W.v[w];
            int32_t o = 0;
            for (int32_t k = 0; k < x->n; k++) {
                if (k + 1 < x->n && x->sym[k] == a && x->sym[k + 1] == b) {
                    x->sym[o++] = id;
                    k++;
                } else {
                    x->sym[o++] = x->sym[k];
                }
            }
            x->n = o;
        }
    }
    if (s == SA_ERR_NOMEM) sa_err_set(err, s, "demo tokenizer: out of memory");
    if (!s) s = sa_mkdir_p(dir, 0777, err);
    if (!s) s = write_files(dir, piece, next_id, ma, mb, n_merges, err);
    if (!s && vocab_size) *vocab_size = next_id;
    for (size_t w = 0; w < W.n; w++) free(W.v[w].sym);
    free(W.v);
    free(W.slot);
    free(P.key);
    free(P.cnt);
    if (piece)
        for (int32_t i = 0; i < max_vocab; i++) sa_strbuf_free(&piece[i]);
    free(piece);
    free(ma);
    free(mb);
    return s;
}
