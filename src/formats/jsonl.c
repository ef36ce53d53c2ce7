/* jsonl.c — the streaming JSON Lines reader and its JSON-array mode (see
 * jsonl.h).
 *
 * The reader keeps its own 64 KiB read buffer and copies at most one line
 * (or array item) into `line`; once that passes max_line_bytes it stops
 * copying and only counts bytes until the unit ends, so a hostile
 * multi-gigabyte line costs no memory. Array mode finds item boundaries
 * with a small lexical scanner (string/escape state and bracket depth) and
 * leaves the real parsing of each item to jansson. */
#include "sa/jsonl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/json.h"
#include "sa/utf8.h"

#define READ_CHUNK 65536

uint64_t sa_jsonl_stats_bad(const sa_jsonl_stats *s) {
    return s->bad_json + s->bad_utf8 + s->too_long + s->not_object + s->truncated;
}

static sa_status reader_init(sa_jsonl_reader *r, FILE *fp, bool owns, const char *name,
                             const sa_jsonl_opts *opts, sa_err *err) {
    memset(r, 0, sizeof *r);
    if (opts) r->opts = *opts;
    if (r->opts.max_line_bytes == 0) r->opts.max_line_bytes = SA_JSONL_DEFAULT_MAX_LINE;
    r->fp = fp;
    r->owns_fp = owns;
    r->path = sa_strdup(name ? name : "<stream>");
    r->buf = malloc(READ_CHUNK);
    if (!r->path || !r->buf) {
        sa_jsonl_reader_close(r);
        return sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory opening reader", name);
    }
    return SA_OK;
}

sa_status sa_jsonl_reader_open(sa_jsonl_reader *r, const char *path, const sa_jsonl_opts *opts,
                               sa_err *err) {
    memset(r, 0, sizeof *r);
    FILE *fp = fopen(path, "rb");
    if (!fp) return sa_err_set(err, SA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return reader_init(r, fp, true, path, opts, err);
}

sa_status sa_jsonl_reader_open_fp(sa_jsonl_reader *r, FILE *fp, const char *name,
                                  const sa_jsonl_opts *opts, sa_err *err) {
    memset(r, 0, sizeof *r);
    if (!fp) return sa_err_set(err, SA_ERR_INVALID_ARG, "jsonl: NULL stream");
    return reader_init(r, fp, false, name, opts, err);
}

void sa_jsonl_reader_close(sa_jsonl_reader *r) {
    if (!r) return;
    if (r->fp && r->owns_fp) fclose(r->fp);
    free(r->path);
    free(r->buf);
    sa_strbuf_free(&r->line);
    r->fp = NULL;
    r->path = NULL;
    r->buf = NULL;
}

/* Read one physical line into r->line. Sets *got false at end of input,
 * *terminated when a '\n' ended it, *skipped to the full length when it was
 * over the limit (then r->line is empty). */
static sa_status read_line(sa_jsonl_reader *r, bool *got, bool *terminated, uint64_t *skipped,
                           sa_err *err) {
    *got = false;
    *terminated = false;
    *skipped = 0;
    sa_strbuf_reset(&r->line);
    uint64_t total = 0;
    bool too_long = false;
    for (;;) {
        if (r->buf_pos == r->buf_len) {
            if (r->eof) break;
            size_t n = fread(r->buf, 1, READ_CHUNK, r->fp);
            if (n == 0) {
                if (ferror(r->fp))
                    return sa_err_set(err, SA_ERR_IO, "%s:%" PRIu64 ": read error", r->path,
                                      r->line_no + 1);
                r->eof = true;
                break;
            }
            r->buf_len = n;
            r->buf_pos = 0;
        }
        *got = true;
        const char *start = r->buf + r->buf_pos;
        size_t avail = r->buf_len - r->buf_pos;
        const char *nl = memchr(start, '\n', avail);
        size_t chunk = nl ? (size_t)(nl - start) : avail;
        total += chunk;
        if (!too_long) {
            if (total > r->opts.max_line_bytes) {
                too_long = true;
                sa_strbuf_reset(&r->line);
            } else if (sa_strbuf_append(&r->line, start, chunk) != SA_OK) {
                return sa_err_set(err, SA_ERR_NOMEM, "%s:%" PRIu64 ": out of memory", r->path,
                                  r->line_no + 1);
            }
        }
        r->buf_pos += chunk + (nl ? 1 : 0);
        r->stats.bytes += chunk + (nl ? 1 : 0);
        if (nl) {
            *terminated = true;
            break;
        }
    }
    if (too_long) *skipped = total;
    return SA_OK;
}

typedef enum bad_kind { BAD_JSON, BAD_UTF8, BAD_LONG, BAD_NOTOBJ, BAD_TRUNC } bad_kind;

/* Count, report and apply the policy to one bad line/item starting at `line`. */
static sa_status bad_unit(sa_jsonl_reader *r, bad_kind kind, uint64_t line, const char *reason,
                          sa_err *err) {
    sa_status code = SA_ERR_FORMAT;
    switch (kind) {
    case BAD_JSON: r->stats.bad_json++; break;
    case BAD_UTF8: r->stats.bad_utf8++; code = SA_ERR_UTF8; break;
    case BAD_LONG: r->stats.too_long++; code = SA_ERR_RANGE; break;
    case BAD_NOTOBJ: r->stats.not_object++; break;
    case BAD_TRUNC: r->stats.truncated++; break;
    }
    if (r->opts.on_bad) r->opts.on_bad(r->opts.ctx, r->path, line, reason);
    if (r->opts.policy == SA_JSONL_FAIL)
        return sa_err_set(err, code, "%s:%" PRIu64 ": %s", r->path, line, reason);
    return SA_OK;
}

static bool is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return false;
    return true;
}

