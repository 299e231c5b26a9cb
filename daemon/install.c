/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "install.h"
#include "model-util.h"
#include "util.h"

#define CERT_MAX_SIZE (1024 * 1024)

static int refuse(InstallRefusal what, int r, InstallRefusal *ret_refusal, char **ret_message,
                  const char *fmt, ...) _printf_(5, 6);
static int refuse(InstallRefusal what, int r, InstallRefusal *ret_refusal, char **ret_message,
                  const char *fmt, ...) {
        va_list ap;

        *ret_refusal = what;
        va_start(ap, fmt);
        if (vasprintf(ret_message, fmt, ap) < 0)
                *ret_message = NULL;
        va_end(ap);
        return r;
}

static int der_of_pubkey(X509_PUBKEY *k, uint8_t **ret) {
        return k ? i2d_X509_PUBKEY(k, ret) : -1;
}

int install_validate(const Order *o, const uint8_t *data, size_t size, time_t now,
                     JP11CertBundle *ret_bundle, InstallRefusal *ret_refusal, char **ret_message) {
        JP11CertBundle b = {};
        JP11Error error = {};
        X509_REQ *req = NULL;
        BIO *bio = NULL;
        uint8_t *a = NULL, *c = NULL;
        int na, nc, r;

        *ret_refusal = INSTALL_OK;
        *ret_message = NULL;

        if (!o->csr_pem)
                return refuse(INSTALL_STATE, -ESTALE, ret_refusal, ret_message,
                              "Order %s has no certificate request yet.", o->reference);

        r = jp11_cert_bundle_parse(data, size, &b, &error);
        if (r < 0)
                return refuse(INSTALL_INVALID, -EBADMSG, ret_refusal, ret_message,
                              "The certificate for %s cannot be read: %s", o->reference, error.message);

        bio = BIO_new_mem_buf(o->csr_pem, -1);
        if (bio)
                req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
        BIO_free(bio);
        if (!req) {
                r = -ENOMEM;
                goto fail;
        }

        na = der_of_pubkey(X509_get_X509_PUBKEY(b.leaf), &a);
        nc = der_of_pubkey(X509_REQ_get_X509_PUBKEY(req), &c);
        if (na <= 0 || nc <= 0 || na != nc || memcmp(a, c, na) != 0) {
                r = refuse(INSTALL_MISMATCH, -EXDEV, ret_refusal, ret_message,
                           "The certificate's public key is not the key of order %s.", o->reference);
                goto fail;
        }
        OPENSSL_free(a);
        OPENSSL_free(c);
        a = c = NULL;

        na = i2d_X509_NAME(X509_get_subject_name(b.leaf), &a);
        nc = i2d_X509_NAME(X509_REQ_get_subject_name(req), &c);
        if (na <= 0 || nc <= 0 || na != nc || memcmp(a, c, na) != 0) {
                _cleanup_free_ char *got = jp11_subject_to_string(X509_get_subject_name(b.leaf));
                _cleanup_free_ char *want = jp11_subject_to_string(X509_REQ_get_subject_name(req));

                r = refuse(INSTALL_MISMATCH, -EXDEV, ret_refusal, ret_message,
                           "The certificate's subject \"%s\" is not the request's \"%s\" (order %s).",
                           strna(got), strna(want), o->reference);
                goto fail;
        }

        if (X509_cmp_time(X509_get0_notBefore(b.leaf), &now) != -1) {
                r = refuse(INSTALL_EXPIRED, -EKEYEXPIRED, ret_refusal, ret_message,
                           "The certificate for %s is not valid yet.", o->reference);
                goto fail;
        }
        if (X509_cmp_time(X509_get0_notAfter(b.leaf), &now) != 1) {
                r = refuse(INSTALL_EXPIRED, -EKEYEXPIRED, ret_refusal, ret_message,
                           "The certificate for %s has expired.", o->reference);
                goto fail;
        }

        OPENSSL_free(a);
        OPENSSL_free(c);
        X509_REQ_free(req);
        *ret_bundle = b;
        return 0;

fail:
        OPENSSL_free(a);
        OPENSSL_free(c);
        X509_REQ_free(req);
        jp11_cert_bundle_clear(&b);
        return r;
}

