/* eval_set.c — reading eval sets of the common shapes (eval.h): MT-bench /
 * Vicuna questions, the checkable task format, self-instruct tasks, Koala
 * prompts, and every record format record.h reads. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/eval.h"
#include "sa/hash.h"
#include "sa/json.h"
#include "sa/record.h"

static const char *const k_format_names[SA_EVAL_FORMAT_COUNT] = {"auto", "mt-bench", "task", "self-instruct", "koala",
                                                                 "records"};

const char *sa_eval_format_name(sa_eval_format f) {
    return (unsigned)f < SA_EVAL_FORMAT_COUNT ? k_format_names[f] : "?";
}

sa_status sa_eval_format_parse(const char *name, sa_eval_format *out, sa_err *err) {
    for (int i = 0; i < SA_EVAL_FORMAT_COUNT; i++)
        if (name && strcmp(name, k_format_names[i]) == 0) {
            *out = (sa_eval_format)i;
            return SA_OK;
        }
    return sa_err_set(err, SA_ERR_INVALID_ARG,
                      "unknown eval set format \"%s\" (auto, mt-bench, task, self-instruct, koala, records)",
                      name ? name : "(null)");
}

static void item_free(sa_eval_item *it) {
    free(it->id);
    free(it->prompt);
    free(it->reference);
    for (size_t k = 0; k < it->n_answers; k++) free(it->answers[k]);
    free(it->answers);
    memset(it, 0, sizeof *it);
}

void sa_eval_set_free(sa_eval_set *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) item_free(&s->items[i]);
    free(s->items);
    free(s->path);
    memset(s, 0, sizeof *s);
}

/* ---- loading state ----------------------------------------------------------------------- */

typedef struct loader {
    sa_eval_set *set;
    sa_eval_set_opts o;
    sa_record_format rfmt; /* RECORDS: the record format of the file */
    size_t cap;
    /* ids seen: open addressing over item indices + 1 (0 = empty) */
    size_t *slots;
    size_t n_slots;
} loader;

static bool all_space(const char *s) {
    for (; s && *s; s++)
        if (!isspace((unsigned char)*s)) return false;
    return true;
}

/* A bad item: the reason goes into why (the caller reports it). */
#define BAD(...)                                 \
    do {                                         \
        snprintf(why, why_n, __VA_ARGS__);       \
        return SA_OK;                            \
    } while (0)

/* Optional string at key: NULL when absent or null; a bad type sets why. */
static const char *opt_str(const json_t *obj, const char *key, char *why, size_t why_n) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return NULL;
    if (!json_is_string(v)) {
        snprintf(why, why_n, "key \"%s\" is %s %s, expected a string", key,
                 json_is_array(v) || json_is_object(v) || json_is_integer(v) ? "an" : "a", sa_json_type_name(v));
        return NULL;
    }
    return json_string_value(v);
}

/* An id from a string or an integer; NULL (and why set) for other types. */
static char *id_of(const json_t *v, char *why, size_t why_n, const char *key) {
    char buf[32];
    if (json_is_string(v)) return sa_strdup(json_string_value(v));
    if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return sa_strdup(buf);
    }
    snprintf(why, why_n, "key \"%s\" is a %s, expected a string or an integer", key, sa_json_type_name(v));
    return NULL;
}

static char *join_prompt(const char *instruction, const char *input) {
    sa_strbuf b = {0};
    sa_strbuf_puts(&b, instruction ? instruction : "");
    if (input && !all_space(input)) sa_strbuf_appendf(&b, "\n\n%s", input);
    return sa_strbuf_detach(&b, NULL);
}

static sa_status push_answer(sa_eval_item *it, const char *a, sa_err *err) {
    char **na = sa_realloc_array(it->answers, it->n_answers + 1, sizeof *na);
    if (!na) return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    it->answers = na;
    if (!(na[it->n_answers] = sa_strdup(a))) return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    it->n_answers++;
    return SA_OK;
}

/* An accepted answer must keep something after normalisation. */
static bool answer_ok(const char *a) {
    sa_strbuf b = {0};
    bool ok = sa_eval_normalize(a, &b) == SA_OK && b.len > 0;
    sa_strbuf_free(&b);
    return ok;
}

/* Fill it from obj (it is zeroed). Returns SA_OK with why[0] set when the
 * object is bad; errors only for memory. */
