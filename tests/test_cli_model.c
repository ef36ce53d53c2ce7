/* test_cli_model.c — `selfalign generate`, `convert` and `bench` end to end
 * on the real stories260K model: greedy text equals llama2.c's, the JSONL
 * mode is resumable (a rerun adds only new ids, an interrupted run keeps
 * what finished, nothing is duplicated), bad input lines are reported with
 * their line numbers, and converted models generate the same text. */
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sa/strbuf.h"
#include "sa_test.h"
#include "sa_test_run.h"

#define M260 "models/llama2c-stories260K/stories260K.bin"
#define T512 "models/llama2c-stories260K/tok512.bin"

static bool paths(sa_test *t, char *model, char *tok) {
    const char *p = sa_test_data(t, M260);
    if (!p) return false;
    snprintf(model, 1024, "%s", p);
    p = sa_test_data(t, T512);
    if (!p) return false;
    snprintf(tok, 1024, "%s", p);
    return true;
}

/* Count lines of a journal and check ids are unique. */
static int count_ids(sa_test *t, const char *path, const char *must_have) {
    sa_strbuf sb = {0};
    slurp(path, &sb);
    int n = 0;
    char *save = NULL, *line = strtok_r(sb.buf ? sb.buf : (char[]){0}, "\n", &save);
    char seen[64][64];
    bool found = must_have == NULL;
    for (; line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        SA_CHECKF(t, o != NULL, "bad journal line: %s", line);
        if (!o) continue;
        const char *id = json_string_value(json_object_get(o, "id"));
        SA_CHECK(t, id != NULL);
        for (int i = 0; id && i < n && i < 64; i++) SA_CHECKF(t, strcmp(seen[i], id) != 0, "duplicate id %s", id);
        if (id && n < 64) snprintf(seen[n], 64, "%s", id);
        if (id && must_have && strcmp(id, must_have) == 0) found = true;
        json_decref(o);
        n++;
    }
    SA_CHECKF(t, found, "id %s missing from %s", must_have ? must_have : "", path);
    sa_strbuf_free(&sb);
    return n;
}

static void test_generate_greedy_matches_llama2c(sa_test *t) {
    char model[1024], tok[1024];
    if (!paths(t, model, tok)) return;
    run_result r;
    if (!run(t, &r, NULL, "generate", "--model", model, "--tokenizer", tok, "--prompt", "", "--temperature", "0",
             "--max-tokens", "200", NULL))
        return;
    SA_CHECKF(t, r.rc == 0, "exit %d: %s", r.rc, ERR(r));
    const char *root = getenv("SA_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/stories260K_greedy.txt", root ? root : ".");
    sa_strbuf want = {0};
    slurp(path, &want);
    SA_CHECKF(t, want.len > 100 && strcmp(OUT(r), sa_strbuf_cstr(&want)) == 0, "got:\n%s\nwant:\n%s", OUT(r),
              sa_strbuf_cstr(&want));
    CHECK_HAS(t, ERR(r), "temperature 0"); /* the resolved config is printed */
    sa_strbuf_free(&want);
    result_free(&r);
}

