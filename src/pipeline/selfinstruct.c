/* selfinstruct.c — the self-instruct stage: requests, journal replay, the
 * pool, red-teaming and bootstrapping rounds, final files (contract in
 * include/sa/selfinstruct.h; parsing and filters in selfinstruct_parse.c). */
#include "sa/selfinstruct.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sa/alloc.h"
#include "sa/fileio.h"
#include "sa/hash.h"
#include "sa/journal.h"
#include "sa/json.h"
#include "sa/record.h"
#include "sa/rng.h"
#include "sa/signal.h"
#include "sa/strbuf.h"
#include "sa/utf8.h"

#include "stage_util.h"
#include "selfinstruct_internal.h"

#define SI_ID_SEED 0x73656c66696e7374ULL /* "selfinst": request ids differ from other stages' */
#define SI_MAX_K 64

uint64_t sa_si_request_id(const char *journal_id) { return sa_hash_str(journal_id, SI_ID_SEED); }

sa_si_opts sa_si_default_opts(void) {
    sa_si_opts o = {0};
    o.k = 6;
    o.rounds_per_batch = 8;
    o.max_items = 20;
    o.chunk = 32;
    o.topics_per_request = 10;
    o.topic_rounds = 4;
    o.questions_per_topic = 2;
    o.filter.min_words = 4;
    o.filter.max_words = 150;
    o.rouge_threshold = 0.7;
    o.max_tokens = 256;
    o.temperature = 0.7f;
    o.top_p = 0.9f;
    o.stall_rounds = 200;
    return o;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Through float -> shortest text -> double, so 0.7f is written as 0.7. */
static double short_real(float f) {
    char b[32];
    snprintf(b, sizeof b, "%.7g", (double)f);
    return strtod(b, NULL);
}

/* ---- journal contents by id ------------------------------------------------------------- */

static void jmap_free(jmap *m) {
    for (size_t i = 0; i < m->cap; i++) {
        free(m->v[i].id);
        if (m->v[i].rec) json_decref(m->v[i].rec);
    }
    free(m->v);
    memset(m, 0, sizeof *m);
}

static jentry *jmap_slot(const jmap *m, const char *id) {
    size_t i = (size_t)sa_hash_str(id, 0) & (m->cap - 1);
    while (m->v[i].id && strcmp(m->v[i].id, id) != 0) i = (i + 1) & (m->cap - 1);
    return &m->v[i];
}

static const json_t *jmap_get(const jmap *m, const char *id) {
    if (!m->cap) return NULL;
    jentry *e = jmap_slot(m, id);
    return e->id ? e->rec : NULL;
}

/* Takes rec's reference (released when the id is already present). */
static bool jmap_put(jmap *m, const char *id, json_t *rec) {
    if ((m->len + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 64;
        jentry *nv = calloc(nc, sizeof *nv);
        if (!nv) return false;
        jmap n = {nv, nc, m->len};
        for (size_t i = 0; i < m->cap; i++)
            if (m->v[i].id) *jmap_slot(&n, m->v[i].id) = m->v[i];
        free(m->v);
        *m = n;
    }
    jentry *e = jmap_slot(m, id);
    if (e->id) {
        json_decref(rec);
        return true;
    }
    if (!(e->id = sa_strdup(id))) return false;
    e->rec = rec;
    m->len++;
    return true;
}

static sa_status jmap_load(jmap *m, const char *path, sa_err *err) {
    sa_jsonl_reader rd;
    sa_status s = sa_jsonl_reader_open(&rd, path, NULL, err); /* bad lines were reported at journal open */
    if (s) return s;
    json_t *o;
    while ((s = sa_jsonl_next(&rd, &o, NULL, err)) == SA_OK) {
        const char *id = json_string_value(json_object_get(o, "id"));
        if (!id) json_decref(o);
        else if (!jmap_put(m, id, o)) {
            s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
            break;
        }
    }
    sa_jsonl_reader_close(&rd);
    return s == SA_ERR_EOF ? SA_OK : s;
}

static sa_finish_reason finish_from(const char *s) {
    static const sa_finish_reason all[] = {SA_FINISH_EOS, SA_FINISH_STOP, SA_FINISH_LENGTH, SA_FINISH_CONTEXT,
                                           SA_FINISH_ERROR};
    for (size_t i = 0; s && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(s, sa_finish_reason_str(all[i])) == 0) return all[i];
    return SA_FINISH_ERROR;
}

/* ---- the run ---------------------------------------------------------------------------------- */

sa_status si_nomem(sa_err *err) { return sa_err_set(err, SA_ERR_NOMEM, "out of memory"); }

void si_reqs_clear(si_run *r) {
    for (size_t i = 0; i < r->n_reqs; i++) {
        sa_tokens_free(&r->reqs[i].toks);
        free(r->reqs[i].text);
    }
    r->n_reqs = 0;
}

/* A new request: the prompt template rendered into one user message, encoded. */
sa_status si_add_req(si_run *r, const char *jid, const char *tmpl, const char *const *keys,
                         const char *const *vals, size_t n, sa_err *err) {
    if (!sa_grow((void **)&r->reqs, &r->cap_reqs, r->n_reqs + 1, sizeof *r->reqs)) return si_nomem(err);
    req *q = &r->reqs[r->n_reqs];
    memset(q, 0, sizeof *q);
    snprintf(q->jid, sizeof q->jid, "%s", jid);
    sa_strbuf msg = {0};
    sa_status s = sa_prompt_render(tmpl, keys, vals, n, &msg, err);
    if (!s) {
        sa_chat_msg m = {SA_CHAT_ROLE_USER, sa_strbuf_cstr(&msg)};
        s = sa_chat_encode(r->tok, r->t, &m, 1, true, &q->toks, NULL, err);
    }
    sa_strbuf_free(&msg);
    if (s) {
        sa_tokens_free(&q->toks);
        return sa_err_prefix(err, "selfinstruct: request %s: ", jid);
    }
    sa_hash_hex(sa_hash64(q->toks.ids, q->toks.n * sizeof *q->toks.ids, 0), q->phash);
    r->n_reqs++;
    return SA_OK;
}

/* text[0..n) with invalid UTF-8 sequences and NUL bytes replaced by U+FFFD, so the journal
 * (JSON) keeps exactly the text this run classifies. */
static char *clean_text(const char *text, size_t n) {
    sa_strbuf b = {0};
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = text[i] ? sa_utf8_decode(text + i, n - i, &cp) : 0;
        if (sa_strbuf_append(&b, k ? text + i : "\xEF\xBF\xBD", k ? k : 3)) {
            sa_strbuf_free(&b);
            return NULL;
        }
        i += k ? k : 1;
    }
    if (sa_strbuf_reserve(&b, 1)) return NULL;
    return sa_strbuf_detach(&b, NULL);
}

static sa_status on_result(void *ctx, const sa_gen_result *res) {
    si_run *r = ctx;
    req *q = &r->reqs[(uintptr_t)res->user];
    char *text = clean_text(res->text ? res->text : "", res->text ? res->text_len : 0);
    json_t *rec = text ? json_object() : NULL;
    if (!rec) {
        free(text);
        return sa_err_set(&r->cb_err, SA_ERR_NOMEM, "out of memory");
    }
    json_object_set_new(rec, "id", json_string(q->jid));
    json_object_set_new(rec, "text", json_string(text));
    json_object_set_new(rec, "finish", json_string(sa_finish_reason_str(res->finish)));
    json_object_set_new(rec, "prompt", json_string(q->phash));
    json_object_set_new(rec, "tokens", json_integer(res->n_tokens));
    if (res->finish == SA_FINISH_ERROR && res->error) json_object_set_new(rec, "error", json_string(res->error));
    sa_status s = sa_journal_append(&r->j, rec, &r->cb_err);
    json_decref(rec);
    if (s) {
        free(text);
        return s;
    }
    q->text = text;
    q->finish = res->finish;
    q->done = true;
    r->st->generated_now++;
    if (sa_signal_pending()) return sa_signal_check(&r->cb_err);
    return SA_OK;
}

/* Answer every request of the batch: from the journal, else from the engine. */
sa_status si_exec_batch(si_run *r, sa_err *err) {
    if (!sa_grow((void **)&r->greq, &r->cap_greq, r->n_reqs + 1, sizeof *r->greq)) return si_nomem(err);
    sa_gen_request base = sa_gen_request_default();
    base.max_tokens = r->o->max_tokens;
    base.sampling.temperature = r->o->temperature;
    base.sampling.top_p = r->o->top_p;
    base.seed = r->o->seed;
    size_t ng = 0;
    for (size_t i = 0; i < r->n_reqs; i++) {
        req *q = &r->reqs[i];
        const json_t *je = jmap_get(&r->jm, q->jid);
        if (je) {
            const char *ph = json_string_value(json_object_get(je, "prompt"));
            if (!ph || strcmp(ph, q->phash) != 0)
                return sa_err_set(err, SA_ERR_INVALID_ARG,
                                  "%s: journaled request %s was made from another prompt (the seeds, types, prompts "
                                  "or options changed): write to a new --out",
                                  r->j.path, q->jid);
            const char *tx = json_string_value(json_object_get(je, "text"));
            if (!(q->text = sa_strdup(tx ? tx : ""))) return si_nomem(err);
            q->finish = finish_from(json_string_value(json_object_get(je, "finish")));
            q->done = true;
            r->st->replayed++;
            continue;
        }
        sa_gen_request *g = &r->greq[ng++];
        *g = base;
        g->prompt_tokens = q->toks.ids;
        g->n_prompt_tokens = (int32_t)q->toks.n;
        g->id = sa_si_request_id(q->jid);
        g->user = (void *)(uintptr_t)i;
    }
    if (ng) {
        if (sa_signal_pending()) return sa_signal_check(err);
        sa_err_clear(&r->cb_err);
        sa_status s = sa_engine_generate(r->e, r->greq, ng, on_result, r, err);
        if (s && r->cb_err.code) *err = r->cb_err;
        if (s) return s;
    }
    for (size_t i = 0; i < r->n_reqs; i++)
        if (!r->reqs[i].done)
            return sa_err_set(err, SA_ERR_INTERNAL, "selfinstruct: the engine gave no result for %s", r->reqs[i].jid);
    r->st->requests += r->n_reqs;
    return SA_OK;
}

/* ---- candidates ----------------------------------------------------------------------------------- */

static sa_status write_json_line(sa_strbuf *dst, sa_strbuf *line, json_t *v, sa_err *err) {
    sa_strbuf_reset(line);
    sa_status s = sa_json_dump_line(v, line, err);
    if (!s && sa_strbuf_append(dst, line->buf, line->len)) s = si_nomem(err);
    return s;
}

/* Classify one candidate and write it to out or rejected; accepted ones join the pool.
 * forced: a reason decided by the caller (empty output, truncated item) or ACCEPTED. */
static sa_status consider(si_run *r, const char *text, sa_si_reason forced, const char *source, json_t *meta,
                          sa_err *err) {
    const sa_si_opts *o = r->o;
    const char *word = NULL;
    double best = 0;
    int64_t at = -1;
    sa_si_reason why = forced != SA_SI_ACCEPTED ? forced : sa_si_filter(&o->filter, text, &word);
    if (why == SA_SI_ACCEPTED) {
        bool found = false;
        sa_status s = sa_rouge_pool_max(r->rp, text, o->rouge_threshold, &best, &at, &found, err);
        if (s) return s;
        if (found && best > o->rouge_threshold) why = SA_SI_NEAR_DUPLICATE;
    }
    r->st->generated++;
    r->st->by_reason[why]++;
    json_t *rec = json_object();
    if (!rec) return si_nomem(err);
    sa_status s = SA_OK;
    if (why == SA_SI_ACCEPTED) {
        sa_record tmp;
        sa_record_init(&tmp);
        tmp.instruction = (char *)text;
        char id[17];
        sa_record_compute_id(&tmp, id);
        if (!id[0]) s = si_nomem(err);
        json_object_set_new(rec, "id", json_string(id));
        json_object_set_new(rec, "instruction", json_string(text));
        json_object_set_new(rec, "source", json_string(source));
        json_object_set(rec, "meta", meta);
        if (!s && (!sa_grow((void **)&r->pool, &r->cap_pool, r->n_pool + 1, sizeof *r->pool) ||
                   !(r->pool[r->n_pool] = sa_strdup(text))))
            s = si_nomem(err);
        if (!s) r->n_pool++;
        if (!s) s = sa_rouge_pool_add(r->rp, text, NULL, err);
        if (!s) s = write_json_line(&r->out, &r->line, rec, err);
        if (!s) {
            if (strcmp(source, "red_team") == 0) r->st->accepted_red_team++;
            else r->st->accepted_self_instruct++;
            if (r->st->by_reason[SA_SI_ACCEPTED] >= o->target) r->done = true;
        }
    } else {
        json_object_set_new(rec, "reason", json_string(sa_si_reason_name(why)));
        json_object_set_new(rec, "text", json_string(text));
        json_object_set_new(rec, "source", json_string(source));
        json_object_set(rec, "meta", meta);
        if (why == SA_SI_NEAR_DUPLICATE && at >= 0) {
            json_object_set_new(rec, "similar_to", json_string(r->pool[at]));
            json_object_set_new(rec, "rouge_l", json_real(best));
        }
        if (why == SA_SI_BLACKLIST && word) json_object_set_new(rec, "word", json_string(word));
        s = write_json_line(&r->rej, &r->line, rec, err);
    }
    json_decref(rec);
    return s;
}

/* The candidates of one output: its first `take` list items (0 = all). */
sa_status si_consider_output(si_run *r, const req *q, size_t max_items, size_t take, const char *source,
                                 json_t *meta, sa_err *err) {
    if (q->finish == SA_FINISH_ERROR) {
        r->st->failed_requests++;
        return SA_OK;
    }
    sa_si_list l = {0};
    sa_status s = sa_si_parse_list(q->text, max_items, &l, err);
    if (s) return s;
    size_t n = take && take < l.n ? take : l.n;
    bool cut = q->finish == SA_FINISH_LENGTH || q->finish == SA_FINISH_CONTEXT;
    if (l.n == 0 && !r->done) s = consider(r, q->text, SA_SI_EMPTY, source, meta, err);
    for (size_t i = 0; i < n && !s && !r->done; i++) {
        sa_si_reason forced = (cut && l.ran_to_end && i == l.n - 1) ? SA_SI_TRUNCATED : SA_SI_ACCEPTED;
        if (l.items[i][0] == 0) forced = SA_SI_EMPTY;
        s = consider(r, l.items[i], forced, source, meta, err);
    }
    sa_si_list_free(&l);
    return s;
}

json_t *si_base_meta(const sa_si_opts *o) {
    json_t *m = json_object();
    if (!m) return NULL;
    json_object_set_new(m, "model", json_string(o->model_name ? o->model_name : ""));
    json_object_set_new(m, "seed", json_integer((json_int_t)o->seed));
    return m;
}

void si_report(si_run *r, const char *what) {
    if (!r->o->progress || now_s() - r->last_report < 5) return;
    r->last_report = now_s();
    fprintf(r->o->progress, "selfinstruct: %s: %llu accepted of %llu, %llu candidates, %llu requests\n", what,
            (unsigned long long)r->st->by_reason[SA_SI_ACCEPTED], (unsigned long long)r->o->target,
            (unsigned long long)r->st->generated, (unsigned long long)r->st->requests);
}

/* ---- bootstrapping rounds ------------------------------------------------------------------------------ */

/* One line per instruction: white-space runs become one space. */
sa_status si_put_one_line(sa_strbuf *b, const char *s) {
    bool sp = false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
            sp = true;
            continue;
        }
        if (sp && b->len && b->buf[b->len - 1] != ' ' && b->buf[b->len - 1] != '\n' && sa_strbuf_putc(b, ' '))
            return SA_ERR_NOMEM;
        sp = false;
        if (sa_strbuf_putc(b, (char)c)) return SA_ERR_NOMEM;
    }
    return SA_OK;
}

