/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "p11-init.h"
#include "p11-login.h"
#include "p11-private.h"

static int count_objects(JP11Session *s, const CK_OBJECT_CLASS *cls, size_t *ret, JP11Error *error) {
        _cleanup_free_ CK_OBJECT_HANDLE *handles = NULL;
        CK_OBJECT_CLASS c = cls ? *cls : 0;
        CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &c, sizeof c } };

        return jp11_find_objects(s, tmpl, cls ? 1 : 0, &handles, ret, error);
}

/* Would initialising destroy a key? Without the user PIN we cannot see
 * private objects (CKA_PRIVATE true, which is how keys are generated), so
 * a logged-out look is only a lower bound. The rule errs on the side of
 * refusing:
 *   - a visible private key: refuse;
 *   - a visible public key or certificate: refuse, its private key is
 *     almost certainly there, hidden;
 *   - the user PIN is initialised and any object at all is visible: refuse,
 *     the token has been used and may hide keys.
 * What the rule cannot see: a token whose every object is private (no
 * public key, no certificate, nothing else). Erasing such a token takes
 * JP11_INIT_FORCE like any other, but is not caught without it. */
static int check_no_keys(JP11Module *m, CK_SLOT_ID slot, const JP11TokenInfo *token, JP11Error *error) {
        _cleanup_(jp11_session_closep) JP11Session *s = NULL;
        const CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY, pub = CKO_PUBLIC_KEY, cert = CKO_CERTIFICATE;
        size_t n_priv = 0, n_pub = 0, n_cert = 0, n_all = 0;
        int r;

        r = jp11_session_open(m, slot, false, &s, error);
        if (r < 0)
                return r;
        r = count_objects(s, &priv, &n_priv, error);
        if (r < 0)
                return r;
        if (n_priv > 0)
                return jp11_error_set(error, -EEXIST, JP11_ERR_EXISTS,
                                      "the token \"%s\" holds %zu private key(s): initialising it would destroy "
                                      "them (force to erase it)",
                                      token->label, n_priv);
        r = count_objects(s, &pub, &n_pub, error);
        if (r < 0)
                return r;
        r = count_objects(s, &cert, &n_cert, error);
        if (r < 0)
                return r;
        if (n_pub + n_cert > 0)
                return jp11_error_set(error, -EEXIST, JP11_ERR_EXISTS,
                                      "the token \"%s\" holds %zu public key(s) and %zu certificate(s), so its "
                                      "private keys are probably there, hidden until login: initialising it "
                                      "would destroy them (force to erase it)",
                                      token->label, n_pub, n_cert);
        if (token->pin.initialized) {
                r = count_objects(s, NULL, &n_all, error);
                if (r < 0)
                        return r;
                if (n_all > 0)
                        return jp11_error_set(error, -EEXIST, JP11_ERR_EXISTS,
                                              "the token \"%s\" has a user PIN and holds %zu object(s); it may hide "
                                              "private keys until login: initialising it would destroy them "
                                              "(force to erase it)",
                                              token->label, n_all);
        }
        return 0;
}

static int check_pin_length(const JP11TokenInfo *token, const JP11Pin *pin, const char *what, JP11Error *error) {
        size_t len = jp11_pin_length(pin);

        if (!pin)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "no %s given", what);
        if (len < token->pin.min_len)
                return jp11_error_set(error, -ERANGE, JP11_ERR_PIN_LENGTH,
                                      "the %s is too short: this token needs at least %lu characters; the token "
                                      "was not changed",
                                      what, token->pin.min_len);
        if (token->pin.max_len > 0 && token->pin.max_len >= token->pin.min_len && len > token->pin.max_len)
                return jp11_error_set(error, -ERANGE, JP11_ERR_PIN_LENGTH,
                                      "the %s is too long: this token takes at most %lu characters; the token "
                                      "was not changed",
                                      what, token->pin.max_len);
        return 0;
}

