/* answer_filter.c — exemplar parsing, answer extraction and the answer
 * filters of the principle-driven stage (see include/sa/answer_filter.h). */
#include "sa/answer_filter.h"

#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/hash.h"
#include "sa/strbuf.h"

#define NGRAM_N 6          /* words per exemplar n-gram */
#define NGRAM_MIN_CONTENT 2 /* content words an n-gram needs */
#define ENTITY_MIN_LEN 4   /* bytes of a capitalised word to count as an entity */

static bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
static bool is_word(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}
/* Bytes of typographic punctuation at t[i] that must not join words: U+00A0..U+00BF
 * (no-break space, guillemets...), U+2000..U+207F (dashes, curly quotes,
 * ellipsis...), U+3000..U+303F (CJK punctuation); 0 for anything else. */
static size_t punct_len(const char *s, size_t len, size_t i) {
    const unsigned char *t = (const unsigned char *)s;
    if (t[i] == 0xC2 && i + 1 < len && t[i + 1] >= 0xA0 && t[i + 1] <= 0xBF) return 2;
    if (t[i] == 0xE2 && i + 2 < len && (t[i + 1] == 0x80 || t[i + 1] == 0x81)) return 3;
    if (t[i] == 0xE3 && i + 2 < len && t[i + 1] == 0x80) return 3;
    return 0;
}
/* A word byte at t[i] (see answer_filter.h); *skip receives the bytes to pass otherwise. */
static bool word_at(const char *t, size_t len, size_t i, size_t *skip) {
    size_t p = punct_len(t, len, i);
    if (skip) *skip = p ? p : 1;
    return !p && is_word((unsigned char)t[i]);
}
static unsigned char lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c; }

static void trim(const char **s, size_t *n) {
    while (*n && is_space((unsigned char)**s)) (*s)++, (*n)--;
    while (*n && is_space((unsigned char)(*s)[*n - 1])) (*n)--;
}

/* ---- exemplars ----------------------------------------------------------------- */

void sa_exemplars_free(sa_exemplars *x) {
    if (!x) return;
    for (size_t i = 0; i < x->n; i++) {
        free(x->v[i].query);
        free(x->v[i].thoughts);
        free(x->v[i].answer);
    }
    free(x->v);
    free(x->intro);
    memset(x, 0, sizeof *x);
}

typedef enum { EX_OUT = 0, EX_QUERY, EX_THOUGHTS, EX_ANSWER } ex_state;

static const char *const k_section_marker[] = {NULL, SA_MARK_USER, SA_MARK_THOUGHTS, SA_MARK_ANSWER};
static const char *const k_section_name[] = {"intro", "query", "internal thoughts", "answer"};

/* Which marker the line [p, p+n) is (trailing blanks and '\r' ignored): 1..4
 * for User, Internal thoughts, Answer, End; 0 for none. */
static int marker_of(const char *p, size_t n) {
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r')) n--;
    static const char *const m[] = {SA_MARK_USER, SA_MARK_THOUGHTS, SA_MARK_ANSWER, SA_MARK_END};
    for (int i = 0; i < 4; i++)
        if (strlen(m[i]) == n && memcmp(m[i], p, n) == 0) return i + 1;
    return 0;
}

static char *trimmed_copy(const sa_strbuf *b) {
    const char *s = b->buf ? b->buf : "";
    size_t n = b->len;
    trim(&s, &n);
    return sa_strndup(s, n);
}

