/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "cert.h"
#include "openssl-util.h"
#include "p11-keygen.h"
#include "p11-objects.h"
#include "subject.h"

/* ---- parsing ------------------------------------------------------------ */

static const char *openssl_reason(void) {
        const char *s = ERR_reason_error_string(ERR_peek_last_error());
        return s ?: "unknown error";
}

static int push_cert(STACK_OF(X509) *certs, X509 *c, JP11Error *error) {
        /* The same certificate twice (a chain file that repeats the leaf)
         * must not look like two end-entity certificates. */
        for (int i = 0; i < sk_X509_num(certs); i++)
                if (X509_cmp(sk_X509_value(certs, i), c) == 0)
                        return 0;

        if (!X509_up_ref(c))
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
        if (!sk_X509_push(certs, c)) {
                X509_free(c);
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
        }
        return 0;
}

/* DER of exactly one X.509 certificate (nothing after it). */
static int parse_der_cert(const uint8_t *der, long len, STACK_OF(X509) *certs, const char *what,
                          JP11Error *error) {
        _cleanup_(X509_freep) X509 *c = NULL;
        const uint8_t *p = der;

        c = d2i_X509(NULL, &p, len);
        if (!c)
                return jp11_error_set(error, -EBADMSG, JP11_ERR_FORMAT, "%s is not a valid X.509 certificate: %s",
                                      what, openssl_reason());
        if (p != der + len)
                return jp11_error_set(error, -EBADMSG, JP11_ERR_FORMAT,
                                      "%s has %ld bytes of trailing data after the certificate", what,
                                      (long) (der + len - p));
        return push_cert(certs, c, error);
}

