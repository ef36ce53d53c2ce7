/* record_formats.c — parsing our schema and the foreign formats into
 * sa_record, format detection, and the streaming record reader (see
 * record.h for the mapping rules). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/json.h"
#include "sa/record.h"
#include "sa/strbuf.h"

#define MAX_ID_BYTES 128

static sa_record_limits limits_of(const sa_record_limits *lim) {
    sa_record_limits l = {0};
    if (lim) l = *lim;
    if (!l.max_field_bytes) l.max_field_bytes = SA_RECORD_DEFAULT_MAX_FIELD;
    if (!l.max_turns) l.max_turns = SA_RECORD_DEFAULT_MAX_TURNS;
    return l;
}

static bool all_space(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i])) return false;
    return true;
}

/* A string field with the length cap applied. */
static sa_status get_text(const json_t *obj, const char *key, bool required, size_t cap,
                          const char **s, size_t *len, sa_err *err) {
    sa_status st = sa_json_get_str(obj, key, required, s, len, err);
    if (st != SA_OK) return st;
    if (*s && *len > cap)
        return sa_err_set(err, SA_ERR_RANGE, "\"%s\" is %zu bytes, over the %zu-byte limit", key,
                          *len, cap);
    return SA_OK;
}

static sa_status dup_field(char **dst, const char *s, size_t n, sa_err *err) {
    free(*dst);
    *dst = s ? sa_strndup(s, n) : NULL;
    if (s && !*dst) return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    return SA_OK;
}

/* ---- our schema ---- */

static const char *const our_keys[] = {"id",     "instruction", "input",  "output", "source",
                                       "system", "score",       "reason", "meta"};

static bool is_our_key(const char *k) {
    for (size_t i = 0; i < sizeof our_keys / sizeof our_keys[0]; i++)
        if (strcmp(k, our_keys[i]) == 0) return true;
    return false;
}

sa_status sa_record_from_json(const json_t *obj, const sa_record_limits *lim, sa_record *out,
                              sa_err *err) {
    sa_record_free(out);
    if (!json_is_object(obj))
        return sa_err_set(err, SA_ERR_FORMAT, "record is %s, expected an object",
                          sa_json_type_name(obj));
    sa_record_limits l = limits_of(lim);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        if (!is_our_key(key))
            return sa_err_set(err, SA_ERR_FORMAT, "unknown key \"%.64s\"; put extra data in meta",
                              key);
    }
    const char *id, *ins, *inp, *outp, *src, *sys, *rsn;
    size_t id_n, ins_n, inp_n, out_n, src_n, sys_n, rsn_n;
    sa_status s;
    if ((s = get_text(obj, "id", false, MAX_ID_BYTES, &id, &id_n, err)) != SA_OK ||
        (s = get_text(obj, "instruction", true, l.max_field_bytes, &ins, &ins_n, err)) != SA_OK ||
        (s = get_text(obj, "input", false, l.max_field_bytes, &inp, &inp_n, err)) != SA_OK ||
        (s = get_text(obj, "output", true, l.max_field_bytes, &outp, &out_n, err)) != SA_OK ||
        (s = get_text(obj, "source", false, l.max_field_bytes, &src, &src_n, err)) != SA_OK ||
        (s = get_text(obj, "system", false, l.max_field_bytes, &sys, &sys_n, err)) != SA_OK ||
        (s = get_text(obj, "reason", false, l.max_field_bytes, &rsn, &rsn_n, err)) != SA_OK)
        return s;
    if (id && id_n == 0) return sa_err_set(err, SA_ERR_FORMAT, "\"id\" is empty");
    if (all_space(ins, ins_n)) return sa_err_set(err, SA_ERR_FORMAT, "\"instruction\" is empty");
    if (all_space(outp, out_n)) return sa_err_set(err, SA_ERR_FORMAT, "\"output\" is empty");
    double score = 0;
    bool has_score = false;
    json_t *meta;
    if ((s = sa_json_get_num(obj, "score", false, &score, &has_score, err)) != SA_OK ||
        (s = sa_json_get_obj(obj, "meta", false, &meta, err)) != SA_OK)
        return s;
    if (has_score && !isfinite(score))
        return sa_err_set(err, SA_ERR_FORMAT, "\"score\" is not finite");
    if ((s = dup_field(&out->instruction, ins, ins_n, err)) != SA_OK ||
        (s = dup_field(&out->input, inp_n ? inp : NULL, inp_n, err)) != SA_OK ||
        (s = dup_field(&out->output, outp, out_n, err)) != SA_OK ||
        (s = dup_field(&out->source, src, src_n, err)) != SA_OK ||
        (s = dup_field(&out->system, sys_n ? sys : NULL, sys_n, err)) != SA_OK ||
        (s = dup_field(&out->reason, rsn, rsn_n, err)) != SA_OK) {
        sa_record_free(out);
        return s;
    }
    out->has_score = has_score;
    out->score = score;
    out->meta = json_incref(meta);
    s = id ? dup_field(&out->id, id, id_n, err) : sa_record_set_id(out, err);
    if (s != SA_OK) sa_record_free(out);
    return s;
}

