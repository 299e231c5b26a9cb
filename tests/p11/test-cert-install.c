/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Installing issued certificates on a real SoftHSM token: a test CA made
 * with the openssl command signs requests made on the token; the result
 * is read back with pkcs11-tool, p11tool and raw C_GetAttributeValue. */

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

#include "../lib/testca.h"
#include "../lib/testtoken.h"
#include "cert.h"
#include "csr.h"
#include "openssl-util.h"
#include "p11-keygen.h"
#include "p11-objects.h"
#include "subject.h"

typedef struct Fixture {
        TestToken *token;
        TestCA *ca;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);

        assert_non_null(f);
        assert_int_equal(testtoken_new("install", &f->token), 0);
        assert_int_equal(testca_new(&f->ca), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        testca_free(f->ca);
        testtoken_free(f->token);
        free(f);
        return 0;
}

static char *path(Fixture *f, const char *name) {
        char *p = testca_path(f->ca, name);
        assert_non_null(p);
        return p;
}

/* "<dir>/<name><suffix>" */
static char *path2(Fixture *f, const char *name, const char *suffix) {
        _cleanup_free_ char *n = NULL;
        assert_true(asprintf(&n, "%s%s", name, suffix) > 0);
        return path(f, n);
}

static void hex(const uint8_t *id, size_t len, char *out) {
        for (size_t i = 0; i < len; i++)
                sprintf(out + 2 * i, "%02x", id[i]);
}

/* A key generated on the token, its request signed by the test CA:
 * <name>.pem (leaf), <name>.der, <name>-chain.pem, <name>.p7b (PKCS#7
 * PEM) and <name>.p7der (PKCS#7 DER), all made by openssl. */
static void issue(Fixture *f, const char *name, const JP11KeySpec *spec, JP11GeneratedKey *ret) {
        _cleanup_(X509_NAME_freep) X509_NAME *subject = NULL;
        _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
        _cleanup_free_ char *pem = NULL, *subj = NULL, *csr = path2(f, name, ".csr");
        _cleanup_free_ char *leaf = path2(f, name, ".pem"), *der = path2(f, name, ".der");
        _cleanup_free_ char *chain = path2(f, name, "-chain.pem"), *p7b = path2(f, name, ".p7b");
        _cleanup_free_ char *p7der = path2(f, name, ".p7der"), *ca_chain = path(f, "ca-chain.pem");
        _cleanup_free_ char *inter = path(f, "intermediate.pem"), *root = path(f, "root.pem");
        _cleanup_free_ uint8_t *a = NULL, *b = NULL, *c = NULL, *all = NULL;
        size_t la, lb, lc;
        JP11Error error = {};

        assert_int_equal(jp11_generate_key_pair(f->token->session, spec, name, ret, &error), 0);
        assert_true(asprintf(&subj, "C=FR, CN=%s", name) > 0);
        assert_int_equal(jp11_subject_parse(subj, &subject, &error), 0);
        assert_int_equal(jp11_csr_create(f->token->session, ret->id, ret->id_len,
                                         &(JP11CsrSpec) { .subject = subject, .hash = JP11_HASH_SHA256,
                                                          .key_usage = JP11_KU_NON_REPUDIATION,
                                                          .key_usage_critical = true },
                                         &req, &error),
                         0);
        assert_int_equal(jp11_csr_to_pem(req, &pem, &error), 0);
        assert_int_equal(write_file(csr, pem, strlen(pem)), 0);
        assert_int_equal(testca_sign_csr(f->ca, csr, name), 0);

        assert_int_equal(testca_openssl((const char *[]) { "x509", "-in", leaf, "-outform", "DER", "-out", der, NULL },
                                        NULL),
                         0);
        assert_int_equal(read_file(leaf, &a, &la), 0);
        assert_int_equal(read_file(inter, &b, &lb), 0);
        assert_int_equal(read_file(root, &c, &lc), 0);
        all = malloc(la + lb + lc);
        assert_non_null(all);
        memcpy(all, a, la);
        memcpy(all + la, b, lb);
        memcpy(all + la + lb, c, lc);
        assert_int_equal(write_file(chain, all, la + lb + lc), 0);
        assert_int_equal(write_file(ca_chain, all + la, lb + lc), 0);
        assert_int_equal(testca_openssl((const char *[]) { "crl2pkcs7", "-nocrl", "-certfile", chain, "-out", p7b,
                                                           NULL },
                                        NULL),
                         0);
        assert_int_equal(testca_openssl((const char *[]) { "crl2pkcs7", "-nocrl", "-certfile", chain, "-outform",
                                                           "DER", "-out", p7der, NULL },
                                        NULL),
                         0);
}

