/* load_hf.c — Hugging Face tokenizer files: tokenizer.json, vocab.json +
 * merges.txt (and OpenAI's encoder.json + vocab.bpe naming of the same
 * format), and the tokenizer_config.json / special_tokens_map.json /
 * added_tokens.json / chat_template.jinja that sit beside them.
 *
 * Family detection for tokenizer.json: a BPE model with byte_fallback, a
 * Replace " " -> "▁" normalizer or a Metaspace pre-tokenizer is
 * SentencePiece-style (encoded by spm.c with merge ranks); any other BPE
 * model is byte-level with the pre-tokenizer read from the file.
 *
 * vocab.json + merges.txt carry no pre-tokenizer, so it is chosen from
 * tokenizer_config.json's tokenizer_class when present, else from the
 * vocabulary's shape (documented at guess_pretok).
 *
 * Every file is untrusted: sizes are capped, ids range-checked, and errors
 * name the file and the entry.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sa/alloc.h"
#include "sa/mmap.h"
#include "tok_internal.h"

#define MAX_JSON_BYTES ((size_t)512 << 20)
#define MAX_VOCAB (1 << 24)

static const char SPM_SPACE[] = "\xE2\x96\x81"; /* U+2581 */

static sa_status read_json_flags(const char *path, size_t flags, json_t **out, sa_err *err) {
    char *buf;
    size_t n;
    sa_status st = sa_file_read_all(path, MAX_JSON_BYTES, &buf, &n, err);
    if (st) return st;
    json_error_t je;
    *out = json_loadb(buf, n, JSON_REJECT_DUPLICATES | flags, &je);
    free(buf);
    if (!*out)
        return sa_err_set(err, SA_ERR_FORMAT, "%s: line %d column %d: %s", path, je.line,
                          je.column, je.text);
    return SA_OK;
}

static sa_status read_json(const char *path, json_t **out, sa_err *err) {
    return read_json_flags(path, 0, out, err);
}

/* "content" of an AddedToken given as a string or an object */
static const char *token_content(const json_t *v) {
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_object(v)) {
        const json_t *c = json_object_get(v, "content");
        if (json_is_string(c)) return json_string_value(c);
    }
    return NULL;
}

static int32_t lookup_str(const sa_tokenizer *tok, const char *s) {
    return s ? sa_tok_lookup(tok, s, strlen(s)) : -1;
}

/* ---- vocab -------------------------------------------------------------------- */

/* Fill pieces from a {"piece": id} object; ids must be unique and < n_vocab. */
static sa_status fill_vocab(sa_tokenizer *tok, const json_t *vocab, const char *path, sa_err *err) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)vocab, key, v) {
        if (!json_is_integer(v))
            return sa_err_set(err, SA_ERR_FORMAT, "%s: vocab entry \"%.60s\": id is not an integer", path, key);
        json_int_t id = json_integer_value(v);
        if (id < 0 || id >= tok->n_vocab)
            return sa_err_set(err, SA_ERR_FORMAT, "%s: vocab entry \"%.60s\": id %lld out of range", path,
                              key, (long long)id);
        if (tok->pieces[id])
            return sa_err_set(err, SA_ERR_FORMAT, "%s: vocab id %lld used twice", path, (long long)id);
        sa_status st = sa_tok_set_piece(tok, (int32_t)id, key, strlen(key), 0.0f, SA_TOKEN_ATTR_NORMAL);
        if (st) return sa_err_set(err, st, "%s: vocab entry %lld", path, (long long)id);
    }
    return SA_OK;
}

static json_int_t vocab_max_id(const json_t *vocab) {
    json_int_t mx = -1;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)vocab, key, v) {
        if (json_is_integer(v) && json_integer_value(v) > mx) mx = json_integer_value(v);
    }
    return mx;
}

/* A merge line "left right": exactly one separating space. */
static sa_status add_merge_line(sa_tokenizer *tok, const char *s, size_t n, int32_t rank,
                                const char *path, size_t lineno, sa_err *err) {
    const char *sp = memchr(s, ' ', n);
    if (!sp || sp == s || sp + 1 == s + n || memchr(sp + 1, ' ', (size_t)(s + n - sp - 1)))
        return sa_err_set(err, SA_ERR_FORMAT, "%s: merge %zu: expected \"left right\", got \"%.*s\"",
                          path, lineno, (int)(n > 60 ? 60 : n), s);
    sa_status st = sa_tok_add_merge(tok, s, (size_t)(sp - s), sp + 1, (size_t)(s + n - sp - 1), rank);
    if (st) return sa_err_set(err, st, "%s: merge %zu", path, lineno);
    return SA_OK;
}

