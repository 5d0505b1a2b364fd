/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
/* The call site comes from log_internal()'s caller, not from here. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "log.h"

#define LOG_FIELDS_MAX 16
#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static struct {
        bool journal;           /* try the journal first */
        bool stderr_too;        /* stderr is a terminal: show lines there as well */
        int max_level;          /* drop entries less important than this */
} log_target = { .journal = true, .max_level = LOG_INFO };

static const char *const level_names[] = { "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug" };

/* JOURNAL_STREAM names the dev:ino of our stderr if systemd connected it to
 * the journal; then stderr lines would be duplicates. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
                return false;
        return st.st_dev == dev && st.st_ino == ino;
}

int log_level_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
                return s[0] - '0';
        if (strcmp(s, "error") == 0)
                return LOG_ERR;
        for (int i = 0; i < (int) ELEMENTSOF(level_names); i++)
                if (strcmp(s, level_names[i]) == 0)
                        return i;
        return -EINVAL;
}

void log_set_max_level(int level) {
        log_target.max_level = level & 7;
}

int log_get_max_level(void) {
        return log_target.max_level;
}

void log_setup(void) {
        const char *e = getenv("SYSTEMD_LOG_LEVEL");
        int level;

        log_target.journal = true;
        log_target.stderr_too = isatty(STDERR_FILENO) && !stderr_is_journal();
        if (!e)
                return;
        level = log_level_from_string(e);
        if (level >= 0)
                log_target.max_level = level;
        else
                fprintf(stderr, "sigbrokerd: warning: ignoring SYSTEMD_LOG_LEVEL='%s': not a log level\n", e);
}

static void log_to_stderr(int priority, const char *message) {
        fprintf(stderr, "sigbrokerd: %s: %s\n", priority == LOG_ERR ? "error" : level_names[priority & 7],
                message);
}

/* The compiler names a source by the path it was given: "../daemon/..."
 * from a build directory in the tree, or an absolute path. Whatever comes
 * before this file's own path in the tree is dropped from the caller's,
 * so that CODE_FILE is the path in the source tree. */
static const char *source_path(const char *file) {
        static const char self[] = "daemon/shared/log.c";
        const char *here = __FILE__;
        size_t n = strlen(here), prefix;

        if (n < sizeof(self) - 1 || strcmp(here + n - (sizeof(self) - 1), self) != 0)
                return file;
        prefix = n - (sizeof(self) - 1);
        return strncmp(file, here, prefix) == 0 ? file + prefix : file;
}

void log_internal(int priority, const char *message_id, const char *const *fields, const char *file, int line,
                  const char *func, const char *fmt, ...) {
        char message[1024], prio[16], mid[64], msg_field[1040], code_file[256], code_line[32];
        struct iovec iov[LOG_FIELDS_MAX + 4];
        size_t n = 0;
        va_list ap;

        if ((priority & 7) > log_target.max_level)
                return;
        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);

        snprintf(msg_field, sizeof(msg_field), "MESSAGE=%s", message);
        snprintf(prio, sizeof(prio), "PRIORITY=%d", priority);
        iov[n++] = (struct iovec) { msg_field, strlen(msg_field) };
        iov[n++] = (struct iovec) { prio, strlen(prio) };
        iov[n++] = (struct iovec) { (char *) "SYSLOG_IDENTIFIER=sigbrokerd", strlen("SYSLOG_IDENTIFIER=sigbrokerd") };
        if (message_id) {
                snprintf(mid, sizeof(mid), "MESSAGE_ID=%s", message_id);
                iov[n++] = (struct iovec) { mid, strlen(mid) };
        }
        for (size_t i = 0; fields && fields[i] && i < LOG_FIELDS_MAX; i++)
                iov[n++] = (struct iovec) { (char *) fields[i], strlen(fields[i]) };

        /* sd_journal_sendv() reports success when there is no journal at
         * all, so look for its socket ourselves. */
        snprintf(code_file, sizeof(code_file), "CODE_FILE=%s", source_path(file));
        snprintf(code_line, sizeof(code_line), "CODE_LINE=%d", line);
        if (!log_target.journal || access(JOURNAL_SOCKET, W_OK) < 0 ||
            sd_journal_sendv_with_location(code_file, code_line, func, iov, (int) n) < 0)
                log_to_stderr(priority, message);
        else if (log_target.stderr_too)
                log_to_stderr(priority, message);
}

unsigned ratelimit_take_suppressed(RateLimit *rl) {
        unsigned n = rl->suppressed;

        if (n == 0 || now_ns(CLOCK_MONOTONIC) - rl->begin_ns < rl->interval_ns)
                return 0;
        rl->suppressed = 0;
        return n;
}

bool ratelimit_test(RateLimit *rl, unsigned *ret_suppressed) {
        uint64_t now = now_ns(CLOCK_MONOTONIC);

        *ret_suppressed = 0;
        if (rl->begin_ns == 0 || now - rl->begin_ns >= rl->interval_ns) {
                *ret_suppressed = rl->suppressed;
                rl->begin_ns = now;
                rl->n = 0;
                rl->suppressed = 0;
        }
        if (rl->n < rl->burst) {
                rl->n++;
                return true;
        }
        rl->suppressed++;
        return false;
}
