/* selfinstruct_parse.c — the pure parts of the self-instruct stage: numbered
 * list parsing, candidate filters, seed and red-team type files, topic sets
 * (contracts in include/sa/selfinstruct.h). */
#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/json.h"
#include "sa/record.h"
#include "sa/selfinstruct.h"
#include "sa/strbuf.h"

static const char *const k_reason_names[SA_SI_REASON_COUNT] = {
    "accepted", "empty", "truncated", "bad_start", "too_short", "too_long", "blacklist", "near_duplicate"};

const char *sa_si_reason_name(sa_si_reason r) { return (unsigned)r < SA_SI_REASON_COUNT ? k_reason_names[r] : "?"; }

static bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
static bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static bool push_str(char ***v, size_t *n, size_t *cap, const char *s, size_t len) {
    if (!sa_grow((void **)v, cap, *n + 1, sizeof **v)) return false;
    char *c = sa_strndup(s, len);
    if (!c) return false;
    (*v)[(*n)++] = c;
    return true;
}

static void free_strs(char **v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* ---- list parsing ------------------------------------------------------------------- */

void sa_si_list_free(sa_si_list *l) {
    free_strs(l->items, l->n);
    memset(l, 0, sizeof *l);
}

/* If line[0..n) is an item line, its number and the text after the marker. */
static bool item_line(const char *s, size_t n, long *num, bool *bullet, const char **text) {
    size_t i = 0;
    *bullet = false;
    if (n >= 2 && (s[0] == '-' || s[0] == '*') && s[1] == ' ') {
        *bullet = true;
        *num = -1;
        *text = s + 2;
        return true;
    }
    /* optional label word: "Task 7:", "Question 3." */
    size_t w = 0;
    while (w < n && w <= 16 && is_alpha((unsigned char)s[w])) w++;
    if (w > 0 && w <= 16 && w < n && s[w] == ' ') i = w + 1;
    size_t d = i;
    while (d < n && is_digit((unsigned char)s[d]) && d - i < 5) d++;
    if (d == i || d - i > 4 || d >= n) return false;
    if (s[d] != '.' && s[d] != ')' && s[d] != ':') return false;
    /* "3.5 apples" is not item 3 */
    if (s[d] == '.' && d + 1 < n && is_digit((unsigned char)s[d + 1])) return false;
    *num = strtol(s + i, NULL, 10);
    *text = s + d + 1;
    return true;
}

static bool continues(unsigned char c) {
    return is_alpha(c) || is_digit(c) || c == '"' || c == '\'' || c == '(' || c >= 0x80;
}

sa_status sa_si_parse_list(const char *text, size_t max_items, sa_si_list *l, sa_err *err) {
    sa_si_list_free(l);
    if (max_items == 0) max_items = 64;
    sa_strbuf cur = {0};
    bool have_cur = false, blank_before = false, any_line = false, any_next = false;
    long last = 0;
    bool stopped = false;
    const char *p = text ? text : "";
    sa_status s = SA_OK;
#define FLUSH()                                                                                  \
    do {                                                                                         \
        if (have_cur) {                                                                          \
            if (!push_str(&l->items, &l->n, &l->cap, sa_strbuf_cstr(&cur), cur.len)) goto nomem; \
            have_cur = false;                                                                    \
            sa_strbuf_reset(&cur);                                                               \
        }                                                                                        \
    } while (0)
    while (*p) {
        const char *nl = strchr(p, '\n');
        const char *end = nl ? nl : p + strlen(p);
        const char *b = p, *e = end;
        p = nl ? nl + 1 : end;
        while (b < e && is_space((unsigned char)*b)) b++;
        while (e > b && is_space((unsigned char)e[-1])) e--;
        size_t n = (size_t)(e - b);
        if (n == 0) {
            blank_before = true;
            continue;
        }
        long num;
        bool bullet;
        const char *it;
        if (item_line(b, n, &num, &bullet, &it)) {
            if (bullet) num = last + 1;
            if ((l->n || have_cur) && !any_next && !(num > last && num <= last + 3)) {
                stopped = true;
                break;
            }
            FLUSH();
            if (l->n >= max_items) {
                stopped = true;
                break;
            }
            while (it < e && is_space((unsigned char)*it)) it++;
            if (sa_strbuf_append(&cur, it, (size_t)(e - it))) goto nomem;
            have_cur = true;
            any_next = false;
            last = num;
        } else if (have_cur && !blank_before && continues((unsigned char)*b)) {
            if (sa_strbuf_putc(&cur, ' ') || sa_strbuf_append(&cur, b, n)) goto nomem;
        } else if (!any_line && !have_cur && l->n == 0) {
            /* the first line, unnumbered: the item after the list we showed, or a preamble */
            if (b[n - 1] != ':') {
                if (sa_strbuf_append(&cur, b, n)) goto nomem;
                have_cur = true;
                any_next = true; /* it had no number: any number may follow */
            }
        } else {
            stopped = true;
            break;
        }
        any_line = true;
        blank_before = false;
    }
    if (!stopped) FLUSH();
    else if (have_cur) FLUSH();
    l->ran_to_end = !stopped;
    sa_strbuf_free(&cur);
    return s;
nomem:
    sa_strbuf_free(&cur);
    sa_si_list_free(l);
    return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
#undef FLUSH
}

/* ---- filters -------------------------------------------------------------------------- */

static const char *const k_blacklist[] = {"image", "images", "picture", "pictures", "photo",   "photos",
                                          "graph", "graphs", "file",    "files",    "map",     "maps",
                                          "draw",  "plot",   "go to",   "video",    "videos",  "audio",
                                          "music", "flowchart", "diagram", "diagrams"};

const char *const *sa_si_default_blacklist(size_t *n) {
    *n = sizeof k_blacklist / sizeof k_blacklist[0];
    return k_blacklist;
}

static bool word_byte(unsigned char c) { return is_alpha(c) || is_digit(c) || c >= 0x80; }
static unsigned char lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c; }

