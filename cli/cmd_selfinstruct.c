/* cmd_selfinstruct.c — `selfalign selfinstruct`: Dromedary's topic-guided
 * red-teaming self-instruct (include/sa/selfinstruct.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "model_args.h"
#include "opts.h"
#include "sa/engine.h"
#include "sa/model.h"
#include "sa/prompts.h"
#include "sa/selfinstruct.h"
#include "sa/signal.h"

static const cli_opt k_opts[] = {
    {.name = "model", .type = CLI_OPT_STR, .metavar = "PATH", .required = true, .help = "base model"},
    {.name = "tokenizer", .type = CLI_OPT_STR, .metavar = "PATH",
     .help = "tokenizer (default: the model directory or GGUF itself)"},
    {.name = "template", .type = CLI_OPT_STR, .metavar = "NAME",
     .help = "chat template: chatml, llama2, llama3, zephyr, phi3, alpaca, raw (default: the tokenizer's, else "
             "alpaca)"},
    {.name = "seed", .type = CLI_OPT_STR, .metavar = "FILE", .required = true,
     .help = "seed instructions JSONL (Self-Instruct tasks, records, {instruction} or {question})"},
    {.name = "red-team", .type = CLI_OPT_STR, .metavar = "FILE",
     .help = "question types JSONL ({type, description?, examples?} or TGRT {topic, question_type, question})"},
    {.name = "out", .type = CLI_OPT_STR, .metavar = "FILE", .required = true, .help = "accepted prompts (records)"},
    {.name = "target", .type = CLI_OPT_INT, .metavar = "N", .required = true, .min = 1, .max = 1e12,
     .help = "stop once this many new prompts are accepted"},
    {.name = "rejected", .type = CLI_OPT_STR, .metavar = "FILE", .help = "rejected candidates (default: <out>.rejected.jsonl)"},
    {.name = "stats", .type = CLI_OPT_STR, .metavar = "FILE", .help = "statistics (default: stats.json beside --out)"},
    {.name = "prompts", .type = CLI_OPT_STR, .metavar = "DIR", .help = "directory of prompt files overriding the built-in ones"},
    {.name = "k", .type = CLI_OPT_INT, .metavar = "N", .def = "6", .min = 1, .max = 64,
     .help = "instructions shown per self-instruct round"},
    {.name = "max-rounds", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 4e9,
     .help = "self-instruct rounds at most (0 = no limit)"},
    {.name = "stall-rounds", .type = CLI_OPT_INT, .metavar = "N", .def = "200", .min = 0, .max = 4e9,
     .help = "stop after this many rounds in a row accept nothing (0 = never)"},
    {.name = "rounds-per-batch", .type = CLI_OPT_INT, .metavar = "N", .def = "8", .min = 1, .max = 4096,
     .help = "rounds prompted from one pool snapshot (part of the results: keep it when resuming)"},
    {.name = "topics-per-type", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 1e6,
     .help = "red-team topics per type (0 = one brainstorming round, keep the smallest type's count)"},
    {.name = "topic-rounds", .type = CLI_OPT_INT, .metavar = "N", .def = "4", .min = 1, .max = 1000,
     .help = "brainstorming rounds at most for types short of --topics-per-type"},
    {.name = "questions-per-topic", .type = CLI_OPT_INT, .metavar = "N", .def = "2", .min = 1, .max = 64,
     .help = "red-team questions per (type, topic)"},
    {.name = "blacklist", .type = CLI_OPT_STR, .metavar = "WORD,...",
     .help = "reject prompts with these words or phrases (replaces the default list; \"\" = none)"},
    {.name = "min-words", .type = CLI_OPT_INT, .metavar = "N", .def = "4", .min = 1, .max = 1e6,
     .help = "reject prompts with fewer words"},
    {.name = "max-words", .type = CLI_OPT_INT, .metavar = "N", .def = "150", .min = 1, .max = 1e6,
     .help = "reject prompts with more words"},
    {.name = "rouge-threshold", .type = CLI_OPT_FLOAT, .metavar = "F", .def = "0.7", .min = 1e-6, .max = 1,
     .help = "reject prompts with a higher ROUGE-L F against the pool"},
    {.name = "max-tokens", .type = CLI_OPT_INT, .metavar = "N", .def = "256", .min = 1, .max = 1 << 20,
     .help = "new tokens per request at most"},
    {.name = "temperature", .type = CLI_OPT_FLOAT, .metavar = "T", .def = "0.7", .min = 0, .max = 100,
     .help = "sampling temperature (0 = greedy)"},
    {.name = "top-p", .type = CLI_OPT_FLOAT, .metavar = "P", .def = "0.9", .min = 1e-6, .max = 1,
     .help = "nucleus sampling mass"},
    {.name = "random-seed", .type = CLI_OPT_INT, .metavar = "S", .def = "0", .min = 0, .max = 9.2e18,
     .help = "run seed (each request samples from a stream split by its id)"},
    {.name = "batch", .type = CLI_OPT_INT, .metavar = "N", .def = "8", .min = 1, .max = 4096,
     .help = "sequences decoded together (does not change the results)"},
    {.name = "threads", .type = CLI_OPT_INT, .metavar = "N", .def = "0", .min = 0, .max = 1024,
     .help = "threads (0 = all CPUs)"},
    {.name = "strict", .type = CLI_OPT_FLAG, .help = "stop at the first bad input line instead of skipping it"},
    {.name = "quiet", .type = CLI_OPT_FLAG, .help = "no progress lines"},
};

static const cli_cmd_spec k_spec = {
    "selfinstruct", "--model PATH --seed FILE --out FILE --target N [options]",
    "Grow a pool of prompts from seed tasks, with topic-guided red-teaming (resumable).", k_opts,
    sizeof k_opts / sizeof k_opts[0], 0, 0,
    "Accepted prompts go to --out as records {id, instruction, source, meta} (source \"self_instruct\" or\n"
    "\"red_team\"); rejected candidates (empty, truncated, bad_start, too_short, too_long, blacklist,\n"
    "near_duplicate) to --rejected with their reason. Results are journaled in <out>.journal: a rerun\n"
    "after Ctrl-C or a crash replays them and gives the same files as an uninterrupted run.\n",
};

/* Split "a,b , c" into trimmed entries (in buf, which is modified). */
static size_t split_list(char *buf, const char **out, size_t max) {
    size_t n = 0;
    for (char *p = buf; p && *p && n < max;) {
        char *comma = strchr(p, ',');
        if (comma) *comma = 0;
        while (*p == ' ') p++;
        char *e = p + strlen(p);
        while (e > p && e[-1] == ' ') *--e = 0;
        if (*p) out[n++] = p;
        p = comma ? comma + 1 : NULL;
    }
    return n;
}

