/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "csr.h"
#include "openssl-util.h"
#include "p11-login.h"
#include "p11-objects.h"

typedef struct HashInfo {
        JP11Hash hash;
        const char *name;
        const char *const aliases[3];
        int md_nid;
        int rsa_sig_nid;
        int ecdsa_sig_nid;
        CK_MECHANISM_TYPE rsa_mech;
        /* DER of DigestInfo up to the digest (RFC 8017 9.2 note 1), for
         * tokens that only sign with raw CKM_RSA_PKCS. */
        const uint8_t *digest_info;
        size_t digest_info_len;
} HashInfo;

static const uint8_t digest_info_sha256[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
                                              0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };
static const uint8_t digest_info_sha384[] = { 0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
                                              0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30 };
static const uint8_t digest_info_sha512[] = { 0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
                                              0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40 };

static const HashInfo hashes[] = {
        { JP11_HASH_SHA256, "sha256", { "sha-256", "sha2-256" }, NID_sha256, NID_sha256WithRSAEncryption,
          NID_ecdsa_with_SHA256, CKM_SHA256_RSA_PKCS, digest_info_sha256, sizeof digest_info_sha256 },
        { JP11_HASH_SHA384, "sha384", { "sha-384", "sha2-384" }, NID_sha384, NID_sha384WithRSAEncryption,
          NID_ecdsa_with_SHA384, CKM_SHA384_RSA_PKCS, digest_info_sha384, sizeof digest_info_sha384 },
        { JP11_HASH_SHA512, "sha512", { "sha-512", "sha2-512" }, NID_sha512, NID_sha512WithRSAEncryption,
          NID_ecdsa_with_SHA512, CKM_SHA512_RSA_PKCS, digest_info_sha512, sizeof digest_info_sha512 },
        { JP11_HASH_SHA1, "sha1", { "sha-1" }, NID_sha1, NID_sha1WithRSAEncryption, NID_ecdsa_with_SHA1,
          CKM_SHA1_RSA_PKCS, NULL, 0 },
};

static const HashInfo *hash_info(JP11Hash h) {
        for (size_t i = 0; i < ELEMENTSOF(hashes); i++)
                if (hashes[i].hash == h)
                        return &hashes[i];
        return NULL;
}

JP11Hash jp11_hash_from_string(const char *text) {
        if (!text)
                return _JP11_HASH_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(hashes); i++) {
                if (strcasecmp(text, hashes[i].name) == 0)
                        return hashes[i].hash;
                for (size_t j = 0; j < ELEMENTSOF(hashes[i].aliases) && hashes[i].aliases[j]; j++)
                        if (strcasecmp(text, hashes[i].aliases[j]) == 0)
                                return hashes[i].hash;
        }
        return _JP11_HASH_INVALID;
}

const char *jp11_hash_to_string(JP11Hash h) {
        const HashInfo *i = hash_info(h);
        return i ? i->name : NULL;
}

static const struct {
        const char *name;
        JP11KeyUsage bit;
} key_usages[] = {
        { "digitalSignature", JP11_KU_DIGITAL_SIGNATURE },
        { "nonRepudiation", JP11_KU_NON_REPUDIATION },
        { "contentCommitment", JP11_KU_NON_REPUDIATION }, /* its X.509 (2008) name */
        { "keyEncipherment", JP11_KU_KEY_ENCIPHERMENT },
        { "dataEncipherment", JP11_KU_DATA_ENCIPHERMENT },
        { "keyAgreement", JP11_KU_KEY_AGREEMENT },
};

#define JP11_KU_ALL                                                                               \
        (JP11_KU_DIGITAL_SIGNATURE | JP11_KU_NON_REPUDIATION | JP11_KU_KEY_ENCIPHERMENT |         \
         JP11_KU_DATA_ENCIPHERMENT | JP11_KU_KEY_AGREEMENT)

int jp11_key_usage_parse(const char *text, unsigned *ret, JP11Error *error) {
        unsigned bits = 0;
        const char *p;

        if (!text || !ret)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "no key usage given");

        for (p = text; *p;) {
                size_t len;
                bool found = false;

                p += strspn(p, " \t,");
                len = strcspn(p, " \t,");
                if (len == 0)
                        break;
                for (size_t i = 0; i < ELEMENTSOF(key_usages); i++)
                        if (strlen(key_usages[i].name) == len && strncasecmp(p, key_usages[i].name, len) == 0) {
                                bits |= key_usages[i].bit;
                                found = true;
                        }
                if (!found)
                        return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID,
                                              "unknown key usage \"%.*s\" (expected digitalSignature, "
                                              "nonRepudiation, keyEncipherment, dataEncipherment or keyAgreement)",
                                              (int) (len > 40 ? 40 : len), p);
                p += len;
        }

        *ret = bits;
        return 0;
}