static bool picked(const size_t *v, size_t n, size_t x) {
    for (size_t i = 0; i < n; i++)
        if (v[i] == x) return true;
    return false;
}

/* The prompt of round `round`, sampling the first `snap` pool members. */
static sa_status round_req(si_run *r, uint64_t round, size_t snap, sa_err *err) {
    char jid[64];
    snprintf(jid, sizeof jid, "si:%llu", (unsigned long long)round);
    sa_rng rng;
    sa_rng_split(&rng, r->o->seed, sa_si_request_id(jid));
    size_t k = r->o->k, n_seed = r->n_seed, n_gen = snap - n_seed;
    size_t machine = k / 3 < n_gen ? k / 3 : n_gen;
    size_t human = k - machine < n_seed ? k - machine : n_seed;
    if (human + machine < k) machine = k - human < n_gen ? k - human : n_gen;
    size_t idx[SI_MAX_K], n = 0;
    while (n < human) {
        size_t x = (size_t)sa_rng_below(&rng, n_seed);
        if (!picked(idx, n, x)) idx[n++] = x;
    }
    while (n < human + machine) {
        size_t x = n_seed + (size_t)sa_rng_below(&rng, n_gen);
        if (!picked(idx, n, x)) idx[n++] = x;
    }
    for (size_t i = n; i > 1; i--) { /* shuffle: seeds and generated ones mixed */
        size_t j = (size_t)sa_rng_below(&rng, i);
        size_t tmp = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = tmp;
    }
    sa_strbuf tasks = {0};
    sa_status s = SA_OK;
    for (size_t i = 0; i < n && !s; i++)
        if (sa_strbuf_appendf(&tasks, "%s%zu. ", i ? "\n" : "", i + 1) || si_put_one_line(&tasks, r->pool[idx[i]]))
            s = si_nomem(err);
    char next[24];
    snprintf(next, sizeof next, "%zu", n + 1);
    const char *keys[] = {"tasks", "next"}, *vals[] = {sa_strbuf_cstr(&tasks), next};
    if (!s) s = si_add_req(r, jid, r->p_si, keys, vals, 2, err);
    sa_strbuf_free(&tasks);
    return s;
}

