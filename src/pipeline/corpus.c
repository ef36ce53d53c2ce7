/* corpus.c — corpus preparation: input formats, segmentation, the driver
 * that filters, dedups and buffers the output lines. Filters live in
 * corpus_filter.c, dedup in minhash.c. See include/sa/corpus.h. */
#include "sa/corpus.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "sa/alloc.h"
#include "sa/fileio.h"
#include "sa/hash.h"
#include "sa/json.h"
#include "sa/utf8.h"

typedef struct block {
    size_t off, len; /* into the parsed buffer */
    int level;       /* 0 = paragraph, 1..6 = header */
} block;

struct sa_corpus {
    sa_corpus_opts o;
    sa_corpus_stats st;
    sa_dedup *dd;
    uint64_t *kept_ids; /* segment id per dedup item, for "duplicate of" */
    size_t cap_kept;
    sa_strbuf out, rej;
    sa_strbuf seg, norm, html, file, tmp;
    block *blocks;
    size_t nblocks, cap_blocks;
    int docs_mode; /* parsing a <doc> dump body: "Section." lines are headers */
    sa_corpus_warn_fn warn;
    void *warn_ctx;
};

typedef struct doc_meta {
    const char *id, *url, *title, *path; /* NUL-terminated, may be NULL (not id/path) */
} doc_meta;

sa_status sa_corpus_init(sa_corpus **out, const sa_corpus_opts *o, sa_err *err) {
    *out = NULL;
    if (o->min_chars > o->max_chars || o->max_chars == 0)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "corpus: min_chars %u > max_chars %u",
                          o->min_chars, o->max_chars);
    sa_corpus *c = sa_calloc(1, sizeof *c);
    if (!c) return sa_err_set(err, SA_ERR_NOMEM, "corpus: out of memory");
    c->o = *o;
    if (o->exact_dedup || o->near_dedup) {
        sa_status s = sa_dedup_init(&c->dd, &o->minhash, err);
        if (s != SA_OK) { free(c); return s; }
    }
    *out = c;
    return SA_OK;
}

void sa_corpus_free(sa_corpus *c) {
    if (!c) return;
    sa_dedup_free(c->dd);
    free(c->kept_ids);
    free(c->blocks);
    sa_strbuf_free(&c->out); sa_strbuf_free(&c->rej); sa_strbuf_free(&c->seg);
    sa_strbuf_free(&c->norm); sa_strbuf_free(&c->html); sa_strbuf_free(&c->file);
    sa_strbuf_free(&c->tmp);
    free(c);
}

void sa_corpus_set_warn(sa_corpus *c, sa_corpus_warn_fn fn, void *ctx) {
    c->warn = fn;
    c->warn_ctx = ctx;
}

const sa_corpus_stats *sa_corpus_get_stats(const sa_corpus *c) { return &c->st; }

/* ---------------------------------------------------------------- output */

/* A JSON string from bytes that may not be UTF-8 (paths, ids): invalid
 * bytes and NULs become '?', so output never fails on odd file names. */
static json_t *jstr(const char *s, size_t n) {
    json_t *j = json_stringn(s, n);
    if (j) return j;
    char *cpy = sa_memdup(s, n ? n : 1);
    if (!cpy) return NULL;
    for (size_t i = 0; i < n;) {
        size_t l = sa_utf8_decode(cpy + i, n - i, &(uint32_t){0});
        if (!l || cpy[i] == '\0') { cpy[i] = '?'; l = 1; }
        i += l;
    }
    j = json_stringn(cpy, n);
    free(cpy);
    return j;
}

static sa_status set_str(json_t *o, const char *k, const char *s, size_t n, sa_err *err) {
    json_t *v = jstr(s, n);
    if (!v || json_object_set_new(o, k, v) != 0)
        return sa_err_set(err, SA_ERR_NOMEM, "corpus: out of memory building JSON");
    return SA_OK;
}

