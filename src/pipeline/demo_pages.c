/* demo_pages.c — the unlabeled web pages of the demo world (demo_world.h):
 * genre documents inside site chrome (menus, cookie banners, footers),
 * comment threads inside and outside genre sections, truncated pages,
 * encyclopedic articles, link lists, exact and near-duplicate mirrors. */
#include <stdlib.h>
#include <string.h>

#include "sa/fileio.h"

#include "demo_internal.h"

static const char *const k_kind_names[SA_DEMO_PAGE_KIND_COUNT] = {
    "clean", "mixed", "thread", "truncated", "article", "mirror", "near_duplicate", "links", "decoy"};

const char *sa_demo_page_kind_name(sa_demo_page_kind k) {
    return (unsigned)k < SA_DEMO_PAGE_KIND_COUNT ? k_kind_names[k] : "?";
}

/* ---- web pages ---- */

static const char *const k_comments[] = {
    "{N} said: I made this {g} for {F} last week and everyone loved it. Reply",
    "{N} said: Where can I buy good {a} in {Q}? Reply",
    "{N} said: Thanks for sharing! {E} would like this {g} too. Reply",
    "{N} said: The {a} was too old, so I used {b} instead. Reply",
    "{N} said: First! Reply",
    "{N} said: My grandmother had a {g} just like this in {Q}. Reply",
    "{N} said: Does anyone know if {E} still lives in {P}? Reply",
    "{N} said: This is the best {g} on the whole site, I printed it. Reply",
    "Posted by {N} | {k} likes | Report",
    "{N} said: I do not agree, {c} never goes with {a}. Reply",
};
#define N_COMMENTS ((int)(sizeof k_comments / sizeof k_comments[0]))

static const char *const k_titles[] = {"{E} and the {a}", "Notes from {P}", "From the {T} of {P}",
                                       "{P} daily", "A page about {E}", "What {E} wrote"};
#define N_TITLES ((int)(sizeof k_titles / sizeof k_titles[0]))

static sa_status thread(dw *w, const dw_ctx *base, const char *genre, sa_strbuf *out) {
    int n = 3 + sa_dw_rnd(w, 3), used[N_COMMENTS] = {0};
    sa_status s = SA_OK;
    for (int i = 0; i < n && !s; i++) {
        int k;
        do k = sa_dw_rnd(w, N_COMMENTS);
        while (used[k]);
        used[k] = 1;
        dw_ctx c = sa_dw_make_ctx(w, sa_dw_rnd(w, w->n_ent));
        c.E = base->E;
        c.g = genre;
        if (i) s = sa_strbuf_putc(out, '\n');
        if (!s) s = sa_dw_put_t(out, k_comments[k], &c);
    }
    return s;
}

static sa_status chrome_top(dw *w, const dw_ctx *c, sa_strbuf *p) {
    static const char *const skip[] = {"Skip to content | {P} news", "Home > {P} > pages"};
    static const char *const menu[] = {"# Main menu\nHome | News | {P} | Shop | About\n\n",
                                       "# Navigation\nHome | Pages | {Q} | Contact\n\n", "# Menu\nHome | {P} | Blog\n\n"};
    static const char *const cookie[] = {
        "# Cookie settings\nWe use cookies to give you the best visit. By using this site you agree to our use of "
        "cookies. Accept all | Reject all | Settings\n\n",
        "# Cookies\nThis site uses cookies. Read our privacy policy to learn more. OK | No thanks\n\n"};
    sa_status s = SA_OK;
    if (sa_dw_rnd(w, 2)) {
        s = sa_dw_put_t(p, skip[sa_dw_rnd(w, 2)], c);
        if (!s) s = sa_strbuf_puts(p, "\n\n");
    }
    if (!s && sa_dw_rnd(w, 4)) s = sa_dw_put_t(p, menu[sa_dw_rnd(w, 3)], c);
    if (!s && sa_dw_rnd(w, 2)) s = sa_dw_put_t(p, cookie[sa_dw_rnd(w, 2)], c);
    return s;
}