/* Validate and parse one unit: a JSONL line (where = "", complete = it had
 * its '\n') or an array item (where = "index N: ", always complete, and
 * jansson's line is shifted to the file line). *obj is NULL when the unit
 * was bad and skipped. */
static sa_status parse_unit(sa_jsonl_reader *r, const char *p, size_t n, bool complete,
                            uint64_t line, const char *where, json_t **obj, sa_err *err) {
    char reason[400];
    const char *cut = complete ? "" : "truncated last line (no newline; ";
    const char *cut_end = complete ? "" : ")";
    bool item = r->opts.json_array;
    *obj = NULL;
    size_t bad;
    if (!sa_utf8_valid(p, n, &bad)) {
        snprintf(reason, sizeof reason, "%s%sinvalid UTF-8 at byte %zu of the %s%s", where, cut,
                 bad, item ? "item" : "line", cut_end);
        return bad_unit(r, complete ? BAD_UTF8 : BAD_TRUNC, line, reason, err);
    }
    json_error_t je;
    json_t *v = json_loadb(p, n, SA_JSON_LOAD_FLAGS, &je);
    if (!v) {
        if (item)
            snprintf(reason, sizeof reason, "%sinvalid JSON at line %" PRIu64 ", column %d: %s",
                     where, line + (uint64_t)(je.line > 0 ? je.line - 1 : 0), je.column, je.text);
        else
            snprintf(reason, sizeof reason, "%sinvalid JSON at column %d: %s%s", cut, je.column,
                     je.text, cut_end);
        return bad_unit(r, complete ? BAD_JSON : BAD_TRUNC, line, reason, err);
    }
    if (!json_is_object(v)) {
        snprintf(reason, sizeof reason, "%snot a JSON object (got %s)", where,
                 sa_json_type_name(v));
        json_decref(v);
        return bad_unit(r, BAD_NOTOBJ, line, reason, err);
    }
    r->stats.records++;
    *obj = v;
    return SA_OK;
}

