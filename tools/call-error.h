/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* From jetond's named errors to jetonctl's exit statuses (jetonctl.h,
 * jetonctl(1)). */

#include <systemd/sd-bus.h>

#define JETON_ERROR_PREFIX "org.jeton.Jeton1.Error."

/* The exit status for an error name, full ("org.jeton.Jeton1.Error.
 * PinIncorrect") or short ("PinIncorrect", as a Job's Result may give
 * it): EXIT_NO_TOKEN for NotFound, EXIT_PERMISSION for PermissionDenied
 * and the bus's AccessDenied, EXIT_PIN for Pin* and NoAgent, else
 * EXIT_FAILURE. Pure. */
int error_name_exit_status(const char *name);

/* The short name of a jetond error ("PinIncorrect"), else name itself. */
const char *error_name_short(const char *name);

/* Reports a failed call, as log_bus_error() does, and returns the exit
 * status its error maps to (a negative errno for EXIT_FAILURE). */
int log_call_error(const sd_bus_error *error, int r, const char *what);