static sa_status parse_item(loader *L, const json_t *obj, sa_eval_item *it, char *why, size_t why_n, sa_err *err) {
    why[0] = 0;
    const json_t *idv = NULL;
    const char *idkey = "id";
    const char *prompt = NULL;
    switch (L->set->format) {
    case SA_EVAL_FORMAT_MT_BENCH: {
        idkey = "question_id";
        idv = json_object_get(obj, "question_id");
        json_t *turns = json_object_get(obj, "turns");
        if (turns) {
            if (!json_is_array(turns)) BAD("key \"turns\" is a %s, expected an array of strings", sa_json_type_name(turns));
            if (json_array_size(turns) == 0) BAD("key \"turns\" is empty");
            json_t *t0 = json_array_get(turns, 0);
            if (!json_is_string(t0)) BAD("turns[0] is a %s, expected a string", sa_json_type_name(t0));
            prompt = json_string_value(t0);
        } else {
            prompt = opt_str(obj, "text", why, why_n);
            if (why[0]) return SA_OK;
            if (!prompt) BAD("no \"turns\" (or \"text\") with the question");
        }
        json_t *ref = json_object_get(obj, "reference");
        if (ref && !json_is_null(ref)) {
            json_t *r0 = json_is_array(ref) ? json_array_get(ref, 0) : ref;
            if (r0 && !json_is_string(r0)) BAD("key \"reference\" holds a %s, expected strings", sa_json_type_name(r0));
            if (r0 && !all_space(json_string_value(r0)) && !(it->reference = sa_strdup(json_string_value(r0))))
                return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
        }
        break;
    }
    case SA_EVAL_FORMAT_TASK: {
        idv = json_object_get(obj, "id");
        prompt = opt_str(obj, "prompt", why, why_n);
        if (why[0]) return SA_OK;
        json_t *ans = json_object_get(obj, "answer");
        if (!ans || json_is_null(ans)) BAD("no \"answer\"");
        if (json_is_string(ans)) {
            if (!answer_ok(json_string_value(ans))) BAD("the answer is empty after normalisation");
            if (push_answer(it, json_string_value(ans), err)) return SA_ERR_NOMEM;
        } else if (json_is_array(ans)) {
            if (json_array_size(ans) == 0) BAD("key \"answer\" is an empty array");
            size_t k;
            json_t *a;
            json_array_foreach(ans, k, a) {
                if (!json_is_string(a)) BAD("answer[%zu] is a %s, expected a string", k, sa_json_type_name(a));
                if (!answer_ok(json_string_value(a))) BAD("answer[%zu] is empty after normalisation", k);
                if (push_answer(it, json_string_value(a), err)) return SA_ERR_NOMEM;
            }
        } else
            BAD("key \"answer\" is a %s, expected a string or an array of strings", sa_json_type_name(ans));
        json_t *ch = json_object_get(obj, "chance");
        if (ch && !json_is_null(ch)) {
            if (!json_is_number(ch)) BAD("key \"chance\" is a %s, expected a number", sa_json_type_name(ch));
            double c = json_number_value(ch);
            if (!(c >= 0 && c <= 1)) BAD("chance %g is outside [0, 1]", c);
            it->has_chance = true;
            it->chance = c;
        }
        break;
    }
    case SA_EVAL_FORMAT_SELF_INSTRUCT: {
        idv = json_object_get(obj, "id");
        const char *ins = opt_str(obj, "instruction", why, why_n);
        if (why[0]) return SA_OK;
        if (!ins) BAD("no \"instruction\"");
        json_t *inst = json_object_get(obj, "instances");
        const char *input = NULL, *output = NULL;
        if (inst && !json_is_null(inst)) {
            if (!json_is_array(inst)) BAD("key \"instances\" is a %s, expected an array", sa_json_type_name(inst));
            json_t *i0 = json_array_get(inst, 0);
            if (i0) {
                if (!json_is_object(i0)) BAD("instances[0] is a %s, expected an object", sa_json_type_name(i0));
                input = opt_str(i0, "input", why, why_n);
                if (!why[0]) output = opt_str(i0, "output", why, why_n);
                if (why[0]) return SA_OK;
            }
        }
        char *p = join_prompt(ins, input);
        if (!p) return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
        it->prompt = p;
        if (output && !all_space(output) && !(it->reference = sa_strdup(output)))
            return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
        break;
    }
    case SA_EVAL_FORMAT_KOALA:
        idv = json_object_get(obj, "id");
        prompt = opt_str(obj, "prompt", why, why_n);
        if (why[0]) return SA_OK;
        break;
    case SA_EVAL_FORMAT_RECORDS: {
        sa_record rec;
        sa_record_init(&rec);
        sa_err e = {0};
        sa_status s = sa_record_parse(obj, L->rfmt, NULL, NULL, &rec, &e);
        if (s == SA_ERR_NOMEM) return sa_err_set(err, s, "%s", e.msg);
        if (s) {
            sa_record_free(&rec);
            BAD("%s", e.msg);
        }
        char idb[17];
        if (!rec.id) sa_record_compute_id(&rec, idb);
        it->id = sa_strdup(rec.id ? rec.id : idb);
        it->prompt = join_prompt(rec.instruction, rec.input);
        if (rec.output && !all_space(rec.output)) it->reference = sa_strdup(rec.output);
        bool oom = !it->id || !it->prompt || (rec.output && !all_space(rec.output) && !it->reference);
        sa_record_free(&rec);
        if (oom) return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
        break;
    }
    default: return sa_err_set(err, SA_ERR_INTERNAL, "eval set: no format");
    }
    if (!it->prompt) {
        if (!prompt) BAD("no \"prompt\"");
        if (!(it->prompt = sa_strdup(prompt))) return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    }
    if (all_space(it->prompt)) BAD("empty prompt");
    if (!it->id && idv && !json_is_null(idv)) {
        if (!(it->id = id_of(idv, why, why_n, idkey))) {
            if (why[0]) return SA_OK;
            return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
        }
        if (!it->id[0]) BAD("key \"%s\" is empty", idkey);
    }
    return SA_OK;
}

