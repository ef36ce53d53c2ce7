/* local.c — the in-process engine: continuous batching over slots, chunked
 * prefill, shared-prefix KV reuse, per-request seeded sampling, stop
 * strings, and scoring. One thread drives the loop; the kernels use the
 * configured threads inside each forward call. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "sa/alloc.h"
#include "sa/rng.h"
#include "sa/strbuf.h"

typedef struct prefix_entry {
    sa_tokens toks;  /* the prompt whose keys/values are stored */
    sa_kv_cache kv;  /* sized to toks.n positions */
    uint64_t last_used;
} prefix_entry;

typedef struct slot {
    bool active;
    const sa_gen_request *req;
    sa_kv_cache kv;
    sa_tokens prompt;
    int32_t n_prefilled, n_cached;
    sa_tokens gen;
    sa_tokens hist; /* prompt + generated, for the repetition penalty */
    sa_rng rng;
    sa_strbuf text;
    bool may_cache; /* insert this prompt into the prefix cache after prefill */
} slot;

typedef struct local_engine {
    sa_engine base;
    const sa_model *m;
    const sa_tokenizer *tok;
    sa_engine_local_opts o;
    sa_kernels k;         /* scoring (blocks of SA_ENGINE_SCORE_BLOCK, the matmul path by size) */
    sa_kernels k_decode;  /* generation: decode rows, per-row matmuls */
    sa_kernels k_prefill; /* generation: prompt blocks, sgemm */
    sa_model_state st;
    slot *slots;
    sa_sampler sampler;
    float *scratch;       /* [vocab] logits copy for the sampler */
    int32_t n_decodable;  /* ids the tokenizer knows: a model's padded rows beyond them are never sampled */
    sa_batch_row *rows;   /* [st.max_rows] */
    int32_t *row_slot;    /* [st.max_rows] */
    prefix_entry *prefix; /* [o.prefix_cache_entries] */
    sa_tokens pending;    /* tokens of the next request waiting for a slot */
    uint64_t clock;
    sa_engine_stats stats;
} local_engine;

sa_engine_local_opts sa_engine_local_defaults(void) {
    return (sa_engine_local_opts){.n_slots = 8, .n_threads = 0, .max_ctx = 0, .prefill_chunk = 256,
                                  .prefix_cache_entries = 4, .min_prefix_tokens = 32, .reference_kernels = false};
}

/* ---- prefix cache ------------------------------------------------------------------ */

static int32_t lcp(const int32_t *a, int32_t na, const int32_t *b, int32_t nb) {
    int32_t n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i]) i++;
    return i;
}

/* Reuse the longest cached prefix of toks[0..limit) into kv; returns its length. */
/* Positions are computed in blocks of this many, aligned to the sequence
 * start, in prompts and scored sequences alike (engine.h). */
static int32_t score_block(const local_engine *le) {
    return SA_ENGINE_SCORE_BLOCK < le->st.max_rows ? SA_ENGINE_SCORE_BLOCK : le->st.max_rows;
}

static int32_t prefix_reuse(local_engine *le, const int32_t *toks, int32_t limit, sa_kv_cache *kv) {
    int32_t best = 0, bi = -1;
    for (int32_t i = 0; i < le->o.prefix_cache_entries; i++) {
        prefix_entry *p = &le->prefix[i];
        if (!p->toks.n) continue;
        int32_t l = lcp(p->toks.ids, (int32_t)p->toks.n, toks, limit);
        if (l > best) best = l, bi = i;
    }
    if (bi < 0 || best < le->o.min_prefix_tokens) return 0;
    if (sa_kv_cache_copy_prefix(kv, &le->prefix[bi].kv, best, NULL) != SA_OK) return 0;
    le->prefix[bi].last_used = ++le->clock;
    return best;
}

/* Store the first n positions of kv under toks (replacing the least recently
 * used entry). Failure to cache is not an error: it only costs speed. */
