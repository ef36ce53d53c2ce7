/* pretok.c — pre-tokenizers of byte-level BPE: the split regexes of each
 * model family, compiled with PCRE2 (UTF + Unicode properties, JIT).
 *
 * A pre-tokenizer is a list of regexes applied in order, each to every piece
 * the previous one produced, in the "Isolated" behaviour of Hugging Face's
 * Split: matches and the gaps between them both become pieces. Regexes are
 * ours, written to match the behaviour of the tokenizer.json files (GPT-2's
 * ByteLevel regex, Llama 3 and Qwen2 Split patterns) and llama.cpp's choices
 * for GGUF `tokenizer.ggml.pre` names. `$` is end-of-piece only
 * (PCRE2_DOLLAR_ENDONLY) because Rust regex has no "before final newline".
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/utf8.h"
#include "tok_internal.h"

#define RX_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
/* case-insensitive contractions spelled out: (?i) would also fold other
 * characters under UCP (the Kelvin sign K matches k) */
#define RX_CONTRACT_I "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RX_LLAMA3                                                                          \
    RX_CONTRACT_I "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|" \
                  "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_QWEN2                                                                         \
    RX_CONTRACT_I "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|" \
                  "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/* Letters of the Latin, Greek, Cyrillic, Armenian, Georgian, Cherokee, ...
 * scripts that DeepSeek LLM's tokenizer.json lists explicitly (its Split
 * regex does not use \p{L}). */
#define RX_DEEPSEEK_LETTERS                                                                    \
    "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293"      \
    "\u0295-\u02af\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c"      \
    "\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5"          \
    "\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77"          \
    "\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59"    \
    "\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc"     \
    "\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107"           \
    "\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139"      \
    "\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee"     \
    "\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e"           \
    "\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\U00010400-\U0001044f"  \
    "\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010c80-\U00010cb2\U00010cc0-\U00010cf2"    \
    "\U000118a0-\U000118df\U0001e900-\U0001e943]+"
#define RX_CJK_HANGUL "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+"

typedef struct pretok_def {
    const char *name;
    int n;
    const char *rx[6];
} pretok_def;

static const pretok_def defs[SA_PRETOK_COUNT] = {
    [SA_PRETOK_NONE] = {"none", 0, {0}},
    [SA_PRETOK_GPT2] = {"gpt2", 1, {RX_GPT2}},
    [SA_PRETOK_LLAMA3] = {"llama3", 1, {RX_LLAMA3}},
    [SA_PRETOK_QWEN2] = {"qwen2", 1, {RX_QWEN2}},
    [SA_PRETOK_FALCON] = {"falcon",
                          3,
                          {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RX_GPT2, "[0-9][0-9][0-9]"}},
    [SA_PRETOK_STARCODER] = {"starcoder", 2, {"\\p{N}", RX_GPT2}},
    [SA_PRETOK_DEEPSEEK_LLM] = {"deepseek-llm",
                                6,
                                {"[\\r\\n]", RX_DEEPSEEK_LETTERS,
                                 "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+",
                                 "\\s+$", RX_CJK_HANGUL, "\\p{N}+"}},
    [SA_PRETOK_DEEPSEEK_CODER] = {"deepseek-coder",
                                  5,
                                  {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RX_CJK_HANGUL,
                                   "\\p{N}"}},
    /* BERT's basic tokenizer: whitespace-separated words, punctuation alone */
    [SA_PRETOK_BERT] = {"bert", 1, {"[^\\s\\p{P}]+|\\p{P}"}},
    [SA_PRETOK_CUSTOM] = {"custom", 0, {0}},
};

const char *sa_pretok_kind_name(sa_pretok_kind kind) {
    if ((unsigned)kind >= SA_PRETOK_COUNT) return "?";
    return defs[kind].name;
}

typedef struct name_map {
    const char *name;
    sa_pretok_kind kind;
} name_map;

