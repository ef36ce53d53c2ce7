/* score_parse.c — find the rubric's "Score: N" in a model's free text.
 *
 * Models write the score in many shapes ("Score: 4", "**Score**: 4",
 * "score 4/5", "Rating - 4"), and often quote the scale first ("a score of
 * 1 means ..."), so the last well-formed occurrence is taken. Anything
 * ambiguous (0, 6, 45, 4.5) is rejected rather than guessed: an unparsable
 * output is counted and kept, a wrong score is silently wrong.
 */
#include <ctype.h>
#include <string.h>

#include "sa/curate.h"

static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static bool match_word(const char *s, size_t n, size_t i, const char *w, size_t *end) {
    size_t wl = strlen(w);
    if (i + wl > n) return false;
    for (size_t k = 0; k < wl; k++)
        if (tolower((unsigned char)s[i + k]) != w[k]) return false;
    if (i > 0 && is_alpha(s[i - 1])) return false;          /* "underscore" */
    if (i + wl < n && is_alpha(s[i + wl])) return false;    /* "scored" */
    *end = i + wl;
    return true;
}

/* The number after a keyword ending at i: separators, optional "is"/"of",
 * then one digit 1..5 that is not the start of a longer number. */
static int digit_after(const char *s, size_t n, size_t i) {
    size_t gap = 0;
    for (;;) {
        while (i < n && gap < 12 && strchr(" \t*_:=-", s[i]) && s[i] != '\0') i++, gap++;
        size_t e;
        if (gap < 12 && (match_word(s, n, i, "is", &e) || match_word(s, n, i, "of", &e))) {
            gap += e - i;
            i = e;
            continue;
        }
        break;
    }
    if (i >= n || !is_digit(s[i])) return 0;
    int d = s[i] - '0';
    if (d < 1 || d > 5) return 0;
    if (i + 1 < n && is_digit(s[i + 1])) return 0;                                /* 45 */
    if (i + 2 < n && (s[i + 1] == '.' || s[i + 1] == ',') && is_digit(s[i + 2])) return 0; /* 4.5 */
    if (i + 1 < n && s[i + 1] == '/') {                                          /* 4/5 only */
        if (!(i + 2 < n && s[i + 2] == '5' && !(i + 3 < n && is_digit(s[i + 3])))) return 0;
    }
    return d;
}

bool sa_score_parse(const char *text, size_t len, int32_t *score) {
    if (!text) return false;
    int best = 0;
    for (size_t i = 0; i < len; i++) {
        size_t e;
        if (!(match_word(text, len, i, "score", &e) || match_word(text, len, i, "rating", &e))) continue;
        int d = digit_after(text, len, e);
        if (d) best = d;
    }
    if (!best) return false;
    *score = best;
    return true;
}
