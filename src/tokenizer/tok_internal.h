/* tok_internal.h — the tokenizer's private data model, shared by the
 * algorithm files (bpe.c, spm.c, wpm.c) and the loaders (load_*.c).
 *
 * A loader creates a tokenizer with sa_tok_new(n_vocab), fills every piece
 * with sa_tok_set_piece, adds merges (BPE, or SPM from tokenizer.json) with
 * sa_tok_add_merge, sets the fields below (type, pre-tokenizer, special ids,
 * flags), then calls sa_tok_finalize, which builds the lookup tables and
 * validates. After finalize the tokenizer is immutable.
 */
#ifndef SA_TOK_INTERNAL_H
#define SA_TOK_INTERNAL_H

#include "sa/tokenizer.h"

/* Pre-tokenizer kinds for byte-level BPE (and WordPiece's basic split). The
 * names follow the `tokenizer.ggml.pre` values of GGUF files. */
typedef enum sa_pretok_kind {
    SA_PRETOK_NONE = 0,
    SA_PRETOK_GPT2,          /* also gpt-neox, mpt (default) */
    SA_PRETOK_LLAMA3,        /* llama-bpe, smaug */
    SA_PRETOK_QWEN2,
    SA_PRETOK_FALCON,
    SA_PRETOK_STARCODER,     /* starcoder, refact, command-r, smollm: digits split first */
    SA_PRETOK_DEEPSEEK_LLM,
    SA_PRETOK_DEEPSEEK_CODER,
    SA_PRETOK_BERT,          /* WordPiece basic tokenizer */
    SA_PRETOK_CUSTOM,        /* regexes from tokenizer.json */
    SA_PRETOK_COUNT
} sa_pretok_kind;

#define SA_TOK_MAX_REGEX 8

struct sa_tokenizer {
    sa_tok_type type;
    int32_t n_vocab;
    /* per id; pieces[i] is NUL-terminated and piece_len[i] bytes long */
    char **pieces;
    uint32_t *piece_len;
    float *scores;  /* SPM merge priority (higher merges first); 0 if unused */
    uint32_t *attrs; /* SA_TOKEN_ATTR_* */

    /* pre-tokenizer (BPE) */
    sa_pretok_kind pretok;
    char *pretok_name;              /* for describe/inspect, owned */
    int n_regex;
    char *regex_src[SA_TOK_MAX_REGEX]; /* custom regex sources (owned), applied in order */
    void *regex_code[SA_TOK_MAX_REGEX]; /* compiled pcre2_code*, owned */
    bool ignore_merges;   /* whole-word vocab hit before merging (Llama 3) */
    bool nfc;             /* NFC-normalise input (Qwen2) */

    /* SPM */
    bool add_space_prefix; /* prepend "▁" to the text (Llama 2) */
    bool byte_fallback;
    bool spm_use_merges;   /* true: merge by merges rank (HF tokenizer.json); false: by score */
    int32_t byte_ids[256]; /* SPM: id of <0xXX>, or -1; BPE: id of the single mapped byte char */

    /* WordPiece */
    bool wpm_lowercase;

    /* special ids, -1 if absent */
    int32_t bos, eos, unk, pad, sep, cls, mask, eot;
    bool add_bos, add_eos;

    char *chat_template; /* owned or NULL */
    char describe[128];

    /* lookup tables built by sa_tok_finalize (opaque, defined in tokenizer.c) */
    struct sa_tok_tables *tables;
    /* merges collected before finalize: pairs of piece strings with their rank */
    struct sa_tok_merge_list *pending_merges;
};

/* ---- builder (tokenizer.c) --------------------------------------------------- */
sa_tokenizer *sa_tok_new(int32_t n_vocab);
/* Copies piece[0..len). */
sa_status sa_tok_set_piece(sa_tokenizer *tok, int32_t id, const char *piece, size_t len,
                           float score, uint32_t attrs);
/* A BPE merge "left right" with rank (lower merges first). */
sa_status sa_tok_add_merge(sa_tokenizer *tok, const char *left, size_t llen, const char *right,
                           size_t rlen, int32_t rank);
/* Compile regexes for tok->pretok (or tok->regex_src for CUSTOM). */
sa_status sa_tok_set_pretok(sa_tokenizer *tok, sa_pretok_kind kind, sa_err *err);
sa_pretok_kind sa_pretok_from_name(const char *gguf_pre_name);
/* Build tables, check invariants; after this the tokenizer is usable. */
sa_status sa_tok_finalize(sa_tokenizer *tok, sa_err *err);

/* ---- lookups (tokenizer.c) ----------------------------------------------------- */
int32_t sa_tok_lookup(const sa_tokenizer *tok, const char *s, size_t len); /* -1 if absent */
/* Rank of merging ids (a, b), or -1 if there is no such merge; *merged gets
 * the id of the merged piece. */
int32_t sa_tok_merge_rank(const sa_tokenizer *tok, int32_t a, int32_t b, int32_t *merged);

/* ---- algorithms: encode plain (untrusted) text without special handling ---- */
sa_status sa_tok_bpe_encode(const sa_tokenizer *tok, const char *text, size_t len,
                            sa_tokens *out, sa_err *err);   /* bpe.c */
sa_status sa_tok_spm_encode(const sa_tokenizer *tok, const char *text, size_t len,
                            sa_tokens *out, sa_err *err);   /* spm.c */
sa_status sa_tok_wpm_encode(const sa_tokenizer *tok, const char *text, size_t len,
                            sa_tokens *out, sa_err *err);   /* wpm.c */
/* Decode one id's bytes, appended to out (family-specific). */
sa_status sa_tok_bpe_decode_piece(const sa_tokenizer *tok, int32_t id, sa_strbuf *out);
sa_status sa_tok_spm_decode_piece(const sa_tokenizer *tok, int32_t id, sa_strbuf *out);
sa_status sa_tok_wpm_decode_piece(const sa_tokenizer *tok, int32_t id, sa_strbuf *out);

/* ---- loaders -------------------------------------------------------------------- */
sa_status sa_tok_load_hf_json(sa_tokenizer **out, const char *path, sa_err *err);   /* load_hf.c */
sa_status sa_tok_load_vocab_merges(sa_tokenizer **out, const char *vocab_json,
                                   const char *merges_txt, sa_err *err);           /* load_hf.c */
sa_status sa_tok_load_hf_config(sa_tokenizer *tok, const char *dir, sa_err *err); /* load_hf.c */
sa_status sa_tok_load_gguf(sa_tokenizer **out, const char *path, sa_err *err);     /* load_gguf.c */
sa_status sa_tok_load_llama2c(sa_tokenizer **out, const char *path, sa_err *err);  /* load_llama2c.c */

#endif
