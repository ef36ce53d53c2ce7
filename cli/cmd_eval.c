/* cmd_eval.c — `selfalign eval`: pairwise judging (both orders), reference
 * NLL, or task accuracy on an eval set, with bootstrap intervals; see eval.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "opts.h"
#include "sa/engine.h"
#include "sa/eval.h"
#include "sa/model.h"
#include "sa/prompts.h"
#include "sa/signal.h"

static const cli_opt k_opts[] = {
    {.name = "pairwise", .type = CLI_OPT_FLAG, .help = "compare --a and --b with --judge (both orders)"},
    {.name = "nll", .type = CLI_OPT_FLAG, .help = "mean per-token NLL of the reference answers under --model"},
    {.name = "task", .type = CLI_OPT_FLAG, .help = "exact-answer accuracy of --model on a checkable set"},
    {.name = "a", .type = CLI_OPT_STR, .metavar = "MODEL", .help = "pairwise: model A (HF directory, .gguf, llama2.c)"},
    {.name = "b", .type = CLI_OPT_STR, .metavar = "MODEL", .help = "pairwise: model B"},
    {.name = "judge", .type = CLI_OPT_STR, .metavar = "MODEL",
     .help = "pairwise: the judge model (an HTTP judge URL comes with a later issue)"},
    {.name = "judge-mode", .type = CLI_OPT_STR, .metavar = "MODE", .def = "generate",
     .help = "pairwise: generate (reasoning, then a verdict line) or logits (p(A) vs p(B) after \"Verdict: \")"},
    {.name = "judge-max-tokens", .type = CLI_OPT_INT, .metavar = "N", .def = "256", .min = 1, .max = 1 << 20,
     .help = "pairwise, generate judge: tokens at most"},
    {.name = "model", .type = CLI_OPT_STR, .metavar = "MODEL", .help = "nll, task: the model"},
    {.name = "set", .type = CLI_OPT_STR, .metavar = "FILE", .required = true,
     .help = "eval set: MT-bench/Vicuna questions, Koala, self-instruct, Alpaca or our records, task format"},
    {.name = "format", .type = CLI_OPT_STR, .metavar = "NAME", .def = "auto",
     .help = "set format: auto, mt-bench, task, self-instruct, koala, records"},
    {.name = "out", .type = CLI_OPT_STR, .metavar = "FILE.json", .required = true,
     .help = "summary JSON (per-item JSONL beside it: FILE.items.jsonl)"},
    {.name = "tokenizer", .type = CLI_OPT_STR, .metavar = "PATH",
     .help = "one tokenizer for all models (default: each model's own)"},
    {.name = "template", .type = CLI_OPT_STR, .metavar = "NAME",
     .help = "chat template for all models: chatml, llama2, llama3, zephyr, phi3, alpaca, raw (default: detect, else "
             "alpaca)"},
    {.name = "system", .type = CLI_OPT_STR, .metavar = "TEXT", .help = "system message before each prompt (answers, nll)"},
    {.name = "max-tokens", .type = CLI_OPT_INT, .metavar = "N", .def = "256", .min = 1, .max = 1 << 20,
     .help = "answer tokens at most"},
    {.name = "temperature", .type = CLI_OPT_FLOAT, .metavar = "T", .def = "0", .min = 0, .max = 100,
     .help = "answer sampling temperature (0 = greedy); the judge is always greedy"},
    {.name = "seed", .type = CLI_OPT_INT, .metavar = "S", .def = "0", .min = 0, .max = 9.2e18,
     .help = "run seed (sampling per item id, bootstrap)"},
    {.name = "batch", .type = CLI_OPT_INT, .metavar = "N", .def = "8", .min = 1, .max = 4096,
     .help = "sequences decoded together"},
    {.name = "threads", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 1024,
     .help = "threads (0 = all CPUs)"},
    {.name = "prompts", .type = CLI_OPT_STR, .metavar = "DIR",
     .help = "override built-in prompts with DIR/NAME.txt (judge_pairwise.txt)"},
    {.name = "resamples", .type = CLI_OPT_INT, .metavar = "N", .def = "1000", .min = 100, .max = 1000000,
     .help = "bootstrap resamples (95% percentile intervals)"},
    {.name = "limit", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 9.2e18,
     .help = "use the first N items only (0 = all)"},
    {.name = "quiet", .type = CLI_OPT_FLAG, .help = "no progress lines (bad set lines are still reported)"},
};

static const cli_cmd_spec k_spec = {
    "eval", "(--pairwise --a M --b M --judge M | --nll --model M | --task --model M) --set FILE --out FILE.json",
    "Evaluate models: pairwise win rate with a judge, reference NLL, or task accuracy.", k_opts,
    sizeof k_opts / sizeof k_opts[0], 0, 0,
    "pairwise: A and B answer every prompt; the judge compares the answers twice, A shown first and\n"
    "B shown first. Per item: A preferred on balance = win, split or two ties = tie, else loss;\n"
    "judge outputs without a verdict count as unparsable. Win rate = (wins + ties/2) / judged items;\n"
    "order bias = (judgments preferring the first-shown answer - the second-shown) / judgments.\n"
    "nll: mean per-token negative log-likelihood of the reference answers after the prompt in the\n"
    "model's chat template. task: correct when an accepted answer appears as whole words in the\n"
    "normalised output. Intervals: bootstrap over items, 95%, percentile method.\n"
    "An HTTP (OpenAI-compatible) judge via --judge URL comes with a later issue.\n",
};

typedef struct loaded {
    const char *path;
    sa_model *m;
    sa_tokenizer *tok; /* NULL when the shared tokenizer is used */
    sa_engine *e;
} loaded;

