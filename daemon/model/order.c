/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "order.h"

static const char *const state_names[_ORDER_STATE_MAX] = {
        [ORDER_PENDING]              = "pending",
        [ORDER_KEY_GENERATED]        = "key-generated",
        [ORDER_SUBMITTED]            = "submitted",
        [ORDER_CERTIFICATE_RECEIVED] = "certificate-received",
        [ORDER_INSTALLED]            = "installed",
        [ORDER_FAILED]               = "failed",
        [ORDER_CANCELLED]            = "cancelled",
};

const char *order_state_to_string(OrderState s) {
        if (s < 0 || s >= _ORDER_STATE_MAX)
                return NULL;
        return state_names[s];
}

OrderState order_state_from_string(const char *s) {
        if (!s)
                return _ORDER_STATE_INVALID;
        for (OrderState i = 0; i < _ORDER_STATE_MAX; i++)
                if (streq(s, state_names[i]))
                        return i;
        return _ORDER_STATE_INVALID;
}

#define BIT(s) (1u << (s))

/* Where each state may go. Notes on the less obvious edges:
 *  - key-generated -> certificate-received: the CSR was taken from the
 *    outbox and handed to the CA by hand, nobody marked it submitted;
 *    the certificate arriving is proof enough.
 *  - failed -> pending: a person retries from the start (new key). Resuming
 *    in the middle is not offered: a failure may have left the token in a
 *    state only a fresh key generation is sure to fix.
 *  - installed and cancelled are final: a renewal is a new order. */
static const unsigned transitions[_ORDER_STATE_MAX] = {
        [ORDER_PENDING]              = BIT(ORDER_KEY_GENERATED) | BIT(ORDER_FAILED) | BIT(ORDER_CANCELLED),
        [ORDER_KEY_GENERATED]        = BIT(ORDER_SUBMITTED) | BIT(ORDER_CERTIFICATE_RECEIVED) |
                                       BIT(ORDER_FAILED) | BIT(ORDER_CANCELLED),
        [ORDER_SUBMITTED]            = BIT(ORDER_CERTIFICATE_RECEIVED) | BIT(ORDER_FAILED) | BIT(ORDER_CANCELLED),
        [ORDER_CERTIFICATE_RECEIVED] = BIT(ORDER_INSTALLED) | BIT(ORDER_FAILED) | BIT(ORDER_CANCELLED),
        [ORDER_INSTALLED]            = 0,
        [ORDER_FAILED]               = BIT(ORDER_PENDING) | BIT(ORDER_CANCELLED),
        [ORDER_CANCELLED]            = 0,
};

bool order_state_transition_allowed(OrderState from, OrderState to) {
        if (from < 0 || from >= _ORDER_STATE_MAX || to < 0 || to >= _ORDER_STATE_MAX)
                return false;
        return transitions[from] & BIT(to);
}

static const char *const field_names[_ORDER_FIELD_MAX] = {
        [ORDER_FIELD_REFERENCE]          = "reference",
        [ORDER_FIELD_CA]                 = "ca",
        [ORDER_FIELD_PRODUCT]            = "product",
        [ORDER_FIELD_PROFILE]            = "profile",
        [ORDER_FIELD_VALIDITY_YEARS]     = "validity_years",
        [ORDER_FIELD_HOLDER_GIVEN_NAME]  = "holder.given_name",
        [ORDER_FIELD_HOLDER_SURNAME]     = "holder.surname",
        [ORDER_FIELD_HOLDER_EMAIL]       = "holder.email",
        [ORDER_FIELD_HOLDER_IDENTIFIER]  = "holder.identifier",
        [ORDER_FIELD_ORGANISATION_NAME]  = "organisation.name",
        [ORDER_FIELD_ORGANISATION_SIREN] = "organisation.siren",
        [ORDER_FIELD_ORGANISATION_SIRET] = "organisation.siret",
        [ORDER_FIELD_ORGANISATION_VAT]   = "organisation.vat",
};

const char *order_field_to_string(OrderField f) {
        if (f < 0 || f >= _ORDER_FIELD_MAX)
                return NULL;
        return field_names[f];
}

OrderField order_field_from_string(const char *s) {
        if (!s)
                return _ORDER_FIELD_INVALID;
        for (OrderField f = 0; f < _ORDER_FIELD_MAX; f++)
                if (streq(s, field_names[f]))
                        return f;
        return _ORDER_FIELD_INVALID;
}

