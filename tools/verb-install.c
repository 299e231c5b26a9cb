/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* jetonctl install ORDER FILE: hand the CA's certificate to jetond, which
 * checks it against the order's key and writes it to the token, now if
 * the token is present (a job, followed here) or when it is inserted. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "call-error.h"
#include "job-run.h"
#include "jetonctl.h"
#include "orders.h"
#include "text.h"

int verb_install(Context *c, int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(bus_value_freep) BusValue *objects = NULL, *job = NULL, *order = NULL;
        _cleanup_free_ OrderView *orders = NULL;
        _cleanup_free_ char *job_path = NULL, *file = text_sanitize(argv[2]), *ref = NULL, *serial = NULL;
        const OrderView *o;
        int fd, pin_fd = -1, r, status;

        /* Installing may need a login, hence a PIN. */
        (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

        r = order_get(c->bus, argv[1], &objects, &orders, &o);
        if (r != 0)
                return r;

        fd = open(argv[2], O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_errorf(-errno, "Failed to open %s: %m", file ?: "?");
        r = pin_source_open(c, &pin_fd);
        if (r != 0) {
                close(fd);
                return r;
        }

        r = jetond_call_new(c->bus, o->path, JETON_ORDER_IFACE, "Install", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "ha{sv}", fd, 0);
        close(fd);
        if (r < 0) {
                if (pin_fd >= 0)
                        close(pin_fd);
                return log_errorf(r, "Failed to build the call: %m");
        }

        status = job_run(c, m, pin_fd, "installation", &job_path, &job);
        if (status != 0 && !job_path)
                return status;
        r = order_get_properties(c, o->path, &order);
        if (r != 0)
                return status != 0 ? status : r;

        if (c->json != JSON_OFF) {
                r = job_write_json(c, o->path, order, job_path, job);
                return status != 0 ? status : r;
        }
        if (status != 0)
                return status;

        ref = text_sanitize(bus_value_get_string(order, "Reference"));
        serial = text_sanitize(bus_value_get_string(order, "TokenSerial"));
        if (job_path)
                printf("Certificate of order %s written to token %s.\n", ref ?: "?", serial && *serial ? serial : "-");
        else
                printf("Certificate of order %s accepted and stored; it is written to token %s when the token "
                       "is inserted.\n", ref ?: "?", serial && *serial ? serial : "-");
        return 0;
}
