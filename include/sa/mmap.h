/* mmap.h — read-only memory mapping of whole files.
 *
 * Purpose: model weights and large vocabularies are read in place, without
 * copying, by mapping the file. Parsers then treat the mapping as an
 * untrusted byte range [data, data + size).
 *
 * Ownership: sa_mmap_open fills a caller-owned sa_mmap; sa_mmap_close unmaps
 * it. Pointers into `data` are valid until close. An empty file maps to
 * data == NULL, size == 0.
 *
 * Usage:
 *     sa_mmap m;
 *     if (sa_mmap_open(&m, "model.safetensors", &err) != SA_OK) return err.code;
 *     parse(m.data, m.size);
 *     sa_mmap_close(&m);
 */
#ifndef SA_MMAP_H
#define SA_MMAP_H

#include <stddef.h>
#include <stdint.h>

#include "sa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_mmap {
    const uint8_t *data;
    size_t size;
} sa_mmap;

sa_status sa_mmap_open(sa_mmap *m, const char *path, sa_err *err);
void sa_mmap_close(sa_mmap *m);

/* Read a whole file into a heap buffer with a terminating NUL (not counted
 * in *size). Refuses files larger than max_bytes (0 = no cap). The caller
 * frees *data with free(). */
sa_status sa_file_read_all(const char *path, size_t max_bytes, char **data, size_t *size,
                           sa_err *err);

#ifdef __cplusplus
}
#endif
#endif
