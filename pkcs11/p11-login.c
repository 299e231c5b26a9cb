/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>

#include "p11-login.h"
#include "p11-private.h"

static const char *user_name(JP11UserType user) {
        switch (user) {
        case JP11_USER_SO:
                return "security officer PIN";
        case JP11_USER_CONTEXT:
                return "PIN for this key";
        default:
                return "user PIN";
        }
}

int jp11_login_precheck(const JP11PinState *state, JP11UserType user, size_t pin_len, bool have_pin,
                        JP11LoginFlags flags, JP11Error *error) {
        if (!state)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "no PIN state");
        if (user != JP11_USER_NORMAL && user != JP11_USER_SO && user != JP11_USER_CONTEXT)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "invalid user type %d", (int) user);

        /* The token info only carries the SO's locked flag; the user's
         * flags also govern context-specific logins, which use the user
         * PIN. A PIN pad consumes a try as well, so these come first. */
        if (user == JP11_USER_SO) {
                if (state->so_locked)
                        return jp11_error_set(error, -EPERM, JP11_ERR_PIN_LOCKED,
                                              "the security officer PIN is blocked; it was not tried");
                /* A blocked SO PIN can no longer reset the token or
                 * unblock the user PIN: just as careful as with the user's. */
                if (state->so_final_try && !(flags & JP11_LOGIN_CONFIRM_FINAL_TRY))
                        return jp11_error_set(error, -EAGAIN, JP11_ERR_PIN_FINAL_TRY,
                                              "one try left for the security officer PIN: a wrong one now blocks "
                                              "it, so it was not tried; confirm to try it");
        } else {
                if (state->locked)
                        return jp11_error_set(error, -EPERM, JP11_ERR_PIN_LOCKED,
                                              "the user PIN is blocked; it was not tried (it must be unblocked with "
                                              "the PUK or by the issuer)");
                if (state->final_try && !(flags & JP11_LOGIN_CONFIRM_FINAL_TRY))
                        return jp11_error_set(error, -EAGAIN, JP11_ERR_PIN_FINAL_TRY,
                                              "one try left: a wrong PIN now blocks the token, so the PIN was not "
                                              "tried; confirm to try it");
        }

        /* The reader asks for the PIN itself; whatever we hold is unused. */
        if (state->pinpad)
                return 0;

        if (!have_pin)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "no %s given", user_name(user));
        if (pin_len < state->min_len)
                return jp11_error_set(error, -ERANGE, JP11_ERR_PIN_LENGTH,
                                      "the %s is too short: this token needs at least %lu characters; it was "
                                      "not tried",
                                      user_name(user), state->min_len);
        /* A maximum of 0 (or below the minimum) is a token that does not
         * say: no upper bound then. */
        if (state->max_len >= state->min_len && state->max_len > 0 && pin_len > state->max_len)
                return jp11_error_set(error, -ERANGE, JP11_ERR_PIN_LENGTH,
                                      "the %s is too long: this token takes at most %lu characters; it was "
                                      "not tried",
                                      user_name(user), state->max_len);
        return 0;
}

int jp11_login(JP11Session *s, JP11UserType user, const JP11Pin *pin, JP11LoginFlags flags,
               JP11PinState *ret_state, JP11Error *error) {
        JP11TokenInfo before, after;
        CK_FUNCTION_LIST_PTR f;
        CK_RV rv;
        int r;

        if (!s)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "no session");
        f = jp11_session_functions(s);

        r = jp11_session_token_info(s, &before, error);
        if (r < 0)
                return r;
        if (ret_state)
                *ret_state = before.pin;

        r = jp11_login_precheck(&before.pin, user, jp11_pin_length(pin), pin != NULL, flags, error);
        if (r < 0)
                return r;

        /* Exactly one attempt, whatever it returns. */
        if (before.pin.pinpad)
                rv = f->C_Login(jp11_session_handle(s), (CK_USER_TYPE) user, NULL, 0);
        else
                rv = f->C_Login(jp11_session_handle(s), (CK_USER_TYPE) user,
                                (CK_UTF8CHAR_PTR) jp11_pin_bytes(pin), jp11_pin_length(pin));

        /* The state after the attempt is what the person needs to see
         * (tries left); if the token is gone, the one from before stands. */
        JP11PinState state = before.pin;
        if (jp11_session_token_info(s, &after, NULL) >= 0)
                state = after.pin;
        if (ret_state)
                *ret_state = state;

        if (rv == CKR_OK) {
                /* A context-specific login authorises one operation, not
                 * the session: there is nothing to log out of later. */
                if (user != JP11_USER_CONTEXT)
                        jp11_session_set_logged_in(s, true);
                return 0;
        }
        /* Logged in already (by this session or another one of this
         * process on the token): fine, but not ours to log out. */
        if (rv == CKR_USER_ALREADY_LOGGED_IN)
                return 0;

        r = jp11_error_from_rv(error, rv, "logging in");
        if (error && rv == CKR_PIN_INCORRECT) {
                /* Say what the token says now: no invented tries count. */
                const char *now = state.locked      ? "; the PIN is now blocked"
                                  : state.final_try ? "; one try left before the PIN is blocked"
                                  : state.count_low ? "; the token reports that tries are running low"
                                                    : "";
                jp11_error_set(error, r, JP11_ERR_PIN_INCORRECT, "wrong %s (CKR_PIN_INCORRECT)%s", user_name(user),
                               now);
                error->rv = rv;
        }
        return r;
}

int jp11_logout(JP11Session *s, JP11Error *error) {
        CK_RV rv;

        if (!s)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "no session");
        rv = jp11_session_functions(s)->C_Logout(jp11_session_handle(s));
        if (rv != CKR_OK && rv != CKR_USER_NOT_LOGGED_IN)
                return jp11_error_from_rv(error, rv, "logging out");
        jp11_session_set_logged_in(s, false);
        return 0;
}
