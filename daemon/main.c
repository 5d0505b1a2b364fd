/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sigbrokerd: option parsing and the life cycle; everything else is in
 * the broker library. */

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>

#include "broker.h"
#include "state.h"
#include "sb-build.h"
#include "util.h"

#define HINT "Try 'sigbrokerd --help' for more information.\n"

static void help(void) {
        printf("Usage: sigbrokerd [OPTION...]\n"
               "Broker payload-bearing signals between processes.\n\n"
               "  --socket PATH        listen on PATH (default: socket activation, else\n"
               "                       /run/sigbroker/sigbroker.sock as root,\n"
               "                       $XDG_RUNTIME_DIR/sigbroker.sock otherwise)\n"
               "  --config FILE        configuration and policy (default %s)\n"
               "  --max-queue N        pending signals per receiver (overrides the config)\n"
               "  --max-payload BYTES  largest payload accepted, at most %u\n"
               "  --check-config       check the configuration, print what would be in\n"
               "                       force and exit: 0 if it is good, 1 if not\n"
               "  --log-level LEVEL    log only up to LEVEL: emerg, alert, crit, err,\n"
               "                       warning, notice, info (default) or debug, or 0-7\n"
               "                       (also from $SYSTEMD_LOG_LEVEL; the option wins)\n"
               "  --version            print the version\n"
               "  -h, --help           this text\n\n"
               "See sigbrokerd(8).\n",
               CONFIG_DEFAULT_PATH, (unsigned) SB_PAYLOAD_MAX_LIMIT);
}

static int parse_number(const char *s, const char *option, int64_t min, int64_t max, int64_t *ret) {
        char *end;
        long long v;

        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
                fprintf(stderr, "sigbrokerd: %s: '%s' is not a number from %lld to %lld\n" HINT, option, s,
                        (long long) min, (long long) max);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

typedef struct Args {
        BrokerOptions broker;
        bool check_config;
        int log_level;                  /* -1: not given */
} Args;

/* Returns 1 to run, 0 to exit successfully, <0 on a usage error. */
static int parse_args(int argc, char **argv, Args *a) {
        enum { ARG_SOCKET = 256, ARG_CONFIG, ARG_MAX_QUEUE, ARG_MAX_PAYLOAD, ARG_VERSION, ARG_CHECK_CONFIG,
               ARG_LOG_LEVEL };
        static const struct option options[] = {
                { "socket", required_argument, NULL, ARG_SOCKET },
                { "config", required_argument, NULL, ARG_CONFIG },
                { "max-queue", required_argument, NULL, ARG_MAX_QUEUE },
                { "max-payload", required_argument, NULL, ARG_MAX_PAYLOAD },
                { "check-config", no_argument, NULL, ARG_CHECK_CONFIG },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "version", no_argument, NULL, ARG_VERSION },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        BrokerOptions *o = &a->broker;
        int c;

        /* getopt_long() names us by argv[0] in its messages: say
         * "sigbrokerd:" as every other message does, whatever the path. */
        argv[0] = (char *) "sigbrokerd";
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_SOCKET:
                        o->socket_path = optarg;
                        break;
                case ARG_CONFIG:
                        o->config_path = optarg;
                        break;
                case ARG_MAX_QUEUE:
                        if (parse_number(optarg, "--max-queue", 1, 1 << 20, &o->max_queue) < 0)
                                return -EINVAL;
                        break;
                case ARG_MAX_PAYLOAD:
                        if (parse_number(optarg, "--max-payload", 0, SB_PAYLOAD_MAX_LIMIT, &o->max_payload) < 0)
                                return -EINVAL;
                        break;
                case ARG_CHECK_CONFIG:
                        a->check_config = true;
                        break;
                case ARG_LOG_LEVEL:
                        a->log_level = log_level_from_string(optarg);
                        if (a->log_level < 0) {
                                fprintf(stderr, "sigbrokerd: --log-level: '%s' is not a log level\n" HINT, optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_VERSION:
                        printf("sigbrokerd %s\n", SB_VERSION);
                        return 0;
                case 'h':
                        help();
                        return 0;
                default:
                        /* getopt_long() said what was wrong. */
                        fputs(HINT, stderr);
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "sigbrokerd: unexpected argument '%s'\n" HINT, argv[optind]);
                return -EINVAL;
        }
        return 1;
}

/* Every client costs two fds (socket, pidfd). The soft limit is often
 * 1024, which would cap the broker near 500 clients; take the hard one.
 * Under the unit, LimitNOFILE= sets both. */
static void raise_nofile_limit(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
}

/* --check-config: the configuration read as the daemon reads it, limits
 * with the command-line overrides, printed in the file's syntax. Nothing
 * listens and nothing is logged. */
static int check_config(const BrokerOptions *options) {
        _cleanup_free_ char *error = NULL;
        Broker *b = NULL;
        int r;

        r = broker_new(options, &b, &error);
        if (r < 0) {
                fprintf(stderr, "sigbrokerd: %s\n", error ? error : strerror(-r));
                return 1;
        }
        printf("# sigbrokerd %s: the configuration in force with %s", SB_VERSION, b->options.config_path);
        if (access(b->options.config_path, F_OK) < 0 && errno == ENOENT) {
                printf(" (no such file: the built-in defaults)");
                fprintf(stderr, "sigbrokerd: %s does not exist; the built-in defaults apply\n",
                        b->options.config_path);
        }
        if (options->max_queue >= 0 || options->max_payload >= 0)
                printf(",\n# and the limits given on the command line");
        printf("\n\n");
        config_print(b->config, &b->limits, stdout);
        broker_free(b);
        if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "sigbrokerd: cannot write the configuration: %s\n", strerror(errno));
                return 1;
        }
        return 0;
}

