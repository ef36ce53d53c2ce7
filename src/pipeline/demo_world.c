/* demo_world.c — the demo world generator (demo_world.h).
 *
 * One seeded RNG drives everything in a fixed order, so a seed gives
 * byte-identical files. The evaluation tasks are drawn first and their
 * (genre, entity, items) keys reserved: no seed pair, page or pretraining
 * document uses the same combination. Held-out genres are rendered only
 * into unlabeled pages. */
#include "sa/demo_world.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "sa/fileio.h"
#include "sa/hash.h"
#include "sa/json.h"
#include "sa/prompts.h"
#include "sa/rng.h"

#include "demo_internal.h"


static const char *const k_item_pool[] = {
    "rope",  "lamp",   "bread",  "salt",  "wool",   "honey",  "apples", "cloth", "kettle", "nails",
    "candles", "barley", "cheese", "basket", "needles", "ladder", "copper", "pepper", "blankets", "buckets",
    "hammer", "saddle", "mirror", "flour", "butter", "plums", "onions", "rice", "tea", "soap",
    "boots", "hats", "maps", "ink", "paper", "beans", "eggs", "milk", "fish", "coal"};
#define N_ITEM_POOL ((int)(sizeof k_item_pool / sizeof k_item_pool[0]))

static const char *const k_trades[] = {"miller", "baker", "weaver", "smith", "potter", "fisher",
                                       "tailor", "carter", "brewer", "farmer", "mason", "cooper"};
#define N_TRADES ((int)(sizeof k_trades / sizeof k_trades[0]))

sa_demo_world_opts sa_demo_world_defaults(bool quick) {
    sa_demo_world_opts o;
    memset(&o, 0, sizeof o);
    o.seed = 1;
    o.quick = quick;
    o.n_entities = quick ? 8 : 12;
    o.n_items = quick ? 16 : 24;
    o.n_seed = quick ? 100 : 300;
    o.n_eval_heldout = quick ? 4 : 20;
    o.n_eval_seen = quick ? 2 : 6;
    o.n_pretrain_stories = quick ? 200 : 1500;
    o.n_pages_clean = quick ? 8 : 56;
    o.n_pages_junk = quick ? 5 : 24;
    o.n_pages_decoy = quick ? 10 : 96;
    o.n_transcripts = quick ? 100 : 1000;
    return o;
}

int sa_dw_rnd(dw *w, int n) { return (int)sa_rng_below(&w->rng, (uint64_t)n); }

/* ---- names ---- */

static void make_name(dw *w, char out[16]) {
    static const char *const on[] = {"b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
                                     "br", "dr", "gr", "kr", "tr", "st", "pl", "fl"};
    static const char *const vo[] = {"a", "e", "i", "o", "u", "au", "ei"};
    static const char *const co[] = {"l", "n", "r", "s", "m", "rn", "lk", "nd", "rl", "sk"};
    char b[16];
    if (sa_dw_rnd(w, 2))
        snprintf(b, sizeof b, "%s%s%s", on[sa_dw_rnd(w, 22)], vo[sa_dw_rnd(w, 7)], co[sa_dw_rnd(w, 10)]);
    else
        snprintf(b, sizeof b, "%s%s%s%s", on[sa_dw_rnd(w, 22)], vo[sa_dw_rnd(w, 5)], on[sa_dw_rnd(w, 14)], vo[sa_dw_rnd(w, 5)]);
    b[0] = (char)(b[0] - 'a' + 'A');
    memcpy(out, b, 16);
}

static bool name_taken(const dw *w, const char *s) {
    for (int i = 0; i < w->n_ent; i++)
        if (strcmp(w->ent[i].name, s) == 0) return true;
    for (int i = 0; i < MAX_PLACES; i++)
        if (strcmp(w->places[i], s) == 0) return true;
    return false;
}

static void make_unique(dw *w, char out[16]) {
    char b[16];
    do make_name(w, b);
    while (name_taken(w, b) || strlen(b) < 3);
    memcpy(out, b, 16);
}

/* ---- text templates: {E} entity, {F} its friend, {P} home, {Q} another
 * place, {T} trade, {a} {b} {c} items, {g} genre word, {N} another entity,
 * {k} a small number ---- */

