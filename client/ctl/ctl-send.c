/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sigbrokerctl send: one signal to one target, the result printed, and an
 * exit status that says whether anyone got it (like kill(1)).
 */

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "protocol.h"

static void help(void) {
        printf("Usage: sigbrokerctl send TARGET [--priority N] [--payload TEXT | --payload-file FILE] [-q] SIGNAL\n"
               "\n"
               "Send SIGNAL (a number 0..64, or a name: USR1, SIGUSR1, RTMIN+1, RTMAX-2...;\n"
               "0 only probes) to one target:\n"
               "      --pid PID       the process PID\n"
               "      --pgid PGID     every process of process group PGID\n"
               "      --sid SID       every process of session SID\n"
               "      --group NAME    every member of the named group NAME\n"
               "      --client ID     the client with id ID\n"
               "      --broadcast     every subscriber this user may signal\n"
               "Options:\n"
               "  -p, --priority N       0..99, higher is delivered first (default 0)\n"
               "      --payload TEXT     the payload\n"
               "      --payload-file F   the payload is F's contents ('-': stdin)\n"
               "  -q, --quiet            print nothing; only the exit status tells\n"
               "  -j, --json             print the result as JSON\n"
               "  -h, --help             show this help\n"
               "\n"
               "Prints for how many receivers the signal was queued, merged into a pending\n"
               "one, refused (queue full) and denied. Exit status 0 if at least one\n"
               "receiver got it, 1 if none did (the reason on stderr), 2 on bad usage.\n");
}

static const char *send_error_text(int error, size_t max_payload, char buf[static 96]) {
        switch (-error) {
        case EPERM:
                return "not permitted to signal any receiver of this target";
        case ESRCH:
                return "no receiver subscribed to this signal matches the target";
        case EAGAIN:
                return "every receiver's queue is full; the signal was refused";
        case EINVAL:
                return "the daemon rejected the signal, priority or target as invalid";
        case EMSGSIZE:
                if (max_payload == 0)
                        return "the payload is larger than any daemon accepts";
                snprintf(buf, 96, "the payload is larger than the daemon accepts (%zu bytes)", max_payload);
                return buf;
        default:
                return strerror(-error);
        }
}

static void print_result(const Ctl *ctl, const sigbroker_send_result *res, int error) {
        struct json_object *o;

        if (!ctl->json) {
                printf("queued=%u merged=%u refused=%u denied=%u\n", res->queued, res->merged, res->refused,
                       res->denied);
                return;
        }
        o = json_object_new_object();
        json_object_object_add(o, "queued", json_object_new_uint64(res->queued));
        json_object_object_add(o, "merged", json_object_new_uint64(res->merged));
        json_object_object_add(o, "refused", json_object_new_uint64(res->refused));
        json_object_object_add(o, "denied", json_object_new_uint64(res->denied));
        json_object_object_add(o, "error", error == 0 ? NULL
                                           : errno_name(error) ? json_object_new_string(errno_name(error))
                                                               : json_object_new_int(-error));
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
}

typedef struct SendArgs {
        sigbroker_target target;
        int n_targets;
        int priority;
        const char *payload;
        const char *payload_file;
        bool quiet;
        int signo;
} SendArgs;

static int set_target(const Ctl *ctl, SendArgs *a, int kind, const char *arg, const char *option) {
        uint64_t id = 0;

        if (arg && parse_u64(arg, &id) < 0)
                return ctl_usage_error(ctl, "%s needs a number, not '%s'", option, arg);
        a->target = (sigbroker_target) { .kind = kind, .id = id };
        a->n_targets++;
        return 0;
}

