/* chat.c — chat templates: detection, rendering to trusted/untrusted
 * segments, and encoding with per-message token spans (see chat.h).
 *
 * Each format is written out by hand from the model's own Jinja template as
 * Hugging Face renders it (trim_blocks + lstrip_blocks), including its
 * quirks: Llama 2 and Llama 3 strip message content (Python str.strip),
 * Llama 2 folds the system prompt into the first user turn, TinyLlama's
 * generation prompt appears only after at least one message, Phi-3 ends a
 * finished conversation with eos_token.
 */
#include "sa/chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/utf8.h"

static const char *const k_format_names[SA_CHAT_FORMAT_COUNT] = {
    [SA_CHAT_FORMAT_RAW] = "raw",       [SA_CHAT_FORMAT_CHATML] = "chatml",
    [SA_CHAT_FORMAT_LLAMA2] = "llama2", [SA_CHAT_FORMAT_LLAMA3] = "llama3",
    [SA_CHAT_FORMAT_ZEPHYR] = "zephyr", [SA_CHAT_FORMAT_PHI3] = "phi3",
    [SA_CHAT_FORMAT_ALPACA] = "alpaca",
};

static const char *const k_role_names[SA_CHAT_ROLE_COUNT] = {"system", "user", "assistant"};

/* Stanford Alpaca's preamble, used as the alpaca format's default system. */
static const char k_alpaca_preamble[] =
    "Below is an instruction that describes a task. Write a response that appropriately "
    "completes the request.";

const char *sa_chat_format_name(sa_chat_format f) {
    return (f >= 0 && f < SA_CHAT_FORMAT_COUNT) ? k_format_names[f] : "?";
}

const char *sa_chat_role_name(sa_chat_role r) {
    return (r >= 0 && r < SA_CHAT_ROLE_COUNT) ? k_role_names[r] : "?";
}

sa_chat_role sa_chat_role_from_name(const char *name) {
    for (int r = 0; name && r < SA_CHAT_ROLE_COUNT; r++)
        if (strcmp(name, k_role_names[r]) == 0) return (sa_chat_role)r;
    return SA_CHAT_ROLE_INVALID;
}

static void template_defaults(sa_chat_template *t, sa_chat_format f) {
    memset(t, 0, sizeof *t);
    t->format = f;
    switch (f) {
    case SA_CHAT_FORMAT_LLAMA2: t->bos = "<s>"; t->eos = "</s>"; break;
    case SA_CHAT_FORMAT_LLAMA3: t->bos = "<|begin_of_text|>"; t->eos = "<|eot_id|>"; break;
    case SA_CHAT_FORMAT_PHI3: t->eos = "<|endoftext|>"; break;
    case SA_CHAT_FORMAT_CHATML: t->eos = "<|im_end|>"; break;
    case SA_CHAT_FORMAT_ALPACA:
        t->eos = "</s>";
        memcpy(t->default_system, k_alpaca_preamble, sizeof k_alpaca_preamble);
        break;
    default: t->eos = "</s>"; break;
    }
}

sa_status sa_chat_template_from_name(const char *name, sa_chat_template *out, sa_err *err) {
    for (int f = 0; name && f < SA_CHAT_FORMAT_COUNT; f++) {
        if (strcmp(name, k_format_names[f]) == 0) {
            template_defaults(out, (sa_chat_format)f);
            return SA_OK;
        }
    }
    return sa_err_set(err, SA_ERR_NOT_FOUND,
                      "unknown chat template '%s' (known: chatml, llama2, llama3, zephyr, phi3, "
                      "alpaca, raw)",
                      name ? name : "(null)");
}

sa_status sa_chat_template_set_default_system(sa_chat_template *t, const char *text,
                                              sa_err *err) {
    size_t n = text ? strlen(text) : 0;
    if (n >= sizeof t->default_system)
        return sa_err_set(err, SA_ERR_RANGE, "default system prompt is %zu bytes (max %zu)", n,
                          sizeof t->default_system - 1);
    if (n) memcpy(t->default_system, text, n);
    t->default_system[n] = '\0';
    return SA_OK;
}

/* A ChatML template may hard-code the system turn it writes when the
 * conversation has none, as a Jinja string literal:
 *     '<|im_start|>system\nYou are Qwen, ...<|im_end|>\n'
 * Find a literal of that shape (no quote, brace or '+' between the header
 * and <|im_end|>, i.e. not built from a variable) and decode its escapes. */