sa_status sa_dw_put_t(sa_strbuf *sb, const char *t, const dw_ctx *c) {
    sa_status s = SA_OK;
    for (const char *p = t; *p && !s; p++) {
        if (p[0] == '{' && p[1] && p[2] == '}') {
            const char *v = NULL;
            char num[16];
            switch (p[1]) {
            case 'E': v = c->E; break;
            case 'F': v = c->F; break;
            case 'P': v = c->P; break;
            case 'Q': v = c->Q; break;
            case 'T': v = c->T; break;
            case 'a': v = c->a; break;
            case 'b': v = c->b; break;
            case 'c': v = c->c; break;
            case 'g': v = c->g; break;
            case 'N': v = c->N; break;
            case 'k': snprintf(num, sizeof num, "%d", c->k); v = num; break;
            default: break;
            }
            s = sa_strbuf_puts(sb, v ? v : "");
            p += 2;
        } else {
            s = sa_strbuf_putc(sb, *p);
        }
    }
    return s;
}

static void pick3(dw *w, int out[3]) {
    out[0] = sa_dw_rnd(w, w->n_items);
    do out[1] = sa_dw_rnd(w, w->n_items);
    while (out[1] == out[0]);
    do out[2] = sa_dw_rnd(w, w->n_items);
    while (out[2] == out[0] || out[2] == out[1]);
}

dw_ctx sa_dw_make_ctx(dw *w, int e) {
    const entity *x = &w->ent[e];
    int it[3];
    pick3(w, it);
    int q = sa_dw_rnd(w, N_PLACES);
    int n = sa_dw_rnd(w, w->n_ent);
    dw_ctx c = {x->name, w->ent[x->friend_].name, w->places[x->home], w->places[q], k_trades[x->trade],
             w->items[it[0]], w->items[it[1]], w->items[it[2]], sa_demo_genre_name(sa_dw_rnd(w, SA_DEMO_GENRES)),
             w->ent[n].name, 2 + sa_dw_rnd(w, 40)};
    return c;
}

/* ---- tasks ---- */

static uint64_t task_key(int g, int e, const int it[SA_DEMO_ITEMS]) {
    uint64_t k = (uint64_t)g * 1000003u + (uint64_t)e;
    for (int i = 0; i < SA_DEMO_ITEMS; i++) k = sa_hash_mix(k, (uint64_t)it[i] + 17);
    return k;
}

static bool reserved(const dw *w, uint64_t k) {
    for (size_t i = 0; i < w->n_reserved; i++)
        if (w->reserved[i] == k) return true;
    return false;
}

static sa_status reserve(dw *w, uint64_t k) {
    if (w->n_reserved == w->cap_reserved) {
        size_t nc = w->cap_reserved ? w->cap_reserved * 2 : 256;
        uint64_t *nv = realloc(w->reserved, nc * sizeof *nv);
        if (!nv) return SA_ERR_NOMEM;
        w->reserved = nv, w->cap_reserved = nc;
    }
    w->reserved[w->n_reserved++] = k;
    return SA_OK;
}

/* A task of genre g whose key is not reserved (reserve it when asked). */
sa_status sa_dw_draw_task(dw *w, int g, bool keep, sa_demo_task *t, int *ent) {
    int e, it[3];
    uint64_t k;
    do {
        e = sa_dw_rnd(w, w->n_ent);
        pick3(w, it);
        k = task_key(g, e, it);
    } while (reserved(w, k));
    memset(t, 0, sizeof *t);
    t->genre = g;
    snprintf(t->entity, sizeof t->entity, "%s", w->ent[e].name);
    for (int i = 0; i < SA_DEMO_ITEMS; i++) snprintf(t->items[i], sizeof t->items[i], "%s", w->items[it[i]]);
    if (ent) *ent = e;
    return keep ? reserve(w, k) : SA_OK;
}

int sa_dw_seen_genre(dw *w) {
    int g;
    do g = sa_dw_rnd(w, SA_DEMO_GENRES);
    while (sa_demo_genre_heldout(g));
    return g;
}

int sa_dw_heldout_genre(dw *w) {
    int g;
    do g = sa_dw_rnd(w, SA_DEMO_GENRES);
    while (!sa_demo_genre_heldout(g));
    return g;
}

/* ---- output helpers ---- */

sa_status sa_dw_add_all(dw *w, const char *s, size_t n) {
    sa_status st = sa_strbuf_append(&w->all, s, n);
    return st ? st : sa_strbuf_putc(&w->all, '\n');
}

sa_status sa_dw_write_file(const char *dir, const char *name, const sa_strbuf *sb, sa_err *err) {
    sa_strbuf p = {0};
    sa_status s = sa_path_join(&p, dir, name);
    if (s) s = sa_err_set(err, s, "demo: out of memory");
    else s = sa_file_write_atomic(sa_strbuf_cstr(&p), sb->buf ? sb->buf : "", sb->len, err);
    sa_strbuf_free(&p);
    return s;
}

/* Append one canonical JSON line made of the object j (stolen). */
sa_status sa_dw_dump(json_t *j, sa_strbuf *out, sa_err *err) {
    if (!j) return sa_err_set(err, SA_ERR_NOMEM, "demo: out of memory");
    sa_status s = sa_json_dump_line(j, out, err);
    json_decref(j);
    return s;
}

