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

static void help(void) {
        printf("Usage: sigbrokerd [OPTION...]\n"
               "Broker payload-bearing signals between processes.\n\n"
               "  --socket PATH        listen on PATH (default: socket activation, else\n"
               "                       /run/sigbroker/sigbroker.sock as root,\n"
               "                       $XDG_RUNTIME_DIR/sigbroker.sock otherwise)\n"
               "  --config FILE        configuration and policy (default %s)\n"
               "  --max-queue N        pending signals per receiver (overrides the config)\n"
               "  --max-payload BYTES  largest payload accepted, at most %u\n"
               "  --version            print the version\n"
               "  --help               this text\n\n"
               "See sigbrokerd(8).\n",
               CONFIG_DEFAULT_PATH, (unsigned) SB_PAYLOAD_MAX_LIMIT);
}

static int parse_number(const char *s, const char *option, int64_t min, int64_t max, int64_t *ret) {
        char *end;
        long long v;

        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
                fprintf(stderr, "sigbrokerd: %s: '%s' is not a number from %lld to %lld\n", option, s,
                        (long long) min, (long long) max);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

/* Returns 1 to run, 0 to exit successfully, <0 on a usage error. */
static int parse_args(int argc, char **argv, BrokerOptions *o) {
        enum { ARG_SOCKET = 256, ARG_CONFIG, ARG_MAX_QUEUE, ARG_MAX_PAYLOAD, ARG_VERSION };
        static const struct option options[] = {
                { "socket", required_argument, NULL, ARG_SOCKET },
                { "config", required_argument, NULL, ARG_CONFIG },
                { "max-queue", required_argument, NULL, ARG_MAX_QUEUE },
                { "max-payload", required_argument, NULL, ARG_MAX_PAYLOAD },
                { "version", no_argument, NULL, ARG_VERSION },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c;

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
                case ARG_VERSION:
                        printf("sigbrokerd %s\n", SB_VERSION);
                        return 0;
                case 'h':
                        help();
                        return 0;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "sigbrokerd: unexpected argument '%s'\n", argv[optind]);
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

int main(int argc, char **argv) {
        BrokerOptions options = { .max_queue = -1, .max_payload = -1 };
        _cleanup_free_ char *error = NULL;
        Broker *b = NULL;
        int r;

        r = parse_args(argc, argv, &options);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        log_setup();
        raise_nofile_limit();
        /* Writes to a vanished client must fail with EPIPE, not kill us. */
        signal(SIGPIPE, SIG_IGN);

        log_full(LOG_INFO, SB_MID_STARTED, "sigbrokerd %s starting", SB_VERSION);
        r = broker_new(&options, &b, &error);
        if (r < 0) {
                log_error("Cannot start: %s", error ? error : strerror(-r));
                return 1;
        }
        r = broker_listen(b);
        if (r < 0) {
                if (r == -EADDRINUSE)
                        log_error("Another sigbrokerd is serving %s; not taking it over",
                                  options.socket_path ? options.socket_path : "the default socket");
                else if (r == -ENOENT && !options.socket_path)
                        log_error("No socket to listen on: not root, no XDG_RUNTIME_DIR; use --socket PATH");
                else
                        log_error("Cannot listen: %s", strerror(-r));
                broker_free(b);
                return 1;
        }
        (void) state_journal_open(b);
        r = state_restore(b);
        if (r < 0)
                log_warning("Restart journal not written: %s; a restart will disconnect clients", strerror(-r));
        log_full(LOG_INFO, SB_MID_READY, "sigbrokerd %s ready, listening on %s", SB_VERSION,
                 b->socket_path ? b->socket_path : "the socket systemd passed");
        sd_notifyf(0, "READY=1\nSTATUS=%u clients, %u signals pending, 0 delivered\nMAINPID=%d", b->n_peers,
                   b->total_pending, (int) getpid());

        r = broker_run(b);
        log_full(LOG_INFO, SB_MID_STOPPED, "sigbrokerd stopping: %u clients connected, %llu signals delivered",
                 b->n_peers, (unsigned long long) b->metrics.delivered);
        broker_free(b);
        return r < 0 ? 1 : 0;
}