static void detect_chatml_default_system(const char *jinja, sa_chat_template *t) {
    static const char head[] = "<|im_start|>system";
    const char *p = jinja;
    while ((p = strstr(p, head)) != NULL) {
        p += sizeof head - 1;
        const char *q = p;
        if (q[0] == '\\' && q[1] == 'n') q += 2;
        else if (q[0] == '\n') q += 1;
        else continue;
        const char *end = strstr(q, "<|im_end|>");
        if (!end) return;
        char buf[SA_CHAT_SYSTEM_MAX];
        size_t n = 0;
        bool ok = end > q;
        for (const char *c = q; ok && c < end; c++) {
            char ch = *c;
            if (ch == '\'' || ch == '"' || ch == '{' || ch == '}' || ch == '+') ok = false;
            else if (ch == '\\') {
                c++;
                if (c >= end) ok = false;
                else if (*c == 'n') ch = '\n';
                else if (*c == 't') ch = '\t';
                else if (*c == '\\' || *c == '\'' || *c == '"') ch = *c;
                else ok = false;
            }
            if (ok && n + 1 < sizeof buf) buf[n++] = ch;
            else ok = false;
        }
        if (ok) {
            memcpy(t->default_system, buf, n);
            t->default_system[n] = '\0';
            return;
        }
    }
}

sa_chat_template sa_chat_template_detect(const char *jinja) {
    sa_chat_template t;
    sa_chat_format f = SA_CHAT_FORMAT_RAW;
    bool unknown = false;
    if (!jinja || !*jinja) unknown = true;
    else if (strstr(jinja, "<|im_start|>")) f = SA_CHAT_FORMAT_CHATML;
    else if (strstr(jinja, "<|start_header_id|>")) f = SA_CHAT_FORMAT_LLAMA3;
    else if (strstr(jinja, "[INST]")) f = SA_CHAT_FORMAT_LLAMA2;
    else if (strstr(jinja, "<|user|>") && strstr(jinja, "<|end|>")) f = SA_CHAT_FORMAT_PHI3;
    else if (strstr(jinja, "<|user|>")) f = SA_CHAT_FORMAT_ZEPHYR;
    else if (strstr(jinja, "### Instruction")) f = SA_CHAT_FORMAT_ALPACA;
    else unknown = true;
    template_defaults(&t, f);
    t.unknown = unknown;
    if (f == SA_CHAT_FORMAT_CHATML) detect_chatml_default_system(jinja, &t);
    return t;
}

void sa_chat_template_for_tokenizer(const sa_tokenizer *tok, sa_chat_template *out) {
    *out = sa_chat_template_detect(sa_tokenizer_chat_template(tok));
    int32_t eos = sa_tokenizer_eos(tok);
    size_t len = 0;
    const char *piece = eos >= 0 ? sa_tokenizer_piece(tok, eos, &len) : NULL;
    /* Llama 3 and ChatML close turns with their own marker, not eos_token. */
    if (piece && out->format != SA_CHAT_FORMAT_LLAMA3 && out->format != SA_CHAT_FORMAT_CHATML)
        out->eos = piece;
    int32_t bos = sa_tokenizer_bos(tok);
    piece = bos >= 0 ? sa_tokenizer_piece(tok, bos, &len) : NULL;
    if (piece && out->bos) out->bos = piece;
}

sa_status sa_chat_template_resolve(const sa_tokenizer *tok, const char *name, sa_chat_template *out, bool *fell_back,
                                   sa_err *err) {
    if (fell_back) *fell_back = false;
    if (name) return sa_chat_template_from_name(name, out, err);
    sa_chat_template_for_tokenizer(tok, out);
    if (!out->unknown) return SA_OK;
    if (fell_back) *fell_back = true;
    return sa_chat_template_from_name("alpaca", out, err);
}

/* ---- segments --------------------------------------------------------------- */

