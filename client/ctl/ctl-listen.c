/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sigbrokerctl listen: subscribe, say "ready" once the daemon confirmed it,
 * then print each signal as one line.
 */

#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"


typedef struct ListenArgs {
        uint64_t count;         /* UINT64_MAX: no limit */
        int64_t timeout_usec;   /* -1: none */
        int64_t delay_usec;
        unsigned window;
        unsigned flags;
        const char *groups[CTL_GROUPS_MAX];
        size_t n_groups;
        uint64_t mask;
} ListenArgs;

static void help(void) {
        printf("Usage: sigbrokerctl listen [OPTIONS] SIGNAL...\n"
               "\n"
               "Subscribe to the SIGNALs (numbers 1..64 or names), print 'ready' on stderr\n"
               "once the daemon has confirmed the subscription and the group joins, then\n"
               "print each signal as it arrives, one line each.\n"
               "\n"
               "Options:\n"
               "  -c, --count N      exit (status 0) after N signals (gap records not counted)\n"
               "  -t, --timeout SEC  with --count: exit with status 1 if they have not come\n"
               "                     SEC seconds after the delay; without: listen SEC\n"
               "                     seconds, then exit with status 0\n"
               "  -g, --group NAME   join the named group NAME (repeatable)\n"
               "  -w, --window N     flow-control window: deliveries in flight (default: daemon's)\n"
               "  -d, --delay SEC    wait SEC seconds after subscribing before taking any signal\n"
               "      --drop-oldest  when the queue is full, drop the oldest and report a gap\n"
               "  -j, --json         one JSON object per signal\n"
               "  -h, --help         show this help\n"
               "\n"
               "Lines: 'RTMIN+1 priority=0 from pid=123 uid=0 gid=0 seq=1 merged=0 payload=\"hi\"',\n"
               "gaps: 'RTMIN+1 gap lost=3 seq=7'. With --json, one object per line.\n");
}