int cmd_selfinstruct(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&k_spec, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    sa_err err = {0};
    sa_model *m = NULL;
    sa_tokenizer *tok = NULL;
    sa_engine *e = NULL;
    sa_prompts *pr = NULL;
    char *bl_buf = NULL;
    const char *bl[256];
    const char *mpath = cli_str(&a, "model");
    sa_status s = cli_load_model_tokenizer(&a, &m, &tok, &err);
    sa_chat_template tmpl;
    bool fell_back = false;
    if (!s) s = sa_chat_template_resolve(tok, cli_str(&a, "template"), &tmpl, &fell_back, &err);
    if (!s && fell_back)
        fprintf(stderr, "selfalign: warning: the tokenizer's chat template is absent or not recognised: using the "
                        "alpaca template (choose one with --template)\n");
    if (!s) s = sa_prompts_load(&pr, cli_str(&a, "prompts"), &err);
    sa_engine_local_opts eo = sa_engine_local_defaults();
    eo.n_slots = (int32_t)cli_int(&a, "batch");
    eo.n_threads = (int32_t)cli_int(&a, "threads");
    if (!s) s = sa_engine_local_new(&e, m, tok, &eo, &err);
    if (!s) s = sa_signal_install(&err);
    if (!s) {
        sa_si_opts o = sa_si_default_opts();
        o.seed_path = cli_str(&a, "seed");
        o.types_path = cli_str(&a, "red-team");
        o.out_path = cli_str(&a, "out");
        o.rejected_path = cli_str(&a, "rejected");
        o.stats_path = cli_str(&a, "stats");
        o.prompts = pr;
        o.model_name = mpath;
        o.target = (uint64_t)cli_int(&a, "target");
        o.k = (uint32_t)cli_int(&a, "k");
        o.max_rounds = (uint32_t)cli_int(&a, "max-rounds");
        o.stall_rounds = (uint32_t)cli_int(&a, "stall-rounds");
        o.rounds_per_batch = (uint32_t)cli_int(&a, "rounds-per-batch");
        o.topics_per_type = (uint32_t)cli_int(&a, "topics-per-type");
        o.topic_rounds = (uint32_t)cli_int(&a, "topic-rounds");
        o.questions_per_topic = (uint32_t)cli_int(&a, "questions-per-topic");
        o.filter.min_words = (uint32_t)cli_int(&a, "min-words");
        o.filter.max_words = (uint32_t)cli_int(&a, "max-words");
        o.rouge_threshold = cli_float(&a, "rouge-threshold");
        o.max_tokens = (int32_t)cli_int(&a, "max-tokens");
        o.temperature = (float)cli_float(&a, "temperature");
        o.top_p = (float)cli_float(&a, "top-p");
        o.seed = (uint64_t)cli_int(&a, "random-seed");
        o.strict = cli_flag(&a, "strict");
        o.progress = cli_flag(&a, "quiet") ? NULL : stderr;
        const char *bls = cli_str(&a, "blacklist");
        if (bls) {
            bl_buf = malloc(strlen(bls) + 1);
            if (!bl_buf) s = sa_err_set(&err, SA_ERR_NOMEM, "out of memory");
            else {
                strcpy(bl_buf, bls);
                o.filter.n_blacklist = split_list(bl_buf, bl, sizeof bl / sizeof bl[0]);
                o.filter.blacklist = bl;
            }
        }
        if (!s) {
            fprintf(stderr,
                    "selfinstruct: model %s, template %s, target %llu, k %u, max_tokens %d, temperature %g, top_p %g, "
                    "seed %llu%s%s\n",
                    mpath, sa_chat_format_name(tmpl.format), (unsigned long long)o.target, o.k, o.max_tokens,
                    (double)o.temperature, (double)o.top_p, (unsigned long long)o.seed,
                    o.types_path ? ", red-team types " : "", o.types_path ? o.types_path : "");
            s = sa_si_run(e, tok, &tmpl, &o, NULL, &err);
        }
    }
    rc = s ? cli_fail(s, &err) : CLI_EXIT_OK;
    free(bl_buf);
    sa_prompts_free(pr);
    sa_engine_free(e);
    sa_tokenizer_free(tok);
    sa_model_free(m);
    return rc;
}