static sa_status emit(sa_corpus *c, const doc_meta *d, const char *title, size_t tn, bool has_header,
                      const char *text, size_t n, sa_err *err) {
    c->st.segments++;
    sa_strbuf_reset(&c->norm);
    if (sa_text_normalize(text, n, &c->norm) != SA_OK) return sa_err_set(err, SA_ERR_NOMEM, "corpus: out of memory");
    sa_hash_state hs;
    if (sa_hash_state_init(&hs, 0) != 0) return sa_err_set(err, SA_ERR_NOMEM, "corpus: out of memory");
    sa_hash_state_update(&hs, d->id, strlen(d->id));
    sa_hash_state_update(&hs, "\n", 1);
    sa_hash_state_update(&hs, c->norm.buf ? c->norm.buf : "", c->norm.len);
    uint64_t idh = sa_hash_state_digest(&hs);
    sa_hash_state_free(&hs);
    char id[17], dupid[17];
    sa_hash_hex(idh, id);

    sa_corpus_reason r = sa_corpus_filter(&c->o, title, tn, has_header, text, n);
    sa_dedup_result dr = {0};
    if (r == SA_CORPUS_KEEP && c->dd) {
        sa_status s = sa_dedup_add(c->dd, text, n, c->o.near_dedup, &dr, err);
        if (s != SA_OK) return s;
        if (dr.kind == SA_DEDUP_EXACT) r = SA_CORPUS_EXACT_DUPLICATE;
        else if (dr.kind == SA_DEDUP_NEAR) r = SA_CORPUS_NEAR_DUPLICATE;
        else {
            if (!sa_grow((void **)&c->kept_ids, &c->cap_kept, sa_dedup_count(c->dd), sizeof(uint64_t)))
                return sa_err_set(err, SA_ERR_NOMEM, "corpus: out of memory");
            c->kept_ids[sa_dedup_count(c->dd) - 1] = idh;
        }
        if (r != SA_CORPUS_KEEP) sa_hash_hex(c->kept_ids[dr.dup_of], dupid);
    }
    json_t *o = json_object();
    if (!o) return sa_err_set(err, SA_ERR_NOMEM, "corpus: out of memory");
    sa_status s = set_str(o, "id", id, 16, err);
    if (s == SA_OK) s = set_str(o, "doc", d->id, strlen(d->id), err);
    if (r == SA_CORPUS_KEEP) {
        if (s == SA_OK) s = set_str(o, "title", title ? title : "", title ? tn : 0, err);
        if (s == SA_OK) s = set_str(o, "text", text, n, err);
        if (s == SA_OK) s = set_str(o, "source_path", d->path, strlen(d->path), err);
        if (s == SA_OK && d->url) s = set_str(o, "url", d->url, strlen(d->url), err);
        if (s == SA_OK) s = sa_json_dump_line(o, &c->out, err);
        if (s == SA_OK) c->st.kept++;
    } else {
        const char *rn = sa_corpus_reason_name(r);
        if (s == SA_OK) s = set_str(o, "reason", rn, strlen(rn), err);
        if (s == SA_OK && (r == SA_CORPUS_EXACT_DUPLICATE || r == SA_CORPUS_NEAR_DUPLICATE)) {
            char det[64];
            snprintf(det, sizeof det, "%s of %s",
                     r == SA_CORPUS_NEAR_DUPLICATE ? "near-duplicate" : "exact duplicate", dupid);
            s = set_str(o, "detail", det, strlen(det), err);
            if (s == SA_OK) s = set_str(o, "duplicate_of", dupid, 16, err);
        }
        if (s == SA_OK) s = sa_json_dump_line(o, &c->rej, err);
        if (s == SA_OK) c->st.rejected[r]++;
    }
    json_decref(o);
    return s;
}

/* ---------------------------------------------------------- segmentation */

