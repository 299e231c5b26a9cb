/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "p11-error.h"

/* The one place where a CK_RV becomes an errno, a kind and words. The text
 * is for the person in front of the token; 'during' says whether it reads
 * "<text> during <what>" (something happened to the token while we worked)
 * or "<what>: <text>" (the operation was refused). */
typedef struct RvEntry {
        CK_RV rv;
        const char *name;
        JP11ErrorKind kind;
        int errnum;
        bool during;
        const char *text;
} RvEntry;

#define E(rv, kind, errnum, during, text) { rv, #rv, kind, errnum, during, text }

static const RvEntry rv_table[] = {
        E(CKR_CANCEL, JP11_ERR_DEVICE, ECANCELED, false, "cancelled"),
        E(CKR_HOST_MEMORY, JP11_ERR_DEVICE, ENOMEM, false, "out of memory in the PKCS#11 module"),
        E(CKR_SLOT_ID_INVALID, JP11_ERR_NOT_FOUND, ENXIO, false,
          "no such slot (the reader may have been unplugged)"),
        E(CKR_GENERAL_ERROR, JP11_ERR_DEVICE, EIO, false,
          "the PKCS#11 module reported an unrecoverable error"),
        E(CKR_FUNCTION_FAILED, JP11_ERR_DEVICE, EIO, false, "the token could not do it"),
        E(CKR_ARGUMENTS_BAD, JP11_ERR_INTERNAL, EINVAL, false, "the module rejected the arguments"),
        E(CKR_NO_EVENT, JP11_ERR_INTERNAL, EAGAIN, false, "no slot event"),
        E(CKR_NEED_TO_CREATE_THREADS, JP11_ERR_MODULE, ENOTSUP, false,
          "the module needs to create threads and may not"),
        E(CKR_CANT_LOCK, JP11_ERR_MODULE, ENOTSUP, false,
          "the module cannot do the locking a threaded program needs"),
        E(CKR_ATTRIBUTE_READ_ONLY, JP11_ERR_UNSUPPORTED, EOPNOTSUPP, false,
          "the token does not let this attribute be set"),
        E(CKR_ATTRIBUTE_SENSITIVE, JP11_ERR_UNSUPPORTED, EACCES, false,
          "the token keeps this attribute secret"),
        E(CKR_ATTRIBUTE_TYPE_INVALID, JP11_ERR_UNSUPPORTED, EOPNOTSUPP, false,
          "the token does not know this attribute"),
        E(CKR_ATTRIBUTE_VALUE_INVALID, JP11_ERR_UNSUPPORTED, EOPNOTSUPP, false,
          "the token does not accept this attribute value"),
        E(CKR_ACTION_PROHIBITED, JP11_ERR_UNSUPPORTED, EPERM, false,
          "the token's policy prohibits this action"),
        E(CKR_DATA_INVALID, JP11_ERR_INVALID, EINVAL, false, "the token rejected the data"),
        E(CKR_DATA_LEN_RANGE, JP11_ERR_INVALID, EINVAL, false,
          "the data has a length the token does not accept"),
        E(CKR_DEVICE_ERROR, JP11_ERR_DEVICE, EIO, true,
          "the token or its reader failed (try re-inserting it)"),
        E(CKR_DEVICE_MEMORY, JP11_ERR_DEVICE, ENOSPC, false, "the token is full"),
        E(CKR_DEVICE_REMOVED, JP11_ERR_TOKEN_REMOVED, ENODEV, true, "the token was removed"),
        E(CKR_ENCRYPTED_DATA_INVALID, JP11_ERR_INVALID, EBADMSG, false, "invalid encrypted data"),
        E(CKR_ENCRYPTED_DATA_LEN_RANGE, JP11_ERR_INVALID, EBADMSG, false,
          "encrypted data of the wrong length"),
        E(CKR_FUNCTION_CANCELED, JP11_ERR_DEVICE, ECANCELED, false,
          "cancelled (on the PIN pad or by the token)"),
        E(CKR_FUNCTION_NOT_PARALLEL, JP11_ERR_UNSUPPORTED, EOPNOTSUPP, false,
          "the module cannot run this in parallel"),
        E(CKR_FUNCTION_NOT_SUPPORTED, JP11_ERR_UNSUPPORTED, EOPNOTSUPP, false,
          "the token's module does not support this"),
        E(CKR_KEY_HANDLE_INVALID, JP11_ERR_NOT_FOUND, ENOENT, false,
          "the key is no longer on the token"),
        E(CKR_KEY_SIZE_RANGE, JP11_ERR_UNSUPPORTED, EOPNOTSUPP, false,
          "the token does not support this key size"),
        E(CKR_KEY_TYPE_INCONSISTENT, JP11_ERR_UNSUPPORTED, EOPNOTSUPP, false,
          "this key type cannot be used with this mechanism"),
        E(CKR_KEY_NOT_NEEDED, JP11_ERR_INTERNAL, EINVAL, false, "a key was given but not needed"),
        E(CKR_KEY_CHANGED, JP11_ERR_INTERNAL, ESTALE, false, "the key changed"),
        E(CKR_KEY_NEEDED, JP11_ERR_INTERNAL, EINVAL, false, "a key is needed"),
        E(CKR_KEY_INDIGESTIBLE, JP11_ERR_UNSUPPORTED, EOPNOTSUPP, false, "the key cannot be digested"),
        E(CKR_KEY_FUNCTION_NOT_PERMITTED, JP11_ERR_UNSUPPORTED, EPERM, false,
          "the key's attributes do not allow this use"),
        E(CKR_KEY_NOT_WRAPPABLE, JP11_ERR_UNSUPPORTED, EPERM, false, "the key cannot be wrapped"),
        E(CKR_KEY_UNEXTRACTABLE, JP11_ERR_UNSUPPORTED, EPERM, false,
          "the key cannot leave the token"),
        E(CKR_MECHANISM_INVALID, JP11_ERR_UNSUPPORTED, EOPNOTSUPP, false,
          "the token does not support this mechanism"),
        E(CKR_MECHANISM_PARAM_INVALID, JP11_ERR_UNSUPPORTED, EOPNOTSUPP, false,
          "the token does not accept these mechanism parameters"),
        E(CKR_OBJECT_HANDLE_INVALID, JP11_ERR_NOT_FOUND, ENOENT, false,
          "the object is no longer on the token"),
        E(CKR_OPERATION_ACTIVE, JP11_ERR_BUSY, EBUSY, false,
          "another operation is in progress on this session"),
        E(CKR_OPERATION_NOT_INITIALIZED, JP11_ERR_INTERNAL, EPROTO, false,
          "no operation was started on this session"),
        E(CKR_PIN_INCORRECT, JP11_ERR_PIN_INCORRECT, EACCES, false, "wrong PIN"),
        E(CKR_PIN_INVALID, JP11_ERR_INVALID, EINVAL, false,
          "the PIN contains characters the token does not accept"),
        E(CKR_PIN_LEN_RANGE, JP11_ERR_PIN_LENGTH, ERANGE, false,
          "the PIN is too short or too long for this token"),
        E(CKR_PIN_EXPIRED, JP11_ERR_PIN_EXPIRED, EKEYEXPIRED, false,
          "the PIN has expired and must be changed first"),
        E(CKR_PIN_LOCKED, JP11_ERR_PIN_LOCKED, EPERM, false,
          "the PIN is blocked (it must be unblocked with the PUK or by the issuer)"),
        E(CKR_SESSION_CLOSED, JP11_ERR_TOKEN_REMOVED, ENODEV, true,
          "the session was closed (was the token removed?)"),
        E(CKR_SESSION_COUNT, JP11_ERR_BUSY, EBUSY, false, "the token has too many open sessions"),
        E(CKR_SESSION_HANDLE_INVALID, JP11_ERR_TOKEN_REMOVED, ENODEV, true,
          "the session ended (was the token removed?)"),
        E(CKR_SESSION_PARALLEL_NOT_SUPPORTED, JP11_ERR_UNSUPPORTED, EOPNOTSUPP, false,
          "the module does not support parallel sessions"),
        E(CKR_SESSION_READ_ONLY, JP11_ERR_READ_ONLY, EROFS, false, "the session is read-only"),
        E(CKR_SESSION_EXISTS, JP11_ERR_BUSY, EBUSY, false,
          "the token has open sessions (close other programs using it)"),
        E(CKR_SESSION_READ_ONLY_EXISTS, JP11_ERR_BUSY, EBUSY, false,
          "a read-only session is open, so the security officer cannot log in"),
        E(CKR_SESSION_READ_WRITE_SO_EXISTS, JP11_ERR_BUSY, EBUSY, false,
          "the security officer is logged in on another session"),
        E(CKR_SIGNATURE_INVALID, JP11_ERR_MISMATCH, EBADMSG, false, "the signature is invalid"),
        E(CKR_SIGNATURE_LEN_RANGE, JP11_ERR_MISMATCH, EBADMSG, false,
          "the signature has the wrong length"),
        E(CKR_TEMPLATE_INCOMPLETE, JP11_ERR_UNSUPPORTED, EOPNOTSUPP, false,
          "the token needs attributes that were not given"),
        E(CKR_TEMPLATE_INCONSISTENT, JP11_ERR_UNSUPPORTED, EOPNOTSUPP, false,
          "the token refuses this combination of attributes"),
        E(CKR_TOKEN_NOT_PRESENT, JP11_ERR_NO_TOKEN, ENOMEDIUM, true, "no token in the slot"),
        E(CKR_TOKEN_NOT_RECOGNIZED, JP11_ERR_NO_TOKEN, EMEDIUMTYPE, false,
          "the module does not recognise this card or token"),
        E(CKR_TOKEN_WRITE_PROTECTED, JP11_ERR_READ_ONLY, EROFS, false, "the token is write-protected"),
        E(CKR_UNWRAPPING_KEY_SIZE_RANGE, JP11_ERR_UNSUPPORTED, EOPNOTSUPP, false,
          "unwrapping key size not supported"),
        E(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, JP11_ERR_UNSUPPORTED, EOPNOTSUPP, false,
          "unwrapping key type not supported"),
        E(CKR_USER_ALREADY_LOGGED_IN, JP11_ERR_BUSY, EALREADY, false, "already logged in"),
        E(CKR_USER_NOT_LOGGED_IN, JP11_ERR_NOT_LOGGED_IN, EACCES, false, "log in to the token first"),
        E(CKR_USER_PIN_NOT_INITIALIZED, JP11_ERR_NOT_LOGGED_IN, ENOKEY, false,
          "the token has no user PIN yet (initialise it first)"),
        E(CKR_USER_TYPE_INVALID, JP11_ERR_INVALID, EINVAL, false, "invalid user type"),
        E(CKR_USER_ANOTHER_ALREADY_LOGGED_IN, JP11_ERR_BUSY, EBUSY, false,
          "another user is logged in to the token"),
        E(CKR_USER_TOO_MANY_TYPES, JP11_ERR_BUSY, EBUSY, false,
          "too many different users are logged in"),
        E(CKR_WRAPPED_KEY_INVALID, JP11_ERR_INVALID, EBADMSG, false, "invalid wrapped key"),
        E(CKR_WRAPPED_KEY_LEN_RANGE, JP11_ERR_INVALID, EBADMSG, false, "wrapped key of wrong length"),
        E(CKR_WRAPPING_KEY_HANDLE_INVALID, JP11_ERR_NOT_FOUND, ENOENT, false, "no such wrapping key"),
        E(CKR_WRAPPING_KEY_SIZE_RANGE, JP11_ERR_UNSUPPORTED, EOPNOTSUPP, false,
          "wrapping key size not supported"),
        E(CKR_WRAPPING_KEY_TYPE_INCONSISTENT, JP11_ERR_UNSUPPORTED, EOPNOTSUPP, false,
          "wrapping key type not supported"),
        E(CKR_RANDOM_SEED_NOT_SUPPORTED, JP11_ERR_UNSUPPORTED, EOPNOTSUPP, false,
          "the token cannot be seeded"),
        E(CKR_RANDOM_NO_RNG, JP11_ERR_UNSUPPORTED, EOPNOTSUPP, false,
          "the token has no random number generator"),
        E(CKR_DOMAIN_PARAMS_INVALID, JP11_ERR_UNSUPPORTED, EOPNOTSUPP, false,
          "the token does not support these key parameters"),
        E(CKR_CURVE_NOT_SUPPORTED, JP11_ERR_UNSUPPORTED, EOPNOTSUPP, false,
          "the token does not support this elliptic curve"),
        E(CKR_BUFFER_TOO_SMALL, JP11_ERR_INTERNAL, ENOBUFS, false, "buffer too small"),
        E(CKR_SAVED_STATE_INVALID, JP11_ERR_INTERNAL, EINVAL, false, "invalid saved state"),
        E(CKR_INFORMATION_SENSITIVE, JP11_ERR_UNSUPPORTED, EACCES, false,
          "the token keeps this information secret"),
        E(CKR_STATE_UNSAVEABLE, JP11_ERR_UNSUPPORTED, EOPNOTSUPP, false, "state cannot be saved"),
        E(CKR_CRYPTOKI_NOT_INITIALIZED, JP11_ERR_MODULE, EIO, false,
          "the PKCS#11 module is not initialised"),
        E(CKR_CRYPTOKI_ALREADY_INITIALIZED, JP11_ERR_MODULE, EALREADY, false,
          "the PKCS#11 module is already initialised"),
        E(CKR_MUTEX_BAD, JP11_ERR_INTERNAL, EINVAL, false, "bad mutex"),
        E(CKR_MUTEX_NOT_LOCKED, JP11_ERR_INTERNAL, EINVAL, false, "mutex not locked"),
        E(CKR_NEW_PIN_MODE, JP11_ERR_UNSUPPORTED, EOPNOTSUPP, false, "new PIN mode"),
        E(CKR_NEXT_OTP, JP11_ERR_UNSUPPORTED, EOPNOTSUPP, false, "next OTP"),
        E(CKR_EXCEEDED_MAX_ITERATIONS, JP11_ERR_DEVICE, EIO, false, "too many iterations"),
        E(CKR_FIPS_SELF_TEST_FAILED, JP11_ERR_DEVICE, EIO, false, "the token failed its self test"),
        E(CKR_LIBRARY_LOAD_FAILED, JP11_ERR_MODULE, ELIBACC, false,
          "the module could not load a library it needs"),
        E(CKR_PIN_TOO_WEAK, JP11_ERR_INVALID, EINVAL, false,
          "the token refuses this PIN as too weak"),
        E(CKR_PUBLIC_KEY_INVALID, JP11_ERR_INVALID, EINVAL, false, "the public key is invalid"),
        E(CKR_FUNCTION_REJECTED, JP11_ERR_UNSUPPORTED, EPERM, false, "the token rejected the request"),
};

