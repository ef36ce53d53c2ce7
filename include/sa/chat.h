/* chat.h — chat templates: conversations -> prompt text and token ids.
 *
 * Purpose: instruction models expect their conversations wrapped in a fixed
 * format (ChatML, Llama 2 [INST], Llama 3 headers, Zephyr/TinyLlama, Phi-3,
 * Alpaca). selfalign implements each format natively instead of running the
 * Jinja template shipped with a model; sa_chat_template_detect recognises
 * the format from that Jinja text by signature substrings. The rendered text
 * equals what Hugging Face's apply_chat_template produces for the same
 * messages (tests/test_chat.c holds the reference strings).
 *
 * Trust: rendering produces segments (text, trusted). Template scaffolding
 * ("<|im_start|>user\n") is trusted; message content is untrusted, so a
 * literal "<|im_end|>" typed by a user or found in a web page is encoded as
 * plain text and never becomes a control token. sa_chat_encode applies that
 * rule and returns one token span per message, so training can put loss on
 * the assistant tokens only: an assistant span covers its content and the
 * end-of-turn marker that closes it ("<|im_end|>", "<|eot_id|>", " </s>"),
 * not the role header before it nor the newline after it.
 *
 * Encoding detail: scaffolding that is a single special/added piece of the
 * tokenizer ("<|im_start|>", "<|eot_id|>", Phi-3's "<|user|>") is emitted as
 * its id; the remaining text between such pieces (scaffolding and content
 * together) is encoded in one call, as a tokenizer would encode the whole
 * rendered string, so BPE merges and SentencePiece spaces come out the same
 * as for the full text. Span borders inside such a stretch are found by
 * encoding the prefix up to the border; a token that straddles a border
 * (e.g. SentencePiece "▁Hi" whose space comes from the template) counts for
 * the later message. Added tokens with HF's lstrip/rstrip (Phi-3's
 * "<|user|>", "<|end|>") absorb the white space next to them, as the
 * tokenizer does for a whole text. The result equals sa_tokenizer_encode of
 * the rendered text with SA_ENCODE_SPECIAL whenever the content holds no
 * special-token strings (tests check this for every format).
 *
 * BOS: Llama 2 and Llama 3 write their BOS in the text ("<s>",
 * "<|begin_of_text|>"); it is emitted as the tokenizer's BOS id. For the
 * other formats sa_chat_encode prepends the tokenizer's BOS when the
 * tokenizer adds one by default (sa_tokenizer_add_bos). Templates that write
 * eos_token (Llama 2, Zephyr, Phi-3's final one, Alpaca, raw) render
 * tmpl->eos as text and encode the tokenizer's EOS id.
 *
 * Ownership: sa_chat_template is a plain value (copy it freely); its `eos`
 * and `bos` pointers are borrowed (static strings by default). Messages are
 * borrowed. sa_chat_segments and sa_chat_spans are caller-owned growable
 * arrays ({0} is empty) released with their _free functions.
 *
 * Usage:
 *     sa_chat_template t;
 *     sa_chat_template_for_tokenizer(tok, &t);          // detect from its Jinja
 *     sa_chat_msg msgs[] = {{SA_CHAT_ROLE_SYSTEM, "Answer as an AI assistant."},
 *                           {SA_CHAT_ROLE_USER, "Hi"}, {SA_CHAT_ROLE_ASSISTANT, "Hello!"}};
 *     sa_tokens ids = {0}; sa_chat_spans spans = {0};
 *     if (sa_chat_encode(tok, &t, msgs, 3, false, &ids, &spans, &err)) ...;
 *     // loss on ids[spans.v[2].begin .. spans.v[2].end)
 *     sa_tokens_free(&ids); sa_chat_spans_free(&spans);
 */
#ifndef SA_CHAT_H
#define SA_CHAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sa/status.h"
#include "sa/strbuf.h"
#include "sa/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sa_chat_role {
    SA_CHAT_ROLE_INVALID = -1,
    SA_CHAT_ROLE_SYSTEM = 0,
    SA_CHAT_ROLE_USER,
    SA_CHAT_ROLE_ASSISTANT,
    SA_CHAT_ROLE_COUNT
} sa_chat_role;

typedef struct sa_chat_msg {
    sa_chat_role role;
    const char *content; /* NUL-terminated UTF-8, borrowed */
} sa_chat_msg;

typedef enum sa_chat_format {
    SA_CHAT_FORMAT_RAW = 0, /* contents only, one per line; assistant turns end with eos */
    SA_CHAT_FORMAT_CHATML,  /* <|im_start|>role\n...<|im_end|>\n (Qwen, SmolLM, ...) */
    SA_CHAT_FORMAT_LLAMA2,  /* <s>[INST] <<SYS>>\n...\n<</SYS>>\n\n... [/INST] ... </s> */
    SA_CHAT_FORMAT_LLAMA3,  /* <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
    SA_CHAT_FORMAT_ZEPHYR,  /* <|role|>\n...</s>\n (TinyLlama-Chat, Zephyr) */
    SA_CHAT_FORMAT_PHI3,    /* <|role|>\n...<|end|>\n (Phi-3) */
    SA_CHAT_FORMAT_ALPACA,  /* ### Instruction:\n...\n\n### Response:\n...</s>\n\n */
    SA_CHAT_FORMAT_COUNT
} sa_chat_format;

#define SA_CHAT_SYSTEM_MAX 1024 /* bytes of a default system prompt, with the NUL */

