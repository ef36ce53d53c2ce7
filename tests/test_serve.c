/* test_serve.c — `selfalign serve` on stories260K over loopback: endpoints,
 * echo log-probs equal to in-process scoring, the HTTP engine giving the
 * same stage outputs as the in-process engine (greedy and seeded), the
 * bearer key, thousands of malformed requests, 64 concurrent clients,
 * SIGTERM with requests in flight, and a server killed and restarted in
 * the middle of a backtranslate stage. HTTP is spoken over raw sockets. */
#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sa/engine.h"
#include "sa/engine_http.h"
#include "sa/model.h"
#include "sa/strbuf.h"
#include "sa_test.h"
#include "sa_test_run.h"

#define M260 "models/llama2c-stories260K/stories260K.bin"
#define T512 "models/llama2c-stories260K/tok512.bin"

#ifdef SA_HAVE_MHD

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- a raw HTTP/1.1 client ---------------------------------------------------------- */

/* Send req[0..n) to 127.0.0.1:port, read the answer to EOF; the status, or -1. */
static int http_raw(int port, const char *req, size_t n, sa_strbuf *body) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct timeval tv = {60, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        close(fd);
        return -1;
    }
    for (size_t off = 0; off < n;) {
        ssize_t w = send(fd, req + off, n - off, MSG_NOSIGNAL);
        if (w <= 0) break; /* the server may answer early and close */
        off += (size_t)w;
    }
    sa_strbuf resp = {0};
    char buf[8192];
    ssize_t r;
    while ((r = recv(fd, buf, sizeof buf, 0)) > 0) sa_strbuf_append(&resp, buf, (size_t)r);
    close(fd);
    int status = -1;
    const char *s = sa_strbuf_cstr(&resp);
    if (strncmp(s, "HTTP/1.", 7) == 0) status = atoi(s + 9);
    const char *b = strstr(s, "\r\n\r\n");
    if (body) {
        sa_strbuf_reset(body);
        if (b) sa_strbuf_puts(body, b + 4);
    }
    sa_strbuf_free(&resp);
    return status;
}

