/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Text output helpers shared by jetonctl's verbs. Labels, serials and
 * reader names come from cards and USB devices: never trust them to be
 * free of terminal escape sequences. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define USEC_PER_SEC UINT64_C(1000000)
#define USEC_PER_DAY (UINT64_C(86400) * USEC_PER_SEC)

/* A copy of s fit for a terminal: C0 and C1 control characters, DEL and
 * invalid UTF-8 bytes each become '?'. NULL reads as "". NULL on OOM. */
char *text_sanitize(const char *s);

/* A cell of a table or the value of a field: s sanitised, "-" when s is
 * NULL or empty, so a value never looks missing. NULL on OOM. */
char *text_cell(const char *s);

/* Columns s takes on a terminal, counting one per code point (wide CJK
 * characters are rare in token data and would only misalign a table). */
size_t text_width(const char *s);

/* Prints s sanitised; quoted ("...", with '"' and '\' escaped) when quote
 * is set, or when s is empty or holds a blank, so a line stays parseable
 * by eye. */
void text_print(FILE *f, const char *s, bool quote);

/* A table: columns aligned on the widest cell (two spaces apart, the last
 * one not padded), headers first when legend. cells are n_rows * n_cols,
 * already sanitised; columns past TEXT_TABLE_COLUMNS_MAX are left out. */
#define TEXT_TABLE_COLUMNS_MAX 16
void text_print_table(FILE *f, const char *const *headers, size_t n_cols, char *const *cells, size_t n_rows,
                      bool legend);

/* "PinFlags" -> "pin-flags". NULL on OOM. */
char *text_kebab_case(const char *name);

uint64_t now_usec(void);

/* Formatting of CLOCK_REALTIME microseconds into buf (>= 64 bytes):
 * "2026-11-21 14:03:07 UTC", "2026-11-21" (UTC), local "14:03:07.123",
 * and ISO 8601 "2026-11-21T14:03:07.123Z". */
#define TIME_BUF_MAX 64
const char *format_time_utc(char *buf, uint64_t usec);
const char *format_date_utc(char *buf, uint64_t usec);
const char *format_clock_local(char *buf, uint64_t usec);
const char *format_iso8601(char *buf, uint64_t usec);

/* Whole days from now until t, rounded down: negative once t has passed
 * (an expiry at 23:00 today, seen at 09:00, is 0 days away). */
int64_t days_until(uint64_t t, uint64_t now);
