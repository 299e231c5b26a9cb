/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Errors of the token library: a negative errno for the C convention, a
 * kind that callers (the daemon's D-Bus layer) map to named errors, the
 * raw CK_RV for diagnostics, and a message a person can act on.
 * CK_RV is translated in exactly one place: jp11_error_from_rv(). */

#include <p11-kit/pkcs11.h>
#include <stdarg.h>

#include "macro.h"

typedef enum JP11ErrorKind {
        JP11_ERR_NONE = 0,
        JP11_ERR_INVALID,            /* bad argument or input from the caller */
        JP11_ERR_MODULE,             /* module cannot be loaded or initialised */
        JP11_ERR_NO_TOKEN,           /* no token in the slot */
        JP11_ERR_TOKEN_REMOVED,      /* token or device went away mid-operation */
        JP11_ERR_DEVICE,             /* device/token failure (CKR_DEVICE_ERROR, memory) */
        JP11_ERR_PIN_INCORRECT,      /* wrong PIN: see the PIN state for tries left */
        JP11_ERR_PIN_LOCKED,         /* the user PIN is blocked */
        JP11_ERR_PIN_FINAL_TRY,      /* refused: final try and the caller did not confirm */
        JP11_ERR_PIN_LENGTH,         /* PIN length outside the token's bounds */
        JP11_ERR_PIN_EXPIRED,        /* the PIN must be changed first */
        JP11_ERR_NOT_LOGGED_IN,
        JP11_ERR_READ_ONLY,          /* write-protected token or read-only session */
        JP11_ERR_UNSUPPORTED,        /* mechanism, key type or size the token or policy refuses */
        JP11_ERR_POLICY,             /* refused by our own rules (RSA < 2048, SHA-1, ...) */
        JP11_ERR_NOT_FOUND,          /* no such object / key / slot */
        JP11_ERR_MISMATCH,           /* certificate matches no key on the token */
        JP11_ERR_EXISTS,             /* refused: token holds keys and no force */
        JP11_ERR_BUSY,               /* session / operation conflict */
        JP11_ERR_FORMAT,             /* malformed certificate, PEM, DER, PKCS#7 */
        JP11_ERR_INTERNAL,
        _JP11_ERR_MAX,
} JP11ErrorKind;

typedef struct JP11Error {
        int code;             /* negative errno, 0 when no error */
        JP11ErrorKind kind;
        CK_RV rv;             /* CKR_OK unless the error came from the module */
        char message[512];
} JP11Error;

/* Sets *error (which may be NULL) and returns code, which must be negative.
 * Usage: return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "...", ...); */
int jp11_error_set(JP11Error *error, int code, JP11ErrorKind kind, const char *fmt, ...) _printf_(4, 5);

/* Translates a CK_RV (not CKR_OK) into kind + errno + message. 'what' names
 * the operation ("C_Login", "generating the key pair") for the message.
 * Returns the negative errno. */
int jp11_error_from_rv(JP11Error *error, CK_RV rv, const char *what);

/* Pure mapping used by jp11_error_from_rv (exposed for unit tests). */
JP11ErrorKind jp11_rv_to_kind(CK_RV rv);
int jp11_rv_to_errno(CK_RV rv);
const char *jp11_rv_name(CK_RV rv);          /* "CKR_PIN_INCORRECT", or NULL if unknown */
const char *jp11_error_kind_name(JP11ErrorKind kind); /* "pin-incorrect", ... */

static inline void jp11_error_clear(JP11Error *error) {
        if (error)
                *error = (JP11Error) {};
}