int main(int argc, char **argv) {
        Args args = { .broker = { .max_queue = -1, .max_payload = -1 }, .log_level = -1 };
        const BrokerOptions *options = &args.broker;
        _cleanup_free_ char *error = NULL;
        char status[128];
        Broker *b = NULL;
        int r;

        r = parse_args(argc, argv, &args);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (args.check_config)
                return check_config(options);
        log_setup();
        if (args.log_level >= 0)
                log_set_max_level(args.log_level);
        raise_nofile_limit();
        /* Writes to a vanished client must fail with EPIPE, not kill us. */
        signal(SIGPIPE, SIG_IGN);

        log_full(LOG_INFO, SB_MID_STARTED, "sigbrokerd %s starting", SB_VERSION);
        r = broker_new(options, &b, &error);
        if (r < 0) {
                log_error("Cannot start: %s", error ? error : strerror(-r));
                return 1;
        }
        r = broker_listen(b, &error);
        if (r < 0) {
                log_error("%s", error ? error : strerror(-r));
                broker_free(b);
                return 1;
        }
        (void) state_journal_open(b);
        r = state_restore(b);
        if (r < 0)
                log_warning("Restart journal not written: %s; a restart will disconnect clients", strerror(-r));
        log_full(LOG_INFO, SB_MID_READY, "sigbrokerd %s ready, listening on %s%s", SB_VERSION, b->socket_path,
                 b->socket_activated ? " (socket activation)" : "");
        broker_status_text(b, status, sizeof(status));
        sd_notifyf(0, "READY=1\nSTATUS=%s\nMAINPID=%d", status, (int) getpid());

        r = broker_run(b);
        log_full(LOG_INFO, SB_MID_STOPPED, "sigbrokerd stopping: %u client%s connected, %llu signal%s delivered",
                 b->n_peers, plural(b->n_peers), (unsigned long long) b->metrics.delivered,
                 plural(b->metrics.delivered));
        broker_free(b);
        return r < 0 ? 1 : 0;
}
