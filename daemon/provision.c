/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "provision.h"
#include "util.h"

/* How long the worker waits for the agent to write the PIN into its pipe
 * once it has answered: a person at a terminal types it before answering,
 * so this only guards against an agent that never writes. */
#define PIN_WRITE_TIMEOUT_MS (120 * 1000)

ProvisionResult *provision_result_free(ProvisionResult *p) {
        if (!p)
                return NULL;
        jp11_session_close(p->session);
        safe_close(p->pin_fd);
        free(p->serial);
        free(p->manufacturer);
        order_free(p->order);
        X509_NAME_free(p->subject);
        EVP_PKEY_free(p->public);
        free(p->csr_pem);
        free(p);
        return NULL;
}

const char *provision_step_to_string(ProvisionStep s) {
        static const char *const table[_PROVISION_STEP_MAX] = {
                [PROVISION_PROBE] = "login",
                [PROVISION_LOGIN] = "login",
                [PROVISION_GENERATE_KEY] = "generate-key",
                [PROVISION_SIGN_REQUEST] = "sign-request",
                [PROVISION_VERIFY_REQUEST] = "verify-request",
                [PROVISION_CLOSE] = "",
        };
        return s < _PROVISION_STEP_MAX ? table[s] : NULL;
}

/* The slot may have changed since the scan (a pcscd restart renumbers
 * readers): find the token by its serial each time. */
static int find_slot(ProvisionResult *p, CK_SLOT_ID *ret) {
        JP11Slot slot;
        int r;

        r = jp11_module_find_token(p->module, p->serial, p->manufacturer, &slot, &p->error);
        if (r < 0) {
                if (p->error.kind == JP11_ERR_NOT_FOUND || p->error.kind == JP11_ERR_NO_TOKEN)
                        p->error.kind = JP11_ERR_TOKEN_REMOVED;
                return r;
        }
        p->info = slot.token;
        *ret = slot.id;
        return 0;
}

static int step_probe(ProvisionResult *p) {
        CK_SLOT_ID slot;
        int r;

        r = find_slot(p, &slot);
        if (r < 0)
                return r;
        p->pin_state = p->info.pin;
        return 0;
}

static int wait_readable(int fd, JP11Error *error) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int r;

        do
                r = poll(&pfd, 1, PIN_WRITE_TIMEOUT_MS);
        while (r < 0 && errno == EINTR);
        if (r < 0)
                return jp11_error_set(error, -errno, JP11_ERR_INTERNAL, "waiting for the PIN agent failed: %m");
        if (r == 0)
                return jp11_error_set(error, -ETIMEDOUT, JP11_ERR_INVALID,
                                      "the PIN agent answered but wrote no PIN");
        return 0;
}

static int step_login(ProvisionResult *p) {
        _cleanup_(jp11_pin_freep) JP11Pin *pin = NULL;
        JP11LoginFlags flags = p->confirm_final_try ? JP11_LOGIN_CONFIRM_FINAL_TRY : 0;
        CK_SLOT_ID slot;
        int r;

        r = find_slot(p, &slot);
        if (r < 0)
                return r;
        r = jp11_session_open(p->module, slot, true, &p->session, &p->error);
        if (r < 0)
                return r;

        if (p->pin_fd >= 0) {
                r = wait_readable(p->pin_fd, &p->error);
                if (r >= 0)
                        r = jp11_pin_read_fd(p->pin_fd, &pin, &p->error);
                p->pin_fd = safe_close(p->pin_fd);
                if (r < 0)
                        return r;
        }

        /* One attempt; the PIN object is wiped when this function returns. */
        return jp11_login(p->session, JP11_USER_NORMAL, pin, flags, &p->pin_state, &p->error);
}

static int find_existing_key(ProvisionResult *p, CK_OBJECT_HANDLE *ret) {
        _cleanup_free_ uint8_t *want = NULL;
        size_t want_len = 0;
        JP11Key *keys = NULL;
        size_t n = 0;
        int r, found = 0;

        if (p->order->key_id_hex) {
                size_t l = strlen(p->order->key_id_hex);

                want = malloc(l / 2 + 1);
                if (!want)
                        return jp11_error_set(&p->error, -ENOMEM, JP11_ERR_INTERNAL, "out of memory");
                for (size_t i = 0; i + 1 < l; i += 2) {
                        unsigned v;
                        if (sscanf(p->order->key_id_hex + i, "%2x", &v) != 1)
                                break;
                        want[want_len++] = v;
                }
        }

        r = jp11_list_keys(p->session, &keys, &n, &p->error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                const JP11Key *k = keys + i;

                if (!k->is_private)
                        continue;
                if (streq(k->label, p->order->reference) ||
                    (want_len > 0 && k->id_len == want_len && memcmp(k->id, want, want_len) == 0)) {
                        *ret = k->handle;
                        memcpy(p->id, k->id, k->id_len);
                        p->id_len = k->id_len;
                        found = 1;
                        break;
                }
        }
        jp11_keys_free(keys, n);
        return found;
}

