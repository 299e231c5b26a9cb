/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* jetonctl audit verify: jetond recomputes the hash chain of its audit
 * log; a record missing, changed or out of place breaks it. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "call-error.h"
#include "jetonctl.h"
#include "text.h"

int verb_audit_check(const Context *c, int argc, char **argv) {
        if (!streq(argv[1], "verify")) {
                _cleanup_free_ char *shown = text_sanitize(argv[1]);

                log_errorf(-EINVAL, "Unknown command 'audit %s'; see 'jetonctl --help'.", shown ?: "?");
                return EXIT_USAGE;
        }
        return 0;
}

int verb_audit(Context *c, int argc, char **argv) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *safe = NULL;
        const char *message;
        uint64_t id;
        int intact, r;

        r = sd_bus_call_method(c->bus, JETON_BUS_NAME, JETON_ROOT_PATH, JETON_MANAGER_IFACE, "VerifyAudit", &error,
                               &reply, NULL);
        if (r < 0)
                return log_call_error(&error, r, "Failed to verify the audit log");
        r = sd_bus_message_read(reply, "bts", &intact, &id, &message);
        if (r < 0)
                return log_errorf(r, "Unexpected reply from jetond: %m");
        safe = text_sanitize(message);

        if (intact) {
                /* jetond says how many records and the last hash; its
                 * first_bad_id is 0 then. */
                puts("audit log intact");
                if (safe && *safe)
                        printf("  %s\n", safe);
                return 0;
        }
        printf("audit log broken at record %" PRIu64 ": %s\n", id, safe && *safe ? safe : "no detail");
        return -EBADMSG;
}
