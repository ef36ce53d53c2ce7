/* test_dromedary.c — the SELF-ALIGN loop end to end on a real tiny model.
 *
 * stories260K cannot follow a principles prompt out of the box (it never
 * writes "### Answer:"), as a real base model does from the exemplars. So
 * the test first teaches it the answer format with `selfalign train` on the
 * Self-Instruct seed tasks rendered in that format (short override prompts:
 * its context is 512 tokens) and uses the result as the base. Then: all
 * five stages complete, the counts add up and every rejection has a reason;
 * the engraving data holds no principle or exemplar text (records and
 * decoded training tokens); kill -9 during every generation stage (and both
 * fine-tunes), rerunning the same command each time, gives outputs
 * byte-identical to an uninterrupted run. */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sa/chat.h"
#include "sa/dromedary.h"
#include "sa/json.h"
#include "sa/run.h"
#include "sa/sft.h"
#include "sa/strbuf.h"
#include "sa/tokenizer.h"
#include "sa_test.h"
#include "sa_test_run.h"

#define M260 "models/llama2c-stories260K/stories260K.bin"
#define T512 "models/llama2c-stories260K/tok512.bin"
#define SEEDS "instructions/self-instruct_seed_tasks.jsonl"

static const char k_principles[] = "The helper is kind and honest.\n1 (honest). Say what is true.\n2 (kind). Be nice "
                                   "to everyone.\n";
static const char k_exemplars[] = "### User:\nWho is Lily?\n### Internal thoughts:\n1 (honest): tell what I know.\n"
                                  "### Answer:\nLily is a little girl who loves her red ball.\n### End\n";
static const char k_query[] = "Now answer the same way.\n### User:\n{{query}}\n";
static const char k_persona[] = "Answer in detail.\n{{query}}\n";
static const char k_selfinstruct[] = "Tasks:\n{{tasks}}\n{{next}}.";
static const char k_topics[] = "Kind: {{type}}. {{description}}\n{{examples}}\nOld: {{topics}}\nGive {{count}} topics.";
static const char k_questions[] = "Kind: {{type}}. {{description}}\n{{examples}}\nTopic: {{topic}}. Give {{count}} "
                                  "questions.";
static const char k_types[] =
    "{\"type\":\"future events\",\"description\":\"Questions about things that have not happened yet.\","
    "\"examples\":[\"Who will win the next race?\"]}\n"
    "{\"type\":\"moral dilemma\",\"description\":\"Questions with no single right answer.\",\"examples\":[\"Should I "
    "tell my friend a hard truth?\"]}\n";

/* Texts of the prompts that must never reach the engraving data. */
static const char *k_forbidden[] = {"The helper is kind and honest", "Say what is true", "Be nice to everyone",
                                    "Who is Lily", "Lily is a little girl", "### Internal thoughts",
                                    "Now answer the same way", "Answer in detail."};

#define REQ(c)                                                                 \
    do {                                                                       \
        if (!(c)) {                                                            \
            sa_test_fail(t, __FILE__, __LINE__, "required: %s", #c);           \
            return false;                                                      \
        }                                                                      \
    } while (0)

typedef struct fixture {
    const char *tok, *bin;
    char prompts[1024], seed[1024], types[1024], base[1024];
} fixture;

static bool put(sa_test *t, const char *dir, const char *name, const char *text) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return sa_test_write_file(t, p, text, strlen(text));
}