/* ---- conversations ---- */

typedef struct turn {
    const char *role; /* "user", "assistant" or "system" (static strings) */
    const char *text;
    size_t len;
} turn;

typedef struct turn_list {
    turn *v;
    size_t n, cap;
    uint32_t max;
} turn_list;

static sa_status turn_add(turn_list *tl, const char *role, const char *text, size_t len,
                          size_t cap, sa_err *err) {
    if (tl->n >= tl->max)
        return sa_err_set(err, SA_ERR_RANGE, "conversation has more than %u turns", tl->max);
    if (len > cap)
        return sa_err_set(err, SA_ERR_RANGE, "turn %zu is %zu bytes, over the %zu-byte limit",
                          tl->n, len, cap);
    if (!sa_grow((void **)&tl->v, &tl->cap, tl->n + 1, sizeof *tl->v))
        return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    tl->v[tl->n++] = (turn){role, text, len};
    return SA_OK;
}

/* First (user, assistant) pair -> instruction/output; a leading system turn
 * -> system (unless the format gave one already); the rest -> *rest. */
static sa_status from_turns(const turn_list *tl, sa_record *rec, json_t **rest, sa_err *err) {
    size_t i = 0;
    *rest = NULL;
    if (tl->n && strcmp(tl->v[0].role, "system") == 0) {
        if (rec->system)
            return sa_err_set(err, SA_ERR_FORMAT,
                              "two system prompts (a system field and a system turn)");
        sa_status s = dup_field(&rec->system, tl->v[0].text, tl->v[0].len, err);
        if (s != SA_OK) return s;
        i = 1;
    }
    if (i >= tl->n) return sa_err_set(err, SA_ERR_FORMAT, "conversation has no user turn");
    if (strcmp(tl->v[i].role, "user") != 0)
        return sa_err_set(err, SA_ERR_FORMAT, "turn %zu is %s, expected the first user turn", i,
                          tl->v[i].role);
    if (i + 1 >= tl->n || strcmp(tl->v[i + 1].role, "assistant") != 0)
        return sa_err_set(err, SA_ERR_FORMAT,
                          "the first user turn is not followed by an assistant turn");
    if (all_space(tl->v[i].text, tl->v[i].len))
        return sa_err_set(err, SA_ERR_FORMAT, "the first user turn (instruction) is empty");
    if (all_space(tl->v[i + 1].text, tl->v[i + 1].len))
        return sa_err_set(err, SA_ERR_FORMAT, "the first assistant turn (output) is empty");
    sa_status s;
    if ((s = dup_field(&rec->instruction, tl->v[i].text, tl->v[i].len, err)) != SA_OK ||
        (s = dup_field(&rec->output, tl->v[i + 1].text, tl->v[i + 1].len, err)) != SA_OK)
        return s;
    if (i + 2 >= tl->n) return SA_OK;
    json_t *arr = json_array();
    if (!arr) return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    for (size_t k = i + 2; k < tl->n; k++) {
        json_t *t = json_object();
        if (!t || json_object_set_new(t, "role", json_string(tl->v[k].role)) ||
            json_object_set_new(t, "content", json_stringn(tl->v[k].text, tl->v[k].len)) ||
            json_array_append_new(arr, t)) {
            json_decref(arr);
            return sa_err_set(err, SA_ERR_NOMEM, "out of memory building meta.turns");
        }
    }
    *rest = arr;
    return SA_OK;
}

