/* dist_args.h — the MPI process group as the data-parallel commands
 * (generate, backtranslate, curate, train) set it up and tear it down.
 *
 * Each such command calls cli_dist_begin once before its work: it
 * initialises sa_dist (dist.h: MPI only when a launcher started us) and
 * turns "--threads 0" (all CPUs) into an equal share of the node per rank,
 * so N ranks on one machine do not oversubscribe it. cli_dist_end
 * finalises MPI after success and only forgets it after a failure (the
 * launcher then ends the job: a finalize could wait for ranks blocked in a
 * collective), and returns rc unchanged. Only rank 0 prints summaries:
 * cli_dist_speaks says whether this process is it.
 */
#ifndef SA_CLI_DIST_ARGS_H
#define SA_CLI_DIST_ARGS_H

#include <stdbool.h>

#include "sa/dist.h"

/* 0 on success; else prints the error and returns the exit code. */
int cli_dist_begin(sa_dist *d);
/* requested > 0: itself; else all CPUs divided among the ranks (>= 1), or
 * 0 (all CPUs) with one process. */
int cli_dist_threads(const sa_dist *d, int requested);
bool cli_dist_speaks(const sa_dist *d);
int cli_dist_end(sa_dist *d, int rc);

#endif
