/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The daemon's log: structured journal entries (SIGBROKER_* fields and a
 * MESSAGE_ID from daemon/sigbroker.catalog) when the journal is there,
 * plain lines on stderr when it is not, or when stderr is a terminal.
 * Only the daemon logs; the protocol module and the client library do not.
 */

#include <stdarg.h>
#include <syslog.h>

#include "util.h"

/* MESSAGE_IDs; the catalog explains each. */
#define SB_MID_STARTED         "c93ea2d811d24cc9bbcd1ca6fb567984"
#define SB_MID_READY           "c4a7e4354fb847308ebd266833974aa5"
#define SB_MID_STOPPED         "15e288b532114ff1be82a5eaf83f10c3"
#define SB_MID_RELOADED        "66008dc3351049cebed17bfee709d457"
#define SB_MID_RELOAD_FAILED   "a06c61f437fb4df0b0dbb3532c68dc12"
#define SB_MID_DENIED          "641733f1291e46fd92ef2966b10a379b"
#define SB_MID_OVERFLOW        "024dbdf980f84f7085b71c0657b4b40b"
#define SB_MID_VIOLATION       "949346bee50f4a6398b63e678164d766"
#define SB_MID_UID_LIMIT       "f1566e816222492ebd8f6b378f006c41"
#define SB_MID_SUPPRESSED      "57b392eab8ea4552924b230a91317e4c"
#define SB_MID_CAPACITY        "08ea39165d294d6b846be156d709baea"
#define SB_MID_NOT_KEPT        "e257d01f84874a00bd29611218782595"

/* Where to log, and the most verbose level to log: SYSTEMD_LOG_LEVEL if
 * it is set and valid (as systemd's own tools read it), else LOG_INFO. A
 * bad SYSTEMD_LOG_LEVEL is reported on stderr and ignored. */
void log_setup(void);

/* Entries less important than level (a LOG_* priority) are dropped. */
void log_set_max_level(int level);
int log_get_max_level(void);

/* A level by its syslog name (emerg, alert, crit, err or error, warning,
 * notice, info, debug) or number 0 to 7; -EINVAL for anything else. */
int log_level_from_string(const char *s);

/* Log MESSAGE= formatted from fmt, with extra journal fields given as a
 * NULL-terminated list of "KEY=value" strings already formatted, and the
 * caller's CODE_FILE, CODE_LINE and CODE_FUNC. message_id may be NULL.
 * Call it through log_fields() and the macros below, which pass the call
 * site. */
void log_internal(int priority, const char *message_id, const char *const *fields, const char *file,
                  int line, const char *func, const char *fmt, ...) _printf_(7, 8);

#define log_fields(prio, mid, fields, ...) \
        log_internal((prio), (mid), (fields), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_full(prio, mid, ...) log_fields((prio), (mid), NULL, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, NULL, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, NULL, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...) log_full(LOG_DEBUG, NULL, __VA_ARGS__)

/* A token bucket for events that a client can make as often as it likes
 * (denials, overflows, violations): at most `burst` per `interval_ns`, and
 * the next entry after a quiet spell says how many were suppressed. */
typedef struct RateLimit {
        uint64_t interval_ns;
        unsigned burst;
        uint64_t begin_ns;
        unsigned n;
        unsigned suppressed;
} RateLimit;

#define RATELIMIT_INIT(interval, b) { .interval_ns = (interval), .burst = (b) }

/* True if this event may be logged; *ret_suppressed gets the count of
 * events suppressed before it (to be mentioned in its entry). */
bool ratelimit_test(RateLimit *rl, unsigned *ret_suppressed);

/* Events suppressed in a window that has ended with no event after it to
 * carry the count: take the count (and reset it). Called periodically, so
 * that the end of a burst is reported too. */
unsigned ratelimit_take_suppressed(RateLimit *rl);
