/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* French company identifiers (domain.md section 4):
 *  - SIREN: 9 digits, the last one a Luhn check digit;
 *  - SIRET: SIREN + NIC (5 digits), Luhn over all 14 digits, except La Poste
 *    (SIREN 356000000) whose establishments' SIRETs have a digit sum that
 *    is a multiple of 5;
 *  - VAT number: "FR" + 2-digit key + SIREN, key = (12 + 3 * (SIREN mod 97)) mod 97.
 *
 * The parsers accept the groups people type ("123 456 782 00002", "FR 40
 * 303 265 045"), return the normal form (digits only, "FR" + 11 digits) and,
 * on -EINVAL, a message a person can act on in *ret_error (malloc'd, may be
 * NULL). */

#include <stdbool.h>
#include <stddef.h>

#define SIREN_LA_POSTE "356000000"

/* Luhn over n ASCII digits (false if any is not a digit). */
bool luhn_valid(const char *digits, size_t n);

bool siren_valid(const char *s);        /* exactly 9 digits, Luhn */
bool siret_valid(const char *s);        /* exactly 14 digits, Luhn or the La Poste rule */

/* The key of the VAT number of a SIREN (9 digits, not checked): 0..96. */
unsigned vat_fr_key(const char *siren);

int siren_parse(const char *text, char **ret, char **ret_error);
int siret_parse(const char *text, char **ret, char **ret_error);
int vat_fr_parse(const char *text, char **ret, char **ret_error);

/* "FR" + key + siren for a valid SIREN; -EINVAL otherwise. */
int vat_fr_from_siren(const char *siren, char **ret);