static sa_status chrome_bottom(dw *w, const dw_ctx *c, sa_strbuf *p) {
    static const char *const foot[] = {"\n# Footer\nCopyright {P} news | Privacy policy | Terms of use | Contact us\n",
                                       "\n# Follow us\nTwitter | Facebook | Email | RSS\n",
                                       "\n# Related posts\n{E} and the {a} | Notes from {Q} | {P} daily\n"};
    return sa_dw_rnd(w, 4) ? sa_dw_put_t(p, foot[sa_dw_rnd(w, 3)], c) : SA_OK;
}

typedef struct page {
    sa_strbuf text;
    char title[96], url[128];
    sa_demo_page_kind kind;
    int genre; /* -1 none */
} page;

static void page_meta(dw *w, page *pg, const dw_ctx *c, int n) {
    sa_strbuf t = {0};
    if (sa_dw_put_t(&t, k_titles[sa_dw_rnd(w, N_TITLES)], c) == SA_OK) snprintf(pg->title, sizeof pg->title, "%s", sa_strbuf_cstr(&t));
    sa_strbuf_free(&t);
    char site[16];
    snprintf(site, sizeof site, "%s", c->P);
    site[0] = (char)(site[0] - 'A' + 'a');
    static const char *const kinds[] = {"news", "home", "times", "notes"};
    snprintf(pg->url, sizeof pg->url, "https://%s-%s.example/p/%d", site, kinds[sa_dw_rnd(w, 4)], 1000 + n);
}

/* Advert lines of a decoy page: a shop network that copied a document's
 * opening and closing lines to rank for them, with the network's slogan
 * (k_slogan) and three to five advert lines between, stuffed with the
 * genre word as such pages stuff their keyword. They name some item at
 * most once and never the entity, so the instruction written for the
 * opening line explains little of them (what pmi curation measures), yet
 * the backward model, seeing the genre word said again and again, writes
 * the instruction a clean page of that genre gets. The decoys outnumber
 * the clean pages of each held-out genre and all continue the opening line
 * the same way, so a model trained on every candidate may answer a
 * request for a held-out genre with the slogan. */
static const char k_slogan[] = "The best {g} prices of the season, only this week!";
static const char *const k_advert[] = {
    "Buy a {g} now and get free shipping to your door.",
    "Sign up for our {g} newsletter and save ten coins.",
    "Click here to see more {g} offers from our shop.",
    "Limited stock: order your {g} today before it is gone.",
    "Our customers love our {g}, read the reviews below.",
    "Call us now, our {g} team is waiting for you.",
    "Add to cart | Buy now | Save for later",
    "Cheap {a} for sale, order today!",
    "We ship {a} to {P} and {Q} every day.",
    "Prices may change without notice. Terms apply.",
    "Gift cards for every friend, from two coins.",
    "Pay with one coin now and the rest next month.",
    "Join our {g} club and get a present with every order.",
    "Returns are free within ten days.",
};
#define N_ADVERT ((int)(sizeof k_advert / sizeof k_advert[0]))

