/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include "openssl-util.h"
#include "p11-objects.h"
#include "p11-private.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_PARAM_BLD *, OSSL_PARAM_BLD_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_PARAM *, OSSL_PARAM_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY_CTX *, EVP_PKEY_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_OCTET_STRING *, ASN1_OCTET_STRING_free);

/* ---- attributes ------------------------------------------------------ */

/* Reads one attribute into a malloc'd buffer. Returns 1 and the value, 0
 * when the object has no such attribute or keeps it secret (the caller
 * decides what absence means), or a negative errno. Attributes are read
 * one at a time: a template with one unknown attribute fails as a whole
 * on some modules. */
static int attr_get(JP11Session *s, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type, uint8_t **ret,
                    size_t *ret_len, JP11Error *error) {
        CK_FUNCTION_LIST_PTR f = jp11_session_functions(s);
        _cleanup_free_ uint8_t *buf = NULL;
        CK_RV rv;

        /* Size, then value. Another session may change the value in
         * between (a longer label): the module then answers
         * CKR_BUFFER_TOO_SMALL and we ask for the size again, a few times. */
        for (unsigned attempt = 0;; attempt++) {
                CK_ATTRIBUTE a = { .type = type };
                CK_ULONG size;

                rv = f->C_GetAttributeValue(jp11_session_handle(s), obj, &a, 1);
                if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE ||
                    (rv == CKR_OK && a.ulValueLen == CK_UNAVAILABLE_INFORMATION))
                        return 0;
                if (rv != CKR_OK)
                        return jp11_error_from_rv(error, rv, "reading an object attribute");

                size = a.ulValueLen;
                free(buf);
                buf = malloc(size + 1); /* +1: never malloc(0); room for a NUL */
                if (!buf)
                        return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
                a.pValue = buf;
                rv = f->C_GetAttributeValue(jp11_session_handle(s), obj, &a, 1);
                if (rv == CKR_BUFFER_TOO_SMALL && attempt < 3)
                        continue;
                if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE ||
                    (rv == CKR_OK && a.ulValueLen == CK_UNAVAILABLE_INFORMATION))
                        return 0;
                if (rv != CKR_OK)
                        return jp11_error_from_rv(error, rv, "reading an object attribute");
                /* Never trust a length beyond the buffer we gave. */
                if (a.ulValueLen > size)
                        return jp11_error_set(error, -EIO, JP11_ERR_DEVICE,
                                              "the PKCS#11 module returned a longer attribute value than it "
                                              "announced (attribute 0x%lx)",
                                              (unsigned long) type);
                buf[a.ulValueLen] = 0;
                *ret = TAKE_PTR(buf);
                *ret_len = a.ulValueLen;
                return 1;
        }
}

static int attr_ulong(JP11Session *s, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type, CK_ULONG *ret,
                      JP11Error *error) {
        CK_ULONG v = 0;
        CK_ATTRIBUTE a = { .type = type, .pValue = &v, .ulValueLen = sizeof v };
        CK_RV rv;

        rv = jp11_session_functions(s)->C_GetAttributeValue(jp11_session_handle(s), obj, &a, 1);
        if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE)
                return 0;
        if (rv != CKR_OK)
                return jp11_error_from_rv(error, rv, "reading an object attribute");
        if (a.ulValueLen != sizeof v)
                return 0;
        *ret = v;
        return 1;
}

/* Absent means false: that is how the standard defaults these. */
static int attr_bool(JP11Session *s, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type, bool *ret,
                     JP11Error *error) {
        CK_BBOOL v = CK_FALSE;
        CK_ATTRIBUTE a = { .type = type, .pValue = &v, .ulValueLen = sizeof v };
        CK_RV rv;

        *ret = false;
        rv = jp11_session_functions(s)->C_GetAttributeValue(jp11_session_handle(s), obj, &a, 1);
        if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE)
                return 0;
        if (rv != CKR_OK)
                return jp11_error_from_rv(error, rv, "reading an object attribute");
        *ret = a.ulValueLen == sizeof v && v != CK_FALSE;
        return 1;
}

