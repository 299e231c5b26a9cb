/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run.h"
#include "softhsm.h"

struct SoftHSM {
        char *dir;
        char *conf;
        char *old_conf; /* SOFTHSM2_CONF before us, restored at free */
        bool had_old_conf;
};

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) st;
        (void) ftw;
        if (type == FTW_DP)
                return rmdir(path) < 0 ? -1 : 0;
        return unlink(path) < 0 ? -1 : 0;
}

SoftHSM *softhsm_free(SoftHSM *h) {
        if (!h)
                return NULL;
        if (h->dir)
                (void) nftw(h->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        if (h->had_old_conf)
                setenv("SOFTHSM2_CONF", h->old_conf, 1);
        else
                unsetenv("SOFTHSM2_CONF");
        free(h->dir);
        free(h->conf);
        free(h->old_conf);
        free(h);
        return NULL;
}

int softhsm_new(SoftHSM **ret) {
        _cleanup_(softhsm_freep) SoftHSM *h = NULL;
        const char *tmp = getenv("TMPDIR");
        char tokens[4096];

        h = calloc(1, sizeof *h);
        if (!h)
                return -ENOMEM;
        const char *old = getenv("SOFTHSM2_CONF");
        if (old) {
                h->old_conf = strdup(old);
                if (!h->old_conf)
                        return -ENOMEM;
                h->had_old_conf = true;
        }

        if (asprintf(&h->dir, "%s/jeton-softhsm-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0) {
                h->dir = NULL;
                return -ENOMEM;
        }
        if (!mkdtemp(h->dir)) {
                int r = -errno;
                free(h->dir);
                h->dir = NULL;
                return r;
        }
        snprintf(tokens, sizeof tokens, "%s/tokens", h->dir);
        if (mkdir(tokens, 0700) < 0)
                return -errno;
        if (asprintf(&h->conf, "%s/softhsm2.conf", h->dir) < 0) {
                h->conf = NULL;
                return -ENOMEM;
        }

        FILE *f = fopen(h->conf, "we");
        if (!f)
                return -errno;
        fprintf(f,
                "directories.tokendir = %s\n"
                "objectstore.backend = file\n"
                "log.level = ERROR\n",
                tokens);
        if (fclose(f) != 0)
                return -errno;

        if (setenv("SOFTHSM2_CONF", h->conf, 1) < 0)
                return -errno;

        *ret = TAKE_PTR(h);
        return 0;
}

const char *softhsm_dir(const SoftHSM *h) {
        return h->dir;
}

const char *softhsm_conf_path(const SoftHSM *h) {
        return h->conf;
}

static void trim(char *s) {
        size_t n = strlen(s);
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r'))
                s[--n] = '\0';
}

/* `softhsm2-util --show-slots` prints, per slot, "Serial number:" and then
 * "Label:" in its token section. */
int softhsm_token_serial(SoftHSM *h, const char *label, char *ret_serial) {
        const char *argv[] = { "softhsm2-util", "--show-slots", NULL };
        _cleanup_free_ char *out = NULL;
        char serial[64] = "";
        int r;

        (void) h;
        r = run_simple(argv, &out);
        if (r < 0)
                return r;
        if (r != 0) {
                fprintf(stderr, "softhsm2-util --show-slots failed with exit code %d\n", r);
                return -EIO;
        }

        char *save = NULL;
        for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *p = line + strspn(line, " \t");
                if (strncmp(p, "Serial number:", 14) == 0) {
                        p += 14;
                        p += strspn(p, " \t");
                        snprintf(serial, sizeof serial, "%s", p);
                        trim(serial);
                } else if (strncmp(p, "Label:", 6) == 0) {
                        p += 6;
                        p += strspn(p, " \t");
                        trim(p);
                        if (streq(p, label) && serial[0]) {
                                if (strlen(serial) > 16)
                                        return -EBADMSG;
                                strcpy(ret_serial, serial);
                                return 0;
                        }
                }
        }
        return -ENOENT;
}

int softhsm_add_token(SoftHSM *h, const char *label, const char *so_pin, const char *pin,
                      char *ret_serial) {
        const char *argv[] = {
                "softhsm2-util", "--init-token", "--free",  "--label", label,
                "--so-pin",      so_pin,         "--pin",   pin,       NULL,
        };
        _cleanup_free_ char *out = NULL;
        int r;

        r = run_simple(argv, &out);
        if (r < 0)
                return r;
        if (r != 0) {
                fprintf(stderr, "softhsm2-util --init-token --label %s failed with exit code %d: %s\n",
                        label, r, out);
                return -EIO;
        }
        if (ret_serial)
                return softhsm_token_serial(h, label, ret_serial);
        return 0;
}

/* SoftHSM 2.6 object files (ObjectFile.cpp): an 8-byte generation counter,
 * then attributes, each a big-endian 8-byte type, an 8-byte kind (1 bool:
 * 1 byte, 2 ulong: 8 bytes, 3 byte string: 8-byte length + bytes) and the
 * value. The token's own attributes are vendor-defined. */
#define OS_ATTR_TOKEN_SERIAL 0x8000534aUL
#define OS_ATTR_TOKEN_FLAGS 0x8000534bUL

static uint64_t be64(const uint8_t *p) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v = v << 8 | p[i];
        return v;
}

