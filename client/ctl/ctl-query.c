/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sigbrokerctl stats, clients, groups, status, reload, disconnect, monitor:
 * ask the daemon (QUERY) and print what it answers. With --json the JSON
 * goes out as the daemon wrote it, one line; without, as tables
 * (ctl-layout.c), and with --json and --output, the table's rows as JSON.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-layout.h"
#include "ctl.h"

typedef struct Query {
        const char *name;
        int kind;
        const char *usage;      /* after the command name */
        const char *what;
        int (*show)(const Ctl *ctl, struct json_object *answer); /* human output */
        const CtlColumn *columns;       /* what -o selects from; NULL: no -o */
        size_t n_columns;
} Query;

static void help(const Query *q) {
        printf("Usage: sigbrokerctl %s%s\n\n%s\n\nOptions:\n", q->name, q->usage, q->what);
        if (q->kind == SIGBROKER_QUERY_STATS)
                printf("      --openmetrics     OpenMetrics text instead of tables (not with --json)\n");
        if (q->columns)
                printf("  -o, --output COLUMNS  the columns to show, comma-separated (+COLUMNS: added)\n");
        if (q->show)
                printf("      --no-legend       no headings, titles or notes\n");
        printf("  -j, --json            print JSON\n"
               "  -h, --help            show this help\n");
        if (q->columns)
                ctl_table_help(q->columns, q->n_columns);
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

static int print_answer(const Ctl *ctl, const Query *q, const char *text, bool raw) {
        struct json_object *j;
        int r;

        if (raw || !q->show || (ctl->json && !ctl->output)) {
                print_line(text);
                return CTL_EXIT_OK;
        }
        j = json_tokener_parse(text);
        if (!j) {
                ctl_error(EBADMSG, "the daemon's answer is not JSON: %.80s", text);
                return CTL_EXIT_FAILURE;
        }
        r = q->show(ctl, j);
        json_object_put(j);
        if (r < 0) {
                ctl_error(r, "cannot print the table: %s", strerror(-r));
                return CTL_EXIT_FAILURE;
        }
        return CTL_EXIT_OK;
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
        struct json_object *o = json_object_new_object();

        json_object_object_add(o, q->kind == SIGBROKER_QUERY_RELOAD ? "reloaded" : "disconnected",
                               json_object_new_boolean(false));
        json_object_object_add(o, "error", errno_name(error) ? json_object_new_string(errno_name(error))
                                                             : json_object_new_int(-error));
        json_object_object_add(o, "message", json_object_new_string(text && *text ? text : query_error_text(error)));
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
}

static int run_query(Ctl *ctl, const Query *q, int argc, char **argv) {
        enum { OPT_OPENMETRICS = CTL_OPT_COMMAND };
        static const struct option options[] = {
                { "openmetrics", no_argument, NULL, OPT_OPENMETRICS },
                { "help", no_argument, NULL, 'h' },
                CTL_GLOBAL_LONGOPTS,
                {},
        };
        _cleanup_(sigbroker_closep) sigbroker *sb = NULL;
        unsigned flags = 0;
        uint64_t arg = 0;
        char *text = NULL;
        int c, r, want_args = q->kind == SIGBROKER_QUERY_DISCONNECT ? 1 : 0;

        while ((c = getopt_long(argc, argv, CTL_GLOBAL_SHORTOPTS "h", options, NULL)) >= 0) {
                switch (c) {
                case OPT_OPENMETRICS:
                        if (q->kind != SIGBROKER_QUERY_STATS)
                                return ctl_usage_error(ctl, "--openmetrics is for stats");
                        flags |= SIGBROKER_QUERY_OPENMETRICS;
                        break;
                case 'h':
                        help(q);
                        return CTL_EXIT_OK;
                default:
                        r = ctl_global_option(ctl, c, argv);
                        if (r != 0)
                                return r;
                }
        }
        if (argc - optind != want_args)
                return ctl_usage_error(ctl, want_args ? "one client id needed" : "no arguments expected");
        if (want_args && parse_u64(argv[optind], &arg) < 0)
                return ctl_usage_error(ctl, "'%s' is not a client id", argv[optind]);
        if (!q->show && (r = ctl_no_table(ctl)) != 0)
                return r;
        if (ctl->output && !q->columns)
                return ctl_usage_error(ctl, "%s has no columns to choose with --output", q->name);
        if (ctl->output && (r = ctl_table_check_output(ctl, ctl->output, q->columns, q->n_columns)) != 0)
                return r;
        /* OpenMetrics is a text format of its own: no JSON of it, no table. */
        if ((flags & SIGBROKER_QUERY_OPENMETRICS) && ctl->json)
                return ctl_usage_error(ctl, "--openmetrics and --json exclude each other");
        if ((flags & SIGBROKER_QUERY_OPENMETRICS) && (ctl->output || ctl->no_legend))
                return ctl_usage_error(ctl, "--openmetrics prints no table: no --output or --no-legend");

        r = ctl_connect(ctl, 0, &sb);
        if (r != 0)
                return r;
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
                r = print_answer(ctl, q, text, flags & SIGBROKER_QUERY_OPENMETRICS);
        else {
                print_done(ctl, q, arg);
                r = CTL_EXIT_OK;
        }
        free(text);
        return r;
}

int ctl_stats(Ctl *ctl, int argc, char **argv) {
        const Query q = { "stats", SIGBROKER_QUERY_STATS, " [--openmetrics]",
                                 "Print the daemon's metrics: global, and per client (all clients for\n"
                                 "an admin, your own otherwise): signals sent, delivered, merged, refused,\n"
                                 "denied and dropped, queues, and latency histograms by priority band.",
                                 show_stats, ctl_stats_columns, ctl_stats_n_columns };
        return run_query(ctl, &q, argc, argv);
}

int ctl_clients(Ctl *ctl, int argc, char **argv) {
        const Query q = { "clients", SIGBROKER_QUERY_CLIENTS, "",
                                 "List the connected clients (all of them for an admin, your own otherwise):\n"
                                 "identity, process group and session, subscriptions, groups, queue depth\n"
                                 "and window.",
                                 show_clients, ctl_clients_columns, ctl_clients_n_columns };
        return run_query(ctl, &q, argc, argv);
}

int ctl_groups(Ctl *ctl, int argc, char **argv) {
        const Query q = { "groups", SIGBROKER_QUERY_GROUPS, "", "List the named groups, and the process groups and sessions of the\n"
                                 "connected clients, with their members (other users' clients for an\n"
                                 "admin only).",
                                 show_groups, ctl_groups_columns, ctl_groups_n_columns };
        return run_query(ctl, &q, argc, argv);
}

int ctl_status(Ctl *ctl, int argc, char **argv) {
        const Query q = { "status", SIGBROKER_QUERY_STATUS, "",
                                 "Print the daemon's status: version, uptime, socket, configuration file,\n"
                                 "clients and limits.",
                                 show_status, NULL, 0 };
        return run_query(ctl, &q, argc, argv);
}

int ctl_reload(Ctl *ctl, int argc, char **argv) {
        const Query q = { "reload", SIGBROKER_QUERY_RELOAD, "",
                                 "Reload the policy file (admin). A bad file is refused and the\n"
                                 "old policy kept; the reason is printed.",
                                 NULL, NULL, 0 };
        return run_query(ctl, &q, argc, argv);
}

int ctl_disconnect(Ctl *ctl, int argc, char **argv) {
        const Query q = { "disconnect", SIGBROKER_QUERY_DISCONNECT, " CLIENT-ID",
                                 "Disconnect the client CLIENT-ID (admin).", NULL, NULL, 0 };
        return run_query(ctl, &q, argc, argv);
}

typedef struct Monitor {
        const Ctl *ctl;
        uint64_t count;                 /* --count: stop after that many signals, 0: never */
        uint64_t seen;
} Monitor;

static int print_event(sigbroker *sb, const char *json, size_t len, void *userdata) {
        _cleanup_(freep) char *text = strndup(json, len);
        struct json_object *j, *type_object = NULL;
        Monitor *m = userdata;
        const char *type;
        int r = 0;

        (void) sb;
        if (!text)
                return -ENOMEM;
        j = json_tokener_parse(text);
        if (!j) {
                print_line(text);       /* not what this version knows: show it as it is */
                return 0;
        }
        type = json_object_object_get_ex(j, "type", &type_object) ? json_object_get_string(type_object) : NULL;
        type = type ? type : "";
        if (strcmp(type, "start") == 0) {
                /* Like listen: from here on every signal routed is shown. */
                fputs("ready\n", stderr);
        }
        if (m->ctl->json)
                print_line(text);
        else
                show_monitor_event(j);
        if (strcmp(type, "signal") == 0 && m->count > 0 && ++m->seen >= m->count)
                r = 1;
        json_object_put(j);
        return r;
}

int ctl_monitor(Ctl *ctl, int argc, char **argv) {
        static const struct option options[] = {
                { "count", required_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                CTL_GLOBAL_LONGOPTS,
                {},
        };
        _cleanup_(sigbroker_closep) sigbroker *sb = NULL;
        Monitor m = { .ctl = ctl };
        int c, r;

        while ((c = getopt_long(argc, argv, CTL_GLOBAL_SHORTOPTS "c:h", options, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        if (parse_u64(optarg, &m.count) < 0 || m.count == 0)
                                return ctl_usage_error(ctl, "--count needs a positive number, not '%s'", optarg);
                        break;
                case 'h':
                        printf("Usage: sigbrokerctl monitor [--count N]\n\n"
                               "Print every signal the daemon routes, live: sender, target, result and\n"
                               "each receiver's outcome (admin). Prints 'ready' on standard error once\n"
                               "the daemon streams, then runs until interrupted.\n\n"
                               "Options:\n"
                               "  -c, --count N  exit after N signals\n"
                               "  -j, --json     one JSON object per event, as the daemon sends it\n"
                               "  -h, --help     show this help\n");
                        return CTL_EXIT_OK;
                default:
                        r = ctl_global_option(ctl, c, argv);
                        if (r != 0)
                                return r;
                }
        }
        if (optind != argc)
                return ctl_usage_error(ctl, "no arguments expected");
        r = ctl_no_table(ctl);
        if (r != 0)
                return r;

        r = ctl_connect(ctl, 0, &sb);
        if (r != 0)
                return r;
        r = sigbroker_monitor(sb, print_event, &m);
        if (r == -ECONNRESET || r == -ETIMEDOUT || r == -EBADMSG)
                return ctl_connection_lost(sb, r);
        if (r < 0) {
                ctl_error(r, "monitor failed: %s", query_error_text(r));
                return CTL_EXIT_FAILURE;
        }
        return CTL_EXIT_OK;
}