/* The format-teaching records: seed tasks as they appear in the principles prompt. */
static bool write_format_data(sa_test *t, const char *seeds, const char *out, const char *seed60) {
    FILE *f = fopen(seeds, "r");
    REQ(f != NULL);
    char *line = NULL;
    size_t cap = 0;
    sa_strbuf recs = {0}, head = {0};
    int n = 0;
    char sys[1024]; /* as the stage builds it: principles, a blank line, exemplars (each trimmed) */
    snprintf(sys, sizeof sys, "%.*s\n\n%.*s", (int)strlen(k_principles) - 1, k_principles,
             (int)strlen(k_exemplars) - 1, k_exemplars);
    while (getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        if (!o) continue;
        if (n < 60) sa_strbuf_puts(&head, line);
        const char *ins = json_string_value(json_object_get(o, "instruction"));
        json_t *i0 = json_array_get(json_object_get(o, "instances"), 0);
        const char *in = json_string_value(json_object_get(i0, "input"));
        const char *ou = json_string_value(json_object_get(i0, "output"));
        if (ins && ou && strlen(ins) + (in ? strlen(in) : 0) < 300 && strlen(ou) < 300) {
            char q[1024], a[1024];
            snprintf(q, sizeof q, "Now answer the same way.\n### User:\n%s%s%s", ins, in && *in ? "\n\n" : "",
                     in ? in : "");
            snprintf(a, sizeof a, "### Internal thoughts:\n1 (honest): tell what I know.\n### Answer:\n%s\n### End",
                     ou);
            json_t *r = json_pack("{s:s, s:s, s:s}", "instruction", q, "system", sys, "output", a);
            sa_err err = {0};
            sa_json_dump_line(r, &recs, &err);
            json_decref(r);
        }
        json_decref(o);
        n++;
    }
    free(line);
    fclose(f);
    bool ok = sa_test_write_file(t, out, recs.buf, recs.len) && sa_test_write_file(t, seed60, head.buf, head.len);
    sa_strbuf_free(&recs);
    sa_strbuf_free(&head);
    return ok;
}

static bool setup(sa_test *t, fixture *f) {
    memset(f, 0, sizeof *f);
    const char *model = sa_test_data(t, M260);
    f->tok = model ? sa_test_data(t, T512) : NULL;
    const char *seeds = f->tok ? sa_test_data(t, SEEDS) : NULL;
    f->bin = seeds ? bin_path(t) : NULL;
    if (!f->bin) return false;
    const char *tmp = sa_test_tmpdir(t);
    snprintf(f->prompts, sizeof f->prompts, "%s/prompts", tmp);
    snprintf(f->seed, sizeof f->seed, "%s/seed.jsonl", tmp);
    snprintf(f->types, sizeof f->types, "%s/types.jsonl", tmp);
    snprintf(f->base, sizeof f->base, "%s/fmtbase/model", tmp);
    if (access(f->base, F_OK) == 0) return true;
    mkdir(f->prompts, 0777);
    REQ(put(t, f->prompts, "principles.txt", k_principles) && put(t, f->prompts, "principle_exemplars.txt", k_exemplars) &&
        put(t, f->prompts, "principle_query.txt", k_query) && put(t, f->prompts, "verbose_persona.txt", k_persona) &&
        put(t, f->prompts, "selfinstruct.txt", k_selfinstruct) && put(t, f->prompts, "redteam_topics.txt", k_topics) &&
        put(t, f->prompts, "redteam_questions.txt", k_questions));
    REQ(sa_test_write_file(t, f->types, k_types, strlen(k_types)));
    char fmt[1100], out[1100];
    snprintf(fmt, sizeof fmt, "%s/format.jsonl", tmp);
    snprintf(out, sizeof out, "%s/fmtbase", tmp);
    REQ(write_format_data(t, seeds, fmt, f->seed));
    const char *argv[] = {f->bin,   "train",  "--base", model,      "--tokenizer", f->tok, "--data",    fmt,
                          "--out",  out,      "--full", "--lr",     "3e-3",        "--steps", "60",     "--batch",
                          "8",      "--threads", "2",   "--save-every", "0",       "--quiet", NULL};
    REQ(child_run(argv) == 0);
    REQ(access(f->base, F_OK) == 0);
    return true;
}