static void prefix_insert(local_engine *le, const int32_t *toks, int32_t n, const sa_kv_cache *kv) {
    if (le->o.prefix_cache_entries <= 0 || n < le->o.min_prefix_tokens) return;
    int32_t victim = 0;
    for (int32_t i = 0; i < le->o.prefix_cache_entries; i++) {
        prefix_entry *p = &le->prefix[i];
        if (p->toks.n >= (size_t)n && lcp(p->toks.ids, (int32_t)p->toks.n, toks, n) == n) {
            p->last_used = ++le->clock; /* already covered */
            return;
        }
        if (p->last_used < le->prefix[victim].last_used) victim = i;
    }
    prefix_entry *p = &le->prefix[victim];
    sa_kv_cache_free(&p->kv);
    p->toks.n = 0;
    if (sa_kv_cache_init(&p->kv, &le->m->cfg, n, NULL) != SA_OK) return;
    if (sa_kv_cache_copy_prefix(&p->kv, kv, n, NULL) != SA_OK) return;
    for (int32_t i = 0; i < n; i++)
        if (sa_tokens_push(&p->toks, toks[i]) != SA_OK) {
            p->toks.n = 0;
            return;
        }
    p->last_used = ++le->clock;
}

/* ---- tokenizing prompts ------------------------------------------------------------- */

static sa_status encode_prompt(local_engine *le, const char *text, bool trusted, bool add_bos,
                               const int32_t *pre, int32_t n_pre, sa_tokens *out, sa_err *err) {
    out->n = 0;
    if (pre) {
        for (int32_t i = 0; i < n_pre; i++) {
            if (pre[i] < 0 || pre[i] >= le->m->cfg.vocab_size)
                return sa_err_set(err, SA_ERR_RANGE, "prompt token %d at position %d is outside the vocabulary", pre[i], i);
            if (sa_tokens_push(out, pre[i])) return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
        }
        return SA_OK;
    }
    unsigned flags = (trusted ? SA_ENCODE_SPECIAL : 0) | (add_bos ? SA_ENCODE_BOS : 0);
    sa_status s = sa_tokenizer_encode(le->tok, text ? text : "", text ? strlen(text) : 0, flags, out, err);
    if (s) return s;
    for (size_t i = 0; i < out->n; i++)
        if (out->ids[i] >= le->m->cfg.vocab_size)
            return sa_err_set(err, SA_ERR_RANGE, "tokenizer id %d does not exist in the model (vocabulary %d)",
                              out->ids[i], le->m->cfg.vocab_size);
    return SA_OK;
}

/* ---- generation ----------------------------------------------------------------------- */

static sa_status deliver(local_engine *le, slot *s, sa_finish_reason why, const char *error, sa_gen_callback cb,
                         void *ctx) {
    sa_gen_result r = {0};
    r.id = s->req->id;
    r.text = sa_strbuf_cstr(&s->text);
    r.text_len = s->text.len;
    r.tokens = s->gen.ids;
    r.n_tokens = (int32_t)s->gen.n;
    r.n_prompt_tokens = (int32_t)s->prompt.n;
    r.n_cached_tokens = s->n_cached;
    r.finish = why;
    r.error = error;
    r.user = s->req->user;
    s->active = false;
    le->stats.requests++;
    return cb(ctx, &r);
}

/* Tokenize request req into out; on failure fill msg. */
static bool tokenize_request(local_engine *le, const sa_gen_request *req, sa_tokens *out, char *msg, size_t cap) {
    sa_err e = {0};
    if (sa_sampling_validate(&req->sampling, &e) ||
        encode_prompt(le, req->prompt, req->prompt_trusted, req->add_bos, req->prompt_tokens, req->n_prompt_tokens,
                      out, &e)) {
        snprintf(msg, cap, "%s", e.msg);
        return false;
    }
    return true;
}

