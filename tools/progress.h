/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* How a job's progress is shown: a bar redrawn in place on a terminal,
 * or one plain line per change otherwise. Pure: no I/O, unit tested. */

#include <stddef.h>

/* The job as last reported; strings may be NULL or come from the bus
 * (they are sanitised here). */
typedef struct ProgressState {
        const char *state;      /* queued, waiting-for-pin, running, done, failed, cancelled */
        const char *stage;      /* login, generate-key, ... */
        unsigned percent;       /* clamped to 100 */
} ProgressState;

/* "[##########          ]  50% generate-key" fitted into columns (at
 * least 20; the bar shrinks first, then the stage is cut); while the job
 * is not running the state shows instead of the stage when there is no
 * stage ("queued", "waiting-for-pin"). Returns buf, or NULL on OOM. */
char *progress_format_bar(const ProgressState *s, size_t columns, char *buf, size_t size);

/* "running generate-key 50%": the line printed for each change when
 * standard error is not a terminal. NULL on OOM. */
char *progress_format_line(const ProgressState *s, char *buf, size_t size);

/* Whether b differs from a in what is shown. */
int progress_changed(const ProgressState *a, const ProgressState *b);
