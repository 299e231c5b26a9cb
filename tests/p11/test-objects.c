/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Listing keys and certificates from a real SoftHSM2 token whose objects
 * were made by independent tools (pkcs11-tool keygen and write-object,
 * p11tool for a CA certificate, openssl for the certificates), and every
 * field compared with what those tools say. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../lib/run.h"
#include "../lib/softhsm.h"
#include <openssl/err.h>
#include <openssl/pem.h>

#include "openssl-util.h"
#include "p11-login.h"
#include "p11-module.h"
#include "p11-objects.h"

#define TOKEN "objects"

typedef struct Fixture {
        SoftHSM *hsm;
        JP11Module *m;
        CK_SLOT_ID slot;
        char user_cert[4096], ca_cert[4096]; /* DER files */
} Fixture;

static const char *const pin_env[] = { "JETON_TEST_PIN=" SOFTHSM_TEST_PIN, "GNUTLS_PIN=" SOFTHSM_TEST_PIN,
                                       "GNUTLS_SO_PIN=" SOFTHSM_TEST_SO_PIN, NULL };

/* Runs a tool with the test PINs in its environment; must exit 0. */
static void tool(const char *const *argv, char **ret_out) {
        _cleanup_free_ char *err = NULL;
        int status;
        assert_int_equal(run(argv, pin_env, NULL, 0, ret_out, &err, &status), 0);
        if (status != 0)
                fail_msg("%s %s failed with exit code %d: %s", argv[0], argv[1], status, err);
}

static void keygen(const char *type, const char *id, const char *label) {
        const char *argv[] = { "pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label", TOKEN, "--login",
                               "--pin", "env:JETON_TEST_PIN", "--keypairgen", "--key-type", type, "--id", id,
                               "--label", label, NULL };
        tool(argv, NULL);
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);
        char serial[17], key[4096];
        JP11Slot slot;
        JP11Error e = {};

        assert_non_null(f);
        assert_int_equal(softhsm_new(&f->hsm), 0);
        assert_int_equal(softhsm_add_token(f->hsm, TOKEN, SOFTHSM_TEST_SO_PIN, SOFTHSM_TEST_PIN, serial), 0);

        keygen("rsa:2048", "01", "rsa-key");
        keygen("EC:prime256v1", "02", "ec-key");
        keygen("EC:secp384r1", "a1b2", "clé p384");
        keygen("rsa:2048", "04", "no public object");
        keygen("EC:prime256v1", "05", "ec no public object");

        /* A holder's certificate (user category, from pkcs11-tool) and a
         * CA certificate (p11tool --mark-ca sets category 2). */
        snprintf(f->user_cert, sizeof f->user_cert, "%s/user.der", softhsm_dir(f->hsm));
        snprintf(key, sizeof key, "%s/user.key", softhsm_dir(f->hsm));
        const char *req_user[] = { "openssl", "req", "-x509", "-utf8", "-newkey", "ec", "-pkeyopt",
                                   "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-subj",
                                   "/C=FR/O=Jeton Test/OU=0002 12345678200002/CN=Hélène Dupont",
                                   "-set_serial", "0x1234567890abcdef", "-days", "365", "-outform", "DER",
                                   "-out", f->user_cert, NULL };
        tool(req_user, NULL);
        const char *write_user[] = { "pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label", TOKEN,
                                     "--login", "--pin", "env:JETON_TEST_PIN", "--write-object", f->user_cert,
                                     "--type", "cert", "--id", "01", "--label", "cert one", NULL };
        tool(write_user, NULL);

        char ca_pem[4096];
        snprintf(ca_pem, sizeof ca_pem, "%s/ca.pem", softhsm_dir(f->hsm));
        snprintf(f->ca_cert, sizeof f->ca_cert, "%s/ca.der", softhsm_dir(f->hsm));
        snprintf(key, sizeof key, "%s/ca.key", softhsm_dir(f->hsm));
        const char *req_ca[] = { "openssl", "req", "-x509", "-utf8", "-newkey", "rsa:2048", "-nodes", "-keyout",
                                 key, "-subj", "/C=FR/O=Test CA/CN=Test Root", "-days", "30", "-out", ca_pem,
                                 NULL };
        tool(req_ca, NULL);
        const char *to_der[] = { "openssl", "x509", "-in", ca_pem, "-outform", "DER", "-out", f->ca_cert, NULL };
        tool(to_der, NULL);
        const char *write_ca[] = { "p11tool", "--provider", SOFTHSM_MODULE, "--so-login", "--write",
                                   "--load-certificate", ca_pem, "--mark-ca", "--label", "test ca", "--id", "0a",
                                   "pkcs11:token=" TOKEN, NULL };
        tool(write_ca, NULL);

        assert_int_equal(jp11_module_load(SOFTHSM_MODULE, &f->m, &e), 0);
        assert_int_equal(jp11_module_find_token(f->m, serial, NULL, &slot, &e), 0);
        f->slot = slot.id;

        /* Remove the public key objects of 04 and 05 with the module
         * itself, for the fallbacks of jp11_read_public_key. */
        _cleanup_(jp11_session_closep) JP11Session *s = NULL;
        _cleanup_(jp11_pin_freep) JP11Pin *pin = NULL;
        assert_int_equal(jp11_pin_new(SOFTHSM_TEST_PIN, strlen(SOFTHSM_TEST_PIN), &pin, NULL), 0);
        assert_int_equal(jp11_session_open(f->m, f->slot, true, &s, &e), 0);
        assert_int_equal(jp11_login(s, JP11_USER_NORMAL, pin, 0, NULL, &e), 0);
        for (uint8_t id = 4; id <= 5; id++) {
                CK_OBJECT_HANDLE h;
                assert_int_equal(jp11_find_key_by_id(s, false, &id, 1, &h, &e), 0);
                assert_int_equal(jp11_session_functions(s)->C_DestroyObject(jp11_session_handle(s), h), CKR_OK);
        }
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        if (!f)
                return 0;
        jp11_module_unload(f->m);
        softhsm_free(f->hsm);
        free(f);
        return 0;
}

