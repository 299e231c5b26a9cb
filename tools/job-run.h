/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Runs a method of jetond that starts a job (Order.Provision,
 * Order.Install) and follows the job to its end: progress on standard
 * error (a bar on a terminal, a line per change otherwise), a PIN agent
 * registered for the while, Ctrl+C asking jetond to cancel the job. */

#include <systemd/sd-bus.h>

#include "bus-value.h"
#include "jetonctl.h"

/* call returns (o job), or "/" when no job started; pin_fd (owned) is
 * the PIN source, -1 for the terminal. Returns 0 when the
 * job is done or none started (*ret_job_path NULL then); else the exit
 * status or negative errno, already reported. *ret_job gets the job's
 * last properties when there was a job, done or not. */
int job_run(Context *c, sd_bus_message *call, int pin_fd, const char *what, char **ret_job_path, BusValue **ret_job);

/* Opens the PIN source the options name: --pin-fd (checked open), or
 * --pin-file (refused when its group or other users may read or write it,
 * or someone else owns it); -1 in *ret_fd for the terminal. Returns 0 or
 * EXIT_PIN, reported. */
int pin_source_open(const Context *c, int *ret_fd);

/* Opens path, a file holding a PIN, for reading, with the checks of
 * --pin-file above; what names it in messages ("SO PIN file"). Returns 0
 * or EXIT_PIN, reported. */
int pin_file_open(const char *path, const char *what, int *ret_fd);

/* The order's properties now (GetAll), into *ret; reported on failure. */
int order_get_properties(Context *c, const char *order_path, BusValue **ret);

/* {"order": {"path", properties...}, "job": {"path", properties...} or
 * null} on standard output. */
int job_write_json(Context *c, const char *order_path, const BusValue *order, const char *job_path,
                   const BusValue *job);
