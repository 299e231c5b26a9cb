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

#include <openssl/x509.h>

#include "../lib/testca.h"
#include "cert.h"
#include "openssl-util.h"

/* Fixtures made once by the openssl command: a root, an intermediate and
 * two leaves ("alice", "bob") it issued, in every delivery format. */
typedef struct Fixture {
        TestCA *ca;
        uint8_t *alice_der, *intermediate_der, *root_der;
        size_t alice_der_len, intermediate_der_len, root_der_len;
} Fixture;

static char *path(Fixture *f, const char *name) {
        char *p = testca_path(f->ca, name);
        assert_non_null(p);
        return p;
}

static void openssl_to_file(Fixture *f, const char *const *args) {
        assert_int_equal(testca_openssl(args, NULL), 0);
}

static void x509_to_der(Fixture *f, const char *name, uint8_t **ret, size_t *ret_len) {
        _cleanup_free_ char *in = NULL, *out = NULL, *base = NULL;

        assert_true(asprintf(&base, "%s.pem", name) > 0);
        in = path(f, base);
        free(base);
        assert_true(asprintf(&base, "%s.der", name) > 0);
        out = path(f, base);
        openssl_to_file(f, (const char *[]) { "x509", "-in", in, "-outform", "DER", "-out", out, NULL });
        assert_int_equal(read_file(out, ret, ret_len), 0);
}

static void concat(Fixture *f, const char *out_name, const char *const *names) {
        _cleanup_free_ uint8_t *all = NULL;
        _cleanup_free_ char *out = path(f, out_name);
        size_t len = 0;

        for (const char *const *n = names; *n; n++) {
                _cleanup_free_ char *p = path(f, *n);
                _cleanup_free_ uint8_t *data = NULL;
                size_t l;
                uint8_t *a;

                assert_int_equal(read_file(p, &data, &l), 0);
                a = realloc(all, len + l);
                assert_non_null(a);
                all = a;
                memcpy(all + len, data, l);
                len += l;
        }
        assert_int_equal(write_file(out, all, len), 0);
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);
        _cleanup_free_ char *chain = NULL, *p7pem = NULL, *p7der = NULL;

        assert_non_null(f);
        assert_int_equal(testca_new(&f->ca), 0);
        assert_int_equal(testca_make_leaf(f->ca, "alice", "p256", "/C=FR/CN=Alice Martin"), 0);
        assert_int_equal(testca_make_leaf(f->ca, "bob", "p256", "/C=FR/CN=Bob Martin"), 0);
        x509_to_der(f, "alice", &f->alice_der, &f->alice_der_len);
        x509_to_der(f, "intermediate", &f->intermediate_der, &f->intermediate_der_len);
        x509_to_der(f, "root", &f->root_der, &f->root_der_len);

        concat(f, "chain.pem", (const char *[]) { "alice.pem", "intermediate.pem", "root.pem", NULL });
        concat(f, "chain-reversed.pem", (const char *[]) { "root.pem", "intermediate.pem", "alice.pem", NULL });
        concat(f, "two-leaves.pem", (const char *[]) { "alice.pem", "bob.pem", "intermediate.pem", NULL });
        concat(f, "alice-twice.pem", (const char *[]) { "alice.pem", "intermediate.pem", "alice.pem", NULL });
        concat(f, "cas.pem", (const char *[]) { "intermediate.pem", "root.pem", NULL });

        chain = path(f, "chain.pem");
        p7pem = path(f, "chain.p7b");
        p7der = path(f, "chain.p7der");
        openssl_to_file(f, (const char *[]) { "crl2pkcs7", "-nocrl", "-certfile", chain, "-out", p7pem, NULL });
        openssl_to_file(f, (const char *[]) { "crl2pkcs7", "-nocrl", "-certfile", chain, "-outform", "DER", "-out",
                                              p7der, NULL });

        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        testca_free(f->ca);
        free(f->alice_der);
        free(f->intermediate_der);
        free(f->root_der);
        free(f);
        return 0;
}

