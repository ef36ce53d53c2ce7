/* test_prompts.c — embedded prompts equal prompts/NAME.txt, overrides from a
 * directory, and {{key}} rendering. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sa/mmap.h"
#include "sa/prompts.h"
#include "sa_test.h"

static const char *root(void) {
    const char *r = getenv("SA_ROOT");
    return r ? r : ".";
}

static void test_embedded_equals_files(sa_test *t) {
    size_t n = 0;
    const char *const *names = sa_prompts_names(&n);
    SA_REQUIRE(t, n >= 3);
    const char *want[] = {"rubric", "tag_seed", "tag_augmented"};
    for (size_t w = 0; w < 3; w++) {
        bool found = false;
        for (size_t i = 0; i < n; i++) found = found || strcmp(names[i], want[w]) == 0;
        SA_CHECKF(t, found, "no built-in prompt \"%s\"", want[w]);
    }
    sa_prompts *p = NULL;
    sa_err err = {0};
    SA_REQUIRE_OK(t, sa_prompts_load(&p, NULL, &err), &err);
    for (size_t i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/prompts/%s.txt", root(), names[i]);
        char *data = NULL;
        size_t size = 0;
        SA_REQUIRE_OK(t, sa_file_read_all(path, 1 << 20, &data, &size, &err), &err);
        const char *got = sa_prompts_get(p, names[i]);
        SA_REQUIRE(t, got != NULL);
        SA_CHECKF(t, strlen(got) == size && memcmp(got, data, size) == 0, "embedded %s differs from %s", names[i], path);
        SA_CHECK_STR(t, sa_prompts_origin(p, names[i]), "builtin");
        free(data);
    }
    SA_CHECK(t, sa_prompts_get(p, "no_such_prompt") == NULL);
    const char *rub = sa_prompts_get(p, "rubric");
    SA_CHECK(t, strstr(rub, "{{instruction}}") && strstr(rub, "{{output}}"));
    /* the rubric text must come before the pair, so it is a shared prefix */
    SA_CHECK(t, strstr(rub, "{{instruction}}") > rub + 200);
    SA_CHECK(t, strstr(rub, "Score: N") != NULL);
    sa_prompts_free(p);
}

static void put_file(sa_test *t, const char *dir, const char *name, const char *text) {
    char path[2200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    sa_test_write_file(t, path, text, strlen(text));
}

static void test_override_dir(sa_test *t) {
    sa_err err = {0};
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", sa_test_tmpfile(t, "ov"));
    mkdir(dir, 0777);
    put_file(t, dir, "rubric.txt", "Rate {{instruction}} / {{output}}.");
    put_file(t, dir, ".hidden", "ignored");
    sa_prompts *p = NULL;
    SA_REQUIRE_OK(t, sa_prompts_load(&p, dir, &err), &err);
    SA_CHECK_STR(t, sa_prompts_get(p, "rubric"), "Rate {{instruction}} / {{output}}.");
    SA_CHECK(t, strstr(sa_prompts_origin(p, "rubric"), "ov/rubric.txt") != NULL);
    SA_CHECK_STR(t, sa_prompts_origin(p, "tag_seed"), "builtin"); /* others stay built in */
    sa_prompts_free(p);

    put_file(t, dir, "rubrik.txt", "typo");
    p = NULL;
    SA_CHECK(t, sa_prompts_load(&p, dir, &err) == SA_ERR_INVALID_ARG);
    SA_CHECK(t, p == NULL);
    SA_CHECKF(t, strstr(err.msg, "rubrik") && strstr(err.msg, "unknown"), "message: %s", err.msg);

    char dir2[1024];
    snprintf(dir2, sizeof dir2, "%s", sa_test_tmpfile(t, "ov2"));
    mkdir(dir2, 0777);
    put_file(t, dir2, "tag_seed.txt", "bad \xff byte");
    SA_CHECK(t, sa_prompts_load(&p, dir2, &err) == SA_ERR_UTF8);
    SA_CHECK(t, strstr(err.msg, "tag_seed.txt") != NULL);
    SA_CHECK(t, sa_prompts_load(&p, sa_test_tmpfile(t, "missing"), &err) == SA_ERR_IO);
}

static void test_render(sa_test *t) {
    sa_err err = {0};
    sa_strbuf out = {0};
    const char *keys[] = {"instruction", "output"};
    const char *vals[] = {"Say {{output}}", "hi }} {{"};
    SA_REQUIRE_OK(t, sa_prompt_render("I: {{instruction}}\nO: {{output}}!", keys, vals, 2, &out, &err), &err);
    /* values are inserted verbatim, never re-expanded */
    SA_CHECK_STR(t, sa_strbuf_cstr(&out), "I: Say {{output}}\nO: hi }} {{!");
    sa_strbuf_reset(&out);
    SA_CHECK(t, sa_prompt_render("x {{nope}} y", keys, vals, 2, &out, &err) == SA_ERR_INVALID_ARG);
    SA_CHECK(t, strstr(err.msg, "nope") != NULL);
    SA_CHECK_EQ_INT(t, (long)out.len, 0);
    SA_CHECK(t, sa_prompt_render("x {{instruction", keys, vals, 2, &out, &err) == SA_ERR_INVALID_ARG);
    SA_CHECK(t, strstr(err.msg, "unterminated") != NULL);
    SA_REQUIRE_OK(t, sa_prompt_render("plain", keys, vals, 0, &out, &err), &err);
    SA_CHECK_STR(t, sa_strbuf_cstr(&out), "plain");
    sa_strbuf_free(&out);
}

static const sa_test_def tests[] = {
    {"embedded_equals_files", test_embedded_equals_files},
    {"override_dir", test_override_dir},
    {"render", test_render},
};
SA_TEST_MAIN(tests)