/* Start req in slot s; its tokens are in le->pending (swapped into the slot). */
static sa_status start_request(local_engine *le, slot *s, const sa_gen_request *req, bool tokenized_ok,
                               const char *tok_msg, sa_gen_callback cb, void *ctx) {
    s->req = req;
    s->active = true;
    s->n_prefilled = s->n_cached = 0;
    s->gen.n = s->hist.n = 0;
    sa_strbuf_reset(&s->text);
    sa_rng_split(&s->rng, req->seed, req->id);
    sa_tokens tmp = s->prompt;
    s->prompt = le->pending;
    le->pending = tmp;
    le->pending.n = 0;
    if (!tokenized_ok) return deliver(le, s, SA_FINISH_ERROR, tok_msg, cb, ctx);
    if (s->prompt.n == 0) return deliver(le, s, SA_FINISH_ERROR, "empty prompt (no tokens and no BOS)", cb, ctx);
    if ((int32_t)s->prompt.n >= s->kv.max_ctx) {
        char msg[160];
        snprintf(msg, sizeof msg, "prompt of %zu tokens does not fit the context of %d", s->prompt.n, s->kv.max_ctx);
        return deliver(le, s, SA_FINISH_ERROR, msg, cb, ctx);
    }
    if (req->max_tokens <= 0) return deliver(le, s, SA_FINISH_LENGTH, NULL, cb, ctx);
    for (size_t i = 0; i < s->prompt.n; i++)
        if (sa_tokens_push(&s->hist, s->prompt.ids[i])) return deliver(le, s, SA_FINISH_ERROR, "out of memory", cb, ctx);
    /* at least the last prompt token is always computed: its logits pick the
     * first new token; only whole blocks are reused (see the prefill) */
    int32_t reuse = prefix_reuse(le, s->prompt.ids, (int32_t)s->prompt.n - 1, &s->kv);
    reuse -= reuse % score_block(le);
    s->n_prefilled = s->n_cached = reuse;
    s->may_cache = reuse < (int32_t)s->prompt.n - 1;
    le->stats.prompt_tokens += s->prompt.n;
    le->stats.cached_tokens += (uint64_t)reuse;
    return SA_OK;
}

/* Should the pending request wait for a slot that is still prefilling a
 * prompt sharing a long prefix with it? Then that prefix is computed once
 * and reused from the cache, instead of twice in parallel. */
static bool wait_for_shared_prefix(const local_engine *le, const sa_tokens *p) {
    if (le->o.prefix_cache_entries <= 0) return false;
    int32_t cached = 0;
    for (int32_t i = 0; i < le->o.prefix_cache_entries; i++) {
        const prefix_entry *e = &le->prefix[i];
        if (e->toks.n) {
            int32_t l = lcp(e->toks.ids, (int32_t)e->toks.n, p->ids, (int32_t)p->n - 1);
            if (l > cached) cached = l;
        }
    }
    for (int32_t i = 0; i < le->o.n_slots; i++) {
        const slot *s = &le->slots[i];
        if (!s->active || s->n_prefilled >= (int32_t)s->prompt.n || !s->may_cache) continue;
        int32_t l = lcp(s->prompt.ids, (int32_t)s->prompt.n, p->ids, (int32_t)p->n - 1);
        if (l >= le->o.min_prefix_tokens && l > cached) return true;
    }
    return false;
}

/* Does a stop string end inside the text? Returns its start or -1. Only the
 * tail that the newest token could have completed is searched. */
static long find_stop(const sa_gen_request *req, const sa_strbuf *text, size_t new_from) {
    long best = -1;
    for (int32_t i = 0; i < req->n_stop; i++) {
        const char *st = req->stop[i];
        size_t sl = st ? strlen(st) : 0;
        if (!sl || text->len < sl) continue;
        size_t from = new_from >= sl ? new_from - sl + 1 : 0;
        const char *hit = memmem(text->buf + from, text->len - from, st, sl);
        if (hit && (best < 0 || hit - text->buf < best)) best = hit - text->buf;
    }
    return best;
}

