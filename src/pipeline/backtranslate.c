/* backtranslate.c — candidate instructions from the backward model (see
 * include/sa/backtranslate.h for the contract: prompt, filters, files). */
#include "sa/backtranslate.h"

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
#include "sa/shard.h"
#include "sa/signal.h"
#include "sa/strbuf.h"

#include "stage_util.h"

#define BT_ID_SEED 0x6261636b7472616eULL /* "backtran": request ids differ from other stages' */

static const char *const k_reason_names[SA_BT_REASON_COUNT] = {"accepted", "error",    "empty",
                                                               "truncated", "too_long", "copied"};

const char *sa_bt_reason_name(sa_bt_reason r) {
    return (unsigned)r < SA_BT_REASON_COUNT ? k_reason_names[r] : "?";
}

sa_bt_opts sa_bt_default_opts(void) {
    sa_bt_opts o = {0};
    o.max_instruction_chars = 1000;
    o.max_tokens = 128;
    o.temperature = 0.7f;
    o.top_p = 0.9f;
    o.chunk = 64;
    return o;
}

sa_status sa_bt_prompt_ids(const sa_tokenizer *tok, const sa_chat_template *t, const char *segment,
                           sa_tokens *ids, sa_err *err) {
    SA_ASSERT(tok && t && segment && ids);
    sa_chat_msg m = {SA_CHAT_ROLE_USER, segment};
    return sa_chat_encode(tok, t, &m, 1, true, ids, NULL, err);
}

uint64_t sa_bt_request_id(const char *segment_id) { return sa_hash_str(segment_id, BT_ID_SEED); }

/* ---- filters -------------------------------------------------------------------- */

static bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
static bool is_word(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

/* Hashes of the words of s, in order. */
static sa_status word_hashes(const char *s, uint64_t **out, size_t *n, size_t *cap) {
    *n = 0;
    char w[256];
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        if (!is_word(*p)) {
            p++;
            continue;
        }
        /* lower-cased words hashed in 256-byte pieces: no allocation per word */
        size_t len = 0;
        uint64_t h = 0;
        for (; *p && is_word(*p); p++) {
            w[len++] = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
            if (len == sizeof w) {
                h = sa_hash_mix(h, sa_hash64(w, len, 0));
                len = 0;
            }
        }
        if (len) h = sa_hash_mix(h, sa_hash64(w, len, 0));
        if (!sa_grow((void **)out, cap, *n + 1, sizeof **out)) return SA_ERR_NOMEM;
        (*out)[(*n)++] = h;
    }
    return SA_OK;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Word 3-gram hashes of words[0..n), sorted and deduplicated in place into
 * words' own storage (there are n - 2 of them before dedup). */
static size_t trigrams(uint64_t *w, size_t n) {
    if (n < 3) return 0;
    size_t m = n - 2;
    for (size_t i = 0; i < m; i++) w[i] = sa_hash_mix(sa_hash_mix(w[i], w[i + 1]), w[i + 2]);
    qsort(w, m, sizeof *w, cmp_u64);
    size_t k = 0;
    for (size_t i = 0; i < m; i++)
        if (k == 0 || w[k - 1] != w[i]) w[k++] = w[i];
    return k;
}

double sa_bt_trigram_overlap(const char *instruction, const char *segment) {
    uint64_t *a = NULL, *b = NULL;
    size_t na = 0, ca = 0, nb = 0, cb = 0;
    double r = -1;
    if (word_hashes(instruction, &a, &na, &ca) || word_hashes(segment, &b, &nb, &cb)) goto done;
    size_t ta = trigrams(a, na), tb = trigrams(b, nb);
    if (ta == 0) goto done;
    size_t hit = 0;
    for (size_t i = 0; i < ta; i++)
        if (tb && bsearch(&a[i], b, tb, sizeof *b, cmp_u64)) hit++;
    r = (double)hit / (double)ta;
done:
    free(a);
    free(b);
    return r;
}

sa_bt_reason sa_bt_classify(const char *text, sa_finish_reason finish, const char *segment, uint32_t max_chars,
                            const char **trimmed, size_t *trimmed_len) {
    const char *b = text ? text : "";
    size_t n = strlen(b);
    while (n && is_space((unsigned char)*b)) b++, n--;
    while (n && is_space((unsigned char)b[n - 1])) n--;
    if (trimmed) *trimmed = b;
    if (trimmed_len) *trimmed_len = n;
    if (finish == SA_FINISH_ERROR) return SA_BT_ERROR;
    if (n == 0) return SA_BT_EMPTY;
    if (finish == SA_FINISH_LENGTH || finish == SA_FINISH_CONTEXT) return SA_BT_TRUNCATED;
    size_t cps = 0;
    for (size_t i = 0; i < n; i++) cps += ((unsigned char)b[i] & 0xC0) != 0x80;
    if (cps > max_chars) return SA_BT_TOO_LONG;
    char *copy = malloc(n + 1);
    if (!copy) return SA_BT_ERROR;
    memcpy(copy, b, n);
    copy[n] = 0;
    bool copied = strstr(segment, copy) != NULL;
    if (!copied) copied = sa_bt_trigram_overlap(copy, segment) >= 0.8;
    free(copy);
    return copied ? SA_BT_COPIED : SA_BT_ACCEPTED;
}

/* ---- a string-keyed table (ids seen, journal records) ----------------------------- */

/* ---- reading segments -------------------------------------------------------------- */

typedef struct seg_reader {
    sa_jsonl_reader rd;
    const char *path;
    bool strict;
    sa_idmap seen;
    uint64_t bad; /* lines rejected here (the jsonl reader counts its own) */
    FILE *warn;
} seg_reader;

static void on_bad_line(void *ctx, const char *path, uint64_t line, const char *reason) {
    FILE *f = ctx;
    if (f) fprintf(f, "selfalign: warning: %s:%llu: %s (skipped)\n", path, (unsigned long long)line, reason);
}

static sa_status seg_open(seg_reader *s, const char *path, bool strict, FILE *warn, sa_err *err) {
    memset(s, 0, sizeof *s);
    s->path = path;
    s->strict = strict;
    s->warn = warn;
    sa_jsonl_opts ro = {.policy = strict ? SA_JSONL_FAIL : SA_JSONL_SKIP, .on_bad = on_bad_line, .ctx = warn};
    return sa_jsonl_reader_open(&s->rd, path, &ro, err);
}

static void seg_close(seg_reader *s) {
    sa_jsonl_reader_close(&s->rd);
    sa_idmap_free(&s->seen);
}

static uint64_t seg_bad(const seg_reader *s) { return s->bad + sa_jsonl_stats_bad(&s->rd.stats); }

/* Next valid, first-seen segment: *obj (new reference), id in idbuf or
 * borrowed from obj, text borrowed from obj. SA_ERR_EOF at the end. */
static sa_status seg_next(seg_reader *s, json_t **obj, const char **id, const char **text, char *idbuf,
                          size_t idcap, sa_err *err) {
    for (;;) {
        json_t *o;
        uint64_t line;
        sa_status st = sa_jsonl_next(&s->rd, &o, &line, err);
        if (st) return st;
        const char *why = NULL;
        json_t *jid = json_object_get(o, "id");
        const char *sid = json_string_value(jid);
        if (!sid && json_is_integer(jid)) {
            snprintf(idbuf, idcap, "%lld", (long long)json_integer_value(jid));
            sid = idbuf;
        }
        const char *t = json_string_value(json_object_get(o, "text"));
        if (!sid || !*sid) why = "no string or integer \"id\"";
        else if (!t) why = "no string \"text\"";
        else {
            const char *p = t;
            while (*p && is_space((unsigned char)*p)) p++;
            if (!*p) why = "blank \"text\"";
        }
        if (!why) {
            bool added;
            if (sa_idmap_put(&s->seen, sid, NULL, &added)) {
                json_decref(o);
                return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
            }
            if (!added) why = "repeated segment id";
        }
        if (!why) {
            *obj = o, *id = sid, *text = t;
            return SA_OK;
        }
        s->bad++;
        if (s->warn)
            fprintf(s->warn, "selfalign: warning: %s:%llu: %s (skipped)\n", s->path, (unsigned long long)line, why);
        json_decref(o);
        if (s->strict) return sa_err_set(err, SA_ERR_FORMAT, "%s:%llu: %s", s->path, (unsigned long long)line, why);
    }
}

/* ---- generation ---------------------------------------------------------------------- */

typedef struct bt_run {
    const sa_bt_opts *o;
    sa_shard j;
    char **ids;          /* per request of the current chunk */
    uint64_t generated, tokens;
    sa_err err;
} bt_run;

static sa_status journal_result(bt_run *r, const char *id, const char *text, size_t len, sa_finish_reason fin,
                                const char *error, int32_t n_tokens) {
    json_t *o = json_object();
    json_t *jt = json_stringn(text ? text : "", text ? len : 0);
    if (!jt) { /* the model produced bytes that are not UTF-8: keep the fact, not the bytes */
        jt = json_string("");
        fin = SA_FINISH_ERROR;
        error = "generated text is not valid UTF-8";
    }
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "text", jt);
    json_object_set_new(o, "finish", json_string(sa_finish_reason_str(fin)));
    if (error) json_object_set_new(o, "error", json_string(error));
    json_object_set_new(o, "n_tokens", json_integer(n_tokens));
    sa_status s = sa_shard_append(&r->j, o, &r->err);
    json_decref(o);
    if (!s) r->generated++, r->tokens += (uint64_t)(n_tokens > 0 ? n_tokens : 0);
    return s;
}