/* A tokenizer.json merge string. SentencePiece vocabularies (Llama 2) have
 * pieces made of plain spaces, so "   " is ambiguous: take the first split
 * whose sides and join are all pieces; a merge with no such split can never
 * fire and is skipped. */
static sa_status add_merge_string(sa_tokenizer *tok, const char *s, size_t n, int32_t rank,
                                  const char *path, size_t idx, sa_err *err) {
    const char *sp = memchr(s, ' ', n);
    if (sp && !memchr(sp + 1, ' ', (size_t)(s + n - sp - 1)))
        return add_merge_line(tok, s, n, rank, path, idx, err);
    if (!sp) return add_merge_line(tok, s, n, rank, path, idx, err); /* reports the error */
    for (size_t k = 0; k < n; k++) {
        if (s[k] != ' ') continue;
        int32_t a = sa_tok_lookup(tok, s, k), b = sa_tok_lookup(tok, s + k + 1, n - k - 1);
        if (a < 0 || b < 0) continue;
        char buf[256];
        if (n - 1 > sizeof buf) break;
        memcpy(buf, s, k);
        memcpy(buf + k, s + k + 1, n - k - 1);
        if (sa_tok_lookup(tok, buf, n - 1) < 0) continue;
        sa_status st = sa_tok_add_merge(tok, s, k, s + k + 1, n - k - 1, rank);
        return st ? sa_err_set(err, st, "%s: merge %zu", path, idx) : SA_OK;
    }
    return SA_OK;
}

/* ---- pre-tokenizer from tokenizer.json ------------------------------------------ */

static const char RX_GPT2_SRC[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

typedef struct rx_list {
    int n;
    char *src[SA_TOK_MAX_REGEX];
    bool add_prefix_space;
} rx_list;

static void rx_free(rx_list *l) {
    for (int i = 0; i < l->n; i++) free(l->src[i]);
    l->n = 0;
}

static sa_status rx_add(rx_list *l, const char *s, const char *path, sa_err *err) {
    if (l->n >= SA_TOK_MAX_REGEX)
        return sa_err_set(err, SA_ERR_UNSUPPORTED, "%s: more than %d pre-tokenizer splits", path,
                          SA_TOK_MAX_REGEX);
    if (!(l->src[l->n] = sa_strdup(s))) return sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
    l->n++;
    return SA_OK;
}

static sa_status pretok_item(rx_list *l, const json_t *pt, const char *path, sa_err *err) {
    const char *type = json_string_value(json_object_get(pt, "type"));
    if (!type) return sa_err_set(err, SA_ERR_FORMAT, "%s: pre_tokenizer without a type", path);
    if (strcmp(type, "Sequence") == 0) {
        const json_t *arr = json_object_get(pt, "pretokenizers");
        if (!json_is_array(arr))
            return sa_err_set(err, SA_ERR_FORMAT, "%s: Sequence pre_tokenizer without a list", path);
        size_t i;
        json_t *it;
        json_array_foreach(arr, i, it) {
            sa_status st = pretok_item(l, it, path, err);
            if (st) return st;
        }
        return SA_OK;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        const json_t *ur = json_object_get(pt, "use_regex");
        if (json_is_true(json_object_get(pt, "add_prefix_space"))) l->add_prefix_space = true;
        if (ur && !json_is_true(ur)) return SA_OK;
        return rx_add(l, RX_GPT2_SRC, path, err);
    }
    if (strcmp(type, "Digits") == 0)
        return rx_add(l, json_is_true(json_object_get(pt, "individual_digits")) ? "\\p{N}" : "\\p{N}+",
                      path, err);
    if (strcmp(type, "Punctuation") == 0) {
        const char *b = json_string_value(json_object_get(pt, "behavior"));
        bool contiguous = b && strcmp(b, "Contiguous") == 0;
        /* HF counts ASCII symbols ($+<=>^`|~) as punctuation too */
        return rx_add(l, contiguous ? "[\\p{P}$+<=>^`|~]+" : "[\\p{P}$+<=>^`|~]", path, err);
    }
    if (strcmp(type, "Split") == 0) {
        const char *b = json_string_value(json_object_get(pt, "behavior"));
        if (json_is_true(json_object_get(pt, "invert")) || !b || strcmp(b, "Isolated") != 0)
            return sa_err_set(err, SA_ERR_UNSUPPORTED,
                              "%s: Split pre_tokenizer with behavior %s%s (only Isolated)", path,
                              b ? b : "(none)",
                              json_is_true(json_object_get(pt, "invert")) ? ", inverted" : "");
        const json_t *pat = json_object_get(pt, "pattern");
        const char *rx = json_string_value(json_object_get(pat, "Regex"));
        if (rx) return rx_add(l, rx, path, err);
        const char *lit = json_string_value(json_object_get(pat, "String"));
        if (!lit) return sa_err_set(err, SA_ERR_FORMAT, "%s: Split pre_tokenizer without a pattern", path);
        sa_strbuf q = {0};
        sa_status st = sa_strbuf_appendf(&q, "\\Q%s\\E", lit);
        if (!st && strstr(lit, "\\E")) st = SA_ERR_UNSUPPORTED;
        if (!st) st = rx_add(l, q.buf, path, err);
        else sa_err_set(err, st, "%s: Split pattern", path);
        sa_strbuf_free(&q);
        return st;
    }
    return sa_err_set(err, SA_ERR_UNSUPPORTED, "%s: pre_tokenizer type %s not supported for byte-level BPE",
                      path, type);
}

/* Use a named kind when the regex list is one we know (nicer descriptions). */
/* The Split patterns of HF's Llama 3 and Qwen2 tokenizer.json files. We
 * compile our own spelling (explicit [sS] instead of (?i:...), see pretok.c),
 * which only differs for U+017F and U+212A right after an apostrophe. */
static const char HF_RX_LLAMA3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char HF_RX_QWEN2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static sa_status apply_rx_list(sa_tokenizer *tok, rx_list *l, const char *path, sa_err *err) {
    if (l->n == 1 && (strcmp(l->src[0], HF_RX_LLAMA3) == 0 || strcmp(l->src[0], HF_RX_QWEN2) == 0)) {
        sa_pretok_kind k = strcmp(l->src[0], HF_RX_LLAMA3) == 0 ? SA_PRETOK_LLAMA3 : SA_PRETOK_QWEN2;
        rx_free(l);
        return sa_tok_set_pretok(tok, k, err);
    }
    static const sa_pretok_kind known[] = {SA_PRETOK_GPT2, SA_PRETOK_LLAMA3, SA_PRETOK_QWEN2,
                                           SA_PRETOK_STARCODER};
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
        sa_tokenizer probe = {0};
        if (sa_tok_set_pretok(&probe, known[k], NULL) != SA_OK) {
            sa_tok_pretok_free(&probe);
            continue;
        }
        bool same = probe.n_regex == l->n;
        for (int i = 0; same && i < l->n; i++) same = strcmp(probe.regex_src[i], l->src[i]) == 0;
        sa_tok_pretok_free(&probe);
        if (same) {
            rx_free(l);
            return sa_tok_set_pretok(tok, known[k], err);
        }
    }
    sa_tok_pretok_free(tok);
    for (int i = 0; i < l->n; i++) {
        tok->regex_src[i] = l->src[i];
        l->src[i] = NULL;
    }
    tok->n_regex = l->n;
    l->n = 0;
    sa_status st = sa_tok_set_pretok(tok, SA_PRETOK_CUSTOM, err);
    if (st) sa_err_prefix(err, "%s: ", path);
    return st;
}

