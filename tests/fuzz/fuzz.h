/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Fuzz targets: each file defines LLVMFuzzerTestOneInput(), built with
 * libFuzzer by `make fuzz` (tests/fuzz/build.mk) and, with the normal
 * compiler, linked to fuzz-replay.c, which `make check` runs over the
 * target's seed corpus tests/fuzz/corpus/<target>/. */

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
