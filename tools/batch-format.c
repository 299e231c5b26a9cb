/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch-format.h"
#include "text.h"

/* Reader names are long ("Virtual PCD 0 00 01", "Feitian bR301 [CCID]
 * 00 00"): past this they are cut, so the bar keeps its room. */
#define READER_WIDTH_MAX 28
#define SERIAL_WIDTH_MAX 20
#define REFERENCE_WIDTH_MAX 20
#define KEY_SHOWN 8

#define MAX(a, b) ((a) > (b) ? (a) : (b))

const char *const batch_assignment_headers[BATCH_ASSIGNMENT_COLUMNS] = {
        "ORDER", "TOKEN", "READER", "STATE", "DETAIL",
};

/* The strings of a struct entry, all of them strings. */
static bool struct_strings(const BusValue *v, size_t n, const char **out) {
        if (!v || v->type != BUS_VALUE_ARRAY || v->n != n)
                return false;
        for (size_t i = 0; i < n; i++) {
                out[i] = bus_value_string(v->items[i]);
                if (!out[i])
                        return false;
        }
        return true;
}

int batch_assignments_from_value(const BusValue *v, BatchAssignment **ret, size_t *ret_n) {
        _cleanup_free_ BatchAssignment *a = NULL;
        size_t n = bus_value_count(v);

        if (v && v->type != BUS_VALUE_ARRAY)
                return -EBADMSG;
        a = calloc(n ?: 1, sizeof(BatchAssignment));
        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *s[6];

                if (!struct_strings(v->items[i], 6, s))
                        return -EBADMSG;
                a[i] = (BatchAssignment) {
                        .reference = s[0], .serial = s[1], .reader = s[2], .state = s[3], .detail = s[4],
                        .job = s[5],
                };
        }
        *ret = TAKE_PTR(a);
        *ret_n = n;
        return 0;
}

int batch_readers_from_value(const BusValue *v, BatchReader **ret, size_t *ret_n) {
        _cleanup_free_ BatchReader *r = NULL;
        size_t n = bus_value_count(v);

        if (v && v->type != BUS_VALUE_ARRAY)
                return -EBADMSG;
        r = calloc(n ?: 1, sizeof(BatchReader));
        if (!r)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *s[3];

                if (!struct_strings(v->items[i], 3, s))
                        return -EBADMSG;
                r[i] = (BatchReader) { .reader = s[0], .serial = s[1], .job = s[2] };
        }
        *ret = TAKE_PTR(r);
        *ret_n = n;
        return 0;
}

bool batch_assignment_final(const char *state) {
        return state && (streq(state, "done") || streq(state, "failed"));
}

const BatchAssignment *batch_assignment_of_token(const BatchAssignment *a, size_t n, const char *serial) {
        const BatchAssignment *last = NULL;

        if (!serial || !*serial)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                if (!streq(a[i].serial, serial))
                        continue;
                if (streq(a[i].state, "initialising") || streq(a[i].state, "provisioning"))
                        return a + i;
                last = a + i;
        }
        return last;
}

void batch_reader_line(const BatchReader *r, const BatchAssignment *a, size_t n, const BusValue *job,
                       ReaderLine *ret) {
        const BatchAssignment *mine = batch_assignment_of_token(a, n, r->serial);
        uint64_t percent = 0;

        *ret = (ReaderLine) {
                .reader = r->reader,
                .serial = r->serial,
                .reference = mine ? mine->reference : NULL,
                .has_job = job != NULL,
        };
        if (job) {
                (void) bus_value_get_uint(job, "Percent", &percent);
                ret->progress = (ProgressState) {
                        .state = bus_value_get_string(job, "State"),
                        .stage = bus_value_get_string(job, "Stage"),
                        .percent = percent > 100 ? 100 : (unsigned) percent,
                };
        } else if (!r->serial || !*r->serial)
                ret->note = "waiting for a token";
        else if (!mine)
                ret->note = "no order assigned";
        else if (streq(mine->state, "done"))
                ret->note = "done: take the token out";
        else if (streq(mine->state, "failed"))
                ret->note = "failed: take the token out";
        else
                ret->note = mine->state;
}

char **batch_lines_free(char **lines, size_t n) {
        if (!lines)
                return NULL;
        for (size_t i = 0; i < n; i++)
                free(lines[i]);
        free(lines);
        return NULL;
}

int batch_lines_append(char ***lines, size_t *n, char *line) {
        char **bigger = line ? realloc(*lines, (*n + 1) * sizeof(char *)) : NULL;

        if (!bigger) {
                free(line);
                return -ENOMEM;
        }
        *lines = bigger;
        (*lines)[(*n)++] = line;
        return 0;
}

/* Cuts s in place to at most width columns, on a character boundary. */
static void text_cut(char *s, size_t width) {
        size_t w = 0;

        for (char *p = s; *p; p++)
                if ((*p & 0xC0) != 0x80 && w++ == width) {
                        *p = '\0';
                        return;
                }
}

/* s sanitised, "-" when empty, cut to max columns. */
static char *cell(const char *s, size_t max) {
        char *t = text_cell(s);

        if (t && max > 0)
                text_cut(t, max);
        return t;
}

static void pad(FILE *f, size_t n) {
        for (size_t i = 0; i < n; i++)
                fputc(' ', f);
}

