/* bench_eval.c — evaluation throughput (prompts/s) per mode on the real
 * stories260K model: pairwise with a generating judge, pairwise with a
 * logits judge, reference NLL, task accuracy.
 *
 * Usage: bench_eval [threads=2] [items=32] [max_tokens=32]
 * Data: $SA_DATA_DIR (default ../shared/data)/models/llama2c-stories260K.
 * The model is A, B and judge (one engine); its 512-token context needs a
 * short judge prompt, written to a temporary prompts directory. Pairwise
 * figures count items, each of which costs two answers and two judgments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sa/eval.h"
#include "sa/model.h"

static const char *k_prompts[] = {"Tell me a story about a cat.", "What did Lily find in the park?",
                                  "Write about a dog who likes the sun.", "Who is Ben?", "Tell a sad story.",
                                  "What is a tree?", "Write one sentence about a bird.", "Why was Tom happy?"};

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    int items = argc > 2 ? atoi(argv[2]) : 32;
    int max_tokens = argc > 3 ? atoi(argv[3]) : 32;
    const char *data = getenv("SA_DATA_DIR");
    char mpath[1024], tpath[1024];
    snprintf(mpath, sizeof mpath, "%s/models/llama2c-stories260K/stories260K.bin", data ? data : "../shared/data");
    snprintf(tpath, sizeof tpath, "%s/models/llama2c-stories260K/tok512.bin", data ? data : "../shared/data");
    sa_err err = {0};
    sa_model *m = NULL;
    sa_tokenizer *tok = NULL;
    if (sa_model_load(&m, mpath, &err) || sa_tokenizer_load(&tok, tpath, &err)) {
        fprintf(stderr, "bench_eval: %s (set SA_DATA_DIR)\n", err.msg);
        sa_model_free(m);
        return 1;
    }
    char dir[] = "/tmp/bench_eval.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char pdir[1100], path[1200];
    snprintf(pdir, sizeof pdir, "%s/prompts", dir);
    if (mkdir(pdir, 0777) != 0) return 1;
    snprintf(path, sizeof path, "%s/judge_pairwise.txt", pdir);
    FILE *f = fopen(path, "w");
    if (!f) return 1;
    fputs("Which reply is better?\nQuestion: {{question}}\nReply A: {{answer_a}}\nReply B: {{answer_b}}\n"
          "End with Verdict: A, Verdict: B or Verdict: tie.\n", f);
    fclose(f);
    char set_path[1200], task_path[1200];
    snprintf(set_path, sizeof set_path, "%s/set.jsonl", dir);
    snprintf(task_path, sizeof task_path, "%s/task.jsonl", dir);
    FILE *fs = fopen(set_path, "w"), *ft = fopen(task_path, "w");
    if (!fs || !ft) return 1;
    for (int i = 0; i < items; i++) {
        const char *p = k_prompts[i % 8];
        fprintf(fs, "{\"id\": \"q%d\", \"instruction\": \"%s (%d)\", \"output\": \"Once upon a time there was a "
                    "little girl named Lily. She liked to play in the park with her ball.\"}\n", i, p, i);
        fprintf(ft, "{\"id\": \"t%d\", \"prompt\": \"%s (%d)\", \"answer\": \"lily\", \"chance\": 0.1}\n", i, p, i);
    }
    fclose(fs);
    fclose(ft);
    sa_prompts *pr = NULL;
    sa_eval_set set, task;
    memset(&set, 0, sizeof set);
    memset(&task, 0, sizeof task);
    int rc = 0;
    if (sa_prompts_load(&pr, pdir, &err) || sa_eval_set_load(&set, set_path, NULL, &err) ||
        sa_eval_set_load(&task, task_path, NULL, &err)) {
        fprintf(stderr, "bench_eval: %s\n", err.msg);
        rc = 1;
    }
    sa_engine_local_opts eo = sa_engine_local_defaults();
    eo.n_threads = threads;
    eo.n_slots = 8;
    sa_engine *e = NULL;
    if (!rc && sa_engine_local_new(&e, m, tok, &eo, &err)) {
        fprintf(stderr, "bench_eval: %s\n", err.msg);
        rc = 1;
    }
    printf("selfalign eval benchmark: stories260K (F32), %d threads, %d slots, %d items, answers of at most %d "
           "tokens (greedy)\n", threads, eo.n_slots, items, max_tokens);
    printf("command: bench_eval %d %d %d\n", threads, items, max_tokens);
    printf("%-20s %12s %10s\n", "mode", "prompts/s", "seconds");
    sa_eval_opts o = sa_eval_default_opts();
    o.prompts = pr;
    o.max_tokens = max_tokens;
    o.judge_max_tokens = max_tokens;
    o.chunk = 32;
    char out[1300];
    for (int mode = 0; mode < 4 && !rc; mode++) {
        snprintf(out, sizeof out, "%s/eval_%d.json", dir, mode);
        o.out = out;
        double pps = 0, secs = 0;
        sa_status s;
        const char *name;
        if (mode < 2) {
            o.judge_mode = mode ? SA_JUDGE_LOGITS : SA_JUDGE_GENERATE;
            name = mode ? "pairwise (logits)" : "pairwise (generate)";
            sa_eval_pairwise_result r;
            s = sa_eval_pairwise(e, e, e, &set, &o, &r, &err);
            pps = r.prompts_per_s;
            secs = r.seconds;
        } else if (mode == 2) {
            name = "nll";
            sa_eval_nll_result r;
            s = sa_eval_nll(e, &set, &o, &r, &err);
            pps = r.prompts_per_s;
            secs = r.seconds;
        } else {
            name = "task";
            sa_eval_task_result r;
            s = sa_eval_task(e, &task, &o, &r, &err);
            pps = r.prompts_per_s;
            secs = r.seconds;
        }
        if (s) {
            fprintf(stderr, "bench_eval: %s: %s\n", name, err.msg);
            rc = 1;
        } else
            printf("%-20s %12.1f %10.2f\n", name, pps, secs);
    }
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_eval: could not remove %s\n", dir);
    sa_engine_free(e);
    sa_eval_set_free(&set);
    sa_eval_set_free(&task);
    sa_prompts_free(pr);
    sa_tokenizer_free(tok);
    sa_model_free(m);
    return rc;
}
