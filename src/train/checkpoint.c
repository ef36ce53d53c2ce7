/* checkpoint.c — save/load of training state and the metrics log's resume
 * point (see checkpoint.h). */
#include "checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sa/fileio.h"
#include "sa/json.h"
#include "sa/safetensors.h"
#include "sa/strbuf.h"

#define CKPT_FORMAT "selfalign.ckpt.v1"

static sa_status join(sa_strbuf *sb, const char *a, const char *b, sa_err *err) {
    if (sa_path_join(sb, a, b)) return sa_err_set(err, SA_ERR_NOMEM, "checkpoint: path too long");
    return SA_OK;
}

/* Remove OUT/ckpt-* directories other than keep (each holds only state.safetensors
 * and perhaps a temp file of an interrupted write). */
static void remove_old(const char *out_dir, const char *keep) {
    DIR *d = opendir(out_dir);
    if (!d) return;
    struct dirent *e;
    sa_strbuf p = {0}, f = {0};
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "ckpt-", 5) != 0 || strcmp(e->d_name, keep) == 0) continue;
        if (sa_path_join(&p, out_dir, e->d_name)) break;
        DIR *sub = opendir(sa_strbuf_cstr(&p));
        if (!sub) continue;
        struct dirent *se;
        while ((se = readdir(sub)))
            if (strcmp(se->d_name, ".") && strcmp(se->d_name, "..") && !sa_path_join(&f, sa_strbuf_cstr(&p), se->d_name))
                unlink(sa_strbuf_cstr(&f));
        closedir(sub);
        rmdir(sa_strbuf_cstr(&p));
    }
    closedir(d);
    sa_strbuf_free(&p);
    sa_strbuf_free(&f);
}

sa_status sa_ckpt_save(const char *out_dir, int64_t step, const float *params, const sa_adamw *opt,
                       const char *config_json, sa_err *err) {
    char name[32], num[32];
    snprintf(name, sizeof name, "ckpt-%08" PRId64, step);
    sa_strbuf dir = {0}, file = {0}, ptr = {0}, body = {0};
    sa_st_writer *w = NULL;
    sa_status s = join(&dir, out_dir, name, err);
    if (!s) s = sa_mkdir_p(sa_strbuf_cstr(&dir), 0755, err);
    if (!s) s = join(&file, sa_strbuf_cstr(&dir), "state.safetensors", err);
    if (!s) s = sa_st_writer_init(&w, err);
    int64_t shape[1] = {(int64_t)opt->n};
    if (!s) s = sa_st_writer_add(w, "params", SA_DTYPE_F32, 1, shape, params, err);
    if (!s) s = sa_st_writer_add(w, "adam_m", SA_DTYPE_F32, 1, shape, opt->m, err);
    if (!s) s = sa_st_writer_add(w, "adam_v", SA_DTYPE_F32, 1, shape, opt->v, err);
    if (!s) s = sa_st_writer_set_metadata(w, "format", CKPT_FORMAT, err);
    snprintf(num, sizeof num, "%" PRId64, step);
    if (!s) s = sa_st_writer_set_metadata(w, "step", num, err);
    snprintf(num, sizeof num, "%" PRId64, opt->t);
    if (!s) s = sa_st_writer_set_metadata(w, "adam_t", num, err);
    if (!s) s = sa_st_writer_set_metadata(w, "config", config_json, err);
    if (!s) s = sa_st_write(w, sa_strbuf_cstr(&file), err);
    if (!s) s = join(&ptr, out_dir, "checkpoint.json", err);
    if (!s && sa_strbuf_appendf(&body, "{\"dir\":\"%s\",\"step\":%" PRId64 "}\n", name, step))
        s = sa_err_set(err, SA_ERR_NOMEM, "checkpoint: out of memory");
    if (!s) s = sa_file_write_atomic(sa_strbuf_cstr(&ptr), body.buf, body.len, err);
    if (!s) remove_old(out_dir, name);
    if (s) sa_err_prefix(err, "checkpoint at step %" PRId64 ": ", step);
    sa_st_writer_free(w);
    sa_strbuf_free(&dir);
    sa_strbuf_free(&file);
    sa_strbuf_free(&ptr);
    sa_strbuf_free(&body);
    return s;
}

/* Name the keys whose values differ between two config objects. */
static void describe_diff(const char *saved, const char *now, char *out, size_t cap) {
    json_t *a = json_loads(saved, 0, NULL), *b = json_loads(now, 0, NULL);
    out[0] = 0;
    size_t used = 0;
    if (json_is_object(a) && json_is_object(b)) {
        const char *key;
        json_t *va;
        json_object_foreach(a, key, va) {
            json_t *vb = json_object_get(b, key);
            if (vb && json_equal(va, vb)) continue;
            char *sa = json_dumps(va, JSON_ENCODE_ANY | JSON_COMPACT), *sb = vb ? json_dumps(vb, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
            int n = snprintf(out + used, cap - used, "%s%s (checkpoint %s, now %s)", used ? "; " : "", key,
                             sa ? sa : "?", sb ? sb : "absent");
            free(sa);
            free(sb);
            if (n < 0 || (size_t)n >= cap - used) break;
            used += (size_t)n;
        }
    }
    if (!out[0]) snprintf(out, cap, "the settings differ");
    json_decref(a);
    json_decref(b);
}

static sa_status parse_i64(const char *s, const char *what, const char *path, int64_t *out, sa_err *err) {
    char *end;
    errno = 0;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || errno || *end || v < 0) return sa_err_set(err, SA_ERR_FORMAT, "%s: bad or missing %s", path, what);
    *out = v;
    return SA_OK;
}

