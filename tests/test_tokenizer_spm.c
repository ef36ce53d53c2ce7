/* test_tokenizer_spm.c — SentencePiece-style BPE and WordPiece algorithms on
 * tiny hand-built vocabularies, and the llama2.c tokenizer.bin loader
 * against the llama.cpp Llama 2 vectors (HF encode, add_special_tokens=False). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/tokenizer/tok_internal.h"
#include "sa/tokenizer.h"
#include "sa_test.h"
#include "sa_test_vocab.h"

#define SP "\xE2\x96\x81" /* ▁ */

/* ---- helpers ------------------------------------------------------------------ */

static char *read_all(sa_test *t, const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        sa_test_fail(t, __FILE__, __LINE__, "cannot open %s", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) b[sz] = 0;
    *n = (size_t)sz;
    return b;
}

/* ids as " 1 2 3" (the .out format) */
static void ids_str(const sa_tokens *ids, char *buf, size_t cap) {
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < ids->n && o + 16 < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, " %d", ids->ids[i]);
}

static const char *encode_str(sa_test *t, const sa_tokenizer *tok, const char *text, char *buf,
                              size_t cap) {
    sa_tokens ids = {0};
    sa_err err = {0};
    SA_CHECK_OK(t, sa_tokenizer_encode(tok, text, strlen(text), 0, &ids, &err), &err);
    ids_str(&ids, buf, cap);
    sa_tokens_free(&ids);
    return buf;
}

/* A tiny SPM vocabulary: <unk> <s> </s>, 256 byte pieces, then `pieces`
 * with scores. */
static sa_tokenizer *tiny_spm(sa_test *t, const char *const *pieces, const float *scores, int n,
                              bool byte_fallback, const uint32_t *attrs) {
    int nv = 3 + (byte_fallback ? 256 : 0) + n;
    sa_tokenizer *tok = sa_tok_new(nv);
    if (!tok) return NULL;
    tok->type = SA_TOK_TYPE_SPM;
    sa_tok_set_piece(tok, 0, "<unk>", 5, 0, SA_TOKEN_ATTR_UNKNOWN);
    sa_tok_set_piece(tok, 1, "<s>", 3, 0, SA_TOKEN_ATTR_CONTROL);
    sa_tok_set_piece(tok, 2, "</s>", 4, 0, SA_TOKEN_ATTR_CONTROL);
    int id = 3;
    if (byte_fallback) {
        for (int b = 0; b < 256; b++, id++) {
            char p[8];
            snprintf(p, sizeof p, "<0x%02X>", b);
            sa_tok_set_piece(tok, id, p, 6, 0, SA_TOKEN_ATTR_BYTE);
            tok->byte_ids[b] = id;
        }
        tok->byte_fallback = true;
    }
    for (int i = 0; i < n; i++, id++)
        sa_tok_set_piece(tok, id, pieces[i], strlen(pieces[i]), scores[i],
                         attrs ? attrs[i] : SA_TOKEN_ATTR_NORMAL);
    tok->unk = 0;
    tok->bos = 1;
    tok->eos = 2;
    tok->add_space_prefix = true;
    sa_err err = {0};
    if (sa_tok_finalize(tok, &err) != SA_OK) {
        sa_test_fail(t, __FILE__, __LINE__, "finalize: %s", err.msg);
        sa_tokenizer_free(tok);
        return NULL;
    }
    return tok;
}

static void check_roundtrip(sa_test *t, const sa_tokenizer *tok, const char *text, size_t len,
                            const char *what) {
    sa_tokens ids = {0};
    sa_strbuf sb = {0};
    sa_err err = {0};
    SA_CHECK_OK(t, sa_tokenizer_encode(tok, text, len, 0, &ids, &err), &err);
    SA_CHECK_OK(t, sa_tokenizer_decode(tok, ids.ids, ids.n, 0, &sb, &err), &err);
    SA_CHECKF(t, sb.len == len && memcmp(sa_strbuf_cstr(&sb), text, len) == 0,
              "%s: round trip of \"%.*s\" gave \"%s\"", what, (int)(len > 60 ? 60 : len), text,
              sa_strbuf_cstr(&sb));
    sa_tokens_free(&ids);
    sa_strbuf_free(&sb);
}

