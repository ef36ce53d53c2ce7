/* corpus_filter.c — per-segment quality filters (see corpus.h for the list
 * and their order). Pure functions of the segment and the options. */
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/corpus.h"
#include "sa/hash.h"
#include "sa/utf8.h"

/* Header words that mark navigation, ads and site chrome rather than content.
 * Matched case-insensitively on word boundaries ("share" does not match
 * "shareholders"). */
const char *const sa_corpus_boilerplate_words[] = {
    "advertisement", "advertisements", "advertising", "sponsored", "forum", "forums",
    "quick links", "newsletter", "subscribe", "cookie", "cookies", "share", "share this",
    "sign up", "sign in", "log in", "login", "register", "related posts", "related articles",
    "recent posts", "recent comments", "comments", "leave a reply", "navigation", "menu",
    "main menu", "footer", "copyright", "privacy policy", "terms of use", "terms of service",
    "contact us", "follow us", "tags", "categories", "archives", "popular posts", "search",
    "skip to content", "breadcrumb", NULL};

static const char *const k_reason_names[SA_CORPUS_REASON_COUNT] = {
    "kept", "invalid_utf8", "too_short", "too_long", "empty_header", "allcaps_header",
    "boilerplate_header", "few_letters", "repetitive", "exact_duplicate", "near_duplicate"};

const char *sa_corpus_reason_name(sa_corpus_reason r) {
    return (unsigned)r < SA_CORPUS_REASON_COUNT ? k_reason_names[r] : "unknown";
}

void sa_corpus_default_opts(sa_corpus_opts *o) {
    memset(o, 0, sizeof *o);
    o->min_chars = 600;
    o->max_chars = 3000;
    o->min_letter_ratio = 0.6;
    o->rep_ngram = 3;
    o->rep_threshold = 0.7;
    o->rep_min_frac = 0.3;
    o->exact_dedup = true;
    o->near_dedup = true;
    sa_minhash_default_opts(&o->minhash);
    o->max_file_bytes = (uint64_t)1 << 30;
}

static int ascii_alpha(unsigned char c) { return (c | 32) >= 'a' && (c | 32) <= 'z'; }

/* Letters: ASCII letters, and non-ASCII code points outside the common
 * punctuation/symbol blocks (a cheap approximation that treats other scripts
 * as letters). */
static int cp_is_letter(uint32_t cp) {
    if (cp < 128) return ascii_alpha((unsigned char)cp);
    if (cp < 0xC0 || cp == 0xD7 || cp == 0xF7) return 0;
    if (cp >= 0x2000 && cp <= 0x2BFF) return 0; /* punctuation, arrows, math, boxes */
    if (cp >= 0x3000 && cp <= 0x303F) return 0; /* CJK punctuation */
    if (cp >= 0xFE30 && cp <= 0xFE4F) return 0;
    if (cp >= 0xFF00 && cp <= 0xFF20) return 0;
    if (cp >= 0x1F000) return 0;                 /* emoji and symbols */
    return 1;
}

static int is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

static int header_is_empty(const char *t, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c >= 0x80 || ascii_alpha(c) || (c >= '0' && c <= '9')) return 0;
    }
    return 1;
}

static int header_is_allcaps(const char *t, size_t n) {
    size_t upper = 0, lower = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c >= 'A' && c <= 'Z') upper++;
        else if (c >= 'a' && c <= 'z') lower++;
    }
    return upper >= 2 && lower == 0;
}

static int header_is_boilerplate(const char *t, size_t n) {
    for (const char *const *w = sa_corpus_boilerplate_words; *w; w++) {
        size_t wl = strlen(*w);
        for (size_t i = 0; i + wl <= n; i++) {
            if (i > 0 && ascii_alpha((unsigned char)t[i - 1])) continue;
            if (i + wl < n && ascii_alpha((unsigned char)t[i + wl])) continue;
            size_t k = 0;
            while (k < wl && (((unsigned char)t[i + k] | ((t[i + k] >= 'A' && t[i + k] <= 'Z') ? 32 : 0)) ==
                              (unsigned char)(*w)[k]))
                k++;
            if (k == wl) return 1;
        }
    }
    return 0;
}