static int sp(unsigned char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f' || ch == '\v'; }

/* Header level of one line and the span of its text, or 0. Markdown "## T"
 * and wikitext "== T ==", also spaced as in wikitext-2 dumps (" = = T = = ").
 * The marker run may be "==" or "= =": k counts the '=' signs. */
static int header_of(const char *l, size_t n, size_t *ts, size_t *tl) {
    size_t a = 0, b = n;
    while (a < b && sp((unsigned char)l[a])) a++;
    while (b > a && sp((unsigned char)l[b - 1])) b--;
    if (a >= b) return 0;
    char m = l[a];
    if (m != '#' && m != '=') return 0;
    size_t k = 0, p = a;
    while (p < b && l[p] == m) {
        k++;
        p++;
        if (m == '=' && p + 1 < b && l[p] == ' ' && l[p + 1] == '=') p++;
    }
    if (m == '#' && p >= b && k <= 6) { /* "##" alone: a header with no text */
        *ts = b;
        *tl = 0;
        return (int)k;
    }
    if (k > 6 || p >= b || !sp((unsigned char)l[p])) return 0;
    size_t s = p, e = b;
    if (m == '=') { /* needs the same closing run, preceded by a space */
        size_t q = 0;
        while (e > s && l[e - 1] == '=') {
            q++;
            e--;
            if (e > s + 1 && l[e - 1] == ' ' && l[e - 2] == '=') e--;
        }
        if (q != k || e <= s || !sp((unsigned char)l[e - 1])) return 0;
    } else {
        while (e > s && l[e - 1] == '#') e--; /* optional closing #s */
    }
    while (s < e && sp((unsigned char)l[s])) s++;
    while (e > s && sp((unsigned char)l[e - 1])) e--;
    if (s >= e && m == '=') return 0;
    *ts = s;
    *tl = e - s;
    return (int)k;
}

static sa_status push_block(sa_corpus *c, size_t off, size_t len, int level, sa_err *err) {
    if (!sa_grow((void **)&c->blocks, &c->cap_blocks, c->nblocks + 1, sizeof(block)))
        return sa_err_set(err, SA_ERR_NOMEM, "corpus: out of memory");
    c->blocks[c->nblocks++] = (block){off, len, level};
    return SA_OK;
}

/* WikiExtractor-style dumps (<doc> files) keep section headings as a short
 * line ending in one '.', e.g. "Pre-election situation.": at most 8 words
 * and 80 bytes, no other sentence punctuation, starting with a capital. */
static int dump_heading(const char *l, size_t n, size_t *tl) {
    if (n < 2 || n > 80 || l[n - 1] != '.') return 0;
    unsigned char c0 = (unsigned char)l[0];
    if (!((c0 >= 'A' && c0 <= 'Z') || c0 >= 0xC0)) return 0;
    size_t words = 1;
    for (size_t i = 0; i + 1 < n; i++) {
        if (l[i] == '.' || l[i] == '!' || l[i] == '?' || l[i] == ':' || l[i] == ';') return 0;
        if (l[i] == ' ') words++;
    }
    if (words > 8) return 0;
    *tl = n - 1;
    return 1;
}

/* Split buf[0..n) into header and paragraph blocks (offsets into buf). */
static sa_status parse_blocks(sa_corpus *c, const char *buf, size_t n, sa_err *err) {
    c->nblocks = 0;
    size_t i = 0, pstart = 0, pend = 0;
    int in_para = 0;
    sa_status s = SA_OK;
    while (i < n && s == SA_OK) {
        const char *nl = memchr(buf + i, '\n', n - i);
        size_t le = nl ? (size_t)(nl - buf) : n;
        size_t a = i, b = le;
        while (a < b && sp((unsigned char)buf[a])) a++;
        while (b > a && sp((unsigned char)buf[b - 1])) b--;
        size_t ts = 0, tl = 0;
        int lv = a < b ? header_of(buf + i, le - i, &ts, &tl) : 0;
        if (!lv && a < b && c->docs_mode && dump_heading(buf + a, b - a, &tl)) {
            lv = 2;
            ts = a - i;
        }
        if (a >= b || lv) {
            if (in_para) s = push_block(c, pstart, pend - pstart, 0, err);
            in_para = 0;
            if (lv && s == SA_OK) s = push_block(c, i + ts, tl, lv, err);
        } else {
            if (!in_para) { pstart = a; in_para = 1; }
            pend = b;
        }
        i = nl ? le + 1 : n;
    }
    if (in_para && s == SA_OK) s = push_block(c, pstart, pend - pstart, 0, err);
    return s;
}

static sa_status seg_add(sa_corpus *c, const char *p, size_t n, sa_err *err) {
    if ((c->seg.len && sa_strbuf_append(&c->seg, "\n\n", 2) != SA_OK) ||
        sa_strbuf_append(&c->seg, p, n) != SA_OK)
        return sa_err_set(err, SA_ERR_NOMEM, "corpus: out of memory");
    return SA_OK;
}

/* Add one unit (a paragraph, or a line of an oversized paragraph) to the
 * current group, flushing the group first when the unit would overflow it. */
static sa_status group_unit(sa_corpus *c, const doc_meta *d, const char *t, const char *p, size_t n,
                            sa_err *err) {
    sa_status s = SA_OK;
    if (c->seg.len && c->seg.len + 2 + n > c->o.max_chars) {
        s = emit(c, d, t, strlen(t), false, c->seg.buf, c->seg.len, err);
        sa_strbuf_reset(&c->seg);
    }
    return s == SA_OK ? seg_add(c, p, n, err) : s;
}

/* Paragraph groups of blocks [from, to) (all paragraphs) up to max_chars.
 * A paragraph longer than max_chars is split at its line breaks (many dumps
 * put one paragraph per line with no blank lines); a single line longer than
 * that stays whole and is rejected as too long. */
static sa_status emit_groups(sa_corpus *c, const doc_meta *d, const char *buf, size_t from, size_t to,
                             sa_err *err) {
    const char *t = d->title ? d->title : "";
    sa_strbuf_reset(&c->seg);
    sa_status s = SA_OK;
    for (size_t b = from; b < to && s == SA_OK; b++) {
        const block *bl = &c->blocks[b];
        const char *p = buf + bl->off;
        if (bl->len <= c->o.max_chars || !memchr(p, '\n', bl->len)) {
            s = group_unit(c, d, t, p, bl->len, err);
            continue;
        }
        size_t i = 0;
        while (i < bl->len && s == SA_OK) {
            const char *nl = memchr(p + i, '\n', bl->len - i);
            size_t e = nl ? (size_t)(nl - p) : bl->len, a = i, z = e;
            while (a < z && sp((unsigned char)p[a])) a++;
            while (z > a && sp((unsigned char)p[z - 1])) z--;
            if (z > a) s = group_unit(c, d, t, p + a, z - a, err);
            i = nl ? e + 1 : bl->len;
        }
    }
    if (s == SA_OK && c->seg.len) s = emit(c, d, t, strlen(t), false, c->seg.buf, c->seg.len, err);
    return s;
}

static sa_status segment_doc(sa_corpus *c, const doc_meta *d, const char *buf, size_t n, sa_err *err) {
    sa_status s = parse_blocks(c, buf, n, err);
    if (s != SA_OK) return s;
    size_t nb = c->nblocks, first = 0;
    /* a dump body often starts with its title again: drop that paragraph */
    if (nb && d->title && c->blocks[0].level == 0 && c->blocks[0].len == strlen(d->title) &&
        memcmp(buf + c->blocks[0].off, d->title, c->blocks[0].len) == 0)
        first = 1;
    size_t h = first;
    while (h < nb && c->blocks[h].level == 0) h++;
    s = emit_groups(c, d, buf, first, h, err);
    for (size_t b = h; b < nb && s == SA_OK; b++) {
        const block *hb = &c->blocks[b];
        if (!hb->level) continue;
        sa_strbuf_reset(&c->seg);
        for (size_t k = b + 1; k < nb && s == SA_OK; k++) {
            const block *bl = &c->blocks[k];
            if (bl->level && bl->level <= hb->level) break;
            s = seg_add(c, buf + bl->off, bl->len, err);
        }
        if (s == SA_OK) {
            /* the title must outlive seg: copy it to tmp */
            sa_strbuf_reset(&c->tmp);
            if (sa_strbuf_append(&c->tmp, buf + hb->off, hb->len) != SA_OK)
                return sa_err_set(err, SA_ERR_NOMEM, "corpus: out of memory");
            s = emit(c, d, c->tmp.buf, c->tmp.len, true, c->seg.buf ? c->seg.buf : "", c->seg.len, err);
        }
    }
    return s;
}

/* ----------------------------------------------------------------- HTML */

static const struct { const char *name; const char *utf8; } k_entities[] = {
    {"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"}, {"nbsp", " "},
    {"mdash", "\xE2\x80\x94"}, {"ndash", "\xE2\x80\x93"}, {"hellip", "\xE2\x80\xA6"},
    {"copy", "\xC2\xA9"}, {"reg", "\xC2\xAE"}, {"rsquo", "\xE2\x80\x99"}, {"lsquo", "\xE2\x80\x98"},
    {"rdquo", "\xE2\x80\x9D"}, {"ldquo", "\xE2\x80\x9C"}, {"eacute", "\xC3\xA9"}, {NULL, NULL}};

static const char *const k_block_tags[] = {
    "p", "div", "li", "ul", "ol", "tr", "table", "section", "article", "header", "footer", "nav",
    "blockquote", "pre", "title", "td", "th", "dd", "dt", "dl", "aside", "main", "form", "hr", "body",
    "html", "head", NULL};

static size_t ci_find(const char *s, size_t n, size_t from, const char *needle) {
    size_t m = strlen(needle);
    for (size_t i = from; i + m <= n; i++)
        if (strncasecmp(s + i, needle, m) == 0) return i;
    return n;
}

/* Decode an entity at s[0..n) (s[0] == '&'); returns bytes consumed, 0 if
 * not an entity we know. */
static size_t entity(const char *s, size_t n, char out[4], size_t *outn) {
    size_t e = 1;
    while (e < n && e < 12 && s[e] != ';') e++;
    if (e >= n || s[e] != ';') return 0;
    if (s[1] == '#') {
        uint32_t cp = 0;
        int hex = e > 2 && (s[2] == 'x' || s[2] == 'X');
        size_t k = hex ? 3 : 2;
        if (k >= e) return 0;
        for (; k < e; k++) {
            char ch = s[k];
            int v = ch >= '0' && ch <= '9' ? ch - '0' : hex && (ch | 32) >= 'a' && (ch | 32) <= 'f' ? (ch | 32) - 'a' + 10 : -1;
            if (v < 0 || cp > 0x10FFFF) return 0;
            cp = cp * (hex ? 16 : 10) + (uint32_t)v;
        }
        if (cp == 0) return 0;
        *outn = sa_utf8_encode(cp, out);
        return *outn ? e + 1 : 0;
    }
    for (size_t i = 0; k_entities[i].name; i++) {
        size_t l = strlen(k_entities[i].name);
        if (l == e - 1 && memcmp(s + 1, k_entities[i].name, l) == 0) {
            *outn = strlen(k_entities[i].utf8);
            memcpy(out, k_entities[i].utf8, *outn);
            return e + 1;
        }
    }
    return 0;
}

/* HTML -> the text block syntax: <hN> become "#"*N lines, block tags become
 * blank lines, <br> a newline, white space collapses, script/style and
 * comments vanish. An unterminated tag ends the text. */
static sa_status html_to_text(const char *s, size_t n, sa_strbuf *o, sa_err *err) {
    sa_strbuf_reset(o);
    if (sa_strbuf_reserve(o, n + 16) != SA_OK) return sa_err_set(err, SA_ERR_NOMEM, "corpus: out of memory");
    int space = 0;
#define PUT(p, l) do { if (sa_strbuf_append(o, (p), (l)) != SA_OK) return sa_err_set(err, SA_ERR_NOMEM, "corpus: out of memory"); } while (0)
    size_t i = 0;
    while (i < n) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '<' && i + 1 < n && (((s[i + 1] | 32) >= 'a' && (s[i + 1] | 32) <= 'z') || s[i + 1] == '/' || s[i + 1] == '!')) {
            if (n - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
                size_t e = ci_find(s, n, i + 4, "-->");
                i = e >= n ? n : e + 3;
                continue;
            }
            const char *gt = memchr(s + i, '>', n - i);
            if (!gt) break;
            size_t k = i + 1, close = 0;
            if (s[k] == '/') { close = 1; k++; }
            char name[16];
            size_t nl = 0;
            while (k < n && nl < sizeof name - 1 && (((s[k] | 32) >= 'a' && (s[k] | 32) <= 'z') || (s[k] >= '0' && s[k] <= '9')))
                name[nl++] = (char)(s[k++] | 32);
            name[nl] = '\0';
            size_t after = (size_t)(gt - s) + 1;
            if (!close && (strcmp(name, "script") == 0 || strcmp(name, "style") == 0)) {
                size_t e = ci_find(s, n, after, name[1] == 'c' ? "</script" : "</style");
                const char *g2 = e < n ? memchr(s + e, '>', n - e) : NULL;
                i = g2 ? (size_t)(g2 - s) + 1 : n;
                continue;
            }
            if (nl == 2 && name[0] == 'h' && name[1] >= '1' && name[1] <= '6') {
                PUT("\n\n", 2);
                if (!close) { PUT("######", (size_t)(name[1] - '0')); PUT(" ", 1); }
                space = 0;
            } else if (strcmp(name, "br") == 0) {
                PUT("\n", 1);
                space = 0;
            } else {
                for (size_t b = 0; k_block_tags[b]; b++)
                    if (strcmp(name, k_block_tags[b]) == 0) { PUT("\n\n", 2); space = 0; break; }
            }
            i = after;
            continue;
        }
        if (ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r' || ch == '\f') {
            space = o->len && o->buf[o->len - 1] != '\n' && o->buf[o->len - 1] != ' ';
            i++;
            continue;
        }
        if (space) { PUT(" ", 1); space = 0; }
        if (ch == '&') {
            char u[4];
            size_t un = 0, used = entity(s + i, n - i, u, &un);
            if (used) { PUT(u, un); i += used; continue; }
        }
        /* copy a run of ordinary bytes at once */
        size_t j = i + 1;
        while (j < n && s[j] != '<' && s[j] != '&' && s[j] != ' ' && s[j] != '\n' && s[j] != '\t' && s[j] != '\r' && s[j] != '\f') j++;
        PUT(s + i, j - i);
        i = j;
    }
