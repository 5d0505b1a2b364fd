/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sigbroker.conf(5): [limits], [admin] and [policy] sections of
 * "key = value" lines and allow/deny rules.
 *
 * The parser copies one line at a time into a buffer of CONFIG_LINE_MAX
 * bytes and works on that copy, so nothing in the input can make it read
 * outside what it was given, and every count it keeps (lines, rules, file
 * size) has a limit. Errors are written into a fixed buffer as they are
 * found and turned into the "PATH:LINE: ..." message once, at the end.
 */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "config.h"
#include "protocol.h"
#include "util.h"

static inline void config_freep(Config **c) {
        config_free(*c);
}

#define COUNT_MAX (UINT64_C(1) << 20)           /* queues, windows, connections */
#define PENDING_MAX (UINT64_C(1) << 30)         /* pending signals, per uid or in all */
#define BYTES_MIN (UINT64_C(1) << 10)
#define BYTES_MAX (UINT64_C(1) << 40)
#define NSS_BUFFER_MAX (1u << 20)               /* getpwnam_r()/getgrnam_r() scratch space */
#define RULES_INITIAL 16

_Static_assert(_SB_TARGET_MAX <= 32, "target kinds must fit Rule.targets");

/* A message without its "PATH:LINE: " prefix. Tokens from the input are
 * quoted in it, so it is bounded rather than sized to the line. */
typedef struct ErrorText {
        char text[256];
} ErrorText;

__attribute__((format(printf, 3, 4)))
static int fail_errno(ErrorText *e, int error, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(e->text, sizeof(e->text), fmt, ap);
        va_end(ap);
        return -error;
}

#define fail(e, ...) fail_errno((e), EINVAL, __VA_ARGS__)

typedef enum Section {
        SECTION_NONE,                   /* before the first header */
        SECTION_LIMITS,
        SECTION_ADMIN,
        SECTION_POLICY,
        _SECTION_MAX,
} Section;

static const char *const section_names[_SECTION_MAX] = {
        [SECTION_LIMITS] = "limits",
        [SECTION_ADMIN] = "admin",
        [SECTION_POLICY] = "policy",
};

typedef enum KeyType {
        KEY_COUNT,                      /* plain decimal number */
        KEY_BYTES,                      /* decimal number with an optional K, M or G */
        KEY_BOOL,
        KEY_GROUP,                      /* group name or number */
} KeyType;

typedef enum ConfigKey {
        KEY_MAX_QUEUE,
        KEY_MAX_QUEUE_BYTES,
        KEY_MAX_PAYLOAD,
        KEY_DEFAULT_WINDOW,
        KEY_MAX_WINDOW,
        KEY_MAX_CONNECTIONS_PER_UID,
        KEY_MAX_PENDING_PER_UID,
        KEY_MAX_BYTES_PER_UID,
        KEY_MAX_CONNECTIONS,
        KEY_MAX_PENDING,
        KEY_MAX_BYTES,
        KEY_MAX_GROUPS_PER_CLIENT,
        KEY_LIMIT_ROOT,
        KEY_MAX_RECEIVED_PER_UID,
        KEY_MAX_RECEIVED_BYTES_PER_UID,
        KEY_MAX_ANSWER_BYTES_PER_UID,
        KEY_MAX_ANSWER_BYTES,
        KEY_HELLO_TIMEOUT,
        KEY_RESERVED_CONNECTIONS,
        KEY_ADMIN_GROUP,
        _KEY_MAX,
} ConfigKey;

typedef struct KeyInfo {
        const char *name;
        Section section;
        KeyType type;
        size_t offset;                  /* of the field in Limits */
        size_t size;
        uint64_t min, max;
} KeyInfo;

#define LIMIT(n, field, t, lo, hi) {                            \
                .name = n,                                      \
                .section = SECTION_LIMITS,                      \
                .type = t,                                      \
                .offset = offsetof(Limits, field),              \
                .size = sizeof(((Limits *) NULL)->field),       \
                .min = lo,                                      \
                .max = hi,                                      \
        }

