/* corpus.h — corpus preparation: read documents, cut segments, filter, dedup.
 *
 * Purpose: turn a folder of unlabeled documents into the segments that the
 * backward model writes instructions for (Humpback, DESIGN.md §1.1 step 3).
 * Inputs: plain text / Markdown ("# " headers), wikitext (" = Title = "),
 * HTML-like text (tags stripped, <h1>-<h6> are headers, common entities
 * decoded), JSONL documents ({"text", optional "id", "url", "title"}) and
 * <doc id=.. url=.. title=..> ... </doc> dumps. The format is chosen per file:
 * .jsonl/.json -> JSONL; .html/.htm/.xhtml -> HTML; a file whose first
 * non-blank line starts with "<doc " -> dump; a file starting with "<" and
 * containing <html, <body, <p or <h1-6 -> HTML; else text.
 *
 * Segmentation: a segment is the text under a header including its
 * sub-headers (it ends at the next header of the same or a higher level), so
 * nested sections yield overlapping segments as in the paper. Text without
 * headers (and text before the first header) is cut into groups of whole
 * paragraphs up to max_chars; a paragraph longer than max_chars is split at
 * its line breaks. In <doc> dumps (WikiExtractor style) a short line ending
 * in a single '.' ("Early life.") is a level-2 section header, and a first
 * body line equal to the title is dropped. A segment's title is its header
 * line, or the document title for paragraph groups. Parent and child
 * sections overlap; when a parent is mostly one child, near dedup keeps the
 * parent (first in input order) and drops the child.
 *
 * Filters, in this order; a rejected segment records the first that fails:
 * invalid_utf8 (also NUL bytes), too_short / too_long (code points),
 * empty_header, allcaps_header, boilerplate_header (see
 * sa_corpus_boilerplate_words), few_letters (letters / non-space characters
 * below min_letter_ratio), repetitive (at least rep_min_frac of the
 * sentences have a partner sentence whose word-n-gram Jaccard is >=
 * rep_threshold), exact_duplicate, near_duplicate (minhash.h). Header filters
 * apply only to segments cut at a header.
 *
 * Output (sa_corpus_write): segments.jsonl, one canonical JSON line per kept
 * segment {"id","doc","title","text","source_path","url"?}; id = XXH3 of
 * (doc id, "\n", normalised text) as 16 hex digits. doc id = JSONL "id" (or
 * path:line), <doc id=..> (or path#n), else the path. Optional rejected JSONL
 * {"id","doc","reason"} plus, for duplicates, "duplicate_of" and "detail"
 * ("near-duplicate of <id>"). stats.json with the counts; segments = kept + sum of
 * rejected always holds. Files are written atomically (temp + rename); the
 * stage is deterministic, so "resume" means rerunning it, which rewrites
 * byte-identical files.
 *
 * Ownership: sa_corpus_init allocates; sa_corpus_free releases. Kept and
 * rejected lines are buffered in memory until sa_corpus_write.
 *
 * Usage:
 *     sa_corpus_opts o; sa_corpus_default_opts(&o);
 *     sa_corpus *c; if (sa_corpus_init(&c, &o, &err) != SA_OK) return err.code;
 *     sa_corpus_add_path(c, "docs/", &err);          // file or directory
 *     sa_corpus_write(c, "segments.jsonl", NULL, "stats.json", &err);
 *     sa_corpus_free(c);
 */
#ifndef SA_CORPUS_H
#define SA_CORPUS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "sa/minhash.h"
#include "sa/status.h"
#include "sa/strbuf.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef enum sa_corpus_reason {
    SA_CORPUS_KEEP = 0,
    SA_CORPUS_INVALID_UTF8,
    SA_CORPUS_TOO_SHORT,
    SA_CORPUS_TOO_LONG,
    SA_CORPUS_EMPTY_HEADER,
    SA_CORPUS_ALLCAPS_HEADER,
    SA_CORPUS_BOILERPLATE_HEADER,
    SA_CORPUS_FEW_LETTERS,
    SA_CORPUS_REPETITIVE,
    SA_CORPUS_EXACT_DUPLICATE,
    SA_CORPUS_NEAR_DUPLICATE,
    SA_CORPUS_REASON_COUNT
} sa_corpus_reason;

