/* sft.c — SFT data: instruction records and plain text -> token sequences
 * with per-token loss flags, counted and reported (sft.h).
 *
 * Records are read with the JSONL reader and record.h's parser directly
 * (not sa_record_reader) because every example must remember the line where
 * its record starts, and array items can span many lines.
 *
 * All tokens live in one pool (d->ids / d->loss) grown geometrically; per
 * record the only work memory is a handful of scratch buffers reused across
 * the whole file.
 */
#include "sa/sft.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/fileio.h"
#include "sa/hash.h"
#include "sa/jsonl.h"
#include "sa/record.h"

/* Hash seeds that keep the key spaces of the three example kinds apart. */
#define KEY_SEED_FORWARD 0x7366742e66776400ULL /* "sft.fwd" */
#define KEY_SEED_REVERSE 0x7366742e72657600ULL /* "sft.rev" */
#define KEY_SEED_TEXT 0x7366742e74787400ULL    /* "sft.txt" */

void sa_sft_data_init(sa_sft_data *d) { memset(d, 0, sizeof *d); }

void sa_sft_data_free(sa_sft_data *d) {
    if (!d) return;
    free(d->ids);
    free(d->loss);
    free(d->ex);
    for (size_t i = 0; i < d->n_files; i++) free(d->files[i]);
    free(d->files);
    memset(d, 0, sizeof *d);
}

sa_status sa_sft_stats_format(const sa_sft_stats *s, sa_strbuf *out) {
    return sa_strbuf_appendf(out,
                             "%" PRId64 " records -> %" PRId64 " examples (%" PRId64 " tokens, %" PRId64
                             " trained, longest %" PRId32 "); skipped: %" PRId64 " bad, %" PRId64
                             " empty response, %" PRId64 " too long; %" PRId64 " truncated",
                             s->records, s->examples, s->tokens, s->loss_tokens, s->max_len, s->bad,
                             s->empty_response, s->too_long, s->truncated);
}

/* ---- pool ------------------------------------------------------------------------- */

/* Room for `extra` more tokens in ids and loss (same capacity for both). */
static sa_status pool_reserve(sa_sft_data *d, size_t extra, sa_err *err) {
    size_t need;
    if (!sa_size_add((size_t)d->n_tok, extra, &need) || need > (size_t)INT64_MAX)
        return sa_err_set(err, SA_ERR_NOMEM, "sft: token pool size overflows");
    if (need <= (size_t)d->cap_tok) return SA_OK;
    size_t cap = d->cap_tok ? (size_t)d->cap_tok : 4096;
    while (cap < need) cap = cap > (size_t)INT64_MAX / 2 ? need : cap * 2;
    int32_t *ids = sa_realloc_array(d->ids, cap, sizeof *ids);
    if (!ids) return sa_err_set(err, SA_ERR_NOMEM, "sft: token pool of %zu tokens", cap);
    d->ids = ids; /* grown; cap_tok only moves once both arrays have the room */
    uint8_t *loss = sa_realloc_array(d->loss, cap, 1);
    if (!loss) return sa_err_set(err, SA_ERR_NOMEM, "sft: loss flags of %zu tokens", cap);
    d->loss = loss;
    d->cap_tok = (int64_t)cap;
    return SA_OK;
}

static sa_status push_example(sa_sft_data *d, const sa_sft_example *e, sa_err *err) {
    if (d->n_ex >= (size_t)UINT32_MAX - 1) /* indices are uint32_t, UINT32_MAX = SA_SFT_NONE */
        return sa_err_set(err, SA_ERR_RANGE, "sft: more than %u examples", UINT32_MAX - 2);
    if (!sa_grow((void **)&d->ex, &d->cap_ex, d->n_ex + 1, sizeof *d->ex))
        return sa_err_set(err, SA_ERR_NOMEM, "sft: example table");
    d->ex[d->n_ex++] = *e;
    d->stats.examples++;
    d->stats.tokens += e->n;
    d->stats.loss_tokens += e->n_loss;
    if (e->n > d->stats.max_len) d->stats.max_len = e->n;
    return SA_OK;
}