/* Consume the logits of slot s's last row: pick a token, extend, maybe finish. */
static sa_status advance(local_engine *le, slot *s, const float *logits, sa_gen_callback cb, void *ctx) {
    const int32_t V = le->m->cfg.vocab_size;
    memcpy(le->scratch, logits, (size_t)V * sizeof(float));
    for (int32_t i = le->n_decodable; i < V; i++) le->scratch[i] = -INFINITY; /* padding rows (Qwen2.5: 151,936 vs 151,665) */
    bool first = s->gen.n == 0;
    int32_t t = sa_sampler_sample(&le->sampler, &s->req->sampling, le->scratch, s->hist.ids, (int32_t)s->hist.n,
                                  first ? s->req->allowed_first : NULL, first ? s->req->n_allowed_first : 0, &s->rng);
    if (t < 0) return deliver(le, s, SA_FINISH_ERROR, "no allowed token exists in the vocabulary", cb, ctx);
    if (sa_tokenizer_is_eog(le->tok, t) && !(first && s->req->n_allowed_first > 0))
        return deliver(le, s, SA_FINISH_EOS, NULL, cb, ctx);
    if (sa_tokens_push(&s->gen, t) || sa_tokens_push(&s->hist, t))
        return deliver(le, s, SA_FINISH_ERROR, "out of memory", cb, ctx);
    le->stats.generated_tokens++;
    /* re-decode all generated tokens: piece-wise decoding is wrong for
     * multi-byte characters split over tokens and SPM leading spaces */
    size_t old_len = s->text.len;
    sa_strbuf_reset(&s->text);
    sa_err e = {0};
    if (sa_tokenizer_decode(le->tok, s->gen.ids, s->gen.n, SA_DECODE_SKIP_SPECIAL, &s->text, &e))
        return deliver(le, s, SA_FINISH_ERROR, e.msg, cb, ctx);
    long stop = find_stop(s->req, &s->text, old_len < s->text.len ? old_len : 0);
    if (stop >= 0) {
        sa_strbuf_truncate(&s->text, (size_t)stop);
        return deliver(le, s, SA_FINISH_STOP, NULL, cb, ctx);
    }
    if ((int32_t)s->gen.n >= s->req->max_tokens) return deliver(le, s, SA_FINISH_LENGTH, NULL, cb, ctx);
    if ((int32_t)(s->prompt.n + s->gen.n) >= s->kv.max_ctx) return deliver(le, s, SA_FINISH_CONTEXT, NULL, cb, ctx);
    return SA_OK;
}

/* Forward le->rows[0..nr) with kernels k, then consume every row that
 * wanted logits: cache a just-prefilled prompt, pick its next token. */
static sa_status run_rows(local_engine *le, int32_t nr, const sa_kernels *k, sa_gen_callback cb, void *ctx, sa_err *err) {
    const int32_t V = le->m->cfg.vocab_size;
    sa_status s = sa_model_forward(le->m, &le->st, k, le->rows, nr, err);
    if (s) return s;
    le->stats.forward_calls++;
    for (int32_t r = 0; r < nr; r++) {
        if (!le->rows[r].want_logits) continue;
        slot *sl = &le->slots[le->row_slot[r]];
        if (sl->may_cache && sl->gen.n == 0) {
            prefix_insert(le, sl->prompt.ids, (int32_t)sl->prompt.n, &sl->kv);
            sl->may_cache = false;
        }
        if ((s = advance(le, sl, le->st.logits + (int64_t)r * V, cb, ctx)))
            return sa_err_set(err, s, "generation stopped by the callback (status %s)", sa_status_str(s));
    }
    return SA_OK;
}