static int set_user_pin(JP11Module *m, CK_SLOT_ID slot, bool pinpad, const JP11Pin *so_pin,
                        const JP11Pin *user_pin, JP11LoginFlags login_flags, JP11Error *error) {
        _cleanup_(jp11_session_closep) JP11Session *s = NULL;
        CK_RV rv;
        int r;

        r = jp11_session_open(m, slot, true, &s, error);
        if (r < 0)
                return r;
        r = jp11_login(s, JP11_USER_SO, so_pin, login_flags, NULL, error);
        if (r < 0)
                return r;
        if (pinpad)
                rv = jp11_session_functions(s)->C_InitPIN(jp11_session_handle(s), NULL, 0);
        else
                rv = jp11_session_functions(s)->C_InitPIN(jp11_session_handle(s),
                                                          (CK_UTF8CHAR_PTR) jp11_pin_bytes(user_pin),
                                                          jp11_pin_length(user_pin));
        if (rv != CKR_OK)
                return jp11_error_from_rv(error, rv, "setting the user PIN");
        return 0;
}

static int token_init(JP11Module *m, CK_SLOT_ID slot, const JP11Pin *so_pin, const char *label,
                      const JP11Pin *user_pin, JP11InitFlags flags, JP11Error *error) {
        JP11LoginFlags login_flags = (flags & JP11_INIT_CONFIRM_FINAL_TRY) ? JP11_LOGIN_CONFIRM_FINAL_TRY : 0;
        CK_UTF8CHAR padded[32];
        JP11Slot info;
        bool pinpad;
        CK_RV rv;
        int r;

        if (!m || !label)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "invalid arguments");
        if (strlen(label) > sizeof padded)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID,
                                      "the label \"%s\" is longer than %zu bytes", label, sizeof padded);

        r = jp11_module_get_slot(m, slot, &info, error);
        if (r < 0)
                return r;
        if (!info.token_present)
                return jp11_error_set(error, -ENOMEDIUM, JP11_ERR_NO_TOKEN, "no token in the slot \"%s\"",
                                      info.description);
        if (info.token.write_protected)
                return jp11_error_set(error, -EROFS, JP11_ERR_READ_ONLY, "the token \"%s\" is write-protected",
                                      info.token.label);

        /* Everything that can be checked is checked before C_InitToken:
         * after it, the old content is gone. */
        pinpad = info.token.pin.pinpad;
        if (!pinpad) {
                r = check_pin_length(&info.token, so_pin, "security officer PIN", error);
                if (r < 0)
                        return r;
                r = check_pin_length(&info.token, user_pin, "user PIN", error);
                if (r < 0)
                        return r;
        }
        /* C_InitToken checks the SO PIN of an initialised token, and a
         * wrong one costs a try as with C_Login: same rules (blocked, final
         * try, and for a PIN pad the length does not apply). */
        if (info.token.initialized) {
                r = jp11_login_precheck(&info.token.pin, JP11_USER_SO, jp11_pin_length(so_pin), so_pin != NULL,
                                        login_flags, error);
                if (r < 0)
                        return r;
        }
        if (info.token.initialized && !(flags & JP11_INIT_FORCE)) {
                r = check_no_keys(m, slot, &info.token, error);
                if (r < 0)
                        return r;
        }

        memset(padded, ' ', sizeof padded);
        memcpy(padded, label, strlen(label));

        jp11_module_call_begin(m);
        if (pinpad)
                rv = jp11_module_functions(m)->C_InitToken(slot, NULL, 0, padded);
        else
                rv = jp11_module_functions(m)->C_InitToken(slot, (CK_UTF8CHAR_PTR) jp11_pin_bytes(so_pin),
                                                           jp11_pin_length(so_pin), padded);
        jp11_module_call_end(m);
        if (rv != CKR_OK)
                return jp11_error_from_rv(error, rv, "initialising the token");

        r = set_user_pin(m, slot, pinpad, so_pin, user_pin, login_flags, error);
        if (r < 0 && error) {
                size_t n = strlen(error->message);
                snprintf(error->message + n, sizeof error->message - n,
                         " (the token was initialised but has no user PIN yet: initialise it again)");
        }
        return r;
}

int jp11_token_init(JP11Module *m, CK_SLOT_ID slot, const JP11Pin *so_pin, const char *label,
                    const JP11Pin *user_pin, JP11InitFlags flags, JP11Error *error) {
        int r;

        if (!m || !label)
                return jp11_error_set(error, -EINVAL, JP11_ERR_INVALID, "invalid arguments");
        /* C_InitToken and the SO login are refused while another session is
         * open on the token, such as a scan's look at it from another
         * thread: have the slot to ourselves meanwhile. */
        r = jp11_slot_claim(m, slot, error);
        if (r < 0)
                return r;
        r = token_init(m, slot, so_pin, label, user_pin, flags, error);
        jp11_slot_unclaim(m, slot);
        return r;
}
