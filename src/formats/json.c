/* json.c — strict parsing, typed getters and canonical dumping over jansson
 * (see json.h). */
#include "sa/json.h"

#include <stdlib.h>
#include <string.h>

#include "sa/fileio.h"
#include "sa/mmap.h"
#include "sa/utf8.h"

const char *sa_json_type_name(const json_t *v) {
    if (!v) return "missing";
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "unknown";
}

/* 1-based line and column (in bytes) of byte offset off in buf. */
static void line_col(const char *buf, size_t off, size_t *line, size_t *col) {
    size_t l = 1, start = 0;
    for (size_t i = 0; i < off; i++)
        if (buf[i] == '\n') {
            l++;
            start = i + 1;
        }
    *line = l;
    *col = off - start + 1;
}

sa_status sa_json_parse(const char *buf, size_t len, const char *source_name, json_t **out,
                        sa_err *err) {
    const char *name = source_name ? source_name : "<json>";
    *out = NULL;
    if (!buf && len) return sa_err_set(err, SA_ERR_INVALID_ARG, "%s: NULL buffer", name);
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
        buf += 3;
        len -= 3;
    }
    size_t bad;
    if (!sa_utf8_valid(buf, len, &bad)) {
        size_t line, col;
        line_col(buf, bad, &line, &col);
        return sa_err_set(err, SA_ERR_UTF8, "%s:%zu:%zu: invalid UTF-8 (byte offset %zu)", name,
                          line, col, bad);
    }
    json_error_t je;
    json_t *v = json_loadb(buf ? buf : "", len, SA_JSON_LOAD_FLAGS, &je);
    if (!v)
        return sa_err_set(err, SA_ERR_FORMAT, "%s:%d:%d: %s", name, je.line, je.column, je.text);
    *out = v;
    return SA_OK;
}

sa_status sa_json_load_file(const char *path, size_t max_bytes, json_t **out, sa_err *err) {
    char *data;
    size_t n;
    *out = NULL;
    sa_status s = sa_file_read_all(path, max_bytes, &data, &n, err);
    if (s != SA_OK) return s;
    s = sa_json_parse(data, n, path, out, err);
    free(data);
    return s;
}

/* Shared front half of every getter: the value, or NULL when optional and
 * absent/null; an error for a missing required key or a non-object. */
static sa_status lookup(const json_t *obj, const char *key, bool required, json_t **v,
                        sa_err *err) {
    *v = NULL;
    if (!obj || !json_is_object(obj))
        return sa_err_set(err, SA_ERR_FORMAT, "expected an object holding \"%s\", got %s", key,
                          sa_json_type_name(obj));
    json_t *x = json_object_get(obj, key);
    if (!x || json_is_null(x)) {
        if (required)
            return sa_err_set(err, SA_ERR_NOT_FOUND, "missing required key \"%s\"%s", key,
                              x ? " (it is null)" : "");
        return SA_OK;
    }
    *v = x;
    return SA_OK;
}

static sa_status wrong_type(const char *key, const json_t *v, const char *want, sa_err *err) {
    return sa_err_set(err, SA_ERR_FORMAT, "key \"%s\" is %s, expected %s", key,
                      sa_json_type_name(v), want);
}

sa_status sa_json_get_str(const json_t *obj, const char *key, bool required, const char **out,
                          size_t *len, sa_err *err) {
    json_t *v;
    *out = NULL;
    if (len) *len = 0;
    sa_status s = lookup(obj, key, required, &v, err);
    if (s != SA_OK || !v) return s;
    if (!json_is_string(v)) return wrong_type(key, v, "a string", err);
    *out = json_string_value(v);
    if (len) *len = json_string_length(v);
    return SA_OK;
}

sa_status sa_json_get_int(const json_t *obj, const char *key, bool required, int64_t *out,
                          bool *present, sa_err *err) {
    json_t *v;
    if (present) *present = false;
    sa_status s = lookup(obj, key, required, &v, err);
    if (s != SA_OK || !v) return s;
    if (!json_is_integer(v)) return wrong_type(key, v, "an integer", err);
    *out = (int64_t)json_integer_value(v);
    if (present) *present = true;
    return SA_OK;
}