#undef PUT
    return SA_OK;
}

/* --------------------------------------------------------------- inputs */

static void warnf(sa_corpus *c, const char *name, uint64_t line, const char *msg) {
    if (!c->warn) return;
    char b[SA_ERR_MSG_MAX + 256];
    snprintf(b, sizeof b, "%s:%llu: %s", name, (unsigned long long)line, msg);
    c->warn(c->warn_ctx, b);
}

static sa_status add_jsonl(sa_corpus *c, const char *name, const char *buf, size_t n, sa_err *err) {
    size_t i = 0;
    uint64_t line = 0;
    sa_strbuf docid = {0}, title = {0}, url = {0};
    sa_status s = SA_OK;
    while (i < n && s == SA_OK) {
        line++;
        const char *nl = memchr(buf + i, '\n', n - i);
        size_t le = nl ? (size_t)(nl - buf) : n, a = i;
        i = nl ? le + 1 : n;
        while (a < le && (sp((unsigned char)buf[a]))) a++;
        if (a >= le) continue;
        json_t *obj = NULL;
        sa_err e = {0};
        const char *text = NULL, *idv = NULL, *tv = NULL, *uv = NULL;
        size_t tn = 0, idn = 0, tln = 0, un = 0;
        if (sa_json_parse(buf + a, le - a, NULL, &obj, &e) != SA_OK ||
            sa_json_get_str(obj, "text", true, &text, &tn, &e) != SA_OK ||
            sa_json_get_str(obj, "title", false, &tv, &tln, &e) != SA_OK ||
            sa_json_get_str(obj, "url", false, &uv, &un, &e) != SA_OK) {
            c->st.bad_lines++;
            warnf(c, name, line, e.msg[0] ? e.msg : "not a JSON object");
            json_decref(obj);
            continue;
        }
        json_t *jid = json_object_get(obj, "id");
        sa_strbuf_reset(&docid); sa_strbuf_reset(&title); sa_strbuf_reset(&url);
        if (json_is_string(jid)) { idv = json_string_value(jid); idn = json_string_length(jid); }
        if (idv && idn) s = sa_strbuf_append(&docid, idv, idn);
        else if (json_is_integer(jid)) s = sa_strbuf_appendf(&docid, "%lld", (long long)json_integer_value(jid));
        else s = sa_strbuf_appendf(&docid, "%s:%llu", name, (unsigned long long)line);
        if (s == SA_OK && tv) s = sa_strbuf_append(&title, tv, tln);
        if (s == SA_OK && uv) s = sa_strbuf_append(&url, uv, un);
        if (s != SA_OK) { json_decref(obj); s = sa_err_set(err, SA_ERR_NOMEM, "corpus: out of memory"); break; }
        c->st.documents++;
        doc_meta d = {sa_strbuf_cstr(&docid), uv ? sa_strbuf_cstr(&url) : NULL,
                      tv ? sa_strbuf_cstr(&title) : NULL, name};
        s = segment_doc(c, &d, text, tn, err);
        json_decref(obj);
    }
    sa_strbuf_free(&docid); sa_strbuf_free(&title); sa_strbuf_free(&url);
    return s;
}