/* ---- tokenizer.json ------------------------------------------------------------- */

static bool normalizer_has(const json_t *n, const char *type, const char *content) {
    if (!json_is_object(n)) return false;
    const char *t = json_string_value(json_object_get(n, "type"));
    if (!t) return false;
    if (strcmp(t, "Sequence") == 0) {
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(n, "normalizers"), i, it) {
            if (normalizer_has(it, type, content)) return true;
        }
        return false;
    }
    if (strcmp(t, type) != 0) return false;
    if (!content) return true;
    const char *c = json_string_value(json_object_get(n, strcmp(type, "Prepend") == 0 ? "prepend" : "content"));
    return c && strcmp(c, content) == 0;
}

/* True if every normalizer in n (a Sequence or a single one) is of type. */
static bool normalizer_only(const json_t *n, const char *type) {
    const char *t = json_string_value(json_object_get(n, "type"));
    if (!t) return false;
    if (strcmp(t, "Sequence") == 0) {
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(n, "normalizers"), i, it) {
            if (!normalizer_only(it, type)) return false;
        }
        return true;
    }
    return strcmp(t, type) == 0;
}

static const json_t *find_typed(const json_t *n, const char *list_key, const char *type) {
    if (!json_is_object(n)) return NULL;
    const char *t = json_string_value(json_object_get(n, "type"));
    if (t && strcmp(t, type) == 0) return n;
    if (t && strcmp(t, "Sequence") == 0) {
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(n, list_key), i, it) {
            const json_t *f = find_typed(it, list_key, type);
            if (f) return f;
        }
    }
    return NULL;
}

