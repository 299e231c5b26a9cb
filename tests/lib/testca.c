/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run.h"
#include "testca.h"

struct TestCA {
        char *dir;
};

/* Our own configuration, so the system's openssl.cnf changes nothing. */
static const char ca_cnf[] =
        "[req]\n"
        "distinguished_name = dn\n"
        "prompt = no\n"
        "[dn]\n"
        "CN = unused\n"
        "[v3_ca]\n"
        "basicConstraints = critical, CA:TRUE\n"
        "keyUsage = critical, keyCertSign, cRLSign\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid:always\n"
        "[leaf]\n"
        "basicConstraints = critical, CA:FALSE\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid:always\n";

int testca_openssl(const char *const *args, char **ret_out) {
        const char *argv[64] = { "openssl" };
        _cleanup_free_ char *out = NULL, *err = NULL;
        size_t n = 1;
        int status, r;

        for (; args[n - 1]; n++) {
                if (n + 1 >= ELEMENTSOF(argv))
                        return -E2BIG;
                argv[n] = args[n - 1];
        }
        argv[n] = NULL;

        r = run(argv, NULL, NULL, 0, &out, &err, &status);
        if (r < 0) {
                fprintf(stderr, "testca: cannot run openssl: %s\n", strerror(-r));
                return r;
        }
        if (status != 0) {
                fprintf(stderr, "testca: openssl %s failed (exit %d):\n%s", args[0], status, err);
                return -EIO;
        }
        if (ret_out)
                *ret_out = TAKE_PTR(out);
        return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        if (type == FTW_DP)
                return rmdir(path) < 0 ? -1 : 0;
        return unlink(path) < 0 ? -1 : 0;
}

