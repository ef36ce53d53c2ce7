/* test_engine_http.c — the HTTP engine (engine_http.h) against a small
 * fault-injecting server written here (raw sockets on loopback, one thread
 * per connection): 429, 500, stalled and dropped responses are retried and
 * every request completes exactly once; a server without prompt log-probs
 * makes scoring fail with a clear message; the API key never appears in
 * messages or logs; a server that never recovers stops the call. */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sa/engine.h"
#include "sa/engine_http.h"
#include "sa/strbuf.h"
#include "sa_test.h"

#ifdef SA_HAVE_CURL

#define T512 "models/llama2c-stories260K/tok512.bin"
#define MAX_IDS 256

typedef enum fault { F_NONE, F_429, F_500, F_STALL, F_CLOSE, F_ALWAYS_500 } fault;

typedef struct fake {
    int lfd, port;
    fault f;
    bool selfalign, logprobs;
    const char *need_key;  /* "Bearer ..." required when set */
    pthread_t th;
    pthread_mutex_t mu;
    int attempts[MAX_IDS]; /* per request id */
    int conns;
    long last_max_tokens; /* of the last generate request */
    bool saw_key;
    volatile int stop;
} fake;

typedef struct conn_arg {
    fake *f;
    int fd;
} conn_arg;

static void send_all(int fd, const char *s, size_t n) {
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

static void respond(int fd, int status, const char *extra, const char *body) {
    char head[256];
    snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
             status, strlen(body), extra ? extra : "");
    send_all(fd, head, strlen(head));
    send_all(fd, body, strlen(body));
}

static void *conn_main(void *p) {
    conn_arg *a = p;
    fake *f = a->f;
    int fd = a->fd;
    free(a);
    sa_strbuf req = {0};
    char buf[4096];
    size_t body_at = 0, clen = 0;
    for (;;) { /* headers, then Content-Length bytes */
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r <= 0) break;
        sa_strbuf_append(&req, buf, (size_t)r);
        const char *hdr_end = strstr(sa_strbuf_cstr(&req), "\r\n\r\n");
        if (hdr_end && !body_at) {
            body_at = (size_t)(hdr_end - req.buf) + 4;
            const char *cl = strcasestr(req.buf, "Content-Length:");
            clen = cl && cl < hdr_end ? strtoul(cl + 15, NULL, 10) : 0;
        }
        if (body_at && req.len >= body_at + clen) break;
    }
    const char *s = sa_strbuf_cstr(&req);
    pthread_mutex_lock(&f->mu);
    f->conns++;
    const char *auth = strcasestr(s, "Authorization: ");
    if (auth && f->need_key && strncmp(auth + 15, f->need_key, strlen(f->need_key)) == 0) f->saw_key = true;
    pthread_mutex_unlock(&f->mu);
    if (f->need_key && (!auth || strncmp(auth + 15, f->need_key, strlen(f->need_key)) != 0)) {
        respond(fd, 401, NULL, "{\"error\":{\"message\":\"bad key\",\"type\":\"auth\"}}");
    } else if (strncmp(s, "GET /v1/models", 14) == 0) {
        respond(fd, 200, NULL, f->selfalign ? "{\"data\":[{\"id\":\"m\",\"owned_by\":\"selfalign\"}]}"
               : f->logprobs ? "{\"data\":[{\"id\":\"m\",\"owned_by\":\"someone\",\"max_model_len\":4096}]}"
                             : "{\"data\":[{\"id\":\"m\",\"owned_by\":\"someone\"}]}");
    } else if (strncmp(s, "POST /v1/completions", 20) == 0 && body_at) {
        json_t *b = json_loadb(req.buf + body_at, clen, 0, NULL);
        bool echo = json_is_true(json_object_get(b, "echo"));
        json_t *prompt = json_object_get(b, "prompt");
        if (echo) { /* scoring */
            if (!f->logprobs) {
                respond(fd, 200, NULL, "{\"choices\":[{\"text\":\"\",\"finish_reason\":\"length\",\"logprobs\":null}]}");
            } else {
                json_t *tl = json_array();
                size_t n = json_is_array(prompt) ? json_array_size(prompt) : 3;
                for (size_t i = 0; i < n; i++) json_array_append_new(tl, i ? json_real(-0.5) : json_null());
                json_t *o = json_pack("{s:[{s:s,s:s,s:{s:o}}]}", "choices", "text", "", "finish_reason", "length",
                                      "logprobs", "token_logprobs", tl);
                char *d = json_dumps(o, JSON_COMPACT);
                respond(fd, 200, NULL, d);
                free(d);
                json_decref(o);
            }
        } else {
            const char *sid = json_string_value(json_object_get(b, "sa_id"));
            int id = sid ? atoi(sid) : 0;
            if (id < 0 || id >= MAX_IDS) id = 0;
            pthread_mutex_lock(&f->mu);
            int attempt = ++f->attempts[id];
            f->last_max_tokens = (long)json_integer_value(json_object_get(b, "max_tokens"));
            pthread_mutex_unlock(&f->mu);
            fault ft = attempt == 1 ? f->f : f->f == F_ALWAYS_500 ? F_ALWAYS_500 : F_NONE;
            if (ft == F_429) respond(fd, 429, "Retry-After: 0\r\n", "{\"error\":{\"message\":\"slow down\"}}");
            else if (ft == F_500 || ft == F_ALWAYS_500) respond(fd, 500, NULL, "{\"error\":{\"message\":\"boom\"}}");
            else if (ft == F_STALL) {
                for (int i = 0; i < 150 && !f->stop; i++) usleep(10000); /* past the client's timeout */
            } else if (ft == F_CLOSE) {
                /* close without a word */
            } else {
                char body[256];
                snprintf(body, sizeof body,
                         "{\"choices\":[{\"text\":\"ok %d\",\"finish_reason\":\"stop\",\"sa_finish\":\"eos\","
                         "\"token_ids\":[7,8]}],\"usage\":{\"prompt_tokens\":3}}",
                         id);
                respond(fd, 200, NULL, body);
            }
        }
        json_decref(b);
    } else {
        respond(fd, 404, NULL, "{\"error\":{\"message\":\"no\"}}");
    }
    sa_strbuf_free(&req);
    close(fd);
    return NULL;
}

