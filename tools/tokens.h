/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The daemon's tokens as jetonctl sees them: one GetManagedObjects call,
 * read into a BusValue tree, and views onto its Token objects. */

#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "bus-value.h"
#include "token-match.h"

typedef struct Token {
        const char *path;       /* borrowed from the objects tree */
        const BusValue *props;  /* the org.jeton.Jeton1.Token properties */
} Token;

/* All managed objects: an OBJECT of path -> (interface -> properties).
 * On failure the reason is logged and the verb's return value returned
 * (see jetonctl.h). */
int daemon_get_objects(sd_bus *bus, BusValue **ret);

/* The Token objects in objects, sorted by reader name, then path; the
 * array (free() it) borrows from objects. */
int tokens_from_objects(const BusValue *objects, Token **ret, size_t *ret_n);

/* Both of the above: the tokens of a new GetManagedObjects reply,
 * borrowing from *ret_objects (set, to be freed, once the call is read).
 * On failure reported, and the verb's return value returned. */
int tokens_get(sd_bus *bus, BusValue **ret_objects, Token **ret, size_t *ret_n);

TokenIdentity token_identity(const Token *t);

/* Checks spec before anything is asked of the daemon: warns about a PIN
 * in a URI; reports a malformed one and returns EXIT_USAGE; else 0. */
int token_spec_check(const char *spec);

/* Finds the one token spec (checked by token_spec_check()) names
 * (token-match.h); reports none or several and returns EXIT_NO_TOKEN. */
int token_find(const Token *tokens, size_t n, const char *spec, const Token **ret);

/* Number of certificates in props, and the earliest not-after among them
 * (0 when none). */
size_t token_certificates(const BusValue *props, uint64_t *ret_nearest_not_after);

/* "Manufacturer/Model", or whichever is known, or "-"; free() it. NULL on OOM. */
char *token_model(const BusValue *props);

/* The token as one JSON object: "path", then every property under its
 * D-Bus name, as the daemon sent it. */
void token_write_json(const Token *t, JsonWriter *w);