sa_status sa_ckpt_load(const char *out_dir, float *params, sa_adamw *opt, const char *config_json, int64_t *step,
                       bool *found, sa_err *err) {
    *found = false;
    sa_strbuf ptr = {0}, file = {0};
    json_t *doc = NULL;
    sa_st *st = NULL;
    sa_status s = join(&ptr, out_dir, "checkpoint.json", err);
    if (s || !sa_path_exists(sa_strbuf_cstr(&ptr))) goto done;
    s = sa_json_load_file(sa_strbuf_cstr(&ptr), 1 << 16, &doc, err);
    const char *dname = NULL;
    size_t dlen = 0;
    int64_t pstep = 0;
    if (!s) s = sa_json_get_str(doc, "dir", true, &dname, &dlen, err);
    if (!s) s = sa_json_get_int(doc, "step", true, &pstep, NULL, err);
    if (!s && (strncmp(dname, "ckpt-", 5) != 0 || strchr(dname, '/') || dlen > 64))
        s = sa_err_set(err, SA_ERR_FORMAT, "bad checkpoint directory name \"%s\"", dname);
    if (s) {
        sa_err_prefix(err, "%s: ", sa_strbuf_cstr(&ptr));
        goto done;
    }
    sa_strbuf d2 = {0};
    s = join(&d2, out_dir, dname, err);
    if (!s) s = join(&file, sa_strbuf_cstr(&d2), "state.safetensors", err);
    sa_strbuf_free(&d2);
    if (s) goto done;
    const char *fp = sa_strbuf_cstr(&file);
    if ((s = sa_st_open(&st, fp, err))) goto done;
    const char *fmt = sa_st_metadata_get(st, "format"), *cfg = sa_st_metadata_get(st, "config");
    if (!fmt || strcmp(fmt, CKPT_FORMAT) != 0) {
        s = sa_err_set(err, SA_ERR_FORMAT, "%s: not a selfalign checkpoint (format %s)", fp, fmt ? fmt : "absent");
        goto done;
    }
    int64_t cstep = 0, adam_t = 0;
    if ((s = parse_i64(sa_st_metadata_get(st, "step"), "step", fp, &cstep, err)) ||
        (s = parse_i64(sa_st_metadata_get(st, "adam_t"), "adam_t", fp, &adam_t, err)))
        goto done;
    if (cstep != pstep) {
        s = sa_err_set(err, SA_ERR_FORMAT, "%s: step %" PRId64 " but checkpoint.json says %" PRId64, fp, cstep, pstep);
        goto done;
    }
    if (!cfg || strcmp(cfg, config_json) != 0) {
        char diff[400];
        describe_diff(cfg ? cfg : "{}", config_json, diff, sizeof diff);
        s = sa_err_set(err, SA_ERR_INVALID_ARG,
                       "%s: the checkpoint was written with other settings: %s (start a new output directory, or "
                       "restore the settings)",
                       fp, diff);
        goto done;
    }
    const char *names[3] = {"params", "adam_m", "adam_v"};
    float *dst[3] = {params, opt->m, opt->v};
    for (int i = 0; i < 3; i++) {
        const sa_st_tensor *t = sa_st_find(st, names[i]);
        if (!t || t->dtype != SA_DTYPE_F32 || t->n_dims != 1 || t->shape[0] != (int64_t)opt->n) {
            s = sa_err_set(err, SA_ERR_FORMAT, "%s: tensor %s missing or not F32[%zu]", fp, names[i], opt->n);
            goto done;
        }
    }
    for (int i = 0; i < 3; i++) memcpy(dst[i], sa_st_find(st, names[i])->data, opt->n * sizeof(float));
    opt->t = adam_t;
    *step = cstep;
    *found = true;
done:
    sa_st_close(st);
    json_decref(doc);
    sa_strbuf_free(&ptr);
    sa_strbuf_free(&file);
    return s;
}

sa_status sa_metrics_truncate(const char *path, int64_t step, sa_err *err) {
    if (!sa_path_exists(path)) return SA_OK;
    sa_strbuf in = {0}, out = {0};
    sa_status s = sa_file_read_strbuf(path, &in, err);
    size_t i = 0;
    while (!s && i < in.len) {
        const char *line = in.buf + i;
        const char *nl = memchr(line, '\n', in.len - i);
        if (!nl) break; /* torn last line */
        size_t n = (size_t)(nl - line) + 1;
        json_t *obj = json_loadb(line, n, 0, NULL);
        json_t *js = json_object_get(obj, "step");
        if (json_is_integer(js) && json_integer_value(js) <= step && sa_strbuf_append(&out, line, n))
            s = sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
        json_decref(obj);
        i += n;
    }
    if (!s) s = sa_file_write_atomic(path, out.buf ? out.buf : "", out.len, err);
    sa_strbuf_free(&in);
    sa_strbuf_free(&out);
    return s;
}
