/* tokenizer.h — text <-> token ids for Llama-family models.
 *
 * Purpose: one tokenizer object covers the three families selfalign meets:
 *   - byte-level BPE (GPT-2, Llama 3, Qwen2, SmolLM, Falcon, MPT, StarCoder,
 *     DeepSeek, ...): a pre-tokenizer regex splits the text, bytes map to
 *     printable code points, merges apply by rank;
 *   - SentencePiece-style BPE (Llama 2, TinyLlama, Mistral, Phi-3, llama2.c):
 *     spaces become U+2581 "▁", pieces merge by score (or merge rank), bytes
 *     with no piece fall back to <0xXX> tokens;
 *   - WordPiece (BERT-style), greedy longest match with "##" continuations.
 * Loaders read Hugging Face tokenizer.json (+ tokenizer_config.json),
 * vocab.json + merges.txt, GGUF tokenizer metadata and llama2.c tokenizer.bin.
 *
 * Special tokens: text is UNTRUSTED by default. A literal "<|im_end|>" or
 * "</s>" inside user, corpus or generated text is encoded as ordinary text.
 * Only when the caller passes SA_ENCODE_SPECIAL (text written by our own
 * templates) are special/control token strings matched and emitted as their
 * ids. Chat templates render to segments that carry this flag per segment.
 *
 * Ownership: sa_tokenizer_load* return a tokenizer the caller frees with
 * sa_tokenizer_free. It is immutable after loading, so one tokenizer may be
 * shared by many threads for encode/decode. sa_tokens is a caller-owned
 * growable id array (free with sa_tokens_free).
 *
 * Usage:
 *     sa_tokenizer *tok; sa_err err = {0};
 *     if (sa_tokenizer_load(&tok, "models/x/tokenizer.json", &err)) die(err.msg);
 *     sa_tokens ids = {0};
 *     sa_tokenizer_encode(tok, text, strlen(text), SA_ENCODE_BOS, &ids, &err);
 *     sa_strbuf out = {0};
 *     sa_tokenizer_decode(tok, ids.ids, ids.n, 0, &out, &err);
 *     sa_tokens_free(&ids); sa_strbuf_free(&out); sa_tokenizer_free(tok);
 */
#ifndef SA_TOKENIZER_H
#define SA_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sa/status.h"
#include "sa/strbuf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_tokenizer sa_tokenizer;

typedef enum sa_tok_type {
    SA_TOK_TYPE_BPE = 0, /* byte-level BPE (GPT-2 family) */
    SA_TOK_TYPE_SPM,     /* SentencePiece-style BPE with byte fallback */
    SA_TOK_TYPE_WPM,     /* WordPiece */
} sa_tok_type;

/* Per-token attributes (bit flags). */
enum {
    SA_TOKEN_ATTR_NORMAL = 0,
    SA_TOKEN_ATTR_CONTROL = 1 << 0,      /* special: <s>, </s>, <|im_end|>, [CLS] ... */
    SA_TOKEN_ATTR_USER_DEFINED = 1 << 1, /* added token matched verbatim, not special */
    SA_TOKEN_ATTR_BYTE = 1 << 2,         /* SPM byte-fallback piece <0xXX> */
    SA_TOKEN_ATTR_UNKNOWN = 1 << 3,      /* <unk> */
    SA_TOKEN_ATTR_UNUSED = 1 << 4,
    /* added-token options (HF lstrip/rstrip): when the token is matched in
     * text, the whitespace before/after it is absorbed into the token */
    SA_TOKEN_ATTR_LSTRIP = 1 << 5,
    SA_TOKEN_ATTR_RSTRIP = 1 << 6,
};

/* Encode flags. */
enum {
    SA_ENCODE_SPECIAL = 1 << 0, /* text is trusted template text: match special tokens */
    SA_ENCODE_BOS = 1 << 1,     /* prepend BOS (if the tokenizer has one) */
    SA_ENCODE_EOS = 1 << 2,     /* append EOS */
};

/* Decode flags. */
enum {
    SA_DECODE_SKIP_SPECIAL = 1 << 0, /* drop control tokens from the output */
};

typedef struct sa_tokens {
    int32_t *ids;
    size_t n, cap;
} sa_tokens;