/* meta = {format, turns?, extra?}; source; id. Steals rest. */
static sa_status finish_import(sa_record *rec, sa_record_format fmt, const json_t *obj,
                               const char *const *consumed, json_t *rest, const char *source,
                               sa_err *err) {
    json_t *meta = json_object();
    json_t *extra = json_object();
    bool ok = meta && extra &&
              json_object_set_new(meta, "format", json_string(sa_record_format_name(fmt))) == 0;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        bool used = false;
        for (size_t i = 0; consumed[i]; i++)
            if (strcmp(key, consumed[i]) == 0) used = true;
        if (!used && ok) ok = json_object_set(extra, key, val) == 0;
    }
    if (ok && json_object_size(extra)) ok = json_object_set(meta, "extra", extra) == 0;
    if (ok && rest) ok = json_object_set(meta, "turns", rest) == 0;
    json_decref(extra);
    json_decref(rest);
    if (!ok) {
        json_decref(meta);
        return sa_err_set(err, SA_ERR_NOMEM, "out of memory building meta");
    }
    json_decref(rec->meta);
    rec->meta = meta;
    sa_status s = dup_field(&rec->source, source ? source : "seed",
                            strlen(source ? source : "seed"), err);
    return s == SA_OK ? sa_record_set_id(rec, err) : s;
}

static sa_status parse_alpaca(const json_t *obj, const sa_record_limits *l, const char *source,
                              sa_record *rec, sa_err *err) {
    static const char *const consumed[] = {"instruction", "input", "output", "system",
                                           "history", NULL};
    const char *ins, *inp, *outp, *sys;
    size_t ins_n, inp_n, out_n, sys_n;
    json_t *hist;
    sa_status s;
    if ((s = get_text(obj, "instruction", true, l->max_field_bytes, &ins, &ins_n, err)) ||
        (s = get_text(obj, "input", false, l->max_field_bytes, &inp, &inp_n, err)) ||
        (s = get_text(obj, "output", true, l->max_field_bytes, &outp, &out_n, err)) ||
        (s = get_text(obj, "system", false, l->max_field_bytes, &sys, &sys_n, err)) ||
        (s = sa_json_get_arr(obj, "history", false, &hist, err)))
        return s;
    if (sys && sys_n && (s = dup_field(&rec->system, sys, sys_n, err))) return s;
    json_t *rest = NULL;
    if (!hist || json_array_size(hist) == 0) {
        if (all_space(ins, ins_n))
            return sa_err_set(err, SA_ERR_FORMAT, "\"instruction\" is empty");
        if (all_space(outp, out_n)) return sa_err_set(err, SA_ERR_FORMAT, "\"output\" is empty");
        if ((s = dup_field(&rec->instruction, ins, ins_n, err)) ||
            (s = dup_field(&rec->input, inp_n ? inp : NULL, inp_n, err)) ||
            (s = dup_field(&rec->output, outp, out_n, err)))
            return s;
    } else {
        turn_list tl = {.max = l->max_turns};
        sa_strbuf user = {0};
        size_t i;
        json_t *pair;
        json_array_foreach(hist, i, pair) {
            const char *q = json_string_value(json_array_get(pair, 0));
            const char *a = json_string_value(json_array_get(pair, 1));
            if (!json_is_array(pair) || json_array_size(pair) != 2 || !q || !a) {
                s = sa_err_set(err, SA_ERR_FORMAT,
                               "history[%zu] is not a [user, assistant] pair of strings", i);
                break;
            }
            if ((s = turn_add(&tl, "user", q, json_string_length(json_array_get(pair, 0)),
                              l->max_field_bytes, err)) ||
                (s = turn_add(&tl, "assistant", a, json_string_length(json_array_get(pair, 1)),
                              l->max_field_bytes, err)))
                break;
        }
        if (s == SA_OK && (sa_strbuf_append(&user, ins, ins_n) ||
                           (inp_n && (sa_strbuf_puts(&user, "\n\n") ||
                                      sa_strbuf_append(&user, inp, inp_n)))))
            s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
        if (s == SA_OK)
            s = turn_add(&tl, "user", sa_strbuf_cstr(&user), user.len, l->max_field_bytes, err);
        if (s == SA_OK) s = turn_add(&tl, "assistant", outp, out_n, l->max_field_bytes, err);
        if (s == SA_OK) s = from_turns(&tl, rec, &rest, err);
        free(tl.v);
        sa_strbuf_free(&user);
        if (s != SA_OK) return s;
    }
    return finish_import(rec, SA_RECORD_FORMAT_ALPACA, obj, consumed, rest, source, err);
}