void sa_chat_segments_free(sa_chat_segments *s) {
    sa_strbuf_free(&s->text);
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

void sa_chat_spans_free(sa_chat_spans *s) {
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

typedef struct renderer {
    sa_chat_segments *out;
    sa_status st; /* first failure; later appends are skipped */
} renderer;

static void emit(renderer *r, const char *text, size_t len, bool trusted, sa_chat_seg_kind kind,
                 int32_t msg) {
    if (r->st != SA_OK) return;
    sa_chat_segments *s = r->out;
    if (!sa_grow((void **)&s->v, &s->cap, s->n + 1, sizeof *s->v) ||
        sa_strbuf_append(&s->text, text, len) != SA_OK) {
        r->st = SA_ERR_NOMEM;
        return;
    }
    s->v[s->n++] = (sa_chat_segment){.off = s->text.len - len, .len = len, .trusted = trusted,
                                     .kind = kind, .msg = msg};
}

/* Trusted scaffolding; msg >= 0 puts it in that message's span. */
static void scaf(renderer *r, const char *text, int32_t msg) {
    emit(r, text, strlen(text), true, SA_CHAT_SEG_TEXT, msg);
}

static void content(renderer *r, const char *text, size_t len, int32_t msg) {
    emit(r, text, len, false, SA_CHAT_SEG_TEXT, msg);
}

static void bos(renderer *r, const sa_chat_template *t) {
    const char *b = t->bos ? t->bos : "";
    emit(r, b, strlen(b), true, SA_CHAT_SEG_BOS, -1);
}

static void eos(renderer *r, const sa_chat_template *t, int32_t msg) {
    const char *e = t->eos ? t->eos : "";
    emit(r, e, strlen(e), true, SA_CHAT_SEG_EOS, msg);
}

/* White space as Python's str.isspace() sees it (Jinja's trim and .strip()). */
static bool py_space(uint32_t cp) {
    return (cp >= 9 && cp <= 13) || (cp >= 28 && cp <= 32) || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

static void strip(const char **s, size_t *len, bool left, bool right) {
    const char *p = *s;
    size_t n = *len;
    uint32_t cp;
    while (left && n > 0) {
        size_t k = sa_utf8_decode(p, n, &cp);
        if (k == 0 || !py_space(cp)) break;
        p += k;
        n -= k;
    }
    while (right && n > 0) {
        size_t k = 1;
        while (k < n && k < 4 && ((unsigned char)p[n - k] & 0xC0) == 0x80) k++;
        if (sa_utf8_decode(p + n - k, k, &cp) != k || !py_space(cp)) break;
        n -= k;
    }
    *s = p;
    *len = n;
}

/* A conversation turn after the default system prompt has been applied;
 * msg is the caller's message index (-1 for the default system). */
typedef struct turn {
    sa_chat_role role;
    const char *text;
    size_t len;
    int32_t msg;
} turn;

static void render_chatml(renderer *r, const turn *tv, size_t nt, bool gen) {
    for (size_t i = 0; i < nt; i++) {
        const turn *u = &tv[i];
        bool asst = u->role == SA_CHAT_ROLE_ASSISTANT;
        scaf(r, "<|im_start|>", -1);
        scaf(r, u->role == SA_CHAT_ROLE_SYSTEM ? "system\n" : asst ? "assistant\n" : "user\n", -1);
        content(r, u->text, u->len, u->msg);
        scaf(r, "<|im_end|>", asst ? u->msg : -1);
        scaf(r, "\n", -1);
    }
    if (gen) {
        scaf(r, "<|im_start|>", -1);
        scaf(r, "assistant\n", -1);
    }
}

static void render_llama3(renderer *r, const sa_chat_template *t, const turn *tv, size_t nt,
                          bool gen) {
    for (size_t i = 0; i < nt; i++) {
        const turn *u = &tv[i];
        bool asst = u->role == SA_CHAT_ROLE_ASSISTANT;
        if (i == 0) bos(r, t);
        scaf(r, "<|start_header_id|>", -1);
        scaf(r, sa_chat_role_name(u->role), -1);
        scaf(r, "<|end_header_id|>", -1);
        scaf(r, "\n\n", -1);
        const char *c = u->text;
        size_t n = u->len;
        strip(&c, &n, true, true); /* message['content'] | trim */
        content(r, c, n, u->msg);
        scaf(r, "<|eot_id|>", asst ? u->msg : -1);
    }
    if (gen) {
        scaf(r, "<|start_header_id|>", -1);
        scaf(r, "assistant", -1);
        scaf(r, "<|end_header_id|>", -1);
        scaf(r, "\n\n", -1);
    }
}

static sa_status render_llama2(renderer *r, const sa_chat_template *t, const turn *tv, size_t nt,
                               sa_err *err) {
    const turn *sys = NULL;
    if (nt > 0 && tv[0].role == SA_CHAT_ROLE_SYSTEM) {
        sys = &tv[0];
        tv++;
        nt--;
    }
    for (size_t k = 0; k < nt; k++) {
        const turn *u = &tv[k];
        bool want_user = k % 2 == 0;
        if ((u->role == SA_CHAT_ROLE_USER) != want_user || u->role == SA_CHAT_ROLE_SYSTEM)
            return sa_err_set(err, SA_ERR_INVALID_ARG,
                              "chat template llama2: message %d is '%s': roles must alternate "
                              "user/assistant after one optional leading system message",
                              (int)u->msg, sa_chat_role_name(u->role));
    }
    for (size_t k = 0; k < nt; k++) {
        const turn *u = &tv[k];
        const char *c = u->text;
        size_t n = u->len;
        if (u->role == SA_CHAT_ROLE_USER) {
            bos(r, t);
            /* "[INST]" apart from its space: it is a control token in some
             * vocabularies (Mistral v3) and plain text in Llama 2's */
            scaf(r, "[INST]", -1);
            scaf(r, " ", -1);
            if (k == 0 && sys) {
                /* ('<<SYS>>\n' + system + '\n<</SYS>>\n\n' + content).strip():
                 * only the user text's right end is exposed to the strip, and
                 * when it is all space the strip eats into the scaffolding. */
                scaf(r, "<<SYS>>\n", -1);
                content(r, sys->text, sys->len, sys->msg);
                strip(&c, &n, false, true);
                scaf(r, n ? "\n<</SYS>>\n\n" : "\n<</SYS>>", -1);
            } else {
                strip(&c, &n, true, true);
            }
            content(r, c, n, u->msg);
            scaf(r, " ", -1);
            scaf(r, "[/INST]", -1);
        } else {
            strip(&c, &n, true, true);
            scaf(r, " ", -1);
            content(r, c, n, u->msg);
            scaf(r, " ", u->msg);
            eos(r, t, u->msg);
        }
    }
    return SA_OK;
}

/* TinyLlama-Chat (zephyr) and Phi-3 share "<|role|>\n" headers. */
static void render_zephyr_phi3(renderer *r, const sa_chat_template *t, const turn *tv, size_t nt,
                               bool gen, bool phi3) {
    static const char *const tags[SA_CHAT_ROLE_COUNT] = {"<|system|>", "<|user|>",
                                                         "<|assistant|>"};
    for (size_t i = 0; i < nt; i++) {
        const turn *u = &tv[i];
        int32_t span = u->role == SA_CHAT_ROLE_ASSISTANT ? u->msg : -1;
        scaf(r, tags[u->role], -1);
        scaf(r, "\n", -1);
        content(r, u->text, u->len, u->msg);
        if (phi3) scaf(r, "<|end|>", span);
        else eos(r, t, span);
        scaf(r, "\n", -1);
    }
    if (phi3) {
        if (gen) {
            scaf(r, "<|assistant|>", -1);
            scaf(r, "\n", -1);
        } else {
            eos(r, t, -1);
        }
    } else if (gen && nt > 0) { /* {% if loop.last and add_generation_prompt %} */
        scaf(r, "<|assistant|>", -1);
        scaf(r, "\n", -1);
    }
}

/* Ours (no canonical Jinja exists): Stanford Alpaca's prompt, multi-turn.
 *   system:    {content}\n\n
 *   user:      ### Instruction:\n{content}\n\n
 *   assistant: ### Response:\n{content}{eos}\n\n
 *   generation prompt: ### Response:\n                                   */
static void render_alpaca(renderer *r, const sa_chat_template *t, const turn *tv, size_t nt,
                          bool gen) {
    for (size_t i = 0; i < nt; i++) {
        const turn *u = &tv[i];
        if (u->role == SA_CHAT_ROLE_USER) scaf(r, "### Instruction:\n", -1);
        if (u->role == SA_CHAT_ROLE_ASSISTANT) scaf(r, "### Response:\n", -1);
        content(r, u->text, u->len, u->msg);
        if (u->role == SA_CHAT_ROLE_ASSISTANT) eos(r, t, u->msg);
        scaf(r, "\n\n", -1);
    }
    if (gen) scaf(r, "### Response:\n", -1);
}

/* Ours: contents one per line; assistant turns end with eos so a model
 * fine-tuned on raw text still learns to stop. No generation prompt. */
static void render_raw(renderer *r, const sa_chat_template *t, const turn *tv, size_t nt) {
    for (size_t i = 0; i < nt; i++) {
        const turn *u = &tv[i];
        content(r, u->text, u->len, u->msg);
        if (u->role == SA_CHAT_ROLE_ASSISTANT) eos(r, t, u->msg);
        scaf(r, "\n", -1);
    }
}

sa_status sa_chat_render(const sa_chat_template *t, const sa_chat_msg *msgs, size_t n,
                         bool add_generation_prompt, sa_chat_segments *out, sa_err *err) {
    if (!t || !out || (n > 0 && !msgs))
        return sa_err_set(err, SA_ERR_INVALID_ARG, "sa_chat_render: NULL argument");
    if (t->format < 0 || t->format >= SA_CHAT_FORMAT_COUNT)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "chat template: invalid format %d",
                          (int)t->format);
    if (n > INT32_MAX - 1)
        return sa_err_set(err, SA_ERR_RANGE, "chat: %zu messages is too many", n);
    for (size_t i = 0; i < n; i++) {
        if (msgs[i].role < 0 || msgs[i].role >= SA_CHAT_ROLE_COUNT)
            return sa_err_set(err, SA_ERR_INVALID_ARG, "chat: message %zu has invalid role %d", i,
                              (int)msgs[i].role);
        if (!msgs[i].content)
            return sa_err_set(err, SA_ERR_INVALID_ARG, "chat: message %zu has no content", i);
    }
    sa_strbuf_reset(&out->text);
    out->n = 0;

    bool use_default = t->default_system[0] && (n == 0 || msgs[0].role != SA_CHAT_ROLE_SYSTEM);
    turn *tv = sa_malloc_array(n + 1, sizeof *tv);
    if (!tv) return sa_err_set(err, SA_ERR_NOMEM, "chat: out of memory");
    size_t nt = 0;
    if (use_default) {
        size_t dl = strnlen(t->default_system, sizeof t->default_system);
        tv[nt++] = (turn){SA_CHAT_ROLE_SYSTEM, t->default_system, dl, -1};
    }
    for (size_t i = 0; i < n; i++)
        tv[nt++] = (turn){msgs[i].role, msgs[i].content, strlen(msgs[i].content), (int32_t)i};

    renderer r = {out, SA_OK};
    sa_status st = SA_OK;
    switch (t->format) {
    case SA_CHAT_FORMAT_CHATML: render_chatml(&r, tv, nt, add_generation_prompt); break;
    case SA_CHAT_FORMAT_LLAMA3: render_llama3(&r, t, tv, nt, add_generation_prompt); break;
    case SA_CHAT_FORMAT_LLAMA2: st = render_llama2(&r, t, tv, nt, err); break;
    case SA_CHAT_FORMAT_ZEPHYR:
        render_zephyr_phi3(&r, t, tv, nt, add_generation_prompt, false);
        break;
    case SA_CHAT_FORMAT_PHI3: render_zephyr_phi3(&r, t, tv, nt, add_generation_prompt, true); break;
    case SA_CHAT_FORMAT_ALPACA: render_alpaca(&r, t, tv, nt, add_generation_prompt); break;
    default: render_raw(&r, t, tv, nt); break;
    }
    free(tv);
    if (st == SA_OK && r.st != SA_OK) st = sa_err_set(err, r.st, "chat: out of memory");
    if (st != SA_OK) {
        sa_strbuf_reset(&out->text);
        out->n = 0;
    }
    return st;
}

sa_status sa_chat_render_text(const sa_chat_template *t, const sa_chat_msg *msgs, size_t n,
                              bool add_generation_prompt, sa_strbuf *out, sa_err *err) {
    sa_chat_segments segs = {0};
    sa_status st = sa_chat_render(t, msgs, n, add_generation_prompt, &segs, err);
    if (st == SA_OK && sa_strbuf_append(out, segs.text.buf ? segs.text.buf : "", segs.text.len))
        st = sa_err_set(err, SA_ERR_NOMEM, "chat: out of memory");
    sa_chat_segments_free(&segs);
    return st;
}

/* ---- encoding ------------------------------------------------------------------ */

/* Id of a trusted segment that is exactly one special or added piece. */
static int32_t special_piece(const sa_tokenizer *tok, const char *s, size_t len) {
    if (len == 0) return -1;
    int32_t id = sa_tokenizer_find(tok, s, len);
    if (id < 0) return -1;
    uint32_t a = sa_tokenizer_attr(tok, id);
    return (a & (SA_TOKEN_ATTR_CONTROL | SA_TOKEN_ATTR_USER_DEFINED)) ? id : -1;
}

static sa_status push_id(sa_tokens *ids, int32_t id, sa_err *err) {
    if (sa_tokens_push(ids, id) != SA_OK)
        return sa_err_set(err, SA_ERR_NOMEM, "chat: out of memory");
    return SA_OK;
}

static bool ascii_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Added tokens marked lstrip/rstrip (Phi-3's "<|user|>", "<|end|>") absorb
 * the white space before/after them, as the tokenizer does when it matches
 * them in a whole text (and HF does). Trim the plain segments (single[] ==
 * -1, see sa_chat_encode) next to segment k accordingly; a segment trimmed
 * to nothing gets an empty range at the trim point so runs stay contiguous. */
static void absorb_space(sa_chat_segments *segs, const int32_t *single, size_t k, uint32_t attr) {
    const char *text = segs->text.buf;
    if (attr & SA_TOKEN_ATTR_RSTRIP) {
        size_t j = k + 1;
        while (j < segs->n && single[j] == -1) {
            sa_chat_segment *g = &segs->v[j];
            while (g->len && ascii_space(text[g->off])) g->off++, g->len--;
            if (g->len) break;
            j++;
        }
        size_t at = j < segs->n ? segs->v[j].off : segs->text.len;
        for (size_t q = k + 1; q < j && q < segs->n; q++) segs->v[q].off = at;
    }
    if (attr & SA_TOKEN_ATTR_LSTRIP) {
        size_t j = k;
        while (j > 0 && single[j - 1] == -1) {
            sa_chat_segment *g = &segs->v[j - 1];
            while (g->len && ascii_space(text[g->off + g->len - 1])) g->len--;
            if (g->len) break;
            j--;
        }
        size_t at = j > 0 ? segs->v[j - 1].off + segs->v[j - 1].len : 0;
        for (size_t q = j; q < k; q++) segs->v[q].off = at, segs->v[q].len = 0;
    }
}

/* Encode one stretch of plain segments [i, j) as a single text; fill pos[k]
 * for each k in (i, j) where the owning message changes. */
static sa_status encode_run(const sa_tokenizer *tok, const sa_chat_segments *segs, size_t i,
                            size_t j, size_t *pos, sa_tokens *ids, sa_err *err) {
    const char *text = segs->text.buf;
    size_t start = segs->v[i].off, stop = segs->v[j - 1].off + segs->v[j - 1].len;
    unsigned flags = SA_ENCODE_SPECIAL;
    for (size_t k = i; k < j; k++)
        if (!segs->v[k].trusted) flags = 0;
    size_t base = ids->n;
    pos[i] = base;
    if (stop == start) {
        for (size_t k = i + 1; k < j; k++) pos[k] = base;
        return SA_OK;
    }
    sa_status st = sa_tokenizer_encode(tok, text + start, stop - start, flags, ids, err);
    if (st != SA_OK) return st;
    sa_tokens pre = {0};
    for (size_t k = i + 1; k < j && st == SA_OK; k++) {
        if (segs->v[k].msg == segs->v[k - 1].msg) continue;
        size_t cut = segs->v[k].off;
        pre.n = 0;
        if (cut > start) st = sa_tokenizer_encode(tok, text + start, cut - start, flags, &pre, err);
        size_t c = 0;
        while (st == SA_OK && c < pre.n && base + c < ids->n && pre.ids[c] == ids->ids[base + c])
            c++;
        pos[k] = base + c;
    }
    sa_tokens_free(&pre);
    return st;
}

sa_status sa_chat_encode(const sa_tokenizer *tok, const sa_chat_template *t,
                         const sa_chat_msg *msgs, size_t n, bool add_generation_prompt,
                         sa_tokens *ids, sa_chat_spans *spans, sa_err *err) {
    if (!tok || !ids) return sa_err_set(err, SA_ERR_INVALID_ARG, "sa_chat_encode: NULL argument");
    size_t n0 = ids->n;
    if (spans) spans->n = 0;
    sa_chat_segments segs = {0};
    sa_status st = sa_chat_render(t, msgs, n, add_generation_prompt, &segs, err);
    size_t *pos = NULL;
    int32_t *special = NULL;
    if (st != SA_OK) goto done;
    pos = sa_malloc_array(segs.n + 1, sizeof *pos);
    special = sa_malloc_array(segs.n + 1, sizeof *special);
    if (!pos || !special) {
        st = sa_err_set(err, SA_ERR_NOMEM, "chat: out of memory");
        goto done;
    }
    /* special[k]: the single id segment k encodes to; -1 for plain text; -2
     * for a BOS/EOS the tokenizer does not have */
    int32_t bos_id = sa_tokenizer_bos(tok), eos_id = sa_tokenizer_eos(tok);
    for (size_t k = 0; k < segs.n; k++) {
        const sa_chat_segment *g = &segs.v[k];
        if (g->kind == SA_CHAT_SEG_BOS) special[k] = bos_id >= 0 ? bos_id : -2;
        else if (g->kind == SA_CHAT_SEG_EOS) special[k] = eos_id >= 0 ? eos_id : -2;
        else special[k] = g->trusted ? special_piece(tok, segs.text.buf + g->off, g->len) : -1;
    }
    for (size_t k = 0; k < segs.n; k++)
        if (special[k] >= 0) absorb_space(&segs, special, k, sa_tokenizer_attr(tok, special[k]));

    bool template_bos = t->format == SA_CHAT_FORMAT_LLAMA2 || t->format == SA_CHAT_FORMAT_LLAMA3;
    if (!template_bos && bos_id >= 0 && sa_tokenizer_add_bos(tok)) {
        st = push_id(ids, bos_id, err);
        if (st != SA_OK) goto done;
    }

    for (size_t i = 0; i < segs.n;) {
        const sa_chat_segment *g = &segs.v[i];
        pos[i] = ids->n;
        if (g->kind != SA_CHAT_SEG_TEXT) {
            int32_t id = g->kind == SA_CHAT_SEG_BOS ? bos_id : eos_id;
            if (id >= 0) st = push_id(ids, id, err);
            else if (g->kind == SA_CHAT_SEG_EOS && g->len) /* no EOS id: its text, trusted */
                st = sa_tokenizer_encode(tok, segs.text.buf + g->off, g->len, SA_ENCODE_SPECIAL,
                                         ids, err);
            /* a tokenizer without BOS gets none, as HF renders bos_token None as "" */
            i++;
        } else if (special[i] >= 0) {
            st = push_id(ids, special[i], err);
            i++;
        } else {
            size_t j = i + 1;
            while (j < segs.n && special[j] == -1) j++;
            st = encode_run(tok, &segs, i, j, pos, ids, err);
            i = j;
        }
        if (st != SA_OK) goto done;
    }
    pos[segs.n] = ids->n;

    if (spans) {
        if (!sa_grow((void **)&spans->v, &spans->cap, n ? n : 1, sizeof *spans->v)) {
            st = sa_err_set(err, SA_ERR_NOMEM, "chat: out of memory");
            goto done;
        }
        for (size_t m = 0; m < n; m++) spans->v[m] = (sa_chat_span){msgs[m].role, ids->n, ids->n};
        for (size_t k = 0; k < segs.n; k++) {
            int32_t m = segs.v[k].msg;
            if (m < 0) continue;
            if (k == 0 || segs.v[k - 1].msg != m) spans->v[m].begin = pos[k];
            if (k + 1 == segs.n || segs.v[k + 1].msg != m) spans->v[m].end = pos[k + 1];
        }
        spans->n = n;
    }

done:
    if (st != SA_OK) {
        ids->n = n0;
        if (spans) spans->n = 0;
        sa_err_prefix(err, "chat encode: ");
    }
    free(pos);
    free(special);
    sa_chat_segments_free(&segs);
    return st;
}