static int parse_args(Ctl *ctl, int argc, char **argv, SendArgs *a) {
        enum { OPT_PID = CTL_OPT_COMMAND, OPT_PGID, OPT_SID, OPT_GROUP, OPT_CLIENT, OPT_BROADCAST, OPT_PAYLOAD, OPT_PAYLOAD_FILE };
        static const struct option options[] = {
                { "pid", required_argument, NULL, OPT_PID },
                { "pgid", required_argument, NULL, OPT_PGID },
                { "sid", required_argument, NULL, OPT_SID },
                { "group", required_argument, NULL, OPT_GROUP },
                { "client", required_argument, NULL, OPT_CLIENT },
                { "broadcast", no_argument, NULL, OPT_BROADCAST },
                { "priority", required_argument, NULL, 'p' },
                { "payload", required_argument, NULL, OPT_PAYLOAD },
                { "payload-file", required_argument, NULL, OPT_PAYLOAD_FILE },
                { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                CTL_GLOBAL_LONGOPTS,
                {},
        };
        uint64_t v;
        int c, r = 0;

        while (r == 0 && (c = getopt_long(argc, argv, CTL_GLOBAL_SHORTOPTS "p:qh", options, NULL)) >= 0) {
                switch (c) {
                case OPT_PID:
                        r = set_target(ctl, a, SIGBROKER_TARGET_PID, optarg, "--pid");
                        break;
                case OPT_PGID:
                        r = set_target(ctl, a, SIGBROKER_TARGET_PGID, optarg, "--pgid");
                        break;
                case OPT_SID:
                        r = set_target(ctl, a, SIGBROKER_TARGET_SID, optarg, "--sid");
                        break;
                case OPT_CLIENT:
                        r = set_target(ctl, a, SIGBROKER_TARGET_CLIENT, optarg, "--client");
                        break;
                case OPT_BROADCAST:
                        r = set_target(ctl, a, SIGBROKER_TARGET_BROADCAST, NULL, "--broadcast");
                        break;
                case OPT_GROUP:
                        if ((r = ctl_check_group(ctl, optarg)) != 0)
                                return r;
                        r = set_target(ctl, a, SIGBROKER_TARGET_GROUP, NULL, "--group");
                        a->target.group = optarg;
                        break;
                case 'p':
                        if (parse_u64(optarg, &v) < 0 || v > SIGBROKER_PRIORITY_MAX)
                                return ctl_usage_error(ctl, "--priority needs a number 0..%d", SIGBROKER_PRIORITY_MAX);
                        a->priority = (int) v;
                        break;
                case OPT_PAYLOAD:
                        a->payload = optarg;
                        break;
                case OPT_PAYLOAD_FILE:
                        a->payload_file = optarg;
                        break;
                case 'q':
                        a->quiet = true;
                        break;
                case 'h':
                        help();
                        return -1;
                default:
                        r = ctl_global_option(ctl, c, argv);
                }
        }
        if (r != 0)
                return r;
        if (a->n_targets != 1)
                return ctl_usage_error(ctl, a->n_targets == 0 ? "no target given" : "more than one target given");
        if ((r = ctl_no_table(ctl)) != 0)
                return r;
        if (a->quiet && ctl->json)
                return ctl_usage_error(ctl, "--quiet and --json exclude each other");
        if (a->payload && a->payload_file)
                return ctl_usage_error(ctl, "--payload and --payload-file exclude each other");
        if (optind != argc - 1)
                return ctl_usage_error(ctl, optind == argc ? "no signal given" : "one signal at a time");
        a->signo = sigbroker_signal_from_string(argv[optind]);
        if (a->signo < 0)
                return ctl_usage_error(ctl, "unknown signal '%s'", argv[optind]);
        return 0;
}

int ctl_send(Ctl *ctl, int argc, char **argv) {
        _cleanup_(sigbroker_closep) sigbroker *sb = NULL;
        sigbroker_send_result res = {};
        SendArgs a = {};
        char *data = NULL, buf[96];
        size_t len = 0, max_payload = 0;
        int r;

        r = parse_args(ctl, argc, argv, &a);
        if (r != 0)
                return r < 0 ? CTL_EXIT_OK : r;

        if (a.payload_file) {
                /* One byte over what any daemon takes is enough to be told
                 * EMSGSIZE like any other oversized payload. */
                r = read_file(a.payload_file, SB_PAYLOAD_MAX_LIMIT, &data, &len);
                if (r < 0) {
                        ctl_error(r, "cannot read %s: %s", a.payload_file, strerror(-r));
                        return CTL_EXIT_FAILURE;
                }
        } else if (a.payload)
                len = strlen(a.payload);

        r = ctl_connect(ctl, 0, &sb);
        if (r != 0) {
                free(data);
                return r;
        }
        r = sigbroker_send(sb, &a.target, a.signo, a.priority, data ? data : a.payload, len, &res);
        free(data);
        if (r == -ECONNRESET || r == -ETIMEDOUT || r == -EBADMSG)
                return ctl_connection_lost(sb, r);
        /* Like kill(1) and grep -q: nobody getting the signal is an answer,
         * told by the status alone; not reaching the daemon is an error. */
        if (a.quiet)
                return r < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;

        print_result(ctl, &res, r);
        if (r < 0) {
                (void) sigbroker_get_limits(sb, &max_payload, NULL);
                ctl_error(r, "%s", send_error_text(r, max_payload, buf));
                return CTL_EXIT_FAILURE;
        }
        return CTL_EXIT_OK;
}