/* Does the word sequence starting at text position t match phrase (word by word, lower-cased)? */
static bool phrase_at(const unsigned char *t, const unsigned char *ph) {
    for (;;) {
        while (*ph && !word_byte(*ph)) ph++;
        if (!*ph) return true;
        while (*t && !word_byte(*t)) t++;
        if (!*t) return false;
        while (*ph && word_byte(*ph) && *t && word_byte(*t) && lower(*ph) == lower(*t)) ph++, t++;
        if ((*ph && word_byte(*ph)) || (*t && word_byte(*t))) return false; /* words differ */
    }
}

/* A letter: ASCII, or a code point in the letter-heavy blocks (Latin-1 letters and
 * extensions, Greek to Ethiopic, Latin Extended Additional, kana, CJK, Hangul). */
static bool starts_with_letter(const unsigned char *s) {
    if (is_alpha(*s)) return true;
    if (*s < 0x80) return false;
    uint32_t cp = 0;
    size_t len = (*s >= 0xF0) ? 4 : (*s >= 0xE0) ? 3 : (*s >= 0xC0) ? 2 : 0;
    if (!len) return false;
    cp = *s & (0xFF >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return false;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    return (cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7) || (cp >= 0x370 && cp <= 0x1FFF) ||
           (cp >= 0x3040 && cp <= 0x9FFF) || (cp >= 0xAC00 && cp <= 0xD7AF);
}

sa_si_reason sa_si_filter(const sa_si_filter_opts *f, const char *text, const char **matched) {
    const unsigned char *b = (const unsigned char *)(text ? text : "");
    while (is_space(*b)) b++;
    if (!*b) return SA_SI_EMPTY;
    if (!starts_with_letter(b)) return SA_SI_BAD_START;
    size_t words = 0;
    for (const unsigned char *p = b; *p;) {
        while (*p && is_space(*p)) p++;
        if (!*p) break;
        words++;
        while (*p && !is_space(*p)) p++;
    }
    uint32_t min_w = f && f->min_words ? f->min_words : 4, max_w = f && f->max_words ? f->max_words : 150;
    if (words < min_w) return SA_SI_TOO_SHORT;
    if (words > max_w) return SA_SI_TOO_LONG;
    size_t nb;
    const char *const *bl = sa_si_default_blacklist(&nb);
    if (f && f->blacklist) bl = f->blacklist, nb = f->n_blacklist;
    for (const unsigned char *p = b; *p;) {
        while (*p && !word_byte(*p)) p++;
        if (!*p) break;
        for (size_t i = 0; i < nb; i++) {
            if (bl[i] && bl[i][0] && phrase_at(p, (const unsigned char *)bl[i])) {
                if (matched) *matched = bl[i];
                return SA_SI_BLACKLIST;
            }
        }
        while (*p && word_byte(*p)) p++;
    }
    return SA_SI_ACCEPTED;
}

/* ---- bad lines -------------------------------------------------------------------------- */

typedef struct bad_ctx {
    sa_jsonl_bad_fn fn;
    void *ctx;
} bad_ctx;

static sa_status bad_line(const bad_ctx *bc, const char *path, uint64_t line, bool strict, uint64_t *count,
                          sa_err *err, const char *reason) {
    (*count)++;
    if (bc->fn) bc->fn(bc->ctx, path, line, reason);
    if (strict) return sa_err_set(err, SA_ERR_FORMAT, "%s:%llu: %s", path, (unsigned long long)line, reason);
    return SA_OK;
}

static bool blank(const char *s) {
    while (*s && is_space((unsigned char)*s)) s++;
    return *s == 0;
}

/* ---- seeds ------------------------------------------------------------------------------- */

void sa_si_seeds_free(sa_si_seeds *s) {
    free_strs(s->v, s->n);
    memset(s, 0, sizeof *s);
}

sa_status sa_si_seeds_load(const char *path, bool strict, sa_jsonl_bad_fn on_bad, void *ctx, sa_si_seeds *out,
                           sa_err *err) {
    memset(out, 0, sizeof *out);
    sa_jsonl_reader rd;
    sa_jsonl_opts ro = {.policy = strict ? SA_JSONL_FAIL : SA_JSONL_SKIP, .on_bad = on_bad, .ctx = ctx};
    sa_status s = sa_jsonl_reader_open(&rd, path, &ro, err);
    if (s) return s;
    bad_ctx bc = {on_bad, ctx};
    sa_record rec;
    sa_record_init(&rec);
    json_t *obj;
    uint64_t line;
    /* exact repeats: a sorted check at the end would lose file order, so a linear scan per
       seed is fine for seed sets (hundreds to a few thousand) */
    while ((s = sa_jsonl_next(&rd, &obj, &line, err)) == SA_OK) {
        const char *ins = json_string_value(json_object_get(obj, "question"));
        char why[SA_ERR_MSG_MAX + 64] = "";
        if (!ins) {
            sa_record_format fmt;
            sa_err pe = {0};
            if (sa_record_detect(obj, &fmt, &pe) == SA_OK) {
                if (sa_record_parse(obj, fmt, NULL, NULL, &rec, &pe) == SA_OK) ins = rec.instruction;
                /* only the instruction is used: a task whose answer is unusable still seeds */
                else if (!(ins = json_string_value(json_object_get(obj, "instruction"))))
                    snprintf(why, sizeof why, "%s", pe.msg);
            } else {
                ins = json_string_value(json_object_get(obj, "instruction"));
                if (!ins) snprintf(why, sizeof why, "no \"instruction\" or \"question\" (%s)", pe.msg);
            }
        }
        if (ins && blank(ins)) {
            ins = NULL;
            snprintf(why, sizeof why, "blank instruction");
        }
        if (!ins) {
            s = bad_line(&bc, path, line, strict, &out->bad_lines, err, why);
        } else {
            bool dup = false;
            for (size_t i = 0; i < out->n && !dup; i++) dup = strcmp(out->v[i], ins) == 0;
            if (dup) out->duplicates++;
            else if (!push_str(&out->v, &out->n, &out->cap, ins, strlen(ins)))
                s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
        }
        sa_record_free(&rec);
        json_decref(obj);
        if (s) break;
    }
    if (s == SA_ERR_EOF) s = SA_OK;
    out->bad_lines += sa_jsonl_stats_bad(&rd.stats);
    sa_jsonl_reader_close(&rd);
    if (!s && out->n == 0) s = sa_err_set(err, SA_ERR_FORMAT, "%s: no seed instructions", path);
    if (s) sa_si_seeds_free(out);
    return s;
}

/* ---- red-team types ------------------------------------------------------------------------- */

static void type_free(sa_si_type *t) {
    free(t->name);
    free(t->description);
    free_strs(t->examples, t->n_examples);
    free_strs(t->topics, t->n_topics);
    memset(t, 0, sizeof *t);
}

void sa_si_types_free(sa_si_types *t) {
    for (size_t i = 0; i < t->n; i++) type_free(&t->v[i]);
    free(t->v);
    memset(t, 0, sizeof *t);
}

static sa_si_type *find_type(sa_si_types *t, const char *name) {
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i].name, name) == 0) return &t->v[i];
    return NULL;
}

