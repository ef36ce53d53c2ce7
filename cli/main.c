/* main.c — the selfalign command: a table from subcommand names to
 * cmd_<name>() functions (one cli/cmd_<name>.c each), plus the top-level
 * --help and --version. This is the only place the process exits: commands
 * return their exit code and main() returns it.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "opts.h"
#include "sa/dist.h"
#include "sa/version.h"

typedef struct cli_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} cli_command;

static const cli_command k_commands[] = {
    {"generate", cmd_generate, "generate text for a prompt or a JSONL file of prompts (resumable)"},
    {"tokenize", cmd_tokenize, "encode text to token ids, or decode ids to text"},
    {"train", cmd_train, "fine-tune a model, full or LoRA, on instruction records or text (resumable)"},
    {"convert", cmd_convert, "convert a model between an HF directory, GGUF and llama2.c"},
    {"backtranslate", cmd_backtranslate, "write one candidate instruction per corpus segment with the backward model"},
    {"corpus", cmd_corpus, "segment, filter and deduplicate documents for backtranslation"},
    {"humpback", cmd_humpback, "instruction backtranslation end to end in one resumable run directory"},
    {"dromedary", cmd_dromedary, "principle-driven self-alignment end to end in one resumable run directory"},
    {"status", cmd_status, "show the stages of a humpback or dromedary run"},
    {"demo", cmd_demo, "a generated world, a tiny model, Humpback and held-out scores (issue 7 demo)"},
    {"report", cmd_report, "write a self-contained HTML report of a run (charts, tables, samples)"},
    {"curate", cmd_curate, "rate candidate pairs with the model and a five-point rubric (resumable)"},
    {"eval", cmd_eval, "evaluate models: pairwise win rate with a judge, reference NLL, task accuracy"},
    {"selfinstruct", cmd_selfinstruct, "grow a pool of prompts from seed tasks with red-teaming (Dromedary; resumable)"},
    {"principles", cmd_principles, "answer prompts guided by written principles and exemplars (Dromedary; resumable)"},
    {"serve", cmd_serve, "serve a model over an OpenAI-compatible HTTP API (completions, chat, logprobs)"},
    {"bench", cmd_bench, "measure generation and training throughput (bench generate | train)"},
    {"inspect", cmd_inspect,
     "describe a model or tokenizer file: GGUF, safetensors, HF directory, llama2.c"},
};
#define N_COMMANDS (sizeof k_commands / sizeof k_commands[0])

/* Commands that split their work across the ranks of `mpirun -np N` (each
 * initialises sa_dist itself, dist.h); any other command started as one of
 * N > 1 processes is refused: N copies would write the same files. */
static bool mpi_aware(const char *name) {
    static const char *const k_mpi[] = {"generate", "backtranslate", "curate", "train", "humpback", "dromedary"};
    for (size_t i = 0; i < sizeof k_mpi / sizeof k_mpi[0]; i++)
        if (strcmp(name, k_mpi[i]) == 0) return true;
    return false;
}

static void print_help(FILE *f) {
    fprintf(f,
            "usage: selfalign <command> [options]\n"
            "       selfalign <command> --help\n"
            "       selfalign --version\n\n"
            "selfalign %s: self-alignment of language models (instruction backtranslation,\n"
            "principle-driven self-alignment) on its own C engine.\n\ncommands:\n",
            SA_VERSION);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-10s  %s\n", k_commands[i].name, k_commands[i].summary);
    fprintf(f, "\nexit status:\n"
               "  0    success\n"
               "  1    runtime error (bad input file, I/O error, ...)\n"
               "  2    usage error (unknown command or option, bad value)\n"
               "  130  interrupted (SIGINT/SIGTERM)\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_help(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        print_help(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("selfalign %s\n", SA_VERSION);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0) {
        if (argc < 3) {
            print_help(stdout);
            return CLI_EXIT_OK;
        }
        for (size_t i = 0; i < N_COMMANDS; i++) {
            if (strcmp(argv[2], k_commands[i].name) == 0) {
                char help[] = "--help";
                char *args[] = {argv[2], help, NULL};
                return k_commands[i].fn(2, args);
            }
        }
        cmd = argv[2];
    } else {
        for (size_t i = 0; i < N_COMMANDS; i++) {
            if (strcmp(cmd, k_commands[i].name) != 0) continue;
            if (sa_dist_launch_size() > 1 && !mpi_aware(cmd)) {
                cli_error("%s does not run as %d MPI processes (the data-parallel commands are generate, "
                          "backtranslate, curate, train, humpback and dromedary; see docs/mpi.md): run it alone",
                          cmd, sa_dist_launch_size());
                return CLI_EXIT_USAGE;
            }
            return k_commands[i].fn(argc - 1, argv + 1);
        }
    }
    if (cmd[0] == '-') cli_error("unknown option '%s'", cmd);
    else cli_error("unknown command '%s'", cmd);
    fprintf(stderr, "Try 'selfalign --help' for the list of commands.\n");
    return CLI_EXIT_USAGE;
}
