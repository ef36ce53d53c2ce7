/* cmd_status.c — `selfalign status --run DIR`: where a humpback or dromedary
 * run is: each stage's state, attempts, time and counts (run.h). Read-only:
 * it never takes the run's lock, so it is safe while the run is going. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "opts.h"
#include "sa/json.h"
#include "sa/run.h"

static const cli_opt k_opts[] = {
    {.name = "run", .type = CLI_OPT_STR, .metavar = "DIR", .required = true, .help = "run directory"},
    {.name = "json", .type = CLI_OPT_FLAG, .help = "print the manifest (plus \"active\") as JSON"},
};

static const cli_cmd_spec k_spec = {
    "status", "--run DIR [--json]", "Show the stages of a run: state, attempts, time and counts.", k_opts,
    sizeof k_opts / sizeof k_opts[0], 0, 0,
    "states: pending, running (a process holds the run now), interrupted (stopped by a signal, or killed:\n"
    "shown for a stage left running when no process holds the run), failed (with the error), done.\n"
    "exit status 0 when the manifest was read (whatever the run's state), 1 otherwise.\n",
};

/* "key=value" for every scalar of a summary object, in key order. */
static void print_summary(const json_t *sum) {
    if (!json_is_object(sum)) return;
    const char **keys = NULL;
    size_t n = json_object_size(sum), k = 0;
    keys = n ? malloc(n * sizeof *keys) : NULL;
    if (!keys) return;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)sum, key, v) keys[k++] = key;
    for (size_t i = 1; i < k; i++) /* insertion sort: a few keys */
        for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
            const char *t = keys[j];
            keys[j] = keys[j - 1];
            keys[j - 1] = t;
        }
    for (size_t i = 0; i < k; i++) {
        v = json_object_get(sum, keys[i]);
        if (json_is_integer(v)) printf(" %s=%lld", keys[i], (long long)json_integer_value(v));
        else if (json_is_real(v)) printf(" %s=%.4g", keys[i], json_real_value(v));
        else if (json_is_string(v)) printf(" %s=%s", keys[i], json_string_value(v));
        else if (json_is_boolean(v)) printf(" %s=%s", keys[i], json_is_true(v) ? "true" : "false");
    }
    free(keys);
}

int cmd_status(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&k_spec, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    sa_err err = {0};
    json_t *m = NULL;
    bool active = false;
    const char *dir = cli_str(&a, "run");
    sa_status s = sa_run_read(dir, &m, &active, &err);
    if (s) return cli_fail(s, &err);
    if (cli_flag(&a, "json")) {
        json_object_set_new(m, "active", json_boolean(active));
        char *text = json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (text) puts(text);
        free(text);
        json_decref(m);
        return text ? CLI_EXIT_OK : CLI_EXIT_RUNTIME;
    }
    const char *kind = json_string_value(json_object_get(m, "kind"));
    const char *ver = json_string_value(json_object_get(m, "version"));
    const char *created = json_string_value(json_object_get(m, "created"));
    const char *updated = json_string_value(json_object_get(m, "updated"));
    printf("run %s: %s (selfalign %s), created %s, updated %s, %s\n", dir, kind, ver ? ver : "?",
           created ? created : "?", updated ? updated : "?",
           active ? "a process is working on it now" : "no process is working on it");
    json_t *stages = json_object_get(m, "stages");
    size_t i, n_done = 0, n = json_array_size(stages);
    json_t *st;
    printf("%-12s %-12s %8s %10s  %s\n", "stage", "state", "attempts", "seconds", "counts");
    json_array_foreach(stages, i, st) {
        const char *name = json_string_value(json_object_get(st, "name"));
        const char *state = json_string_value(json_object_get(st, "state"));
        if (strcmp(state, "running") == 0 && !active) state = "interrupted";
        if (strcmp(state, "done") == 0) n_done++;
        printf("%-12s %-12s %8lld %10.1f ", name, state, (long long)json_integer_value(json_object_get(st, "attempts")),
               json_number_value(json_object_get(st, "seconds")));
        print_summary(json_object_get(st, "summary"));
        const char *e = json_string_value(json_object_get(st, "error"));
        if (e) printf(" error: %s", e);
        putchar('\n');
    }
    printf("%zu of %zu stages done%s\n", n_done, n,
           n_done == n ? "" : active ? "" : "; rerun the run's command to continue");
    json_decref(m);
    return CLI_EXIT_OK;
}