sa_status sa_json_get_num(const json_t *obj, const char *key, bool required, double *out,
                          bool *present, sa_err *err) {
    json_t *v;
    if (present) *present = false;
    sa_status s = lookup(obj, key, required, &v, err);
    if (s != SA_OK || !v) return s;
    if (!json_is_number(v)) return wrong_type(key, v, "a number", err);
    *out = json_number_value(v);
    if (present) *present = true;
    return SA_OK;
}

sa_status sa_json_get_bool(const json_t *obj, const char *key, bool required, bool *out,
                           bool *present, sa_err *err) {
    json_t *v;
    if (present) *present = false;
    sa_status s = lookup(obj, key, required, &v, err);
    if (s != SA_OK || !v) return s;
    if (!json_is_boolean(v)) return wrong_type(key, v, "a boolean", err);
    *out = json_is_true(v);
    if (present) *present = true;
    return SA_OK;
}

sa_status sa_json_get_obj(const json_t *obj, const char *key, bool required, json_t **out,
                          sa_err *err) {
    json_t *v;
    *out = NULL;
    sa_status s = lookup(obj, key, required, &v, err);
    if (s != SA_OK || !v) return s;
    if (!json_is_object(v)) return wrong_type(key, v, "an object", err);
    *out = v;
    return SA_OK;
}

sa_status sa_json_get_arr(const json_t *obj, const char *key, bool required, json_t **out,
                          sa_err *err) {
    json_t *v;
    *out = NULL;
    sa_status s = lookup(obj, key, required, &v, err);
    if (s != SA_OK || !v) return s;
    if (!json_is_array(v)) return wrong_type(key, v, "an array", err);
    *out = v;
    return SA_OK;
}

typedef struct dump_ctx {
    sa_strbuf *sb;
    int failed;
} dump_ctx;

static int dump_cb(const char *buf, size_t size, void *data) {
    dump_ctx *c = data;
    if (sa_strbuf_append(c->sb, buf, size) != SA_OK) {
        c->failed = 1;
        return -1;
    }
    return 0;
}

sa_status sa_json_dump_line(const json_t *v, sa_strbuf *out, sa_err *err) {
    if (!v) return sa_err_set(err, SA_ERR_INVALID_ARG, "json dump: NULL value");
    size_t old = out->len;
    dump_ctx c = {out, 0};
    int rc = json_dump_callback(v, dump_cb, &c, SA_JSON_DUMP_FLAGS);
    if (rc == 0 && sa_strbuf_putc(out, '\n') != SA_OK) c.failed = 1;
    if (rc != 0 || c.failed) {
        if (out->buf) sa_strbuf_truncate(out, old);
        if (c.failed) return sa_err_set(err, SA_ERR_NOMEM, "json dump: out of memory");
        return sa_err_set(err, SA_ERR_INVALID_ARG,
                          "json dump: value cannot be encoded (NaN/infinity or invalid UTF-8)");
    }
    return SA_OK;
}

sa_status sa_json_write_pretty(const char *path, const json_t *v, sa_err *err) {
    if (!v) return sa_err_set(err, SA_ERR_INVALID_ARG, "%s: json write: NULL value", path);
    char *text = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!text)
        return sa_err_set(err, SA_ERR_INVALID_ARG,
                          "%s: json write: value cannot be encoded (NaN/infinity or invalid UTF-8) or out of memory",
                          path);
    size_t n = strlen(text);
    sa_strbuf sb = {0};
    sa_status s = sa_strbuf_append(&sb, text, n);
    if (!s) s = sa_strbuf_putc(&sb, '\n');
    free(text);
    if (s) {
        sa_strbuf_free(&sb);
        return sa_err_set(err, SA_ERR_NOMEM, "%s: json write: out of memory", path);
    }
    s = sa_file_write_atomic(path, sb.buf, sb.len, err);
    sa_strbuf_free(&sb);
    return s;
}
