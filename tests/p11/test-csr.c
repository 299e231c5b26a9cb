/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Certificate requests signed on a real SoftHSM token, checked with the
 * openssl command: signature, algorithm, subject bytes, extensions, key. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../lib/testca.h"
#include "../lib/testtoken.h"
#include "csr.h"
#include "openssl-util.h"
#include "p11-keygen.h"
#include "subject.h"

#define CERTIGNA_SUBJECT                                                                          \
        "C=FR, O=AR24, OU=0002 80948012200013, organizationIdentifier=NTRFR-80948012200013, " \
        "CN=AR24 - AR24 CACHET LRE, serialNumber=ST6356002"

/* Hand-encoded DER of that subject (see tests/unit/test-subject.c). */
static const char certigna_der_hex[] =
        "30818e"
        "310b300906035504061302" "4652"
        "310d300b060355040a0c04" "41523234"
        "311c301a060355040b0c13" "30303032203830393438303132323030303133"
        "311d301b06035504610c14" "4e545246522d3830393438303132323030303133"
        "311f301d06035504030c16" "41523234202d204152323420434143484554204c5245"
        "3112301006035504051309" "535436333536303032";

typedef struct Fixture {
        TestToken *token;
        TestCA *ca;                     /* a scratch directory for the files */
        JP11GeneratedKey rsa, ec;
        X509_NAME *subject;
        unsigned n;                     /* file counter */
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);
        JP11Error error = {};

        assert_non_null(f);
        assert_int_equal(testtoken_new("csr", &f->token), 0);
        assert_int_equal(testca_new(&f->ca), 0);
        assert_int_equal(jp11_generate_key_pair(f->token->session, &(JP11KeySpec) { .type = JP11_KEY_RSA, .bits = 2048 },
                                                "rsa", &f->rsa, &error),
                         0);
        assert_int_equal(jp11_generate_key_pair(f->token->session,
                                                &(JP11KeySpec) { .type = JP11_KEY_EC, .curve = JP11_CURVE_P256 }, "ec",
                                                &f->ec, &error),
                         0);
        assert_int_equal(jp11_subject_parse(CERTIGNA_SUBJECT, &f->subject, &error), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        jp11_generated_key_clear(&f->rsa);
        jp11_generated_key_clear(&f->ec);
        X509_NAME_free(f->subject);
        testca_free(f->ca);
        testtoken_free(f->token);
        free(f);
        return 0;
}

static const char *const eku[] = { "emailProtection", "1.3.6.1.4.1.311.10.3.12", NULL };
static const char *const policies[] = { "0.4.0.194112.1.2", "1.2.250.1.177.2.5.1", NULL };

static JP11CsrSpec full_spec(Fixture *f, JP11Hash hash) {
        return (JP11CsrSpec) {
                .subject = f->subject,
                .hash = hash,
                .key_usage = JP11_KU_NON_REPUDIATION,
                .key_usage_critical = true,
                .extended_key_usage = eku,
                .certificate_policies = policies,
                .email_san = "jean.dupont@example.fr",
        };
}

/* Creates the request, writes it as PEM and returns the path. */
static char *make_csr(Fixture *f, const JP11GeneratedKey *k, const JP11CsrSpec *spec) {
        _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
        _cleanup_free_ char *pem = NULL, *name = NULL;
        JP11Error error = {};
        char *path;

        if (jp11_csr_create(f->token->session, k->id, k->id_len, spec, &req, &error) < 0)
                fail_msg("jp11_csr_create: %s", error.message);
        assert_int_equal(jp11_csr_to_pem(req, &pem, &error), 0);
        assert_true(strncmp(pem, "-----BEGIN CERTIFICATE REQUEST-----\n", 36) == 0);

        assert_true(asprintf(&name, "req-%u.pem", f->n++) > 0);
        path = testca_path(f->ca, name);
        assert_int_equal(write_file(path, pem, strlen(pem)), 0);
        return path;
}

/* noinline: GCC 12 mistakes the returned buffer for a dangling local. */
__attribute__((noinline)) static char *openssl_out(const char *const *args) {
        char *out = NULL;
        assert_int_equal(testca_openssl(args, &out), 0);
        return out;
}

static void assert_contains(const char *haystack, const char *needle) {
        if (!strstr(haystack, needle))
                fail_msg("\"%s\" not found in:\n%s", needle, haystack);
}

/* `openssl req -verify` checks the signature with the key in the request. */
static void assert_verifies(const char *path) {
        _cleanup_free_ char *out = NULL;
        assert_int_equal(testca_openssl((const char *[]) { "req", "-verify", "-noout", "-in", path, NULL }, &out), 0);
}