/* ---- tiny vocabularies ----------------------------------------------------------- */

static void spm_merge_by_score(sa_test *t) {
    /* "ab" scores above "bc": in "abc" the ab merge wins, then "abc" is not a
     * piece, so the result is ab + c */
    const char *p[] = {SP, "a", "b", "c", "ab", "bc", SP "ab", "abc_"};
    const float s[] = {-10, -1, -1, -1, -2, -3, -4, -99};
    sa_tokenizer *tok = tiny_spm(t, p, s, 8, false, NULL);
    SA_REQUIRE(t, tok);
    char buf[256];
    /* ids: ▁=3 a=4 b=5 c=6 ab=7 bc=8 ▁ab=9 */
    SA_CHECK_STR(t, encode_str(t, tok, "abc", buf, sizeof buf), " 9 6");
    tok->add_space_prefix = false;
    SA_CHECK_STR(t, encode_str(t, tok, "abc", buf, sizeof buf), " 7 6");
    SA_CHECK_STR(t, encode_str(t, tok, "bc", buf, sizeof buf), " 8");
    SA_CHECK_STR(t, encode_str(t, tok, "a bc", buf, sizeof buf), " 4 3 8");
    SA_CHECK_STR(t, encode_str(t, tok, "", buf, sizeof buf), "");
    /* no byte fallback: unknown characters become <unk>, runs fused */
    SA_CHECK_STR(t, encode_str(t, tok, "xyab", buf, sizeof buf), " 0 7");
    SA_CHECK_STR(t, encode_str(t, tok, "x y", buf, sizeof buf), " 0 3 0");
    sa_tokenizer_free(tok);
}

static void spm_ties_go_left(sa_test *t) {
    /* "aaa": both pairs make "aa" with the same score; the leftmost merges */
    const char *p[] = {"a", "aa"};
    const float s[] = {-1, -2};
    sa_tokenizer *tok = tiny_spm(t, p, s, 2, false, NULL);
    SA_REQUIRE(t, tok);
    tok->add_space_prefix = false;
    char buf[256];
    SA_CHECK_STR(t, encode_str(t, tok, "aaa", buf, sizeof buf), " 4 3");
    SA_CHECK_STR(t, encode_str(t, tok, "aaaa", buf, sizeof buf), " 4 4");
    sa_tokenizer_free(tok);
}

static void spm_byte_fallback_and_control(sa_test *t) {
    const char *p[] = {SP, "<", "/", "s", ">", "</", "s>", "h", "i", "hi", SP "hi"};
    const float s[] = {-1, -1, -1, -1, -1, -2, -3, -1, -1, -2, -1};
    sa_tokenizer *tok = tiny_spm(t, p, s, 11, true, NULL);
    SA_REQUIRE(t, tok);
    char buf[512];
    int base = 3 + 256;
    /* "</s>" merges into "</" + "s>", never into the control piece id 2 */
    char want[64];
    snprintf(want, sizeof want, " %d %d %d", base + 0, base + 5, base + 6);
    SA_CHECK_STR(t, encode_str(t, tok, "</s>", buf, sizeof buf), want);
    /* "é" (C3 A9) is not a piece: two byte tokens */
    snprintf(want, sizeof want, " %d %d %d", base + 10, 3 + 0xC3, 3 + 0xA9);
    SA_CHECK_STR(t, encode_str(t, tok, "hi\xC3\xA9", buf, sizeof buf), want);
    check_roundtrip(t, tok, "hi\xC3\xA9 \xF0\x9F\xA6\x99</s>", 13, "tiny");
    check_roundtrip(t, tok, " hi  ", 5, "tiny");
    /* decode drops only the prefix space, and keeps a control piece as text */
    sa_strbuf sb = {0};
    sa_err err = {0};
    int32_t ids[] = {base + 10, 2};
    SA_CHECK_OK(t, sa_tokenizer_decode(tok, ids, 2, 0, &sb, &err), &err);
    SA_CHECK_STR(t, sa_strbuf_cstr(&sb), "hi</s>");
    sa_strbuf_free(&sb);
    /* invalid UTF-8 is refused, out untouched */
    sa_tokens out = {0};
    sa_tokens_push(&out, 42);
    SA_CHECK_EQ_INT(t, sa_tok_spm_encode(tok, "a\xC3", 2, &out, &err), SA_ERR_UTF8);
    SA_CHECK_EQ_INT(t, out.n, 1);
    sa_tokens_free(&out);
    sa_tokenizer_free(tok);
}

