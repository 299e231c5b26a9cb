/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Issued certificates: checking one against its order (loop thread, pure
 * OpenSSL) and writing it to the token (worker thread).
 *
 * A certificate is accepted only if its public key equals the order's key
 * (the SubjectPublicKeyInfo of the order's request, DER compared), its
 * subject equals the request's (DER compared), and now is within its
 * validity. The chain (PKCS#7 or further PEM blocks) goes on the token as
 * authority certificates. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jeton-p11.h"
#include "order.h"

typedef enum InstallRefusal {
        INSTALL_OK,
        INSTALL_INVALID,                /* malformed: CertificateInvalid */
        INSTALL_MISMATCH,               /* another key or subject: CertificateMismatch */
        INSTALL_EXPIRED,                /* not yet or no longer valid: CertificateExpired */
        INSTALL_STATE,                  /* the order has no request: InvalidState */
} InstallRefusal;

/* Checks data (PEM, DER or PKCS#7) against order o at time now (seconds).
 * On success fills *ret_bundle. Returns 0, or a negative errno with
 * *ret_refusal and *ret_message (malloc'd, a sentence). */
int install_validate(const Order *o, const uint8_t *data, size_t size, time_t now,
                     JP11CertBundle *ret_bundle, InstallRefusal *ret_refusal, char **ret_message);

/* What the store keeps of a checked bundle: the PEM of leaf and chain,
 * the leaf's DER, serial (hex) and notAfter. Strings malloc'd, freed by
 * install_record_done(). */
typedef struct InstallRecord {
        char *pem;
        uint8_t *der;
        size_t der_size;
        char *serial_hex;
        uint64_t not_after_usec;
} InstallRecord;

int install_record_from_bundle(const JP11CertBundle *b, InstallRecord *ret);
void install_record_done(InstallRecord *r);

/* Reads all of fd (at most 1 MiB). fd must be non-blocking (ours, e.g.
 * from fd_reopen_nonblock()): -EAGAIN when a pipe has no more data yet but
 * is not closed either. */
int install_read_fd(int fd, uint8_t **ret, size_t *ret_size);

/* The token side of an install job. */
typedef struct InstallWork InstallWork;
struct InstallWork {
        JP11Module *module;
        char *serial;
        char *manufacturer;
        char *label;                    /* the order reference */
        JP11CertBundle bundle;          /* parsed from the order's stored PEM */

        int r;
        JP11Error error;
        JP11InstallResult result;
};

InstallWork *install_work_free(InstallWork *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(InstallWork *, install_work_free);

/* Worker thread: open a read-write session on the token found by serial
 * and jp11_cert_install() the bundle. */
void install_run(InstallWork *w);
