/* load_gguf.c — a tokenizer from the tokenizer.* metadata of a GGUF file.
 *
 * Keys read (llama.cpp's names; the ids are any integer type):
 *   tokenizer.ggml.model        "llama" -> SPM (scores), "gpt2" -> byte-level
 *                               BPE, "bert" -> WordPiece; anything else is
 *                               SA_ERR_UNSUPPORTED naming the model
 *   tokenizer.ggml.pre          BPE pre-tokenizer name (sa_pretok_from_name);
 *                               absent = GPT-2's regex, unknown = unsupported
 *   tokenizer.ggml.tokens       string[n]          (required)
 *   tokenizer.ggml.scores       float32[n]         (SPM priorities)
 *   tokenizer.ggml.token_type   int32[n]: 1 normal, 2 unknown, 3 control,
 *                               4 user defined, 5 unused, 6 byte
 *   tokenizer.ggml.merges       string[] "left right" (BPE, required there)
 *   tokenizer.ggml.{bos,eos,unknown,seperator,padding,cls,mask,eot}_token_id
 *   tokenizer.ggml.add_bos_token / add_eos_token / add_space_prefix (bool)
 *   tokenizer.chat_template
 * Defaults where keys are absent follow llama.cpp: SPM bos 1, eos 2, unk 0,
 * add_bos true, add_space_prefix true; BERT bos = [CLS], eos = [SEP],
 * add_bos/add_eos true. WordPiece lowercasing has no key: the vocabulary is
 * taken as uncased unless it has a piece "A".."Z" (llama.cpp always
 * lowercases).
 * Every array is checked for element type and length, every id for range
 * (-1 or 0xFFFFFFFF read as "none"), every merge for known pieces; messages
 * name the file and the key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/gguf.h"
#include "tok_internal.h"

#define K_PREFIX "tokenizer.ggml."

typedef struct gguf_ctx {
    const sa_gguf *g;
    const char *path;
    sa_err *err;
} gguf_ctx;

static sa_status bad_type(gguf_ctx *c, const char *key, const char *want, int64_t i) {
    sa_gguf_type t = sa_gguf_kv_type(c->g, i);
    if (t == SA_GGUF_TYPE_ARRAY)
        return sa_err_set(c->err, SA_ERR_FORMAT, "%s: %s: expected %s, found array of %s", c->path,
                          key, want, sa_gguf_type_name(sa_gguf_arr_type(c->g, i)));
    return sa_err_set(c->err, SA_ERR_FORMAT, "%s: %s: expected %s, found %s", c->path, key, want,
                      sa_gguf_type_name(t));
}

/* Optional token id: *id unchanged when the key is absent. */
static sa_status read_id(gguf_ctx *c, const char *key, int32_t n_vocab, int32_t *id) {
    int64_t i = sa_gguf_find_key(c->g, key);
    if (i < 0) return SA_OK;
    int64_t v;
    if (!sa_gguf_get_int(c->g, i, &v)) return bad_type(c, key, "an integer", i);
    if (v == -1 || v == (int64_t)UINT32_MAX) { /* some writers say "none" this way */
        *id = -1;
        return SA_OK;
    }
    if (v < 0 || v >= n_vocab)
        return sa_err_set(c->err, SA_ERR_FORMAT, "%s: %s: token id %lld out of range (%d tokens)",
                          c->path, key, (long long)v, n_vocab);
    *id = (int32_t)v;
    return SA_OK;
}

static sa_status read_bool(gguf_ctx *c, const char *key, bool *b) {
    int64_t i = sa_gguf_find_key(c->g, key);
    if (i < 0) return SA_OK;
    if (!sa_gguf_get_bool(c->g, i, b)) return bad_type(c, key, "a bool", i);
    return SA_OK;
}

/* Optional string key; NULL when absent. */
static sa_status read_str(gguf_ctx *c, const char *key, const char **s) {
    *s = NULL;
    int64_t i = sa_gguf_find_key(c->g, key);
    if (i < 0) return SA_OK;
    size_t n;
    *s = sa_gguf_get_str(c->g, i, &n);
    if (!*s) return bad_type(c, key, "a string", i);
    if (strlen(*s) != n)
        return sa_err_set(c->err, SA_ERR_FORMAT, "%s: %s: string contains a NUL byte", c->path, key);
    return SA_OK;
}

