/* opts.h — declared command-line options for the selfalign subcommands.
 *
 * Purpose: each cmd_<name>.c declares its options in a table (long name,
 * type, default, range, help) and a cli_cmd_spec; cli_parse checks argv
 * against it (unknown options, missing values, bad numbers, out-of-range
 * values, missing required options, positional count) and `--help` is
 * generated from the same table, defaults included. Options are long only:
 * `--name VALUE`, `--name=VALUE`, and `--flag`; `--` ends the options.
 *
 * Exit codes (every command): 0 ok, 1 runtime error, 2 usage error,
 * 130 interrupted (SIGINT/SIGTERM). Errors go to stderr as
 * "selfalign: error: ...". Only cli/ exits; commands return their code to
 * main().
 *
 * Ownership: cli_args borrows the option table and argv strings; it holds
 * no heap memory.
 *
 * Usage:
 *     static const cli_opt opts[] = {
 *         {.name = "tokenizer", .type = CLI_OPT_STR, .metavar = "PATH", .required = true,
 *          .help = "tokenizer file or directory"},
 *         {.name = "threads", .type = CLI_OPT_INT, .metavar = "N", .def = "2", .min = 1,
 *          .max = 1024, .help = "worker threads"},
 *     };
 *     static const cli_cmd_spec spec = {"tokenize", "[options]", "encode text", opts, 2, 0, 0};
 *     cli_args a;
 *     int rc = cli_parse(&spec, argc, argv, &a);
 *     if (rc != CLI_CONTINUE) return rc;           // help shown (0) or usage error (2)
 *     const char *path = cli_str(&a, "tokenizer");
 */
#ifndef SA_CLI_OPTS_H
#define SA_CLI_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sa/status.h"

enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_RUNTIME = 1,
    CLI_EXIT_USAGE = 2,
    CLI_EXIT_INTERRUPTED = 130,
    CLI_CONTINUE = -1, /* cli_parse: arguments are fine, run the command */
};

#define CLI_MAX_OPTS 64
#define CLI_MAX_POS 16
#define CLI_MAX_REPEAT 64

typedef enum cli_opt_type { CLI_OPT_STR, CLI_OPT_INT, CLI_OPT_FLOAT, CLI_OPT_FLAG } cli_opt_type;

typedef struct cli_opt {
    const char *name;    /* long name without the leading "--" */
    cli_opt_type type;
    const char *metavar; /* "PATH", "N" (ignored for flags) */
    const char *def;     /* default as text (parsed like a value), NULL = none */
    const char *help;
    double min, max;     /* inclusive range for INT/FLOAT; unchecked when min >= max */
    bool required;
    bool repeat;         /* STR only: may be given up to CLI_MAX_REPEAT times (cli_str_all) */
} cli_opt;

typedef struct cli_cmd_spec {
    const char *name;        /* "tokenize" */
    const char *args_usage;  /* what follows the name in the usage line: "PATH [options]" */
    const char *summary;     /* one line for `selfalign --help` and the command's help */
    const cli_opt *opts;
    size_t n_opts;
    int min_pos, max_pos;    /* allowed number of positional arguments */
    const char *details;     /* extra help text after the options (may be NULL) */
} cli_cmd_spec;

typedef struct cli_val {
    bool set;       /* given on the command line (or has a default) */
    bool explicit_; /* given on the command line */
    const char *s;
    int64_t i;
    double f;
    const char *all[CLI_MAX_REPEAT]; /* every value of a repeatable option, in order */
    int n_all;
} cli_val;

typedef struct cli_args {
    const cli_cmd_spec *spec;
    cli_val v[CLI_MAX_OPTS];
    const char *pos[CLI_MAX_POS];
    int n_pos;
} cli_args;

/* Parse argv[1..argc) (argv[0] is the command name). Returns CLI_CONTINUE
 * when the command should run, CLI_EXIT_OK after printing --help to stdout,
 * or CLI_EXIT_USAGE after printing an error and a hint to stderr. */
int cli_parse(const cli_cmd_spec *spec, int argc, char **argv, cli_args *out);

/* Typed access by name; asking for an undeclared name or the wrong type is
 * a programmer error (SA_ASSERT). Unset options read as NULL / 0 / false. */
const char *cli_str(const cli_args *a, const char *name);
int64_t cli_int(const cli_args *a, const char *name);
double cli_float(const cli_args *a, const char *name);
bool cli_flag(const cli_args *a, const char *name);
bool cli_is_set(const cli_args *a, const char *name);
/* Every value given for a repeatable STR option (*n may be 0). */
const char *const *cli_str_all(const cli_args *a, const char *name, int *n);

/* The generated help for one command. */
void cli_print_help(const cli_cmd_spec *spec, FILE *f);

/* "selfalign: error: <message>\n" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Report a failed library call and return its exit code: 130 for
 * SA_ERR_INTERRUPTED, 1 otherwise. */
int cli_fail(sa_status st, const sa_err *err);

#endif
