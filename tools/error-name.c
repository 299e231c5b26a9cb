/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The pure half of call-error.h: no bus, no output, unit tested. */

#include <stdlib.h>
#include <string.h>

#include "call-error.h"
#include "jetonctl.h"

const char *error_name_short(const char *name) {
        if (name && strncmp(name, JETON_ERROR_PREFIX, strlen(JETON_ERROR_PREFIX)) == 0)
                return name + strlen(JETON_ERROR_PREFIX);
        return name;
}

int error_name_exit_status(const char *name) {
        const char *s = error_name_short(name);

        if (!s)
                return EXIT_FAILURE;
        /* Only jetond's own names in their short form: "PinX" of another
         * service means nothing here. */
        if (s == name && strchr(name, '.')) {
                if (streq(name, "org.freedesktop.DBus.Error.AccessDenied") ||
                    streq(name, "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"))
                        return EXIT_PERMISSION;
                return EXIT_FAILURE;
        }
        if (streq(s, "NotFound"))
                return EXIT_NO_TOKEN;
        if (streq(s, "PermissionDenied"))
                return EXIT_PERMISSION;
        if (strncmp(s, "Pin", 3) == 0 || streq(s, "NoAgent"))
                return EXIT_PIN;
        return EXIT_FAILURE;
}
