/* fileio.c — atomic file writes and path helpers (see fileio.h). */
#include "sa/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sa/alloc.h"
#include "sa/hash.h"

/* 8 hex digits that differ between processes, calls and attempts; they only
 * need to avoid collisions (O_EXCL catches the rest), not be unpredictable. */
static void tmp_suffix(const void *salt, unsigned attempt, char out[9]) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t h = sa_hash_mix((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec,
                             ((uint64_t)(uintptr_t)salt << 8) ^ attempt);
    char hex[17];
    sa_hash_hex(h, hex);
    memcpy(out, hex, 8);
    out[8] = '\0';
}

sa_status sa_atomic_open(sa_atomic_file *af, const char *path, sa_err *err) {
    memset(af, 0, sizeof *af);
    if (!path || !path[0]) return sa_err_set(err, SA_ERR_INVALID_ARG, "atomic write: empty path");
    af->path = sa_strdup(path);
    size_t cap;
    if (!af->path || !sa_size_add(strlen(path), 64, &cap) || !(af->tmp_path = malloc(cap))) {
        free(af->path);
        af->path = NULL;
        return sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
    }
    int fd = -1, e = 0;
    for (unsigned attempt = 0; attempt < 16 && fd < 0; attempt++) {
        char suffix[9];
        tmp_suffix(af, attempt, suffix);
        snprintf(af->tmp_path, cap, "%s.tmp.%ld.%s", path, (long)getpid(), suffix);
        fd = open(af->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        e = errno;
        if (fd < 0 && e != EEXIST) break;
    }
    if (fd >= 0 && !(af->fp = fdopen(fd, "wb"))) {
        e = errno;
        close(fd);
        unlink(af->tmp_path);
        fd = -1;
    }
    if (fd < 0) {
        sa_err_set(err, SA_ERR_IO, "%s: cannot create temporary file '%s': %s", path,
                   af->tmp_path, strerror(e));
        free(af->path);
        free(af->tmp_path);
        memset(af, 0, sizeof *af);
        return SA_ERR_IO;
    }
    return SA_OK;
}

static sa_status not_open(const sa_atomic_file *af, sa_err *err) {
    return sa_err_set(err, SA_ERR_INVALID_ARG, "%s: atomic file is not open",
                      af->path ? af->path : "(none)");
}

sa_status sa_atomic_write(sa_atomic_file *af, const void *data, size_t n, sa_err *err) {
    if (!af->fp) return not_open(af, err);
    if (af->write_errno)
        return sa_err_set(err, SA_ERR_IO, "%s: writing '%s': %s", af->path, af->tmp_path,
                          strerror(af->write_errno));
    if (n && fwrite(data, 1, n, af->fp) != n) {
        af->write_errno = errno ? errno : EIO;
        return sa_err_set(err, SA_ERR_IO, "%s: writing '%s': %s", af->path, af->tmp_path,
                          strerror(af->write_errno));
    }
    return SA_OK;
}

sa_status sa_atomic_printf(sa_atomic_file *af, sa_err *err, const char *fmt, ...) {
    if (!af->fp) return not_open(af, err);
    if (af->write_errno) return sa_atomic_write(af, "", 0, err);
    va_list ap;
    va_start(ap, fmt);
    int rc = vfprintf(af->fp, fmt, ap);
    va_end(ap);
    if (rc < 0) {
        af->write_errno = errno ? errno : EIO;
        return sa_err_set(err, SA_ERR_IO, "%s: writing '%s': %s", af->path, af->tmp_path,
                          strerror(af->write_errno));
    }
    return SA_OK;
}

static void release(sa_atomic_file *af) {
    free(af->path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
}

void sa_atomic_abort(sa_atomic_file *af) {
    if (af->fp) {
        fclose(af->fp);
        unlink(af->tmp_path);
    }
    release(af);
}

/* fsync the directory holding path so the rename itself is durable. */
static int fsync_parent(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash) dir = sa_strdup(".");
    else if (slash == path) dir = sa_strdup("/");
    else dir = sa_strndup(path, (size_t)(slash - path));
    if (!dir) return ENOMEM;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int e = 0;
    if (fd < 0) e = errno;
    else {
        /* Some filesystems cannot fsync a directory; nothing more to do there. */
        if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS) e = errno;
        close(fd);
    }
    free(dir);
    return e;
}