/* attr="value" inside a <doc ...> line; copies into out. */
static int attr(const char *l, size_t n, const char *key, sa_strbuf *out) {
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl + 2 <= n; i++) {
        if ((i == 0 || sp((unsigned char)l[i - 1])) && memcmp(l + i, key, kl) == 0 && l[i + kl] == '=' && l[i + kl + 1] == '"') {
            size_t s = i + kl + 2, e = s;
            while (e < n && l[e] != '"') e++;
            sa_strbuf_reset(out);
            return sa_strbuf_append(out, l + s, e - s) == SA_OK;
        }
    }
    return 0;
}

static sa_status add_docs(sa_corpus *c, const char *name, const char *buf, size_t n, sa_err *err) {
    sa_strbuf id = {0}, url = {0}, title = {0};
    size_t i = 0, body = 0;
    int in_doc = 0, has_url = 0, has_title = 0;
    uint64_t k = 0;
    sa_status s = SA_OK;
    while (i <= n && s == SA_OK) {
        const char *nl = i < n ? memchr(buf + i, '\n', n - i) : NULL;
        size_t le = nl ? (size_t)(nl - buf) : n;
        int is_open = le - i >= 5 && memcmp(buf + i, "<doc ", 5) == 0;
        int is_close = le - i >= 6 && memcmp(buf + i, "</doc>", 6) == 0;
        if ((is_open || is_close || i >= n) && in_doc) {
            c->st.documents++;
            doc_meta d = {sa_strbuf_cstr(&id), has_url ? sa_strbuf_cstr(&url) : NULL,
                          has_title ? sa_strbuf_cstr(&title) : NULL, name};
            s = segment_doc(c, &d, buf + body, (i < n ? i : n) - body, err);
            in_doc = 0;
        }
        if (s == SA_OK && is_open) {
            k++;
            in_doc = 1;
            body = nl ? le + 1 : n;
            if (!attr(buf + i, le - i, "id", &id)) {
                sa_strbuf_reset(&id);
                if (sa_strbuf_appendf(&id, "%s#%llu", name, (unsigned long long)k) != SA_OK)
                    s = sa_err_set(err, SA_ERR_NOMEM, "corpus: out of memory");
            }
            has_url = attr(buf + i, le - i, "url", &url);
            has_title = attr(buf + i, le - i, "title", &title);
        }
        if (i >= n) break;
        i = nl ? le + 1 : n;
        if (!nl && !in_doc) break;
    }
    sa_strbuf_free(&id); sa_strbuf_free(&url); sa_strbuf_free(&title);
    return s;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcasecmp(s + a - b, suf) == 0;
}

