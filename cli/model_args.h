/* model_args.h — the --model / --tokenizer pair shared by the commands that
 * run a model (generate, backtranslate, curate).
 *
 * cli_load_model_tokenizer loads the model named by the "model" option and
 * the tokenizer named by "tokenizer", or, when that is not given, the one
 * stored with the model (its directory or GGUF); a missing tokenizer then
 * gets a hint to pass --tokenizer. Both options must be declared as STR in
 * the command's table. On error nothing is left allocated.
 */
#ifndef SA_CLI_MODEL_ARGS_H
#define SA_CLI_MODEL_ARGS_H

#include "opts.h"
#include "sa/model.h"
#include "sa/tokenizer.h"

sa_status cli_load_model_tokenizer(const cli_args *a, sa_model **m, sa_tokenizer **tok, sa_err *err);

#endif