static void test_generate_jsonl_resumable(sa_test *t) {
    char model[1024], tok[1024];
    if (!paths(t, model, tok)) return;
    char in[1024], out[1024];
    snprintf(in, sizeof in, "%s", sa_test_tmpfile(t, "prompts.jsonl"));
    snprintf(out, sizeof out, "%s", sa_test_tmpfile(t, "results.jsonl"));
    const char *lines = "{\"id\":\"a\",\"prompt\":\"Tom saw a\"}\n"
                        "{\"id\":7,\"instruction\":\"Lily\",\"input\":\"and her mom\"}\n"
                        "this is not json\n"
                        "{\"text\":\"no prompt field\"}\n"
                        "{\"prompt\":\"The cat\"}\n";
    SA_REQUIRE(t, sa_test_write_file(t, in, lines, strlen(lines)));
    run_result r;
    if (!run(t, &r, NULL, "generate", "--model", model, "--tokenizer", tok, "--in", in, "--out", out, "--max-tokens",
             "12", "--seed", "5", NULL))
        return;
    SA_CHECKF(t, r.rc == 0, "exit %d: %s", r.rc, ERR(r));
    CHECK_HAS(t, ERR(r), ":3: invalid JSON");
    CHECK_HAS(t, ERR(r), ":4: no \"prompt\"");
    CHECK_HAS(t, ERR(r), "3 new results");
    SA_CHECK_EQ_INT(t, count_ids(t, out, "7"), 3);
    sa_strbuf first = {0};
    slurp(out, &first);
    result_free(&r);
    /* a rerun does nothing new */
    run(t, &r, NULL, "generate", "--model", model, "--tokenizer", tok, "--in", in, "--out", out, "--max-tokens", "12",
        "--seed", "5", NULL);
    SA_CHECK_EQ_INT(t, r.rc, 0);
    CHECK_HAS(t, ERR(r), "0 new results (3 already done");
    result_free(&r);
    /* new prompts appended: only they are generated; earlier results unchanged */
    const char *more = "{\"id\":\"b\",\"prompt\":\"Once\"}\n";
    FILE *f = fopen(in, "ab");
    fputs(more, f);
    fclose(f);
    run(t, &r, NULL, "generate", "--model", model, "--tokenizer", tok, "--in", in, "--out", out, "--max-tokens", "12",
        "--seed", "5", NULL);
    SA_CHECK_EQ_INT(t, r.rc, 0);
    CHECK_HAS(t, ERR(r), "1 new results");
    SA_CHECK_EQ_INT(t, count_ids(t, out, "b"), 4);
    sa_strbuf now = {0};
    slurp(out, &now);
    SA_CHECK(t, now.len > first.len && memcmp(now.buf, first.buf, first.len) == 0);
    /* the same seed gives the same text in a fresh output */
    char out2[1024];
    snprintf(out2, sizeof out2, "%s", sa_test_tmpfile(t, "results2.jsonl"));
    result_free(&r);
    run(t, &r, NULL, "generate", "--model", model, "--tokenizer", tok, "--in", in, "--out", out2, "--max-tokens", "12",
        "--seed", "5", "--batch", "1", NULL);
    sa_strbuf again = {0};
    slurp(out2, &again);
    /* order of lines may differ (batching), the set may not: compare sizes and one line */
    SA_CHECK_EQ_INT(t, again.len, now.len);
    char *line = strstr(now.buf, "{\"finish_reason\"");
    SA_REQUIRE(t, line != NULL);
    char *nl = strchr(line, '\n');
    *nl = '\0';
    SA_CHECKF(t, strstr(again.buf, line) != NULL, "line not reproduced: %s", line);
    sa_strbuf_free(&first);
    sa_strbuf_free(&now);
    sa_strbuf_free(&again);
    result_free(&r);
    /* --strict turns a bad line into exit 1 naming it */
    run(t, &r, NULL, "generate", "--model", model, "--tokenizer", tok, "--in", in, "--out", out2, "--strict", NULL);
    SA_CHECK_EQ_INT(t, r.rc, 1);
    CHECK_HAS(t, ERR(r), ":3:");
    result_free(&r);
    /* usage errors */
    run(t, &r, NULL, "generate", "--model", model, "--prompt", "x", "--in", in, NULL);
    SA_CHECK_EQ_INT(t, r.rc, 2);
    result_free(&r);
}

/* SIGINT during a long run: exit 130, every journaled line intact, and a
 * rerun completes the rest without duplicates. */
static void test_generate_interrupt(sa_test *t) {
    char model[1024], tok[1024];
    if (!paths(t, model, tok)) return;
    const char *bin = bin_path(t);
    if (!bin) return;
    char in[1024], out[1024];
    snprintf(in, sizeof in, "%s", sa_test_tmpfile(t, "many.jsonl"));
    snprintf(out, sizeof out, "%s", sa_test_tmpfile(t, "many.out.jsonl"));
    sa_strbuf sb = {0};
    for (int i = 0; i < 40; i++) sa_strbuf_appendf(&sb, "{\"id\":\"p%d\",\"prompt\":\"Tom had %d apples.\"}\n", i, i);
    SA_REQUIRE(t, sa_test_write_file(t, in, sb.buf, sb.len));
    sa_strbuf_free(&sb);
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execl(bin, bin, "generate", "--model", model, "--tokenizer", tok, "--in", in, "--out", out, "--max-tokens",
              "200", "--batch", "2", "--threads", "1", (char *)NULL);
        _exit(127);
    }
    /* wait until some results are journaled, then interrupt */
    for (int i = 0; i < 400; i++) {
        sa_strbuf cur = {0};
        slurp(out, &cur);
        size_t lines = 0;
        for (size_t k = 0; k < cur.len; k++) lines += cur.buf[k] == '\n';
        sa_strbuf_free(&cur);
        if (lines >= 2) break;
        usleep(20000);
    }
    kill(pid, SIGINT);
    int status = 0;
    waitpid(pid, &status, 0);
    SA_CHECKF(t, WIFEXITED(status) && (WEXITSTATUS(status) == 130 || WEXITSTATUS(status) == 0),
              "interrupted run exited with %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    int partial = count_ids(t, out, NULL);
    SA_CHECK(t, partial >= 2);
    run_result r;
    run(t, &r, NULL, "generate", "--model", model, "--tokenizer", tok, "--in", in, "--out", out, "--max-tokens", "200",
        NULL);
    SA_CHECK_EQ_INT(t, r.rc, 0);
    SA_CHECK_EQ_INT(t, count_ids(t, out, "p39"), 40);
    result_free(&r);
}

