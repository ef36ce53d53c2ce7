/* load_llama2c.c — a SentencePiece-style tokenizer from a llama2.c
 * tokenizer.bin (read by sa_llama2c_vocab_read).
 *
 * llama2.c's exporter (tokenizer.py) writes every SentencePiece piece with
 * "▁" replaced by a space, and BOS/EOS as "\n<s>\n" and "\n</s>\n". We undo
 * both so the vocabulary is the SentencePiece one again: pieces get their
 * "▁" back, ids 0/1/2 become <unk>/<s>/</s> (checked against the file:
 * llama2.c hard-codes BOS 1 and EOS 2), and "<0x00>".."<0xFF>" are marked
 * BYTE for byte fallback. Scores are the SentencePiece scores, so encoding
 * merges by highest score exactly as for a GGUF "llama" vocabulary.
 * The file has no flags: add_space_prefix and add_bos are on (Llama 2 and
 * the llama2.c-trained vocabularies use SentencePiece's dummy prefix).
 */
#include <string.h>

#include "sa/alloc.h"
#include "sa/llama2c.h"
#include "sa/strbuf.h"
#include "tok_internal.h"


static bool piece_is(const sa_llama2c_vocab *v, int32_t i, const char *s) {
    return i < v->n && v->lens[i] == strlen(s) && memcmp(v->pieces[i], s, v->lens[i]) == 0;
}

sa_status sa_tok_load_llama2c(sa_tokenizer **out, const char *path, sa_err *err) {
    SA_ASSERT(out && path);
    *out = NULL;
    sa_llama2c_vocab v;
    sa_status s = sa_llama2c_vocab_read(&v, path, 0, err);
    if (s != SA_OK) return s;
    if (v.n < 3) {
        sa_llama2c_vocab_free(&v);
        return sa_err_set(err, SA_ERR_FORMAT, "%s: %d tokens; a llama2.c vocabulary has at least 3",
                          path, v.n);
    }
    /* llama2.c writes BOS/EOS with surrounding newlines; accept the plain
     * forms too (other exporters) */
    bool ok = (piece_is(&v, 1, "\n<s>\n") || piece_is(&v, 1, "<s>")) &&
              (piece_is(&v, 2, "\n</s>\n") || piece_is(&v, 2, "</s>"));
    if (!ok) {
        sa_llama2c_vocab_free(&v);
        return sa_err_set(err, SA_ERR_FORMAT,
                          "%s: tokens 1 and 2 are not <s> and </s>: not a llama2.c SentencePiece "
                          "vocabulary",
                          path);
    }
    sa_tokenizer *tok = sa_tok_new(v.n);
    sa_strbuf sb = {0};
    if (!tok) {
        s = sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory for %d tokens", path, v.n);
        goto done;
    }
    tok->type = SA_TOK_TYPE_SPM;
    for (int32_t i = 0; i < v.n && s == SA_OK; i++) {
        const char *p = v.pieces[i];
        size_t n = v.lens[i];
        uint32_t attr = SA_TOKEN_ATTR_NORMAL;
        int b;
        sa_strbuf_reset(&sb);
        if (i == 0 && piece_is(&v, 0, "<unk>")) {
            attr = SA_TOKEN_ATTR_UNKNOWN;
            s = sa_strbuf_puts(&sb, "<unk>");
        } else if (i == 1 || i == 2) {
            attr = SA_TOKEN_ATTR_CONTROL;
            s = sa_strbuf_puts(&sb, i == 1 ? "<s>" : "</s>");
        } else if ((b = sa_tok_byte_piece_value(p, n)) >= 0) {
            attr = SA_TOKEN_ATTR_BYTE;
            if (tok->byte_ids[b] < 0) tok->byte_ids[b] = i;
            tok->byte_fallback = true;
            s = sa_strbuf_append(&sb, p, n);
        } else {
            for (size_t k = 0; k < n && s == SA_OK; k++)
                s = p[k] == ' ' ? sa_strbuf_append(&sb, "\xE2\x96\x81", 3)
                                : sa_strbuf_putc(&sb, p[k]);
        }
        if (s == SA_OK) s = sa_tok_set_piece(tok, i, sb.len ? sb.buf : "", sb.len, v.scores[i], attr);
        if (s != SA_OK) s = sa_err_set(err, s, "%s: token %d: piece of %zu bytes not accepted", path, i, n);
    }
    if (s != SA_OK) goto done;
    tok->unk = (tok->attrs[0] & SA_TOKEN_ATTR_UNKNOWN) ? 0 : -1;
    tok->bos = 1;
    tok->eos = 2;
    tok->add_bos = true;
    tok->add_space_prefix = true;
    sa_tok_spm_prepare(tok);
    if ((s = sa_tok_finalize(tok, err)) != SA_OK) sa_err_prefix(err, "%s: ", path);
done:
    sa_strbuf_free(&sb);
    sa_llama2c_vocab_free(&v);
    if (s != SA_OK) {
        sa_tokenizer_free(tok);
        return s;
    }
    *out = tok;
    return SA_OK;
}