#undef E

static const RvEntry *rv_lookup(CK_RV rv) {
        for (size_t i = 0; i < ELEMENTSOF(rv_table); i++)
                if (rv_table[i].rv == rv)
                        return &rv_table[i];
        return NULL;
}

JP11ErrorKind jp11_rv_to_kind(CK_RV rv) {
        if (rv == CKR_OK)
                return JP11_ERR_NONE;
        const RvEntry *e = rv_lookup(rv);
        /* Unknown and vendor-defined codes: the token failed in a way we
         * cannot name, which is what DEVICE means to callers. */
        return e ? e->kind : JP11_ERR_DEVICE;
}

int jp11_rv_to_errno(CK_RV rv) {
        if (rv == CKR_OK)
                return 0;
        const RvEntry *e = rv_lookup(rv);
        return e ? e->errnum : EIO;
}

const char *jp11_rv_name(CK_RV rv) {
        if (rv == CKR_OK)
                return "CKR_OK";
        const RvEntry *e = rv_lookup(rv);
        return e ? e->name : NULL;
}

static const char *const kind_names[_JP11_ERR_MAX] = {
        [JP11_ERR_NONE] = "none",
        [JP11_ERR_INVALID] = "invalid",
        [JP11_ERR_MODULE] = "module",
        [JP11_ERR_NO_TOKEN] = "no-token",
        [JP11_ERR_TOKEN_REMOVED] = "token-removed",
        [JP11_ERR_DEVICE] = "device",
        [JP11_ERR_PIN_INCORRECT] = "pin-incorrect",
        [JP11_ERR_PIN_LOCKED] = "pin-locked",
        [JP11_ERR_PIN_FINAL_TRY] = "pin-final-try",
        [JP11_ERR_PIN_LENGTH] = "pin-length",
        [JP11_ERR_PIN_EXPIRED] = "pin-expired",
        [JP11_ERR_NOT_LOGGED_IN] = "not-logged-in",
        [JP11_ERR_READ_ONLY] = "read-only",
        [JP11_ERR_UNSUPPORTED] = "unsupported",
        [JP11_ERR_POLICY] = "policy",
        [JP11_ERR_NOT_FOUND] = "not-found",
        [JP11_ERR_MISMATCH] = "mismatch",
        [JP11_ERR_EXISTS] = "exists",
        [JP11_ERR_BUSY] = "busy",
        [JP11_ERR_FORMAT] = "format",
        [JP11_ERR_INTERNAL] = "internal",
};