sa_status sa_tokens_push(sa_tokens *t, int32_t id);
void sa_tokens_free(sa_tokens *t);

/* Load from a path, detecting the format: a directory (tokenizer.json, or
 * vocab.json + merges.txt, or encoder.json + vocab.bpe, or tokenizer.bin;
 * tokenizer_config.json and special_tokens_map.json beside them are read when
 * present), a tokenizer.json file, a .gguf file (its tokenizer.* metadata),
 * an OpenAI .tiktoken file (cl100k_base, o200k_base, r50k_base, p50k_base)
 * or a llama2.c tokenizer.bin. */
sa_status sa_tokenizer_load(sa_tokenizer **out, const char *path, sa_err *err);
void sa_tokenizer_free(sa_tokenizer *tok);

/* Append the ids of text[0..len) to out. Invalid UTF-8 in the input is an
 * error (SA_ERR_UTF8 with the byte offset); out is left as it was. */
sa_status sa_tokenizer_encode(const sa_tokenizer *tok, const char *text, size_t len,
                              unsigned flags, sa_tokens *out, sa_err *err);

/* Append the text of ids to out. Byte-level and byte-fallback tokens may
 * split a UTF-8 character across ids; the joined bytes are what the model
 * produced (use sa_utf8_complete_prefix when streaming). SPM decoding turns
 * "▁" into spaces and drops the leading space the encoder added. */
sa_status sa_tokenizer_decode(const sa_tokenizer *tok, const int32_t *ids, size_t n,
                              unsigned flags, sa_strbuf *out, sa_err *err);

/* The raw vocabulary piece of id (as stored, e.g. "Ġthe" or "▁the"), its byte
 * length in *len; NULL if id is out of range. */
const char *sa_tokenizer_piece(const sa_tokenizer *tok, int32_t id, size_t *len);
/* Id of an exact piece, or -1. */
int32_t sa_tokenizer_find(const sa_tokenizer *tok, const char *piece, size_t len);

sa_tok_type sa_tokenizer_type(const sa_tokenizer *tok);
int32_t sa_tokenizer_vocab_size(const sa_tokenizer *tok);
uint32_t sa_tokenizer_attr(const sa_tokenizer *tok, int32_t id);
/* Special ids, -1 when the tokenizer has none. */
int32_t sa_tokenizer_bos(const sa_tokenizer *tok);
int32_t sa_tokenizer_eos(const sa_tokenizer *tok);
int32_t sa_tokenizer_unk(const sa_tokenizer *tok);
int32_t sa_tokenizer_pad(const sa_tokenizer *tok);
/* True if generation should stop at id (eos, eot, <|im_end|>, <|eot_id|>...). */
bool sa_tokenizer_is_eog(const sa_tokenizer *tok, int32_t id);
/* Whether the model adds BOS/EOS by default (from tokenizer_config or GGUF). */
bool sa_tokenizer_add_bos(const sa_tokenizer *tok);
/* The chat template string found with the tokenizer (tokenizer_config.json
 * "chat_template" or GGUF tokenizer.chat_template), or NULL. */
const char *sa_tokenizer_chat_template(const sa_tokenizer *tok);
/* Write the tokenizer as GGUF tokenizer.* metadata (the llama.cpp
 * convention: model "llama" for SentencePiece-style, "gpt2" for byte-level
 * BPE; tokens, scores, token types, merges, special ids, add-BOS/EOS, the
 * pre-tokenizer name and the chat template). When pad_to_vocab exceeds the
 * vocabulary, unused "[PAD<i>]" tokens fill it up to the model's embedding
 * rows. WordPiece and custom regex pre-tokenizers are SA_ERR_UNSUPPORTED.
 * `writer` is an sa_gguf_writer (gguf.h). */
struct sa_gguf_writer;
sa_status sa_tokenizer_export_gguf(const sa_tokenizer *tok, struct sa_gguf_writer *writer, int32_t pad_to_vocab,
                                   sa_err *err);
/* Short description: "BPE (pre-tokenizer llama3), 128256 tokens". */
const char *sa_tokenizer_describe(const sa_tokenizer *tok);

#ifdef __cplusplus
}
#endif
#endif
