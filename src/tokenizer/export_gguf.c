/* export_gguf.c — a tokenizer as GGUF tokenizer.* metadata, so a model we
 * export carries its vocabulary (llama.cpp and ollama need it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/gguf.h"
#include "sa/strbuf.h"
#include "tok_internal.h"

/* llama.cpp's tokenizer.ggml.pre names for our pre-tokenizer kinds */
static const char *gguf_pre_name(const sa_tokenizer *tok) {
    switch (tok->pretok) {
    case SA_PRETOK_GPT2: return "gpt-2";
    case SA_PRETOK_LLAMA3: return "llama-bpe";
    case SA_PRETOK_QWEN2: return "qwen2";
    case SA_PRETOK_FALCON: return "falcon";
    case SA_PRETOK_STARCODER: return "starcoder";
    case SA_PRETOK_DEEPSEEK_LLM: return "deepseek-llm";
    case SA_PRETOK_DEEPSEEK_CODER: return "deepseek-coder";
    default: return NULL;
    }
}

static int32_t token_type(uint32_t a) {
    if (a & SA_TOKEN_ATTR_UNKNOWN) return 2;
    if (a & SA_TOKEN_ATTR_CONTROL) return 3;
    if (a & SA_TOKEN_ATTR_USER_DEFINED) return 4;
    if (a & SA_TOKEN_ATTR_UNUSED) return 5;
    if (a & SA_TOKEN_ATTR_BYTE) return 6;
    return 1;
}

typedef struct rank_idx {
    int32_t rank;
    size_t i;
} rank_idx;

static int cmp_rank(const void *a, const void *b) {
    const rank_idx *x = a, *y = b;
    if (x->rank != y->rank) return (x->rank > y->rank) - (x->rank < y->rank);
    return (x->i > y->i) - (x->i < y->i);
}

