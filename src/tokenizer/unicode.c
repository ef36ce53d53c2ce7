/* unicode.c — Unicode normalisation form C for tokenizers that normalise
 * their input (Qwen2's tokenizer.json has an NFC normalizer).
 *
 * Tables come from tools/gen_unicode_tables.py (unicode_tables.inc). Most text is
 * already NFC: a quick check that finds no code point able to change under
 * NFC (none below U+0300 can) skips the work. Otherwise the algorithm of
 * UAX #15: full canonical decomposition (Hangul algorithmically), canonical
 * ordering of combining marks, then canonical composition with blocking.
 */
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/utf8.h"
#include "tok_internal.h"

struct nfc_ccc_range {
    uint32_t first, last;
    uint8_t ccc;
};
struct nfc_decomp {
    uint32_t cp, a, b; /* b == 0: singleton */
};
struct nfc_comp {
    uint32_t a, b, c;
};
struct nfc_range {
    uint32_t first, last;
};

#include "unicode_tables.inc"

enum {
    S_BASE = 0xAC00, L_BASE = 0x1100, V_BASE = 0x1161, T_BASE = 0x11A7,
    L_COUNT = 19, V_COUNT = 21, T_COUNT = 28, N_COUNT = V_COUNT * T_COUNT, S_COUNT = L_COUNT * N_COUNT,
};

static unsigned ccc_of(uint32_t cp) {
    if (cp < 0x300) return 0;
    size_t lo = 0, hi = sizeof nfc_ccc / sizeof nfc_ccc[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < nfc_ccc[mid].first) hi = mid;
        else if (cp > nfc_ccc[mid].last) lo = mid + 1;
        else return nfc_ccc[mid].ccc;
    }
    return 0;
}

static bool unstable(uint32_t cp) {
    size_t lo = 0, hi = sizeof nfc_unstable / sizeof nfc_unstable[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < nfc_unstable[mid].first) hi = mid;
        else if (cp > nfc_unstable[mid].last) lo = mid + 1;
        else return true;
    }
    return false;
}

static const struct nfc_decomp *decomp_of(uint32_t cp) {
    size_t lo = 0, hi = sizeof nfc_decomp / sizeof nfc_decomp[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < nfc_decomp[mid].cp) hi = mid;
        else if (cp > nfc_decomp[mid].cp) lo = mid + 1;
        else return &nfc_decomp[mid];
    }
    return NULL;
}

/* Primary composite of (a, b), or 0. */
static uint32_t compose(uint32_t a, uint32_t b) {
    if (a >= L_BASE && a < L_BASE + L_COUNT && b >= V_BASE && b < V_BASE + V_COUNT)
        return S_BASE + ((a - L_BASE) * V_COUNT + (b - V_BASE)) * T_COUNT;
    if (a >= S_BASE && a < S_BASE + S_COUNT && (a - S_BASE) % T_COUNT == 0 && b > T_BASE &&
        b < T_BASE + T_COUNT)
        return a + (b - T_BASE);
    size_t lo = 0, hi = sizeof nfc_comp / sizeof nfc_comp[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const struct nfc_comp *e = &nfc_comp[mid];
        if (a < e->a || (a == e->a && b < e->b)) hi = mid;
        else if (a > e->a || b > e->b) lo = mid + 1;
        else return e->c;
    }
    return 0;
}

int sa_unicode_pretok_class(uint32_t cp) {
    if (cp >= 0x110000) return SA_UCLASS_OTHER;
    return pretok_class_blocks[pretok_class_index[cp >> 8]][cp & 255];
}

bool sa_unicode_is_nfc_quick(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0xCC) { /* below U+0300 nothing changes under NFC */
            i += c < 0x80 ? 1 : 2;
            continue;
        }
        uint32_t cp;
        size_t k = sa_utf8_decode(s + i, n - i, &cp);
        if (k == 0) return false;
        if (unstable(cp)) return false;
        i += k;
    }
    return true;
}

typedef struct cpbuf {
    uint32_t *v;
    size_t n, cap;
} cpbuf;