/* An optional array of n elements of type t; *data NULL when absent. */
static sa_status read_arr(gguf_ctx *c, const char *key, sa_gguf_type t, uint64_t n,
                          const void **data) {
    *data = NULL;
    int64_t i = sa_gguf_find_key(c->g, key);
    if (i < 0) return SA_OK;
    if (sa_gguf_arr_type(c->g, i) != t) {
        char want[48];
        snprintf(want, sizeof want, "array of %s", sa_gguf_type_name(t));
        return bad_type(c, key, want, i);
    }
    if (sa_gguf_arr_n(c->g, i) != n)
        return sa_err_set(c->err, SA_ERR_FORMAT, "%s: %s: %llu elements, expected %llu (one per token)",
                          c->path, key, (unsigned long long)sa_gguf_arr_n(c->g, i),
                          (unsigned long long)n);
    *data = sa_gguf_arr_data(c->g, i);
    if (!*data && n > 0)
        return sa_err_set(c->err, SA_ERR_FORMAT, "%s: %s: array data missing", c->path, key);
    return SA_OK;
}

static uint32_t attr_of_type(int32_t type) {
    switch (type) {
    case 2: return SA_TOKEN_ATTR_UNKNOWN;
    case 3: return SA_TOKEN_ATTR_CONTROL;
    case 4: return SA_TOKEN_ATTR_USER_DEFINED;
    case 5: return SA_TOKEN_ATTR_UNUSED;
    case 6: return SA_TOKEN_ATTR_BYTE;
    default: return SA_TOKEN_ATTR_NORMAL;
    }
}

static sa_status load_merges(gguf_ctx *c, sa_tokenizer *tok, int64_t ki) {
    const char *key = K_PREFIX "merges";
    if (sa_gguf_arr_type(c->g, ki) != SA_GGUF_TYPE_STRING)
        return bad_type(c, key, "array of string", ki);
    uint64_t n = sa_gguf_arr_n(c->g, ki);
    if (n > INT32_MAX)
        return sa_err_set(c->err, SA_ERR_RANGE, "%s: %s: %llu merges", c->path, key,
                          (unsigned long long)n);
    for (uint64_t j = 0; j < n; j++) {
        size_t len;
        const char *m = sa_gguf_arr_str(c->g, ki, j, &len);
        /* the separator is the first space after the first byte: a left side
         * may itself start with a space in some vocabularies */
        const char *sp = len > 1 ? memchr(m + 1, ' ', len - 1) : NULL;
        if (!m || !sp || sp + 1 == m + len)
            return sa_err_set(c->err, SA_ERR_FORMAT, "%s: %s[%llu]: \"%.*s\" is not \"left right\"",
                              c->path, key, (unsigned long long)j, (int)(len > 80 ? 80 : len),
                              m ? m : "");
        size_t ll = (size_t)(sp - m);
        sa_status s = sa_tok_add_merge(tok, m, ll, sp + 1, len - ll - 1, (int32_t)j);
        if (s != SA_OK)
            return sa_err_set(c->err, s, "%s: %s[%llu]: cannot add merge", c->path, key,
                              (unsigned long long)j);
    }
    return SA_OK;
}

/* After finalize: name the first merge whose sides or result are unknown. */
static sa_status check_merges(gguf_ctx *c, sa_tokenizer *tok, int64_t ki) {
    if (sa_tok_merges_dropped(tok) == 0) return SA_OK;
    uint64_t n = sa_gguf_arr_n(c->g, ki);
    sa_strbuf joined = {0};
    sa_status s = SA_OK;
    for (uint64_t j = 0; j < n && s == SA_OK; j++) {
        size_t len;
        const char *m = sa_gguf_arr_str(c->g, ki, j, &len);
        const char *sp = memchr(m + 1, ' ', len - 1);
        size_t ll = (size_t)(sp - m), rl = len - ll - 1;
        const char *what = NULL;
        if (sa_tok_lookup(tok, m, ll) < 0)
            what = "left side";
        else if (sa_tok_lookup(tok, sp + 1, rl) < 0)
            what = "right side";
        else {
            sa_strbuf_reset(&joined);
            if (sa_strbuf_append(&joined, m, ll) != SA_OK ||
                sa_strbuf_append(&joined, sp + 1, rl) != SA_OK) {
                s = sa_err_set(c->err, SA_ERR_NOMEM, "%s: out of memory", c->path);
                break;
            }
            if (sa_tok_lookup(tok, joined.buf, joined.len) < 0) what = "merged piece";
        }
        if (what)
            s = sa_err_set(c->err, SA_ERR_FORMAT,
                           "%s: " K_PREFIX "merges[%llu]: \"%.*s\": %s is not a token", c->path,
                           (unsigned long long)j, (int)(len > 80 ? 80 : len), m, what);
    }
    sa_strbuf_free(&joined);
    return s;
}