static void *accept_main(void *p) {
    fake *f = p;
    while (!f->stop) {
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0) {
            if (f->stop) break;
            continue;
        }
        conn_arg *a = malloc(sizeof *a);
        a->f = f;
        a->fd = fd;
        pthread_t th;
        if (pthread_create(&th, NULL, conn_main, a) == 0) pthread_detach(th);
        else {
            close(fd);
            free(a);
        }
    }
    return NULL;
}

static bool fake_start(fake *f) {
    pthread_mutex_init(&f->mu, NULL);
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&sa, sizeof sa) || listen(f->lfd, 128) ||
        getsockname(f->lfd, (struct sockaddr *)&sa, &sl))
        return false;
    f->port = ntohs(sa.sin_port);
    return pthread_create(&f->th, NULL, accept_main, f) == 0;
}

static void fake_stop(fake *f) {
    f->stop = 1;
    shutdown(f->lfd, SHUT_RDWR);
    close(f->lfd);
    pthread_join(f->th, NULL);
    usleep(200000); /* let detached connection threads finish */
    pthread_mutex_destroy(&f->mu);
}

static sa_engine_http_opts opts_for(const fake *f, char *url, size_t cap) {
    snprintf(url, cap, "http://127.0.0.1:%d", f->port);
    sa_engine_http_opts o = sa_engine_http_defaults();
    o.url = url;
    o.concurrency = 4;
    o.timeout_s = 0.4;
    o.backoff_s = 0.01;
    o.backoff_max_s = 0.05;
    o.max_retries = 4;
    return o;
}

typedef struct seen {
    int count[MAX_IDS];
    int bad_text;
    int errors;
} seen;

static sa_status on_res(void *ctx, const sa_gen_result *r) {
    seen *s = ctx;
    if (r->id < MAX_IDS) s->count[r->id]++;
    char want[32];
    snprintf(want, sizeof want, "ok %d", (int)r->id);
    if (r->finish == SA_FINISH_ERROR) s->errors++;
    else if (strcmp(r->text, want) != 0 || r->finish != SA_FINISH_EOS || r->n_tokens != 2) s->bad_text++;
    return SA_OK;
}

static void run_fault(sa_test *t, fault ft) {
    fake f = {0};
    f.f = ft;
    f.selfalign = true;
    f.logprobs = true;
    SA_REQUIRE(t, fake_start(&f));
    char url[64];
    sa_engine_http_opts o = opts_for(&f, url, sizeof url);
    sa_engine *e = NULL;
    sa_err err = {0};
    sa_status s = sa_engine_http_new(&e, &o, &err);
    SA_CHECK_OK(t, s, &err);
    enum { N = 24 };
    if (!s) {
        sa_gen_request rq[N];
        for (int i = 0; i < N; i++) {
            rq[i] = sa_gen_request_default();
            rq[i].id = (uint64_t)(i + 1);
            rq[i].prompt = "hello";
            rq[i].max_tokens = 4;
        }
        seen sn = {0};
        SA_CHECK_OK(t, sa_engine_generate(e, rq, N, on_res, &sn, &err), &err);
        for (int i = 1; i <= N; i++) {
            SA_CHECKF(t, sn.count[i] == 1, "fault %d: request %d delivered %d times", (int)ft, i, sn.count[i]);
            SA_CHECKF(t, f.attempts[i] == (ft == F_NONE ? 1 : 2), "fault %d: request %d attempted %d times", (int)ft, i,
                      f.attempts[i]);
        }
        SA_CHECK_EQ_INT(t, sn.bad_text, 0);
        SA_CHECK_EQ_INT(t, sn.errors, 0);
        sa_engine_http_stats hs;
        sa_engine_http_get_stats(e, &hs);
        SA_CHECK_EQ_INT(t, hs.retries, ft == F_NONE ? 0 : N);
    }
    sa_engine_free(e);
    fake_stop(&f);
}

