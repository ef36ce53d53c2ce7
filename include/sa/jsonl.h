/* jsonl.h — streaming JSON Lines reader (one JSON object a line).
 *
 * Purpose: read record files and journals of any size with bounded memory:
 * the reader holds one line at a time (at most max_line_bytes; an over-long
 * line is skipped without being buffered). Every bad line is reported with
 * its 1-based line number and a reason, counted by kind, and then skipped or
 * returned as an error according to the policy — never silently dropped.
 *
 * Line rules: lines end with '\n'; a '\r' before it is removed (CRLF files
 * are fine); a UTF-8 byte-order mark on line 1 is skipped; lines holding only
 * spaces/tabs are blank and counted, not bad. Each line must be valid UTF-8
 * and parse (duplicate keys rejected, see json.h) to a JSON object. The last
 * line may lack its '\n' when it is a complete object; when it lacks the '\n'
 * AND fails to parse (or is invalid UTF-8) it is counted as `truncated` — the
 * signature of a torn write — rather than as bad JSON.
 *
 * Array mode (opts.json_array): the input is instead ONE top-level JSON
 * array of objects ("[{...},\n{...}]", the Alpaca/ShareGPT file shape), and
 * the reader streams its items the same way: a lexical scanner finds each
 * item's bytes (strings and nesting tracked), so only one item is held at a
 * time (max_line_bytes caps an item). Items are reported by index and by the
 * line where they start: sa_jsonl_next gives that line, r->index the 0-based
 * item index, and bad-item reasons start with "index N: ". A file that ends
 * before its closing ']' counts as `truncated`; a trailing comma or data
 * after the ']' is reported as bad JSON. An item whose brackets do not
 * balance swallows the items after it until they do: they are reported as
 * one bad item, never returned. In array mode `lines` counts physical lines
 * consumed and `blank` stays 0.
 *
 * Policy: SA_JSONL_SKIP reports and skips bad lines; SA_JSONL_FAIL makes
 * sa_jsonl_next return the error ("path:line: reason"). Either way on_bad is
 * called first, and after a FAIL error the reader stays usable: the next call
 * continues after the bad line.
 *
 * Ownership: the reader is a caller-owned struct; sa_jsonl_reader_close frees
 * what open allocated and closes the file (not a FILE* passed to open_fp).
 * Each object from sa_jsonl_next is a new reference: json_decref it.
 *
 * Usage:
 *     sa_jsonl_reader r;
 *     sa_jsonl_opts o = {.policy = SA_JSONL_SKIP, .on_bad = report, .ctx = log};
 *     if (sa_jsonl_reader_open(&r, "data.jsonl", &o, &err) != SA_OK) return err.code;
 *     json_t *obj; uint64_t line; sa_status s;
 *     while ((s = sa_jsonl_next(&r, &obj, &line, &err)) == SA_OK) { use(obj); json_decref(obj); }
 *     if (s != SA_ERR_EOF) fail(err.msg);
 *     printf("%llu bad\n", (unsigned long long)sa_jsonl_stats_bad(&r.stats));
 *     sa_jsonl_reader_close(&r);
 */
#ifndef SA_JSONL_H
#define SA_JSONL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sa/status.h"
#include "sa/strbuf.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SA_JSONL_DEFAULT_MAX_LINE ((uint64_t)16 << 20) /* 16 MiB */

typedef enum sa_jsonl_policy {
    SA_JSONL_SKIP = 0, /* report, count, go on */
    SA_JSONL_FAIL = 1  /* report, count, return the error */
} sa_jsonl_policy;

/* Called once per bad line; reason is a short phrase such as
 * "invalid JSON at column 7: unexpected token" (valid only during the call). */
typedef void (*sa_jsonl_bad_fn)(void *ctx, const char *path, uint64_t line, const char *reason);

typedef struct sa_jsonl_opts {
    uint64_t max_line_bytes; /* 0 = SA_JSONL_DEFAULT_MAX_LINE; excludes the '\n' */
    sa_jsonl_policy policy;
    sa_jsonl_bad_fn on_bad; /* may be NULL */
    void *ctx;              /* passed to on_bad */
    bool json_array;        /* stream the items of one top-level JSON array */
} sa_jsonl_opts;

typedef struct sa_jsonl_stats {
    uint64_t lines;      /* physical lines consumed so far (blank and bad included) */
    uint64_t records;    /* objects returned by sa_jsonl_next */
    uint64_t blank;      /* empty or whitespace-only lines (not errors) */
    uint64_t bad_json;   /* not parsable JSON (includes duplicate keys) */
    uint64_t bad_utf8;   /* invalid UTF-8 */
    uint64_t too_long;   /* longer than max_line_bytes (skipped unbuffered) */
    uint64_t not_object; /* valid JSON but not an object */
    uint64_t truncated;  /* unterminated last line that did not parse */
    uint64_t bytes;      /* bytes consumed */
} sa_jsonl_stats;

/* Sum of the five bad-line counters. */
uint64_t sa_jsonl_stats_bad(const sa_jsonl_stats *s);

typedef struct sa_jsonl_reader {
    sa_jsonl_stats stats; /* public, read-only */
    uint64_t index;       /* array mode: 0-based index of the last item read */
    /* private */
    FILE *fp;
    bool owns_fp;
    bool eof;
    char *path;
    sa_jsonl_opts opts;
    char *buf;
    size_t buf_len, buf_pos;
    sa_strbuf line;
    uint64_t line_no;
    int arr_state;        /* array mode scanner state */
    uint64_t arr_items;   /* items started so far */
} sa_jsonl_reader;

/* Open path for reading; opts may be NULL (defaults, SKIP policy). */
sa_status sa_jsonl_reader_open(sa_jsonl_reader *r, const char *path, const sa_jsonl_opts *opts,
                               sa_err *err);
/* Read from an already open stream (e.g. stdin); name is used in messages
 * ("<stdin>"). The stream is not closed by sa_jsonl_reader_close. */
sa_status sa_jsonl_reader_open_fp(sa_jsonl_reader *r, FILE *fp, const char *name,
                                  const sa_jsonl_opts *opts, sa_err *err);
/* Next object (new reference) and its line number (line_no may be NULL).
 * Returns SA_OK, SA_ERR_EOF at the end, SA_ERR_IO on a read error, or under
 * SA_JSONL_FAIL the bad line's error: SA_ERR_FORMAT (bad JSON, not an
 * object, truncated), SA_ERR_UTF8 or SA_ERR_RANGE (too long). */
sa_status sa_jsonl_next(sa_jsonl_reader *r, json_t **obj, uint64_t *line_no, sa_err *err);
void sa_jsonl_reader_close(sa_jsonl_reader *r);

/* Write v as one canonical line (json.h) to f. */
sa_status sa_jsonl_write(FILE *f, const json_t *v, sa_err *err);

#ifdef __cplusplus
}
#endif
#endif