static sa_si_type *new_type(sa_si_types *t, const char *name, const char *desc) {
    if (!sa_grow((void **)&t->v, &t->cap, t->n + 1, sizeof *t->v)) return NULL;
    sa_si_type *ty = &t->v[t->n];
    memset(ty, 0, sizeof *ty);
    ty->name = sa_strdup(name);
    ty->description = sa_strdup(desc ? desc : "");
    if (!ty->name || !ty->description) {
        type_free(ty);
        return NULL;
    }
    t->n++;
    return ty;
}

/* Append the strings of arr (an array of non-blank strings) to *v; *why on a bad element. */
static bool add_strings(const json_t *arr, const char *key, char ***v, size_t *n, size_t *cap, char *why,
                        size_t why_n, bool *nomem) {
    size_t i;
    json_t *x;
    if (!arr) return true;
    if (!json_is_array(arr)) {
        snprintf(why, why_n, "\"%s\" is not an array", key);
        return false;
    }
    json_array_foreach(arr, i, x) {
        if (!json_is_string(x) || blank(json_string_value(x))) {
            snprintf(why, why_n, "%s[%zu] is not a non-blank string", key, i);
            return false;
        }
    }
    json_array_foreach(arr, i, x) {
        const char *sv = json_string_value(x);
        if (!push_str(v, n, cap, sv, strlen(sv))) {
            *nomem = true;
            return false;
        }
    }
    return true;
}