static JP11Session *open_logged_in(Fixture *f) {
        JP11Session *s = NULL;
        JP11Pin *pin = NULL;
        JP11Error e = {};

        assert_int_equal(jp11_pin_new(SOFTHSM_TEST_PIN, strlen(SOFTHSM_TEST_PIN), &pin, NULL), 0);
        assert_int_equal(jp11_session_open(f->m, f->slot, false, &s, &e), 0);
        assert_int_equal(jp11_login(s, JP11_USER_NORMAL, pin, 0, NULL, &e), 0);
        jp11_pin_free(pin);
        return s;
}

static void hex(const uint8_t *v, size_t n, char *out) {
        for (size_t i = 0; i < n; i++)
                sprintf(out + 2 * i, "%02x", v[i]);
        out[2 * n] = '\0';
}

/* ---- pkcs11-tool's view ---------------------------------------------- */

typedef struct ToolObject {
        char kind[32];   /* "Private Key", "Public Key", "Certificate" */
        char header[128];
        char label[256], id[256], usage[256], access[256], ec_params[128];
} ToolObject;

static size_t tool_objects(ToolObject *out, size_t max) {
        const char *argv[] = { "pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label", TOKEN, "--login",
                               "--pin", "env:JETON_TEST_PIN", "--list-objects", NULL };
        _cleanup_free_ char *text = NULL;
        size_t n = 0;

        tool(argv, &text);
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *p = strstr(line, " Object; ");
                if (line[0] != ' ' && p) {
                        assert_true(n < max);
                        out[n] = (ToolObject) {};
                        snprintf(out[n].kind, sizeof out[n].kind, "%.*s", (int) (p - line), line);
                        snprintf(out[n].header, sizeof out[n].header, "%s", p + 9);
                        n++;
                        continue;
                }
                if (n == 0)
                        continue;
                ToolObject *o = &out[n - 1];
                const char *v = strchr(line, ':');
                if (!v)
                        continue;
                v++;
                v += strspn(v, " ");
                const char *k = line + strspn(line, " ");
                if (strncmp(k, "label:", 6) == 0)
                        snprintf(o->label, sizeof o->label, "%s", v);
                else if (strncmp(k, "ID:", 3) == 0)
                        snprintf(o->id, sizeof o->id, "%s", v);
                else if (strncmp(k, "Usage:", 6) == 0)
                        snprintf(o->usage, sizeof o->usage, "%s", v);
                else if (strncmp(k, "Access:", 7) == 0)
                        snprintf(o->access, sizeof o->access, "%s", v);
                else if (strncmp(k, "EC_PARAMS:", 10) == 0)
                        snprintf(o->ec_params, sizeof o->ec_params, "%s", v);
        }
        return n;
}

static const ToolObject *tool_find(const ToolObject *objs, size_t n, const char *kind, const char *id) {
        for (size_t i = 0; i < n; i++)
                if (streq(objs[i].kind, kind) && streq(objs[i].id, id))
                        return &objs[i];
        return NULL;
}