static sa_status set_added_tokens(sa_tokenizer *tok, const json_t *added, const char *path, sa_err *err) {
    size_t i;
    json_t *it;
    json_array_foreach(added, i, it) {
        const json_t *jid = json_object_get(it, "id");
        const char *content = json_string_value(json_object_get(it, "content"));
        if (!json_is_integer(jid) || !content)
            return sa_err_set(err, SA_ERR_FORMAT, "%s: added_tokens[%zu]: needs id and content", path, i);
        json_int_t id = json_integer_value(jid);
        if (id < 0 || id >= tok->n_vocab)
            return sa_err_set(err, SA_ERR_FORMAT, "%s: added_tokens[%zu]: id %lld out of range", path, i,
                              (long long)id);
        uint32_t at = json_is_true(json_object_get(it, "special")) ? SA_TOKEN_ATTR_CONTROL
                                                                   : SA_TOKEN_ATTR_USER_DEFINED;
        if (json_is_true(json_object_get(it, "lstrip"))) at |= SA_TOKEN_ATTR_LSTRIP;
        if (json_is_true(json_object_get(it, "rstrip"))) at |= SA_TOKEN_ATTR_RSTRIP;
        if (tok->pieces[id] && strcmp(tok->pieces[id], content) != 0)
            return sa_err_set(err, SA_ERR_FORMAT,
                              "%s: added_tokens[%zu]: id %lld is \"%.40s\" in the vocab but \"%.40s\" here",
                              path, i, (long long)id, tok->pieces[id], content);
        sa_status st = sa_tok_set_piece(tok, (int32_t)id, content, strlen(content), 0.0f, at);
        if (st) return sa_err_set(err, st, "%s: added_tokens[%zu]", path, i);
    }
    return SA_OK;
}

static void mark_spm_pieces(sa_tokenizer *tok) {
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        const char *p = tok->pieces[id];
        int v = sa_tok_byte_piece_value(p, tok->piece_len[id]);
        if (v >= 0) {
            tok->attrs[id] |= SA_TOKEN_ATTR_BYTE;
            tok->attrs[id] &= ~(uint32_t)(SA_TOKEN_ATTR_CONTROL | SA_TOKEN_ATTR_USER_DEFINED);
            tok->byte_ids[v] = id;
        }
    }
}