static bool has_string(const char *const *v, size_t n, const char *s) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0) return true;
    return false;
}

sa_status sa_si_types_load(const char *path, bool strict, sa_jsonl_bad_fn on_bad, void *ctx, sa_si_types *out,
                           sa_err *err) {
    memset(out, 0, sizeof *out);
    sa_jsonl_reader rd;
    sa_jsonl_opts ro = {.policy = strict ? SA_JSONL_FAIL : SA_JSONL_SKIP, .on_bad = on_bad, .ctx = ctx};
    sa_status s = sa_jsonl_reader_open(&rd, path, &ro, err);
    if (s) return s;
    bad_ctx bc = {on_bad, ctx};
    json_t *obj;
    uint64_t line;
    while ((s = sa_jsonl_next(&rd, &obj, &line, err)) == SA_OK) {
        char why[256] = "";
        bool nomem = false;
        const json_t *jt = json_object_get(obj, "type"), *jq = json_object_get(obj, "question_type");
        if (jt) {
            const char *name = json_string_value(jt);
            const json_t *jd = json_object_get(obj, "description");
            if (!name || blank(name)) snprintf(why, sizeof why, "\"type\" is not a non-blank string");
            else if (jd && !json_is_string(jd)) snprintf(why, sizeof why, "\"description\" is not a string");
            else if (find_type(out, name)) snprintf(why, sizeof why, "repeated type \"%.100s\"", name);
            else {
                sa_si_type *ty = new_type(out, name, json_string_value(jd));
                if (!ty) nomem = true;
                else if (!add_strings(json_object_get(obj, "examples"), "examples", &ty->examples, &ty->n_examples,
                                      &ty->cap_examples, why, sizeof why, &nomem) ||
                         !add_strings(json_object_get(obj, "topics"), "topics", &ty->topics, &ty->n_topics,
                                      &ty->cap_topics, why, sizeof why, &nomem))
                    type_free(&out->v[--out->n]); /* the line is bad as a whole */
            }
        } else if (jq) {
            const char *name = json_string_value(jq), *q = json_string_value(json_object_get(obj, "question"));
            const json_t *jtop = json_object_get(obj, "topic");
            const char *topic = json_string_value(jtop);
            if (!name || blank(name)) snprintf(why, sizeof why, "\"question_type\" is not a non-blank string");
            else if (!q || blank(q)) snprintf(why, sizeof why, "no non-blank string \"question\"");
            else if (jtop && !topic) snprintf(why, sizeof why, "\"topic\" is not a string");
            else {
                sa_si_type *ty = find_type(out, name);
                if (!ty) ty = new_type(out, name, NULL);
                if (!ty || !push_str(&ty->examples, &ty->n_examples, &ty->cap_examples, q, strlen(q))) nomem = true;
                else if (topic && !blank(topic) && !has_string((const char *const *)ty->topics, ty->n_topics, topic) &&
                         !push_str(&ty->topics, &ty->n_topics, &ty->cap_topics, topic, strlen(topic)))
                    nomem = true;
            }
        } else {
            snprintf(why, sizeof why, "neither a type {\"type\", ...} nor a seed question {\"question_type\", "
                                      "\"question\", ...}");
        }
        json_decref(obj);
        if (nomem) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
        else if (why[0]) s = bad_line(&bc, path, line, strict, &out->bad_lines, err, why);
        if (s) break;
    }
    if (s == SA_ERR_EOF) s = SA_OK;
    out->bad_lines += sa_jsonl_stats_bad(&rd.stats);
    sa_jsonl_reader_close(&rd);
    if (!s && out->n == 0) s = sa_err_set(err, SA_ERR_FORMAT, "%s: no question types", path);
    if (s) sa_si_types_free(out);
    return s;
}