static sa_status lines_next(sa_jsonl_reader *r, json_t **obj, uint64_t *line_no, sa_err *err) {
    char reason[320];
    for (;;) {
        bool got, term;
        uint64_t skipped;
        sa_status s = read_line(r, &got, &term, &skipped, err);
        if (s != SA_OK) return s;
        if (!got) return SA_ERR_EOF;
        r->line_no++;
        r->stats.lines++;
        if (line_no) *line_no = r->line_no;
        if (skipped) {
            snprintf(reason, sizeof reason,
                     "line too long (%" PRIu64 " bytes, limit %" PRIu64 "); skipped", skipped,
                     r->opts.max_line_bytes);
            s = bad_unit(r, BAD_LONG, r->line_no, reason, err);
            if (s != SA_OK) return s;
            continue;
        }
        const char *p = r->line.buf ? r->line.buf : "";
        size_t n = r->line.len;
        if (n && p[n - 1] == '\r') n--;
        if (r->line_no == 1 && n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
            p += 3;
            n -= 3;
        }
        if (is_blank(p, n)) {
            r->stats.blank++;
            continue;
        }
        s = parse_unit(r, p, n, term, r->line_no, "", obj, err);
        if (s != SA_OK || *obj) return s;
    }
}

/* ---- array mode ---- */

enum { ARR_START, ARR_FIRST, ARR_NEXT, ARR_END, ARR_DONE };

static bool json_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Make buffered bytes available: 1 = yes, 0 = end of input, -1 = error. */
static int refill(sa_jsonl_reader *r, sa_err *err) {
    if (r->buf_pos < r->buf_len) return 1;
    if (r->eof) return 0;
    size_t n = fread(r->buf, 1, READ_CHUNK, r->fp);
    if (n == 0) {
        if (ferror(r->fp)) {
            sa_err_set(err, SA_ERR_IO, "%s:%" PRIu64 ": read error", r->path, r->line_no + 1);
            return -1;
        }
        r->eof = true;
        /* A last line without '\n' still counts as a line. */
        if (r->buf_len && r->buf[r->buf_len - 1] != '\n') r->stats.lines++;
        return 0;
    }
    r->buf_len = n;
    r->buf_pos = 0;
    return 1;
}

/* Consume one byte outside items, keeping line counts. */
static void eat(sa_jsonl_reader *r) {
    if (r->buf[r->buf_pos] == '\n') {
        r->line_no++;
        r->stats.lines = r->line_no;
    }
    r->buf_pos++;
    r->stats.bytes++;
}

