/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "openssl-util.h"
#include "p11-keygen.h"
#include "p11-private.h"

/* Named curves as CKA_EC_PARAMS wants them: the DER of the OID. */
static const CK_BYTE oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const CK_BYTE oid_p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const CK_BYTE oid_p521[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23 };

typedef struct CurveInfo {
        JP11Curve curve;
        const CK_BYTE *oid;
        size_t oid_len;
        const char *group; /* OpenSSL's group name */
} CurveInfo;

static const CurveInfo curves[] = {
        { JP11_CURVE_P256, oid_p256, sizeof oid_p256, "prime256v1" },
        { JP11_CURVE_P384, oid_p384, sizeof oid_p384, "secp384r1" },
        { JP11_CURVE_P521, oid_p521, sizeof oid_p521, "secp521r1" },
};

static const CurveInfo *curve_info(JP11Curve c) {
        for (size_t i = 0; i < ELEMENTSOF(curves); i++)
                if (curves[i].curve == c)
                        return &curves[i];
        return NULL;
}

/* ANSSI RGS B1: 2048 bits until the end of 2030, 3072 recommended. The
 * upper limit only catches nonsense; the token refuses what it cannot do. */
#define RSA_MIN_BITS 2048u
#define RSA_MAX_BITS 16384u

int jp11_key_spec_check(const JP11KeySpec *spec, JP11Error *error) {
        if (!spec)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "no key specification");

        switch (spec->type) {
        case JP11_KEY_RSA:
                if (spec->bits < RSA_MIN_BITS)
                        return jp11_error_set(error, -EPERM, JP11_ERR_POLICY,
                                              "RSA keys of %u bits are refused: at least %u bits are required "
                                              "(ANSSI RGS; 3072 recommended)",
                                              spec->bits, RSA_MIN_BITS);
                if (spec->bits > RSA_MAX_BITS || spec->bits % 8 != 0)
                        return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "RSA key size of %u bits is not valid",
                                              spec->bits);
                return 0;
        case JP11_KEY_EC:
                if (!curve_info(spec->curve))
                        return jp11_error_set(error, -EOPNOTSUPP, JP11_ERR_UNSUPPORTED,
                                              "elliptic curve not supported (use P-256, P-384 or P-521)");
                return 0;
        default:
                return jp11_error_set(error, -EOPNOTSUPP, JP11_ERR_UNSUPPORTED,
                                      "key type not supported (use RSA or EC)");
        }
}

int jp11_key_spec_parse(const char *text, JP11KeySpec *ret, JP11Error *error) {
        static const struct {
                const char *name;
                JP11Curve curve;
        } curve_names[] = {
                { "p256", JP11_CURVE_P256 },      { "p-256", JP11_CURVE_P256 },    { "ec-p256", JP11_CURVE_P256 },
                { "secp256r1", JP11_CURVE_P256 }, { "prime256v1", JP11_CURVE_P256 },
                { "p384", JP11_CURVE_P384 },      { "p-384", JP11_CURVE_P384 },    { "ec-p384", JP11_CURVE_P384 },
                { "secp384r1", JP11_CURVE_P384 },
                { "p521", JP11_CURVE_P521 },      { "p-521", JP11_CURVE_P521 },    { "ec-p521", JP11_CURVE_P521 },
                { "secp521r1", JP11_CURVE_P521 },
        };
        JP11KeySpec spec = {};
        int r;

        if (!text || !ret)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "no key specification");

        for (size_t i = 0; i < ELEMENTSOF(curve_names); i++)
                if (strcasecmp(text, curve_names[i].name) == 0) {
                        spec = (JP11KeySpec) { .type = JP11_KEY_EC, .curve = curve_names[i].curve };
                        goto check;
                }

        /* "rsa2048", "rsa-2048", "rsa:2048" */
        if (strncasecmp(text, "rsa", 3) == 0) {
                const char *p = text + 3;
                char *end;
                unsigned long bits;

                if (*p == '-' || *p == ':')
                        p++;
                if (*p >= '0' && *p <= '9') {
                        errno = 0;
                        bits = strtoul(p, &end, 10);
                        if (errno == 0 && *end == 0 && bits <= RSA_MAX_BITS) {
                                spec = (JP11KeySpec) { .type = JP11_KEY_RSA, .bits = (unsigned) bits };
                                goto check;
                        }
                }
        }

        return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID,
                              "unknown key specification \"%.32s\" (expected rsa2048, rsa3072, rsa4096, p256, p384 "
                              "or p521)",
                              text);