static int append_pem(BIO *bio, X509 *x) {
        return PEM_write_bio_X509(bio, x) == 1 ? 0 : -ENOMEM;
}

int install_record_from_bundle(const JP11CertBundle *b, InstallRecord *ret) {
        InstallRecord rec = {};
        BIO *bio = BIO_new(BIO_s_mem());
        BIGNUM *bn = NULL;
        struct tm tm = {};
        char *p;
        long n;
        int r = -ENOMEM, len;

        if (!bio)
                return -ENOMEM;
        if (append_pem(bio, b->leaf) < 0)
                goto out;
        for (int i = 0; b->chain && i < sk_X509_num(b->chain); i++)
                if (append_pem(bio, sk_X509_value(b->chain, i)) < 0)
                        goto out;
        n = BIO_get_mem_data(bio, &p);
        rec.pem = memdup_nul(p, n);     /* a BIO buffer has no NUL */
        if (!rec.pem)
                goto out;

        len = i2d_X509(b->leaf, &rec.der);
        if (len <= 0)
                goto out;
        rec.der_size = len;

        bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(b->leaf), NULL);
        p = bn ? BN_bn2hex(bn) : NULL;
        if (!p)
                goto out;
        rec.serial_hex = strdup(p);
        OPENSSL_free(p);
        if (!rec.serial_hex)
                goto out;
        for (char *q = rec.serial_hex; *q; q++)
                *q = tolower((unsigned char) *q);

        if (ASN1_TIME_to_tm(X509_get0_notAfter(b->leaf), &tm) != 1) {
                r = -EBADMSG;
                goto out;
        }
        rec.not_after_usec = (uint64_t) timegm(&tm) * UINT64_C(1000000);

        *ret = rec;
        rec = (InstallRecord) {};
        r = 0;
out:
        install_record_done(&rec);
        BN_free(bn);
        BIO_free(bio);
        return r;
}

void install_record_done(InstallRecord *r) {
        free(r->pem);
        OPENSSL_free(r->der);
        free(r->serial_hex);
        *r = (InstallRecord) {};
}

int install_read_fd(int fd, uint8_t **ret, size_t *ret_size) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t size = 0, allocated = 0;

        for (;;) {
                ssize_t n;

                if (allocated - size < 4096) {
                        uint8_t *b;

                        if (allocated >= CERT_MAX_SIZE)
                                return -EFBIG;
                        allocated = allocated ? allocated * 2 : 16384;
                        b = realloc(buf, allocated);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                }
                n = read(fd, buf + size, allocated - size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                size += n;
        }
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

InstallWork *install_work_free(InstallWork *w) {
        if (!w)
                return NULL;
        free(w->serial);
        free(w->manufacturer);
        free(w->label);
        jp11_cert_bundle_clear(&w->bundle);
        free(w);
        return NULL;
}

void install_run(InstallWork *w) {
        _cleanup_(jp11_session_closep) JP11Session *s = NULL;
        JP11Slot slot;

        jp11_error_clear(&w->error);
        w->r = jp11_module_find_token(w->module, w->serial, w->manufacturer, &slot, &w->error);
        if (w->r < 0) {
                if (w->error.kind == JP11_ERR_NOT_FOUND || w->error.kind == JP11_ERR_NO_TOKEN)
                        w->error.kind = JP11_ERR_TOKEN_REMOVED;
                return;
        }
        w->r = jp11_session_open(w->module, slot.id, true, &s, &w->error);
        if (w->r < 0)
                return;
        w->r = jp11_cert_install(s, &w->bundle, w->label, &w->result, &w->error);
}
