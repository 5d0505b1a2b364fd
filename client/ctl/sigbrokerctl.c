/*
 * sigbrokerctl: send and receive signals through sigbrokerd, and look
 * inside it. This file parses the global options and picks the command;
 * each command parses its own.
 */

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "sb-build.h"
#include "ctl.h"

static const struct {
        const char *name;
        ctl_command_t fn;
        const char *summary;
} commands[] = {
        { "send", ctl_send, "send a signal" },
        { "listen", ctl_listen, "receive signals and print them" },
        { "monitor", ctl_monitor, "print every signal routed, live (admin)" },
        { "clients", ctl_clients, "list connected clients" },
        { "groups", ctl_groups, "list named groups" },
        { "stats", ctl_stats, "print metrics" },
        { "status", ctl_status, "print the daemon's status" },
        { "reload", ctl_reload, "reload the policy file (admin)" },
        { "disconnect", ctl_disconnect, "disconnect a client (admin)" },
        { "exec", ctl_exec, "run a program, deliver its signals as kernel signals" },
};

static void help(void) {
        printf("Usage: sigbrokerctl [--socket PATH] [--json] COMMAND [ARGS...]\n"
               "\n"
               "Send, receive and inspect signals brokered by sigbrokerd.\n"
               "\n"
               "Options:\n"
               "  -s, --socket PATH  connect to PATH ('@name': abstract socket)\n"
               "  -j, --json         print JSON\n"
               "  -h, --help         show this help\n"
               "      --version      show the version\n"
               "\n"
               "Commands:\n");
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                printf("  %-11s %s\n", commands[i].name, commands[i].summary);
        printf("\n'sigbrokerctl COMMAND --help' tells more; see sigbrokerctl(1).\n");
}

/* --json and --socket may also follow the command (`sigbrokerctl listen
 * --json RTMIN+1`): take them out of the command's arguments, up to a
 * "--", before the command parses the rest. Returns the new count or -1. */
static int take_global_options(Ctl *ctl, int argc, char **argv) {
        int n = 1;

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--") == 0) {
                        while (i < argc)
                                argv[n++] = argv[i++];
                        break;
                }
                if (strcmp(argv[i], "--json") == 0)
                        ctl->json = true;
                else if (strncmp(argv[i], "--socket=", 9) == 0 && argv[i][9])
                        ctl->socket = argv[i] + 9;
                else if (strcmp(argv[i], "--socket") == 0) {
                        if (i + 1 >= argc || !*argv[i + 1])
                                return -1;
                        ctl->socket = argv[++i];
                } else
                        argv[n++] = argv[i];
        }
        argv[n] = NULL;
        return n;
}

int main(int argc, char **argv) {
        enum { OPT_VERSION = 0x100 };
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, OPT_VERSION },
                {},
        };
        Ctl ctl = {};
        int c;

        /* '+': stop at the command, whose options are its own. */
        while ((c = getopt_long(argc, argv, "+s:jh", options, NULL)) >= 0) {
                switch (c) {
                case 's':
                        if (*optarg == '\0')
                                return ctl_usage_error(NULL, "--socket needs a path");
                        ctl.socket = optarg;
                        break;
                case 'j':
                        ctl.json = true;
                        break;
                case 'h':
                        help();
                        return CTL_EXIT_OK;
                case OPT_VERSION:
                        printf("sigbrokerctl %s\n", SB_VERSION);
                        return CTL_EXIT_OK;
                default:
                        return ctl_usage_error(NULL, "bad option");
                }
        }
        if (optind >= argc)
                return ctl_usage_error(NULL, "no command given");

        /* Each line of output goes out as soon as it is complete: the
         * listener's readers (scripts, tests) wait for whole lines. */
        setvbuf(stdout, NULL, _IOLBF, 0);

        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(argv[optind], commands[i].name) == 0) {
                        char **args = argv + optind;
                        int n = take_global_options(&ctl, argc - optind, args);

                        if (n < 0)
                                return ctl_usage_error(NULL, "--socket needs a path");
                        optind = 0;     /* glibc: start getopt afresh */
                        return commands[i].fn(&ctl, n, args);
                }
        return ctl_usage_error(NULL, "unknown command '%s'", argv[optind]);
}
