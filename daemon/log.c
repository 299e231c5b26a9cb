/* SPDX-License-Identifier: LGPL-2.1-or-later */

#define SD_JOURNAL_SUPPRESS_LOCATION 1

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "log.h"

static int max_level = LOG_INFO;
static bool use_journal = false;

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

int log_level_from_string(const char *s) {
        static const char *const names[] = {
                [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
                [LOG_ERR] = "err", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
                [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
        };
        char *end;
        long l;

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (streq(s, names[i]))
                        return (int) i;
        if (streq(s, "error"))
                return LOG_ERR;
        errno = 0;
        l = strtol(s, &end, 10);
        if (errno != 0 || end == s || *end || l < LOG_EMERG || l > LOG_DEBUG)
                return -EINVAL;
        return (int) l;
}

/* stderr goes to the journal when JOURNAL_STREAM names the very file
 * stderr is (systemd sets it for StandardError=journal): then we send
 * structured records instead, with the source location and ERRNO=. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

void log_setup(void) {
        const char *e = getenv("JETOND_LOG_LEVEL");

        if (e) {
                int l = log_level_from_string(e);
                if (l >= 0)
                        max_level = l;
        }
        use_journal = stderr_is_journal();
}

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) {
        char buf[2048];
        va_list ap;

        error = abs(error);
        /* %m in the format names this error, not whatever errno holds. */
        errno = error;
        va_start(ap, format);
        (void) vsnprintf(buf, sizeof(buf), format, ap);
        va_end(ap);

        if (use_journal) {
                char code_file[256], code_line[32];

                (void) snprintf(code_file, sizeof(code_file), "CODE_FILE=%s", file);
                (void) snprintf(code_line, sizeof(code_line), "CODE_LINE=%i", line);
                if (error > 0)
                        (void) sd_journal_send_with_location(code_file, code_line, func,
                                                             "MESSAGE=%s", buf, "PRIORITY=%i", level,
                                                             "ERRNO=%i", error,
                                                             "SYSLOG_IDENTIFIER=jetond", NULL);
                else
                        (void) sd_journal_send_with_location(code_file, code_line, func,
                                                             "MESSAGE=%s", buf, "PRIORITY=%i", level,
                                                             "SYSLOG_IDENTIFIER=jetond", NULL);
        } else
                (void) fprintf(stderr, "%s\n", buf);

        return -error;
}
