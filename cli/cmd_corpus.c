/* cmd_corpus.c — `selfalign corpus`: prepare corpus segments for
 * backtranslation (sa/corpus.h). Deterministic and short, so a rerun is the
 * resume: it rewrites byte-identical files atomically. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "opts.h"
#include "sa/corpus.h"
#include "sa/strbuf.h"

static const cli_opt k_opts[] = {
    {.name = "in", .type = CLI_OPT_STR, .metavar = "PATH", .required = true, .repeat = true,
     .help = "input file or directory (repeatable; directories are walked in sorted order)"},
    {.name = "out", .type = CLI_OPT_STR, .metavar = "FILE", .required = true, .help = "kept segments (JSONL)"},
    {.name = "rejected", .type = CLI_OPT_STR, .metavar = "FILE", .help = "rejected segments with reasons (JSONL)"},
    {.name = "stats", .type = CLI_OPT_STR, .metavar = "FILE", .help = "statistics (default: stats.json beside --out)"},
    {.name = "min-chars", .type = CLI_OPT_INT, .metavar = "N", .def = "600", .min = 0, .max = 1e9,
     .help = "shortest segment kept (characters)"},
    {.name = "max-chars", .type = CLI_OPT_INT, .metavar = "N", .def = "3000", .min = 1, .max = 1e9,
     .help = "longest segment kept (characters); also the paragraph-group size"},
    {.name = "min-letters", .type = CLI_OPT_FLOAT, .metavar = "R", .def = "0.6", .min = 0, .max = 1,
     .help = "minimum ratio of letters to non-space characters"},
    {.name = "rep-threshold", .type = CLI_OPT_FLOAT, .metavar = "J", .def = "0.7", .min = 0.01, .max = 1,
     .help = "word-3-gram Jaccard at which two sentences count as repeats"},
    {.name = "rep-frac", .type = CLI_OPT_FLOAT, .metavar = "F", .def = "0.3", .min = 0, .max = 1,
     .help = "reject when this fraction of sentences repeat (0 = off)"},
    {.name = "dedup-threshold", .type = CLI_OPT_FLOAT, .metavar = "J", .def = "0.8", .min = 0.01, .max = 1,
     .help = "MinHash Jaccard estimate for a near duplicate"},
    {.name = "no-near-dedup", .type = CLI_OPT_FLAG, .help = "exact dedup only"},
    {.name = "seed", .type = CLI_OPT_INT, .metavar = "S", .def = "0", .min = 0, .max = 9.2e18, .help = "MinHash seed"},
    {.name = "quiet", .type = CLI_OPT_FLAG, .help = "do not print bad input lines"},
};

static const cli_cmd_spec k_spec = {
    .name = "corpus",
    .args_usage = "--in PATH... --out FILE [options]",
    .summary = "segment, filter and deduplicate documents for backtranslation",
    .opts = k_opts,
    .n_opts = sizeof k_opts / sizeof k_opts[0],
    .min_pos = 0,
    .max_pos = 0,
    .details = "Inputs: text/Markdown, wikitext, HTML, JSONL {text,id,url,title}, <doc> dumps.\n"
               "Writes --out atomically; rerunning gives byte-identical output.\n",
};

static void warn_line(void *ctx, const char *msg) {
    if (!ctx) fprintf(stderr, "selfalign: warning: %s\n", msg);
}

int cmd_corpus(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&k_spec, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    sa_corpus_opts o;
    sa_corpus_default_opts(&o);
    o.min_chars = (uint32_t)cli_int(&a, "min-chars");
    o.max_chars = (uint32_t)cli_int(&a, "max-chars");
    if (o.min_chars > o.max_chars) {
        cli_error("corpus: --min-chars %u exceeds --max-chars %u", o.min_chars, o.max_chars);
        return CLI_EXIT_USAGE;
    }
    o.min_letter_ratio = cli_float(&a, "min-letters");
    o.rep_threshold = cli_float(&a, "rep-threshold");
    o.rep_min_frac = cli_float(&a, "rep-frac");
    o.minhash.threshold = cli_float(&a, "dedup-threshold");
    o.minhash.seed = (uint64_t)cli_int(&a, "seed");
    o.near_dedup = !cli_flag(&a, "no-near-dedup");
    const char *out = cli_str(&a, "out");
    sa_strbuf stats = {0};
    if (cli_is_set(&a, "stats")) sa_strbuf_puts(&stats, cli_str(&a, "stats"));
    else {
        const char *slash = strrchr(out, '/');
        if (slash) sa_strbuf_append(&stats, out, (size_t)(slash - out) + 1);
        sa_strbuf_puts(&stats, "stats.json");
    }
    sa_err err = {0};
    sa_corpus *c = NULL;
    sa_status s = sa_corpus_init(&c, &o, &err);
    if (s == SA_OK) sa_corpus_set_warn(c, warn_line, cli_flag(&a, "quiet") ? (void *)c : NULL);
    int n = 0;
    const char *const *ins = cli_str_all(&a, "in", &n);
    for (int i = 0; i < n && s == SA_OK; i++) s = sa_corpus_add_path(c, ins[i], &err);
    if (s == SA_OK)
        s = sa_corpus_write(c, out, cli_is_set(&a, "rejected") ? cli_str(&a, "rejected") : NULL,
                            sa_strbuf_cstr(&stats), &err);
    if (s == SA_OK) {
        const sa_corpus_stats *st = sa_corpus_get_stats(c);
        fprintf(stderr, "corpus: %llu documents, %llu segments, %llu kept -> %s (stats %s)\n",
                (unsigned long long)st->documents, (unsigned long long)st->segments,
                (unsigned long long)st->kept, out, sa_strbuf_cstr(&stats));
        rc = CLI_EXIT_OK;
    } else {
        rc = cli_fail(s, &err);
    }
    sa_corpus_free(c);
    sa_strbuf_free(&stats);
    return rc;
}