static int parse_args(Ctl *ctl, int argc, char **argv, ListenArgs *a) {
        enum { OPT_DROP_OLDEST = CTL_OPT_COMMAND };
        static const struct option options[] = {
                { "count", required_argument, NULL, 'c' },
                { "timeout", required_argument, NULL, 't' },
                { "group", required_argument, NULL, 'g' },
                { "window", required_argument, NULL, 'w' },
                { "delay", required_argument, NULL, 'd' },
                { "drop-oldest", no_argument, NULL, OPT_DROP_OLDEST },
                { "help", no_argument, NULL, 'h' },
                CTL_GLOBAL_LONGOPTS,
                {},
        };
        int c, r;

        *a = (ListenArgs) { .count = UINT64_MAX, .timeout_usec = -1 };
        while ((c = getopt_long(argc, argv, CTL_GLOBAL_SHORTOPTS "c:t:g:w:d:h", options, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        if (parse_u64(optarg, &a->count) < 0)
                                return ctl_usage_error(ctl, "--count needs a number");
                        break;
                case 't':
                        if (parse_seconds(optarg, &a->timeout_usec) < 0)
                                return ctl_usage_error(ctl, "--timeout needs seconds");
                        break;
                case 'd':
                        if (parse_seconds(optarg, &a->delay_usec) < 0)
                                return ctl_usage_error(ctl, "--delay needs seconds");
                        break;
                case 'w':
                        if ((r = ctl_parse_window(ctl, optarg, &a->window)) != 0)
                                return r;
                        break;
                case 'g':
                        if ((r = ctl_add_group(ctl, optarg, a->groups, &a->n_groups)) != 0)
                                return r;
                        break;
                case OPT_DROP_OLDEST:
                        a->flags |= SIGBROKER_SUBSCRIBE_DROP_OLDEST;
                        break;
                case 'h':
                        help();
                        return -1;
                default:
                        c = ctl_global_option(ctl, c, argv);
                        if (c != 0)
                                return c;
                }
        }
        if ((r = ctl_no_table(ctl)) != 0)
                return r;
        if (optind == argc)
                return ctl_usage_error(ctl, "no signal given");
        for (int i = optind; i < argc; i++) {
                int signo = sigbroker_signal_from_string(argv[i]);

                if (signo < 0)
                        return ctl_usage_error(ctl, "unknown signal '%s'", argv[i]);
                if (signo == 0)
                        return ctl_usage_error(ctl, "signal 0 is a probe and is never delivered");
                a->mask |= SIGBROKER_SIGMASK(signo);
        }
        return 0;
}

void print_signal_json(const sigbroker_info *i, const char *name) {
        struct json_object *o = json_object_new_object();

        if (i->gap)
                json_object_object_add(o, "gap", json_object_new_boolean(true));
        json_object_object_add(o, "signo", json_object_new_int(i->signo));
        json_object_object_add(o, "name", json_object_new_string(name));
        if (i->gap) {
                json_object_object_add(o, "lost", json_object_new_uint64(i->lost));
                json_object_object_add(o, "seq", json_object_new_uint64(i->seq));
        } else {
                _cleanup_(freep) char *payload = base64_encode(i->payload, i->payload_len);

                json_object_object_add(o, "priority", json_object_new_int(i->priority));
                json_object_object_add(o, "sender_pid", json_object_new_int64(i->sender_pid));
                json_object_object_add(o, "sender_uid", json_object_new_uint64(i->sender_uid));
                json_object_object_add(o, "sender_gid", json_object_new_uint64(i->sender_gid));
                json_object_object_add(o, "sender_client_id", json_object_new_uint64(i->sender_client_id));
                json_object_object_add(o, "seq", json_object_new_uint64(i->seq));
                json_object_object_add(o, "merged", json_object_new_uint64(i->merged));
                json_object_object_add(o, "realtime_ns", json_object_new_uint64(i->realtime_ns));
                json_object_object_add(o, "payload_base64", payload ? json_object_new_string(payload) : NULL);
        }
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
}

static void print_text(const sigbroker_info *i, const char *name) {
        if (i->gap) {
                printf("%s gap lost=%u seq=%" PRIu64 "\n", name, i->lost, i->seq);
                return;
        }
        printf("%s priority=%d from pid=%d uid=%u gid=%u seq=%" PRIu64 " merged=%u payload=\"", name, i->priority,
               (int) i->sender_pid, (unsigned) i->sender_uid, (unsigned) i->sender_gid, i->seq, i->merged);
        print_escaped(i->payload, i->payload_len);
        puts("\"");
}

static void sleep_usec(int64_t usec) {
        struct timespec ts = { .tv_sec = usec / 1000000, .tv_nsec = (usec % 1000000) * 1000 };

        while (nanosleep(&ts, &ts) < 0)
                ;
}

static int subscribe(sigbroker *sb, const ListenArgs *a) {
        int r;

        for (size_t i = 0; i < a->n_groups; i++) {
                r = sigbroker_join(sb, a->groups[i]);
                if (r < 0) {
                        if (r == -ECONNRESET || r == -ETIMEDOUT || r == -EBADMSG)
                                return ctl_connection_lost(sb, r);
                        ctl_error(r, "cannot join group %s: %s", a->groups[i],
                                  r == -EPERM ? "not permitted" : strerror(-r));
                        return CTL_EXIT_FAILURE;
                }
        }
        r = sigbroker_subscribe(sb, a->mask, a->flags);
        if (r < 0) {
                if (r == -ECONNRESET || r == -ETIMEDOUT || r == -EBADMSG)
                        return ctl_connection_lost(sb, r);
                ctl_error(r, "cannot subscribe: %s", strerror(-r));
                return CTL_EXIT_FAILURE;
        }
        return 0;
}

int ctl_listen(Ctl *ctl, int argc, char **argv) {
        _cleanup_(sigbroker_closep) sigbroker *sb = NULL;
        ListenArgs a;
        uint64_t received = 0, deadline_ns = 0;
        struct timespec now;
        int r;

        r = parse_args(ctl, argc, argv, &a);
        if (r != 0)
                return r < 0 ? CTL_EXIT_OK : r;

        r = ctl_connect(ctl, a.window, &sb);
        if (r != 0)
                return r;
        r = subscribe(sb, &a);
        if (r != 0)
                return r;
        fputs("ready\n", stderr);
        fflush(stderr);

        if (a.delay_usec > 0)
                sleep_usec(a.delay_usec);
        if (a.timeout_usec >= 0) {
                clock_gettime(CLOCK_MONOTONIC, &now);
                deadline_ns = (uint64_t) now.tv_sec * 1000000000 + (uint64_t) now.tv_nsec +
                              (uint64_t) a.timeout_usec * 1000;
        }

        while (received < a.count) {
                sigbroker_info info;
                int64_t timeout = -1;
                const char *name;

                if (a.timeout_usec >= 0) {
                        uint64_t t;

                        clock_gettime(CLOCK_MONOTONIC, &now);
                        t = (uint64_t) now.tv_sec * 1000000000 + (uint64_t) now.tv_nsec;
                        timeout = t < deadline_ns ? (int64_t) ((deadline_ns - t) / 1000) : 0;
                }
                r = sigbroker_wait(sb, timeout, &info);
                if (r == -EINTR)
                        continue;
                if (r == -EAGAIN) {
                        /* Without --count the time is all that was asked. */
                        if (a.count == UINT64_MAX)
                                return CTL_EXIT_OK;
                        ctl_error(ETIMEDOUT, "timed out after %" PRIu64 " of %" PRIu64 " signals", received,
                                  a.count);
                        return CTL_EXIT_FAILURE;
                }
                if (r < 0)
                        return ctl_connection_lost(sb, r);

                name = sigbroker_signal_to_string(info.signo);
                if (!name)
                        name = "?";     /* the daemon sends 1..64 only */
                if (ctl->json)
                        print_signal_json(&info, name);
                else
                        print_text(&info, name);
                if (!info.gap)
                        received++;
        }
        return CTL_EXIT_OK;
}
