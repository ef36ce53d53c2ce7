/* sa_test_vocab.c — llama.cpp tokenizer test files (see sa_test_vocab.h). */
#include "sa_test_vocab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa/mmap.h"
#include "sa/strbuf.h"

void sa_vocab_cases_free(sa_vocab_cases *c) {
    free(c->inp);
    free(c->outbuf);
    c->inp = c->outbuf = NULL;
}

bool sa_vocab_cases_read(sa_test *t, const char *inp_path, const char *out_path, sa_vocab_cases *c) {
    memset(c, 0, sizeof *c);
    sa_err err = {0};
    size_t n;
    if (sa_file_read_all(inp_path, 1 << 20, &c->inp, &n, &err) ||
        sa_file_read_all(out_path, 1 << 20, &c->outbuf, &n, &err)) {
        sa_test_fail(t, __FILE__, __LINE__, "%s", err.msg);
        return false;
    }
    static const char sep[] = "\n__ggml_vocab_test__\n";
    char *s = c->inp;
    for (;;) {
        char *e = strstr(s, sep);
        if (!e || c->n == SA_VOCAB_MAX_CASES) break;
        *e = '\0';
        c->text[c->n] = s;
        c->text_len[c->n] = (size_t)(e - s);
        c->n++;
        s = e + strlen(sep);
    }
    char *line = c->outbuf;
    for (int i = 0; i < c->n; i++) {
        char *nl = strchr(line, '\n');
        if (!nl) {
            sa_test_fail(t, __FILE__, __LINE__, "%s has fewer lines than the %d texts", out_path, c->n);
            return false;
        }
        *nl = '\0';
        c->ids[i] = line;
        line = nl + 1;
    }
    return c->n > 0;
}

bool sa_vocab_cases_load(sa_test *t, const char *stem, sa_vocab_cases *c) {
    memset(c, 0, sizeof *c);
    char rel[256];
    snprintf(rel, sizeof rel, "tokenizers/llamacpp-vocab/%s.inp", stem);
    const char *inp = sa_test_data(t, rel);
    if (!inp) return false;
    snprintf(rel, sizeof rel, "tokenizers/llamacpp-vocab/%s.out", stem);
    const char *out = sa_test_data(t, rel);
    return out && sa_vocab_cases_read(t, inp, out, c);
}

static bool ids_equal(const sa_tokens *got, const char *want) {
    size_t k = 0;
    const char *p = want;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) return false;
        if (k >= got->n || got->ids[k] != v) return false;
        k++;
        p = end;
    }
    return k == got->n;
}

sa_vocab_result sa_vocab_cases_run(sa_test *t, const sa_tokenizer *tok, const sa_vocab_cases *c, const char *label,
                                   bool roundtrip) {
    sa_vocab_result r = {0, 0};
    int shown = 0;
    sa_tokens ids = {0};
    sa_strbuf back = {0};
    sa_err err = {0};
    for (int i = 0; i < c->n; i++) {
        ids.n = 0;
        sa_strbuf_reset(&back);
        sa_status st = sa_tokenizer_encode(tok, c->text[i], c->text_len[i], 0, &ids, &err);
        SA_CHECKF(t, st == SA_OK, "%s case %d: encode: %s", label, i, err.msg);
        if (st) continue;
        if (ids_equal(&ids, c->ids[i])) {
            r.ok_ids++;
        } else if (shown++ < 3) {
            sa_strbuf got = {0};
            for (size_t k = 0; k < ids.n && k < 40; k++) sa_strbuf_appendf(&got, " %d", ids.ids[k]);
            sa_test_fail(t, __FILE__, __LINE__, "%s case %d \"%.40s\": got%s, want %s", label, i, c->text[i],
                         sa_strbuf_cstr(&got), c->ids[i]);
            sa_strbuf_free(&got);
        } else {
            sa_test_fail(t, __FILE__, __LINE__, "%s case %d differs", label, i);
        }
        st = sa_tokenizer_decode(tok, ids.ids, ids.n, 0, &back, &err);
        SA_CHECKF(t, st == SA_OK, "%s case %d: decode: %s", label, i, err.msg);
        bool same = back.len == c->text_len[i] && memcmp(sa_strbuf_cstr(&back), c->text[i], back.len) == 0;
        r.ok_rt += same;
        if (roundtrip) SA_CHECKF(t, same, "%s case %d: round trip gave \"%.60s\"", label, i, sa_strbuf_cstr(&back));
    }
    sa_tokens_free(&ids);
    sa_strbuf_free(&back);
    return r;
}
