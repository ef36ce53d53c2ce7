/* cmd_report.c — `selfalign report --run DIR [--out FILE]`: one
 * self-contained HTML page (inline CSS and SVG charts, no script, nothing
 * loaded from the network) showing a humpback or dromedary run: stage
 * timeline, data funnel, score histograms, loss curves, evaluations, sample
 * pairs and the resolved configuration (report.h). Read-only on the run:
 * safe while it is going. Prints the path written. */
#include <stdio.h>

#include "commands.h"
#include "opts.h"
#include "sa/fileio.h"
#include "sa/report.h"

static const cli_opt k_opts[] = {
    {.name = "run", .type = CLI_OPT_STR, .metavar = "DIR", .required = true, .help = "run directory"},
    {.name = "out", .type = CLI_OPT_STR, .metavar = "FILE", .help = "output file (default DIR/report.html)"},
    {.name = "samples", .type = CLI_OPT_INT, .metavar = "N", .def = "3", .min = 0, .max = 20,
     .help = "best- and worst-scored pairs shown"},
    {.name = "max-points", .type = CLI_OPT_INT, .metavar = "N", .def = "400", .min = 2, .max = 100000,
     .help = "points per loss curve at most (longer curves are thinned evenly)"},
};

static const cli_cmd_spec k_spec = {
    "report", "--run DIR [--out FILE]", "Write a self-contained HTML report of a run (charts, tables, samples).",
    k_opts, sizeof k_opts / sizeof k_opts[0], 0, 0,
    "Only manifest.json is required; missing, torn or malformed files are listed in \"missing: ...\" notes\n"
    "on the page. The file is written atomically. exit status 0 when written, 1 otherwise.\n",
};

int cmd_report(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&k_spec, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    sa_err err = {0};
    const char *dir = cli_str(&a, "run"), *out = cli_str(&a, "out");
    sa_report_opts o = sa_report_defaults();
    o.samples = (size_t)cli_int(&a, "samples");
    o.max_curve_points = (size_t)cli_int(&a, "max-points");
    sa_strbuf def = {0};
    if (!out) {
        if (sa_path_join(&def, dir, "report.html")) {
            cli_error("out of memory");
            return CLI_EXIT_RUNTIME;
        }
        out = sa_strbuf_cstr(&def);
    }
    sa_status s = sa_report_write_opts(dir, out, &o, &err);
    if (s) {
        sa_strbuf_free(&def);
        return cli_fail(s, &err);
    }
    printf("%s\n", out);
    sa_strbuf_free(&def);
    return CLI_EXIT_OK;
}
