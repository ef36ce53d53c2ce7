/* mmap.c — read-only file mapping and whole-file reads (see mmap.h). */
#include "sa/mmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

sa_status sa_mmap_open(sa_mmap *m, const char *path, sa_err *err) {
    m->data = NULL;
    m->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sa_err_set(err, SA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return sa_err_set(err, SA_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return sa_err_set(err, SA_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return SA_OK;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return sa_err_set(err, SA_ERR_IO, "%s: mmap failed: %s", path, strerror(e));
    m->data = p;
    m->size = (size_t)st.st_size;
    return SA_OK;
}

void sa_mmap_close(sa_mmap *m) {
    if (m->data && m->size) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

sa_status sa_file_read_all(const char *path, size_t max_bytes, char **data, size_t *size,
                           sa_err *err) {
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return sa_err_set(err, SA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 0, len = 0;
    char *buf = NULL;
    for (;;) {
        if (cap - len < 65536 + 1) {
            size_t nc = cap ? cap * 2 : 131072;
            char *nb = realloc(buf, nc);
            if (!nb) {
                free(buf);
                fclose(f);
                return sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory reading file", path);
            }
            buf = nb;
            cap = nc;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (max_bytes && len > max_bytes) {
            free(buf);
            fclose(f);
            return sa_err_set(err, SA_ERR_RANGE, "%s: larger than the %zu-byte limit", path,
                              max_bytes);
        }
        if (n == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return sa_err_set(err, SA_ERR_IO, "%s: read error", path);
    }
    buf[len] = '\0';
    *data = buf;
    *size = len;
    return SA_OK;
}