static int http_call(int port, const char *method, const char *path, const char *extra, const char *body, size_t blen,
                     sa_strbuf *out) {
    sa_strbuf r = {0};
    sa_strbuf_appendf(&r, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s", method, path, extra ? extra : "");
    if (body) sa_strbuf_appendf(&r, "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
    sa_strbuf_puts(&r, "\r\n");
    if (body) sa_strbuf_append(&r, body, blen);
    int st = http_raw(port, r.buf, r.len, out);
    sa_strbuf_free(&r);
    return st;
}

static int post(int port, const char *path, const char *json, sa_strbuf *out) {
    return http_call(port, "POST", path, NULL, json, strlen(json), out);
}

/* ---- the server process --------------------------------------------------------------- */

typedef struct server {
    pid_t pid;
    int port;
} server;

static bool serve_start_root(sa_test *t, server *s, int port, const char *key_env, const char *tag, const char *root);

static bool serve_start(sa_test *t, server *s, int port, const char *key_env, const char *tag) {
    return serve_start_root(t, s, port, key_env, tag, NULL);
}

/* With root: models under it load at run time (--models-root). */
static bool serve_start_root(sa_test *t, server *s, int port, const char *key_env, const char *tag, const char *root) {
    const char *bin = bin_path(t), *model = sa_test_data(t, M260), *tok = sa_test_data(t, T512);
    if (!bin || !model || !tok) return false;
    const char *pf = sa_test_tmpfile(t, tag);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    const char *argv[24] = {bin, "serve", "--model", model, "--tokenizer", tok, "--port", ps, "--port-file", pf,
                            "--threads", "1", "--quiet"};
    int n = 13;
    if (key_env) {
        argv[n++] = "--api-key-env";
        argv[n++] = key_env;
    }
    if (root) {
        argv[n++] = "--models-root";
        argv[n++] = root;
    }
    argv[n] = NULL;
    s->port = serve_spawn(t, argv, pf, &s->pid);
    return s->port != 0;
}

static int serve_stop(server *s, int sig) {
    int st = 0;
    kill(s->pid, sig);
    waitpid(s->pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- endpoints ------------------------------------------------------------------------------ */

static json_t *parse(sa_test *t, const sa_strbuf *b) {
    json_error_t je;
    json_t *v = json_loads(sa_strbuf_cstr(b), 0, &je);
    SA_CHECKF(t, v != NULL, "response is not JSON: %.200s", sa_strbuf_cstr(b));
    return v;
}

static void test_endpoints(sa_test *t) {
    server s;
    if (!serve_start(t, &s, 0, NULL, "ep.port")) return;
    sa_strbuf b = {0};
    SA_CHECK_EQ_INT(t, http_call(s.port, "GET", "/health", NULL, NULL, 0, &b), 200);
    CHECK_HAS(t, sa_strbuf_cstr(&b), "\"status\":\"ok\"");
    SA_CHECK_EQ_INT(t, http_call(s.port, "GET", "/v1/models", NULL, NULL, 0, &b), 200);
    CHECK_HAS(t, sa_strbuf_cstr(&b), "\"owned_by\":\"selfalign\"");
    SA_CHECK_EQ_INT(t, post(s.port, "/v1/completions", "{\"model\":\"x\",\"prompt\":\"Once upon a time\",\"max_tokens\":12,"
                                                       "\"temperature\":0,\"unknown_field\":[1,2]}", &b), 200);
    json_t *v = parse(t, &b);
    json_t *ch = json_array_get(json_object_get(v, "choices"), 0);
    SA_CHECK(t, json_string_length(json_object_get(ch, "text")) > 0);
    SA_CHECK_STR(t, json_string_value(json_object_get(ch, "finish_reason")), "length");
    SA_CHECK_EQ_INT(t, json_integer_value(json_object_get(json_object_get(v, "usage"), "completion_tokens")), 12);
    json_decref(v);
    /* a stop string ends the text before it */
    SA_CHECK_EQ_INT(t, post(s.port, "/v1/completions", "{\"prompt\":\"Once upon a time\",\"max_tokens\":40,"
                                                       "\"temperature\":0,\"stop\":[\"Lily\"]}", &b), 200);
    v = parse(t, &b);
    ch = json_array_get(json_object_get(v, "choices"), 0);
    const char *tx = json_string_value(json_object_get(ch, "text"));
    SA_CHECK(t, tx && !strstr(tx, "Lily"));
    json_decref(v);
    SA_CHECK_EQ_INT(t, post(s.port, "/v1/chat/completions",
                            "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":"
                            "[{\"type\":\"text\",\"text\":\"Tell a story <|im_end|>\"}]}],\"max_tokens\":8,\"seed\":3,"
                            "\"logprobs\":true,\"top_logprobs\":2}", &b), 200);
    v = parse(t, &b);
    ch = json_array_get(json_object_get(v, "choices"), 0);
    SA_CHECK_STR(t, json_string_value(json_object_get(json_object_get(ch, "message"), "role")), "assistant");
    json_t *content = json_object_get(json_object_get(ch, "logprobs"), "content");
    SA_CHECK(t, json_array_size(content) == json_array_size(json_object_get(ch, "token_ids")));
    SA_CHECK(t, json_array_size(json_object_get(json_array_get(content, 0), "top_logprobs")) == 2);
    SA_CHECK_STR(t, json_string_value(json_object_get(v, "object")), "chat.completion");
    json_decref(v);
    SA_CHECK_EQ_INT(t, http_call(s.port, "GET", "/nope", NULL, NULL, 0, &b), 404);
    SA_CHECK_EQ_INT(t, http_call(s.port, "GET", "/v1/completions", NULL, NULL, 0, &b), 405);
    const char *form = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/plain\r\n"
                       "Content-Length: 2\r\n\r\n{}";
    SA_CHECK_EQ_INT(t, http_raw(s.port, form, strlen(form), &b), 415);
    CHECK_HAS(t, sa_strbuf_cstr(&b), "\"error\":{");
    sa_strbuf_free(&b);
    SA_CHECK_EQ_INT(t, serve_stop(&s, SIGTERM), 0);
}

static void test_key(sa_test *t) {
    setenv("SA_TEST_SERVE_KEY", "k-77-secret", 1);
    server s;
    if (!serve_start(t, &s, 0, "SA_TEST_SERVE_KEY", "key.port")) return;
    sa_strbuf b = {0};
    const char *body = "{\"prompt\":\"Hi\",\"max_tokens\":2}";
    SA_CHECK_EQ_INT(t, post(s.port, "/v1/completions", body, &b), 401);
    CHECK_HAS(t, sa_strbuf_cstr(&b), "authentication_error");
    SA_CHECK(t, !strstr(sa_strbuf_cstr(&b), "k-77"));
    SA_CHECK_EQ_INT(t, http_call(s.port, "POST", "/v1/completions", "Authorization: Bearer k-77-secreT\r\n", body,
                                 strlen(body), &b), 401);
    SA_CHECK_EQ_INT(t, http_call(s.port, "POST", "/v1/completions", "Authorization: Bearer k-77-secret\r\n", body,
                                 strlen(body), &b), 200);
    SA_CHECK_EQ_INT(t, http_call(s.port, "GET", "/v1/models", NULL, NULL, 0, &b), 401);
    SA_CHECK_EQ_INT(t, http_call(s.port, "GET", "/health", NULL, NULL, 0, &b), 200);
    sa_strbuf_free(&b);
    SA_CHECK_EQ_INT(t, serve_stop(&s, SIGTERM), 0);
}

/* Echo log-probs equal sa_engine_score in this process (same thread count). */
#ifdef SA_HAVE_CURL
typedef struct gen_seen {
    sa_finish_reason finish;
    int32_t n_tokens;
    char text[512];
} gen_seen;

static sa_status on_gen(void *ctx, const sa_gen_result *r) {
    gen_seen *g = ctx;
    g->finish = r->finish;
    g->n_tokens = r->n_tokens;
    snprintf(g->text, sizeof g->text, "%s", r->error ? r->error : r->text);
    return SA_OK;
}

/* At the edge of the context the HTTP engine over serve behaves as the local
 * engine: a prompt that fills it gets no next-token probabilities, and
 * generation stops where the context is full, with finish "context". */
static void context_edges(sa_test *t, sa_engine *le, sa_engine *he, const sa_tokenizer *tok) {
    sa_err err = {0};
    sa_tokens ids = {0};
    const char *story = "Once upon a time, there was a little dog named Max. He liked to run in the park. ";
    while (ids.n < 600) SA_REQUIRE_OK(t, sa_tokenizer_encode(tok, story, strlen(story), 0, &ids, &err), &err);
    int32_t cands[2] = {261, 300};
    float p[2];
    for (int k = 0; k < 2; k++) {
        sa_engine *e = k ? he : le;
        SA_CHECK_OK(t, sa_engine_next_token_probs_tokens(e, ids.ids, 511, cands, 2, p, &err), &err);
        SA_CHECKF(t, sa_engine_next_token_probs_tokens(e, ids.ids, 512, cands, 2, p, &err) != SA_OK,
                  "%s engine: probabilities after a prompt that fills the context", k ? "http" : "local");
    }
    gen_seen g[2];
    for (int k = 0; k < 2; k++) {
        sa_gen_request r = sa_gen_request_default();
        r.id = 5;
        r.prompt_tokens = ids.ids;
        r.n_prompt_tokens = 505;
        r.max_tokens = 100;
        r.sampling.temperature = 0;
        memset(&g[k], 0, sizeof g[k]);
        SA_CHECK_OK(t, sa_engine_generate(k ? he : le, &r, 1, on_gen, &g[k], &err), &err);
    }
    SA_CHECKF(t, g[0].finish == SA_FINISH_CONTEXT && g[0].n_tokens == 7, "local: finish %s after %d tokens",
              sa_finish_reason_str(g[0].finish), g[0].n_tokens);
    SA_CHECKF(t, g[1].finish == g[0].finish && g[1].n_tokens == g[0].n_tokens && strcmp(g[1].text, g[0].text) == 0,
              "http: finish %s after %d tokens (%s) vs local %s (%s)", sa_finish_reason_str(g[1].finish), g[1].n_tokens,
              g[1].text, sa_finish_reason_str(g[0].finish), g[0].text);
    sa_tokens_free(&ids);
}
#endif

static void test_echo_logprobs(sa_test *t) {
    const char *mp = sa_test_data(t, M260), *tp = sa_test_data(t, T512);
    if (!mp || !tp) return;
    server s;
    if (!serve_start(t, &s, 0, NULL, "echo.port")) return;
    sa_model *m = NULL;
    sa_tokenizer *tok = NULL;
    sa_engine *e = NULL;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_model_load(&m, mp, &err), &err);
    SA_REQUIRE_OK(t, sa_tokenizer_load(&tok, tp, &err), &err);
    sa_engine_local_opts lo = sa_engine_local_defaults();
    lo.n_threads = 1;
    SA_REQUIRE_OK(t, sa_engine_local_new(&e, m, tok, &lo, &err), &err);
    const char *text = "Once upon a time, there was a little dog named Max. He liked to run in the park.";
    sa_score_request rq = {.prompt = "", .continuation = text, .add_bos = true};
    sa_score_result res;
    SA_REQUIRE_OK(t, sa_engine_score(e, &rq, 1, &res, &err), &err);
    json_t *req = json_pack("{s:s,s:i,s:b,s:i}", "prompt", text, "max_tokens", 0, "echo", 1, "logprobs", 0);
    char *body = json_dumps(req, JSON_COMPACT);
    sa_strbuf b = {0};
    SA_CHECK_EQ_INT(t, post(s.port, "/v1/completions", body, &b), 200);
    json_t *v = parse(t, &b);
    json_t *ch = json_array_get(json_object_get(v, "choices"), 0);
    json_t *tl = json_object_get(json_object_get(ch, "logprobs"), "token_logprobs");
    SA_CHECK_STR(t, json_string_value(json_object_get(ch, "text")), text);
    SA_CHECK_EQ_INT(t, json_array_size(tl), res.n_tokens + 1);
    SA_CHECK(t, json_is_null(json_array_get(tl, 0)));
    double maxd = 0;
    for (int32_t i = 0; i < res.n_tokens; i++) {
        double d = fabs(json_number_value(json_array_get(tl, (size_t)i + 1)) - res.token_logprobs[i]);
        if (d > maxd) maxd = d;
    }
    SA_CHECKF(t, maxd <= 1e-4, "echo log-probs differ from sa_engine_score by %g", maxd);
    fprintf(stderr, "echo log-probs vs in-process score: max |diff| %g over %d tokens\n", maxd, res.n_tokens);
    json_decref(v);
    free(body);
    json_decref(req);
#ifdef SA_HAVE_CURL
    /* the HTTP engine over serve: score and next-token probabilities equal the local engine's */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", s.port);
    sa_engine_http_opts ho = sa_engine_http_defaults();
    ho.url = url;
    ho.tok = tok;
    sa_engine *he = NULL;
    SA_REQUIRE_OK(t, sa_engine_http_new(&he, &ho, &err), &err);
    sa_engine_http_caps caps;
    sa_engine_http_get_caps(he, &caps, NULL);
    SA_CHECK(t, caps.selfalign && caps.prompt_logprobs && caps.next_token);
    SA_CHECK_EQ_INT(t, sa_engine_max_context(he), 512); /* stories260K's max_seq_len, listed by serve */
    sa_score_request pairs[3] = {
        {.prompt = "Once upon a time", .continuation = ", there was a cat.", .add_bos = true},
        {.prompt = "", .continuation = text, .add_bos = true},
        {.prompt = "Tom said: ", .prompt_trusted = true, .continuation = "hello", .add_bos = true},
    };
    sa_score_result lr[3], hr[3];
    SA_CHECK_OK(t, sa_engine_score(e, pairs, 3, lr, &err), &err);
    SA_CHECK_OK(t, sa_engine_score(he, pairs, 3, hr, &err), &err);
    for (int i = 0; i < 3; i++) {
        SA_CHECK_EQ_INT(t, hr[i].status, lr[i].status);
        SA_CHECK_EQ_INT(t, hr[i].n_tokens, lr[i].n_tokens);
        SA_CHECKF(t, fabs(hr[i].logprob_sum - lr[i].logprob_sum) <= 1e-9, "pair %d: %.12f vs %.12f", i,
                  hr[i].logprob_sum, lr[i].logprob_sum);
        sa_score_result_free(&lr[i]);
        sa_score_result_free(&hr[i]);
    }
    int32_t cands[4] = {261, 300, 7, 100000};
    float pl[4], ph[4];
    SA_CHECK_OK(t, sa_engine_next_token_probs(e, "Once upon", false, true, cands, 4, pl, &err), &err);
    SA_CHECK_OK(t, sa_engine_next_token_probs(he, "Once upon", false, true, cands, 4, ph, &err), &err);
    for (int i = 0; i < 4; i++) SA_CHECKF(t, pl[i] == ph[i], "candidate %d: %g vs %g", i, pl[i], ph[i]);
    context_edges(t, e, he, tok);
    sa_engine_free(he);
#endif
    sa_strbuf_free(&b);
    sa_score_result_free(&res);
    sa_engine_free(e);
    sa_tokenizer_free(tok);
    sa_model_free(m);
    SA_CHECK_EQ_INT(t, serve_stop(&s, SIGTERM), 0);
}

/* ---- stages through --engine http ---------------------------------------------------------------- */

static const char *write_segments(sa_test *t, const char *name, int n) {
    static const char *const k_names[] = {"Lily", "Tom", "Sue", "Ben", "Mia", "Max", "Amy", "Sam"};
    static const char *const k_things[] = {"ball", "cat", "kite", "boat", "cake", "tree", "hat", "dog"};
    const char *path = sa_test_tmpfile(t, name);
    sa_strbuf b = {0};
    for (int i = 0; i < n; i++)
        sa_strbuf_appendf(&b, "{\"doc\":\"d%d\",\"id\":\"seg%04d\",\"text\":\"%s had a %s. One day %s went to the park "
                          "with the %s number %d.\"}\n",
                          i / 5, i, k_names[i % 8], k_things[(i / 8) % 8], k_names[i % 8], k_things[(i / 8) % 8], i);
    sa_test_write_file(t, path, b.buf, b.len);
    sa_strbuf_free(&b);
    return path;
}

/* argv for a backtranslate run; url NULL = in-process. */
static void bt_argv(const char **v, const char *bin, const char *in, const char *out, const char *temp, const char *url,
                    const char *maxtok, sa_test *t) {
    int n = 0;
    v[n++] = bin;
    v[n++] = "backtranslate";
    v[n++] = "--model";
    v[n++] = sa_test_data(t, M260);
    v[n++] = "--tokenizer";
    v[n++] = sa_test_data(t, T512);
    v[n++] = "--in";
    v[n++] = in;
    v[n++] = "--out";
    v[n++] = out;
    v[n++] = "--max-tokens";
    v[n++] = maxtok;
    v[n++] = "--temperature";
    v[n++] = temp;
    v[n++] = "--seed";
    v[n++] = "5";
    v[n++] = "--threads";
    v[n++] = "1";
    v[n++] = "--quiet";
    if (url) {
        v[n++] = "--engine";
        v[n++] = "http";
        v[n++] = "--url";
        v[n++] = url;
        v[n++] = "--concurrency";
        v[n++] = "6";
    }
    v[n] = NULL;
}

/* The same bytes (both empty counts as equal; both missing does not). */
static bool same_file(const char *a, const char *b) {
    sa_strbuf x = {0}, y = {0};
    bool ok = access(a, F_OK) == 0 && access(b, F_OK) == 0;
    slurp(a, &x);
    slurp(b, &y);
    ok = ok && x.len == y.len && (x.len == 0 || memcmp(x.buf, y.buf, x.len) == 0);
    sa_strbuf_free(&x);
    sa_strbuf_free(&y);
    return ok;
}

static bool same_outputs(sa_test *t, const char *a, const char *b) {
    char ra[1100], rb[1100];
    snprintf(ra, sizeof ra, "%s.rejected.jsonl", a);
    snprintf(rb, sizeof rb, "%s.rejected.jsonl", b);
    bool same = same_file(a, b) && same_file(ra, rb);
    SA_CHECKF(t, same, "%s and %s differ", a, b);
    SA_CHECK(t, file_lines(a) + file_lines(ra) > 0);
    return same;
}

static void test_stages_http(sa_test *t) {
#ifndef SA_HAVE_CURL
    sa_test_skip(t, "built without libcurl (NO_CURL=1)");
#else
    const char *bin = bin_path(t);
    if (!bin || !sa_test_data(t, M260) || !sa_test_data(t, T512)) return;
    server s;
    if (!serve_start(t, &s, 0, NULL, "st.port")) return;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", s.port);
    const char *in = write_segments(t, "st_seg.jsonl", 40);
    const char *temps[2] = {"0", "0.7"};
    for (int k = 0; k < 2; k++) {
        char a[64], b[64];
        snprintf(a, sizeof a, "st_local_%d.jsonl", k);
        snprintf(b, sizeof b, "st_http_%d.jsonl", k);
        const char *pa = sa_test_tmpfile(t, a), *pb = sa_test_tmpfile(t, b);
        const char *v[40];
        bt_argv(v, bin, in, pa, temps[k], NULL, "24", t);
        SA_CHECK_EQ_INT(t, child_run(v), 0);
        bt_argv(v, bin, in, pb, temps[k], url, "24", t);
        SA_CHECK_EQ_INT(t, child_run(v), 0);
        same_outputs(t, pa, pb);
    }
    /* curation through the server, pmi (prompt log-probs); the rubric of the logits mode does not fit
     * stories260K's context: test_echo_logprobs checks the candidate probabilities it uses */
    const char *cand = sa_test_tmpfile(t, "st_cand.jsonl");
    sa_strbuf cb = {0};
    for (int i = 0; i < 8; i++)
        sa_strbuf_appendf(&cb, "{\"id\":\"c%d\",\"instruction\":\"Write a story about Lily and a %s.\",\"output\":\"Lily had a "
                          "ball. One day Lily went to the park.\",\"source\":\"augmented\"}\n", i, i % 2 ? "cat" : "dog");
    sa_test_write_file(t, cand, cb.buf, cb.len);
    sa_strbuf_free(&cb);
    const char *modes[1] = {"pmi"};
    for (int k = 0; k < 1; k++) {
        char a[64], b[64];
        snprintf(a, sizeof a, "cur_local_%s.jsonl", modes[k]);
        snprintf(b, sizeof b, "cur_http_%s.jsonl", modes[k]);
        const char *pa = sa_test_tmpfile(t, a), *pb = sa_test_tmpfile(t, b);
        run_result r;
        if (!run(t, &r, NULL, "curate", "--model", sa_test_data(t, M260), "--tokenizer", sa_test_data(t, T512), "--in",
                 cand, "--out", pa, "--mode", modes[k], "--threads", "1", NULL))
            break;
        SA_CHECKF(t, r.rc == 0, "curate local: %s", ERR(r));
        result_free(&r);
        if (!run(t, &r, NULL, "curate", "--model", sa_test_data(t, M260), "--tokenizer", sa_test_data(t, T512), "--in",
                 cand, "--out", pb, "--mode", modes[k], "--engine", "http", "--url", url, NULL))
            break;
        SA_CHECKF(t, r.rc == 0, "curate http: %s", ERR(r));
        result_free(&r);
        SA_CHECKF(t, same_file(pa, pb), "curate --mode %s: local and http outputs differ", modes[k]);
        SA_CHECK_EQ_INT(t, file_lines(pb), 8);
    }
    /* usage errors */
    run_result r;
    if (run(t, &r, NULL, "generate", "--model", "m", "--prompt", "x", "--engine", "http", NULL)) {
        SA_CHECK_EQ_INT(t, r.rc, 2);
        CHECK_HAS(t, ERR(r), "--url");
        result_free(&r);
    }
    SA_CHECK_EQ_INT(t, serve_stop(&s, SIGTERM), 0);
#endif
}

/* kill -9 the server mid-stage, restart it on the same port: the stage completes with the in-process outputs. */
static void test_restart_mid_stage(sa_test *t) {
#ifndef SA_HAVE_CURL
    sa_test_skip(t, "built without libcurl (NO_CURL=1)");
#else
    const char *bin = bin_path(t);
    if (!bin || !sa_test_data(t, M260) || !sa_test_data(t, T512)) return;
    enum { NSEG = 400 };
    const char *in = write_segments(t, "rs_seg.jsonl", NSEG);
    const char *ref = sa_test_tmpfile(t, "rs_ref.jsonl"), *out = sa_test_tmpfile(t, "rs_out.jsonl");
    const char *v[40];
    bt_argv(v, bin, in, ref, "0.7", NULL, "48", t);
    SA_REQUIRE(t, child_run(v) == 0);
    server s;
    if (!serve_start(t, &s, 0, NULL, "rs.port")) return;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", s.port);
    bt_argv(v, bin, in, out, "0.7", url, "48", t);
    pid_t bt = child_spawn(v);
    char journal[1100];
    snprintf(journal, sizeof journal, "%s.journal", out);
    double t0 = now_s();
    while (file_lines(journal) < 20 && now_s() - t0 < 30) usleep(500);
    uint64_t at_kill = file_lines(journal);
    int port = s.port;
    serve_stop(&s, SIGKILL);
    usleep(300000);
    SA_CHECKF(t, at_kill < NSEG, "the stage finished before the kill (%llu lines)", (unsigned long long)at_kill);
    server s2;
    bool up = serve_start(t, &s2, port, NULL, "rs2.port");
    int st = 0;
    waitpid(bt, &st, 0);
    SA_CHECKF(t, WIFEXITED(st) && WEXITSTATUS(st) == 0, "backtranslate through a restarted server: status %d", st);
    SA_CHECK_EQ_INT(t, file_lines(journal), NSEG);
    same_outputs(t, ref, out);
    fprintf(stderr, "restart mid-stage: killed at %llu of %d segments; outputs equal the in-process run\n",
            (unsigned long long)at_kill, NSEG);
    if (up) SA_CHECK_EQ_INT(t, serve_stop(&s2, SIGTERM), 0);
#endif
}

/* ---- hostile requests ------------------------------------------------------------------------------ */

static void test_malformed(sa_test *t) {
    server s;
    if (!serve_start(t, &s, 0, NULL, "bad.port")) return;
    static const char *const k_bad[] = {
        "{", "[]", "42", "\"prompt\"", "{\"prompt\":}", "{\"prompt\":\"x\",}", "{\"prompt\":1}", "{\"prompt\":[]}",
        "{\"prompt\":[-1]}", "{\"prompt\":[99999]}", "{\"prompt\":[\"a\",\"b\"]}", "{\"prompt\":\"x\",\"max_tokens\":\"5\"}",
        "{\"prompt\":\"x\",\"max_tokens\":-1}", "{\"prompt\":\"x\",\"temperature\":\"hot\"}",
        "{\"prompt\":\"x\",\"top_p\":0}", "{\"prompt\":\"x\",\"n\":2}", "{\"prompt\":\"x\",\"stream\":true}",
        "{\"prompt\":\"x\",\"stop\":5}", "{\"prompt\":\"x\",\"stop\":[1]}", "{\"prompt\":\"x\",\"logprobs\":99}",
        "{\"prompt\":\"x\",\"echo\":\"yes\"}", "{\"prompt\":\"x\",\"seed\":1.5}", "{\"prompt\":\"x\",\"prompt\":\"y\"}",
        "{\"prompt\":\"x\",\"sa_id\":\"-4\"}", "{\"prompt\":\"x\",\"model\":7}", "{\"max_tokens\":3}",
        "{\"prompt\":\"x\\u0000y\"}", "{\"prompt\":\"\\ud800\"}",
    };
    static const char *const k_bad_chat[] = {
        "{}", "{\"messages\":[]}", "{\"messages\":{}}", "{\"messages\":[{\"role\":\"king\",\"content\":\"x\"}]}",
        "{\"messages\":[{\"role\":\"user\"}]}", "{\"messages\":[{\"role\":\"user\",\"content\":5}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\"}]}]}", "{\"messages\":[\"hi\"]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_logprobs\":50}",
    };
    const size_t nb = sizeof k_bad / sizeof k_bad[0], nc = sizeof k_bad_chat / sizeof k_bad_chat[0];
    char *huge = malloc(2u << 20);
    memset(huge, 'a', 2u << 20);
    memcpy(huge, "{\"prompt\":\"", 11);
    sa_strbuf b = {0};
    int n = 0, not4xx = 0, first_bad = -1;
    double t0 = now_s();
    for (int i = 0; i < 3000; i++) {
        int st;
        int kind = i % 5;
        if (i % 300 == 299) st = http_call(s.port, "POST", "/v1/completions", NULL, huge, 2u << 20, &b);
        else if (kind == 0) {
            char bad[64] = "{\"prompt\":\"ab\xff\xfe\",\"max_tokens\":1}"; /* invalid UTF-8 */
            bad[13] = (char)(0x80 + i % 64);
            st = post(s.port, "/v1/completions", bad, &b);
        } else if (kind == 1) st = post(s.port, "/v1/chat/completions", k_bad_chat[(size_t)i % nc], &b);
        else if (kind == 2) { /* random bytes */
            char junk[96];
            for (size_t k = 0; k < sizeof junk; k++) junk[k] = (char)((i * 131 + (int)k * 17) & 0xff);
            st = http_call(s.port, "POST", "/v1/completions", NULL, junk, sizeof junk, &b);
        } else st = post(s.port, "/v1/completions", k_bad[(size_t)i % nb], &b);
        n++;
        if (st < 400 || st >= 500) {
            not4xx++;
            if (first_bad < 0) first_bad = i;
        }
    }
    SA_CHECKF(t, not4xx == 0, "%d of %d malformed requests did not get a 4xx (first: #%d)", not4xx, n, first_bad);
    SA_CHECK_EQ_INT(t, http_call(s.port, "GET", "/health", NULL, NULL, 0, &b), 200);
    SA_CHECK_EQ_INT(t, post(s.port, "/v1/completions", "{\"prompt\":\"Once\",\"max_tokens\":3}", &b), 200);
    fprintf(stderr, "malformed: %d requests, all 4xx, %.0f requests/s; the server still answers\n", n, n / (now_s() - t0));
    free(huge);
    sa_strbuf_free(&b);
    SA_CHECK_EQ_INT(t, serve_stop(&s, SIGTERM), 0);
}

/* ---- load and shutdown ------------------------------------------------------------------------------ */

typedef struct client {
    int port, id;
    double until;
    int max_tokens;
    int ok, failed;
    double *lat;
    size_t n, cap;
    volatile int sent;
} client;

static void *client_main(void *p) {
    client *c = p;
    sa_strbuf b = {0};
    do {
        char body[160];
        snprintf(body, sizeof body, "{\"prompt\":\"Once upon a time %d\",\"max_tokens\":%d,\"seed\":%d}", c->id,
                 c->max_tokens, c->id);
        double t0 = now_s();
        c->sent = 1;
        int st = post(c->port, "/v1/completions", body, &b);
        double dt = now_s() - t0;
        if (st == 200) c->ok++;
        else c->failed++;
        if (c->n == c->cap) {
            c->cap = c->cap ? 2 * c->cap : 64;
            c->lat = realloc(c->lat, c->cap * sizeof(double));
        }
        c->lat[c->n++] = dt;
    } while (now_s() < c->until);
    sa_strbuf_free(&b);
    return NULL;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void test_load_64(sa_test *t) {
    server s;
    if (!serve_start(t, &s, 0, NULL, "load.port")) return;
    enum { NC = 64 };
    client cs[NC];
    pthread_t th[NC];
    double t0 = now_s();
    memset(cs, 0, sizeof cs);
    for (int i = 0; i < NC; i++) {
        cs[i] = (client){.port = s.port, .id = i, .until = t0 + 4.0, .max_tokens = 16};
        pthread_create(&th[i], NULL, client_main, &cs[i]);
    }
    int ok = 0, failed = 0;
    size_t total = 0;
    for (int i = 0; i < NC; i++) {
        pthread_join(th[i], NULL);
        ok += cs[i].ok;
        failed += cs[i].failed;
        total += cs[i].n;
    }
    double wall = now_s() - t0;
    double *all = malloc(total * sizeof(double));
    size_t k = 0;
    for (int i = 0; i < NC; i++) {
        memcpy(all + k, cs[i].lat, cs[i].n * sizeof(double));
        k += cs[i].n;
        free(cs[i].lat);
    }
    qsort(all, total, sizeof(double), cmp_d);
    SA_CHECKF(t, failed == 0, "%d of %d requests failed under load", failed, ok + failed);
    SA_CHECK(t, ok > NC);
    if (total)
        fprintf(stderr, "load: 64 clients for %.1f s: %d requests, %d failed, %.1f requests/s, %.0f tokens/s, "
                        "latency p50 %.1f ms p99 %.1f ms\n",
                wall, ok + failed, failed, total / wall, 16.0 * ok / wall, 1000 * all[total / 2],
                1000 * all[(size_t)(0.99 * (double)(total - 1))]);
    free(all);
    SA_CHECK_EQ_INT(t, serve_stop(&s, SIGTERM), 0);
}

static void test_sigterm_in_flight(sa_test *t) {
    server s;
    if (!serve_start(t, &s, 0, NULL, "term.port")) return;
    enum { NC = 8 };
    client cs[NC];
    pthread_t th[NC];
    memset(cs, 0, sizeof cs);
    for (int i = 0; i < NC; i++) {
        cs[i] = (client){.port = s.port, .id = i, .until = 0, .max_tokens = 400};
        pthread_create(&th[i], NULL, client_main, &cs[i]);
    }
    for (int i = 0; i < NC; i++)
        while (!cs[i].sent) usleep(100);
    usleep(20000);
    int rc = serve_stop(&s, SIGTERM);
    int ok = 0;
    for (int i = 0; i < NC; i++) {
        pthread_join(th[i], NULL);
        ok += cs[i].ok;
        free(cs[i].lat);
    }
    SA_CHECK_EQ_INT(t, rc, 0);
    SA_CHECK_EQ_INT(t, ok, NC);
}

/* POST body to path; the status, and the error's type in *type (or ""). */
static int post_type(int port, const char *path, const char *json, char *type, size_t cap) {
    sa_strbuf b = {0};
    int st = post(port, path, json, &b);
    json_t *v = json_loads(sa_strbuf_cstr(&b), 0, NULL);
    snprintf(type, cap, "%s", json_string_value(json_object_get(json_object_get(v, "error"), "type")) ?: "");
    json_decref(v);
    sa_strbuf_free(&b);
    return st;
}

static json_t *models_list(sa_test *t, int port) {
    sa_strbuf b = {0};
    SA_CHECK_EQ_INT(t, http_call(port, "GET", "/v1/models", NULL, NULL, 0, &b), 200);
    json_t *v = parse(t, &b);
    sa_strbuf_free(&b);
    return v;
}

/* The text of a greedy completion by the named model ("" on failure). */
static void greedy_text(int port, const char *model, char *out, size_t cap) {
    char req[512];
    snprintf(req, sizeof req, "{\"model\":\"%s\",\"prompt\":\"Once upon a time\",\"max_tokens\":24,\"temperature\":0}", model);
    sa_strbuf b = {0};
    out[0] = 0;
    if (post(port, "/v1/completions", req, &b) == 200) {
        json_t *v = json_loads(sa_strbuf_cstr(&b), 0, NULL);
        const char *x = json_string_value(json_object_get(json_array_get(json_object_get(v, "choices"), 0), "text"));
        snprintf(out, cap, "%s", x ? x : "");
        json_decref(v);
    }
    sa_strbuf_free(&b);
}

/* Models loaded and unloaded at run time (vLLM's endpoint names). */
static void test_models_at_run_time(sa_test *t) {
    char type[64], a[512], b[512];
    server s;
    /* off by default: loading is refused, any model name means the base */
    if (!serve_start(t, &s, 0, NULL, "mr0.port")) return;
    SA_CHECK_EQ_INT(t, post_type(s.port, "/v1/load_lora_adapter", "{\"lora_name\":\"a\",\"lora_path\":\"x\"}", type, sizeof type), 404);
    greedy_text(s.port, "anything", a, sizeof a);
    SA_CHECK(t, a[0] != 0);
    SA_CHECK_EQ_INT(t, serve_stop(&s, SIGTERM), 0);

    const char *model = sa_test_data(t, M260);
    if (!model) return;
    char root[1024];
    snprintf(root, sizeof root, "%s", model);
    *strrchr(root, '/') = 0; /* the model's folder: stories260K.bin and tok512.bin */
    if (!serve_start_root(t, &s, 0, NULL, "mr1.port", root)) return;
    json_t *l = models_list(t, s.port);
    SA_CHECK_EQ_INT(t, json_array_size(json_object_get(l, "data")), 1);
    char base[1024];
    snprintf(base, sizeof base, "%s", json_string_value(json_object_get(json_array_get(json_object_get(l, "data"), 0), "id")) ?: "");
    json_decref(l);
    const char *load = "/v1/load_lora_adapter", *unload = "/v1/unload_lora_adapter";
    SA_CHECK_EQ_INT(t, post_type(s.port, load, "{\"lora_name\":\"a\",\"lora_path\":\"stories260K.bin\"}", type, sizeof type), 200);
    SA_CHECK_EQ_INT(t, post_type(s.port, load, "{\"lora_name\":\"a\",\"lora_path\":\"stories260K.bin\"}", type, sizeof type), 200);
    SA_CHECK_EQ_INT(t, post_type(s.port, load, "{\"lora_name\":\"a\",\"lora_path\":\"tok512.bin\"}", type, sizeof type), 400);
    SA_CHECK_EQ_INT(t, post_type(s.port, load, "{\"lora_name\":\"b\",\"lora_path\":\"../..\"}", type, sizeof type), 403);
    SA_CHECK_EQ_INT(t, post_type(s.port, load, "{\"lora_name\":\"b\",\"lora_path\":\"/\"}", type, sizeof type), 403);
    SA_CHECK_EQ_INT(t, post_type(s.port, load, "{\"lora_name\":\"b\",\"lora_path\":\"nope\"}", type, sizeof type), 404);
    SA_CHECK_EQ_INT(t, post_type(s.port, load, "{\"lora_name\":\"b\",\"lora_path\":\"tok512.bin\"}", type, sizeof type), 400);
    SA_CHECK_EQ_INT(t, post_type(s.port, load, "{\"lora_path\":\"stories260K.bin\"}", type, sizeof type), 400);
    SA_CHECK_EQ_INT(t, post_type(s.port, load, "{\"lora_name\":\"b\\n\",\"lora_path\":\"stories260K.bin\"}", type, sizeof type), 400);
    SA_CHECK_EQ_INT(t, post_type(s.port, load, "[1]", type, sizeof type), 400);
    SA_CHECK_EQ_INT(t, post_type(s.port, load, "{\"lora_name\":", type, sizeof type), 400);
    l = models_list(t, s.port);
    json_t *d = json_object_get(l, "data");
    SA_CHECK_EQ_INT(t, json_array_size(d), 2);
    SA_CHECK_STR(t, json_string_value(json_object_get(json_array_get(d, 1), "id")), "a");
    SA_CHECK_STR(t, json_string_value(json_object_get(json_array_get(d, 1), "parent")), base);
    json_decref(l);
    /* the loaded model answers (same weights as the base here: same text), an unknown one is a 404 */
    greedy_text(s.port, "a", a, sizeof a);
    greedy_text(s.port, base, b, sizeof b);
    SA_CHECK(t, a[0] != 0);
    SA_CHECK_STR(t, a, b);
    SA_CHECK_EQ_INT(t, post_type(s.port, "/v1/completions", "{\"model\":\"zzz\",\"prompt\":\"x\"}", type, sizeof type), 404);
    SA_CHECK_STR(t, type, "model_not_found");
    /* unloading */
    char req[1200];
    snprintf(req, sizeof req, "{\"lora_name\":\"%s\"}", base);
    SA_CHECK_EQ_INT(t, post_type(s.port, unload, req, type, sizeof type), 400);
    SA_CHECK_EQ_INT(t, post_type(s.port, unload, "{\"lora_name\":\"a\"}", type, sizeof type), 200);
    SA_CHECK_EQ_INT(t, post_type(s.port, unload, "{\"lora_name\":\"a\"}", type, sizeof type), 404);
    SA_CHECK_EQ_INT(t, post_type(s.port, "/v1/completions", "{\"model\":\"a\",\"prompt\":\"x\"}", type, sizeof type), 404);
    l = models_list(t, s.port);
    SA_CHECK_EQ_INT(t, json_array_size(json_object_get(l, "data")), 1);
    json_decref(l);
    SA_CHECK_EQ_INT(t, serve_stop(&s, SIGTERM), 0);
}

static const sa_test_def k_tests[] = {
    {"models_at_run_time", test_models_at_run_time},
    {"endpoints", test_endpoints},   {"key", test_key},           {"echo_logprobs", test_echo_logprobs},
    {"stages_http", test_stages_http}, {"restart_mid_stage", test_restart_mid_stage}, {"malformed", test_malformed},
    {"load_64", test_load_64},       {"sigterm_in_flight", test_sigterm_in_flight},
};

#else

static void test_no_mhd(sa_test *t) { sa_test_skip(t, "built without libmicrohttpd (NO_MHD=1)"); }
static const sa_test_def k_tests[] = {{"serve", test_no_mhd}};

#endif

SA_TEST_MAIN(k_tests)