static const char *sharegpt_role(const char *from) {
    static const char *const users[] = {"human", "user"};
    static const char *const bots[] = {"gpt", "assistant", "chatgpt", "bard", "bing", "model"};
    for (size_t i = 0; i < 2; i++)
        if (strcmp(from, users[i]) == 0) return "user";
    for (size_t i = 0; i < 6; i++)
        if (strcmp(from, bots[i]) == 0) return "assistant";
    if (strcmp(from, "system") == 0) return "system";
    return NULL;
}

static const char *messages_role(const char *role) {
    if (strcmp(role, "user") == 0) return "user";
    if (strcmp(role, "assistant") == 0) return "assistant";
    if (strcmp(role, "system") == 0) return "system";
    return NULL;
}

/* ShareGPT and messages differ only in key names and role vocabularies. */
static sa_status parse_chat(const json_t *obj, sa_record_format fmt, const sa_record_limits *l,
                            const char *source, sa_record *rec, sa_err *err) {
    bool sg = fmt == SA_RECORD_FORMAT_SHAREGPT;
    static const char *const consumed_sg[] = {"conversations", "system", NULL};
    static const char *const consumed_msg[] = {"messages", NULL};
    const char *list_key = sg ? "conversations" : "messages";
    const char *role_key = sg ? "from" : "role";
    const char *text_key = sg ? "value" : "content";
    json_t *arr;
    sa_status s = sa_json_get_arr(obj, list_key, true, &arr, err);
    if (s != SA_OK) return s;
    if (sg) {
        const char *sys;
        size_t sys_n;
        if ((s = get_text(obj, "system", false, l->max_field_bytes, &sys, &sys_n, err))) return s;
        if (sys && sys_n && (s = dup_field(&rec->system, sys, sys_n, err))) return s;
    }
    turn_list tl = {.max = l->max_turns};
    size_t i;
    json_t *t;
    json_array_foreach(arr, i, t) {
        const char *who, *text;
        size_t who_n, text_n;
        if (!json_is_object(t)) {
            s = sa_err_set(err, SA_ERR_FORMAT, "%s[%zu] is %s, expected an object", list_key, i,
                           sa_json_type_name(t));
            break;
        }
        json_t *c = json_object_get(t, text_key);
        if (!sg && json_is_array(c)) {
            s = sa_err_set(err, SA_ERR_UNSUPPORTED,
                           "messages[%zu].content is an array (multimodal parts are not "
                           "supported)", i);
            break;
        }
        if ((s = sa_json_get_str(t, role_key, true, &who, &who_n, err)) ||
            (s = sa_json_get_str(t, text_key, true, &text, &text_n, err))) {
            sa_err_prefix(err, "%s[%zu]: ", list_key, i);
            break;
        }
        const char *role = sg ? sharegpt_role(who) : messages_role(who);
        if (!role) {
            s = sa_err_set(err, SA_ERR_UNSUPPORTED, "%s[%zu]: unsupported %s \"%.40s\"", list_key,
                           i, role_key, who);
            break;
        }
        if ((s = turn_add(&tl, role, text, text_n, l->max_field_bytes, err))) break;
    }
    json_t *rest = NULL;
    if (s == SA_OK) s = from_turns(&tl, rec, &rest, err);
    free(tl.v);
    if (s != SA_OK) return s;
    return finish_import(rec, fmt, obj, sg ? consumed_sg : consumed_msg, rest, source, err);
}

