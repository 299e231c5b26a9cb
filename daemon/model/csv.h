/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* An RFC 4180 reader: fields separated by ',', records by CRLF or LF,
 * fields may be quoted with '"' (then holding ',', line breaks and '""' for
 * a quote). A UTF-8 byte order mark at the very start is skipped, blank
 * lines are skipped. Fields are returned as they are (no trimming, no
 * UTF-8 check: that is the caller's business). */

#include <stddef.h>

typedef struct Csv {
        const char *data;
        size_t len, pos;
        unsigned line;          /* physical line of data[pos], from 1 */
} Csv;

#define CSV_FIELDS_MAX 1024u

void csv_init(Csv *c, const char *data, size_t len);

typedef struct CsvRecord {
        char **fields;          /* n_fields NUL-terminated copies */
        size_t n_fields;
        unsigned line;          /* the physical line the record starts on */
} CsvRecord;

void csv_record_clear(CsvRecord *r);

/* Reads the next record into *ret (cleared first). Returns 1 on a record, 0
 * at the end of the data, -EINVAL for a malformed record (ret->line set,
 * *ret_error "line N: ..."; the reader has skipped to the next line, or to
 * the end for an unterminated quote), -ENOMEM. */
int csv_read(Csv *c, CsvRecord *ret, char **ret_error);