typedef struct engines {
    loaded l[3];
    int n;
    sa_tokenizer *shared_tok;
} engines;

/* The engine for path, loading it once per distinct path. */
static sa_status engine_for(engines *c, const char *path, const sa_engine_local_opts *eo, sa_engine **out, sa_err *err) {
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->l[i].path, path) == 0) {
            *out = c->l[i].e;
            return SA_OK;
        }
    loaded *L = &c->l[c->n];
    memset(L, 0, sizeof *L);
    L->path = path;
    sa_status s = sa_model_load(&L->m, path, err);
    if (!s && !c->shared_tok) {
        s = sa_tokenizer_load(&L->tok, path, err);
        if (s) sa_err_prefix(err, "no tokenizer found with the model %s (use --tokenizer): ", path);
    }
    if (!s) s = sa_engine_local_new(&L->e, L->m, c->shared_tok ? c->shared_tok : L->tok, eo, err);
    if (s) {
        sa_tokenizer_free(L->tok);
        sa_model_free(L->m);
        return s;
    }
    c->n++;
    *out = L->e;
    return SA_OK;
}

static void engines_free(engines *c) {
    for (int i = 0; i < c->n; i++) {
        sa_engine_free(c->l[i].e);
        sa_tokenizer_free(c->l[i].tok);
        sa_model_free(c->l[i].m);
    }
    sa_tokenizer_free(c->shared_tok);
}

static void on_bad(void *ctx, const char *path, uint64_t line, const char *reason) {
    (void)ctx;
    fprintf(stderr, "selfalign: warning: %s:%llu: %s (skipped)\n", path, (unsigned long long)line, reason);
}

static void on_progress(void *ctx, const char *stage, size_t done, size_t total) {
    (void)ctx;
    fprintf(stderr, "eval: %s %zu/%zu\n", stage, done, total);
}

static const char *fmt_rate(char *buf, size_t n, double x, bool sign) {
    if (!isfinite(x)) snprintf(buf, n, "n/a");
    else snprintf(buf, n, sign ? "%+.2f" : "%.2f", x);
    return buf;
}