/* IDs longer than JP11_ID_MAX (none seen in practice) are truncated. */
static int attr_id_label(JP11Session *s, CK_OBJECT_HANDLE obj, uint8_t *id, size_t *id_len, char *label,
                         size_t label_size, JP11Error *error) {
        _cleanup_free_ uint8_t *v = NULL;
        size_t len;
        int r;

        *id_len = 0;
        r = attr_get(s, obj, CKA_ID, &v, &len, error);
        if (r < 0)
                return r;
        if (r > 0) {
                *id_len = len < JP11_ID_MAX ? len : JP11_ID_MAX;
                memcpy(id, v, *id_len);
        }
        free(TAKE_PTR(v));

        label[0] = '\0';
        r = attr_get(s, obj, CKA_LABEL, &v, &len, error);
        if (r < 0)
                return r;
        if (r > 0) {
                if (len > label_size - 1)
                        len = label_size - 1;
                memcpy(label, v, len);
                label[len] = '\0';
        }
        return 0;
}

int jp11_find_objects(JP11Session *s, CK_ATTRIBUTE *tmpl, CK_ULONG n_tmpl, CK_OBJECT_HANDLE **ret,
                      size_t *ret_n, JP11Error *error) {
        CK_FUNCTION_LIST_PTR f = jp11_session_functions(s);
        CK_SESSION_HANDLE h = jp11_session_handle(s);
        _cleanup_free_ CK_OBJECT_HANDLE *all = NULL;
        size_t n = 0, size = 0;
        CK_RV rv;

        rv = f->C_FindObjectsInit(h, tmpl, n_tmpl);
        if (rv != CKR_OK)
                return jp11_error_from_rv(error, rv, "searching the token");
        for (;;) {
                CK_OBJECT_HANDLE batch[64];
                CK_ULONG got = 0;

                rv = f->C_FindObjects(h, batch, ELEMENTSOF(batch), &got);
                if (rv != CKR_OK || got == 0)
                        break;
                if (n + got > size) {
                        size_t nsize = (n + got) * 2;
                        CK_OBJECT_HANDLE *p = realloc(all, nsize * sizeof *all);
                        if (!p) {
                                (void) f->C_FindObjectsFinal(h);
                                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
                        }
                        all = p;
                        size = nsize;
                }
                memcpy(all + n, batch, got * sizeof *batch);
                n += got;
        }
        /* Always finish the search, or the session stays unusable for
         * the next one. */
        CK_RV rv_final = f->C_FindObjectsFinal(h);
        if (rv != CKR_OK)
                return jp11_error_from_rv(error, rv, "searching the token");
        if (rv_final != CKR_OK)
                return jp11_error_from_rv(error, rv_final, "finishing the search on the token");

        *ret = TAKE_PTR(all);
        *ret_n = n;
        return 0;
}

/* ---- keys ------------------------------------------------------------ */

const char *jp11_key_type_name(JP11KeyType t) {
        switch (t) {
        case JP11_KEY_RSA:
                return "RSA";
        case JP11_KEY_EC:
                return "EC";
        default:
                return "other";
        }
}

const char *jp11_curve_name(JP11Curve c) {
        switch (c) {
        case JP11_CURVE_P256:
                return "P-256";
        case JP11_CURVE_P384:
                return "P-384";
        case JP11_CURVE_P521:
                return "P-521";
        case JP11_CURVE_OTHER:
                return "other";
        default:
                return "none";
        }
}

/* CKA_EC_PARAMS is the DER ECParameters; a namedCurve OID is what every
 * token we target uses. Returns the OpenSSL NID or NID_undef. */