sa_status sa_exemplars_parse(const char *text, const char *name, sa_exemplars *out, sa_err *err) {
    memset(out, 0, sizeof *out);
    if (!name) name = "exemplars";
    sa_strbuf sec[4] = {{0}}; /* intro, query, thoughts, answer */
    ex_state st = EX_OUT;
    uint32_t line = 0, open_line = 0;
    size_t cap = 0;
    sa_status s = SA_OK;
    const char *p = text ? text : "";
    while (!s && *p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        line++;
        int mk = marker_of(p, n);
        const char *want = st == EX_QUERY ? SA_MARK_THOUGHTS : st == EX_THOUGHTS ? SA_MARK_ANSWER
                         : st == EX_ANSWER ? SA_MARK_END : SA_MARK_USER;
        if (mk == 0) {
            bool blank = true;
            for (size_t i = 0; i < n && blank; i++) blank = is_space((unsigned char)p[i]);
            if (st == EX_OUT && out->n > 0 && !blank)
                s = sa_err_set(err, SA_ERR_FORMAT, "%s:%u: text between \"%s\" and the next \"%s\" (every exemplar "
                               "starts with a line \"%s\")", name, line, SA_MARK_END, SA_MARK_USER, SA_MARK_USER);
            else if (!(st == EX_OUT && out->n > 0) &&
                     (sa_strbuf_append(&sec[st], p, n) || sa_strbuf_putc(&sec[st], '\n')))
                s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
        } else {
            static const char *const names[] = {NULL, SA_MARK_USER, SA_MARK_THOUGHTS, SA_MARK_ANSWER, SA_MARK_END};
            if (strcmp(names[mk], want) != 0) {
                s = sa_err_set(err, SA_ERR_FORMAT, "%s:%u: \"%s\" where \"%s\" was expected%s", name, line, names[mk],
                               want, st == EX_OUT ? "" : " (sections go: query, internal thoughts, answer, end)");
                break;
            }
            if (st != EX_OUT) { /* the section just closed must hold text */
                const char *b = sec[st].buf ? sec[st].buf : "";
                size_t bn = sec[st].len;
                trim(&b, &bn);
                if (bn == 0) {
                    s = sa_err_set(err, SA_ERR_FORMAT, "%s:%u: blank %s in the exemplar that starts at line %u (\"%s\")",
                                   name, line, k_section_name[st], open_line, k_section_marker[st]);
                    break;
                }
            }
            if (mk == 1) {
                open_line = line;
                st = EX_QUERY;
            } else if (mk == 4) {
                if (!sa_grow((void **)&out->v, &cap, out->n + 1, sizeof *out->v)) {
                    s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
                    break;
                }
                sa_exemplar *e = &out->v[out->n];
                e->query = trimmed_copy(&sec[EX_QUERY]);
                e->thoughts = trimmed_copy(&sec[EX_THOUGHTS]);
                e->answer = trimmed_copy(&sec[EX_ANSWER]);
                e->line = open_line;
                out->n++;
                if (!e->query || !e->thoughts || !e->answer) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
                for (int k = 1; k < 4; k++) sa_strbuf_reset(&sec[k]);
                st = EX_OUT;
            } else {
                st = (ex_state)mk; /* 2 -> thoughts, 3 -> answer */
            }
        }
        p = nl ? nl + 1 : p + n;
    }
    if (!s && st != EX_OUT)
        s = sa_err_set(err, SA_ERR_FORMAT, "%s:%u: the exemplar that starts at line %u ends without \"%s\" at the end of "
                       "the file", name, line, open_line, SA_MARK_END);
    if (!s && out->n == 0)
        s = sa_err_set(err, SA_ERR_FORMAT, "%s: no exemplar (an exemplar starts with a line \"%s\", then \"%s\", \"%s\" "
                       "and \"%s\")", name, SA_MARK_USER, SA_MARK_THOUGHTS, SA_MARK_ANSWER, SA_MARK_END);
    if (!s && !(out->intro = trimmed_copy(&sec[EX_OUT]))) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    for (int k = 0; k < 4; k++) sa_strbuf_free(&sec[k]);
    if (s) sa_exemplars_free(out);
    return s;
}

/* ---- words ------------------------------------------------------------------------ */

typedef struct word {
    uint64_t hl, hr; /* hash of the lower-cased / raw word */
    size_t off, len;
    bool entity;     /* capitalised, >= ENTITY_MIN_LEN bytes, in the middle of a sentence */
    bool content;    /* >= 3 bytes and not a function word */
} word;

typedef struct words {
    word *v;
    size_t n, cap;
} words;

static const char *const k_stop[] = {
    "the", "and", "but", "then", "for", "with", "from", "are", "was", "were", "been", "being", "its", "this",
    "that", "these", "those", "there", "here", "which", "who", "whom", "what", "when", "where", "why", "how",
    "not", "does", "did", "can", "could", "will", "would", "should", "may", "might", "must", "have", "has",
    "had", "you", "your", "yours", "our", "they", "them", "their", "him", "his", "her", "hers", "about", "into",
    "over", "under", "than", "also", "just", "only", "very", "more", "most", "some", "any", "all", "each",
    "every", "such", "one", "both", "other", "own", "same", "too", "out", "off", "again", "once", "because",
    "while", "until", "after", "before", "between", "through", "during", "above", "below", "per", "via", "let",
    "get", "got", "make", "made", "use", "used", "it's", "i'm", "don", "can't", "won't", "she", "yes", "nor",
    "whether", "either", "neither", "much", "many", "well", "like", "so", "if", "or", "an", "of", "to", "in",
    "on", "at", "by", "as", "is", "be", "it", "no", "do", "we", "me", "my", "he", "up",
};

