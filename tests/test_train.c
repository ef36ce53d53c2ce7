/* test_train.c — the fine-tuning loop end to end on the real stories260K
 * model (llama2.c checkpoint + its 512-token tokenizer):
 *   - 16 SFT examples are memorised (training loss < 0.05), full fine-tuning;
 *   - LoRA training lowers the loss, and base + the exported PEFT adapter,
 *     merged, gives the exported model's logits;
 *   - the exported HF directory and GGUF reload to the trained weights'
 *     logits (GGUF bit for bit: same rotary layout; HF within 1e-5: its q/k
 *     rows are permuted to the HF layout, which reorders a dot product);
 *   - kill -9 in the middle of `selfalign train`, then --resume: the final
 *     model file is byte-identical to an uninterrupted run's, with one
 *     thread and with two (dropout, LoRA dropout, gradient accumulation and
 *     a held-out split all on);
 *   - bad records are reported with path:line and counted; resuming with
 *     other settings is refused, naming them.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sa/fileio.h"
#include "sa/json.h"
#include "sa/lora.h"
#include "sa/model.h"
#include "sa/safetensors.h"
#include "sa/trainer.h"
#include "sa_test.h"
#include "sa_test_run.h"

#define M260 "models/llama2c-stories260K/stories260K.bin"
#define T512 "models/llama2c-stories260K/tok512.bin"

static const char *k_colors[] = {"red", "blue", "green", "brown", "white", "black", "pink", "gold"};

/* 16 records in our schema; the answers differ in a word and a number. */
static const char *write_records(sa_test *t, const char *name, int n) {
    const char *path = sa_test_tmpfile(t, name);
    sa_strbuf b = {0};
    for (int i = 0; i < n; i++)
        sa_strbuf_appendf(&b,
                          "{\"instruction\":\"What color is the ball of Tim number %d?\",\"output\":\"The ball of Tim %d "
                          "is %s.\",\"source\":\"seed\"}\n",
                          i, i, k_colors[i % 8]);
    sa_test_write_file(t, path, b.buf, b.len);
    sa_strbuf_free(&b);
    return path;
}

static sa_train_opts base_opts(const char *model, const char *tok, const char **data, const char *out) {
    sa_train_opts o = sa_train_defaults();
    o.base = model, o.tokenizer = tok, o.data = data, o.n_data = 1, o.out_dir = out;
    o.seq_len = 128, o.batch = 16, o.threads = 1, o.quiet = true, o.log_every = 10;
    o.template_name = "raw"; /* short examples: the 512-token vocabulary spells most words out */
    o.sched = (sa_lr_schedule){.type = SA_LR_CONSTANT, .lr = 2e-3f, .lr_final = 2e-3f};
    o.adamw.weight_decay = 0;
    return o;
}

static FILE *quiet_log(sa_test *t, const char *name) { return fopen(sa_test_tmpfile(t, name), "w+"); }

/* Logits of the last position of a fixed prompt. */
static void logits_of(sa_test *t, const sa_model *m, float *out) {
    sa_model_state st;
    sa_kv_cache kv;
    sa_kernels k;
    sa_kernels_init(&k, 1);
    sa_err e = {0};
    int32_t ids[12] = {1, 403, 261, 378, 400, 275, 29, 301, 389, 263, 46, 13};
    const float *lg;
    if (sa_model_state_init(&st, &m->cfg, 16, 32, &e) || sa_kv_cache_init(&kv, &m->cfg, 32, &e)) {
        sa_test_fail(t, __FILE__, __LINE__, "%s", e.msg);
        return;
    }
    if (sa_model_forward_seq(m, &st, &k, &kv, ids, 12, 0, &lg, &e)) sa_test_fail(t, __FILE__, __LINE__, "%s", e.msg);
    else memcpy(out, lg, sizeof(float) * (size_t)m->cfg.vocab_size);
    sa_kv_cache_free(&kv);
    sa_model_state_free(&st);
}

static double max_rel_diff(const float *a, const float *b, int n) {
    double md = 0, mx = 1e-30;
    for (int i = 0; i < n; i++) {
        md = fmax(md, fabs((double)a[i] - b[i]));
        mx = fmax(mx, fabs((double)a[i]));
    }
    return md / mx;
}

