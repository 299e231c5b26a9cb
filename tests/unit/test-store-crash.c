/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Crash safety: a child process runs a fixed script of store operations and
 * dies by SIGKILL part way; the parent then reopens the database and checks
 * that it is sound (integrity_check, foreign keys, the audit chain), that
 * every order's state agrees with what is recorded for it, and that the data
 * is exactly what the script leaves after the operations the child reported
 * done, or after one more (the one in flight may have committed before it
 * could report).
 *
 * No timing decides where the child dies:
 *  - the parent kills it after it has reported N operations through a pipe
 *    (it is then somewhere in operation N + 1 or later);
 *  - or the child runs on a shim VFS that sends SIGKILL to itself at its
 *    N-th write, truncate or sync: a death at every I/O step of the schema
 *    creation, of commits and of the final checkpoint. */

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include "store-test.h"

#define GROUPS 8
#define ORDERS_PER_GROUP 4
#define OPS_PER_GROUP (1 + 4 * ORDERS_PER_GROUP)
#define TOTAL_OPS (GROUPS * OPS_PER_GROUP)
#define N_ORDERS (GROUPS * ORDERS_PER_GROUP)

/* Generous: only there so that a stuck child fails the test instead of
 * hanging it. */
#define REPORT_TIMEOUT_MS (10 * 60 * 1000)

/* ---- the script ------------------------------------------------------------
 *
 * Per group g of four orders Cg-0..Cg-3: one import of the four, then four
 * rounds over them: record the key; submit (Cg-2 fails instead); record the
 * certificate (Cg-2: a job is added); install (Cg-2: its job is done, Cg-3
 * is cancelled). */

typedef enum Step { STEP_IMPORT, STEP_KEY, STEP_SUBMIT, STEP_CERT, STEP_INSTALL } Step;

typedef struct Op {
        Step step;
        unsigned group, j;
} Op;

static Op op_at(unsigned k) {
        unsigned g = k / OPS_PER_GROUP, i = k % OPS_PER_GROUP;

        if (i == 0)
                return (Op) { STEP_IMPORT, g, 0 };
        return (Op) { STEP_KEY + (i - 1) / ORDERS_PER_GROUP, g, (i - 1) % ORDERS_PER_GROUP };
}

static void reference(unsigned g, unsigned j, char buf[static 16]) {
        snprintf(buf, 16, "C%u-%u", g, j);
}

/* What the database holds after the first n operations. */
typedef struct Expect {
        int order[N_ORDERS];            /* OrderState, -1: absent */
        const char *job[GROUPS];        /* state of group g's job, NULL: none */
        unsigned audit;
} Expect;

static void expect_after(unsigned n, Expect *e) {
        *e = (Expect) {};
        for (unsigned i = 0; i < N_ORDERS; i++)
                e->order[i] = -1;

        for (unsigned k = 0; k < n; k++) {
                Op op = op_at(k);
                int *st = &e->order[op.group * ORDERS_PER_GROUP + op.j];

                switch (op.step) {
                case STEP_IMPORT:
                        for (unsigned j = 0; j < ORDERS_PER_GROUP; j++)
                                e->order[op.group * ORDERS_PER_GROUP + j] = ORDER_PENDING;
                        e->audit += ORDERS_PER_GROUP;
                        continue;
                case STEP_KEY:
                        *st = ORDER_KEY_GENERATED;
                        break;
                case STEP_SUBMIT:
                        *st = op.j == 2 ? ORDER_FAILED : ORDER_SUBMITTED;
                        break;
                case STEP_CERT:
                        if (op.j == 2)
                                e->job[op.group] = "queued";
                        else
                                *st = ORDER_CERTIFICATE_RECEIVED;
                        break;
                case STEP_INSTALL:
                        if (op.j == 2)
                                e->job[op.group] = "done";
                        else
                                *st = op.j == 3 ? ORDER_CANCELLED : ORDER_INSTALLED;
                        break;
                }
                e->audit++;
        }
}