/* ---- pretraining text ---- */

static const char *const k_article_sent[] = {
    "{E} is a {T} from {P}.",
    "{E} lives in {P} and works as a {T}.",
    "{E} is a good friend of {F}.",
    "Every morning {E} opens the door of the shop, and in the evening {E} closes it.",
    "At noon {E} eats bread and cheese with {F}.",
    "{E} keeps a ledger and counts every coin twice.",
    "People in {P} still read the old timetable that {E} wrote.",
    "{E} once told {F} a riddle about the {a}.",
    "{E} likes to cook and knows a good recipe with {a}.",
    "{E} put a notice on the door of the market in {Q}.",
    "{E} wanted more {a}, so {E} signed a deal with {F}.",
    "{E} will take the {a} to {Q} and mix it with the {b}.",
    "{F} likes to serve {a} to guests from {Q}.",
    "In {P} one coin buys two {a} or three {b}.",
    "{E} wrote a letter to {F} and a song about {P}.",
    "{E} keeps a diary and a list of everything in the house.",
    "A poster in {Q} says that {E} sells {a}.",
    "When {F} asks what {E} has, the answer is always {a}.",
    "{E} has never been to {Q}, but {F} has.",
    "The {T} of {P} is {E}, and everyone knows it.",
};
#define N_ARTICLE_SENT ((int)(sizeof k_article_sent / sizeof k_article_sent[0]))

static const char *const k_story[] = {
    "{E} went to {Q} with the {a}, the {b} and the {c}. In {Q}, {E} gave the {a} to {F}. Then {E} sold the {b}. "
    "At last {E} kept the {c}.",
    "{F} asked {E} for {a} and {b}. {E} had {a} but no {b}, so {E} gave {F} the {a}.",
    "On the road to {Q}, {E} lost the {a}. {F} found the {a} and brought it back to {E}.",
    "{E} packed three things for {Q}.\nFirst the {a}.\nThen the {b}.\nLast the {c}.\nThe {a}, the {b} and the {c} "
    "were all that {E} needed.",
    "{E} and {N} met in {Q}. {E} had {a}, {N} had {b}. They swapped, and now {E} has {b} and {N} has {a}.",
    "What did {E} buy in {Q}? {E} bought {a}, {b} and {c}, and paid with one coin for the {a}.",
    "The {T} {E} needs {a} every morning, {b} at noon and {c} in the evening.",
};
#define N_STORY ((int)(sizeof k_story / sizeof k_story[0]))

sa_status sa_dw_article_text(dw *w, int e, int n_sent, sa_strbuf *out) {
    sa_status s = SA_OK;
    int used[N_ARTICLE_SENT] = {0};
    for (int i = 0; i < n_sent && !s; i++) {
        int k;
        do k = sa_dw_rnd(w, N_ARTICLE_SENT);
        while (used[k]);
        used[k] = 1;
        dw_ctx c = sa_dw_make_ctx(w, e);
        if (i) s = sa_strbuf_putc(out, ' ');
        if (!s) s = sa_dw_put_t(out, k_article_sent[k], &c);
    }
    return s;
}

