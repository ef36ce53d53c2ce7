/* load_tiktoken.c — OpenAI tiktoken vocabulary files (cl100k_base.tiktoken
 * and kin): one "base64(token bytes) rank" line per token.
 *
 * tiktoken merges the adjacent pair whose concatenation has the lowest
 * rank, after looking the whole piece up: that is our byte-level BPE with
 * merge rank(a b) = rank(ab) for every split of every token into two
 * tokens, plus ignore_merges. Pieces are stored byte-mapped (GPT-2 style)
 * like every other byte-level vocabulary. The files carry neither the split
 * regex nor the special tokens; both are known for OpenAI's published
 * vocabularies, recognised by their number of ranks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/mmap.h"
#include "sa/utf8.h"
#include "tok_internal.h"

#define MAX_VOCAB (1 << 24)

static int b64val(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decode base64 s[0..n) into out (room for n bytes); -1 if malformed. */
static long b64decode(const char *s, size_t n, unsigned char *out) {
    if (n % 4) return -1;
    long k = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        for (int j = 0; j < 4; j++) {
            unsigned char c = (unsigned char)s[i + j];
            v[j] = c == '=' && i + 4 == n && j >= 2 ? 0 : b64val(c);
            if (v[j] < 0) return -1;
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[k++] = (unsigned char)(w >> 16);
        if (s[i + 2] != '=') out[k++] = (unsigned char)(w >> 8);
        if (s[i + 3] != '=') out[k++] = (unsigned char)w;
        if (s[i + 2] == '=' && s[i + 3] != '=') return -1;
    }
    return k;
}

typedef struct tiktoken_kind {
    int32_t n_ranks;
    const char *name;
    sa_pretok_kind kind;
    const char *regex; /* CUSTOM regex when kind is SA_PRETOK_CUSTOM */
    struct {
        const char *s;
        int32_t id;
    } specials[6];
} tiktoken_kind;

