/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Safe login. Locking a holder's token costs them weeks, so:
 *  - the token info is read right before every attempt;
 *  - a locked PIN is refused without calling C_Login;
 *  - on CKF_USER_PIN_FINAL_TRY we refuse unless the caller passes
 *    JP11_LOGIN_CONFIRM_FINAL_TRY (the person confirmed);
 *  - the length is checked against ulMinPinLen/ulMaxPinLen first;
 *  - a PIN pad reader (CKF_PROTECTED_AUTHENTICATION_PATH) gets C_Login
 *    with a NULL PIN, and a PIN passed anyway is ignored;
 *  - never retried: one call, one C_Login at most;
 *  - after a wrong PIN the fresh PIN state is returned in *ret_state. */

#include <stdbool.h>

#include "p11-error.h"
#include "p11-module.h"
#include "p11-pin.h"

typedef enum JP11LoginFlags {
        JP11_LOGIN_CONFIRM_FINAL_TRY = 1 << 0,
} JP11LoginFlags;

typedef enum JP11UserType {
        JP11_USER_NORMAL = CKU_USER,
        JP11_USER_SO = CKU_SO,
        JP11_USER_CONTEXT = CKU_CONTEXT_SPECIFIC, /* after C_SignInit on CKA_ALWAYS_AUTHENTICATE keys */
} JP11UserType;

/* pin may be NULL only for a PIN pad. ret_state (may be NULL) receives the
 * PIN state read after the attempt (or before the refusal). A session that
 * is already logged in (CKR_USER_ALREADY_LOGGED_IN) counts as success. */
int jp11_login(JP11Session *s, JP11UserType user, const JP11Pin *pin, JP11LoginFlags flags,
               JP11PinState *ret_state, JP11Error *error);
int jp11_logout(JP11Session *s, JP11Error *error);

/* The pure decision taken before C_Login, for unit tests: 0 when an attempt
 * may be made, else the refusal (negative errno with error set). */
int jp11_login_precheck(const JP11PinState *state, JP11UserType user, size_t pin_len, bool have_pin,
                        JP11LoginFlags flags, JP11Error *error);
