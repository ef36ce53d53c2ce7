/* stage_util.h — small pieces the journaled generation stages share
 * (backtranslate.c, principles.c, selfinstruct.c): a string-keyed hash set
 * of record ids with an optional JSON record per id, and the paths of the
 * files a stage writes beside its output.
 *
 * Internal to src/pipeline (not installed). Ownership: sa_idmap owns its
 * id copies and the record references put into it (sa_idmap_free releases
 * them); the path helpers return malloc'd strings the caller frees.
 */
#ifndef SA_PIPELINE_STAGE_UTIL_H
#define SA_PIPELINE_STAGE_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "sa/status.h"

typedef struct sa_idmap_entry {
    char *id;
    json_t *rec; /* owned reference or NULL */
} sa_idmap_entry;

typedef struct sa_idmap {
    sa_idmap_entry *v;
    size_t cap, len; /* cap is a power of two (open addressing, load <= 1/2) */
} sa_idmap;

void sa_idmap_free(sa_idmap *m);
/* The entry for id, or NULL. */
sa_idmap_entry *sa_idmap_get(const sa_idmap *m, const char *id);
/* Insert id (copied); *added is false when it was present (rec is then not
 * taken). rec's reference is taken on insert. SA_ERR_NOMEM on failure. */
sa_status sa_idmap_put(sa_idmap *m, const char *id, json_t *rec, bool *added);

/* path + suffix; NULL when out of memory. */
char *sa_stage_path_suffix(const char *path, const char *suffix);
/* "stats.json" in the directory of out; NULL when out of memory. */
char *sa_stage_stats_beside(const char *out);

#endif
