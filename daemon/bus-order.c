/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include "authorize.h"
#include "bus-error.h"
#include "bus-order.h"
#include "job.h"
#include "log.h"
#include "order-import.h"
#include "order-validate.h"
#include "profiles.h"
#include "util.h"

/* ImportOrders reads at most this much from the caller's descriptor. */
#define IMPORT_SIZE_MAX (16u * 1024u * 1024u)

int bus_order_path(const char *reference, char **ret) {
        return sd_bus_path_encode(JETON_ORDER_PREFIX, reference, ret);
}

/* ---- properties ----------------------------------------------------------- */

/* The text properties and the dictionary keys of AddOrder, with the order
 * field each one is. */
static const struct {
        const char *property;
        const char *key;
        OrderField field;
} text_fields[] = {
        { "Reference",    "reference",    ORDER_FIELD_REFERENCE },
        { "Ca",           "ca",           ORDER_FIELD_CA },
        { "Product",      "product",      ORDER_FIELD_PRODUCT },
        { "Profile",      "profile",      ORDER_FIELD_PROFILE },
        { "GivenName",    "given-name",   ORDER_FIELD_HOLDER_GIVEN_NAME },
        { "Surname",      "surname",      ORDER_FIELD_HOLDER_SURNAME },
        { "Email",        "email",        ORDER_FIELD_HOLDER_EMAIL },
        { "Identifier",   "identifier",   ORDER_FIELD_HOLDER_IDENTIFIER },
        { "Organisation", "organisation", ORDER_FIELD_ORGANISATION_NAME },
        { "Siren",        "siren",        ORDER_FIELD_ORGANISATION_SIREN },
        { "Siret",        "siret",        ORDER_FIELD_ORGANISATION_SIRET },
        { "Vat",          "vat",          ORDER_FIELD_ORGANISATION_VAT },
};

#define VALIDITY_YEARS_KEY "validity-years"

static const char *field_key(OrderField f) {
        if (f == ORDER_FIELD_VALIDITY_YEARS)
                return VALIDITY_YEARS_KEY;
        for (size_t i = 0; i < ELEMENTSOF(text_fields); i++)
                if (text_fields[i].field == f)
                        return text_fields[i].key;
        return order_field_to_string(f) ?: "order";
}

static int property_get_text(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        DaemonOrder *o = userdata;

        for (size_t i = 0; i < ELEMENTSOF(text_fields); i++)
                if (streq(text_fields[i].property, property))
                        return sd_bus_message_append(reply, "s",
                                                     strempty(order_field_get(o->order, text_fields[i].field)));
        return -EINVAL;
}

static int property_get_validity(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        DaemonOrder *o = userdata;

        return sd_bus_message_append(reply, "u", (uint32_t) o->order->validity_years);
}

static int property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        DaemonOrder *o = userdata;

        return sd_bus_message_append(reply, "s", strempty(order_state_to_string(o->order->state)));
}

static int property_get_string(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        DaemonOrder *o = userdata;
        const Order *ord = o->order;
        const char *v;

        if (streq(property, "FailedStep"))
                v = ord->failed_step;
        else if (streq(property, "FailedReason"))
                v = ord->failed_reason;
        else if (streq(property, "TokenSerial"))
                v = ord->evidence.token_serial;
        else if (streq(property, "KeyId"))
                v = ord->key_id_hex;
        else if (streq(property, "Csr"))
                v = ord->csr_pem;
        else if (streq(property, "CsrPath"))
                v = o->csr_path;
        else if (streq(property, "Certificate"))
                v = ord->certificate_pem;
        else
                return -EINVAL;
        return sd_bus_message_append(reply, "s", strempty(v));
}

