/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* --bus-introspect: the introspection XML of jetond's own interfaces,
 * written from the very vtables the daemon serves, in the format sd-bus
 * uses, so the documented XML in the tree (daemon/org.jeton.Jeton1.xml)
 * can be checked against the binary and cannot drift. */

#include <stdio.h>

int bus_introspect_print(FILE *f);
