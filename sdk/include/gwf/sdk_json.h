/*
 * gwf/sdk_json.h - helpers for plugins that parse their config with
 * jansson (as every first-party plugin does). Header-only, so the SDK
 * library itself does not depend on jansson: include it after
 * <jansson.h> and link jansson yourself.
 */
#ifndef GWF_SDK_JSON_H
#define GWF_SDK_JSON_H

#include <jansson.h>

/* What a JSON value is, for config error messages: "expected a string,
 * found an integer". NULL (an absent field) is "nothing". */
static inline const char *
gwf_json_kind(const json_t *v)
{
    if (!v)
        return "nothing";
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number with a fraction";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
    default:
        return "null";
    }
}

#endif /* GWF_SDK_JSON_H */
