/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Logging of the daemon, systemd style: structured records to the journal
 * when stderr is connected to it (JOURNAL_STREAM), else one line per
 * message on stderr. The _errno variants take a negative errno, make it
 * available to %m in the format, log it as ERRNO= and return it, so that
 * "return log_error_errno(r, "...: %m");" reads naturally.
 *
 * Never pass a PIN, or anything derived from one, to these functions. */

#include <stdarg.h>
#include <stdbool.h>
#include <syslog.h>

#include "macro.h"

void log_set_max_level(int level);
int log_get_max_level(void);
/* "debug", "info", "notice", "warning", "err"/"error", "crit", ..., or a number. */
int log_level_from_string(const char *s);
/* Reads JETOND_LOG_LEVEL and decides between journal and stderr. */
void log_setup(void);

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) _printf_(6, 7);

#define log_full_errno(level, error, ...)                                              \
        ({                                                                            \
                int _level = (level), _e = (error);                                   \
                _level <= log_get_max_level()                                         \
                        ? log_internal(_level, _e, __FILE__, __LINE__, __func__, __VA_ARGS__) \
                        : -abs(_e);                                                   \
        })

#define log_full(level, ...) (void) log_full_errno((level), 0, __VA_ARGS__)

#define log_debug(...)   log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)    log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...)  log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...)   log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(error, ...)   log_full_errno(LOG_DEBUG, error, __VA_ARGS__)
#define log_info_errno(error, ...)    log_full_errno(LOG_INFO, error, __VA_ARGS__)
#define log_notice_errno(error, ...)  log_full_errno(LOG_NOTICE, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_error_errno(error, ...)   log_full_errno(LOG_ERR, error, __VA_ARGS__)

#define log_oom() log_error_errno(-ENOMEM, "Out of memory.")