sa_status sa_atomic_commit(sa_atomic_file *af, sa_err *err) {
    if (!af->fp) return not_open(af, err);
    const char *what = NULL;
    int e = af->write_errno;
    if (e) what = "writing";
    else if (fflush(af->fp) != 0) e = errno, what = "writing";
    else if (fsync(fileno(af->fp)) != 0) e = errno, what = "fsync of";
    int rc = fclose(af->fp);
    af->fp = NULL;
    if (!what && rc != 0) e = errno, what = "closing";
    if (!what && rename(af->tmp_path, af->path) != 0) e = errno, what = "renaming";
    if (what) {
        sa_err_set(err, SA_ERR_IO, "%s: %s '%s': %s", af->path, what, af->tmp_path,
                   strerror(e ? e : EIO));
        unlink(af->tmp_path);
        release(af);
        return SA_ERR_IO;
    }
    e = fsync_parent(af->path);
    sa_status st = SA_OK;
    if (e) st = sa_err_set(err, SA_ERR_IO, "%s: fsync of its directory: %s", af->path, strerror(e));
    release(af);
    return st;
}

sa_status sa_file_write_atomic(const char *path, const void *data, size_t n, sa_err *err) {
    sa_atomic_file af;
    sa_status st = sa_atomic_open(&af, path, err);
    if (st != SA_OK) return st;
    if ((st = sa_atomic_write(&af, data, n, err)) != SA_OK) {
        sa_atomic_abort(&af);
        return st;
    }
    return sa_atomic_commit(&af, err);
}

sa_status sa_file_read_strbuf(const char *path, sa_strbuf *out, sa_err *err) {
    sa_strbuf_reset(out);
    FILE *f = fopen(path, "rb");
    if (!f) return sa_err_set(err, SA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char buf[65536];
    size_t got;
    sa_status st = SA_OK;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
        if (sa_strbuf_append(out, buf, got) != SA_OK) {
            st = sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory after %zu bytes", path, out->len);
            break;
        }
    }
    if (st == SA_OK && ferror(f))
        st = sa_err_set(err, SA_ERR_IO, "%s: read error after %zu bytes: %s", path, out->len,
                        strerror(errno ? errno : EIO));
    fclose(f);
    if (st == SA_OK && !out->buf) st = sa_strbuf_reserve(out, 0); /* "" for an empty file */
    return st;
}

bool sa_path_exists(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0;
}

bool sa_path_is_dir(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* mkdir one directory; an existing directory counts as success. */
static int make_one(const char *dir, mode_t mode) {
    if (mkdir(dir, mode) == 0) return 0;
    int e = errno;
    if (e == EEXIST) {
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
        return ENOTDIR;
    }
    return e;
}

sa_status sa_mkdir_p(const char *path, mode_t mode, sa_err *err) {
    if (!path || !path[0]) return sa_err_set(err, SA_ERR_INVALID_ARG, "mkdir: empty path");
    char *buf = sa_strdup(path);
    if (!buf) return sa_err_set(err, SA_ERR_NOMEM, "%s: out of memory", path);
    int e = 0;
    /* Walk each '/' after a non-slash: create the prefix before it. */
    for (char *p = buf + 1; *p && !e; p++) {
        if (*p != '/' || p[-1] == '/') continue;
        *p = '\0';
        e = make_one(buf, mode);
        *p = '/';
        if (e) {
            *p = '\0'; /* leave the failing prefix in buf for the message */
            break;
        }
    }
    if (!e) e = make_one(buf, mode);
    sa_status st = SA_OK;
    if (e) {
        if (sa_path_exists(buf) && !sa_path_is_dir(buf))
            st = sa_err_set(err, SA_ERR_IO,
                            "%s: cannot create directory: '%s' exists and is not a directory",
                            path, buf);
        else
            st = sa_err_set(err, SA_ERR_IO, "%s: cannot create directory '%s': %s", path, buf,
                            strerror(e));
    }
    free(buf);
    return st;
}

sa_status sa_path_join(sa_strbuf *out, const char *a, const char *b) {
    sa_strbuf_reset(out);
    size_t na = strlen(a);
    while (*b == '/' && na > 0) b++; /* merge b's leading slashes into a's */
    if (na && *b) {
        while (na > 1 && a[na - 1] == '/') na--;
    }
    if (sa_strbuf_append(out, a, na) != SA_OK) return SA_ERR_NOMEM;
    if (na && *b && a[na - 1] != '/' && sa_strbuf_putc(out, '/') != SA_OK) return SA_ERR_NOMEM;
    if (sa_strbuf_puts(out, b) != SA_OK) return SA_ERR_NOMEM;
    return SA_OK;
}