int cmd_eval(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&k_spec, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    int modes = cli_flag(&a, "pairwise") + cli_flag(&a, "nll") + cli_flag(&a, "task");
    if (modes != 1) {
        cli_error("eval: give exactly one of --pairwise, --nll, --task");
        return CLI_EXIT_USAGE;
    }
    bool pairwise = cli_flag(&a, "pairwise");
    if (pairwise && (!cli_is_set(&a, "a") || !cli_is_set(&a, "b") || !cli_is_set(&a, "judge"))) {
        cli_error("eval: --pairwise needs --a, --b and --judge");
        return CLI_EXIT_USAGE;
    }
    if (!pairwise && !cli_is_set(&a, "model")) {
        cli_error("eval: --%s needs --model", cli_flag(&a, "nll") ? "nll" : "task");
        return CLI_EXIT_USAGE;
    }
    sa_err err = {0};
    sa_eval_opts o = sa_eval_default_opts();
    sa_eval_set_opts so = {0};
    if (sa_judge_mode_parse(cli_str(&a, "judge-mode"), &o.judge_mode, &err) ||
        sa_eval_format_parse(cli_str(&a, "format"), &so.format, &err)) {
        cli_error("eval: %s", err.msg);
        return CLI_EXIT_USAGE;
    }
    bool quiet = cli_flag(&a, "quiet");
    so.limit = (size_t)cli_int(&a, "limit");
    so.on_bad = on_bad;
    engines c;
    memset(&c, 0, sizeof c);
    sa_prompts *pr = NULL;
    sa_chat_template tmpl;
    sa_eval_set set;
    memset(&set, 0, sizeof set);
    sa_status s = sa_prompts_load(&pr, cli_str(&a, "prompts"), &err);
    if (!s && cli_is_set(&a, "template")) {
        s = sa_chat_template_from_name(cli_str(&a, "template"), &tmpl, &err);
        o.tmpl_a = o.tmpl_b = o.tmpl_judge = &tmpl;
    }
    if (!s) s = sa_eval_set_load(&set, cli_str(&a, "set"), &so, &err);
    if (!s && cli_is_set(&a, "tokenizer")) s = sa_tokenizer_load(&c.shared_tok, cli_str(&a, "tokenizer"), &err);
    sa_engine_local_opts eo = sa_engine_local_defaults();
    eo.n_slots = (int32_t)cli_int(&a, "batch");
    eo.n_threads = (int32_t)cli_int(&a, "threads");
    o.out = cli_str(&a, "out");
    o.max_tokens = (int32_t)cli_int(&a, "max-tokens");
    o.judge_max_tokens = (int32_t)cli_int(&a, "judge-max-tokens");
    o.temperature = (float)cli_float(&a, "temperature");
    o.seed = (uint64_t)cli_int(&a, "seed");
    o.resamples = (int32_t)cli_int(&a, "resamples");
    o.chunk = eo.n_slots * 4;
    o.system = cli_str(&a, "system");
    o.prompts = pr;
    if (!quiet) o.on_progress = on_progress;
    if (!s) s = sa_signal_install(&err);
    if (!s && !quiet)
        fprintf(stderr, "eval: set %s: %zu items (%s format, %llu bad lines), %zu with a reference, %zu with answers\n",
                set.path, set.n, sa_eval_format_name(set.format), (unsigned long long)set.bad, set.n_reference,
                set.n_answers);
    if (!s && pairwise) {
        sa_engine *ea = NULL, *eb = NULL, *ej = NULL;
        o.a_name = cli_str(&a, "a");
        o.b_name = cli_str(&a, "b");
        o.judge_name = cli_str(&a, "judge");
        s = engine_for(&c, o.a_name, &eo, &ea, &err);
        if (!s) s = engine_for(&c, o.b_name, &eo, &eb, &err);
        if (!s) s = engine_for(&c, o.judge_name, &eo, &ej, &err);
        sa_eval_pairwise_result r;
        if (!s) s = sa_eval_pairwise(ea, eb, ej, &set, &o, &r, &err);
        if (!s) {
            char w[16], lo[16], hi[16], ob[16], olo[16], ohi[16];
            printf("%s vs %s: %zu wins, %zu ties, %zu losses, %zu unparsable; win rate %s [%s, %s]; order bias %s "
                   "[%s, %s]\n", o.a_name, o.b_name, r.sum.wins, r.sum.ties, r.sum.losses, r.sum.unparsable,
                   fmt_rate(w, sizeof w, r.sum.win_rate, false), fmt_rate(lo, sizeof lo, r.sum.win_rate_lo, false),
                   fmt_rate(hi, sizeof hi, r.sum.win_rate_hi, false), fmt_rate(ob, sizeof ob, r.sum.order_bias, true),
                   fmt_rate(olo, sizeof olo, r.sum.order_bias_lo, true),
                   fmt_rate(ohi, sizeof ohi, r.sum.order_bias_hi, true));
        }
    } else if (!s) {
        sa_engine *e = NULL;
        o.model_name = cli_str(&a, "model");
        s = engine_for(&c, o.model_name, &eo, &e, &err);
        if (!s && cli_flag(&a, "nll")) {
            sa_eval_nll_result r;
            s = sa_eval_nll(e, &set, &o, &r, &err);
            if (!s)
                printf("%s: mean NLL %.4f [%.4f, %.4f] per token over %zu items, %llu tokens (%zu without a "
                       "reference, %zu errors)\n", o.model_name, r.mean_nll, r.lo, r.hi, r.n,
                       (unsigned long long)r.tokens, r.no_reference, r.errors);
        } else if (!s) {
            sa_eval_task_result r;
            s = sa_eval_task(e, &set, &o, &r, &err);
            if (!s) {
                char ch[32];
                if (r.has_chance) snprintf(ch, sizeof ch, "%.2f", r.chance);
                else snprintf(ch, sizeof ch, "unknown");
                printf("%s: accuracy %.2f [%.2f, %.2f] (%zu of %zu correct; chance %s)\n", o.model_name, r.accuracy,
                       r.lo, r.hi, r.correct, r.n, ch);
            }
        }
    }
    rc = s ? cli_fail(s, &err) : CLI_EXIT_OK;
    sa_eval_set_free(&set);
    engines_free(&c);
    sa_prompts_free(pr);
    return rc;
}