static void test_convert_roundtrip(sa_test *t) {
    char model[1024], tok[1024];
    if (!paths(t, model, tok)) return;
    char hf[1024], gg[1024], l2[1024];
    snprintf(hf, sizeof hf, "%s", sa_test_tmpfile(t, "hf"));
    snprintf(gg, sizeof gg, "%s", sa_test_tmpfile(t, "m.gguf"));
    snprintf(l2, sizeof l2, "%s", sa_test_tmpfile(t, "m.bin"));
    run_result r;
    if (!run(t, &r, NULL, "convert", model, hf, NULL)) return;
    SA_CHECKF(t, r.rc == 0, "%s", ERR(r));
    result_free(&r);
    run(t, &r, NULL, "convert", hf, gg, NULL);
    SA_CHECKF(t, r.rc == 0, "%s", ERR(r));
    result_free(&r);
    run(t, &r, NULL, "convert", gg, l2, NULL);
    SA_CHECKF(t, r.rc == 0, "%s", ERR(r));
    result_free(&r);
    /* llama2.c -> HF -> GGUF -> llama2.c gives the same greedy text */
    const char *models[3] = {hf, gg, l2};
    sa_strbuf first = {0};
    for (int i = 0; i < 3; i++) {
        run(t, &r, NULL, "generate", "--model", models[i], "--tokenizer", tok, "--prompt", "", "--temperature", "0",
            "--max-tokens", "60", NULL);
        SA_CHECKF(t, r.rc == 0, "%s: %s", models[i], ERR(r));
        if (i == 0) sa_strbuf_puts(&first, OUT(r));
        else SA_CHECKF(t, strcmp(OUT(r), sa_strbuf_cstr(&first)) == 0, "%s generates differently", models[i]);
        result_free(&r);
    }
    CHECK_HAS(t, sa_strbuf_cstr(&first), "Once upon a time");
    sa_strbuf_free(&first);
    run(t, &r, NULL, "convert", model, gg, "--dtype", "int4", NULL);
    SA_CHECK_EQ_INT(t, r.rc, 2);
    result_free(&r);
    run(t, &r, NULL, "convert", "/nonexistent/model.bin", gg, NULL);
    SA_CHECK_EQ_INT(t, r.rc, 1);
    CHECK_HAS(t, ERR(r), "/nonexistent/model.bin");
    result_free(&r);
}

static void test_bench_json(sa_test *t) {
    run_result r;
    if (!run(t, &r, NULL, "bench", "generate", "--shape", "m-tiny", "--batch", "2", "--prompt-len", "8",
             "--new-tokens", "4", "--prefill-len", "16", "--repeats", "1", "--json", NULL))
        return;
    SA_CHECKF(t, r.rc == 0, "%s", ERR(r));
    json_error_t je;
    json_t *o = json_loads(OUT(r), 0, &je);
    SA_REQUIRE(t, o != NULL);
    SA_CHECK(t, json_number_value(json_object_get(o, "prefill_tokens_per_s")) > 0);
    SA_CHECK(t, json_number_value(json_object_get(o, "decode_tokens_per_s")) > 0);
    SA_CHECK(t, json_number_value(json_object_get(o, "peak_rss_mb")) > 0);
    json_decref(o);
    result_free(&r);
    /* bench train: full and LoRA on the real 260K model, one timed step */
    const char *model = sa_test_data(t, M260);
    for (int lora = 0; model && lora < 2; lora++) {
        run(t, &r, NULL, "bench", "train", "--shape", model, "--batch", "2", "--seq-len", "16", "--steps", "1",
            "--threads", "1", "--lora", lora ? "4" : "0", "--json", NULL);
        SA_CHECKF(t, r.rc == 0, "%s", ERR(r));
        o = json_loads(OUT(r), 0, &je);
        SA_REQUIRE(t, o != NULL);
        SA_CHECK(t, json_number_value(json_object_get(o, "tokens_per_s")) > 0);
        SA_CHECK(t, json_number_value(json_object_get(o, "step_s")) > 0);
        SA_CHECK(t, json_number_value(json_object_get(o, "peak_rss_mb")) > 0);
        SA_CHECK(t, json_number_value(json_object_get(o, "frac_of_sgemm")) > 0);
        int64_t trainable = json_integer_value(json_object_get(o, "trainable"));
        SA_CHECKF(t, lora ? trainable > 0 && trainable < 100000 : trainable == 260032, "trainable %lld",
                  (long long)trainable);
        json_decref(o);
        result_free(&r);
    }
    run(t, &r, NULL, "bench", "frobnicate", NULL);
    SA_CHECK_EQ_INT(t, r.rc, 2);
    CHECK_HAS(t, ERR(r), "generate, train");
    result_free(&r);
}

static const sa_test_def tests[] = {
    {"generate_greedy_matches_llama2c", test_generate_greedy_matches_llama2c},
    {"generate_jsonl_resumable", test_generate_jsonl_resumable},
    {"generate_interrupt", test_generate_interrupt},
    {"convert_roundtrip", test_convert_roundtrip},
    {"bench_json", test_bench_json},
};
SA_TEST_MAIN(tests)