static sa_status local_generate(sa_engine *eng, const sa_gen_request *reqs, size_t n, sa_gen_callback cb, void *ctx,
                                sa_err *err) {
    local_engine *le = (local_engine *)eng;
    size_t next = 0;
    sa_status s = SA_OK;
    bool have_pending = false, pending_ok = false;
    char pending_msg[SA_ERR_MSG_MAX] = "";
    le->pending.n = 0;
    for (;;) {
        /* admit waiting requests into free slots (continuous batching) */
        int32_t n_active = 0;
        bool waiting = false;
        for (int32_t i = 0; i < le->o.n_slots; i++) {
            slot *sl = &le->slots[i];
            while (!sl->active && next < n && !waiting) {
                if (!have_pending) {
                    pending_ok = tokenize_request(le, &reqs[next], &le->pending, pending_msg, sizeof pending_msg);
                    have_pending = true;
                }
                if (pending_ok && le->pending.n > 0 && wait_for_shared_prefix(le, &le->pending)) {
                    waiting = true;
                    break;
                }
                have_pending = false;
                if ((s = start_request(le, sl, &reqs[next++], pending_ok, pending_msg, cb, ctx)))
                    return sa_err_set(err, s, "generation stopped by the callback (status %s)", sa_status_str(s));
            }
            n_active += sl->active;
        }
        if (n_active == 0) break;
        /* two forward calls: a decode row for every decoding slot (per-row
         * kernels), then prefill blocks (sgemm): each row's bits then do not
         * depend on what else was computed with it (engine.h) */
        int32_t nr = 0, budget = le->st.max_rows, B = score_block(le);
        for (int32_t i = 0; i < le->o.n_slots && nr < budget; i++) {
            slot *sl = &le->slots[i];
            if (!sl->active || sl->n_prefilled < (int32_t)sl->prompt.n) continue;
            int32_t pos = (int32_t)(sl->prompt.n + sl->gen.n) - 1;
            le->rows[nr] = (sa_batch_row){sl->gen.ids[sl->gen.n - 1], pos, &sl->kv, true, true};
            le->row_slot[nr++] = i;
        }
        if (nr && (s = run_rows(le, nr, &le->k_decode, cb, ctx, err))) return s;
        nr = 0;
        for (int32_t i = 0; i < le->o.n_slots && nr < budget; i++) {
            slot *sl = &le->slots[i];
            if (!sl->active || sl->n_prefilled >= (int32_t)sl->prompt.n) continue;
            /* whole blocks of B positions aligned to the prompt start, each its
             * own attention run: a position is always computed with the same
             * rows, whatever was cached or batched with it */
            int32_t room = budget - nr, cap = le->o.prefill_chunk > B ? le->o.prefill_chunk : B;
            if (room > cap) room = cap; /* a whole block always fits an empty call: budget >= B */
            while (sl->n_prefilled < (int32_t)sl->prompt.n) {
                int32_t b0 = sl->n_prefilled, b1 = b0 - b0 % B + B;
                if (b1 > (int32_t)sl->prompt.n) b1 = (int32_t)sl->prompt.n;
                if (b1 - b0 > room) break; /* the rest of the block waits for the next call */
                for (int32_t pos = b0; pos < b1; pos++) {
                    le->rows[nr] = (sa_batch_row){sl->prompt.ids[pos], pos, &sl->kv, pos == (int32_t)sl->prompt.n - 1, pos == b0};
                    le->row_slot[nr++] = i;
                }
                room -= b1 - b0;
                sl->n_prefilled = b1;
            }
        }
        if (nr && (s = run_rows(le, nr, &le->k_prefill, cb, ctx, err))) return s;
    }
    return SA_OK;
}

/* ---- scoring -------------------------------------------------------------------------- */

/* Run toks through slot 0's cache (reusing a cached prefix), handing the
 * logits of every row at index >= first_wanted to fn(i, logits). */
typedef void (*row_fn)(void *ud, int32_t i, const float *logits);

static sa_status run_scored(local_engine *le, const sa_tokens *toks, int32_t first_wanted, int32_t cache_upto,
                            row_fn fn, void *ud, sa_err *err) {
    slot *sl = &le->slots[0];
    int32_t n = (int32_t)toks->n;
    if (n > sl->kv.max_ctx)
        return sa_err_set(err, SA_ERR_RANGE, "%d tokens do not fit the context of %d", n, sl->kv.max_ctx);
    /* Aligned blocks: position p is always computed in the forward call of
     * rows [p - p % B, min(that + B, n)), and only whole cached blocks are
     * reused, so its values never depend on what the cache held (engine.h). */
    const int32_t B = score_block(le);
    int32_t start = prefix_reuse(le, toks->ids, first_wanted < n ? first_wanted : n - 1, &sl->kv);
    start -= start % B;
    le->stats.prompt_tokens += (uint64_t)n;
    le->stats.cached_tokens += (uint64_t)start;
    const int32_t V = le->m->cfg.vocab_size;
    for (int32_t i0 = start; i0 < n;) {
        int32_t cnt = n - i0 < B ? n - i0 : B;
        for (int32_t r = 0; r < cnt; r++) le->rows[r] = (sa_batch_row){toks->ids[i0 + r], i0 + r, &sl->kv, i0 + r >= first_wanted, false};
        sa_status s = sa_model_forward(le->m, &le->st, &le->k, le->rows, cnt, err);
        if (s) return s;
        le->stats.forward_calls++;
        for (int32_t r = 0; r < cnt; r++)
            if (le->rows[r].want_logits) fn(ud, i0 + r, le->st.logits + (int64_t)r * V);
        i0 += cnt;
    }
    /* Cache only sequences that found no shared prefix: when one was reused
     * (a rubric, principles), it is cached already, and copying every
     * distinct pair's whole KV into the cache would cost more than it saves. */
    if (cache_upto > start && start < le->o.min_prefix_tokens) prefix_insert(le, toks->ids, cache_upto, &sl->kv);
    return SA_OK;
}