static bool is_stop(const char *w, size_t n) {
    for (size_t i = 0; i < sizeof k_stop / sizeof *k_stop; i++)
        if (strlen(k_stop[i]) == n) {
            size_t k = 0;
            while (k < n && lower((unsigned char)w[k]) == (unsigned char)k_stop[i][k]) k++;
            if (k == n) return true;
        }
    return false;
}

/* Is the byte before off (skipping blanks, quotes and brackets) a sentence end? */
static bool sentence_start(const char *t, size_t off) {
    while (off > 0) {
        unsigned char c = (unsigned char)t[off - 1];
        if (c == ' ' || c == '\t' || c == '"' || c == '\'' || c == '(' || c == '[') {
            off--;
            continue;
        }
        return c == '.' || c == '!' || c == '?' || c == ':' || c == '\n' || c == '\r' || c == '#' || c == '*' ||
               c == '-';
    }
    return true;
}

static sa_status split_words(const char *t, size_t len, words *w) {
    w->n = 0;
    for (size_t i = 0, skip; i < len;) {
        if (!word_at(t, len, i, &skip)) {
            i += skip;
            continue;
        }
        size_t b = i;
        uint64_t hl = 0x9e3779b97f4a7c15ULL, hr = 0x9e3779b97f4a7c15ULL;
        for (; i < len && word_at(t, len, i, NULL); i++) {
            unsigned char c = (unsigned char)t[i];
            hl = sa_hash_mix(hl, lower(c));
            hr = sa_hash_mix(hr, c);
        }
        if (!sa_grow((void **)&w->v, &w->cap, w->n + 1, sizeof *w->v)) return SA_ERR_NOMEM;
        word *x = &w->v[w->n++];
        x->hl = hl, x->hr = hr, x->off = b, x->len = i - b;
        x->content = x->len >= 3 && !is_stop(t + b, x->len);
        x->entity = t[b] >= 'A' && t[b] <= 'Z' && x->len >= ENTITY_MIN_LEN && !is_stop(t + b, x->len) &&
                    !sentence_start(t, b);
    }
    return SA_OK;
}

static uint64_t window(const words *w, size_t i, uint32_t n, bool cs) {
    uint64_t h = 0x5a17ULL + n;
    for (uint32_t k = 0; k < n; k++) h = sa_hash_mix(h, cs ? w->v[i + k].hr : w->v[i + k].hl);
    return h;
}

size_t sa_answer_word_count(const char *text, size_t len) {
    size_t n = 0;
    for (size_t i = 0, skip; i < len;) {
        if (!word_at(text, len, i, &skip)) {
            i += skip;
            continue;
        }
        n++;
        while (i < len && word_at(text, len, i, NULL)) i++;
    }
    return n;
}

/* ---- leakage ---------------------------------------------------------------------- */

typedef struct leak_entry {
    uint64_t key;  /* mix(window hash, n, cs) */
    uint32_t n;    /* words */
    bool cs;       /* case-sensitive */
    sa_leak_kind kind;
    uint32_t ex;   /* exemplar (entities) */
    char *text;
} leak_entry;

struct sa_leak_list {
    leak_entry *v;
    size_t n, cap;
    uint32_t min_entities;
    uint32_t n_exemplars;
};

static const char *const k_markers[] = {SA_MARK_USER, SA_MARK_THOUGHTS, SA_MARK_ANSWER, SA_MARK_END};

static uint64_t entry_key(uint64_t h, uint32_t n, bool cs) { return sa_hash_mix(h, (uint64_t)n * 2 + cs); }

static sa_status add_entry(sa_leak_list *l, uint64_t h, uint32_t n, bool cs, sa_leak_kind kind, uint32_t ex,
                           const char *text, size_t len) {
    uint64_t key = entry_key(h, n, cs);
    for (size_t i = 0; i < l->n; i++) /* build time only; lists are small */
        if (l->v[i].key == key && l->v[i].kind == kind && (kind != SA_LEAK_ENTITY || l->v[i].ex == ex)) return SA_OK;
    if (!sa_grow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v)) return SA_ERR_NOMEM;
    leak_entry *e = &l->v[l->n];
    e->key = key, e->n = n, e->cs = cs, e->kind = kind, e->ex = ex;
    if (!(e->text = sa_strndup(text, len))) return SA_ERR_NOMEM;
    l->n++;
    return SA_OK;
}

