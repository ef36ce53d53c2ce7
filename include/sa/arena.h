/* arena.h — bump allocator over a list of chunks, for per-step scratch.
 *
 * Purpose: hot loops (a decode step, a training step, parsing one record)
 * need many short-lived buffers. Carving them from an arena costs a pointer
 * bump, and sa_arena_reset(a, mark) releases them all at once while keeping
 * the chunks, so after the first step the loop does no malloc at all.
 *
 * Ownership: the arena owns its chunks; pointers it returns stay valid until
 * a reset to an earlier mark or sa_arena_free. Never free() them.
 * A zero-initialised sa_arena ({0}) is valid and uses the default chunk size.
 *
 * Marks nest like a stack: resetting to a mark invalidates every pointer and
 * every mark taken after it.
 *
 * Not thread-safe: one arena per thread (or per step owner).
 *
 * Usage:
 *     sa_arena a;
 *     sa_arena_init(&a, 1 << 20);
 *     for (step...) {
 *         sa_arena_pos m = sa_arena_mark(&a);
 *         float *tmp = sa_arena_alloc(&a, n * sizeof *tmp, 64);
 *         ...
 *         sa_arena_reset(&a, m);
 *     }
 *     sa_arena_free(&a);
 */
#ifndef SA_ARENA_H
#define SA_ARENA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SA_ARENA_DEFAULT_CHUNK ((size_t)64 * 1024)

typedef struct sa_arena_chunk sa_arena_chunk; /* internal */

typedef struct sa_arena {
    sa_arena_chunk *head; /* all chunks, in the order they are used */
    sa_arena_chunk *cur;  /* chunk being carved; chunks after it are spares */
    size_t off;           /* bytes used in cur */
    size_t used;          /* bytes handed out (with alignment padding) since init */
    size_t reserved;      /* bytes of chunk capacity held */
    size_t chunk_bytes;   /* size of a regular chunk (0 = SA_ARENA_DEFAULT_CHUNK) */
} sa_arena;

/* A position to return to (from sa_arena_mark); plain value, cheap to copy. */
typedef struct sa_arena_pos {
    sa_arena_chunk *chunk;
    size_t off;
    size_t used;
} sa_arena_pos;

/* chunk_bytes: size of each regular chunk (0 = default). Allocates nothing. */
void sa_arena_init(sa_arena *a, size_t chunk_bytes);

/* n bytes aligned to `align` (a power of two; 0 means alignof(max_align_t)).
 * Requests larger than a chunk get a chunk of their own. Returns NULL when
 * out of memory, on size overflow, or when align is not a power of two.
 * n == 0 returns a valid pointer that must not be dereferenced. */
void *sa_arena_alloc(sa_arena *a, size_t n, size_t align);
/* count*size zeroed bytes (overflow-checked), default alignment. */
void *sa_arena_calloc(sa_arena *a, size_t count, size_t size);
/* Copy of the first min(strlen(s), n) bytes of s, NUL-terminated. */
char *sa_arena_strndup(sa_arena *a, const char *s, size_t n);
char *sa_arena_strdup(sa_arena *a, const char *s);

/* Current position, to pass to sa_arena_reset later. */
sa_arena_pos sa_arena_mark(const sa_arena *a);
/* Release everything allocated after `mark`; chunks are kept for reuse.
 * A zero mark ({0}) resets the whole arena. */
void sa_arena_reset(sa_arena *a, sa_arena_pos mark);

/* Free every chunk; the arena is empty and reusable (chunk size kept). */
void sa_arena_free(sa_arena *a);

/* Bytes handed out since init or the last reset (padding included). */
size_t sa_arena_bytes_used(const sa_arena *a);
/* Bytes of chunk memory currently held (grows, never shrinks until free). */
size_t sa_arena_bytes_reserved(const sa_arena *a);

#ifdef __cplusplus
}
#endif
#endif