static sa_status load_hf_json_doc(sa_tokenizer **out, const json_t *root, const char *path, sa_err *err) {
    const json_t *model = json_object_get(root, "model");
    if (!json_is_object(model)) return sa_err_set(err, SA_ERR_FORMAT, "%s: no \"model\" object", path);
    const char *mtype = json_string_value(json_object_get(model, "type"));
    const json_t *vocab = json_object_get(model, "vocab");
    const json_t *merges = json_object_get(model, "merges");
    if (!mtype && json_is_array(merges)) mtype = "BPE";
    if (!mtype || strcmp(mtype, "BPE") != 0)
        return sa_err_set(err, SA_ERR_UNSUPPORTED, "%s: model type %s not supported (BPE only)", path,
                          mtype ? mtype : "(none)");
    if (!json_is_object(vocab) || !json_is_array(merges))
        return sa_err_set(err, SA_ERR_FORMAT, "%s: BPE model needs a vocab object and a merges array", path);
    static const char *const unsupported[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int k = 0; k < 2; k++) {
        const char *v = json_string_value(json_object_get(model, unsupported[k]));
        if (v && *v)
            return sa_err_set(err, SA_ERR_UNSUPPORTED, "%s: BPE %s \"%s\" is not supported", path,
                              unsupported[k], v);
    }
    const json_t *added = json_object_get(root, "added_tokens");
    json_int_t mx = vocab_max_id(vocab);
    size_t i;
    json_t *it;
    json_array_foreach(added, i, it) {
        const json_t *jid = json_object_get(it, "id");
        if (json_is_integer(jid) && json_integer_value(jid) > mx) mx = json_integer_value(jid);
    }
    if (mx < 0 || mx >= MAX_VOCAB)
        return sa_err_set(err, SA_ERR_FORMAT, "%s: vocabulary size %lld out of range", path, (long long)mx + 1);
    sa_tokenizer *tok = sa_tok_new((int32_t)mx + 1);
    if (!tok) return sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
    sa_status st;
    rx_list rl = {0};
    if ((st = fill_vocab(tok, vocab, path, err))) goto fail;
    if ((st = set_added_tokens(tok, added, path, err))) goto fail;
    if ((st = sa_tok_fill_holes(tok, err))) goto fail;
    if ((st = sa_tok_finalize(tok, err))) goto fail; /* lookups for ambiguous merges */
    json_array_foreach(merges, i, it) {
        if (i >= INT32_MAX) {
            st = sa_err_set(err, SA_ERR_RANGE, "%s: too many merges", path);
            goto fail;
        }
        if (json_is_string(it)) {
            st = add_merge_string(tok, json_string_value(it), json_string_length(it), (int32_t)i, path, i, err);
        } else if (json_is_array(it) && json_array_size(it) == 2 &&
                   json_is_string(json_array_get(it, 0)) && json_is_string(json_array_get(it, 1))) {
            const json_t *a = json_array_get(it, 0), *b = json_array_get(it, 1);
            st = sa_tok_add_merge(tok, json_string_value(a), json_string_length(a), json_string_value(b),
                                  json_string_length(b), (int32_t)i);
            if (st) sa_err_set(err, st, "%s: merge %zu", path, i);
        } else {
            st = sa_err_set(err, SA_ERR_FORMAT, "%s: merge %zu is neither \"a b\" nor [\"a\", \"b\"]", path, i);
        }
        if (st) goto fail;
    }

    const json_t *norm = json_object_get(root, "normalizer");
    const json_t *pre = json_object_get(root, "pre_tokenizer");
    const json_t *dec = json_object_get(root, "decoder");
    const json_t *meta = find_typed(pre, "pretokenizers", "Metaspace");
    bool spm = json_is_true(json_object_get(model, "byte_fallback")) ||
               normalizer_has(norm, "Replace", SPM_SPACE) || meta ||
               find_typed(dec, "decoders", "Metaspace") || find_typed(dec, "decoders", "ByteFallback");
    const char *unk = json_string_value(json_object_get(model, "unk_token"));
    if (unk) tok->unk = lookup_str(tok, unk); /* table not built yet: resolved after finalize */
    if (spm) {
        tok->type = SA_TOK_TYPE_SPM;
        tok->spm_use_merges = true;
        tok->byte_fallback = json_is_true(json_object_get(model, "byte_fallback"));
        tok->add_space_prefix = normalizer_has(norm, "Prepend", SPM_SPACE);
        if (meta) {
            const char *scheme = json_string_value(json_object_get(meta, "prepend_scheme"));
            if ((scheme && strcmp(scheme, "never") != 0) ||
                json_is_true(json_object_get(meta, "add_prefix_space")))
                tok->add_space_prefix = true;
        }
        for (int32_t id = 0; id < tok->n_vocab; id++) tok->scores[id] = -(float)id;
        mark_spm_pieces(tok);
        /* Phi-3 lists "</s>" as a non-special added token, which HF would
         * match in any text; SentencePiece's sentence markers stay control
         * tokens here so untrusted text cannot produce them. */
        static const char *const markers[] = {"<s>", "</s>"};
        for (int k = 0; k < 2; k++)
            for (int32_t id = 0; id < tok->n_vocab; id++)
                if ((tok->attrs[id] & SA_TOKEN_ATTR_USER_DEFINED) && strcmp(tok->pieces[id], markers[k]) == 0)
                    tok->attrs[id] = (tok->attrs[id] & ~(uint32_t)SA_TOKEN_ATTR_USER_DEFINED) | SA_TOKEN_ATTR_CONTROL;
    } else {
        tok->type = SA_TOK_TYPE_BPE;
        tok->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
        tok->nfc = normalizer_has(norm, "NFC", NULL);
        if (norm && !json_is_null(norm) && !normalizer_only(norm, "NFC")) {
            st = sa_err_set(err, SA_ERR_UNSUPPORTED, "%s: normalizer %s not supported for byte-level BPE",
                            path, json_string_value(json_object_get(norm, "type")));
            goto fail;
        }
        if (json_is_null(pre) || !pre) {
            st = sa_tok_set_pretok(tok, SA_PRETOK_NONE, err);
        } else {
            if ((st = pretok_item(&rl, pre, path, err))) goto fail;
            tok->bpe_add_prefix_space = rl.add_prefix_space;
            st = apply_rx_list(tok, &rl, path, err);
        }
        if (st) goto fail;
    }
    if ((st = sa_tok_finalize(tok, err))) goto fail;
    if (unk) {
        tok->unk = lookup_str(tok, unk);
        if (tok->unk >= 0) tok->attrs[tok->unk] = (tok->attrs[tok->unk] & ~(uint32_t)SA_TOKEN_ATTR_CONTROL) |
                                                   SA_TOKEN_ATTR_UNKNOWN;
    }
    /* BOS from the post-processor template ("<s> $A"); tokenizer_config may override */
    const json_t *single = json_object_get(json_object_get(root, "post_processor"), "single");
    const json_t *first = json_array_get(single, 0);
    const char *sp = json_string_value(json_object_get(json_object_get(first, "SpecialToken"), "id"));
    if (sp && lookup_str(tok, sp) >= 0) {
        tok->bos = lookup_str(tok, sp);
        tok->add_bos = true;
    }
    if (tok->type == SA_TOK_TYPE_SPM) sa_tok_spm_prepare(tok); /* word-at-a-time merging when exact */
    if ((st = sa_tok_finalize(tok, err))) goto fail;
    *out = tok;
    return SA_OK;
fail:
    rx_free(&rl);
    sa_tokenizer_free(tok);
    return st;
}

