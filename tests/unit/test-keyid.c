/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/pem.h>
#include <openssl/rand.h>

#include "../lib/testca.h"
#include "csr.h"
#include "openssl-util.h"
#include "p11-keygen.h"

/* ---- key id = subjectKeyIdentifier as openssl computes it ---------------- */

static int setup(void **state) {
        TestCA *ca = NULL;

        assert_int_equal(testca_new(&ca), 0);
        assert_int_equal(testca_make_leaf(ca, "rsa", "rsa2048", "/CN=rsa"), 0);
        assert_int_equal(testca_make_leaf(ca, "p256", "p256", "/CN=p256"), 0);
        assert_int_equal(testca_make_leaf(ca, "p384", "p384", "/CN=p384"), 0);
        *state = ca;
        return 0;
}

static int teardown(void **state) {
        testca_free(*state);
        return 0;
}

static EVP_PKEY *load_cert_key(TestCA *ca, const char *name) {
        _cleanup_free_ char *p = testca_path(ca, name);
        _cleanup_(X509_freep) X509 *cert = NULL;
        EVP_PKEY *pkey;
        FILE *f = fopen(p, "re");

        assert_non_null(f);
        cert = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
        assert_non_null(cert);
        pkey = X509_get_pubkey(cert);
        assert_non_null(pkey);
        return pkey;
}

static EVP_PKEY *load_private_key(TestCA *ca, const char *name) {
        _cleanup_free_ char *p = testca_path(ca, name);
        EVP_PKEY *pkey;
        FILE *f = fopen(p, "re");

        assert_non_null(f);
        pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
        assert_non_null(pkey);
        return pkey;
}

static void check_key_id(TestCA *ca, const char *name) {
        _cleanup_free_ char *cert = NULL, *key = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pub = NULL, *priv = NULL;
        uint8_t ski[20], id[20], id_priv[20];
        JP11Error error = {};

        assert_true(asprintf(&cert, "%s.pem", name) > 0);
        assert_true(asprintf(&key, "%s.key", name) > 0);
        {
                _cleanup_free_ char *p = testca_path(ca, cert);
                assert_int_equal(testca_cert_ski(p, ski), 0);
        }

        pub = load_cert_key(ca, cert);
        assert_int_equal(jp11_key_id_from_public(pub, id, &error), 0);
        assert_memory_equal(id, ski, 20);

        /* The same id from a key object that also holds the private half. */
        priv = load_private_key(ca, key);
        assert_int_equal(jp11_key_id_from_public(priv, id_priv, &error), 0);
        assert_memory_equal(id_priv, ski, 20);
}

static void test_key_id_rsa(void **state) {
        check_key_id(*state, "rsa");
}

static void test_key_id_p256(void **state) {
        check_key_id(*state, "p256");
}

static void test_key_id_p384(void **state) {
        check_key_id(*state, "p384");
}

static void test_key_id_distinct_and_invalid(void **state) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *a = load_cert_key(*state, "p256.pem");
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *b = load_cert_key(*state, "p384.pem");
        uint8_t id_a[20], id_b[20];
        JP11Error error = {};

        assert_int_equal(jp11_key_id_from_public(a, id_a, &error), 0);
        assert_int_equal(jp11_key_id_from_public(b, id_b, &error), 0);
        assert_memory_not_equal(id_a, id_b, 20);

        assert_int_equal(jp11_key_id_from_public(NULL, id_a, &error), -EINVAL);
        assert_int_equal(error.kind, JP11_ERR_INVALID);
}

/* ---- ECDSA r||s -> ECDSA-Sig-Value --------------------------------------- */

/* Decodes der with d2i_ECDSA_SIG, checks it is canonical DER and that r
 * and s are the two halves of raw. */
static void check_decodes_to(const uint8_t *der, size_t der_len, const uint8_t *raw, size_t raw_len) {
        _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *sig = NULL;
        _cleanup_openssl_free_ uint8_t *again = NULL;
        const uint8_t *p = der;
        const BIGNUM *r, *s;
        uint8_t half[66];
        size_t n = raw_len / 2;
        int len;

        sig = d2i_ECDSA_SIG(NULL, &p, (long) der_len);
        assert_non_null(sig);
        assert_ptr_equal(p, der + der_len);
        ECDSA_SIG_get0(sig, &r, &s);
        assert_int_equal(BN_bn2binpad(r, half, (int) n), (int) n);
        assert_memory_equal(half, raw, n);
        assert_int_equal(BN_bn2binpad(s, half, (int) n), (int) n);
        assert_memory_equal(half, raw + n, n);

        len = i2d_ECDSA_SIG(sig, &again);
        assert_int_equal(len, (int) der_len);
        assert_memory_equal(again, der, der_len);
}