static const KeyInfo keys[_KEY_MAX] = {
        [KEY_MAX_QUEUE] = LIMIT("max-queue", max_queue, KEY_COUNT, 1, COUNT_MAX),
        [KEY_MAX_QUEUE_BYTES] = LIMIT("max-queue-bytes", max_queue_bytes, KEY_BYTES, BYTES_MIN, BYTES_MAX),
        [KEY_MAX_PAYLOAD] = LIMIT("max-payload", max_payload, KEY_BYTES, 0, SB_PAYLOAD_MAX_LIMIT),
        [KEY_DEFAULT_WINDOW] = LIMIT("default-window", default_window, KEY_COUNT, 1, COUNT_MAX),
        [KEY_MAX_WINDOW] = LIMIT("max-window", max_window, KEY_COUNT, 1, COUNT_MAX),
        [KEY_MAX_CONNECTIONS_PER_UID] = LIMIT("max-connections-per-uid", max_connections_per_uid, KEY_COUNT, 1, COUNT_MAX),
        [KEY_MAX_PENDING_PER_UID] = LIMIT("max-pending-per-uid", max_pending_per_uid, KEY_COUNT, 1, PENDING_MAX),
        [KEY_MAX_BYTES_PER_UID] = LIMIT("max-bytes-per-uid", max_bytes_per_uid, KEY_BYTES, BYTES_MIN, BYTES_MAX),
        [KEY_MAX_CONNECTIONS] = LIMIT("max-connections", max_connections, KEY_COUNT, 1, COUNT_MAX),
        [KEY_MAX_PENDING] = LIMIT("max-pending", max_pending, KEY_COUNT, 1, PENDING_MAX),
        [KEY_MAX_BYTES] = LIMIT("max-bytes", max_bytes, KEY_BYTES, BYTES_MIN, BYTES_MAX),
        [KEY_MAX_GROUPS_PER_CLIENT] = LIMIT("max-groups-per-client", max_groups_per_client, KEY_COUNT, 0, 65536),
        [KEY_LIMIT_ROOT] = LIMIT("limit-root", limit_root, KEY_BOOL, 0, 1),
        [KEY_MAX_RECEIVED_PER_UID] = LIMIT("max-received-per-uid", max_received_per_uid, KEY_COUNT, 0, PENDING_MAX),
        [KEY_MAX_RECEIVED_BYTES_PER_UID] = LIMIT("max-received-bytes-per-uid", max_received_bytes_per_uid, KEY_BYTES, 0, BYTES_MAX),
        [KEY_MAX_ANSWER_BYTES_PER_UID] = LIMIT("max-answer-bytes-per-uid", max_answer_bytes_per_uid, KEY_BYTES, BYTES_MIN, BYTES_MAX),
        [KEY_MAX_ANSWER_BYTES] = LIMIT("max-answer-bytes", max_answer_bytes, KEY_BYTES, BYTES_MIN, BYTES_MAX),
        [KEY_HELLO_TIMEOUT] = LIMIT("hello-timeout", hello_timeout_sec, KEY_COUNT, 1, 3600),
        [KEY_RESERVED_CONNECTIONS] = LIMIT("reserved-connections", reserved_connections, KEY_COUNT, 0, COUNT_MAX),
        [KEY_ADMIN_GROUP] = { .name = "group", .section = SECTION_ADMIN, .type = KEY_GROUP },
};

/* Pairs that must hold small <= large; checked once the whole file is read. */
static const struct {
        ConfigKey small, large;
} limit_order[] = {
        { KEY_DEFAULT_WINDOW, KEY_MAX_WINDOW },
        { KEY_MAX_PAYLOAD, KEY_MAX_QUEUE_BYTES },
        { KEY_MAX_PAYLOAD, KEY_MAX_BYTES_PER_UID },
        { KEY_MAX_PAYLOAD, KEY_MAX_BYTES },
};

typedef enum Clause {
        CLAUSE_FROM,
        CLAUSE_TO,
        CLAUSE_SIGNALS,
        CLAUSE_TARGETS,
        _CLAUSE_MAX,
} Clause;

static const char *const clause_names[_CLAUSE_MAX] = {
        [CLAUSE_FROM] = "from",
        [CLAUSE_TO] = "to",
        [CLAUSE_SIGNALS] = "signals",
        [CLAUSE_TARGETS] = "targets",
};


typedef struct Parser {
        const char *name;               /* file name for messages */
        unsigned line;                  /* current line, from 1 */
        Section section;
        Config *config;
        size_t rules_allocated;
        unsigned key_line[_KEY_MAX];    /* where each key was set; 0: not set */
        ErrorText error;
} Parser;

static int lookup_string(const char *const *table, size_t n, const char *s) {
        for (size_t i = 0; i < n; i++)
                if (table[i] && strcmp(table[i], s) == 0)
                        return (int) i;
        return -1;
}

/* Digits only, at least one; -ERANGE if it does not fit 64 bits. */
static int parse_digits(const char *s, size_t n, uint64_t *ret) {
        uint64_t v = 0;

        if (n == 0)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                unsigned d = (unsigned char) s[i] - '0';

                if (d > 9)
                        return -EINVAL;
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

/* "4096", "4K", "4M", "1G": powers of 1024. */
static int parse_bytes(const char *s, uint64_t *ret) {
        static const char suffixes[] = "KMG";
        size_t n = strlen(s);
        unsigned shift = 0;
        const char *suffix;
        uint64_t v = 0;
        int r;

        if (n > 0 && (suffix = strchr(suffixes, s[n - 1]))) {
                shift = 10 * (unsigned) (suffix - suffixes + 1);
                n--;
        }
        r = parse_digits(s, n, &v);
        if (r < 0)
                return r;
        if (v > (UINT64_MAX >> shift))
                return -ERANGE;
        *ret = v << shift;
        return 0;
}

static int parse_bool(const char *s) {
        static const char *const yes[] = { "yes", "true", "on", "1" };
        static const char *const no[] = { "no", "false", "off", "0" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(s, yes[i]) == 0)
                        return 1;
                if (strcasecmp(s, no[i]) == 0)
                        return 0;
        }
        return -EINVAL;
}