/* "invalid_utf8", "too_short", ... ("kept" for SA_CORPUS_KEEP). */
const char *sa_corpus_reason_name(sa_corpus_reason r);

typedef enum sa_corpus_format {
    SA_CORPUS_AUTO = 0, SA_CORPUS_TEXT, SA_CORPUS_HTML, SA_CORPUS_JSONL, SA_CORPUS_DOCS
} sa_corpus_format;

typedef struct sa_corpus_opts {
    uint32_t min_chars, max_chars; /* length bounds in code points (600, 3000) */
    double min_letter_ratio;       /* letters / non-space chars (0.6) */
    uint32_t rep_ngram;            /* words per n-gram in the repetition test (3) */
    double rep_threshold;          /* sentence-pair Jaccard counted as a repeat (0.7) */
    double rep_min_frac;           /* fraction of repeated sentences to reject (0.3) */
    bool exact_dedup, near_dedup;  /* (true, true); near implies exact */
    sa_minhash_opts minhash;       /* near-dup parameters (minhash.h defaults) */
    uint64_t max_file_bytes;       /* files larger than this are an error (1 GiB) */
} sa_corpus_opts;

void sa_corpus_default_opts(sa_corpus_opts *o);

typedef struct sa_corpus_stats {
    uint64_t files;       /* input files read */
    uint64_t bytes;       /* input bytes read */
    uint64_t documents;   /* documents (files, JSONL records, <doc> entries) */
    uint64_t bad_lines;   /* JSONL lines skipped (reported through on_bad) */
    uint64_t segments;    /* segments produced */
    uint64_t kept;
    uint64_t rejected[SA_CORPUS_REASON_COUNT]; /* [0] unused */
} sa_corpus_stats;

/* Called for each bad input line ("path:line: reason"); may be NULL. */
typedef void (*sa_corpus_warn_fn)(void *ctx, const char *msg);

typedef struct sa_corpus sa_corpus;
sa_status sa_corpus_init(sa_corpus **out, const sa_corpus_opts *o, sa_err *err);
void sa_corpus_free(sa_corpus *c);
void sa_corpus_set_warn(sa_corpus *c, sa_corpus_warn_fn fn, void *ctx);

/* Read a file, or every regular file under a directory (recursively, names
 * in byte order; hidden entries starting with '.' skipped). */
sa_status sa_corpus_add_path(sa_corpus *c, const char *path, sa_err *err);
/* Add one in-memory input as if read from a file called `name` (fmt AUTO
 * guesses from name and content). */
sa_status sa_corpus_add_buffer(sa_corpus *c, const char *name, const char *buf, size_t n,
                               sa_corpus_format fmt, sa_err *err);

const sa_corpus_stats *sa_corpus_get_stats(const sa_corpus *c);
/* Write kept segments to out_path, rejected ones to rejected_path (NULL =
 * none) and the stats to stats_path (NULL = none), each atomically. */
sa_status sa_corpus_write(sa_corpus *c, const char *out_path, const char *rejected_path,
                          const char *stats_path, sa_err *err);
/* The stats as one canonical JSON line. */
sa_status sa_corpus_stats_json(const sa_corpus *c, sa_strbuf *out, sa_err *err);

/* ---- filters (corpus_filter.c), exposed for tests ---- */
/* NULL-terminated list of lowercase header words/phrases that mark
 * navigation or boilerplate (matched on word boundaries). */
extern const char *const sa_corpus_boilerplate_words[];
/* First failing filter for one segment, not counting dedup. */
sa_corpus_reason sa_corpus_filter(const sa_corpus_opts *o, const char *title, size_t title_n,
                                  bool has_header, const char *text, size_t n);
/* Fraction of sentences (with >= rep_ngram words) that have a near-identical
 * partner; 0 when fewer than two such sentences. */
double sa_corpus_repetition(const sa_corpus_opts *o, const char *text, size_t n);

#ifdef __cplusplus
}
#endif
#endif
