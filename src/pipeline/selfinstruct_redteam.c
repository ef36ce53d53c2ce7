/* selfinstruct_redteam.c — topic-guided red-teaming: per type, the model
 * brainstorms topics (deduplicated and balanced across types), then writes
 * questions per (type, topic) that go through the same filters and pool as
 * self-instruct candidates (contract in include/sa/selfinstruct.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "selfinstruct_internal.h"

/* ---- red-teaming ------------------------------------------------------------------------------------ */

/* "- a\n- b" from strings (at most max), or "(none)". */
static sa_status dash_list(sa_strbuf *b, char *const *v, size_t n, size_t max) {
    sa_strbuf_reset(b);
    for (size_t i = 0; i < n && i < max; i++)
        if (sa_strbuf_puts(b, i ? "\n- " : "- ") || si_put_one_line(b, v[i])) return SA_ERR_NOMEM;
    if (n == 0 && sa_strbuf_puts(b, "(none)")) return SA_ERR_NOMEM;
    return SA_OK;
}

sa_status si_red_team(si_run *r, const sa_si_types *ty, sa_err *err) {
    const sa_si_opts *o = r->o;
    size_t nt = ty->n;
    sa_si_topic_set *sets = sa_calloc(nt, sizeof *sets);
    size_t *base = sa_calloc(nt, sizeof *base), *counts = sa_calloc(nt, sizeof *counts);
    uint64_t *gen = sa_calloc(nt, sizeof *gen);
    sa_strbuf ex = {0}, tops = {0};
    sa_status s = (!sets || !base || !counts || !gen) ? si_nomem(err) : SA_OK;
    size_t inited = 0;
    for (; !s && inited < nt; inited++) {
        s = sa_si_topic_set_init(&sets[inited], o->rouge_threshold, err);
        /* the file's example topics only guard against copies; they are not brainstormed ones */
        for (size_t k = 0; !s && k < ty->v[inited].n_topics; k++) {
            bool added;
            s = sa_si_topic_set_add(&sets[inited], ty->v[inited].topics[k], &added, err);
        }
        if (!s) base[inited] = sets[inited].n;
    }
    uint32_t want = o->topics_per_type, rounds = want ? (o->topic_rounds ? o->topic_rounds : 1) : 1;
    char count[24];
    snprintf(count, sizeof count, "%u", o->topics_per_request);
    for (uint32_t j = 0; j < rounds && !s; j++) {
        si_reqs_clear(r);
        size_t which[4096], nw = 0; /* the types asked in this round (at most 4096 types) */
        for (size_t t = 0; t < nt && t < 4096 && !s; t++) {
            if (j > 0 && sets[t].n - base[t] >= want) continue;
            char jid[64];
            snprintf(jid, sizeof jid, "topics:%zu:%u", t, j);
            if (dash_list(&ex, ty->v[t].examples, ty->v[t].n_examples, 8) ||
                dash_list(&tops, sets[t].v, sets[t].n, 40)) {
                s = si_nomem(err);
                break;
            }
            const char *keys[] = {"type", "description", "examples", "topics", "count"};
            const char *vals[] = {ty->v[t].name, ty->v[t].description, sa_strbuf_cstr(&ex), sa_strbuf_cstr(&tops),
                                  count};
            s = si_add_req(r, jid, r->p_topics, keys, vals, 5, err);
            which[nw++] = t;
        }
        if (s || nw == 0) break;
        s = si_exec_batch(r, err);
        for (size_t i = 0; i < nw && !s; i++) {
            req *q = &r->reqs[i];
            size_t t = which[i];
            if (q->finish == SA_FINISH_ERROR) {
                r->st->failed_requests++;
                continue;
            }
            sa_si_list l = {0};
            s = sa_si_parse_list(q->text, 2 * (size_t)o->topics_per_request, &l, err);
            bool cut = q->finish == SA_FINISH_LENGTH || q->finish == SA_FINISH_CONTEXT;
            for (size_t k = 0; k < l.n && !s; k++) {
                if (cut && l.ran_to_end && k == l.n - 1) continue; /* a cut-off topic */
                bool added;
                gen[t]++;
                s = sa_si_topic_set_add(&sets[t], l.items[k], &added, err);
            }
            sa_si_list_free(&l);
        }
        si_report(r, "topics");
    }
    for (size_t t = 0; t < nt; t++) counts[t] = sets[t].n - base[t];
    size_t bal = s ? 0 : sa_si_balance(counts, nt, want);
    r->st->topics_per_type = bal;
    for (size_t t = 0; t < nt && !s; t++) {
        json_t *ts = json_pack("{s:I, s:I, s:I}", "brainstormed", (json_int_t)gen[t], "distinct",
                               (json_int_t)counts[t], "used", (json_int_t)bal);
        if (!ts || json_object_set_new(r->topic_stats, ty->v[t].name, ts)) s = si_nomem(err);
    }
    /* questions per (type, topic), topic-major */
    char qcount[24];
    snprintf(qcount, sizeof qcount, "%u", o->questions_per_topic);
    size_t total = bal * nt, chunk = o->chunk ? o->chunk : 32;
    for (size_t at = 0; at < total && !s && !r->done; at += chunk) {
        si_reqs_clear(r);
        size_t end = at + chunk < total ? at + chunk : total;
        for (size_t x = at; x < end && !s; x++) {
            size_t i = x / nt, t = x % nt;
            char jid[64];
            snprintf(jid, sizeof jid, "questions:%zu:%zu", t, i);
            if (dash_list(&ex, ty->v[t].examples, ty->v[t].n_examples, 8)) {
                s = si_nomem(err);
                break;
            }
            const char *keys[] = {"type", "description", "examples", "topic", "count"};
            const char *vals[] = {ty->v[t].name, ty->v[t].description, sa_strbuf_cstr(&ex),
                                  sets[t].v[base[t] + i], qcount};
            s = si_add_req(r, jid, r->p_questions, keys, vals, 5, err);
        }
        if (!s) s = si_exec_batch(r, err);
        for (size_t x = at; x < end && !s && !r->done; x++) {
            size_t i = x / nt, t = x % nt;
            json_t *meta = si_base_meta(o);
            if (!meta) {
                s = si_nomem(err);
                break;
            }
            json_object_set_new(meta, "type", json_string(ty->v[t].name));
            json_object_set_new(meta, "topic", json_string(sets[t].v[base[t] + i]));
            s = si_consider_output(r, &r->reqs[x - at], 2 * (size_t)o->questions_per_topic, o->questions_per_topic,
                                "red_team", meta, err);
            json_decref(meta);
        }
        si_report(r, "red-team questions");
    }
    si_reqs_clear(r);
    for (size_t t = 0; t < inited; t++) sa_si_topic_set_free(&sets[t]);
    free(sets);
    free(base);
    free(counts);
    free(gen);
    sa_strbuf_free(&ex);
    sa_strbuf_free(&tops);
    return s;
}