/* Sizes read back the way they are best written: 4M rather than 4194304. */
static const char *format_value(const KeyInfo *k, uint64_t v, char buf[static 32]) {
        static const char suffixes[] = "GMK";
        unsigned i;

        for (i = 0; k->type == KEY_BYTES && v > 0 && i < 3; i++) {
                unsigned shift = 30 - 10 * i;

                if (v % (UINT64_C(1) << shift) == 0) {
                        snprintf(buf, 32, "%" PRIu64 "%c", v >> shift, suffixes[i]);
                        return buf;
                }
        }
        snprintf(buf, 32, "%" PRIu64, v);
        return buf;
}

static uint64_t limit_get(const Limits *l, const KeyInfo *k) {
        const char *field = (const char *) l + k->offset;

        if (k->size == sizeof(uint64_t))
                return *(const uint64_t *) field;
        if (k->size == sizeof(uint32_t))
                return *(const uint32_t *) field;
        return *(const bool *) field;
}

static void limit_put(Limits *l, const KeyInfo *k, uint64_t v) {
        char *field = (char *) l + k->offset;

        if (k->size == sizeof(uint64_t))
                *(uint64_t *) field = v;
        else if (k->size == sizeof(uint32_t))
                *(uint32_t *) field = (uint32_t) v;
        else
                *(bool *) field = v;
}

static int limit_set(Limits *l, const KeyInfo *k, const char *value, ErrorText *e) {
        char lo[32], hi[32];
        uint64_t v = 0;
        int r;

        assert(k->section == SECTION_LIMITS);

        if (k->type == KEY_BOOL) {
                r = parse_bool(value);
                if (r < 0)
                        return fail(e, "%s takes yes or no, not '%s'", k->name, value);
                limit_put(l, k, (uint64_t) r);
                return 0;
        }
        r = k->type == KEY_BYTES ? parse_bytes(value, &v) : parse_digits(value, strlen(value), &v);
        if (r == -EINVAL && k->type == KEY_BYTES)
                return fail(e, "%s takes a size such as 4096 or 4M, not '%s'", k->name, value);
        if (r == -EINVAL)
                return fail(e, "%s takes a number, not '%s'", k->name, value);
        if (r < 0 || v < k->min || v > k->max)
                return fail(e, "%s must be between %s and %s, not '%s'", k->name,
                            format_value(k, k->min, lo), format_value(k, k->max, hi), value);
        limit_put(l, k, v);
        return 0;
}

/* The first pair of limit_order[] that l violates, or -1. */
static int limits_find_conflict(const Limits *l) {
        for (size_t i = 0; i < ELEMENTSOF(limit_order); i++)
                if (limit_get(l, &keys[limit_order[i].small]) > limit_get(l, &keys[limit_order[i].large]))
                        return (int) i;
        return -1;
}

static int fail_conflict(ErrorText *e, const Limits *l, int i) {
        const KeyInfo *small = &keys[limit_order[i].small], *large = &keys[limit_order[i].large];
        char a[32], b[32];

        return fail(e, "%s (%s) is larger than %s (%s)",
                    small->name, format_value(small, limit_get(l, small), a),
                    large->name, format_value(large, limit_get(l, large), b));
}

/* A name made of digits is a number; anything else is looked up. */
static int nss_lookup(const char *name, bool group, uint32_t *ret, ErrorText *e) {
        const char *what = group ? "group" : "user";

        for (size_t size = 1024; size <= NSS_BUFFER_MAX; size *= 2) {
                _cleanup_free_ char *buf = malloc(size);
                struct passwd pw, *pwp = NULL;
                struct group gr, *grp = NULL;
                int r;

                if (!buf)
                        return -ENOMEM;
                if (group)
                        r = getgrnam_r(name, &gr, buf, size, &grp);
                else
                        r = getpwnam_r(name, &pw, buf, size, &pwp);
                if (r == ERANGE)
                        continue;
                if (r == 0 && (grp || pwp)) {
                        *ret = group ? grp->gr_gid : pwp->pw_uid;
                        return 0;
                }
                /* Not found, as glibc's NSS modules variously report it. */
                if (r == 0 || r == ENOENT || r == ESRCH || r == EBADF || r == EPERM)
                        return fail(e, "unknown %s '%s'", what, name);
                return fail_errno(e, r, "cannot look up %s '%s': %s", what, name, strerrordesc_np(r));
        }
        return fail_errno(e, ERANGE, "the entry for %s '%s' is too large", what, name);
}

