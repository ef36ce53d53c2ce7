/* opts.c — parse and document declared long options (see opts.h). */
#include "opts.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("selfalign: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_fail(sa_status st, const sa_err *err) {
    const char *msg = err && err->msg[0] ? err->msg : sa_status_str(st);
    cli_error("%s", msg);
    return st == SA_ERR_INTERRUPTED ? CLI_EXIT_INTERRUPTED : CLI_EXIT_RUNTIME;
}

static const char *type_metavar(const cli_opt *o) {
    if (o->metavar) return o->metavar;
    switch (o->type) {
    case CLI_OPT_INT: return "N";
    case CLI_OPT_FLOAT: return "X";
    default: return "VALUE";
    }
}

static bool has_range(const cli_opt *o) {
    return (o->type == CLI_OPT_INT || o->type == CLI_OPT_FLOAT) && o->min < o->max;
}

void cli_print_help(const cli_cmd_spec *spec, FILE *f) {
    fprintf(f, "usage: selfalign %s %s\n\n%s\n", spec->name,
            spec->args_usage ? spec->args_usage : "", spec->summary);
    fprintf(f, "\noptions:\n");
    int width = 0;
    char col[160];
    for (size_t i = 0; i <= spec->n_opts; i++) {
        if (i == spec->n_opts) snprintf(col, sizeof col, "--help");
        else if (spec->opts[i].type == CLI_OPT_FLAG)
            snprintf(col, sizeof col, "--%s", spec->opts[i].name);
        else snprintf(col, sizeof col, "--%s %s", spec->opts[i].name, type_metavar(&spec->opts[i]));
        int w = (int)strlen(col);
        if (w > width) width = w;
    }
    for (size_t i = 0; i < spec->n_opts; i++) {
        const cli_opt *o = &spec->opts[i];
        if (o->type == CLI_OPT_FLAG) snprintf(col, sizeof col, "--%s", o->name);
        else snprintf(col, sizeof col, "--%s %s", o->name, type_metavar(o));
        fprintf(f, "  %-*s  %s", width, col, o->help ? o->help : "");
        if (o->required) fprintf(f, " (required)");
        if (has_range(o)) {
            if (o->type == CLI_OPT_INT) fprintf(f, " [%.0f..%.0f]", o->min, o->max);
            else fprintf(f, " [%g..%g]", o->min, o->max);
        }
        if (o->def) fprintf(f, " (default: %s)", o->def);
        fputc('\n', f);
    }
    fprintf(f, "  %-*s  show this help and exit\n", width, "--help");
    if (spec->details) fprintf(f, "\n%s", spec->details);
    fprintf(f, "\nexit status: 0 ok, 1 runtime error, 2 usage error, 130 interrupted\n");
}

static const cli_opt *find_opt(const cli_cmd_spec *spec, const char *name, size_t len,
                               size_t *idx) {
    for (size_t i = 0; i < spec->n_opts; i++) {
        if (strlen(spec->opts[i].name) == len && strncmp(spec->opts[i].name, name, len) == 0) {
            *idx = i;
            return &spec->opts[i];
        }
    }
    return NULL;
}

/* Convert text to the option's type with range checks; prints the error. */
static bool set_value(const cli_cmd_spec *spec, const cli_opt *o, const char *text, cli_val *v) {
    v->s = text;
    if (o->type == CLI_OPT_INT) {
        char *end;
        errno = 0;
        long long x = strtoll(text, &end, 10);
        if (end == text || *end || errno == ERANGE) {
            cli_error("%s: --%s expects an integer, got '%s'", spec->name, o->name, text);
            return false;
        }
        if (has_range(o) && (x < o->min || x > o->max)) {
            cli_error("%s: --%s %lld is out of range [%.0f..%.0f]", spec->name, o->name, x, o->min,
                      o->max);
            return false;
        }
        v->i = x;
        v->f = (double)x;
    } else if (o->type == CLI_OPT_FLOAT) {
        char *end;
        errno = 0;
        double x = strtod(text, &end);
        if (end == text || *end || errno == ERANGE || !isfinite(x)) {
            cli_error("%s: --%s expects a number, got '%s'", spec->name, o->name, text);
            return false;
        }
        if (has_range(o) && (x < o->min || x > o->max)) {
            cli_error("%s: --%s %g is out of range [%g..%g]", spec->name, o->name, x, o->min,
                      o->max);
            return false;
        }
        v->f = x;
        v->i = (int64_t)x;
    } else if (o->type == CLI_OPT_FLAG) {
        v->i = 1;
    }
    v->set = true;
    return true;
}