int jp11_ecdsa_raw_to_der(const uint8_t *raw, size_t raw_len, uint8_t **ret, size_t *ret_len,
                          JP11Error *error) {
        _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *sig = NULL;
        _cleanup_openssl_free_ uint8_t *der = NULL;
        BIGNUM *r, *s;
        size_t n = raw_len / 2;
        uint8_t *copy;
        int len;

        if (!raw || !ret || !ret_len)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "no signature");
        /* P-521 gives the longest: 2 x 66 bytes. */
        if (raw_len == 0 || raw_len % 2 != 0 || raw_len > 2 * 66)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID,
                                      "an ECDSA signature of %zu bytes is not r||s", raw_len);

        sig = ECDSA_SIG_new();
        r = BN_bin2bn(raw, (int) n, NULL);
        s = BN_bin2bn(raw + n, (int) n, NULL);
        if (!sig || !r || !s || !ECDSA_SIG_set0(sig, r, s)) {
                BN_free(r);
                BN_free(s);
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
        }
        if (BN_is_zero(r) || BN_is_zero(s))
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "ECDSA signature with r or s equal to 0");

        /* INTEGERs are minimal and positive: leading zero bytes dropped, a
         * 0x00 added before a high bit. i2d_ECDSA_SIG does both. */
        len = i2d_ECDSA_SIG(sig, &der);
        if (len <= 0)
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "cannot encode the ECDSA signature");

        copy = malloc((size_t) len);
        if (!copy)
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
        memcpy(copy, der, (size_t) len);
        *ret = copy;
        *ret_len = (size_t) len;
        return 0;
}

int jp11_csr_to_pem(X509_REQ *req, char **ret, JP11Error *error) {
        _cleanup_(BIO_free_allp) BIO *bio = NULL;
        char *data, *s;
        long n;

        if (!req || !ret)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "no request");

        bio = BIO_new(BIO_s_mem());
        if (!bio || !PEM_write_bio_X509_REQ(bio, req))
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "cannot write the request as PEM");
        n = BIO_get_mem_data(bio, &data);
        if (n <= 0)
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "cannot write the request as PEM");

        s = malloc((size_t) n + 1);
        if (!s)
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
        memcpy(s, data, (size_t) n);
        s[n] = 0;
        *ret = s;
        return 0;
}

/* ---- request extensions ------------------------------------------------- */

static int add_ext(STACK_OF(X509_EXTENSION) **exts, int nid, void *value, bool critical, JP11Error *error) {
        if (X509V3_add1_i2d(exts, nid, value, critical, X509V3_ADD_APPEND) != 1)
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "cannot encode the %s extension",
                                      OBJ_nid2sn(nid));
        return 0;
}

static int add_key_usage(STACK_OF(X509_EXTENSION) **exts, const JP11CsrSpec *spec, JP11Error *error) {
        _cleanup_(ASN1_BIT_STRING_freep) ASN1_BIT_STRING *ku = NULL;

        if (spec->key_usage == 0)
                return 0;
        if (spec->key_usage & ~(unsigned) JP11_KU_ALL)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "unknown key usage bits 0x%x",
                                      spec->key_usage & ~(unsigned) JP11_KU_ALL);

        ku = ASN1_BIT_STRING_new();
        if (!ku)
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
        for (int bit = 0; bit < 5; bit++)
                if (spec->key_usage & (1u << bit) && !ASN1_BIT_STRING_set_bit(ku, bit, 1))
                        return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");

        return add_ext(exts, NID_key_usage, ku, spec->key_usage_critical, error);
}

static int add_extended_key_usage(STACK_OF(X509_EXTENSION) **exts, const JP11CsrSpec *spec, JP11Error *error) {
        _cleanup_(EXTENDED_KEY_USAGE_freep) EXTENDED_KEY_USAGE *eku = NULL;

        if (!spec->extended_key_usage || !spec->extended_key_usage[0])
                return 0;

        eku = sk_ASN1_OBJECT_new_null();
        if (!eku)
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
        for (const char *const *p = spec->extended_key_usage; *p; p++) {
                ASN1_OBJECT *o = OBJ_txt2obj(*p, 0); /* a short name or a dotted OID */

                if (!o)
                        return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID,
                                              "unknown extended key usage \"%.64s\"", *p);
                if (!sk_ASN1_OBJECT_push(eku, o)) {
                        ASN1_OBJECT_free(o);
                        return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
                }
        }
        return add_ext(exts, NID_ext_key_usage, eku, false, error);
}