/* llama.cpp's converter stores a WordPiece vocabulary in "phantom space"
 * form: a word-initial piece gets a "▁" prefix, a "##" continuation loses
 * its "##", and "[...]" tokens stay as they are. We keep HF's form (so the
 * pieces match vocab.txt / tokenizer.json), converting back when the file
 * has no "##" piece at all. */
static bool wpm_is_phantom(const sa_gguf *g, int64_t kt, uint64_t n) {
    bool marks = false;
    for (uint64_t j = 0; j < n; j++) {
        size_t len;
        const char *p = sa_gguf_arr_str(g, kt, j, &len);
        if (len > 2 && p[0] == '#' && p[1] == '#') return false;
        if (len >= 3 && memcmp(p, "\xE2\x96\x81", 3) == 0) marks = true;
    }
    return marks;
}

static sa_status wpm_unphantom(const char *p, size_t len, sa_strbuf *sb) {
    sa_strbuf_reset(sb);
    if (len >= 2 && p[0] == '[' && p[len - 1] == ']') return sa_strbuf_append(sb, p, len);
    if (len >= 3 && memcmp(p, "\xE2\x96\x81", 3) == 0) return sa_strbuf_append(sb, p + 3, len - 3);
    sa_status s = sa_strbuf_append(sb, "##", 2);
    return s == SA_OK ? sa_strbuf_append(sb, p, len) : s;
}

static bool has_cased_letter_piece(const sa_tokenizer *tok) {
    for (int32_t i = 0; i < tok->n_vocab; i++)
        if (tok->piece_len[i] == 1 && tok->pieces[i][0] >= 'A' && tok->pieces[i][0] <= 'Z')
            return true;
    return false;
}