sa_pretok_kind sa_pretok_from_name(const char *n) {
    /* absent or "default": a BPE vocabulary with no recorded pre-tokenizer
     * (GPT-NeoX, old conversions) uses the GPT-2 ByteLevel regex in HF */
    if (!n || !*n) return SA_PRETOK_GPT2;
    static const name_map map[] = {
        {"default", SA_PRETOK_GPT2},      {"gpt-2", SA_PRETOK_GPT2},
        {"gpt2", SA_PRETOK_GPT2},         {"gpt-neox", SA_PRETOK_GPT2},
        {"mpt", SA_PRETOK_GPT2},          {"olmo", SA_PRETOK_GPT2},
        {"jais", SA_PRETOK_GPT2},         {"phi-2", SA_PRETOK_GPT2},
        {"jina-es", SA_PRETOK_GPT2},      {"jina-de", SA_PRETOK_GPT2},
        {"jina-v1-en", SA_PRETOK_GPT2},   {"jina-v2-es", SA_PRETOK_GPT2},
        {"jina-v2-de", SA_PRETOK_GPT2},   {"jina-v2-code", SA_PRETOK_GPT2},
        {"roberta-bpe", SA_PRETOK_GPT2},  {"trillion", SA_PRETOK_GPT2},
        {"llama3", SA_PRETOK_LLAMA3},     {"llama-v3", SA_PRETOK_LLAMA3},
        {"llama-bpe", SA_PRETOK_LLAMA3},  {"smaug-bpe", SA_PRETOK_LLAMA3},
        {"dbrx", SA_PRETOK_LLAMA3},       {"falcon3", SA_PRETOK_LLAMA3},
        {"pixtral", SA_PRETOK_LLAMA3},    {"falcon-h1", SA_PRETOK_LLAMA3},
        {"qwen2", SA_PRETOK_QWEN2},       {"stablelm2", SA_PRETOK_QWEN2},
        {"deepseek-r1-qwen", SA_PRETOK_QWEN2}, {"megrez", SA_PRETOK_QWEN2},
        {"falcon", SA_PRETOK_FALCON},     {"starcoder", SA_PRETOK_STARCODER},
        {"refact", SA_PRETOK_STARCODER},  {"command-r", SA_PRETOK_STARCODER},
        {"smollm", SA_PRETOK_STARCODER},  {"codeshell", SA_PRETOK_STARCODER},
        {"exaone", SA_PRETOK_STARCODER},  {"minerva-7b", SA_PRETOK_STARCODER},
        {"deepseek-llm", SA_PRETOK_DEEPSEEK_LLM},
        {"deepseek-coder", SA_PRETOK_DEEPSEEK_CODER},
        {"bert", SA_PRETOK_BERT},         {"bert-bge", SA_PRETOK_BERT},
        {"jina-v2-en", SA_PRETOK_BERT},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(n, map[i].name) == 0) return map[i].kind;
    return SA_PRETOK_NONE; /* unknown: the loader decides (error or a default) */
}

void sa_tok_pretok_free(sa_tokenizer *tok) {
    for (int i = 0; i < SA_TOK_MAX_REGEX; i++) {
        if (tok->regex_code[i]) pcre2_code_free((pcre2_code *)tok->regex_code[i]);
        tok->regex_code[i] = NULL;
        free(tok->regex_src[i]);
        tok->regex_src[i] = NULL;
    }
    tok->n_regex = 0;
}

sa_status sa_tok_set_pretok(sa_tokenizer *tok, sa_pretok_kind kind, sa_err *err) {
    if ((unsigned)kind >= SA_PRETOK_COUNT)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "pre-tokenizer kind %d unknown", (int)kind);
    if (kind != SA_PRETOK_CUSTOM) {
        sa_tok_pretok_free(tok);
        for (int i = 0; i < defs[kind].n; i++) {
            tok->regex_src[i] = sa_strdup(defs[kind].rx[i]);
            if (!tok->regex_src[i]) {
                sa_tok_pretok_free(tok);
                return sa_err_set(err, SA_ERR_NOMEM, "pre-tokenizer: out of memory");
            }
        }
        tok->n_regex = defs[kind].n;
    } else {
        if (tok->n_regex < 0 || tok->n_regex > SA_TOK_MAX_REGEX)
            return sa_err_set(err, SA_ERR_INVALID_ARG, "pre-tokenizer: %d regexes", tok->n_regex);
        for (int i = 0; i < tok->n_regex; i++) {
            if (!tok->regex_src[i])
                return sa_err_set(err, SA_ERR_INVALID_ARG, "pre-tokenizer: regex %d missing", i);
            if (tok->regex_code[i]) pcre2_code_free((pcre2_code *)tok->regex_code[i]);
            tok->regex_code[i] = NULL;
        }
    }
    tok->pretok = kind;
    for (int i = 0; i < tok->n_regex; i++) {
        int ec;
        PCRE2_SIZE eo;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)tok->regex_src[i], PCRE2_ZERO_TERMINATED,
                                       PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &ec, &eo, NULL);
        if (!re) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ec, msg, sizeof msg);
            return sa_err_set(err, SA_ERR_FORMAT, "pre-tokenizer regex %d: offset %zu: %s", i,
                              (size_t)eo, (const char *)msg);
        }
        /* JIT is an optimisation only: matching falls back to the interpreter */
        (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
        tok->regex_code[i] = re;
    }
    return SA_OK;
}

