/* bench_serve.c — the same N generation requests through the in-process
 * engine and through `selfalign serve` + the HTTP engine (concurrency 8
 * and 32), on stories260K; prints requests/s and tokens/s and the ratio
 * HTTP / in-process. The server runs in this process (sa_serve_start) on a
 * loopback port with its own engine, so both sides use the same model,
 * slots and threads.
 *
 * Usage: bench_serve [N] [max_tokens] [threads]   (defaults 256 64 1)
 * Needs $SA_DATA_DIR (default ../shared/data) with models/llama2c-stories260K.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sa/chat.h"
#include "sa/engine.h"
#include "sa/engine_http.h"
#include "sa/model.h"
#include "sa/serve.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct count {
    size_t done, tokens, errors;
} count;

static sa_status on_res(void *ctx, const sa_gen_result *r) {
    count *c = ctx;
    c->done++;
    c->tokens += (size_t)r->n_tokens;
    c->errors += r->finish == SA_FINISH_ERROR;
    return SA_OK;
}

static double run(sa_engine *e, const sa_gen_request *rq, size_t n, count *c, sa_err *err) {
    memset(c, 0, sizeof *c);
    double t0 = now_s();
    if (sa_engine_generate(e, rq, n, on_res, c, err)) return -1;
    return now_s() - t0;
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? (size_t)atoi(argv[1]) : 256;
    int max_tokens = argc > 2 ? atoi(argv[2]) : 64, threads = argc > 3 ? atoi(argv[3]) : 1;
    const char *dd = getenv("SA_DATA_DIR") ? getenv("SA_DATA_DIR") : "../shared/data";
    char mp[1024], tp[1024];
    snprintf(mp, sizeof mp, "%s/models/llama2c-stories260K/stories260K.bin", dd);
    snprintf(tp, sizeof tp, "%s/models/llama2c-stories260K/tok512.bin", dd);
    sa_err err = {0};
    sa_model *m = NULL;
    sa_tokenizer *tok = NULL;
    sa_engine *local = NULL, *served = NULL;
    if (sa_model_load(&m, mp, &err) || sa_tokenizer_load(&tok, tp, &err)) {
        fprintf(stderr, "bench_serve: %s (set SA_DATA_DIR); skipped\n", err.msg);
        return 0;
    }
    sa_engine_local_opts lo = sa_engine_local_defaults();
    lo.n_threads = threads;
    lo.n_slots = 32;
    sa_chat_template tmpl;
    sa_chat_template_resolve(tok, NULL, &tmpl, NULL, &err);
    sa_server *srv = NULL;
    sa_serve_opts so = sa_serve_defaults();
    so.n_threads = threads;
    if (sa_engine_local_new(&local, m, tok, &lo, &err) || sa_engine_local_new(&served, m, tok, &lo, &err) ||
        sa_serve_start(&srv, served, m, tok, &tmpl, &so, &err)) {
        fprintf(stderr, "bench_serve: %s\n", err.msg);
        return err.code == SA_ERR_UNSUPPORTED ? 0 : 1;
    }
    sa_gen_request *rq = calloc(n, sizeof *rq);
    char (*prompts)[64] = calloc(n, 64);
    for (size_t i = 0; i < n; i++) {
        snprintf(prompts[i], 64, "Once upon a time %zu, there was", i);
        rq[i] = sa_gen_request_default();
        rq[i].id = i + 1;
        rq[i].prompt = prompts[i];
        rq[i].max_tokens = max_tokens;
        rq[i].seed = 1;
    }
    count c;
    double tl = run(local, rq, n, &c, &err);
    printf("bench_serve: stories260K, %zu requests x %d new tokens, %d slots, %d kernel thread(s)\n", n, max_tokens,
           lo.n_slots, threads);
    printf("  in-process           %7.1f req/s %9.0f tok/s\n", n / tl, c.tokens / tl);
    int concs[2] = {8, 32};
    for (int k = 0; k < 2; k++) {
        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%d", sa_serve_port(srv));
        sa_engine_http_opts ho = sa_engine_http_defaults();
        ho.url = url;
        ho.tok = tok;
        ho.concurrency = concs[k];
        sa_engine *he = NULL;
        if (sa_engine_http_new(&he, &ho, &err)) {
            fprintf(stderr, "bench_serve: %s\n", err.msg);
            return err.code == SA_ERR_UNSUPPORTED ? 0 : 1;
        }
        count ch;
        double th = run(he, rq, n, &ch, &err);
        if (th < 0) fprintf(stderr, "bench_serve: %s\n", err.msg);
        else
            printf("  serve, concurrency %2d %7.1f req/s %9.0f tok/s   ratio http/in-process %.2f (%zu errors)\n",
                   concs[k], n / th, ch.tokens / th, tl / th, ch.errors);
        sa_engine_free(he);
    }
    sa_serve_free(srv);
    free(rq);
    free(prompts);
    sa_engine_free(local);
    sa_engine_free(served);
    sa_tokenizer_free(tok);
    sa_model_free(m);
    return 0;
}