static int usage_error(const cli_cmd_spec *spec) {
    fprintf(stderr, "Try 'selfalign %s --help' for more information.\n", spec->name);
    return CLI_EXIT_USAGE;
}

int cli_parse(const cli_cmd_spec *spec, int argc, char **argv, cli_args *out) {
    SA_ASSERT(spec->n_opts <= CLI_MAX_OPTS && spec->max_pos <= CLI_MAX_POS);
    memset(out, 0, sizeof *out);
    out->spec = spec;
    for (size_t i = 0; i < spec->n_opts; i++) {
        const cli_opt *o = &spec->opts[i];
        /* a bad default is a bug in the table, not a user error */
        if (o->def && o->type != CLI_OPT_FLAG && !set_value(spec, o, o->def, &out->v[i]))
            SA_ASSERT(!"option default does not parse");
    }
    bool only_pos = false;
    for (int k = 1; k < argc; k++) {
        const char *arg = argv[k];
        if (only_pos || arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (out->n_pos >= spec->max_pos) {
                cli_error("%s: unexpected argument '%s'", spec->name, arg);
                return usage_error(spec);
            }
            out->pos[out->n_pos++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            cli_print_help(spec, stdout);
            return CLI_EXIT_OK;
        }
        if (arg[1] != '-') {
            cli_error("%s: unknown option '%s' (options are long: --name)", spec->name, arg);
            return usage_error(spec);
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name), idx = 0;
        const cli_opt *o = find_opt(spec, name, len, &idx);
        if (!o) {
            cli_error("%s: unknown option '--%.*s'", spec->name, (int)len, name);
            return usage_error(spec);
        }
        const char *value;
        if (o->type == CLI_OPT_FLAG) {
            if (eq) {
                cli_error("%s: --%s is a flag and takes no value", spec->name, o->name);
                return usage_error(spec);
            }
            value = "1";
        } else if (eq) {
            value = eq + 1;
        } else if (k + 1 < argc) {
            value = argv[++k];
        } else {
            cli_error("%s: --%s needs a value (%s)", spec->name, o->name, type_metavar(o));
            return usage_error(spec);
        }
        if (!set_value(spec, o, value, &out->v[idx])) return usage_error(spec);
        if (o->repeat) {
            if (out->v[idx].n_all >= CLI_MAX_REPEAT) {
                cli_error("%s: --%s given more than %d times", spec->name, o->name, CLI_MAX_REPEAT);
                return usage_error(spec);
            }
            out->v[idx].all[out->v[idx].n_all++] = out->v[idx].s;
        }
        out->v[idx].explicit_ = true;
    }
    for (size_t i = 0; i < spec->n_opts; i++) {
        if (spec->opts[i].required && !out->v[i].set) {
            cli_error("%s: missing required option --%s %s", spec->name, spec->opts[i].name,
                      type_metavar(&spec->opts[i]));
            return usage_error(spec);
        }
    }
    if (out->n_pos < spec->min_pos) {
        cli_error("%s: expected %s", spec->name, spec->args_usage ? spec->args_usage : "arguments");
        return usage_error(spec);
    }
    return CLI_CONTINUE;
}

static const cli_val *lookup(const cli_args *a, const char *name, cli_opt_type type) {
    for (size_t i = 0; i < a->spec->n_opts; i++) {
        if (strcmp(a->spec->opts[i].name, name) == 0) {
            SA_ASSERT(a->spec->opts[i].type == type);
            return &a->v[i];
        }
    }
    SA_ASSERT(!"option not declared");
    return NULL;
}

const char *cli_str(const cli_args *a, const char *name) {
    const cli_val *v = lookup(a, name, CLI_OPT_STR);
    return v->set ? v->s : NULL;
}

int64_t cli_int(const cli_args *a, const char *name) { return lookup(a, name, CLI_OPT_INT)->i; }

double cli_float(const cli_args *a, const char *name) {
    return lookup(a, name, CLI_OPT_FLOAT)->f;
}

bool cli_flag(const cli_args *a, const char *name) {
    return lookup(a, name, CLI_OPT_FLAG)->set;
}

bool cli_is_set(const cli_args *a, const char *name) {
    for (size_t i = 0; i < a->spec->n_opts; i++)
        if (strcmp(a->spec->opts[i].name, name) == 0) return a->v[i].explicit_;
    SA_ASSERT(!"option not declared");
    return false;
}

const char *const *cli_str_all(const cli_args *a, const char *name, int *n) {
    const cli_val *v = lookup(a, name, CLI_OPT_STR);
    *n = v->n_all;
    return v->all;
}