static sa_status push_file(sa_sft_data *d, const char *path, uint32_t *idx, sa_err *err) {
    if (d->n_files >= UINT32_MAX) return sa_err_set(err, SA_ERR_RANGE, "sft: too many files");
    char **f = sa_realloc_array(d->files, d->n_files + 1, sizeof *f);
    if (!f) return sa_err_set(err, SA_ERR_NOMEM, "sft: file list");
    d->files = f;
    if (!(f[d->n_files] = sa_strdup(path))) return sa_err_set(err, SA_ERR_NOMEM, "sft: file list");
    *idx = (uint32_t)d->n_files++;
    return SA_OK;
}

/* ---- one load (a file) ------------------------------------------------------------- */

typedef enum drop_kind { DROP_BAD, DROP_EMPTY, DROP_TOO_LONG, DROP_TRUNCATED } drop_kind;

typedef struct load {
    sa_sft_data *d;
    const sa_sft_opts *o;
    const char *path;
    uint32_t file;
    bool is_array;
    /* scratch, reused for every record */
    sa_tokens ids;
    sa_chat_spans spans;
    uint8_t *flags;
    size_t cap_flags;
    sa_strbuf joined, where, reason;
    sa_chat_msg *msgs;
    size_t n_msgs, cap_msgs;
} load;

static void load_free(load *L) {
    sa_tokens_free(&L->ids);
    sa_chat_spans_free(&L->spans);
    free(L->flags);
    sa_strbuf_free(&L->joined);
    sa_strbuf_free(&L->where);
    sa_strbuf_free(&L->reason);
    free(L->msgs);
}

static void call_on_bad(load *L, uint64_t line, const char *reason) {
    if (!L->o->on_bad) return;
    sa_strbuf_reset(&L->where);
    if (sa_strbuf_appendf(&L->where, "%s:%" PRIu64, L->path, line) != SA_OK) return;
    L->o->on_bad(L->o->ud, sa_strbuf_cstr(&L->where), reason);
}

/* Count and report a record that yields no example (or was truncated).
 * Returns an error only under fail_on_bad, and never for a truncation. */