sa_status sa_tok_load_hf_json(sa_tokenizer **out, const char *path, sa_err *err) {
    *out = NULL;
    json_t *root;
    sa_status st = read_json(path, &root, err);
    if (st) return st;
    if (!json_is_object(root)) st = sa_err_set(err, SA_ERR_FORMAT, "%s: not a JSON object", path);
    else st = load_hf_json_doc(out, root, path, err);
    json_decref(root);
    return st;
}

/* ---- vocab.json + merges.txt ------------------------------------------------------ */

/* The 256 special tokens Meta's Llama 3 tokenizer appends to its 128000-piece
 * base vocabulary (tiktoken-style files do not contain them). */
static sa_status add_llama3_specials(sa_tokenizer *tok, sa_err *err) {
    static const char *const named[] = {
        "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
        "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>",
        "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"};
    int32_t base = tok->n_vocab;
    if (sa_tok_resize(tok, base + 256)) return sa_err_set(err, SA_ERR_NOMEM, "llama3 specials");
    for (int i = 0; i < 256; i++) {
        char name[48];
        const char *s = name;
        if (i < 11) s = named[i];
        else snprintf(name, sizeof name, "<|reserved_special_token_%d|>", i - 11 + 3);
        if (sa_tok_set_piece(tok, base + i, s, strlen(s), 0.0f, SA_TOKEN_ATTR_CONTROL))
            return sa_err_set(err, SA_ERR_NOMEM, "llama3 specials");
    }
    tok->bos = base;
    tok->eos = base + 1;
    tok->eot = base + 9;
    tok->add_bos = true;
    return SA_OK;
}

/* vocab.json + merges.txt name no pre-tokenizer. Known base vocabularies are
 * recognised by size and a marker piece; tokenizer_config.json's
 * tokenizer_class refines this later (sa_tok_load_hf_config). */
static void guess_pretok(sa_tokenizer *tok, int32_t n, bool *llama3) {
    *llama3 = false;
    tok->pretok = SA_PRETOK_GPT2;
    if (n == 128000 && sa_tok_lookup(tok, "ĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠ", strlen("ĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠĠ")) >= 0) {
        *llama3 = true; /* Llama 3 base vocabulary */
        tok->pretok = SA_PRETOK_LLAMA3;
        tok->ignore_merges = true;
    } else if (n == 151643) { /* Qwen2 / Qwen2.5 base vocabulary */
        tok->pretok = SA_PRETOK_QWEN2;
        tok->nfc = true;
    }
}

sa_status sa_tok_load_vocab_merges(sa_tokenizer **out, const char *vocab_json, const char *merges_txt,
                                   sa_err *err) {
    *out = NULL;
    json_t *vocab;
    sa_status st = read_json(vocab_json, &vocab, err);
    if (st) return st;
    sa_tokenizer *tok = NULL;
    char *mbuf = NULL;
    if (!json_is_object(vocab)) {
        st = sa_err_set(err, SA_ERR_FORMAT, "%s: not a JSON object", vocab_json);
        goto done;
    }
    json_int_t mx = vocab_max_id(vocab);
    if (mx < 0 || mx >= MAX_VOCAB) {
        st = sa_err_set(err, SA_ERR_FORMAT, "%s: vocabulary size %lld out of range", vocab_json, (long long)mx + 1);
        goto done;
    }
    if (!(tok = sa_tok_new((int32_t)mx + 1))) {
        st = sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", vocab_json);
        goto done;
    }
    tok->type = SA_TOK_TYPE_BPE;
    if ((st = fill_vocab(tok, vocab, vocab_json, err)) || (st = sa_tok_fill_holes(tok, err))) goto done;
    size_t mlen;
    if ((st = sa_file_read_all(merges_txt, MAX_JSON_BYTES, &mbuf, &mlen, err))) goto done;
    size_t pos = 0, lineno = 0;
    int32_t rank = 0;
    while (pos < mlen) {
        const char *line = mbuf + pos;
        const char *nl = memchr(line, '\n', mlen - pos);
        size_t n = nl ? (size_t)(nl - line) : mlen - pos;
        pos += n + (nl ? 1 : 0);
        lineno++;
        if (n && line[n - 1] == '\r') n--;
        if (n == 0 || (lineno == 1 && n >= 8 && memcmp(line, "#version", 8) == 0)) continue;
        if (rank == INT32_MAX) {
            st = sa_err_set(err, SA_ERR_RANGE, "%s: too many merges", merges_txt);
            goto done;
        }
        if ((st = add_merge_line(tok, line, n, rank++, merges_txt, lineno, err))) goto done;
    }
    if ((st = sa_tok_finalize(tok, err))) goto done; /* lookups for the guess */
    bool llama3;
    guess_pretok(tok, tok->n_vocab, &llama3);
    if (llama3 && (st = add_llama3_specials(tok, err))) goto done;
    if ((st = sa_tok_set_pretok(tok, tok->pretok, err))) goto done;
    tok->eos = tok->eos >= 0 ? tok->eos : lookup_str(tok, "<|endoftext|>");
    st = sa_tok_finalize(tok, err);
done:
    free(mbuf);
    json_decref(vocab);
    if (st) sa_tokenizer_free(tok);
    else *out = tok;
    return st;
}

