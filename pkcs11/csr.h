/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* PKCS#10 requests signed on the token. The request info is built and
 * DER-encoded with OpenSSL, the signature is made by the token's private
 * key (CKM_SHA256_RSA_PKCS & co for RSA; CKM_ECDSA over our own digest for
 * EC, its raw r||s re-encoded as an ECDSA-Sig-Value), and the finished
 * request is verified against the token's public key before it is
 * returned. Keys with CKA_ALWAYS_AUTHENTICATE get a context-specific login
 * with the same PIN object after C_SignInit. */

#include <stdbool.h>

#include <openssl/x509.h>

#include "p11-error.h"
#include "p11-module.h"
#include "p11-pin.h"

typedef enum JP11Hash {
        JP11_HASH_SHA256,
        JP11_HASH_SHA384,
        JP11_HASH_SHA512,
        JP11_HASH_SHA1,         /* exists only to be refused */
        _JP11_HASH_INVALID = -1,
} JP11Hash;

/* keyUsage bits, as in RFC 5280 (bit 0 = digitalSignature). */
typedef enum JP11KeyUsage {
        JP11_KU_DIGITAL_SIGNATURE = 1 << 0,
        JP11_KU_NON_REPUDIATION   = 1 << 1,
        JP11_KU_KEY_ENCIPHERMENT  = 1 << 2,
        JP11_KU_DATA_ENCIPHERMENT = 1 << 3,
        JP11_KU_KEY_AGREEMENT     = 1 << 4,
} JP11KeyUsage;

typedef struct JP11CsrSpec {
        const X509_NAME *subject;       /* built with subject.h */
        JP11Hash hash;
        unsigned key_usage;             /* JP11KeyUsage bits; 0 = no extension */
        bool key_usage_critical;
        const char *const *extended_key_usage;   /* NULL-terminated OIDs or short names, may be NULL */
        const char *const *certificate_policies; /* NULL-terminated OIDs, may be NULL */
        const char *email_san;          /* optional rfc822Name subjectAltName */
        const JP11Pin *context_pin;     /* for CKA_ALWAYS_AUTHENTICATE keys, else NULL */
} JP11CsrSpec;

/* "sha256", "SHA-256", ... */
JP11Hash jp11_hash_from_string(const char *text);
const char *jp11_hash_to_string(JP11Hash h);
/* Parses "nonRepudiation,digitalSignature" into bits. */
int jp11_key_usage_parse(const char *text, unsigned *ret, JP11Error *error);

/* Builds and signs the request with the private key whose CKA_ID is id.
 * Refuses SHA-1 (JP11_ERR_POLICY). The session must be logged in. */
int jp11_csr_create(JP11Session *s, const uint8_t *id, size_t id_len, const JP11CsrSpec *spec,
                    X509_REQ **ret, JP11Error *error);

/* PEM text of a request (malloc'd, NUL-terminated). */
int jp11_csr_to_pem(X509_REQ *req, char **ret, JP11Error *error);

/* Pure helper: DER ECDSA-Sig-Value from a raw r||s of 2*n bytes. */
int jp11_ecdsa_raw_to_der(const uint8_t *raw, size_t raw_len, uint8_t **ret, size_t *ret_len,
                          JP11Error *error);
