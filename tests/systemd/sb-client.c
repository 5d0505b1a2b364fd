/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sb-client: a libsigbroker client a test script drives line by line.
 *
 *   sb-client [--socket PATH]        (default: where libsigbroker looks)
 *
 * Holds any number of connections, numbered by the script (slots 0..1023),
 * and does nothing between commands: a receiver that is not told to read
 * reads nothing, so that what is sent to it stays in the broker. Commands
 * come one per line on stdin; every command ends with one line on stdout
 * starting "= ok" or "= err ERRNAME", after any data lines:
 *
 *   connect C WINDOW [SIGNO...]      connect (WINDOW 0: the daemon's default),
 *                                    subscribe; "= ok id=ID pid=PID"
 *   connect-many C N WINDOW SIGNO... the same for slots C..C+N-1; a line
 *                                    "id SLOT ID" for each
 *   send C KIND ID SIGNO PRIO PAYLOAD
 *                                    KIND: pid, client or broadcast (ID
 *                                    ignored); "= ok queued=Q merged=M
 *                                    refused=R denied=D" (or "= err ERRNAME
 *                                    queued=..." when no receiver got it)
 *   send-many C KIND ID SIGNO PRIO PREFIX FIRST N [DELAY_US]
 *                                    N sends one after the other, payloads
 *                                    PREFIX-FIRST.., each answered before the
 *                                    next; a line "res PAYLOAD queued=Q
 *                                    merged=M refused=R denied=D error=E"
 *                                    (E: - or an errno name) each, flushed as
 *                                    it comes; "= ok sent=N accepted=A"
 *   send-clients C SIGNO PRIO PREFIX ID...
 *                                    one send per client ID, payload
 *                                    PREFIX-ID; "= ok queued=Q merged=M
 *                                    refused=R denied=D failed=F"
 *   recv C N TIMEOUT_MS              read N signals, one line each:
 *                                    "sig C signo=S prio=P seq=Q merged=M
 *                                    gap=G from=CLIENTID payload=TEXT"
 *   recv-many C N TIMEOUT_MS         one signal from each of slots C..C+N-1,
 *                                    "fail SLOT ERRNAME" for a failed one
 *   quiet C MS                       nothing may arrive for MS ms (what does
 *                                    is printed, and "= err EEXIST extra=K")
 *   status C                         a round trip: the daemon's STATUS answer,
 *                                    "= ok daemon_pid=P clients=N pending=N"
 *   close C
 *
 * Payloads are printed as they are: tests use printable ones without
 * spaces. Exits at end of input. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sigbroker.h"

#define SLOTS_MAX 1024
#define ARGS_MAX 1100

static sigbroker *slots[SLOTS_MAX];
static const char *socket_path;

static const char *errname(int r) {
        return strerrorname_np(r < 0 ? -r : r) ?: "EUNKNOWN";
}

static int reply_err(int r, const char *extra) {
        printf("= err %s%s%s\n", errname(r), extra ? " " : "", extra ? extra : "");
        return 0;
}

static bool parse_u64(const char *s, uint64_t *ret) {
        char *end;

        if (!s || !*s)
                return false;
        errno = 0;
        *ret = strtoull(s, &end, 10);
        return errno == 0 && *end == '\0';
}

static bool parse_slot(const char *s, long *ret_index) {
        uint64_t c;

        if (!parse_u64(s, &c) || c >= SLOTS_MAX)
                return false;
        *ret_index = (long) c;
        return true;
}

/* The connection in slot s, NULL if none or not a slot number. */
static sigbroker *slot(const char *s, long *ret_index) {
        long c;

        if (!parse_slot(s, &c))
                return NULL;
        if (ret_index)
                *ret_index = c;
        return slots[c];
}

static int parse_mask(char **argv, int argc, uint64_t *ret) {
        uint64_t mask = 0, v;

        for (int i = 0; i < argc; i++) {
                if (!parse_u64(argv[i], &v) || v < 1 || v > SIGBROKER_SIGNO_MAX)
                        return -EINVAL;
                mask |= SIGBROKER_SIGMASK(v);
        }
        *ret = mask;
        return 0;
}

static int open_one(long c, unsigned window, uint64_t mask, uint64_t *ret_id) {
        sigbroker *sb = NULL;
        int r;

        if (slots[c])
                return -EBUSY;
        r = sigbroker_connect_with(socket_path, window, &sb);
        if (r < 0)
                return r;
        if (mask) {
                r = sigbroker_subscribe(sb, mask, 0);
                if (r < 0) {
                        sigbroker_close(sb);
                        return r;
                }
        }
        (void) sigbroker_get_client_id(sb, ret_id);
        slots[c] = sb;
        return 0;
}

static int cmd_connect(char **argv, int argc, bool many) {
        uint64_t n = 1, window, mask = 0, id = 0;
        int skip = many ? 4 : 3, r;
        long c;

        if (argc < skip || !parse_slot(argv[1], &c) ||
            (many && (!parse_u64(argv[2], &n) || n == 0 || (uint64_t) c + n > SLOTS_MAX)) ||
            !parse_u64(argv[skip - 1], &window) || parse_mask(argv + skip, argc - skip, &mask) < 0)
                return reply_err(EINVAL, NULL);
        for (uint64_t i = 0; i < n; i++) {
                r = open_one(c + (long) i, (unsigned) window, mask, &id);
                if (r < 0)
                        return reply_err(r, NULL);
                if (many)
                        printf("id %ld %" PRIu64 "\n", c + (long) i, id);
        }
        if (many)
                printf("= ok\n");
        else
                printf("= ok id=%" PRIu64 " pid=%d\n", id, (int) getpid());
        return 0;
}

static int cmd_connect_one(char **argv, int argc) {
        return cmd_connect(argv, argc, false);
}

static int cmd_connect_many(char **argv, int argc) {
        return cmd_connect(argv, argc, true);
}

static void print_result(int r, const sigbroker_send_result *res, const char *extra) {
        printf("= %s%s queued=%u merged=%u refused=%u denied=%u%s\n", r < 0 ? "err " : "ok", r < 0 ? errname(r) : "",
               res->queued, res->merged, res->refused, res->denied, extra ? extra : "");
}

static bool parse_target(const char *kind, const char *id, sigbroker_target *ret) {
        static const char *const kinds[] = {
                [SIGBROKER_TARGET_PID] = "pid",
                [SIGBROKER_TARGET_CLIENT] = "client",
                [SIGBROKER_TARGET_BROADCAST] = "broadcast",
        };

        *ret = (sigbroker_target) {};
        for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
                if (kinds[k] && strcmp(kind, kinds[k]) == 0) {
                        ret->kind = (int) k;
                        return parse_u64(id, &ret->id);
                }
        return false;
}

/* Errors that say the send was refused; any other means the connection
 * failed. */
static bool send_refused(int r) {
        return r == -EPERM || r == -ESRCH || r == -EAGAIN || r == -EINVAL || r == -EMSGSIZE;
}

static int cmd_send(char **argv, int argc) {
        sigbroker_send_result res = {};
        sigbroker_target t;
        uint64_t signo, prio;
        sigbroker *sb;
        int r;

        if (argc != 7 || !(sb = slot(argv[1], NULL)) || !parse_target(argv[2], argv[3], &t) ||
            !parse_u64(argv[4], &signo) || !parse_u64(argv[5], &prio))
                return reply_err(EINVAL, NULL);
        r = sigbroker_send(sb, &t, (int) signo, (int) prio, argv[6], strlen(argv[6]), &res);
        print_result(r, &res, NULL);
        return 0;
}

static int cmd_send_many(char **argv, int argc) {
        uint64_t signo, prio, first, n, delay = 0, accepted = 0;
        sigbroker_target t;
        char payload[128];
        sigbroker *sb;

        if ((argc != 9 && argc != 10) || !(sb = slot(argv[1], NULL)) || !parse_target(argv[2], argv[3], &t) ||
            !parse_u64(argv[4], &signo) || !parse_u64(argv[5], &prio) || !parse_u64(argv[7], &first) ||
            !parse_u64(argv[8], &n) || (argc == 10 && !parse_u64(argv[9], &delay)))
                return reply_err(EINVAL, NULL);
        for (uint64_t i = first; i < first + n; i++) {
                sigbroker_send_result res = {};
                char extra[192];
                int r;

                if (delay > 0 && i > first)
                        usleep((useconds_t) delay);
                snprintf(payload, sizeof(payload), "%s-%" PRIu64, argv[6], i);
                r = sigbroker_send(sb, &t, (int) signo, (int) prio, payload, strlen(payload), &res);
                if (r < 0 && !send_refused(r)) {
                        snprintf(extra, sizeof(extra), "sent=%" PRIu64 " at=%s", i - first, payload);
                        return reply_err(r, extra);
                }
                printf("res %s queued=%u merged=%u refused=%u denied=%u error=%s\n", payload, res.queued, res.merged,
                       res.refused, res.denied, r < 0 ? errname(r) : "-");
                fflush(stdout);
                accepted += r == 0;
        }
        printf("= ok sent=%" PRIu64 " accepted=%" PRIu64 "\n", n, accepted);
        return 0;
}

static int cmd_send_clients(char **argv, int argc) {
        sigbroker_send_result sum = {};
        uint64_t signo, prio, id;
        unsigned failed = 0;
        char payload[128], extra[32];
        sigbroker *sb;

        if (argc < 5 || !(sb = slot(argv[1], NULL)) || !parse_u64(argv[2], &signo) || !parse_u64(argv[3], &prio))
                return reply_err(EINVAL, NULL);
        for (int i = 5; i < argc; i++) {
                sigbroker_send_result res = {};
                sigbroker_target t = { .kind = SIGBROKER_TARGET_CLIENT };
                int r;

                if (!parse_u64(argv[i], &id))
                        return reply_err(EINVAL, NULL);
                t.id = id;
                snprintf(payload, sizeof(payload), "%s-%" PRIu64, argv[4], id);
                r = sigbroker_send(sb, &t, (int) signo, (int) prio, payload, strlen(payload), &res);
                if (r < 0) {
                        if (!send_refused(r))
                                return reply_err(r, NULL);
                        failed++;
                }
                sum.queued += res.queued;
                sum.merged += res.merged;
                sum.refused += res.refused;
                sum.denied += res.denied;
        }
        snprintf(extra, sizeof(extra), " failed=%u", failed);
        print_result(0, &sum, extra);
        return 0;
}

static void print_signal(long c, const sigbroker_info *i) {
        printf("sig %ld signo=%d prio=%d seq=%" PRIu64 " merged=%u gap=%d from=%" PRIu64 " payload=%.*s\n", c,
               i->signo, i->priority, i->seq, i->merged, i->gap ? (int) i->lost : 0, i->sender_client_id,
               (int) i->payload_len, (const char *) i->payload);
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* Reads up to n signals from slot c until deadline; returns how many, or a
 * negative errno if the connection failed. */
static int64_t read_signals(long c, uint64_t n, uint64_t deadline) {
        uint64_t got = 0;

        while (got < n) {
                sigbroker_info info;
                uint64_t now = now_usec();
                int r;

                r = sigbroker_wait(slots[c], now < deadline ? (int64_t) (deadline - now) : 0, &info);
                if (r == -EINTR)
                        continue;
                if (r == -EAGAIN)
                        break;
                if (r < 0)
                        return r;
                print_signal(c, &info);
                got++;
        }
        return (int64_t) got;
}

static int cmd_recv(char **argv, int argc) {
        uint64_t n, ms;
        int64_t got;
        char extra[48];
        long c;

        if (argc != 4 || !slot(argv[1], &c) || !parse_u64(argv[2], &n) || !parse_u64(argv[3], &ms))
                return reply_err(EINVAL, NULL);
        got = read_signals(c, n, now_usec() + ms * 1000);
        if (got < 0)
                return reply_err((int) got, NULL);
        if ((uint64_t) got < n) {
                snprintf(extra, sizeof(extra), "got=%" PRId64, got);
                return reply_err(ETIMEDOUT, extra);
        }
        printf("= ok %" PRIu64 "\n", n);
        return 0;
}

/* One signal from each slot; a slot whose connection failed is reported
 * ("fail SLOT ERRNAME") and the others are still read. */
static int cmd_recv_many(char **argv, int argc) {
        uint64_t n, ms, total = 0, deadline;
        char extra[48];
        long c;

        if (argc != 4 || !parse_slot(argv[1], &c) || !parse_u64(argv[2], &n) || !parse_u64(argv[3], &ms) ||
            (uint64_t) c + n > SLOTS_MAX)
                return reply_err(EINVAL, NULL);
        deadline = now_usec() + ms * 1000;
        for (long i = c; i < c + (long) n; i++) {
                int64_t got = slots[i] ? read_signals(i, 1, deadline) : -ENOTCONN;

                if (got < 0)
                        printf("fail %ld %s\n", i, errname((int) got));
                else
                        total += (uint64_t) got;
        }
        if (total < n) {
                snprintf(extra, sizeof(extra), "got=%" PRIu64, total);
                return reply_err(ETIMEDOUT, extra);
        }
        printf("= ok %" PRIu64 "\n", total);
        return 0;
}

static int cmd_quiet(char **argv, int argc) {
        uint64_t ms;
        int64_t got;
        char extra[32];
        long c;

        if (argc != 3 || !slot(argv[1], &c) || !parse_u64(argv[2], &ms))
                return reply_err(EINVAL, NULL);
        got = read_signals(c, UINT64_MAX, now_usec() + ms * 1000);
        if (got < 0)
                return reply_err((int) got, NULL);
        if (got > 0) {
                snprintf(extra, sizeof(extra), "extra=%" PRId64, got);
                return reply_err(EEXIST, extra);
        }
        printf("= ok 0\n");
        return 0;
}

/* "key":N from a flat JSON text, -1 if absent. */
static long long json_number(const char *text, const char *key) {
        char pattern[64];
        const char *p;

        snprintf(pattern, sizeof(pattern), "\"%s\":", key);
        p = strstr(text, pattern);
        return p ? strtoll(p + strlen(pattern), NULL, 10) : -1;
}

static int cmd_status(char **argv, int argc) {
        char *text = NULL;
        sigbroker *sb;
        int r;

        if (argc != 2 || !(sb = slot(argv[1], NULL)))
                return reply_err(EINVAL, NULL);
        r = sigbroker_query(sb, SIGBROKER_QUERY_STATUS, 0, 0, &text);
        if (r < 0) {
                free(text);
                return reply_err(r, NULL);
        }
        printf("= ok daemon_pid=%lld clients=%lld pending=%lld\n", json_number(text, "pid"),
               json_number(text, "clients"), json_number(text, "pending"));
        free(text);
        return 0;
}

static int cmd_close(char **argv, int argc) {
        long c;

        if (argc != 2 || !slot(argv[1], &c))
                return reply_err(EINVAL, NULL);
        slots[c] = sigbroker_close(slots[c]);
        printf("= ok\n");
        return 0;
}

static int run(char **argv, int argc) {
        static const struct {
                const char *name;
                int (*fn)(char **argv, int argc);
        } commands[] = {
                { "connect", cmd_connect_one },
                { "connect-many", cmd_connect_many },
                { "send", cmd_send },
                { "recv", cmd_recv },
                { "recv-many", cmd_recv_many },
                { "send-many", cmd_send_many },
                { "send-clients", cmd_send_clients },
                { "quiet", cmd_quiet },
                { "status", cmd_status },
                { "close", cmd_close },
        };

        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(argv[0], commands[i].name) == 0)
                        return commands[i].fn(argv, argc);
        return reply_err(EOPNOTSUPP, NULL);
}

int main(int argc, char **argv) {
        char *line = NULL;
        size_t size = 0;

        if (argc == 3 && strcmp(argv[1], "--socket") == 0)
                socket_path = argv[2];
        else if (argc != 1) {
                fputs("usage: sb-client [--socket PATH] <commands\n", stderr);
                return 2;
        }
        while (getline(&line, &size, stdin) > 0) {
                char *args[ARGS_MAX], *save = NULL;
                int n = 0;

                for (char *w = strtok_r(line, " \t\n", &save); w && n < ARGS_MAX; w = strtok_r(NULL, " \t\n", &save))
                        args[n++] = w;
                if (n > 0)
                        run(args, n);
                fflush(stdout);
        }
        free(line);
        for (int i = 0; i < SLOTS_MAX; i++)
                sigbroker_close(slots[i]);
        return 0;
}