static sa_status write_pretrain(dw *w, const char *dir, sa_demo_world_stats *st, sa_err *err) {
    const sa_demo_world_opts *o = w->o;
    int n_articles = w->n_ent * (o->quick ? 4 : 12), n_genre = o->quick ? 100 : 600;
    int n_copy = 2 * o->n_pretrain_stories; /* induction practice: a word list said twice */
    int n_ask = o->n_pretrain_stories; /* copy practice in the instruction's own frame */
    int n = n_articles + o->n_pretrain_stories + n_genre + n_copy + n_ask + o->n_transcripts;
    uint32_t *order = malloc((size_t)n * sizeof *order);
    sa_strbuf *docs = calloc((size_t)n, sizeof *docs);
    sa_strbuf out = {0};
    sa_status s = order && docs ? SA_OK : sa_err_set(err, SA_ERR_NOMEM, "demo: out of memory");
    int d = 0;
    for (int i = 0; i < n_articles && !s; i++, d++) {
        int e = i % w->n_ent;
        s = sa_strbuf_appendf(&docs[d], "# %s\n", w->ent[e].name);
        if (!s) s = sa_dw_article_text(w, e, 5 + sa_dw_rnd(w, 4), &docs[d]);
    }
    for (int i = 0; i < o->n_pretrain_stories && !s; i++, d++) {
        dw_ctx c = sa_dw_make_ctx(w, sa_dw_rnd(w, w->n_ent));
        s = sa_dw_put_t(&docs[d], k_story[sa_dw_rnd(w, N_STORY)], &c);
    }
    for (int i = 0; i < n_genre && !s; i++, d++) {
        sa_demo_task t;
        s = sa_dw_draw_task(w, sa_dw_seen_genre(w), false, &t, NULL);
        if (!s) s = sa_demo_render(&t, &docs[d]);
    }
    /* Copying is what every later step needs (the backward model copies the
     * genre word, entity and item of a page into an instruction; the forward
     * model copies them back), and a small model trained only on the prose
     * above did not learn it (and with one list per story, 3 to 8 words, one
     * seed's base of three never did: it said the first word back again and
     * again). These documents, two per story, say a random run of 3 to 10
     * world words (genre words of every genre included: words, never forms)
     * twice. */
    static const char *const k_again[] = {"Once more: ", "Again: ", "Say it back: "};
    for (int i = 0; i < n_copy && !s; i++, d++) {
        int len = 3 + sa_dw_rnd(w, 8), pick[10];
        sa_strbuf run = {0};
        for (int k = 0; k < len && !s; k++) {
            pick[k] = sa_dw_rnd(w, 4);
            dw_ctx c = sa_dw_make_ctx(w, sa_dw_rnd(w, w->n_ent));
            const char *word = pick[k] == 0 ? c.E : pick[k] == 1 ? c.a : pick[k] == 2 ? c.g : c.Q;
            s = sa_strbuf_appendf(&run, "%s%s", k ? " " : "", word);
        }
        if (!s) s = sa_strbuf_appendf(&docs[d], "Words: %s.\n%s%s.", sa_strbuf_cstr(&run), k_again[sa_dw_rnd(w, 3)],
                                      sa_strbuf_cstr(&run));
        sa_strbuf_free(&run);
    }
    /* The backward model must write "a notice for Borl about rope" for a
     * page that opens "Here is a notice for Borl, all about rope": copy the
     * genre word, the entity and the item into the same slots. The seed only
     * ever shows seen genre words in those slots, so a small model learns to
     * pick among them instead of copying. These stories say such a request
     * in prose and then say it back, with the genre word drawn from EVERY
     * genre (words, never forms: no held-out document is in this text), so
     * the base learns the copy itself. */
    static const char *const k_ask[] = {
        "{E} asked {N} for a {g} about the {a}. So {N} made a {g} for {E} about the {a}, and {E} liked the {g}.",
        "{N} wanted a {g} for {E} about {a}. The next day {F} wrote a {g} for {E} about {a}.",
        "In {Q} someone asked: a {g} for {E} about the {a}? And {N} said: yes, a {g} for {E} about the {a}.",
        "The {T} needs a {g} for {E}, all about {a}. {F} will write the {g} for {E} about {a} tomorrow.",
    };
    for (int i = 0; i < n_ask && !s; i++, d++) {
        dw_ctx c = sa_dw_make_ctx(w, sa_dw_rnd(w, w->n_ent));
        s = sa_dw_put_t(&docs[d], k_ask[sa_dw_rnd(w, 4)], &c);
    }
    /* Helper transcripts, as a web-scale base model has seen chat logs:
     * a request for a SEEN genre, the helper's notes naming the rules of
     * world/prompts/principles.txt, the document, in the markers of
     * Dromedary's exemplars. Without them the base never writes "### Answer:"
     * after the principles prompt (measured: 0 of 301 seed queries). */
    for (int i = 0; i < o->n_transcripts && !s; i++, d++) {
        sa_demo_task t;
        sa_strbuf in = {0}, doc = {0};
        s = sa_dw_draw_task(w, sa_dw_seen_genre(w), false, &t, NULL);
        if (!s) s = sa_demo_instruction(&t, sa_dw_rnd(w, sa_demo_template_count()), &in);
        if (!s) s = sa_demo_render(&t, &doc);
        if (!s)
            s = sa_strbuf_appendf(&docs[d],
                                  "### User:\n%s\n### Internal thoughts:\nBy 1 (form) I write a %s in its layout; by 2 "
                                  "(names) it is for %s, about %s.\n### Answer:\n%s\n### End",
                                  sa_strbuf_cstr(&in), sa_demo_genre_name(t.genre), t.entity, t.items[0],
                                  sa_strbuf_cstr(&doc));
        sa_strbuf_free(&in);
        sa_strbuf_free(&doc);
    }
    for (int i = 0; i < n && !s; i++) order[i] = (uint32_t)i;
    if (!s) sa_rng_shuffle_u32(&w->rng, order, (size_t)n);
    for (int i = 0; i < n && !s; i++) {
        const sa_strbuf *x = &docs[order[i]];
        s = sa_dw_dump(json_pack("{s:s%}", "text", x->buf, x->len), &out, err);
        if (!s) s = sa_dw_add_all(w, x->buf, x->len);
        st->pretrain_bytes += (int64_t)x->len;
    }
    st->pretrain_docs = n;
    if (!s) s = sa_dw_write_file(dir, "pretrain.jsonl", &out, err);
    for (int i = 0; docs && i < n; i++) sa_strbuf_free(&docs[i]);
    free(docs);
    free(order);
    sa_strbuf_free(&out);
    return s;
}