TestCA *testca_free(TestCA *ca) {
        if (!ca)
                return NULL;
        if (ca->dir)
                (void) nftw(ca->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(ca->dir);
        free(ca);
        return NULL;
}

const char *testca_dir(const TestCA *ca) {
        return ca->dir;
}

char *testca_path(const TestCA *ca, const char *name) {
        char *p;

        if (asprintf(&p, "%s/%s", ca->dir, name) < 0)
                return NULL;
        return p;
}

int read_file(const char *path, uint8_t **ret, size_t *ret_len) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len = 0, size = 0;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (;;) {
                if (size - len < 4096) {
                        uint8_t *p = realloc(buf, size + 65536);
                        if (!p) {
                                close(fd);
                                return -ENOMEM;
                        }
                        buf = p;
                        size += 65536;
                }
                ssize_t n = read(fd, buf + len, size - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        close(fd);
                        return r;
                }
                if (n == 0)
                        break;
                len += n;
        }
        close(fd);
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

int write_file(const char *path, const void *data, size_t len) {
        FILE *f = fopen(path, "we");
        int r = 0;

        if (!f)
                return -errno;
        if (len > 0 && fwrite(data, 1, len, f) != len)
                r = -EIO;
        if (fclose(f) != 0 && r == 0)
                r = -errno;
        return r;
}

/* "-newkey" arguments for a key algorithm name. */
static int newkey_args(const char *keyalg, const char **ret_newkey, const char **ret_opt) {
        if (streq(keyalg, "p256") || streq(keyalg, "p384")) {
                *ret_newkey = "ec";
                *ret_opt = streq(keyalg, "p256") ? "ec_paramgen_curve:P-256" : "ec_paramgen_curve:P-384";
        } else if (streq(keyalg, "rsa2048") || streq(keyalg, "rsa3072")) {
                *ret_newkey = streq(keyalg, "rsa2048") ? "rsa:2048" : "rsa:3072";
                *ret_opt = "rsa_keygen_pubexp:65537";
        } else
                return -EINVAL;
        return 0;
}

static int make_request(TestCA *ca, const char *name, const char *keyalg, const char *subj) {
        _cleanup_free_ char *cnf = testca_path(ca, "ca.cnf");
        _cleanup_free_ char *key = NULL, *csr = NULL;
        const char *newkey, *opt;
        int r;

        r = newkey_args(keyalg, &newkey, &opt);
        if (r < 0)
                return r;
        if (asprintf(&key, "%s/%s.key", ca->dir, name) < 0 || asprintf(&csr, "%s/%s.csr", ca->dir, name) < 0)
                return -ENOMEM;

        return testca_openssl((const char *[]) { "req", "-new", "-config", cnf, "-newkey", newkey, "-pkeyopt", opt,
                                                 "-nodes", "-keyout", key, "-subj", subj, "-utf8", "-out", csr, NULL },
                              NULL);
}

/* Signs <dir>/<csr> with issuer <dir>/<issuer>.pem/.key into <dir>/<name>.pem. */
static int sign(TestCA *ca, const char *csr, const char *issuer, const char *section, const char *name) {
        _cleanup_free_ char *cnf = testca_path(ca, "ca.cnf"), *serial = testca_path(ca, "serial");
        _cleanup_free_ char *ca_cert = NULL, *ca_key = NULL, *out = NULL;

        if (asprintf(&ca_cert, "%s/%s.pem", ca->dir, issuer) < 0 ||
            asprintf(&ca_key, "%s/%s.key", ca->dir, issuer) < 0 ||
            asprintf(&out, "%s/%s.pem", ca->dir, name) < 0)
                return -ENOMEM;

        return testca_openssl((const char *[]) { "x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key,
                                                 "-CAserial", serial, "-CAcreateserial", "-days", "30",
                                                 "-extfile", cnf, "-extensions", section, "-copy_extensions",
                                                 "copy", "-out", out, NULL },
                              NULL);
}

int testca_new(TestCA **ret) {
        _cleanup_(testca_freep) TestCA *ca = NULL;
        _cleanup_free_ char *cnf = NULL, *key = NULL, *cert = NULL, *csr = NULL;
        const char *tmp = getenv("TMPDIR");
        int r;

        ca = calloc(1, sizeof *ca);
        if (!ca)
                return -ENOMEM;
        if (asprintf(&ca->dir, "%s/jeton-testca-XXXXXX", tmp ?: "/tmp") < 0) {
                ca->dir = NULL;
                return -ENOMEM;
        }
        if (!mkdtemp(ca->dir))
                return -errno;

        cnf = testca_path(ca, "ca.cnf");
        key = testca_path(ca, "root.key");
        cert = testca_path(ca, "root.pem");
        csr = testca_path(ca, "intermediate.csr");
        if (!cnf || !key || !cert || !csr)
                return -ENOMEM;
        r = write_file(cnf, ca_cnf, sizeof ca_cnf - 1);
        if (r < 0)
                return r;

        r = testca_openssl((const char *[]) { "req", "-x509", "-new", "-config", cnf, "-extensions", "v3_ca",
                                              "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                              "-keyout", key, "-subj", "/C=FR/O=Jeton Test/CN=Jeton Test Root",
                                              "-days", "30", "-out", cert, NULL },
                           NULL);
        if (r < 0)
                return r;

        r = make_request(ca, "intermediate", "p256", "/C=FR/O=Jeton Test/CN=Jeton Test Issuing CA");
        if (r < 0)
                return r;
        r = sign(ca, csr, "root", "v3_ca", "intermediate");
        if (r < 0)
                return r;

        *ret = TAKE_PTR(ca);
        return 0;
}

int testca_sign_csr(TestCA *ca, const char *csr_path, const char *name) {
        return sign(ca, csr_path, "intermediate", "leaf", name);
}

int testca_make_leaf(TestCA *ca, const char *name, const char *keyalg, const char *subj) {
        _cleanup_free_ char *csr = NULL;
        int r;

        r = make_request(ca, name, keyalg, subj);
        if (r < 0)
                return r;
        if (asprintf(&csr, "%s/%s.csr", ca->dir, name) < 0)
                return -ENOMEM;
        return testca_sign_csr(ca, csr, name);
}

int testca_cert_ski(const char *cert_path, uint8_t ret[20]) {
        _cleanup_free_ char *out = NULL;
        const char *hex;
        size_t n = 0;
        int r;

        r = testca_openssl((const char *[]) { "x509", "-noout", "-ext", "subjectKeyIdentifier", "-in", cert_path,
                                              NULL },
                           &out);
        if (r < 0)
                return r;
        /* "X509v3 Subject Key Identifier: \n    AB:CD:..." */
        hex = strchr(out, '\n');
        if (!hex)
                return -EBADMSG;
        for (; *hex && n < 20; hex++) {
                unsigned v;

                if (*hex == ':' || *hex == ' ' || *hex == '\n')
                        continue;
                if (sscanf(hex, "%2x", &v) != 1)
                        return -EBADMSG;
                ret[n++] = (uint8_t) v;
                hex++;
        }
        return n == 20 ? 0 : -EBADMSG;
}

int testca_ski_of_public_key(TestCA *ca, const char *pubkey_path, uint8_t ret[20]) {
        _cleanup_free_ char *cnf = testca_path(ca, "ca.cnf"), *serial = testca_path(ca, "serial");
        _cleanup_free_ char *csr = testca_path(ca, "intermediate.csr"), *ca_cert = testca_path(ca, "intermediate.pem");
        _cleanup_free_ char *ca_key = testca_path(ca, "intermediate.key"), *out = testca_path(ca, "ski.pem");
        _cleanup_free_ char *pem = testca_path(ca, "ski-pubkey.pem");
        int r;

        if (!cnf || !serial || !csr || !ca_cert || !ca_key || !out || !pem)
                return -ENOMEM;
        /* Any request does: -force_pubkey replaces its key. */
        r = testca_openssl((const char *[]) { "pkey", "-pubin", "-in", pubkey_path, "-out", pem, NULL }, NULL);
        if (r < 0)
                return r;
        r = testca_openssl((const char *[]) { "x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key,
                                              "-CAserial", serial, "-force_pubkey", pem, "-days", "1", "-extfile",
                                              cnf, "-extensions", "leaf", "-out", out, NULL },
                           NULL);
        if (r < 0)
                return r;
        return testca_cert_ski(out, ret);
}
