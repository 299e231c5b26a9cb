/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Checking an order before it is accepted: every problem is reported with
 * the field it concerns (order.h's field names), so that an import or a
 * D-Bus call can tell a person exactly what to fix.
 *
 * Generic rules: reference non-empty, [A-Za-z0-9._-], at most 64 bytes;
 * validity 1..3 years; holder given name and surname present (the CN is
 * "given name + surname", EN 319 412-2; pseudonym orders are not
 * supported); email, when given, looks like local@domain.tld; identifier,
 * when given, has the EN 319 412-1 semantics form "XXXCC-value" (IDCFR-...,
 * PASFR-...) in PrintableString characters; SIREN, SIRET and VAT, when
 * given, pass their checks and agree with each other.
 * With a profile: the fields its subject needs are present, the validity is
 * one it allows. */

#include "order.h"
#include "profile.h"

/* Called once per problem; field is order_field_to_string() of the field. */
typedef void (*OrderProblemFunc)(OrderField field, const char *message, void *userdata);

/* Puts the organisation identifiers in their normal form (spaces removed,
 * VAT upper-cased) and fills the SIREN from the SIRET when absent. Values
 * that do not parse are left as they are for order_validate() to report.
 * Returns 0 or -ENOMEM. */
int order_normalize(Order *o);

/* Returns 0 when the order is fine, -EINVAL after reporting each problem
 * through report (which may be NULL), -ENOMEM. profile may be NULL. */
int order_validate(const Order *o, const Profile *profile, OrderProblemFunc report, void *userdata);

bool order_reference_valid(const char *s);
bool order_email_valid(const char *s);
bool order_identifier_valid(const char *s);
