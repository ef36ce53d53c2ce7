/* cmd_demo.c — `selfalign demo`: a generated world, a tiny base model
 * pretrained on it, Humpback with curation and an uncurated control, a
 * short Dromedary, the evaluation and the report (include/sa/demo_world.h).
 * This file maps options to sa_demo_run_opts and prints the table and the
 * report's path at the end. */
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
    {.name = "model-steps", .type = CLI_OPT_INT, .metavar = "N", .min = 0, .max = 1000000,
     .help = "M1, M2 and the control train exactly N steps, equal compute (default 700; 0: by epochs)"},
    {.name = "min-copy-probe", .type = CLI_OPT_FLOAT, .metavar = "P", .min = 0, .max = 1,
     .help = "stop after pretraining when the base's copy probe is below P (default 0.5; with --quick 0: never)"},
    {.name = "quiet", .type = CLI_OPT_FLAG, .help = "no progress bars"},
};

static const cli_cmd_spec k_spec = {
    "demo", "[--out DIR] [--seed S] [--quick] [--threads N]",
    "Generate a small world, pretrain a tiny model on it, run Humpback and a short Dromedary, evaluate M0, M1, M2,\n"
    "the uncurated control and the Dromedary model, and write DIR/report.html.",
    k_opts, sizeof k_opts / sizeof k_opts[0], 0, 0,
    "DIR/report.html: the page to open. DIR/world: the world (world.json says what is in it); DIR/base: the\n"
    "pretrained base; DIR/humpback and DIR/dromedary: the two runs (each with its own report.html); DIR/eval:\n"
    "every answer with its scores, accuracy with 95% intervals, reference NLL, M2 against M0;\n"
    "DIR/demo_results.json: the figures. The held-out instructions ask for document genres that only the\n"
    "unlabeled web pages show.\n",
};

static void row(const sa_demo_results *r, int k) {
    const sa_demo_split_score *h = &r->heldout[k], *s = &r->seen[k];
    printf("  %-9s %6.3f [%5.3f, %5.3f] %6.3f %8.3f %8.3f   %6.3f %8.3f\n", r->model_names[k], h->pass, r->heldout_lo[k],
           r->heldout_hi[k], h->form, h->content, r->nll_heldout[k], s->pass, s->form);
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
    if (cli_is_set(&a, "model-steps")) o.model_steps = cli_int(&a, "model-steps") > 0 ? cli_int(&a, "model-steps") : -1;
    if (cli_is_set(&a, "min-copy-probe")) o.min_copy_probe = cli_float(&a, "min-copy-probe");
    else if (o.quick) o.min_copy_probe = 0; /* the quick base is too small to copy; it checks the plumbing */
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
    printf("  %-9s %6s %-16s %6s %8s %8s   %6s %8s\n", "model", "pass", "95% interval", "form", "content", "ref-nll",
           "seen", "seen-frm");
    for (int k = 0; k < SA_DEMO_MODELS; k++)
        if (res.evaluated[k]) row(&res, k);
    printf("  %-9s %6.3f %-16s %6.3f %8.3f\n", "chance", res.chance_heldout.pass, "", res.chance_heldout.form,
           res.chance_heldout.content);
    if (!isnan(res.pairwise_win_rate))
        printf("M2 against M0 (held-out, M2 judging both orders by logits): win rate %.3f [%.3f, %.3f], order bias "
               "%.3f\n",
               res.pairwise_win_rate, res.pairwise_lo, res.pairwise_hi, res.pairwise_order_bias);
    for (int k = 0; k < SA_DEMO_MODELS; k++)
        if (res.evaluated[k])
            printf("RESULT seed=%llu model=%s heldout_pass=%.4f heldout_form=%.4f heldout_content=%.4f seen_pass=%.4f "
                   "answer_pps=%.1f nll_pps=%.1f\n",
                   (unsigned long long)o.seed, res.model_names[k], res.heldout[k].pass, res.heldout[k].form,
                   res.heldout[k].content, res.seen[k].pass, res.answer_prompts_per_s[k], res.nll_prompts_per_s[k]);
    if (!isnan(res.pairwise_win_rate))
        printf("RESULT seed=%llu pairwise=m2-m0 win_rate=%.4f order_bias=%.4f pairwise_pps=%.1f\n",
               (unsigned long long)o.seed, res.pairwise_win_rate, res.pairwise_order_bias, res.pairwise_prompts_per_s);
    printf("base copy probe %.3f; total %.1f s; figures in %s/demo_results.json\n", res.copy_probe, res.seconds,
           o.out_dir);
    printf("report: %s/report.html\n", o.out_dir);
    return CLI_EXIT_OK;
}