/* The key in the request is the token's: compared with the public key
 * p11tool exports from the token. */
static void assert_token_key(Fixture *f, const char *path, const JP11GeneratedKey *k) {
        _cleanup_free_ char *from_req = NULL, *from_token = NULL, *object = NULL, *exported = NULL;
        char id_url[61];

        for (size_t i = 0; i < k->id_len; i++)
                sprintf(id_url + 3 * i, "%%%02x", k->id[i]);
        assert_true(asprintf(&object, "id=%s;type=public", id_url) > 0);
        exported = testca_path(f->ca, "exported.pem");
        assert_int_equal(testtoken_p11tool(f->token, object,
                                           (const char *[]) { "--export-pubkey", "--outfile", exported, NULL }, NULL),
                         0);
        from_token = openssl_out((const char *[]) { "pkey", "-pubin", "-in", exported, NULL });
        from_req = openssl_out((const char *[]) { "req", "-in", path, "-noout", "-pubkey", NULL });
        assert_string_equal(from_req, from_token);
}

/* The subject inside the request, byte for byte: asn1parse finds where
 * the request's subject starts, and that DER is compared whole. */
static void assert_subject_der(Fixture *f, const char *path) {
        _cleanup_free_ char *der_path = NULL, *subject_path = NULL, *parsed = NULL;
        _cleanup_free_ uint8_t *der = NULL;
        uint8_t expected[256];
        size_t len, expected_len = strlen(certigna_der_hex) / 2;
        const char *line;
        unsigned offset;

        for (size_t i = 0; i < expected_len; i++) {
                unsigned v;
                assert_int_equal(sscanf(certigna_der_hex + 2 * i, "%2x", &v), 1);
                expected[i] = (uint8_t) v;
        }

        der_path = testca_path(f->ca, "req.der");
        subject_path = testca_path(f->ca, "subject.der");
        assert_int_equal(testca_openssl((const char *[]) { "req", "-in", path, "-outform", "DER", "-out", der_path,
                                                           NULL },
                                        NULL),
                         0);
        /* CertificationRequest > CertificationRequestInfo > version, then
         * subject: the first depth-2 SEQUENCE. */
        parsed = openssl_out((const char *[]) { "asn1parse", "-inform", "DER", "-in", der_path, NULL });
        line = strstr(parsed, "d=2");
        line = line ? strstr(line + 1, "d=2") : NULL;
        assert_non_null(line);
        while (line > parsed && line[-1] != '\n')
                line--;
        assert_int_equal(sscanf(line, " %u:", &offset), 1);

        assert_int_equal(read_file(der_path, &der, &len), 0);
        assert_true(offset + expected_len <= len);
        assert_memory_equal(der + offset, expected, expected_len);
        /* and what follows is not part of a longer name */
        assert_int_equal(der[offset + expected_len], 0x30);
}

static void check_full_request(Fixture *f, const JP11GeneratedKey *k, JP11Hash hash, const char *sigalg) {
        JP11CsrSpec spec = full_spec(f, hash);
        _cleanup_free_ char *path = make_csr(f, k, &spec), *text = NULL, *parsed = NULL, *sig_line = NULL;
        const char *p;

        assert_verifies(path);
        assert_token_key(f, path, k);
        assert_subject_der(f, path);

        text = openssl_out((const char *[]) { "req", "-in", path, "-noout", "-text", NULL });
        assert_contains(text, "Version: 1 (0x0)");
        assert_true(asprintf(&sig_line, "Signature Algorithm: %s", sigalg) > 0);
        assert_contains(text, sig_line);
        assert_contains(text, "X509v3 Key Usage: critical\n                    Non Repudiation\n");
        assert_contains(text, "X509v3 Extended Key Usage: \n                    E-mail Protection, 1.3.6.1.4.1.311.10.3.12\n");
        assert_contains(text, "Policy: 0.4.0.194112.1.2\n");
        assert_contains(text, "Policy: 1.2.250.1.177.2.5.1\n");
        assert_contains(text, "X509v3 Subject Alternative Name: \n                    email:jean.dupont@example.fr\n");

        /* Signature algorithm parameters: NULL for RSA, absent for ECDSA
         * (RFC 4055, RFC 5758): the line after the outer algorithm OID. */
        parsed = openssl_out((const char *[]) { "asn1parse", "-in", path, NULL });
        p = strstr(parsed, sigalg);
        assert_non_null(p);
        p = strchr(p, '\n');
        assert_non_null(p);
        if (strncmp(sigalg, "ecdsa", 5) == 0)
                assert_contains(p, "BIT STRING");
        p = strstr(p, "prim: ");
        assert_non_null(p);
        if (strncmp(sigalg, "ecdsa", 5) == 0)
                assert_true(strncmp(p, "prim: BIT STRING", 16) == 0);
        else
                assert_true(strncmp(p, "prim: NULL", 10) == 0);
}

