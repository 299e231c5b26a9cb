/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Building X.509 subject names in the order given, with the encodings the
 * standards require (pure OpenSSL, no token):
 *  - countryName: exactly 2 upper-case letters, PrintableString;
 *  - serialNumber: PrintableString (X.520);
 *  - emailAddress: IA5String (PKCS#9);
 *  - everything else (O, OU, CN, givenName, surname, organizationIdentifier
 *    2.5.4.97, pseudonym, L, ST...): UTF8String.
 * Values must be valid UTF-8, non-empty, without control characters, and
 * within the X.520 upper bounds (CN 64, O 64, OU 64, serialNumber 64, ...). */

#include <openssl/x509.h>

#include "p11-error.h"

typedef enum JP11Attr {
        JP11_ATTR_C,
        JP11_ATTR_O,
        JP11_ATTR_OU,
        JP11_ATTR_CN,
        JP11_ATTR_GIVEN_NAME,
        JP11_ATTR_SURNAME,
        JP11_ATTR_SERIAL_NUMBER,
        JP11_ATTR_ORGANIZATION_IDENTIFIER,
        JP11_ATTR_EMAIL,
        JP11_ATTR_PSEUDONYM,
        JP11_ATTR_L,
        JP11_ATTR_ST,
        JP11_ATTR_TITLE,
        _JP11_ATTR_MAX,
        _JP11_ATTR_INVALID = -1,
} JP11Attr;

/* "C", "O", "OU", "CN", "GN"/"givenName", "SN"/"surname", "serialNumber",
 * "organizationIdentifier", "emailAddress", "pseudonym", "L", "ST", "title". */
JP11Attr jp11_attr_from_string(const char *name);
const char *jp11_attr_to_string(JP11Attr a);

/* Appends one RDN to name (created when *name is NULL). */
int jp11_subject_append(X509_NAME **name, JP11Attr attr, const char *value, JP11Error *error);

/* Parses "C=FR, O=AR24, OU=0002 80948012200013, CN=..." (comma-separated,
 * '\,' escapes a comma) into a name. */
int jp11_subject_parse(const char *text, X509_NAME **ret, JP11Error *error);

/* One-line RFC 2253-like rendering for display (malloc'd). */
char *jp11_subject_to_string(const X509_NAME *name);
