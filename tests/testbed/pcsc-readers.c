/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* A tiny PC/SC client for the test bed: lists the readers pcscd knows and
 * their card state, or waits for a reader's card to come or go and prints
 * when pcscd reported it. It honours PCSCLITE_CSOCK_NAME (libpcsclite does).
 *
 *   pcsc-readers                       one line per reader:
 *                                      NAME<TAB>present<TAB>ATR | NAME<TAB>empty
 *   pcsc-readers --wait-change READER  prints "ready present|absent", then
 *                                      "<CLOCK_MONOTONIC s.ns> present|absent"
 *                                      when the card presence flips
 *   pcsc-readers --wait-state READER present|absent
 *                                      returns once the reader is in that state
 *
 * Exit: 0 done, 2 pcscd not reachable, 3 timeout (--timeout MS, default
 * 30000), 4 unknown reader, 1 other error. */

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <PCSC/winscard.h>

#include "macro.h"

#define EXIT_NO_SERVICE 2
#define EXIT_TIMEOUT 3
#define EXIT_UNKNOWN_READER 4

typedef enum Mode {
        MODE_LIST,
        MODE_WAIT_CHANGE,
        MODE_WAIT_STATE,
} Mode;

static Mode arg_mode = MODE_LIST;
static const char *arg_reader;
static bool arg_want_present;
static long arg_timeout_ms = 30000;

static void context_releasep(SCARDCONTEXT *ctx) {
        if (*ctx)
                (void) SCardReleaseContext(*ctx);
}

static int rv_to_exit(LONG rv) {
        switch (rv) {
        case SCARD_E_NO_SERVICE:
        case SCARD_E_SERVICE_STOPPED:
        case SCARD_E_INVALID_HANDLE:
        case SCARD_F_COMM_ERROR:
                return EXIT_NO_SERVICE;
        case SCARD_E_TIMEOUT:
                return EXIT_TIMEOUT;
        case SCARD_E_UNKNOWN_READER:
                return EXIT_UNKNOWN_READER;
        default:
                return EXIT_FAILURE;
        }
}

static int fail(const char *what, LONG rv) {
        fprintf(stderr, "pcsc-readers: %s: %s (0x%lx)\n", what, pcsc_stringify_error(rv),
                (unsigned long) rv);
        return rv_to_exit(rv);
}

static bool is_present(DWORD state) {
        return (state & SCARD_STATE_PRESENT) && !(state & (SCARD_STATE_UNKNOWN | SCARD_STATE_UNAVAILABLE));
}

static void print_reader(const SCARD_READERSTATE *rs) {
        if (!is_present(rs->dwEventState)) {
                printf("%s\tempty\n", rs->szReader);
                return;
        }
        printf("%s\t%s\t", rs->szReader, rs->dwEventState & SCARD_STATE_MUTE ? "mute" : "present");
        for (DWORD i = 0; i < rs->cbAtr && i < sizeof(rs->rgbAtr); i++)
                printf("%02X", rs->rgbAtr[i]);
        putchar('\n');
}

static int list_readers(SCARDCONTEXT ctx) {
        _cleanup_free_ char *names = NULL;
        _cleanup_free_ SCARD_READERSTATE *states = NULL;
        DWORD len = 0, n = 0;
        LONG rv;

        rv = SCardListReaders(ctx, NULL, NULL, &len);
        if (rv == SCARD_E_NO_READERS_AVAILABLE)
                return EXIT_SUCCESS;
        if (rv != SCARD_S_SUCCESS)
                return fail("SCardListReaders", rv);

        names = calloc(len + 1, 1);
        if (!names)
                return EXIT_FAILURE;
        rv = SCardListReaders(ctx, NULL, names, &len);
        if (rv == SCARD_E_NO_READERS_AVAILABLE)
                return EXIT_SUCCESS;
        if (rv != SCARD_S_SUCCESS)
                return fail("SCardListReaders", rv);

        for (const char *p = names; *p; p += strlen(p) + 1)
                n++;
        if (n == 0)
                return EXIT_SUCCESS;
        states = calloc(n, sizeof(*states));
        if (!states)
                return EXIT_FAILURE;
        n = 0;
        for (const char *p = names; *p; p += strlen(p) + 1)
                states[n++] = (SCARD_READERSTATE) { .szReader = p, .dwCurrentState = SCARD_STATE_UNAWARE };

        rv = SCardGetStatusChange(ctx, 0, states, n);
        if (rv != SCARD_S_SUCCESS && rv != SCARD_E_TIMEOUT)
                return fail("SCardGetStatusChange", rv);
        for (DWORD i = 0; i < n; i++)
                print_reader(&states[i]);
        return EXIT_SUCCESS;
}

