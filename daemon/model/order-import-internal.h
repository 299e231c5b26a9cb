/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the CSV and JSON importers share: collecting orders and problems,
 * setting fields from raw text, validation, duplicate references. */

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"
#include "order-import.h"

typedef struct Importer {
        OrderImportFormat format;
        const ProfileSet *profiles;
        const char *default_profile;    /* for orders that name none, or NULL */

        Order **orders;
        unsigned *lines;        /* where each order starts */
        size_t *indices;        /* JSON: each order's array index */
        size_t n_orders, size;

        char **errors;
        size_t n_errors, errors_size;
        size_t n_problems;      /* listed or not */
        bool oom;
} Importer;

/* One order being read: a CSV record or a JSON array item. */
typedef struct ImportItem {
        Importer *importer;
        Order *order;
        unsigned line;
        size_t index;           /* JSON: the array index */
        unsigned reported;      /* OrderField bits that already have a problem */
} ImportItem;

/* A problem of the file or of one line (field may be NULL). */
_printf_(5, 6) void import_problem(Importer *im, unsigned line, const ImportItem *item, const char *field,
                                   const char *fmt, ...);
/* A problem of an item's field. */
_printf_(3, 4) void import_field_problem(ImportItem *item, OrderField f, const char *fmt, ...);
/* A message already formatted ("line N: ..."). */
void import_problem_text(Importer *im, const char *text);

/* Starts an item (a new order). Returns 0 or -ENOMEM. */
int import_item_begin(Importer *im, ImportItem *item, unsigned line, size_t index);
/* Sets a text field from n raw bytes: NUL and UTF-8 checked, trimmed. */
void import_item_set_text(ImportItem *item, OrderField f, const char *raw, size_t n);
void import_item_set_years(ImportItem *item, unsigned years);
/* Validates the item's order and keeps it. */
void import_item_end(ImportItem *item);

int import_csv(Importer *im, const char *data, size_t len);
int import_json(Importer *im, const char *data, size_t len);