/* ---- fast path -----------------------------------------------------------------
 * pcre2_match costs ~100 ns a call, more than the rest of the BPE work on
 * English text. For the three common single-regex kinds, matches are
 * computed by hand, following the regex alternatives in order, from the
 * same character classes (unicode.c's table, checked against PCRE2 for
 * every code point by the tests). Tests also check that both paths split
 * random and real text identically. */

enum { C_OTHER = SA_UCLASS_OTHER, C_LETTER = SA_UCLASS_LETTER, C_DIGIT = SA_UCLASS_NUMBER,
       C_SPACE = SA_UCLASS_SPACE, C_END };

/* Class of the character at s[i] and its byte length in *k. */
static inline int cls(const char *s, size_t len, size_t i, size_t *k) {
    if (i >= len) {
        *k = 0;
        return C_END;
    }
    unsigned char c = (unsigned char)s[i];
    if (c < 0x80) {
        *k = 1;
        if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return C_LETTER;
        if (c >= '0' && c <= '9') return C_DIGIT;
        if (c == ' ' || (c >= '\t' && c <= '\r')) return C_SPACE;
        return C_OTHER;
    }
    uint32_t cp;
    size_t n = sa_utf8_decode(s + i, len - i, &cp);
    *k = n ? n : 1; /* input was validated; stay safe anyway */
    return sa_unicode_pretok_class(cp);
}

/* End of the run of class c starting at i. */
static size_t run_end(const char *s, size_t len, size_t i, int c) {
    size_t k;
    while (cls(s, len, i, &k) == c) i += k;
    return i;
}

/* `\s+(?!\S)|\s+` at pos, a whitespace character: the run, less its last
 * character when a non-space follows and the run has more than one. */
static size_t space_tail(const char *s, size_t len, size_t pos) {
    size_t i = pos, last = pos, k;
    while (cls(s, len, i, &k) == C_SPACE) {
        last = i;
        i += k;
    }
    if (i == len || last == pos) return i;
    return last;
}

static size_t contraction(const char *s, size_t len, size_t pos, bool fold) {
    if (pos + 1 >= len || s[pos] != '\'') return 0;
    char a = s[pos + 1], b = pos + 2 < len ? s[pos + 2] : 0;
    if (fold) {
        a = (char)(a >= 'A' && a <= 'Z' ? a + 32 : a);
        b = (char)(b >= 'A' && b <= 'Z' ? b + 32 : b);
    }
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return pos + 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return pos + 3;
    return 0;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t fast_gpt2(const char *s, size_t len, size_t pos) {
    size_t e = contraction(s, len, pos, false), k;
    if (e) return e;
    size_t p = pos + (s[pos] == ' ');
    int c = cls(s, len, p, &k);
    if (c == C_LETTER || c == C_DIGIT || c == C_OTHER) return run_end(s, len, p + k, c);
    return space_tail(s, len, pos); /* s[pos] is whitespace here */
}

/* Llama 3 (max_digits 3) and Qwen2 (max_digits 1):
 * '[sS]|...|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t fast_llama3(const char *s, size_t len, size_t pos, size_t max_digits) {
    size_t e = contraction(s, len, pos, true);
    if (e) return e;
    size_t k0, k1;
    int c0 = cls(s, len, pos, &k0);
    if (c0 == C_LETTER) return run_end(s, len, pos + k0, C_LETTER);
    int c1 = cls(s, len, pos + k0, &k1);
    bool crlf0 = s[pos] == '\r' || s[pos] == '\n';
    if (c0 != C_DIGIT && !crlf0 && c1 == C_LETTER) return run_end(s, len, pos + k0 + k1, C_LETTER);
    if (c0 == C_DIGIT) {
        size_t i = pos + k0, k;
        for (size_t d = 1; d < max_digits && cls(s, len, i, &k) == C_DIGIT; d++) i += k;
        return i;
    }
    size_t p = pos;
    int cp = c0;
    if (s[pos] == ' ') {
        p = pos + 1;
        cp = c1;
    }
    if (cp == C_OTHER) {
        size_t i = run_end(s, len, p, C_OTHER);
        while (i < len && (s[i] == '\r' || s[i] == '\n')) i++;
        return i;
    }
    /* c0 is whitespace: \s*[\r\n]+ ends after the run's last CR/LF */
    size_t i = pos, k, after_crlf = 0;
    while (cls(s, len, i, &k) == C_SPACE) {
        i += k;
        if (s[i - 1] == '\r' || s[i - 1] == '\n') after_crlf = i;
    }
    if (after_crlf) return after_crlf;
    return space_tail(s, len, pos);
}