/* Is 'word' one of the ", "-separated items of 'list'? */
static bool has_item(const char *list, const char *word) {
        size_t len = strlen(word);
        for (const char *p = list; (p = strstr(p, word)); p += len)
                if ((p == list || (p - list >= 2 && p[-2] == ',' && p[-1] == ' ')) &&
                    (p[len] == ',' || p[len] == '\0'))
                        return true;
        return false;
}

static void test_names(void **state) {
        assert_string_equal(jp11_key_type_name(JP11_KEY_RSA), "RSA");
        assert_string_equal(jp11_key_type_name(JP11_KEY_EC), "EC");
        assert_string_equal(jp11_curve_name(JP11_CURVE_P256), "P-256");
        assert_string_equal(jp11_curve_name(JP11_CURVE_P384), "P-384");
        assert_string_equal(jp11_curve_name(JP11_CURVE_P521), "P-521");
}

static void test_list_keys(void **state) {
        Fixture *f = *state;
        _cleanup_(jp11_session_closep) JP11Session *s = open_logged_in(f);
        ToolObject objs[32];
        JP11Key *keys = NULL;
        size_t n = 0, n_tool, n_priv = 0, n_pub = 0;
        JP11Error e = {};

        n_tool = tool_objects(objs, ELEMENTSOF(objs));
        assert_int_equal(jp11_list_keys(s, &keys, &n, &e), 0);
        assert_int_equal(n, 8); /* 5 private, 3 public */

        for (size_t i = 0; i < n; i++) {
                const JP11Key *k = &keys[i];
                char id[2 * JP11_ID_MAX + 1];
                hex(k->id, k->id_len, id);
                const ToolObject *t = tool_find(objs, n_tool, k->is_private ? "Private Key" : "Public Key", id);
                assert_non_null(t);
                assert_string_equal(k->label, t->label);

                /* The bits as pkcs11-tool reads them from the public key
                 * (RSA) or the curve from CKA_EC_PARAMS (EC). */
                if (k->type == JP11_KEY_RSA) {
                        assert_non_null(strstr(t->header, "RSA"));
                        assert_int_equal(k->bits, 2048);
                        assert_int_equal(k->curve, JP11_CURVE_NONE);
                        const ToolObject *pub = tool_find(objs, n_tool, "Public Key", id);
                        if (pub)
                                assert_non_null(strstr(pub->header, "RSA 2048 bits"));
                } else {
                        assert_int_equal(k->type, JP11_KEY_EC);
                        assert_non_null(strstr(t->header, "EC"));
                        if (streq(t->ec_params, "06082a8648ce3d030107")) {
                                assert_int_equal(k->curve, JP11_CURVE_P256);
                                assert_int_equal(k->bits, 256);
                        } else if (streq(t->ec_params, "06052b81040022")) {
                                assert_int_equal(k->curve, JP11_CURVE_P384);
                                assert_int_equal(k->bits, 384);
                        } else if (k->is_private) {
                                /* pkcs11-tool shows no EC_PARAMS for private keys */
                                assert_true(k->curve == JP11_CURVE_P256 || k->curve == JP11_CURVE_P384);
                                const ToolObject *pub = tool_find(objs, n_tool, "Public Key", id);
                                if (pub)
                                        assert_non_null(strstr(pub->header, k->curve == JP11_CURVE_P256
                                                                                    ? "EC_POINT 256 bits"
                                                                                    : "EC_POINT 384 bits"));
                        } else
                                fail_msg("unexpected EC_PARAMS %s", t->ec_params);
                }

                assert_int_equal(k->local, has_item(t->access, "local"));
                if (!k->is_private) {
                        n_pub++;
                        continue;
                }
                n_priv++;
                assert_int_equal(k->sensitive, has_item(t->access, "sensitive"));
                assert_int_equal(k->always_sensitive, has_item(t->access, "always sensitive"));
                assert_int_equal(k->never_extractable, has_item(t->access, "never extractable"));
                assert_int_equal(k->extractable, has_item(t->access, "extractable"));
                assert_int_equal(k->always_authenticate, has_item(t->access, "always authenticate"));
                assert_int_equal(k->sign, has_item(t->usage, "sign"));
                assert_int_equal(k->decrypt, has_item(t->usage, "decrypt"));
                assert_int_equal(k->unwrap, has_item(t->usage, "unwrap"));
                assert_int_equal(k->derive, has_item(t->usage, "derive"));
                /* What SoftHSM sets for pkcs11-tool's keygen. */
                assert_true(k->local && k->sensitive && k->sign && !k->extractable);
        }
        assert_int_equal(n_priv, 5);
        assert_int_equal(n_pub, 3);
        jp11_keys_free(keys, n);
}