static sa_status parse_self_instruct(const json_t *obj, const sa_record_limits *l,
                                     const char *source, sa_record *rec, sa_err *err) {
    static const char *const consumed[] = {"instruction", "instances", NULL};
    const char *ins, *inp, *outp;
    size_t ins_n, inp_n, out_n;
    json_t *inst;
    sa_status s;
    if ((s = get_text(obj, "instruction", true, l->max_field_bytes, &ins, &ins_n, err)) ||
        (s = sa_json_get_arr(obj, "instances", true, &inst, err)))
        return s;
    if (json_array_size(inst) == 0)
        return sa_err_set(err, SA_ERR_FORMAT, "\"instances\" is empty");
    json_t *first = json_array_get(inst, 0);
    if ((s = get_text(first, "input", false, l->max_field_bytes, &inp, &inp_n, err)) ||
        (s = get_text(first, "output", true, l->max_field_bytes, &outp, &out_n, err))) {
        sa_err_prefix(err, "instances[0]: ");
        return s;
    }
    if (all_space(ins, ins_n)) return sa_err_set(err, SA_ERR_FORMAT, "\"instruction\" is empty");
    if (all_space(outp, out_n))
        return sa_err_set(err, SA_ERR_FORMAT, "instances[0].output is empty");
    if ((s = dup_field(&rec->instruction, ins, ins_n, err)) ||
        (s = dup_field(&rec->input, inp_n ? inp : NULL, inp_n, err)) ||
        (s = dup_field(&rec->output, outp, out_n, err)))
        return s;
    s = finish_import(rec, SA_RECORD_FORMAT_SELF_INSTRUCT, obj, consumed, NULL, source, err);
    if (s == SA_OK && json_array_size(inst) > 1) {
        /* Later instances are kept, not dropped: meta.extra.more_instances. */
        json_t *more = json_array();
        for (size_t i = 1; more && i < json_array_size(inst); i++)
            json_array_append(more, json_array_get(inst, i));
        json_t *extra = json_object_get(rec->meta, "extra");
        if (!extra) {
            extra = json_object();
            json_object_set_new(rec->meta, "extra", extra);
        }
        if (!more || !extra || json_object_set_new(extra, "more_instances", more) != 0)
            s = sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    }
    return s;
}

static const char HUMAN[] = "### Human:";
static const char ASSIST[] = "### Assistant:";

/* Next marker at or after p: returns its start (or NULL) and its role. */
static const char *next_marker(const char *p, const char **role, size_t *mlen) {
    const char *h = strstr(p, HUMAN), *a = strstr(p, ASSIST);
    if (!h && !a) return NULL;
    if (h && (!a || h < a)) {
        *role = "user";
        *mlen = sizeof HUMAN - 1;
        return h;
    }
    *role = "assistant";
    *mlen = sizeof ASSIST - 1;
    return a;
}

static sa_status parse_guanaco(const json_t *obj, const sa_record_limits *l, const char *source,
                               sa_record *rec, sa_err *err) {
    static const char *const consumed[] = {"text", NULL};
    const char *text;
    size_t n;
    sa_status s = sa_json_get_str(obj, "text", true, &text, &n, err);
    if (s != SA_OK) return s;
    const char *p = text;
    while (isspace((unsigned char)*p)) p++;
    if (strncmp(p, HUMAN, sizeof HUMAN - 1) != 0)
        return sa_err_set(err, SA_ERR_FORMAT, "\"text\" does not start with \"%s\"", HUMAN);
    turn_list tl = {.max = l->max_turns};
    const char *role;
    size_t mlen;
    const char *m = next_marker(p, &role, &mlen);
    while (m && s == SA_OK) {
        const char *body = m + mlen, *next_role;
        size_t next_len;
        const char *next = next_marker(body, &next_role, &next_len);
        const char *end = next ? next : text + n;
        while (body < end && isspace((unsigned char)*body)) body++;
        while (end > body && isspace((unsigned char)end[-1])) end--;
        s = turn_add(&tl, role, body, (size_t)(end - body), l->max_field_bytes, err);
        m = next;
        role = next_role;
        mlen = next_len;
    }
    json_t *rest = NULL;
    if (s == SA_OK) s = from_turns(&tl, rec, &rest, err);
    free(tl.v);
    if (s != SA_OK) return s;
    return finish_import(rec, SA_RECORD_FORMAT_GUANACO, obj, consumed, rest, source, err);
}

