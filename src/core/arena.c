/* arena.c — chunked bump allocator (see arena.h). */
#include "sa/arena.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "sa/alloc.h"
#include "sa/status.h"

struct sa_arena_chunk {
    sa_arena_chunk *next;
    size_t size; /* usable bytes in data */
    alignas(max_align_t) unsigned char data[];
};

void sa_arena_init(sa_arena *a, size_t chunk_bytes) {
    memset(a, 0, sizeof *a);
    a->chunk_bytes = chunk_bytes;
}

/* Padding needed to align (base + off) to `align`, or SIZE_MAX on overflow
 * of the resulting end offset. */
static size_t fit(const sa_arena_chunk *c, size_t off, size_t n, size_t align) {
    uintptr_t p = (uintptr_t)(c->data + off);
    size_t pad = (size_t)(-p & (uintptr_t)(align - 1));
    size_t end;
    if (!sa_size_add(off, pad, &end) || !sa_size_add(end, n, &end) || end > c->size)
        return SIZE_MAX;
    return pad;
}

static void *bump(sa_arena *a, size_t n, size_t pad) {
    void *p = a->cur->data + a->off + pad;
    a->off += pad + n;
    a->used += pad + n;
    return p;
}

void *sa_arena_alloc(sa_arena *a, size_t n, size_t align) {
    if (align == 0) align = alignof(max_align_t);
    if (align & (align - 1)) return NULL;

    size_t pad;
    if (a->cur && (pad = fit(a->cur, a->off, n, align)) != SIZE_MAX) return bump(a, n, pad);

    /* Look for a spare chunk (kept by an earlier reset) that fits; move it
     * right after cur so list order stays the order of use, which is what
     * makes marks valid. Spares that are too small stay further down. */
    sa_arena_chunk **link = a->cur ? &a->cur->next : &a->head;
    for (sa_arena_chunk **pp = link; *pp; pp = &(*pp)->next) {
        sa_arena_chunk *c = *pp;
        if ((pad = fit(c, 0, n, align)) == SIZE_MAX) continue;
        *pp = c->next;
        c->next = *link;
        *link = c;
        a->cur = c;
        a->off = 0;
        return bump(a, n, pad);
    }

    size_t chunk = a->chunk_bytes ? a->chunk_bytes : SA_ARENA_DEFAULT_CHUNK;
    size_t need, total;
    if (!sa_size_add(n, align - 1, &need)) return NULL;
    if (need < chunk) need = chunk;
    if (!sa_size_add(need, sizeof(sa_arena_chunk), &total)) return NULL;
    sa_arena_chunk *c = malloc(total);
    if (!c) return NULL;
    c->size = need;
    c->next = *link;
    *link = c;
    a->cur = c;
    a->off = 0;
    a->reserved += need;
    pad = fit(c, 0, n, align);
    SA_ASSERT(pad != SIZE_MAX);
    return bump(a, n, pad);
}

void *sa_arena_calloc(sa_arena *a, size_t count, size_t size) {
    size_t n;
    if (!sa_size_mul(count, size, &n)) return NULL;
    void *p = sa_arena_alloc(a, n, 0);
    if (p && n) memset(p, 0, n);
    return p;
}

char *sa_arena_strndup(sa_arena *a, const char *s, size_t n) {
    size_t len = strnlen(s, n);
    char *p = sa_arena_alloc(a, len + 1, 1);
    if (!p) return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *sa_arena_strdup(sa_arena *a, const char *s) { return sa_arena_strndup(a, s, SIZE_MAX); }

sa_arena_pos sa_arena_mark(const sa_arena *a) {
    sa_arena_pos m = {a->cur, a->off, a->used};
    return m;
}

void sa_arena_reset(sa_arena *a, sa_arena_pos mark) {
    if (!mark.chunk) {
        /* Taken before the first chunk existed: rewind to the very start. */
        a->cur = NULL;
        a->off = 0;
        a->used = 0;
        return;
    }
    a->cur = mark.chunk;
    a->off = mark.off;
    a->used = mark.used;
}

void sa_arena_free(sa_arena *a) {
    sa_arena_chunk *c = a->head;
    while (c) {
        sa_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    sa_arena_init(a, a->chunk_bytes);
}

size_t sa_arena_bytes_used(const sa_arena *a) { return a->used; }
size_t sa_arena_bytes_reserved(const sa_arena *a) { return a->reserved; }
