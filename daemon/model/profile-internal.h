/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared by the profile parser and the renderer. */

#include "order.h"

#define PROFILE_YEARS_MAX 3     /* RGS: holder certificates live at most 3 years */

/* Walks a subject template: text, "$$" for '$', ${field} for an order
 * field. With o == NULL it only checks it; otherwise the expansion goes
 * to *ret (may be NULL). *ret_fields gets the bit mask of the fields it
 * names and *ret_missing the first of them that o leaves empty (else
 * _ORDER_FIELD_INVALID). -EINVAL with *ret_error on a syntax error or an
 * unknown field, -ENOMEM. */
int profile_template_expand(const char *tpl, const Order *o, char **ret, unsigned *ret_fields,
                            OrderField *ret_missing, char **ret_error);
