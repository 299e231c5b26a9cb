/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The store's speed with its real settings (WAL, synchronous=FULL: one fsync
 * per commit), on the file system of $JETON_BENCH_DIR (default $TMPDIR or
 * /tmp): order inserts, state changes (each with its audit record, one
 * transaction each), a bulk import, and verifying an audit log of 10,000
 * records. Prints figures; asserts nothing about them. */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>
#include <sqlite3.h>

#include "store.h"
#include "util.h"

#define N_ORDERS 1000
#define N_IMPORT 5000
#define N_AUDIT 10000

static double now_sec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static const char *fs_name(const char *dir) {
        struct statfs sf;

        if (statfs(dir, &sf) < 0)
                return "?";
        switch (sf.f_type) {
        case EXT4_SUPER_MAGIC:
                return "ext4";
        case TMPFS_MAGIC:
                return "tmpfs";
        case XFS_SUPER_MAGIC:
                return "xfs";
        case BTRFS_SUPER_MAGIC:
                return "btrfs";
        case OVERLAYFS_SUPER_MAGIC:
                return "overlayfs";
        default:
                return "other";
        }
}

static int fail(const char *what, const StoreError *error) {
        fprintf(stderr, "%s: %s\n", what, error->message);
        return EXIT_FAILURE;
}

static Order *make_order(const char *prefix, unsigned i) {
        Order *o = order_new();

        if (!o || asprintf(&o->reference, "%s%06u", prefix, i) < 0)
                abort();
        o->ca = strdup("Certinomis");
        o->product = strdup("OPE-AES-CAP-1A");
        o->profile = strdup("certinomis-decideur");
        o->validity_years = 1;
        o->holder.given_name = strdup("Camille");
        o->holder.surname = strdup("Dupont");
        o->holder.email = strdup("camille.dupont@example.fr");
        o->organisation.name = strdup("Exemple SARL");
        o->organisation.siret = strdup("12345678200002");
        return o;
}

static void print_rate(const char *what, unsigned n, double seconds) {
        printf("  %-44s %8.0f /s  (%u in %.3f s, %.3f ms each)\n", what, n / seconds, n, seconds,
               seconds * 1e3 / n);
}

static void remove_dir(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;

        if (d) {
                while ((de = readdir(d)))
                        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                                (void) unlinkat(dirfd(d), de->d_name, 0);
                closedir(d);
        }
        (void) rmdir(dir);
}

static int bench(const char *path) {
        static const StoreActor actor = { .uid = 1000, .name = "bench" };
        _cleanup_(store_closep) Store *s = NULL;
        StoreError error = {};
        Order **batch;
        uint64_t bad, head;
        _cleanup_free_ char *head_hash = NULL;
        double t;

        if (store_open(path, &s, &error) < 0)
                return fail("store_open", &error);

        t = now_sec();
        for (unsigned i = 0; i < N_ORDERS; i++) {
                _cleanup_(order_freep) Order *o = make_order("BD", i);

                if (store_order_add(s, &actor, o, &error) < 0)
                        return fail("store_order_add", &error);
        }
        print_rate("order insert (one transaction each)", N_ORDERS, now_sec() - t);

        t = now_sec();
        for (unsigned i = 0; i < N_ORDERS; i++) {
                char ref[16], key_id[16];
                StoreKeyRecord key = {
                        .key_id_hex = key_id,
                        .label = ref,
                        .algorithm = "rsa:3072",
                        .evidence = { true, true, true, (char *) "SoftHSM project", (char *) "SoftHSM v2",
                                      (char *) "0123456789abcdef" },
                };

                snprintf(ref, sizeof(ref), "BD%06u", i);
                snprintf(key_id, sizeof(key_id), "%08x", i);
                if (store_order_record_key(s, &actor, ref, &key,
                                           "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n"
                                           "-----END CERTIFICATE REQUEST-----\n",
                                           &error) < 0)
                        return fail("store_order_record_key", &error);
        }
        print_rate("key + request recorded (-> key-generated)", N_ORDERS, now_sec() - t);

        t = now_sec();
        for (unsigned i = 0; i < N_ORDERS; i++) {
                char ref[16];

                snprintf(ref, sizeof(ref), "BD%06u", i);
                if (store_order_set_state(s, &actor, ref, ORDER_SUBMITTED, NULL, NULL, &error) < 0)
                        return fail("store_order_set_state", &error);
        }
        print_rate("state change (-> submitted)", N_ORDERS, now_sec() - t);

        batch = calloc(N_IMPORT, sizeof(Order *));
        if (!batch)
                abort();
        for (unsigned i = 0; i < N_IMPORT; i++)
                batch[i] = make_order("IM", i);
        t = now_sec();
        if (store_orders_import(s, &actor, batch, N_IMPORT, &error) < 0)
                return fail("store_orders_import", &error);
        print_rate("bulk import (one transaction)", N_IMPORT, now_sec() - t);
        for (unsigned i = 0; i < N_IMPORT; i++)
                order_free(batch[i]);
        free(batch);

        if (store_audit_head(s, &head, &head_hash, &error) < 0)
                return fail("store_audit_head", &error);
        for (uint64_t i = head; i < N_AUDIT; i++)
                if (store_audit_append(s, &actor,
                                       &(StoreAuditEntry) { .action = "token-detected",
                                                            .token_serial = "0123456789abcdef",
                                                            .result = "ok" },
                                       &error) < 0)
                        return fail("store_audit_append", &error);
        head_hash = mfree(head_hash);
        if (store_audit_head(s, &head, &head_hash, &error) < 0)
                return fail("store_audit_head", &error);

        t = now_sec();
        if (store_audit_verify(s, &bad, &error) < 0)
                return fail("store_audit_verify", &error);
        t = now_sec() - t;
        printf("  %-44s %8.1f ms  (%llu records, %.0f records/s)\n", "audit chain verify", t * 1e3,
               (unsigned long long) head, head / t);
        return 0;
}

int main(void) {
        const char *base = getenv("JETON_BENCH_DIR") ?: getenv("TMPDIR") ?: "/tmp";
        char *dir = NULL, *path = NULL;
        int r;

        if (asprintf(&dir, "%s/jeton-bench-store-XXXXXX", base) < 0 || !mkdtemp(dir) ||
            asprintf(&path, "%s/jeton.db", dir) < 0) {
                perror("bench-store: temporary directory");
                return EXIT_FAILURE;
        }
        printf("store: SQLite %s, WAL, synchronous=FULL, on %s (%s)\n", sqlite3_libversion(), base,
               fs_name(dir));
        r = bench(path);
        remove_dir(dir);
        free(path);
        free(dir);
        return r;
}
