/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>

#include "batch-output.h"
#include "util.h"

int batch_output_mkdir(const char *dir) {
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static int write_all(int fd, const void *p, size_t n) {
        const uint8_t *b = p;

        while (n > 0) {
                ssize_t k = write(fd, b, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                b += k;
                n -= (size_t) k;
        }
        return 0;
}

/* Writes path atomically: "<path>.tmp", fsync, rename. */
static int write_file(const char *path, const void *data, size_t size) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (asprintf(&tmp, "%s.tmp", path) < 0)
                return -ENOMEM;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return -errno;
        r = write_all(fd, data, size);
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

int batch_output_write_csr(const char *dir, const char *reference, const char *pem, char **ret_path) {
        _cleanup_free_ char *path = NULL;
        int r;

        if (asprintf(&path, "%s/%s.csr", dir, reference) < 0)
                return -ENOMEM;
        r = write_file(path, pem, strlen(pem));
        if (r < 0)
                return r;
        if (ret_path)
                *ret_path = TAKE_PTR(path);
        return 0;
}

char *batch_csv_field(const char *s) {
        size_t n = 0;
        char *out, *p;

        s = strempty(s);
        if (!strpbrk(s, ",\"\r\n"))
                return strdup(s);
        for (const char *i = s; *i; i++)
                n += *i == '"' ? 2 : 1;
        out = malloc(n + 3);
        if (!out)
                return NULL;
        p = out;
        *p++ = '"';
        for (const char *i = s; *i; i++) {
                if (*i == '"')
                        *p++ = '"';
                *p++ = *i;
        }
        *p++ = '"';
        *p = 0;
        return out;
}

static void iso8601(uint64_t usec, char buf[static 32]) {
        time_t t = (time_t) (usec / 1000000);
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                strcpy(buf, "");
}

static int manifest_csv(const BatchManifestLine *lines, size_t n, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;
        int r = 0;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        fputs("reference,token_serial,token_label,key_id,csr_file,local,always_sensitive,never_extractable,"
              "operator,time\r\n", f);
        for (size_t i = 0; i < n && r == 0; i++) {
                const BatchManifestLine *l = lines + i;
                const char *fields[] = { l->reference, l->token_serial, l->token_label, l->key_id, l->csr_file };
                char when[32];

                for (size_t k = 0; k < ELEMENTSOF(fields); k++) {
                        _cleanup_free_ char *q = batch_csv_field(fields[k]);

                        if (!q) {
                                r = -ENOMEM;
                                break;
                        }
                        fprintf(f, "%s,", q);
                }
                if (r < 0)
                        break;
                _cleanup_free_ char *op = batch_csv_field(l->operator_name);
                if (!op) {
                        r = -ENOMEM;
                        break;
                }
                iso8601(l->time_usec, when);
                fprintf(f, "%s,%s,%s,%s,%s\r\n", l->local ? "true" : "false",
                        l->always_sensitive ? "true" : "false", l->never_extractable ? "true" : "false", op, when);
        }
        if (fclose(f) != 0 && r == 0)
                r = -ENOMEM;
        if (r < 0)
                return r;
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

static int add_string(json_object *o, const char *key, const char *value) {
        json_object *v = json_object_new_string(strempty(value));

        if (!v || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static int add_bool(json_object *o, const char *key, bool value) {
        json_object *v = json_object_new_boolean(value);

        if (!v || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static int manifest_json(const BatchManifestLine *lines, size_t n, char **ret) {
        json_object *array = json_object_new_array();
        int r = 0;

        if (!array)
                return -ENOMEM;
        for (size_t i = 0; i < n && r == 0; i++) {
                const BatchManifestLine *l = lines + i;
                json_object *o = json_object_new_object(), *ev = json_object_new_object();
                char when[32];

                iso8601(l->time_usec, when);
                if (!o || !ev)
                        r = -ENOMEM;
                if (r == 0)
                        r = add_string(o, "reference", l->reference) ?: add_string(o, "token_serial", l->token_serial) ?:
                            add_string(o, "token_label", l->token_label) ?: add_string(o, "key_id", l->key_id) ?:
                            add_string(o, "csr_file", l->csr_file) ?: add_bool(ev, "local", l->local) ?:
                            add_bool(ev, "always_sensitive", l->always_sensitive) ?:
                            add_bool(ev, "never_extractable", l->never_extractable);
                if (r == 0) {
                        if (json_object_object_add(o, "evidence", ev) < 0)
                                r = -ENOMEM;
                        else
                                ev = NULL;
                }
                if (r == 0)
                        r = add_string(o, "operator", l->operator_name) ?: add_string(o, "time", when);
                if (r == 0 && json_object_array_add(array, o) < 0)
                        r = -ENOMEM;
                else if (r == 0)
                        o = NULL;
                json_object_put(ev);
                json_object_put(o);
        }
        if (r == 0) {
                const char *s = json_object_to_json_string_ext(array, JSON_C_TO_STRING_PRETTY |
                                                                              JSON_C_TO_STRING_NOSLASHESCAPE);
                if (!s || asprintf(ret, "%s\n", s) < 0)
                        r = -ENOMEM;
        }
        json_object_put(array);
        return r;
}

int batch_output_write_manifest(const char *dir, const BatchManifestLine *lines, size_t n) {
        _cleanup_free_ char *csv = NULL, *json = NULL, *csv_path = NULL, *json_path = NULL;
        size_t csv_size = 0;
        int r;

        if (asprintf(&csv_path, "%s/manifest.csv", dir) < 0 || asprintf(&json_path, "%s/manifest.json", dir) < 0)
                return -ENOMEM;
        r = manifest_csv(lines, n, &csv, &csv_size);
        if (r < 0)
                return r;
        r = manifest_json(lines, n, &json);
        if (r < 0)
                return r;
        r = write_file(csv_path, csv, csv_size);
        if (r < 0)
                return r;
        return write_file(json_path, json, strlen(json));
}

/* ---- ustar ---------------------------------------------------------------- */

#define TAR_BLOCK 512

static void tar_octal(char *field, size_t size, uint64_t value) {
        /* size - 1 digits, zero-padded, then NUL */
        snprintf(field, size, "%0*llo", (int) size - 1, (unsigned long long) value);
}

static int tar_header(uint8_t block[static TAR_BLOCK], const char *name, uint64_t size, uint64_t mtime) {
        unsigned sum = 0;

        /* Our names are "<REFERENCE>.csr", short and plain ASCII. */
        if (strlen(name) >= 100)
                return -ENAMETOOLONG;
        memset(block, 0, TAR_BLOCK);
        memcpy(block, name, strlen(name));                      /* name */
        tar_octal((char *) block + 100, 8, 0644);               /* mode */
        tar_octal((char *) block + 108, 8, 0);                  /* uid */
        tar_octal((char *) block + 116, 8, 0);                  /* gid */
        tar_octal((char *) block + 124, 12, size);              /* size */
        tar_octal((char *) block + 136, 12, mtime);             /* mtime */
        memset(block + 148, ' ', 8);                            /* chksum, as blanks while summing */
        block[156] = '0';                                       /* typeflag: regular file */
        memcpy(block + 257, "ustar", 6);                        /* magic, NUL-terminated */
        memcpy(block + 263, "00", 2);                           /* version */
        memcpy(block + 265, "root", 4);                         /* uname */
        memcpy(block + 297, "root", 4);                         /* gname */
        for (size_t i = 0; i < TAR_BLOCK; i++)
                sum += block[i];
        snprintf((char *) block + 148, 8, "%06o", sum);         /* six digits, NUL, then the blank kept */
        block[155] = ' ';
        return 0;
}

static int read_file(const char *path, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f = fopen(path, "re");
        struct stat st;

        if (!f)
                return -errno;
        if (fstat(fileno(f), &st) < 0 || st.st_size > 1024 * 1024) {
                fclose(f);
                return -EFBIG;
        }
        buf = malloc((size_t) st.st_size + 1);
        if (!buf) {
                fclose(f);
                return -ENOMEM;
        }
        size = fread(buf, 1, (size_t) st.st_size, f);
        fclose(f);
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

int batch_output_write_archive(const char *dir, char *const *references, size_t n) {
        _cleanup_free_ char *buf = NULL, *path = NULL;
        uint64_t mtime = (uint64_t) time(NULL);
        size_t size = 0;
        FILE *f;
        int r = 0;

        if (asprintf(&path, "%s/csrs.tar", dir) < 0)
                return -ENOMEM;
        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < n && r == 0; i++) {
                _cleanup_free_ char *name = NULL, *file = NULL, *data = NULL;
                static const uint8_t zeros[TAR_BLOCK];
                uint8_t header[TAR_BLOCK];
                size_t data_size = 0;

                if (asprintf(&name, "%s.csr", references[i]) < 0 || asprintf(&file, "%s/%s", dir, name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                r = read_file(file, &data, &data_size);
                if (r < 0)
                        break;
                r = tar_header(header, name, data_size, mtime);
                if (r < 0)
                        break;
                fwrite(header, 1, TAR_BLOCK, f);
                fwrite(data, 1, data_size, f);
                if (data_size % TAR_BLOCK)
                        fwrite(zeros, 1, TAR_BLOCK - data_size % TAR_BLOCK, f);
        }
        if (r == 0) {
                static const uint8_t end[2 * TAR_BLOCK];

                fwrite(end, 1, sizeof end, f);
        }
        if (fclose(f) != 0 && r == 0)
                r = -ENOMEM;
        if (r < 0)
                return r;
        return write_file(path, buf, size);
}