/* The trained weights: the base with the final checkpoint's parameter vector. */
static sa_model *trained_from_checkpoint(sa_test *t, const char *model, const char *out) {
    sa_err e = {0};
    sa_model *m = NULL;
    char path[2200];
    json_t *j = NULL;
    snprintf(path, sizeof path, "%s/checkpoint.json", out);
    if (sa_json_load_file(path, 1 << 16, &j, &e) || sa_model_load(&m, model, &e)) {
        sa_test_fail(t, __FILE__, __LINE__, "%s", e.msg);
        json_decref(j);
        return m;
    }
    snprintf(path, sizeof path, "%s/%s/state.safetensors", out, json_string_value(json_object_get(j, "dir")));
    json_decref(j);
    sa_st *st;
    if (sa_st_open(&st, path, &e)) {
        sa_test_fail(t, __FILE__, __LINE__, "%s", e.msg);
        return m;
    }
    const sa_st_tensor *p = sa_st_find(st, "params");
    SA_CHECK(t, p && p->nbytes == m->storage_floats * sizeof(float));
    if (p && p->nbytes == m->storage_floats * sizeof(float)) memcpy(m->storage, p->data, p->nbytes);
    sa_st_close(st);
    return m;
}

static void test_overfit_and_export(sa_test *t) {
    const char *model = sa_test_data(t, M260), *tok = sa_test_data(t, T512);
    if (!model || !tok) return;
    const char *data[1] = {write_records(t, "sft16.jsonl", 16)};
    char out[1024];
    snprintf(out, sizeof out, "%s/full", sa_test_tmpdir(t));
    sa_train_opts o = base_opts(model, tok, data, out);
    o.steps = 150, o.export_gguf = true;
    o.log = quiet_log(t, "full.log");
    sa_train_result r;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_train_run(&o, &r, &e), &e);
    fclose(o.log);
    SA_CHECK_EQ_INT(t, r.train_examples, 16);
    SA_CHECK_EQ_INT(t, r.steps, 150);
    SA_CHECKF(t, r.first_loss > 1.0f, "first loss %g", r.first_loss);
    SA_CHECKF(t, r.final_loss < 0.05f, "16 examples not memorised: loss %g after 150 steps", r.final_loss);
    /* metrics: a line every 10 steps with the documented fields */
    char path[1100];
    snprintf(path, sizeof path, "%s/metrics.jsonl", out);
    sa_strbuf mb = {0};
    slurp(path, &mb);
    int lines = 0;
    for (size_t i = 0; i < mb.len; i++) lines += mb.buf[i] == '\n';
    SA_CHECK_EQ_INT(t, lines, 15);
    CHECK_HAS(t, sa_strbuf_cstr(&mb), "\"step\":150,");
    CHECK_HAS(t, sa_strbuf_cstr(&mb), "\"grad_norm\":");
    CHECK_HAS(t, sa_strbuf_cstr(&mb), "\"tokens_per_s\":");
    sa_strbuf_free(&mb);
    /* exports reload to the trained weights' logits */
    sa_model *mt = trained_from_checkpoint(t, model, out), *mh = NULL, *mg = NULL;
    snprintf(path, sizeof path, "%s/model", out);
    SA_CHECK_OK(t, sa_model_load(&mh, path, &e), &e);
    snprintf(path, sizeof path, "%s/model.gguf", out);
    SA_CHECK_OK(t, sa_model_load(&mg, path, &e), &e);
    if (mt && mh && mg) {
        int V = mt->cfg.vocab_size;
        float *a = malloc(sizeof(float) * (size_t)V * 3);
        logits_of(t, mt, a);
        logits_of(t, mh, a + V);
        logits_of(t, mg, a + 2 * V);
        SA_CHECKF(t, memcmp(a, a + 2 * V, sizeof(float) * (size_t)V) == 0, "GGUF export logits differ (rel %g)",
                  max_rel_diff(a, a + 2 * V, V));
        SA_CHECKF(t, max_rel_diff(a, a + V, V) < 1e-5, "HF export logits differ: rel %g", max_rel_diff(a, a + V, V));
        free(a);
    }
    /* the HF directory carries its tokenizer */
    snprintf(path, sizeof path, "%s/model/tokenizer.bin", out);
    SA_CHECK(t, sa_path_exists(path));
    sa_model_free(mt), sa_model_free(mh), sa_model_free(mg);
}

