/* model_args.c — see model_args.h. */
#include "model_args.h"

sa_status cli_load_model_tokenizer(const cli_args *a, sa_model **m, sa_tokenizer **tok, sa_err *err) {
    *m = NULL;
    *tok = NULL;
    const char *mpath = cli_str(a, "model");
    bool own = !cli_is_set(a, "tokenizer");
    sa_status s = sa_model_load(m, mpath, err);
    if (!s) {
        s = sa_tokenizer_load(tok, own ? mpath : cli_str(a, "tokenizer"), err);
        if (s && own) sa_err_prefix(err, "no tokenizer found with the model (use --tokenizer): ");
    }
    if (s) {
        sa_model_free(*m);
        *m = NULL;
        *tok = NULL;
    }
    return s;
}