static void assert_cert_der(X509 *c, const uint8_t *der, size_t len) {
        _cleanup_openssl_free_ uint8_t *got = NULL;
        int n = i2d_X509(c, &got);

        assert_int_equal(n, (int) len);
        assert_memory_equal(got, der, len);
}

static bool chain_has(const JP11CertBundle *b, const uint8_t *der, size_t len) {
        for (int i = 0; i < sk_X509_num(b->chain); i++) {
                _cleanup_openssl_free_ uint8_t *got = NULL;
                int n = i2d_X509(sk_X509_value(b->chain, i), &got);

                if (n == (int) len && memcmp(got, der, len) == 0)
                        return true;
        }
        return false;
}

static void parse_data_ok(Fixture *f, const uint8_t *data, size_t len, int chain_len) {
        JP11CertBundle b = {};
        JP11Error error = {};

        assert_int_equal(jp11_cert_bundle_parse(data, len, &b, &error), 0);
        assert_int_equal(error.code, 0);
        assert_non_null(b.leaf);
        assert_non_null(b.chain);
        assert_cert_der(b.leaf, f->alice_der, f->alice_der_len);
        assert_int_equal(sk_X509_num(b.chain), chain_len);
        if (chain_len == 2) {
                assert_true(chain_has(&b, f->intermediate_der, f->intermediate_der_len));
                assert_true(chain_has(&b, f->root_der, f->root_der_len));
        }
        jp11_cert_bundle_clear(&b);
        assert_null(b.leaf);
        assert_null(b.chain);
        jp11_cert_bundle_clear(&b); /* twice is harmless */
}

static void parse_file_ok(Fixture *f, const char *name, int chain_len) {
        _cleanup_free_ char *p = path(f, name);
        _cleanup_free_ uint8_t *data = NULL;
        size_t len;

        assert_int_equal(read_file(p, &data, &len), 0);
        parse_data_ok(f, data, len, chain_len);
}

static void assert_format_error(const uint8_t *data, size_t len, const char *message_part) {
        JP11CertBundle b = {};
        JP11Error error = {};

        assert_true(jp11_cert_bundle_parse(data, len, &b, &error) < 0);
        assert_int_equal(error.kind, JP11_ERR_FORMAT);
        assert_true(error.code < 0);
        if (!strstr(error.message, message_part))
                fail_msg("message \"%s\" lacks \"%s\"", error.message, message_part);
        assert_null(b.leaf);
        assert_null(b.chain);
}

static void assert_file_format_error(Fixture *f, const char *name, const char *message_part) {
        _cleanup_free_ char *p = path(f, name);
        _cleanup_free_ uint8_t *data = NULL;
        size_t len;

        assert_int_equal(read_file(p, &data, &len), 0);
        assert_format_error(data, len, message_part);
}

static void test_pem_single(void **state) {
        parse_file_ok(*state, "alice.pem", 0);
}

static void test_pem_chain(void **state) {
        parse_file_ok(*state, "chain.pem", 2);
        parse_file_ok(*state, "chain-reversed.pem", 2);
}

static void test_der(void **state) {
        parse_file_ok(*state, "alice.der", 0);
}

static void test_pkcs7_pem(void **state) {
        parse_file_ok(*state, "chain.p7b", 2);
}

static void test_pkcs7_der(void **state) {
        parse_file_ok(*state, "chain.p7der", 2);
}

static void test_repeated_leaf(void **state) {
        parse_file_ok(*state, "alice-twice.pem", 1);
}

/* Text around the blocks (openssl pkcs12 writes "Bag Attributes") and
 * CRLF line ends (files from Windows) are fine. */
static void test_pem_with_text_and_crlf(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *p = path(f, "chain.pem");
        _cleanup_free_ uint8_t *data = NULL, *crlf = NULL;
        size_t len, n = 0;
        const char prefix[] = "Bag Attributes\n    localKeyID: 01\nsubject=/CN=Alice\n";

        assert_int_equal(read_file(p, &data, &len), 0);
        crlf = malloc(sizeof prefix + 2 * len);
        assert_non_null(crlf);
        memcpy(crlf, prefix, sizeof prefix - 1);
        n = sizeof prefix - 1;
        for (size_t i = 0; i < len; i++) {
                if (data[i] == '\n')
                        crlf[n++] = '\r';
                crlf[n++] = data[i];
        }
        parse_data_ok(f, crlf, n, 2);
}

