/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Runs a fuzz target over its seed corpus with the normal compiler, so that
 * `make check` (and check-asan) replays every input found so far. Built as
 * replay-<target>; the corpus is tests/fuzz/corpus/<target>/ under
 * $JETON_TOP (set by tests/run-tests) or the source tree it was built from.
 * Arguments, when given, are files or directories to run instead. */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "macro.h"

#ifndef FUZZ_SOURCE_TOP
#  error "FUZZ_SOURCE_TOP must be defined (see tests/fuzz/build.mk)"
#endif

static int run_file(const char *path) {
        _cleanup_free_ uint8_t *buf = NULL;
        FILE *f = fopen(path, "re");
        long size;

        if (!f) {
                fprintf(stderr, "%s: %m\n", path);
                return -errno;
        }
        if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
                fprintf(stderr, "%s: %m\n", path);
                fclose(f);
                return -EIO;
        }
        buf = malloc((size_t) size + 1);
        if (!buf || fread(buf, 1, (size_t) size, f) != (size_t) size) {
                fprintf(stderr, "%s: cannot read\n", path);
                fclose(f);
                return -EIO;
        }
        fclose(f);
        LLVMFuzzerTestOneInput(buf, (size_t) size);
        return 0;
}

static int compare(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

static int run_path(const char *path, unsigned *count) {
        struct dirent **entries;
        struct stat st;
        int n, r = 0;

        if (stat(path, &st) < 0) {
                fprintf(stderr, "%s: %m\n", path);
                return -errno;
        }
        if (!S_ISDIR(st.st_mode)) {
                (*count)++;
                return run_file(path);
        }

        n = scandir(path, &entries, NULL, compare);
        if (n < 0) {
                fprintf(stderr, "%s: %m\n", path);
                return -errno;
        }
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *file = NULL;

                if (entries[i]->d_name[0] != '.' && r >= 0) {
                        if (asprintf(&file, "%s/%s", path, entries[i]->d_name) < 0)
                                r = -ENOMEM;
                        else {
                                (*count)++;
                                r = run_file(file);
                        }
                }
                free(entries[i]);
        }
        free(entries);
        return r;
}

int main(int argc, char *argv[]) {
        const char *base = strrchr(argv[0], '/'), *top = getenv("JETON_TOP") ?: FUZZ_SOURCE_TOP;
        _cleanup_free_ char *corpus = NULL;
        unsigned count = 0;
        int r;

        base = base ? base + 1 : argv[0];
        if (strncmp(base, "replay-", 7) != 0) {
                fprintf(stderr, "%s: must be called replay-<target>\n", argv[0]);
                return EXIT_FAILURE;
        }

        if (argc > 1) {
                for (int i = 1; i < argc; i++) {
                        r = run_path(argv[i], &count);
                        if (r < 0)
                                return EXIT_FAILURE;
                }
        } else {
                if (asprintf(&corpus, "%s/tests/fuzz/corpus/%s", top, base + 7) < 0)
                        return EXIT_FAILURE;
                r = run_path(corpus, &count);
                if (r < 0)
                        return EXIT_FAILURE;
                if (count == 0) {
                        fprintf(stderr, "%s: empty corpus\n", corpus);
                        return EXIT_FAILURE;
                }
        }
        printf("%s: %u inputs replayed\n", base + 7, count);
        return EXIT_SUCCESS;
}