static void dr_argv(const fixture *f, const char *run_dir, const char **v) {
    const char *a[] = {f->bin,       "dromedary",  "--run",         run_dir,    "--base",          f->base,
                       "--tokenizer", f->tok,      "--seed",        f->seed,    "--red-team",      f->types,
                       "--prompts",  f->prompts,   "--target",      "5",        "--max-rounds",    "3",
                       "--topics-per-type", "1",   "--questions-per-topic", "1", "--prompt-tokens", "64",
                       "--answer-tokens", "160",   "--min-words",   "3",        "--steps",         "12",
                       "--full",     "--lr",       "2e-3",          "--batch",  "8",               "--save-every",
                       "3",          "--threads",  "2",             "--gen-batch", "2",            "--quiet",
                       NULL};
    memcpy(v, a, sizeof a);
}

static const char *rp(sa_test *t, const char *run, const char *rel) {
    char name[1024];
    snprintf(name, sizeof name, "%s/%s", run + strlen(sa_test_tmpdir(t)) + 1, rel);
    return sa_test_tmpfile(t, name);
}

static json_t *stage_of(json_t *m, const char *name) {
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(m, "stages"), i, st) {
        if (strcmp(json_string_value(json_object_get(st, "name")), name) == 0) return st;
    }
    return NULL;
}

static json_int_t sum_int(json_t *m, const char *stage, const char *key) {
    return json_integer_value(json_object_get(json_object_get(stage_of(m, stage), "summary"), key));
}

/* rejected_by_reason adds up to rejected, and every rejected line names a reason */
static void check_reasons(sa_test *t, json_t *m, const char *stage, const char *rejected_file) {
    json_t *by = json_object_get(json_object_get(stage_of(m, stage), "summary"), "rejected_by_reason");
    json_int_t sum = 0;
    const char *k;
    json_t *v;
    json_object_foreach(by, k, v) sum += json_integer_value(v);
    SA_CHECKF(t, sum == sum_int(m, stage, "rejected"), "%s: reasons add to %lld, rejected %lld", stage, (long long)sum,
              (long long)sum_int(m, stage, "rejected"));
    FILE *f = fopen(rejected_file, "r");
    if (!f) {
        SA_CHECK_EQ_INT(t, sum_int(m, stage, "rejected"), 0);
        return;
    }
    char *line = NULL;
    size_t cap = 0;
    uint64_t n = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        const char *why = json_string_value(json_object_get(o, "reason"));
        SA_CHECKF(t, why && json_object_get(by, why), "%s: rejected line without a known reason: %s", stage, line);
        json_decref(o);
        n++;
    }
    free(line);
    fclose(f);
    SA_CHECK_EQ_INT(t, n, sum_int(m, stage, "rejected"));
}

static void check_no_prompt_text(sa_test *t, const char *text, const char *what) {
    for (size_t i = 0; i < sizeof k_forbidden / sizeof k_forbidden[0]; i++)
        SA_CHECKF(t, !strstr(text, k_forbidden[i]), "%s holds prompt text \"%s\"", what, k_forbidden[i]);
}

