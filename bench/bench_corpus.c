/* bench_corpus.c — single-thread throughput (MB/s of input) of the whole
 * corpus preparation: read, segment, filter, exact + near dedup, serialise.
 *
 * Usage: build/bench/bench_corpus [path] [repeats]
 *   path defaults to $SA_DATA_DIR/corpus or ../shared/data/corpus; repeats to
 *   3 (best time reported: the machine is shared). Output is written to a
 *   temporary directory and discarded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sa/corpus.h"

/* Thread CPU time, so other processes on a shared machine do not count. */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double wall_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    char def[1024];
    const char *dd = getenv("SA_DATA_DIR");
    snprintf(def, sizeof def, "%s/corpus", dd ? dd : "../shared/data");
    const char *path = argc > 1 ? argv[1] : def;
    int reps = argc > 2 ? atoi(argv[2]) : 3;
    if (reps < 1) reps = 1;
    char tmpl[] = "/tmp/bench_corpus_XXXXXX";
    if (!mkdtemp(tmpl)) { perror("mkdtemp"); return 1; }
    char out[1100], stats[1100];
    snprintf(out, sizeof out, "%s/segments.jsonl", tmpl);
    snprintf(stats, sizeof stats, "%s/stats.json", tmpl);
    double best_cpu = 1e30, best_wall = 1e30;
    sa_corpus_stats st = {0};
    for (int r = 0; r < reps; r++) {
        sa_corpus_opts o;
        sa_corpus_default_opts(&o);
        sa_corpus *c;
        sa_err err = {0};
        double c0 = cpu_s(), w0 = wall_s();
        sa_status s = sa_corpus_init(&c, &o, &err);
        if (!s) s = sa_corpus_add_path(c, path, &err);
        if (!s) s = sa_corpus_write(c, out, NULL, stats, &err);
        double c1 = cpu_s(), w1 = wall_s();
        if (s) { fprintf(stderr, "bench_corpus: %s\n", err.msg); sa_corpus_free(c); return 1; }
        st = *sa_corpus_get_stats(c);
        sa_corpus_free(c);
        if (c1 - c0 < best_cpu) best_cpu = c1 - c0;
        if (w1 - w0 < best_wall) best_wall = w1 - w0;
    }
    remove(out);
    remove(stats);
    remove(tmpl);
    double mb = (double)st.bytes / 1e6;
    printf("corpus preparation, 1 thread, %s\n", path);
    printf("  %llu files, %.2f MB, %llu documents, %llu segments, %llu kept\n",
           (unsigned long long)st.files, mb, (unsigned long long)st.documents,
           (unsigned long long)st.segments, (unsigned long long)st.kept);
    printf("  best of %d: %.3f s CPU (%.2f MB/s), %.3f s wall (%.2f MB/s)\n", reps, best_cpu,
           mb / best_cpu, best_wall, mb / best_wall);
    return 0;
}