static sa_status add_text(sa_leak_list *l, const char *t, uint32_t ex, words *w) {
    size_t len = strlen(t);
    if (split_words(t, len, w)) return SA_ERR_NOMEM;
    for (size_t i = 0; i < w->n; i++) {
        if (w->v[i].entity &&
            add_entry(l, window(w, i, 1, true), 1, true, SA_LEAK_ENTITY, ex, t + w->v[i].off, w->v[i].len))
            return SA_ERR_NOMEM;
        if (i + NGRAM_N > w->n) continue;
        int content = 0;
        for (size_t k = i; k < i + NGRAM_N; k++) content += w->v[k].content;
        if (content < NGRAM_MIN_CONTENT) continue;
        size_t end = w->v[i + NGRAM_N - 1].off + w->v[i + NGRAM_N - 1].len;
        if (add_entry(l, window(w, i, NGRAM_N, false), NGRAM_N, false, SA_LEAK_NGRAM, ex, t + w->v[i].off,
                      end - w->v[i].off))
            return SA_ERR_NOMEM;
    }
    return SA_OK;
}

static sa_status add_phrase(sa_leak_list *l, const char *t, sa_leak_kind kind, words *w) {
    size_t len = strlen(t);
    if (split_words(t, len, w)) return SA_ERR_NOMEM;
    if (w->n == 0) return SA_OK;
    const char *b = t;
    size_t n = len;
    trim(&b, &n);
    return add_entry(l, window(w, 0, (uint32_t)w->n, false), (uint32_t)w->n, false, kind, 0, b, n);
}

sa_status sa_leak_list_build(const sa_exemplars *x, const char *const *user, size_t n_user, sa_leak_list **out,
                             sa_err *err) {
    *out = NULL;
    sa_leak_list *l = sa_calloc(1, sizeof *l);
    if (!l) return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    l->min_entities = 2;
    words w = {0};
    sa_status s = SA_OK;
    for (size_t i = 0; x && !s && i < x->n; i++) {
        const sa_exemplar *e = &x->v[i];
        s = add_text(l, e->query, (uint32_t)i, &w);
        if (!s) s = add_text(l, e->thoughts, (uint32_t)i, &w);
        if (!s) s = add_text(l, e->answer, (uint32_t)i, &w);
    }
    if (x) l->n_exemplars = (uint32_t)x->n;
    if (!s && x && x->n) s = add_phrase(l, "internal thoughts", SA_LEAK_MARKER, &w);
    for (size_t i = 0; !s && i < n_user; i++)
        if (user[i]) s = add_phrase(l, user[i], SA_LEAK_USER, &w);
    free(w.v);
    if (s) {
        sa_leak_list_free(l);
        return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    }
    *out = l;
    return SA_OK;
}

void sa_leak_list_free(sa_leak_list *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) free(l->v[i].text);
    free(l->v);
    free(l);
}

size_t sa_leak_list_count(const sa_leak_list *l) { return l ? l->n : 0; }

const char *sa_leak_list_entry(const sa_leak_list *l, size_t i, sa_leak_kind *kind) {
    if (!l || i >= l->n) return NULL;
    if (kind) *kind = l->v[i].kind;
    return l->v[i].text;
}

void sa_leak_list_set_min_entities(sa_leak_list *l, uint32_t n) {
    if (l) l->min_entities = n ? n : 1;
}

static bool occurs(const words *w, uint64_t key, uint32_t n, bool cs) {
    for (size_t i = 0; i + n <= w->n; i++)
        if (entry_key(window(w, i, n, cs), n, cs) == key) return true;
    return false;
}

