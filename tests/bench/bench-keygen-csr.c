/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* On-token key generation and CSR signing time per key type, on a private
 * SoftHSM token: median (and spread) over N samples. RSA timings spread
 * widely, hence N >= 20.
 *
 *   bench-keygen-csr [--samples N] [--rsa4096]
 *
 * RSA-4096 is optional: tens of seconds per key on SoftHSM. */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/testtoken.h"
#include "csr.h"
#include "openssl-util.h"
#include "p11-keygen.h"
#include "subject.h"

typedef struct Case {
        const char *name;
        JP11KeySpec spec;
        bool optional;
} Case;

static const Case cases[] = {
        { "RSA-2048", { .type = JP11_KEY_RSA, .bits = 2048 }, false },
        { "RSA-3072", { .type = JP11_KEY_RSA, .bits = 3072 }, false },
        { "RSA-4096", { .type = JP11_KEY_RSA, .bits = 4096 }, true },
        { "P-256", { .type = JP11_KEY_EC, .curve = JP11_CURVE_P256 }, false },
        { "P-384", { .type = JP11_KEY_EC, .curve = JP11_CURVE_P384 }, false },
};

static double now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
}

static double median(double *v, size_t n) {
        qsort(v, n, sizeof *v, cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One sample: generate, sign a request, then remove the pair (not timed)
 * so the token does not grow. */
static int sample(TestToken *t, const Case *c, const X509_NAME *subject, double *ret_keygen, double *ret_csr) {
        CK_FUNCTION_LIST_PTR f = jp11_session_functions(t->session);
        JP11CsrSpec spec = { .subject = subject, .hash = JP11_HASH_SHA256,
                             .key_usage = JP11_KU_NON_REPUDIATION, .key_usage_critical = true };
        JP11GeneratedKey k = {};
        X509_REQ *req = NULL;
        JP11Error error = {};
        double t0, t1, t2;
        int r;

        t0 = now_ms();
        r = jp11_generate_key_pair(t->session, &c->spec, "bench", &k, &error);
        t1 = now_ms();
        if (r < 0) {
                fprintf(stderr, "%s: key generation failed: %s\n", c->name, error.message);
                return r;
        }
        r = jp11_csr_create(t->session, k.id, k.id_len, &spec, &req, &error);
        t2 = now_ms();
        X509_REQ_free(req);
        (void) f->C_DestroyObject(jp11_session_handle(t->session), k.private_key);
        (void) f->C_DestroyObject(jp11_session_handle(t->session), k.public_key);
        jp11_generated_key_clear(&k);
        if (r < 0) {
                fprintf(stderr, "%s: CSR failed: %s\n", c->name, error.message);
                return r;
        }
        *ret_keygen = t1 - t0;
        *ret_csr = t2 - t1;
        return 0;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "samples", required_argument, NULL, 'n' },
                { "rsa4096", no_argument, NULL, '4' },
                {},
        };
        _cleanup_(testtoken_freep) TestToken *t = NULL;
        _cleanup_(X509_NAME_freep) X509_NAME *subject = NULL;
        JP11Error error = {};
        unsigned samples = 21;
        bool rsa4096 = false;
        int c, r;

        while ((c = getopt_long(argc, argv, "n:", options, NULL)) >= 0)
                switch (c) {
                case 'n':
                        samples = (unsigned) strtoul(optarg, NULL, 10);
                        if (samples == 0 || samples > 10000) {
                                fprintf(stderr, "bad --samples\n");
                                return EXIT_FAILURE;
                        }
                        break;
                case '4':
                        rsa4096 = true;
                        break;
                default:
                        return EXIT_FAILURE;
                }

        r = testtoken_new("bench", &t);
        if (r < 0) {
                fprintf(stderr, "cannot set up a SoftHSM token: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        r = jp11_subject_parse("C=FR, O=AR24, OU=0002 80948012200013, organizationIdentifier=NTRFR-80948012200013, "
                               "CN=AR24 - AR24 CACHET LRE, serialNumber=ST6356002",
                               &subject, &error);
        if (r < 0) {
                fprintf(stderr, "%s\n", error.message);
                return EXIT_FAILURE;
        }

        printf("on-token keygen + SHA-256 CSR, SoftHSM, one session, %u samples, milliseconds\n", samples);
        printf("%-9s %12s %10s %12s %10s %10s\n", "key", "keygen med", "csr med", "total med", "total min",
               "total max");
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ double *keygen = calloc(samples, sizeof(double));
                _cleanup_free_ double *csr = calloc(samples, sizeof(double));
                _cleanup_free_ double *total = calloc(samples, sizeof(double));
                double lo, hi;

                if (cases[i].optional && !rsa4096)
                        continue;
                if (!keygen || !csr || !total)
                        return EXIT_FAILURE;
                for (unsigned n = 0; n < samples; n++) {
                        if (sample(t, &cases[i], subject, &keygen[n], &csr[n]) < 0)
                                return EXIT_FAILURE;
                        total[n] = keygen[n] + csr[n];
                }
                lo = hi = total[0];
                for (unsigned n = 1; n < samples; n++) {
                        lo = total[n] < lo ? total[n] : lo;
                        hi = total[n] > hi ? total[n] : hi;
                }
                printf("%-9s %12.1f %10.1f %12.1f %10.1f %10.1f\n", cases[i].name, median(keygen, samples),
                       median(csr, samples), median(total, samples), lo, hi);
                fflush(stdout);
        }
        return EXIT_SUCCESS;
}