static void test_no_fault(sa_test *t) { run_fault(t, F_NONE); }
static void test_retry_429(sa_test *t) { run_fault(t, F_429); }
static void test_retry_500(sa_test *t) { run_fault(t, F_500); }
static void test_retry_stall(sa_test *t) { run_fault(t, F_STALL); }
static void test_retry_closed(sa_test *t) { run_fault(t, F_CLOSE); }

/* A server that never recovers: the call fails after max_retries, naming the cause, never the key. */
static void test_give_up_and_key(sa_test *t) {
    fake f = {0};
    f.f = F_ALWAYS_500;
    f.selfalign = true;
    f.logprobs = true;
    f.need_key = "Bearer sekrit-key-4242";
    SA_REQUIRE(t, fake_start(&f));
    char url[64];
    sa_engine_http_opts o = opts_for(&f, url, sizeof url);
    o.max_retries = 2;
    const char *logp = sa_test_tmpfile(t, "http.log");
    FILE *log = fopen(logp, "w");
    o.log = log;
    sa_err err = {0};
    sa_engine *e = NULL;
    /* a wrong key: refused at creation, the key is not in the message */
    setenv("SA_TEST_HTTP_KEY", "wrong-key-9999", 1);
    o.api_key_env = "SA_TEST_HTTP_KEY";
    SA_CHECK(t, sa_engine_http_new(&e, &o, &err) != SA_OK);
    SA_CHECK(t, strstr(err.msg, "401") && !strstr(err.msg, "wrong-key-9999"));
    /* an unset variable is named, not guessed */
    o.api_key_env = "SA_TEST_HTTP_KEY_UNSET";
    unsetenv("SA_TEST_HTTP_KEY_UNSET");
    SA_CHECK(t, sa_engine_http_new(&e, &o, &err) == SA_ERR_INVALID_ARG && strstr(err.msg, "SA_TEST_HTTP_KEY_UNSET"));
    setenv("SA_TEST_HTTP_KEY", "sekrit-key-4242", 1);
    o.api_key_env = "SA_TEST_HTTP_KEY";
    SA_REQUIRE_OK(t, sa_engine_http_new(&e, &o, &err), &err);
    SA_CHECK(t, f.saw_key);
    sa_gen_request rq = sa_gen_request_default();
    rq.id = 5;
    rq.prompt = "x";
    seen sn = {0};
    sa_status s = sa_engine_generate(e, &rq, 1, on_res, &sn, &err);
    SA_CHECK_EQ_INT(t, s, SA_ERR_IO);
    SA_CHECKF(t, strstr(err.msg, "3 attempts") && strstr(err.msg, "boom"), "message: %s", err.msg);
    SA_CHECK(t, !strstr(err.msg, "sekrit"));
    SA_CHECK_EQ_INT(t, f.attempts[5], 3);
    SA_CHECK_EQ_INT(t, sn.count[5], 0);
    sa_engine_free(e);
    fclose(log);
    sa_strbuf lg = {0};
    FILE *lf = fopen(logp, "r");
    char line[512];
    while (lf && fgets(line, sizeof line, lf)) sa_strbuf_puts(&lg, line);
    if (lf) fclose(lf);
    SA_CHECK(t, strstr(sa_strbuf_cstr(&lg), "retry") != NULL);
    SA_CHECK(t, strstr(sa_strbuf_cstr(&lg), "sekrit") == NULL);
    sa_strbuf_free(&lg);
    fake_stop(&f);
}

/* Nothing listening: connection refused is retried, then the call fails. */
static void test_refused(sa_test *t) {
    fake f = {0};
    SA_REQUIRE(t, fake_start(&f));
    char url[64];
    sa_engine_http_opts o = opts_for(&f, url, sizeof url);
    fake_stop(&f); /* the port is closed now */
    o.max_retries = 2;
    sa_engine *e = NULL;
    sa_err err = {0};
    SA_CHECK_EQ_INT(t, sa_engine_http_new(&e, &o, &err), SA_ERR_IO);
    SA_CHECKF(t, strstr(err.msg, "/v1/models") && strstr(err.msg, "attempts"), "message: %s", err.msg);
    SA_CHECK(t, e == NULL);
}