static int ec_params_nid(const uint8_t *der, size_t len) {
        const unsigned char *p = der;
        _cleanup_(ASN1_OBJECT_freep) ASN1_OBJECT *oid = NULL;

        oid = d2i_ASN1_OBJECT(NULL, &p, (long) len);
        if (!oid || p != der + len)
                return NID_undef;
        return OBJ_obj2nid(oid);
}

static void ec_curve_from_params(const uint8_t *der, size_t len, JP11Curve *ret_curve, unsigned *ret_bits) {
        int nid = ec_params_nid(der, len);

        switch (nid) {
        case NID_X9_62_prime256v1:
                *ret_curve = JP11_CURVE_P256;
                *ret_bits = 256;
                return;
        case NID_secp384r1:
                *ret_curve = JP11_CURVE_P384;
                *ret_bits = 384;
                return;
        case NID_secp521r1:
                *ret_curve = JP11_CURVE_P521;
                *ret_bits = 521;
                return;
        default:
                *ret_curve = JP11_CURVE_OTHER;
                *ret_bits = 0;
                if (nid != NID_undef) {
                        EC_GROUP *g = EC_GROUP_new_by_curve_name(nid);
                        if (g)
                                *ret_bits = (unsigned) EC_GROUP_get_degree(g);
                        EC_GROUP_free(g);
                }
        }
}

/* Bits of a big-endian unsigned integer (CKA_MODULUS), ignoring leading
 * zero bytes some modules leave in. */
static unsigned big_endian_bits(const uint8_t *v, size_t len) {
        while (len > 0 && v[0] == 0) {
                v++;
                len--;
        }
        if (len == 0)
                return 0;
        unsigned bits = (unsigned) (len - 1) * 8;
        for (uint8_t top = v[0]; top; top >>= 1)
                bits++;
        return bits;
}

static int key_read(JP11Session *s, CK_OBJECT_HANDLE obj, bool is_private, JP11Key *ret, JP11Error *error) {
        _cleanup_free_ uint8_t *v = NULL;
        CK_ULONG type = CK_UNAVAILABLE_INFORMATION, bits = 0;
        size_t len;
        int r;

        *ret = (JP11Key) { .handle = obj, .is_private = is_private, .type = JP11_KEY_OTHER };

        r = attr_ulong(s, obj, CKA_KEY_TYPE, &type, error);
        if (r < 0)
                return r;
        if (type == CKK_RSA) {
                ret->type = JP11_KEY_RSA;
                r = attr_ulong(s, obj, CKA_MODULUS_BITS, &bits, error);
                if (r < 0)
                        return r;
                if (r > 0 && bits > 0)
                        ret->bits = (unsigned) bits;
                else {
                        r = attr_get(s, obj, CKA_MODULUS, &v, &len, error);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                ret->bits = big_endian_bits(v, len);
                }
        } else if (type == CKK_EC) {
                ret->type = JP11_KEY_EC;
                r = attr_get(s, obj, CKA_EC_PARAMS, &v, &len, error);
                if (r < 0)
                        return r;
                if (r > 0)
                        ec_curve_from_params(v, len, &ret->curve, &ret->bits);
                else
                        ret->curve = JP11_CURVE_OTHER;
        }

        r = attr_id_label(s, obj, ret->id, &ret->id_len, ret->label, sizeof ret->label, error);
        if (r < 0)
                return r;

        r = attr_bool(s, obj, CKA_LOCAL, &ret->local, error);
        if (r < 0 || !is_private)
                return r < 0 ? r : 0;

        const struct {
                CK_ATTRIBUTE_TYPE type;
                bool *value;
        } bools[] = {
                { CKA_SENSITIVE, &ret->sensitive },
                { CKA_ALWAYS_SENSITIVE, &ret->always_sensitive },
                { CKA_EXTRACTABLE, &ret->extractable },
                { CKA_NEVER_EXTRACTABLE, &ret->never_extractable },
                { CKA_SIGN, &ret->sign },
                { CKA_DECRYPT, &ret->decrypt },
                { CKA_UNWRAP, &ret->unwrap },
                { CKA_DERIVE, &ret->derive },
                { CKA_ALWAYS_AUTHENTICATE, &ret->always_authenticate },
        };
        for (size_t i = 0; i < ELEMENTSOF(bools); i++) {
                r = attr_bool(s, obj, bools[i].type, bools[i].value, error);
                if (r < 0)
                        return r;
        }
        return 0;
}

