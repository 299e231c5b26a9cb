/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The token side of a provisioning job, one step per worker item (job.c
 * queues them and looks at Job.Cancel between them):
 *
 *   probe            find the token's slot by serial, read its PIN state
 *                    (the loop then asks a PIN agent, or not for a pin pad)
 *   login            open a read-write session, read the PIN from the
 *                    agent's fd, jp11_login() once; the PIN is wiped at once
 *   generate-key     reuse the private key labelled with the order reference
 *                    (or carrying the order's recorded CKA_ID), else
 *                    generate one per the profile; read and check the
 *                    evidence the profile requires
 *   sign-request     build the request from profile and order, sign it on
 *                    the token (jp11_csr_create)
 *   verify-request   check the signature and that the request carries the
 *                    key's public key; close the session
 *
 * Every function here runs on the token's worker thread and touches nothing
 * but its ProvisionResult. Nothing here logs. */

#include <stdbool.h>
#include <stdint.h>

#include "jeton-p11.h"
#include "order.h"
#include "profile.h"

typedef enum ProvisionStep {
        PROVISION_PROBE,
        PROVISION_LOGIN,
        PROVISION_GENERATE_KEY,
        PROVISION_SIGN_REQUEST,
        PROVISION_VERIFY_REQUEST,
        PROVISION_CLOSE,                /* cancelled or failed: just close the session */
        _PROVISION_STEP_MAX,
} ProvisionStep;

typedef struct ProvisionResult ProvisionResult;
struct ProvisionResult {
        /* Inputs, set on the loop before the first step. */
        JP11Module *module;
        char *serial;
        char *manufacturer;
        Order *order;                   /* a copy: the CSR spec points into it */
        const Profile *profile;
        X509_NAME *subject;
        JP11CsrSpec csr_spec;
        bool confirm_final_try;
        int pin_fd;                     /* the agent's pipe, -EBADF for a pin pad; taken by login */
        JP11Pin *pin;                   /* or the PIN itself (a batch knows it); taken by login */

        ProvisionStep step;             /* the step the next work item runs */

        /* Worker state. */
        JP11Session *session;

        /* Outputs of the last step. */
        int r;
        JP11Error error;
        JP11TokenInfo info;             /* probe */
        JP11PinState pin_state;         /* probe; login after a wrong PIN */
        uint8_t id[JP11_ID_MAX];        /* generate-key */
        size_t id_len;
        bool reused;                    /* the key was there already */
        JP11KeyEvidence evidence;
        EVP_PKEY *public;
        char *csr_pem;                  /* verify-request */
};

ProvisionResult *provision_result_free(ProvisionResult *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(ProvisionResult *, provision_result_free);

const char *provision_step_to_string(ProvisionStep s);

/* Worker thread: runs p->step, fills p->r / p->error and the step's
 * outputs; closes the session when the step fails or was the last. */
void provision_run_step(ProvisionResult *p);