double sa_corpus_repetition(const sa_corpus_opts *o, const char *text, size_t n) {
    enum { MAX_SENT = 256 };
    uint32_t k = o->rep_ngram ? o->rep_ngram : 1;
    if (k > 16) k = 16;
    /* one hash per word, at most one n-gram per word */
    size_t cap_words = n / 2 + 1;
    uint64_t *h = sa_malloc_array(cap_words, sizeof *h);
    size_t *start = sa_malloc_array(MAX_SENT + 1, sizeof *start);
    if (!h || !start) { free(h); free(start); return 0; }
    size_t nsent = 0, nh = 0, i = 0;
    uint64_t win[16];
    size_t wcount = 0;
    start[0] = 0;
    while (i < n && nsent < MAX_SENT) {
        while (i < n && (is_space((unsigned char)text[i]) && text[i] != '\n')) i++;
        int end_sentence = 0;
        if (i < n && text[i] == '\n') { end_sentence = 1; i++; }
        else if (i < n) {
            uint64_t wh = 1469598103934665603ULL;
            while (i < n && !is_space((unsigned char)text[i])) {
                unsigned char c = (unsigned char)text[i];
                if (ascii_alpha(c) || c >= 0x80 || (c >= '0' && c <= '9'))
                    wh = (wh ^ (unsigned char)((c >= 'A' && c <= 'Z') ? c + 32 : c)) * 1099511628211ULL;
                i++;
            }
            char last = text[i - 1];
            win[wcount % k] = wh;
            wcount++;
            if (wcount >= k && nh < cap_words) {
                uint64_t g = 0;
                for (uint32_t j = 0; j < k; j++) {
                    g = (g ^ win[(wcount - k + j) % k]) * 0x9e3779b97f4a7c15ULL;
                    g ^= g >> 29;
                }
                h[nh++] = g;
            }
            if (last == '.' || last == '!' || last == '?') end_sentence = 1;
        }
        if (end_sentence || i >= n) {
            if (nh > start[nsent]) start[++nsent] = nh;
            wcount = 0;
        }
    }
    /* sort and dedupe each sentence's n-grams in place (insertion sort is
     * fine: sentences are short) */
    size_t *len = sa_malloc_array(nsent + 1, sizeof *len);
    if (!len) { free(h); free(start); return 0; }
    for (size_t s = 0; s < nsent; s++) {
        uint64_t *a = h + start[s];
        size_t m = start[s + 1] - start[s];
        for (size_t x = 1; x < m; x++) {
            uint64_t v = a[x];
            size_t y = x;
            while (y > 0 && a[y - 1] > v) { a[y] = a[y - 1]; y--; }
            a[y] = v;
        }
        size_t u = 0;
        for (size_t x = 0; x < m; x++)
            if (u == 0 || a[u - 1] != a[x]) a[u++] = a[x];
        len[s] = u;
    }
    /* each unordered pair once; a pair whose sizes differ by more than the
     * threshold allows cannot reach it (J <= min/max), so skip the merge */
    unsigned char *mark = sa_calloc(nsent + 1, 1);
    if (!mark) { free(h); free(start); free(len); return 0; }
    for (size_t s = 0; s < nsent; s++) {
        for (size_t t = s + 1; t < nsent; t++) {
            if (mark[s] && mark[t]) continue;
            size_t la = len[s], lb = len[t];
            size_t lo = la < lb ? la : lb, hi = la < lb ? lb : la;
            if (!hi || (double)lo < o->rep_threshold * (double)hi) continue;
            const uint64_t *a = h + start[s], *b = h + start[t];
            size_t x = 0, y = 0, inter = 0;
            while (x < la && y < lb) {
                if (a[x] == b[y]) { inter++; x++; y++; }
                else if (a[x] < b[y]) x++;
                else y++;
            }
            size_t uni = la + lb - inter;
            if (uni && (double)inter / uni >= o->rep_threshold) mark[s] = mark[t] = 1;
        }
    }
    size_t repeated = 0;
    for (size_t s = 0; s < nsent; s++) repeated += mark[s];
    free(mark);
    free(h); free(start); free(len);
    return nsent >= 2 ? (double)repeated / nsent : 0;
}

sa_corpus_reason sa_corpus_filter(const sa_corpus_opts *o, const char *title, size_t title_n,
                                  bool has_header, const char *text, size_t n) {
    if (!sa_utf8_valid(text, n, NULL) || memchr(text, '\0', n) ||
        (title && (!sa_utf8_valid(title, title_n, NULL) || memchr(title, '\0', title_n))))
        return SA_CORPUS_INVALID_UTF8;
    size_t chars = 0, letters = 0, nonspace = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = sa_utf8_decode(text + i, n - i, &cp);
        if (!l) l = 1;
        chars++;
        if (!(cp < 128 && is_space((unsigned char)cp))) nonspace++;
        letters += (size_t)cp_is_letter(cp);
        i += l;
    }
    if (chars < o->min_chars) return SA_CORPUS_TOO_SHORT;
    if (chars > o->max_chars) return SA_CORPUS_TOO_LONG;
    if (has_header) {
        if (!title || header_is_empty(title, title_n)) return SA_CORPUS_EMPTY_HEADER;
        if (header_is_allcaps(title, title_n)) return SA_CORPUS_ALLCAPS_HEADER;
        if (header_is_boilerplate(title, title_n)) return SA_CORPUS_BOILERPLATE_HEADER;
    }
    if (nonspace == 0 || (double)letters / (double)nonspace < o->min_letter_ratio)
        return SA_CORPUS_FEW_LETTERS;
    if (sa_corpus_repetition(o, text, n) >= o->rep_min_frac && o->rep_min_frac > 0)
        return SA_CORPUS_REPETITIVE;
    return SA_CORPUS_KEEP;
}
