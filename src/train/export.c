/* export.c — the files that go with an exported model (train_internal.h). */
#include <stdlib.h>
#include <string.h>

#include "sa/fileio.h"
#include "sa/mmap.h"
#include "sa/strbuf.h"
#include "train_internal.h"

#define MAX_TOKENIZER_FILE ((size_t)1 << 30)

static sa_status copy_file(const char *src, const char *dst, sa_err *err) {
    char *buf = NULL;
    size_t n = 0;
    sa_status s = sa_file_read_all(src, MAX_TOKENIZER_FILE, &buf, &n, err);
    if (!s) s = sa_file_write_atomic(dst, buf, n, err);
    free(buf);
    return s;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

sa_status sa_train_copy_tokenizer(const char *src, const char *dst_dir, const sa_log *log, sa_err *err) {
    static const char *const k_files[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                          "vocab.json",     "merges.txt",            "tokenizer.model",
                                          "generation_config.json", "tokenizer.bin"};
    sa_strbuf dir = {0}, a = {0}, b = {0};
    sa_status s = SA_OK;
    int copied = 0;
    if (ends_with(src, "config.json") && !sa_path_is_dir(src)) { /* a config.json inside an HF directory */
        const char *slash = strrchr(src, '/');
        if (slash) sa_strbuf_append(&dir, src, (size_t)(slash - src));
        else sa_strbuf_puts(&dir, ".");
    } else if (sa_path_is_dir(src)) {
        sa_strbuf_puts(&dir, src);
    }
    if (dir.len) {
        for (size_t i = 0; !s && i < sizeof k_files / sizeof k_files[0]; i++) {
            if (sa_path_join(&a, sa_strbuf_cstr(&dir), k_files[i]) || sa_path_join(&b, dst_dir, k_files[i])) {
                s = sa_err_set(err, SA_ERR_NOMEM, "export: path too long");
                break;
            }
            if (!sa_path_exists(sa_strbuf_cstr(&a))) continue;
            s = copy_file(sa_strbuf_cstr(&a), sa_strbuf_cstr(&b), err);
            copied++;
        }
    } else if (ends_with(src, ".gguf")) {
        SA_LOG_WARN(log, "the tokenizer lives inside %s: the exported directory has no tokenizer files (use the GGUF "
                         "export, or give a tokenizer directory)", src);
    } else {
        const char *name = ends_with(src, ".json") ? "tokenizer.json" : "tokenizer.bin";
        if (sa_path_join(&b, dst_dir, name)) s = sa_err_set(err, SA_ERR_NOMEM, "export: path too long");
        else s = copy_file(src, sa_strbuf_cstr(&b), err);
        copied++;
    }
    if (!s && dir.len && !copied) SA_LOG_WARN(log, "no tokenizer files found in %s to copy", sa_strbuf_cstr(&dir));
    sa_strbuf_free(&dir);
    sa_strbuf_free(&a);
    sa_strbuf_free(&b);
    return s;
}