/* Format of the whole file from its first object. */
static sa_status detect(loader *L, const json_t *obj, sa_err *err) {
#define HAS(k) (json_object_get(obj, k) != NULL)
    sa_eval_format f = L->o.format;
    if (f == SA_EVAL_FORMAT_AUTO) {
        if (HAS("turns") || (HAS("question_id") && HAS("text"))) f = SA_EVAL_FORMAT_MT_BENCH;
        else if (HAS("prompt") && HAS("answer")) f = SA_EVAL_FORMAT_TASK;
        else if (HAS("instruction") && HAS("instances")) f = SA_EVAL_FORMAT_SELF_INSTRUCT;
        else if (HAS("prompt")) f = SA_EVAL_FORMAT_KOALA;
        else f = SA_EVAL_FORMAT_RECORDS;
    }
#undef HAS
    L->set->format = f;
    if (f != SA_EVAL_FORMAT_RECORDS) return SA_OK;
    sa_status s = sa_record_detect(obj, &L->rfmt, err);
    if (s) sa_err_prefix(err, "not an eval set of a known shape (mt-bench, task, self-instruct, koala, records): ");
    return s;
}

/* Insert item idx's id; returns the earlier item with that id, or SIZE_MAX. */
static size_t id_insert(loader *L, size_t idx) {
    const char *id = L->set->items[idx].id;
    size_t mask = L->n_slots - 1, h = (size_t)sa_hash_str(id, 0) & mask;
    for (;; h = (h + 1) & mask) {
        size_t v = L->slots[h];
        if (!v) {
            L->slots[h] = idx + 1;
            return SIZE_MAX;
        }
        if (strcmp(L->set->items[v - 1].id, id) == 0) return v - 1;
    }
}

static sa_status grow_ids(loader *L, sa_err *err) {
    if ((L->set->n + 1) * 2 <= L->n_slots) return SA_OK;
    size_t ns = L->n_slots ? L->n_slots * 2 : 64;
    size_t *sl = sa_calloc(ns, sizeof *sl);
    if (!sl) return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    free(L->slots);
    L->slots = sl;
    L->n_slots = ns;
    for (size_t i = 0; i < L->set->n; i++) id_insert(L, i);
    return SA_OK;
}

