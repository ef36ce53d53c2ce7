/* record.c — the record struct, its content id, and the writers for our
 * schema, Alpaca, ShareGPT and OpenAI messages (see record.h). Parsing and
 * the reader live in record_formats.c. */
#include "sa/record.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/hash.h"
#include "sa/json.h"

static const char *const format_names[SA_RECORD_FORMAT_COUNT] = {
    "auto", "ours", "alpaca", "sharegpt", "messages", "self-instruct", "guanaco",
};

const char *sa_record_format_name(sa_record_format f) {
    if ((unsigned)f >= SA_RECORD_FORMAT_COUNT) return "unknown";
    return format_names[f];
}

sa_status sa_record_format_parse(const char *name, sa_record_format *out, sa_err *err) {
    for (int i = 0; i < SA_RECORD_FORMAT_COUNT; i++)
        if (name && strcmp(name, format_names[i]) == 0) {
            *out = (sa_record_format)i;
            return SA_OK;
        }
    return sa_err_set(err, SA_ERR_INVALID_ARG,
                      "unknown record format \"%s\" (expected auto, ours, alpaca, sharegpt, "
                      "messages, self-instruct or guanaco)",
                      name ? name : "(null)");
}

void sa_record_init(sa_record *r) { memset(r, 0, sizeof *r); }

void sa_record_free(sa_record *r) {
    if (!r) return;
    free(r->id);
    free(r->instruction);
    free(r->input);
    free(r->output);
    free(r->source);
    free(r->system);
    free(r->reason);
    json_decref(r->meta);
    sa_record_init(r);
}

/* ---- id ---- */

static void hash_field(sa_hash_state *st, const char *s) {
    uint64_t n = s ? (uint64_t)strlen(s) : 0;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(n >> (8 * i));
    sa_hash_state_update(st, le, sizeof le);
    if (n) sa_hash_state_update(st, s, (size_t)n);
}

void sa_record_compute_id(const sa_record *r, char out[17]) {
    sa_hash_state st;
    if (sa_hash_state_init(&st, 0) != 0) {
        out[0] = '\0'; /* no memory for the XXH3 state: callers check out[0] */
        return;
    }
    static const char tag[] = "sa.record.v1";
    sa_hash_state_update(&st, tag, sizeof tag - 1);
    hash_field(&st, r->instruction);
    hash_field(&st, r->input);
    hash_field(&st, r->output);
    sa_hash_hex(sa_hash_state_digest(&st), out);
    sa_hash_state_free(&st);
}

sa_status sa_record_set_id(sa_record *r, sa_err *err) {
    char id[17];
    sa_record_compute_id(r, id);
    if (!id[0]) return sa_err_set(err, SA_ERR_NOMEM, "record id: out of memory");
    char *copy = sa_strdup(id);
    if (!copy) return sa_err_set(err, SA_ERR_NOMEM, "record id: out of memory");
    free(r->id);
    r->id = copy;
    return SA_OK;
}

/* ---- building JSON ---- */

/* obj[key] = string s (skipped when s is NULL). Returns false on failure
 * (out of memory or invalid UTF-8). */
static bool put_str(json_t *obj, const char *key, const char *s) {
    if (!s) return true;
    return json_object_set_new(obj, key, json_string(s)) == 0; /* NULL value fails too */
}

static sa_status check_core(const sa_record *r, sa_err *err) {
    if (!r->instruction || !r->instruction[0])
        return sa_err_set(err, SA_ERR_INVALID_ARG, "record has no instruction");
    if (!r->output || !r->output[0])
        return sa_err_set(err, SA_ERR_INVALID_ARG, "record has no output");
    if (r->has_score && !isfinite(r->score))
        return sa_err_set(err, SA_ERR_INVALID_ARG, "record score is not finite");
    if (r->meta && !json_is_object(r->meta))
        return sa_err_set(err, SA_ERR_INVALID_ARG, "record meta is not an object");
    return SA_OK;
}

static sa_status build_failed(json_t *o, sa_err *err) {
    json_decref(o);
    return sa_err_set(err, SA_ERR_INVALID_ARG,
                      "cannot build record JSON (out of memory or invalid UTF-8 in a field)");
}