/* Without login the private keys (CKA_PRIVATE) are invisible. */
static void test_list_keys_logged_out(void **state) {
        Fixture *f = *state;
        _cleanup_(jp11_session_closep) JP11Session *s = NULL;
        JP11Key *keys = NULL;
        size_t n = 0;
        JP11Error e = {};

        assert_int_equal(jp11_session_open(f->m, f->slot, false, &s, &e), 0);
        assert_int_equal(jp11_list_keys(s, &keys, &n, &e), 0);
        assert_int_equal(n, 3);
        for (size_t i = 0; i < n; i++)
                assert_false(keys[i].is_private);
        jp11_keys_free(keys, n);
}

typedef struct OpensslView {
        char subject[512], issuer[512], serial[128];
        time_t not_before, not_after;
} OpensslView;

static time_t parse_iso(const char *s) {
        struct tm tm = {};
        const char *end = strptime(s, "%Y-%m-%d %H:%M:%SZ", &tm);
        assert_non_null(end);
        return timegm(&tm);
}

static void openssl_view(const char *der_path, OpensslView *v) {
        const char *argv[] = { "openssl", "x509", "-inform", "DER", "-in", der_path, "-noout", "-subject",
                               "-issuer", "-serial", "-startdate", "-enddate", "-nameopt", "RFC2253,-esc_msb",
                               "-dateopt", "iso_8601", NULL };
        _cleanup_free_ char *out = NULL;
        tool(argv, &out);

        *v = (OpensslView) {};
        char *save = NULL;
        for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *eq = strchr(line, '=');
                assert_non_null(eq);
                *eq++ = '\0';
                if (streq(line, "subject"))
                        snprintf(v->subject, sizeof v->subject, "%s", eq);
                else if (streq(line, "issuer"))
                        snprintf(v->issuer, sizeof v->issuer, "%s", eq);
                else if (streq(line, "serial"))
                        snprintf(v->serial, sizeof v->serial, "%s", eq);
                else if (streq(line, "notBefore"))
                        v->not_before = parse_iso(eq);
                else if (streq(line, "notAfter"))
                        v->not_after = parse_iso(eq);
        }
}

static void assert_file_content(const char *path, const uint8_t *data, size_t len) {
        FILE *fp = fopen(path, "re");
        assert_non_null(fp);
        uint8_t buf[8192];
        size_t n = fread(buf, 1, sizeof buf, fp);
        fclose(fp);
        assert_int_equal(n, len);
        assert_memory_equal(buf, data, len);
}

static void test_list_certificates(void **state) {
        Fixture *f = *state;
        _cleanup_(jp11_session_closep) JP11Session *s = NULL;
        JP11Certificate *certs = NULL;
        size_t n = 0;
        JP11Error e = {};

        /* Certificates are public objects: no login needed. */
        assert_int_equal(jp11_session_open(f->m, f->slot, false, &s, &e), 0);
        assert_int_equal(jp11_list_certificates(s, &certs, &n, &e), 0);
        assert_int_equal(n, 2);

        /* p11tool's reading of CKA_CERTIFICATE_CATEGORY. */
        const char *argv[] = { "p11tool", "--provider", SOFTHSM_MODULE, "--list-all-certs", "pkcs11:token=" TOKEN,
                               NULL };
        _cleanup_free_ char *listing = NULL;
        tool(argv, &listing);

        for (size_t i = 0; i < n; i++) {
                const JP11Certificate *c = &certs[i];
                char id[2 * JP11_ID_MAX + 1];
                const char *path;
                OpensslView v;

                hex(c->id, c->id_len, id);
                if (streq(c->label, "cert one")) {
                        assert_string_equal(id, "01");
                        assert_int_equal(c->category, 0); /* pkcs11-tool does not set it */
                        path = f->user_cert;
                        assert_string_equal(c->subject, "CN=Hélène Dupont,OU=0002 12345678200002,O=Jeton Test,C=FR");
                        assert_string_equal(c->serial, "1234567890ABCDEF");
                } else {
                        assert_string_equal(c->label, "test ca");
                        assert_string_equal(id, "0a");
                        assert_int_equal(c->category, 2);
                        assert_non_null(strstr(listing, "CKA_CERTIFICATE_CATEGORY=CA"));
                        path = f->ca_cert;
                }
                openssl_view(path, &v);
                assert_string_equal(c->subject, v.subject);
                assert_string_equal(c->issuer, v.issuer);
                assert_string_equal(c->serial, v.serial);
                assert_int_equal(c->not_before, v.not_before);
                assert_int_equal(c->not_after, v.not_after);
                assert_true(c->not_after > c->not_before);
                assert_file_content(path, c->der, c->der_len);
        }
        jp11_certificates_free(certs, n);
        jp11_certificates_free(NULL, 0);
}

