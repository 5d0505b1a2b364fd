#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-json.h"

#define JSON_DEPTH_MAX 64

typedef struct Parser {
        const char *start, *p;
} Parser;

static int parse_value(Parser *ps, Json *ret, int depth);

static void skip_space(Parser *ps) {
        while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
                ps->p++;
}

static void json_clear(Json *j) {
        for (size_t i = 0; i < j->n_items; i++)
                json_clear(&j->items[i]);
        free(j->items);
        free(j->string);
        free(j->key);
}

Json *json_free(Json *j) {
        if (j) {
                json_clear(j);
                free(j);
        }
        return NULL;
}

static int hex4(const char *s, unsigned *ret) {
        unsigned v = 0;

        for (int i = 0; i < 4; i++) {
                char c = s[i];
                v <<= 4;
                if (c >= '0' && c <= '9')
                        v |= (unsigned) (c - '0');
                else if (c >= 'a' && c <= 'f')
                        v |= (unsigned) (c - 'a' + 10);
                else if (c >= 'A' && c <= 'F')
                        v |= (unsigned) (c - 'A' + 10);
                else
                        return -EBADMSG;
        }
        *ret = v;
        return 0;
}

static size_t put_utf8(char *out, unsigned c) {
        if (c < 0x80) {
                out[0] = (char) c;
                return 1;
        }
        if (c < 0x800) {
                out[0] = (char) (0xc0 | (c >> 6));
                out[1] = (char) (0x80 | (c & 0x3f));
                return 2;
        }
        if (c < 0x10000) {
                out[0] = (char) (0xe0 | (c >> 12));
                out[1] = (char) (0x80 | ((c >> 6) & 0x3f));
                out[2] = (char) (0x80 | (c & 0x3f));
                return 3;
        }
        out[0] = (char) (0xf0 | (c >> 18));
        out[1] = (char) (0x80 | ((c >> 12) & 0x3f));
        out[2] = (char) (0x80 | ((c >> 6) & 0x3f));
        out[3] = (char) (0x80 | (c & 0x3f));
        return 4;
}

