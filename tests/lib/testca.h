/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Test fixture: a small certificate authority made with the openssl
 * command (not with our code), in a private temp directory:
 *
 *   root.pem/.key          self-signed root, CA:TRUE (EC P-256)
 *   intermediate.pem/.key  issuing CA signed by the root, CA:TRUE
 *
 *   _cleanup_(testca_freep) TestCA *ca = NULL;
 *   assert_int_equal(testca_new(&ca), 0);
 *   assert_int_equal(testca_make_leaf(ca, "alice", "p256", "/C=FR/CN=Alice"), 0);
 *   // alice.key, alice.csr, alice.pem (signed by the intermediate)
 *   _cleanup_free_ char *p = testca_path(ca, "alice.pem");
 *
 * Leaf certificates are CA:FALSE, carry a subjectKeyIdentifier (RFC 5280
 * method 1, computed by openssl) and copy the request's extensions. All
 * functions return 0 or a negative errno and print the tool's stderr when
 * it fails. */

#include <stddef.h>
#include <stdint.h>

#include "macro.h"

typedef struct TestCA TestCA;

int testca_new(TestCA **ret);
TestCA *testca_free(TestCA *ca);        /* removes the directory; accepts NULL; returns NULL */
DEFINE_TRIVIAL_CLEANUP_FUNC(TestCA *, testca_free);

const char *testca_dir(const TestCA *ca);
/* "<dir>/<name>", malloc'd (NULL on OOM). */
char *testca_path(const TestCA *ca, const char *name);

/* Key algorithm names: "p256", "p384", "rsa2048", "rsa3072". */
/* Writes <name>.key (new key), <name>.csr and <name>.pem (issued). */
int testca_make_leaf(TestCA *ca, const char *name, const char *keyalg, const char *subj);
/* Issues <name>.pem for an existing PKCS#10 request file (PEM), signed by
 * the intermediate, copying the request's extensions. */
int testca_sign_csr(TestCA *ca, const char *csr_path, const char *name);

/* The subjectKeyIdentifier extension of a certificate file (PEM), as
 * `openssl x509 -noout -ext subjectKeyIdentifier` prints it. */
int testca_cert_ski(const char *cert_path, uint8_t ret[20]);
/* The subjectKeyIdentifier openssl computes ("hash", RFC 5280 method 1)
 * for a public key file (PEM or DER SubjectPublicKeyInfo): it issues a
 * certificate for that key with -force_pubkey and reads the extension. */
int testca_ski_of_public_key(TestCA *ca, const char *pubkey_path, uint8_t ret[20]);

/* Runs an openssl command (argv without the leading "openssl"); 0 when it
 * exited 0, else -EIO (its stderr is printed). ret_out may be NULL. */
int testca_openssl(const char *const *args, char **ret_out);

/* Whole-file helpers. */
int read_file(const char *path, uint8_t **ret, size_t *ret_len);
int write_file(const char *path, const void *data, size_t len);
