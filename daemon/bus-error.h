/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The named errors of org.jeton.Jeton1 (the D-Bus contract, documented in
 * org.jeton.Jeton1.xml), and the one place where negative errnos and the
 * token library's error kinds become them. */

#include <systemd/sd-bus.h>

#include "macro.h"
#include "p11-error.h"

#define JETON_ERROR_PREFIX "org.jeton.Jeton1.Error."

#define JETON_ERROR_NOT_FOUND            JETON_ERROR_PREFIX "NotFound"
#define JETON_ERROR_EXISTS               JETON_ERROR_PREFIX "Exists"
#define JETON_ERROR_INVALID_ARGUMENT     JETON_ERROR_PREFIX "InvalidArgument"
#define JETON_ERROR_INVALID_ORDERS       JETON_ERROR_PREFIX "InvalidOrders"
#define JETON_ERROR_INVALID_STATE        JETON_ERROR_PREFIX "InvalidState"
#define JETON_ERROR_BUSY                 JETON_ERROR_PREFIX "Busy"
#define JETON_ERROR_PERMISSION_DENIED    JETON_ERROR_PREFIX "PermissionDenied"
#define JETON_ERROR_PIN_INCORRECT        JETON_ERROR_PREFIX "PinIncorrect"
#define JETON_ERROR_PIN_LOCKED           JETON_ERROR_PREFIX "PinLocked"
#define JETON_ERROR_PIN_FINAL_TRY        JETON_ERROR_PREFIX "PinFinalTry"
#define JETON_ERROR_PIN_LENGTH           JETON_ERROR_PREFIX "PinLength"
#define JETON_ERROR_NO_AGENT             JETON_ERROR_PREFIX "NoAgent"
#define JETON_ERROR_TOKEN_REMOVED        JETON_ERROR_PREFIX "TokenRemoved"
#define JETON_ERROR_CERTIFICATE_MISMATCH JETON_ERROR_PREFIX "CertificateMismatch"
#define JETON_ERROR_CERTIFICATE_EXPIRED  JETON_ERROR_PREFIX "CertificateExpired"
#define JETON_ERROR_CERTIFICATE_INVALID  JETON_ERROR_PREFIX "CertificateInvalid"
#define JETON_ERROR_FAILED               JETON_ERROR_PREFIX "Failed"

#define JETON_PIN_AGENT_ERROR_CANCELED   "org.jeton.Jeton1.PinAgent.Error.Canceled"

/* Registers the errno of each name with sd-bus, so that
 * sd_bus_error_get_errno() and clients using libsystemd see it. Call once,
 * before the bus is used. */
int bus_error_register(void);

/* The named error for a negative errno: -ENOENT NotFound, -EEXIST Exists,
 * -EINVAL InvalidArgument, -EBUSY Busy, -EACCES/-EPERM PermissionDenied,
 * -ESTALE InvalidState, -ENODEV TokenRemoved, ... else Failed. */
const char *bus_error_name_from_errno(int r);
/* The named error for a token library error kind. */
const char *bus_error_name_from_jp11(JP11ErrorKind kind);

/* Sets *error to the named error of r with the formatted message and
 * returns r (negative). */
int bus_error_set_errno(sd_bus_error *error, int r, const char *format, ...) _printf_(3, 4);
/* Sets *error from a token library error and returns e->code (or -EIO). */
int bus_error_set_jp11(sd_bus_error *error, const JP11Error *e);