static int install_file(Fixture *f, const char *file, const char *label, JP11InstallResult *ret,
                        JP11Error *error) {
        _cleanup_free_ char *p = path(f, file);
        _cleanup_free_ uint8_t *data = NULL;
        JP11CertBundle b = {};
        size_t len;
        int r;

        assert_int_equal(read_file(p, &data, &len), 0);
        assert_int_equal(jp11_cert_bundle_parse(data, len, &b, error), 0);
        r = jp11_cert_install(f->token->session, &b, label, ret, error);
        jp11_cert_bundle_clear(&b);
        return r;
}

static unsigned count(Fixture *f) {
        unsigned n;
        assert_int_equal(testtoken_count_objects(f->token, &n), 0);
        return n;
}

/* Raw attribute of the certificate object with this CKA_VALUE. */
static CK_OBJECT_HANDLE find_cert(Fixture *f, const uint8_t *der, size_t len) {
        CK_FUNCTION_LIST_PTR fl = jp11_session_functions(f->token->session);
        CK_SESSION_HANDLE h = jp11_session_handle(f->token->session);
        CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
        CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof cls }, { CKA_VALUE, (void *) der, len } };
        CK_OBJECT_HANDLE found[2];
        CK_ULONG n = 0;

        assert_int_equal(fl->C_FindObjectsInit(h, t, 2), CKR_OK);
        assert_int_equal(fl->C_FindObjects(h, found, 2, &n), CKR_OK);
        assert_int_equal(fl->C_FindObjectsFinal(h), CKR_OK);
        assert_int_equal(n, 1); /* exactly one copy */
        return found[0];
}

static void assert_attr(Fixture *f, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type, const void *value, size_t len) {
        CK_FUNCTION_LIST_PTR fl = jp11_session_functions(f->token->session);
        uint8_t buf[4096];
        CK_ATTRIBUTE t = { type, buf, sizeof buf };

        assert_int_equal(fl->C_GetAttributeValue(jp11_session_handle(f->token->session), obj, &t, 1), CKR_OK);
        assert_int_equal(t.ulValueLen, len);
        assert_memory_equal(buf, value, len);
}

/* Every attribute of the certificate object against the certificate
 * file as OpenSSL reads it. */
static void check_cert_object(Fixture *f, const char *pem_name, const uint8_t *id, size_t id_len, const char *label,
                              CK_ULONG category) {
        _cleanup_free_ char *p = path(f, pem_name);
        _cleanup_(X509_freep) X509 *cert = NULL;
        _cleanup_openssl_free_ uint8_t *der = NULL, *subject = NULL, *issuer = NULL, *serial = NULL;
        int der_len, subject_len, issuer_len, serial_len;
        static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
        const CK_CERTIFICATE_TYPE x509 = CKC_X_509;
        CK_FUNCTION_LIST_PTR fl = jp11_session_functions(f->token->session);
        CK_BBOOL trusted = CK_FALSE;
        CK_ATTRIBUTE t = { CKA_TRUSTED, &trusted, sizeof trusted };
        CK_OBJECT_HANDLE obj;
        FILE *in = fopen(p, "re");
        CK_RV rv;

        assert_non_null(in);
        cert = PEM_read_X509(in, NULL, NULL, NULL);
        fclose(in);
        assert_non_null(cert);
        der_len = i2d_X509(cert, &der);
        subject_len = i2d_X509_NAME(X509_get_subject_name(cert), &subject);
        issuer_len = i2d_X509_NAME(X509_get_issuer_name(cert), &issuer);
        serial_len = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &serial);
        assert_true(der_len > 0 && subject_len > 0 && issuer_len > 0 && serial_len > 0);

        obj = find_cert(f, der, (size_t) der_len);
        assert_attr(f, obj, CKA_CERTIFICATE_TYPE, &x509, sizeof x509);
        assert_attr(f, obj, CKA_TOKEN, &yes, sizeof yes);
        assert_attr(f, obj, CKA_PRIVATE, &no, sizeof no);
        assert_attr(f, obj, CKA_SUBJECT, subject, (size_t) subject_len);
        assert_attr(f, obj, CKA_ISSUER, issuer, (size_t) issuer_len);
        assert_attr(f, obj, CKA_SERIAL_NUMBER, serial, (size_t) serial_len);
        assert_attr(f, obj, CKA_ID, id, id_len);
        assert_attr(f, obj, CKA_LABEL, label, strlen(label));
        assert_attr(f, obj, CKA_CERTIFICATE_CATEGORY, &category, sizeof category);
        rv = fl->C_GetAttributeValue(jp11_session_handle(f->token->session), obj, &t, 1);
        assert_true(rv == CKR_ATTRIBUTE_TYPE_INVALID || (rv == CKR_OK && trusted == CK_FALSE));
}