static int resolve_id(const char *name, bool group, uint32_t *ret, ErrorText *e) {
        const char *what = group ? "group" : "user";
        uint64_t v = 0;
        int r;

        if (*name == '\0')
                return fail(e, "missing %s name or number", what);
        if (strlen(name) > LOGIN_NAME_MAX)
                return fail(e, "%s name '%.32s...' is too long", what, name);
        r = parse_digits(name, strlen(name), &v);
        if (r == -EINVAL)
                return nss_lookup(name, group, ret, e);
        /* (uid_t) -1 and (gid_t) -1 mean "no id" to the kernel */
        if (r < 0 || v >= UINT32_MAX)
                return fail(e, "%s number %s is out of range", what, name);
        *ret = (uint32_t) v;
        return 0;
}

static int parse_match(const char *value, RuleMatch *ret, ErrorText *e) {
        bool group;
        int r;

        if (strcmp(value, "any") == 0) {
                *ret = (RuleMatch) { .kind = RULE_MATCH_ANY };
                return 0;
        }
        if (strncmp(value, "uid:", 4) == 0)
                group = false;
        else if (strncmp(value, "gid:", 4) == 0)
                group = true;
        else
                return fail(e, "'%s' is not a peer: expected any, uid:USER or gid:GROUP", value);

        r = resolve_id(value + 4, group, &ret->id, e);
        if (r < 0)
                return r;
        ret->kind = group ? RULE_MATCH_GID : RULE_MATCH_UID;
        return 0;
}

static int parse_signal(const char *s, ErrorText *e) {
        int signo = sb_signal_from_string(s);

        if (signo < 0)
                return fail(e, "unknown signal '%s'", s);
        return signo;
}

/* One item of a signal list: a signal or a range A..B, into rule. */
static int parse_signal_item(char *item, Rule *rule, ErrorText *e) {
        char *dots = strstr(item, "..");
        const char *last = item;
        int lo, hi;

        if (strcasecmp(item, "any") == 0) {
                rule->signals = UINT64_MAX;
                rule->probe = true;
                return 0;
        }
        if (dots) {
                *dots = '\0';
                last = dots + 2;
                if (*item == '\0' || *last == '\0')
                        return fail(e, "signal range '%s..%s' lacks an end", item, last);
        }
        lo = parse_signal(item, e);
        if (lo < 0)
                return lo;
        hi = parse_signal(last, e);
        if (hi < 0)
                return hi;
        if (lo > hi)
                return fail(e, "signal range '%s..%s' runs backwards", item, last);
        for (int s = lo; s <= hi; s++) {
                if (s == 0)
                        rule->probe = true;
                else
                        rule->signals |= SB_SIGMASK(s);
        }
        return 0;
}

/* Split a comma-separated list in place and hand each item to parse_item. */
static int parse_list(char *list, const char *what, void *userdata, ErrorText *e,
                      int (*parse_item)(char *item, void *userdata, ErrorText *e)) {
        char *item = list;

        for (;;) {
                char *comma = strchr(item, ',');
                int r;

                if (comma)
                        *comma = '\0';
                if (*item == '\0')
                        return fail(e, "empty item in the %s list", what);
                r = parse_item(item, userdata, e);
                if (r < 0)
                        return r;
                if (!comma)
                        return 0;
                item = comma + 1;
        }
}

static int signal_item(char *item, void *userdata, ErrorText *e) {
        return parse_signal_item(item, userdata, e);
}

static int target_item(char *item, void *userdata, ErrorText *e) {
        uint32_t *targets = userdata;
        int kind;

        if (strcmp(item, "any") == 0) {
                *targets = UINT32_MAX;
                return 0;
        }
        kind = sb_target_kind_from_string(item);
        if (kind < 0)
                return fail(e, "unknown target kind '%s': expected pid, pgid, sid, group, client, broadcast or any",
                            item);
        *targets |= UINT32_C(1) << kind;
        return 0;
}

static int parse_clause(Clause clause, char *value, Rule *rule, ErrorText *e) {
        switch (clause) {
        case CLAUSE_FROM:
                return parse_match(value, &rule->from, e);
        case CLAUSE_TO:
                return parse_match(value, &rule->to, e);
        case CLAUSE_SIGNALS:
                rule->signals = 0;
                rule->probe = false;
                return parse_list(value, "signal", rule, e, signal_item);
        case CLAUSE_TARGETS:
                rule->targets = 0;
                return parse_list(value, "target", &rule->targets, e, target_item);
        default:
                assert(!"unreachable");
                return -EINVAL;
        }
}

/* The next whitespace-separated word of *cursor, NUL-terminated in place. */
static char *next_word(char **cursor) {
        char *s = *cursor + strspn(*cursor, " \t"), *end;

        if (*s == '\0')
                return NULL;
        end = s + strcspn(s, " \t");
        *cursor = end;
        if (*end != '\0') {
                *end = '\0';
                *cursor = end + 1;
        }
        return s;
}