static int property_get_evidence(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        DaemonOrder *o = userdata;
        const OrderKeyEvidence *e = &o->order->evidence;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        /* Nothing to show before a key was generated. */
        if (o->order->key_id_hex) {
                r = sd_bus_message_append(reply, "{sv}{sv}{sv}{sv}{sv}{sv}",
                                          "local", "b", (int) e->local,
                                          "always-sensitive", "b", (int) e->always_sensitive,
                                          "never-extractable", "b", (int) e->never_extractable,
                                          "token-manufacturer", "s", strempty(e->token_manufacturer),
                                          "token-model", "s", strempty(e->token_model),
                                          "token-serial", "s", strempty(e->token_serial));
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

/* The leaf's notAfter (the first certificate of the PEM), 0 if none. */
static uint64_t certificate_not_after(const char *pem) {
        BIO *bio;
        X509 *x;
        struct tm tm = {};
        uint64_t usec = 0;
        time_t t;

        if (isempty(pem))
                return 0;
        bio = BIO_new_mem_buf(pem, -1);
        if (!bio)
                return 0;
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
        if (!x)
                return 0;
        if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1) {
                t = timegm(&tm);
                if (t > 0)
                        usec = (uint64_t) t * UINT64_C(1000000);
        }
        X509_free(x);
        return usec;
}

static int property_get_time(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        DaemonOrder *o = userdata;
        uint64_t v;

        if (streq(property, "NotAfter"))
                v = certificate_not_after(o->order->certificate_pem);
        else if (streq(property, "Created"))
                v = o->order->created_usec;
        else if (streq(property, "Updated"))
                v = o->order->updated_usec;
        else
                return -EINVAL;
        return sd_bus_message_append(reply, "t", v);
}

/* ---- Order methods -------------------------------------------------------- */

static int find_order(Manager *m, sd_bus_message *message, DaemonOrder **ret, sd_bus_error *error) {
        DaemonOrder *o = orders_find_by_path(m, sd_bus_message_get_path(message));

        if (!o)
                return sd_bus_error_setf(error, JETON_ERROR_NOT_FOUND, "No such order: %s",
                                         strna(sd_bus_message_get_path(message)));
        *ret = o;
        return 0;
}

/* Options dictionaries: every key must be known. bool_keys lists the
 * boolean options (NULL-terminated), stored in the same order in values. */
static int read_options(sd_bus_message *message, const char *const *bool_keys, bool *values,
                        sd_bus_error *error) {
        int r;

        r = sd_bus_message_enter_container(message, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(message, 'e', "sv")) > 0) {
                const char *key;
                size_t i;

                r = sd_bus_message_read(message, "s", &key);
                if (r < 0)
                        return r;
                for (i = 0; bool_keys && bool_keys[i]; i++)
                        if (streq(bool_keys[i], key))
                                break;
                if (!bool_keys || !bool_keys[i])
                        return sd_bus_error_setf(error, JETON_ERROR_INVALID_ARGUMENT, "Unknown option \"%s\".",
                                                 key);
                r = sd_bus_message_enter_container(message, 'v', "b");
                if (r == -ENXIO)
                        return sd_bus_error_setf(error, JETON_ERROR_INVALID_ARGUMENT,
                                                 "Option \"%s\" takes a boolean.", key);
                if (r >= 0) {
                        int b;

                        r = sd_bus_message_read(message, "b", &b);
                        values[i] = b;
                }
                if (r >= 0)
                        r = sd_bus_message_exit_container(message);
                if (r >= 0)
                        r = sd_bus_message_exit_container(message);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(message);
}

static int provision_authorized(Manager *m, sd_bus_message *message, void *userdata, sd_bus_error *error) {
        static const char *const keys[] = { "confirm-final-try", NULL };
        _cleanup_free_ char *job_path = NULL;
        bool values[1] = {};
        const char *spec;
        DaemonOrder *o;
        Token *t;
        int r;

        r = find_order(m, message, &o, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(message, "s", &spec);
        if (r < 0)
                return r;
        r = read_options(message, keys, values, error);
        if (r < 0)
                return r;
        r = job_resolve_token(m, spec, &t, error);
        if (r < 0)
                return r;
        r = job_start_provision(m, o, t, values[0], message, &job_path, error);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(message, "o", job_path);
}

static int method_provision(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        DaemonOrder *o = userdata;

        return authorize(o->manager, message, JETON_ACTION_PROVISION, provision_authorized, NULL, NULL);
}

static int install_authorized(Manager *m, sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *job_path = NULL;
        DaemonOrder *o;
        int fd, r;

        r = find_order(m, message, &o, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(message, "h", &fd);
        if (r < 0)
                return r;
        r = read_options(message, NULL, NULL, error);
        if (r < 0)
                return r;
        r = job_start_install(m, o, fd, message, &job_path, error);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(message, "o", job_path);
}

static int method_install(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        DaemonOrder *o = userdata;

        return authorize(o->manager, message, JETON_ACTION_INSTALL, install_authorized, NULL, NULL);
}

static int cancel_authorized(Manager *m, sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *actor_name = NULL;
        StoreError store_error = {};
        StoreActor actor;
        DaemonOrder *o;
        Job *j;
        int r;

        r = find_order(m, message, &o, error);
        if (r < 0)
                return r;
        if (!order_state_transition_allowed(o->order->state, ORDER_CANCELLED))
                return sd_bus_error_setf(error, JETON_ERROR_INVALID_STATE,
                                         "Order %s is %s: it can no longer be cancelled.", o->order->reference,
                                         order_state_to_string(o->order->state));
        r = bus_actor_from_message(message, &actor, &actor_name);
        if (r < 0)
                return r;

        /* A job working on the order stops at its next step; whatever it
         * brings back then is refused by the store, the order being
         * cancelled. */
        j = job_find_active_for_order(m, o->order->reference);
        if (j) {
                r = job_cancel(j, error);
                if (r < 0)
                        return r;
        }

        r = orders_set_state(m, o, &actor, ORDER_CANCELLED, &store_error);
        if (r < 0)
                return bus_error_set_errno(error, r, "%s", store_error.message);
        return sd_bus_reply_method_return(message, NULL);
}

static int method_cancel(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        DaemonOrder *o = userdata;

        return authorize(o->manager, message, JETON_ACTION_MANAGE_ORDERS, cancel_authorized, NULL, NULL);
}

#define EMITS SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE

const sd_bus_vtable order_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Reference", "s", property_get_text, 0, EMITS),
        SD_BUS_PROPERTY("Ca", "s", property_get_text, 0, EMITS),
        SD_BUS_PROPERTY("Product", "s", property_get_text, 0, EMITS),
        SD_BUS_PROPERTY("Profile", "s", property_get_text, 0, EMITS),
        SD_BUS_PROPERTY("ValidityYears", "u", property_get_validity, 0, EMITS),
        SD_BUS_PROPERTY("GivenName", "s", property_get_text, 0, EMITS),
        SD_BUS_PROPERTY("Surname", "s", property_get_text, 0, EMITS),
        SD_BUS_PROPERTY("Email", "s", property_get_text, 0, EMITS),
        SD_BUS_PROPERTY("Identifier", "s", property_get_text, 0, EMITS),
        SD_BUS_PROPERTY("Organisation", "s", property_get_text, 0, EMITS),
        SD_BUS_PROPERTY("Siren", "s", property_get_text, 0, EMITS),
        SD_BUS_PROPERTY("Siret", "s", property_get_text, 0, EMITS),
        SD_BUS_PROPERTY("Vat", "s", property_get_text, 0, EMITS),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, EMITS),
        SD_BUS_PROPERTY("FailedStep", "s", property_get_string, 0, EMITS),
        SD_BUS_PROPERTY("FailedReason", "s", property_get_string, 0, EMITS),
        SD_BUS_PROPERTY("TokenSerial", "s", property_get_string, 0, EMITS),
        SD_BUS_PROPERTY("KeyId", "s", property_get_string, 0, EMITS),
        SD_BUS_PROPERTY("Evidence", "a{sv}", property_get_evidence, 0, EMITS),
        SD_BUS_PROPERTY("Csr", "s", property_get_string, 0, EMITS),
        SD_BUS_PROPERTY("CsrPath", "s", property_get_string, 0, EMITS),
        SD_BUS_PROPERTY("Certificate", "s", property_get_string, 0, EMITS),
        SD_BUS_PROPERTY("NotAfter", "t", property_get_time, 0, EMITS),
        SD_BUS_PROPERTY("Created", "t", property_get_time, 0, EMITS),
        SD_BUS_PROPERTY("Updated", "t", property_get_time, 0, EMITS),
        SD_BUS_METHOD_WITH_ARGS("Provision",
                                SD_BUS_ARGS("s", token, "a{sv}", options),
                                SD_BUS_RESULT("o", job),
                                method_provision, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Install",
                                SD_BUS_ARGS("h", certificate, "a{sv}", options),
                                SD_BUS_RESULT("o", job),
                                method_install, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Cancel", NULL, NULL, method_cancel, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

static int order_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                             void **found, sd_bus_error *error) {
        DaemonOrder *o = orders_find_by_path(userdata, path);

        if (!o)
                return 0;
        *found = o;
        return 1;
}

static int order_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                                 sd_bus_error *error) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
        Manager *m = userdata;

        if (!l)
                return -ENOMEM;
        for (DaemonOrder *o = m->orders; o; o = o->next)
                if (strv_extend(&l, o->path) < 0)
                        return -ENOMEM;
        *nodes = TAKE_PTR(l);
        return 1;
}

