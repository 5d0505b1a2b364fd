#pragma once

/*
 * A small JSON reader for sigbrokerctl: the daemon's answers are parsed
 * into a tree so that the commands can lay them out as tables. Strict
 * (RFC 8259), bounded nesting; accessors return a neutral value (0, "",
 * NULL) for what is missing, so that a newer daemon's extra or an older
 * one's absent fields do not break the output.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum JsonType {
        JSON_NULL,
        JSON_BOOL,
        JSON_NUMBER,
        JSON_STRING,
        JSON_ARRAY,
        JSON_OBJECT,
} JsonType;

typedef struct Json Json;
struct Json {
        JsonType type;
        bool boolean;
        double number;
        int64_t integer;                /* numbers that are integers: exact */
        bool is_integer;
        char *string;                   /* JSON_STRING: NUL-terminated (a \u0000 ends it early) */
        char *key;                      /* member of an object: its name */
        Json *items;                    /* JSON_ARRAY elements, JSON_OBJECT members */
        size_t n_items;
};

/* 0, or -EBADMSG with the byte offset of the error in *ret_error_at. */
int json_parse(const char *text, Json **ret, size_t *ret_error_at);
Json *json_free(Json *j);
static inline void json_freep(Json **j) { json_free(*j); }

const Json *json_get(const Json *object, const char *key);
const Json *json_at(const Json *array, size_t i);
size_t json_length(const Json *array_or_object);
/* Members of object named key: as unsigned (negative and missing: 0), as
 * signed, as a string ("" if missing or not a string), as a bool. */
uint64_t json_get_u64(const Json *object, const char *key);
int64_t json_get_i64(const Json *object, const char *key);
const char *json_get_string(const Json *object, const char *key);
bool json_get_bool(const Json *object, const char *key);
uint64_t json_u64(const Json *j);