static sa_status drop(load *L, drop_kind kind, uint64_t line, uint64_t index, sa_err *err,
                      const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static sa_status drop(load *L, drop_kind kind, uint64_t line, uint64_t index, sa_err *err,
                      const char *fmt, ...) {
    sa_sft_stats *st = &L->d->stats;
    switch (kind) {
    case DROP_BAD: st->bad++; break;
    case DROP_EMPTY: st->empty_response++; break;
    case DROP_TOO_LONG: st->too_long++; break;
    case DROP_TRUNCATED: st->truncated++; break;
    }
    sa_strbuf_reset(&L->reason);
    if (L->is_array) sa_strbuf_appendf(&L->reason, "index %" PRIu64 ": ", index);
    va_list ap;
    va_start(ap, fmt);
    sa_strbuf_appendv(&L->reason, fmt, ap);
    va_end(ap);
    const char *reason = sa_strbuf_cstr(&L->reason);
    call_on_bad(L, line, reason);
    if (kind == DROP_TRUNCATED || !L->o->fail_on_bad) return SA_OK;
    return sa_err_set(err, kind == DROP_BAD ? SA_ERR_FORMAT : SA_ERR_RANGE, "%s:%" PRIu64 ": %s",
                      L->path, line, reason);
}

/* Bad lines found by the JSONL reader (bad JSON, invalid UTF-8, too long,
 * torn last line): each is a record that was read and rejected. */
static void on_jsonl_bad(void *ctx, const char *path, uint64_t line, const char *reason) {
    load *L = ctx;
    (void)path;
    L->d->stats.records++;
    L->d->stats.bad++;
    call_on_bad(L, line, reason);
}

static bool all_space(const char *s) {
    for (; *s; s++)
        if (!isspace((unsigned char)*s)) return false;
    return true;
}

/* The parser's rejections of an empty response, so they are counted as
 * empty_response and not as malformed records: "\"output\" is empty",
 * "the first assistant turn (output) is empty", "instances[0].output is
 * empty". tests/test_sft.c pins this against the parser's messages. */
static bool is_empty_output_msg(const char *msg) {
    static const char tail[] = "is empty";
    size_t n = strlen(msg), k = sizeof tail - 1;
    return n >= k && strcmp(msg + n - k, tail) == 0 && strstr(msg, "output") != NULL;
}

static sa_status open_reader(load *L, sa_jsonl_reader *jr, bool array, sa_err *err) {
    sa_jsonl_opts jo = {.policy = L->o->fail_on_bad ? SA_JSONL_FAIL : SA_JSONL_SKIP,
                        .on_bad = on_jsonl_bad,
                        .ctx = L,
                        .json_array = array};
    L->is_array = array;
    return sa_jsonl_reader_open(jr, L->path, &jo, err);
}

/* Whether the file is one JSON array: its first byte that is not white
 * space (after a UTF-8 BOM) is '['. */
static sa_status starts_with_bracket(const char *path, bool *out, sa_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return sa_err_set(err, SA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char b[3];
    if (!(fread(b, 1, 3, f) == 3 && memcmp(b, "\xEF\xBB\xBF", 3) == 0)) rewind(f);
    int c;
    while ((c = getc(f)) != EOF && isspace(c)) {
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) return sa_err_set(err, SA_ERR_IO, "%s: read error", path);
    *out = c == '[';
    return SA_OK;
}

static sa_status validate(const sa_sft_opts *o, bool need_tmpl, sa_err *err) {
    if (!o || !o->tok) return sa_err_set(err, SA_ERR_INVALID_ARG, "sft: no tokenizer");
    if (need_tmpl && !o->tmpl) return sa_err_set(err, SA_ERR_INVALID_ARG, "sft: no chat template");
    if (o->seq_len < 2) return sa_err_set(err, SA_ERR_INVALID_ARG, "sft: seq_len %d < 2", (int)o->seq_len);
    if (o->trunc != SA_SFT_TRUNC_SKIP && o->trunc != SA_SFT_TRUNC_RIGHT)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "sft: unknown truncation policy %d", (int)o->trunc);
    if (o->n_tags && !o->tags) return sa_err_set(err, SA_ERR_INVALID_ARG, "sft: n_tags without tags");
    return SA_OK;
}

/* ---- records ------------------------------------------------------------------------ */

static sa_status push_msg(load *L, sa_chat_role role, const char *content, sa_err *err) {
    if (!sa_grow((void **)&L->msgs, &L->cap_msgs, L->n_msgs + 1, sizeof *L->msgs))
        return sa_err_set(err, SA_ERR_NOMEM, "sft: message list");
    L->msgs[L->n_msgs++] = (sa_chat_msg){role, content};
    return SA_OK;
}

static const char *system_for(const sa_sft_opts *o, const sa_record *r) {
    if (r->system) return r->system;
    if (r->source)
        for (size_t i = 0; i < o->n_tags; i++)
            if (o->tags[i].source && strcmp(o->tags[i].source, r->source) == 0) return o->tags[i].system;
    return NULL; /* the template's default system, if any */
}

/* Messages of r in L->msgs. Returns SA_OK with a non-empty `why` (and its
 * kind) when the record must be dropped instead; errors only for memory. */
static sa_status build_messages(load *L, const sa_record *r, drop_kind *kind, char *why, size_t why_n,
                                sa_err *err) {
    const sa_sft_opts *o = L->o;
    sa_status s;
    L->n_msgs = 0;
    why[0] = 0;
    const char *sys = system_for(o, r);
    if (sys && *sys && (s = push_msg(L, SA_CHAT_ROLE_SYSTEM, sys, err)) != SA_OK) return s;
    /* user turn = instruction + "\n\n" + input, as record.h's exporters join them */
    sa_strbuf_reset(&L->joined);
    if ((s = sa_strbuf_puts(&L->joined, r->instruction ? r->instruction : "")) != SA_OK ||
        (r->input && ((s = sa_strbuf_puts(&L->joined, "\n\n")) != SA_OK ||
                      (s = sa_strbuf_puts(&L->joined, r->input)) != SA_OK)))
        return sa_err_set(err, s, "sft: out of memory");
    const char *instr = sa_strbuf_cstr(&L->joined), *out = r->output ? r->output : "";
    const char *user = o->reverse ? out : instr, *asst = o->reverse ? instr : out;
    if (all_space(asst)) {
        *kind = DROP_EMPTY;
        snprintf(why, why_n, "empty response");
        return SA_OK;
    }
    if ((s = push_msg(L, SA_CHAT_ROLE_USER, user, err)) != SA_OK ||
        (s = push_msg(L, SA_CHAT_ROLE_ASSISTANT, asst, err)) != SA_OK)
        return s;
    json_t *turns = r->meta ? json_object_get(r->meta, "turns") : NULL;
    if (!turns || o->reverse) return SA_OK; /* reverse: the first exchange only */
    if (!json_is_array(turns)) {
        *kind = DROP_BAD;
        snprintf(why, why_n, "meta.turns is not an array");
        return SA_OK;
    }
    size_t i;
    json_t *t;
    json_array_foreach(turns, i, t) {
        const char *rn = json_string_value(json_object_get(t, "role"));
        const char *c = json_string_value(json_object_get(t, "content"));
        sa_chat_role role = rn ? sa_chat_role_from_name(rn) : SA_CHAT_ROLE_INVALID;
        if (role == SA_CHAT_ROLE_INVALID || !c) {
            *kind = DROP_BAD;
            if (!rn) snprintf(why, why_n, "meta.turns[%zu] has no string role", i);
            else if (role == SA_CHAT_ROLE_INVALID) snprintf(why, why_n, "meta.turns[%zu]: unknown role \"%.64s\"", i, rn);
            else snprintf(why, why_n, "meta.turns[%zu] has no string content", i);
            return SA_OK;
        }
        if (role == SA_CHAT_ROLE_ASSISTANT && all_space(c)) {
            *kind = DROP_EMPTY;
            snprintf(why, why_n, "empty response in meta.turns[%zu]", i);
            return SA_OK;
        }
        if ((s = push_msg(L, role, c, err)) != SA_OK) return s;
    }
    return SA_OK;
}

static sa_status add_record(load *L, const sa_record *r, uint64_t line, uint64_t index, sa_err *err) {
    const sa_sft_opts *o = L->o;
    drop_kind kind = DROP_BAD;
    char why[160];
    sa_status s = build_messages(L, r, &kind, why, sizeof why, err);
    if (s != SA_OK) return s;
    if (why[0]) return drop(L, kind, line, index, err, "%s", why);

    L->ids.n = 0;
    sa_err e = {0};
    s = sa_chat_encode(o->tok, o->tmpl, L->msgs, L->n_msgs, false, &L->ids, &L->spans, &e);
    if (s == SA_ERR_NOMEM) return sa_err_set(err, s, "%s:%" PRIu64 ": %s", L->path, line, e.msg);
    if (s != SA_OK) return drop(L, DROP_BAD, line, index, err, "chat template: %s", e.msg);

    size_t n = L->ids.n;
    if (!sa_grow((void **)&L->flags, &L->cap_flags, n ? n : 1, 1))
        return sa_err_set(err, SA_ERR_NOMEM, "sft: loss flags");
    memset(L->flags, 0, n);
    for (size_t k = 0; k < L->spans.n; k++) {
        const sa_chat_span *sp = &L->spans.v[k];
        if (sp->role != SA_CHAT_ROLE_ASSISTANT) continue;
        SA_ASSERT(sp->begin <= sp->end && sp->end <= n);
        memset(L->flags + sp->begin, 1, sp->end - sp->begin);
    }
    bool cut = false;
    if (n > (size_t)o->seq_len) {
        if (o->trunc == SA_SFT_TRUNC_SKIP)
            return drop(L, DROP_TOO_LONG, line, index, err, "too long: %zu tokens, seq_len %d", n,
                        (int)o->seq_len);
        cut = true;
    }
    size_t keep = cut ? (size_t)o->seq_len : n;
    int32_t n_loss = 0;
    for (size_t k = 1; k < keep; k++) n_loss += L->flags[k];
    if (n_loss == 0) {
        if (cut)
            return drop(L, DROP_TOO_LONG, line, index, err,
                        "too long: %zu tokens, no response token within seq_len %d", n, (int)o->seq_len);
        return drop(L, DROP_BAD, line, index, err, "no response tokens to train on");
    }
    if (cut && (s = drop(L, DROP_TRUNCATED, line, index, err, "truncated from %zu to %d tokens", n,
                         (int)o->seq_len)) != SA_OK)
        return s;

    if ((s = pool_reserve(L->d, keep, err)) != SA_OK) return s;
    sa_sft_data *d = L->d;
    memcpy(d->ids + d->n_tok, L->ids.ids, keep * sizeof *d->ids);
    memcpy(d->loss + d->n_tok, L->flags, keep);
    char id[17];
    const char *rid = r->id;
    if (!rid) {
        sa_record_compute_id(r, id);
        rid = id;
    }
    sa_sft_example ex = {.off = d->n_tok,
                         .n = (int32_t)keep,
                         .n_loss = n_loss,
                         .file = L->file,
                         .line = (int64_t)line,
                         .key = sa_hash_str(rid, o->reverse ? KEY_SEED_REVERSE : KEY_SEED_FORWARD)};
    d->n_tok += (int64_t)keep;
    return push_example(d, &ex, err);
}

/* Undo a failed add: the data is as it was before the call. */
typedef struct snapshot {
    int64_t n_tok;
    size_t n_ex, n_files;
    sa_sft_stats stats;
} snapshot;

static snapshot take(const sa_sft_data *d) { return (snapshot){d->n_tok, d->n_ex, d->n_files, d->stats}; }

static void restore(sa_sft_data *d, const snapshot *sn) {
    d->n_tok = sn->n_tok;
    d->n_ex = sn->n_ex;
    while (d->n_files > sn->n_files) free(d->files[--d->n_files]);
    d->stats = sn->stats;
}

sa_status sa_sft_data_add_records(sa_sft_data *d, const char *path, const sa_sft_opts *o, sa_err *err) {
    sa_status s = validate(o, true, err);
    if (s != SA_OK) return s;
    bool array = false;
    if ((s = starts_with_bracket(path, &array, err)) != SA_OK) return s;
    snapshot sn = take(d);
    load L = {.d = d, .o = o, .path = path};
    sa_jsonl_reader jr;
    bool jr_open = false;
    sa_record rec;
    sa_record_init(&rec);
    if ((s = push_file(d, path, &L.file, err)) != SA_OK) goto done;
    if ((s = open_reader(&L, &jr, array, err)) != SA_OK) goto done;
    jr_open = true;
    sa_record_format fmt = SA_RECORD_FORMAT_AUTO;
    for (;;) {
        json_t *obj = NULL;
        uint64_t line = 0;
        s = sa_jsonl_next(&jr, &obj, &line, err);
        if (s == SA_ERR_EOF) {
            s = SA_OK;
            break;
        }
        if (s != SA_OK) goto done; /* already "path:line: reason" */
        uint64_t index = jr.index;
        if (fmt == SA_RECORD_FORMAT_AUTO && (s = sa_record_detect(obj, &fmt, err)) != SA_OK) {
            json_decref(obj);
            sa_err_prefix(err, "%s:%" PRIu64 ": ", path, line);
            goto done;
        }
        sa_err e = {0};
        s = sa_record_parse(obj, fmt, NULL, NULL, &rec, &e);
        json_decref(obj);
        d->stats.records++;
        if (s == SA_ERR_NOMEM) {
            sa_err_set(err, s, "%s:%" PRIu64 ": %s", path, line, e.msg);
            goto done;
        }
        if (s != SA_OK) {
            if (is_empty_output_msg(e.msg))
                s = drop(&L, DROP_EMPTY, line, index, err, "empty response (%s)", e.msg);
            else
                s = drop(&L, DROP_BAD, line, index, err, "%s", e.msg);
        } else {
            s = add_record(&L, &rec, line, index, err);
        }
        if (s != SA_OK) goto done;
    }
done:
    if (s != SA_OK) restore(d, &sn);
    sa_record_free(&rec);
    if (jr_open) sa_jsonl_reader_close(&jr);
    load_free(&L);
    return s;
}

/* ---- plain text --------------------------------------------------------------------- */

/* Encode one document (BOS first when the tokenizer adds one, EOS after) and
 * append it to the pool, every token flagged. */
static sa_status add_document(load *L, const char *text, size_t len, uint64_t line, sa_err *err) {
    const sa_tokenizer *tok = L->o->tok;
    L->ids.n = 0;
    sa_status s = sa_tokenizer_encode(tok, text, len, sa_tokenizer_add_bos(tok) ? SA_ENCODE_BOS : 0, &L->ids, err);
    if (s == SA_OK && sa_tokenizer_eos(tok) >= 0) s = sa_tokens_push(&L->ids, sa_tokenizer_eos(tok));
    if (s != SA_OK) {
        if (line) return sa_err_prefix(err, "%s:%" PRIu64 ": ", L->path, line);
        return sa_err_prefix(err, "%s: ", L->path);
    }
    sa_sft_data *d = L->d;
    if ((s = pool_reserve(d, L->ids.n, err)) != SA_OK) return s;
    memcpy(d->ids + d->n_tok, L->ids.ids, L->ids.n * sizeof *d->ids);
    memset(d->loss + d->n_tok, 1, L->ids.n);
    d->n_tok += (int64_t)L->ids.n;
    return SA_OK;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

sa_status sa_sft_data_add_text(sa_sft_data *d, const char *path, const sa_sft_opts *o, sa_err *err) {
    sa_status s = validate(o, false, err);
    if (s != SA_OK) return s;
    snapshot sn = take(d);
    load L = {.d = d, .o = o, .path = path};
    sa_jsonl_reader jr;
    bool jr_open = false;
    sa_strbuf whole = {0};
    if ((s = push_file(d, path, &L.file, err)) != SA_OK) goto done;
    int64_t start = d->n_tok;
    if (ends_with(path, ".jsonl")) {
        if ((s = open_reader(&L, &jr, false, err)) != SA_OK) goto done;
        jr_open = true;
        for (;;) {
            json_t *obj = NULL;
            uint64_t line = 0;
            s = sa_jsonl_next(&jr, &obj, &line, err);
            if (s == SA_ERR_EOF) {
                s = SA_OK;
                break;
            }
            if (s != SA_OK) goto done;
            d->stats.records++;
            json_t *text = json_object_get(obj, "text");
            if (json_is_string(text))
                s = add_document(&L, json_string_value(text), json_string_length(text), line, err);
            else
                s = drop(&L, DROP_BAD, line, 0, err, "no string \"text\"");
            json_decref(obj);
            if (s != SA_OK) goto done;
        }
    } else {
        if ((s = sa_file_read_strbuf(path, &whole, err)) != SA_OK) goto done;
        d->stats.records++;
        if ((s = add_document(&L, whole.buf ? whole.buf : "", whole.len, 0, err)) != SA_OK) goto done;
    }
    /* Windows of seq_len tokens; consecutive windows share one token (the
     * last of one is the first of the next) so every token after the first
     * is a target exactly once. They are views into the pool, not copies. */
    int64_t total = d->n_tok - start, stride = o->seq_len - 1;
    uint64_t path_hash = sa_hash_str(path, KEY_SEED_TEXT);
    for (int64_t k = 0; k * stride + 1 < total; k++) {
        int64_t off = k * stride, n = total - off < o->seq_len ? total - off : o->seq_len;
        sa_sft_example ex = {.off = start + off,
                             .n = (int32_t)n,
                             .n_loss = (int32_t)(n - 1),
                             .file = L.file,
                             .line = 0,
                             .key = sa_hash_mix(path_hash, (uint64_t)k)};
        if ((s = push_example(d, &ex, err)) != SA_OK) goto done;
    }
    if (total < 2) { /* nothing to train on; not a record, so reported but not counted */
        call_on_bad(&L, 0, "fewer than 2 tokens: no window");
        if (o->fail_on_bad) s = sa_err_set(err, SA_ERR_FORMAT, "%s: fewer than 2 tokens: no window", path);
    }
done:
    if (s != SA_OK) restore(d, &sn);
    if (jr_open) sa_jsonl_reader_close(&jr);
    sa_strbuf_free(&whole);
    load_free(&L);
    return s;
}
