/* record.h — instruction records: our schema, imports and exports.
 *
 * Purpose: every pipeline stage reads and writes `sa_record`s (DESIGN.md
 * 2.2). This module converts between the record and the JSON shapes people
 * actually have: our JSONL, Alpaca (JSON array or JSONL, with LIMA-style
 * `history` and optional `system`), ShareGPT ({conversations:[{from,value}]}),
 * OpenAI messages ({messages:[{role,content}]}), Self-Instruct seed tasks
 * (instruction + instances[0] input/output) and the OpenAssistant-guanaco text
 * form ("### Human: ... ### Assistant: ...").
 *
 * Our schema (one JSON object a line, keys sorted when written, json.h):
 *   id           string, 16 lowercase hex digits (see sa_record_compute_id)
 *   instruction  string, non-empty
 *   input        string, optional ("" is normalised to absent)
 *   output       string, non-empty
 *   source       string, optional ("seed", "augmented", "self_instruct", ...)
 *   system       string, optional per-example system sentence ("" = absent)
 *   score        number, optional;  reason  string, optional
 *   meta         object, optional (free-form: model, iteration, settings...)
 * Field order on disk is alphabetical (canonical, see json.h).
 * The schema is closed: an unknown top-level key makes the record bad
 * ("unknown key \"category\"; put extra data in meta"), so typos never pass
 * silently. A present id is kept as written (ids name records; they are not
 * re-verified); a missing id is computed. Foreign formats are open: their
 * unknown keys (a ShareGPT "id", Self-Instruct "name"/"is_classification"...)
 * are kept verbatim in meta.extra.
 *
 * Imports always set meta.format (the input format's name) and, for
 * multi-turn conversations, meta.turns. A conversation becomes ONE record:
 * a leading system turn becomes `system`; the first (user, assistant) pair
 * becomes instruction/output; every later turn is kept, in order, in
 * meta.turns = [{"role": "user"|"assistant"|"system", "content": "..."}...].
 * (For LIMA-style Alpaca, `history` pairs come first, then instruction/input
 * as the last user turn.) Exporters rebuild the whole conversation from
 * meta.turns, so multi-turn data survives ours -> ShareGPT/messages -> ours.
 * Imported records get source = opts.source, or "seed" when that is NULL.
 *
 * Input vs conversations: ShareGPT and messages have no `input` field, so the
 * exported user turn is instruction + "\n\n" + input, and reading it back
 * gives that text as the instruction with no input. Alpaca keeps input
 * exactly for single-turn records; a multi-turn record is written LIMA-style
 * (earlier exchanges in `history`, input joined to the first user turn the
 * same way), and one whose turns do not alternate user/assistant or that
 * ends on a user turn cannot be written as Alpaca (SA_ERR_UNSUPPORTED).
 * ShareGPT export writes system turns as {"from": "system"} and keeps the
 * record id as "id"; messages export writes only "messages".
 *
 * Reader: sa_record_reader streams JSONL line by line, and a JSON array
 * (first non-space byte '[') item by item (jsonl.h array mode): memory holds
 * one line/item, never the file. Every bad line, item or record is reported
 * through on_bad with the 1-based line where it starts (for arrays the
 * reason begins "index N: ", the 0-based item index), counted, and skipped
 * or returned per the policy ("path:line: reason"). Nothing is dropped
 * silently. Format AUTO looks at the first object's keys; input that
 * is clearly not instruction data (Dromedary TGRT seed questions
 * {topic, question_type, question}: prompts with no answers; plain {text}
 * corpora) is refused at open with SA_ERR_UNSUPPORTED and a message saying
 * what it looks like.
 *
 * Limits (sa_record_limits, 0 = default): each text field and each turn is at
 * most max_field_bytes (1 MiB); a conversation has at most max_turns (1024)
 * turns. JSON nesting is capped by jansson (2048).
 *
 * Ownership: sa_record owns its strings (malloc'd) and one reference to meta;
 * sa_record_free releases them and re-initialises. sa_record_to_json and
 * sa_record_export return new references (json_decref). The reader owns its
 * file; sa_record_reader_next overwrites (after freeing) the record passed in.
 *
 * Usage:
 *     sa_record_reader rd;
 *     sa_record_reader_opts o = {.format = SA_RECORD_FORMAT_AUTO, .on_bad = report};
 *     if (sa_record_reader_open(&rd, "lima.json", &o, &err) != SA_OK) return err.code;
 *     sa_record rec; sa_record_init(&rec);
 *     sa_strbuf out = {0};
 *     while ((s = sa_record_reader_next(&rd, &rec, &err)) == SA_OK)
 *         sa_record_write(&out, &rec, SA_RECORD_FORMAT_OURS, &err);
 *     sa_record_free(&rec);
 *     sa_record_reader_close(&rd);
 */
#ifndef SA_RECORD_H
#define SA_RECORD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sa/jsonl.h"
#include "sa/status.h"
#include "sa/strbuf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_record {
    char *id;          /* 16 hex digits + NUL, or NULL until computed */
    char *instruction;
    char *input;       /* NULL when absent */
    char *output;
    char *source;      /* NULL when absent */
    char *system;      /* NULL when absent */
    bool has_score;
    double score;
    char *reason;      /* NULL when absent */
    json_t *meta;      /* object or NULL */
} sa_record;

