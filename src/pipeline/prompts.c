/* prompts.c — built-in prompt templates (embedded at build time by
 * tools/embed_prompts into $(BUILD)/gen/prompts_builtin.c), overrides from
 * a --prompts directory, and {{key}} rendering. */
#include "sa/prompts.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sa/alloc.h"
#include "sa/mmap.h"
#include "sa/utf8.h"

/* Generated (prompts_builtin.c). */
extern const size_t sa_prompts_builtin_count;
extern const char *const sa_prompts_builtin_names[];
extern const char *const sa_prompts_builtin_texts[];

#define PROMPT_MAX_BYTES ((size_t)1 << 20) /* an override larger than this is surely a mistake */

struct sa_prompts {
    size_t n;
    char **text;   /* [n]: owned override text, or NULL for the built-in */
    char **origin; /* [n]: owned override path, or NULL */
};

const char *const *sa_prompts_names(size_t *n) {
    if (n) *n = sa_prompts_builtin_count;
    return sa_prompts_builtin_names;
}

static long find_builtin(const char *name) {
    for (size_t i = 0; i < sa_prompts_builtin_count; i++)
        if (strcmp(sa_prompts_builtin_names[i], name) == 0) return (long)i;
    return -1;
}

static sa_status load_override(sa_prompts *p, const char *dir, const char *file, sa_err *err) {
    size_t fl = strlen(file);
    char name[256];
    if (fl <= 4 || strcmp(file + fl - 4, ".txt") != 0 || fl - 4 >= sizeof name)
        return sa_err_set(err, SA_ERR_INVALID_ARG, "%s/%s: not a prompt file (prompt files are NAME.txt)", dir, file);
    memcpy(name, file, fl - 4);
    name[fl - 4] = '\0';
    long i = find_builtin(name);
    if (i < 0) {
        sa_strbuf known = {0};
        for (size_t k = 0; k < sa_prompts_builtin_count; k++)
            sa_strbuf_appendf(&known, "%s%s.txt", k ? ", " : "", sa_prompts_builtin_names[k]);
        sa_status s = sa_err_set(err, SA_ERR_INVALID_ARG, "%s/%s: unknown prompt name \"%s\" (known: %s)", dir, file,
                                 name, sa_strbuf_cstr(&known));
        sa_strbuf_free(&known);
        return s;
    }
    sa_strbuf path = {0};
    if (sa_strbuf_appendf(&path, "%s/%s", dir, file)) return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    char *data = NULL;
    size_t size = 0;
    sa_status s = sa_file_read_all(sa_strbuf_cstr(&path), PROMPT_MAX_BYTES, &data, &size, err);
    size_t bad = 0;
    if (!s && (memchr(data, '\0', size) || !sa_utf8_valid(data, size, &bad)))
        s = sa_err_set(err, SA_ERR_UTF8, "%s: invalid UTF-8 (or a NUL byte) at byte offset %zu", sa_strbuf_cstr(&path),
                       memchr(data, '\0', size) ? (size_t)((char *)memchr(data, '\0', size) - data) : bad);
    if (s) {
        free(data);
        sa_strbuf_free(&path);
        return s;
    }
    char *text = sa_malloc(size + 1);
    if (!text) {
        free(data);
        sa_strbuf_free(&path);
        return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    }
    memcpy(text, data, size);
    text[size] = '\0';
    free(data);
    free(p->text[i]);
    free(p->origin[i]);
    p->text[i] = text;
    p->origin[i] = sa_strbuf_detach(&path, NULL);
    return SA_OK;
}

sa_status sa_prompts_load(sa_prompts **out, const char *dir, sa_err *err) {
    *out = NULL;
    sa_prompts *p = sa_calloc(1, sizeof *p);
    if (!p) return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    p->n = sa_prompts_builtin_count;
    p->text = sa_calloc(p->n ? p->n : 1, sizeof *p->text);
    p->origin = sa_calloc(p->n ? p->n : 1, sizeof *p->origin);
    if (!p->text || !p->origin) {
        sa_prompts_free(p);
        return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
    }
    if (!dir) {
        *out = p;
        return SA_OK;
    }
    DIR *d = opendir(dir);
    if (!d) {
        sa_prompts_free(p);
        return sa_err_set(err, SA_ERR_IO, "%s: cannot open the prompts directory", dir);
    }
    sa_status s = SA_OK;
    struct dirent *de;
    /* readdir order is arbitrary, but each file sets only its own slot, so
     * the result does not depend on it; the first error found is reported. */
    while (!s && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue; /* ., .., editor and VCS files */
        s = load_override(p, dir, de->d_name, err);
    }
    closedir(d);
    if (s) {
        sa_prompts_free(p);
        return s;
    }
    *out = p;
    return SA_OK;
}

void sa_prompts_free(sa_prompts *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) {
        if (p->text) free(p->text[i]);
        if (p->origin) free(p->origin[i]);
    }
    free(p->text);
    free(p->origin);
    free(p);
}

const char *sa_prompts_get(const sa_prompts *p, const char *name) {
    long i = name ? find_builtin(name) : -1;
    if (i < 0) return NULL;
    return p && p->text[i] ? p->text[i] : sa_prompts_builtin_texts[i];
}

const char *sa_prompts_origin(const sa_prompts *p, const char *name) {
    long i = name ? find_builtin(name) : -1;
    if (i < 0) return NULL;
    return p && p->origin[i] ? p->origin[i] : "builtin";
}

sa_status sa_prompt_render(const char *tmpl, const char *const *keys, const char *const *vals, size_t n,
                           sa_strbuf *out, sa_err *err) {
    SA_ASSERT(tmpl && out);
    size_t start = out->len;
    const char *c = tmpl;
    for (;;) {
        const char *open = strstr(c, "{{");
        if (!open) break;
        if (sa_strbuf_append(out, c, (size_t)(open - c))) goto nomem;
        const char *close = strstr(open + 2, "}}");
        if (!close) {
            sa_strbuf_truncate(out, start);
            return sa_err_set(err, SA_ERR_INVALID_ARG, "prompt template: unterminated \"{{\" at byte offset %zu",
                              (size_t)(open - tmpl));
        }
        size_t kl = (size_t)(close - open - 2);
        size_t k = 0;
        while (k < n && !(strlen(keys[k]) == kl && memcmp(keys[k], open + 2, kl) == 0)) k++;
        if (k == n) {
            sa_strbuf_truncate(out, start);
            return sa_err_set(err, SA_ERR_INVALID_ARG, "prompt template: no value for placeholder \"{{%.*s}}\" at byte "
                              "offset %zu", (int)(kl > 64 ? 64 : kl), open + 2, (size_t)(open - tmpl));
        }
        if (sa_strbuf_puts(out, vals[k] ? vals[k] : "")) goto nomem;
        c = close + 2;
    }
    if (sa_strbuf_puts(out, c)) goto nomem;
    return SA_OK;
nomem:
    sa_strbuf_truncate(out, start);
    return sa_err_set(err, SA_ERR_NOMEM, "out of memory");
}