static int check_evidence(ProvisionResult *p) {
        const char *missing = NULL;

        if (p->profile->require_local && !p->evidence.local)
                missing = "CKA_LOCAL (generated on the token)";
        else if (p->profile->require_never_extractable && !p->evidence.never_extractable)
                missing = "CKA_NEVER_EXTRACTABLE";
        else if (p->profile->require_always_sensitive && !p->evidence.always_sensitive)
                missing = "CKA_ALWAYS_SENSITIVE";
        if (missing)
                return jp11_error_set(&p->error, -EPERM, JP11_ERR_POLICY,
                                      "the key of %s lacks %s, which profile %s requires",
                                      p->order->reference, missing, p->profile->name);
        return 0;
}

static int step_generate_key(ProvisionResult *p) {
        CK_OBJECT_HANDLE private_key = CK_INVALID_HANDLE;
        int r;

        r = find_existing_key(p, &private_key);
        if (r < 0)
                return r;
        if (r > 0) {
                /* A key generated for this order by an earlier, interrupted
                 * run: never make a second one. */
                p->reused = true;
                r = jp11_read_public_key(p->session, private_key, &p->public, &p->error);
                if (r < 0)
                        return r;
                r = jp11_read_key_evidence(p->session, private_key, &p->evidence, &p->error);
                if (r < 0)
                        return r;
        } else {
                JP11GeneratedKey k = {};

                r = jp11_generate_key_pair(p->session, &p->profile->key, p->order->reference, &k, &p->error);
                if (r < 0)
                        return r;
                memcpy(p->id, k.id, k.id_len);
                p->id_len = k.id_len;
                p->evidence = k.evidence;
                p->public = TAKE_PTR(k.public);
                jp11_generated_key_clear(&k);
        }
        return check_evidence(p);
}

static int step_sign_request(ProvisionResult *p) {
        X509_REQ *req = NULL;
        int r;

        r = jp11_csr_create(p->session, p->id, p->id_len, &p->csr_spec, &req, &p->error);
        if (r < 0)
                return r;
        r = jp11_csr_to_pem(req, &p->csr_pem, &p->error);
        X509_REQ_free(req);
        return r;
}

/* jp11_csr_create() verified its signature already; this checks the PEM
 * we are about to hand out, as a reader of the outbox will see it. */
static int step_verify_request(ProvisionResult *p) {
        BIO *bio = NULL;
        X509_REQ *req = NULL;
        EVP_PKEY *pub;
        int r = 0;

        bio = BIO_new_mem_buf(p->csr_pem, -1);
        if (bio)
                req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
        if (!req)
                r = jp11_error_set(&p->error, -EBADMSG, JP11_ERR_INTERNAL, "the request cannot be read back");
        else if (!(pub = X509_REQ_get0_pubkey(req)) || EVP_PKEY_eq(pub, p->public) != 1)
                r = jp11_error_set(&p->error, -EBADMSG, JP11_ERR_INTERNAL,
                                   "the request does not carry the key's public key");
        else if (X509_REQ_verify(req, p->public) != 1)
                r = jp11_error_set(&p->error, -EBADMSG, JP11_ERR_INTERNAL,
                                   "the request's signature does not verify");
        X509_REQ_free(req);
        BIO_free(bio);
        return r;
}

void provision_run_step(ProvisionResult *p) {
        jp11_error_clear(&p->error);

        switch (p->step) {
        case PROVISION_PROBE:
                p->r = step_probe(p);
                break;
        case PROVISION_LOGIN:
                p->r = step_login(p);
                break;
        case PROVISION_GENERATE_KEY:
                p->r = step_generate_key(p);
                break;
        case PROVISION_SIGN_REQUEST:
                p->r = step_sign_request(p);
                break;
        case PROVISION_VERIFY_REQUEST:
                p->r = step_verify_request(p);
                break;
        default:
                p->r = 0;
                break;
        }

        if (p->r < 0 || p->step >= PROVISION_VERIFY_REQUEST)
                p->session = jp11_session_close(p->session);
}