/* ---- seed and evaluation ---- */

static sa_status write_seed(dw *w, const char *dir, sa_demo_world_stats *st, sa_err *err) {
    sa_strbuf out = {0}, in = {0}, ans = {0};
    sa_status s = SA_OK;
    for (int i = 0; i < w->o->n_seed && !s; i++) {
        sa_demo_task t;
        sa_strbuf_reset(&in);
        sa_strbuf_reset(&ans);
        s = sa_dw_draw_task(w, sa_dw_seen_genre(w), false, &t, NULL);
        if (!s) s = sa_demo_instruction(&t, sa_dw_rnd(w, sa_demo_template_count()), &in);
        if (!s) s = sa_demo_render(&t, &ans);
        char id[32];
        snprintf(id, sizeof id, "seed-%04d", i + 1);
        if (!s)
            s = sa_dw_dump(json_pack("{s:s, s:s%, s:s%, s:s}", "id", id, "instruction", in.buf, in.len, "output", ans.buf,
                               ans.len, "source", "seed"),
                     &out, err);
        if (!s) s = sa_dw_add_all(w, in.buf, in.len);
        if (!s) s = sa_dw_add_all(w, ans.buf, ans.len);
    }
    st->seed_pairs = w->o->n_seed;
    if (!s) s = sa_dw_write_file(dir, "seed.jsonl", &out, err);
    if (s == SA_ERR_NOMEM && !err->msg[0]) sa_err_set(err, s, "demo: out of memory");
    sa_strbuf_free(&out);
    sa_strbuf_free(&in);
    sa_strbuf_free(&ans);
    return s;
}

typedef struct evalset {
    sa_demo_task *t;
    int *tmpl;
    size_t n, n_heldout;
} evalset;

static sa_status draw_eval(dw *w, evalset *ev) {
    int nh = w->o->n_eval_heldout, ns = w->o->n_eval_seen;
    ev->n_heldout = (size_t)(5 * nh);
    ev->n = ev->n_heldout + (size_t)(5 * ns);
    ev->t = calloc(ev->n ? ev->n : 1, sizeof *ev->t);
    ev->tmpl = calloc(ev->n ? ev->n : 1, sizeof *ev->tmpl);
    if (!ev->t || !ev->tmpl) return SA_ERR_NOMEM;
    size_t k = 0;
    sa_status s = SA_OK;
    for (int g = 0; g < SA_DEMO_GENRES && !s; g++) {
        if (!sa_demo_genre_heldout(g)) continue;
        for (int i = 0; i < nh && !s; i++, k++) {
            s = sa_dw_draw_task(w, g, true, &ev->t[k], NULL);
            ev->tmpl[k] = sa_dw_rnd(w, sa_demo_template_count());
        }
    }
    /* the seen split: 5 * ns items over the (many) seen genres at random */
    for (int i = 0; i < 5 * ns && !s; i++, k++) {
        s = sa_dw_draw_task(w, sa_dw_seen_genre(w), true, &ev->t[k], NULL);
        ev->tmpl[k] = sa_dw_rnd(w, sa_demo_template_count());
    }
    return s;
}

static sa_status write_eval(dw *w, const char *dir, const evalset *ev, const sa_demo_chance *ch_h,
                            const sa_demo_chance *ch_s, sa_err *err) {
    sa_strbuf out = {0}, in = {0}, ans = {0};
    sa_status s = SA_OK;
    for (size_t i = 0; i < ev->n && !s; i++) {
        const sa_demo_task *t = &ev->t[i];
        bool held = i < ev->n_heldout;
        sa_strbuf_reset(&in);
        sa_strbuf_reset(&ans);
        s = sa_demo_instruction(t, ev->tmpl[i], &in);
        if (!s) s = sa_demo_render(t, &ans);
        char id[48];
        snprintf(id, sizeof id, "eval-%s-%03zu", held ? "heldout" : "seen", held ? i + 1 : i - ev->n_heldout + 1);
        json_t *items = json_array();
        for (int k = 0; k < SA_DEMO_ITEMS; k++) json_array_append_new(items, json_string(t->items[k]));
        if (!s)
            s = sa_dw_dump(json_pack("{s:s, s:s%, s:s%, s:s, s:s, s:s, s:o, s:f}", "id", id, "prompt", in.buf, in.len,
                               "answer", ans.buf, ans.len, "split", held ? "heldout" : "seen", "genre",
                               sa_demo_genre_name(t->genre), "entity", t->entity, "items", items, "chance",
                               held ? ch_h->pass : ch_s->pass),
                     &out, err);
        else json_decref(items);
        if (!s) s = sa_dw_add_all(w, in.buf, in.len);
        if (!s) s = sa_dw_add_all(w, ans.buf, ans.len);
    }
    if (!s) s = sa_dw_write_file(dir, "eval.jsonl", &out, err);
    if (s == SA_ERR_NOMEM && !err->msg[0]) sa_err_set(err, s, "demo: out of memory");
    sa_strbuf_free(&out);
    sa_strbuf_free(&in);
    sa_strbuf_free(&ans);
    return s;
}