/* The public key read through the library equals the one p11tool
 * exports from the public key object. (pkcs11-tool 0.23 cannot export a
 * P-384 public key with OpenSSL 3.) */
static void assert_pubkey_matches_tool(EVP_PKEY *pk, const char *id_hex) {
        char url[256] = "pkcs11:token=" TOKEN ";type=public;id=";
        for (const char *p = id_hex; *p; p += 2)
                snprintf(url + strlen(url), sizeof url - strlen(url), "%%%.2s", p);
        const char *argv[] = { "p11tool", "--provider", SOFTHSM_MODULE, "--login", "--export-pubkey", url, NULL };
        _cleanup_free_ char *pem = NULL;
        _cleanup_openssl_free_ unsigned char *der = NULL, *tool_der = NULL;

        tool(argv, &pem);
        _cleanup_(BIO_free_allp) BIO *bio = BIO_new_mem_buf(pem, -1);
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *exported = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        assert_non_null(exported);
        assert_int_equal(EVP_PKEY_eq(pk, exported), 1);
        int len = i2d_PUBKEY(pk, &der), tool_len = i2d_PUBKEY(exported, &tool_der);
        assert_true(len > 0);
        assert_int_equal(len, tool_len);
        assert_memory_equal(der, tool_der, (size_t) len);
}

static void test_read_public_key(void **state) {
        Fixture *f = *state;
        _cleanup_(jp11_session_closep) JP11Session *s = open_logged_in(f);
        const struct {
                uint8_t id[2];
                size_t id_len;
                const char *hex;
                int type;
                int bits;
        } cases[] = {
                { { 0x01 }, 1, "01", EVP_PKEY_RSA, 2048 },
                { { 0x02 }, 1, "02", EVP_PKEY_EC, 256 },
                { { 0xa1, 0xb2 }, 2, "a1b2", EVP_PKEY_EC, 384 },
        };
        JP11Error e = {};

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                CK_OBJECT_HANDLE priv, pub;
                assert_int_equal(jp11_find_key_by_id(s, true, cases[i].id, cases[i].id_len, &priv, &e), 0);
                assert_int_equal(jp11_find_key_by_id(s, false, cases[i].id, cases[i].id_len, &pub, &e), 0);
                assert_int_not_equal(priv, pub);

                _cleanup_(EVP_PKEY_freep) EVP_PKEY *from_priv = NULL;
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *from_pub = NULL;
                assert_int_equal(jp11_read_public_key(s, priv, &from_priv, &e), 0);
                assert_int_equal(jp11_read_public_key(s, pub, &from_pub, &e), 0);
                assert_int_equal(EVP_PKEY_get_base_id(from_priv), cases[i].type);
                assert_int_equal(EVP_PKEY_get_bits(from_priv), cases[i].bits);
                assert_int_equal(EVP_PKEY_eq(from_priv, from_pub), 1);
                assert_pubkey_matches_tool(from_priv, cases[i].hex);
        }
}

/* No public key object: RSA is rebuilt from the private key's modulus and
 * exponent; SoftHSM's EC private keys carry no point, so that is refused
 * with a clear error rather than a wrong key. */
