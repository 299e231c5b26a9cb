/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Importing a batch of orders, all or nothing: either every order of the
 * file is valid (order-validate.h) and references are unique within it,
 * and all are returned, or none is and every problem is listed.
 *
 * One naming scheme for both formats, the one of order.h's fields:
 *   reference, ca, product, profile, validity_years,
 *   holder.given_name, holder.surname, holder.email, holder.identifier,
 *   organisation.name, organisation.siren, organisation.siret, organisation.vat
 *
 * CSV (RFC 4180, UTF-8, optional BOM, CRLF or LF): the header row names the
 * columns with these dotted names, in any order; reference, profile,
 * validity_years, holder.given_name and holder.surname are required columns,
 * unknown or repeated columns are refused.
 *
 * JSON: an array of objects, the dotted names as nesting:
 *   [ { "reference": "BD1734971738", "profile": "certinomis-decideur",
 *       "validity_years": 1,
 *       "holder": { "given_name": "Marie", "surname": "Dupont" },
 *       "organisation": { "name": "ACME", "siret": "73282932000074" } } ]
 * Text fields are strings (SIREN/SIRET too: a number would lose leading
 * zeros) or null (absent); validity_years is a number.
 *
 * Values are trimmed of surrounding blanks; an empty value is an absent one.
 * Organisation identifiers are normalised (order_normalize()). With a
 * profile set, the profile must exist, the order is validated against it
 * and ca/product default to the profile's.
 *
 * Problems read "line N, field F: message" (CSV: the physical line the
 * record starts on) and "line N, item [I], field F: message" (JSON: the
 * line the object starts on, I its index from 0); problems of a whole line
 * or of the file leave out the field; syntax errors give the line (and for
 * JSON the column) of the fault itself. */

#include <stddef.h>

#include "order.h"
#include "profile.h"

typedef enum OrderImportFormat {
        ORDER_IMPORT_CSV,
        ORDER_IMPORT_JSON,
} OrderImportFormat;

/* At most this many problems are listed, then a count of the others. */
#define ORDER_IMPORT_PROBLEMS_MAX 100u

/* JSON when the first thing after blanks (and a BOM) is '[', else CSV. */
OrderImportFormat order_import_guess_format(const char *data, size_t len);

/* Returns 0 with *ret_orders (n of them, each owned by the caller, free with
 * order_array_free()), -EINVAL with *ret_errors (a strv, may be NULL), or
 * -ENOMEM. profiles may be NULL (generic validation only). */
int order_import(OrderImportFormat format, const char *data, size_t len, const ProfileSet *profiles,
                 Order ***ret_orders, size_t *ret_n_orders, char ***ret_errors);
/* The same; orders that name no profile get default_profile (a batch's
 * --profile). */
int order_import_with_profile(OrderImportFormat format, const char *data, size_t len, const ProfileSet *profiles,
                              const char *default_profile, Order ***ret_orders, size_t *ret_n_orders,
                              char ***ret_errors);

Order **order_array_free(Order **orders, size_t n);