static int add_certificate_policies(STACK_OF(X509_EXTENSION) **exts, const JP11CsrSpec *spec,
                                    JP11Error *error) {
        _cleanup_(CERTIFICATEPOLICIES_freep) CERTIFICATEPOLICIES *policies = NULL;

        if (!spec->certificate_policies || !spec->certificate_policies[0])
                return 0;

        policies = sk_POLICYINFO_new_null();
        if (!policies)
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
        for (const char *const *p = spec->certificate_policies; *p; p++) {
                POLICYINFO *pi = POLICYINFO_new();

                if (!pi || !sk_POLICYINFO_push(policies, pi)) {
                        POLICYINFO_free(pi);
                        return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
                }
                ASN1_OBJECT_free(pi->policyid);
                pi->policyid = OBJ_txt2obj(*p, 1); /* dotted OIDs only */
                if (!pi->policyid)
                        return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID,
                                              "certificate policy \"%.64s\" is not an OID", *p);
        }
        return add_ext(exts, NID_certificate_policies, policies, false, error);
}

static int add_email_san(STACK_OF(X509_EXTENSION) **exts, const JP11CsrSpec *spec, JP11Error *error) {
        _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *names = NULL;
        ASN1_IA5STRING *ia5;
        GENERAL_NAME *gn;
        const char *at;

        if (!spec->email_san)
                return 0;

        /* rfc822Name is an IA5String: ASCII, one '@' with text on both sides. */
        at = strchr(spec->email_san, '@');
        if (!at || at == spec->email_san || !at[1] || strchr(at + 1, '@'))
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "\"%.64s\" is not an email address",
                                      spec->email_san);
        for (const char *c = spec->email_san; *c; c++)
                if ((unsigned char) *c <= 0x20 || (unsigned char) *c >= 0x7f)
                        return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID,
                                              "email address must be printable ASCII without spaces");

        names = GENERAL_NAMES_new();
        gn = GENERAL_NAME_new();
        ia5 = ASN1_IA5STRING_new();
        if (!names || !gn || !ia5 || !ASN1_STRING_set(ia5, spec->email_san, -1)) {
                GENERAL_NAME_free(gn);
                ASN1_IA5STRING_free(ia5);
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
        }
        GENERAL_NAME_set0_value(gn, GEN_EMAIL, ia5);
        if (!sk_GENERAL_NAME_push(names, gn)) {
                GENERAL_NAME_free(gn);
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
        }
        return add_ext(exts, NID_subject_alt_name, names, false, error);
}

static int build_request(const JP11CsrSpec *spec, EVP_PKEY *pkey, const HashInfo *hi, X509_REQ **ret,
                         JP11Error *error) {
        _cleanup_(sk_X509_EXTENSION_free_allp) STACK_OF(X509_EXTENSION) *exts = NULL;
        _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
        _cleanup_(X509_ALGOR_freep) X509_ALGOR *alg = NULL;
        bool rsa = EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA;
        int r;

        req = X509_REQ_new();
        alg = X509_ALGOR_new();
        if (!req || !alg)
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");

        if (!X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
            !X509_REQ_set_subject_name(req, (X509_NAME *) spec->subject) || !X509_REQ_set_pubkey(req, pkey))
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "cannot build the request");

        r = add_key_usage(&exts, spec, error);
        if (r >= 0)
                r = add_extended_key_usage(&exts, spec, error);
        if (r >= 0)
                r = add_certificate_policies(&exts, spec, error);
        if (r >= 0)
                r = add_email_san(&exts, spec, error);
        if (r < 0)
                return r;
        if (exts && !X509_REQ_add_extensions(req, exts))
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "cannot add the request's extensions");

        /* RFC 4055: NULL parameters for RSA PKCS#1 v1.5; RFC 5758: none at
         * all for ECDSA. */
        X509_ALGOR_set0(alg, OBJ_nid2obj(rsa ? hi->rsa_sig_nid : hi->ecdsa_sig_nid), rsa ? V_ASN1_NULL : V_ASN1_UNDEF,
                        NULL);
        if (!X509_REQ_set1_signature_algo(req, alg))
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "cannot set the signature algorithm");

        *ret = TAKE_PTR(req);
        return 0;
}

/* ---- signing on the token ----------------------------------------------- */