static int take_pkcs7_certs(PKCS7 *p7, STACK_OF(X509) *certs, const char *what, JP11Error *error) {
        STACK_OF(X509) *in;
        int r;

        if (!PKCS7_type_is_signed(p7) || !p7->d.sign)
                return jp11_error_set(error, -EBADMSG, JP11_ERR_FORMAT,
                                      "%s is a PKCS#7 structure but not SignedData (a certificate bundle)", what);

        in = p7->d.sign->cert;
        if (sk_X509_num(in) <= 0)
                return jp11_error_set(error, -EBADMSG, JP11_ERR_FORMAT, "%s is a PKCS#7 bundle with no certificate",
                                      what);

        for (int i = 0; i < sk_X509_num(in); i++) {
                r = push_cert(certs, sk_X509_value(in, i), error);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_der_pkcs7(const uint8_t *der, long len, STACK_OF(X509) *certs, const char *what,
                           JP11Error *error) {
        _cleanup_(PKCS7_freep) PKCS7 *p7 = NULL;
        const uint8_t *p = der;

        p7 = d2i_PKCS7(NULL, &p, len);
        if (!p7)
                return jp11_error_set(error, -EBADMSG, JP11_ERR_FORMAT, "%s is not a valid PKCS#7 bundle: %s", what,
                                      openssl_reason());
        if (p != der + len)
                return jp11_error_set(error, -EBADMSG, JP11_ERR_FORMAT,
                                      "%s has %ld bytes of trailing data after the PKCS#7 bundle", what,
                                      (long) (der + len - p));
        return take_pkcs7_certs(p7, certs, what, error);
}

/* An X.509 certificate and a PKCS#7 ContentInfo are both SEQUENCEs; a
 * certificate's first element is a SEQUENCE (tbsCertificate), a
 * ContentInfo's an OBJECT IDENTIFIER. Looking at it gives a precise error
 * for a damaged file instead of "neither" from two failed parses. */
static int parse_der(const uint8_t *data, size_t size, STACK_OF(X509) *certs, JP11Error *error) {
        const uint8_t *p = data;
        long len = 0, inner_len;
        int tag = -1, class = -1, ret;

        /* On a length beyond the data OpenSSL flags an error but still
         * reports the header, which is what tells "truncated" apart. */
        if (data[0] != (V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED))
                return jp11_error_set(error, -EBADMSG, JP11_ERR_FORMAT,
                                      "not a certificate: no PEM block and not DER");
        if (size < 2 || (data[1] & 0x80 && (size_t) (data[1] & 0x7f) > size - 2))
                return jp11_error_set(error, -EBADMSG, JP11_ERR_FORMAT,
                                      "truncated DER: the data ends inside its first header (%zu bytes)", size);

        ret = ASN1_get_object(&p, &len, &tag, &class, (long) size);
        if (tag != V_ASN1_SEQUENCE || class != V_ASN1_UNIVERSAL || !(ret & V_ASN1_CONSTRUCTED) || len < 0)
                return jp11_error_set(error, -EBADMSG, JP11_ERR_FORMAT,
                                      "not a certificate: no PEM block and not DER");
        if ((size_t) (p - data) + (size_t) len > size)
                return jp11_error_set(error, -EBADMSG, JP11_ERR_FORMAT,
                                      "truncated DER: the data announces %zu bytes, only %zu are there",
                                      (size_t) (p - data) + (size_t) len, size);

        tag = -1;
        (void) ASN1_get_object(&p, &inner_len, &tag, &class, len);
        if (tag == V_ASN1_OBJECT && class == V_ASN1_UNIVERSAL)
                return parse_der_pkcs7(data, (long) size, certs, "the DER data", error);
        return parse_der_cert(data, (long) size, certs, "the DER data", error);
}

static int parse_pem(const uint8_t *data, size_t size, STACK_OF(X509) *certs, JP11Error *error) {
        _cleanup_(BIO_free_allp) BIO *bio = NULL;
        int r;

        bio = BIO_new_mem_buf(data, (int) size);
        if (!bio)
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");

        for (unsigned n = 1;; n++) {
                _cleanup_openssl_free_ char *name = NULL, *header = NULL;
                _cleanup_openssl_free_ unsigned char *body = NULL;
                char what[64];
                long len;

                if (!PEM_read_bio(bio, &name, &header, &body, &len)) {
                        unsigned long e = ERR_peek_last_error();

                        if (n > 1 && ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
                                return 0; /* no further block */
                        return jp11_error_set(error, -EBADMSG, JP11_ERR_FORMAT, "corrupted PEM block %u: %s", n,
                                              openssl_reason());
                }

                snprintf(what, sizeof what, "PEM block %u", n);
                if (streq(name, "CERTIFICATE") || streq(name, "X509 CERTIFICATE"))
                        r = parse_der_cert(body, len, certs, what, error);
                else if (streq(name, "PKCS7") || streq(name, "PKCS #7 SIGNED DATA"))
                        r = parse_der_pkcs7(body, len, certs, what, error);
                else
                        r = jp11_error_set(error, -EBADMSG, JP11_ERR_FORMAT,
                                           "PEM block %u is a \"%.40s\", not a certificate or PKCS#7 bundle", n,
                                           name);
                if (r < 0)
                        return r;
        }
}

static bool issued_another(X509 *c, STACK_OF(X509) *certs) {
        for (int i = 0; i < sk_X509_num(certs); i++) {
                X509 *other = sk_X509_value(certs, i);

                if (other != c && X509_check_issued(c, other) == X509_V_OK)
                        return true;
        }
        return false;
}

int jp11_cert_bundle_parse(const uint8_t *data, size_t len, JP11CertBundle *ret, JP11Error *error) {
        _cleanup_(sk_X509_free_allp) STACK_OF(X509) *certs = NULL;
        _cleanup_(X509_freep) X509 *leaf = NULL;
        unsigned n_leaves = 0;
        int r;

        if (!ret || (!data && len > 0))
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "no certificate data");
        if (len == 0)
                return jp11_error_set(error, -EBADMSG, JP11_ERR_FORMAT, "not a certificate: the data is empty");
        if (len > INT_MAX)
                return jp11_error_set(error, -EFBIG, JP11_ERR_FORMAT, "not a certificate: %zu bytes is too large",
                                      len);

        certs = sk_X509_new_null();
        if (!certs)
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");

        /* OpenSSL's error queue belongs to the caller: whatever the parsers
         * leave there is dropped once the message has been taken. */
        ERR_set_mark();
        if (memmem(data, len, "-----BEGIN ", 11))
                r = parse_pem(data, len, certs, error);
        else
                r = parse_der(data, len, certs, error);
        ERR_pop_to_mark();
        if (r < 0)
                return r;

        for (int i = 0; i < sk_X509_num(certs); i++) {
                X509 *c = sk_X509_value(certs, i);

                if (X509_check_ca(c) != 0 || issued_another(c, certs))
                        continue;
                n_leaves++;
                if (!leaf) {
                        if (!X509_up_ref(c))
                                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
                        leaf = c;
                }
        }

        if (n_leaves == 0)
                return jp11_error_set(error, -EBADMSG, JP11_ERR_FORMAT,
                                      "no end-entity certificate: %s",
                                      sk_X509_num(certs) == 1 ? "the certificate given is a CA certificate"
                                                              : "every certificate given is a CA certificate");
        if (n_leaves > 1)
                return jp11_error_set(error, -EBADMSG, JP11_ERR_FORMAT,
                                      "%u end-entity certificates in one bundle: give one holder certificate with its chain",
                                      n_leaves);
        if (!X509_get0_pubkey(leaf))
                return jp11_error_set(error, -EBADMSG, JP11_ERR_FORMAT,
                                      "the certificate's public key cannot be read (unsupported algorithm?)");

        for (int i = 0; i < sk_X509_num(certs); i++)
                if (sk_X509_value(certs, i) == leaf) {
                        X509_free(sk_X509_delete(certs, i));
                        break;
                }

        *ret = (JP11CertBundle) {
                .leaf = TAKE_PTR(leaf),
                .chain = TAKE_PTR(certs),
        };
        return 0;
}

void jp11_cert_bundle_clear(JP11CertBundle *b) {
        if (!b)
                return;
        X509_free(b->leaf);
        sk_X509_pop_free(b->chain, X509_free);
        *b = (JP11CertBundle) {};
}

/* ---- installing --------------------------------------------------------- */

/* The key (private preferred, else public) whose public key equals pkey. */
static int find_matching_key(JP11Session *s, EVP_PKEY *pkey, JP11Key *ret, JP11Error *error) {
        JP11Key *keys = NULL;
        size_t n = 0;
        int r, found = -1;

        r = jp11_list_keys(s, &keys, &n, error);
        if (r < 0)
                return r;

        for (size_t i = 0; i < n; i++) {
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;

                if (found >= 0 && keys[found].is_private)
                        break;
                if (found >= 0 && !keys[i].is_private)
                        continue;
                /* A key whose public half cannot be read is simply not
                 * the one: keep looking. */
                if (jp11_read_public_key(s, keys[i].handle, &k, NULL) < 0)
                        continue;
                if (EVP_PKEY_eq(k, pkey) == 1)
                        found = (int) i;
        }

        if (found >= 0)
                *ret = keys[found];
        jp11_keys_free(keys, n);

        if (found < 0)
                return jp11_error_set(error, -ENOKEY, JP11_ERR_MISMATCH,
                                      "the certificate's public key matches no key on this token");
        if (ret->id_len == 0)
                return jp11_error_set(error, -ENOKEY, JP11_ERR_MISMATCH,
                                      "the certificate's key on this token has no CKA_ID to link the certificate to");
        return 0;
}

typedef struct CertDer {
        uint8_t *value, *subject, *issuer, *serial;
        int value_len, subject_len, issuer_len, serial_len;
} CertDer;

static void cert_der_clear(CertDer *d) {
        OPENSSL_free(d->value);
        OPENSSL_free(d->subject);
        OPENSSL_free(d->issuer);
        OPENSSL_free(d->serial);
        *d = (CertDer) {};
}

static int cert_der(X509 *c, CertDer *ret, JP11Error *error) {
        CertDer d = {};

        d.value_len = i2d_X509(c, &d.value);
        d.subject_len = i2d_X509_NAME(X509_get_subject_name(c), &d.subject);
        d.issuer_len = i2d_X509_NAME(X509_get_issuer_name(c), &d.issuer);
        d.serial_len = i2d_ASN1_INTEGER(X509_get0_serialNumber(c), &d.serial);
        if (d.value_len <= 0 || d.subject_len <= 0 || d.issuer_len <= 0 || d.serial_len <= 0) {
                cert_der_clear(&d);
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "cannot encode the certificate");
        }
        *ret = d;
        return 0;
}

static bool der_on_token(const JP11Certificate *certs, size_t n, const CertDer *d) {
        for (size_t i = 0; i < n; i++)
                if (certs[i].der_len == (size_t) d->value_len && memcmp(certs[i].der, d->value, certs[i].der_len) == 0)
                        return true;
        return false;
}

static int write_cert(JP11Session *s, const CertDer *d, const uint8_t *id, size_t id_len, const char *label,
                      CK_ULONG category, JP11Error *error) {
        static const CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
        static const CK_CERTIFICATE_TYPE type = CKC_X_509;
        static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
        CK_FUNCTION_LIST_PTR f = jp11_session_functions(s);
        CK_OBJECT_HANDLE h;
        /* No CKA_TRUSTED: only the SO may set it, and trust is not ours to
         * grant. */
        CK_ATTRIBUTE t[] = {
                { CKA_CLASS, (CK_VOID_PTR) &cls, sizeof cls },
                { CKA_CERTIFICATE_TYPE, (CK_VOID_PTR) &type, sizeof type },
                { CKA_TOKEN, (CK_VOID_PTR) &yes, sizeof yes },
                { CKA_PRIVATE, (CK_VOID_PTR) &no, sizeof no },
                { CKA_VALUE, d->value, (CK_ULONG) d->value_len },
                { CKA_SUBJECT, d->subject, (CK_ULONG) d->subject_len },
                { CKA_ISSUER, d->issuer, (CK_ULONG) d->issuer_len },
                { CKA_SERIAL_NUMBER, d->serial, (CK_ULONG) d->serial_len },
                { CKA_ID, (CK_VOID_PTR) id, id_len },
                { CKA_LABEL, (CK_VOID_PTR) label, strlen(label) },
                { CKA_CERTIFICATE_CATEGORY, &category, sizeof category }, /* last: see below */
        };
        CK_RV rv;

        rv = f->C_CreateObject(jp11_session_handle(s), t, ELEMENTSOF(t), &h);
        /* Tokens older than PKCS#11 2.20 do not know the category. */
        if (rv == CKR_ATTRIBUTE_TYPE_INVALID)
                rv = f->C_CreateObject(jp11_session_handle(s), t, ELEMENTSOF(t) - 1, &h);
        if (rv != CKR_OK)
                return jp11_error_from_rv(error, rv, "writing the certificate");
        return 0;
}

/* An authority certificate's label: its CN, else its whole subject. */
static char *ca_label(X509 *c) {
        X509_NAME *name = X509_get_subject_name(c);
        int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
        _cleanup_openssl_free_ unsigned char *cn = NULL;
        int len;

        if (i >= 0) {
                len = ASN1_STRING_to_UTF8(&cn, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
                if (len > 0)
                        return strndup((const char *) cn, (size_t) len);
        }
        return jp11_subject_to_string(name);
}

static int cert_install(JP11Session *s, const JP11CertBundle *bundle, const char *label, JP11InstallResult *ret,
                        JP11Error *error) {
        _cleanup_(cert_der_clear) CertDer leaf = {};
        JP11Certificate *certs = NULL;
        JP11InstallResult result = {};
        size_t n_certs = 0;
        JP11Key key;
        int r;

        if (!s || !bundle || !bundle->leaf || !ret)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "no certificate to install");

        /* Every check before the first write: a refused bundle leaves the
         * token as it was. */
        r = find_matching_key(s, X509_get0_pubkey(bundle->leaf), &key, error);
        if (r < 0)
                return r;
        r = cert_der(bundle->leaf, &leaf, error);
        if (r < 0)
                return r;
        r = jp11_list_certificates(s, &certs, &n_certs, error);
        if (r < 0)
                return r;

        memcpy(result.id, key.id, key.id_len);
        result.id_len = key.id_len;

        if (!der_on_token(certs, n_certs, &leaf)) {
                /* Without a label, the key's (the order reference). */
                r = write_cert(s, &leaf, key.id, key.id_len, label ?: key.label, 1, error);
                if (r < 0)
                        goto finish;
                result.leaf_written = true;
        }

        for (int i = 0; i < sk_X509_num(bundle->chain); i++) {
                _cleanup_(cert_der_clear) CertDer ca = {};
                _cleanup_free_ char *ca_name = NULL;
                X509 *c = sk_X509_value(bundle->chain, i);
                uint8_t ca_id[20];

                r = cert_der(c, &ca, error);
                if (r < 0)
                        goto finish;
                if (der_on_token(certs, n_certs, &ca)) {
                        result.ca_present++;
                        continue;
                }
                r = jp11_key_id_from_public(X509_get0_pubkey(c), ca_id, error);
                if (r < 0)
                        goto finish;
                ca_name = ca_label(c);
                if (!ca_name) {
                        r = jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
                        goto finish;
                }
                r = write_cert(s, &ca, ca_id, sizeof ca_id, ca_name, 2, error);
                if (r < 0)
                        goto finish;
                result.ca_written++;
        }

        *ret = result;
        r = 0;
finish:
        if (r < 0 && result.leaf_written && error) {
                /* Installing again finishes the job: what is there is skipped. */
                size_t n = strlen(error->message);
                snprintf(error->message + n, sizeof error->message - n,
                         " (the holder certificate itself was installed)");
        }
        jp11_certificates_free(certs, n_certs);
        return r;
}

int jp11_cert_install(JP11Session *s, const JP11CertBundle *bundle, const char *label, JP11InstallResult *ret,
                      JP11Error *error) {
        int r;

        ERR_set_mark();
        r = cert_install(s, bundle, label, ret, error);
        ERR_pop_to_mark();
        return r;
}
