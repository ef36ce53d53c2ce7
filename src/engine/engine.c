/* engine.c — dispatch through the engine vtable, shared defaults. */
#include <stdlib.h>

#include "engine_internal.h"

sa_gen_request sa_gen_request_default(void) {
    sa_gen_request r = {0};
    r.add_bos = true;
    r.max_tokens = 256;
    r.sampling = sa_sampling_default();
    return r;
}

const char *sa_finish_reason_str(sa_finish_reason r) {
    switch (r) {
    case SA_FINISH_EOS: return "eos";
    case SA_FINISH_STOP: return "stop";
    case SA_FINISH_LENGTH: return "length";
    case SA_FINISH_CONTEXT: return "context";
    case SA_FINISH_ERROR: return "error";
    }
    return "?";
}

void sa_score_result_free(sa_score_result *r) {
    free(r->token_logprobs);
    r->token_logprobs = NULL;
}

sa_status sa_engine_generate(sa_engine *e, const sa_gen_request *reqs, size_t n, sa_gen_callback cb,
                             void *ctx, sa_err *err) {
    return e->ops->generate(e, reqs, n, cb, ctx, err);
}

sa_status sa_engine_score(sa_engine *e, const sa_score_request *reqs, size_t n, sa_score_result *out,
                          sa_err *err) {
    return e->ops->score(e, reqs, n, out, err);
}

sa_status sa_engine_next_token_probs(sa_engine *e, const char *prompt, bool trusted, bool add_bos,
                                     const int32_t *cands, int32_t n_cands, float *probs, sa_err *err) {
    return e->ops->next_token_probs(e, prompt, trusted, add_bos, cands, n_cands, probs, err);
}

sa_status sa_engine_next_token_probs_tokens(sa_engine *e, const int32_t *toks, int32_t n_toks, const int32_t *cands,
                                            int32_t n_cands, float *probs, sa_err *err) {
    if (!e->ops->next_token_probs_tokens)
        return sa_err_set(err, SA_ERR_UNSUPPORTED, "this engine takes no token-level prompts");
    return e->ops->next_token_probs_tokens(e, toks, n_toks, cands, n_cands, probs, err);
}

const sa_tokenizer *sa_engine_tokenizer(const sa_engine *e) { return e->ops->tokenizer(e); }

int32_t sa_engine_max_context(const sa_engine *e) {
    return e && e->ops->max_context ? e->ops->max_context(e) : 0;
}

void sa_engine_get_stats(const sa_engine *e, sa_engine_stats *out) { e->ops->stats(e, out); }

void sa_engine_free(sa_engine *e) {
    if (e) e->ops->free(e);
}