sa_status sa_record_parse(const json_t *obj, sa_record_format fmt, const sa_record_limits *lim,
                          const char *source, sa_record *out, sa_err *err) {
    sa_record_free(out);
    if (!json_is_object(obj))
        return sa_err_set(err, SA_ERR_FORMAT, "record is %s, expected an object",
                          sa_json_type_name(obj));
    sa_record_limits l = limits_of(lim);
    sa_status s;
    switch (fmt) {
    case SA_RECORD_FORMAT_OURS: return sa_record_from_json(obj, &l, out, err);
    case SA_RECORD_FORMAT_ALPACA: s = parse_alpaca(obj, &l, source, out, err); break;
    case SA_RECORD_FORMAT_SHAREGPT:
    case SA_RECORD_FORMAT_MESSAGES: s = parse_chat(obj, fmt, &l, source, out, err); break;
    case SA_RECORD_FORMAT_SELF_INSTRUCT: s = parse_self_instruct(obj, &l, source, out, err); break;
    case SA_RECORD_FORMAT_GUANACO: s = parse_guanaco(obj, &l, source, out, err); break;
    default:
        return sa_err_set(err, SA_ERR_INVALID_ARG, "record parse: no format given (%s)",
                          sa_record_format_name(fmt));
    }
    if (s != SA_OK) sa_record_free(out);
    return s;
}

sa_status sa_record_detect(const json_t *obj, sa_record_format *fmt, sa_err *err) {
    *fmt = SA_RECORD_FORMAT_AUTO;
    if (!json_is_object(obj))
        return sa_err_set(err, SA_ERR_UNSUPPORTED, "cannot detect the record format from %s",
                          sa_json_type_name(obj));
#define HAS(k) (json_object_get(obj, k) != NULL)
    if (HAS("conversations")) *fmt = SA_RECORD_FORMAT_SHAREGPT;
    else if (HAS("messages")) *fmt = SA_RECORD_FORMAT_MESSAGES;
    else if (HAS("instruction") && HAS("instances")) *fmt = SA_RECORD_FORMAT_SELF_INSTRUCT;
    else if (HAS("instruction") && HAS("output")) {
        bool only_ours = true;
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)obj, key, v) if (!is_our_key(key)) only_ours = false;
        bool marked = HAS("id") || HAS("source") || HAS("meta") || HAS("score") || HAS("reason");
        *fmt = (only_ours && marked) ? SA_RECORD_FORMAT_OURS : SA_RECORD_FORMAT_ALPACA;
    } else if (json_is_string(json_object_get(obj, "text"))) {
        const char *t = json_string_value(json_object_get(obj, "text"));
        while (isspace((unsigned char)*t)) t++;
        if (strncmp(t, HUMAN, sizeof HUMAN - 1) == 0) *fmt = SA_RECORD_FORMAT_GUANACO;
        else
            return sa_err_set(err, SA_ERR_UNSUPPORTED,
                              "objects hold only plain \"text\" (a corpus, not instruction "
                              "records; the guanaco form starts with \"### Human:\")");
    } else if (HAS("question") && HAS("topic")) {
        return sa_err_set(err, SA_ERR_UNSUPPORTED,
                          "looks like Dromedary TGRT seed questions {topic, question_type, "
                          "question}: prompts without answers are not instruction records "
                          "(use them as seed prompts)");
    } else {
        sa_strbuf keys = {0};
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)obj, key, v) {
            if (keys.len > 200) break;
            sa_strbuf_appendf(&keys, "%s%.40s", keys.len ? ", " : "", key);
        }
        sa_err_set(err, SA_ERR_UNSUPPORTED,
                   "cannot detect the record format from keys {%s}; name the format",
                   sa_strbuf_cstr(&keys));
        sa_strbuf_free(&keys);
        return SA_ERR_UNSUPPORTED;
    }
#undef HAS
    return SA_OK;
}

/* ---- reader ---- */

