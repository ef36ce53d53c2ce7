/* selfinstruct_internal.h — what selfinstruct.c (requests, journal replay,
 * candidates, bootstrapping, files) shares with selfinstruct_redteam.c
 * (topic brainstorming and per-topic questions). Private to src/pipeline/. */
#ifndef SA_SELFINSTRUCT_INTERNAL_H
#define SA_SELFINSTRUCT_INTERNAL_H

#include <jansson.h>

#include "sa/journal.h"
#include "sa/selfinstruct.h"
#include "sa/strbuf.h"

typedef struct jentry {
    char *id;
    json_t *rec;
} jentry;

typedef struct jmap { /* journal contents by id */
    jentry *v;
    size_t cap, len; /* cap: a power of two */
} jmap;

typedef struct req {
    char jid[64];
    sa_tokens toks;
    char phash[17];
    char *text; /* result, owned */
    sa_finish_reason finish;
    bool done;
} req;

typedef struct si_run {
    const sa_si_opts *o;
    sa_engine *e;
    const sa_tokenizer *tok;
    const sa_chat_template *t;
    const char *p_si, *p_topics, *p_questions;
    sa_journal j;
    jmap jm;
    /* the pool: seeds first, then accepted prompts */
    char **pool;
    size_t n_pool, cap_pool, n_seed;
    sa_rouge_pool *rp;
    sa_strbuf out, rej, line;
    sa_si_stats *st;
    sa_err cb_err;
    req *reqs;
    size_t n_reqs, cap_reqs;
    sa_gen_request *greq;
    size_t cap_greq;
    double last_report;
    json_t *topic_stats; /* {type: {...}} */
    bool done;           /* the target is reached */
} si_run;

sa_status si_nomem(sa_err *err);
void si_reqs_clear(si_run *r);
/* Queue a request: tmpl rendered with keys/vals into one user message, encoded. */
sa_status si_add_req(si_run *r, const char *jid, const char *tmpl, const char *const *keys, const char *const *vals,
                     size_t n, sa_err *err);
/* Answer every queued request: from the journal, else from the engine (journaled as each finishes). */
sa_status si_exec_batch(si_run *r, sa_err *err);
/* Classify the first `take` items (0 = all) of a request's output list. */
sa_status si_consider_output(si_run *r, const req *q, size_t max_items, size_t take, const char *source, json_t *meta,
                             sa_err *err);
json_t *si_base_meta(const sa_si_opts *o); /* {model, seed} */
void si_report(si_run *r, const char *what);
sa_status si_put_one_line(sa_strbuf *b, const char *s);
/* Red-teaming: topics per type, balancing, questions per (type, topic). */
sa_status si_red_team(si_run *r, const sa_si_types *ty, sa_err *err);

#endif