static double log_softmax_at(const float *lg, int32_t V, int32_t t) {
    float mx = lg[0];
    for (int32_t i = 1; i < V; i++) mx = lg[i] > mx ? lg[i] : mx;
    double s = 0;
    for (int32_t i = 0; i < V; i++) s += exp((double)lg[i] - mx);
    return (double)lg[t] - mx - log(s);
}

typedef struct score_ud {
    const sa_tokens *toks;
    int32_t n_prompt, V;
    sa_score_result *res;
} score_ud;

static void score_row(void *p, int32_t i, const float *logits) {
    score_ud *u = p;
    int32_t j = i + 1 - u->n_prompt; /* continuation token predicted by row i */
    if (i + 1 >= (int32_t)u->toks->n || j < 0) return;
    double lp = log_softmax_at(logits, u->V, u->toks->ids[i + 1]);
    u->res->token_logprobs[j] = (float)lp;
    u->res->logprob_sum += lp;
}

/* Tokens of prompt + continuation and where the continuation starts.
 * Untrusted prompts are encoded together with the continuation, so the
 * boundary is tokenized as the model would see the joined text (SPM would
 * otherwise add a dummy-prefix space to the continuation); the prompt's
 * own tokens then tell where the continuation begins. */
static sa_status encode_pair(local_engine *le, const sa_score_request *rq, sa_tokens *all, sa_tokens *tmp,
                             int32_t *n_prompt, sa_err *e) {
    const char *p = rq->prompt ? rq->prompt : "", *c = rq->continuation ? rq->continuation : "";
    const int32_t *pre = rq->n_prompt_tokens > 0 ? rq->prompt_tokens : NULL;
    sa_status s = encode_prompt(le, p, rq->prompt_trusted, rq->add_bos, pre, pre ? rq->n_prompt_tokens : 0, tmp, e);
    if (s) return s;
    all->n = 0;
    if (rq->prompt_trusted || pre) { /* token prompts end where the caller says */
        for (size_t i = 0; i < tmp->n; i++)
            if (sa_tokens_push(all, tmp->ids[i])) return sa_err_set(e, SA_ERR_NOMEM, "out of memory");
        *n_prompt = (int32_t)tmp->n;
        return sa_tokenizer_encode(le->tok, c, strlen(c), 0, all, e);
    }
    size_t lp = strlen(p), lc = strlen(c);
    char *joined = sa_malloc(lp + lc + 1);
    if (!joined) return sa_err_set(e, SA_ERR_NOMEM, "out of memory");
    memcpy(joined, p, lp);
    memcpy(joined + lp, c, lc + 1);
    s = encode_prompt(le, joined, false, rq->add_bos, NULL, 0, all, e);
    free(joined);
    if (s) return s;
    *n_prompt = lcp(tmp->ids, (int32_t)tmp->n, all->ids, (int32_t)all->n);
    return SA_OK;
}

