/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* CSV order import: the RFC 4180 reader, the header, field checks,
 * validation, duplicate references. */

#include "fuzz-order-common.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_import(ORDER_IMPORT_CSV, data, size);
        return 0;
}