static int parse_escape(Parser *ps, char *out, size_t *len) {
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *e = strchr(from, *ps->p);
        unsigned c, lo;

        if (*ps->p && e) {
                out[(*len)++] = to[e - from];
                ps->p++;
                return 0;
        }
        if (*ps->p != 'u' || hex4(ps->p + 1, &c) < 0)
                return -EBADMSG;
        ps->p += 5;
        if (c >= 0xd800 && c < 0xdc00) {
                if (ps->p[0] != '\\' || ps->p[1] != 'u' || hex4(ps->p + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
                        return -EBADMSG;
                ps->p += 6;
                c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
        } else if (c >= 0xdc00 && c <= 0xdfff)
                return -EBADMSG;
        *len += put_utf8(out + *len, c);
        return 0;
}

static int parse_string(Parser *ps, char **ret) {
        const char *end;
        size_t len = 0;
        char *s;

        ps->p++;        /* the opening quote */
        /* The decoded string is never longer than its source. */
        for (end = ps->p; *end && *end != '"'; end++)
                if (*end == '\\' && end[1])
                        end++;
        if (*end != '"')
                return -EBADMSG;
        s = malloc((size_t) (end - ps->p) + 1);
        if (!s)
                return -ENOMEM;
        while (*ps->p != '"') {
                unsigned char c = (unsigned char) *ps->p;
                if (c < 0x20) {
                        free(s);
                        return -EBADMSG;
                }
                if (c == '\\') {
                        ps->p++;
                        if (parse_escape(ps, s, &len) < 0) {
                                free(s);
                                return -EBADMSG;
                        }
                } else {
                        s[len++] = (char) c;
                        ps->p++;
                }
        }
        ps->p++;
        s[len] = '\0';
        *ret = s;
        return 0;
}

static int parse_number(Parser *ps, Json *ret) {
        const char *q = ps->p;
        bool integer = true;
        char *end;

        if (*q == '-')
                q++;
        if (*q == '0')
                q++;
        else if (*q >= '1' && *q <= '9')
                while (*q >= '0' && *q <= '9')
                        q++;
        else
                return -EBADMSG;
        if (*q == '.') {
                integer = false;
                if (!(*++q >= '0' && *q <= '9'))
                        return -EBADMSG;
                while (*q >= '0' && *q <= '9')
                        q++;
        }
        if (*q == 'e' || *q == 'E') {
                integer = false;
                q++;
                if (*q == '+' || *q == '-')
                        q++;
                if (!(*q >= '0' && *q <= '9'))
                        return -EBADMSG;
                while (*q >= '0' && *q <= '9')
                        q++;
        }
        ret->type = JSON_NUMBER;
        ret->number = strtod(ps->p, &end);
        if (integer) {
                errno = 0;
                if (*ps->p == '-')
                        ret->integer = strtoll(ps->p, &end, 10);
                else {
                        unsigned long long u = strtoull(ps->p, &end, 10);
                        ret->integer = (int64_t) u;     /* counters up to 2^64 - 1 keep their bits */
                }
                ret->is_integer = errno == 0;
        }
        ps->p = q;
        return 0;
}

static int parse_items(Parser *ps, Json *ret, char close, int depth) {
        size_t cap = 0;
        int r;

        ps->p++;
        skip_space(ps);
        if (*ps->p == close) {
                ps->p++;
                return 0;
        }
        for (;;) {
                Json *item;
                if (ret->n_items == cap) {
                        Json *n = realloc(ret->items, (cap = cap ? cap * 2 : 8) * sizeof(*n));
                        if (!n)
                                return -ENOMEM;
                        ret->items = n;
                }
                item = &ret->items[ret->n_items];
                *item = (Json) {};
                skip_space(ps);
                if (close == '}') {
                        if (*ps->p != '"')
                                return -EBADMSG;
                        r = parse_string(ps, &item->key);
                        if (r < 0)
                                return r;
                        skip_space(ps);
                        if (*ps->p++ != ':') {
                                free(item->key);
                                return -EBADMSG;
                        }
                }
                r = parse_value(ps, item, depth + 1);
                ret->n_items++;        /* freed with the parent even if incomplete */
                if (r < 0)
                        return r;
                skip_space(ps);
                if (*ps->p == close) {
                        ps->p++;
                        return 0;
                }
                if (*ps->p++ != ',')
                        return -EBADMSG;
        }
}

static int parse_literal(Parser *ps, const char *word) {
        size_t n = strlen(word);

        if (strncmp(ps->p, word, n) != 0)
                return -EBADMSG;
        ps->p += n;
        return 0;
}

static int parse_value(Parser *ps, Json *ret, int depth) {
        if (depth > JSON_DEPTH_MAX)
                return -EBADMSG;
        skip_space(ps);
        switch (*ps->p) {
        case '{':
                ret->type = JSON_OBJECT;
                return parse_items(ps, ret, '}', depth);
        case '[':
                ret->type = JSON_ARRAY;
                return parse_items(ps, ret, ']', depth);
        case '"':
                ret->type = JSON_STRING;
                return parse_string(ps, &ret->string);
        case 't':
                ret->type = JSON_BOOL;
                ret->boolean = true;
                return parse_literal(ps, "true");
        case 'f':
                ret->type = JSON_BOOL;
                return parse_literal(ps, "false");
        case 'n':
                ret->type = JSON_NULL;
                return parse_literal(ps, "null");
        default:
                return parse_number(ps, ret);
        }
}

int json_parse(const char *text, Json **ret, size_t *ret_error_at) {
        Parser ps = { .start = text, .p = text };
        Json *j = calloc(1, sizeof(*j));
        int r;

        if (!j)
                return -ENOMEM;
        r = parse_value(&ps, j, 0);
        if (r >= 0) {
                skip_space(&ps);
                if (*ps.p != '\0')
                        r = -EBADMSG;
        }
        if (r < 0) {
                if (ret_error_at)
                        *ret_error_at = (size_t) (ps.p - ps.start);
                json_free(j);
                return r;
        }
        *ret = j;
        return 0;
}

const Json *json_get(const Json *object, const char *key) {
        if (!object || object->type != JSON_OBJECT)
                return NULL;
        for (size_t i = 0; i < object->n_items; i++)
                if (strcmp(object->items[i].key, key) == 0)
                        return &object->items[i];
        return NULL;
}

const Json *json_at(const Json *array, size_t i) {
        if (!array || (array->type != JSON_ARRAY && array->type != JSON_OBJECT) || i >= array->n_items)
                return NULL;
        return &array->items[i];
}

size_t json_length(const Json *j) {
        return j && (j->type == JSON_ARRAY || j->type == JSON_OBJECT) ? j->n_items : 0;
}

uint64_t json_u64(const Json *j) {
        if (!j || j->type != JSON_NUMBER || j->number < 0)
                return 0;
        if (j->is_integer)
                return (uint64_t) j->integer;
        return (uint64_t) j->number;
}

uint64_t json_get_u64(const Json *object, const char *key) {
        return json_u64(json_get(object, key));
}

int64_t json_get_i64(const Json *object, const char *key) {
        const Json *j = json_get(object, key);

        if (!j || j->type != JSON_NUMBER)
                return 0;
        return j->is_integer ? j->integer : (int64_t) j->number;
}

const char *json_get_string(const Json *object, const char *key) {
        const Json *j = json_get(object, key);
        return j && j->type == JSON_STRING ? j->string : "";
}

bool json_get_bool(const Json *object, const char *key) {
        const Json *j = json_get(object, key);
        return j && j->type == JSON_BOOL && j->boolean;
}