static void test_garbage(void **state) {
        const char text[] = "hello, this is not a certificate\n";
        const uint8_t binary[] = { 0x00, 0x01, 0x02, 0xff, 0xfe };

        assert_format_error((const uint8_t *) text, strlen(text), "not a certificate: no PEM block and not DER");
        assert_format_error(binary, sizeof binary, "not a certificate: no PEM block and not DER");
}

static void test_empty(void **state) {
        assert_format_error((const uint8_t *) "", 0, "empty");
}

static void test_truncated_der(void **state) {
        Fixture *f = *state;

        assert_format_error(f->alice_der, f->alice_der_len - 10, "truncated DER");
        assert_format_error(f->alice_der, 3, "truncated DER");
}

static void test_der_trailing_data(void **state) {
        Fixture *f = *state;
        _cleanup_free_ uint8_t *data = malloc(f->alice_der_len + 4);

        assert_non_null(data);
        memcpy(data, f->alice_der, f->alice_der_len);
        memcpy(data + f->alice_der_len, "\0\0\0\0", 4);
        assert_format_error(data, f->alice_der_len + 4, "trailing data");
}

/* A certificate whose inner structure is damaged (a byte of the
 * tbsCertificate header flipped) but whose outer length is right. */
static void test_damaged_der(void **state) {
        Fixture *f = *state;
        _cleanup_free_ uint8_t *data = malloc(f->alice_der_len);

        assert_non_null(data);
        memcpy(data, f->alice_der, f->alice_der_len);
        data[5] ^= 0x7f; /* the length of the tbsCertificate */
        assert_format_error(data, f->alice_der_len, "not a valid X.509 certificate");
}

static void test_truncated_pem(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *p = path(f, "alice.pem");
        _cleanup_free_ uint8_t *data = NULL;
        size_t len;

        assert_int_equal(read_file(p, &data, &len), 0);
        /* cut inside the base64 body: no END line */
        assert_format_error(data, len / 2, "corrupted PEM block 1");
}

static void test_corrupted_base64(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *p = path(f, "chain.pem");
        _cleanup_free_ uint8_t *data = NULL;
        uint8_t *second;
        size_t len;

        assert_int_equal(read_file(p, &data, &len), 0);
        /* A character outside the base64 alphabet in the second block. */
        second = memmem(data + 1, len - 1, "-----BEGIN CERTIFICATE-----\n", 28);
        assert_non_null(second);
        second[28 + 10] = '!';
        assert_format_error(data, len, "corrupted PEM block 2");
}

static void test_two_leaves(void **state) {
        assert_file_format_error(*state, "two-leaves.pem", "2 end-entity certificates");
}

static void test_only_cas(void **state) {
        assert_file_format_error(*state, "cas.pem", "no end-entity certificate");
        assert_file_format_error(*state, "root.der", "no end-entity certificate");
}

static void test_not_a_certificate_block(void **state) {
        assert_file_format_error(*state, "alice.key", "not a certificate or PKCS#7 bundle");
        assert_file_format_error(*state, "alice.csr", "not a certificate or PKCS#7 bundle");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pem_single),
                cmocka_unit_test(test_pem_chain),
                cmocka_unit_test(test_der),
                cmocka_unit_test(test_pkcs7_pem),
                cmocka_unit_test(test_pkcs7_der),
                cmocka_unit_test(test_repeated_leaf),
                cmocka_unit_test(test_pem_with_text_and_crlf),
                cmocka_unit_test(test_garbage),
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_truncated_der),
                cmocka_unit_test(test_der_trailing_data),
                cmocka_unit_test(test_damaged_der),
                cmocka_unit_test(test_truncated_pem),
                cmocka_unit_test(test_corrupted_base64),
                cmocka_unit_test(test_two_leaves),
                cmocka_unit_test(test_only_cas),
                cmocka_unit_test(test_not_a_certificate_block),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
