/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sigbrokerctl: send and receive signals through sigbrokerd, and look
 * inside it. This file takes the global options that come before the
 * command and picks the command; each command parses the rest of the line,
 * its own options and the global ones (CTL_GLOBAL_LONGOPTS) alike, so that
 * a global option may come anywhere. A new command is one line in
 * commands[] and one function.
 */

#include <locale.h>
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
        printf("Usage: sigbrokerctl [OPTIONS] COMMAND [ARGS...]\n"
               "\n"
               "Send, receive and inspect signals brokered by sigbrokerd.\n"
               "\n"
               "Options (before or after the command):\n"
               "  -s, --socket PATH  connect to PATH ('@name': abstract socket)\n"
               "      --user         connect to this user's broker ($XDG_RUNTIME_DIR/sigbroker.sock)\n"
               "      --system       connect to the system broker (%s)\n"
               "  -j, --json         print JSON\n"
               "  -o, --output COLS  the columns of a table (COMMAND --help lists them)\n"
               "      --no-legend    tables without headings, titles or notes\n"
               "  -h, --help         show this help\n"
               "      --version      show the version\n"
               "\n"
               "Commands:\n",
               CTL_SYSTEM_SOCKET);
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                printf("  %-11s %s\n", commands[i].name, commands[i].summary);
        printf("\n'sigbrokerctl COMMAND --help' tells more; see sigbrokerctl(1).\n");
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                CTL_GLOBAL_LONGOPTS,
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, CTL_OPT_VERSION },
                {},
        };
        Ctl ctl = {};
        int c, r;

        /* The character set only, for the width of names in tables; numbers
         * keep the C locale's decimal point, in and out. */
        setlocale(LC_CTYPE, "");
        opterr = 0;
        /* '+': stop at the command, which parses the rest of the line. */
        while ((c = getopt_long(argc, argv, "+" CTL_GLOBAL_SHORTOPTS "h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return CTL_EXIT_OK;
                case CTL_OPT_VERSION:
                        printf("sigbrokerctl %s\n", SB_VERSION);
                        return CTL_EXIT_OK;
                default:
                        r = ctl_global_option(&ctl, c, argv);
                        if (r != 0)
                                return r;
                }
        }
        if (optind >= argc)
                return ctl_usage_error(&ctl, "no command given");

        /* Each line of output goes out as soon as it is complete: the
         * listener's readers (scripts, tests) wait for whole lines. */
        setvbuf(stdout, NULL, _IOLBF, 0);

        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(argv[optind], commands[i].name) == 0) {
                        char **args = argv + optind;

                        ctl.command = commands[i].name;
                        optind = 0;     /* glibc: start getopt afresh */
                        return commands[i].fn(&ctl, argc - (int) (args - argv), args);
                }
        return ctl_usage_error(&ctl, "unknown command '%s'", argv[optind]);
}