static void check_run(sa_test *t, const fixture *f, const char *run) {
    sa_err err = {0};
    json_t *m = NULL;
    bool active = true;
    SA_REQUIRE_OK(t, sa_run_read(run, &m, &active, &err), &err);
    for (int i = 0; i < 5; i++)
        SA_CHECKF(t, strcmp(json_string_value(json_object_get(stage_of(m, sa_dromedary_stages[i]), "state")), "done") == 0,
                  "stage %s not done", sa_dromedary_stages[i]);
    /* self-instruct: candidates = accepted + rejected; prompts file = accepted */
    SA_CHECK_EQ_INT(t, sum_int(m, "selfinstruct", "candidates"),
                    sum_int(m, "selfinstruct", "accepted") + sum_int(m, "selfinstruct", "rejected"));
    SA_CHECK_EQ_INT(t, file_lines(rp(t, run, "selfinstruct/prompts.jsonl")), sum_int(m, "selfinstruct", "accepted"));
    SA_CHECK(t, sum_int(m, "selfinstruct", "requests") > 0);
    check_reasons(t, m, "selfinstruct", rp(t, run, "selfinstruct/prompts.jsonl.rejected.jsonl"));
    /* queries: the 60 seed instructions + the new prompts */
    json_int_t q = sum_int(m, "principles", "queries");
    SA_CHECK_EQ_INT(t, sum_int(m, "principles", "seed_queries"), 60);
    SA_CHECK_EQ_INT(t, q, 60 + sum_int(m, "selfinstruct", "accepted"));
    SA_CHECK_EQ_INT(t, file_lines(rp(t, run, "principles/queries.jsonl")), q);
    const char *gen[] = {"principles", "clone-gen"};
    for (int g = 0; g < 2; g++) {
        char a[64], r[96];
        snprintf(a, sizeof a, "%s/answers.jsonl", gen[g]);
        snprintf(r, sizeof r, "%s/answers.jsonl.rejected.jsonl", gen[g]);
        SA_CHECK_EQ_INT(t, sum_int(m, gen[g], "queries"), q);
        SA_CHECK_EQ_INT(t, sum_int(m, gen[g], "accepted") + sum_int(m, gen[g], "rejected") +
                               sum_int(m, gen[g], "bad_lines"),
                        q);
        SA_CHECK(t, sum_int(m, gen[g], "accepted") > 0);
        SA_CHECK_EQ_INT(t, file_lines(rp(t, run, a)), sum_int(m, gen[g], "accepted"));
        check_reasons(t, m, gen[g], rp(t, run, r));
    }
    SA_CHECK_EQ_INT(t, sum_int(m, "engrave", "records"), sum_int(m, "principles", "accepted"));
    SA_CHECK_EQ_INT(t, sum_int(m, "clone", "records"), sum_int(m, "clone-gen", "accepted"));
    /* the engraving data: no principle, exemplar or persona text, in the records ... */
    sa_strbuf data = {0};
    slurp(rp(t, run, "principles/answers.jsonl"), &data);
    SA_CHECK(t, data.len > 0);
    check_no_prompt_text(t, sa_strbuf_cstr(&data), "principles/answers.jsonl");
    sa_strbuf_free(&data);
    slurp(rp(t, run, "clone-gen/answers.jsonl"), &data);
    check_no_prompt_text(t, sa_strbuf_cstr(&data), "clone-gen/answers.jsonl");
    sa_strbuf_free(&data);
    /* ... and in the token sequences the trainer builds from them */
    sa_tokenizer *tok = NULL;
    SA_REQUIRE_OK(t, sa_tokenizer_load(&tok, f->tok, &err), &err);
    sa_chat_template tm;
    SA_REQUIRE_OK(t, sa_chat_template_resolve(tok, NULL, &tm, NULL, &err), &err);
    sa_sft_opts so = {.tok = tok, .tmpl = &tm, .seq_len = 512};
    sa_sft_data d;
    sa_sft_data_init(&d);
    SA_CHECK_OK(t, sa_sft_data_add_records(&d, rp(t, run, "principles/answers.jsonl"), &so, &err), &err);
    SA_CHECK_EQ_INT(t, d.n_ex, sum_int(m, "engrave", "examples"));
    sa_strbuf dec = {0};
    for (size_t i = 0; i < d.n_ex; i++) {
        sa_strbuf_reset(&dec);
        SA_CHECK_OK(t, sa_tokenizer_decode(tok, d.ids + d.ex[i].off, (size_t)d.ex[i].n, 0, &dec, &err), &err);
        check_no_prompt_text(t, sa_strbuf_cstr(&dec), "an engraving example");
    }
    sa_strbuf_free(&dec);
    sa_sft_data_free(&d);
    sa_tokenizer_free(tok);
    json_decref(m);
}