static int read_always_authenticate(JP11Session *s, CK_OBJECT_HANDLE key, bool *ret, JP11Error *error) {
        CK_FUNCTION_LIST_PTR f = jp11_session_functions(s);
        CK_BBOOL v = CK_FALSE;
        CK_ATTRIBUTE t[] = { { CKA_ALWAYS_AUTHENTICATE, &v, sizeof v } };
        CK_RV rv;

        rv = f->C_GetAttributeValue(jp11_session_handle(s), key, t, ELEMENTSOF(t));
        if (rv == CKR_ATTRIBUTE_TYPE_INVALID) { /* a v2.11 token: no such thing */
                *ret = false;
                return 0;
        }
        if (rv != CKR_OK)
                return jp11_error_from_rv(error, rv, "reading the key's attributes");
        *ret = t[0].ulValueLen == sizeof v && v == CK_TRUE;
        return 0;
}

/* One C_SignInit + (context login) + C_Sign. */
static int token_sign(JP11Session *s, CK_OBJECT_HANDLE key, CK_MECHANISM_TYPE mech_type, bool always_auth,
                      const JP11Pin *context_pin, const uint8_t *data, size_t data_len, uint8_t *sig,
                      size_t *sig_len, JP11Error *error) {
        CK_FUNCTION_LIST_PTR f = jp11_session_functions(s);
        CK_SESSION_HANDLE h = jp11_session_handle(s);
        CK_MECHANISM mech = { .mechanism = mech_type };
        CK_ULONG len = *sig_len;
        CK_RV rv;
        int r;

        rv = f->C_SignInit(h, &mech, key);
        if (rv != CKR_OK)
                return jp11_error_from_rv(error, rv, "starting the signature");

        if (always_auth) {
                /* The key wants the PIN again for this one signature. */
                r = jp11_login(s, JP11_USER_CONTEXT, context_pin, 0, NULL, error);
                if (r < 0) {
                        /* PKCS#11 2.40 has no cancel, but a C_Sign that fails
                         * (here: not authenticated) ends the operation, so the
                         * session stays usable. Should the token sign anyway,
                         * the signature is dropped. */
                        (void) f->C_Sign(h, (CK_BYTE_PTR) data, data_len, sig, &len);
                        return r;
                }
        }

        rv = f->C_Sign(h, (CK_BYTE_PTR) data, data_len, sig, &len);
        if (rv != CKR_OK)
                return jp11_error_from_rv(error, rv, "signing the request");
        *sig_len = len;
        return 0;
}

/* Returns the signature value as it goes into the request's BIT STRING. */
static int sign_tbs(JP11Session *s, CK_OBJECT_HANDLE key, EVP_PKEY *pkey, const HashInfo *hi, bool always_auth,
                    const JP11Pin *context_pin, const uint8_t *tbs, size_t tbs_len, uint8_t **ret,
                    size_t *ret_len, JP11Error *error) {
        _cleanup_free_ uint8_t *sig = NULL;
        uint8_t digest[EVP_MAX_MD_SIZE + 32];
        unsigned digest_len;
        size_t sig_len = (size_t) EVP_PKEY_get_size(pkey);
        const EVP_MD *md = EVP_get_digestbynid(hi->md_nid);
        int r;

        if (!md)
                return jp11_error_set(error, -EOPNOTSUPP, JP11_ERR_INTERNAL, "OpenSSL lacks %s", hi->name);

        /* EVP_PKEY_get_size(): the modulus size for RSA, the largest DER
         * signature for EC, which exceeds the raw r||s. */
        sig = malloc(sig_len);
        if (!sig)
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");

        if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA) {
                JP11Error first = {};

                r = token_sign(s, key, hi->rsa_mech, always_auth, context_pin, tbs, tbs_len, sig, &sig_len, &first);
                if (r < 0 && first.rv != CKR_MECHANISM_INVALID) {
                        if (error)
                                *error = first;
                        return r;
                }
                if (r < 0) {
                        /* Cards that only do raw PKCS#1 v1.5: hash here and
                         * hand them the DigestInfo. */
                        memcpy(digest, hi->digest_info, hi->digest_info_len);
                        if (!EVP_Digest(tbs, tbs_len, digest + hi->digest_info_len, &digest_len, md, NULL))
                                return jp11_error_set(error, -EIO, JP11_ERR_INTERNAL, "cannot hash the request");
                        sig_len = (size_t) EVP_PKEY_get_size(pkey);
                        r = token_sign(s, key, CKM_RSA_PKCS, always_auth, context_pin, digest,
                                       hi->digest_info_len + digest_len, sig, &sig_len, error);
                }
                if (r < 0)
                        return r;
                *ret = TAKE_PTR(sig);
                *ret_len = sig_len;
                return 0;
        }

        if (!EVP_Digest(tbs, tbs_len, digest, &digest_len, md, NULL))
                return jp11_error_set(error, -EIO, JP11_ERR_INTERNAL, "cannot hash the request");
        r = token_sign(s, key, CKM_ECDSA, always_auth, context_pin, digest, digest_len, sig, &sig_len, error);
        if (r < 0)
                return r;
        return jp11_ecdsa_raw_to_der(sig, sig_len, ret, ret_len, error);
}