/* ---- Dromedary's prompts for this world (world/prompts/) ----
 *
 * The built-in principles and exemplars are English text of 7,000
 * characters: longer than the demo model's context and in words it never
 * saw. These are the same scaffolding (markers, numbered principles named
 * in the thoughts) in the world's language, short enough to leave room for
 * the answer. The exemplars use names and things that are not in the world
 * (Ommo, Quib; pebbles, twine), so the leakage filter can tell a copied
 * exemplar from an answer. */
static const char *const k_prompt_files[][2] = {
    {"principles.txt",
     "A user asks a helper for short documents. Before each answer the helper thinks about these rules.\n"
     "1 (form). Write the kind of document the user asks for, in the layout that kind always has.\n"
     "2 (names). Use exactly the name and the thing the user gives, in their places.\n"
     "3 (brief). End with the closing line of the document and stop.\n"},
    {"principle_exemplars.txt",
     "### User:\nWrite a list for Ommo about pebbles.\n### Internal thoughts:\nBy 1 (form) I write a list in its "
     "layout; by 2 (names) it is for Ommo, about pebbles.\n### Answer:\nHere is a list for Ommo, all about "
     "pebbles.\n- pebbles\n- pebbles for Ommo\n- done\nThat was the list.\n### End\n\n"
     "### User:\nI need a letter for Quib: twine.\n### Internal thoughts:\nBy 1 (form) I write a letter in its "
     "layout; by 2 (names) it is for Quib, about twine.\n### Answer:\nHere is a letter for Quib, all about "
     "twine.\nDear Quib,\nI am sending you the twine.\nFarewell.\nThat was the letter.\n### End\n"},
    {"principle_query.txt", "Now answer the next user in the same way.\n\n### User:\n{{query}}\n"},
    {"verbose_persona.txt",
     "A user asks a helper for a short document. Write it with care, line by line, in the layout it always has.\n\n"
     "{{query}}\n"},
    {"selfinstruct.txt", "Requests people made:\n{{tasks}}\n{{next}}."},
    {"judge_pairwise.txt",
     "A user asked for a document:\n{{question}}\n\nAnswer A:\n{{answer_a}}\n\nAnswer B:\n{{answer_b}}\n\n"
     "Which answer is the document the user asked for, in its layout, with the user's name and thing? The last line "
     "says \"Verdict: A\", \"Verdict: B\" or \"Verdict: tie\".\n"},
};
#define N_PROMPT_FILES ((int)(sizeof k_prompt_files / sizeof k_prompt_files[0]))

static sa_status write_prompts(dw *w, const char *dir, sa_err *err) {
    sa_strbuf pdir = {0}, b = {0};
    sa_status s = sa_path_join(&pdir, dir, "prompts");
    if (s) s = sa_err_set(err, s, "demo: out of memory");
    if (!s) s = sa_mkdir_p(sa_strbuf_cstr(&pdir), 0777, err);
    for (int i = 0; i < N_PROMPT_FILES && !s; i++) {
        sa_strbuf_reset(&b);
        s = sa_strbuf_puts(&b, k_prompt_files[i][1]);
        if (!s) s = sa_dw_write_file(sa_strbuf_cstr(&pdir), k_prompt_files[i][0], &b, err);
        for (int r = 0; r < 4 && !s; r++) s = sa_dw_add_all(w, b.buf, b.len); /* common enough to merge */
    }
    if (s == SA_ERR_NOMEM && !err->msg[0]) sa_err_set(err, s, "demo: out of memory");
    sa_strbuf_free(&pdir);
    sa_strbuf_free(&b);
    return s;
}

/* ---- world.json ---- */

static json_t *chance_json(const sa_demo_chance *c) {
    return json_pack("{s:f, s:f, s:f}", "pass", c->pass, "form", c->form, "content", c->content);
}