check:
        r = jp11_key_spec_check(&spec, error);
        if (r < 0)
                return r;
        *ret = spec;
        return 0;
}

int jp11_key_id_from_public(EVP_PKEY *pkey, uint8_t id[20], JP11Error *error) {
        X509_PUBKEY *xpk = NULL;
        const unsigned char *bits;
        int len;

        if (!pkey || !id)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "no public key");

        /* X509_PUBKEY_get0_param() gives the content of the subjectPublicKey
         * BIT STRING (without its unused-bits octet): what RFC 5280 4.2.1.2
         * method 1 hashes, and what OpenSSL's "subjectKeyIdentifier = hash"
         * hashes too. */
        if (!X509_PUBKEY_set(&xpk, pkey))
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "cannot encode the public key");
        if (!X509_PUBKEY_get0_param(NULL, &bits, &len, NULL, xpk) || len <= 0) {
                X509_PUBKEY_free(xpk);
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "cannot encode the public key");
        }
        SHA1(bits, (size_t) len, id);
        X509_PUBKEY_free(xpk);
        return 0;
}

static bool read_bool(const CK_ATTRIBUTE *a) {
        return a->ulValueLen == sizeof(CK_BBOOL) && *(const CK_BBOOL *) a->pValue == CK_TRUE;
}

int jp11_read_key_evidence(JP11Session *s, CK_OBJECT_HANDLE private_key, JP11KeyEvidence *ret,
                           JP11Error *error) {
        CK_FUNCTION_LIST_PTR f = jp11_session_functions(s);
        CK_BBOOL local = CK_FALSE, always_sensitive = CK_FALSE, never_extractable = CK_FALSE;
        CK_ATTRIBUTE t[] = {
                { CKA_LOCAL, &local, sizeof local },
                { CKA_ALWAYS_SENSITIVE, &always_sensitive, sizeof always_sensitive },
                { CKA_NEVER_EXTRACTABLE, &never_extractable, sizeof never_extractable },
        };
        CK_RV rv;

        if (!ret)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "no result buffer");

        /* A token that does not know one of them reports it unavailable
         * (ulValueLen = -1) and still fills the others: unknown counts as
         * false, evidence must be positive. */
        rv = f->C_GetAttributeValue(jp11_session_handle(s), private_key, t, ELEMENTSOF(t));
        if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID && rv != CKR_ATTRIBUTE_SENSITIVE)
                return jp11_error_from_rv(error, rv, "reading the key's generation attributes");

        *ret = (JP11KeyEvidence) {
                .local = read_bool(&t[0]),
                .always_sensitive = read_bool(&t[1]),
                .never_extractable = read_bool(&t[2]),
        };
        return 0;
}

/* Counts the objects other than a and b whose CKA_ID is id. */
static int count_other_objects_with_id(JP11Session *s, const uint8_t *id, size_t id_len, CK_OBJECT_HANDLE a,
                                       CK_OBJECT_HANDLE b, unsigned *ret, JP11Error *error) {
        _cleanup_free_ CK_OBJECT_HANDLE *found = NULL;
        CK_ATTRIBUTE t[] = { { CKA_ID, (CK_VOID_PTR) id, id_len } };
        size_t n = 0;
        unsigned others = 0;
        int r;

        r = jp11_find_objects(s, t, ELEMENTSOF(t), &found, &n, error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (found[i] != a && found[i] != b)
                        others++;
        *ret = others;
        return 0;
}

static int check_generated_matches_spec(EVP_PKEY *pkey, const JP11KeySpec *spec, JP11Error *error) {
        char group[64];

        if (spec->type == JP11_KEY_RSA) {
                if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA || EVP_PKEY_get_bits(pkey) != (int) spec->bits)
                        return jp11_error_set(error, -EIO, JP11_ERR_DEVICE,
                                              "the token generated a different key than asked (%d bits instead of "
                                              "an RSA key of %u bits)",
                                              EVP_PKEY_get_bits(pkey), spec->bits);
                return 0;
        }

        if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
            !EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL) ||
            !streq(group, curve_info(spec->curve)->group))
                return jp11_error_set(error, -EIO, JP11_ERR_DEVICE,
                                      "the token generated a key on another curve than asked");
        return 0;
}

