/* test_mpi.c — data parallelism under `mpirun -np 2 --oversubscribe`
 * (loopback, one machine) against one process, with the real stories260K
 * model: greedy generate gives the same records, backtranslate and curate
 * the same bytes, a rank killed mid-curation resumes and still matches,
 * deterministic training is bitwise equal to one process (and resumes),
 * default training stays within the tolerance documented in trainer.h.
 *
 * Skips when the build has no MPI or mpirun is not on the PATH. Open MPI
 * refuses to run as root without OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM): the
 * tests set both (CI and these machines run as root). Under ASan,
 * LeakSanitizer reports Open MPI's own allocations at exit in every rank
 * (its MCA plugins are unloaded by MPI_Finalize, so the stacks end in
 * "<unknown module>" and no suppression by library can match them): the
 * processes started under mpirun get detect_leaks=0 appended to
 * ASAN_OPTIONS — address and UB checks stay on there, and the
 * one-process runs of the same tests keep leak detection.
 */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sa/dist.h"
#include "sa/safetensors.h"
#include "sa_test.h"
#include "sa_test_run.h"

#define M260 "models/llama2c-stories260K/stories260K.bin"
#define T512 "models/llama2c-stories260K/tok512.bin"
#define MAXA 80

/* ---- set-up ------------------------------------------------------------------- */

static const char *find_mpirun(char *buf, size_t cap) {
    const char *path = getenv("PATH");
    for (const char *p = path; p && *p;) {
        const char *c = strchr(p, ':');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        snprintf(buf, cap, "%.*s/mpirun", (int)n, p);
        if (access(buf, X_OK) == 0) return buf;
        p = c ? c + 1 : NULL;
    }
    return NULL;
}

typedef struct env {
    const char *bin, *model, *tok;
    char mpirun[1024];
} env;

static bool setup(sa_test *t, env *e) {
    if (!sa_dist_compiled()) {
        sa_test_skip(t, "built without MPI (Open MPI not found, or NO_MPI=1)");
        return false;
    }
    if (!find_mpirun(e->mpirun, sizeof e->mpirun)) {
        sa_test_skip(t, "mpirun is not on the PATH");
        return false;
    }
    e->model = sa_test_data(t, M260);
    e->tok = e->model ? sa_test_data(t, T512) : NULL;
    e->bin = e->tok ? bin_path(t) : NULL;
    if (!e->bin) return false;
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
    return true;
}

/* Run argv (argv[0] a path) with stdout and stderr to log; the exit status
 * or -1. With np > 0, the command is `mpirun -np NP --oversubscribe BIN ARGS`. */