static sa_corpus_format guess(const char *name, const char *buf, size_t n) {
    if (ends_with(name, ".jsonl") || ends_with(name, ".json") || ends_with(name, ".ndjson")) return SA_CORPUS_JSONL;
    if (ends_with(name, ".html") || ends_with(name, ".htm") || ends_with(name, ".xhtml")) return SA_CORPUS_HTML;
    size_t i = 0;
    while (i < n && (sp((unsigned char)buf[i]) || buf[i] == '\n')) i++;
    if (n - i >= 5 && memcmp(buf + i, "<doc ", 5) == 0) return SA_CORPUS_DOCS;
    if (i < n && buf[i] == '<') {
        size_t lim = n < 65536 ? n : 65536;
        static const char *const probes[] = {"<html", "<body", "<p>", "<p ", "<h1", "<h2", "<h3", "<div", NULL};
        for (size_t p = 0; probes[p]; p++)
            if (ci_find(buf, lim, 0, probes[p]) < lim) return SA_CORPUS_HTML;
    }
    return SA_CORPUS_TEXT;
}

sa_status sa_corpus_add_buffer(sa_corpus *c, const char *name, const char *buf, size_t n,
                               sa_corpus_format fmt, sa_err *err) {
    if (!name) name = "<buffer>";
    if (fmt == SA_CORPUS_AUTO) fmt = guess(name, buf, n);
    c->st.bytes += n;
    doc_meta d = {name, NULL, NULL, name};
    switch (fmt) {
    case SA_CORPUS_JSONL: return add_jsonl(c, name, buf, n, err);
    case SA_CORPUS_DOCS: {
        c->docs_mode = 1;
        sa_status s = add_docs(c, name, buf, n, err);
        c->docs_mode = 0;
        return s;
    }
    case SA_CORPUS_HTML: {
        sa_status s = html_to_text(buf, n, &c->html, err);
        if (s != SA_OK) return s;
        c->st.documents++;
        return segment_doc(c, &d, c->html.buf ? c->html.buf : "", c->html.len, err);
    }
    default:
        c->st.documents++;
        return segment_doc(c, &d, buf, n, err);
    }
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static sa_status add_path_depth(sa_corpus *c, const char *path, int depth, sa_err *err) {
    struct stat sb;
    if (stat(path, &sb) != 0) return sa_err_set(err, SA_ERR_IO, "%s: cannot stat", path);
    if (S_ISDIR(sb.st_mode)) {
        if (depth > 64) return sa_err_set(err, SA_ERR_RANGE, "%s: directories nested too deep", path);
        DIR *dir = opendir(path);
        if (!dir) return sa_err_set(err, SA_ERR_IO, "%s: cannot open directory", path);
        char **names = NULL;
        size_t nn = 0, cap = 0;
        sa_status s = SA_OK;
        struct dirent *de;
        while ((de = readdir(dir))) {
            if (de->d_name[0] == '.') continue;
            char *dup = sa_strdup(de->d_name);
            if (!dup || !sa_grow((void **)&names, &cap, nn + 1, sizeof *names)) {
                free(dup);
                s = sa_err_set(err, SA_ERR_NOMEM, "corpus: out of memory");
                break;
            }
            names[nn++] = dup;
        }
        closedir(dir);
        if (nn) qsort(names, nn, sizeof *names, cmp_str);
        sa_strbuf child = {0};
        for (size_t i = 0; i < nn && s == SA_OK; i++) {
            sa_strbuf_reset(&child);
            if (sa_path_join(&child, path, names[i]) != SA_OK) s = sa_err_set(err, SA_ERR_NOMEM, "corpus: out of memory");
            else s = add_path_depth(c, child.buf, depth + 1, err);
        }
        for (size_t i = 0; i < nn; i++) free(names[i]);
        free(names);
        sa_strbuf_free(&child);
        return s;
    }
    if (!S_ISREG(sb.st_mode)) return SA_OK; /* sockets, fifos: not documents */
    if ((uint64_t)sb.st_size > c->o.max_file_bytes)
        return sa_err_set(err, SA_ERR_RANGE, "%s: %lld bytes exceeds the %llu-byte file cap", path,
                          (long long)sb.st_size, (unsigned long long)c->o.max_file_bytes);
    sa_status s = sa_file_read_strbuf(path, &c->file, err);
    if (s != SA_OK) return s;
    c->st.files++;
    /* the reader reuses c->file; add_buffer never touches it */
    return sa_corpus_add_buffer(c, path, c->file.buf ? c->file.buf : "", c->file.len, SA_CORPUS_AUTO, err);
}

sa_status sa_corpus_add_path(sa_corpus *c, const char *path, sa_err *err) {
    return add_path_depth(c, path, 0, err);
}

sa_status sa_corpus_stats_json(const sa_corpus *c, sa_strbuf *out, sa_err *err) {
    json_t *o = json_object(), *r = json_object();
    if (!o || !r) { json_decref(o); json_decref(r); return sa_err_set(err, SA_ERR_NOMEM, "corpus: out of memory"); }
    uint64_t rej = 0;
    for (int k = 1; k < SA_CORPUS_REASON_COUNT; k++) {
        json_object_set_new(r, sa_corpus_reason_name((sa_corpus_reason)k), json_integer((json_int_t)c->st.rejected[k]));
        rej += c->st.rejected[k];
    }
    json_object_set_new(o, "rejected", r);
    json_object_set_new(o, "rejected_total", json_integer((json_int_t)rej));
    json_object_set_new(o, "files", json_integer((json_int_t)c->st.files));
    json_object_set_new(o, "bytes", json_integer((json_int_t)c->st.bytes));
    json_object_set_new(o, "documents", json_integer((json_int_t)c->st.documents));
    json_object_set_new(o, "bad_lines", json_integer((json_int_t)c->st.bad_lines));
    json_object_set_new(o, "segments", json_integer((json_int_t)c->st.segments));
    json_object_set_new(o, "kept", json_integer((json_int_t)c->st.kept));
    sa_status s = sa_json_dump_line(o, out, err);
    json_decref(o);
    return s;
}

sa_status sa_corpus_write(sa_corpus *c, const char *out_path, const char *rejected_path,
                          const char *stats_path, sa_err *err) {
    sa_status s = SA_OK;
    if (out_path) s = sa_file_write_atomic(out_path, c->out.buf ? c->out.buf : "", c->out.len, err);
    if (s == SA_OK && rejected_path)
        s = sa_file_write_atomic(rejected_path, c->rej.buf ? c->rej.buf : "", c->rej.len, err);
    if (s == SA_OK && stats_path) {
        sa_strbuf j = {0};
        s = sa_corpus_stats_json(c, &j, err);
        if (s == SA_OK) s = sa_file_write_atomic(stats_path, j.buf, j.len, err);
        sa_strbuf_free(&j);
    }
    return s;
}