static void spm_unused_resegmented(sa_test *t) {
    /* "abc" is UNUSED: merging reaches it, then it is split back along the
     * merges that built it ("ab" + "c"), as SentencePiece does */
    const char *p[] = {"a", "b", "c", "ab", "abc"};
    const float s[] = {-1, -1, -1, -2, -1};
    const uint32_t at[] = {0, 0, 0, 0, SA_TOKEN_ATTR_UNUSED};
    sa_tokenizer *tok = tiny_spm(t, p, s, 5, false, at);
    SA_REQUIRE(t, tok);
    tok->add_space_prefix = false;
    char buf[256];
    SA_CHECK_STR(t, encode_str(t, tok, "abc", buf, sizeof buf), " 6 5");
    sa_tokenizer_free(tok);
}

static void spm_merge_ranks(sa_test *t) {
    /* tokenizer.json style: merges by rank, scores ignored */
    const char *p[] = {"a", "b", "c", "ab", "bc"};
    const float s[] = {0, 0, 0, 0, 0};
    int nv = 3 + 5;
    sa_tokenizer *tok = sa_tok_new(nv);
    SA_REQUIRE(t, tok);
    tok->type = SA_TOK_TYPE_SPM;
    sa_tok_set_piece(tok, 0, "<unk>", 5, 0, SA_TOKEN_ATTR_UNKNOWN);
    sa_tok_set_piece(tok, 1, "<s>", 3, 0, SA_TOKEN_ATTR_CONTROL);
    sa_tok_set_piece(tok, 2, "</s>", 4, 0, SA_TOKEN_ATTR_CONTROL);
    for (int i = 0; i < 5; i++) sa_tok_set_piece(tok, 3 + i, p[i], strlen(p[i]), s[i], 0);
    sa_tok_add_merge(tok, "b", 1, "c", 1, 0);
    sa_tok_add_merge(tok, "a", 1, "b", 1, 1);
    tok->unk = 0;
    tok->spm_use_merges = true;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_tok_finalize(tok, &err), &err);
    char buf[256];
    SA_CHECK_STR(t, encode_str(t, tok, "abc", buf, sizeof buf), " 3 7");
    SA_CHECK_STR(t, encode_str(t, tok, "abab", buf, sizeof buf), " 6 6");
    sa_tokenizer_free(tok);
}

static void spm_long_input(sa_test *t) {
    /* a long run exercises the heap; every result piece must be "aa" or "a" */
    const char *p[] = {"a", "aa", "aaaa"};
    const float s[] = {-1, -2, -3};
    sa_tokenizer *tok = tiny_spm(t, p, s, 3, false, NULL);
    SA_REQUIRE(t, tok);
    tok->add_space_prefix = false;
    size_t n = 100001;
    char *text = malloc(n + 1);
    SA_REQUIRE(t, text);
    memset(text, 'a', n);
    text[n] = 0;
    sa_tokens ids = {0};
    sa_err err = {0};
    SA_CHECK_OK(t, sa_tokenizer_encode(tok, text, n, 0, &ids, &err), &err);
    /* pairs merge left to right into "aa", then "aaaa": 25000 x aaaa + a */
    SA_CHECK_EQ_INT(t, ids.n, 25001);
    if (ids.n == 25001) {
        SA_CHECK_EQ_INT(t, ids.ids[0], 5);
        SA_CHECK_EQ_INT(t, ids.ids[25000], 3);
    }
    sa_tokens_free(&ids);
    free(text);
    sa_tokenizer_free(tok);
}