const char *jp11_error_kind_name(JP11ErrorKind kind) {
        if ((unsigned) kind >= _JP11_ERR_MAX)
                return NULL;
        return kind_names[kind];
}

int jp11_error_set(JP11Error *error, int code, JP11ErrorKind kind, const char *fmt, ...) {
        /* A non-negative code would be read as success by the caller. */
        if (code >= 0)
                code = -EIO;
        if (!error)
                return code;

        /* Formatted into a copy first: an argument may point into
         * error->message itself (prefixing an earlier message). */
        char buf[sizeof error->message];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);

        error->code = code;
        error->kind = kind;
        error->rv = CKR_OK;
        memcpy(error->message, buf, sizeof buf);
        return code;
}

int jp11_error_from_rv(JP11Error *error, CK_RV rv, const char *what) {
        const RvEntry *e = rv_lookup(rv);
        int code = -jp11_rv_to_errno(rv);
        int r;

        if (rv == CKR_OK)
                code = -EIO; /* misuse: never report success as an error */
        if (!what)
                what = "the token operation";

        if (e && e->during)
                r = jp11_error_set(error, code, e->kind, "%s during %s (%s)", e->text, what, e->name);
        else if (e)
                r = jp11_error_set(error, code, e->kind, "%s: %s (%s)", what, e->text, e->name);
        else if (rv >= CKR_VENDOR_DEFINED)
                r = jp11_error_set(error, code, JP11_ERR_DEVICE,
                                   "%s: the token failed with vendor error 0x%08lx", what,
                                   (unsigned long) rv);
        else
                r = jp11_error_set(error, code, jp11_rv_to_kind(rv),
                                   "%s: the token failed with error 0x%08lx", what, (unsigned long) rv);
        if (error)
                error->rv = rv;
        return r;
}
