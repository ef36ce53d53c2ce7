/* cmd_serve.c — `selfalign serve`: an OpenAI-compatible HTTP server over
 * the in-process engine (include/sa/serve.h). Runs until SIGINT/SIGTERM,
 * then stops accepting, answers the requests in flight and exits 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "model_args.h"
#include "opts.h"
#include "sa/chat.h"
#include "sa/engine.h"
#include "sa/fileio.h"
#include "sa/serve.h"
#include "sa/signal.h"

static const cli_opt k_opts[] = {
    {.name = "model", .type = CLI_OPT_STR, .metavar = "PATH", .required = true,
     .help = "model: HF directory, .gguf, or llama2.c checkpoint"},
    {.name = "tokenizer", .type = CLI_OPT_STR, .metavar = "PATH",
     .help = "tokenizer (default: the model directory or GGUF itself)"},
    {.name = "template", .type = CLI_OPT_STR, .metavar = "NAME",
     .help = "chat template for /v1/chat/completions (default: the tokenizer's, else alpaca)"},
    {.name = "name", .type = CLI_OPT_STR, .metavar = "ID", .help = "model id in /v1/models (default: the model path)"},
    {.name = "host", .type = CLI_OPT_STR, .metavar = "ADDR", .def = "127.0.0.1", .help = "IPv4 address to listen on"},
    {.name = "port", .type = CLI_OPT_INT, .metavar = "P", .def = "8080", .min = 0, .max = 65535,
     .help = "TCP port (0 = any free port; see --port-file)"},
    {.name = "port-file", .type = CLI_OPT_STR, .metavar = "FILE",
     .help = "write the port here once listening (for scripts and tests)"},
    {.name = "slots", .type = CLI_OPT_INT, .metavar = "N", .def = "8", .min = 1, .max = 4096,
     .help = "sequences decoded together (continuous batching)"},
    {.name = "max-batch", .type = CLI_OPT_INT, .metavar = "N", .def = "64", .min = 1, .max = 65536,
     .help = "requests handed to the engine in one call at most"},
    {.name = "gather-ms", .type = CLI_OPT_INT, .metavar = "MS", .def = "5", .min = 0, .max = 10000,
     .help = "how long a request waits for others to join its batch"},
    {.name = "threads", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 1024,
     .help = "kernel threads (0 = all CPUs)"},
    {.name = "ctx", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 1 << 24,
     .help = "context per sequence (0 = the model's)"},
    {.name = "max-body", .type = CLI_OPT_INT, .metavar = "BYTES", .def = "1048576", .min = 1024, .max = 1 << 30,
     .help = "larger request bodies are refused (413)"},
    {.name = "max-connections", .type = CLI_OPT_INT, .metavar = "N", .def = "256", .min = 1, .max = 65536,
     .help = "concurrent connections at most"},
    {.name = "api-key-env", .type = CLI_OPT_STR, .metavar = "VAR",
     .help = "require \"Authorization: Bearer $VAR\" on /v1/* (the key is never printed)"},
    {.name = "models-root", .type = CLI_OPT_STR, .metavar = "DIR",
     .help = "let clients load models under DIR at run time (POST /v1/load_lora_adapter), e.g. a run's models"},
    {.name = "quiet", .type = CLI_OPT_FLAG, .help = "no line per request on stderr"},
};

static const cli_cmd_spec k_spec = {
    "serve", "--model PATH [--host ADDR] [--port P] [--slots N] [--api-key-env VAR] [options]",
    "Serve the model over an OpenAI-compatible HTTP API (completions, chat, logprobs).", k_opts,
    sizeof k_opts / sizeof k_opts[0], 0, 0,
    "endpoints: GET /health, GET /v1/models, POST /v1/completions, POST /v1/chat/completions;\n"
    "with --models-root: POST /v1/load_lora_adapter {\"lora_name\", \"lora_path\"} and /v1/unload_lora_adapter\n"
    "(vLLM's names) load and free other models of the same vocabulary; requests pick one by \"model\".\n"
    "Scoring: /v1/completions with \"echo\": true, \"logprobs\": 0, \"max_tokens\": 0 returns the prompt's\n"
    "token log-probabilities. SIGINT/SIGTERM: stop accepting, answer requests in flight, exit 0.\n",
};

int cmd_serve(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&k_spec, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    const char *key = NULL, *kvar = cli_str(&a, "api-key-env");
    if (kvar) {
        key = getenv(kvar);
        if (!key || !*key) {
            cli_error("serve: the environment variable %s (--api-key-env) is not set", kvar);
            return CLI_EXIT_USAGE;
        }
    }
    sa_err err = {0};
    sa_model *m = NULL;
    sa_tokenizer *tok = NULL;
    sa_engine *e = NULL;
    sa_server *srv = NULL;
    sa_chat_template tmpl;
    bool fell_back = false;
    const char *mpath = cli_str(&a, "model");
    sa_status s = cli_load_model_tokenizer(&a, &m, &tok, &err);
    if (!s) s = sa_chat_template_resolve(tok, cli_str(&a, "template"), &tmpl, &fell_back, &err);
    sa_engine_local_opts eo = sa_engine_local_defaults();
    eo.n_slots = (int32_t)cli_int(&a, "slots");
    eo.n_threads = (int32_t)cli_int(&a, "threads");
    eo.max_ctx = (int32_t)cli_int(&a, "ctx");
    if (!s) s = sa_engine_local_new(&e, m, tok, &eo, &err);
    if (!s) s = sa_signal_install(&err);
    if (!s) {
        sa_serve_opts o = sa_serve_defaults();
        o.host = cli_str(&a, "host");
        o.port = (int)cli_int(&a, "port");
        o.model_name = cli_is_set(&a, "name") ? cli_str(&a, "name") : mpath;
        o.api_key = key;
        o.max_body = (size_t)cli_int(&a, "max-body");
        o.max_batch = (int32_t)cli_int(&a, "max-batch");
        o.gather_ms = (int32_t)cli_int(&a, "gather-ms");
        o.max_connections = (int32_t)cli_int(&a, "max-connections");
        o.n_threads = eo.n_threads;
        o.max_ctx = eo.max_ctx;
        o.log = cli_flag(&a, "quiet") ? NULL : stderr;
        o.models_root = cli_str(&a, "models-root");
        o.load_engine = &eo;
        s = sa_serve_start(&srv, e, m, tok, &tmpl, &o, &err);
    }
    if (!s) {
        fprintf(stderr, "serve: %s (%s, %d layers, dim %d, vocab %d), template %s%s, %d slots, listening on "
                        "http://%s:%d%s\n",
                mpath, sa_arch_name(m->cfg.arch), m->cfg.n_layers, m->cfg.dim, m->cfg.vocab_size,
                sa_chat_format_name(tmpl.format), fell_back ? " (fallback)" : "", eo.n_slots, cli_str(&a, "host"),
                sa_serve_port(srv), key ? ", key required" : "");
        if (cli_is_set(&a, "port-file")) {
            char buf[16];
            int n = snprintf(buf, sizeof buf, "%d\n", sa_serve_port(srv));
            s = sa_file_write_atomic(cli_str(&a, "port-file"), buf, (size_t)n, &err);
        }
    }
    if (!s) {
        while (!sa_signal_pending()) {
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
        }
        fprintf(stderr, "serve: stopping: answering the requests in flight\n");
        sa_serve_stop(srv, 60000);
        sa_serve_stats st;
        sa_serve_get_stats(srv, &st);
        fprintf(stderr, "serve: %llu requests (%llu ok, %llu client errors, %llu server errors), %llu engine calls, "
                        "%llu tokens generated\n",
                (unsigned long long)st.requests, (unsigned long long)st.ok, (unsigned long long)st.client_errors,
                (unsigned long long)st.server_errors, (unsigned long long)st.engine_calls,
                (unsigned long long)st.generated_tokens);
    }
    rc = s ? cli_fail(s, &err) : CLI_EXIT_OK;
    sa_serve_free(srv);
    sa_engine_free(e);
    sa_tokenizer_free(tok);
    sa_model_free(m);
    return rc;
}
