/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "call-error.h"
#include "jetonctl.h"

int log_call_error(const sd_bus_error *error, int r, const char *what) {
        int status;

        if (bus_error_is_unreachable(error, r) || !sd_bus_error_is_set(error))
                return log_bus_error(error, r, what);
        log_bus_error(error, r, what);
        status = error_name_exit_status(error->name);
        return status == EXIT_FAILURE ? (r < 0 ? r : -EIO) : status;
}