typedef enum sa_record_format {
    SA_RECORD_FORMAT_AUTO = 0,      /* reader only: detect */
    SA_RECORD_FORMAT_OURS,          /* "ours" */
    SA_RECORD_FORMAT_ALPACA,        /* "alpaca" */
    SA_RECORD_FORMAT_SHAREGPT,      /* "sharegpt" */
    SA_RECORD_FORMAT_MESSAGES,      /* "messages" */
    SA_RECORD_FORMAT_SELF_INSTRUCT, /* "self-instruct" (read only) */
    SA_RECORD_FORMAT_GUANACO,       /* "guanaco" (read only) */
    SA_RECORD_FORMAT_COUNT
} sa_record_format;

/* "ours", "alpaca", ... ("auto" for AUTO). */
const char *sa_record_format_name(sa_record_format f);
/* Parse a name as printed by sa_record_format_name; SA_ERR_INVALID_ARG otherwise. */
sa_status sa_record_format_parse(const char *name, sa_record_format *out, sa_err *err);

typedef struct sa_record_limits {
    size_t max_field_bytes; /* 0 = SA_RECORD_DEFAULT_MAX_FIELD */
    uint32_t max_turns;     /* 0 = SA_RECORD_DEFAULT_MAX_TURNS */
} sa_record_limits;
#define SA_RECORD_DEFAULT_MAX_FIELD ((size_t)1 << 20)
#define SA_RECORD_DEFAULT_MAX_TURNS 1024u

void sa_record_init(sa_record *r);
void sa_record_free(sa_record *r);

/* The content id: XXH3-64 (seed 0) over the tag "sa.record.v1" and then,
 * for instruction, input (absent = empty) and output in that order, the
 * length as 8 little-endian bytes followed by the bytes. Length prefixes make
 * the encoding unambiguous. Written as 16 lowercase hex digits. Other fields
 * (system, source, score, meta) do not change the id. */
void sa_record_compute_id(const sa_record *r, char out[17]);
/* Compute the id into r->id (replacing any). */
sa_status sa_record_set_id(sa_record *r, sa_err *err);

/* Our schema. to_json computes the id when r->id is NULL (without storing
 * it) and fails on a missing instruction/output or a non-finite score. */
sa_status sa_record_to_json(const sa_record *r, json_t **out, sa_err *err);
/* Parse our schema (lim may be NULL); `out` is freed first. Errors name the
 * key and problem; the caller adds the location. */
sa_status sa_record_from_json(const json_t *obj, const sa_record_limits *lim, sa_record *out,
                              sa_err *err);
/* Parse one object of any format (not AUTO). source: for imports (NULL = "seed"). */
sa_status sa_record_parse(const json_t *obj, sa_record_format fmt, const sa_record_limits *lim,
                          const char *source, sa_record *out, sa_err *err);
/* Guess the format from one object's keys. SA_ERR_UNSUPPORTED with an
 * explanation when it is not instruction data or not recognised. */
sa_status sa_record_detect(const json_t *obj, sa_record_format *fmt, sa_err *err);

/* ---- writers ---- */

/* Build r as an object of format fmt (OURS, ALPACA, SHAREGPT, MESSAGES). */
sa_status sa_record_export(const sa_record *r, sa_record_format fmt, json_t **out, sa_err *err);
/* Append r as one canonical JSONL line in format fmt. */
sa_status sa_record_write(sa_strbuf *out, const sa_record *r, sa_record_format fmt, sa_err *err);
sa_status sa_record_fwrite(FILE *f, const sa_record *r, sa_record_format fmt, sa_err *err);

/* A JSON array file ("[\n" item ",\n" item ... "\n]\n"), one item a line. */
typedef struct sa_record_array_writer {
    sa_record_format fmt;
    uint64_t count;
} sa_record_array_writer;
sa_status sa_record_array_begin(sa_record_array_writer *w, sa_strbuf *out, sa_record_format fmt,
                                sa_err *err);
sa_status sa_record_array_add(sa_record_array_writer *w, sa_strbuf *out, const sa_record *r,
                              sa_err *err);
sa_status sa_record_array_end(sa_record_array_writer *w, sa_strbuf *out, sa_err *err);

/* ---- streaming reader ---- */

typedef struct sa_record_reader_opts {
    sa_record_format format;  /* AUTO = detect from the first object */
    sa_jsonl_policy policy;   /* SKIP (default) or FAIL */
    uint64_t max_line_bytes;  /* a JSONL line or array item; 0 = SA_JSONL_DEFAULT_MAX_LINE */
    sa_record_limits limits;
    const char *source;       /* source for imported records; NULL = "seed" */
    sa_jsonl_bad_fn on_bad;   /* every bad line/record; may be NULL */
    void *ctx;
} sa_record_reader_opts;

typedef struct sa_record_reader {
    sa_record_format format; /* detected or given; public */
    bool is_array;           /* the input is a JSON array; public */
    uint64_t records;        /* records returned; public */
    uint64_t bad_records;    /* valid JSON objects that failed the schema; public */
    sa_jsonl_reader jr;      /* the input; jr.stats has the line/item counters */
    /* private */
    sa_record_reader_opts opts;
    char *path;
    char *source;
    json_t *pending;         /* the first object, read for format detection */
    uint64_t pending_line, pending_index;
    bool jr_open;
} sa_record_reader;

/* Open path; opts may be NULL (AUTO, SKIP). */
sa_status sa_record_reader_open(sa_record_reader *r, const char *path,
                                const sa_record_reader_opts *opts, sa_err *err);
/* SA_OK (rec filled), SA_ERR_EOF, or an error (FAIL policy, or I/O). */
sa_status sa_record_reader_next(sa_record_reader *r, sa_record *rec, sa_err *err);
/* Bad lines plus bad records so far. */
uint64_t sa_record_reader_bad(const sa_record_reader *r);
void sa_record_reader_close(sa_record_reader *r);

#ifdef __cplusplus
}
#endif
#endif
