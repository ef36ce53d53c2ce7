/* engine_args.c — see engine_args.h. */
#include "engine_args.h"

#include <stdio.h>
#include <string.h>

#include "model_args.h"
#include "sa/engine_http.h"

bool cli_engine_is_http(const cli_args *a) { return strcmp(cli_str(a, "engine"), "http") == 0; }

bool cli_engine_check_args(const cli_args *a, const char *cmd) {
    const char *k = cli_str(a, "engine");
    if (strcmp(k, "local") != 0 && strcmp(k, "http") != 0) {
        cli_error("%s: --engine must be local or http (got '%s')", cmd, k);
        return false;
    }
    if (cli_engine_is_http(a) != cli_is_set(a, "url")) {
        cli_error("%s: %s", cmd, cli_engine_is_http(a) ? "--engine http needs --url http://host:port"
                                                      : "--url needs --engine http");
        return false;
    }
    return true;
}

sa_engine_http_opts cli_engine_http_opts(const cli_args *a) {
    sa_engine_http_opts o = sa_engine_http_defaults();
    o.url = cli_str(a, "url");
    o.api_key_env = cli_str(a, "api-key-env");
    o.concurrency = (int32_t)cli_int(a, "concurrency");
    o.timeout_s = cli_float(a, "timeout");
    o.max_retries = (int32_t)cli_int(a, "retries");
    o.log = stderr;
    return o;
}

sa_status cli_engine_load(const cli_args *a, sa_model **m, sa_tokenizer **tok, sa_err *err) {
    if (!cli_engine_is_http(a)) return cli_load_model_tokenizer(a, m, tok, err);
    *m = NULL;
    bool own = !cli_is_set(a, "tokenizer");
    sa_status s = sa_tokenizer_load(tok, own ? cli_str(a, "model") : cli_str(a, "tokenizer"), err);
    if (s && own) sa_err_prefix(err, "--engine http: the model's tokenizer is needed (use --tokenizer): ");
    return s;
}

sa_status cli_engine_new(const cli_args *a, const sa_model *m, const sa_tokenizer *tok, const sa_engine_local_opts *lo,
                         sa_engine **out, sa_err *err) {
    if (!cli_engine_is_http(a)) return sa_engine_local_new(out, m, tok, lo, err);
    sa_engine_http_opts o = cli_engine_http_opts(a);
    o.tok = tok;
    sa_status s = sa_engine_http_new(out, &o, err);
    if (!s) {
        sa_engine_http_caps c;
        sa_engine_http_get_caps(*out, &c, NULL);
        fprintf(stderr, "engine: http %s, model %s (%s), prompt log-probs %s, concurrency %d\n", o.url, c.model,
                c.selfalign ? "selfalign serve" : "OpenAI-compatible", c.prompt_logprobs ? "yes" : "no", o.concurrency);
    }
    return s;
}