char **order_field_slot(Order *o, OrderField f) {
        switch (f) {
        case ORDER_FIELD_REFERENCE:          return &o->reference;
        case ORDER_FIELD_CA:                 return &o->ca;
        case ORDER_FIELD_PRODUCT:            return &o->product;
        case ORDER_FIELD_PROFILE:            return &o->profile;
        case ORDER_FIELD_HOLDER_GIVEN_NAME:  return &o->holder.given_name;
        case ORDER_FIELD_HOLDER_SURNAME:     return &o->holder.surname;
        case ORDER_FIELD_HOLDER_EMAIL:       return &o->holder.email;
        case ORDER_FIELD_HOLDER_IDENTIFIER:  return &o->holder.identifier;
        case ORDER_FIELD_ORGANISATION_NAME:  return &o->organisation.name;
        case ORDER_FIELD_ORGANISATION_SIREN: return &o->organisation.siren;
        case ORDER_FIELD_ORGANISATION_SIRET: return &o->organisation.siret;
        case ORDER_FIELD_ORGANISATION_VAT:   return &o->organisation.vat;
        default:                             return NULL;
        }
}

const char *order_field_get(const Order *o, OrderField f) {
        char **slot = order_field_slot((Order *) o, f);
        return slot ? *slot : NULL;
}

Order *order_new(void) {
        Order *o = calloc(1, sizeof(Order));

        if (o)
                o->state = ORDER_PENDING;
        return o;
}

void order_clear(Order *o) {
        if (!o)
                return;

        free(o->reference);
        free(o->ca);
        free(o->product);
        free(o->profile);
        free(o->holder.given_name);
        free(o->holder.surname);
        free(o->holder.email);
        free(o->holder.identifier);
        free(o->organisation.name);
        free(o->organisation.siren);
        free(o->organisation.siret);
        free(o->organisation.vat);
        free(o->failed_step);
        free(o->failed_reason);
        free(o->key_id_hex);
        free(o->key_label);
        free(o->evidence.token_manufacturer);
        free(o->evidence.token_model);
        free(o->evidence.token_serial);
        free(o->csr_pem);
        free(o->certificate_pem);
        *o = (Order) { .state = ORDER_PENDING };
}

Order *order_free(Order *o) {
        order_clear(o);
        free(o);
        return NULL;
}

/* Copies *src into *dst (NULL stays NULL). */
static int dup_str(char **dst, const char *src) {
        *dst = NULL;
        if (!src)
                return 0;
        *dst = strdup(src);
        return *dst ? 0 : -ENOMEM;
}

Order *order_dup(const Order *o) {
        _cleanup_(order_freep) Order *c = NULL;
        int r = 0;

        if (!o)
                return NULL;
        c = order_new();
        if (!c)
                return NULL;

        /* Scalars first, then every string replaced by its own copy. */
        *c = *o;
        r |= dup_str(&c->reference, o->reference);
        r |= dup_str(&c->ca, o->ca);
        r |= dup_str(&c->product, o->product);
        r |= dup_str(&c->profile, o->profile);
        r |= dup_str(&c->holder.given_name, o->holder.given_name);
        r |= dup_str(&c->holder.surname, o->holder.surname);
        r |= dup_str(&c->holder.email, o->holder.email);
        r |= dup_str(&c->holder.identifier, o->holder.identifier);
        r |= dup_str(&c->organisation.name, o->organisation.name);
        r |= dup_str(&c->organisation.siren, o->organisation.siren);
        r |= dup_str(&c->organisation.siret, o->organisation.siret);
        r |= dup_str(&c->organisation.vat, o->organisation.vat);
        r |= dup_str(&c->failed_step, o->failed_step);
        r |= dup_str(&c->failed_reason, o->failed_reason);
        r |= dup_str(&c->key_id_hex, o->key_id_hex);
        r |= dup_str(&c->key_label, o->key_label);
        r |= dup_str(&c->evidence.token_manufacturer, o->evidence.token_manufacturer);
        r |= dup_str(&c->evidence.token_model, o->evidence.token_model);
        r |= dup_str(&c->evidence.token_serial, o->evidence.token_serial);
        r |= dup_str(&c->csr_pem, o->csr_pem);
        r |= dup_str(&c->certificate_pem, o->certificate_pem);
        if (r < 0)
                return NULL;    /* the cleanup frees the copies made so far */

        return TAKE_PTR(c);
}