static const tiktoken_kind tiktoken_kinds[] = {
    {100256, "cl100k_base", SA_PRETOK_LLAMA3, NULL,
     {{"<|endoftext|>", 100257}, {"<|fim_prefix|>", 100258}, {"<|fim_middle|>", 100259},
      {"<|fim_suffix|>", 100260}, {"<|endofprompt|>", 100276}}},
    {199998, "o200k_base", SA_PRETOK_CUSTOM,
     "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
     "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+"
     "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|"
     "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     {{"<|endoftext|>", 199999}, {"<|endofprompt|>", 200018}}},
    {50256, "r50k_base", SA_PRETOK_GPT2, NULL, {{"<|endoftext|>", 50256}}},
    {50280, "p50k_base", SA_PRETOK_GPT2, NULL, {{"<|endoftext|>", 50256}}},
};

sa_status sa_tok_load_tiktoken(sa_tokenizer **out, const char *path, sa_err *err) {
    *out = NULL;
    char *buf;
    size_t n;
    sa_status st = sa_file_read_all(path, (size_t)64 << 20, &buf, &n, err);
    if (st) return st;
    sa_tokenizer *tok = NULL;
    unsigned char *bytes = NULL;
    /* pass 1: count and check lines, find the largest rank */
    long max_rank = -1, lines = 0;
    for (size_t pos = 0; pos < n;) {
        char *line = buf + pos, *nl = memchr(line, '\n', n - pos);
        size_t len = nl ? (size_t)(nl - line) : n - pos;
        pos += len + (nl ? 1 : 0);
        lines++;
        if (len == 0) continue;
        char *sp = memchr(line, ' ', len);
        char *end;
        long r = sp ? strtol(sp + 1, &end, 10) : -1;
        if (!sp || sp == line || r < 0 || r >= MAX_VOCAB || (end != line + len && *end != '\r')) {
            st = sa_err_set(err, SA_ERR_FORMAT, "%s: line %ld: expected \"<base64> <rank>\"", path, lines);
            goto done;
        }
        if (r > max_rank) max_rank = r;
    }
    if (max_rank < 0) {
        st = sa_err_set(err, SA_ERR_FORMAT, "%s: no tokens", path);
        goto done;
    }
    const tiktoken_kind *tk = NULL;
    for (size_t i = 0; i < sizeof tiktoken_kinds / sizeof tiktoken_kinds[0]; i++)
        if (tiktoken_kinds[i].n_ranks == max_rank + 1) tk = &tiktoken_kinds[i];
    if (!tk) {
        st = sa_err_set(err, SA_ERR_UNSUPPORTED,
                        "%s: %ld ranks match no known tiktoken vocabulary (its split regex is unknown)", path,
                        max_rank + 1);
        goto done;
    }
    int32_t n_vocab = (int32_t)max_rank + 1;
    for (int i = 0; i < 6 && tk->specials[i].s; i++)
        if (tk->specials[i].id >= n_vocab) n_vocab = tk->specials[i].id + 1;
    if (!(tok = sa_tok_new(n_vocab)) || !(bytes = sa_malloc(n * 2 + 8))) {
        st = sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    tok->type = SA_TOK_TYPE_BPE;
    lines = 0;
    for (size_t pos = 0; pos < n;) {
        char *line = buf + pos, *nl = memchr(line, '\n', n - pos);
        size_t len = nl ? (size_t)(nl - line) : n - pos;
        pos += len + (nl ? 1 : 0);
        lines++;
        if (len == 0) continue;
        char *sp = memchr(line, ' ', len);
        long r = strtol(sp + 1, NULL, 10);
        unsigned char raw[1024];
        long k = (size_t)(sp - line) <= sizeof raw ? b64decode(line, (size_t)(sp - line), raw) : -1;
        if (k <= 0) {
            st = sa_err_set(err, SA_ERR_FORMAT, "%s: line %ld: bad base64 token", path, lines);
            goto done;
        }
        if (tok->pieces[r]) {
            st = sa_err_set(err, SA_ERR_FORMAT, "%s: line %ld: rank %ld used twice", path, lines, r);
            goto done;
        }
        size_t m = 0;
        for (long i = 0; i < k; i++) m += sa_utf8_encode(sa_tok_byte_to_cp(raw[i]), (char *)bytes + m);
        if ((st = sa_tok_set_piece(tok, (int32_t)r, (char *)bytes, m, 0.0f, SA_TOKEN_ATTR_NORMAL))) {
            sa_err_set(err, st, "%s: line %ld", path, lines);
            goto done;
        }
    }
    for (int i = 0; i < 6 && tk->specials[i].s; i++) {
        const char *s = tk->specials[i].s;
        if ((st = sa_tok_set_piece(tok, tk->specials[i].id, s, strlen(s), 0.0f, SA_TOKEN_ATTR_CONTROL))) {
            sa_err_set(err, st, "%s: special tokens", path);
            goto done;
        }
    }
    if ((st = sa_tok_fill_holes(tok, err)) || (st = sa_tok_finalize(tok, err))) goto done;
    /* merges: every split of every token into two tokens, at the token's rank */
    for (int32_t id = 0; id <= (int32_t)max_rank; id++) {
        if (tok->attrs[id] != SA_TOKEN_ATTR_NORMAL) continue;
        const char *p = tok->pieces[id];
        size_t len = tok->piece_len[id];
        for (size_t k = 1; k < len; k++) {
            if (((unsigned char)p[k] & 0xC0) == 0x80) continue; /* split between mapped characters */
            if (sa_tok_lookup(tok, p, k) < 0 || sa_tok_lookup(tok, p + k, len - k) < 0) continue;
            if ((st = sa_tok_add_merge(tok, p, k, p + k, len - k, id))) {
                sa_err_set(err, st, "%s: merges", path);
                goto done;
            }
        }
    }
    tok->ignore_merges = true;
    if (tk->kind == SA_PRETOK_CUSTOM) {
        sa_tok_pretok_free(tok);
        if (!(tok->regex_src[0] = sa_strdup(tk->regex))) {
            st = sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
        tok->n_regex = 1;
    }
    if ((st = sa_tok_set_pretok(tok, tk->kind, err))) goto done;
    if (!(tok->pretok_name = sa_strdup(tk->name))) {
        st = sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    tok->eos = tk->specials[0].id;
    st = sa_tok_finalize(tok, err);
done:
    free(buf);
    free(bytes);
    if (st) sa_tokenizer_free(tok);
    else *out = tok;
    return st;
}