static int check_spec(const JP11CsrSpec *spec, const HashInfo **ret, JP11Error *error) {
        const HashInfo *hi;

        if (!spec || !spec->subject)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "no subject for the request");
        if (X509_NAME_entry_count(spec->subject) == 0)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "the request's subject is empty");

        hi = hash_info(spec->hash);
        if (!hi)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "unknown hash algorithm");
        if (hi->hash == JP11_HASH_SHA1)
                return jp11_error_set(error, -EPERM, JP11_ERR_POLICY,
                                      "SHA-1 is refused: use SHA-256 or stronger (ANSSI RGS)");
        *ret = hi;
        return 0;
}

static int csr_create(JP11Session *s, const uint8_t *id, size_t id_len, const JP11CsrSpec *spec,
                      X509_REQ **ret, JP11Error *error) {
        _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
        _cleanup_openssl_free_ uint8_t *tbs = NULL;
        _cleanup_free_ uint8_t *sig = NULL;
        ASN1_BIT_STRING *bits;
        CK_OBJECT_HANDLE key;
        const HashInfo *hi = NULL;
        bool always_auth = false;
        size_t sig_len = 0;
        int r, tbs_len;

        if (!s || !id || id_len == 0 || !ret)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "no session or key id");
        r = check_spec(spec, &hi, error);
        if (r < 0)
                return r;

        r = jp11_find_key_by_id(s, true, id, id_len, &key, error);
        if (r < 0)
                return r;
        r = jp11_read_public_key(s, key, &pkey, error);
        if (r < 0)
                return r;

        switch (EVP_PKEY_get_base_id(pkey)) {
        case EVP_PKEY_RSA:
                if (EVP_PKEY_get_bits(pkey) < 2048)
                        return jp11_error_set(error, -EPERM, JP11_ERR_POLICY,
                                              "the key is RSA-%d: at least 2048 bits are required (ANSSI RGS)",
                                              EVP_PKEY_get_bits(pkey));
                break;
        case EVP_PKEY_EC:
                break;
        default:
                return jp11_error_set(error, -EOPNOTSUPP, JP11_ERR_UNSUPPORTED,
                                      "the key is neither RSA nor EC: cannot sign a request with it");
        }

        r = read_always_authenticate(s, key, &always_auth, error);
        if (r < 0)
                return r;

        r = build_request(spec, pkey, hi, &req, error);
        if (r < 0)
                return r;

        /* The CertificationRequestInfo exactly as it will be serialised. */
        tbs_len = i2d_re_X509_REQ_tbs(req, &tbs);
        if (tbs_len <= 0)
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "cannot encode the request");

        r = sign_tbs(s, key, pkey, hi, always_auth, spec->context_pin, tbs, (size_t) tbs_len, &sig, &sig_len, error);
        if (r < 0)
                return r;

        bits = ASN1_BIT_STRING_new();
        if (!bits || !ASN1_BIT_STRING_set(bits, sig, (int) sig_len)) {
                ASN1_BIT_STRING_free(bits);
                return jp11_error_set(error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
        }
        /* A signature is whole octets: no unused bits, as ASN1_item_sign(). */
        bits->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
        bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;
        X509_REQ_set0_signature(req, bits);

        /* Last line of defence: a token that signed with another key (two
         * keys sharing an id) or a broken encoding is caught here, not by
         * the CA days later. */
        if (X509_REQ_verify(req, pkey) != 1)
                return jp11_error_set(error, -EIO, JP11_ERR_DEVICE,
                                      "the token's signature on the request does not verify with the key's public key");

        *ret = TAKE_PTR(req);
        return 0;
}

int jp11_csr_create(JP11Session *s, const uint8_t *id, size_t id_len, const JP11CsrSpec *spec,
                    X509_REQ **ret, JP11Error *error) {
        int r;

        /* OpenSSL's error queue belongs to the caller: what our steps leave
         * there has been turned into *error already. */
        ERR_set_mark();
        r = csr_create(s, id, id_len, spec, ret, error);
        ERR_pop_to_mark();
        return r;
}