/* A clause's value: one word, or several when each but the last ends with
 * a comma ("USR1, USR2"). out has room for the whole line. */
static bool next_value(char **cursor, char *out) {
        char *word = next_word(cursor);
        size_t n = 0;

        if (!word)
                return false;
        do {
                size_t len = strlen(word);

                memcpy(out + n, word, len + 1);
                n += len;
        } while (out[n - 1] == ',' && (word = next_word(cursor)));
        return true;
}

static int parser_add_rule(Parser *p, const Rule *rule) {
        Config *c = p->config;

        if (c->n_rules >= CONFIG_RULES_MAX)
                return fail(&p->error, "more than %d rules", CONFIG_RULES_MAX);
        if (c->n_rules == p->rules_allocated) {
                size_t n = p->rules_allocated ? p->rules_allocated * 2 : RULES_INITIAL;
                Rule *rules = reallocarray(c->rules, n, sizeof(Rule));

                if (!rules)
                        return -ENOMEM;
                c->rules = rules;
                p->rules_allocated = n;
        }
        c->rules[c->n_rules++] = *rule;
        return 0;
}

static int parse_rule(Parser *p, char *line) {
        Rule rule = {
                .from.kind = RULE_MATCH_ANY,
                .to.kind = RULE_MATCH_ANY,
                .signals = UINT64_MAX,
                .probe = true,
                .targets = UINT32_MAX,
                .line = p->line,
        };
        bool seen[_CLAUSE_MAX] = {};
        char value[CONFIG_LINE_MAX + 1];
        char *cursor = line, *word = next_word(&cursor);
        int r;

        assert(word);   /* the caller skips empty lines */
        if (strcmp(word, "allow") == 0)
                rule.action = RULE_ALLOW;
        else if (strcmp(word, "deny") == 0)
                rule.action = RULE_DENY;
        else
                return fail(&p->error, "a rule starts with allow or deny, not '%s'", word);

        while ((word = next_word(&cursor))) {
                int clause = lookup_string(clause_names, _CLAUSE_MAX, word);

                if (clause < 0)
                        return fail(&p->error, "unknown word '%s' in the rule: expected from, to, signals or targets",
                                    word);
                if (seen[clause])
                        return fail(&p->error, "'%s' appears twice in the rule", word);
                seen[clause] = true;
                if (!next_value(&cursor, value))
                        return fail(&p->error, "'%s' needs a value", word);
                r = parse_clause(clause, value, &rule, &p->error);
                if (r < 0)
                        return r;
        }
        return parser_add_rule(p, &rule);
}

static char *strip(char *s) {
        size_t n;

        s += strspn(s, " \t");
        n = strlen(s);
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
                s[--n] = '\0';
        return s;
}

static int parse_section(Parser *p, char *line) {
        size_t n = strlen(line);
        char *name;
        int s;

        if (line[n - 1] != ']')
                return fail(&p->error, "section header '%s' lacks its closing ']'", line);
        line[n - 1] = '\0';
        name = strip(line + 1);
        s = lookup_string(section_names, _SECTION_MAX, name);
        if (s < 0)
                return fail(&p->error, "unknown section [%s]: expected [limits], [admin] or [policy]", name);
        p->section = s;
        return 0;
}

static int parse_key(Parser *p, const KeyInfo *k, const char *value) {
        uint32_t gid;
        int r;

        if (k->type != KEY_GROUP)
                return limit_set(&p->config->limits, k, value, &p->error);
        r = resolve_id(value, true, &gid, &p->error);
        if (r < 0)
                return r;
        p->config->have_admin_gid = true;
        p->config->admin_gid = gid;
        return 0;
}

static int parse_assignment(Parser *p, char *line) {
        char *eq = strchr(line, '='), *key, *value;
        int k;

        if (!eq)
                return fail(&p->error, "expected 'key = value', not '%s'", line);
        *eq = '\0';
        key = strip(line);
        value = strip(eq + 1);
        if (*key == '\0')
                return fail(&p->error, "missing key before '='");
        for (k = 0; k < _KEY_MAX; k++)
                if (keys[k].section == p->section && strcmp(keys[k].name, key) == 0)
                        break;
        if (k == _KEY_MAX)
                return fail(&p->error, "unknown key '%s' in [%s]", key, section_names[p->section]);
        if (p->key_line[k] > 0)
                return fail(&p->error, "%s is already set on line %u", key, p->key_line[k]);
        if (*value == '\0')
                return fail(&p->error, "%s has no value", key);
        p->key_line[k] = p->line;
        return parse_key(p, &keys[k], value);
}

/* Tabs are the only control characters a line may hold; NUL among them,
 * since the rest of the parser works on C strings. */
static int check_bytes(Parser *p, const char *s, size_t n) {
        for (size_t i = 0; i < n; i++) {
                unsigned char c = s[i];

                if ((c < ' ' && c != '\t') || c == 0x7f)
                        return fail(&p->error, "control character 0x%02x in the line", c);
        }
        return 0;
}

