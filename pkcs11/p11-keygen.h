/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Key generation on the token. The private key is a signature-only key:
 * CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, CKA_SIGN true; CKA_EXTRACTABLE,
 * CKA_DECRYPT, CKA_UNWRAP, CKA_DERIVE false (SoftHSM would enable them
 * otherwise). The public key gets CKA_VERIFY only. CKA_ID is the SHA-1 of
 * the public key's BIT STRING (RFC 5280 key identifier, method 1), made
 * unique on the token. After generation CKA_LOCAL, CKA_ALWAYS_SENSITIVE
 * and CKA_NEVER_EXTRACTABLE are read back as the evidence of on-device
 * generation. The session must be read-write and logged in. */

#include "p11-error.h"
#include "p11-module.h"
#include "p11-objects.h"

typedef struct JP11KeySpec {
        JP11KeyType type;       /* JP11_KEY_RSA or JP11_KEY_EC */
        unsigned bits;          /* RSA: 2048, 3072, 4096 */
        JP11Curve curve;        /* EC: P-256, P-384 */
} JP11KeySpec;

typedef struct JP11KeyEvidence {
        bool local;             /* CKA_LOCAL of the private key */
        bool always_sensitive;
        bool never_extractable;
} JP11KeyEvidence;

typedef struct JP11GeneratedKey {
        CK_OBJECT_HANDLE private_key, public_key;
        uint8_t id[20];
        size_t id_len;
        EVP_PKEY *public;       /* owned; freed by jp11_generated_key_clear */
        JP11KeyEvidence evidence;
} JP11GeneratedKey;

/* Refuses RSA < 2048 (JP11_ERR_POLICY) and unknown curves. */
int jp11_key_spec_check(const JP11KeySpec *spec, JP11Error *error);
/* Parses "rsa2048", "rsa3072", "rsa4096", "p256", "p384" (also "ec-p256",
 * "secp256r1", "prime256v1"). */
int jp11_key_spec_parse(const char *text, JP11KeySpec *ret, JP11Error *error);

int jp11_generate_key_pair(JP11Session *s, const JP11KeySpec *spec, const char *label,
                           JP11GeneratedKey *ret, JP11Error *error);
void jp11_generated_key_clear(JP11GeneratedKey *k);

/* SHA-1 over the subjectPublicKey BIT STRING content of pkey (pure). */
int jp11_key_id_from_public(EVP_PKEY *pkey, uint8_t id[20], JP11Error *error);

/* Reads the evidence attributes of a private key. */
int jp11_read_key_evidence(JP11Session *s, CK_OBJECT_HANDLE private_key, JP11KeyEvidence *ret,
                           JP11Error *error);
