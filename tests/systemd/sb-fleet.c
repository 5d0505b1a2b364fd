/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sb-fleet: thousands of libsigbroker receivers in one process, and one
 * sender, driven line by line like sb-client (tests/lib/sb-client.sh):
 *
 *   connect N GROUP SIGNO   N receivers, each subscribed to SIGNO and a
 *                           member of GROUP, and the sender; "= ok n=N"
 *   mark                    now is time 0 for recv-all; "= ok t0_us=T"
 *                           (CLOCK_MONOTONIC, as systemd's timestamps)
 *   wait-gone PID MS        until process PID is gone
 *   status                  "= ok daemon_pid=P clients=N pending=N
 *                           journal_bytes=B capacity=C"
 *   send-group GROUP SIGNO PAYLOAD
 *                           one send; "= ok queued=Q merged=M refused=R
 *                           denied=D"
 *   send-ids SIGNO PREFIX   one send to each receiver by the client id it
 *                           was given at connect, payload PREFIX-ID;
 *                           "= ok queued=Q failed=F"
 *   recv-all PAYLOAD MS     every receiver must read one signal, PAYLOAD
 *                           or, for "ids:PREFIX", PREFIX-<its id>, with the
 *                           sequence number after the last it saw; "= ok
 *                           got=N first_us=T last_us=T" (since mark) or
 *                           "= err EPROTO got=N missing=M wrong=W
 *                           badseq=S failed=F"
 *   quiet                   no receiver has anything more to read
 *
 * Exits at end of input. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sigbroker.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))

typedef struct Receiver {
        sigbroker *sb;
        uint64_t id;
        uint64_t seq;           /* last sequence number read */
} Receiver;

static Receiver *rx;
static size_t n_rx;
static sigbroker *tx;
static uint64_t t0_us;