static void test_rsa_sha256(void **state) {
        Fixture *f = *state;
        check_full_request(f, &f->rsa, JP11_HASH_SHA256, "sha256WithRSAEncryption");
}

static void test_ec_sha256(void **state) {
        Fixture *f = *state;
        check_full_request(f, &f->ec, JP11_HASH_SHA256, "ecdsa-with-SHA256");
}

static void test_sha384_sha512(void **state) {
        Fixture *f = *state;
        check_full_request(f, &f->rsa, JP11_HASH_SHA384, "sha384WithRSAEncryption");
        check_full_request(f, &f->ec, JP11_HASH_SHA384, "ecdsa-with-SHA384");
        check_full_request(f, &f->rsa, JP11_HASH_SHA512, "sha512WithRSAEncryption");
        check_full_request(f, &f->ec, JP11_HASH_SHA512, "ecdsa-with-SHA512");
}

/* No extension asked, none written; keyUsage not critical when so asked. */
static void test_minimal_and_noncritical(void **state) {
        Fixture *f = *state;
        JP11CsrSpec minimal = { .subject = f->subject, .hash = JP11_HASH_SHA256 };
        JP11CsrSpec ku = { .subject = f->subject, .hash = JP11_HASH_SHA256,
                           .key_usage = JP11_KU_DIGITAL_SIGNATURE | JP11_KU_KEY_ENCIPHERMENT };
        _cleanup_free_ char *p1 = make_csr(f, &f->rsa, &minimal), *p2 = make_csr(f, &f->rsa, &ku);
        _cleanup_free_ char *t1 = NULL, *t2 = NULL;

        assert_verifies(p1);
        assert_verifies(p2);
        t1 = openssl_out((const char *[]) { "req", "-in", p1, "-noout", "-text", NULL });
        /* openssl prints the "Requested Extensions:" heading regardless */
        assert_contains(t1, "Attributes:\n            (none)\n");
        assert_null(strstr(t1, "X509v3"));
        t2 = openssl_out((const char *[]) { "req", "-in", p2, "-noout", "-text", NULL });
        assert_contains(t2, "X509v3 Key Usage: \n                    Digital Signature, Key Encipherment\n");
        assert_null(strstr(t2, "Extended Key Usage"));
}

static void test_sha1_refused(void **state) {
        Fixture *f = *state;
        JP11CsrSpec spec = full_spec(f, JP11_HASH_SHA1);
        X509_REQ *req = NULL;
        JP11Error error = {};

        assert_int_equal(jp11_csr_create(f->token->session, f->rsa.id, f->rsa.id_len, &spec, &req, &error), -EPERM);
        assert_int_equal(error.kind, JP11_ERR_POLICY);
        assert_null(req);
        assert_int_equal(jp11_csr_create(f->token->session, f->ec.id, f->ec.id_len, &spec, &req, &error), -EPERM);
        assert_null(req);
}

static void test_bad_input(void **state) {
        Fixture *f = *state;
        JP11CsrSpec spec = full_spec(f, JP11_HASH_SHA256);
        const uint8_t unknown_id[20] = { 1, 2, 3 };
        const char *const bad_eku[] = { "noSuchUsage", NULL };
        const char *const bad_policy[] = { "emailProtection", NULL };
        X509_REQ *req = NULL;
        JP11Error error = {};

        assert_int_equal(jp11_csr_create(f->token->session, unknown_id, sizeof unknown_id, &spec, &req, &error),
                         -ENOENT);
        assert_int_equal(error.kind, JP11_ERR_NOT_FOUND);

        spec.email_san = "not an address";
        assert_int_equal(jp11_csr_create(f->token->session, f->ec.id, f->ec.id_len, &spec, &req, &error), -EINVAL);
        spec = full_spec(f, JP11_HASH_SHA256);
        spec.extended_key_usage = bad_eku;
        assert_int_equal(jp11_csr_create(f->token->session, f->ec.id, f->ec.id_len, &spec, &req, &error), -EINVAL);
        spec = full_spec(f, JP11_HASH_SHA256);
        spec.certificate_policies = bad_policy;
        assert_int_equal(jp11_csr_create(f->token->session, f->ec.id, f->ec.id_len, &spec, &req, &error), -EINVAL);
        spec = full_spec(f, JP11_HASH_SHA256);
        spec.key_usage = 1u << 7;
        assert_int_equal(jp11_csr_create(f->token->session, f->ec.id, f->ec.id_len, &spec, &req, &error), -EINVAL);
        spec = full_spec(f, JP11_HASH_SHA256);
        spec.subject = NULL;
        assert_int_equal(jp11_csr_create(f->token->session, f->ec.id, f->ec.id_len, &spec, &req, &error), -EINVAL);
        assert_null(req);
}