static int run_op(Store *s, unsigned k, StoreError *error) {
        static const StoreActor actor = { .uid = 1000, .name = "fulfilment" };
        Op op = op_at(k);
        char ref[16], key_id[16];
        int r;

        reference(op.group, op.j, ref);
        switch (op.step) {
        case STEP_IMPORT: {
                Order *batch[ORDERS_PER_GROUP] = {};

                for (unsigned j = 0; j < ORDERS_PER_GROUP; j++) {
                        reference(op.group, j, ref);
                        batch[j] = order_new();
                        if (!batch[j] || !(batch[j]->reference = strdup(ref)))
                                return -ENOMEM;
                        batch[j]->validity_years = 2;
                }
                r = store_orders_import(s, &actor, batch, ORDERS_PER_GROUP, error);
                for (unsigned j = 0; j < ORDERS_PER_GROUP; j++)
                        order_free(batch[j]);
                return r;
        }
        case STEP_KEY: {
                StoreKeyRecord key;

                snprintf(key_id, sizeof(key_id), "%04x", k);
                key = store_test_key(key_id, ref, "crash-token");
                return store_order_record_key(s, &actor, ref, &key, TEST_CSR_PEM, error);
        }
        case STEP_SUBMIT:
                if (op.j == 2)
                        return store_order_set_state(s, &actor, ref, ORDER_FAILED, "submit", "refused by the CA",
                                                     error);
                return store_order_set_state(s, &actor, ref, ORDER_SUBMITTED, NULL, NULL, error);
        case STEP_CERT:
                if (op.j == 2)
                        return store_job_add(s, &actor,
                                             &(StoreJob) { .kind = (char *) "generate", .order_reference = ref,
                                                           .state = (char *) "queued" },
                                             NULL, error);
                {
                        StoreCertificateRecord cert = store_test_cert();

                        return store_order_record_certificate(s, &actor, ref, &cert, error);
                }
        case STEP_INSTALL:
                if (op.j == 2)
                        /* jobs are numbered 1, 2, ... in group order */
                        return store_job_update(s, &actor,
                                                &(StoreJob) { .id = op.group + 1, .kind = (char *) "generate",
                                                              .state = (char *) "done", .percent = 100,
                                                              .result = (char *) "ok" },
                                                error);
                if (op.j == 3)
                        return store_order_set_state(s, &actor, ref, ORDER_CANCELLED, NULL, NULL, error);
                return store_order_mark_installed(s, &actor, ref, error);
        }
        return -EINVAL;
}

/* ---- a VFS that dies at its N-th write ------------------------------------- */

typedef struct CrashFile {
        sqlite3_file base;
        sqlite3_file *real;
} CrashFile;

static sqlite3_vfs *real_vfs;
static sqlite3_vfs crash_vfs;
static unsigned long crash_at;          /* 0: never */
static unsigned long crash_ticks;

static void crash_tick(void) {
        crash_ticks++;
        if (crash_at > 0 && crash_ticks >= crash_at)
                (void) raise(SIGKILL);
}

#define REAL(f) (((CrashFile *) (f))->real)

static int crash_close(sqlite3_file *f) {
        return REAL(f)->pMethods->xClose(REAL(f));
}
static int crash_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off) {
        return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}
static int crash_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off) {
        crash_tick();
        return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}