/* ---- tokenizer_config.json and friends ---------------------------------------------- */

static bool file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Make sure id carries content with the given attribute, growing the vocab
 * for ids past its end (vocab.json lacks the added tokens). */
static sa_status ensure_token(sa_tokenizer *tok, json_int_t id, const char *content, uint32_t attr,
                              const char *path, sa_err *err) {
    if (id < 0 || id >= MAX_VOCAB)
        return sa_err_set(err, SA_ERR_FORMAT, "%s: added token id %lld out of range", path, (long long)id);
    size_t len = strlen(content);
    if (id >= tok->n_vocab) {
        int32_t old = tok->n_vocab;
        if (sa_tok_resize(tok, (int32_t)id + 1)) return sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
        for (int32_t k = old; k < (int32_t)id; k++) {
            char name[48];
            int n = snprintf(name, sizeof name, "[sa:unused:%d]", k);
            if (sa_tok_set_piece(tok, k, name, (size_t)n, 0.0f, SA_TOKEN_ATTR_UNUSED))
                return sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
        }
    } else if (!(tok->attrs[id] & SA_TOKEN_ATTR_UNUSED)) {
        if (tok->piece_len[id] != len || memcmp(tok->pieces[id], content, len) != 0)
            return sa_err_set(err, SA_ERR_FORMAT, "%s: token %lld is \"%.40s\" in the vocabulary, not \"%.40s\"",
                              path, (long long)id, tok->pieces[id], content);
        if (tok->attrs[id] & (SA_TOKEN_ATTR_CONTROL | SA_TOKEN_ATTR_USER_DEFINED)) return SA_OK;
    }
    if (sa_tok_set_piece(tok, (int32_t)id, content, len, tok->scores[id], attr))
        return sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
    return SA_OK;
}

static sa_status read_config(sa_tokenizer *tok, const char *path, bool *changed, const char **names,
                             json_t **keep, sa_err *err) {
    json_t *cfg;
    /* as reals: model_max_length is often 1e30 written out, past int64; no
     * integer value is read from this file (added token ids are keys) */
    sa_status st = read_json_flags(path, JSON_DECODE_INT_AS_REAL, &cfg, err);
    if (st) return st;
    if (!json_is_object(cfg)) {
        json_decref(cfg);
        return sa_err_set(err, SA_ERR_FORMAT, "%s: not a JSON object", path);
    }
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(cfg, "added_tokens_decoder"), key, v) {
        char *end;
        long long id = strtoll(key, &end, 10);
        const char *content = json_string_value(json_object_get(v, "content"));
        if (*end || !content) {
            st = sa_err_set(err, SA_ERR_FORMAT, "%s: added_tokens_decoder entry \"%.40s\" malformed", path, key);
            break;
        }
        uint32_t at = json_is_true(json_object_get(v, "special")) ? SA_TOKEN_ATTR_CONTROL
                                                                  : SA_TOKEN_ATTR_USER_DEFINED;
        if (json_is_true(json_object_get(v, "lstrip"))) at |= SA_TOKEN_ATTR_LSTRIP;
        if (json_is_true(json_object_get(v, "rstrip"))) at |= SA_TOKEN_ATTR_RSTRIP;
        if ((st = ensure_token(tok, id, content, at, path, err))) break;
        *changed = true;
    }
    if (!st) {
        static const char *const keys[] = {"bos_token", "eos_token", "unk_token", "pad_token"};
        for (int k = 0; k < 4; k++) {
            const char *c = token_content(json_object_get(cfg, keys[k]));
            if (c) names[k] = c;
        }
        const json_t *ab = json_object_get(cfg, "add_bos_token");
        if (json_is_boolean(ab)) tok->add_bos = json_is_true(ab);
        const json_t *ae = json_object_get(cfg, "add_eos_token");
        if (json_is_boolean(ae)) tok->add_eos = json_is_true(ae);
        const json_t *ct = json_object_get(cfg, "chat_template");
        const char *tmpl = json_string_value(ct);
        if (json_is_array(ct)) { /* [{name, template}]: the "default" one, else the first */
            size_t i;
            json_t *it;
            json_array_foreach(ct, i, it) {
                const char *nm = json_string_value(json_object_get(it, "name"));
                const char *t = json_string_value(json_object_get(it, "template"));
                if (t && (!tmpl || (nm && strcmp(nm, "default") == 0))) tmpl = t;
            }
        }
        if (tmpl) {
            free(tok->chat_template);
            if (!(tok->chat_template = sa_strdup(tmpl))) st = sa_err_set(err, SA_ERR_NOMEM, "%s", path);
        }
        const char *cls = json_string_value(json_object_get(cfg, "tokenizer_class"));
        if (cls && tok->type == SA_TOK_TYPE_BPE && tok->pretok == SA_PRETOK_GPT2 &&
            strncmp(cls, "Qwen2Tokenizer", 14) == 0) {
            tok->nfc = true;
            if (!st) st = sa_tok_set_pretok(tok, SA_PRETOK_QWEN2, err);
        }
    }
    if (st) json_decref(cfg);
    else *keep = cfg; /* names[] point into it */
    return st;
}