/* Removes a pair we created when a later step failed. The first error is
 * the one to report; a failed clean-up is added to its message because
 * the person must then remove the pair by hand. */
static void destroy_pair(JP11Session *s, CK_OBJECT_HANDLE priv, CK_OBJECT_HANDLE pub, JP11Error *error) {
        CK_FUNCTION_LIST_PTR f = jp11_session_functions(s);
        CK_RV rv1 = f->C_DestroyObject(jp11_session_handle(s), priv);
        CK_RV rv2 = f->C_DestroyObject(jp11_session_handle(s), pub);

        if ((rv1 != CKR_OK || rv2 != CKR_OK) && error) {
                size_t n = strlen(error->message);
                snprintf(error->message + n, sizeof error->message - n,
                         "; the new key pair could not be removed from the token");
        }
}

static int generate_key_pair(JP11Session *s, const JP11KeySpec *spec, const char *label, JP11GeneratedKey *ret,
                             JP11Error *error) {
        static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
        static const CK_BYTE exponent[] = { 0x01, 0x00, 0x01 }; /* 65537 */
        CK_FUNCTION_LIST_PTR f;
        CK_SESSION_HANDLE h;
        CK_MECHANISM mech = {};
        CK_ULONG modulus_bits;
        CK_OBJECT_HANDLE priv = CK_INVALID_HANDLE, pub = CK_INVALID_HANDLE;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
        uint8_t tmp_id[20], id[20];
        CK_ATTRIBUTE set_id[] = { { CKA_ID, id, sizeof id } };
        size_t label_len = label ? strlen(label) : 0;
        unsigned others = 0;
        JP11KeyEvidence evidence;
        CK_RV rv;
        int r;

        if (!s || !ret)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "no session or result buffer");
        /* Policy first: a refused key must not touch the token. */
        r = jp11_key_spec_check(spec, error);
        if (r < 0)
                return r;

        /* Generated with a random temporary CKA_ID, replaced by the final
         * one once the public key is known: the final id depends on the
         * public key, and meanwhile (or if we die before the update) the new
         * pair must neither share an id with another key (libp11 pairs keys
         * by id) nor have none (OpenSC would invent one). */
        if (RAND_bytes(tmp_id, sizeof tmp_id) != 1)
                return jp11_error_set(error, -EIO, JP11_ERR_INTERNAL, "no random bytes for a temporary key id");

        CK_ATTRIBUTE pub_t[16] = {
                { CKA_TOKEN, (CK_VOID_PTR) &yes, sizeof yes },
                /* Readable without login: certificates are matched and
                 * listed against it before anyone gives a PIN. */
                { CKA_PRIVATE, (CK_VOID_PTR) &no, sizeof no },
                { CKA_VERIFY, (CK_VOID_PTR) &yes, sizeof yes },
                { CKA_ENCRYPT, (CK_VOID_PTR) &no, sizeof no },
                { CKA_WRAP, (CK_VOID_PTR) &no, sizeof no },
                { CKA_DERIVE, (CK_VOID_PTR) &no, sizeof no },
                { CKA_ID, tmp_id, sizeof tmp_id },
        };
        CK_ULONG n_pub = 7;
        CK_ATTRIBUTE priv_t[16] = {
                { CKA_TOKEN, (CK_VOID_PTR) &yes, sizeof yes },
                { CKA_PRIVATE, (CK_VOID_PTR) &yes, sizeof yes },
                { CKA_SENSITIVE, (CK_VOID_PTR) &yes, sizeof yes },
                { CKA_SIGN, (CK_VOID_PTR) &yes, sizeof yes },
                { CKA_EXTRACTABLE, (CK_VOID_PTR) &no, sizeof no },
                { CKA_DECRYPT, (CK_VOID_PTR) &no, sizeof no },
                { CKA_UNWRAP, (CK_VOID_PTR) &no, sizeof no },
                { CKA_DERIVE, (CK_VOID_PTR) &no, sizeof no },
                { CKA_ID, tmp_id, sizeof tmp_id },
        };
        CK_ULONG n_priv = 9;

        if (label_len > 0) {
                pub_t[n_pub++] = (CK_ATTRIBUTE) { CKA_LABEL, (CK_VOID_PTR) label, label_len };
                priv_t[n_priv++] = (CK_ATTRIBUTE) { CKA_LABEL, (CK_VOID_PTR) label, label_len };
        }

        if (spec->type == JP11_KEY_RSA) {
                modulus_bits = spec->bits;
                mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
                pub_t[n_pub++] = (CK_ATTRIBUTE) { CKA_MODULUS_BITS, &modulus_bits, sizeof modulus_bits };
                pub_t[n_pub++] = (CK_ATTRIBUTE) { CKA_PUBLIC_EXPONENT, (CK_VOID_PTR) exponent, sizeof exponent };
        } else {
                const CurveInfo *c = curve_info(spec->curve);

                mech.mechanism = CKM_EC_KEY_PAIR_GEN;
                pub_t[n_pub++] = (CK_ATTRIBUTE) { CKA_EC_PARAMS, (CK_VOID_PTR) c->oid, c->oid_len };
        }

        f = jp11_session_functions(s);
        h = jp11_session_handle(s);
        rv = f->C_GenerateKeyPair(h, &mech, pub_t, n_pub, priv_t, n_priv, &pub, &priv);
        if (rv != CKR_OK)
                return jp11_error_from_rv(error, rv, "generating the key pair");

        r = jp11_read_public_key(s, pub, &pkey, error);
        if (r < 0)
                goto fail;
        r = check_generated_matches_spec(pkey, spec, error);
        if (r < 0)
                goto fail;
        r = jp11_key_id_from_public(pkey, id, error);
        if (r < 0)
                goto fail;

        r = count_other_objects_with_id(s, id, sizeof id, priv, pub, &others, error);
        if (r < 0)
                goto fail;
        if (others > 0) {
                /* Only a key pair copied from this one could share its
                 * id; pairing by id would then mix the two. */
                r = jp11_error_set(error, -EEXIST, JP11_ERR_EXISTS,
                                   "another object on the token already uses this key's id");
                goto fail;
        }

        rv = f->C_SetAttributeValue(h, pub, set_id, ELEMENTSOF(set_id));
        if (rv == CKR_OK)
                rv = f->C_SetAttributeValue(h, priv, set_id, ELEMENTSOF(set_id));
        if (rv != CKR_OK) {
                r = jp11_error_from_rv(error, rv, "setting the key id");
                goto fail;
        }

        r = jp11_read_key_evidence(s, priv, &evidence, error);
        if (r < 0)
                goto fail;

        *ret = (JP11GeneratedKey) {
                .private_key = priv,
                .public_key = pub,
                .id_len = sizeof id,
                .public = TAKE_PTR(pkey),
                .evidence = evidence,
        };
        memcpy(ret->id, id, sizeof id);
        return 0;

fail:
        destroy_pair(s, priv, pub, error);
        return r;
}

int jp11_generate_key_pair(JP11Session *s, const JP11KeySpec *spec, const char *label,
                           JP11GeneratedKey *ret, JP11Error *error) {
        int r;

        /* OpenSSL's error queue belongs to the caller. */
        ERR_set_mark();
        r = generate_key_pair(s, spec, label, ret, error);
        ERR_pop_to_mark();
        return r;
}

void jp11_generated_key_clear(JP11GeneratedKey *k) {
        if (!k)
                return;
        EVP_PKEY_free(k->public);
        *k = (JP11GeneratedKey) {};
}
