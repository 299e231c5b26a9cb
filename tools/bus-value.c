/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-value.h"

BusValue *bus_value_free(BusValue *v) {
        if (!v)
                return NULL;
        if (v->type == BUS_VALUE_STRING)
                free(v->s);
        for (size_t i = 0; i < v->n; i++) {
                bus_value_free(v->items[i]);
                if (v->keys)
                        free(v->keys[i]);
        }
        free(v->items);
        free(v->keys);
        free(v);
        return NULL;
}

static int value_new(BusValueType type, BusValue **ret) {
        BusValue *v = calloc(1, sizeof(BusValue));

        if (!v)
                return -ENOMEM;
        v->type = type;
        *ret = v;
        return 0;
}

int bus_value_new_object(BusValue **ret) {
        return value_new(BUS_VALUE_OBJECT, ret);
}

/* Appends item (and key, for objects); takes ownership of both, also on
 * failure. */
static int append(BusValue *c, char *key, BusValue *item) {
        BusValue **items;

        items = reallocarray(c->items, c->n + 1, sizeof(BusValue *));
        if (!items)
                goto fail;
        c->items = items;

        if (c->type == BUS_VALUE_OBJECT) {
                char **keys = reallocarray(c->keys, c->n + 1, sizeof(char *));
                if (!keys)
                        goto fail;
                c->keys = keys;
                c->keys[c->n] = key;
        }
        c->items[c->n++] = item;
        return 0;

fail:
        free(key);
        bus_value_free(item);
        return -ENOMEM;
}

static int read_basic(sd_bus_message *m, char type, BusValue **ret, char **ret_text) {
        union {
                uint8_t y;
                int16_t n;
                uint16_t q;
                int32_t i;
                uint32_t u;
                int64_t x;
                uint64_t t;
                double d;
                int b;
                const char *s;
        } x;
        _cleanup_(bus_value_freep) BusValue *v = NULL;
        int r;

        r = sd_bus_message_read_basic(m, type, &x);
        if (r < 0)
                return r;

        switch (type) {
        case 'b':
                r = value_new(BUS_VALUE_BOOL, &v);
                if (r >= 0)
                        v->b = x.b;
                break;
        case 'y':
        case 'q':
        case 'u':
        case 't':
                r = value_new(BUS_VALUE_UINT, &v);
                if (r >= 0)
                        v->u = type == 'y' ? x.y : type == 'q' ? x.q : type == 'u' ? x.u : x.t;
                break;
        case 'n':
        case 'i':
        case 'x':
        case 'h':
                r = value_new(BUS_VALUE_INT, &v);
                if (r >= 0)
                        v->i = type == 'n' ? x.n : type == 'x' ? x.x : x.i;
                break;
        case 'd':
                r = value_new(BUS_VALUE_DOUBLE, &v);
                if (r >= 0)
                        v->d = x.d;
                break;
        case 's':
        case 'o':
        case 'g':
                r = value_new(BUS_VALUE_STRING, &v);
                if (r >= 0) {
                        v->s = strdup(x.s);
                        if (!v->s)
                                r = -ENOMEM;
                }
                break;
        default:
                return -EBADMSG;
        }
        if (r < 0)
                return r;

        /* Dictionary keys: JSON wants a string whatever the D-Bus type. */
        if (ret_text) {
                char *text = NULL;

                if (v->type == BUS_VALUE_STRING)
                        text = TAKE_PTR(v->s);
                else if (v->type == BUS_VALUE_UINT)
                        r = asprintf(&text, "%" PRIu64, v->u);
                else if (v->type == BUS_VALUE_INT)
                        r = asprintf(&text, "%" PRIi64, v->i);
                else if (v->type == BUS_VALUE_BOOL)
                        text = strdup(v->b ? "true" : "false");
                else
                        r = asprintf(&text, "%.17g", v->d);
                if (r < 0 || !text)
                        return -ENOMEM;
                *ret_text = text;
                return 0;
        }
        *ret = TAKE_PTR(v);
        return 0;
}

/* Arrays, dictionaries and structs: a{..} is an OBJECT, the others an
 * ARRAY of their items. */