/* A page holding one genre document (clean, mixed, truncated or decoy). */
static sa_status genre_page(dw *w, page *pg, int g, sa_demo_page_kind kind, int n) {
    sa_demo_task t;
    int e = 0;
    sa_status s = sa_dw_draw_task(w, g, false, &t, &e);
    dw_ctx c = sa_dw_make_ctx(w, e);
    c.g = sa_demo_genre_name(g);
    pg->kind = kind;
    pg->genre = g;
    page_meta(w, pg, &c, n);
    if (!s) s = chrome_top(w, &c, &pg->text);
    if (!s) s = sa_strbuf_appendf(&pg->text, "# %s\n", pg->title);
    sa_strbuf doc = {0};
    if (!s) s = sa_demo_render(&t, &doc);
    if (!s && kind == SA_DEMO_PAGE_TRUNCATED) {
        /* keep the header line and one or two form lines */
        int keep = 2 + sa_dw_rnd(w, 2);
        size_t cut = 0;
        for (int l = 0; l < keep && cut < doc.len; l++) {
            const char *nl = memchr(doc.buf + cut, '\n', doc.len - cut);
            cut = nl ? (size_t)(nl - doc.buf) + 1 : doc.len;
        }
        if (cut < doc.len) sa_strbuf_truncate(&doc, cut > 0 ? cut - 1 : 0);
    }
    if (!s && kind == SA_DEMO_PAGE_DECOY) {
        /* the opening line, the slogan, three to five advert lines, then the
         * closing line ("That was the {g}.") */
        const char *nl = memchr(doc.buf, '\n', doc.len), *last = NULL;
        for (const char *q = doc.buf; (q = memchr(q, '\n', doc.len - (size_t)(q - doc.buf))) != NULL; q++) last = q + 1;
        char closing[96] = "";
        if (last) snprintf(closing, sizeof closing, "%.*s", (int)(doc.len - (size_t)(last - doc.buf)), last);
        if (nl) sa_strbuf_truncate(&doc, (size_t)(nl - doc.buf));
        s = sa_strbuf_putc(&doc, '\n');
        if (!s) s = sa_dw_put_t(&doc, k_slogan, &c);
        int n_ad = 3 + sa_dw_rnd(w, 3), used[N_ADVERT] = {0};
        for (int i = 0; i < n_ad && !s; i++) {
            int k;
            do k = sa_dw_rnd(w, N_ADVERT);
            while (used[k]);
            used[k] = 1;
            s = sa_strbuf_putc(&doc, '\n');
            if (!s) s = sa_dw_put_t(&doc, k_advert[k], &c);
        }
        if (!s && closing[0]) s = sa_strbuf_putc(&doc, '\n');
        if (!s && closing[0]) s = sa_strbuf_puts(&doc, closing);
    }
    if (!s) s = sa_strbuf_append(&pg->text, doc.buf, doc.len);
    sa_strbuf_free(&doc);
    if (!s) s = sa_strbuf_putc(&pg->text, '\n');
    if (!s && kind == SA_DEMO_PAGE_MIXED) {
        if (sa_dw_rnd(w, 2)) {
            s = sa_strbuf_puts(&pg->text, "\n## Reader notes\n");
        } else {
            s = sa_dw_put_t(&pg->text, "\nShare this {g}: Twitter | Facebook | Email\nPosted in {P} | {k} replies\n", &c);
        }
        if (!s) s = thread(w, &c, c.g, &pg->text);
        if (!s) s = sa_strbuf_putc(&pg->text, '\n');
    }
    if (!s) s = chrome_bottom(w, &c, &pg->text);
    return s;
}

static sa_status other_page(dw *w, page *pg, sa_demo_page_kind kind, int n) {
    int e = sa_dw_rnd(w, w->n_ent);
    dw_ctx c = sa_dw_make_ctx(w, e);
    pg->kind = kind;
    pg->genre = -1;
    page_meta(w, pg, &c, n);
    sa_status s = chrome_top(w, &c, &pg->text);
    if (!s && kind == SA_DEMO_PAGE_THREAD) {
        static const char *const heads[] = {"Talk about {E}", "What people say about {E}", "Letters from {P}"};
        s = sa_strbuf_puts(&pg->text, "# ");
        if (!s) s = sa_dw_put_t(&pg->text, heads[sa_dw_rnd(w, 3)], &c);
        if (!s) s = sa_strbuf_putc(&pg->text, '\n');
        if (!s) s = thread(w, &c, sa_demo_genre_name(sa_dw_rnd(w, SA_DEMO_GENRES)), &pg->text);
        if (!s) s = sa_strbuf_putc(&pg->text, '\n');
    } else if (!s && kind == SA_DEMO_PAGE_ARTICLE) {
        s = sa_strbuf_appendf(&pg->text, "# %s\n", w->ent[e].name);
        if (!s) s = sa_dw_article_text(w, e, 7 + sa_dw_rnd(w, 3), &pg->text);
        if (!s) s = sa_strbuf_putc(&pg->text, '\n');
    } else if (!s && kind == SA_DEMO_PAGE_LINKS) {
        s = sa_strbuf_puts(&pg->text, "# Useful pages\n");
        for (int i = 0; i < 6 && !s; i++)
            s = sa_strbuf_appendf(&pg->text, "[%d] https://%c%d.example/p?id=%d&ref=%d\n", i + 1, 'a' + sa_dw_rnd(w, 26),
                                  sa_dw_rnd(w, 90), 1000 + sa_dw_rnd(w, 9000), sa_dw_rnd(w, 100));
    }
    if (!s) s = chrome_bottom(w, &c, &pg->text);
    return s;
}