sa_status sa_record_to_json(const sa_record *r, json_t **out, sa_err *err) {
    *out = NULL;
    sa_status s = check_core(r, err);
    if (s != SA_OK) return s;
    char id[17];
    const char *idp = r->id;
    if (!idp) {
        sa_record_compute_id(r, id);
        if (!id[0]) return sa_err_set(err, SA_ERR_NOMEM, "record id: out of memory");
        idp = id;
    }
    json_t *o = json_object();
    if (!o) return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    bool ok = put_str(o, "id", idp) && put_str(o, "instruction", r->instruction) &&
              put_str(o, "input", (r->input && r->input[0]) ? r->input : NULL) &&
              put_str(o, "output", r->output) && put_str(o, "source", r->source) &&
              put_str(o, "system", (r->system && r->system[0]) ? r->system : NULL) &&
              put_str(o, "reason", r->reason);
    if (ok && r->has_score) ok = json_object_set_new(o, "score", json_real(r->score)) == 0;
    if (ok && r->meta) ok = json_object_set(o, "meta", r->meta) == 0;
    if (!ok) return build_failed(o, err);
    *out = o;
    return SA_OK;
}

/* The whole conversation as (role, content) pairs appended to `turns`
 * (a JSON array of {role, content}): system, first user (instruction +
 * input), first assistant, then meta.turns. */
static sa_status conversation(const sa_record *r, json_t *turns, sa_err *err) {
    sa_strbuf user = {0};
    sa_status s = SA_OK;
    if (sa_strbuf_puts(&user, r->instruction) != SA_OK ||
        (r->input && r->input[0] &&
         (sa_strbuf_puts(&user, "\n\n") != SA_OK || sa_strbuf_puts(&user, r->input) != SA_OK))) {
        sa_strbuf_free(&user);
        return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    }
    const char *roles[3] = {"system", "user", "assistant"};
    const char *texts[3] = {r->system, sa_strbuf_cstr(&user), r->output};
    for (int i = 0; i < 3 && s == SA_OK; i++) {
        if (!texts[i] || (i == 0 && !texts[i][0])) continue;
        json_t *t = json_pack("{s:s, s:s}", "role", roles[i], "content", texts[i]);
        if (!t || json_array_append_new(turns, t) != 0)
            s = sa_err_set(err, SA_ERR_INVALID_ARG, "cannot build conversation turn");
    }
    sa_strbuf_free(&user);
    json_t *more = r->meta ? json_object_get(r->meta, "turns") : NULL;
    if (s != SA_OK || !more) return s;
    if (!json_is_array(more))
        return sa_err_set(err, SA_ERR_INVALID_ARG, "meta.turns is %s, expected an array",
                          sa_json_type_name(more));
    size_t i;
    json_t *t;
    json_array_foreach(more, i, t) {
        const char *role = json_string_value(json_object_get(t, "role"));
        const char *content = json_string_value(json_object_get(t, "content"));
        if (!role || !content ||
            (strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "system")))
            return sa_err_set(err, SA_ERR_INVALID_ARG,
                              "meta.turns[%zu] is not {role: user|assistant|system, content}", i);
        json_t *c = json_pack("{s:s, s:s}", "role", role, "content", content);
        if (!c || json_array_append_new(turns, c) != 0)
            return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    }
    return SA_OK;
}

static const char *role_at(json_t *turns, size_t i) {
    return json_string_value(json_object_get(json_array_get(turns, i), "role"));
}
static const char *content_at(json_t *turns, size_t i) {
    return json_string_value(json_object_get(json_array_get(turns, i), "content"));
}

/* Alpaca: single-turn records map directly; multi-turn ones become LIMA-style
 * history pairs when the turns alternate user/assistant (else error). */
static sa_status export_alpaca(const sa_record *r, json_t *o, sa_err *err) {
    json_t *more = r->meta ? json_object_get(r->meta, "turns") : NULL;
    if (!more || json_array_size(more) == 0) {
        bool ok = put_str(o, "instruction", r->instruction) &&
                  put_str(o, "input", r->input ? r->input : "") &&
                  put_str(o, "output", r->output) &&
                  (!r->system || !r->system[0] || put_str(o, "system", r->system));
        return ok ? SA_OK : sa_err_set(err, SA_ERR_INVALID_ARG, "cannot build Alpaca object");
    }
    json_t *turns = json_array();
    if (!turns) return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    sa_status s = conversation(r, turns, err);
    size_t first = (s == SA_OK && strcmp(role_at(turns, 0), "system") == 0) ? 1 : 0;
    size_t n = json_array_size(turns);
    if (s == SA_OK && ((n - first) % 2 != 0))
        s = sa_err_set(err, SA_ERR_UNSUPPORTED,
                       "Alpaca export: conversation does not end with an assistant turn");
    for (size_t i = first; s == SA_OK && i < n; i += 2)
        if (strcmp(role_at(turns, i), "user") || strcmp(role_at(turns, i + 1), "assistant"))
            s = sa_err_set(err, SA_ERR_UNSUPPORTED,
                           "Alpaca export: turns do not alternate user/assistant");
    json_t *hist = s == SA_OK ? json_array() : NULL;
    if (s == SA_OK && !hist) s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    for (size_t i = first; s == SA_OK && i + 2 < n; i += 2) {
        json_t *pair = json_pack("[s,s]", content_at(turns, i), content_at(turns, i + 1));
        if (!pair || json_array_append_new(hist, pair) != 0)
            s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    }
    if (s == SA_OK) {
        bool ok = put_str(o, "instruction", content_at(turns, n - 2)) &&
                  put_str(o, "input", "") && put_str(o, "output", content_at(turns, n - 1)) &&
                  (!first || put_str(o, "system", r->system)) &&
                  json_object_set(o, "history", hist) == 0;
        if (!ok) s = sa_err_set(err, SA_ERR_INVALID_ARG, "cannot build Alpaca object");
    }
    json_decref(hist);
    json_decref(turns);
    return s;
}