/* First non-whitespace byte of the file (skipping a BOM), or EOF. */
static sa_status peek_first(const char *path, int *c, sa_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return sa_err_set(err, SA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char b[3];
    if (!(fread(b, 1, 3, f) == 3 && memcmp(b, "\xEF\xBB\xBF", 3) == 0)) rewind(f);
    int ch;
    while ((ch = getc(f)) != EOF && isspace(ch)) {
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) return sa_err_set(err, SA_ERR_IO, "%s: read error", path);
    *c = ch;
    return SA_OK;
}

uint64_t sa_record_reader_bad(const sa_record_reader *r) {
    return r->bad_records + sa_jsonl_stats_bad(&r->jr.stats);
}

void sa_record_reader_close(sa_record_reader *r) {
    if (!r) return;
    if (r->jr_open) sa_jsonl_reader_close(&r->jr);
    r->jr_open = false;
    json_decref(r->pending);
    r->pending = NULL;
    free(r->path);
    free(r->source);
    r->path = r->source = NULL;
}

sa_status sa_record_reader_open(sa_record_reader *r, const char *path,
                                const sa_record_reader_opts *opts, sa_err *err) {
    memset(r, 0, sizeof *r);
    if (opts) r->opts = *opts;
    r->format = r->opts.format;
    r->path = sa_strdup(path);
    r->source = r->opts.source ? sa_strdup(r->opts.source) : NULL;
    if (!r->path || (r->opts.source && !r->source)) {
        sa_record_reader_close(r);
        return sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
    }
    int c = EOF;
    sa_status s = peek_first(path, &c, err);
    if (s != SA_OK) goto fail;
    r->is_array = c == '[';
    sa_jsonl_opts jo = {.max_line_bytes = r->opts.max_line_bytes,
                        .policy = r->opts.policy,
                        .on_bad = r->opts.on_bad,
                        .ctx = r->opts.ctx,
                        .json_array = r->is_array};
    if ((s = sa_jsonl_reader_open(&r->jr, path, &jo, err))) goto fail;
    r->jr_open = true;
    if (r->format == SA_RECORD_FORMAT_AUTO) {
        s = sa_jsonl_next(&r->jr, &r->pending, &r->pending_line, err);
        if (s == SA_ERR_EOF) s = SA_OK;
        if (s != SA_OK) goto fail;
        r->pending_index = r->jr.index;
        if (!r->pending) {
            r->format = SA_RECORD_FORMAT_OURS; /* nothing to read: any format will do */
        } else if ((s = sa_record_detect(r->pending, &r->format, err)) != SA_OK) {
            if (r->is_array)
                sa_err_prefix(err, "%s:%" PRIu64 ": index %" PRIu64 ": ", path, r->pending_line,
                              r->pending_index);
            else
                sa_err_prefix(err, "%s:%" PRIu64 ": ", path, r->pending_line);
            goto fail;
        }
    }
    return SA_OK;
fail:
    sa_record_reader_close(r);
    return s;
}

sa_status sa_record_reader_next(sa_record_reader *r, sa_record *rec, sa_err *err) {
    if (!r->path) return sa_err_set(err, SA_ERR_INVALID_ARG, "record reader is not open");
    for (;;) {
        json_t *obj = NULL;
        uint64_t line = 0, index = 0;
        sa_status s;
        if (r->pending) {
            obj = r->pending;
            line = r->pending_line;
            index = r->pending_index;
            r->pending = NULL;
        } else if ((s = sa_jsonl_next(&r->jr, &obj, &line, err)) != SA_OK) {
            return s;
        } else {
            index = r->jr.index;
        }
        sa_err e = {0};
        s = sa_record_parse(obj, r->format, &r->opts.limits, r->source, rec, &e);
        json_decref(obj);
        if (s == SA_OK) {
            r->records++;
            return SA_OK;
        }
        if (s == SA_ERR_NOMEM)
            return sa_err_set(err, s, "%s:%" PRIu64 ": %s", r->path, line, e.msg);
        r->bad_records++;
        char reason[SA_ERR_MSG_MAX + 32];
        if (r->is_array) snprintf(reason, sizeof reason, "index %" PRIu64 ": %s", index, e.msg);
        else snprintf(reason, sizeof reason, "%s", e.msg);
        if (r->opts.on_bad) r->opts.on_bad(r->opts.ctx, r->path, line, reason);
        if (r->opts.policy == SA_JSONL_FAIL)
            return sa_err_set(err, s, "%s:%" PRIu64 ": %s", r->path, line, reason);
    }
}
