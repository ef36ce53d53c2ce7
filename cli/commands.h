/* commands.h — the subcommands main.c dispatches to.
 *
 * Each cmd_<name>(argc, argv) lives in cli/cmd_<name>.c, receives argv[0] ==
 * "<name>" and the arguments after it, and returns the process exit code
 * (CLI_EXIT_* in opts.h). Commands never call exit(); main() returns their
 * code.
 */
#ifndef SA_CLI_COMMANDS_H
#define SA_CLI_COMMANDS_H

int cmd_tokenize(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_backtranslate(int argc, char **argv);
int cmd_curate(int argc, char **argv);
int cmd_selfinstruct(int argc, char **argv);
int cmd_principles(int argc, char **argv);
int cmd_corpus(int argc, char **argv);
int cmd_humpback(int argc, char **argv);
int cmd_dromedary(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_eval(int argc, char **argv);

#endif
