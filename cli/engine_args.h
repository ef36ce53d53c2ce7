/* engine_args.h — the engine choice shared by the commands that generate
 * or score (generate, backtranslate, curate; humpback and dromedary for
 * their generating and scoring stages): the in-process model
 * (`--engine local`, the default) or an OpenAI-compatible server
 * (`--engine http --url URL`, include/sa/engine_http.h).
 *
 * CLI_ENGINE_OPTIONS expands to the cli_opt initializers of --engine,
 * --url, --api-key-env, --concurrency, --timeout and --retries, listed once
 * in each command's table:
 *     static const cli_opt k_opts[] = { {...command options...}, CLI_ENGINE_OPTIONS };
 * The command must also declare "model" and "tokenizer" (STR).
 *
 * With --engine http no model is loaded: --model (or --tokenizer) names the
 * model whose tokenizer builds the token-id prompts the server receives, so
 * it must be the same model the server runs. The key is read from the
 * environment variable named by --api-key-env and never printed.
 *
 * Usage:
 *     if (!cli_engine_check_args(&a, "generate")) return CLI_EXIT_USAGE;
 *     s = cli_engine_load(&a, &m, &tok, &err);         // m stays NULL for http
 *     if (!s) s = cli_engine_new(&a, m, tok, &local_opts, &e, &err);
 */
#ifndef SA_CLI_ENGINE_ARGS_H
#define SA_CLI_ENGINE_ARGS_H

#include <stdbool.h>

#include "opts.h"
#include "sa/engine.h"
#include "sa/engine_http.h"
#include "sa/model.h"
#include "sa/tokenizer.h"

#define CLI_ENGINE_OPTIONS                                                                                             \
    {.name = "engine", .type = CLI_OPT_STR, .metavar = "KIND", .def = "local",                                         \
     .help = "local (the model in this process) or http (an OpenAI-compatible server at --url)"},                     \
    {.name = "url", .type = CLI_OPT_STR, .metavar = "URL", .help = "--engine http: the server's base URL (http://host:port)"}, \
    {.name = "api-key-env", .type = CLI_OPT_STR, .metavar = "VAR",                                                     \
     .help = "--engine http: environment variable holding the server's API key"},                                     \
    {.name = "concurrency", .type = CLI_OPT_INT, .metavar = "N", .def = "8", .min = 1, .max = 1024,                    \
     .help = "--engine http: requests in flight at most"},                                                             \
    {.name = "timeout", .type = CLI_OPT_FLOAT, .metavar = "S", .def = "300", .min = 0.01, .max = 1e6,                 \
     .help = "--engine http: seconds one request may take before it is retried"},                                     \
    {.name = "retries", .type = CLI_OPT_INT, .metavar = "N", .def = "10", .min = 0, .max = 1000,                       \
     .help = "--engine http: retries of a failing request (429, 5xx, timeout, refused) before the stage stops"}

/* --engine is local or http; --url is given exactly with http. Prints
 * "selfalign: error: <cmd>: ..." and returns false otherwise. */
bool cli_engine_check_args(const cli_args *a, const char *cmd);
bool cli_engine_is_http(const cli_args *a);
/* The HTTP engine's options from --url, --api-key-env, --concurrency,
 * --timeout and --retries (retry notices on stderr; no tokenizer). The
 * strings are the arguments' own. */
sa_engine_http_opts cli_engine_http_opts(const cli_args *a);
/* local: the model and its tokenizer (cli_load_model_tokenizer); http: the
 * tokenizer only (--tokenizer, else the one stored with --model), *m NULL. */
sa_status cli_engine_load(const cli_args *a, sa_model **m, sa_tokenizer **tok, sa_err *err);
/* The engine: local over m/tok with lo, or http from the options (tok
 * borrowed for token-id prompts and scoring). */
sa_status cli_engine_new(const cli_args *a, const sa_model *m, const sa_tokenizer *tok, const sa_engine_local_opts *lo,
                         sa_engine **out, sa_err *err);

#endif