/* A copy of src under another URL; near: change one word of the text. */
static sa_status mirror_page(dw *w, page *pg, const page *src, bool near, int n) {
    *pg = (page){{0}, "", "", near ? SA_DEMO_PAGE_NEARDUP : SA_DEMO_PAGE_MIRROR, src->genre};
    memcpy(pg->title, src->title, sizeof pg->title);
    snprintf(pg->url, sizeof pg->url, "https://mirror%d.example/copy/%d", sa_dw_rnd(w, 9), 1000 + n);
    sa_status s = sa_strbuf_append(&pg->text, src->text.buf, src->text.len);
    if (!s && near) {
        /* replace the last item word of the text by another item */
        const char *last = NULL;
        size_t ll = 0;
        for (int i = 0; i < w->n_items; i++) {
            const char *hit = NULL, *p = pg->text.buf;
            size_t il = strlen(w->items[i]);
            while ((p = strstr(p, w->items[i])) != NULL) hit = p, p += il;
            if (hit && (!last || hit > last)) last = hit, ll = il;
        }
        if (last) {
            size_t off = (size_t)(last - pg->text.buf);
            sa_strbuf t = {0};
            s = sa_strbuf_append(&t, pg->text.buf, off);
            if (!s) s = sa_strbuf_puts(&t, w->items[sa_dw_rnd(w, w->n_items)]);
            if (!s) s = sa_strbuf_puts(&t, pg->text.buf + off + ll);
            sa_strbuf_free(&pg->text);
            pg->text = t;
        }
    }
    return s;
}

