/* dist_args.c — set-up and tear-down of the MPI process group for the
 * data-parallel commands (see dist_args.h). */
#include "dist_args.h"

#include "opts.h"
#include "sa/thread.h"

int cli_dist_begin(sa_dist *d) {
    sa_err err = {0};
    sa_status s = sa_dist_init(d, &err);
    if (!s) return 0;
    int rc = cli_fail(s, &err);
    sa_dist_abandon(d);
    return rc;
}

int cli_dist_threads(const sa_dist *d, int requested) {
    if (requested > 0 || sa_dist_size(d) == 1) return requested;
    int t = sa_cpu_count() / sa_dist_size(d);
    return t < 1 ? 1 : t;
}

bool cli_dist_speaks(const sa_dist *d) { return sa_dist_rank(d) == 0; }

int cli_dist_end(sa_dist *d, int rc) {
    if (rc == CLI_EXIT_OK) sa_dist_free(d);
    else sa_dist_abandon(d);
    return rc;
}
