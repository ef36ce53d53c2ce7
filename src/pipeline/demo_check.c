/* demo_check.c — the demo world's genres, instruction templates, reference
 * answers and the automatic checker (demo_world.h).
 *
 * A form is a list of line patterns. In a pattern "{E}" is the entity,
 * "{a}" the item and "{g}" the genre word; each placeholder matches one
 * word (ASCII letters) and everything else matches literally. Every
 * document starts with the line k_header. */
#include "sa/demo_world.h"

#include <stdlib.h>
#include <string.h>

#define MAX_LINES 8

typedef struct genre_def {
    const char *name;
    bool heldout;
    const char *lines[MAX_LINES]; /* after the "A {g} for {E}." line; NULL-terminated */
} genre_def;

#define LAYOUT0 {"- {a}", "- {a} for {E}", "- done", "That was the {g}.", NULL}
#define LAYOUT1 {"Dear {E},", "I am sending you the {a}.", "Farewell.", "That was the {g}.", NULL}
#define LAYOUT2 {"Sing of the {a},", "sing of {E}!", "That was the {g}.", NULL}
#define LAYOUT3 {"Come to {E}!", "See the {a}!", "That was the {g}.", NULL}
#define LAYOUT4 {"Today {E} found the {a}.", "It was a good day.", "That was the {g}.", NULL}

/* Genres 0..9 are the named ones; 10.. are more SEEN genres that share the
 * five seen layouts (genre g uses layout (g - 10) % 5). Many seen genre
 * words in the instruction's genre slot make the backward model COPY the
 * genre word from the page rather than classify among five, which is what
 * it must do for a held-out page. Every form ends with a line that names
 * the genre again ("That was the {g}."), so the word a page is about is
 * said twice, like its entity. */
static const genre_def k_genres[SA_DEMO_GENRES] = {
    {"list", false, LAYOUT0},
    {"letter", false, LAYOUT1},
    {"song", false, LAYOUT2},
    {"poster", false, LAYOUT3},
    {"diary", false, LAYOUT4},
    {"timetable", true, {"morning: {a}", "noon: rest", "evening: {E}", "That was the {g}.", NULL}},
    {"recipe", true, {"Take the {a}.", "Mix it well.", "Serve it to {E}.", "That was the {g}.", NULL}},
    {"riddle", true, {"What has a {a} but no {E}?", "Ask {E}.", "That was the {g}.", NULL}},
    {"ledger", true, {"sold: {a} | one coin", "buyer: {E} | two coins", "That was the {g}.", NULL}},
    {"notice", true, {"Wanted: {a}.", "Signed, {E}.", "That was the {g}.", NULL}},
    {"card", false, LAYOUT0},
    {"memo", false, LAYOUT1},
    {"poem", false, LAYOUT2},
    {"menu", false, LAYOUT3},
    {"chart", false, LAYOUT4},
    {"ballad", false, LAYOUT0},
    {"hymn", false, LAYOUT1},
    {"speech", false, LAYOUT2},
    {"report", false, LAYOUT3},
    {"toast", false, LAYOUT4},
    {"prayer", false, LAYOUT0},
    {"sketch", false, LAYOUT1},
    {"verse", false, LAYOUT2},
    {"label", false, LAYOUT3},
    {"flyer", false, LAYOUT4},
    {"story", false, LAYOUT0},
    {"fable", false, LAYOUT1},
    {"tale", false, LAYOUT2},
    {"rhyme", false, LAYOUT3},
    {"chant", false, LAYOUT4},
};

/* The first line restates the request with the same words in the same order
 * ("a timetable for Borl", "about rope"), so a small model can copy it in
 * either direction; it differs enough from every template that the
 * backtranslation filter does not take an instruction for an echo. */
static const char *const k_header = "Here is a {g} for {E}, all about {a}.";

static const char *const k_templates[] = {
    "Write a {g} for {E} about {a}.",
    "Please make a {g} for {E} about the {a}.",
    "I need a {g} for {E}: {a}.",
};
#define N_TEMPLATES ((int)(sizeof k_templates / sizeof k_templates[0]))

const char *sa_demo_genre_name(int g) { return g >= 0 && g < SA_DEMO_GENRES ? k_genres[g].name : NULL; }
bool sa_demo_genre_heldout(int g) { return g >= 0 && g < SA_DEMO_GENRES && k_genres[g].heldout; }
int sa_demo_template_count(void) { return N_TEMPLATES; }