static sa_status write_world_json(dw *w, const char *dir, const sa_demo_world_stats *st, const sa_demo_chance *ch_h,
                                  const sa_demo_chance *ch_s, sa_err *err) {
    json_t *j = json_object(), *genres = json_array(), *ents = json_array(), *items = json_array(),
           *places = json_array(), *tmpls = json_array(), *kinds = json_object();
    for (int g = 0; g < SA_DEMO_GENRES; g++) {
        sa_demo_task t = {.genre = g, .entity = "{E}", .items = {"{a}"}};
        sa_strbuf f = {0};
        sa_demo_render(&t, &f);
        json_array_append_new(genres, json_pack("{s:s, s:b, s:s}", "name", sa_demo_genre_name(g), "heldout",
                                                sa_demo_genre_heldout(g), "form", sa_strbuf_cstr(&f)));
        sa_strbuf_free(&f);
    }
    for (int e = 0; e < w->n_ent; e++) {
        const entity *x = &w->ent[e];
        json_array_append_new(
            ents, json_pack("{s:s, s:s, s:s, s:s, s:[s,s,s]}", "name", x->name, "home", w->places[x->home], "trade",
                            k_trades[x->trade], "friend", w->ent[x->friend_].name, "goods", w->items[x->goods[0]],
                            w->items[x->goods[1]], w->items[x->goods[2]]));
    }
    for (int i = 0; i < w->n_items; i++) json_array_append_new(items, json_string(w->items[i]));
    for (int i = 0; i < N_PLACES; i++) json_array_append_new(places, json_string(w->places[i]));
    for (int i = 0; i < sa_demo_template_count(); i++) {
        sa_demo_task t = {.genre = 0, .entity = "{E}", .items = {"{a}"}};
        sa_strbuf f = {0};
        sa_demo_instruction(&t, i, &f);
        json_array_append_new(tmpls, json_string(sa_strbuf_cstr(&f)));
        sa_strbuf_free(&f);
    }
    for (int k = 0; k < SA_DEMO_PAGE_KIND_COUNT; k++)
        json_object_set_new(kinds, sa_demo_page_kind_name((sa_demo_page_kind)k), json_integer(st->pages_by_kind[k]));
    json_object_set_new(j, "seed", json_integer((json_int_t)w->o->seed));
    json_object_set_new(j, "quick", json_boolean(w->o->quick));
    json_object_set_new(
        j, "about",
        json_string("Thirty genres of short document, each a fixed form over words the request names (twenty seen "
                    "genres share the layouts of the five named seen ones). Seen genres are "
                    "in the seed pairs and the pretraining text; held-out genres appear only in the unlabeled pages. "
                    "The held-out evaluation asks for held-out genres with combinations found nowhere else: "
                    "everything an answer needs is in the instruction except the genre's form, which only the "
                    "unlabeled pages show. In templates the genre word stands in for {g} in the first line."));
    json_object_set_new(j, "genres", genres);
    json_object_set_new(j, "entities", ents);
    json_object_set_new(j, "items", items);
    json_object_set_new(j, "places", places);
    json_object_set_new(j, "instruction_templates", tmpls);
    json_object_set_new(
        j, "checker",
        json_string("pass: the answer, ignoring blank lines and white space at line ends, is exactly the genre's "
                    "form with the instruction's entity and items; form: the genre's form with any word in each "
                    "slot; content: fraction of entity and items present as whole words. Chance: the mean score "
                    "of every other eval item's reference answer."));
    json_object_set_new(j, "chance", json_pack("{s:o, s:o}", "heldout", chance_json(ch_h), "seen", chance_json(ch_s)));
    json_object_set_new(
        j, "sizes",
        json_pack("{s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:i}", "pretrain_docs", (json_int_t)st->pretrain_docs,
                  "pretrain_bytes", (json_int_t)st->pretrain_bytes, "pages", (json_int_t)st->pages, "pages_by_kind",
                  kinds, "seed_pairs", (json_int_t)st->seed_pairs, "eval_heldout", (json_int_t)st->eval_heldout,
                  "eval_seen", (json_int_t)st->eval_seen, "vocab_size", st->vocab_size));
    json_object_set_new(j, "files",
                        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "tokenizer", "tokenizer/tokenizer.json",
                                  "pretrain", "pretrain.jsonl", "unlabeled", "unlabeled/pages.jsonl", "truth",
                                  "pages_truth.jsonl", "seed", "seed.jsonl", "eval", "eval.jsonl", "prompts",
                                  "prompts/ (Dromedary's principles, exemplars and persona for this world)"));
    sa_strbuf out = {0};
    sa_status s = sa_json_dump_line(j, &out, err);
    json_decref(j);
    if (!s) s = sa_dw_write_file(dir, "world.json", &out, err);
    sa_strbuf_free(&out);
    return s;
}

