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
    bool spm_word_split;   /* set by sa_tok_spm_prepare: encode word by word (same result, faster) */
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

    /* added by tok-a: HF ByteLevel add_prefix_space (RoBERTa style): a space
     * is put before each text fragment that does not start with one */
    bool bpe_add_prefix_space;
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

/* rank[i] = sa_tok_merge_rank(ids[i], ids[i+1], &merged[i]) for i < n-1,
 * with the table probes overlapped (prefetched). */
void sa_tok_merge_rank_batch(const sa_tokenizer *tok, const int32_t *ids, size_t n, int32_t *rank,
                             int32_t *merged);

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

/* ---- additions by tok-a (tokenizer.c, pretok.c, bpe.c, unicode.c, load_*.c) ------ */
/* tiktoken file ("base64 rank" lines): OpenAI's cl100k_base, o200k_base,
 * r50k_base, p50k_base, recognised by size. */
sa_status sa_tok_load_tiktoken(sa_tokenizer **out, const char *path, sa_err *err); /* load_tiktoken.c */
/* Grow the vocabulary to n_vocab ids (never shrinks); new ids have no piece
 * yet. Call sa_tok_finalize again afterwards. */
sa_status sa_tok_resize(sa_tokenizer *tok, int32_t n_vocab);
/* Name of a pre-tokenizer kind ("gpt2", "llama3", ...). */
const char *sa_pretok_kind_name(sa_pretok_kind kind);
/* Free the compiled regexes and sources (sa_tokenizer_free calls it). */
void sa_tok_pretok_free(sa_tokenizer *tok);
/* Split text with the tokenizer's regexes (each applied to every piece the
 * previous one produced; matches and the gaps between them are both pieces),
 * calling fn on each final piece in order. fn returns SA_OK to go on. */
typedef sa_status (*sa_tok_piece_fn)(void *ud, const char *piece, size_t len);
sa_status sa_tok_pretok_split(const sa_tokenizer *tok, const char *text, size_t len,
                              sa_tok_piece_fn fn, void *ud, sa_err *err);
/* As sa_tok_pretok_split; fast = false forces PCRE2 for every match (tests
 * compare it with the hand-written ASCII fast path). */
sa_status sa_tok_pretok_split_ex(const sa_tokenizer *tok, const char *text, size_t len, bool fast,
                                 sa_tok_piece_fn fn, void *ud, sa_err *err);
/* BPE: computed by finalize (byte_ids, decoded bytes per id). */
struct sa_tok_tables;
sa_status sa_tok_bpe_prepare(sa_tokenizer *tok, struct sa_tok_tables *tb, sa_err *err);
sa_status sa_tok_tables_set_decoded(struct sa_tok_tables *tb, uint32_t *off, char *dec);
/* Bytes of id after undoing the byte-level mapping (BPE only); 0/NULL otherwise. */
size_t sa_tok_bpe_table_decoded(const sa_tokenizer *tok, int32_t id, const char **bytes);
/* Merges skipped at finalize because a side or the result is not a token. */
size_t sa_tok_merges_dropped(const sa_tokenizer *tok);
/* GPT-2 byte <-> code point mapping: code point of byte b; byte of code
 * point cp or -1. */
uint32_t sa_tok_byte_to_cp(uint8_t b);
int sa_tok_cp_to_byte(uint32_t cp);
/* NFC (unicode.c): true if s[0..n) certainly is NFC already (no code point
 * that NFC could change); sa_unicode_nfc appends the NFC form of valid
 * UTF-8 s to out. */
bool sa_unicode_is_nfc_quick(const char *s, size_t n);
/* Class of a code point as the pre-tokenizer regexes see it (PCRE2 with
 * UCP): \p{L}, \p{N}, \s, or anything else. */
enum { SA_UCLASS_OTHER = 0, SA_UCLASS_LETTER = 1, SA_UCLASS_NUMBER = 2, SA_UCLASS_SPACE = 3 };
int sa_unicode_pretok_class(uint32_t cp);
sa_status sa_unicode_nfc(const char *s, size_t n, sa_strbuf *out);

/* ---- additions by tok-b (spm.c) ------------------------------------------------- */
/* SPM: after every piece is set, decide whether the vocabulary allows
 * encoding word by word (sets spm_word_split). Optional: without it encode
 * treats the whole text as one word, which gives the same ids, slower. */
void sa_tok_spm_prepare(sa_tokenizer *tok);

/* Value of a SentencePiece byte piece "<0xXX>" (hex digits in either case), or -1. */
int sa_tok_byte_piece_value(const char *p, size_t n);
/* Give every id without a piece (a hole in the vocabulary) a unique
 * "[sa:unused:<id>]" placeholder marked UNUSED, so lookups stay consistent. */
sa_status sa_tok_fill_holes(sa_tokenizer *tok, sa_err *err);

/* ---- merges as loaded (kept after finalize, for export) ------------------------- */
size_t sa_tok_n_merges(const sa_tokenizer *tok);
/* Merge i (in load order): left and right piece bytes and its rank. */
bool sa_tok_merge_at(const sa_tokenizer *tok, size_t i, const char **l, size_t *llen, const char **r, size_t *rlen,
                     int32_t *rank);

#endif