void jp11_keys_free(JP11Key *keys, size_t n) {
        free(keys);
}

static int list_keys_of_class(JP11Session *s, CK_OBJECT_CLASS cls, JP11Key **keys, size_t *n,
                              JP11Error *error) {
        _cleanup_free_ CK_OBJECT_HANDLE *handles = NULL;
        CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof cls } };
        size_t nh = 0;
        int r;

        r = jp11_find_objects(s, tmpl, ELEMENTSOF(tmpl), &handles, &nh, error);
        if (r < 0)
                return r;
        if (nh == 0)
                return 0;

        JP11Key *p = realloc(*keys, (*n + nh) * sizeof **keys);
        if (!p)
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
        *keys = p;
        for (size_t i = 0; i < nh; i++) {
                JP11Error e = {};
                r = key_read(s, handles[i], cls == CKO_PRIVATE_KEY, &p[*n], &e);
                /* Deleted by someone else since the search: not an error. */
                if (r < 0 && e.rv == CKR_OBJECT_HANDLE_INVALID)
                        continue;
                if (r < 0) {
                        if (error)
                                *error = e;
                        return r;
                }
                (*n)++;
        }
        return 0;
}

static int list_keys(JP11Session *s, JP11Key **ret, size_t *ret_n, JP11Error *error) {
        _cleanup_free_ JP11Key *keys = NULL;
        size_t n = 0;
        int r;

        if (!s || !ret || !ret_n)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "invalid arguments");
        r = list_keys_of_class(s, CKO_PRIVATE_KEY, &keys, &n, error);
        if (r < 0)
                return r;
        r = list_keys_of_class(s, CKO_PUBLIC_KEY, &keys, &n, error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(keys);
        *ret_n = n;
        return 0;
}

/* OpenSSL's error queue belongs to the caller: the probes below (DER of
 * curve parameters, points, certificate values) leave entries there when
 * they fail, and what matters has been put into *error already. */
int jp11_list_keys(JP11Session *s, JP11Key **ret, size_t *ret_n, JP11Error *error) {
        int r;

        ERR_set_mark();
        r = list_keys(s, ret, ret_n, error);
        ERR_pop_to_mark();
        return r;
}

/* ---- certificates ---------------------------------------------------- */

static void name_oneline(const X509_NAME *name, char *out, size_t size) {
        _cleanup_(BIO_free_allp) BIO *bio = BIO_new(BIO_s_mem());
        out[0] = '\0';
        if (!bio)
                return;
        /* RFC 2253, but UTF-8 left as is: French names carry accents. */
        if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0)
                return;
        int n = BIO_read(bio, out, (int) size - 1);
        out[n > 0 ? n : 0] = '\0';
}

static void serial_hex(const ASN1_INTEGER *serial, char *out, size_t size) {
        _cleanup_(BN_freep) BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
        _cleanup_openssl_free_ char *hex = NULL;

        out[0] = '\0';
        if (!bn)
                return;
        hex = BN_bn2hex(bn);
        if (!hex)
                return;
        /* BN_bn2hex writes zero as "0"; every other value in whole bytes,
         * as `openssl x509 -serial` does. */
        snprintf(out, size, "%s", streq(hex, "0") ? "00" : hex);
}

static time_t asn1_time(const ASN1_TIME *t) {
        struct tm tm = {};
        if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
                return 0;
        return timegm(&tm);
}

/* A certificate object whose value does not parse is still listed (the
 * token holds it), with empty names and zero dates. */