int bus_order_setup(Manager *m) {
        int r;

        r = sd_bus_add_fallback_vtable(m->bus, &m->slot_orders, JETON_ORDER_PREFIX, JETON_ORDER_INTERFACE,
                                       order_vtable, order_object_find, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the order vtable: %m");
        r = sd_bus_add_node_enumerator(m->bus, &m->slot_order_enumerator, JETON_ORDER_PREFIX,
                                       order_node_enumerator, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the order enumerator: %m");
        return 0;
}

void bus_order_emit_added(DaemonOrder *o) {
        int r;

        if (!o->manager->bus)
                return;
        r = sd_bus_emit_interfaces_added(o->manager->bus, o->path, JETON_ORDER_INTERFACE, NULL);
        if (r < 0)
                log_warning_errno(r, "Failed to announce %s: %m", o->path);
}

void bus_order_emit_changed(DaemonOrder *o) {
        int r;

        if (!o->manager->bus)
                return;
        /* NULL: every property that emits changes. */
        r = sd_bus_emit_properties_changed_strv(o->manager->bus, o->path, JETON_ORDER_INTERFACE, NULL);
        if (r < 0)
                log_warning_errno(r, "Failed to announce changes of %s: %m", o->path);
}

/* ---- Manager.AddOrder ----------------------------------------------------- */

static int read_order(sd_bus_message *message, Order *o, sd_bus_error *error) {
        int r;

        r = sd_bus_message_enter_container(message, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(message, 'e', "sv")) > 0) {
                const char *key, *value;
                char **slot = NULL;

                r = sd_bus_message_read(message, "s", &key);
                if (r < 0)
                        return r;

                if (streq(key, VALIDITY_YEARS_KEY)) {
                        uint32_t u;

                        r = sd_bus_message_read(message, "v", "u", &u);
                        if (r == -ENXIO)
                                return sd_bus_error_setf(error, JETON_ERROR_INVALID_ARGUMENT,
                                                         "Order field \"%s\" takes an unsigned integer (u).", key);
                        if (r < 0)
                                return r;
                        o->validity_years = u;
                } else {
                        for (size_t i = 0; i < ELEMENTSOF(text_fields); i++)
                                if (streq(text_fields[i].key, key))
                                        slot = order_field_slot(o, text_fields[i].field);
                        if (!slot)
                                return sd_bus_error_setf(error, JETON_ERROR_INVALID_ARGUMENT,
                                                         "Unknown order field \"%s\".", key);
                        r = sd_bus_message_read(message, "v", "s", &value);
                        if (r == -ENXIO)
                                return sd_bus_error_setf(error, JETON_ERROR_INVALID_ARGUMENT,
                                                         "Order field \"%s\" takes a string.", key);
                        if (r < 0)
                                return r;
                        /* An empty value is an absent one, as in an import. */
                        r = free_and_strdup(slot, isempty(value) ? NULL : value);
                        if (r < 0)
                                return r;
                }
                r = sd_bus_message_exit_container(message);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(message);
}

static void collect_problem(OrderField field, const char *message, void *userdata) {
        char ***l = userdata;
        _cleanup_free_ char *line = NULL;

        if (asprintf(&line, "field %s: %s", field_key(field), message) < 0 || strv_extend(l, line) < 0)
                log_oom();
}

static char *strv_join_lines(char **l) {
        size_t n = 0;
        char *s, *p;

        for (char **i = l; i && *i; i++)
                n += strlen(*i) + 1;
        s = p = malloc(n + 1);
        if (!s)
                return NULL;
        *p = 0;
        for (char **i = l; i && *i; i++)
                p = stpcpy(stpcpy(p, i == l ? "" : "\n"), *i);
        return s;
}

static char *profile_names(Manager *m) {
        char *s, *p;
        size_t n = 1;

        for (size_t i = 0; m->profiles && i < m->profiles->n_profiles; i++)
                n += strlen(m->profiles->profiles[i]->name) + 2;
        s = p = malloc(n);
        if (!s)
                return NULL;
        *p = 0;
        for (size_t i = 0; m->profiles && i < m->profiles->n_profiles; i++)
                p = stpcpy(stpcpy(p, i == 0 ? "" : ", "), m->profiles->profiles[i]->name);
        return s;
}

static int add_order_authorized(Manager *m, sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(order_freep) Order *o = NULL;
        _cleanup_strv_free_ char **problems = NULL;
        _cleanup_free_ char *text = NULL, *actor_name = NULL;
        StoreError store_error = {};
        const Profile *profile;
        StoreActor actor;
        DaemonOrder *d;
        int r;

        o = order_new();
        if (!o)
                return -ENOMEM;
        r = read_order(message, o, error);
        if (r < 0)
                return r;
        r = read_options(message, NULL, NULL, error);
        if (r < 0)
                return r;

        r = order_normalize(o);
        if (r < 0)
                return r;
        profile = profiles_find(m, o->profile);
        if (o->profile && !profile) {
                _cleanup_free_ char *names = profile_names(m);

                return sd_bus_error_setf(error, JETON_ERROR_INVALID_ARGUMENT,
                                         "field profile: no profile \"%s\" is loaded (loaded: %s).", o->profile,
                                         isempty(names) ? "none" : names);
        }
        /* What the CA's product is follows from the profile, as in an import. */
        if (profile && !o->ca && free_and_strdup(&o->ca, profile->ca) < 0)
                return -ENOMEM;
        if (profile && !o->product && free_and_strdup(&o->product, profile->product) < 0)
                return -ENOMEM;

        r = order_validate(o, profile, collect_problem, &problems);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || problems) {
                text = strv_join_lines(problems);
                if (!text)
                        return -ENOMEM;
                return sd_bus_error_setf(error, JETON_ERROR_INVALID_ARGUMENT, "Invalid order:\n%s", text);
        }

        r = bus_actor_from_message(message, &actor, &actor_name);
        if (r < 0)
                return r;
        r = orders_add(m, &actor, o, &d, &store_error);
        if (r == -EEXIST)
                return sd_bus_error_setf(error, JETON_ERROR_EXISTS, "An order with reference %s exists already.",
                                         o->reference);
        if (r < 0)
                return bus_error_set_errno(error, r, "%s", store_error.message);
        return sd_bus_reply_method_return(message, "o", d->path);
}

int bus_order_method_add(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return authorize(userdata, message, JETON_ACTION_MANAGE_ORDERS, add_order_authorized, NULL, NULL);
}

/* ---- Manager.ImportOrders ------------------------------------------------- */

typedef struct ImportRead {
        Manager *manager;
        sd_bus_message *message;
        char *format;
        int fd;
        char *data;
        size_t size, allocated;
} ImportRead;

static void import_read_free(void *p) {
        ImportRead *ir = p;

        if (!ir)
                return;
        sd_bus_message_unref(ir->message);
        safe_close(ir->fd);
        free(ir->format);
        free(ir->data);
        free(ir);
}

int bus_orders_refuse_known(Manager *m, Order *const *orders, size_t n, sd_bus_error *error) {
        _cleanup_strv_free_ char **exists = NULL;
        _cleanup_free_ char *text = NULL;

        for (size_t i = 0; i < n; i++)
                if (orders_find(m, orders[i]->reference)) {
                        _cleanup_free_ char *line = NULL;

                        if (asprintf(&line, "reference %s: an order with this reference exists already",
                                     orders[i]->reference) < 0 || strv_extend(&exists, line) < 0)
                                return -ENOMEM;
                }
        if (!exists)
                return 0;
        text = strv_join_lines(exists);
        return text ? sd_bus_error_setf(error, JETON_ERROR_EXISTS, "%s", text) : -ENOMEM;
}

static int import_finish(ImportRead *ir, sd_bus_error *error) {
        _cleanup_strv_free_ char **problems = NULL;
        _cleanup_free_ char *text = NULL, *actor_name = NULL;
        _cleanup_free_ DaemonOrder **published = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = ir->manager;
        StoreError store_error = {};
        OrderImportFormat format;
        Order **orders = NULL;
        StoreActor actor;
        size_t n = 0;
        int r;

        if (streq(ir->format, "csv"))
                format = ORDER_IMPORT_CSV;
        else if (streq(ir->format, "json"))
                format = ORDER_IMPORT_JSON;
        else
                format = order_import_guess_format(ir->data ?: "", ir->size);

        r = order_import(format, ir->data ?: "", ir->size, m->profiles, &orders, &n, &problems);
        if (r == -EINVAL) {
                text = strv_join_lines(problems);
                if (!text)
                        return -ENOMEM;
                return sd_bus_error_setf(error, JETON_ERROR_INVALID_ORDERS, "%s", text);
        }
        if (r < 0)
                return r;

        r = bus_orders_refuse_known(m, orders, n, error);
        if (r < 0)
                goto finish;

        published = calloc(n ?: 1, sizeof(DaemonOrder *));
        if (!published) {
                r = -ENOMEM;
                goto finish;
        }
        r = bus_actor_from_message(ir->message, &actor, &actor_name);
        if (r < 0)
                goto finish;
        r = orders_import(m, &actor, orders, n, published, &store_error);
        if (r < 0) {
                r = r == -EEXIST ? sd_bus_error_setf(error, JETON_ERROR_EXISTS, "%s", store_error.message)
                                 : bus_error_set_errno(error, r, "%s", store_error.message);
                goto finish;
        }

        r = sd_bus_message_new_method_return(ir->message, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "o");
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = sd_bus_message_append(reply, "o", published[i]->path);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);

finish:
        order_array_free(orders, n);
        return r;
}

