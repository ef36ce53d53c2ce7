/* engine_internal.h — the vtable behind sa_engine (engine.h). Each
 * implementation embeds `sa_engine` as its first member. */
#ifndef SA_ENGINE_INTERNAL_H
#define SA_ENGINE_INTERNAL_H

#include "sa/engine.h"

typedef struct sa_engine_ops {
    sa_status (*generate)(sa_engine *e, const sa_gen_request *reqs, size_t n, sa_gen_callback cb, void *ctx,
                          sa_err *err);
    sa_status (*score)(sa_engine *e, const sa_score_request *reqs, size_t n, sa_score_result *out, sa_err *err);
    sa_status (*next_token_probs)(sa_engine *e, const char *prompt, bool trusted, bool add_bos,
                                  const int32_t *cands, int32_t n_cands, float *probs, sa_err *err);
    const sa_tokenizer *(*tokenizer)(const sa_engine *e);
    void (*stats)(const sa_engine *e, sa_engine_stats *out);
    void (*free)(sa_engine *e);
    sa_status (*next_token_probs_tokens)(sa_engine *e, const int32_t *toks, int32_t n_toks, const int32_t *cands,
                                         int32_t n_cands, float *probs, sa_err *err);
    int32_t (*max_context)(const sa_engine *e); /* 0: unknown */
} sa_engine_ops;

struct sa_engine {
    const sa_engine_ops *ops;
};

#endif