static void test_end_to_end(sa_test *t) {
    fixture f;
    if (!setup(t, &f)) return;
    char run[1100];
    snprintf(run, sizeof run, "%s/ref", sa_test_tmpdir(t));
    const char *argv[RUN_MAX_ARGS];
    dr_argv(&f, run, argv);
    SA_REQUIRE(t, child_run(argv) == 0);
    check_run(t, &f, run);
    sa_strbuf html = {0};
    slurp(rp(t, run, "report.html"), &html);
    SA_CHECK(t, html.len > 1000 && strstr(sa_strbuf_cstr(&html), "<svg") != NULL);
    sa_strbuf_free(&html);
    run_result r;
    if (!run_argv(t, &r, NULL, (const char *const[]){"status", "--run", run, NULL})) return;
    CHECK_HAS(t, OUT(r), "5 of 5 stages done");
    CHECK_HAS(t, OUT(r), "clone-gen");
    result_free(&r);
}

static const char *k_outputs[] = {
    "selfinstruct/prompts.jsonl", "selfinstruct/prompts.jsonl.rejected.jsonl", "principles/queries.jsonl",
    "principles/answers.jsonl",   "principles/answers.jsonl.rejected.jsonl",   "clone-gen/answers.jsonl",
    "engrave/model/model.safetensors", "clone/model/model.safetensors",
};

/* Every file of k_outputs holds the same bytes in runs a and b. */
static void same_outputs(sa_test *t, const char *a, const char *b, const char *what) {
    for (size_t i = 0; i < sizeof k_outputs / sizeof k_outputs[0]; i++) {
        size_t na, nb;
        bool empty_ok = strstr(k_outputs[i], "selfinstruct/prompts.jsonl") != NULL; /* the tiny model may write none */
        SA_CHECKF(t, same_bytes(rp(t, a, k_outputs[i]), rp(t, b, k_outputs[i]), empty_ok, &na, &nb),
                  "%s differs %s (%zu vs %zu bytes)", k_outputs[i], what, na, nb);
    }
}

static void test_kill9_resume(sa_test *t) {
    fixture f;
    if (!setup(t, &f)) return;
    char ref[1100], cut[1100];
    snprintf(ref, sizeof ref, "%s/ref", sa_test_tmpdir(t));
    snprintf(cut, sizeof cut, "%s/cut", sa_test_tmpdir(t));
    const char *argv[RUN_MAX_ARGS];
    if (access(rp(t, ref, "clone/model/model.safetensors"), F_OK) != 0) {
        dr_argv(&f, ref, argv);
        SA_REQUIRE(t, child_run(argv) == 0);
    }
    static const struct {
        const char *stage, *file;
        uint64_t lines;
    } k_points[] = {
        {"selfinstruct", "selfinstruct/prompts.jsonl.journal", 2}, {"principles", "principles/answers.jsonl.journal", 6},
        {"engrave", "engrave/checkpoint.json", 0},                 {"clone-gen", "clone-gen/answers.jsonl.journal", 6},
        {"clone", "clone/checkpoint.json", 0},
    };
    dr_argv(&f, cut, argv);
    int kills = 0;
    for (size_t k = 0; k < sizeof k_points / sizeof k_points[0]; k++) {
        const char *file = rp(t, cut, k_points[k].file);
        int st = 0;
        pid_t pid = child_spawn(argv);
        bool exited = false;
        for (int spin = 0; spin < 600000; spin++) {
            if (k_points[k].lines ? file_lines(file) >= k_points[k].lines : access(file, F_OK) == 0) break;
            if (waitpid(pid, &st, WNOHANG) == pid) {
                exited = true;
                break;
            }
            nanosleep(&(struct timespec){0, 1000000}, NULL);
        }
        SA_CHECKF(t, !exited, "the run ended (status %d) before the %s kill point", st, k_points[k].stage);
        if (exited) break;
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        json_t *m = NULL;
        bool active = true;
        sa_err err = {0};
        SA_REQUIRE_OK(t, sa_run_read(cut, &m, &active, &err), &err);
        if (strcmp(json_string_value(json_object_get(stage_of(m, k_points[k].stage), "state")), "done") != 0) kills++;
        json_decref(m);
    }
    SA_CHECKF(t, kills >= 4, "only %d of 5 kills landed inside their stage", kills);
    SA_REQUIRE(t, child_run(argv) == 0);
    check_run(t, &f, cut);
    same_outputs(t, ref, cut, "after kill -9 and resume");
}

