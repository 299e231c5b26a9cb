/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* _cleanup_ helpers for the OpenSSL types the token library uses (private
 * header: OpenSSL has no cleanup attributes of its own). */

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_NAME *, X509_NAME_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_REQ *, X509_REQ_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_ALGOR *, X509_ALGOR_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_EXTENSION *, X509_EXTENSION_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free_all);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ECDSA_SIG *, ECDSA_SIG_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(PKCS7 *, PKCS7_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_BIT_STRING *, ASN1_BIT_STRING_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_OBJECT *, ASN1_OBJECT_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_INTEGER *, ASN1_INTEGER_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BASIC_CONSTRAINTS *, BASIC_CONSTRAINTS_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EXTENDED_KEY_USAGE *, EXTENDED_KEY_USAGE_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(CERTIFICATEPOLICIES *, CERTIFICATEPOLICIES_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(GENERAL_NAMES *, GENERAL_NAMES_free);

static inline void openssl_freep(void *p) {
        OPENSSL_free(*(void **) p);
}
#define _cleanup_openssl_free_ _cleanup_(openssl_freep)

static inline void sk_X509_free_allp(STACK_OF(X509) **p) {
        sk_X509_pop_free(*p, X509_free);
}

static inline void sk_X509_EXTENSION_free_allp(STACK_OF(X509_EXTENSION) **p) {
        sk_X509_EXTENSION_pop_free(*p, X509_EXTENSION_free);
}
