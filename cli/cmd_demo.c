/* cmd_demo.c — `selfalign demo`: a generated world, a tiny base model
 * pretrained on it, Humpback with curation and an uncurated control, and
 * the held-out scores (include/sa/demo_world.h). This file maps options to
 * sa_demo_run_opts and prints the table at the end. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "opts.h"
#include "sa/demo_world.h"
#include "sa/signal.h"

static const cli_opt k_opts[] = {
    {.name = "out", .type = CLI_OPT_STR, .metavar = "DIR", .def = "demo",
     .help = "output directory (rerun the same command to resume)"},
    {.name = "seed", .type = CLI_OPT_INT, .metavar = "S", .def = "1", .min = 0, .max = 9.2e18,
     .help = "world and run seed"},
    {.name = "quick", .type = CLI_OPT_FLAG, .help = "the small variant (about two minutes; no effect expected)"},
    {.name = "threads", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 1024,
     .help = "threads (0 = all CPUs)"},
    {.name = "world-only", .type = CLI_OPT_FLAG, .help = "write the world (DIR/world) and stop"},
    {.name = "min-score", .type = CLI_OPT_FLOAT, .metavar = "K", .min = -1e9, .max = 1e9,
     .help = "pmi curation threshold (default: the demo's)"},
    {.name = "epochs", .type = CLI_OPT_INT, .metavar = "N", .min = 1, .max = 1000,
     .help = "fine-tuning epochs for every model (default: the demo's)"},
    {.name = "pretrain-steps", .type = CLI_OPT_INT, .metavar = "N", .min = 1, .max = 1000000,
     .help = "pretraining steps (default: the demo's)"},
    {.name = "min-copy-probe", .type = CLI_OPT_FLOAT, .metavar = "P", .min = 0, .max = 1,
     .help = "stop after pretraining when the base's copy probe is below P (default 0: never)"},
    {.name = "quiet", .type = CLI_OPT_FLAG, .help = "no progress bars"},
};

static const cli_cmd_spec k_spec = {
    "demo", "[--out DIR] [--seed S] [--quick] [--threads N]",
    "Generate a small world, pretrain a tiny model on it, run Humpback and score M0, M1, M2 and a control.",
    k_opts, sizeof k_opts / sizeof k_opts[0], 0, 0,
    "DIR/world: the world (world.json says what is in it); DIR/base: the pretrained base; DIR/humpback: the\n"
    "Humpback run; DIR/eval: every answer with its scores; DIR/demo_results.json: the figures. The held-out\n"
    "instructions ask for document genres that only the unlabeled web pages show.\n",
};

static void row(const char *name, const sa_demo_split_score *h, const sa_demo_split_score *s) {
    printf("  %-8s %8.3f %8.3f %8.3f   %8.3f %8.3f\n", name, h->pass, h->form, h->content, s->pass, s->form);
}

int cmd_demo(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&k_spec, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    sa_err err = {0};
    sa_demo_run_opts o = sa_demo_run_defaults();
    o.out_dir = cli_str(&a, "out");
    o.seed = (uint64_t)cli_int(&a, "seed");
    o.quick = cli_flag(&a, "quick");
    o.threads = (int)cli_int(&a, "threads");
    o.min_score = cli_is_set(&a, "min-score") ? cli_float(&a, "min-score") : NAN;
    o.epochs = cli_is_set(&a, "epochs") ? (int32_t)cli_int(&a, "epochs") : 0;
    o.pretrain_steps = cli_is_set(&a, "pretrain-steps") ? cli_int(&a, "pretrain-steps") : 0;
    o.min_copy_probe = cli_is_set(&a, "min-copy-probe") ? cli_float(&a, "min-copy-probe") : 0;
    o.quiet = cli_flag(&a, "quiet");
    if (cli_flag(&a, "world-only")) {
        sa_demo_world_opts wo = sa_demo_world_defaults(o.quick);
        wo.seed = o.seed;
        sa_demo_world_stats st;
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/world", o.out_dir);
        sa_status s = sa_demo_world_write(&wo, dir, &st, &err);
        if (s) return cli_fail(s, &err);
        printf("wrote %s: %lld pretraining documents, %lld pages, %lld seed pairs, %lld + %lld eval items, "
               "vocabulary %d\n",
               dir, (long long)st.pretrain_docs, (long long)st.pages, (long long)st.seed_pairs,
               (long long)st.eval_heldout, (long long)st.eval_seen, st.vocab_size);
        return CLI_EXIT_OK;
    }
    sa_demo_results res;
    sa_status s = sa_signal_install(&err);
    if (!s) s = sa_demo_run(&o, &res, &err);
    sa_signal_uninstall();
    if (s == SA_ERR_INTERRUPTED) fprintf(stderr, "selfalign: demo interrupted; rerun the same command to resume\n");
    if (s) return cli_fail(s, &err);
    printf("\nheld-out genres (answers need a form only the unlabeled pages show) and seen genres, %s:\n", o.out_dir);
    printf("  %-8s %8s %8s %8s   %8s %8s\n", "model", "pass", "form", "content", "seen", "seen-frm");
    for (int k = 0; k < SA_DEMO_MODELS; k++)
        if (res.evaluated[k]) row(res.model_names[k], &res.heldout[k], &res.seen[k]);
    printf("  %-8s %8.3f %8.3f %8.3f\n", "chance", res.chance_heldout.pass, res.chance_heldout.form,
           res.chance_heldout.content);
    for (int k = 0; k < SA_DEMO_MODELS; k++)
        if (res.evaluated[k])
            printf("RESULT seed=%llu model=%s heldout_pass=%.4f heldout_form=%.4f heldout_content=%.4f seen_pass=%.4f\n",
                   (unsigned long long)o.seed, res.model_names[k], res.heldout[k].pass, res.heldout[k].form,
                   res.heldout[k].content, res.seen[k].pass);
    printf("total %.1f s; details in %s/demo_results.json\n", res.seconds, o.out_dir);
    return CLI_EXIT_OK;
}
