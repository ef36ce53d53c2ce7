/* json.h — a thin, strict layer over jansson for every JSON document we read
 * or write.
 *
 * Purpose: parse hostile JSON with errors that say `name:line:col: problem`
 * (UTF-8 is validated before jansson sees the bytes, duplicate object keys
 * are rejected, nesting is capped by jansson at JSON_PARSER_MAX_DEPTH = 2048),
 * read typed fields with messages that name the key and the type found, and
 * serialise values canonically on one line.
 *
 * Canonical output: sa_json_dump_line uses JSON_COMPACT | JSON_SORT_KEYS |
 * JSON_ENCODE_ANY, UTF-8 (not \u-escaped), no trailing spaces. Sorting the
 * keys makes the bytes depend only on the value, not on the order in which a
 * program happened to insert keys, so a record serialises byte-identically
 * across runs, machines and code paths (and read -> write is idempotent).
 * jansson escapes control characters, so the text never contains a raw '\n'.
 *
 * Ownership: sa_json_parse / sa_json_load_file return a new reference the
 * caller releases with json_decref(). The getters return borrowed pointers
 * that live as long as the containing object.
 *
 * Getter conventions: `required` false means a missing key or a JSON null
 * yields SA_OK with *out set to NULL / left unchanged (for scalars) and
 * *present (where offered) false. A missing required key is SA_ERR_NOT_FOUND;
 * a value of the wrong type is SA_ERR_FORMAT ("key \"output\" is a number,
 * expected a string"). Messages carry no file name: callers prefix
 * their location with sa_err_prefix.
 *
 * Usage:
 *     json_t *doc;
 *     if (sa_json_load_file("config.json", 1 << 20, &doc, &err) != SA_OK) return err.code;
 *     const char *name; size_t n;
 *     if (sa_json_get_str(doc, "name", true, &name, &n, &err) != SA_OK) ...;
 *     sa_strbuf line = {0};
 *     sa_json_dump_line(doc, &line, &err);   // "{...}\n"
 *     json_decref(doc);
 */
#ifndef SA_JSON_H
#define SA_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sa/status.h"
#include "sa/strbuf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Flags every reader uses: duplicate keys are an error, any top-level value
 * is accepted (callers check the type), NUL characters in strings (\u0000)
 * are rejected so strings are safe as C strings. */
#define SA_JSON_LOAD_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)
#define SA_JSON_DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)

/* Parse buf[0..len) (need not be NUL-terminated) as one JSON value. A leading
 * UTF-8 byte-order mark is skipped. source_name (may be NULL: "<json>") names
 * the input in errors: "name:line:col: invalid UTF-8 (byte offset N)",
 * "name:line:col: duplicate object key". Returns SA_ERR_UTF8 or
 * SA_ERR_FORMAT on bad input. */
sa_status sa_json_parse(const char *buf, size_t len, const char *source_name, json_t **out,
                        sa_err *err);

/* Read and parse a whole file, refusing files over max_bytes (0 = no cap). */
sa_status sa_json_load_file(const char *path, size_t max_bytes, json_t **out, sa_err *err);

/* Typed getters (see the conventions above). obj must be a JSON object
 * (SA_ERR_FORMAT otherwise). Strings are UTF-8 without NUL bytes when they
 * came from sa_json_parse; len (may be NULL) receives the byte length. */
sa_status sa_json_get_str(const json_t *obj, const char *key, bool required, const char **out,
                          size_t *len, sa_err *err);
/* Integers only (3.0 is rejected: "is a real, expected an integer"). */
sa_status sa_json_get_int(const json_t *obj, const char *key, bool required, int64_t *out,
                          bool *present, sa_err *err);
/* Integer or real, converted to double. */
sa_status sa_json_get_num(const json_t *obj, const char *key, bool required, double *out,
                          bool *present, sa_err *err);
sa_status sa_json_get_bool(const json_t *obj, const char *key, bool required, bool *out,
                           bool *present, sa_err *err);
/* Borrowed object / array, or NULL when optional and absent. */
sa_status sa_json_get_obj(const json_t *obj, const char *key, bool required, json_t **out,
                          sa_err *err);
sa_status sa_json_get_arr(const json_t *obj, const char *key, bool required, json_t **out,
                          sa_err *err);

/* Short name of a value's type for messages: "object", "string", "null"... */
const char *sa_json_type_name(const json_t *v);

/* Append the canonical one-line serialisation of v plus a '\n' to out. Fails
 * (SA_ERR_INVALID_ARG) on values jansson cannot encode (NaN, infinities,
 * invalid UTF-8 in strings built with json_stringn_nocheck); out then keeps
 * its previous contents. */
sa_status sa_json_dump_line(const json_t *v, sa_strbuf *out, sa_err *err);

/* Write v to path as indented JSON with sorted keys and a final newline,
 * atomically (fileio.h): for human-read files (manifest.json, stats.json).
 * Fails like sa_json_dump_line on unencodable values, or with SA_ERR_IO. */
sa_status sa_json_write_pretty(const char *path, const json_t *v, sa_err *err);

#ifdef __cplusplus
}
#endif
#endif