static void test_lora_merge_export(sa_test *t) {
    const char *model = sa_test_data(t, M260), *tok = sa_test_data(t, T512);
    if (!model || !tok) return;
    const char *data[1] = {write_records(t, "sft16b.jsonl", 16)};
    char out[1024], path[1100];
    snprintf(out, sizeof out, "%s/lora", sa_test_tmpdir(t));
    sa_train_opts o = base_opts(model, tok, data, out);
    o.steps = 60, o.export_gguf = true;
    o.lora = (sa_lora_config){.rank = 8, .alpha = 16, .dropout = 0.0f, .targets = SA_LORA_TARGETS_ALL};
    o.sched.lr = o.sched.lr_final = 1e-2f;
    o.log = quiet_log(t, "lora.log");
    sa_train_result r;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_train_run(&o, &r, &e), &e);
    fclose(o.log);
    SA_CHECKF(t, r.final_loss < 0.5f * r.first_loss, "LoRA did not learn: %g -> %g", r.first_loss, r.final_loss);
    /* base + PEFT adapter from disk, merged == the exported model */
    sa_model *mb = NULL, *mh = NULL, *mg = NULL;
    sa_lora ad;
    memset(&ad, 0, sizeof ad);
    SA_REQUIRE_OK(t, sa_model_load(&mb, model, &e), &e);
    snprintf(path, sizeof path, "%s/adapter", out);
    SA_CHECK_OK(t, sa_lora_load_peft(&ad, path, &mb->cfg, &e), &e);
    SA_CHECK_EQ_INT(t, ad.cfg.rank, 8);
    SA_CHECK_OK(t, sa_lora_merge(&ad, mb, &e), &e);
    snprintf(path, sizeof path, "%s/model", out);
    SA_CHECK_OK(t, sa_model_load(&mh, path, &e), &e);
    snprintf(path, sizeof path, "%s/model.gguf", out);
    SA_CHECK_OK(t, sa_model_load(&mg, path, &e), &e);
    if (mh && mg && ad.storage) {
        int V = mb->cfg.vocab_size;
        float *a = malloc(sizeof(float) * (size_t)V * 3);
        logits_of(t, mb, a);
        logits_of(t, mh, a + V);
        logits_of(t, mg, a + 2 * V);
        SA_CHECKF(t, memcmp(a, a + 2 * V, sizeof(float) * (size_t)V) == 0, "merged base+adapter vs GGUF: rel %g",
                  max_rel_diff(a, a + 2 * V, V));
        SA_CHECKF(t, max_rel_diff(a, a + V, V) < 1e-5, "merged base+adapter vs HF export: rel %g",
                  max_rel_diff(a, a + V, V));
        free(a);
    }
    sa_lora_free(&ad);
    sa_model_free(mb), sa_model_free(mh), sa_model_free(mg);
}

/* ---- kill -9 and resume ---------------------------------------------------------- */

static int64_t ckpt_step(const char *out) {
    char path[1100];
    snprintf(path, sizeof path, "%s/checkpoint.json", out);
    json_t *j = json_load_file(path, 0, NULL);
    int64_t s = j ? (int64_t)json_integer_value(json_object_get(j, "step")) : 0;
    json_decref(j);
    return s;
}

static bool same_file(sa_test *t, const char *a, const char *b) {
    sa_strbuf x = {0}, y = {0};
    slurp(a, &x);
    slurp(b, &y);
    bool same = x.len > 0 && x.len == y.len && memcmp(x.buf, y.buf, x.len) == 0;
    if (!x.len || !y.len) sa_test_fail(t, __FILE__, __LINE__, "missing %s or %s", a, b);
    sa_strbuf_free(&x);
    sa_strbuf_free(&y);
    return same;
}

/* bin train COMMON... --out OUT --save-every EVERY [--resume], NULL-terminated */
static void train_argv(const char **av, const char *bin, const char *const *common, int nc, const char *out,
                       const char *every, bool resume) {
    int n = 0;
    av[n++] = bin, av[n++] = "train";
    for (int i = 0; i < nc; i++) av[n++] = common[i];
    av[n++] = "--out", av[n++] = out, av[n++] = "--save-every", av[n++] = every;
    if (resume) av[n++] = "--resume";
    av[n] = NULL;
}

/* Start bin with argv, its output discarded; returns the child's pid. */
static pid_t spawn_quiet(const char *bin, const char *const *av) {
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        freopen("/dev/null", "w", stdout);
        execv(bin, (char *const *)av);
        _exit(127);
    }
    return pid;
}

