/* prompts.h — the prompt templates of the pipelines: built in, overridable.
 *
 * Purpose: every text the pipelines put in front of a model (the backward
 * model's instruction template, the Humpback source tags, the curation
 * rubric, later Dromedary's principles) lives in prompts/NAME.txt in the
 * source tree, is embedded in the binary at build time, and can be replaced
 * at run time by a file of the same name in a directory given with
 * --prompts DIR. Templates use {{key}} placeholders filled by
 * sa_prompt_render.
 *
 * Names (prompts/NAME.txt): "rubric" (curation: the five-point rubric, with
 * {{instruction}} and {{output}}), "tag_seed" and "tag_augmented" (the
 * Humpback system sentences). More are added by the pipelines.
 *
 * Trust: a rendered template mixes our text with untrusted content
 * (segments, generated instructions). Callers that feed it to a model put
 * the untrusted values in chat messages (sa_chat_encode keeps them plain
 * text) — never paste them into a string encoded with special tokens on.
 *
 * Ownership: sa_prompts owns every string it returns (sa_prompts_free).
 *
 * Usage:
 *     sa_prompts *p;
 *     sa_prompts_load(&p, override_dir_or_NULL, &err);
 *     const char *keys[] = {"instruction", "output"}, *vals[] = {x, y};
 *     sa_strbuf out = {0};
 *     sa_prompt_render(sa_prompts_get(p, "rubric"), keys, vals, 2, &out, &err);
 */
#ifndef SA_PROMPTS_H
#define SA_PROMPTS_H

#include <stddef.h>

#include "sa/status.h"
#include "sa/strbuf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_prompts sa_prompts;

/* The built-in set, with files NAME.txt from dir (may be NULL) replacing
 * the built-in of the same name. A file in dir that names no built-in
 * prompt is an error (a typo would otherwise be silently ignored); so is
 * an unreadable or non-UTF-8 file. */
sa_status sa_prompts_load(sa_prompts **out, const char *dir, sa_err *err);
void sa_prompts_free(sa_prompts *p);
/* The template text, or NULL for an unknown name. */
const char *sa_prompts_get(const sa_prompts *p, const char *name);
/* "builtin" or the override file's path. */
const char *sa_prompts_origin(const sa_prompts *p, const char *name);
/* Names of the built-ins, in order; *n receives the count. */
const char *const *sa_prompts_names(size_t *n);

/* Append tmpl to out with every {{key}} replaced by its value. A
 * placeholder with no value, or an unterminated "{{", is SA_ERR_INVALID_ARG
 * naming it; values are inserted verbatim (no re-expansion). */
sa_status sa_prompt_render(const char *tmpl, const char *const *keys, const char *const *vals, size_t n,
                           sa_strbuf *out, sa_err *err);

#ifdef __cplusplus
}
#endif
#endif