/* ---- the world ---- */

sa_status sa_demo_world_write(const sa_demo_world_opts *o, const char *dir, sa_demo_world_stats *st, sa_err *err) {
    if (o->n_entities < 3 || o->n_entities > MAX_ENT || o->n_items < 6 || o->n_items > N_ITEM_POOL ||
        o->n_seed < 1 || o->n_eval_heldout < 1 || o->n_eval_seen < 0 || o->n_pretrain_stories < 0 ||
        o->n_pages_clean < 1 || o->n_pages_junk < 1 || o->n_pages_decoy < 0 || o->n_transcripts < 0)
        return sa_err_set(err, SA_ERR_INVALID_ARG,
                          "demo world: sizes out of range (entities 3..%d, items 6..%d, the rest >= 1)", MAX_ENT,
                          N_ITEM_POOL);
    memset(st, 0, sizeof *st);
    dw w;
    memset(&w, 0, sizeof w);
    w.o = o;
    w.n_items = o->n_items;
    sa_rng_init(&w.rng, o->seed);
    sa_status s = sa_mkdir_p(dir, 0777, err);
    if (s) return s;
    /* entities are named one at a time so make_unique sees the earlier ones */
    for (int i = 0; i < N_PLACES; i++) make_unique(&w, w.places[i]);
    {
        uint32_t perm[N_ITEM_POOL];
        for (int i = 0; i < N_ITEM_POOL; i++) perm[i] = (uint32_t)i;
        sa_rng_shuffle_u32(&w.rng, perm, N_ITEM_POOL);
        for (int i = 0; i < w.n_items; i++) w.items[i] = k_item_pool[perm[i]];
    }
    for (int e = 0; e < o->n_entities; e++) {
        entity *x = &w.ent[e];
        make_unique(&w, x->name);
        w.n_ent = e + 1;
        x->home = sa_dw_rnd(&w, N_PLACES);
        x->trade = sa_dw_rnd(&w, N_TRADES);
        pick3(&w, x->goods);
    }
    for (int e = 0; e < w.n_ent; e++) {
        do w.ent[e].friend_ = sa_dw_rnd(&w, w.n_ent);
        while (w.ent[e].friend_ == e);
    }
    evalset ev = {0};
    sa_demo_chance ch_h = {0}, ch_s = {0};
    s = draw_eval(&w, &ev);
    if (s) sa_err_set(err, s, "demo: out of memory");
    if (!s) s = sa_demo_chance_of(ev.t, ev.n_heldout, &ch_h, err);
    if (!s) s = sa_demo_chance_of(ev.t + ev.n_heldout, ev.n - ev.n_heldout, &ch_s, err);
    st->eval_heldout = (int64_t)ev.n_heldout;
    st->eval_seen = (int64_t)(ev.n - ev.n_heldout);
    st->chance_pass = ch_h.pass, st->chance_form = ch_h.form, st->chance_content = ch_h.content;
    if (!s) s = write_seed(&w, dir, st, err);
    if (!s) s = write_pretrain(&w, dir, st, err);
    if (!s) s = sa_dw_write_pages(&w, dir, st, err);
    if (!s) s = write_eval(&w, dir, &ev, &ch_h, &ch_s, err);
    if (!s) s = write_prompts(&w, dir, err);
    /* the tokenizer also learns the chat roles and the Humpback tag sentences */
    sa_prompts *pr = NULL;
    if (!s) s = sa_prompts_load(&pr, NULL, err);
    for (int r = 0; r < 8 && !s; r++) {
        s = sa_dw_add_all(&w, "system\nuser\nassistant\n", 22);
        const char *tags[] = {"tag_seed", "tag_augmented"};
        for (int k = 0; k < 2 && !s; k++) {
            const char *t = sa_prompts_get(pr, tags[k]);
            if (t) s = sa_dw_add_all(&w, t, strlen(t));
        }
    }
    sa_prompts_free(pr);
    sa_strbuf tdir = {0};
    if (!s && (s = sa_path_join(&tdir, dir, "tokenizer"))) sa_err_set(err, s, "demo: out of memory");
    if (!s) s = sa_demo_bpe_write(w.all.buf, w.all.len, sa_strbuf_cstr(&tdir), 4096, 2, &st->vocab_size, err);
    if (!s) s = write_world_json(&w, dir, st, &ch_h, &ch_s, err);
    if (s == SA_ERR_NOMEM && !err->msg[0]) sa_err_set(err, s, "demo: out of memory");
    sa_strbuf_free(&tdir);
    sa_strbuf_free(&w.all);
    free(ev.t);
    free(ev.tmpl);
    free(w.reserved);
    return s;
}