static sa_status bootstrap(si_run *r, sa_err *err) {
    const sa_si_opts *o = r->o;
    uint64_t round = 0, idle = 0;
    sa_status s = SA_OK;
    while (!s) {
        if (r->done) {
            snprintf(r->st->stop_reason, sizeof r->st->stop_reason, "target");
            break;
        }
        if (o->max_rounds && round >= o->max_rounds) {
            snprintf(r->st->stop_reason, sizeof r->st->stop_reason, "max_rounds");
            break;
        }
        if (o->stall_rounds && idle >= o->stall_rounds) {
            snprintf(r->st->stop_reason, sizeof r->st->stop_reason, "stalled");
            break;
        }
        uint64_t nb = o->rounds_per_batch;
        if (o->max_rounds && round + nb > o->max_rounds) nb = o->max_rounds - round;
        size_t snap = r->n_pool;
        si_reqs_clear(r);
        for (uint64_t i = 0; i < nb && !s; i++) s = round_req(r, round + i, snap, err);
        if (!s) s = si_exec_batch(r, err);
        for (uint64_t i = 0; i < nb && !s && !r->done; i++) {
            json_t *meta = si_base_meta(o);
            if (!meta) return si_nomem(err);
            json_object_set_new(meta, "round", json_integer((json_int_t)(round + i)));
            uint64_t before = r->st->by_reason[SA_SI_ACCEPTED];
            s = si_consider_output(r, &r->reqs[i], o->max_items, 0, "self_instruct", meta, err);
            json_decref(meta);
            r->st->rounds++;
            idle = r->st->by_reason[SA_SI_ACCEPTED] > before ? 0 : idle + 1;
        }
        round += nb;
        si_report(r, "self-instruct");
    }
    si_reqs_clear(r);
    return s;
}

