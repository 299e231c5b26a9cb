/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* "Name: value" lines of the show verbs (show, order show): aligned
 * names, sanitised values, and entries this version does not know
 * printed as JSON so nothing the daemon says is hidden. */

#include <stdbool.h>

#include "bus-value.h"

bool name_in(const char *name, const char *const *names);

/* v as short JSON, made safe for a terminal, and a newline. */
void print_json_value(const BusValue *v);

void field_begin(int indent, int width, const char *name);

/* One value per line needs no quotes; an empty one shows as "-". */
void field_string(int indent, int width, const char *name, const char *value);

/* The time (microseconds since the epoch, UTC) under key in props, "-"
 * for 0; nothing when props has no such number. */
void field_time(int indent, int width, const char *name, const BusValue *props, const char *key);

/* Entries of a dictionary that the caller did not print, generically. */
void print_unknown_entries(const BusValue *dict, const char *const *known, int indent, int width);