static char *reader_line(const ReaderLine *l, size_t rw, size_t sw, size_t fw, size_t columns) {
        _cleanup_free_ char *reader = cell(l->reader, READER_WIDTH_MAX);
        _cleanup_free_ char *serial = cell(l->serial, SERIAL_WIDTH_MAX);
        _cleanup_free_ char *ref = cell(l->reference, REFERENCE_WIDTH_MAX);
        _cleanup_free_ char *note = cell(l->note, 0);
        char *buf = NULL, bar[512];
        size_t size = 0, prefix = rw + 2 + sw + 2 + fw + 2;
        FILE *f;

        if (!reader || !serial || !ref || !note)
                return NULL;
        f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        fputs(reader, f);
        pad(f, rw - text_width(reader) + 2);
        fputs(serial, f);
        pad(f, sw - text_width(serial) + 2);
        fputs(ref, f);
        pad(f, fw - text_width(ref) + 2);
        if (!l->has_job)
                fputs(note, f);
        else if (progress_format_bar(&l->progress, columns > prefix ? columns - prefix : 0, bar, sizeof(bar)))
                fputs(bar, f);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        /* Nothing into the last column: a line that wrapped would make the
         * redraw move up too few lines. */
        text_cut(buf, columns > 1 ? columns - 1 : 1);
        /* No trailing blanks (a line with nothing after the order). */
        for (size_t k = strlen(buf); k > 0 && buf[k - 1] == ' '; k--)
                buf[k - 1] = '\0';
        return buf;
}

int batch_format_readers(const ReaderLine *lines, size_t n, size_t columns, char ***ret) {
        char **out;
        size_t rw = 0, sw = 0, fw = 0;

        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *reader = cell(lines[i].reader, READER_WIDTH_MAX);
                _cleanup_free_ char *serial = cell(lines[i].serial, SERIAL_WIDTH_MAX);
                _cleanup_free_ char *ref = cell(lines[i].reference, REFERENCE_WIDTH_MAX);

                if (!reader || !serial || !ref)
                        return -ENOMEM;
                rw = MAX(rw, text_width(reader));
                sw = MAX(sw, text_width(serial));
                fw = MAX(fw, text_width(ref));
        }
        out = calloc(n ?: 1, sizeof(char *));
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                out[i] = reader_line(lines + i, rw, sw, fw, columns);
                if (!out[i]) {
                        batch_lines_free(out, n);
                        return -ENOMEM;
                }
        }
        *ret = out;
        return 0;
}

static const char *clock_seconds(char buf[static 16], uint64_t usec) {
        time_t t = (time_t) (usec / USEC_PER_SEC);
        struct tm tm;

        if (!localtime_r(&t, &tm) || strftime(buf, 16, "%H:%M:%S", &tm) == 0)
                return "??:??:??";
        return buf;
}

char *batch_format_progress_line(uint64_t usec, const ReaderLine *l) {
        _cleanup_free_ char *reader = text_sanitize(l->reader), *serial = cell(l->serial, 0),
                *ref = cell(l->reference, 0), *note = cell(l->note, 0);
        char clock[16], what[256];
        char *s;

        if (!reader || !serial || !ref || !note)
                return NULL;
        if (l->has_job && !progress_format_line(&l->progress, what, sizeof(what)))
                return NULL;
        if (asprintf(&s, "%s reader \"%s\" token %s order %s: %s", clock_seconds(clock, usec), reader, serial,
                     ref, l->has_job ? what : note) < 0)
                return NULL;
        return s;
}

char *batch_format_event(uint64_t usec, const BatchAssignment *a, const char *key_id) {
        _cleanup_free_ char *ref = cell(a->reference, 0), *serial = cell(a->serial, 0),
                *reader = text_sanitize(a->reader), *detail = cell(a->detail, 0), *key = cell(key_id, 0);
        bool done = streq(a->state ?: "", "done");
        char clock[16];
        char *s;
        int r;

        if (!ref || !serial || !reader || !detail || !key)
                return NULL;
        /* The key ID's first bytes tell the tokens of a batch apart; the
         * whole ID is in the manifest and "order show". */
        if (text_width(key) > KEY_SHOWN) {
                char *longer;

                text_cut(key, KEY_SHOWN);
                longer = realloc(key, strlen(key) + sizeof("…"));
                if (!longer)
                        return NULL;
                key = longer;
                strcat(key, "…");
        }
        if (done)
                r = asprintf(&s, "%s done    %s -> token %s (reader \"%s\")%s%s", clock_seconds(clock, usec), ref,
                             serial, reader, key_id && *key_id ? " key " : "", key_id && *key_id ? key : "");
        else
                r = asprintf(&s, "%s %-7s %s -> token %s (reader \"%s\"): %s", clock_seconds(clock, usec),
                             streq(a->state ?: "", "failed") ? "failed" : "?", ref, serial, reader, detail);
        if (r < 0)
                return NULL;
        return s;
}

int batch_assignment_cells(const BatchAssignment *a, size_t n, char ***ret) {
        char **cells = calloc(n * BATCH_ASSIGNMENT_COLUMNS ?: 1, sizeof(char *));

        if (!cells)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *v[BATCH_ASSIGNMENT_COLUMNS] = {
                        a[i].reference, a[i].serial, a[i].reader, a[i].state, a[i].detail,
                };

                for (size_t j = 0; j < BATCH_ASSIGNMENT_COLUMNS; j++) {
                        char **c = cells + i * BATCH_ASSIGNMENT_COLUMNS + j;

                        *c = cell(v[j], 0);
                        if (!*c) {
                                batch_lines_free(cells, n * BATCH_ASSIGNMENT_COLUMNS);
                                return -ENOMEM;
                        }
                }
        }
        *ret = cells;
        return 0;
}

void batch_print_table(FILE *f, const char *const *headers, size_t n_cols, char *const *cells, size_t n_rows,
                       bool legend) {
        text_print_table(f, headers, n_cols, cells, n_rows, legend);
}
