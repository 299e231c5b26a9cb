/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Listing key and certificate objects. Private keys are only visible on a
 * logged-in session for most tokens; public keys and certificates usually
 * are public. Each list is a malloc'd array freed with its _free function. */

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "p11-error.h"
#include "p11-module.h"

#define JP11_ID_MAX 64

typedef enum JP11KeyType {
        JP11_KEY_RSA,
        JP11_KEY_EC,
        JP11_KEY_OTHER,
} JP11KeyType;

typedef enum JP11Curve {
        JP11_CURVE_NONE = 0,
        JP11_CURVE_P256,
        JP11_CURVE_P384,
        JP11_CURVE_P521,
        JP11_CURVE_OTHER,
} JP11Curve;

typedef struct JP11Key {
        CK_OBJECT_HANDLE handle;
        bool is_private;                /* CKO_PRIVATE_KEY vs CKO_PUBLIC_KEY */
        JP11KeyType type;
        unsigned bits;                  /* RSA modulus size or EC field size */
        JP11Curve curve;
        uint8_t id[JP11_ID_MAX];
        size_t id_len;
        char label[256];
        /* attributes; for public keys only 'local' is meaningful */
        bool local, sensitive, always_sensitive, extractable, never_extractable;
        bool sign, decrypt, unwrap, derive, always_authenticate;
} JP11Key;

typedef struct JP11Certificate {
        CK_OBJECT_HANDLE handle;
        uint8_t id[JP11_ID_MAX];
        size_t id_len;
        char label[256];
        unsigned long category;         /* CKA_CERTIFICATE_CATEGORY, 0 if unset */
        char subject[512];              /* RFC 2253 style one-line */
        char issuer[512];
        char serial[128];               /* hex */
        time_t not_before, not_after;
        uint8_t *der;                   /* CKA_VALUE */
        size_t der_len;
} JP11Certificate;

int jp11_list_keys(JP11Session *s, JP11Key **ret, size_t *ret_n, JP11Error *error);
void jp11_keys_free(JP11Key *keys, size_t n);

int jp11_list_certificates(JP11Session *s, JP11Certificate **ret, size_t *ret_n, JP11Error *error);
void jp11_certificates_free(JP11Certificate *certs, size_t n);

/* "RSA", "EC", "P-256", ... for display. */
const char *jp11_key_type_name(JP11KeyType t);
const char *jp11_curve_name(JP11Curve c);

/* Reads the public key of a key object (public key object preferred, else
 * CKA_PUBLIC_KEY_INFO, else rebuilt from modulus/exponent or EC params
 * and point) as an OpenSSL EVP_PKEY. */
typedef struct evp_pkey_st EVP_PKEY;
int jp11_read_public_key(JP11Session *s, CK_OBJECT_HANDLE key, EVP_PKEY **ret, JP11Error *error);
/* Finds the private (is_private) or public key with this CKA_ID. */
int jp11_find_key_by_id(JP11Session *s, bool is_private, const uint8_t *id, size_t id_len,
                        CK_OBJECT_HANDLE *ret, JP11Error *error);
