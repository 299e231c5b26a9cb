/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What "jetonctl batch" shows: the batch's assignments and readers read
 * out of its D-Bus properties, the assignment table, the block of one
 * progress line per reader that "batch watch" redraws, and its one line
 * per token done or failed. Pure: no bus, no terminal, unit tested.
 * Everything that comes from the bus or a card is sanitised here. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bus-value.h"
#include "progress.h"

/* One entry of Batch.Assignments a(ssssso); strings borrowed. */
typedef struct BatchAssignment {
        const char *reference;
        const char *serial;     /* "" before a token is assigned */
        const char *reader;
        const char *state;      /* queued, initialising, provisioning, done, failed */
        const char *detail;
        const char *job;        /* "/" when none */
} BatchAssignment;

/* One entry of Batch.Readers a(sso); strings borrowed. */
typedef struct BatchReader {
        const char *reader;
        const char *serial;     /* "" when no token */
        const char *job;        /* "/" when none */
} BatchReader;

/* The arrays borrow from v (free() them); an entry of the wrong shape
 * is -EBADMSG. A missing property (v NULL) is an empty array. */
int batch_assignments_from_value(const BusValue *v, BatchAssignment **ret, size_t *ret_n);
int batch_readers_from_value(const BusValue *v, BatchReader **ret, size_t *ret_n);

/* The assignment the token in serial works on now (initialising or
 * provisioning), else its last one; NULL when none. */
const BatchAssignment *batch_assignment_of_token(const BatchAssignment *a, size_t n, const char *serial);

/* One line of the per-reader block. */
typedef struct ReaderLine {
        const char *reader;
        const char *serial;     /* NULL or "": no token */
        const char *reference;  /* the order on the token, NULL when none */
        bool has_job;           /* progress is shown, else note */
        ProgressState progress;
        const char *note;       /* "waiting for a token", ...; NULL: "-" */
} ReaderLine;

/* The line of reader r: its token, the order on it (from a), and the
 * progress of job (the reader's current job's properties; NULL when
 * none) or else a note on what the reader waits for. Borrows. */
void batch_reader_line(const BatchReader *r, const BatchAssignment *a, size_t n, const BusValue *job,
                       ReaderLine *ret);

/* The block, one line per reader ("READER  SERIAL  ORDER  [###  ] 50%
 * generate-key"), the columns aligned across lines and every line cut to
 * columns - 1 (nothing wraps, so a redraw moves up exactly n lines).
 * *ret is an array of n strings (batch_lines_free()). */
int batch_format_readers(const ReaderLine *lines, size_t n, size_t columns, char ***ret);
char **batch_lines_free(char **lines, size_t n);
/* Appends line to the n lines of *lines; takes line, also on failure (a
 * NULL line, as from a failed strdup(), is -ENOMEM). */
int batch_lines_append(char ***lines, size_t *n, char *line);

/* "15:02:11 reader "R" token SERIAL order REF: running generate-key 50%"
 * (local time): what "batch watch" prints per change when its output is
 * not a terminal. NULL on OOM. */
char *batch_format_progress_line(uint64_t usec, const ReaderLine *l);

/* The line of a token done or failed (local time):
 *   15:02:11 done    REF -> token SERIAL (reader "R") key 4287e5a1…
 *   15:02:11 failed  REF -> token SERIAL (reader "R"): DETAIL
 * key_id may be NULL. NULL on OOM. */
char *batch_format_event(uint64_t usec, const BatchAssignment *a, const char *key_id);

/* Whether an assignment in this state is over: done or failed. */
bool batch_assignment_final(const char *state);

/* The assignments as table cells, 5 per row (ORDER TOKEN READER STATE
 * DETAIL), sanitised, "-" for an empty one; free with batch_lines_free(n * 5). */
#define BATCH_ASSIGNMENT_COLUMNS 5
extern const char *const batch_assignment_headers[BATCH_ASSIGNMENT_COLUMNS];
int batch_assignment_cells(const BatchAssignment *a, size_t n, char ***ret);

/* The batch verbs' tables: text_print_table() (text.h). */
void batch_print_table(FILE *f, const char *const *headers, size_t n_cols, char *const *cells, size_t n_rows,
                       bool legend);