const char *sa_leak_find(const sa_leak_list *l, const char *query, const char *answer, size_t len) {
    if (!l || !answer) return NULL;
    for (size_t m = 0; m < sizeof k_markers / sizeof *k_markers; m++) {
        size_t ml = strlen(k_markers[m]);
        for (size_t i = 0; i + ml <= len; i++)
            if (answer[i] == '#' && memcmp(answer + i, k_markers[m], ml) == 0) return k_markers[m];
    }
    if (!l->n) return NULL;
    words a = {0}, q = {0};
    const char *found = NULL;
    uint32_t *ent_hits = l->n_exemplars ? sa_calloc(l->n_exemplars, sizeof *ent_hits) : NULL;
    bool *seen = sa_calloc(l->n, sizeof *seen);
    if (!seen || (l->n_exemplars && !ent_hits) || split_words(answer, len, &a) ||
        split_words(query ? query : "", query ? strlen(query) : 0, &q))
        goto done;
    /* in answer order: for each position, every entry length */
    for (size_t i = 0; i < a.n && !found; i++) {
        for (size_t e = 0; e < l->n && !found; e++) {
            const leak_entry *en = &l->v[e];
            if (seen[e] || i + en->n > a.n) continue;
            if (entry_key(window(&a, i, en->n, en->cs), en->n, en->cs) != en->key) continue;
            seen[e] = true;
            if (occurs(&q, en->key, en->n, en->cs)) continue; /* the query asks about it */
            if (en->kind != SA_LEAK_ENTITY) {
                found = en->text;
            } else {
                /* distinct entity texts per exemplar: the same word listed once per exemplar */
                if (++ent_hits[en->ex] >= l->min_entities) found = en->text;
            }
        }
    }
done:
    free(ent_hits);
    free(seen);
    free(a.v);
    free(q.v);
    return found;
}

/* ---- repetition -------------------------------------------------------------------- */

size_t sa_answer_cut_repetition(const char *t, size_t len) {
    uint64_t *seen = NULL;
    size_t n_seen = 0, cap = 0;
    size_t cut = len;
    size_t i = 0;
    while (i < len) {
        while (i < len && is_space((unsigned char)t[i])) i++;
        size_t b = i;
        while (i < len) {
            unsigned char c = (unsigned char)t[i++];
            if (c == '\n') break;
            if ((c == '.' || c == '!' || c == '?') && (i == len || is_space((unsigned char)t[i]))) break;
        }
        /* sentence [b, i) */
        uint64_t h = 0x5e47ULL;
        size_t nw = 0;
        for (size_t k = b, skip; k < i;) {
            if (!word_at(t, i, k, &skip)) {
                k += skip;
                continue;
            }
            uint64_t wh = 0x9e3779b97f4a7c15ULL;
            for (; k < i && word_at(t, i, k, NULL); k++) wh = sa_hash_mix(wh, lower((unsigned char)t[k]));
            h = sa_hash_mix(h, wh);
            nw++;
        }
        if (nw < 3) continue;
        bool dup = false;
        for (size_t k = 0; k < n_seen && !dup; k++) dup = seen[k] == h;
        if (dup) {
            cut = b;
            break;
        }
        if (!sa_grow((void **)&seen, &cap, n_seen + 1, sizeof *seen)) break; /* out of memory: no cut */
        seen[n_seen++] = h;
    }
    free(seen);
    while (cut > 0 && is_space((unsigned char)t[cut - 1])) cut--;
    return cut;
}

/* ---- refusals ---------------------------------------------------------------------- */

static const char *const k_refusals[] = {
    "As an AI language model, I cannot",
    "As an AI language model, I can't",
    "As an AI language model, I am not able",
    "As an AI language model, I'm not able",
    "As an AI, I cannot",
    "As an AI, I can't",
    "I'm sorry, but I cannot",
    "I'm sorry, but I can't",
    "I am sorry, but I cannot",
    "I'm sorry, I cannot",
    "I'm sorry, I can't",
    "I apologize, but I cannot",
    "I cannot help with",
    "I can't help with",
    "I cannot assist with",
    "I can't assist with",
    "I am unable to help",
    "I'm unable to help",
    "I'm not able to help",
};

const char *const *sa_refusal_default_patterns(size_t *n) {
    if (n) *n = sizeof k_refusals / sizeof *k_refusals;
    return k_refusals;
}

/* Next comparable unit at *p: a lower-cased byte, ' ' for a run of white
 * space, '\'' for U+2019; 0 at the end. */
static int next_unit(const char *s, size_t len, size_t *p) {
    if (*p >= len) return 0;
    unsigned char c = (unsigned char)s[*p];
    if (is_space(c)) {
        while (*p < len && is_space((unsigned char)s[*p])) (*p)++;
        return ' ';
    }
    if (c == 0xE2 && *p + 2 < len + 0 && (unsigned char)s[*p + 1] == 0x80 && (unsigned char)s[*p + 2] == 0x99) {
        *p += 3;
        return '\'';
    }
    (*p)++;
    return lower(c);
}