static void test_read_public_key_fallback(void **state) {
        Fixture *f = *state;
        _cleanup_(jp11_session_closep) JP11Session *s = open_logged_in(f);
        CK_OBJECT_HANDLE priv;
        uint8_t id = 4;
        JP11Error e = {};

        assert_int_equal(jp11_find_key_by_id(s, false, &id, 1, &priv, &e), -ENOENT);
        assert_int_equal(e.kind, JP11_ERR_NOT_FOUND);
        assert_int_equal(jp11_find_key_by_id(s, true, &id, 1, &priv, &e), 0);
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pk = NULL;
        assert_int_equal(jp11_read_public_key(s, priv, &pk, &e), 0);
        assert_int_equal(EVP_PKEY_get_base_id(pk), EVP_PKEY_RSA);
        assert_int_equal(EVP_PKEY_get_bits(pk), 2048);

        /* The rebuilt key is the key pair's: a signature made on the token
         * with the private key verifies with it. */
        CK_FUNCTION_LIST_PTR fl = jp11_session_functions(s);
        CK_MECHANISM mech = { CKM_SHA256_RSA_PKCS, NULL, 0 };
        uint8_t msg[] = "jeton", sig[512];
        CK_ULONG sig_len = sizeof sig;
        assert_int_equal(fl->C_SignInit(jp11_session_handle(s), &mech, priv), CKR_OK);
        assert_int_equal(fl->C_Sign(jp11_session_handle(s), msg, sizeof msg, sig, &sig_len), CKR_OK);
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pk), 1);
        assert_int_equal(EVP_DigestVerify(ctx, sig, sig_len, msg, sizeof msg), 1);

        id = 5;
        assert_int_equal(jp11_find_key_by_id(s, true, &id, 1, &priv, &e), 0);
        EVP_PKEY *ec = NULL;
        assert_int_equal(jp11_read_public_key(s, priv, &ec, &e), -ENOENT);
        assert_int_equal(e.kind, JP11_ERR_NOT_FOUND);
        assert_null(ec);
}

/* CKA_PUBLIC_KEY_INFO, when the token fills it, is the answer. To see
 * that it is used, a session object carries the point of one key and the
 * SubjectPublicKeyInfo of another (made with OpenSSL). */
static void test_read_public_key_info(void **state) {
        Fixture *f = *state;
        _cleanup_(jp11_session_closep) JP11Session *s = open_logged_in(f);
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *a = EVP_EC_gen("P-256");
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *b = EVP_EC_gen("P-256");
        _cleanup_openssl_free_ unsigned char *spki_b = NULL;
        uint8_t point_a[65 + 2], params[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
        size_t point_len = 0;
        JP11Error e = {};

        assert_non_null(a);
        assert_non_null(b);
        int spki_len = i2d_PUBKEY(b, &spki_b);
        assert_true(spki_len > 0);
        /* CKA_EC_POINT: DER OCTET STRING around the uncompressed point. */
        assert_int_equal(EVP_PKEY_get_octet_string_param(a, "encoded-pub-key", point_a + 2, 65, &point_len), 1);
        assert_int_equal(point_len, 65);
        point_a[0] = 0x04;
        point_a[1] = 65;

        CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
        CK_KEY_TYPE kt = CKK_EC;
        CK_BBOOL no = CK_FALSE;
        uint8_t id = 0x77;
        CK_ATTRIBUTE tmpl[] = {
                { CKA_CLASS, &cls, sizeof cls },
                { CKA_KEY_TYPE, &kt, sizeof kt },
                { CKA_TOKEN, &no, sizeof no },
                { CKA_ID, &id, 1 },
                { CKA_EC_PARAMS, params, sizeof params },
                { CKA_EC_POINT, point_a, sizeof point_a },
                { CKA_PUBLIC_KEY_INFO, spki_b, (CK_ULONG) spki_len },
        };
        CK_OBJECT_HANDLE h, h2;
        assert_int_equal(jp11_session_functions(s)->C_CreateObject(jp11_session_handle(s), tmpl, ELEMENTSOF(tmpl),
                                                                   &h),
                         CKR_OK);

        _cleanup_(EVP_PKEY_freep) EVP_PKEY *got = NULL;
        assert_int_equal(jp11_read_public_key(s, h, &got, &e), 0);
        assert_int_equal(EVP_PKEY_eq(got, b), 1);

        /* Without CKA_PUBLIC_KEY_INFO the raw point (no OCTET STRING, as
         * some modules return it) gives key A. */
        tmpl[5] = (CK_ATTRIBUTE) { CKA_EC_POINT, point_a + 2, 65 };
        assert_int_equal(jp11_session_functions(s)->C_CreateObject(jp11_session_handle(s), tmpl, ELEMENTSOF(tmpl) - 1,
                                                                   &h2),
                         CKR_OK);
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *raw = NULL;
        assert_int_equal(jp11_read_public_key(s, h2, &raw, &e), 0);
        assert_int_equal(EVP_PKEY_eq(raw, a), 1);
}

static void test_find_key_by_id(void **state) {
        Fixture *f = *state;
        _cleanup_(jp11_session_closep) JP11Session *s = open_logged_in(f);
        JP11Key *keys = NULL;
        size_t n = 0;
        CK_OBJECT_HANDLE h;
        JP11Error e = {};

        assert_int_equal(jp11_list_keys(s, &keys, &n, &e), 0);
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(jp11_find_key_by_id(s, keys[i].is_private, keys[i].id, keys[i].id_len, &h, &e), 0);
                assert_int_equal(h, keys[i].handle);
        }
        jp11_keys_free(keys, n);

        const uint8_t unknown[] = { 0xde, 0xad };
        assert_int_equal(jp11_find_key_by_id(s, true, unknown, sizeof unknown, &h, &e), -ENOENT);
        assert_int_equal(e.kind, JP11_ERR_NOT_FOUND);

        /* A certificate handle is not a key. */
        JP11Certificate *certs = NULL;
        assert_int_equal(jp11_list_certificates(s, &certs, &n, &e), 0);
        assert_true(n > 0);
        EVP_PKEY *pk = NULL;
        assert_int_equal(jp11_read_public_key(s, certs[0].handle, &pk, &e), -EINVAL);
        assert_int_equal(e.kind, JP11_ERR_INVALID);
        jp11_certificates_free(certs, n);
}