sa_status sa_dw_write_pages(dw *w, const char *dir, sa_demo_world_stats *st, sa_err *err) {
    const sa_demo_world_opts *o = w->o;
    int nc = o->n_pages_clean, nj = o->n_pages_junk, seen_per = nc / 4 > 0 ? nc / 4 : 1;
    int n_clean = 5 * nc + 5 * seen_per, n_mixed = 2 * nj, n_thread = nj, n_trunc = nj / 2 > 0 ? nj / 2 : 1;
    int n_art = n_trunc, n_mirror = n_trunc, n_near = n_trunc, n_links = n_trunc;
    int nd = o->n_pages_decoy, n_decoy = 5 * nd + 5 * (nd / 4);
    int n = n_clean + n_mixed + n_thread + n_trunc + n_art + n_mirror + n_near + n_links + n_decoy;
    page *pg = calloc((size_t)n, sizeof *pg);
    uint32_t *order = malloc((size_t)n * sizeof *order);
    sa_status s = pg && order ? SA_OK : SA_ERR_NOMEM;
    int k = 0;
    for (int g = 0; g < SA_DEMO_GENRES && !s; g++)
        for (int i = 0; sa_demo_genre_heldout(g) && i < nc && !s; i++, k++)
            s = genre_page(w, &pg[k], g, SA_DEMO_PAGE_CLEAN, k);
    for (int i = 0; i < 5 * seen_per && !s; i++, k++) /* seen genres at random */
        s = genre_page(w, &pg[k], sa_dw_seen_genre(w), SA_DEMO_PAGE_CLEAN, k);
    for (int i = 0; i < n_mixed && !s; i++, k++)
        s = genre_page(w, &pg[k], sa_dw_rnd(w, 5) ? sa_dw_heldout_genre(w) : sa_dw_seen_genre(w), SA_DEMO_PAGE_MIXED, k);
    for (int i = 0; i < n_trunc && !s; i++, k++)
        s = genre_page(w, &pg[k], sa_dw_rnd(w, 5) ? sa_dw_heldout_genre(w) : sa_dw_seen_genre(w), SA_DEMO_PAGE_TRUNCATED, k);
    for (int g = 0; g < SA_DEMO_GENRES && !s; g++)
        for (int i = 0; sa_demo_genre_heldout(g) && i < nd && !s; i++, k++)
            s = genre_page(w, &pg[k], g, SA_DEMO_PAGE_DECOY, k);
    for (int i = 0; i < 5 * (nd / 4) && !s; i++, k++)
        s = genre_page(w, &pg[k], sa_dw_seen_genre(w), SA_DEMO_PAGE_DECOY, k);
    for (int i = 0; i < n_thread && !s; i++, k++) s = other_page(w, &pg[k], SA_DEMO_PAGE_THREAD, k);
    int art0 = k;
    for (int i = 0; i < n_art && !s; i++, k++) s = other_page(w, &pg[k], SA_DEMO_PAGE_ARTICLE, k);
    for (int i = 0; i < n_links && !s; i++, k++) s = other_page(w, &pg[k], SA_DEMO_PAGE_LINKS, k);
    for (int i = 0; i < n_mirror && !s; i++, k++) s = mirror_page(w, &pg[k], &pg[sa_dw_rnd(w, n_clean)], false, k);
    for (int i = 0; i < n_near && !s; i++, k++) s = mirror_page(w, &pg[k], &pg[art0 + i % n_art], true, k);
    for (int i = 0; i < n && !s; i++) order[i] = (uint32_t)i;
    if (!s) sa_rng_shuffle_u32(&w->rng, order, (size_t)n);
    sa_strbuf out = {0}, truth = {0};
    for (int i = 0; i < n && !s; i++) {
        const page *p = &pg[order[i]];
        char id[32];
        snprintf(id, sizeof id, "page-%04d", i + 1);
        s = sa_dw_dump(json_pack("{s:s, s:s, s:s, s:s%}", "id", id, "url", p->url, "title", p->title, "text", p->text.buf,
                           p->text.len),
                 &out, err);
        if (!s)
            s = sa_dw_dump(json_pack("{s:s, s:s, s:o}", "id", id, "kind", sa_demo_page_kind_name(p->kind), "genre",
                               p->genre >= 0 ? json_string(sa_demo_genre_name(p->genre)) : json_null()),
                     &truth, err);
        if (!s) s = sa_dw_add_all(w, p->text.buf, p->text.len);
        st->pages_by_kind[p->kind]++;
    }
    st->pages = n;
    sa_strbuf udir = {0};
    if (!s && (s = sa_path_join(&udir, dir, "unlabeled"))) sa_err_set(err, s, "demo: out of memory");
    if (!s) s = sa_mkdir_p(sa_strbuf_cstr(&udir), 0777, err);
    if (!s) s = sa_dw_write_file(sa_strbuf_cstr(&udir), "pages.jsonl", &out, err);
    if (!s) s = sa_dw_write_file(dir, "pages_truth.jsonl", &truth, err);
    if (s == SA_ERR_NOMEM && !err->msg[0]) sa_err_set(err, s, "demo: out of memory");
    sa_strbuf_free(&udir);
    sa_strbuf_free(&out);
    sa_strbuf_free(&truth);
    for (int i = 0; pg && i < n; i++) sa_strbuf_free(&pg[i].text);
    free(pg);
    free(order);
    return s;
}