/* pkcs11-tool reads the certificate (CKA_VALUE) by id: the same bytes as
 * `openssl x509 -outform DER`; p11tool shows the category for CAs only
 * and never CKA_TRUSTED. */
static void check_with_tools(Fixture *f, const char *name, const uint8_t *id, size_t id_len, bool ca) {
        _cleanup_free_ char *der_file = path2(f, name, ".der"), *readback = path2(f, name, ".readback");
        _cleanup_free_ char *list = NULL, *pem = path2(f, name, ".pem");
        _cleanup_free_ uint8_t *a = NULL, *b = NULL;
        char id_hex[2 * 64 + 1], id_colons[3 * 64];
        const char *obj, *next, *flags;
        size_t la, lb;

        hex(id, id_len, id_hex);
        for (size_t i = 0; i < id_len; i++)
                sprintf(id_colons + 3 * i, "%02x%s", id[i], i + 1 < id_len ? ":" : "");

        if (ca)
                assert_int_equal(testca_openssl((const char *[]) { "x509", "-in", pem, "-outform", "DER", "-out",
                                                                   der_file, NULL },
                                                NULL),
                                 0);
        assert_int_equal(testtoken_pkcs11_tool(f->token,
                                               (const char *[]) { "--read-object", "--type", "cert", "--id", id_hex,
                                                                  "-o", readback, NULL },
                                               NULL),
                         0);
        assert_int_equal(read_file(der_file, &a, &la), 0);
        assert_int_equal(read_file(readback, &b, &lb), 0);
        assert_int_equal(la, lb);
        assert_memory_equal(a, b, la);

        assert_int_equal(testtoken_p11tool(f->token, NULL, (const char *[]) { "--list-all-certs", "--login", NULL },
                                           &list),
                         0);
        for (obj = strstr(list, "Object "); obj; obj = next) {
                const char *idl = strstr(obj, "\tID: ");
                next = strstr(obj + 1, "Object ");
                if (idl && (!next || idl < next) && strncmp(idl + 5, id_colons, strlen(id_colons)) == 0)
                        break;
        }
        if (!obj)
                fail_msg("p11tool does not list a certificate with id %s:\n%s", id_colons, list);
        flags = strstr(obj, "\tFlags:");
        if (flags && next && flags > next)
                flags = NULL;
        if (ca)
                assert_true(flags && strncmp(flags, "\tFlags: CKA_CERTIFICATE_CATEGORY=CA;", 36) == 0);
        else
                assert_true(!flags || !strstr(flags, "CKA_CERTIFICATE_CATEGORY=CA"));
        if (flags) {
                _cleanup_free_ char *line = strndup(flags, strcspn(flags, "\n"));
                assert_null(strstr(line, "CKA_TRUSTED"));
        }
}

static void test_pem_then_chain(void **state) {
        Fixture *f = *state;
        JP11GeneratedKey k = {};
        JP11InstallResult r1 = {}, r2 = {}, r3 = {};
        JP11Error error = {};
        _cleanup_free_ char *inter = path(f, "intermediate.pem"), *root = path(f, "root.pem");
        uint8_t ski_inter[20], ski_root[20];
        unsigned before, after;

        issue(f, "alice", &(JP11KeySpec) { .type = JP11_KEY_EC, .curve = JP11_CURVE_P256 }, &k);

        before = count(f);
        if (install_file(f, "alice.pem", "BD1734971738 certificate", &r1, &error) < 0)
                fail_msg("install: %s", error.message);
        assert_true(r1.leaf_written);
        assert_int_equal(r1.ca_written, 0);
        assert_int_equal(r1.id_len, k.id_len);
        assert_memory_equal(r1.id, k.id, k.id_len);
        assert_int_equal(count(f), before + 1);
        check_cert_object(f, "alice.pem", k.id, k.id_len, "BD1734971738 certificate", 1);
        check_with_tools(f, "alice", k.id, k.id_len, false);

        /* The chain: the leaf is there already, the two CAs are added as
         * authorities, with the id openssl gave them (SKI = SHA-1 of the
         * key), labelled with their CN. */
        assert_int_equal(install_file(f, "alice-chain.pem", NULL, &r2, &error), 0);
        assert_false(r2.leaf_written);
        assert_int_equal(r2.ca_written, 2);
        assert_int_equal(r2.ca_present, 0);
        assert_int_equal(count(f), before + 3);
        assert_int_equal(testca_cert_ski(inter, ski_inter), 0);
        assert_int_equal(testca_cert_ski(root, ski_root), 0);
        check_cert_object(f, "intermediate.pem", ski_inter, 20, "Jeton Test Issuing CA", 2);
        check_cert_object(f, "root.pem", ski_root, 20, "Jeton Test Root", 2);
        check_with_tools(f, "intermediate", ski_inter, 20, true);
        check_with_tools(f, "root", ski_root, 20, true);

        /* Again: nothing changes. */
        after = count(f);
        assert_int_equal(install_file(f, "alice-chain.pem", NULL, &r3, &error), 0);
        assert_false(r3.leaf_written);
        assert_int_equal(r3.ca_written, 0);
        assert_int_equal(r3.ca_present, 2);
        assert_int_equal(count(f), after);

        jp11_generated_key_clear(&k);
}