static sa_status array_next(sa_jsonl_reader *r, json_t **obj, uint64_t *line_no, sa_err *err) {
    char reason[320], where[48];
    for (;;) {
        int more = refill(r, err);
        if (more < 0) return SA_ERR_IO;
        if (more == 0 || r->arr_state == ARR_DONE) {
            int st = r->arr_state;
            r->arr_state = ARR_DONE;
            if (st == ARR_FIRST || st == ARR_NEXT) {
                snprintf(reason, sizeof reason,
                         "index %" PRIu64 ": truncated: the array is not closed", r->arr_items);
                sa_status s = bad_unit(r, BAD_TRUNC, r->line_no + 1, reason, err);
                if (s != SA_OK) return s;
            }
            return SA_ERR_EOF;
        }
        char c = r->buf[r->buf_pos];
        if (r->arr_state == ARR_START) {
            if (r->stats.bytes == 0 && r->buf_len - r->buf_pos >= 3 &&
                memcmp(r->buf + r->buf_pos, "\xEF\xBB\xBF", 3) == 0) {
                r->buf_pos += 3;
                r->stats.bytes += 3;
            } else if (json_ws(c)) {
                eat(r);
            } else if (c == '[') {
                eat(r);
                r->arr_state = ARR_FIRST;
            } else {
                r->arr_state = ARR_DONE;
                return sa_err_set(err, SA_ERR_FORMAT,
                                  "%s:%" PRIu64 ": expected '[' to open a JSON array, got '%c'",
                                  r->path, r->line_no + 1, c >= 32 && c < 127 ? c : '?');
            }
            continue;
        }
        if (r->arr_state == ARR_END) {
            if (json_ws(c)) {
                eat(r);
                continue;
            }
            r->arr_state = ARR_DONE;
            sa_status s = bad_unit(r, BAD_JSON, r->line_no + 1,
                                   "data after the closing ']' of the array", err);
            if (s != SA_OK) return s;
            continue;
        }
        if (json_ws(c)) {
            eat(r);
            continue;
        }
        if (c == ']') {
            eat(r);
            bool trailing_comma = r->arr_state == ARR_NEXT;
            r->arr_state = ARR_END;
            if (trailing_comma) {
                sa_status s =
                    bad_unit(r, BAD_JSON, r->line_no + 1, "trailing comma before ']'", err);
                if (s != SA_OK) return s;
            }
            continue;
        }
        /* An item starts here: scan to the ',' or ']' that ends it. */
        uint64_t item_line = r->line_no + 1, item_bytes = 0;
        r->index = r->arr_items++;
        sa_strbuf_reset(&r->line);
        int depth = 0;
        bool in_str = false, esc = false, too_long = false, ended = false;
        while (!ended) {
            int m = refill(r, err);
            if (m < 0) return SA_ERR_IO;
            if (m == 0) break;
            size_t i = r->buf_pos, span = i;
            for (; i < r->buf_len; i++) {
                char b = r->buf[i];
                if (b == '\n') r->line_no++;
                if (in_str) {
                    if (esc) esc = false;
                    else if (b == '\\') esc = true;
                    else if (b == '"') in_str = false;
                } else if (b == '"') {
                    in_str = true;
                } else if (b == '{' || b == '[') {
                    depth++;
                } else if ((b == '}' || b == ']') && depth > 0) {
                    depth--;
                } else if (depth == 0 && (b == ',' || b == ']')) {
                    ended = true;
                    r->arr_state = b == ',' ? ARR_NEXT : ARR_END;
                    break;
                }
            }
            size_t chunk = i - span;
            item_bytes += chunk;
            if (!too_long && item_bytes > r->opts.max_line_bytes) {
                too_long = true;
                sa_strbuf_reset(&r->line);
            }
            if (!too_long && sa_strbuf_append(&r->line, r->buf + span, chunk) != SA_OK)
                return sa_err_set(err, SA_ERR_NOMEM, "%s:%" PRIu64 ": out of memory", r->path,
                                  item_line);
            r->buf_pos = i + (ended ? 1 : 0);
            r->stats.bytes += chunk + (ended ? 1 : 0);
            r->stats.lines = r->line_no;
        }
        snprintf(where, sizeof where, "index %" PRIu64 ": ", r->index);
        if (!ended) {
            r->arr_state = ARR_DONE;
            snprintf(reason, sizeof reason, "%struncated: the array ends inside this item", where);
            sa_status s = bad_unit(r, BAD_TRUNC, item_line, reason, err);
            if (s != SA_OK) return s;
            return SA_ERR_EOF;
        }
        if (line_no) *line_no = item_line;
        if (too_long) {
            snprintf(reason, sizeof reason,
                     "%sitem too long (%" PRIu64 " bytes, limit %" PRIu64 "); skipped", where,
                     item_bytes, r->opts.max_line_bytes);
            sa_status s = bad_unit(r, BAD_LONG, item_line, reason, err);
            if (s != SA_OK) return s;
            continue;
        }
        sa_status s = parse_unit(r, r->line.buf ? r->line.buf : "", r->line.len, true, item_line,
                                 where, obj, err);
        if (s != SA_OK || *obj) return s;
    }
}

sa_status sa_jsonl_next(sa_jsonl_reader *r, json_t **obj, uint64_t *line_no, sa_err *err) {
    *obj = NULL;
    if (!r->fp) return sa_err_set(err, SA_ERR_INVALID_ARG, "jsonl: reader is not open");
    return r->opts.json_array ? array_next(r, obj, line_no, err) : lines_next(r, obj, line_no, err);
}

sa_status sa_jsonl_write(FILE *f, const json_t *v, sa_err *err) {
    sa_strbuf sb = {0};
    sa_status s = sa_json_dump_line(v, &sb, err);
    if (s == SA_OK && fwrite(sb.buf, 1, sb.len, f) != sb.len)
        s = sa_err_set(err, SA_ERR_IO, "jsonl write failed: %s", strerror(errno));
    sa_strbuf_free(&sb);
    return s;
}