static void test_ecdsa_high_bit(void **state) {
        uint8_t raw[64];
        _cleanup_free_ uint8_t *der = NULL;
        size_t der_len;
        JP11Error error = {};

        memset(raw, 0x80, 32);      /* r = 0x8080...: needs a leading 0x00 */
        memset(raw + 32, 0xff, 32); /* s = 0xffff... */
        assert_int_equal(jp11_ecdsa_raw_to_der(raw, sizeof raw, &der, &der_len, &error), 0);
        assert_int_equal(der_len, 2 + 2 * (2 + 33));
        assert_int_equal(der[0], 0x30);
        assert_int_equal(der[1], 70);
        assert_int_equal(der[2], 0x02);
        assert_int_equal(der[3], 33);
        assert_int_equal(der[4], 0x00);
        assert_int_equal(der[5], 0x80);
        assert_int_equal(der[2 + 35], 0x02);
        assert_int_equal(der[2 + 35 + 1], 33);
        assert_int_equal(der[2 + 35 + 2], 0x00);
        check_decodes_to(der, der_len, raw, sizeof raw);
}

static void test_ecdsa_leading_zeros(void **state) {
        uint8_t raw[64] = {};
        _cleanup_free_ uint8_t *der = NULL;
        size_t der_len;
        JP11Error error = {};

        raw[2] = 0x01;              /* r = 00 00 01 00 ...: 30 bytes */
        raw[32 + 31] = 0x7f;        /* s = 0x7f: one byte */
        assert_int_equal(jp11_ecdsa_raw_to_der(raw, sizeof raw, &der, &der_len, &error), 0);
        assert_int_equal(der_len, 2 + (2 + 30) + (2 + 1));
        assert_int_equal(der[2], 0x02);
        assert_int_equal(der[3], 30);
        assert_int_equal(der[4], 0x01);
        assert_int_equal(der[2 + 32], 0x02);
        assert_int_equal(der[2 + 32 + 1], 1);
        assert_int_equal(der[2 + 32 + 2], 0x7f);
        check_decodes_to(der, der_len, raw, sizeof raw);

        /* s = 0x0080: the zero that is dropped is replaced by the one the
         * high bit needs. */
        memset(raw, 0, sizeof raw);
        raw[0] = 0x01;
        raw[32 + 31] = 0x80;
        free(der);
        der = NULL;
        assert_int_equal(jp11_ecdsa_raw_to_der(raw, sizeof raw, &der, &der_len, &error), 0);
        assert_int_equal(der[der_len - 3], 2);
        assert_int_equal(der[der_len - 2], 0x00);
        assert_int_equal(der[der_len - 1], 0x80);
        check_decodes_to(der, der_len, raw, sizeof raw);
}

static void test_ecdsa_random_round_trip(void **state) {
        static const size_t sizes[] = { 32, 48, 66 };

        for (size_t k = 0; k < ELEMENTSOF(sizes); k++)
                for (int i = 0; i < 200; i++) {
                        uint8_t raw[132];
                        _cleanup_free_ uint8_t *der = NULL;
                        size_t der_len, n = sizes[k];
                        JP11Error error = {};

                        assert_int_equal(RAND_bytes(raw, (int) (2 * n)), 1);
                        raw[0] |= 1; /* never zero */
                        raw[n] |= 1;
                        if (i % 3 == 0)
                                raw[0] = raw[1] = 0; /* leading zeros */
                        if (i % 3 == 1)
                                raw[n] |= 0x80; /* high bit */
                        assert_int_equal(jp11_ecdsa_raw_to_der(raw, 2 * n, &der, &der_len, &error), 0);
                        check_decodes_to(der, der_len, raw, 2 * n);
                }
}

/* A real signature: made by OpenSSL, taken apart into r||s as a token
 * returns it, re-encoded by us, verified by OpenSSL. */
static void test_ecdsa_verifies(void **state) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = load_private_key(*state, "p384.key");
        _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *sig = NULL;
        _cleanup_free_ uint8_t *der = NULL;
        uint8_t digest[48], openssl_der[128], raw[96];
        size_t openssl_len = sizeof openssl_der, der_len;
        const uint8_t *p = openssl_der;
        const BIGNUM *r, *s;
        EVP_PKEY_CTX *ctx;
        JP11Error error = {};

        assert_int_equal(RAND_bytes(digest, sizeof digest), 1);
        ctx = EVP_PKEY_CTX_new(key, NULL);
        assert_non_null(ctx);
        assert_int_equal(EVP_PKEY_sign_init(ctx), 1);
        assert_int_equal(EVP_PKEY_sign(ctx, openssl_der, &openssl_len, digest, sizeof digest), 1);

        sig = d2i_ECDSA_SIG(NULL, &p, (long) openssl_len);
        assert_non_null(sig);
        ECDSA_SIG_get0(sig, &r, &s);
        assert_int_equal(BN_bn2binpad(r, raw, 48), 48);
        assert_int_equal(BN_bn2binpad(s, raw + 48, 48), 48);

        assert_int_equal(jp11_ecdsa_raw_to_der(raw, sizeof raw, &der, &der_len, &error), 0);
        assert_int_equal(der_len, openssl_len);
        assert_memory_equal(der, openssl_der, der_len);

        assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
        assert_int_equal(EVP_PKEY_verify(ctx, der, der_len, digest, sizeof digest), 1);
        EVP_PKEY_CTX_free(ctx);
}