static sa_status local_score(sa_engine *eng, const sa_score_request *reqs, size_t n, sa_score_result *out,
                             sa_err *err) {
    local_engine *le = (local_engine *)eng;
    sa_tokens toks = {0}, tmp = {0};
    sa_status s = SA_OK;
    for (size_t i = 0; i < n; i++) {
        sa_score_result *r = &out[i];
        memset(r, 0, sizeof *r);
        sa_err e = {0};
        int32_t np = 0;
        r->status = encode_pair(le, &reqs[i], &toks, &tmp, &np, &e);
        if (r->status) continue;
        if (np == 0 || (int32_t)toks.n <= np) {
            r->status = SA_ERR_INVALID_ARG; /* nothing to condition on, or nothing to score */
            continue;
        }
        r->n_tokens = (int32_t)toks.n - np;
        r->token_logprobs = sa_calloc((size_t)r->n_tokens, sizeof(float));
        if (!r->token_logprobs) {
            s = sa_err_set(err, SA_ERR_NOMEM, "score: out of memory");
            break;
        }
        score_ud u = {&toks, np, le->m->cfg.vocab_size, r};
        r->status = run_scored(le, &toks, np - 1, np, score_row, &u, &e);
    }
    sa_tokens_free(&toks);
    sa_tokens_free(&tmp);
    return s;
}

typedef struct probs_ud {
    const int32_t *cands;
    int32_t n_cands, V, last;
    float *probs;
} probs_ud;

static void probs_row(void *p, int32_t i, const float *lg) {
    probs_ud *u = p;
    if (i != u->last) return;
    for (int32_t c = 0; c < u->n_cands; c++)
        u->probs[c] = (u->cands[c] >= 0 && u->cands[c] < u->V) ? (float)exp(log_softmax_at(lg, u->V, u->cands[c])) : 0.0f;
}

static sa_status next_probs(local_engine *le, const char *prompt, bool trusted, bool add_bos, const int32_t *pre,
                            int32_t n_pre, const int32_t *cands, int32_t n_cands, float *probs, sa_err *err) {
    sa_tokens toks = {0};
    sa_status s = encode_prompt(le, prompt, trusted, add_bos, pre, n_pre, &toks, err);
    if (!s && toks.n == 0) s = sa_err_set(err, SA_ERR_INVALID_ARG, "next-token probabilities: empty prompt");
    /* as for generate (and on a server): the token asked for needs a place too */
    if (!s && (int64_t)toks.n >= le->o.max_ctx)
        s = sa_err_set(err, SA_ERR_RANGE, "next-token probabilities: a prompt of %zu tokens leaves no room in the context of %d",
                       toks.n, le->o.max_ctx);
    if (!s) {
        probs_ud u = {cands, n_cands, le->m->cfg.vocab_size, (int32_t)toks.n - 1, probs};
        s = run_scored(le, &toks, (int32_t)toks.n - 1, (int32_t)toks.n, probs_row, &u, err);
    }
    sa_tokens_free(&toks);
    return s;
}

static sa_status local_next_token_probs(sa_engine *eng, const char *prompt, bool trusted, bool add_bos,
                                        const int32_t *cands, int32_t n_cands, float *probs, sa_err *err) {
    return next_probs((local_engine *)eng, prompt, trusted, add_bos, NULL, 0, cands, n_cands, probs, err);
}