static int read_container(sd_bus_message *m, char type, const char *contents, BusValue **ret) {
        bool dict = type == 'a' && contents[0] == '{';
        _cleanup_(bus_value_freep) BusValue *c = NULL;
        _cleanup_free_ char *entry = NULL;
        int r;

        r = sd_bus_message_enter_container(m, type, contents);
        if (r < 0)
                return r;
        r = value_new(dict ? BUS_VALUE_OBJECT : BUS_VALUE_ARRAY, &c);
        if (r < 0)
                return r;
        /* contents is "{KV}"; the entry container wants "KV". */
        if (dict && !(entry = strndup(contents + 1, strlen(contents) - 2)))
                return -ENOMEM;

        while ((r = sd_bus_message_at_end(m, false)) == 0) {
                _cleanup_free_ char *key = NULL;
                BusValue *item = NULL;

                if (dict) {
                        r = sd_bus_message_enter_container(m, 'e', entry);
                        if (r >= 0)
                                r = read_basic(m, entry[0], NULL, &key);
                        if (r < 0)
                                return r;
                }
                r = bus_value_read(m, &item);
                if (r < 0)
                        return r;
                r = append(c, TAKE_PTR(key), item);
                if (r >= 0 && dict)
                        r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;

        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

int bus_value_read(sd_bus_message *m, BusValue **ret) {
        const char *contents;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENXIO;

        switch (type) {
        case 'v':
                r = sd_bus_message_enter_container(m, 'v', contents);
                if (r < 0)
                        return r;
                r = bus_value_read(m, ret);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0) {
                        *ret = bus_value_free(*ret);
                        return r;
                }
                return 0;
        case 'a':
        case 'r':
                return read_container(m, type, contents, ret);
        default:
                return read_basic(m, type, ret, NULL);
        }
}

int bus_value_replace(BusValue *object, const char *key, BusValue *value, BusValue **ret_old) {
        char *k;

        if (ret_old)
                *ret_old = NULL;
        if (!object || object->type != BUS_VALUE_OBJECT) {
                bus_value_free(value);
                return -EINVAL;
        }
        for (size_t i = 0; i < object->n; i++)
                if (streq(object->keys[i], key)) {
                        if (ret_old)
                                *ret_old = object->items[i];
                        else
                                bus_value_free(object->items[i]);
                        object->items[i] = value;
                        return 0;
                }

        k = strdup(key);
        if (!k) {
                bus_value_free(value);
                return -ENOMEM;
        }
        return append(object, k, value);
}

int bus_value_set(BusValue *object, const char *key, BusValue *value) {
        return bus_value_replace(object, key, value, NULL);
}

int bus_value_merge(BusValue *object, BusValue *changed) {
        _cleanup_(bus_value_freep) BusValue *c = changed;
        int r;

        if (c->type != BUS_VALUE_OBJECT)
                return -EBADMSG;
        for (size_t i = 0; i < c->n; i++) {
                r = bus_value_set(object, c->keys[i], TAKE_PTR(c->items[i]));
                if (r < 0)
                        return r;
        }
        return 0;
}

int bus_value_read_merge(sd_bus_message *m, BusValue *object) {
        BusValue *changed = NULL;
        int r;

        r = bus_value_read(m, &changed);
        if (r < 0)
                return r;
        return bus_value_merge(object, changed);
}

void bus_value_remove(BusValue *object, const char *key) {
        if (!object || object->type != BUS_VALUE_OBJECT)
                return;
        for (size_t i = 0; i < object->n; i++)
                if (streq(object->keys[i], key)) {
                        bus_value_free(object->items[i]);
                        free(object->keys[i]);
                        object->n--;
                        memmove(object->items + i, object->items + i + 1, (object->n - i) * sizeof(BusValue *));
                        memmove(object->keys + i, object->keys + i + 1, (object->n - i) * sizeof(char *));
                        return;
                }
}

BusValue *bus_value_lookup(BusValue *object, const char *key) {
        if (!object || object->type != BUS_VALUE_OBJECT)
                return NULL;
        for (size_t i = 0; i < object->n; i++)
                if (streq(object->keys[i], key))
                        return object->items[i];
        return NULL;
}

const BusValue *bus_value_get(const BusValue *object, const char *key) {
        return bus_value_lookup((BusValue *) object, key);
}

const char *bus_value_string(const BusValue *v) {
        return v && v->type == BUS_VALUE_STRING ? v->s : NULL;
}

bool bus_value_uint(const BusValue *v, uint64_t *ret) {
        if (v && v->type == BUS_VALUE_UINT) {
                *ret = v->u;
                return true;
        }
        if (v && v->type == BUS_VALUE_INT && v->i >= 0) {
                *ret = (uint64_t) v->i;
                return true;
        }
        return false;
}

bool bus_value_bool(const BusValue *v, bool *ret) {
        if (!v || v->type != BUS_VALUE_BOOL)
                return false;
        *ret = v->b;
        return true;
}

size_t bus_value_count(const BusValue *v) {
        return v && (v->type == BUS_VALUE_ARRAY || v->type == BUS_VALUE_OBJECT) ? v->n : 0;
}

const char *bus_value_get_string(const BusValue *object, const char *key) {
        return bus_value_string(bus_value_get(object, key));
}

bool bus_value_get_uint(const BusValue *object, const char *key, uint64_t *ret) {
        return bus_value_uint(bus_value_get(object, key), ret);
}

bool bus_value_get_bool(const BusValue *object, const char *key, bool *ret) {
        return bus_value_bool(bus_value_get(object, key), ret);
}

void bus_value_write_json(const BusValue *v, JsonWriter *w) {
        if (!v) {
                json_null(w);
                return;
        }
        switch (v->type) {
        case BUS_VALUE_BOOL:
                json_bool(w, v->b);
                break;
        case BUS_VALUE_INT:
                json_int(w, v->i);
                break;
        case BUS_VALUE_UINT:
                json_uint(w, v->u);
                break;
        case BUS_VALUE_DOUBLE:
                json_double(w, v->d);
                break;
        case BUS_VALUE_STRING:
                json_string(w, v->s);
                break;
        case BUS_VALUE_ARRAY:
                json_begin_array(w);
                for (size_t i = 0; i < v->n; i++)
                        bus_value_write_json(v->items[i], w);
                json_end_array(w);
                break;
        case BUS_VALUE_OBJECT:
                bus_value_write_json_object(NULL, v, w);
                break;
        }
}

void bus_value_write_json_object(const char *path, const BusValue *props, JsonWriter *w) {
        json_begin_object(w);
        if (path) {
                json_key(w, "path");
                json_string(w, path);
        }
        for (size_t i = 0; props && props->keys && i < props->n; i++) {
                json_key(w, props->keys[i]);
                bus_value_write_json(props->items[i], w);
        }
        json_end_object(w);
}