/* ---- WordPiece -------------------------------------------------------------------- */

static sa_tokenizer *tiny_wpm(sa_test *t, bool lower) {
    const char *v[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world", "##s", "un",
                       "##aff", "##able", "!", ",", "a", "apfel", "ca", "##fe", "中", "国",
                       "привет", "Hello", "'", "t", "don", "##n"};
    int n = (int)(sizeof v / sizeof v[0]);
    sa_tokenizer *tok = sa_tok_new(n);
    if (!tok) return NULL;
    tok->type = SA_TOK_TYPE_WPM;
    for (int i = 0; i < n; i++)
        sa_tok_set_piece(tok, i, v[i], strlen(v[i]), 0,
                         i < 4 ? (i == 1 ? SA_TOKEN_ATTR_UNKNOWN : SA_TOKEN_ATTR_CONTROL) : 0);
    tok->unk = 1;
    tok->cls = tok->bos = 2;
    tok->sep = tok->eos = 3;
    tok->wpm_lowercase = lower;
    sa_err err = {0};
    if (sa_tok_finalize(tok, &err) != SA_OK) {
        sa_test_fail(t, __FILE__, __LINE__, "finalize: %s", err.msg);
        sa_tokenizer_free(tok);
        return NULL;
    }
    return tok;
}

static void wpm_basic(sa_test *t) {
    sa_tokenizer *tok = tiny_wpm(t, true);
    SA_REQUIRE(t, tok);
    char buf[256];
    SA_CHECK_STR(t, encode_str(t, tok, "Hello, worlds!", buf, sizeof buf), " 4 11 5 6 10");
    SA_CHECK_STR(t, encode_str(t, tok, "unaffable", buf, sizeof buf), " 7 8 9");
    /* a word with an unmatched tail is one [UNK] as a whole */
    SA_CHECK_STR(t, encode_str(t, tok, "unaffablex hello", buf, sizeof buf), " 1 4");
    /* accents stripped, lowercased: Äpfel -> apfel, CAFÉ -> ca ##fe */
    SA_CHECK_STR(t, encode_str(t, tok, "\xC3\x84pfel CAF\xC3\x89", buf, sizeof buf), " 13 14 15");
    /* combining mark removed: "cafe" + U+0301 */
    SA_CHECK_STR(t, encode_str(t, tok, "cafe\xCC\x81", buf, sizeof buf), " 14 15");
    /* CJK isolated even without spaces; Cyrillic lowercased */
    SA_CHECK_STR(t, encode_str(t, tok, "\xE4\xB8\xAD\xE5\x9B\xBD\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82",
                               buf, sizeof buf),
                 " 16 17 18");
    /* control characters vanish, unusual whitespace splits */
    SA_CHECK_STR(t, encode_str(t, tok, "hel\x01lo\xE3\x80\x80world\xE2\x80\x8B", buf, sizeof buf),
                 " 4 5");
    /* 101 characters: [UNK] */
    char longw[128];
    memset(longw, 'a', 101);
    longw[101] = 0;
    SA_CHECK_STR(t, encode_str(t, tok, longw, buf, sizeof buf), " 1");
    SA_CHECK_STR(t, encode_str(t, tok, "don't", buf, sizeof buf), " 22 20 21");
    /* decode: ## glued, space before words, none before punctuation */
    sa_strbuf sb = {0};
    sa_err err = {0};
    int32_t ids[] = {4, 11, 5, 6, 10, 22, 20, 21};
    SA_CHECK_OK(t, sa_tokenizer_decode(tok, ids, 8, 0, &sb, &err), &err);
    SA_CHECK_STR(t, sa_strbuf_cstr(&sb), "hello, worlds! don't");
    sa_strbuf_free(&sb);
    sa_tokenizer_free(tok);

    tok = tiny_wpm(t, false); /* cased: no lowercasing or accent stripping */
    SA_REQUIRE(t, tok);
    SA_CHECK_STR(t, encode_str(t, tok, "Hello hello \xC3\x84pfel", buf, sizeof buf), " 19 4 1");
    sa_tokenizer_free(tok);
}