static sa_status local_next_token_probs_tokens(sa_engine *eng, const int32_t *toks, int32_t n_toks,
                                               const int32_t *cands, int32_t n_cands, float *probs, sa_err *err) {
    if (!toks || n_toks <= 0) return sa_err_set(err, SA_ERR_INVALID_ARG, "next-token probabilities: empty prompt");
    return next_probs((local_engine *)eng, NULL, false, false, toks, n_toks, cands, n_cands, probs, err);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static const sa_tokenizer *local_tokenizer(const sa_engine *e) { return ((const local_engine *)e)->tok; }

static int32_t local_max_context(const sa_engine *e) { return ((const local_engine *)e)->o.max_ctx; }

static void local_stats(const sa_engine *e, sa_engine_stats *out) { *out = ((const local_engine *)e)->stats; }

static void local_free(sa_engine *eng) {
    local_engine *le = (local_engine *)eng;
    if (le->slots)
        for (int32_t i = 0; i < le->o.n_slots; i++) {
            slot *s = &le->slots[i];
            sa_kv_cache_free(&s->kv);
            sa_tokens_free(&s->prompt);
            sa_tokens_free(&s->gen);
            sa_tokens_free(&s->hist);
            sa_strbuf_free(&s->text);
        }
    if (le->prefix)
        for (int32_t i = 0; i < le->o.prefix_cache_entries; i++) {
            sa_kv_cache_free(&le->prefix[i].kv);
            sa_tokens_free(&le->prefix[i].toks);
        }
    sa_tokens_free(&le->pending);
    free(le->slots);
    free(le->prefix);
    free(le->scratch);
    free(le->rows);
    free(le->row_slot);
    sa_sampler_free(&le->sampler);
    sa_model_state_free(&le->st);
    free(le);
}

static const sa_engine_ops k_local_ops = {local_generate, local_score, local_next_token_probs,
                                          local_tokenizer, local_stats, local_free,
                                          local_next_token_probs_tokens, local_max_context};

sa_status sa_engine_local_new(sa_engine **out, const sa_model *m, const sa_tokenizer *tok,
                              const sa_engine_local_opts *opts, sa_err *err) {
    *out = NULL;
    sa_engine_local_opts o = opts ? *opts : sa_engine_local_defaults();
    if (o.n_slots <= 0 || o.n_slots > 4096 || o.prefill_chunk <= 0 || o.prefix_cache_entries < 0 ||
        o.min_prefix_tokens < 1)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "engine: invalid options (slots %d, prefill chunk %d, prefix "
                          "entries %d, min prefix %d)", o.n_slots, o.prefill_chunk, o.prefix_cache_entries,
                          o.min_prefix_tokens);
    if (o.max_ctx <= 0 || o.max_ctx > m->cfg.max_seq_len) o.max_ctx = m->cfg.max_seq_len;
    if (sa_tokenizer_vocab_size(tok) > m->cfg.vocab_size)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "engine: tokenizer has %d tokens but the model only %d",
                          sa_tokenizer_vocab_size(tok), m->cfg.vocab_size);
    local_engine *le = calloc(1, sizeof *le);
    if (!le) return sa_err_set(err, SA_ERR_NOMEM, "engine: out of memory");
    le->base.ops = &k_local_ops;
    le->m = m;
    le->tok = tok;
    le->o = o;
    sa_kernels_init(&le->k, o.n_threads);
    le->k.reference = o.reference_kernels;
    le->k_decode = le->k_prefill = le->k;
    le->k_decode.path = SA_MATMUL_ROWWISE;
    le->k_prefill.path = SA_MATMUL_GEMM;
    int32_t max_rows = o.prefill_chunk > o.n_slots ? o.prefill_chunk : o.n_slots;
    sa_status s = sa_model_state_init(&le->st, &m->cfg, max_rows, o.max_ctx, err);
    if (!s) s = sa_sampler_init(&le->sampler, m->cfg.vocab_size, err);
    if (!s) {
        le->slots = calloc((size_t)o.n_slots, sizeof(slot));
        le->prefix = calloc((size_t)(o.prefix_cache_entries ? o.prefix_cache_entries : 1), sizeof(prefix_entry));
        le->scratch = sa_malloc_array((size_t)m->cfg.vocab_size, sizeof(float));
        le->n_decodable = sa_tokenizer_vocab_size(tok);
        le->rows = sa_malloc_array((size_t)max_rows, sizeof(sa_batch_row));
        le->row_slot = sa_malloc_array((size_t)max_rows, sizeof(int32_t));
        if (!le->slots || !le->prefix || !le->scratch || !le->rows || !le->row_slot)
            s = sa_err_set(err, SA_ERR_NOMEM, "engine: out of memory");
    }
    for (int32_t i = 0; !s && i < o.n_slots; i++) s = sa_kv_cache_init(&le->slots[i].kv, &m->cfg, o.max_ctx, err);
    if (s) {
        local_free(&le->base);
        return s;
    }
    *out = &le->base;
    return SA_OK;
}
