/*
 * sigbrokerctl stats, clients, groups, status, reload, disconnect, monitor:
 * ask the daemon (QUERY) and print what it answers. With --json the JSON
 * goes out as the daemon wrote it; without, indented (a table rendering is
 * to come).
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

typedef struct Query {
        const char *name;
        int kind;
        const char *usage;      /* after the command name */
        const char *what;
} Query;

static void help(const Query *q) {
        printf("Usage: sigbrokerctl [--json] %s%s\n\n%s\n\nOptions:\n", q->name, q->usage, q->what);
        if (q->kind == SIGBROKER_QUERY_STATS)
                printf("      --openmetrics  OpenMetrics text instead of JSON\n");
        printf("  -h, --help         show this help\n");
}

static const char *query_error_text(int error) {
        switch (-error) {
        case EPERM:
        case EACCES:
                return "not permitted: this needs uid 0 or the admin group";
        case EOPNOTSUPP:
                return "the daemon does not know this query";
        case ESRCH:
                return "no such client";
        default:
                return strerror(-error);
        }
}

static void print_text(const Ctl *ctl, const char *text, bool raw) {
        size_t len = strlen(text);

        if (len == 0)
                return;
        if (raw || ctl->json) {
                fputs(text, stdout);
                if (text[len - 1] != '\n')
                        putchar('\n');
        } else
                print_json_pretty(text);
}

static int run_query(const Ctl *ctl, const Query *q, int argc, char **argv) {
        enum { OPT_OPENMETRICS = 0x100 };
        static const struct option options[] = {
                { "openmetrics", no_argument, NULL, OPT_OPENMETRICS },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(sigbroker_closep) sigbroker *sb = NULL;
        unsigned flags = 0;
        uint64_t arg = 0;
        char *text = NULL;
        int c, r, want_args = q->kind == SIGBROKER_QUERY_DISCONNECT ? 1 : 0;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case OPT_OPENMETRICS:
                        if (q->kind != SIGBROKER_QUERY_STATS)
                                return ctl_usage_error(q->name, "--openmetrics is for stats");
                        flags |= SIGBROKER_QUERY_OPENMETRICS;
                        break;
                case 'h':
                        help(q);
                        return CTL_EXIT_OK;
                default:
                        return ctl_usage_error(q->name, "bad option");
                }
        }
        if (argc - optind != want_args)
                return ctl_usage_error(q->name, want_args ? "one client id needed" : "no arguments expected");
        if (want_args && parse_u64(argv[optind], &arg) < 0)
                return ctl_usage_error(q->name, "'%s' is not a client id", argv[optind]);

        if (ctl_connect(ctl, 0, &sb) < 0)
                return CTL_EXIT_FAILURE;
        r = sigbroker_query(sb, q->kind, flags, arg, &text);
        if (r == -ECONNRESET || r == -ETIMEDOUT || r == -EBADMSG) {
                free(text);
                return ctl_connection_lost(sb, r);
        }
        if (r < 0) {
                if (text && *text)
                        ctl_error(r, "%s failed: %s", q->name, text);
                else
                        ctl_error(r, "%s failed: %s", q->name, query_error_text(r));
                free(text);
                return CTL_EXIT_FAILURE;
        }
        print_text(ctl, text, flags & SIGBROKER_QUERY_OPENMETRICS);
        free(text);
        return CTL_EXIT_OK;
}

int ctl_stats(const Ctl *ctl, int argc, char **argv) {
        static const Query q = { "stats", SIGBROKER_QUERY_STATS, " [--openmetrics]",
                                 "Print the daemon's metrics: global, and per client (all clients for\n"
                                 "an admin, your own otherwise)." };
        return run_query(ctl, &q, argc, argv);
}

int ctl_clients(const Ctl *ctl, int argc, char **argv) {
        static const Query q = { "clients", SIGBROKER_QUERY_CLIENTS, "",
                                 "List the connected clients (all of them for an admin, your own otherwise)." };
        return run_query(ctl, &q, argc, argv);
}

int ctl_groups(const Ctl *ctl, int argc, char **argv) {
        static const Query q = { "groups", SIGBROKER_QUERY_GROUPS, "", "List the named groups and their members." };
        return run_query(ctl, &q, argc, argv);
}

int ctl_status(const Ctl *ctl, int argc, char **argv) {
        static const Query q = { "status", SIGBROKER_QUERY_STATUS, "",
                                 "Print the daemon's status: version, uptime, limits, clients." };
        return run_query(ctl, &q, argc, argv);
}

int ctl_reload(const Ctl *ctl, int argc, char **argv) {
        static const Query q = { "reload", SIGBROKER_QUERY_RELOAD, "",
                                 "Reload the policy file (admin). A bad file is refused and the\n"
                                 "old policy kept; the reason is printed." };
        return run_query(ctl, &q, argc, argv);
}

int ctl_disconnect(const Ctl *ctl, int argc, char **argv) {
        static const Query q = { "disconnect", SIGBROKER_QUERY_DISCONNECT, " CLIENT-ID",
                                 "Disconnect the client CLIENT-ID (admin)." };
        return run_query(ctl, &q, argc, argv);
}

static int print_event(sigbroker *sb, const char *json, size_t len, void *userdata) {
        fwrite(json, 1, len, stdout);
        if (len == 0 || json[len - 1] != '\n')
                putchar('\n');
        return 0;
}

int ctl_monitor(const Ctl *ctl, int argc, char **argv) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(sigbroker_closep) sigbroker *sb = NULL;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                if (c == 'h') {
                        printf("Usage: sigbrokerctl [--json] monitor\n\n"
                               "Print every signal the daemon routes, live, one JSON object per line\n"
                               "(admin). Runs until interrupted.\n\n"
                               "Options:\n  -h, --help  show this help\n");
                        return CTL_EXIT_OK;
                }
                return ctl_usage_error("monitor", "bad option");
        }
        if (optind != argc)
                return ctl_usage_error("monitor", "no arguments expected");

        if (ctl_connect(ctl, 0, &sb) < 0)
                return CTL_EXIT_FAILURE;
        r = sigbroker_monitor(sb, print_event, NULL);
        if (r == -ECONNRESET || r == -ETIMEDOUT || r == -EBADMSG)
                return ctl_connection_lost(sb, r);
        if (r < 0) {
                ctl_error(r, "monitor failed: %s", query_error_text(r));
                return CTL_EXIT_FAILURE;
        }
        return CTL_EXIT_OK;
}
