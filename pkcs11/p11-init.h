/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Token initialisation: C_InitToken (SO PIN, label), then C_InitPIN (user
 * PIN) on an SO session. A token that holds keys is refused unless the
 * caller forces it (JP11_ERR_EXISTS): initialising destroys them. */

#include <stdbool.h>

#include "p11-error.h"
#include "p11-module.h"
#include "p11-pin.h"

typedef enum JP11InitFlags {
        JP11_INIT_FORCE = 1 << 0,       /* erase a token that holds keys */
        /* the person confirmed: the SO PIN may be tried although the token
         * reports its final try (C_InitToken checks it like C_Login) */
        JP11_INIT_CONFIRM_FINAL_TRY = 1 << 1,
} JP11InitFlags;

int jp11_token_init(JP11Module *m, CK_SLOT_ID slot, const JP11Pin *so_pin, const char *label,
                    const JP11Pin *user_pin, JP11InitFlags flags, JP11Error *error);