static pid_t spawn_logged(const char *const *argv, const char *log) {
    bool under_mpirun = strstr(argv[0], "mpirun") != NULL;
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(log, "w", stdout) || dup2(fileno(stdout), 2) < 0) _exit(126);
        if (under_mpirun) { /* see the top of the file: Open MPI's leaks at exit */
            char opt[2048];
            const char *old = getenv("ASAN_OPTIONS");
            snprintf(opt, sizeof opt, "%s%sdetect_leaks=0", old ? old : "", old && *old ? ":" : "");
            setenv("ASAN_OPTIONS", opt, 1);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static int wait_status(pid_t pid) {
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* av = [mpirun -np NP --oversubscribe] BIN args...; returns argc */
static int build_argv(const env *e, int np, const char **av, const char *const *args) {
    int n = 0;
    if (np > 0) {
        av[n++] = e->mpirun, av[n++] = "-np", av[n++] = np == 1 ? "1" : np == 2 ? "2" : "3";
        av[n++] = "--oversubscribe";
    }
    av[n++] = e->bin;
    for (int i = 0; args[i] && n < MAXA - 1; i++) av[n++] = args[i];
    av[n] = NULL;
    return n;
}

/* Run (np 0: plainly; else under mpirun) and require exit 0, showing the log otherwise. */
static bool run_ok(sa_test *t, const env *e, int np, const char *logname, const char *const *args) {
    const char *av[MAXA];
    build_argv(e, np, av, args);
    const char *log = sa_test_tmpfile(t, logname);
    int rc = wait_status(spawn_logged(av, log));
    if (rc != 0) {
        sa_strbuf b = {0};
        slurp(log, &b);
        sa_test_fail(t, __FILE__, __LINE__, "%s (np %d) exited %d:\n%s", args[0], np, rc, sa_strbuf_cstr(&b));
        sa_strbuf_free(&b);
        return false;
    }
    return true;
}

static const char *dir(sa_test *t, const char *name) {
    const char *p = sa_test_tmpfile(t, name);
    mkdir(p, 0777);
    return p;
}

static const char *path_in(sa_test *t, const char *d, const char *name) {
    char b[2048];
    snprintf(b, sizeof b, "%s/%s", d, name);
    const char *rel = b + strlen(sa_test_tmpdir(t)) + 1; /* tmpfile wants a name under tmpdir */
    return sa_test_tmpfile(t, rel);
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The lines of a file, sorted, joined by '\n' (for files in completion order). */
static void sorted_lines(const char *path, sa_strbuf *out) {
    sa_strbuf b = {0};
    slurp(path, &b);
    size_t n = 0, cap = 16;
    char **lines = malloc(cap * sizeof *lines);
    for (char *p = b.buf, *nl; p && *p; p = nl + 1) {
        nl = strchr(p, '\n');
        if (!nl) break;
        *nl = 0;
        if (n == cap) lines = realloc(lines, (cap *= 2) * sizeof *lines);
        lines[n++] = p;
    }
    qsort(lines, n, sizeof *lines, cmp_cstr);
    for (size_t i = 0; i < n; i++) sa_strbuf_appendf(out, "%s\n", lines[i]);
    free(lines);
    sa_strbuf_free(&b);
}

static bool any_shard_left(const char *d) {
    DIR *dd = opendir(d);
    bool found = false;
    struct dirent *de;
    while (dd && (de = readdir(dd)))
        if (strstr(de->d_name, ".shard-")) found = true;
    if (dd) closedir(dd);
    return found;
}

/* ---- inputs ------------------------------------------------------------------- */

static const char *write_prompts(sa_test *t, int n) {
    sa_strbuf b = {0};
    for (int i = 0; i < n; i++)
        sa_strbuf_appendf(&b, "{\"id\": \"p%d\", \"prompt\": \"Once upon a time, a little girl named Amy%d\"}\n", i, i);
    const char *p = sa_test_tmpfile(t, "prompts.jsonl");
    sa_test_write_file(t, p, b.buf, b.len);
    sa_strbuf_free(&b);
    return p;
}

static const char *write_segments(sa_test *t, int n) {
    sa_strbuf b = {0};
    for (int i = 0; i < n; i++)
        sa_strbuf_appendf(&b, "{\"id\": \"s%d\", \"text\": \"Tom%d went to the park. He saw a big dog%s.\"}\n", i, i,
                          i % 3 ? " and they played with a ball all day" : "");
    const char *p = sa_test_tmpfile(t, "segments.jsonl");
    sa_test_write_file(t, p, b.buf, b.len);
    sa_strbuf_free(&b);
    return p;
}

static const char *write_pairs(sa_test *t, const char *name, int n) {
    sa_strbuf b = {0};
    for (int i = 0; i < n; i++)
        sa_strbuf_appendf(&b, "{\"instruction\": \"Write a short story about a dog named Rex%d.\", \"output\": \"Rex%d "
                              "was a happy dog. He ran in the park with Lily and found a big red ball.\", \"source\": "
                              "\"augmented\"}\n", i, i);
    sa_strbuf_puts(&b, "{\"instruction\": \"a record without an output\"}\n"); /* reported, skipped by all */
    const char *p = sa_test_tmpfile(t, name);
    sa_test_write_file(t, p, b.buf, b.len);
    sa_strbuf_free(&b);
    return p;
}

static const char *short_rubric(sa_test *t) {
    const char *d = dir(t, "rubric");
    static const char k[] = "Rate the answer to the instruction from 1 (bad) to 5 (perfect), then write Score: N.\n"
                            "Instruction: {{instruction}}\nAnswer: {{output}}\n";
    sa_test_write_file(t, path_in(t, d, "rubric.txt"), k, sizeof k - 1);
    return d;
}

static const char *write_records(sa_test *t, int n) {
    sa_strbuf b = {0};
    for (int i = 0; i < n; i++)
        sa_strbuf_appendf(&b, "{\"instruction\": \"Tell a story about cat number %d.\", \"output\": \"Once upon a time "
                              "there was a cat called Tom%d. He liked to play in the sun with his friend Lily.\"}\n", i, i);
    const char *p = sa_test_tmpfile(t, "train.jsonl");
    sa_test_write_file(t, p, b.buf, b.len);
    sa_strbuf_free(&b);
    return p;
}

/* ---- stages ------------------------------------------------------------------- */

static void test_generate_greedy_same(sa_test *t) {
    env e;
    if (!setup(t, &e)) return;
    const char *in = write_prompts(t, 40), *d1 = dir(t, "gen1"), *d2 = dir(t, "gen2");
    const char *o1 = path_in(t, d1, "out.jsonl"), *o2 = path_in(t, d2, "out.jsonl");
#define GEN_ARGS(out) \
    "generate", "--model", e.model, "--tokenizer", e.tok, "--in", in, "--out", out, "--temperature", "0", \
        "--max-tokens", "24", "--threads", "1", "--batch", "4", NULL
    const char *a1[] = {GEN_ARGS(o1)}, *a2[] = {GEN_ARGS(o2)};
    if (!run_ok(t, &e, 0, "gen1.log", a1) || !run_ok(t, &e, 2, "gen2.log", a2)) return;
    SA_CHECK_EQ_INT(t, (long long)file_lines(o2), 40);
    /* one process journals in completion order, the fold in input order: compare as sets */
    sa_strbuf x = {0}, y = {0};
    sorted_lines(o1, &x);
    sorted_lines(o2, &y);
    SA_CHECKF(t, x.len > 0 && x.len == y.len && memcmp(x.buf, y.buf, x.len) == 0, "np 2 records differ from np 1");
    sa_strbuf_free(&x);
    sa_strbuf_free(&y);
    SA_CHECK(t, !any_shard_left(d2));
    /* the fold writes input order */
    json_t *lines = file_json_lines(t, o2);
    SA_CHECK_STR(t, json_string_value(json_object_get(json_array_get(lines, 0), "id")), "p0");
    SA_CHECK_STR(t, json_string_value(json_object_get(json_array_get(lines, 39), "id")), "p39");
    json_decref(lines);
}

static void test_backtranslate_same_bytes(sa_test *t) {
    env e;
    if (!setup(t, &e)) return;
    const char *in = write_segments(t, 40), *d1 = dir(t, "bt1"), *d2 = dir(t, "bt2");
    const char *o1 = path_in(t, d1, "cands.jsonl"), *o2 = path_in(t, d2, "cands.jsonl");
#define BT_ARGS(out) \
    "backtranslate", "--model", e.model, "--tokenizer", e.tok, "--in", in, "--out", out, "--template", "raw", \
        "--max-tokens", "32", "--threads", "1", "--batch", "4", "--seed", "3", NULL
    const char *a1[] = {BT_ARGS(o1)}, *a2[] = {BT_ARGS(o2)};
    if (!run_ok(t, &e, 0, "bt1.log", a1) || !run_ok(t, &e, 2, "bt2.log", a2)) return;
    SA_CHECK(t, same_bytes(o1, o2, true, NULL, NULL));
    SA_CHECK(t, same_bytes(path_in(t, d1, "cands.jsonl.rejected.jsonl"), path_in(t, d2, "cands.jsonl.rejected.jsonl"),
                           true, NULL, NULL));
    uint64_t total = file_lines(o2) + file_lines(path_in(t, d2, "cands.jsonl.rejected.jsonl"));
    SA_CHECK_EQ_INT(t, (long long)total, 40); /* every segment in exactly one file */
    SA_CHECK_EQ_INT(t, (long long)file_lines(path_in(t, d2, "cands.jsonl.journal")), 40);
    SA_CHECK(t, !any_shard_left(d2));
}

#define CUR_ARGS(in, out, sel, rub, mode) \
    "curate", "--model", e.model, "--tokenizer", e.tok, "--prompts", rub, "--in", in, "--out", out, "--selected", sel, \
        "--mode", mode, "--min-score", "3", "--max-tokens", "16", "--threads", "1", "--batch", "4", NULL

static void test_curate_same_bytes(sa_test *t) {
    env e;
    if (!setup(t, &e)) return;
    const char *in = write_pairs(t, "pairs.jsonl", 60), *rub = short_rubric(t);
    const char *modes[] = {"logits", "generate"};
    for (int m = 0; m < 2; m++) {
        char n1[32], n2[32];
        snprintf(n1, sizeof n1, "cur1-%s", modes[m]);
        snprintf(n2, sizeof n2, "cur2-%s", modes[m]);
        const char *d1 = dir(t, n1), *d2 = dir(t, n2);
        const char *o1 = path_in(t, d1, "out.jsonl"), *o2 = path_in(t, d2, "out.jsonl");
        const char *s1 = path_in(t, d1, "sel.jsonl"), *s2 = path_in(t, d2, "sel.jsonl");
        const char *a1[] = {CUR_ARGS(in, o1, s1, rub, modes[m])}, *a2[] = {CUR_ARGS(in, o2, s2, rub, modes[m])};
        if (!run_ok(t, &e, 0, "cur1.log", a1) || !run_ok(t, &e, 2, "cur2.log", a2)) return;
        SA_CHECKF(t, same_bytes(o1, o2, true, NULL, NULL), "%s: out.jsonl differs", modes[m]);
        SA_CHECKF(t, same_bytes(s1, s2, true, NULL, NULL), "%s: selected differs", modes[m]);
        SA_CHECK_EQ_INT(t, (long long)file_lines(o2), 60);
        SA_CHECK(t, !any_shard_left(d2));
        /* the summary counts are combined over ranks */
        json_error_t je;
        json_t *st = json_load_file(path_in(t, d2, "stats.json"), 0, &je);
        SA_CHECK_EQ_INT(t, (long long)json_integer_value(json_object_get(json_object_get(st, "this_run"), "new_records")), 60);
        SA_CHECK_EQ_INT(t, (long long)json_integer_value(json_object_get(st, "records")), 60);
        json_decref(st);
    }
}

/* The selfalign children of pid (mpirun launches the ranks itself). */
static int rank_pids(pid_t parent, pid_t *out, int cap) {
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (d && (de = readdir(d)) && n < cap) {
        char p[300], buf[512];
        snprintf(p, sizeof p, "/proc/%s/stat", de->d_name);
        FILE *f = fopen(p, "r");
        if (!f) continue;
        size_t k = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[k] = 0;
        char *rp = strrchr(buf, ')');
        int ppid = 0;
        char state;
        if (!rp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2) continue;
        if (ppid == parent && strstr(buf, "(selfalign)")) out[n++] = (pid_t)atoi(de->d_name);
    }
    if (d) closedir(d);
    return n;
}

static void test_curate_rank_killed_resumes(sa_test *t) {
    env e;
    if (!setup(t, &e)) return;
    const char *in = write_pairs(t, "pairs_kill.jsonl", 400), *rub = short_rubric(t);
    const char *d1 = dir(t, "kill1"), *d2 = dir(t, "kill2");
    const char *o1 = path_in(t, d1, "out.jsonl"), *o2 = path_in(t, d2, "out.jsonl");
    const char *s1 = path_in(t, d1, "sel.jsonl"), *s2 = path_in(t, d2, "sel.jsonl");
    const char *a1[] = {CUR_ARGS(in, o1, s1, rub, "logits")}, *a2[] = {CUR_ARGS(in, o2, s2, rub, "logits")};
    if (!run_ok(t, &e, 0, "kill1.log", a1)) return;
    /* start 2 ranks; once rank 1 has journaled some records, SIGKILL it */
    const char *av[MAXA];
    build_argv(&e, 2, av, a2);
    pid_t mp = spawn_logged(av, sa_test_tmpfile(t, "kill2.log"));
    const char *shard1 = path_in(t, d2, "out.jsonl.shard-1-of-2");
    bool killed = false;
    for (int spin = 0; spin < 120000 && !killed; spin++) {
        if (file_lines(shard1) >= 20) {
            pid_t kids[4];
            int n = rank_pids(mp, kids, 4);
            /* rank 1 is the second child mpirun started; either rank will do: kill the newest */
            if (n > 0) {
                pid_t victim = kids[0];
                for (int i = 1; i < n; i++)
                    if (kids[i] > victim) victim = kids[i];
                killed = kill(victim, SIGKILL) == 0;
            }
        }
        int st;
        if (!killed && waitpid(mp, &st, WNOHANG) == mp) {
            mp = -1;
            break;
        }
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    SA_REQUIRE(t, killed); /* the run was still going after 20 records of rank 1 */
    int rc = wait_status(mp);
    SA_CHECKF(t, rc != 0, "mpirun exited %d after a rank was killed", rc);
    SA_CHECK(t, any_shard_left(d2)); /* the shards wait for the rerun */
    /* rerun with the same rank count: resumes (skips what any rank journaled) and matches */
    if (!run_ok(t, &e, 2, "kill2b.log", a2)) return;
    SA_CHECK(t, same_bytes(o1, o2, true, NULL, NULL));
    SA_CHECK(t, same_bytes(s1, s2, true, NULL, NULL));
    SA_CHECK(t, !any_shard_left(d2));
    json_error_t je;
    json_t *st = json_load_file(path_in(t, d2, "stats.json"), 0, &je);
    json_t *tr = json_object_get(st, "this_run");
    long long before = json_integer_value(json_object_get(tr, "done_before")),
              now = json_integer_value(json_object_get(tr, "new_records"));
    SA_CHECKF(t, before >= 20 && before + now == 400, "done before %lld + new %lld", before, now);
    json_decref(st);
}

/* ---- training ------------------------------------------------------------------ */

#define TRAIN_ARGS(out, data) \
    "train", "--base", e.model, "--tokenizer", e.tok, "--data", data, "--seq-len", "64", "--template", "raw", \
        "--batch", "4", "--grad-accum", "2", "--steps", "12", "--lr", "3e-3", "--schedule", "cosine", "--warmup", "2", \
        "--threads", "1", "--quiet", "--seed", "7", "--eval-frac", "0.2", "--out", out

static bool model_path(char *b, size_t cap, const char *out) {
    snprintf(b, cap, "%s/model/model.safetensors", out);
    return access(b, R_OK) == 0;
}

static void test_train_deterministic_bitwise(sa_test *t) {
    env e;
    if (!setup(t, &e)) return;
    const char *data = write_records(t, 24), *r1 = sa_test_tmpfile(t, "det1"), *r2 = sa_test_tmpfile(t, "det2"),
               *r3 = sa_test_tmpfile(t, "det3");
    /* dropout on: deterministic mode computes whole micro-batches, so the masks match too */
    const char *a1[] = {TRAIN_ARGS(r1, data), "--dropout", "0.1", "--deterministic", "--save-every", "0", NULL};
    const char *a2[] = {TRAIN_ARGS(r2, data), "--dropout", "0.1", "--deterministic", "--save-every", "0", NULL};
    if (!run_ok(t, &e, 0, "det1.log", a1) || !run_ok(t, &e, 2, "det2.log", a2)) return;
    char m1[1100], m2[1100], m3[1100];
    SA_REQUIRE(t, model_path(m1, sizeof m1, r1) && model_path(m2, sizeof m2, r2));
    SA_CHECKF(t, same_bytes(m1, m2, true, NULL, NULL), "deterministic np 2 weights differ from np 1");
    sa_strbuf log = {0};
    slurp(sa_test_tmpfile(t, "det2.log"), &log);
    CHECK_HAS(t, sa_strbuf_cstr(&log), "weights identical on all 2 ranks");
    CHECK_HAS(t, sa_strbuf_cstr(&log), "deterministic mode");
    sa_strbuf_free(&log);
    /* stopped after 5 steps under 2 ranks (the stop is agreed), resumed under 2: still the same bits */
    const char *a3[] = {TRAIN_ARGS(r3, data), "--dropout", "0.1", "--deterministic", "--save-every", "1",
                        "--stop-after", "5", NULL};
    const char *av[MAXA];
    build_argv(&e, 2, av, a3);
    int rc = wait_status(spawn_logged(av, sa_test_tmpfile(t, "det3.log")));
    SA_CHECKF(t, rc != 0, "a stopped run exits non-zero (got %d)", rc);
    SA_CHECK(t, !model_path(m3, sizeof m3, r3));
    const char *a4[] = {TRAIN_ARGS(r3, data), "--dropout", "0.1", "--deterministic", "--save-every", "1", "--resume", NULL};
    if (!run_ok(t, &e, 2, "det4.log", a4)) return;
    SA_REQUIRE(t, model_path(m3, sizeof m3, r3));
    SA_CHECKF(t, same_bytes(m1, m3, true, NULL, NULL), "stopped-and-resumed np 2 weights differ from np 1");
    slurp(sa_test_tmpfile(t, "det4.log"), &log);
    CHECK_HAS(t, sa_strbuf_cstr(&log), "resuming at step 5");
    sa_strbuf_free(&log);
}

/* "loss A -> B" from the summary line. */
static double final_loss(const char *log) {
    sa_strbuf b = {0};
    slurp(log, &b);
    const char *p = strstr(sa_strbuf_cstr(&b), "): loss ");
    double a = NAN, z = NAN;
    if (p && sscanf(p, "): loss %lf -> %lf", &a, &z) != 2) z = NAN;
    sa_strbuf_free(&b);
    return z;
}

static void test_train_default_within_tolerance(sa_test *t) {
    env e;
    if (!setup(t, &e)) return;
    const char *data = write_records(t, 24), *r1 = sa_test_tmpfile(t, "def1"), *r2 = sa_test_tmpfile(t, "def2");
    const char *a1[] = {TRAIN_ARGS(r1, data), "--save-every", "0", NULL};
    const char *a2[] = {TRAIN_ARGS(r2, data), "--save-every", "0", NULL};
    if (!run_ok(t, &e, 0, "def1.log", a1) || !run_ok(t, &e, 2, "def2.log", a2)) return;
    char m1[1100], m2[1100];
    SA_REQUIRE(t, model_path(m1, sizeof m1, r1) && model_path(m2, sizeof m2, r2));
    sa_strbuf log = {0};
    slurp(sa_test_tmpfile(t, "def2.log"), &log);
    CHECK_HAS(t, sa_strbuf_cstr(&log), "weights identical on all 2 ranks");
    sa_strbuf_free(&log);
    double l1 = final_loss(sa_test_tmpfile(t, "def1.log")), l2 = final_loss(sa_test_tmpfile(t, "def2.log"));
    /* trainer.h: final loss within 1e-3 relative */
    SA_CHECKF(t, isfinite(l1) && fabs(l1 - l2) <= 1e-3 * fabs(l1), "final loss %g vs %g", l1, l2);
    sa_st *x = NULL, *y = NULL;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_st_open(&x, m1, &err), &err);
    SA_REQUIRE_OK(t, sa_st_open(&y, m2, &err), &err);
    SA_CHECK_EQ_INT(t, (long long)sa_st_n_tensors(x), (long long)sa_st_n_tensors(y));
    /* trainer.h: every weight within 1e-3 absolute + 1e-2 relative (summation order only) */
    double worst = 0;
    int64_t n_diff = 0, n_all = 0;
    for (int64_t i = 0; i < sa_st_n_tensors(x); i++) {
        const sa_st_tensor *a = sa_st_tensor_at(x, i), *b = sa_st_find(y, a->name);
        SA_REQUIRE(t, b && a->dtype == SA_DTYPE_F32 && b->nbytes == a->nbytes);
        const float *p = a->data, *q = b->data;
        for (size_t k = 0; k < a->nbytes / sizeof(float); k++, n_all++) {
            double d = fabs((double)p[k] - (double)q[k]), lim = 1e-3 + 1e-2 * fabs((double)p[k]);
            if (d / lim > worst) worst = d / lim;
            n_diff += p[k] != q[k];
        }
    }
    SA_CHECKF(t, worst <= 1.0, "a weight is %.2fx outside the tolerance", worst);
    /* not vacuous: the default mode really computed differently split sums */
    SA_CHECKF(t, n_diff > 0, "expected rounding differences in %lld weights", (long long)n_all);
    sa_st_close(x);
    sa_st_close(y);
}

static void test_not_launched_is_one_process(sa_test *t) {
    /* without a launcher's environment the binary never touches MPI */
    sa_dist d;
    sa_err err = {0};
    const char *keep = getenv("OMPI_COMM_WORLD_SIZE");
    if (keep) {
        sa_test_skip(t, "running under a launcher");
        return;
    }
    SA_REQUIRE_OK(t, sa_dist_init(&d, &err), &err);
    SA_CHECK_EQ_INT(t, d.rank, 0);
    SA_CHECK_EQ_INT(t, d.size, 1);
    SA_CHECK(t, !d.mpi);
    float v[2] = {1.5f, -2.0f};
    SA_CHECK_OK(t, sa_dist_allreduce_f32(&d, v, 2, &err), &err);
    SA_CHECK(t, v[0] == 1.5f && v[1] == -2.0f);
    SA_CHECK_EQ_INT(t, sa_dist_agree(&d, SA_OK, &err), SA_OK);
    sa_dist_free(&d);
}

static void test_other_commands_refused(sa_test *t) {
    env e;
    if (!setup(t, &e)) return;
    const char *args[] = {"selfinstruct", "--help", NULL};
    const char *av[MAXA];
    build_argv(&e, 2, av, args);
    const char *log = sa_test_tmpfile(t, "refused.log");
    int rc = wait_status(spawn_logged(av, log));
    SA_CHECKF(t, rc != 0, "selfinstruct under 2 ranks exited %d", rc);
    sa_strbuf b = {0};
    slurp(log, &b);
    CHECK_HAS(t, sa_strbuf_cstr(&b), "does not run as 2 MPI processes");
    sa_strbuf_free(&b);
}

/* ---- the method loops ------------------------------------------------------------ */

/* The whole Humpback loop under mpirun -np 2 (augmentation and curation
 * sharded, every fine-tune data-parallel in deterministic mode) gives the
 * same bytes as one process: corpus, candidates, scores, selection and
 * every model. Rank 0 alone owns the manifest. */
static void test_humpback_same_bytes(sa_test *t) {
    env e;
    if (!setup(t, &e)) return;
    const char *wiki = sa_test_data(t, "corpus/exllamav2_cal/wiki.utf8");
    if (!wiki) return;
    /* the first ~30 KB of the Wikipedia dump, cut after a whole </doc> */
    sa_strbuf w = {0};
    slurp(wiki, &w);
    const char *end = w.len > 30000 ? strstr(w.buf + 30000, "</doc>") : NULL;
    SA_REQUIRE(t, end != NULL);
    const char *cd = dir(t, "hb_corpus");
    SA_REQUIRE(t, sa_test_write_file(t, path_in(t, cd, "wiki.txt"), w.buf, (size_t)(end - w.buf) + strlen("</doc>\n")));
    sa_strbuf_free(&w);
    const char *seed = write_records(t, 24), *prompts = short_rubric(t);
    const char *r1 = sa_test_tmpfile(t, "hb1"), *r2 = sa_test_tmpfile(t, "hb2");
#define HB_ARGS(run)                                                                                                   \
    "humpback", "--run", run, "--base", e.model, "--tokenizer", e.tok, "--seed", seed, "--corpus", cd, "--prompts",    \
        prompts, "--min-chars", "150", "--max-chars", "500", "--full", "--lr", "3e-3", "--steps", "6", "--batch", "4", \
        "--grad-accum", "2", "--deterministic", "--save-every", "0", "--threads", "1", "--gen-batch", "2",             \
        "--instruction-tokens", "48", "--iterations", "1", "--min-score", "2.45", "--quiet"
    const char *a1[] = {HB_ARGS(r1), NULL}, *a2[] = {HB_ARGS(r2), NULL};
#undef HB_ARGS
    if (!run_ok(t, &e, 0, "hb1.log", a1) || !run_ok(t, &e, 2, "hb2.log", a2)) return;
    static const char *const k_files[] = {
        "corpus/segments.jsonl", "augment/candidates.jsonl", "augment/candidates.jsonl.rejected.jsonl",
        "curate-1/scored.jsonl", "curate-1/selected.jsonl",  "backward/model/model.safetensors",
        "m0/model/model.safetensors", "m1/model/model.safetensors", "report.html",
    };
    for (size_t i = 0; i < sizeof k_files / sizeof k_files[0]; i++) {
        char a[1200], b[1200];
        snprintf(a, sizeof a, "%s/%s", r1, k_files[i]);
        snprintf(b, sizeof b, "%s/%s", r2, k_files[i]);
        if (strcmp(k_files[i], "report.html") == 0) SA_CHECKF(t, access(b, F_OK) == 0, "no report under mpirun");
        else
            SA_CHECKF(t, file_lines(a) > 0 && same_bytes(a, b, true, NULL, NULL), "%s differs between np 2 and one process",
                      k_files[i]);
    }
    SA_CHECK(t, !any_shard_left(path_in(t, r2, "augment")) && !any_shard_left(path_in(t, r2, "curate-1")));
    run_result r;
    if (!run_argv(t, &r, NULL, (const char *const[]){"status", "--run", r2, NULL})) return;
    CHECK_HAS(t, OUT(r), "6 of 6 stages done");
    result_free(&r);
}

static const sa_test_def tests[] = {
    {"not_launched_is_one_process", test_not_launched_is_one_process},
    {"other_commands_refused", test_other_commands_refused},
    {"generate_greedy_same", test_generate_greedy_same},
    {"backtranslate_same_bytes", test_backtranslate_same_bytes},
    {"curate_same_bytes", test_curate_same_bytes},
    {"curate_rank_killed_resumes", test_curate_rank_killed_resumes},
    {"train_deterministic_bitwise", test_train_deterministic_bitwise},
    {"train_default_within_tolerance", test_train_default_within_tolerance},
    {"humpback_same_bytes", test_humpback_same_bytes},
};
SA_TEST_MAIN(tests)