/* ---- files ------------------------------------------------------------------------------------------ */

static sa_status hash_file(const char *path, char out[17], sa_err *err) {
    sa_strbuf b = {0};
    sa_status s = sa_file_read_strbuf(path, &b, err);
    if (!s) sa_hash_hex(sa_hash64(b.buf ? b.buf : "", b.len, 0), out);
    sa_strbuf_free(&b);
    return s;
}

/* Everything the journaled results and their replay depend on. */
static json_t *settings_json(const si_run *r, const char *seed_hash, const char *types_hash) {
    const sa_si_opts *o = r->o;
    json_t *bl = json_array();
    size_t nb;
    const char *const *b = sa_si_default_blacklist(&nb);
    if (o->filter.blacklist) b = o->filter.blacklist, nb = o->filter.n_blacklist;
    for (size_t i = 0; bl && i < nb; i++) json_array_append_new(bl, json_string(b[i] ? b[i] : ""));
    char ph[17];
    sa_hash_state hs;
    if (sa_hash_state_init(&hs, 0) != 0) {
        json_decref(bl);
        return NULL;
    }
    const char *texts[] = {r->p_si, r->p_topics, r->p_questions};
    for (int i = 0; i < 3; i++) sa_hash_state_update(&hs, texts[i], strlen(texts[i]) + 1);
    sa_hash_hex(sa_hash_state_digest(&hs), ph);
    sa_hash_state_free(&hs);
    json_t *j = json_object();
    if (!j) {
        json_decref(bl);
        return NULL;
    }
    json_object_set_new(j, "model", json_string(o->model_name ? o->model_name : ""));
    json_object_set_new(j, "template", json_string(sa_chat_format_name(r->t->format)));
    json_object_set_new(j, "temperature", json_real(short_real(o->temperature)));
    json_object_set_new(j, "top_p", json_real(short_real(o->top_p)));
    json_object_set_new(j, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(j, "max_tokens", json_integer(o->max_tokens));
    json_object_set_new(j, "k", json_integer(o->k));
    json_object_set_new(j, "rounds_per_batch", json_integer(o->rounds_per_batch));
    json_object_set_new(j, "max_items", json_integer(o->max_items));
    json_object_set_new(j, "chunk", json_integer(o->chunk));
    json_object_set_new(j, "topics_per_type", json_integer(o->topics_per_type));
    json_object_set_new(j, "topics_per_request", json_integer(o->topics_per_request));
    json_object_set_new(j, "topic_rounds", json_integer(o->topic_rounds));
    json_object_set_new(j, "questions_per_topic", json_integer(o->questions_per_topic));
    json_object_set_new(j, "min_words", json_integer(o->filter.min_words));
    json_object_set_new(j, "max_words", json_integer(o->filter.max_words));
    json_object_set_new(j, "blacklist", bl);
    json_object_set_new(j, "rouge_threshold", json_real(o->rouge_threshold));
    json_object_set_new(j, "seed_file", json_string(seed_hash));
    json_object_set_new(j, "types_file", json_string(types_hash));
    json_object_set_new(j, "prompts", json_string(ph));
    return j;
}

static sa_status check_settings(si_run *r, const char *jpath, const char *seed_hash, const char *types_hash,
                                sa_err *err) {
    json_t *j = settings_json(r, seed_hash, types_hash);
    char *now = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    char *spath = sa_stage_path_suffix(jpath, ".settings");
    sa_status s = (!now || !spath) ? si_nomem(err) : SA_OK;
    sa_strbuf saved = {0};
    if (!s && sa_journal_count(&r->j) > 0 && sa_path_exists(spath)) {
        s = sa_file_read_strbuf(spath, &saved, err);
        if (!s && strcmp(sa_strbuf_cstr(&saved), now) != 0)
            s = sa_err_set(err, SA_ERR_INVALID_ARG,
                           "%s: its results were generated with other settings (%.180s; now %.180s): rerun with "
                           "those settings, or write to a new --out",
                           jpath, sa_strbuf_cstr(&saved), now);
    } else if (!s) {
        s = sa_file_write_atomic(spath, now, strlen(now), err);
    }
    sa_strbuf_free(&saved);
    free(now);
    free(spath);
    return s;
}

static sa_status write_stats(const char *path, si_run *r, const char *seed_hash, const char *types_hash,
                             sa_err *err) {
    const sa_si_stats *st = r->st;
    json_t *j = json_object();
    if (!j) return si_nomem(err);
    json_object_set_new(j, "stage", json_string("selfinstruct"));
    json_object_set_new(j, "stop_reason", json_string(st->stop_reason));
    json_object_set_new(j, "target", json_integer((json_int_t)r->o->target));
    json_object_set_new(j, "seeds", json_integer((json_int_t)st->seeds));
    json_object_set_new(j, "seed_bad_lines", json_integer((json_int_t)st->seed_bad_lines));
    json_object_set_new(j, "seed_duplicates", json_integer((json_int_t)st->seed_duplicates));
    json_object_set_new(j, "rounds", json_integer((json_int_t)st->rounds));
    json_object_set_new(j, "requests", json_integer((json_int_t)st->requests));
    json_object_set_new(j, "failed_requests", json_integer((json_int_t)st->failed_requests));
    json_object_set_new(j, "generated", json_integer((json_int_t)st->generated));
    json_object_set_new(j, "accepted", json_integer((json_int_t)st->by_reason[SA_SI_ACCEPTED]));
    json_object_set_new(j, "accepted_self_instruct", json_integer((json_int_t)st->accepted_self_instruct));
    json_object_set_new(j, "accepted_red_team", json_integer((json_int_t)st->accepted_red_team));
    json_t *rej = json_object();
    uint64_t nrej = 0;
    for (int i = 1; i < SA_SI_REASON_COUNT; i++) {
        json_object_set_new(rej, sa_si_reason_name((sa_si_reason)i), json_integer((json_int_t)st->by_reason[i]));
        nrej += st->by_reason[i];
    }
    json_object_set_new(j, "rejected", json_integer((json_int_t)nrej));
    json_object_set_new(j, "rejected_by_reason", rej);
    if (r->o->types_path) {
        json_t *rt = json_object();
        json_object_set_new(rt, "types", json_integer((json_int_t)st->types));
        json_object_set_new(rt, "type_bad_lines", json_integer((json_int_t)st->type_bad_lines));
        json_object_set_new(rt, "topics_per_type", json_integer((json_int_t)st->topics_per_type));
        json_object_set(rt, "topics", r->topic_stats);
        json_object_set_new(j, "red_team", rt);
    }
    json_t *rg = json_object();
    json_object_set_new(rg, "queries", json_integer((json_int_t)st->rouge.queries));
    json_object_set_new(rg, "pairs", json_integer((json_int_t)st->rouge.pairs));
    json_object_set_new(rg, "index_candidates", json_integer((json_int_t)st->rouge.candidates));
    json_object_set_new(rg, "lcs_computed", json_integer((json_int_t)st->rouge.lcs_computed));
    json_object_set_new(rg, "pruned", json_integer((json_int_t)st->rouge.pruned));
    json_object_set_new(j, "rouge_filter", rg);
    json_object_set_new(j, "settings", settings_json(r, seed_hash, types_hash));
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(j);
    if (!text) return sa_err_set(err, SA_ERR_NOMEM, "%s: cannot serialise stats", path);
    size_t n = strlen(text);
    text[n] = '\n'; /* json_dumps's NUL becomes the final newline */
    sa_status s = sa_file_write_atomic(path, text, n + 1, err);
    free(text);
    return s;
}

static void warn_bad(void *ctx, const char *path, uint64_t line, const char *reason) {
    FILE *f = ctx;
    if (f) fprintf(f, "selfalign: warning: %s:%llu: %s (skipped)\n", path, (unsigned long long)line, reason);
}

sa_status sa_si_run(sa_engine *e, const sa_tokenizer *tok, const sa_chat_template *t, const sa_si_opts *o,
                    sa_si_stats *stats, sa_err *err) {
    SA_ASSERT(e && tok && t && o);
    if (!o->seed_path || !o->out_path)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "selfinstruct: seed and output paths are required");
    if (o->target < 1 || o->max_tokens < 1 || o->k < 1 || o->k > SI_MAX_K || o->rounds_per_batch < 1 ||
        !(o->rouge_threshold > 0 && o->rouge_threshold <= 1) || o->questions_per_topic < 1 ||
        o->topics_per_request < 1)
        return sa_err_set(err, SA_ERR_INVALID_ARG,
                          "selfinstruct: invalid options (target %llu >= 1, max_tokens %d >= 1, k %u in 1..%d, "
                          "rounds_per_batch %u >= 1, rouge_threshold %g in (0, 1], questions_per_topic %u >= 1, "
                          "topics_per_request %u >= 1)",
                          (unsigned long long)o->target, o->max_tokens, o->k, SI_MAX_K, o->rounds_per_batch,
                          o->rouge_threshold, o->questions_per_topic, o->topics_per_request);
    sa_si_stats st_local, *st = stats ? stats : &st_local;
    memset(st, 0, sizeof *st);
    double t0 = now_s();
    si_run r = {.o = o, .e = e, .tok = tok, .t = t, .st = st};
    sa_prompts *own_prompts = NULL;
    const sa_prompts *pr = o->prompts;
    sa_si_seeds seeds = {0};
    sa_si_types types = {0};
    char seed_hash[17] = "", types_hash[17] = "";
    char *jpath = o->journal_path ? sa_strdup(o->journal_path) : sa_stage_path_suffix(o->out_path, ".journal");
    char *rpath = o->rejected_path ? sa_strdup(o->rejected_path) : sa_stage_path_suffix(o->out_path, ".rejected.jsonl");
    char *spath = o->stats_path ? sa_strdup(o->stats_path) : sa_stage_stats_beside(o->out_path);
    sa_status s = (!jpath || !rpath || !spath) ? si_nomem(err) : SA_OK;
    if (!s && !pr && !(s = sa_prompts_load(&own_prompts, NULL, err))) pr = own_prompts;
    if (!s) {
        r.p_si = sa_prompts_get(pr, "selfinstruct");
        r.p_topics = sa_prompts_get(pr, "redteam_topics");
        r.p_questions = sa_prompts_get(pr, "redteam_questions");
        if (!r.p_si || !r.p_topics || !r.p_questions)
            s = sa_err_set(err, SA_ERR_NOT_FOUND, "selfinstruct: the prompt set lacks selfinstruct, redteam_topics "
                                                  "or redteam_questions");
    }
    if (!s) s = sa_si_seeds_load(o->seed_path, o->strict, warn_bad, o->progress, &seeds, err);
    if (!s) s = hash_file(o->seed_path, seed_hash, err);
    if (!s && o->types_path) {
        s = sa_si_types_load(o->types_path, o->strict, warn_bad, o->progress, &types, err);
        if (!s) s = hash_file(o->types_path, types_hash, err);
    }
    if (!s) {
        st->seeds = seeds.n;
        st->seed_bad_lines = seeds.bad_lines;
        st->seed_duplicates = seeds.duplicates;
        st->types = types.n;
        st->type_bad_lines = types.bad_lines;
        /* the pool takes the seed strings */
        r.pool = seeds.v;
        r.n_pool = r.n_seed = seeds.n;
        r.cap_pool = seeds.cap;
        seeds.v = NULL;
        seeds.n = seeds.cap = 0;
        s = sa_rouge_pool_new(&r.rp, err);
        for (size_t i = 0; !s && i < r.n_seed; i++) s = sa_rouge_pool_add(r.rp, r.pool[i], NULL, err);
    }
    if (!s && !(r.topic_stats = json_object())) s = si_nomem(err);
    bool opened = false;
    if (!s) {
        sa_journal_opts jo = sa_journal_default_opts();
        jo.on_bad = warn_bad;
        jo.ctx = o->progress;
        s = sa_journal_open(&r.j, jpath, &jo, err);
        opened = !s;
    }
    if (!s) s = check_settings(&r, jpath, seed_hash, types_hash, err);
    if (!s) s = jmap_load(&r.jm, jpath, err);
    r.last_report = now_s();
    if (!s && o->types_path) s = si_red_team(&r, &types, err);
    if (!s) s = bootstrap(&r, err);
    if (r.rp) sa_rouge_pool_get_stats(r.rp, &st->rouge);
    if (opened) {
        sa_err ce = {0};
        sa_status cs = sa_journal_close(&r.j, &ce);
        if (!s && cs) {
            s = cs;
            if (err) *err = ce;
        }
    }
    if (!s) s = sa_file_write_atomic(o->out_path, r.out.buf ? r.out.buf : "", r.out.len, err);
    if (!s) s = sa_file_write_atomic(rpath, r.rej.buf ? r.rej.buf : "", r.rej.len, err);
    if (!s) s = write_stats(spath, &r, seed_hash, types_hash, err);
    st->seconds = now_s() - t0;
    if (!s && o->progress) {
        fprintf(o->progress,
                "selfinstruct: stopped (%s): %llu accepted (%llu self-instruct, %llu red-team) of %llu candidates "
                "from %llu requests (%llu replayed from the journal, %llu generated, %llu failed);",
                st->stop_reason, (unsigned long long)st->by_reason[0], (unsigned long long)st->accepted_self_instruct,
                (unsigned long long)st->accepted_red_team, (unsigned long long)st->generated,
                (unsigned long long)st->requests, (unsigned long long)st->replayed,
                (unsigned long long)st->generated_now, (unsigned long long)st->failed_requests);
        for (int i = 1; i < SA_SI_REASON_COUNT; i++)
            fprintf(o->progress, " %llu %s", (unsigned long long)st->by_reason[i], sa_si_reason_name((sa_si_reason)i));
        fprintf(o->progress, "; ROUGE-L: %llu of %llu comparisons computed; %.1f s\n",
                (unsigned long long)st->rouge.lcs_computed, (unsigned long long)st->rouge.pairs, st->seconds);
    }
    si_reqs_clear(&r);
    free(r.reqs);
    free(r.greq);
    for (size_t i = 0; i < r.n_pool; i++) free(r.pool[i]);
    free(r.pool);
    sa_rouge_pool_free(r.rp);
    jmap_free(&r.jm);
    json_decref(r.topic_stats);
    sa_strbuf_free(&r.out);
    sa_strbuf_free(&r.rej);
    sa_strbuf_free(&r.line);
    sa_si_seeds_free(&seeds);
    sa_si_types_free(&types);
    sa_prompts_free(own_prompts);
    free(jpath);
    free(rpath);
    free(spath);
    return s;
}