sa_status sa_tokenizer_export_gguf(const sa_tokenizer *tok, struct sa_gguf_writer *w, int32_t pad_to_vocab,
                                   sa_err *err) {
    const char *model = tok->type == SA_TOK_TYPE_SPM ? "llama" : tok->type == SA_TOK_TYPE_BPE ? "gpt2" : NULL;
    if (!model) return sa_err_set(err, SA_ERR_UNSUPPORTED, "GGUF export: WordPiece vocabularies are not supported");
    const char *pre = tok->type == SA_TOK_TYPE_BPE ? gguf_pre_name(tok) : NULL;
    if (tok->type == SA_TOK_TYPE_BPE && !pre)
        return sa_err_set(err, SA_ERR_UNSUPPORTED, "GGUF export: pre-tokenizer \"%s\" has no llama.cpp name",
                          tok->pretok_name ? tok->pretok_name : sa_pretok_kind_name(tok->pretok));
    int32_t n = tok->n_vocab > pad_to_vocab ? tok->n_vocab : pad_to_vocab;
    char **pieces = sa_calloc((size_t)n, sizeof(char *));
    float *scores = sa_calloc((size_t)n, sizeof(float));
    int32_t *types = sa_calloc((size_t)n, sizeof(int32_t));
    sa_status s = SA_OK;
    if (!pieces || !scores || !types) {
        s = sa_err_set(err, SA_ERR_NOMEM, "GGUF export: out of memory");
        goto done;
    }
    for (int32_t i = 0; i < n && !s; i++) {
        char buf[32];
        const char *p = i < tok->n_vocab ? tok->pieces[i] : NULL;
        if (!p) { /* ids without a piece (gaps or padding) become unused placeholders */
            snprintf(buf, sizeof buf, "[PAD%d]", i);
            p = buf;
            types[i] = 5;
        } else {
            types[i] = token_type(tok->attrs[i]);
        }
        pieces[i] = sa_strdup(p);
        if (!pieces[i]) s = sa_err_set(err, SA_ERR_NOMEM, "GGUF export: out of memory");
        scores[i] = i < tok->n_vocab && tok->scores ? tok->scores[i] : 0.0f;
    }
    /* a SentencePiece vocabulary that merges by rank (HF tokenizer.json)
     * carries no scores: give each merge result -rank, so llama.cpp's
     * score-ordered merging applies the merges in the same order */
    size_t nm = sa_tok_n_merges(tok);
    if (!s && tok->type == SA_TOK_TYPE_SPM && tok->spm_use_merges) {
        for (int32_t i = 0; i < n; i++) scores[i] = -1e9f;
        for (size_t i = 0; i < nm; i++) {
            const char *l, *r;
            size_t ll, rl;
            int32_t rank;
            sa_tok_merge_at(tok, i, &l, &ll, &r, &rl, &rank);
            char *j = sa_malloc(ll + rl + 1);
            if (!j) {
                s = sa_err_set(err, SA_ERR_NOMEM, "GGUF export: out of memory");
                break;
            }
            memcpy(j, l, ll);
            memcpy(j + ll, r, rl);
            int32_t id = sa_tok_lookup(tok, j, ll + rl);
            free(j);
            if (id >= 0 && -(float)rank > scores[id]) scores[id] = -(float)rank;
        }
    }
    if (!s) s = sa_gguf_set_str(w, "tokenizer.ggml.model", model, err);
    if (!s && pre) s = sa_gguf_set_str(w, "tokenizer.ggml.pre", pre, err);
    if (!s) s = sa_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)pieces, (uint64_t)n, err);
    if (!s) s = sa_gguf_set_arr(w, "tokenizer.ggml.scores", SA_GGUF_TYPE_FLOAT32, scores, (uint64_t)n, err);
    if (!s) s = sa_gguf_set_arr(w, "tokenizer.ggml.token_type", SA_GGUF_TYPE_INT32, types, (uint64_t)n, err);
    if (!s && tok->type == SA_TOK_TYPE_BPE && nm) {
        rank_idx *ord = sa_malloc_array(nm, sizeof *ord);
        char **m = sa_calloc(nm, sizeof(char *));
        size_t k = 0;
        if (!ord || !m) s = sa_err_set(err, SA_ERR_NOMEM, "GGUF export: out of memory");
        for (size_t i = 0; !s && i < nm; i++) {
            const char *l, *r;
            size_t ll, rl;
            sa_tok_merge_at(tok, i, &l, &ll, &r, &rl, &ord[i].rank);
            ord[i].i = i;
        }
        if (!s) qsort(ord, nm, sizeof *ord, cmp_rank);
        for (size_t i = 0; !s && i < nm; i++, k++) {
            const char *l, *r;
            size_t ll, rl;
            int32_t rank;
            sa_tok_merge_at(tok, ord[i].i, &l, &ll, &r, &rl, &rank);
            if (!(m[k] = sa_malloc(ll + rl + 2))) {
                s = sa_err_set(err, SA_ERR_NOMEM, "GGUF export: out of memory");
                break;
            }
            memcpy(m[k], l, ll);
            m[k][ll] = ' ';
            memcpy(m[k] + ll + 1, r, rl);
            m[k][ll + rl + 1] = '\0';
        }
        if (!s) s = sa_gguf_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)m, (uint64_t)nm, err);
        if (m)
            for (size_t i = 0; i < nm; i++) free(m[i]);
        free(m);
        free(ord);
    }
    struct { const char *key; int32_t id; } ids[] = {
        {"tokenizer.ggml.bos_token_id", tok->bos}, {"tokenizer.ggml.eos_token_id", tok->eos},
        {"tokenizer.ggml.unknown_token_id", tok->unk}, {"tokenizer.ggml.padding_token_id", tok->pad},
        {"tokenizer.ggml.eot_token_id", tok->eot},
    };
    for (size_t i = 0; !s && i < sizeof ids / sizeof ids[0]; i++)
        if (ids[i].id >= 0) s = sa_gguf_set_u32(w, ids[i].key, (uint32_t)ids[i].id, err);
    if (!s) s = sa_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", tok->add_bos, err);
    if (!s) s = sa_gguf_set_bool(w, "tokenizer.ggml.add_eos_token", tok->add_eos, err);
    if (!s && tok->type == SA_TOK_TYPE_SPM) s = sa_gguf_set_bool(w, "tokenizer.ggml.add_space_prefix", tok->add_space_prefix, err);
    if (!s && tok->chat_template) s = sa_gguf_set_str(w, "tokenizer.chat_template", tok->chat_template, err);
done:
    if (pieces)
        for (int32_t i = 0; i < n; i++) free(pieces[i]);
    free(pieces);
    free(scores);
    free(types);
    return s;
}
