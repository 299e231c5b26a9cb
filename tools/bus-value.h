/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Any D-Bus value read into a tree, so jetonctl reads a reply once and
 * then both prints chosen properties as text and writes every property
 * as JSON, including properties and dictionary keys added to the daemon
 * after this client was written.
 *
 * Mapping: b -> bool; y n q u i x t h -> integer; d -> double;
 * s o g -> string; v -> the value inside; a{..} -> object (non-string keys
 * written in decimal); other arrays and structs -> array. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "json.h"
#include "macro.h"

typedef enum BusValueType {
        BUS_VALUE_BOOL,
        BUS_VALUE_INT,
        BUS_VALUE_UINT,
        BUS_VALUE_DOUBLE,
        BUS_VALUE_STRING,
        BUS_VALUE_ARRAY,
        BUS_VALUE_OBJECT,
} BusValueType;

typedef struct BusValue BusValue;
struct BusValue {
        BusValueType type;
        union {
                bool b;
                int64_t i;
                uint64_t u;
                double d;
                char *s;
        };
        /* ARRAY and OBJECT: n items; OBJECT also has a key per item. */
        size_t n;
        BusValue **items;
        char **keys;
};

BusValue *bus_value_free(BusValue *v);
DEFINE_TRIVIAL_CLEANUP_FUNC(BusValue *, bus_value_free);

/* Reads the next complete value at m's read position. */
int bus_value_read(sd_bus_message *m, BusValue **ret);

/* An empty OBJECT. */
int bus_value_new_object(BusValue **ret);

/* Sets key in object to value, in place of an existing entry or appended;
 * takes ownership of value (freed on failure too). bus_value_replace()
 * hands the replaced value (or NULL) to the caller, bus_value_set() frees
 * it. */
int bus_value_replace(BusValue *object, const char *key, BusValue *value, BusValue **ret_old);
int bus_value_set(BusValue *object, const char *key, BusValue *value);

/* Sets every entry of changed (an OBJECT, consumed; -EBADMSG otherwise)
 * in object: a GetAll reply or the changes of a PropertiesChanged signal
 * over the properties known so far. */
int bus_value_merge(BusValue *object, BusValue *changed);
/* The same with the next value at m's read position. */
int bus_value_read_merge(sd_bus_message *m, BusValue *object);

/* Removes key from object, if there. */
void bus_value_remove(BusValue *object, const char *key);

/* The item under key, modifiable; NULL when missing or not an object. */
BusValue *bus_value_lookup(BusValue *object, const char *key);

/* Lookups: NULL / false when v is not the expected type or the key is
 * missing, so callers print what is there and skip what is not. */
const BusValue *bus_value_get(const BusValue *object, const char *key);
const char *bus_value_string(const BusValue *v);
bool bus_value_uint(const BusValue *v, uint64_t *ret);  /* INT >= 0 too */
bool bus_value_bool(const BusValue *v, bool *ret);
size_t bus_value_count(const BusValue *v);               /* ARRAY/OBJECT items, else 0 */

const char *bus_value_get_string(const BusValue *object, const char *key);
bool bus_value_get_uint(const BusValue *object, const char *key, uint64_t *ret);
bool bus_value_get_bool(const BusValue *object, const char *key, bool *ret);

void bus_value_write_json(const BusValue *v, JsonWriter *w);

/* A D-Bus object as one JSON object: "path" first (unless path is NULL),
 * then every property of props (an OBJECT; NULL: none) under its D-Bus
 * name, as the daemon sent it. */
void bus_value_write_json_object(const char *path, const BusValue *props, JsonWriter *w);
