/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Loading PKCS#11 modules, listing slots and tokens, opening sessions.
 *
 * Threading: a module is initialised with CKF_OS_LOCKING_OK, so sessions on
 * different slots may be used from different threads at once (one session
 * per thread). jp11_module_rescan() may finalize and re-initialise the
 * module (SoftHSM only sees tokens created by another process after that);
 * it waits until no session of this module is open, and blocks new sessions
 * while it runs, so it never breaks work in progress. A thread must close
 * the sessions it opened before it rescans (-EDEADLK otherwise). */

#include <stdbool.h>
#include <stddef.h>

#include <p11-kit/pkcs11.h>

#include "macro.h"
#include "p11-error.h"

typedef struct JP11Module JP11Module;
typedef struct JP11Session JP11Session;

/* PIN state as the token reports it in CK_TOKEN_INFO.flags. Tokens may
 * leave the warning flags false even after a wrong PIN. */
typedef struct JP11PinState {
        bool initialized;       /* CKF_USER_PIN_INITIALIZED */
        bool count_low;         /* CKF_USER_PIN_COUNT_LOW */
        bool final_try;         /* CKF_USER_PIN_FINAL_TRY */
        bool locked;            /* CKF_USER_PIN_LOCKED */
        bool to_be_changed;     /* CKF_USER_PIN_TO_BE_CHANGED */
        bool pinpad;            /* CKF_PROTECTED_AUTHENTICATION_PATH */
        bool so_locked;         /* CKF_SO_PIN_LOCKED */
        unsigned long min_len;  /* ulMinPinLen */
        unsigned long max_len;  /* ulMaxPinLen */
        bool so_final_try;      /* CKF_SO_PIN_FINAL_TRY */
} JP11PinState;

typedef struct JP11TokenInfo {
        char label[33];         /* blank-padded fields trimmed, NUL-terminated */
        char manufacturer[33];
        char model[17];
        char serial[17];
        unsigned long flags;    /* raw CK_TOKEN_INFO.flags */
        bool initialized;       /* CKF_TOKEN_INITIALIZED */
        bool write_protected;   /* CKF_WRITE_PROTECTED */
        bool rng;               /* CKF_RNG */
        bool login_required;    /* CKF_LOGIN_REQUIRED */
        JP11PinState pin;
} JP11TokenInfo;

typedef struct JP11Slot {
        CK_SLOT_ID id;
        char description[65];   /* OpenSC: the PC/SC reader name */
        char manufacturer[33];
        bool token_present;
        bool removable;
        bool hardware;
        JP11TokenInfo token;    /* valid only when token_present */
} JP11Slot;

typedef struct JP11ModuleInfo {
        char manufacturer[33];
        char description[33];
        unsigned major, minor;          /* library version */
        unsigned cryptoki_major, cryptoki_minor;
} JP11ModuleInfo;

/* Loads the module at path (dlopen), calls C_GetFunctionList and
 * C_Initialize with CKF_OS_LOCKING_OK. A module already initialised in
 * this process (CKR_CRYPTOKI_ALREADY_INITIALIZED) is accepted and then
 * never finalized by us. */
int jp11_module_load(const char *path, JP11Module **ret, JP11Error *error);
/* Finalizes (when we initialised it) and unloads. Accepts NULL. All
 * sessions must have been closed. */
JP11Module *jp11_module_unload(JP11Module *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(JP11Module *, jp11_module_unload);

const char *jp11_module_path(const JP11Module *m);
const JP11ModuleInfo *jp11_module_info(const JP11Module *m);
CK_FUNCTION_LIST_PTR jp11_module_functions(const JP11Module *m);

/* Lists every slot (with or without a token). *ret is a malloc'd array the
 * caller frees with free(). */
int jp11_module_list_slots(JP11Module *m, JP11Slot **ret, size_t *ret_n, JP11Error *error);
/* Re-reads one slot. */
int jp11_module_get_slot(JP11Module *m, CK_SLOT_ID id, JP11Slot *ret, JP11Error *error);
/* Finds the slot whose token has this serial (and, when not NULL, this
 * manufacturer). -ENXIO / JP11_ERR_NOT_FOUND when absent. */
int jp11_module_find_token(JP11Module *m, const char *serial, const char *manufacturer,
                           JP11Slot *ret, JP11Error *error);

/* Makes tokens created since the last scan visible. For modules that do
 * not report new tokens (SoftHSM) this finalizes and re-initialises; it
 * waits for open sessions to close first. */
int jp11_module_rescan(JP11Module *m, JP11Error *error);
/* The same, but only when it need not wait: no session of the module open,
 * no module-level call in flight, no other rescan pending. Returns 1 when
 * it rescanned, 0 when it did nothing because the module is in use (a scan
 * then lists the slots as they are: modules that track tokens themselves,
 * OpenSC, show a card inserted meanwhile without it). */
int jp11_module_rescan_if_idle(JP11Module *m, JP11Error *error);

/* Sessions. rw = read-write (needed for keygen, object creation). */
int jp11_session_open(JP11Module *m, CK_SLOT_ID slot, bool rw, JP11Session **ret, JP11Error *error);

/* Has the slot to the calling thread alone, for what PKCS#11 refuses while
 * another session is open on the token (C_InitToken: CKR_SESSION_EXISTS; an
 * SO login: CKR_SESSION_READ_ONLY_EXISTS). Waits until the other threads'
 * sessions on it are closed; their new ones wait until jp11_slot_unclaim().
 * The caller's own sessions are not affected. Sessions of other processes
 * are not seen: the module still refuses then. */
int jp11_slot_claim(JP11Module *m, CK_SLOT_ID slot, JP11Error *error);
void jp11_slot_unclaim(JP11Module *m, CK_SLOT_ID slot);
JP11Session *jp11_session_close(JP11Session *s); /* logs out if we logged in; accepts NULL */
DEFINE_TRIVIAL_CLEANUP_FUNC(JP11Session *, jp11_session_close);

CK_SESSION_HANDLE jp11_session_handle(const JP11Session *s);
CK_SLOT_ID jp11_session_slot(const JP11Session *s);
JP11Module *jp11_session_module(const JP11Session *s);
CK_FUNCTION_LIST_PTR jp11_session_functions(const JP11Session *s);
bool jp11_session_logged_in(const JP11Session *s);

/* Fresh token info for the session's slot (read before every login). */
int jp11_session_token_info(JP11Session *s, JP11TokenInfo *ret, JP11Error *error);

/* Trims blank padding of a fixed-size PKCS#11 UTF-8 field into out
 * (out_size >= len + 1). Exposed for unit tests. */
void jp11_copy_padded(char *out, size_t out_size, const unsigned char *field, size_t len);
void jp11_pin_state_from_flags(CK_FLAGS flags, CK_ULONG min_len, CK_ULONG max_len, JP11PinState *ret);