static int crash_truncate(sqlite3_file *f, sqlite3_int64 size) {
        crash_tick();
        return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int crash_sync(sqlite3_file *f, int flags) {
        crash_tick();
        return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int crash_file_size(sqlite3_file *f, sqlite3_int64 *size) {
        return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int crash_lock(sqlite3_file *f, int lock) {
        return REAL(f)->pMethods->xLock(REAL(f), lock);
}
static int crash_unlock(sqlite3_file *f, int lock) {
        return REAL(f)->pMethods->xUnlock(REAL(f), lock);
}
static int crash_check_reserved(sqlite3_file *f, int *out) {
        return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int crash_file_control(sqlite3_file *f, int op, void *arg) {
        return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int crash_sector_size(sqlite3_file *f) {
        return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int crash_device_characteristics(sqlite3_file *f) {
        return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int crash_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **p) {
        return REAL(f)->pMethods->xShmMap(REAL(f), region, size, extend, p);
}
static int crash_shm_lock(sqlite3_file *f, int offset, int n, int flags) {
        return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}
static void crash_shm_barrier(sqlite3_file *f) {
        REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int crash_shm_unmap(sqlite3_file *f, int delete_flag) {
        return REAL(f)->pMethods->xShmUnmap(REAL(f), delete_flag);
}
static int crash_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **p) {
        return REAL(f)->pMethods->xFetch(REAL(f), off, n, p);
}
static int crash_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p) {
        return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods crash_io = {
        .iVersion = 3,
        .xClose = crash_close,
        .xRead = crash_read,
        .xWrite = crash_write,
        .xTruncate = crash_truncate,
        .xSync = crash_sync,
        .xFileSize = crash_file_size,
        .xLock = crash_lock,
        .xUnlock = crash_unlock,
        .xCheckReservedLock = crash_check_reserved,
        .xFileControl = crash_file_control,
        .xSectorSize = crash_sector_size,
        .xDeviceCharacteristics = crash_device_characteristics,
        .xShmMap = crash_shm_map,
        .xShmLock = crash_shm_lock,
        .xShmBarrier = crash_shm_barrier,
        .xShmUnmap = crash_shm_unmap,
        .xFetch = crash_fetch,
        .xUnfetch = crash_unfetch,
};

static int crash_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags) {
        CrashFile *cf = (CrashFile *) file;
        int rc;

        cf->real = (sqlite3_file *) (cf + 1);
        rc = real_vfs->xOpen(real_vfs, name, cf->real, flags, out_flags);
        /* SQLite closes a file whose pMethods is set, even after an error */
        cf->base.pMethods = cf->real->pMethods ? &crash_io : NULL;
        return rc;
}

/* In the child: every connection from now on goes through the shim. */
static void crash_vfs_install(unsigned long at) {
        real_vfs = sqlite3_vfs_find(NULL);
        if (!real_vfs || real_vfs->iVersion < 3)
                _exit(10);
        /* The unix VFS's other methods do not depend on which sqlite3_vfs
         * they are called through. */
        crash_vfs = *real_vfs;
        crash_vfs.zName = "jeton-crash";
        crash_vfs.szOsFile = (int) sizeof(CrashFile) + real_vfs->szOsFile;
        crash_vfs.xOpen = crash_open;
        crash_vfs.pNext = NULL;
        crash_at = at;
        if (sqlite3_vfs_register(&crash_vfs, 1) != SQLITE_OK)
                _exit(11);
}

/* ---- the child ----------------------------------------------------------------- */

/* Runs the script, writing the number of operations done after each one;
 * at the end (if it gets there) a 0 and the number of I/O ticks. */
static _Noreturn void child(const char *path, int fd, bool shim, unsigned long crash_write_at) {
        Store *s = NULL;
        StoreError error = {};
        uint32_t msg;

        if (shim)
                crash_vfs_install(crash_write_at);
        if (store_open(path, &s, &error) < 0) {
                fprintf(stderr, "child: store_open: %s\n", error.message);
                _exit(3);
        }
        for (unsigned k = 0; k < TOTAL_OPS; k++) {
                if (run_op(s, k, &error) < 0) {
                        fprintf(stderr, "child: operation %u: %s\n", k, error.message);
                        _exit(4);
                }
                msg = k + 1;
                if (write(fd, &msg, sizeof(msg)) != sizeof(msg))
                        _exit(5);
        }
        store_close(s);         /* the last connection: a checkpoint */
        msg = 0;
        if (write(fd, &msg, sizeof(msg)) != sizeof(msg))
                _exit(5);
        msg = (uint32_t) crash_ticks;
        if (write(fd, &msg, sizeof(msg)) != sizeof(msg))
                _exit(5);
        _exit(0);
}

typedef struct Outcome {
        unsigned done;          /* operations reported done */
        bool finished;          /* the child got to the end */
        unsigned long ticks;    /* its I/O ticks, if finished */
        bool killed;
} Outcome;

/* Reads one report; false at EOF. */
static bool read_report(int fd, uint32_t *ret) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        size_t got = 0;

        while (got < sizeof(*ret)) {
                ssize_t n;

                assert_int_equal(poll(&p, 1, REPORT_TIMEOUT_MS), 1);
                n = read(fd, (uint8_t *) ret + got, sizeof(*ret) - got);
                assert_true(n >= 0);
                if (n == 0) {
                        assert_int_equal(got, 0);
                        return false;
                }
                got += (size_t) n;
        }
        return true;
}

/* Runs the child; kill_after > 0: SIGKILL it once it reported that many
 * operations; shim: run it on the crashing VFS. */
static Outcome run_child(const char *path, unsigned kill_after, bool shim, unsigned long crash_write_at) {
        Outcome out = {};
        int fds[2], status;
        bool ticks_next = false;
        uint32_t msg;
        pid_t pid;

        assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
        fflush(NULL);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(fds[0]);
                child(path, fds[1], shim, crash_write_at);
        }
        close(fds[1]);

        if (kill_after == 0 && !shim)
                assert_int_equal(kill(pid, SIGKILL), 0);
        while (read_report(fds[0], &msg)) {
                if (ticks_next) {
                        out.ticks = msg;
                        continue;
                }
                if (msg == 0) {
                        out.finished = true;
                        ticks_next = true;
                        continue;
                }
                assert_int_equal(msg, out.done + 1);
                out.done = msg;
                if (!shim && kill_after > 0 && out.done == kill_after)
                        assert_int_equal(kill(pid, SIGKILL), 0);
        }
        close(fds[0]);

        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFSIGNALED(status)) {
                assert_int_equal(WTERMSIG(status), SIGKILL);
                out.killed = true;
        } else {
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                        fail_msg("the child failed: status 0x%x", (unsigned) status);
                assert_true(out.finished);
        }
        return out;
}

/* A process that dies keeps every write that returned (they are in the page
 * cache), fsync or not: what the disk does is not what this test is about,
 * and tmpfs spares it thousands of fsyncs (synchronous=FULL). */
static char *crash_dir(void) {
        return store_test_dir_in(access("/dev/shm", W_OK) == 0 ? "/dev/shm" : NULL);
}

/* ---- the checks ---------------------------------------------------------------- */

static bool matches(Store *s, const Expect *e) {
        Order **orders = NULL;
        StoreJob **jobs = NULL;
        StoreError error = {};
        size_t n_orders, n_jobs, want_orders = 0, want_jobs = 0;
        bool ok = true;

        if (store_order_list(s, _ORDER_STATE_INVALID, &orders, &n_orders, &error) < 0)
                fail_msg("store_order_list: %s", error.message);
        if (store_job_list(s, NULL, &jobs, &n_jobs, &error) < 0)
                fail_msg("store_job_list: %s", error.message);

        for (unsigned i = 0; i < N_ORDERS; i++)
                want_orders += e->order[i] >= 0;
        for (unsigned g = 0; g < GROUPS; g++)
                want_jobs += e->job[g] != NULL;
        ok = n_orders == want_orders && n_jobs == want_jobs;

        for (size_t i = 0; ok && i < n_orders; i++) {
                unsigned g, j;

                ok = sscanf(orders[i]->reference, "C%u-%u", &g, &j) == 2 && g < GROUPS && j < ORDERS_PER_GROUP &&
                     e->order[g * ORDERS_PER_GROUP + j] == (int) orders[i]->state;
        }
        for (size_t i = 0; ok && i < n_jobs; i++)
                ok = jobs[i]->id >= 1 && jobs[i]->id <= GROUPS && e->job[jobs[i]->id - 1] &&
                     streq(e->job[jobs[i]->id - 1], jobs[i]->state);

        store_order_list_free(orders);
        store_job_list_free(jobs);
        return ok;
}

/* An order's state must agree with what is recorded for it. */
static void check_consistency(const char *path) {
        static const char *const violations[] = {
                /* a key and its request from key-generated on */
                "SELECT count(*) FROM orders o WHERE o.state IN ('key-generated', 'submitted', "
                "'certificate-received', 'installed') AND NOT EXISTS (SELECT 1 FROM keys k JOIN requests r "
                "ON r.key_id = k.id WHERE k.id = o.key_id AND k.order_reference = o.reference)",
                /* a certificate for that key from certificate-received on */
                "SELECT count(*) FROM orders o WHERE o.state IN ('certificate-received', 'installed') "
                "AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.key_id = o.key_id)",
                /* installed: the certificate is marked so, with a time */
                "SELECT count(*) FROM orders o WHERE o.state = 'installed' AND NOT EXISTS (SELECT 1 FROM "
                "certificates c WHERE c.key_id = o.key_id AND c.installed = 1 AND c.installed_usec > 0)",
                "SELECT count(*) FROM certificates c JOIN orders o ON o.reference = c.order_reference "
                "WHERE c.installed = 1 AND o.state <> 'installed'",
                /* pending: no key yet */
                "SELECT count(*) FROM orders WHERE state = 'pending' AND key_id IS NOT NULL",
                /* failed: step and reason; nobody else has them */
                "SELECT count(*) FROM orders WHERE (state = 'failed') <> (failed_step IS NOT NULL AND "
                "failed_reason IS NOT NULL)",
                /* no key, request or certificate without its order's state moving */
                "SELECT count(*) FROM keys k JOIN orders o ON o.reference = k.order_reference "
                "WHERE o.state = 'pending'",
                "SELECT count(*) FROM certificates c JOIN orders o ON o.reference = c.order_reference "
                "WHERE o.state IN ('pending', 'key-generated', 'submitted')",
                "SELECT count(*) FROM pragma_foreign_key_check",
                /* the audit head is the last record */
                "SELECT (SELECT last_id FROM audit_head) <> (SELECT COALESCE(MAX(id), 0) FROM audit)",
        };
        sqlite3 *db = raw_open(path);
        _cleanup_free_ char *integrity = raw_text(db, "PRAGMA integrity_check");

        assert_string_equal(integrity, "ok");
        for (size_t i = 0; i < ELEMENTSOF(violations); i++)
                if (raw_int(db, "%s", violations[i]) != 0)
                        fail_msg("inconsistent after a crash: %s", violations[i]);
        sqlite3_close(db);
}

/* Reopens what the child left and checks it; returns how many operations
 * turned out committed. */
static unsigned check_after_crash(const char *path, const Outcome *out) {
        _cleanup_(store_closep) Store *s = NULL;
        StoreError error = {};
        Expect before, after;
        uint64_t bad = 0;
        unsigned committed = 0;

        if (access(path, F_OK) < 0)     /* died before creating the file */
                return 0;

        if (store_open(path, &s, &error) < 0)
                fail_msg("reopening after the crash: %s", error.message);
        check_consistency(path);
        if (store_audit_verify(s, &bad, &error) < 0)
                fail_msg("the audit chain breaks at %llu: %s", (unsigned long long) bad, error.message);

        /* what the child reported is there; at most one more operation */
        expect_after(out->done, &before);
        expect_after(out->done < TOTAL_OPS ? out->done + 1 : out->done, &after);
        if (matches(s, &before) && audit_count(path) == before.audit)
                committed = out->done;
        else if (matches(s, &after) && audit_count(path) == after.audit)
                committed = out->done + 1;
        else
                fail_msg("after %u operations reported done, the database holds neither their result nor "
                         "that of one more (%lld audit records)",
                         out->done, (long long) audit_count(path));

        /* and it goes on working */
        assert_int_equal(store_audit_append(s, NULL, &(StoreAuditEntry) { .action = "daemon-start", .result = "ok" },
                                            &error),
                         0);
        assert_int_equal(store_audit_verify(s, NULL, &error), 0);
        return committed;
}

static void test_killed_after_n_operations(void **state) {
        static const unsigned points[] = { 0, 1, 2, 3, 5, 8, 13, 17, 18, 21, 34, 55, 89, TOTAL_OPS - 1 };
        unsigned in_flight = 0;

        for (size_t i = 0; i < ELEMENTSOF(points); i++) {
                char *dir = crash_dir(), *path = store_test_path(dir, "jeton.db");
                Outcome out = run_child(path, points[i], false, 0);
                unsigned committed;

                assert_true(out.done >= points[i]);
                committed = check_after_crash(path, &out);
                in_flight += committed > out.done;
                free(path);
                store_test_dir_remove(dir);
        }
        print_message("killed at %zu points; %u times the operation in flight had committed\n",
                      ELEMENTSOF(points), in_flight);
}

static void test_killed_at_nth_write(void **state) {
        char *dir = crash_dir(), *path = store_test_path(dir, "jeton.db");
        Outcome calibration = run_child(path, 0, true, 0);
        unsigned long ticks = calibration.ticks, step;
        unsigned runs = 0, killed = 0, in_open = 0, in_flight = 0;

        /* a run that nobody kills: its count of I/O steps */
        assert_true(calibration.finished);
        assert_int_equal(calibration.done, TOTAL_OPS);
        assert_true(ticks > TOTAL_OPS);
        check_after_crash(path, &calibration);
        free(path);
        store_test_dir_remove(dir);

        /* Every step of the schema's creation and of the first operations,
         * then some 40 points spread over the rest, the final checkpoint
         * included. */
        step = ticks / 40 ?: 1;
        for (unsigned long at = 1; at <= ticks; at += at < 40 ? 1 : step) {
                Outcome out;

                dir = crash_dir();
                path = store_test_path(dir, "jeton.db");
                out = run_child(path, 0, true, at);
                in_flight += check_after_crash(path, &out) > out.done;
                in_open += out.done == 0;
                runs++;
                killed += out.killed;
                free(path);
                store_test_dir_remove(dir);
        }
        assert_int_equal(killed, runs);
        /* both outcomes of the operation in flight were seen */
        assert_true(in_flight > 0);
        assert_true(in_flight < runs - in_open);
        print_message("%lu I/O steps in a run; killed at %u of them (%u before the first operation); "
                      "%u times the operation in flight had committed\n",
                      ticks, runs, in_open, in_flight);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_killed_after_n_operations),
                cmocka_unit_test(test_killed_at_nth_write),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