/* Scoring: a server without prompt log-probs fails at the start with a clear message. */
static void test_score_caps(sa_test *t) {
    const char *tp = sa_test_data(t, T512);
    if (!tp) return;
    sa_tokenizer *tok = NULL;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_tokenizer_load(&tok, tp, &err), &err);
    for (int with = 0; with < 2; with++) {
        fake f = {0};
        f.selfalign = false;
        f.logprobs = with;
        SA_REQUIRE(t, fake_start(&f));
        char url[64];
        sa_engine_http_opts o = opts_for(&f, url, sizeof url);
        o.tok = tok;
        sa_engine *e = NULL;
        SA_REQUIRE_OK(t, sa_engine_http_new(&e, &o, &err), &err);
        sa_engine_http_caps caps;
        SA_CHECK_OK(t, sa_engine_http_get_caps(e, &caps, &err), &err);
        SA_CHECK(t, !caps.selfalign);
        SA_CHECK_EQ_INT(t, caps.prompt_logprobs, with);
        /* the context, where the server lists max_model_len (as vLLM does) */
        SA_CHECK_EQ_INT(t, caps.max_ctx, with ? 4096 : 0);
        SA_CHECK_EQ_INT(t, sa_engine_max_context(e), with ? 4096 : 0);
        sa_score_request rq = {.prompt = "Once upon", .continuation = " a time", .add_bos = true};
        sa_score_result res;
        sa_status s = sa_engine_score(e, &rq, 1, &res, &err);
        if (with) {
            SA_CHECK_OK(t, s, &err);
            SA_CHECK_OK(t, res.status, &err);
            SA_CHECK(t, res.n_tokens >= 1 && res.logprob_sum < 0);
        } else {
            SA_CHECK_EQ_INT(t, s, SA_ERR_UNSUPPORTED);
            SA_CHECKF(t, strstr(err.msg, "log-probabilities") && strstr(err.msg, "cannot score"), "message: %s", err.msg);
        }
        sa_score_result_free(&res);
        /* where the context is known, no more is asked for than it holds
         * (vLLM refuses prompt + max_tokens > max_model_len) */
        int32_t ids[100] = {0};
        for (int i = 0; i < 100; i++) ids[i] = 10 + i;
        sa_gen_request g = sa_gen_request_default();
        g.id = 1;
        g.prompt_tokens = ids;
        g.n_prompt_tokens = 100;
        g.max_tokens = 5000;
        seen sn = {0};
        SA_CHECK_OK(t, sa_engine_generate(e, &g, 1, on_res, &sn, &err), &err);
        SA_CHECK_EQ_INT(t, f.last_max_tokens, with ? 4096 - 100 : 5000);
        g.max_tokens = 7;
        SA_CHECK_OK(t, sa_engine_generate(e, &g, 1, on_res, &sn, &err), &err);
        SA_CHECK_EQ_INT(t, f.last_max_tokens, 7);
        sa_engine_free(e);
        fake_stop(&f);
    }
    sa_tokenizer_free(tok);
}

static void test_bad_options(sa_test *t) {
    sa_engine *e = NULL;
    sa_err err = {0};
    sa_engine_http_opts o = sa_engine_http_defaults();
    SA_CHECK_EQ_INT(t, sa_engine_http_new(&e, &o, &err), SA_ERR_INVALID_ARG);
    o.url = "ftp://x";
    SA_CHECK_EQ_INT(t, sa_engine_http_new(&e, &o, &err), SA_ERR_INVALID_ARG);
    o.url = "http://127.0.0.1:1";
    o.concurrency = 0;
    SA_CHECK_EQ_INT(t, sa_engine_http_new(&e, &o, &err), SA_ERR_INVALID_ARG);
}

static const sa_test_def k_tests[] = {
    {"no_fault", test_no_fault},       {"retry_429", test_retry_429},   {"retry_500", test_retry_500},
    {"retry_stall", test_retry_stall}, {"retry_closed", test_retry_closed}, {"give_up_and_key", test_give_up_and_key},
    {"refused", test_refused},         {"score_caps", test_score_caps}, {"bad_options", test_bad_options},
};

#else

static void test_no_curl(sa_test *t) { sa_test_skip(t, "built without libcurl (NO_CURL=1)"); }
static const sa_test_def k_tests[] = {{"http_engine", test_no_curl}};

#endif

SA_TEST_MAIN(k_tests)
