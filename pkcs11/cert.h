/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Parsing issued certificates (PEM, DER, PKCS#7 in PEM or DER) and
 * installing them on the token beside their key. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "p11-error.h"
#include "p11-module.h"

typedef struct JP11CertBundle {
        X509 *leaf;                     /* the end-entity certificate */
        STACK_OF(X509) *chain;          /* the other certificates (CAs), may be empty */
} JP11CertBundle;

/* Accepts: one or more PEM "CERTIFICATE" blocks, a PEM "PKCS7" block, a
 * DER certificate, a DER PKCS#7 SignedData. The leaf is the certificate
 * that issued no other in the bundle and is not a CA; a bundle with no
 * such single certificate is refused (JP11_ERR_FORMAT). */
int jp11_cert_bundle_parse(const uint8_t *data, size_t len, JP11CertBundle *ret, JP11Error *error);
void jp11_cert_bundle_clear(JP11CertBundle *b);

typedef struct JP11InstallResult {
        uint8_t id[64];
        size_t id_len;
        bool leaf_written;              /* false: the same certificate was there already */
        unsigned ca_written;            /* authority certificates added */
        unsigned ca_present;            /* authority certificates already there */
} JP11InstallResult;

/* Finds the key whose public key equals the leaf's (JP11_ERR_MISMATCH if
 * none), writes the leaf with that key's CKA_ID, category 1 (token user),
 * CKA_SUBJECT, CKA_ISSUER, CKA_SERIAL_NUMBER, CKA_VALUE, and the label;
 * then the chain's CA certificates with category 2 (authority). A
 * certificate already on the token (same DER) is not written again. The
 * session must be read-write (and logged in when the token requires it). */
int jp11_cert_install(JP11Session *s, const JP11CertBundle *bundle, const char *label,
                      JP11InstallResult *ret, JP11Error *error);