/* ---- llama2.c tokenizer.bin ------------------------------------------------------------ */

static void llama2c_vs_llama_spm(sa_test *t) {
    const char *bin = sa_test_data(t, "tokenizers/llama2c/tokenizer.bin");
    if (!bin) return;
    char binp[1024];
    snprintf(binp, sizeof binp, "%s", bin);
    const char *inp = sa_test_data(t, "tokenizers/llamacpp-vocab/ggml-vocab-llama-spm.gguf.inp");
    if (!inp) return;
    char inpp[1024], outp[1024];
    snprintf(inpp, sizeof inpp, "%s", inp);
    snprintf(outp, sizeof outp, "%.1000s", inpp);
    memcpy(outp + strlen(outp) - 3, "out", 3);
    sa_tokenizer *tok;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_tokenizer_load(&tok, binp, &err), &err);
    SA_CHECK_EQ_INT(t, sa_tokenizer_vocab_size(tok), 32000);
    SA_CHECK_EQ_INT(t, sa_tokenizer_type(tok), SA_TOK_TYPE_SPM);
    SA_CHECK_EQ_INT(t, sa_tokenizer_bos(tok), 1);
    SA_CHECK_EQ_INT(t, sa_tokenizer_eos(tok), 2);
    SA_CHECK_EQ_INT(t, sa_tokenizer_unk(tok), 0);
    SA_CHECK_EQ_INT(t, sa_tokenizer_attr(tok, 3), SA_TOKEN_ATTR_BYTE);
    SA_CHECK_EQ_INT(t, sa_tokenizer_find(tok, SP "the", 6), 278);
    sa_vocab_cases c;
    if (sa_vocab_cases_read(t, inpp, outp, &c)) {
        sa_vocab_result r = sa_vocab_cases_run(t, tok, &c, "llama2c tokenizer.bin", true);
        fprintf(stderr, "llama2c tokenizer.bin vs llama-spm: %d/%d encode, %d/%d round trip\n", r.ok_ids, c.n,
                r.ok_rt, c.n);
        SA_CHECK_EQ_INT(t, c.n, 46);
    }
    sa_vocab_cases_free(&c);
    sa_tokenizer_free(tok);
}

static void llama2c_byte_fallback_untrusted(sa_test *t) {
    const char *bin = sa_test_data(t, "tokenizers/llama2c/tokenizer.bin");
    if (!bin) return;
    sa_tokenizer *tok;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_tokenizer_load(&tok, bin, &err), &err);
    char buf[512];
    /* 🦙 has no piece: its four bytes; 你 (E4 BD A0) is a piece, 𠀀 (F0 A0 80 80) is not */
    SA_CHECK_STR(t, encode_str(t, tok, "\xF0\x9F\xA6\x99", buf, sizeof buf), " 29871 243 162 169 156");
    SA_CHECK_STR(t, encode_str(t, tok, "\xF0\xA0\x80\x80", buf, sizeof buf), " 29871 243 163 131 131");
    check_roundtrip(t, tok, "a\xF0\x9F\xA6\x99\xE4\xBD\xA0\xF0\xA0\x80\x80 z", 14, "llama2c");
    /* untrusted </s> and <s> are text, never ids 1 or 2 */
    sa_tokens ids = {0};
    const char *txt = "end</s><s> </s>";
    SA_CHECK_OK(t, sa_tokenizer_encode(tok, txt, strlen(txt), 0, &ids, &err), &err);
    for (size_t i = 0; i < ids.n; i++) SA_CHECK(t, ids.ids[i] != 1 && ids.ids[i] != 2);
    ids.n = 0;
    /* trusted template text may name them */
    SA_CHECK_OK(t, sa_tokenizer_encode(tok, txt, strlen(txt), SA_ENCODE_SPECIAL, &ids, &err), &err);
    int n2 = 0;
    for (size_t i = 0; i < ids.n; i++) n2 += ids.ids[i] == 2;
    SA_CHECK_EQ_INT(t, n2, 2);
    sa_tokens_free(&ids);
    check_roundtrip(t, tok, txt, strlen(txt), "llama2c </s>");
    sa_tokenizer_free(tok);
}

