/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A profile: what one CA product wants on the token and in the request
 * (design.md "Profile"). One INI file per product, parsed with libinih:
 *
 *   [profile]     name (optional, must equal the file name), description,
 *                 ca, product (both required)
 *   [key]         algorithm = rsa2048|rsa3072|rsa4096|p256|p384 (RSA < 2048 refused)
 *                 hash = sha256|sha384|sha512 (SHA-1 refused)
 *   [subject]     one line per RDN, in order: ATTR = template, where the
 *                 template mixes text and ${field} placeholders naming
 *                 order fields (order.h: holder.given_name, organisation.siret,
 *                 ...; "$$" is a literal "$"). "ATTR? = ..." marks an
 *                 optional RDN, left out when one of its placeholders is
 *                 empty. Exactly one C and one CN, neither optional.
 *   [extensions]  key_usage = [critical,] nonRepudiation[, ...]
 *                 extended_key_usage = OIDs or names, comma-separated
 *                 certificate_policies = dotted OIDs, comma-separated
 *                 subject_alt_email = bool (holder.email as rfc822Name)
 *   [evidence]    require_local, require_never_extractable,
 *                 require_always_sensitive = bool (default true)
 *   [validity]    allowed_years = 1,2,3 (default; each 1..3)
 *
 * Errors are "path:line: message", line 0 when the file as a whole is at
 * fault. Every problem of a file is reported, not just the first. */

#include <stdbool.h>
#include <stddef.h>

#include <openssl/x509.h>

#include "csr.h"
#include "macro.h"
#include "order.h"
#include "p11-keygen.h"
#include "subject.h"

#define PROFILE_SUFFIX ".profile"

typedef struct ProfileSubjectLine {
        JP11Attr attr;
        char *template;         /* as written, placeholders unexpanded */
        bool optional;          /* "ATTR? =" */
        unsigned line;
        unsigned fields;        /* bit mask of the OrderFields it uses */
} ProfileSubjectLine;

typedef struct Profile {
        char *name;             /* the file name without PROFILE_SUFFIX */
        char *path;
        char *description;
        char *ca;
        char *product;

        char *key_algorithm;    /* as written, e.g. "rsa3072" */
        JP11KeySpec key;
        JP11Hash hash;

        ProfileSubjectLine *subject;
        size_t n_subject;

        unsigned key_usage;     /* JP11KeyUsage bits, 0: no extension */
        bool key_usage_critical;
        char **extended_key_usage;      /* NULL-terminated, or NULL */
        char **certificate_policies;    /* NULL-terminated dotted OIDs, or NULL */
        bool subject_alt_email;

        bool require_local;
        bool require_never_extractable;
        bool require_always_sensitive;

        unsigned allowed_years; /* bit n set: a validity of n years is allowed */
} Profile;

Profile *profile_free(Profile *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(Profile *, profile_free);

/* Parses len bytes of data. path names the profile (its base name without
 * PROFILE_SUFFIX) and prefixes the messages. On -EINVAL *ret_error (may
 * be NULL) receives every problem, one "path:line: message" per line. */
int profile_parse(const char *data, size_t len, const char *path, Profile **ret, char **ret_error);
int profile_load(const char *path, Profile **ret, char **ret_error);

typedef enum ProfileFieldUse {
        PROFILE_FIELD_UNUSED,
        PROFILE_FIELD_OPTIONAL,         /* only in optional RDNs */
        PROFILE_FIELD_REQUIRED,
} ProfileFieldUse;

/* How the profile uses an order field: an order lacking a required one
 * cannot be rendered (order-validate.h checks this up front). */
ProfileFieldUse profile_field_use(const Profile *p, OrderField f);
bool profile_allows_years(const Profile *p, unsigned years);
/* "1, 2 or 3" (malloc'd), for messages. */
char *profile_allowed_years_to_string(const Profile *p);

/* Expands subject line i with the order's values into *ret_value
 * (malloc'd). When a field it names is empty, *ret_value is NULL and
 * *ret_missing names the field (else _ORDER_FIELD_INVALID). */
int profile_subject_line_expand(const Profile *p, size_t i, const Order *o, char **ret_value,
                                OrderField *ret_missing, char **ret_error);

/* The subject of the order's request, RDN by RDN in the profile's order,
 * encoded by jp11_subject_append(). */
int profile_render_subject(const Profile *p, const Order *o, X509_NAME **ret, char **ret_error);

/* Everything jp11_csr_create() needs from the profile and the order.
 * *ret_subject receives the rendered subject, owned by the caller, which
 * ret_spec->subject points to; the other pointers of *ret_spec point into
 * p and o, which must outlive it. context_pin is left NULL. */
int profile_csr_spec(const Profile *p, const Order *o, X509_NAME **ret_subject, JP11CsrSpec *ret_spec,
                     char **ret_error);

/* All profiles of a set of directories. */
typedef struct ProfileSet {
        Profile **profiles;     /* sorted by name */
        size_t n_profiles;
} ProfileSet;

ProfileSet *profile_set_free(ProfileSet *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(ProfileSet *, profile_set_free);

/* /etc/jeton/profiles, then the shipped profiles under the data directory. */
const char *const *profile_default_dirs(void);

/* Loads every "*.profile" of dirs (NULL-terminated, highest priority
 * first): a name found in an earlier directory hides the same name in later
 * ones, even when the earlier file is broken (an administrator's override
 * never silently falls back to the shipped file) or a symlink to /dev/null
 * (masked). A missing directory is no error. A broken file is left out and
 * its messages are appended to *ret_errors (a strv, may be NULL); the
 * others load. Returns 0, or a negative errno only when out of memory. */
int profile_set_load(const char *const *dirs, ProfileSet **ret, char ***ret_errors);
const Profile *profile_set_find(const ProfileSet *s, const char *name);
