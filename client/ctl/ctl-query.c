/*
 * sigbrokerctl stats, clients, groups, status, reload, disconnect, monitor:
 * ask the daemon (QUERY) and print what it answers. With --json the JSON
 * goes out as the daemon wrote it, one line; without, as tables
 * (ctl-show.c).
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-show.h"
#include "ctl.h"

typedef struct Query {
        const char *name;
        int kind;
        const char *usage;      /* after the command name */
        const char *what;
        void (*show)(const Json *answer);       /* human output */
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

/* The answer as the daemon sent it (--json, OpenMetrics), one line or as
 * many as it has. */
static void print_raw(const char *text) {
        size_t len = strlen(text);

        if (len == 0)
                return;
        fputs(text, stdout);
        if (text[len - 1] != '\n')
                putchar('\n');
}

static void print_answer(const Ctl *ctl, const Query *q, const char *text, bool raw) {
        _cleanup_(json_freep) Json *j = NULL;

        if (raw || ctl->json || !q->show) {
                print_raw(text);
                return;
        }
        if (json_parse(text, &j, NULL) < 0) {
                /* Not what this version expects: show it anyway. */
                print_json_pretty(text);
                return;
        }
        q->show(j);
}

/* reload and disconnect answer nothing but their error. */
static void print_done(const Ctl *ctl, const Query *q, uint64_t arg) {
        if (q->kind == SIGBROKER_QUERY_RELOAD)
                printf(ctl->json ? "{\"reloaded\":true}\n" : "Configuration reloaded.\n");
        else if (ctl->json)
                printf("{\"disconnected\":%llu}\n", (unsigned long long) arg);
        else
                printf("Client %llu disconnected.\n", (unsigned long long) arg);
}

static void print_failure_json(const Query *q, int error, const char *text) {
        const char *name = errno_name(error);

        printf("{\"%s\":false,\"error\":", q->kind == SIGBROKER_QUERY_RELOAD ? "reloaded" : "disconnected");
        if (name)
                printf("\"%s\"", name);
        else
                printf("%d", -error);
        printf(",\"message\":");
        print_json_string(text && *text ? text : query_error_text(error),
                          strlen(text && *text ? text : query_error_text(error)));
        printf("}\n");
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
                if (ctl->json && !q->show)
                        print_failure_json(q, r, text);
                if (text && *text)
                        ctl_error(r, "%s failed: %s", q->name, text);
                else
                        ctl_error(r, "%s failed: %s", q->name, query_error_text(r));
                free(text);
                return CTL_EXIT_FAILURE;
        }
        if (q->show)
                print_answer(ctl, q, text, flags & SIGBROKER_QUERY_OPENMETRICS);
        else
                print_done(ctl, q, arg);
        free(text);
        return CTL_EXIT_OK;
}

int ctl_stats(const Ctl *ctl, int argc, char **argv) {
        static const Query q = { "stats", SIGBROKER_QUERY_STATS, " [--openmetrics]",
                                 "Print the daemon's metrics: global, and per client (all clients for\n"
                                 "an admin, your own otherwise): signals sent, delivered, merged, refused,\n"
                                 "denied and dropped, queues, and latency histograms by priority band.",
                                 show_stats };
        return run_query(ctl, &q, argc, argv);
}

int ctl_clients(const Ctl *ctl, int argc, char **argv) {
        static const Query q = { "clients", SIGBROKER_QUERY_CLIENTS, "",
                                 "List the connected clients (all of them for an admin, your own otherwise):\n"
                                 "identity, process group and session, subscriptions, groups, queue depth\n"
                                 "and window.",
                                 show_clients };
        return run_query(ctl, &q, argc, argv);
}

int ctl_groups(const Ctl *ctl, int argc, char **argv) {
        static const Query q = { "groups", SIGBROKER_QUERY_GROUPS, "", "List the named groups, and the process groups and sessions of the\n"
                                 "connected clients, with their members (other users' clients for an\n"
                                 "admin only).",
                                 show_groups };
        return run_query(ctl, &q, argc, argv);
}

int ctl_status(const Ctl *ctl, int argc, char **argv) {
        static const Query q = { "status", SIGBROKER_QUERY_STATUS, "",
                                 "Print the daemon's status: version, uptime, socket, configuration file,\n"
                                 "clients and limits.",
                                 show_status };
        return run_query(ctl, &q, argc, argv);
}

int ctl_reload(const Ctl *ctl, int argc, char **argv) {
        static const Query q = { "reload", SIGBROKER_QUERY_RELOAD, "",
                                 "Reload the policy file (admin). A bad file is refused and the\n"
                                 "old policy kept; the reason is printed.",
                                 NULL };
        return run_query(ctl, &q, argc, argv);
}

int ctl_disconnect(const Ctl *ctl, int argc, char **argv) {
        static const Query q = { "disconnect", SIGBROKER_QUERY_DISCONNECT, " CLIENT-ID",
                                 "Disconnect the client CLIENT-ID (admin).", NULL };
        return run_query(ctl, &q, argc, argv);
}

typedef struct Monitor {
        const Ctl *ctl;
        uint64_t count;                 /* --count: stop after that many signals, 0: never */
        uint64_t seen;
} Monitor;

static int print_event(sigbroker *sb, const char *json, size_t len, void *userdata) {
        _cleanup_(json_freep) Json *j = NULL;
        _cleanup_(freep) char *text = strndup(json, len);
        Monitor *m = userdata;
        const char *type;

        if (!text)
                return -ENOMEM;
        if (json_parse(text, &j, NULL) < 0) {
                print_raw(text);        /* not what this version knows: show it as it is */
                return 0;
        }
        type = json_get_string(j, "type");
        if (strcmp(type, "start") == 0) {
                /* Like listen: from here on every signal routed is shown. */
                fputs("ready\n", stderr);
                if (!m->ctl->json)
                        return 0;
        }
        if (m->ctl->json)
                print_raw(text);
        else
                show_monitor_event(j);
        if (strcmp(type, "signal") == 0 && m->count > 0 && ++m->seen >= m->count)
                return 1;
        return 0;
}

int ctl_monitor(const Ctl *ctl, int argc, char **argv) {
        static const struct option options[] = {
                { "count", required_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(sigbroker_closep) sigbroker *sb = NULL;
        Monitor m = { .ctl = ctl };
        int c, r;

        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        if (parse_u64(optarg, &m.count) < 0 || m.count == 0)
                                return ctl_usage_error("monitor", "--count needs a positive number, not '%s'", optarg);
                        break;
                case 'h':
                        printf("Usage: sigbrokerctl [--json] monitor [--count N]\n\n"
                               "Print every signal the daemon routes, live: sender, target, result and\n"
                               "each receiver's outcome (admin). Prints 'ready' on standard error once\n"
                               "the daemon streams, then runs until interrupted.\n\n"
                               "Options:\n"
                               "  -c, --count N  exit after N signals\n"
                               "  -h, --help     show this help\n");
                        return CTL_EXIT_OK;
                default:
                        return ctl_usage_error("monitor", "bad option");
                }
        }
        if (optind != argc)
                return ctl_usage_error("monitor", "no arguments expected");

        if (ctl_connect(ctl, 0, &sb) < 0)
                return CTL_EXIT_FAILURE;
        r = sigbroker_monitor(sb, print_event, &m);
        if (r == -ECONNRESET || r == -ETIMEDOUT || r == -EBADMSG)
                return ctl_connection_lost(sb, r);
        if (r < 0) {
                ctl_error(r, "monitor failed: %s", query_error_text(r));
                return CTL_EXIT_FAILURE;
        }
        return CTL_EXIT_OK;
}
