/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The configuration and policy file, sigbroker.conf(5). Parsing is
 * separate from applying: config_parse_file() builds a Config or fails
 * with a message naming the line, and the broker swaps the whole Config in
 * only when the parse succeeded, so a bad reload leaves the old one in
 * force.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "sb-build.h"

/* /etc/sigbroker/sigbroker.conf when built with --sysconfdir=/etc (as
 * --prefix=/usr implies). */
#define CONFIG_DEFAULT_PATH SB_SYSCONFDIR "/sigbroker/sigbroker.conf"
#define CONFIG_LINE_MAX 4096            /* bytes in one line, not counting the newline */
#define CONFIG_RULES_MAX 4096
#define CONFIG_FILE_MAX (16u << 20)     /* bytes; a larger file is refused (-EFBIG) */

typedef struct Limits {
        uint32_t max_queue;             /* pending signals per receiver */
        uint64_t max_queue_bytes;       /* payload + overhead per receiver */
        uint32_t max_payload;           /* bytes, at most SB_PAYLOAD_MAX_LIMIT */
        uint32_t default_window;        /* flow-control window when a client asks for 0 */
        uint32_t max_window;
        uint32_t max_connections_per_uid;
        uint32_t max_pending_per_uid;   /* charged to the sender's uid */
        uint64_t max_bytes_per_uid;
        uint32_t max_connections;       /* all users */
        uint32_t max_pending;           /* all users */
        uint64_t max_bytes;             /* all users */
        uint32_t max_groups_per_client; /* named groups one client may join */
        bool limit_root;                /* apply per-uid limits to uid 0 too */
        uint32_t max_received_per_uid;  /* pending in the queues of one uid's receivers; 0: max_pending / 4 */
        uint64_t max_received_bytes_per_uid;    /* 0: max_bytes / 4 */
        uint64_t max_answer_bytes_per_uid;      /* QUERY answers held for one uid's clients */
        uint64_t max_answer_bytes;      /* ... for all uids but 0 together; uid 0's own */
        uint32_t hello_timeout_sec;     /* a connection that has not said HELLO by then is closed */
        uint32_t reserved_connections;  /* connections (and their fds) kept for uid 0 and the admin group */
} Limits;

#define LIMITS_DEFAULT {                                \
        .max_queue = 1024,                              \
        .max_queue_bytes = 4u << 20,                    \
        .max_payload = 4096,                            \
        .default_window = 64,                           \
        .max_window = 4096,                             \
        .max_connections_per_uid = 4096,                \
        .max_pending_per_uid = 65536,                   \
        .max_bytes_per_uid = 64u << 20,                 \
        .max_connections = 65536,                       \
        .max_pending = 1u << 20,                        \
        .max_bytes = 512u << 20,                        \
        .max_groups_per_client = 64,                    \
        .limit_root = false,                            \
        .max_received_per_uid = 0,                      \
        .max_received_bytes_per_uid = 0,                \
        .max_answer_bytes_per_uid = 32u << 20,          \
        .max_answer_bytes = 128u << 20,                 \
        .hello_timeout_sec = 10,                        \
        .reserved_connections = 64,                     \
}

typedef enum RuleAction {
        RULE_ALLOW,
        RULE_DENY,
} RuleAction;

typedef enum RuleMatchKind {
        RULE_MATCH_ANY,
        RULE_MATCH_UID,
        RULE_MATCH_GID,                 /* primary or supplementary group */
} RuleMatchKind;

typedef struct RuleMatch {
        RuleMatchKind kind;
        uint32_t id;                    /* uid or gid */
} RuleMatch;

typedef struct Rule {
        RuleAction action;
        RuleMatch from;                 /* the sender */
        RuleMatch to;                   /* the receiver */
        uint64_t signals;               /* SB_SIGMASK bits; all ones = any; bit 63 and up never 0 */
        bool probe;                     /* also matches signal 0 (set when signals = any) */
        uint32_t targets;               /* 1 << SbTargetKind bits; all ones = any */
        unsigned line;                  /* where it was written, for messages */
} Rule;

typedef struct Config {
        char *path;                     /* NULL: built-in defaults only */
        bool from_file;                 /* read from path (false: it was missing) */
        Limits limits;
        bool have_admin_gid;
        gid_t admin_gid;
        Rule *rules;                    /* first match wins; none: the kill(2) rule */
        size_t n_rules;
} Config;

/* Identity of one side of a delivery, as policy sees it. */
typedef struct PolicyPeer {
        uid_t uid;
        gid_t gid;
        const gid_t *groups;            /* supplementary, from SO_PEERGROUPS */
        size_t n_groups;
} PolicyPeer;

typedef enum PolicyVerdict {
        POLICY_NO_RULE,                 /* no rule matched: fall back to kill(2) */
        POLICY_ALLOW,
        POLICY_DENY,
} PolicyVerdict;

/* A Config with the built-in defaults and no rules. */
int config_new_default(Config **ret);

/* Parse the file at path. A missing file gives the defaults (returns 0) if
 * missing_ok, else -ENOENT with a message. A file that anyone but root
 * (or the daemon's own uid) owns or may write is refused with -EPERM.
 * On a syntax or value error returns -EINVAL and sets *ret_error to a
 * malloc'ed message "PATH:LINE: what is wrong". Other negative errnos for
 * I/O errors, also with a message. ret_error may be NULL; on -ENOMEM
 * *ret_error is left NULL. */
int config_parse_file(const char *path, bool missing_ok, Config **ret, char **ret_error);

/* Parse text held in memory (for tests and the fuzzer); name is used in
 * messages. */
int config_parse_string(const char *name, const char *text, size_t len, Config **ret, char **ret_error);

Config *config_free(Config *c);

/* Set one [limits] key from text, with the file's syntax and range checks
 * ("max-queue", "512"; "max-payload", "16K"): for command-line overrides.
 * -EINVAL with a message "max-queue must be between 1 and 1048576, not '0'"
 * (no PATH:LINE) on a bad key or value. */
int config_set_limit(Limits *l, const char *key, const char *value, char **ret_error);

/* Check the limits against each other: default-window <= max-window, and
 * max-payload <= max-queue-bytes, max-bytes-per-uid and max-bytes. The
 * parser already does this; call it again after command-line overrides. */
int config_check_limits(const Limits *l, char **ret_error);

/* Write the configuration in force to f in the file's own syntax, so that
 * the output parses again to the same: every limit from limits (the file's
 * with any command-line overrides), the admin group and the rules in
 * order, each with the line it came from. Ids are written as numbers, with
 * their names in comments. */
void config_print(const Config *c, const Limits *limits, FILE *f);

/* The first rule matching sender, receiver, signal and target kind. */
PolicyVerdict config_policy_check(const Config *c, const PolicyPeer *sender, const PolicyPeer *receiver,
                                  uint32_t signo, uint32_t target_kind, const Rule **ret_rule);

/* Whether the peer is in the admin group (uid 0 is checked by the caller). */
bool config_is_admin(const Config *c, const PolicyPeer *p);