/* Options the loop refuses before writing anything. */
static void test_bad_options(sa_test *t) {
    sa_err err = {0};
    sa_dromedary_opts o = sa_dromedary_defaults();
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/bad", sa_test_tmpdir(t));
    o.run_dir = dir;
    o.base = "/nonexistent/model";
    o.seed_path = "/nonexistent/tasks.jsonl";
    SA_CHECK(t, sa_dromedary_run(&o, &err) == SA_ERR_NOT_FOUND);
    CHECK_HAS(t, err.msg, "tasks.jsonl");
    SA_CHECK(t, access(dir, F_OK) != 0);
    o.n_exemplars = -1;
    SA_CHECK(t, sa_dromedary_run(&o, &err) == SA_ERR_INVALID_ARG);
    CHECK_HAS(t, err.msg, "exemplars");
    SA_CHECK(t, access(dir, F_OK) != 0);
    run_result r;
    if (run(t, &r, NULL, "dromedary", "--run", dir, "--base", "m", "--seed", "s", "--exemplars", "-1", NULL)) {
        SA_CHECK_EQ_INT(t, r.rc, 2);
        CHECK_HAS(t, ERR(r), "--exemplars");
        result_free(&r);
    }
    if (run(t, &r, NULL, "dromedary", "--run", dir, "--base", "m", "--seed", "s", "--truncate", "middle", NULL)) {
        SA_CHECK_EQ_INT(t, r.rc, 2);
        CHECK_HAS(t, ERR(r), "--truncate");
        result_free(&r);
    }
}

/* The whole loop with --engine http against selfalign serve (the
 * format-taught base, run models loaded at run time) gives the same
 * prompts, answers and models as the in-process engine. */
static void test_http_equals_local(sa_test *t) {
    fixture f;
    if (!setup(t, &f)) return;
    char ref[1100], run[1100], url[64];
    snprintf(ref, sizeof ref, "%s/ref", sa_test_tmpdir(t));
    snprintf(run, sizeof run, "%s/http", sa_test_tmpdir(t));
    const char *argv[RUN_MAX_ARGS];
    if (access(rp(t, ref, "clone/model/model.safetensors"), F_OK) != 0) {
        dr_argv(&f, ref, argv);
        SA_REQUIRE(t, child_run(argv) == 0);
    }
    const char *pf = sa_test_tmpfile(t, "dr_serve.port");
    const char *sv[] = {f.bin, "serve", "--model", f.base, "--tokenizer", f.tok, "--port", "0", "--port-file", pf,
                        "--threads", "2", "--slots", "2", "--models-root", sa_test_tmpdir(t), "--quiet", NULL};
    pid_t srv;
    int port = serve_spawn(t, sv, pf, &srv);
    if (!port) return;
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    dr_argv(&f, run, argv);
    argv_append(argv, (const char *const[]){"--engine", "http", "--url", url, NULL});
    int rc = child_run(argv);
    kill(srv, SIGTERM);
    waitpid(srv, NULL, 0);
    SA_REQUIRE(t, rc == 0);
    check_run(t, &f, run);
    same_outputs(t, ref, run, "between the in-process and the HTTP engine");
    SA_CHECK(t, file_lines(rp(t, run, "selfinstruct/prompts.jsonl.rejected.jsonl")) > 0); /* the server did write */
}

static const sa_test_def k_tests[] = {
    {"bad_options", test_bad_options},
    {"end_to_end", test_end_to_end},
    {"kill9_resume", test_kill9_resume},
    {"http_equals_local", test_http_equals_local},
};

SA_TEST_MAIN(k_tests)