typedef struct sa_chat_template {
    sa_chat_format format;
    /* BOS text written by formats that put it in the text (Llama 2/3). */
    const char *bos;
    /* eos_token text for formats that write it; sa_chat_template_for_tokenizer
     * sets it to the tokenizer's EOS piece. */
    const char *eos;
    /* System prompt used when the conversation does not start with a system
     * message; "" = none. Set with sa_chat_template_set_default_system. */
    char default_system[SA_CHAT_SYSTEM_MAX];
    /* Set by sa_chat_template_detect when no signature matched (format RAW):
     * the caller should warn that the model's template is not understood. */
    bool unknown;
} sa_chat_template;

/* Built-in formats by name: "chatml", "llama2", "llama3", "zephyr", "phi3",
 * "alpaca", "raw". None has a default system except alpaca (its preamble
 * "Below is an instruction that describes a task. ..."). Unknown name:
 * SA_ERR_NOT_FOUND with the list of names in err. */
sa_status sa_chat_template_from_name(const char *name, sa_chat_template *out, sa_err *err);
/* Format from a Jinja chat template (tokenizer_config.json "chat_template",
 * GGUF tokenizer.chat_template) by signature: "<|im_start|>" chatml,
 * "<|start_header_id|>" llama3, "[INST]" llama2, "<|user|>" with "<|end|>"
 * phi3, "<|user|>" zephyr, "### Instruction" alpaca; otherwise raw with
 * `unknown` set (also for NULL). A ChatML template that writes a literal
 * default system turn ('<|im_start|>system\nYou are Qwen, ...<|im_end|>')
 * yields that text as default_system. */
sa_chat_template sa_chat_template_detect(const char *jinja);
/* Detect from the tokenizer's chat template; take eos (and bos, for formats
 * that write one) from the tokenizer's own pieces. */
void sa_chat_template_for_tokenizer(const sa_tokenizer *tok, sa_chat_template *out);
/* The template every stage uses for a model: the named one when name is
 * non-NULL (errors as sa_chat_template_from_name), else the tokenizer's
 * (sa_chat_template_for_tokenizer), else — when that is absent or not
 * recognised — "alpaca", with *fell_back (may be NULL) set so the caller
 * can warn. Training, backtranslation and curation all choose this way, so
 * a model is prompted as it was trained. */
sa_status sa_chat_template_resolve(const sa_tokenizer *tok, const char *name, sa_chat_template *out, bool *fell_back,
                                   sa_err *err);
/* Replace the default system prompt; NULL or "" disables it. SA_ERR_RANGE if
 * longer than SA_CHAT_SYSTEM_MAX - 1 bytes (t is unchanged). */
sa_status sa_chat_template_set_default_system(sa_chat_template *t, const char *text,
                                              sa_err *err);

const char *sa_chat_format_name(sa_chat_format f); /* "chatml", ...; "?" if invalid */
const char *sa_chat_role_name(sa_chat_role r);     /* "system", "user", "assistant" */
/* SA_CHAT_ROLE_INVALID if unknown. */
sa_chat_role sa_chat_role_from_name(const char *name);

/* ---- rendering ---------------------------------------------------------- */

typedef enum sa_chat_seg_kind {
    SA_CHAT_SEG_TEXT = 0,
    SA_CHAT_SEG_BOS, /* the template's bos_token: encoded as the tokenizer's BOS id */
    SA_CHAT_SEG_EOS, /* the template's eos_token: encoded as the tokenizer's EOS id */
} sa_chat_seg_kind;

typedef struct sa_chat_segment {
    size_t off, len;       /* bytes [off, off + len) of segments.text */
    bool trusted;          /* scaffolding (true) or message content (false) */
    sa_chat_seg_kind kind;
    int32_t msg;           /* message whose span this segment is in; -1 for none */
} sa_chat_segment;

typedef struct sa_chat_segments {
    sa_strbuf text; /* the whole rendered prompt */
    sa_chat_segment *v;
    size_t n, cap;
} sa_chat_segments;

void sa_chat_segments_free(sa_chat_segments *s);

/* Render msgs[0..n) into out (reset first). add_generation_prompt appends
 * the header that opens an assistant turn. Llama 2 requires user/assistant
 * alternation starting with user (after one optional leading system
 * message): otherwise SA_ERR_INVALID_ARG naming the message index. A role
 * outside the enum or a NULL content is SA_ERR_INVALID_ARG. */
sa_status sa_chat_render(const sa_chat_template *t, const sa_chat_msg *msgs, size_t n,
                         bool add_generation_prompt, sa_chat_segments *out, sa_err *err);
/* The same text as one string, appended to out (for display and logs). */
sa_status sa_chat_render_text(const sa_chat_template *t, const sa_chat_msg *msgs, size_t n,
                              bool add_generation_prompt, sa_strbuf *out, sa_err *err);

/* ---- encoding ----------------------------------------------------------- */

typedef struct sa_chat_span {
    sa_chat_role role;
    size_t begin, end; /* [begin, end) indices into the ids array */
} sa_chat_span;

typedef struct sa_chat_spans {
    sa_chat_span *v; /* one per message, in message order */
    size_t n, cap;
} sa_chat_spans;

void sa_chat_spans_free(sa_chat_spans *s);

/* Render and encode: ids are appended to *ids (span indices are positions in
 * ids, counting what it held before); spans (may be NULL) is reset and
 * filled with one span per message. On error ids keeps its previous length
 * and spans is empty. */
sa_status sa_chat_encode(const sa_tokenizer *tok, const sa_chat_template *t,
                         const sa_chat_msg *msgs, size_t n, bool add_generation_prompt,
                         sa_tokens *ids, sa_chat_spans *spans, sa_err *err);

#ifdef __cplusplus
}
#endif
#endif
