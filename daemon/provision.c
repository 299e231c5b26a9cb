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

/* How long the worker waits for the whole PIN line once the agent has
 * answered: a person at a terminal types it before answering, so this only
 * guards against an agent that writes part of it, or nothing, and stalls. */
#define PIN_READ_TIMEOUT_MS (10 * 1000)

ProvisionResult *provision_result_free(ProvisionResult *p) {
        if (!p)
                return NULL;
        jp11_session_close(p->session);
        safe_close(p->pin_fd);
        jp11_pin_free(p->pin);
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

/* Reads the agent's PIN line through a private non-blocking description
 * of its pipe, with one deadline: an agent cannot hold the worker. */
static int read_agent_pin(int fd, JP11Pin **ret, JP11Error *error) {
        _cleanup_(closep) int nfd = fd_reopen_nonblock(fd);

        if (nfd < 0) {
                errno = -nfd;
                return jp11_error_set(error, nfd, JP11_ERR_INVALID, "the PIN agent's answer is not a pipe: %m");
        }
        return jp11_pin_read_fd_timeout(nfd, PIN_READ_TIMEOUT_MS, ret, error);
}

static int step_login(ProvisionResult *p) {
        _cleanup_(jp11_pin_freep) JP11Pin *pin = NULL;
        JP11LoginFlags flags = p->confirm_final_try ? JP11_LOGIN_CONFIRM_FINAL_TRY : 0;
        CK_SLOT_ID slot;
        int r;

        /* The PIN first: no session is held while an agent is waited for
         * (a held session would stall the module's rescans). */
        if (p->pin_fd >= 0) {
                r = read_agent_pin(p->pin_fd, &pin, &p->error);
                p->pin_fd = safe_close(p->pin_fd);
                if (r < 0)
                        return r;
        } else if (p->pin)
                pin = TAKE_PTR(p->pin);

        r = find_slot(p, &slot);
        if (r < 0)
                return r;
        r = jp11_session_open(p->module, slot, true, &p->session, &p->error);
        if (r < 0)
                return r;

        /* One attempt; the PIN object is wiped when this function returns. */
        return jp11_login(p->session, JP11_USER_NORMAL, pin, flags, &p->pin_state, &p->error);
}

/* The first private key with this attribute (label or id) and its CKA_ID.
 * A search on the token, not a read of every key's attributes: that cost
 * one round trip per attribute and key, and grew with every key the token
 * holds (most of a provisioning's time on a token with fifty keys). */
static int find_private_key(ProvisionResult *p, CK_ATTRIBUTE match, CK_OBJECT_HANDLE *ret) {
        CK_FUNCTION_LIST_PTR f = jp11_session_functions(p->session);
        CK_SESSION_HANDLE h = jp11_session_handle(p->session);
        CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
        CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof cls }, match };
        CK_ATTRIBUTE id = { CKA_ID, p->id, sizeof p->id };
        CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
        CK_ULONG got = 0;
        CK_RV rv, rv_final;

        rv = f->C_FindObjectsInit(h, tmpl, ELEMENTSOF(tmpl));
        if (rv != CKR_OK)
                return jp11_error_from_rv(&p->error, rv, "searching the token");
        rv = f->C_FindObjects(h, &obj, 1, &got);
        /* Always finished, or the session cannot search again. */
        rv_final = f->C_FindObjectsFinal(h);
        if (rv == CKR_OK)
                rv = rv_final;
        if (rv != CKR_OK)
                return jp11_error_from_rv(&p->error, rv, "searching the token");
        if (got == 0)
                return 0;

        rv = f->C_GetAttributeValue(h, obj, &id, 1);
        if (rv != CKR_OK)
                return jp11_error_from_rv(&p->error, rv, "reading the key id");
        p->id_len = id.ulValueLen == CK_UNAVAILABLE_INFORMATION ? 0 : id.ulValueLen;
        *ret = obj;
        return 1;
}

static int find_existing_key(ProvisionResult *p, CK_OBJECT_HANDLE *ret) {
        const char *label = p->order->reference;
        uint8_t want[JP11_ID_MAX];
        size_t want_len = 0;
        int r;

        if (p->order->key_id_hex) {
                size_t l = strlen(p->order->key_id_hex);

                for (size_t i = 0; i + 1 < l && want_len < sizeof want; i += 2) {
                        unsigned v;
                        if (sscanf(p->order->key_id_hex + i, "%2x", &v) != 1)
                                break;
                        want[want_len++] = v;
                }
        }
        if (want_len > 0) {
                r = find_private_key(p, (CK_ATTRIBUTE) { CKA_ID, want, want_len }, ret);
                if (r != 0)
                        return r;
        }
        return find_private_key(p, (CK_ATTRIBUTE) { CKA_LABEL, (CK_VOID_PTR) label, strlen(label) }, ret);
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

/* A run killed between C_GenerateKeyPair and the update of the pair's
 * CKA_ID left the random temporary id on it (p11-keygen.c): give both
 * halves the final one, from the public key, as a finished key generation
 * would have. Only for a key the store knows nothing of yet. */
static int finish_key_id(ProvisionResult *p, CK_OBJECT_HANDLE private_key) {
        CK_FUNCTION_LIST_PTR f = jp11_session_functions(p->session);
        CK_SESSION_HANDLE h = jp11_session_handle(p->session);
        CK_OBJECT_HANDLE public_key = CK_INVALID_HANDLE, other;
        uint8_t id[20];
        CK_ATTRIBUTE set_id[] = { { CKA_ID, id, sizeof id } };
        JP11Error ignored = {};
        CK_RV rv;
        int r;

        if (p->order->key_id_hex)
                return 0;
        r = jp11_key_id_from_public(p->public, id, &p->error);
        if (r < 0)
                return r;
        if (p->id_len == sizeof id && memcmp(p->id, id, sizeof id) == 0)
                return 0;
        /* Another key with the final id: leave both alone. */
        if (jp11_find_key_by_id(p->session, true, id, sizeof id, &other, &ignored) >= 0)
                return 0;

        if (p->id_len > 0 &&
            jp11_find_key_by_id(p->session, false, p->id, p->id_len, &public_key, &ignored) >= 0) {
                rv = f->C_SetAttributeValue(h, public_key, set_id, ELEMENTSOF(set_id));
                if (rv != CKR_OK)
                        return jp11_error_from_rv(&p->error, rv, "setting the key id");
        }
        rv = f->C_SetAttributeValue(h, private_key, set_id, ELEMENTSOF(set_id));
        if (rv != CKR_OK)
                return jp11_error_from_rv(&p->error, rv, "setting the key id");
        memcpy(p->id, id, sizeof id);
        p->id_len = sizeof id;
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
                r = finish_key_id(p, private_key);
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