static uint64_t now_us(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static const char *errname(int r) {
        return strerrorname_np(r < 0 ? -r : r) ?: "EUNKNOWN";
}

static void err(int r, const char *what) {
        printf("= err %s %s\n", errname(r), what);
}

static int open_receiver(Receiver *r, const char *group, int signo) {
        int k = sigbroker_connect(NULL, &r->sb);

        if (k >= 0)
                k = sigbroker_subscribe(r->sb, SIGBROKER_SIGMASK(signo), 0);
        if (k >= 0)
                k = sigbroker_join(r->sb, group);
        if (k >= 0)
                k = sigbroker_get_client_id(r->sb, &r->id);
        return k;
}

#define CONNECT_THREADS 8

typedef struct Connector {
        pthread_t thread;
        size_t first, n;
        const char *group;
        int signo;
        int error;
        size_t failed_at;
} Connector;

/* Each thread opens a share of the receivers: the round trips of a
 * connection overlap with the others'. */
static void *connector(void *userdata) {
        Connector *c = userdata;

        for (size_t i = c->first; i < c->first + c->n; i++) {
                int k = open_receiver(&rx[i], c->group, c->signo);
                if (k < 0) {
                        c->error = k;
                        c->failed_at = i;
                        break;
                }
        }
        return NULL;
}

static void cmd_connect(char **argv, int argc) {
        Connector c[CONNECT_THREADS] = {};
        size_t n, per;
        int k;

        if (argc != 4 || rx || (n = strtoul(argv[1], NULL, 10)) == 0)
                return err(-EINVAL, "usage");
        rx = calloc(n, sizeof(*rx));
        if (!rx)
                return err(-ENOMEM, "calloc");
        n_rx = n;
        per = (n + CONNECT_THREADS - 1) / CONNECT_THREADS;
        for (size_t t = 0; t < CONNECT_THREADS; t++) {
                c[t] = (Connector) { .first = MIN(t * per, n), .group = argv[2], .signo = atoi(argv[3]) };
                c[t].n = MIN(per, n - c[t].first);
                if (pthread_create(&c[t].thread, NULL, connector, &c[t]) != 0)
                        c[t].error = -EAGAIN;
        }
        for (size_t t = 0; t < CONNECT_THREADS; t++)
                if (c[t].error != -EAGAIN)
                        pthread_join(c[t].thread, NULL);
        for (size_t t = 0; t < CONNECT_THREADS; t++)
                if (c[t].error < 0) {
                        char what[64];
                        snprintf(what, sizeof(what), "at=%zu", c[t].failed_at);
                        return err(c[t].error, what);
                }
        k = sigbroker_connect(NULL, &tx);
        if (k < 0)
                return err(k, "sender");
        printf("= ok n=%zu\n", n_rx);
}

static long long json_number(const char *text, const char *key) {
        char pattern[64];
        const char *p;

        snprintf(pattern, sizeof(pattern), "\"%s\":", key);
        p = strstr(text, pattern);
        return p ? strtoll(p + strlen(pattern), NULL, 10) : -1;
}

static void cmd_status(void) {
        char *text = NULL;
        int k = tx ? sigbroker_query(tx, SIGBROKER_QUERY_STATUS, 0, 0, &text) : -ENOTCONN;

        if (k < 0) {
                free(text);
                return err(k, "status");
        }
        printf("= ok daemon_pid=%lld clients=%lld pending=%lld journal_bytes=%lld capacity=%lld\n",
               json_number(text, "pid"), json_number(text, "clients"), json_number(text, "pending"),
               json_number(text, "restart_journal_bytes"), json_number(text, "restart_capacity"));
        free(text);
}

static void print_result(const sigbroker_send_result *res, unsigned failed) {
        printf("= ok queued=%u merged=%u refused=%u denied=%u failed=%u\n", res->queued, res->merged, res->refused,
               res->denied, failed);
}

static void cmd_send_group(char **argv, int argc) {
        sigbroker_send_result res = {};
        sigbroker_target t = { .kind = SIGBROKER_TARGET_GROUP };
        int k;

        if (argc != 4 || !tx)
                return err(-EINVAL, "usage");
        t.group = argv[1];
        k = sigbroker_send(tx, &t, atoi(argv[2]), 0, argv[3], strlen(argv[3]), &res);
        if (k < 0)
                return err(k, "send");
        print_result(&res, 0);
}

static void cmd_send_ids(char **argv, int argc) {
        sigbroker_send_result sum = {};
        unsigned failed = 0;

        if (argc != 3 || !tx)
                return err(-EINVAL, "usage");
        for (size_t i = 0; i < n_rx; i++) {
                sigbroker_send_result res = {};
                sigbroker_target t = { .kind = SIGBROKER_TARGET_CLIENT, .id = rx[i].id };
                char payload[96];
                int k;

                snprintf(payload, sizeof(payload), "%s-%" PRIu64, argv[2], rx[i].id);
                k = sigbroker_send(tx, &t, atoi(argv[1]), 0, payload, strlen(payload), &res);
                if (k < 0 && k != -ESRCH && k != -EAGAIN && k != -EPERM)
                        return err(k, "send");
                failed += k < 0;
                sum.queued += res.queued;
                sum.merged += res.merged;
                sum.refused += res.refused;
                sum.denied += res.denied;
        }
        print_result(&sum, failed);
}

static void cmd_recv_all(char **argv, int argc) {
        unsigned got = 0, missing = 0, wrong = 0, badseq = 0, failed = 0;
        uint64_t deadline, first = 0, last = 0;
        const char *prefix = NULL;

        if (argc != 3)
                return err(-EINVAL, "usage");
        if (strncmp(argv[1], "ids:", 4) == 0)
                prefix = argv[1] + 4;
        deadline = now_us() + strtoull(argv[2], NULL, 10) * 1000;
        for (size_t i = 0; i < n_rx; i++) {
                sigbroker_info info;
                uint64_t now = now_us();
                char want[96];
                int k;

                do
                        k = sigbroker_wait(rx[i].sb, now < deadline ? (int64_t) (deadline - now) : 0, &info);
                while (k == -EINTR);
                if (k == -EAGAIN) {
                        missing++;
                        continue;
                }
                if (k < 0) {
                        if (failed++ == 0)
                                fprintf(stderr, "receiver %zu (client %" PRIu64 "): %s\n", i, rx[i].id, errname(k));
                        continue;
                }
                last = now_us() - t0_us;
                if (got++ == 0)
                        first = last;
                if (prefix)
                        snprintf(want, sizeof(want), "%s-%" PRIu64, prefix, rx[i].id);
                else
                        snprintf(want, sizeof(want), "%s", argv[1]);
                if (info.payload_len != strlen(want) || memcmp(info.payload, want, info.payload_len) != 0)
                        wrong++;
                if (rx[i].seq && info.seq != rx[i].seq + 1)
                        badseq++;
                rx[i].seq = info.seq;
        }
        if (missing || wrong || badseq || failed)
                printf("= err EPROTO got=%u missing=%u wrong=%u badseq=%u failed=%u\n", got, missing, wrong, badseq,
                       failed);
        else
                printf("= ok got=%u first_us=%" PRIu64 " last_us=%" PRIu64 "\n", got, first, last);
}

static void cmd_quiet(void) {
        unsigned extra = 0;

        for (size_t i = 0; i < n_rx; i++) {
                sigbroker_info info;
                if (sigbroker_wait(rx[i].sb, 0, &info) >= 0)
                        extra++;
        }
        if (extra)
                printf("= err EEXIST extra=%u\n", extra);
        else
                printf("= ok\n");
}

static void cmd_wait_gone(char **argv, int argc) {
        pid_t pid;
        uint64_t deadline;

        if (argc != 3 || (pid = atoi(argv[1])) <= 0)
                return err(-EINVAL, "usage");
        deadline = now_us() + strtoull(argv[2], NULL, 10) * 1000;
        while (kill(pid, 0) == 0 || errno == EPERM) {
                if (now_us() >= deadline)
                        return err(-ETIMEDOUT, "wait-gone");
                usleep(500);
        }
        printf("= ok gone_us=%" PRIu64 "\n", now_us() - t0_us);
}

int main(int argc, char **argv) {
        char *line = NULL;
        size_t size = 0;

        if (argc != 1) {
                fputs("usage: sb-fleet <commands\n", stderr);
                return 2;
        }
        while (getline(&line, &size, stdin) > 0) {
                char *args[8], *save = NULL;
                int n = 0;

                for (char *w = strtok_r(line, " \t\n", &save); w && n < 8; w = strtok_r(NULL, " \t\n", &save))
                        args[n++] = w;
                if (n == 0)
                        continue;
                if (strcmp(args[0], "connect") == 0)
                        cmd_connect(args, n);
                else if (strcmp(args[0], "mark") == 0) {
                        t0_us = now_us();
                        printf("= ok t0_us=%" PRIu64 "\n", t0_us);
                } else if (strcmp(args[0], "wait-gone") == 0)
                        cmd_wait_gone(args, n);
                else if (strcmp(args[0], "status") == 0)
                        cmd_status();
                else if (strcmp(args[0], "send-group") == 0)
                        cmd_send_group(args, n);
                else if (strcmp(args[0], "send-ids") == 0)
                        cmd_send_ids(args, n);
                else if (strcmp(args[0], "recv-all") == 0)
                        cmd_recv_all(args, n);
                else if (strcmp(args[0], "quiet") == 0)
                        cmd_quiet();
                else
                        err(-EOPNOTSUPP, args[0]);
                fflush(stdout);
        }
        free(line);
        for (size_t i = 0; i < n_rx; i++)
                sigbroker_close(rx[i].sb);
        free(rx);
        sigbroker_close(tx);
        return 0;
}