static sa_status load(gguf_ctx *c, sa_tokenizer **out) {
    const sa_gguf *g = c->g;
    const char *model, *pre, *tmpl;
    sa_status s;
    if ((s = read_str(c, K_PREFIX "model", &model)) != SA_OK) return s;
    if (!model)
        return sa_err_set(c->err, SA_ERR_NOT_FOUND, "%s: no " K_PREFIX "model key (not a model with a tokenizer)",
                          c->path);
    sa_tok_type type;
    if (strcmp(model, "llama") == 0)
        type = SA_TOK_TYPE_SPM;
    else if (strcmp(model, "gpt2") == 0)
        type = SA_TOK_TYPE_BPE;
    else if (strcmp(model, "bert") == 0)
        type = SA_TOK_TYPE_WPM;
    else
        return sa_err_set(c->err, SA_ERR_UNSUPPORTED,
                          "%s: " K_PREFIX "model \"%s\" is not supported (supported: llama, gpt2, bert)",
                          c->path, model);
    if ((s = read_str(c, K_PREFIX "pre", &pre)) != SA_OK) return s;
    sa_pretok_kind pk = SA_PRETOK_NONE;
    if (type == SA_TOK_TYPE_BPE) {
        pk = sa_pretok_from_name(pre);
        if (pk == SA_PRETOK_NONE || pk == SA_PRETOK_BERT || pk == SA_PRETOK_CUSTOM)
            return sa_err_set(c->err, SA_ERR_UNSUPPORTED,
                              "%s: " K_PREFIX "pre \"%s\": pre-tokenizer not supported", c->path,
                              pre ? pre : "");
    }

    int64_t kt = sa_gguf_find_key(g, K_PREFIX "tokens");
    if (kt < 0) return sa_err_set(c->err, SA_ERR_NOT_FOUND, "%s: no " K_PREFIX "tokens key", c->path);
    if (sa_gguf_arr_type(g, kt) != SA_GGUF_TYPE_STRING)
        return bad_type(c, K_PREFIX "tokens", "array of string", kt);
    uint64_t n = sa_gguf_arr_n(g, kt);
    if (n == 0 || n > (1u << 24))
        return sa_err_set(c->err, SA_ERR_RANGE, "%s: " K_PREFIX "tokens: %llu tokens (1 to 16777216 allowed)",
                          c->path, (unsigned long long)n);
    const void *scores, *types;
    if ((s = read_arr(c, K_PREFIX "scores", SA_GGUF_TYPE_FLOAT32, n, &scores)) != SA_OK) return s;
    if ((s = read_arr(c, K_PREFIX "token_type", SA_GGUF_TYPE_INT32, n, &types)) != SA_OK) return s;
    int64_t km = sa_gguf_find_key(g, K_PREFIX "merges");
    if (type == SA_TOK_TYPE_BPE && km < 0)
        return sa_err_set(c->err, SA_ERR_NOT_FOUND, "%s: BPE vocabulary without " K_PREFIX "merges",
                          c->path);
    if (type != SA_TOK_TYPE_BPE) km = -1; /* SPM here merges by score */

    sa_tokenizer *tok = sa_tok_new((int32_t)n);
    if (!tok) return sa_err_set(c->err, SA_ERR_NOMEM, "%s: out of memory for %llu tokens", c->path,
                                (unsigned long long)n);
    tok->type = type;
    bool phantom = type == SA_TOK_TYPE_WPM && wpm_is_phantom(g, kt, n);
    sa_strbuf conv = {0};
    for (uint64_t j = 0; j < n; j++) {
        size_t len;
        const char *p = sa_gguf_arr_str(g, kt, j, &len);
        if (phantom) {
            if ((s = wpm_unphantom(p, len, &conv)) != SA_OK) {
                s = sa_err_set(c->err, s, "%s: out of memory", c->path);
                goto fail;
            }
            p = sa_strbuf_cstr(&conv);
            len = conv.len;
        }
        float sc = 0.0f;
        int32_t ty = 1;
        if (scores) memcpy(&sc, (const char *)scores + j * 4, 4);
        if (types) memcpy(&ty, (const char *)types + j * 4, 4);
        if (ty < 0 || ty > 6) {
            s = sa_err_set(c->err, SA_ERR_FORMAT, "%s: " K_PREFIX "token_type[%llu] = %d (expected 0..6)",
                           c->path, (unsigned long long)j, ty);
            goto fail;
        }
        uint32_t attr = attr_of_type(ty);
        if ((attr & SA_TOKEN_ATTR_BYTE) && type != SA_TOK_TYPE_SPM)
            attr = SA_TOKEN_ATTR_NORMAL; /* byte-level BPE covers bytes through its mapping */
        if (attr & SA_TOKEN_ATTR_BYTE) {
            int b = sa_tok_byte_piece_value(p, len);
            if (b < 0) {
                s = sa_err_set(c->err, SA_ERR_FORMAT,
                               "%s: " K_PREFIX "tokens[%llu] \"%.*s\" has type byte but is not <0xXX>",
                               c->path, (unsigned long long)j, (int)(len > 40 ? 40 : len), p);
                goto fail;
            }
            if (tok->byte_ids[b] < 0) tok->byte_ids[b] = (int32_t)j;
            tok->byte_fallback = true;
        }
        if ((s = sa_tok_set_piece(tok, (int32_t)j, p, len, sc, attr)) != SA_OK) {
            s = sa_err_set(c->err, s, "%s: " K_PREFIX "tokens[%llu]: piece of %zu bytes not accepted",
                           c->path, (unsigned long long)j, len);
            goto fail;
        }
    }
    if (km >= 0 && (s = load_merges(c, tok, km)) != SA_OK) goto fail;

    /* defaults, then keys */
    if (type == SA_TOK_TYPE_SPM) {
        tok->bos = n > 1 ? 1 : -1;
        tok->eos = n > 2 ? 2 : -1;
        tok->unk = 0;
        tok->add_bos = true;
        tok->add_space_prefix = true;
    }
    static const struct { const char *key; size_t off; } ids[] = {
        {K_PREFIX "bos_token_id", offsetof(sa_tokenizer, bos)},
        {K_PREFIX "eos_token_id", offsetof(sa_tokenizer, eos)},
        {K_PREFIX "unknown_token_id", offsetof(sa_tokenizer, unk)},
        {K_PREFIX "seperator_token_id", offsetof(sa_tokenizer, sep)}, /* llama.cpp's spelling */
        {K_PREFIX "separator_token_id", offsetof(sa_tokenizer, sep)},
        {K_PREFIX "padding_token_id", offsetof(sa_tokenizer, pad)},
        {K_PREFIX "cls_token_id", offsetof(sa_tokenizer, cls)},
        {K_PREFIX "mask_token_id", offsetof(sa_tokenizer, mask)},
        {K_PREFIX "eot_token_id", offsetof(sa_tokenizer, eot)},
    };
    for (size_t k = 0; k < sizeof ids / sizeof ids[0]; k++)
        if ((s = read_id(c, ids[k].key, (int32_t)n, (int32_t *)(void *)((char *)tok + ids[k].off))) != SA_OK)
            goto fail;
    if (type == SA_TOK_TYPE_WPM) {
        if (sa_gguf_find_key(g, K_PREFIX "bos_token_id") < 0) tok->bos = tok->cls;
        if (sa_gguf_find_key(g, K_PREFIX "eos_token_id") < 0) tok->eos = tok->sep;
        tok->add_bos = tok->add_eos = true;
        tok->wpm_lowercase = !has_cased_letter_piece(tok);
    }
    if ((s = read_bool(c, K_PREFIX "add_bos_token", &tok->add_bos)) != SA_OK) goto fail;
    if ((s = read_bool(c, K_PREFIX "add_eos_token", &tok->add_eos)) != SA_OK) goto fail;
    if ((s = read_bool(c, K_PREFIX "add_space_prefix", &tok->add_space_prefix)) != SA_OK) goto fail;
    if (type != SA_TOK_TYPE_SPM) tok->add_space_prefix = false; /* only SPM prepends "▁" */

    if ((s = read_str(c, "tokenizer.chat_template", &tmpl)) != SA_OK) goto fail;
    if (tmpl && !(tok->chat_template = sa_strdup(tmpl))) {
        s = sa_err_set(c->err, SA_ERR_NOMEM, "%s: out of memory", c->path);
        goto fail;
    }
    if (type == SA_TOK_TYPE_BPE) {
        tok->pretok_name = sa_strdup(pre ? pre : "default");
        if (!tok->pretok_name) {
            s = sa_err_set(c->err, SA_ERR_NOMEM, "%s: out of memory", c->path);
            goto fail;
        }
        tok->ignore_merges = pk == SA_PRETOK_LLAMA3; /* HF ignore_merges for Llama 3 */
        tok->nfc = pk == SA_PRETOK_QWEN2;
        if ((s = sa_tok_set_pretok(tok, pk, c->err)) != SA_OK) {
            sa_err_prefix(c->err, "%s: ", c->path);
            goto fail;
        }
    } else if (type == SA_TOK_TYPE_WPM) {
        tok->pretok = SA_PRETOK_BERT;
    }

    if (type == SA_TOK_TYPE_SPM) sa_tok_spm_prepare(tok);
    if ((s = sa_tok_finalize(tok, c->err)) != SA_OK) {
        sa_err_prefix(c->err, "%s: ", c->path);
        goto fail;
    }
    if (km >= 0 && (s = check_merges(c, tok, km)) != SA_OK) goto fail;
    sa_strbuf_free(&conv);
    *out = tok;
    return SA_OK;
fail:
    sa_strbuf_free(&conv);
    sa_tokenizer_free(tok);
    return s;
}

sa_status sa_tok_load_gguf(sa_tokenizer **out, const char *path, sa_err *err) {
    SA_ASSERT(out && path);
    *out = NULL;
    sa_gguf *g;
    sa_status s = sa_gguf_open(&g, path, err);
    if (s != SA_OK) return s;
    gguf_ctx c = {g, path, err};
    s = load(&c, out);
    sa_gguf_close(g);
    return s;
}