static sa_status on_result(void *p, const sa_gen_result *res) {
    bt_run *r = p;
    size_t i = (size_t)(uintptr_t)res->user;
    sa_status s = journal_result(r, r->ids[i], res->text, res->text_len, res->finish, res->error, res->n_tokens);
    if (!s && sa_signal_pending()) s = sa_signal_check(&r->err);
    return s;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static sa_status generate_all(sa_engine *e, const sa_tokenizer *tok, const sa_chat_template *t, bt_run *r,
                              sa_bt_stats *st, sa_err *err) {
    const sa_bt_opts *o = r->o;
    seg_reader sr;
    FILE *say = r->j.rank == 0 ? o->progress : NULL; /* every rank reads the input: rank 0 reports it */
    sa_status s = seg_open(&sr, o->in_path, o->strict, say, err);
    if (s) return s;
    size_t chunk = o->chunk ? o->chunk : 64;
    sa_gen_request *reqs = calloc(chunk, sizeof *reqs);
    sa_tokens *toks = calloc(chunk, sizeof *toks);
    r->ids = calloc(chunk, sizeof *r->ids);
    if (!reqs || !toks || !r->ids) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    sa_gen_request base = sa_gen_request_default();
    base.max_tokens = o->max_tokens;
    base.sampling.temperature = o->temperature;
    base.sampling.top_p = o->top_p;
    base.seed = o->seed;
    bool eof = false;
    double last_report = now_s();
    while (!s && !eof) {
        size_t n = 0;
        while (!s && n < chunk) {
            json_t *obj;
            const char *id, *text;
            char idbuf[32];
            s = seg_next(&sr, &obj, &id, &text, idbuf, sizeof idbuf, err);
            if (s == SA_ERR_EOF) {
                s = SA_OK;
                eof = true;
                break;
            }
            if (s) break;
            st->segments++;
            if (!sa_shard_mine(&r->j, id) || sa_shard_has(&r->j, id)) { /* another rank's, or done */
                json_decref(obj);
                continue;
            }
            sa_err pe = {0};
            toks[n].n = 0;
            if (sa_bt_prompt_ids(tok, t, text, &toks[n], &pe)) {
                /* a prompt that cannot be built is this segment's outcome, not the run's */
                s = journal_result(r, id, "", 0, SA_FINISH_ERROR, pe.msg, 0);
                if (s) *err = r->err;
                json_decref(obj);
                continue;
            }
            reqs[n] = base;
            reqs[n].prompt_tokens = toks[n].ids;
            reqs[n].n_prompt_tokens = (int32_t)toks[n].n;
            reqs[n].id = sa_bt_request_id(id);
            reqs[n].user = (void *)(uintptr_t)n;
            r->ids[n] = sa_strdup(id);
            json_decref(obj);
            if (!r->ids[n]) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
            else n++;
        }
        if (!s && sa_signal_pending()) s = sa_signal_check(err);
        if (!s && n) {
            s = sa_engine_generate(e, reqs, n, on_result, r, err);
            if (s && r->err.code) *err = r->err;
        }
        for (size_t i = 0; i < n; i++) {
            free(r->ids[i]);
            r->ids[i] = NULL;
        }
        if (say && n && !s && now_s() - last_report >= 5) {
            last_report = now_s();
            fprintf(say, "backtranslate: %llu segments read, %llu generated this run\n",
                    (unsigned long long)st->segments, (unsigned long long)r->generated);
        }
    }
    st->bad_lines = seg_bad(&sr);
    for (size_t i = 0; toks && i < chunk; i++) sa_tokens_free(&toks[i]);
    free(toks);
    free(reqs);
    free(r->ids);
    r->ids = NULL;
    seg_close(&sr);
    return s;
}

/* ---- final files ---------------------------------------------------------------------- */

static sa_status load_journal(const char *path, sa_idmap *m, sa_err *err) {
    sa_jsonl_reader rd;
    sa_status s = sa_jsonl_reader_open(&rd, path, NULL, err);
    if (s) return s;
    json_t *o;
    while ((s = sa_jsonl_next(&rd, &o, NULL, err)) == SA_OK) {
        const char *id = json_string_value(json_object_get(o, "id"));
        bool added = false;
        if (id && (s = sa_idmap_put(m, id, o, &added)) != SA_OK) {
            json_decref(o);
            s = sa_err_set(err, s, "out of memory");
            break;
        }
        if (!added) json_decref(o);
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

static sa_status write_line(sa_atomic_file *af, json_t *v, sa_strbuf *line, sa_err *err) {
    sa_strbuf_reset(line);
    sa_status s = sa_json_dump_line(v, line, err);
    if (!s) s = sa_atomic_write(af, line->buf, line->len, err);
    return s;
}

/* Through float -> shortest text -> double, so 0.7f is written as 0.7. */
static double short_real(float f) {
    char b[32];
    snprintf(b, sizeof b, "%.7g", (double)f);
    return strtod(b, NULL);
}

static sa_status accepted_record(const sa_bt_opts *o, const char *id, json_t *seg, const char *instr, size_t len,
                                 const char *text, json_t **out, sa_err *err) {
    sa_record rec;
    sa_record_init(&rec);
    rec.instruction = malloc(len + 1);
    rec.output = sa_strdup(text);
    rec.source = sa_strdup("augmented");
    rec.meta = json_object();
    if (!rec.instruction || !rec.output || !rec.source || !rec.meta) {
        sa_record_free(&rec);
        return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    }
    memcpy(rec.instruction, instr, len);
    rec.instruction[len] = 0;
    json_object_set_new(rec.meta, "segment_id", json_string(id));
    json_t *doc = json_object_get(seg, "doc");
    if (doc) json_object_set(rec.meta, "doc", doc);
    json_object_set_new(rec.meta, "model", json_string(o->model_name ? o->model_name : ""));
    json_object_set_new(rec.meta, "temperature", json_real(short_real(o->temperature)));
    json_object_set_new(rec.meta, "top_p", json_real(short_real(o->top_p)));
    json_object_set_new(rec.meta, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(rec.meta, "max_tokens", json_integer(o->max_tokens));
    sa_status s = sa_record_to_json(&rec, out, err);
    sa_record_free(&rec);
    return s;
}

static sa_status write_stats(const char *path, const sa_bt_opts *o, const sa_bt_stats *st, sa_err *err) {
    json_t *j = json_object();
    json_object_set_new(j, "stage", json_string("backtranslate"));
    json_object_set_new(j, "segments", json_integer((json_int_t)st->segments));
    json_object_set_new(j, "bad_lines", json_integer((json_int_t)st->bad_lines));
    json_object_set_new(j, "accepted", json_integer((json_int_t)st->by_reason[SA_BT_ACCEPTED]));
    json_t *rej = json_object();
    uint64_t nrej = 0;
    for (int r = 1; r < SA_BT_REASON_COUNT; r++) {
        json_object_set_new(rej, k_reason_names[r], json_integer((json_int_t)st->by_reason[r]));
        nrej += st->by_reason[r];
    }
    json_object_set_new(j, "rejected", json_integer((json_int_t)nrej));
    json_object_set_new(j, "rejected_by_reason", rej);
    json_object_set_new(j, "resumed", json_integer((json_int_t)st->resumed));
    json_object_set_new(j, "generated_this_run", json_integer((json_int_t)st->generated));
    json_object_set_new(j, "generated_tokens_this_run", json_integer((json_int_t)st->gen_tokens));
    json_object_set_new(j, "generation_seconds", json_real(st->gen_seconds));
    json_object_set_new(j, "pairs_per_s", json_real(st->pairs_per_s));
    json_t *set = json_object();
    json_object_set_new(set, "model", json_string(o->model_name ? o->model_name : ""));
    json_object_set_new(set, "temperature", json_real(short_real(o->temperature)));
    json_object_set_new(set, "top_p", json_real(short_real(o->top_p)));
    json_object_set_new(set, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(set, "max_tokens", json_integer(o->max_tokens));
    json_object_set_new(set, "max_instruction_chars", json_integer(o->max_instruction_chars));
    json_object_set_new(j, "settings", set);
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(j);
    if (!text) return sa_err_set(err, SA_ERR_NOMEM, "%s: cannot serialise stats", path);
    size_t n = strlen(text);
    text[n] = '\n'; /* json_dumps's NUL becomes the final newline */
    sa_status s = sa_file_write_atomic(path, text, n + 1, err);
    free(text);
    return s;
}

static sa_status write_finals(const sa_bt_opts *o, const char *journal, const char *rejected, const char *stats,
                              sa_bt_stats *st, sa_err *err) {
    sa_idmap jm = {0};
    seg_reader sr;
    sa_atomic_file fo = {0}, fr = {0};
    sa_strbuf line = {0};
    sa_status s = load_journal(journal, &jm, err);
    if (s) return s;
    /* the input was already checked and reported: read it quietly this time */
    if ((s = seg_open(&sr, o->in_path, false, NULL, err)) != SA_OK) {
        sa_idmap_free(&jm);
        return s;
    }
    memset(st->by_reason, 0, sizeof st->by_reason);
    if (!(s = sa_atomic_open(&fo, o->out_path, err))) s = sa_atomic_open(&fr, rejected, err);
    while (!s) {
        json_t *seg;
        const char *id, *text;
        char idbuf[32];
        s = seg_next(&sr, &seg, &id, &text, idbuf, sizeof idbuf, err);
        if (s) break;
        sa_idmap_entry *je = sa_idmap_get(&jm, id);
        if (!je) { /* the input changed since generation */
            s = sa_err_set(err, SA_ERR_INVALID_ARG, "%s: segment %s has no journaled result in %s (was the input "
                           "changed during the run?)", o->in_path, id, journal);
            json_decref(seg);
            break;
        }
        const char *gen = json_string_value(json_object_get(je->rec, "text"));
        sa_finish_reason fin = finish_from(json_string_value(json_object_get(je->rec, "finish")));
        const char *tr;
        size_t tn;
        sa_bt_reason why = sa_bt_classify(gen, fin, text, o->max_instruction_chars, &tr, &tn);
        st->by_reason[why]++;
        json_t *rec = NULL;
        if (why == SA_BT_ACCEPTED) {
            s = accepted_record(o, id, seg, tr, tn, text, &rec, err);
            if (!s) s = write_line(&fo, rec, &line, err);
        } else {
            rec = json_object();
            json_object_set_new(rec, "segment_id", json_string(id));
            json_object_set_new(rec, "reason", json_string(k_reason_names[why]));
            json_object_set_new(rec, "text", json_string(gen ? gen : ""));
            const char *e = json_string_value(json_object_get(je->rec, "error"));
            if (why == SA_BT_ERROR && e) json_object_set_new(rec, "error", json_string(e));
            s = write_line(&fr, rec, &line, err);
        }
        if (rec) json_decref(rec);
        json_decref(seg);
    }
    if (s == SA_ERR_EOF) s = SA_OK;
    if (!s) s = sa_atomic_commit(&fo, err);
    if (!s) s = sa_atomic_commit(&fr, err);
    sa_atomic_abort(&fo);
    sa_atomic_abort(&fr);
    if (!s) s = write_stats(stats, o, st, err);
    sa_strbuf_free(&line);
    seg_close(&sr);
    sa_idmap_free(&jm);
    return s;
}

/* The generation settings a journal's results depend on, kept beside it
 * (<journal>.settings). A rerun with other settings would mix two runs'
 * outputs in one file, so it is refused; the post-filter (max instruction
 * length) is not among them: it applies at the final pass. */
static sa_status check_settings(const char *jpath, const sa_chat_template *t, const sa_bt_opts *o, bool has_results,
                                sa_err *err) {
    json_t *j = json_pack("{s:s, s:s, s:f, s:f, s:I, s:i}", "model", o->model_name ? o->model_name : "", "template",
                          sa_chat_format_name(t->format), "temperature", (double)o->temperature, "top_p",
                          (double)o->top_p, "seed", (json_int_t)o->seed, "max_tokens", (int)o->max_tokens);
    char *now = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    char *spath = sa_stage_path_suffix(jpath, ".settings");
    sa_status s = SA_OK;
    if (!now || !spath) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    sa_strbuf saved = {0};
    if (!s && has_results && sa_path_exists(spath)) {
        s = sa_file_read_strbuf(spath, &saved, err);
        if (!s && strcmp(sa_strbuf_cstr(&saved), now) != 0)
            s = sa_err_set(err, SA_ERR_INVALID_ARG,
                           "%s: its results were generated with other settings (%s; now %s): rerun with those "
                           "settings, or write to a new --out",
                           jpath, sa_strbuf_cstr(&saved), now);
    } else if (!s) {
        s = sa_file_write_atomic(spath, now, strlen(now), err);
    }
    sa_strbuf_free(&saved);
    free(now);
    free(spath);
    return s;
}

sa_status sa_bt_run(sa_engine *e, const sa_tokenizer *tok, const sa_chat_template *t, const sa_bt_opts *o,
                    sa_bt_stats *stats, sa_err *err) {
    SA_ASSERT(e && tok && t && o);
    if (!o->in_path || !o->out_path) return sa_err_set(err, SA_ERR_INVALID_ARG, "backtranslate: input and output paths are required");
    if (o->max_tokens < 1) return sa_err_set(err, SA_ERR_INVALID_ARG, "backtranslate: max_tokens must be >= 1");
    sa_bt_stats st_local, *st = stats ? stats : &st_local;
    memset(st, 0, sizeof *st);
    char *jpath = o->journal_path ? sa_strdup(o->journal_path) : sa_stage_path_suffix(o->out_path, ".journal");
    char *rpath = o->rejected_path ? sa_strdup(o->rejected_path) : sa_stage_path_suffix(o->out_path, ".rejected.jsonl");
    char *spath = o->stats_path ? sa_strdup(o->stats_path) : sa_stage_stats_beside(o->out_path);
    bt_run r = {.o = o};
    sa_status s = SA_OK;
    const bool rank0 = sa_dist_rank(o->dist) == 0;
    if (!jpath || !rpath || !spath) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    sa_journal_opts jo = sa_journal_default_opts();
    jo.on_bad = on_bad_line;
    jo.ctx = o->progress;
    s = sa_dist_agree(o->dist, s, err); /* the open is collective */
    if (!s) s = sa_shard_open(&r.j, o->dist, jpath, &jo, err);
    bool opened = !s;
    if (!s && rank0) s = check_settings(jpath, t, o, sa_shard_done_before(&r.j) > 0, err);
    if (opened) s = sa_dist_agree(o->dist, s, err);
    if (s && opened) sa_shard_close(&r.j);
    if (!s) {
        st->resumed = sa_shard_done_before(&r.j);
        double t0 = now_s();
        s = generate_all(e, tok, t, &r, st, err);
        st->gen_seconds = now_s() - t0;
        s = sa_shard_finish(&r.j, s, NULL, 0, err); /* rank 0 folds every rank's results into the journal */
        double sums[2] = {(double)r.generated, (double)r.tokens};
        int64_t slowest = (int64_t)(st->gen_seconds * 1e6);
        if (!s) s = sa_dist_allreduce_f64(o->dist, sums, 2, err);
        if (!s) s = sa_dist_allreduce_max_i64(o->dist, &slowest, 1, err);
        st->generated = (uint64_t)sums[0];
        st->gen_tokens = (uint64_t)sums[1];
        st->gen_seconds = (double)slowest * 1e-6;
        st->pairs_per_s = st->gen_seconds > 0 ? (double)st->generated / st->gen_seconds : 0;
    }
    if (!s && rank0) s = write_finals(o, jpath, rpath, spath, st, err);
    if (!s && rank0 && o->progress) { /* rank 0 reports for the group */
        fprintf(o->progress, "backtranslate: %llu segments (%llu resumed, %llu generated, %.2f pairs/s), %llu accepted,",
                (unsigned long long)st->segments, (unsigned long long)st->resumed,
                (unsigned long long)st->generated, st->pairs_per_s, (unsigned long long)st->by_reason[0]);
        for (int i = 1; i < SA_BT_REASON_COUNT; i++)
            fprintf(o->progress, " %llu %s", (unsigned long long)st->by_reason[i], k_reason_names[i]);
        fprintf(o->progress, ", %llu bad input lines\n", (unsigned long long)st->bad_lines);
    }
    free(jpath);
    free(rpath);
    free(spath);
    return s;
}