static sa_status export_chat(const sa_record *r, sa_record_format fmt, json_t *o, sa_err *err) {
    json_t *turns = json_array();
    if (!turns) return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    sa_status s = conversation(r, turns, err);
    if (s == SA_OK && fmt == SA_RECORD_FORMAT_SHAREGPT) {
        size_t i;
        json_t *t;
        json_array_foreach(turns, i, t) {
            const char *role = role_at(turns, i);
            const char *from = strcmp(role, "user") == 0        ? "human"
                               : strcmp(role, "assistant") == 0 ? "gpt"
                                                                : "system";
            json_t *c = json_pack("{s:s, s:O}", "from", from, "value",
                                  json_object_get(t, "content"));
            if (!c || json_array_set_new(turns, i, c) != 0) {
                s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
                break;
            }
        }
        if (s == SA_OK && (json_object_set(o, "conversations", turns) != 0 ||
                           (r->id && !put_str(o, "id", r->id))))
            s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    } else if (s == SA_OK && json_object_set(o, "messages", turns) != 0) {
        s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    }
    json_decref(turns);
    return s;
}

sa_status sa_record_export(const sa_record *r, sa_record_format fmt, json_t **out, sa_err *err) {
    *out = NULL;
    if (fmt == SA_RECORD_FORMAT_OURS) return sa_record_to_json(r, out, err);
    sa_status s = check_core(r, err);
    if (s != SA_OK) return s;
    if (fmt != SA_RECORD_FORMAT_ALPACA && fmt != SA_RECORD_FORMAT_SHAREGPT &&
        fmt != SA_RECORD_FORMAT_MESSAGES)
        return sa_err_set(err, SA_ERR_UNSUPPORTED, "cannot write records as %s",
                          sa_record_format_name(fmt));
    json_t *o = json_object();
    if (!o) return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    s = fmt == SA_RECORD_FORMAT_ALPACA ? export_alpaca(r, o, err) : export_chat(r, fmt, o, err);
    if (s != SA_OK) {
        json_decref(o);
        return s;
    }
    *out = o;
    return SA_OK;
}

sa_status sa_record_write(sa_strbuf *out, const sa_record *r, sa_record_format fmt, sa_err *err) {
    json_t *o;
    sa_status s = sa_record_export(r, fmt, &o, err);
    if (s != SA_OK) return s;
    s = sa_json_dump_line(o, out, err);
    json_decref(o);
    return s;
}

sa_status sa_record_fwrite(FILE *f, const sa_record *r, sa_record_format fmt, sa_err *err) {
    sa_strbuf sb = {0};
    sa_status s = sa_record_write(&sb, r, fmt, err);
    if (s == SA_OK && fwrite(sb.buf, 1, sb.len, f) != sb.len)
        s = sa_err_set(err, SA_ERR_IO, "writing record: %s", strerror(errno));
    sa_strbuf_free(&sb);
    return s;
}

sa_status sa_record_array_begin(sa_record_array_writer *w, sa_strbuf *out, sa_record_format fmt,
                                sa_err *err) {
    w->fmt = fmt;
    w->count = 0;
    if (sa_strbuf_puts(out, "[\n") != SA_OK) return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    return SA_OK;
}

sa_status sa_record_array_add(sa_record_array_writer *w, sa_strbuf *out, const sa_record *r,
                              sa_err *err) {
    size_t old = out->len;
    if (w->count && sa_strbuf_puts(out, ",\n") != SA_OK)
        return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    sa_status s = sa_record_write(out, r, w->fmt, err);
    if (s != SA_OK) {
        if (out->buf) sa_strbuf_truncate(out, old);
        return s;
    }
    sa_strbuf_truncate(out, out->len - 1); /* the item's '\n': the separator adds it */
    w->count++;
    return SA_OK;
}

sa_status sa_record_array_end(sa_record_array_writer *w, sa_strbuf *out, sa_err *err) {
    if (sa_strbuf_puts(out, w->count ? "\n]\n" : "]\n") != SA_OK)
        return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    return SA_OK;
}