static bool cp_push(cpbuf *b, uint32_t cp) {
    if (b->n == b->cap && !sa_grow((void **)&b->v, &b->cap, b->n + 1, sizeof *b->v)) return false;
    b->v[b->n++] = cp;
    return true;
}

static bool decompose(cpbuf *b, uint32_t cp, int depth) {
    if (cp >= S_BASE && cp < S_BASE + S_COUNT) {
        uint32_t si = cp - S_BASE;
        if (!cp_push(b, L_BASE + si / N_COUNT) || !cp_push(b, V_BASE + (si % N_COUNT) / T_COUNT))
            return false;
        return si % T_COUNT == 0 || cp_push(b, T_BASE + si % T_COUNT);
    }
    const struct nfc_decomp *d = depth < 8 ? decomp_of(cp) : NULL;
    if (!d) return cp_push(b, cp);
    if (!decompose(b, d->a, depth + 1)) return false;
    return d->b == 0 || decompose(b, d->b, depth + 1);
}

static sa_status nfc_segment(const char *s, size_t n, sa_strbuf *out) {
    cpbuf b = {0};
    sa_status st = SA_ERR_NOMEM;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = sa_utf8_decode(s + i, n - i, &cp);
        if (k == 0) {
            st = SA_ERR_UTF8;
            goto done;
        }
        if (!decompose(&b, cp, 0)) goto done;
        i += k;
    }
    /* canonical ordering: stable sort of each run of non-starters by class */
    for (size_t i = 1; i < b.n; i++) {
        unsigned ci = ccc_of(b.v[i]);
        if (ci == 0) continue;
        size_t j = i;
        uint32_t cp = b.v[i];
        while (j > 0) {
            unsigned cj = ccc_of(b.v[j - 1]);
            if (cj == 0 || cj <= ci) break;
            b.v[j] = b.v[j - 1];
            j--;
        }
        b.v[j] = cp;
    }
    /* canonical composition (UAX #15): a mark composes with the last starter
     * unless a character between them has class 0 or >= its own */
    if (b.n) {
        size_t starter = 0, w = 1;
        unsigned last = ccc_of(b.v[0]) ? 256 : 0;
        for (size_t r = 1; r < b.n; r++) {
            uint32_t ch = b.v[r];
            unsigned cc = ccc_of(ch);
            uint32_t c = (last < cc || last == 0) ? compose(b.v[starter], ch) : 0;
            if (c && (last < cc || last == 0)) {
                b.v[starter] = c;
                continue;
            }
            if (cc == 0) starter = w;
            last = cc;
            b.v[w++] = ch;
        }
        b.n = w;
    }
    if (b.n && sa_strbuf_reserve(out, b.n * 4)) goto done;
    for (size_t i = 0; i < b.n; i++) {
        char u[4];
        size_t k = sa_utf8_encode(b.v[i], u);
        sa_strbuf_append(out, u, k);
    }
    st = SA_OK;
done:
    free(b.v);
    return st;
}

/* Only the pieces around unstable characters are normalised: a stable
 * character (class 0, unchanged by NFC, never the second of a pair) is a
 * boundary nothing composes or reorders across, so a segment runs from the
 * last stable character before an unstable one to the next stable one. */
sa_status sa_unicode_nfc(const char *s, size_t n, sa_strbuf *out) {
    size_t copy_from = 0, boundary = 0, i = 0;
    bool pending = false;
    sa_status st;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        uint32_t cp = c;
        size_t k = 1;
        if (c >= 0x80) {
            k = sa_utf8_decode(s + i, n - i, &cp);
            if (k == 0) return SA_ERR_UTF8;
        }
        if (cp < 0x300 || !unstable(cp)) {
            if (pending) {
                if ((st = sa_strbuf_append(out, s + copy_from, boundary - copy_from))) return st;
                if ((st = nfc_segment(s + boundary, i - boundary, out))) return st;
                copy_from = i;
                pending = false;
            }
            boundary = i;
        } else {
            pending = true;
        }
        i += k;
    }
    if (pending) {
        if ((st = sa_strbuf_append(out, s + copy_from, boundary - copy_from))) return st;
        return nfc_segment(s + boundary, n - boundary, out);
    }
    return sa_strbuf_append(out, s + copy_from, n - copy_from);
}