/* DER, PKCS#7 PEM and PKCS#7 DER, each for a fresh key; without a label
 * the certificate takes the key's (the order reference). */
static void test_der_and_pkcs7(void **state) {
        static const struct {
                const char *name, *file;
                JP11KeySpec spec;
        } cases[] = {
                { "bob", "bob.der", { .type = JP11_KEY_RSA, .bits = 2048 } },
                { "carol", "carol.p7b", { .type = JP11_KEY_EC, .curve = JP11_CURVE_P384 } },
                { "dave", "dave.p7der", { .type = JP11_KEY_EC, .curve = JP11_CURVE_P256 } },
        };
        Fixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *pem = NULL;
                JP11GeneratedKey k = {};
                JP11InstallResult r = {};
                JP11Error error = {};
                unsigned before, after;

                issue(f, cases[i].name, &cases[i].spec, &k);
                before = count(f);
                if (install_file(f, cases[i].file, NULL, &r, &error) < 0)
                        fail_msg("install %s: %s", cases[i].file, error.message);
                assert_true(r.leaf_written);
                assert_int_equal(r.ca_written + r.ca_present, i == 0 ? 0 : 2);
                after = count(f);
                assert_int_equal(after, before + 1 + r.ca_written);
                assert_true(asprintf(&pem, "%s.pem", cases[i].name) > 0);
                check_cert_object(f, pem, k.id, k.id_len, cases[i].name, 1);
                check_with_tools(f, cases[i].name, k.id, k.id_len, false);

                /* idempotent in every format */
                assert_int_equal(install_file(f, cases[i].file, NULL, &r, &error), 0);
                assert_false(r.leaf_written);
                assert_int_equal(r.ca_written, 0);
                assert_int_equal(count(f), after);
                jp11_generated_key_clear(&k);
        }
}

/* A certificate for a key that is not on the token: refused, nothing
 * written, not even its chain. */
static void test_mismatch(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *stranger = path(f, "stranger.pem"), *chain = path(f, "stranger-chain.pem");
        _cleanup_free_ char *inter = path(f, "intermediate.pem");
        _cleanup_free_ uint8_t *a = NULL, *b = NULL, *all = NULL;
        JP11InstallResult r = { .leaf_written = true };
        JP11Error error = {};
        size_t la, lb;
        unsigned before;

        /* a fresh CA, so none of its certificates is on the token yet */
        testca_free(f->ca);
        assert_int_equal(testca_new(&f->ca), 0);
        free(stranger);
        free(chain);
        free(inter);
        stranger = path(f, "stranger.pem");
        chain = path(f, "stranger-chain.pem");
        inter = path(f, "intermediate.pem");

        assert_int_equal(testca_make_leaf(f->ca, "stranger", "p256", "/C=FR/CN=Stranger"), 0);
        assert_int_equal(read_file(stranger, &a, &la), 0);
        assert_int_equal(read_file(inter, &b, &lb), 0);
        all = malloc(la + lb);
        assert_non_null(all);
        memcpy(all, a, la);
        memcpy(all + la, b, lb);
        assert_int_equal(write_file(chain, all, la + lb), 0);

        before = count(f);
        assert_int_equal(install_file(f, "stranger-chain.pem", NULL, &r, &error), -ENOKEY);
        assert_int_equal(error.kind, JP11_ERR_MISMATCH);
        assert_string_equal(error.message, "the certificate's public key matches no key on this token");
        assert_true(r.leaf_written); /* untouched */
        assert_int_equal(count(f), before);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pem_then_chain),
                cmocka_unit_test(test_der_and_pkcs7),
                cmocka_unit_test(test_mismatch),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