const char *sa_refusal_match(const char *text, size_t len, const char *const *patterns, size_t n) {
    if (!text) return NULL;
    size_t b = 0;
    for (;;) { /* skip white space, quotes, emphasis */
        if (b < len && (is_space((unsigned char)text[b]) || text[b] == '"' || text[b] == '*' || text[b] == '\'')) {
            b++;
            continue;
        }
        if (b + 2 < len && (unsigned char)text[b] == 0xE2 && (unsigned char)text[b + 1] == 0x80 &&
            (unsigned char)text[b + 2] == 0x9C) { /* U+201C */
            b += 3;
            continue;
        }
        break;
    }
    for (size_t i = 0; i < n; i++) {
        const char *pat = patterns[i];
        if (!pat) continue;
        size_t pl = strlen(pat), pp = 0, tp = b;
        while (pp < pl && is_space((unsigned char)pat[pp])) pp++;
        if (pp == pl) continue; /* a blank pattern matches nothing */
        bool ok = true;
        for (;;) {
            int pc = next_unit(pat, pl, &pp);
            if (!pc) break;
            if (pc == ' ' && pp >= pl) break; /* trailing space in a pattern */
            int tc = next_unit(text, len, &tp);
            if (pc != tc) {
                ok = false;
                break;
            }
        }
        if (ok) return pat;
    }
    return NULL;
}

/* ---- extraction and classification -------------------------------------------------- */

bool sa_answer_extract(const char *gen, size_t len, const char **ans, size_t *ans_len) {
    size_t ml = strlen(SA_MARK_ANSWER);
    for (size_t i = 0; gen && i + ml <= len; i++)
        if (gen[i] == '#' && memcmp(gen + i, SA_MARK_ANSWER, ml) == 0) {
            const char *a = gen + i + ml;
            size_t n = len - i - ml;
            trim(&a, &n);
            *ans = a;
            *ans_len = n;
            return true;
        }
    return false;
}

static const char *const k_reason_names[SA_ANS_REASON_COUNT] = {
    "accepted", "error", "truncated", "no_marker", "leakage", "repetition", "refusal", "too_short"};

const char *sa_answer_reason_name(sa_answer_reason r) {
    return (unsigned)r < SA_ANS_REASON_COUNT ? k_reason_names[r] : "?";
}

sa_answer_filter sa_answer_filter_default(void) {
    sa_answer_filter f = {0};
    f.refusal_max_words = 50;
    f.min_words = 8;
    return f;
}

sa_answer_reason sa_answer_classify(const sa_answer_filter *f, const char *query, bool harmful, const char *gen,
                                    sa_finish_reason finish, sa_answer_verdict *v) {
    sa_answer_verdict local;
    if (!v) v = &local;
    memset(v, 0, sizeof *v);
    const char *a = gen ? gen : "";
    size_t n = strlen(a);
    trim(&a, &n);
    v->answer = a, v->answer_len = n;
    if (finish == SA_FINISH_ERROR) return v->reason = SA_ANS_ERROR;
    if (finish == SA_FINISH_LENGTH || finish == SA_FINISH_CONTEXT) return v->reason = SA_ANS_TRUNCATED;
    if (f->need_marker) {
        if (!sa_answer_extract(a, n, &a, &n)) return v->reason = SA_ANS_NO_MARKER;
        v->answer = a, v->answer_len = n;
    }
    if (f->leaks && (v->detail = sa_leak_find(f->leaks, query, a, n)) != NULL) return v->reason = SA_ANS_LEAKAGE;
    size_t kept = sa_answer_cut_repetition(a, n);
    if (kept < n) {
        v->cut = true;
        v->answer_len = n = kept;
        if (sa_answer_word_count(a, n) < f->min_words) return v->reason = SA_ANS_REPETITION;
    }
    size_t np = f->n_refusals;
    const char *const *pats = f->refusals;
    if (!pats && np == 0) pats = sa_refusal_default_patterns(&np);
    if (!harmful && pats && np && (f->refusal_max_words == 0 || sa_answer_word_count(a, n) <= f->refusal_max_words) &&
        (v->detail = sa_refusal_match(a, n, pats, np)) != NULL)
        return v->reason = SA_ANS_REFUSAL;
    if (sa_answer_word_count(a, n) < f->min_words) return v->reason = SA_ANS_TOO_SHORT;
    return v->reason = SA_ANS_ACCEPTED;
}