/* Sends the reply (or the error) of the import and frees ir. */
static void import_done(ImportRead *ir, int r, sd_bus_error *error) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

        if (r >= 0 && !sd_bus_error_is_set(error))
                r = import_finish(ir, &e);
        else
                sd_bus_error_move(&e, error);
        if (sd_bus_error_is_set(&e))
                r = sd_bus_reply_method_error(ir->message, &e);
        else if (r < 0)
                r = sd_bus_reply_method_errnof(ir->message, r, "Importing orders failed: %m");
        if (r < 0)
                log_warning_errno(r, "Failed to answer ImportOrders: %m");
}

/* Appends what fd has now; 1 at end of file, 0 to wait for more. */
static int import_read_some(ImportRead *ir, sd_bus_error *error) {
        for (;;) {
                ssize_t k;

                if (ir->allocated - ir->size < 65536 + 1) {
                        size_t a = ir->allocated ? ir->allocated * 2 : 65536 * 2;
                        char *p;

                        if (a > IMPORT_SIZE_MAX + 65536 + 1)
                                a = IMPORT_SIZE_MAX + 65536 + 1;
                        p = realloc(ir->data, a);
                        if (!p)
                                return -ENOMEM;
                        ir->data = p;
                        ir->allocated = a;
                }
                k = read(ir->fd, ir->data + ir->size, ir->allocated - ir->size - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        return sd_bus_error_setf(error, JETON_ERROR_INVALID_ARGUMENT,
                                                 "Cannot read the orders: %s", strerror(errno));
                }
                if (k == 0) {
                        ir->data[ir->size] = 0;
                        return 1;
                }
                ir->size += (size_t) k;
                if (ir->size > IMPORT_SIZE_MAX)
                        return sd_bus_error_setf(error, JETON_ERROR_INVALID_ARGUMENT,
                                                 "The orders are larger than %u MiB: split the file.",
                                                 IMPORT_SIZE_MAX / 1024 / 1024);
        }
}

