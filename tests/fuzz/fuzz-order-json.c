/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* JSON order import: json-c's tokener as we configure it, the item line
 * scan, member types, validation, duplicate references. */

#include "fuzz-order-common.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_import(ORDER_IMPORT_JSON, data, size);
        return 0;
}