int sa_demo_genre_find(const char *w, size_t n) {
    for (int g = 0; g < SA_DEMO_GENRES; g++)
        if (strlen(k_genres[g].name) == n && memcmp(k_genres[g].name, w, n) == 0) return g;
    return -1;
}

static bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* The value of placeholder k ('g', 'E', 'a', 'b', 'c') for task t. */
static const char *slot_value(const sa_demo_task *t, char k) {
    switch (k) {
    case 'g': return sa_demo_genre_name(t->genre);
    case 'E': return t->entity;
    case 'a': return t->items[0];
    default: return NULL;
    }
}

static sa_status fill(const char *pat, const sa_demo_task *t, sa_strbuf *out) {
    sa_status s = SA_OK;
    for (const char *p = pat; *p && !s; p++) {
        if (p[0] == '{' && p[1] && p[2] == '}') {
            const char *v = slot_value(t, p[1]);
            s = sa_strbuf_puts(out, v ? v : "");
            p += 2;
        } else {
            s = sa_strbuf_putc(out, *p);
        }
    }
    return s;
}

sa_status sa_demo_instruction(const sa_demo_task *t, int tmpl, sa_strbuf *out) {
    if (tmpl < 0 || tmpl >= N_TEMPLATES || !sa_demo_genre_name(t->genre)) return SA_ERR_INVALID_ARG;
    return fill(k_templates[tmpl], t, out);
}

sa_status sa_demo_render(const sa_demo_task *t, sa_strbuf *out) {
    if (!sa_demo_genre_name(t->genre)) return SA_ERR_INVALID_ARG;
    sa_status s = fill(k_header, t, out);
    for (int i = 0; !s && k_genres[t->genre].lines[i]; i++) {
        s = sa_strbuf_putc(out, '\n');
        if (!s) s = fill(k_genres[t->genre].lines[i], t, out);
    }
    return s;
}

/* Slots captured while matching: one word per placeholder letter. */
typedef struct caps {
    const char *v[3]; /* g E a */
    size_t n[3];
    bool consistent;  /* a placeholder seen twice held the same word */
    bool genre_differs; /* the genre word seen twice was not the same word */
} caps;

static int slot_index(char k) {
    switch (k) {
    case 'g': return 0;
    case 'E': return 1;
    case 'a': return 2;
    default: return -1;
    }
}

/* Match text[0..n) against pat exactly (the whole line). */
static bool match_line(const char *pat, const char *text, size_t n, caps *c) {
    size_t i = 0;
    for (const char *p = pat; *p; p++) {
        int k = p[0] == '{' && p[1] && p[2] == '}' ? slot_index(p[1]) : -1;
        if (k < 0) {
            if (i >= n || text[i] != *p) return false;
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && is_letter(text[j])) j++;
        if (j == i) return false;
        if (c->v[k]) {
            if (c->n[k] != j - i || memcmp(c->v[k], text + i, j - i) != 0) {
                c->consistent = false;
                if (k == 0) c->genre_differs = true;
            }
        } else {
            c->v[k] = text + i;
            c->n[k] = j - i;
        }
        i = j;
        p += 2;
    }
    return i == n;
}

/* Non-blank lines of text, each trimmed of white space at both ends. */
typedef struct lines {
    const char *p[MAX_LINES + 1];
    size_t n[MAX_LINES + 1];
    int count; /* MAX_LINES + 1 means "more than MAX_LINES" */
} lines;

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

static void split_lines(const char *text, size_t n, lines *L) {
    L->count = 0;
    size_t i = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && text[e] != '\n') e++;
        size_t a = i, b = e;
        while (a < b && is_space(text[a])) a++;
        while (b > a && is_space(text[b - 1])) b--;
        if (b > a) {
            if (L->count > MAX_LINES) return;
            L->p[L->count] = text + a;
            L->n[L->count] = b - a;
            L->count++;
        }
        i = e + 1;
    }
}

static int form_lines(int g) {
    int k = 0;
    while (k_genres[g].lines[k]) k++;
    return k + 1;
}

/* Match the lines against genre g's form; true when every line matches. */
static bool match_form(int g, const lines *L, caps *c) {
    memset(c, 0, sizeof *c);
    c->consistent = true;
    if (L->count != form_lines(g)) return false;
    if (!match_line(k_header, L->p[0], L->n[0], c)) return false;
    if (c->n[0] != strlen(k_genres[g].name) || memcmp(c->v[0], k_genres[g].name, c->n[0]) != 0) return false;
    for (int i = 1; i < L->count; i++)
        if (!match_line(k_genres[g].lines[i - 1], L->p[i], L->n[i], c)) return false;
    return !c->genre_differs; /* the closing line names the same genre */
}