static void test_ecdsa_refusals(void **state) {
        uint8_t raw[140] = {}, *der = NULL;
        size_t der_len;
        JP11Error error = {};

        raw[0] = raw[1] = 1;
        assert_int_equal(jp11_ecdsa_raw_to_der(raw, 0, &der, &der_len, &error), -EINVAL);
        assert_int_equal(jp11_ecdsa_raw_to_der(raw, 63, &der, &der_len, &error), -EINVAL);
        assert_int_equal(jp11_ecdsa_raw_to_der(raw, 134, &der, &der_len, &error), -EINVAL);
        /* s = 0 */
        assert_int_equal(jp11_ecdsa_raw_to_der(raw, 64, &der, &der_len, &error), -EINVAL);
        assert_int_equal(error.kind, JP11_ERR_INVALID);
        assert_null(der);
}

/* ---- key specifications --------------------------------------------------- */

static void assert_spec(const char *text, JP11KeyType type, unsigned bits, JP11Curve curve) {
        JP11KeySpec spec = {};
        JP11Error error = {};

        assert_int_equal(jp11_key_spec_parse(text, &spec, &error), 0);
        assert_int_equal(spec.type, type);
        assert_int_equal(spec.bits, bits);
        assert_int_equal(spec.curve, curve);
        assert_int_equal(jp11_key_spec_check(&spec, &error), 0);
}

static void assert_spec_refused(const char *text, JP11ErrorKind kind) {
        JP11KeySpec spec = { .type = JP11_KEY_OTHER };
        JP11Error error = {};

        assert_true(jp11_key_spec_parse(text, &spec, &error) < 0);
        assert_int_equal(error.kind, kind);
        assert_int_equal(spec.type, JP11_KEY_OTHER); /* untouched */
}

static void test_key_spec(void **state) {
        JP11Error error = {};

        assert_spec("rsa2048", JP11_KEY_RSA, 2048, JP11_CURVE_NONE);
        assert_spec("RSA-3072", JP11_KEY_RSA, 3072, JP11_CURVE_NONE);
        assert_spec("rsa:4096", JP11_KEY_RSA, 4096, JP11_CURVE_NONE);
        assert_spec("p256", JP11_KEY_EC, 0, JP11_CURVE_P256);
        assert_spec("ec-p256", JP11_KEY_EC, 0, JP11_CURVE_P256);
        assert_spec("secp256r1", JP11_KEY_EC, 0, JP11_CURVE_P256);
        assert_spec("prime256v1", JP11_KEY_EC, 0, JP11_CURVE_P256);
        assert_spec("P-384", JP11_KEY_EC, 0, JP11_CURVE_P384);
        assert_spec("secp384r1", JP11_KEY_EC, 0, JP11_CURVE_P384);
        assert_spec("p521", JP11_KEY_EC, 0, JP11_CURVE_P521);

        /* ANSSI: RSA under 2048 bits is a policy refusal, not a typo */
        assert_spec_refused("rsa1024", JP11_ERR_POLICY);
        assert_spec_refused("rsa2047", JP11_ERR_POLICY);
        assert_spec_refused("rsa", JP11_ERR_INVALID);
        assert_spec_refused("rsa2048x", JP11_ERR_INVALID);
        assert_spec_refused("rsa99999999999999999999", JP11_ERR_INVALID);
        assert_spec_refused("p224", JP11_ERR_INVALID);
        assert_spec_refused("ed25519", JP11_ERR_INVALID);
        assert_spec_refused("", JP11_ERR_INVALID);

        assert_int_equal(jp11_key_spec_check(&(JP11KeySpec) { .type = JP11_KEY_RSA, .bits = 1024 }, &error), -EPERM);
        assert_int_equal(error.kind, JP11_ERR_POLICY);
        assert_int_equal(jp11_key_spec_check(&(JP11KeySpec) { .type = JP11_KEY_EC, .curve = JP11_CURVE_OTHER }, &error),
                         -EOPNOTSUPP);
        assert_int_equal(jp11_key_spec_check(&(JP11KeySpec) { .type = JP11_KEY_OTHER }, &error), -EOPNOTSUPP);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_key_id_rsa),
                cmocka_unit_test(test_key_id_p256),
                cmocka_unit_test(test_key_id_p384),
                cmocka_unit_test(test_key_id_distinct_and_invalid),
                cmocka_unit_test(test_ecdsa_high_bit),
                cmocka_unit_test(test_ecdsa_leading_zeros),
                cmocka_unit_test(test_ecdsa_random_round_trip),
                cmocka_unit_test(test_ecdsa_verifies),
                cmocka_unit_test(test_ecdsa_refusals),
                cmocka_unit_test(test_key_spec),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