static void resume_case(sa_test *t, const char *threads) {
    const char *model = sa_test_data(t, M260), *tok = sa_test_data(t, T512), *bin = model ? bin_path(t) : NULL;
    if (!model || !tok || !bin) return;
    char name[64], ref[1024], killed[1024];
    snprintf(name, sizeof name, "resume%s.jsonl", threads);
    const char *data = write_records(t, name, 24);
    snprintf(ref, sizeof ref, "%s/ref%s", sa_test_tmpdir(t), threads);
    snprintf(killed, sizeof killed, "%s/killed%s", sa_test_tmpdir(t), threads);
    const char *common[] = {"--base", model, "--tokenizer", tok, "--data", data, "--seq-len", "128", "--template", "raw", "--batch", "4",
                            "--grad-accum", "2", "--steps", "40", "--lr", "3e-3", "--schedule", "cosine", "--warmup",
                            "5", "--lora", "4", "--lora-dropout", "0.1", "--dropout", "0.1", "--eval-frac", "0.2",
                            "--eval-every", "20", "--threads", threads, "--quiet", "--seed", "7"};
    enum { NC = sizeof common / sizeof common[0] };
    /* uninterrupted reference */
    const char *av[NC + 12];
    train_argv(av, bin, common, NC, ref, "0", false);
    pid_t pid = spawn_quiet(bin, av);
    int st = 0;
    waitpid(pid, &st, 0);
    SA_REQUIRE(t, WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* the same run, checkpointing every step, killed with SIGKILL after step 8 */
    train_argv(av, bin, common, NC, killed, "1", false);
    pid = spawn_quiet(bin, av);
    bool exited = false;
    for (int spin = 0; spin < 60000; spin++) {
        if (ckpt_step(killed) >= 8) break;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            exited = true;
            break;
        }
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    SA_REQUIRE(t, !exited);
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    SA_CHECK(t, WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    int64_t at = ckpt_step(killed);
    SA_CHECKF(t, at >= 8 && at < 40, "killed at checkpoint %lld", (long long)at);
    /* resume to the end (run_argv supplies the binary itself) */
    train_argv(av, bin, common, NC, killed, "1", true);
    run_result rr = {0};
    bool ran = run_argv(t, &rr, NULL, av + 1);
    if (ran) {
        SA_CHECKF(t, rr.rc == 0, "resume failed (%d): %s", rr.rc, ERR(rr));
        CHECK_HAS(t, OUT(rr), "(resumed at ");
    }
    result_free(&rr);
    char a[1100], b[1100];
    snprintf(a, sizeof a, "%s/model/model.safetensors", ref);
    snprintf(b, sizeof b, "%s/model/model.safetensors", killed);
    SA_CHECKF(t, same_file(t, a, b), "%s thread(s): resumed model differs from the uninterrupted run's", threads);
    snprintf(a, sizeof a, "%s/adapter/adapter_model.safetensors", ref);
    snprintf(b, sizeof b, "%s/adapter/adapter_model.safetensors", killed);
    SA_CHECKF(t, same_file(t, a, b), "%s thread(s): resumed adapter differs", threads);
    /* the metrics log has each logged step once */
    sa_strbuf mb = {0};
    snprintf(a, sizeof a, "%s/metrics.jsonl", killed);
    slurp(a, &mb);
    const char *p = sa_strbuf_cstr(&mb);
    int count20 = 0;
    for (const char *q = p; (q = strstr(q, "{\"step\":20,")); q++) count20++;
    SA_CHECK_EQ_INT(t, count20, 1);
    sa_strbuf_free(&mb);
}

static void test_kill9_resume_1thread(sa_test *t) { resume_case(t, "1"); }
static void test_kill9_resume_2threads(sa_test *t) { resume_case(t, "2"); }

static void test_resume_other_settings_refused(sa_test *t) {
    const char *model = sa_test_data(t, M260), *tok = sa_test_data(t, T512);
    if (!model || !tok) return;
    const char *data[1] = {write_records(t, "sft8.jsonl", 8)};
    char out[1024];
    snprintf(out, sizeof out, "%s/mismatch", sa_test_tmpdir(t));
    sa_train_opts o = base_opts(model, tok, data, out);
    o.steps = 6, o.stop_after = 3, o.batch = 4;
    o.log = quiet_log(t, "mismatch.log");
    sa_train_result r;
    sa_err e = {0};
    SA_CHECK_EQ_INT(t, sa_train_run(&o, &r, &e), SA_ERR_INTERRUPTED);
    SA_CHECK_EQ_INT(t, ckpt_step(out), 3);
    o.resume = true, o.stop_after = 0, o.sched.lr = 1e-3f;
    SA_CHECK_EQ_INT(t, sa_train_run(&o, &r, &e), SA_ERR_INVALID_ARG);
    CHECK_HAS(t, e.msg, "lr (checkpoint");
    o.sched.lr = 2e-3f;
    SA_CHECK_OK(t, sa_train_run(&o, &r, &e), &e);
    SA_CHECK_EQ_INT(t, r.resumed_from, 3);
    SA_CHECK_EQ_INT(t, r.steps, 6);
    fclose(o.log);
}

static void test_bad_data_reported(sa_test *t) {
    const char *model = sa_test_data(t, M260), *tok = sa_test_data(t, T512);
    if (!model || !tok) return;
    const char *path = sa_test_tmpfile(t, "bad.jsonl");
    sa_strbuf b = {0};
    sa_strbuf_puts(&b, "{\"instruction\":\"Say hi\",\"output\":\"Hi there.\"}\n");
    sa_strbuf_puts(&b, "{\"instruction\":\"broken\",\n");                          /* line 2: malformed */
    sa_strbuf_puts(&b, "{\"instruction\":\"Say nothing\",\"output\":\"   \"}\n"); /* line 3: empty response */
    sa_strbuf_puts(&b, "{\"instruction\":\"Say a lot\",\"output\":\"");            /* line 4: too long */
    for (int i = 0; i < 200; i++) sa_strbuf_puts(&b, "very long story ");
    sa_strbuf_puts(&b, "\"}\n{\"instruction\":\"Say bye\",\"output\":\"Bye now.\"}\n");
    sa_test_write_file(t, path, b.buf, b.len);
    sa_strbuf_free(&b);
    const char *data[1] = {path};
    char out[1024];
    snprintf(out, sizeof out, "%s/bad", sa_test_tmpdir(t));
    sa_train_opts o = base_opts(model, tok, data, out);
    o.steps = 2, o.batch = 2;
    const char *logp = sa_test_tmpfile(t, "bad.log");
    o.log = fopen(logp, "w");
    sa_train_result r;
    sa_err e = {0};
    SA_CHECK_OK(t, sa_train_run(&o, &r, &e), &e);
    fclose(o.log);
    SA_CHECK_EQ_INT(t, r.data.records, 5);
    SA_CHECK_EQ_INT(t, r.data.examples, 2);
    SA_CHECK_EQ_INT(t, r.data.bad + r.data.empty_response, 2);
    SA_CHECK_EQ_INT(t, r.data.too_long, 1);
    sa_strbuf lg = {0};
    slurp(logp, &lg);
    char where[1100];
    for (int line = 2; line <= 4; line++) {
        snprintf(where, sizeof where, "%s:%d", path, line);
        CHECK_HAS(t, sa_strbuf_cstr(&lg), where);
    }
    sa_strbuf_free(&lg);
    char sp[1100];
    snprintf(sp, sizeof sp, "%s/data_stats.json", out);
    sa_strbuf st = {0};
    slurp(sp, &st);
    CHECK_HAS(t, sa_strbuf_cstr(&st), "\"too_long\": 1");
    sa_strbuf_free(&st);
    /* fail_on_bad turns the first one into an error */
    o.fail_on_bad = true;
    o.log = quiet_log(t, "bad2.log");
    SA_CHECK(t, sa_train_run(&o, &r, &e) != SA_OK);
    CHECK_HAS(t, e.msg, ":2");
    fclose(o.log);
}

static void test_cli_usage(sa_test *t) {
    run_result r = {0};
    if (!run(t, &r, NULL, "train", "--base", "x", "--data", "y", "--out", "z", "--lora", "4", "--full", NULL)) return;
    SA_CHECK_EQ_INT(t, r.rc, 2);
    CHECK_HAS(t, ERR(r), "exclude");
    result_free(&r);
    if (!run(t, &r, NULL, "train", "--base", "x", "--data", "y", "--out", "z", "--tag", "noequals", NULL)) return;
    SA_CHECK_EQ_INT(t, r.rc, 2);
    CHECK_HAS(t, ERR(r), "SOURCE=TEXT");
    result_free(&r);
    if (!run(t, &r, NULL, "train", "--base", "/nonexistent/model", "--data", "y", "--out", "z", NULL)) return;
    SA_CHECK_EQ_INT(t, r.rc, 1);
    CHECK_HAS(t, ERR(r), "/nonexistent/model");
    result_free(&r);
}

static const sa_test_def tests[] = {
    {"overfit_and_export", test_overfit_and_export},
    {"lora_merge_export", test_lora_merge_export},
    {"kill9_resume_1thread", test_kill9_resume_1thread},
    {"kill9_resume_2threads", test_kill9_resume_2threads},
    {"resume_other_settings_refused", test_resume_other_settings_refused},
    {"bad_data_reported", test_bad_data_reported},
    {"cli_usage", test_cli_usage},
};
SA_TEST_MAIN(tests)