static void put_be64(uint8_t *p, uint64_t v) {
        for (int i = 7; i >= 0; i--, v >>= 8)
                p[i] = (uint8_t) v;
}

/* Finds the serial and the offset of the flags value in one token.object.
 * Returns 1 when both were found. */
static int token_object_scan(const uint8_t *data, size_t len, char *serial, size_t serial_size,
                             size_t *flags_off) {
        size_t off = 8;
        bool have_serial = false, have_flags = false;

        if (len < 8)
                return -EBADMSG;
        while (off + 16 <= len) {
                uint64_t type = be64(data + off), kind = be64(data + off + 8);
                off += 16;
                switch (kind) {
                case 1:
                        off += 1;
                        break;
                case 2:
                        if (off + 8 > len)
                                return -EBADMSG;
                        if (type == OS_ATTR_TOKEN_FLAGS) {
                                *flags_off = off;
                                have_flags = true;
                        }
                        off += 8;
                        break;
                case 3: {
                        if (off + 8 > len)
                                return -EBADMSG;
                        uint64_t n = be64(data + off);
                        off += 8;
                        if (n > len - off)
                                return -EBADMSG;
                        if (type == OS_ATTR_TOKEN_SERIAL) {
                                snprintf(serial, serial_size, "%.*s", (int) n, (const char *) data + off);
                                trim(serial);
                                have_serial = true;
                        }
                        off += n;
                        break;
                }
                default:
                        return -EBADMSG;
                }
        }
        return have_serial && have_flags;
}

static int read_file(const char *path, uint8_t **ret, size_t *ret_len) {
        FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        uint8_t *buf = NULL;
        size_t len = 0, size = 0;
        for (;;) {
                if (size - len < 4096) {
                        uint8_t *p = realloc(buf, size + 65536);
                        if (!p) {
                                free(buf);
                                fclose(f);
                                return -ENOMEM;
                        }
                        buf = p;
                        size += 65536;
                }
                size_t n = fread(buf + len, 1, size - len, f);
                len += n;
                if (n == 0)
                        break;
        }
        bool failed = ferror(f);
        fclose(f);
        if (failed) {
                free(buf);
                return -EIO;
        }
        *ret = buf;
        *ret_len = len;
        return 0;
}

int softhsm_set_token_flags(SoftHSM *h, const char *serial, unsigned long set, unsigned long clear) {
        char tokens[4096];
        DIR *d;
        struct dirent *de;
        int r = -ENOENT;

        snprintf(tokens, sizeof tokens, "%s/tokens", h->dir);
        d = opendir(tokens);
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                char path[8192], found[64] = "";
                _cleanup_free_ uint8_t *data = NULL;
                size_t len = 0, flags_off = 0;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof path, "%s/%s/token.object", tokens, de->d_name);
                if (read_file(path, &data, &len) < 0)
                        continue;
                int k = token_object_scan(data, len, found, sizeof found, &flags_off);
                if (k < 0) {
                        r = k;
                        break;
                }
                if (k == 0 || !streq(found, serial))
                        continue;

                uint64_t flags = (be64(data + flags_off) | set) & ~(uint64_t) clear;
                put_be64(data + flags_off, flags);
                /* A new generation makes a running SoftHSM reload the file. */
                put_be64(data, be64(data) + 1);

                FILE *f = fopen(path, "r+e");
                if (!f) {
                        r = -errno;
                        break;
                }
                r = fwrite(data, 1, len, f) == len ? 0 : -EIO;
                if (fclose(f) != 0 && r == 0)
                        r = -errno;
                break;
        }
        closedir(d);
        return r;
}