static void cert_parse(JP11Certificate *c) {
        const unsigned char *p = c->der;
        _cleanup_(X509_freep) X509 *x = d2i_X509(NULL, &p, (long) c->der_len);
        if (!x)
                return;
        name_oneline(X509_get_subject_name(x), c->subject, sizeof c->subject);
        name_oneline(X509_get_issuer_name(x), c->issuer, sizeof c->issuer);
        serial_hex(X509_get0_serialNumber(x), c->serial, sizeof c->serial);
        c->not_before = asn1_time(X509_get0_notBefore(x));
        c->not_after = asn1_time(X509_get0_notAfter(x));
}

static int cert_read(JP11Session *s, CK_OBJECT_HANDLE obj, JP11Certificate *ret, JP11Error *error) {
        CK_ULONG category = 0;
        size_t len = 0;
        int r;

        *ret = (JP11Certificate) { .handle = obj };
        r = attr_id_label(s, obj, ret->id, &ret->id_len, ret->label, sizeof ret->label, error);
        if (r < 0)
                return r;
        r = attr_ulong(s, obj, CKA_CERTIFICATE_CATEGORY, &category, error);
        if (r < 0)
                return r;
        ret->category = category;
        r = attr_get(s, obj, CKA_VALUE, &ret->der, &len, error);
        if (r < 0)
                return r;
        ret->der_len = len;
        if (ret->der)
                cert_parse(ret);
        return 0;
}

void jp11_certificates_free(JP11Certificate *certs, size_t n) {
        if (!certs)
                return;
        for (size_t i = 0; i < n; i++)
                free(certs[i].der);
        free(certs);
}

static int list_certificates(JP11Session *s, JP11Certificate **ret, size_t *ret_n, JP11Error *error) {
        _cleanup_free_ CK_OBJECT_HANDLE *handles = NULL;
        CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
        CK_CERTIFICATE_TYPE type = CKC_X_509;
        CK_ATTRIBUTE tmpl[] = {
                { CKA_CLASS, &cls, sizeof cls },
                { CKA_CERTIFICATE_TYPE, &type, sizeof type },
        };
        JP11Certificate *certs;
        size_t nh = 0, n = 0;
        int r;

        if (!s || !ret || !ret_n)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "invalid arguments");
        r = jp11_find_objects(s, tmpl, ELEMENTSOF(tmpl), &handles, &nh, error);
        if (r < 0)
                return r;
        certs = calloc(nh + 1, sizeof *certs);
        if (!certs)
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
        for (size_t i = 0; i < nh; i++) {
                JP11Error e = {};
                r = cert_read(s, handles[i], &certs[n], &e);
                if (r < 0) {
                        free(certs[n].der);
                        certs[n].der = NULL;
                        if (e.rv == CKR_OBJECT_HANDLE_INVALID)
                                continue;
                        jp11_certificates_free(certs, n);
                        if (error)
                                *error = e;
                        return r;
                }
                n++;
        }
        *ret = certs;
        *ret_n = n;
        return 0;
}

int jp11_list_certificates(JP11Session *s, JP11Certificate **ret, size_t *ret_n, JP11Error *error) {
        int r;

        ERR_set_mark();
        r = list_certificates(s, ret, ret_n, error);
        ERR_pop_to_mark();
        return r;
}

/* ---- public keys ----------------------------------------------------- */

