/* fuzz_jsonl.c — libFuzzer target for the JSON layer, the JSONL reader, the
 * record parsers/reader and the journal's open-time repair.
 *
 * The input is written to a memfd and read back through /proc/self/fd/N, so
 * the real file-reading paths run. Every parsed object is tried as every
 * record format; records that parse are exported in every writable format,
 * and our own format must round-trip byte-identically (parse -> write ->
 * parse -> write). A violated invariant traps.
 *
 *     make fuzz && build-fuzz/fuzz_jsonl -max_total_time=60 corpus/
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sa/journal.h"
#include "sa/json.h"
#include "sa/jsonl.h"
#include "sa/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ours_roundtrip(const sa_record *rec) {
    sa_strbuf a = {0}, b = {0};
    if (sa_record_write(&a, rec, SA_RECORD_FORMAT_OURS, NULL) != SA_OK) __builtin_trap();
    json_t *obj;
    if (sa_json_parse(a.buf, a.len, "rt", &obj, NULL) != SA_OK) __builtin_trap();
    sa_record back;
    sa_record_init(&back);
    /* Our writer never emits a field over the default cap the fuzzer uses. */
    sa_record_limits big = {.max_field_bytes = (size_t)1 << 30, .max_turns = 1u << 30};
    if (sa_record_from_json(obj, &big, &back, NULL) != SA_OK) __builtin_trap();
    if (sa_record_write(&b, &back, SA_RECORD_FORMAT_OURS, NULL) != SA_OK) __builtin_trap();
    if (a.len != b.len || memcmp(a.buf, b.buf, a.len) != 0) __builtin_trap();
    json_decref(obj);
    sa_record_free(&back);
    sa_strbuf_free(&a);
    sa_strbuf_free(&b);
}

static void try_records(const json_t *obj) {
    sa_record rec;
    sa_record_init(&rec);
    sa_record_limits lim = {.max_field_bytes = 4096, .max_turns = 64};
    sa_record_format d;
    (void)sa_record_detect(obj, &d, NULL);
    for (int f = SA_RECORD_FORMAT_OURS; f < SA_RECORD_FORMAT_COUNT; f++) {
        if (sa_record_parse(obj, (sa_record_format)f, &lim, NULL, &rec, NULL) != SA_OK) {
            if (rec.instruction || rec.meta) __builtin_trap(); /* half-filled on error */
            continue;
        }
        if (!rec.id || strlen(rec.id) == 0 || !rec.instruction || !rec.output) __builtin_trap();
        ours_roundtrip(&rec);
        for (int g = SA_RECORD_FORMAT_ALPACA; g <= SA_RECORD_FORMAT_MESSAGES; g++) {
            sa_strbuf sb = {0};
            if (sa_record_write(&sb, &rec, (sa_record_format)g, NULL) == SA_OK) {
                json_t *back;
                if (sa_json_parse(sb.buf, sb.len, "x", &back, NULL) != SA_OK) __builtin_trap();
                sa_record r2;
                sa_record_init(&r2);
                /* The export must read back as the same format. */
                if (sa_record_parse(back, (sa_record_format)g, NULL, NULL, &r2, NULL) != SA_OK)
                    __builtin_trap();
                sa_record_free(&r2);
                json_decref(back);
            }
            sa_strbuf_free(&sb);
        }
    }
    sa_record_free(&rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1u << 20)) return 0;
    /* The whole input as one JSON document. */
    json_t *doc;
    if (sa_json_parse((const char *)data, size, "fuzz", &doc, NULL) == SA_OK) {
        sa_strbuf sb = {0};
        (void)sa_json_dump_line(doc, &sb, NULL);
        sa_strbuf_free(&sb);
        json_decref(doc);
    }

    int fd = memfd_create("fuzz_jsonl", 0);
    if (fd < 0) return 0;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

    /* JSONL reader, small line limit so over-long lines are exercised. */
    sa_jsonl_opts jo = {.max_line_bytes = 512 + (size ? data[0] : 0) * 8};
    sa_jsonl_reader r;
    if (sa_jsonl_reader_open(&r, path, &jo, NULL) == SA_OK) {
        json_t *obj;
        uint64_t line, prev = 0;
        while (sa_jsonl_next(&r, &obj, &line, NULL) == SA_OK) {
            if (!json_is_object(obj) || line <= prev) __builtin_trap();
            prev = line;
            try_records(obj);
            json_decref(obj);
        }
        const sa_jsonl_stats *s = &r.stats;
        if (s->records + s->blank + sa_jsonl_stats_bad(s) != s->lines) __builtin_trap();
        if (s->bytes != size) __builtin_trap();
        sa_jsonl_reader_close(&r);
    }

    /* The same bytes as one JSON array, streamed item by item. */
    jo.json_array = true;
    if (sa_jsonl_reader_open(&r, path, &jo, NULL) == SA_OK) {
        json_t *obj;
        uint64_t line, prev = 0;
        while (sa_jsonl_next(&r, &obj, &line, NULL) == SA_OK) {
            if (!json_is_object(obj) || line < prev) __builtin_trap();
            prev = line;
            json_decref(obj);
        }
        if (r.stats.bytes > size) __builtin_trap();
        sa_jsonl_reader_close(&r);
    }

    /* Record reader with detection. */
    sa_record_reader_opts ro = {.format = SA_RECORD_FORMAT_AUTO,
                                .max_line_bytes = 4096,
                                .limits = {.max_field_bytes = 2048, .max_turns = 32}};
    sa_record_reader rr;
    if (sa_record_reader_open(&rr, path, &ro, NULL) == SA_OK) {
        sa_record rec;
        sa_record_init(&rec);
        while (sa_record_reader_next(&rr, &rec, NULL) == SA_OK)
            if (!rec.id || !rec.instruction || !rec.output) __builtin_trap();
        sa_record_free(&rec);
        sa_record_reader_close(&rr);
    }

    /* Journal open: repairs the tail, indexes ids; afterwards the file
     * must end with '\n' (or be empty) and a reopen must change nothing. */
    sa_journal_opts jopts = {.fsync_every_n = 0, .fsync_every_ms = 0, .max_line_bytes = 4096};
    sa_journal j;
    if (sa_journal_open(&j, path, &jopts, NULL) == SA_OK) {
        uint64_t n = sa_journal_count(&j);
        json_t *o = json_pack("{s:s}", "id", "fuzz-new-id-\x01");
        if (o) {
            sa_status s = sa_journal_append(&j, o, NULL);
            if (s == SA_OK && !sa_journal_has(&j, "fuzz-new-id-\x01")) __builtin_trap();
            if (s == SA_OK) n++;
            json_decref(o);
        }
        sa_journal_close(&j, NULL);
        off_t end = lseek(fd, 0, SEEK_END);
        char last = '\n';
        if (end > 0 && pread(fd, &last, 1, end - 1) != 1) __builtin_trap();
        if (last != '\n') __builtin_trap();
        if (sa_journal_open(&j, path, &jopts, NULL) != SA_OK) __builtin_trap();
        if (j.stats.torn_bytes_dropped || j.stats.torn_line_kept) __builtin_trap();
        if (sa_journal_count(&j) != n) __builtin_trap();
        sa_journal_close(&j, NULL);
    }
    close(fd);
    return 0;
}
