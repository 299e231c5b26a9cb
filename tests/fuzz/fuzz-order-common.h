/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The order importers are fuzzed with a profile set, so that the
 * profile-driven checks run too: one profile that uses every field. */

#include <stdlib.h>
#include <string.h>

#include "order-import.h"

static const char fuzz_profile_text[] =
        "[profile]\nca = Fuzz CA\nproduct = Fuzz\n"
        "[key]\nalgorithm = p256\nhash = sha256\n"
        "[subject]\nC = FR\nO = ${organisation.name}\nOU = 0002 ${organisation.siret}\n"
        "organizationIdentifier = NTRFR-${organisation.siren}\nCN = ${holder.given_name} ${holder.surname}\n"
        "GN = ${holder.given_name}\nSN = ${holder.surname}\nserialNumber? = ${holder.identifier}\n"
        "emailAddress? = ${holder.email}\nL? = ${organisation.vat}\n"
        "[extensions]\nsubject_alt_email = no\n"
        "[validity]\nallowed_years = 1, 3\n";

static const ProfileSet *fuzz_profiles(void) {
        static ProfileSet set;
        static Profile *one;

        if (!one) {
                if (profile_parse(fuzz_profile_text, strlen(fuzz_profile_text), "p.profile", &one, NULL) < 0)
                        abort();
                set = (ProfileSet) { .profiles = &one, .n_profiles = 1 };
        }
        return &set;
}

static void fuzz_import(OrderImportFormat format, const uint8_t *data, size_t size) {
        Order **orders = NULL;
        char **errors = NULL;
        size_t n = 0;

        if (order_import(format, (const char *) data, size, fuzz_profiles(), &orders, &n, &errors) >= 0)
                order_array_free(orders, n);
        for (char **e = errors; e && *e; e++)
                free(*e);
        free(errors);
}