/* A raw uncompressed point is 04 || X || Y; when X starts with 0x3f (63,
 * the number of bytes that follow) it also parses as a DER OCTET STRING
 * holding X[1..] || Y. Such a point, returned raw as some modules do,
 * must still give the right key. */
static void test_read_public_key_raw_point_looks_wrapped(void **state) {
        Fixture *f = *state;
        _cleanup_(jp11_session_closep) JP11Session *s = open_logged_in(f);
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        uint8_t point[65], params[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
        size_t point_len = 0;
        JP11Error e = {};

        /* About 256 key generations on average; bounded all the same. */
        for (unsigned i = 0; i < 100000; i++) {
                EVP_PKEY_free(k);
                k = EVP_EC_gen("P-256");
                assert_non_null(k);
                assert_int_equal(EVP_PKEY_get_octet_string_param(k, "encoded-pub-key", point, sizeof point, &point_len),
                                 1);
                assert_int_equal(point_len, 65);
                if (point[1] == 63)
                        break;
        }
        assert_int_equal(point[0], 0x04);
        assert_int_equal(point[1], 63);

        CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
        CK_KEY_TYPE kt = CKK_EC;
        CK_BBOOL no = CK_FALSE;
        uint8_t id = 0x78;
        CK_ATTRIBUTE tmpl[] = {
                { CKA_CLASS, &cls, sizeof cls },      { CKA_KEY_TYPE, &kt, sizeof kt },
                { CKA_TOKEN, &no, sizeof no },        { CKA_ID, &id, 1 },
                { CKA_EC_PARAMS, params, sizeof params }, { CKA_EC_POINT, point, sizeof point },
        };
        CK_OBJECT_HANDLE h;
        assert_int_equal(jp11_session_functions(s)->C_CreateObject(jp11_session_handle(s), tmpl, ELEMENTSOF(tmpl), &h),
                         CKR_OK);

        _cleanup_(EVP_PKEY_freep) EVP_PKEY *got = NULL;
        ERR_clear_error();
        assert_int_equal(jp11_read_public_key(s, h, &got, &e), 0);
        assert_int_equal(EVP_PKEY_eq(got, k), 1);
        /* The failed first reading left nothing in OpenSSL's error queue. */
        assert_int_equal(ERR_peek_error(), 0);
}

/* A certificate object whose value is not DER is listed (the token holds
 * it) without names, and the failed parse leaves nothing in OpenSSL's
 * error queue, which belongs to the caller. */
static void test_list_certificates_garbage(void **state) {
        Fixture *f = *state;
        _cleanup_(jp11_session_closep) JP11Session *s = open_logged_in(f);
        CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
        CK_CERTIFICATE_TYPE type = CKC_X_509;
        CK_BBOOL no = CK_FALSE;
        uint8_t value[] = { 0x30, 0x03, 0x02, 0x01, 0x05, 0xff }, subject[] = { 0x30, 0x00 }, id = 0x79;
        CK_ATTRIBUTE tmpl[] = {
                { CKA_CLASS, &cls, sizeof cls },   { CKA_CERTIFICATE_TYPE, &type, sizeof type },
                { CKA_TOKEN, &no, sizeof no },     { CKA_ID, &id, 1 },
                { CKA_SUBJECT, subject, sizeof subject }, { CKA_VALUE, value, sizeof value },
                { CKA_LABEL, "garbage", 7 },
        };
        CK_OBJECT_HANDLE h;
        JP11Certificate *certs = NULL;
        size_t n = 0;
        bool found = false;
        JP11Error e = {};

        assert_int_equal(jp11_session_functions(s)->C_CreateObject(jp11_session_handle(s), tmpl, ELEMENTSOF(tmpl), &h),
                         CKR_OK);
        ERR_clear_error();
        assert_int_equal(jp11_list_certificates(s, &certs, &n, &e), 0);
        assert_int_equal(ERR_peek_error(), 0);
        for (size_t i = 0; i < n; i++)
                if (certs[i].handle == h) {
                        found = true;
                        assert_string_equal(certs[i].label, "garbage");
                        assert_int_equal(certs[i].der_len, sizeof value);
                        assert_string_equal(certs[i].subject, "");
                        assert_int_equal(certs[i].not_after, 0);
                }
        jp11_certificates_free(certs, n);
        assert_true(found);
}

/* Another session changes a value between the two C_GetAttributeValue
 * calls (size, then value): SoftHSM then answers CKR_BUFFER_TOO_SMALL,
 * and the reading starts over instead of failing. The change is made for
 * real, on SoftHSM, from inside a pass-through wrapper, right after the
 * size was read. */
static CK_C_GetAttributeValue real_get_attribute_value;
static CK_C_SetAttributeValue real_set_attribute_value;
static CK_SESSION_HANDLE relabel_session;
static CK_OBJECT_HANDLE relabel_object;
static unsigned relabel_count;

static CK_RV relabelling_get_attribute_value(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_PTR t,
                                             CK_ULONG n) {
        CK_RV rv = real_get_attribute_value(h, obj, t, n);

        if (obj == relabel_object && n == 1 && t[0].type == CKA_LABEL && !t[0].pValue && relabel_count < 2) {
                /* Longer each time: the first retry meets a second change. */
                char label[64];
                snprintf(label, sizeof label, "relabelled while reading, %u", relabel_count);
                CK_ATTRIBUTE a = { CKA_LABEL, label, strlen(label) + relabel_count };
                memset(label + strlen(label), '!', relabel_count);
                assert_int_equal(real_set_attribute_value(relabel_session, obj, &a, 1), CKR_OK);
                relabel_count++;
        }
        return rv;
}

static void test_attribute_changes_between_calls(void **state) {
        Fixture *f = *state;
        _cleanup_(jp11_session_closep) JP11Session *s = open_logged_in(f);
        _cleanup_(jp11_session_closep) JP11Session *writer = NULL;
        CK_FUNCTION_LIST_PTR fl = jp11_session_functions(s);
        uint8_t id = 0x02;
        JP11Key *keys = NULL;
        size_t n = 0;
        bool found = false;
        JP11Error e = {};

        assert_int_equal(jp11_session_open(f->m, f->slot, true, &writer, &e), 0);
        assert_int_equal(jp11_find_key_by_id(s, false, &id, 1, &relabel_object, &e), 0);
        relabel_session = jp11_session_handle(writer);
        relabel_count = 0;
        real_get_attribute_value = fl->C_GetAttributeValue;
        real_set_attribute_value = fl->C_SetAttributeValue;
        fl->C_GetAttributeValue = relabelling_get_attribute_value;
        int r = jp11_list_keys(s, &keys, &n, &e);
        fl->C_GetAttributeValue = real_get_attribute_value;

        if (r < 0)
                fail_msg("jp11_list_keys: %s", e.message);
        assert_int_equal(relabel_count, 2);
        for (size_t i = 0; i < n; i++)
                if (keys[i].handle == relabel_object) {
                        found = true;
                        assert_string_equal(keys[i].label, "relabelled while reading, 1!");
                }
        jp11_keys_free(keys, n);
        assert_true(found);

        /* Put the label back for whoever comes next. */
        CK_ATTRIBUTE a = { CKA_LABEL, "ec-key", 6 };
        assert_int_equal(fl->C_SetAttributeValue(relabel_session, relabel_object, &a, 1), CKR_OK);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_list_keys),
                cmocka_unit_test(test_list_keys_logged_out),
                cmocka_unit_test(test_list_certificates),
                cmocka_unit_test(test_read_public_key),
                cmocka_unit_test(test_read_public_key_fallback),
                cmocka_unit_test(test_read_public_key_info),
                cmocka_unit_test(test_find_key_by_id),
                cmocka_unit_test(test_read_public_key_raw_point_looks_wrapped),
                cmocka_unit_test(test_list_certificates_garbage),
                cmocka_unit_test(test_attribute_changes_between_calls),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
