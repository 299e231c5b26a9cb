/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A holder's certificate order, as the CA wrote it, and its state machine
 * (design.md):
 *
 *   pending -> key-generated (CSR ready) -> submitted -> certificate-received -> installed
 *   any non-final state -> failed (step + reason) | cancelled
 *
 * Waiting for a token or a PIN is not a state of the order: it is the state
 * of the job working on it (certmonger's NEED_* states are the model). */

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

typedef enum OrderState {
        ORDER_PENDING,
        ORDER_KEY_GENERATED,
        ORDER_SUBMITTED,
        ORDER_CERTIFICATE_RECEIVED,
        ORDER_INSTALLED,
        ORDER_FAILED,
        ORDER_CANCELLED,
        _ORDER_STATE_MAX,
        _ORDER_STATE_INVALID = -1,
} OrderState;

/* "pending", "key-generated", "submitted", "certificate-received",
 * "installed", "failed", "cancelled" */
const char *order_state_to_string(OrderState s);
OrderState order_state_from_string(const char *s);
/* Whether the state machine allows from -> to. */
bool order_state_transition_allowed(OrderState from, OrderState to);

/* What the order names; every string is malloc'd UTF-8 or NULL when absent. */
typedef struct OrderHolder {
        char *given_name;
        char *surname;
        char *email;
        char *identifier;       /* optional, for serialNumber, e.g. "IDCFR-12345" */
} OrderHolder;

typedef struct OrderOrganisation {
        char *name;             /* raison sociale */
        char *siren;            /* 9 digits, set when the order gives a SIREN or a SIRET */
        char *siret;            /* 14 digits or NULL */
        char *vat;              /* "FR" + key + SIREN, optional */
} OrderOrganisation;

/* On-token generation evidence recorded with the order (domain.md 5). */
typedef struct OrderKeyEvidence {
        bool local;
        bool always_sensitive;
        bool never_extractable;
        char *token_manufacturer;
        char *token_model;
        char *token_serial;
} OrderKeyEvidence;

typedef struct Order {
        char *reference;        /* as the CA wrote it, e.g. "BD1734971738"; unique */
        char *ca;               /* "Certigna", "Certinomis", ... */
        char *product;          /* "Pack ID RGS**", "OPE-AES-CAP-1A", ... */
        char *profile;          /* profile name, e.g. "certigna-rgs2" */
        unsigned validity_years;        /* 1..3 */
        OrderHolder holder;
        OrderOrganisation organisation;

        OrderState state;
        char *failed_step;      /* set in ORDER_FAILED */
        char *failed_reason;

        /* the tie between the order and its key (filled by provisioning) */
        char *key_id_hex;       /* CKA_ID */
        char *key_label;        /* = reference */
        OrderKeyEvidence evidence;
        char *csr_pem;
        char *certificate_pem;  /* leaf, then chain */

        uint64_t created_usec;  /* CLOCK_REALTIME */
        uint64_t updated_usec;
} Order;

Order *order_new(void);
Order *order_free(Order *o);    /* accepts NULL, returns NULL */
void order_clear(Order *o);     /* frees the fields, keeps the struct */
Order *order_dup(const Order *o);

DEFINE_TRIVIAL_CLEANUP_FUNC(Order *, order_free);

/* The fields an order is made of, named as everywhere outside C: the CSV
 * column headers, the JSON paths of the import (order-import.h), the
 * ${placeholders} of profiles (profile.h) and the field in error messages. */
typedef enum OrderField {
        ORDER_FIELD_REFERENCE,
        ORDER_FIELD_CA,
        ORDER_FIELD_PRODUCT,
        ORDER_FIELD_PROFILE,
        ORDER_FIELD_VALIDITY_YEARS,
        ORDER_FIELD_HOLDER_GIVEN_NAME,
        ORDER_FIELD_HOLDER_SURNAME,
        ORDER_FIELD_HOLDER_EMAIL,
        ORDER_FIELD_HOLDER_IDENTIFIER,
        ORDER_FIELD_ORGANISATION_NAME,
        ORDER_FIELD_ORGANISATION_SIREN,
        ORDER_FIELD_ORGANISATION_SIRET,
        ORDER_FIELD_ORGANISATION_VAT,
        _ORDER_FIELD_MAX,
        _ORDER_FIELD_INVALID = -1,
} OrderField;

/* "reference", "ca", "product", "profile", "validity_years",
 * "holder.given_name", "holder.surname", "holder.email",
 * "holder.identifier", "organisation.name", "organisation.siren",
 * "organisation.siret", "organisation.vat" */
const char *order_field_to_string(OrderField f);
OrderField order_field_from_string(const char *s);
/* The slot of a text field (every field but validity_years, which gives NULL). */
char **order_field_slot(Order *o, OrderField f);
/* The value of a text field, NULL when absent or not a text field. */
const char *order_field_get(const Order *o, OrderField f);