/* Is the first non-space byte of the file '['? */
static sa_status peek_array(const char *path, bool *is_array, sa_err *err) {
    *is_array = false;
    FILE *f = fopen(path, "rb");
    if (!f) return sa_err_set(err, SA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    int c, k = 0;
    while ((c = fgetc(f)) != EOF) {
        if (k < 3 && (c == 0xEF || c == 0xBB || c == 0xBF)) { /* byte-order mark */
            k++;
            continue;
        }
        k = 3;
        if (!isspace(c)) break;
    }
    fclose(f);
    *is_array = c == '[';
    return SA_OK;
}

sa_status sa_eval_set_load(sa_eval_set *out, const char *path, const sa_eval_set_opts *opts, sa_err *err) {
    memset(out, 0, sizeof *out);
    loader L;
    memset(&L, 0, sizeof L);
    L.set = out;
    if (opts) L.o = *opts;
    if ((unsigned)L.o.format >= SA_EVAL_FORMAT_COUNT)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "eval set: invalid format %d", (int)L.o.format);
    if (!(out->path = sa_strdup(path))) return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    bool arr = false;
    sa_status s = peek_array(path, &arr, err);
    if (s) {
        sa_eval_set_free(out);
        return s;
    }
    sa_jsonl_reader jr;
    sa_jsonl_opts jo = {.policy = L.o.fail_on_bad ? SA_JSONL_FAIL : SA_JSONL_SKIP, .on_bad = L.o.on_bad,
                        .ctx = L.o.ctx, .json_array = arr};
    if ((s = sa_jsonl_reader_open(&jr, path, &jo, err))) {
        sa_eval_set_free(out);
        return s;
    }
    uint64_t bad_items = 0;
    bool detected = false;
    char why[600];
    while (!L.o.limit || out->n < L.o.limit) {
        json_t *obj = NULL;
        uint64_t line = 0;
        s = sa_jsonl_next(&jr, &obj, &line, err);
        if (s == SA_ERR_EOF) {
            s = SA_OK;
            break;
        }
        if (s) break;
        if (!detected) {
            s = detect(&L, obj, err);
            if (s) {
                if (arr) sa_err_prefix(err, "%s:%" PRIu64 ": index %" PRIu64 ": ", path, line, jr.index);
                else sa_err_prefix(err, "%s:%" PRIu64 ": ", path, line);
                json_decref(obj);
                break;
            }
            detected = true;
        }
        if (out->n == L.cap) {
            size_t nc = L.cap ? L.cap * 2 : 64;
            sa_eval_item *ni = sa_realloc_array(out->items, nc, sizeof *ni);
            if (!ni) {
                json_decref(obj);
                s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
                break;
            }
            out->items = ni;
            L.cap = nc;
        }
        sa_eval_item *it = &out->items[out->n];
        memset(it, 0, sizeof *it);
        it->line = line;
        s = parse_item(&L, obj, it, why, sizeof why, err);
        json_decref(obj);
        if (!s && !why[0] && !it->id) {
            char b[32];
            snprintf(b, sizeof b, "line%" PRIu64, line);
            if (!(it->id = sa_strdup(b))) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
        }
        if (!s && !why[0]) {
            if ((s = grow_ids(&L, err))) {
                item_free(it);
                break;
            }
            size_t first = id_insert(&L, out->n);
            if (first != SIZE_MAX)
                snprintf(why, sizeof why, "duplicate id \"%.200s\" (first at line %" PRIu64 ")", it->id,
                         out->items[first].line);
        }
        if (s) {
            item_free(it);
            break;
        }
        if (why[0]) {
            item_free(it);
            bad_items++;
            char msg[700];
            if (arr) snprintf(msg, sizeof msg, "index %" PRIu64 ": %s", jr.index, why);
            else snprintf(msg, sizeof msg, "%s", why);
            if (L.o.on_bad) L.o.on_bad(L.o.ctx, path, line, msg);
            if (L.o.fail_on_bad) {
                s = sa_err_set(err, SA_ERR_FORMAT, "%s:%" PRIu64 ": %s", path, line, msg);
                break;
            }
            continue;
        }
        if (it->reference) out->n_reference++;
        if (it->n_answers) out->n_answers++;
        out->n++;
    }
    out->bad = bad_items + sa_jsonl_stats_bad(&jr.stats);
    sa_jsonl_reader_close(&jr);
    free(L.slots);
    if (!s && out->n == 0)
        s = sa_err_set(err, SA_ERR_FORMAT, "%s: no usable item (%" PRIu64 " bad lines)", path, out->bad);
    if (s) {
        uint64_t bad = out->bad;
        sa_eval_set_free(out);
        out->bad = bad;
    }
    return s;
}