int jp11_find_key_by_id(JP11Session *s, bool is_private, const uint8_t *id, size_t id_len,
                        CK_OBJECT_HANDLE *ret, JP11Error *error) {
        _cleanup_free_ CK_OBJECT_HANDLE *handles = NULL;
        CK_OBJECT_CLASS cls = is_private ? CKO_PRIVATE_KEY : CKO_PUBLIC_KEY;
        CK_ATTRIBUTE tmpl[] = {
                { CKA_CLASS, &cls, sizeof cls },
                { CKA_ID, (void *) id, id_len },
        };
        size_t n = 0;
        int r;

        if (!s || !ret || (!id && id_len > 0))
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "invalid arguments");
        r = jp11_find_objects(s, tmpl, ELEMENTSOF(tmpl), &handles, &n, error);
        if (r < 0)
                return r;
        if (n == 0)
                return jp11_error_set(error, -ENOENT, JP11_ERR_NOT_FOUND, "no %s key with this ID on the token%s",
                                      is_private ? "private" : "public",
                                      is_private ? " (is the session logged in?)" : "");
        /* IDs are meant to be unique per token; with duplicates the first
         * one found wins, as in libp11. */
        *ret = handles[0];
        return 0;
}

static int pkey_from_spki(const uint8_t *der, size_t len, EVP_PKEY **ret) {
        const unsigned char *p = der;
        EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long) len);
        if (!k)
                return 0;
        if (p != der + len) {
                EVP_PKEY_free(k);
                return 0;
        }
        *ret = k;
        return 1;
}

static int pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld, EVP_PKEY **ret, JP11Error *error) {
        _cleanup_(OSSL_PARAM_freep) OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);

        if (!params || !ctx)
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
        if (EVP_PKEY_fromdata_init(ctx) <= 0 || EVP_PKEY_fromdata(ctx, ret, EVP_PKEY_PUBLIC_KEY, params) <= 0)
                return jp11_error_set(error, -EBADMSG, JP11_ERR_FORMAT,
                                      "the token's %s public key is not valid", type);
        return 0;
}

static int rsa_from_attrs(JP11Session *s, CK_OBJECT_HANDLE obj, EVP_PKEY **ret, JP11Error *error) {
        _cleanup_free_ uint8_t *n = NULL, *e = NULL;
        _cleanup_(BN_freep) BIGNUM *bn_n = NULL, *bn_e = NULL;
        _cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = NULL;
        size_t n_len, e_len;
        int r;

        r = attr_get(s, obj, CKA_MODULUS, &n, &n_len, error);
        if (r <= 0)
                return r;
        r = attr_get(s, obj, CKA_PUBLIC_EXPONENT, &e, &e_len, error);
        if (r <= 0)
                return r;
        bn_n = BN_bin2bn(n, (int) n_len, NULL);
        bn_e = BN_bin2bn(e, (int) e_len, NULL);
        bld = OSSL_PARAM_BLD_new();
        if (!bn_n || !bn_e || !bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e))
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
        r = pkey_fromdata("RSA", bld, ret, error);
        return r < 0 ? r : 1;
}

static int ec_pkey_fromdata(const char *group, const uint8_t *pub, size_t pub_len, EVP_PKEY **ret,
                            JP11Error *error) {
        _cleanup_(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();

        if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
            !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, pub_len))
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
        return pkey_fromdata("EC", bld, ret, error);
}

static int ec_from_attrs(JP11Session *s, CK_OBJECT_HANDLE obj, EVP_PKEY **ret, JP11Error *error) {
        _cleanup_free_ uint8_t *params = NULL, *point = NULL;
        _cleanup_(ASN1_OCTET_STRING_freep) ASN1_OCTET_STRING *os = NULL;
        size_t params_len, point_len;
        const uint8_t *pub;
        size_t pub_len;
        int r, nid;

        r = attr_get(s, obj, CKA_EC_PARAMS, &params, &params_len, error);
        if (r <= 0)
                return r;
        r = attr_get(s, obj, CKA_EC_POINT, &point, &point_len, error);
        if (r <= 0)
                return r;

        nid = ec_params_nid(params, params_len);
        const char *group = nid != NID_undef ? OBJ_nid2sn(nid) : NULL;
        if (!group)
                return jp11_error_set(error, -EOPNOTSUPP, JP11_ERR_UNSUPPORTED,
                                      "the key's elliptic curve is not one OpenSSL knows");

        /* The standard wraps the point in a DER OCTET STRING; some modules
         * return it raw. A raw uncompressed point starts with 0x04, the
         * OCTET STRING tag, and parses as one when its next byte happens to
         * equal the remaining length (1 in 256 keys): so the unwrapped
         * content is only a candidate, and the raw bytes the fallback. */
        const unsigned char *p = point;
        os = d2i_ASN1_OCTET_STRING(NULL, &p, (long) point_len);
        if (os && p == point + point_len && ASN1_STRING_length(os) > 0) {
                pub = ASN1_STRING_get0_data(os);
                pub_len = (size_t) ASN1_STRING_length(os);
                r = ec_pkey_fromdata(group, pub, pub_len, ret, NULL);
                if (r >= 0)
                        return 1;
        }
        r = ec_pkey_fromdata(group, point, point_len, ret, error);
        return r < 0 ? r : 1;
}

