/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Internal to the token library: state shared between its files that
 * callers must not touch. */

#include <stdbool.h>

#include "p11-module.h"

/* Recorded by jp11_login()/jp11_logout() so that jp11_session_close() logs
 * out exactly when this session logged in. */
void jp11_session_set_logged_in(JP11Session *s, bool logged_in);

/* Brackets a module-level call made outside a session (C_InitToken) so
 * that jp11_module_rescan() does not finalize the module under it. */
void jp11_module_call_begin(JP11Module *m);
void jp11_module_call_end(JP11Module *m);

/* Every object matching the template (C_FindObjectsInit/Final always
 * paired). *ret is malloc'd (may be NULL when *ret_n is 0). */
int jp11_find_objects(JP11Session *s, CK_ATTRIBUTE *tmpl, CK_ULONG n_tmpl, CK_OBJECT_HANDLE **ret,
                      size_t *ret_n, JP11Error *error);
