/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What a batch hands to the operator, in its own directory
 * <outbox>/batch-<id>/: each order's request as <REFERENCE>.csr (PEM), the
 * manifest as manifest.csv and manifest.json, and every request in one
 * ustar archive, csrs.tar, for the upload to the CA. Every file is written
 * whole to a temporary name and renamed, so a reader never sees half of
 * one. Nothing here logs; errors are negative errno. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct BatchManifestLine {
        const char *reference;
        const char *token_serial;
        const char *token_label;
        const char *key_id;             /* CKA_ID, lower-case hex */
        const char *csr_file;           /* its path */
        bool local, always_sensitive, never_extractable;
        const char *operator_name;
        uint64_t time_usec;             /* CLOCK_REALTIME */
} BatchManifestLine;

/* Creates dir (mode 0755) if needed. */
int batch_output_mkdir(const char *dir);
/* dir/<reference>.csr; *ret_path (may be NULL) malloc'd. */
int batch_output_write_csr(const char *dir, const char *reference, const char *pem, char **ret_path);
/* dir/manifest.csv and dir/manifest.json, the lines in the given order. */
int batch_output_write_manifest(const char *dir, const BatchManifestLine *lines, size_t n);
/* dir/csrs.tar holding dir/<references[i]>.csr as <references[i]>.csr. */
int batch_output_write_archive(const char *dir, char *const *references, size_t n);

/* Exposed for tests: RFC 4180 quoting when needed, malloc'd. */
char *batch_csv_field(const char *s);