static int on_import_readable(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        ImportRead *ir = userdata;
        int r;

        r = import_read_some(ir, &error);
        if (r == 0 && !sd_bus_error_is_set(&error))
                return 0;
        import_done(ir, r, &error);
        /* The loop holds the only reference to a floating source: taking
         * it back drops it, and the destroy callback frees ir. */
        (void) sd_event_source_set_floating(s, false);
        return 0;
}

static int import_authorized(Manager *m, sd_bus_message *message, void *userdata, sd_bus_error *error) {
        ImportRead *ir;
        const char *format;
        sd_event_source *s = NULL;
        struct stat st;
        int fd, r;

        r = sd_bus_message_read(message, "hs", &fd, &format);
        if (r < 0)
                return r;
        if (!streq(format, "") && !streq(format, "csv") && !streq(format, "json"))
                return sd_bus_error_setf(error, JETON_ERROR_INVALID_ARGUMENT,
                                         "Unknown format \"%s\": \"csv\", \"json\" or \"\" (guess).", format);
        r = read_options(message, NULL, NULL, error);
        if (r < 0)
                return r;

        ir = calloc(1, sizeof(ImportRead));
        if (!ir)
                return -ENOMEM;
        *ir = (ImportRead) {
                .manager = m,
                .message = sd_bus_message_ref(message),
                .format = strdup(format),
                .fd = fd_reopen_nonblock(fd),
        };
        if (ir->fd == -EBADFD) {
                import_read_free(ir);
                return sd_bus_error_set(error, JETON_ERROR_INVALID_ARGUMENT,
                                        "The orders must come from a file or a pipe.");
        }
        if (!ir->format || ir->fd < 0) {
                r = ir->fd < 0 ? ir->fd : -ENOMEM;
                import_read_free(ir);
                return r;
        }
        if (fstat(ir->fd, &st) < 0) {
                r = -errno;
                import_read_free(ir);
                return r;
        }

        /* A file is read at once; a pipe as its data comes, so that a slow
         * writer never stalls the loop. ir->fd is our own non-blocking
         * description: the client cannot make our reads block. */
        if (S_ISREG(st.st_mode)) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

                r = import_read_some(ir, &e);
                import_done(ir, r, &e);
                import_read_free(ir);
                return 1;
        }

        r = sd_event_add_io(m->event, &s, ir->fd, EPOLLIN, on_import_readable, ir);
        if (r < 0) {
                import_read_free(ir);
                return sd_bus_error_setf(error, JETON_ERROR_INVALID_ARGUMENT,
                                         "Cannot read the orders from this descriptor: %s", strerror(-r));
        }
        (void) sd_event_source_set_description(s, "import-orders");
        r = sd_event_source_set_destroy_callback(s, import_read_free);
        if (r >= 0)
                r = sd_event_source_set_floating(s, true);
        if (r < 0) {
                (void) sd_event_source_set_destroy_callback(s, NULL);
                sd_event_source_unref(s);
                import_read_free(ir);
                return r;
        }
        sd_event_source_unref(s);
        return 1;
}

int bus_order_method_import(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return authorize(userdata, message, JETON_ACTION_MANAGE_ORDERS, import_authorized, NULL, NULL);
}
