/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* org.jeton.Jeton1.Token: one object per present token under
 * /org/jeton/Jeton1/token/, served by a fallback vtable, an object-find
 * callback and a node enumerator over the registry. */

#include <systemd/sd-bus.h>

#include "manager.h"

extern const sd_bus_vtable token_vtable[];

int bus_token_setup(Manager *m);

/* JETON_TOKEN_PREFIX "/" sd_bus_path_encode(id). */
int bus_token_path(const char *id, char **ret);

/* InterfacesAdded / InterfacesRemoved / PropertiesChanged; failures to
 * send are logged, never fatal. */
void bus_token_emit_added(Token *t);
void bus_token_emit_removed(Token *t);
void bus_token_emit_changed(Token *t, char **properties);
