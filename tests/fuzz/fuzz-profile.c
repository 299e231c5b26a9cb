/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Profile files: the INI reader, every value parser, the template checks;
 * a profile that loads is also rendered against a full order. */

#include <string.h>

#include "fuzz.h"
#include "openssl-util.h"
#include "profile.h"

static Order order = {
        .reference = (char *) "BD1734971738",
        .ca = (char *) "Certigna",
        .product = (char *) "Pack ID RGS**",
        .profile = (char *) "fuzz",
        .validity_years = 1,
        .holder = {
                .given_name = (char *) "Marie",
                .surname = (char *) "Dupont",
                .email = (char *) "marie.dupont@example.fr",
                .identifier = (char *) "IDCFR-12345",
        },
        .organisation = {
                .name = (char *) "ACME Sécurité",
                .siren = (char *) "732829320",
                .siret = (char *) "73282932000074",
                .vat = (char *) "FR44732829320",
        },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(profile_freep) Profile *p = NULL;
        _cleanup_(X509_NAME_freep) X509_NAME *name = NULL;
        _cleanup_free_ char *error = NULL, *years = NULL;
        JP11CsrSpec spec;

        if (profile_parse((const char *) data, size, "/fuzz/fuzz.profile", &p, &error) < 0)
                return 0;

        for (OrderField f = 0; f < _ORDER_FIELD_MAX; f++)
                (void) profile_field_use(p, f);
        years = profile_allowed_years_to_string(p);
        (void) profile_csr_spec(p, &order, &name, &spec, &error);
        return 0;
}
