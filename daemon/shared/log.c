#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include "log.h"

#define LOG_FIELDS_MAX 16
#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static struct {
        bool journal;           /* try the journal first */
        bool stderr_too;        /* stderr is a terminal: show lines there as well */
} log_target = { .journal = true };

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

void log_setup(void) {
        log_target.journal = true;
        log_target.stderr_too = isatty(STDERR_FILENO) && !stderr_is_journal();
}

static void log_to_stderr(int priority, const char *message) {
        static const char *const level[] = { "emerg", "alert", "crit", "error", "warning", "notice", "info", "debug" };
        fprintf(stderr, "sigbrokerd: %s: %s\n", level[priority & 7], message);
}

void log_fields(int priority, const char *message_id, const char *const *fields, const char *fmt, ...) {
        char message[1024], prio[16], mid[64], msg_field[1040];
        struct iovec iov[LOG_FIELDS_MAX + 4];
        size_t n = 0;
        va_list ap;

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
        if (!log_target.journal || access(JOURNAL_SOCKET, W_OK) < 0 || sd_journal_sendv(iov, (int) n) < 0)
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
