/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Issued certificates as they arrive from a CA or a person: PEM, DER,
 * PKCS#7 (pkcs11/cert.h). */

#include <openssl/err.h>

#include "cert.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        JP11CertBundle b = {};
        JP11Error e = {};

        if (jp11_cert_bundle_parse(data, size, &b, &e) >= 0)
                jp11_cert_bundle_clear(&b);
        ERR_clear_error();
        return 0;
}