/* A key with CKA_ALWAYS_AUTHENTICATE (made by pkcs11-tool) needs the PIN
 * again after C_SignInit: refused without it, signed with it, and the
 * session still usable after the refusal. */
static void test_always_authenticate(void **state) {
        Fixture *f = *state;
        static const uint8_t id[] = { 0xa1, 0x1a };
        _cleanup_free_ char *out = NULL, *path = NULL;
        JP11CsrSpec spec = full_spec(f, JP11_HASH_SHA256);
        X509_REQ *req = NULL;
        JP11Error error = {};

        assert_int_equal(testtoken_pkcs11_tool(f->token,
                                               (const char *[]) { "--keypairgen", "--key-type", "EC:prime256v1", "--id",
                                                                  "a11a", "--label", "always", "--usage-sign",
                                                                  "--always-auth", NULL },
                                               &out),
                         0);

        assert_int_equal(jp11_csr_create(f->token->session, id, sizeof id, &spec, &req, &error), -EINVAL);
        assert_non_null(strstr(error.message, "no PIN for this key given"));
        assert_null(req);

        spec.context_pin = f->token->pin;
        path = make_csr(f, &(JP11GeneratedKey) { .id = { 0xa1, 0x1a }, .id_len = 2 }, &spec);
        assert_verifies(path);
}

static void test_names(void **state) {
        unsigned ku;
        JP11Error error = {};

        assert_int_equal(jp11_hash_from_string("sha256"), JP11_HASH_SHA256);
        assert_int_equal(jp11_hash_from_string("SHA-256"), JP11_HASH_SHA256);
        assert_int_equal(jp11_hash_from_string("sha384"), JP11_HASH_SHA384);
        assert_int_equal(jp11_hash_from_string("SHA-512"), JP11_HASH_SHA512);
        assert_int_equal(jp11_hash_from_string("sha1"), JP11_HASH_SHA1);
        assert_int_equal(jp11_hash_from_string("md5"), _JP11_HASH_INVALID);
        assert_int_equal(jp11_hash_from_string(NULL), _JP11_HASH_INVALID);
        assert_string_equal(jp11_hash_to_string(JP11_HASH_SHA384), "sha384");
        assert_null(jp11_hash_to_string(_JP11_HASH_INVALID));

        assert_int_equal(jp11_key_usage_parse("nonRepudiation", &ku, &error), 0);
        assert_int_equal(ku, JP11_KU_NON_REPUDIATION);
        assert_int_equal(jp11_key_usage_parse("nonRepudiation, digitalSignature", &ku, &error), 0);
        assert_int_equal(ku, JP11_KU_NON_REPUDIATION | JP11_KU_DIGITAL_SIGNATURE);
        assert_int_equal(jp11_key_usage_parse("contentCommitment,keyAgreement,dataEncipherment,keyEncipherment", &ku,
                                              &error),
                         0);
        assert_int_equal(ku, JP11_KU_NON_REPUDIATION | JP11_KU_KEY_AGREEMENT | JP11_KU_DATA_ENCIPHERMENT |
                                     JP11_KU_KEY_ENCIPHERMENT);
        assert_int_equal(jp11_key_usage_parse("", &ku, &error), 0);
        assert_int_equal(ku, 0);
        assert_int_equal(jp11_key_usage_parse("nonRepudiation,keyCertSign", &ku, &error), -EINVAL);
        assert_int_equal(error.kind, JP11_ERR_INVALID);
        assert_int_equal(jp11_key_usage_parse("digitalSignatureX", &ku, &error), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rsa_sha256),
                cmocka_unit_test(test_ec_sha256),
                cmocka_unit_test(test_sha384_sha512),
                cmocka_unit_test(test_minimal_and_noncritical),
                cmocka_unit_test(test_sha1_refused),
                cmocka_unit_test(test_bad_input),
                cmocka_unit_test(test_always_authenticate),
                cmocka_unit_test(test_names),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