static long now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void print_event(bool present) {
        struct timespec ts;

        /* CLOCK_MONOTONIC: the same clock as Python's time.monotonic(), so a
         * test can subtract the moment it acted. */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        printf("%lld.%09ld %s\n", (long long) ts.tv_sec, ts.tv_nsec, present ? "present" : "absent");
        fflush(stdout);
}

static int wait_reader(SCARDCONTEXT ctx) {
        SCARD_READERSTATE rs = { .szReader = arg_reader, .dwCurrentState = SCARD_STATE_UNAWARE };
        long deadline = now_ms() + arg_timeout_ms;
        bool initial;
        LONG rv;

        rv = SCardGetStatusChange(ctx, 0, &rs, 1);
        if (rv != SCARD_S_SUCCESS && rv != SCARD_E_TIMEOUT)
                return fail("SCardGetStatusChange", rv);
        if (rs.dwEventState & SCARD_STATE_UNKNOWN)
                return fail(arg_reader, SCARD_E_UNKNOWN_READER);
        initial = is_present(rs.dwEventState);

        if (arg_mode == MODE_WAIT_CHANGE) {
                printf("ready %s\n", initial ? "present" : "absent");
                fflush(stdout);
        } else if (initial == arg_want_present) {
                print_event(initial);
                return EXIT_SUCCESS;
        }

        for (;;) {
                long left = deadline - now_ms();
                bool present;

                if (left <= 0)
                        return fail(arg_reader, SCARD_E_TIMEOUT);
                rs.dwCurrentState = rs.dwEventState & ~SCARD_STATE_CHANGED;
                rv = SCardGetStatusChange(ctx, (DWORD) left, &rs, 1);
                if (rv == SCARD_E_TIMEOUT)
                        continue;
                if (rv != SCARD_S_SUCCESS)
                        return fail("SCardGetStatusChange", rv);
                if (rs.dwEventState & SCARD_STATE_UNKNOWN)
                        return fail(arg_reader, SCARD_E_UNKNOWN_READER);

                present = is_present(rs.dwEventState);
                if (arg_mode == MODE_WAIT_CHANGE ? present != initial : present == arg_want_present) {
                        print_event(present);
                        return EXIT_SUCCESS;
                }
        }
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_WAIT_CHANGE = 0x100, ARG_WAIT_STATE, ARG_TIMEOUT };
        static const struct option options[] = {
                { "wait-change", required_argument, NULL, ARG_WAIT_CHANGE },
                { "wait-state",  required_argument, NULL, ARG_WAIT_STATE  },
                { "timeout",     required_argument, NULL, ARG_TIMEOUT     },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case ARG_WAIT_CHANGE:
                        arg_mode = MODE_WAIT_CHANGE;
                        arg_reader = optarg;
                        break;
                case ARG_WAIT_STATE:
                        arg_mode = MODE_WAIT_STATE;
                        arg_reader = optarg;
                        break;
                case ARG_TIMEOUT: {
                        char *end;

                        errno = 0;
                        arg_timeout_ms = strtol(optarg, &end, 10);
                        if (errno != 0 || *end || arg_timeout_ms < 0) {
                                fprintf(stderr, "pcsc-readers: bad timeout '%s'\n", optarg);
                                return -EINVAL;
                        }
                        break;
                }
                default:
                        return -EINVAL;
                }

        if (arg_mode == MODE_WAIT_STATE) {
                if (optind + 1 != argc || (!streq(argv[optind], "present") && !streq(argv[optind], "absent"))) {
                        fprintf(stderr, "pcsc-readers: --wait-state READER present|absent\n");
                        return -EINVAL;
                }
                arg_want_present = streq(argv[optind], "present");
        } else if (optind != argc) {
                fprintf(stderr, "pcsc-readers: unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }
        return 0;
}

int main(int argc, char *argv[]) {
        _cleanup_(context_releasep) SCARDCONTEXT ctx = 0;
        LONG rv;

        if (parse_argv(argc, argv) < 0)
                return EXIT_FAILURE;

        rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx);
        if (rv != SCARD_S_SUCCESS) {
                ctx = 0;
                return fail("SCardEstablishContext", rv);
        }

        return arg_mode == MODE_LIST ? list_readers(ctx) : wait_reader(ctx);
}