static void llama2c_tok512_corpus(sa_test *t) {
    const char *bin = sa_test_data(t, "models/llama2c-stories260K/tok512.bin");
    if (!bin) return;
    char binp[1024];
    snprintf(binp, sizeof binp, "%s", bin);
    const char *corp = sa_test_data(t, "corpus/exllamav2_cal/tiny.utf8");
    if (!corp) return;
    sa_tokenizer *tok;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_tok_load_llama2c(&tok, binp, &err), &err);
    SA_CHECK_EQ_INT(t, sa_tokenizer_vocab_size(tok), 512);
    size_t n;
    char *text = read_all(t, corp, &n);
    SA_REQUIRE(t, text);
    size_t lines = 0, ok = 0, tokens = 0, bytes_tok = 0;
    char *p = text;
    while (p < text + n) {
        char *nl = memchr(p, '\n', (size_t)(text + n - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(text + n - p);
        sa_tokens ids = {0};
        sa_strbuf sb = {0};
        SA_CHECK_OK(t, sa_tokenizer_encode(tok, p, len, 0, &ids, &err), &err);
        SA_CHECK_OK(t, sa_tokenizer_decode(tok, ids.ids, ids.n, 0, &sb, &err), &err);
        lines++;
        if (sb.len == len && memcmp(sa_strbuf_cstr(&sb), p, len) == 0)
            ok++;
        else if (ok + 3 > lines)
            sa_test_fail(t, __FILE__, __LINE__, "tok512 line %zu does not round-trip", lines);
        for (size_t i = 0; i < ids.n; i++) bytes_tok += (sa_tokenizer_attr(tok, ids.ids[i]) & SA_TOKEN_ATTR_BYTE) != 0;
        tokens += ids.n;
        sa_tokens_free(&ids);
        sa_strbuf_free(&sb);
        p += len + 1;
    }
    SA_CHECK_EQ_INT(t, ok, lines);
    SA_CHECK(t, lines > 0 && tokens > 0);
    /* characters outside the 512 pieces fall back to bytes and come back */
    const char *odd = "Lily said \"h\xC3\xA9llo\" \xF0\x9F\x90\xB1 \xE7\x8C\xAB~";
    sa_tokens ids = {0};
    SA_CHECK_OK(t, sa_tokenizer_encode(tok, odd, strlen(odd), 0, &ids, &err), &err);
    size_t nb = 0;
    for (size_t i = 0; i < ids.n; i++) nb += (sa_tokenizer_attr(tok, ids.ids[i]) & SA_TOKEN_ATTR_BYTE) != 0;
    SA_CHECK_EQ_INT(t, nb, 7); /* 🐱 and 猫; é is one of the 512 pieces */
    sa_tokens_free(&ids);
    check_roundtrip(t, tok, odd, strlen(odd), "tok512");
    fprintf(stderr, "tok512: %zu/%zu lines round-trip, %zu tokens (%zu byte-fallback) for %zu bytes\n",
            ok, lines, tokens, bytes_tok, n);
    free(text);
    sa_tokenizer_free(tok);
}

static void llama2c_corrupt(sa_test *t) {
    sa_tokenizer *tok = NULL;
    sa_err err = {0};
    /* 3 tokens whose 1 and 2 are not <s> </s> */
    unsigned char b[64];
    size_t o = 0;
    int32_t mx = 3;
    memcpy(b + o, &mx, 4), o += 4;
    for (int i = 0; i < 3; i++) {
        float sc = 0;
        int32_t l = 1;
        memcpy(b + o, &sc, 4), o += 4;
        memcpy(b + o, &l, 4), o += 4;
        b[o++] = (unsigned char)('a' + i);
    }
    const char *path = sa_test_tmpfile(t, "bad.bin");
    SA_REQUIRE(t, sa_test_write_file(t, path, b, o));
    SA_CHECK_EQ_INT(t, sa_tok_load_llama2c(&tok, path, &err), SA_ERR_FORMAT);
    SA_CHECK(t, tok == NULL && strstr(err.msg, "bad.bin") != NULL);
    /* truncated */
    SA_REQUIRE(t, sa_test_write_file(t, path, b, o - 2));
    SA_CHECK(t, sa_tok_load_llama2c(&tok, path, &err) != SA_OK);
    SA_CHECK(t, tok == NULL);
}


/* Word-by-word encoding (spm_word_split) must give exactly the ids of
 * encoding the text as one word, on multilingual text with byte fallback. */
static void spm_word_split_equivalent(sa_test *t) {
    const char *bin = sa_test_data(t, "tokenizers/llama2c/tokenizer.bin");
    if (!bin) return;
    char binp[1024];
    snprintf(binp, sizeof binp, "%s", bin);
    const char *corp = sa_test_data(t, "corpus/exllamav2_cal/multilingual.utf8");
    if (!corp) return;
    sa_tokenizer *tok;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_tok_load_llama2c(&tok, binp, &err), &err);
    SA_CHECK(t, tok->spm_word_split);
    size_t n;
    char *text = read_all(t, corp, &n);
    SA_REQUIRE(t, text);
    if (n > 60000) { /* whole-text mode is O(n log n) with big heaps: keep it short */
        n = 60000;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80) n--;
    }
    sa_tokens a = {0}, b = {0};
    SA_CHECK_OK(t, sa_tok_spm_encode(tok, text, n, &a, &err), &err);
    tok->spm_word_split = false;
    SA_CHECK_OK(t, sa_tok_spm_encode(tok, text, n, &b, &err), &err);
    SA_CHECK_EQ_INT(t, a.n, b.n);
    SA_CHECK(t, a.n == b.n && memcmp(a.ids, b.ids, a.n * sizeof *a.ids) == 0);
    SA_CHECK(t, a.n > 10000);
    sa_tokens_free(&a);
    sa_tokens_free(&b);
    free(text);
    sa_tokenizer_free(tok);

    /* a vocabulary with a piece "a▁b" must not split */
    const char *p[] = {"a", "b", "a" SP, "a" SP "b", SP};
    const float sc[] = {-1, -1, -1, -1, -1};
    tok = tiny_spm(t, p, sc, 5, false, NULL);
    SA_REQUIRE(t, tok);
    sa_tok_spm_prepare(tok);
    SA_CHECK(t, !tok->spm_word_split);
    tok->add_space_prefix = false;
    char buf[64];
    SA_CHECK_STR(t, encode_str(t, tok, "a b", buf, sizeof buf), " 6");
    sa_tokenizer_free(tok);
}

static const sa_test_def tests[] = {
    {"spm_merge_by_score", spm_merge_by_score},
    {"spm_ties_go_left", spm_ties_go_left},
    {"spm_byte_fallback_and_control", spm_byte_fallback_and_control},
    {"spm_unused_resegmented", spm_unused_resegmented},
    {"spm_merge_ranks", spm_merge_ranks},
    {"spm_long_input", spm_long_input},
    {"wpm_basic", wpm_basic},
    {"llama2c_vs_llama_spm", llama2c_vs_llama_spm},
    {"llama2c_byte_fallback_untrusted", llama2c_byte_fallback_untrusted},
    {"llama2c_tok512_corpus", llama2c_tok512_corpus},
    {"llama2c_corrupt", llama2c_corrupt},
    {"spm_word_split_equivalent", spm_word_split_equivalent},
};
SA_TEST_MAIN(tests)