sa_status sa_tok_load_hf_config(sa_tokenizer *tok, const char *dir, sa_err *err) {
    char path[4096];
    bool changed = false;
    const char *names[4] = {0}; /* bos, eos, unk, pad */
    json_t *cfg = NULL, *map = NULL, *added = NULL;
    sa_status st = SA_OK;

    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    if (file_exists(path) && (st = read_config(tok, path, &changed, names, &cfg, err))) goto done;

    snprintf(path, sizeof path, "%s/added_tokens.json", dir);
    if (file_exists(path)) {
        if ((st = read_json(path, &added, err))) goto done;
        const char *key;
        json_t *v;
        json_object_foreach(added, key, v) {
            if (!json_is_integer(v)) {
                st = sa_err_set(err, SA_ERR_FORMAT, "%s: \"%.40s\": id is not an integer", path, key);
                goto done;
            }
            /* not marked special here; tokenizer_config.json says which are */
            if ((st = ensure_token(tok, json_integer_value(v), key, SA_TOKEN_ATTR_USER_DEFINED, path, err)))
                goto done;
            changed = true;
        }
    }

    snprintf(path, sizeof path, "%s/special_tokens_map.json", dir);
    if (file_exists(path)) {
        if ((st = read_json(path, &map, err))) goto done;
        static const char *const keys[] = {"bos_token", "eos_token", "unk_token", "pad_token"};
        for (int k = 0; k < 4; k++) {
            const char *c = token_content(json_object_get(map, keys[k]));
            if (c && !names[k]) names[k] = c;
        }
    }

    snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
    if (!tok->chat_template && file_exists(path)) {
        char *t;
        size_t n;
        if ((st = sa_file_read_all(path, 1 << 20, &t, &n, err))) goto done;
        tok->chat_template = t;
    }

    if (changed && (st = sa_tok_finalize(tok, err))) goto done;
    int32_t *ids[4] = {&tok->bos, &tok->eos, &tok->unk, &tok->pad};
    for (int k = 0; k < 4; k++) {
        if (!names[k]) continue;
        int32_t id = lookup_str(tok, names[k]);
        if (id < 0) {
            st = sa_err_set(err, SA_ERR_FORMAT, "%s: special token \"%.40s\" is not in the vocabulary", dir,
                            names[k]);
            goto done;
        }
        *ids[k] = id;
        /* bos/eos/pad given as plain added tokens still must not be matched in untrusted text */
        if (k != 2 && (tok->attrs[id] & SA_TOKEN_ATTR_USER_DEFINED) && !(tok->attrs[id] & SA_TOKEN_ATTR_BYTE)) {
            tok->attrs[id] = (tok->attrs[id] & ~(uint32_t)SA_TOKEN_ATTR_USER_DEFINED) | SA_TOKEN_ATTR_CONTROL;
            changed = true;
        }
    }
    if (tok->type == SA_TOK_TYPE_SPM) { /* SentencePiece conventions when nothing says otherwise */
        if (tok->bos < 0 && !names[0]) tok->bos = lookup_str(tok, "<s>");
        if (tok->eos < 0 && !names[1]) tok->eos = lookup_str(tok, "</s>");
    }
    st = sa_tok_finalize(tok, err);
done:
    json_decref(cfg);
    json_decref(map);
    json_decref(added);
    return st;
}
