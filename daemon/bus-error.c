/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "bus-error.h"

static const sd_bus_error_map jeton_errors[] = {
        SD_BUS_ERROR_MAP(JETON_ERROR_NOT_FOUND,            ENOENT),
        SD_BUS_ERROR_MAP(JETON_ERROR_EXISTS,               EEXIST),
        SD_BUS_ERROR_MAP(JETON_ERROR_INVALID_ARGUMENT,     EINVAL),
        SD_BUS_ERROR_MAP(JETON_ERROR_INVALID_ORDERS,       EINVAL),
        SD_BUS_ERROR_MAP(JETON_ERROR_INVALID_STATE,        ESTALE),
        SD_BUS_ERROR_MAP(JETON_ERROR_BUSY,                 EBUSY),
        SD_BUS_ERROR_MAP(JETON_ERROR_PERMISSION_DENIED,    EACCES),
        SD_BUS_ERROR_MAP(JETON_ERROR_PIN_INCORRECT,        EACCES),
        SD_BUS_ERROR_MAP(JETON_ERROR_PIN_LOCKED,           EKEYREVOKED),
        SD_BUS_ERROR_MAP(JETON_ERROR_PIN_FINAL_TRY,        EKEYREJECTED),
        SD_BUS_ERROR_MAP(JETON_ERROR_PIN_LENGTH,           ERANGE),
        SD_BUS_ERROR_MAP(JETON_ERROR_NO_AGENT,             ENOKEY),
        SD_BUS_ERROR_MAP(JETON_ERROR_TOKEN_REMOVED,        ENODEV),
        SD_BUS_ERROR_MAP(JETON_ERROR_CERTIFICATE_MISMATCH, EBADE),
        SD_BUS_ERROR_MAP(JETON_ERROR_CERTIFICATE_EXPIRED,  EKEYEXPIRED),
        SD_BUS_ERROR_MAP(JETON_ERROR_CERTIFICATE_INVALID,  EBADMSG),
        SD_BUS_ERROR_MAP(JETON_ERROR_FAILED,               EIO),
        SD_BUS_ERROR_MAP(JETON_PIN_AGENT_ERROR_CANCELED,   ECANCELED),
        SD_BUS_ERROR_MAP_END
};

int bus_error_register(void) {
        return sd_bus_error_add_map(jeton_errors);
}

/* The reverse direction: one name per errno class. Several names share an
 * errno above (they are all "EACCES" to a C client); here the first
 * meaning wins. */
const char *bus_error_name_from_errno(int r) {
        switch (-r) {
        case ENOENT:
        case ENXIO:
                return JETON_ERROR_NOT_FOUND;
        case EEXIST:
                return JETON_ERROR_EXISTS;
        case EINVAL:
        case ERANGE:
        case E2BIG:
        case EFBIG:
                return JETON_ERROR_INVALID_ARGUMENT;
        case ESTALE:
                return JETON_ERROR_INVALID_STATE;
        case EBUSY:
        case EAGAIN:
                return JETON_ERROR_BUSY;
        case EACCES:
        case EPERM:
                return JETON_ERROR_PERMISSION_DENIED;
        case EKEYREVOKED:
                return JETON_ERROR_PIN_LOCKED;
        case EKEYREJECTED:
                return JETON_ERROR_PIN_FINAL_TRY;
        case ENOKEY:
                return JETON_ERROR_NO_AGENT;
        case ENODEV:
        case ENOMEDIUM:
                return JETON_ERROR_TOKEN_REMOVED;
        case EBADE:
                return JETON_ERROR_CERTIFICATE_MISMATCH;
        case EKEYEXPIRED:
                return JETON_ERROR_CERTIFICATE_EXPIRED;
        case EBADMSG:
                return JETON_ERROR_CERTIFICATE_INVALID;
        default:
                return JETON_ERROR_FAILED;
        }
}

const char *bus_error_name_from_jp11(JP11ErrorKind kind) {
        switch (kind) {
        case JP11_ERR_INVALID:
        case JP11_ERR_POLICY:
        case JP11_ERR_UNSUPPORTED:
                return JETON_ERROR_INVALID_ARGUMENT;
        case JP11_ERR_NO_TOKEN:
        case JP11_ERR_TOKEN_REMOVED:
                return JETON_ERROR_TOKEN_REMOVED;
        case JP11_ERR_PIN_INCORRECT:
                return JETON_ERROR_PIN_INCORRECT;
        case JP11_ERR_PIN_LOCKED:
                return JETON_ERROR_PIN_LOCKED;
        case JP11_ERR_PIN_FINAL_TRY:
                return JETON_ERROR_PIN_FINAL_TRY;
        case JP11_ERR_PIN_LENGTH:
                return JETON_ERROR_PIN_LENGTH;
        case JP11_ERR_NOT_FOUND:
                return JETON_ERROR_NOT_FOUND;
        case JP11_ERR_MISMATCH:
                return JETON_ERROR_CERTIFICATE_MISMATCH;
        case JP11_ERR_EXISTS:
                return JETON_ERROR_EXISTS;
        case JP11_ERR_BUSY:
                return JETON_ERROR_BUSY;
        case JP11_ERR_FORMAT:
                return JETON_ERROR_CERTIFICATE_INVALID;
        case JP11_ERR_NONE:
        case JP11_ERR_MODULE:
        case JP11_ERR_DEVICE:
        case JP11_ERR_PIN_EXPIRED:
        case JP11_ERR_NOT_LOGGED_IN:
        case JP11_ERR_READ_ONLY:
        case JP11_ERR_INTERNAL:
        case _JP11_ERR_MAX:
                break;
        }
        return JETON_ERROR_FAILED;
}

int bus_error_set_errno(sd_bus_error *error, int r, const char *format, ...) {
        char message[1024];
        va_list ap;

        va_start(ap, format);
        (void) vsnprintf(message, sizeof message, format, ap);
        va_end(ap);
        (void) sd_bus_error_set(error, bus_error_name_from_errno(r), message);
        return r < 0 ? r : -EIO;
}

int bus_error_set_jp11(sd_bus_error *error, const JP11Error *e) {
        (void) sd_bus_error_set(error, bus_error_name_from_jp11(e->kind),
                                e->message[0] ? e->message : "The token operation failed.");
        return e->code < 0 ? e->code : -EIO;
}