/* From one object: CKA_PUBLIC_KEY_INFO when the token fills it, else
 * the key's own numbers. Returns 1 with *ret set, 0 when this object does
 * not carry the public key. */
static int pkey_from_object(JP11Session *s, CK_OBJECT_HANDLE obj, EVP_PKEY **ret, JP11Error *error) {
        _cleanup_free_ uint8_t *spki = NULL;
        CK_ULONG type = CK_UNAVAILABLE_INFORMATION;
        size_t len;
        int r;

        r = attr_get(s, obj, CKA_PUBLIC_KEY_INFO, &spki, &len, error);
        if (r < 0)
                return r;
        if (r > 0 && len > 0 && pkey_from_spki(spki, len, ret) > 0)
                return 1;

        r = attr_ulong(s, obj, CKA_KEY_TYPE, &type, error);
        if (r < 0)
                return r;
        if (type == CKK_RSA)
                return rsa_from_attrs(s, obj, ret, error);
        if (type == CKK_EC)
                return ec_from_attrs(s, obj, ret, error);
        return jp11_error_set(error, -EOPNOTSUPP, JP11_ERR_UNSUPPORTED,
                              "the key is neither RSA nor EC (key type 0x%lx)", (unsigned long) type);
}

static int read_public_key(JP11Session *s, CK_OBJECT_HANDLE key, EVP_PKEY **ret, JP11Error *error) {
        CK_ULONG cls = CK_UNAVAILABLE_INFORMATION;
        int r;

        if (!s || !ret)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "invalid arguments");
        r = attr_ulong(s, key, CKA_CLASS, &cls, error);
        if (r < 0)
                return r;
        if (cls != CKO_PRIVATE_KEY && cls != CKO_PUBLIC_KEY)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "the object is not a key");

        /* The public key object is the reference: private key objects
         * often lack the EC point, and some lack the public exponent. */
        if (cls == CKO_PRIVATE_KEY) {
                _cleanup_free_ uint8_t *id = NULL;
                CK_OBJECT_HANDLE pub;
                size_t id_len;

                r = attr_get(s, key, CKA_ID, &id, &id_len, error);
                if (r < 0)
                        return r;
                if (r > 0 && id_len > 0 && jp11_find_key_by_id(s, false, id, id_len, &pub, NULL) >= 0) {
                        r = pkey_from_object(s, pub, ret, error);
                        if (r != 0)
                                return r < 0 ? r : 0;
                }
        }

        r = pkey_from_object(s, key, ret, error);
        if (r < 0)
                return r;
        if (r == 0)
                return jp11_error_set(error, -ENOENT, JP11_ERR_NOT_FOUND,
                                      "the token does not reveal this key's public key");
        return 0;
}

int jp11_read_public_key(JP11Session *s, CK_OBJECT_HANDLE key, EVP_PKEY **ret, JP11Error *error) {
        int r;

        ERR_set_mark();
        r = read_public_key(s, key, ret, error);
        ERR_pop_to_mark();
        return r;
}