static int parse_line(Parser *p, char *line) {
        char *s;

        line[strcspn(line, "#")] = '\0';
        s = strip(line);
        if (*s == '\0')
                return 0;
        if (*s == '[')
                return parse_section(p, s);
        switch (p->section) {
        case SECTION_NONE:
                return fail(&p->error, "'%s' comes before any section header such as [limits]", s);
        case SECTION_POLICY:
                return parse_rule(p, s);
        default:
                return parse_assignment(p, s);
        }
}

static int parse_text(Parser *p, const char *text, size_t len) {
        char line[CONFIG_LINE_MAX + 1];
        size_t pos = 0;

        if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
                pos = 3;        /* a UTF-8 byte order mark */
        while (pos < len) {
                const char *start = text + pos, *nl = memchr(start, '\n', len - pos);
                size_t n = nl ? (size_t) (nl - start) : len - pos;
                int r;

                pos += n + !!nl;
                if (p->line == UINT_MAX)
                        return fail(&p->error, "too many lines");
                p->line++;
                if (n > 0 && start[n - 1] == '\r')
                        n--;
                if (n > CONFIG_LINE_MAX)
                        return fail(&p->error, "line is longer than %d bytes", CONFIG_LINE_MAX);
                r = check_bytes(p, start, n);
                if (r < 0)
                        return r;
                memcpy(line, start, n);
                line[n] = '\0';
                r = parse_line(p, line);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Blame the later of the two lines that set a conflicting pair. */
static int parser_check_limits(Parser *p) {
        int i = limits_find_conflict(&p->config->limits);
        unsigned a, b;

        if (i < 0)
                return 0;
        a = p->key_line[limit_order[i].small];
        b = p->key_line[limit_order[i].large];
        p->line = a > b ? a : b;
        return fail_conflict(&p->error, &p->config->limits, i);
}

static char *error_message(const char *name, unsigned line, const char *text) {
        char *m = NULL;
        int r;

        if (line > 0)
                r = asprintf(&m, "%s:%u: %s", name, line, text);
        else if (name)
                r = asprintf(&m, "%s: %s", name, text);
        else
                return strdup(text);
        return r < 0 ? NULL : m;
}

int config_new_default(Config **ret) {
        Config *c;

        if (!ret)
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        *c = (Config) { .limits = LIMITS_DEFAULT };
        *ret = c;
        return 0;
}

static int config_new_named(const char *name, Config **ret) {
        _cleanup_(config_freep) Config *c = NULL;
        int r;

        r = config_new_default(&c);
        if (r < 0)
                return r;
        if (name) {
                c->path = strdup(name);
                if (!c->path)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

int config_parse_string(const char *name, const char *text, size_t len, Config **ret, char **ret_error) {
        _cleanup_(config_freep) Config *c = NULL;
        Parser p = { .name = name ? name : "(string)" };
        int r;

        if (ret_error)
                *ret_error = NULL;
        if (!ret || (!text && len > 0))
                return -EINVAL;

        r = config_new_named(name, &c);
        if (r < 0)
                return r;
        p.config = c;
        r = parse_text(&p, text, len);
        if (r >= 0)
                r = parser_check_limits(&p);
        if (r < 0) {
                if (ret_error && r != -ENOMEM)
                        *ret_error = error_message(p.name, p.line, p.error.text);
                return r;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

/* The whole file, at most CONFIG_FILE_MAX bytes. */
static int read_file(int fd, char **ret, size_t *ret_size, ErrorText *e) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, allocated = 0;

        for (;;) {
                ssize_t n;

                if (size == allocated) {
                        char *b;

                        if (allocated > CONFIG_FILE_MAX)
                                return fail_errno(e, EFBIG, "file is larger than %u bytes", CONFIG_FILE_MAX);
                        allocated = allocated ? allocated * 2 : 16384;
                        b = realloc(buf, allocated);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                }
                n = read(fd, buf + size, allocated - size);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return fail_errno(e, errno, "cannot read: %s", strerrordesc_np(errno));
                if (n == 0)
                        break;
                size += (size_t) n;
        }
        if (size > CONFIG_FILE_MAX)
                return fail_errno(e, EFBIG, "file is larger than %u bytes", CONFIG_FILE_MAX);
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

static int open_config(const char *path, int *ret_fd, ErrorText *e) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return fail_errno(e, errno, "cannot open: %s", strerrordesc_np(errno));
        if (fstat(fd, &st) < 0)
                return fail_errno(e, errno, "cannot stat: %s", strerrordesc_np(errno));
        if (S_ISDIR(st.st_mode))
                return fail_errno(e, EISDIR, "is a directory, not a file");
        if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3)) {
                /* /dev/null: an empty file, the defaults and no rules */
                *ret_fd = TAKE_FD(fd);
                return 0;
        }
        if (!S_ISREG(st.st_mode))
                return fail(e, "is not a regular file");
        if (st.st_size > (off_t) CONFIG_FILE_MAX)
                return fail_errno(e, EFBIG, "file is larger than %u bytes", CONFIG_FILE_MAX);
        /* The policy is root's to write: a file someone else may change
         * would let them grant themselves any signal. */
        if (st.st_mode & (S_IWGRP | S_IWOTH))
                return fail_errno(e, EPERM, "is writable by its group or by others (mode %04o); refusing it",
                                  (unsigned) (st.st_mode & 07777));
        if (st.st_uid != 0 && st.st_uid != geteuid())
                return fail_errno(e, EPERM, "is owned by uid %u, not by root; refusing it", (unsigned) st.st_uid);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int config_parse_file(const char *path, bool missing_ok, Config **ret, char **ret_error) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *text = NULL;
        ErrorText e = {};
        size_t size = 0;
        int r;

        if (ret_error)
                *ret_error = NULL;
        if (!path || !ret)
                return -EINVAL;

        r = open_config(path, &fd, &e);
        if (r == -ENOENT && missing_ok)
                return config_new_named(path, ret);
        if (r >= 0)
                r = read_file(fd, &text, &size, &e);
        if (r < 0) {
                if (ret_error && r != -ENOMEM)
                        *ret_error = error_message(path, 0, e.text);
                return r;
        }
        r = config_parse_string(path, text, size, ret, ret_error);
        if (r >= 0)
                (*ret)->from_file = true;
        return r;
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        free(c->path);
        free(c->rules);
        free(c);
        return NULL;
}

int config_set_limit(Limits *l, const char *key, const char *value, char **ret_error) {
        const KeyInfo *k = NULL;
        ErrorText e = {};
        int r;

        if (ret_error)
                *ret_error = NULL;
        if (!l || !key || !value)
                return -EINVAL;

        for (size_t i = 0; i < _KEY_MAX && !k; i++)
                if (keys[i].section == SECTION_LIMITS && strcmp(keys[i].name, key) == 0)
                        k = &keys[i];
        if (k)
                r = limit_set(l, k, value, &e);
        else
                r = fail(&e, "unknown limit '%s'", key);
        if (r < 0 && ret_error)
                *ret_error = strdup(e.text);
        return r;
}

int config_check_limits(const Limits *l, char **ret_error) {
        ErrorText e = {};
        int i, r;

        if (ret_error)
                *ret_error = NULL;
        if (!l)
                return -EINVAL;

        i = limits_find_conflict(l);
        if (i < 0)
                return 0;
        r = fail_conflict(&e, l, i);
        if (ret_error)
                *ret_error = strdup(e.text);
        return r;
}

/* ---- printing: the file's own syntax, so that the output parses again ---- */

static void print_match(FILE *f, const char *clause, const RuleMatch *m) {
        if (m->kind == RULE_MATCH_ANY)
                fprintf(f, " %s any", clause);
        else
                fprintf(f, " %s %s:%" PRIu32, clause, m->kind == RULE_MATCH_UID ? "uid" : "gid", m->id);
}

/* Runs of consecutive signals as A..B, the probe as 0. */
static void print_signals(FILE *f, const Rule *r) {
        const char *sep = "";
        char a[16], b[16];

        fputs(" signals ", f);
        if (r->signals == UINT64_MAX && r->probe) {
                fputs("any", f);
                return;
        }
        if (r->probe) {
                fputs("0", f);
                sep = ",";
        }
        for (int lo = 1; lo <= SB_SIGNO_MAX; lo++) {
                int hi = lo;

                if (!(r->signals & SB_SIGMASK(lo)))
                        continue;
                while (hi < SB_SIGNO_MAX && (r->signals & SB_SIGMASK(hi + 1)))
                        hi++;
                fprintf(f, "%s%s", sep, sb_signal_to_string(lo, a));
                if (hi > lo)
                        fprintf(f, "..%s", sb_signal_to_string(hi, b));
                sep = ",";
                lo = hi;
        }
}

static void print_targets(FILE *f, uint32_t targets) {
        const char *sep = "";

        fputs(" targets ", f);
        if (targets == UINT32_MAX) {
                fputs("any", f);
                return;
        }
        for (int k = 0; k < _SB_TARGET_MAX; k++)
                if (targets & (UINT32_C(1) << k)) {
                        fprintf(f, "%s%s", sep, sb_target_kind_to_string(k));
                        sep = ",";
                }
}

/* The name of a uid or gid, for a comment; NULL if it has none. */
static const char *id_name(const RuleMatch *m, char *buf, size_t size) {
        struct passwd pw, *pwp = NULL;
        struct group gr, *grp = NULL;

        if (m->kind == RULE_MATCH_UID && getpwuid_r(m->id, &pw, buf, size, &pwp) == 0 && pwp)
                return pwp->pw_name;
        if (m->kind == RULE_MATCH_GID && getgrgid_r(m->id, &gr, buf, size, &grp) == 0 && grp)
                return grp->gr_name;
        return NULL;
}

static void print_rule(FILE *f, const Rule *r) {
        const RuleMatch *sides[] = { &r->from, &r->to };
        char buf[4096];

        fputs(r->action == RULE_ALLOW ? "allow" : "deny", f);
        print_match(f, "from", &r->from);
        print_match(f, "to", &r->to);
        print_signals(f, r);
        print_targets(f, r->targets);
        fprintf(f, "  # line %u", r->line);
        for (size_t i = 0; i < ELEMENTSOF(sides); i++) {
                const char *name = id_name(sides[i], buf, sizeof(buf));

                if (name)
                        fprintf(f, ", %s %" PRIu32 " is %s", sides[i]->kind == RULE_MATCH_UID ? "uid" : "gid",
                                sides[i]->id, name);
        }
        fputc('\n', f);
}

void config_print(const Config *c, const Limits *limits, FILE *f) {
        RuleMatch admin = { .kind = RULE_MATCH_GID, .id = c->admin_gid };
        char value[32], buf[4096];
        const char *name;

        assert(c && limits && f);

        fputs("[limits]\n", f);
        for (size_t i = 0; i < _KEY_MAX; i++) {
                const KeyInfo *k = &keys[i];

                if (k->section != SECTION_LIMITS)
                        continue;
                if (k->type == KEY_BOOL)
                        fprintf(f, "%s = %s\n", k->name, limit_get(limits, k) ? "yes" : "no");
                else
                        fprintf(f, "%s = %s\n", k->name, format_value(k, limit_get(limits, k), value));
        }

        fputs("\n[admin]\n", f);
        if (!c->have_admin_gid)
                fputs("# group: not set, only root may administer\n", f);
        else if ((name = id_name(&admin, buf, sizeof(buf))))
                fprintf(f, "group = %" PRIu32 "  # %s\n", (uint32_t) c->admin_gid, name);
        else
                fprintf(f, "group = %" PRIu32 "\n", (uint32_t) c->admin_gid);

        fputs("\n[policy]\n", f);
        if (c->n_rules == 0)
                fputs("# no rules: every delivery follows the kill(2) rule\n", f);
        else
                fprintf(f, "# %zu rule%s, the first that matches decides; no match: the kill(2) rule\n",
                        c->n_rules, c->n_rules == 1 ? "" : "s");
        for (size_t i = 0; i < c->n_rules; i++)
                print_rule(f, &c->rules[i]);
}

static bool peer_in_group(const PolicyPeer *p, gid_t gid) {
        if (p->gid == gid)
                return true;
        for (size_t i = 0; i < p->n_groups; i++)
                if (p->groups[i] == gid)
                        return true;
        return false;
}

static bool match_peer(const RuleMatch *m, const PolicyPeer *p) {
        switch (m->kind) {
        case RULE_MATCH_ANY:
                return true;
        case RULE_MATCH_UID:
                return p->uid == m->id;
        case RULE_MATCH_GID:
                return peer_in_group(p, m->id);
        }
        return false;
}

/* A signal or target kind the rule could not name matches only "any". */
static bool rule_matches(const Rule *r, const PolicyPeer *sender, const PolicyPeer *receiver,
                         uint32_t signo, uint32_t target_kind) {
        if (!match_peer(&r->from, sender) || !match_peer(&r->to, receiver))
                return false;
        if (signo == 0 && !r->probe)
                return false;
        if (signo > SB_SIGNO_MAX && r->signals != UINT64_MAX)
                return false;
        if (signo >= 1 && signo <= SB_SIGNO_MAX && !(r->signals & SB_SIGMASK(signo)))
                return false;
        if (target_kind >= 32)
                return r->targets == UINT32_MAX;
        return r->targets & (UINT32_C(1) << target_kind);
}

PolicyVerdict config_policy_check(const Config *c, const PolicyPeer *sender, const PolicyPeer *receiver,
                                  uint32_t signo, uint32_t target_kind, const Rule **ret_rule) {
        assert(c);
        assert(sender && (sender->groups || sender->n_groups == 0));
        assert(receiver && (receiver->groups || receiver->n_groups == 0));

        for (size_t i = 0; i < c->n_rules; i++) {
                const Rule *r = &c->rules[i];

                if (!rule_matches(r, sender, receiver, signo, target_kind))
                        continue;
                if (ret_rule)
                        *ret_rule = r;
                return r->action == RULE_ALLOW ? POLICY_ALLOW : POLICY_DENY;
        }
        if (ret_rule)
                *ret_rule = NULL;
        return POLICY_NO_RULE;
}

bool config_is_admin(const Config *c, const PolicyPeer *p) {
        assert(c);
        assert(p && (p->groups || p->n_groups == 0));

        return c->have_admin_gid && peer_in_group(p, c->admin_gid);
}