/* ---- topics --------------------------------------------------------------------------------- */

sa_status sa_si_topic_set_init(sa_si_topic_set *s, double threshold, sa_err *err) {
    memset(s, 0, sizeof *s);
    s->threshold = threshold;
    return sa_rouge_pool_new(&s->pool, err);
}

void sa_si_topic_set_free(sa_si_topic_set *s) {
    free_strs(s->v, s->n);
    free_strs(s->keys, s->n);
    sa_rouge_pool_free(s->pool);
    memset(s, 0, sizeof *s);
}

/* Lower-cased ASCII words joined by single spaces. */
static sa_status normalize(const char *t, sa_strbuf *out) {
    sa_strbuf_reset(out);
    const unsigned char *p = (const unsigned char *)t;
    while (*p) {
        if (!word_byte(*p)) {
            p++;
            continue;
        }
        if (out->len && sa_strbuf_putc(out, ' ')) return SA_ERR_NOMEM;
        for (; *p && word_byte(*p); p++)
            if (sa_strbuf_putc(out, (char)lower(*p))) return SA_ERR_NOMEM;
    }
    return sa_strbuf_putc(out, 0) ? SA_ERR_NOMEM : SA_OK; /* cstr even when empty */
}

sa_status sa_si_topic_set_add(sa_si_topic_set *s, const char *topic, bool *added, sa_err *err) {
    *added = false;
    const char *b = topic ? topic : "";
    size_t n = strlen(b);
    while (n && is_space((unsigned char)*b)) b++, n--;
    while (n && (is_space((unsigned char)b[n - 1]) || b[n - 1] == '.')) n--;
    if (n >= 2 && (b[0] == '"' || b[0] == '\'') && b[n - 1] == b[0]) b++, n -= 2;
    if (n >= 4 && b[0] == '*' && b[1] == '*' && b[n - 1] == '*' && b[n - 2] == '*') b += 2, n -= 4;
    char *t = sa_strndup(b, n);
    sa_strbuf key = {0};
    sa_status st = SA_OK;
    if (!t || normalize(t, &key)) st = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    size_t words = t ? sa_rouge_count_words(t) : 0;
    bool keep = !st && words > 0 && words <= 12;
    for (size_t i = 0; keep && i < s->n; i++) keep = strcmp(s->keys[i], key.buf) != 0;
    if (keep) {
        bool dup = false;
        double best;
        st = sa_rouge_pool_max(s->pool, t, s->threshold, &best, NULL, &dup, err);
        keep = !st && !(dup && best > s->threshold);
    }
    if (keep) {
        size_t c1 = s->cap, c2 = s->cap;
        if (!sa_grow((void **)&s->v, &c1, s->n + 1, sizeof *s->v) ||
            !sa_grow((void **)&s->keys, &c2, s->n + 1, sizeof *s->keys))
            st = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
        else s->cap = c1 < c2 ? c1 : c2;
        if (!st) st = sa_rouge_pool_add(s->pool, t, NULL, err);
        if (!st) {
            s->v[s->n] = t;
            s->keys[s->n] = sa_strbuf_detach(&key, NULL);
            s->n++;
            t = NULL;
            *added = true;
        }
    }
    free(t);
    sa_strbuf_free(&key);
    return st;
}

size_t sa_si_balance(const size_t *counts, size_t n, size_t cap) {
    if (n == 0) return 0;
    size_t m = counts[0];
    for (size_t i = 1; i < n; i++)
        if (counts[i] < m) m = counts[i];
    return cap && cap < m ? cap : m;
}