static size_t fast_match(sa_pretok_kind kind, const char *s, size_t len, size_t pos) {
    switch (kind) {
    case SA_PRETOK_GPT2: return fast_gpt2(s, len, pos);
    case SA_PRETOK_LLAMA3: return fast_llama3(s, len, pos, 3);
    case SA_PRETOK_QWEN2: return fast_llama3(s, len, pos, 1);
    default: return 0;
    }
}

/* ---- splitting ---------------------------------------------------------------- */

typedef struct split_ctx {
    const sa_tokenizer *tok;
    bool fast; /* single built-in regex with an ASCII fast path */
    pcre2_match_data *md;
    sa_tok_piece_fn fn;
    void *ud;
    sa_err *err;
} split_ctx;

static sa_status split_level(split_ctx *c, int level, const char *s, size_t len);

static sa_status emit(split_ctx *c, int level, const char *s, size_t len) {
    if (len == 0) return SA_OK;
    if (level + 1 < c->tok->n_regex) return split_level(c, level + 1, s, len);
    return c->fn(c->ud, s, len);
}

static sa_status split_level(split_ctx *c, int level, const char *s, size_t len) {
    const pcre2_code *re = c->tok->regex_code[level];
    size_t pos = 0, gap = 0;
    uint32_t opts = PCRE2_NO_UTF_CHECK;
    while (pos < len) {
        if (c->fast) {
            size_t e = fast_match(c->tok->pretok, s, len, pos);
            if (e > pos) {
                sa_status st = c->fn(c->ud, s + pos, e - pos);
                if (st) return st;
                pos = gap = e;
                continue;
            }
        }
        int rc = pcre2_match(re, (PCRE2_SPTR)s, len, pos, opts, c->md, NULL);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT) /* huge input: retry with the interpreter */
            rc = pcre2_match(re, (PCRE2_SPTR)s, len, pos, opts | PCRE2_NO_JIT, c->md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return sa_err_set(c->err, SA_ERR_RANGE, "pre-tokenizer regex %d at byte %zu: %s", level,
                              pos, (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
        size_t ms = ov[0], me = ov[1];
        if (me == ms) { /* empty match: step over one character */
            pos = ms + sa_utf8_seq_len((unsigned char)s[ms]);
            if (pos > len) pos = len;
            continue;
        }
        sa_status st;
        if ((st = emit(c, level, s + gap, ms - gap))) return st;
        if ((st = emit(c, level, s + ms, me - ms))) return st;
        pos = gap = me;
    }
    return emit(c, level, s + gap, len - gap);
}

sa_status sa_tok_pretok_split(const sa_tokenizer *tok, const char *text, size_t len,
                              sa_tok_piece_fn fn, void *ud, sa_err *err) {
    return sa_tok_pretok_split_ex(tok, text, len, true, fn, ud, err);
}

sa_status sa_tok_pretok_split_ex(const sa_tokenizer *tok, const char *text, size_t len, bool fast,
                                 sa_tok_piece_fn fn, void *ud, sa_err *err) {
    if (tok->n_regex == 0) return len ? fn(ud, text, len) : SA_OK;
    for (int i = 0; i < tok->n_regex; i++)
        if (!tok->regex_code[i])
            return sa_err_set(err, SA_ERR_INTERNAL, "pre-tokenizer regex %d not compiled", i);
    split_ctx c = {tok, false, NULL, fn, ud, err};
    c.fast = fast && tok->n_regex == 1 &&
             (tok->pretok == SA_PRETOK_GPT2 || tok->pretok == SA_PRETOK_LLAMA3 ||
              tok->pretok == SA_PRETOK_QWEN2);
    /* one match-data block serves all levels: each match is consumed before the next */
    c.md = pcre2_match_data_create(4, NULL);
    if (!c.md) return sa_err_set(err, SA_ERR_NOMEM, "pre-tokenizer: out of memory");
    sa_status st = split_level(&c, 0, text, len);
    pcre2_match_data_free(c.md);
    return st;
}