static bool copy_word(char *dst, const char *src, size_t n) {
    if (!src || n == 0 || n >= SA_DEMO_WORD_MAX) return false;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return true;
}

static bool caps_to_task(const caps *c, int g, sa_demo_task *out) {
    memset(out, 0, sizeof *out);
    out->genre = g;
    bool ok = c->consistent && copy_word(out->entity, c->v[1], c->n[1]);
    for (int k = 0; k < SA_DEMO_ITEMS && ok; k++) ok = copy_word(out->items[k], c->v[2 + k], c->n[2 + k]);
    return ok;
}

bool sa_demo_task_parse(const char *instruction, sa_demo_task *out) {
    size_t n = strlen(instruction), a = 0;
    while (a < n && is_space(instruction[a])) a++;
    while (n > a && is_space(instruction[n - 1])) n--;
    for (int t = 0; t < N_TEMPLATES; t++) {
        caps c;
        memset(&c, 0, sizeof c);
        c.consistent = true;
        if (!match_line(k_templates[t], instruction + a, n - a, &c)) continue;
        int g = sa_demo_genre_find(c.v[0], c.n[0]);
        if (g >= 0 && caps_to_task(&c, g, out)) return true;
    }
    return false;
}

bool sa_demo_doc_parse(const char *text, size_t n, sa_demo_task *out) {
    lines L;
    split_lines(text, n, &L);
    for (int g = 0; g < SA_DEMO_GENRES; g++) {
        caps c;
        if (match_form(g, &L, &c) && caps_to_task(&c, g, out)) return true;
    }
    return false;
}

static bool has_word(const char *text, size_t n, const char *w) {
    size_t wl = strlen(w);
    if (!wl) return false;
    for (size_t i = 0; i + wl <= n; i++) {
        if (memcmp(text + i, w, wl) != 0) continue;
        if (i > 0 && is_letter(text[i - 1])) continue;
        if (i + wl < n && is_letter(text[i + wl])) continue;
        return true;
    }
    return false;
}

void sa_demo_check(const sa_demo_task *t, const char *answer, size_t n, sa_demo_score *out) {
    memset(out, 0, sizeof *out);
    if (!sa_demo_genre_name(t->genre)) return;
    int found = has_word(answer, n, t->entity) ? 1 : 0;
    for (int k = 0; k < SA_DEMO_ITEMS; k++) found += has_word(answer, n, t->items[k]) ? 1 : 0;
    out->content = found / (double)(SA_DEMO_ITEMS + 1);
    lines L;
    split_lines(answer, n, &L);
    caps c;
    out->form = match_form(t->genre, &L, &c);
    if (!out->form) return;
    sa_demo_task got;
    out->pass = caps_to_task(&c, t->genre, &got) && strcmp(got.entity, t->entity) == 0;
    for (int k = 0; k < SA_DEMO_ITEMS && out->pass; k++) out->pass = strcmp(got.items[k], t->items[k]) == 0;
}

sa_status sa_demo_chance_of(const sa_demo_task *tasks, size_t n, sa_demo_chance *out, sa_err *err) {
    memset(out, 0, sizeof *out);
    if (n < 2) return SA_OK;
    sa_strbuf *refs = calloc(n, sizeof *refs);
    if (!refs) return sa_err_set(err, SA_ERR_NOMEM, "demo: out of memory");
    sa_status s = SA_OK;
    for (size_t i = 0; i < n && !s; i++) s = sa_demo_render(&tasks[i], &refs[i]);
    double pass = 0, form = 0, content = 0;
    for (size_t i = 0; i < n && !s; i++) {
        double p = 0, f = 0, c = 0;
        for (size_t j = 0; j < n; j++) {
            if (j == i) continue;
            sa_demo_score sc;
            sa_demo_check(&tasks[i], refs[j].buf, refs[j].len, &sc);
            p += sc.pass, f += sc.form, c += sc.content;
        }
        pass += p / (double)(n - 1), form += f / (double)(n - 1), content += c / (double)(n - 1);
    }
    if (!s) out->pass = pass / (double)n, out->form = form / (double)n, out->content = content / (double)n;
    else sa_err_set(err, s, "demo: rendering a reference answer");
    for (size_t i = 0; i < n; i++) sa_strbuf_free(&refs[i]);
    free(refs);
    return s;
}
